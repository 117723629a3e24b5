"""A small CloudTrail archive builder for the cases ../shared/tools/gen_trail.py does not make.

AssumeRole chains whose credentials are used for KMS calls, Identity Center sessions
(``onBehalfOf``), keys disabled or scheduled for deletion and the calls that then fail,
principals that appear after a baseline window, the root user, calls from unexpected IP
addresses and VPC endpoints (``vpcEndpointId``), cross-account copies, and an inventory in
gen_trail's layout (``inventory/ACCOUNT/REGION/list-aliases.json``, ``describe-key/ID.json``,
``get-key-policy/ID.json``; plus ``list-grants/ID.json`` and ``list-resource-tags/ID.json``).

Everything is deterministic: event ids count up, times are given.
"""

from __future__ import annotations

import gzip
import json
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ACCOUNT = "111122223333"
OTHER = "444455556666"
REGION = "us-east-1"
T0 = datetime(2026, 11, 1, tzinfo=UTC)


def key_arn(n: int, account: str = ACCOUNT, region: str = REGION) -> str:
    return f"arn:aws:kms:{region}:{account}:key/{uuid.UUID(int=n, version=4)}"


def key_id(arn: str) -> str:
    return arn.rsplit("/", 1)[1]


def role_arn(name: str, account: str = ACCOUNT, path: str = "/") -> str:
    return f"arn:aws:iam::{account}:role{path}{name}"


def user_arn(name: str, account: str = ACCOUNT) -> str:
    return f"arn:aws:iam::{account}:user/{name}"


