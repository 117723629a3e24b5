"""keytrail usage | who-uses | keys | principals: the reports."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click

from keytrail.analysis import keys_report, principals_report, usage, who_uses
from keytrail.analysis.usage import as_dicts
from keytrail.cli.common import (
    PRINCIPAL_HELP,
    emit,
    exit_code,
    fail,
    filter_options,
    key_name,
    loaded_store,
    make_filters,
    output_options,
    source_options,
    split_csv,
    write_text,
)
from keytrail.errors import KeytrailError
from keytrail.render import Column
from keytrail.sources.registry import SourceOptions

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


def _run(body: Callable[[], int]) -> None:
    try:
        code = body()
    except KeytrailError as e:
        code = fail(e)
    sys.exit(code)


def _opts(kw: dict[str, Any]) -> SourceOptions:
    return SourceOptions(
        kw["profile"], kw["aws_region"], split_csv(kw["accounts"]), split_csv(kw["regions"]), kw["since"], kw["until"]
    )


def _store(kw: dict[str, Any]) -> Any:
    return loaded_store(kw["sources"], kw["db"], kw["strict"], kw["quiet"], kw["workers"], _opts(kw))


def _filters(kw: dict[str, Any], keys: tuple[str, ...] = ()) -> Any:
    return make_filters(keys, kw.get("principal"), kw["since"], kw["until"], kw["account"], kw["key_region"])


@click.command("usage")
@source_options
@filter_options
@click.option("--key", "keys", multiple=True, help="Only this key (id, ARN, alias name or alias ARN); repeatable.")
@click.option("--principal", default=None, help=PRINCIPAL_HELP)
@output_options
def usage_command(**kw: Any) -> None:
    """One row per (key, principal): encrypt, decrypt, sign, admin and denied calls, first/last seen."""

    def body() -> int:
        with _store(kw) as loaded:
            rows = usage(loaded.store, _filters(kw, kw["keys"]))
            data = [{k: v for k, v in r.items() if k not in ("via", "sessions", "resources", "source_ips")} for r in as_dicts(rows)]
            emit(data, USAGE_COLUMNS, kw["fmt"], kw["output"])
            return exit_code(loaded)

    _run(body)


@click.command("who-uses")
@click.argument("key", callback=key_name)
@source_options
@filter_options
@click.option("--principal", default=None, help=PRINCIPAL_HELP)
@click.option("--by", type=click.Choice(["principal", "person"]), default="principal", show_default=True,
              help="One row per principal, or per person behind the role sessions (Identity Center, AssumeRole chains).")
@output_options
def who_uses_command(key: str, **kw: Any) -> None:
    """Who uses KEY (key id, key ARN, alias name or alias ARN): one row per principal (or person), per key it meant."""

    def body() -> int:
        with _store(kw) as loaded:
            columns = WHO_USES_COLUMNS
            if kw["by"] == "person":
                from keytrail.analysis.sessions import who_uses_by_person

                rows: list[Any] = who_uses_by_person(loaded.store, key, _filters(kw))
                columns = PERSON_COLUMNS
            else:
                rows = who_uses(loaded.store, key, _filters(kw))
            data = as_dicts(rows)
            if kw["fmt"] == "json":
                emit(data, columns, "json", kw["output"])
            else:
                from keytrail.render.formats import render

                keys = sorted({r["key"] for r in data})
                if not keys:
                    text = render([], columns, kw["fmt"], f"{key}: no calls in the store")
                else:
                    text = "\n".join(
                        render([r for r in data if r["key"] == k], columns, kw["fmt"], k) for k in keys
                    )
                write_text(text, kw["output"])
            return exit_code(loaded)

    _run(body)


@click.command("keys")
@source_options
@filter_options
@output_options
def keys_command(**kw: Any) -> None:
    """One row per key: customer or AWS managed, aliases, crypto calls, principals, first/last use."""

    def body() -> int:
        with _store(kw) as loaded:
            emit(as_dicts(keys_report(loaded.store, _filters(kw))), KEYS_COLUMNS, kw["fmt"], kw["output"])
            return exit_code(loaded)

    _run(body)


@click.command("principals")
@source_options
@filter_options
@output_options
def principals_command(**kw: Any) -> None:
    """One row per principal across keys."""

    def body() -> int:
        with _store(kw) as loaded:
            emit(as_dicts(principals_report(loaded.store, _filters(kw))), PRINCIPALS_COLUMNS, kw["fmt"], kw["output"])
            return exit_code(loaded)

    _run(body)
