"""keytrail report: one self-contained HTML file with the summary, per-key tables and charts."""

from __future__ import annotations

import sys
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import click

from keytrail import i18n
from keytrail.analysis.filters import Filters
from keytrail.analysis.findings import FindingOptions, findings_as_dicts, run_findings
from keytrail.analysis.report import build_report_data
from keytrail.analysis.report_model import ReportData
from keytrail.analysis.tighten import SuggestOptions, suggestions_for
from keytrail.cli.exits import command
from keytrail.cli.loading import Loaded, exit_code, loaded_store
from keytrail.cli.options import (
    KEY_HELP,
    PRINCIPAL_HELP,
    Command,
    Inputs,
    R,
    Scope,
    Window,
    filter_options,
    input_options,
)
from keytrail.cli.writing import write_text
from keytrail.errors import UsageError
from keytrail.i18n import _


def _findings(loaded: Loaded, filters: Filters) -> list[dict[str, Any]]:
    """The findings over the same calls."""
    return findings_as_dicts(run_findings(loaded.store, FindingOptions(filters=filters)))


def build(loaded: Loaded, filters: Filters) -> ReportData:
    data = build_report_data(
        loaded.store,
        filters,
        ingest_report=loaded.report,
        findings=_findings(loaded, filters),
        verification=loaded.verification.summary() if loaded.verification is not None else None,
        generated_at=datetime.now(UTC).replace(tzinfo=None),
        zone=i18n.zone(),
    )
    return replace(data, tighten=_tighten(loaded, filters, [k.key for k in data.keys]))


def _tighten(loaded: Loaded, filters: Filters, keys: list[str]) -> dict[str, dict[str, Any]]:
    """What suggest-policy proposes for each customer managed key with a key policy in the inventory."""
    options = SuggestOptions(since=filters.since, until=filters.until)
    return {k: s.as_dict() for k, s in suggestions_for(loaded.store, keys, options).items()}


def report_options(f: Command[R]) -> Command[R]:
    f = click.option("--principal", default=None, help=PRINCIPAL_HELP)(f)
    f = click.option("--key", "keys", multiple=True, help=KEY_HELP)(f)
    return f


@command("report")
@input_options
@filter_options
@report_options
@click.option("--title", default=None, help="The report's title (default: \"KMS key usage\", in the report's language).")
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Write the HTML report to FILE (default: standard output, when it is not a terminal).")
def report_command(inputs: Inputs, window: Window, scope: Scope, keys: tuple[str, ...], principal: str | None,
                   title: str | None, output: str | None) -> int:
    """An HTML report to attach to a ticket: a summary of what was read, and per key its aliases,
    principals (sortable, filterable), operations, resources, services and charts of calls over time.

    One self-contained file: it opens from disk, loads nothing from the network, and shows every
    log value as text.
    """
    from keytrail.render.html import render_html

    if output is None and sys.stdout.isatty():
        raise UsageError(_("the report is an HTML page, not text for a terminal: write it with -o report.html "
                           "(or > report.html)"))
    with loaded_store(inputs, inputs.source_options(window.since, window.until)) as loaded:
        scope.checked(loaded.store, keys)
        data = build(loaded, scope.filters(window, keys, principal))
        write_text(render_html(data, title), output)
        if output and not inputs.quiet:
            s = data.summary
            click.echo("keytrail: " + _("wrote {file}: {keys} key(s), {principals} principal(s), {calls} call(s)").format(
                file=output, keys=s.keys, principals=s.principals, calls=s.calls), err=True)
        return exit_code(loaded)
