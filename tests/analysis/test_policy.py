"""Key policy and grant evaluation, offline."""

from __future__ import annotations

import json

import pytest

from keytrail.analysis.policy import (
    ALLOW,
    ALLOW_CONDITIONAL,
    CRYPTO_ACTIONS,
    DENY,
    DENY_CONDITIONAL,
    IAM_DELEGATED,
    NOT_ALLOWED,
    Caller,
    Grant,
    PolicyError,
    action_matches,
    evaluate,
    observed_action,
    parse_policy,
    who_can,
)

A = "111122223333"
B = "444455556666"
KEY = f"arn:aws:kms:us-east-1:{A}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
APP = f"arn:aws:iam::{A}:role/service-role/AppRole"
ALICE = f"arn:aws:iam::{A}:user/alice"


def policy(*statements: dict[str, object]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


ROOT_STATEMENT = {"Sid": "Enable IAM User Permissions", "Effect": "Allow",
                  "Principal": {"AWS": f"arn:aws:iam::{A}:root"}, "Action": "kms:*", "Resource": "*"}
USE_STATEMENT = {"Sid": "Allow use of the key", "Effect": "Allow", "Principal": {"AWS": [APP]},
                 "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"],
                 "Resource": "*"}


def role(arn: str, account: str = A) -> Caller:
    return Caller(arn, "AssumedRole", account)


@pytest.mark.parametrize(
    ("pattern", "action", "hit"),
    [
        ("kms:GenerateDataKey*", "kms:GenerateDataKeyPairWithoutPlaintext", True),
        ("kms:GenerateDataKey*", "kms:Decrypt", False),
        ("kms:ReEncrypt*", "kms:ReEncryptFrom", True),
        ("kms:*", "kms:Sign", True),
        ("*", "kms:Sign", True),
        ("KMS:decrypt", "kms:Decrypt", True),
        ("kms:Decrypt?", "kms:Decrypt", False),
        ("kms:Encryp?", "kms:Encrypt", True),
    ],
)
def test_action_wildcards(pattern: str, action: str, hit: bool) -> None:
    assert action_matches(pattern, action) is hit


def test_account_root_delegates_to_iam_and_names_the_root_user() -> None:
    p = parse_policy(KEY, policy(ROOT_STATEMENT))
    assert evaluate(p, [], role(APP), "kms:Decrypt").decision == IAM_DELEGATED
    assert evaluate(p, [], role(APP), "kms:Decrypt").statements == ("Enable IAM User Permissions",)
    assert evaluate(p, [], Caller(f"arn:aws:iam::{A}:root", "Root", A), "kms:Decrypt").decision == ALLOW
    assert evaluate(p, [], role(f"arn:aws:iam::{B}:role/X", B), "kms:Decrypt").decision == NOT_ALLOWED


def test_bare_account_id_is_the_account_root() -> None:
    p = parse_policy(KEY, policy({"Effect": "Allow", "Principal": {"AWS": B}, "Action": "kms:Decrypt", "Resource": "*"}))
    e = evaluate(p, [], Caller(f"AWSAccount:{B}:AROAEXAMPLE", "AWSAccount", B), "kms:Decrypt")
    assert e.decision == IAM_DELEGATED
    assert e.statements == ("statement #1",)


def test_named_principal_is_allowed_by_its_statement_even_with_another_path() -> None:
    p = parse_policy(KEY, policy(ROOT_STATEMENT, USE_STATEMENT))
    e = evaluate(p, [], role(APP), "kms:GenerateDataKeyWithoutPlaintext")
    assert (e.decision, e.statements) == (ALLOW, ("Allow use of the key",))
    assert evaluate(p, [], role(f"arn:aws:iam::{A}:role/AppRole"), "kms:Decrypt").decision == ALLOW
    # an action the statement does not allow falls back to the IAM delegation
    assert evaluate(p, [], role(APP), "kms:Sign").decision == IAM_DELEGATED


def test_explicit_deny_wins_and_conditional_deny_is_flagged() -> None:
    deny = {"Sid": "NoDecrypt", "Effect": "Deny", "Principal": {"AWS": APP}, "Action": "kms:Decrypt", "Resource": "*"}
    p = parse_policy(KEY, policy(USE_STATEMENT, deny))
    e = evaluate(p, [], role(APP), "kms:Decrypt")
    assert (e.decision, e.statements) == (DENY, ("NoDecrypt",))
    cond = dict(deny, Condition={"Bool": {"aws:MultiFactorAuthPresent": "false"}})
    e = evaluate(parse_policy(KEY, policy(USE_STATEMENT, cond)), [], role(APP), "kms:Decrypt")
    assert e.decision == DENY_CONDITIONAL
    assert any("NoDecrypt" in c for c in e.caveats)


