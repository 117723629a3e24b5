"""Findings in the AWS Security Finding Format (ASFF), as Security Hub's BatchImportFindings takes them.

Each finding becomes one ``AwsSecurityFinding`` with the attributes Security Hub requires
(SchemaVersion ``2018-10-08``, Id, ProductArn, GeneratorId, AwsAccountId, Types, CreatedAt,
UpdatedAt, Severity, Title, Description, Resources) and what keytrail knows besides:

* ``Id`` is the finding's stable id (``analysis.findings.identity``): a later import updates it.
* ``ProductArn`` is the account's own custom integration,
  ``arn:aws:securityhub:REGION:ACCOUNT:product/ACCOUNT/default``; ``AwsAccountId`` is the account
  the finding is about (its key's owner). With that product ARN, Security Hub takes a finding only
  from that same account (``keytrail.deliver.securityhub`` keeps to it).
* ``GeneratorId`` is ``keytrail/KIND``; ``Types`` a path of AWS's taxonomy ending in the kind.
* Severity and Types are also given in ``FindingProviderFields``, the place Security Hub reads a
  provider's updates of them from.
* ``Resources``: the key (``AwsKmsKey``, its ARN, ``Details.AwsKmsKey``), the IAM role or user
  when the principal is one, else the account (``AwsAccount``).

Limits (``check_asff``): Title 256 characters, Description 1024, Remediation text 512, a
ProductFields value 2048, a finding 240 KB; a batch holds at most 100 findings and 6 MB.

Log text is data: control characters, bidirectional overrides and line separators are written
escaped (``\\xNN``, ``\\uNNNN``), values are cut to the limits (marked with an ellipsis), and
nothing is interpreted -- Security Hub shows these fields as plain text.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

import orjson

from keytrail.analysis.findings.base import HIGH, INFO, LOW, MEDIUM, Finding
from keytrail.analysis.findings.identity import finding_account, finding_id, finding_region, observed
from keytrail.i18n import _
from keytrail.normalize.rules import key_arn_parts
from keytrail.render import safe

SCHEMA_VERSION = "2018-10-08"
MAX_BATCH_FINDINGS = 100
MAX_FINDING_BYTES = 240 * 1024
MAX_BATCH_BYTES = 6 * 1024 * 1024
TITLE_MAX = 256
DESCRIPTION_MAX = 1024
RECOMMENDATION_MAX = 512
PRODUCT_FIELD_MAX = 2048
PRODUCT_FIELDS_MAX = 50

REQUIRED = ("SchemaVersion", "Id", "ProductArn", "GeneratorId", "AwsAccountId", "Types", "CreatedAt",
            "UpdatedAt", "Severity", "Title", "Description", "Resources")

LABELS = {HIGH: "HIGH", MEDIUM: "MEDIUM", LOW: "LOW", INFO: "INFORMATIONAL"}

_CONFIG = "Software and Configuration Checks/AWS Security Best Practices"
_USER = "Unusual Behaviors/User"
TYPES: dict[str, str] = {
    "unused-key": _CONFIG,
    "no-evidence": _CONFIG,
    "key-pending-deletion": _CONFIG,
    "pending-deletion-use": _CONFIG,
    "key-disabled": _CONFIG,
    "disabled-key-use": _CONFIG,
    "denied-attempts": _USER,
    "new-principal": _USER,
    "cross-account-use": _USER,
    "root-use": _USER,
    "unexpected-network": "Unusual Behaviors/IP address",
    "permission-never-used": _CONFIG,
    "grant-never-used": _CONFIG,
    "permission-used": _CONFIG,
    "use-via-iam-delegation": _CONFIG,
    "use-not-explained": _USER,
    "conflicting-copies": "Unusual Behaviors/Data",
    "identity-conflict": "Unusual Behaviors/Data",
}

_IAM_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:(role|user)/[\w+=,.@/-]{1,512}$")
_ACCOUNT = re.compile(r"^\d{12}$")
_LINE_BREAKS = re.compile(r"[\u2028\u2029\u0085]")
ELLIPSIS = "\u2026"


def product_arn(region: str, account: str, partition: str = "aws") -> str:
    """The product ARN of an account's own findings (its custom integration)."""
    return f"arn:{partition}:securityhub:{region}:{account}:product/{account}/default"


