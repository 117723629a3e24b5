"""Record builders for keytrail's tests: identities, CloudTrail records, files of every shape keytrail
reads or skips, the S3 layout, an inventory in AWS CLI output shapes, and helpers that run records
through the real pipeline. Every test that needs a record builds it here.

* identities: ``user``, ``role`` (with a path, a session, ``onBehalfOf``, ``invokedBy``), ``service``,
  ``hidden`` / ``hidden_copy`` (a cross-account caller as the key owner's copy shows it), ``root``,
  ``federated_user``, ``saml_user``, ``web_identity_user``, ``identity_center_user``;
* records: ``kms`` (any KMS call), ``alias_event``, ``assume_role`` (STS credential hand-outs),
  ``non_kms`` / ``other`` (any other service);
* files: ``log_file``, ``ndjson``, ``lookup_events_output``, ``eventbridge``, ``cloudwatch_logs``,
  ``cribl``, other tools' JSON (S3 event notifications, DynamoDB Streams, digests, truth.json,
  keytrail's own output), ``write``, ``write_log`` (a log file at an S3 key), ``log_key`` /
  ``digest_key`` (CloudTrail's S3 layout);
* ``Trail``: records collected in time order with deterministic ids, written in the S3 layout;
* the inventory: ``InvKey``, ``default_policy``, ``write_inventory``, ``load_inventory_dir``;
* through the pipeline: ``ingested`` (record lists -> a store), ``key_use`` (its rows).

Beside this module: ``tests.factory.archive`` (archives with known answers, and their truth),
``tests.factory.truth`` (keytrail's usage against a truth), ``tests.factory.scenario`` (one
account's archive that shows every finding kind) and ``tests.factory.signed`` (archives whose
digests are signed and chained as CloudTrail's are). Nothing here reads ../shared.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import itertools
import json
import uuid
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ACCOUNT = "111122223333"
OTHER = "444455556666"
REGION = "us-east-1"
T0 = "2026-10-01T12:00:00Z"
AGENT = "aws-cli/2.17.20"

Record = dict[str, Any]

_ids = itertools.count(1)


def event_id() -> str:
    """A new event id (counts up for the whole test session)."""
    return f"00000000-0000-4000-8000-{next(_ids):012d}"


def ts(when: datetime | str) -> str:
    """CloudTrail's eventTime: ISO-8601 UTC to the second."""
    if isinstance(when, str):
        return when
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def unique_id(prefix: str, *parts: str) -> str:
    """A unique id as IAM writes them (``AROA``/``AIDA`` and 17 upper-case letters and digits), derived
    from ``parts``: the same parts, the same id."""
    digest = hashlib.sha256("/".join(parts).encode()).digest()
    return prefix + base64.b32encode(digest).decode()[:17]


# ---- ARNs ---------------------------------------------------------------------------------------


def key_arn(key_id: str, account: str = ACCOUNT, region: str = REGION) -> str:
    return f"arn:aws:kms:{region}:{account}:key/{key_id}"


def key_id(arn: str) -> str:
    return arn.rsplit("/", 1)[1]


def alias_arn(name: str, account: str = ACCOUNT, region: str = REGION) -> str:
    return f"arn:aws:kms:{region}:{account}:{name}"


def role_arn(name: str, account: str = ACCOUNT, path: str = "/") -> str:
    return f"arn:aws:iam::{account}:role{path}{name}"


def user_arn(name: str, account: str = ACCOUNT, path: str = "/") -> str:
    return f"arn:aws:iam::{account}:user{path}{name}"


def key_resource(arn: str, typed: bool = True) -> Record:
    """A resources[] entry for a key (or alias) ARN; real records sometimes carry no type."""
    entry: Record = {"accountId": arn.split(":")[4], "type": "AWS::KMS::Key", "ARN": arn}
    if not typed:
        del entry["type"]
    return entry


KEY_A = key_arn("1111aaaa-1111-4111-8111-111111111111")
KEY_B = key_arn("2222bbbb-2222-4222-8222-222222222222")
KEY_C = key_arn("3333cccc-3333-4333-8333-333333333333")


# ---- identities ---------------------------------------------------------------------------------


