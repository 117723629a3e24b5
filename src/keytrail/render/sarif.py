"""Findings as a SARIF 2.1.0 log: one run of the tool ``keytrail``, one rule per finding kind, one
result per finding.

* ``ruleId`` is the kind; ``level`` error (high), warning (medium), note (low, info) and
  ``kind`` ``informational`` for info findings; the result's ``properties`` hold the severity,
  the principal, the evidence and the kind's details.
* ``correlationGuid`` and ``fingerprints["keytrail/v1"]`` identify the finding across runs
  (``analysis.findings.identity``); ``locations`` name the key (and the principal) as logical
  locations -- a finding is about a cloud resource, not a line of source code.

Every message string follows SARIF's rules for untrusted text (SARIF 2.1.0 section 3.11):

* plain text (``message.text``): control characters are shown as ``\\xNN``; ``\\``, ``[`` and
  ``]`` are backslash-escaped so that no embedded link (``[text](target)``, 3.11.6) can form;
  ``{`` and ``}`` are doubled so that no placeholder (``{0}``, 3.11.5) can form;
* Markdown (``message.markdown``, GitHub Flavored Markdown): every value goes through
  ``render.safe.markdown`` (no link, image, autolink, HTML, code or emphasis can form), then ``{``
  and ``}`` are doubled; a value never starts a line (so never a list, quote or heading). Only
  keytrail's own words carry formatting.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from keytrail._version import __version__
from keytrail.analysis.findings.base import HIGH, INFO, LOW, MEDIUM, Finding
from keytrail.analysis.findings.identity import finding_id, finding_uuid
from keytrail.i18n import _
from keytrail.render import safe

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
LEVELS = {HIGH: "error", MEDIUM: "warning", LOW: "note", INFO: "note"}
# GitHub's code scanning reads a rule's "security-severity" (a CVSS-like score as text)
SECURITY_SEVERITY = {HIGH: "8.0", MEDIUM: "5.0", LOW: "2.0", INFO: "0.0"}

_TEXT_ESCAPES = str.maketrans({"\\": "\\\\", "[": "\\[", "]": "\\]", "{": "{{", "}": "}}"})
_BRACES = str.maketrans({"{": "{{", "}": "}}"})
_INVISIBLE = re.compile(r"[\u2028\u2029\ufeff]")


def plain(value: str) -> str:
    """Untrusted text for a SARIF plain text message: shown as itself, never a link or placeholder."""
    shown = _INVISIBLE.sub(lambda m: f"\\u{ord(m.group()):04x}", safe.escaped(value))
    return shown.translate(_TEXT_ESCAPES)


def markdown(value: str) -> str:
    """Untrusted text for a SARIF Markdown message: shown as itself, never markup or a placeholder."""
    return safe.markdown(value).translate(_BRACES)


# the words of each result's message, in keytrail's own words around the values it names
def _message(f: Finding) -> dict[str, str]:
    text = f"{plain(f.summary)}. {plain(f.recommendation)}."
    # each value follows keytrail's words on its line: none can start a block (a list, a quote, a heading)
    md = f"**{markdown(f.kind)}**: {markdown(f.summary)}.\n\n" + _("Recommendation: {text}.").format(
        text=markdown(f.recommendation))
    return {"text": text, "markdown": md}


def _rules(kinds: Sequence[str], severities: dict[str, str]) -> list[dict[str, Any]]:
    out = []
    for kind in kinds:
        sev = severities[kind]
        out.append({
            "id": kind,
            "name": "".join(w.capitalize() for w in kind.split("-")),
            "shortDescription": {"text": f"keytrail finding: {kind}"},
            "fullDescription": {"text": f"keytrail finding kind {kind} (see the findings table of keytrail's README)."},
            "defaultConfiguration": {"level": LEVELS[sev]},
            "properties": {"tags": ["security", "aws-kms"], "security-severity": SECURITY_SEVERITY[sev]},
        })
    return out


def _locations(f: Finding) -> list[dict[str, Any]]:
    out = []
    if f.key:
        out.append({"logicalLocations": [{"fullyQualifiedName": f.key, "kind": "resource"}]})
    if f.principal:
        out.append({"logicalLocations": [{"fullyQualifiedName": f.principal, "kind": "principal"}]})
    return out


def to_result(f: Finding, rule_index: int) -> dict[str, Any]:
    result: dict[str, Any] = {
        "ruleId": f.kind,
        "ruleIndex": rule_index,
        "level": LEVELS[f.severity],
        "kind": "informational" if f.severity == INFO else "fail",
        "message": _message(f),
        "correlationGuid": finding_uuid(f),
        "fingerprints": {"keytrail/v1": finding_id(f)},
        "properties": {
            "severity": f.severity,
            "key": f.key,
            "principal": f.principal,
            "evidence": [{"event_id": e.event_id, "event_time": e.event_time, "event_name": e.event_name}
                         for e in f.evidence],
            "evidence_count": f.evidence_count,
            "details": f.details,
        },
    }
    locations = _locations(f)
    if locations:
        result["locations"] = locations
    return result


def sarif_log(findings: Sequence[Finding]) -> dict[str, Any]:
    """The SARIF log of one keytrail run over ``findings``."""
    kinds: list[str] = []
    severities: dict[str, str] = {}
    order = {s: i for i, s in enumerate((HIGH, MEDIUM, LOW, INFO))}
    for f in findings:
        if f.kind not in severities:
            kinds.append(f.kind)
            severities[f.kind] = f.severity
        elif order[f.severity] < order[severities[f.kind]]:
            severities[f.kind] = f.severity  # a rule's default level: its most severe finding
    index = {k: i for i, k in enumerate(kinds)}
    return {
        "$schema": SARIF_SCHEMA,
        "version": SARIF_VERSION,
        "runs": [{
            "tool": {"driver": {
                "name": "keytrail",
                "version": __version__,
                "rules": _rules(kinds, severities),
            }},
            "columnKind": "unicodeCodePoints",
            "results": [to_result(f, index[f.kind]) for f in findings],
        }],
    }
