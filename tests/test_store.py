"""The store as files: the DuckDB file and its segments directory, moved, copied, compacted,
upgraded from schema version 1, private to their owner, and tidied after a killed writer."""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from keytrail.cli.main import cli
from keytrail.normalize.model import KEY_USE_FIELDS
from keytrail.sources.local import LocalSource
from keytrail.sources.sample import sample_dir
from keytrail.store import SCHEMA_VERSION, Store


def _ingest(db: Path, *paths: str) -> None:
    result = CliRunner().invoke(cli, ["ingest", *(paths or (str(sample_dir()),)), "--db", str(db), "-q", "--workers", "1"])
    assert result.exit_code == 0, result.output


def _usage(db: Path) -> object:
    result = CliRunner().invoke(cli, ["usage", "--db", str(db), "--format", "json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _plain_client_rows(db: Path) -> int:
    """What any DuckDB client sees (not keytrail), opened from another working directory."""
    here = os.getcwd()
    os.chdir("/")
    try:
        con = duckdb.connect(str(db), read_only=True)
        try:
            row = con.execute("SELECT count(*) FROM key_use").fetchone()
            return int(row[0]) if row else 0
        finally:
            con.close()
    finally:
        os.chdir(here)


def test_a_store_is_a_file_and_its_segments_directory(tmp_path: Path) -> None:
    db = tmp_path / "trail.duckdb"
    _ingest(db)
    segments = tmp_path / "trail.duckdb.segments"
    assert segments.is_dir() and any(p.suffix == ".parquet" for p in segments.iterdir())
    assert _plain_client_rows(db) > 0


def test_a_moved_store_is_read_where_it_now_is(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    _ingest(a / "trail.duckdb")
    want = _usage(a / "trail.duckdb")
    shutil.move(str(a), str(b))  # the file and its segments directory together
    assert _usage(b / "trail.duckdb") == want  # keytrail points the views at the new place ...
    assert _plain_client_rows(b / "trail.duckdb") > 0  # ... in the file, for every client


def test_a_copied_store_is_independent_of_its_original(tmp_path: Path) -> None:
    orig = tmp_path / "orig.duckdb"
    _ingest(orig)
    copy = tmp_path / "copy" / "trail.duckdb"
    copy.parent.mkdir()
    shutil.copy(orig, copy)
    shutil.copytree(f"{orig}.segments", f"{copy}.segments")
    want = _usage(orig)
    assert _usage(copy) == want
    shutil.rmtree(f"{orig}.segments")  # the copy no longer reads the original's segments
    assert _usage(copy) == want


def test_a_store_without_its_segments_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "trail.duckdb"
    _ingest(db)
    moved = tmp_path / "elsewhere.duckdb"
    shutil.move(str(db), str(moved))  # the file alone
    result = CliRunner().invoke(cli, ["usage", "--db", str(moved)])
    assert result.exit_code == 2
    assert "segments directory" in result.stderr and "move or copy both" in result.stderr


def test_store_files_are_private(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        db = tmp_path / "trail.duckdb"
        _ingest(db)
    finally:
        os.umask(old)
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    segments = Path(f"{db}.segments")
    assert stat.S_IMODE(segments.stat().st_mode) == 0o700
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in segments.iterdir())


def test_segments_left_by_a_killed_writer_are_removed(tmp_path: Path) -> None:
    db = tmp_path / "trail.duckdb"
    _ingest(db)
    segments = Path(f"{db}.segments")
    kept = sorted(p.name for p in segments.iterdir())
    (segments / "seg-0000000000000000.parquet").write_bytes(b"half a segment")
    (segments / "seg-1111111111111111.parquet.tmp").write_bytes(b"half a segment")
    (segments / "notes.txt").write_text("not ours")
    with Store(str(db)):
        pass
    assert sorted(p.name for p in segments.iterdir()) == sorted([*kept, "notes.txt"])


def test_small_segments_are_merged_with_the_same_answer(tmp_path: Path) -> None:
    db = tmp_path / "trail.duckdb"
    files = sorted(p for p in Path(sample_dir()).rglob("*.json*") if p.is_file())
    with Store(str(db)) as store:
        from keytrail.pipeline import ingest

        for f in files:  # one segment per ingest
            ingest([LocalSource((str(f),))], store, workers=1)
        before = sorted(store.query("SELECT * FROM key_use"), key=repr)
        n = len(store.segment_names())
        assert n > 1
        assert store.compact(most=1, target_rows=10**9) == n
        store.resolve()
        assert len(store.segment_names()) == 1
        assert sorted(store.query("SELECT * FROM key_use"), key=repr) == before
        assert store.query("SELECT DISTINCT segment FROM files WHERE segment IS NOT NULL") == [(store.segment_names()[0],)]
        registered = [*store.segment_names(), *store.segment_names("resolved")]
    # the merged rows, and the resolved rows (each ingest's resolution wrote those of its groups)
    assert sorted(p.name for p in Path(f"{db}.segments").iterdir()) == sorted(registered)


ROLLUP_TABLES = ("rollup_days", "rollup_details", "rollup_refs", "rollup_created")


def _resolved_state(store: Store) -> dict[str, list[tuple[object, ...]]]:
    """Every table a resolution writes, as sorted rows (``key_use`` included)."""
    tables = ("key_use", "resolution", *ROLLUP_TABLES)
    return {t: sorted(store.query(f"SELECT * FROM {t}"), key=repr) for t in tables}  # noqa: S608 - constants


def test_resolution_in_buckets_gives_the_one_query_answer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Beyond DECIDE_BUCKET_ROWS candidates the group rules run in two passes over hash buckets
    (stage A by eventID, stage B by sharedEventID), and beyond WRITE_BUCKET_ROWS resolved rows
    they are written as several segments: the same rows, decisions and rollups as one query,
    and the archive's truth (re-deliveries, aliases, cross-account copies, hidden callers)."""
    from keytrail.pipeline import ingest
    from keytrail.store import resolution
    from tests.factory.archive import write_archive
    from tests.factory.truth import assert_matches_truth

    truth = write_archive(tmp_path / "a", events=3000, seed=97, org=True, external=1, accounts=3)
    one, many = tmp_path / "one.duckdb", tmp_path / "many.duckdb"
    with Store(str(one)) as store:
        ingest([LocalSource((str(tmp_path / "a"),))], store, workers=1)
        expected = _resolved_state(store)
        candidates = len(expected["resolution"])
    assert candidates > 200
    monkeypatch.setattr(resolution, "DECIDE_BUCKET_ROWS", candidates // 7)
    monkeypatch.setattr(resolution, "WRITE_BUCKET_ROWS", candidates // 5)
    with Store(str(many)) as store:
        ingest([LocalSource((str(tmp_path / "a"),))], store, workers=1)
        assert len(store.segment_names("resolved")) >= 4
        assert _resolved_state(store) == expected
    assert_matches_truth(_usage(many), truth)


def _whole_resolutions(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The stores (their paths) a whole resolution runs on from now on, one entry a resolution."""
    from keytrail.store.resolution import Resolution

    whole: list[str] = []
    resolve_all = Resolution._resolve_all

    def counted(self: Resolution) -> None:
        whole.append(self.path)
        resolve_all(self)

    monkeypatch.setattr(Resolution, "_resolve_all", counted)
    return whole


def _ingest_both(a: Store, b: Store, paths: tuple[str, ...]) -> None:
    """``paths`` ingested into ``a`` (its resolution decides what they touch) and into ``b`` (a
    whole resolution): every table a resolution writes is the same."""
    from keytrail.pipeline import ingest

    ingest([LocalSource(paths)], a, workers=1)
    b.con.execute("DELETE FROM meta WHERE key = 'resolved_upto'")  # a whole resolution
    ingest([LocalSource(paths)], b, workers=1)
    assert _resolved_state(a) == _resolved_state(b)


@pytest.mark.parametrize("seed", [97, 5])
def test_a_resolution_of_new_files_gives_the_whole_answer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int) -> None:
    """An ingest re-decides only the groups its files touch (re-deliveries and cross-account
    copies split between ingests, alias changes and identities learned after the calls that need
    them): after every ingest of an archive read in four shuffled parts, the same rows,
    decisions and rollups as a whole resolution of the same store, and the archive's truth."""
    import random

    from tests.factory.archive import write_archive
    from tests.factory.truth import assert_matches_truth

    truth = write_archive(tmp_path / "a", events=3000, seed=seed, org=True, external=1, accounts=3)
    files = sorted(str(p) for p in (tmp_path / "a" / "AWSLogs").rglob("*.json.gz") if "CloudTrail" in p.parts)
    random.Random(seed).shuffle(files)
    parts = [files[i::4] for i in range(4)]
    whole = _whole_resolutions(monkeypatch)
    new, full = tmp_path / "new.duckdb", tmp_path / "full.duckdb"
    with Store(str(new)) as a, Store(str(full)) as b:
        for part in parts:
            _ingest_both(a, b, tuple(part))
        assert whole.count(str(new)) == 1 and whole.count(str(full)) == 4
        assert a.query("SELECT count(*) FROM identity_changes") == [(0,)]
    assert_matches_truth(_usage(new), truth)


@pytest.mark.parametrize("bound", [None, 3, 1])
def test_a_resolution_of_new_files_follows_groups_and_identities_across_ingests(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bound: int | None
) -> None:
    """The groups a new file touches are closed over eventIDs and sharedEventIDs (a record that
    repeats an earlier eventID under another sharedEventID brings that sharedEventID's copies),
    and a hidden caller's unique id shown with its identity in a later file names the earlier
    call's caller: each ingest gives what a whole resolution gives. Past ``DECIDE_BUCKET_ROWS``
    rows (``bound``) in the new files or the touched groups, the whole resolution runs instead."""
    from keytrail.store import resolution
    from tests.factory import (
        KEY_A,
        KEY_B,
        OTHER,
        alias_event,
        hidden,
        hidden_copy,
        kms,
        other,
        role,
        user,
        without,
        write_log,
    )

    caller = role("app", account=OTHER)
    shown = user("builder", "999988887777", uid="AIDABUILDERXXXXXXXXX")
    # a failed ReEncrypt without an eventID, from KEY_A to an alias whose history a later file brings
    # (to KEY_A: one denied call on one key, decided over both rows of the record)
    reencrypt = without(kms("ReEncrypt", user("ops"), KEY_A, {"sourceKeyId": KEY_A, "destinationKeyId": "alias/later"},
                            time="2026-10-01T12:05:00Z", errorCode="AccessDenied"), "eventID")
    files = [
        [kms("Decrypt", caller, KEY_A, eid="e-caller", sharedEventID="s-1", recipient=OTHER),
         kms("Decrypt", hidden_copy(caller), KEY_A, eid="e-owner", sharedEventID="s-1"),
         kms("Encrypt", hidden(shown["principalId"], shown["accountId"]), KEY_B, eid="e-hidden"), reencrypt],
        [kms("Decrypt", hidden_copy(caller), KEY_A, eid="e-owner", sharedEventID="s-2"),
         other("s3.amazonaws.com", "ListBuckets", shown, account="999988887777"),
         alias_event("CreateAlias", "alias/later", KEY_A, "2026-10-01T11:00:00Z")],
        [kms("Decrypt", caller, KEY_A, eid="e-caller", sharedEventID="s-1", recipient=OTHER)],
    ]
    whole = _whole_resolutions(monkeypatch)
    if bound is not None:
        monkeypatch.setattr(resolution, "DECIDE_BUCKET_ROWS", bound)
    new, full = tmp_path / "new.duckdb", tmp_path / "full.duckdb"
    with Store(str(new)) as a, Store(str(full)) as b:

        for n, records in enumerate(files):
            _ingest_both(a, b, (str(write_log(tmp_path / "logs", f"f{n}.json", records)),))
        assert whole.count(str(new)) == {None: 1, 1: 3}.get(bound, whole.count(str(new)))
        assert a.query("SELECT principal FROM key_use WHERE event_id = 'e-hidden'") == [(shown["arn"],)]
        assert a.query("SELECT key, category FROM key_use WHERE event_name = 'ReEncrypt'") == [(KEY_A, "denied")]


def _downgrade_to_v1(db: Path) -> None:
    """A store as schema version 1 wrote it: every row in the table raw_key_use, no segments."""
    con = duckdb.connect(str(db))
    fields = ", ".join(KEY_USE_FIELDS)
    con.execute(f"CREATE TABLE v1 AS SELECT file_id, rec_index, {fields}, key, who, category, false AS dup FROM raw_key_use")  # noqa: S608
    con.execute("DROP VIEW key_use")
    con.execute("DROP VIEW raw_key_use")
    con.execute("ALTER TABLE v1 RENAME TO raw_key_use")
    con.execute("DROP TABLE segments")
    con.execute("DROP TABLE resolution")
    con.execute("ALTER TABLE files DROP COLUMN segment")
    con.execute("ALTER TABLE files DROP COLUMN verified")
    con.execute("ALTER TABLE record_problems DROP COLUMN event_id")
    con.execute("ALTER TABLE record_problems DROP COLUMN event_name")
    con.execute("DROP TABLE identity_changes")
    con.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    con.execute("DELETE FROM meta WHERE key IN ('segments_dir', 'resolved_upto')")
    con.close()
    shutil.rmtree(f"{db}.segments")


@pytest.mark.parametrize("first", ["usage", "ingest"])
def test_a_version_1_store_is_upgraded_in_place(tmp_path: Path, first: str) -> None:
    db = tmp_path / "old.duckdb"
    _ingest(db)
    want = _usage(db)
    _downgrade_to_v1(db)
    if first == "ingest":  # nothing new to read: the ledger is kept
        result = CliRunner().invoke(cli, ["ingest", str(sample_dir()), "--db", str(db)])
        assert result.exit_code == 0 and "0 records in 0 files" in result.stderr, result.stderr
    assert _usage(db) == want
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == (str(SCHEMA_VERSION),)
    con.close()


def test_a_version_4_store_is_upgraded_and_resolved_whole_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Version 4 had no ``identity_changes`` and did not note what it had resolved: opening adds the
    table, and the next ingest resolves every row once (then only what later files touch)."""
    from tests.factory import KEY_A, kms, user, write_log

    db = tmp_path / "v4.duckdb"
    _ingest(db)
    want = _usage(db)
    con = duckdb.connect(str(db))  # as version 4 left it
    con.execute("DROP TABLE identity_changes")
    con.execute("DELETE FROM meta WHERE key = 'resolved_upto'")
    con.execute("UPDATE meta SET value = '4' WHERE key = 'schema_version'")
    con.close()
    assert _usage(db) == want  # opened read-only by a report: upgraded all the same
    whole = _whole_resolutions(monkeypatch)
    for n in range(2):
        _ingest(db, str(write_log(tmp_path / "logs", f"f{n}.json", [kms("Decrypt", user(f"late{n}"), KEY_A)])))
    assert len(whole) == 1
    with Store(str(db), read_only=True) as store:
        assert store.get_meta("schema_version") == str(SCHEMA_VERSION)
        assert store.query("SELECT count(*) FROM key_use WHERE principal LIKE '%user/late%'") == [(2,)]


def test_a_version_2_store_gains_the_problems_event_columns(tmp_path: Path) -> None:
    """Version 2 kept no eventID / eventName with the records it could not count; opening adds
    the columns (empty for what was recorded before) and later ingests fill them."""
    db = tmp_path / "v2.duckdb"
    _ingest(db)
    want = _usage(db)
    con = duckdb.connect(str(db))  # record_problems as version 2 had it
    con.execute("CREATE TABLE p2 AS SELECT file_id, rec_index, kind, message FROM record_problems")
    con.execute("DROP TABLE record_problems")
    con.execute("ALTER TABLE p2 RENAME TO record_problems")
    con.execute("INSERT INTO record_problems VALUES (1, 7, 'unattributed', 'Decrypt: older message')")
    con.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    con.close()
    assert _usage(db) == want  # opened read-only by a report: upgraded all the same
    with Store(str(db), read_only=True) as store:
        assert store.query("SELECT rec_index, kind, message, event_id, event_name FROM record_problems") == [
            (7, "unattributed", "Decrypt: older message", None, None)
        ]
        assert store.get_meta("schema_version") == str(SCHEMA_VERSION)
