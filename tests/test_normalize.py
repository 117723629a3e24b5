"""The normaliser record by record: which keys, operations and principals one record yields."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from keytrail.normalize import normalize
from keytrail.normalize.model import REF_ALIAS, REF_KEY, REF_REENCRYPT_SOURCE, AliasChange, KeyUse
from keytrail.normalize.rules import parse_event_time
from tests.factory import (
    ACCOUNT,
    KEY_A,
    KEY_B,
    OTHER,
    REGION,
    T0,
    alias_arn,
    alias_event,
    assume_role,
    hidden,
    key_arn,
    kms,
    non_kms,
    role,
    service,
    user,
    without,
)

ALICE = f"arn:aws:iam::{ACCOUNT}:user/alice"
KEY_A_ID = KEY_A.rsplit("/", 1)[1]
KEY_B_ID = KEY_B.rsplit("/", 1)[1]


def rows(record: object) -> list[tuple[str | None, str, str]]:
    """(key reference, reference kind, operation) of each row."""
    return [(r.key_ref, r.ref_kind, r.op) for r in normalize(record).rows]


def only_row(record: object) -> KeyUse:
    n = normalize(record)
    assert n.problem is None and n.unattributed is None, (n.problem, n.unattributed)
    assert len(n.rows) == 1, n.rows
    return n.rows[0]


# ---- which key ---------------------------------------------------------------------------------


def test_key_from_resources_with_or_without_type() -> None:
    rec = kms("Decrypt", user("alice"), KEY_A, {"encryptionAlgorithm": "SYMMETRIC_DEFAULT"})
    del rec["resources"][0]["type"]
    assert rows(rec) == [(KEY_A, REF_KEY, "decrypt")]


def test_decrypt_without_key_id_uses_resources() -> None:
    """Symmetric Decrypt (e.g. by S3) has no keyId: the key is only in resources[]."""
    rec = kms("Decrypt", user("alice", invokedBy="AWS Internal"), KEY_A,
              {"encryptionContext": {"aws:s3:arn": "arn:aws:s3:::b/o.csv"}})
    row = only_row(rec)
    assert (row.key_ref, row.op, row.principal, row.via) == (KEY_A, "decrypt", ALICE, "AWS Internal")
    assert (row.resource_kind, row.resource_id) == ("s3-object", "arn:aws:s3:::b/o.csv")
    assert row.encryption_context == '{"aws:s3:arn":"arn:aws:s3:::b/o.csv"}'


def test_resources_win_over_key_id_and_alias_arns_are_not_keys() -> None:
    rec = kms("GenerateDataKey", user("alice"), None, {"keyId": "alias/aws/ebs"})
    rec["resources"] = [{"ARN": alias_arn("alias/aws/ebs"), "type": "AWS::KMS::Key"}, {"ARN": KEY_B}]
    assert rows(rec) == [(KEY_B, REF_KEY, "encrypt")]


@pytest.mark.parametrize(
    ("key_id", "expected"),
    [
        (KEY_A, (KEY_A, REF_KEY)),
        (KEY_A_ID, (KEY_A, REF_KEY)),  # a bare id: the record's Region and recipient account
        ("alias/app-data", (alias_arn("alias/app-data"), REF_ALIAS)),
        (alias_arn("alias/app-data", OTHER), (alias_arn("alias/app-data", OTHER), REF_ALIAS)),
    ],
)
def test_key_id_when_resources_are_absent(key_id: str, expected: tuple[str, str]) -> None:
    """A denied call may have no resources[]: the keyId as written (aliases resolved later)."""
    rec = kms("Encrypt", user("alice"), None, {"keyId": key_id})
    assert rows(rec) == [(*expected, "encrypt")]


def test_every_key_in_resources_is_a_row() -> None:
    rec = kms("CreateGrant", user("alice"), KEY_A, {"keyId": KEY_A})
    rec["resources"].append({"ARN": KEY_B})
    rec["resources"].append({"ARN": KEY_A})  # listed twice: one key
    assert rows(rec) == [(KEY_A, REF_KEY, "admin"), (KEY_B, REF_KEY, "admin")]


@pytest.mark.parametrize(
    "name", ["ListAliases", "ListKeys", "GenerateRandom", "DescribeCustomKeyStores", "ConnectCustomKeyStore"]
)
def test_calls_naming_no_key_are_kms_but_not_key_use(name: str) -> None:
    n = normalize(kms(name, user("alice"), None, {"limit": 5}))
    assert n.kms and n.rows == () and n.unattributed is None and n.problem is None


EMPTY = "resources[] names no key (its ARN is empty)"


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        (None, f"Decrypt: {EMPTY} and no key in requestParameters: the call names no key"),
        ({"keyId": "HIDDEN_DUE_TO_SECURITY_REASONS"},
         f"Decrypt: {EMPTY}, and keyId 'HIDDEN_DUE_TO_SECURITY_REASONS' is redacted"),
        ({"keyId": "<sensitiveDataRemoved>"}, f"Decrypt: {EMPTY}, and keyId '<sensitiveDataRemoved>' is redacted"),
        ({"keyId": ""}, f"Decrypt: {EMPTY}, and keyId is empty"),
        ({"keyId": 42}, f"Decrypt: {EMPTY}, and keyId is not a string (int): not a key id, key ARN, alias name or alias ARN"),
        ({"keyId": "arn:aws:s3:::bucket"}, f"Decrypt: {EMPTY}, and keyId 'arn:aws:s3:::bucket' is an ARN, but not of a KMS key or alias"),
        ({"keyId": "key id"}, f"Decrypt: {EMPTY}, and keyId 'key id' holds whitespace: not a key id, key ARN, alias name or alias ARN"),
    ],
)
def test_a_call_that_names_no_resolvable_key_is_reported_with_its_reason(params: Any, reason: str) -> None:
    rec = kms("Decrypt", user("alice"), None, params)
    rec["resources"] = [{"ARN": "", "accountId": ACCOUNT, "type": "AWS::KMS::Key"}]  # as in the DynamoDB guide
    n = normalize(rec)
    assert n.kms and n.rows == () and n.unattributed == reason


@pytest.mark.parametrize("name", ["PutKeyPolicy", "DescribeKey", "GetKeyLastUsage", "SomeFutureKeyCall"])
def test_a_call_that_needs_a_key_and_names_none_is_unattributable(name: str) -> None:
    n = normalize(kms(name, user("alice"), None, {"policyName": "default"}))
    assert n.kms and n.rows == ()
    assert n.unattributed == f"{name}: no resources[] and no key in requestParameters: the call names no key"


def test_an_alias_name_with_a_redacted_account_says_so() -> None:
    rec = kms("PutKeyPolicy", user("alice"), None, {"keyId": "alias/xks-foo", "policyName": "default"})
    rec["recipientAccountId"] = "############"
    n = normalize(rec)
    assert n.unattributed == ("PutKeyPolicy: no resources[], and keyId 'alias/xks-foo' is an alias name, but the "
                              "record's account is not known (recipientAccountId '############' is not an account id)")
    del rec["recipientAccountId"]
    rec["awsRegion"] = None
    assert normalize(rec).unattributed == ("PutKeyPolicy: no resources[], and keyId 'alias/xks-foo' is an alias name, "
                                           "but the record has no awsRegion")


def test_lowercase_resource_keys_of_exports_are_read() -> None:
    """Athena, Security Lake and SIEM exports write resources[] keys in lower case."""
    rec = kms("PutKeyPolicy", user("alice"), None, {"policyName": "default"})
    rec["resources"] = [{"arn": KEY_A, "accountid": ACCOUNT}]
    assert [r.key_ref for r in normalize(rec).rows] == [KEY_A]
    # the account of a bare id or an alias when the record's own is redacted: the one resources[] names
    rec = kms("Encrypt", user("alice"), None, {"keyId": "alias/app"})
    rec["recipientAccountId"] = "############"
    rec["resources"] = [{"arn": "", "accountid": ACCOUNT}]
    (row,) = normalize(rec).rows
    assert row.key_ref == f"arn:aws:kms:{rec['awsRegion']}:{ACCOUNT}:alias/app" and row.ref_kind == "alias"


def test_a_broken_identity_on_a_known_key_is_unattributable() -> None:
    n = normalize(kms("Decrypt", {"type": "AWSService"}, KEY_A, None))
    assert n.rows == () and n.unattributed == "Decrypt: AWSService identity without invokedBy"


# ---- ReEncrypt ---------------------------------------------------------------------------------


def reencrypt(params: dict[str, Any], resources: list[str], **extra: Any) -> dict[str, Any]:
    rec = kms("ReEncrypt", user("alice"), None, params, **extra)
    rec["resources"] = [{"accountId": ACCOUNT, "type": "AWS::KMS::Key", "ARN": k} for k in resources]
    return rec


def test_reencrypt_with_both_key_ids() -> None:
    rec = reencrypt({"sourceKeyId": KEY_A, "destinationKeyId": KEY_B}, [KEY_A, KEY_B])
    assert rows(rec) == [(KEY_A, REF_KEY, "decrypt"), (KEY_B, REF_KEY, "encrypt")]


def test_reencrypt_without_source_key_id() -> None:
    """The KMS guide's example: destinationKeyId a bare id, the source only in resources[]."""
    rec = reencrypt({"destinationKeyId": KEY_B_ID, "sourceEncryptionContext": {"Project": "Alpha"}}, [KEY_A, KEY_B])
    assert rows(rec) == [(KEY_A, REF_KEY, "decrypt"), (KEY_B, REF_KEY, "encrypt")]
    rec = reencrypt({"destinationKeyId": KEY_B}, [KEY_B, KEY_A])  # the order of resources[] does not matter
    assert rows(rec) == [(KEY_A, REF_KEY, "decrypt"), (KEY_B, REF_KEY, "encrypt")]


