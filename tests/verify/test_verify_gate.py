"""The gate between sources and the pipeline: what passes, what is left out, and bytes that change."""

from __future__ import annotations

import gzip
import os
import pickle
from pathlib import Path

import pytest

from keytrail.errors import SourceReadError, UsageError
from keytrail.sources import FileSource
from keytrail.sources.local import LocalSource
from keytrail.verify import PublicKey, verify_archive
from keytrail.verify.gate import CHANGED, Gate, VerifiedSource
from tests.factory import write_log
from tests.factory.signed import BuiltArchive


def gate(archive: BuiltArchive, keys: tuple[PublicKey, ...], mode: str = "fail") -> Gate:
    return Gate(verify_archive([str(archive.root)], keys), mode)  # type: ignore[arg-type]


def test_verified_files_pass_marked_verified(archive: BuiltArchive, keys: tuple[PublicKey, ...]) -> None:
    g = gate(archive, keys)
    assert not g.blocked and g.ok and g.left_out == [] and g.verified_logs == 6
    (source,) = g.wrap([LocalSource((str(archive.root),))])
    assert isinstance(source, FileSource)
    refs = list(source.files())
    read = [r for r in refs if r.skip_reason is None]
    assert sorted(r.uri for r in read) == sorted(str(p) for p in archive.logs)
    assert all(r.verified for r in read)
    assert {r.skip_reason for r in refs if r.skip_reason} == {"CloudTrail digest file"}  # passed on, never read
    assert gzip.decompress(source.read(read[0])).startswith(b'{"Records":')


def test_unverified_files_are_left_out_and_named(archive: BuiltArchive, keys: tuple[PublicKey, ...]) -> None:
    stray = write_log(archive.root, "notes/stray.json", [])
    g = gate(archive, keys, "exclude")
    assert not g.blocked and g.failed and not g.ok
    assert [(f.uri, f.status) for f in g.left_out] == [(str(stray), "failed")]
    (source,) = g.wrap([LocalSource((str(archive.root),))])
    assert str(stray) not in {r.uri for r in source.files()}
    assert g.excluded_at_ingest() == []  # verification judged it already
    assert g.left_out_count == 1
    assert g.summary().endswith("; 1 log file left out of this report (not verified), 6 verified log files in it")
    assert gate(archive, keys, "fail").blocked


def test_a_file_verification_never_saw_is_left_out_and_fails(archive: BuiltArchive, keys: tuple[PublicKey, ...],
                                                             tmp_path: Path) -> None:
    g = gate(archive, keys, "exclude")
    other = write_log(tmp_path, "elsewhere/x.json", [])
    (source,) = g.wrap([LocalSource((str(archive.root), str(other)))])
    assert str(other) not in {r.uri for r in source.files()}
    assert g.excluded_at_ingest() == [str(other)] and g.failed


def test_bytes_changed_after_verification_are_not_read(archive: BuiltArchive, keys: tuple[PublicKey, ...]) -> None:
    g = gate(archive, keys)
    (source,) = g.wrap([LocalSource((str(archive.root),))])
    assert isinstance(source, FileSource)
    ref = next(r for r in source.files() if r.uri == str(archive.logs[0]))
    archive.logs[0].write_bytes(gzip.compress(b'{"Records":[]}'))
    with pytest.raises(SourceReadError) as e:
        source.read(ref)
    assert e.value.reason == CHANGED
    assert g.note_ingest([f"{ref.uri}: {CHANGED}", "/x: cannot read: gone"]) == [ref.uri]
    assert g.failed and g.changed == [ref.uri]


def test_in_worker_processes_the_hashes_travel_in_a_file(archive: BuiltArchive, keys: tuple[PublicKey, ...]) -> None:
    g = gate(archive, keys)
    (source,) = g.wrap([LocalSource((str(archive.root),))])
    assert isinstance(source, VerifiedSource)
    ref = next(r for r in source.files() if r.skip_reason is None)
    copy = pickle.loads(pickle.dumps(source))
    again = pickle.loads(pickle.dumps(source))
    spill = copy._spill
    assert spill is not None and spill == again._spill and os.path.exists(spill)
    assert len(pickle.dumps(source)) < 2000  # the hashes are not in every task
    assert copy.read(ref) == Path(ref.uri).read_bytes()
    copy.close()  # a copy does not remove the file its parent made
    assert os.path.exists(spill)
    g.close()
    assert not os.path.exists(spill)


def test_record_sources_cannot_pass(archive: BuiltArchive, keys: tuple[PublicKey, ...]) -> None:
    class Lookup:
        description = "lookup://us-east-1"

        def batches(self, known: dict[str, str]) -> list[object]:
            return []

    with pytest.raises(UsageError, match="verification reads local paths and s3:// URLs only"):
        gate(archive, keys).wrap([Lookup()])  # type: ignore[list-item]


def test_the_store_may_hold_only_verified_files(archive: BuiltArchive, keys: tuple[PublicKey, ...]) -> None:
    g = gate(archive, keys)
    assert g.foreign([str(p) for p in archive.logs]) == []
    assert g.foreign([str(archive.logs[0]), "lookup://us-east-1/2026-01-05"]) == ["lookup://us-east-1/2026-01-05"]


def test_an_unknown_mode_is_a_usage_error(archive: BuiltArchive, keys: tuple[PublicKey, ...]) -> None:
    with pytest.raises(UsageError, match="the modes are fail, exclude"):
        gate(archive, keys, "warn")
