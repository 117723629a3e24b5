"""Findings: the answers behind "who uses this key?" -- one module per kind.

    unused            unused-key, no-evidence
    key_state         pending-deletion-use, disabled-key-use
    denied            denied-attempts
    new_principals    new-principal
    exposure          cross-account-use, root-use, unexpected-network
    access            permission-never-used, grant-never-used, permission-used,
                      use-via-iam-delegation, use-not-explained  (who can vs who did)

``run_findings(store, options) -> list[Finding]``; ``Finding.as_dict()`` (or
``findings_as_dicts(findings)``) gives plain JSON-ready dicts for renderers.
"""

from keytrail.analysis.findings.base import (
    HIGH,
    INFO,
    LOW,
    MEDIUM,
    SEVERITIES,
    Evidence,
    Finding,
    FindingOptions,
    parse_networks,
)
from keytrail.analysis.findings.runner import (
    KINDS,
    FindingsReport,
    findings_as_dicts,
    findings_report,
    run_findings,
)

__all__ = [
    "HIGH",
    "INFO",
    "KINDS",
    "LOW",
    "MEDIUM",
    "SEVERITIES",
    "Evidence",
    "Finding",
    "FindingOptions",
    "FindingsReport",
    "findings_as_dicts",
    "findings_report",
    "parse_networks",
    "run_findings",
]