def test_reencrypt_on_one_key_is_one_decrypt_and_one_encrypt() -> None:
    rec = reencrypt({"destinationKeyId": KEY_A}, [KEY_A])
    assert rows(rec) == [(KEY_A, REF_KEY, "decrypt"), (KEY_A, REF_KEY, "encrypt")]
    rec = reencrypt({"sourceKeyId": KEY_A, "destinationKeyId": KEY_A}, [KEY_A])
    assert rows(rec) == [(KEY_A, REF_KEY, "decrypt"), (KEY_A, REF_KEY, "encrypt")]


def test_reencrypt_to_an_alias_leaves_the_source_to_the_resolver() -> None:
    dest = alias_arn("alias/new")
    rec = reencrypt({"destinationKeyId": "alias/new"}, [KEY_A, KEY_B])
    n = normalize(rec)
    assert [(r.key_ref, r.ref_kind, r.op, r.alt_keys) for r in n.rows] == [
        (dest, REF_REENCRYPT_SOURCE, "decrypt", [KEY_A, KEY_B]),
        (dest, REF_ALIAS, "encrypt", None),
    ]


def test_reencrypt_with_only_a_source() -> None:
    rec = reencrypt({"sourceKeyId": KEY_A}, [KEY_A, KEY_B])
    assert rows(rec) == [(KEY_A, REF_KEY, "decrypt"), (KEY_B, REF_KEY, "encrypt")]


