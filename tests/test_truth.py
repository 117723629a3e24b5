"""keytrail usage --format json equals the truth of archives with known answers (tests/factory/archive.py)
exactly, for several seeds and layouts; one worker and many give the same answer; ingest is
idempotent and incremental. (tests/test_conformance.py checks the same against ../shared's
generator.)"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from keytrail.cli.main import cli
from tests.factory.archive import write_archive
from tests.factory.truth import assert_matches_truth

CASES: dict[str, dict[str, Any]] = {
    "seed-1": dict(events=8000, seed=1),
    "seed-2-org-plain-external": dict(events=8000, seed=2, org=True, plain_every=7, external=1),
    "seed-97-org-external": dict(events=12000, seed=97, org=True, external=1, accounts=3),
    "seed-23-4-accounts-3-regions": dict(events=6000, seed=23, accounts=4, regions=3, per_file=40),
    "seed-14-sparse": dict(events=150, seed=14, accounts=2, regions=2),
    "seed-11-three-days": dict(events=3000, seed=11, org=True, external=2, accounts=4, regions=1, per_file=5,
                               plain_every=3),
}


@pytest.mark.parametrize("name", list(CASES))
def test_usage_json_equals_truth(tmp_path: Path, name: str) -> None:
    truth = write_archive(tmp_path / "a", **CASES[name])
    result = CliRunner().invoke(cli, ["usage", str(tmp_path / "a"), "--format", "json", "--quiet"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert_matches_truth(rows, truth)
    assert sum(len(p) for p in truth["keys"].values()) == len(rows)


def test_single_worker_and_many_workers_agree(small_archive: Path) -> None:
    one = CliRunner().invoke(cli, ["usage", str(small_archive), "--format", "json", "-q", "--workers", "1"])
    two = CliRunner().invoke(cli, ["usage", str(small_archive), "--format", "json", "-q", "--workers", "2"])
    assert one.exit_code == two.exit_code == 0
    assert one.stdout == two.stdout
    assert_matches_truth(one.stdout, small_archive / "truth.json")


def test_ingest_is_idempotent_and_incremental(small_archive: Path, tmp_path: Path) -> None:
    db = str(tmp_path / "k.duckdb")
    first = CliRunner().invoke(cli, ["ingest", str(small_archive), "--db", db])
    assert first.exit_code == 0, first.output
    before = CliRunner().invoke(cli, ["usage", "--db", db, "--format", "json"]).stdout
    again = CliRunner().invoke(cli, ["ingest", str(small_archive), "--db", db])
    assert again.exit_code == 0
    assert "0 records in 0 files" in again.stderr and "unchanged since the last ingest" in again.stderr
    assert CliRunner().invoke(cli, ["usage", "--db", db, "--format", "json"]).stdout == before
