"""Neutralising untrusted log text for each output medium."""

from __future__ import annotations

import re
import unicodedata

# C0/C1 controls, DEL, and the bidirectional overrides/isolates that can reorder what a reader sees
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_ANSI = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)?|[@-Z\\-_])")


def terminal(text: str) -> str:
    """For a terminal: ANSI escape sequences removed, other control characters shown as \\xNN."""
    text = _ANSI.sub("", text)
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100 else f"\\u{ord(m.group()):04x}", text)


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")


def csv_cell(text: str) -> str:
    """For a spreadsheet: a cell that could start a formula is prefixed with an apostrophe."""
    if text.startswith(_FORMULA_START) or (text[:1] and unicodedata.category(text[0]) == "Zs" and text.lstrip()[:1] in _FORMULA_START):
        return "'" + text
    return text


def markdown(text: str) -> str:
    """For a Markdown table cell: HTML and table syntax escaped, controls and newlines removed."""
    text = terminal(text)
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace("|", "\\|").replace("`", "\\`").replace("[", "\\[").replace("]", "\\]")
