"""The DuckDB store: raw key-use rows, the file ledger, alias history, identity map, and the
resolved ``key_use`` table every report reads.

Writes are transactional: one ingest chunk (its rows, alias changes, identities and ledger
entries) commits together or not at all, so a killed ingest leaves the ledger consistent with
the rows and a re-run reads exactly the files that are missing. Resolution (``resolve``) runs
after the chunks; until it has run the ``meta.needs_resolve`` flag stays set and the next
opening of the store resolves first.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any

import duckdb

from keytrail.errors import SchemaVersionError, StoreBusyError, StoreError
from keytrail.model import KEY_USE_FIELDS
from keytrail.resolve import INSERT_RESOLVED, KEY_USE_VIEW

SCHEMA_VERSION = 1
MEMORY = ":memory:"

_RAW_COLUMNS = """
    file_id BIGINT NOT NULL,
    rec_index BIGINT NOT NULL,
    event_id VARCHAR,
    event_name VARCHAR NOT NULL,
    event_time BIGINT NOT NULL,
    region VARCHAR,
    recipient_account VARCHAR,
    shared_event_id VARCHAR,
    key_ref VARCHAR,
    ref_kind VARCHAR NOT NULL,
    alt_keys VARCHAR[],
    op VARCHAR NOT NULL,
    error_code VARCHAR,
    error_message VARCHAR,
    identity_type VARCHAR,
    principal VARCHAR,
    principal_uid VARCHAR,
    identity_account VARCHAR,
    session_name VARCHAR,
    on_behalf_of VARCHAR,
    access_key_id VARCHAR,
    via VARCHAR,
    source_ip VARCHAR,
    user_agent VARCHAR,
    vpc_endpoint VARCHAR,
    resource_kind VARCHAR,
    resource_id VARCHAR,
    encryption_context VARCHAR,
    -- resolved (see keytrail.resolve): set at insert where the row alone decides, else by resolve()
    key VARCHAR,                    -- the key ARN (NULL while an alias reference is unresolved)
    who VARCHAR,                    -- the canonical principal (hidden callers resolved)
    category VARCHAR NOT NULL,      -- encrypt | decrypt | sign | admin | denied
    dup BOOLEAN NOT NULL            -- another row already counts this call (re-delivery, copy, repeat)
"""

SCHEMA = f"""
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
    ingest_id BIGINT
);
CREATE TABLE IF NOT EXISTS ingests (
    ingest_id BIGINT PRIMARY KEY,
    started TIMESTAMP,
    finished TIMESTAMP,
    sources VARCHAR
);
CREATE TABLE IF NOT EXISTS raw_key_use ({_RAW_COLUMNS});
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

# The resolved table: what every report reads. Documented in the README ("The store").
KEY_USE_COLUMNS: tuple[str, ...] = (
    "key",
    "key_resolved",
    "key_account",
    "key_region",
    "principal",
    "principal_type",
    "category",
    "op",
    "event_name",
    "event_time",
    "event_id",
    "shared_event_id",
    "region",
    "recipient_account",
    "error_code",
    "error_message",
    "via",
    "session_name",
    "on_behalf_of",
    "access_key_id",
    "identity_account",
    "source_ip",
    "user_agent",
    "vpc_endpoint",
    "resource_kind",
    "resource_id",
    "encryption_context",
    "key_ref",
    "file_id",
    "rec_index",
)

RAW_COLUMNS: tuple[str, ...] = ("file_id", "rec_index", *KEY_USE_FIELDS)


_INT_COLUMNS = frozenset({"file_id", "rec_index", "event_time", "size", "records", "kms_records", "rows",
                          "problems", "ingest_id"})
# column order of the tables written in chunks (their Arrow form)
TABLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "files": ("file_id", "uri", "size", "version", "status", "shape", "records", "kms_records", "rows",
              "problems", "reason", "ingest_id"),
    "raw_key_use": RAW_COLUMNS,
    "alias_history": ("alias_arn", "event_time", "target_key", "event_id", "event_name", "source", "file_id",
                      "rec_index"),
    "credentials": ("access_key_id", "event_time", "event_id", "event_name", "role_arn", "session_name", "caller",
                    "caller_type", "caller_access_key_id", "caller_session", "on_behalf_of", "file_id", "rec_index"),
    "record_problems": ("file_id", "rec_index", "kind", "message"),
    "identity_map": ("unique_id", "arn"),
}


def to_arrow(table: str, rows: Sequence[Sequence[Any]]) -> Any:
    """Tuples in ``TABLE_COLUMNS[table]`` order as an Arrow table (fast to insert into DuckDB)."""
    import pyarrow as pa

    names = TABLE_COLUMNS[table]
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(names)
    arrays = [
        pa.array(col, type=pa.int64() if name in _INT_COLUMNS else (pa.list_(pa.string()) if name == "alt_keys" else pa.string()))
        for name, col in zip(names, columns, strict=True)
    ]
    return pa.Table.from_arrays(arrays, names=list(names))


