"""keytrail report: one self-contained HTML file with the summary, per-key tables and charts."""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import click

from keytrail.analysis.filters import Filters
from keytrail.analysis.report import ReportData, build_report_data
from keytrail.cli.common import (
    PRINCIPAL_HELP,
    Loaded,
    exit_code,
    fail,
    filter_options,
    loaded_store,
    make_filters,
    source_options,
    split_csv,
    write_text,
)
from keytrail.errors import KeytrailError
from keytrail.sources.registry import SourceOptions

DEFAULT_TITLE = "KMS key usage"


def _findings(loaded: Loaded, filters: Filters) -> list[dict[str, Any]]:
    """The findings over the same calls."""
    from keytrail.analysis.findings import FindingOptions, findings_as_dicts, run_findings

    return findings_as_dicts(run_findings(loaded.store, FindingOptions(filters=filters)))


def build(loaded: Loaded, kw: dict[str, Any]) -> ReportData:
    filters = make_filters(kw["keys"], kw["principal"], kw["since"], kw["until"], kw["account"], kw["key_region"])
    return build_report_data(
        loaded.store,
        filters,
        ingest_report=loaded.report,
        findings=_findings(loaded, filters),
        verification=loaded.verification.summary() if loaded.verification is not None else None,
        generated_at=datetime.now(UTC).replace(tzinfo=None),
    )


def open_store(kw: dict[str, Any]) -> Any:
    opts = SourceOptions(
        kw["profile"], kw["aws_region"], split_csv(kw["accounts"]), split_csv(kw["regions"]), kw["since"], kw["until"]
    )
    return loaded_store(kw["sources"], kw["db"], kw["strict"], kw["quiet"], kw["workers"], opts)


def run(body: Callable[[], int]) -> None:
    try:
        code = body()
    except KeytrailError as e:
        code = fail(e)
    sys.exit(code)


def report_options(f: Any) -> Any:
    f = click.option("--principal", default=None, help=PRINCIPAL_HELP)(f)
    f = click.option("--key", "keys", multiple=True, help="Only this key (id, ARN, alias name or alias ARN); repeatable.")(f)
    return f


@click.command("report")
@source_options
@filter_options
@report_options
@click.option("--title", default=DEFAULT_TITLE, show_default=True, help="The report's title.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Write the HTML report to FILE (default: standard output).")
def report_command(**kw: Any) -> None:
    """An HTML report to attach to a ticket: a summary of what was read, and per key its aliases,
    principals (sortable, filterable), operations, resources, services and charts of calls over time.

    One self-contained file: it opens from disk, loads nothing from the network, and shows every
    log value as text.
    """
    from keytrail.render.html import render_html

    def body() -> int:
        with open_store(kw) as loaded:
            data = build(loaded, kw)
            write_text(render_html(data, kw["title"]), kw["output"])
            if kw["output"] and not kw["quiet"]:
                s = data.summary
                click.echo(
                    f"keytrail: wrote {kw['output']}: {s.keys} key(s), {s.principals} principal(s), {s.calls} call(s)",
                    err=True,
                )
            return exit_code(loaded)

    run(body)
