"""A key policy document checked against AWS KMS's rules before anyone sends it.

From the KMS Developer Guide ("Key policy format", "Elements in a key policy", "AWS KMS condition
keys") and the PutKeyPolicy API reference: at most 32,768 bytes; only printable ASCII, Latin-1,
tab, line feed and carriage return; ``Version`` 2012-10-17; at least one statement, each with
``Effect`` (Allow or Deny), ``Principal``, ``Action`` and ``Resource``; ``Sid`` values unique;
no ``ForAllValues`` with ``kms:EncryptionContext:`` (KMS refuses it: OverlyPermissiveCondition);
no ``"*"`` principal in an Allow without a condition. And the lockout rule: some unconditional
Allow must keep ``kms:PutKeyPolicy`` for the key's account (or a named administrator) -- the
lockout safety check refuses a policy that would stop its caller from changing it again.
"""

from __future__ import annotations

import re
from typing import Any

from keytrail.analysis.policy import DENY, Caller, evaluate, parse_policy, policy_account
from keytrail.i18n import _

MAX_BYTES = 32768
_CHARS = re.compile(r"[^\t\n\r\x20-\x7e\xa0-\xff]")


def problems(key: str, text: str, administrators: list[str] | None = None) -> list[str]:  # long: the rules one after another, as the docstring lists them
    """What would make AWS KMS refuse ``text`` as ``key``'s policy, or lock the key; [] when nothing."""
    import orjson

    out: list[str] = []
    size = len(text.encode("utf-8"))
    if size > MAX_BYTES:
        out.append(_("{size} bytes: a key policy holds at most {max}").format(size=size, max=MAX_BYTES))
    doc = orjson.loads(text)
    bad = _CHARS.search(text) or next(filter(None, (_CHARS.search(v) for v in _strings(doc))), None)
    if bad:
        out.append(_("character {char}: a key policy holds printable ASCII and Latin-1 only").format(
            char=f"U+{ord(bad.group()):04X}"))
    if not isinstance(doc, dict) or doc.get("Version") != "2012-10-17":
        return [*out, _("Version is not 2012-10-17")]
    statements = doc.get("Statement")
    if not isinstance(statements, list) or not statements:
        return [*out, _("no statement")]
    sids: list[Any] = []
    for i, st in enumerate(statements, 1):
        if not isinstance(st, dict):
            out.append(_("statement {n} is not an object").format(n=i))
            continue
        if st.get("Effect") not in ("Allow", "Deny"):
            out.append(_("statement {n}: Effect is neither Allow nor Deny").format(n=i))
        for element in ("Principal", "Action", "Resource"):
            if element not in st and f"Not{element}" not in st:
                out.append(_("statement {n}: no {element}").format(n=i, element=element))
        if "Sid" in st:
            sids.append(st["Sid"])
        cond = st.get("Condition") or {}
        for op, entries in cond.items() if isinstance(cond, dict) else ():
            if op.startswith("ForAllValues:") and any(str(k).lower().startswith("kms:encryptioncontext:") for k in entries):
                out.append(_("statement {n}: ForAllValues with kms:EncryptionContext: (KMS refuses it)").format(n=i))
        if st.get("Effect") == "Allow" and st.get("Principal") in ("*", {"AWS": "*"}) and not cond:
            out.append(_("statement {n}: every principal allowed without a condition").format(n=i))
    if len(set(map(str, sids))) != len(sids):
        out.append(_("two statements share a Sid"))
    if not _keeps_administration(key, text, administrators or []):
        out.append(_("no unconditional Allow keeps kms:PutKeyPolicy for the key's account or an administrator"))
    return out


def _strings(value: Any) -> list[str]:
    """Every string in a JSON value (keys too): what an escape in the text stands for counts."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (*_strings(k), *_strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def _keeps_administration(key: str, text: str, administrators: list[str]) -> bool:
    account = key.split(":")[4]
    policy = parse_policy(key, text)
    root = Caller(f"arn:{key.split(':')[1]}:iam::{account}:root", "Root", account)
    if evaluate(policy, [], root, "kms:PutKeyPolicy").decision == DENY:
        return False  # a Deny that takes PutKeyPolicy from the account's root user
    for st in policy.statements:
        if st.effect != "Allow" or st.conditional or st.not_principal or not st.allows_action("kms:PutKeyPolicy"):
            continue
        for p in st.principals:
            if p.kind == "AWS" and (policy_account(p.value) == account or p.value in administrators):
                return True
    return False
