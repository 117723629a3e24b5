"""The ingest pipeline: sources -> (workers: read, decode, normalise, write segments) -> store -> resolve.

Files are read, decoded and normalised in worker processes (the GIL binds a single process);
each worker writes its key-use rows as a Parquet segment of the store (``keytrail.segments``) and
returns a chunk: ledger entries, the segment's name, alias changes, identity hints, STS
credentials and per-record problems. The parent only registers chunks, a few at a time in one
transaction each, so memory stays flat whatever the archive's size, the store's writes run on
every core, and a killed ingest loses nothing: the ledger and the segments commit together.
"""

from __future__ import annotations

import gc
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from keytrail.errors import KeytrailError, PartialInputError, SourceReadError
from keytrail.formats import FileRecords, NotCloudTrail, gunzip_if_needed, read_records
from keytrail.model import Normalized
from keytrail.normalize import normalize, normalize_record
from keytrail.segments import RowBuffer, Segment, write_segment
from keytrail.sources import FileRef, FileSource, RecordBatch, RecordSource
from keytrail.store import Store, to_arrow

CHUNK_BYTES = 16 << 20  # bytes of files per worker task (one segment)
CHUNK_FILES = 64
IN_FLIGHT = 3  # chunks queued per worker (within 2 * CHUNK_BYTES of files): work while the parent commits


@dataclass
class FileOutcome:
    uri: str
    size: int
    version: str
    status: str  # ingested | skipped | error
    shape: str | None = None
    records: int = 0
    kms_records: int = 0
    rows: int = 0
    reason: str | None = None
    problems: list[tuple[int, str]] = field(default_factory=list)  # (record index, message)
    unattributed: list[tuple[int, str]] = field(default_factory=list)
    verified: bool = False  # the file is covered by a verified digest chain


@dataclass
class Chunk:
    """A worker's answer for some files (all picklable): the segment it wrote holds their rows."""

    files: list[tuple[int, FileOutcome]]
    segment: Segment | None
    aliases: Any  # Arrow, store.TABLE_COLUMNS["alias_history"]
    identities: set[tuple[str, str]]
    credentials: Any  # Arrow, store.TABLE_COLUMNS["credentials"]


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

    @property
    def partial(self) -> bool:
        return bool(self.errors or self.records_rejected)

    def problems(self) -> list[str]:
        return self.errors + self.record_problems


MAX_LISTED = 200


# ---- the worker side ----------------------------------------------------------------------------


@dataclass
class Extracted:
    """What the normaliser made of some records, ready for the store."""

    rows: RowBuffer = field(default_factory=RowBuffer)
    aliases: list[tuple[Any, ...]] = field(default_factory=list)
    identities: set[tuple[str, str]] = field(default_factory=set)
    credentials: list[tuple[Any, ...]] = field(default_factory=list)


def normalize_records(file_id: int, fr: FileRecords, out: FileOutcome, ex: Extracted | None = None) -> Extracted:
    """The one normaliser over one file's (or batch's) records."""
    ex = ex if ex is not None else Extracted()
    rows = ex.rows
    before = len(rows)
    # the hot path: a KMS call's one row taken inline; anything else through _take
    add_file, add_index, add_no, add_count, add_row = (
        rows.file_ids.append, rows.indexes.append, rows.row_nos.append, rows.record_rows.append, rows.rows.append
    )
    add_hint = ex.identities.add
    kms = 0
    for index, rec in fr.records:
        n = normalize_record(rec)
        if n.kms and len(n.rows) == 1 and n.problem is None and n.unattributed is None and n.alias_change is None:
            kms += 1
            add_file(file_id)
            add_index(index)
            add_no(0)
            add_count(1)
            add_row(n.rows[0])
            for h in n.identities:
                add_hint((h.unique_id, h.arn))
        else:
            _take(file_id, index, n, out, ex)
    out.kms_records += kms
    for index, value in fr.parsed:
        _take(file_id, index, normalize(value), out, ex)
    ex.identities |= fr.hints
    out.rows = len(rows) - before
    out.problems.sort()
    return ex


