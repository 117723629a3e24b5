"""The HTML report's timelines: calls per minute, hour, day or week (by the window's length), per
key, by operation and by its top principals (the rest summed as one series)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo

from keytrail.analysis.report_model import Axis, Series
from keytrail.normalize.operations import CATEGORIES
from keytrail.store import Store
from keytrail.times import maybe_iso as iso

TOP_SERIES = 6  # principals drawn in a key's timeline; the rest are "other"
OTHER = "other principals"

# the timeline's bucket, by the length of the window: at most a few hundred bars
_UNITS: tuple[tuple[str, timedelta | None, timedelta], ...] = (
    ("minute", timedelta(hours=3), timedelta(minutes=1)),
    ("hour", timedelta(days=4), timedelta(hours=1)),
    ("day", timedelta(days=731), timedelta(days=1)),
    ("week", None, timedelta(weeks=1)),
)
def _unit(first: datetime | None, last: datetime | None) -> tuple[str, timedelta]:
    span = (last - first) if first is not None and last is not None else timedelta(0)
    for name, limit, step in _UNITS:
        if limit is None or span <= limit:
            return name, step
    raise AssertionError("unreachable")  # pragma: no cover


def _truncate(t: datetime, unit: str) -> datetime:
    if unit == "minute":
        return t.replace(second=0, microsecond=0)
    if unit == "hour":
        return t.replace(minute=0, second=0, microsecond=0)
    day = t.replace(hour=0, minute=0, second=0, microsecond=0)
    return day if unit == "day" else day - timedelta(days=day.weekday())


def _wall(t: datetime, zone: tzinfo) -> datetime:
    """A naive UTC time as the wall-clock time of ``zone`` (naive)."""
    return t if zone is UTC else t.replace(tzinfo=UTC).astimezone(zone).replace(tzinfo=None)


def _bucket_name(wall: datetime, zone: tzinfo) -> str:
    """A bucket's start: ``2026-11-02T08:00:00Z``, or with the zone's offset (``...T17:00:00+09:00``)."""
    if zone is UTC:
        return iso(wall) or ""
    offset = wall.replace(tzinfo=zone).utcoffset() or timedelta(0)
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    return wall.strftime("%Y-%m-%dT%H:%M:%S") + f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def axis_of(first: datetime | None, last: datetime | None, zone: tzinfo = UTC) -> tuple[Axis, dict[datetime, int]]:
    """The buckets from the first call to the last, in the unit the window's length calls for and in
    the wall-clock time of ``zone`` (named by their start), and each start's index."""
    unit, step = _unit(first, last)
    if first is None or last is None:
        return Axis(unit, []), {}
    t, end = _truncate(_wall(first, zone), unit), _truncate(_wall(last, zone), unit)
    buckets: list[str] = []
    slots: dict[datetime, int] = {}
    while t <= end:
        slots[t] = len(buckets)
        buckets.append(_bucket_name(t, zone))
        t += step
    return Axis(unit, buckets), slots


def timelines(
    store: Store, where: str, params: list[object], axis: Axis, slots: dict[datetime, int], zone: tzinfo = UTC
) -> tuple[dict[str, list[Series]], dict[str, list[Series]]]:
    """Per key: calls per bucket by operation (category) and by principal (the top ``TOP_SERIES``,
    chosen in SQL, the rest as one series: rows returned grow with keys and buckets, not principals)."""
    if not axis.buckets:
        return {}, {}
    unit = axis.unit
    if zone is UTC:
        # date_trunc('week') starts weeks on Monday, as _truncate does
        bucket = f"date_trunc('{unit}', event_time)"
    else:
        # counted per quarter hour (every zone's offset is a whole number of them; per minute when the
        # buckets are minutes), then put into the zone's buckets
        bucket = "date_trunc('minute', event_time)" if unit == "minute" else "time_bucket(INTERVAL 15 MINUTE, event_time)"

    def index(t: datetime) -> int:
        return slots.get(_truncate(_wall(t, zone), unit), -1)

    by_op: dict[str, dict[str, dict[int, int]]] = {}
    for k, b, cat, n in store.query(
        f"SELECT key, {bucket} AS b, category, count(*) FROM key_use WHERE {where} GROUP BY ALL", params  # noqa: S608
    ):
        points = by_op.setdefault(k, {}).setdefault(cat, {})
        points[index(b)] = points.get(index(b), 0) + n
    ops_out = {
        k: [_series(c, series[c]) for c in CATEGORIES if c in series] for k, series in by_op.items()
    }
    by_p: dict[str, dict[str | None, dict[int, int]]] = {}
    for k, b, p, n in store.query(
        f"""WITH u AS (SELECT key, principal, event_time FROM key_use WHERE {where}),
                 top AS (SELECT key, principal FROM u GROUP BY key, principal
                         QUALIFY row_number() OVER (PARTITION BY key ORDER BY count(*) DESC, principal) <= {int(TOP_SERIES)})
            SELECT u.key, {bucket} AS b, top.principal, count(*) FROM u
            LEFT JOIN top ON top.key = u.key AND top.principal = u.principal GROUP BY ALL""",  # noqa: S608
        params,
    ):
        line = by_p.setdefault(k, {}).setdefault(p, {})
        line[index(b)] = line.get(index(b), 0) + n
    principals_out: dict[str, list[Series]] = {}
    for k, series in by_p.items():
        rest = series.pop(None, {})
        ranked = sorted(series, key=lambda p: (-sum(series[p].values()), p or ""))
        out = [_series(p or "", series[p]) for p in ranked]
        if rest:
            out.append(Series(OTHER, sum(rest.values()), sorted(rest.items()), other=True))
        principals_out[k] = out
    return ops_out, principals_out


def _series(name: str, points: dict[int, int]) -> Series:
    return Series(name, sum(points.values()), sorted(points.items()))


__all__ = ["OTHER", "TOP_SERIES", "axis_of", "timelines"]
