"""A large file's records in windows, so that memory follows the window, not the file.

A file of up to ``WINDOW_BYTES`` (inflated) is decoded whole (``shapes.read_records``): almost
every CloudTrail log file. A larger one is decoded a window of about ``WINDOW_BYTES`` at a time
and each window's records are handed on before the next is decoded, whatever the number of
records in it (18 million ``{}`` records in 54 MB decode as 14 windows of 1.4 million):

* a log file ``{"Records": [...]}`` and a bare JSON array: the array is cut between two elements.
  A cut is found with a cheap search for ``}, {`` after the window's size and proved by decoding
  the window (JSON's grammar lets a prefix of an array's elements parse only when the cut falls
  between elements); after ``TRIES`` failed cuts (``}, {`` inside strings or nested objects) the
  exact end is found by a scan that skips strings. A window whose content cannot be decoded by
  the fast path goes to the tolerant path, alone;
* NDJSON: cut at a line break after the window's size;
* other shapes (envelopes, ``lookup-events`` output) are read whole, up to the per-file limit.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import msgspec

from keytrail.decode.record import FileRecords
from keytrail.decode.shapes import (
    DECODE_ERRORS,
    check_records,
    decode_heads,
    read_records,
    take_heads,
)
from keytrail.decode.tolerant import (
    add_parsed,
    collect,
    describe,
    is_aws_source,
    loads_tolerant,
    read_one_by_one,
    read_tolerant,
)
from keytrail.errors import NotCloudTrail, SourceReadError

WINDOW_BYTES = 4 << 20
TRIES = 3  # cuts tried by search before the exact scan
_LOG_OPEN = re.compile(rb'(?:\xef\xbb\xbf)?[ \t\r\n]*\{[ \t\r\n]*"Records"[ \t\r\n]*:[ \t\r\n]*\[[ \t\r\n]*')
_ARRAY_OPEN = re.compile(rb"(?:\xef\xbb\xbf)?[ \t\r\n]*\[[ \t\r\n]*")
_OBJECT_OPEN = re.compile(rb"(?:\xef\xbb\xbf)?[ \t\r\n]*\{")
_LOG_CLOSE = re.compile(rb"[ \t\r\n]*\][ \t\r\n]*\}[ \t\r\n]*\Z")
_ARRAY_CLOSE = re.compile(rb"[ \t\r\n]*\][ \t\r\n]*\Z")
_CUT = re.compile(rb"\}[ \t\r\n]*,[ \t\r\n]*(?=\{)")
_COMMA = re.compile(rb"[ \t\r\n]*,[ \t\r\n]*")
_TOKEN = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')
_TAIL = 1 << 16  # a file's closing brackets are looked for in its last bytes only

BAD_CUT = object()  # a window that did not decode: maybe cut inside an element
_decode_elements = msgspec.json.Decoder(list[msgspec.Raw]).decode  # JSON's syntax checked, nothing built


def file_records(data: bytes, uri: str, window: int = WINDOW_BYTES) -> Iterator[FileRecords]:
    """The records of one file (inflated), one ``FileRecords`` per window; record indexes count
    from the file's first record. Raises ``NotCloudTrail`` / ``SourceReadError`` before the first
    window, as ``read_records`` does."""
    if len(data) <= window:
        yield read_records(data, uri)
        return
    tail_at = max(0, len(data) - _TAIL)
    head = _LOG_OPEN.match(data)
    close = _LOG_CLOSE.search(data, tail_at) if head else None
    if head and close:
        yield from _array(data, head.end(), close.start(), uri, window, _heads_window)
        return
    head = _ARRAY_OPEN.match(data)
    close = _ARRAY_CLOSE.search(data, tail_at) if head else None
    if head and close:
        yield from _array(data, head.end(), close.start(), uri, window, _values_window)
        return
    if _OBJECT_OPEN.match(data) and data.find(b"\n", 0, window) >= 0:
        yield from _lines(data, uri, window)
        return
    yield read_records(data, uri)


# ---- arrays --------------------------------------------------------------------------------------

Window = Callable[[bytes, str, int, bool], "FileRecords | object"]


def _array(data: bytes, lo: int, hi: int, uri: str, window: int, decode: Window) -> Iterator[FileRecords]:
    index = 0
    first = True
    while lo < hi:
        end, got = _next_window(data, lo, hi, window, uri, index, first, decode)
        if not isinstance(got, FileRecords):  # the exact cut, and still not JSON the fast path reads
            got = _tolerant_window(data[lo:end], uri, index, first)
        yield got
        index += got.total
        first = False
        if end >= hi:
            return
        comma = _COMMA.match(data, end)
        if comma is None:  # not JSON after the last element read
            yield _unreadable(index, "not valid JSON after the previous record")
            return
        lo = comma.end()


def _next_window(
    data: bytes, lo: int, hi: int, window: int, uri: str, index: int, first: bool, decode: Window
) -> tuple[int, FileRecords | object]:
    """Where the window from ``lo`` ends, and its records (or BAD_CUT / None: read it tolerantly)."""
    if hi - lo <= window:
        return hi, decode(data[lo:hi], uri, index, first)
    at = lo + window
    for _ in range(TRIES):
        m = _CUT.search(data, at, hi)
        if m is None:
            break
        got = decode(data[lo : m.start() + 1], uri, index, first)
        if got is not BAD_CUT:
            return m.start() + 1, got
        at = m.end()
    end = _exact_end(data, lo, lo + window, hi)
    got = decode(data[lo:end], uri, index, first)
    return end, None if got is BAD_CUT else got


def _exact_end(data: bytes, lo: int, after: int, hi: int) -> int:
    """The end of the first element that ends past ``after`` (strings skipped), else ``hi``."""
    depth = 0
    for tok in _TOKEN.finditer(data, lo, hi):
        c = tok.group()
        if c == b"{" or c == b"[":
            depth += 1
        elif c == b"}" or c == b"]":
            depth -= 1
            if depth == 0 and tok.end() > after:
                return tok.end()
    return hi


def _heads_window(piece: bytes, uri: str, index: int, first: bool) -> FileRecords | object:
    """A window of a log file's Records through the fast path (BAD_CUT if it is not JSON)."""
    text = b"[" + piece + b"]"
    try:
        heads = decode_heads(text)
    except msgspec.ValidationError:
        # a type the fast path refuses -- found before the end, so whether the window is JSON (the
        # cut right) is checked apart; if it is, the tolerant path decides
        try:
            _decode_elements(text)
        except DECODE_ERRORS:
            return BAD_CUT
        return None
    except DECODE_ERRORS:
        return BAD_CUT
    out = FileRecords("cloudtrail-log", total=len(heads))
    if first:
        check_records(heads)
    take_heads(heads, out, index)
    return out


