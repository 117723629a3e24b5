"""The report commands (usage, who-uses, keys, principals, demo) as a user runs them: exact output
(golden files), time windows, keys that an alias meant, exit codes, -o, standard input.

Golden files live in tests/cli/golden/; after an intended change of output, regenerate them with
    KEYTRAIL_REGEN_GOLDEN=1 python -m pytest tests/cli/test_reports.py
and review the diff.
"""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from keytrail.cli.main import cli
from keytrail.sources import sample
from tests import factory as fx
from tests.factory import ACCOUNT, OTHER, alias_event, key_arn, kms, user

GOLDEN = Path(__file__).parent / "golden"
REGEN = "KEYTRAIL_REGEN_GOLDEN=1 python -m pytest tests/cli/test_reports.py"
SAMPLE = str(sample.sample_dir())


def run(*args: str, input: bytes | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The bundled sample ingested once; reports read it with --db (the same output as from SOURCE)."""
    path = str(tmp_path_factory.mktemp("store") / "sample.duckdb")
    result = run("ingest", SAMPLE, "--db", path, "-q")
    assert result.exit_code == 0, result.output
    return path


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("KEYTRAIL_REGEN_GOLDEN"):
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return
    assert path.exists(), f"golden file {path} is missing; write it with: {REGEN}"
    expected = path.read_text(encoding="utf-8")
    assert text == expected, f"output differs from {path}; if the change is intended, regenerate with: {REGEN}"


# ---- golden reports on the bundled sample --------------------------------------------------


def test_demo_table() -> None:
    result = run("demo")
    assert (result.exit_code, result.stderr) == (0, "")
    check_golden("demo.txt", result.stdout)


def test_demo_json() -> None:
    result = run("demo", "--format", "json")
    assert result.exit_code == 0
    check_golden("demo.json", result.stdout)
    doc = json.loads(result.stdout)
    assert sorted(doc) == ["keys", "who_uses"]


REPORTS = {
    "usage": ("usage",),
    "keys": ("keys",),
    "principals": ("principals",),
    "who-uses": ("who-uses", "alias/blog-bucket-key"),
}


@pytest.mark.parametrize("fmt", ["json", "csv", "md", "table"])
@pytest.mark.parametrize("report", REPORTS)
def test_reports_on_the_sample(db: str, report: str, fmt: str) -> None:
    result = run(*REPORTS[report], "--db", db, "--format", fmt)
    assert (result.exit_code, result.stderr) == (0, "")
    check_golden(f"{report}.{'txt' if fmt == 'table' else fmt}", result.stdout)
    if fmt == "json":
        json.loads(result.stdout)


@pytest.mark.parametrize("report", REPORTS)
def test_reports_from_sources_equal_reports_from_the_store(db: str, report: str) -> None:
    from_sources = run(*REPORTS[report], SAMPLE, "--format", "csv", "--quiet")
    assert (from_sources.exit_code, from_sources.stdout) == (0, run(*REPORTS[report], "--db", db, "--format", "csv").stdout)


def test_usage_json_contract(db: str) -> None:
    rows = json.loads(run("usage", "--db", db, "--format", "json").stdout)
    assert list(rows[0]) == ["key", "principal", "principal_type", "encrypt", "decrypt", "sign", "admin", "denied",
                             "first_seen", "last_seen", "key_resolved"]
    partner = [r for r in rows if r["principal"] == "arn:aws:iam::444455556666:role/ReportReader"]
    # one cross-account call logged in both accounts: counted once, with the full identity
    assert [(r["decrypt"], r["principal_type"]) for r in partner] == [(2, "AssumedRole")]


def test_a_summary_on_stderr_unless_quiet() -> None:
    result = run("usage", SAMPLE, "--format", "json")
    assert result.exit_code == 0
    assert result.stderr.startswith("keytrail: 37 records in 2 files (37 KMS calls, 37 key-use rows)")
    json.loads(result.stdout)


def test_bundled_sample_is_what_sample_files_generates() -> None:
    root = sample.sample_dir()
    on_disk = {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}
    assert on_disk == sample.files(), "regenerate with: python -m keytrail.sources.sample"


# ---- time windows ----------------------------------------------------------------------------


def calls(db: str, *args: str) -> int:
    result = run("usage", "--db", db, "--format", "json", *args)
    assert result.exit_code == 0, result.output
    return sum(r[op] for r in json.loads(result.stdout) for op in ("encrypt", "decrypt", "sign", "admin", "denied"))


def test_since_is_inclusive_and_until_exclusive(db: str) -> None:
    everything = calls(db)
    assert everything == calls(db, "--since", "2026-11-02") == 35
    assert calls(db, "--until", "2026-11-02") == 0
    assert calls(db, "--since", "2026-11-03") == 0
    # [08:50, 08:51) holds one call: the partner's Decrypt at 08:50:00 (logged in both accounts)
    assert calls(db, "--since", "2026-11-02T08:50:00Z", "--until", "2026-11-02T08:51:00Z") == 1
    assert calls(db, "--since", "2026-11-02T08:50:00Z", "--until", "2026-11-02T08:50:00Z") == 0
    assert calls(db, "--until", "2026-11-02T08:50:00Z") + calls(db, "--since", "2026-11-02T08:50:00Z") == everything


def test_time_bounds_with_offsets_are_converted_to_utc(db: str) -> None:
    utc = calls(db, "--since", "2026-11-02T08:50:00Z", "--until", "2026-11-02T09:00:00Z")
    assert calls(db, "--since", "2026-11-02T09:50:00+01:00", "--until", "2026-11-02T04:00:00-05:00") == utc
    assert calls(db, "--since", "2026-11-02T08:50:00", "--until", "2026-11-02T09:00:00") == utc  # no offset: UTC
    assert utc > 0


# ---- keys that an alias (or a bare id) meant ---------------------------------------------------

K_USE1 = key_arn("1111aaaa-1111-4111-8111-111111111111")
K_EUW1 = key_arn("2222bbbb-2222-4222-8222-222222222222", region="eu-west-1")
K_OTHER = key_arn("3333cccc-3333-4333-8333-333333333333", account=OTHER)
K_OLD = key_arn("4444dddd-4444-4444-8444-444444444444")
K_NEW = key_arn("5555eeee-5555-4555-8555-555555555555")
MRK = "mrk-1234abcd12ab34cd56ef1234567890ab"


@pytest.fixture(scope="module")
def aliased(tmp_path_factory: pytest.TempPathFactory) -> str:
    """alias/app-data names three keys (two Regions, two accounts); alias/orders was retargeted;
    a multi-Region key's replicas share one id."""
    root = tmp_path_factory.mktemp("aliased")

    def t(m: int) -> str:
        return f"2026-10-01T{10 + m // 60:02d}:{m % 60:02d}:00Z"

    def via(alias: str, m: int, who: str, account: str = ACCOUNT, region: str = "us-east-1", name: str = "Decrypt",
            **extra: Any) -> Any:
        return kms(name, user(who, account), None, {"keyId": alias}, time=t(m), region=region, recipient=account, **extra)

    records = [
        alias_event("CreateAlias", "alias/app-data", K_USE1, t(0)),
        alias_event("CreateAlias", "alias/app-data", K_EUW1, t(0), region="eu-west-1"),
        alias_event("CreateAlias", "alias/app-data", K_OTHER, t(0), account=OTHER),
        alias_event("CreateAlias", "alias/orders", K_OLD, t(0)),
        alias_event("UpdateAlias", "alias/orders", K_NEW, t(60)),
        via("alias/app-data", 5, "alice"),
        via("alias/app-data", 6, "alice", region="eu-west-1"),
        via("alias/app-data", 7, "carol", account=OTHER),
        via("alias/orders", 30, "alice", name="Encrypt"),
        via("alias/orders", 90, "bob", name="Encrypt"),
        via(MRK, 10, "alice"),
        via(MRK, 11, "alice", region="eu-west-1"),
        via("alias/legacy", 12, "mallory", errorCode="AccessDenied"),  # an alias the archive never shows created
    ]
    fx.write(root / "trail.json", fx.log_file(records))
    db = str(root / "aliased.duckdb")
    assert run("ingest", str(root / "trail.json"), "--db", db, "-q").exit_code == 0
    return db


def who(aliased: str, key: str, *args: str) -> list[tuple[str, str]]:
    """(key, principal) of the rows with calls other than admin (CreateAlias is admin on its key)."""
    result = run("who-uses", key, "--db", aliased, "--format", "json", *args)
    assert result.exit_code == 0, result.output
    return [(r["key"], r["principal"]) for r in json.loads(result.stdout) if r["encrypt"] + r["decrypt"]]


def test_alias_in_several_accounts_and_regions(aliased: str) -> None:
    assert who(aliased, "alias/app-data") == [
        (K_EUW1, f"arn:aws:iam::{ACCOUNT}:user/alice"),
        (K_USE1, f"arn:aws:iam::{ACCOUNT}:user/alice"),
        (K_OTHER, f"arn:aws:iam::{OTHER}:user/carol"),
    ]
    assert who(aliased, "alias/app-data", "--account", OTHER) == [(K_OTHER, f"arn:aws:iam::{OTHER}:user/carol")]
    assert who(aliased, "alias/app-data", "--key-region", "eu-west-1") == [(K_EUW1, f"arn:aws:iam::{ACCOUNT}:user/alice")]
    assert who(aliased, f"arn:aws:kms:eu-west-1:{ACCOUNT}:alias/app-data") == [(K_EUW1, f"arn:aws:iam::{ACCOUNT}:user/alice")]


def test_retargeted_alias_means_both_keys(aliased: str) -> None:
    assert who(aliased, "alias/orders") == [
        (K_OLD, f"arn:aws:iam::{ACCOUNT}:user/alice"),
        (K_NEW, f"arn:aws:iam::{ACCOUNT}:user/bob"),
    ]


def test_a_bare_multi_region_id_means_every_replica(aliased: str) -> None:
    assert [k for k, _ in who(aliased, MRK)] == [key_arn(MRK, region="eu-west-1"), key_arn(MRK)]
    assert [k for k, _ in who(aliased, MRK, "--key-region", "us-east-1")] == [key_arn(MRK)]


def test_calls_through_an_alias_that_cannot_be_resolved_are_shown_under_the_alias(aliased: str) -> None:
    result = run("who-uses", "alias/legacy", "--db", aliased, "--format", "json")
    assert [(r["key"], r["principal"], r["denied"], r["key_resolved"]) for r in json.loads(result.stdout)] == [
        (f"arn:aws:kms:us-east-1:{ACCOUNT}:alias/legacy", f"arn:aws:iam::{ACCOUNT}:user/mallory", 1, False)]


def test_who_uses_prints_one_table_per_key(aliased: str) -> None:
    result = run("who-uses", "alias/orders", "--db", aliased, "--format", "md")
    assert result.exit_code == 0
    titles = [line for line in result.stdout.splitlines() if line.startswith("### ")]
    assert titles == [f"### {K_OLD}", f"### {K_NEW}"]


def test_who_uses_a_key_with_no_calls_in_the_window_says_when_it_was_last_used(aliased: str) -> None:
    result = run("who-uses", "alias/orders", "--db", aliased, "--since", "2026-10-02", "--until", "2026-10-03")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0] == "alias/orders means 2 keys (1 account, 1 Region, retargeted over time): one table per key with " \
                       "calls; narrow with --account or --key-region, or give a key's ARN"
    assert lines[2] == ("alias/orders (2 keys): no calls between 2026-10-02T00:00:00Z and 2026-10-03T00:00:00Z; "
                        "last use 2026-10-01T11:30:00Z")
    assert lines[-1] == "(no rows)"
    as_json = run("who-uses", "alias/orders", "--db", aliased, "--format", "json", "--since", "2026-10-02")
    assert (as_json.exit_code, json.loads(as_json.stdout)) == (0, [])
    assert as_json.stderr.splitlines()[1] == (
        "keytrail: note: alias/orders (2 keys): no calls since 2026-10-02T00:00:00Z; last use 2026-10-01T11:30:00Z")


