"""The published records in ../shared/corpus through the real pipeline (LocalSource + ingest).

Every KMS record is attributed to a key and a principal, reported as unattributable with its
reason, or names no key (ListAliases, GenerateRandom, custom key store calls); no record stops
the run. Representative records are checked against what their text says (see each comment),
and every quirk listed in the corpus README is exercised by at least one assertion here.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import pytest

from keytrail.analysis import event_id_clashes, usage
from keytrail.analysis.clashes import CONFLICTING_COPIES, DIFFERENT_EVENTS
from keytrail.decode import NotCloudTrail, read_records
from keytrail.decode.record import Record
from keytrail.pipeline import IngestReport, ingest
from keytrail.sources.local import LocalSource
from keytrail.store import Store
from tests.conftest import CORPUS, need_shared

pytestmark = pytest.mark.shared  # reads ../shared: skips without it, fails under CI=true


@dataclass(frozen=True)
class Folder:
    kms: int  # KMS records the folder holds (the README's table; derived copies counted too)
    attributed: int
    unattributed: int
    no_key: int
    records: int  # CloudTrail records in the files read
    skipped: tuple[str, ...]  # files read and skipped as not CloudTrail


FOLDERS: dict[str, Folder] = {
    # 74 current + 46 older revisions; 11 name no key: 6 custom key store calls, 3 GenerateRandom, 2 ListAliases
    "awsdocs-kms-developer-guide": Folder(120, 109, 0, 11, 124, ("manifest.json", "manifest_historical.json")),
    "awsdocs-cloudtrail-user-guide": Folder(
        1, 1, 0, 0, 40, ("fragments/fragments.json", "manifest.json", "manifest_historical.json")),
    "awsdocs-iam-user-guide": Folder(0, 0, 0, 0, 34, ("fragments/fragments.json", "manifest.json", "manifest_historical.json")),
    # the DynamoDB guide blanks the key: keyId "" and resources[].ARN "" -- reported, not guessed
    "awsdocs-dynamodb-developer-guide": Folder(3, 0, 3, 0, 17, ("manifest.json", "manifest_historical.json")),
    "awsdocs-secrets-manager-user-guide": Folder(4, 4, 0, 0, 11, ("manifest.json", "manifest_historical.json")),
    "awsdocs-systems-manager-user-guide": Folder(0, 0, 0, 0, 3, ("manifest.json", "manifest_historical.json")),
    "awsdocs-s3-userguide": Folder(0, 0, 0, 0, 8, ("manifest.json", "manifest_historical.json")),
    "stratus-red-team-detonation-logs": Folder(0, 0, 0, 0, 310, ()),
    # 4 in the Cribl sample, 4 again in the records unwrapped from it
    "cribl-aws-cloudtrail-logs-pack": Folder(8, 8, 0, 0, 498, ("manifest_zyNWSr_real.json",)),
    "otel-collector-contrib-awslogsencoding": Folder(1, 1, 0, 0, 8, ()),
}

NO_KEY_EVENTS = frozenset(
    {"ListAliases", "ListKeys", "GenerateRandom", "ConnectCustomKeyStore", "CreateCustomKeyStore",
     "DeleteCustomKeyStore", "DescribeCustomKeyStores", "DisconnectCustomKeyStore", "UpdateCustomKeyStore"}
)


@dataclass
class Ingested:
    root: Path
    store: Store
    report: IngestReport

    def uri(self, rel: str) -> str:
        return str(self.root / rel)

    def rel(self, uri: str) -> str:
        return os.path.relpath(uri, self.root)


@pytest.fixture(scope="module")
def corpus() -> Iterator[dict[str, Ingested]]:
    root = need_shared(CORPUS)
    out: dict[str, Ingested] = {}
    try:
        for name in FOLDERS:
            folder = need_shared(root / name)
            store = Store()
            out[name] = Ingested(folder, store, ingest([LocalSource((str(folder),))], store, workers=1))
        yield out
    finally:
        for ing in out.values():
            ing.store.close()


def test_every_folder_is_known() -> None:
    root = need_shared(CORPUS)
    assert sorted(p.name for p in root.iterdir() if p.is_dir()) == sorted(FOLDERS)


# ---- accounting: every KMS record is attributed, unattributable with a reason, or names no key --


def _kms_records(ing: Ingested) -> dict[tuple[int, int], dict[str, Any]]:
    """The folder's KMS records by (file_id, record index), as the pipeline numbers them."""
    out = {}
    for file_id, uri in ing.store.query("SELECT file_id, uri FROM files WHERE status = 'ingested'"):
        fr = read_records(Path(uri).read_bytes(), uri)
        for index, rec in fr.candidates:
            if isinstance(rec, Record):  # the fast path's typed record
                rec = msgspec.to_builtins(rec)
            if isinstance(rec, dict) and rec.get("eventSource") == "kms.amazonaws.com":
                out[(file_id, index)] = rec
    return out


