"""Every word the terminal layout prints, in one place: column headers, the answer in words, kinds of
principal, resources and services by name, counts in human units.

Templates take named fields (``{name}``), so a translation may order them as its language needs;
numbers are written with thousands separators. Nothing else in ``keytrail.render``'s terminal
views spells a user-facing word.
"""

from __future__ import annotations

# ---- column headers ----------------------------------------------------------------------------

H = {
    "key": "key",
    "aliases": "aliases",
    "account": "account",
    "region": "Region",
    "manager": "manager",
    "state": "state",
    "crypto_calls": "crypto calls",
    "principals": "principals",
    "principal": "principal",
    "type": "type",
    "keys": "keys",
    "encrypt": "encrypt",
    "decrypt": "decrypt",
    "sign": "sign",
    "admin": "admin",
    "denied": "denied",
    "first_seen": "first seen",
    "last_seen": "last seen",
    "first_use": "first use",
    "last_use": "last use",
    "via": "via",
    "sessions": "sessions",
    "resources": "resources",
    "source_ips": "source IPs",
    "user_agents": "user agents",
    "person": "person",
    "basis": "found by",
    "chains": "role chains",
    "description": "description",
    "tags": "tags",
    "rule": "rule",
    "operation": "operation",
    "event_names": "calls made",
    "calls": "calls",
    "evidence": "evidence",
    "severity": "severity",
    "kind": "kind",
    "summary": "finding",
    "recommendation": "recommendation",
    "status": "status",
    "file": "file",
    "problem": "problem",
}

COUNTS = ("encrypt", "decrypt", "sign", "admin", "denied")

# ---- counted nouns -------------------------------------------------------------------------------

_NOUNS = {
    "principal": ("principal", "principals"),
    "call": ("call", "calls"),
    "key": ("key", "keys"),
    "record": ("record", "records"),
    "file": ("file", "files"),
    "object": ("object", "objects"),
    "KMS call": ("KMS call", "KMS calls"),
    "key-use row": ("key-use row", "key-use rows"),
    "request": ("request", "requests"),
}


def number(n: int) -> str:
    """``n`` with thousands separators."""
    return f"{n:,}"


def count(n: int, noun: str) -> str:
    """``1 principal``, ``1,234 calls``."""
    one, many = _NOUNS[noun]
    return f"{number(n)} {one if n == 1 else many}"


def megabytes_per_second(n_bytes: int, seconds: float) -> str:
    """A read rate: ``4.1 MB/s``, ``120 MB/s``, ``35 kB/s``, ``600 B/s``."""
    rate = n_bytes / seconds
    if rate < 1e3:
        return f"{rate:,.0f} B/s"
    if rate < 1e6:
        return f"{rate / 1e3:,.0f} kB/s"
    return f"{rate / 1e6:.1f} MB/s" if rate < 1e7 else f"{rate / 1e6:,.0f} MB/s"


def duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes} min {secs} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min"


# ---- principals ----------------------------------------------------------------------------------

KIND = {
    "user": "IAM user",
    "role": "role",
    "root": "root user",
    "federated": "federated user",
    "service": "AWS service",
    "hidden": "hidden caller",
    "identitycenter": "Identity Center user",
    "saml": "SAML user",
    "webidentity": "web identity user",
    "other": "principal",
}

# ---- services and resources by name --------------------------------------------------------------

SERVICE = {
    "s3": "S3",
    "ec2": "EC2",
    "ebs": "EBS",
    "lambda": "Lambda",
    "secretsmanager": "Secrets Manager",
    "ssm": "Systems Manager",
    "rds": "RDS",
    "dynamodb": "DynamoDB",
    "logs": "CloudWatch Logs",
    "cloudtrail": "CloudTrail",
    "sqs": "SQS",
    "sns": "SNS",
    "backup": "AWS Backup",
    "redshift": "Redshift",
    "workspaces": "WorkSpaces",
    "glue": "Glue",
    "athena": "Athena",
    "kinesis": "Kinesis",
    "elasticfilesystem": "EFS",
}

