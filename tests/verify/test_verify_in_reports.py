"""--verify on ingest and the reports: the verdict is in the summary, the HTML, and the exit code."""

from __future__ import annotations

import gzip
from pathlib import Path

from click.testing import CliRunner

from keytrail.cli.main import cli
from tests.factory.signed import BuiltArchive, TrailSigner, public_keys_json


def _keys_file(tmp_path: Path, signer: TrailSigner) -> str:
    path = tmp_path / "public-keys.json"
    path.write_bytes(public_keys_json([signer]))
    return str(path)


def test_usage_with_verify_states_the_result_and_passes(tmp_path: Path, archive: BuiltArchive, signer: TrailSigner) -> None:
    keys = _keys_file(tmp_path, signer)
    result = CliRunner().invoke(
        cli, ["usage", str(archive.root), "--verify", "--public-keys", keys, "--format", "json", "-q"]
    )
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines()[0].startswith("keytrail: verification: OK: ")
    assert result.stdout.startswith("[")


def test_a_modified_log_file_makes_ingest_exit_1(tmp_path: Path, archive: BuiltArchive, signer: TrailSigner) -> None:
    log = archive.logs[0]
    text = gzip.decompress(log.read_bytes()).replace(b'"eventName":"', b'"eventName":"X', 1)
    log.write_bytes(gzip.compress(text, mtime=0))
    keys = _keys_file(tmp_path, signer)
    db = str(tmp_path / "k.duckdb")
    result = CliRunner().invoke(cli, ["ingest", str(archive.root), "--db", db, "--verify", "--public-keys", keys])
    assert result.exit_code == 1, result.output
    assert "keytrail: verification: FAILED" in result.stderr
    assert str(log) in result.stderr


def test_report_shows_the_verification(tmp_path: Path, archive: BuiltArchive, signer: TrailSigner) -> None:
    out = tmp_path / "r.html"
    keys = _keys_file(tmp_path, signer)
    result = CliRunner().invoke(cli, ["report", str(archive.root), "--verify", "--public-keys", keys, "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "OK: " in out.read_text()


def test_public_keys_without_verify_is_a_usage_error(tmp_path: Path, archive: BuiltArchive, signer: TrailSigner) -> None:
    result = CliRunner().invoke(cli, ["usage", str(archive.root), "--public-keys", _keys_file(tmp_path, signer)])
    assert result.exit_code == 2
    assert "--public-keys is read with --verify" in result.stderr
