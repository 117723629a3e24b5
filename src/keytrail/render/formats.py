"""The four text formats every report command offers."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from keytrail.render import safe

FORMATS = ("table", "json", "csv", "md")


@dataclass(frozen=True)
class Column:
    """One output column: ``name`` in JSON/CSV, ``header`` in the table and Markdown."""

    name: str
    header: str
    numeric: bool = False


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ", ".join(_cell(v) for v in value)
    return str(value)


def render_json(rows: Sequence[dict[str, Any]], columns: Sequence[Column], title: str | None) -> str:
    return safe.json_text(orjson.dumps(list(rows), option=orjson.OPT_INDENT_2).decode()) + "\n"


def render_csv(rows: Sequence[dict[str, Any]], columns: Sequence[Column], title: str | None) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([c.name for c in columns])
    for row in rows:
        w.writerow([_cell(row.get(c.name)) if c.numeric else safe.csv_cell(_cell(row.get(c.name))) for c in columns])
    return buf.getvalue()


def render_md(rows: Sequence[dict[str, Any]], columns: Sequence[Column], title: str | None) -> str:
    lines = []
    if title:
        lines += [f"### {safe.markdown(title)}", ""]
    lines.append("| " + " | ".join(c.header for c in columns) + " |")
    lines.append("| " + " | ".join("---:" if c.numeric else "---" for c in columns) + " |")
    for row in rows:
        lines.append("| " + " | ".join(safe.markdown(_cell(row.get(c.name))) for c in columns) + " |")
    return "\n".join(lines) + "\n"


def render_table(rows: Sequence[dict[str, Any]], columns: Sequence[Column], title: str | None) -> str:
    """A terminal table: as wide as the terminal when stdout is one, else unwrapped."""
    import shutil
    import sys

    width = shutil.get_terminal_size((100, 24)).columns if sys.stdout.isatty() else None
    from rich.box import SIMPLE_HEAD
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(title=Text(safe.terminal(title)) if title else None, box=SIMPLE_HEAD, title_justify="left")
    for c in columns:
        table.add_column(Text(c.header), justify="right" if c.numeric else "left", overflow="fold", no_wrap=width is None)
    for row in rows:
        table.add_row(*(Text(safe.terminal(_cell(row.get(c.name)))) for c in columns))
    buf = io.StringIO()
    Console(file=buf, width=width or 1000, color_system=None,
            highlight=False, emoji=False, markup=False).print(table)
    text = buf.getvalue()
    if not rows:
        text += "(no rows)\n"
    return "\n".join(line.rstrip() for line in text.splitlines()) + "\n"


_RENDERERS: dict[str, Callable[[Sequence[dict[str, Any]], Sequence[Column], str | None], str]] = {
    "table": render_table,
    "json": render_json,
    "csv": render_csv,
    "md": render_md,
}


def render(rows: Sequence[dict[str, Any]], columns: Sequence[Column], fmt: str, title: str | None = None) -> str:
    """Rows (dicts keyed by column name) in one of FORMATS."""
    return _RENDERERS[fmt](rows, columns, title)