def user(
    name: str,
    account: str = ACCOUNT,
    uid: str | None = None,
    *,
    path: str = "/",
    akid: str | None = None,
    **extra: Any,
) -> Record:
    """An IAM user's userIdentity (``extra`` adds or replaces fields: ``invokedBy``, ``sessionContext``)."""
    return {
        "type": "IAMUser",
        "principalId": uid or f"AIDA{name.upper()[:12].ljust(12, 'X')}",
        "arn": user_arn(name, account, path),
        "accountId": account,
        "accessKeyId": akid or f"AKIA{name.upper()[:12].ljust(12, 'X')}",
        "userName": name,
        **extra,
    }


def role(
    name: str,
    path: str = "/",
    session: str = "session-1",
    uid: str | None = None,
    account: str = ACCOUNT,
    *,
    akid: str | None = None,
    on_behalf_of: str | None = None,
    invoked_by: str | None = None,
    created: str = "2026-10-01T11:00:00Z",
    **extra: Any,
) -> Record:
    """A role session's userIdentity: the role (with its path) in ``sessionContext.sessionIssuer``.

    ``uid`` defaults to an id derived from the account, path and name (one role, one id);
    ``on_behalf_of`` is an Identity Center user id (``onBehalfOf``); ``extra`` adds or replaces fields.
    """
    uid = uid or unique_id("AROA", account, path, name)
    ident: Record = {
        "type": "AssumedRole",
        "principalId": f"{uid}:{session}",
        "arn": f"arn:aws:sts::{account}:assumed-role/{name}/{session}",
        "accountId": account,
        "accessKeyId": akid or "ASIAEXAMPLE" + uid[-9:],
        "sessionContext": {
            "sessionIssuer": {
                "type": "Role",
                "principalId": uid,
                "arn": role_arn(name, account, path),
                "accountId": account,
                "userName": name,
            },
            "attributes": {"creationDate": created, "mfaAuthenticated": "false"},
        },
    }
    if on_behalf_of:
        ident["onBehalfOf"] = {
            "userId": on_behalf_of,
            "identityStoreArn": f"arn:aws:identitystore::{account}:identitystore/d-1234567890",
        }
    if invoked_by:
        ident["invokedBy"] = invoked_by
    ident.update(extra)
    return ident


def without(data: Record, *fields: str) -> Record:
    """A copy of ``data`` without ``fields`` (real records leave out what another shape has)."""
    return {k: v for k, v in data.items() if k not in fields}


def service(name: str) -> Record:
    """An AWS service calling in its own name."""
    return {"type": "AWSService", "invokedBy": name}


def hidden(principal_id: str, account: str) -> Record:
    """The key owner's copy of another account's call: the caller is hidden."""
    return {"type": "AWSAccount", "principalId": principal_id, "accountId": account}


def hidden_copy(identity: Record) -> Record:
    """``identity`` as the key owner's copy of its cross-account call shows it."""
    return hidden(identity["principalId"], identity["accountId"])


def root(account: str = ACCOUNT, akid: str = "ASIAROOTROOTROOTROOT") -> Record:
    return {"type": "Root", "principalId": account, "arn": f"arn:aws:iam::{account}:root", "accountId": account,
            "accessKeyId": akid}


def federated_user(name: str, account: str = ACCOUNT, broker: str = "federation-broker",
                   akid: str | None = None) -> Record:
    """A GetFederationToken session, issued by the IAM user ``broker``."""
    return {
        "type": "FederatedUser",
        "principalId": f"{account}:{name}",
        "arn": f"arn:aws:sts::{account}:federated-user/{name}",
        "accountId": account,
        "accessKeyId": akid or f"ASIAFED{name.upper()[:13].ljust(13, 'X')}",
        "sessionContext": {
            "sessionIssuer": {"type": "IAMUser", "principalId": f"AIDA{broker.upper()[:12].ljust(12, 'X')}",
                              "arn": user_arn(broker, account), "accountId": account, "userName": broker},
            "attributes": {"creationDate": "2026-10-01T11:00:00Z", "mfaAuthenticated": "false"},
        },
    }


def saml_user(name: str, provider: str, account: str = ACCOUNT) -> Record:
    """The caller of AssumeRoleWithSAML (``provider``: the SAML provider's name in the account)."""
    return {
        "type": "SAMLUser",
        "principalId": f"SAMLID:{name}",
        "userName": name,
        "identityProvider": f"arn:aws:iam::{account}:saml-provider/{provider}",
    }


