"""What each SOURCE held, as given: a source with no CloudTrail log file is said, never taken for
"no calls".

A file is credited to every SOURCE it was found under (a file named twice is read once, and counts
for both). A SOURCE holds a CloudTrail log file when one of its files was read as CloudTrail now,
or was read as CloudTrail by an earlier ingest and is unchanged since.
"""

from __future__ import annotations

from dataclasses import dataclass, field

LOG = "log"  # the outcome of a file read as CloudTrail (its records counted, even none)


@dataclass
class OriginTally:
    """The files found under one SOURCE, by what they turned out to be."""

    logs: int = 0
    listed: int = 0
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> files
    unreadable: int = 0

    def instead(self) -> str:
        """What the SOURCE held instead of CloudTrail log files ("found 3 CloudTrail digest file(s);
        1 unreadable file(s)")."""
        if self.listed and self.unreadable == self.listed:
            return "it could not be read"
        parts = [_files(n, reason) for reason, n in sorted(self.skipped.items(), key=lambda x: (-x[1], x[0]))[:3]]
        more = sum(sorted(self.skipped.values(), reverse=True)[3:])
        if more:
            parts.append(f"{more} other file(s) skipped")
        if self.unreadable:
            parts.append(f"{self.unreadable} unreadable file(s)")
        return "found " + "; ".join(parts)


def _files(n: int, reason: str) -> str:
    """``n`` files skipped for ``reason`` ("3 CloudTrail digest file(s)", "1 file(s): valid JSON, ...")."""
    return f"{n} {reason}(s)" if reason.endswith(" file") else f"{n} file(s): {reason}"


class Origins:
    """The tally of every SOURCE of one ingest."""

    def __init__(self) -> None:
        self.tallies: dict[str, OriginTally] = {}
        self._pending: dict[str, list[str]] = {}  # uri of a file being read -> the SOURCEs it was found under

    def declare(self, origins: tuple[str, ...]) -> None:
        for origin in origins:
            self.tallies.setdefault(origin, OriginTally())

    def listed(self, origin: str, uri: str | None = None, outcome: str | None = None) -> None:
        """A file found under ``origin``: its outcome known now (unreadable, skipped, unchanged), or
        later (``uri`` given, ``outcome`` None: it is being read)."""
        self.tallies.setdefault(origin, OriginTally()).listed += 1
        if outcome is not None:
            self._count(origin, outcome)
        elif uri is not None:
            self._pending.setdefault(uri, []).append(origin)

    def again(self, origin: str, uri: str, known: str) -> None:
        """A file found again under ``origin`` (listed first under another): whatever reading it
        gives, or ``known``, its outcome when it is not being read."""
        if uri in self._pending:
            self._pending[uri].append(origin)
            self.tallies.setdefault(origin, OriginTally()).listed += 1
        else:
            self.listed(origin, outcome=known)

    def read(self, uri: str, outcome: str) -> None:
        """The outcome of a file that was read: ``LOG``, ``error``, or the reason it was skipped."""
        for origin in self._pending.pop(uri, ()):
            self._count(origin, outcome)

    def _count(self, origin: str, outcome: str) -> None:
        tally = self.tallies[origin]
        if outcome == LOG:
            tally.logs += 1
        elif outcome == "error":
            tally.unreadable += 1
        else:
            tally.skipped[outcome] = tally.skipped.get(outcome, 0) + 1

    def without_logs(self) -> list[str]:
        """The SOURCEs that held no CloudTrail log file."""
        return [origin for origin, tally in self.tallies.items() if not tally.logs]

    @staticmethod
    def unreadable_only(tally: OriginTally) -> bool:
        """Every file found was unreadable (each already named as such)."""
        return bool(tally.listed) and tally.unreadable == tally.listed


def no_logs(origin: str, tally: OriginTally, found_instead: str | None) -> str:
    """Why ``origin`` gave no CloudTrail log file: what it held instead (``found_instead``: what
    its source says it holds when nothing was listed)."""
    what = tally.instead() if tally.listed else (found_instead or "nothing was found there")
    return f"{origin}: no CloudTrail log file: {what}"
