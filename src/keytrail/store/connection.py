"""Opening a store's DuckDB database: its configuration, its lock, its privacy, and the operations
every store has (transactions, metadata, queries).

``Database`` is the base of ``Store`` (``store.database``): a connection, a path, the directory of
segments beside it, and transactions that remove the segment files they unregistered once they
commit.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, suppress
from typing import Any, Self

import duckdb

from keytrail.errors import STORE, StoreBusyError, StoreError, said
from keytrail.i18n import _

MEMORY = ":memory:"
SEGMENTS_SUFFIX = ".segments"


def _duckdb_config(spill: str | None = None) -> dict[str, str | bool | int | float | list[str]]:
    """DuckDB's memory is capped so that ingest stays flat whatever the archive's size
    (``KEYTRAIL_MEMORY_LIMIT``, default 128MB; DuckDB spills to disk beyond it, into ``spill``:
    inside the store's private segments directory)."""
    config: dict[str, str | bool | int | float | list[str]] = {
        "memory_limit": os.environ.get("KEYTRAIL_MEMORY_LIMIT", "128MB"),
        "preserve_insertion_order": "false",
    }
    if spill is not None:
        config["temp_directory"] = spill
    return config


WORK_MEMORY = os.environ.get("KEYTRAIL_RESOLVE_MEMORY", "224MB")
"""DuckDB's memory while the store rewrites itself with no ingest worker running (resolving,
merging segments, upgrading): Parquet writes hold a row group per thread, which does not spill."""

_OPEN_TRIES = 20  # 50 ms apart


def _just_created(path: str) -> bool:
    """Whether ``path`` was written in the last two seconds (another process may be creating it)."""
    if path == MEMORY:
        return False
    try:
        return time.time() - os.stat(path).st_mtime < 2.0
    except OSError:
        return False


def _duckdb_file_or_new(path: str) -> bool:
    """Whether ``path`` is absent, empty, or a DuckDB database file (its magic bytes)."""
    try:
        with open(path, "rb") as f:
            head = f.read(12)
    except FileNotFoundError:
        return True
    except OSError:
        return True  # a directory, no permission, ...: DuckDB's own error says it
    return not head or head[8:12] == b"DUCK"


@contextmanager
def private_files() -> Iterator[None]:
    """Files created meanwhile (DuckDB's database file and write-ahead log) readable by their owner
    only: a store holds encryption contexts, access key ids and source IPs. The umask is the
    process's, so this is used only around DuckDB calls that may create files."""
    old = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(old)


def sql_text(value: str) -> str:
    """A value (a file path) as a SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def connect(path: str, read_only: bool, spill: str | None = None) -> duckdb.DuckDBPyConnection:
    """DuckDB's connection to ``path``. A store file another process is creating at this very
    moment (its header half written) is tried again until that process holds its lock: busy, not
    damaged."""
    for attempt in range(_OPEN_TRIES):
        retry = attempt < _OPEN_TRIES - 1 and _just_created(path)
        if path != MEMORY and not _duckdb_file_or_new(path):
            if retry:
                time.sleep(0.05)
                continue
            # checked before DuckDB sees it (it reads some other files, e.g. JSON, as databases)
            raise StoreError(*said(_("{path}: not a keytrail store (not a DuckDB database file); give {store} a new file "
                                     "name"), path=path, store=STORE))
        try:
            with private_files():
                return duckdb.connect(path, read_only=read_only, config=_duckdb_config(spill))
        except duckdb.IOException as e:
            if "lock" in str(e).lower():
                raise StoreBusyError(path) from e
            if retry:
                time.sleep(0.05)
                continue
            raise StoreError(_("{path}: cannot open store: {error}").format(path=path, error=e)) from e
        except duckdb.Error as e:
            raise StoreError(_("{path}: not a keytrail store ({error})").format(path=path, error=e)) from e
    raise StoreError(_("{path}: cannot open store").format(path=path))


class Database:
    """A store's DuckDB connection: ``Database(path)`` on disk, ``Database()`` in memory (its segments
    in a temporary directory removed on close)."""

    def __init__(self, path: str | None = None, read_only: bool = False) -> None:
        self.path = path or MEMORY
        self.read_only = read_only
        self._tmpdir: tempfile.TemporaryDirectory[str] | None = None
        if self.path == MEMORY:
            self._tmpdir = tempfile.TemporaryDirectory(prefix="keytrail-store-")
            self.segments_dir = self._tmpdir.name
        else:
            self.segments_dir = os.path.abspath(self.path) + SEGMENTS_SUFFIX
        self._garbage: list[str] = []  # segment files to remove once the transaction commits
        self.con = connect(self.path, read_only, None if self.path == MEMORY else os.path.join(self.segments_dir, ".spill"))

    def _close(self) -> None:
        with suppress(duckdb.Error):
            self.con.close()
        if self._tmpdir is not None:
            self._tmpdir.cleanup()
            self._tmpdir = None

    def close(self) -> None:
        self._close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- meta ----------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        row = self.con.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self.con.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", [key, value])

    @contextmanager
    def _setting(self, name: str, value: str) -> Iterator[None]:
        """DuckDB's setting ``name`` (a keytrail constant) set to ``value`` for the block, then back
        to what it was."""
        before = self.con.execute("SELECT current_setting(?)", [name]).fetchone()
        self.con.execute(f"SET {name} = '{value}'")
        try:
            yield
        finally:
            if before:
                self.con.execute(f"SET {name} = '{before[0]}'")

    def working_memory(self) -> AbstractContextManager[None]:
        """DuckDB's memory set to ``WORK_MEMORY`` for the block, then back to what it was."""
        return self._setting("memory_limit", WORK_MEMORY)

    def one_writer(self) -> AbstractContextManager[None]:
        """DuckDB on one thread for the block: its Parquet writes (``COPY ... TO``) with several
        threads cost three to four times the CPU and hold a row group per thread (measured in
        docs/engine.md, "Writing Parquet")."""
        return self._setting("threads", "1")

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """BEGIN ... COMMIT, or ROLLBACK when the block raises (a crash leaves no trace either).
        Segment files the transaction unregistered are removed once it has committed."""
        self.con.execute("BEGIN")
        try:
            yield
        except BaseException:
            self.con.execute("ROLLBACK")
            self._garbage = []
            raise
        with private_files():  # the commit may create DuckDB's write-ahead log
            self.con.execute("COMMIT")
        garbage, self._garbage = self._garbage, []
        for name in garbage:
            with suppress(OSError):
                os.unlink(os.path.join(self.segments_dir, name))

    def segment_names(self, kind: str = "rows") -> list[str]:
        """Registered segments: the rows as written (``rows``) or as resolved (``resolved``)."""
        return [r[0] for r in self.con.execute("SELECT name FROM segments WHERE kind = ? ORDER BY name", [kind]).fetchall()]

    def segment_path(self, name: str) -> str:
        return os.path.join(self.segments_dir, name)

    def query(self, sql: str, params: Sequence[object] | None = None) -> list[tuple[Any, ...]]:
        return self.con.execute(sql, params or []).fetchall()
