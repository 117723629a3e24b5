"""--verify against forged evidence: a Decrypt by user/alice slipped into a signed archive, inside
the period its digests cover, in each way a review found. With --verify (=fail) the report is
refused (exit 1, the forged file or digest named, nothing on stdout); with --verify=exclude alice
is not in the report and the file left out is named."""

from __future__ import annotations

import gzip
import hashlib
import os
import sys
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner, Result

from keytrail.cli.main import cli
from keytrail.verify import SIGNATURE_SUFFIX
from tests.factory import write_log
from tests.factory.signed import (
    START,
    BuiltArchive,
    TrailSigner,
    log_record,
    public_keys_json,
    write_digest,
)

ACCOUNT, REGION = "111122223333", "us-east-1"
ALICE = f"arn:aws:iam::{ACCOUNT}:user/alice"
APP = f"arn:aws:iam::{ACCOUNT}:user/app"
LOG_DIR = f"AWSLogs/{ACCOUNT}/CloudTrail/{REGION}/2026/01/05/"
DIGEST_DIR = f"AWSLogs/{ACCOUNT}/CloudTrail-Digest/{REGION}/2026/01/05/"
IN_SPAN = START + timedelta(minutes=40)  # 2026-01-05T10:40:31Z, inside the first digest's hour


def alice(n: int = 500, when: datetime = IN_SPAN) -> dict[str, object]:
    return log_record(ACCOUNT, REGION, when, n, user="alice")


def log_name(stamp: str, unique: str = "FORGEDFORGED0000") -> str:
    return f"{LOG_DIR}{ACCOUNT}_CloudTrail_{REGION}_{stamp}Z_{unique}.json.gz"


@pytest.fixture
def keys_file(tmp_path: Path, signer: TrailSigner) -> str:
    path = tmp_path / "public-keys.json"
    path.write_bytes(public_keys_json([signer]))
    return str(path)


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def usage(root: Path, keys_file: str, *verify: str) -> Result:
    return run("usage", str(root), *verify, "--public-keys", keys_file, "--format", "json", "-q")


def principals(result: Result) -> dict[str, int]:
    return {r["principal"]: r["decrypt"] for r in orjson.loads(result.stdout)}


# ---- the attacks: each returns the file (log or digest) verification must name ----------------

Attack = Callable[[BuiltArchive, TrailSigner, TrailSigner], Path]


def outside_awslogs(a: BuiltArchive, signer: TrailSigner, forger: TrailSigner) -> Path:
    """(1) outside AWSLogs/: verification used to count it as "other file not checked"."""
    return write_log(a.root, "notes/forged.json.gz", [alice()])


def lower_case_awslogs(a: BuiltArchive, signer: TrailSigner, forger: TrailSigner) -> Path:
    """(2) under awslogs/ (lower case)."""
    return write_log(a.root, "awslogs/" + log_name("20260105T1045").removeprefix("AWSLogs/"), [alice()])


def named_as_pending(a: BuiltArchive, signer: TrailSigner, forger: TrailSigner) -> Path:
    """(3) inside AWSLogs/, named as delivered in 2099 (pending by its name alone)."""
    return write_log(a.root, log_name("20991231T2359"), [alice()])


def unsigned_digest_of_another_trail(a: BuiltArchive, signer: TrailSigner, forger: TrailSigner) -> Path:
    """(4) listed by a forged, unsigned digest of another trail that claims CloudTrail's key."""
    log = write_log(a.root, log_name("20260105T1045"), [alice()])
    return write_digest(a.root, f"{DIGEST_DIR}{ACCOUNT}_CloudTrail-Digest_{REGION}_other-trail_{REGION}_20260105T110031Z.json.gz",
                        [log], start=START, end=START + timedelta(hours=1), fingerprint=signer.fingerprint)


def digest_signed_by_the_forger(a: BuiltArchive, signer: TrailSigner, forger: TrailSigner) -> Path:
    """(4') the same digest signed, with the forger's own key."""
    log = write_log(a.root, log_name("20260105T1045"), [alice()])
    return write_digest(a.root, f"{DIGEST_DIR}{ACCOUNT}_CloudTrail-Digest_{REGION}_other-trail_{REGION}_20260105T110031Z.json.gz",
                        [log], start=START, end=START + timedelta(hours=1), fingerprint=forger.fingerprint, signer=forger)


def backfill_digest(a: BuiltArchive, signer: TrailSigner, forger: TrailSigner) -> Path:
    """(5) listed by a _backfill digest whose all-zero fingerprint matches no key."""
    log = write_log(a.root, log_name("20260105T1045"), [alice()])
    return write_digest(a.root, f"{DIGEST_DIR}{ACCOUNT}_CloudTrail-Digest_{REGION}_management-trail_{REGION}_"
                        "20260105T113000Z_backfill.json.gz",
                        [log], start=START, end=START + timedelta(hours=1), fingerprint="0" * 32)


