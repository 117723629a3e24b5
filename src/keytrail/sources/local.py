"""Local files and directories (recursive), and standard input (``-``)."""

from __future__ import annotations

import os
import re
import stat
import sys
from collections.abc import Iterator
from dataclasses import dataclass

from keytrail.errors import SourceReadError
from keytrail.i18n import N_, _
from keytrail.sources import FileRef

# Files found in directories: .json/.jsonl/.ndjson, optionally gzipped (names may carry a suffix
# such as "@COMMIT" after the extension), and Parquet (Security Lake's OCSF files, *.gz.parquet).
# Files named explicitly are read whatever their name.
_CANDIDATE = re.compile(r"\.(json|jsonl|ndjson)(\.gz)?($|@)|\.parquet$", re.IGNORECASE)
_NON_LOG_DIRS = {"CloudTrail-Digest": N_("CloudTrail digest file"), "CloudTrail-Insight": N_("CloudTrail Insights file")}


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

    @property
    def origins(self) -> tuple[str, ...]:
        return self.paths

    def files(self) -> Iterator[FileRef]:
        """Every candidate file under the paths, each with the path it was found under (``origin``);
        a file found again under another path is listed once more as a ``duplicate`` (never read twice)."""
        seen: dict[tuple[int, int], str] = {}  # file -> its uri where first found
        for p in self.paths:
            if p == "-":
                yield FileRef("-", version="stdin", data=sys.stdin.buffer.read(), origin=p)
                continue
            yield from self._walk(os.path.abspath(p), p, seen, set())

    def survey(self, origin: str) -> str | None:
        """What a path that held no candidate file holds instead."""
        if origin == "-" or not os.path.isdir(origin):
            return None
        counts: dict[str, int] = {}
        for _dir, _subdirs, names in os.walk(origin):
            for name in names:
                ext = os.path.splitext(name)[1].lower() or _("no extension")
                counts[ext] = counts.get(ext, 0) + 1
        where = os.path.abspath(origin)
        if not counts:
            return _("{path} holds no file").format(path=where)
        n = sum(counts.values())
        kinds = ", ".join(f"{c} {ext}" for ext, c in sorted(counts.items(), key=lambda x: (-x[1], x[0]))[:5])
        return _("{path} holds no .json, .jsonl or .ndjson file, only {n} other file(s): {kinds}").format(
            path=where, n=n, kinds=kinds)

    def _walk(self, path: str, origin: str, seen: dict[tuple[int, int], str],
              dirs: set[tuple[int, int]]) -> Iterator[FileRef]:
        try:
            st = os.stat(path)
        except FileNotFoundError:
            yield FileRef(path, error=_("no such file or directory"), origin=origin)
            return
        except OSError as e:
            yield FileRef(path, error=_("cannot stat: {reason}").format(reason=e.strerror or e), origin=origin)
            return
        if stat.S_ISDIR(st.st_mode):
            ident = (st.st_dev, st.st_ino)
            if ident in dirs:
                return  # a symlink loop
            dirs.add(ident)
            try:
                entries = sorted(os.scandir(path), key=lambda e: e.name)
            except OSError as e:
                yield FileRef(path, error=_("cannot list directory: {reason}").format(reason=e.strerror or e), origin=origin)
                return
            for entry in entries:
                child = entry.path
                try:
                    is_dir = entry.is_dir()
                except OSError:
                    is_dir = False
                if is_dir or is_log_name(entry.name):
                    yield from self._walk(child, origin, seen, dirs)
            return
        if not stat.S_ISREG(st.st_mode):
            yield FileRef(path, error=_("not a regular file (FIFO, socket or device): not read"), origin=origin)
            return
        ident = (st.st_dev, st.st_ino)
        first = seen.get(ident)
        if first is not None:
            # the same file again (named twice, linked, or also under a directory given): read once,
            # noted for the path it was found under again
            yield FileRef(first, origin=origin, duplicate=True)
            return
        seen[ident] = path
        reason = non_log_reason(path)
        yield FileRef(path, size=st.st_size, version=str(st.st_mtime_ns), skip_reason=reason, origin=origin)

    def read(self, ref: FileRef) -> bytes:
        if ref.data is not None:
            return ref.data
        try:
            with open(ref.uri, "rb") as f:
                return f.read()
        except OSError as e:
            raise SourceReadError(ref.uri, f"cannot read: {e.strerror or e}") from e  # kept in the store: English
