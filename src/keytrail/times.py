"""Time values as keytrail reads and writes them: ISO-8601 text, epoch seconds, naive UTC.

Every time keytrail keeps is UTC; ``datetime`` values are naive (DuckDB's ``TIMESTAMP``). One
spelling for output: ``2026-11-02T08:00:00Z``.
"""

from __future__ import annotations

import calendar
import re
import time
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo

from keytrail.errors import Term, UsageError
from keytrail.i18n import _

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
        raise UsageError(setting, _(": {value!r} is not an ISO-8601 date or date-time, nor a time ago (7d, 12h, 2w)")
                         .format(value=value)) from e
    if dt.tzinfo is not None:
        dt = dt.astimezone(UTC).replace(tzinfo=None)
    return dt


class _SystemZone(tzinfo):
    """The zone the C library takes from ``TZ`` (a POSIX rule such as ``JST-9``, which zoneinfo
    does not read): offsets from ``time.localtime``."""

    def utcoffset(self, dt: datetime | None) -> timedelta:
        if dt is None:
            return timedelta(seconds=time.localtime().tm_gmtoff)
        seconds = calendar.timegm(dt.replace(tzinfo=None).timetuple())
        return timedelta(seconds=time.localtime(seconds).tm_gmtoff)

    def dst(self, dt: datetime | None) -> timedelta | None:
        return None

    def tzname(self, dt: datetime | None) -> str:
        return time.tzname[0]

    def fromutc(self, dt: datetime) -> datetime:
        seconds = calendar.timegm(dt.replace(tzinfo=None).timetuple())
        return dt + timedelta(seconds=time.localtime(seconds).tm_gmtoff)


_OFFSET = re.compile(r"^(?:UTC|GMT)?([+-])(\d{1,2})(?::?(\d{2}))?$")


def parse_zone(name: str, setting: Term) -> tzinfo:
    """A time zone by its IANA name (``Asia/Tokyo``), ``UTC``, or a fixed offset (``+09:00``,
    ``UTC+9``). ``setting`` names the value in an error."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    if name.upper() in ("UTC", "Z", "GMT"):
        return UTC
    m = _OFFSET.match(name)
    if m:
        delta = timedelta(hours=int(m.group(2)), minutes=int(m.group(3) or 0))
        if delta > timedelta(hours=14):
            raise UsageError(setting, _(": {value!r} is not a time zone offset (at most 14 hours)").format(value=name))
        return timezone(-delta if m.group(1) == "-" else delta)
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as e:
        raise UsageError(
            setting, _(": {value!r} is not a time zone (an IANA name such as Asia/Tokyo, or an offset such as +09:00)")
            .format(value=name)
        ) from e


def zone_of_environment(value: str) -> tuple[tzinfo, str]:
    """The zone ``TZ`` names, and its name: an IANA name (``Asia/Tokyo``, ``:Asia/Tokyo``), a zone
    file's path, else a POSIX rule, which the C library reads."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    name = value[1:] if value.startswith(":") else value
    if name.upper() in ("UTC", "UTC0", "GMT", "GMT0", "UCT", "UNIVERSAL", "ZULU", "ETC/UTC"):
        return UTC, "UTC"
    try:
        if name.startswith("/"):
            with open(name, "rb") as f:
                return ZoneInfo.from_file(f, key=name), name
        return ZoneInfo(name), name
    except (ZoneInfoNotFoundError, ValueError, OSError):
        time.tzset()
        return _SystemZone(), name
