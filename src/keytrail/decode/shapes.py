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

from typing import Any

import msgspec

from keytrail.decode.hints import hint_of
from keytrail.decode.inflate import DEFAULT_MAX_FILE_BYTES, inflate
from keytrail.decode.parquet import is_parquet, read_parquet
from keytrail.decode.record import (
    FileRecords,
    Record,
    RequestParameters,
    Resource,
    ResponseElements,
    UserIdentity,
    is_read,
)
from keytrail.decode.tolerant import (
    TOO_DEEP,
    add_parsed,
    describe,
    is_aws_source,
    loads_tolerant,
    read_tolerant,
)
from keytrail.errors import NotCloudTrail

_NULL = msgspec.Raw(b"null")


class _Head(msgspec.Struct, gc=False):
    """A record as the fast path first decodes it: the scalars the normaliser reads and the
    userIdentity (every record's, for identity hints); the other objects are kept raw and decoded
    only for the records the normaliser reads. ``NEEDED_FIELDS`` must name every field that
    ``keytrail.normalize`` reads (a test checks it), in ``Record``'s order (the tolerant path reads
``RECORD_FIELDS``)."""

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


def gunzip_if_needed(data: bytes, uri: str, limit: int = DEFAULT_MAX_FILE_BYTES) -> bytes:
    """``data`` gunzipped when it is gzip (``inflate``: never past ``limit`` bytes)."""
    return inflate(data, uri, limit)


def read_records(data: bytes, uri: str) -> FileRecords:
    """Records of one file (already read, possibly gzipped), decoded whole. Raises
    NotCloudTrail/SourceReadError. Large files are read in windows by ``decode.windows``."""
    data = gunzip_if_needed(data, uri)
    if is_parquet(data):
        return read_parquet(data, uri)
    try:
        log = _decode_log_file(data)
    except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError, RecursionError):
        # not a plain log file, a value of a type CloudTrail does not write in a userIdentity, bytes
        # that are not UTF-8 in a field, or nesting deeper than the decoder's stack: the tolerant
        # path names what it cannot read
        return read_tolerant(data, uri)
    heads = log.Records
    out = FileRecords("cloudtrail-log", total=len(heads))
    check_records(heads)
    take_heads(heads, out, 0)
    return out


decode_heads = msgspec.json.Decoder(list[_Head]).decode
"""A JSON array of records as the fast path's ``_Head``s (a window of a log file's Records)."""

DECODE_ERRORS = (msgspec.DecodeError, UnicodeDecodeError, RecursionError)
"""What ``decode_heads`` raises for bytes that are not JSON (or not JSON it can read)."""


def take_heads(heads: list[_Head], out: FileRecords, offset: int) -> None:
    """Records and identity hints from decoded heads (record ``i`` is the file's ``offset + i``)."""
    records = out.records
    hints = out.hints
    for i, h in enumerate(heads, offset):
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


def _add_tolerant(h: _Head, out: FileRecords, index: int) -> None:
    """A fast-path record whose objects the typed decoders refuse, decided as the tolerant path does."""
    record: dict[str, Any] = {name: getattr(h, name) for name in _SCALARS}
    record["userIdentity"] = None if h.userIdentity is None else msgspec.to_builtins(h.userIdentity)
    for name in _RAW_OBJECTS:
        raw = bytes(getattr(h, name)).decode("utf-8", errors="surrogateescape")
        try:
            record[name] = loads_tolerant(raw)
        except RecursionError:
            out.problems.append((index, TOO_DEEP))
            return
        except ValueError as e:
            out.problems.append((index, f"not valid JSON ({describe(e)})"))
            return
    add_parsed(record, out, index)


def check_records(heads: list[_Head]) -> None:
    """A ``Records`` file (or its first window) whose first record is not an AWS event: CloudTrail
    still when any record is one (those are read, whatever comes first), else not CloudTrail."""
    if heads and not is_aws_source(heads[0].eventSource):
        _check_records([h.eventSource for h in heads])


def _check_records(sources: list[Any]) -> None:
    """A ``Records`` file whose first record is not an AWS event: CloudTrail still when any record
    is one (those are read, whatever comes first), else not CloudTrail."""
    if not any(is_aws_source(src) for src in sources):
        first = sources[0]
        if isinstance(first, str):
            raise NotCloudTrail(f"valid JSON, not CloudTrail: Records of {first!r} events")


__all__ = [
    "DECODE_ERRORS", "NEEDED_FIELDS", "FileRecords", "NotCloudTrail", "check_records", "decode_heads",
    "gunzip_if_needed", "read_records", "take_heads",
]  # fmt: skip