# a resource kind (keytrail.normalize.rules.CONTEXT_RESOURCES) -> its service and its name, one and many
RESOURCE = {
    "s3-object": ("s3", "object", "objects"),
    "s3-bucket": ("s3", "bucket", "buckets"),
    "ebs-volume": ("ebs", "EBS volume", "EBS volumes"),
    "lambda-function": ("lambda", "Lambda function", "Lambda functions"),
    "secret": ("secretsmanager", "secret", "secrets"),
    "ssm-parameter": ("ssm", "parameter", "parameters"),
    "rds-db": ("rds", "RDS database", "RDS databases"),
    "dynamodb-table": ("dynamodb", "DynamoDB table", "DynamoDB tables"),
    "dynamodb-subscriber": ("dynamodb", "DynamoDB subscriber", "DynamoDB subscribers"),
    "log-group": ("logs", "log group", "log groups"),
    "trail": ("cloudtrail", "trail", "trails"),
    "sqs-queue": ("sqs", "queue", "queues"),
    "sns-topic": ("sns", "topic", "topics"),
    "backup-source": ("backup", "backup source", "backup sources"),
    "redshift": ("redshift", "Redshift resource", "Redshift resources"),
    "ssm-session": ("ssm", "Session Manager session", "Session Manager sessions"),
    "workspace": ("workspaces", "WorkSpace", "WorkSpaces"),
}
VALUES = "{kind} values"  # many resources of a kind an application named (an encryption context key)
HIDDEN_VIA = ("AWS Internal", "internal.amazonaws.com")  # a service on the caller's behalf, not named

# ---- the answer in words -------------------------------------------------------------------------

WHO_USES = "Who uses {key}?"
MEANT_KEYS = "{key} means {keys}:"
NO_CALLS = "{key}: no calls in the store"
KEY_LINE = "Key {id}"
KEY_ALIASES = " ({aliases})"
KEY_PLACE = " — account {account}, {region}"
KEY_FACTS = "{manager}, account {account}, {region}"
MANAGER = {"customer": "customer managed", "aws": "AWS managed", "unknown": "manager unknown"}
STATE_FLAG = {"PendingDeletion": "PENDING DELETION", "Disabled": "disabled", "PendingImport": "pending import",
              "Unavailable": "unavailable", "PendingReplicaDeletion": "PENDING REPLICA DELETION"}
SPAN = "Calls from {first} to {last} UTC: {principals}, {calls}"
SPAN_WINDOW = "Window {since} to {until} UTC: {principals}, {calls}"
OPEN_START = "the start"
OPEN_END = "now"
PRINCIPAL_LINE = "{name} ({kind}): {counts}"
PRINCIPAL_LINE_ACCOUNT = "{name} ({kind}, account {account}): {counts}"
COUNT = "{what} {n}"
DASH = " — "
THEN = "; "  # between the services (via) and the resources
VIA = "via {services}"
ON_BEHALF = "{service} ({via})"
OBJECTS_IN = "{objects} in {bucket}"
ONE_RESOURCE = "{what} {name}"
MORE = "+{n} more"
TABLE_CAPTION = "By principal — times UTC{year}"
YEAR = ", {year}"
DETAILS_HINT = "More: --details (sessions, resources, IPs, user agents), --wide (one wide table)"

# ---- other reports' titles -----------------------------------------------------------------------

SCOPE = "account {account}, {region}"
PLACE = "account {account}, {region}"
SCOPE_ACCOUNT = "account {account}"
SCOPE_REGION = "{region}"
TIMES = "times UTC{year}"
SCOPE_SEP = " · "
KEYS_TITLE = "Keys"
USAGE_TITLE = "Usage by key and principal"
PRINCIPALS_TITLE = "Principals"
INVENTORY_TITLE = "KMS key inventory"
PERSON_TITLE = "Who uses {key}, by person"
NOBODY = "(not known)"  # a person the archive does not name
FINDINGS_TITLE = "Findings: {counts}"
NO_FINDINGS = "No findings."
VIOLATIONS_TITLE = "Violations"
NO_ROWS = "(no rows)"
EVIDENCE_MORE = "(+{n} more)"
