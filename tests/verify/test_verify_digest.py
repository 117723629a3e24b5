"""The digest format: the AWS documentation's sample digest, the signing string, key helpers."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import orjson
import pytest

from keytrail.verify.digest import (
    DigestFormatError,
    archive_key,
    area_of,
    chain_of,
    is_backfill,
    key_time,
    log_time,
    match_key,
    parse_digest,
)

# The sample digest of the CloudTrail User Guide ("CloudTrail digest file structure").
SAMPLE = {
    "awsAccountId": "111122223333",
    "digestStartTime": "2015-08-17T14:01:31Z",
    "digestEndTime": "2015-08-17T15:01:31Z",
    "digestS3Bucket": "S3-bucket-name",
    "digestS3Object": "AWSLogs/111122223333/CloudTrail-Digest/us-east-2/2015/08/17/"
    "111122223333_CloudTrail-Digest_us-east-2_your-trail-name_us-east-2_20150817T150131Z.json.gz",
    "digestPublicKeyFingerprint": "31e8b5433410dfb61a9dc45cc65b22ff",
    "digestSignatureAlgorithm": "SHA256withRSA",
    "newestEventTime": "2015-08-17T14:52:27Z",
    "oldestEventTime": "2015-08-17T14:42:27Z",
    "previousDigestS3Bucket": "S3-bucket-name",
    "previousDigestS3Object": "AWSLogs/111122223333/CloudTrail-Digest/us-east-2/2015/08/17/"
    "111122223333_CloudTrail-Digest_us-east-2_your-trail-name_us-east-2_20150817T140131Z.json.gz",
    "previousDigestHashValue": "97fb791cf91ffc440d274f8190dbdd9aa09c34432aba82739df18b6d3c13df2d",
    "previousDigestHashAlgorithm": "SHA-256",
    "previousDigestSignature": "50887ccffad4c002b97caa37cc9dc626e3c680207d41d27fa5835458e066e0d3",
    "logFiles": [
        {
            "s3Bucket": "S3-bucket-name",
            "s3Object": "AWSLogs/111122223333/CloudTrail/us-east-2/2015/08/17/"
            "111122223333_CloudTrail_us-east-2_20150817T1445Z_9nYN7gp2eWAJHIfT.json.gz",
            "hashValue": "9bb6196fc6b84d6f075a56548feca262bd99ba3c2de41b618e5b6e22c1fc71f6",
            "hashAlgorithm": "SHA-256",
            "newestEventTime": "2015-08-17T14:52:27Z",
            "oldestEventTime": "2015-08-17T14:42:27Z",
        }
    ],
}


def test_the_documented_sample_parses() -> None:
    content = orjson.dumps(SAMPLE)
    d = parse_digest(content)
    assert d.sha256 == hashlib.sha256(content).hexdigest()
    assert d.end == datetime(2015, 8, 17, 15, 1, 31, tzinfo=UTC)
    assert d.fingerprint == "31e8b5433410dfb61a9dc45cc65b22ff"
    assert d.previous is not None
    assert d.previous.key == SAMPLE["previousDigestS3Object"]
    assert d.previous.hash_value == SAMPLE["previousDigestHashValue"]
    assert [r.key for r in d.log_files] == [SAMPLE["logFiles"][0]["s3Object"]]  # type: ignore[index]


def test_the_signing_string_is_the_documented_one() -> None:
    content = orjson.dumps(SAMPLE)
    d = parse_digest(content)
    assert d.signing_string() == (
        "2015-08-17T15:01:31Z\n"
        f"S3-bucket-name/{SAMPLE['digestS3Object']}\n"
        f"{hashlib.sha256(content).hexdigest()}\n"
        "50887ccffad4c002b97caa37cc9dc626e3c680207d41d27fa5835458e066e0d3"
    ).encode()


def test_a_starting_digest_signs_null_as_previous_signature() -> None:
    start = dict(SAMPLE, **{name: None for name in (
        "previousDigestS3Bucket", "previousDigestS3Object", "previousDigestHashValue",
        "previousDigestHashAlgorithm", "previousDigestSignature")})
    d = parse_digest(orjson.dumps(start))
    assert d.previous is None
    assert d.signing_string().endswith(b"\nnull")


def test_an_empty_digest_has_no_log_files() -> None:
    assert parse_digest(orjson.dumps(dict(SAMPLE, logFiles=[], newestEventTime=None))).log_files == ()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"digestEndTime": None}, "missing or empty field(s): digestEndTime"),
        ({"digestSignatureAlgorithm": "SHA1withRSA"}, "unsupported digestSignatureAlgorithm 'SHA1withRSA'"),
        ({"previousDigestSignature": None}, "previous-digest fields only partly set: previousDigestSignature missing"),
        ({"previousDigestHashAlgorithm": "MD5"}, "unsupported previousDigestHashAlgorithm 'MD5'"),
        ({"digestEndTime": "yesterday"}, "digestEndTime is not a timestamp: 'yesterday'"),
        ({"logFiles": [{"s3Bucket": "b", "s3Object": "k", "hashValue": "00", "hashAlgorithm": "MD5"}]},
         "logFiles[0]: unsupported hashAlgorithm 'MD5'"),
        ({"logFiles": [{"s3Bucket": "b"}]}, "logFiles[0]: missing or empty field(s): s3Object, hashValue, hashAlgorithm"),
        ({"logFiles": {}}, "missing or empty field(s): logFiles"),
    ],
)
def test_malformed_digests_are_named(change: dict[str, object], message: str) -> None:
    with pytest.raises(DigestFormatError) as e:
        parse_digest(orjson.dumps(dict(SAMPLE, **change)))
    assert str(e.value) == message


def test_not_json_and_not_an_object() -> None:
    with pytest.raises(DigestFormatError, match="not JSON"):
        parse_digest(b"{")
    with pytest.raises(DigestFormatError, match="not a JSON object"):
        parse_digest(b"[]")


def test_keys_are_matched_from_awslogs_onward() -> None:
    key = "AWSLogs/o-abc/111/CloudTrail/us-east-1/2026/01/05/f.json.gz"
    assert archive_key(f"/data/copy/prefix/{key}") == key
    assert archive_key(f"logs/AWSLogs/old/{key}") == key  # the last AWSLogs component counts
    assert archive_key("C:\\archive\\AWSLogs\\111\\CloudTrail\\f.json.gz") == "AWSLogs/111/CloudTrail/f.json.gz"
    assert archive_key("/data/notes.json") is None
    assert match_key("a/b.json.gz") == match_key("a/b.json") == "a/b.json"
    assert area_of(key) == ("AWSLogs/o-abc/111", "us-east-1")
    assert area_of("AWSLogs/111/CloudTrail-Digest/eu-west-1/2026/01/05/d.json.gz") == ("AWSLogs/111", "eu-west-1")
    assert area_of("AWSLogs/111/extra.json") is None


def test_digest_names_give_trail_and_time() -> None:
    a = "AWSLogs/111/CloudTrail-Digest/us-east-1/2026/01/05/111_CloudTrail-Digest_us-east-1_my_trail_us-east-1_20260105T110031Z.json.gz"
    b = "AWSLogs/111/CloudTrail-Digest/us-east-1/2026/01/06/111_CloudTrail-Digest_us-east-1_my_trail_us-east-1_20260106T000031Z_backfill.json.gz"
    assert chain_of(a) == chain_of(b) == "AWSLogs/111/us-east-1/111_CloudTrail-Digest_us-east-1_my_trail_us-east-1"
    assert key_time(a) == datetime(2026, 1, 5, 11, 0, 31, tzinfo=UTC)
    assert not is_backfill(a) and is_backfill(b)
    assert log_time("AWSLogs/111/CloudTrail/us-east-1/2026/01/05/111_CloudTrail_us-east-1_20260105T1020Z_abc.json.gz") == \
        datetime(2026, 1, 5, 10, 20, tzinfo=UTC)
    assert log_time("AWSLogs/111/CloudTrail/us-east-1/2026/01/05/odd-name.json.gz") is None
