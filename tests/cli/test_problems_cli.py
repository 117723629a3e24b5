"""keytrail problems: every record that was not counted, where it is and why, in every format.

Golden files live in tests/cli/golden/ (``problems.*``); after an intended change of output,
regenerate them with
    KEYTRAIL_REGEN_GOLDEN=1 python -m pytest tests/cli/test_problems_cli.py
and review the diff. The trail's directory is shown as ``TRAIL`` in them.
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

GOLDEN = Path(__file__).parent / "golden"
REGEN = "KEYTRAIL_REGEN_GOLDEN=1 python -m pytest tests/cli/test_problems_cli.py"
ACCOUNT = "111122223333"
KEY = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
ROLE = {
    "type": "AssumedRole", "principalId": "AROAEXAMPLEROLEID0001:alice",
    "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/Admin/alice", "accountId": ACCOUNT,
    "sessionContext": {"sessionIssuer": {"type": "Role", "principalId": "AROAEXAMPLEROLEID0001",
                                         "arn": f"arn:aws:iam::{ACCOUNT}:role/Admin", "accountId": ACCOUNT}},
}  # fmt: skip


def record(i: int, name: str, params: Any, **more: Any) -> dict[str, Any]:
    rec = {"eventVersion": "1.11", "userIdentity": ROLE, "eventTime": f"2026-10-01T10:00:0{i}Z",
           "eventSource": "kms.amazonaws.com", "eventName": name, "awsRegion": "us-east-1",
           "requestParameters": params, "eventID": f"0000000{i}-aaaa-bbbb-cccc-ddddeeeeffff",
           "recipientAccountId": ACCOUNT}  # fmt: skip
    rec.update(more)
    return rec


RECORDS = [
    record(0, "Decrypt", None, resources=[{"arn": KEY, "accountid": ACCOUNT}]),  # an export's lower-case keys: counted
    record(1, "PutKeyPolicy", {"policyName": "default"}),  # needs a key, names none
    record(2, "PutKeyPolicy", {"keyId": "alias/xks-foo", "policyName": "default"}, recipientAccountId="############"),
    record(3, "Encrypt", {"keyId": KEY}, eventTime="yesterday"),  # rejected
    record(4, "ListAliases", {"limit": 5}),  # names no key, needs none: not a problem
]


@pytest.fixture
def trail(tmp_path: Path) -> Path:
    folder = tmp_path / "trail"
    folder.mkdir()
    (folder / f"{ACCOUNT}_CloudTrail_us-east-1_20261001T1000Z_a.json").write_text(json.dumps({"Records": RECORDS}))
    (folder / "truncated.json.gz").write_bytes(gzip.compress(b'{"Records": []}')[:12])
    return folder


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("KEYTRAIL_REGEN_GOLDEN"):
        path.write_text(text, encoding="utf-8")
        return
    assert path.exists(), f"golden file {path} is missing; write it with: {REGEN}"
    assert text == path.read_text(encoding="utf-8"), f"output differs from {path}; if intended, regenerate with: {REGEN}"


def test_a_keyless_put_key_policy_is_listed_in_json(trail: Path) -> None:
    result = run("problems", str(trail), "--format", "json")
    assert result.exit_code == 3  # the truncated file: some input could not be read
    rows = json.loads(result.stdout)
    assert rows[0] == {
        "source": str(trail / f"{ACCOUNT}_CloudTrail_us-east-1_20261001T1000Z_a.json"), "record": 1,
        "event_id": "00000001-aaaa-bbbb-cccc-ddddeeeeffff", "event_name": "PutKeyPolicy", "kind": "unattributable",
        "reason": "no resources[] and no key in requestParameters: the call names no key",
    }  # fmt: skip
    check_golden("problems.json", result.stdout.replace(str(trail), "TRAIL"))
    assert "2 KMS calls unattributable), listed by `keytrail problems`" in result.stderr


@pytest.fixture
def store(trail: Path, tmp_path: Path) -> str:
    """The trail ingested, its files' names made TRAIL/... so that the tables' widths are fixed."""
    import duckdb

    db = str(tmp_path / "t.duckdb")
    assert run("ingest", str(trail), "--db", db, "-q").exit_code == 3
    con = duckdb.connect(db)
    con.execute("UPDATE files SET uri = replace(uri, ?, 'TRAIL')", [str(trail)])
    con.close()
    return db


@pytest.mark.parametrize(("fmt", "golden"), [("table", "problems.txt"), ("csv", "problems.csv"), ("md", "problems.md")])
def test_every_format(store: str, fmt: str, golden: str) -> None:
    result = run("problems", "--db", store, "--format", fmt)
    assert (result.exit_code, result.stderr) == (0, "")
    check_golden(golden, result.stdout)


def test_from_a_store_and_by_kind(store: str) -> None:
    db = store
    result = run("problems", "--db", db, "--kind", "rejected,unreadable", "--format", "json")
    assert result.exit_code == 0 and result.stderr == ""
    assert [(r["kind"], r["record"], r["event_name"]) for r in json.loads(result.stdout)] == [
        ("rejected", 3, "Encrypt"), ("unreadable", None, None)]  # fmt: skip
    assert json.loads(run("problems", "--db", db, "--format", "json").stdout)[1]["source"] == (
        f"TRAIL/{ACCOUNT}_CloudTrail_us-east-1_20261001T1000Z_a.json")
    usage = json.loads(run("usage", "--db", db, "--format", "json").stdout)
    assert [(u["key"], u["decrypt"]) for u in usage] == [(KEY, 1)]  # the lower-case resources[] entry


def test_nothing_to_list(tmp_path: Path) -> None:
    (tmp_path / "ok.json").write_text(json.dumps({"Records": [RECORDS[0], RECORDS[4]]}))
    result = run("problems", str(tmp_path), "--format", "json", "-q")
    assert (result.exit_code, result.stdout, result.stderr) == (0, "[]\n", "")
    table = run("problems", str(tmp_path), "-q")
    assert table.stdout == "No problems: no record rejected, no KMS call unattributable, no file unreadable.\n"
    narrow = run("problems", str(tmp_path), "-q", "--width", "40", "--no-color")
    assert narrow.stdout == "No problems: no record rejected, no KMS\n    call unattributable, no file\n    unreadable.\n"


def test_an_unknown_kind_is_refused(trail: Path) -> None:
    result = CliRunner().invoke(cli, ["problems", str(trail), "--kind", "bad"])
    assert result.exit_code == 2
    assert "--kind: bad: not a kind of problem (rejected, unattributable, unreadable, conflicting)" in result.stderr
