"""One chart of the HTML report as a PNG image, drawn by the report's own script in headless Chromium.

The report page draws only that chart when its URL ends in ``#chart=NAME`` (``key-N:operation``,
``key-N:principal``, ``key-N:principals`` or ``top-principals``); this module opens the page from
a temporary file with every request but the file itself refused, and screenshots the chart.
Needs Playwright's Python package and a Chromium executable (never downloads one).
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Any

from keytrail.errors import CHART, KeytrailError, UsageError, said
from keytrail.errors import CHROMIUM as CHROMIUM_OPTION
from keytrail.i18n import _
from keytrail.render.output import write_output

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
CHART_NAME = re.compile(r"(key-[0-9]{1,7}:(operation|principal|principals)|top-principals)\Z")


def default_chromium() -> str:
    return os.environ.get("KEYTRAIL_CHROMIUM") or CHROMIUM


def chart_png(html: str, chart: str, output: str, chromium: str | None = None, theme: str = "light",
              scale: float = 2.0) -> None:
    """Screenshot chart ``chart`` of report ``html`` into the PNG file ``output`` (written as every
    report is: ``render.output.write_output``)."""
    if not CHART_NAME.match(chart):
        raise UsageError(_("no such chart: {chart!r}").format(chart=chart))
    exe = chromium or default_chromium()
    if not os.path.exists(exe):
        raise UsageError(*said(
            _("{chart} needs Chromium and found none at {path}: install it (apt-get install chromium) or name it with "
              "{option} / KEYTRAIL_CHROMIUM"), chart=CHART, path=exe, option=CHROMIUM_OPTION,
        ))
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ImportError as e:
        raise UsageError(*said(_("{chart} needs Playwright's Python package, which is not installed: {install}"),
                               chart=CHART, install="pip install 'keytrail[chart]'")) from e

    with tempfile.TemporaryDirectory(prefix="keytrail-chart-") as tmp:
        page_path = Path(tmp) / "report.html"
        page_path.write_text(html, encoding="utf-8")
        url = page_path.as_uri()
        errors: list[str] = []
        with sync_playwright() as p:
            try:
                browser = p.chromium.launch(executable_path=exe, args=list(CHROMIUM_ARGS))
            except PlaywrightError as e:
                raise KeytrailError(_("cannot start Chromium ({path}): {error}").format(path=exe, error=e)) from e
            try:
                context = browser.new_context(
                    viewport={"width": 1000, "height": 800}, device_scale_factor=scale,
                    color_scheme="dark" if theme == "dark" else "light", service_workers="block",
                )

                def route(r: Any) -> None:
                    if r.request.url.split("#", 1)[0] == url:
                        r.continue_()
                    else:
                        r.abort()

                context.route("**/*", route)
                page = context.new_page()
                page.on("pageerror", lambda e: errors.append(str(e)))
                page.goto(f"{url}#chart={chart}")
                page.wait_for_selector("html[data-ready]", timeout=30_000)
                if page.get_attribute("html", "data-ready") != "1":
                    raise UsageError(_("chart {chart} could not be drawn: {errors}").format(
                        chart=chart, errors="; ".join(errors) or _("unknown error")))
                png = page.locator("figure.chart").first.screenshot(type="png")
            except PlaywrightError as e:
                raise KeytrailError(_("Chromium could not draw the chart: {error}").format(error=e)) from e
            finally:
                browser.close()
    write_output(output, png, _("the chart"))
