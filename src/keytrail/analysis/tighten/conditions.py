"""Condition blocks evaluated against what CloudTrail shows of a call: true, false, or unknown.

A key policy's ``Condition`` tests the request context; a CloudTrail record shows part of it.
``holds`` answers from the part it shows -- ``kms:ViaService`` (from ``invokedBy``),
``kms:EncryptionContext:KEY`` and ``kms:EncryptionContextKeys`` (from the request's encryption
context), ``kms:CallerAccount``, ``aws:PrincipalArn``, ``aws:PrincipalAccount`` and
``kms:GrantIsForAWSResource`` -- and answers None (unknown) for every other key, operator or
value it cannot see. Semantics follow the IAM User Guide ("IAM JSON policy elements: Condition
operators"): operators AND together, the keys of one operator AND together, the values of one
key OR together; a key absent from the request makes a condition false, and a negated one
(``StringNotEquals``...) true; ``...IfExists`` is true when the key is absent; condition key
names are case-insensitive, and so are encryption-context keys in ``kms:EncryptionContext:``.

Grant constraints (``EncryptionContextEquals`` / ``EncryptionContextSubset``) are evaluated the
same way (``grant_holds``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import orjson


class _Unknown:
    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Any = _Unknown()
"""A value the record does not show (``invokedBy: AWS Internal`` for ``kms:ViaService``)."""


@dataclass(frozen=True)
class CallContext:
    """What a CloudTrail record shows of a call's request context. None: the key is absent from
    the request; ``UNKNOWN``: the record cannot say."""

    via_service: Any = None  # kms:ViaService
    encryption_context: Any = None  # dict[str, str], None or UNKNOWN
    principal_arn: Any = None  # aws:PrincipalArn
    caller_account: Any = None  # kms:CallerAccount / aws:PrincipalAccount
    grant_for_aws_resource: Any = None  # kms:GrantIsForAWSResource (CreateGrant only)
    extra: dict[str, Any] = field(default_factory=dict)


def parse_context(text: str | None) -> Any:
    """The encryption context of a key-use row (compact JSON text) as a dict; None when absent."""
    if not text:
        return None
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return UNKNOWN
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        return UNKNOWN
    return value


def _lookup(key: str, ctx: CallContext) -> Any:
    k = key.lower()
    if k == "kms:viaservice":
        return ctx.via_service
    if k in ("kms:calleraccount", "aws:principalaccount"):
        return ctx.caller_account
    if k == "aws:principalarn":
        return ctx.principal_arn
    if k == "kms:grantisforawsresource":
        return ctx.grant_for_aws_resource
    ec = ctx.encryption_context
    if k == "kms:encryptioncontextkeys":
        return ec if ec is UNKNOWN else sorted(ec) if ec else None
    if k.startswith("kms:encryptioncontext:"):
        if ec is UNKNOWN:
            return UNKNOWN
        wanted = key.split(":", 2)[2].lower()
        found = [v for name, v in (ec or {}).items() if name.lower() == wanted]
        return found[0] if found else None
    return ctx.extra.get(k, UNKNOWN)


_glob_cache: dict[str, re.Pattern[str]] = {}


def _glob(pattern: str, value: str, ignore_case: bool = False) -> bool:
    rx = _glob_cache.get(pattern)
    if rx is None:
        rx = re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern) + r"\Z", re.S)
        _glob_cache[pattern] = rx
    return rx.match(value) is not None if not ignore_case else _glob(pattern.lower(), value.lower())


def _arn_like(pattern: str, value: str) -> bool:
    """ARN operators match each of the six colon-separated parts on its own."""
    p, v = pattern.split(":", 5), value.split(":", 5)
    return len(p) == len(v) == 6 and all(_glob(a, b) for a, b in zip(p, v, strict=True))


def _bool_text(value: object) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value.lower() if isinstance(value, str) and value.lower() in ("true", "false") else None


_MATCHERS: dict[str, Any] = {
    "StringEquals": lambda p, v: p == v,
    "StringEqualsIgnoreCase": lambda p, v: p.lower() == v.lower(),
    "StringLike": lambda p, v: _glob(p, v),
    "ArnEquals": lambda p, v: p == v,
    "ArnLike": _arn_like,
    "Bool": lambda p, v: _bool_text(p) is not None and _bool_text(p) == _bool_text(v),
}
_NEGATED = {
    "StringNotEquals": "StringEquals",
    "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
    "StringNotLike": "StringLike",
    "ArnNotEquals": "ArnEquals",
    "ArnNotLike": "ArnLike",
}


def _one(operator: str, key: str, wanted: object, ctx: CallContext) -> bool | None:  # long: every operator form (set prefixes, IfExists, negation, Null) in one place
    """One ``operator: {key: values}`` entry."""
    values = wanted if isinstance(wanted, list) else [wanted]
    if not all(isinstance(w, str | bool | int) for w in values):
        return None
    patterns = [w if isinstance(w, str) else _bool_text(w) or str(w) for w in values]
    actual = _lookup(key, ctx)
    if actual is UNKNOWN:
        return None
    set_op, _, base = operator.rpartition(":")
    if_exists = base.endswith("IfExists")
    base = base.removesuffix("IfExists")
    if base == "Null":
        want_absent = [_bool_text(p) for p in patterns]
        if None in want_absent:
            return None
        return any((actual is None) == (w == "true") for w in want_absent)
    negated = base in _NEGATED
    match = _MATCHERS.get(_NEGATED.get(base, base))
    if match is None or set_op not in ("", "ForAnyValue", "ForAllValues"):
        return None
    if actual is None or actual == []:
        if set_op == "ForAllValues":
            return True
        return True if if_exists else negated
    if base == "Bool" and isinstance(actual, bool):
        actual = "true" if actual else "false"
    items = actual if isinstance(actual, list) else [actual]
    if not all(isinstance(i, str) for i in items):
        return None

    def hit(item: str) -> bool:
        return any(match(p, item) for p in patterns)

    if set_op == "ForAllValues":
        return all(hit(i) != negated for i in items)
    if set_op == "ForAnyValue":
        return any(hit(i) != negated for i in items)
    return (not hit(items[0])) if negated else hit(items[0])


def holds(block: object, ctx: CallContext) -> bool | None:
    """Whether a statement's ``Condition`` block holds for the call: True, False, or None (unknown)."""
    if not isinstance(block, dict):
        return None
    unknown = False
    for operator, entries in block.items():
        if not isinstance(entries, dict) or not isinstance(operator, str):
            return None
        for key, wanted in entries.items():
            result = _one(operator, str(key), wanted, ctx)
            if result is False:
                return False
            unknown = unknown or result is None
    return None if unknown else True


def grant_holds(constraints: str | None, ctx: CallContext) -> bool | None:
    """Whether a grant's constraints (JSON text) hold for the call: True, False or None (unknown)."""
    if not constraints:
        return True
    try:
        c = orjson.loads(constraints)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(c, dict):
        return None
    ec = ctx.encryption_context
    if ec is UNKNOWN:
        return None
    have = ec or {}
    for name, pairs in c.items():
        if not isinstance(pairs, dict):
            return None
        if name == "EncryptionContextEquals" and have != pairs:
            return False
        if name == "EncryptionContextSubset" and any(have.get(k) != v for k, v in pairs.items()):
            return False
        if name not in ("EncryptionContextEquals", "EncryptionContextSubset"):
            return None
    return True
