"""What every command shares: source and output options, opening the store, exit codes."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import click

from keytrail.analysis.filters import Filters, parse_time_bound
from keytrail.errors import KeytrailError, PartialInputError, UsageError
from keytrail.pipeline import IngestReport, ingest
from keytrail.render import FORMATS, Column, render
from keytrail.sources.registry import SourceOptions, open_sources
from keytrail.store import Store

EXIT_OK = 0
EXIT_VIOLATIONS = 1
EXIT_USAGE = 2
EXIT_PARTIAL = 3

F = TypeVar("F", bound=Callable[..., Any])


def source_options(f: F) -> F:
    """SOURCE... arguments and the options that say how to read them."""
    options = [
        click.argument("sources", nargs=-1, metavar="[SOURCE]..."),
        click.option("--db", type=click.Path(dir_okay=False), help="Persistent store (DuckDB file); sources given too are ingested into it first."),
        click.option("--strict", is_flag=True, help="Fail (exit 3) before any output if any input could not be read."),
        click.option("--quiet", "-q", is_flag=True, help="No progress bar or summary on stderr (errors still shown)."),
        click.option("--workers", type=click.IntRange(1, 64), default=None, help="Worker processes (default: every core)."),
        click.option("--profile", default=None, help="AWS profile for s3://, lookup:// and athena:// sources."),
        click.option("--region", "aws_region", default=None, help="AWS Region for API calls."),
        click.option("--accounts", default=None, help="Comma-separated account ids to read (S3 sources)."),
        click.option("--regions", default=None, help="Comma-separated Regions to read, or 'all' (S3, lookup sources)."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def filter_options(f: F) -> F:
    options = [
        click.option("--since", default=None, help="From this ISO-8601 date or date-time (UTC unless an offset is given), inclusive."),
        click.option("--until", default=None, help="Up to this ISO-8601 date or date-time, exclusive."),
        click.option("--account", default=None, help="Only keys owned by this account."),
        click.option("--key-region", "key_region", default=None, help="Only keys in this Region."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def output_options(f: F) -> F:
    f = click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True), default=None, help="Write the report to FILE instead of stdout.")(f)
    f = click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True, help="Output format.")(f)
    return f


def split_csv(value: str | None) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(",") if v.strip()) if value else ()


@dataclass
class Loaded:
    store: Store
    report: IngestReport | None


def progress_bar(quiet: bool) -> Callable[[IngestReport], None] | None:
    if quiet or not sys.stderr.isatty():
        return None
    from keytrail.cli.progress import ProgressBar

    return ProgressBar()


def summary_line(r: IngestReport) -> str:
    parts = [f"{r.files_ingested} file(s) read"]
    if r.files_unchanged:
        parts.append(f"{r.files_unchanged} unchanged since the last ingest")
    if r.files_skipped:
        reasons = "; ".join(f"{n} {reason}" for reason, n in sorted(r.skip_reasons.items(), key=lambda x: (-x[1], x[0])))
        parts.append(f"{r.files_skipped} skipped ({reasons})")
    if r.files_error:
        parts.append(f"{r.files_error} unreadable")
    text = ", ".join(parts)
    text += f"; {r.records} record(s), {r.kms_records} KMS call(s), {r.rows} key-use row(s)"
    if r.records_rejected:
        text += f", {r.records_rejected} record(s) rejected"
    if r.records_unattributed:
        text += f", {r.records_unattributed} KMS call(s) unattributable"
    mb = r.bytes_read / 1e6
    if r.seconds > 0 and mb:
        text += f" in {r.seconds:.1f} s ({mb / r.seconds:.0f} MB/s)"
    return text


def report_problems(r: IngestReport) -> None:
    for line in r.errors:
        click.echo(f"keytrail: error: {line}", err=True)
    for line in r.record_problems:
        click.echo(f"keytrail: skipped record: {line}", err=True)
    if r.records_rejected > len(r.record_problems):
        click.echo(f"keytrail: ... and {r.records_rejected - len(r.record_problems)} more rejected record(s)", err=True)


@contextmanager
def loaded_store(
    sources: Sequence[str],
    db: str | None,
    strict: bool,
    quiet: bool,
    workers: int | None,
    source_opts: SourceOptions | None = None,
    need_sources: bool = True,
) -> Iterator[Loaded]:
    """The store a report reads: ``--db`` (after ingesting any sources), or a temporary one."""
    if not sources and not db:
        if need_sources:
            raise UsageError("give SOURCE paths or URLs, or --db FILE (see --help)")
    tmpdir: tempfile.TemporaryDirectory[str] | None = None
    if db:
        store = Store(db, read_only=not sources and os.path.exists(db))
    else:
        # one-shot runs use a temporary on-disk store so memory stays flat on large archives
        tmpdir = tempfile.TemporaryDirectory(prefix="keytrail-")
        store = Store(os.path.join(tmpdir.name, "oneshot.duckdb"))
    try:
        report = None
        if sources:
            srcs = open_sources(sources, source_opts)
            report = ingest(srcs, store, workers=workers, progress=progress_bar(quiet), strict=False)
            if strict and report.partial:
                report_problems(report)
                raise PartialInputError(report.problems())
            report_problems(report)
            if not quiet:
                click.echo(f"keytrail: {summary_line(report)}", err=True)
        elif store.needs_resolve() and not store.read_only:
            from keytrail.resolve import resolve

            resolve(store)
        yield Loaded(store, report)
    finally:
        store.close()
        if tmpdir is not None:
            tmpdir.cleanup()


def make_filters(
    keys: Sequence[str] = (),
    principal: str | None = None,
    since: str | None = None,
    until: str | None = None,
    account: str | None = None,
    key_region: str | None = None,
) -> Filters:
    return Filters(
        keys=tuple(keys),
        principal=principal,
        since=parse_time_bound(since, "--since"),
        until=parse_time_bound(until, "--until"),
        account=account,
        region=key_region,
    )


def emit(rows: Sequence[dict[str, Any]], columns: Sequence[Column], fmt: str, output: str | None, title: str | None = None) -> None:
    write_text(render(rows, columns, fmt, title), output)


def write_text(text: str, output: str | None) -> None:
    """To stdout, or atomically to a file (never a half-written report)."""
    if output:
        tmp = f"{output}.tmp-{os.getpid()}"
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        os.replace(tmp, output)
    else:
        click.echo(text, nl=False)


def exit_code(loaded: Loaded) -> int:
    return EXIT_PARTIAL if loaded.report is not None and loaded.report.partial else EXIT_OK


def fail(e: KeytrailError) -> int:
    click.echo(f"keytrail: error: {e}", err=True)
    if isinstance(e, UsageError):
        return EXIT_USAGE
    if isinstance(e, PartialInputError):
        return EXIT_PARTIAL
    return EXIT_USAGE
