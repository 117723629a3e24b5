"""What every command shares: source and output options, opening the store, exit codes."""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import click

from keytrail.analysis.filters import Filters, parse_time_bound
from keytrail.cli.verifying import after_ingest, verify_asked, verify_if_asked, verify_options
from keytrail.errors import KeytrailError, PartialInputError, UsageError
from keytrail.pipeline import IngestReport, ingest
from keytrail.render import FORMATS, Column, render, safe
from keytrail.sources.registry import SourceOptions, open_sources
from keytrail.store import Store
from keytrail.verify.gate import Gate, VerificationFailed

EXIT_OK = 0
EXIT_VIOLATIONS = 1
EXIT_USAGE = 2
EXIT_PARTIAL = 3

F = TypeVar("F", bound=Callable[..., Any])


PARQUET_META = "keytrail.parquet"


def _remember_parquet(ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    """--parquet reaches ``loaded_store`` through the click context (commands keep their signatures)."""
    if value is not None:
        if ctx.command.name == "ingest":
            raise click.UsageError("--parquet is read by reports; ingest writes a --db store (see spark-ingest)")
        ctx.meta[PARQUET_META] = value
    return value


def source_options(f: F) -> F:
    """SOURCE... arguments and the options that say how to read them."""
    options = [
        click.argument("sources", nargs=-1, metavar="[SOURCE]..."),
        click.option("--db", type=click.Path(dir_okay=False), help="Persistent store (DuckDB file); sources given too are ingested into it first."),
        click.option("--parquet", metavar="DIR", default=None, expose_value=False, callback=_remember_parquet,
                     help="Report from a Parquet dataset written by `keytrail spark-ingest` (no SOURCE, no --db)."),
        *verify_options(),
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


def _time_bound(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """--since / --until checked as the command line is read: a typo fails before any ingest."""
    try:
        parse_time_bound(value, param.opts[0])
    except UsageError as e:
        click.echo(f"keytrail: error: {e}", err=True)
        ctx.exit(EXIT_USAGE)
    return value


def key_name(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """A KEY argument checked as the command line is read (an empty name fails before any ingest)."""
    if not value.strip():
        click.echo("keytrail: error: an empty key name", err=True)
        ctx.exit(EXIT_USAGE)
    return value


def filter_options(f: F) -> F:
    options = [
        click.option("--since", default=None, callback=_time_bound,
                     help="From this ISO-8601 date or date-time (UTC unless an offset is given), inclusive."),
        click.option("--until", default=None, callback=_time_bound, help="Up to this ISO-8601 date or date-time, exclusive."),
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


PRINCIPAL_HELP = (
    "Only this principal: its ARN, its name (AppRole, role/AppRole, role/service-role/AppRole, "
    "user/test-user), a service (cloudtrail.amazonaws.com), or a glob where * is any characters "
    "('arn:aws:iam::111122223333:role/*'). Whole principals only, case-sensitive."
)


def split_csv(value: str | None) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(",") if v.strip()) if value else ()


@dataclass
class Loaded:
    store: Store
    report: IngestReport | None
    verification: Gate | None = None  # with --verify: its report, mode and what it left out


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
        parts.append(f"{r.files_skipped} skipped ({safe.escaped(reasons)})")  # reasons may quote JSON keys
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


class _StderrLog(logging.Handler):
    """keytrail's library notices on stderr ("keytrail: warning: ..."), through click."""

    def emit(self, record: logging.LogRecord) -> None:
        level = "" if record.levelno < logging.WARNING else f"{record.levelname.lower()}: "
        click.echo(f"keytrail: {level}{safe.escaped(record.getMessage())}", err=True)


_STDERR_LOG = _StderrLog()


def log_to_stderr(quiet: bool) -> None:
    """Show the library's notices (remote sources' caveats, progress) on stderr; --quiet keeps warnings."""
    logger = logging.getLogger("keytrail")
    if _STDERR_LOG not in logger.handlers:
        logger.addHandler(_STDERR_LOG)
    logger.setLevel(logging.WARNING if quiet else logging.INFO)


def report_problems(r: IngestReport) -> None:
    # file names and reasons may quote log data: shown escaped, never as terminal controls
    for line in r.errors:
        click.echo(f"keytrail: error: {safe.escaped(line)}", err=True)
    for line in r.record_problems:
        click.echo(f"keytrail: skipped record: {safe.escaped(line)}", err=True)
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
    parquet: str | None = None,
) -> Iterator[Loaded]:
    """The store a report reads: ``--db`` (after ingesting any sources), a temporary one, or a
    Parquet dataset (``parquet``, else the command's --parquet option)."""
    if parquet is None:
        ctx = click.get_current_context(silent=True)
        parquet = ctx.meta.get(PARQUET_META) if ctx is not None else None
    if parquet is not None:
        if sources or db:
            raise UsageError("--parquet reads a dataset written by spark-ingest: give it without SOURCE or --db")
        if verify_asked():
            raise UsageError("--verify checks the digest files of SOURCEs: a --parquet dataset cannot be verified")
        from keytrail.parquet import open_parquet

        with open_parquet(parquet) as parquet_store:
            yield Loaded(parquet_store, None)
        return
    if not sources and not db:
        raise UsageError("give SOURCE paths or URLs, or --db FILE (see --help)")
    gate = verify_if_asked(sources, quiet)  # before the store is made: --verify may refuse to read anything
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
            log_to_stderr(quiet)
            srcs = open_sources(sources, source_opts)
            if gate is not None:
                srcs = gate.wrap(srcs)  # only the log files verification vouched for
            report = ingest(srcs, store, workers=workers, progress=progress_bar(quiet), strict=False)
            if strict and report.partial:
                report_problems(report)
                raise PartialInputError(report.problems())
            report_problems(report)
            if not quiet:
                click.echo(f"keytrail: {summary_line(report)}", err=True)
            if gate is not None:
                stored = [uri for uri, e in store.ledger().items() if e.status == "ingested"] if db else None
                after_ingest(gate, report.errors, stored)
        elif store.needs_resolve() and not store.read_only:
            store.resolve()
        yield Loaded(store, report, gate)
    finally:
        if gate is not None:
            gate.close()
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


def write_text(text: str, output: str | None, what: str = "the report") -> None:
    """To stdout, or to a file through ``render.output.write_output``: atomically, never through a
    planted link, created 0600 (reports hold encryption contexts, access key ids and source IPs)."""
    if output:
        from keytrail.render.output import write_output

        # a value no UTF-8 can hold (a lone surrogate) is written as its escape, as controls are
        write_output(output, text.encode("utf-8", "backslashreplace"), what)
    else:
        click.echo(text, nl=False)


def exit_code(loaded: Loaded) -> int:
    """1 when --verify found something that failed verification (whatever else happened), else 3
    when some input was unreadable, else 0."""
    gate = loaded.verification
    if gate is not None and gate.failed:
        return EXIT_VIOLATIONS
    if (loaded.report is not None and loaded.report.partial) or (gate is not None and gate.unreadable):
        return EXIT_PARTIAL
    return EXIT_OK


def fail(e: KeytrailError) -> int:
    click.echo(f"keytrail: error: {safe.escaped(str(e))}", err=True)
    if isinstance(e, UsageError):
        return EXIT_USAGE
    if isinstance(e, PartialInputError):
        return EXIT_PARTIAL
    if isinstance(e, VerificationFailed):
        return EXIT_PARTIAL if e.unreadable_only else EXIT_VIOLATIONS
    return EXIT_USAGE
