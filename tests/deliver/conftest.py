"""Fixtures of the delivery tests: the local AWS emulator (tests/aws_server.py) and an archive with
known answers (tests/factory/archive.py) of one account, with its inventory."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.aws_server import aws, moto_server  # noqa: F401
from tests.factory.archive import write_archive


def run(*args: str) -> tuple[int, str, str]:
    from keytrail.cli.main import cli

    res = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return res.exit_code, res.stdout, res.stderr


@pytest.fixture(scope="session")
def one_account(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """(archive, store, account): an archive of 6,000 calls in one account and two Regions (seed 41),
    ingested with its inventory."""
    root = tmp_path_factory.mktemp("one-account")
    archive = root / "trail"
    write_archive(archive, events=6000, seed=41, accounts=1, regions=2)
    db = str(root / "trail.duckdb")
    code, _, err = run("ingest", str(archive / "AWSLogs"), "--db", db, "-q")
    assert code == 0, err
    code, _, err = run("inventory", "--db", db, "--from", str(archive / "inventory"), "-q")
    assert code == 0, err
    account = next((archive / "AWSLogs").iterdir()).name
    return archive, db, account
