"""verify_archive on signed archives, then on tampered ones: each tampering is detected and named."""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import IO

import orjson
import pytest

from keytrail.errors import SourceReadError, UsageError
from keytrail.verify import (
    SIGNATURE_SUFFIX,
    Finding,
    PublicKey,
    VerificationReport,
    parse_public_keys,
    verify_archive,
)
from keytrail.verify.archive import Entry, LocalArchive
from keytrail.verify.check import verify_archives
from tests.conftest import GEN_TRAIL, need_shared
from tests.factory import write_log
from tests.factory.archive import write_archive
from tests.factory.signed import (
    START,
    BuiltArchive,
    TrailSigner,
    build_archive,
    log_record,
    public_keys_json,
)

RewriteGz = Callable[[Path, Callable[[bytes], bytes]], None]
KeyOf = Callable[[Path], str]


def run(archive: BuiltArchive | Path, keys: tuple[PublicKey, ...] | None) -> VerificationReport:
    root = archive.root if isinstance(archive, BuiltArchive) else archive
    return verify_archive([str(root)], keys, workers=2)


def problems(report: VerificationReport, *levels: str) -> list[tuple[str, str, str]]:
    """(level, kind, file name) of the findings, in report order."""
    return [(f.level, f.kind, f.uri.rsplit("/", 1)[-1]) for f in report.findings if not levels or f.level in levels]


def only(report: VerificationReport, kind: str) -> Finding:
    (finding,) = [f for f in report.findings if f.kind == kind]
    return finding


def drop_sidecars(built: BuiltArchive) -> None:
    for d in built.digests:
        Path(str(d) + SIGNATURE_SUFFIX).unlink(missing_ok=True)


# ---- untouched archives ------------------------------------------------------------------------


def test_a_signed_archive_verifies(archive: BuiltArchive, keys: tuple[PublicKey, ...]) -> None:
    report = run(archive, keys)
    assert report.ok
    assert [r.status for r in report.digests] == ["verified"] * 3
    assert [r.status for r in report.logs] == ["verified"] * 6
    assert report.findings == []  # the first digest is a starting digest: nothing before it
    assert report.summary() == ("OK: 3 digest files and 6 log files verified "
                                "(digests from 2026-01-05T10:00:31Z to 2026-01-05T13:00:31Z)")


def test_offline_the_newest_digest_is_not_verifiable(archive: BuiltArchive, keys: tuple[PublicKey, ...]) -> None:
    """Without its signature nothing vouches for the newest digest: whoever deleted the sidecar
    could have rewritten it and its log files. A failure, not a warning."""
    drop_sidecars(archive)
    report = run(archive, keys)
    assert not report.ok and report.failed
    assert problems(report) == [("failed", "digest-unsigned", archive.digests[2].name)]
    assert only(report, "digest-unsigned").message == (
        "newest digest of its trail: its signature (S3 object metadata) is not available offline "
        f"(save it as {archive.digests[2].name}.signature, or verify from s3://): it and its 2 log file(s) "
        "are not verified")
    assert [r.status for r in report.digests] == ["verified", "verified", "failed"]
    assert [r.status for r in report.logs] == ["verified"] * 4 + ["unverified"] * 2
    assert report.summary() == (
        "FAILED: 1 digest file not verifiable offline (signature not available); 2 of 3 digest files and "
        "4 of 6 log files verified (digests from 2026-01-05T10:00:31Z to 2026-01-05T13:00:31Z); "
        "2 log files covered only by unverified digests")


def test_the_sidecar_may_hold_head_object_output(archive: BuiltArchive, keys: tuple[PublicKey, ...]) -> None:
    newest = archive.digests[-1]
    Path(str(newest) + SIGNATURE_SUFFIX).write_bytes(
        orjson.dumps({"ContentType": "application/json", "Metadata": {
            "signature": archive.signatures[newest], "signature-algorithm": "SHA256withRSA"}}))
    assert run(archive, keys).ok


