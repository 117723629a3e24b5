"""A proposed key policy explained in Markdown (``keytrail suggest-policy --explain``), from
``Suggestion.as_dict()``; every value that may come from a log or an inventory is escaped
(``render.safe.markdown``)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from keytrail.render import safe

LOCKOUT = (
    "AWS warns that a key policy without the account's access can make the key unmanageable: the account "
    "keeps kms:PutKeyPolicy and the other management actions (its IAM policies decide who may use them), and "
    "PutKeyPolicy's lockout safety check refuses a policy that would lock out the principal that sends it."
)


def apply_command(key: str, path: str | None) -> str:
    import shlex

    return (f"aws kms put-key-policy --key-id {shlex.quote(key)} --policy-name default "
            f"--policy {shlex.quote('file://' + (path or 'policy.json'))}")  # fmt: skip


def _md(value: object) -> str:
    return safe.markdown(str(value))


def _table(headers: list[str], rows: Iterable[list[str]]) -> list[str]:
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out + [""]


def _changes(title: str, changes: list[dict[str, Any]], empty: str) -> list[str]:
    lines = [f"## {title}", ""]
    if not changes:
        return [*lines, empty, ""]
    return lines + _table(["principal", "actions", "why"],
                          ([_md(c["principal"]), _md(", ".join(c["actions"])), _md(c["why"])] for c in changes))


def markdown(s: dict[str, Any], output: str | None = None) -> str:  # long: the explanation's sections in reading order
    """The whole explanation of one proposal (``Suggestion.as_dict()``) as Markdown."""
    w, r = s["window"], s["replay"]
    lines = [f"# Tighten {_md(s['key'])}", ""]
    lines += [
        f"- Window: {_md(w['start'] or '?')} to {_md(w['end'] or '?')} ({_md(w['days'])} days); the key's "
        f"successful calls from {_md(w['first_use'] or '-')} to {_md(w['last_use'] or '-')}",
        f"- Replay: {r['calls']} call(s) of the window against the proposed policy and the inventory's grants: "
        f"**{r['denied']} denied**, {r['allowed']} allowed by a statement or grant, {r['delegated']} through the "
        f"account (IAM policies decide), {r['unverified']} not verifiable",
        f"- Current policy: {'from the inventory taken ' + _md(s['current']['inventory_taken_at']) if s['current']['inventory_taken_at'] else 'unknown (no inventory)'}",
        f"- Apply with: `{apply_command(s['key'], output)}`" if not s["problems"] else
        "- **Not to be applied**: " + _md("; ".join(s["problems"])),
        "", LOCKOUT, "",
    ]
    if r["denied_calls"]:
        lines += ["## Calls the proposed policy would deny", ""]
        lines += _table(["principal", "action", "calls", "first", "event id", "why"], (
            [_md(i["principal"]), _md(i["action"]), str(i["calls"]), _md(i["first"] or ""), _md(i["event_id"] or ""),
             _md(i["reason"])] for i in r["denied_calls"]))
    if s["warnings"]:
        lines += ["## What the evidence cannot show", ""]
        lines += [f"- **{_md(x['kind'])}**: {_md(x['message'])}" for x in s["warnings"]] + [""]
    lines += ["## Statements", ""]
    for n in s["statements"]:
        lines += [f"### {_md(n['sid'])}", "", _md(n["why"]), ""]
        lines += [f"- {_md(c)}" for c in n["conditions"]] + ([""] if n["conditions"] else [])
    lines += _changes("Removed", s["removed"], "Nothing (no current policy to compare with)." if not s["current"]["inventory_taken_at"] else "Nothing.")
    lines += _changes("Added", s["added"], "Nothing.")
    lines += _changes("Kept", s["kept"], "Nothing.")
    lines += ["## Principals that lose access", ""]
    lines += [f"- {_md(p)}" for p in s["losing_access"]] or ["Nobody loses every cryptographic action."]
    lines += ["", "## Grants not used in the window", ""]
    if s["unused_grants"]:
        lines += _table(["grant", "grantee", "operations", "retire (retiring principal)", "revoke (key administrator)"], (
            [_md(g["grant_id"]), _md(g["grantee"]), _md(", ".join(g["operations"])), f"`{g['retire']}`", f"`{g['revoke']}`"]
            for g in s["unused_grants"]))
    else:
        lines += ["None.", ""]
    lines += ["## The proposed policy", "", "```json", _fence_safe(s["policy"]), "```", ""]
    return "\n".join(lines)


def _fence_safe(policy: dict[str, Any]) -> str:
    import orjson

    text = safe.json_text(orjson.dumps(policy, option=orjson.OPT_INDENT_2).decode())
    return text.replace("```", "\\u0060\\u0060\\u0060")
