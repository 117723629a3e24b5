"""Fixtures made by code: small CloudTrail records, files of every shape keytrail reads or skips,
and a helper that runs record lists through the real pipeline (``Store`` + ``ingest``).

Nothing here reads ../shared; tests that need the published corpus use ``tests.conftest.CORPUS``.
"""

from __future__ import annotations

import gzip
import itertools
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from keytrail.pipeline import IngestReport, ingest
from keytrail.sources.local import LocalSource
from keytrail.store import Store

ACCOUNT = "111122223333"
OTHER = "444455556666"
REGION = "us-east-1"
T0 = "2026-10-01T12:00:00Z"

Record = dict[str, Any]

_ids = itertools.count(1)


def event_id() -> str:
    return f"00000000-0000-4000-8000-{next(_ids):012d}"


def key_arn(key_id: str, account: str = ACCOUNT, region: str = REGION) -> str:
    return f"arn:aws:kms:{region}:{account}:key/{key_id}"


def alias_arn(name: str, account: str = ACCOUNT, region: str = REGION) -> str:
    return f"arn:aws:kms:{region}:{account}:{name}"


KEY_A = key_arn("1111aaaa-1111-4111-8111-111111111111")
KEY_B = key_arn("2222bbbb-2222-4222-8222-222222222222")
KEY_C = key_arn("3333cccc-3333-4333-8333-333333333333")


# ---- identities ------------------------------------------------------------------------------


def user(name: str, account: str = ACCOUNT, uid: str | None = None, **extra: Any) -> Record:
    return {
        "type": "IAMUser",
        "principalId": uid or f"AIDA{name.upper()[:12].ljust(12, 'X')}",
        "arn": f"arn:aws:iam::{account}:user/{name}",
        "accountId": account,
        "accessKeyId": f"AKIA{name.upper()[:12].ljust(12, 'X')}",
        "userName": name,
        **extra,
    }


def role(
    name: str,
    path: str = "/",
    session: str = "session-1",
    uid: str = "AROAEXAMPLEROLE00001",
    account: str = ACCOUNT,
    **extra: Any,
) -> Record:
    return {
        "type": "AssumedRole",
        "principalId": f"{uid}:{session}",
        "arn": f"arn:aws:sts::{account}:assumed-role/{name}/{session}",
        "accountId": account,
        "accessKeyId": "ASIAEXAMPLE" + uid[-9:],
        "sessionContext": {
            "sessionIssuer": {
                "type": "Role",
                "principalId": uid,
                "arn": f"arn:aws:iam::{account}:role{path}{name}",
                "accountId": account,
                "userName": name,
            },
            "attributes": {"creationDate": "2026-10-01T11:00:00Z", "mfaAuthenticated": "false"},
        },
        **extra,
    }


def service(name: str) -> Record:
    return {"type": "AWSService", "invokedBy": name}


def hidden(principal_id: str, account: str) -> Record:
    """The key owner's copy of another account's call: the caller is hidden."""
    return {"type": "AWSAccount", "principalId": principal_id, "accountId": account}


# ---- records ---------------------------------------------------------------------------------


def kms(
    name: str,
    identity: Record,
    key: str | None = None,
    params: Record | None = None,
    time: str = T0,
    eid: str | None = None,
    region: str = REGION,
    recipient: str = ACCOUNT,
    **extra: Any,
) -> Record:
    """A KMS record; ``key`` (a key ARN) goes into resources[] as CloudTrail writes it."""
    record: Record = {
        "eventVersion": "1.10",
        "userIdentity": identity,
        "eventTime": time,
        "eventSource": "kms.amazonaws.com",
        "eventName": name,
        "awsRegion": region,
        "sourceIPAddress": "198.51.100.7",
        "userAgent": "aws-cli/2.17.20",
        "requestParameters": params,
        "responseElements": None,
        "requestID": event_id(),
        "eventID": eid or event_id(),
        "readOnly": True,
        "resources": [{"accountId": key.split(":")[4], "type": "AWS::KMS::Key", "ARN": key}] if key else [],
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": recipient,
        "eventCategory": "Management",
    }
    record.update(extra)
    return record


def alias_event(
    name: str, alias: str, target: str | None, time: str, account: str = ACCOUNT, region: str = REGION, **extra: Any
) -> Record:
    """CreateAlias / UpdateAlias (target: a key ARN or id) or DeleteAlias (target None)."""
    params: Record = {"aliasName": alias}
    if target is not None:
        params["targetKeyId"] = target
    res = [{"accountId": account, "type": "AWS::KMS::Key", "ARN": alias_arn(alias, account, region)}]
    if target is not None and target.startswith("arn:"):
        res.append({"accountId": account, "type": "AWS::KMS::Key", "ARN": target})
    record = kms(name, user("admin", account), None, params, time=time, region=region, recipient=account, **extra)
    record["resources"] = res
    record["readOnly"] = False
    return record


