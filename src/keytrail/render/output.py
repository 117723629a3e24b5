"""Writing a report or chart to a file: whole or not at all, never through a planted link, private.

Every file keytrail writes for its user (``-o FILE`` of every report, the HTML report, a chart's
PNG) goes through ``write_output``:

- the bytes go to a new temporary file beside the target, created by ``tempfile.mkstemp``
  (``O_CREAT | O_EXCL``, an unpredictable name): a file or link planted in a shared directory is
  never opened, followed or overwritten;
- they are flushed to disk (``fsync``), then the temporary file is renamed over the target
  (``os.replace``): a reader sees the old file or the new one, never part of one;
- if the target is a symbolic link, the link itself is replaced by the new file; the file it
  pointed to is left untouched. A target that is a device, pipe or socket (``/dev/null``,
  ``/dev/stdout``, a FIFO), or a link to one, is refused: replacing it would replace the device
  node itself, and writing into it could not be atomic;
- a new file is created ``0600`` (its owner only): reports hold encryption contexts, access key
  ids, session names and source IPs. A regular file that already exists keeps its mode (one its
  owner made readable to others stays so); widen a new one with ``chmod``;
- on any error, or an interrupt, the temporary file is removed and the target is left as it was.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile

from keytrail.errors import OutputError
from keytrail.i18n import N_, _

NEW_FILE_MODE = 0o600
_PREFIX_NAME_MAX = 100  # of the target's name, in the temporary file's name (file names are <= 255 bytes)


def write_output(path: str | os.PathLike[str], data: bytes, what: str = N_("the report")) -> None:
    """Write ``data`` to ``path`` atomically (see the module docstring); ``OutputError`` on failure."""
    target = os.fspath(path)
    try:
        _write(target, data)
    except OSError as e:
        raise OutputError(target, _(what), e.strerror or str(e)) from e


def _write(target: str, data: bytes) -> None:
    directory, name = os.path.split(target)
    if not name:
        raise IsADirectoryError(21, "Is a directory", target)
    mode = _mode_for(target)
    fd, tmp = tempfile.mkstemp(dir=directory or ".", prefix=f".{name[:_PREFIX_NAME_MAX]}.", suffix=".tmp")
    try:
        try:
            if mode != NEW_FILE_MODE:
                os.fchmod(fd, mode)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _sync_directory(directory or ".")


def _mode_for(target: str) -> int:
    """The mode the new file gets: an existing regular file's, else NEW_FILE_MODE; refuses devices."""
    try:
        st = os.lstat(target)
    except FileNotFoundError:
        return NEW_FILE_MODE
    if stat.S_ISLNK(st.st_mode):
        try:
            st = os.stat(target)
        except OSError:
            return NEW_FILE_MODE  # a dangling link: replaced by a new file
        if stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode):
            return NEW_FILE_MODE  # the link is replaced; what it pointed to lends the new file nothing
    if stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(21, "Is a directory", target)
    if not stat.S_ISREG(st.st_mode):
        raise OSError(0, "not a regular file (a device, pipe or socket): keytrail writes reports to files only")
    return stat.S_IMODE(st.st_mode) & 0o777  # never set-id bits


def _sync_directory(directory: str) -> None:
    """Make the rename durable (best effort: some file systems cannot sync a directory)."""
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


__all__ = ["NEW_FILE_MODE", "write_output"]
