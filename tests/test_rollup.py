"""The store's rollups (``keytrail.store.rollup``): the reports read from them answer exactly as
read from every row -- in any window, after ingests that add files, re-deliveries across
ingests, a file replaced by a changed one, a resolution killed half way, and an upgrade."""

from __future__ import annotations

import gzip
import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner

from keytrail.analysis import Filters, keys_report, principals_report, usage, who_uses
from keytrail.analysis.principal_facts import resource_groups
from keytrail.analysis.usage import as_dicts, usage_counts
from keytrail.cli.main import cli
from keytrail.pipeline import ingest
from keytrail.sources.local import LocalSource
from keytrail.store import SCHEMA_VERSION, Store
from keytrail.store.rollup import ROLLUPS
from tests.factory.archive import log_files, write_archive

ROLLUP_UPTO = "rollup_upto"


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("rollup") / "trail"
    # calls over four days, re-deliveries in later files (often in a later ingest below)
    write_archive(out, events=3000, seed=13, accounts=2, external=1, days=4, redeliver=0.02)
    return out


@contextmanager
def from_rows(store: Store) -> Iterator[None]:
    """The store's reports read from its rows (as when its rollups do not match them)."""
    upto = store.get_meta(ROLLUP_UPTO)
    store.con.execute("DELETE FROM meta WHERE key = ?", [ROLLUP_UPTO])
    try:
        assert not store.rollups_ready()
        yield
    finally:
        if upto is not None:
            store.set_meta(ROLLUP_UPTO, upto)


def _windows(store: Store) -> list[Filters]:
    first, last = store.query("SELECT min(event_time), max(event_time) FROM key_use")[0]
    day = datetime(first.year, first.month, first.day) + timedelta(days=1)
    middle = first + (last - first) / 2
    return [
        Filters(),
        Filters(since=day),  # from a midnight: whole days only
        Filters(since=first + timedelta(hours=5, minutes=7, seconds=3, microseconds=500)),
        Filters(until=middle),
        Filters(since=day + timedelta(hours=3), until=day + timedelta(hours=9)),  # within one day
        Filters(since=day - timedelta(minutes=1), until=day + timedelta(days=2, seconds=1)),
        Filters(since=day, until=day + timedelta(days=1)),
        Filters(since=last + timedelta(days=1)),  # nothing
        Filters(account=store.query("SELECT min(key_account) FROM key_use")[0][0], since=middle),
        Filters(principal="*Role*", until=middle),
        Filters(keys=("alias/app-data",), since=first + timedelta(hours=30)),
    ]


def _answers(store: Store) -> list[Any]:
    out: list[Any] = []
    for f in _windows(store):
        out += [as_dicts(usage(store, f)), as_dicts(usage(store, f, top_per_key=3)), as_dicts(usage(store, f, limit=7)),
                usage_counts(store, f), as_dicts(keys_report(store, f)), as_dicts(principals_report(store, f)),
                as_dicts(principals_report(store, f, top=4))]
        who = Filters(principal=f.principal, since=f.since, until=f.until, account=f.account, region=f.region)
        out += [as_dicts(who_uses(store, "alias/app-data", who)), as_dicts(who_uses(store, "alias/app-data", who, 2)),
                resource_groups(store, "alias/app-data", who)]
    return out


