"""The formats security tools take findings in: ASFF (Security Hub), OCSF (SIEMs, security lakes)
and SARIF (code scanning and SARIF viewers), as one JSON document each (``render.asff``,
``render.ocsf``, ``render.sarif``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from keytrail.analysis.findings.base import Finding
from keytrail.render import safe
from keytrail.render.asff import asff_document
from keytrail.render.ocsf import ocsf_events
from keytrail.render.sarif import sarif_log

FINDING_FORMATS = ("asff", "ocsf", "sarif")


def findings_document(findings: Sequence[Finding], fmt: str, now: str, region: str | None = None) -> Any:
    """The findings in ``fmt`` (one of ``FINDING_FORMATS``), taken at ``now`` (ISO-8601 UTC);
    ``region``: the Security Hub Region of ASFF findings (default: each key's Region)."""
    if fmt == "asff":
        return asff_document(findings, now, region)
    if fmt == "ocsf":
        return ocsf_events(findings, now)
    if fmt == "sarif":
        return sarif_log(findings)
    raise ValueError(f"not a findings format: {fmt!r}")


def dumps(document: Any) -> str:
    """JSON text (indented, one trailing newline) with nothing raw a viewer may act on."""
    return safe.json_text(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode()) + "\n"


def render_findings(findings: Sequence[Finding], fmt: str, now: str, region: str | None = None) -> str:
    return dumps(findings_document(findings, fmt, now, region))
