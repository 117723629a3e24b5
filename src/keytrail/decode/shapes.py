"""Recognising a file's shape from its content and taking the CloudTrail records out of it.

Shapes: a CloudTrail log file ``{"Records": [...]}``, one event per line (NDJSON), a bare JSON
array of events, ``aws cloudtrail lookup-events`` output, and envelopes around events:
EventBridge (``detail``), CloudWatch Logs (``logEvents[].message``), Cribl (``_raw``), and
wrappers that hold an event under ``event``. Valid JSON that is not CloudTrail (S3 event
notifications, DynamoDB Streams, digests, other tools' output) is a ``NotCloudTrail`` skip;
bytes that should be CloudTrail and cannot be read raise ``SourceReadError``.

The fast path decodes a log file with msgspec into raw record spans and parses only the
records whose bytes can be a KMS call; everything else is counted without being decoded.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import msgspec

from keytrail.errors import KeytrailError, SourceReadError
from keytrail.operations import is_read
from keytrail.record import Record, RequestParameters, Resource, ResponseElements, UserIdentity
from keytrail.rules import hint_of

try:  # ISA-L's gunzip is several times faster than zlib's; the result is the same
    from isal.igzip import decompress as _isal_gunzip

    def _gunzip(data: bytes) -> bytes:
        return bytes(_isal_gunzip(data))  # type: ignore[no-untyped-call]

except ImportError:  # pragma: no cover - isal is a dependency, kept optional for odd platforms
    from gzip import decompress as _gunzip

_MAX_DEPTH = 8


class NotCloudTrail(KeytrailError):
    """The file is readable but holds no CloudTrail records (skipped, not an error)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class FileRecords:
    """What one file holds: counts, the records to normalise, per-record problems.

    The fast path decodes the records the normaliser reads into typed ``Record``s (``records``)
    and takes the identity hints of every other record from its userIdentity (``hints``); the
    tolerant path hands over every record as parsed (``parsed``) and the normaliser takes both
    from each.
    """

    shape: str
    total: int = 0
    records: list[tuple[int, Record]] = field(default_factory=list)
    parsed: list[tuple[int, object]] = field(default_factory=list)
    problems: list[tuple[int, str]] = field(default_factory=list)
    hints: set[tuple[str, str]] = field(default_factory=set)

    @property
    def candidates(self) -> list[tuple[int, Record | object]]:
        """Every record handed to the normaliser, typed or parsed, in file order."""
        return sorted([*self.records, *self.parsed], key=lambda item: item[0])


_NULL = msgspec.Raw(b"null")


class _Head(msgspec.Struct, gc=False):
    """A record as the fast path first decodes it: the scalars the normaliser reads and the
    userIdentity (every record's, for identity hints); the other objects are kept raw and decoded
    only for the records the normaliser reads. ``NEEDED_FIELDS`` must name every field that
    ``keytrail.normalize`` reads (a test checks it)."""

    eventSource: Any = None
    eventName: Any = None
    eventTime: Any = None
    awsRegion: Any = None
    recipientAccountId: Any = None
    eventID: Any = None
    sharedEventID: Any = None
    errorCode: Any = None
    errorMessage: Any = None
    sourceIPAddress: Any = None
    userAgent: Any = None
    vpcEndpointId: Any = None
    userIdentity: UserIdentity | None = None
    requestParameters: msgspec.Raw = _NULL
    resources: msgspec.Raw = _NULL
    responseElements: msgspec.Raw = _NULL


NEEDED_FIELDS: tuple[str, ...] = _Head.__struct_fields__
_SCALARS = NEEDED_FIELDS[:12]
_RAW_OBJECTS = NEEDED_FIELDS[13:]


class _LogFile(msgspec.Struct, gc=False):
    Records: list[_Head]


_decode_log_file = msgspec.json.Decoder(_LogFile).decode
_decode_params = msgspec.json.Decoder(RequestParameters | None).decode
_decode_resources = msgspec.json.Decoder(list[Resource] | None).decode
_decode_response = msgspec.json.Decoder(ResponseElements | None).decode
# the objects of a record the typed decoders refuse, for the tolerant path (integers of any size kept
# exact, as the standard library's parser keeps them -- orjson would turn those beyond 64 bits into floats)
_decode_object = msgspec.json.Decoder().decode