def test_reencrypt_naming_nothing_is_unattributable() -> None:
    n = normalize(reencrypt({"destinationEncryptionAlgorithm": "SYMMETRIC_DEFAULT"}, []))
    assert n.rows == () and n.unattributed == "ReEncrypt: no resources[] and no key in requestParameters: the call names no key"


# ---- failed calls: denied once per distinct key -------------------------------------------------


def test_failed_reencrypt_is_one_denied_attempt_per_distinct_key() -> None:
    same = reencrypt({"sourceKeyId": KEY_A, "destinationKeyId": KEY_A}, [KEY_A], errorCode="AccessDenied")
    assert [(r.key_ref, r.error_code) for r in normalize(same).rows] == [(KEY_A, "AccessDenied")]
    two = reencrypt({"sourceKeyId": KEY_A, "destinationKeyId": KEY_B}, [KEY_A, KEY_B], errorCode="AccessDenied")
    assert [r.key_ref for r in normalize(two).rows] == [KEY_A, KEY_B]


def test_failed_call_keeps_error_code_and_message() -> None:
    rec = kms("Decrypt", user("alice"), KEY_A, None, errorCode="KMSInvalidStateException",
              errorMessage=f"{KEY_A} is pending deletion.")
    row = only_row(rec)
    assert (row.op, row.error_code, row.error_message) == ("decrypt", "KMSInvalidStateException", f"{KEY_A} is pending deletion.")


