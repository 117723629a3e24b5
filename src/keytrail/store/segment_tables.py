"""The key-use rows of a store: its Parquet segments, the views over them, and their upkeep.

A chunk's ledger entries, side tables and segments are registered in one transaction
(``write_chunk``); the views ``raw_key_use`` and ``key_use`` name the registered segments by
absolute path (``write_views``); small segments are merged (``compact``); the rows that need other
records are resolved by the group rules (``store.resolution``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from contextlib import suppress
from typing import Any

import duckdb

from keytrail.errors import StoreError
from keytrail.i18n import _
from keytrail.resolve import key_use_select
from keytrail.store.connection import Database, private_files, sql_text
from keytrail.store.segments import (
    RAW_COLUMNS,
    ROW_GROUP,
    STORED_COLUMNS,
    VIEW_COLUMNS,
    Segment,
    arrow_type,
    new_segment_name,
)

ROLLUP_UPTO = "rollup_upto"
"""meta: the last file id whose settled rows the rollups hold (absent: the rollups are to be made
again; see ``store.rollup``)."""
RESOLVED_UPTO = "resolved_upto"
"""meta: the last file id the resolution holds; the next resolution re-decides only the groups the
files after it touch (absent: the next resolution is a whole one; see ``store.resolution``)."""
COMPACT_AT = 64  # segments before small ones are merged
COMPACT_ROWS = 1_000_000  # rows a merged segment aims at


def _sql_type(name: str) -> str:
    import pyarrow as pa

    t = arrow_type(name)
    if t == pa.int64():
        return "BIGINT"
    if t == pa.bool_():
        return "BOOLEAN"
    if pa.types.is_list(t):
        return "VARCHAR[]"
    return "VARCHAR"


def _no_rows() -> str:
    """A relation with a segment's columns and no rows (a store without segments)."""
    cols = ", ".join(f"CAST(NULL AS {_sql_type(c)}) AS {c}" for c in STORED_COLUMNS)
    return f"(SELECT {cols} WHERE false)"  # noqa: S608 - constant column names


