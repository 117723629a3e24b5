"""keytrail in a real pseudo-terminal, as a user sees it: the table takes the terminal's width
(80 and 120 columns), ``COLUMNS`` overrides it, colour only there and never with ``NO_COLOR`` or
``--no-color``; piped, the output is today's one line per row, unchanged."""

from __future__ import annotations

import fcntl
import os
import re
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

from keytrail.render.width import width
from tests.conftest import REPO

GOLDEN = Path(__file__).parent / "golden"
SGR = re.compile(r"\x1b\[[0-9;]*m")
NAMES = ("test-user", "ReportReader", "alias/blog-bucket-key", "1234abcd", "AWS Internal")


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "NO_COLOR", "TERM")}
    env["PYTHONPATH"] = str(REPO / "src") + os.pathsep + env.get("PYTHONPATH", "")
    env["TERM"] = "xterm-256color"
    return {**env, **extra}


def in_terminal(*args: str, columns: int, **env: str) -> str:
    """What ``keytrail ARGS`` writes to a pseudo-terminal ``columns`` wide (its stdout; stderr piped)."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    proc = subprocess.Popen([sys.executable, "-m", "keytrail", *args], stdin=slave, stdout=slave,
                            stderr=subprocess.PIPE, env=_env(**env), close_fds=True)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the terminal's other side closed
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    assert proc.wait(timeout=120) == 0, proc.stderr.read() if proc.stderr else ""
    return b"".join(chunks).decode("utf-8").replace("\r\n", "\n")


def piped(*args: str) -> str:
    return subprocess.run([sys.executable, "-m", "keytrail", *args], capture_output=True, env=_env(), check=True,
                          text=True).stdout


@pytest.mark.parametrize("columns", [80, 120])
def test_demo_fits_the_terminal_in_colour(columns: int) -> None:
    raw = in_terminal("demo", columns=columns)
    text = SGR.sub("", raw)
    lines = text.splitlines()
    assert max(width(line) for line in lines) <= columns
    for name in NAMES:
        assert any(name in line for line in lines), name
    assert any(re.search(r"test-user\b.*\b8\b.*\b12\b", line) for line in lines)
    assert "\x1b[1m" in raw  # headings in bold: colour on a terminal
    assert text == piped("demo", "--width", str(columns))  # --width N lays out as a terminal N wide does


def test_no_color_and_its_option_turn_colour_off() -> None:
    assert "\x1b" not in in_terminal("demo", columns=80, NO_COLOR="1")
    assert "\x1b" not in in_terminal("demo", "--no-color", columns=80)


def test_columns_overrides_the_terminals_width() -> None:
    text = SGR.sub("", in_terminal("demo", columns=80, COLUMNS="150"))
    widest = max(width(line) for line in text.splitlines())
    assert 80 < widest <= 150


def test_piped_output_is_one_line_per_row_as_before() -> None:
    assert piped("demo") == (GOLDEN / "demo.txt").read_text(encoding="utf-8")


def test_wide_on_a_terminal_is_the_piped_table() -> None:
    sample = str(REPO / "src" / "keytrail" / "data" / "sample-trail")
    args = ("who-uses", "alias/blog-bucket-key", sample, "-q")
    assert SGR.sub("", in_terminal(*args, "--wide", columns=80)) == piped(*args)
