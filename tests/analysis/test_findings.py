"""Findings on the generated scenario archive (tests/factory/scenario.py): one test per finding kind."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import orjson
import pytest

from keytrail.analysis.filters import Filters
from keytrail.analysis.findings import (
    KINDS,
    Finding,
    FindingOptions,
    findings_as_dicts,
    findings_report,
    parse_networks,
    run_findings,
)
from keytrail.errors import UsageError
from keytrail.store import Store
from tests.factory import Trail, key_id, user
from tests.factory import scenario as sc

WINDOW = Filters(since=datetime(2026, 11, 8))


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    store = sc.scenario_store(tmp_path_factory.mktemp("scenario"))
    yield store
    store.close()


@pytest.fixture(scope="module")
def bare(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """The scenario without an inventory."""
    store = sc.scenario_store(tmp_path_factory.mktemp("bare"), inventory=False)
    yield store
    store.close()


def found(store: Store, *kinds: str, **kw: object) -> list[Finding]:
    return run_findings(store, FindingOptions(filters=kw.pop("filters", WINDOW), kinds=kinds, **kw))  # type: ignore[arg-type]


def pairs(findings: list[Finding]) -> set[tuple[str | None, str | None]]:
    return {(f.key, f.principal) for f in findings}


def test_unused_keys_with_inventory_and_no_evidence_where_the_trail_is_blind(scenario: Store) -> None:
    fs = found(scenario, "unused-key", "no-evidence")
    unused = {f.key: f for f in fs if f.kind == "unused-key"}
    assert set(unused) == {sc.K_DORMANT, sc.K_NEVER, sc.K_RETIRING, sc.K_DISABLED}
    assert unused[sc.K_DORMANT].severity == "medium"
    assert unused[sc.K_RETIRING].severity == "low"
    assert unused[sc.K_RETIRING].details["state"] == "PendingDeletion"
    assert unused[sc.K_RETIRING].details["last_use"] == "2026-11-01T05:00:00Z"
    assert unused[sc.K_DISABLED].details["state"] == "Disabled"
    assert unused[sc.K_NEVER].details["last_use"] is None
    assert unused[sc.K_NEVER].details["in_inventory"] is True
    # eu-west-1 logs management calls only: no claim either way
    [blind] = [f for f in fs if f.kind == "no-evidence"]
    assert (blind.key, blind.severity) == (sc.K_EU, "info")
    assert "no KMS cryptographic calls of account 111122223333 in eu-west-1" in blind.summary
    assert blind.evidence_count == 1  # its DescribeKey in the window


def test_unused_keys_without_inventory_come_from_management_events(bare: Store) -> None:
    fs = found(bare, "unused-key", "no-evidence")
    unused = {f.key: f for f in fs if f.kind == "unused-key"}
    # K_NEVER is only in the inventory; K_AWS is not customer managed
    assert set(unused) == {sc.K_DORMANT, sc.K_RETIRING, sc.K_DISABLED}
    assert unused[sc.K_DORMANT].details["manager_basis"] == "CreateKey in the archive"
    assert unused[sc.K_RETIRING].details["state_basis"].startswith("KMSInvalidStateException at 2026-11-09")
    assert unused[sc.K_DISABLED].details["state"] == "Disabled"
    assert [f.key for f in fs if f.kind == "no-evidence"] == [sc.K_EU]


def test_a_window_the_archive_does_not_cover_is_no_evidence_not_unused(scenario: Store) -> None:
    fs = found(scenario, "unused-key", "no-evidence", filters=Filters(since=datetime(2027, 1, 1)))
    assert fs and {f.kind for f in fs} == {"no-evidence"}


def test_keys_pending_deletion_and_who_still_calls_them(scenario: Store) -> None:
    fs = found(scenario, "key-pending-deletion", "pending-deletion-use")
    [key] = [f for f in fs if f.kind == "key-pending-deletion"]
    assert key.key == sc.K_RETIRING
    assert key.severity == "high"
    assert key.details["still_calling"] == [sc.APP_ROLE, sc.ALICE]
    assert key.details["deletion_date"] == "2026-12-31T00:00:00Z"
    assert [e.event_name for e in key.evidence] == ["ScheduleKeyDeletion", "Decrypt", "Decrypt", "Decrypt"]
    users = {f.principal: f for f in fs if f.kind == "pending-deletion-use"}
    assert set(users) == {sc.APP_ROLE, sc.ALICE}
    app = users[sc.APP_ROLE]
    assert (app.severity, app.evidence_count) == ("high", 2)
    assert app.details["last_successful_use"] == "2026-11-01T05:00:00Z"
    assert app.details["error_codes"] == ["KMSInvalidStateException"]


def test_disabled_key_use(scenario: Store) -> None:
    fs = found(scenario, "key-disabled", "disabled-key-use")
    assert {(f.kind, f.key, f.principal) for f in fs} == {
        ("key-disabled", sc.K_DISABLED, None),
        ("disabled-key-use", sc.K_DISABLED, sc.BOB),
    }


def test_denied_attempts_are_per_key_and_principal_with_error_codes(scenario: Store) -> None:
    fs = {f.principal: f for f in found(scenario, "denied-attempts")}
    assert set(fs) == {sc.BOB, sc.PARTNER_ROLE}
    assert fs[sc.BOB].key == sc.K_APP  # named by its alias only: resolved through the alias history
    assert fs[sc.BOB].details["error_codes"] == {"AccessDenied": 2}
    assert fs[sc.BOB].severity == "low"
    assert fs[sc.PARTNER_ROLE].severity == "medium"
    assert fs[sc.PARTNER_ROLE].details["cross_account"] is True
    # the state failures (pending deletion, disabled) are not here
    assert all(f.key not in (sc.K_RETIRING, sc.K_DISABLED) for f in fs.values())


def test_new_principals_after_the_baseline(scenario: Store) -> None:
    fs = found(scenario, "new-principal")
    assert pairs(fs) == {
        (sc.K_APP, sc.NEW_ROLE),
        (sc.K_APP, sc.DEPLOY_ROLE),
        (sc.K_APP, sc.LAMBDA_ROLE),
        (sc.K_APP, sc.SSO_ROLE),
        (sc.K_APP, "cloudtrail.amazonaws.com"),
        (sc.K_APP, "arn:aws:iam::111122223333:root"),
        (sc.K_SHARED, sc.PARTNER_ROLE),
        (sc.K_AWS, sc.APP_ROLE),  # AppRole used other keys before, not this one
    }
    new = next(f for f in fs if f.principal == sc.NEW_ROLE)
    assert new.details["first_seen"] == "2026-11-08T01:00:00Z"
    assert new.details["new_to_all_keys"] is True
    assert [e.event_time for e in new.evidence] == ["2026-11-08T01:00:00Z", "2026-11-08T02:00:00Z"]
    assert next(f for f in fs if f.principal == sc.PARTNER_ROLE).severity == "high"
    deploy = next(f for f in fs if f.principal == sc.DEPLOY_ROLE)
    assert deploy.details["people"] == ["saml:arn:aws:iam::111122223333:saml-provider/Okta/erin"]
    aws = next(f for f in fs if f.key == sc.K_AWS)
    assert aws.details["new_to_all_keys"] is False


def test_new_principals_with_an_explicit_baseline(scenario: Store) -> None:
    fs = found(scenario, "new-principal", baseline_since=datetime(2026, 11, 1, 2), baseline_until=datetime(2026, 11, 8))
    assert (sc.K_APP, sc.NEW_ROLE) in pairs(fs)


def test_new_principals_need_a_window_start(scenario: Store) -> None:
    report = findings_report(scenario, FindingOptions(kinds=("new-principal",)))
    assert report.findings == []
    assert report.notes == ["new-principal: give --since (or --baseline-since/--baseline-until) to compare with a baseline"]
    report = findings_report(scenario, FindingOptions(filters=Filters(since=datetime(2026, 1, 1)), kinds=("new-principal",)))
    assert report.findings == []
    assert "holds no KMS calls" in report.notes[0]


def test_cross_account_and_root_use(scenario: Store) -> None:
    cross = found(scenario, "cross-account-use")
    assert pairs(cross) == {(sc.K_SHARED, sc.PARTNER_ROLE)}
    assert cross[0].evidence_count == 1  # two copies of one call
    assert cross[0].details["caller_account"] == sc.OTHER
    [root] = found(scenario, "root-use")
    assert (root.key, root.principal, root.severity) == (sc.K_APP, "arn:aws:iam::111122223333:root", "high")
    assert root.details["source_ips"] == ["198.51.100.99"]


def test_unexpected_networks(scenario: Store) -> None:
    nets = parse_networks(["10.0.0.0/16"])
    fs = {f.principal: f for f in found(scenario, "unexpected-network", allowed_networks=nets)}
    assert set(fs) == {sc.NEW_ROLE, sc.SSO_ROLE, sc.LAMBDA_ROLE, "arn:aws:iam::111122223333:root", sc.PARTNER_ROLE}
    assert fs[sc.NEW_ROLE].details["sources"] == [
        {"source_ip": "198.51.100.7", "vpc_endpoint": None, "calls": 2, "first": "2026-11-08T01:00:00Z",
         "last": "2026-11-08T02:00:00Z"}
    ]
    # calls a service made on the principal's behalf are not judged by their source
    assert "cloudtrail.amazonaws.com" not in fs


def test_vpc_endpoints(scenario: Store) -> None:
    fs = found(scenario, "unexpected-network", allowed_vpce=(sc.ALLOWED_VPCE,))
    app = next(f for f in fs if f.principal == sc.APP_ROLE)
    # through another endpoint; the allowed one is fine
    assert app.details["sources"] == [
        {"source_ip": "10.0.9.9", "vpc_endpoint": "vpce-0ffffffffffff0002", "calls": 1,
         "first": "2026-11-08T03:00:00Z", "last": "2026-11-08T03:00:00Z"}
    ]
    assert sc.NEW_ROLE in {f.principal for f in fs}
    assert not found(scenario, "unexpected-network")  # nothing to judge without an allowed set


def test_who_can_vs_who_did(scenario: Store) -> None:
    fs = found(scenario, "permission-never-used", "grant-never-used", "permission-used", "use-via-iam-delegation",
               "use-not-explained")
    by = {(f.kind, f.key, f.principal): f for f in fs}
    never = by[("permission-never-used", sc.K_APP, sc.UNUSED_ROLE)]
    assert never.details["sid"] == "Allow use of the key"
    assert never.severity == "low"
    assert "kms:Decrypt" in never.details["actions_allowed"]
    grant = by[("grant-never-used", sc.K_APP, "arn:aws:iam::111122223333:role/OldBatchRole")]
    assert grant.details["grant_id"] == "grant-old-0002"
    used = by[("permission-used", sc.K_APP, sc.LAMBDA_ROLE)]
    assert used.details["grants"] == ["grant-lambda-0001"]
    assert by[("permission-used", sc.K_APP, sc.NEW_ROLE)].details["statements"] == ["Allow use of the key"]
    conditional = by[("permission-used", sc.K_AWS, sc.APP_ROLE)]
    assert "if the statement's conditions held" in conditional.summary
    delegated = by[("use-via-iam-delegation", sc.K_APP, sc.DEPLOY_ROLE)]
    assert delegated.details["statements"] == ["Enable IAM User Permissions"]
    assert "IAM identity policies, permission boundaries and session policies" in delegated.details["not_evaluated"]
    assert by[("use-via-iam-delegation", sc.K_SHARED, sc.PARTNER_ROLE)].details["statements"] == ["PartnerDecrypt"]
    bad = by[("use-not-explained", sc.K_APP, "cloudtrail.amazonaws.com")]
    assert bad.severity == "high"
    assert [e.event_name for e in bad.evidence] == ["GenerateDataKey"]
    # the principals the policy names that did use the key are not "never used"
    assert ("permission-never-used", sc.K_APP, sc.APP_ROLE) not in by
    assert ("permission-never-used", sc.K_APP, sc.NEW_ROLE) not in by


def test_who_can_needs_an_inventory(bare: Store) -> None:
    report = findings_report(bare, FindingOptions(filters=WINDOW, kinds=("permission-never-used",)))
    assert report.findings == []
    assert report.notes == ["who-can: no key policies in the store (take an inventory: keytrail inventory)"]


def test_never_used_is_not_claimed_where_the_trail_is_blind(scenario: Store) -> None:
    report = findings_report(scenario, FindingOptions(filters=WINDOW, kinds=("permission-never-used",)))
    assert all(f.key != sc.K_EU for f in report.findings)
    assert any("no evidence either way" in n for n in report.notes)


def test_key_scope_includes_inventory_only_keys(scenario: Store) -> None:
    fs = found(scenario, "unused-key", filters=Filters(keys=(key_id(sc.K_NEVER),), since=datetime(2026, 11, 8)))
    assert [f.key for f in fs] == [sc.K_NEVER]
    fs = found(scenario, "unused-key", filters=Filters(keys=("alias/app",), since=datetime(2027, 1, 1)))
    assert fs == []  # alias/app is used... and the window is blind: no claim
    fs = found(scenario, "denied-attempts", filters=Filters(account="999999999999"))
    assert fs == []


def test_order_severity_filter_and_as_dict(scenario: Store) -> None:
    fs = run_findings(scenario, FindingOptions(filters=WINDOW, allowed_networks=parse_networks(["10.0.0.0/8"])))
    severities = [f.severity for f in fs]
    assert severities == sorted(severities, key=["high", "medium", "low", "info"].index)
    kinds = {f.kind for f in fs}
    assert kinds <= set(KINDS)
    assert kinds >= {"unused-key", "no-evidence", "key-pending-deletion", "pending-deletion-use", "denied-attempts",
                     "new-principal", "cross-account-use", "root-use", "unexpected-network", "permission-never-used",
                     "use-not-explained"}
    high = run_findings(scenario, FindingOptions(filters=WINDOW, min_severity="high"))
    assert high and {f.severity for f in high} == {"high"}
    d = findings_as_dicts(fs)
    assert set(d[0]) == {"kind", "severity", "key", "principal", "summary", "recommendation", "evidence",
                         "evidence_count", "details"}
    assert isinstance(d[0]["evidence"], list)
    assert set(d[0]["evidence"][0]) == {"event_id", "event_time", "event_name"}
    orjson.dumps(d)  # plain JSON data


def test_evidence_limit(scenario: Store) -> None:
    fs = found(scenario, "pending-deletion-use", evidence_limit=1, filters=Filters(keys=(sc.K_RETIRING,)))
    f = next(f for f in fs if f.principal == sc.APP_ROLE)
    assert len(f.evidence) == 1
    assert f.evidence_count == 2


def test_bad_options(scenario: Store) -> None:
    with pytest.raises(UsageError, match="unknown finding kind"):
        run_findings(scenario, FindingOptions(kinds=("nope",)))
    with pytest.raises(UsageError, match="allowed_networks"):
        parse_networks(["10.0.0.0/33"])
    with pytest.raises(UsageError, match="severity"):
        run_findings(scenario, FindingOptions(min_severity="urgent"))


def test_other_invalid_state_errors_are_denied_attempts(tmp_path: Path) -> None:
    """An external key store error is a KMSInvalidStateException that says nothing about the key's state."""
    t = Trail()
    alice = user("alice")
    t.kms("Decrypt", alice, sc.K_APP, sc.T0, error="KMSInvalidStateException",
          message="The external key store proxy rejected the request because the specified ciphertext is corrupted.")
    t.kms("Decrypt", alice, sc.K_APP, sc.T0, error="KMSInvalidStateException",
          message=f"{sc.K_APP} is pending deletion.")
    t.write(tmp_path)
    from keytrail.pipeline import ingest
    from keytrail.sources.local import LocalSource

    with Store() as store:
        ingest([LocalSource((str(tmp_path),))], store, workers=1)
        fs = run_findings(store, FindingOptions(kinds=("denied-attempts", "pending-deletion-use")))
        assert [(f.kind, f.evidence_count) for f in fs] == [("pending-deletion-use", 1), ("denied-attempts", 1)]
