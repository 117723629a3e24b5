"""The worker side of ingest: read, decode and normalise files, and write their rows as a segment.

``process_chunk`` runs in a worker process (the pipeline's pool, or inline for one worker): it
reads some files, decodes them (``keytrail.decode``), normalises their records
(``keytrail.normalize``) and writes the key-use rows as one Parquet segment of the store
(``store.segments``); it returns a ``Chunk``: each file's outcome, the segment, and the side
tables as typed rows made Arrow (alias changes, identity hints, STS credentials). The Spark job's
normalising tasks run ``process_file`` and ``finish_rows`` too.
"""

from __future__ import annotations

import gc
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from keytrail.decode import FileRecords, Record
from keytrail.decode.inflate import DEFAULT_MAX_FILE_BYTES, TooLarge, inflate
from keytrail.decode.record import Sample
from keytrail.decode.windows import file_records
from keytrail.errors import KeytrailError, NotCloudTrail, SourceReadError
from keytrail.normalize import Normalized, normalize, normalize_record
from keytrail.sources import FileRef, FileSource, RecordBatch
from keytrail.sources.retry import RETRIES
from keytrail.store.segments import RowBuffer, Segment, write_segment
from keytrail.store.tables import AliasRow, CredentialRow, ProblemRow, arrow_table, storable, to_arrow


class Problem(NamedTuple):
    """A record rejected, or a KMS call that could not be attributed: where, which call, why."""

    rec_index: int  # the record's index in its file or batch
    message: str
    event_id: str | None = None
    event_name: str | None = None


def _by_index(p: Problem) -> int:
    return p.rec_index


def _event_of(record: object) -> tuple[str | None, str | None]:
    """eventID and eventName of a record, typed or parsed, where they are strings."""
    if isinstance(record, Record):
        event_id, event_name = record.eventID, record.eventName
    elif isinstance(record, dict):
        event_id, event_name = record.get("eventID"), record.get("eventName")
    else:
        return None, None
    return (event_id if type(event_id) is str else None), (event_name if type(event_name) is str else None)


def problem_row(file_id: int, kind: str, p: Problem) -> ProblemRow:
    """A problem as the store's ``record_problems`` keeps it (``kind``: rejected | unattributed)."""
    return ProblemRow(file_id, p.rec_index, kind, storable(p.message),
                      None if p.event_id is None else storable(p.event_id),
                      None if p.event_name is None else storable(p.event_name))  # fmt: skip


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
    problems: Sample[Problem] = field(default_factory=Sample)  # rejected records: counted, a sample kept
    unattributed: list[Problem] = field(default_factory=list)
    verified: bool = False  # the file is covered by a verified digest chain
    retries: int = 0  # requests retried to read it (``sources.retry``)
    retry_notes: list[str] = field(default_factory=list)  # what was retried and why


@dataclass
class Chunk:
    """A worker's answer for some files (all picklable): the segment it wrote holds their rows."""

    files: list[tuple[int, FileOutcome]]
    segment: Segment | None
    aliases: Any  # Arrow, AliasRow's schema
    identities: set[tuple[str, str]]
    credentials: Any  # Arrow, CredentialRow's schema


@dataclass
class Extracted:
    """What the normaliser made of some records, ready for the store."""

    rows: RowBuffer = field(default_factory=RowBuffer)
    aliases: list[AliasRow] = field(default_factory=list)
    identities: set[tuple[str, str]] = field(default_factory=set)  # (unique id, ARN): IdentityHint's fields
    credentials: list[CredentialRow] = field(default_factory=list)


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
            _take(file_id, index, n, out, ex, rec)
    out.kms_records += kms
    for index, value in fr.parsed:
        _take(file_id, index, normalize(value), out, ex, value)
    ex.identities |= fr.hints
    out.rows += len(rows) - before
    out.problems.sort(key=_by_index)
    return ex


def _take(file_id: int, index: int, n: Normalized, out: FileOutcome, ex: Extracted, record: object) -> None:
    if n.problem:
        out.problems.append(Problem(index, n.problem, *_event_of(record)))
        return
    for h in n.identities:
        ex.identities.add((h.unique_id, h.arn))
    c = n.credential
    if c is not None:
        ex.credentials.append(
            CredentialRow(c.access_key_id, c.event_time, c.event_id, c.event_name, c.role_arn, c.session_name,
                          c.caller, c.caller_type, c.caller_access_key_id, c.caller_session, c.on_behalf_of,
                          file_id, index)
        )  # fmt: skip
    if not n.kms:
        return
    out.kms_records += 1
    if n.rows:
        ex.rows.add(file_id, index, n.rows)
    if n.unattributed:
        out.unattributed.append(Problem(index, n.unattributed, *_event_of(record)))
    a = n.alias_change
    if a is not None:
        ex.aliases.append(AliasRow(a.alias_arn, a.event_time, a.target_key, a.event_id, a.event_name, "trail", file_id, index))


