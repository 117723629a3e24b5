"""A table laid out for a terminal of a given width, identifiers never cut.

Each column says how its values may break (``keytrail.render.width``: identifiers after ``/`` and
``:``, lists between items, text at spaces, numbers never) and how much it matters: columns with
``keep=0`` are always columns; optional columns (``keep`` 1, 2, ... the lower the more wanted) are
columns when the table fits, else *detail lines* under each row (``label  value``), or left out
(``omit``: what they say is elsewhere on the row). ``detail`` columns are always detail lines.

The layout chosen is the one with the fewest lines (ties: the one with more columns), among those
that keep every identifier's pieces whole: so a column moves under its rows rather than cut the
principal beside it into pieces. A value may carry a ``compact`` form (a shorter spelling with the
same name, e.g. ``1234abcd…``), used where the full one does not fit. No line is wider than the
screen; only a piece wider than a whole line is cut.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from keytrail.render.style import DIM, STRONG, paint
from keytrail.render.width import ATOM, IDENT, LIST, NUM, TEXT, fold, min_width, width, wrap

GAP = 2  # spaces between columns
INDENT = 4  # detail lines under a row
RULE = "─"


@dataclass(frozen=True)
class Screen:
    """Where a terminal table goes: its width in display cells, and whether to use colour."""

    width: int
    color: bool = False


@dataclass(frozen=True)
class Cell:
    """One value: its text (already safe for a terminal), a shorter form with the same name
    (``compact``), and its emphasis (``keytrail.render.style``)."""

    text: str
    compact: str | None = None
    role: str | None = None

    def form(self, cells: int) -> str:
        """The full text where it fits in ``cells``, else the compact form."""
        if self.compact is None or width(self.text) <= cells:
            return self.text
        return self.compact


@dataclass(frozen=True)
class Col:
    """A column: its header, how its values break (``width.IDENT``, ``LIST``, ``TEXT``, ``NUM``),
    and what happens when it does not fit (see the module docstring)."""

    header: str
    kind: str = IDENT
    keep: int = 0
    detail: bool = False
    omit: bool = False

    @property
    def right(self) -> bool:
        return self.kind == NUM


Row = Sequence[Cell]


def cell_lines(cell: Cell, cells: int, kind: str) -> list[str]:
    """A value's lines in a column ``cells`` wide."""
    return wrap(cell.form(cells), cells, kind)


@dataclass(frozen=True)
class _Measure:
    natural: int  # the widest full value or header
    compact: int  # the widest value in its compact form
    least: int  # the narrowest the column can be without breaking a piece


