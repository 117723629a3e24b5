"""Fuzzing the source readers and the normaliser (hypothesis), for a bounded number of examples:

* real log files (the bundled sample, the published corpus when present) damaged byte by byte --
  flips, cuts, insertions, repeated spans, gzip -- through the whole worker path (read, decode,
  normalise, Arrow) and, for some, into a store: nothing but a named file or record problem;
* the same files with any field replaced by any JSON value: the fast path and the tolerant path
  give the same rows, and every record is either counted or named;
* every file in tests/hostile/regressions/ (inputs that once crashed keytrail) replayed.

KEYTRAIL_FUZZ_EXAMPLES scales every target (default 1: about 3,500 examples in all, ~10 s). Each
target checks that hypothesis ran the examples asked for; a run that includes them prints the totals
(the figures the README quotes) in pytest's summary.
"""

from __future__ import annotations

import gzip
import json
import os
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keytrail.decode import FileRecords, NotCloudTrail, read_records
from keytrail.decode.tolerant import read_tolerant as _generic
from keytrail.errors import SourceReadError
from keytrail.normalize import normalize
from keytrail.pipeline import process_chunk
from keytrail.sources import FileRef, sample
from keytrail.store import TABLE_COLUMNS, Store, to_arrow
from tests.conftest import CORPUS

SCALE = float(os.environ.get("KEYTRAIL_FUZZ_EXAMPLES", "1"))
REGRESSIONS = Path(__file__).parent / "regressions"
RUN: Counter[str] = Counter()  # inputs tried per target (the README quotes a long run; see conftest.py)
EXAMPLES: Counter[str] = Counter()  # hypothesis examples run per target

SEGMENTS = tempfile.mkdtemp(prefix="keytrail-fuzz-")  # where the worker path writes its segments


def _examples(n: int) -> int:
    return max(1, int(n * SCALE))


