"""The ingest pipeline: sources -> (workers: read, decode, normalise, write segments) -> store -> resolve.

Files are read, decoded and normalised in worker processes (the GIL binds a single process;
``pipeline.worker``); each worker writes its key-use rows as a Parquet segment of the store and
returns a chunk: ledger entries, the segment's name, alias changes, identity hints, STS
credentials and per-record problems. The parent only registers chunks, a few at a time in one
transaction each, so memory stays flat whatever the archive's size, the store's writes run on
every core, and a killed ingest loses nothing: the ledger and the segments commit together.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from keytrail.decode.inflate import DEFAULT_MAX_FILE_BYTES
from keytrail.errors import PartialInputError
from keytrail.pipeline.origins import LOG, Origins, no_logs
from keytrail.pipeline.processes import arrow_without_pandas
from keytrail.pipeline.worker import Chunk, FileOutcome, problem_row, process_batch, process_chunk
from keytrail.sources import FileRef, FileSource, RecordSource, origins_of, survey
from keytrail.sources.retry import RETRIES
from keytrail.store import Store
from keytrail.store.segments import Segment
from keytrail.store.tables import FileEntry, ProblemRow, storable, to_arrow

CHUNK_BYTES = 16 << 20  # bytes of files per worker task (one segment)
CHUNK_FILES = 64
IN_FLIGHT = 3  # chunks queued per worker (within 2 * CHUNK_BYTES of files): work while the parent commits


@dataclass
class IngestReport:
    """What an ingest read and what it could not."""

    files_seen: int = 0
    files_new: int = 0
    files_unchanged: int = 0
    files_ingested: int = 0
    files_skipped: int = 0
    files_error: int = 0
    records: int = 0
    kms_records: int = 0
    rows: int = 0
    records_rejected: int = 0
    records_unattributed: int = 0
    bytes_read: int = 0  # bytes of the files to read (known once they are listed)
    bytes_done: int = 0  # bytes of the files read so far
    files_done: int = 0  # of files_new
    seconds: float = 0.0
    skip_reasons: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)  # "uri: reason" for unreadable files
    record_problems: list[str] = field(default_factory=list)  # "uri: record N: reason" (capped)
    unattributed: list[str] = field(default_factory=list)  # capped sample
    # file SOURCEs (as given) that held no CloudTrail log file, each with what it held instead
    sources_without_logs: list[str] = field(default_factory=list)
    sources_unreadable: list[str] = field(default_factory=list)  # SOURCEs whose every file was unreadable (in errors)
    sources: int = 0  # SOURCEs read (each local path, each URL)

    @property
    def nothing_read(self) -> bool:
        """No SOURCE held a CloudTrail log file."""
        return len(self.sources_without_logs) + len(self.sources_unreadable) >= self.sources > 0
    retries: int = 0  # requests to AWS made again after a fault (``sources.retry``): none was lost
    retry_notes: list[str] = field(default_factory=list)  # "what: why" of each retry (capped)

    @property
    def partial(self) -> bool:
        return bool(self.errors or self.records_rejected)

    def problems(self) -> list[str]:
        return self.errors + self.record_problems


MAX_LISTED = 200


def _chunks(refs: Iterable[tuple[int, FileRef]]) -> Iterator[list[tuple[int, FileRef]]]:
    chunk: list[tuple[int, FileRef]] = []
    size = 0
    for item in refs:
        chunk.append(item)
        size += item[1].size
        if size >= CHUNK_BYTES or len(chunk) >= CHUNK_FILES:
            yield chunk
            chunk, size = [], 0
    if chunk:
        yield chunk


Progress = Callable[[IngestReport], None]

COMMIT_ROWS = int(os.environ.get("KEYTRAIL_COMMIT_ROWS", "250000"))  # key-use rows per transaction: a killed ingest redoes at most this much
COMMIT_SECONDS = 30.0


class _Batch:
    """Chunks registered a few at a time, in one transaction each.

    A chunk's ledger entries, side tables and segment are always in the same transaction, so
    whatever a crash interrupts is rolled back as a whole and re-read by the next ingest (its
    segment file, never registered, is removed by the next writer).
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self.rows = 0
        self.replaced: list[str] = []
        self.pending: dict[str, list[Any]] = {}
        self.segments: list[Segment] = []
        self.since = time.monotonic()

    def write(self, files: Any, replaced: list[str], tables: dict[str, Any], segment: Segment | None) -> None:
        if not self.pending and not self.segments:
            self.rows, self.since = 0, time.monotonic()
        self.replaced.extend(replaced)
        for name, table in {"files": files, **tables}.items():
            if table is not None and table.num_rows:
                self.pending.setdefault(name, []).append(table)
        if segment is not None:
            self.segments.append(segment)
            self.rows += segment.rows
        if self.rows >= COMMIT_ROWS or time.monotonic() - self.since >= COMMIT_SECONDS:
            self.commit()

    def commit(self) -> None:
        if not self.pending and not self.segments:
            return
        import pyarrow as pa

        tables = {name: pa.concat_tables(parts) for name, parts in self.pending.items()}
        replaced, self.replaced, self.pending = self.replaced, [], {}
        segments, self.segments = self.segments, []
        try:
            with self.store.transaction():
                self.store.write_chunk(tables.pop("files", None), replaced, tables, segments)
        except BaseException:
            self._remove(segments)
            raise

    def abort(self) -> None:
        self.replaced, self.pending = [], {}
        segments, self.segments = self.segments, []
        self._remove(segments)

    def _remove(self, segments: list[Segment]) -> None:
        for seg in segments:
            try:
                os.unlink(self.store.segment_path(seg.name))
            except OSError:
                pass  # the next writer removes what is left (a segment no registration names)


