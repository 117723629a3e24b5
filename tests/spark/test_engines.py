"""Both engines on the same archives, every key_use row compared: archives with known answers of
several seeds (tests/factory/archive.py: plain and organisation layouts, external accounts, alias churn) and
the real published records of the corpus (../shared). The Spark job runs keytrail's own normaliser and resolver SQL in its tasks; the local
engine the same code over the store: the rows must be identical."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from keytrail import LocalSource, Store, ingest
from keytrail.store import KEY_USE_COLUMNS
from keytrail.store import open_dataset as open_parquet
from tests.conftest import CORPUS, need_shared
from tests.factory.archive import write_archive

pytestmark = pytest.mark.spark

COMPARED = [c for c in KEY_USE_COLUMNS if c not in ("file_id", "rec_index")]
ROWS = f"SELECT {', '.join(COMPARED)} FROM key_use ORDER BY ALL"  # noqa: S608

ARCHIVES: dict[str, dict[str, Any]] = {
    "seed-3": dict(events=3000, seed=3, accounts=2, regions=2, per_file=50),
    "seed-23-org": dict(events=3000, seed=23, org=True, plain_every=7, accounts=4, regions=2, external=1, per_file=50),
    "seed-41-one-account": dict(events=2000, seed=41, accounts=1, regions=2, per_file=40),
}


def _both(spark: Any, source: Path, tmp: Path) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    from keytrail.spark.job import JobOptions, run

    with Store(str(tmp / "local.duckdb")) as store:
        ingest([LocalSource((str(source),))], store, workers=1)
        want = store.query(ROWS)
    run(spark, JobOptions((str(source),), str(tmp / "dataset")))
    with open_parquet(str(tmp / "dataset")) as theirs:
        got = theirs.query(ROWS)
    return want, got


@pytest.mark.parametrize("name", list(ARCHIVES))
def test_generated_archives(spark: Any, tmp_path: Path, name: str) -> None:
    source = tmp_path / "trail"
    write_archive(source, **ARCHIVES[name])
    want, got = _both(spark, source, tmp_path)
    assert len(want) > 500
    assert got == want


@pytest.mark.shared
def test_the_corpus(spark: Any, tmp_path: Path) -> None:
    need_shared(CORPUS)
    source = tmp_path / "corpus"
    shutil.copytree(CORPUS, source)  # Spark skips names starting with '_' or '.': none in the corpus
    want, got = _both(spark, source, tmp_path)
    assert len(want) > 80
    assert got == want
