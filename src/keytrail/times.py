"""Time values as keytrail reads and writes them: ISO-8601 text, epoch seconds, naive UTC.

Every time keytrail keeps is UTC; ``datetime`` values are naive (DuckDB's ``TIMESTAMP``). One
spelling for output: ``2026-11-02T08:00:00Z``.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

from keytrail.errors import Term, UsageError

ISO_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def iso(t: datetime) -> str:
    """``2026-11-02T08:00:00Z``."""
    return t.strftime(ISO_FORMAT)


def maybe_iso(value: object) -> str | None:
    """``iso`` of a datetime; None for anything else (NULL from a query, a missing value)."""
    return value.strftime(ISO_FORMAT) if isinstance(value, datetime) else None


def iso_of_epoch(seconds: int) -> str:
    """``iso`` of epoch seconds."""
    return datetime.fromtimestamp(seconds, UTC).strftime(ISO_FORMAT)


def epoch(t: datetime) -> int:
    """Epoch seconds of a naive UTC datetime."""
    return int(t.replace(tzinfo=UTC).timestamp())


def epoch_of_day(day: str) -> int:
    """Epoch seconds of the start of a UTC day (``YYYY-MM-DD``)."""
    return int(datetime.combine(date.fromisoformat(day), datetime.min.time(), UTC).timestamp())


def utcnow() -> datetime:
    """The current time, naive UTC."""
    return datetime.now(UTC).replace(tzinfo=None)


def naive_utc(t: datetime) -> datetime:
    """``t`` in UTC, without its time zone (a naive ``t`` is taken as UTC already)."""
    return t.astimezone(UTC).replace(tzinfo=None) if t.tzinfo is not None else t


_AGO = re.compile(r"^\s*(\d{1,6})\s*([hdw])\s*$", re.IGNORECASE)
_UNITS = {"h": "hours", "d": "days", "w": "weeks"}


def ago(value: str, now: datetime | None = None) -> datetime | None:
    """A time ago (``12h``, ``7d``, ``30d``, ``2w``) as naive UTC, to the second before ``now``
    (default: the current time); None when ``value`` is not one."""
    m = _AGO.match(value)
    if m is None:
        return None
    start = (now if now is not None else utcnow()).replace(microsecond=0)
    return start - timedelta(**{_UNITS[m.group(2).lower()]: int(m.group(1))})


def parse_time_bound(value: str | None, setting: Term, now: datetime | None = None) -> datetime | None:
    """An ISO-8601 date or date-time, UTC unless it carries an offset, or a time ago (``7d``,
    ``12h``, ``2w``: before ``now``, default the current time). Returned naive, in UTC.

    ``setting`` names the value in an error (``errors.SINCE``, ``errors.UNTIL``, ...)."""
    if value is None or value == "":
        return None
    relative = ago(value, now)
    if relative is not None:
        return relative
    try:
        if len(value) == 10:
            d = date.fromisoformat(value)
            return datetime(d.year, d.month, d.day)
        dt = datetime.fromisoformat(value)
    except ValueError as e:
        raise UsageError(setting, f": {value!r} is not an ISO-8601 date or date-time, nor a time ago (7d, 12h, 2w)") from e
    if dt.tzinfo is not None:
        dt = dt.astimezone(UTC).replace(tzinfo=None)
    return dt
