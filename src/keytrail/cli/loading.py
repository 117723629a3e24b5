"""The store a command reads: ``--db`` (after ingesting any SOURCEs), a temporary one for SOURCEs
alone, or a ``--parquet`` dataset; verification first when ``--verify`` asks for it."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import click

from keytrail.cli.exits import EXIT_OK, EXIT_PARTIAL, EXIT_VIOLATIONS
from keytrail.cli.options import DB_ENV, Inputs
from keytrail.cli.stderr import log_to_stderr, progress_bar, refuse_empty, report_problems, summary_line
from keytrail.cli.verifying import after_ingest, verify_if_asked
from keytrail.errors import PartialInputError, UsageError
from keytrail.i18n import _
from keytrail.pipeline import IngestReport, ingest
from keytrail.pipeline.processes import arrow_without_pandas
from keytrail.sources.registry import SourceOptions, open_sources
from keytrail.store import Store, open_dataset
from keytrail.verify.gate import Gate


@dataclass
class Loaded:
    store: Store
    report: IngestReport | None
    verification: Gate | None = None  # with --verify: its report, mode and what it left out


@contextmanager
def loaded_store(inputs: Inputs, source_options: SourceOptions | None = None) -> Iterator[Loaded]:
    """The store a report reads: ``--db`` (after ingesting any sources), a temporary one, or a
    Parquet dataset (``--parquet``). ``source_options``: what remote sources read."""
    if inputs.parquet is not None:
        if inputs.sources or inputs.db:
            raise UsageError(_("--parquet reads a dataset written by spark-ingest: give it without SOURCE or --db"))
        if inputs.verify.asked:
            raise UsageError(_("--verify checks the digest files of SOURCEs: a --parquet dataset cannot be verified"))
        with open_dataset(inputs.parquet) as dataset:
            yield Loaded(dataset, None)
        return
    db = inputs.store
    if not inputs.sources and not db:
        raise UsageError(_("give SOURCE paths or URLs, or --db FILE (or set {variable}; see --help)").format(variable=DB_ENV))
    gate = verify_if_asked(inputs.sources, inputs.verify)  # before the store is made: --verify may refuse to read
    tmpdir: tempfile.TemporaryDirectory[str] | None = None
    if db:
        # a report reads a store and never makes one: a mistyped name is not an empty store
        store = Store(db, read_only=not inputs.sources, create=False, named=inputs.store_named)
    else:
        # one-shot runs use a temporary on-disk store so memory stays flat on large archives
        tmpdir = tempfile.TemporaryDirectory(prefix="keytrail-")
        store = Store(os.path.join(tmpdir.name, "oneshot.duckdb"))
    try:
        report = None
        if inputs.sources:
            report = _ingest(inputs, source_options, store, gate)
        elif store.needs_resolve() and not store.read_only:
            store.resolve()
        yield Loaded(store, report, gate)
    finally:
        if gate is not None:
            gate.close()
        store.close()
        if tmpdir is not None:
            tmpdir.cleanup()


def _ingest(inputs: Inputs, source_options: SourceOptions | None, store: Store, gate: Gate | None) -> IngestReport:
    """The SOURCEs into the store a report reads, what was skipped said on stderr."""
    quiet = inputs.quiet
    log_to_stderr(quiet)
    sources = open_sources(inputs.sources, source_options)
    if gate is not None:
        sources = gate.wrap(sources)  # only the log files verification vouched for
    arrow_without_pandas()  # this process is keytrail's (pipeline.processes)
    report = ingest(sources, store, workers=inputs.workers, progress=progress_bar(quiet), strict=False,
                    max_file_bytes=inputs.max_file_bytes)
    report_problems(report, inputs.verbose)
    if gate is None:
        refuse_empty(report)  # a SOURCE with no CloudTrail log file is said, not answered with "no calls"
    if inputs.strict and (report.partial or report.sources_without_logs):
        raise PartialInputError(report.problems() + report.sources_without_logs)
    if not quiet:
        click.echo(f"keytrail: {summary_line(report)}", err=True)
    if gate is not None:
        stored = [uri for uri, e in store.ledger().items() if e.status == "ingested"] if inputs.db else None
        after_ingest(gate, report.errors, stored)
    return report


def exit_code(loaded: Loaded) -> int:
    """1 when --verify found something that failed verification (whatever else happened), else 3
    when some input was unreadable, else 0."""
    gate = loaded.verification
    if gate is not None and gate.failed:
        return EXIT_VIOLATIONS
    report = loaded.report
    if (report is not None and (report.partial or report.sources_without_logs)) or (gate is not None and gate.unreadable):
        return EXIT_PARTIAL
    return EXIT_OK
