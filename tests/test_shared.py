"""need_shared: a test that reads ../shared (the corpus, the shared tools) skips where it is absent --
and fails under CI (CI=true), where a missing ../shared must not pass unnoticed as skips."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, need_shared

_TEST = '''
from pathlib import Path

from tests.conftest import need_shared


def test_reads_the_corpus():
    need_shared(Path("/nonexistent/shared/corpus"))
'''


@pytest.mark.parametrize("ci", [None, "false", "1", ""])
def test_absent_is_a_skip_outside_ci(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, ci: str | None) -> None:
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    with pytest.raises(pytest.skip.Exception, match="absent: this test needs the shared corpus/tools"):
        need_shared(tmp_path / "shared")


def test_absent_is_a_failure_under_ci(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=r"absent: .* \(CI=true: a missing \.\./shared fails the run"):
        need_shared(tmp_path / "shared")


@pytest.mark.parametrize("ci", ["true", ""])
def test_present_is_returned(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, ci: str) -> None:
    monkeypatch.setenv("CI", ci)
    assert need_shared(tmp_path) == tmp_path


# a test file of its own, whose conftest takes the hook of tests/conftest.py with ../shared elsewhere
_CONFTEST = '''
from pathlib import Path

import tests.conftest

tests.conftest.SHARED = Path("/nonexistent/shared")
from tests.conftest import pytest_runtest_setup  # noqa: E402,F401
'''

_MARKED = '''
import pytest


@pytest.fixture
def corpus():
    raise AssertionError("a fixture of a test that cannot run must not be set up")


@pytest.mark.shared
def test_reads_the_corpus(corpus):
    pass


def test_needs_nothing():
    pass
'''


def _session(tmp_path: Path, ci: str, test: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "conftest.py").write_text(_CONFTEST)
    (tmp_path / "test_needs_shared.py").write_text(test)
    env = {**os.environ, "CI": ci, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)])}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-rfs", "-p", "no:cacheprovider", "-W",
                           "ignore::pytest.PytestUnknownMarkWarning", "test_needs_shared.py"],
                          capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)


@pytest.mark.parametrize(("ci", "outcome"), [("true", "1 failed"), ("", "1 skipped")])
def test_a_session_reports_it(tmp_path: Path, ci: str, outcome: str) -> None:
    """In a pytest run of its own: FAILED with the message under CI, SKIPPED with it elsewhere."""
    run = _session(tmp_path, ci, _TEST)
    assert run.returncode == (1 if ci == "true" else 0), run.stdout + run.stderr
    assert outcome in run.stdout.splitlines()[-1]
    assert "/nonexistent/shared/corpus is absent: this test needs the shared corpus/tools" in run.stdout
    assert ("CI=true: a missing ../shared fails the run" in run.stdout) == (ci == "true")


@pytest.mark.parametrize(("ci", "outcome"), [("true", "1 passed, 1 error"), ("", "1 passed, 1 skipped")])
def test_the_shared_mark_skips_or_fails_before_fixtures(tmp_path: Path, ci: str, outcome: str) -> None:
    """The hook: a test marked ``shared`` does not run (nor set up its fixtures) without ../shared -- an
    error at setup under CI, which fails the run; the others run."""
    run = _session(tmp_path, ci, _MARKED)
    assert run.returncode == (1 if ci == "true" else 0), run.stdout + run.stderr
    assert outcome in run.stdout.splitlines()[-1], run.stdout
    assert "/nonexistent/shared is absent: this test needs the shared corpus/tools" in run.stdout
    assert "must not be set up" not in run.stdout
    assert ("CI=true: a missing ../shared fails the run" in run.stdout) == (ci == "true")
