"""Reports stay bounded at hostile counts: the HTML report's data lists the principals and keys with
the most calls and says how many there are; terminal tables show a part and count the rest; failed
calls on keys never seen to exist are one finding per principal and error."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from keytrail.analysis import Filters, usage
from keytrail.analysis import report as report_module
from keytrail.analysis.findings import FindingOptions, run_findings
from keytrail.analysis.report import build_report_data
from keytrail.cli.main import cli
from keytrail.pipeline import ingest
from keytrail.sources.local import LocalSource
from keytrail.store import Store

ACCOUNT = "111122223333"


def key(n: int) -> str:
    return f"arn:aws:kms:us-east-1:{ACCOUNT}:key/{n:08d}-0000-4000-8000-000000000000"


def call(i: int, user: str, k: str, error: str | None = None, name: str = "Decrypt") -> dict[str, Any]:
    r: dict[str, Any] = {
        "eventVersion": "1.08", "eventSource": "kms.amazonaws.com", "eventName": name,
        "eventTime": f"2026-10-01T00:{(i // 60) % 60:02d}:{i % 60:02d}Z", "awsRegion": "us-east-1",
        "recipientAccountId": ACCOUNT, "eventID": f"00000000-0000-4000-8000-{i:012d}",
        "userIdentity": {"type": "IAMUser", "principalId": f"AIDA{i:016d}", "accountId": ACCOUNT,
                         "arn": f"arn:aws:iam::{ACCOUNT}:user/{user}", "userName": user},
        "requestParameters": {"keyId": k},
    }  # fmt: skip
    if error:
        r["errorCode"], r["errorMessage"] = error, "no such key"
    return r


@pytest.fixture(scope="module")
def store_path(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Key 1 used by 30 users (user-i calls i+1 times), keys 2..5 by one user each, and a prober's
    failed calls on 12 invented keys (NotFoundException) and on key 1 (AccessDenied)."""
    folder = tmp_path_factory.mktemp("bounded")
    records, i = [], 0
    for u in range(30):
        for _ in range(u + 1):
            records.append(call(i, f"user-{u:02d}", key(1)))
            i += 1
    for n in range(2, 6):
        records.append(call(i, f"solo-{n}", key(n)))
        i += 1
    for n in range(100, 112):
        records.append(call(i, "prober", key(n), error="NotFoundException", name="DescribeKey"))
        i += 1
    records.append(call(i, "prober", key(1), error="AccessDeniedException"))
    (folder / "logs.json").write_text(json.dumps({"Records": records}))
    db = str(folder / "s.duckdb")
    with Store(db) as store:
        ingest([LocalSource((str(folder / "logs.json"),))], store, workers=1)
    yield db


def test_the_report_lists_the_principals_and_keys_with_the_most_calls(
    store_path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(report_module, "ROWS_SHOWN", 5)
    monkeypatch.setattr(report_module, "KEY_SECTIONS", 3)
    findings = [{"kind": "x", "severity": "low", "key": None, "summary": str(n)} for n in range(7)]
    with Store(store_path, read_only=True) as store:
        data = build_report_data(store, Filters(), findings=findings)
    assert data.summary.keys == 17 and data.summary.principals == 35
    (first, *rest) = data.keys
    assert len(data.keys) == 3 and first.key == key(1)
    assert first.principals == 31 and [p.principal.rsplit("/", 1)[1] for p in first.principal_rows] == [
        "user-29", "user-28", "user-27", "user-26", "user-25"
    ]
    assert first.calls == sum(range(1, 31)) + 1  # the key's own counts are whole
    assert sum(c.calls for c in first.operations) == first.calls
    assert len(data.findings or []) == 5 and data.findings_total == 7
    assert [(c.name, c.calls) for c in data.finding_severities or []] == [("low", 7)]


def test_terminal_tables_show_a_part_and_count_the_rest(store_path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import keytrail.cli.reports as reports

    monkeypatch.setattr(reports, "TABLE_ROWS", 4)
    runner = CliRunner()

    def screen(*args: str) -> str:  # laid out for a terminal 200 columns wide
        result = runner.invoke(cli, [*args, "--db", store_path, "--width", "200"])
        assert result.exit_code == 0, result.output
        return result.stdout

    def line(more: int, total: int) -> str:
        return (f"... and {more} more row(s), {total} in all (the 4 with the most calls are shown): "
                "--format csv or --format json writes every row\n")

    out = screen("usage")
    assert out.endswith(line(43, 47)) and "user-29" in out
    assert screen("keys").endswith(line(13, 17))
    assert screen("principals").endswith(line(31, 35))
    assert screen("who-uses", key(1)).endswith(f"{key(1)}: " + line(27, 31))
    wide = runner.invoke(cli, ["usage", "--db", store_path]).stdout  # not a terminal: every row, for grep
    assert "more row(s)" not in wide and len([ln for ln in wide.splitlines() if ":user/" in ln]) == 47
    csv = runner.invoke(cli, ["usage", "--db", store_path, "--format", "csv"]).stdout
    assert len(csv.splitlines()) == 48  # every row, and the header
    with Store(store_path, read_only=True) as store:
        assert len(usage(store)) == 47


def test_failed_calls_on_keys_never_seen_are_one_finding_per_principal_and_error(store_path: str) -> None:
    with Store(store_path, read_only=True) as store:
        found = sorted(run_findings(store, FindingOptions(kinds=("denied-attempts",))), key=lambda f: f.key is None)
    assert [(f.principal, f.key, f.details.get("error_code")) for f in found] == [
        (f"arn:aws:iam::{ACCOUNT}:user/prober", key(1), None),
        (f"arn:aws:iam::{ACCOUNT}:user/prober", None, "NotFoundException"),
    ]
    grouped = found[1]
    assert grouped.summary == (f"arn:aws:iam::{ACCOUNT}:user/prober: 12 failed calls on 12 keys never seen to exist "
                               "(NotFoundException)")  # fmt: skip
    assert grouped.details["keys_never_seen"] == 12 and grouped.details["example_keys"][:2] == [key(100), key(101)]
    assert grouped.evidence_count == 12 and len(grouped.evidence) == 5


def test_a_single_invented_key_stays_its_own_finding(tmp_path: Path) -> None:
    (tmp_path / "l.json").write_text(json.dumps({"Records": [call(1, "p", key(9), error="NotFoundException")]}))
    with Store() as store:
        ingest([LocalSource((str(tmp_path / "l.json"),))], store, workers=1)
        found = run_findings(store, FindingOptions(kinds=("denied-attempts",)))
    assert [(f.key, f.evidence_count) for f in found] == [(key(9), 1)]