def test_error_code_of_another_type_is_kept_as_text() -> None:
    assert only_row(kms("Decrypt", user("alice"), KEY_A, None, errorCode=403)).error_code == "403"


# ---- alias events -------------------------------------------------------------------------------


def test_create_alias_is_admin_on_the_key_and_an_alias_change() -> None:
    rec = alias_event("CreateAlias", "alias/app-data", KEY_A_ID, T0)
    rec["resources"].append({"accountId": ACCOUNT, "type": "AWS::KMS::Key", "ARN": KEY_A})
    n = normalize(rec)
    assert [(r.key_ref, r.op) for r in n.rows] == [(KEY_A, "admin")]  # the alias ARN, typed as a key, is not one
    assert n.alias_change == AliasChange(alias_arn("alias/app-data"), parse_event_time(T0) or 0, KEY_A, rec["eventID"],
                                         "CreateAlias")


def test_update_and_delete_alias() -> None:
    upd = normalize(alias_event("UpdateAlias", "alias/app-data", KEY_B, T0))
    assert upd.alias_change is not None and upd.alias_change.target_key == KEY_B
    assert [r.key_ref for r in upd.rows] == [KEY_B]
    gone = alias_event("DeleteAlias", "alias/app-data", None, T0)
    gone["resources"].append({"ARN": KEY_B})
    n = normalize(gone)
    assert n.alias_change is not None and n.alias_change.target_key is None
    assert n.alias_change.alias_arn == alias_arn("alias/app-data")


def test_failed_alias_change_changes_nothing() -> None:
    rec = alias_event("UpdateAlias", "alias/app-data", KEY_B, T0, errorCode="NotFoundException")
    n = normalize(rec)
    assert n.alias_change is None
    assert [(r.key_ref, r.error_code) for r in n.rows] == [(KEY_B, "NotFoundException")]


@pytest.mark.parametrize("target", ["alias/other", "", None, 7])
def test_alias_change_needs_a_key_target(target: object) -> None:
    rec = alias_event("CreateAlias", "alias/app-data", KEY_A, T0)
    rec["requestParameters"]["targetKeyId"] = target
    assert normalize(rec).alias_change is None


# ---- principals and identity hints --------------------------------------------------------------


def test_assumed_role_with_path_and_hint() -> None:
    rec = kms("GenerateDataKey", role("AppServerRole", path="/service-role/", session="i-0abc", uid="AROAEXAMPLEAPP000001"),
              KEY_A, {"keyId": "alias/app-data"})
    n = normalize(rec)
    assert n.rows[0].principal == f"arn:aws:iam::{ACCOUNT}:role/service-role/AppServerRole"
    assert n.rows[0].session_name == "i-0abc"
    assert [(h.unique_id, h.arn) for h in n.identities] == [
        ("AROAEXAMPLEAPP000001", f"arn:aws:iam::{ACCOUNT}:role/service-role/AppServerRole")]


def test_hidden_caller_stays_hidden_with_its_unique_id() -> None:
    row = only_row(kms("Decrypt", hidden("AROAEXAMPLEPARTNER01:nightly", OTHER), KEY_A, None, sharedEventID="s-1"))
    assert (row.principal, row.principal_uid, row.identity_account, row.session_name, row.shared_event_id) == (
        None, "AROAEXAMPLEPARTNER01", OTHER, "nightly", "s-1")


