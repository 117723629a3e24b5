"""The tolerant path: every shape but a plain log file, and log files the fast path cannot decode.

The standard library's parser reads the file (NaN and Infinity, integers of any size, bytes that
are not UTF-8 kept so that only the record holding them is rejected); the shape is recognised from
what it holds (``collect``): ``{"Records": [...]}``, a bare array, a single event, NDJSON,
``lookup-events`` output, EventBridge, CloudWatch Logs and Cribl envelopes, wrappers holding an
event under ``event``. A log file nested too deeply for the parser is read record by record.
Every record found is handed over parsed (``FileRecords.parsed``), or named as a problem.
"""

from __future__ import annotations

import json
import re
from typing import Any

from keytrail.decode.record import RECORD_FIELDS, FileRecords, is_read
from keytrail.errors import NotCloudTrail, SourceReadError

_MAX_DEPTH = 8


class _NonFinite:
    """Stands for NaN/Infinity in the tolerant parser so that only the record holding it is rejected."""

    def __repr__(self) -> str:
        return "NaN"


_NON_FINITE = _NonFinite()


def loads_tolerant(text: str) -> Any:
    return json.loads(text, parse_constant=lambda _c: _NON_FINITE)


def read_tolerant(data: bytes, uri: str) -> FileRecords:
    stripped = data.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not stripped:
        raise SourceReadError(uri, "empty file")
    text = data.decode("utf-8", errors="surrogateescape").removeprefix("\ufeff")
    try:
        value = loads_tolerant(text)
    except RecursionError as first_error:
        return read_one_by_one(text) or _ndjson(text, uri, first_error)
    except ValueError as first_error:
        return _ndjson(text, uri, first_error)
    out = FileRecords("json")
    collect(value, out, uri, top=True)
    return out


TOO_DEEP = "nested too deeply to parse"
_RECORDS_OPEN = re.compile(r'[\s\ufeff]*\{\s*"Records"\s*:\s*\[\s*')
_SPACE = re.compile(r"\s*")
_NESTING_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def read_one_by_one(text: str) -> FileRecords | None:
    """A log file too deeply nested to parse whole, read record by record: a record nested deeper
    than the parser's stack is rejected alone. None when the text is not ``{"Records": [...]}``."""
    m = _RECORDS_OPEN.match(text)
    if m is None:
        return None
    decode = json.JSONDecoder(parse_constant=lambda _c: _NON_FINITE).raw_decode
    out = FileRecords("cloudtrail-log")
    pos = m.end()
    first_source: object = None  # the first record's eventSource, when it is not an AWS one
    aws_seen = False
    while not text.startswith("]", pos):
        try:
            value, pos = decode(text, pos)
        except RecursionError:
            end = _end_of_value(text, pos)
            if end is None:
                return None
            out.problems.append((out.total, TOO_DEEP))
            out.total += 1
            pos = end
        except ValueError:
            return None
        else:
            src = value.get("eventSource") if isinstance(value, dict) else None
            if out.total == 0 and isinstance(src, str) and not is_aws_source(src):
                first_source = src
            aws_seen = aws_seen or is_aws_source(src)
            out.total += 1
            add_parsed(value, out, out.total - 1)
        pos = _skip_space(text, pos)
        if text.startswith(",", pos):
            pos = _skip_space(text, pos + 1)
            if text.startswith("]", pos):
                return None  # a trailing comma: not JSON
        elif not text.startswith("]", pos):
            return None
    if not re.fullmatch(r"\]\s*\}\s*", text[pos:]):
        return None
    if first_source is not None and not aws_seen:
        raise NotCloudTrail(f"valid JSON, not CloudTrail: Records of {first_source!r} events")
    return out


def _skip_space(text: str, pos: int) -> int:
    m = _SPACE.match(text, pos)
    return m.end() if m else pos


def _end_of_value(text: str, pos: int) -> int | None:
    """Where the array or object starting at ``pos`` ends (strings skipped), without recursion."""
    depth = 0
    for tok in _NESTING_TOKEN.finditer(text, pos):
        c = tok.group()
        if c in "[{":
            depth += 1
        elif c in "]}":
            depth -= 1
            if depth == 0:
                return tok.end()
    return None


def _ndjson(text: str, uri: str, first_error: Exception) -> FileRecords:
    lines = text.splitlines()
    nonblank = [ln for ln in lines if ln.strip()]
    if len(nonblank) < 2:
        raise SourceReadError(uri, f"not valid JSON ({describe(first_error)})")
    out = FileRecords("ndjson")
    parsed_any = False
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            value = loads_tolerant(line)
        except (ValueError, RecursionError) as e:
            if not parsed_any and lineno == 1:
                raise SourceReadError(uri, f"not valid JSON ({describe(first_error)})") from e
            out.total += 1
            out.problems.append((out.total - 1, f"line {lineno}: not valid JSON ({describe(e)})"))
            continue
        parsed_any = True
        before = out.total
        collect(value, out, uri, top=False)
        if out.total == before:
            out.total += 1
            out.problems.append((out.total - 1, f"line {lineno}: not a CloudTrail event"))
    return out


def describe(e: Exception) -> str:
    if isinstance(e, RecursionError):
        return "nested too deeply"
    return str(e).split(": line")[0][:120]


def is_aws_source(src: object) -> bool:
    """Whether an eventSource is an AWS service's (``kms.amazonaws.com``)."""
    return isinstance(src, str) and src.endswith("amazonaws.com")


def is_cloudtrail_record(value: object) -> bool:
    if not isinstance(value, dict):
        return False
    return is_aws_source(value.get("eventSource")) and "eventName" in value and ("eventTime" in value or "userIdentity" in value)


