"""Replay: every successful call of the window evaluated against a key policy and the key's grants.

Each call's conditions are settled first from what its record shows (``conditions.holds``): a
statement whose conditions hold loses them, one whose conditions fail is left out, one that
cannot be judged stays conditional. The result goes to keytrail's own evaluator
(``analysis.policy.evaluate``), which decides as AWS does for the key policy's part: an explicit
Deny wins, then a statement or grant that names the caller, then the account principal (IAM
policies decide -- they allowed the call when it was made, and a key policy change does not
touch them).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import orjson

from keytrail.analysis.policy import (
    ALLOW,
    DENY,
    IAM_DELEGATED,
    NOT_ALLOWED,
    Caller,
    Grant,
    KeyPolicy,
    evaluate,
)
from keytrail.analysis.tighten.conditions import UNKNOWN, CallContext, grant_holds, holds, parse_context
from keytrail.analysis.tighten.observed import CallGroup
from keytrail.analysis.tighten.services import via_service
from keytrail.i18n import _

ALLOWED = "allowed"
DELEGATED = "delegated"  # the account principal: the caller's IAM policies decide, as they did
UNVERIFIED = "unverified"  # a condition the record cannot settle
DENIED = "denied"


def context_of(g: CallGroup, region: str) -> CallContext:
    """What the call's record shows of its request context."""
    service_principal = g.principal_type == "AWSService"
    if service_principal or g.via is None:
        via: Any = None
    else:
        via = via_service(g.via, region) or UNKNOWN
    if g.principal.startswith("arn:"):
        arn: Any = g.principal
    else:
        arn = None if service_principal else UNKNOWN
    grant: Any = None
    if g.action == "kms:CreateGrant":
        grant = g.via is not None
    return CallContext(
        via_service=via,
        encryption_context=parse_context(g.context),
        principal_arn=arn,
        caller_account=None if service_principal else g.account,
        grant_for_aws_resource=grant,
    )


@functools.lru_cache(maxsize=4096)
def _block(text: str) -> Any:
    return orjson.loads(text)


def settle(policy: KeyPolicy, grants: Sequence[Grant], ctx: CallContext) -> tuple[KeyPolicy, list[Grant]]:
    """The policy and grants with every condition the call's record can settle, settled."""
    return _apply(policy, grants, *_verdicts(policy, grants, ctx))


def _verdicts(policy: KeyPolicy, grants: Sequence[Grant], ctx: CallContext) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """How each statement's conditions and each grant's constraints fare for the call."""
    return (tuple(holds(_block(st.conditions), ctx) if st.conditions is not None else True for st in policy.statements),
            tuple(grant_holds(g.constraints, ctx) for g in grants))


def _apply(policy: KeyPolicy, grants: Sequence[Grant], statements_hold: tuple[Any, ...],
           grants_hold: tuple[Any, ...]) -> tuple[KeyPolicy, list[Grant]]:
    """A statement whose conditions hold loses them, one whose conditions fail is left out, one
    that cannot be judged stays conditional; grants the same."""
    kept_statements = []
    for st, result in zip(policy.statements, statements_hold, strict=True):
        if result is True:
            kept_statements.append(replace(st, conditions=None, condition_keys=()) if st.conditions else st)
        elif result is None:
            kept_statements.append(st)
    kept = []
    for g, result in zip(grants, grants_hold, strict=True):
        if result is True:
            kept.append(replace(g, constraints=None) if g.constraints else g)
        elif result is None:
            kept.append(g)
    return replace(policy, statements=tuple(kept_statements)), kept


@dataclass(frozen=True)
class Outcome:
    decision: str  # ALLOWED | DELEGATED | UNVERIFIED | DENIED
    reason: str
    by_grant: bool = False


def judge(
    policy: KeyPolicy, grants: Sequence[Grant], g: CallGroup, region: str, id_map: dict[str, str] | None = None
) -> Outcome:
    """How ``policy`` and ``grants`` decide the calls of ``g``."""
    return _decide(*settle(policy, grants, context_of(g, region)), g, id_map)


