"""Findings against the truth of archives with known answers (tests/factory/archive.py): unused keys
(without and with the inventory), keys pending deletion and who still calls them, key-policy
principals that never use their key."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from keytrail.analysis.findings import FindingOptions, run_findings
from keytrail.normalize.rules import identity_of
from keytrail.pipeline import ingest
from keytrail.sources.local import LocalSource
from keytrail.store import Store
from tests.factory import load_inventory_dir
from tests.factory.archive import load_truth, records, write_archive


@pytest.fixture(scope="module")
def sparse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Few events: some customer managed keys never appear in the archive at all (the inventory's)."""
    out = tmp_path_factory.mktemp("sparse") / "trail"
    truth = write_archive(out, events=150, seed=14, accounts=2, regions=2)
    assert set(truth["customer_managed_keys_without_crypto_use"]) > set(truth["customer_managed_keys_seen_without_crypto_use"])  # type: ignore[arg-type]
    return out


@pytest.fixture(scope="module", params=["small", "sparse"])
def archive(request: pytest.FixtureRequest) -> Path:
    name = "small_archive" if request.param == "small" else "sparse"
    return request.getfixturevalue(name)  # type: ignore[no-any-return]


def open_store(archive: Path, inventory: bool) -> Store:
    store = Store()
    ingest([LocalSource((str(archive / "AWSLogs"),))], store, workers=1)
    if inventory:
        load_inventory_dir(store, archive / "inventory")
    return store


@pytest.fixture(scope="module", params=[False, True], ids=["no-inventory", "inventory"])
def loaded(request: pytest.FixtureRequest, archive: Path) -> Iterator[tuple[Store, dict[str, Any], bool, Path]]:
    store = open_store(archive, request.param)
    yield store, load_truth(archive), request.param, archive
    store.close()


def test_unused_keys_match_the_truth(loaded: tuple[Store, dict[str, Any], bool, Path]) -> None:
    store, truth, inventory, _ = loaded
    fs = run_findings(store, FindingOptions(kinds=("unused-key", "no-evidence")))
    unused = {f.key for f in fs if f.kind == "unused-key"}
    key = "customer_managed_keys_without_crypto_use" if inventory else "customer_managed_keys_seen_without_crypto_use"
    assert unused == set(truth[key])
    # the archive covers every account and Region it has logs of: no "no evidence" there
    assert all(f.key.split(":")[4] in truth["external_accounts"] for f in fs if f.kind == "no-evidence")  # type: ignore[union-attr]


def test_keys_pending_deletion_match_the_truth(loaded: tuple[Store, dict[str, Any], bool, Path]) -> None:
    store, truth, _, _ = loaded
    fs = run_findings(store, FindingOptions(kinds=("key-pending-deletion",)))
    internal = {f.key for f in fs if f.key and f.key.split(":")[4] in truth["accounts"]}
    assert internal == set(truth["keys_pending_deletion"])


def test_who_still_calls_keys_pending_deletion(loaded: tuple[Store, dict[str, Any], bool, Path]) -> None:
    store, truth, _, archive = loaded
    expected: dict[tuple[str, str], set[str]] = {}
    for r in records(archive):
        if r.get("errorCode") == "KMSInvalidStateException" and "pending deletion" in r.get("errorMessage", ""):
            principal = identity_of(r["userIdentity"]).principal
            assert principal is not None
            expected.setdefault((r["resources"][0]["ARN"], principal), set()).add(r["eventID"])
    assert expected, "the archive should hold calls on keys pending deletion"
    fs = run_findings(store, FindingOptions(kinds=("pending-deletion-use",)))
    assert {(f.key, f.principal): f.evidence_count for f in fs} == {k: len(v) for k, v in expected.items()}
    for f in fs:
        # every caller the truth knows of is counted as denied there
        assert truth["keys"][f.key][f.principal]["denied"] >= f.evidence_count


def test_policy_principals_that_never_use_their_key(loaded: tuple[Store, dict[str, Any], bool, Path]) -> None:
    store, truth, inventory, archive = loaded
    fs = run_findings(store, FindingOptions(kinds=("permission-never-used",)))
    if not inventory:
        assert fs == []  # who can vs who did needs the inventory's key policies
        return
    expected = set()
    for path in (archive / "inventory").glob("*/*/get-key-policy/*.json"):
        account, region = path.parts[-4], path.parts[-3]
        key = f"arn:aws:kms:{region}:{account}:key/{path.stem}"
        for st in json.loads(json.loads(path.read_text())["Policy"])["Statement"]:
            if st["Sid"] != "Allow use of the key":
                continue
            for principal in st["Principal"]["AWS"]:
                ops = truth["keys"].get(key, {}).get(principal, {})
                if not (ops.get("encrypt") or ops.get("decrypt")):
                    expected.add((key, principal))
    assert expected, "the inventory's key policies should name principals that never use the key"
    assert {(f.key, f.principal) for f in fs} == expected
    assert {f.details["sid"] for f in fs} == {"Allow use of the key"}
