"""keytrail watch: ingest what is new, and notify only the findings that are new since the last run."""

from __future__ import annotations

import re
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import click

from keytrail.analysis.filters import Filters
from keytrail.cli.exits import EXIT_OK, EXIT_PARTIAL, EXIT_VIOLATIONS, KeytrailCommand, fail
from keytrail.cli.finding_options import Selection, selection_options
from keytrail.cli.options import DB_ENV, split_csv
from keytrail.cli.stderr import log_to_stderr, progress_bar, report_problems, summary_line
from keytrail.deliver.notify import Notifier, notifier_for
from keytrail.deliver.watch import Watch, run_once
from keytrail.errors import KeytrailError, UsageError
from keytrail.i18n import _
from keytrail.render import safe
from keytrail.sources.aws import AwsConfig
from keytrail.sources.registry import SourceOptions, open_sources
from keytrail.store import Store

_DURATION = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: str, option: str) -> timedelta:
    m = _DURATION.match(value)
    if not m or int(m[1]) <= 0:
        raise UsageError(_("{option}: {value!r} is not a duration (30s, 5m, 1h, 7d)").format(option=option, value=value))
    return timedelta(seconds=int(m[1]) * _UNITS[m[2]])


class Stopped(BaseException):
    """SIGTERM or SIGINT: stop (raised where the run is, so that its transaction rolls back)."""


