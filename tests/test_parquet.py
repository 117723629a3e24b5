"""A store over a Parquet dataset: views with the store's columns, refusals with clear messages.

The datasets here are written by DuckDB in the layout spark-ingest writes (tests/spark runs the
real job)."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from keytrail.analysis import usage
from keytrail.errors import StoreError
from keytrail.spark.commit import FORMAT, FORMAT_VERSION
from keytrail.store import KEY_USE_COLUMNS
from keytrail.store import open_dataset as open_parquet

KEY = "arn:aws:kms:us-east-1:111122223333:key/1111aaaa-1111-4111-8111-111111111111"
ROLE = "arn:aws:iam::111122223333:role/App"


def write_dataset(root: Path, version: int = FORMAT_VERSION, drop: str | None = None) -> Path:
    """Two calls on one key in one partition; ``drop`` leaves a column out (an older writer)."""
    part = root / "date=2026-10-01" / "account=111122223333"
    part.mkdir(parents=True)
    values = {c: "NULL::VARCHAR" for c in KEY_USE_COLUMNS}
    values.update(
        key=f"'{KEY}'", key_resolved="true", key_account="'111122223333'", key_region="'us-east-1'",
        principal=f"'{ROLE}'", principal_type="'AssumedRole'", op="'decrypt'", event_name="'Decrypt'",
        event_time="TIMESTAMP '2026-10-01 12:00:00' + to_seconds(i)", event_id="'e' || i", file_id="42::BIGINT",
        rec_index="i::BIGINT", category="CASE WHEN i = 0 THEN 'decrypt' ELSE 'denied' END",
    )
    columns = [c for c in KEY_USE_COLUMNS if c != drop]
    select = ", ".join(f"{values[c]} AS {c}" for c in columns)
    con = duckdb.connect()
    con.execute(f"COPY (SELECT {select} FROM range(2) t(i)) TO '{part / 'part-0.parquet'}' (FORMAT parquet)")  # noqa: S608
    meta = root / "_keytrail" / "dataset"
    (meta / "alias_history").mkdir(parents=True)
    con.execute(
        f"COPY (SELECT 'arn:aws:kms:us-east-1:111122223333:alias/app' AS alias_arn, 1790856000::BIGINT AS event_time, "
        f"'{KEY}' AS target_key, 'a1' AS event_id, 'CreateAlias' AS event_name, 'trail' AS source, 42::BIGINT AS file_id, "
        f"7::BIGINT AS rec_index) TO '{meta / 'alias_history' / 'part-0.parquet'}' (FORMAT parquet)"  # noqa: S608
    )
    (meta / "manifest.json").write_text(json.dumps({"format": FORMAT, "version": version}))
    return root


def test_reports_read_the_dataset(tmp_path: Path) -> None:
    root = write_dataset(tmp_path / "ds")
    with open_parquet(str(root)) as store:
        assert store.read_only
        (row,) = usage(store)
        assert (row.key, row.principal, row.decrypt, row.denied) == (KEY, ROLE, 1, 1)
        assert row.first_seen == "2026-10-01T12:00:00Z" and row.last_seen == "2026-10-01T12:00:01Z"
        kinds = dict(store.query("SELECT table_name, table_type FROM information_schema.tables"))
        assert kinds["key_use"] == "VIEW" and kinds["alias_history"] == "VIEW"
        assert kinds["identity_map"] == "BASE TABLE"  # not in the dataset: the store's empty table
        assert store.query("SELECT target_key FROM alias_history") == [(KEY,)]
        columns = [r[0] for r in store.query("DESCRIBE key_use")]
        assert columns == list(KEY_USE_COLUMNS)


def test_a_column_the_dataset_lacks_reads_as_null(tmp_path: Path) -> None:
    root = write_dataset(tmp_path / "ds", drop="vpc_endpoint")
    with open_parquet(str(root)) as store:
        assert store.query("SELECT DISTINCT vpc_endpoint FROM key_use") == [(None,)]


def test_an_empty_dataset_has_no_rows(tmp_path: Path) -> None:
    meta = tmp_path / "_keytrail" / "dataset"
    meta.mkdir(parents=True)
    (meta / "manifest.json").write_text(json.dumps({"format": FORMAT, "version": FORMAT_VERSION}))
    with open_parquet(str(tmp_path)) as store:
        assert usage(store) == []


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("missing", "no such directory"),
        ("no-manifest", "not a keytrail Parquet dataset"),
        ("not-json", "not valid JSON"),
        ("other-format", "not a keytrail dataset manifest"),
        ("newer", "dataset format version 99"),
        ("pending", "commit was interrupted"),
    ],
)
def test_what_is_refused(tmp_path: Path, setup: str, message: str) -> None:
    root = tmp_path / "ds"
    if setup != "missing":
        write_dataset(root, version=99 if setup == "newer" else FORMAT_VERSION)
    manifest = root / "_keytrail" / "dataset" / "manifest.json"
    if setup == "no-manifest":
        manifest.unlink()
    elif setup == "not-json":
        manifest.write_text("{")
    elif setup == "other-format":
        manifest.write_text(json.dumps({"format": "something else"}))
    elif setup == "pending":
        (root / "_keytrail" / "commit.json").write_text("{}")
    with pytest.raises(StoreError, match=message):
        open_parquet(str(root))
