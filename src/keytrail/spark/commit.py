"""Committing a Spark job's output into a partitioned Parquet dataset so readers never see half of it.

Layout of a dataset directory::

    DIR/date=YYYY-MM-DD/account=ACCOUNT/part-*.parquet   the resolved key_use rows
    DIR/_keytrail/dataset/                                manifest.json and the history tables
    DIR/_keytrail/commit.json                             only while a commit is in progress
    DIR/_staging-ID/                                      only while a job runs

A job writes everything under ``_staging-ID`` (names starting with ``_`` are ignored by Spark,
Athena and keytrail's reader). A failed job leaves only that directory, which the next job
removes: the dataset is unchanged. On success the commit

1. writes the journal ``_keytrail/commit.json``: which date partitions to replace or drop, and the
   staging directory they come from (one small file, written atomically);
2. moves each replaced ``date=`` directory aside and the new one into place, then the history;
3. deletes the staging directory (the replaced data) and then the journal.

Every step can be repeated, so a commit interrupted in step 2 is finished by the next job (or
``keytrail spark-ingest -o DIR`` without sources); until then keytrail refuses to read the
dataset (``keytrail.store.dataset``) instead of reporting a mix of old and new partitions.

The file-system operations go through ``FileSystem``: ``LocalFileSystem`` here, a Hadoop
FileSystem (s3a://, hdfs://, file:) in ``keytrail.spark.job``.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from keytrail.errors import StoreError
from keytrail.i18n import _
from keytrail.store.dataset import DATASET_DIR, FORMAT, FORMAT_VERSION, JOURNAL, META_DIR, STAGING_PREFIX

__all__ = ["DATASET_DIR", "FORMAT", "FORMAT_VERSION", "JOURNAL", "META_DIR", "STAGING_PREFIX"]


class FileSystem(Protocol):
    """The few operations a commit needs; paths are strings joined with ``/``."""

    def exists(self, path: str) -> bool: ...

    def list_names(self, path: str) -> list[str]:
        """Names of the entries of directory ``path`` ([] when it does not exist)."""
        ...

    def rename(self, src: str, dst: str) -> None:
        """Move ``src`` to ``dst``, which does not exist; its parent is created."""
        ...

    def delete(self, path: str) -> None:
        """Remove a file or a directory tree; nothing when it does not exist."""
        ...

    def write_text(self, path: str, text: str) -> None:
        """Write a small file atomically (readers see the old content or the new, never a part)."""
        ...

    def read_text(self, path: str) -> str | None: ...


class LocalFileSystem:
    """``FileSystem`` over local paths."""

    def exists(self, path: str) -> bool:
        return os.path.exists(path)

    def list_names(self, path: str) -> list[str]:
        try:
            return sorted(os.listdir(path))
        except FileNotFoundError:
            return []

    def rename(self, src: str, dst: str) -> None:
        os.makedirs(os.path.dirname(dst) or ".", exist_ok=True)
        os.rename(src, dst)

    def delete(self, path: str) -> None:
        import shutil

        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        elif os.path.lexists(path):
            os.remove(path)

    def write_text(self, path: str, text: str) -> None:
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        tmp = f"{path}.tmp-{uuid.uuid4().hex}"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)

    def read_text(self, path: str) -> str | None:
        try:
            with open(path, encoding="utf-8") as f:
                return f.read()
        except FileNotFoundError:
            return None


def join(*parts: str) -> str:
    return "/".join(p.rstrip("/") if i == 0 else p.strip("/") for i, p in enumerate(parts))


def new_staging_name() -> str:
    return f"{STAGING_PREFIX}{uuid.uuid4().hex[:12]}"


def date_dirs(fs: FileSystem, path: str) -> list[str]:
    """The dates of the ``date=YYYY-MM-DD`` directories under ``path``."""
    return sorted(n[5:] for n in fs.list_names(path) if n.startswith("date=") and is_date(n[5:]))


def is_date(value: str) -> bool:
    return len(value) == 10 and value[4] == "-" and value[7] == "-" and (value[:4] + value[5:7] + value[8:]).isdigit()


@dataclass(frozen=True)
class Window:
    """Which dates a job rewrites: ``since`` inclusive, ``until`` exclusive (None: open)."""

    since: str | None = None
    until: str | None = None

    def __contains__(self, day: str) -> bool:
        return (self.since is None or day >= self.since) and (self.until is None or day < self.until)

    @property
    def everything(self) -> bool:
        return self.since is None and self.until is None


def plan(fs: FileSystem, output: str, staging: str, window: Window) -> dict[str, object]:
    """The journal of a commit: dates with new rows are replaced; dates in the window without
    new rows are dropped (the input no longer has rows there); dates outside it are untouched."""
    new = set(date_dirs(fs, join(output, staging, "key_use")))
    old = set(date_dirs(fs, output))
    replace = sorted(d for d in new if d in window)
    drop = sorted(d for d in old - new if d in window)
    return {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "staging": staging,
        "replace": replace,
        "drop": drop,
    }


def commit(fs: FileSystem, output: str, journal: dict[str, object]) -> None:
    """Write the journal, then apply it (see the module docstring)."""
    fs.write_text(join(output, JOURNAL), json.dumps(journal, indent=1, sort_keys=True))
    finish(fs, output)


def pending(fs: FileSystem, output: str) -> dict[str, object] | None:
    text = fs.read_text(join(output, JOURNAL))
    if text is None:
        return None
    try:
        journal = json.loads(text)
    except ValueError as e:
        raise StoreError(_("{dataset}: unreadable commit journal {journal} ({reason})").format(
            dataset=output, journal=JOURNAL, reason=e)) from e
    if not isinstance(journal, dict) or journal.get("format") != FORMAT:
        raise StoreError(_("{dataset}: {journal} is not a keytrail commit journal").format(dataset=output, journal=JOURNAL))
    return journal


def finish(fs: FileSystem, output: str) -> bool:
    """Apply a pending commit journal (every step can be repeated); True when one was pending."""
    journal = pending(fs, output)
    if journal is None:
        return False
    staging = str(journal["staging"])
    if not staging.startswith(STAGING_PREFIX) or "/" in staging:
        raise StoreError(_("{dataset}: {journal} names an unexpected staging directory").format(
            dataset=output, journal=JOURNAL))
    new_root = join(output, staging, "key_use")
    old_root = join(output, staging, "old")
    for day in _dates(journal.get("replace")):
        _swap(fs, join(new_root, f"date={day}"), join(output, f"date={day}"), join(old_root, f"date={day}"))
    for day in _dates(journal.get("drop")):
        final = join(output, f"date={day}")
        if fs.exists(final):
            fs.rename(final, join(old_root, f"date={day}"))
    _swap(fs, join(output, staging, "dataset"), join(output, DATASET_DIR), join(old_root, "dataset"))
    # the staging directory (now only the replaced data) before the journal: a crash in between
    # leaves a journal whose every step is done, which the next finish just removes
    fs.delete(join(output, staging))
    fs.delete(join(output, JOURNAL))
    return True


def _swap(fs: FileSystem, new: str, final: str, old: str) -> None:
    if not fs.exists(new):
        return  # moved into place already
    if fs.exists(final):
        fs.rename(final, old)
    fs.rename(new, final)


def _dates(value: object) -> Iterable[str]:
    if not isinstance(value, list) or not all(isinstance(d, str) and is_date(d) for d in value):
        raise StoreError(_("{journal}: a malformed list of dates").format(journal=JOURNAL))
    return value


def remove_stale_staging(fs: FileSystem, output: str) -> list[str]:
    """Delete staging directories of jobs that failed (call with no commit pending)."""
    gone = [n for n in fs.list_names(output) if n.startswith(STAGING_PREFIX)]
    for name in gone:
        fs.delete(join(output, name))
    return gone