def default_workers() -> int:
    return max(1, min(os.cpu_count() or 1, 8))


_PRELOAD = ["keytrail.pipeline.worker", "pyarrow", "pyarrow.parquet", "duckdb"]
"""Imported once in the forkserver the workers fork from: the worker's module and what it uses."""


def _run_chunks(
    source: FileSource, chunks: Iterator[list[tuple[int, FileRef]]], workers: int, segments_dir: str,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
) -> Iterator[Chunk]:
    """Chunks processed by a pool (bounded number in flight) or inline for one worker."""
    if workers <= 1:
        for items in chunks:
            yield process_chunk(source, items, segments_dir, max_file_bytes)
        return
    import multiprocessing

    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(_PRELOAD)  # imported once, in the server the workers fork from
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=arrow_without_pandas) as pool:
        in_flight: list[tuple[Future[Chunk], int]] = []
        queued = 0  # bytes of the files in flight: many small chunks, or a few of large files
        for items in chunks:
            size = sum(ref.size for _, ref in items)
            in_flight.append((pool.submit(process_chunk, source, items, segments_dir, max_file_bytes), size))
            queued += size
            while len(in_flight) >= IN_FLIGHT * workers or queued >= 2 * workers * CHUNK_BYTES:
                fut, size = in_flight.pop(0)
                queued -= size
                yield fut.result()
        for fut, _ in in_flight:
            yield fut.result()


def ingest(
    sources: Sequence[FileSource | RecordSource],
    store: Store,
    workers: int | None = None,
    progress: Progress | None = None,
    strict: bool = False,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
) -> IngestReport:
    """Read every new file of the sources into the store and resolve; returns what was read.

    A file larger than ``max_file_bytes``, or that inflates to more, is not read (named, as an
    unreadable file); every other file is decoded a window at a time (``decode.windows``).

    Files already in the ledger with the same size and version are not read again. Unreadable
    files and rejected records are counted and named in the report (``report.partial``); with
    ``strict`` a partial input raises ``PartialInputError`` after the store was left unchanged
    for those files.
    """
    started = time.perf_counter()
    mark = RETRIES.mark()
    run = _Run(store, ", ".join(s.description for s in sources), progress)
    n_workers = workers if workers is not None else default_workers()
    try:
        for source in sources:
            if isinstance(source, RecordSource):
                run.report.sources += 1
                run.record_batches(source)
                continue
            todo = run.new_files(source)
            inline = n_workers <= 1 or len(todo) < 4 or any(r.data is not None for _, r in todo)
            workers_here = 1 if inline else min(n_workers, len(todo))
            for chunk in _run_chunks(source, _chunks(todo), workers_here, store.segments_dir, max_file_bytes):
                run.write(chunk)
            run.without_logs(source)
    except BaseException:
        run.batch.abort()
        raise
    finally:
        _add_retries(run.report, *RETRIES.take(mark))  # listings, API pages, files read in this process
    run.batch.commit()
    report = run.report
    if report.files_new:
        store.compact()
    if report.files_new or store.needs_resolve():
        store.resolve()
    store.finish_ingest(run.ingest_id)
    report.seconds = time.perf_counter() - started
    if strict and report.partial:
        raise PartialInputError(report.problems())
    return report


