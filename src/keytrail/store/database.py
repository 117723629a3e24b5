"""The store: a DuckDB database file, with the key-use rows in Parquet segments beside it.

``--db trail.duckdb`` names the store. It is the DuckDB file ``trail.duckdb`` and the directory
``trail.duckdb.segments/`` of Parquet segments that ingest workers write (``keytrail.segments``).
The database holds the file ledger, alias history, identity map, credentials, record problems,
the inventory, the segment registry and the resolution of the rows that need other records; its
views ``raw_key_use`` and ``key_use`` read the registered segments by absolute path, so any DuckDB
client that opens the file sees them.

Writes are transactional: a chunk's ledger entries, side tables and segment registration commit
together or not at all, so a killed ingest leaves the ledger consistent with the rows and a re-run
reads exactly the files that are missing. A segment is visible only once registered; files in the
segments directory that no committed registration names (left by a killed ingest) are removed by
the next writer. Resolution (``Store.resolve``) runs after the chunks; until it has run the
``meta.needs_resolve`` flag stays set and the next writer resolves first.

Moving a store: move the file and its segments directory together; the first keytrail command
that opens it in the new place points the views there (README, "The store").
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any

import duckdb

from keytrail.errors import SchemaVersionError, StoreBusyError, StoreError
from keytrail.resolve import (
    ALIASES_LOCAL,
    CANDIDATES,
    COPY_GROUP,
    EVENT_GROUP,
    ROW_RULE_COLUMNS,
    SHARED_EVENT_KEYS,
    STAGE_A,
    STAGE_B,
    STAGES,
    compose,
    fill,
    key_use_select,
)
from keytrail.resolve import KEY_USE_COLUMNS as KEY_USE_COLUMNS
from keytrail.segments import RAW_COLUMNS, ROW_GROUP, SEGMENT_SUFFIX, Segment, arrow_type, new_segment_name

SCHEMA_VERSION = 2
MEMORY = ":memory:"
SEGMENTS_SUFFIX = ".segments"
RESOLVE_MEMORY = os.environ.get("KEYTRAIL_RESOLVE_MEMORY", "256MB")
RESOLVE_BUCKET_ROWS = 400_000  # candidate rows the resolver takes at a time
COMPACT_AT = 64  # segments before small ones are merged
COMPACT_ROWS = 1_000_000  # rows a merged segment aims at

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR);
CREATE TABLE IF NOT EXISTS files (
    file_id BIGINT PRIMARY KEY,
    uri VARCHAR NOT NULL,
    size BIGINT,
    version VARCHAR,
    status VARCHAR NOT NULL,        -- ingested | skipped | error
    shape VARCHAR,
    records BIGINT,
    kms_records BIGINT,
    rows BIGINT,
    problems BIGINT,
    reason VARCHAR,
    ingest_id BIGINT,
    segment VARCHAR,                -- the segment that holds the file's key-use rows
    verified BOOLEAN NOT NULL DEFAULT false  -- covered by a verified digest chain (--verify)
);
CREATE TABLE IF NOT EXISTS ingests (
    ingest_id BIGINT PRIMARY KEY,
    started TIMESTAMP,
    finished TIMESTAMP,
    sources VARCHAR
);
-- the Parquet segments that hold the key-use rows (names in the segments directory)
CREATE TABLE IF NOT EXISTS segments (
    name VARCHAR PRIMARY KEY,
    rows BIGINT NOT NULL,
    ingest_id BIGINT,
    kind VARCHAR NOT NULL DEFAULT 'rows'  -- rows: as the workers wrote them | resolved: see Store.resolve
);
-- the rows that need other records (see keytrail.resolve), as resolved
CREATE TABLE IF NOT EXISTS resolution (
    file_id BIGINT NOT NULL,
    rec_index BIGINT NOT NULL,
    row_no BIGINT NOT NULL,
    key VARCHAR,
    who VARCHAR,
    dup BOOLEAN NOT NULL,
    reopened BOOLEAN NOT NULL       -- a row its record alone decided, in a group of re-deliveries
);
CREATE TABLE IF NOT EXISTS alias_history (
    alias_arn VARCHAR NOT NULL,
    event_time BIGINT NOT NULL,
    target_key VARCHAR,
    event_id VARCHAR,
    event_name VARCHAR,
    source VARCHAR NOT NULL,        -- trail | inventory
    file_id BIGINT,
    rec_index BIGINT
);
CREATE TABLE IF NOT EXISTS identity_map (unique_id VARCHAR NOT NULL, arn VARCHAR NOT NULL, source VARCHAR);
-- the KMS inventory (``keytrail inventory``): the state of keys when it was taken
CREATE TABLE IF NOT EXISTS inventory_keys (
    arn VARCHAR NOT NULL,
    account VARCHAR NOT NULL,
    region VARCHAR NOT NULL,
    key_id VARCHAR NOT NULL,
    key_manager VARCHAR,            -- CUSTOMER | AWS
    key_state VARCHAR,              -- Enabled | Disabled | PendingDeletion | ...
    enabled BOOLEAN,
    description VARCHAR,
    key_usage VARCHAR,
    key_spec VARCHAR,
    multi_region BOOLEAN,
    creation_date TIMESTAMP,
    deletion_date TIMESTAMP,
    last_used TIMESTAMP,            -- GetKeyLastUsage, where available
    taken_at TIMESTAMP NOT NULL,
    source VARCHAR                  -- api | files
);
CREATE TABLE IF NOT EXISTS inventory_aliases (
    alias_arn VARCHAR NOT NULL,
    alias_name VARCHAR NOT NULL,
    account VARCHAR NOT NULL,
    region VARCHAR NOT NULL,
    target_key_arn VARCHAR,
    last_updated TIMESTAMP,
    taken_at TIMESTAMP NOT NULL
);
CREATE TABLE IF NOT EXISTS inventory_policies (
    arn VARCHAR NOT NULL,           -- key ARN
    policy_name VARCHAR NOT NULL,
    policy VARCHAR NOT NULL,        -- the policy document (JSON text)
    taken_at TIMESTAMP NOT NULL
);
CREATE TABLE IF NOT EXISTS inventory_grants (
    arn VARCHAR NOT NULL,           -- key ARN
    grant_id VARCHAR NOT NULL,
    name VARCHAR,
    grantee_principal VARCHAR,
    retiring_principal VARCHAR,
    issuing_account VARCHAR,
    operations VARCHAR[],
    constraints VARCHAR,            -- JSON text
    taken_at TIMESTAMP NOT NULL
);
CREATE TABLE IF NOT EXISTS inventory_tags (arn VARCHAR NOT NULL, tag_key VARCHAR NOT NULL, tag_value VARCHAR);
CREATE TABLE IF NOT EXISTS inventory_runs (
    taken_at TIMESTAMP NOT NULL,
    account VARCHAR,
    region VARCHAR,
    status VARCHAR NOT NULL,        -- ok | error
    message VARCHAR
);
-- credentials handed out by STS AssumeRole*: who is behind a role session
CREATE TABLE IF NOT EXISTS credentials (
    access_key_id VARCHAR NOT NULL,
    event_time BIGINT NOT NULL,
    event_id VARCHAR,
    event_name VARCHAR,
    role_arn VARCHAR,
    session_name VARCHAR,
    caller VARCHAR,
    caller_type VARCHAR,
    caller_access_key_id VARCHAR,
    caller_session VARCHAR,
    on_behalf_of VARCHAR,
    file_id BIGINT,
    rec_index BIGINT
);
CREATE TABLE IF NOT EXISTS record_problems (
    file_id BIGINT,
    rec_index BIGINT,
    kind VARCHAR NOT NULL,          -- rejected | unattributed
    message VARCHAR NOT NULL
);
"""

