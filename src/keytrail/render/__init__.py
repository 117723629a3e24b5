"""Rendering report rows: table (rich), json, csv, md (and html in ``render.html``).

Every value shown may come from an attacker-controlled log field. The table strips control
characters and ANSI escapes (a userAgent cannot repaint the terminal) and never parses rich
markup; CSV neutralises spreadsheet formulas; Markdown escapes HTML and table syntax; JSON is
plain data. See ``render.safe``.
"""

from keytrail.render.formats import FORMATS, Column, render

__all__ = ["FORMATS", "Column", "render"]