def ts(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---- identities -------------------------------------------------------------------------------


def iam_user(name: str, account: str = ACCOUNT, akid: str | None = None) -> dict[str, Any]:
    return {
        "type": "IAMUser",
        "principalId": f"AIDA{name.upper():X<17}"[:21],
        "arn": user_arn(name, account),
        "accountId": account,
        "accessKeyId": akid or f"AKIA{name.upper():X<16}"[:20],
        "userName": name,
    }


def role_session(
    name: str,
    session: str,
    account: str = ACCOUNT,
    path: str = "/",
    akid: str | None = None,
    on_behalf_of: str | None = None,
    invoked_by: str | None = None,
) -> dict[str, Any]:
    uid = f"AROA{name.upper().replace('_', ''):X<17}"[:21]
    ident: dict[str, Any] = {
        "type": "AssumedRole",
        "principalId": f"{uid}:{session}",
        "arn": f"arn:aws:sts::{account}:assumed-role/{name}/{session}",
        "accountId": account,
        "accessKeyId": akid or f"ASIA{session.upper():X<16}"[:20],
        "sessionContext": {
            "sessionIssuer": {
                "type": "Role",
                "principalId": uid,
                "arn": role_arn(name, account, path),
                "accountId": account,
                "userName": name,
            },
            "attributes": {"creationDate": "2026-11-01T00:00:00Z", "mfaAuthenticated": "false"},
        },
    }
    if on_behalf_of:
        ident["onBehalfOf"] = {
            "userId": on_behalf_of,
            "identityStoreArn": f"arn:aws:identitystore::{account}:identitystore/d-1234567890",
        }
    if invoked_by:
        ident["invokedBy"] = invoked_by
    return ident


def hidden(ident: dict[str, Any]) -> dict[str, Any]:
    """The key owner's copy of a cross-account caller: AWSAccount, unique id only."""
    return {"type": "AWSAccount", "principalId": ident["principalId"], "accountId": ident["accountId"]}


def root(account: str = ACCOUNT) -> dict[str, Any]:
    return {
        "type": "Root",
        "principalId": account,
        "arn": f"arn:aws:iam::{account}:root",
        "accountId": account,
        "accessKeyId": "ASIAROOTROOTROOTROOT",
    }


def service(name: str) -> dict[str, Any]:
    return {"type": "AWSService", "invokedBy": name}


def saml_user(name: str, provider: str, account: str = ACCOUNT) -> dict[str, Any]:
    return {
        "type": "SAMLUser",
        "principalId": f"SAMLID:{name}",
        "userName": name,
        "identityProvider": f"arn:aws:iam::{account}:saml-provider/{provider}",
    }


# ---- the archive ------------------------------------------------------------------------------


@dataclass
class Trail:
    records: list[dict[str, Any]] = field(default_factory=list)
    n: int = 0

    def _base(self, source: str, name: str, ident: dict[str, Any], when: datetime, account: str, region: str,
              ip: str, read_only: bool) -> dict[str, Any]:
        self.n += 1
        return {
            "eventVersion": "1.10",
            "userIdentity": ident,
            "eventTime": ts(when),
            "eventSource": source,
            "eventName": name,
            "awsRegion": region,
            "sourceIPAddress": ip,
            "userAgent": "aws-cli/2.17.20",
            "requestParameters": None,
            "responseElements": None,
            "requestID": str(uuid.UUID(int=10**9 + self.n, version=4)),
            "eventID": str(uuid.UUID(int=self.n, version=4)),
            "readOnly": read_only,
            "eventType": "AwsApiCall",
            "managementEvent": True,
            "recipientAccountId": account,
            "eventCategory": "Management",
        }

    def kms(
        self,
        name: str,
        ident: dict[str, Any],
        key: str,
        when: datetime,
        *,
        error: str | None = None,
        message: str | None = None,
        ip: str = "10.0.1.15",
        vpce: str | None = None,
        context: dict[str, str] | None = None,
        key_ref: str | None = None,
        recipient: str | None = None,
        shared: str | None = None,
        resources: bool = True,
    ) -> dict[str, Any]:
        """One KMS call on ``key`` (named in the request as ``key_ref``, default the key ARN)."""
        parts = key.split(":")
        region, account = parts[3], parts[4]
        rec = self._base("kms.amazonaws.com", name, ident, when, recipient or account, region, ip,
                         name not in ("CreateKey", "ScheduleKeyDeletion", "DisableKey", "EnableKey",
                                      "CreateAlias", "PutKeyPolicy", "CreateGrant"))
        params: dict[str, Any] = {"keyId": key_ref or key}
        if context:
            params["encryptionContext"] = context
        rec["requestParameters"] = params
        if resources:
            rec["resources"] = [{"accountId": account, "type": "AWS::KMS::Key", "ARN": key}]
        if error:
            rec["errorCode"] = error
            rec["errorMessage"] = message
        if vpce:
            rec["vpcEndpointId"] = vpce
        if shared:
            rec["sharedEventID"] = shared
        self.records.append(rec)
        return rec

    def cross_account(self, name: str, ident: dict[str, Any], key: str, when: datetime, **kw: Any) -> None:
        """A call on another account's key: the caller's copy and the key owner's hidden copy."""
        self.n += 1
        shared = str(uuid.UUID(int=5 * 10**9 + self.n, version=4))
        self.kms(name, ident, key, when, recipient=ident["accountId"], shared=shared, **kw)
        self.kms(name, hidden(ident), key, when, shared=shared, **kw)

    def assume_role(
        self,
        caller: dict[str, Any],
        role: str,
        session: str,
        when: datetime,
        akid: str,
        event: str = "AssumeRole",
        account: str = ACCOUNT,
        region: str = REGION,
    ) -> dict[str, Any]:
        """An STS call that hands out ``akid`` for a session of ``role``."""
        ip = caller.get("invokedBy") or "203.0.113.5"
        rec = self._base("sts.amazonaws.com", event, caller, when, account, region, ip, True)
        rec["requestParameters"] = {"roleArn": role, "roleSessionName": session, "durationSeconds": 3600}
        rec["responseElements"] = {
            "credentials": {"accessKeyId": akid, "sessionToken": "IQoJb3JpZ2luX2Vj", "expiration": "Nov 1, 2026, 9:44:34 AM"},
            "assumedRoleUser": {"assumedRoleId": f"AROAEXAMPLE:{session}",
                                "arn": f"arn:aws:sts::{account}:assumed-role/{role.rsplit('/', 1)[1]}/{session}"},
        }
        self.records.append(rec)
        return rec

    def management(self, name: str, ident: dict[str, Any], key: str, when: datetime, **params: Any) -> dict[str, Any]:
        rec = self.kms(name, ident, key, when, ip="203.0.113.5")
        rec["requestParameters"] = {"keyId": key_id(key), **params}
        if name == "CreateKey":
            rec["requestParameters"] = {"keyUsage": "ENCRYPT_DECRYPT", "keySpec": "SYMMETRIC_DEFAULT"}
            rec["responseElements"] = {"keyMetadata": {"arn": key, "keyId": key_id(key), "keyManager": "CUSTOMER"}}
        return rec

    def create_alias(self, ident: dict[str, Any], alias: str, key: str, when: datetime) -> dict[str, Any]:
        rec = self.kms("CreateAlias", ident, key, when, ip="203.0.113.5")
        parts = key.split(":")
        rec["requestParameters"] = {"aliasName": alias, "targetKeyId": key_id(key)}
        rec["resources"] = [
            {"accountId": parts[4], "type": "AWS::KMS::Key", "ARN": f"arn:aws:kms:{parts[3]}:{parts[4]}:{alias}"},
            {"accountId": parts[4], "type": "AWS::KMS::Key", "ARN": key},
        ]
        return rec

    def other(self, source: str, name: str, ident: dict[str, Any], when: datetime, account: str = ACCOUNT,
              region: str = REGION) -> dict[str, Any]:
        rec = self._base(source, name, ident, when, account, region, "203.0.113.5", True)
        self.records.append(rec)
        return rec

    def write(self, out: Path) -> Path:
        """Log files in the S3 layout, one per account, Region and day: ``out/AWSLogs/...``."""
        groups: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
        for r in self.records:
            groups[(r["recipientAccountId"], r["awsRegion"], r["eventTime"][:10])].append(r)
        for (acct, region, day), recs in sorted(groups.items()):
            d = out / "AWSLogs" / acct / "CloudTrail" / region / day.replace("-", "/")
            d.mkdir(parents=True, exist_ok=True)
            stem = f"{acct}_CloudTrail_{region}_{day.replace('-', '')}T0000Z_Gen{len(recs):012d}"
            with gzip.open(d / f"{stem}.json.gz", "wb") as f:
                f.write(json.dumps({"Records": sorted(recs, key=lambda r: r["eventTime"])}).encode())
        return out


# ---- the inventory ----------------------------------------------------------------------------


@dataclass
class InvKey:
    arn: str
    manager: str = "CUSTOMER"
    state: str = "Enabled"
    policy: dict[str, Any] | None = None
    grants: list[dict[str, Any]] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()


def default_policy(account: str, users: list[str] | None = None, sid: str = "Allow use of the key") -> dict[str, Any]:
    """gen_trail's key policy: the account root (IAM delegation) and a statement naming users."""
    stmts: list[dict[str, Any]] = [
        {"Sid": "Enable IAM User Permissions", "Effect": "Allow",
         "Principal": {"AWS": f"arn:aws:iam::{account}:root"}, "Action": "kms:*", "Resource": "*"}
    ]
    if users:
        stmts.append({"Sid": sid, "Effect": "Allow", "Principal": {"AWS": users},
                      "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"],
                      "Resource": "*"})
    return {"Version": "2012-10-17", "Id": "key-default-1", "Statement": stmts}