def web_identity_user(name: str, provider: str) -> Record:
    """The caller of AssumeRoleWithWebIdentity (``provider``: the OIDC issuer, e.g. GitHub's)."""
    return {"type": "WebIdentityUser", "principalId": f"{provider}:sts.amazonaws.com:{name}", "userName": name,
            "identityProvider": provider}


def identity_center_user(user_id: str, account: str = ACCOUNT, store: str = "d-1234567890") -> Record:
    """An Identity Center user calling through an Identity Center-aware application."""
    return {
        "type": "IdentityCenterUser",
        "accountId": account,
        "onBehalfOf": {"userId": user_id, "identityStoreArn": f"arn:aws:identitystore::{account}:identitystore/{store}"},
        "credentialId": "EXAMPLEVHULjJdTUdPJfofVa1sufHDoj7aYcOYcxFVllWR_Whr1fEXAMPLE",
    }


# ---- records ------------------------------------------------------------------------------------


def record(
    source: str,
    name: str,
    identity: Record,
    *,
    params: Record | None = None,
    time: datetime | str = T0,
    eid: str | None = None,
    region: str = REGION,
    recipient: str = ACCOUNT,
    read_only: bool = True,
    **extra: Any,
) -> Record:
    """A CloudTrail record of any service (``extra`` adds or replaces fields)."""
    rec: Record = {
        "eventVersion": "1.10",
        "userIdentity": identity,
        "eventTime": ts(time),
        "eventSource": source,
        "eventName": name,
        "awsRegion": region,
        "sourceIPAddress": "198.51.100.7",
        "userAgent": AGENT,
        "requestParameters": params,
        "responseElements": None,
        "requestID": event_id(),
        "eventID": eid or event_id(),
        "readOnly": read_only,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": recipient,
        "eventCategory": "Management",
    }
    rec.update(extra)
    return rec


def kms(
    name: str,
    identity: Record,
    key: str | None = None,
    params: Record | None = None,
    time: datetime | str = T0,
    eid: str | None = None,
    region: str = REGION,
    recipient: str = ACCOUNT,
    **extra: Any,
) -> Record:
    """A KMS record; ``key`` (a key ARN) goes into resources[] as CloudTrail writes it."""
    rec = record("kms.amazonaws.com", name, identity, params=params, time=time, eid=eid, region=region,
                 recipient=recipient)
    rec["resources"] = [key_resource(key)] if key else []
    rec.update(extra)
    return rec


def alias_event(
    name: str,
    alias: str,
    target: str | None,
    time: datetime | str,
    account: str = ACCOUNT,
    region: str = REGION,
    *,
    identity: Record | None = None,
    keys: Sequence[str] = (),
    **extra: Any,
) -> Record:
    """CreateAlias / UpdateAlias (``target``: the targetKeyId as the caller wrote it, a key ARN or id) or
    DeleteAlias (``target`` None). Real alias events list the alias ARN typed as a key, then the keys
    (``keys``; by default ``target`` when it is an ARN): UpdateAlias the old and the new target,
    DeleteAlias the key the alias pointed to."""
    params: Record = {"aliasName": alias}
    if target is not None:
        params["targetKeyId"] = target
    listed = list(keys) or ([target] if target is not None and target.startswith("arn:") else [])
    rec = kms(name, identity or user("admin", account), None, params, time=time, region=region, recipient=account,
              readOnly=False, **extra)
    rec["resources"] = [key_resource(alias_arn(alias, account, region))] + [key_resource(k) for k in listed]
    return rec


def non_kms(name: str = "ListBuckets", source: str = "s3.amazonaws.com", **extra: Any) -> Record:
    """A call of another service, by alice."""
    rec = kms(name, user("alice"), None, {})
    rec["eventSource"] = source
    rec.update(extra)
    return rec


def other(source: str, name: str, identity: Record, time: datetime | str = T0, account: str = ACCOUNT,
          region: str = REGION, **extra: Any) -> Record:
    """A call of another service (``account`` receives the record)."""
    return record(source, name, identity, time=time, region=region, recipient=account, **extra)


