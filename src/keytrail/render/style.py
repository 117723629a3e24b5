"""Emphasis on a terminal, by the usual conventions: headings bold, failures and danger red, warnings
yellow, what matters less dim. Colour is the command line's choice (a terminal, no ``NO_COLOR``,
no ``--no-color``); every meaning is also in the text, so nothing is lost without it.

Only text keytrail wrote is painted, after untrusted values were made safe (``safe.terminal``):
the escape sequences here are the only ones a table holds."""

from __future__ import annotations

BAD = "bad"  # denied calls, keys pending deletion, high severity
WARN = "warn"  # disabled keys, medium severity
DIM = "dim"  # low and info severity, detail labels
STRONG = "strong"  # headings, the principal a line is about

_SGR = {BAD: "1;31", WARN: "33", DIM: "2", STRONG: "1"}


def paint(text: str, role: str | None, color: bool) -> str:
    """``text`` in the emphasis of ``role`` when ``color`` is on (else unchanged)."""
    if not color or not role or not text:
        return text
    return f"\x1b[{_SGR[role]}m{text}\x1b[0m"
