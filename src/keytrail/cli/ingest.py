"""keytrail ingest: add sources to a persistent store."""

from __future__ import annotations

import sys

import click

from keytrail.cli.common import (
    EXIT_OK,
    EXIT_PARTIAL,
    EXIT_VIOLATIONS,
    fail,
    log_to_stderr,
    progress_bar,
    report_problems,
    source_options,
    split_csv,
    summary_line,
)
from keytrail.cli.verifying import after_ingest, verify_if_asked
from keytrail.errors import KeytrailError, PartialInputError, UsageError
from keytrail.pipeline import ingest
from keytrail.sources.registry import SourceOptions, open_sources
from keytrail.store import Store


@click.command("ingest")
@source_options
@click.option("--since", default=None, help="Remote sources: only logs from this date (ISO-8601).")
@click.option("--until", default=None, help="Remote sources: only logs before this date (ISO-8601).")
@click.option("--key", "keys", multiple=True, help="lookup:// sources: look up events of this key ARN only.")
@click.option("--workgroup", default=None, help="athena:// sources: the Athena workgroup to run the query in.")
@click.option("--athena-output", default=None, help="athena:// sources: s3:// location for the query results.")
def ingest_command(
    sources: tuple[str, ...],
    db: str | None,
    strict: bool,
    quiet: bool,
    workers: int | None,
    profile: str | None,
    aws_region: str | None,
    accounts: str | None,
    regions: str | None,
    since: str | None,
    until: str | None,
    keys: tuple[str, ...],
    workgroup: str | None,
    athena_output: str | None,
) -> None:
    """Read SOURCEs into the store --db FILE (files already read are skipped)."""
    try:
        if not db:
            raise UsageError("ingest needs --db FILE (reports without --db read their sources directly)")
        if not sources:
            raise UsageError("ingest needs at least one SOURCE")
        extra = {k: v for k, v in (("workgroup", workgroup), ("athena_output", athena_output)) if v}
        gate = verify_if_asked(sources, quiet, ingesting=True)  # fail mode: raises before anything is read
        opts = SourceOptions(profile, aws_region, split_csv(accounts), split_csv(regions), since, until, keys, extra)
        log_to_stderr(quiet)
        srcs = open_sources(sources, opts)
        try:
            if gate is not None:
                srcs = gate.wrap(srcs)  # only the log files verification vouched for
            with Store(db) as store:
                report = ingest(srcs, store, workers=workers, progress=progress_bar(quiet))
                report_problems(report)
                if not quiet:
                    click.echo(f"keytrail: {summary_line(report)}", err=True)
                if gate is not None:
                    after_ingest(gate, report.errors, ingesting=True)
                if strict and report.partial:
                    raise PartialInputError(report.problems())
        finally:
            if gate is not None:
                gate.close()
        if gate is not None and gate.failed:
            sys.exit(EXIT_VIOLATIONS)
        sys.exit(EXIT_PARTIAL if report.partial or (gate is not None and gate.unreadable) else EXIT_OK)
    except KeytrailError as e:
        sys.exit(fail(e))
