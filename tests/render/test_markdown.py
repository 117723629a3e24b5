"""Markdown output: whatever a log field holds, a real renderer shows it as text, in its own cell.

Rendered with markdown-it-py's "gfm-like" preset (CommonMark + GFM tables and strikethrough +
linkify, which turns bare URLs, domains and e-mail addresses into links, as many previews do),
every cell must hold no link, image or HTML, stay in its column, and show exactly
``safe.markdown_text(value)``: the value itself, with control characters, bidirectional overrides,
line separators and the BOM shown as \\xNN / \\uNNNN, and no leading or trailing whitespace.
"""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keytrail.render import safe
from keytrail.render.text import Column, render_md

markdown_it = pytest.importorskip("markdown_it")
pytest.importorskip("linkify_it", reason="the linkify test needs linkify-it-py (pip install -e '.[test]')")

COLUMNS = (Column("value", "value"), Column("after", "after"))
TABLE_TAGS = {"table", "thead", "tbody", "tr", "th", "td", "h3"}

# pieces that Markdown and its autolink extensions act on, to be combined by hypothesis
SYNTAX = [
    "[", "]", "(", ")", "<", ">", "!", "`", "``", "*", "**", "_", "__", "~~", "|", "\\", "#", "&", "&amp;",
    "&lt;", "&#60;", "&#x3c;", "&copy", "$", ":", "::", "@", ".", "/", "//", "-", "+", "=", "^", " ", "  ", "\t",
    "\n", "\r\n", "\x00", "\x1b[31m", "\u2028", "\ufeff", "\u00a0", "http://", "https://", "ftp://", "mailto:",
    "www.", "evil.example", "example.com", "amazonaws.com", "localhost", "javascript:alert(1)", "<script>",
    "<img src=x onerror=alert(1)>", "<a href=x>", "<!--", "-->", "<http://evil.example>", "[x](http://e.com)",
    "![x](http://e.com/i.png)", "[x]: http://e.com", "[^1]", "dave@example.com", "i-0123456789abcdef0", "1.",
    "arn:aws:iam::111122223333:role/AppRole", "\\[Approve\\](https://evil.example)", "a", "Z", "0", "é", "漢",
]
_values = st.one_of(
    st.text(max_size=40),
    st.lists(st.sampled_from(SYNTAX), max_size=12).map("".join),
    st.lists(st.one_of(st.sampled_from(SYNTAX), st.text(max_size=3)), max_size=10).map("".join),
)


class _Page(HTMLParser):
    """The rendered page's tags, attributes, and the text of each cell and heading."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []
        self.cells: list[str] = []
        self.headings: list[str] = []
        self._into: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs += attrs
        if tag in ("td", "th"):
            self.cells.append("")
            self._into = self.cells
        elif tag == "h3":
            self.headings.append("")
            self._into = self.headings

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th", "h3"):
            self._into = None

    def handle_data(self, data: str) -> None:
        if self._into is not None:
            self._into[-1] += data
        elif data.strip():
            self.tags.append(f"text outside a cell: {data!r}")

    def handle_comment(self, data: str) -> None:
        self.tags.append("comment")

    def handle_decl(self, decl: str) -> None:
        self.tags.append("declaration")


def rendered(value: str) -> _Page:
    md = render_md([{"value": value, "after": "end"}], COLUMNS, title=value)
    page = _Page()
    page.feed(markdown_it.MarkdownIt("gfm-like").render(md))
    page.close()
    return page


@settings(max_examples=1500, deadline=None)
@given(value=_values)
def test_any_value_renders_as_its_own_text_in_its_own_cell(value: str) -> None:
    page = rendered(value)
    assert set(page.tags) <= TABLE_TAGS, page.tags  # no a, img, script, del, code, em, br... nor stray text
    assert page.attrs == []
    shown = safe.markdown_text(value)
    assert page.headings == ([shown] if value else [])  # no title, no heading
    assert page.cells == ["value", "after", shown, "end"]  # nothing broke out of its cell


@settings(max_examples=500, deadline=None)
@given(value=st.text(alphabet=st.characters(exclude_categories=("Cc", "Cs", "Zl", "Zp")), max_size=40))
def test_text_without_controls_is_shown_exactly_but_for_its_outer_whitespace(value: str) -> None:
    if any(c in value for c in "\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\ufeff"):
        return  # bidirectional controls and the BOM are shown escaped (see markdown_text)
    assert safe.markdown_text(value) == value.strip()
    page = rendered(value)
    assert page.cells[2] == value.strip()


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("\\[Approve\\](https://evil.example)", "\\[Approve\\](https://evil.example)"),
        ("[Approve](https://evil.example)", "[Approve](https://evil.example)"),
        ("![x](https://evil.example/i.png)", "![x](https://evil.example/i.png)"),
        ("<https://evil.example>", "<https://evil.example>"),
        ("see https://evil.example or www.evil.com", "see https://evil.example or www.evil.com"),
        ("cloudtrail.amazonaws.com", "cloudtrail.amazonaws.com"),
        ("dave@example.com", "dave@example.com"),
        ("//localhost/x", "//localhost/x"),
        ("<b>bold</b> &amp; &lt;", "<b>bold</b> &amp; &lt;"),
        ("a | b", "a | b"),
        ("a \\| b", "a \\| b"),
        ("`code` **bold** ~~gone~~ $x$ :warning:", "`code` **bold** ~~gone~~ $x$ :warning:"),
        ("line\nkeytrail: forged | row", "line\\x0akeytrail: forged | row"),
        ("  padded  ", "padded"),
        ("bidi \u202eexe.txt", "bidi \\u202eexe.txt"),
    ],
)
def test_known_attacks_render_as_text(value: str, shown: str) -> None:
    page = rendered(value)
    assert set(page.tags) <= TABLE_TAGS
    assert page.cells[2] == shown


def test_the_raw_markdown_is_one_line_without_tags() -> None:
    cell = safe.markdown("\\[Approve\\](https://evil.example) <img src=x> a|b\nc")
    assert cell == (
        "\\\\\\[Approve\\\\\\]\\(https:/\\/evil\\.example\\) &lt;img src=x&gt; a\\|b\\\\x0ac"
    )
    assert "\n" not in cell and "<" not in cell and ">" not in cell
