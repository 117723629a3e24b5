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
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from keytrail.i18n import _, local_iso, ngettext

Level = Literal["failed", "unreadable", "warning", "note"]
Status = Literal["verified", "failed", "unverified", "pending", "unreadable"]

LEVELS: tuple[Level, ...] = ("failed", "unreadable", "warning", "note")

# the kinds in the order the summary line names them
_ORDER = (
    "log-modified", "log-missing", "log-uncovered", "digest-invalid", "digest-moved", "digest-modified",
    "digest-signature", "digest-key", "digest-missing", "digest-unlinked", "digest-fork", "no-digests", "unreadable",
    "digest-unsigned", "no-public-keys", "key-validity", "log-pending",
)


def _count(n: int, kind: str) -> str:  # long: one phrase per kind, each a counted message of its own
    """``n`` findings of ``kind`` as the summary line says them (in the current language)."""
    phrases: dict[str, Callable[[], str]] = {
        "log-modified": lambda: ngettext("{n} log file modified", "{n} log files modified", n),
        "log-missing": lambda: ngettext("{n} log file missing", "{n} log files missing", n),
        "log-uncovered": lambda: ngettext("{n} log file not covered by any digest", "{n} log files not covered by any digest", n),
        "digest-invalid": lambda: ngettext("{n} digest file invalid", "{n} digest files invalid", n),
        "digest-moved": lambda: ngettext("{n} digest file not where it was delivered", "{n} digest files not where they were delivered", n),
        "digest-modified": lambda: ngettext("{n} digest file modified", "{n} digest files modified", n),
        "digest-signature": lambda: ngettext("{n} digest signature invalid", "{n} digest signatures invalid", n),
        "digest-key": lambda: ngettext("{n} digest file signed with an unknown key", "{n} digest files signed with an unknown key", n),
        "digest-missing": lambda: ngettext("{n} digest file missing", "{n} digest files missing", n),
        "digest-unlinked": lambda: ngettext("{n} break in the digest chain", "{n} breaks in the digest chain", n),
        "digest-fork": lambda: ngettext("{n} fork in the digest chain", "{n} forks in the digest chain", n),
        "no-digests": lambda: ngettext("{n} source without digest files", "{n} sources without digest files", n),
        "unreadable": lambda: ngettext("{n} file unreadable", "{n} files unreadable", n),
        "digest-unsigned": lambda: ngettext("{n} digest file not verifiable offline (signature not available)",
                            "{n} digest files not verifiable offline (signatures not available)", n),
        "key-validity": lambda: ngettext("{n} digest signed outside its key's listed validity",
                         "{n} digests signed outside their key's listed validity", n),
        "log-pending": lambda: ngettext("{n} log file newer than the newest digest", "{n} log files newer than the newest digest", n),
    }
    if kind == "no-public-keys":  # said once, whatever the number of findings
        return _("digest signatures not checked (no public keys given)")
    if kind not in phrases:
        return f"{n} {kind}"
    return phrases[kind]().format(n=n)


def _phrase_order(item: tuple[str, int]) -> int:
    return _ORDER.index(item[0]) if item[0] in _ORDER else len(_ORDER)


def _files(n: int, what: str) -> str:
    if what == "digest":
        return ngettext("{n} digest file", "{n} digest files", n).format(n=n)
    return ngettext("{n} log file", "{n} log files", n).format(n=n)


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
        verdict = _("FAILED") if self.failed else _("INCOMPLETE") if self.unreadable else _("OK")
        parts: list[str] = []
        if kinds:
            parts.append(_(", ").join(_count(n, k) for k, n in sorted(kinds.items(), key=_phrase_order)))
        if d_ok == len(self.digests) and l_ok == len(self.logs):
            verified = _("{digests} and {logs} verified").format(digests=_files(d_ok, "digest"), logs=_files(l_ok, "log"))
        else:
            verified = _("{d_ok} of {digests} and {l_ok} of {logs} verified").format(
                d_ok=d_ok, digests=_files(len(self.digests), "digest"), l_ok=l_ok, logs=_files(len(self.logs), "log"))
        if self.first_digest and self.last_digest:
            verified += _(" (digests from {start} to {end})").format(
                start=local_iso(self.first_digest), end=local_iso(self.last_digest))
        parts.append(verified)
        notes = [_count(n, k) for k, n in sorted(warnings.items(), key=_phrase_order)]
        unverified_logs = sum(r.status == "unverified" for r in self.logs)
        if unverified_logs:
            notes.append(_("{logs} covered only by unverified digests").format(logs=_files(unverified_logs, "log")))
        if self.other_files:
            notes.append(ngettext("{n} other file not checked", "{n} other files not checked", self.other_files)
                         .format(n=self.other_files))
        if notes:
            parts.append(_(", ").join(notes))
        summary = parts[0]
        for part in parts[1:]:
            summary = _("{summary}; {more}").format(summary=summary, more=part)
        return _("{verdict}: {summary}").format(verdict=verdict, summary=summary)

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
