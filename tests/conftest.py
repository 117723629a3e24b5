"""Shared fixtures. Tests that read ../shared (corpus, generator) skip with a message where it is absent."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
GEN_TRAIL = SHARED / "tools" / "gen_trail.py"
CHECK_TRUTH = SHARED / "tools" / "check_truth.py"
CORPUS = SHARED / "corpus"


def need_shared(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path} is absent: this test needs the shared corpus/tools checked out beside the repository")
    return path


def gen_trail(out: Path, *args: str) -> dict[str, object]:
    """Run ../shared/tools/gen_trail.py into ``out``; returns truth.json."""
    need_shared(GEN_TRAIL)
    subprocess.run([sys.executable, str(GEN_TRAIL), str(out), *args], check=True, capture_output=True)
    return json.loads((out / "truth.json").read_text())  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def small_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small gen_trail archive (org layout, plain files, one external account), shared by tests."""
    out = tmp_path_factory.mktemp("archive") / "trail"
    gen_trail(out, "--events", "6000", "--seed", "5", "--org", "--plain-every", "7", "--external-accounts", "1",
              "--accounts", "3")
    return out


@pytest.fixture
def store() -> Iterator[object]:
    from keytrail.store import Store

    with Store() as s:
        yield s
