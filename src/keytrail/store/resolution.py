"""Resolution in the store: the group rules (``keytrail.resolve``) over the rows that need other
records, their decisions kept in the table ``resolution``, and the rows they decided written as
segments of kind ``resolved`` that reports read with no join.
"""

from __future__ import annotations

import os
import secrets
import shutil

from keytrail.resolve import (
    ALIASES_LOCAL,
    CANDIDATES,
    COPY_GROUP,
    EVENT_GROUP,
    SHARED_EVENT_KEYS,
    STAGE_A,
    STAGE_B,
    STAGES,
    compose,
    fill,
)
from keytrail.store.connection import private_files, sql_text
from keytrail.store.rollup import Rollups
from keytrail.store.segments import ROW_GROUP, VIEW_COLUMNS, new_segment_name

DECIDE_BUCKET_ROWS = 1_000_000  # candidate rows the group rules take in one query (docs/engine.md, "The store")
WRITE_BUCKET_ROWS = 200_000  # resolved rows written by one query, as one segment (the join that needs the memory)


def _decisions(stages: str) -> str:
    """What the resolution table keeps of the stages' rows: key and principal only where the group
    rules changed them (NULL: as the row says), the duplicate flag, and whether the row alone had
    looked settled."""
    return (
        "SELECT file_id, rec_index, row_no, "  # noqa: S608 - keytrail's own texts
        "CASE WHEN key IS DISTINCT FROM (CASE WHEN ref_kind = 'key' THEN key_ref END) THEN key END AS key, "
        "CASE WHEN who IS DISTINCT FROM principal THEN who END AS who, dup, NOT open AS reopened "
        f"FROM ({stages})"
    )


_REOPENED_CHANGED = (
    "(SELECT file_id, rec_index, row_no FROM resolution WHERE reopened "
    "EXCEPT SELECT file_id, rec_index, row_no FROM resolution_next WHERE reopened) UNION ALL "
    "(SELECT file_id, rec_index, row_no FROM resolution_next WHERE reopened "
    "EXCEPT SELECT file_id, rec_index, row_no FROM resolution WHERE reopened)"
)
"""The settled rows found to be re-deliveries of other records, or no longer, by a resolution."""


