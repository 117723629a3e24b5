"""Where the files to verify are: local archives (through ``LocalSource``) and ``s3://`` prefixes.

Every file is classified by its path: a *digest* lies under ``AWSLogs/`` in a ``CloudTrail-Digest``
directory; a *log* is any other file ingest would read, wherever it lies (a stray ``.json`` file
among the logs, or one outside ``AWSLogs/`` -- ``awslogs/`` included -- is a log file no digest
covers); everything else (Insights files, digest signature sidecars, files ingest does not read
such as ``README.txt``) is *other*: counted, not checked. A file's *key* is its path from the last
``AWSLogs`` component onward (None outside ``AWSLogs/``), which is how local copies are matched to
the S3 objects digests name.

A digest's own signature is S3 object metadata (``x-amz-meta-signature``). From S3 it comes with
the object; a local copy can carry it in a sidecar file named like the digest plus
``.signature`` (``...Z.json.gz.signature``) holding the hex signature, or the JSON that
``aws s3api head-object`` prints (``{"Metadata": {"signature": ...}}``).
"""

from __future__ import annotations

import hashlib
import io
import os
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import IO, Any, Literal, Protocol, cast

import orjson

from keytrail.errors import NotGzip, SourceReadError, UsageError
from keytrail.i18n import _
from keytrail.sources.local import LocalSource
from keytrail.sources.retry import RetryPolicy
from keytrail.verify.digest import archive_key

_decompressobj: Callable[[int], Any]
_INFLATE_ERRORS: tuple[type[Exception], ...]
try:  # ISA-L inflates several times faster than zlib; the bytes are the same
    from isal import isal_zlib

    _decompressobj = isal_zlib.decompressobj
    _INFLATE_ERRORS = (zlib.error, cast("type[Exception]", isal_zlib.error))  # its stub types the class as an instance
except ImportError:  # pragma: no cover - isal is a dependency, kept optional for odd platforms
    _decompressobj = zlib.decompressobj
    _INFLATE_ERRORS = (zlib.error,)

SIGNATURE_SUFFIX = ".signature"
_CHUNK = 1 << 20
_GZIP_MAGIC = b"\x1f\x8b"
STREAMED_BYTES = 256 << 20  # objects larger than this are hashed as they stream, not held in memory

Kind = Literal["digest", "log", "other"]


@dataclass(frozen=True)
class Entry:
    """One file of an archive: ``uri`` a local path or ``s3://bucket/key``."""

    uri: str
    key: str | None
    kind: Kind
    size: int = 0
    error: str | None = None  # could not be listed or stat'ed


class Archive(Protocol):
    """A place holding digest and log files (a local directory tree or an S3 prefix)."""

    @property
    def description(self) -> str: ...

    def entries(self) -> Iterator[Entry]: ...

    def read_digest(self, entry: Entry) -> tuple[bytes, str | None]:
        """The digest file's bytes (as stored) and its own signature when available."""
        ...

    def open(self, entry: Entry) -> IO[bytes]: ...


def _kind(key: str | None, is_log_candidate: bool) -> Kind:
    """What a file is, from its key (None: not under ``AWSLogs/``) and whether ingest would read it.

    A file ingest would read is a log file wherever it lies: one outside ``AWSLogs/`` is then a
    log file no digest can cover (a failure), never a file "not checked" that ingest reads anyway.
    """
    parts = key.split("/") if key is not None else []
    if key is not None and not key.endswith(SIGNATURE_SUFFIX):
        if "CloudTrail-Digest" in parts:
            return "digest"
        if "CloudTrail-Insight" in parts:
            return "other"
    return "log" if is_log_candidate else "other"