def _settings(n: int) -> settings:
    return settings(max_examples=_examples(n), deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _fuzz(target: str, n: int, strategy: st.SearchStrategy[Any], check: Any, inputs: Any = lambda _: 1) -> None:
    """Run ``check`` on ``n`` (scaled) examples of ``strategy``; then make sure they all ran -- a target
    whose examples hypothesis dropped or never generated would prove nothing."""
    before = EXAMPLES[target]

    @_settings(n)
    @given(strategy)
    def run(value: Any) -> None:
        EXAMPLES[target] += 1
        RUN[target] += inputs(value)
        check(value)

    run()
    assert EXAMPLES[target] - before >= _examples(n), (target, EXAMPLES[target] - before)


def _seed_logs() -> list[bytes]:
    """Real CloudTrail log files, decompressed: the bundled sample and, when present, the corpus."""
    logs = [gzip.decompress(data) for data in sample.files().values()]
    if CORPUS.exists():
        for path in sorted(CORPUS.glob("*/records.json")):
            records = json.loads(path.read_text())["Records"]
            logs.append(json.dumps({"Records": records[:40]}, separators=(",", ":")).encode())
    return logs


SEEDS = _seed_logs()


# ---- the invariants every input must keep -----------------------------------------------------------


def _check_read(data: bytes) -> FileRecords | None:
    """read_records + normalize: a FileRecords whose every record is counted or named, or a file-level
    NotCloudTrail / SourceReadError; nothing else escapes."""
    try:
        fr = read_records(data, "fuzz.json")
    except (NotCloudTrail, SourceReadError):
        return None
    indexes = [i for i, _ in fr.candidates] + [i for i, _ in fr.problems]
    assert len(indexes) == len(set(indexes)), "a record both read and rejected, or twice"
    assert all(0 <= i < fr.total for i in indexes), (indexes, fr.total)
    for _, record in fr.candidates:
        n = normalize(record)
        for row in n.rows:
            assert isinstance(row.event_name, str) and row.event_name
            assert isinstance(row.event_time, int)
            assert row.op in ("encrypt", "decrypt", "sign", "admin")
    return fr


class _Bytes:
    """A file source holding fuzzed files in memory (the worker path reads through it)."""

    description = "fuzz"

    def __init__(self, files: list[bytes]) -> None:
        self.data = files

    def files(self) -> Any:
        return iter(())

    def read(self, ref: FileRef) -> bytes:
        return self.data[int(ref.uri.rsplit("/", 1)[1])]


def _check_worker_path(files: list[bytes]) -> None:
    """The worker's whole path (read, decode, normalise, Arrow) and the parent's Arrow tables."""
    source = _Bytes(files)
    chunk = process_chunk(source, [(i + 1, FileRef(f"fuzz/{i}", len(d), "1")) for i, d in enumerate(files)], SEGMENTS)
    assert [o.uri for _, o in chunk.files] == [f"fuzz/{i}" for i in range(len(files))]
    for _, o in chunk.files:
        assert o.status in ("ingested", "skipped", "error")
        assert (o.reason is not None) == (o.status != "ingested")
    assert chunk.aliases.column_names == list(TABLE_COLUMNS["alias_history"])
    assert chunk.credentials.column_names == list(TABLE_COLUMNS["credentials"])
    to_arrow("identity_map", sorted(chunk.identities))


# ---- mutations of real log files ----------------------------------------------------------------------

_OPS = st.sampled_from(["flip", "delete", "insert", "repeat", "truncate", "swap"])


@st.composite
def damaged_logs(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(_OPS)
        at = draw(st.integers(0, max(0, len(data) - 1)))
        span = draw(st.integers(1, 64))
        if op == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "delete":
            del data[at:at + span]
        elif op == "insert":
            data[at:at] = draw(st.one_of(
                st.binary(min_size=1, max_size=16),
                st.sampled_from([b"NaN", b"-Infinity", b"\xff\xfe", b"\x00", b"[" * 2000, b'"', b"\\", b"{}", b",",
                                 b'"eventSource":"kms.amazonaws.com",', b"\n", b"\xef\xbb\xbf", b"1e400"]),
            ))
        elif op == "repeat":
            data[at:at] = data[at:at + span]
        elif op == "truncate":
            del data[at:]
        elif op == "swap" and len(data) > 2 * span:
            other = draw(st.integers(0, len(data) - span))
            data[at:at + span], data[other:other + span] = data[other:other + span], data[at:at + span]
    out = bytes(data)
    return gzip.compress(out, mtime=0) if draw(st.booleans()) else out


def test_damaged_real_log_files() -> None:
    _fuzz("damaged log files", 1200, damaged_logs(), _check_read)


def test_damaged_files_through_the_worker_path() -> None:
    _fuzz("damaged files through the worker path", 240, st.lists(damaged_logs(), min_size=1, max_size=4),
          _check_worker_path, len)


def _check_bytes(data: bytes) -> None:
    _check_read(data)
    _check_read(gzip.compress(data, mtime=0))


def test_arbitrary_bytes() -> None:
    _fuzz("arbitrary bytes", 600, st.binary(max_size=2000), _check_bytes)


# ---- any field replaced by any JSON value: the two decoding paths agree -------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12) | st.sampled_from(["kms.amazonaws.com", "Decrypt", "2026-10-01T00:00:00Z", "alias/x",
                                              "AssumedRole", "arn:aws:kms:us-east-1:111122223333:key/k"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*prefix, i))
    return out


