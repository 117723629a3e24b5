"""keytrail inventory: take (or import) the KMS key inventory into a store and show it."""

from __future__ import annotations

import click

from keytrail.analysis.inventory_report import inventory_rows
from keytrail.cli.exits import EXIT_OK, EXIT_PARTIAL, command, message
from keytrail.cli.options import DB_ENV, Output, output_options, split_csv
from keytrail.cli.stderr import log_to_stderr
from keytrail.cli.writing import emit, screen_for, write_text
from keytrail.errors import KeytrailError, UsageError
from keytrail.pipeline import InventoryRun, import_inventory, take_inventory
from keytrail.render import Column
from keytrail.render.safe import escaped
from keytrail.render.words import count
from keytrail.sources.aws import AwsConfig, boto3_module
from keytrail.store import Store
from keytrail.times import iso

INVENTORY_COLUMNS = [
    Column("key", "key"),
    Column("manager", "manager"),
    Column("state", "state"),
    Column("aliases", "aliases"),
    Column("description", "description"),
    Column("tags", "tags"),
    Column("crypto_calls", "crypto calls", True),
    Column("last_use", "last use"),
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
        raise UsageError("--from reads files: --profile, --regions, --org-role and --accounts do not apply")
    if not from_dir:
        boto3_module()  # without the aws extra: its install command, before any store is made
    with Store(db) as store:
        if from_dir:
            run = import_inventory(store, from_dir)
        else:

            def progress(where: str) -> None:
                if not quiet:
                    click.echo(f"keytrail: inventory of {where}", err=True)

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
        click.echo(f"keytrail: error: {escaped(where)}: {escaped(text)}", err=True)
    if quiet:
        return
    for line in run.retry_notes if verbose else ():
        click.echo(f"keytrail: retried: {escaped(line)}", err=True)
    for note in run.notes()[:20]:
        click.echo(f"keytrail: warning: {escaped(note)}", err=True)
    summary = (f"keytrail: inventory taken {iso(run.taken_at)}: {run.keys} key(s), {run.aliases} alias(es) "
               f"from {len(run.regions)} account and Region pair(s)")  # fmt: skip
    if run.failures:
        summary += f"; {len(run.failures)} failed"
    if run.retries:
        summary += f"; {count(run.retries, 'request')} to AWS retried"
    click.echo(summary, err=True)
