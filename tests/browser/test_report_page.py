"""The HTML report in headless Chromium: the numbers it shows are the JSON reports' numbers, its
tables sort and filter, it makes no request and logs no error, and hostile log values stay text."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from keytrail.analysis.filters import Filters
from keytrail.analysis.report import build_report_data
from keytrail.cli.main import cli
from keytrail.pipeline import ingest
from keytrail.render.html import render_html
from keytrail.sources.local import LocalSource
from keytrail.store import Store
from tests.browser.conftest import OpenedPage, artifact
from tests.render.hostile_trail import HOSTILE_FINDINGS, LONG, PAYLOADS, RLO, write_hostile_archive

pytestmark = pytest.mark.browser

Open = Callable[..., OpenedPage]


def _run(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.fixture(scope="module")
def small(small_archive: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The small archive's report (tests/factory/archive.py), and its JSON reports."""
    out = tmp_path_factory.mktemp("report")
    db = str(out / "trail.duckdb")
    _run("ingest", str(small_archive), "--db", db, "-q", "--workers", "1")
    _run("report", "--db", db, "-o", str(out / "report.html"), "-q")
    keys = json.loads(_run("keys", "--db", db, "--format", "json"))
    busiest = max(keys, key=lambda k: (k["principals"], k["key"]))["key"]
    _run("report", "--db", db, "--key", busiest, "-o", str(out / "one-key.html"), "-q")
    yield {
        "html": out / "report.html",
        "one_key": out / "one-key.html",
        "usage": json.loads(_run("usage", "--db", db, "--format", "json")),
        "keys": keys,
        "principals": json.loads(_run("principals", "--db", db, "--format", "json")),
    }


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A report of the hostile archive, with hostile findings and integrity line."""
    root = write_hostile_archive(tmp_path_factory.mktemp("hostile") / "trail")
    with Store() as store:
        report = ingest([LocalSource((str(root),))], store, workers=1)
        data = build_report_data(store, Filters(), ingest_report=report, findings=HOSTILE_FINDINGS,
                                 verification=PAYLOADS[1])
    path = root.parent / "hostile.html"
    path.write_text(render_html(data, title=PAYLOADS[2]), encoding="utf-8")
    return path


def _int(text: str) -> int:
    return int(text.replace(",", ""))


_SECTIONS_JS = """() => Array.from(document.querySelectorAll('section.key')).map(sec => ({
    key: sec.querySelector('h2 .key-arn').textContent,
    facts: Object.fromEntries(Array.from(sec.querySelectorAll('dl.facts dd[data-field]'))
                              .map(dd => [dd.dataset.field, dd.textContent])),
    rows: Array.from(sec.querySelectorAll('[data-table="principals"] tbody tr.row')).map(tr =>
        Object.fromEntries(Array.from(tr.querySelectorAll('td')).map(td => [td.dataset.col, td.textContent]))),
}))"""

_TABLE_JS = """(sel) => Array.from(document.querySelectorAll(sel + ' tbody tr.row')).map(tr => ({
    hidden: tr.hidden,
    text: tr.textContent + (tr.nextElementSibling && tr.nextElementSibling.classList.contains('detail')
                            ? '\\n' + tr.nextElementSibling.textContent : ''),
    detail: tr.nextElementSibling && tr.nextElementSibling.classList.contains('detail')
            ? !tr.nextElementSibling.hidden && !tr.nextElementSibling.classList.contains('collapsed') : null,
    cells: Object.fromEntries(Array.from(tr.querySelectorAll('td')).map(td => [td.dataset.col, td.textContent])),
}))"""

COUNTS = ("encrypt", "decrypt", "sign", "admin", "denied")


def test_numbers_shown_equal_the_json_reports(small: dict[str, Any], open_report: Open) -> None:
    opened = open_report(small["html"])
    page = opened.page
    sections = page.evaluate(_SECTIONS_JS)

    expected: dict[str, set[tuple[Any, ...]]] = {}
    for u in small["usage"]:
        expected.setdefault(u["key"], set()).add(
            (u["principal"], u["principal_type"], *(u[c] for c in COUNTS), u["first_seen"], u["last_seen"])
        )
    shown: dict[str, set[tuple[Any, ...]]] = {}
    for sec in sections:
        for r in sec["rows"]:
            counts = [_int(r[c]) for c in COUNTS]
            assert _int(r["total"]) == sum(counts)
            shown.setdefault(sec["key"], set()).add(
                (r["principal"], r["principal_type"], *counts, r["first_seen"], r["last_seen"])
            )
    assert len(sections) == len(small["keys"])
    assert shown == expected

    keys = {k["key"]: k for k in small["keys"]}
    for sec in sections:
        k = keys[sec["key"]]
        assert sec["facts"]["principals"] == str(k["principals"])
        calls = k["crypto_calls"] + k["admin"] + k["denied"]
        assert sec["facts"]["calls"].startswith(f"{calls:,} (")
        assert f"{k['denied']:,} denied" in sec["facts"]["calls"]
        assert sec["facts"]["manager"] == k["manager"]
        assert sec["facts"]["seen"] == f"{k['first_seen']} \u2013 {k['last_seen']}"

    card = {f: page.text_content(f'.card[data-field="{f}"] .value') for f in ("calls", "keys", "principals")}
    assert _int(card["calls"]) == sum(u[c] for u in small["usage"] for c in COUNTS)
    assert _int(card["keys"]) == len(small["keys"])
    assert _int(card["principals"]) == len(small["principals"])

    overview = page.evaluate(_TABLE_JS, '[data-table="keys"]')
    assert {r["cells"]["key"]: _int(r["cells"]["crypto_calls"]) for r in overview} == {
        k["key"]: k["crypto_calls"] for k in small["keys"]
    }
    opened.assert_quiet()


def test_principals_table_filters_and_sorts(small: dict[str, Any], open_report: Open) -> None:
    opened = open_report(small["html"])
    page = opened.page
    # the key with the most principals
    index = page.evaluate("""() => {
        const secs = Array.from(document.querySelectorAll('section.key'));
        const n = secs.map(s => s.querySelectorAll('[data-table="principals"] tbody tr.row').length);
        return secs[n.indexOf(Math.max(...n))].dataset.keyIndex; }""")
    block = f'#key-{index} [data-table="principals"]'
    rows = page.evaluate(_TABLE_JS, block)
    assert len(rows) > 5

    # sorted by total calls, most first, as drawn
    totals = [_int(r["cells"]["total"]) for r in rows]
    assert totals == sorted(totals, reverse=True)
    assert page.get_attribute(f'{block} th[data-col="total"]', "aria-sort") == "descending"

    page.click(f'{block} th[data-col="decrypt"] button')
    decrypts = [_int(r["cells"]["decrypt"]) for r in page.evaluate(_TABLE_JS, block)]
    assert decrypts == sorted(decrypts, reverse=True)
    assert page.get_attribute(f'{block} th[data-col="decrypt"]', "aria-sort") == "descending"
    assert page.get_attribute(f'{block} th[data-col="total"]', "aria-sort") is None
    page.click(f'{block} th[data-col="decrypt"] button')
    decrypts = [_int(r["cells"]["decrypt"]) for r in page.evaluate(_TABLE_JS, block)]
    assert decrypts == sorted(decrypts)
    page.click(f'{block} th[data-col="principal"] button')
    names = [r["cells"]["principal"] for r in page.evaluate(_TABLE_JS, block)]
    assert names == sorted(names)

    # filter: every word must match, case-insensitively; the count says how many
    target = "assumedrole"
    page.fill(f"{block} input[data-filter]", "AssumedRole")
    after = page.evaluate(_TABLE_JS, block)
    visible = [r for r in after if not r["hidden"]]
    assert 0 < len(visible) < len(after)
    for r in after:
        assert (target in r["text"].lower()) == (not r["hidden"])
    assert all(r["cells"]["principal_type"] == "AssumedRole" for r in visible) or any(
        target in r["text"].lower() for r in visible
    )
    assert page.text_content(f"{block} .count") == f"{len(visible)} of {len(after)} rows match"
    assert page.is_hidden(f'{block} tbody tr[hidden] >> nth=0')

    one = visible[0]["cells"]["principal"]
    page.fill(f"{block} input[data-filter]", f"{one.upper()} assumedrole")
    again = [r for r in page.evaluate(_TABLE_JS, block) if not r["hidden"]]
    assert one in [r["cells"]["principal"] for r in again]
    assert all(one.lower() in r["text"].lower() for r in again)

    page.fill(f"{block} input[data-filter]", "")
    rows = page.evaluate(_TABLE_JS, block)
    assert not any(r["hidden"] for r in rows)
    assert page.text_content(f"{block} .count") == f"{len(after)} rows"

    # details (operations, via, sessions, resources, IPs, agents) open per row or all at once
    assert not any(r["detail"] for r in rows)
    page.click(f"{block} tbody tr.row >> nth=1 >> td.toggle button")
    assert [bool(r["detail"]) for r in page.evaluate(_TABLE_JS, block)][:3] == [False, True, False]
    assert page.get_attribute(f"{block} tbody tr.row >> nth=1 >> td.toggle button", "aria-expanded") == "true"
    page.click(f"{block} .expand-all")
    assert all(r["detail"] for r in page.evaluate(_TABLE_JS, block))
    page.click(f"{block} .expand-all")
    assert not any(r["detail"] for r in page.evaluate(_TABLE_JS, block))

    # a row found by a value in its details shows them
    session = page.evaluate(f"""() => Array.from(document.querySelectorAll('{block} tr.detail [data-detail^="Sessions"] li'))
                                          .map(li => li.textContent)[0]""")
    assert session
    page.fill(f"{block} input[data-filter]", session)
    found = [r for r in page.evaluate(_TABLE_JS, block) if not r["hidden"]]
    assert found and all(session.lower() in r["text"].lower() for r in found)
    assert all(r["detail"] for r in found if session.lower() not in r["text"].split("\n")[0].lower())
    opened.assert_quiet()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_themes_no_requests_and_screenshots(small: dict[str, Any], open_report: Open, scheme: str) -> None:
    opened = open_report(small["html"], color_scheme=scheme)
    page = opened.page
    bg = page.evaluate("getComputedStyle(document.documentElement).backgroundColor")
    assert bg == ("rgb(255, 255, 255)" if scheme == "light" else "rgb(13, 17, 23)")
    charts = page.locator("figure.chart svg rect.bar")
    assert charts.count() > 100
    page.screenshot(path=str(artifact(f"report-{scheme}.png")))
    page.locator("section.key").first.screenshot(path=str(artifact(f"report-{scheme}-key.png")))
    opened.assert_quiet()


def test_print_media_is_light_and_shows_every_row(small: dict[str, Any], open_report: Open) -> None:
    opened = open_report(small["one_key"], color_scheme="dark", media="print")
    page = opened.page
    assert page.evaluate("getComputedStyle(document.documentElement).backgroundColor") == "rgb(255, 255, 255)"
    assert page.evaluate("getComputedStyle(document.querySelector('input[data-filter]')).display") == "none"
    fill = page.evaluate("getComputedStyle(document.querySelector('rect.bar.c-decrypt')).fill")
    assert fill == "rgb(20, 122, 51)"
    # every principal's details print, though the screen shows them on demand
    details = page.evaluate("""() => Array.from(document.querySelectorAll('[data-table="principals"] tr.detail'))
                                      .map(tr => getComputedStyle(tr).display)""")
    assert details and set(details) == {"table-row"}
    page.locator("section.key").first.screenshot(path=str(artifact("report-print-key.png")))
    opened.assert_quiet()


def test_hostile_values_stay_text(hostile: Path, open_report: Open) -> None:
    opened = open_report(hostile)
    page = opened.page
    dom = page.evaluate("""() => {
        const all = Array.from(document.querySelectorAll('*'));
        return {
            scripts: document.scripts.length,
            injected: document.querySelectorAll('img, iframe, object, embed, frame, base, link, meta[http-equiv="refresh"], form').length,
            svgScripts: document.querySelectorAll('svg script, svg foreignObject, svg a').length,
            handlers: all.flatMap(e => Array.from(e.attributes).filter(a => a.name.startsWith('on')).map(a => e.tagName + ' ' + a.name)),
            hrefs: Array.from(document.querySelectorAll('[href]')).map(e => e.getAttribute('href')),
            styles: all.filter(e => e.hasAttribute('style')).length,
            text: document.body.innerText,
            title: document.title,
            h1: document.querySelector('h1').textContent,
        };
    }""")
    assert dom["scripts"] == 3  # the data, the page's words (both JSON) and the page's script
    assert dom["injected"] == 0
    assert dom["svgScripts"] == 0
    assert dom["handlers"] == []
    assert dom["styles"] == 0
    assert all(h.startswith("#") for h in dom["hrefs"]) and dom["hrefs"]
    assert dom["title"] == dom["h1"] == PAYLOADS[2]

    text = dom["text"]
    for payload in ("<script>alert(1)</script>", '"><img src=x onerror=alert(1)>', "</script><script>alert(2)</script>",
                    "javascript:alert(1)", "<svg/onload=alert(1)>", "alias/<script>alert(1)</script>",
                    "alias/</script><svg/onload=alert(1)>", "&lt;b&gt;&amp;"):
        assert payload in text, payload
    # the right-to-left override is shown escaped, never applied
    assert RLO not in text
    assert "invoice\\u202efdp.exe" in text
    assert "\\u2028\\u2029" in text
    # a 9,998-character value is cut, with its length said and the whole value in the tooltip
    assert f"\u2026 ({len(LONG):,} characters)" in text
    assert LONG not in text
    title = page.evaluate(
        """() => Array.from(document.querySelectorAll('[title]')).map(e => e.getAttribute('title'))
                 .filter(t => t.length > 9000)[0]"""
    )
    assert title == LONG

    # findings are shown, with their evidence; the integrity line too
    findings = page.evaluate(_TABLE_JS, '[data-table="findings"]')
    assert len(findings) == 2
    assert page.text_content('dd[data-field="verification"]') == PAYLOADS[1]
    assert "</script><script>alert(3)</script>" in text

    # the table filter matches the payloads as text
    block = '#key-1 [data-table="principals"]'
    page.fill(f"{block} input[data-filter]", "<script>alert(1)</script>")
    shown = [r for r in page.evaluate(_TABLE_JS, block) if not r["hidden"]]
    assert shown and all("<script>alert(1)</script>" in r["text"] for r in shown)

    page.screenshot(path=str(artifact("report-hostile.png")), full_page=False)
    page.locator("#key-1").screenshot(path=str(artifact("report-hostile-key.png")))
    opened.assert_quiet()


def test_the_csp_blocks_what_the_page_did_not_bring(hostile: Path, open_report: Open) -> None:
    """A script or image added at run time (as an injection would) is refused by the policy."""
    opened = open_report(hostile)
    page = opened.page
    page.evaluate("""() => {
        const s = document.createElement('script'); s.textContent = 'window.__ran = 1'; document.body.appendChild(s);
        const i = document.createElement('img'); i.src = 'https://example.invalid/x.png'; document.body.appendChild(i);
    }""")
    page.wait_for_timeout(200)
    assert page.evaluate("window.__ran") is None
    assert any("Content Security Policy" in m for m in opened.console)
    # Chromium announces the image request, then refuses it before any network access
    assert [url for url, _ in opened.failed] == ["https://example.invalid/x.png"]
    assert opened.blocked == []
    assert set(opened.responses) == {opened.url}
