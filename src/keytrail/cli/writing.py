"""Where a report goes: standard output, or a file written as every report file is."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import click

from keytrail.cli.options import Output
from keytrail.render import Column, render


def emit(rows: Sequence[Mapping[str, Any]], columns: Sequence[Column], output: Output, title: str | None = None) -> None:
    write_text(render(rows, columns, output.fmt, title), output.path)


def write_text(text: str, output: str | None, what: str = "the report") -> None:
    """To stdout, or to a file through ``render.output.write_output``: atomically, never through a
    planted link, created 0600 (reports hold encryption contexts, access key ids and source IPs)."""
    if output:
        from keytrail.render.output import write_output

        # a value no UTF-8 can hold (a lone surrogate) is written as its escape, as controls are
        write_output(output, text.encode("utf-8", "backslashreplace"), what)
    else:
        click.echo(text, nl=False)
