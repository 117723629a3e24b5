"""Key-use rows as stored: Arrow columns built from the normaliser's rows, the row rules applied,
written as one Parquet *segment* by the process that made them.

Every ingest worker (and every Spark task) writes its own segments, so the store's biggest write
-- compressing every key-use row -- runs on every core; the process that owns the DuckDB store
only registers finished segments (``keytrail.store``). A segment is written under a temporary
name and renamed when complete: a segment file either holds all of its rows or does not exist
under its final name.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO

from keytrail.model import KEY_USE_FIELDS, KeyUse
from keytrail.resolve import ROW_RULES, fill

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

RAW_COLUMNS: tuple[str, ...] = ("file_id", "rec_index", "row_no", *KEY_USE_FIELDS)
"""The normaliser's rows as stored, before the row rules add ``key``, ``who``, ``category``, ``open``."""

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
    """The key-use rows of some files, gathered for one segment."""

    __slots__ = ("file_ids", "indexes", "row_nos", "record_rows", "rows")

    def __init__(self) -> None:
        self.file_ids: list[int] = []
        self.indexes: list[int] = []
        self.row_nos: list[int] = []
        self.record_rows: list[int] = []  # how many rows the row's record gave (for the row rules)
        self.rows: list[KeyUse] = []

    def __len__(self) -> int:
        return len(self.rows)

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

    def drop(self, records: set[tuple[int, int]]) -> None:
        """Remove the rows of these (file_id, rec_index) records."""
        keep = [i for i, key in enumerate(zip(self.file_ids, self.indexes, strict=True)) if key not in records]
        for name in self.__slots__:
            values = getattr(self, name)
            setattr(self, name, [values[i] for i in keep])

    def table(self) -> pa.Table:
        """The rows as Arrow columns (``RAW_COLUMNS``), column by column: no per-row tuples."""
        import pyarrow as pa

        arrays = [
            pa.array(self.file_ids, pa.int64()),
            pa.array(self.indexes, pa.int64()),
            pa.array(self.row_nos, pa.int64()),
        ]
        for name, column in zip(KEY_USE_FIELDS, zip(*self.rows, strict=True), strict=True):
            arrays.append(pa.array(column, arrow_type(name)))
        return pa.Table.from_arrays(arrays, names=list(RAW_COLUMNS))


_con: duckdb.DuckDBPyConnection | None = None


def _connection() -> duckdb.DuckDBPyConnection:
    """This process's DuckDB for the row rules (one thread: workers are already one per core)."""
    global _con
    if _con is None:
        import duckdb

        _con = duckdb.connect(config={"threads": 1, "preserve_insertion_order": True})
    return _con


def with_row_rules(table: pa.Table, record_rows: Sequence[int]) -> pa.Table:
    """``ROW_RULES``' columns appended to the normaliser's rows (``RAW_COLUMNS``)."""
    import pyarrow as pa

    con = _connection()
    con.register("_rows", table.append_column("record_rows", pa.array(record_rows, pa.int64())))
    try:
        rules = con.sql(fill(ROW_RULES, rows="_rows")).to_arrow_table()
    finally:
        con.unregister("_rows")
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


def write_segment(table: pa.Table, record_rows: Sequence[int], directory: str) -> Segment:
    """``table`` (raw rows) with the row rules, as a new Parquet segment in ``directory``."""
    import pyarrow.parquet as pq

    stored = with_row_rules(table, record_rows)
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
