"""keytrail check --policy expectations.yaml: who may use which key, checked against the trail (for CI)."""

from __future__ import annotations

import dataclasses

import click

from keytrail.analysis.findings.expectations import check_expectations, load_expectations
from keytrail.cli.exits import EXIT_OK, EXIT_PARTIAL, EXIT_VIOLATIONS, command
from keytrail.cli.loading import exit_code, loaded_store
from keytrail.cli.options import Inputs, Output, Scope, Window, input_options, output_options, window_options
from keytrail.cli.writing import screen_for, write_text
from keytrail.i18n import N_, _
from keytrail.render import Column, render, safe

VIOLATION_COLUMNS = [
    Column("rule", N_("rule")),
    Column("key", N_("key")),
    Column("principal", N_("principal")),
    Column("operation", N_("operation")),
    Column("event_names", N_("calls made")),
    Column("calls", N_("calls"), True),
    Column("first_seen", N_("first seen")),
    Column("last_seen", N_("last seen")),
    Column("evidence", N_("evidence")),
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
            write_text(render(rows, VIOLATION_COLUMNS, output.fmt, None if output.fmt == "json" else _("violations")),
                       output.path)
        for w in result.warnings:
            click.echo("keytrail: " + _("warning: {message}").format(message=safe.escaped(w)), err=True)
        for w in result.unevaluated:
            click.echo("keytrail: " + _("error: {message}").format(message=safe.escaped(w)), err=True)
        if not inputs.quiet:
            click.echo("keytrail: " + _("{n} violation(s) of {rules} rule(s) on {keys} key(s)").format(
                n=len(result.violations), rules=len(expectations.rules), keys=result.keys_checked), err=True)
        if result.violations:
            return EXIT_VIOLATIONS
        code = exit_code(loaded)  # 1 when --verify found something that failed, 3 on partial input
        return EXIT_PARTIAL if code == EXIT_OK and result.unevaluated else code
