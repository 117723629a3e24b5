"""keytrail findings: unused keys, use of disabled keys, denied attempts, new principals, who can vs who did."""

from __future__ import annotations

from typing import Any

import click
import orjson

from keytrail.analysis.findings import (
    KINDS,
    SEVERITIES,
    FindingOptions,
    findings_as_dicts,
    findings_report,
    parse_networks,
)
from keytrail.cli.exits import command
from keytrail.cli.loading import exit_code, loaded_store
from keytrail.cli.options import (
    KEY_HELP,
    Inputs,
    Output,
    Scope,
    Window,
    filter_options,
    input_options,
    output_options,
    split_csv,
)
from keytrail.cli.writing import write_text
from keytrail.errors import BASELINE_SINCE, BASELINE_UNTIL, UsageError
from keytrail.render import Column, render
from keytrail.times import parse_time_bound

# the table and Markdown: the summary names the key and principal
FINDING_COLUMNS = [
    Column("severity", "severity"),
    Column("kind", "kind"),
    Column("summary", "finding"),
    Column("evidence", "evidence"),
    Column("recommendation", "recommendation"),
]
CSV_COLUMNS = [
    Column("severity", "severity"),
    Column("kind", "kind"),
    Column("key", "key"),
    Column("principal", "principal"),
    Column("summary", "finding"),
    Column("evidence", "evidence"),
    Column("evidence_count", "calls", True),
    Column("recommendation", "recommendation"),
    Column("details", "details"),
]


def _evidence_cell(f: dict[str, Any]) -> str:
    ev = [f"{e['event_id'] or '?'} {e['event_time'] or ''}".strip() for e in f["evidence"]]
    more = f["evidence_count"] - len(ev)
    return "; ".join(ev) + (f" (+{more} more)" if more > 0 and ev else "")


def table_rows(findings: list[dict[str, Any]], with_details: bool = False) -> list[dict[str, Any]]:
    """Findings as flat rows for table, CSV and Markdown."""
    out = []
    for f in findings:
        row = {**f, "evidence": _evidence_cell(f)}
        if with_details:
            row["details"] = orjson.dumps(f["details"], option=orjson.OPT_SORT_KEYS).decode()
        out.append(row)
    return out


def _kinds(values: tuple[str, ...]) -> tuple[str, ...]:
    kinds = tuple(k for v in values for k in split_csv(v))
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise UsageError(f"--kind: unknown kind {unknown[0]!r} (one of: {', '.join(KINDS)})")
    return kinds


@command("findings")
@input_options
@filter_options
@click.option("--key", "keys", multiple=True, help=KEY_HELP)
@click.option("--baseline-since", default=None,
              help="new-principal: the baseline starts here (default: the store's start; remote sources are read from here).")
@click.option("--baseline-until", default=None, help="new-principal: the baseline ends here, exclusive (default: --since).")
@click.option("--allowed-ips", default=None, metavar="CIDR,...", help="unexpected-network: the source networks calls may come from.")
@click.option("--allowed-vpce", default=None, metavar="VPCE,...", help="unexpected-network: the VPC endpoints calls may come through.")
@click.option("--kind", "kinds", multiple=True, metavar="KIND", help=f"Only these kinds (repeatable or comma-separated): {', '.join(KINDS)}.")
@click.option("--min-severity", type=click.Choice(SEVERITIES), default="info", show_default=True, help="Leave out less severe findings.")
@click.option("--evidence", "evidence_limit", type=click.IntRange(0, 1000), default=5, show_default=True, help="Calls listed per finding.")
@output_options
def findings_command(
    inputs: Inputs,
    window: Window,
    scope: Scope,
    keys: tuple[str, ...],
    baseline_since: str | None,
    baseline_until: str | None,
    allowed_ips: str | None,
    allowed_vpce: str | None,
    kinds: tuple[str, ...],
    min_severity: str,
    evidence_limit: int,
    output: Output,
) -> int:
    """Findings over the window: unused keys (or "no evidence"), keys still called while disabled or
    pending deletion, denied attempts, new principals, cross-account and root use, use from
    unexpected networks, and who can (key policy, grants) vs who did. Exit 0 (3 on partial input)."""
    wanted = _kinds(kinds)
    options = FindingOptions(
        filters=scope.filters(window, keys),
        baseline_since=parse_time_bound(baseline_since, BASELINE_SINCE),
        baseline_until=parse_time_bound(baseline_until, BASELINE_UNTIL),
        allowed_networks=parse_networks(split_csv(allowed_ips)),
        allowed_vpce=split_csv(allowed_vpce),
        kinds=wanted,
        min_severity=min_severity,
        evidence_limit=evidence_limit,
    )
    # remote sources must also deliver the baseline new principals are compared with
    wants_baseline = not wanted or "new-principal" in wanted
    read_since = baseline_since if wants_baseline else window.since
    with loaded_store(inputs, inputs.source_options(read_since, window.until)) as loaded:
        report = findings_report(loaded.store, options)
        data = findings_as_dicts(report.findings)
        if output.fmt == "json":
            text = render(data, FINDING_COLUMNS, "json")
        elif output.fmt == "csv":
            text = render(table_rows(data, with_details=True), CSV_COLUMNS, "csv")
        else:
            text = render(table_rows(data), FINDING_COLUMNS, output.fmt, "findings")
        write_text(text, output.path)
        if not inputs.quiet:
            for note in report.notes:
                click.echo(f"keytrail: note: {note}", err=True)
            by_sev = {s: sum(1 for f in report.findings if f.severity == s) for s in SEVERITIES}
            counts = ", ".join(f"{n} {s}" for s, n in by_sev.items() if n)
            click.echo(f"keytrail: {len(report.findings)} finding(s){': ' + counts if counts else ''}", err=True)
        return exit_code(loaded)