def _replace(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(doc, dict):
        return {**doc, head: _replace(doc[head], rest, value)}
    return [_replace(v, rest, value) if i == head else v for i, v in enumerate(doc)]


def _rows(fr: FileRecords) -> list[tuple[Any, ...]]:
    """What the normaliser makes of the records a path passed on (records that are not KMS calls
    or credentials make nothing), with the records it named."""
    out: list[tuple[Any, ...]] = []
    for i, rec in fr.candidates:
        n = normalize(rec)
        if n.problem:
            out.append((i, "problem", n.problem))
        elif n.kms or n.credential is not None:
            out.append((i, n.rows, n.alias_change, n.credential, n.identities, n.unattributed))
    out += [(i, "problem", m) for i, m in fr.problems]
    return sorted(out, key=repr)


def _identities_in(doc: Any) -> set[tuple[str, str]]:
    """(unique id, ARN) pairs as CloudTrail writes them: an IAM user's identity, a role session's issuer."""
    out: set[tuple[str, str]] = set()
    records = doc.get("Records") if isinstance(doc, dict) else None
    for rec in records if isinstance(records, list) else []:
        ui = rec.get("userIdentity") if isinstance(rec, dict) else None
        if not isinstance(ui, dict):
            continue
        issuer = ui.get("sessionContext", {}).get("sessionIssuer") if isinstance(ui.get("sessionContext"), dict) else None
        for ident in (ui, issuer):
            if isinstance(ident, dict) and isinstance(ident.get("principalId"), str) and isinstance(ident.get("arn"), str):
                out.add((ident["principalId"], ident["arn"]))
    return out


def _agree(raw: bytes) -> None:
    """The fast path and the tolerant path give the same rows and name the same records; the identity
    hints found come from identities only."""
    fast = _check_read(raw)
    try:
        tolerant: FileRecords | None = _generic(raw, "fuzz.json")
    except (NotCloudTrail, SourceReadError):
        tolerant = None
    if fast is None or tolerant is None:
        assert fast is None and tolerant is None
        return
    assert fast.total == tolerant.total
    assert _rows(fast) == _rows(tolerant)
    try:
        doc = json.loads(raw)
    except (ValueError, RecursionError):
        return  # the identity check needs the document parsed whole
    chunk = process_chunk(_Bytes([raw]), [(1, FileRef("fuzz/0", len(raw), "1"))], SEGMENTS)
    assert chunk.identities <= _identities_in(doc)


def _replace_fields(data: st.DataObject) -> None:
    doc = json.loads(data.draw(st.sampled_from(SEEDS)))
    records = doc["Records"]
    for _ in range(data.draw(st.integers(1, 3))):
        i = data.draw(st.integers(0, len(records) - 1))
        path = data.draw(st.sampled_from(_paths(records[i])))
        records[i] = _replace(records[i], path, data.draw(JSON))
    _agree(json.dumps({"Records": records}).encode())


def test_any_field_any_value_the_fast_and_tolerant_paths_agree() -> None:
    _fuzz("records with a field replaced", 1000, st.data(), _replace_fields)


# ---- into a store ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fuzz_store() -> Any:
    with Store() as store:
        yield store


def test_damaged_files_into_a_store(fuzz_store: Store) -> None:
    from keytrail.pipeline import ingest

    def into_the_store(files: list[bytes]) -> None:
        source = _Source(files)
        report = ingest([source], fuzz_store, workers=1)
        assert report.files_new == len(files)
        assert report.files_ingested + report.files_skipped + report.files_error == len(files)

    target = "damaged files into a store"
    _fuzz(target, 80, st.lists(damaged_logs(), min_size=1, max_size=3), into_the_store, len)
    # afterwards the store answers, and its ledger agrees with its rows: every file fed is in the
    # ledger once, each file's row count is the rows stored for it, no row lacks its file
    assert fuzz_store.query("SELECT count(*), count(DISTINCT uri) FROM files") == [(RUN[target], RUN[target])]
    assert fuzz_store.query(
        "SELECT f.uri, f.rows, count(r.file_id) FROM files f LEFT JOIN raw_key_use r USING (file_id)"
        " GROUP BY f.uri, f.rows HAVING f.rows <> count(r.file_id)") == []
    assert fuzz_store.query("SELECT count(*) FROM raw_key_use WHERE file_id NOT IN (SELECT file_id FROM files)") == [(0,)]
    ((resolved, raw),) = fuzz_store.query("SELECT (SELECT count(*) FROM key_use), (SELECT count(*) FROM raw_key_use)")
    assert resolved <= raw


_serial = iter(range(10**9))


class _Source(_Bytes):
    """A file source with new names each time (so the store reads them all)."""

    def __init__(self, files: list[bytes]) -> None:
        super().__init__(files)
        self.batch = next(_serial)

    def files(self) -> Any:
        return iter(FileRef(f"fuzz{self.batch}/{i}", len(d), "1") for i, d in enumerate(self.data))


# ---- regressions: inputs that once crashed keytrail ------------------------------------------------------


def _regressions() -> list[Path]:
    return sorted(p for p in REGRESSIONS.iterdir() if p.is_file() and p.suffix != ".md")


@pytest.mark.parametrize("path", _regressions(), ids=lambda p: p.name)
def test_regression(path: Path) -> None:
    from keytrail.pipeline import ingest

    data = path.read_bytes()
    _check_read(data)
    _check_worker_path([data])
    _agree(data)
    with Store() as store:  # and into a store, as an ingest writes it
        report = ingest([_Source([data])], store, workers=1)
        assert report.files_ingested + report.files_skipped + report.files_error == 1

