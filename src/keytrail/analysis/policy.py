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
from typing import Any

import orjson

from keytrail.errors import KeytrailError

ALLOW = "allow"  # an Allow statement (or grant) without conditions names the principal
ALLOW_CONDITIONAL = "allow-conditional"  # allowed only if the statement's conditions hold
IAM_DELEGATED = "iam-delegated"  # the key policy delegates to the principal's account: IAM decides
DENY = "deny"  # an explicit Deny without conditions
DENY_CONDITIONAL = "deny-conditional"  # an explicit Deny with conditions (denied when they hold)
NOT_ALLOWED = "not-allowed"  # no statement or grant allows it (implicit deny)

# The cryptographic operations a key policy or grant can allow, as IAM actions.
CRYPTO_ACTIONS: tuple[str, ...] = (
    "kms:Decrypt",
    "kms:DeriveSharedSecret",
    "kms:Encrypt",
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyPair",
    "kms:GenerateDataKeyPairWithoutPlaintext",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:GenerateMac",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
    "kms:Sign",
    "kms:Verify",
    "kms:VerifyMac",
)

NOT_EVALUATED_OFFLINE: tuple[str, ...] = (
    "IAM identity policies, permission boundaries and session policies",
    "AWS Organizations service and resource control policies (SCPs, RCPs)",
    "VPC endpoint policies",
    "conditions on the request context (kms:ViaService, kms:CallerAccount, aws:SourceIp, encryption context, ...)",
)