def test_aws_internal_service_event_without_type_and_null_parameters() -> None:
    """RotateKey / DeleteKey: userIdentity {accountId, invokedBy} only, requestParameters null."""
    rec = kms("RotateKey", {"accountId": ACCOUNT, "invokedBy": "AWS Internal"}, KEY_A, None,
              eventType="AwsServiceEvent", serviceEventDetails={"keyId": KEY_A_ID}, sourceIPAddress="AWS Internal")
    row = only_row(rec)
    assert (row.key_ref, row.op, row.principal, row.identity_type) == (KEY_A, "admin", "AWS Internal", "AWSService")


def test_service_principal_without_arn() -> None:
    rec = kms("Encrypt", service("workmail.eu-west-1.amazonaws.com"), key_arn(KEY_A_ID, region="eu-west-1"), None,
              sourceIPAddress="workmail.eu-west-1.amazonaws.com")
    row = only_row(rec)
    assert (row.principal, row.identity_type, row.source_ip) == (
        "workmail.eu-west-1.amazonaws.com", "AWSService", "workmail.eu-west-1.amazonaws.com")


# ---- values as real logs write them --------------------------------------------------------------


@pytest.mark.parametrize(
    "ip", ["192.0.2.0", "cloudtrail.amazonaws.com", "AWS Internal", "&AWS; Internal", "198.51.100.1, 10.0.0.1", "2001:db8::1"]
)
def test_source_ip_is_kept_as_written(ip: str) -> None:
    assert only_row(kms("Decrypt", user("alice"), KEY_A, None, sourceIPAddress=ip)).source_ip == ip


def test_stringified_scalars_and_java_dates_change_nothing() -> None:
    """Cribl stringifies booleans and numbers; some responseElements carry Java-style dates."""
    plain = kms("Decrypt", user("alice"), KEY_A, None)
    odd = copy.deepcopy(plain)
    odd.update(readOnly="true", managementEvent="true", responseElements={"expiration": "Jan 3, 2022 8:03:06 PM"})
    odd["userIdentity"]["sessionContext"] = {"attributes": {"mfaAuthenticated": "false", "creationDate": "20131102T010628Z"}}
    assert normalize(odd).rows == normalize(plain).rows


@pytest.mark.parametrize("version", ["1.0", "1.01", "1.02", "1.03", "1.04", "1.05", "1.06", "1.07", "1.08", "1.09", "1.10", "1.11"])
def test_every_event_version_reads_the_same(version: str) -> None:
    rec = kms("Decrypt", user("alice"), KEY_A, None, eid="00000000-0000-4000-8000-00000000beef")
    base = normalize(rec)
    rec["eventVersion"] = version
    assert normalize(rec) == base


def test_placeholders_are_kept_verbatim() -> None:
    ui = user("Alice")
    ui.update(arn="arn:aws:iam::&ExampleAWSAccountNo1;:user/Alice", accountId="&ExampleAWSAccountNo1;")
    row = only_row(kms("VerifyMac", ui, KEY_A, {"macAlgorithm": "HMAC_SHA_384"}, userAgent="&AWS; Internal"))
    assert (row.principal, row.user_agent, row.op) == ("arn:aws:iam::&ExampleAWSAccountNo1;:user/Alice", "&AWS; Internal", "sign")


def test_missing_event_id_is_allowed() -> None:
    rec = kms("Decrypt", user("alice"), KEY_A, None)
    del rec["eventID"]
    assert only_row(rec).event_id is None


# ---- rejected records and records that are not KMS calls ----------------------------------------


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"eventName": None}, "eventName is missing or not a string"),
        ({"eventName": 5}, "eventName is missing or not a string"),
        ({"eventTime": "yesterday"}, "eventTime is missing or not ISO-8601: 'yesterday'"),
        ({"eventTime": None}, "eventTime is missing or not ISO-8601: 'None'"),
        ({"userIdentity": None}, "userIdentity is missing"),
        ({"userIdentity": "alice"}, "userIdentity is not an object"),
        ({"requestParameters": "keyId=x"}, "requestParameters is not an object"),
        ({"resources": {"ARN": KEY_A}}, "resources is not an array"),
    ],
)
def test_kms_record_with_a_wrong_shape_is_rejected_with_its_reason(change: dict[str, Any], problem: str) -> None:
    rec = kms("Decrypt", user("alice"), KEY_A, None)
    rec.update(change)
    n = normalize(rec)
    assert (n.kms, n.problem, n.rows) == (True, problem, ())


