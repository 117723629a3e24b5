"""Committing a job's output: replaced and dropped dates, a crash at every step, finishing later."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from keytrail.errors import StoreError
from keytrail.spark import commit as cm


def tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*")) if p.is_file()}


def put(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)


OLD = {
    "date=2026-10-01/account=111122223333/part-0.parquet": "old 1",
    "date=2026-10-02/account=111122223333/part-0.parquet": "old 2",
    "date=2026-10-02/account=444455556666/part-0.parquet": "old 2b",
    "date=2026-10-03/account=111122223333/part-0.parquet": "old 3",
    "_keytrail/dataset/manifest.json": "old manifest",
}
STAGED = {
    "key_use/date=2026-10-02/account=111122223333/part-1.parquet": "new 2",
    "key_use/date=2026-10-04/account=111122223333/part-1.parquet": "new 4",
    "dataset/manifest.json": "new manifest",
}


def prepare(root: Path) -> str:
    put(root, OLD)
    staging = cm.new_staging_name()
    put(root / staging, STAGED)
    return staging


@pytest.mark.parametrize(
    ("window", "replace", "drop", "after"),
    [
        (
            cm.Window(),
            ["2026-10-02", "2026-10-04"],
            ["2026-10-01", "2026-10-03"],
            {
                "date=2026-10-02/account=111122223333/part-1.parquet": "new 2",
                "date=2026-10-04/account=111122223333/part-1.parquet": "new 4",
            },
        ),
        (
            cm.Window("2026-10-02", "2026-10-03"),
            ["2026-10-02"],
            [],
            {
                "date=2026-10-01/account=111122223333/part-0.parquet": "old 1",
                "date=2026-10-02/account=111122223333/part-1.parquet": "new 2",
                "date=2026-10-03/account=111122223333/part-0.parquet": "old 3",
            },
        ),
        (
            cm.Window("2026-10-03", None),
            ["2026-10-04"],
            ["2026-10-03"],
            {
                "date=2026-10-01/account=111122223333/part-0.parquet": "old 1",
                "date=2026-10-02/account=111122223333/part-0.parquet": "old 2",
                "date=2026-10-02/account=444455556666/part-0.parquet": "old 2b",
                "date=2026-10-04/account=111122223333/part-1.parquet": "new 4",
            },
        ),
    ],
    ids=["everything", "one-day", "since"],
)
def test_a_commit_replaces_the_window_only(
    tmp_path: Path, window: cm.Window, replace: list[str], drop: list[str], after: dict[str, str]
) -> None:
    fs = cm.LocalFileSystem()
    staging = prepare(tmp_path)
    journal = cm.plan(fs, str(tmp_path), staging, window)
    assert (journal["replace"], journal["drop"]) == (replace, drop)
    cm.commit(fs, str(tmp_path), journal)
    assert tree(tmp_path) == {**after, "_keytrail/dataset/manifest.json": "new manifest"}
    assert not cm.finish(fs, str(tmp_path))


class Crash(Exception):
    pass


class CrashingFileSystem(cm.LocalFileSystem):
    """Dies at the n-th rename or delete."""

    def __init__(self, at: int) -> None:
        self.left = at

    def _step(self) -> None:
        self.left -= 1
        if self.left < 0:
            raise Crash()

    def rename(self, src: str, dst: str) -> None:
        self._step()
        super().rename(src, dst)

    def delete(self, path: str) -> None:
        self._step()
        super().delete(path)


def test_a_commit_interrupted_at_any_step_is_finished_by_the_next_run(tmp_path: Path) -> None:
    want_root = tmp_path / "want"
    staging = prepare(want_root)
    cm.commit(cm.LocalFileSystem(), str(want_root), cm.plan(cm.LocalFileSystem(), str(want_root), staging, cm.Window()))
    want = tree(want_root)
    step = 0
    while True:
        root = tmp_path / f"crash{step}"
        staging = prepare(root)
        journal = cm.plan(cm.LocalFileSystem(), str(root), staging, cm.Window())
        try:
            cm.commit(CrashingFileSystem(step), str(root), journal)
        except Crash:
            assert cm.pending(cm.LocalFileSystem(), str(root)) is not None  # readers refuse the dataset now
            # the next run may crash again before finishing: each retry is safe
            for again in range(step + 1):
                try:
                    cm.finish(CrashingFileSystem(again), str(root))
                    break
                except Crash:
                    continue
            cm.finish(cm.LocalFileSystem(), str(root))
            assert tree(root) == want, f"crash at step {step}"
            step += 1
            continue
        assert tree(root) == want
        break
    assert step > 6


def test_stale_staging_is_removed_and_bad_journals_refused(tmp_path: Path) -> None:
    fs = cm.LocalFileSystem()
    staging = prepare(tmp_path)
    assert cm.remove_stale_staging(fs, str(tmp_path)) == [staging]
    assert not (tmp_path / staging).exists() and (tmp_path / "date=2026-10-01").exists()
    journal = tmp_path / "_keytrail" / "commit.json"
    journal.write_text("{not json")
    with pytest.raises(StoreError, match="unreadable commit journal"):
        cm.finish(fs, str(tmp_path))
    journal.write_text(json.dumps({"format": cm.FORMAT, "staging": "../../etc", "replace": [], "drop": []}))
    with pytest.raises(StoreError, match="unexpected staging directory"):
        cm.finish(fs, str(tmp_path))
    journal.write_text(json.dumps({"format": cm.FORMAT, "staging": "_staging-x", "replace": ["../x"], "drop": []}))
    with pytest.raises(StoreError, match="malformed list of dates"):
        cm.finish(fs, str(tmp_path))
    assert tree(tmp_path)["date=2026-10-01/account=111122223333/part-0.parquet"] == "old 1"


def test_windows_and_dates() -> None:
    w = cm.Window("2026-10-02", "2026-10-04")
    assert [d in w for d in ("2026-10-01", "2026-10-02", "2026-10-03", "2026-10-04")] == [False, True, True, False]
    assert cm.Window().everything and not w.everything
    assert cm.is_date("2026-10-02") and not cm.is_date("2026-1-02") and not cm.is_date("../../../x")
