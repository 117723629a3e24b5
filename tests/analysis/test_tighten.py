"""suggest_policy on a key whose current policy has administrators, NotPrincipal and conditional
Deny statements, wildcards, an everyone-with-conditions statement and grants; the trail has
roles through S3 and EBS, the root user, a federated user, other accounts' named and hidden
callers, CloudTrail's service principal, a SAML user and AWS KMS's own rotation
(``tighten_scenario``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from keytrail.analysis.tighten import Suggestion, SuggestOptions, suggest_policy
from keytrail.analysis.tighten.services import MANAGEMENT_ACTIONS, matches_crypto
from keytrail.analysis.tighten.validate import problems
from keytrail.errors import UsageError
from keytrail.pipeline import import_inventory, ingest
from keytrail.sources.local import LocalSource
from keytrail.store import Store
from tests import factory as fx
from tests.analysis import tighten_check as check
from tests.analysis import tighten_scenario as sc
from tests.factory import scenario as tg


def _store(tmp: Path, inventory: bool = True, days: int = 40) -> Store:
    archive, inv = sc.build(tmp, inventory, days)
    store = Store()
    ingest([LocalSource((str(archive),))], store, workers=1)
    if inv is not None:
        import_inventory(store, str(inv), datetime(2026, 12, 20))
    return store


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    s = _store(tmp_path_factory.mktemp("tighten"))
    yield s
    s.close()


@pytest.fixture(scope="module")
def proposal(store: Store) -> Suggestion:
    return suggest_policy(store, "alias/orders")


def _statements(s: Suggestion, sid_prefix: str) -> list[dict[str, Any]]:
    return [st for st in s.policy["Statement"] if st["Sid"].startswith(sid_prefix)]


def _named(s: Suggestion, principal: str) -> list[dict[str, Any]]:
    return [st for st in s.policy["Statement"] if principal in check.principals(st)]


def test_the_account_keeps_administration_and_no_cryptographic_action(proposal: Suggestion) -> None:
    (account,) = _statements(proposal, "Enable IAM policies for key administration")
    assert account["Principal"] == {"AWS": f"arn:aws:iam::{sc.A}:root"} and "Condition" not in account
    assert check.allows(account, "kms:PutKeyPolicy") and check.allows(account, "kms:ScheduleKeyDeletion")
    assert not any(check.allows(account, a) for a in check.CRYPTO)
    assert proposal.problems == []
    assert check.keeps_put_key_policy(proposal.policy, sc.A)


def test_management_actions_match_no_cryptographic_action() -> None:
    assert [a for a in MANAGEMENT_ACTIONS if matches_crypto(a)] == []


def test_key_administrators_and_deny_statements_are_kept(proposal: Suggestion) -> None:
    (admins,) = _statements(proposal, "Allow access for Key Administrators")
    assert admins["Principal"] == {"AWS": sc.ADMIN} and admins["Action"] == sc.POLICY["Statement"][1]["Action"]
    assert proposal.administrators == [sc.ADMIN]
    denies = [st for st in proposal.policy["Statement"] if st["Effect"] == "Deny"]
    assert denies == sc.POLICY["Statement"][4:]  # NotPrincipal and the conditional Deny, as they were


def test_cryptographic_actions_only_to_who_used_them_with_their_actions(proposal: Suggestion) -> None:
    crypto = check.crypto_principals(proposal.policy)
    assert set(crypto) == {
        f"arn:aws:iam::{sc.A}:root", sc.APP, sc.BATCH, sc.EBS_USER, sc.PARTNER, "arn:aws:iam::999988887777:root",
        f"arn:aws:sts::{sc.A}:federated-user/carol", "cloudtrail.amazonaws.com",
    }
    (app,) = crypto[sc.APP]
    assert sorted(check.actions(app)) == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert app["Condition"] == {
        "StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"},
        "StringLike": {"kms:EncryptionContext:aws:s3:arn": ["arn:aws:s3:::invoices", "arn:aws:s3:::invoices/*",
                                                            "arn:aws:s3:::orders", "arn:aws:s3:::orders/*"]},
    }  # fmt: skip
    (root,) = crypto[f"arn:aws:iam::{sc.A}:root"]
    assert check.actions(root) == ["kms:Decrypt"]
    assert root["Condition"] == {"ArnEquals": {"aws:PrincipalArn": f"arn:aws:iam::{sc.A}:root"}}
    (trail,) = crypto["cloudtrail.amazonaws.com"]
    assert trail["Principal"] == {"Service": "cloudtrail.amazonaws.com"}
    assert trail["Condition"] == {"StringLike": {"kms:EncryptionContext:aws:cloudtrail:arn": f"arn:aws:cloudtrail:*:{sc.A}:trail/*"}}
    assert sc.IDLE not in crypto and "*" not in crypto
    assert proposal.losing_access == ["*", sc.IDLE]


def test_service_integrations_keep_what_they_need(proposal: Suggestion) -> None:
    grant = [st for st in _named(proposal, sc.EBS_USER) if check.allows(st, "kms:CreateGrant") and not check.allows(st, "kms:PutKeyPolicy")]
    assert [st["Condition"] for st in grant] == [{"Bool": {"kms:GrantIsForAWSResource": "true"}}]
    assert any(check.actions(st) == ["kms:DescribeKey"] for st in _named(proposal, sc.EBS_USER))
    assert any(check.actions(st) == ["kms:DescribeKey"] for st in _named(proposal, "cloudtrail.amazonaws.com"))
    (ebs,) = [st for st in check.crypto_principals(proposal.policy)[sc.EBS_USER]]
    assert ebs["Condition"] == {"StringEquals": {"kms:ViaService": "ec2.us-east-1.amazonaws.com"}}  # aws:ebs:id: no condition


def test_other_accounts_hidden_callers_are_named_by_their_account(proposal: Suggestion) -> None:
    hidden = _named(proposal, "arn:aws:iam::999988887777:root")
    assert sorted(a for st in hidden for a in check.actions(st)) == ["kms:Decrypt", "kms:DescribeKey"]
    note = next(n for n in proposal.statements if "999988887777" in n.why)
    assert "CloudTrail hides" in note.why


def test_replay_names_the_calls_no_policy_can_allow(proposal: Suggestion) -> None:
    r = proposal.replay
    assert r.denied == 6 and not proposal.safe
    assert [(i.principal, i.action, i.calls) for i in r.denied_calls] == [
        (f"saml:arn:aws:iam::{sc.A}:saml-provider/corp-idp/dave", "kms:Decrypt", 6)]
    assert r.calls == r.allowed + r.delegated + r.unverified + r.denied
    kinds = {w.kind for w in proposal.warnings}
    assert {"unnamed-principal", "kms-itself", "other-accounts", "iam-delegation", "not-explained"} <= kinds
    assert "short-window" not in kinds and "no-inventory" not in kinds


def test_the_independent_check_agrees(proposal: Suggestion, tmp_path: Path) -> None:
    archive, _ = sc.build(tmp_path, False)
    failures = check.records_allowed(proposal.policy, sc.KEY, archive)
    assert [f for f in failures if "saml" not in f and "dave" not in f] == []


def test_changes_against_the_current_policy(proposal: Suggestion) -> None:
    removed = {c.principal: c for c in proposal.removed}
    assert "kms:Encrypt" in removed[f"arn:aws:iam::{sc.A}:root"].actions
    assert "no longer left to the account" in removed[f"arn:aws:iam::{sc.A}:root"].why
    assert "kms:Decrypt" in removed[sc.IDLE].actions and "no such call" in removed[sc.IDLE].why
    added = {c.principal: c for c in proposal.added}
    assert added[sc.PARTNER].actions == ("kms:Decrypt",) and "used in the window" in added[sc.PARTNER].why
    kept = {c.principal: c for c in proposal.kept}
    assert kept[sc.APP].actions == ("kms:Decrypt", "kms:GenerateDataKey")


def test_unused_grants_with_the_commands_that_remove_them(proposal: Suggestion) -> None:
    (g,) = proposal.unused_grants
    assert g.grant_id == "grant-idle-0002"
    assert g.revoke == f"aws kms revoke-grant --key-id {sc.KEY} --grant-id grant-idle-0002"
    assert g.retire == f"aws kms retire-grant --key-id {sc.KEY} --grant-id grant-idle-0002"


def test_without_conditions(store: Store) -> None:
    s = suggest_policy(store, sc.KEY, SuggestOptions(conditions=False))
    conds = json.dumps([st.get("Condition") for st in s.policy["Statement"] if st["Effect"] == "Allow"])
    assert "kms:ViaService" not in conds and "EncryptionContext" not in conds
    assert "aws:PrincipalArn" in conds and "GrantIsForAWSResource" in conds  # naming and integration, not evidence


def test_a_short_window_and_no_inventory_are_said(tmp_path: Path) -> None:
    with _store(tmp_path, inventory=False, days=5) as store:
        s = suggest_policy(store, sc.KEY, SuggestOptions(min_days=30))
        kinds = {w.kind for w in s.warnings}
        assert {"short-window", "no-inventory", "manager-unknown"} <= kinds
        assert s.removed == [] and s.administrators == [] and s.current_replay is None
        assert not [st for st in s.policy["Statement"] if st["Effect"] == "Deny"]
        assert s.problems == []


def test_windows_and_coverage_gaps(store: Store) -> None:
    s = suggest_policy(store, sc.KEY, SuggestOptions(since=datetime(2026, 10, 20), until=datetime(2026, 11, 3)))
    assert s.window.days == 14 and s.window.days_without_logs[:2] == ("2026-10-20", "2026-10-21")
    assert {"short-window", "coverage-gaps"} <= {w.kind for w in s.warnings}
    empty = suggest_policy(store, sc.KEY, SuggestOptions(since=datetime(2025, 1, 1), until=datetime(2025, 2, 1)))
    assert {"no-evidence", "no-crypto-use"} <= {w.kind for w in empty.warnings}
    assert check.crypto_principals(empty.policy) == {} and empty.replay.calls == 0


def test_key_names(store: Store) -> None:
    assert suggest_policy(store, fx.key_id(sc.KEY)).key == sc.KEY
    with pytest.raises(UsageError, match="no such key"):
        suggest_policy(store, "alias/nothing")
    other_region = sc.KEY.replace("us-east-1", "eu-west-1")
    store.con.execute("INSERT INTO alias_history VALUES (?, 0, ?, NULL, 'CreateAlias', 'trail', NULL, NULL)",
                      [f"arn:aws:kms:eu-west-1:{sc.A}:alias/orders", other_region])
    try:
        with pytest.raises(UsageError, match="names 2 keys"):
            suggest_policy(store, "alias/orders")
        assert suggest_policy(store, "alias/orders", SuggestOptions(region="us-east-1")).key == sc.KEY
    finally:
        store.con.execute("DELETE FROM alias_history WHERE alias_arn LIKE 'arn:aws:kms:eu-west-1:%'")


def test_aws_managed_keys_are_refused(tmp_path: Path) -> None:
    t = tg.Trail()
    managed = tg.key_arn(703)
    t.kms("Decrypt", fx.user("bob"), managed, tg.T0)
    archive = t.write(tmp_path / "a")
    inv = tg.write_inventory(tmp_path / "inv", [tg.InvKey(managed, manager="AWS", aliases=("alias/aws/s3",))])
    with Store() as store:
        ingest([LocalSource((str(archive),))], store, workers=1)
        import_inventory(store, str(inv), datetime(2026, 12, 20))
        with pytest.raises(UsageError, match="AWS managed"):
            suggest_policy(store, managed)


def test_log_text_never_becomes_policy_text(tmp_path: Path) -> None:
    """A role name or an encryption context value a caller chose: only well-formed principals and
    literal values reach the policy; a policy variable is never written."""
    t = tg.Trail()
    key = tg.key_arn(704)
    odd = tg.role_session("App", "s")
    odd["sessionContext"]["sessionIssuer"]["arn"] = f"arn:aws:iam::{tg.ACCOUNT}:role/App\u202e*"
    t.kms("Decrypt", odd, key, tg.T0)
    app = tg.role_session("Good", "s", invoked_by="secretsmanager.amazonaws.com")
    t.kms("Decrypt", app, key, tg.T0, context={"SecretARN": "${aws:PrincipalArn}"})
    archive = t.write(tmp_path / "a")
    with Store() as store:
        ingest([LocalSource((str(archive),))], store, workers=1)
        s = suggest_policy(store, key)
    text = json.dumps(s.policy)
    assert "\u202e" not in text and "${" not in text and "App\\u202e" not in text
    assert [w.kind for w in s.warnings if w.kind == "unnamed-principal"] == ["unnamed-principal"]
    good = check.crypto_principals(s.policy)[tg.role_arn("Good")][0]
    assert good["Condition"] == {"StringEquals": {"kms:ViaService": "secretsmanager.us-east-1.amazonaws.com"}}


def test_validate_refuses_what_kms_refuses() -> None:
    key = sc.KEY
    root = {"Sid": "a", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{sc.A}:root"}, "Action": "kms:*", "Resource": "*"}

    def doc(*statements: dict[str, Any]) -> str:
        return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})

    assert problems(key, doc(root)) == []
    assert any("no unconditional Allow keeps kms:PutKeyPolicy" in p for p in problems(key, doc({**root, "Action": "kms:Decrypt"})))
    deny = {"Sid": "d", "Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "kms:PutKeyPolicy", "Resource": "*"}
    assert any("PutKeyPolicy" in p for p in problems(key, doc(root, deny)))
    assert any("32768" in p for p in problems(key, doc({**root, "Sid": "x" * 40000})))
    assert any("U+0007" in p for p in problems(key, doc({**root, "Sid": "\u0007"})))
    ec = {"Sid": "e", "Effect": "Allow", "Principal": {"AWS": sc.APP}, "Action": "kms:Decrypt", "Resource": "*",
          "Condition": {"ForAllValues:StringEquals": {"kms:EncryptionContext:app": "x"}}}
    assert any("ForAllValues" in p for p in problems(key, doc(root, ec)))
    assert any("share a Sid" in p for p in problems(key, doc(root, {**ec, "Sid": "a", "Condition": {}})))
    assert any("every principal" in p for p in problems(key, doc(root, {**ec, "Principal": "*", "Condition": {}})))
    assert any("no Principal" in p for p in problems(key, doc(root, {k: v for k, v in ec.items() if k != "Principal"})))


@pytest.mark.shared
def test_every_key_of_the_published_corpus(tmp_path: Path) -> None:
    """AWS's own example records (every identity type, placeholders, redaction markers): each key
    with successful use gets a document KMS would accept, and the replay denies only the calls of
    principals that no key policy can name."""
    from tests.conftest import CORPUS, need_shared

    root = need_shared(CORPUS)
    with Store() as store:
        ingest([LocalSource((str(root),))], store, workers=1)
        keys = [r[0] for r in store.query(
            "SELECT DISTINCT key FROM key_use WHERE key_resolved AND category <> 'denied' ORDER BY key")]
        assert len(keys) >= 10
        for key in keys:
            s = suggest_policy(store, key)
            assert s.problems == [], (key, s.problems)
            unnamed = {w.message.split(" made ")[0] for w in s.warnings if w.kind == "unnamed-principal"}
            assert {i.principal for i in s.replay.denied_calls} <= unnamed, key
            assert check.keeps_put_key_policy(s.policy, key.split(":")[4])


def test_a_proposal_applied_is_proposed_again(proposal: Suggestion, tmp_path: Path) -> None:
    """Once applied (the inventory then holds it), the same use proposes the same policy: nothing
    to remove, nothing to add."""
    archive, _ = sc.build(tmp_path, False)
    inv = tg.write_inventory(tmp_path / "inv", [tg.InvKey(sc.KEY, policy=proposal.policy, grants=sc.GRANTS[:1])])
    with Store() as store:
        ingest([LocalSource((str(archive),))], store, workers=1)
        import_inventory(store, str(inv), datetime(2026, 12, 20))
        again = suggest_policy(store, sc.KEY)
    assert again.policy == proposal.policy
    assert again.removed == [] and again.added == [] and again.losing_access == []
    assert again.current_replay is not None and again.current_replay.denied == 6  # the SAML user, as before


def test_allow_statements_with_not_principal_and_not_action_are_replaced(tmp_path: Path) -> None:
    t = tg.Trail()
    key = tg.key_arn(705)
    t.kms("Decrypt", tg.role_session("AppRole", "s"), key, tg.T0)
    policy = {"Version": "2012-10-17", "Statement": [
        {"Sid": "root", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{tg.ACCOUNT}:root"}, "Action": "kms:*", "Resource": "*"},
        {"Sid": "everyone else", "Effect": "Allow", "NotPrincipal": {"AWS": tg.user_arn("mallory")},
         "NotAction": ["kms:PutKeyPolicy", "kms:ScheduleKeyDeletion"], "Resource": "*",
         "Condition": {"StringEquals": {"kms:CallerAccount": tg.ACCOUNT}}},
    ]}  # fmt: skip
    archive = t.write(tmp_path / "a")
    inv = tg.write_inventory(tmp_path / "inv", [tg.InvKey(key, policy=policy)])
    with Store() as store:
        ingest([LocalSource((str(archive),))], store, workers=1)
        import_inventory(store, str(inv), datetime(2026, 12, 20))
        s = suggest_policy(store, key)
    removed = {c.principal: c for c in s.removed}
    assert "kms:Encrypt" in removed["* (every principal not in NotPrincipal)"].actions
    assert set(check.crypto_principals(s.policy)) == {tg.role_arn("AppRole")}
    assert s.safe and s.losing_access == ["* (every principal not in NotPrincipal)", f"arn:aws:iam::{tg.ACCOUNT}:root"]