class _Run:
    """One ingest: the ledger as it was, the files it numbers, the chunks it registers."""

    def __init__(self, store: Store, description: str, progress: Progress | None) -> None:
        self.store = store
        self.report = IngestReport()
        self.progress = progress
        self.ledger = store.ledger()
        self.ingest_id = store.begin_ingest(description)
        self.next_id = store.next_file_id()
        self.seen_ids: set[tuple[str, str]] = set()
        self.batch = _Batch(store)
        self.origins = Origins()

    def record_batches(self, source: RecordSource) -> None:
        """A record source's batches not in the ledger, each through the normaliser into the store."""
        report = self.report
        known = {u: e.version for u, e in self.ledger.items() if e.status != "error"}
        for records in source.batches(known):
            report.files_seen += 1
            if records.error is not None:
                report.files_error += 1
                report.errors.append(f"{records.uri}: {records.error}")
                continue
            report.files_new += 1
            self.write(process_batch(self.next_id, records, self.store.segments_dir))
            self.next_id += 1

    def new_files(self, source: FileSource) -> list[tuple[int, FileRef]]:
        """The files of ``source`` to read (numbered), the others counted: unreadable, skipped, unchanged."""
        report = self.report
        origins = self.origins
        declared = origins_of(source)
        origins.declare(declared)
        report.sources += len(declared)
        todo: list[tuple[int, FileRef]] = []
        for ref in source.files():
            origin = ref.origin or source.description
            if ref.duplicate:
                origins.again(origin, storable(ref.uri), self._outcome_before(ref.uri))
                continue
            report.files_seen += 1
            if ref.error is not None:
                report.files_error += 1
                report.errors.append(f"{ref.uri}: {ref.error}")
                origins.listed(origin, outcome="error")
                continue
            if ref.skip_reason is not None:
                report.files_skipped += 1
                report.skip_reasons[ref.skip_reason] = report.skip_reasons.get(ref.skip_reason, 0) + 1
                origins.listed(origin, outcome=ref.skip_reason)
                continue
            known_entry = self.ledger.get(storable(ref.uri))
            if (
                known_entry is not None
                and known_entry.status != "error"
                and known_entry.size == ref.size
                and known_entry.version == ref.version
                and ref.data is None
            ):
                report.files_unchanged += 1
                origins.listed(origin, outcome=self._outcome_before(ref.uri))
                continue
            report.files_new += 1
            report.bytes_read += ref.size
            origins.listed(origin, storable(ref.uri))
            todo.append((self.next_id, ref))
            self.next_id += 1
        return todo

    def _outcome_before(self, uri: str) -> str:
        """What an earlier ingest made of a file (for the tally of SOURCEs)."""
        entry = self.ledger.get(storable(uri))
        if entry is None:
            return "file(s) listed twice"
        return LOG if entry.status == "ingested" else "error" if entry.status == "error" else "not CloudTrail (read before)"

    def without_logs(self, source: FileSource) -> None:
        """Say which of ``source``'s SOURCEs held no CloudTrail log file, and what they held."""
        for origin in origins_of(source):
            tally = self.origins.tallies.get(origin)
            if tally is None or tally.logs:
                continue
            if Origins.unreadable_only(tally):
                self.report.sources_unreadable.append(origin)
            else:
                self.report.sources_without_logs.append(no_logs(origin, tally, survey(source, origin)))

    def write(self, chunk: Chunk) -> None:
        """A worker's chunk into the batch of chunks to register: its ledger entries, side tables, segment."""
        report = self.report
        replaced = [o.uri for _, o in chunk.files if o.uri in self.ledger]
        entries = []
        problems: list[ProblemRow] = []
        segment = chunk.segment.name if chunk.segment is not None else None
        for file_id, o in chunk.files:
            entries.append(
                FileEntry(file_id, o.uri, o.size, o.version, o.status, o.shape, o.records, o.kms_records, o.rows,
                          o.problems.seen, o.reason, self.ingest_id, segment if o.rows else None, o.verified)
            )
            problems.extend(problem_row(file_id, "rejected", p) for p in o.problems)
            problems.extend(problem_row(file_id, "unattributed", p) for p in o.unattributed)
            _account(report, o)
            self.origins.read(o.uri, LOG if o.status == "ingested" else "error" if o.status == "error"
                              else o.reason or "not CloudTrail")
        tables: dict[str, Any] = {
            "alias_history": chunk.aliases,
            "credentials": chunk.credentials,
            "record_problems": to_arrow("record_problems", problems),
        }
        fresh = chunk.identities - self.seen_ids
        self.seen_ids.update(fresh)
        tables["identity_map"] = to_arrow("identity_map", sorted(fresh))
        self.batch.write(to_arrow("files", entries), replaced, tables, chunk.segment)
        if self.progress is not None:
            self.progress(report)


def _add_retries(report: IngestReport, count: int, notes: list[str]) -> None:
    report.retries += count
    report.retry_notes.extend(notes[: max(0, MAX_LISTED - len(report.retry_notes))])


def _account(report: IngestReport, o: FileOutcome) -> None:
    report.bytes_done += o.size
    report.files_done += 1
    report.records += o.records
    report.kms_records += o.kms_records
    report.rows += o.rows
    if o.status == "ingested":
        report.files_ingested += 1
    elif o.status == "skipped":
        report.files_skipped += 1
        reason = o.reason or "not CloudTrail"
        report.skip_reasons[reason] = report.skip_reasons.get(reason, 0) + 1
    else:
        report.files_error += 1
        report.errors.append(f"{o.uri}: {o.reason}")
    _add_retries(report, o.retries, o.retry_notes)
    report.records_rejected += o.problems.seen
    report.records_unattributed += len(o.unattributed)
    for p in o.problems:
        if len(report.record_problems) < MAX_LISTED:
            report.record_problems.append(f"{o.uri}: record {p.rec_index}: {p.message}")
    for p in o.unattributed:
        if len(report.unattributed) < MAX_LISTED:
            report.unattributed.append(f"{o.uri}: record {p.rec_index}: {p.message}")


__all__ = ["CHUNK_BYTES", "CHUNK_FILES", "COMMIT_ROWS", "MAX_LISTED", "IngestReport", "Progress", "default_workers", "ingest"]
