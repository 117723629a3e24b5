"""The terminal table: columns that do not fit become detail lines under their rows, identifiers are
broken only after their separators (their names stay whole), nothing is wider than the screen,
and wide characters keep the columns aligned."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from keytrail.render.grid import Cell, Col, Screen, grid
from keytrail.render.width import ATOM, IDENT, LIST, NUM, TEXT, pieces, width

COLS = [Col("principal"), Col("encrypt", NUM), Col("decrypt", NUM), Col("last seen", ATOM, keep=1),
        Col("type", ATOM, keep=2, omit=True), Col("sessions", LIST, detail=True)]
ROWS = [
    [Cell("user/test-user"), Cell("8"), Cell("12"), Cell("11-02 09:23"), Cell("IAM user"), Cell("")],
    [Cell("444455556666:role/service-role/ReportReader", "444455556666:role/…/ReportReader"), Cell("0"), Cell("2"),
     Cell("11-02 08:51"), Cell("role"), Cell("nightly-export, adhoc")],
]


def table(width_: int, cols: list[Col] = COLS, rows: list[list[Cell]] = ROWS) -> str:
    return "\n".join(grid(cols, rows, Screen(width_))) + "\n"


def test_wide_enough_every_column_and_every_value_whole() -> None:
    assert table(90) == (
        "principal                                    encrypt  decrypt  last seen    type\n"
        "────────────────────────────────────────────────────────────────────────────────────\n"
        "user/test-user                                     8       12  11-02 09:23  IAM user\n"
        "444455556666:role/service-role/ReportReader        0        2  11-02 08:51  role\n"
        "    sessions  nightly-export, adhoc\n"
    )


def test_narrow_a_column_moves_under_its_row_and_a_path_is_left_out() -> None:
    assert table(40) == (
        "principal               encrypt  decrypt\n"
        "────────────────────────────────────────\n"
        "user/test-user                8       12\n"
        "    last seen 11-02 09:23\n"
        "\n"
        "444455556666:role/…/          0        2\n"
        "ReportReader\n"
        "    last seen 11-02 08:51\n"
        "    sessions  nightly-export, adhoc\n"
    )


def test_a_first_value_too_wide_for_its_column_gets_a_line_of_its_own() -> None:
    sso = "role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_AdministratorAccess_1a2b3c4d5e6f7a8b"
    rows = [[Cell("user/a"), Cell("1"), Cell("2")], [Cell("user/b"), Cell("3"), Cell("4")],
            [Cell(sso, "role/…/AWSReservedSSO_AdministratorAccess_1a2b3c4d5e6f7a8b"), Cell("5"), Cell("6")]]
    assert table(60, COLS[:3], rows) == (
        "principal  encrypt  decrypt\n"
        "───────────────────────────\n"
        "user/a           1        2\n"
        "user/b           3        4\n"
        "role/…/AWSReservedSSO_AdministratorAccess_1a2b3c4d5e6f7a8b\n"
        "                 5        6\n"
    )


def test_too_narrow_for_any_table_each_row_is_a_block() -> None:
    cols = [Col("principal"), *(Col(h, NUM) for h in ("encrypt", "decrypt", "sign", "admin", "denied"))]
    rows = [[Cell("user/test-user"), *(Cell(n) for n in ("8", "12", "0", "0", "0"))]]
    assert table(40, cols, rows) == (
        "user/test-user\n"
        "  encrypt 8   decrypt 12   sign 0\n"
        "  admin 0   denied 0\n"
    )


def test_wide_characters_keep_the_columns_aligned() -> None:
    cols = [Col("名前"), Col("件数", NUM), Col("説明", TEXT)]
    rows = [[Cell("テストユーザー"), Cell("8"), Cell("暗号化と復号")], [Cell("admin"), Cell("12"), Cell("管理")]]
    assert table(40, cols, rows) == (
        "名前            件数  説明\n"
        "──────────────────────────────────\n"
        "テストユーザー     8  暗号化と復号\n"
        "admin             12  管理\n"
    )


def test_colour_paints_values_not_their_padding() -> None:
    cols = [Col("principal"), Col("denied", NUM)]
    lines = grid(cols, [[Cell("user/x"), Cell("3", role="bad")]], Screen(40, color=True))
    assert lines[0] == "\x1b[1mprincipal\x1b[0m  \x1b[1mdenied\x1b[0m"
    assert lines[2] == "user/x          \x1b[1;31m3\x1b[0m"


_NAME = st.text(st.sampled_from("abcdefgh-_暗号"), min_size=1, max_size=24)
_IDENT = st.builds(lambda parts, name: "".join(p + "/" for p in parts) + name, st.lists(_NAME, max_size=3), _NAME)
_ROW = st.tuples(_IDENT, st.integers(0, 10**6), st.lists(_NAME, max_size=4), st.text("ab 暗", max_size=40))


@settings(max_examples=150, deadline=None)
@given(st.lists(_ROW, min_size=1, max_size=6), st.integers(40, 160))
def test_no_line_is_wider_than_the_screen_and_every_name_is_whole_on_a_line(rows: list[tuple[str, int, list[str], str]],
                                                                          screen: int) -> None:
    cols = [Col("principal"), Col("calls", NUM), Col("sessions", LIST, keep=1), Col("note", TEXT, keep=2),
            Col("first seen", ATOM, keep=3)]
    cells = [[Cell(p), Cell(f"{n:,}"), Cell(", ".join(s)), Cell(t), Cell("11-02 08:05")] for p, n, s, t in rows]
    lines = grid(cols, cells, Screen(screen))
    assert all(width(line) <= screen for line in lines)
    text = "\n".join(lines)
    for p, n, sessions, _ in rows:
        name = pieces(p)[-1]
        assert width(name) > screen or any(name in line for line in lines), (name, text)  # whole on one line
        assert f"{n:,}" in text
        for s in sessions:  # a session too: whole on one line, where a line can hold it
            assert width(s) > screen - 6 or any(s in line for line in lines), (s, text)


def test_every_table_line_is_plain_text_without_colour() -> None:
    lines = grid(COLS, ROWS, Screen(60))
    assert not any(re.search("\x1b", line) for line in lines)
    assert IDENT == "ident"