def gunzip_if_needed(data: bytes, uri: str) -> bytes:
    if data[:2] != b"\x1f\x8b":
        return data
    try:
        return _gunzip(data)
    except EOFError as e:
        raise SourceReadError(uri, "truncated gzip (compressed stream ends early)") from e
    except Exception as e:  # gzip raises BadGzipFile, zlib.error, OSError for garbage
        raise SourceReadError(uri, f"not a readable gzip stream ({e})") from e


def read_records(data: bytes, uri: str) -> FileRecords:
    """Records of one file (already read, possibly gzipped). Raises NotCloudTrail/SourceReadError."""
    data = gunzip_if_needed(data, uri)
    try:
        log = _decode_log_file(data)
    except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError, RecursionError):
        # not a plain log file, a value of a type CloudTrail does not write in a userIdentity, bytes
        # that are not UTF-8 in a field, or nesting deeper than the decoder's stack: the tolerant
        # path names what it cannot read
        return _generic(data, uri)
    heads = log.Records
    out = FileRecords("cloudtrail-log", total=len(heads))
    if heads:
        _check_first_record(heads[0])
    records = out.records
    hints = out.hints
    for i, h in enumerate(heads):
        src = h.eventSource
        if is_read(src, h.eventName):
            try:
                records.append(
                    (
                        i,
                        Record(
                            src, h.eventName, h.eventTime, h.awsRegion, h.recipientAccountId, h.eventID,
                            h.sharedEventID, h.errorCode, h.errorMessage, h.sourceIPAddress, h.userAgent,
                            h.vpcEndpointId, h.userIdentity, _decode_params(h.requestParameters),
                            _decode_resources(h.resources), _decode_response(h.responseElements),
                        ),
                    )
                )
            except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError, RecursionError):
                # a type CloudTrail does not write, NaN, numbers out of range, bytes that are not UTF-8,
                # lone surrogates, nesting: the tolerant path decides, so that every path gives one
                # answer for one record
                _add_tolerant(h, out, i)
        elif h.userIdentity is not None:
            hint = hint_of(h.userIdentity)
            if hint is not None:
                hints.add(hint)
    return out


def _add_tolerant(h: _Head, out: FileRecords, index: int) -> None:
    """A fast-path record whose objects the typed decoders refuse, decided as the tolerant path does."""
    record: dict[str, Any] = {name: getattr(h, name) for name in _SCALARS}
    record["userIdentity"] = None if h.userIdentity is None else msgspec.to_builtins(h.userIdentity)
    for name in _RAW_OBJECTS:
        raw = bytes(getattr(h, name)).decode("utf-8", errors="surrogateescape")
        try:
            record[name] = _loads_tolerant(raw)
        except RecursionError:
            out.problems.append((index, _TOO_DEEP))
            return
        except ValueError as e:
            out.problems.append((index, f"not valid JSON ({_describe(e)})"))
            return
    _add(record, out, index)


def _check_first_record(first: _Head) -> None:
    src = first.eventSource
    if isinstance(src, str) and not src.endswith("amazonaws.com"):
        raise NotCloudTrail(f"valid JSON, not CloudTrail: Records of {src!r} events")


# ---- the tolerant path: every other shape, and files the fast path cannot decode --------------


class _NonFinite:
    """Stands for NaN/Infinity in the tolerant parser so that only the record holding it is rejected."""

    def __repr__(self) -> str:
        return "NaN"


_NON_FINITE = _NonFinite()


def _loads_tolerant(text: str) -> Any:
    return json.loads(text, parse_constant=lambda _c: _NON_FINITE)


def _generic(data: bytes, uri: str) -> FileRecords:
    stripped = data.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not stripped:
        raise SourceReadError(uri, "empty file")
    text = data.decode("utf-8", errors="surrogateescape").removeprefix("\ufeff")
    try:
        value = _loads_tolerant(text)
    except RecursionError as first_error:
        return _one_by_one(text) or _ndjson(text, uri, first_error)
    except ValueError as first_error:
        return _ndjson(text, uri, first_error)
    out = FileRecords("json")
    _collect(value, out, uri, top=True)
    return out


