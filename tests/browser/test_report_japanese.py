"""The HTML report in Japanese, in headless Chromium: `<html lang="ja">`, Japanese headings and
labels drawn with a system CJK font (installed by `.ci/run`: fonts-noto-cjk), times in the zone asked
for, no request and no error; a screenshot of the page and of a chart is kept in tests/artifacts/."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from keytrail.cli.main import cli
from keytrail.sources.sample import sample_dir
from tests.browser.conftest import OpenedPage, artifact

pytestmark = pytest.mark.browser

Open = Callable[..., OpenedPage]
CJK = ("Noto Sans CJK", "Noto Serif CJK", "Noto Sans JP", "IPAexGothic", "IPAGothic", "Hiragino", "Yu Gothic",
       "Meiryo", "VL Gothic", "TakaoGothic", "Droid Sans Fallback")


def _japanese_fonts() -> list[str]:
    """Families fontconfig has for Japanese; skip (fail under CI) when there is none."""
    found = []
    if shutil.which("fc-list"):
        out = subprocess.run(["fc-list", ":lang=ja", "family"], capture_output=True, text=True).stdout
        found = [line for line in out.splitlines() if line.strip()]
    if not found:
        reason = "no Japanese font is installed (apt-get install fonts-noto-cjk)"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}: .ci/run installs it")
        pytest.skip(reason)
    return found


@pytest.fixture(scope="module")
def japanese(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ja") / "report.html"
    result = CliRunner().invoke(cli, ["report", str(sample_dir()), "--lang", "ja", "--tz", "Asia/Tokyo",
                                      "-o", str(path), "-q"])
    assert result.exit_code == 0, result.output
    return path


def _platform_fonts(page: Any, selector: str) -> list[str]:
    """The fonts Chromium drew the text of ``selector``'s first element with (DevTools' CSS domain)."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("DOM.enable")
    cdp.send("CSS.enable")
    root = cdp.send("DOM.getDocument")["root"]["nodeId"]
    node = cdp.send("DOM.querySelector", {"nodeId": root, "selector": selector})["nodeId"]
    fonts = cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]
    return [f["familyName"] for f in fonts if f.get("glyphCount")]


def test_the_japanese_report_is_drawn_with_a_cjk_system_font(japanese: Path, open_report: Open) -> None:
    _japanese_fonts()
    opened = open_report(japanese)
    page = opened.page
    opened.assert_quiet()
    assert page.get_attribute("html", "lang") == "ja"
    headings = page.locator("h2").all_text_contents()
    assert "概要" in headings and "キー" in headings
    assert page.locator("h1").text_content() == "KMS キーの使用状況"
    fonts = _platform_fonts(page, "#summary h2")
    assert fonts and all(any(c in f for c in CJK) for f in fonts), fonts  # every glyph from a Japanese font
    row = page.locator("#key-2 [data-table='principals'] tbody tr.row", has_text="test-user")
    cells = {c: row.locator(f"td[data-col='{c}']").text_content() for c in ("encrypt", "decrypt", "first_seen")}
    assert cells == {"encrypt": "8", "decrypt": "12", "first_seen": "2026-11-02T17:05:00+09:00"}
    assert "1 分あたりの呼び出し (Asia/Tokyo)" in page.locator("#key-2 figure.chart svg").first.text_content()
    page.screenshot(path=str(artifact("report-ja.png")))
    shot = page.locator("#key-2 figure.chart").first.screenshot(path=str(artifact("report-ja-chart.png")))
    assert len(shot) > 5000  # a drawn chart, not an empty box
