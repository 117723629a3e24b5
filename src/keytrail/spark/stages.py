"""What a Spark task runs: keytrail's own resolver SQL (``keytrail.resolve``), in DuckDB, over the
Arrow batches of one partition. No pyspark here: the functions are called by the job's
``mapInArrow`` steps and, without a JVM, by tests that partition rows the way Spark does.

The resolver's group rules need their groups whole: stage A (re-deliveries, then aliases and
hidden callers) runs on partitions of whole eventIDs, stage B (cross-account copies, then once
per call, key and category) on partitions of whole sharedEventIDs -- which keeps every record
whole too. ``event_partition`` and ``copy_partition`` are the SQL expressions the job
repartitions by.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from keytrail.resolve import STAGE_A, STAGE_B, compose, key_use_select

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa


event_partition = "coalesce(event_id, concat('file:', CAST(file_id AS STRING), ':', CAST(rec_index AS STRING)))"
"""Spark SQL: rows of one eventID together (a row without one: its record alone)."""
copy_partition = "coalesce(shared_event_id, concat('file:', CAST(file_id AS STRING), ':', CAST(rec_index AS STRING)))"
"""Spark SQL: rows of one sharedEventID together (a row without one: its record alone)."""

PARTITION_COLUMNS = ("date", "account")
UNKNOWN_ACCOUNT = "unknown"


def file_order_key(input_index: int, path: str) -> str:
    """A file's place in log order: the input it was found under, then the path as a directory
    walk sorts it (component by component: ``a/x`` before ``a-b/x``)."""
    return f"{input_index:06d}\x00{path.replace('/', chr(0))}"


_con: duckdb.DuckDBPyConnection | None = None


def _connection() -> duckdb.DuckDBPyConnection:
    """This Python worker's DuckDB (one thread: Spark gives each task a core)."""
    global _con
    if _con is None:
        import duckdb

        _con = duckdb.connect(config={"threads": 1})
    return _con


def run(query: str, tables: dict[str, pa.Table]) -> pa.Table:
    """``query`` over ``tables`` (registered under their names) in this worker's DuckDB."""
    con = _connection()
    for name, table in tables.items():
        con.register(name, table)
    try:
        return con.sql(query).to_arrow_table()
    finally:
        for name in tables:
            con.unregister(name)


def resolve_events(rows: pa.Table, aliases: pa.Table, identities: pa.Table) -> pa.Table:
    """Stage A over whole eventIDs: re-deliveries marked, alias references and hidden callers resolved."""
    return run(compose(STAGE_A, "_rows", aliases="_aliases", identities="_identities"),
               {"_rows": rows, "_aliases": aliases, "_identities": identities})


def _window(since: int | None, until: int | None) -> list[str]:
    """SQL conditions: ``event_time`` within [since, until) (epoch seconds)."""
    window = []
    if since is not None:
        window.append(f"event_time >= {int(since)}")
    if until is not None:
        window.append(f"event_time < {int(until)}")
    return window


def _partitioned(key_use: str) -> str:
    """``key_use`` (a ``key_use_select``) with the dataset's partition columns."""
    return (
        f"SELECT *, strftime(event_time, '%Y-%m-%d') AS date, "  # noqa: S608 - keytrail's own texts
        f"CASE WHEN regexp_full_match(key_account, '[0-9]{{12}}') THEN key_account ELSE '{UNKNOWN_ACCOUNT}' END AS account "
        f"FROM ({key_use})"
    )


def resolve_copies(rows: pa.Table, since: int | None, until: int | None) -> pa.Table:
    """Stage B over whole sharedEventIDs: the rows counted (``dup`` false) as key_use rows with the
    dataset's partition columns, within [since, until) (epoch seconds)."""
    where = " AND ".join(["NOT dup", *_window(since, until)])
    counted = f"(SELECT * FROM ({compose(STAGE_B, '_rows')}) WHERE {where})"  # noqa: S608 - numbers and keytrail's own texts
    return run(_partitioned(key_use_select(counted)), {"_rows": rows})


def settle(rows: pa.Table, since: int | None, until: int | None) -> pa.Table:
    """Settled rows (no group rule touches them: ``CANDIDATE`` is not true), with the row rules'
    key and principal, as key_use rows with the partition columns, within [since, until) -- as
    the local engine's ``key_use`` view reads its settled rows."""
    where = " AND ".join(_window(since, until)) or "true"
    return run(_partitioned(key_use_select(f"(SELECT * FROM _rows WHERE {where})", settled=True)), {"_rows": rows})  # noqa: S608 - numbers


def to_ipc(table: pa.Table) -> bytes:
    """An Arrow table as IPC stream bytes (to broadcast)."""
    import pyarrow as pa

    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


def from_ipc(data: bytes) -> pa.Table:
    import pyarrow as pa

    return pa.ipc.open_stream(data).read_all()


def _whole(batches: Iterator[pa.RecordBatch]) -> pa.Table | None:
    """A task's batches as one table (its partition: whole groups), None for an empty partition."""
    import pyarrow as pa

    got = list(batches)
    return pa.Table.from_batches(got) if got else None


def map_events(histories: tuple[bytes, bytes], batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """``mapInArrow`` body of stage A (``histories``: the alias history and the identity map as IPC)."""
    rows = _whole(batches)
    if rows is not None:
        yield from resolve_events(rows, from_ipc(histories[0]), from_ipc(histories[1])).to_batches()


def map_copies(window: tuple[int | None, int | None], batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """``mapInArrow`` body of stage B."""
    rows = _whole(batches)
    if rows is not None:
        yield from resolve_copies(rows, *window).to_batches()


def map_settled(window: tuple[int | None, int | None], batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """``mapInArrow`` body for the settled rows (batch by batch: no group needs to be whole)."""
    import pyarrow as pa

    for batch in batches:
        if batch.num_rows:
            yield from settle(pa.Table.from_batches([batch]), *window).to_batches()
