"""keytrail problems: the records and files that were not counted, and why."""

from __future__ import annotations

import click

from keytrail.analysis.record_problems import KINDS, problems
from keytrail.cli.exits import command
from keytrail.cli.loading import exit_code, loaded_store
from keytrail.cli.options import Inputs, Output, input_options, output_options, split_csv
from keytrail.cli.writing import emit, screen_for, write_text
from keytrail.errors import UsageError
from keytrail.i18n import N_, _
from keytrail.render import Column, render
from keytrail.render import words as W
from keytrail.render.flow import flow, words
from keytrail.render.style import STRONG

PROBLEM_COLUMNS = [
    Column("source", N_("file or source")),
    Column("record", N_("record"), True),
    Column("event_id", N_("event id")),
    Column("event_name", N_("event")),
    Column("kind", N_("problem")),
    Column("reason", N_("reason")),
]
TABLE_COLUMNS = [Column("record", N_("record"), True), Column("event_name", N_("event")), Column("kind", N_("problem")),
                 Column("reason", N_("reason")), Column("event_id", N_("event id"))]  # fmt: skip
"""The terminal table: one table per file or source (its name the title), so that it fits 80 columns."""


def _kinds(_ctx: click.Context, _param: click.Parameter, value: str | None) -> tuple[str, ...]:
    kinds = split_csv(value) or KINDS
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise UsageError(_("--kind: {unknown}: not a kind of problem ({kinds})").format(unknown=", ".join(unknown),
                                                                                      kinds=", ".join(KINDS)))
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
        rows = [p.as_dict() for p in problems(loaded.store, kinds)]
        if output.fmt != "table":
            emit(rows, PROBLEM_COLUMNS, output)
        elif not rows:
            screen = screen_for(output)
            said = flow([words(W.NO_PROBLEMS, STRONG)], screen.width, screen.color) if screen else [W.NO_PROBLEMS]
            write_text("\n".join(said) + "\n", output.path)
        else:
            sources = list(dict.fromkeys(r["source"] for r in rows))
            tables = [render([r for r in rows if r["source"] == s], TABLE_COLUMNS, "table", s) for s in sources]
            write_text("\n".join(tables), output.path)
        return exit_code(loaded)