@pytest.mark.parametrize("name", FOLDERS)
def test_every_kms_record_is_accounted_for(corpus: dict[str, Ingested], name: str) -> None:
    ing, want = corpus[name], FOLDERS[name]
    r = ing.report
    assert (r.files_error, r.records_rejected, r.errors, r.record_problems) == (0, 0, [], [])
    assert (r.kms_records, r.records) == (want.kms, want.records)

    kms = _kms_records(ing)
    assert len(kms) == want.kms
    attributed = set(ing.store.query("SELECT DISTINCT file_id, rec_index FROM raw_key_use"))
    reasons = dict(
        ((f, i), m) for f, i, m in ing.store.query("SELECT file_id, rec_index, message FROM record_problems WHERE kind = 'unattributed'")
    )
    assert not attributed & set(reasons)
    assert attributed | set(reasons) <= set(kms)
    no_key = set(kms) - attributed - set(reasons)
    assert (len(attributed), len(reasons), len(no_key)) == (want.attributed, want.unattributed, want.no_key)
    assert r.records_unattributed == want.unattributed
    for place in no_key:
        assert kms[place]["eventName"] in NO_KEY_EVENTS, kms[place]
    for place, reason in reasons.items():
        assert reason.startswith(kms[place]["eventName"] + ": "), reason


def test_unattributable_records_say_why(corpus: dict[str, Ingested]) -> None:
    ing = corpus["awsdocs-dynamodb-developer-guide"]
    got = ing.store.query("SELECT rec_index, message FROM record_problems ORDER BY rec_index")
    assert got == [
        (0, "GenerateDataKey: resources[] names no key (its ARN is empty), and keyId is empty"),
        (1, "Decrypt: resources[] names no key (its ARN is empty) and no key in requestParameters: the call names no key"),
        (2, "CreateGrant: resources[] names no key (its ARN is empty), and keyId is empty"),
    ]


@pytest.mark.parametrize("name", FOLDERS)
def test_calls_are_counted_once_per_event_and_shared_event(corpus: dict[str, Ingested], name: str) -> None:
    """Independent of the resolver's SQL: one call per (eventID, eventName, eventTime), and the
    copies of a cross-account call (one sharedEventID) are one call."""
    ing = corpus[name]
    attributed = set(ing.store.query("SELECT DISTINCT file_id, rec_index FROM raw_key_use"))
    calls = set()
    for place, rec in _kms_records(ing).items():
        if place in attributed:
            shared = rec.get("sharedEventID")
            calls.add(("shared", shared) if shared else ("event", rec.get("eventID"), rec["eventName"], rec["eventTime"]))
    (counted,) = ing.store.query("SELECT count(DISTINCT (file_id, rec_index)) FROM key_use")[0]
    assert counted == len(calls)


# ---- which files are read, and as what -----------------------------------------------------


SHAPES = {
    "awsdocs-kms-developer-guide/records.json": "cloudtrail-log",
    "awsdocs-s3-userguide/eventbridge_wrapped.json": "eventbridge",
    "otel-collector-contrib-awslogsencoding/testdata/cloudtrail_log_cw.json": "cloudwatch-logs",
    "otel-collector-contrib-awslogsencoding/testdata/cloudtrail_log.json": "cloudtrail-log",
    "cribl-aws-cloudtrail-logs-pack/original/zyNWSr.json@b49de7fb": "cribl",
    "cribl-aws-cloudtrail-logs-pack/original/BeVTW2.json@807674769": "cribl",
    "cribl-aws-cloudtrail-logs-pack/records_zyNWSr_real.json": "cloudtrail-log",
    "stratus-red-team-detonation-logs/docs/detonation-logs/aws.impact.bedrock-invoke-model.json": "json-array",
}


