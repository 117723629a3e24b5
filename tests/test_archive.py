"""The archive generator (tests/factory/archive.py) and the truth comparison (tests/factory/truth.py): deterministic
archives in CloudTrail's S3 layout that hold every case the README's counting rules name, a truth in
gen_trail's shape, and a comparison that sees every difference."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from keytrail.analysis.usage import usage
from tests.conftest import REPO
from tests.factory import KEY_A, KEY_B, alias_event, ingested, key_resource, kms, user
from tests.factory.archive import ORG, load_truth, log_files, records, write_archive
from tests.factory.truth import OPS, compare

LOG_NAME = re.compile(r"(\d{12})_CloudTrail_([a-z0-9-]+)_(\d{8}T\d{4}Z)_[A-Z2-7]{16}\.json(\.gz)?\Z")


def _tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_the_same_options_write_the_same_bytes(tmp_path: Path) -> None:
    """Also from the command line, in another process with another hash seed (no set order leaks in)."""
    write_archive(tmp_path / "a", events=800, seed=7, org=True, external=1, plain_every=3)
    env = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)])}
    cli = subprocess.run([sys.executable, "-m", "tests.factory.archive", str(tmp_path / "b"), "--events", "800", "--seed", "7",
                          "--org", "--external", "1", "--plain-every", "3"], capture_output=True, text=True, env=env,
                         cwd=REPO)  # fmt: skip
    assert cli.returncode == 0, cli.stderr
    assert cli.stdout.startswith("wrote ")
    assert _tree(tmp_path / "a") == _tree(tmp_path / "b")
    write_archive(tmp_path / "c", events=800, seed=8, org=True, external=1, plain_every=3)
    assert load_truth(tmp_path / "c")["keys"] != load_truth(tmp_path / "a")["keys"]


def test_the_layout_is_cloudtrails(tmp_path: Path) -> None:
    plain = write_archive(tmp_path / "plain", events=600, seed=3, accounts=2, regions=2)
    org = write_archive(tmp_path / "org", events=600, seed=3, accounts=3, external=1, plain_every=2, org=True)
    for root, truth, head in ((tmp_path / "plain", plain, ("AWSLogs",)), (tmp_path / "org", org, ("AWSLogs", ORG))):
        logs = log_files(root)
        assert len(logs) == truth["files"] and sum(1 for _ in records(root)) == truth["records_written"]
        for path in logs:
            parts = path.relative_to(root).parts
            assert parts[: len(head)] == head
            account, kind, region, y, m, d, name = parts[len(head):]
            assert (kind, account in truth["accounts"], region in truth["regions"]) == ("CloudTrail", True, True)
            match = LOG_NAME.match(name)
            assert match and match[1] == account and match[2] == region and match[3].startswith(f"{y}{m}{d}T")
        digests = sorted(root.rglob("*CloudTrail-Digest*.json.gz"))
        assert digests and all(p.parent.parts[-5] == "CloudTrail-Digest" for p in digests)
        # the inventory: the archive's accounts and Regions, as the AWS CLI prints them
        for account in truth["accounts"]:
            for region in truth["regions"]:
                folder = root / "inventory" / account / region
                assert json.loads((folder / "list-aliases.json").read_text())["Aliases"]
                described = {json.loads(p.read_text())["KeyMetadata"]["Arn"] for p in (folder / "describe-key").iterdir()}
                assert {k for k in truth["customer_managed_keys"] if f":{region}:{account}:" in k} <= described
        assert sorted(p.name for p in (root / "inventory").iterdir()) == sorted(truth["accounts"])
    assert {p.suffix for p in log_files(tmp_path / "plain")} == {".gz"}
    assert {p.suffix for p in log_files(tmp_path / "org")} == {".gz", ".json"}
    # an account outside the archive has no files, only callers and keys others' records show
    (outside,) = org["external_accounts"]
    assert not list((tmp_path / "org").rglob(f"*{outside}*.json*"))


def _keyid_style(ref: str) -> str:
    if ref.startswith("arn:") and ":alias/" in ref:
        return "alias ARN"
    if ref.startswith("alias/"):
        return "alias name"
    return "key ARN" if ref.startswith("arn:") else "key id"


def test_the_archive_holds_every_case_the_rules_name(small_archive: Path) -> None:
    truth = load_truth(small_archive)
    recs = list(records(small_archive))
    kms_recs = [r for r in recs if r["eventSource"] == "kms.amazonaws.com"]
    types = Counter(r["userIdentity"].get("type") for r in recs)
    assert {"IAMUser", "AssumedRole", "Root", "FederatedUser", "AWSService", "AWSAccount", "IdentityCenterUser",
            "SAMLUser", "WebIdentityUser"} <= set(types)
    names = Counter(r["eventName"] for r in kms_recs)
    assert {"Encrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext", "GenerateDataKeyPair",
            "GenerateDataKeyPairWithoutPlaintext", "Decrypt", "ReEncrypt", "Sign", "Verify", "GenerateMac", "VerifyMac",
            "DeriveSharedSecret", "DescribeKey", "CreateGrant", "CreateKey", "CreateAlias", "UpdateAlias", "DeleteAlias",
            "ScheduleKeyDeletion", "ListKeys", "GenerateRandom"} <= set(names)
    assert {"AssumeRole", "AssumeRoleWithSAML", "AssumeRoleWithWebIdentity"} <= {r["eventName"] for r in recs}
    errors = Counter(r.get("errorCode") for r in kms_recs)
    assert {"AccessDenied", "KMSInvalidStateException", "InvalidCiphertextException"} <= set(errors)
    pending = [r for r in kms_recs if r.get("errorCode") == "KMSInvalidStateException"]
    assert all(r["errorMessage"] == f"{r['resources'][0]['ARN']} is pending deletion." for r in pending)
    # the archive's keys pending deletion (and another organisation's, which its callers still call)
    pending_keys = {r["resources"][0]["ARN"] for r in pending}
    assert {k for k in pending_keys if k.split(":")[4] in truth["accounts"]} == set(truth["keys_pending_deletion"])
    # keys named every way; records that name the key only in the request; untyped resources
    styles = Counter(_keyid_style(r["requestParameters"]["keyId"]) for r in kms_recs
                     if (r.get("requestParameters") or {}).get("keyId"))
    assert set(styles) == {"alias ARN", "alias name", "key ARN", "key id"}
    assert any("resources" not in r and not r.get("errorCode") for r in kms_recs)
    assert any("resources" not in r and r.get("errorCode") == "AccessDenied" for r in kms_recs)
    assert any("type" not in x for r in kms_recs for x in r.get("resources") or [])
    assert any(r["eventName"] == "ReEncrypt" and len(r["resources"]) == 1 for r in kms_recs)  # onto its own key
    assert any(r["eventName"] == "ReEncrypt" and r.get("errorCode") for r in kms_recs)
    assert any(r["userIdentity"].get("invokedBy") for r in kms_recs if r["userIdentity"]["type"] != "AWSService")
    # cross-account calls: two copies of one sharedEventID, the key owner's hiding the caller
    shared: dict[str, list[dict[str, Any]]] = {}
    for r in kms_recs:
        if r.get("sharedEventID"):
            shared.setdefault(r["sharedEventID"], []).append(r)
    pairs = [c for c in shared.values() if len({r["eventID"] for r in c}) == 2]
    assert pairs and all(sorted(r["userIdentity"]["type"] == "AWSAccount" for r in c) == [False, True]
                         for c in pairs if len(c) == 2)
    assert all(len({r["eventID"] for r in c}) == 1 for c in shared.values() if any(r.get("errorCode") for r in c))
    # re-deliveries: the same record again, in a later file
    copies = Counter((r["eventID"], r["eventName"], r["eventTime"]) for r in recs)
    assert sum(n - 1 for n in copies.values()) == truth["redelivered_records"] > 0
    # what the truth names: hidden callers (named where a record shows them, else by their unique id)
    principals = {p for ps in truth["keys"].values() for p in ps}
    (outside,) = truth["external_accounts"]
    assert any(p.startswith(f"AWSAccount:{outside}:") for p in principals)
    assert f"arn:aws:iam::{outside}:role/PartnerReader" in principals
    assert {f"arn:aws:iam::{outside}:root", f"arn:aws:sts::{outside}:federated-user/carol"} & principals
    assert {"cloudtrail.amazonaws.com", "logs.amazonaws.com"} <= principals
    assert any(p.startswith("identitycenter:arn:aws:identitystore::") for p in principals)
    assert any(":role/aws-reserved/sso.amazonaws.com/" in p for p in principals)
    assert any(":user/automation/ci-deployer" in p for p in principals)
    assert set(truth["aws_managed_keys"]) & set(truth["keys"])
    assert {op for ps in truth["keys"].values() for ops in ps.values() for op in ops} == set(OPS)


def test_the_truth_has_gen_trails_shape(small_archive: Path) -> None:
    truth = load_truth(small_archive)
    assert {"rules", "seed", "calls", "records_written", "files", "redelivered_records", "accounts",
            "external_accounts", "keys", "customer_managed_keys", "customer_managed_keys_without_crypto_use",
            "customer_managed_keys_seen_without_crypto_use", "keys_pending_deletion"} <= set(truth)
    cmk = set(truth["customer_managed_keys"])
    unused, seen = set(truth["customer_managed_keys_without_crypto_use"]), set(truth["customer_managed_keys_seen_without_crypto_use"])
    assert seen < unused < cmk  # keys only the inventory knows are unused and never seen
    assert set(truth["keys_pending_deletion"]) <= cmk and len(truth["keys_pending_deletion"]) == 2 * 2
    assert all(isinstance(n, int) and n > 0 for ps in truth["keys"].values() for ops in ps.values() for n in ops.values())


def test_compare_sees_every_difference() -> None:
    truth = {"keys": {KEY_A: {"alice": {"decrypt": 2}, "bob": {"denied": 1}}}}
    row = {"key": KEY_A, "principal": "alice", "encrypt": 0, "decrypt": 2, "sign": 0, "admin": 0, "denied": 0}
    bob = {**row, "principal": "bob", "decrypt": 0, "denied": 1}
    assert compare([row, bob], truth).ok
    assert compare(json.dumps([row, bob, {**row, "key": KEY_B, "decrypt": 0}]), truth).ok  # a zero row is no row
    wrong = compare([{**row, "decrypt": 3}, bob], truth)
    assert not wrong.ok and wrong.summary() == "1/2 (key, principal) rows match truth, 0 extra rows"
    missing = compare([row], truth)
    assert missing.mismatched == [((KEY_A, "bob"), {"denied": 1}, None)]
    extra = compare([row, bob, {**row, "principal": "carol", "sign": 1}], truth)
    assert extra.extra == [((KEY_A, "carol"), {"decrypt": 2, "sign": 1})]
    assert "EXTRA" in extra.report()


def test_a_denied_reencrypt_onto_an_alias_is_denied_on_both_keys(tmp_path: Path) -> None:
    """README, How calls are counted: a failed call is denied once per distinct key it names -- also
    when the destination is an alias, so that which resources[] key is the source is known only
    after resolution."""
    bob = user("bob")
    call = kms("ReEncrypt", bob, None, {"destinationKeyId": "alias/dest"}, time="2026-10-01T12:00:00Z",
               errorCode="AccessDenied", errorMessage="User: bob is not authorized to perform: kms:ReEncryptFrom")
    call["resources"] = [key_resource(KEY_A), key_resource(KEY_B)]
    with ingested(tmp_path, [alias_event("CreateAlias", "alias/dest", KEY_B, "2026-10-01T11:00:00Z"), call]) as (store, _):
        denied = {u.key: u.denied for u in usage(store) if u.principal == bob["arn"]}
    assert denied == {KEY_A: 1, KEY_B: 1}


def test_a_denied_reencrypt_onto_its_own_key_by_alias_is_denied_once(tmp_path: Path) -> None:
    bob = user("bob")
    call = kms("ReEncrypt", bob, None, {"destinationKeyId": "alias/dest"}, time="2026-10-01T12:00:00Z",
               errorCode="AccessDenied", errorMessage="User: bob is not authorized to perform: kms:ReEncryptFrom")
    call["resources"] = [key_resource(KEY_B)]
    with ingested(tmp_path, [alias_event("CreateAlias", "alias/dest", KEY_B, "2026-10-01T11:00:00Z"), call]) as (store, _):
        denied = {u.key: u.denied for u in usage(store) if u.principal == bob["arn"]}
    assert denied == {KEY_B: 1}