def _rollups(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    return {r.table: sorted(store.query(f"SELECT * FROM {r.table}"), key=repr) for r in ROLLUPS}  # noqa: S608


def _same_as_rows(store: Store) -> None:
    """The reports answer the same from the rollups and from the rows, and the rollups kept up
    ingest by ingest equal rollups made from nothing."""
    assert store.rollups_ready()
    assert store.query("SELECT count(*) FROM rollup_days")[0][0] > 0
    rolled = _answers(store)
    with from_rows(store):
        assert _answers(store) == rolled
    kept = _rollups(store)
    with from_rows(store), store.transaction():
        store.roll_up()
    assert _rollups(store) == kept


def _ingest(store: Store, files: list[Path]) -> None:
    ingest([LocalSource(tuple(str(f) for f in files))], store, workers=1)


def _copies(archive: Path, into: Path) -> list[Path]:
    """The archive's log files copied (to be changed), in delivery order: re-deliveries come later."""
    out = []
    for f in sorted(log_files(archive), key=lambda p: p.name.split("_")[3]):  # ACCOUNT_CloudTrail_REGION_TIME_ID
        copy = into / f.relative_to(archive)
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(f, copy)
        out.append(copy)
    return out


def _halve(log: Path) -> None:
    """The log file without every other KMS call (a file changed since it was read)."""
    zipped = log.suffix == ".gz"
    data = json.loads(gzip.decompress(log.read_bytes()) if zipped else log.read_bytes())
    data["Records"] = [r for i, r in enumerate(data["Records"]) if i % 2 or r.get("eventSource") != "kms.amazonaws.com"]
    text = json.dumps(data).encode()
    log.write_bytes(gzip.compress(text) if zipped else text)


def test_rollups_answer_as_the_rows_do_ingest_after_ingest(tmp_path: Path, archive: Path) -> None:
    files = _copies(archive, tmp_path / "logs")
    thirds = (files[: len(files) // 3], files[len(files) // 3 : 2 * len(files) // 3], files[2 * len(files) // 3 :])
    with Store(str(tmp_path / "trail.duckdb")) as store:
        for part in thirds:
            _ingest(store, part)
            _same_as_rows(store)
        assert store.query("SELECT count(*) FROM resolution WHERE reopened")[0][0] > 0  # re-deliveries across ingests
        changed = max((f for f in thirds[1] if f.suffix == ".gz"), key=lambda f: f.stat().st_size)
        before = store.query("SELECT count(*) FROM key_use")[0][0]
        _halve(changed)
        _ingest(store, [changed])  # its rows replaced: the rollups made again
        assert store.query("SELECT count(*) FROM key_use")[0][0] < before
        _same_as_rows(store)


def test_a_resolution_killed_before_the_rollups_is_finished_by_the_next_writer(
    tmp_path: Path, archive: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = sorted(log_files(archive), key=lambda p: p.name.split("_")[3])
    halves = (files[: len(files) // 2], files[len(files) // 2 :])
    with Store(str(tmp_path / "whole.duckdb")) as store:
        for half in halves:
            _ingest(store, half)
        want = _answers(store)
    db = tmp_path / "trail.duckdb"
    with Store(str(db)) as store:
        _ingest(store, halves[0])

    def killed(self: Store, *args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(Store, "roll_up", killed)
    with Store(str(db)) as store, pytest.raises(KeyboardInterrupt):
        _ingest(store, halves[1])  # killed after the resolution was swapped in, before the rollups
    monkeypatch.undo()
    with Store(str(db), read_only=True) as store:
        assert store.needs_resolve() and not store.rollups_ready()  # reports read the rows meanwhile
    with Store(str(db)) as store:
        _ingest(store, [])  # nothing new: the next writer resolves, and the rollups catch up
        assert _answers(store) == want
        _same_as_rows(store)


def test_a_store_without_rollups_gains_them_when_opened(tmp_path: Path, archive: Path) -> None:
    db = tmp_path / "v3.duckdb"
    with Store(str(db)) as store:
        _ingest(store, sorted(log_files(archive))[:40])
        want = _answers(store)
    con = duckdb.connect(str(db))  # as version 3 wrote it
    for r in ROLLUPS:
        con.execute(f"DROP TABLE {r.table}")
    con.execute("DROP TABLE rollup_stale_keys")
    con.execute("DELETE FROM meta WHERE key = ?", [ROLLUP_UPTO])
    con.execute("UPDATE meta SET value = '3' WHERE key = 'schema_version'")
    con.close()
    result = CliRunner().invoke(cli, ["keys", "--db", str(db), "--format", "json"])  # a report, read-only: upgraded
    assert result.exit_code == 0, result.output
    with Store(str(db), read_only=True) as store:
        assert store.get_meta("schema_version") == str(SCHEMA_VERSION)
        assert store.rollups_ready()
        assert _answers(store) == want