def non_kms(name: str = "ListBuckets", source: str = "s3.amazonaws.com", **extra: Any) -> Record:
    record = kms(name, user("alice"), None, {})
    record["eventSource"] = source
    record.update(extra)
    return record


def assume_role(caller: Record, role_arn: str, session: str, access_key_id: str, time: str = T0) -> Record:
    return {
        "eventVersion": "1.08",
        "userIdentity": caller,
        "eventTime": time,
        "eventSource": "sts.amazonaws.com",
        "eventName": "AssumeRole",
        "awsRegion": REGION,
        "sourceIPAddress": "198.51.100.7",
        "userAgent": "aws-cli/2.17.20",
        "requestParameters": {"roleArn": role_arn, "roleSessionName": session},
        "responseElements": {
            "credentials": {"accessKeyId": access_key_id, "expiration": "Oct 1, 2026, 1:00:00 PM", "sessionToken": "x"},
            "assumedRoleUser": {"assumedRoleId": f"AROAEXAMPLE:{session}", "arn": role_arn},
        },
        "eventID": event_id(),
        "eventType": "AwsApiCall",
        "recipientAccountId": ACCOUNT,
    }


# ---- files of other shapes -------------------------------------------------------------------


def log_file(records: Sequence[object]) -> bytes:
    return json.dumps({"Records": list(records)}).encode()


def ndjson(records: Sequence[object]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in records).encode()


def lookup_events_output(records: Sequence[Record]) -> bytes:
    """What `aws cloudtrail lookup-events --output json` prints: each record as a JSON string."""
    events = [
        {
            "EventId": r["eventID"],
            "EventName": r["eventName"],
            "ReadOnly": "true",
            "EventTime": r["eventTime"].replace("Z", "+00:00"),
            "EventSource": r["eventSource"],
            "Username": "alice",
            "Resources": [{"ResourceType": "AWS::KMS::Key", "ResourceName": x["ARN"]} for x in r.get("resources") or []],
            "CloudTrailEvent": json.dumps(r),
        }
        for r in records
    ]
    return json.dumps({"Events": events, "NextToken": "eyJ0b2tlbiI6IDF9"}, indent=4).encode()


def eventbridge(record: Record) -> Record:
    return {
        "version": "0",
        "id": "6f87d04b-9f74-4f04-a780-7acf4b0a9b38",
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.kms",
        "account": ACCOUNT,
        "time": record["eventTime"],
        "region": REGION,
        "resources": [],
        "detail": record,
    }


def cloudwatch_logs(records: Sequence[Record]) -> bytes:
    return json.dumps(
        {
            "messageType": "DATA_MESSAGE",
            "owner": ACCOUNT,
            "logGroup": "aws-cloudtrail-logs",
            "logStream": f"{ACCOUNT}_CloudTrail_{REGION}",
            "subscriptionFilters": ["all"],
            "logEvents": [{"id": str(i), "timestamp": 1790000000000, "message": json.dumps(r)} for i, r in enumerate(records)],
        }
    ).encode()


def cribl(records: Sequence[Record]) -> bytes:
    return json.dumps([{"_raw": {"Records": list(records)}, "_time": 1790000000, "source": "s3://bucket/x.json.gz"}]).encode()


def s3_event_notification() -> bytes:
    """An S3 event notification (AWS's documented shape, version 2.1): valid JSON, not CloudTrail."""
    return json.dumps(
        {
            "Records": [
                {
                    "eventVersion": "2.1",
                    "eventSource": "aws:s3",
                    "awsRegion": REGION,
                    "eventTime": "2026-10-01T12:00:00.000Z",
                    "eventName": "ObjectCreated:Put",
                    "userIdentity": {"principalId": "AWS:AIDAEXAMPLE"},
                    "requestParameters": {"sourceIPAddress": "198.51.100.7"},
                    "responseElements": {"x-amz-request-id": "C3D13FE58DE4C810", "x-amz-id-2": "FMyUVURIY8"},
                    "s3": {
                        "s3SchemaVersion": "1.0",
                        "configurationId": "testConfigRule",
                        "bucket": {"name": "amzn-s3-demo-bucket", "ownerIdentity": {"principalId": "A3NL1KOZZKExample"},
                                   "arn": "arn:aws:s3:::amzn-s3-demo-bucket"},
                        "object": {"key": "HappyFace.jpg", "size": 1024, "eTag": "d41d8cd98f00b204e9800998ecf8427e",
                                   "sequencer": "0055AED6DCD90281E5"},
                    },
                }
            ]
        }
    ).encode()


