"""Neutralising untrusted log text for each output medium."""

from __future__ import annotations

import re
import unicodedata

# C0/C1 controls, DEL, and the bidirectional overrides/isolates that can reorder what a reader sees
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_ANSI = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)?|[@-Z\\-_])")


def _escape(m: re.Match[str]) -> str:
    c = ord(m.group())
    return f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}"


def terminal(text: str) -> str:
    """For a terminal: ANSI escape sequences removed, other control characters shown as \\xNN."""
    return _CONTROL.sub(_escape, _ANSI.sub("", text))


def escaped(text: str) -> str:
    """For messages on stderr (file names, reasons quoting log data): every control character,
    newlines and ANSI escapes included, shown as \\xNN -- nothing removed, no line can be forged."""
    return _CONTROL.sub(_escape, text)


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")


# what JSON leaves raw and a terminal or a browser may act on: DEL, C1 controls (0x9b is CSI),
# bidirectional overrides, and the line separators JavaScript treats as newlines
_JSON_RAW = re.compile(r"[\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]")


def json_text(text: str) -> str:
    """JSON text (from orjson, which escapes only C0 controls) with the characters above written as
    \\uXXXX escapes: the same data once parsed, nothing that can act on whoever displays the file."""
    if _JSON_RAW.search(text) is None:
        return text
    return _JSON_RAW.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def csv_cell(text: str) -> str:
    """For a spreadsheet: control characters shown as \\xNN (a CSV printed on a terminal cannot
    repaint it), and a cell that could start a formula prefixed with an apostrophe."""
    text = escaped(text)
    if text.startswith(_FORMULA_START) or (text[:1] and unicodedata.category(text[0]) == "Zs" and text.lstrip()[:1] in _FORMULA_START):
        return "'" + text
    return text


def markdown(text: str) -> str:
    """For a Markdown table cell: HTML and table syntax escaped, controls and newlines removed."""
    text = terminal(text)
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace("|", "\\|").replace("`", "\\`").replace("[", "\\[").replace("]", "\\]")
