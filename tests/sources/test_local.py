"""LocalSource: which files a directory walk yields, and how the pipeline treats each kind of file
keytrail may meet next to CloudTrail logs (fixtures made here)."""

from __future__ import annotations

import gzip
import io
import os
import sys
from pathlib import Path

import pytest

from keytrail.errors import SourceReadError
from keytrail.pipeline import ingest
from keytrail.sources import FileRef
from keytrail.sources.local import LocalSource
from keytrail.store import Store
from tests import factory as fx
from tests.factory import ACCOUNT, KEY_A, KEY_B, kms, non_kms, user

DECRYPT = kms("Decrypt", user("alice"), KEY_A, None, time="2026-10-01T12:00:00Z")
ENCRYPT = kms("Encrypt", user("bob"), KEY_B, {"keyId": KEY_B}, time="2026-10-01T12:01:00Z")


def names(source: LocalSource, root: Path) -> list[str]:
    """The files a source lists to read (not those it found again under another path)."""
    return [os.path.relpath(ref.uri, root) for ref in source.files() if not ref.duplicate]


def test_directory_walk_finds_log_files_recursively_in_order(tmp_path: Path) -> None:
    for rel in ("b/2.json.gz", "a/1.json", "a/3.JSONL", "c/4.ndjson", "c/5.ndjson.gz", "corpus/x.json@b49de7fb",
                "notes.md", "a/blocks.txt", "data.csv", "a/json", "archive.json.zip"):
        fx.write(tmp_path / rel, b"{}")
    assert names(LocalSource((str(tmp_path),)), tmp_path) == [
        "a/1.json", "a/3.JSONL", "b/2.json.gz", "c/4.ndjson", "c/5.ndjson.gz", "corpus/x.json@b49de7fb"]


def test_a_file_named_explicitly_is_read_whatever_its_name(tmp_path: Path) -> None:
    path = fx.write(tmp_path / "export.log", fx.log_file([DECRYPT]))
    (ref,) = LocalSource((str(path),)).files()
    assert (ref.uri, ref.size, ref.version, ref.skip_reason, ref.error) == (
        str(path), path.stat().st_size, str(path.stat().st_mtime_ns), None, None)


def test_digest_and_insight_folders_are_skipped_unread(tmp_path: Path) -> None:
    digest = fx.write(tmp_path / f"AWSLogs/{ACCOUNT}/CloudTrail-Digest/us-east-1/2026/10/01/d.json.gz", b"not even gzip")
    insight = fx.write(tmp_path / f"AWSLogs/{ACCOUNT}/CloudTrail-Insight/us-east-1/2026/10/01/i.json.gz", b"garbage")
    refs = {ref.uri: ref.skip_reason for ref in LocalSource((str(tmp_path),)).files()}
    assert refs == {str(digest): "CloudTrail digest file", str(insight): "CloudTrail Insights file"}
    with Store() as store:
        report = ingest([LocalSource((str(tmp_path),))], store, workers=1)
    assert (report.files_skipped, report.files_error, report.errors) == (2, 0, [])
    assert report.skip_reasons == {"CloudTrail digest file": 1, "CloudTrail Insights file": 1}


def test_missing_paths_and_special_files_are_errors_not_crashes(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)
    refs = list(LocalSource((str(tmp_path / "nope"), str(fifo))).files())
    assert [(r.uri, r.error) for r in refs] == [
        (str(tmp_path / "nope"), "no such file or directory"),
        (str(fifo), "not a regular file (FIFO, socket or device): not read"),
    ]


