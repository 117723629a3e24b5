"""keytrail inventory: take (or import) the KMS key inventory into a store and show it."""

from __future__ import annotations

import sys

import click

from keytrail.cli.common import (
    EXIT_OK,
    EXIT_PARTIAL,
    emit,
    fail,
    log_to_stderr,
    output_options,
    split_csv,
)
from keytrail.errors import KeytrailError, UsageError
from keytrail.inventory import import_inventory, inventory_rows, take_inventory
from keytrail.render import Column
from keytrail.render.safe import escaped
from keytrail.sources.aws import AwsConfig
from keytrail.store import Store

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


@click.command("inventory")
@click.option("--db", type=click.Path(dir_okay=False), required=True, help="The store (DuckDB file) to keep it in.")
@click.option("--from", "from_dir", type=click.Path(file_okay=False), default=None,
              help="Import AWS CLI output saved as ACCOUNT/REGION/{list-aliases.json, describe-key/, get-key-policy/} "
                   "instead of calling AWS.")  # fmt: skip
@click.option("--profile", default=None, help="AWS profile.")
@click.option("--region", "aws_region", default=None, help="AWS Region for STS and Organizations, and the default Region.")
@click.option("--regions", default=None, help="Comma-separated Regions to take, or 'all' (enabled Regions).")
@click.option("--org-role", default=None, help="Assume this role (name) in every account of the organisation.")
@click.option("--accounts", default=None, help="With --org-role: only these accounts (comma-separated) instead of ListAccounts.")
@click.option("--quiet", "-q", is_flag=True, help="No progress or summary on stderr (errors still shown).")
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
    fmt: str,
    output: str | None,
) -> None:
    """Take the KMS key inventory (keys, state, aliases, policies, grants, tags) into --db and show it.

    Without --from it calls AWS (ListKeys, DescribeKey, ListAliases, GetKeyPolicy, ListGrants,
    ListResourceTags, GetKeyLastUsage where available) in the caller's account, or in every
    account of the organisation with --org-role. An account or Region that fails is named and
    the rest is taken (exit code 3). The aliases also resolve alias references in reports.
    """
    try:
        log_to_stderr(quiet)
        if from_dir and (profile or org_role or accounts or regions):
            raise UsageError("--from reads files: --profile, --regions, --org-role and --accounts do not apply")
        with Store(db) as store:
            if from_dir:
                run = import_inventory(store, from_dir)
            else:

                def progress(where: str) -> None:
                    if not quiet:
                        click.echo(f"keytrail: inventory of {where}", err=True)

                run = take_inventory(
                    store,
                    AwsConfig(profile, aws_region),
                    regions=split_csv(regions),
                    accounts=split_csv(accounts),
                    org_role=org_role,
                    progress=progress,
                )
            for account, region, message in run.failures:
                where = f"{account} {region}" if region else account
                click.echo(f"keytrail: error: {escaped(where)}: {escaped(message)}", err=True)
            if not quiet:
                for note in run.notes()[:20]:
                    click.echo(f"keytrail: warning: {escaped(note)}", err=True)
                taken = run.taken_at.strftime("%Y-%m-%dT%H:%M:%SZ")
                places = len(run.regions)
                summary = (f"keytrail: inventory taken {taken}: {run.keys} key(s), {run.aliases} alias(es) "
                           f"from {places} account and Region pair(s)")  # fmt: skip
                if run.failures:
                    summary += f"; {len(run.failures)} failed"
                click.echo(summary, err=True)
            emit(inventory_rows(store), INVENTORY_COLUMNS, fmt, output)
        sys.exit(EXIT_PARTIAL if run.partial else EXIT_OK)
    except KeytrailError as e:
        sys.exit(fail(e))