class SegmentTables(Database):
    """A store's segments and the views over them (the base of ``Store``)."""

    segmented = True  # key_use reads the segments (not a Parquet dataset's views)

    def _segments_sql(self, names: Sequence[str]) -> str:
        """The rows of these segments as a relation (the typed empty relation for none); a row's
        ``file_index`` (DuckDB's) is its segment's place in ``names``."""
        if not names:
            return _no_rows()
        paths = ", ".join(sql_text(self.segment_path(n)) for n in names)
        return f"read_parquet([{paths}])"

    def key_use_parts(self, raw: str = "") -> tuple[list[str], list[str]]:
        """The ``key_use`` relation as its parts: the settled rows' selects and the resolved rows'
        (``raw``: a further condition over a segment's own columns -- ``event_time`` in epoch
        seconds, ``file_id``, ``key`` -- that DuckDB pushes into the Parquet scans)."""
        names = self.segment_names()
        touched = {
            r[0]
            for r in self.con.execute(
                "SELECT DISTINCT f.segment FROM resolution r JOIN files f USING (file_id) WHERE r.reopened"
            ).fetchall()
        } & set(names)
        clean = [n for n in names if n not in touched]
        and_raw = f" AND ({raw})" if raw else ""
        settled_cols = ", ".join(VIEW_COLUMNS)
        settled = [f"SELECT {settled_cols} FROM {self._segments_sql(clean)} WHERE NOT open{and_raw}"]  # noqa: S608 - paths quoted by sql_text, names are keytrail's own
        if touched:
            settled.append(
                f"SELECT {settled_cols} FROM {self._segments_sql(sorted(touched))} s WHERE NOT open{and_raw} AND NOT EXISTS ("  # noqa: S608 - paths quoted by sql_text, names are keytrail's own
                "SELECT 1 FROM resolution x WHERE x.reopened AND x.file_id = s.file_id AND x.rec_index = s.rec_index "
                "AND x.row_no = s.row_no)"
            )
        resolved = self.segment_names("resolved")
        where = f" WHERE {raw}" if raw else ""
        return (
            [key_use_select(f"({p})", settled=True) for p in settled],
            [key_use_select(f"(SELECT {settled_cols} FROM {self._segments_sql(resolved)}{where})")] if resolved else [],  # noqa: S608 - paths quoted by sql_text
        )

    def key_use_sql(self, raw: str = "") -> str:
        """The ``key_use`` relation, its rows narrowed by ``raw`` (see ``key_use_parts``)."""
        settled, resolved = self.key_use_parts(raw)
        return " UNION ALL ".join(f"({p})" for p in (*settled, *resolved))

    def write_views(self, temp: bool = False) -> None:
        """(Re)create ``raw_key_use`` and ``key_use`` over the registered segments (inside the
        caller's transaction unless ``temp``)."""
        kind = "TEMP VIEW" if temp else "VIEW"
        raw_cols = ", ".join(RAW_COLUMNS)
        self.con.execute(
            f"CREATE OR REPLACE {kind} raw_key_use AS SELECT {raw_cols}, key, who, category FROM {self._segments_sql(self.segment_names())}"  # noqa: S608
        )
        self.con.execute(f"CREATE OR REPLACE {kind} key_use AS {self.key_use_sql()}")
        if not temp:
            self.set_meta("segments_dir", self.segments_dir)

    def write_chunk(
        self, files: Any, replaced_uris: Iterable[str], tables: dict[str, Any], segments: Sequence[Segment] = ()
    ) -> None:
        """Ledger entries, the chunk's side tables (Arrow tables named like the store's) and its
        segments, inside the caller's transaction: the ledger and the rows commit together.

        ``tables`` may hold alias_history, credentials, record_problems (appended) and
        identity_map (unique id, arn; added where new). Files in ``replaced_uris`` (changed since
        they were read) lose their old rows first.
        """
        con = self.con
        replaced = list(replaced_uris)
        if replaced:
            gone = [
                r[0]
                for r in con.execute(
                    "SELECT file_id FROM files WHERE uri IN (SELECT unnest(?::VARCHAR[]))", [replaced]
                ).fetchall()
            ]
            self._drop_files(gone)
        self._append("files", files)
        for name in ("alias_history", "credentials", "record_problems"):
            self._append(name, tables.get(name))
        ids = tables.get("identity_map")
        if ids is not None and ids.num_rows:
            con.register("_chunk_ids", ids)
            learned = ("SELECT DISTINCT c.unique_id, c.arn FROM _chunk_ids c "
                       "ANTI JOIN identity_map m ON m.unique_id = c.unique_id AND m.arn = c.arn")
            if self.get_meta(RESOLVED_UPTO) is not None:  # what the next resolution re-decides
                con.execute(f"INSERT INTO identity_changes SELECT DISTINCT unique_id FROM ({learned})")  # noqa: S608
            con.execute(f"INSERT INTO identity_map SELECT unique_id, arn, 'trail' FROM ({learned})")  # noqa: S608
            con.unregister("_chunk_ids")
        ingest = con.execute("SELECT max(ingest_id) FROM ingests").fetchone()
        for seg in segments:
            con.execute("INSERT INTO segments VALUES (?, ?, ?, 'rows')", [seg.name, seg.rows, ingest[0] if ingest else None])
        if segments or replaced:
            self.write_views()
        con.execute("INSERT OR REPLACE INTO meta VALUES ('needs_resolve', '1')")

    def resolve_whole_next(self) -> None:
        """Mark the store for a resolution of every row (a change other than new files: see
        ``store.resolution``; inside the caller's transaction, if any)."""
        self.con.execute("INSERT OR REPLACE INTO meta VALUES ('needs_resolve', '1')")
        self.con.execute("DELETE FROM meta WHERE key = ?", [RESOLVED_UPTO])

    def _drop_files(self, file_ids: Sequence[int]) -> None:
        """Remove every row of these files: the side tables' rows, and the segments that hold
        some are rewritten without them."""
        if not file_ids:
            return
        con = self.con
        ids = list(file_ids)
        holding = [
            r[0]
            for r in con.execute(
                "SELECT DISTINCT segment FROM files WHERE segment IS NOT NULL AND file_id IN (SELECT unnest(?::BIGINT[]))",
                [ids],
            ).fetchall()
        ]
        # the rollups' settled part and the resolution are made again from the rows at the next resolution
        con.execute(f"DELETE FROM meta WHERE key IN ('{ROLLUP_UPTO}', '{RESOLVED_UPTO}')")  # noqa: S608 - constants
        for table in ("alias_history", "record_problems", "credentials"):
            con.execute(f"DELETE FROM {table} WHERE file_id IN (SELECT unnest(?::BIGINT[]))", [ids])  # noqa: S608
        con.execute("DELETE FROM files WHERE file_id IN (SELECT unnest(?::BIGINT[]))", [ids])
        for name in holding:
            self._rewrite(
                [name],
                f"SELECT * FROM {self._segments_sql([name])} WHERE file_id NOT IN (SELECT unnest(?::BIGINT[]))",  # noqa: S608
                [ids],
            )

    def _rewrite(self, old: Sequence[str], query: str, params: Sequence[object] = (), kind: str = "rows") -> None:
        """Replace segments ``old`` by one holding ``query``'s rows (inside the caller's transaction;
        ``kind``: the segments', see ``segment_names``)."""
        name = new_segment_name()
        path = self.segment_path(name)
        with private_files(), self.one_writer():
            self.con.execute(
                f"COPY ({query}) TO {sql_text(path + '.tmp')} (FORMAT parquet, COMPRESSION zstd, "  # noqa: S608
                f"ROW_GROUP_SIZE {ROW_GROUP})",
                list(params),
            )
        os.replace(path + ".tmp", path)
        row = self.con.execute(f"SELECT count(*) FROM {self._segments_sql([name])}").fetchone()  # noqa: S608
        self.con.execute("DELETE FROM segments WHERE name IN (SELECT unnest(?::VARCHAR[]))", [list(old)])
        if kind != "rows" and not (row and row[0]):  # resolved rows that all moved (the ledger names no such segment)
            self._garbage.append(name)
        else:
            self.con.execute("INSERT INTO segments VALUES (?, ?, NULL, ?)", [name, int(row[0]) if row else 0, kind])
        if kind == "rows":
            self.con.execute("UPDATE files SET segment = ? WHERE segment IN (SELECT unnest(?::VARCHAR[]))", [name, list(old)])
        self._garbage.extend(old)

    def _append(self, table: str, data: Any) -> None:
        if data is None or not data.num_rows:
            return
        view = f"_chunk_{table}"
        self.con.register(view, data)
        try:
            self.con.execute(f"INSERT INTO {table} SELECT * FROM {view}")  # noqa: S608
        except duckdb.Error as e:
            # the transaction is aborted (the caller rolls it back): say why, not what failed after
            with suppress(duckdb.Error):
                self.con.unregister(view)
            raise StoreError(_("{path}: cannot write {table}: {error}").format(path=self.path, table=table, error=e)) from e
        self.con.unregister(view)

    def compact(self, most: int = COMPACT_AT, target_rows: int = COMPACT_ROWS) -> int:
        """Merge small segments when there are more than ``most``: many small files slow every
        report a little (each is opened and its footer read). Returns how many were merged.

        Segments under ``target_rows`` rows are merged, smallest first, into segments of about
        ``target_rows``; in one transaction each (the old files are removed after it commits)."""
        return sum(self._merge(group) for group in self._small_groups("rows", most, target_rows))

    def _small_groups(self, kind: str, most: int = COMPACT_AT, target_rows: int = COMPACT_ROWS) -> list[list[str]]:
        """The segments of ``kind`` to merge, a list per merged segment: when there are more than
        ``most``, those under ``target_rows`` rows, smallest first, in groups of about
        ``target_rows`` (see ``compact``)."""
        sizes = self.con.execute("SELECT name, rows FROM segments WHERE kind = ? ORDER BY rows, name", [kind]).fetchall()
        if len(sizes) <= most:
            return []
        groups: list[list[str]] = []
        group: list[str] = []
        rows = 0
        for name, count in sizes:
            if count >= target_rows:
                continue
            group.append(name)
            rows += count
            if rows >= target_rows:
                groups.append(group)
                group, rows = [], 0
        if len(group) > 1:
            groups.append(group)
        return groups

    def _merge(self, names: list[str]) -> int:
        with self.working_memory(), self.transaction():
            self._rewrite(names, f"SELECT * FROM {self._segments_sql(names)}")  # noqa: S608
            self.write_views()
        return len(names)