def test_star_with_conditions_is_conditional_and_names_the_condition_keys() -> None:
    stmt = {"Sid": "ViaS3", "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": ["kms:Decrypt"], "Resource": "*",
            "Condition": {"StringEquals": {"kms:CallerAccount": A, "kms:ViaService": "s3.us-east-1.amazonaws.com"}}}
    e = evaluate(parse_policy(KEY, policy(stmt)), [], role(APP), "kms:Decrypt")
    assert e.decision == ALLOW_CONDITIONAL
    assert e.statements == ("ViaS3",)
    assert "ViaS3: conditions on kms:CallerAccount, kms:ViaService not evaluated" in e.caveats


def test_service_principal() -> None:
    stmt = {"Sid": "CloudTrail", "Effect": "Allow", "Principal": {"Service": "cloudtrail.amazonaws.com"},
            "Action": "kms:GenerateDataKey*", "Resource": "*"}
    p = parse_policy(KEY, policy(stmt))
    assert evaluate(p, [], Caller("cloudtrail.amazonaws.com", "AWSService"), "kms:GenerateDataKey").decision == ALLOW
    assert evaluate(p, [], Caller("logs.amazonaws.com", "AWSService"), "kms:GenerateDataKey").decision == NOT_ALLOWED


def test_not_principal_and_not_action() -> None:
    stmt = {"Sid": "OnlyApp", "Effect": "Deny", "NotPrincipal": {"AWS": APP}, "Action": "kms:Decrypt", "Resource": "*"}
    p = parse_policy(KEY, policy(ROOT_STATEMENT, stmt))
    assert evaluate(p, [], role(APP), "kms:Decrypt").decision == IAM_DELEGATED
    e = evaluate(p, [], Caller(ALICE, "IAMUser", A), "kms:Decrypt")
    assert e.decision == DENY
    assert any("NotPrincipal" in c for c in e.caveats)
    na = {"Sid": "AllButDelete", "Effect": "Allow", "Principal": {"AWS": APP}, "NotAction": "kms:ScheduleKeyDeletion",
          "Resource": "*"}
    p = parse_policy(KEY, policy(na))
    assert evaluate(p, [], role(APP), "kms:Sign").decision == ALLOW
    assert evaluate(p, [], role(APP), "kms:ScheduleKeyDeletion").decision == NOT_ALLOWED


def test_role_session_principal_and_unique_id() -> None:
    stmt = {"Sid": "Session", "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:sts::{A}:assumed-role/AppRole/release-42"}, "Action": "kms:Decrypt",
            "Resource": "*"}
    e = evaluate(parse_policy(KEY, policy(stmt)), [], role(APP), "kms:Decrypt")
    assert e.decision == ALLOW
    assert "allowed for a named role session only" in e.caveats
    gone = {"Sid": "Deleted", "Effect": "Allow", "Principal": {"AWS": "AROAEXAMPLEAPPROLE01"}, "Action": "kms:Decrypt",
            "Resource": "*"}
    p = parse_policy(KEY, policy(gone))
    assert evaluate(p, [], role(APP), "kms:Decrypt").decision == NOT_ALLOWED
    assert evaluate(p, [], role(APP), "kms:Decrypt", {"AROAEXAMPLEAPPROLE01": APP}).decision == ALLOW


def test_federated_provider() -> None:
    stmt = {"Effect": "Allow", "Principal": {"Federated": f"arn:aws:iam::{A}:saml-provider/Okta"},
            "Action": "kms:Decrypt", "Resource": "*"}
    p = parse_policy(KEY, policy(stmt))
    caller = Caller(f"saml:arn:aws:iam::{A}:saml-provider/Okta/erin", "SAMLUser")
    assert evaluate(p, [], caller, "kms:Decrypt").decision == ALLOW


