"""Two processes on one store: while an ingest writes it, a second ingest -- or a report -- fails at
once with "store is busy" (exit 2) and changes nothing; the store afterwards opens and, once the
failed run is repeated, equals a sequential run."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from keytrail.cli.main import cli
from keytrail.errors import StoreBusyError
from keytrail.store import Store
from tests.factory.archive import write_archive

BUSY = "keytrail: error: store is busy: {db} is locked by another keytrail process; try again when it finishes\n"

# the real command line, held open after its first chunk until the test says so (a slow writer)
_SLOW_WRITER = """
import os, sys, time
if __name__ == "__main__":
    import keytrail.pipeline.engine as p
    from keytrail.store import Store
    p.CHUNK_FILES = 4
    marker, release = sys.argv[1], sys.argv[2]
    write_chunk = Store.write_chunk
    def slow(self, *a, **kw):
        write_chunk(self, *a, **kw)
        if not os.path.exists(marker):
            open(marker, "w").close()
            while not os.path.exists(release):
                time.sleep(0.02)
    Store.write_chunk = slow
    from keytrail.cli.main import cli
    sys.exit(cli.main(args=sys.argv[3:], prog_name="keytrail"))
"""


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("concurrency") / "trail"
    write_archive(out, events=3000, per_file=100, seed=12)
    return out / "AWSLogs"


@pytest.fixture(scope="module")
def sequential(archive: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    db = tmp_path_factory.mktemp("sequential") / "s.duckdb"
    assert _keytrail("ingest", str(archive), "--db", str(db), "-q").returncode == 0
    return _usage(db)


def _keytrail(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "keytrail", *args], capture_output=True, text=True, timeout=300)


def _usage(db: Path) -> str:
    result = CliRunner().invoke(cli, ["usage", "--db", str(db), "--format", "json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_while_an_ingest_writes_the_store_others_are_told_it_is_busy(
    archive: Path, sequential: str, tmp_path: Path
) -> None:
    db = tmp_path / "t.duckdb"
    marker, release = tmp_path / "writing", tmp_path / "release"
    script = tmp_path / "slow_writer.py"
    script.write_text(_SLOW_WRITER)
    writer = subprocess.Popen(
        [sys.executable, str(script), str(marker), str(release), "ingest", str(archive), "--db", str(db), "-q",
         "--workers", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert writer.poll() is None, writer.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.02)
        # the writer is inside its first transaction: a second ingest and a report fail at once
        second = _keytrail("ingest", str(archive), "--db", str(db), "-q")
        assert (second.returncode, second.stdout, second.stderr) == (2, "", BUSY.format(db=db))
        report = _keytrail("usage", "--db", str(db), "--format", "json")
        assert (report.returncode, report.stdout, report.stderr) == (2, "", BUSY.format(db=db))
        # the library says the same, for writers and readers
        for read_only in (False, True):
            with pytest.raises(StoreBusyError) as e:
                Store(str(db), read_only=read_only)
            assert e.value.retryable and e.value.path == str(db)
    finally:
        release.touch()
        out, err = writer.communicate(timeout=300)
    assert writer.returncode == 0, err
    assert _usage(db) == sequential
    # the second ingest, repeated, reads nothing new and changes nothing
    again = _keytrail("ingest", str(archive), "--db", str(db))
    assert again.returncode == 0 and "0 records in 0 files" in again.stderr and "unchanged since the last ingest" in again.stderr
    assert _usage(db) == sequential


@pytest.mark.parametrize("workers", ["1", "2"])
def test_two_ingests_started_together(archive: Path, sequential: str, tmp_path: Path, workers: str) -> None:
    db = tmp_path / "t.duckdb"
    cmd = [sys.executable, "-m", "keytrail", "ingest", str(archive), "--db", str(db), "-q", "--workers", workers]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [(p.wait(timeout=300), *p.communicate()) for p in procs]
    # one writes; the other either found the store busy or ran after it (nothing left to read)
    assert 0 in [rc for rc, _, _ in results]
    for rc, out, err in results:
        assert (rc, out, err) in ((0, "", ""), (2, "", BUSY.format(db=db))), (rc, err)
    for rc, _, _ in results:
        if rc == 2:
            assert _keytrail(*cmd[3:]).returncode == 0
    assert _usage(db) == sequential


def test_a_store_file_caught_half_written_is_waited_for_not_called_damaged(tmp_path: Path) -> None:
    """Another process creating the store may have written part of its header when a second one
    looks: that one waits (briefly) instead of calling the store damaged."""
    import threading

    done = tmp_path / "done.duckdb"
    Store(str(done)).close()
    full = done.read_bytes()
    db = tmp_path / "t.duckdb"
    db.write_bytes(full[:6])  # a header begun
    finisher = threading.Timer(0.2, lambda: db.write_bytes(full))
    finisher.start()
    try:
        Store(str(db), read_only=True).close()  # opened once the header is there
    finally:
        finisher.join()
    # a file left half written is refused, once it is clearly not being written any more
    stale = tmp_path / "stale.duckdb"
    stale.write_bytes(full[:6])
    started = time.monotonic()
    with pytest.raises(Exception, match="not a DuckDB database file"):
        Store(str(stale))
    assert time.monotonic() - started < 3
