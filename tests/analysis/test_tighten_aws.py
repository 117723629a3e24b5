"""The proposed policy goes back to AWS: the inventory taken from the KMS API of the local emulator
(moto in server mode), a trail of the key's use, ``keytrail suggest-policy``, and the policy it
writes sent with PutKeyPolicy and read back with GetKeyPolicy; the key stays usable and
describable."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from click.testing import CliRunner

from keytrail.cli.main import cli
from tests.analysis import tighten_check as check
from tests.analysis import tighten_scenario as sc
from tests.aws_server import DEFAULT_ACCOUNT, EmulatorServer, aws, client, moto_server
from tests.factory import scenario as tg

__all__ = ["aws", "moto_server"]  # the emulator's fixtures, used below

A = DEFAULT_ACCOUNT


def test_the_proposal_is_a_policy_kms_accepts(aws: EmulatorServer, tmp_path: Path) -> None:
    kms = client("kms")
    policy = json.loads(json.dumps(sc.POLICY).replace(sc.A, A))
    meta = kms.create_key(Description="orders", Policy=json.dumps(policy))["KeyMetadata"]
    key = meta["Arn"]
    kms.create_alias(AliasName="alias/orders", TargetKeyId=meta["KeyId"])
    kms.create_grant(KeyId=key, GranteePrincipal=f"arn:aws:iam::{A}:role/OldJob", Operations=["Decrypt"], Name="old")
    db = str(tmp_path / "k.duckdb")
    runner = CliRunner()
    taken = runner.invoke(cli, ["inventory", "--db", db, "--regions", "us-east-1", "-q"])
    assert taken.exit_code == 0, taken.stderr

    t = tg.Trail()
    app = tg.role_session("AppRole", "a", account=A, path="/service-role/", invoked_by="s3.amazonaws.com")
    for day in range(35):
        when = tg.T0 + timedelta(days=day)
        t.kms("GenerateDataKey", app, key, when, context={"aws:s3:arn": f"arn:aws:s3:::orders/{day}"})
        t.kms("Decrypt", tg.role_session("BatchRole", "b", account=A), key, when)
        t.kms("Decrypt", tg.root(A), key, when)
    archive = t.write(tmp_path / "trail")
    out = tmp_path / "policy.json"
    result = runner.invoke(cli, ["suggest-policy", "alias/orders", str(archive), "--db", db, "-o", str(out)])
    assert result.exit_code == 0, result.stderr
    assert "0 denied" in result.stderr and f"aws kms put-key-policy --key-id {key}" in result.stderr
    text = out.read_text()
    proposed = json.loads(text)
    assert check.keeps_put_key_policy(proposed, A)
    assert set(check.crypto_principals(proposed)) == {tg.role_arn("AppRole", A, "/service-role/"),
                                                      tg.role_arn("BatchRole", A), f"arn:aws:iam::{A}:root"}
    kms.put_key_policy(KeyId=key, PolicyName="default", Policy=text, BypassPolicyLockoutSafetyCheck=False)
    assert json.loads(kms.get_key_policy(KeyId=key, PolicyName="default")["Policy"]) == proposed
    assert kms.describe_key(KeyId=key)["KeyMetadata"]["KeyState"] == "Enabled"
    # the grant nobody used is named with the command that removes it
    grant = kms.list_grants(KeyId=key)["Grants"][0]["GrantId"]
    assert f"aws kms revoke-grant --key-id {key} --grant-id {grant}" in result.stderr