def assume_role(
    caller: Record,
    role_arn: str,
    session: str,
    access_key_id: str,
    time: datetime | str = T0,
    *,
    event: str = "AssumeRole",
    account: str = ACCOUNT,
    region: str = REGION,
    eid: str | None = None,
) -> Record:
    """An STS AssumeRole* record that hands out ``access_key_id`` for a session of ``role_arn``."""
    name = role_arn.rsplit("/", 1)[1]
    return record(
        "sts.amazonaws.com", event, caller, time=time, eid=eid, region=region, recipient=account,
        params={"roleArn": role_arn, "roleSessionName": session, "durationSeconds": 3600},
        responseElements={
            "credentials": {"accessKeyId": access_key_id, "sessionToken": "IQoJb3JpZ2luX2Vj",
                            "expiration": "Nov 1, 2026, 9:44:34 AM"},
            "assumedRoleUser": {"assumedRoleId": f"AROAEXAMPLE:{session}",
                                "arn": f"arn:aws:sts::{account}:assumed-role/{name}/{session}"},
        },
        sourceIPAddress=caller.get("invokedBy") or "203.0.113.5",
    )


# ---- files of every shape ---------------------------------------------------------------------------


def log_file(records: Sequence[object]) -> bytes:
    """A CloudTrail log file: ``{"Records": [...]}``."""
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


def eventbridge(rec: Record) -> Record:
    return {
        "version": "0",
        "id": "6f87d04b-9f74-4f04-a780-7acf4b0a9b38",
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.kms",
        "account": ACCOUNT,
        "time": rec["eventTime"],
        "region": REGION,
        "resources": [],
        "detail": rec,
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
    """The shape of an archive's truth.json (tests/factory/archive.py, ../shared/tools/gen_trail.py): another
    tool's output, not CloudTrail."""
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


def write(path: Path, data: bytes, gz: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data, mtime=0) if gz else data)
    return path


def write_log(root: Path, key: str, records: Sequence[Record]) -> Path:
    """A log file at ``root/key`` (gzipped when the key ends in ``.gz``)."""
    return write(root / key, log_file(records), gz=key.endswith(".gz"))


# ---- CloudTrail's S3 layout -------------------------------------------------------------------------


def trail_prefix(account: str, org: str | None = None, prefix: str = "") -> str:
    """``[PREFIX/]AWSLogs/[o-ORG/]ACCOUNT``."""
    head = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
    return f"{head}AWSLogs/{org + '/' if org else ''}{account}"


def log_key(account: str, region: str, delivered: datetime, unique: str, *, org: str | None = None,
            prefix: str = "", gz: bool = True) -> str:
    """Where CloudTrail delivers a log file: ``.../CloudTrail/REGION/YYYY/MM/DD/ACCOUNT_CloudTrail_REGION_
    YYYYMMDDTHHMMZ_UNIQUE.json.gz``, named by its delivery time."""
    return (f"{trail_prefix(account, org, prefix)}/CloudTrail/{region}/{delivered:%Y/%m/%d}/"
            f"{account}_CloudTrail_{region}_{delivered:%Y%m%dT%H%M}Z_{unique}.json{'.gz' if gz else ''}")


def digest_key(account: str, region: str, end: datetime, trail: str = "org-trail", *, org: str | None = None,
               prefix: str = "") -> str:
    """Where CloudTrail delivers a digest file (``CloudTrail-Digest/``), named by its end time."""
    return (f"{trail_prefix(account, org, prefix)}/CloudTrail-Digest/{region}/{end:%Y/%m/%d}/"
            f"{account}_CloudTrail-Digest_{region}_{trail}_{region}_{end:%Y%m%dT%H%M%S}Z.json.gz")


# ---- a trail of records -------------------------------------------------------------------------------


