"""Who *can* use a KMS key: its key policy and grants, evaluated offline.

What is evaluated
    ``Allow`` and ``Deny`` statements (an explicit deny wins); ``Principal`` forms -- IAM user and
    role ARNs (a role also matched by name when only its path differs), an account id or account
    root ARN (meaning "delegated to IAM": principals of that account may use the key when their
    IAM identity policies allow it), role session ARNs, federated-user ARNs, unique ids (through
    the store's identity map), ``"*"``, ``Service`` principals and ``Federated`` identity
    providers; ``NotPrincipal`` and ``NotAction`` as the complement of what they list (flagged,
    because their real semantics also involve the account and session forms); action wildcards
    (``kms:GenerateDataKey*``, ``kms:ReEncrypt*``, ``kms:*``, ``*``, case-insensitive); grants
    (grantee principal and operations; constraints make a grant conditional).

What cannot be evaluated offline, and is reported as such, never guessed
    IAM identity policies, permission boundaries and session policies (the account-root form of a
    key policy hands the decision to them); AWS Organizations SCPs and RCPs; VPC endpoint
    policies; and ``Condition`` blocks -- they test the request context (``kms:ViaService``,
    ``kms:CallerAccount``, ``aws:SourceIp``, encryption context, MFA, ...), so a statement with
    conditions is reported as *conditional*: it allows (or denies) only when they hold.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from keytrail.analysis.policy_doc import (
    CRYPTO_ACTIONS,
    NOT_EVALUATED_OFFLINE,
    Grant,
    KeyPolicy,
    PolicyPrincipal,
    Statement,
    action_matches,
    parse_policy,
)
from keytrail.errors import PolicyError

ALLOW = "allow"  # an Allow statement (or grant) without conditions names the principal
ALLOW_CONDITIONAL = "allow-conditional"  # allowed only if the statement's conditions hold
IAM_DELEGATED = "iam-delegated"  # the key policy delegates to the principal's account: IAM decides
DENY = "deny"  # an explicit Deny without conditions
DENY_CONDITIONAL = "deny-conditional"  # an explicit Deny with conditions (denied when they hold)
NOT_ALLOWED = "not-allowed"  # no statement or grant allows it (implicit deny)


@dataclass(frozen=True)
class Caller:
    """An observed principal as keytrail names it, with what matching needs."""

    principal: str
    principal_type: str | None = None
    account: str | None = None
    session: str | None = None


@dataclass(frozen=True)
class Evaluation:
    decision: str
    statements: tuple[str, ...] = ()  # names (Sid or "statement #N") that decided
    grants: tuple[str, ...] = ()  # grant ids that allow
    caveats: tuple[str, ...] = ()


@dataclass(frozen=True)
class Permission:
    """Who can: one principal named by one statement or grant, with the crypto actions it allows."""

    key: str
    principal: str  # as the policy names it
    principal_kind: str  # AWS | Service | Federated | * | account | grant
    source: str  # "statement" | "grant"
    name: str  # Sid / "statement #N", or the grant id
    actions: tuple[str, ...]
    decision: str  # ALLOW, ALLOW_CONDITIONAL or IAM_DELEGATED
    caveats: tuple[str, ...] = field(default=())


# ---- matching -------------------------------------------------------------------------------

_ACCOUNT = re.compile(r"\d{12}\Z")
_ROOT = re.compile(r"arn:aws[a-z-]*:iam::(\d{12}):root\Z")
_IAM = re.compile(r"arn:aws[a-z-]*:iam::(\d{12}):(role|user)/(.*)\Z")
_SESSION = re.compile(r"arn:aws[a-z-]*:sts::(\d{12}):assumed-role/([^/]+)/(.+)\Z")


def account_of(principal: str) -> str | None:
    """The account a canonical principal belongs to (None for services and identity providers)."""
    if principal.startswith("AWSAccount:"):
        acct = principal.split(":")[1]
        return acct if _ACCOUNT.match(acct) else None
    parts = principal.split(":")
    if len(parts) >= 5 and principal.startswith("arn:") and _ACCOUNT.match(parts[4]):
        return parts[4]
    return None


def policy_account(value: str) -> str | None:
    """The account of an account-form principal: ``123456789012`` or ``arn:...:iam::ACCOUNT:root``."""
    if _ACCOUNT.match(value):
        return value
    m = _ROOT.match(value)
    return m[1] if m else None


def _match_aws(value: str, caller: Caller, id_map: dict[str, str]) -> str | None:
    """How an AWS principal entry covers the caller: "direct", "account", "session", "hidden" or None."""
    value = id_map.get(value, value)  # a unique id left in a policy after its principal was deleted
    acct = policy_account(value)
    if acct is not None:
        if caller.principal_type == "Root" and caller.principal.endswith(f"::{acct}:root"):
            return "direct"
        return "account" if caller.account == acct else None
    if value == caller.principal:
        return "direct"
    if caller.principal.startswith("AWSAccount:") and account_of(value) == caller.account:
        return "hidden"  # a hidden caller of that account: it may be this principal, or not
    m = _IAM.match(value)
    c = _IAM.match(caller.principal)
    if m and c and m[1] == c[1] and m[2] == c[2] and m[3].rsplit("/", 1)[-1] == c[3].rsplit("/", 1)[-1]:
        return "direct"  # the same role or user named with another path
    s = _SESSION.match(value)
    if s and c and c[2] == "role" and s[1] == c[1] and s[2] == c[3].rsplit("/", 1)[-1]:
        return "session"
    return None


def covers(p: PolicyPrincipal, caller: Caller, id_map: dict[str, str]) -> str | None:
    """Whether a policy principal names the caller: "direct", "account", "session", "any", "hidden"
    (the caller is hidden, ``AWSAccount:ACCOUNT:ID``, and the entry names a principal of its
    account) or None."""
    if p.kind == "*":
        return "any"
    if p.kind == "AWS":
        return _match_aws(p.value, caller, id_map)
    if p.kind == "Service":
        return "direct" if p.value == caller.principal else None
    if p.kind == "Federated":
        name = caller.principal
        if name.startswith(("saml:", "webidentity:")) and name.split(":", 1)[1].startswith(p.value + "/"):
            return "direct"
    return None


def _statement_covers(st: Statement, caller: Caller, id_map: dict[str, str]) -> str | None:
    matches = [m for m in (covers(p, caller, id_map) for p in st.principals) if m]
    if st.not_principal:
        return None if matches else "any"
    for kind in ("direct", "session", "account", "any", "hidden"):
        if kind in matches:
            return kind
    return None


# ---- evaluation -----------------------------------------------------------------------------


def evaluate(  # long: the policy evaluation order (deny, allow, grants, delegation) in one place
    policy: KeyPolicy | None,
    grants: Sequence[Grant],
    caller: Caller,
    action: str,
    id_map: dict[str, str] | None = None,
) -> Evaluation:
    """Whether the key policy and grants let ``caller`` perform ``action`` (``kms:Decrypt``, ...).

    The answer is the key policy's and grants' part only: an IAM-delegated or conditional answer
    says what must be checked elsewhere (see the module docstring).
    """
    ids = id_map or {}
    caveats: list[str] = []
    if policy is None:
        return Evaluation(NOT_ALLOWED, caveats=("no key policy in the inventory",))
    deny: list[Statement] = []
    allow: list[tuple[Statement, str]] = []
    for st in policy.statements:
        if not st.allows_action(action):
            continue
        how = _statement_covers(st, caller, ids)
        if how is None:
            continue
        caveats.extend(st.caveats)
        if st.effect == "Deny":
            deny.append(st)
        else:
            allow.append((st, how))
    hard_deny = [st for st in deny if not st.conditional]
    if hard_deny:
        return Evaluation(DENY, tuple(st.name for st in hard_deny), caveats=tuple(caveats))
    if deny:
        caveats.append(
            "a Deny statement with conditions applies: " + ", ".join(st.name for st in deny) + " (conditions not evaluated)"
        )
    grant_hits = [g for g in grants if g.grantee and g.allows_action(action) and _grantee_covers(g.grantee, caller, ids)]
    direct = [st for st, how in allow if not st.conditional and how in ("direct", "session", "any")]
    uncond_grants = [g for g in grant_hits if not g.constraints]
    decided_by = tuple(st.name for st in direct)
    if direct or uncond_grants:
        decision = DENY_CONDITIONAL if deny else ALLOW
        if any(how == "session" for st, how in allow if st in direct):
            caveats.append("allowed for a named role session only")
        return Evaluation(decision, decided_by, tuple(g.grant_id for g in uncond_grants), tuple(caveats))
    delegated = [st for st, how in allow if not st.conditional and how == "account"]
    if delegated:
        return Evaluation(
            DENY_CONDITIONAL if deny else IAM_DELEGATED,
            tuple(st.name for st in delegated),
            caveats=tuple(caveats),
        )
    conditional = [st for st, _ in allow]
    if conditional or grant_hits:
        if any(how == "hidden" for _, how in allow):
            caveats.append("the caller is hidden (AWSAccount): it may be a principal the policy names in its account")
        for st in conditional:
            if st.condition_keys:
                caveats.append(f"{st.name}: conditions on {', '.join(st.condition_keys)} not evaluated")
        for g in grant_hits:
            caveats.append(f"grant {g.grant_id}: constraints not evaluated")
        return Evaluation(
            DENY_CONDITIONAL if deny else ALLOW_CONDITIONAL,
            tuple(st.name for st in conditional),
            tuple(g.grant_id for g in grant_hits),
            tuple(caveats),
        )
    return Evaluation(DENY_CONDITIONAL if deny else NOT_ALLOWED, caveats=tuple(caveats))


def _grantee_covers(grantee: str, caller: Caller, ids: dict[str, str]) -> bool:
    kind = "Service" if grantee.endswith(".amazonaws.com") else "AWS"
    return covers(PolicyPrincipal(kind, grantee), caller, ids) in ("direct", "session")


def who_can(
    policy: KeyPolicy | None, grants: Sequence[Grant], actions: Iterable[str] = CRYPTO_ACTIONS
) -> list[Permission]:
    """Every principal a statement or grant allows cryptographic use to, with the actions.

    Account-root principals are listed as ``IAM_DELEGATED`` (the account's IAM policies decide);
    ``"*"`` and statements with conditions as ``ALLOW_CONDITIONAL``. Deny statements are not
    subtracted here (``evaluate`` applies them per caller).
    """
    acts = tuple(actions)
    out: list[Permission] = []
    if policy is not None:
        for st in policy.statements:
            if st.effect != "Allow":
                continue
            allowed = tuple(a for a in acts if st.allows_action(a))
            if not allowed:
                continue
            targets = st.principals if not st.not_principal else (PolicyPrincipal("*", "*"),)
            for p in targets:
                if p.kind == "AWS" and policy_account(p.value) is not None:
                    decision, kind = IAM_DELEGATED, "account"
                else:
                    decision, kind = ALLOW, p.kind
                if st.conditional or p.kind == "*" or st.not_principal:
                    decision = ALLOW_CONDITIONAL if decision == ALLOW else decision
                caveats = list(st.caveats)
                if st.condition_keys:
                    caveats.append(f"conditions on {', '.join(st.condition_keys)} not evaluated")
                label = p.label() if not st.not_principal else "* (NotPrincipal: everyone not listed)"
                out.append(Permission(policy.key, label, kind, "statement", st.name, allowed, decision, tuple(caveats)))
    for g in grants:
        allowed = tuple(a for a in acts if g.allows_action(a))
        if not allowed or not g.grantee:
            continue
        decision = ALLOW_CONDITIONAL if g.constraints else ALLOW
        notes: tuple[str, ...] = ("grant constraints not evaluated",) if g.constraints else ()
        key = policy.key if policy else ""
        out.append(Permission(key, g.grantee, "grant", "grant", g.grant_id, allowed, decision, notes))
    return out


def observed_action(event_name: str, op: str) -> str:
    """The IAM action a key-use row exercised (ReEncrypt: From on the source, To on the destination)."""
    if event_name == "ReEncrypt":
        return "kms:ReEncryptFrom" if op == "decrypt" else "kms:ReEncryptTo"
    return f"kms:{event_name}"


__all__ = [
    "ALLOW",
    "ALLOW_CONDITIONAL",
    "CRYPTO_ACTIONS",
    "DENY",
    "DENY_CONDITIONAL",
    "IAM_DELEGATED",
    "NOT_ALLOWED",
    "NOT_EVALUATED_OFFLINE",
    "Caller",
    "Evaluation",
    "Grant",
    "KeyPolicy",
    "Permission",
    "PolicyError",
    "PolicyPrincipal",
    "Statement",
    "account_of",
    "action_matches",
    "covers",
    "evaluate",
    "observed_action",
    "parse_policy",
    "who_can",
]


__all__ = [
    "ALLOW",
    "ALLOW_CONDITIONAL",
    "CRYPTO_ACTIONS",
    "DENY",
    "DENY_CONDITIONAL",
    "IAM_DELEGATED",
    "NOT_ALLOWED",
    "NOT_EVALUATED_OFFLINE",
    "Caller",
    "Evaluation",
    "Grant",
    "KeyPolicy",
    "Permission",
    "PolicyError",
    "PolicyPrincipal",
    "Statement",
    "account_of",
    "action_matches",
    "covers",
    "evaluate",
    "observed_action",
    "parse_policy",
    "policy_account",
    "who_can",
]