def test_grants() -> None:
    p = parse_policy(KEY, policy(ROOT_STATEMENT))
    g = Grant("g-1", "orders", f"arn:aws:iam::{A}:role/LambdaRole", ("Decrypt", "GenerateDataKey"), None)
    lam = role(f"arn:aws:iam::{A}:role/LambdaRole")
    e = evaluate(p, [g], lam, "kms:Decrypt")
    assert (e.decision, e.grants) == (ALLOW, ("g-1",))
    assert evaluate(p, [g], lam, "kms:Encrypt").decision == IAM_DELEGATED
    constrained = Grant("g-2", None, f"arn:aws:iam::{B}:role/X", ("Decrypt",), '{"EncryptionContextSubset": {"a": "b"}}')
    e = evaluate(p, [constrained], role(f"arn:aws:iam::{B}:role/X", B), "kms:Decrypt")
    assert (e.decision, e.grants) == (ALLOW_CONDITIONAL, ("g-2",))
    assert "grant g-2: constraints not evaluated" in e.caveats


def test_resource_other_than_this_key_is_conditional() -> None:
    stmt = dict(USE_STATEMENT, Resource=f"arn:aws:kms:us-east-1:{A}:key/other")
    e = evaluate(parse_policy(KEY, policy(stmt)), [], role(APP), "kms:Decrypt")
    assert e.decision == ALLOW_CONDITIONAL
    assert any("Resource" in c for c in e.caveats)


def test_who_can_lists_principals_actions_and_decisions() -> None:
    stmt = {"Sid": "ViaS3", "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": ["kms:Decrypt"], "Resource": "*",
            "Condition": {"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}}}
    p = parse_policy(KEY, policy(ROOT_STATEMENT, USE_STATEMENT, stmt))
    g = Grant("g-1", None, f"arn:aws:iam::{A}:role/LambdaRole", ("Decrypt",), None)
    rows = {(x.principal, x.name): x for x in who_can(p, [g])}
    root = rows[(f"arn:aws:iam::{A}:root", "Enable IAM User Permissions")]
    assert root.decision == IAM_DELEGATED
    assert root.actions == CRYPTO_ACTIONS
    app = rows[(APP, "Allow use of the key")]
    assert app.decision == ALLOW
    assert app.actions == ("kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:GenerateDataKeyPair",
                           "kms:GenerateDataKeyPairWithoutPlaintext", "kms:GenerateDataKeyWithoutPlaintext",
                           "kms:ReEncryptFrom", "kms:ReEncryptTo")
    assert rows[("*", "ViaS3")].decision == ALLOW_CONDITIONAL
    assert rows[(f"arn:aws:iam::{A}:role/LambdaRole", "g-1")].source == "grant"


@pytest.mark.parametrize("text", ["not json", "[]", '{"Version": "2012-10-17"}'])
def test_unreadable_policies_raise(text: str) -> None:
    with pytest.raises(PolicyError):
        parse_policy(KEY, text)


def test_odd_statements_are_skipped_with_a_caveat() -> None:
    p = parse_policy(KEY, json.dumps({"Statement": [{"Effect": "Maybe"}, "x", USE_STATEMENT]}))
    assert [s.name for s in p.statements] == ["Allow use of the key"]
    assert len(p.caveats) == 2


def test_observed_action() -> None:
    assert observed_action("ReEncrypt", "decrypt") == "kms:ReEncryptFrom"
    assert observed_action("ReEncrypt", "encrypt") == "kms:ReEncryptTo"
    assert observed_action("GenerateDataKey", "encrypt") == "kms:GenerateDataKey"


def test_no_policy_is_not_allowed_with_a_caveat() -> None:
    e = evaluate(None, [], role(APP), "kms:Decrypt")
    assert e.decision == NOT_ALLOWED
    assert e.caveats == ("no key policy in the inventory",)


def test_hidden_callers_may_be_a_named_principal_of_their_account() -> None:
    stmt = {"Sid": "Partner", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{B}:role/Sync"},
            "Action": "kms:Decrypt", "Resource": "*"}
    p = parse_policy(KEY, policy(ROOT_STATEMENT, stmt))
    e = evaluate(p, [], Caller(f"AWSAccount:{B}:AROAHIDDEN", "AWSAccount", B), "kms:Decrypt")
    assert (e.decision, e.statements) == (ALLOW_CONDITIONAL, ("Partner",))
    assert any("hidden" in c for c in e.caveats)
    e = evaluate(p, [], Caller("AWSAccount:999988887777:AROAHIDDEN", "AWSAccount", "999988887777"), "kms:Decrypt")
    assert e.decision == NOT_ALLOWED
