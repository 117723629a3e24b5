"""An independent check of a proposed key policy: it reads the policy JSON and the archive's raw
records (or gen_trail's truth) with code of its own -- none of keytrail's evaluator -- so that
``suggest-policy``'s own replay is not what vouches for it.

What it knows of policies is deliberately small: Allow and Deny statements with ``Principal``
(``AWS`` / ``Service``, a string or a list), ``Action`` (a string or a list, ``*`` and ``?``
wildcards), and the condition operators ``suggest-policy`` writes (StringEquals, StringLike,
ArnEquals, Bool) over the keys it writes (kms:ViaService, kms:EncryptionContext:KEY,
aws:PrincipalArn, kms:GrantIsForAWSResource). Anything else makes the check fail loudly.
"""

from __future__ import annotations

import fnmatch
import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

CLASSES = {
    "encrypt": {"kms:Encrypt", "kms:GenerateDataKey", "kms:GenerateDataKeyWithoutPlaintext", "kms:GenerateDataKeyPair",
                "kms:GenerateDataKeyPairWithoutPlaintext", "kms:ReEncryptTo"},
    "decrypt": {"kms:Decrypt", "kms:ReEncryptFrom"},
    "sign": {"kms:Sign", "kms:Verify", "kms:GenerateMac", "kms:VerifyMac", "kms:DeriveSharedSecret"},
}  # fmt: skip
CRYPTO = set().union(*CLASSES.values())
KNOWN_KEYS = ("kms:viaservice", "kms:encryptioncontext:", "aws:principalarn", "kms:grantisforawsresource")


def as_list(v: Any) -> list[Any]:
    return v if isinstance(v, list) else [v]


def principals(st: dict[str, Any]) -> set[str]:
    """The principals a statement names (none for a NotPrincipal statement)."""
    if "NotPrincipal" in st:
        return set()
    p = st["Principal"]
    assert isinstance(p, dict), st
    return {v for kind in ("AWS", "Service") for v in as_list(p.get(kind, []))}


def actions(st: dict[str, Any]) -> list[str]:
    assert "NotAction" not in st
    return as_list(st["Action"])


def allows(st: dict[str, Any], action: str) -> bool:
    return any(fnmatch.fnmatchcase(action.lower(), a.lower()) for a in actions(st))


def condition_holds(cond: dict[str, Any], ctx: dict[str, Any]) -> bool:
    """Every entry must hold; ``ctx`` maps lower-cased condition keys to the request's values."""
    for op, entries in cond.items():
        assert op in ("StringEquals", "StringLike", "ArnEquals", "Bool"), op
        for key, wanted in entries.items():
            k = key.lower()
            assert k.startswith(KNOWN_KEYS), key
            have = ctx.get(k)
            if have is None:
                return False
            ok = {
                "StringEquals": lambda w, h: w == h,
                "ArnEquals": lambda w, h: w == h,
                "StringLike": lambda w, h: fnmatch.fnmatchcase(h, w),
                "Bool": lambda w, h: str(w).lower() == str(h).lower(),
            }[op]
            if not any(ok(w, have) for w in as_list(wanted)):
                return False
    return True


def policy_principal(truth_principal: str) -> str:
    if truth_principal.startswith("AWSAccount:"):
        return f"arn:aws:iam::{truth_principal.split(':')[1]}:root"
    return truth_principal


def allows_class(policy: dict[str, Any], principal: str, cls: str) -> bool:
    """Some Allow statement names the principal and allows an action of the class (conditions
    are checked against the records, in ``records_allowed``)."""
    return any(
        st["Effect"] == "Allow" and principal in principals(st) and any(allows(st, a) for a in CLASSES[cls])
        for st in policy["Statement"]
    )


def crypto_principals(policy: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Every principal an Allow statement gives a cryptographic action, with those statements."""
    out: dict[str, list[dict[str, Any]]] = {}
    for st in policy["Statement"]:
        if st["Effect"] == "Allow" and any(allows(st, a) for a in CRYPTO):
            for p in principals(st):
                out.setdefault(p, []).append(st)
    return out


def keeps_put_key_policy(policy: dict[str, Any], account: str) -> bool:
    root = f"arn:aws:iam::{account}:root"
    allowed = any(
        st["Effect"] == "Allow" and "Condition" not in st and root in principals(st) and allows(st, "kms:PutKeyPolicy")
        for st in policy["Statement"]
    )
    denied = any(st["Effect"] == "Deny" and allows(st, "kms:PutKeyPolicy") for st in policy["Statement"])
    return allowed and not denied


# ---- raw records ---------------------------------------------------------------------------------


def records(archive: Path) -> Iterator[dict[str, Any]]:
    for path in sorted((archive / "AWSLogs").rglob("*.json*")):
        if "CloudTrail-Digest" in path.parts:
            continue
        data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        yield from json.loads(data)["Records"]


def named_caller(r: dict[str, Any]) -> str | None:
    """The caller a record names in full (None for a hidden AWSAccount copy)."""
    ui = r.get("userIdentity") or {}
    t = ui.get("type")
    if t == "AssumedRole":
        return ui["sessionContext"]["sessionIssuer"]["arn"]  # type: ignore[no-any-return]
    if t in ("IAMUser", "FederatedUser", "Root"):
        return ui["arn"]  # type: ignore[no-any-return]
    if t == "AWSService":
        return ui["invokedBy"]  # type: ignore[no-any-return]
    return None


def request_context(r: dict[str, Any], caller: str) -> dict[str, Any]:
    ui = r.get("userIdentity") or {}
    ctx: dict[str, Any] = {}
    via = ui.get("invokedBy")
    if ui.get("type") != "AWSService" and via and via.endswith(".amazonaws.com") and via != "internal.amazonaws.com":
        ctx["kms:viaservice"] = f"{via.split('.')[0]}.{r['awsRegion']}.amazonaws.com"
    for k, v in ((r.get("requestParameters") or {}).get("encryptionContext") or {}).items():
        ctx[f"kms:encryptioncontext:{k.lower()}"] = v
    if caller.startswith("arn:"):
        ctx["aws:principalarn"] = caller
    return ctx


def records_allowed(policy: dict[str, Any], key: str, archive: Path) -> list[str]:
    """Successful non-ReEncrypt cryptographic calls on ``key`` by a named caller that no Allow
    statement allows with its conditions holding: [] when every one is allowed."""
    failures = []
    for r in records(archive):
        if r.get("eventSource") != "kms.amazonaws.com" or r.get("errorCode") or r["eventName"] == "ReEncrypt":
            continue
        action = f"kms:{r['eventName']}"
        if action not in CRYPTO or key not in {x.get("ARN") for x in r.get("resources") or []}:
            continue
        caller = named_caller(r)
        if caller is None:
            continue
        ctx = request_context(r, caller)
        if not any(
            st["Effect"] == "Allow" and caller in principals(st) and allows(st, action)
            and condition_holds(st.get("Condition", {}), ctx)
            for st in policy["Statement"]
        ):
            failures.append(f"{r['eventID']} {caller} {action} {ctx}")
    return failures
