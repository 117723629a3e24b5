"""Fixtures for the verify tests: key pairs (generated once) and signed archives."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path

import pytest

from keytrail.verify import PublicKey, parse_public_keys
from tests.factory.signed import BuiltArchive, TrailSigner, build_archive, public_keys_json


@pytest.fixture(scope="session")
def signer() -> TrailSigner:
    """Stands in for CloudTrail's regional signing key."""
    return TrailSigner.generate()


@pytest.fixture(scope="session")
def forger() -> TrailSigner:
    """Someone else's key."""
    return TrailSigner.generate()


@pytest.fixture(scope="session")
def keys(signer: TrailSigner) -> tuple[PublicKey, ...]:
    return parse_public_keys(public_keys_json([signer]))


@pytest.fixture
def archive(tmp_path: Path, signer: TrailSigner) -> BuiltArchive:
    """Three hourly digests (the newest with its .signature sidecar), two log files each."""
    return build_archive(tmp_path / "archive", signer, hours=3, write_signatures=True)


def _rewrite_gz(path: Path, change: Callable[[bytes], bytes]) -> None:
    path.write_bytes(gzip.compress(change(gzip.decompress(path.read_bytes())), mtime=0))


def _key_of(path: Path) -> str:
    parts = path.parts
    return "/".join(parts[parts.index("AWSLogs"):])


@pytest.fixture
def rewrite_gz() -> Callable[[Path, Callable[[bytes], bytes]], None]:
    """Changes a gzipped file's uncompressed content and compresses it again."""
    return _rewrite_gz


@pytest.fixture
def key_of() -> Callable[[Path], str]:
    """A file's key from AWSLogs/ onward."""
    return _key_of