def _take(file_id: int, index: int, n: Normalized, out: FileOutcome, ex: Extracted) -> None:
    if n.problem:
        out.problems.append((index, n.problem))
        return
    for h in n.identities:
        ex.identities.add((h.unique_id, h.arn))
    c = n.credential
    if c is not None:
        ex.credentials.append(
            (c.access_key_id, c.event_time, c.event_id, c.event_name, c.role_arn, c.session_name, c.caller,
             c.caller_type, c.caller_access_key_id, c.caller_session, c.on_behalf_of, file_id, index)
        )  # fmt: skip
    if not n.kms:
        return
    out.kms_records += 1
    if n.rows:
        ex.rows.add(file_id, index, n.rows)
    if n.unattributed:
        out.unattributed.append((index, n.unattributed))
    a = n.alias_change
    if a is not None:
        ex.aliases.append((a.alias_arn, a.event_time, a.target_key, a.event_id, a.event_name, "trail", file_id, index))


def process_file(source: FileSource, file_id: int, ref: FileRef, ex: Extracted | None = None) -> tuple[FileOutcome, Extracted]:
    """Read, decode and normalise one file; unreadable and non-CloudTrail files become outcomes."""
    ex = ex if ex is not None else Extracted()
    out = FileOutcome(storable(ref.uri), ref.size, ref.version, "ingested", verified=ref.verified)
    try:
        data = gunzip_if_needed(source.read(ref), ref.uri)
        fr = read_records(data, ref.uri)
    except NotCloudTrail as e:
        out.status, out.reason = "skipped", storable(e.reason)
        return out, ex
    except KeytrailError as e:
        out.status, out.reason = "error", storable(e.reason if isinstance(e, SourceReadError) else str(e))
        return out, ex
    except MemoryError:
        out.status, out.reason = "error", "file too large to decode in memory"
        return out, ex
    del data
    out.shape = fr.shape
    out.records = fr.total
    out.problems = list(fr.problems)
    normalize_records(file_id, fr, out, ex)
    del fr
    ex.rows.flush()
    return out, ex


def storable(text: str) -> str:
    """Text as the store keeps it: file names and messages may hold surrogates (bytes that are not
    UTF-8, decoded with surrogateescape) that no UTF-8 column takes; those are written as \\udcXX.
    Messages quoting log data are cut at 2,000 characters."""
    if len(text) > 2000:
        text = text[:2000] + "..."
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", errors="backslashreplace").decode("utf-8")
    return text


MAX_TEXT = 1_000_000  # bytes (UTF-8) in one text value: far beyond any field CloudTrail writes


@dataclass
class Tables:
    """A chunk's output as Arrow tables (built where it was normalised: a worker, a Spark task)."""

    rows: Any  # raw key-use rows (segments.RAW_COLUMNS), None when there are none
    aliases: Any  # store.TABLE_COLUMNS["alias_history"]
    credentials: Any  # store.TABLE_COLUMNS["credentials"]


def finish_rows(files: list[tuple[int, FileOutcome]], ex: Extracted) -> Tables:
    """The chunk's rows, alias changes and credentials as Arrow tables, records holding a text
    value longer than MAX_TEXT rejected (named) rather than stored: a forged file could otherwise
    exhaust the store's memory. Checked column by column on the Arrow tables, so it costs nothing
    per row unless some value is that long."""
    if any(_long(u) or _long(a) for u, a in ex.identities):
        ex.identities = {(u, a) for u, a in ex.identities if not _long(u) and not _long(a)}
    tables = _tables(ex)
    long = {k: "alias change" for k in _long_values(tables.aliases)}
    long.update({k: "credentials" for k in _long_values(tables.credentials)})
    if tables.rows is not None:
        long.update(_long_values(tables.rows))
    if long:
        _reject_long(files, ex, long)
        tables = _tables(ex)
    return tables


def _tables(ex: Extracted) -> Tables:
    return Tables(
        ex.rows.table() if len(ex.rows) else None, to_arrow("alias_history", ex.aliases), to_arrow("credentials", ex.credentials)
    )


def _long(text: str) -> bool:
    # a string of fewer than MAX_TEXT / 4 characters cannot be MAX_TEXT bytes long: only longer ones are encoded
    return len(text) > MAX_TEXT // 4 and len(text.encode("utf-8", errors="replace")) > MAX_TEXT


