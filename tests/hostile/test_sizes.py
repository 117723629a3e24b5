"""Hostile sizes: a gzip bomb, millions of records in one file, millions of rejected records -- each
named or counted, the rest read, peak memory under 1 GB (the full-size figures: bench/sizes.py)."""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable
from pathlib import Path

from click.testing import CliRunner

from keytrail.cli.main import cli
from keytrail.store import Store
from tests.hostile import corpus
from tests.hostile.test_malformed import _peak_rss_mb


def gz(path: Path, parts: Iterable[bytes]) -> Path:
    z = zlib.compressobj(9, zlib.DEFLATED, 31)
    with open(path, "wb") as f:
        for part in parts:
            f.write(z.compress(part))
        f.write(z.flush())
    return path


def good(folder: Path) -> Path:
    path = folder / "good.json"
    path.write_text(json.dumps({"Records": [corpus.decoy(1)]}))
    return path


def bomb(folder: Path) -> Path:
    """512 MiB of spaces in a log file's Records: 512 KB gzipped (bench/sizes.py builds the 3 GB one)."""
    block = b" " * (64 << 20)
    return gz(folder / "bomb.json.gz", [b'{"Records":[', *([block] * 8), b"]}"])


def test_a_gzip_bomb_is_named_the_good_file_read_and_memory_stays_under_1_gb(tmp_path: Path) -> None:
    good(tmp_path)
    bomb(tmp_path)
    rc, mb = _peak_rss_mb("usage", str(tmp_path), "--format", "json", "--workers", "1")
    print(f"512 MiB gzip bomb: peak RSS {mb:.0f} MB")
    assert rc == 3 and mb < 1024
    result = CliRunner().invoke(cli, ["usage", str(tmp_path), "--format", "json", "--workers", "1"])
    assert result.exit_code == 3
    assert (f"keytrail: error: {tmp_path / 'bomb.json.gz'}: inflates to more than 256 MiB, the per-file limit "
            "(max-file-bytes): not read") in result.stderr  # fmt: skip
    assert "keytrail: 1 record in 1 file (1 KMS call, 1 key-use row); 1 file unreadable;" in result.stderr
    assert len(json.loads(result.stdout)) == 1


def test_max_file_bytes_sets_the_limit(tmp_path: Path) -> None:
    good(tmp_path)
    path = gz(tmp_path / "big.json.gz", [b'{"Records":[', b" " * (3 << 20), b"]}"])
    refused = CliRunner().invoke(cli, ["usage", str(tmp_path), "--max-file-bytes", "2M", "--format", "json"])
    assert refused.exit_code == 3 and f"{path}: inflates to more than 2 MiB" in refused.stderr
    read = CliRunner().invoke(cli, ["usage", str(tmp_path), "--max-file-bytes", "4MiB", "--format", "json"])
    assert read.exit_code == 0, read.stderr
    plain = CliRunner().invoke(cli, ["usage", str(tmp_path / "good.json"), "--max-file-bytes", "100"])
    assert plain.exit_code == 2 and "is larger than 100 bytes, the per-file limit" in plain.stderr  # nothing read: no answer
    bad = CliRunner().invoke(cli, ["usage", str(tmp_path), "--max-file-bytes", "lots"])
    assert bad.exit_code == 2 and "'lots' is not a size in bytes" in bad.stderr


def test_six_million_empty_records_stay_under_1_gb(tmp_path: Path) -> None:
    good(tmp_path)
    block = b"{}," * 1_000_000
    gz(tmp_path / "empty.json.gz", [b'{"Records":[', *([block] * 5), b"{}," * 999_999 + b"{}]}"])
    rc, mb = _peak_rss_mb("ingest", str(tmp_path), "--db", str(tmp_path / "s.duckdb"), "-q", "--workers", "1")
    print(f"6M empty records: peak RSS {mb:.0f} MB")
    assert rc == 0 and mb < 1024
    with Store(str(tmp_path / "s.duckdb"), read_only=True) as store:
        assert store.query("SELECT sum(records) FROM files")[0][0] == 6_000_001


def test_a_million_rejected_records_are_counted_and_a_sample_kept(tmp_path: Path) -> None:
    stub = b'{"eventSource":"kms.amazonaws.com"},'
    gz(tmp_path / "stubs.json.gz", [b'{"Records":[', stub * 999_999, stub[:-1], b"]}"])
    db = str(tmp_path / "s.duckdb")
    result = CliRunner().invoke(cli, ["ingest", str(tmp_path), "--db", db, "--workers", "1"])
    assert result.exit_code == 3
    assert "1,000,000 records rejected" in result.stderr
    assert result.stderr.count("keytrail: skipped record: ") == 100
    assert "keytrail: ... and 999900 more rejected record(s)" in result.stderr
    with Store(db, read_only=True) as store:
        assert store.query("SELECT problems FROM files") == [(1_000_000,)]
        assert store.query("SELECT count(*) FROM record_problems") == [(100,)]
    listed = json.loads(CliRunner().invoke(cli, ["problems", "--db", db, "--format", "json"]).stdout)
    assert len(listed) == 101 and listed[0]["record"] is None
    assert listed[0]["reason"] == ("999,900 more rejected record(s) than listed: the first 100 of a file are kept, "
                                   "every one is counted")  # fmt: skip
