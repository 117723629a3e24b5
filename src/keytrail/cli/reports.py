"""keytrail usage | who-uses | keys | principals: the reports."""

from __future__ import annotations

from typing import Any

import click

from keytrail.analysis import keys_report, principals_report, usage, who_uses
from keytrail.analysis.key_names import meaning, no_calls
from keytrail.analysis.sessions import who_uses_by_person
from keytrail.analysis.usage import as_dicts
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
from keytrail.cli.writing import emit, write_text
from keytrail.render import Column, render, safe

COUNT_COLUMNS = [
    Column("encrypt", "encrypt", True),
    Column("decrypt", "decrypt", True),
    Column("sign", "sign", True),
    Column("admin", "admin", True),
    Column("denied", "denied", True),
]
USAGE_COLUMNS = [
    Column("key", "key"),
    Column("principal", "principal"),
    Column("principal_type", "type"),
    *COUNT_COLUMNS,
    Column("first_seen", "first seen"),
    Column("last_seen", "last seen"),
]
WHO_USES_COLUMNS = [
    Column("principal", "principal"),
    Column("principal_type", "type"),
    *COUNT_COLUMNS,
    Column("first_seen", "first seen"),
    Column("last_seen", "last seen"),
    Column("via", "via"),
    Column("sessions", "sessions"),
    Column("resources", "resources"),
    Column("source_ips", "source IPs"),
]
PERSON_COLUMNS = [
    Column("person", "person"),
    Column("basis", "found by"),
    Column("principals", "principals"),
    *COUNT_COLUMNS,
    Column("first_seen", "first seen"),
    Column("last_seen", "last seen"),
    Column("chains", "role chains"),
    Column("sessions", "sessions"),
]
KEYS_COLUMNS = [
    Column("key", "key"),
    Column("manager", "manager"),
    Column("state", "state"),
    Column("aliases", "aliases"),
    Column("crypto_calls", "crypto calls", True),
    Column("principals", "principals", True),
    Column("admin", "admin", True),
    Column("denied", "denied", True),
    Column("first_use", "first use"),
    Column("last_use", "last use"),
]
PRINCIPALS_COLUMNS = [
    Column("principal", "principal"),
    Column("principal_type", "type"),
    Column("keys", "keys", True),
    *COUNT_COLUMNS,
    Column("first_seen", "first seen"),
    Column("last_seen", "last seen"),
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
        rows = usage(loaded.store, scope.filters(window, keys, principal))
        data = [{k: v for k, v in r.items() if k not in _DETAIL_COLUMNS} for r in as_dicts(rows)]
        emit(data, USAGE_COLUMNS, output)
        return exit_code(loaded)


@command("who-uses")
@click.argument("key", callback=key_name)
@input_options
@filter_options
@click.option("--principal", default=None, help=PRINCIPAL_HELP)
@click.option("--by", type=click.Choice(["principal", "person"]), default="principal", show_default=True,
              help="One row per principal, or per person behind the role sessions (Identity Center, AssumeRole chains).")
@output_options
def who_uses_command(key: str, inputs: Inputs, window: Window, scope: Scope, principal: str | None, by: str,
                     output: Output) -> int:
    """Who uses KEY (key id, key ARN, alias name or alias ARN): one row per principal (or person), per key it meant."""
    with loaded_store(inputs, inputs.source_options(window.since, window.until)) as loaded:
        (named,) = scope.checked(loaded.store, (key,))  # a KEY the store does not know is an error
        filters = scope.filters(window, principal=principal)
        columns = WHO_USES_COLUMNS
        if by == "person":
            rows: list[Any] = who_uses_by_person(loaded.store, key, filters)
            columns = PERSON_COLUMNS
        else:
            rows = who_uses(loaded.store, key, filters)
        data = as_dicts(rows)
        said = []  # the answer in words, before the tables
        if len(named) > 1:
            said.append(f"{key.strip()} means {len(named)} keys ({meaning(named)}): one table per key with calls; "
                        "narrow with --account or --key-region, or give a key's ARN")
        if not data:
            said.append(no_calls(loaded.store, key.strip(), named, scope.filters(window, principal=principal)))
        _write_who_uses(key, data, columns, output, said, inputs.quiet)
        return exit_code(loaded)


def _write_who_uses(key: str, data: list[dict[str, Any]], columns: list[Column], output: Output, said: list[str],
                    quiet: bool) -> None:
    """The tables (one per key) with what is said first; JSON and CSV hold the rows only, what is said
    goes to stderr."""
    if output.fmt in ("json", "csv"):
        emit(data, columns, output)
        if not quiet:
            for line in said:
                click.echo(f"keytrail: note: {safe.escaped(line)}", err=True)
        return
    keys = sorted({r["key"] for r in data})
    if not keys:
        text = render([], columns, output.fmt)
    else:
        text = "\n".join(render([r for r in data if r["key"] == k], columns, output.fmt, k) for k in keys)
    shown = safe.markdown if output.fmt == "md" else safe.terminal
    first = "".join(f"{shown(line)}\n\n" for line in said)
    write_text((first[:-1] if text.startswith("\n") else first) + text, output.path)  # one blank line between


@command("keys")
@input_options
@filter_options
@output_options
def keys_command(inputs: Inputs, window: Window, scope: Scope, output: Output) -> int:
    """One row per key: customer or AWS managed, aliases, crypto calls, principals, first/last use."""
    with loaded_store(inputs, inputs.source_options(window.since, window.until)) as loaded:
        scope.checked(loaded.store)
        emit(as_dicts(keys_report(loaded.store, scope.filters(window))), KEYS_COLUMNS, output)
        return exit_code(loaded)


@command("principals")
@input_options
@filter_options
@output_options
def principals_command(inputs: Inputs, window: Window, scope: Scope, output: Output) -> int:
    """One row per principal across keys."""
    with loaded_store(inputs, inputs.source_options(window.since, window.until)) as loaded:
        scope.checked(loaded.store)
        emit(as_dicts(principals_report(loaded.store, scope.filters(window))), PRINCIPALS_COLUMNS, output)
        return exit_code(loaded)