def _long_values(table: Any) -> dict[tuple[int, int], str]:
    """(file_id, rec_index) of the rows holding a text value longer than MAX_TEXT, with its column."""
    import pyarrow as pa
    import pyarrow.compute as pc

    found: dict[tuple[int, int], str] = {}
    for name in table.column_names:
        column = table.column(name)
        if not pa.types.is_string(column.type):
            continue
        lengths = pc.binary_length(column)  # from the offsets: no pass over the text
        if (pc.max(lengths).as_py() or 0) <= MAX_TEXT:
            continue
        for i in pc.indices_nonzero(pc.fill_null(pc.greater(lengths, MAX_TEXT), False)).to_pylist():
            found.setdefault((table.column("file_id")[i].as_py(), table.column("rec_index")[i].as_py()), name)
    return found


def _reject_long(files: list[tuple[int, FileOutcome]], ex: Extracted, long: dict[tuple[int, int], str]) -> None:
    ex.rows.drop(set(long))
    ex.aliases = [a for a in ex.aliases if (a[-2], a[-1]) not in long]
    ex.credentials = [c for c in ex.credentials if (c[-2], c[-1]) not in long]
    rows = ex.rows.rows_per_file()
    outcomes = dict(files)
    for (file_id, index), what in sorted(long.items()):
        o = outcomes[file_id]
        o.problems.append((index, f"{what} holds a value longer than {MAX_TEXT:,} bytes: not a field CloudTrail writes"))
        if what != "credentials":  # an STS record is not counted as a KMS call
            o.kms_records -= 1
        o.unattributed = [u for u in o.unattributed if u[0] != index]
        o.problems.sort()
        o.rows = rows.get(file_id, 0)


def process_chunk(source: FileSource, items: Sequence[tuple[int, FileRef]], segments_dir: str) -> Chunk:
    """Worker entry point: read, decode and normalise some files; write their rows as one segment.

    The cycle collector is paused for the chunk: decoded records hold no reference cycles, yet
    the collector would walk them over and over as they pile up (a tenth of the worker's time);
    whatever cycles a chunk leaves are collected when it ends.
    """
    paused = gc.isenabled()
    gc.disable()
    try:
        files: list[tuple[int, FileOutcome]] = []
        ex = Extracted()
        for file_id, ref in items:
            outcome, _ = process_file(source, file_id, ref, ex)
            files.append((file_id, outcome))
        return _chunk(files, ex, segments_dir)
    finally:
        if paused:
            gc.enable()


def _chunk(files: list[tuple[int, FileOutcome]], ex: Extracted, segments_dir: str) -> Chunk:
    tables = finish_rows(files, ex)
    segment = write_segment(tables.rows, segments_dir) if tables.rows is not None else None
    return Chunk(files, segment, tables.aliases, ex.identities, tables.credentials)


def process_batch(file_id: int, batch: RecordBatch, segments_dir: str) -> Chunk:
    """A record source's batch through the same normaliser."""
    out = FileOutcome(batch.uri, 0, batch.version, "ingested", shape=batch.shape, records=len(batch.records))
    fr = FileRecords(batch.shape, total=len(batch.records), parsed=list(enumerate(batch.records)))
    ex = normalize_records(file_id, fr, out)
    return _chunk([(file_id, out)], ex, segments_dir)


# ---- the parent side ----------------------------------------------------------------------------


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


_PRELOAD = ["keytrail.pipeline", "pyarrow", "pyarrow.parquet", "duckdb"]


