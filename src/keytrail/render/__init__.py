"""Rendering report rows: table (rich), json, csv, md (``render.text``; html in ``render.html``).

Every value shown may come from an attacker-controlled log field. The table strips control
characters and ANSI escapes (a userAgent cannot repaint the terminal) and never parses rich
markup; CSV neutralises spreadsheet formulas; Markdown escapes every character that could make a
link, image, autolink, HTML or another cell; JSON is plain data. See ``render.safe``. Files are
written by ``render.output``.
"""

from keytrail.render.text import FORMATS, Column, render

__all__ = ["FORMATS", "Column", "render"]
