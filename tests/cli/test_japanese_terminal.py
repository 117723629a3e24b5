"""keytrail in Japanese on a terminal 80 and 120 columns wide: the answer in words tells the sample's
story (test-user がアップロードで暗号化、ダウンロードで復号), the columns line up with full-width
text (every width counted in display cells), no line is wider than the terminal, and times are in
the zone asked for. Golden files: tests/cli/golden/terminal/*-ja-*.txt (regenerate with
KEYTRAIL_REGEN_GOLDEN=1 python -m pytest tests/cli/test_japanese_terminal.py)."""

from __future__ import annotations

import re

import pytest

from keytrail.render.width import width
from tests.cli.test_pty import SGR, in_terminal
from tests.cli.test_terminal import check_golden, fits, run, whole_on_a_line

NAMES = ("test-user", "ReportReader", "alias/blog-bucket-key", "1234abcd", "AWS Internal")
STORY = "test-user (IAM ユーザー): アップロードで暗号化 8 件、ダウンロードで復号 12 件"


def _table(text: str, header: str) -> list[str]:
    """The lines of the table whose header line holds ``header``: the header, its rule, its rows (and
    their detail lines) up to the next blank line."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if header in line and i + 1 < len(lines)
                 and set(lines[i + 1]) == {"─"})
    end = next((i for i in range(start, len(lines)) if not lines[i].strip()), len(lines))
    return lines[start:end]


def _cells(line: str) -> list[tuple[int, int, str]]:
    """The line's fields (two or more spaces apart) with where each starts and ends, in display cells."""
    out = []
    for m in re.finditer(r"\S+(?: \S+)*", line):
        start = width(line[: m.start()])
        out.append((start, start + width(m.group()), m.group()))
    return out


def assert_aligned(table: list[str]) -> None:
    """Every row's numbers end where their column's header ends, and its first time starts where
    the header's first time column starts: the columns line up whatever the text's width."""
    header, rule, *rows = table
    assert set(rule) == {"─"}, rule
    heads = _cells(header)
    numeric = [(end, name) for _start, end, name in heads if name in ("暗号化", "復号", "署名", "管理", "拒否")]
    assert len(numeric) == 5, heads
    for row in rows:
        if row.startswith("    "):
            continue  # a detail line under its row
        ends = {end for _start, end, _text in _cells(row)}
        assert all(end in ends for end, _name in numeric), (row, header)
        if "初回" in header:
            (first_time,) = [start for start, _end, name in heads if name == "初回"]
            assert any(start == first_time for start, _end, _text in _cells(row)), (row, header)


@pytest.mark.parametrize("cells", [80, 120])
def test_the_demo_in_japanese_at_80_and_120_columns(cells: int) -> None:
    result = run("demo", "--lang", "ja", "--tz", "Asia/Tokyo", "--width", str(cells))
    assert (result.exit_code, result.stderr) == (0, "")
    text = result.stdout
    check_golden(f"demo-ja-{cells}.txt", text)
    fits(text, cells)
    whole_on_a_line(text, [*NAMES, "暗号化", "復号"])
    assert STORY in text.replace("\n    ", " ")
    table = _table(text, "暗号化  復号")
    assert_aligned(table)
    (row,) = [line for line in table if line.startswith("user/test-user")]
    assert re.search(r"\b8\s+12\b", row) and "11-02 17:05" in text.split("プリンシパル別")[1]


@pytest.mark.parametrize("columns", [80, 120])
def test_japanese_in_a_real_terminal(columns: int) -> None:
    """LANG=ja_JP.UTF-8 and TZ=Asia/Tokyo in a pseudo-terminal: the language and zone from the
    environment, every line within the terminal's width in display cells, the columns aligned."""
    text = SGR.sub("", in_terminal("demo", columns=columns, LANG="ja_JP.UTF-8", TZ="Asia/Tokyo"))
    lines = text.splitlines()
    assert max(width(line) for line in lines) <= columns
    assert "alias/blog-bucket-key を使っているのは誰か" in text
    assert STORY in text.replace("\n    ", " ")
    assert "時刻は Asia/Tokyo +09:00、2026 年" in text
    assert_aligned(_table(text, "暗号化  復号"))
    assert_aligned_keys(_table(text, "暗号オペレーション"))


def assert_aligned_keys(table: list[str]) -> None:
    """The keys table: its numbers under their headers (暗号オペレーション, プリンシパル, 拒否)."""
    header, _rule, *rows = table
    heads = {name: end for _start, end, name in _cells(header)}
    for row in rows:
        if row.startswith("    "):
            continue
        ends = {end for _start, end, _text in _cells(row)}
        assert heads["暗号オペレーション"] in ends and heads["拒否"] in ends, (row, header)
