"""The HTML report document: JSON embedding, the Content-Security-Policy, autoescaping, the script's
DOM discipline. (The page itself is exercised in a real browser in tests/browser/.)"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from keytrail.analysis.filters import Filters
from keytrail.analysis.report import ReportData, build_report_data
from keytrail.pipeline import ingest
from keytrail.render.html import DATA_ID, asset, content_security_policy, csp_hash, render_html, script_json
from keytrail.sources.local import LocalSource
from keytrail.store import Store
from tests.render.hostile_trail import HOSTILE_FINDINGS, PAYLOADS, write_hostile_archive

HOSTILE_STRINGS = [
    "</script><script>alert(1)</script>",
    "</SCRIPT >",
    "<!--<script>",
    "a & b > c < d",
    "line\u2028para\u2029end",
    "\u202eright-to-left",
    "\x00\x1b[31mred",
]


@pytest.fixture(scope="module")
def hostile_data(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReportData]:
    root = write_hostile_archive(tmp_path_factory.mktemp("hostile"))
    with Store() as store:
        report = ingest([LocalSource((str(root),))], store, workers=1)
        yield build_report_data(
            store, Filters(), ingest_report=report, findings=HOSTILE_FINDINGS, verification=PAYLOADS[1]
        )


@pytest.fixture(scope="module")
def hostile_html(hostile_data: ReportData) -> str:
    return render_html(hostile_data, title='<b>"Q3" audit</b> & more')


def _blocks(html: str, tag: str) -> list[tuple[str, str]]:
    """(attributes, content) of every ``tag`` element."""
    return re.findall(rf"<{tag}(\b[^>]*)>(.*?)</{tag}>", html, flags=re.S | re.I)


def _data_block(html: str) -> str:
    blocks = [content for attrs, content in _blocks(html, "script") if 'id="keytrail-data"' in attrs]
    assert len(blocks) == 1
    return blocks[0]


def _csp(html: str) -> str:
    m = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]*)">', html)
    assert m, "no Content-Security-Policy meta tag"
    return m.group(1).replace("&#39;", "'")


@pytest.mark.parametrize("text", HOSTILE_STRINGS)
def test_script_json_cannot_close_or_comment_the_script(text: str) -> None:
    out = script_json({"v": text, "list": [text]})
    for forbidden in ("<", ">", "&", "\u2028", "\u2029"):
        assert forbidden not in out
    assert json.loads(out) == {"v": text, "list": [text]}


def test_script_json_writes_lone_surrogates_as_escapes() -> None:
    out = script_json({"v": "bad \ud800 half", "ok": "é"})
    assert out.isascii()
    assert json.loads(out) == {"v": "bad \ud800 half", "ok": "é"}


def test_script_json_of_report_data_round_trips(hostile_data: ReportData) -> None:
    assert json.loads(script_json(hostile_data)) == orjson.loads(orjson.dumps(hostile_data))


def test_the_document_has_exactly_our_three_scripts_and_one_style(hostile_html: str) -> None:
    """The data and the page's words (both JSON, never run) and the page's own script."""
    lower = hostile_html.lower()
    assert lower.count("<script") == 3
    assert lower.count("</script") == 3
    assert lower.count('<script type="application/json"') == 2
    assert lower.count("<style") == 1
    assert lower.count("</style") == 1
    assert "<!--" not in hostile_html
    for tag in ("<img", "<svg", "<iframe", "<a "):
        assert tag not in lower  # the payloads' markup is in the JSON only, with "<" escaped


def test_embedded_json_holds_the_hostile_values_verbatim(hostile_data: ReportData, hostile_html: str) -> None:
    data = json.loads(_data_block(hostile_html))
    assert data == orjson.loads(orjson.dumps(hostile_data))
    text = json.dumps(data, ensure_ascii=False)
    for payload in PAYLOADS[:5]:
        assert json.dumps(payload, ensure_ascii=False)[1:-1] in text
    assert data["findings"][0]["kind"] == PAYLOADS[0]
    assert data["summary"]["verification"] == PAYLOADS[1]


def test_csp_allows_only_the_inline_script_and_style_by_hash(hostile_html: str) -> None:
    csp = _csp(hostile_html)
    scripts = [content for attrs, content in _blocks(hostile_html, "script") if "type=" not in attrs]
    (style,) = [content for _, content in _blocks(hostile_html, "style")]
    assert len(scripts) == 1
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == csp_hash(scripts[0])
    assert directives["style-src"] == csp_hash(style)
    assert directives["img-src"] == "data:"
    assert directives["base-uri"] == "'none'"
    assert "unsafe" not in csp
    assert csp == content_security_policy(asset("report.js"), asset("report.css"))
    # the meta tag comes before anything it governs
    assert hostile_html.index("Content-Security-Policy") < hostile_html.lower().index("<style")


def test_csp_hash_is_sha256_base64() -> None:
    # echo -n 'alert(1)' | openssl dgst -sha256 -binary | base64
    assert csp_hash("alert(1)") == "'sha256-bhHHL3z2vDgxUt0W3dWQOrprscmda2Y5pLsLg4GF+pI='"


def test_template_values_are_autoescaped(hostile_html: str) -> None:
    assert "<title>&lt;b&gt;&#34;Q3&#34; audit&lt;/b&gt; &amp; more</title>" in hostile_html
    assert '<b>"Q3"' not in hostile_html


def test_page_script_never_parses_data_as_html() -> None:
    js = asset("report.js")
    code = re.sub(r"/\*.*?\*/", "", js, flags=re.S)
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function",
                 "DOMParser", "createContextualFragment", "srcdoc", "location.href", "window.open"):
        assert sink not in code, sink
    assert "setTimeout" not in code and "setInterval" not in code
    # the only URL in the script is the SVG namespace; links are built from '#' + our own anchors
    assert re.findall(r"https?://[^'\"]*", code) == ["http://www.w3.org/2000/svg"]
    assert [h.strip() for h in re.findall(r"href: ([^,}]*)", code)] == ["'#' + anchor", "'#key-' + (r.i + 1)", "'#findings'"]


def test_assets_cannot_end_their_element_early() -> None:
    assert "</script" not in asset("report.js").lower()
    assert "</style" not in asset("report.css").lower()


def test_the_data_block_has_the_id_the_script_reads(hostile_html: str) -> None:
    assert f'<script type="application/json" id="{DATA_ID}">' in hostile_html
    assert f"getElementById('{DATA_ID}')" in asset("report.js")


def test_themes_and_print_styles_are_present() -> None:
    css = asset("report.css")
    assert "@media (prefers-color-scheme: dark)" in css
    assert "@media print" in css
    assert css.index("@media (prefers-color-scheme: dark)") < css.index("@media print")  # print wins


def test_no_network_references_in_the_document(hostile_html: str) -> None:
    outside_data = hostile_html.replace(_data_block(hostile_html), "")
    assert re.findall(r"(?:src|href)\s*=", outside_data, flags=re.I) == []
    assert re.findall(r"https?://[^'\"]*", outside_data) == ["http://www.w3.org/2000/svg"]  # a namespace name


def test_an_empty_store_renders(tmp_path: Path) -> None:
    with Store() as store:
        data = build_report_data(store, Filters())
    html = render_html(data)
    assert json.loads(_data_block(html))["keys"] == []
    assert data.summary.calls == 0 and data.axis.buckets == []
