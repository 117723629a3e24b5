"""The resolver's rules, run through the real pipeline (records -> temp files -> Store + ingest):
alias history over time, hidden callers, cross-account copies, re-deliveries, eventID clashes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from keytrail.analysis import event_id_clashes, keys_report, usage
from keytrail.analysis.clashes import CONFLICTING_COPIES, DIFFERENT_EVENTS, identity_conflicts
from keytrail.analysis.findings import FindingOptions, run_findings
from keytrail.analysis.record_problems import CONFLICTING, problems
from keytrail.pipeline import ingest
from keytrail.sources import FileRef
from keytrail.sources.local import LocalSource
from keytrail.store import Store
from tests.factory import (
    ACCOUNT,
    KEY_A,
    KEY_B,
    KEY_C,
    OTHER,
    alias_arn,
    alias_event,
    hidden,
    ingested,
    key_use,
    kms,
    log_file,
    non_kms,
    role,
    user,
    write,
)

ALICE = f"arn:aws:iam::{ACCOUNT}:user/alice"
APP_DATA = alias_arn("alias/app-data")


def t(minute: int, second: int = 0) -> str:
    return f"2026-10-01T12:{minute:02d}:{second:02d}Z"


def via_alias(time: str, name: str = "Decrypt", **extra: object) -> dict[str, object]:
    """A call naming the key only through the alias (a denied call has no resources[])."""
    return kms(name, user("alice"), None, {"keyId": "alias/app-data"}, time=time, **extra)


# ---- alias history ---------------------------------------------------------------------------


def test_alias_timeline_retarget_delete_recreate(tmp_path: Path) -> None:
    history = [
        alias_event("CreateAlias", "alias/app-data", KEY_A, t(10)),
        alias_event("UpdateAlias", "alias/app-data", KEY_B, t(20)),
        alias_event("DeleteAlias", "alias/app-data", None, t(30)),
        alias_event("CreateAlias", "alias/app-data", KEY_C.rsplit("/", 1)[1], t(40)),  # a bare id
    ]
    calls = [
        via_alias(t(5)),  # before the alias existed
        via_alias(t(10)),  # the same second as CreateAlias: after it
        via_alias(t(19, 59)),
        via_alias(t(20)),  # the same second as UpdateAlias: the new target
        via_alias(t(29, 59)),
        via_alias(t(30)),  # deleted
        via_alias(t(39, 59)),
        via_alias(t(40)),  # re-created on another key
    ]
    # the calls come first in the archive: the order files are read in does not matter
    with ingested(tmp_path, calls, history) as (store, _):
        got = store.query(
            "SELECT strftime(event_time, '%M:%S'), key, key_resolved FROM key_use WHERE event_name = 'Decrypt' "
            "ORDER BY event_time"
        )
    assert got == [
        ("05:00", APP_DATA, False),
        ("10:00", KEY_A, True),
        ("19:59", KEY_A, True),
        ("20:00", KEY_B, True),
        ("29:59", KEY_B, True),
        ("30:00", APP_DATA, False),
        ("39:59", APP_DATA, False),
        ("40:00", KEY_C, True),
    ]


def test_several_alias_changes_in_one_second_the_last_in_log_order_wins(tmp_path: Path) -> None:
    history = [
        alias_event("CreateAlias", "alias/app-data", KEY_A, t(10)),
        alias_event("UpdateAlias", "alias/app-data", KEY_B, t(10)),
    ]
    with ingested(tmp_path, history, [via_alias(t(10)), via_alias(t(11))]) as (store, _):
        assert key_use(store, "key", "event_name = 'Decrypt'") == [(KEY_B,), (KEY_B,)]


def test_alias_history_is_per_account_and_region(tmp_path: Path) -> None:
    other_region = kms("Decrypt", user("alice"), None, {"keyId": "alias/app-data"}, time=t(15), region="eu-west-1")
    with ingested(tmp_path, [alias_event("CreateAlias", "alias/app-data", KEY_A, t(10)), via_alias(t(15)), other_region]) as (
        store,
        _,
    ):
        assert key_use(store, "key, key_resolved", "event_name = 'Decrypt'") == [
            ("arn:aws:kms:eu-west-1:111122223333:alias/app-data", False),
            (KEY_A, True),
        ]


def test_denied_call_through_an_alias_is_denied_on_the_key(tmp_path: Path) -> None:
    with ingested(tmp_path, [alias_event("CreateAlias", "alias/app-data", KEY_A, t(10)),
                             via_alias(t(11), errorCode="AccessDenied")]) as (store, _):
        assert key_use(store, "key, principal, category", "event_name = 'Decrypt'") == [(KEY_A, ALICE, "denied")]


def test_reencrypt_to_an_alias_finds_its_source_after_resolution(tmp_path: Path) -> None:
    rec = kms("ReEncrypt", user("alice"), None, {"destinationKeyId": "alias/app-data"}, time=t(12))
    rec["resources"] = [{"ARN": KEY_B}, {"ARN": KEY_A}]
    with ingested(tmp_path, [alias_event("CreateAlias", "alias/app-data", KEY_B, t(10)), rec]) as (store, _):
        assert key_use(store, "key, category", "event_name = 'ReEncrypt'") == [(KEY_A, "decrypt"), (KEY_B, "encrypt")]


def test_reencrypt_on_one_key_is_one_decrypt_and_one_encrypt(tmp_path: Path) -> None:
    rec = kms("ReEncrypt", user("alice"), KEY_A, {"sourceKeyId": KEY_A, "destinationKeyId": KEY_A}, time=t(12))
    with ingested(tmp_path, [rec]) as (store, _):
        (row,) = usage(store)
    assert (row.key, row.encrypt, row.decrypt) == (KEY_A, 1, 1)


# ---- hidden callers --------------------------------------------------------------------------


PARTNER_ROLE = f"arn:aws:iam::{OTHER}:role/reports/ReportReader"


def test_hidden_role_caller_resolves_through_a_full_identity_anywhere_in_the_archive(tmp_path: Path) -> None:
    partner = role("ReportReader", path="/reports/", session="nightly", uid="AROAEXAMPLEPARTNER01", account=OTHER)
    # the full identity shows up only in a record that is not a KMS call, in another file
    seen = non_kms("GetObject", userIdentity=partner, recipientAccountId=OTHER)
    call = kms("Decrypt", hidden("AROAEXAMPLEPARTNER01:nightly", OTHER), KEY_A, None, time=t(12))
    with ingested(tmp_path, [call], [seen]) as (store, _):
        assert key_use(store, "principal, principal_type, session_name") == [(PARTNER_ROLE, "AWSAccount", "nightly")]


def test_hidden_callers_resolve_or_are_named_by_account_and_unique_id(tmp_path: Path) -> None:
    bob = user("bob", account=OTHER, uid="AIDAEXAMPLEBOB000001")
    calls = [
        kms("Decrypt", hidden("AIDAEXAMPLEBOB000001", OTHER), KEY_A, None, time=t(1)),
        kms("Decrypt", hidden("AROAEXAMPLEUNKNOWN01:s", OTHER), KEY_A, None, time=t(2)),
        kms("Decrypt", hidden(OTHER, OTHER), KEY_A, None, time=t(3)),  # the other account's root
        kms("Decrypt", hidden(f"{OTHER}:fed", OTHER), KEY_A, None, time=t(4)),  # a federated user
        kms("DescribeKey", bob, KEY_B, {"keyId": KEY_B}, recipient=OTHER),  # bob's full identity
    ]
    with ingested(tmp_path, calls) as (store, _):
        assert key_use(store, "principal", "event_name = 'Decrypt'") == [
            (f"AWSAccount:{OTHER}:AROAEXAMPLEUNKNOWN01",),
            (f"arn:aws:iam::{OTHER}:root",),
            (f"arn:aws:iam::{OTHER}:user/bob",),
            (f"arn:aws:sts::{OTHER}:federated-user/fed",),
        ]


def test_a_unique_id_shown_with_two_arns_names_no_one_and_is_reported(tmp_path: Path) -> None:
    uid = "AROAEXAMPLEPARTNER01"
    genuine = role("ReportReader", session="a", uid=uid, account=OTHER)
    forged = role("KeyAdmin", session="b", uid=uid, account=OTHER)  # the same unique id, another role
    call = kms("Decrypt", hidden(f"{uid}:nightly", OTHER), KEY_A, None, time=t(12))
    seen = [non_kms("GetObject", userIdentity=genuine), non_kms("ListRoles", userIdentity=forged)]
    with ingested(tmp_path, [call], seen) as (store, _):
        assert key_use(store, "principal") == [(f"AWSAccount:{OTHER}:{uid}",)]
        (conflict,) = identity_conflicts(store)
        assert conflict.unique_id == uid and conflict.hidden_calls == 1
        assert conflict.arns == [f"arn:aws:iam::{OTHER}:role/KeyAdmin", f"arn:aws:iam::{OTHER}:role/ReportReader"]


def test_a_hint_of_another_account_names_no_one(tmp_path: Path) -> None:
    uid = "AROAEXAMPLEPARTNER01"
    # a role session of ACCOUNT showing OTHER's unique id beside its own ARN: not how CloudTrail writes it
    odd = role("Mallory", uid=uid, account=ACCOUNT)
    call = kms("Decrypt", hidden(f"{uid}:nightly", OTHER), KEY_A, None, time=t(12))
    with ingested(tmp_path, [call, non_kms("GetObject", userIdentity=odd)]) as (store, _):
        assert key_use(store, "principal") == [(f"AWSAccount:{OTHER}:{uid}",)]


@pytest.mark.parametrize("shape", ["log file", "ndjson", "log file with a NaN record"])
def test_identity_hints_come_only_from_user_identities(tmp_path: Path, shape: str) -> None:
    """A non-KMS record whose requestParameters carry a sessionIssuer-shaped object naming another
    role with the hidden caller's unique id: on every decoding path the hidden caller keeps its
    genuine name (or its stand-in), never the forged one."""
    uid = "AROAEXAMPLEPARTNER01"
    genuine = role("MalloryRole", uid=uid, account=OTHER)
    fake_issuer = {"type": "Role", "principalId": uid, "arn": f"arn:aws:iam::{OTHER}:role/AAAKeyAdmin",
                   "accountId": OTHER}
    forged = non_kms("PutParameter", userIdentity=user("eve"),
                     requestParameters={"sessionContext": {"sessionIssuer": fake_issuer}, "userIdentity": fake_issuer})
    call = kms("Decrypt", hidden(f"{uid}:s", OTHER), KEY_A, None, time=t(12))
    records = [forged, call, non_kms("GetObject", userIdentity=genuine)]
    if shape == "log file with a NaN record":
        path = tmp_path / "nan.json"
        text = json.dumps({"Records": records})[:-2] + ', {"eventSource": "s3.amazonaws.com", "x": NaN}]}'
        path.write_text(text)
    elif shape == "ndjson":
        path = tmp_path / "lines.ndjson"
        path.write_text("\n".join(json.dumps(r) for r in records))
    else:
        path = tmp_path / "log.json"
        path.write_text(json.dumps({"Records": records}))
    with Store() as store:
        ingest([LocalSource((str(path),))], store, workers=1)
        assert key_use(store, "principal") == [(f"arn:aws:iam::{OTHER}:role/MalloryRole",)]
        assert identity_conflicts(store) == []


def test_hidden_user_resolves_through_a_record_that_is_not_a_kms_call(tmp_path: Path) -> None:
    bob = user("bob", account=OTHER, uid="AIDAEXAMPLEBOB000001")
    calls = [kms("Decrypt", hidden("AIDAEXAMPLEBOB000001", OTHER), KEY_A, None), non_kms("ListBuckets", userIdentity=bob)]
    with ingested(tmp_path, calls) as (store, _):
        assert key_use(store, "principal") == [(f"arn:aws:iam::{OTHER}:user/bob",)]


# ---- the two copies of a cross-account call --------------------------------------------------


@pytest.mark.parametrize("hidden_first", [True, False])
def test_cross_account_copies_count_once_keeping_the_full_identity(tmp_path: Path, hidden_first: bool) -> None:
    partner = role("ReportReader", path="/reports/", session="nightly", uid="AROAEXAMPLEPARTNER01", account=OTHER)
    caller_copy = kms("Decrypt", partner, KEY_A, None, time=t(12), recipient=OTHER, sharedEventID="shared-1",
                      sourceIPAddress="203.0.113.77")
    owner_copy = kms("Decrypt", hidden("AROAEXAMPLEPARTNER01:nightly", OTHER), KEY_A, None, time=t(12),
                     sharedEventID="shared-1", sourceIPAddress="203.0.113.77")
    files = ([owner_copy], [caller_copy]) if hidden_first else ([caller_copy], [owner_copy])
    with ingested(tmp_path, *files) as (store, _):
        assert key_use(store, "principal, principal_type, recipient_account") == [(PARTNER_ROLE, "AssumedRole", OTHER)]
        (row,) = usage(store)
    assert (row.principal, row.principal_type, row.decrypt) == (PARTNER_ROLE, "AssumedRole", 1)


def test_only_the_key_owners_copy_still_counts(tmp_path: Path) -> None:
    owner_copy = kms("Decrypt", hidden("AROAEXAMPLEPARTNER01:nightly", OTHER), KEY_A, None, sharedEventID="shared-2")
    with ingested(tmp_path, [owner_copy]) as (store, _):
        (row,) = usage(store)
    assert (row.principal, row.principal_type) == (f"AWSAccount:{OTHER}:AROAEXAMPLEPARTNER01", "AWSAccount")


# ---- re-deliveries and eventID clashes ------------------------------------------------------


def test_a_redelivered_record_counts_once(tmp_path: Path) -> None:
    rec = kms("Decrypt", user("alice"), KEY_A, None, time=t(12))
    with ingested(tmp_path, [rec], [rec, rec]) as (store, report):
        assert report.kms_records == 3
        (row,) = usage(store)
        assert row.decrypt == 1
        assert event_id_clashes(store) == []


def test_event_id_reused_for_different_events_counts_each_and_is_reported(tmp_path: Path) -> None:
    eid = "11111111-2222-4333-8444-555555555555"
    recs = [
        kms("Decrypt", user("alice"), KEY_A, None, time=t(1), eid=eid),
        kms("Decrypt", user("alice"), KEY_A, None, time=t(2), eid=eid),  # another time
        kms("DescribeKey", user("alice"), KEY_A, {"keyId": KEY_A}, time=t(2), eid=eid),  # another name
        kms("Decrypt", user("alice"), KEY_A, None, time=t(2), eid=eid),  # a re-delivery of the second
    ]
    with ingested(tmp_path, recs) as (store, _):
        (row,) = usage(store)
        assert (row.decrypt, row.admin) == (2, 1)
        (clash,) = event_id_clashes(store)
    assert clash.event_id == eid
    assert (clash.kind, clash.records, clash.calls) == (DIFFERENT_EVENTS, 4, 3)
    assert clash.events == ["Decrypt 2026-10-01T12:01:00Z", "Decrypt 2026-10-01T12:02:00Z", "DescribeKey 2026-10-01T12:02:00Z"]


def test_copies_that_disagree_on_the_outcome_count_once_and_are_reported(tmp_path: Path) -> None:
    """The KMS guide's Decrypt b79603d5...: one eventID, one time, a success and a failure."""
    eid = "b79603d5-4cde-46fc-819c-a7cf547b9df4"
    ok = kms("Decrypt", user("alice"), KEY_A, None, time=t(1), eid=eid)
    failed = kms("Decrypt", user("alice"), KEY_A, None, time=t(1), eid=eid, errorCode="KMSInvalidStateException")
    with ingested(tmp_path, [ok, failed]) as (store, _):
        assert len(key_use(store)) == 1
        (clash,) = event_id_clashes(store)
        (finding,) = run_findings(store, FindingOptions(kinds=("conflicting-copies",)))
        listed = problems(store, (CONFLICTING,))
    assert (clash.kind, clash.records, clash.calls) == (CONFLICTING_COPIES, 2, 1)
    assert finding.details["event_id"] == eid and finding.severity == "medium"
    # keytrail problems lists both records of the call
    assert [(p.record, p.event_id, p.event_name, p.kind) for p in listed] == [
        (0, eid, "Decrypt", CONFLICTING), (1, eid, "Decrypt", CONFLICTING)]
    assert listed[0].reason.startswith("copies of one call (same eventID, eventName and eventTime) disagree")


