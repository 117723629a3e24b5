"""``--verify``: only log files a verified digest chain covers reach the pipeline.

Verification runs first (``verify_archive``); a ``Gate`` then stands between the sources and
the pipeline. ``Gate.wrap`` turns each file source into a ``VerifiedSource`` that passes on only
the files verification found *verified* (``FileRef.verified`` set), and reads each of them only
while its bytes are still the bytes verification hashed -- a file changed in between (a race with
whoever writes the archive) is refused as unreadable, with ``CHANGED``. Every other file ingest
would read is left out and named.

Two modes:

* ``fail``: anything not verified -- a failure, a file unreadable, a pending log file -- blocks
  the run before anything is read (``Gate.blocked``).
* ``exclude``: files not verified are left out (``Gate.left_out``); the rest is read.

    gate = Gate(verify_archive(paths, keys), "exclude")
    report = ingest(gate.wrap(open_sources(paths)), store)
    gate.close()

The sources must be the ones verified (same paths and URLs): a file the sources list that
verification did not vouch for is left out whatever the mode (``VerifiedSource.excluded``).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

import orjson

from keytrail.errors import VERIFY, SourceReadError, UsageError, said
from keytrail.i18n import N_, _, ngettext
from keytrail.sources import FileRef, FileSource, RecordSource
from keytrail.store.tables import storable
from keytrail.verify.results import Status, VerificationReport

Mode = Literal["fail", "exclude"]
MODES: tuple[Mode, ...] = ("fail", "exclude")

CHANGED = "changed since it was verified (its bytes differ from the ones the digest check read): not read"
_UNVERIFIED = N_("listed only by digests that are not verified (see the digest problems)")


@dataclass(frozen=True)
class LeftOut:
    """A log file verification did not vouch for, and why."""

    uri: str
    status: Status  # failed | pending | unverified | unreadable
    reason: str


def _left_out(report: VerificationReport) -> list[LeftOut]:
    reasons: dict[str, str] = {}
    for f in report.findings:
        reasons.setdefault(f.uri, f.message)
    return [LeftOut(r.uri, r.status, reasons.get(r.uri) or _(_UNVERIFIED))
            for r in report.logs if r.status != "verified"]


class Gate:
    """The outcome of verification as a filter on what ingest reads (see the module docstring)."""

    def __init__(self, report: VerificationReport, mode: Mode) -> None:
        if mode not in MODES:
            raise UsageError(_("verification mode {mode!r}: the modes are {modes}").format(mode=mode, modes=", ".join(MODES)))
        self.report = report
        self.mode = mode
        self.left_out = _left_out(report)
        self.sources: list[VerifiedSource] = []
        self.changed: list[str] = []  # verified files whose bytes changed before ingest read them

    @property
    def verified_logs(self) -> int:
        return len(self.report.stored_sha256)

    @property
    def blocked(self) -> bool:
        """``fail`` mode and something was not verified: read nothing."""
        return self.mode == "fail" and (not self.report.ok or bool(self.left_out))

    @property
    def failed(self) -> bool:
        """Evidence of tampering or loss, or a file that nothing vouches for (exit 1)."""
        if self.report.failed or self.changed or self.excluded_at_ingest():
            return True
        return self.mode == "fail" and any(f.status != "unreadable" for f in self.left_out)

    @property
    def unreadable(self) -> bool:
        return self.report.unreadable

    def wrap(self, sources: Iterable[FileSource | RecordSource]) -> list[FileSource | RecordSource]:
        """Each file source behind a ``VerifiedSource``; record sources cannot be verified."""
        out: list[FileSource | RecordSource] = []
        for source in sources:
            if not isinstance(source, FileSource):
                raise UsageError(*said(_("{source}: {verification} reads local paths and s3:// URLs only"),
                                       source=source.description, verification=VERIFY))
            wrapped = VerifiedSource(source, self.report.stored_sha256)
            self.sources.append(wrapped)
            out.append(wrapped)
        return out

    def excluded_at_ingest(self) -> list[str]:
        """Files the sources listed that verification never judged (it found them elsewhere, or not
        at all): left out too, and a failure -- the two listings should agree."""
        judged = {r.uri for r in self.report.logs}
        return [uri for s in self.sources for uri in s.excluded if uri not in judged]

    def note_ingest(self, errors: Iterable[str]) -> list[str]:
        """The files an ingest refused as changed since verification (from its ``uri: reason``
        error lines); they count as failures."""
        tail = f": {CHANGED}"
        found = [line[: -len(tail)] for line in errors if line.endswith(tail)]
        self.changed.extend(found)
        return found

    def foreign(self, stored: Iterable[str]) -> list[str]:
        """Of the file URIs a store holds (its ledger), those this verification did not verify:
        a report from that store would count them."""
        verified = {storable(uri) for uri in self.report.stored_sha256}  # the ledger's spelling of a URI
        return sorted(uri for uri in stored if uri not in verified)

    def summary(self) -> str:
        """The verification's summary line, with what ``exclude`` left out of the report."""
        text = self.report.summary()
        n = self.left_out_count
        if self.mode == "exclude" and n:
            text += _("; {left} left out of this report (not verified), {kept} in it").format(
                left=ngettext("{n} log file", "{n} log files", n).format(n=n),
                kept=ngettext("{n} verified log file", "{n} verified log files", self.verified_logs).format(
                    n=self.verified_logs))
        return text

    @property
    def left_out_count(self) -> int:
        """Log files not read: not verified, listed only by the sources, or changed since."""
        return len(self.left_out) + len(self.excluded_at_ingest()) + len(self.changed)

    @property
    def ok(self) -> bool:
        return not self.failed and not self.unreadable

    def close(self) -> None:
        for s in self.sources:
            s.close()


