"""keytrail inventory: the KMS API through the local emulator (accounts, Regions, organisation
roles, failures), paging with botocore's Stubber, and AWS CLI output imported with --from."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from keytrail.analysis.inventory_report import inventory_rows
from keytrail.cli.main import cli
from keytrail.errors import UsageError
from keytrail.pipeline import import_inventory, take_inventory
from keytrail.sources.aws import AwsConfig
from keytrail.sources.inventory import inventory_region
from keytrail.store import Store
from tests.aws_server import (
    DEFAULT_ACCOUNT,
    SECRET_ACCESS_KEY,
    SESSION_TOKEN,
    EmulatorServer,
    aws,
    client,
    moto_server,
)
from tests.factory import kms, user, without
from tests.factory.archive import write_archive

__all__ = ["aws", "moto_server"]  # the emulator's fixtures, used below

TAKEN = datetime(2026, 11, 28, 12, 0)


def make_keys(account: str | None = None, region: str = "us-east-1") -> dict[str, str]:
    """A few keys of every kind in one account and Region; returns name -> key ARN."""
    kms = client("kms", account, region)
    orders = kms.create_key(Description="orders data", Tags=[{"TagKey": "team", "TagValue": "payments"}])["KeyMetadata"]
    kms.create_alias(AliasName="alias/orders", TargetKeyId=orders["KeyId"])
    kms.create_grant(KeyId=orders["KeyId"], GranteePrincipal="arn:aws:iam::123456789012:role/app",
                     Operations=["Decrypt", "Encrypt"], Name="app")  # fmt: skip
    retiring = kms.create_key(Description="old")["KeyMetadata"]
    kms.schedule_key_deletion(KeyId=retiring["KeyId"], PendingWindowInDays=7)
    multi = kms.create_key(Description="global", MultiRegion=True)["KeyMetadata"]
    return {"orders": orders["Arn"], "retiring": retiring["Arn"], "multi": multi["Arn"]}


def test_inventory_of_two_regions_is_stored_and_shown(aws: EmulatorServer, tmp_path: Path) -> None:
    keys = make_keys()
    client("kms").replicate_key(KeyId=keys["multi"].rsplit("/", 1)[1], ReplicaRegion="eu-west-1")
    db = str(tmp_path / "inv.duckdb")
    result = CliRunner().invoke(cli, ["inventory", "--db", db, "--regions", "us-east-1,eu-west-1", "--format", "json"])
    assert result.exit_code == 0, result.stderr
    rows = {r["key"]: r for r in json.loads(result.stdout)}
    replica = keys["multi"].replace("us-east-1", "eu-west-1")
    assert set(rows) == {*keys.values(), replica}
    orders = rows[keys["orders"]]
    assert orders["manager"] == "customer" and orders["state"] == "Enabled"
    assert orders["aliases"] == ["alias/orders"] and orders["tags"] == ["team=payments"]
    assert orders["description"] == "orders data" and orders["crypto_calls"] == 0
    assert rows[keys["retiring"]]["state"] == "PendingDeletion" and rows[keys["retiring"]]["deletion_date"]
    assert rows[replica]["region"] == "eu-west-1"
    with Store(db, read_only=True) as store:
        (grant,) = store.query("SELECT grant_id, name, grantee_principal, operations FROM inventory_grants")
        assert grant[1:] == ("app", "arn:aws:iam::123456789012:role/app", ["Decrypt", "Encrypt"])
        policies = store.query("SELECT arn, policy_name FROM inventory_policies ORDER BY arn")
        assert len(policies) == 4 and {p for _, p in policies} == {"default"}
        runs = store.query("SELECT account, region, status FROM inventory_runs ORDER BY region")
        assert runs == [(DEFAULT_ACCOUNT, "eu-west-1", "ok"), (DEFAULT_ACCOUNT, "us-east-1", "ok")]
        (multi,) = store.query("SELECT multi_region, last_used FROM inventory_keys WHERE arn = ?", [keys["multi"]])
        assert multi == (True, None)  # the emulator has no GetKeyLastUsage: tolerated, left empty
    assert "inventory taken" in result.stderr and "4 key(s)" in result.stderr
    # taken again: each account and Region replaces its earlier inventory
    again = CliRunner().invoke(cli, ["inventory", "--db", db, "--regions", "us-east-1,eu-west-1", "-q"])
    assert again.exit_code == 0 and again.stderr == ""
    with Store(db, read_only=True) as store:
        assert store.query("SELECT count(*) FROM inventory_keys")[0][0] == 4
        assert store.query("SELECT count(*) FROM inventory_runs")[0][0] == 4


def test_organisation_inventory_with_one_account_refused(aws: EmulatorServer, tmp_path: Path) -> None:
    org = client("organizations")
    org.create_organization(FeatureSet="ALL")
    members = [org.create_account(AccountName=n, Email=f"{n}@example.com")["CreateAccountStatus"]["AccountId"]
               for n in ("dev", "prod", "audit")]  # fmt: skip
    made = {a: make_keys(a) for a in members}
    made[DEFAULT_ACCOUNT] = make_keys()
    aws.faults.deny_assume_role(members[2])
    db = str(tmp_path / "org.duckdb")
    result = CliRunner().invoke(cli, ["inventory", "--db", db, "--org-role", "OrganizationAccountAccessRole",
                                      "--format", "json"])  # fmt: skip
    assert result.exit_code == 3, result.stderr
    role = f"arn:aws:iam::{members[2]}:role/OrganizationAccountAccessRole"
    assert f"keytrail: error: {members[2]}: cannot assume {role}: AccessDenied" in result.stderr
    got = {r["key"] for r in json.loads(result.stdout)}
    want = {arn for a in (DEFAULT_ACCOUNT, members[0], members[1]) for arn in made[a].values()}
    assert got == want
    assert {r["account"] for r in json.loads(result.stdout)} == {DEFAULT_ACCOUNT, members[0], members[1]}
    with Store(db, read_only=True) as store:
        errors = store.query("SELECT account, region, status FROM inventory_runs WHERE status = 'error'")
    assert errors == [(members[2], None, "error")]
    assert all(s not in result.stderr + result.stdout for s in (SECRET_ACCESS_KEY, SESSION_TOKEN))


def test_accounts_list_and_a_region_refused(aws: EmulatorServer, tmp_path: Path) -> None:
    other = "210987654321"
    make_keys(other)
    make_keys(other, "eu-west-1")
    aws.faults.deny_target("TrentService.ListKeys", account=other, region="eu-west-1")
    with Store() as store:
        run = take_inventory(store, AwsConfig(), regions=("us-east-1", "eu-west-1"), accounts=(other,), org_role="Audit")
        assert run.failures == [(other, "eu-west-1", "AccessDeniedException: not authorized")]
        assert {r["account"] + " " + r["region"] for r in inventory_rows(store)} == {f"{other} us-east-1"}


def test_usage_errors(aws: EmulatorServer) -> None:
    with Store() as store:
        with pytest.raises(UsageError, match="accounts needs org_role"):
            take_inventory(store, AwsConfig(), accounts=("111122223333",))
        with pytest.raises(UsageError, match="not a Region"):
            take_inventory(store, AwsConfig(), regions=("atlantis",))
    result = CliRunner().invoke(cli, ["inventory", "--db", ":memory:", "--from", ".", "--org-role", "R"])
    assert result.exit_code == 2 and "--from reads files" in result.stderr


# ---- paging, with botocore's own Stubber (the emulator ignores Limit) ------------------------------


def test_every_listing_is_paged(aws: EmulatorServer) -> None:
    import boto3
    from botocore.stub import Stubber

    kms = boto3.client("kms", region_name="us-east-1")
    arn = "arn:aws:kms:us-east-1:111122223333:key/{}"
    meta = {"AWSAccountId": "111122223333", "KeyManager": "CUSTOMER", "KeyState": "Enabled", "Enabled": True}
    with Stubber(kms) as stub:
        stub.add_response("list_keys", {"Keys": [{"KeyId": "k1", "KeyArn": arn.format("k1")}], "Truncated": True,
                                        "NextMarker": "m1"}, {})  # fmt: skip
        stub.add_response("describe_key", {"KeyMetadata": {**meta, "KeyId": "k1", "Arn": arn.format("k1")}}, {"KeyId": "k1"})
        stub.add_response("get_key_policy", {"Policy": "{}", "PolicyName": "default"}, {"KeyId": "k1", "PolicyName": "default"})
        stub.add_response("list_grants", {"Grants": [{"GrantId": "g1"}], "Truncated": True, "NextMarker": "gm"}, {"KeyId": "k1"})
        stub.add_response("list_grants", {"Grants": [{"GrantId": "g2"}], "Truncated": False}, {"KeyId": "k1", "Marker": "gm"})
        stub.add_client_error("list_resource_tags", "AccessDeniedException", "no tags for you", 400, {"KeyId": "k1"})
        stub.add_response("list_keys", {"Keys": [{"KeyId": "k2", "KeyArn": arn.format("k2")}], "Truncated": False},
                          {"Marker": "m1"})  # fmt: skip
        stub.add_response("describe_key", {"KeyMetadata": {**meta, "KeyId": "k2", "Arn": arn.format("k2"),
                                                           "KeyManager": "AWS"}}, {"KeyId": "k2"})  # fmt: skip
        stub.add_response("get_key_policy", {"Policy": "{}", "PolicyName": "default"}, {"KeyId": "k2", "PolicyName": "default"})
        stub.add_response("list_grants", {"Grants": [], "Truncated": False}, {"KeyId": "k2"})
        stub.add_response("list_aliases", {"Aliases": [{"AliasName": "alias/a", "TargetKeyId": "k1"}], "Truncated": True,
                                           "NextMarker": "am"}, {})  # fmt: skip
        stub.add_response("list_aliases", {"Aliases": [{"AliasName": "alias/aws/s3", "TargetKeyId": "k2"}],
                                           "Truncated": False}, {"Marker": "am"})  # fmt: skip
        inv = inventory_region(kms, "111122223333", "us-east-1")
        stub.assert_no_pending_responses()
    assert [k.key_id for k in inv.keys] == ["k1", "k2"]
    assert [g.grant_id for g in inv.grants] == ["g1", "g2"]
    assert [(a.alias_name, a.target_key_arn) for a in inv.aliases] == [
        ("alias/a", arn.format("k1")), ("alias/aws/s3", arn.format("k2"))
    ]  # fmt: skip
    assert inv.notes == ["k1: ListResourceTags: AccessDeniedException: no tags for you"]


# ---- --from: AWS CLI output -----------------------------------------------------------------


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An archive with known answers and, beside it, its inventory as AWS CLI output (tests/factory/archive.py)."""
    out = tmp_path_factory.mktemp("inv") / "trail"
    write_archive(out, events=2000, seed=31, org=True)
    return out