@pytest.mark.parametrize(("rel", "shape"), SHAPES.items(), ids=list(SHAPES))
def test_shape_detected(corpus: dict[str, Ingested], rel: str, shape: str) -> None:
    folder, _, path = rel.partition("/")
    ing = corpus[folder]
    assert ing.store.query("SELECT status, shape FROM files WHERE uri = ?", [ing.uri(path)]) == [("ingested", shape)]


def test_every_stratus_file_is_a_bare_array(corpus: dict[str, Ingested]) -> None:
    shapes = corpus["stratus-red-team-detonation-logs"].store.query("SELECT DISTINCT status, shape FROM files")
    assert shapes == [("ingested", "json-array")]


def test_envelopes_yield_their_events(corpus: dict[str, Ingested]) -> None:
    s3 = corpus["awsdocs-s3-userguide"]
    assert s3.store.query("SELECT records FROM files WHERE uri = ?", [s3.uri("eventbridge_wrapped.json")]) == [(2,)]
    otel = corpus["otel-collector-contrib-awslogsencoding"]
    assert otel.store.query("SELECT records FROM files WHERE uri = ?", [otel.uri("testdata/cloudtrail_log_cw.json")]) == [(1,)]
    cribl = corpus["cribl-aws-cloudtrail-logs-pack"]
    got = dict(cribl.store.query("SELECT uri, records FROM files WHERE status = 'ingested'"))
    # the 40 Cribl events whose _raw holds {"Records": [...]} (50 bookkeeping events have _raw null),
    # and the 44 events of the newer sample whose _raw is a JSON string
    assert got[cribl.uri("original/zyNWSr.json@b49de7fb")] == got[cribl.uri("records_zyNWSr_real.json")] == 205
    assert got[cribl.uri("original/BeVTW2.json@807674769")] == got[cribl.uri("records_BeVTW2_synthetic.json")] == 44


@pytest.mark.parametrize("name", FOLDERS)
def test_files_that_are_not_cloudtrail_are_skipped_and_others_not_read(corpus: dict[str, Ingested], name: str) -> None:
    ing = corpus[name]
    files = {ing.rel(uri): (status, reason) for uri, status, reason in ing.store.query("SELECT uri, status, reason FROM files")}
    skipped = sorted(rel for rel, (status, _) in files.items() if status == "skipped")
    assert skipped == sorted(FOLDERS[name].skipped)
    for rel in skipped:
        assert files[rel][1].startswith("valid JSON, not CloudTrail"), files[rel]
    assert ing.report.files_skipped == len(skipped)
    # PROVENANCE.md and the raw *.txt blocks are not even opened
    assert not [rel for rel in files if not (rel.endswith(".json") or ".json@" in rel)]
    assert (ing.root / "PROVENANCE.md").exists()


# ---- representative records, checked against their text -----------------------------------


K_USW2 = "arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
K_USW2_B = "arn:aws:kms:us-west-2:111122223333:key/0987dcba-09fe-87dc-65ba-ab0987654321"
ALICE = "arn:aws:iam::111122223333:user/Alice"

Row = tuple[str, str, str, str]  # key, principal, principal type, category

