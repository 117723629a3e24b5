"""A CloudTrail archive whose attacker-controlled fields carry markup, script, URLs, very long
strings and bidirectional overrides: user agents, session names, role names, source IPs,
encryption-context values, error messages and alias names. Used by the HTML report's tests."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from tests.factory import key_resource, kms, log_file, log_key, role, user, without, write

ACCOUNT = "111122223333"
REGION = "us-east-1"
KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"
KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{KEY_ID}"
LONG = "A" * 9_990 + "<script>"  # 9,998 characters, markup at the end
RLO = "\u202e"

PAYLOADS = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "</script><script>alert(2)</script>",
    "javascript:alert(1)",
    f"invoice{RLO}fdp.exe",
    LONG,
    "'-alert(1)-'<!--",
    "<svg/onload=alert(1)>",
    "&lt;b&gt;&amp;\u2028\u2029",
]
# alias names cannot hold whitespace (a keyId with a space names no alias)
ALIAS_PAYLOADS = [
    "alias/<script>alert(1)</script>",
    "alias/</script><svg/onload=alert(1)>",
    "alias/javascript:alert(1)",
    f"alias/x{RLO}gnp.exe",
]


def _record(i: int, name: str, ui: dict[str, Any], params: dict[str, Any], **extra: Any) -> dict[str, Any]:
    rec = kms(name, ui, None, params, time=f"2026-10-01T{i // 60 % 24:02d}:{i % 60:02d}:00Z",
              eid=f"00000000-0000-0000-0000-{i:012d}", region=REGION, recipient=ACCOUNT, eventVersion="1.08",
              requestID=f"req-{i}", **extra)
    return rec if "resources" in extra else without(rec, "resources")


def _role(session: str, role_name: str = "AppRole") -> dict[str, Any]:
    return role(role_name, "/", session, "AROAEXAMPLEROLEID0001", ACCOUNT, akid="ASIAEXAMPLE000000001",
                created="2026-10-01T00:00:00Z")


def hostile_records() -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    i = 0
    admin = without(user("admin", ACCOUNT, "AIDAEXAMPLEADMIN0001"), "accessKeyId")
    for alias in ALIAS_PAYLOADS:
        i += 1
        records.append(_record(i, "CreateAlias", admin, {"aliasName": alias, "targetKeyId": KEY_ID}, readOnly=False))
    for alias in ALIAS_PAYLOADS:
        i += 1
        records.append(_record(i, "Decrypt", _role("alias-user"), {
            "keyId": alias, "encryptionAlgorithm": "SYMMETRIC_DEFAULT",
            "encryptionContext": {"aws:s3:arn": "arn:aws:s3:::bucket/object"},
        }))
    for payload in PAYLOADS:
        # the payload as session name, user agent, source IP, encryption-context value and key
        i += 1
        records.append(_record(i, "Decrypt", _role(payload), {
            "keyId": KEY_ARN, "encryptionAlgorithm": "SYMMETRIC_DEFAULT",
            "encryptionContext": {"aws:s3:arn": payload, payload: payload},
        }, userAgent=payload, sourceIPAddress=payload, resources=[key_resource(KEY_ARN)]))
        # the payload as a role name (the principal) and a custom encryption-context key
        i += 1
        records.append(_record(i, "GenerateDataKey", _role("s", role_name=payload), {
            "keyId": KEY_ARN, "keySpec": "AES_256", "encryptionContext": {"app<b>": payload},
        }, userAgent=payload))
        # the payload in a failed call's error message, by an IAM user named by it
        i += 1
        named = without(user(payload, ACCOUNT, "AIDAEXAMPLEUSER00001"), "accessKeyId")
        records.append(_record(i, "Encrypt", named, {"keyId": KEY_ARN}, errorCode="AccessDenied",
                               errorMessage=payload, userAgent=payload))
    return records


def write_hostile_archive(root: Path) -> Path:
    """The archive in the S3 layout under ``root``; returns ``root``."""
    write(root / log_key(ACCOUNT, REGION, datetime(2026, 10, 1), "HOSTILE0000000001"), log_file(hostile_records()),
          gz=True)
    # a file that is JSON but not CloudTrail, whose reason the summary lists
    (root / "notes.json").write_text(json.dumps({"note": PAYLOADS[0]}), encoding="utf-8")
    return root


HOSTILE_FINDINGS: list[dict[str, Any]] = [
    {
        "kind": PAYLOADS[0],
        "severity": '"><img src=x onerror=alert(1)>',
        "key": KEY_ARN,
        "principal": PAYLOADS[1],
        "title": PAYLOADS[2],
        "evidence": [{"event_id": p, "event_time": "2026-10-01T00:01:00Z"} for p in PAYLOADS],
        "recommendation": "javascript:alert(1)",
    },
    {
        "kind": "unused-key",
        "severity": "high",
        "key": "</script><script>alert(3)</script>",
        "principal": None,
        "evidence": [],
        "recommendation": LONG,
    },
]
