"""Time slices: what makes API sources (Event history, Athena) resumable and idempotent.

The window is cut into UTC hours or days; each slice is one or more ledger batches, and a slice
that ended long enough ago is *closed*: once all its parts are in the store, a later run skips it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from keytrail.sources import RecordBatch
from keytrail.times import iso

SETTLE = timedelta(hours=1)  # events may appear this long after they happened


@dataclass(frozen=True)
class TimeSlice:
    """Events in [start, end) (naive UTC). ``base`` keys the ledger; ``closed`` when no more can come."""

    start: datetime
    end: datetime
    base: str
    closed: bool


def plan_slices(
    prefix: str,
    since: datetime,
    until: datetime,
    step: timedelta,
    now: datetime,
    until_is_now: bool,
) -> list[TimeSlice]:
    """Slices of ``step`` (an hour or a day) aligned on UTC boundaries covering [since, until).

    A whole slice is named by its start (``PREFIX/2026-10-01T05Z``); one cut by --since/--until by
    its bounds (``PREFIX/2026-10-01T05:30:00Z..2026-10-01T06:00:00Z``), so different cuts never
    replace each other's records (overlaps are removed by the resolver). A slice is *closed* when
    it is whole and ended more than ``SETTLE`` ago: a later run skips it. Open slices (the current
    hour) are fetched again by the next run and replace their earlier copy.
    """
    out: list[TimeSlice] = []
    if until <= since:
        return out
    epoch = datetime(1970, 1, 1)
    steps = (since - epoch) // step
    cursor = epoch + steps * step
    fmt = "%Y-%m-%dT%HZ" if step < timedelta(days=1) else "%Y-%m-%d"
    while cursor < until:
        nominal_end = cursor + step
        start = max(cursor, since)
        end = min(nominal_end, until)
        whole = start == cursor and (end == nominal_end or until_is_now)
        if whole:
            base = f"{prefix}/{cursor.strftime(fmt)}"
        else:
            base = f"{prefix}/{iso(start)}..{iso(end)}"
        closed = start == cursor and end == nominal_end and nominal_end <= now - SETTLE
        out.append(TimeSlice(start, end, base, closed))
        cursor = nominal_end
    return out


def completed_bases(known: Mapping[str, str]) -> set[str]:
    """Slice names whose every part is in the ledger and whose last part says the slice is closed."""
    parts: dict[str, dict[int, str]] = {}
    for uri, version in known.items():
        base, sep, part = uri.rpartition("#")
        if sep and part.isdigit():
            parts.setdefault(base, {})[int(part)] = version
    done = set()
    for base, by_part in parts.items():
        for n, version in by_part.items():
            if version == "closed:end" and all(i in by_part for i in range(1, n)):
                done.add(base)
                break
    return done


def contiguous(slices: list[TimeSlice]) -> list[list[TimeSlice]]:
    """Runs of consecutive slices (each run is fetched with one query)."""
    runs: list[list[TimeSlice]] = []
    for s in slices:
        if runs and runs[-1][-1].end == s.start:
            runs[-1].append(s)
        else:
            runs.append([s])
    return runs


@dataclass
class SliceCollector:
    """Cuts a time-ordered stream of records into ledger batches, one or more parts per slice.

    ``slices`` are in the order the stream visits them (oldest first for Athena, newest first for
    LookupEvents). A part holds at most ``part_size`` records (bounded memory); the last part of
    a slice is versioned ``closed:end`` (or ``open ...:end``), so a killed run leaves the slice
    incomplete in the ledger and the next run fetches it again, replacing the parts it had.
    """

    slices: list[TimeSlice]
    descending: bool
    part_size: int
    stamp: str  # e.g. the fetch time, for open slices' versions
    skip: frozenset[str] = frozenset()
    shape: str = "api"
    _index: int = 0
    _buffer: list[object] = field(default_factory=list)
    _part: int = 0

    def _version(self, s: TimeSlice, end: bool) -> str:
        state = "closed" if s.closed else f"open {self.stamp}"
        return f"{state}:end" if end else f"{state}:part"

    def _flush(self, end: bool) -> Iterator[Any]:
        s = self.slices[self._index]
        if s.base in self.skip:
            self._buffer = []
            return
        self._part += 1
        yield RecordBatch(f"{s.base}#{self._part}", self._version(s, end), self._buffer, self.shape)
        self._buffer = []

    def _beyond(self, t: datetime, s: TimeSlice) -> bool:
        return t < s.start if self.descending else t >= s.end

    def add(self, t: datetime | None, record: object) -> Iterator[Any]:
        """Add one record (``t`` its event time; None keeps it in the current slice)."""
        while (
            t is not None
            and self._index < len(self.slices) - 1
            and self._beyond(t, self.slices[self._index])
        ):
            yield from self._finish_current()
        self._buffer.append(record)
        if len(self._buffer) >= self.part_size:
            yield from self._flush(end=False)

    def _finish_current(self) -> Iterator[Any]:
        yield from self._flush(end=True)
        self._index += 1
        self._part = 0

    def finish(self) -> Iterator[Any]:
        """Close every remaining slice (those without records get an empty final part)."""
        while self._index < len(self.slices):
            yield from self._finish_current()
