"""Never a confident wrong answer: mistyped keys, stores, options and empty inputs are errors that say
what keytrail found instead -- never "no calls" with exit 0."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from keytrail.cli.main import cli
from keytrail.errors import UsageError
from keytrail.sources import sample
from keytrail.sources.registry import SourceOptions, open_sources, register_scheme
from tests import factory as fx
from tests.factory import ACCOUNT, OTHER, alias_event, key_arn, kms, non_kms, user

SAMPLE = str(sample.sample_dir())
SRC = str(Path(__file__).resolve().parents[2] / "src")


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner(env=env).invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The bundled sample in a store named trail.duckdb."""
    path = str(tmp_path_factory.mktemp("refusals") / "trail.duckdb")
    assert run("ingest", SAMPLE, "--db", path, "-q").exit_code == 0
    return path


# ---- the acceptance, on a store of the bundled sample -------------------------------------------


def test_a_mistyped_key_is_an_error_suggesting_the_key(db: str) -> None:
    result = run("who-uses", "alias/blog-bucket-kye", "--db", db)
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == ("keytrail: error: alias/blog-bucket-kye: no key of that name in the store; "
                             "did you mean alias/blog-bucket-key?\n")


def test_a_store_that_does_not_exist_is_refused_and_not_created(db: str) -> None:
    folder = Path(db).parent
    before = sorted(p.name for p in folder.iterdir())
    none = str(folder / "none.duckdb")
    result = run("who-uses", "alias/blog-bucket-key", "--db", none)
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == (f"keytrail: error: --db {none}: no such store (`keytrail ingest SOURCE... --db {none}` "
                             "creates one)\n")
    assert sorted(p.name for p in folder.iterdir()) == before
    trial = str(folder / "trial.duckdb")  # a typo of trail.duckdb
    for command in (("usage",), ("keys",), ("principals",), ("findings",), ("report", "-o", str(folder / "r.html"))):
        result = run(*command, "--db", trial)
        assert result.exit_code == 2, command
        assert result.stderr.startswith(f"keytrail: error: --db {trial}: no such store; did you mean {db}? ")
    assert sorted(p.name for p in folder.iterdir()) == before


def test_a_report_given_sources_does_not_create_a_store_either(tmp_path: Path) -> None:
    result = run("usage", SAMPLE, "--db", str(tmp_path / "new.duckdb"))
    assert result.exit_code == 2
    assert list(tmp_path.iterdir()) == []
    assert run("ingest", SAMPLE, "--db", str(tmp_path / "new.duckdb"), "-q").exit_code == 0  # ingest creates one


@pytest.mark.parametrize(("option", "value", "message"), [
    ("--account", "11112222333", "--account: '11112222333' is not a 12-digit account id"),
    ("--account", "ABCD", "--account: 'ABCD' is not a 12-digit account id"),
    ("--key-region", "us-east1", "--key-region: 'us-east1' is not a Region name (e.g. us-east-1); did you mean us-east-1?"),
    ("--key-region", "US-EAST-1", "--key-region: 'US-EAST-1' is not a Region name (e.g. us-east-1); did you mean us-east-1?"),
    ("--key-region", "east", "--key-region: 'east' is not a Region name (e.g. us-east-1)"),
])
def test_account_and_key_region_are_validated_like_their_siblings(db: str, option: str, value: str, message: str) -> None:
    result = run("who-uses", "alias/blog-bucket-key", "--db", db, option, value)
    assert (result.exit_code, result.stdout, result.stderr) == (2, "", f"keytrail: error: {message}\n")


def test_an_account_or_region_with_no_key_in_the_store_is_an_error(db: str) -> None:
    result = run("keys", "--db", db, "--key-region", "eu-west-1")
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == ("keytrail: error: --key-region eu-west-1: the store holds no key of this Region "
                             "(it holds keys of us-east-1)\n")


@pytest.mark.parametrize("command", [("usage",), ("who-uses", "alias/blog-bucket-key"), ("findings",)])
def test_since_after_until_exits_2(db: str, command: tuple[str, ...]) -> None:
    result = run(*command, "--db", db, "--since", "2026-11-03", "--until", "2026-11-02")
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == "keytrail: error: --since 2026-11-03 is after --until 2026-11-02: the window holds nothing\n"
    result = run("findings", "--db", db, "--baseline-since", "2026-11-03", "--baseline-until", "2026-11-02")
    assert result.stderr == ("keytrail: error: --baseline-since 2026-11-03 is after --baseline-until 2026-11-02: "
                             "the window holds nothing\n")