_TOO_DEEP = "nested too deeply to parse"
_RECORDS_OPEN = re.compile(r'[\s\ufeff]*\{\s*"Records"\s*:\s*\[\s*')
_SPACE = re.compile(r"\s*")
_NESTING_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def _one_by_one(text: str) -> FileRecords | None:
    """A log file too deeply nested to parse whole, read record by record: a record nested deeper
    than the parser's stack is rejected alone. None when the text is not ``{"Records": [...]}``."""
    m = _RECORDS_OPEN.match(text)
    if m is None:
        return None
    decode = json.JSONDecoder(parse_constant=lambda _c: _NON_FINITE).raw_decode
    out = FileRecords("cloudtrail-log")
    pos = m.end()
    while not text.startswith("]", pos):
        try:
            value, pos = decode(text, pos)
        except RecursionError:
            end = _end_of_value(text, pos)
            if end is None:
                return None
            out.problems.append((out.total, _TOO_DEEP))
            out.total += 1
            pos = end
        except ValueError:
            return None
        else:
            if out.total == 0 and isinstance(value, dict):
                src = value.get("eventSource")
                if isinstance(src, str) and not src.endswith("amazonaws.com"):
                    raise NotCloudTrail(f"valid JSON, not CloudTrail: Records of {src!r} events")
            out.total += 1
            _add(value, out, out.total - 1)
        pos = _skip_space(text, pos)
        if text.startswith(",", pos):
            pos = _skip_space(text, pos + 1)
            if text.startswith("]", pos):
                return None  # a trailing comma: not JSON
        elif not text.startswith("]", pos):
            return None
    return out if re.fullmatch(r"\]\s*\}\s*", text[pos:]) else None


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
        raise SourceReadError(uri, f"not valid JSON ({_describe(first_error)})")
    out = FileRecords("ndjson")
    parsed_any = False
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            value = _loads_tolerant(line)
        except (ValueError, RecursionError) as e:
            if not parsed_any and lineno == 1:
                raise SourceReadError(uri, f"not valid JSON ({_describe(first_error)})") from e
            out.total += 1
            out.problems.append((out.total - 1, f"line {lineno}: not valid JSON ({_describe(e)})"))
            continue
        parsed_any = True
        before = out.total
        _collect(value, out, uri, top=False)
        if out.total == before:
            out.total += 1
            out.problems.append((out.total - 1, f"line {lineno}: not a CloudTrail event"))
    return out


def _describe(e: Exception) -> str:
    if isinstance(e, RecursionError):
        return "nested too deeply"
    return str(e).split(": line")[0][:120]


def is_cloudtrail_record(value: object) -> bool:
    if not isinstance(value, dict):
        return False
    src = value.get("eventSource")
    return (
        isinstance(src, str)
        and src.endswith("amazonaws.com")
        and "eventName" in value
        and ("eventTime" in value or "userIdentity" in value)
    )


# wrappers named after the envelope they are found in (an EventBridge event under "event" is EventBridge)
_GENERIC_WRAPPERS = frozenset({"wrapped-event", "lookup-event", "cloudwatch-log-event"})


def _collect(value: Any, out: FileRecords, uri: str, top: bool, depth: int = 0) -> str | None:
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
        if recs and isinstance(recs[0], dict):
            src = recs[0].get("eventSource")
            if isinstance(src, str) and not src.endswith("amazonaws.com"):
                if top:
                    raise NotCloudTrail(f"valid JSON, not CloudTrail: Records of {src!r} events")
                return None
        if top:
            out.shape = "cloudtrail-log"
        for item in recs:
            out.total += 1
            _add(item, out, out.total - 1)
        return None
    if is_cloudtrail_record(value):
        if top:
            out.shape = "single-event"
        out.total += 1
        _add(value, out, out.total - 1)
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
                    inner = _loads_tolerant(inner)
                except (ValueError, RecursionError):
                    out.total += 1
                    out.problems.append((out.total - 1, f"{key} holds a string that is not JSON"))
                    found = found or shape
                    continue
            before = out.total
            inner_envelope = _collect(inner, out, uri, top=False, depth=depth + 1)
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
        _add(item, out, out.total - 1)
    elif isinstance(item, dict):
        return _collect(item, out, uri, top=False, depth=depth + 1)
    return None


def _kind(value: object) -> str:
    if value is None:
        return "null"
    return {"dict": "an object", "str": "a string"}.get(type(value).__name__, type(value).__name__)


def _add(item: Any, out: FileRecords, index: int) -> None:
    if isinstance(item, dict):
        # NaN anywhere; bytes that are not UTF-8 only where the fast path would see them too: in the
        # fields the normaliser reads, of the records it reads (KMS calls, STS credentials)
        bad = _poison(item, strings=False) or (
            _poison([item.get(f) for f in NEEDED_FIELDS], strings=True) if is_read(item.get("eventSource"), item.get("eventName")) else None
        )
    else:
        bad = _poison(item, strings=True)
    if bad:
        out.problems.append((index, bad))
    else:
        out.parsed.append((index, item))


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