def write_inventory(out: Path, keys: list[InvKey]) -> Path:
    """``out/ACCOUNT/REGION/...`` in gen_trail's layout (the shapes the AWS CLI prints)."""
    by_region: dict[tuple[str, str], list[InvKey]] = defaultdict(list)
    for k in keys:
        parts = k.arn.split(":")
        by_region[(parts[4], parts[3])].append(k)
    for (acct, region), ks in by_region.items():
        d = out / acct / region
        for sub in ("describe-key", "get-key-policy", "list-grants", "list-resource-tags"):
            (d / sub).mkdir(parents=True, exist_ok=True)
        aliases = [
            {"AliasName": a, "AliasArn": f"arn:aws:kms:{region}:{acct}:{a}", "TargetKeyId": key_id(k.arn),
             "CreationDate": "2026-09-01T00:00:00+00:00", "LastUpdatedDate": "2026-10-01T00:00:00+00:00"}
            for k in ks for a in k.aliases
        ]
        (d / "list-aliases.json").write_text(json.dumps({"Aliases": aliases}))
        for k in ks:
            kid = key_id(k.arn)
            meta = {"AWSAccountId": acct, "KeyId": kid, "Arn": k.arn, "CreationDate": "2026-09-01T00:00:00+00:00",
                    "Enabled": k.state == "Enabled", "KeyState": k.state, "KeyManager": k.manager,
                    "KeyUsage": "ENCRYPT_DECRYPT", "KeySpec": "SYMMETRIC_DEFAULT", "MultiRegion": False}
            if k.state == "PendingDeletion":
                meta["DeletionDate"] = "2026-12-31T00:00:00+00:00"
            (d / "describe-key" / f"{kid}.json").write_text(json.dumps({"KeyMetadata": meta}))
            policy = k.policy or default_policy(acct)
            (d / "get-key-policy" / f"{kid}.json").write_text(
                json.dumps({"Policy": json.dumps(policy), "PolicyName": "default"}))
            if k.grants:
                (d / "list-grants" / f"{kid}.json").write_text(json.dumps({"Grants": k.grants}))
            if k.tags:
                tags = [{"TagKey": t, "TagValue": v} for t, v in sorted(k.tags.items())]
                (d / "list-resource-tags" / f"{kid}.json").write_text(json.dumps({"Tags": tags}))
    return out


