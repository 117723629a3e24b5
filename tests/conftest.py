"""Shared fixtures, and the rule for tests that read ../shared.

Tests that read ../shared (the published corpus, gen_trail.py and check_truth.py: conformance with
the shared tools) carry the ``shared`` mark (``pytest -m shared`` runs just them, ``-m "not
shared"`` everything else) and call ``need_shared`` for the paths they read. Where ../shared is
absent they skip with a message -- and fail under CI (``CI=true``), where it must be checked out
beside the repository. Every other test makes its data with code: records with ``tests.factory``,
archives with known answers with ``tests.factory.archive``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.factory.archive import write_archive

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
GEN_TRAIL = SHARED / "tools" / "gen_trail.py"
CHECK_TRUTH = SHARED / "tools" / "check_truth.py"
CORPUS = SHARED / "corpus"


def need_shared(path: Path) -> Path:
    """``path`` (below ../shared), or a skip where it is absent -- a failure under CI (CI=true)."""
    if not path.exists():
        message = f"{path} is absent: this test needs the shared corpus/tools checked out beside the repository"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message} (CI=true: a missing ../shared fails the run instead of skipping)", pytrace=False)
        pytest.skip(message)
    return path


def pytest_runtest_setup(item: pytest.Item) -> None:
    """A test marked ``shared`` skips where ../shared is absent (fails under CI), before its fixtures run."""
    if item.get_closest_marker("shared") is not None:
        need_shared(SHARED)


def gen_trail(out: Path, *args: str) -> dict[str, object]:
    """Run ../shared/tools/gen_trail.py into ``out``; returns truth.json. For conformance with the shared
    generator only: tests make their archives with ``tests.factory.archive.write_archive``."""
    need_shared(GEN_TRAIL)
    subprocess.run([sys.executable, str(GEN_TRAIL), str(out), *args], check=True, capture_output=True)
    return json.loads((out / "truth.json").read_text())  # type: ignore[no-any-return]


@pytest.fixture(autouse=True)
def _english_and_utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test starts in English and UTC, whatever the machine's locale and zone (tests that want
    another set them); the process-wide language and zone are reset after it."""
    from datetime import UTC

    from keytrail import i18n

    for name in ("LC_ALL", "LC_MESSAGES", "LANGUAGE", "TZ"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LANG", "C.UTF-8")
    yield
    i18n.use("en")
    i18n.use_zone(UTC, "UTC")


@pytest.fixture(scope="session")
def small_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small archive with known answers (tests/factory/archive.py), shared by tests: an organisation trail of
    three accounts (one outside the archive) and two Regions, plain log files among gzipped ones."""
    out = tmp_path_factory.mktemp("archive") / "trail"
    write_archive(out, events=6000, seed=5, org=True, plain_every=7, external=1, accounts=3)
    return out


@pytest.fixture
def store() -> Iterator[object]:
    from keytrail.store import Store

    with Store() as s:
        yield s
