"""The attribution rules: operation classes, ARN forms, encryption-context resources, principals.

Everything here is pure and total: any JSON value in, an answer (possibly None) out, never an
exception. The normaliser composes these; the resolver (``resolve``) applies the rules that need
other records.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from keytrail.model import ADMIN, DECRYPT, ENCRYPT, SIGN

KMS_SOURCE = "kms.amazonaws.com"

ENCRYPT_EVENTS = frozenset(
    {
        "Encrypt",
        "GenerateDataKey",
        "GenerateDataKeyWithoutPlaintext",
        "GenerateDataKeyPair",
        "GenerateDataKeyPairWithoutPlaintext",
    }
)
DECRYPT_EVENTS = frozenset({"Decrypt"})
SIGN_EVENTS = frozenset({"Sign", "Verify", "GenerateMac", "VerifyMac", "DeriveSharedSecret"})
ALIAS_EVENTS = frozenset({"CreateAlias", "UpdateAlias", "DeleteAlias"})
STS_SOURCE = "sts.amazonaws.com"
CREDENTIAL_EVENTS = frozenset({"AssumeRole", "AssumeRoleWithSAML", "AssumeRoleWithWebIdentity"})
CRYPTO_OPERATIONS = frozenset({ENCRYPT, DECRYPT, SIGN})


def operation_class(event_name: str) -> str:
    """encrypt / decrypt / sign / admin for a KMS event name (ReEncrypt is split by the caller)."""
    if event_name in ENCRYPT_EVENTS:
        return ENCRYPT
    if event_name in DECRYPT_EVENTS:
        return DECRYPT
    if event_name in SIGN_EVENTS:
        return SIGN
    return ADMIN


_KEY_ARN = re.compile(r"arn:(aws[a-z-]*):kms:([a-z0-9-]+):(\d{12}):key/(\S+)\Z")
_ALIAS_ARN = re.compile(r"arn:(aws[a-z-]*):kms:([a-z0-9-]+):(\d{12}):(alias/\S+)\Z")
_ACCOUNT = re.compile(r"\d{12}\Z")
_BARE_KEY_ID = re.compile(r"[A-Za-z0-9-]+\Z")  # a key id: a UUID, or mrk- and hex digits


def is_key_arn(value: object) -> bool:
    return isinstance(value, str) and _KEY_ARN.match(value) is not None


def key_arn_parts(arn: str) -> tuple[str, str, str, str] | None:
    """(partition, region, account, key id) of a key ARN."""
    m = _KEY_ARN.match(arn)
    return (m[1], m[2], m[3], m[4]) if m else None


def alias_arn_parts(arn: str) -> tuple[str, str, str, str] | None:
    """(partition, region, account, alias name) of an alias ARN."""
    m = _ALIAS_ARN.match(arn)
    return (m[1], m[2], m[3], m[4]) if m else None


def partition_of(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    if region.startswith("us-iso"):
        return "aws-iso-b" if region.startswith("us-isob") else "aws-iso"
    return "aws"


def is_account(value: object) -> bool:
    return isinstance(value, str) and _ACCOUNT.match(value) is not None


def key_reference(ref: object, region: str | None, account: str | None) -> tuple[str, str] | None:
    """Classify a keyId as written: ("key", key ARN) or ("alias", alias ARN), or None.

    A bare key id belongs to the record's Region and recipient account; an alias name to the
    alias list of that account and Region. Another account's key can only be named by its ARN.
    """
    if not isinstance(ref, str) or not ref:
        return None
    if ref.startswith("arn:"):
        if _KEY_ARN.match(ref):
            return ("key", ref)
        if _ALIAS_ARN.match(ref):
            return ("alias", ref)
        return None
    if not region or not is_account(account) or any(c.isspace() for c in ref):
        return None
    part = partition_of(region)
    if ref.startswith("alias/"):
        return ("alias", f"arn:{part}:kms:{region}:{account}:{ref}")
    if _BARE_KEY_ID.match(ref) is None:  # also rejects redaction markers (HIDDEN_DUE_TO_..., <sensitiveDataRemoved>)
        return None
    return ("key", f"arn:{part}:kms:{region}:{account}:key/{ref}")


# ---- time -------------------------------------------------------------------------------------

_time_cache: dict[str, int | None] = {}


def parse_event_time(value: object) -> int | None:
    """eventTime as epoch seconds (UTC); None when it is not an ISO-8601 date-time."""
    if not isinstance(value, str):
        return None
    hit = _time_cache.get(value, -1)
    if hit != -1:
        return hit
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        result = None
    else:
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=UTC)
        result = int(dt.timestamp()) if dt.year > 1970 else None
    if len(_time_cache) > 100_000:
        _time_cache.clear()
    _time_cache[value] = result
    return result


# ---- resources from the encryption context ---------------------------------------------------

CONTEXT_RESOURCES: tuple[tuple[str, str], ...] = (
    ("aws:s3:arn", "s3"),
    ("aws:ebs:id", "ebs-volume"),
    ("aws:lambda:FunctionArn", "lambda-function"),
    ("SecretARN", "secret"),
    ("PARAMETER_ARN", "ssm-parameter"),
    ("aws:rds:db-id", "rds-db"),
    ("aws:dynamodb:tableName", "dynamodb-table"),
    ("aws:dynamodb:subscriberId", "dynamodb-subscriber"),
    ("aws:logs:arn", "log-group"),
    ("aws:cloudtrail:arn", "trail"),
    ("aws:sqs:arn", "sqs-queue"),
    ("aws:sns:topicArn", "sns-topic"),
    ("aws:backup:source-resource", "backup-source"),
    ("aws:redshift:arn", "redshift"),
    ("aws:ssm:SessionId", "ssm-session"),
    ("aws:workspaces:arn", "workspace"),
)


_CONTEXT_RANK = {key: (rank, kind) for rank, (key, kind) in enumerate(CONTEXT_RESOURCES)}


def context_resource(ctx: dict[str, Any]) -> tuple[str | None, str | None]:
    """(kind, id) of what the encryption context says was protected; custom keys kept verbatim.

    Several known keys: the first in CONTEXT_RESOURCES order. Only custom keys: the first in
    sorted order, its name as the kind.
    """
    best: tuple[int, str, str] | None = None
    custom: tuple[str, str] | None = None
    for key, value in ctx.items():
        if type(value) is not str:
            continue
        known = _CONTEXT_RANK.get(key)
        if known is not None:
            if best is None or known[0] < best[0]:
                best = (known[0], known[1], value)
        elif custom is None or key < custom[0]:
            custom = (key, value)
    if best is not None:
        _, kind, value = best
        if kind == "s3":
            return ("s3-object" if "/" in value.partition(":::")[2] else "s3-bucket", value)
        return kind, value
    return custom if custom is not None else (None, None)


# ---- principals --------------------------------------------------------------------------------


class Identity:
    """The principal fields of one userIdentity, canonicalised (see DOMAIN.md's table)."""

    __slots__ = (
        "type",
        "principal",
        "uid",
        "account",
        "session",
        "on_behalf_of",
        "access_key_id",
        "via",
        "hint",
        "problem",
    )

    def __init__(self) -> None:
        self.type: str | None = None
        self.principal: str | None = None
        self.uid: str | None = None
        self.account: str | None = None
        self.session: str | None = None
        self.on_behalf_of: str | None = None
        self.access_key_id: str | None = None
        self.via: str | None = None
        self.hint: tuple[str, str] | None = None
        self.problem: str | None = None


def _s(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _d(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


_ROLE_FROM_STS = re.compile(r"arn:(aws[a-z-]*):sts::(\d{12}):assumed-role/([^/]+)/(.*)\Z")


def identity_of(ui: dict[str, Any]) -> Identity:
    """Canonical principal of a userIdentity object (a dict; the caller checks the type)."""
    out = Identity()
    t = _s(ui.get("type"))
    out.type = t
    out.account = _s(ui.get("accountId"))
    out.access_key_id = _s(ui.get("accessKeyId"))
    out.via = _s(ui.get("invokedBy"))
    arn = _s(ui.get("arn"))
    pid = _s(ui.get("principalId"))
    obo = _d(ui.get("onBehalfOf"))
    out.on_behalf_of = _s(obo.get("userId"))
    if t == "IAMUser":
        name = _s(ui.get("userName"))
        session_arn = _ROLE_FROM_STS.match(arn) if arn and ":assumed-role/" in arn else None
        if session_arn:
            # a role session labelled IAMUser (published examples do this): the role is the principal
            out.principal = f"arn:{session_arn[1]}:iam::{session_arn[2]}:role/{session_arn[3]}"
            out.session = session_arn[4]
        elif arn:
            out.principal = arn
        elif name and is_account(out.account):
            out.principal = f"arn:aws:iam::{out.account}:user/{name}"
        if pid and arn and not session_arn:
            out.hint = (pid, arn)
    elif t == "AssumedRole":
        issuer = _d(_d(ui.get("sessionContext")).get("sessionIssuer"))
        role_arn = _s(issuer.get("arn"))
        if pid and ":" in pid:
            out.session = pid.partition(":")[2]
        if role_arn:
            out.principal = role_arn
            ipid = _s(issuer.get("principalId"))
            if ipid:
                out.hint = (ipid, role_arn)
        elif arn:
            m = _ROLE_FROM_STS.match(arn)
            if m:
                out.principal = f"arn:{m[1]}:iam::{m[2]}:role/{m[3]}"
                out.session = out.session or m[4]
        if out.principal is None:
            out.problem = "AssumedRole identity without sessionIssuer.arn or an assumed-role arn"
    elif t == "FederatedUser":
        if arn:
            out.principal = arn
        elif pid and ":" in pid and is_account(pid.partition(":")[0]):
            acct, _, name = pid.partition(":")
            out.principal = f"arn:aws:sts::{acct}:federated-user/{name}"
    elif t == "Root":
        if arn and arn.endswith(":root"):
            out.principal = arn
        elif is_account(out.account):
            out.principal = f"arn:aws:iam::{out.account}:root"
    elif t == "AWSService":
        out.principal = out.via or _s(ui.get("principal"))
        if out.principal is None:
            out.problem = "AWSService identity without invokedBy"
    elif t == "AWSAccount":
        if pid and is_account(pid):
            out.principal = f"arn:aws:iam::{pid}:root"
        elif pid and ":" in pid and is_account(pid.partition(":")[0]):
            facct, _, name = pid.partition(":")
            out.principal = f"arn:aws:sts::{facct}:federated-user/{name}"
        elif pid:
            uid, _, session = pid.partition(":")
            out.uid = uid
            out.session = session or None
            if not out.account:
                out.problem = "AWSAccount identity without accountId"
        else:
            out.problem = "AWSAccount identity without principalId"
    elif t == "IdentityCenterUser":
        store = _s(obo.get("identityStoreArn"))
        if store and out.on_behalf_of:
            out.principal = f"identitycenter:{store}/user/{out.on_behalf_of}"
        else:
            out.problem = "IdentityCenterUser without onBehalfOf identityStoreArn/userId"
    elif t in ("SAMLUser", "WebIdentityUser"):
        idp = _s(ui.get("identityProvider"))
        name = _s(ui.get("userName"))
        prefix = "saml" if t == "SAMLUser" else "webidentity"
        if idp and name:
            out.principal = f"{prefix}:{idp}/{name}"
        else:
            out.problem = f"{t} without identityProvider/userName"
    elif t is None:
        if out.via:
            out.type = "AWSService"
            out.principal = out.via
        else:
            out.problem = "userIdentity has neither type nor invokedBy"
    else:
        if arn:
            out.principal = arn
        else:
            out.problem = f"unsupported userIdentity type {t!r} without arn"
    return out
