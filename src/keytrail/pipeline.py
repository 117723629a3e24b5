"""The ingest pipeline: sources -> (workers: read, decode, normalise) -> store -> resolve.

Files are read, decoded and normalised in worker processes (the GIL binds a single process);
each worker returns a chunk: ledger entries, key-use rows as an Arrow IPC buffer, alias changes,
identity hints and per-record problems. The parent writes each chunk in one transaction, so
memory stays flat whatever the archive's size, and a killed ingest loses nothing: the ledger
and the rows commit together.
"""

from __future__ import annotations

import gc
import os
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import msgspec

from keytrail.errors import KeytrailError, PartialInputError, SourceReadError
from keytrail.formats import NotCloudTrail, gunzip_if_needed, read_records
from keytrail.normalize import normalize
from keytrail.sources import FileRef, FileSource, RecordBatch, RecordSource
from keytrail.store import Store, to_arrow

# Unique ids next to their ARNs in a file (also in records that are not KMS calls, which are never
# decoded): the sessionIssuer of a role session, or an IAM user's userIdentity -- only as CloudTrail
# writes those objects. A principalId/arn pair elsewhere (an encryption context, tags, any map a
# caller fills) would let a caller name its own unique id after someone else's role. The fast path
# hands over only the userIdentity objects of the records it does not decode (``FileRecords.identities``).
_HINT = re.compile(
    rb'"(?:sessionIssuer":\s*\{\s*"type":\s*"Role|userIdentity":\s*\{\s*"type":\s*"IAMUser)",\s*'
    rb'"principalId":\s*"(A(?:ROA|IDA)[A-Z0-9]{8,})",\s*"arn":\s*"(arn:aws[a-z-]*:iam::\d{12}:(?:role|user)/[^"\\]{1,512})"'
)

CHUNK_BYTES = 24 << 20  # compressed bytes of files per worker task
CHUNK_FILES = 24
IN_FLIGHT = 6  # chunks queued per worker (within 2 * CHUNK_BYTES of files): work while the parent commits


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


@dataclass
class Chunk:
    """A worker's answer for some files (all picklable)."""

    files: list[tuple[int, FileOutcome]]
    rows_ipc: bytes | None
    aliases: list[tuple[Any, ...]]
    identities: set[tuple[str, str]]
    credentials: list[tuple[Any, ...]]


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

    rows: list[tuple[Any, ...]] = field(default_factory=list)
    aliases: list[tuple[Any, ...]] = field(default_factory=list)
    identities: set[tuple[str, str]] = field(default_factory=set)
    credentials: list[tuple[Any, ...]] = field(default_factory=list)

    def extend(self, other: Extracted) -> None:
        self.rows.extend(other.rows)
        self.aliases.extend(other.aliases)
        self.identities |= other.identities
        self.credentials.extend(other.credentials)


def normalize_records(file_id: int, candidates: Iterable[tuple[int, object]], out: FileOutcome) -> Extracted:
    """The one normaliser over one file's (or batch's) candidate records."""
    ex = Extracted()
    rows = ex.rows
    astuple = msgspec.structs.astuple
    for index, record in candidates:
        n = normalize(record)
        if n.problem:
            out.problems.append((index, n.problem))
            continue
        for h in n.identities:
            ex.identities.add((h.unique_id, h.arn))
        if n.credential is not None:
            ex.credentials.append((*astuple(n.credential), file_id, index))
        if not n.kms:
            continue
        out.kms_records += 1
        for row in n.rows:
            rows.append((file_id, index, *astuple(row)))
        if n.unattributed:
            out.unattributed.append((index, n.unattributed))
        a = n.alias_change
        if a is not None:
            ex.aliases.append((a.alias_arn, a.event_time, a.target_key, a.event_id, a.event_name, "trail", file_id, index))
    out.rows = len(rows)
    out.problems.sort()
    return ex