class PolicyError(KeytrailError):
    """A key policy document that is not a policy (bad JSON or shape)."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"{key}: key policy cannot be read: {reason}")
        self.key = key
        self.reason = reason


@dataclass(frozen=True)
class PolicyPrincipal:
    """One entry of a Principal / NotPrincipal element: ``kind`` is AWS, Service, Federated or *."""

    kind: str
    value: str

    def label(self) -> str:
        return "*" if self.kind == "*" else self.value


@dataclass(frozen=True)
class Statement:
    index: int
    sid: str | None
    effect: str  # Allow | Deny
    principals: tuple[PolicyPrincipal, ...]
    not_principal: bool
    actions: tuple[str, ...]
    not_action: bool
    conditions: str | None  # the Condition block as compact JSON; None when absent
    condition_keys: tuple[str, ...]
    resource_ok: bool  # Resource is "*" or this key (else: not evaluated, treated as conditional)
    caveats: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.sid if self.sid else f"statement #{self.index + 1}"

    def allows_action(self, action: str) -> bool:
        hit = any(action_matches(p, action) for p in self.actions)
        return not hit if self.not_action else hit

    @property
    def conditional(self) -> bool:
        return self.conditions is not None or not self.resource_ok


@dataclass(frozen=True)
class KeyPolicy:
    key: str
    statements: tuple[Statement, ...]
    caveats: tuple[str, ...] = ()


@dataclass(frozen=True)
class Grant:
    grant_id: str
    name: str | None
    grantee: str | None
    operations: tuple[str, ...]  # as KMS names them: Decrypt, GenerateDataKey, ...
    constraints: str | None  # JSON text when the grant has constraints
    retiring: str | None = None

    def allows_action(self, action: str) -> bool:
        op = action.split(":", 1)[1] if ":" in action else action
        return any(o.lower() == op.lower() for o in self.operations)


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


# ---- parsing --------------------------------------------------------------------------------


def _as_list(value: object) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _principals(value: object) -> tuple[tuple[PolicyPrincipal, ...], list[str]]:
    caveats: list[str] = []
    if value == "*":
        return (PolicyPrincipal("*", "*"),), caveats
    if not isinstance(value, dict):
        caveats.append(f"unreadable principal element {str(value)[:60]!r}")
        return (), caveats
    out: list[PolicyPrincipal] = []
    for kind, entries in value.items():
        for entry in _as_list(entries):
            if not isinstance(entry, str):
                caveats.append(f"unreadable {kind} principal {str(entry)[:60]!r}")
                continue
            if kind == "AWS" and entry == "*":
                out.append(PolicyPrincipal("*", "*"))
            elif kind in ("AWS", "Service", "Federated"):
                out.append(PolicyPrincipal(kind, entry))
            else:
                caveats.append(f"{kind} principal {entry!r} is not evaluated")
                out.append(PolicyPrincipal(kind, entry))
    return tuple(out), caveats


def _resource_ok(key: str, stmt: dict[str, Any]) -> tuple[bool, list[str]]:
    if "NotResource" in stmt:
        return False, ["NotResource is not evaluated: the statement is treated as conditional"]
    res = [r for r in _as_list(stmt.get("Resource", "*")) if isinstance(r, str)]
    if not res or any(r == "*" or r == key or action_matches(r, key) for r in res):
        return True, []
    return False, [f"Resource {res[0]!r} does not name this key: the statement is treated as conditional"]


def parse_policy(key: str, text: str | bytes) -> KeyPolicy:
    """A key policy document (JSON text) as statements; ``PolicyError`` when it is not one."""
    try:
        doc = orjson.loads(text)
    except orjson.JSONDecodeError as e:
        raise PolicyError(key, f"not JSON ({e})") from e
    if not isinstance(doc, dict):
        raise PolicyError(key, "not a JSON object")
    raw = doc.get("Statement")
    stmts = raw if isinstance(raw, list) else [raw] if isinstance(raw, dict) else None
    if stmts is None:
        raise PolicyError(key, "no Statement")
    out: list[Statement] = []
    top: list[str] = []
    for i, s in enumerate(stmts):
        if not isinstance(s, dict):
            top.append(f"statement #{i + 1} is not an object: ignored")
            continue
        caveats: list[str] = []
        effect = s.get("Effect")
        if effect not in ("Allow", "Deny"):
            top.append(f"statement #{i + 1}: Effect {str(effect)[:20]!r} is neither Allow nor Deny: ignored")
            continue
        not_principal = "NotPrincipal" in s
        principals, pc = _principals(s.get("NotPrincipal") if not_principal else s.get("Principal"))
        caveats += pc
        if not_principal:
            caveats.append(
                "NotPrincipal is evaluated as 'every principal not listed' (AWS also matches the listed "
                "principals' accounts and sessions): verify by hand"
            )
        not_action = "NotAction" in s
        actions = tuple(a for a in _as_list(s.get("NotAction") if not_action else s.get("Action")) if isinstance(a, str))
        if not_action:
            caveats.append("NotAction: the statement applies to every action it does not list")
        cond = s.get("Condition")
        cond_text = orjson.dumps(cond, option=orjson.OPT_SORT_KEYS).decode() if cond else None
        keys: list[str] = []
        if isinstance(cond, dict):
            for block in cond.values():
                if isinstance(block, dict):
                    keys.extend(str(k) for k in block)
        ok, rc = _resource_ok(key, s)
        caveats += rc
        sid = s.get("Sid")
        out.append(
            Statement(
                index=i,
                sid=sid if isinstance(sid, str) and sid else None,
                effect=str(effect),
                principals=principals,
                not_principal=not_principal,
                actions=actions,
                not_action=not_action,
                conditions=cond_text,
                condition_keys=tuple(sorted(set(keys))),
                resource_ok=ok,
                caveats=tuple(caveats),
            )
        )
    return KeyPolicy(key, tuple(out), tuple(top))


# ---- matching -------------------------------------------------------------------------------

_pattern_cache: dict[str, re.Pattern[str]] = {}


def action_matches(pattern: str, action: str) -> bool:
    """IAM action matching: ``*`` and ``?`` wildcards, case-insensitive."""
    rx = _pattern_cache.get(pattern)
    if rx is None:
        rx = re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern) + r"\Z", re.I)
        _pattern_cache[pattern] = rx
    return rx.match(action) is not None


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


def evaluate(
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