def load_inventory_dir(store: Any, root: Path, taken_at: str = "2026-12-01 00:00:00") -> int:
    """Load an inventory in gen_trail's layout into the store: with ``keytrail.inventory``'s
    ``import_inventory`` (what ``keytrail inventory --from DIR`` runs) where this keytrail has it,
    else straight into the inventory tables. Returns the number of keys loaded."""
    try:
        from keytrail.pipeline import import_inventory
    except ImportError:
        return _load_inventory_tables(store, root, taken_at)
    run = import_inventory(store, str(root), datetime.fromisoformat(taken_at))
    assert not run.failures, run.failures
    return int(run.keys)


def _load_inventory_tables(store: Any, root: Path, taken_at: str) -> int:
    con = store.con
    n = 0
    for acct_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        for region_dir in sorted(p for p in acct_dir.iterdir() if p.is_dir()):
            acct, region = acct_dir.name, region_dir.name
            aliases = json.loads((region_dir / "list-aliases.json").read_text()).get("Aliases", [])
            for a in aliases:
                target = f"arn:aws:kms:{region}:{acct}:key/{a['TargetKeyId']}" if a.get("TargetKeyId") else None
                con.execute("INSERT INTO inventory_aliases VALUES (?, ?, ?, ?, ?, ?, ?)",
                            [a["AliasArn"], a["AliasName"], acct, region, target, None, taken_at])
            for f in sorted((region_dir / "describe-key").glob("*.json")):
                m = json.loads(f.read_text())["KeyMetadata"]
                con.execute(
                    "INSERT INTO inventory_keys VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'files')",
                    [m["Arn"], acct, region, m["KeyId"], m.get("KeyManager"), m.get("KeyState"), m.get("Enabled"),
                     m.get("Description"), m.get("KeyUsage"), m.get("KeySpec"), m.get("MultiRegion"),
                     m.get("CreationDate"), m.get("DeletionDate"), None, taken_at],
                )
                n += 1
                kid = m["KeyId"]
                pol = region_dir / "get-key-policy" / f"{kid}.json"
                if pol.exists():
                    p = json.loads(pol.read_text())
                    con.execute("INSERT INTO inventory_policies VALUES (?, ?, ?, ?)",
                                [m["Arn"], p.get("PolicyName", "default"), p["Policy"], taken_at])
                grants = region_dir / "list-grants" / f"{kid}.json"
                if grants.exists():
                    for g in json.loads(grants.read_text()).get("Grants", []):
                        con.execute(
                            "INSERT INTO inventory_grants VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                            [m["Arn"], g["GrantId"], g.get("Name"), g.get("GranteePrincipal"), g.get("RetiringPrincipal"),
                             g.get("IssuingAccount"), g.get("Operations", []),
                             json.dumps(g["Constraints"]) if g.get("Constraints") else None, taken_at],
                        )
                tags = region_dir / "list-resource-tags" / f"{kid}.json"
                if tags.exists():
                    for t in json.loads(tags.read_text()).get("Tags", []):
                        con.execute("INSERT INTO inventory_tags VALUES (?, ?, ?)", [m["Arn"], t["TagKey"], t["TagValue"]])
    return n


