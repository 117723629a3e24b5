"""The fields of a CloudTrail record the normaliser reads, as typed msgspec Structs.

``Record`` is the normaliser's input. It is built two ways that give one answer:

* the fast path (``decode.shapes``) decodes a log file's records with msgspec straight into these
  Structs -- only the fields named here, only for the records that can be KMS calls or STS
  credential hand-outs; every other byte of the file is skipped by the decoder;
* ``record_from_dict`` takes a record already parsed into Python values (other file shapes,
  API sources) and converts it to the same Structs.

Every scalar is typed ``Any``: CloudTrail fields can hold anything an attacker writes (a number
for a keyId, an object for an errorCode), and the normaliser checks each value's type where it
reads it. Objects are typed, so an object where CloudTrail has a string (or the reverse) fails
msgspec's validation; ``record_from_dict`` then decides what such a record means: a missing or
non-object ``userIdentity``, a non-object ``requestParameters`` or a non-array ``resources``
rejects the record (``Rejected``); a nested object of the wrong type (``sessionContext``,
``onBehalfOf``, ``encryptionContext``, a resources entry) is read as absent.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import msgspec

KMS_SOURCE = "kms.amazonaws.com"
STS_SOURCE = "sts.amazonaws.com"
CREDENTIAL_EVENTS = frozenset({"AssumeRole", "AssumeRoleWithSAML", "AssumeRoleWithWebIdentity"})
"""The STS calls that hand out role credentials (who is behind a role session)."""


def is_read(event_source: object, event_name: object) -> bool:
    """Whether the normaliser reads a record with this eventSource and eventName -- a KMS call, or an
    STS credential hand-out (who is behind a role session) -- and so whether it is decoded into a
    ``Record``. Every other record only gives identity hints (``decode.hints``)."""
    return event_source == KMS_SOURCE or (
        event_source == STS_SOURCE and type(event_name) is str and event_name in CREDENTIAL_EVENTS
    )


class SessionIssuer(msgspec.Struct, gc=False):
    type: Any = None
    principalId: Any = None
    arn: Any = None
    accountId: Any = None
    userName: Any = None


class SessionContext(msgspec.Struct, gc=False):
    sessionIssuer: SessionIssuer | None = None


class OnBehalfOf(msgspec.Struct, gc=False):
    userId: Any = None
    identityStoreArn: Any = None


class UserIdentity(msgspec.Struct, gc=False):
    type: Any = None
    principalId: Any = None
    arn: Any = None
    accountId: Any = None
    accessKeyId: Any = None
    userName: Any = None
    invokedBy: Any = None
    principal: Any = None
    identityProvider: Any = None
    sessionContext: SessionContext | None = None
    onBehalfOf: OnBehalfOf | None = None


class Resource(msgspec.Struct, gc=False):
    """A ``resources[]`` entry. Exports from Athena, Security Lake and SIEMs write the keys in
    lower case (``arn``, ``accountid``); both spellings are read."""

    ARN: Any = None
    arn: Any = None
    type: Any = None
    accountId: Any = None
    accountid: Any = None


class RequestParameters(msgspec.Struct, gc=False):
    keyId: Any = None
    destinationKeyId: Any = None
    sourceKeyId: Any = None
    targetKeyId: Any = None
    aliasName: Any = None
    encryptionContext: dict[str, Any] | None = None
    roleArn: Any = None
    roleSessionName: Any = None


class Credentials(msgspec.Struct, gc=False):
    accessKeyId: Any = None


class ResponseElements(msgspec.Struct, gc=False):
    credentials: Credentials | None = None


class Record(msgspec.Struct, gc=False):
    """One CloudTrail record, as far as the normaliser reads it."""

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
    requestParameters: RequestParameters | None = None
    resources: list[Resource] | None = None
    responseElements: ResponseElements | None = None


RECORD_FIELDS: tuple[str, ...] = Record.__struct_fields__
SCALAR_FIELDS: tuple[str, ...] = RECORD_FIELDS[:12]
OBJECT_FIELDS: tuple[str, ...] = RECORD_FIELDS[12:]


def as_struct(value: object, cls: type[Any]) -> Any:
    """``value`` as ``cls``; a value of the wrong type (or holding one) is read as absent."""
    if not isinstance(value, dict):
        return None
    try:
        return msgspec.convert(value, cls)
    except (msgspec.ValidationError, UnicodeEncodeError):  # a lone surrogate (bytes that were not UTF-8) in a key
        pass
    # field by field: a nested object of the wrong type is absent, the rest is kept
    out = cls()
    for name in cls.__struct_fields__:
        if name not in value:
            continue
        v = value[name]
        nested = _NESTED.get((cls, name))
        if nested is not None:
            v = as_struct(v, nested)
        elif name == "encryptionContext":
            v = v if isinstance(v, dict) and all(isinstance(k, str) for k in v) else None
        setattr(out, name, v)
    return out


_NESTED: dict[tuple[type[Any], str], type[Any]] = {
    (UserIdentity, "sessionContext"): SessionContext,
    (UserIdentity, "onBehalfOf"): OnBehalfOf,
    (SessionContext, "sessionIssuer"): SessionIssuer,
    (ResponseElements, "credentials"): Credentials,
}


def record_from_dict(value: dict[str, Any]) -> tuple[Record, str | None]:
    """A parsed record as a ``Record``, and what is wrong with its shape (None when nothing is).

    The shape problem is the first of: ``userIdentity`` missing or not an object,
    ``requestParameters`` not an object, ``resources`` not an array; those fields are then
    absent from the Record. The normaliser decides what the problem means (it rejects a KMS
    call with it; an STS credential record reads what it can)."""
    try:
        return msgspec.convert(value, Record), None
    except (msgspec.ValidationError, UnicodeEncodeError):  # a lone surrogate (bytes that were not UTF-8) in a key
        pass
    problem: str | None = None
    ui = value.get("userIdentity")
    if not isinstance(ui, dict):
        problem = f"userIdentity is {'missing' if ui is None else 'not an object'}"
    params = value.get("requestParameters")
    if params is not None and not isinstance(params, dict):
        problem = problem or "requestParameters is not an object"
    resources = value.get("resources")
    if resources is not None and not isinstance(resources, list):
        problem = problem or "resources is not an array"
        resources = None
    record = Record(
        **{name: value.get(name) for name in SCALAR_FIELDS},
        userIdentity=as_struct(ui, UserIdentity),
        requestParameters=as_struct(params, RequestParameters),
        resources=None if resources is None else [r for r in (as_struct(e, Resource) for e in resources) if r is not None],
        responseElements=as_struct(value.get("responseElements"), ResponseElements),
    )
    return record, problem


MAX_KEPT = 100  # problems kept with their record index per file (or window); the rest are counted


T = TypeVar("T", bound=tuple[Any, ...])


class Sample(list[T]):
    """Per-record problems: every one counted (``seen``), the first ``MAX_KEPT`` kept (each a
    tuple whose first item is the record's index). A file of millions of bad records costs a
    count, not a list."""

    def __init__(self, items: Iterable[T] = ()) -> None:
        super().__init__()
        self.seen = 0
        for item in items:
            self.append(item)

    def append(self, item: T) -> None:
        self.seen += 1
        if len(self) < MAX_KEPT:
            super().append(item)

    def add_all(self, other: Sample[T]) -> None:
        """Another sample's problems (its kept ones, and the count of the rest)."""
        seen, kept = other.seen, list(other)
        for item in kept:
            self.append(item)
        self.seen += seen - len(kept)

    def drop(self, index: int) -> None:
        """Forget the problems of record ``index`` (those kept; the count goes down by as many)."""
        kept = [item for item in self if item[0] != index]
        self.seen -= len(self) - len(kept)
        self[:] = kept


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
    problems: Sample[tuple[int, str]] = field(default_factory=Sample)
    hints: set[tuple[str, str]] = field(default_factory=set)

    @property
    def candidates(self) -> list[tuple[int, Record | object]]:
        """Every record handed to the normaliser, typed or parsed, in file order."""
        return sorted([*self.records, *self.parsed], key=lambda item: item[0])