class VerifiedSource:
    """A file source that passes on only verified files (``verified=True``), and reads each only
    when its bytes hash to what verification read (``expected``: uri -> hex SHA-256).

    Picklable for the pipeline's worker processes: the expected hashes travel once, in a
    temporary file (``close`` removes it), not with every task.
    """

    def __init__(self, inner: FileSource, expected: Mapping[str, str]) -> None:
        self.inner = inner
        self._expected: Mapping[str, str] | None = expected
        self._spill: str | None = None
        self._owner = True  # this copy made the spill file (copies in workers do not remove it)
        self._lock = threading.Lock()
        self.excluded: list[str] = []  # files listed and left out (not verified)

    @property
    def description(self) -> str:
        return self.inner.description

    def files(self) -> Iterator[FileRef]:
        expected = self._hashes()
        for ref in self.inner.files():
            if ref.error is not None or ref.skip_reason is not None or ref.duplicate:
                yield ref  # never read: the pipeline counts it as unreadable or skipped (or notes it again)
            elif ref.data is None and ref.uri in expected:
                yield replace(ref, verified=True)
            else:
                self.excluded.append(ref.uri)

    def read(self, ref: FileRef) -> bytes:
        expected = self._hashes().get(ref.uri)
        if expected is None:
            raise SourceReadError(ref.uri, "not verified: not read")
        data = self.inner.read(ref)
        if hashlib.sha256(data).hexdigest() != expected:
            raise SourceReadError(ref.uri, CHANGED)
        return data

    def _hashes(self) -> Mapping[str, str]:
        if self._expected is None:
            assert self._spill is not None
            self._expected = _load(self._spill)
        return self._expected

    def __getstate__(self) -> dict[str, Any]:
        with self._lock:
            if self._spill is None:
                fd, path = tempfile.mkstemp(prefix="keytrail-verified-", suffix=".json")
                with os.fdopen(fd, "wb") as f:
                    f.write(orjson.dumps(dict(self._hashes())))
                self._spill = path
        return {"inner": self.inner, "spill": self._spill}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.inner = state["inner"]
        self._spill = state["spill"]
        self._expected = None
        self._owner = False
        self._lock = threading.Lock()
        self.excluded = []

    def close(self) -> None:
        """Remove the temporary file the expected hashes were handed to workers in."""
        with self._lock:
            if self._spill is not None and self._owner:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self._spill)
                self._spill = None


_LOADED: dict[str, Mapping[str, str]] = {}  # spill file -> hashes, once per worker process


def _load(path: str) -> Mapping[str, str]:
    hashes = _LOADED.get(path)
    if hashes is None:
        try:
            with open(path, "rb") as f:
                loaded = orjson.loads(f.read())
        except OSError as e:
            raise SourceReadError(path, f"cannot read the verified files' hashes: {e.strerror or e}") from e
        hashes = _LOADED[path] = {str(k): str(v) for k, v in loaded.items()}
    return hashes
