"""The Spark job against the local engine and the truth, on one small organisation trail with known
answers (tests/factory/archive.py)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from keytrail.cli.main import cli
from keytrail.store import KEY_USE_COLUMNS, Store
from keytrail.store import open_dataset as open_parquet
from tests.factory.archive import load_truth
from tests.factory.truth import assert_matches_truth
from tests.spark.conftest import BAD_RECORD, BROKEN_GZIP, Dataset, Local

pytestmark = pytest.mark.spark

COMPARED = [c for c in KEY_USE_COLUMNS if c not in ("file_id", "rec_index")]
ROWS = f"SELECT {', '.join(COMPARED)} FROM key_use ORDER BY event_id, key, category, {', '.join(COMPARED)}"  # noqa: S608


def rows(store: Store) -> list[tuple[Any, ...]]:
    return store.query(ROWS)


def listing(root: Path) -> dict[str, tuple[int, int]]:
    """Every file below root: relative path -> (size, mtime_ns)."""
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file():
            st = p.stat()
            out[str(p.relative_to(root))] = (st.st_size, st.st_mtime_ns)
    return out


def test_rows_equal_the_local_engine(dataset: Dataset, local: Local) -> None:
    with Store(str(local.db), read_only=True) as mine, open_parquet(str(dataset.path)) as theirs:
        want, got = rows(mine), rows(theirs)
        assert len(got) == len(want) > 1000
        assert got == want
        history = "SELECT alias_arn, event_time, target_key, event_id, event_name, source FROM alias_history ORDER BY ALL"
        assert theirs.query(history) == mine.query(history)
        ids = "SELECT DISTINCT unique_id, arn FROM identity_map ORDER BY ALL"
        assert theirs.query(ids) == mine.query(ids)
        creds = "SELECT * EXCLUDE (file_id, rec_index) FROM credentials ORDER BY ALL"
        assert theirs.query(creds) == mine.query(creds)
        # the archive exercises every rule: hidden callers, aliases, copies, re-deliveries, denials
        kinds = theirs.query(
            "SELECT count(*) FILTER (WHERE principal_type = 'AWSAccount'), count(*) FILTER (WHERE key_ref LIKE '%:alias/%'),"
            " count(*) FILTER (WHERE shared_event_id IS NOT NULL), count(*) FILTER (WHERE category = 'denied')"
            " FROM key_use"
        )[0]
        assert all(n > 0 for n in kinds), kinds


def test_the_report_counts_what_the_local_engine_counts(dataset: Dataset, local: Local) -> None:
    got, want = dataset.result.report, local.report
    for name in ("files_seen", "files_ingested", "files_skipped", "files_error", "records", "kms_records", "rows",
                 "records_rejected", "records_unattributed", "skip_reasons"):
        assert getattr(got, name) == getattr(want, name), name
    assert got.partial
    assert [e for e in got.errors if e.endswith(BROKEN_GZIP.rsplit("/", 1)[1] + ": truncated gzip (compressed stream ends early)")]
    assert len(got.record_problems) == 1 and BAD_RECORD.rsplit("/", 1)[1] in got.record_problems[0]
    assert "record 0: eventTime is missing or not ISO-8601" in got.record_problems[0]


def test_usage_from_parquet_matches_truth(dataset: Dataset, trail: Path) -> None:
    result = CliRunner().invoke(cli, ["usage", "--parquet", str(dataset.path), "--format", "json"])
    assert result.exit_code == 0, result.output
    assert_matches_truth(result.stdout, trail / "truth.json")


@pytest.mark.parametrize(
    "args",
    [["usage"], ["who-uses", "alias/app-data"], ["keys"], ["principals", "--since", "2026-10-02"],
     ["usage", "--key", "alias/orders", "--account", "{first account}"], ["findings"],
     ["who-uses", "--by", "person", "alias/app-data"]],
    ids=["usage", "who-uses", "keys", "principals", "usage-filtered", "findings", "who-uses-by-person"],
)
def test_reports_from_parquet_equal_reports_from_the_store(dataset: Dataset, local: Local, trail: Path,
                                                          args: list[str]) -> None:
    """The same reports from both; "{first account}" is the archive's first account (its truth's).

    ``--by person`` rows are compared in any order: rows of one key and person found on different
    evidence (alice calling, and alice behind a role's sessions) have no defined order between them."""
    first = load_truth(trail)["accounts"][0]
    args = [a.replace("{first account}", first) for a in args]
    runner = CliRunner()
    want = runner.invoke(cli, [*args, "--db", str(local.db), "--format", "json"])
    got = runner.invoke(cli, [*args, "--parquet", str(dataset.path), "--format", "json"])
    assert want.exit_code == 0, want.output
    assert got.exit_code == 0, got.output
    mine, theirs = json.loads(want.stdout), json.loads(got.stdout)
    if "person" in args:
        mine, theirs = (sorted(rows, key=lambda r: json.dumps(r, sort_keys=True)) for rows in (mine, theirs))
    assert theirs == mine
    assert theirs


def test_html_report_from_parquet(dataset: Dataset, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    result = CliRunner().invoke(cli, ["report", "--parquet", str(dataset.path), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text().startswith("<!DOCTYPE html>")


def test_the_dataset_layout_and_schema(dataset: Dataset) -> None:
    import duckdb

    root = dataset.path
    dates = sorted(p.name for p in root.glob("date=*"))
    assert dates == ["date=2026-10-01", "date=2026-10-02", "date=2026-10-03"]
    accounts = {p.name for p in root.glob("date=*/account=*")}
    assert accounts and all(len(a) == len("account=") + 12 and a[8:].isdigit() for a in accounts)
    assert dataset.result.partitions == len(list(root.glob("date=*/account=*")))
    assert not list(root.glob("_staging-*")) and not (root / "_keytrail" / "commit.json").exists()
    manifest = json.loads((root / "_keytrail" / "dataset" / "manifest.json").read_text())
    assert manifest["format"] == "keytrail-parquet" and manifest["partitioning"] == ["date", "account"]
    assert list(manifest["columns"]) == [*KEY_USE_COLUMNS, "date", "account"]
    schema = duckdb.sql(
        "DESCRIBE SELECT * FROM read_parquet(?, hive_partitioning = false)",
        params=[str(root / "date=*" / "account=*" / "*.parquet")],
    ).fetchall()
    types = {r[0]: r[1] for r in schema}
    assert list(types) == list(KEY_USE_COLUMNS)
    assert types["event_time"] == "TIMESTAMP" and types["key_resolved"] == "BOOLEAN"
    assert types["file_id"] == types["rec_index"] == "BIGINT" and types["encryption_context"] == "VARCHAR"
    # each partition holds its own date and key account
    assert duckdb.sql(
        "SELECT count(*) FROM read_parquet(?, hive_partitioning = true, hive_types = {'date': VARCHAR, 'account': VARCHAR})"
        " WHERE strftime(event_time, '%Y-%m-%d') <> date OR key_account <> account",
        params=[str(root / "date=*" / "account=*" / "*.parquet")],
    ).fetchall() == [(0,)]
    with open_parquet(str(root)) as store:
        # file ids name their files in the dataset's ledger
        assert store.query("SELECT count(*) FROM key_use ANTI JOIN files USING (file_id)") == [(0,)]
        assert dataset.result.rows_written == store.query("SELECT count(*) FROM key_use")[0][0]


def test_incremental_run_rewrites_only_the_window(spark: Any, dataset: Dataset, trail: Path, tmp_path: Path) -> None:
    copy = tmp_path / "dataset"
    shutil.copytree(dataset.path, copy)
    before = listing(copy)
    result = CliRunner().invoke(
        cli,
        ["spark-ingest", str(trail), "-o", str(copy), "--since", "2026-10-02", "--until", "2026-10-03", "--master", "local[2]"],
    )
    assert result.exit_code == 3, result.output  # the archive's broken file is named; the rest is written
    assert "truncated gzip" in result.stderr
    assert "(dates 2026-10-02)" in result.stderr
    after = listing(copy)
    outside = {k: v for k, v in before.items() if k.startswith(("date=2026-10-01/", "date=2026-10-03/"))}
    assert outside and {k: v for k, v in after.items() if k in outside} == outside
    assert len([k for k in after if k.startswith(("date=2026-10-01/", "date=2026-10-03/"))]) == len(outside)
    inside_before = {k for k in before if k.startswith("date=2026-10-02/")}
    inside_after = {k for k in after if k.startswith("date=2026-10-02/")}
    assert inside_after and not inside_before & inside_after  # new files
    with open_parquet(str(copy)) as new, open_parquet(str(dataset.path)) as full:
        assert rows(new) == rows(full)
        # the window's alias references resolved through changes made before the window
        assert new.query(
            "SELECT count(*) FROM key_use WHERE key_resolved AND key_ref LIKE '%:alias/%'"
            " AND event_time >= '2026-10-02' AND event_time < '2026-10-03'"
        )[0][0] > 0
        assert new.query("SELECT min(to_timestamp(event_time)) < TIMESTAMPTZ '2026-10-02 00:00:00+00' FROM alias_history") == [(True,)]


def test_a_failed_write_leaves_the_dataset_unchanged(
    spark: Any, dataset: Dataset, trail: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pyspark.sql import functions as F

    from keytrail.spark import job

    copy = tmp_path / "dataset"
    shutil.copytree(dataset.path, copy)
    before = listing(copy)
    real = job.write_key_use

    def fail_in_one_partition(rows: Any, path: str) -> None:
        # an executor fails while the other partitions are being written
        boom = F.udf(lambda day: int("not a number") if day == "2026-10-02" else day, "string", useArrow=False)
        real(rows.withColumn("date", boom(F.col("date"))), path)

    monkeypatch.setattr(job, "write_key_use", fail_in_one_partition)
    with pytest.raises(Exception, match="not a number"):
        job.run(spark, job.JobOptions((str(trail),), str(copy)))
    assert listing(copy) == before
    with open_parquet(str(copy)) as same, open_parquet(str(dataset.path)) as full:
        assert rows(same) == rows(full)


def test_an_interrupted_commit_is_refused_then_finished(
    spark: Any, dataset: Dataset, trail: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from keytrail.errors import StoreError
    from keytrail.spark import commit, job

    out = tmp_path / "dataset"
    real_swap = commit._swap
    calls = []

    def crash_on_second(fs: Any, new: str, final: str, old: str) -> None:
        calls.append(final)
        if len(calls) == 2:
            raise OSError("the driver died here")
        real_swap(fs, new, final, old)

    monkeypatch.setattr(commit, "_swap", crash_on_second)
    with pytest.raises(OSError, match="driver died"):
        job.run(spark, job.JobOptions((str(trail),), str(out)))
    monkeypatch.setattr(commit, "_swap", real_swap)
    assert (out / "_keytrail" / "commit.json").exists() and list(out.glob("date=*"))
    with pytest.raises(StoreError, match="interrupted"):
        open_parquet(str(out))
    result = CliRunner().invoke(cli, ["usage", "--parquet", str(out)])
    assert result.exit_code == 2 and "spark-ingest -o" in result.stderr

    finished = CliRunner().invoke(cli, ["spark-ingest", "-o", str(out)])
    assert finished.exit_code == 0, finished.output
    assert "finished an interrupted commit" in finished.stderr
    assert not (out / "_keytrail" / "commit.json").exists() and not list(out.glob("_staging-*"))
    with open_parquet(str(out)) as done, open_parquet(str(dataset.path)) as full:
        assert rows(done) == rows(full)


def test_missing_input_stops_before_writing(spark: Any, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["spark-ingest", str(tmp_path / "nowhere"), "-o", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "nowhere: no such file or directory" in result.stderr
    assert not (tmp_path / "out").exists() or not os.listdir(tmp_path / "out")


def test_strict_writes_nothing_on_partial_input(spark: Any, tmp_path: Path) -> None:
    src = tmp_path / "logs"
    src.mkdir()
    (src / "broken.json.gz").write_bytes(b"\x1f\x8b\x08\x00garbage")
    result = CliRunner().invoke(cli, ["spark-ingest", str(src), "-o", str(tmp_path / "out"), "--strict"])
    assert result.exit_code == 3, result.output
    assert "--strict: 1 input problem(s)" in result.stderr
    assert not list((tmp_path / "out").glob("*"))


def test_files_past_the_size_limit_are_named_and_the_rest_read(spark: Any, tmp_path: Path) -> None:
    """A gzip bomb and a plain file over --max-file-bytes: named (exit 3), the good file read; a
    plain file over the limit is not even read by Spark (its content is not selected)."""
    import gzip

    src = tmp_path / "logs"
    src.mkdir()
    good = {"eventVersion": "1.08", "eventSource": "kms.amazonaws.com", "eventName": "Decrypt",
            "eventTime": "2026-10-01T00:00:00Z", "awsRegion": "us-east-1", "eventID": "e1",
            "recipientAccountId": "111122223333",
            "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/u", "accountId": "111122223333"},
            "requestParameters": {"keyId": "arn:aws:kms:us-east-1:111122223333:key/k"}}  # fmt: skip
    (src / "good.json").write_text(json.dumps({"Records": [good]}))
    (src / "bomb.json.gz").write_bytes(gzip.compress(b'{"Records":[' + b" " * (3 << 20) + b"]}"))
    (src / "large.json").write_bytes(b'{"Records":[' + b" " * (3 << 20) + b"]}")
    result = CliRunner().invoke(cli, ["spark-ingest", str(src), "-o", str(tmp_path / "out"), "--max-file-bytes", "1M"])
    assert result.exit_code == 3, result.output
    assert f"file:{src / 'bomb.json.gz'}: inflates to more than 1 MiB, the per-file limit" in result.stderr
    assert f"file:{src / 'large.json'}: is larger than 1 MiB, the per-file limit" in result.stderr
    assert "1 record in 1 file (1 KMS call, 1 key-use row); 2 files unreadable" in result.stderr
