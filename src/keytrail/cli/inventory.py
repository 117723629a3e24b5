"""keytrail inventory: take (or import) the KMS key inventory into a store and show it."""

from __future__ import annotations

import click

from keytrail import i18n
from keytrail.analysis.inventory_report import inventory_rows
from keytrail.cli.exits import EXIT_OK, EXIT_PARTIAL, command, message
from keytrail.cli.options import DB_ENV, Output, output_options, split_csv
from keytrail.cli.stderr import log_to_stderr
from keytrail.cli.writing import emit, screen_for, write_text
from keytrail.errors import KeytrailError, UsageError
from keytrail.i18n import N_, _
from keytrail.pipeline import InventoryRun, import_inventory, take_inventory
from keytrail.render import Column
from keytrail.render.safe import escaped
from keytrail.render.words import count
from keytrail.sources.aws import AwsConfig, boto3_module
from keytrail.store import Store

INVENTORY_COLUMNS = [
    Column("key", N_("key")),
    Column("manager", N_("manager")),
    Column("state", N_("state")),
    Column("aliases", N_("aliases")),
    Column("description", N_("description")),
    Column("tags", N_("tags")),
    Column("crypto_calls", N_("crypto calls"), True),
    Column("last_use", N_("last use")),
]


@command("inventory")
@click.option("--db", type=click.Path(dir_okay=False), envvar=DB_ENV, required=True,
              help=f"The store (DuckDB file) to keep it in (default: ${DB_ENV}).")
@click.option("--from", "from_dir", type=click.Path(file_okay=False), default=None,
              help="Import AWS CLI output saved as ACCOUNT/REGION/{list-aliases.json, describe-key/, get-key-policy/} "
                   "instead of calling AWS.")  # fmt: skip
@click.option("--profile", default=None, help="AWS profile.")
@click.option("--region", "aws_region", default=None, help="AWS Region for STS and Organizations, and the default Region.")
@click.option("--regions", default=None, help="Comma-separated Regions to take, or 'all' (enabled Regions).")
@click.option("--org-role", default=None, help="Assume this role (name) in every account of the organisation.")
@click.option("--accounts", default=None, help="With --org-role: only these accounts (comma-separated) instead of ListAccounts.")
@click.option("--quiet", "-q", is_flag=True, help="No progress or summary on stderr (errors still shown).")
@click.option("--verbose", "-v", is_flag=True, help="Also name on stderr every request to AWS that was retried, and why.")
@output_options
def inventory_command(
    db: str,
    from_dir: str | None,
    profile: str | None,
    aws_region: str | None,
    regions: str | None,
    org_role: str | None,
    accounts: str | None,
    quiet: bool,
    verbose: bool,
    output: Output,
) -> int:
    """Take the KMS key inventory (keys, state, aliases, policies, grants, tags) into --db and show it.

    Without --from it calls AWS (ListKeys, DescribeKey, ListAliases, GetKeyPolicy, ListGrants,
    ListResourceTags, GetKeyLastUsage where available) in the caller's account, or in every
    account of the organisation with --org-role. An account or Region that fails is named and
    the rest is taken (exit code 3). The aliases also resolve alias references in reports.
    """
    log_to_stderr(quiet)
    if from_dir and (profile or org_role or accounts or regions):
        raise UsageError(_("--from reads files: --profile, --regions, --org-role and --accounts do not apply"))
    if not from_dir:
        boto3_module()  # without the aws extra: its install command, before any store is made
    with Store(db) as store:
        if from_dir:
            run = import_inventory(store, from_dir)
        else:

            def progress(where: str) -> None:
                if not quiet:
                    click.echo("keytrail: " + _("inventory of {where}").format(where=where), err=True)

            run = take_inventory(store, AwsConfig(profile, aws_region), regions=split_csv(regions),
                                 accounts=split_csv(accounts), org_role=org_role, progress=progress)
        _say(run, quiet, verbose)
        rows = inventory_rows(store)
        screen = screen_for(output)
        if screen is None:
            emit(rows, INVENTORY_COLUMNS, output)
        else:
            from keytrail.render.views import inventory_text

            write_text(inventory_text(rows, screen), output.path)
    return EXIT_PARTIAL if run.partial else EXIT_OK


def _say(run: InventoryRun, quiet: bool, verbose: bool = False) -> None:
    """What failed, what was refused for single keys, and what was taken, on stderr."""
    for account, region, failure in run.failures:
        where = f"{account} {region}" if region else account
        text = message(failure) if isinstance(failure, KeytrailError) else failure
        click.echo("keytrail: " + _("error: {message}").format(message=f"{escaped(where)}: {escaped(text)}"), err=True)
    if quiet:
        return
    for line in run.retry_notes if verbose else ():
        click.echo("keytrail: " + _("retried: {request}").format(request=escaped(line)), err=True)
    for note in run.notes()[:20]:
        click.echo("keytrail: " + _("warning: {message}").format(message=escaped(note)), err=True)
    summary = "keytrail: " + _("inventory taken {time}: {keys} key(s), {aliases} alias(es) from {pairs} account and "
                               "Region pair(s)").format(time=i18n.local_iso(run.taken_at), keys=run.keys,
                                                        aliases=run.aliases, pairs=len(run.regions))
    if run.failures:
        summary += _("; {n} failed").format(n=len(run.failures))
    if run.retries:
        summary += _("; {requests} to AWS retried").format(requests=count(run.retries, "request"))
    click.echo(summary, err=True)
