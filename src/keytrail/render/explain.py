"""A proposed key policy explained in Markdown (``keytrail suggest-policy --explain``), from
``Suggestion.as_dict()``; every value that may come from a log or an inventory is escaped
(``render.safe.markdown``)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from keytrail.i18n import N_, _, local_iso
from keytrail.render import safe

LOCKOUT = N_(
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


def _time(value: str | None, missing: str) -> str:
    return _md(local_iso(value) or missing)


def _changes(title: str, changes: list[dict[str, Any]], empty: str) -> list[str]:
    lines = [f"## {title}", ""]
    if not changes:
        return [*lines, empty, ""]
    return lines + _table([_("principal"), _("actions"), _("why")],
                          ([_md(c["principal"]), _md(", ".join(c["actions"])), _md(c["why"])] for c in changes))


def markdown(s: dict[str, Any], output: str | None = None) -> str:  # long: the explanation's sections in reading order
    """The whole explanation of one proposal (``Suggestion.as_dict()``) as Markdown."""
    w, r = s["window"], s["replay"]
    taken = s["current"]["inventory_taken_at"]
    lines = ["# " + _("Tighten {key}").format(key=_md(s["key"])), ""]
    lines += [
        "- " + _("Window: {start} to {end} ({days} days); the key's successful calls from {first} to {last}").format(
            start=_time(w["start"], "?"), end=_time(w["end"], "?"), days=_md(w["days"]),
            first=_time(w["first_use"], "-"), last=_time(w["last_use"], "-")),
        "- " + _("Replay: {calls} call(s) of the window against the proposed policy and the inventory's grants: "
                 "**{denied} denied**, {allowed} allowed by a statement or grant, {delegated} through the account "
                 "(IAM policies decide), {unverified} not verifiable").format(**{k: r[k] for k in (
                     "calls", "denied", "allowed", "delegated", "unverified")}),
        "- " + (_("Current policy: from the inventory taken {time}").format(time=_time(taken, "-")) if taken else
                _("Current policy: unknown (no inventory)")),
        "- " + _("Apply with: {command}").format(command=f"`{apply_command(s['key'], output)}`") if not s["problems"]
        else "- " + _("**Not to be applied**: {problems}").format(problems=_md(_("; ").join(s["problems"]))),
        "", _(LOCKOUT), "",
    ]
    if r["denied_calls"]:
        lines += ["## " + _("Calls the proposed policy would deny"), ""]
        lines += _table([_("principal"), _("action"), _("calls"), _("first"), _("event id"), _("why")], (
            [_md(i["principal"]), _md(i["action"]), str(i["calls"]), _time(i["first"], ""), _md(i["event_id"] or ""),
             _md(i["reason"])] for i in r["denied_calls"]))
    if s["warnings"]:
        lines += ["## " + _("What the evidence cannot show"), ""]
        lines += [f"- **{_md(x['kind'])}**: {_md(x['message'])}" for x in s["warnings"]] + [""]
    lines += ["## " + _("Statements"), ""]
    for n in s["statements"]:
        lines += [f"### {_md(n['sid'])}", "", _md(n["why"]), ""]
        lines += [f"- {_md(c)}" for c in n["conditions"]] + ([""] if n["conditions"] else [])
    nothing = _("Nothing.")
    lines += _changes(_("Removed"), s["removed"], nothing if taken else _("Nothing (no current policy to compare with)."))
    lines += _changes(_("Added"), s["added"], nothing)
    lines += _changes(_("Kept"), s["kept"], nothing)
    lines += ["## " + _("Principals that lose access"), ""]
    lines += [f"- {_md(p)}" for p in s["losing_access"]] or [_("Nobody loses every cryptographic action.")]
    lines += ["", "## " + _("Grants not used in the window"), ""]
    if s["unused_grants"]:
        lines += _table([_("grant"), _("grantee"), _("operations"), _("retire (retiring principal)"),
                         _("revoke (key administrator)")], (
            [_md(g["grant_id"]), _md(g["grantee"]), _md(", ".join(g["operations"])), f"`{g['retire']}`", f"`{g['revoke']}`"]
            for g in s["unused_grants"]))
    else:
        lines += [_("None."), ""]
    lines += ["## " + _("The proposed policy"), "", "```json", _fence_safe(s["policy"]), "```", ""]
    return "\n".join(lines)


def _fence_safe(policy: dict[str, Any]) -> str:
    import orjson

    text = safe.json_text(orjson.dumps(policy, option=orjson.OPT_INDENT_2).decode())
    return text.replace("```", "\\u0060\\u0060\\u0060")