def test_who_uses_a_key_the_store_does_not_know_is_an_error_naming_the_nearest(aliased: str) -> None:
    result = run("who-uses", "alias/app-dta", "--db", aliased)
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == "keytrail: error: alias/app-dta: no key of that name in the store; did you mean alias/app-data?\n"
    result = run("who-uses", "app-data", "--db", aliased)  # an alias's name without alias/
    assert result.stderr.endswith("did you mean alias/app-data?\n")
    result = run("who-uses", K_USE1.replace("1111aaaa", "1111aaab"), "--db", aliased)
    assert result.stderr.endswith(f"did you mean {K_USE1}?\n")
    result = run("who-uses", "zzzz", "--db", aliased)
    assert result.stderr == "keytrail: error: zzzz: no key of that name in the store; `keytrail keys` lists the 7 key(s) it knows\n"


def test_a_key_outside_account_or_key_region_is_an_error_listing_its_keys(aliased: str) -> None:
    result = run("who-uses", "alias/orders", "--db", aliased, "--key-region", "eu-west-1")
    assert result.exit_code == 2
    assert result.stderr == (f"keytrail: error: alias/orders means 2 key(s), none in --key-region eu-west-1:\n"
                             f"  {K_OLD}\n  {K_NEW}\n")
    result = run("usage", "--db", aliased, "--account", "999999999999")
    assert result.exit_code == 2
    assert result.stderr == (f"keytrail: error: --account 999999999999: the store holds no key of this account "
                             f"(it holds keys of {ACCOUNT}, {OTHER})\n")


