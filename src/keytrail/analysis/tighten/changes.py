"""What the proposal changes: per principal, the actions the current policy allows that the
proposal does not (removed), those both allow (kept), those only the proposal allows (added);
the principals that lose every cryptographic action; the grants nobody used in the window.

Actions are compared one by one (wildcards expanded over ``services.KEY_ACTIONS``), per
principal as the policies name it -- a role written with another path is the same role.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass

from keytrail.analysis.policy import (
    CRYPTO_ACTIONS,
    Caller,
    Grant,
    KeyPolicy,
    PolicyPrincipal,
    covers,
    policy_account,
)
from keytrail.analysis.tighten.observed import CallGroup
from keytrail.analysis.tighten.principals import same_iam_entity
from keytrail.analysis.tighten.services import KEY_ACTIONS, is_crypto
from keytrail.i18n import _


@dataclass(frozen=True)
class Change:
    principal: str
    actions: tuple[str, ...]
    why: str

    def as_dict(self) -> dict[str, object]:
        return {"principal": self.principal, "actions": list(self.actions), "why": self.why}


def allowed_by(policy: KeyPolicy | None, extra: Sequence[str] = ()) -> dict[str, dict[str, list[str]]]:
    """principal (as the policy names it) -> action -> the Allow statements that allow it."""
    out: dict[str, dict[str, list[str]]] = {}
    if policy is None:
        return out
    universe = sorted(set(KEY_ACTIONS) | set(extra))
    for st in policy.statements:
        if st.effect != "Allow":
            continue
        actions = [a for a in universe if st.allows_action(a)]
        labels = ["* (every principal not in NotPrincipal)"] if st.not_principal else [p.label() for p in st.principals]
        for label in labels:
            for a in actions:
                out.setdefault(label, {}).setdefault(a, []).append(st.name)
    return out


def _unify(before: dict[str, dict[str, list[str]]], after: dict[str, dict[str, list[str]]]) -> dict[str, dict[str, list[str]]]:
    """``before`` with a role or user written with another path renamed as ``after`` writes it."""
    out: dict[str, dict[str, list[str]]] = {}
    for label, actions in before.items():
        same = next((b for b in after if b != label and same_iam_entity(label, b)), label)
        for a, sts in actions.items():
            out.setdefault(same, {}).setdefault(a, []).extend(sts)
    return out


def _why_removed(principal: str, actions: Sequence[str], statements: Sequence[str]) -> str:
    where = _(" (statement {statements})").format(statements=", ".join(repr(s) for s in sorted(set(statements))))
    crypto = any(is_crypto(a) for a in actions)
    if principal.startswith("*"):
        return _("no statement for every principal: the principals that used the key are named") + where
    if policy_account(principal) is not None and crypto:
        return _("cryptographic use is no longer left to the account's IAM policies: the principals that made "
                 "cryptographic calls in the window are named") + where
    return _("no such call in the window") + where


def compare(
    before: KeyPolicy | None, after: KeyPolicy, reasons: dict[str, dict[str, tuple[str, str]]], observed: Sequence[str] = ()
) -> tuple[list[Change], list[Change], list[Change]]:
    """(removed, kept, added), each sorted by principal."""
    new = allowed_by(after, observed)
    old = _unify(allowed_by(before, observed), new)
    removed, kept, added = [], [], []
    for principal in sorted(set(old) | set(new)):
        was, now = old.get(principal, {}), new.get(principal, {})
        gone = tuple(a for a in sorted(was) if a not in now)
        stay = tuple(a for a in sorted(was) if a in now)
        fresh = tuple(a for a in sorted(now) if a not in was)
        why = reasons.get(principal, {})
        if gone:
            removed.append(Change(principal, gone, _why_removed(principal, gone, [s for a in gone for s in was[a]])))
        if stay:
            kept.append(Change(principal, stay, _summary([why.get(a, ("", "")) for a in stay])))
        if fresh:
            added.append(Change(principal, fresh, _summary([why.get(a, ("", "")) for a in fresh])))
    return removed, kept, added


def _summary(reasons: Sequence[tuple[str, str]]) -> str:
    """Reasons grouped: ``used in the window (kms:Decrypt x3, last ...; ...); a key administrator ...``."""
    details: dict[str, list[str]] = {}
    for why, detail in reasons:
        if why:
            details.setdefault(why, [])
            if detail:
                details[why].append(detail)
    return _("; ").join(_("{reason} ({details})").format(reason=why, details=_("; ").join(d)) if d else why
                        for why, d in details.items())


def losing_access(removed: Sequence[Change], after: KeyPolicy) -> list[str]:
    """Principals that the current policy allows some cryptographic action and the proposal none."""
    new = allowed_by(after)
    return sorted(
        c.principal for c in removed
        if any(is_crypto(a) for a in c.actions) and not any(is_crypto(a) for a in new.get(c.principal, {}))
    )  # fmt: skip


@dataclass(frozen=True)
class UnusedGrant:
    grant_id: str
    name: str | None
    grantee: str
    operations: tuple[str, ...]
    retire: str  # the AWS CLI command, run by the grant's retiring principal or grantee
    revoke: str  # the AWS CLI command, run by a key administrator

    def as_dict(self) -> dict[str, object]:
        return {"grant_id": self.grant_id, "name": self.name, "grantee": self.grantee,
                "operations": list(self.operations), "retire": self.retire, "revoke": self.revoke}  # fmt: skip


def unused_grants(key: str, grants: Sequence[Grant], groups: Sequence[CallGroup], id_map: dict[str, str]) -> list[UnusedGrant]:
    """Grants whose grantee made none of the grant's cryptographic operations in the window."""
    out = []
    for g in grants:
        ops = {f"kms:{o}" for o in g.operations}
        if not g.grantee or not ops & set(CRYPTO_ACTIONS):
            continue
        who = PolicyPrincipal("Service" if g.grantee.endswith(".amazonaws.com") else "AWS", g.grantee)
        used = any(
            c.action in ops and covers(who, Caller(c.principal, c.principal_type, c.account), id_map) in ("direct", "session")
            for c in groups
        )
        if used:
            continue
        k, gid = shlex.quote(key), shlex.quote(g.grant_id)
        out.append(UnusedGrant(g.grant_id, g.name, g.grantee, g.operations,
                               f"aws kms retire-grant --key-id {k} --grant-id {gid}",
                               f"aws kms revoke-grant --key-id {k} --grant-id {gid}"))  # fmt: skip
    return out
