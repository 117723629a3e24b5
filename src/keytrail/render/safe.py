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


# Markdown (CommonMark, GitHub Flavored Markdown, markdown-it with linkify): backslash-escaped is every
# ASCII punctuation character that can start or close syntax inside a table cell or heading -- code
# spans, emphasis, strikethrough, links, images and footnotes, table pipes, a heading's closing #s,
# GitHub's math ($) -- and what the autolink extensions look for: the "." of a domain (www.x.com,
# x.com), the "@" of an e-mail address, and the second "/" of every "//", which breaks both "http://"
# and scheme-relative "//host" links (so ":" can stay as it is, and ARNs and times stay readable).
# "<", ">" and "&" become entities: the raw text holds no tag even for a renderer that ignores
# backslashes. A backslash before ASCII punctuation is that character, literally, in CommonMark.
_MD_ESCAPED = str.maketrans({c: "\\" + c for c in "\\`*_[]()#!|~.@$"} | {"&": "&amp;", "<": "&lt;", ">": "&gt;"})
_MD_SLASHES = re.compile(r"(?<=/)/")
# shown escaped besides the controls: line separators (a line break to some readers) and the BOM
_MD_INVISIBLE = re.compile(r"[\u2028\u2029\ufeff]")


def markdown_text(text: str) -> str:
    """What a Markdown renderer shows for ``markdown(text)``: ``text`` with every control character,
    bidirectional override, line separator and BOM shown as \\xNN / \\uNNNN (nothing removed), and
    without leading or trailing whitespace (which a table cell would drop)."""
    return _MD_INVISIBLE.sub(_escape, escaped(text)).strip()


def markdown(text: str) -> str:
    """For a Markdown table cell or heading: renders as ``markdown_text(text)``, exactly -- never as a
    link, image, autolink, HTML, code, emphasis or an extra table cell, on one line."""
    return _MD_SLASHES.sub(r"\\/", markdown_text(text).translate(_MD_ESCAPED))
