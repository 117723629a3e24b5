"""The attribution rules, one by one: principals (every userIdentity type of the README's
"How calls are counted"), key references, encryption-context resources, operation classes, event times."""

from __future__ import annotations

from typing import Any

import pytest

from keytrail.normalize.operations import operation_class
from keytrail.normalize.rules import (
    context_resource,
    identity_of,
    key_reference,
    parse_event_time,
    partition_of,
)
from tests.factory import ACCOUNT, OTHER, hidden, role, service, user

STORE_ARN = "arn:aws:identitystore::111122223333:identitystore/d-1234567890"


# ---- identity_of: one case per row of the table --------------------------------------------

IDENTITIES: list[tuple[str, dict[str, Any], str | None, dict[str, Any]]] = [
    (
        "IAMUser: the user ARN; access key kept",
        user("alice"),
        f"arn:aws:iam::{ACCOUNT}:user/alice",
        {"access_key_id": "AKIAALICEXXXXXXX", "type": "IAMUser"},
    ),
    (
        "IAMUser without arn: built from userName and accountId",
        {"type": "IAMUser", "principalId": "AIDAX", "accountId": ACCOUNT, "userName": "bob"},
        f"arn:aws:iam::{ACCOUNT}:user/bob",
        {},
    ),
    (
        "IAMUser whose arn is a role session (a documentation example): the role, not the session",
        {"type": "IAMUser", "principalId": "AROAIGDTESTANDEXAMPLE:user01",
         "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/Admin/user01", "accountId": ACCOUNT},
        f"arn:aws:iam::{ACCOUNT}:role/Admin",
        {"session": "user01", "hint": None},
    ),
    (
        "AssumedRole: the role ARN with its path, from sessionIssuer; session from principalId",
        role("AppServerRole", path="/service-role/", session="i-0abc", uid="AROAEXAMPLEAPP000001"),
        f"arn:aws:iam::{ACCOUNT}:role/service-role/AppServerRole",
        {"session": "i-0abc", "hint": ("AROAEXAMPLEAPP000001", f"arn:aws:iam::{ACCOUNT}:role/service-role/AppServerRole")},
    ),
    (
        "AssumedRole without sessionIssuer: the role from the STS ARN (path unknown)",
        {"type": "AssumedRole", "principalId": "AROAX:sess", "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/Dev/sess",
         "accountId": ACCOUNT},
        f"arn:aws:iam::{ACCOUNT}:role/Dev",
        {"session": "sess"},
    ),
    (
        "AssumedRole with onBehalfOf (Identity Center propagation): still the role; the person kept",
        role("AWSReservedSSO_Admin_0123", path="/aws-reserved/sso.amazonaws.com/", session="jane@example.com",
             onBehalfOf={"userId": "94482488-3041-7026-18f3-be45837cd0e4", "identityStoreArn": STORE_ARN}),
        f"arn:aws:iam::{ACCOUNT}:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Admin_0123",
        {"session": "jane@example.com", "on_behalf_of": "94482488-3041-7026-18f3-be45837cd0e4"},
    ),
    (
        "FederatedUser: its ARN",
        {"type": "FederatedUser", "principalId": f"{ACCOUNT}:carol", "arn": f"arn:aws:sts::{ACCOUNT}:federated-user/carol",
         "accountId": ACCOUNT},
        f"arn:aws:sts::{ACCOUNT}:federated-user/carol",
        {},
    ),
    (
        "FederatedUser without arn: from ACCOUNT:name",
        {"type": "FederatedUser", "principalId": f"{ACCOUNT}:carol", "accountId": ACCOUNT},
        f"arn:aws:sts::{ACCOUNT}:federated-user/carol",
        {},
    ),
    (
        "Root: arn:aws:iam::A:root",
        {"type": "Root", "principalId": ACCOUNT, "arn": f"arn:aws:iam::{ACCOUNT}:root", "accountId": ACCOUNT},
        f"arn:aws:iam::{ACCOUNT}:root",
        {},
    ),
    (
        "Root without arn: from accountId",
        {"type": "Root", "principalId": ACCOUNT, "accountId": ACCOUNT},
        f"arn:aws:iam::{ACCOUNT}:root",
        {},
    ),
    (
        "AWSService without arn: the service in invokedBy",
        service("cloudtrail.amazonaws.com"),
        "cloudtrail.amazonaws.com",
        {"via": "cloudtrail.amazonaws.com"},
    ),
    (
        "AWSAccount, root of another account: resolves directly",
        hidden(OTHER, OTHER),
        f"arn:aws:iam::{OTHER}:root",
        {},
    ),
    (
        "AWSAccount, federated user ACCOUNT:name: resolves directly",
        hidden(f"{OTHER}:dave", OTHER),
        f"arn:aws:sts::{OTHER}:federated-user/dave",
        {},
    ),
    (
        "AWSAccount, role session UNIQUEID:session: hidden until the identity map names it",
        hidden("AROAEXAMPLEPARTNER01:nightly", OTHER),
        None,
        {"uid": "AROAEXAMPLEPARTNER01", "session": "nightly", "account": OTHER, "problem": None},
    ),
    (
        "AWSAccount, IAM user unique id: hidden",
        hidden("AIDAQRSTUVWXYZEXAMPLE", "777788889999"),
        None,
        {"uid": "AIDAQRSTUVWXYZEXAMPLE", "session": None, "account": "777788889999"},
    ),
    (
        "no type, only invokedBy (RotateKey, DeleteKey ...): the service",
        {"accountId": ACCOUNT, "invokedBy": "AWS Internal"},
        "AWS Internal",
        {"type": "AWSService"},
    ),
    (
        "IdentityCenterUser: identitycenter:STORE/user/ID",
        {"type": "IdentityCenterUser", "accountId": ACCOUNT,
         "onBehalfOf": {"userId": "94482488-3041-7026-18f3-be45837cd0e4", "identityStoreArn": STORE_ARN}},
        f"identitycenter:{STORE_ARN}/user/94482488-3041-7026-18f3-be45837cd0e4",
        {},
    ),
    (
        "SAMLUser: saml:PROVIDER/NAME",
        {"type": "SAMLUser", "principalId": "SampleUkh1i4+ExamplexL/jEvs=:SamlExample", "userName": "SamlExample",
         "identityProvider": "bdGOnTesti4+ExamplexL/jEvs="},
        "saml:bdGOnTesti4+ExamplexL/jEvs=/SamlExample",
        {},
    ),
    (
        "WebIdentityUser: webidentity:PROVIDER/NAME",
        {"type": "WebIdentityUser", "principalId": "accounts.google.com:app:user-id", "userName": "user-id",
         "identityProvider": "accounts.google.com"},
        "webidentity:accounts.google.com/user-id",
        {},
    ),
    (
        "an unknown type with an arn: the arn",
        {"type": "Unknown", "arn": f"arn:aws:iam::{ACCOUNT}:user/x"},
        f"arn:aws:iam::{ACCOUNT}:user/x",
        {},
    ),
]


