"""keytrail check --policy expectations.yaml: who may use which key, checked against the trail (for CI)."""

from __future__ import annotations

import dataclasses
import sys
from typing import Any

import click

from keytrail.analysis.findings.expectations import check_expectations, load_expectations
from keytrail.cli.common import (
    EXIT_VIOLATIONS,
    exit_code,
    fail,
    loaded_store,
    make_filters,
    output_options,
    source_options,
    split_csv,
    write_text,
)
from keytrail.errors import KeytrailError
from keytrail.render import Column, render
from keytrail.sources.registry import SourceOptions

VIOLATION_COLUMNS = [
    Column("rule", "rule"),
    Column("key", "key"),
    Column("principal", "principal"),
    Column("operation", "operation"),
    Column("event_names", "calls made"),
    Column("calls", "calls", True),
    Column("first_seen", "first seen"),
    Column("last_seen", "last seen"),
    Column("evidence", "evidence"),
]


@click.command("check")
@click.option("--policy", "policy", required=True, type=click.Path(dir_okay=False), help="Expectations file (YAML; see README).")
@source_options
@click.option("--since", default=None, help="From this ISO-8601 date or date-time, inclusive.")
@click.option("--until", default=None, help="Up to this ISO-8601 date or date-time, exclusive.")
@output_options
def check_command(policy: str, **kw: Any) -> None:
    """Check who used each key against --policy: prints the violations; exit 1 when there are
    any, 0 when clean, 2 on errors (3 when some input could not be read and nothing was violated)."""
    try:
        code = _run(policy, kw)
    except KeytrailError as e:
        code = fail(e)
    sys.exit(code)


def _run(policy: str, kw: dict[str, Any]) -> int:
    expectations = load_expectations(policy)
    filters = make_filters((), None, kw["since"], kw["until"])
    src = SourceOptions(
        kw["profile"], kw["aws_region"], split_csv(kw["accounts"]), split_csv(kw["regions"]), kw["since"], kw["until"]
    )
    with loaded_store(kw["sources"], kw["db"], kw["strict"], kw["quiet"], kw["workers"], src) as loaded:
        result = check_expectations(loaded.store, expectations, filters)
        rows = [dataclasses.asdict(v) for v in result.violations]
        write_text(render(rows, VIOLATION_COLUMNS, kw["fmt"], None if kw["fmt"] == "json" else "violations"), kw["output"])
        for w in result.warnings:
            click.echo(f"keytrail: warning: {w}", err=True)
        if not kw["quiet"]:
            n = len(result.violations)
            click.echo(
                f"keytrail: {n} violation(s) of {len(expectations.rules)} rule(s) on {result.keys_checked} key(s)",
                err=True,
            )
        if result.violations:
            return EXIT_VIOLATIONS
        return exit_code(loaded)  # 1 when --verify found something that failed, 3 on partial input