class Stopper:
    """Turns SIGTERM and SIGINT into ``Stopped``, except while a notification is sent and recorded:
    then the stop waits for it to finish."""

    def __init__(self) -> None:
        self.requested = threading.Event()
        self._critical = False

    @contextmanager
    def installed(self) -> Iterator[None]:
        """The handlers, for the duration of the block (then the previous ones again)."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {s: signal.signal(s, self._handle) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            yield
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)

    def _handle(self, _signum: int, _frame: Any) -> None:
        self.requested.set()
        if not self._critical:
            raise Stopped

    @contextmanager
    def critical(self) -> Iterator[None]:
        self._critical = True
        try:
            yield
        finally:
            self._critical = False
        if self.requested.is_set():
            raise Stopped


def _one_run(watch: Watch, db: str, sources: tuple[str, ...], source_options: SourceOptions,
             workers: int | None, quiet: bool) -> int:
    now = datetime.now(UTC).replace(tzinfo=None)
    with Store(db) as store:
        opened = open_sources(list(sources), source_options) if sources else []
        result = run_once(watch, store, opened, now, workers, progress_bar(quiet))
    code = EXIT_OK
    if result.ingest is not None:
        report_problems(result.ingest)
        if not quiet:
            click.echo(f"keytrail: {summary_line(result.ingest)}", err=True)
        if result.ingest.partial:
            code = EXIT_PARTIAL
    for error in result.errors:
        click.echo("keytrail: " + _("error: notification failed (kept for the next run): {error}").format(
            error=safe.escaped(error)), err=True)
    if not quiet:
        for note in result.notes:
            click.echo("keytrail: " + _("note: {note}").format(note=note), err=True)
        click.echo(f"keytrail: {result.line()}", err=True)
    return EXIT_VIOLATIONS if result.errors else code


class _Runs:
    """The runs of one ``keytrail watch``."""

    def __init__(self, notifier: Notifier, selection: Selection, span: timedelta | None, mark_known: bool, db: str,
                 sources: tuple[str, ...], workers: int | None, quiet: bool,
                 aws: tuple[str | None, str | None, tuple[str, ...], tuple[str, ...]], stopper: Stopper) -> None:
        self.notifier, self.selection, self.span, self.mark_known = notifier, selection, span, mark_known
        self.db, self.sources, self.workers, self.quiet, self.aws, self.stopper = db, sources, workers, quiet, aws, stopper

    def run(self) -> int:
        now = datetime.now(UTC).replace(tzinfo=None)
        options = self.selection.options(Filters(since=now - self.span if self.span else None))
        watch = Watch(self.notifier, options, mark_known=self.mark_known, critical=self.stopper.critical)
        # remote sources: from yesterday on (today's S3 prefixes, and yesterday's last files)
        read_since = (now - timedelta(days=1)).strftime("%Y-%m-%d")
        profile, region, accounts, regions = self.aws
        source_options = SourceOptions(profile, region, accounts, regions, read_since, None)
        return _one_run(watch, self.db, self.sources, source_options, self.workers, self.quiet)

    def loop(self, once: bool, pause: float) -> int:
        while True:
            try:
                code = self.run()
            except KeytrailError as e:
                if once or isinstance(e, UsageError):
                    raise
                code = fail(e)  # the next run tries again (a busy store, an unreachable source)
            self.mark_known = False
            if once or self.stopper.requested.is_set():
                return code
            self.stopper.requested.wait(pause)
            if self.stopper.requested.is_set():
                return EXIT_OK


@click.command("watch", cls=KeytrailCommand)
@click.argument("sources", nargs=-1, metavar="[SOURCE]...")
@click.option("--db", type=click.Path(dir_okay=False), envvar=DB_ENV, required=True,
              help=f"The store; it also keeps what was notified (default: ${DB_ENV}).")
@click.option("--once", is_flag=True, help="One run, then exit (for cron, EventBridge Scheduler, a Lambda or CI).")
@click.option("--interval", default="5m", show_default=True, metavar="DURATION", help="Time between runs (30s, 5m, 1h).")
@click.option("--notify", "target", default="-", show_default=True, metavar="URL|sns://TOPIC_ARN|-",
              help="A Slack-compatible webhook URL, an SNS topic, or - for JSON lines on stdout.")
@click.option("--window", default=None, metavar="DURATION", help="Findings over the last DURATION only (7d); new principals against "
                                              "everything before it.")
@click.option("--mark-known", is_flag=True, help="Record the findings of this run as known without notifying them "
                                                 "(start watching a store that already has findings).")
@selection_options
@click.option("--profile", default=None, help="AWS profile (S3 and API sources, SNS).")
@click.option("--region", "aws_region", default=None, help="AWS Region for API calls.")
@click.option("--accounts", default=None, help="Comma-separated account ids to read (S3 sources).")
@click.option("--regions", default=None, help="Comma-separated Regions to read, or 'all' (S3, lookup sources).")
@click.option("--workers", type=click.IntRange(1, 64), default=None, help="Worker processes (default: every core).")
@click.option("--quiet", "-q", is_flag=True, help="No progress or summary on stderr (errors still shown).")
def watch_command(
    sources: tuple[str, ...], db: str, once: bool, interval: str, target: str, window: str | None,
    mark_known: bool, selection: Selection, profile: str | None, aws_region: str | None, accounts: str | None,
    regions: str | None, workers: int | None, quiet: bool,
) -> int:
    """Ingest what is new in the SOURCEs (today's S3 prefixes, lookup://, logs://, local folders), take the
    findings, and notify only those that are new since the last run (the store keeps what was
    notified): to a Slack-compatible webhook, an SNS topic, or as JSON lines on stdout. A failed
    notification is retried with backoff and, failing that, sent by the next run -- never lost,
    never sent twice. --once runs once (cron, a scheduler, CI); otherwise every --interval until
    SIGTERM or Ctrl-C. Exit 0; 1 a notification failed (kept for the next run); 2 usage error or
    store busy; 3 some input unreadable."""
    pause = parse_duration(interval, "--interval").total_seconds()
    span = parse_duration(window, "--window") if window else None
    config = AwsConfig(profile, aws_region)
    notifier = notifier_for(target, config, click.get_text_stream("stdout"))
    stopper = Stopper()
    log_to_stderr(quiet)
    runs = _Runs(notifier, selection, span, mark_known, db, sources, workers, quiet,
                 (profile, aws_region, split_csv(accounts), split_csv(regions)), stopper)
    try:
        with stopper.installed():
            return runs.loop(once, pause)
    except Stopped:
        if not quiet:
            click.echo("keytrail: watch: " + _("stopped"), err=True)
        return EXIT_OK
