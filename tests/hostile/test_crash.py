"""Crash safety of the store: an ingest killed with SIGKILL at random points (in a subprocess, with
small transactions so that kills land before, between and inside them; one round in four aims at
resolution), then run again, leaves exactly the rows of an uninterrupted run -- no loss, no
duplicates.

After each kill the store must open, and its ledger must agree with its rows (a file is in the
ledger exactly when all its rows are). KEYTRAIL_KILL_POINTS sets how many kills (default 20, under
a minute); the README's Reliability section quotes a longer run.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner

from keytrail.cli.main import cli
from tests.factory.archive import write_archive

KILL_POINTS = int(os.environ.get("KEYTRAIL_KILL_POINTS", "20"))
SEED = int(os.environ.get("KEYTRAIL_KILL_SEED", "1"))
COMMIT_ROWS = 300  # key-use rows per transaction (the default is far larger)
CHUNK_FILES = 4  # files per chunk: a transaction ends only between chunks

# runs the real command line with small transactions (the guard keeps worker processes from running it)
_INGEST = """
import os, sys
if __name__ == "__main__":
    import keytrail.pipeline.engine as p
    p.COMMIT_ROWS, p.CHUNK_FILES = int(sys.argv[1]), int(sys.argv[2])
    mark = os.environ.get("KEYTRAIL_TEST_RESOLVE_MARK")
    if mark:  # tells the test when resolution starts, so that a kill can aim at it
        from keytrail.store import Store
        resolve = Store.resolve
        def marked(store):
            open(mark, "w").close()
            resolve(store)
        Store.resolve = marked
    from keytrail.cli.main import cli
    sys.exit(cli.main(args=sys.argv[3:], prog_name="keytrail"))
"""


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("crash") / "trail"
    write_archive(out, events=20000, per_file=100, seed=4, external=1, plain_every=9)
    script = out.parent / "ingest_small_commits.py"
    script.write_text(_INGEST)
    return out


def _start(archive: Path, db: Path, workers: int, mark: Path | None = None) -> subprocess.Popen[bytes]:
    script = archive.parent / "ingest_small_commits.py"
    env = {**os.environ, "KEYTRAIL_TEST_RESOLVE_MARK": str(mark)} if mark else None
    return subprocess.Popen(
        [sys.executable, str(script), str(COMMIT_ROWS), str(CHUNK_FILES), "ingest", str(archive / "AWSLogs"),
         "--db", str(db), "-q", "--workers", str(workers)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True, env=env,
    )


def _ingest(archive: Path, db: Path, workers: int = 1) -> float:
    started = time.monotonic()
    proc = _start(archive, db, workers)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err.decode()[-3000:]
    return time.monotonic() - started


def _kill_after(archive: Path, db: Path, delay: float, workers: int, in_resolution: bool = False) -> float | None:
    """Start an ingest and SIGKILL it (its whole process group: workers too) after ``delay`` s --
    counted from when resolution starts if ``in_resolution``. None when killed, else how long it
    took to finish first."""
    started = time.monotonic()
    mark = db.with_name(db.name + ".resolving") if in_resolution else None
    proc = _start(archive, db, workers, mark)
    try:
        if mark is not None:
            while not mark.exists() and proc.poll() is None:
                time.sleep(0.002)
            mark.unlink(missing_ok=True)
        proc.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
        return None
    finally:
        if proc.stderr is not None:
            proc.stderr.close()
    assert proc.returncode == 0
    return time.monotonic() - started


# ---- what a store holds ----------------------------------------------------------------------------

_QUERIES = {
    "raw_key_use": "SELECT f.uri, r.rec_index, r.event_name, r.key_ref, r.ref_kind, r.op, r.key, r.who, r.category,"
                   " r.principal, r.session_name FROM raw_key_use r JOIN files f USING (file_id)",
    "key_use": "SELECT f.uri, k.rec_index, k.key, k.principal, k.category, k.op, k.event_id FROM key_use k"
               " JOIN files f USING (file_id)",
    "files": "SELECT uri, size, version, status, shape, records, kms_records, rows, problems, reason FROM files",
    "alias_history": "SELECT f.uri, a.rec_index, a.alias_arn, a.event_time, a.target_key FROM alias_history a"
                     " JOIN files f USING (file_id)",
    "identity_map": "SELECT unique_id, arn FROM identity_map",
    "credentials": "SELECT f.uri, c.rec_index, c.access_key_id, c.role_arn FROM credentials c JOIN files f USING (file_id)",
    "record_problems": "SELECT f.uri, p.rec_index, p.kind, p.message FROM record_problems p JOIN files f USING (file_id)",
}


def _contents(db: Path) -> dict[str, Counter[tuple[Any, ...]]]:
    """Every table as a multiset of rows, files named by their path (not their id)."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        return {name: Counter(con.execute(sql).fetchall()) for name, sql in _QUERIES.items()}
    finally:
        con.close()


