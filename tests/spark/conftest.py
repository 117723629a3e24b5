"""Spark fixtures: one local[2] session for every Spark test, one archive, one job run.

Tests that need Spark are marked ``@pytest.mark.spark`` (``-m 'not spark'`` leaves them out) and
skip with a message where pyspark or Java is absent.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.factory.archive import write_archive

SPARK_CONF = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.shuffle.partitions": "4",
    "spark.default.parallelism": "2",
    "spark.sql.adaptive.enabled": "true",
}

BROKEN_GZIP = "2026/10/02/000000000000_CloudTrail_broken.json.gz"
BAD_RECORD = "2026/10/02/000000000000_CloudTrail_badrecord.json"


def spark_missing() -> str | None:
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "pyspark is not installed (pip install 'keytrail[spark]')"
    if not (shutil.which("java") or os.environ.get("JAVA_HOME")):
        return "no Java runtime (java on PATH or JAVA_HOME): Spark needs Java 17 or later"
    return None


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    reason = spark_missing()
    if reason:
        pytest.skip(reason)
    from keytrail.spark.session import spark_session

    session = spark_session("local[2]", SPARK_CONF, app_name="keytrail tests")
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def trail(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An organisation trail with known answers over three days, 2026-10-01 to 03 (two accounts in the
    archive, one outside it; tests/factory/archive.py), plus a truncated gzip file and a file with one rejected
    record."""
    out = tmp_path_factory.mktemp("spark-archive") / "trail"
    write_archive(out, events=4000, seed=11, org=True, external=1, accounts=3, regions=1, per_file=3, plain_every=5)
    region_dir = next(out.glob("AWSLogs/o-*/*/CloudTrail/*"))
    broken = region_dir / BROKEN_GZIP
    broken.write_bytes(gzip.compress(b'{"Records": []}' * 50)[:40])
    bad = {"eventSource": "kms.amazonaws.com", "eventName": "Decrypt", "eventTime": "yesterday", "userIdentity": {}}
    (region_dir / BAD_RECORD).write_text(json.dumps({"Records": [bad]}))
    return out


@dataclass
class Local:
    """The local engine's answer for the archive."""

    db: Path
    report: Any


@pytest.fixture(scope="session")
def local(trail: Path, tmp_path_factory: pytest.TempPathFactory) -> Local:
    from keytrail import LocalSource, Store, ingest

    db = tmp_path_factory.mktemp("spark-local") / "local.duckdb"
    with Store(str(db)) as store:
        report = ingest([LocalSource((str(trail),))], store, workers=1)
    return Local(db, report)


@dataclass
class Dataset:
    path: Path
    result: Any


@pytest.fixture(scope="session")
def dataset(spark: Any, trail: Path, tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    """The Spark job's dataset for the archive (shared: tests that change a dataset copy it)."""
    from keytrail.spark.job import JobOptions, run

    path = tmp_path_factory.mktemp("spark-out") / "dataset"
    return Dataset(path, run(spark, JobOptions((str(trail),), str(path))))
