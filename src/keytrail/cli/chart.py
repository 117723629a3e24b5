"""keytrail chart: one chart of the HTML report as a PNG image, for a ticket."""

from __future__ import annotations

import click

from keytrail import i18n
from keytrail.analysis.key_names import no_calls, one_key
from keytrail.analysis.report import build_report_data
from keytrail.cli.exits import command
from keytrail.cli.loading import exit_code, loaded_store
from keytrail.cli.options import Inputs, Scope, Window, filter_options, input_options
from keytrail.cli.report import report_options
from keytrail.errors import UsageError
from keytrail.i18n import _

CHARTS = ("operation", "principal", "principals", "top-principals")


@command("chart")
@input_options
@filter_options
@report_options
@click.option("--by", "by", type=click.Choice(CHARTS), default="operation", show_default=True,
              help="Calls over time by operation or by principal, the key's top principals, "
                   "or the top principals of every key (top-principals).")
@click.option("--theme", type=click.Choice(("light", "dark")), default="light", show_default=True,
              help="Draw the chart in the report's light or dark colours.")
@click.option("--chromium", default=None, help="The Chromium executable (default: $KEYTRAIL_CHROMIUM or /usr/bin/chromium).")
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True), required=True, help="The PNG file to write.")
def chart_command(inputs: Inputs, window: Window, scope: Scope, keys: tuple[str, ...], principal: str | None, by: str,
                  theme: str, chromium: str | None, output: str) -> int:
    """One chart as a PNG image: a key's calls over time (--by operation | principal), its top
    principals (--by principals), or the top principals of every key (--by top-principals).

    Drawn by the HTML report's own script in headless Chromium (needs Chromium and Playwright's
    Python package; nothing is downloaded).
    """
    from keytrail.render.chart import chart_png
    from keytrail.render.html import render_html

    with loaded_store(inputs, inputs.source_options(window.since, window.until)) as loaded:
        scope.checked(loaded.store, keys)
        if by == "top-principals":
            data = build_report_data(loaded.store, scope.filters(window, keys, principal), zone=i18n.zone())
            if not data.top_principals:
                raise UsageError(_("no calls match: nothing to draw"))
            name = "top-principals"
        else:
            if len(keys) != 1:
                raise UsageError(_("--by {by} draws one key: name it with --key (once)").format(by=by) if keys
                                 else _("--by {by} draws one key: name it with --key").format(by=by))
            key = one_key(loaded.store, keys[0], scope.account, scope.key_region)  # several: how to name each
            filters = scope.filters(window, (key,), principal)
            data = build_report_data(loaded.store, filters, zone=i18n.zone())
            if not data.keys:
                raise UsageError(_("{answer}: nothing to draw").format(answer=no_calls(loaded.store, keys[0].strip(), [key],
                                                                                        filters)))
            name = f"{data.keys[0].anchor}:{by}"
        chart_png(render_html(data), name, output, chromium, theme)
        if not inputs.quiet:
            click.echo("keytrail: " + _("wrote {file}").format(file=output), err=True)
        return exit_code(loaded)
