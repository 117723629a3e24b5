"""The resolver's rules (``keytrail.resolve``) as plain Python, for engines that resolve row by row.

The local engine resolves in DuckDB SQL; the Spark job removes duplicates with window functions
that use the orderings below and applies the rest per row in Python with these helpers, so both
engines answer the same by construction (``tests/spark`` compares them row for row):

* ``redelivery_order`` / ``copy_order``: which record of a re-delivery (same eventID, eventName,
  eventTime) and which copy of a cross-account call (same sharedEventID) is kept -- the first in
  these orders (the Spark job applies them with window functions).
* ``AliasHistory``: an alias's target at the time of a call. A change takes effect at its own
  eventTime; a call in the same second counts as after it; several changes to one alias in one
  second: the last one in log order.
* ``IdentityMap`` / ``principal_of``: a hidden ``AWSAccount`` caller's unique id resolved to the
  ARN the archive shows it with (the smallest ARN when it shows several), else
  ``AWSAccount:ACCOUNT:UNIQUEID``.
* ``resolve_row``: one raw key-use row to one resolved ``key_use`` row.

No Spark here: the module is imported by Spark's Python workers and by fast unit tests.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from keytrail.model import DENIED, KEY_USE_FIELDS, REF_ALIAS, REF_KEY, REF_REENCRYPT_SOURCE

LogOrder = tuple[str, int]
"""Where a record sits in the log: (file order key, record index in the file)."""

_EPOCH = datetime(1970, 1, 1)


def file_order_key(input_index: int, path: str) -> str:
    """A file's place in log order: the input it was found under, then the path as a directory
    walk sorts it (component by component: ``a/x`` before ``a-b/x``)."""
    return f"{input_index:06d}\x00{path.replace('/', chr(0))}"


def redelivery_order(file_order: str, rec_index: int) -> LogOrder:
    """Among records with one (eventID, eventName, eventTime), the first in log order is kept.
    (Records without an eventID and without a sharedEventID are never re-deliveries.)"""
    return (file_order, rec_index)


def copy_order(
    identity_type: str | None, event_id: str | None, file_order: str, rec_index: int
) -> tuple[bool, bool, str, str, int]:
    """Among the copies of one sharedEventID, the first in this order is kept: a copy with the
    full identity before the owner's ``AWSAccount`` copy, then by eventID (none last), then log
    order."""
    return ((identity_type or "") == "AWSAccount", event_id is None, event_id or "", file_order, rec_index)


class AliasHistory:
    """Every alias's targets over time (``None``: deleted), looked up by bisection."""

    def __init__(self, changes: Iterable[tuple[str, int, str | None, LogOrder]]) -> None:
        """``changes``: (alias ARN, eventTime, target key ARN or None, log order), any order."""
        last: dict[tuple[str, int], tuple[LogOrder, str | None]] = {}
        for alias, when, target, order in changes:
            seen = last.get((alias, when))
            if seen is None or order > seen[0]:
                last[(alias, when)] = (order, target)
        self._times: dict[str, list[int]] = {}
        self._targets: dict[str, list[str | None]] = {}
        for (alias, when), (_, target) in sorted(last.items(), key=lambda kv: kv[0]):
            self._times.setdefault(alias, []).append(when)
            self._targets.setdefault(alias, []).append(target)

    def __len__(self) -> int:
        return sum(len(t) for t in self._times.values())

    def target(self, alias_arn: str | None, when: int) -> str | None:
        """The key ``alias_arn`` named at ``when`` (epoch seconds), or None (unknown or deleted)."""
        if alias_arn is None:
            return None
        times = self._times.get(alias_arn)
        if times is None:
            return None
        i = bisect.bisect_right(times, when) - 1
        return self._targets[alias_arn][i] if i >= 0 else None


class IdentityMap:
    """Unique id (AROA.../AIDA...) -> the ARN the archive shows it with (the smallest of several)."""

    def __init__(self, pairs: Iterable[tuple[str, str]]) -> None:
        best: dict[str, str] = {}
        for uid, arn in pairs:
            seen = best.get(uid)
            if seen is None or arn < seen:
                best[uid] = arn
        self._arn = best

    def __len__(self) -> int:
        return len(self._arn)

    def get(self, unique_id: str | None) -> str | None:
        return None if unique_id is None else self._arn.get(unique_id)