# ---- the scenario most tests share ---------------------------------------------------------------

BASELINE_END = T0 + timedelta(days=7)  # the window of the scenario starts here

K_APP = key_arn(1)
K_DORMANT = key_arn(2)
K_RETIRING = key_arn(3)
K_DISABLED = key_arn(4)
K_SHARED = key_arn(5)  # used from another account
K_NEVER = key_arn(6)  # only in the inventory
K_EU = key_arn(7, region="eu-west-1")  # a Region whose trail has no cryptographic calls
K_AWS = key_arn(8)  # AWS managed (alias/aws/s3)

APP_ROLE = role_arn("AppRole", path="/service-role/")
NEW_ROLE = role_arn("NewRole")
UNUSED_ROLE = role_arn("UnusedRole")
DEPLOY_ROLE = role_arn("DeployRole")
LAMBDA_ROLE = role_arn("LambdaRole")
SSO_ROLE = role_arn("AWSReservedSSO_Admin_0123456789abcdef", path="/aws-reserved/sso.amazonaws.com/")
PARTNER_ROLE = role_arn("PartnerRole", account=OTHER)
ALICE = user_arn("alice")
BOB = user_arn("bob")
IC_USER = "94482488-3041-7026-18f3-be45837cd0e4"
ALLOWED_VPCE = "vpce-0a1b2c3d4e5f60001"


