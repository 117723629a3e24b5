"""The store: a DuckDB database file, with the key-use rows in Parquet segments beside it.

``--db trail.duckdb`` names the store. It is the DuckDB file ``trail.duckdb`` and the directory
``trail.duckdb.segments/`` of Parquet segments that ingest workers write (``store.segments``).
The database holds the file ledger, alias history, identity map, credentials, record problems,
the inventory, the segment registry and the resolution of the rows that need other records; its
views ``raw_key_use`` and ``key_use`` read the registered segments by absolute path, so any DuckDB
client that opens the file sees them.

Writes are transactional: a chunk's ledger entries, side tables and segment registration commit
together or not at all, so a killed ingest leaves the ledger consistent with the rows and a re-run
reads exactly the files that are missing. A segment is visible only once registered; files in the
segments directory that no committed registration names (left by a killed ingest) are removed by
the next writer. Resolution (``Store.resolve``) runs after the chunks; until it has run the
``meta.needs_resolve`` flag stays set and the next writer resolves first.

Moving a store: move the file and its segments directory together; the first keytrail command
that opens it in the new place points the views there (README, "The store").

A Parquet dataset written by the Spark job is read through the same class: ``open_dataset(DIR)``
(``Store(dataset=DIR)``) is an in-memory store whose tables are views over the dataset
(``store.dataset``); every report runs on it unchanged.

Modules: ``connection`` (DuckDB, transactions), ``segment_tables`` (segments, views, chunks,
compaction, resolution), ``tables`` (tables and typed rows), ``segments`` (writing segments),
``migrate`` (older schema versions), ``dataset`` (the Parquet dataset), ``inventory_tables``.
"""

from __future__ import annotations

import os
import shutil
from contextlib import suppress
from dataclasses import dataclass

import duckdb

from keytrail.errors import COPY_EXAMPLE, SchemaVersionError, StoreError, StoreNotFound, UsageError, said
from keytrail.i18n import _
from keytrail.store.connection import MEMORY, connect
from keytrail.store.dataset import attach_dataset
from keytrail.store.migrate import FROM_VERSIONS, migrate
from keytrail.store.resolution import Resolution
from keytrail.store.segments import SEGMENT_SUFFIX
from keytrail.store.tables import SCHEMA, SCHEMA_VERSION


def stores_like(path: str) -> list[str]:
    """Stores beside ``path`` whose names are like its name (a typo's likely meaning)."""
    import difflib

    folder, name = os.path.split(path)
    try:
        names = [n for n in os.listdir(folder or ".") if os.path.isdir(os.path.join(folder or ".", n + ".segments"))]
    except OSError:
        return []
    stems = {os.path.splitext(n)[0]: n for n in names}  # compared without the extension they share
    close = difflib.get_close_matches(os.path.splitext(name)[0], list(stems), n=3, cutoff=0.6)
    return [os.path.join(folder, stems[c]) for c in close]


@dataclass(frozen=True)
class LedgerEntry:
    uri: str
    size: int
    version: str
    status: str


