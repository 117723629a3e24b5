"""keytrail findings: unused keys, use of disabled keys, denied attempts, new principals, who can vs who did."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import click
import orjson

from keytrail import i18n
from keytrail.analysis.findings import SEVERITIES, findings_as_dicts, findings_report
from keytrail.cli.exits import command
from keytrail.cli.finding_options import FindingRequest, finding_options
from keytrail.cli.loading import exit_code, loaded_store
from keytrail.cli.options import SCREEN_OPTIONS, Output
from keytrail.cli.writing import screen_for, write_text
from keytrail.i18n import N_, _
from keytrail.render import FORMATS, Column, render
from keytrail.render.interchange import FINDING_FORMATS, render_findings
from keytrail.times import iso

# the table and Markdown: the summary names the key and principal
FINDING_COLUMNS = [
    Column("severity", N_("severity")),
    Column("kind", N_("kind")),
    Column("summary", N_("finding")),
    Column("evidence", N_("evidence")),
    Column("recommendation", N_("recommendation")),
]
CSV_COLUMNS = [
    Column("severity", N_("severity")),
    Column("kind", N_("kind")),
    Column("key", N_("key")),
    Column("principal", N_("principal")),
    Column("summary", N_("finding")),
    Column("evidence", N_("evidence")),
    Column("evidence_count", N_("calls"), True),
    Column("recommendation", N_("recommendation")),
    Column("details", N_("details")),
]


def _evidence_cell(f: dict[str, Any], human: bool) -> str:
    """The evidence calls in one cell: UTC and English for CSV, in the zone and language for people."""
    when = i18n.local_iso if human else (lambda t: t)
    ev = [f"{e['event_id'] or '?'} {when(e['event_time']) or ''}".strip() for e in f["evidence"]]
    more = f["evidence_count"] - len(ev)
    if more <= 0 or not ev:
        return "; ".join(ev)
    return "; ".join(ev) + ((_(" (+{n} more)") if human else " (+{n} more)").format(n=more))


def table_rows(findings: list[dict[str, Any]], with_details: bool = False) -> list[dict[str, Any]]:
    """Findings as flat rows for table and Markdown (for people), and CSV (``with_details``: data)."""
    out = []
    for f in findings:
        row = {**f, "evidence": _evidence_cell(f, human=not with_details)}
        if with_details:
            row["details"] = orjson.dumps(f["details"], option=orjson.OPT_SORT_KEYS).decode()
        out.append(row)
    return out


@command("findings")
@finding_options
@click.option("--format", "fmt", type=click.Choice(FORMATS + FINDING_FORMATS), default="table", show_default=True,
              help="Output format; asff (Security Hub), ocsf (Detection Finding) and sarif (2.1.0) too.")
@click.option("--output", "-o", "output_path", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Write the report to FILE instead of stdout.")
@SCREEN_OPTIONS[0]
@SCREEN_OPTIONS[1]
def findings_command(request: FindingRequest, fmt: str, output_path: str | None, width: int | None,
                     no_color: bool) -> int:
    """Findings over the window: unused keys (or "no evidence"), keys still called while disabled or
    pending deletion, denied attempts, new principals, cross-account and root use, use from
    unexpected networks, and who can (key policy, grants) vs who did; also as ASFF, OCSF or SARIF,
    each finding with a stable id. Exit 0 (3 on partial input)."""
    output = Output(fmt, output_path, width, not no_color)
    inputs, window, options = request.inputs, request.window, request.options
    read_since = request.read_since
    with loaded_store(inputs, inputs.source_options(read_since, window.until)) as loaded:
        request.checked(loaded.store)  # a --key the store does not know is an error, not "no findings"
        report = findings_report(loaded.store, options)
        data = findings_as_dicts(report.findings)
        screen = screen_for(output)
        if output.fmt in FINDING_FORMATS:
            now = iso(datetime.now(UTC).replace(tzinfo=None))
            text = render_findings(report.findings, output.fmt, now, inputs.aws.region)
        elif screen is not None:
            from keytrail.render.verdicts import findings_text

            text = findings_text(data, screen, SEVERITIES)
        elif output.fmt == "json":
            text = render(data, FINDING_COLUMNS, "json")
        elif output.fmt == "csv":
            text = render(table_rows(data, with_details=True), CSV_COLUMNS, "csv")
        else:
            text = render(table_rows(data), FINDING_COLUMNS, output.fmt, _("findings"))
        write_text(text, output.path)
        if not inputs.quiet:
            for note in report.notes:
                click.echo("keytrail: " + _("note: {note}").format(note=note), err=True)
            by_sev = {s: sum(1 for f in report.findings if f.severity == s) for s in SEVERITIES}
            counts = ", ".join(f"{n} {s}" for s, n in by_sev.items() if n)
            found = _("{n} finding(s)").format(n=len(report.findings))
            click.echo(f"keytrail: {found}{': ' + counts if counts else ''}", err=True)
        return exit_code(loaded)