def test_a_wrong_sidecar_signature_fails(archive: BuiltArchive, keys: tuple[PublicKey, ...]) -> None:
    newest = archive.digests[-1]
    Path(str(newest) + SIGNATURE_SUFFIX).write_text(archive.signatures[archive.digests[0]])
    report = run(archive, keys)
    assert problems(report) == [("failed", "digest-signature", newest.name)]
    assert only(report, "digest-signature").message == "the signature does not verify (signature from its .signature file)"


def test_org_layout_with_a_bucket_prefix(tmp_path: Path, signer: TrailSigner, keys: tuple[PublicKey, ...]) -> None:
    built = build_archive(tmp_path / "copy", signer, org="o-abc123def4", prefix="team/logs", write_signatures=True)
    assert (built.root / "team/logs/AWSLogs/o-abc123def4/111122223333/CloudTrail-Digest").is_dir()
    report = run(built, keys)
    assert report.ok and not report.findings
    # the same files found through a deeper directory, or named one by one
    assert run(built.root / "team", keys).ok
    sidecars = [str(p) + SIGNATURE_SUFFIX for p in built.digests]
    named = verify_archive([str(p) for p in built.digests + built.logs] + sidecars, keys)
    assert named.ok and not named.findings and named.other_files == 3


def test_a_decompressed_copy_of_a_log_file_verifies(archive: BuiltArchive, keys: tuple[PublicKey, ...]) -> None:
    log = archive.logs[3]
    Path(str(log)[:-3]).write_bytes(gzip.decompress(log.read_bytes()))
    log.unlink()
    report = run(archive, keys)
    assert report.ok and len(report.logs) == 6 and {r.status for r in report.logs} == {"verified"}


def test_without_public_keys_hashes_and_chain_are_still_checked(
    archive: BuiltArchive, rewrite_gz: RewriteGz
) -> None:
    report = run(archive, None)
    assert report.ok
    assert problems(report) == [("warning", "no-public-keys", "")]
    assert {r.status for r in report.digests} == {"unverified"}
    assert report.summary().endswith(
        "digest signatures not checked (no public keys given), 6 log files covered only by unverified digests")
    rewrite_gz(archive.digests[1], lambda b: b.replace(b'"logFiles":[', b'"logFiles":[ ', 1))
    assert ("failed", "digest-modified", archive.digests[1].name) in problems(run(archive, None))


def test_chains_of_several_accounts_and_regions(tmp_path: Path, signer: TrailSigner, keys: tuple[PublicKey, ...]) -> None:
    root = tmp_path / "org"
    for account in ("111122223333", "444455556666"):
        for region in ("us-east-1", "eu-west-1"):
            build_archive(root, signer, account=account, region=region, org="o-abc123def4", write_signatures=True)
    report = run(root, keys)
    assert report.ok and not report.findings and len(report.digests) == 12 and len(report.logs) == 24


# ---- tampering ---------------------------------------------------------------------------------


def test_one_byte_changed_in_a_log_file(archive: BuiltArchive, keys: tuple[PublicKey, ...], rewrite_gz: RewriteGz) -> None:
    log = archive.logs[2]
    rewrite_gz(log, lambda b: b.replace(b"192.0.2.10", b"192.0.2.11", 1))
    report = run(archive, keys)
    assert not report.ok
    assert problems(report) == [("failed", "log-modified", log.name)]
    assert only(report, "log-modified").message == (
        "content differs from the SHA-256 digest "
        f"{archive.digests[1].name} records")
    assert report.status_of(str(log)) == "failed"
    assert report.summary().startswith("FAILED: 1 log file modified; 3 of 3 digest files and 5 of 6 log files verified")


