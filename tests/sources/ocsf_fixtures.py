"""OCSF Parquet files as Amazon Security Lake writes them, made here from CloudTrail records.

No published KMS record exists in OCSF, so the tests make their own from CloudTrail archives with
known answers (``tests.factory.archive``), through this mapping -- written from the published one (the OCSF project's examples,
``mappings/markdown/AWS/v1.1.0/CloudTrail/API Activity/README.md`` and ``v1.0.0-rc.2``, and
AWS's Security Lake query examples), independently of keytrail's (``keytrail.sources.ocsf_mapping``):
it shares no code with it, and goes the other way (CloudTrail -> OCSF).

Version 2 (OCSF 1.1.0, class_uid 6003): ``actor.user.uid`` the ARN, ``uid_alt`` the principalId
(``onBehalfOf.userId`` for Identity Center callers, with ``actor.idp.uid`` the identity store),
``actor.user.account.uid``, ``api.request.data`` / ``api.response.data`` as JSON text,
``resources[].owner.account.uid``. Version 1 (OCSF 1.0.0-rc.2, class_uid 3005): ``actor.user.uuid``
the ARN, ``uid`` the principalId, ``account_uid``; request and response only in ``unmapped``.
Both: every CloudTrail field the mapping leaves out goes to ``unmapped``, a map of dotted
CloudTrail paths to text.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from tests.factory.archive import records

S = pa.string()
_IPV4 = re.compile(r"^(?:[0-9]{1,3}\.){3}[0-9]{1,3}$")

# the CloudTrail fields each version maps to a field of its own (the rest goes to unmapped)
_MAPPED_COMMON = {
    "eventName", "eventSource", "awsRegion", "eventTime", "eventID", "eventVersion", "errorCode", "errorMessage",
    "sourceIPAddress", "userAgent", "vpcEndpointId", "requestID", "apiVersion", "resources",
    "userIdentity.type", "userIdentity.arn", "userIdentity.principalId", "userIdentity.accountId",
    "userIdentity.accessKeyId", "userIdentity.userName", "userIdentity.invokedBy",
    "userIdentity.sessionContext.sessionIssuer.arn", "userIdentity.identityProvider",
    "userIdentity.sessionContext.attributes.creationDate", "userIdentity.sessionContext.attributes.mfaAuthenticated",
}  # fmt: skip
_MAPPED_V2 = _MAPPED_COMMON | {"requestParameters", "responseElements", "eventType", "eventCategory",
                               "userIdentity.onBehalfOf.userId", "userIdentity.onBehalfOf.identityStoreArn"}  # fmt: skip


def _flatten(value: Any, prefix: str, out: dict[str, str], mapped: set[str]) -> None:
    if prefix in mapped:
        return
    if isinstance(value, dict) and prefix not in ("requestParameters", "responseElements"):
        for k, v in value.items():
            _flatten(v, f"{prefix}.{k}" if prefix else k, out, mapped)
    elif value is not None:
        out[prefix] = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


def unmapped(record: dict[str, Any], version: int, drop: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    out: dict[str, str] = {}
    _flatten(record, "", out, _MAPPED_V2 if version == 2 else _MAPPED_COMMON)
    return sorted((k, v) for k, v in out.items() if k not in drop)


def _millis(t: str) -> int:
    return int(datetime.strptime(t, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()) * 1000


def _src(record: dict[str, Any]) -> dict[str, Any]:
    ip = record.get("sourceIPAddress")
    out: dict[str, Any] = {"ip": None, "domain": None, "uid": record.get("vpcEndpointId")}
    if ip is not None:
        out["ip" if _IPV4.match(ip) else "domain"] = ip
    return out


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, separators=(",", ":"))


def to_ocsf(record: dict[str, Any], version: int, drop: tuple[str, ...] = ()) -> dict[str, Any]:
    """One CloudTrail record as a row of Security Lake's table (``drop``: unmapped keys left out)."""
    ui = record.get("userIdentity") or {}
    ctx = ui.get("sessionContext") or {}
    obo = ui.get("onBehalfOf") or {}
    user: dict[str, Any] = {"type": ui.get("type"), "credential_uid": ui.get("accessKeyId"), "name": ui.get("userName")}
    if version == 2:
        user.update(uid=ui.get("arn"), uid_alt=obo.get("userId") or ui.get("principalId"),
                    account={"uid": ui.get("accountId")})  # fmt: skip
        idp = {"name": ui.get("identityProvider"), "uid": obo.get("identityStoreArn")}
    else:
        user.update(uid=ui.get("principalId"), uuid=ui.get("arn"), account_uid=ui.get("accountId"))
        idp = {"name": ui.get("identityProvider")}
    resources = []
    for r in record.get("resources") or []:
        entry = {"uid": r.get("ARN"), "type": r.get("type")}
        entry.update({"owner": {"account": {"uid": r.get("accountId")}}} if version == 2 else {"account_uid": r.get("accountId")})
        resources.append(entry)
    error = record.get("errorCode")
    api: dict[str, Any] = {
        "operation": record["eventName"], "service": {"name": record["eventSource"]},
        "request": {"uid": record.get("requestID")},
        "response": {"error": error, "message": record.get("errorMessage")},
    }  # fmt: skip
    if version == 2:
        api["request"]["data"] = _json(record.get("requestParameters"))
        api["response"]["data"] = _json(record.get("responseElements"))
    row = {
        "class_uid": 6003 if version == 2 else 3005,
        "metadata": {"uid": record.get("eventID"), "version": "1.1.0" if version == 2 else "1.0.0-rc.2",
                     "product": {"name": "CloudTrail", "vendor_name": "AWS", "version": record.get("eventVersion")}},
        "time": _millis(record["eventTime"]),
        "cloud": {"region": record.get("awsRegion"), "provider": "AWS"},
        "api": api,
        "actor": {"user": user, "session": {"issuer": ctx.get("sessionIssuer", {}).get("arn")},
                  "invoked_by": ui.get("invokedBy"), "idp": idp},
        "src_endpoint": _src(record),
        "http_request": {"user_agent": record.get("userAgent")},
        "resources": resources or None,
        "status": "Failure" if error else "Success",
        "unmapped": unmapped(record, version, drop),
    }  # fmt: skip
    return row