def process_file(source: FileSource, file_id: int, ref: FileRef) -> tuple[FileOutcome, Extracted]:
    """Read, decode and normalise one file; unreadable and non-CloudTrail files become outcomes."""
    out = FileOutcome(storable(ref.uri), ref.size, ref.version, "ingested")
    try:
        data = gunzip_if_needed(source.read(ref), ref.uri)
        fr = read_records(data, ref.uri)
    except NotCloudTrail as e:
        out.status, out.reason = "skipped", storable(e.reason)
        return out, Extracted()
    except KeytrailError as e:
        out.status, out.reason = "error", storable(e.reason if isinstance(e, SourceReadError) else str(e))
        return out, Extracted()
    except MemoryError:
        out.status, out.reason = "error", "file too large to decode in memory"
        return out, Extracted()
    out.shape = fr.shape
    out.records = fr.total
    out.problems = list(fr.problems)
    ex = normalize_records(file_id, fr.candidates, out)
    text = data if fr.identities is None else fr.identities
    if b'"principalId"' in text:
        for u, a in _HINT.findall(text):
            if a.isascii():  # an ARN with bytes that are not UTF-8 names no one
                ex.identities.add((u.decode(), a.decode()))
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


def _rows_to_ipc(files: list[tuple[int, FileOutcome]], ex: Extracted) -> bytes | None:
    """Key-use rows as an Arrow IPC stream: cheap to send from a worker, zero-copy into DuckDB.

    Records holding a text value longer than MAX_TEXT are rejected (named) rather than stored: a
    forged file could otherwise exhaust the store's memory. Checked column by column on the Arrow
    table, so it costs nothing per row unless some value is that long.
    """
    long = {(a[-2], a[-1]): "alias change" for a in ex.aliases if _has_long_text(a)}  # few: checked in Python
    long.update({(c[-2], c[-1]): "credentials" for c in ex.credentials if _has_long_text(c)})
    if any(_long(u) or _long(a) for u, a in ex.identities):
        ex.identities = {(u, a) for u, a in ex.identities if not _long(u) and not _long(a)}
    table = to_arrow("raw_key_use", ex.rows) if ex.rows else None
    if table is not None:
        long.update(_long_values(table))
    if long:
        _reject_long(files, ex, long)
        table = to_arrow("raw_key_use", ex.rows) if ex.rows else None
    if table is None:
        return None
    import pyarrow as pa

    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


def _long(text: str) -> bool:
    # a string of fewer than MAX_TEXT / 4 characters cannot be MAX_TEXT bytes long: only longer ones are encoded
    return len(text) > MAX_TEXT // 4 and len(text.encode("utf-8", errors="replace")) > MAX_TEXT


def _has_long_text(values: tuple[Any, ...]) -> bool:
    return any(isinstance(v, str) and _long(v) for v in values)


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
    ex.rows = [r for r in ex.rows if (r[0], r[1]) not in long]
    ex.aliases = [a for a in ex.aliases if (a[-2], a[-1]) not in long]
    ex.credentials = [c for c in ex.credentials if (c[-2], c[-1]) not in long]
    rows = Counter(r[0] for r in ex.rows)
    outcomes = dict(files)
    for (file_id, index), what in sorted(long.items()):
        o = outcomes[file_id]
        o.problems.append((index, f"{what} holds a value longer than {MAX_TEXT:,} bytes: not a field CloudTrail writes"))
        if what != "credentials":  # an STS record is not counted as a KMS call
            o.kms_records -= 1
        o.unattributed = [u for u in o.unattributed if u[0] != index]
        o.problems.sort()
        o.rows = rows[file_id]


def process_chunk(source: FileSource, items: Sequence[tuple[int, FileRef]]) -> Chunk:
    """Worker entry point: read, decode and normalise some files.

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
            outcome, extracted = process_file(source, file_id, ref)
            files.append((file_id, outcome))
            ex.extend(extracted)
        rows = _rows_to_ipc(files, ex)
        return Chunk(files, rows, ex.aliases, ex.identities, ex.credentials)
    finally:
        if paused:
            gc.enable()


def process_batch(file_id: int, batch: RecordBatch) -> Chunk:
    """A record source's batch through the same normaliser."""
    out = FileOutcome(batch.uri, 0, batch.version, "ingested", shape=batch.shape, records=len(batch.records))
    ex = normalize_records(file_id, enumerate(batch.records), out)
    rows = _rows_to_ipc([(file_id, out)], ex)
    return Chunk([(file_id, out)], rows, ex.aliases, ex.identities, ex.credentials)


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