def newest_log_rewritten(a: BuiltArchive, signer: TrailSigner, forger: TrailSigner) -> Path:
    """(6) written into the newest log, its hash updated in the newest digest, whose .signature
    sidecar (the only thing that signs it offline) is deleted."""
    log, newest = a.logs[-1], a.digests[-1]
    content = orjson.loads(gzip.decompress(log.read_bytes()))
    content["Records"].append(alice(when=START + timedelta(hours=2, minutes=21)))
    data = orjson.dumps(content)
    log.write_bytes(gzip.compress(data, mtime=0))
    digest = orjson.loads(gzip.decompress(newest.read_bytes()))
    digest["logFiles"][-1]["hashValue"] = hashlib.sha256(data).hexdigest()
    newest.write_bytes(gzip.compress(orjson.dumps(digest), mtime=0))
    Path(str(newest) + SIGNATURE_SUFFIX).unlink()
    return newest


def signed_record_recalled(a: BuiltArchive, signer: TrailSigner, forger: TrailSigner) -> Path:
    """(7) a copy of a signed record (same eventID, eventName, eventTime) with alice as the caller,
    in a file that sorts before AWSLogs/: the duplicate rule would keep the forged copy."""
    record = orjson.loads(gzip.decompress(a.logs[0].read_bytes()))["Records"][0]
    forged = {**record, "userIdentity": alice()["userIdentity"]}
    return write_log(a.root, "0-copy/records.json", [forged])


ATTACKS = [outside_awslogs, lower_case_awslogs, named_as_pending, unsigned_digest_of_another_trail,
           digest_signed_by_the_forger, backfill_digest, newest_log_rewritten, signed_record_recalled]


@pytest.mark.parametrize("attack", ATTACKS, ids=lambda f: f.__name__)
def test_each_forgery_counts_alice_without_verify(archive: BuiltArchive, signer: TrailSigner, forger: TrailSigner,
                                                  attack: Attack) -> None:
    """The forgeries work on an ingest that does not verify: the tests below test something."""
    attack(archive, signer, forger)
    result = run("usage", str(archive.root), "--format", "json", "-q")
    assert result.exit_code == 0 and ALICE in principals(result)


@pytest.mark.parametrize("spelling", [["--verify"], ["--verify=fail"]])
@pytest.mark.parametrize("attack", ATTACKS, ids=lambda f: f.__name__)
def test_verify_refuses_the_report(archive: BuiltArchive, signer: TrailSigner, forger: TrailSigner, keys_file: str,
                                   attack: Attack, spelling: list[str]) -> None:
    named = attack(archive, signer, forger)
    result = usage(archive.root, keys_file, *spelling)
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0].startswith("keytrail: verification: FAILED: ")
    assert any(line.startswith(("keytrail: not verified: ", "keytrail: verification failed: "))
               and f"{named}: " in line for line in lines)
    assert lines[-1].startswith("keytrail: error: --verify: ")
    assert lines[-1].endswith(
        "not verified: nothing was read and no report written (--verify=exclude reports on the verified log files only)")


@pytest.mark.parametrize("attack", ATTACKS, ids=lambda f: f.__name__)
def test_verify_exclude_leaves_alice_out(archive: BuiltArchive, signer: TrailSigner, forger: TrailSigner,
                                         keys_file: str, attack: Attack) -> None:
    attack(archive, signer, forger)
    result = usage(archive.root, keys_file, "--verify=exclude")
    assert result.exit_code == 1, result.output  # something failed verification: the report is of what verified
    assert list(principals(result)) == [APP]
    left_out = [line for line in result.stderr.splitlines() if line.startswith("keytrail: not verified: ")]
    n = len(left_out)
    assert n >= 1
    assert f"keytrail: warning: --verify=exclude: {n} log file{'' if n == 1 else 's'} left out (not verified)" in result.stderr


def test_a_recalled_record_keeps_its_signed_caller(archive: BuiltArchive, signer: TrailSigner, forger: TrailSigner,
                                                   keys_file: str, tmp_path: Path) -> None:
    """(7) in detail: the forged copy never reaches the store, so the call stays app's -- in the
    usage report and in the HTML report; with --verify no HTML file is written at all."""
    forged = signed_record_recalled(archive, signer, forger)
    result = usage(archive.root, keys_file, "--verify=exclude")
    assert principals(result) == {APP: 18}
    assert f"keytrail: not verified: {forged}: outside AWSLogs/: " in result.stderr
    html = tmp_path / "report.html"
    result = run("report", str(archive.root), "--verify=exclude", "--public-keys", keys_file, "-o", str(html), "-q")
    assert result.exit_code == 1
    page = html.read_text()
    assert "user/alice" not in page and "user/app" in page
    assert "1 log file left out of this report (not verified), 6 verified log files in it" in page
    html.unlink()
    result = run("report", str(archive.root), "--verify", "--public-keys", keys_file, "-o", str(html), "-q")
    assert result.exit_code == 1 and not html.exists()


