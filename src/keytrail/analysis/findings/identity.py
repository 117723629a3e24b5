"""What makes a finding the same finding in every run: its stable id, the account and Region it is
about, and the span of time it was observed.

The id is what Security Hub, a SIEM or a notification state matches on, so that a finding found
again updates what was exported before instead of adding a copy. It is derived from what the
finding is *about* -- never from counts, times, the window or the wording of its summary:

    kind, key, principal, and for the kinds that have several findings per key and principal:
      permission-never-used   the key policy statement (its Sid, else its position)
      grant-never-used        the grant id
      conflicting-copies      the eventID
      identity-conflict       the unique id

hashed with SHA-256 (``keytrail-v1-`` + 40 hex digits; ``finding_uuid`` gives the same identity
as a UUID for formats that want one). Log text only ever enters the hash, never the id itself.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable
from typing import Any

from keytrail.analysis.findings.base import Finding
from keytrail.normalize.rules import key_arn_parts

ID_PREFIX = "keytrail-v1-"
_NAMESPACE = uuid.UUID("6f1c2b7e-5d0a-4c1e-9a43-7f2f8c1d0b6e")  # keytrail's UUIDv5 namespace (fixed)

# kind -> the details field that tells apart several findings of one (kind, key, principal)
DISCRIMINATORS: dict[str, str] = {
    "permission-never-used": "statement",
    "grant-never-used": "grant_id",
    "conflicting-copies": "event_id",
    "identity-conflict": "unique_id",
}

# details fields that hold when a finding's calls were seen (first / last), in the finding kinds
_FIRST_FIELDS = ("first", "first_seen", "first_failed")
_LAST_FIELDS = ("last", "last_seen", "last_failed", "last_use")


def identity(f: Finding) -> tuple[str, ...]:
    """The fields a finding is identified by (see the module docstring)."""
    field = DISCRIMINATORS.get(f.kind)
    extra = "" if field is None else str(f.details.get(field) if f.details.get(field) is not None else "")
    return (f.kind, f.key or "", f.principal or "", extra)


def finding_id(f: Finding) -> str:
    """The finding's stable id: the same finding gets the same id in every run."""
    digest = hashlib.sha256("\x00".join(identity(f)).encode("utf-8", "surrogatepass")).hexdigest()
    return ID_PREFIX + digest[:40]


def finding_uuid(f: Finding) -> str:
    """The stable id as a UUID (version 5), for formats that identify results by a GUID."""
    return str(uuid.uuid5(_NAMESPACE, finding_id(f)))


def duplicate_ids(findings: Iterable[Finding]) -> list[str]:
    """Ids shared by more than one finding of a run (there should be none)."""
    seen: set[str] = set()
    dup: set[str] = set()
    for f in findings:
        i = finding_id(f)
        (dup if i in seen else seen).add(i)
    return sorted(dup)


def _account_of_arn(arn: str) -> str | None:
    parts = arn.split(":")
    if len(parts) >= 6 and parts[0] == "arn" and parts[4].isdigit() and len(parts[4]) == 12:
        return parts[4]
    return None


def finding_account(f: Finding) -> str | None:
    """The AWS account a finding is about: its key's owner, else the account of the ARNs it names
    (``identity-conflict``); None when it names none (``conflicting-copies``)."""
    if f.key:
        parts = key_arn_parts(f.key)
        if parts:
            return parts[2]
        acct = _account_of_arn(f.key)
        if acct:
            return acct
    arns = f.details.get("arns")
    if isinstance(arns, list):
        for arn in arns:
            if isinstance(arn, str) and (acct := _account_of_arn(arn)):
                return acct
    return None


def finding_region(f: Finding) -> str | None:
    """The Region of the finding's key (None for findings that name no key)."""
    if f.key:
        parts = key_arn_parts(f.key)
        if parts:
            return parts[1]
        pieces = f.key.split(":")
        if len(pieces) >= 6 and pieces[0] == "arn" and pieces[3]:
            return pieces[3]
    return None


def observed(f: Finding) -> tuple[str | None, str | None]:
    """The first and last time (ISO-8601 UTC) the calls behind the finding were seen, from its
    details and evidence; (None, None) when it names no time."""
    firsts: list[str] = []
    lasts: list[str] = []
    details: dict[str, Any] = f.details
    for name in _FIRST_FIELDS:
        if isinstance(details.get(name), str):
            firsts.append(details[name])
    for name in _LAST_FIELDS:
        if isinstance(details.get(name), str):
            lasts.append(details[name])
    times = [e.event_time for e in f.evidence if e.event_time]
    firsts += times
    lasts += times
    if not firsts and lasts:
        firsts = lasts
    if not lasts and firsts:
        lasts = firsts
    return (min(firsts) if firsts else None, max(lasts) if lasts else None)