def _values_window(piece: bytes, uri: str, index: int, first: bool) -> FileRecords | object:
    """A window of a bare JSON array through the tolerant path's shapes (BAD_CUT if it is not JSON)."""
    try:
        values = loads_tolerant("[" + piece.decode("utf-8", errors="surrogateescape") + "]")
    except (ValueError, RecursionError):
        return BAD_CUT
    out = FileRecords("json-array", total=index)
    collect(values, out, uri, top=first)
    out.total -= index
    return out


def _tolerant_window(piece: bytes, uri: str, index: int, first: bool) -> FileRecords:
    """A window of Records the fast path cannot decode, as the tolerant path reads a log file."""
    text = piece.decode("utf-8", errors="surrogateescape")
    out = FileRecords("cloudtrail-log")
    try:
        values: Any = loads_tolerant("[" + text + "]")
    except (ValueError, RecursionError) as e:
        one = read_one_by_one('{"Records":[' + text + "]}")  # nesting too deep for the parser, record by record
        if one is None:
            return _unreadable(index, f"not valid JSON ({describe(e)})")
        one.records = [(i + index, r) for i, r in one.records]
        one.parsed = [(i + index, r) for i, r in one.parsed]
        one.problems[:] = [(i + index, m) for i, m in one.problems]
        return one
    if first and values and isinstance(values[0], dict) and not is_aws_source(values[0].get("eventSource")):
        sources = [v.get("eventSource") for v in values if isinstance(v, dict)]
        if not any(is_aws_source(src) for src in sources) and isinstance(sources[0], str):
            raise NotCloudTrail(f"valid JSON, not CloudTrail: Records of {sources[0]!r} events")
    for item in values:
        add_parsed(item, out, index + out.total)
        out.total += 1
    return out


def _unreadable(index: int, reason: str) -> FileRecords:
    out = FileRecords("cloudtrail-log", total=1)
    out.problems.append((index, reason))
    return out


# ---- lines ---------------------------------------------------------------------------------------

_LINE_NO = re.compile(r"^line (\d+): ")


def _lines(data: bytes, uri: str, window: int) -> Iterator[FileRecords]:
    """NDJSON in windows of whole lines (problems keep the file's line numbers)."""
    lo, index, line, shape = 0, 0, 0, None
    while lo < len(data):
        nl = data.find(b"\n", lo + window)
        end = len(data) if nl < 0 else nl + 1
        piece = data[lo:end]
        lines = piece.count(b"\n")
        try:
            fr = read_tolerant(piece, uri)
        except (NotCloudTrail, SourceReadError) as e:
            if shape is None:
                raise
            fr = _unreadable(0, f"lines {line + 1} to {line + lines}: {e}")
        shape = shape or fr.shape
        fr.shape = shape
        fr.records = [(i + index, r) for i, r in fr.records]
        fr.parsed = [(i + index, r) for i, r in fr.parsed]
        fr.problems[:] = [(i + index, _renumbered(msg, line)) for i, msg in fr.problems]
        yield fr
        index += fr.total
        line += lines
        lo = end


def _renumbered(message: str, lines_before: int) -> str:
    m = _LINE_NO.match(message)
    return f"line {int(m[1]) + lines_before}: {message[m.end():]}" if m else message
