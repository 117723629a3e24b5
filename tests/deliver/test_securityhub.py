"""keytrail export securityhub against moto's Security Hub in server mode (tests/aws_server.py).

moto's BatchImportFindings upserts by Id and checks only that Resources is not empty, and its
GetFindings ignores filters: what keytrail must get right itself (required fields, limits, the
product ARN, who may import what, archiving) is checked here on what reaches the server.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from keytrail.analysis.findings import Finding
from keytrail.deliver.securityhub import Exporter, export
from keytrail.errors import UsageError
from keytrail.render.asff import MAX_BATCH_FINDINGS, check_asff, product_arn
from keytrail.sources import aws as aws_module
from keytrail.sources.aws import AwsConfig
from keytrail.sources.retry import RETRIES
from tests.aws_server import EmulatorServer, Request, client
from tests.deliver.conftest import run

REGION = "us-east-1"


def act_as(monkeypatch: pytest.MonkeyPatch, account: str) -> None:
    """keytrail's own clients act in ``account``: credentials of a role assumed there."""
    creds = client("sts").assume_role(RoleArn=f"arn:aws:iam::{account}:role/SecurityHubExport",
                                      RoleSessionName="keytrail-test")["Credentials"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", creds["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", creds["SecretAccessKey"])
    monkeypatch.setenv("AWS_SESSION_TOKEN", creds["SessionToken"])
    aws_module.forget_clients()


def hub_findings(account: str, region: str = REGION) -> list[dict[str, Any]]:
    c = client("securityhub", account=account, region=region)
    out: list[dict[str, Any]] = []
    for page in c.get_paginator("get_findings").paginate():
        out += page["Findings"]
    return out


def imports(server: EmulatorServer) -> list[Request]:
    return [r for r in server.faults.log if r.service == "securityhub" and r.path == "/findings/import"]


def findings_json(db: str, *args: str) -> list[dict[str, Any]]:
    code, out, err = run("findings", "--db", db, "--format", "json", "-q", *args)
    assert code == 0, err
    data: list[dict[str, Any]] = json.loads(out)
    return data


def test_export_twice_leaves_one_active_finding_per_finding(
    aws: EmulatorServer, one_account: tuple[Path, str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, db, account = one_account
    expected = findings_json(db)
    assert len(expected) > MAX_BATCH_FINDINGS  # several batches
    act_as(monkeypatch, account)

    code, out, err = run("export", "securityhub", "--db", db, "--region", REGION, "-q")
    assert (code, err) == (0, "")
    assert out == f"Security Hub {account} {REGION}: {len(expected)} imported, 0 updated, 0 archived, 0 failed\n"
    stored = hub_findings(account)
    assert len(stored) == len(expected) == len({f["Id"] for f in stored})
    assert all(f["RecordState"] == "ACTIVE" for f in stored)
    # every request within BatchImportFindings' limits, every finding complete
    batches = [json.loads(r.body)["Findings"] for r in imports(aws)]
    assert [len(b) for b in batches] == [100, 100, 100, len(expected) - 300]
    assert all(len(r.body) <= 6 * 1024 * 1024 for r in imports(aws))
    for f in stored:
        assert check_asff(f) == []
        assert f["ProductArn"] == product_arn(REGION, account)
        assert f["AwsAccountId"] == account
        assert f["GeneratorId"].startswith("keytrail/")
    kinds = sorted(f["GeneratorId"].removeprefix("keytrail/") for f in stored)
    assert kinds == sorted(f["kind"] for f in expected)
    created = {f["Id"]: f["CreatedAt"] for f in stored}

    # a second export updates the same findings: nothing new, nothing twice
    code, out, err = run("export", "securityhub", "--db", db, "--region", REGION, "-q")
    assert (code, err) == (0, "")
    assert out == f"Security Hub {account} {REGION}: 0 imported, {len(expected)} updated, 0 archived, 0 failed\n"
    again = hub_findings(account)
    assert len(again) == len(expected)
    assert sum(f["RecordState"] == "ACTIVE" for f in again) == len(expected)
    assert {f["Id"]: f["CreatedAt"] for f in again} == created  # CreatedAt kept on update

    # findings that no longer hold (here: below the new threshold) are archived, not left active
    high = findings_json(db, "--min-severity", "high")
    code, out, err = run("export", "securityhub", "--db", db, "--region", REGION, "--min-severity", "high", "-q")
    assert code == 0, err
    archived = len(expected) - len(high)
    assert out == f"Security Hub {account} {REGION}: 0 imported, {len(high)} updated, {archived} archived, 0 failed\n"
    final = hub_findings(account)
    assert len(final) == len(expected)
    assert sum(f["RecordState"] == "ACTIVE" for f in final) == len(high)
    assert {f["Id"] for f in final if f["RecordState"] == "ARCHIVED"} == {
        f["Id"] for f in again} - {f["Id"] for f in final if f["RecordState"] == "ACTIVE"}

    # and a finding that holds again is active again
    code, out, _ = run("export", "securityhub", "--db", db, "--region", REGION, "-q")
    assert out == f"Security Hub {account} {REGION}: 0 imported, {len(expected)} updated, 0 archived, 0 failed\n"
    assert sum(f["RecordState"] == "ACTIVE" for f in hub_findings(account)) == len(expected)


def test_archiving_stays_within_the_kinds_exported(
    aws: EmulatorServer, one_account: tuple[Path, str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, db, account = one_account
    act_as(monkeypatch, account)
    assert run("export", "securityhub", "--db", db, "--region", REGION, "-q")[0] == 0
    total = len(hub_findings(account))
    code, out, _ = run("export", "securityhub", "--db", db, "--region", REGION, "--kind", "root-use",
                       "--min-severity", "high", "-q")
    assert code == 0
    roots = len(findings_json(db, "--kind", "root-use"))
    assert out.endswith(f": 0 imported, {roots} updated, 0 archived, 0 failed\n")
    assert sum(f["RecordState"] == "ACTIVE" for f in hub_findings(account)) == total


def test_an_export_narrowed_to_keys_archives_only_within_them(
    aws: EmulatorServer, one_account: tuple[Path, str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, db, account = one_account
    act_as(monkeypatch, account)
    assert run("export", "securityhub", "--db", db, "--region", REGION, "-q")[0] == 0
    everything = hub_findings(account)
    key = next(f["ProductFields"]["keytrail/Key"] for f in everything if "keytrail/Key" in f["ProductFields"])
    # one key, one kind: nothing else is archived
    code, out, _ = run("export", "securityhub", "--db", db, "--region", REGION, "--key", key, "--kind", "root-use", "-q")
    assert code == 0 and ", 0 archived, " in out
    assert sum(f["RecordState"] == "ACTIVE" for f in hub_findings(account)) == len(everything)
    # one Region of keys: only that Region's findings it no longer reports are archived
    region = key.split(":")[3]
    in_region = findings_json(db, "--key-region", region, "--min-severity", "high")
    code, out, _ = run("export", "securityhub", "--db", db, "--region", REGION, "--key-region", region,
                       "--min-severity", "high", "-q")
    assert code == 0
    elsewhere = [f for f in everything if f["ProductFields"].get("keytrail/Key", "").split(":")[3:4] != [region]]
    active = [f for f in hub_findings(account) if f["RecordState"] == "ACTIVE"]
    assert len(active) == len(elsewhere) + len(in_region)
    assert out.endswith(f", {len(everything) - len(elsewhere) - len(in_region)} archived, 0 failed\n")


def _finding(key_account: str, n: int) -> Finding:
    key = f"arn:aws:kms:us-east-1:{key_account}:key/00000000-0000-4000-8000-{n:012d}"
    return Finding(kind="unused-key", severity="medium", key=key, summary=f"key {n} unused", recommendation="look")


def test_only_the_callers_account_is_imported(aws: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> None:
    act_as(monkeypatch, "111122223333")
    findings = [_finding("111122223333", 1), _finding("444455556666", 2), _finding("444455556666", 3)]
    summary = export(findings, Exporter(AwsConfig(region=REGION), "2026-12-01T00:00:00Z"))
    assert (summary.account, summary.imported, summary.other_accounts) == ("111122223333", 1, {"444455556666": 2})
    assert [f["AwsAccountId"] for f in hub_findings("111122223333")] == ["111122223333"]
    assert hub_findings("444455556666") == []


def _throttle(times: int) -> Any:
    seen = {"n": 0}

    def rule(r: Request) -> tuple[int, str, bytes] | None:
        if r.service == "securityhub" and r.path == "/findings/import" and seen["n"] < times:
            seen["n"] += 1
            body = json.dumps({"__type": "TooManyRequestsException", "message": "Rate exceeded"}).encode()
            return 429, "application/json", body
        return None

    return rule


def test_throttled_imports_are_retried_with_backoff(aws: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> None:
    act_as(monkeypatch, "111122223333")
    aws.faults.rules.append(_throttle(3))
    slept: list[float] = []
    exporter = Exporter(AwsConfig(region=REGION, max_attempts=1), "2026-12-01T00:00:00Z", sleep=slept.append)
    RETRIES.take()
    summary = export([_finding("111122223333", n) for n in range(150)], exporter)
    assert (summary.imported, summary.failed) == (150, [])
    retried, notes = RETRIES.take()  # the retry policy's backoff (with jitter) on each throttled try, counted
    assert retried == 3 and all("TooManyRequestsException" in n for n in notes)
    assert len(imports(aws)) == 2 + 3


def test_a_refused_finding_is_named_and_the_rest_imported(
    aws: EmulatorServer, one_account: tuple[Path, str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, db, account = one_account
    act_as(monkeypatch, account)

    def refuse_first(r: Request) -> tuple[int, str, bytes] | None:
        if r.service == "securityhub" and r.path == "/findings/import":
            batch = json.loads(r.body)["Findings"]
            body = {"FailedCount": 1, "SuccessCount": len(batch) - 1,
                    "FailedFindings": [{"Id": batch[0]["Id"], "ErrorCode": "InvalidInput",
                                        "ErrorMessage": "Finding is larger than 240 KB"}]}
            return 200, "application/json", json.dumps(body).encode()
        return None

    aws.faults.rules.append(refuse_first)
    code, out, err = run("export", "securityhub", "--db", db, "--region", REGION, "--kind", "root-use", "-q")
    first = json.loads(imports(aws)[0].body)["Findings"][0]["Id"]
    assert code == 1
    assert err == f"keytrail: error: Security Hub did not take {first}: InvalidInput: Finding is larger than 240 KB\n"
    n = len(findings_json(db, "--kind", "root-use"))
    assert out == f"Security Hub {account} {REGION}: {n - 1} imported, 0 updated, 0 archived, 1 failed\n"


def test_security_hub_not_enabled_is_an_error_naming_it(
    aws: EmulatorServer, one_account: tuple[Path, str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, db, account = one_account
    act_as(monkeypatch, account)

    def disabled(r: Request) -> tuple[int, str, bytes] | None:
        if r.service == "securityhub":
            body = {"__type": "InvalidAccessException", "Message": "Account is not subscribed to AWS Security Hub"}
            return 401, "application/json", json.dumps(body).encode()
        return None

    aws.faults.rules.append(disabled)
    code, out, err = run("export", "securityhub", "--db", db, "--region", REGION, "-q")
    assert (code, out) == (1, "")
    assert err == (
        "keytrail: error: Security Hub (us-east-1) GetFindings: InvalidAccessException: Account is not subscribed "
        "to AWS Security Hub (is Security Hub enabled in this account and Region?)\n"
    )


def test_a_region_is_required(monkeypatch: pytest.MonkeyPatch, aws: EmulatorServer) -> None:
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    aws_module.forget_clients()
    with pytest.raises(UsageError, match=r"^Security Hub is regional: give region \(or set AWS_REGION\)$"):
        export([_finding("111122223333", 1)], Exporter(AwsConfig(), "2026-12-01T00:00:00Z"))
    code, out, err = run("export", "securityhub", "--db", ":memory:", "-q")
    assert (code, out, err) == (2, "", "keytrail: error: Security Hub is regional: give --region (or set AWS_REGION)\n")


def test_an_export_at_20_percent_faults_equals_the_fault_free_export(
    aws: EmulatorServer, one_account: tuple[Path, str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through tests/fault_proxy.py failing 20% of requests: every finding imported once, exit 0,
    the retries counted."""
    from tests.fault_proxy import FaultPlan, faults

    _, db, account = one_account
    expected = findings_json(db)
    act_as(monkeypatch, account)
    with faults(aws.url, FaultPlan(rate=0.2, seed=7), monkeypatch) as proxy:
        code, out, err = run("export", "securityhub", "--db", db, "--region", REGION, "--verbose")
    assert code == 0, err
    assert out == f"Security Hub {account} {REGION}: {len(expected)} imported, 0 updated, 0 archived, 0 failed\n"
    stored = hub_findings(account)
    assert len(stored) == len(expected) == len({f["Id"] for f in stored})
    assert sum(proxy.applied.values()) > 0 and "to Security Hub retried" in err