def test_the_forged_file_is_named_exactly(archive: BuiltArchive, signer: TrailSigner, forger: TrailSigner,
                                          keys_file: str) -> None:
    forged = named_as_pending(archive, signer, forger)
    result = usage(archive.root, keys_file, "--verify")
    assert result.stderr == (
        "keytrail: verification: FAILED: 1 log file not covered by any digest; 3 of 3 digest files and 6 of 7 log files "
        "verified (digests from 2026-01-05T10:00:31Z to 2026-01-05T13:00:31Z)\n"
        f"keytrail: not verified: {forged}: listed by no digest file; named as delivered at 2099-12-31T23:59Z, after "
        "the newest digest (2026-01-05T13:00:31Z), but it holds a call from 2026-01-05T10:40:31Z, before "
        "2026-01-05T12:45:31Z: a period the digests cover\n"
        "keytrail: error: --verify: 1 log file not verified: nothing was read and no report written "
        "(--verify=exclude reports on the verified log files only)\n")


def test_an_unsigned_digest_is_named(archive: BuiltArchive, signer: TrailSigner, forger: TrailSigner,
                                     keys_file: str) -> None:
    digest = backfill_digest(archive, signer, forger)
    log = archive.root / log_name("20260105T1045")
    result = usage(archive.root, keys_file, "--verify")
    assert result.stderr.splitlines()[1:] == [
        f"keytrail: verification failed: {digest}: names a signing key (fingerprint {'0' * 32}) that matches none "
        "of the public keys given",
        f"keytrail: verification failed: {digest}: backfill digest: its signature (S3 object metadata) is not "
        f"available offline (save it as {digest.name}.signature, or verify from s3://): it and the log files only "
        "it lists are not verified",
        f"keytrail: not verified: {log}: listed only by digests that are not verified (see the digest problems)",
        "keytrail: error: --verify: 1 log file not verified: nothing was read and no report written "
        "(--verify=exclude reports on the verified log files only)",
    ]


# ---- the untouched archive ---------------------------------------------------------------------


@pytest.mark.parametrize("spelling", [["--verify"], ["--verify=fail"], ["--verify=exclude"]])
def test_a_signed_archive_reports_as_without_verify(archive: BuiltArchive, keys_file: str, spelling: list[str]) -> None:
    plain = run("usage", str(archive.root), "--format", "json", "-q")
    verified = usage(archive.root, keys_file, *spelling)
    assert verified.exit_code == 0, verified.output
    assert verified.stdout == plain.stdout and principals(verified) == {APP: 18}
    assert verified.stderr == ("keytrail: verification: OK: 3 digest files and 6 log files verified "
                               "(digests from 2026-01-05T10:00:31Z to 2026-01-05T13:00:31Z)\n")


def test_a_bare_verify_before_a_source_is_explained(archive: BuiltArchive, keys_file: str) -> None:
    result = run("usage", "--verify", str(archive.root), "--public-keys", keys_file)
    assert result.exit_code == 2
    assert (f"'{archive.root}' is not a verification mode (fail, exclude). Give the mode after '=' "
            "(--verify=exclude), or put a bare --verify after the SOURCEs") in result.stderr


def test_verify_needs_public_keys(archive: BuiltArchive) -> None:
    result = run("usage", str(archive.root), "--verify")
    assert result.exit_code == 2
    assert result.stderr.startswith("keytrail: error: --verify needs --public-keys FILE")


# ---- pending log files -------------------------------------------------------------------------


def test_pending_files_fail_verify_and_are_left_out_by_exclude(archive: BuiltArchive, keys_file: str) -> None:
    """A log file delivered after the newest digest, with calls from after it, is pending: no
    digest vouches for it yet. --verify refuses; --verify=exclude leaves it out with exit 0."""
    late = write_log(archive.root, log_name("20260105T1305", "LATELATELATE0000"),
                     [alice(when=START + timedelta(hours=3, minutes=2))])
    result = usage(archive.root, keys_file, "--verify")
    assert result.exit_code == 1 and result.stdout == ""
    pending = (f"keytrail: not verified: {late}: delivered after the newest digest of its account and Region, "
               "and so are its records: no digest covers it yet (not verified)\n")
    assert pending in result.stderr
    result = usage(archive.root, keys_file, "--verify=exclude")
    assert result.exit_code == 0 and principals(result) == {APP: 18}
    assert result.stderr == (
        "keytrail: verification: OK: 3 of 3 digest files and 6 of 7 log files verified (digests from "
        "2026-01-05T10:00:31Z to 2026-01-05T13:00:31Z); 1 log file newer than the newest digest\n"
        + pending +
        "keytrail: warning: --verify=exclude: 1 log file left out (not verified), 6 verified log files kept\n")


