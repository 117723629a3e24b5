"""decode.windows and decode.inflate: a large file read in windows gives what reading it whole gives;
inflation stops at the per-file limit."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keytrail.decode import FileRecords, read_records
from keytrail.decode.inflate import TooLarge, inflate, size_text
from keytrail.decode.record import MAX_KEPT, Sample
from keytrail.decode.windows import file_records
from keytrail.errors import NotCloudTrail, SourceReadError
from keytrail.pipeline.worker import FileOutcome, normalize_records, process_file, take_problems
from keytrail.sources import FileRef
from keytrail.sources.local import LocalSource
from tests.hostile import corpus


def _key(fr: FileRecords) -> tuple[Any, ...]:
    """What the normaliser makes of a file's records (the fast and tolerant paths hand them over
    differently, and must mean the same)."""
    out = FileOutcome("f.json", 0, "", "ingested")
    take_problems(out, fr)
    ex = normalize_records(1, fr, out)
    rows = sorted(ex.rows.table().to_pylist(), key=lambda r: (r["rec_index"], r["row_no"])) if len(ex.rows) else []
    return fr.total, rows, sorted(out.problems), out.problems.seen, sorted(out.unattributed), sorted(ex.identities)


def windowed(data: bytes, window: int) -> FileRecords:
    """Every window of ``data`` merged into one FileRecords (indexes are the file's already)."""
    out: FileRecords | None = None
    for fr in file_records(data, "f.json", window):
        if out is None:
            out = FileRecords(fr.shape)
        out.total += fr.total
        out.records += fr.records
        out.parsed += fr.parsed
        out.problems.add_all(fr.problems)
        out.hints |= fr.hints
    assert out is not None
    return out


def log(records: list[bytes], sep: bytes = b",") -> bytes:
    return b'{"Records":[' + sep.join(records) + b"]}"


def rec(i: int, **extra: Any) -> bytes:
    return json.dumps(corpus.decoy(i, **extra), separators=(",", ":")).encode()


TRICKY = [
    # "}, {" inside strings and nested arrays of objects: cuts that must be refused
    lambda i: rec(i, userAgent='x"}, {"eventVersion":"1.08"}, {' * 20),
    lambda i: rec(i, resources=[{"ARN": f"arn:aws:kms:us-east-1:111122223333:key/{i}"}, {"ARN": "b"}, {"ARN": "c"}] * 5),
    lambda i: rec(i, requestParameters={"policy": '{"Statement":[{"a":1},{"b":2}]}'}),
    lambda i: rec(i),
    lambda i: rec(i, eventSource="s3.amazonaws.com"),
    lambda i: b"{}",
    lambda i: rec(i).replace(b'"readOnly":true', b'"readOnly":NaN'),  # the tolerant path, for its window
    lambda i: rec(i, userIdentity="a string"),  # a type the fast path refuses
]


@pytest.mark.parametrize("window", [200, 1000, 5000, 1 << 20])
def test_windows_equal_the_whole_file(window: int) -> None:
    data = log([TRICKY[i % len(TRICKY)](i) for i in range(400)], sep=b", \n ")
    assert _key(windowed(data, window)) == _key(read_records(data, "f.json"))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, len(TRICKY) - 1), min_size=1, max_size=60), st.integers(50, 4000))
def test_any_mix_of_records_and_any_window_size(kinds: list[int], window: int) -> None:
    data = log([TRICKY[k](i) for i, k in enumerate(kinds)])
    assert _key(windowed(data, window)) == _key(read_records(data, "f.json"))


def test_a_deeply_nested_record_in_a_window_is_rejected_alone() -> None:
    deep = b'{"eventSource":"kms.amazonaws.com","x":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    data = log([rec(0), deep, rec(2)] * 30)
    got = windowed(data, 4000)
    assert got.total == 90 and {m for _, m in got.problems} == {"nested too deeply to parse"}
    assert _key(got) == _key(read_records(data, "f.json"))


def test_ndjson_and_bare_arrays_in_windows() -> None:
    lines = [rec(i) for i in range(300)]
    lines[7] = b"not json"
    ndjson = b"\n".join(lines) + b"\n"
    got, whole = windowed(ndjson, 2000), read_records(ndjson, "f.json")
    assert got.shape == whole.shape == "ndjson"
    assert _key(got) == _key(whole) and got.problems[0][1].startswith("line 8: ")
    array = b"[" + b",".join(rec(i) for i in range(300)) + b"]"
    got, whole = windowed(array, 2000), read_records(array, "f.json")
    assert got.shape == whole.shape == "json-array" and _key(got) == _key(whole)


def test_not_cloudtrail_is_known_before_the_first_window() -> None:
    data = log([rec(i, eventSource="example.com") for i in range(300)])
    with pytest.raises(NotCloudTrail):
        next(file_records(data, "f.json", 2000))


def test_millions_of_empty_records_decode_a_window_at_a_time() -> None:
    data = b'{"Records":[' + b"{}," * 999_999 + b"{}]}"
    sizes = [fr.total for fr in file_records(data, "f.json", 1 << 20)]
    assert sum(sizes) == 1_000_000 and len(sizes) == 3 and max(sizes) <= 350_000


# ---- problems are counted, a sample kept ----------------------------------------------------------


def test_problems_are_counted_and_a_sample_kept(tmp_path: Path) -> None:
    path = tmp_path / "stubs.json"
    path.write_bytes(log([b'{"eventSource":"kms.amazonaws.com"}'] * 5000))
    out, _ = process_file(LocalSource((str(path),)), 1, FileRef(str(path), path.stat().st_size, "1"))
    assert out.records == 5000 and out.problems.seen == 5000 and len(out.problems) == MAX_KEPT
    assert tuple(out.problems[0])[:2] == (0, "eventName is missing or not a string")
    s = Sample((i, "bad") for i in range(1000))
    assert s.seen == 1000 and len(s) == MAX_KEPT
    s.add_all(s)
    assert s.seen == 2000 and len(s) == MAX_KEPT


# ---- inflate ---------------------------------------------------------------------------------------


def test_inflate_stops_at_the_limit_and_names_it() -> None:
    bomb = gzip.compress(b'{"Records":[' + b" " * (8 << 20) + b"]}")
    with pytest.raises(TooLarge, match=r"f\.json\.gz: inflates to more than 1 MiB, the per-file limit"):
        inflate(bomb, "f.json.gz", 1 << 20)
    assert len(inflate(bomb, "f.json.gz", 16 << 20)) == (8 << 20) + 14
    with pytest.raises(TooLarge, match="is larger than 1 KiB"):
        inflate(b"x" * 2000, "f.json", 1024)


def test_inflate_reads_every_member_and_refuses_garbage() -> None:
    one = gzip.compress(b"abc")
    assert inflate(one + one + b"\0\0", "f") == b"abcabc"
    for bad, why in ((one[:-6], "truncated gzip"), (one + b"junk", "bytes after the compressed data"),
                     (b"\x1f\x8b\x08\x00" + bytes(range(200)), "not a readable gzip stream")):  # fmt: skip
        with pytest.raises(SourceReadError, match=why):
            inflate(bad, "f")
    # members together past the limit
    with pytest.raises(TooLarge):
        inflate(gzip.compress(b"a" * 600) * 2, "f", 1000)


def test_size_text() -> None:
    assert [size_text(n) for n in (256 << 20, 1 << 30, 1536, 1000)] == ["256 MiB", "1 GiB", "1,536 bytes", "1,000 bytes"]
