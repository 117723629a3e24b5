"""Verifying an archive: digest signatures, the chain of digests, and every log file's hash.

The steps (CloudTrail User Guide, "Custom implementations of CloudTrail log file integrity
validation", done offline):

1. Every digest file is read and parsed; it must lie where it was delivered (its
   ``digestS3Object``, matched from ``AWSLogs/`` onward).
2. Its signature is checked against the public key its ``digestPublicKeyFingerprint`` names: the
   signature is the next digest's ``previousDigestSignature`` (which also records the digest's
   SHA-256) or, for the newest digest of a trail, the S3 object metadata (an ``s3://`` source or
   a ``.signature`` sidecar file). A digest with no signature to check ("not verifiable
   offline"), or naming a key fingerprint that matches none of the public keys given (a
   ``_backfill`` digest's all-zero one included), fails: nothing vouches for it.
3. The chain: digests of one trail ordered by time must each be named as previous by the next
   one; a named previous digest that is absent is missing (except before the oldest digest in
   the archive: that is where the archive starts), a digest no later one names is a break, one
   named by two is a fork. A starting digest (no previous) begins a new chain.
4. Every log file a digest lists must be in the archive with the SHA-256 (of its uncompressed
   content) the digest records; every log file in the archive (wherever it lies: ingest reads
   it) must be listed by some digest, except a *pending* one (``keytrail.verify.pending``: named
   as delivered after the newest digest of its account and Region, and holding only records
   from after it). A log file is *verified* when its hash matches a digest whose signature
   verified and which failed no check.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from keytrail.errors import SourceReadError
from keytrail.verify.archive import (
    SIGNATURE_SUFFIX,
    Archive,
    Entry,
    NotGzip,
    content_and_stored_sha256,
    gunzip,
    open_archives,
    read_content,
)
from keytrail.verify.digest import (
    Digest,
    DigestFormatError,
    LogRef,
    archive_key,
    area_of,
    chain_of,
    is_backfill,
    key_time,
    log_time,
    match_key,
    parse_digest,
)
from keytrail.verify.keys import PublicKey, check_signature
from keytrail.verify.pending import named_after, not_pending_because
from keytrail.verify.report import LEVELS, FileResult, Finding, Level, Status, VerificationReport

T = TypeVar("T")
R = TypeVar("R")


def default_workers() -> int:
    return max(1, min(os.cpu_count() or 1, 8))


def verify_archive(
    sources: Sequence[str],
    public_keys: Sequence[PublicKey] | None = None,
    *,
    workers: int | None = None,
    s3_client: Any = None,
) -> VerificationReport:
    """Verify the digest and log files under ``sources`` (local paths, ``s3://bucket/prefix``).

    ``public_keys`` are CloudTrail's keys for the archive's Regions and time range
    (``load_public_keys``); without them signatures are not checked (hashes and the chain still
    are) and every digest stays ``unverified``. Files are hashed on ``workers`` threads. Raises
    ``UsageError`` for a source that cannot be verified (standard input, unknown URL scheme);
    a source or file that cannot be read is reported (level ``unreadable``), not raised.
    """
    return verify_archives(open_archives(sources, s3_client), public_keys, workers=workers)


def verify_archives(
    archives: Sequence[Archive], public_keys: Sequence[PublicKey] | None = None, *, workers: int | None = None
) -> VerificationReport:
    """``verify_archive`` over already opened archives (``LocalArchive``, ``S3Archive``, a fake)."""
    sources = tuple(a.description for a in archives)
    return _Verification(sources, public_keys, workers or default_workers()).run(archives)


@dataclass
class _DigestFile:
    """One digest file found in the archive (copies of one key are separate files)."""

    archive: Archive
    entry: Entry
    digest: Digest | None = None  # None when unreadable or invalid
    own_signature: str | None = None
    own_origin: str = ""
    levels: set[Level] = field(default_factory=set)
    signed: bool = False  # some signature over it verified

    @property
    def key(self) -> str:
        return self.entry.key or self.entry.uri

    @property
    def time(self) -> datetime | None:
        return key_time(self.key) or (self.digest.end if self.digest else None)


def _name(key: str) -> str:
    """A digest named in a message: its file name (account, Region, trail and time are in it)."""
    return key.rsplit("/", 1)[-1]


def _pmap(workers: int, fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
    items = list(items)
    if workers <= 1 or len(items) < 2:
        return [fn(i) for i in items]
    with ThreadPoolExecutor(max_workers=min(workers, len(items))) as pool:
        return list(pool.map(fn, items))


class _Verification:
    def __init__(self, sources: tuple[str, ...], keys: Sequence[PublicKey] | None, workers: int) -> None:
        self.keys = keys
        self.workers = workers
        self.report = VerificationReport(sources)

    def find(self, level: Level, kind: str, uri: str, key: str | None, message: str,
             on: _DigestFile | None = None) -> None:
        self.report.findings.append(Finding(level, kind, uri, key, message))
        if on is not None:
            on.levels.add(level)

    # ---- 1. enumerate -----------------------------------------------------------------------------

    def run(self, archives: Sequence[Archive]) -> VerificationReport:
        digests: list[_DigestFile] = []
        logs: list[tuple[Archive, Entry]] = []
        for archive in archives:
            found = errors = n_digests = n_logs = 0
            try:
                for entry in archive.entries():
                    found += 1
                    if entry.error is not None:
                        errors += 1
                        self.find("unreadable", "unreadable", entry.uri, None, entry.error)
                    elif entry.kind == "digest":
                        n_digests += 1
                        digests.append(_DigestFile(archive, entry))
                    elif entry.kind == "log":
                        n_logs += 1
                        logs.append((archive, entry))
                    else:
                        self.report.other_files += 1
            except SourceReadError as e:
                self.find("unreadable", "unreadable", e.uri, None, e.reason)
                continue
            if not n_digests and (found == 0 or found > errors):
                why = ("no digest files (CloudTrail-Digest/) found: is log file validation enabled on the trail?"
                       if n_logs else "no CloudTrail digest or log files found")
                self.find("failed", "no-digests", archive.description, None, why)
        if self.keys is None and digests:
            self.find("warning", "no-public-keys", "", None,
                      "no public keys given: digest signatures were not checked, only hashes and the chain")

        _pmap(self.workers, self.read_digest, digests)
        self.check_digests(digests)
        self.check_logs(digests, logs)

        parsed = [d.digest for d in digests if d.digest is not None]
        if parsed:
            self.report.first_digest = min(parsed, key=lambda d: d.start).start_time
            self.report.last_digest = max(parsed, key=lambda d: d.end).end_time
        for d in digests:
            self.report.digests.append(FileResult(d.entry.uri, d.entry.key, self.digest_status(d)))
        self.report.digests.sort(key=lambda r: r.uri)
        self.report.logs.sort(key=lambda r: r.uri)
        rank = {level: i for i, level in enumerate(LEVELS)}
        self.report.findings.sort(key=lambda f: (rank[f.level], f.key or f.uri, f.kind, f.uri))
        return self.report

    @staticmethod
    def digest_status(d: _DigestFile) -> Status:
        if "unreadable" in d.levels:
            return "unreadable"
        if "failed" in d.levels:
            return "failed"
        return "verified" if d.signed else "unverified"

    # ---- 2. digests -------------------------------------------------------------------------------

    def read_digest(self, d: _DigestFile) -> None:
        try:
            data, signature = d.archive.read_digest(d.entry)
        except SourceReadError as e:
            self.find("unreadable", "unreadable", d.entry.uri, d.entry.key, e.reason, on=d)
            return
        try:
            d.digest = parse_digest(gunzip(data))
        except (NotGzip, DigestFormatError) as e:
            self.find("failed", "digest-invalid", d.entry.uri, d.entry.key, f"not a valid digest file: {e}", on=d)
            return
        if signature is not None:
            d.own_signature = signature
            d.own_origin = "its S3 object metadata" if d.entry.uri.startswith("s3://") else "its .signature file"

    def check_digests(self, digests: list[_DigestFile]) -> None:
        by_key: dict[str, list[_DigestFile]] = defaultdict(list)
        for d in digests:
            by_key[d.key].append(d)
        # successors: digest key -> the digests (by key) that name it as their previous digest
        successors: dict[str, dict[str, _DigestFile]] = defaultdict(dict)
        for d in digests:
            if d.digest is not None and d.digest.previous is not None and d.digest.previous.key is not None:
                successors[d.digest.previous.key].setdefault(d.key, d)

        for d in digests:
            if d.digest is None:
                continue
            self.check_location(d)
            signatures = [self.check_link(d, s) for s in successors.get(d.key, {}).values()]
            if d.own_signature is not None:
                signatures.append((d.own_signature, d.own_origin))
            self.check_signatures(d, [s for s in signatures if s is not None])

        chains: dict[str, list[str]] = defaultdict(list)
        for key in by_key:
            if not is_backfill(key):
                chains[chain_of(key)].append(key)
        for keys in chains.values():
            keys.sort(key=lambda k: (by_key[k][0].time or datetime.min.replace(tzinfo=UTC), k))
            self.check_chain(keys, by_key, successors)
        for key, copies in by_key.items():
            if is_backfill(key):
                for d in copies:
                    if d.digest is not None and not successors.get(key) and d.own_signature is None:
                        self.find("failed", "digest-unsigned", d.entry.uri, d.key,
                                  "backfill digest: its signature (S3 object metadata) is not available offline "
                                  f"(save it as {_name(d.key)}{SIGNATURE_SUFFIX}, or verify from s3://): "
                                  "it and the log files only it lists are not verified", on=d)

    def check_location(self, d: _DigestFile) -> None:
        assert d.digest is not None
        recorded = d.digest.s3_uri
        if d.entry.uri.startswith("s3://"):
            moved = d.entry.uri != recorded
        else:
            moved = d.entry.key != archive_key(d.digest.s3_object)
        if moved:
            self.find("failed", "digest-moved", d.entry.uri, d.entry.key,
                      f"records its own location as {recorded}: renamed, moved or swapped with another digest", on=d)

    def check_link(self, d: _DigestFile, successor: _DigestFile) -> tuple[str, str] | None:
        """``successor`` names ``d`` as its previous digest: the bucket and hash it records must be
        ``d``'s; then the signature it records is one to check (returned with where it came from)."""
        assert d.digest is not None and successor.digest is not None and successor.digest.previous is not None
        link = successor.digest.previous
        if link.bucket != d.digest.bucket:
            self.find("failed", "digest-modified", d.entry.uri, d.entry.key,
                      f"records bucket {d.digest.bucket}, the next digest {_name(successor.key)} names bucket {link.bucket}", on=d)
            return None
        if link.hash_value != d.digest.sha256:
            self.find("failed", "digest-modified", d.entry.uri, d.entry.key,
                      f"content differs from the SHA-256 the next digest {_name(successor.key)} records for it", on=d)
            return None
        return link.signature, f"the next digest {_name(successor.key)}"

    def check_signatures(self, d: _DigestFile, signatures: list[tuple[str, str]]) -> None:
        """Each (signature, origin) over ``d``; one finding per problem, naming every origin."""
        assert d.digest is not None
        if self.keys is None:
            return
        if not signatures:
            if not any(k.fingerprint == d.digest.fingerprint for k in self.keys):
                self.find("failed", "digest-key", d.entry.uri, d.entry.key,
                          f"names a signing key (fingerprint {d.digest.fingerprint}) that matches none of the "
                          "public keys given", on=d)
            return
        problems: dict[tuple[Level, str, str], list[str]] = defaultdict(list)
        for signature, origin in signatures:
            result = check_signature(d.digest.signing_string(), signature, d.digest.fingerprint, d.digest.end, self.keys)
            if result.ok:
                d.signed = True
                if result.warning:
                    problems["warning", "key-validity", result.warning].append(origin)
            else:
                problems["failed", result.kind, result.message].append(origin)
        for (level, kind, message), origins in problems.items():
            if kind != "digest-key":  # the key is missing whatever carries the signature
                message += f" (signature from {' and '.join(origins)})"
            self.find(level, kind, d.entry.uri, d.entry.key, message, on=d)

    def check_chain(self, keys: list[str], by_key: dict[str, list[_DigestFile]],
                    successors: dict[str, dict[str, _DigestFile]]) -> None:
        """One trail's digests, oldest first."""
        present = set(by_key)
        for i, key in enumerate(keys):
            copies = by_key[key]
            first = next((c for c in copies if c.digest is not None), copies[0])
            named_by = successors.get(key, {})
            if len(named_by) > 1:
                for c in copies:
                    self.find("failed", "digest-fork", c.entry.uri, key,
                              f"{len(named_by)} digests name it as their previous digest: {', '.join(_name(k) for k in sorted(named_by))}", on=c)
            if not named_by:
                self.check_chain_end(keys, i, by_key, present)
            digest = first.digest
            if digest is None or digest.previous is None:
                continue
            previous = digest.previous
            if previous.key is not None and previous.key in present:
                continue
            if i == 0:
                for c in copies:
                    self.find("note", "chain-start", c.entry.uri, key,
                              f"its previous digest {previous.s3_uri} is not in the archive: verification starts here",
                              on=c)
            else:
                self.find("failed", "digest-missing", previous.s3_uri, previous.key,
                          f"named as previous digest by {_name(key)}, not in the archive")

    def check_chain_end(self, keys: list[str], i: int, by_key: dict[str, list[_DigestFile]], present: set[str]) -> None:
        """``keys[i]`` is named by no later digest: the newest, a restart, or a break."""
        copies = by_key[keys[i]]
        unsigned = [c for c in copies if c.digest is not None and c.own_signature is None]
        if i == len(keys) - 1:
            for c in unsigned:
                self.find("failed", "digest-unsigned", c.entry.uri, c.key,
                          "newest digest of its trail: its signature (S3 object metadata) is not available offline "
                          f"(save it as {_name(c.key)}{SIGNATURE_SUFFIX}, or verify from s3://): "
                          f"it and its {len(c.digest.log_files) if c.digest else 0} log file(s) are not verified", on=c)
            return
        nxt = by_key[keys[i + 1]]
        following = next((c.digest for c in nxt if c.digest is not None), None)
        if following is None:
            for c in unsigned:
                self.find("failed", "digest-unsigned", c.entry.uri, c.key,
                          f"cannot be linked: the next digest {_name(keys[i + 1])} could not be read as a digest", on=c)
        elif following.previous is None:
            for c in copies:
                self.find("note", "chain-restart", c.entry.uri, c.key,
                          f"the chain restarts at {_name(keys[i + 1])} (log file validation or logging was stopped)", on=c)
            for c in unsigned:
                self.find("failed", "digest-unsigned", c.entry.uri, c.key,
                          "last digest before the chain restarts: its signature is not available offline "
                          f"(save it as {_name(c.key)}{SIGNATURE_SUFFIX}, or verify from s3://)", on=c)
        elif following.previous.key is not None and following.previous.key not in present:
            for c in unsigned:
                self.find("failed", "digest-unsigned", c.entry.uri, c.key,
                          "the digest after it is missing: its signature is not available offline", on=c)
        else:
            for c in copies:
                self.find("failed", "digest-unlinked", c.entry.uri, c.key,
                          f"no later digest names it as previous: the next digest {_name(keys[i + 1])} names "
                          f"{_name(following.previous.key or following.previous.s3_uri)}", on=c)

    # ---- 3. log files -----------------------------------------------------------------------------

    def check_logs(self, digests: list[_DigestFile], logs: list[tuple[Archive, Entry]]) -> None:
        expected: dict[str, list[tuple[_DigestFile, LogRef]]] = defaultdict(list)
        newest_end: dict[tuple[str, str], datetime] = {}
        for d in digests:
            if d.digest is None:
                continue
            for ref in d.digest.log_files:
                expected[match_key(ref.key or ref.s3_uri)].append((d, ref))
            area = area_of(d.key)
            if area is not None and not is_backfill(d.key):
                if area not in newest_end or d.digest.end > newest_end[area]:
                    newest_end[area] = d.digest.end

        seen: set[str] = set()
        to_hash: list[tuple[Archive, Entry, list[tuple[_DigestFile, LogRef]]]] = []
        maybe_pending: list[tuple[Archive, Entry, datetime, datetime]] = []
        for archive, entry in logs:
            refs = expected.get(match_key(entry.key)) if entry.key else None
            if refs:
                seen.add(match_key(entry.key or ""))
                to_hash.append((archive, entry, refs))
                continue
            delivered, end = self.delivery(entry, newest_end)
            if delivered is not None and end is not None and named_after(delivered, end):
                maybe_pending.append((archive, entry, delivered, end))
            else:
                self.uncovered(entry)

        for entry, why in _pmap(self.workers, _pending_check, maybe_pending):
            self.report.logs.append(FileResult(entry.uri, entry.key, self.judge_pending(entry, why)))

        for _archive, entry, refs, outcome in _pmap(self.workers, _hash_log, to_hash):
            status = self.judge_log(entry, refs, outcome)
            if status == "verified" and isinstance(outcome, tuple):
                self.report.stored_sha256[entry.uri] = outcome[1]
            self.report.logs.append(FileResult(entry.uri, entry.key, status))

        for mk, refs in expected.items():
            if mk in seen:
                continue
            d, ref = refs[0]
            self.find("failed", "log-missing", ref.s3_uri, ref.key,
                      f"listed in digest {_name(d.key)}, not in the archive")

    @staticmethod
    def delivery(entry: Entry, newest_end: dict[tuple[str, str], datetime]) -> tuple[datetime | None, datetime | None]:
        """The delivery time a log file's name claims, and the end of the newest digest of its
        account and Region (None: not where CloudTrail delivers, no such digest, no such name)."""
        area = area_of(entry.key) if entry.key else None
        if area is None or entry.key is None:
            return None, None
        return log_time(entry.key), newest_end.get(area)

    def uncovered(self, entry: Entry) -> None:
        if entry.key is None:
            why = ("outside AWSLogs/: not where CloudTrail delivers log files, so no digest can cover it "
                   "(give the directory that holds AWSLogs/ as SOURCE)")
        elif area_of(entry.key) is None:
            why = "not where CloudTrail delivers log files (AWSLogs/ACCOUNT/CloudTrail/REGION/...)"
        else:
            why = "listed by no digest file"
        self.find("failed", "log-uncovered", entry.uri, entry.key, why)
        self.report.logs.append(FileResult(entry.uri, entry.key, "failed"))

    def judge_pending(self, entry: Entry, why: str | Exception | None) -> Status:
        if isinstance(why, SourceReadError):
            self.find("unreadable", "unreadable", entry.uri, entry.key, why.reason)
            return "unreadable"
        if why is None:
            self.find("warning", "log-pending", entry.uri, entry.key,
                      "delivered after the newest digest of its account and Region, and so are its records: "
                      "no digest covers it yet (not verified)")
            return "pending"
        self.find("failed", "log-uncovered", entry.uri, entry.key, f"listed by no digest file; {why}")
        return "failed"

    def judge_log(self, entry: Entry, refs: list[tuple[_DigestFile, LogRef]],
                  outcome: tuple[str, str] | Exception) -> Status:
        if isinstance(outcome, SourceReadError):
            self.find("unreadable", "unreadable", entry.uri, entry.key, outcome.reason)
            return "unreadable"
        if isinstance(outcome, Exception):
            self.find("failed", "log-modified", entry.uri, entry.key,
                      f"cannot be read ({outcome}): modified or damaged; listed in digest {_name(refs[0][0].key)}")
            return "failed"
        status: Status = "unverified"
        for d, ref in refs:
            if ref.hash_value != outcome[0]:
                self.find("failed", "log-modified", entry.uri, entry.key,
                          f"content differs from the SHA-256 digest {_name(d.key)} records")
                status = "failed"
            elif status != "failed" and d.signed and "failed" not in d.levels:
                status = "verified"
        return status


def _pending_check(item: tuple[Archive, Entry, datetime, datetime]) -> tuple[Entry, str | Exception | None]:
    """Whether a log file named as delivered after the newest digest is pending by its records:
    None if so, else why not (a ``SourceReadError`` when it cannot be read)."""
    archive, entry, delivered, end = item

    def content() -> bytes:
        try:
            return read_content(archive, entry)
        except NotGzip as e:
            raise ValueError(str(e)) from e

    try:
        return entry, not_pending_because(content, delivered, end)
    except SourceReadError as e:
        return entry, e


def _hash_log(item: tuple[Archive, Entry, list[tuple[_DigestFile, LogRef]]]
              ) -> tuple[Archive, Entry, list[tuple[_DigestFile, LogRef]], tuple[str, str] | Exception]:
    """The SHA-256 of a log file's content (what digests record) and of its stored bytes."""
    archive, entry, refs = item
    try:
        with archive.open(entry) as stream:
            return archive, entry, refs, content_and_stored_sha256(stream)
    except (SourceReadError, NotGzip) as e:
        return archive, entry, refs, e
    except OSError as e:
        return archive, entry, refs, SourceReadError(entry.uri, f"cannot read: {e.strerror or e}")
