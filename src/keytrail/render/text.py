"""The four text formats every report command offers."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from keytrail import i18n
from keytrail.i18n import _
from keytrail.render import safe

FORMATS = ("table", "json", "csv", "md")
_TIME_SUFFIXES = ("_seen", "_use", "_time", "_at")


@dataclass(frozen=True)
class Column:
    """One output column: ``name`` in JSON/CSV, ``header`` in the table and Markdown (English,
    marked with ``i18n.N_``: shown in the current language). A column named ``*_seen``, ``*_use``,
    ``*_time`` or ``*_at`` holds UTC times, which the table and Markdown show in the current zone."""

    name: str
    header: str
    numeric: bool = False

    @property
    def time(self) -> bool:
        return self.name.endswith(_TIME_SUFFIXES)


def _cell(value: Any) -> str:
    """A value as CSV writes it: English, UTC (a contract)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ", ".join(_cell(v) for v in value)
    return str(value)


def _shown(value: Any, column: Column) -> str:
    """A value as people read it (table, Markdown): in the current language and zone."""
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if column.time and isinstance(value, str):
        return i18n.local_iso(value) or ""
    if isinstance(value, list | tuple):
        return ", ".join(_shown(v, column) for v in value)
    return _cell(value)


def render_json(rows: Sequence[Mapping[str, Any]], columns: Sequence[Column], title: str | None) -> str:
    return safe.json_text(orjson.dumps(list(rows), option=orjson.OPT_INDENT_2).decode()) + "\n"


def render_csv(rows: Sequence[Mapping[str, Any]], columns: Sequence[Column], title: str | None) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([c.name for c in columns])
    for row in rows:
        w.writerow([_cell(row.get(c.name)) if c.numeric else safe.csv_cell(_cell(row.get(c.name))) for c in columns])
    return buf.getvalue()


def render_md(rows: Sequence[Mapping[str, Any]], columns: Sequence[Column], title: str | None) -> str:
    lines = []
    if title:
        lines += [f"### {safe.markdown(title)}", ""]
    lines.append("| " + " | ".join(_(c.header) for c in columns) + " |")
    lines.append("| " + " | ".join("---:" if c.numeric else "---" for c in columns) + " |")
    for row in rows:
        lines.append("| " + " | ".join(safe.markdown(_shown(row.get(c.name), c)) for c in columns) + " |")
    return "\n".join(lines) + "\n"


def render_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[Column], title: str | None) -> str:
    """The wide table: every column, one unwrapped line per row (for grep, a file, ``--wide``).
    The layout for a terminal's width is ``keytrail.render.grid``."""
    cells = [[safe.terminal(_shown(row.get(c.name), c)) for c in columns] for row in rows]
    title = safe.terminal(title) if title else None
    text = _unwrapped_table(cells, columns, title) if rows else None
    if text is None:
        text = _rich_table(cells, columns, title, None)
    if not rows:
        text += _("(no rows)") + "\n"
    return "\n".join(line.rstrip() for line in text.splitlines()) + "\n"


_MAX_WIDTH = 1000  # an unwrapped table wider than this is folded


def _rich_table(cells: list[list[str]], columns: Sequence[Column], title: str | None, width: int | None) -> str:
    from rich.box import SIMPLE_HEAD
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(title=Text(title) if title else None, box=SIMPLE_HEAD, title_justify="left")
    for c in columns:
        table.add_column(Text(_(c.header)), justify="right" if c.numeric else "left", overflow="fold", no_wrap=width is None)
    for row in cells:
        table.add_row(*(Text(v) for v in row))
    buf = io.StringIO()
    Console(file=buf, width=width or _MAX_WIDTH, color_system=None,
            highlight=False, emoji=False, markup=False).print(table)
    return buf.getvalue()


def _unwrapped_table(cells: list[list[str]], columns: Sequence[Column], title: str | None) -> str | None:
    """The same text as ``_rich_table`` for a table that needs no folding, several times faster
    (a report of thousands of rows); None where only rich's layout knows the answer."""
    from rich.cells import cell_len

    if len("".join(v for row in cells for v in row).splitlines()) > 1:
        return None  # a value holding a line boundary (U+2028, say): rich splits it its own way
    headers = [_(c.header) for c in columns]
    widths = [cell_len(h) for h in headers]
    for row in cells:
        for i, v in enumerate(row):
            n = cell_len(v)
            if n > widths[i]:
                widths[i] = n
    total = 2 + sum(w + 2 for w in widths) + len(widths) - 1
    if total > _MAX_WIDTH or (title is not None and (len(title.splitlines()) > 1 or cell_len(title) > total)):
        return None
    right = [c.numeric for c in columns]

    def line(values: Sequence[str]) -> str:
        out = []
        for v, w, r in zip(values, widths, right, strict=True):
            if r:
                v = v.rstrip()
                out.append(" " * (w - cell_len(v)) + v)
            else:
                out.append(v + " " * (w - cell_len(v)))
        return "  " + "   ".join(out)

    lines = [title] if title is not None else []
    lines += ["", line(headers), " " + "─" * (total - 2)]
    lines += [line(row) for row in cells]
    lines.append("")
    return "\n".join(lines) + "\n"


_RENDERERS: dict[str, Callable[[Sequence[Mapping[str, Any]], Sequence[Column], str | None], str]] = {
    "table": render_table,
    "json": render_json,
    "csv": render_csv,
    "md": render_md,
}


def render(rows: Sequence[Mapping[str, Any]], columns: Sequence[Column], fmt: str, title: str | None = None) -> str:
    """Rows (dicts keyed by column name) in one of FORMATS."""
    return _RENDERERS[fmt](rows, columns, title)
