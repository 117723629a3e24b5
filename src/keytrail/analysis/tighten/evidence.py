"""Conditions from evidence: put on a principal's cryptographic statement only where every call of
the window agrees, and only with condition keys AWS documents.

* ``kms:ViaService`` when every call came through one service that supports the condition
  (``services.VIA_SERVICES``), as ``SERVICE.REGION.amazonaws.com``;
* ``kms:EncryptionContext:KEY`` when every call is an operation that takes an encryption context
  and carries ``KEY`` (``services.CONTEXT_KEYS``, in order): S3 object and bucket ARNs become
  their buckets (``arn:aws:s3:::BUCKET`` and ``arn:aws:s3:::BUCKET/*``, StringLike -- the bucket
  ARN is what S3 sends with S3 Bucket Keys on), CloudTrail trail ARNs become AWS's per-account
  pattern, other keys their values (StringEquals), at most ``MAX_CONDITION_VALUES`` of them;
* the root user's statement always carries ``aws:PrincipalArn`` (``principals.Who.scope``).

A value goes into a condition only as a literal that a key policy can hold (``literal_ok``).
Each decision, for or against a condition, comes with its reason.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from keytrail.analysis.tighten.conditions import UNKNOWN, parse_context
from keytrail.analysis.tighten.observed import CallGroup
from keytrail.analysis.tighten.principals import Who, literal_ok
from keytrail.analysis.tighten.services import (
    CONTEXT_ACTIONS,
    CONTEXT_KEYS,
    MAX_CONDITION_VALUES,
    ContextKey,
    service_label,
    via_service,
)
from keytrail.i18n import _


def merge(*blocks: dict[str, Any]) -> dict[str, Any]:
    """Condition blocks joined (their operators AND together)."""
    out: dict[str, Any] = {}
    for block in blocks:
        for op, entries in block.items():
            out.setdefault(op, {}).update(entries)
    return out


def crypto_conditions(who: Who, groups: Sequence[CallGroup], region: str, enabled: bool) -> tuple[dict[str, Any], list[str]]:
    """The conditions of ``who``'s cryptographic statement, and why each is there or not."""
    cond = who.scope()
    notes: list[str] = []
    if who.root_user:
        notes.append(_("aws:PrincipalArn limits the statement to the root user: the account's ARN alone would let "
                       "every principal of the account use the key through its IAM policies"))
    if not enabled:
        return cond, notes + [_("no conditions from the evidence (turned off)")]
    if who.kind == "AWS":
        value, note = _via(groups, region)
        notes.append(note)
        if value:
            cond = merge(cond, {"StringEquals": {"kms:ViaService": value}})
    block, note = _context(groups)
    notes.append(note)
    return merge(cond, block), notes


def _via(groups: Sequence[CallGroup], region: str) -> tuple[str | None, str]:
    calls = sum(g.calls for g in groups)
    direct = sum(g.calls for g in groups if not g.via)
    if direct:
        return None, _("no kms:ViaService: {direct} of its {n} call(s) were made directly").format(direct=direct, n=calls)
    hosts = sorted({g.via for g in groups if g.via})
    unnamed = [h for h in hosts if via_service(h, region) is None]
    if unnamed:
        return None, _("no kms:ViaService: calls came through {hosts}, which is no service that supports "
                       "kms:ViaService (or does not name the service)").format(hosts=", ".join(repr(h) for h in unnamed))
    values = sorted({v for h in hosts if (v := via_service(h, region))})
    if len(values) != 1:
        return None, _("no kms:ViaService: its calls came through {n} services ({services})").format(
            n=len(values), services=", ".join(map(str, values)))
    return values[0], _("kms:ViaService {value}: all {n} call(s) came through {service}").format(
        value=values[0], n=calls, service=service_label(hosts[0]))


_S3 = re.compile(r"arn:(aws[a-z-]*):s3:::([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(/.*)?\Z", re.S)
_TRAIL = re.compile(r"arn:(aws[a-z-]*):cloudtrail:[a-z0-9-]+:(\d{12}):trail/.+\Z", re.S)


def _patterns(ck: ContextKey, values: set[str]) -> set[str] | None:
    """The condition values for ``values`` of ``ck``; None when one of them cannot be written."""
    out: set[str] = set()
    for v in values:
        if ck.form == "bucket":
            m = _S3.match(v)
            if not m:
                return None
            out |= {f"arn:{m[1]}:s3:::{m[2]}", f"arn:{m[1]}:s3:::{m[2]}/*"}
        elif ck.form == "account":
            m = _TRAIL.match(v)
            if not m:
                return None
            out.add(f"arn:{m[1]}:cloudtrail:*:{m[2]}:trail/*")
        elif literal_ok(v) and "*" not in v and "?" not in v:
            out.add(v)
        else:
            return None
    return out


def _context(groups: Sequence[CallGroup]) -> tuple[dict[str, Any], str]:
    others = sorted({g.action for g in groups if g.action not in CONTEXT_ACTIONS})
    if others:
        return {}, _("no encryption-context condition: it also called {actions}, which take(s) no encryption "
                     "context").format(actions=", ".join(others))
    contexts = [(g, parse_context(g.context)) for g in groups]
    bare = sum(g.calls for g, c in contexts if not c or c is UNKNOWN)
    if bare:
        return {}, _("no encryption-context condition: {n} of its call(s) carry no encryption context").format(n=bare)
    reasons = []
    for ck in CONTEXT_KEYS:
        if not all(ck.key in c for _g, c in contexts):
            continue
        values = {c[ck.key] for _g, c in contexts}
        patterns = _patterns(ck, values)
        if patterns is None:
            reasons.append(_("{key}: a value that a condition cannot hold").format(key=ck.key))
            continue
        limit = MAX_CONDITION_VALUES * (2 if ck.form == "bucket" else 1)
        if len(patterns) > limit:
            reasons.append(_("{key}: {n} different values").format(key=ck.key, n=len(values)))
            continue
        op = "StringEquals" if ck.form == "exact" else "StringLike"
        listed = sorted(patterns)
        values_said = ", ".join(listed)
        named = (_("every call named objects or buckets of {values}") if ck.form == "bucket" else
                 _("every call named trails of {values}") if ck.form == "account" else
                 _("every call named {values}")).format(values=values_said)
        note = f"kms:EncryptionContext:{ck.key}: {named} ({ck.service}: {ck.doc})"
        return {op: {f"kms:EncryptionContext:{ck.key}": listed[0] if len(listed) == 1 else listed}}, note
    keys = sorted({k for _g, c in contexts for k in c})
    why = _("; ").join(reasons) if reasons else _("its calls share no key keytrail knows to be stable ({keys})").format(
        keys=", ".join(keys))
    return {}, _("no encryption-context condition: {reason}").format(reason=why)