def process_file(
    source: FileSource, file_id: int, ref: FileRef, ex: Extracted | None = None, max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
) -> tuple[FileOutcome, Extracted]:
    """Read, inflate (never past ``max_file_bytes``), decode and normalise one file, a window at a
    time (``decode.windows``: memory follows the window, not the file); unreadable and
    non-CloudTrail files become outcomes."""
    ex = ex if ex is not None else Extracted()
    out = FileOutcome(storable(ref.uri), ref.size, ref.version, "ingested", verified=ref.verified)
    mark = RETRIES.mark()
    try:
        if ref.size > max_file_bytes and ref.data is None:
            raise TooLarge(ref.uri, max_file_bytes, inflated=False)
        try:
            raw = source.read(ref)
        finally:
            out.retries, out.retry_notes = RETRIES.take(mark)
        data = inflate(raw, ref.uri, max_file_bytes)
        del raw
        windows = file_records(data, ref.uri)
        fr: FileRecords | None = next(windows)
    except NotCloudTrail as e:
        out.status, out.reason = "skipped", storable(e.reason)
        return out, ex
    except KeytrailError as e:
        out.status, out.reason = "error", storable(e.reason if isinstance(e, SourceReadError) else str(e))
        return out, ex
    except MemoryError:
        out.status, out.reason = "error", "file too large to decode in memory"
        return out, ex
    out.shape = fr.shape if fr is not None else None
    while fr is not None:
        out.records += fr.total
        take_problems(out, fr)
        normalize_records(file_id, fr, out, ex)
        ex.rows.flush()
        fr = None  # this window's records are freed before the next is decoded
        try:
            fr = next(windows, None)
        except KeytrailError as e:  # a later window of a file that began well: named, the rest of it not read
            out.problems.append(Problem(out.records, f"the rest of the file is not read: {e}"))
            fr = None
    return out, ex


def take_problems(out: FileOutcome, fr: FileRecords) -> None:
    """The records a decoder rejected, into the file's outcome (kept ones, and the count of the rest)."""
    for i, m in fr.problems:
        out.problems.append(Problem(i, m))
    out.problems.seen += fr.problems.seen - len(fr.problems)


MAX_TEXT = 1_000_000  # bytes (UTF-8) in one text value: far beyond any field CloudTrail writes


@dataclass
class Tables:
    """A chunk's output as Arrow tables (built where it was normalised: a worker, a Spark task)."""

    rows: Any  # raw key-use rows (segments.RAW_COLUMNS), None when there are none
    aliases: Any  # AliasRow's schema
    credentials: Any  # CredentialRow's schema


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
        ex.rows.table() if len(ex.rows) else None, arrow_table(AliasRow, ex.aliases), arrow_table(CredentialRow, ex.credentials)
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
    ex.aliases = [a for a in ex.aliases if (a.file_id, a.rec_index) not in long]
    ex.credentials = [c for c in ex.credentials if (c.file_id, c.rec_index) not in long]
    rows = ex.rows.rows_per_file()
    outcomes = dict(files)
    for (file_id, index), what in sorted(long.items()):
        o = outcomes[file_id]
        o.problems.append(Problem(index, f"{what} holds a value longer than {MAX_TEXT:,} bytes: not a field CloudTrail writes"))
        if what != "credentials":  # an STS record is not counted as a KMS call
            o.kms_records -= 1
        o.unattributed = [u for u in o.unattributed if u.rec_index != index]
        o.problems.sort(key=_by_index)
        o.rows = rows.get(file_id, 0)


def process_chunk(
    source: FileSource, items: Sequence[tuple[int, FileRef]], segments_dir: str, max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
) -> Chunk:
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
            outcome, _ = process_file(source, file_id, ref, ex, max_file_bytes)
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


__all__ = ["Chunk", "Extracted", "FileOutcome", "Problem", "problem_row", "Tables", "finish_rows", "process_batch", "process_chunk", "process_file", "to_arrow"]
