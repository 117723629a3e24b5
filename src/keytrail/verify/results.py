"""What a verification found: one status per file, findings that name files, a one-line summary.

Finding levels:

* ``failed``: evidence of tampering or loss, or nothing that vouches for a file -- a log file
  modified, missing or covered by no digest (one outside ``AWSLogs/`` included); a digest
  invalid, moved, modified, missing, whose signature is not available (the newest digest of a
  local copy without its ``.signature`` file, a backfill digest), or naming a key none of the
  public keys given has; a break or fork in the chain of digests.
* ``unreadable``: a file or source could not be read, so it was not verified.
* ``warning``: not evidence of tampering -- no public keys given (nothing can be verified), log
  files pending (delivered after the newest digest, see ``keytrail.verify.pending``), a key used
  outside the validity period it is listed with.
* ``note``: context -- where a chain starts in the archive, where it restarts.

File statuses: ``verified`` (a log whose hash matches a digest whose signature verified; a
digest whose signature verified), ``failed``, ``unverified`` (nothing contradicts it, but no
verified signature vouches for it), ``pending`` (a log file delivered, and holding records, after
the newest digest of its account and Region), ``unreadable``. Only ``verified`` log files are read
by ``--verify``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Level = Literal["failed", "unreadable", "warning", "note"]
Status = Literal["verified", "failed", "unverified", "pending", "unreadable"]

LEVELS: tuple[Level, ...] = ("failed", "unreadable", "warning", "note")

# kind -> (singular, plural) phrase for the summary line
_PHRASES: dict[str, tuple[str, str]] = {
    "log-modified": ("log file modified", "log files modified"),
    "log-missing": ("log file missing", "log files missing"),
    "log-uncovered": ("log file not covered by any digest", "log files not covered by any digest"),
    "digest-invalid": ("digest file invalid", "digest files invalid"),
    "digest-moved": ("digest file not where it was delivered", "digest files not where they were delivered"),
    "digest-modified": ("digest file modified", "digest files modified"),
    "digest-signature": ("digest signature invalid", "digest signatures invalid"),
    "digest-key": ("digest file signed with an unknown key", "digest files signed with an unknown key"),
    "digest-missing": ("digest file missing", "digest files missing"),
    "digest-unlinked": ("break in the digest chain", "breaks in the digest chain"),
    "digest-fork": ("fork in the digest chain", "forks in the digest chain"),
    "no-digests": ("source without digest files", "sources without digest files"),
    "unreadable": ("file unreadable", "files unreadable"),
    "digest-unsigned": ("digest file not verifiable offline (signature not available)",
                        "digest files not verifiable offline (signatures not available)"),
    "no-public-keys": ("digest signatures not checked (no public keys given)",
                       "digest signatures not checked (no public keys given)"),
    "key-validity": ("digest signed outside its key's listed validity", "digests signed outside their key's listed validity"),
    "log-pending": ("log file newer than the newest digest", "log files newer than the newest digest"),
}


_UNCOUNTED = {"no-public-keys"}  # said once, whatever the number of findings


def _count(n: int, kind: str) -> str:
    one, many = _PHRASES.get(kind, (kind, kind))
    return one if kind in _UNCOUNTED else f"{n} {one if n == 1 else many}"


def _phrase_order(item: tuple[str, int]) -> int:
    order = list(_PHRASES)
    return order.index(item[0]) if item[0] in _PHRASES else len(order)


def _files(n: int, what: str) -> str:
    return f"{n} {what} file{'' if n == 1 else 's'}"


@dataclass(frozen=True)
class Finding:
    """Something found about one file: ``uri`` is its local path or S3 URI (for a missing file,
    where it was delivered), ``key`` its path from ``AWSLogs/`` onward."""

    level: Level
    kind: str
    uri: str
    key: str | None
    message: str


@dataclass(frozen=True)
class FileResult:
    """The verdict on one file found in the archive."""

    uri: str
    key: str | None
    status: Status


@dataclass
class VerificationReport:
    """The outcome of ``verify_archive``: ``ok`` when nothing failed and everything was read."""

    sources: tuple[str, ...]
    digests: list[FileResult] = field(default_factory=list)
    logs: list[FileResult] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    other_files: int = 0  # neither digest nor log (Insights files, notes): not verified
    first_digest: str | None = None  # digestStartTime of the oldest digest read
    last_digest: str | None = None  # digestEndTime of the newest digest read
    # uri -> SHA-256 (hex) of the bytes of each verified log file as read: ingest under --verify
    # reads only these bytes (keytrail.verify.gate)
    stored_sha256: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def failed(self) -> bool:
        return any(f.level == "failed" for f in self.findings)

    @property
    def unreadable(self) -> bool:
        return any(f.level == "unreadable" for f in self.findings)

    @property
    def ok(self) -> bool:
        """Nothing failed verification and every file was read (warnings allowed)."""
        return not self.failed and not self.unreadable

    def of_level(self, level: Level) -> list[Finding]:
        return [f for f in self.findings if f.level == level]

    def statuses(self) -> dict[str, Status]:
        """uri -> status of every log and digest file found in the archive."""
        return {r.uri: r.status for r in (*self.digests, *self.logs)}

    def status_of(self, uri: str) -> Status | None:
        """The status of one file found in the archive (None: not found, or not checked)."""
        return next((r.status for r in (*self.logs, *self.digests) if r.uri == uri), None)

    def summary(self) -> str:
        """One line: the verdict, what failed, how much was verified, what could not be."""
        kinds = Counter(f.kind for f in self.findings if f.level in ("failed", "unreadable"))
        warnings = Counter(f.kind for f in self.findings if f.level == "warning")
        d_ok = sum(r.status == "verified" for r in self.digests)
        l_ok = sum(r.status == "verified" for r in self.logs)
        verdict = "FAILED" if self.failed else "INCOMPLETE" if self.unreadable else "OK"
        parts: list[str] = []
        if kinds:
            parts.append(", ".join(_count(n, k) for k, n in sorted(kinds.items(), key=_phrase_order)))
        if d_ok == len(self.digests) and l_ok == len(self.logs):
            verified = f"{_files(d_ok, 'digest')} and {_files(l_ok, 'log')} verified"
        else:
            verified = (f"{d_ok} of {_files(len(self.digests), 'digest')} and "
                        f"{l_ok} of {_files(len(self.logs), 'log')} verified")
        if self.first_digest and self.last_digest:
            verified += f" (digests from {self.first_digest} to {self.last_digest})"
        parts.append(verified)
        notes = [_count(n, k) for k, n in sorted(warnings.items(), key=_phrase_order)]
        unverified_logs = sum(r.status == "unverified" for r in self.logs)
        if unverified_logs:
            notes.append(f"{_files(unverified_logs, 'log')} covered only by unverified digests")
        if self.other_files:
            notes.append(f"{self.other_files} other file{'' if self.other_files == 1 else 's'} not checked")
        if notes:
            parts.append(", ".join(notes))
        return f"{verdict}: " + "; ".join(parts)

    def counts(self) -> dict[str, dict[str, int]]:
        return {
            "digests": dict(Counter(r.status for r in self.digests)),
            "logs": dict(Counter(r.status for r in self.logs)),
            "findings": dict(Counter(f.level for f in self.findings)),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "summary": self.summary(),
            "sources": list(self.sources),
            "counts": self.counts(),
            "other_files": self.other_files,
            "first_digest": self.first_digest,
            "last_digest": self.last_digest,
            "findings": [asdict(f) for f in self.findings],
            "digests": [asdict(r) for r in self.digests],
            "logs": [asdict(r) for r in self.logs],
        }