COMMIT_ROWS = int(os.environ.get("KEYTRAIL_COMMIT_ROWS", "100000"))  # key-use rows per transaction: a killed ingest redoes at most this much
COMMIT_SECONDS = 60.0


class _Batch:
    """Chunks written in a few large transactions (commits cost far more than inserts in DuckDB).

    A chunk's ledger entries and rows are always in the same transaction, so whatever a crash
    interrupts is rolled back as a whole and re-read by the next ingest. A transaction's chunks
    are written together just before it commits: one large insert per table goes straight to row
    groups, where many small ones cost several times more.
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self.rows = 0
        self.replaced: list[str] = []
        self.pending: dict[str, list[Any]] = {}
        self.since = time.monotonic()

    def write(self, files: Any, replaced: list[str], tables: dict[str, Any]) -> None:
        if not self.pending:
            self.rows, self.since = 0, time.monotonic()
        self.replaced.extend(replaced)
        for name, table in {"files": files, **tables}.items():
            if table is not None and table.num_rows:
                self.pending.setdefault(name, []).append(table)
        raw = tables.get("raw_key_use")
        self.rows += raw.num_rows if raw is not None else 0
        if self.rows >= COMMIT_ROWS or time.monotonic() - self.since >= COMMIT_SECONDS:
            self.commit()

    def commit(self) -> None:
        if not self.pending:
            return
        import pyarrow as pa

        tables = {name: pa.concat_tables(parts) for name, parts in self.pending.items()}
        replaced, self.replaced, self.pending = self.replaced, [], {}
        with self.store.transaction():
            self.store.write_chunk(tables.pop("files", None), replaced, tables)

    def abort(self) -> None:
        self.replaced, self.pending = [], {}


def default_workers() -> int:
    return max(1, min(os.cpu_count() or 1, 8))


def _run_chunks(
    source: FileSource, chunks: Iterator[list[tuple[int, FileRef]]], workers: int
) -> Iterator[Chunk]:
    """Chunks processed by a pool (bounded number in flight) or inline for one worker."""
    if workers <= 1:
        for items in chunks:
            yield process_chunk(source, items)
        return
    import multiprocessing

    ctx = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        in_flight: list[tuple[Future[Chunk], int]] = []
        queued = 0  # bytes of the files in flight: many small chunks, or a few of large files
        for items in chunks:
            size = sum(ref.size for _, ref in items)
            in_flight.append((pool.submit(process_chunk, source, items), size))
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
        for file_id, o in chunk.files:
            entries.append(
                (file_id, o.uri, o.size, o.version, o.status, o.shape, o.records, o.kms_records, o.rows,
                 len(o.problems), o.reason, ingest_id)
            )
            problems.extend((file_id, i, "rejected", storable(m)) for i, m in o.problems)
            problems.extend((file_id, i, "unattributed", storable(m)) for i, m in o.unattributed)
            _account(report, o)
        tables: dict[str, Any] = {
            "alias_history": to_arrow("alias_history", chunk.aliases),
            "credentials": to_arrow("credentials", chunk.credentials),
            "record_problems": to_arrow("record_problems", problems),
        }
        if chunk.rows_ipc is not None:
            import pyarrow as pa

            tables["raw_key_use"] = pa.ipc.open_stream(chunk.rows_ipc).read_all()
        fresh = chunk.identities - seen_ids
        seen_ids.update(fresh)
        tables["identity_map"] = to_arrow("identity_map", sorted(fresh))
        batch.write(to_arrow("files", entries), replaced, tables)
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
                    write(process_batch(next_id, records))
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
            for chunk in _run_chunks(source, _chunks(todo), 1 if inline else min(n_workers, len(todo))):
                write(chunk)
    except BaseException:
        batch.abort()
        raise
    batch.commit()
    if report.files_new or store.needs_resolve():
        from keytrail.resolve import resolve

        resolve(store)
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