@dataclass
class Trail:
    """Records collected in order, with deterministic ids (event ids count up), written in the S3 layout."""

    records: list[Record] = field(default_factory=list)
    n: int = 0

    def _ids(self) -> dict[str, str]:
        self.n += 1
        return {"requestID": str(uuid.UUID(int=10**9 + self.n, version=4)), "eid": str(uuid.UUID(int=self.n, version=4))}

    def kms(
        self,
        name: str,
        ident: Record,
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
    ) -> Record:
        """One KMS call on ``key`` (named in the request as ``key_ref``, default the key ARN), logged in
        the key's Region and (unless ``recipient``) account."""
        parts = key.split(":")
        region, account = parts[3], parts[4]
        ids = self._ids()
        params: Record = {"keyId": key_ref or key}
        if context:
            params["encryptionContext"] = context
        rec = kms(name, ident, key if resources else None, params, time=when, eid=ids["eid"], region=region,
                  recipient=recipient or account, requestID=ids["requestID"], sourceIPAddress=ip,
                  readOnly=name not in ("CreateKey", "ScheduleKeyDeletion", "DisableKey", "EnableKey", "CreateAlias",
                                        "PutKeyPolicy", "CreateGrant"))
        if not resources:
            del rec["resources"]
        if error:
            rec["errorCode"] = error
            rec["errorMessage"] = message
        if vpce:
            rec["vpcEndpointId"] = vpce
        if shared:
            rec["sharedEventID"] = shared
        self.records.append(rec)
        return rec

    def cross_account(self, name: str, ident: Record, key: str, when: datetime, **kw: Any) -> None:
        """A call on another account's key: the caller's copy and the key owner's hidden copy."""
        self.n += 1
        shared = str(uuid.UUID(int=5 * 10**9 + self.n, version=4))
        self.kms(name, ident, key, when, recipient=ident["accountId"], shared=shared, **kw)
        self.kms(name, hidden_copy(ident), key, when, shared=shared, **kw)

    def assume_role(self, caller: Record, role: str, session: str, when: datetime, akid: str,
                    event: str = "AssumeRole", account: str = ACCOUNT, region: str = REGION) -> Record:
        """An STS call that hands out ``akid`` for a session of ``role``."""
        ids = self._ids()
        rec = assume_role(caller, role, session, akid, when, event=event, account=account, region=region, eid=ids["eid"])
        rec["requestID"] = ids["requestID"]
        self.records.append(rec)
        return rec

    def management(self, name: str, ident: Record, key: str, when: datetime, **params: Any) -> Record:
        """A management call on ``key`` (CreateKey, ScheduleKeyDeletion, DisableKey, DescribeKey...)."""
        rec = self.kms(name, ident, key, when, ip="203.0.113.5")
        rec["requestParameters"] = {"keyId": key_id(key), **params}
        if name == "CreateKey":
            rec["requestParameters"] = {"keyUsage": "ENCRYPT_DECRYPT", "keySpec": "SYMMETRIC_DEFAULT"}
            rec["responseElements"] = {"keyMetadata": {"arn": key, "keyId": key_id(key), "keyManager": "CUSTOMER"}}
        return rec

    def create_alias(self, ident: Record, alias: str, key: str, when: datetime) -> Record:
        parts = key.split(":")
        ids = self._ids()
        rec = alias_event("CreateAlias", alias, key_id(key), when, parts[4], parts[3], identity=ident, keys=(key,),
                          eid=ids["eid"], requestID=ids["requestID"], sourceIPAddress="203.0.113.5")
        self.records.append(rec)
        return rec

    def other(self, source: str, name: str, ident: Record, when: datetime, account: str = ACCOUNT,
              region: str = REGION) -> Record:
        ids = self._ids()
        rec = other(source, name, ident, when, account, region, eid=ids["eid"], requestID=ids["requestID"],
                    sourceIPAddress="203.0.113.5")
        self.records.append(rec)
        return rec

    def write(self, out: Path) -> Path:
        """Log files in the S3 layout, one per account, Region and day: ``out/AWSLogs/...``."""
        groups: dict[tuple[str, str, str], list[Record]] = defaultdict(list)
        for r in self.records:
            groups[(r["recipientAccountId"], r["awsRegion"], r["eventTime"][:10])].append(r)
        for (acct, region, day), recs in sorted(groups.items()):
            delivered = datetime.strptime(day, "%Y-%m-%d")
            key = log_key(acct, region, delivered, f"Gen{len(recs):013d}")
            write(out / key, log_file(sorted(recs, key=lambda r: r["eventTime"])), gz=True)
        return out


# ---- the inventory, as the AWS CLI prints it ---------------------------------------------------------


@dataclass
class InvKey:
    """One key of an inventory: ``describe-key``, ``get-key-policy``, its grants, tags and aliases."""

    arn: str
    manager: str = "CUSTOMER"
    state: str = "Enabled"
    policy: dict[str, Any] | None = None
    grants: list[dict[str, Any]] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()
    alias_updated: str = "2026-10-01T00:00:00+00:00"  # LastUpdatedDate of its aliases
    description: str = ""


