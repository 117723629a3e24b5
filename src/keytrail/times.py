"""Time values as keytrail reads and writes them: ISO-8601 text, epoch seconds, naive UTC.

Every time keytrail keeps is UTC; ``datetime`` values are naive (DuckDB's ``TIMESTAMP``). One
spelling for output: ``2026-11-02T08:00:00Z``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

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


def parse_time_bound(value: str | None, setting: Term) -> datetime | None:
    """An ISO-8601 date or date-time; UTC unless it carries an offset. Returned naive, in UTC.

    ``setting`` names the value in an error (``errors.SINCE``, ``errors.UNTIL``, ...)."""
    if value is None or value == "":
        return None
    try:
        if len(value) == 10:
            d = date.fromisoformat(value)
            return datetime(d.year, d.month, d.day)
        dt = datetime.fromisoformat(value)
    except ValueError as e:
        raise UsageError(setting, f": {value!r} is not an ISO-8601 date or date-time") from e
    if dt.tzinfo is not None:
        dt = dt.astimezone(UTC).replace(tzinfo=None)
    return dt
