"""keytrail problems: the records and files that were not counted, and why."""

from __future__ import annotations

import click

from keytrail.analysis.record_problems import KINDS, problems
from keytrail.cli.exits import command
from keytrail.cli.loading import exit_code, loaded_store
from keytrail.cli.options import Inputs, Output, input_options, output_options, split_csv
from keytrail.cli.writing import emit
from keytrail.errors import UsageError
from keytrail.render import Column

PROBLEM_COLUMNS = [
    Column("source", "file or source"),
    Column("record", "record", True),
    Column("event_id", "event id"),
    Column("event_name", "event"),
    Column("kind", "problem"),
    Column("reason", "reason"),
]


def _kinds(_ctx: click.Context, _param: click.Parameter, value: str | None) -> tuple[str, ...]:
    kinds = split_csv(value) or KINDS
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise UsageError(f"--kind: {', '.join(unknown)}: not a kind of problem ({', '.join(KINDS)})")
    return kinds


@command("problems")
@input_options
@click.option("--kind", "kinds", default=None, callback=_kinds, metavar="KIND,...",
              help=f"Only these kinds: {', '.join(KINDS)} (default: all).")
@output_options
def problems_command(inputs: Inputs, kinds: tuple[str, ...], output: Output) -> int:
    """Records rejected, KMS calls that cannot be attributed, files that cannot be read: where and why.

    One row per record (file or source, record index, event id, event name, reason) -- what the
    other reports do not count. Exit code 3 when some input could not be read, as other reports.
    """
    with loaded_store(inputs, inputs.source_options(None, None)) as loaded:
        emit([p.as_dict() for p in problems(loaded.store, kinds)], PROBLEM_COLUMNS, output)
        return exit_code(loaded)