def text(value: str, limit: int | None = None) -> str:
    """Log text for an ASFF string: controls and line separators escaped, cut to ``limit``
    characters (UTF-16 code units, as AWS counts them) with an ellipsis."""
    out = _LINE_BREAKS.sub(lambda m: f"\\u{ord(m.group()):04x}", safe.escaped(value))
    return out if limit is None else cut(out, limit)


def _units(s: str) -> int:
    return len(s.encode("utf-16-le", "surrogatepass")) // 2


def cut(s: str, limit: int) -> str:
    if _units(s) <= limit:
        return s
    out = []
    used = 1  # the ellipsis
    for ch in s:
        n = 2 if ord(ch) > 0xFFFF else 1
        if used + n > limit:
            break
        out.append(ch)
        used += n
    return "".join(out) + ELLIPSIS


def _key_resource(key: str, partition: str, f: Finding) -> dict[str, Any]:
    parts = key_arn_parts(key)
    resource: dict[str, Any] = {"Type": "AwsKmsKey", "Id": text(key, 1024), "Partition": partition}
    if parts is None:  # an alias that could not be resolved
        return resource
    resource["Region"] = parts[1]
    details: dict[str, Any] = {"AWSAccountId": parts[2], "KeyId": parts[3]}
    state = f.details.get("state")
    if isinstance(state, str) and state:
        details["KeyState"] = text(state, 128)
    manager = f.details.get("manager")
    if manager in ("customer", "aws"):
        details["KeyManager"] = str(manager).upper()
    resource["Details"] = {"AwsKmsKey": details}
    return resource


def resources(f: Finding, account: str, partition: str = "aws") -> list[dict[str, Any]]:
    """The key, the principal when it is an IAM role or user, else the account."""
    out: list[dict[str, Any]] = []
    if f.key:
        out.append(_key_resource(f.key, partition, f))
    if f.principal and _IAM_ARN.match(f.principal):
        kind = "AwsIamRole" if ":role/" in f.principal else "AwsIamUser"
        out.append({"Type": kind, "Id": f.principal, "Partition": partition})
    if not out:
        out.append({"Type": "AwsAccount", "Id": f"AWS::::Account:{account}", "Partition": partition})
    return out


def _evidence_text(f: Finding) -> str:
    calls = "; ".join(f"{e.event_name or '?'} {e.event_id or '?'} {e.event_time or ''}".strip() for e in f.evidence)
    return f"{f.evidence_count} call(s)" + (f"; first: {calls}" if calls else "")


def _product_fields(f: Finding, fid: str) -> dict[str, str]:
    fields = {
        "keytrail/Kind": f.kind,
        "keytrail/Severity": f.severity,
        "keytrail/FindingId": fid,
        "keytrail/EvidenceCount": str(f.evidence_count),
        "keytrail/Evidence": text(_evidence_text(f), PRODUCT_FIELD_MAX),
    }
    if f.principal:
        fields["keytrail/Principal"] = text(f.principal, PRODUCT_FIELD_MAX)
    if f.key:
        fields["keytrail/Key"] = text(f.key, PRODUCT_FIELD_MAX)
    return fields


def to_asff(  # long: one ASFF finding, attribute by attribute
    f: Finding,
    *,
    account: str,
    region: str,
    now: str,
    created_at: str | None = None,
    record_state: str = "ACTIVE",
    partition: str = "aws",
) -> dict[str, Any]:
    """One finding as ASFF, imported into ``account``'s Security Hub in ``region`` at ``now``
    (ISO-8601 UTC). ``created_at``: when the finding was first imported (kept on updates)."""
    fid = finding_id(f)
    first, last = observed(f)
    created = created_at or first or now
    created = min(created, now)  # never after UpdatedAt
    types = [f"{TYPES.get(f.kind, _CONFIG)}/{f.kind}"]
    severity = {"Label": LABELS[f.severity], "Original": f.severity}
    description = _("{summary}. Evidence: {evidence}.").format(summary=f.summary, evidence=_evidence_text(f))
    out: dict[str, Any] = {
        "SchemaVersion": SCHEMA_VERSION,
        "Id": fid,
        "ProductArn": product_arn(region, account, partition),
        "ProductName": "keytrail",
        "CompanyName": "keytrail",
        "Region": region,
        "GeneratorId": f"keytrail/{f.kind}",
        "AwsAccountId": finding_account(f) or account,
        "Types": types,
        "CreatedAt": created,
        "UpdatedAt": now,
        "Severity": severity,
        "FindingProviderFields": {"Severity": dict(severity), "Types": list(types)},
        "Title": text(f.summary, TITLE_MAX),
        "Description": text(description, DESCRIPTION_MAX),
        "Remediation": {"Recommendation": {"Text": text(f.recommendation, RECOMMENDATION_MAX)}},
        "ProductFields": _product_fields(f, fid),
        "Resources": resources(f, finding_account(f) or account, partition),
        "RecordState": record_state,
    }
    if first:
        out["FirstObservedAt"] = first
    if last:
        out["LastObservedAt"] = last
    return out