@pytest.mark.parametrize("value", [None, 1, "x", [], [{"eventSource": "kms.amazonaws.com"}], True])
def test_a_record_that_is_not_an_object_is_rejected(value: object) -> None:
    n = normalize(value)
    assert n.problem is not None and n.problem.startswith("record is not a JSON object")


def test_other_services_are_not_kms() -> None:
    n = normalize(non_kms())
    assert (n.kms, n.rows, n.problem) == (False, (), None)


# ---- STS: credentials issued --------------------------------------------------------------------


def test_assume_role_records_the_credentials_it_issued() -> None:
    rec = assume_role(user("alice"), f"arn:aws:iam::{ACCOUNT}:role/Deploy", "alice-deploy", "ASIAEXAMPLEDEPLOY001")
    n = normalize(rec)
    assert not n.kms and n.rows == ()
    c = n.credential
    assert c is not None
    assert (c.access_key_id, c.role_arn, c.session_name, c.caller, c.caller_type, c.caller_access_key_id) == (
        "ASIAEXAMPLEDEPLOY001", f"arn:aws:iam::{ACCOUNT}:role/Deploy", "alice-deploy", ALICE, "IAMUser", "AKIAALICEXXXXXXX")
    assert c.event_time == parse_event_time(T0)


def test_assume_role_via_identity_center_keeps_the_person() -> None:
    caller = role("AWSReservedSSO_Dev", session="jane", onBehalfOf={"userId": "u-1", "identityStoreArn": "arn:store"})
    c = normalize(assume_role(caller, f"arn:aws:iam::{ACCOUNT}:role/Deploy", "s", "ASIAEXAMPLEDEPLOY002")).credential
    assert c is not None and (c.on_behalf_of, c.caller_session) == ("u-1", "jane")


@pytest.mark.parametrize(
    "change",
    [{"errorCode": "AccessDenied", "responseElements": None}, {"responseElements": None}, {"responseElements": {"credentials": 3}},
     {"eventTime": "never"}],
)
def test_assume_role_without_credentials_issues_nothing(change: dict[str, Any]) -> None:
    rec = assume_role(user("alice"), f"arn:aws:iam::{ACCOUNT}:role/Deploy", "s", "ASIAEXAMPLEDEPLOY003")
    rec.update(change)
    assert normalize(rec).credential is None


def test_assume_role_with_saml_and_web_identity() -> None:
    for name, ui in (
        ("AssumeRoleWithSAML", {"type": "SAMLUser", "userName": "SamlExample", "identityProvider": "idp"}),
        ("AssumeRoleWithWebIdentity", {"type": "WebIdentityUser", "userName": "u", "identityProvider": "accounts.google.com"}),
    ):
        rec = assume_role(ui, f"arn:aws:iam::{ACCOUNT}:role/Fed", "s", "ASIAEXAMPLEFED00001")
        rec["eventName"] = name
        c = normalize(rec).credential
        assert c is not None and c.caller is not None and c.caller.split(":")[0] in ("saml", "webidentity")


def test_region_and_recipient_of_the_record_are_kept() -> None:
    row = only_row(kms("Decrypt", user("alice"), KEY_A, None))
    assert (row.region, row.recipient_account, row.event_name) == (REGION, ACCOUNT, "Decrypt")


def test_create_alias_without_resources_is_admin_on_its_target_key() -> None:
    rec = alias_event("CreateAlias", "alias/x", "1234abcd-12ab-34cd-56ef-1234567890ab", "2026-01-01T00:00:00Z",
                      identity=user("a"))
    n = normalize(without(rec, "resources"))
    assert [(r.key_ref, r.op) for r in n.rows] == [
        ("arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab", "admin")
    ]
    assert n.alias_change is not None and n.alias_change.target_key == n.rows[0].key_ref
