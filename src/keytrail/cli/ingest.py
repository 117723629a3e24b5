"""keytrail ingest: add sources to a persistent store."""

from __future__ import annotations

import click

from keytrail.cli.exits import EXIT_OK, EXIT_PARTIAL, EXIT_VIOLATIONS, command
from keytrail.cli.options import DB_ENV, Inputs, Window, input_options, window_options
from keytrail.cli.stderr import log_to_stderr, progress_bar, refuse_empty, report_problems, summary_line
from keytrail.cli.verifying import after_ingest, verify_if_asked
from keytrail.errors import PartialInputError, UsageError
from keytrail.i18n import _
from keytrail.pipeline import ingest
from keytrail.pipeline.processes import arrow_without_pandas
from keytrail.sources.registry import open_sources
from keytrail.store import Store


@command("ingest")
@input_options
@window_options("Remote sources: only logs from this date (ISO-8601, or a time ago: 12h, 7d, 2w).",
                "Remote sources: only logs before this date (ISO-8601, or a time ago).")
@click.option("--key", "keys", multiple=True, help="lookup:// sources: look up events of this key ARN only.")
@click.option("--workgroup", default=None, help="athena:// sources: the Athena workgroup to run the query in.")
@click.option("--athena-output", default=None, help="athena:// sources: s3:// location for the query results.")
def ingest_command(inputs: Inputs, window: Window, keys: tuple[str, ...], workgroup: str | None,
                   athena_output: str | None) -> int:
    """Read SOURCEs into the store --db FILE (files already read are skipped)."""
    db = inputs.db or inputs.env_db
    if not db:
        raise UsageError(_("ingest needs --db FILE or {variable} (reports without --db read their sources directly)")
                         .format(variable=DB_ENV))
    if not inputs.sources:
        raise UsageError(_("ingest needs at least one SOURCE"))
    extra = {k: v for k, v in (("workgroup", workgroup), ("athena_output", athena_output)) if v}
    gate = verify_if_asked(inputs.sources, inputs.verify, ingesting=True)  # fail mode: raises before anything is read
    log_to_stderr(inputs.quiet)
    sources = open_sources(inputs.sources, inputs.source_options(window.since, window.until, keys, extra))
    try:
        if gate is not None:
            sources = gate.wrap(sources)  # only the log files verification vouched for
        with Store(db) as store:
            arrow_without_pandas()  # this process is keytrail's (pipeline.processes)
            report = ingest(sources, store, workers=inputs.workers, progress=progress_bar(inputs.quiet),
                            max_file_bytes=inputs.max_file_bytes)
            report_problems(report, inputs.verbose)
            if gate is None:
                refuse_empty(report)  # a SOURCE with no CloudTrail log file is said
            if not inputs.quiet:
                click.echo(f"keytrail: {summary_line(report)}", err=True)
            if gate is not None:
                after_ingest(gate, report.errors, ingesting=True)
            if inputs.strict and (report.partial or report.sources_without_logs):
                raise PartialInputError(report.problems() + report.sources_without_logs)
    finally:
        if gate is not None:
            gate.close()
    if gate is not None and gate.failed:
        return EXIT_VIOLATIONS
    partial = report.partial or report.sources_without_logs or (gate is not None and gate.unreadable)
    return EXIT_PARTIAL if partial else EXIT_OK
