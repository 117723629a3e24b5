"""CloudTrail digest files: parsing, the data signing string, and S3 key helpers.

A digest file (``AWSLogs/[o-ORG/]ACCOUNT/CloudTrail-Digest/REGION/YYYY/MM/DD/
ACCOUNT_CloudTrail-Digest_REGION_TRAIL_HOMEREGION_YYYYMMDDTHHMMSSZ.json.gz``) is gzipped JSON that
lists the log files delivered during one period with the SHA-256 of each one's *uncompressed*
content (``logFiles[].hashValue``, hex), and links to the previous digest file
(``previousDigestS3Bucket``/``previousDigestS3Object``, ``previousDigestHashValue``: SHA-256 hex of
the previous digest's uncompressed content, ``previousDigestSignature``: its signature, hex).

A digest's own signature (hex, SHA256withRSA, PKCS #1 v1.5) is kept in the S3 object metadata
``x-amz-meta-signature``; it signs the UTF-8 string::

    digestEndTime + "\\n" + digestS3Bucket + "/" + digestS3Object + "\\n"
    + hex(SHA-256(uncompressed digest file)) + "\\n" + previousDigestSignature

where a starting digest (no previous digest) contributes the four characters ``null``.
(CloudTrail User Guide: "CloudTrail digest file structure" and "Custom implementations of
CloudTrail log file integrity validation".)
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from keytrail.errors import DigestFormatError
from keytrail.i18n import _

SIGNATURE_ALGORITHM = "SHA256withRSA"
HASH_ALGORITHM = "SHA-256"

_PREVIOUS_FIELDS = (
    "previousDigestS3Bucket",
    "previousDigestS3Object",
    "previousDigestHashValue",
    "previousDigestHashAlgorithm",
    "previousDigestSignature",
)
_REQUIRED = (
    "digestStartTime",
    "digestEndTime",
    "digestS3Bucket",
    "digestS3Object",
    "digestPublicKeyFingerprint",
    "digestSignatureAlgorithm",
)
_STAMP = re.compile(r"_(\d{8}T\d{6}Z)(_backfill)?\.json\.gz$")
_LOG_STAMP = re.compile(r"_(\d{8}T\d{4})Z_[^/]*$")


@dataclass(frozen=True)
class ObjectRef:
    """An S3 object a digest names and the SHA-256 (lower-case hex) of its uncompressed content."""

    bucket: str
    s3_object: str
    key: str | None  # the object key from ``AWSLogs/`` onward (see ``archive_key``)
    hash_value: str
    hash_algorithm: str

    @property
    def s3_uri(self) -> str:
        return f"s3://{self.bucket}/{self.s3_object}"


@dataclass(frozen=True)
class LogRef(ObjectRef):
    """One ``logFiles[]`` entry: a log file the digest covers."""


@dataclass(frozen=True)
class PreviousLink(ObjectRef):
    """The digest's link to the digest before it, with that digest's signature (hex)."""

    signature: str


@dataclass(frozen=True)
class Digest:
    """A parsed digest file and the SHA-256 (hex) of its uncompressed content."""

    sha256: str
    start_time: str
    end_time: str
    bucket: str
    s3_object: str
    fingerprint: str
    signature_algorithm: str
    previous: PreviousLink | None  # None for a starting digest
    log_files: tuple[LogRef, ...]

    @property
    def s3_uri(self) -> str:
        return f"s3://{self.bucket}/{self.s3_object}"

    @property
    def end(self) -> datetime:
        return parse_time(self.end_time)

    @property
    def start(self) -> datetime:
        return parse_time(self.start_time)

    def signing_string(self) -> bytes:
        """The data CloudTrail signed for this digest (needs the previous digest's signature)."""
        previous = self.previous.signature if self.previous is not None else "null"
        return f"{self.end_time}\n{self.bucket}/{self.s3_object}\n{self.sha256}\n{previous}".encode()


def parse_time(value: str) -> datetime:
    """A CloudTrail UTC timestamp (``2015-08-17T15:01:31Z``) as an aware datetime."""
    t = datetime.fromisoformat(value)
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def _string(obj: dict[str, Any], name: str, problems: list[str]) -> str:
    value = obj.get(name)
    if isinstance(value, str) and value:
        return value
    problems.append(name)
    return ""


def parse_digest(content: bytes) -> Digest:  # long: the digest format's fields, checked in the order AWS documents them
    """A digest from its uncompressed bytes; raises ``DigestFormatError`` naming what is wrong."""
    try:
        obj = orjson.loads(content)
    except orjson.JSONDecodeError as e:
        raise DigestFormatError(_("not JSON ({reason})").format(reason=e)) from e
    if not isinstance(obj, dict):
        raise DigestFormatError(_("not a JSON object"))
    missing: list[str] = []
    fields = {name: _string(obj, name, missing) for name in _REQUIRED}
    if "previousDigestSignature" not in obj:
        missing.append("previousDigestSignature")
    logs_raw = obj.get("logFiles")
    if not isinstance(logs_raw, list):
        missing.append("logFiles")
        logs_raw = []
    if missing:
        raise DigestFormatError(_("missing or empty field(s): {fields}").format(fields=", ".join(missing)))
    for name in ("digestStartTime", "digestEndTime"):
        try:
            parse_time(fields[name])
        except ValueError as e:
            raise DigestFormatError(_("{field} is not a timestamp: {value!r}").format(field=name, value=fields[name])) from e
    if fields["digestSignatureAlgorithm"] != SIGNATURE_ALGORITHM:
        raise DigestFormatError(_("unsupported {field} {value!r}").format(
            field="digestSignatureAlgorithm", value=fields["digestSignatureAlgorithm"]))

    previous = None
    present = [name for name in _PREVIOUS_FIELDS if obj.get(name) is not None]
    if present:
        bad: list[str] = []
        p = {name: _string(obj, name, bad) for name in _PREVIOUS_FIELDS}
        if bad:
            raise DigestFormatError(_("previous-digest fields only partly set: {fields} missing").format(
                fields=", ".join(bad)))
        if p["previousDigestHashAlgorithm"] != HASH_ALGORITHM:
            raise DigestFormatError(_("unsupported {field} {value!r}").format(
                field="previousDigestHashAlgorithm", value=p["previousDigestHashAlgorithm"]))
        previous = PreviousLink(
            bucket=p["previousDigestS3Bucket"],
            s3_object=p["previousDigestS3Object"],
            key=archive_key(p["previousDigestS3Object"]),
            hash_value=p["previousDigestHashValue"].lower(),
            hash_algorithm=p["previousDigestHashAlgorithm"],
            signature=p["previousDigestSignature"],
        )

    logs: list[LogRef] = []
    for i, entry in enumerate(logs_raw):
        if not isinstance(entry, dict):
            raise DigestFormatError(_("{field} is not an object").format(field=f"logFiles[{i}]"))
        bad = []
        f = {name: _string(entry, name, bad) for name in ("s3Bucket", "s3Object", "hashValue", "hashAlgorithm")}
        if bad:
            raise DigestFormatError(f"logFiles[{i}]: " + _("missing or empty field(s): {fields}").format(
                fields=", ".join(bad)))
        if f["hashAlgorithm"] != HASH_ALGORITHM:
            raise DigestFormatError(f"logFiles[{i}]: " + _("unsupported {field} {value!r}").format(
                field="hashAlgorithm", value=f["hashAlgorithm"]))
        logs.append(LogRef(f["s3Bucket"], f["s3Object"], archive_key(f["s3Object"]), f["hashValue"].lower(), f["hashAlgorithm"]))

    return Digest(
        sha256=hashlib.sha256(content).hexdigest(),
        start_time=fields["digestStartTime"],
        end_time=fields["digestEndTime"],
        bucket=fields["digestS3Bucket"],
        s3_object=fields["digestS3Object"],
        fingerprint=fields["digestPublicKeyFingerprint"].lower(),
        signature_algorithm=fields["digestSignatureAlgorithm"],
        previous=previous,
        log_files=tuple(logs),
    )


# ---- S3 keys and local paths ---------------------------------------------------------------------


def archive_key(path: str) -> str | None:
    """The part of an S3 key or local path from its last ``AWSLogs`` component onward.

    This is how local copies are matched to the S3 objects a digest names: whatever bucket
    prefix or local directory sits before ``AWSLogs/`` is ignored. Backslashes count as ``/``.
    """
    parts = path.replace("\\", "/").split("/")
    for i in range(len(parts) - 1, -1, -1):
        if parts[i] == "AWSLogs":
            return "/".join(parts[i:]) if i < len(parts) - 1 else None
    return None


def match_key(key: str) -> str:
    """The key local copies are matched by: a decompressed copy ``X.json`` stands for ``X.json.gz``."""
    return key[:-3] if key.endswith(".gz") else key


def area_of(key: str) -> tuple[str, str] | None:
    """(``AWSLogs/[o-ORG/]ACCOUNT``, REGION) of a log or digest key, or None."""
    parts = key.split("/")
    for i, part in enumerate(parts):
        if part in ("CloudTrail", "CloudTrail-Digest") and i + 1 < len(parts) - 1:
            return "/".join(parts[:i]), parts[i + 1]
    return None


def chain_of(key: str) -> str:
    """The trail a digest key belongs to: its key without the timestamp (and ``_backfill``) tail."""
    head, _, name = key.rpartition("/")
    area = area_of(key)
    where = f"{area[0]}/{area[1]}" if area else head
    return f"{where}/{_STAMP.sub('', name)}"


def is_backfill(key: str) -> bool:
    m = _STAMP.search(key)
    return bool(m and m.group(2))


def key_time(key: str) -> datetime | None:
    """The timestamp in a digest's file name (its end time), or None."""
    m = _STAMP.search(key)
    return _strptime(m.group(1), "%Y%m%dT%H%M%SZ") if m else None


def log_time(key: str) -> datetime | None:
    """The timestamp in a log file's name (``..._YYYYMMDDTHHMMZ_UNIQUE.json.gz``), or None."""
    m = _LOG_STAMP.search(key)
    return _strptime(m.group(1), "%Y%m%dT%H%M") if m else None


def _strptime(text: str, fmt: str) -> datetime | None:
    """A UTC time from a file name, or None when the digits are no date (``20991399T9999``)."""
    try:
        return datetime.strptime(text, fmt).replace(tzinfo=UTC)
    except ValueError:
        return None