@pytest.mark.parametrize(("ui", "principal", "fields"), [c[1:] for c in IDENTITIES], ids=[c[0] for c in IDENTITIES])
def test_identity_of(ui: dict[str, Any], principal: str | None, fields: dict[str, Any]) -> None:
    ident = identity_of(ui)
    assert ident.principal == principal
    assert ident.problem is None
    for name, value in fields.items():
        assert getattr(ident, name) == value, name


PROBLEMS = [
    ({"type": "AWSService"}, "AWSService identity without invokedBy"),
    ({"type": "AWSAccount", "principalId": "AROAX:s"}, "AWSAccount identity without accountId"),
    ({"type": "AWSAccount", "accountId": OTHER}, "AWSAccount identity without principalId"),
    ({"type": "IdentityCenterUser", "userId": "u", "identityStoreArn": STORE_ARN},
     "IdentityCenterUser without onBehalfOf identityStoreArn/userId"),
    ({"type": "SAMLUser", "userName": "x"}, "SAMLUser without identityProvider/userName"),
    ({"type": "WebIdentityUser", "identityProvider": "p"}, "WebIdentityUser without identityProvider/userName"),
    ({"accountId": ACCOUNT}, "userIdentity has neither type nor invokedBy"),
    ({"type": "Mystery"}, "unsupported userIdentity type 'Mystery' without arn"),
]


@pytest.mark.parametrize(("ui", "problem"), PROBLEMS, ids=[p[1] for p in PROBLEMS])
def test_identity_problems_are_named(ui: dict[str, Any], problem: str) -> None:
    ident = identity_of(ui)
    assert ident.principal is None
    assert ident.problem == problem


