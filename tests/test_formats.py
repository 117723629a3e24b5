"""Recognising a file's shape from its content (fixtures made here; the published corpus is in
test_corpus.py): what is read, what is skipped as not CloudTrail, what is an error."""

from __future__ import annotations

import gzip
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keytrail.decode import FileRecords, NotCloudTrail, read_records
from keytrail.decode.record import Record
from keytrail.errors import SourceReadError
from tests import factory as fx
from tests.factory import KEY_A, kms, non_kms, user

DECRYPT = kms("Decrypt", user("alice"), KEY_A, None, time="2026-10-01T12:00:00Z")
OTHER_EVENT = non_kms("PutObject")
TWO = [DECRYPT, OTHER_EVENT]


def read(data: bytes, uri: str = "f.json") -> FileRecords:
    return read_records(data, uri)


def event_ids(fr: FileRecords) -> list[object]:
    """The eventIDs of the records handed to the normaliser (typed on the fast path, parsed otherwise)."""
    return [r.eventID if isinstance(r, Record) else r["eventID"] for _, r in fr.candidates if isinstance(r, (dict, Record))]


# ---- shapes that are read ------------------------------------------------------------------

SHAPES: list[tuple[str, bytes, str, int]] = [
    ("CloudTrail log file", fx.log_file(TWO), "cloudtrail-log", 2),
    ("gzipped log file", gzip.compress(fx.log_file(TWO)), "cloudtrail-log", 2),
    ("pretty-printed log file", json.dumps({"Records": TWO}, indent=2).encode(), "cloudtrail-log", 2),
    ("empty log file", b'{"Records": []}', "cloudtrail-log", 0),
    ("one event", json.dumps(DECRYPT).encode(), "single-event", 1),
    ("bare JSON array (stratus)", json.dumps(TWO).encode(), "json-array", 2),
    ("NDJSON", fx.ndjson(TWO), "ndjson", 2),
    ("NDJSON with CRLF and blank lines", b"\r\n".join(json.dumps(r).encode() for r in TWO) + b"\r\n\r\n", "ndjson", 2),
    ("aws cloudtrail lookup-events output", fx.lookup_events_output(TWO), "lookup-events", 2),
    ("one EventBridge event", json.dumps(fx.eventbridge(DECRYPT)).encode(), "eventbridge", 1),
    ("EventBridge events in an array", json.dumps([fx.eventbridge(r) for r in TWO]).encode(), "eventbridge", 2),
    ("EventBridge events as NDJSON", fx.ndjson([fx.eventbridge(r) for r in TWO]), "ndjson", 2),
    ("CloudWatch Logs subscription", fx.cloudwatch_logs(TWO), "cloudwatch-logs", 2),
    ("Cribl events", fx.cribl(TWO), "cribl", 2),
    ("Cribl events, _raw as a JSON string", json.dumps([{"_raw": json.dumps({"Records": TWO})}]).encode(), "cribl", 2),
    ("an event under 'event'", json.dumps({"event": DECRYPT, "source_file": "x.md"}).encode(), "wrapped-event", 1),
    ("UTF-8 byte order mark", b"\xef\xbb\xbf" + json.dumps(TWO).encode(), "json-array", 2),
]


@pytest.mark.parametrize(("data", "shape", "total"), [s[1:] for s in SHAPES], ids=[s[0] for s in SHAPES])
def test_shapes_that_are_read(data: bytes, shape: str, total: int) -> None:
    fr = read(data)
    assert (fr.shape, fr.total, fr.problems) == (shape, total, [])
    # the KMS call is always among the candidates, with its own fields
    assert DECRYPT["eventID"] in event_ids(fr) or total == 0


# ---- valid JSON that is not CloudTrail: skipped, with the reason ---------------------------

NOT_CLOUDTRAIL: list[tuple[str, bytes, str]] = [
    ("S3 event notification", fx.s3_event_notification(), "valid JSON, not CloudTrail: Records of 'aws:s3' events"),
    ("DynamoDB Streams records", fx.dynamodb_stream_records(), "valid JSON, not CloudTrail: Records of 'aws:dynamodb' events"),
    ("digest file", fx.digest_file(), "CloudTrail digest file"),
    ("gzipped digest file", gzip.compress(fx.digest_file()), "CloudTrail digest file"),
    ("an archive's truth.json", fx.truth_json(), "valid JSON, not CloudTrail (top-level keys: customer_keys, keys)"),
    ("keytrail usage --format json", fx.usage_output(), "valid JSON, not CloudTrail: an array without CloudTrail events"),
    ("a number", b"42", "valid JSON, not CloudTrail: a top-level int"),
    ("an empty object", b"{}", "valid JSON, not CloudTrail (top-level keys: none)"),
]