def _signature_text(data: bytes, where: str) -> str:
    text = data.decode("utf-8", "replace").strip()
    if text.startswith("{"):
        try:
            meta = orjson.loads(text).get("Metadata", {})
        except (orjson.JSONDecodeError, AttributeError) as e:
            raise SourceReadError(where, _("the signature file is neither hex nor head-object JSON")) from e
        value = meta.get("signature") if isinstance(meta, dict) else None
        if not isinstance(value, str):
            raise SourceReadError(where, _("the signature file has no Metadata.signature"))
        text = value.strip()
    return text


@dataclass(frozen=True)
class LocalArchive:
    """Local files and directories, enumerated exactly as ingest enumerates them."""

    paths: tuple[str, ...]

    @property
    def description(self) -> str:
        return ", ".join(self.paths)

    def entries(self) -> Iterator[Entry]:
        for ref in LocalSource(self.paths).files():
            if ref.duplicate:
                continue  # listed already, under another path
            if ref.error is not None:
                yield Entry(ref.uri, None, "other", error=ref.error)
                continue
            key = archive_key(ref.uri)
            yield Entry(ref.uri, key, _kind(key, ref.skip_reason is None), ref.size)

    def read_digest(self, entry: Entry) -> tuple[bytes, str | None]:
        data = _read(entry.uri)
        sidecar = entry.uri + SIGNATURE_SUFFIX
        if not os.path.exists(sidecar):
            return data, None
        return data, _signature_text(_read(sidecar), sidecar)

    def open(self, entry: Entry) -> IO[bytes]:
        try:
            return open(entry.uri, "rb")
        except OSError as e:
            raise SourceReadError(entry.uri, _("cannot read: {reason}").format(reason=e.strerror or e)) from e


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise SourceReadError(path, _("cannot read: {reason}").format(reason=e.strerror or e)) from e


class S3Archive:
    """Objects under ``s3://bucket/prefix`` (boto3, imported when used; credentials as usual)."""

    def __init__(self, url: str, client: Any = None) -> None:
        rest = url[len("s3://"):]
        self.bucket, _slash, self.prefix = rest.partition("/")
        if not self.bucket:
            raise UsageError(_("{url}: no bucket name").format(url=url))
        self.description = url
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            from keytrail.sources.aws import AwsConfig

            self._client = AwsConfig().client("s3")  # the retry policy's retries and timeouts
        return self._client

    def _uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def entries(self) -> Iterator[Entry]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            pages = RetryPolicy.from_env().list_objects(self.client, self.bucket, self.prefix)
            for page in pages:
                for obj in page.get("Contents", []):
                    key = obj["Key"]
                    if key.endswith("/"):
                        continue
                    name = key.rsplit("/", 1)[-1].lower()
                    candidate = name.endswith((".json", ".json.gz", ".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz"))
                    archived = archive_key(key)
                    yield Entry(self._uri(key), archived, _kind(archived, candidate), int(obj.get("Size", 0)))
        except (BotoCoreError, ClientError) as e:
            raise SourceReadError(self.description, _("cannot list: {reason}").format(reason=e)) from e

    def _get(self, entry: Entry) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        key = entry.uri[len(f"s3://{self.bucket}/"):]
        try:
            return RetryPolicy.from_env().call(f"s3:GetObject {entry.uri}", self.client.get_object, Bucket=self.bucket, Key=key)
        except (BotoCoreError, ClientError) as e:
            raise SourceReadError(entry.uri, _("cannot read: {reason}").format(reason=e)) from e

    def read_digest(self, entry: Entry) -> tuple[bytes, str | None]:
        response = self._get(entry)
        signature = response.get("Metadata", {}).get("signature")
        return self._body(entry, response), signature if isinstance(signature, str) else None

    def open(self, entry: Entry) -> IO[bytes]:
        if entry.size > STREAMED_BYTES:  # read as it streams: not held in memory, not re-read if it breaks
            body: IO[bytes] = self._get(entry)["Body"]
            return body
        return io.BytesIO(self._body(entry, self._get(entry)))

    def _body(self, entry: Entry, response: Any) -> bytes:
        """The body of ``response``; if it breaks mid-read, the rest read again (the retry policy's
        ranged re-read, against the ETag of the first answer)."""
        from botocore.exceptions import BotoCoreError, ClientError

        from keytrail.sources.retry import ObjectChanged

        key = entry.uri[len(f"s3://{self.bucket}/"):]
        try:
            return bytes(response["Body"].read())
        except (BotoCoreError, ClientError):
            pass  # the body broke: read it again, from the start, as that version
        try:
            return RetryPolicy.from_env().read_object(self.client, self.bucket, key, str(response.get("ETag") or ""))
        except (BotoCoreError, ClientError, ObjectChanged) as e:
            raise SourceReadError(entry.uri, _("cannot read: {reason}").format(reason=e)) from e


