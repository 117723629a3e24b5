"""keytrail usage | who-uses | keys | principals: the reports."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import click

from keytrail.analysis import Filters, keys_report, principals_report, usage, who_uses
from keytrail.analysis.key_names import meaning, no_calls
from keytrail.analysis.principal_facts import principal_details, resource_groups
from keytrail.analysis.sessions import who_uses_by_person
from keytrail.analysis.usage import as_dicts, principals_count, usage_counts
from keytrail.cli.exits import command
from keytrail.cli.loading import exit_code, loaded_store
from keytrail.cli.options import (
    KEY_HELP,
    PRINCIPAL_HELP,
    Inputs,
    Output,
    Scope,
    Window,
    filter_options,
    input_options,
    key_name,
    output_options,
)
from keytrail.cli.writing import emit, screen_for, write_text
from keytrail.i18n import N_, _
from keytrail.render import Column, render, safe
from keytrail.render.grid import Screen
from keytrail.store import Store
from keytrail.times import maybe_iso

COUNT_COLUMNS = [
    Column("encrypt", N_("encrypt"), True),
    Column("decrypt", N_("decrypt"), True),
    Column("sign", N_("sign"), True),
    Column("admin", N_("admin"), True),
    Column("denied", N_("denied"), True),
]
USAGE_COLUMNS = [
    Column("key", N_("key")),
    Column("principal", N_("principal")),
    Column("principal_type", N_("type")),
    *COUNT_COLUMNS,
    Column("first_seen", N_("first seen")),
    Column("last_seen", N_("last seen")),
]
WHO_USES_COLUMNS = [
    Column("principal", N_("principal")),
    Column("principal_type", N_("type")),
    *COUNT_COLUMNS,
    Column("first_seen", N_("first seen")),
    Column("last_seen", N_("last seen")),
    Column("via", N_("via")),
    Column("sessions", N_("sessions")),
    Column("resources", N_("resources")),
    Column("source_ips", N_("source IPs")),
]
PERSON_COLUMNS = [
    Column("person", N_("person")),
    Column("basis", N_("found by")),
    Column("principals", N_("principals")),
    *COUNT_COLUMNS,
    Column("first_seen", N_("first seen")),
    Column("last_seen", N_("last seen")),
    Column("chains", N_("role chains")),
    Column("sessions", N_("sessions")),
]
KEYS_COLUMNS = [
    Column("key", N_("key")),
    Column("manager", N_("manager")),
    Column("state", N_("state")),
    Column("aliases", N_("aliases")),
    Column("crypto_calls", N_("crypto calls"), True),
    Column("principals", N_("principals"), True),
    Column("admin", N_("admin"), True),
    Column("denied", N_("denied"), True),
    Column("first_use", N_("first use")),
    Column("last_use", N_("last use")),
]
PRINCIPALS_COLUMNS = [
    Column("principal", N_("principal")),
    Column("principal_type", N_("type")),
    Column("keys", N_("keys"), True),
    *COUNT_COLUMNS,
    Column("first_seen", N_("first seen")),
    Column("last_seen", N_("last seen")),
]


_DETAIL_COLUMNS = ("via", "sessions", "resources", "source_ips")


@command("usage")
@input_options
@filter_options
@click.option("--key", "keys", multiple=True, help=KEY_HELP)
@click.option("--principal", default=None, help=PRINCIPAL_HELP)
@output_options
def usage_command(inputs: Inputs, window: Window, scope: Scope, keys: tuple[str, ...], principal: str | None,
                  output: Output) -> int:
    """One row per (key, principal): encrypt, decrypt, sign, admin and denied calls, first/last seen."""
    with loaded_store(inputs, inputs.source_options(window.since, window.until)) as loaded:
        scope.checked(loaded.store, keys)
        filters = scope.filters(window, keys, principal)
        screen = screen_for(output)
        total = sum(usage_counts(loaded.store, filters).values()) if screen is not None else 0
        # on a terminal, the rows with the most calls (only those are read) and a line counting the rest
        rows = usage(loaded.store, filters, limit=TABLE_ROWS) if total > TABLE_ROWS else usage(loaded.store, filters)
        data = [{k: v for k, v in r.items() if k not in _DETAIL_COLUMNS} for r in as_dicts(rows)]
        if screen is None:
            emit(data, USAGE_COLUMNS, output)
        else:
            from keytrail.render.views import usage_text

            aliases = {k.key: k.aliases for k in keys_report(loaded.store, filters)}
            write_text(usage_text(data, aliases, screen) + more_rows(total, len(data), screen, MOST_CALLS), output.path)
        return exit_code(loaded)


@command("who-uses")
@click.argument("key", callback=key_name)
@input_options
@filter_options
@click.option("--principal", default=None, help=PRINCIPAL_HELP)
@click.option("--by", type=click.Choice(["principal", "person"]), default="principal", show_default=True,
              help="One row per principal, or per person behind the role sessions (Identity Center, AssumeRole chains).")
@click.option("--details", is_flag=True,
              help="On a terminal: each principal's services (via), sessions, resources, source IPs and user agents.")
@click.option("--wide", is_flag=True,
              help="On a terminal: every column in one wide table, one line per row (as when not writing to a terminal).")
@output_options
def who_uses_command(key: str, inputs: Inputs, window: Window, scope: Scope, principal: str | None, by: str,
                     details: bool, wide: bool, output: Output) -> int:
    """Who uses KEY (key id, key ARN, alias name or alias ARN): one row per principal (or person), per key it meant.

    On a terminal the answer comes in words first -- the key, the window, one line per principal --
    then a table that fits the terminal; --details adds each principal's sessions, resources, IPs
    and user agents, --wide shows the one wide table."""
    with loaded_store(inputs, inputs.source_options(window.since, window.until)) as loaded:
        (named,) = scope.checked(loaded.store, (key,))  # a KEY the store does not know is an error
        filters = scope.filters(window, principal=principal)
        columns = WHO_USES_COLUMNS
        if by == "person":
            rows: list[Any] = who_uses_by_person(loaded.store, key, filters)
            columns = PERSON_COLUMNS
        else:
            rows = who_uses(loaded.store, key, filters, top_per_key=_bounded(loaded.store, key, filters, output, wide))
        data = as_dicts(rows)
        said = []  # the answer in words, before the tables
        if len(named) > 1:
            said.append(_("{key} means {n} keys ({meaning}): one table per key with calls; narrow with --account or "
                          "--key-region, or give a key's ARN").format(key=key.strip(), n=len(named), meaning=meaning(named)))
        if not data:
            said.append(no_calls(loaded.store, key.strip(), named, scope.filters(window, principal=principal)))
        screen = None if wide else screen_for(output)
        if screen is None:
            _write_who_uses(key, data, columns, output, said, inputs.quiet)
        elif not data:
            from keytrail.render.flow import flow, words

            lines = [text for line in said for text in flow([words(safe.terminal(line))], screen.width, screen.color)]
            write_text("".join(f"{line}\n" for line in lines), output.path)
        else:
            counts = usage_counts(loaded.store, replace(filters, keys=(key,))) if by != "person" else {}
            rest = "".join(more_rows(n, TABLE_ROWS, screen, MOST_CALLS, f"{safe.terminal(k)}: ")
                           for k, n in sorted(counts.items()) if n > TABLE_ROWS)  # fmt: skip
            write_text(who_uses_on_screen(loaded.store, key, filters, data, by, details, screen) + rest, output.path)
        return exit_code(loaded)


def _bounded(store: Store, key: str, filters: Filters, output: Output, wide: bool) -> int | None:
    """TABLE_ROWS when who-uses goes to a terminal and a key it means has more principals than
    that (only those with the most calls are read), else None (every principal)."""
    if wide or screen_for(output) is None:
        return None
    counts = usage_counts(store, replace(filters, keys=(key,)))
    return TABLE_ROWS if any(n > TABLE_ROWS for n in counts.values()) else None


def _write_who_uses(key: str, data: list[dict[str, Any]], columns: list[Column], output: Output, said: list[str],
                    quiet: bool) -> None:
    """The tables (one per key) with what is said first; JSON and CSV hold the rows only, what is said
    goes to stderr."""
    if output.fmt in ("json", "csv"):
        emit(data, columns, output)
        if not quiet:
            for line in said:
                click.echo("keytrail: " + _("note: {note}").format(note=safe.escaped(line)), err=True)
        return
    keys = sorted({r["key"] for r in data})
    if not keys:
        text = render([], columns, output.fmt)
    else:
        text = "\n".join(render([r for r in data if r["key"] == k], columns, output.fmt, k) for k in keys)
    shown = safe.markdown if output.fmt == "md" else safe.terminal
    first = "".join(f"{shown(line)}\n\n" for line in said)
    write_text((first[:-1] if text.startswith("\n") else first) + text, output.path)  # one blank line between


def who_uses_on_screen(store: Store, key: str, filters: Filters, data: list[dict[str, Any]], by: str, details: bool,
                       screen: Screen) -> str:
    """who-uses laid out for a terminal: the answer in words, then the table (or the people)."""
    from keytrail.render.answer import Facts, who_uses_text
    from keytrail.render.views import person_text

    if by == "person":
        return person_text(key, data, screen)
    one_key = replace(filters, keys=(key,))
    facts = Facts(
        keys={k["key"]: k for k in as_dicts(keys_report(store, one_key))},
        groups=resource_groups(store, key, filters),
        details=principal_details(store, key, filters) if details else None,
        since=maybe_iso(filters.since),
        until=maybe_iso(filters.until),
    )
    return who_uses_text(key, data, facts, screen)


@command("keys")
@input_options
@filter_options
@output_options
def keys_command(inputs: Inputs, window: Window, scope: Scope, output: Output) -> int:
    """One row per key: customer or AWS managed, aliases, crypto calls, principals, first/last use."""
    with loaded_store(inputs, inputs.source_options(window.since, window.until)) as loaded:
        scope.checked(loaded.store)
        data = as_dicts(keys_report(loaded.store, scope.filters(window)))
        screen = screen_for(output)
        if screen is None:
            emit(data, KEYS_COLUMNS, output)
        else:
            from keytrail.render.views import keys_text

            shown = sorted(data, key=lambda r: -(r["crypto_calls"] + r["admin"] + r["denied"]))[:TABLE_ROWS]
            write_text(keys_text(shown, screen) + more_rows(len(data), len(shown), screen, MOST_CALLS), output.path)
        return exit_code(loaded)


@command("principals")
@input_options
@filter_options
@output_options
def principals_command(inputs: Inputs, window: Window, scope: Scope, output: Output) -> int:
    """One row per principal across keys."""
    with loaded_store(inputs, inputs.source_options(window.since, window.until)) as loaded:
        scope.checked(loaded.store)
        filters = scope.filters(window)
        screen = screen_for(output)
        total = principals_count(loaded.store, filters) if screen is not None else 0
        # on a terminal, the principals with the most calls (only those are read) and a line counting the rest
        top = TABLE_ROWS if total > TABLE_ROWS else None
        data = as_dicts(principals_report(loaded.store, filters, top=top))
        if screen is None:
            emit(data, PRINCIPALS_COLUMNS, output)
        else:
            from keytrail.render.views import principals_text

            write_text(principals_text(data, screen) + more_rows(total, len(data), screen, MOST_CALLS), output.path)
        return exit_code(loaded)


TABLE_ROWS = 200  # rows a report shows on a terminal; the rest are counted under it (csv and json have every row)
MOST_CALLS = N_("with the most calls")


def more_rows(total: int, shown: int, screen: Screen, which: str, where: str = "") -> str:
    """The line under a terminal table that shows ``shown`` of ``total`` rows: how many more, and
    how to get them all ("" when every row is shown)."""
    if total <= shown:
        return ""
    from keytrail.render.flow import flow, words

    text = where + _("... and {more:,} more row(s), {total:,} in all (the {shown:,} {which} are shown): --format csv or "
                     "--format json writes every row").format(more=total - shown, total=total, shown=shown, which=_(which))
    return "".join(f"{line}\n" for line in flow([words(text)], screen.width, screen.color))