def _decide(settled: KeyPolicy, kept: Sequence[Grant], g: CallGroup, id_map: dict[str, str] | None) -> Outcome:
    e = evaluate(settled, kept, Caller(g.principal, g.principal_type, g.account), g.action, id_map)
    if e.decision == ALLOW:
        return Outcome(ALLOWED, ", ".join(e.statements) or _("grant {grants}").format(grants=", ".join(e.grants)),
                       not e.statements)
    if e.decision == IAM_DELEGATED:
        return Outcome(DELEGATED, ", ".join(e.statements))
    if e.decision == DENY:
        return Outcome(DENIED, _("an explicit Deny: {statements}").format(statements=", ".join(e.statements)))
    if e.decision == NOT_ALLOWED:
        return Outcome(DENIED, _("no statement or grant allows it"))
    return Outcome(UNVERIFIED, _("; ").join(e.caveats) or _("conditions not evaluated"))


@dataclass(frozen=True)
class ReplayItem:
    """Calls of one principal and action that the policy would not allow (or cannot be judged)."""

    principal: str
    action: str
    calls: int
    first: str | None
    event_id: str | None
    reason: str

    def as_dict(self) -> dict[str, object]:
        return {"principal": self.principal, "action": self.action, "calls": self.calls, "first": self.first,
                "event_id": self.event_id, "reason": self.reason}  # fmt: skip


@dataclass(frozen=True)
class Replay:
    calls: int = 0
    allowed: int = 0
    delegated: int = 0
    by_grant: int = 0
    unverified: int = 0
    denied: int = 0
    denied_calls: tuple[ReplayItem, ...] = ()
    unverified_calls: tuple[ReplayItem, ...] = ()

    def as_dict(self) -> dict[str, object]:
        return {
            "calls": self.calls, "denied": self.denied, "allowed": self.allowed, "delegated": self.delegated,
            "by_grant": self.by_grant, "unverified": self.unverified,
            "denied_calls": [i.as_dict() for i in self.denied_calls],
            "unverified_calls": [i.as_dict() for i in self.unverified_calls],
        }  # fmt: skip


def replay(
    policy: KeyPolicy, grants: Sequence[Grant], groups: Sequence[CallGroup], region: str, id_map: dict[str, str] | None = None
) -> Replay:
    """Every call of ``groups`` judged; the calls that would fail (or cannot be judged) named by
    principal and action."""
    counts = {ALLOWED: 0, DELEGATED: 0, UNVERIFIED: 0, DENIED: 0}
    by_grant = 0
    named: dict[tuple[str, str, str], list[Any]] = {}  # (decision, principal, action) -> [calls, first, event, reason]
    per_action: dict[str, tuple[KeyPolicy, list[Grant]]] = {}
    judged: dict[tuple[Any, ...], Outcome] = {}
    for g in groups:
        narrowed = per_action.get(g.action)
        if narrowed is None:  # only the statements and grants that allow or deny this action can decide
            narrowed = per_action[g.action] = (
                replace(policy, statements=tuple(st for st in policy.statements if st.allows_action(g.action))),
                [x for x in grants if x.allows_action(g.action)])
        verdicts = _verdicts(*narrowed, context_of(g, region))
        sig = (g.principal, g.principal_type, g.account, g.action, verdicts)  # calls that agree on these: judged once
        out = judged.get(sig)
        if out is None:
            out = judged[sig] = _decide(*_apply(*narrowed, *verdicts), g, id_map)
        counts[out.decision] += g.calls
        by_grant += g.calls if out.by_grant else 0
        if out.decision in (DENIED, UNVERIFIED):
            item = named.setdefault((out.decision, g.principal, g.action), [0, g.first, g.event_id, out.reason])
            item[0] += g.calls
            if g.first and (item[1] is None or g.first < item[1]):
                item[1], item[2] = g.first, g.event_id

    def items(decision: str) -> tuple[ReplayItem, ...]:
        return tuple(ReplayItem(p, a, v[0], v[1], v[2], v[3]) for (d, p, a), v in sorted(named.items()) if d == decision)

    return Replay(
        calls=sum(counts.values()), allowed=counts[ALLOWED], delegated=counts[DELEGATED], by_grant=by_grant,
        unverified=counts[UNVERIFIED], denied=counts[DENIED], denied_calls=items(DENIED), unverified_calls=items(UNVERIFIED),
    )  # fmt: skip