# ---- exit codes, errors and warnings -----------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("usage",), "keytrail: error: give SOURCE paths or URLs, or --db FILE (or set KEYTRAIL_DB; see --help)\n"),
        (("usage", SAMPLE, "--since", "last week"),
         "keytrail: error: --since: 'last week' is not an ISO-8601 date or date-time, nor a time ago (7d, 12h, 2w)\n"),
        (("keys", SAMPLE, "--until", "2026-13-01"),
         "keytrail: error: --until: '2026-13-01' is not an ISO-8601 date or date-time, nor a time ago (7d, 12h, 2w)\n"),
        (("usage", SAMPLE, "--since", "2026-11-03", "--until", "2026-11-02"),
         "keytrail: error: --since 2026-11-03 is after --until 2026-11-02: the window holds nothing\n"),
        (("who-uses", "alias/blog-bucket-key", SAMPLE, "--account", "11112222333"),
         "keytrail: error: --account: '11112222333' is not a 12-digit account id\n"),
        (("who-uses", "alias/blog-bucket-key", SAMPLE, "--account", "1111-2222-3333"),
         "keytrail: error: --account: '1111-2222-3333' is not a 12-digit account id (did you mean 111122223333?)\n"),
        (("keys", SAMPLE, "--key-region", "us-east1"),
         "keytrail: error: --key-region: 'us-east1' is not a Region name (e.g. us-east-1); did you mean us-east-1?\n"),
        (("who-uses", " ", SAMPLE), "keytrail: error: an empty key name\n"),
        (("usage", "nosuch://bucket"), None),
    ],
)
def test_usage_errors_exit_2_with_a_clear_message(args: tuple[str, ...], message: str | None) -> None:
    """Found before any source is read: no summary line, nothing on stdout."""
    result = run(*args)
    assert result.exit_code == 2
    assert result.stdout == ""
    if message is not None:
        assert result.stderr == message
    else:
        assert result.stderr.startswith("keytrail: error: nosuch://bucket: unknown source scheme 'nosuch'")