def principal_of(principal: str | None, unique_id: str | None, account: str | None, identities: IdentityMap) -> str:
    """The canonical principal: as normalised, else the hidden caller's ARN, else a stand-in name."""
    if principal is not None:
        return principal
    arn = identities.get(unique_id)
    if arn is not None:
        return arn
    return f"AWSAccount:{account if account is not None else '?'}:{unique_id if unique_id is not None else '?'}"


def resolved_key(ref_kind: str, key_ref: str | None, alt_keys: Sequence[str] | None, alias_target: str | None) -> str | None:
    """The key a row means, or None when its alias cannot be resolved.

    ReEncrypt's source with an alias destination: the resources[] key that is not the
    destination's target (the target itself when it is the only one).
    """
    if ref_kind == REF_KEY:
        return key_ref
    if ref_kind == REF_ALIAS:
        return alias_target
    if ref_kind == REF_REENCRYPT_SOURCE:
        if alias_target is None:
            return None
        for k in alt_keys or ():
            if k != alias_target:
                return k
        return alias_target
    return None


def arn_part(arn: str | None, index: int) -> str | None:
    """Field ``index`` (0-based) of a colon-separated ARN; '' when it has fewer fields."""
    if arn is None:
        return None
    parts = arn.split(":")
    return parts[index] if index < len(parts) else ""


def timestamp(epoch_seconds: int) -> datetime:
    """Epoch seconds as a naive UTC datetime (the store's TIMESTAMP)."""
    return _EPOCH + timedelta(seconds=epoch_seconds)


RAW_FIELDS: tuple[str, ...] = ("file_id", "rec_index", *KEY_USE_FIELDS)
"""A raw key-use row as the normaliser's pipeline makes it (``pipeline.normalize_records``)."""

# key_use columns computed from other fields; every other key_use column is a raw field as it is
COMPUTED = frozenset(
    {"key", "key_resolved", "key_account", "key_region", "principal", "principal_type", "category", "event_time"}
)


class RowResolver:
    """Raw key-use rows (``RAW_FIELDS`` order) -> resolved rows (``columns`` order)."""

    def __init__(self, columns: Sequence[str], aliases: AliasHistory, identities: IdentityMap) -> None:
        missing = [c for c in columns if c not in COMPUTED and c not in RAW_FIELDS]
        if missing:
            raise ValueError(f"key_use columns without a rule: {', '.join(missing)}")
        self.columns = tuple(columns)
        self.aliases = aliases
        self.identities = identities
        ix = {name: i for i, name in enumerate(RAW_FIELDS)}
        self._ix = ix
        self._copy = [(j, ix[c]) for j, c in enumerate(self.columns) if c not in COMPUTED]
        self._at = {c: j for j, c in enumerate(self.columns)}

    def resolve(self, raw: Sequence[Any]) -> tuple[list[Any], str]:
        """The resolved row and its ref_kind (the final once-per-key-and-category rule keeps the
        row whose ref_kind sorts first)."""
        ix = self._ix
        ref_kind: str = raw[ix["ref_kind"]]
        key_ref: str | None = raw[ix["key_ref"]]
        when: int = raw[ix["event_time"]]
        target = self.aliases.target(key_ref, when) if ref_kind != REF_KEY else None
        rk = resolved_key(ref_kind, key_ref, raw[ix["alt_keys"]], target)
        key = rk if rk is not None else key_ref
        identity_type = raw[ix["identity_type"]]
        computed: Mapping[str, Any] = {
            "key": key,
            "key_resolved": rk is not None,
            "key_account": arn_part(key, 4),
            "key_region": arn_part(key, 3),
            "principal": principal_of(
                raw[ix["principal"]], raw[ix["principal_uid"]], raw[ix["identity_account"]], self.identities
            ),
            "principal_type": identity_type if identity_type is not None else "unknown",
            "category": DENIED if raw[ix["error_code"]] is not None else raw[ix["op"]],
            "event_time": timestamp(when),
        }
        out: list[Any] = [None] * len(self.columns)
        for j, i in self._copy:
            out[j] = raw[i]
        for name, value in computed.items():
            at = self._at.get(name)
            if at is not None:
                out[at] = value
        return out, ref_kind