_BOOL_COLUMNS = frozenset({"verified"})
_INT_COLUMNS = frozenset({"file_id", "rec_index", "event_time", "size", "records", "kms_records", "rows",
                          "problems", "ingest_id"})
# column order of the side tables written in chunks (their Arrow form)
TABLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "files": ("file_id", "uri", "size", "version", "status", "shape", "records", "kms_records", "rows",
              "problems", "reason", "ingest_id", "segment", "verified"),
    "alias_history": ("alias_arn", "event_time", "target_key", "event_id", "event_name", "source", "file_id",
                      "rec_index"),
    "credentials": ("access_key_id", "event_time", "event_id", "event_name", "role_arn", "session_name", "caller",
                    "caller_type", "caller_access_key_id", "caller_session", "on_behalf_of", "file_id", "rec_index"),
    "record_problems": ("file_id", "rec_index", "kind", "message"),
    "identity_map": ("unique_id", "arn"),
}
STORED_COLUMNS: tuple[str, ...] = (*RAW_COLUMNS, *ROW_RULE_COLUMNS)
"""A segment's columns: the normaliser's rows and the row rules."""
_ROW_COLUMNS = tuple(c for c in STORED_COLUMNS if c not in ("open", "record_rows", "event_key"))
"""What the views read of a segment row."""


