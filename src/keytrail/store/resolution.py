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
from keytrail.store.segment_tables import RESOLVED_UPTO
from keytrail.store.segments import ROW_GROUP, VIEW_COLUMNS, new_segment_name

DECIDE_BUCKET_ROWS = 1_000_000  # candidate rows the group rules take in one query (docs/engine.md, "The store")
WRITE_BUCKET_ROWS = 200_000  # resolved rows written by one query, as one segment (the join that needs the memory)
_SAME_ROW = "d.file_id = s.file_id AND d.rec_index = s.rec_index AND d.row_no = s.row_no"
"""SQL: a segment's row ``s`` and the decision ``d`` about it."""
_CLOSURE_ROUNDS = 16  # rounds of adding the groups' other members before a whole resolution is cheaper


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
        """Resolve the rows that need other records (``keytrail.resolve``): only the groups the
        files read since the last resolution touch (``_resolve_new``) where the store knows which
        they are, else every row (``_resolve_all``). Both end in one transaction that writes the
        resolved rows, brings the rollups up to date (``store.rollup``), notes the last file id
        resolved (``RESOLVED_UPTO``) and clears ``needs_resolve``: a resolution interrupted before
        it leaves the store marked for resolution, as it was. DuckDB gets ``WORK_MEMORY`` (the
        ingest workers have finished by then)."""
        upto = self.get_meta(RESOLVED_UPTO)
        with self.working_memory():
            if upto is None or not self._resolve_new(int(upto)):
                self._resolve_all()

    def _resolve_all(self) -> None:
        """Every candidate row decided again, as the Spark job does: in two passes over hash
        buckets of the candidates, so that memory stays bounded whatever the store's size: stage A
        over buckets of whole eventIDs (each bucket's result written to a work file), stage B over
        buckets of whole sharedEventIDs (about ``DECIDE_BUCKET_ROWS`` candidate rows a bucket). The
        decisions are collected in ``resolution_next``, committed bucket by bucket; a transaction
        swaps them in (noting the keys whose settled rows they change for the rollups), the last
        writes the resolved rows as segments that replace the previous ones."""
        rows = self._segments_sql(self.segment_names())
        work = os.path.join(self.segments_dir, f".resolve-{secrets.token_hex(6)}")
        os.makedirs(work, mode=0o700)
        try:
            self._decide(rows, work)
            with self.transaction():
                self.mark_stale_keys(_REOPENED_CHANGED)
                self.con.execute("DROP TABLE IF EXISTS resolution")
                self.con.execute("ALTER TABLE resolution_next RENAME TO resolution")
            with self.transaction():
                old = self.segment_names("resolved")
                self._write_resolved(rows, "resolution")
                if old:
                    self.con.execute("DELETE FROM segments WHERE name IN (SELECT unnest(?::VARCHAR[]))", [old])
                    self._garbage.extend(old)
                self._end_resolution()
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def _end_resolution(self, added: list[str] | None = None, changed: str | None = None) -> None:
        """What every resolution ends with (inside its last transaction; ``added``, ``changed``:
        see ``roll_up``)."""
        self.write_views()
        self.roll_up(added, changed)
        last = self.con.execute("SELECT coalesce(max(file_id), 0) FROM files").fetchone()
        self.set_meta(RESOLVED_UPTO, str(int(last[0]) if last else 0))
        self.con.execute("DELETE FROM identity_changes")
        self.con.execute("INSERT OR REPLACE INTO meta VALUES ('needs_resolve', '0')")

    def _resolve_new(self, upto: int) -> bool:
        """The groups the files after ``upto`` touch decided again, and no other (False, having
        changed nothing, when they hold more than ``DECIDE_BUCKET_ROWS`` candidate rows: the
        bucketed whole resolution bounds memory).

        A row's decision depends only on the rows of its eventID and of its sharedEventID, on the
        alias history of the alias it names and on the identity map's entries for its unique id
        (``keytrail.resolve``); files are only ever added here (a replaced file, an inventory's
        aliases and an upgrade make the next resolution a whole one). So the decisions that can
        change are those of the groups ``_touched_groups`` finds; the group rules run over their
        candidate rows exactly as a whole resolution runs them, and ``_replace_decisions`` puts
        the decisions in the place of the old ones (docs/engine.md, "Resolution")."""
        holding = self._touched_groups(upto)
        if holding is None:
            self._drop_temp()
            return False
        if holding:
            group = (
                f"(SELECT s.* FROM {self._segments_sql(holding)} s SEMI JOIN _group_rows g "  # noqa: S608 - the store's own names
                "ON g.file_id = s.file_id AND g.rec_index = s.rec_index AND g.row_no = s.row_no)"
            )
            con = self.con
            con.execute(f"CREATE OR REPLACE TEMP TABLE _shared_keys AS {fill(SHARED_EVENT_KEYS, rows=group)}")
            candidates = fill(CANDIDATES, rows=group, files="files", shared_keys="_shared_keys", bucket="true")
            con.execute(f"CREATE OR REPLACE TEMP TABLE _candidates AS {candidates}")
            counted = con.execute("SELECT count(*) FROM _candidates").fetchone()
            if counted is None or counted[0] > DECIDE_BUCKET_ROWS:
                self._drop_temp()
                return False
            con.execute(f"CREATE OR REPLACE TEMP TABLE _decided AS {_decisions(compose(STAGES, '_candidates', aliases=ALIASES_LOCAL))}")
            self._replace_decisions(holding)
        else:  # nothing new: the rollups and the flag
            with self.transaction():
                self._end_resolution([])
        self._drop_temp()
        return True

    def _touched_groups(self, upto: int) -> list[str] | None:
        """Every row of the groups whose decisions the files after ``upto`` can change, in the
        temporary table ``_group_rows``; returns the segments holding them (None: more than
        ``DECIDE_BUCKET_ROWS`` rows, or groups that chain further than ``_CLOSURE_ROUNDS`` rounds:
        the bucketed whole resolution bounds memory where this would not).

        The seeds: the rows of those files; the rows naming an alias they changed; the hidden
        callers whose unique id the identity map learned (``identity_changes``). Then every row
        of each seed's eventID and sharedEventID, and again for the rows that brings, until no
        group is added (a record re-delivered under another sharedEventID links two groups); a
        row without an eventID brings its record's rows."""
        con = self.con
        new_rows = con.execute(f"SELECT coalesce(sum(rows), 0) FROM files WHERE file_id > {upto}").fetchone()  # noqa: S608
        if new_rows is None or new_rows[0] > DECIDE_BUCKET_ROWS:
            return None
        names = self.segment_names()
        rows = self._segments_sql(names)
        group_cols = "file_id, rec_index, row_no, event_key, shared_event_id"
        most = DECIDE_BUCKET_ROWS + 1  # a LIMIT: one row more than the bound ends the scan
        seeds = [f"file_id > {upto}"]
        changed_aliases = f"SELECT alias_arn FROM alias_history WHERE file_id > {upto}"  # noqa: S608 - a number
        if con.execute(f"SELECT count(*) FROM ({changed_aliases})").fetchone() != (0,):  # noqa: S608
            seeds.append(f"(ref_kind <> 'key' AND key_ref IN ({changed_aliases}))")
        if con.execute("SELECT count(*) FROM identity_changes").fetchone() != (0,):
            seeds.append("(principal IS NULL AND principal_uid IN (SELECT unique_id FROM identity_changes))")
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE _touched AS SELECT {group_cols} FROM {rows} WHERE {' OR '.join(seeds)} LIMIT {most}"  # noqa: S608
        )
        touched = con.execute("SELECT count(*) FROM _touched").fetchone()
        if touched is None or touched[0] >= most:
            return None
        if touched[0] == 0:
            return []
        con.execute("CREATE OR REPLACE TEMP TABLE _event_keys AS SELECT DISTINCT event_key FROM _touched WHERE event_key IS NOT NULL")
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _shared_ids AS SELECT DISTINCT shared_event_id FROM _touched "
            "WHERE shared_event_id IS NOT NULL"
        )
        if not self._close_groups(rows, group_cols, most):
            return None
        # file_index: the row's segment, by its place in ``names``
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE _group_rows AS SELECT file_id, rec_index, row_no, file_index FROM {rows} "  # noqa: S608
            "WHERE event_key IN (SELECT event_key FROM _event_keys) "
            "   OR shared_event_id IN (SELECT shared_event_id FROM _shared_ids) "
            f"UNION SELECT r.file_id, r.rec_index, r.row_no, r.file_index FROM {rows} r "  # noqa: S608
            "SEMI JOIN (SELECT DISTINCT file_id, rec_index FROM _touched WHERE event_key IS NULL) t "
            f"ON t.file_id = r.file_id AND t.rec_index = r.rec_index LIMIT {most}"
        )
        grouped = con.execute("SELECT count(*) FROM _group_rows").fetchone()
        if grouped is None or grouped[0] >= most:
            return None
        return [names[r[0]] for r in con.execute("SELECT DISTINCT file_index FROM _group_rows ORDER BY 1").fetchall()]

    def _close_groups(self, rows: str, group_cols: str, most: int) -> bool:
        """``_event_keys`` and ``_shared_ids`` grown by the groups' other members until no group is
        added (False: more than ``most`` rows in a round, or more than ``_CLOSURE_ROUNDS`` rounds)."""
        con = self.con
        for _ in range(_CLOSURE_ROUNDS):  # the groups' other members, until no group is added
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE _more AS SELECT {group_cols} FROM {rows} "  # noqa: S608
                "WHERE (event_key IN (SELECT event_key FROM _event_keys) AND shared_event_id IS NOT NULL "
                "       AND shared_event_id NOT IN (SELECT shared_event_id FROM _shared_ids)) "
                "   OR (shared_event_id IN (SELECT shared_event_id FROM _shared_ids) AND event_key IS NOT NULL "
                f"       AND event_key NOT IN (SELECT event_key FROM _event_keys)) LIMIT {most}"
            )
            more = con.execute("SELECT count(*) FROM _more").fetchone()
            if more is None or more[0] >= most:
                return False
            if more[0] == 0:
                break
            con.execute("INSERT INTO _event_keys SELECT DISTINCT event_key FROM _more WHERE event_key IS NOT NULL "
                        "EXCEPT SELECT event_key FROM _event_keys")
            con.execute("INSERT INTO _shared_ids SELECT DISTINCT shared_event_id FROM _more WHERE shared_event_id IS NOT NULL "
                        "EXCEPT SELECT shared_event_id FROM _shared_ids")
        else:
            return False
        return True

    def _replace_decisions(self, holding: list[str]) -> None:
        """The decisions in ``_decided`` in the place of the old ones of their rows, in one
        transaction that ends the resolution: ``resolution``'s rows, the resolved segments that
        held rows decided again (written again without them), the new decisions' rows as new
        resolved segments (``holding``: the segments of their rows), and the rollups."""
        con = self.con
        old = self.segment_names("resolved")
        stale = sorted(old[r[0]] for r in con.execute(
            f"SELECT DISTINCT s.file_index FROM {self._segments_sql(old)} s SEMI JOIN _decided d ON {_SAME_ROW}"  # noqa: S608
        ).fetchall()) if old else []
        # the keys (as key_use names them) whose counted rows change otherwise than by new rows
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE _changed_keys AS SELECT DISTINCT coalesce(s.key, s.key_ref) AS key "  # noqa: S608
            f"FROM {self._segments_sql(stale)} s SEMI JOIN _decided d ON {_SAME_ROW}"
        )
        with self.transaction():
            self.mark_stale_keys(
                "(SELECT file_id, rec_index, row_no FROM resolution SEMI JOIN _decided USING (file_id, rec_index, row_no) "
                "WHERE reopened EXCEPT SELECT file_id, rec_index, row_no FROM _decided WHERE reopened) UNION ALL "
                "(SELECT file_id, rec_index, row_no FROM _decided WHERE reopened EXCEPT "
                "SELECT file_id, rec_index, row_no FROM resolution WHERE reopened)"
            )
            con.execute("DELETE FROM resolution r USING _decided d "
                        "WHERE r.file_id = d.file_id AND r.rec_index = d.rec_index AND r.row_no = d.row_no")
            con.execute("INSERT INTO resolution SELECT * FROM _decided")
            for name in stale:
                self._rewrite(
                    [name],
                    f"SELECT * FROM {self._segments_sql([name])} s ANTI JOIN _decided d ON {_SAME_ROW}",  # noqa: S608
                    kind="resolved",
                )
            added = self._write_resolved(self._segments_sql(holding), "_decided")
            self._compact_resolved()
            self._end_resolution(added, "_changed_keys")

    def _drop_temp(self) -> None:
        for t in ("_touched", "_event_keys", "_shared_ids", "_more", "_group_rows", "_shared_keys", "_candidates", "_decided",
                  "_changed_keys"):
            self.con.execute(f"DROP TABLE IF EXISTS {t}")

    def _compact_resolved(self) -> None:
        """Small resolved segments merged as ``compact`` merges the rows' (each resolution that
        decides only new groups adds one; inside the caller's transaction)."""
        for group in self._small_groups("resolved"):
            self._rewrite(group, f"SELECT * FROM {self._segments_sql(group)}", kind="resolved")  # noqa: S608

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

    def _write_resolved(self, rows: str, decisions: str) -> list[str]:
        """The rows ``decisions`` (``resolution``'s columns) decided, as counted (duplicates left
        out, key and principal as resolved), written as new segments of kind ``resolved`` that
        reports read like any settled row, with no join (inside the caller's transaction). One
        segment per ``WRITE_BUCKET_ROWS`` rows, so that the join's memory stays bounded. Returns
        the new segments' names."""
        cols = ", ".join(f"coalesce(x.{c}, s.{c}) AS {c}" if c in ("key", "who") else f"s.{c}" for c in VIEW_COLUMNS)
        counted = self.con.execute(f"SELECT count(*) FROM {decisions} WHERE NOT dup").fetchone()  # noqa: S608
        if not counted or not counted[0]:
            return []
        m = max(1, -(-int(counted[0]) // WRITE_BUCKET_ROWS))
        # ranges of file ids, so that each pass reads only the segments (and row groups) that hold them
        bounds = [r[0] for r in self.con.execute(
            f"SELECT DISTINCT quantile_disc(file_id, [{', '.join(str(i / m) for i in range(1, m))}]) "  # noqa: S608 - numbers
            f"FROM {decisions} WHERE NOT dup"
        ).fetchall()] if m > 1 else []
        edges = [None, *(sorted(set(bounds[0])) if bounds else []), None]
        written = []
        for lo, hi in zip(edges, edges[1:], strict=False):
            where = " AND ".join(
                [*([f"file_id > {int(lo)}"] if lo is not None else []), *([f"file_id <= {int(hi)}"] if hi is not None else [])]
            ) or "true"
            name = new_segment_name()
            path = self.segment_path(name)
            with private_files(), self.one_writer():
                self.con.execute(
                    f"COPY (SELECT {cols} FROM (SELECT * FROM {rows} WHERE {where}) s "  # noqa: S608 - keytrail's own names, numbers
                    f"JOIN (SELECT file_id, rec_index, row_no, key, who FROM {decisions} WHERE NOT dup AND {where}) x "
                    "ON x.file_id = s.file_id AND x.rec_index = s.rec_index AND x.row_no = s.row_no) "
                    f"TO {sql_text(path + '.tmp')} (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE {ROW_GROUP})"
                )
            os.replace(path + ".tmp", path)
            count = self.con.execute(f"SELECT count(*) FROM {self._segments_sql([name])}").fetchone()  # noqa: S608
            self.con.execute("INSERT INTO segments VALUES (?, ?, NULL, 'resolved')", [name, int(count[0]) if count else 0])
            written.append(name)
        return written
