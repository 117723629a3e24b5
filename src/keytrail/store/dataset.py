"""A Parquet dataset written by the Spark job: its layout, and reading it as a store.

Layout of a dataset directory (written by ``keytrail.spark``; its commit protocol is
``keytrail.spark.commit``)::

    DIR/date=YYYY-MM-DD/account=ACCOUNT/part-*.parquet   the resolved key_use rows
    DIR/_keytrail/dataset/                                manifest.json and the history tables
    DIR/_keytrail/commit.json                             only while a commit is in progress
    DIR/_staging-ID/                                      only while a job runs

``attach_dataset`` turns an in-memory store (``Store(dataset=DIR)``) into one whose ``key_use`` is
a DuckDB view over ``DIR/date=*/account=*/*.parquet`` and whose history tables (alias_history,
identity_map, credentials, files, record_problems) are views over ``DIR/_keytrail/dataset/``;
every report runs on it unchanged. Each view has the store table's columns and types, so a
dataset written before a column was added reads with that column empty. The dataset is never
written to.

A dataset whose last commit was interrupted (``_keytrail/commit.json`` present) is refused until a
Spark run finishes it: readers never see a mix of old and new partitions.
"""

from __future__ import annotations

import json

import duckdb

from keytrail.errors import StoreError, finish_commit, said
from keytrail.i18n import _

META_DIR = "_keytrail"
DATASET_DIR = f"{META_DIR}/dataset"
JOURNAL = f"{META_DIR}/commit.json"
STAGING_PREFIX = "_staging-"
FORMAT = "keytrail-parquet"
FORMAT_VERSION = 1
KEY_USE_GLOB = "date=*/account=*/*.parquet"


def _join(root: str, rel: str) -> str:
    return f"{root.rstrip('/')}/{rel}"


def _files(con: duckdb.DuckDBPyConnection, pattern: str) -> int:
    row = con.execute("SELECT count(*) FROM glob(?)", [pattern]).fetchone()
    return int(row[0]) if row else 0


def attach_dataset(con: duckdb.DuckDBPyConnection, root: str) -> None:
    """The store tables of ``con`` replaced by views over the dataset at ``root``."""
    try:
        if _files(con, _join(root, JOURNAL)):
            raise StoreError(*said(
                _("{path}: its last spark-ingest commit was interrupted; finish it with {remedy} before reading"),
                path=root, remedy=finish_commit(root),
            ))
        manifest_path = _join(root, f"{DATASET_DIR}/manifest.json")
        if not _files(con, manifest_path):
            raise StoreError(_("{path}: not a keytrail Parquet dataset (no {manifest})").format(
                path=root, manifest=f"{DATASET_DIR}/manifest.json"))
        row = con.execute("SELECT content FROM read_text(?)", [manifest_path]).fetchone()
        try:
            manifest = json.loads(row[0]) if row else None
        except ValueError as e:
            raise StoreError(_("{path}: not valid JSON ({error})").format(path=manifest_path, error=e)) from e
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise StoreError(_("{path}: not a keytrail dataset manifest").format(path=manifest_path))
        if manifest.get("version") != FORMAT_VERSION:
            raise StoreError(
                _("{path}: dataset format version {found}, this keytrail reads version {expected}; rewrite it with this "
                  "keytrail's spark-ingest").format(path=root, found=manifest.get("version"), expected=FORMAT_VERSION)
            )
        tables = {"key_use": _join(root, KEY_USE_GLOB)}
        for name in ("alias_history", "identity_map", "credentials", "files", "record_problems"):
            tables[name] = _join(root, f"{DATASET_DIR}/{name}/*.parquet")
        for table, pattern in tables.items():
            if _files(con, pattern):
                _view(con, table, pattern, hive=table == "key_use")
    except duckdb.Error as e:
        raise StoreError(_("{path}: cannot read the Parquet dataset ({error})").format(path=root, error=e)) from e


def _view(con: duckdb.DuckDBPyConnection, table: str, pattern: str, hive: bool) -> None:
    """Replace the (empty) store table by a view over the Parquet files, with the table's columns."""
    variable = f"keytrail_parquet_{table}"
    con.execute(f"SET VARIABLE {variable} = ?", [pattern])
    source = f"read_parquet(getvariable('{variable}'), hive_partitioning = {'true' if hive else 'false'})"
    wanted = con.execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = ? ORDER BY ordinal_position",
        [table],
    ).fetchall()
    have = {r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()}  # noqa: S608
    # column names and types come from keytrail's own schema, never from the data
    select = ", ".join(
        f'CAST("{name}" AS {dtype}) AS "{name}"' if name in have else f'CAST(NULL AS {dtype}) AS "{name}"'
        for name, dtype in wanted
    )
    kind = con.execute("SELECT table_type FROM information_schema.tables WHERE table_name = ?", [table]).fetchone()
    con.execute(f"DROP {'VIEW' if kind and kind[0] == 'VIEW' else 'TABLE'} {table}")
    con.execute(f"CREATE VIEW {table} AS SELECT {select} FROM {source}")  # noqa: S608