def _usage(db: Path) -> str:
    result = CliRunner().invoke(cli, ["usage", "--db", str(db), "--format", "json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def _state_after_kill(db: Path, total_files: int) -> str:
    """Where the kill landed, read from what the store committed; checks the store's invariants."""
    if not db.exists():
        return "before the store was created"
    con = duckdb.connect(str(db), read_only=True)
    try:
        tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        if "meta" not in tables:
            return "while the schema was created"
        files = con.execute("SELECT count(*), count(DISTINCT uri) FROM files").fetchone()
        assert files is not None and files[0] == files[1], "a file twice in the ledger"
        # the ledger and the rows commit together: every file's rows are there, and no others
        orphans = con.execute("SELECT count(*) FROM raw_key_use WHERE file_id NOT IN (SELECT file_id FROM files)")
        assert orphans.fetchone() == (0,), "rows without their ledger entry"
        mismatched = con.execute(
            "SELECT f.uri, f.rows, count(r.file_id) FROM files f LEFT JOIN raw_key_use r USING (file_id)"
            " GROUP BY ALL HAVING f.rows <> count(r.file_id)"
        ).fetchall()
        assert mismatched == [], f"ledger and rows disagree: {mismatched[:3]}"
        resolved = con.execute("SELECT value FROM meta WHERE key = 'needs_resolve'").fetchone()
        finished = con.execute("SELECT count(*) FROM ingests WHERE finished IS NOT NULL").fetchone()
    finally:
        con.close()
    n = files[0]
    if n == 0:
        return "before the first commit"
    if n < total_files:
        return "between the first and the last commit"
    if resolved == ("1",):
        return "after the last chunk, before resolution committed"
    return "after resolution" if finished == (0,) else "after the ingest finished"


def test_an_ingest_killed_anywhere_then_rerun_equals_an_uninterrupted_one(archive: Path, tmp_path: Path) -> None:
    baseline = tmp_path / "baseline.duckdb"
    duration = _ingest(archive, baseline)  # a whole run; lowered when a run ends before its kill
    want_usage, want = _usage(baseline), _contents(baseline)
    total_files = sum(want["files"].values())
    assert sum(want["raw_key_use"].values()) > 5_000

    rng = random.Random(SEED)
    landed: Counter[str] = Counter()
    kills = rounds = 0
    while kills < KILL_POINTS:
        rounds += 1
        db = tmp_path / f"killed-{rounds}.duckdb"
        workers = 2 if rounds % 3 == 0 else 1
        # one to three kills on the same store, each at a random point of a run; then a full run
        for _ in range(rng.choice((1, 1, 2, 3))):
            if kills >= KILL_POINTS:
                break
            fresh = not db.exists()
            if rounds % 4 == 1 and fresh:  # aimed at resolution, the last transaction
                finished = _kill_after(archive, db, rng.uniform(0.0, 0.15), workers, in_resolution=True)
            else:
                finished = _kill_after(archive, db, rng.uniform(0.3, duration * 1.05), workers)
            if finished is None:
                kills += 1
                landed[_state_after_kill(db, total_files)] += 1
            elif fresh and rounds % 4 != 1:
                duration = min(duration, finished)
        _ingest(archive, db, workers)
        got = _contents(db)
        for table in want:
            lost, extra = want[table] - got[table], got[table] - want[table]
            assert not lost and not extra, (
                f"round {rounds}, {table}: {sum(lost.values())} row(s) lost, {sum(extra.values())} extra; "
                f"e.g. lost {list(lost)[:2]}, extra {list(extra)[:2]}")
        assert _usage(db) == want_usage
        for leftover in tmp_path.glob(f"killed-{rounds}.duckdb*"):
            shutil.rmtree(leftover) if leftover.is_dir() else leftover.unlink()
    summary = "; ".join(f"{n} {where}" for where, n in landed.most_common())
    print(f"\n{kills} kill points in {rounds} rounds, all recovered exactly: {summary}")


# ---- stores this keytrail cannot read: refused with a message, never misread, never changed ---------


@pytest.fixture(scope="module")
def small_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from keytrail.sources.sample import sample_dir

    db = tmp_path_factory.mktemp("stores") / "sample.duckdb"
    result = CliRunner().invoke(cli, ["ingest", str(sample_dir()), "--db", str(db), "-q", "--workers", "1"])
    assert result.exit_code == 0, result.output
    return db


def _copy_with(small_store: Path, tmp_path: Path, *statements: str) -> Path:
    db = tmp_path / "edited.duckdb"
    db.write_bytes(small_store.read_bytes())
    shutil.copytree(f"{small_store}.segments", f"{db}.segments")  # a store is the file and its segments
    con = duckdb.connect(str(db))
    for sql in statements:
        con.execute(sql)
    con.close()
    return db


def _meta(db: Path) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute("SELECT key, value FROM meta ORDER BY key").fetchall()
    finally:
        con.close()


@pytest.mark.parametrize(("statement", "found"), [
    ("UPDATE meta SET value = '6' WHERE key = 'schema_version'", 6),
    ("UPDATE meta SET value = '0' WHERE key = 'schema_version'", 0),
    ("UPDATE meta SET value = 'one' WHERE key = 'schema_version'", 0),
    ("DELETE FROM meta WHERE key = 'schema_version'", 0),
])
def test_a_store_of_another_schema_version_is_refused(small_store: Path, tmp_path: Path, statement: str,
                                                      found: int) -> None:
    from keytrail.errors import SchemaVersionError
    from keytrail.sources.sample import sample_dir
    from keytrail.store import SCHEMA_VERSION, Store

    db = _copy_with(small_store, tmp_path, statement)
    before = (_meta(db), _contents(db))
    message = (f"keytrail: error: {db}: store schema version {found}, this keytrail reads version {SCHEMA_VERSION}; "
               "re-ingest into a new store (--db NEW_FILE)\n")
    for args in (["usage", "--db", str(db)], ["ingest", str(sample_dir()), "--db", str(db)],
                 ["keys", str(sample_dir()), "--db", str(db), "--format", "json"]):
        result = CliRunner().invoke(cli, args, catch_exceptions=False)
        assert (result.exit_code, result.stdout, result.stderr) == (2, "", message), args
    for read_only in (True, False):
        with pytest.raises(SchemaVersionError) as e:
            Store(str(db), read_only=read_only)
        assert (e.value.found, e.value.expected) == (found, SCHEMA_VERSION)
    assert (_meta(db), _contents(db)) == before
    duckdb.connect(str(db)).close()  # refused stores are not left locked


@pytest.mark.parametrize(("make", "message"), [
    (lambda p: p.write_text('{"Records": []}'), "not a keytrail store (not a DuckDB database file)"),
    (lambda p: p.write_bytes(b"\x00" * 5000), "not a keytrail store (not a DuckDB database file)"),
    (lambda p: duckdb.connect(str(p)).execute("CREATE TABLE t (a INT)").close(), "a DuckDB database, but not a keytrail store"),
])
def test_a_file_that_is_not_a_store_is_refused_and_left_alone(tmp_path: Path, make: Any, message: str) -> None:
    from keytrail.sources.sample import sample_dir

    db = tmp_path / "not-a-store.json"
    make(db)
    os.utime(db, (time.time() - 60, time.time() - 60))  # not a store being created right now
    before = db.read_bytes()
    for args in (["usage", "--db", str(db)], ["ingest", str(sample_dir()), "--db", str(db)]):
        result = CliRunner().invoke(cli, args, catch_exceptions=False)
        assert result.exit_code == 2 and result.stdout == ""
        assert result.stderr.startswith(f"keytrail: error: {db}: {message}"), result.stderr
    assert db.read_bytes() == before


def test_a_truncated_store_is_refused(small_store: Path, tmp_path: Path) -> None:
    db = tmp_path / "cut.duckdb"
    data = small_store.read_bytes()
    db.write_bytes(data[: len(data) // 2])
    os.utime(db, (time.time() - 60, time.time() - 60))
    result = CliRunner().invoke(cli, ["usage", "--db", str(db)], catch_exceptions=False)
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.startswith(f"keytrail: error: {db}: "), result.stderr