RECORDS: list[tuple[str, str, str, str, str, list[Row], dict[str, Any]]] = [
    # (id, folder, file, eventID, eventName, key_use rows, other columns of the first row)
    ("CreateAlias: admin on the key; the alias ARN typed AWS::KMS::Key is not a key",
     "awsdocs-kms-developer-guide", "records.json", "2dd6e784-8286-46a6-befd-d64e5a02fb28", "CreateAlias",
     [(K_USW2, ALICE, "IAMUser", "admin")], {}),
    ("ReEncrypt without sourceKeyId: decrypt on the other resources[] key, encrypt on the destination",
     "awsdocs-kms-developer-guide", "records.json", "542d9e04-0e8d-4e05-bf4b-4bdeb032e6ec", "ReEncrypt",
     [(K_USW2_B, ALICE, "IAMUser", "encrypt"), (K_USW2, ALICE, "IAMUser", "decrypt")], {}),
    ("Decrypt by an AWSService identity without arn",
     "awsdocs-kms-developer-guide", "records.json", "ea9fd966-98e9-4b7b-b377-6e5a397a71de", "Decrypt",
     [("arn:aws:kms:eu-west-1:111122223333:key/1a2b3c4d-5e6f-1a2b-3c4d-5e6f1a2b3c4d", "workmail.eu-west-1.amazonaws.com",
       "AWSService", "decrypt")], {"source_ip": "workmail.eu-west-1.amazonaws.com"}),
    ("GenerateDataKey by an AssumedRole through S3: the role ARN, via, session, the S3 object",
     "awsdocs-kms-developer-guide", "records.json", "80721262-21a5-49b9-8b63-28740e7ce9c9", "GenerateDataKey",
     [(K_USW2, "arn:aws:iam::111122223333:role/Admins", "AssumedRole", "encrypt")],
     {"via": "internal.amazonaws.com", "session_name": "example-user", "resource_kind": "s3-object",
      "resource_id": "arn:aws:s3:::example_bucket/example_object", "source_ip": "internal.amazonaws.com"}),
    ("cross-account: CloudTrail's role in 086441151436 uses a key of 111122223333",
     "awsdocs-kms-developer-guide", "records.json", "7738554f-92ab-4e27-83e3-03354b1aa898", "GenerateDataKey",
     [(K_USW2, "arn:aws:iam::086441151436:role/AWSCloudTrail", "AssumedRole", "encrypt")],
     {"session_name": "i-34755b85", "identity_account": "086441151436", "recipient_account": "111122223333",
      "key_account": "111122223333"}),
    ("a keyId alias ARN with a space: the key comes from resources[]",
     "awsdocs-kms-developer-guide", "records.json", "3cdb2457-c035-4890-93b6-181832b9e766", "GenerateDataKey",
     [(K_USW2, "arn:aws:iam::086441151436:user/AWSCloudTrail", "IAMUser", "encrypt")], {}),
    ("Decrypt with no keyId and an untyped resources[] entry",
     "awsdocs-kms-developer-guide", "records.json", "9525bee7-5145-42b0-bed5-ab7196a16daa", "Decrypt",
     [(K_USW2, "arn:aws:iam::111122223333:user/cloudtrail-admin", "IAMUser", "decrypt")], {"via": "signin.amazonaws.com"}),
    ("DeleteKey: an AWS-internal event without userIdentity.type, requestParameters null",
     "awsdocs-kms-developer-guide", "records.json", "b25f9cda-74e1-4458-847b-4972a0bf9668", "DeleteKey",
     [(K_USW2, "AWS Internal", "AWSService", "admin")], {"source_ip": "AWS Internal"}),
    ("Decrypt that failed (IncorrectKeyException): denied, once",
     "awsdocs-kms-developer-guide", "records.json", "abcde202-ba1a-467c-b4ba-f729d45ae521", "Decrypt",
     [(K_USW2, ALICE, "IAMUser", "denied"), (K_USW2, ALICE, "IAMUser", "decrypt")], {}),
    ("Decrypt by EC2's infrastructure role for an EBS volume",
     "awsdocs-kms-developer-guide", "records.json", "edb65380-0a3e-4123-bbc8-3d1b7cff49b0", "Decrypt",
     [(K_USW2, "arn:aws:iam::111122223333:role/aws:ec2-infrastructure", "AssumedRole", "decrypt")],
     {"resource_kind": "ebs-volume", "resource_id": "vol-f67bafb2"}),
    ("keyId alias/aws/ebs and the '&AWS; Internal' placeholder: the key from resources[], the text kept",
     "awsdocs-kms-developer-guide", "records.json", "4bd2a696-d833-48cc-b72c-05e61b608399", "GenerateDataKeyWithoutPlaintext",
     [(K_USW2, ALICE, "IAMUser", "encrypt")], {"user_agent": "&AWS; Internal", "key_ref": K_USW2}),
    ("a multi-Region key (mrk-) named only by keyId (no resources[])",
     "awsdocs-kms-developer-guide", "records.json", "091e6be5-737f-43c6-8431-e3679d6d0619", "UpdatePrimaryRegion",
     [("arn:aws:kms:ap-northeast-1:111122223333:key/mrk-1234abcd12ab34cd56ef1234567890ab", ALICE, "IAMUser", "admin")],
     {"via": "kms.amazonaws.com"}),
    ("DynamoDB's service principal, with a sharedEventID, on a table",
     "awsdocs-kms-developer-guide", "records_historical.json", "e3c436e9-ebca-494e-9457-8123a1f5e979", "GenerateDataKey",
     [(K_USW2, "dynamodb.amazonaws.com", "AWSService", "encrypt")],
     {"resource_kind": "dynamodb-table", "resource_id": "Services", "shared_event_id": "bf915fa6-6ceb-4659-8912-e36b69846aad"}),
    ("Secrets Manager on behalf of a role session labelled IAMUser: the role",
     "awsdocs-secrets-manager-user-guide", "records.json", "af7476b6-62d7-42c2-bc02-5ce86c21ed36", "GenerateDataKey",
     [("arn:aws:kms:us-east-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab", "arn:aws:iam::111122223333:role/Admin",
       "IAMUser", "encrypt")],
     {"via": "secretsmanager.amazonaws.com", "session_name": "user01", "resource_kind": "secret",
      "resource_id": "arn:aws:secretsmanager:us-east-2:111122223333:secret:test-secret-a1b2c3"}),
    ("Cribl-wrapped, scalars stringified: Control Tower's Lambda role (account left in its ARN)",
     "cribl-aws-cloudtrail-logs-pack", "original/zyNWSr.json@b49de7fb", "5156b606-a041-40e3-acc5-0a21f512c0de", "Decrypt",
     [("arn:aws:kms:us-west-2:123456789122:key/4adfbef9-cf17-4865-a710-2bb46e6efc92",
       "arn:aws:iam::650992545562:role/aws-controltower-ForwardSnsNotificationRole", "AssumedRole", "decrypt")],
     {"resource_kind": "lambda-function", "session_name": "aws-controltower-NotificationForwarder",
      "resource_id": "arn:aws:lambda:us-west-2:123456789122:function:aws-controltower-NotificationForwarder"}),
    ("RotateKey in the CloudTrail guide",
     "awsdocs-cloudtrail-user-guide", "records.json", "234f004b-EXAMPLE", "RotateKey",
     [("arn:aws:kms:us-east-2:123456789012:key/7944f0ec-EXAMPLE", "AWS Internal", "AWSService", "admin")], {}),
    ("RotateKey in a log file with irregular commas (otel)",
     "otel-collector-contrib-awslogsencoding", "testdata/cloudtrail_log.json", "a24b3967-ddad-417f-9b22-2332b918db06", "RotateKey",
     [(K_USW2, "AWS Internal", "AWSService", "admin")], {}),
]


