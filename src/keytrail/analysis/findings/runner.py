"""Running the finding kinds over a store, in a stable order."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from keytrail.analysis.findings import access, conflicts, denied, exposure, key_state, new_principals, unused
from keytrail.analysis.findings.base import SEVERITIES, Finding, FindingOptions
from keytrail.analysis.findings.context import Context
from keytrail.errors import UsageError
from keytrail.i18n import _
from keytrail.store import Store

_MODULES: tuple[tuple[tuple[str, ...], Callable[[Context], list[Finding]]], ...] = (
    (unused.KINDS, unused.find),
    (key_state.KINDS, key_state.find),
    (denied.KINDS, denied.find),
    (new_principals.KINDS, new_principals.find),
    (exposure.KINDS, exposure.find),
    (access.KINDS, access.find),
    (conflicts.KINDS, conflicts.find),
)

KINDS: tuple[str, ...] = tuple(k for kinds, _ in _MODULES for k in kinds)
"""Every finding kind, in report order."""


@dataclass(frozen=True)
class FindingsReport:
    """The findings, and notes on what could not be judged (say them next to the findings)."""

    findings: list[Finding]
    notes: list[str] = field(default_factory=list)


def findings_report(store: Store, options: FindingOptions | None = None) -> FindingsReport:
    """Every selected finding kind over the store, sorted by severity, kind, key and principal."""
    opts = options or FindingOptions()
    unknown = sorted(set(opts.kinds) - set(KINDS))
    if unknown:
        raise UsageError(_("unknown finding kind(s): {unknown} (one of: {kinds})").format(
            unknown=", ".join(unknown), kinds=", ".join(KINDS)))
    if opts.min_severity not in SEVERITIES:
        raise UsageError(_("unknown severity {severity!r} (one of: {severities})").format(
            severity=opts.min_severity, severities=", ".join(SEVERITIES)))
    if opts.evidence_limit < 0:
        raise UsageError(_("evidence limit must be 0 or more"))
    ctx = Context(store, opts)
    wanted = set(opts.kinds) or set(KINDS)
    found: list[Finding] = []
    for kinds, run in _MODULES:
        if wanted & set(kinds):
            found += [f for f in run(ctx) if f.kind in wanted]
    limit = SEVERITIES.index(opts.min_severity)
    rank = {k: i for i, k in enumerate(KINDS)}
    found = [f for f in found if SEVERITIES.index(f.severity) <= limit]
    found.sort(key=lambda f: (SEVERITIES.index(f.severity), rank[f.kind], f.key or "", f.principal or "", f.summary))
    return FindingsReport(found, ctx.notes)


def run_findings(store: Store, options: FindingOptions | None = None) -> list[Finding]:
    """The findings only (see ``findings_report`` for the notes that go with them)."""
    return findings_report(store, options).findings


def findings_as_dicts(findings: Iterable[Finding]) -> list[dict[str, Any]]:
    """Plain JSON-ready dicts, one per finding (``Finding.as_dict``)."""
    return [f.as_dict() for f in findings]
