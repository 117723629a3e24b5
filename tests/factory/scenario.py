"""The findings scenario: one account's archive that shows every finding kind once or more, and its
inventory at the end of the window.

AssumeRole chains whose credentials are used for KMS calls, Identity Center sessions
(``onBehalfOf``), keys disabled or scheduled for deletion and the calls that then fail, principals
that appear after a baseline window, the root user, calls from unexpected IP addresses and VPC
endpoints (``vpcEndpointId``), cross-account copies, and an inventory with key policies, grants and
tags. Built with ``tests/factory.py``; everything is deterministic: event ids count up, times are
given.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.factory import (
    ACCOUNT,
    OTHER,
    REGION,
    InvKey,
    Trail,
    default_policy,
    load_inventory_dir,
    role,
    role_arn,
    root,
    saml_user,
    service,
    user,
    user_arn,
    write_inventory,
)

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def key_arn(n: int, account: str = ACCOUNT, region: str = REGION) -> str:
    return f"arn:aws:kms:{region}:{account}:key/{uuid.UUID(int=n, version=4)}"


def role_session(name: str, session: str, account: str = ACCOUNT, path: str = "/", akid: str | None = None,
                 on_behalf_of: str | None = None, invoked_by: str | None = None) -> dict[str, Any]:
    """A session of the scenario's role ``name`` (one role, one unique id: see ``factory.role``)."""
    return role(name, path, session, account=account, akid=akid, on_behalf_of=on_behalf_of, invoked_by=invoked_by,
                created="2026-11-01T00:00:00Z")


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
    admin = user("admin")
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
    alice = user("alice", akid="AKIAALICEALICEALICE0")
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
    bob = user("bob")
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
