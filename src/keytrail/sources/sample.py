"""The bundled sample trail: the question keytrail was built to answer, in one small archive.

An IAM user ``test-user`` uploads to and downloads from the SSE-KMS bucket
``test-s3-kms-for-blog`` (S3 calls GenerateDataKey and Decrypt on the user's behalf, invokedBy
"AWS Internal"); an application role, a CloudTrail service principal, a cross-account caller
(logged in both accounts, one sharedEventID) and a denied attempt through an alias use the same
or other keys. ``python -m keytrail.sources.sample DIR`` writes it; the package ships the result
under ``keytrail/data/sample-trail`` and a test checks that the two agree.
"""

from __future__ import annotations

import gzip
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from keytrail.times import iso

ACCOUNT = "111122223333"
PARTNER = "444455556666"
REGION = "us-east-1"
BUCKET_KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"
BUCKET_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{BUCKET_KEY_ID}"
APP_KEY_ID = "0987dcba-09fe-87dc-65ba-ab0987654321"
APP_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{APP_KEY_ID}"
S3_MANAGED_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/8b1f2a3c-4d5e-6f70-8192-a3b4c5d6e7f8"
START = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


def _t(minutes: float) -> str:
    return iso(START + timedelta(minutes=minutes))


def _uuid(n: int, salt: int = 0) -> str:
    return f"{(n * 2654435761 + salt * 97) & 0xFFFFFFFF:08x}-{n % 9999:04d}-4{salt % 999:03d}-8{n % 999:03d}-{n * 7919 % 10**12:012d}"


def _user(name: str) -> dict[str, Any]:
    return {
        "type": "IAMUser",
        "principalId": "AIDAEXAMPLE" + name.upper().replace("-", "")[:8].ljust(8, "X"),
        "arn": f"arn:aws:iam::{ACCOUNT}:user/{name}",
        "accountId": ACCOUNT,
        "accessKeyId": "AKIAEXAMPLE" + name.upper().replace("-", "")[:9].ljust(9, "X"),
        "userName": name,
    }


def _role(account: str, name: str, path: str, session: str, uid: str) -> dict[str, Any]:
    return {
        "type": "AssumedRole",
        "principalId": f"{uid}:{session}",
        "arn": f"arn:aws:sts::{account}:assumed-role/{name}/{session}",
        "accountId": account,
        "accessKeyId": "ASIAEXAMPLE" + uid[-9:],
        "sessionContext": {
            "sessionIssuer": {"type": "Role", "principalId": uid, "arn": f"arn:aws:iam::{account}:role{path}{name}",
                              "accountId": account, "userName": name},
            "attributes": {"creationDate": _t(-30), "mfaAuthenticated": "false"},
        },
    }


def _kms(n: int, minute: float, name: str, identity: dict[str, Any], key: str, params: dict[str, Any] | None,
         agent: str = "aws-cli/2.17.20 md/awscrt#0.20.11 ua/2.0 os/linux#6.1.0 lang/python#3.11.9",
         ip: str = "198.51.100.24", recipient: str = ACCOUNT, **extra: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "eventVersion": "1.10",
        "userIdentity": identity,
        "eventTime": _t(minute),
        "eventSource": "kms.amazonaws.com",
        "eventName": name,
        "awsRegion": REGION,
        "sourceIPAddress": ip,
        "userAgent": agent,
        "requestParameters": params,
        "responseElements": None,
        "requestID": _uuid(n, 1),
        "eventID": _uuid(n, 2),
        "readOnly": name not in ("CreateAlias", "CreateKey"),
        "resources": [{"accountId": key.split(":")[4], "type": "AWS::KMS::Key", "ARN": key}] if key else [],
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": recipient,
        "eventCategory": "Management",
    }
    record.update(extra)
    return record