def scenario() -> Trail:
    """One account's archive that shows every finding kind once or more (see the tests)."""
    t = Trail()
    admin = iam_user("admin")
    d = T0
    # setup, in the baseline: keys created, aliases
    for k in (K_APP, K_DORMANT, K_RETIRING, K_DISABLED, K_SHARED):
        t.management("CreateKey", admin, k, d)
    t.management("CreateKey", admin, K_EU, d)
    t.create_alias(admin, "alias/app", K_APP, d + timedelta(seconds=1))
    # baseline: AppRole uses the app key from inside the VPC
    app = role_session("AppRole", "i-0a1b2c3d4e5f67890", path="/service-role/", akid="ASIAAPPBASELINE00001")
    for i in range(3):
        t.kms("GenerateDataKey", app, K_APP, d + timedelta(hours=1 + i), vpce=ALLOWED_VPCE, key_ref="alias/app",
              context={"aws:s3:arn": "arn:aws:s3:::orders/a.parquet"})
    t.kms("Decrypt", app, K_RETIRING, d + timedelta(hours=5), vpce=ALLOWED_VPCE)
    t.kms("Decrypt", app, K_DISABLED, d + timedelta(hours=6), vpce=ALLOWED_VPCE)
    t.kms("Decrypt", service("s3.amazonaws.com"), K_AWS, d + timedelta(hours=7, minutes=1), ip="s3.amazonaws.com",
          key_ref="alias/aws/s3")

    w = BASELINE_END
    # the window: the chain alice -> DeployRole -> AppRole, whose credentials decrypt
    alice = iam_user("alice", akid="AKIAALICEALICEALICE0")
    t.assume_role(alice, DEPLOY_ROLE, "alice-deploy", w + timedelta(minutes=1), "ASIADEPLOYCHAIN00001")
    deploy = role_session("DeployRole", "alice-deploy", akid="ASIADEPLOYCHAIN00001")
    t.assume_role(deploy, APP_ROLE, "release-42", w + timedelta(minutes=2), "ASIAAPPCHAIN00000001")
    chained = role_session("AppRole", "release-42", path="/service-role/", akid="ASIAAPPCHAIN00000001")
    t.kms("Decrypt", chained, K_APP, w + timedelta(minutes=3), vpce=ALLOWED_VPCE)
    t.kms("GenerateDataKey", app, K_APP, w + timedelta(minutes=4), vpce=ALLOWED_VPCE)
    # a new principal, first seen in the window, from a public address without the endpoint
    new = role_session("NewRole", "batch-7", akid="ASIANEWROLE000000001")
    t.kms("Encrypt", new, K_APP, w + timedelta(hours=1), ip="198.51.100.7")
    t.kms("Encrypt", new, K_APP, w + timedelta(hours=2), ip="198.51.100.7")
    # through another VPC endpoint
    t.kms("Decrypt", app, K_APP, w + timedelta(hours=3), ip="10.0.9.9", vpce="vpce-0ffffffffffff0002")
    # Identity Center: an SSO session with onBehalfOf, and one named by its session only
    sso = role_session("AWSReservedSSO_Admin_0123456789abcdef", "carol@example.com",
                       path="/aws-reserved/sso.amazonaws.com/", akid="ASIASSOCAROL00000001", on_behalf_of=IC_USER)
    t.kms("Decrypt", sso, K_APP, w + timedelta(hours=4), ip="192.0.2.44")
    sso2 = role_session("AWSReservedSSO_Admin_0123456789abcdef", "dave@example.com",
                        path="/aws-reserved/sso.amazonaws.com/", akid="ASIASSODAVE000000001")
    t.kms("Decrypt", sso2, K_APP, w + timedelta(hours=5), ip="192.0.2.45")
    # a Lambda function's role: credentials handed out to the service
    t.assume_role(service("lambda.amazonaws.com"), LAMBDA_ROLE, "orders-fn", w + timedelta(hours=6), "ASIALAMBDA0000000001")
    lam = role_session("LambdaRole", "orders-fn", akid="ASIALAMBDA0000000001")
    t.kms("Decrypt", lam, K_APP, w + timedelta(hours=6, minutes=1), ip="3.80.1.2",
          context={"aws:lambda:FunctionArn": "arn:aws:lambda:us-east-1:111122223333:function:orders-fn"})
    # a SAML federation straight into a role
    t.assume_role(saml_user("erin", "Okta"), DEPLOY_ROLE, "erin", w + timedelta(hours=7), "ASIASAMLERIN00000001",
                  event="AssumeRoleWithSAML")
    t.kms("Decrypt", role_session("DeployRole", "erin", akid="ASIASAMLERIN00000001"), K_APP, w + timedelta(hours=7, minutes=1))
    # a service principal the key policy does not name; S3 on AppRole's behalf on the AWS managed key
    t.kms("GenerateDataKey", service("cloudtrail.amazonaws.com"), K_APP, w + timedelta(hours=7, minutes=30),
          ip="cloudtrail.amazonaws.com", context={"aws:cloudtrail:arn": "arn:aws:cloudtrail:us-east-1:111122223333:trail/main"})
    t.kms("GenerateDataKey", role_session("AppRole", "i-0a1b2c3d4e5f67890", path="/service-role/",
                                          akid="ASIAAPPBASELINE00001", invoked_by="s3.amazonaws.com"),
          K_AWS, w + timedelta(hours=7, minutes=40), ip="s3.amazonaws.com", key_ref="alias/aws/s3",
          context={"aws:s3:arn": "arn:aws:s3:::orders/b.parquet"})
    # the root user
    t.kms("Decrypt", root(), K_APP, w + timedelta(hours=8), ip="198.51.100.99")
    # denied attempts: bob, by alias; a partner account's role
    bob = iam_user("bob")
    for i in range(2):
        t.kms("GenerateDataKey", bob, K_APP, w + timedelta(hours=9, minutes=i), key_ref="alias/app", resources=False,
              error="AccessDenied",
              message=f"User: {BOB} is not authorized to perform: kms:GenerateDataKey because no identity-based policy allows it")
    partner = role_session("PartnerRole", "sync", account=OTHER, akid="ASIAPARTNER000000001")
    t.kms("Decrypt", partner, K_APP, w + timedelta(hours=10), recipient=OTHER, ip="198.51.100.50", error="AccessDenied",
          message="User: arn:aws:sts::444455556666:assumed-role/PartnerRole/sync is not authorized to perform: kms:Decrypt")
    # cross-account use of the shared key (two copies, one sharedEventID)
    t.cross_account("Decrypt", partner, K_SHARED, w + timedelta(hours=11), ip="198.51.100.50")
    # the retiring key: scheduled for deletion, then still called
    t.management("ScheduleKeyDeletion", admin, K_RETIRING, w + timedelta(days=1), pendingWindowInDays=30)
    for i in range(2):
        t.kms("Decrypt", app, K_RETIRING, w + timedelta(days=1, hours=1 + i), vpce=ALLOWED_VPCE,
              error="KMSInvalidStateException", message=f"{K_RETIRING} is pending deletion.")
    t.kms("Decrypt", alice, K_RETIRING, w + timedelta(days=1, hours=4), error="KMSInvalidStateException",
          message=f"{K_RETIRING} is pending deletion.")
    # the disabled key
    t.management("DisableKey", admin, K_DISABLED, w + timedelta(days=2))
    t.kms("Decrypt", bob, K_DISABLED, w + timedelta(days=2, hours=1), error="DisabledException",
          message=f"{K_DISABLED} is disabled.")
    # eu-west-1: management events only (a trail that logs no read-only events there)
    t.management("DescribeKey", admin, K_EU, w + timedelta(days=2))
    return t