def _run_chunks(
    source: FileSource, chunks: Iterator[list[tuple[int, FileRef]]], workers: int, segments_dir: str
) -> Iterator[Chunk]:
    """Chunks processed by a pool (bounded number in flight) or inline for one worker."""
    if workers <= 1:
        for items in chunks:
            yield process_chunk(source, items, segments_dir)
        return
    import multiprocessing

    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(_PRELOAD)  # imported once, in the server the workers fork from
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        in_flight: list[tuple[Future[Chunk], int]] = []
        queued = 0  # bytes of the files in flight: many small chunks, or a few of large files
        for items in chunks:
            size = sum(ref.size for _, ref in items)
            in_flight.append((pool.submit(process_chunk, source, items, segments_dir), size))
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
) -> IngestReport:
    """Read every new file of the sources into the store and resolve; returns what was read.

    Files already in the ledger with the same size and version are not read again. Unreadable
    files and rejected records are counted and named in the report (``report.partial``); with
    ``strict`` a partial input raises ``PartialInputError`` after the store was left unchanged
    for those files.
    """
    report = IngestReport()
    started = time.perf_counter()
    ledger = store.ledger()
    ingest_id = store.begin_ingest(", ".join(s.description for s in sources))
    next_id = store.next_file_id()
    n_workers = workers if workers is not None else default_workers()
    seen_ids: set[tuple[str, str]] = set()

    def write(chunk: Chunk) -> None:
        replaced = [o.uri for _, o in chunk.files if o.uri in ledger]
        entries = []
        problems: list[tuple[Any, ...]] = []
        segment = chunk.segment.name if chunk.segment is not None else None
        for file_id, o in chunk.files:
            entries.append(
                (file_id, o.uri, o.size, o.version, o.status, o.shape, o.records, o.kms_records, o.rows,
                 len(o.problems), o.reason, ingest_id, segment if o.rows else None, o.verified)
            )
            problems.extend((file_id, i, "rejected", storable(m)) for i, m in o.problems)
            problems.extend((file_id, i, "unattributed", storable(m)) for i, m in o.unattributed)
            _account(report, o)
        tables: dict[str, Any] = {
            "alias_history": chunk.aliases,
            "credentials": chunk.credentials,
            "record_problems": to_arrow("record_problems", problems),
        }
        fresh = chunk.identities - seen_ids
        seen_ids.update(fresh)
        tables["identity_map"] = to_arrow("identity_map", sorted(fresh))
        batch.write(to_arrow("files", entries), replaced, tables, chunk.segment)
        if progress is not None:
            progress(report)

    batch = _Batch(store)
    try:
        for source in sources:
            if isinstance(source, RecordSource):
                known = {u: e.version for u, e in ledger.items() if e.status != "error"}
                for records in source.batches(known):
                    report.files_seen += 1
                    if records.error is not None:
                        report.files_error += 1
                        report.errors.append(f"{records.uri}: {records.error}")
                        continue
                    report.files_new += 1
                    write(process_batch(next_id, records, store.segments_dir))
                    next_id += 1
                continue
            todo: list[tuple[int, FileRef]] = []
            for ref in source.files():
                report.files_seen += 1
                if ref.error is not None:
                    report.files_error += 1
                    report.errors.append(f"{ref.uri}: {ref.error}")
                    continue
                if ref.skip_reason is not None:
                    report.files_skipped += 1
                    report.skip_reasons[ref.skip_reason] = report.skip_reasons.get(ref.skip_reason, 0) + 1
                    continue
                known_entry = ledger.get(storable(ref.uri))
                if (
                    known_entry is not None
                    and known_entry.status != "error"
                    and known_entry.size == ref.size
                    and known_entry.version == ref.version
                    and ref.data is None
                ):
                    report.files_unchanged += 1
                    continue
                report.files_new += 1
                report.bytes_read += ref.size
                todo.append((next_id, ref))
                next_id += 1
            inline = n_workers <= 1 or len(todo) < 4 or any(r.data is not None for _, r in todo)
            for chunk in _run_chunks(source, _chunks(todo), 1 if inline else min(n_workers, len(todo)), store.segments_dir):
                write(chunk)
    except BaseException:
        batch.abort()
        raise
    batch.commit()
    if report.files_new:
        store.compact()
    if report.files_new or store.needs_resolve():
        store.resolve()
    store.finish_ingest(ingest_id)
    report.seconds = time.perf_counter() - started
    if strict and report.partial:
        raise PartialInputError(report.problems())
    return report


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
    report.records_rejected += len(o.problems)
    report.records_unattributed += len(o.unattributed)
    for i, m in o.problems:
        if len(report.record_problems) < MAX_LISTED:
            report.record_problems.append(f"{o.uri}: record {i}: {m}")
    for i, m in o.unattributed:
        if len(report.unattributed) < MAX_LISTED:
            report.unattributed.append(f"{o.uri}: record {i}: {m}")
