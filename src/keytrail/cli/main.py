"""keytrail's entry point: registers the commands, turns library errors into exit codes."""

from __future__ import annotations

import sys

import click

from keytrail import __version__
from keytrail.cli.chart import chart_command
from keytrail.cli.check import check_command
from keytrail.cli.demo import demo
from keytrail.cli.findings import findings_command
from keytrail.cli.ingest import ingest_command
from keytrail.cli.inventory import inventory_command
from keytrail.cli.report import report_command
from keytrail.cli.reports import keys_command, principals_command, usage_command, who_uses_command
from keytrail.cli.spark_ingest import spark_ingest_command
from keytrail.cli.verify import verify


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="keytrail")
def cli() -> None:
    """Who is using this AWS KMS key? Usage per key, principal and resource from CloudTrail.

    SOURCE is a file or directory of CloudTrail logs (searched recursively; .json, .jsonl,
    .ndjson, gzipped or not), '-' for standard input, or a URL where sources support it.
    Exit codes: 0 ok, 1 violations found (checks), 2 usage error, 3 some input unreadable.
    """


cli.add_command(ingest_command)
cli.add_command(inventory_command)
cli.add_command(usage_command)
cli.add_command(who_uses_command)
cli.add_command(keys_command)
cli.add_command(principals_command)
cli.add_command(spark_ingest_command)
cli.add_command(demo)
cli.add_command(report_command)
cli.add_command(chart_command)
cli.add_command(verify)
cli.add_command(findings_command)
cli.add_command(check_command)


def main() -> None:
    sys.exit(cli.main(standalone_mode=True))
