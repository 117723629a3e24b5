"""Rollups: small native tables that ``usage``, ``keys`` and ``who-uses`` read instead of every
key-use row.

Made from the rows ``key_use`` shows, when a resolution ends (``Rollups.roll_up``):

- ``rollup_days``: calls per key, principal (and its type), category, whether the key was
  resolved, and UTC day, with the first and last call's time;
- ``rollup_details``: calls per key, principal and each value of a detail ``who-uses`` lists
  (via, session name, resource, source IP), over all time;
- ``rollup_refs``: the alias ARNs calls named, and the key each resolved to (or not);
- ``rollup_created``: the keys a CreateKey call made.

Each table has two parts. ``settled`` (the rows their record alone decides) grows by the rows of
the files read since it was made (``meta.rollup_upto``: the last file id it holds), merged into
it; the keys whose settled rows changed otherwise -- a row found to be a re-delivery of another
record, or no longer -- are made again from their rows (``rollup_stale_keys``, filled in the
transaction that swaps the resolution in), and a file replaced by a changed one makes the whole
part again. ``resolved`` (the rows the group rules decided) is made again at a whole resolution,
as the resolved segments are; a resolution of new files merges the rows it wrote into it and
makes again the keys whose resolved rows it changed otherwise. Both change in the transaction that ends the resolution and clears
``needs_resolve``: the rollups match ``key_use`` whenever that flag is clear (``rollups_ready``);
while it is set, reports read the rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from keytrail.resolve import fill, key_use_select
from keytrail.store.segment_tables import ROLLUP_UPTO, SegmentTables
from keytrail.store.segments import VIEW_COLUMNS
from keytrail.store.tables import DETAIL_COLUMNS, DETAIL_SETS


@dataclass(frozen=True)
class _Rollup:
    table: str
    select: str  # over {rows} (key_use's columns): the table's columns after ``part``
    merge: str  # over {rows} (the table's columns after ``part``): the same, merged
    by: tuple[str, ...] = ("key", "principal")  # what a merge reads and writes again: these columns' values


def _detail_select() -> str:
    """One grouping per detail, its rows' other detail columns NULL (faster, measured, than one
    aggregation with grouping sets)."""
    return " UNION ALL ".join(
        f"(SELECT '{','.join(cols)}' AS detail, key, principal, "  # noqa: S608 - constants
        f"{', '.join(c if c in cols else f'CAST(NULL AS VARCHAR) AS {c}' for c in DETAIL_COLUMNS)}, count(*) AS calls "
        f"FROM {{rows}} GROUP BY key, principal, {', '.join(cols)})"
        for cols in DETAIL_SETS
    )


_DAYS = "key, key_resolved, principal, principal_type, category"
ROLLUPS = (
    _Rollup(
        "rollup_days",
        f"SELECT {_DAYS}, CAST(event_time AS DATE) AS day, count(*) AS calls, min(event_time) AS first_seen, "  # noqa: S608 - constants
        "max(event_time) AS last_seen FROM {rows} GROUP BY ALL",
        f"SELECT {_DAYS}, day, CAST(sum(calls) AS BIGINT), min(first_seen), max(last_seen) FROM {{rows}} GROUP BY ALL",  # noqa: S608 - constants
    ),
    _Rollup(
        "rollup_details",
        _detail_select(),
        f"SELECT detail, key, principal, {', '.join(DETAIL_COLUMNS)}, CAST(sum(calls) AS BIGINT) FROM {{rows}} GROUP BY ALL",  # noqa: S608 - constants
    ),
    _Rollup(
        "rollup_refs",
        "SELECT DISTINCT key, key_resolved, key_ref FROM {rows} WHERE key_ref LIKE 'arn:%:alias/%'",
        "SELECT DISTINCT * FROM {rows}",
        ("key",),
    ),
    _Rollup(
        "rollup_created",
        "SELECT DISTINCT key FROM {rows} WHERE event_name = 'CreateKey' AND category = 'admin'",
        "SELECT DISTINCT * FROM {rows}",
        ("key",),
    ),
)

ROLLED_COLUMNS = ", ".join(dict.fromkeys(("key", "key_resolved", "principal", "principal_type", "category", "event_time",
                                           "event_name", "key_ref", *DETAIL_COLUMNS)))
"""The key_use columns the rollups read."""
ONCE_ROWS = 2_000_000

_EPOCH = datetime(1970, 1, 1)


def _seconds(t: datetime) -> int:
    """The first whole second at or after ``t`` (naive UTC), in epoch seconds: a stored call (whole
    seconds) is at or after ``t`` exactly when it is at or after this."""
    us = (t.replace(tzinfo=None) if t.tzinfo is None else t.astimezone(UTC).replace(tzinfo=None)) - _EPOCH
    return -(-(us // timedelta(microseconds=1)) // 1_000_000)


USE_COLUMNS = "key, key_resolved, key_account, key_region, principal, principal_type, category, calls, first_seen, last_seen"
"""The columns of ``Rollups.use_sql``: ``calls`` rows of ``key_use`` with these values, the first
and the last at ``first_seen`` and ``last_seen``."""


class Rollups(SegmentTables):
    """The rollups of a store (the base of ``Resolution``)."""

    def rollups_ready(self) -> bool:
        """Whether the rollups match ``key_use`` (resolved, and made since the last change)."""
        return self.get_meta("needs_resolve") != "1" and self.get_meta(ROLLUP_UPTO) is not None

    def use_sql(self, since: datetime | None = None, until: datetime | None = None) -> str | None:
        """Calls in the window [since, until) as a relation of ``USE_COLUMNS``: the whole UTC days
        in it from ``rollup_days``, the rest of it (a part of a day at either end) from the rows.
        None when the rollups do not match the rows (``rollups_ready``)."""
        if not self.rollups_ready():
            return None
        key_cols = "key, key_resolved, split_part(key, ':', 5) AS key_account, split_part(key, ':', 4) AS key_region"
        days = f"SELECT {key_cols}, principal, principal_type, category, calls, first_seen, last_seen FROM rollup_days"  # noqa: S608
        if since is None and until is None:
            return days
        lo = None if since is None else _seconds(since)
        hi = None if until is None else _seconds(until)
        first = None if lo is None else -(-lo // 86400)  # the whole days: [first, last)
        last = None if hi is None else hi // 86400
        conds = [*([f"day >= DATE '{_day(first)}'"] if first is not None else []),
                 *([f"day < DATE '{_day(last)}'"] if last is not None else [])]
        if first is not None and last is not None and first >= last:
            conds = ["false"]
        raw = [*([f"event_time >= {lo}"] if lo is not None else []), *([f"event_time < {hi}"] if hi is not None else [])]
        if conds != ["false"]:
            outside = [*([f"event_time < {first * 86400}"] if first is not None else []),
                       *([f"event_time >= {last * 86400}"] if last is not None else [])]
            raw.append(f"({' OR '.join(outside)})")
        rows = (
            f"SELECT key, key_resolved, key_account, key_region, principal, principal_type, category, 1 AS calls, "  # noqa: S608 - numbers
            f"event_time AS first_seen, event_time AS last_seen FROM ({self.key_use_sql(' AND '.join(raw))})"
        )
        return f"({days} WHERE {' AND '.join(conds)}) UNION ALL ({rows})"

    def window_sql(self, since: datetime | None = None, until: datetime | None = None) -> str:
        """``key_use``'s rows in the window [since, until), the window pushed into the Parquet scans
        (whose row groups' time ranges skip what is outside it)."""
        raw = [*([f"event_time >= {_seconds(since)}"] if since is not None else []),
               *([f"event_time < {_seconds(until)}"] if until is not None else [])]
        if not raw or not self.segmented:
            return "key_use"
        return f"({self.key_use_sql(' AND '.join(raw))})"

    def details_sql(self) -> str | None:
        """``rollup_details`` with ``key_account`` and ``key_region``, all time; None when the
        rollups do not match the rows."""
        if not self.rollups_ready():
            return None
        return ("SELECT *, split_part(key, ':', 5) AS key_account, split_part(key, ':', 4) AS key_region "
                "FROM rollup_details")

    def refs_sql(self) -> str:
        """The alias ARNs calls named (``key_ref``), each with the key it meant and whether it was
        resolved (``key_resolved``): a relation of those three columns."""
        if self.rollups_ready():
            return "(SELECT DISTINCT key, key_resolved, key_ref FROM rollup_refs)"
        return "(SELECT DISTINCT key, key_resolved, key_ref FROM key_use WHERE key_ref LIKE 'arn:%:alias/%')"

    def created_sql(self) -> str:
        """The keys a CreateKey call made: a relation of ``key``."""
        if self.rollups_ready():
            return "(SELECT DISTINCT key FROM rollup_created)"
        return "(SELECT DISTINCT key FROM key_use WHERE event_name = 'CreateKey' AND category = 'admin')"

    def keys_sql(self) -> str:
        """Every key ``key_use`` names: a relation of ``key``."""
        return "(SELECT DISTINCT key FROM rollup_days)" if self.rollups_ready() else "(SELECT DISTINCT key FROM key_use)"

    def mark_stale_keys(self, changed: str) -> None:
        """Keys of the settled rows ``changed`` names (a relation of file_id, rec_index, row_no)
        that the rollups hold, to be made again (inside the caller's transaction)."""
        upto = self.get_meta(ROLLUP_UPTO)
        if upto is None:
            return
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE _changed AS SELECT * FROM ({changed}) WHERE file_id <= {int(upto)}")  # noqa: S608
        counted = self.con.execute("SELECT count(*) FROM _changed").fetchone()
        if counted and counted[0]:
            self.con.execute(
                f"INSERT INTO rollup_stale_keys SELECT DISTINCT s.key FROM {self._segments_sql(self.segment_names())} s "  # noqa: S608
                "SEMI JOIN _changed c ON c.file_id = s.file_id AND c.rec_index = s.rec_index AND c.row_no = s.row_no"
            )
        self.con.execute("DROP TABLE _changed")

    def _rows_once(self, name: str, rows: str) -> str:
        """``rows`` (key_use's rows) for the rollups to read: up to ``ONCE_ROWS`` rows, the columns they
        read copied once into a temporary table (each Parquet column decoded once, not once per
        rollup); more, read where they are (a copy would spill to disk)."""
        counted = self.con.execute(f"SELECT count(*) FROM ({rows})").fetchone()  # noqa: S608 - the store's own text
        if counted is None or counted[0] > ONCE_ROWS:
            return f"({rows})"
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT {ROLLED_COLUMNS} FROM ({rows})")  # noqa: S608 - constants
        return name

    def _merge_settled(self, r: _Rollup, delta: str, part: str = "settled") -> None:
        """``delta`` (rows of ``r.select``) merged into the settled (or ``part``) part of
        ``r.table``: only its rows of the keys and principals (``r.by``) the delta holds are read
        and written again."""
        con = self.con
        con.execute(f"CREATE OR REPLACE TEMP TABLE _delta AS {delta}")
        counted = con.execute("SELECT count(*) FROM _delta").fetchone()
        if counted and counted[0]:
            by = ", ".join(r.by)
            same = " AND ".join(f"t.{c} IS NOT DISTINCT FROM d.{c}" for c in r.by)
            touched = f"(SELECT DISTINCT {by} FROM _delta) d"  # noqa: S608 - constants
            kept = f"SELECT t.* EXCLUDE (part) FROM {r.table} t SEMI JOIN {touched} ON {same} WHERE t.part = '{part}'"  # noqa: S608
            con.execute(f"CREATE OR REPLACE TEMP TABLE _merged AS {fill(r.merge, rows=f'(({kept}) UNION ALL (SELECT * FROM _delta))')}")  # noqa: S608 - constants
            con.execute(f"DELETE FROM {r.table} t USING {touched} WHERE t.part = '{part}' AND {same}")  # noqa: S608
            con.execute(f"INSERT INTO {r.table} SELECT '{part}', * FROM _merged")  # noqa: S608
            con.execute("DROP TABLE _merged")
        con.execute("DROP TABLE _delta")

    def roll_up(self, added: Sequence[str] | None = None, changed: str | None = None) -> None:
        """Bring the rollups to the rows ``key_use`` shows now (inside the caller's transaction,
        after the views are written): see the module docstring. ``added``: the resolved segments
        a resolution of new files wrote, merged into the resolved part, and ``changed`` (a table of
        ``key``) the keys whose resolved rows it changed otherwise, made again from their rows;
        None: the resolved part made whole."""
        con = self.con
        upto = self.get_meta(ROLLUP_UPTO)
        stale = bool(con.execute("SELECT count(*) FROM rollup_stale_keys").fetchone()[0])  # type: ignore[index]
        if upto is None:
            raw = ""
        elif stale:
            raw = f"file_id > {int(upto)} OR key IN (SELECT key FROM rollup_stale_keys)"  # noqa: S608 - a number
        else:
            raw = f"file_id > {int(upto)}"
        settled, _ = self.key_use_parts(raw)
        _, resolved = self.key_use_parts()
        new_rows = self._rows_once("_settled_rows", " UNION ALL ".join(f"({p})" for p in settled))
        if added is None:
            resolved_rows = self._rows_once("_resolved_rows", resolved[0]) if resolved else None
        else:
            self._roll_up_resolved(resolved, added, changed)
            resolved_rows = None
        for r in ROLLUPS:
            if upto is None:
                con.execute(f"DELETE FROM {r.table} WHERE part = 'settled'")  # noqa: S608
            elif stale:
                con.execute(f"DELETE FROM {r.table} WHERE part = 'settled' AND key IN (SELECT key FROM rollup_stale_keys)")  # noqa: S608
            delta = fill(r.select, rows=new_rows)
            if upto is None:
                con.execute(f"INSERT INTO {r.table} SELECT 'settled', * FROM ({delta})")  # noqa: S608
            else:
                self._merge_settled(r, delta)
            if added is not None:
                continue
            con.execute(f"DELETE FROM {r.table} WHERE part = 'resolved'")  # noqa: S608
            if resolved_rows is not None:
                con.execute(f"INSERT INTO {r.table} SELECT 'resolved', * FROM ({fill(r.select, rows=resolved_rows)})")  # noqa: S608
        con.execute("DROP TABLE IF EXISTS _settled_rows")
        con.execute("DROP TABLE IF EXISTS _resolved_rows")
        con.execute("DELETE FROM rollup_stale_keys")
        last = con.execute("SELECT coalesce(max(file_id), 0) FROM files").fetchone()
        self.set_meta(ROLLUP_UPTO, str(int(last[0]) if last else 0))

    def _roll_up_resolved(self, resolved: list[str], added: Sequence[str], changed: str | None) -> None:
        """The resolved part after a resolution of new files (``resolved``: every resolved row, as
        ``key_use_parts`` gives them): the keys in ``changed`` made again from their rows, the rows
        of ``added`` of the other keys merged in."""
        con = self.con
        others = ""
        if resolved and changed is not None and con.execute(f"SELECT count(*) FROM {changed}").fetchone() != (0,):  # noqa: S608
            of_changed = self._rows_once("_resolved_rows", f"SELECT * FROM ({resolved[0]}) WHERE key IN (SELECT key FROM {changed})")  # noqa: S608
            for r in ROLLUPS:
                con.execute(f"DELETE FROM {r.table} WHERE part = 'resolved' AND key IN (SELECT key FROM {changed})")  # noqa: S608
                con.execute(f"INSERT INTO {r.table} SELECT 'resolved', * FROM ({fill(r.select, rows=of_changed)})")  # noqa: S608
            con.execute("DROP TABLE IF EXISTS _resolved_rows")
            others = f" WHERE key NOT IN (SELECT key FROM {changed})"  # noqa: S608
        if not added:
            return
        cols = ", ".join(VIEW_COLUMNS)
        rows = self._rows_once(
            "_resolved_rows", f"SELECT * FROM ({key_use_select(f'(SELECT {cols} FROM {self._segments_sql(added)})')}){others}"  # noqa: S608
        )
        for r in ROLLUPS:
            self._merge_settled(r, fill(r.select, rows=rows), part="resolved")
        con.execute("DROP TABLE IF EXISTS _resolved_rows")


def _day(n: int) -> str:
    return (_EPOCH + timedelta(days=n)).date().isoformat()