def test_one_byte_flipped_in_the_compressed_log_file(archive: BuiltArchive, keys: tuple[PublicKey, ...]) -> None:
    log = archive.logs[0]
    data = bytearray(log.read_bytes())
    data[len(data) // 2] ^= 0x01
    log.write_bytes(bytes(data))
    report = run(archive, keys)
    assert problems(report) == [("failed", "log-modified", log.name)]
    assert only(report, "log-modified").message.startswith("cannot be read (corrupt gzip data")


def test_a_deleted_log_file(archive: BuiltArchive, keys: tuple[PublicKey, ...], key_of: KeyOf) -> None:
    log = archive.logs[4]
    log.unlink()
    report = run(archive, keys)
    assert only(report, "log-missing") == Finding(
        "failed", "log-missing", f"s3://example-trail-bucket/{key_of(log)}", key_of(log),
        f"listed in digest {archive.digests[2].name}, not in the archive")
    assert problems(report) == [("failed", "log-missing", log.name)]


def test_a_deleted_digest_in_the_middle(archive: BuiltArchive, keys: tuple[PublicKey, ...], key_of: KeyOf) -> None:
    gone = archive.digests[1]
    gone.unlink()
    Path(str(gone) + SIGNATURE_SUFFIX).unlink()
    report = run(archive, keys)
    assert problems(report) == [
        ("failed", "digest-missing", gone.name),
        ("failed", "log-uncovered", archive.logs[2].name),
        ("failed", "log-uncovered", archive.logs[3].name),
    ]
    missing = only(report, "digest-missing")
    assert (missing.uri, missing.message) == (
        f"s3://example-trail-bucket/{key_of(gone)}", f"named as previous digest by {archive.digests[2].name}, not in the archive")
    assert {f.message for f in report.findings if f.kind == "log-uncovered"} == {"listed by no digest file"}
    assert report.summary().startswith("FAILED: 2 log files not covered by any digest, 1 digest file missing;")


def test_a_deleted_digest_offline(archive: BuiltArchive, keys: tuple[PublicKey, ...]) -> None:
    """Without sidecars nothing signs the digest before the gap, nor the newest one."""
    drop_sidecars(archive)
    archive.digests[1].unlink()
    report = run(archive, keys)
    assert problems(report) == [
        ("failed", "digest-unsigned", archive.digests[0].name),
        ("failed", "digest-missing", archive.digests[1].name),
        ("failed", "digest-unsigned", archive.digests[2].name),
        ("failed", "log-uncovered", archive.logs[2].name),
        ("failed", "log-uncovered", archive.logs[3].name),
    ]
    assert [f.message for f in report.findings][0] == (
        "the digest after it is missing: its signature is not available offline")
    assert not any(r.status == "verified" for r in report.logs)


def test_the_oldest_digest_deleted_leaves_its_logs_uncovered(archive: BuiltArchive, keys: tuple[PublicKey, ...]) -> None:
    archive.digests[0].unlink()
    report = run(archive, keys)
    assert problems(report) == [
        ("failed", "log-uncovered", archive.logs[0].name),
        ("failed", "log-uncovered", archive.logs[1].name),
        ("note", "chain-start", archive.digests[1].name),
    ]
    assert only(report, "chain-start").message.endswith("is not in the archive: verification starts here")
    assert report.status_of(str(archive.digests[1])) == "verified"


def test_swapped_digests(archive: BuiltArchive, keys: tuple[PublicKey, ...]) -> None:
    a, b = archive.digests[0], archive.digests[1]
    data_a, data_b = a.read_bytes(), b.read_bytes()
    a.write_bytes(data_b)
    b.write_bytes(data_a)
    report = run(archive, keys)
    failed = problems(report, "failed")
    assert ("failed", "digest-moved", a.name) in failed and ("failed", "digest-moved", b.name) in failed
    moved = [f for f in report.findings if f.kind == "digest-moved" and f.uri == str(a)][0]
    assert moved.message.startswith(f"records its own location as s3://example-trail-bucket/AWSLogs/111122223333/"
                                    f"CloudTrail-Digest/us-east-1/2026/01/05/{b.name}: renamed, moved or swapped")
    assert not report.ok


def test_a_digest_rewritten_to_skip_its_predecessor(archive: BuiltArchive, signer: TrailSigner,
                                                     keys: tuple[PublicKey, ...], key_of: KeyOf) -> None:
    """The newest digest is edited (and even re-signed) to name the first one as its previous:
    the second digest is then named by no one, the first by two."""
    drop_sidecars(archive)
    first, second, newest = archive.digests
    content = orjson.loads(gzip.decompress(newest.read_bytes()))
    first_content = gzip.decompress(first.read_bytes())
    content.update(previousDigestS3Object=key_of(first), previousDigestHashValue=hashlib.sha256(first_content).hexdigest(),
                   previousDigestSignature=archive.signatures[first])
    newest.write_bytes(gzip.compress(orjson.dumps(content), mtime=0))
    report = run(archive, keys)
    failed = problems(report, "failed")
    assert ("failed", "digest-unlinked", second.name) in failed
    assert ("failed", "digest-fork", first.name) in failed
    assert only(report, "digest-unlinked").message == (
        f"no later digest names it as previous: the next digest {newest.name} names {first.name}")


def test_a_digest_edited_in_the_middle(archive: BuiltArchive, keys: tuple[PublicKey, ...], rewrite_gz: RewriteGz) -> None:
    """A forger drops a log file from a digest: the next digest's record of its hash catches it."""
    middle = archive.digests[1]

    def drop_last_log(data: bytes) -> bytes:
        obj = orjson.loads(data)
        obj["logFiles"] = obj["logFiles"][:1]
        return orjson.dumps(obj)

    rewrite_gz(middle, drop_last_log)
    Path(str(middle) + SIGNATURE_SUFFIX).unlink()
    report = run(archive, keys)
    assert problems(report, "failed") == [
        ("failed", "digest-modified", middle.name),
        ("failed", "log-uncovered", archive.logs[3].name),
    ]
    assert only(report, "digest-modified").message == (
        f"content differs from the SHA-256 the next digest {archive.digests[2].name} records for it")


def test_re_signed_with_another_key(tmp_path: Path, forger: TrailSigner, keys: tuple[PublicKey, ...]) -> None:
    built = build_archive(tmp_path / "forged", forger, write_signatures=True)
    report = run(built, keys)
    assert problems(report) == [("failed", "digest-key", d.name) for d in built.digests]
    assert report.findings[0].message.startswith(f"no public key with fingerprint {forger.fingerprint} ")
    assert [r.status for r in report.logs] == ["unverified"] * 6


def test_re_signed_with_another_key_claiming_cloudtrails_fingerprint(
    tmp_path: Path, signer: TrailSigner, forger: TrailSigner, keys: tuple[PublicKey, ...]
) -> None:
    built = build_archive(tmp_path / "forged", forger, fingerprint=signer.fingerprint, write_signatures=True)
    report = run(built, keys)
    kinds = {(f.kind, f.uri.rsplit("/", 1)[-1]) for f in report.findings}
    assert kinds == {("digest-signature", d.name) for d in built.digests}
    assert not report.ok and {r.status for r in report.digests} == {"failed"}


def test_an_extra_log_file_is_not_covered(archive: BuiltArchive, keys: tuple[PublicKey, ...]) -> None:
    forged = write_log(archive.root, "AWSLogs/111122223333/CloudTrail/us-east-1/2026/01/05/"
                       "111122223333_CloudTrail_us-east-1_20260105T1035Z_FORGEDFORGED0000.json.gz",
                       [log_record("111122223333", "us-east-1", START, 99)])
    stray = write_log(archive.root, "AWSLogs/111122223333/extra.json", [])
    report = run(archive, keys)
    assert problems(report) == [("failed", "log-uncovered", forged.name), ("failed", "log-uncovered", stray.name)]
    assert [f.message for f in report.findings] == [
        "listed by no digest file",
        "not where CloudTrail delivers log files (AWSLogs/ACCOUNT/CloudTrail/REGION/...)",
    ]


LOG_DIR = "AWSLogs/111122223333/CloudTrail/us-east-1/2026/01/05/"
NEWEST_END = START + timedelta(hours=3)  # 2026-01-05T13:00:31Z


def late_log(root: Path, name_time: str, *minutes_after_end: float, unique: str = "LATELATELATE0000") -> Path:
    """A log file no digest lists, named as delivered at ``name_time`` (``YYYYMMDDTHHMM``), with one
    record at each of ``minutes_after_end`` minutes after the newest digest's end (negative: before)."""
    records = [log_record("111122223333", "us-east-1", NEWEST_END + timedelta(minutes=m), 900 + i)
               for i, m in enumerate(minutes_after_end)]
    return write_log(root, f"{LOG_DIR}111122223333_CloudTrail_us-east-1_{name_time}Z_{unique}.json.gz", records)


def test_logs_delivered_after_the_newest_digest_are_pending(archive: BuiltArchive, keys: tuple[PublicKey, ...]) -> None:
    """Named after the newest digest's end, with calls from at most 15 minutes before it: pending."""
    late = late_log(archive.root, "20260105T1305", -14, 1, 3)
    (archive.root / "README.txt").write_text("downloaded with aws s3 sync\n")
    report = run(archive, keys)
    assert report.ok
    assert problems(report) == [("warning", "log-pending", late.name)]
    assert only(report, "log-pending").message == (
        "delivered after the newest digest of its account and Region, and so are its records: "
        "no digest covers it yet (not verified)")
    assert report.status_of(str(late)) == "pending" and report.other_files == 0  # README.txt is not a log candidate
    assert report.summary().endswith("1 log file newer than the newest digest")


def test_named_in_the_newest_digests_last_minute_may_be_pending(archive: BuiltArchive, keys: tuple[PublicKey, ...]) -> None:
    """Names carry minutes: one named 13:00 may have come after the digest that ended 13:00:31."""
    late = late_log(archive.root, "20260105T1300", 0.1)
    assert problems(run(archive, keys)) == [("warning", "log-pending", late.name)]


@pytest.mark.parametrize(("name_time", "minutes", "why"), [
    ("20991231T2359", (-140,), "named as delivered at 2099-12-31T23:59Z, after the newest digest (2026-01-05T13:00:31Z), "
     "but it holds a call from 2026-01-05T10:40:31Z, before 2026-01-05T12:45:31Z: a period the digests cover"),
    ("20260105T1310", (2, -16), "named as delivered at 2026-01-05T13:10Z, after the newest digest (2026-01-05T13:00:31Z), "
     "but it holds a call from 2026-01-05T12:44:31Z, before 2026-01-05T12:45:31Z: a period the digests cover"),
    ("20260105T1310", (), "named as delivered at 2026-01-05T13:10Z, after the newest digest (2026-01-05T13:00:31Z), "
     "but its records' times cannot be read: it holds no records"),
])
def test_a_late_name_does_not_make_a_file_pending(archive: BuiltArchive, keys: tuple[PublicKey, ...],
                                                  name_time: str, minutes: tuple[float, ...], why: str) -> None:
    forged = late_log(archive.root, name_time, *minutes)
    report = run(archive, keys)
    assert problems(report) == [("failed", "log-uncovered", forged.name)]
    assert only(report, "log-uncovered").message == f"listed by no digest file; {why}"
    assert report.status_of(str(forged)) == "failed"


def test_named_before_the_newest_digest_ended_is_uncovered(archive: BuiltArchive, keys: tuple[PublicKey, ...]) -> None:
    forged = late_log(archive.root, "20260105T1259", 5)
    report = run(archive, keys)
    assert problems(report) == [("failed", "log-uncovered", forged.name)]
    assert only(report, "log-uncovered").message == "listed by no digest file"


@pytest.mark.parametrize("where", ["truth.json", "awslogs/111122223333/CloudTrail/us-east-1/2026/01/05/x.json.gz",
                                   "0-copy/x.json"])
def test_files_ingest_reads_outside_awslogs_are_not_covered(archive: BuiltArchive, keys: tuple[PublicKey, ...],
                                                              where: str) -> None:
    stray = write_log(archive.root, where, [log_record("111122223333", "us-east-1", START, 1)])
    report = run(archive, keys)
    assert not report.ok and report.other_files == 0
    assert problems(report) == [("failed", "log-uncovered", stray.name)]
    assert only(report, "log-uncovered").message == (
        "outside AWSLogs/: not where CloudTrail delivers log files, so no digest can cover it "
        "(give the directory that holds AWSLogs/ as SOURCE)")
    assert report.summary().startswith("FAILED: 1 log file not covered by any digest;")


def test_a_chain_that_restarts(tmp_path: Path, signer: TrailSigner, keys: tuple[PublicKey, ...]) -> None:
    root = tmp_path / "restart"
    first = build_archive(root, signer, hours=2)
    build_archive(root, signer, hours=2, start=START + timedelta(hours=5), write_signatures=True)
    report = run(root, keys)
    assert problems(report) == [
        ("failed", "digest-unsigned", first.digests[1].name),
        ("note", "chain-restart", first.digests[1].name),
    ]
    Path(str(first.digests[1]) + SIGNATURE_SUFFIX).write_text(first.signatures[first.digests[1]])
    report = run(root, keys)
    assert report.ok and problems(report) == [("note", "chain-restart", first.digests[1].name)]


def test_an_invalid_digest_does_not_crash_and_is_named(archive: BuiltArchive, keys: tuple[PublicKey, ...]) -> None:
    archive.digests[1].write_bytes(b"not gzip at all")
    archive.digests[2].write_bytes(gzip.compress(b"[1, 2]"))
    report = run(archive, keys)
    assert problems(report, "failed")[:2] == [
        ("failed", "digest-invalid", archive.digests[1].name),
        ("failed", "digest-invalid", archive.digests[2].name),
    ]
    assert report.findings[0].message.startswith("not a valid digest file: not JSON")
    assert report.findings[1].message == "not a valid digest file: not a JSON object"


# ---- sources that cannot be read ---------------------------------------------------------------


def test_a_missing_source_is_unreadable(tmp_path: Path, keys: tuple[PublicKey, ...]) -> None:
    report = verify_archive([str(tmp_path / "nowhere")], keys)
    assert not report.ok and report.unreadable and not report.failed
    assert problems(report) == [("unreadable", "unreadable", "nowhere")]
    assert report.findings[0].message == "no such file or directory"
    assert report.summary().startswith("INCOMPLETE: 1 file unreadable;")


def test_an_empty_directory_is_a_failure(tmp_path: Path, keys: tuple[PublicKey, ...]) -> None:
    report = verify_archive([str(tmp_path)], keys)
    assert problems(report) == [("failed", "no-digests", tmp_path.name)]
    assert report.findings[0].message == "no CloudTrail digest or log files found"


def test_logs_without_digests(tmp_path: Path, signer: TrailSigner, keys: tuple[PublicKey, ...]) -> None:
    built = build_archive(tmp_path / "a", signer, hours=1)
    built.digests[0].unlink()
    report = run(built, keys)
    assert problems(report)[0] == ("failed", "no-digests", "a")
    assert report.findings[0].message == (
        "no digest files (CloudTrail-Digest/) found: is log file validation enabled on the trail?")


@dataclass(frozen=True)
class _FlakyDisk:
    """Local files, one of which cannot be read."""

    inner: LocalArchive
    bad: str

    @property
    def description(self) -> str:
        return self.inner.description

    def entries(self) -> Iterator[Entry]:
        return self.inner.entries()

    def read_digest(self, entry: Entry) -> tuple[bytes, str | None]:
        return self.inner.read_digest(entry)

    def open(self, entry: Entry) -> IO[bytes]:
        if entry.uri == self.bad:
            raise SourceReadError(entry.uri, "cannot read: Input/output error")
        return self.inner.open(entry)


def test_an_unreadable_log_file(archive: BuiltArchive, keys: tuple[PublicKey, ...]) -> None:
    report = verify_archives([_FlakyDisk(LocalArchive((str(archive.root),)), str(archive.logs[0]))], keys)
    assert problems(report) == [("unreadable", "unreadable", archive.logs[0].name)]
    assert report.findings[0].message == "cannot read: Input/output error"
    assert report.status_of(str(archive.logs[0])) == "unreadable"
    assert report.summary().startswith("INCOMPLETE: 1 file unreadable; 3 of 3 digest files and 5 of 6 log files verified")


@pytest.mark.skipif(sys.platform == "win32", reason="needs a FIFO")
def test_a_fifo_among_the_logs_is_unreadable(archive: BuiltArchive, keys: tuple[PublicKey, ...]) -> None:
    fifo = archive.logs[0].parent / "pipe.json.gz"
    os.mkfifo(fifo)
    report = run(archive, keys)
    assert problems(report) == [("unreadable", "unreadable", "pipe.json.gz")]
    assert report.findings[0].message == "not a regular file (FIFO, socket or device): not read"


def test_standard_input_cannot_be_verified() -> None:
    with pytest.raises(UsageError, match="standard input cannot be verified"):
        verify_archive(["-"])
    with pytest.raises(UsageError, match="verify reads local paths and s3:// URLs"):
        verify_archive(["lookup://us-east-1"])


def test_public_keys_of_several_signers(tmp_path: Path, signer: TrailSigner, forger: TrailSigner) -> None:
    built = build_archive(tmp_path / "a", forger, write_signatures=True)
    assert run(built, parse_public_keys(public_keys_json([signer, forger]))).ok


# ---- the placeholder digests of the generated archives ------------------------------------------


def test_archive_placeholder_digests_are_invalid(tmp_path: Path, keys: tuple[PublicKey, ...]) -> None:
    """tests/factory/archive.py writes unsigned digest placeholders that list no log file: never verified."""
    out = tmp_path / "gen"
    write_archive(out, events=1500, accounts=1, regions=1, per_file=20)
    report = verify_archive([str(out)], keys)
    digests = sorted(out.rglob("CloudTrail-Digest/**/*.json.gz"))
    assert digests and len(report.digests) == len(digests)
    assert {r.status for r in report.digests} == {"failed"}
    invalid = [f for f in report.findings if f.kind == "digest-invalid"]
    assert len(invalid) == len(digests)
    assert invalid[0].message.startswith("not a valid digest file: missing or empty field(s): digestPublicKeyFingerprint")
    assert report.failed and not any(r.status == "verified" for r in report.logs)
    outside = [f for f in report.findings if f.kind == "log-uncovered" and f.key is None]
    assert outside  # truth.json and the inventory: outside AWSLogs/, read by ingest, covered by no digest


@pytest.mark.shared
def test_gen_trail_placeholder_digests_are_invalid(tmp_path: Path, keys: tuple[PublicKey, ...]) -> None:
    """The same for ../shared/tools/gen_trail.py's placeholders (the shared benchmark archives)."""
    gen_trail = need_shared(GEN_TRAIL)
    out = tmp_path / "gen"
    subprocess.run([sys.executable, str(gen_trail), str(out), "--events", "1500", "--accounts", "1",
                    "--regions", "1", "--per-file", "20"], check=True, capture_output=True)
    report = verify_archive([str(out)], keys)
    digests = sorted(out.rglob("CloudTrail-Digest/**/*.json.gz"))
    assert digests and len(report.digests) == len(digests)
    assert {r.status for r in report.digests} == {"failed"}
    invalid = [f for f in report.findings if f.kind == "digest-invalid"]
    assert len(invalid) == len(digests)
    assert invalid[0].message.startswith("not a valid digest file: missing or empty field(s): digestEndTime")
    assert report.failed and not any(r.status == "verified" for r in report.logs)
    outside = [f for f in report.findings if f.kind == "log-uncovered" and f.key is None]
    assert outside  # truth.json and the inventory: outside AWSLogs/, read by ingest, covered by no digest


def test_copies_in_two_places(archive: BuiltArchive, keys: tuple[PublicKey, ...], tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(archive.root, copy)
    assert verify_archive([str(archive.root), str(copy)], keys).ok
