"""Every word the terminal layout prints, in one place: column headers, the answer in words, kinds of
principal, resources and services by name, counts in human units.

Templates take named fields (``{name}``), so a translation may order them as its language needs;
numbers are written with thousands separators. Nothing else in ``keytrail.render``'s terminal
views spells a user-facing word.

The words are English here, marked for the catalogues (``keytrail.i18n.N_``), and said in the
current language where they are read: ``words.H``, ``words.WHO_USES``... are looked up through the
module's ``__getattr__`` (PEP 562), which translates them (service names, ``COUNTS`` and
``HIDDEN_VIA`` are names, not words, and stay as they are).
"""

from __future__ import annotations

from typing import Any

from keytrail import i18n
from keytrail.i18n import N_, _

# ---- column headers ----------------------------------------------------------------------------

_H = {
    "key": N_("key"),
    "aliases": N_("aliases"),
    "account": N_("account"),
    "region": N_("Region"),
    "manager": N_("manager"),
    "state": N_("state"),
    "crypto_calls": N_("crypto calls"),
    "principals": N_("principals"),
    "principal": N_("principal"),
    "type": N_("type"),
    "keys": N_("keys"),
    "encrypt": N_("encrypt"),
    "decrypt": N_("decrypt"),
    "sign": N_("sign"),
    "admin": N_("admin"),
    "denied": N_("denied"),
    "first_seen": N_("first seen"),
    "last_seen": N_("last seen"),
    "first_use": N_("first use"),
    "last_use": N_("last use"),
    "via": N_("via"),
    "sessions": N_("sessions"),
    "resources": N_("resources"),
    "source_ips": N_("source IPs"),
    "user_agents": N_("user agents"),
    "person": N_("person"),
    "basis": N_("found by"),
    "chains": N_("role chains"),
    "description": N_("description"),
    "tags": N_("tags"),
    "rule": N_("rule"),
    "operation": N_("operation"),
    "event_names": N_("calls made"),
    "calls": N_("calls"),
    "evidence": N_("evidence"),
    "severity": N_("severity"),
    "kind": N_("kind"),
    "summary": N_("finding"),
    "recommendation": N_("recommendation"),
    "status": N_("status"),
    "file": N_("file"),
    "problem": N_("problem"),
}

COUNTS = ("encrypt", "decrypt", "sign", "admin", "denied")

# ---- counted nouns -------------------------------------------------------------------------------

_NOUNS = {
    "principal": (N_("{n} principal"), N_("{n} principals")),
    "call": (N_("{n} call"), N_("{n} calls")),
    "key": (N_("{n} key"), N_("{n} keys")),
    "record": (N_("{n} record"), N_("{n} records")),
    "file": (N_("{n} file"), N_("{n} files")),
    "object": (N_("{n} object"), N_("{n} objects")),
    "KMS call": (N_("{n} KMS call"), N_("{n} KMS calls")),
    "key-use row": (N_("{n} key-use row"), N_("{n} key-use rows")),
    "request": (N_("{n} request"), N_("{n} requests")),
}


def number(n: int) -> str:
    """``n`` with thousands separators."""
    return f"{n:,}"