class Store(Resolution):
    """A keytrail store: ``Store(path)`` on disk, ``Store()`` in memory (its segments in a
    temporary directory removed on close), ``Store(dataset=DIR)`` over a Parquet dataset written by
    the Spark job (read only)."""

    def __init__(self, path: str | None = None, read_only: bool = False, *, dataset: str | None = None,
                 create: bool = True, named: str | None = None) -> None:
        """``create``: make the store when there is none at ``path`` (a read-only store is never
        made); else ``StoreNotFound``, which shows it as ``named`` (default: the path)."""
        if dataset is not None:
            if path is not None:
                raise UsageError(_("a store is a DuckDB file or a Parquet dataset, not both"))
            if "://" not in dataset and not os.path.isdir(dataset):
                raise StoreError(_("{path}: no such directory (expected a dataset written by keytrail spark-ingest)")
                                 .format(path=dataset))
        elif path and path != MEMORY and (read_only or not create) and not os.path.exists(path):
            raise StoreNotFound(path, stores_like(path), named)
        read_only = read_only and path != MEMORY  # an in-memory store (":memory:") is a new, empty one
        super().__init__(path, read_only and dataset is None)
        try:
            self._prepare()
            if dataset is not None:
                attach_dataset(self.con, dataset)
        except duckdb.Error as e:  # a damaged file (truncated, overwritten) fails at its first read
            self._close()
            raise StoreError(_("{path}: cannot read store: {error}").format(path=self.path, error=e)) from e
        except BaseException:
            self._close()  # a refused store is not held open (nor locked)
            raise
        if dataset is not None:
            self.read_only = True  # the dataset's views are never written to
            self.segmented = False

    def _connect(self, read_only: bool) -> duckdb.DuckDBPyConnection:
        return connect(self.path, read_only, None if self.path == MEMORY else os.path.join(self.segments_dir, ".spill"))

    # ---- schema --------------------------------------------------------------------------
    def _prepare(self) -> None:
        tables = {r[0] for r in self.con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        if "meta" in tables:
            row = self.con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            found = int(row[0]) if row and str(row[0]).isdigit() else 0  # edited or damaged: refused too
            if found in FROM_VERSIONS:
                self._upgrade(found)
            elif found != SCHEMA_VERSION:
                raise SchemaVersionError(self.path, found, SCHEMA_VERSION)
            self._check_place()
        elif tables:
            raise StoreError(_("{path}: a DuckDB database, but not a keytrail store").format(path=self.path))
        elif self.read_only:
            raise StoreError(_("{path}: empty database, not a keytrail store").format(path=self.path))
        else:
            os.makedirs(self.segments_dir, mode=0o700, exist_ok=True)
            with self.transaction():
                self.con.execute(SCHEMA)
                self.con.execute("INSERT INTO meta VALUES ('schema_version', ?)", [str(SCHEMA_VERSION)])
                self.write_views()
        if not self.read_only:
            self._remove_strays()

    def _upgrade(self, found: int) -> None:
        """A store of an earlier schema version, upgraded in place (``store.migrate``) -- also when
        opened for reading: the upgrade needs the file writable once."""
        if self.read_only:
            self.con.close()
            try:
                self.con = self._connect(read_only=False)
            except StoreError as e:
                raise StoreError(*said(
                    _("{path}: written by an earlier keytrail (schema version {found}) and cannot be upgraded here "
                      "({error}); copy it where you may write and open the copy{example}"),
                    path=self.path, found=found, error=e, example=COPY_EXAMPLE,
                )) from e
        migrate(self, found)
        if self.read_only:
            self.con.close()
            self.con = self._connect(read_only=True)

    def _check_place(self) -> None:
        """Point the views at the segments directory where it is now (a store moved or copied with
        its directory): in the file when it may be written, else for this connection only."""
        if self.get_meta("segments_dir") == self.segments_dir:
            return
        if not os.path.isdir(self.segments_dir) and self.segment_names():
            raise StoreError(
                _("{path}: its segments directory {directory} is missing; a store is the file and that directory "
                  "together (move or copy both)").format(path=self.path, directory=self.segments_dir)
            )
        if self.read_only:
            self.con.close()
            try:  # pointed in the file, for every DuckDB client, when it may be written now
                self.con = self._connect(read_only=False)
            except StoreError:
                self.con = self._connect(read_only=True)
                self.write_views(temp=True)  # for this connection only
                return
            with self.transaction():
                self.write_views()
            self.con.close()
            self.con = self._connect(read_only=True)
        else:
            with self.transaction():
                self.write_views()

    def _remove_strays(self) -> None:
        """Segment files no committed registration names: left by a killed ingest or compaction."""
        if not os.path.isdir(self.segments_dir):
            return
        known = {r[0] for r in self.con.execute("SELECT name FROM segments").fetchall()}
        for name in os.listdir(self.segments_dir):
            if name.startswith("seg-") and name not in known and (name.endswith(SEGMENT_SUFFIX) or name.endswith(".tmp")):
                with suppress(OSError):
                    os.unlink(os.path.join(self.segments_dir, name))
            elif name.startswith(".resolve-") or name == ".spill":  # a resolution's work files, DuckDB's spill
                shutil.rmtree(os.path.join(self.segments_dir, name), ignore_errors=True)

    # ---- ledger --------------------------------------------------------------------------
    def ledger(self) -> dict[str, LedgerEntry]:
        rows = self.con.execute("SELECT uri, size, version, status FROM files").fetchall()
        return {r[0]: LedgerEntry(r[0], r[1] or 0, r[2] or "", r[3]) for r in rows}

    def next_file_id(self) -> int:
        row = self.con.execute("SELECT coalesce(max(file_id), 0) + 1 FROM files").fetchone()
        return int(row[0]) if row else 1

    def begin_ingest(self, sources: str) -> int:
        row = self.con.execute("SELECT coalesce(max(ingest_id), 0) + 1 FROM ingests").fetchone()
        ingest_id = int(row[0]) if row else 1
        self.con.execute("INSERT INTO ingests VALUES (?, now(), NULL, ?)", [ingest_id, sources])
        return ingest_id

    def finish_ingest(self, ingest_id: int) -> None:
        self.con.execute("UPDATE ingests SET finished = now() WHERE ingest_id = ?", [ingest_id])


def open_dataset(path: str) -> Store:
    """A read-only store over the Parquet dataset at ``path`` (a directory, or a URL DuckDB reads)."""
    return Store(dataset=path)


__all__ = ["LedgerEntry", "Store", "open_dataset"]