class Resolution(Rollups):
    """The resolver's side of a store (the base of ``Store``)."""

    def needs_resolve(self) -> bool:
        return self.get_meta("needs_resolve") == "1"

    def resolve(self) -> None:
        """Resolve the rows that need other records (``keytrail.resolve``).

        As the Spark job does, in two passes over hash buckets of the candidates, so that memory
        stays bounded whatever the store's size: stage A over buckets of whole eventIDs (each
        bucket's result written to a work file), stage B over buckets of whole sharedEventIDs
        (about ``DECIDE_BUCKET_ROWS`` candidate rows a bucket). The decisions are collected in
        ``resolution_next``, committed bucket by bucket; a transaction swaps them in (noting the
        keys whose settled rows they change for the rollups), the last writes the resolved rows
        as segments, brings the rollups up to date (``store.rollup``) and clears ``needs_resolve`` -- a resolution
        interrupted before it leaves the store marked for resolution, as it was. DuckDB gets
        ``WORK_MEMORY`` (the ingest workers have finished by then)."""
        rows = self._segments_sql(self.segment_names())
        work = os.path.join(self.segments_dir, f".resolve-{secrets.token_hex(6)}")
        os.makedirs(work, mode=0o700)
        with self.working_memory():
            try:
                self._decide(rows, work)
                with self.transaction():
                    self.mark_stale_keys(_REOPENED_CHANGED)
                    self.con.execute("DROP TABLE IF EXISTS resolution")
                    self.con.execute("ALTER TABLE resolution_next RENAME TO resolution")
                with self.transaction():
                    self._write_resolved(rows)
                    self.write_views()
                    self.roll_up()
                    self.con.execute("INSERT OR REPLACE INTO meta VALUES ('needs_resolve', '0')")
            finally:
                shutil.rmtree(work, ignore_errors=True)

    def _decide(self, rows: str, work: str) -> None:
        """The group rules' decisions into ``resolution_next``. Up to ``DECIDE_BUCKET_ROWS``
        candidate rows in one query; more, bucket by bucket (work files hold the candidates and
        stage A's rows between the passes)."""
        con = self.con
        con.execute(f"CREATE OR REPLACE TEMP TABLE _shared_keys AS {fill(SHARED_EVENT_KEYS, rows=rows)}")
        candidates = fill(CANDIDATES, rows=rows, files="files", shared_keys="_shared_keys", bucket="true")
        counted = con.execute(f"SELECT count(*) FROM ({candidates})").fetchone()  # noqa: S608
        n = max(1, -(-int(counted[0] if counted else 0) // DECIDE_BUCKET_ROWS))
        con.execute("DROP TABLE IF EXISTS resolution_next")
        if n == 1:
            with self.transaction():
                con.execute(f"CREATE TABLE resolution_next AS {_decisions(compose(STAGES, f'({candidates})', aliases=ALIASES_LOCAL))}")
        else:
            everything = sql_text(os.path.join(work, "candidates.parquet"))
            with private_files(), self.one_writer():
                con.execute(f"COPY ({candidates}) TO {everything} (FORMAT parquet)")  # noqa: S608
            for b in range(n):
                part = self._bucket(f"SELECT * FROM read_parquet({everything}) WHERE {EVENT_GROUP} % {n} = {b}")  # noqa: S608
                target = sql_text(os.path.join(work, f"a-{b:05d}.parquet"))
                with private_files(), self.one_writer():
                    con.execute(f"COPY ({compose(STAGE_A, part, aliases=ALIASES_LOCAL)}) TO {target} (FORMAT parquet)")  # noqa: S608
            staged = sql_text(os.path.join(work, "a-*.parquet"))
            for b in range(n):
                part = self._bucket(f"SELECT * FROM read_parquet({staged}) WHERE {COPY_GROUP} % {n} = {b}")  # noqa: S608
                with self.transaction():
                    verb = "CREATE TABLE resolution_next AS" if b == 0 else "INSERT INTO resolution_next"
                    con.execute(f"{verb} {_decisions(compose(STAGE_B, part))}")
            con.execute("DROP TABLE _bucket_rows")
        con.execute("DROP TABLE _shared_keys")

    def _bucket(self, query: str) -> str:
        """One bucket's rows in a temporary table (read whole by the stages)."""
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE _bucket_rows AS {query}")
        return "_bucket_rows"

    def _write_resolved(self, rows: str) -> None:
        """The rows the group rules decided, as counted (duplicates left out, key and principal as
        resolved), written as segments of kind ``resolved`` that replace the previous ones:
        reports read them like any settled row, with no join (inside the caller's transaction).
        One segment per ``WRITE_BUCKET_ROWS`` rows, so that the join's memory stays bounded."""
        old = self.segment_names("resolved")
        cols = ", ".join(f"coalesce(x.{c}, s.{c}) AS {c}" if c in ("key", "who") else f"s.{c}" for c in VIEW_COLUMNS)
        counted = self.con.execute("SELECT count(*) FROM resolution WHERE NOT dup").fetchone()
        m = max(1, -(-int(counted[0] if counted else 0) // WRITE_BUCKET_ROWS))
        # ranges of file ids, so that each pass reads only the segments (and row groups) that hold them
        bounds = [r[0] for r in self.con.execute(
            f"SELECT DISTINCT quantile_disc(file_id, [{', '.join(str(i / m) for i in range(1, m))}]) "  # noqa: S608 - numbers
            "FROM resolution WHERE NOT dup"
        ).fetchall()] if m > 1 else []
        edges = [None, *(sorted(set(bounds[0])) if bounds else []), None]
        for lo, hi in zip(edges, edges[1:], strict=False):
            where = " AND ".join(
                [*([f"file_id > {int(lo)}"] if lo is not None else []), *([f"file_id <= {int(hi)}"] if hi is not None else [])]
            ) or "true"
            name = new_segment_name()
            path = self.segment_path(name)
            with private_files(), self.one_writer():
                self.con.execute(
                    f"COPY (SELECT {cols} FROM (SELECT * FROM {rows} WHERE {where}) s "  # noqa: S608 - keytrail's own names, numbers
                    f"JOIN (SELECT file_id, rec_index, row_no, key, who FROM resolution WHERE NOT dup AND {where}) x "
                    "ON x.file_id = s.file_id AND x.rec_index = s.rec_index AND x.row_no = s.row_no) "
                    f"TO {sql_text(path + '.tmp')} (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE {ROW_GROUP})"
                )
            os.replace(path + ".tmp", path)
            count = self.con.execute(f"SELECT count(*) FROM {self._segments_sql([name])}").fetchone()  # noqa: S608
            self.con.execute("INSERT INTO segments VALUES (?, ?, NULL, 'resolved')", [name, int(count[0]) if count else 0])
        if old:
            self.con.execute("DELETE FROM segments WHERE name IN (SELECT unnest(?::VARCHAR[]))", [old])
            self._garbage.extend(old)
