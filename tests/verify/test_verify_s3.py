"""s3:// sources (moto): the newest digest's signature comes from its object metadata."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson
import pytest

from keytrail.errors import SourceReadError
from keytrail.sources import FileSource
from keytrail.verify import PublicKey, verify_archive
from tests.factory.signed import START, BuiltArchive, log_record

moto = pytest.importorskip("moto", reason="moto is needed for the S3 tests (pip install 'keytrail[test]')")
boto3 = pytest.importorskip("boto3")


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with moto.mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="example-trail-bucket")
        yield client


def upload(client: Any, built: BuiltArchive, prefix: str = "") -> None:
    """The archive as CloudTrail delivers it: digests carry their signature as object metadata."""
    for path in built.logs:
        client.put_object(Bucket=built.bucket, Key=prefix + path.relative_to(built.root).as_posix(), Body=path.read_bytes())
    for path in built.digests:
        client.put_object(Bucket=built.bucket, Key=prefix + path.relative_to(built.root).as_posix(), Body=path.read_bytes(),
                          Metadata={"signature": built.signatures[path], "signature-algorithm": "SHA256withRSA"})


def test_everything_verifies_from_s3(s3: Any, archive: BuiltArchive, keys: tuple[PublicKey, ...]) -> None:
    upload(s3, archive)
    report = verify_archive(["s3://example-trail-bucket/AWSLogs/"], keys, s3_client=s3)
    assert report.ok and report.findings == []
    assert len(report.digests) == 3 and len(report.logs) == 6
    assert {r.status for r in report.digests + report.logs} == {"verified"}
    assert report.digests[0].uri.startswith("s3://example-trail-bucket/AWSLogs/111122223333/CloudTrail-Digest/")


def test_a_changed_object_is_detected(s3: Any, archive: BuiltArchive, keys: tuple[PublicKey, ...]) -> None:
    upload(s3, archive)
    key = archive.logs[1].relative_to(archive.root).as_posix()
    s3.put_object(Bucket="example-trail-bucket", Key=key, Body=archive.logs[0].read_bytes())
    report = verify_archive(["s3://example-trail-bucket"], keys, s3_client=s3)
    assert [(f.kind, f.uri) for f in report.findings] == [("log-modified", f"s3://example-trail-bucket/{key}")]


def test_a_digest_copied_to_another_bucket_is_not_where_it_was_delivered(
    s3: Any, archive: BuiltArchive, keys: tuple[PublicKey, ...]
) -> None:
    s3.create_bucket(Bucket="copy-bucket")
    archive.bucket = "copy-bucket"
    upload(s3, archive)
    report = verify_archive(["s3://copy-bucket/"], keys, s3_client=s3)
    assert {f.kind for f in report.findings} == {"digest-moved"}


def test_a_missing_bucket_is_unreadable(s3: Any, keys: tuple[PublicKey, ...]) -> None:
    report = verify_archive(["s3://no-such-bucket/AWSLogs/"], keys, s3_client=s3)
    assert report.unreadable and not report.failed
    assert report.findings[0].uri == "s3://no-such-bucket/AWSLogs/"
    assert report.findings[0].message.startswith("cannot list: An error occurred (NoSuchBucket)")


def test_local_and_s3_sources_together(s3: Any, archive: BuiltArchive, keys: tuple[PublicKey, ...], tmp_path: Path) -> None:
    upload(s3, archive)
    report = verify_archive([str(archive.root), "s3://example-trail-bucket/"], keys, s3_client=s3)
    assert report.ok and len(report.digests) == 6 and len(report.logs) == 12


def test_the_gate_passes_only_verified_objects(s3: Any, archive: BuiltArchive, keys: tuple[PublicKey, ...]) -> None:
    from keytrail.sources.s3 import S3Source
    from keytrail.verify.gate import CHANGED, Gate

    upload(s3, archive)
    forged = ("AWSLogs/111122223333/CloudTrail/us-east-1/2026/01/05/"
              "111122223333_CloudTrail_us-east-1_20991231T2359Z_FORGEDFORGED0000.json")
    body = orjson.dumps({"Records": [log_record("111122223333", "us-east-1", START, 7, user="alice")]})
    s3.put_object(Bucket="example-trail-bucket", Key=forged, Body=body)
    gate = Gate(verify_archive(["s3://example-trail-bucket/"], keys, s3_client=s3), "exclude")
    assert [(f.uri, f.status) for f in gate.left_out] == [(f"s3://example-trail-bucket/{forged}", "failed")]
    (source,) = gate.wrap([S3Source("example-trail-bucket")])
    assert isinstance(source, FileSource)
    refs = [r for r in source.files() if r.skip_reason is None]
    assert len(refs) == 6 and all(r.verified for r in refs) and gate.excluded_at_ingest() == []
    assert source.read(refs[0]) == archive.logs[0].read_bytes()
    # replaced after verification (the ETag check aside: the bytes are checked too)
    s3.put_object(Bucket="example-trail-bucket", Key=refs[1].uri.removeprefix("s3://example-trail-bucket/"),
                  Body=archive.logs[0].read_bytes())
    with pytest.raises(SourceReadError) as e:
        source.read(replace(refs[1], version=""))
    assert e.value.reason == CHANGED
