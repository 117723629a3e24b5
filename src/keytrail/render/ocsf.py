"""Findings as OCSF 1.1.0 Detection Finding events (class_uid 2004, category Findings), with the
cloud profile -- what SIEMs and security lakes (Security Lake, Splunk, Sentinel) ingest.

One event per finding: ``activity_id`` 1 (Create), ``type_uid`` 200401, ``severity_id`` from the
severity (Informational 1, Low 2, Medium 3, High 4), ``time`` the moment the findings were taken
(epoch milliseconds), ``finding_info.uid`` the finding's stable id (``analysis.findings.identity``),
``finding_info.types`` its kind, the key as a resource (``AWS::KMS::Key``), the principal as the
actor of each evidence call (its API operation and eventID), the recommendation as
``remediation.desc``, and keytrail's own fields under ``unmapped.keytrail``.

Values are JSON strings and numbers: nothing in an event is markup. Text written by a caller is
kept as it is in the logs, except that the characters JSON leaves raw and a viewer may act on are
written as ``\\uXXXX`` escapes (``render.safe.json_text``) when the document is serialised.
"""

from __future__ import annotations

import calendar
import time
from collections.abc import Sequence
from typing import Any

from keytrail._version import __version__
from keytrail.analysis.findings.base import HIGH, INFO, LOW, MEDIUM, Finding
from keytrail.analysis.findings.identity import finding_account, finding_id, finding_region, observed
from keytrail.normalize.rules import key_arn_parts

OCSF_VERSION = "1.1.0"
CLASS_UID = 2004
CATEGORY_UID = 2
ACTIVITY_CREATE = 1
SEVERITY_IDS = {INFO: 1, LOW: 2, MEDIUM: 3, HIGH: 4}
SEVERITY_NAMES = {INFO: "Informational", LOW: "Low", MEDIUM: "Medium", HIGH: "High"}


def epoch_ms(iso_time: str) -> int:
    """``2026-11-02T08:00:00Z`` as epoch milliseconds."""
    return calendar.timegm(time.strptime(iso_time[:19], "%Y-%m-%dT%H:%M:%S")) * 1000


def _resource(f: Finding) -> dict[str, Any] | None:
    if not f.key:
        return None
    parts = key_arn_parts(f.key)
    out: dict[str, Any] = {"uid": f.key, "type": "AWS::KMS::Key"}
    if parts:
        out |= {"name": parts[3], "region": parts[1], "cloud_partition": parts[0]}
    aliases = f.details.get("aliases")
    if isinstance(aliases, list) and aliases:
        out["labels"] = [str(a) for a in aliases]
    return out


def _evidences(f: Finding) -> list[dict[str, Any]]:
    out = []
    for e in f.evidence:
        item: dict[str, Any] = {"data": {"event_id": e.event_id, "event_time": e.event_time, "event_name": e.event_name}}
        if e.event_name:
            api: dict[str, Any] = {"operation": e.event_name, "service": {"name": "kms.amazonaws.com"}}
            if e.event_id:
                api["request"] = {"uid": e.event_id}
            item["api"] = api
        if f.principal:
            item["actor"] = {"user": {"uid": f.principal}}
        out.append(item)
    return out


def to_ocsf(f: Finding, now: str) -> dict[str, Any]:
    """One finding as an OCSF Detection Finding taken at ``now`` (ISO-8601 UTC)."""
    first, last = observed(f)
    info: dict[str, Any] = {
        "uid": finding_id(f),
        "title": f.summary,
        "desc": f.summary,
        "types": [f.kind],
        "product_uid": f"keytrail/{f.kind}",
    }
    if first:
        info["first_seen_time"] = epoch_ms(first)
    if last:
        info["last_seen_time"] = epoch_ms(last)
    cloud: dict[str, Any] = {"provider": "AWS"}
    account = finding_account(f)
    if account:
        cloud["account"] = {"uid": account, "type": "AWS Account", "type_id": 10}
    region = finding_region(f)
    if region:
        cloud["region"] = region
    event: dict[str, Any] = {
        "activity_id": ACTIVITY_CREATE,
        "activity_name": "Create",
        "category_uid": CATEGORY_UID,
        "category_name": "Findings",
        "class_uid": CLASS_UID,
        "class_name": "Detection Finding",
        "type_uid": CLASS_UID * 100 + ACTIVITY_CREATE,
        "type_name": "Detection Finding: Create",
        "severity_id": SEVERITY_IDS[f.severity],
        "severity": SEVERITY_NAMES[f.severity],
        "status_id": 1,
        "status": "New",
        "time": epoch_ms(now),
        "message": f.summary,
        "count": f.evidence_count,
        "metadata": {
            "version": OCSF_VERSION,
            "profiles": ["cloud"],
            "product": {"name": "keytrail", "vendor_name": "keytrail", "version": __version__},
        },
        "cloud": cloud,
        "finding_info": info,
        "remediation": {"desc": f.recommendation},
        "unmapped": {"keytrail": {"kind": f.kind, "severity": f.severity, "key": f.key, "principal": f.principal,
                                  "evidence_count": f.evidence_count, "details": f.details}},
    }
    resource = _resource(f)
    if resource is not None:
        event["resources"] = [resource]
    evidences = _evidences(f)
    if evidences:
        event["evidences"] = evidences
    return event


def ocsf_events(findings: Sequence[Finding], now: str) -> list[dict[str, Any]]:
    """Every finding as an OCSF event (a JSON array; ``--format ocsf``)."""
    return [to_ocsf(f, now) for f in findings]