def test_import_from_aws_cli_output(saved: Path, tmp_path: Path) -> None:
    truth = json.loads((saved / "truth.json").read_text())
    db = str(tmp_path / "f.duckdb")
    result = CliRunner().invoke(cli, ["inventory", "--db", db, "--from", str(saved), "--format", "json"])
    assert result.exit_code == 0, result.stderr
    rows = json.loads(result.stdout)
    customer = sorted(r["key"] for r in rows if r["manager"] == "customer")
    assert customer == truth["customer_managed_keys"]
    assert sorted(r["key"] for r in rows if r["state"] == "PendingDeletion") == truth["keys_pending_deletion"]
    unused = sorted(r["key"] for r in rows if r["manager"] == "customer" and r["crypto_calls"] == 0)
    assert unused == truth["customer_managed_keys"]  # nothing ingested yet: every key looks unused
    with Store(db) as store:
        n_aliases = store.query("SELECT count(*) FROM alias_history WHERE source = 'inventory' AND file_id IS NULL")[0][0]
        assert n_aliases == store.query("SELECT count(*) FROM inventory_aliases")[0][0] > 0
        (taken, source) = store.query("SELECT DISTINCT taken_at, source FROM inventory_keys")[0]
        assert source == "files" and isinstance(taken, datetime)
    # with the trail ingested too, the keys report marks AWS managed keys from the inventory
    ingest = CliRunner().invoke(cli, ["ingest", str(saved / "AWSLogs"), "--db", db, "--workers", "1", "-q"])
    assert ingest.exit_code == 0, ingest.stderr
    keys = json.loads(CliRunner().invoke(cli, ["keys", "--db", db, "--format", "json"]).stdout)
    managers = {k["key"]: k["manager"] for k in keys}
    assert {k for k, m in managers.items() if m == "customer"} <= set(truth["customer_managed_keys"])
    aws_managed = {r["key"] for r in rows if r["manager"] == "aws"}
    assert aws_managed and all(managers.get(k, "aws") == "aws" for k in aws_managed)
    shown = json.loads(CliRunner().invoke(cli, ["inventory", "--db", db, "--from", str(saved), "--format", "json"]).stdout)
    unused = sorted(r["key"] for r in shown if r["manager"] == "customer" and r["crypto_calls"] == 0)
    assert unused == truth["customer_managed_keys_without_crypto_use"]


