"""Conformance with the shared tools (../shared/tools): keytrail usage --format json equals
gen_trail.py's truth.json exactly, for several seeds and layouts, as check_truth.py judges it; and
check_truth.py judges the local archives' truth (tests/factory/archive.py) as tests/factory/truth.py does.

Without ../shared these tests skip (fail under CI=true); tests/test_truth.py holds the same checks on
the local generator's archives."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from keytrail.cli.main import cli
from tests.conftest import CHECK_TRUTH, gen_trail, need_shared
from tests.factory.truth import compare

pytestmark = pytest.mark.shared  # reads ../shared: skips without it, fails under CI=true

CASES = [
    ("--events", "8000", "--seed", "1"),
    ("--events", "8000", "--seed", "2", "--org", "--plain-every", "7", "--external-accounts", "1"),
    ("--events", "12000", "--seed", "97", "--org", "--external-accounts", "1", "--accounts", "3"),
    ("--events", "6000", "--seed", "23", "--accounts", "4", "--regions", "3", "--per-file", "40"),
]


def _check_truth(usage: Path, truth: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(need_shared(CHECK_TRUTH)), str(usage), str(truth)],
                          capture_output=True, text=True)


@pytest.mark.parametrize("args", CASES, ids=lambda a: "-".join(a[1::2]))
def test_usage_json_equals_truth(tmp_path: Path, args: tuple[str, ...]) -> None:
    truth = gen_trail(tmp_path / "a", *args)
    result = CliRunner().invoke(cli, ["usage", str(tmp_path / "a"), "--format", "json", "--quiet"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    (tmp_path / "usage.json").write_text(result.stdout)
    check = _check_truth(tmp_path / "usage.json", tmp_path / "a" / "truth.json")
    assert check.returncode == 0, check.stdout
    assert sum(len(p) for p in truth["keys"].values()) == len(rows)  # type: ignore[union-attr]


def test_check_truth_reads_the_local_archives_truth(small_archive: Path, tmp_path: Path) -> None:
    """tests/factory/archive.py writes truth.json in gen_trail's shape: check_truth.py and tests/factory/truth.py agree."""
    result = CliRunner().invoke(cli, ["usage", str(small_archive), "--format", "json", "-q"])
    assert result.exit_code == 0, result.output
    usage = tmp_path / "usage.json"
    usage.write_text(result.stdout)
    check = _check_truth(usage, small_archive / "truth.json")
    assert check.returncode == 0, check.stdout
    assert check.stdout.splitlines()[-1] == compare(result.stdout, small_archive / "truth.json").summary()
    # and both see a wrong count
    rows = json.loads(result.stdout)
    rows[0]["decrypt"] += 1
    usage.write_text(json.dumps(rows))
    assert _check_truth(usage, small_archive / "truth.json").returncode == 1
    assert not compare(rows, small_archive / "truth.json").ok
