"""spark-ingest and --parquet on the command line: usage errors found before Spark starts.

The job itself runs in tests/spark (marked ``spark``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from keytrail.cli.main import cli


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "2026-10-02T10:00:00"], "--since: '2026-10-02T10:00:00' is not a date (YYYY-MM-DD): partitions are whole UTC days"),
        (["--until", "2026-13-01"], "--until: '2026-13-01' is not a date (YYYY-MM-DD): partitions are whole UTC days"),
        (["--since", "2026-10-03", "--until", "2026-10-02"], "--since must be before --until"),
        (["--conf", "spark.master"], "--conf 'spark.master': expected KEY=VALUE"),
    ],
)
def test_usage_errors(tmp_path: Path, args: list[str], message: str) -> None:
    result = CliRunner().invoke(cli, ["spark-ingest", str(tmp_path), "-o", str(tmp_path / "out"), *args])
    assert result.exit_code == 2
    assert result.stderr == f"keytrail: error: {message}\n"


def test_without_pyspark_the_error_names_the_install_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyspark", None)  # import pyspark raises ImportError
    result = CliRunner().invoke(cli, ["spark-ingest", str(tmp_path), "-o", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "pip install 'keytrail[spark]'" in result.stderr


def test_parquet_takes_no_sources_and_ingest_takes_no_parquet(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["usage", str(tmp_path), "--parquet", str(tmp_path)])
    assert result.exit_code == 2
    assert "--parquet reads a dataset written by spark-ingest: give it without SOURCE or --db" in result.stderr
    result = runner.invoke(cli, ["ingest", str(tmp_path), "--db", str(tmp_path / "x.duckdb"), "--parquet", str(tmp_path)])
    assert result.exit_code == 2
    assert "--parquet is read by reports" in result.stderr
    result = runner.invoke(cli, ["keys", "--parquet", str(tmp_path / "nowhere")])
    assert result.exit_code == 2
    assert "nowhere: no such directory" in result.stderr


def test_run_returns_the_exit_code(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from keytrail.spark.__main__ import run

    assert run([str(tmp_path), "-o", str(tmp_path / "out"), "--since", "yesterday"]) == 2
    assert "--since: 'yesterday' is not a date" in capsys.readouterr().err
    assert run([str(tmp_path)]) == 2  # -o missing
    assert "Missing option '--output'" in capsys.readouterr().err


def test_the_module_runs_the_command() -> None:
    result = subprocess.run([sys.executable, "-m", "keytrail.spark", "--help"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Usage: keytrail.spark [OPTIONS] [SOURCE]...")
