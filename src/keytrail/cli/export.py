"""keytrail export securityhub: the findings into AWS Security Hub (BatchImportFindings)."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from keytrail.analysis.findings import findings_report
from keytrail.cli.exits import EXIT_VIOLATIONS, KeytrailCommand, fail
from keytrail.cli.finding_options import FindingRequest, finding_options
from keytrail.cli.loading import exit_code, loaded_store
from keytrail.deliver.securityhub import ArchiveScope, Exporter, export
from keytrail.errors import DeliveryError
from keytrail.i18n import _
from keytrail.render import safe
from keytrail.render.words import count
from keytrail.sources.aws import AwsConfig
from keytrail.sources.retry import RETRIES
from keytrail.times import iso


@click.group("export")
def export_group() -> None:
    """Send the findings where security teams work: `keytrail export securityhub`."""


@export_group.command("securityhub", cls=KeytrailCommand)
@finding_options
def securityhub_command(request: FindingRequest) -> int:
    """Import the findings into AWS Security Hub (ASFF, BatchImportFindings) as the account's own
    custom integration: new findings are imported, those already there updated by their stable id,
    and keytrail findings of the kinds (and key Region) exported that it no longer reports are
    ARCHIVED (none when --key narrows it). Only findings about
    the caller's account are imported (AWS's rule); the others are counted by account. Prints
    what was imported, updated, archived and failed. Exit 0; 1 when a finding (or Security Hub)
    failed, each named on stderr; 2 usage error; 3 some input unreadable."""
    inputs, window = request.inputs, request.window
    with loaded_store(inputs, inputs.source_options(request.read_since, window.until)) as loaded:
        request.checked(loaded.store)  # a --key the store does not know is an error, not "nothing to export"
        report = findings_report(loaded.store, request.options)
        now = iso(datetime.now(UTC).replace(tzinfo=None))
        f = request.options.filters
        scope = ArchiveScope(request.options.kinds, f.region, f.account, archive=not f.keys)
        exporter = Exporter(AwsConfig(inputs.aws.profile, inputs.aws.region), now, scope)
        mark = RETRIES.mark()
        try:
            summary = export(report.findings, exporter)
        except DeliveryError as e:
            return fail(e, EXIT_VIOLATIONS)
        finally:
            retried, notes = RETRIES.take(mark)
            for note in notes if inputs.verbose else ():
                click.echo("keytrail: " + _("retried: {request}").format(request=safe.escaped(note)), err=True)
            if retried and not inputs.quiet:
                click.echo("keytrail: " + _("{requests} to Security Hub retried").format(requests=count(retried, "request")),
                           err=True)
        for finding_id, reason in summary.failed:
            click.echo("keytrail: " + _("error: Security Hub did not take {id}: {reason}").format(
                id=finding_id, reason=safe.escaped(reason)), err=True)
        for account, n in summary.other_accounts.items():
            click.echo("keytrail: " + _("note: {n} finding(s) about account {account} not imported: Security Hub takes "
                                        "an account's findings only from that account (export with its credentials, "
                                        "--profile)").format(n=n, account=account), err=True)
        click.echo(summary.line())
        if summary.failed:
            return EXIT_VIOLATIONS
        return exit_code(loaded)