def size(finding: dict[str, Any]) -> int:
    """The finding's size as JSON, in bytes."""
    return len(orjson.dumps(finding))


def check_asff(finding: dict[str, Any]) -> list[str]:
    """What makes ``finding`` unfit for BatchImportFindings (an empty list when nothing does)."""
    problems = [f"{name} is missing" for name in REQUIRED if name not in finding]
    for name in ("Id", "GeneratorId", "Title", "Description"):
        value = finding.get(name)
        if name in finding and (not isinstance(value, str) or not value.strip()):
            problems.append(f"{name} must be a non-blank string")
    for name, limit in (("Title", TITLE_MAX), ("Description", DESCRIPTION_MAX), ("Id", 512)):
        value = finding.get(name)
        if isinstance(value, str) and _units(value) > limit:
            problems.append(f"{name} is longer than {limit} characters")
    if finding.get("SchemaVersion", SCHEMA_VERSION) != SCHEMA_VERSION:
        problems.append(f"SchemaVersion is not {SCHEMA_VERSION}")
    if "AwsAccountId" in finding and not _ACCOUNT.match(str(finding["AwsAccountId"])):
        problems.append("AwsAccountId is not a 12-digit account id")
    severity = finding.get("Severity")
    if "Severity" in finding and (not isinstance(severity, dict) or severity.get("Label") not in LABELS.values()):
        problems.append("Severity.Label is not one of " + ", ".join(LABELS.values()))
    types = finding.get("Types")
    if "Types" in finding and (not isinstance(types, list) or not types
                               or any(not isinstance(t, str) or t.count("/") > 2 for t in types)):
        problems.append("Types must be namespace/category/classifier paths")
    res = finding.get("Resources")
    if "Resources" in finding and (not isinstance(res, list) or not res
                                   or any(not r.get("Type") or not r.get("Id") for r in res)):
        problems.append("Resources must hold at least one resource with a Type and an Id")
    fields = finding.get("ProductFields") or {}
    if len(fields) > PRODUCT_FIELDS_MAX or any(_units(str(v)) > PRODUCT_FIELD_MAX for v in fields.values()):
        problems.append(f"ProductFields: at most {PRODUCT_FIELDS_MAX} values of {PRODUCT_FIELD_MAX} characters")
    if size(finding) > MAX_FINDING_BYTES:
        problems.append(f"the finding is larger than {MAX_FINDING_BYTES // 1024} KB")
    return problems


def batches(findings: Sequence[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """``findings`` in BatchImportFindings requests: at most 100 findings and 6 MB each."""
    out: list[list[dict[str, Any]]] = []
    current: list[dict[str, Any]] = []
    used = 16  # {"Findings":[]}
    for finding in findings:
        n = size(finding) + 1
        if current and (len(current) >= MAX_BATCH_FINDINGS or used + n > MAX_BATCH_BYTES):
            out.append(current)
            current, used = [], 16
        current.append(finding)
        used += n
    if current:
        out.append(current)
    return out


def asff_document(findings: Sequence[Finding], now: str, region: str | None = None) -> dict[str, Any]:
    """``{"Findings": [...]}`` as ``aws securityhub batch-import-findings --cli-input-json`` takes it
    (up to 100 at a time). Each finding is imported into its own account; ``region`` (else the
    key's Region) names the Security Hub Region; findings that name no account or Region take the
    ones most of the others name."""
    accounts = Counter(a for f in findings if (a := finding_account(f)))
    regions = Counter(r for f in findings if (r := finding_region(f)))
    default_account = accounts.most_common(1)[0][0] if accounts else "000000000000"
    default_region = regions.most_common(1)[0][0] if regions else "us-east-1"
    out = []
    for f in findings:
        account = finding_account(f) or default_account
        where = region or finding_region(f) or default_region
        out.append(to_asff(f, account=account, region=where, now=now))
    return {"Findings": out}
