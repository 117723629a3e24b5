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
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from keytrail.errors import DigestFormatError, NotGzip, SourceReadError
from keytrail.i18n import _
from keytrail.verify.archive import SIGNATURE_SUFFIX, Archive, Entry, gunzip, open_archives
from keytrail.verify.digest import (
    archive_key,
    chain_of,
    is_backfill,
    parse_digest,
)
from keytrail.verify.keys import PublicKey, check_signature
from keytrail.verify.log_check import DigestFile, LogChecks, name_of, pmap
from keytrail.verify.results import LEVELS, FileResult, Level, Status, VerificationReport


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


class _Verification(LogChecks):
    """One verification: every digest, its signatures and chain, then every log file."""

    # ---- 1. enumerate -----------------------------------------------------------------------------

    def run(self, archives: Sequence[Archive]) -> VerificationReport:
        digests: list[DigestFile] = []
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
                        digests.append(DigestFile(archive, entry))
                    elif entry.kind == "log":
                        n_logs += 1
                        logs.append((archive, entry))
                    else:
                        self.report.other_files += 1
            except SourceReadError as e:
                self.find("unreadable", "unreadable", e.uri, None, e.reason)
                continue
            if not n_digests and (found == 0 or found > errors):
                why = (_("no digest files (CloudTrail-Digest/) found: is log file validation enabled on the trail?")
                       if n_logs else _("no CloudTrail digest or log files found"))
                self.find("failed", "no-digests", archive.description, None, why)
        if self.keys is None and digests:
            self.find("warning", "no-public-keys", "", None,
                      _("no public keys given: digest signatures were not checked, only hashes and the chain"))

        pmap(self.workers, self.read_digest, digests)
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
    def digest_status(d: DigestFile) -> Status:
        if "unreadable" in d.levels:
            return "unreadable"
        if "failed" in d.levels:
            return "failed"
        return "verified" if d.signed else "unverified"

    # ---- 2. digests -------------------------------------------------------------------------------

    def read_digest(self, d: DigestFile) -> None:
        try:
            data, signature = d.archive.read_digest(d.entry)
        except SourceReadError as e:
            self.find("unreadable", "unreadable", d.entry.uri, d.entry.key, e.reason, on=d)
            return
        try:
            d.digest = parse_digest(gunzip(data))
        except (NotGzip, DigestFormatError) as e:
            self.find("failed", "digest-invalid", d.entry.uri, d.entry.key, _("not a valid digest file: {reason}").format(reason=e), on=d)
            return
        if signature is not None:
            d.own_signature = signature
            d.own_origin = _("its S3 object metadata") if d.entry.uri.startswith("s3://") else _("its .signature file")

    def check_digests(self, digests: list[DigestFile]) -> None:
        by_key: dict[str, list[DigestFile]] = defaultdict(list)
        for d in digests:
            by_key[d.key].append(d)
        # successors: digest key -> the digests (by key) that name it as their previous digest
        successors: dict[str, dict[str, DigestFile]] = defaultdict(dict)
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
                                  _("backfill digest: its signature (S3 object metadata) is not available offline "
                                    "(save it as {file}, or verify from s3://): it and the log files only it lists "
                                    "are not verified").format(file=name_of(d.key) + SIGNATURE_SUFFIX), on=d)

    def check_location(self, d: DigestFile) -> None:
        assert d.digest is not None
        recorded = d.digest.s3_uri
        if d.entry.uri.startswith("s3://"):
            moved = d.entry.uri != recorded
        else:
            moved = d.entry.key != archive_key(d.digest.s3_object)
        if moved:
            self.find("failed", "digest-moved", d.entry.uri, d.entry.key,
                      _("records its own location as {location}: renamed, moved or swapped with another digest")
                      .format(location=recorded), on=d)

    def check_link(self, d: DigestFile, successor: DigestFile) -> tuple[str, str] | None:
        """``successor`` names ``d`` as its previous digest: the bucket and hash it records must be
        ``d``'s; then the signature it records is one to check (returned with where it came from)."""
        assert d.digest is not None and successor.digest is not None and successor.digest.previous is not None
        link = successor.digest.previous
        if link.bucket != d.digest.bucket:
            self.find("failed", "digest-modified", d.entry.uri, d.entry.key,
                      _("records bucket {bucket}, the next digest {next} names bucket {named}").format(
                          bucket=d.digest.bucket, next=name_of(successor.key), named=link.bucket), on=d)
            return None
        if link.hash_value != d.digest.sha256:
            self.find("failed", "digest-modified", d.entry.uri, d.entry.key,
                      _("content differs from the SHA-256 the next digest {next} records for it").format(
                          next=name_of(successor.key)), on=d)
            return None
        return link.signature, _("the next digest {next}").format(next=name_of(successor.key))

    def check_signatures(self, d: DigestFile, signatures: list[tuple[str, str]]) -> None:
        """Each (signature, origin) over ``d``; one finding per problem, naming every origin."""
        assert d.digest is not None
        if self.keys is None:
            return
        if not signatures:
            if not any(k.fingerprint == d.digest.fingerprint for k in self.keys):
                self.find("failed", "digest-key", d.entry.uri, d.entry.key,
                          _("names a signing key (fingerprint {fingerprint}) that matches none of the public keys "
                            "given").format(fingerprint=d.digest.fingerprint), on=d)
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
                message += _(" (signature from {origins})").format(origins=_(" and ").join(origins))
            self.find(level, kind, d.entry.uri, d.entry.key, message, on=d)

    def check_chain(self, keys: list[str], by_key: dict[str, list[DigestFile]],
                    successors: dict[str, dict[str, DigestFile]]) -> None:
        """One trail's digests, oldest first."""
        present = set(by_key)
        for i, key in enumerate(keys):
            copies = by_key[key]
            first = next((c for c in copies if c.digest is not None), copies[0])
            named_by = successors.get(key, {})
            if len(named_by) > 1:
                for c in copies:
                    self.find("failed", "digest-fork", c.entry.uri, key,
                              _("{n} digests name it as their previous digest: {digests}").format(
                                  n=len(named_by), digests=", ".join(name_of(k) for k in sorted(named_by))), on=c)
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
                              _("its previous digest {previous} is not in the archive: verification starts here")
                              .format(previous=previous.s3_uri), on=c)
            else:
                self.find("failed", "digest-missing", previous.s3_uri, previous.key,
                          _("named as previous digest by {digest}, not in the archive").format(digest=name_of(key)))

    def check_chain_end(self, keys: list[str], i: int, by_key: dict[str, list[DigestFile]], present: set[str]) -> None:
        """``keys[i]`` is named by no later digest: the newest, a restart, or a break."""
        copies = by_key[keys[i]]
        unsigned = [c for c in copies if c.digest is not None and c.own_signature is None]
        if i == len(keys) - 1:
            for c in unsigned:
                self.find("failed", "digest-unsigned", c.entry.uri, c.key,
                          _("newest digest of its trail: its signature (S3 object metadata) is not available "
                            "offline (save it as {file}, or verify from s3://): it and its {n} log file(s) are not "
                            "verified").format(file=name_of(c.key) + SIGNATURE_SUFFIX,
                                               n=len(c.digest.log_files) if c.digest else 0), on=c)
            return
        nxt = by_key[keys[i + 1]]
        following = next((c.digest for c in nxt if c.digest is not None), None)
        if following is None:
            for c in unsigned:
                self.find("failed", "digest-unsigned", c.entry.uri, c.key,
                          _("cannot be linked: the next digest {next} could not be read as a digest").format(
                              next=name_of(keys[i + 1])), on=c)
        elif following.previous is None:
            for c in copies:
                self.find("note", "chain-restart", c.entry.uri, c.key,
                          _("the chain restarts at {next} (log file validation or logging was stopped)").format(
                              next=name_of(keys[i + 1])), on=c)
            for c in unsigned:
                self.find("failed", "digest-unsigned", c.entry.uri, c.key,
                          _("last digest before the chain restarts: its signature is not available offline "
                            "(save it as {file}, or verify from s3://)").format(
                              file=name_of(c.key) + SIGNATURE_SUFFIX), on=c)
        elif following.previous.key is not None and following.previous.key not in present:
            for c in unsigned:
                self.find("failed", "digest-unsigned", c.entry.uri, c.key,
                          _("the digest after it is missing: its signature is not available offline"), on=c)
        else:
            for c in copies:
                self.find("failed", "digest-unlinked", c.entry.uri, c.key,
                          _("no later digest names it as previous: the next digest {next} names {named}").format(
                              next=name_of(keys[i + 1]),
                              named=name_of(following.previous.key or following.previous.s3_uri)), on=c)
