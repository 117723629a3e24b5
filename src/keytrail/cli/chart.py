"""keytrail chart: one chart of the HTML report as a PNG image, for a ticket."""

from __future__ import annotations

from typing import Any

import click

from keytrail.analysis.report import build_report_data
from keytrail.cli.common import exit_code, filter_options, make_filters, source_options
from keytrail.cli.report import open_store, report_options, run
from keytrail.errors import UsageError

CHARTS = ("operation", "principal", "principals", "top-principals")


@click.command("chart")
@source_options
@filter_options
@report_options
@click.option("--by", "by", type=click.Choice(CHARTS), default="operation", show_default=True,
              help="Calls over time by operation or by principal, the key's top principals, "
                   "or the top principals of every key (top-principals).")
@click.option("--theme", type=click.Choice(("light", "dark")), default="light", show_default=True,
              help="Draw the chart in the report's light or dark colours.")
@click.option("--chromium", default=None, help="The Chromium executable (default: $KEYTRAIL_CHROMIUM or /usr/bin/chromium).")
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True), required=True, help="The PNG file to write.")
def chart_command(**kw: Any) -> None:
    """One chart as a PNG image: a key's calls over time (--by operation | principal), its top
    principals (--by principals), or the top principals of every key (--by top-principals).

    Drawn by the HTML report's own script in headless Chromium (needs Chromium and Playwright's
    Python package; nothing is downloaded).
    """
    from keytrail.render.chart import chart_png
    from keytrail.render.html import render_html

    def body() -> int:
        with open_store(kw) as loaded:
            filters = make_filters(kw["keys"], kw["principal"], kw["since"], kw["until"], kw["account"], kw["key_region"])
            data = build_report_data(loaded.store, filters)
            if kw["by"] == "top-principals":
                if not data.top_principals:
                    raise UsageError("no calls match: nothing to draw")
                name = "top-principals"
            else:
                if not kw["keys"]:
                    raise UsageError(f"--by {kw['by']} draws one key: name it with --key")
                if len(data.keys) != 1:
                    found = ", ".join(k.key for k in data.keys) or "none with calls"
                    raise UsageError(f"--key must mean exactly one key with calls; it means: {found}")
                name = f"{data.keys[0].anchor}:{kw['by']}"
            chart_png(render_html(data), name, kw["output"], kw["chromium"], kw["theme"])
            if not kw["quiet"]:
                click.echo(f"keytrail: wrote {kw['output']}", err=True)
            return exit_code(loaded)

    run(body)
