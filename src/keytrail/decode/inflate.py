"""A file's bytes as JSON text: gunzip in a stream, never past a per-file limit.

CloudTrail writes a log file per account and Region about every five minutes, gzipped; the
largest seen in practice inflate to tens of megabytes. A file that inflates to far more is damage
or an attack (a "gzip bomb": a few megabytes that inflate to gigabytes), so inflation stops at
``max_file_bytes`` (default ``DEFAULT_MAX_FILE_BYTES``, 256 MiB) and the file is refused with
that reason; a file that is not gzipped is refused past the same size. Memory while inflating is
at most the limit.

Speed: one ISA-L inflate call per gzip member, told the size the member's trailer claims (capped
by the limit), as fast as inflating whole; a trailer that lies only costs more calls.
"""

from __future__ import annotations

import struct
import zlib

from keytrail.errors import SourceReadError

DEFAULT_MAX_FILE_BYTES = 256 << 20
GZIP_MAGIC = b"\x1f\x8b"

try:  # ISA-L's inflate is several times faster than zlib's; the result is the same
    from isal.isal_zlib import decompressobj as _decompressobj
    from isal.isal_zlib import error as _isal_error

    _INFLATE_ERRORS: tuple[type[Exception], ...] = (_isal_error, zlib.error)  # type: ignore[assignment]  # isal types its error as an instance
except ImportError:  # pragma: no cover - isal is a dependency, kept optional for odd platforms
    from zlib import decompressobj as _decompressobj  # type: ignore[assignment]

    _INFLATE_ERRORS = (zlib.error,)


class TooLarge(SourceReadError):
    """A file, or what it inflates to, is larger than the per-file limit."""

    def __init__(self, uri: str, limit: int, inflated: bool) -> None:
        what = "inflates to more than" if inflated else "is larger than"
        super().__init__(uri, f"{what} {size_text(limit)}, the per-file limit (max-file-bytes): not read "
                              "(damaged or hostile: no CloudTrail log file is that large)")
        self.limit = limit


def size_text(n: int) -> str:
    """1,048,576 -> '1 MiB'; sizes that are not whole MiB in bytes."""
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift and n % (1 << shift) == 0:
            return f"{n >> shift:,} {unit}"
    return f"{n:,} bytes"


def inflate(data: bytes, uri: str, limit: int = DEFAULT_MAX_FILE_BYTES) -> bytes:
    """``data`` gunzipped (every member) when it starts with gzip's magic, else as it is; raises
    ``TooLarge`` past ``limit`` bytes and ``SourceReadError`` for a stream that does not inflate."""
    if data[:2] != GZIP_MAGIC:
        if len(data) > limit:
            raise TooLarge(uri, limit, inflated=False)
        return data
    parts: list[bytes] = []
    total = 0
    rest = data
    try:
        while rest:
            member, rest = _member(rest, limit - total, uri, limit)
            total += len(member)
            parts.append(member)
            if rest.strip(b"\x00") == b"":  # zero padding after the last member is allowed
                break
            if rest[:2] != GZIP_MAGIC:
                raise SourceReadError(uri, "not a readable gzip stream (bytes after the compressed data)")
    except _INFLATE_ERRORS as e:
        raise SourceReadError(uri, f"not a readable gzip stream ({e})") from e
    return parts[0] if len(parts) == 1 else b"".join(parts)


def _member(data: bytes, room: int, uri: str, limit: int) -> tuple[bytes, bytes]:
    """One gzip member inflated (``TooLarge`` past ``room`` bytes), and the bytes after it."""
    claimed = struct.unpack("<I", data[-4:])[0] if len(data) >= 4 else 0  # the last member's size, mod 2**32
    inflater = _decompressobj(31)
    out = inflater.decompress(data, min(claimed, room) + 1)
    chunks = [out]
    size = len(out)
    while not inflater.eof and size <= room:
        tail = inflater.unconsumed_tail
        if not tail:
            raise SourceReadError(uri, "truncated gzip (compressed stream ends early)")
        more = inflater.decompress(tail, room - size + 1)
        chunks.append(more)
        size += len(more)
    if size > room:
        raise TooLarge(uri, limit, inflated=True)
    return out if len(chunks) == 1 else b"".join(chunks), inflater.unused_data