@pytest.mark.parametrize("bad", [None, 7, "x", [], {"a": 1}, ["AWSService"], True])
def test_identity_fields_of_the_wrong_type_are_ignored(bad: object) -> None:
    ui = {"type": "AssumedRole", "principalId": bad, "arn": bad, "accountId": bad, "sessionContext": bad,
          "onBehalfOf": bad, "invokedBy": bad}
    ident = identity_of(ui)
    assert ident.principal is None
    assert identity_of({"type": bad, "invokedBy": "s3.amazonaws.com"}).principal in (None, "s3.amazonaws.com")


def test_placeholder_account_is_kept_verbatim() -> None:
    """Documentation placeholders (&ExampleAWSAccountNo1;) are not invented away."""
    ui = {"type": "IAMUser", "arn": "arn:aws:iam::&ExampleAWSAccountNo1;:user/Alice", "accountId": "&ExampleAWSAccountNo1;"}
    assert identity_of(ui).principal == "arn:aws:iam::&ExampleAWSAccountNo1;:user/Alice"


# ---- key_reference ----------------------------------------------------------------------------

KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"


@pytest.mark.parametrize(
    ("ref", "region", "account", "expected"),
    [
        (f"arn:aws:kms:us-west-2:{OTHER}:key/{KEY_ID}", "us-east-1", ACCOUNT, ("key", f"arn:aws:kms:us-west-2:{OTHER}:key/{KEY_ID}")),
        (KEY_ID, "us-east-1", ACCOUNT, ("key", f"arn:aws:kms:us-east-1:{ACCOUNT}:key/{KEY_ID}")),
        ("mrk-1234abcd12ab34cd56ef1234567890ab", "eu-west-1", ACCOUNT,
         ("key", f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/mrk-1234abcd12ab34cd56ef1234567890ab")),
        ("alias/app-data", "us-east-1", ACCOUNT, ("alias", f"arn:aws:kms:us-east-1:{ACCOUNT}:alias/app-data")),
        ("alias/aws/s3", "us-east-1", ACCOUNT, ("alias", f"arn:aws:kms:us-east-1:{ACCOUNT}:alias/aws/s3")),
        (f"arn:aws:kms:us-east-1:{OTHER}:alias/x", "us-east-1", ACCOUNT, ("alias", f"arn:aws:kms:us-east-1:{OTHER}:alias/x")),
        (KEY_ID, "cn-north-1", ACCOUNT, ("key", f"arn:aws-cn:kms:cn-north-1:{ACCOUNT}:key/{KEY_ID}")),
        (KEY_ID, "us-gov-west-1", ACCOUNT, ("key", f"arn:aws-us-gov:kms:us-gov-west-1:{ACCOUNT}:key/{KEY_ID}")),
        # an alias ARN with a space (services-cloudtrail.md) names nothing keytrail can resolve
        (f"arn:aws:kms:us-west-2:{ACCOUNT}:alias/ExampleAliasForCloudTrailKMS key", "us-west-2", ACCOUNT, None),
        (KEY_ID, None, ACCOUNT, None),  # a bare id needs the record's Region ...
        (KEY_ID, "us-east-1", None, None),  # ... and its recipient account
        (KEY_ID, "us-east-1", "&ExampleAWSAccountNo1;", None),
        ("", "us-east-1", ACCOUNT, None),
        (None, "us-east-1", ACCOUNT, None),
        (42, "us-east-1", ACCOUNT, None),
        ({"keyId": KEY_ID}, "us-east-1", ACCOUNT, None),
        ("key/abc", "us-east-1", ACCOUNT, None),
        ("arn:aws:s3:::bucket", "us-east-1", ACCOUNT, None),
        # redaction markers are not key ids
        ("HIDDEN_DUE_TO_SECURITY_REASONS", "us-east-1", ACCOUNT, None),
        ("<sensitiveDataRemoved>", "us-east-1", ACCOUNT, None),
        ("alias/app data", "us-east-1", ACCOUNT, None),
    ],
)
def test_key_reference(ref: object, region: str | None, account: str | None, expected: tuple[str, str] | None) -> None:
    assert key_reference(ref, region, account) == expected


def test_partitions() -> None:
    assert [partition_of(r) for r in ("us-east-1", "cn-northwest-1", "us-gov-east-1", "us-iso-east-1", "us-isob-east-1")] == [
        "aws", "aws-cn", "aws-us-gov", "aws-iso", "aws-iso-b"]


# ---- context_resource -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ctx", "expected"),
    [
        ({"aws:s3:arn": "arn:aws:s3:::bucket/key.csv"}, ("s3-object", "arn:aws:s3:::bucket/key.csv")),
        ({"aws:s3:arn": "arn:aws:s3:::bucket"}, ("s3-bucket", "arn:aws:s3:::bucket")),  # S3 Bucket Keys
        ({"aws:ebs:id": "vol-f67bafb2"}, ("ebs-volume", "vol-f67bafb2")),
        ({"aws:lambda:FunctionArn": "arn:aws:lambda:us-west-2:1:function:f"}, ("lambda-function", "arn:aws:lambda:us-west-2:1:function:f")),
        ({"SecretARN": "arn:s", "SecretVersionId": "v1"}, ("secret", "arn:s")),
        ({"PARAMETER_ARN": "arn:p"}, ("ssm-parameter", "arn:p")),
        ({"aws:rds:db-id": "db-1"}, ("rds-db", "db-1")),
        ({"aws:dynamodb:subscriberId": ACCOUNT, "aws:dynamodb:tableName": "Books"}, ("dynamodb-table", "Books")),
        ({"aws:logs:arn": "arn:l"}, ("log-group", "arn:l")),
        # CloudTrail's log encryption names both: the S3 location is the protected resource
        ({"aws:cloudtrail:arn": "arn:t", "aws:s3:arn": "arn:aws:s3:::ct/AWSLogs/1/"}, ("s3-object", "arn:aws:s3:::ct/AWSLogs/1/")),
        ({"aws:cloudtrail:arn": "arn:t"}, ("trail", "arn:t")),
        ({"aws:sqs:arn": "arn:q"}, ("sqs-queue", "arn:q")),
        ({"aws:sns:topicArn": "arn:t"}, ("sns-topic", "arn:t")),
        ({"tenant": "t-1", "app": "billing"}, ("app", "billing")),  # custom keys: the first by name
        ({"n": 3, "ok": True, "z": "str"}, ("z", "str")),  # stringified or not, only strings are ids
        ({"Project": "Alpha", "Department": "Engineering"}, ("Department", "Engineering")),
        ({"aws:s3:arn": None, "x": ["a"]}, (None, None)),
        ({}, (None, None)),
    ],
)
def test_context_resource(ctx: dict[str, Any], expected: tuple[str | None, str | None]) -> None:
    assert context_resource(ctx) == expected


# ---- operations and times ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "op"),
    [
        ("Encrypt", "encrypt"), ("GenerateDataKey", "encrypt"), ("GenerateDataKeyWithoutPlaintext", "encrypt"),
        ("GenerateDataKeyPair", "encrypt"), ("GenerateDataKeyPairWithoutPlaintext", "encrypt"),
        ("Decrypt", "decrypt"),
        ("Sign", "sign"), ("Verify", "sign"), ("GenerateMac", "sign"), ("VerifyMac", "sign"), ("DeriveSharedSecret", "sign"),
        ("DescribeKey", "admin"), ("CreateGrant", "admin"), ("ScheduleKeyDeletion", "admin"), ("RotateKey", "admin"),
        ("GetKeyLastUsage", "admin"), ("decrypt", "admin"),
    ],
)
def test_operation_class(name: str, op: str) -> None:
    assert operation_class(name) == op


@pytest.mark.parametrize(
    ("value", "epoch"),
    [
        ("2026-10-01T00:00:00Z", 1790812800),
        ("2026-10-01T02:00:00+02:00", 1790812800),
        ("2026-10-01T00:00:00.789Z", 1790812800),
        ("2026-10-01T00:00:00", 1790812800),  # no offset: UTC
        ("2026-10-01", 1790812800),
        ("Oct 1, 2026 12:00:00 AM", None),  # a Java-style date is not an eventTime
        ("1970-01-01T00:00:00Z", None),
        ("", None),
        (None, None),
        (1790812800, None),
        (["2026-10-01T00:00:00Z"], None),
    ],
)
def test_parse_event_time(value: object, epoch: int | None) -> None:
    assert parse_event_time(value) == epoch
    assert parse_event_time(value) == epoch  # cached answers are the same
