"""suggest-policy on gen_trail's seed-23 organisation archive with its inventory, checked against
truth.json and the raw records by ``tighten_check`` (not by keytrail's own replay).

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
from tests.conftest import gen_trail

SEED_23_ORG = ("--events", "3000", "--seed", "23", "--org", "--plain-every", "7", "--accounts", "4", "--regions", "2",
               "--external-accounts", "1", "--per-file", "50")  # fmt: skip


@pytest.fixture(scope="module")
def seed23(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any], str]:
    out = tmp_path_factory.mktemp("seed23") / "trail"
    truth = gen_trail(out, *SEED_23_ORG)
    db = str(out.parent / "trail.duckdb")
    runner = CliRunner()
    assert runner.invoke(cli, ["ingest", str(out / "AWSLogs"), "--db", db, "-q"]).exit_code == 0
    inv = runner.invoke(cli, ["inventory", "--db", db, "--from", str(out / "inventory"), "-q"])
    assert inv.exit_code == 0, inv.stderr
    return out, truth, db


def _keys(truth: dict[str, Any]) -> list[str]:
    used = {k for k, ps in truth["keys"].items() if any(ops.get(c) for ops in ps.values() for c in check.CLASSES)}
    return sorted(set(truth["customer_managed_keys"]) & used - set(truth["keys_pending_deletion"]))


def _suggest(db: str, key: str, *args: str) -> dict[str, Any]:
    result = CliRunner().invoke(cli, ["suggest-policy", key, "--db", db, "-q", *args])
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
        policy = _suggest(db, key, *([] if conditions else ["--no-conditions"]))
        assert policy["Version"] == "2012-10-17"
        used = {p: ops for p, ops in truth["keys"][key].items() if any(ops.get(c) for c in check.CLASSES)}
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
            if principal.endswith(":root") and principal in used:
                # the root user itself: never the whole account
                for st in statements:
                    assert st["Condition"]["ArnEquals"]["aws:PrincipalArn"] == principal
        # the owner's root keeps kms:PutKeyPolicy
        assert check.keeps_put_key_policy(policy, account), key
        conditional += sum(1 for st in policy["Statement"] if "kms:ViaService" in json.dumps(st.get("Condition", {}))
                           or "EncryptionContext" in json.dumps(st.get("Condition", {})))
    assert (conditional > 0) == conditions


def test_the_json_report_replays_every_call_with_none_denied(seed23: tuple[Path, dict[str, Any], str]) -> None:
    _, truth, db = seed23
    for key in _keys(truth)[:5]:
        out = _suggest(db, key, "--format", "json")
        assert set(out) >= {"key", "window", "policy", "removed", "kept", "added", "replay", "warnings"}
        assert out["key"] == key and out["replay"]["denied"] == 0 and out["replay"]["calls"] > 0
        assert {w["kind"] for w in out["warnings"]} >= {"short-window", "iam-delegation"}
        # the inventory's policy gave the account kms:*: its cryptographic actions are removed
        root = f"arn:aws:iam::{key.split(':')[4]}:root"
        removed = {c["principal"]: c["actions"] for c in out["removed"]}
        assert set(removed[root]) & check.CRYPTO