def test_a_verified_copy_wins_over_an_unverified_one(tmp_path: Path) -> None:
    """A copy of a signed record with the caller changed, in a file read first: the copy from the
    file covered by a verified digest chain is the one counted."""
    eid = "0e1d2c3b-0000-4000-8000-000000000001"
    genuine = kms("Decrypt", user("bob"), KEY_A, None, time=t(1), eid=eid)
    forged = kms("Decrypt", user("alice"), KEY_A, None, time=t(1), eid=eid)
    first = write(tmp_path / "a-forged.json", log_file([forged]))
    signed = write(tmp_path / "b-signed.json", log_file([genuine]))
    with Store() as store:
        ingest([_Refs([FileRef(str(first), first.stat().st_size, "1"),
                       FileRef(str(signed), signed.stat().st_size, "1", verified=True)])], store, workers=1)
        assert key_use(store, "principal") == [(ALICE.replace("alice", "bob"),)]
        assert [f.kind for f in run_findings(store, FindingOptions(kinds=("conflicting-copies",)))] == ["conflicting-copies"]


class _Refs:
    """A file source over given FileRefs (as the verification gate hands them on)."""

    description = "refs"

    def __init__(self, refs: list[FileRef]) -> None:
        self.refs = refs

    def files(self) -> Iterator[FileRef]:
        return iter(self.refs)

    def read(self, ref: FileRef) -> bytes:
        return Path(ref.uri).read_bytes()


