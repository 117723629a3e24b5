"""How wide text is on a terminal, and how it is broken into lines without cutting identifiers.

Widths are display cells: East Asian wide and full-width characters take two, combining marks and
zero-width characters none (``unicodedata``), so Japanese or Chinese text keeps columns aligned.

Three kinds of value break differently:

``ident``  an identifier (an ARN, a principal, a key id): broken only after ``/`` and ``:``, so its
           name -- the part after the last separator -- stays whole on one line;
``list``   items joined by ``", "``: broken between items (a column is at least as wide as its widest
           item), an item wider than a whole line broken as an identifier;
``text``   words: broken at spaces, a word too long for the line broken as an identifier;
``atom``   never broken (a time, a state): left-aligned, as ``num`` is right-aligned.

Only a piece wider than the whole line is cut (``fold``), at the line's width.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

IDENT = "ident"
LIST = "list"
TEXT = "text"
NUM = "num"
ATOM = "atom"

_SEPARATOR = re.compile(r"(?<=[/:])")
_LIST_SEP = ", "


def char_width(c: str) -> int:
    """Display cells of one character: 2 for East Asian wide and full-width, 0 for combining
    marks and format characters (zero-width space, joiners), else 1."""
    if c.isascii():
        return 1 if c.isprintable() else 0
    if unicodedata.combining(c) or unicodedata.category(c) in ("Mn", "Me", "Cf"):
        return 0
    return 2 if unicodedata.east_asian_width(c) in ("W", "F") else 1


@lru_cache(maxsize=65_536)
def width(text: str) -> int:
    """Display cells of ``text`` (one line)."""
    if text.isascii():
        return len(text)
    return sum(char_width(c) for c in text)


def pad(text: str, cells: int, right: bool = False) -> str:
    """``text`` padded with spaces to ``cells`` display cells (on the left when ``right``)."""
    fill = " " * max(0, cells - width(text))
    return fill + text if right else text + fill


def fold(text: str, cells: int) -> list[str]:
    """``text`` cut into lines of at most ``cells`` display cells: the last resort, for one piece
    wider than a whole line."""
    cells = max(cells, 2)
    lines: list[str] = []
    line, used = "", 0
    for c in text:
        w = char_width(c)
        if used + w > cells and line:
            lines.append(line)
            line, used = "", 0
        line += c
        used += w
    return [*lines, line] if line or not lines else lines


def pieces(text: str) -> list[str]:
    """An identifier's unbreakable pieces: each ends after a ``/`` or ``:`` (the last is its name)."""
    return [p for p in _SEPARATOR.split(text) if p]


def _fill(parts: list[str], sep: str, cells: int) -> list[str]:
    """Parts joined by ``sep`` ("" for an identifier's pieces, " " for words, ", " for items), laid
    into lines of ``cells``; a list's comma stays at the end of its line. A part too wide for a line
    alone is broken: a word as an identifier, an item as text (a user agent at its spaces), an
    identifier's piece folded."""
    trail = sep.rstrip()
    lines: list[str] = []
    line = ""
    for i, part in enumerate(parts):
        end = trail if i < len(parts) - 1 else ""
        candidate = f"{line}{sep}{part}" if line else part
        if width(candidate + end) <= cells:
            line = candidate
            continue
        if line:
            lines.append(line + trail)
        if width(part + end) <= cells:
            line = part
            continue
        sub = fold(part, cells) if not sep else wrap(part, cells - width(end), IDENT if sep == " " else TEXT)
        lines.extend(sub[:-1])
        line = sub[-1]
    lines.append(line)
    return lines


def wrap(text: str, cells: int, kind: str = TEXT) -> list[str]:
    """``text`` broken into lines of at most ``cells`` display cells, as its ``kind`` allows."""
    cells = max(cells, 2)
    if width(text) <= cells:
        return [text]
    if kind == IDENT:
        return _fill(pieces(text), "", cells)
    if kind == LIST:
        return _fill(text.split(_LIST_SEP), _LIST_SEP, cells)
    if kind in (NUM, ATOM):
        return fold(text, cells)
    if not text.isascii() and any(char_width(c) == 2 for c in text):
        return wrap_prose(text, cells)  # Japanese: lines filled between characters, not only at spaces
    return _fill([w for w in text.split(" ") if w], " ", cells)


def min_width(text: str, kind: str) -> int:
    """The narrowest width at which ``text`` breaks only where its ``kind`` allows."""
    if kind in (NUM, ATOM):
        return width(text)
    if kind == IDENT:
        return max((width(p) for p in pieces(text)), default=0)
    if kind == LIST:  # items whole: an alias, a principal is one name
        items = text.split(_LIST_SEP)
        return max((width(i) + (1 if n < len(items) - 1 else 0) for n, i in enumerate(items)), default=0)
    if not text.isascii() and any(char_width(c) == 2 for c in text):
        return max((min_width(u, IDENT) for u in _units(text) if not u.isspace()), default=0)
    return max((min_width(w, IDENT) for w in text.split(" ")), default=0)


_NO_START = frozenset("、。，．）」』】〕！？：；ー々)ぁぃぅぇぉっゃゅょゎァィゥェォッャュョヮヵヶ")  # never at the start of a line (kinsoku)
_UNIT = re.compile(r" +|[^\s\u1100-\uffff]+|.", re.S)


def _units(text: str) -> list[str]:
    """What a line of prose may break between: runs of spaces, runs of narrow characters (a word,
    an ARN), and each wide character, closing punctuation kept with what precedes it."""
    units: list[str] = []
    for u in _UNIT.findall(text):
        if units and (u[0] in _NO_START or (not u.isspace() and not units[-1].isspace()
                                              and width(u) == len(u) and width(units[-1]) == len(units[-1]))):
            units[-1] += u  # closing punctuation stays with what it closes; narrow runs stay whole
        else:
            units.append(u)
    return units


def wrap_prose(text: str, cells: int, later: int | None = None) -> list[str]:
    """A sentence broken into lines of at most ``cells`` display cells: at spaces, and also between
    two characters when either is wide (Japanese has no spaces between words), never inside a run
    of narrow characters (an ARN, an option) and never before closing punctuation (``、``, ``。``).
    ``later``: the width of the lines after the first (an indented continuation)."""
    cells = max(cells, 2)
    rest = max(later if later is not None else cells, 2)
    lines: list[str] = []
    line = ""
    for u in _units(text):
        if u.isspace():
            line += " " if line else ""
            continue
        limit = cells if not lines else rest
        if width(line + u) <= limit or not line.strip():
            line += u
            continue
        lines.append(line.rstrip())
        line = u
    lines.append(line.rstrip())
    out: list[str] = []
    for ln in lines:
        limit = cells if not out else rest
        out += wrap(ln, limit, IDENT) if width(ln) > limit else [ln]
    return out
