"""keytrail spark-ingest: normalise CloudTrail on Apache Spark into a partitioned Parquet dataset."""

from __future__ import annotations

from collections.abc import Sequence

import click

from keytrail.cli.exits import EXIT_OK, EXIT_PARTIAL, command
from keytrail.cli.options import MAX_FILE_BYTES_HELP, ByteSize
from keytrail.cli.stderr import report_problems, summary_line
from keytrail.decode.inflate import DEFAULT_MAX_FILE_BYTES
from keytrail.errors import UsageError
from keytrail.i18n import _

PROG = "keytrail.spark"


def _day(value: str | None, option: str) -> str | None:
    if value is None:
        return None
    from datetime import date

    from keytrail.spark.commit import is_date

    try:
        if not is_date(value):
            raise ValueError(value)
        date.fromisoformat(value)
    except ValueError as e:
        raise UsageError(_("{option}: {value!r} is not a date (YYYY-MM-DD): partitions are whole UTC days").format(
            option=option, value=value)) from e
    return value


def _conf(pairs: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(_("--conf {pair!r}: expected KEY=VALUE").format(pair=pair))
        out[key.strip()] = value
    return out


@command("spark-ingest")
@click.argument("sources", nargs=-1, metavar="[SOURCE]...")
@click.option("--output", "-o", required=True, metavar="DIR",
              help="The Parquet dataset to write (local path, s3a://, hdfs://, ...).")
@click.option("--since", default=None, metavar="DATE",
              help="Rewrite only the date partitions from DATE (YYYY-MM-DD, UTC), inclusive.")
@click.option("--until", default=None, metavar="DATE",
              help="Rewrite only the date partitions before DATE (YYYY-MM-DD, UTC), exclusive.")
@click.option("--master", default=None,
              help="Spark master, e.g. local[2] (default: the cluster's under spark-submit, else local[*]).")
@click.option("--conf", "conf", multiple=True, metavar="KEY=VALUE",
              help="A Spark setting for a session this command starts; repeatable.")
@click.option("--strict", is_flag=True, help="Write nothing (exit 3) if any input could not be read.")
@click.option("--quiet", "-q", is_flag=True, help="No summary on stderr (errors still shown).")
@click.option("--max-file-bytes", type=ByteSize(), default=DEFAULT_MAX_FILE_BYTES, metavar="SIZE", help=MAX_FILE_BYTES_HELP)
def spark_ingest_command(
    sources: tuple[str, ...],
    output: str,
    since: str | None,
    until: str | None,
    master: str | None,
    conf: tuple[str, ...],
    strict: bool,
    quiet: bool,
    max_file_bytes: int,
) -> int:
    """Normalise SOURCEs (files or directories: local, s3a://, hdfs://) on Apache Spark into the
    Parquet dataset DIR, partitioned by date and key account; report from it with --parquet DIR.

    Alias and identity history come from all the SOURCEs; --since/--until limit which date
    partitions are rewritten. Without SOURCEs, finishes an interrupted commit of DIR.
    """
    from keytrail.spark.commit import Window

    window = Window(_day(since, "--since"), _day(until, "--until"))
    if window.since and window.until and window.since >= window.until:
        raise UsageError(_("--since must be before --until"))
    settings = _conf(conf)
    if quiet:
        settings.setdefault("spark.ui.showConsoleProgress", "false")
    from keytrail.spark.session import spark_session

    spark = spark_session(master, settings, app_name="keytrail spark-ingest")
    from keytrail.spark.job import JobOptions
    from keytrail.spark.job import run as run_job

    result = run_job(spark, JobOptions(sources, output, window, strict, max_file_bytes))
    report_problems(result.report)
    if not quiet:
        if result.recovered:
            click.echo("keytrail: " + _("finished an interrupted commit of {dataset}").format(dataset=result.output),
                       err=True)
        if sources:
            click.echo(f"keytrail: {summary_line(result.report)}", err=True)
            dates = ", ".join(_span(result.replaced)) or _("none")
            dropped = _("; {n} date(s) without rows removed").format(n=len(result.dropped)) if result.dropped else ""
            click.echo("keytrail: " + _(
                "wrote {rows} key-use row(s) in {partitions} partition(s) (dates {dates}{dropped}) to {dataset} in "
                "{seconds:.1f} s").format(rows=result.rows_written, partitions=result.partitions, dates=dates,
                                          dropped=dropped, dataset=result.output, seconds=result.seconds), err=True)
    return EXIT_PARTIAL if result.report.partial else EXIT_OK


def _span(days: list[str]) -> list[str]:
    if len(days) <= 2:
        return days
    return [f"{days[0]} .. {days[-1]}"]


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m keytrail.spark``, ``keytrail-spark``, ``spark-submit keytrail_spark.py``: exits with
    the command's exit code."""
    spark_ingest_command.main(args=list(argv) if argv is not None else None, prog_name=PROG)


def run(argv: Sequence[str]) -> int:
    """Run spark-ingest with these arguments; its exit code (0 ok, 2 usage or error, 3 partial input),
    for job scripts on platforms that treat any ``SystemExit`` as a failure."""
    try:
        spark_ingest_command.main(args=list(argv), prog_name=PROG, standalone_mode=False)
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else 1
    except click.ClickException as e:  # bad options: shown as the command line shows them
        e.show()
        return e.exit_code
    return 0