def scenario_inventory() -> list[InvKey]:
    """The inventory of the scenario's account at the end of the window."""
    return [
        InvKey(K_APP, policy=default_policy(ACCOUNT, [APP_ROLE, NEW_ROLE, UNUSED_ROLE]), aliases=("alias/app",),
               tags={"env": "prod", "team": "orders"},
               grants=[
                   {"GrantId": "grant-lambda-0001", "Name": "orders-fn", "GranteePrincipal": LAMBDA_ROLE,
                    "Operations": ["Decrypt"], "IssuingAccount": f"arn:aws:iam::{ACCOUNT}:root"},
                   {"GrantId": "grant-old-0002", "GranteePrincipal": role_arn("OldBatchRole"),
                    "Operations": ["Decrypt", "GenerateDataKey"], "IssuingAccount": f"arn:aws:iam::{ACCOUNT}:root"},
               ]),
        InvKey(K_DORMANT, tags={"env": "dev"}),
        InvKey(K_RETIRING, state="PendingDeletion"),
        InvKey(K_DISABLED, state="Disabled"),
        InvKey(K_SHARED, policy={"Version": "2012-10-17", "Statement": [
            {"Sid": "Enable IAM User Permissions", "Effect": "Allow",
             "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "kms:*", "Resource": "*"},
            {"Sid": "PartnerDecrypt", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{OTHER}:root"},
             "Action": "kms:Decrypt", "Resource": "*"}]}),
        InvKey(K_NEVER),
        InvKey(K_EU),
        InvKey(K_AWS, manager="AWS", aliases=("alias/aws/s3",), policy={"Version": "2012-10-17", "Statement": [
            {"Sid": "Allow access through S3 for all principals in the account", "Effect": "Allow",
             "Principal": {"AWS": "*"}, "Action": ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey*"], "Resource": "*",
             "Condition": {"StringEquals": {"kms:CallerAccount": ACCOUNT, "kms:ViaService": "s3.us-east-1.amazonaws.com"}}}]}),
    ]


def scenario_store(tmp: Path, inventory: bool = True, db: str | None = None) -> Any:
    """The scenario written under ``tmp``, ingested into a store (on disk when ``db`` is given)."""
    from keytrail.pipeline import ingest
    from keytrail.sources.local import LocalSource
    from keytrail.store import Store

    scenario().write(tmp / "trail")
    store = Store(db)
    ingest([LocalSource((str(tmp / "trail"),))], store, workers=1)
    if inventory:
        write_inventory(tmp / "inventory", scenario_inventory())
        load_inventory_dir(store, tmp / "inventory")
    return store
