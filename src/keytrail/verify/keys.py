"""CloudTrail's public keys (``aws cloudtrail list-public-keys``) and signature checks.

The file is the command's JSON output: ``{"PublicKeyList": [{"Value": BASE64, "ValidityStartTime":
..., "ValidityEndTime": ..., "Fingerprint": HEX}]}``. ``Value`` is the DER-encoded RSA public key
(PKCS #1; SubjectPublicKeyInfo is accepted too) and ``Fingerprint`` is the hex MD5 of those DER
bytes -- checked on load, so a key file whose values and fingerprints disagree is refused. Times
may be epoch seconds (``1436317441.0``) or ISO-8601, as the AWS CLI versions print them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from keytrail.errors import PublicKeysError
from keytrail.i18n import _, local_iso


@dataclass(frozen=True)
class PublicKey:
    """One CloudTrail public key; ``der`` is the key as published, ``fingerprint`` its hex MD5."""

    fingerprint: str
    der: bytes = field(repr=False)
    valid_from: datetime | None = None
    valid_to: datetime | None = None

    def valid_at(self, when: datetime) -> bool:
        return (self.valid_from is None or self.valid_from <= when) and (self.valid_to is None or when <= self.valid_to)

    def rsa_key(self) -> rsa.RSAPublicKey:
        key = serialization.load_der_public_key(self.der)
        if not isinstance(key, rsa.RSAPublicKey):
            raise ValueError(_("not an RSA key"))
        return key


def fingerprint_of(der: bytes) -> str:
    """CloudTrail's fingerprint of a public key: the hex MD5 of its DER bytes (not a security use)."""
    return hashlib.md5(der, usedforsecurity=False).hexdigest()


def _time(value: Any, what: str) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(float(value), UTC)
    if isinstance(value, str):
        try:
            return datetime.fromtimestamp(float(value), UTC)
        except ValueError:
            pass
        try:
            t = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)
    raise ValueError(_("{field} is not a time: {value!r}").format(field=what, value=value))


def parse_public_keys(data: bytes, path: str = "<public keys>") -> tuple[PublicKey, ...]:
    """Keys from ``list-public-keys`` JSON (also a bare list of key objects)."""
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError as e:
        raise PublicKeysError(path, _("not JSON ({reason})").format(reason=e)) from e
    if isinstance(obj, dict):
        entries = obj.get("PublicKeyList", obj.get("publicKeyList"))
    else:
        entries = obj
    if not isinstance(entries, list):
        raise PublicKeysError(path, _("no PublicKeyList: expected the output of `aws cloudtrail list-public-keys`"))
    keys: list[PublicKey] = []
    for i, entry in enumerate(entries):
        where = f"PublicKeyList[{i}]"
        if not isinstance(entry, dict):
            raise PublicKeysError(path, _("{field} is not an object").format(field=where))
        value, fp = entry.get("Value"), entry.get("Fingerprint")
        if not isinstance(value, str) or not isinstance(fp, str):
            raise PublicKeysError(path, _("{field} needs Value (base64) and Fingerprint (hex)").format(field=where))
        try:
            der = base64.b64decode(value, validate=True)
        except binascii.Error as e:
            raise PublicKeysError(path, _("{field}: Value is not base64 ({reason})").format(field=where, reason=e)) from e
        if fingerprint_of(der) != fp.lower():
            raise PublicKeysError(path, _("{field}: Fingerprint {fingerprint} is not the MD5 of its Value (altered key "
                                          "file?)").format(field=where, fingerprint=fp))
        try:
            key = PublicKey(
                fp.lower(), der, _time(entry.get("ValidityStartTime"), "ValidityStartTime"),
                _time(entry.get("ValidityEndTime"), "ValidityEndTime"),
            )
        except ValueError as e:
            raise PublicKeysError(path, f"{where}: {e}") from e
        try:
            key.rsa_key()
        except (ValueError, UnsupportedAlgorithm) as e:
            raise PublicKeysError(path, _("{field}: Value is not a DER-encoded RSA public key").format(field=where)) from e
        keys.append(key)
    if not keys:
        raise PublicKeysError(path, _("PublicKeyList is empty"))
    return tuple(keys)


def load_public_keys(path: str) -> tuple[PublicKey, ...]:
    """Keys from a file holding ``aws cloudtrail list-public-keys`` output."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise PublicKeysError(path, _("cannot read: {reason}").format(reason=e.strerror or e)) from e
    return parse_public_keys(data, path)


@dataclass(frozen=True)
class SignatureCheck:
    """The outcome of checking one signature: ``ok``, or ``problem`` (kind, message)."""

    ok: bool
    kind: str = ""
    message: str = ""
    warning: str = ""  # e.g. the key is not listed as valid at the digest's end time


def check_signature(
    signing_string: bytes, signature_hex: str, fingerprint: str, end: datetime, keys: Sequence[PublicKey]
) -> SignatureCheck:
    """SHA256withRSA over ``signing_string`` with the key whose fingerprint the digest names."""
    candidates = [k for k in keys if k.fingerprint == fingerprint]
    if not candidates:
        return SignatureCheck(False, "digest-key", _("no public key with fingerprint {fingerprint} (keys of another "
                                                     "Region or time range?)").format(fingerprint=fingerprint))
    try:
        signature = bytes.fromhex(signature_hex)
    except ValueError:
        return SignatureCheck(False, "digest-signature", _("the signature is not hexadecimal"))
    for key in candidates:
        try:
            key.rsa_key().verify(signature, signing_string, padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            continue
        warning = ""
        if not key.valid_at(end):
            warning = _("public key {fingerprint} is listed as valid {span}, not at the digest's end time {end}").format(
                fingerprint=fingerprint, span=_span(key), end=_when(end))
        return SignatureCheck(True, warning=warning)
    return SignatureCheck(False, "digest-signature", _("the signature does not verify"))


def _when(t: datetime | None) -> str:
    return local_iso(f"{t:%Y-%m-%dT%H:%M:%SZ}") or "" if t is not None else _("any time")


def _span(key: PublicKey) -> str:
    return _("from {start} to {end}").format(start=_when(key.valid_from), end=_when(key.valid_to))
