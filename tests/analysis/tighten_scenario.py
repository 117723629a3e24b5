"""A key whose current policy has everything a proposal must handle -- key administrators, a
NotPrincipal Deny, a conditional statement, wildcards, an everyone-with-conditions statement, an
unused key user, grants (one used, one not) -- and a trail of its use: roles through S3 with
object contexts, a user through EBS, the root user, a federated user, another account's hidden
and named callers, CloudTrail's service principal, a SAML user no policy can name, and AWS KMS's
own rotation."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from tests import factory as fx
from tests.factory import scenario as tg

A, B = tg.ACCOUNT, tg.OTHER
KEY = tg.key_arn(701)
OTHER_KEY = tg.key_arn(702)
ADMIN = tg.role_arn("KeyAdmin")
APP = tg.role_arn("AppRole", path="/service-role/")
BATCH = tg.role_arn("BatchRole")
IDLE = tg.user_arn("idle")
EBS_USER = tg.user_arn("builder")
PARTNER = tg.role_arn("PartnerRole", B)
TRAIL_ARN = f"arn:aws:cloudtrail:us-east-1:{A}:trail/org-trail"

POLICY: dict[str, Any] = {
    "Version": "2012-10-17",
    "Id": "console-policy",
    "Statement": [
        {"Sid": "Enable IAM User Permissions", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{A}:root"},
         "Action": "kms:*", "Resource": "*"},
        {"Sid": "Allow access for Key Administrators", "Effect": "Allow", "Principal": {"AWS": [ADMIN]},
         "Action": ["kms:Create*", "kms:Describe*", "kms:Enable*", "kms:List*", "kms:Put*", "kms:Update*",
                    "kms:Revoke*", "kms:Disable*", "kms:Get*", "kms:Delete*", "kms:TagResource", "kms:UntagResource",
                    "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion"], "Resource": "*"},
        {"Sid": "Allow use of the key", "Effect": "Allow", "Principal": {"AWS": [APP, IDLE, BATCH]},
         "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"],
         "Resource": "*"},
        {"Sid": "Through S3 for the account", "Effect": "Allow", "Principal": {"AWS": "*"},
         "Action": ["kms:Decrypt", "kms:GenerateDataKey*"], "Resource": "*",
         "Condition": {"StringEquals": {"kms:CallerAccount": A, "kms:ViaService": "s3.us-east-1.amazonaws.com"}}},
        {"Sid": "Deny outside the organisation", "Effect": "Deny", "NotPrincipal": {"AWS": [f"arn:aws:iam::{A}:root", ADMIN]},
         "Action": "kms:ScheduleKeyDeletion", "Resource": "*"},
        {"Sid": "Deny plaintext data keys to the batch role", "Effect": "Deny", "Principal": {"AWS": BATCH},
         "Action": "kms:GenerateDataKey", "Resource": "*",
         "Condition": {"StringEquals": {"kms:EncryptionContext:purpose": "export"}}},
    ],
}  # fmt: skip

GRANTS = [
    {"KeyId": KEY, "GrantId": "grant-used-0001", "Name": "batch", "GranteePrincipal": BATCH,
     "Operations": ["Decrypt"], "IssuingAccount": f"arn:aws:iam::{A}:root", "CreationDate": "2026-09-01T00:00:00+00:00"},
    {"KeyId": KEY, "GrantId": "grant-idle-0002", "Name": "old-job", "GranteePrincipal": tg.role_arn("OldJob"),
     "RetiringPrincipal": ADMIN, "Operations": ["Decrypt", "GenerateDataKey"], "IssuingAccount": f"arn:aws:iam::{A}:root",
     "CreationDate": "2026-09-01T00:00:00+00:00", "Constraints": {"EncryptionContextSubset": {"app": "old"}}},
]  # fmt: skip


def trail(days: int = 40) -> tg.Trail:
    t = tg.Trail()
    app = tg.role_session("AppRole", "app-1", path="/service-role/", invoked_by="s3.amazonaws.com")
    batch = tg.role_session("BatchRole", "batch-1")
    builder = fx.user("builder")
    builder["invokedBy"] = "ec2.amazonaws.com"
    fed = {"type": "FederatedUser", "principalId": f"{A}:carol", "arn": f"arn:aws:sts::{A}:federated-user/carol",
           "accountId": A, "accessKeyId": "ASIAFEDERATEDCAROL01"}
    partner = tg.role_session("PartnerRole", "p-1", account=B)
    for day in range(days):
        when = tg.T0 + timedelta(days=day, hours=9)
        for bucket in ("orders", "invoices"):
            t.kms("GenerateDataKey", app, KEY, when, context={"aws:s3:arn": f"arn:aws:s3:::{bucket}/2026/{day}.csv"})
        t.kms("Decrypt", app, KEY, when + timedelta(minutes=1), context={"aws:s3:arn": "arn:aws:s3:::orders"})
        t.kms("Decrypt", batch, KEY, when + timedelta(minutes=2), context={"job": f"run-{day}"})
        t.kms("GenerateDataKeyWithoutPlaintext", builder, KEY, when + timedelta(minutes=3), context={"aws:ebs:id": f"vol-{day:04d}"})
        if day % 7 == 0:
            t.kms("Decrypt", tg.root(), KEY, when + timedelta(minutes=4))
            t.kms("Encrypt", fed, KEY, when + timedelta(minutes=5))
            t.cross_account("Decrypt", partner, KEY, when + timedelta(minutes=6))
            t.kms("DescribeKey", fx.hidden_copy(tg.role_session("Hidden", "h", account="999988887777")), KEY, when)
            t.kms("Decrypt", fx.hidden_copy(tg.role_session("Hidden", "h", account="999988887777")), KEY, when)
            t.kms("GenerateDataKey", tg.service("cloudtrail.amazonaws.com"), KEY, when, context={"aws:cloudtrail:arn": TRAIL_ARN})
            t.kms("Decrypt", tg.saml_user("dave", "corp-idp"), KEY, when)
            t.management("DescribeKey", tg.role_session("KeyAdmin", "admin"), KEY, when)
            t.kms("Decrypt", fx.user("intruder"), KEY, when, error="AccessDeniedException", message="not authorized")
    rotate = t.kms("RotateKey", {"accountId": A, "invokedBy": "kms.amazonaws.com"}, KEY, tg.T0 + timedelta(days=3))
    rotate["userIdentity"] = {"accountId": A, "invokedBy": "kms.amazonaws.com"}
    t.kms("Decrypt", tg.role_session("AppRole", "x", path="/service-role/"), OTHER_KEY, tg.T0)
    return t


def inventory() -> list[tg.InvKey]:
    return [tg.InvKey(KEY, policy=POLICY, grants=GRANTS, aliases=("alias/orders",)),
            tg.InvKey(OTHER_KEY, aliases=("alias/other",))]


def build(tmp: Path, with_inventory: bool = True, days: int = 40) -> tuple[Path, Path | None]:
    """(the archive, the inventory folder or None)."""
    archive = trail(days).write(tmp / "trail")
    inv = tg.write_inventory(tmp / "inventory", inventory()) if with_inventory else None
    return archive, inv
