"""Sentences for a terminal: text laid into lines of the screen's width at its spaces, continuation
lines indented, identifiers never cut, each part in its own emphasis.

A sentence is built from a template (``keytrail.render.words``) whose fields are filled with
``Part``s, so a translation can order the fields as its language needs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from string import Formatter

from keytrail.render.style import paint
from keytrail.render.width import IDENT, width, wrap

HANG = 4  # continuation lines of a sentence


@dataclass(frozen=True)
class Part:
    """A piece of a sentence: ``whole`` keeps it on one line (a name, ``denied 3``), else it may
    break at its spaces."""

    text: str
    role: str | None = None
    whole: bool = False


def words(text: str, role: str | None = None) -> Part:
    return Part(text, role)


def whole(text: str, role: str | None = None) -> Part:
    return Part(text, role, True)


Filling = Part | str | Sequence[Part]


def fill(template: str, **fields: Filling) -> list[Part]:
    """``template``'s text with each ``{field}`` replaced by its parts (a string: plain words)."""
    out: list[Part] = []
    for literal, field, _spec, _conv in Formatter().parse(template):
        if literal:
            out.append(Part(literal))
        if field is None:
            continue
        value = fields[field]
        if isinstance(value, str):
            out.append(Part(value))
        elif isinstance(value, Part):
            out.append(value)
        else:
            out += list(value)
    return out


def join(parts: Sequence[Sequence[Part]], separator: str) -> list[Part]:
    """Groups of parts with ``separator`` between them (``", "``)."""
    out: list[Part] = []
    for n, group in enumerate(parts):
        if n:
            out.append(Part(separator))
        out += group
    return out


def _tokens(parts: Sequence[Part]) -> tuple[str, list[str | None], list[tuple[int, int]]]:
    """The sentence's text, each character's role, and its breakable tokens as (start, end)."""
    text = ""
    roles: list[str | None] = []
    protected: list[bool] = []
    for p in parts:
        text += p.text
        roles += [p.role] * len(p.text)
        protected += [p.whole] * len(p.text)
    tokens: list[tuple[int, int]] = []
    start = None
    for i, c in enumerate(text):
        if c == " " and not protected[i]:
            if start is not None:
                tokens.append((start, i))
                start = None
        elif start is None:
            start = i
    if start is not None:
        tokens.append((start, len(text)))
    return text, roles, tokens


def _painted(text: str, roles: list[str | None], start: int, end: int, color: bool) -> str:
    """``text[start:end]`` with each run of one role painted."""
    if start == end:
        return ""
    out, run = "", start
    for i in range(start + 1, end + 1):
        if i == end or roles[i] != roles[run]:
            out += paint(text[run:i], roles[run], color)
            run = i
    return out


def flow(parts: Sequence[Part], cells: int, color: bool = False, hang: int = HANG) -> list[str]:
    """The sentence's lines: the first ``cells`` wide, the others indented by ``hang``. A token
    wider than a line is broken as an identifier (after ``/`` and ``:``)."""
    text, roles, tokens = _tokens(parts)
    lines: list[list[tuple[int, int]]] = [[]]
    used = 0
    for start, end in tokens:
        room = cells - (hang if len(lines) > 1 else 0)
        w = width(text[start:end])
        if lines[-1] and used + 1 + w > room:
            lines.append([])
            used = 0
            room = cells - hang
        if w <= room:
            used += (1 if lines[-1] else 0) + w
            lines[-1].append((start, end))
            continue
        at = start
        pieces = wrap(text[start:end], cells - hang, IDENT)
        for n, piece in enumerate(pieces):
            if n:
                lines.append([])
            lines[-1].append((at, at + len(piece)))
            at += len(piece)
        used = width(pieces[-1])
    out = []
    for n, spans in enumerate(lines):
        line = ""
        line_roles: list[str | None] = []
        for s, e in spans:
            if line:  # the space between two tokens of one role takes that role
                line += " "
                line_roles.append(roles[s] if line_roles and line_roles[-1] == roles[s] else None)
            line += text[s:e]
            line_roles += roles[s:e]
        out.append((" " * hang if n else "") + _painted(line, line_roles, 0, len(line), color))
    return out
