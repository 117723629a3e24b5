"""The terminal table: the fast unwrapped layout gives exactly rich's text."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from keytrail.render import safe
from keytrail.render.text import Column, _rich_table, _unwrapped_table, render

COLUMNS = (Column("key", "key"), Column("who", "principal"), Column("n", "calls", numeric=True))

# printable text of every width class: ASCII, accents, CJK (two cells), combining marks, emoji
_text = st.text(
    alphabet=st.sampled_from(list("abc xyz-:/_0123456789") + ["é", "漢", "字", "\u0301", "😀", "ﾊ", "\u200b", "\u2028"]),
    max_size=30,
)
_cell = st.one_of(_text, st.integers(min_value=0, max_value=10**9).map(str), st.just(""))


@settings(max_examples=300, deadline=None)
@given(rows=st.lists(st.tuples(_cell, _cell, _cell), min_size=1, max_size=6), title=st.one_of(st.none(), _text))
def test_unwrapped_layout_is_rich_layout(rows: list[tuple[str, str, str]], title: str | None) -> None:
    cells = [[safe.terminal(v) for v in row] for row in rows]
    title = safe.terminal(title) if title else None
    fast = _unwrapped_table(cells, COLUMNS, title)
    if fast is not None:  # None: rich lays it out (a title wider than the table)
        assert _lines(fast) == _lines(_rich_table(cells, COLUMNS, title, None))


def _lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.splitlines()]  # as render_table writes them


def test_too_wide_a_table_is_folded_by_rich() -> None:
    assert _unwrapped_table([["x" * 600, "y" * 600, "1"]], COLUMNS, None) is None


def test_table_output_is_exact() -> None:
    rows = [{"key": "alias/app", "who": "arn:aws:iam::111122223333:role/App", "n": 12}, {"key": "k2", "who": "svc", "n": None}]
    assert render(rows, COLUMNS, "table", "Usage") == (
        "Usage\n"
        "\n"
        "  key         principal                            calls\n"
            " " + "─" * 56 + "\n"  # under the header: its cells, their padding, the gaps
        "  alias/app   arn:aws:iam::111122223333:role/App      12\n"
        "  k2          svc\n"
        "\n"
    )
