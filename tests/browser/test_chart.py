"""keytrail chart: one chart of the report as a PNG, drawn in headless Chromium."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from click.testing import CliRunner

from keytrail.cli.main import cli
from keytrail.errors import UsageError
from keytrail.render.chart import chart_png
from tests.browser.conftest import artifact
from tests.render.hostile_trail import KEY_ARN, write_hostile_archive

pytestmark = pytest.mark.browser


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    root = write_hostile_archive(tmp_path_factory.mktemp("chart") / "trail")
    path = str(root.parent / "t.duckdb")
    assert CliRunner().invoke(cli, ["ingest", str(root), "--db", path, "-q", "--workers", "1"]).exit_code == 0
    return path


@pytest.mark.parametrize("by", ["operation"])
def test_chart_of_a_key(db: str, chromium: Path, tmp_path: Path, by: str) -> None:
    out = tmp_path / f"{by}.png"
    result = CliRunner().invoke(cli, ["chart", "--db", db, "--key", "alias/<script>alert(1)</script>", "--by", by,
                                      "-o", str(out), "--chromium", str(chromium)])
    assert result.exit_code == 0, result.output
    assert result.stderr == f"keytrail: wrote {out}\n"
    width, height = _png_size(out)
    assert width == 1640 and 300 < height < 2000  # 820 CSS pixels at scale 2
    if by == "operation":
        out.replace(artifact("chart-operation.png"))


def test_chart_of_top_principals_in_dark(db: str, chromium: Path, tmp_path: Path) -> None:
    out = tmp_path / "top.png"
    result = CliRunner().invoke(cli, ["chart", "--db", db, "--by", "top-principals", "--theme", "dark", "-o", str(out), "-q"])
    assert result.exit_code == 0, result.output
    assert _png_size(out)[0] == 1640


def test_chart_needs_one_key(db: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["chart", "--db", db, "-o", str(tmp_path / "x.png")])
    assert result.exit_code == 2
    assert result.stderr == "keytrail: error: --by operation draws one key: name it with --key\n"
    result = CliRunner().invoke(cli, ["chart", "--db", db, "--key", "alias/none", "-o", str(tmp_path / "x.png")])
    assert result.exit_code == 2
    assert result.stderr == ("keytrail: error: alias/none: no key of that name in the store; `keytrail keys` lists "
                             "the 1 key(s) it knows\n")
    result = CliRunner().invoke(cli, ["chart", "--db", db, "--key", KEY_ARN, "--since", "2027-01-01", "-o",
                                      str(tmp_path / "x.png")])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"keytrail: error: {KEY_ARN}: no calls since 2027-01-01T00:00:00Z; last use 2026-")
    assert result.stderr.endswith(": nothing to draw\n")
    assert not (tmp_path / "x.png").exists()


def test_chart_names_are_checked_and_chromium_must_exist(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no such chart"):
        chart_png("<html></html>", "key-1:operation';alert(1)", str(tmp_path / "x.png"))
    with pytest.raises(UsageError, match="needs Chromium and found none at /nonexistent/chromium"):
        chart_png("<html></html>", "key-1:operation", str(tmp_path / "x.png"), chromium="/nonexistent/chromium")

