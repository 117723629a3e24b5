"""The store's tables: the DuckDB schema, and the typed rows ingest writes into its side tables.

Each side table a chunk writes has a row type (a msgspec Struct) whose fields are the table's
columns, in order, and whose field types give its Arrow schema (``arrow_schema``): the workers
build the rows, ``arrow_table`` turns them into the Arrow tables the store inserts. The key-use
rows themselves are not here: they are written as Parquet segments (``store.segments``).
"""

from __future__ import annotations

import functools
import types
import typing
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import msgspec

from keytrail.normalize.model import IdentityHint

if TYPE_CHECKING:
    import pyarrow as pa

SCHEMA_VERSION = 5

DETAIL_SETS: tuple[tuple[str, ...], ...] = (("via",), ("session_name",), ("resource_kind", "resource_id"), ("source_ip",))
"""The ``key_use`` columns whose values ``rollup_details`` counts, a set of columns per detail
(its ``detail`` column names the set, its columns joined by commas)."""
DETAIL_COLUMNS: tuple[str, ...] = tuple(c for s in DETAIL_SETS for c in s)

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
-- unique ids the identity map has learned since the last resolution (its next one re-decides the
-- rows that name them: see keytrail.store.resolution)
CREATE TABLE IF NOT EXISTS identity_changes (unique_id VARCHAR NOT NULL);
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
    message VARCHAR NOT NULL,
    event_id VARCHAR,               -- the record's eventID and eventName, where it has them
    event_name VARCHAR
);
CREATE TABLE IF NOT EXISTS rollup_days (
    part VARCHAR NOT NULL,          -- settled | resolved (see keytrail.store.rollup)
    key VARCHAR, key_resolved BOOLEAN, principal VARCHAR, principal_type VARCHAR, category VARCHAR,
    day DATE NOT NULL,              -- UTC
    calls BIGINT NOT NULL,
    first_seen TIMESTAMP NOT NULL,
    last_seen TIMESTAMP NOT NULL
);
CREATE TABLE IF NOT EXISTS rollup_details (
    part VARCHAR NOT NULL,
    detail VARCHAR NOT NULL,        -- the columns counted: {", ".join(repr(",".join(s)) for s in DETAIL_SETS)}
    key VARCHAR, principal VARCHAR, {", ".join(f"{c} VARCHAR" for c in DETAIL_COLUMNS)},
    calls BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS rollup_refs (part VARCHAR NOT NULL, key VARCHAR, key_resolved BOOLEAN, key_ref VARCHAR);
CREATE TABLE IF NOT EXISTS rollup_created (part VARCHAR NOT NULL, key VARCHAR);
-- keys whose settled rows changed since the rollups were made (made again at the next resolution)
CREATE TABLE IF NOT EXISTS rollup_stale_keys (key VARCHAR);
"""


class FileEntry(msgspec.Struct, frozen=True, gc=False):
    """The file ledger (``files``): one file or object read, and what came of it."""

    file_id: int
    uri: str
    size: int
    version: str
    status: str  # ingested | skipped | error
    shape: str | None
    records: int
    kms_records: int
    rows: int
    problems: int
    reason: str | None
    ingest_id: int | None
    segment: str | None  # the segment that holds the file's key-use rows
    verified: bool  # covered by a verified digest chain


class AliasRow(msgspec.Struct, frozen=True, gc=False):
    """``alias_history``: an alias pointed at ``target_key`` from ``event_time`` on (None: deleted),
    from a trail event (``source`` trail, with the record it came from) or an inventory."""

    alias_arn: str
    event_time: int
    target_key: str | None
    event_id: str | None
    event_name: str | None
    source: str  # trail | inventory
    file_id: int | None
    rec_index: int | None


class CredentialRow(msgspec.Struct, frozen=True, gc=False):
    """``credentials``: temporary credentials STS handed out (``normalize.model.CredentialIssue``),
    with the record it came from."""

    access_key_id: str
    event_time: int
    event_id: str | None
    event_name: str
    role_arn: str | None
    session_name: str | None
    caller: str | None
    caller_type: str | None
    caller_access_key_id: str | None
    caller_session: str | None
    on_behalf_of: str | None
    file_id: int | None
    rec_index: int | None


class ProblemRow(msgspec.Struct, frozen=True, gc=False):
    """``record_problems``: a record rejected, or a KMS call that could not be attributed, and why."""

    file_id: int
    rec_index: int
    kind: str  # rejected | unattributed
    message: str
    event_id: str | None = None
    event_name: str | None = None


Row = FileEntry | AliasRow | CredentialRow | ProblemRow | IdentityHint

TABLE_ROWS: dict[str, type[Row]] = {
    "files": FileEntry,
    "alias_history": AliasRow,
    "credentials": CredentialRow,
    "record_problems": ProblemRow,
    "identity_map": IdentityHint,  # the chunk's form: the table adds its source
}
"""The row type of each side table a chunk writes."""

TABLE_COLUMNS: dict[str, tuple[str, ...]] = {name: cls.__struct_fields__ for name, cls in TABLE_ROWS.items()}
"""Column order of the side tables written in chunks (their Arrow form)."""


def _arrow_type(annotation: Any) -> pa.DataType:
    import pyarrow as pa

    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if isinstance(annotation, types.UnionType) and len(args) == 1:
        annotation = args[0]
    if annotation is bool:
        return pa.bool_()
    if annotation is int:
        return pa.int64()
    if typing.get_origin(annotation) is list:
        return pa.list_(pa.string())
    return pa.string()


@functools.cache
def arrow_schema(cls: type[Row]) -> pa.Schema:
    """The Arrow schema of a row type: its fields, in order, typed by their annotations."""
    import pyarrow as pa

    hints = typing.get_type_hints(cls)
    return pa.schema([(name, _arrow_type(hints[name])) for name in cls.__struct_fields__])


def arrow_table(cls: type[Row], rows: Sequence[Row] | Sequence[tuple[Any, ...]]) -> pa.Table:
    """Rows of ``cls`` (or tuples in its field order) as an Arrow table (fast to insert into DuckDB)."""
    import pyarrow as pa

    schema = arrow_schema(cls)
    tuples = [r if isinstance(r, tuple) else msgspec.structs.astuple(r) for r in rows]
    columns = list(zip(*tuples, strict=True)) if tuples else [()] * len(schema)
    return pa.Table.from_arrays([pa.array(c, f.type) for c, f in zip(columns, schema, strict=True)], schema=schema)


def to_arrow(table: str, rows: Sequence[Row] | Sequence[tuple[Any, ...]]) -> pa.Table:
    """``arrow_table`` of the row type of the store table ``table``."""
    return arrow_table(TABLE_ROWS[table], rows)


MAX_STORED_TEXT = 2000


def storable(text: str) -> str:
    """Text as the store keeps it: file names and messages may hold surrogates (bytes that are not
    UTF-8, decoded with surrogateescape) that no UTF-8 column takes; those are written as \\udcXX.
    Messages quoting log data are cut at 2,000 characters."""
    if len(text) > MAX_STORED_TEXT:
        text = text[:MAX_STORED_TEXT] + "..."
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", errors="backslashreplace").decode("utf-8")
    return text
