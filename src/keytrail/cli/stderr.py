"""What commands say on stderr besides errors: the progress bar, the ingest summary, skipped input,
and the library's notices (remote sources' caveats, progress) through ``logging``."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Callable

import click

from keytrail import i18n
from keytrail.cli.exits import log_args
from keytrail.errors import NothingToRead
from keytrail.i18n import N_, _
from keytrail.pipeline import IngestReport
from keytrail.render import safe
from keytrail.render.words import count, duration, megabytes_per_second, number


def progress_bar(quiet: bool) -> Callable[[IngestReport], None] | None:
    if quiet or not sys.stderr.isatty():
        return None
    from keytrail.cli.progress import ProgressBar

    return ProgressBar()


def summary_line(r: IngestReport) -> str:
    """What an ingest read, in human units: "28,131 records in 132 files (13,155 KMS calls, 13,432
    key-use rows); 116 files skipped (...); 2.2 s at 4.1 MB/s"."""
    text = _("{records} in {files}").format(records=count(r.records, "record"), files=count(r.files_ingested, "file"))
    inside = []
    if r.records or r.records_rejected:
        inside = [count(r.kms_records, "KMS call"), count(r.rows, "key-use row")]
    if r.records_rejected:
        inside.append(_("{records} rejected").format(records=count(r.records_rejected, "record")))
    if r.records_unattributed:
        inside.append(_("{calls} unattributable").format(calls=count(r.records_unattributed, "KMS call")))
    if inside:
        text += " (" + _(", ").join(inside) + ")"
    if r.records_rejected or r.records_unattributed:
        text += _(", listed by `keytrail problems`")
    if r.files_unchanged:
        text += _("; {files} unchanged since the last ingest").format(files=count(r.files_unchanged, "file"))
    if r.files_skipped:
        reasons = _("; ").join(_("{n} {reason}").format(n=number(n), reason=_(reason) if reason else reason)
                               for reason, n in sorted(r.skip_reasons.items(), key=lambda x: (-x[1], x[0])))
        # reasons may quote JSON keys
        text += _("; {files} skipped ({reasons})").format(files=count(r.files_skipped, "file"), reasons=safe.escaped(reasons))
    if r.files_error:
        text += _("; {files} unreadable").format(files=count(r.files_error, "file"))
    if r.retries:
        text += _("; {requests} to AWS retried").format(requests=count(r.retries, "request"))
    if r.seconds > 0 and r.bytes_read:
        text += _("; {duration} at {rate}").format(duration=duration(r.seconds),
                                                   rate=megabytes_per_second(r.bytes_read, r.seconds))
    return text


def report_problems(r: IngestReport, verbose: bool = False) -> None:
    # file names and reasons may quote log data: shown escaped, never as terminal controls
    if verbose:
        for line in r.retry_notes:
            click.echo("keytrail: " + _("retried: {request}").format(request=safe.escaped(line)), err=True)
        if r.retries > len(r.retry_notes):
            click.echo("keytrail: " + _("... and {n} more retried request(s)").format(n=r.retries - len(r.retry_notes)),
                       err=True)
    for line in r.errors:
        click.echo("keytrail: " + _("error: {message}").format(message=safe.escaped(line)), err=True)
    for line in r.record_problems:
        click.echo("keytrail: " + _("skipped record: {problem}").format(problem=safe.escaped(line)), err=True)
    if r.records_rejected > len(r.record_problems):
        more = r.records_rejected - len(r.record_problems)
        click.echo("keytrail: " + _("... and {n} more rejected record(s)").format(n=more), err=True)


_UTC_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\Z")
_LEVELS = {logging.WARNING: N_("warning: "), logging.ERROR: N_("error: "), logging.CRITICAL: N_("critical: ")}


def refuse_empty(r: IngestReport) -> None:
    """Every SOURCE without a CloudTrail log file: ``NothingToRead`` (no report). Some of them: each
    named on stderr (the others are read; exit code 3)."""
    if r.nothing_read:
        raise NothingToRead(r.sources_without_logs + [_("{source}: no CloudTrail log file: it could not be read")
                                                      .format(source=s) for s in r.sources_unreadable])
    for line in r.sources_without_logs:
        click.echo("keytrail: " + _("error: {message}").format(message=safe.escaped(line)), err=True)


class _StderrLog(logging.Handler):
    """keytrail's library notices on stderr ("keytrail: warning: ..."), through click; the settings
    they name (``errors.Term`` arguments) in the command line's words."""

    def emit(self, record: logging.LogRecord) -> None:
        level = "" if record.levelno < logging.WARNING else _(_LEVELS.get(record.levelno, record.levelname.lower() + ": "))
        if isinstance(record.msg, str):
            record.msg = _(record.msg)  # the library marks its messages with N_(): said here in the language
        if isinstance(record.args, tuple):  # settings in the options' words, UTC times in the zone
            record.args = tuple(i18n.local_iso(a) if isinstance(a, str) and _UTC_TIME.match(a) else a
                                for a in log_args(record.args))
        click.echo(f"keytrail: {level}{safe.escaped(record.getMessage())}", err=True)


_STDERR_LOG = _StderrLog()


def log_to_stderr(quiet: bool) -> None:
    """Show the library's notices (remote sources' caveats, progress) on stderr; --quiet keeps warnings."""
    logger = logging.getLogger("keytrail")
    if _STDERR_LOG not in logger.handlers:
        logger.addHandler(_STDERR_LOG)
    logger.setLevel(logging.WARNING if quiet else logging.INFO)