@pytest.mark.parametrize(("data", "reason"), [s[1:] for s in NOT_CLOUDTRAIL], ids=[s[0] for s in NOT_CLOUDTRAIL])
def test_valid_json_that_is_not_cloudtrail_is_skipped(data: bytes, reason: str) -> None:
    with pytest.raises(NotCloudTrail) as e:
        read(data)
    assert e.value.reason == reason


# ---- errors: files that should be CloudTrail and cannot be read ----------------------------


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (gzip.compress(fx.log_file(TWO))[:60], "truncated gzip (compressed stream ends early)"),
        (b"", "empty file"),
        (b"  \n\t ", "empty file"),
        (b'{"Records": [', "not valid JSON (Expecting value)"),
        (b'{"Records": {"eventSource": "kms.amazonaws.com"}}', "'Records' is an object, not an array of events"),
        (b'{"Records": null}', "'Records' is null, not an array of events"),
    ],
)
def test_unreadable_files_raise_with_the_reason(data: bytes, reason: str) -> None:
    with pytest.raises(SourceReadError) as e:
        read(data, "AWSLogs/x.json.gz")
    assert (e.value.uri, e.value.reason) == ("AWSLogs/x.json.gz", reason)


def test_garbage_after_a_gzip_magic_number() -> None:
    with pytest.raises(SourceReadError) as e:
        read(b"\x1f\x8bnot gzip at all")
    assert e.value.reason.startswith("not a readable gzip stream")


# ---- single bad records: named with their index, the rest read -----------------------------


def test_ndjson_bad_line_is_named_and_the_rest_read() -> None:
    data = fx.ndjson([DECRYPT]) + b'{"eventSource": "kms.amazonaws.com", broken\n' + b'{"not": "an event"}\n' + fx.ndjson(
        [OTHER_EVENT])
    fr = read(data)
    assert fr.shape == "ndjson" and fr.total == 4
    assert [m for _, m in fr.problems] == ["line 2: not valid JSON (Expecting property name enclosed in double quotes)",
                                           "line 3: not a CloudTrail event"]
    assert event_ids(fr) == [DECRYPT["eventID"], OTHER_EVENT["eventID"]]


def test_nan_rejects_only_the_record_holding_it() -> None:
    bad = json.dumps(DECRYPT).replace('"readOnly": true', '"readOnly": NaN')
    data = ('{"Records": [' + bad + ", " + json.dumps(OTHER_EVENT) + "]}").encode()
    fr = read(data)
    assert (fr.shape, fr.total, fr.problems) == ("cloudtrail-log", 2, [(0, "NaN or Infinity is not valid JSON")])
    assert event_ids(fr) == [OTHER_EVENT["eventID"]]


def test_invalid_utf8_rejects_only_the_record_holding_it() -> None:
    bad = json.dumps(DECRYPT).encode().replace(b"aws-cli/2.17.20", b"aws-cli/\xff\xfe")
    data = b'{"Records": [' + json.dumps(OTHER_EVENT).encode() + b", " + bad + b"]}"
    fr = read(data)
    assert fr.problems == [(1, "holds bytes that are not UTF-8")]
    assert event_ids(fr) == [OTHER_EVENT["eventID"]]


def test_invalid_utf8_in_other_shapes_rejects_only_the_record_holding_it() -> None:
    bad = json.dumps(DECRYPT).encode().replace(b"aws-cli/2.17.20", b"aws-cli/\xff\xfe")
    fr = read(fx.ndjson([OTHER_EVENT]) + bad + b"\n")
    assert fr.problems == [(1, "holds bytes that are not UTF-8")]
    assert event_ids(fr) == [OTHER_EVENT["eventID"]]


def test_a_record_that_is_not_an_object_is_passed_on_to_be_rejected() -> None:
    fr = read(b'{"Records": [1, ' + json.dumps(DECRYPT).encode() + b"]}")
    assert fr.total == 2
    assert [i for i, _ in fr.candidates if not isinstance(_, dict)] == [0]


def test_cloudwatch_message_that_is_not_json_is_a_problem() -> None:
    doc: dict[str, Any] = json.loads(fx.cloudwatch_logs([DECRYPT]))
    doc["logEvents"].append({"id": "9", "timestamp": 1, "message": "START RequestId: abc"})
    fr = read(json.dumps(doc).encode())
    assert fr.shape == "cloudwatch-logs" and fr.total == 2
    assert fr.problems == [(1, "message holds a string that is not JSON")]


