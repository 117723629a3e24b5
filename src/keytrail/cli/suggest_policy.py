"""keytrail suggest-policy: a least-privilege key policy proposed from the calls of a window."""

from __future__ import annotations

import shutil
import sys
from typing import Any

import click
import orjson

from keytrail.analysis.tighten import MIN_DAYS, SuggestOptions, suggest_policy
from keytrail.cli.exits import EXIT_VIOLATIONS, command
from keytrail.cli.loading import exit_code, loaded_store
from keytrail.cli.options import Inputs, Scope, Window, filter_options, input_options, key_name
from keytrail.cli.writing import write_text
from keytrail.i18n import _, local_iso
from keytrail.render import safe
from keytrail.render.explain import LOCKOUT, apply_command, markdown

FORMATS = ("policy", "json")


@command("suggest-policy")
@click.argument("key", callback=key_name)
@input_options
@filter_options
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="policy", show_default=True,
              help="policy: the key policy document (what `aws kms put-key-policy --policy file://...` takes); "
                   "json: {key, window, policy, removed, kept, added, replay, warnings, ...}.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Write to FILE instead of stdout.")
@click.option("--explain", is_flag=True, help="Say what changed and why as Markdown on stderr (instead of the summary).")
@click.option("--no-conditions", is_flag=True, help="No conditions from the evidence (kms:ViaService, encryption context).")
@click.option("--force", is_flag=True,
              help="Write the policy even when the replay finds calls of the window it would deny, or KMS would refuse it.")
@click.option("--min-days", type=click.FloatRange(min=0), default=MIN_DAYS, show_default=True,
              help="Warn when the window is shorter than this many days.")
def suggest_policy_command(key: str, inputs: Inputs, window: Window, scope: Scope, fmt: str, output: str | None,
                           explain: bool, no_conditions: bool, force: bool, min_days: float) -> int:
    """A least-privilege key policy for KEY from its use in the window: the account keeps administration,
    cryptographic actions go only to the principals that used them. Every successful call of the window
    is replayed against it first; when one would be denied nothing is written (exit 1) unless --force."""
    since, until = window.bounds()
    options = SuggestOptions(since, until, not no_conditions, min_days, scope.account, scope.key_region)
    with loaded_store(inputs, inputs.source_options(window.since, window.until)) as loaded:
        s = suggest_policy(loaded.store, key, options)
        data = s.as_dict()
        if explain:
            click.echo(markdown(data, output), err=True)
        elif not inputs.quiet:
            for line in summary_lines(data, output, written=s.safe or force):
                say(line)
        if not s.safe and not force:
            why = []
            if s.replay.denied:
                why.append(_("it would deny {n} successful call(s) of the window").format(n=s.replay.denied))
            if s.problems:
                why.append(_("AWS KMS would refuse it ({problems})").format(problems=_("; ").join(s.problems)))
            say(_("error: the proposed policy for {key}: {reasons}: nothing written (--force writes it anyway)").format(
                key=safe.escaped(s.key), reasons=why[0] if len(why) == 1 else _("{first} and {second}").format(
                    first=why[0], second=why[1])))
            return EXIT_VIOLATIONS
        text = s.text if fmt == "policy" else orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n"
        write_text(safe.json_text(text), output, _("the policy"))
        return exit_code(loaded)
NOTES = frozenset({"not-evaluated", "kms-itself"})  # said as notes: true of every proposal, or harmless


def summary_lines(s: dict[str, Any], output: str | None = None, written: bool = True, limit: int = 8) -> list[str]:  # long: one line per part of the proposal, each shortened the same way
    """What ``suggest-policy`` says on stderr: the changes, what the evidence cannot show, then the
    replay (the last lines a terminal shows) and how to apply the policy."""
    r = s["replay"]
    out = [_("{key}: {n} statement(s)").format(key=safe.escaped(s["key"]), n=len(s["policy"]["Statement"]))]

    def listed(label: str, items: list[str]) -> None:
        out.extend(f"{label}: {safe.escaped(item)}" for item in items[:limit])
        if len(items) > limit:
            out.append(_("{label}: ... and {n} more (--explain shows all)").format(label=label, n=len(items) - limit))

    listed(_("removed"), [f"{c['principal']}: {', '.join(c['actions'])}" for c in s["removed"]])
    listed(_("added"), [f"{c['principal']}: {', '.join(c['actions'])}" for c in s["added"]])
    listed(_("loses access"), list(s["losing_access"]))
    listed(_("grant not used"), [f"{g['grant_id']} ({g['grantee']}): {g['revoke']}" for g in s["unused_grants"]])
    for w in s["warnings"]:
        message = safe.escaped(w["message"])
        out.append(_("note: {note}").format(note=message) if w["kind"] in NOTES else
                   _("warning: {message}").format(message=message))
    out.append(_("note: {note}").format(note=_(LOCKOUT)))
    replayed = _("replay of the window: {calls} call(s), {denied} denied, {allowed} allowed, {delegated} through the "
                 "account's IAM policies").format(**{k: r[k] for k in ("calls", "denied", "allowed", "delegated")})
    if r["unverified"]:
        replayed += _(", {n} not verifiable").format(n=r["unverified"])
    out.append(replayed)
    listed(_("would deny"), [_("{principal} {action} x{calls} (first {first}, {event_id}): {reason}").format(
        principal=i["principal"], action=i["action"], calls=i["calls"], first=local_iso(i["first"]),
        event_id=i["event_id"], reason=i["reason"]) for i in r["denied_calls"]])
    for p in s["problems"]:
        out.append(_("refused by KMS's rules: {problem}").format(problem=safe.escaped(p)))
    if written and not s["problems"]:
        out.append(_("apply with: {command}").format(command=safe.escaped(apply_command(s["key"], output))))
    return out


def say(line: str) -> None:
    """One line on stderr: wrapped to the terminal's width, continued lines indented, when stderr is one."""
    text = f"keytrail: {line}"
    if sys.stderr.isatty():
        from keytrail.render.width import wrap_prose

        # in display cells, so that Japanese text (two cells a character, no spaces) fits too
        width = max(40, shutil.get_terminal_size().columns - 1)
        text = "\n    ".join(wrap_prose(text, width, width - 4))
    click.echo(text, err=True)