def records() -> list[dict[str, Any]]:
    """The sample's CloudTrail records, in time order."""
    out: list[dict[str, Any]] = []
    n = 0

    def add(record: dict[str, Any]) -> None:
        nonlocal n
        out.append(record)
        n += 1

    admin = _user("admin")
    add(_kms(n, 0, "CreateAlias", admin, BUCKET_KEY, {"aliasName": "alias/blog-bucket-key", "targetKeyId": BUCKET_KEY_ID},
             resources=[{"accountId": ACCOUNT, "type": "AWS::KMS::Key", "ARN": f"arn:aws:kms:{REGION}:{ACCOUNT}:alias/blog-bucket-key"},
                        {"accountId": ACCOUNT, "type": "AWS::KMS::Key", "ARN": BUCKET_KEY}]))
    add(_kms(n, 0.5, "CreateAlias", admin, APP_KEY, {"aliasName": "alias/app-data", "targetKeyId": APP_KEY},
             resources=[{"accountId": ACCOUNT, "type": "AWS::KMS::Key", "ARN": f"arn:aws:kms:{REGION}:{ACCOUNT}:alias/app-data"},
                        {"accountId": ACCOUNT, "type": "AWS::KMS::Key", "ARN": APP_KEY}]))
    test_user = dict(_user("test-user"), invokedBy="AWS Internal")
    for i in range(12):  # uploads and downloads through S3 (SSE-KMS without a bucket key)
        obj = f"arn:aws:s3:::test-s3-kms-for-blog/reports/2026-11-{i + 1:02d}.csv"
        if i % 3 != 2:
            add(_kms(n, 5 + i * 7, "GenerateDataKey", test_user, BUCKET_KEY,
                     {"keyId": BUCKET_KEY, "encryptionContext": {"aws:s3:arn": obj}, "keySpec": "AES_256"},
                     agent="AWS Internal", ip="AWS Internal"))
        add(_kms(n, 6 + i * 7, "Decrypt", test_user, BUCKET_KEY,
                 {"encryptionContext": {"aws:s3:arn": obj}, "encryptionAlgorithm": "SYMMETRIC_DEFAULT"},
                 agent="AWS Internal", ip="AWS Internal"))
    app = _role(ACCOUNT, "AppServerRole", "/service-role/", "i-0a1b2c3d4e5f67890", "AROAEXAMPLEAPPSERVER")
    for i in range(6):
        add(_kms(n, 10 + i * 11, "Decrypt" if i % 2 else "GenerateDataKey", app, APP_KEY,
                 {"keyId": "alias/app-data", "encryptionContext": {"tenant": f"t-{i % 3}"}},
                 agent="aws-sdk-java/2.25.60 Linux/5.10.219 Java/17.0.11", ip="10.0.12.34"))
    trail = {"type": "AWSService", "invokedBy": "cloudtrail.amazonaws.com"}
    for i in range(3):
        add(_kms(n, 15 + i * 20, "GenerateDataKey", trail, BUCKET_KEY,
                 {"keyId": BUCKET_KEY, "encryptionContext": {"aws:cloudtrail:arn": f"arn:aws:cloudtrail:{REGION}:{ACCOUNT}:trail/management"}},
                 agent="cloudtrail.amazonaws.com", ip="cloudtrail.amazonaws.com"))
    # an AWS managed key, used by S3 for another bucket
    add(_kms(n, 40, "Decrypt", test_user, S3_MANAGED_KEY,
             {"encryptionContext": {"aws:s3:arn": "arn:aws:s3:::legacy-exports/2019/summary.csv"}},
             agent="AWS Internal", ip="AWS Internal"))
    # a cross-account caller: one call, logged in both accounts with one sharedEventID
    partner = _role(PARTNER, "ReportReader", "/", "nightly-export", "AROAEXAMPLEPARTNER01")
    for j in range(2):
        shared = _uuid(1000 + j, 3)
        params = {"keyId": BUCKET_KEY, "encryptionContext": {"aws:s3:arn": "arn:aws:s3:::test-s3-kms-for-blog/reports/2026-11-01.csv"}}
        add(_kms(n, 50 + j, "Decrypt", partner, BUCKET_KEY, params, ip="203.0.113.77", recipient=PARTNER, sharedEventID=shared))
        hidden = {"type": "AWSAccount", "principalId": "AROAEXAMPLEPARTNER01:nightly-export", "accountId": PARTNER}
        add(_kms(n, 50 + j, "Decrypt", hidden, BUCKET_KEY, params, ip="203.0.113.77", sharedEventID=shared))
    # a denied attempt through an alias: the record names the key only as the caller did
    intern = _user("intern")
    add(_kms(n, 70, "Decrypt", intern, "", {"keyId": "alias/app-data"}, ip="198.51.100.99",
             errorCode="AccessDenied",
             errorMessage=f"User: arn:aws:iam::{ACCOUNT}:user/intern is not authorized to perform: kms:Decrypt "
                          "because no identity-based policy allows the kms:Decrypt action"))
    out.sort(key=lambda r: (r["eventTime"], r["eventID"]))
    return out


def files() -> dict[str, bytes]:
    """Relative path -> gzipped log file, in CloudTrail's S3 layout (one file per account)."""
    by_account: dict[str, list[dict[str, Any]]] = {}
    for r in records():
        by_account.setdefault(r["recipientAccountId"], []).append(r)
    out = {}
    for account, recs in sorted(by_account.items()):
        stamp = START.strftime("%Y%m%dT%H%MZ")
        path = f"AWSLogs/{account}/CloudTrail/{REGION}/{START:%Y/%m/%d}/{account}_CloudTrail_{REGION}_{stamp}_SampleTrail0001.json.gz"
        body = json.dumps({"Records": recs}, separators=(",", ":")).encode()
        out[path] = gzip.compress(body, mtime=0)
    return out


def sample_dir() -> Path:
    """Where the bundled sample lives inside the installed package."""
    return Path(__file__).resolve().parents[1] / "data" / "sample-trail"


def write(root: Path) -> None:
    for rel, data in files().items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)


if __name__ == "__main__":
    write(Path(sys.argv[1]) if len(sys.argv) > 1 else sample_dir())
