"""keytrail check --policy expectations.yaml: who may use which key, checked against the trail (for CI)."""

from __future__ import annotations

import dataclasses

import click

from keytrail.analysis.findings.expectations import check_expectations, load_expectations
from keytrail.cli.exits import EXIT_OK, EXIT_PARTIAL, EXIT_VIOLATIONS, command
from keytrail.cli.loading import exit_code, loaded_store
from keytrail.cli.options import Inputs, Output, Scope, Window, input_options, output_options, window_options
from keytrail.cli.writing import screen_for, write_text
from keytrail.render import Column, render, safe

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


@command("check")
@click.option("--policy", "policy", required=True, type=click.Path(dir_okay=False), help="Expectations file (YAML; see README).")
@input_options
@window_options("From this ISO-8601 date or date-time (or time ago: 12h, 7d, 2w), inclusive.",
                "Up to this ISO-8601 date or date-time (or time ago), exclusive.")
@output_options
def check_command(policy: str, inputs: Inputs, window: Window, output: Output) -> int:
    """Check who used each key against --policy: prints the violations; exit 1 when there are
    any, 0 when clean, 2 on errors (3 when some input could not be read, or a rule could not be
    evaluated, and nothing was violated)."""
    expectations = load_expectations(policy)
    filters = Scope().filters(window)
    with loaded_store(inputs, inputs.source_options(window.since, window.until)) as loaded:
        result = check_expectations(loaded.store, expectations, filters)
        rows = [dataclasses.asdict(v) for v in result.violations]
        screen = screen_for(output)
        if screen is not None:
            from keytrail.render.verdicts import violations_text

            write_text(violations_text(rows, screen), output.path)
        else:
            write_text(render(rows, VIOLATION_COLUMNS, output.fmt, None if output.fmt == "json" else "violations"),
                       output.path)
        for w in result.warnings:
            click.echo(f"keytrail: warning: {safe.escaped(w)}", err=True)
        for w in result.unevaluated:
            click.echo(f"keytrail: error: {safe.escaped(w)}", err=True)
        if not inputs.quiet:
            n = len(result.violations)
            click.echo(
                f"keytrail: {n} violation(s) of {len(expectations.rules)} rule(s) on {result.keys_checked} key(s)",
                err=True,
            )
        if result.violations:
            return EXIT_VIOLATIONS
        code = exit_code(loaded)  # 1 when --verify found something that failed, 3 on partial input
        return EXIT_PARTIAL if code == EXIT_OK and result.unevaluated else code