def _not_cloudtrail(records: list[Any]) -> NotCloudTrail | None:
    """A ``Records`` array is CloudTrail when any of its records is an AWS event, whatever comes
    first; else, when its first record names another event source, it is not CloudTrail."""
    first = records[0].get("eventSource") if records and isinstance(records[0], dict) else None
    if not isinstance(first, str) or is_aws_source(first):
        return None
    if any(isinstance(r, dict) and is_aws_source(r.get("eventSource")) for r in records):
        return None
    return NotCloudTrail(f"valid JSON, not CloudTrail: Records of {first!r} events")


# wrappers named after the envelope they are found in (an EventBridge event under "event" is EventBridge)
_GENERIC_WRAPPERS = frozenset({"wrapped-event", "lookup-event", "cloudwatch-log-event"})


def collect(value: Any, out: FileRecords, uri: str, top: bool, depth: int = 0) -> str | None:  # long: one branch per envelope shape; the tolerant path's logic, kept whole
    """Find CloudTrail records in a parsed value (the tolerant path: shapes and envelopes).

    Returns the kind of envelope the records were found in (None for bare records)."""
    if depth > _MAX_DEPTH:
        return None
    if isinstance(value, list):
        envelope = None
        for item in value:
            inner = _collect_item(item, out, uri, depth)
            envelope = envelope or inner
        if top:
            out.shape = envelope or "json-array"
        if top and out.total == 0 and value:
            raise NotCloudTrail("valid JSON, not CloudTrail: an array without CloudTrail events")
        return envelope
    if not isinstance(value, dict):
        if top:
            raise NotCloudTrail(f"valid JSON, not CloudTrail: a top-level {type(value).__name__}")
        return None
    if "Records" in value:
        recs = value["Records"]
        if not isinstance(recs, list):
            raise SourceReadError(uri, f"'Records' is {_kind(recs)}, not an array of events")
        refused = _not_cloudtrail(recs)
        if refused is not None:
            if top:
                raise refused
            return None
        if top:
            out.shape = "cloudtrail-log"
        for item in recs:
            out.total += 1
            add_parsed(item, out, out.total - 1)
        return None
    if is_cloudtrail_record(value):
        if top:
            out.shape = "single-event"
        out.total += 1
        add_parsed(value, out, out.total - 1)
        return None
    if "digestStartTime" in value and "logFiles" in value:
        raise NotCloudTrail("CloudTrail digest file")
    found: str | None = None
    for key, shape in (
        ("Events", "lookup-events"),
        ("detail", "eventbridge"),
        ("logEvents", "cloudwatch-logs"),
        ("_raw", "cribl"),
        ("event", "wrapped-event"),
        ("CloudTrailEvent", "lookup-event"),
        ("message", "cloudwatch-log-event"),
    ):
        if key in value:
            inner = value[key]
            if isinstance(inner, str) and key in ("CloudTrailEvent", "message", "_raw"):
                try:
                    inner = loads_tolerant(inner)
                except (ValueError, RecursionError):
                    out.total += 1
                    out.problems.append((out.total - 1, f"{key} holds a string that is not JSON"))
                    found = found or shape
                    continue
            before = out.total
            inner_envelope = collect(inner, out, uri, top=False, depth=depth + 1)
            if out.total > before:
                found = found or (inner_envelope if shape in _GENERIC_WRAPPERS and inner_envelope else shape)
    if top:
        if not found:
            keys = ", ".join(sorted(str(k)[:60] for k in value)[:6])
            raise NotCloudTrail(f"valid JSON, not CloudTrail (top-level keys: {keys or 'none'})")
        out.shape = found
    return found


def _collect_item(item: Any, out: FileRecords, uri: str, depth: int) -> str | None:
    if is_cloudtrail_record(item):
        out.total += 1
        add_parsed(item, out, out.total - 1)
    elif isinstance(item, dict):
        return collect(item, out, uri, top=False, depth=depth + 1)
    return None


def _kind(value: object) -> str:
    if value is None:
        return "null"
    return {"dict": "an object", "str": "a string"}.get(type(value).__name__, type(value).__name__)


def add_parsed(item: Any, out: FileRecords, index: int) -> None:
    if isinstance(item, dict):
        # NaN anywhere; bytes that are not UTF-8 only where the fast path would see them too: in the
        # fields the normaliser reads, of the records it reads (KMS calls, STS credentials)
        bad = _poison(item, strings=False) or (
            _poison([item.get(f) for f in RECORD_FIELDS], strings=True) if is_read(item.get("eventSource"), item.get("eventName")) else None
        )
    else:
        bad = _poison(item, strings=True)
    if bad:
        out.problems.append((index, bad))
    elif isinstance(item, dict) and not all(_utf8(k) for k in item):
        # a field name that is not UTF-8 names no field keytrail reads: left out, as the fast path leaves it
        out.parsed.append((index, {k: v for k, v in item.items() if _utf8(k)}))
    else:
        out.parsed.append((index, item))


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _poison(value: Any, strings: bool) -> str | None:
    """Reasons to reject a record from the tolerant parser: NaN/Infinity, bytes that are not UTF-8."""
    stack = [value]
    while stack:
        v = stack.pop()
        if v is _NON_FINITE:
            return "NaN or Infinity is not valid JSON"
        if isinstance(v, str):
            if not strings:
                continue
            try:
                v.encode("utf-8")
            except UnicodeEncodeError:
                return "holds bytes that are not UTF-8"
        elif isinstance(v, dict):
            for k, x in v.items():
                stack.append(k)
                stack.append(x)
        elif isinstance(v, list):
            stack.extend(v)
    return None
