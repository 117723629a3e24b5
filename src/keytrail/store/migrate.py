"""Upgrading a store written by an earlier keytrail, in place and in one transaction per step.

Schema version 1 kept every key-use row in the DuckDB table ``raw_key_use`` (resolved in place,
with a ``dup`` flag). Version 2 keeps them in Parquet segments beside the database
(``keytrail.store``): the upgrade writes the rows as one segment, with the row rules, registers
it, and marks the store for resolution. The ledger is kept, so the next ingest reads only what
is new. An interrupted upgrade leaves the version 1 store as it was (the segment it was writing
is removed by the next writer).

Version 3 adds the eventID and eventName of each record in ``record_problems`` (empty for the
problems an older keytrail recorded).

Version 4 adds the rollups the reports read (``keytrail.store.rollup``), made from the rows in
the upgrade's transaction.

Version 5 adds ``identity_changes`` (what the identity map learned since the last resolution), so
that a resolution re-decides only the groups new files touch (``keytrail.store.resolution``); an
upgraded store's next resolution is a whole one.
"""

from __future__ import annotations

import os
from contextlib import AbstractContextManager
from typing import Protocol

import duckdb

from keytrail.normalize.model import KEY_USE_FIELDS
from keytrail.resolve import ROW_RULE_EXPRESSIONS
from keytrail.store.connection import private_files, sql_text
from keytrail.store.segments import new_segment_name
from keytrail.store.tables import SCHEMA, SCHEMA_VERSION

FROM_VERSIONS = (1, 2, 3, 4)


class Upgradable(Protocol):
    """What an upgrade needs of a store (``Store`` has it)."""

    con: duckdb.DuckDBPyConnection
    segments_dir: str

    def segment_path(self, name: str) -> str: ...

    def transaction(self) -> AbstractContextManager[None]: ...

    def working_memory(self) -> AbstractContextManager[None]: ...

    def write_views(self, temp: bool = False) -> None: ...

    def resolve(self) -> None: ...

    def roll_up(self) -> None: ...


def migrate_v1(store: Upgradable) -> None:
    """Schema version 1 -> the current one (``store``: opened for writing)."""
    con = store.con
    os.makedirs(store.segments_dir, exist_ok=True)
    name = new_segment_name()
    path = store.segment_path(name)
    fields = ", ".join(KEY_USE_FIELDS)
    # row_no: the rows of a record in a fixed order (version 1 did not number them)
    rows = (
        f"SELECT file_id, rec_index, row_number() OVER (PARTITION BY file_id, rec_index "  # noqa: S608 - constant names
        f"ORDER BY ref_kind, key_ref, op, category) - 1 AS row_no, {fields}, "
        f"count(*) OVER (PARTITION BY file_id, rec_index) AS record_rows FROM raw_key_use"
    )
    count = con.execute("SELECT count(*) FROM raw_key_use").fetchone()
    target = sql_text(path + ".tmp")
    with private_files():
        con.execute(
            f"COPY (SELECT file_id, rec_index, row_no, {fields}, {ROW_RULE_EXPRESSIONS} FROM ({rows})) "  # noqa: S608
            f"TO {target} (FORMAT parquet, COMPRESSION zstd)"
        )
    os.replace(path + ".tmp", path)
    with store.transaction():
        con.execute("DROP VIEW IF EXISTS key_use")
        con.execute("DROP TABLE raw_key_use")
        con.execute("ALTER TABLE files ADD COLUMN segment VARCHAR")
        con.execute("ALTER TABLE files ADD COLUMN verified BOOLEAN NOT NULL DEFAULT false")
        con.execute(SCHEMA)  # the tables version 1 did not have
        _problem_events(con)
        if count and count[0]:
            con.execute("INSERT INTO segments VALUES (?, ?, NULL, 'rows')", [name, int(count[0])])
            con.execute("UPDATE files SET segment = ? WHERE rows > 0", [name])
        con.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", [str(SCHEMA_VERSION)])
        con.execute("INSERT OR REPLACE INTO meta VALUES ('needs_resolve', '1')")
        con.execute("DELETE FROM meta WHERE key = 'resolved_upto'")  # every row is resolved anew
        store.write_views()
    if not count or not count[0]:
        os.unlink(path)
    store.resolve()


def _problem_events(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("ALTER TABLE record_problems ADD COLUMN IF NOT EXISTS event_id VARCHAR")
    con.execute("ALTER TABLE record_problems ADD COLUMN IF NOT EXISTS event_name VARCHAR")


def migrate_v2(store: Upgradable) -> None:
    """Schema version 2 -> 3: the problems' eventID and eventName columns."""
    with store.transaction():
        _problem_events(store.con)
        store.con.execute("UPDATE meta SET value = '3' WHERE key = 'schema_version'")


def migrate_v3(store: Upgradable) -> None:
    """Schema version 3 -> the current one: the rollups, made from the rows."""
    with store.working_memory(), store.transaction():  # as a resolution has
        store.con.execute(SCHEMA)  # the rollup tables
        store.roll_up()
        store.con.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", [str(SCHEMA_VERSION)])


def migrate_v4(store: Upgradable) -> None:
    """Schema version 4 -> the current one: ``identity_changes``."""
    with store.transaction():
        store.con.execute(SCHEMA)  # the tables version 4 did not have
        store.con.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", [str(SCHEMA_VERSION)])


def migrate(store: Upgradable, found: int) -> None:
    """A store of schema version ``found`` (one of FROM_VERSIONS) -> the current one."""
    if found == 4:
        migrate_v4(store)
        return
    if found == 1:
        migrate_v1(store)  # to the current version, rollups included (made by its resolution)
        return
    if found == 2:
        migrate_v2(store)
    migrate_v3(store)