def test_click_usage_errors_exit_2() -> None:
    result = run("usage", SAMPLE, "--format", "xml")
    assert result.exit_code == 2 and "Invalid value for '--format'" in result.stderr


@pytest.fixture
def with_truncated(tmp_path: Path) -> tuple[str, str]:
    bad = tmp_path / "AWSLogs/bad.json.gz"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(gzip.compress(fx.log_file([kms("Decrypt", user("x"), fx.KEY_A, None)]))[:50])
    return SAMPLE, str(bad)


def test_partial_input_exits_3_naming_the_file_and_counting_the_rest(with_truncated: tuple[str, str]) -> None:
    good, bad = with_truncated
    result = run("usage", good, bad, "--format", "json")
    assert result.exit_code == 3
    assert f"keytrail: error: {bad}: truncated gzip (compressed stream ends early)\n" in result.stderr
    assert "37 records in 2 files (37 KMS calls, 37 key-use rows); 1 file unreadable" in result.stderr
    assert result.stdout == run("usage", good, "--format", "json", "-q").stdout  # the rest, counted in full


def test_strict_fails_before_any_output(with_truncated: tuple[str, str], tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    out.write_text("previous report\n")
    result = run("usage", *with_truncated, "--format", "json", "--strict", "-o", str(out))
    assert result.exit_code == 3
    assert result.stdout == ""
    assert result.stderr.endswith(f"keytrail: error: --strict: 1 input problem(s): {with_truncated[1]}: truncated gzip "
                                  "(compressed stream ends early)\n")
    assert out.read_text() == "previous report\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["AWSLogs", "report.json"]


def test_warnings_go_to_stderr_never_into_json(tmp_path: Path) -> None:
    fx.write(tmp_path / "log.json", fx.log_file([kms("Decrypt", user("x"), fx.KEY_A, None), {"eventSource": "kms.amazonaws.com"}]))
    fx.write(tmp_path / "notes.json", fx.usage_output())
    fx.write(tmp_path / "broken.json", b'{"Records": [')
    result = run("usage", str(tmp_path), "--format", "json")
    assert result.exit_code == 3
    rows = json.loads(result.stdout)
    assert [(r["principal"], r["decrypt"]) for r in rows] == [(f"arn:aws:iam::{ACCOUNT}:user/x", 1)]
    assert f"keytrail: error: {tmp_path / 'broken.json'}: not valid JSON" in result.stderr
    assert f"keytrail: skipped record: {tmp_path / 'log.json'}: record 1: eventName is missing or not a string" in result.stderr
    assert "1 file skipped (1 valid JSON, not CloudTrail: an array without CloudTrail events)" in result.stderr


# ---- -o FILE and standard input -----------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["json", "csv", "md", "table"])
def test_output_file_holds_exactly_what_stdout_would(db: str, tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"report.{fmt}"
    out.write_text("an older, longer report that must not survive in part\n" * 50)
    result = run("usage", "--db", db, "--format", fmt, "-o", str(out))
    assert (result.exit_code, result.stdout) == (0, "")
    assert out.read_text(encoding="utf-8") == run("usage", "--db", db, "--format", fmt).stdout
    assert [p.name for p in tmp_path.iterdir()] == [out.name]  # no temporary file left behind


def test_output_into_a_missing_directory_is_a_usage_error(db: str, tmp_path: Path) -> None:
    out = tmp_path / "no-such-dir" / "report.json"
    result = run("usage", "--db", db, "--format", "json", "-o", str(out))
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == f"keytrail: error: {out}: cannot write the report: No such file or directory\n"
    assert not (tmp_path / "no-such-dir").exists()


def test_standard_input() -> None:
    gz = next(iter(sample.files().values()))
    for data in (gz, gzip.decompress(gz)):
        result = run("usage", "-", "--format", "csv", "-q", input=data)
        assert result.exit_code == 0, result.output
        assert result.stdout.startswith("key,principal,principal_type,encrypt,decrypt,sign,admin,denied,first_seen,last_seen\n")
        assert "arn:aws:iam::111122223333:user/test-user" in result.stdout


def test_ingest_then_report_from_the_store(tmp_path: Path) -> None:
    db = str(tmp_path / "k.duckdb")
    first = run("ingest", SAMPLE, "--db", db)
    assert first.exit_code == 0 and first.stdout == ""
    assert first.stderr.startswith("keytrail: 37 records in 2 files")
    again = run("ingest", SAMPLE, "--db", db)
    assert again.stderr.startswith("keytrail: 0 records in 0 files; 2 files unchanged since the last ingest")
    assert run("usage", "--db", db, "--format", "csv").stdout == run("usage", SAMPLE, "--format", "csv", "-q").stdout
