"""The HTML report: one self-contained file, readable offline, safe with hostile log data.

The page is a packaged Jinja2 template (``templates/report.html.j2``) with its stylesheet and
script inlined. The report's data (``analysis.report.ReportData``) is embedded as JSON in a
``<script type="application/json">`` block; the inline script parses it and builds every table
and chart with ``createElement`` / ``textContent`` only, so no log value is ever parsed as HTML.

Defences, each tested (``tests/render/test_html.py``, ``tests/browser/``):

- Jinja2 autoescape is on for everything the template prints;
- the JSON block escapes ``<``, ``>``, ``&``, U+2028 and U+2029, so no value can close the
  ``<script>`` element or open a comment in it;
- a Content-Security-Policy meta tag allows nothing but the page's own inline script and style
  (by their SHA-256) and ``data:`` images: no network request, no injected script or handler;
- the page shows control and bidirectional-override characters escaped (``\\u202e``) and cuts
  very long values, keeping the whole value in the element's tooltip.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
from datetime import UTC, datetime
from importlib import resources
from typing import Any

import orjson

from keytrail import i18n
from keytrail.analysis.report_model import ReportData
from keytrail.i18n import _, ngettext
from keytrail.render import safe

TEMPLATE = "report.html.j2"
ASSETS = ("report.css", "report.js")
DATA_ID = "keytrail-data"
LOCALE_ID = "keytrail-locale"

_SCRIPT_ESCAPES = {
    ord("<"): "\\u003c",
    ord(">"): "\\u003e",
    ord("&"): "\\u0026",
    0x2028: "\\u2028",
    0x2029: "\\u2029",
}


def script_json(value: Any) -> str:
    """``value`` as JSON that is inert inside a ``<script>`` element (no ``</script>``, no ``<!--``)."""
    try:
        text = orjson.dumps(value, default=_fallback, option=orjson.OPT_NON_STR_KEYS).decode()
    except (TypeError, orjson.JSONEncodeError):
        # e.g. a lone surrogate in a string: the standard library writes it as an escape
        text = json.dumps(_plain(value), ensure_ascii=True, default=str, separators=(",", ":"))
    return safe.json_text(text).translate(_SCRIPT_ESCAPES)


def _fallback(value: Any) -> Any:
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    return str(value)


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v) for v in value]
    return value


def csp_hash(text: str) -> str:
    """The CSP source expression allowing exactly this inline script or style."""
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode('ascii')}'"


def content_security_policy(script: str, style: str) -> str:
    return (
        "default-src 'none'; "
        f"script-src {csp_hash(script)}; "
        f"style-src {csp_hash(style)}; "
        "img-src data:; base-uri 'none'; form-action 'none'"
    )


def asset(name: str) -> str:
    """A packaged template asset's text."""
    return resources.files("keytrail.render").joinpath("templates", name).read_text(encoding="utf-8")


def _inline(text: str, element: str) -> str:
    # our own files: a closing tag inside would end the element early (and break the CSP hash)
    if f"</{element}" in text.lower():
        raise ValueError(f"an inlined {element} contains '</{element}'")
    return text


def page_locale() -> dict[str, Any]:
    """What the page's script needs to speak the current language and show times in the current
    zone (``keytrail.i18n``): the ``report`` catalogue (plural messages by their singular), and the
    zone as an IANA name the browser knows, else as a fixed offset in minutes."""
    words: dict[str, str] = {}
    plurals: dict[str, list[str]] = {}
    for key, value in i18n.catalogue(i18n.REPORT_DOMAIN).items():
        words[key] = value
    for (singular, _index), value in sorted(i18n.plural_catalogue(i18n.REPORT_DOMAIN).items()):
        plurals.setdefault(singular, []).append(value)
    zone = i18n.zone()
    name = getattr(zone, "key", None)
    offset = None
    if not i18n.is_utc() and not name:
        delta = zone.utcoffset(datetime.now(UTC))
        offset = int(delta.total_seconds()) // 60 if delta is not None else 0
    return {"lang": i18n.language(), "zone": None if i18n.is_utc() else name, "offset": offset,
            "zone_name": i18n.zone_name(), "words": words, "plurals": plurals}


def render_html(data: ReportData, title: str | None = None) -> str:
    """The report as one HTML document, in the current language and zone (``keytrail.i18n``)."""
    import jinja2
    from markupsafe import Markup

    css = _inline(asset("report.css"), "style")
    js = _inline(asset("report.js"), "script")
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("keytrail.render", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        extensions=["jinja2.ext.i18n"],
    )
    env.install_gettext_callables(_, ngettext, newstyle=True)  # type: ignore[attr-defined]
    template = env.get_template(TEMPLATE)
    return template.render(
        title=title or _("KMS key usage"),
        lang=i18n.language(),
        locale_id=LOCALE_ID,
        locale_json=Markup(script_json(page_locale())),  # noqa: S704 - escaped for a script element by script_json
        generated_at=i18n.local_iso(data.generated_at) or "",
        version=data.tool_version,
        csp=content_security_policy(js, css),
        css=Markup(css),  # noqa: S704 - our packaged stylesheet, checked above
        js=Markup(js),  # noqa: S704 - our packaged script, checked above
        data_id=DATA_ID,
        data_json=Markup(script_json(data)),  # noqa: S704 - escaped for a script element by script_json
    )
