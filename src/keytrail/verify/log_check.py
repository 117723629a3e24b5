"""Verification, part 3: log files against the digests that list them (``verify.check`` drives the
whole; see its docstring for the rules). ``LogChecks`` is the base of the verification: its
findings, and the checks of log files; ``DigestFile`` is a digest as the checks see it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from keytrail.errors import NotGzip, SourceReadError
from keytrail.i18n import _
from keytrail.verify.archive import Archive, Entry, content_and_stored_sha256, read_content
from keytrail.verify.digest import Digest, LogRef, area_of, is_backfill, key_time, log_time, match_key
from keytrail.verify.keys import PublicKey
from keytrail.verify.pending import named_after, not_pending_because
from keytrail.verify.results import FileResult, Finding, Level, Status, VerificationReport

T = TypeVar("T")
R = TypeVar("R")


@dataclass
class DigestFile:
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


def name_of(key: str) -> str:
    """A digest named in a message: its file name (account, Region, trail and time are in it)."""
    return key.rsplit("/", 1)[-1]


def pmap(workers: int, fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
    items = list(items)
    if workers <= 1 or len(items) < 2:
        return [fn(i) for i in items]
    with ThreadPoolExecutor(max_workers=min(workers, len(items))) as pool:
        return list(pool.map(fn, items))


class LogChecks:
    """The findings of one verification, and its checks of log files."""

    def __init__(self, sources: tuple[str, ...], keys: Sequence[PublicKey] | None, workers: int) -> None:
        self.keys = keys
        self.workers = workers
        self.report = VerificationReport(sources)

    def find(self, level: Level, kind: str, uri: str, key: str | None, message: str,
             on: DigestFile | None = None) -> None:
        self.report.findings.append(Finding(level, kind, uri, key, message))
        if on is not None:
            on.levels.add(level)

    # ---- 3. log files -----------------------------------------------------------------------------

    def check_logs(self, digests: list[DigestFile], logs: list[tuple[Archive, Entry]]) -> None:
        expected: dict[str, list[tuple[DigestFile, LogRef]]] = defaultdict(list)
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
        to_hash: list[tuple[Archive, Entry, list[tuple[DigestFile, LogRef]]]] = []
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

        for entry, why in pmap(self.workers, _pending_check, maybe_pending):
            self.report.logs.append(FileResult(entry.uri, entry.key, self.judge_pending(entry, why)))

        for _archive, entry, refs, outcome in pmap(self.workers, _hash_log, to_hash):
            status = self.judge_log(entry, refs, outcome)
            if status == "verified" and isinstance(outcome, tuple):
                self.report.stored_sha256[entry.uri] = outcome[1]
            self.report.logs.append(FileResult(entry.uri, entry.key, status))

        for mk, refs in expected.items():
            if mk in seen:
                continue
            d, ref = refs[0]
            self.find("failed", "log-missing", ref.s3_uri, ref.key,
                      _("listed in digest {digest}, not in the archive").format(digest=name_of(d.key)))

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
            why = _("outside AWSLogs/: not where CloudTrail delivers log files, so no digest can cover it "
                    "(give the directory that holds AWSLogs/ as SOURCE)")
        elif area_of(entry.key) is None:
            why = _("not where CloudTrail delivers log files ({layout})").format(layout="AWSLogs/ACCOUNT/CloudTrail/REGION/...")
        else:
            why = _("listed by no digest file")
        self.find("failed", "log-uncovered", entry.uri, entry.key, why)
        self.report.logs.append(FileResult(entry.uri, entry.key, "failed"))

    def judge_pending(self, entry: Entry, why: str | Exception | None) -> Status:
        if isinstance(why, SourceReadError):
            self.find("unreadable", "unreadable", entry.uri, entry.key, why.reason)
            return "unreadable"
        if why is None:
            self.find("warning", "log-pending", entry.uri, entry.key,
                      _("delivered after the newest digest of its account and Region, and so are its records: "
                        "no digest covers it yet (not verified)"))
            return "pending"
        self.find("failed", "log-uncovered", entry.uri, entry.key,
                  _("listed by no digest file; {reason}").format(reason=why))
        return "failed"

    def judge_log(self, entry: Entry, refs: list[tuple[DigestFile, LogRef]],
                  outcome: tuple[str, str] | Exception) -> Status:
        if isinstance(outcome, SourceReadError):
            self.find("unreadable", "unreadable", entry.uri, entry.key, outcome.reason)
            return "unreadable"
        if isinstance(outcome, Exception):
            self.find("failed", "log-modified", entry.uri, entry.key,
                      _("cannot be read ({reason}): modified or damaged; listed in digest {digest}").format(
                          reason=outcome, digest=name_of(refs[0][0].key)))
            return "failed"
        status: Status = "unverified"
        for d, ref in refs:
            if ref.hash_value != outcome[0]:
                self.find("failed", "log-modified", entry.uri, entry.key,
                          _("content differs from the SHA-256 digest {digest} records").format(digest=name_of(d.key)))
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


def _hash_log(item: tuple[Archive, Entry, list[tuple[DigestFile, LogRef]]]
              ) -> tuple[Archive, Entry, list[tuple[DigestFile, LogRef]], tuple[str, str] | Exception]:
    """The SHA-256 of a log file's content (what digests record) and of its stored bytes."""
    archive, entry, refs = item
    try:
        with archive.open(entry) as stream:
            return archive, entry, refs, content_and_stored_sha256(stream)
    except (SourceReadError, NotGzip) as e:
        return archive, entry, refs, e
    except OSError as e:
        return archive, entry, refs, SourceReadError(entry.uri, _("cannot read: {reason}").format(reason=e.strerror or e))
