"""Key policies and grants as documents: parsing a key policy's statements and their principals,
actions and conditions (what ``analysis.policy`` evaluates)."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

import orjson

from keytrail.errors import PolicyError
from keytrail.i18n import _

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


def parse_policy(key: str, text: str | bytes) -> KeyPolicy:  # long: one statement's elements after another, as the policy grammar lists them
    """A key policy document (JSON text) as statements; ``PolicyError`` when it is not one."""
    try:
        doc = orjson.loads(text)
    except orjson.JSONDecodeError as e:
        raise PolicyError(key, _("not JSON ({reason})").format(reason=e)) from e
    if not isinstance(doc, dict):
        raise PolicyError(key, _("not a JSON object"))
    raw = doc.get("Statement")
    stmts = raw if isinstance(raw, list) else [raw] if isinstance(raw, dict) else None
    if stmts is None:
        raise PolicyError(key, _("no Statement"))
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


@functools.lru_cache(maxsize=65536)
def action_matches(pattern: str, action: str) -> bool:
    """IAM action matching: ``*`` and ``?`` wildcards, case-insensitive."""
    rx = _pattern_cache.get(pattern)
    if rx is None:
        rx = re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern) + r"\Z", re.I)
        _pattern_cache[pattern] = rx
    return rx.match(action) is not None