def default_policy(account: str, users: list[str] | None = None, sid: str = "Allow use of the key") -> dict[str, Any]:
    """The console's default key policy: the account root (IAM delegation) and a statement naming users."""
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
    """``out/ACCOUNT/REGION/list-aliases.json``, ``describe-key/ID.json``, ``get-key-policy/ID.json`` (and
    ``list-grants/ID.json``, ``list-resource-tags/ID.json`` when a key has them): the shapes
    ``aws kms ... --output json`` prints, as ``keytrail inventory --from`` reads them."""
    by_region: dict[tuple[str, str], list[InvKey]] = defaultdict(list)
    for k in keys:
        parts = k.arn.split(":")
        by_region[(parts[4], parts[3])].append(k)
    for (acct, region), ks in by_region.items():
        d = out / acct / region
        for sub in ("describe-key", "get-key-policy", "list-grants", "list-resource-tags"):
            (d / sub).mkdir(parents=True, exist_ok=True)
        aliases = [
            {"AliasName": a, "AliasArn": alias_arn(a, acct, region), "TargetKeyId": key_id(k.arn),
             "CreationDate": "2026-09-01T00:00:00+00:00", "LastUpdatedDate": k.alias_updated}
            for k in ks for a in k.aliases
        ]
        (d / "list-aliases.json").write_text(json.dumps({"Aliases": aliases}, indent=1))
        for k in ks:
            kid = key_id(k.arn)
            meta = {"AWSAccountId": acct, "KeyId": kid, "Arn": k.arn, "CreationDate": "2026-09-01T00:00:00+00:00",
                    "Enabled": k.state == "Enabled", "Description": k.description, "KeyUsage": "ENCRYPT_DECRYPT",
                    "KeyState": k.state, "Origin": "AWS_KMS", "KeyManager": k.manager,
                    "CustomerMasterKeySpec": "SYMMETRIC_DEFAULT", "KeySpec": "SYMMETRIC_DEFAULT",
                    "EncryptionAlgorithms": ["SYMMETRIC_DEFAULT"], "MultiRegion": kid.startswith("mrk-")}
            if k.state == "PendingDeletion":
                meta["DeletionDate"] = "2026-12-31T00:00:00+00:00"
                meta["PendingDeletionWindowInDays"] = 30
            (d / "describe-key" / f"{kid}.json").write_text(json.dumps({"KeyMetadata": meta}, indent=1))
            policy = k.policy or default_policy(acct)
            (d / "get-key-policy" / f"{kid}.json").write_text(
                json.dumps({"Policy": json.dumps(policy, indent=4), "PolicyName": "default"}, indent=1))
            if k.grants:
                (d / "list-grants" / f"{kid}.json").write_text(json.dumps({"Grants": k.grants}))
            if k.tags:
                tags = [{"TagKey": t, "TagValue": v} for t, v in sorted(k.tags.items())]
                (d / "list-resource-tags" / f"{kid}.json").write_text(json.dumps({"Tags": tags}))
    return out


def load_inventory_dir(store: Any, root: Path, taken_at: str = "2026-12-01 00:00:00") -> int:
    """Load an inventory written by ``write_inventory`` into the store, as ``keytrail inventory --from
    DIR`` does; returns the number of keys loaded."""
    from keytrail.pipeline import import_inventory

    run = import_inventory(store, str(root), datetime.fromisoformat(taken_at))
    assert not run.failures, run.failures
    return int(run.keys)


# ---- through the real pipeline ------------------------------------------------------------------------


@contextmanager
def ingested(tmp: Path, *files: Sequence[object], workers: int = 1) -> Iterator[tuple[Any, Any]]:
    """Each record list written as one CloudTrail log file (in order), ingested into an in-memory store;
    yields the store and the ingest report."""
    from keytrail.pipeline import ingest
    from keytrail.sources.local import LocalSource
    from keytrail.store import Store

    tmp.mkdir(parents=True, exist_ok=True)
    paths = [str(write(tmp / f"log{i:03d}.json", log_file(records))) for i, records in enumerate(files)]
    with Store() as store:
        report = ingest([LocalSource(tuple(paths))], store, workers=workers)
        yield store, report


def key_use(store: Any, columns: str = "key, principal, category", where: str = "TRUE") -> list[tuple[Any, ...]]:
    """Rows of the resolved key_use table (test-controlled SQL only), sorted."""
    return sorted(store.query(f"SELECT {columns} FROM key_use WHERE {where}"), key=repr)  # noqa: S608
