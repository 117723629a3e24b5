"""keytrail findings: every format, the options, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import CORPUS, need_shared
from tests.factory import scenario as sc


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    tmp = tmp_path_factory.mktemp("findings")
    path = str(tmp / "store.duckdb")
    sc.scenario_store(tmp, db=path).close()
    return path


def run(*args: str) -> tuple[int, str, str]:
    from keytrail.cli.main import cli

    res = CliRunner().invoke(cli, list(args))
    return res.exit_code, res.stdout, res.stderr


def test_json_is_an_array_of_findings(db: str) -> None:
    code, out, err = run("findings", "--db", db, "--since", "2026-11-08", "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert isinstance(data, list) and data
    for f in data:
        assert {"kind", "severity", "key", "principal", "evidence", "recommendation"} <= set(f)
        assert all(set(e) == {"event_id", "event_time", "event_name"} for e in f["evidence"])
    assert err.startswith("keytrail: note: ")
    assert err.endswith(f" {len(data)} finding(s): " + ", ".join(
        f"{n} {s}" for s in ("high", "medium", "low", "info") if (n := sum(f["severity"] == s for f in data))) + "\n")


def test_one_kind_as_csv_exactly(db: str) -> None:
    code, out, err = run("findings", "--db", db, "--since", "2026-11-08", "--kind", "root-use", "--format", "csv")
    assert code == 0
    assert out == (
        "severity,kind,key,principal,summary,evidence,evidence_count,recommendation,details\n"
        f"high,root-use,{sc.K_APP},arn:aws:iam::111122223333:root,"
        '"the root user arn:aws:iam::111122223333:root called 00000000-0000-4000-8000-000000000001 '
        '(111122223333, us-east-1): 1 call",00000000-0000-4000-8000-00000000001d 2026-11-08T08:00:00Z,1,'
        'Stop using the root user for KMS: use an IAM role; find who holds the root credentials and rotate or '
        'remove its access keys,'
        '"{""calls"":1,""failed_calls"":0,""first"":""2026-11-08T08:00:00Z"",""last"":""2026-11-08T08:00:00Z"",'
        '""operations"":[""Decrypt""],""source_ips"":[""198.51.100.99""]}"\n'
    )
    assert err == "keytrail: 1 finding(s): 1 high\n"


def test_markdown_and_table(db: str) -> None:
    code, out, _ = run("findings", "--db", db, "--kind", "unused-key,no-evidence", "--since", "2026-11-08",
                       "--format", "md")
    assert code == 0
    assert out.startswith("### findings\n\n| severity | kind | finding | evidence | recommendation |\n")
    assert out.count("| unused-key |") == 4
    assert out.count("| no-evidence |") == 1
    code, out, _ = run("findings", "--db", db, "--kind", "denied-attempts", "--since", "2026-11-08", "-q")
    assert code == 0
    assert "AccessDenied" in out and "(+1 more)" not in out


def test_options_reach_the_findings(db: str) -> None:
    code, out, err = run("findings", "--db", db, "--since", "2026-11-08", "--kind", "unexpected-network",
                         "--allowed-ips", "10.0.0.0/16,192.0.2.0/24", "--allowed-vpce", sc.ALLOWED_VPCE, "--format", "json")
    assert code == 0
    principals = {f["principal"] for f in json.loads(out)}
    assert sc.SSO_ROLE not in principals
    assert sc.NEW_ROLE in principals
    code, out, _ = run("findings", "--db", db, "--since", "2026-11-08", "--baseline-since", "2026-11-01",
                       "--baseline-until", "2026-11-02", "--kind", "new-principal", "--format", "json", "--evidence", "0")
    assert code == 0
    data = json.loads(out)
    assert all(f["evidence"] == [] and f["evidence_count"] > 0 for f in data)
    code, out, _ = run("findings", "--db", db, "--since", "2026-11-08", "--key", "alias/app", "--min-severity", "high",
                       "--format", "json")
    assert {(f["key"], f["severity"]) for f in json.loads(out)} == {(sc.K_APP, "high")}


def test_notes_go_to_stderr(db: str) -> None:
    code, out, err = run("findings", "--db", db, "--kind", "new-principal", "--format", "json")
    assert (code, out) == (0, "[]\n")
    assert err == (
        "keytrail: note: new-principal: give --since (or --baseline-since/--baseline-until) to compare with a baseline\n"
        "keytrail: 0 finding(s)\n"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--kind", "nope"), "--kind: unknown kind 'nope'"),
        (("--allowed-ips", "10.0.0.0/33"), "--allowed-ips: '10.0.0.0/33' is not an IP address or CIDR"),
        (("--baseline-until", "yesterday"), "--baseline-until: 'yesterday' is not an ISO-8601 date"),
    ],
)
def test_bad_options_exit_2(db: str, args: tuple[str, ...], message: str) -> None:
    code, out, err = run("findings", "--db", db, *args)
    assert (code, out) == (2, "")
    assert message in err


def test_partial_input_exits_3(tmp_path: Path) -> None:
    sc.scenario().write(tmp_path / "trail")
    (tmp_path / "trail" / "broken.json").write_text('{"Records": [')
    code, out, _ = run("findings", str(tmp_path / "trail"), "--kind", "root-use", "--format", "json", "-q", "--workers", "1")
    assert code == 3
    assert json.loads(out)[0]["kind"] == "root-use"


@pytest.mark.shared
def test_corpus_kms_examples(tmp_path: Path) -> None:
    """AWS's documented KMS records: a cross-account CloudTrail role; failed calls that are denied
    attempts, and no KMSInvalidStateException about an external key store taken for a key state."""
    path = need_shared(CORPUS / "awsdocs-kms-developer-guide" / "records.json")
    code, out, _ = run("findings", str(path), "--format", "json", "-q", "--workers", "1", "--kind", "cross-account-use,denied-attempts,"
                       "pending-deletion-use")
    assert code == 0
    data = json.loads(out)
    cross = [f for f in data if f["kind"] == "cross-account-use"]
    assert {(f["principal"], f["details"]["caller_account"]) for f in cross} >= {
        ("arn:aws:iam::086441151436:role/AWSCloudTrail", "086441151436")
    }
    denied = {(f["principal"], tuple(f["details"]["error_codes"])) for f in data if f["kind"] == "denied-attempts"}
    assert ("arn:aws:iam::111122223333:user/Alice", ("IncorrectKeyException", "InvalidKeyUsageException")) in denied
    assert not [f for f in data if f["kind"] == "pending-deletion-use"]
