"""Where records come from: one interface for every origin.

A *file source* (local paths, S3) enumerates ``FileRef``s cheaply (for the file ledger) and reads
one file's bytes on demand -- in a worker process, so a source must be picklable and create its
clients lazily. A *record source* (CloudTrail LookupEvents, Athena) yields batches of already
parsed records. The pipeline (``keytrail.pipeline``) drives both; nothing downstream branches on
the kind of source.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class FileRef:
    """One file or object: ``uri`` is its ledger key, ``version`` its mtime_ns or ETag."""

    uri: str
    size: int = 0
    version: str = ""
    skip_reason: str | None = None  # a known non-log file (digest, Insights): counted, never read
    error: str | None = None  # could not even be enumerated/stat'ed: reported as unreadable
    data: bytes | None = field(default=None, repr=False)  # content already in hand (stdin)
    verified: bool = False  # covered by a verified CloudTrail digest chain (set by keytrail.verify's gate)
    origin: str | None = None  # the SOURCE it was found under, as given (None: the source's description)
    duplicate: bool = False  # ``uri`` was already listed under another origin: not read again, only noted


@runtime_checkable
class FileSource(Protocol):
    """Enumerates files and reads them; ``read`` runs in worker processes."""

    @property
    def description(self) -> str: ...

    def files(self) -> Iterator[FileRef]: ...

    def read(self, ref: FileRef) -> bytes: ...


def origins_of(source: FileSource | RecordSource) -> tuple[str, ...]:
    """The SOURCEs a source reads, as given (``source.origins`` where a source groups several, as
    local paths do; else its description)."""
    origins = getattr(source, "origins", None)
    return tuple(origins) if origins else (source.description,)


def survey(source: object, origin: str) -> str | None:
    """What a source found at ``origin`` when it listed no file there (``source.survey``, which a
    source may offer: a directory's other files), or None."""
    method = getattr(source, "survey", None)
    return method(origin) if callable(method) else None


@dataclass(frozen=True)
class RecordBatch:
    """Parsed records from a record source; ``uri``+``version`` key the ledger like a file."""

    uri: str
    version: str
    records: list[object]
    shape: str = "api"
    error: str | None = None  # this part could not be read (access denied, ...): reported, exit 3


@runtime_checkable
class RecordSource(Protocol):
    """Yields batches of parsed CloudTrail records (APIs that return events, not files)."""

    @property
    def description(self) -> str: ...

    def batches(self, known: dict[str, str]) -> Iterator[RecordBatch]:
        """Batches not yet in the ledger (``known`` maps uri -> version already ingested)."""
        ...


Source = FileSource | RecordSource

__all__ = ["FileRef", "FileSource", "RecordBatch", "RecordSource", "Source", "origins_of", "survey"]
