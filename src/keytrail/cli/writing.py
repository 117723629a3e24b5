"""Where a report goes: standard output, or a file written as every report file is; and how a
table is laid out there -- for the terminal's width, or one unwrapped line per row."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import click

from keytrail.cli.options import MIN_WIDTH, Output
from keytrail.i18n import N_
from keytrail.render import Column, render
from keytrail.render.grid import Screen


def screen_for(output: Output) -> Screen | None:
    """The terminal a table is laid out for: ``--width N``, else standard output when it is a
    terminal (its width; ``COLUMNS`` overrides). None -- one unwrapped line per row, as for
    ``grep`` -- for a pipe, a file, ``-o`` and the other formats. Colour only on a terminal,
    never with ``--no-color``, ``NO_COLOR`` or ``TERM=dumb``."""
    if output.fmt != "table":
        return None
    terminal = output.path is None and sys.stdout.isatty()
    if output.width is None and not terminal:
        return None
    width = output.width or shutil.get_terminal_size((80, 24)).columns  # COLUMNS first, then the terminal
    color = terminal and output.color and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"
    return Screen(max(width, MIN_WIDTH), color)


def emit(rows: Sequence[Mapping[str, Any]], columns: Sequence[Column], output: Output, title: str | None = None) -> None:
    write_text(render(rows, columns, output.fmt, title), output.path)


def write_text(text: str, output: str | None, what: str = N_("the report")) -> None:
    """To stdout, or to a file through ``render.output.write_output``: atomically, never through a
    planted link, created 0600 (reports hold encryption contexts, access key ids and source IPs)."""
    if output:
        from keytrail.render.output import write_output

        # a value no UTF-8 can hold (a lone surrogate) is written as its escape, as controls are
        write_output(output, text.encode("utf-8", "backslashreplace"), what)
    else:
        click.echo(text, nl=False)
