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
from keytrail.rules import CREDENTIAL_EVENTS, KMS_SOURCE, STS_SOURCE

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
    """What one file holds: counts, the records that may be KMS calls, per-record problems."""

    shape: str
    total: int = 0
    candidates: list[tuple[int, object]] = field(default_factory=list)
    problems: list[tuple[int, str]] = field(default_factory=list)
    # where identity hints are searched: the userIdentity objects of the records that are not
    # candidates, each after a '"userIdentity":' key (the fast path; candidates give theirs through
    # the normaliser), or None for the whole file (the tolerant path)
    identities: bytes | None = None


_NULL = msgspec.Raw(b"null")


class _Record(msgspec.Struct):
    """The fields of a CloudTrail record the normaliser reads: scalars decoded, objects kept raw.

    Objects (userIdentity, requestParameters, resources, responseElements) are decoded only for
    the records that are KMS calls (or STS credential events); every other field of every record
    is skipped by the decoder without being built. ``NEEDED_FIELDS`` must name every field that
    ``keytrail.normalize`` reads (a test checks it).
    """

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
    userIdentity: msgspec.Raw = _NULL
    requestParameters: msgspec.Raw = _NULL
    resources: msgspec.Raw = _NULL
    responseElements: msgspec.Raw = _NULL


NEEDED_FIELDS: tuple[str, ...] = _Record.__struct_fields__
_SCALARS = NEEDED_FIELDS[:12]
_OBJECTS = NEEDED_FIELDS[12:]


class _LogFile(msgspec.Struct):
    Records: list[_Record]


_decode_log_file = msgspec.json.Decoder(_LogFile).decode
# the objects of the records that may be KMS calls (integers of any size kept exact, as the standard
# library's parser keeps them -- orjson would turn those beyond 64 bits into floats)
_decode_object = msgspec.json.Decoder().decode


_USER_IDENTITY = b'"userIdentity":'
_NEXT_USER_IDENTITY = b"\n" + _USER_IDENTITY


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
        # not a plain log file, bytes that are not UTF-8 in a field, or nesting deeper than the
        # decoder's stack: the tolerant path names what it cannot read
        return _generic(data, uri)
    records = log.Records
    out = FileRecords("cloudtrail-log", total=len(records))
    if records:
        _check_first_record(records[0])
    candidates = out.candidates
    others: list[msgspec.Raw] = []  # userIdentity of the records that are not decoded
    loads = _decode_object
    for i, r in enumerate(records):
        src = r.eventSource
        if src != KMS_SOURCE and not (src == STS_SOURCE and type(r.eventName) is str and r.eventName in CREDENTIAL_EVENTS):
            others.append(r.userIdentity)
        else:
            try:
                candidates.append(
                    (
                        i,
                        {
                            "eventSource": src,
                            "eventName": r.eventName,
                            "eventTime": r.eventTime,
                            "awsRegion": r.awsRegion,
                            "recipientAccountId": r.recipientAccountId,
                            "eventID": r.eventID,
                            "sharedEventID": r.sharedEventID,
                            "errorCode": r.errorCode,
                            "errorMessage": r.errorMessage,
                            "sourceIPAddress": r.sourceIPAddress,
                            "userAgent": r.userAgent,
                            "vpcEndpointId": r.vpcEndpointId,
                            "userIdentity": loads(memoryview(r.userIdentity)),
                            "requestParameters": loads(memoryview(r.requestParameters)),
                            "resources": loads(memoryview(r.resources)),
                            "responseElements": loads(memoryview(r.responseElements)),
                        },
                    )
                )
            except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
                # NaN, numbers out of range, bytes that are not UTF-8, lone surrogates, nesting: the
                # tolerant path decides, so that every path gives one answer for one record
                _add_tolerant(r, out, i)
    out.identities = _USER_IDENTITY + _NEXT_USER_IDENTITY.join(others)
    return out


def _add_tolerant(r: _Record, out: FileRecords, index: int) -> None:
    """A fast-path record whose objects could not be decoded, decided as the tolerant path does."""
    record = {name: getattr(r, name) for name in _SCALARS}
    for name in _OBJECTS:
        raw = bytes(getattr(r, name)).decode("utf-8", errors="surrogateescape")
        try:
            record[name] = _loads_tolerant(raw)
        except RecursionError:
            out.problems.append((index, _TOO_DEEP))
            return
        except ValueError as e:
            out.problems.append((index, f"not valid JSON ({_describe(e)})"))
            return
    _add(record, out, index)


def _check_first_record(first: _Record) -> None:
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
            _poison([item.get(f) for f in NEEDED_FIELDS], strings=True) if _may_be_read(item) else None
        )
    else:
        bad = _poison(item, strings=True)
    if bad:
        out.problems.append((index, bad))
    else:
        out.candidates.append((index, item))


def _may_be_read(record: dict[Any, Any]) -> bool:
    src, name = record.get("eventSource"), record.get("eventName")
    return src == KMS_SOURCE or (src == STS_SOURCE and isinstance(name, str) and name in CREDENTIAL_EVENTS)


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