def test_only_records_that_may_be_kms_calls_are_decoded_from_log_files() -> None:
    fr = read(fx.log_file([OTHER_EVENT, DECRYPT, OTHER_EVENT]))
    assert fr.total == 3 and [i for i, _ in fr.candidates] == [1]


# ---- a file is judged by its records, not by its first one ------------------------------------

FOREIGN = {"eventVersion": "1.0", "eventSource": "audit.example.com", "eventName": "Login",
           "eventTime": "2026-10-01T11:59:00Z"}
NAN_RECORD = b'{"eventSource": "kms.amazonaws.com", "eventName": "Decrypt", "eventTime": NaN}'


def kms_ids(fr: FileRecords) -> list[object]:
    """The eventIDs of the KMS calls among the records handed to the normaliser."""
    out = []
    for _, r in fr.candidates:
        if isinstance(r, Record) and r.eventSource == "kms.amazonaws.com":
            out.append(r.eventID)
        elif isinstance(r, dict) and r.get("eventSource") == "kms.amazonaws.com" and "eventID" in r:
            out.append(r["eventID"])
    return out


def _records_file(records: list[object], extra: bytes = b"") -> bytes:
    body = b", ".join(json.dumps(r).encode() for r in records)
    return b'{"Records": [' + body + (b", " + extra if extra else b"") + b"]}"


@pytest.mark.parametrize("path", ["fast", "tolerant", "record by record"])
def test_aws_events_after_a_foreign_first_record_are_read(path: str) -> None:
    """The fast path, the tolerant path (a NaN elsewhere) and the record-by-record path (a record
    nested too deeply to parse whole) all read the KMS call behind a first record of another source."""
    records: list[object] = [FOREIGN, DECRYPT, OTHER_EVENT]
    extra = {"fast": b"", "tolerant": NAN_RECORD, "record by record": b"[" * 100_000 + b"]" * 100_000}[path]
    fr = read(_records_file(records, extra))
    assert fr.shape == "cloudtrail-log"
    assert kms_ids(fr) == [DECRYPT["eventID"]]
    assert fr.total == 3 + bool(extra)


@pytest.mark.parametrize("path", ["fast", "tolerant", "record by record"])
def test_a_records_file_with_no_aws_event_is_not_cloudtrail(path: str) -> None:
    extra = {"fast": b"", "tolerant": b'{"eventSource": "x.example.com", "n": NaN}',
             "record by record": b"[" * 100_000 + b"]" * 100_000}[path]
    with pytest.raises(NotCloudTrail) as e:
        read(_records_file([FOREIGN, {**FOREIGN, "eventName": "Logout"}], extra))
    assert e.value.reason == "valid JSON, not CloudTrail: Records of 'audit.example.com' events"


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(["foreign", "kms", "other"]), min_size=1, max_size=8))
def test_every_kms_call_of_a_records_file_is_read_whatever_comes_first(kinds: list[str]) -> None:
    by_kind = {"foreign": FOREIGN, "other": OTHER_EVENT}
    records = [kms("Decrypt", user("alice"), KEY_A, None, time="2026-10-01T12:00:00Z", eid=f"e{i}")
               if k == "kms" else by_kind[k] for i, k in enumerate(kinds)]
    data = fx.log_file(records)
    if all(k == "foreign" for k in kinds):
        with pytest.raises(NotCloudTrail):
            read(data)
        return
    assert kms_ids(read(data)) == [f"e{i}" for i, k in enumerate(kinds) if k == "kms"]
    assert kms_ids(read(_records_file(records, NAN_RECORD))) == kms_ids(read(data))


def test_a_field_name_that_is_not_utf8_is_left_out_of_the_typed_record() -> None:
    """The tolerant reader keeps bytes that are not UTF-8 as lone surrogates; msgspec cannot encode
    such a key, and the record is then read field by field (found by tests/hostile/test_fuzz.py)."""
    from keytrail.decode.record import record_from_dict

    value = {"eventSource": "kms.amazonaws.com", "eventName": "Decrypt",
             "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/a", "\udcff": "x"},
             "requestParameters": {"\udcfe": 1, "keyId": "alias/x"}}  # fmt: skip
    record, problem = record_from_dict(value)
    assert problem is None
    assert record.userIdentity is not None and record.userIdentity.arn == "arn:aws:iam::111122223333:user/a"
    assert record.requestParameters is not None and record.requestParameters.keyId == "alias/x"