def test_symlink_loops_and_repeated_directories_are_walked_once(tmp_path: Path) -> None:
    fx.write(tmp_path / "logs/a.json", b"{}")
    (tmp_path / "logs/loop").symlink_to(tmp_path / "logs")
    (tmp_path / "alias.json").symlink_to(tmp_path / "logs/a.json")
    source = LocalSource((str(tmp_path / "logs"), str(tmp_path / "logs"), str(tmp_path)))
    assert names(source, tmp_path) == ["logs/a.json"]
    # found again under the second and third path: noted for them (read once)
    again = [(ref.origin, os.path.relpath(ref.uri, tmp_path)) for ref in source.files() if ref.duplicate]
    assert again == [(str(tmp_path / "logs"), "logs/a.json"), (str(tmp_path), "logs/a.json"),
                     (str(tmp_path), "logs/a.json")]


def test_read_of_a_file_that_vanished(tmp_path: Path) -> None:
    source = LocalSource((str(tmp_path),))
    with pytest.raises(SourceReadError) as e:
        source.read(FileRef(str(tmp_path / "gone.json"), size=3))
    assert e.value.reason == "cannot read: No such file or directory"


def test_standard_input(monkeypatch: pytest.MonkeyPatch) -> None:
    data = fx.log_file([DECRYPT])
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    source = LocalSource(("-",))
    (ref,) = source.files()
    assert (ref.uri, ref.version, source.read(ref)) == ("-", "stdin", data)


# ---- every kind of file through the pipeline -----------------------------------------------

FILES: dict[str, tuple[bytes, str, str | None, int]] = {
    # name: (content, status, shape or skip reason, records)
    "AWSLogs/trail.json.gz": (gzip.compress(fx.log_file([DECRYPT, ENCRYPT])), "ingested", "cloudtrail-log", 2),
    "events.ndjson": (fx.ndjson([DECRYPT, non_kms()]), "ingested", "ndjson", 2),
    "lookup-events.json": (fx.lookup_events_output([ENCRYPT, non_kms()]), "ingested", "lookup-events", 2),
    "eventbridge.json": (fx.ndjson([fx.eventbridge(ENCRYPT)]).strip(), "ingested", "eventbridge", 1),
    "cloudwatch.json": (fx.cloudwatch_logs([DECRYPT]), "ingested", "cloudwatch-logs", 1),
    "cribl.json": (fx.cribl([ENCRYPT]), "ingested", "cribl", 1),
    "s3-notification.json": (fx.s3_event_notification(), "skipped",
                             "valid JSON, not CloudTrail: Records of 'aws:s3' events", 0),
    "ddb-stream.json": (fx.dynamodb_stream_records(), "skipped",
                        "valid JSON, not CloudTrail: Records of 'aws:dynamodb' events", 0),
    "digest-outside-its-folder.json": (fx.digest_file(), "skipped", "CloudTrail digest file", 0),
    "truth.json": (fx.truth_json(), "skipped", "valid JSON, not CloudTrail (top-level keys: customer_keys, keys)", 0),
    "usage.json": (fx.usage_output(), "skipped", "valid JSON, not CloudTrail: an array without CloudTrail events", 0),
}


def test_each_kind_of_file_is_read_or_skipped_as_the_readme_says(tmp_path: Path) -> None:
    for name, (data, *_rest) in FILES.items():
        fx.write(tmp_path / name, data)
    with Store() as store:
        report = ingest([LocalSource((str(tmp_path),))], store, workers=1)
        files = {
            os.path.relpath(uri, tmp_path): (status, shape if status == "ingested" else reason, records)
            for uri, status, shape, reason, records in store.query("SELECT uri, status, shape, reason, records FROM files")
        }
        calls = store.query("SELECT key, principal, category, count(*) FROM key_use GROUP BY ALL ORDER BY ALL")
    assert files == {name: (status, what, records) for name, (_, status, what, records) in FILES.items()}
    assert (report.files_ingested, report.files_skipped, report.files_error) == (6, 5, 0)
    # the same Decrypt and Encrypt delivered in several shapes are one call each
    assert calls == [
        (KEY_A, f"arn:aws:iam::{ACCOUNT}:user/alice", "decrypt", 1),
        (KEY_B, f"arn:aws:iam::{ACCOUNT}:user/bob", "encrypt", 1),
    ]