def dynamodb_stream_records() -> bytes:
    """DynamoDB Streams records as a Lambda receives them: valid JSON, not CloudTrail."""
    return json.dumps(
        {
            "Records": [
                {
                    "eventID": "c4ca4238a0b923820dcc509a6f75849b",
                    "eventName": "INSERT",
                    "eventVersion": "1.1",
                    "eventSource": "aws:dynamodb",
                    "awsRegion": REGION,
                    "dynamodb": {"Keys": {"Id": {"N": "101"}}, "NewImage": {"Message": {"S": "New item!"}, "Id": {"N": "101"}},
                                 "ApproximateCreationDateTime": 1428537600, "SequenceNumber": "4421584500000000017450439091",
                                 "SizeBytes": 26, "StreamViewType": "NEW_AND_OLD_IMAGES"},
                    "eventSourceARN": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/ExampleTableWithStream/stream/2015-06-27T00:48:05.899",
                }
            ]
        }
    ).encode()


def digest_file() -> bytes:
    """A CloudTrail digest file (its documented fields)."""
    return json.dumps(
        {
            "awsAccountId": ACCOUNT,
            "digestStartTime": "2026-10-01T11:00:00Z",
            "digestEndTime": "2026-10-01T12:00:00Z",
            "digestS3Bucket": "trail-bucket",
            "digestS3Object": f"AWSLogs/{ACCOUNT}/CloudTrail-Digest/{REGION}/2026/10/01/{ACCOUNT}_CloudTrail-Digest_{REGION}_t_{REGION}_20261001T120000Z.json.gz",
            "digestPublicKeyFingerprint": "a1b2c3",
            "digestSignatureAlgorithm": "SHA256withRSA",
            "newestEventTime": "2026-10-01T11:59:00Z",
            "oldestEventTime": "2026-10-01T11:00:00Z",
            "previousDigestS3Bucket": None,
            "previousDigestS3Object": None,
            "previousDigestHashValue": None,
            "previousDigestHashAlgorithm": None,
            "previousDigestSignature": None,
            "logFiles": [
                {"s3Bucket": "trail-bucket", "s3Object": "AWSLogs/x.json.gz", "hashValue": "00ff", "hashAlgorithm": "SHA-256",
                 "newestEventTime": "2026-10-01T11:59:00Z", "oldestEventTime": "2026-10-01T11:00:00Z"}
            ],
        }
    ).encode()


def truth_json() -> bytes:
    """The shape of ../shared/tools/gen_trail.py's truth.json (another tool's output)."""
    return json.dumps(
        {"keys": {KEY_A: {f"arn:aws:iam::{ACCOUNT}:user/alice": {"decrypt": 2}}}, "customer_keys": [KEY_A]},
        indent=1,
        sort_keys=True,
    ).encode()


def usage_output() -> bytes:
    """keytrail's own `usage --format json` output."""
    return json.dumps(
        [{"key": KEY_A, "principal": f"arn:aws:iam::{ACCOUNT}:user/alice", "principal_type": "IAMUser", "encrypt": 0,
          "decrypt": 2, "sign": 0, "admin": 0, "denied": 0, "first_seen": T0, "last_seen": T0, "key_resolved": True}],
        indent=2,
    ).encode()


# ---- through the real pipeline ---------------------------------------------------------------


def write(path: Path, data: bytes, gz: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data, mtime=0) if gz else data)
    return path


@contextmanager
def ingested(tmp: Path, *files: Sequence[object], workers: int = 1) -> Iterator[tuple[Store, IngestReport]]:
    """Each record list written as one CloudTrail log file (in order), ingested into an in-memory store."""
    tmp.mkdir(parents=True, exist_ok=True)
    paths = [str(write(tmp / f"log{i:03d}.json", log_file(records))) for i, records in enumerate(files)]
    with Store() as store:
        report = ingest([LocalSource(tuple(paths))], store, workers=workers)
        yield store, report


def key_use(store: Store, columns: str = "key, principal, category", where: str = "TRUE") -> list[tuple[Any, ...]]:
    """Rows of the resolved key_use table (test-controlled SQL only), sorted."""
    return sorted(store.query(f"SELECT {columns} FROM key_use WHERE {where}"), key=repr)  # noqa: S608
