"""Local files and directories (recursive), and standard input (``-``)."""

from __future__ import annotations

import os
import re
import stat
import sys
from collections.abc import Iterator
from dataclasses import dataclass

from keytrail.errors import SourceReadError
from keytrail.sources import FileRef

# Files found in directories: .json/.jsonl/.ndjson, optionally gzipped (names may carry a suffix
# such as "@COMMIT" after the extension), and Parquet (Security Lake's OCSF files, *.gz.parquet).
# Files named explicitly are read whatever their name.
_CANDIDATE = re.compile(r"\.(json|jsonl|ndjson)(\.gz)?($|@)|\.parquet$", re.IGNORECASE)
_NON_LOG_DIRS = {"CloudTrail-Digest": "CloudTrail digest file", "CloudTrail-Insight": "CloudTrail Insights file"}


def is_log_name(name: str) -> bool:
    """Whether a file found in a directory may hold CloudTrail logs: .json/.jsonl/.ndjson, optionally
    gzipped, or .parquet (files named explicitly are read whatever their name)."""
    return _CANDIDATE.search(name) is not None


def non_log_reason(path: str) -> str | None:
    """Why a file under CloudTrail's layout is not a log file (digests, Insights), or None."""
    for part in path.split(os.sep):
        reason = _NON_LOG_DIRS.get(part)
        if reason:
            return reason
    return None


@dataclass(frozen=True)
class LocalSource:
    """Paths to files or directories; ``-`` reads standard input once."""

    paths: tuple[str, ...]

    @property
    def description(self) -> str:
        return ", ".join(self.paths)

    def files(self) -> Iterator[FileRef]:
        seen: set[tuple[int, int]] = set()
        for p in self.paths:
            if p == "-":
                yield FileRef("-", version="stdin", data=sys.stdin.buffer.read())
                continue
            yield from self._walk(os.path.abspath(p), seen)

    def _walk(self, path: str, seen: set[tuple[int, int]]) -> Iterator[FileRef]:
        try:
            st = os.stat(path)
        except FileNotFoundError:
            yield FileRef(path, error="no such file or directory")
            return
        except OSError as e:
            yield FileRef(path, error=f"cannot stat: {e.strerror or e}")
            return
        if stat.S_ISDIR(st.st_mode):
            ident = (st.st_dev, st.st_ino)
            if ident in seen:
                return  # a symlink loop or the same directory twice
            seen.add(ident)
            try:
                entries = sorted(os.scandir(path), key=lambda e: e.name)
            except OSError as e:
                yield FileRef(path, error=f"cannot list directory: {e.strerror or e}")
                return
            for entry in entries:
                child = entry.path
                try:
                    is_dir = entry.is_dir()
                except OSError:
                    is_dir = False
                if is_dir:
                    yield from self._walk(child, seen)
                elif is_log_name(entry.name):
                    yield from self._walk(child, seen)
            return
        if not stat.S_ISREG(st.st_mode):
            yield FileRef(path, error="not a regular file (FIFO, socket or device): not read")
            return
        ident = (st.st_dev, st.st_ino)
        if ident in seen:
            return  # the same file again (named twice, linked, or also under a directory given): read once
        seen.add(ident)
        reason = non_log_reason(path)
        yield FileRef(path, size=st.st_size, version=str(st.st_mtime_ns), skip_reason=reason)

    def read(self, ref: FileRef) -> bytes:
        if ref.data is not None:
            return ref.data
        try:
            with open(ref.uri, "rb") as f:
                return f.read()
        except OSError as e:
            raise SourceReadError(ref.uri, f"cannot read: {e.strerror or e}") from e