def schema(version: int) -> pa.Schema:
    user = [("type", S), ("uid", S), ("name", S), ("credential_uid", S)]
    if version == 2:
        user += [("uid_alt", S), ("account", pa.struct([("uid", S)]))]
        idp = pa.struct([("name", S), ("uid", S)])
        resource = pa.struct([("uid", S), ("type", S), ("owner", pa.struct([("account", pa.struct([("uid", S)]))]))])
        request = pa.struct([("uid", S), ("data", S)])
        response = pa.struct([("error", S), ("message", S), ("data", S)])
    else:
        user += [("uuid", S), ("account_uid", S)]
        idp = pa.struct([("name", S)])
        resource = pa.struct([("uid", S), ("type", S), ("account_uid", S)])
        request = pa.struct([("uid", S)])
        response = pa.struct([("error", S), ("message", S)])
    return pa.schema([
        ("class_uid", pa.int32()),
        ("metadata", pa.struct([("uid", S), ("version", S),
                                ("product", pa.struct([("name", S), ("vendor_name", S), ("version", S)]))])),
        ("time", pa.int64()),
        ("cloud", pa.struct([("region", S), ("provider", S)])),
        ("api", pa.struct([("operation", S), ("service", pa.struct([("name", S)])), ("request", request),
                           ("response", response)])),
        ("actor", pa.struct([("user", pa.struct(user)), ("session", pa.struct([("issuer", S)])), ("invoked_by", S),
                             ("idp", idp)])),
        ("src_endpoint", pa.struct([("ip", S), ("domain", S), ("uid", S)])),
        ("http_request", pa.struct([("user_agent", S)])),
        ("resources", pa.list_(resource)),
        ("status", S),
        ("unmapped", pa.map_(S, S)),
    ])  # fmt: skip


def write_parquet(rows: list[dict[str, Any]], version: int, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=schema(version)), path, compression="gzip")


def write_lake(archive: Path, out: Path, version: int, drop: tuple[str, ...] = (), per_file: int = 700) -> int:
    """The archive as OCSF Parquet in Security Lake's version 1 S3 layout
    (``aws/CLOUD_TRAIL_MGMT/1.0/region=R/accountId=A/eventDay=D/*.gz.parquet``; version 2 rows in
    the same folders): returns the number of files."""
    parts: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for record in records(archive):
        key = (record["awsRegion"], record["recipientAccountId"], record["eventTime"][:10].replace("-", ""))
        parts.setdefault(key, []).append(to_ocsf(record, version, drop))
    n = 0
    for (region, account, day), rows in sorted(parts.items()):
        folder = out / "aws" / "CLOUD_TRAIL_MGMT" / "1.0" / f"region={region}" / f"accountId={account}" / f"eventDay={day}"
        for i in range(0, len(rows), per_file):
            write_parquet(rows[i : i + per_file], version, folder / f"part-{i // per_file:05d}.gz.parquet")
            n += 1
    return n
