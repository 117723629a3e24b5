"""Key-use rows as stored: Arrow columns built from the normaliser's rows, the row rules applied,
written as one Parquet *segment* by the process that made them.

Every ingest worker (and every Spark task) writes its own segments, so the store's biggest write
-- compressing every key-use row -- runs on every core; the process that owns the DuckDB store
only registers finished segments (``store.segment_tables``). A segment is written under a temporary
name and renamed when complete: a segment file either holds all of its rows or does not exist
under its final name.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO

from keytrail.normalize.model import KEY_USE_FIELDS, KeyUse
from keytrail.resolve import ROW_RULE_COLUMNS, ROW_RULES, fill

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

RAW_COLUMNS: tuple[str, ...] = ("file_id", "rec_index", "row_no", *KEY_USE_FIELDS)
"""The normaliser's rows as stored, before the row rules add ``key``, ``who``, ``category``, ``open``."""

STORED_COLUMNS: tuple[str, ...] = (*RAW_COLUMNS, *ROW_RULE_COLUMNS)
"""A segment's columns: the normaliser's rows and the row rules."""
VIEW_COLUMNS = tuple(c for c in STORED_COLUMNS if c not in ("open", "record_rows", "event_key"))
"""What the views read of a segment row."""

INT_COLUMNS = frozenset({"file_id", "rec_index", "row_no", "event_time"})
LIST_COLUMNS = frozenset({"alt_keys"})

SEGMENT_SUFFIX = ".parquet"
COMPRESSION = "zstd"
ROW_GROUP = 122_880  # rows per Parquet row group: DuckDB reads a row group per thread


def arrow_type(name: str) -> Any:
    import pyarrow as pa

    if name in INT_COLUMNS:
        return pa.int64()
    if name in LIST_COLUMNS:
        return pa.list_(pa.string())
    if name == "open":
        return pa.bool_()
    if name in ("record_rows", "event_key"):
        return pa.int64()
    return pa.string()


class RowBuffer:
    """The key-use rows of some files, gathered for one segment.

    The rows of the file being read are kept as Python objects (``add``); ``flush`` turns them
    into Arrow columns when the file is done, so that the many small objects a file's records
    decode into are freed together, and the columns are built while their strings are still
    in the CPU's caches."""

    __slots__ = ("file_ids", "indexes", "row_nos", "record_rows", "rows", "tables", "flushed")

    def __init__(self) -> None:
        self.file_ids: list[int] = []
        self.indexes: list[int] = []
        self.row_nos: list[int] = []
        self.record_rows: list[int] = []  # how many rows the row's record gave (for the row rules)
        self.rows: list[KeyUse] = []
        self.tables: list[pa.Table] = []  # flushed rows: RAW_COLUMNS and record_rows
        self.flushed = 0

    def __len__(self) -> int:
        return self.flushed + len(self.rows)

    def add(self, file_id: int, index: int, rows: Sequence[KeyUse]) -> None:
        n = len(rows)
        if n == 1:
            self.file_ids.append(file_id)
            self.indexes.append(index)
            self.row_nos.append(0)
            self.record_rows.append(1)
            self.rows.append(rows[0])
            return
        self.file_ids.extend([file_id] * n)
        self.indexes.extend([index] * n)
        self.row_nos.extend(range(n))
        self.record_rows.extend([n] * n)
        self.rows.extend(rows)

    def flush(self) -> None:
        """The rows added so far as Arrow columns (``RAW_COLUMNS`` and ``record_rows``)."""
        if not self.rows:
            return
        import pyarrow as pa

        arrays = [
            pa.array(self.file_ids, pa.int64()),
            pa.array(self.indexes, pa.int64()),
            pa.array(self.row_nos, pa.int64()),
        ]
        for name, column in zip(KEY_USE_FIELDS, zip(*self.rows, strict=True), strict=True):
            arrays.append(pa.array(column, arrow_type(name)))
        arrays.append(pa.array(self.record_rows, pa.int64()))
        self.tables.append(pa.Table.from_arrays(arrays, names=[*RAW_COLUMNS, "record_rows"]))
        self.flushed += len(self.rows)
        self.file_ids, self.indexes, self.row_nos, self.record_rows, self.rows = [], [], [], [], []

    def table(self) -> pa.Table:
        """Every row as one Arrow table: ``RAW_COLUMNS`` and ``record_rows``."""
        import pyarrow as pa

        self.flush()
        table = pa.concat_tables(self.tables) if len(self.tables) != 1 else self.tables[0]
        self.tables = [table]
        return table

    def drop(self, records: set[tuple[int, int]]) -> None:
        """Remove the rows of these (file_id, rec_index) records."""
        import pyarrow as pa

        table = self.table()
        keep = [
            (f, i) not in records
            for f, i in zip(table.column("file_id").to_pylist(), table.column("rec_index").to_pylist(), strict=True)
        ]
        table = table.filter(pa.array(keep, pa.bool_()))
        self.tables, self.flushed = [table], table.num_rows

    def rows_per_file(self) -> dict[int, int]:
        from collections import Counter

        return dict(Counter(self.table().column("file_id").to_pylist()))


_con: duckdb.DuckDBPyConnection | None = None


def _connection() -> duckdb.DuckDBPyConnection:
    """This process's DuckDB for the row rules (one thread: workers are already one per core)."""
    global _con
    if _con is None:
        import duckdb

        _con = duckdb.connect(config={"threads": 1, "preserve_insertion_order": True})
    return _con


def with_row_rules(table: pa.Table) -> pa.Table:
    """The normaliser's rows (``RAW_COLUMNS`` and ``record_rows``, as ``RowBuffer.table`` gives
    them) with ``ROW_RULES``' columns: a segment's columns."""
    con = _connection()
    con.register("_rows", table)
    try:
        rules = con.sql(fill(ROW_RULES, rows="_rows")).to_arrow_table()
    finally:
        con.unregister("_rows")
    table = table.drop_columns(["record_rows"])
    for name in rules.column_names:
        table = table.append_column(name, rules.column(name))
    return table


@dataclass(frozen=True)
class Segment:
    """A finished segment file: its name in the segments directory and its row count."""

    name: str
    rows: int


def new_segment_name() -> str:
    return f"seg-{secrets.token_hex(8)}{SEGMENT_SUFFIX}"


def write_segment(table: pa.Table, directory: str) -> Segment:
    """``table`` (``RowBuffer.table``) with the row rules, as a new Parquet segment in ``directory``."""
    import pyarrow.parquet as pq

    stored = with_row_rules(table)
    name = new_segment_name()
    path = os.path.join(directory, name)
    with private_file(f"{path}.tmp") as f:
        pq.write_table(stored, f, compression=COMPRESSION, row_group_size=ROW_GROUP)
    os.replace(f"{path}.tmp", path)
    return Segment(name, stored.num_rows)


PRIVATE = 0o600
"""Files of a store: they hold encryption contexts, access key ids and source IPs."""


def private_file(path: str) -> BinaryIO:
    """A new file only its owner may read, opened for writing (never an existing file or a link)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), PRIVATE)
    return os.fdopen(fd, "wb")