@pytest.mark.parametrize(
    ("folder", "file", "event_id", "event_name", "expected", "extra"), [r[1:] for r in RECORDS], ids=[r[0] for r in RECORDS]
)
def test_record_attribution(
    corpus: dict[str, Ingested], folder: str, file: str, event_id: str, event_name: str, expected: list[Row],
    extra: dict[str, Any],
) -> None:
    ing = corpus[folder]
    (file_id,) = ing.store.query("SELECT file_id FROM files WHERE uri = ?", [ing.uri(file)])[0]
    cols = ["key", "principal", "principal_type", "category", *extra]
    rows = ing.store.query(
        f"SELECT {', '.join(cols)} FROM key_use WHERE file_id = ? AND event_id = ? AND event_name = ? "  # noqa: S608
        "ORDER BY category DESC, key",
        [file_id, event_id, event_name],
    )
    assert [r[:4] for r in rows] == expected
    assert dict(zip(extra, rows[0][4:], strict=True)) == extra


def test_alias_events_make_the_alias_history(corpus: dict[str, Ingested]) -> None:
    got = corpus["awsdocs-kms-developer-guide"].store.query(
        "SELECT DISTINCT alias_arn, strftime(to_timestamp(event_time), '%Y-%m-%dT%H:%M:%SZ'), target_key, event_name "
        "FROM alias_history WHERE alias_arn LIKE '%us-west-2%' ORDER BY 2"
    )
    assert got == [
        ("arn:aws:kms:us-west-2:111122223333:alias/my_alias", "2020-11-13T23:18:15Z", K_USW2, "UpdateAlias"),
        ("arn:aws:kms:us-west-2:111122223333:alias/ExampleAlias", "2022-08-14T23:08:31Z", K_USW2, "CreateAlias"),
    ]


def test_cribl_copies_of_the_same_records_count_once(corpus: dict[str, Ingested]) -> None:
    (row,) = usage(corpus["cribl-aws-cloudtrail-logs-pack"].store)
    assert (row.principal, row.decrypt, row.first_seen, row.last_seen) == (
        "arn:aws:iam::650992545562:role/aws-controltower-ForwardSnsNotificationRole", 4, "2022-01-03T19:03:25Z",
        "2022-01-03T19:29:05Z")