def _measure(col: Col, values: list[Cell], limit: int, spill: int | None = None) -> _Measure:
    """A column's widths. ``spill``: values whose pieces are wider than this may go on a line of
    their own above their row (the first column's), so they do not widen the column. Text is
    given a third of the screen at least (where it has that much), so it is not squeezed into a
    word per line."""
    head = width(col.header)
    head_least = max((width(w) for w in col.header.split()), default=0)
    if col.kind in (NUM, ATOM):
        w = max([head, *(width(v.text) for v in values)])
        return _Measure(w, w, w)
    natural = max([head, *(width(v.text) for v in values)])
    compact = max([head, *(width(v.compact or v.text) for v in values)])
    leasts = [min_width(v.compact or v.text, col.kind) for v in values]
    least = max([head_least, *(n for n in leasts if spill is None or n <= spill)])
    if col.kind == TEXT:
        least = max(least, min(natural, limit // 3))
    return _Measure(natural, compact, least)


def _spills(cols: Sequence[Col], row: Row, plan: _Plan) -> bool:
    """Whether the row's first value goes on a line of its own: its pieces are wider than its column."""
    if not plan.shown or plan.shown[0] != 0 or cols[0].kind not in (IDENT, LIST):
        return False
    return min_width(row[0].form(plan.widths[0]), cols[0].kind) > plan.widths[0]


@dataclass(frozen=True)
class _Plan:
    shown: tuple[int, ...]  # column indexes, in display order
    widths: dict[int, int]
    below: tuple[int, ...]  # columns shown as detail lines


Sizes = list[tuple[int, int, int, int]]  # a column's values: compact and full width, narrowest of each


def _target(col: Col, values: Sizes, form: int, room: int, current: int) -> int:
    """How wide a column wants to be with ``room`` cells: all of it for text, or for a value that
    would wrap (more room, fewer lines); else its widest value (in ``form``) that fits."""
    if col.kind == TEXT or any(v[form] > room >= v[form + 2] for v in values):
        return room
    return max((v[form] for v in values if v[form] <= room), default=current)


def _allocate(shown: list[int], order: list[int], cols: Sequence[Col], sizes: list[_Measure],
              values: list[Sizes], limit: int) -> dict[int, int] | None:
    """Column widths for ``shown`` within ``limit`` cells: every column at least its ``least``, then
    grown, the most wanted first (``order``), for its values in compact form, then in full form."""
    total = sum(sizes[i].least for i in shown) + GAP * (len(shown) - 1)
    if total > limit:
        return None
    widths = {i: sizes[i].least for i in shown}
    spare = limit - total
    for form in (0, 1):  # compact forms first: every name shown whole before any path
        for i in order:
            target = _target(cols[i], values[i], form, widths[i] + spare, widths[i])
            grow = min(spare, min(target, sizes[i].natural) - widths[i])
            if grow > 0:
                widths[i] += grow
                spare -= grow
    return widths


def _plans(cols: Sequence[Col], sizes: list[_Measure], values: list[Sizes], limit: int) -> list[_Plan]:
    """Every candidate layout: the columns that must be there, plus the first k optional ones (a
    column with no value in any row is left out)."""
    columns = [i for i, c in enumerate(cols) if not c.detail and any(v[1] for v in values[i])]
    needed = [i for i in columns if cols[i].keep == 0]
    optional = sorted((i for i in columns if cols[i].keep > 0), key=lambda i: (cols[i].keep, i))
    plans = []
    for k in range(len(optional), -1, -1):
        shown = sorted(needed + optional[:k])
        widths = _allocate(shown, needed + optional[:k], cols, sizes, values, limit)
        if widths is None:
            continue
        below = tuple(i for i, c in enumerate(cols) if c.detail or (i in optional[k:] and not c.omit))
        plans.append(_Plan(tuple(shown), widths, below))
    return plans


def detail_lines(items: Sequence[tuple[str, Cell, str]], limit: int, color: bool, indent: int = INDENT) -> list[str]:
    """``label value`` lines (items: label, value, kind) indented under a row: short values (numbers,
    times, states) side by side on one line, lists and text each on their own lines, aligned and
    wrapped within ``limit``; a value with too little room (for an item of a list, or 20 cells) starts on
    the line below its label."""
    items = [(label, value, kind) for label, value, kind in items if value.text]
    short = [(label, value) for label, value, kind in items if kind in (NUM, ATOM)]
    out = _side_by_side(short, limit, color, indent) if short else []
    long = [(label, value, kind) for label, value, kind in items if kind not in (NUM, ATOM)]
    if not long:
        return out
    label_w = max(width(label) for label, _, _ in long)
    room = limit - indent - label_w - GAP
    for label, value, kind in long:
        if room >= 20 and min_width(value.text, kind) <= room:
            parts = cell_lines(value, room, kind)
            head = " " * indent + paint(label, DIM, color) + " " * (label_w - width(label) + GAP)
            out.append(head + paint(parts[0], value.role, color))
            out += [" " * (indent + label_w + GAP) + paint(p, value.role, color) for p in parts[1:]]
        else:
            out.append(" " * indent + paint(label, DIM, color))
            out += [" " * (indent + 2) + paint(p, value.role, color) for p in cell_lines(value, limit - indent - 2, kind)]
    return out


def _side_by_side(items: Sequence[tuple[str, Cell]], limit: int, color: bool, indent: int) -> list[str]:
    """``label value   label value`` on as few lines as fit in ``limit``."""
    lines: list[str] = []
    line, used = "", indent
    for label, value in items:
        w = width(label) + 1 + width(value.text)
        if line and used + 3 + w > limit:
            lines.append(line)
            line, used = "", indent
        piece = paint(label, DIM, color) + " " + paint(value.text, value.role, color)
        line = (line + "   " + piece) if line else " " * indent + piece
        used += (3 if used > indent else 0) + w
    return [*lines, line]


def _spill_lines(cols: Sequence[Col], row: Row, limit: int, color: bool) -> list[str]:
    return [paint(p, row[0].role, color) for p in cell_lines(row[0], limit, cols[0].kind)]


def _row_lines(cols: Sequence[Col], row: Row, plan: _Plan, color: bool, limit: int) -> list[str]:
    """A row's lines; a first value too wide for its column on its own lines above the others."""
    lines = []
    if _spills(cols, row, plan):
        lines = _spill_lines(cols, row, limit, color)
        row = [Cell(""), *row[1:]]
    blocks = [cell_lines(row[i], plan.widths[i], cols[i].kind) for i in plan.shown]
    height = max((len(b) for b in blocks), default=1)
    for n in range(height):
        parts = []
        for i, block in zip(plan.shown, blocks, strict=True):
            text = block[n] if n < len(block) else ""
            parts.append(_painted(text, plan.widths[i], cols[i].right, row[i].role, color))
        lines.append((" " * GAP).join(parts).rstrip())
    return lines


def _painted(text: str, cells: int, right: bool, role: str | None, color: bool) -> str:
    fill = " " * max(0, cells - width(text))
    text = paint(text, role, color)
    return fill + text if right else text + fill


def _details(cols: Sequence[Col], row: Row, plan: _Plan, limit: int, color: bool) -> list[str]:
    return detail_lines([(cols[i].header, row[i], cols[i].kind) for i in plan.below], limit, color)


def _header_lines(cols: Sequence[Col], plan: _Plan, color: bool) -> list[str]:
    blocks = [wrap(cols[i].header, plan.widths[i]) for i in plan.shown]
    height = max((len(b) for b in blocks), default=1)
    lines = []
    for n in range(height):
        parts = []
        for i, block in zip(plan.shown, blocks, strict=True):
            # a header of two lines sits on the lower one: its last line beside the other headers
            text = block[n - (height - len(block))] if n >= height - len(block) else ""
            parts.append(_painted(text, plan.widths[i], cols[i].right, STRONG, color))
        lines.append((" " * GAP).join(parts).rstrip())
    return lines


def _cost(cols: Sequence[Col], rows: Sequence[Row], plan: _Plan, limit: int) -> tuple[int, int]:
    """The layout's lines -- a line an identifier or a list was broken onto counts twice (a detail
    line under a row reads better than a name in pieces) -- and then how many values are shown in
    their compact form (a path left out)."""
    lines = max((len(wrap(cols[i].header, plan.widths[i])) for i in plan.shown), default=1)
    compacted = 0
    for row in rows:
        if _spills(cols, row, plan):
            lines += len(cell_lines(row[0], limit, cols[0].kind))
            row = [Cell(""), *row[1:]]
        heights = [(len(cell_lines(row[i], plan.widths[i], cols[i].kind)), cols[i].kind) for i in plan.shown]
        height = max((h for h, _ in heights), default=1)
        broken = max((h for h, kind in heights if kind in (IDENT, LIST)), default=1)
        lines += height + (broken - 1) + len(_details(cols, row, plan, limit, False))
        compacted += sum(1 for i in plan.shown if row[i].form(plan.widths[i]) is not row[i].text)
    return lines, compacted


def grid(cols: Sequence[Col], rows: Sequence[Row], screen: Screen,
         before: Mapping[int, Sequence[str]] | None = None) -> list[str]:
    """The table's lines: headers, a rule, and each row (with its detail lines) -- none wider than
    ``screen.width``. ``before``: heading lines above a row (by index), e.g. an account's rows."""
    limit = screen.width
    sizes = [_measure(c, [row[i] for row in rows], limit, limit // 3 if i == 0 else None) for i, c in enumerate(cols)]
    values = [[(width(r[i].compact or r[i].text), width(r[i].text), min_width(r[i].compact or r[i].text, c.kind),
                min_width(r[i].text, c.kind)) for r in rows] for i, c in enumerate(cols)]
    plans = _plans(cols, sizes, values, limit)
    if not plans:  # even the columns that must be there do not fit side by side: one block per row
        return _records(cols, rows, screen)
    best = min(plans, key=lambda p: _cost(cols, rows, p, limit)) if len(plans) > 1 else plans[0]
    lines = _header_lines(cols, best, screen.color)
    table_width = sum(best.widths.values()) + GAP * (len(best.shown) - 1)
    lines.append(RULE * min(table_width, limit))
    blocks = [(_row_lines(cols, row, best, screen.color, limit), _details(cols, row, best, limit, screen.color))
              for row in rows]
    spaced = any(len(details) > 1 for _, details in blocks)
    for n, (row_lines, details) in enumerate(blocks):
        heading = (before or {}).get(n)
        if heading:
            lines += ([""] if n else []) + [paint(h, STRONG, screen.color) for h in heading]
        elif spaced and n:
            lines.append("")
        lines += row_lines + details
    return [line for text in lines for line in _within(text, limit)]


def _records(cols: Sequence[Col], rows: Sequence[Row], screen: Screen) -> list[str]:
    """Each row as its first value, then ``label  value`` lines: for a screen too narrow for any table."""
    lines: list[str] = []
    for n, row in enumerate(rows):
        if n:
            lines.append("")
        lines += [paint(p, STRONG, screen.color) for p in cell_lines(row[0], screen.width, cols[0].kind)]
        items = [(c.header, row[i], c.kind) for i, c in enumerate(cols) if i and not c.omit]
        lines += detail_lines(items, screen.width, screen.color, indent=2)
    return lines


def _within(line: str, limit: int) -> list[str]:
    """The last guard: a line is never wider than the screen (only possible when one piece of a
    value is wider than the whole screen; painted lines are laid out within it already)."""
    if "\x1b" in line or width(line) <= limit:
        return [line]
    return fold(line, limit)