def open_archives(specs: Sequence[str], s3_client: Any = None) -> list[Archive]:
    """Local paths are grouped into one archive; each ``s3://`` URL is one archive."""
    local: list[str] = []
    out: list[Archive] = []
    for spec in specs:
        if spec == "-":
            raise UsageError(_("standard input cannot be verified: give the archive's files or directory"))
        if spec.startswith("s3://"):
            out.append(S3Archive(spec, s3_client))
        elif "://" in spec and not spec.startswith("file://"):
            raise UsageError(_("{spec}: verify reads local paths and s3:// URLs").format(spec=spec))
        else:
            local.append(spec.removeprefix("file://"))
    if local:
        out.insert(0, LocalArchive(tuple(local)))
    return out


# ---- content hashes -------------------------------------------------------------------------------


def _inflated(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """The uncompressed content of a stream given in chunks: every gzip member, or the bytes as they
    are when the stream does not start with the gzip magic. Raises ``NotGzip``."""
    first = next(chunks, b"")
    if not first.startswith(_GZIP_MAGIC):
        yield first
        yield from chunks
        return
    inflater = _decompressobj(16 + zlib.MAX_WBITS)
    in_member = False
    chunk = first
    try:
        while chunk:
            while chunk:
                yield inflater.decompress(chunk)
                in_member = True
                if inflater.eof:  # another gzip member may follow
                    chunk = inflater.unused_data
                    inflater = _decompressobj(16 + zlib.MAX_WBITS)
                    in_member = False
                else:
                    chunk = b""
            chunk = next(chunks, b"")
    except _INFLATE_ERRORS as e:
        raise NotGzip(_("corrupt gzip data ({reason})").format(reason=e)) from e
    if in_member:
        raise NotGzip(_("truncated gzip data"))


def gunzip(data: bytes) -> bytes:
    """The uncompressed content of a file's bytes (bytes without the gzip magic as they are)."""
    return b"".join(_inflated(iter((data,))))


def content_sha256(stream: IO[bytes]) -> str:
    """Hex SHA-256 of a file's uncompressed content, streamed (a plain file is hashed as it is)."""
    return content_and_stored_sha256(stream)[0]


def content_and_stored_sha256(stream: IO[bytes]) -> tuple[str, str]:
    """Hex SHA-256 of a file's uncompressed content (what digests record) and of its bytes as
    stored (what ``--verify`` checks again when ingest reads the file), in one pass."""
    content, stored = hashlib.sha256(), hashlib.sha256()

    def chunks() -> Iterator[bytes]:
        for chunk in iter(lambda: stream.read(_CHUNK), b""):
            stored.update(chunk)
            yield chunk

    for piece in _inflated(chunks()):
        content.update(piece)
    return content.hexdigest(), stored.hexdigest()


def read_content(archive: Archive, entry: Entry) -> bytes:
    """A file's uncompressed content. Raises ``SourceReadError`` or ``NotGzip``."""
    try:
        with archive.open(entry) as stream:
            return b"".join(_inflated(iter(lambda: stream.read(_CHUNK), b"")))
    except OSError as e:
        raise SourceReadError(entry.uri, _("cannot read: {reason}").format(reason=e.strerror or e)) from e