def test_records_without_event_id_are_never_merged(tmp_path: Path) -> None:
    a = kms("Decrypt", user("alice"), KEY_A, None, time=t(1))
    b = dict(a)
    del a["eventID"], b["eventID"]
    with ingested(tmp_path, [a, b]) as (store, _):
        (row,) = usage(store)
        assert row.decrypt == 2


# ---- determinism ---------------------------------------------------------------------------


def test_the_answer_does_not_depend_on_file_order(tmp_path: Path) -> None:
    partner = role("ReportReader", session="n", uid="AROAEXAMPLEPARTNER01", account=OTHER)
    files = [
        [alias_event("CreateAlias", "alias/app-data", KEY_A, t(10))],
        [via_alias(t(11)), kms("Decrypt", hidden("AROAEXAMPLEPARTNER01:n", OTHER), KEY_B, None, sharedEventID="s")],
        [kms("Decrypt", partner, KEY_B, None, recipient=OTHER, sharedEventID="s")],
    ]
    cols = "key, principal, principal_type, category, event_time"
    with ingested(tmp_path / "a", *files) as (store, _):
        forward = key_use(store, cols)
    with ingested(tmp_path / "b", *reversed(files)) as (store, _):
        backward = key_use(store, cols)
    assert forward == backward and len(forward) == 3


def test_keys_report_names_current_aliases_not_deleted_or_moved_ones(tmp_path: Path) -> None:
    history = [
        alias_event("CreateAlias", "alias/gone", KEY_A, t(0)),
        alias_event("DeleteAlias", "alias/gone", None, t(10)),
        alias_event("CreateAlias", "alias/moved", KEY_A, t(0)),
        alias_event("UpdateAlias", "alias/moved", KEY_B, t(10)),
        alias_event("CreateAlias", "alias/app-data", KEY_A, t(0)),
        kms("Decrypt", user("alice"), KEY_C, None, time=t(20)),
    ]
    with ingested(tmp_path, history) as (store, _):
        got = {k.key: k.aliases for k in keys_report(store)}
    assert got == {KEY_A: ["alias/app-data"], KEY_B: ["alias/moved"], KEY_C: []}
