"""keytrail verify: check CloudTrail digest files and the log files they list, offline."""

from __future__ import annotations

import os
from typing import Any

import click
import orjson

from keytrail.cli.exits import EXIT_OK, EXIT_PARTIAL, EXIT_VIOLATIONS, PartialOnErrorCommand, command
from keytrail.cli.options import Output
from keytrail.cli.writing import screen_for, write_text
from keytrail.i18n import N_, _
from keytrail.render import Column, render
from keytrail.render.grid import Screen
from keytrail.render.safe import markdown, terminal
from keytrail.verify import VerificationReport, load_public_keys, verify_archive

COLUMNS = [Column("level", N_("status")), Column("file", N_("file")), Column("message", N_("problem"))]
LEVELS = {"failed": N_("FAILED"), "unreadable": N_("UNREADABLE"), "warning": N_("WARNING"), "note": N_("NOTE")}


def _display(uri: str) -> str:
    """A local path relative to the working directory when it lies below it."""
    if not uri or uri.startswith("s3://"):
        return uri
    rel = os.path.relpath(uri)
    return uri if rel.startswith("..") else rel


def rows(report: VerificationReport) -> list[dict[str, Any]]:
    return [{"level": _(LEVELS.get(f.level, f.level.upper())), "level_key": f.level.upper(), "file": _display(f.uri),
             "message": f.message} for f in report.findings]


def format_report(report: VerificationReport, fmt: str, screen: Screen | None = None) -> str:
    """The report in ``fmt``; a table laid out for ``screen`` when it goes to a terminal."""
    if fmt == "json":
        return orjson.dumps(report.to_dict(), option=orjson.OPT_INDENT_2).decode() + "\n"
    if fmt == "md":
        table = render(rows(report), COLUMNS, "md", _("Log file integrity")) + "\n" if report.findings else ""
        return f"{table}**{markdown(report.summary())}**\n"
    if screen is not None and report.findings:
        from keytrail.render.verdicts import verification_text

        return verification_text(rows(report), screen) + "\n" + terminal(report.summary()) + "\n"
    table = render(rows(report), COLUMNS, "table") if report.findings else ""
    return table + terminal(report.summary()) + "\n"


@command("verify", cls=PartialOnErrorCommand)
@click.argument("sources", nargs=-1, required=True, metavar="SOURCE...")
@click.option("--public-keys", "public_keys", type=click.Path(dir_okay=False), multiple=True,
              help="The output of `aws cloudtrail list-public-keys` for the archive's time range "
              "(repeat for each Region: keys are per Region).")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "md"]), default="table", show_default=True,
              help="Output format.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Write the report to FILE instead of stdout.")
def verify(sources: tuple[str, ...], public_keys: tuple[str, ...], fmt: str, output: str | None) -> int:
    """Check that CloudTrail log files were not altered, using the trail's digest files.

    SOURCE is the archive: directories laid out as in S3
    ([ROOT/]AWSLogs/[o-ORG/]ACCOUNT/CloudTrail[-Digest]/REGION/YYYY/MM/DD/), files, or
    s3://BUCKET/PREFIX. Every digest file's
    signature and place in the chain of digests is checked, and every log file's SHA-256 against
    the digest that lists it. The newest digest's own signature is S3 object metadata: read from
    s3:// sources, or from a file DIGEST.json.gz.signature beside a local copy (the hex value of
    `aws s3api head-object ... --query Metadata.signature`); without it that digest and its log
    files are not verified (a failure). Every file ingest would read must be covered, wherever it
    lies; log files delivered after the newest digest, with calls from after it, are pending (a
    warning).

    Exit codes: 0 everything verified (warnings allowed), 1 something failed verification
    (a file modified, missing or not covered, a digest unsigned or signed by an unknown key, or
    the chain broken), 2 usage error, 3 some input unreadable.
    """
    keys = [key for path in public_keys for key in load_public_keys(path)] if public_keys else None
    report = verify_archive(sources, keys)
    write_text(format_report(report, fmt, screen_for(Output(fmt, output))), output)
    return EXIT_VIOLATIONS if report.failed else EXIT_PARTIAL if report.unreadable else EXIT_OK