def count(n: int, noun: str) -> str:
    """``1 principal``, ``1,234 calls`` (in the current language)."""
    one, many = _NOUNS[noun]
    # each form is its own message (English's two forms; a language with one says both alike)
    return _(one if n == 1 else many).format(n=number(n))


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
        return _("{seconds:.1f} s").format(seconds=seconds)
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return _("{minutes} min {seconds} s").format(minutes=minutes, seconds=secs)
    return _("{hours} h {minutes} min").format(hours=minutes // 60, minutes=minutes % 60)


# ---- principals ----------------------------------------------------------------------------------

_KIND = {
    "user": N_("IAM user"),
    "role": N_("role"),
    "root": N_("root user"),
    "federated": N_("federated user"),
    "service": N_("AWS service"),
    "hidden": N_("hidden caller"),
    "identitycenter": N_("Identity Center user"),
    "saml": N_("SAML user"),
    "webidentity": N_("web identity user"),
    "other": N_("principal"),
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
_RESOURCE = {
    "s3-object": ("s3", N_("object"), N_("objects")),
    "s3-bucket": ("s3", N_("bucket"), N_("buckets")),
    "ebs-volume": ("ebs", N_("EBS volume"), N_("EBS volumes")),
    "lambda-function": ("lambda", N_("Lambda function"), N_("Lambda functions")),
    "secret": ("secretsmanager", N_("secret"), N_("secrets")),
    "ssm-parameter": ("ssm", N_("parameter"), N_("parameters")),
    "rds-db": ("rds", N_("RDS database"), N_("RDS databases")),
    "dynamodb-table": ("dynamodb", N_("DynamoDB table"), N_("DynamoDB tables")),
    "dynamodb-subscriber": ("dynamodb", N_("DynamoDB subscriber"), N_("DynamoDB subscribers")),
    "log-group": ("logs", N_("log group"), N_("log groups")),
    "trail": ("cloudtrail", N_("trail"), N_("trails")),
    "sqs-queue": ("sqs", N_("queue"), N_("queues")),
    "sns-topic": ("sns", N_("topic"), N_("topics")),
    "backup-source": ("backup", N_("backup source"), N_("backup sources")),
    "redshift": ("redshift", N_("Redshift resource"), N_("Redshift resources")),
    "ssm-session": ("ssm", N_("Session Manager session"), N_("Session Manager sessions")),
    "workspace": ("workspaces", N_("WorkSpace"), N_("WorkSpaces")),
}
_COUNTED = N_("{n} {things}")  # how many resources of a kind: "12 objects"
_VALUES = N_("{kind} values")  # many resources of a kind an application named (an encryption context key)
HIDDEN_VIA = ("AWS Internal", "internal.amazonaws.com")  # a service on the caller's behalf, not named

# ---- the answer in words -------------------------------------------------------------------------

_WHO_USES = N_("Who uses {key}?")
_MEANT_KEYS = N_("{key} means {keys}:")
_NO_CALLS = N_("{key}: no calls in the store")
_KEY_LINE = N_("Key {id}")
_KEY_ALIASES = N_(" ({aliases})")
_KEY_PLACE = N_(" — account {account}, {region}")
_KEY_FACTS = N_("{manager}, account {account}, {region}")
_MANAGER_CELL = {"customer": N_("customer"), "aws": N_("aws"), "unknown": N_("unknown")}  # in a table's cell
_MANAGER = {"customer": N_("customer managed"), "aws": N_("AWS managed"), "unknown": N_("manager unknown")}
_STATE_FLAG = {"PendingDeletion": N_("PENDING DELETION"), "Disabled": N_("disabled"), "PendingImport": N_("pending import"),
              "Unavailable": N_("unavailable"), "PendingReplicaDeletion": N_("PENDING REPLICA DELETION")}
_SPAN = N_("Calls from {first} to {last} {zone}: {principals}, {calls}")
_SPAN_WINDOW = N_("Window {since} to {until} {zone}: {principals}, {calls}")
_OPEN_START = N_("the start")
_OPEN_END = N_("now")
_PRINCIPAL_LINE = N_("{name} ({kind}): {counts}")
_PRINCIPAL_LINE_ACCOUNT = N_("{name} ({kind}, account {account}): {counts}")
_COUNT = N_("{what} {n}")
_DASH = N_(" — ")
_LIST_SEP = N_(", ")  # between the counts of a sentence, between its resources
_THEN = N_("; ")  # between the services (via) and the resources
_VIA = N_("via {services}")
_ON_BEHALF = N_("{service} ({via})")
_OBJECTS_IN = N_("{objects} in {bucket}")
_ONE_RESOURCE = N_("{what} {name}")
_MORE = N_("+{n} more")
_TABLE_CAPTION = N_("By principal — times {zone}{year}")
_YEAR = N_(", {year}")
_DETAILS_HINT = N_("More: --details (sessions, resources, IPs, user agents), --wide (one wide table)")

# ---- other reports' titles -----------------------------------------------------------------------

_SCOPE = N_("account {account}, {region}")
_PLACE = N_("account {account}, {region}")
_SCOPE_ACCOUNT = N_("account {account}")
_SCOPE_REGION = N_("{region}")
_TIMES = N_("times {zone}{year}")
_SCOPE_SEP = N_(" · ")
_KEYS_TITLE = N_("Keys")
_USAGE_TITLE = N_("Usage by key and principal")
_PRINCIPALS_TITLE = N_("Principals")
_INVENTORY_TITLE = N_("KMS key inventory")
_PERSON_TITLE = N_("Who uses {key}, by person")
_NOBODY = N_("(not known)")  # a person the archive does not name
_FINDINGS_TITLE = N_("Findings: {counts}")
_NO_FINDINGS = N_("No findings.")
_NO_PROBLEMS = N_("No problems: no record rejected, no KMS call unattributable, no file unreadable.")
_VIOLATIONS_TITLE = N_("Violations")
_NO_ROWS = N_("(no rows)")
_EVIDENCE_MORE = N_("(+{n} more)")
_COUNT_VIA = {("s3", "encrypt"): N_("encrypt {n} (uploads)"), ("s3", "decrypt"): N_("decrypt {n} (downloads)")}
"""A count said with what the service did: S3 asks KMS for a data key (encrypt) when an object is
written, and to decrypt it when the object is read."""

# ---- said in the current language -----------------------------------------------------------------

_ENGLISH: dict[str, Any] = {name[1:]: value for name, value in globals().items()
                            if name.startswith("_") and name[1:2].isupper() and name != "_NOUNS"}
_SAID: dict[tuple[str, str], Any] = {}


def _said(value: Any) -> Any:
    if isinstance(value, str):
        return _(value)
    if isinstance(value, dict):
        return {k: _said(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return tuple(_said(v) for v in value)
    return value


def __getattr__(name: str) -> Any:
    """``words.NAME``: the word or template ``NAME`` in the current language."""
    if name not in _ENGLISH:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    key = (i18n.language(), name)
    if key not in _SAID:
        _SAID[key] = _said(_ENGLISH[name])
    return _SAID[key]