def test_relative_windows(db: str) -> None:
    def calls(*args: str) -> int:
        result = run("usage", "--db", db, "--format", "json", *args)
        assert result.exit_code == 0, result.output
        return sum(r["encrypt"] + r["decrypt"] + r["sign"] + r["admin"] + r["denied"] for r in json.loads(result.stdout))

    everything = calls()
    assert calls("--since", "36500d") == everything == 35  # the last hundred years hold every call
    assert calls("--until", "5200w") == 0  # before a hundred years ago: nothing
    assert calls("--since", "876000h", "--until", "1h") == everything
    result = run("usage", "--db", db, "--since", "1h", "--until", "7d")
    assert result.exit_code == 2 and "the window holds nothing" in result.stderr


def test_an_empty_directory_is_an_error_naming_where_keytrail_looked(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run("usage", str(empty))
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == f"keytrail: error: {empty}: no CloudTrail log file: {empty} holds no file\n"
    (empty / "notes.txt").write_text("x")
    (empty / "sub").mkdir()
    (empty / "sub" / "data.csv").write_text("x")
    result = run("usage", str(empty))
    assert result.stderr == (f"keytrail: error: {empty}: no CloudTrail log file: {empty} holds no .json, .jsonl or "
                             "or .ndjson file, only 2 other file(s): 1 .csv, 1 .txt\n".replace("or or", "or"))


def test_a_directory_of_other_files_says_what_it_found(tmp_path: Path) -> None:
    digests = tmp_path / "AWSLogs" / ACCOUNT / "CloudTrail-Digest" / "us-east-1"
    fx.write(digests / "a.json.gz", fx.digest_file(), gz=True)
    fx.write(digests / "b.json.gz", fx.digest_file(), gz=True)
    fx.write(tmp_path / "notifications.json", fx.s3_event_notification())
    result = run("usage", str(tmp_path))
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == (f"keytrail: error: {tmp_path}: no CloudTrail log file: found 2 CloudTrail digest file(s); "
                             "1 file(s): valid JSON, not CloudTrail: Records of 'aws:s3' events\n")


def test_an_empty_source_beside_others_is_named_and_the_rest_read(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run("usage", SAMPLE, str(empty), "--format", "json", "-q")
    assert result.exit_code == 3
    assert result.stderr == f"keytrail: error: {empty}: no CloudTrail log file: {empty} holds no file\n"
    assert result.stdout == run("usage", SAMPLE, "--format", "json", "-q").stdout
    strict = run("usage", SAMPLE, str(empty), "--strict", "-q")
    assert (strict.exit_code, strict.stdout) == (3, "")


def test_a_path_that_does_not_exist_is_an_error_and_no_report(tmp_path: Path) -> None:
    nope = tmp_path / "nope"
    result = run("usage", str(nope))
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == (f"keytrail: error: {nope}: no such file or directory\n"
                             f"keytrail: error: {nope}: no CloudTrail log file: it could not be read\n")


def test_ingest_of_nothing_is_an_error(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run("ingest", str(empty), "--db", str(tmp_path / "s.duckdb"))
    assert result.exit_code == 2
    assert result.stderr == f"keytrail: error: {empty}: no CloudTrail log file: {empty} holds no file\n"


def test_a_directory_named_twice_is_read_once_and_is_not_empty(tmp_path: Path) -> None:
    result = run("usage", SAMPLE, SAMPLE, f"{SAMPLE}/AWSLogs", "--format", "json", "-q")
    assert (result.exit_code, result.stderr) == (0, "")
    assert result.stdout == run("usage", SAMPLE, "--format", "json", "-q").stdout


def test_a_log_file_whose_first_record_is_not_an_aws_event_is_read(tmp_path: Path) -> None:
    custom = {"eventVersion": "1.0", "eventSource": "audit.example.com", "eventName": "Login",
              "eventTime": "2026-10-01T11:59:00Z"}
    records = [custom, kms("Decrypt", user("alice"), fx.KEY_A, None, time="2026-10-01T12:00:00Z"),
               non_kms(), kms("Encrypt", user("bob"), fx.KEY_A, {"keyId": fx.KEY_A}, time="2026-10-01T12:01:00Z")]
    fx.write(tmp_path / "mixed.json.gz", fx.log_file(records), gz=True)
    result = run("usage", str(tmp_path), "--format", "json")
    assert result.exit_code == 0, result.output
    assert [(r["principal"], r["encrypt"], r["decrypt"]) for r in json.loads(result.stdout)] == [
        (f"arn:aws:iam::{ACCOUNT}:user/alice", 0, 1), (f"arn:aws:iam::{ACCOUNT}:user/bob", 1, 0)]
    assert "4 records in 1 file (2 KMS calls" in result.stderr


# ---- KEYTRAIL_DB --------------------------------------------------------------------------------


def test_keytrail_db_names_the_default_store(db: str, tmp_path: Path) -> None:
    env = {"KEYTRAIL_DB": db}
    assert run("keys", "--format", "csv", env=env).stdout == run("keys", "--db", db, "--format", "csv").stdout
    missing = str(tmp_path / "missing.duckdb")
    result = run("keys", env={"KEYTRAIL_DB": missing})
    assert (result.exit_code, result.stderr) == (
        2, f"keytrail: error: KEYTRAIL_DB={missing}: no such store (`keytrail ingest SOURCE... --db {missing}` creates one)\n")
    # a report given SOURCEs reads them, not the default store
    result = run("keys", SAMPLE, "-q", "--format", "csv", env={"KEYTRAIL_DB": missing})
    assert result.exit_code == 0 and not os.path.exists(missing)
    # ingest and inventory write it
    store = str(tmp_path / "default.duckdb")
    assert run("ingest", SAMPLE, "-q", env={"KEYTRAIL_DB": store}).exit_code == 0
    assert run("who-uses", "alias/app-data", "--format", "json", env={"KEYTRAIL_DB": store}).exit_code == 0


# ---- keys that mean several, and commands that need one ----------------------------------------

K1 = key_arn("1111aaaa-1111-4111-8111-111111111111")
K2 = key_arn("2222bbbb-2222-4222-8222-222222222222", account=OTHER)


@pytest.fixture(scope="module")
def two(tmp_path_factory: pytest.TempPathFactory) -> str:
    """alias/orders in two accounts, each used once."""
    root = tmp_path_factory.mktemp("two")
    records = [
        alias_event("CreateAlias", "alias/orders", K1, "2026-10-01T10:00:00Z"),
        alias_event("CreateAlias", "alias/orders", K2, "2026-10-01T10:00:00Z", account=OTHER),
        kms("Decrypt", user("alice"), None, {"keyId": "alias/orders"}, time="2026-10-01T10:05:00Z"),
        kms("Decrypt", user("carol", OTHER), None, {"keyId": "alias/orders"}, time="2026-10-01T10:06:00Z",
            recipient=OTHER),
    ]
    fx.write(root / "trail.json", fx.log_file(records))
    db = str(root / "two.duckdb")
    assert run("ingest", str(root / "trail.json"), "--db", db, "-q").exit_code == 0
    return db


def test_who_uses_says_first_that_an_alias_means_several_keys(two: str) -> None:
    result = run("who-uses", "alias/orders", "--db", two)
    assert result.exit_code == 0
    assert result.stdout.splitlines()[:2] == [
        "alias/orders means 2 keys (2 accounts, 1 Region): one table per key with calls; narrow with --account or "
        "--key-region, or give a key's ARN", ""]
    md = run("who-uses", "alias/orders", "--db", two, "--format", "md").stdout
    assert md.startswith("alias/orders means 2 keys \\(2 accounts, 1 Region\\)")
    csv = run("who-uses", "alias/orders", "--db", two, "--format", "csv")
    assert csv.stdout.startswith("principal,")
    assert "keytrail: note: alias/orders means 2 keys (2 accounts, 1 Region)" in csv.stderr
    one = run("who-uses", "alias/orders", "--db", two, "--account", OTHER)
    assert one.stdout.startswith(f"{K2}\n")  # one key: no such line


def test_a_command_that_needs_one_key_lists_how_to_name_each(two: str, tmp_path: Path) -> None:
    result = run("chart", "--db", two, "--key", "alias/orders", "-o", str(tmp_path / "c.png"))
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == (
        "keytrail: error: alias/orders means 2 keys (2 accounts, 1 Region); name one:\n"
        f"  --key {K1}  (2 call(s))\n"
        f"  --key {K2}  (2 call(s))\n")
    assert not (tmp_path / "c.png").exists()


def test_demo_refuses_a_key_the_sample_does_not_hold() -> None:
    result = run("demo", "--key", "alias/blog-bucket")
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr.endswith("did you mean alias/blog-bucket-key?\n")


# ---- optional extras, unknown commands, the HTML report on a terminal ---------------------------


def test_a_source_whose_extra_is_missing_names_the_install_command() -> None:
    register_scheme("nosuchextra", "keytrail.sources.s3:open_s3", needs=("keytrail_no_such_module", "aws"))
    with pytest.raises(UsageError) as e:
        open_sources(["nosuchextra://x"], SourceOptions())
    assert str(e.value) == ("nosuchextra://x: reading nosuchextra:// needs keytrail_no_such_module, which is not "
                            "installed: pip install 'keytrail[aws]'")


BLOCK_BOTO = """
import sys
for name in ("boto3", "botocore", "botocore.exceptions", "botocore.config"):
    sys.modules[name] = None  # as if `pip install .` without the aws extra
from click.testing import CliRunner
from keytrail.cli.main import cli
for args in (["usage", "s3://bucket/AWSLogs/"], ["ingest", "lookup://us-east-1", "--db", "x.duckdb"],
             ["usage", "athena://db.table"], ["usage", "logs://trail-group"], ["usage", "lake://eds"],
             ["inventory", "--db", "x.duckdb"]):
    r = CliRunner().invoke(cli, args)
    print(r.exit_code, r.stderr.strip(), repr(r.exception) if not isinstance(r.exception, SystemExit) else "")
"""


def test_remote_sources_without_boto3_fail_with_the_install_command(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-c", BLOCK_BOTO], cwd=tmp_path, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": SRC}, check=True).stdout
    hint = "which is not installed: pip install 'keytrail[aws]'"
    assert out.splitlines() == [
        f"2 keytrail: error: s3://bucket/AWSLogs/: reading s3:// needs boto3, {hint} ",
        f"2 keytrail: error: lookup://us-east-1: reading lookup:// needs boto3, {hint} ",
        f"2 keytrail: error: athena://db.table: reading athena:// needs boto3, {hint} ",
        f"2 keytrail: error: logs://trail-group: reading logs:// needs boto3, {hint} ",
        f"2 keytrail: error: lake://eds: reading lake:// needs boto3, {hint} ",
        f"2 keytrail: error: reading from AWS needs boto3, {hint} ",
    ]
    assert list(tmp_path.iterdir()) == []


def test_an_unknown_command_gets_did_you_mean() -> None:
    result = run("who-use", "alias/x")
    assert result.exit_code == 2
    assert "Error: No such command 'who-use'. Did you mean 'who-uses'?" in result.stderr


def test_report_without_o_on_a_terminal_refuses(db: str, tmp_path: Path) -> None:
    import pty

    code = ("import sys; from keytrail.cli.main import cli; "
            f"sys.argv = ['keytrail', 'report', '--db', {db!r}]; cli.main()")
    pid, fd = pty.fork()
    if pid == 0:  # the child: keytrail with a terminal as its stdout
        os.environ["PYTHONPATH"] = SRC
        os.execv(sys.executable, [sys.executable, "-c", code])
    chunks = []
    while True:
        try:
            data = os.read(fd, 4096)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    _, status = os.waitpid(pid, 0)
    text = b"".join(chunks).decode().replace("\r\n", "\n")
    assert os.waitstatus_to_exitcode(status) == 2
    assert text == ("keytrail: error: the report is an HTML page, not text for a terminal: write it with "
                    "-o report.html (or > report.html)\n")


def test_a_key_only_the_inventory_knows_is_an_answer_not_an_error(tmp_path: Path) -> None:
    from tests.factory import scenario as tg

    path = str(tmp_path / "store.duckdb")
    tg.scenario_store(tmp_path, db=path).close()
    for name in (tg.K_NEVER, fx.key_id(tg.K_NEVER)):
        result = run("who-uses", name, "--db", path)
        assert result.exit_code == 0, result.output
        first = result.stdout.splitlines()[0]
        assert first == f"{name} ({tg.K_NEVER}): no calls in the store; the store holds no call of it".replace(
            f"{tg.K_NEVER} ({tg.K_NEVER})", tg.K_NEVER)