def to_arrow(table: str, rows: Sequence[Sequence[Any]]) -> Any:
    """Tuples in ``TABLE_COLUMNS[table]`` order as an Arrow table (fast to insert into DuckDB)."""
    import pyarrow as pa

    names = TABLE_COLUMNS[table]
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(names)
    arrays = [
        pa.array(col, type=pa.int64() if name in _INT_COLUMNS else pa.bool_() if name in _BOOL_COLUMNS else pa.string())
        for name, col in zip(names, columns, strict=True)
    ]
    return pa.Table.from_arrays(arrays, names=list(names))


def _duckdb_config(spill: str | None = None) -> dict[str, str | bool | int | float | list[str]]:
    """DuckDB's memory is capped so that ingest stays flat whatever the archive's size
    (``KEYTRAIL_MEMORY_LIMIT``, default 128MB; DuckDB spills to disk beyond it, into ``spill``:
    inside the store's private segments directory)."""
    config: dict[str, str | bool | int | float | list[str]] = {
        "memory_limit": os.environ.get("KEYTRAIL_MEMORY_LIMIT", "128MB"),
        "preserve_insertion_order": "false",
    }
    if spill is not None:
        config["temp_directory"] = spill
    return config


_OPEN_TRIES = 20  # 50 ms apart


def _just_created(path: str) -> bool:
    """Whether ``path`` was written in the last two seconds (another process may be creating it)."""
    if path == MEMORY:
        return False
    try:
        return time.time() - os.stat(path).st_mtime < 2.0
    except OSError:
        return False


def _duckdb_file_or_new(path: str) -> bool:
    """Whether ``path`` is absent, empty, or a DuckDB database file (its magic bytes)."""
    try:
        with open(path, "rb") as f:
            head = f.read(12)
    except FileNotFoundError:
        return True
    except OSError:
        return True  # a directory, no permission, ...: DuckDB's own error says it
    return not head or head[8:12] == b"DUCK"


@contextmanager
def private_files() -> Iterator[None]:
    """Files created meanwhile (DuckDB's database file and write-ahead log) readable by their owner
    only: a store holds encryption contexts, access key ids and source IPs. The umask is the
    process's, so this is used only around DuckDB calls that may create files."""
    old = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(old)