# ---- ingest and persistent stores --------------------------------------------------------------


def test_ingest_verify_reads_nothing_on_failure(archive: BuiltArchive, signer: TrailSigner, forger: TrailSigner,
                                                keys_file: str, tmp_path: Path) -> None:
    forged = outside_awslogs(archive, signer, forger)
    db = tmp_path / "trail.duckdb"
    result = run("ingest", str(archive.root), "--db", str(db), "--verify", "--public-keys", keys_file, "-q")
    assert result.exit_code == 1 and not db.exists()
    assert result.stderr.splitlines()[-1] == (
        "keytrail: error: --verify: 1 log file not verified: nothing was ingested "
        "(--verify=exclude ingests the verified log files only)")
    result = run("ingest", str(archive.root), "--db", str(db), "--verify=exclude", "--public-keys", keys_file, "-q")
    assert result.exit_code == 1
    assert f"keytrail: not verified: {forged}: outside AWSLogs/" in result.stderr
    assert principals(run("usage", "--db", str(db), "--format", "json")) == {APP: 18}


def test_a_store_holding_unverified_files_is_refused(archive: BuiltArchive, signer: TrailSigner,
                                                     forger: TrailSigner, keys_file: str, tmp_path: Path) -> None:
    """A report from --db counts all the store holds: files an earlier ingest read without
    --verify would be counted though this run left them out."""
    forged = outside_awslogs(archive, signer, forger)
    db = str(tmp_path / "trail.duckdb")
    assert run("ingest", str(archive.root), "--db", db, "-q").exit_code == 0
    result = run("usage", str(archive.root), "--db", db, "--verify=exclude", "--public-keys", keys_file, "-q")
    assert result.exit_code == 1 and result.stdout == ""
    assert (f"keytrail: not verified: {forged}: in the store from an earlier ingest, not verified by this run"
            in result.stderr)
    assert "keytrail: error: --verify: the store holds 1 file(s) this run did not verify" in result.stderr


def test_a_store_of_verified_files_reports(archive: BuiltArchive, keys_file: str, tmp_path: Path) -> None:
    db = str(tmp_path / "trail.duckdb")
    made = run("ingest", str(archive.root), "--db", db, "--verify", "--public-keys", keys_file, "-q")  # reports make no store
    first = run("usage", str(archive.root), "--db", db, "--verify", "--public-keys", keys_file, "-q", "--format", "json")
    again = run("usage", str(archive.root), "--db", db, "--verify", "--public-keys", keys_file, "-q", "--format", "json")
    assert made.exit_code == first.exit_code == again.exit_code == 0 and principals(again) == {APP: 18}


def test_check_fails_in_ci_when_evidence_is_left_out(archive: BuiltArchive, signer: TrailSigner, forger: TrailSigner,
                                                     keys_file: str, tmp_path: Path) -> None:
    """keytrail check has no violation in the verified files, yet something failed verification."""
    policy = tmp_path / "policy.yaml"
    policy.write_text(f"version: 1\nrules:\n  - name: app only\n    key: 1234abcd-12ab-34cd-56ef-1234567890ab\n"
                      f"    allow:\n      - principal: {APP}\n")
    args = ["check", "--policy", str(policy), str(archive.root), "--public-keys", keys_file, "-q"]
    assert run(*args, "--verify=exclude").exit_code == 0
    outside_awslogs(archive, signer, forger)
    result = run(*args, "--verify=exclude")
    assert result.exit_code == 1 and "user/alice" not in result.stdout  # the forged call is no violation: left out
    assert run(*args, "--verify").exit_code == 1


@pytest.mark.skipif(sys.platform == "win32", reason="needs a FIFO")
def test_unreadable_input_is_exit_3(archive: BuiltArchive, keys_file: str) -> None:
    fifo = archive.logs[0].parent / "pipe.json.gz"
    os.mkfifo(fifo)
    result = usage(archive.root, keys_file, "--verify")
    assert result.exit_code == 3 and result.stdout == ""
    assert f"keytrail: verification unreadable: {fifo}: not a regular file" in result.stderr
    assert result.stderr.splitlines()[-1] == ("keytrail: error: --verify: some input could not be read: nothing was "
                                              "read and no report written (--verify=exclude reports on the verified "
                                              "log files only)")
    result = usage(archive.root, keys_file, "--verify=exclude")
    assert result.exit_code == 3 and principals(result) == {APP: 18}
