"""suggest-policy on a seed-23 organisation archive with known answers (tests/factory/archive.py)
and its inventory, checked against truth.json and the raw records by ``tighten_check`` (not by keytrail's own replay).

For every customer managed key with cryptographic use that is not pending deletion: the output
is a valid policy (Version 2012-10-17); it allows every (principal, operation class) truth shows
for the key, each raw call with its conditions holding; it gives no cryptographic action to a
principal without cryptographic use of that key in the window; the owning account's root keeps
kms:PutKeyPolicy.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from keytrail.cli.main import cli
from tests.analysis import tighten_check as check
from tests.factory.archive import write_archive

SEED_23_ORG: dict[str, Any] = dict(events=3000, seed=23, org=True, plain_every=7, accounts=4, regions=2, external=1,
                                   per_file=50)


@pytest.fixture(scope="module")
def seed23(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any], str]:
    out = tmp_path_factory.mktemp("seed23") / "trail"
    truth = write_archive(out, **SEED_23_ORG)
    db = str(out.parent / "trail.duckdb")
    runner = CliRunner()
    assert runner.invoke(cli, ["ingest", str(out / "AWSLogs"), "--db", db, "-q"]).exit_code == 0
    inv = runner.invoke(cli, ["inventory", "--db", db, "--from", str(out / "inventory"), "-q"])
    assert inv.exit_code == 0, inv.stderr
    return out, truth, db


def _keys(truth: dict[str, Any]) -> list[str]:
    used = {k for k, ps in truth["keys"].items() if any(ops.get(c) for ops in ps.values() for c in check.CLASSES)}
    return sorted(set(truth["customer_managed_keys"]) & used - set(truth["keys_pending_deletion"]))


# callers no key policy can name (README, Tighten a key): the replay denies their calls, and the
# command writes the proposal only with --force
UNNAMEABLE = ("identitycenter:", "saml:", "webidentity:")


def _nameable(truth: dict[str, Any], key: str) -> bool:
    return not any(p.startswith(UNNAMEABLE) for p in truth["keys"][key])


def _suggest(db: str, key: str, *args: str, force: bool = False) -> dict[str, Any]:
    result = CliRunner().invoke(cli, ["suggest-policy", key, "--db", db, "-q", *args, *(["--force"] if force else [])])
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


@pytest.mark.parametrize("conditions", [True, False], ids=["conditions", "no-conditions"])
def test_every_used_customer_key_gets_a_policy_that_truth_accepts(seed23: tuple[Path, dict[str, Any], str],
                                                                   conditions: bool) -> None:
    archive, truth, db = seed23
    keys = _keys(truth)
    assert len(keys) >= 20
    conditional = 0
    for key in keys:
        account = key.split(":")[4]
        policy = _suggest(db, key, *([] if conditions else ["--no-conditions"]), force=not _nameable(truth, key))
        assert policy["Version"] == "2012-10-17"
        used = {p: ops for p, ops in truth["keys"][key].items()
                if any(ops.get(c) for c in check.CLASSES) and not p.startswith(UNNAMEABLE)}
        # every (principal, operation class) truth shows is allowed
        for principal, ops in used.items():
            for cls in check.CLASSES:
                if ops.get(cls):
                    assert check.allows_class(policy, check.policy_principal(principal), cls), (key, principal, cls)
        # and every call the records show, with its conditions
        assert check.records_allowed(policy, key, archive) == [], key
        # no cryptographic action for a principal without cryptographic use of the key
        users = {check.policy_principal(p) for p in used}
        for principal, statements in check.crypto_principals(policy).items():
            assert principal in users, (key, principal)
            if principal.endswith(":root") and principal in used and principal.split(":")[4] not in truth["external_accounts"]:
                # the root user itself: never the whole account (a hidden caller of an account outside the
                # archive is named by its account, whose IAM policies then decide)
                for st in statements:
                    assert st["Condition"]["ArnEquals"]["aws:PrincipalArn"] == principal
        # the owner's root keeps kms:PutKeyPolicy
        assert check.keeps_put_key_policy(policy, account), key
        conditional += sum(1 for st in policy["Statement"] if "kms:ViaService" in json.dumps(st.get("Condition", {}))
                           or "EncryptionContext" in json.dumps(st.get("Condition", {})))
    assert (conditional > 0) == conditions


def test_the_json_report_replays_every_call_with_none_denied(seed23: tuple[Path, dict[str, Any], str]) -> None:
    _, truth, db = seed23
    keys = [k for k in _keys(truth) if _nameable(truth, k)]
    assert len(keys) >= 5
    for key in keys[:5]:
        out = _suggest(db, key, "--format", "json")
        assert set(out) >= {"key", "window", "policy", "removed", "kept", "added", "replay", "warnings"}
        assert out["key"] == key and out["replay"]["denied"] == 0 and out["replay"]["calls"] > 0
        assert {w["kind"] for w in out["warnings"]} >= {"short-window", "iam-delegation"}
        # the inventory's policy gave the account kms:*: its cryptographic actions are removed
        root = f"arn:aws:iam::{key.split(':')[4]}:root"
        removed = {c["principal"]: c["actions"] for c in out["removed"]}
        assert set(removed[root]) & check.CRYPTO


def test_calls_of_callers_no_policy_can_name_are_denied_and_nothing_is_written_without_force(
        seed23: tuple[Path, dict[str, Any], str]) -> None:
    """Identity Center users (README, Tighten a key): the replay denies exactly their calls, and the
    proposal is written only with --force."""
    _, truth, db = seed23
    key = next(k for k in _keys(truth) if not _nameable(truth, k))
    refused = CliRunner().invoke(cli, ["suggest-policy", key, "--db", db, "-q"])
    assert (refused.exit_code, refused.stdout) == (1, "")
    assert "would deny" in refused.stderr and "nothing written (--force writes it anyway)" in refused.stderr
    out = _suggest(db, key, "--format", "json", force=True)
    denied = out["replay"]["denied_calls"]
    assert denied and all(c["principal"].startswith(UNNAMEABLE) for c in denied)
    want = sum(n for p, ops in truth["keys"][key].items() if p.startswith(UNNAMEABLE) for c, n in ops.items()
               if c in check.CLASSES)
    assert sum(c["calls"] for c in denied) == out["replay"]["denied"] == want