def sql_text(value: str) -> str:
    """A value (a file path) as a SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


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


@dataclass(frozen=True)
class LedgerEntry:
    uri: str
    size: int
    version: str
    status: str


class Store:
    """A keytrail store: ``Store(path)`` on disk, ``Store()`` in memory (its segments in a
    temporary directory removed on close)."""

    def __init__(self, path: str | None = None, read_only: bool = False) -> None:
        self.path = path or MEMORY
        self.read_only = read_only
        if self.path != MEMORY and read_only and not os.path.exists(self.path):
            raise StoreError(f"{self.path}: no such store")
        self._tmpdir: tempfile.TemporaryDirectory[str] | None = None
        if self.path == MEMORY:
            self._tmpdir = tempfile.TemporaryDirectory(prefix="keytrail-store-")
            self.segments_dir = self._tmpdir.name
        else:
            self.segments_dir = os.path.abspath(self.path) + SEGMENTS_SUFFIX
        self._garbage: list[str] = []  # segment files to remove once the transaction commits
        self.con = self._connect(read_only)
        try:
            self._prepare()
        except duckdb.Error as e:  # a damaged file (truncated, overwritten) fails at its first read
            self._close()
            raise StoreError(f"{self.path}: cannot read store: {e}") from e
        except BaseException:
            self._close()  # a refused store is not held open (nor locked)
            raise

    def _connect(self, read_only: bool) -> duckdb.DuckDBPyConnection:
        """DuckDB's connection. A store file another process is creating at this very moment (its
        header half written) is tried again until that process holds its lock: busy, not damaged."""
        for attempt in range(_OPEN_TRIES):
            retry = attempt < _OPEN_TRIES - 1 and _just_created(self.path)
            if self.path != MEMORY and not _duckdb_file_or_new(self.path):
                if retry:
                    time.sleep(0.05)
                    continue
                # checked before DuckDB sees it (it reads some other files, e.g. JSON, as databases)
                raise StoreError(f"{self.path}: not a keytrail store (not a DuckDB database file); give --db a new file name")
            try:
                spill = None if self.path == MEMORY else os.path.join(self.segments_dir, ".spill")
                with private_files():
                    return duckdb.connect(self.path, read_only=read_only, config=_duckdb_config(spill))
            except duckdb.IOException as e:
                if "lock" in str(e).lower():
                    raise StoreBusyError(self.path) from e
                if retry:
                    time.sleep(0.05)
                    continue
                raise StoreError(f"{self.path}: cannot open store: {e}") from e
            except duckdb.Error as e:
                raise StoreError(f"{self.path}: not a keytrail store ({e})") from e
        raise StoreError(f"{self.path}: cannot open store")

    # ---- schema --------------------------------------------------------------------------
    def _prepare(self) -> None:
        tables = {r[0] for r in self.con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        if "meta" in tables:
            row = self.con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            found = int(row[0]) if row and str(row[0]).isdigit() else 0  # edited or damaged: refused too
            if found == 1:
                self._upgrade()
            elif found != SCHEMA_VERSION:
                raise SchemaVersionError(self.path, found, SCHEMA_VERSION)
            self._check_place()
        elif tables:
            raise StoreError(f"{self.path}: a DuckDB database, but not a keytrail store")
        elif self.read_only:
            raise StoreError(f"{self.path}: empty database, not a keytrail store")
        else:
            os.makedirs(self.segments_dir, mode=0o700, exist_ok=True)
            with self.transaction():
                self.con.execute(SCHEMA)
                self.con.execute("INSERT INTO meta VALUES ('schema_version', ?)", [str(SCHEMA_VERSION)])
                self.write_views()
        if not self.read_only:
            self._remove_strays()

    def _upgrade(self) -> None:
        """A store of schema version 1, upgraded in place (``keytrail.migrate``) -- also when opened
        for reading: the upgrade needs the file writable once."""
        from keytrail.migrate import migrate_v1

        if self.read_only:
            self.con.close()
            try:
                self.con = self._connect(read_only=False)
            except StoreError as e:
                raise StoreError(
                    f"{self.path}: written by an earlier keytrail (schema version 1) and cannot be upgraded here "
                    f"({e}); copy it where you may write and open the copy, e.g. `keytrail usage --db COPY`"
                ) from e
        migrate_v1(self)
        if self.read_only:
            self.con.close()
            self.con = self._connect(read_only=True)

    def _check_place(self) -> None:
        """Point the views at the segments directory where it is now (a store moved or copied with
        its directory): in the file when it may be written, else for this connection only."""
        if self.get_meta("segments_dir") == self.segments_dir:
            return
        if not os.path.isdir(self.segments_dir) and self.segment_names():
            raise StoreError(
                f"{self.path}: its segments directory {self.segments_dir} is missing; a store is the file and "
                f"that directory together (move or copy both)"
            )
        if self.read_only:
            self.con.close()
            try:  # pointed in the file, for every DuckDB client, when it may be written now
                self.con = self._connect(read_only=False)
            except StoreError:
                self.con = self._connect(read_only=True)
                self.write_views(temp=True)  # for this connection only
                return
            with self.transaction():
                self.write_views()
            self.con.close()
            self.con = self._connect(read_only=True)
        else:
            with self.transaction():
                self.write_views()

    def _remove_strays(self) -> None:
        """Segment files no committed registration names: left by a killed ingest or compaction."""
        if not os.path.isdir(self.segments_dir):
            return
        known = {r[0] for r in self.con.execute("SELECT name FROM segments").fetchall()}
        for name in os.listdir(self.segments_dir):
            if name.startswith("seg-") and name not in known and (name.endswith(SEGMENT_SUFFIX) or name.endswith(".tmp")):
                with suppress(OSError):
                    os.unlink(os.path.join(self.segments_dir, name))
            elif name.startswith(".resolve-") or name == ".spill":  # a resolution's work files, DuckDB's spill
                shutil.rmtree(os.path.join(self.segments_dir, name), ignore_errors=True)

    def _close(self) -> None:
        with suppress(duckdb.Error):
            self.con.close()
        if self._tmpdir is not None:
            self._tmpdir.cleanup()
            self._tmpdir = None

    def close(self) -> None:
        self._close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- meta ----------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        row = self.con.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self.con.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", [key, value])

    # ---- ledger --------------------------------------------------------------------------
    def ledger(self) -> dict[str, LedgerEntry]:
        rows = self.con.execute("SELECT uri, size, version, status FROM files").fetchall()
        return {r[0]: LedgerEntry(r[0], r[1] or 0, r[2] or "", r[3]) for r in rows}

    def next_file_id(self) -> int:
        row = self.con.execute("SELECT coalesce(max(file_id), 0) + 1 FROM files").fetchone()
        return int(row[0]) if row else 1

    def begin_ingest(self, sources: str) -> int:
        row = self.con.execute("SELECT coalesce(max(ingest_id), 0) + 1 FROM ingests").fetchone()
        ingest_id = int(row[0]) if row else 1
        self.con.execute("INSERT INTO ingests VALUES (?, now(), NULL, ?)", [ingest_id, sources])
        return ingest_id

    def finish_ingest(self, ingest_id: int) -> None:
        self.con.execute("UPDATE ingests SET finished = now() WHERE ingest_id = ?", [ingest_id])

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """BEGIN ... COMMIT, or ROLLBACK when the block raises (a crash leaves no trace either).
        Segment files the transaction unregistered are removed once it has committed."""
        self.con.execute("BEGIN")
        try:
            yield
        except BaseException:
            self.con.execute("ROLLBACK")
            self._garbage = []
            raise
        with private_files():  # the commit may create DuckDB's write-ahead log
            self.con.execute("COMMIT")
        garbage, self._garbage = self._garbage, []
        for name in garbage:
            with suppress(OSError):
                os.unlink(os.path.join(self.segments_dir, name))

    # ---- segments --------------------------------------------------------------------------
    def segment_names(self, kind: str = "rows") -> list[str]:
        """Registered segments: the rows as written (``rows``) or as resolved (``resolved``)."""
        return [r[0] for r in self.con.execute("SELECT name FROM segments WHERE kind = ? ORDER BY name", [kind]).fetchall()]

    def segment_path(self, name: str) -> str:
        return os.path.join(self.segments_dir, name)

    def _segments_sql(self, names: Sequence[str]) -> str:
        """The rows of these segments as a relation (the typed empty relation for none)."""
        if not names:
            return _no_rows()
        paths = ", ".join(sql_text(self.segment_path(n)) for n in names)
        return f"read_parquet([{paths}])"

    def write_views(self, temp: bool = False) -> None:
        """(Re)create ``raw_key_use`` and ``key_use`` over the registered segments (inside the
        caller's transaction unless ``temp``)."""
        names = self.segment_names()
        touched = {
            r[0]
            for r in self.con.execute(
                "SELECT DISTINCT f.segment FROM resolution r JOIN files f USING (file_id) WHERE r.reopened"
            ).fetchall()
        } & set(names)
        clean = [n for n in names if n not in touched]
        raw_cols = ", ".join(RAW_COLUMNS)
        settled_cols = ", ".join(_ROW_COLUMNS)
        settled = [f"SELECT {settled_cols} FROM {self._segments_sql(clean)} WHERE NOT open"]  # noqa: S608 - paths quoted by sql_text, names are keytrail's own
        if touched:
            settled.append(
                f"SELECT {settled_cols} FROM {self._segments_sql(sorted(touched))} s WHERE NOT open AND NOT EXISTS ("  # noqa: S608 - paths quoted by sql_text, names are keytrail's own
                "SELECT 1 FROM resolution x WHERE x.reopened AND x.file_id = s.file_id AND x.rec_index = s.rec_index "
                "AND x.row_no = s.row_no)"
            )
        parts = [key_use_select(f"({p})", settled=True) for p in settled]
        resolved = self.segment_names("resolved")
        if resolved:
            parts.append(key_use_select(f"(SELECT {settled_cols} FROM {self._segments_sql(resolved)})"))  # noqa: S608 - paths quoted by sql_text
        kind = "TEMP VIEW" if temp else "VIEW"
        self.con.execute(
            f"CREATE OR REPLACE {kind} raw_key_use AS SELECT {raw_cols}, key, who, category FROM {self._segments_sql(names)}"  # noqa: S608
        )
        union = " UNION ALL ".join(f"({p})" for p in parts)
        self.con.execute(f"CREATE OR REPLACE {kind} key_use AS {union}")
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
            con.execute(
                "INSERT INTO identity_map SELECT DISTINCT c.unique_id, c.arn, 'trail' FROM _chunk_ids c "
                "ANTI JOIN identity_map m ON m.unique_id = c.unique_id AND m.arn = c.arn"
            )
            con.unregister("_chunk_ids")
        ingest = con.execute("SELECT max(ingest_id) FROM ingests").fetchone()
        for seg in segments:
            con.execute("INSERT INTO segments VALUES (?, ?, ?, 'rows')", [seg.name, seg.rows, ingest[0] if ingest else None])
        if segments or replaced:
            self.write_views()
        con.execute("INSERT OR REPLACE INTO meta VALUES ('needs_resolve', '1')")

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
        for table in ("alias_history", "record_problems", "credentials"):
            con.execute(f"DELETE FROM {table} WHERE file_id IN (SELECT unnest(?::BIGINT[]))", [ids])  # noqa: S608
        con.execute("DELETE FROM files WHERE file_id IN (SELECT unnest(?::BIGINT[]))", [ids])
        for name in holding:
            self._rewrite(
                [name],
                f"SELECT * FROM {self._segments_sql([name])} WHERE file_id NOT IN (SELECT unnest(?::BIGINT[]))",  # noqa: S608
                [ids],
            )

    def _rewrite(self, old: Sequence[str], query: str, params: Sequence[object] = ()) -> None:
        """Replace segments ``old`` by one holding ``query``'s rows (inside the caller's transaction)."""
        name = new_segment_name()
        path = self.segment_path(name)
        with private_files():
            self.con.execute(
                f"COPY ({query}) TO {sql_text(path + '.tmp')} (FORMAT parquet, COMPRESSION zstd, "  # noqa: S608
                f"ROW_GROUP_SIZE {ROW_GROUP})",
                list(params),
            )
        os.replace(path + ".tmp", path)
        row = self.con.execute(f"SELECT count(*) FROM {self._segments_sql([name])}").fetchone()  # noqa: S608
        self.con.execute("DELETE FROM segments WHERE name IN (SELECT unnest(?::VARCHAR[]))", [list(old)])
        self.con.execute("INSERT INTO segments VALUES (?, ?, NULL, 'rows')", [name, int(row[0]) if row else 0])
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
            raise StoreError(f"{self.path}: cannot write {table}: {e}") from e
        self.con.unregister(view)

    def compact(self, most: int = COMPACT_AT, target_rows: int = COMPACT_ROWS) -> int:
        """Merge small segments when there are more than ``most``: many small files slow every
        report a little (each is opened and its footer read). Returns how many were merged.

        Segments under ``target_rows`` rows are merged, smallest first, into segments of about
        ``target_rows``; in one transaction each (the old files are removed after it commits)."""
        sizes = self.con.execute("SELECT name, rows FROM segments WHERE kind = 'rows' ORDER BY rows, name").fetchall()
        if len(sizes) <= most:
            return 0
        small = [(n, r) for n, r in sizes if r < target_rows]
        merged = 0
        group: list[str] = []
        rows = 0
        for name, count in small:
            group.append(name)
            rows += count
            if rows >= target_rows:
                merged += self._merge(group)
                group, rows = [], 0
        if len(group) > 1:
            merged += self._merge(group)
        return merged

    def _merge(self, names: list[str]) -> int:
        with self.transaction():
            self._rewrite(names, f"SELECT * FROM {self._segments_sql(names)}")  # noqa: S608
            self.write_views()
        return len(names)

    # ---- resolution ------------------------------------------------------------------------
    def needs_resolve(self) -> bool:
        return self.get_meta("needs_resolve") == "1"

    def resolve(self) -> None:
        """Resolve the rows that need other records (``keytrail.resolve``).

        As the Spark job does, in two passes over hash buckets of the candidates, so that memory
        stays bounded whatever the store's size: stage A over buckets of whole eventIDs (each
        bucket's result written to a work file), stage B over buckets of whole sharedEventIDs
        (about ``RESOLVE_BUCKET_ROWS`` candidate rows a bucket). The decisions are collected in
        ``resolution_next``, committed bucket by bucket; the last transaction swaps them in,
        writes the resolved rows as a segment, and clears ``needs_resolve`` -- a resolution
        interrupted before it leaves the store marked for resolution, as it was. DuckDB gets at
        least ``RESOLVE_MEMORY`` (the ingest workers have finished by then)."""
        rows = self._segments_sql(self.segment_names())
        limit = self.con.execute("SELECT current_setting('memory_limit')").fetchone()
        self.con.execute(f"SET memory_limit = '{RESOLVE_MEMORY}'")
        work = os.path.join(self.segments_dir, f".resolve-{secrets.token_hex(6)}")
        os.makedirs(work, mode=0o700)
        try:
            self._decide(rows, work)
            with self.transaction():
                self.con.execute("DROP TABLE IF EXISTS resolution")
                self.con.execute("ALTER TABLE resolution_next RENAME TO resolution")
            with self.transaction():
                self._write_resolved(rows)
                self.write_views()
                self.con.execute("INSERT OR REPLACE INTO meta VALUES ('needs_resolve', '0')")
        finally:
            shutil.rmtree(work, ignore_errors=True)
            if limit:
                self.con.execute(f"SET memory_limit = '{limit[0]}'")

    def _decide(self, rows: str, work: str) -> None:
        """The group rules' decisions into ``resolution_next``. Up to ``RESOLVE_BUCKET_ROWS``
        candidate rows in one query; more, bucket by bucket (work files hold the candidates and
        stage A's rows between the passes)."""
        con = self.con
        con.execute(f"CREATE OR REPLACE TEMP TABLE _shared_keys AS {fill(SHARED_EVENT_KEYS, rows=rows)}")
        candidates = fill(CANDIDATES, rows=rows, files="files", shared_keys="_shared_keys", bucket="true")
        counted = con.execute(f"SELECT count(*) FROM ({candidates})").fetchone()  # noqa: S608
        n = max(1, -(-int(counted[0] if counted else 0) // RESOLVE_BUCKET_ROWS))
        con.execute("DROP TABLE IF EXISTS resolution_next")
        if n == 1:
            with self.transaction():
                con.execute(f"CREATE TABLE resolution_next AS {_decisions(compose(STAGES, f'({candidates})', aliases=ALIASES_LOCAL))}")
        else:
            everything = sql_text(os.path.join(work, "candidates.parquet"))
            with private_files():
                con.execute(f"COPY ({candidates}) TO {everything} (FORMAT parquet)")  # noqa: S608
            for b in range(n):
                part = self._bucket(f"SELECT * FROM read_parquet({everything}) WHERE {EVENT_GROUP} % {n} = {b}")  # noqa: S608
                target = sql_text(os.path.join(work, f"a-{b:05d}.parquet"))
                with private_files():
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
        One segment per ``RESOLVE_BUCKET_ROWS`` rows, so that the join's memory stays bounded."""
        old = self.segment_names("resolved")
        cols = ", ".join(f"coalesce(x.{c}, s.{c}) AS {c}" if c in ("key", "who") else f"s.{c}" for c in _ROW_COLUMNS)
        counted = self.con.execute("SELECT count(*) FROM resolution WHERE NOT dup").fetchone()
        m = max(1, -(-int(counted[0] if counted else 0) // RESOLVE_BUCKET_ROWS))
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
            with private_files():
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

    def query(self, sql: str, params: Sequence[object] | None = None) -> list[tuple[Any, ...]]:
        return self.con.execute(sql, params or []).fetchall()


__all__ = ["KEY_USE_COLUMNS", "LedgerEntry", "Store", "STORED_COLUMNS", "TABLE_COLUMNS", "to_arrow", "shutil"]
