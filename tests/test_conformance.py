"""keytrail usage --format json equals gen_trail's truth.json exactly, for several seeds and layouts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from keytrail.cli.main import cli
from tests.conftest import CHECK_TRUTH, gen_trail

CASES = [
    ("--events", "8000", "--seed", "1"),
    ("--events", "8000", "--seed", "2", "--org", "--plain-every", "7", "--external-accounts", "1"),
    ("--events", "12000", "--seed", "97", "--org", "--external-accounts", "1", "--accounts", "3"),
    ("--events", "6000", "--seed", "23", "--accounts", "4", "--regions", "3", "--per-file", "40"),
]


@pytest.mark.parametrize("args", CASES, ids=lambda a: "-".join(a[1::2]))
def test_usage_json_equals_truth(tmp_path: Path, args: tuple[str, ...]) -> None:
    truth = gen_trail(tmp_path / "a", *args)
    result = CliRunner().invoke(cli, ["usage", str(tmp_path / "a"), "--format", "json", "--quiet"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    (tmp_path / "usage.json").write_text(result.stdout)
    check = subprocess.run(
        [sys.executable, str(CHECK_TRUTH), str(tmp_path / "usage.json"), str(tmp_path / "a" / "truth.json")],
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stdout
    assert sum(len(p) for p in truth["keys"].values()) == len(rows)  # type: ignore[union-attr]


def test_single_worker_and_many_workers_agree(small_archive: Path) -> None:
    one = CliRunner().invoke(cli, ["usage", str(small_archive), "--format", "json", "-q", "--workers", "1"])
    two = CliRunner().invoke(cli, ["usage", str(small_archive), "--format", "json", "-q", "--workers", "2"])
    assert one.exit_code == two.exit_code == 0
    assert one.stdout == two.stdout


def test_ingest_is_idempotent_and_incremental(small_archive: Path, tmp_path: Path) -> None:
    db = str(tmp_path / "k.duckdb")
    first = CliRunner().invoke(cli, ["ingest", str(small_archive), "--db", db])
    assert first.exit_code == 0, first.output
    before = CliRunner().invoke(cli, ["usage", "--db", db, "--format", "json"]).stdout
    again = CliRunner().invoke(cli, ["ingest", str(small_archive), "--db", db])
    assert again.exit_code == 0
    assert "0 records in 0 files" in again.stderr and "unchanged since the last ingest" in again.stderr
    assert CliRunner().invoke(cli, ["usage", "--db", db, "--format", "json"]).stdout == before