def test_inventory_aliases_resolve_calls_the_trail_cannot(tmp_path: Path) -> None:
    """A call through an alias whose CreateAlias is not in the trail resolves through the inventory."""
    account, region, key_id = "111122223333", "eu-west-1", "1234abcd-12ab-34cd-56ef-1234567890ab"
    folder = tmp_path / "inv" / account / region
    (folder / "describe-key").mkdir(parents=True)
    (folder / "list-aliases.json").write_text(json.dumps({"Aliases": [
        {"AliasName": "alias/app", "AliasArn": f"arn:aws:kms:{region}:{account}:alias/app", "TargetKeyId": key_id,
         "CreationDate": 1790000000.0, "LastUpdatedDate": 1790000000.0}]}))  # fmt: skip
    (folder / "describe-key" / f"{key_id}.json").write_text(json.dumps({"KeyMetadata": {
        "KeyId": key_id, "Arn": f"arn:aws:kms:{region}:{account}:key/{key_id}", "KeyManager": "CUSTOMER",
        "KeyState": "Enabled", "CreationDate": "2026-09-01T00:00:00+00:00"}}))  # fmt: skip
    record = without(kms("Decrypt", user("alice", account), None, {"keyId": "alias/app"}, time="2026-10-02T00:00:00Z",
                         region=region, recipient=account, errorCode="AccessDenied"), "resources")
    trail = tmp_path / "one.json"
    trail.write_text(json.dumps({"Records": [record]}))
    with Store(str(tmp_path / "s.duckdb")) as store:
        from keytrail.pipeline import ingest
        from keytrail.sources.local import LocalSource

        ingest([LocalSource((str(trail),))], store, workers=1)
        assert store.query("SELECT key, key_resolved FROM key_use") == [(f"arn:aws:kms:{region}:{account}:alias/app", False)]
        run = import_inventory(store, str(tmp_path / "inv"), now=TAKEN)
        assert run.keys == 1 and not run.failures
        assert store.query("SELECT key, key_resolved FROM key_use") == [(f"arn:aws:kms:{region}:{account}:key/{key_id}", True)]


def test_unreadable_files_are_named_and_the_rest_imported(saved: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(saved / "inventory", copy)
    account = sorted(p.name for p in copy.iterdir())[0]
    region_dir = sorted((copy / account).iterdir())[0]
    broken = sorted((region_dir / "describe-key").iterdir())[0]
    broken.write_text("{truncated")
    (copy / "notes").mkdir()
    result = CliRunner().invoke(cli, ["inventory", "--db", str(tmp_path / "b.duckdb"), "--from", str(copy), "-q"])
    assert result.exit_code == 3
    assert f"keytrail: error: {account} {region_dir.name}: {broken}:" in result.stderr
    assert "is not an account folder" in result.stderr
    rows: list[Any] = [line for line in result.stdout.splitlines() if "arn:aws:kms" in line]
    assert rows and all(f":{region_dir.name}:{account}:" not in r for r in rows)
