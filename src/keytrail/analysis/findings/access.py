"""Who can vs who did: the inventory's key policy and grants against the calls in the window.

Per key with a key policy in the inventory:

* ``permission-never-used``: a principal a policy statement names (with its Sid) made no
  successful cryptographic call the statement allows -- a candidate to remove;
* ``grant-never-used``: the same for a grant's grantee and operations;
* ``permission-used``: observed use that a statement or grant explains (``allow``, or
  ``allow-conditional`` when it holds only if the statement's conditions did);
* ``use-via-iam-delegation``: observed use the key policy leaves to IAM (an account-root
  principal): IAM identity policies decide, and they cannot be read offline;
* ``use-not-explained``: observed use that no statement or grant allows (or an explicit Deny
  forbids): the policy or grants changed in the window, or the inventory is incomplete.

Keys whose account and Region have no cryptographic calls in the window get no
``permission-never-used``: the archive cannot show that use is absent there.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from keytrail.analysis.findings.base import CRYPTO, HIGH, INFO, LOW, Evidence, Finding, key_label
from keytrail.analysis.findings.context import Context
from keytrail.analysis.policy import (
    ALLOW,
    CRYPTO_ACTIONS,
    DENY,
    IAM_DELEGATED,
    NOT_ALLOWED,
    NOT_EVALUATED_OFFLINE,
    Caller,
    Grant,
    KeyPolicy,
    PolicyError,
    PolicyPrincipal,
    account_of,
    covers,
    evaluate,
    observed_action,
    parse_policy,
    policy_account,
)
from keytrail.i18n import _, ngettext
from keytrail.times import maybe_iso as iso

KINDS = ("permission-never-used", "grant-never-used", "permission-used", "use-via-iam-delegation", "use-not-explained")


@dataclass
class Observed:
    principal: str
    principal_type: str | None
    account: str | None
    actions: dict[str, int] = field(default_factory=dict)
    first: str | None = None
    last: str | None = None

    @property
    def caller(self) -> Caller:
        return Caller(self.principal, self.principal_type, self.account)

    @property
    def calls(self) -> int:
        return sum(self.actions.values())


def load_policies(ctx: Context) -> tuple[dict[str, KeyPolicy], dict[str, list[Grant]]]:
    """The latest key policy and grants of each key in scope, from the inventory."""
    policies: dict[str, KeyPolicy] = {}
    for arn, text in ctx.store.query(
        "SELECT arn, policy FROM inventory_policies QUALIFY row_number() OVER "
        "(PARTITION BY arn ORDER BY taken_at DESC, policy_name = 'default' DESC, policy_name) = 1"
    ):
        if not ctx.in_scope(arn):
            continue
        try:
            policies[arn] = parse_policy(arn, text)
        except PolicyError as e:
            ctx.notes.append(f"who-can: {e}")
    grants: dict[str, list[Grant]] = defaultdict(list)
    for arn, gid, name, grantee, retiring, ops, constraints in ctx.store.query(
        """SELECT arn, grant_id, name, grantee_principal, retiring_principal, operations, constraints
           FROM inventory_grants QUALIFY taken_at = max(taken_at) OVER (PARTITION BY arn)
           ORDER BY arn, grant_id"""
    ):
        if arn in policies or ctx.in_scope(arn):
            c = constraints if constraints and constraints not in ("{}", "null") else None
            grants[arn].append(Grant(gid, name, grantee, tuple(ops or ()), c, retiring))
    return policies, dict(grants)


def find(ctx: Context) -> list[Finding]:
    policies, grants = load_policies(ctx)
    if not policies:
        ctx.notes.append("who-can: " + _("no key policies in the store (take an inventory: keytrail inventory)"))
        return []
    keys = sorted(policies)
    where, params = ctx.window()
    observed: dict[str, dict[str, Observed]] = defaultdict(dict)
    for key, principal, ptype, acct, name, op, n, first, last in ctx.store.query(
        f"""SELECT key, principal,
                   coalesce(min(principal_type) FILTER (WHERE principal_type <> 'AWSAccount'), min(principal_type)),
                   any_value(identity_account), event_name, op, count(*), min(event_time), max(event_time)
            FROM key_use WHERE {where} AND category IN {CRYPTO} AND key IN (SELECT unnest(?::VARCHAR[]))
            GROUP BY key, principal, event_name, op ORDER BY ALL""",  # noqa: S608
        [*params, keys],
    ):
        o = observed[key].get(principal)
        if o is None:
            o = observed[key][principal] = Observed(principal, ptype, acct or account_of(principal))
        action = observed_action(name, op)
        o.actions[action] = o.actions.get(action, 0) + int(n)
        o.first = min(filter(None, [o.first, iso(first)]), default=None)
        o.last = max(filter(None, [o.last, iso(last)]), default=None)
    used_without_policy = ctx.store.query(
        f"""SELECT count(DISTINCT key) FROM key_use WHERE {where} AND category IN {CRYPTO} AND key_resolved
            AND key NOT IN (SELECT unnest(?::VARCHAR[]))""",  # noqa: S608
        [*params, keys],
    )[0][0]
    if used_without_policy:
        ctx.notes.append("who-can: " + ngettext(
            "{n} used key without a key policy in the inventory: not compared",
            "{n} used keys without a key policy in the inventory: not compared", int(used_without_policy),
        ).format(n=int(used_without_policy)))
    evidence = ctx.evidence(
        f"{where} AND category IN {CRYPTO} AND key IN (SELECT unnest(?::VARCHAR[]))", [*params, keys], ["key", "principal"]
    )
    out: list[Finding] = []
    no_coverage = 0
    for key in keys:
        policy = policies[key]
        key_grants = grants.get(key, [])
        obs = observed.get(key, {})
        out += _explain(ctx, key, policy, key_grants, obs, evidence)
        parts = key.split(":")
        if (parts[4], parts[3]) not in ctx.coverage:
            no_coverage += 1
            continue
        out += _never_used(ctx, key, policy, key_grants, obs)
    if no_coverage:
        ctx.notes.append(
            "permission-never-used: " + ngettext(
                "{n} key not compared: no KMS cryptographic calls of its account and Region in the window "
                "(no evidence either way)",
                "{n} keys not compared: no KMS cryptographic calls of their account and Region in the window "
                "(no evidence either way)", no_coverage,
            ).format(n=no_coverage)
        )
    return out


def _hidden_callers(obs: dict[str, Observed], account: str | None) -> int:
    if not account:
        return 0
    return sum(o.calls for o in obs.values() if o.principal.startswith(f"AWSAccount:{account}:"))


def _never_used(  # long: one pass over who can, each permission checked against who did
    ctx: Context, key: str, policy: KeyPolicy, key_grants: list[Grant], obs: dict[str, Observed]
) -> list[Finding]:
    out: list[Finding] = []
    ids = ctx.id_map
    for st in policy.statements:
        if st.effect != "Allow" or st.not_principal:
            continue
        allowed = [a for a in CRYPTO_ACTIONS if st.allows_action(a)]
        if not allowed:
            continue
        for p in st.principals:
            if p.kind == "*" or (p.kind == "AWS" and policy_account(p.value) is not None):
                continue  # everyone / an account: not one principal that could be removed
            users = [
                o for o in obs.values()
                if covers(p, o.caller, ids) in ("direct", "session") and any(a in o.actions for a in allowed)
            ]
            if users:
                continue
            other = sorted({a for o in obs.values() if covers(p, o.caller, ids) for a in o.actions})
            acct = account_of(ids.get(p.value, p.value))
            hidden = _hidden_callers(obs, acct)
            out.append(
                Finding(
                    kind="permission-never-used",
                    severity=LOW,
                    key=key,
                    principal=p.value,
                    summary=_("{principal} is allowed to use {key} by statement {statement!r} but made no such call in "
                              "the window").format(principal=p.value, key=key_label(key), statement=st.name),
                    recommendation=_("Remove {principal} from key policy statement {statement!r} (or narrow its actions) "
                                     "if it no longer needs the key").format(principal=p.value, statement=st.name),
                    details={
                        "sid": st.sid,
                        "statement": st.name,
                        "statement_index": st.index,
                        "principal_kind": p.kind,
                        "actions_allowed": allowed,
                        "other_calls": other,
                        "conditional": st.conditional,
                        "condition_keys": list(st.condition_keys),
                        "caveats": list(st.caveats)
                        + ([f"{hidden} call{'' if hidden == 1 else 's'} by hidden callers of account {acct} could be "
                            "this principal's"] if hidden else []),  # details are data: English
                    },
                )
            )
    for g in key_grants:
        allowed = [a for a in CRYPTO_ACTIONS if g.allows_action(a)]
        if not allowed or not g.grantee:
            continue
        kind = "Service" if g.grantee.endswith(".amazonaws.com") else "AWS"
        gp = PolicyPrincipal(kind, g.grantee)
        if any(covers(gp, o.caller, ids) in ("direct", "session") and any(a in o.actions for a in allowed) for o in obs.values()):
            continue
        out.append(
            Finding(
                kind="grant-never-used",
                severity=LOW,
                key=key,
                principal=g.grantee,
                summary=_("grant {grant} lets {grantee} use {key}, but it made no such call in the window").format(
                    grant=g.grant_id, grantee=g.grantee, key=key_label(key)),
                recommendation=_("Retire or revoke grant {grant} if {grantee} no longer needs the key").format(
                    grant=g.grant_id, grantee=g.grantee),
                details={
                    "grant_id": g.grant_id,
                    "grant_name": g.name,
                    "operations": list(g.operations),
                    "constraints": g.constraints,
                    "retiring_principal": g.retiring,
                },
            )
        )
    return out


def _explain(  # long: one pass over the calls, each explained by a statement, a grant or IAM
    ctx: Context,
    key: str,
    policy: KeyPolicy,
    key_grants: list[Grant],
    obs: dict[str, Observed],
    evidence: dict[tuple[object, ...], list[Evidence]],
) -> list[Finding]:
    out: list[Finding] = []
    for principal in sorted(obs):
        o = obs[principal]
        per_action = {a: evaluate(policy, key_grants, o.caller, a, ctx.id_map) for a in sorted(o.actions)}
        decisions = {e.decision for e in per_action.values()}
        statements = sorted({s for e in per_action.values() for s in e.statements})
        grant_ids = sorted({g for e in per_action.values() for g in e.grants})
        caveats = sorted({c for e in per_action.values() for c in e.caveats})
        details: dict[str, object] = {
            "actions": {a: {"calls": o.actions[a], "decision": e.decision, "statements": list(e.statements), "grants": list(e.grants)}
                        for a, e in per_action.items()},
            "statements": statements,
            "grants": grant_ids,
            "first": o.first,
            "last": o.last,
            "caveats": caveats,
        }
        ev = tuple(evidence.get((key, principal), []))
        if DENY in decisions or NOT_ALLOWED in decisions:
            bad = sorted(a for a, e in per_action.items() if e.decision in (DENY, NOT_ALLOWED))
            why = _("an explicit Deny forbids it") if DENY in decisions else _("no key policy statement or grant allows it")
            out.append(
                Finding(
                    kind="use-not-explained",
                    severity=HIGH,
                    key=key,
                    principal=principal,
                    summary=_("{principal} used {key} ({actions}) but {why}").format(
                        principal=principal, key=key_label(key), actions=", ".join(bad), why=why),
                    recommendation=_(
                        "Find how this call was allowed: a key policy or grant changed during the window, a grant "
                        "missing from the inventory, or a gap in the data; take a fresh inventory and compare"
                    ),
                    evidence=ev,
                    evidence_count=o.calls,
                    details=details,
                )
            )
        elif IAM_DELEGATED in decisions:
            details["not_evaluated"] = list(NOT_EVALUATED_OFFLINE)
            out.append(
                Finding(
                    kind="use-via-iam-delegation",
                    severity=INFO,
                    key=key,
                    principal=principal,
                    summary=_(
                        "{principal} used {key}; the key policy leaves it to IAM ({statements}): its IAM policies allowed it"
                    ).format(principal=principal, key=key_label(key), statements=", ".join(repr(s) for s in statements)),
                    recommendation=_(
                        "To make the key policy the single place that decides, name this principal in it; "
                        "review the IAM policies that allow it kms: actions"
                    ),
                    evidence=ev,
                    evidence_count=o.calls,
                    details=details,
                )
            )
        else:
            how = "" if decisions == {ALLOW} else _(" if the statement's conditions held")
            names = [repr(s) for s in statements] + [_("grant {grant}").format(grant=g) for g in grant_ids]
            out.append(
                Finding(
                    kind="permission-used",
                    severity=INFO,
                    key=key,
                    principal=principal,
                    summary=_("{principal} used {key}, allowed by {names}{how}").format(
                        principal=principal, key=key_label(key), names=", ".join(names), how=how),
                    recommendation=_("None needed: the key policy or a grant allows this use"),
                    evidence=ev,
                    evidence_count=o.calls,
                    details=details,
                )
            )
    return out
