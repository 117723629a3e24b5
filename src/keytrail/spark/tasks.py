"""What the Spark job's tasks run on the executors: keytrail's own worker code over Arrow batches
(``mapInArrow``). No pyspark here (the executors import this module to run the functions the job
hands them).

1. ``normalize_files``: whole files in, the local worker's ``process_file`` and ``finish_rows``
   and the row rules, staged tables out (one wide schema, ``stage_kind`` saying which);
2. ``resolve_events`` / ``resolve_copies``: the resolver's stages (``keytrail.spark.stages``),
   conformed to the schemas Spark expects; ``settle_rows``: the rows no stage needs, as key_use
   rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from keytrail.decode.inflate import DEFAULT_MAX_FILE_BYTES
from keytrail.pipeline.worker import Extracted, FileOutcome, finish_rows, problem_row, process_file
from keytrail.sources import FileRef
from keytrail.sources.local import is_log_name, non_log_reason
from keytrail.spark import schema as S
from keytrail.spark import stages
from keytrail.spark.hadoop import Inputs
from keytrail.spark.stages import file_order_key
from keytrail.store.segments import with_row_rules
from keytrail.store.tables import FileEntry, to_arrow


@dataclass(frozen=True)
class _InHand:
    """A FileSource over bytes Spark has already read (``FileRef.data``)."""

    description: str = "spark"

    def files(self) -> Iterator[FileRef]:
        return iter(())

    def read(self, ref: FileRef) -> bytes:
        return ref.data if ref.data is not None else b""


FILES_PER_BATCH = 16
"""Files per Arrow batch handed to a normalising task (each file whole, in memory)."""


def _kind_table(kind: str, table: Any) -> Any:
    """One kind of staged output in the staging schema (the other kinds' columns null)."""
    import pyarrow as pa

    wide = S.conform(table, S.STAGE_COLUMNS[1:])
    return wide.add_column(0, S.STAGE_KIND, pa.array([kind] * wide.num_rows, pa.string()))


def normalize_batch(inputs: Inputs, batch: Any, max_file_bytes: int = DEFAULT_MAX_FILE_BYTES) -> list[Any]:
    """Executor side: one Arrow batch of (path, modificationTime, length, content) -> staged tables.
    A file larger than ``max_file_bytes`` comes without its content and is refused as too large."""
    import pyarrow as pa

    source = _InHand()
    ex = Extracted()
    files: list[tuple[int, FileOutcome]] = []
    outcomes: list[FileEntry] = []
    orders: dict[int, str] = {}
    for path, mtime, length, content in zip(*(batch.column(i).to_pylist() for i in range(4)), strict=True):
        explicit = path in inputs.explicit
        if not explicit and not is_log_name(path.rsplit("/", 1)[-1]):
            continue  # not a log file name (the local engine does not look at these either)
        fid = S.file_id_of(path)
        version = str(int(mtime.timestamp() * 1000)) if mtime is not None else ""
        skip = non_log_reason(path)
        if skip is not None:
            outcomes.append(FileEntry(fid, path, length, version, "skipped", None, 0, 0, 0, 0, skip, None, None, False))
            continue
        data = None if content is None and length > max_file_bytes else bytes(content or b"")
        out, _ = process_file(source, fid, FileRef(path, length, version, data=data), ex, max_file_bytes)
        files.append((fid, out))
        orders[fid] = file_order_key(inputs.index_of(path), path)
    finished = finish_rows(files, ex)
    rows = finished.rows
    tables = []
    if rows is not None:
        rows = with_row_rules(rows)
        order = pa.array([orders[f] for f in rows.column("file_id").to_pylist()], pa.string())
        tables.append(_kind_table("row", rows.append_column("file_order", order)))
    for fid, o in files:
        outcomes.append(FileEntry(fid, o.uri, o.size, o.version, o.status, o.shape, o.records, o.kms_records, o.rows,
                                  o.problems.seen, o.reason, None, None, False))  # fmt: skip
    if outcomes:
        tables.append(_kind_table("file", to_arrow("files", outcomes)))
    if finished.aliases.num_rows:
        aliases = finished.aliases
        order = pa.array([orders[f] for f in aliases.column("file_id").to_pylist()], pa.string())
        tables.append(_kind_table("alias", aliases.append_column("file_order", order)))
    if finished.credentials.num_rows:
        tables.append(_kind_table("credential", finished.credentials))
    if ex.identities:
        ids = to_arrow("identity_map", sorted(ex.identities))
        tables.append(_kind_table("identity", ids.append_column("source", pa.array(["trail"] * ids.num_rows))))
    problems = [(problem_row(fid, kind, p), o.uri) for fid, o in files
                for kind, found in (("rejected", o.problems), ("unattributed", o.unattributed)) for p in found]
    if problems:
        table = to_arrow("record_problems", [p for p, _ in problems])
        tables.append(_kind_table("problem", table.append_column("uri", pa.array([u for _, u in problems], pa.string()))))
    return tables


def normalize_files(inputs: Inputs, batches: Iterable[Any], max_file_bytes: int = DEFAULT_MAX_FILE_BYTES) -> Iterator[Any]:
    """``mapInArrow`` body of the normalising pass."""
    for batch in batches:
        for table in normalize_batch(inputs, batch, max_file_bytes):
            yield from table.to_batches()


def resolve_events(histories: Any, batches: Iterator[Any]) -> Iterator[Any]:
    for batch in stages.map_events(histories.value, batches):
        yield from S.conform(batch_table(batch), S.STAGE_A_COLUMNS).to_batches()


def resolve_copies(window: tuple[int | None, int | None], batches: Iterator[Any]) -> Iterator[Any]:
    for batch in stages.map_copies(window, batches):
        yield from S.conform(batch_table(batch), S.OUTPUT_COLUMNS, timestamps=True).to_batches()


def settle_rows(window: tuple[int | None, int | None], batches: Iterator[Any]) -> Iterator[Any]:
    for batch in stages.map_settled(window, batches):
        yield from S.conform(batch_table(batch), S.OUTPUT_COLUMNS, timestamps=True).to_batches()


def batch_table(batch: Any) -> Any:
    import pyarrow as pa

    return pa.Table.from_batches([batch])
