"""The HTML report's timelines: calls per minute, hour, day or week (by the window's length), per
key, by operation and by its top principals (the rest summed as one series)."""

from __future__ import annotations

from datetime import datetime, timedelta

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


def axis_of(first: datetime | None, last: datetime | None) -> Axis:
    """The buckets from the first call to the last, in the unit the window's length calls for."""
    unit, step = _unit(first, last)
    if first is None or last is None:
        return Axis(unit, [])
    t, end = _truncate(first, unit), _truncate(last, unit)
    buckets = []
    while t <= end:
        buckets.append(iso(t) or "")
        t += step
    return Axis(unit, buckets)


def timelines(
    store: Store, where: str, params: list[object], axis: Axis, first: datetime | None
) -> tuple[dict[str, list[Series]], dict[str, list[Series]]]:
    """Per key: calls per bucket by operation (category) and by principal (the top ``TOP_SERIES``,
    chosen in SQL, the rest as one series: rows returned grow with keys and buckets, not principals)."""
    if first is None or not axis.buckets:
        return {}, {}
    unit = axis.unit
    origin = _truncate(first, unit)
    # date_trunc('week') starts weeks on Monday, as _truncate does
    bucket = f"date_trunc('{unit}', event_time)"
    step = {"minute": 60, "hour": 3600, "day": 86400, "week": 7 * 86400}[unit]

    def index(t: datetime) -> int:
        return int((t - origin).total_seconds()) // step

    by_op: dict[str, dict[str, dict[int, int]]] = {}
    for k, b, cat, n in store.query(
        f"SELECT key, {bucket} AS b, category, count(*) FROM key_use WHERE {where} GROUP BY ALL", params  # noqa: S608
    ):
        by_op.setdefault(k, {}).setdefault(cat, {})[index(b)] = n
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
        by_p.setdefault(k, {}).setdefault(p, {})[index(b)] = n
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