def _duckdb_config() -> dict[str, str | bool | int | float | list[str]]:
    """DuckDB's memory is capped so that ingest stays flat whatever the archive's size
    (``KEYTRAIL_MEMORY_LIMIT``, default 128MB; DuckDB spills to disk beyond it)."""
    return {
        "memory_limit": os.environ.get("KEYTRAIL_MEMORY_LIMIT", "128MB"),
        "preserve_insertion_order": "false",
    }


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


@dataclass(frozen=True)
class LedgerEntry:
    uri: str
    size: int
    version: str
    status: str


class Store:
    """A keytrail store: ``Store(path)`` on disk, ``Store()`` in memory."""

    def __init__(self, path: str | None = None, read_only: bool = False) -> None:
        self.path = path or MEMORY
        self.read_only = read_only
        if self.path != MEMORY and read_only and not os.path.exists(self.path):
            raise StoreError(f"{self.path}: no such store")
        self.con = self._connect(read_only)
        try:
            self._prepare()
        except duckdb.Error as e:  # a damaged file (truncated, overwritten) fails at its first read
            self.con.close()
            raise StoreError(f"{self.path}: cannot read store: {e}") from e
        except BaseException:
            self.con.close()  # a refused store is not held open (nor locked)
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
                return duckdb.connect(self.path, read_only=read_only, config=_duckdb_config())
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
            if found != SCHEMA_VERSION:
                raise SchemaVersionError(self.path, found, SCHEMA_VERSION)
        elif tables:
            raise StoreError(f"{self.path}: a DuckDB database, but not a keytrail store")
        elif self.read_only:
            raise StoreError(f"{self.path}: empty database, not a keytrail store")
        else:
            with self.transaction():
                self.con.execute(SCHEMA)
                self.con.execute(KEY_USE_VIEW)
                self.con.execute("INSERT INTO meta VALUES ('schema_version', ?)", [str(SCHEMA_VERSION)])

    def close(self) -> None:
        self.con.close()

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
        """BEGIN ... COMMIT, or ROLLBACK when the block raises (a crash leaves no trace either)."""
        self.con.execute("BEGIN")
        try:
            yield
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        self.con.execute("COMMIT")

    def write_chunk(self, files: Any, replaced_uris: Iterable[str], tables: dict[str, Any]) -> None:
        """Ledger entries and the chunk's tables (Arrow tables named like the store's), inside the
        caller's transaction: the ledger and the rows commit together.

        ``tables`` may hold raw_key_use, alias_history, credentials, record_problems (appended) and
        identity_map (unique id, arn; added where new). Files in ``replaced_uris`` (changed since they
        were read) lose their old rows first.
        """
        con = self.con
        replaced = list(replaced_uris)
        if replaced:
            con.execute(
                "CREATE OR REPLACE TEMP TABLE _gone AS SELECT file_id FROM files WHERE uri IN (SELECT unnest(?::VARCHAR[]))",
                [replaced],
            )
            for table in ("raw_key_use", "alias_history", "record_problems", "credentials"):
                con.execute(f"DELETE FROM {table} WHERE file_id IN (SELECT file_id FROM _gone)")  # noqa: S608
            con.execute("DELETE FROM files WHERE file_id IN (SELECT file_id FROM _gone)")
        self._append("files", files)
        for name in ("raw_key_use", "alias_history", "credentials", "record_problems"):
            self._append(name, tables.get(name))
        ids = tables.get("identity_map")
        if ids is not None and ids.num_rows:
            con.register("_chunk_ids", ids)
            con.execute(
                "INSERT INTO identity_map SELECT DISTINCT c.unique_id, c.arn, 'trail' FROM _chunk_ids c "
                "ANTI JOIN identity_map m ON m.unique_id = c.unique_id AND m.arn = c.arn"
            )
            con.unregister("_chunk_ids")
        con.execute("INSERT OR REPLACE INTO meta VALUES ('needs_resolve', '1')")

    def _append(self, table: str, data: Any) -> None:
        if data is None or not data.num_rows:
            return
        view = f"_chunk_{table}"
        extra = f", {INSERT_RESOLVED}" if table == "raw_key_use" else ""
        self.con.register(view, data)
        try:
            self.con.execute(f"INSERT INTO {table} SELECT *{extra} FROM {view}")  # noqa: S608
        except duckdb.Error as e:
            # the transaction is aborted (the caller rolls it back): say why, not what failed after
            with suppress(duckdb.Error):
                self.con.unregister(view)
            raise StoreError(f"{self.path}: cannot write {table}: {e}") from e
        self.con.unregister(view)

    def needs_resolve(self) -> bool:
        return self.get_meta("needs_resolve") == "1"

    def query(self, sql: str, params: Sequence[object] | None = None) -> list[tuple[Any, ...]]:
        return self.con.execute(sql, params or []).fetchall()