def test_event_id_reuse_in_the_kms_guide_is_counted_apart_and_reported(corpus: dict[str, Ingested]) -> None:
    store = corpus["awsdocs-kms-developer-guide"].store
    clashes = {c.event_id: c for c in event_id_clashes(store)}
    # ScheduleKeyDeletion and UpdatePrimaryRegion examples share one eventID: both counted
    c = clashes["3c4226b0-1e81-48a8-a333-7fa5f3cbd118"]
    assert c.kind == DIFFERENT_EVENTS and "UpdatePrimaryRegion 2021-03-10T20:23:37Z" in c.events
    c = clashes["abcde202-ba1a-467c-b4ba-f729d45ae521"]
    assert (c.kind, c.calls) == (DIFFERENT_EVENTS, 4)
    assert store.query(
        "SELECT count(DISTINCT (event_name, event_time)) FROM key_use WHERE event_id = 'abcde202-ba1a-467c-b4ba-f729d45ae521'"
    ) == [(4,)]
    # one eventID for a Decrypt that succeeded and one that failed in the same second: one call, reported
    assert clashes["b79603d5-4cde-46fc-819c-a7cf547b9df4"].kind == CONFLICTING_COPIES
    # the older VerifyMac revision with the &ExampleAWSAccountNo1; placeholder: the same call, another caller
    assert clashes["6b464487-6dea-44cd-84ad-225d7450c975"].kind == CONFLICTING_COPIES


def test_every_event_version_from_1_0_to_1_11_is_read(corpus: dict[str, Ingested]) -> None:
    versions: set[str] = set()
    for ing in corpus.values():
        for (uri,) in ing.store.query("SELECT uri FROM files WHERE status = 'ingested'"):
            for _, v in _versions(Path(uri).read_bytes(), uri):
                versions.add(v)
    assert {"1.0", "1.02", "1.03", "1.04", "1.05", "1.06", "1.07", "1.08", "1.09", "1.10", "1.11"} <= versions


def _versions(data: bytes, uri: str) -> list[tuple[int, str]]:
    """eventVersion of every record (read_records decodes only KMS candidates from log files)."""
    try:
        doc = json.loads(data)
    except ValueError:
        return []
    found: list[tuple[int, str]] = []

    def walk(v: Any) -> None:
        if isinstance(v, dict):
            if isinstance(v.get("eventVersion"), str):
                found.append((len(found), v["eventVersion"]))
            for x in v.values():
                walk(json.loads(x) if isinstance(x, str) and x.startswith("{") else x)
        elif isinstance(v, list):
            for x in v:
                walk(x)

    walk(doc)
    return found


def test_whole_corpus_in_one_run_with_workers(tmp_path: Path) -> None:
    """Every folder at once, through the worker pool: nothing stops the run, totals add up."""
    root = need_shared(CORPUS)
    with Store(str(tmp_path / "corpus.duckdb")) as store:
        report = ingest([LocalSource((str(root),))], store, workers=2)
        assert (report.files_error, report.records_rejected) == (0, 0)
        assert report.kms_records == sum(f.kms for f in FOLDERS.values())
        assert report.records == sum(f.records for f in FOLDERS.values())
        assert report.records_unattributed == sum(f.unattributed for f in FOLDERS.values())
        assert report.files_skipped == sum(len(f.skipped) for f in FOLDERS.values())


def test_read_records_never_fails_on_a_corpus_file() -> None:
    root = need_shared(CORPUS)
    for path in sorted(root.rglob("*")):
        if path.is_file() and (path.suffix == ".json" or ".json@" in path.name):
            try:
                read_records(path.read_bytes(), str(path))
            except NotCloudTrail:
                assert path.name.startswith("manifest") or path.name == "fragments.json", path


def test_credentials_issued_with_java_style_dates_in_the_response(corpus: dict[str, Ingested]) -> None:
    """Cribl's AssumeRole records: responseElements.credentials.expiration is 'Jan 3, 2022 8:03:06 PM'."""
    got = corpus["cribl-aws-cloudtrail-logs-pack"].store.query(
        "SELECT DISTINCT strftime(to_timestamp(event_time), '%Y-%m-%dT%H:%M:%SZ'), role_arn, session_name, caller, caller_type "
        "FROM credentials WHERE access_key_id = 'AUDKSPQUE12DKWDIWPIF'"
    )
    assert got == [("2022-01-03T19:03:06Z", "arn:aws:iam::123456789122:role/aws-controltower-ConfigRecorderRole",
                    "AWSConfig-Describe", "config.amazonaws.com", "AWSService")]
