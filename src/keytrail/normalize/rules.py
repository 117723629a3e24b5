"""The attribution rules: ARN forms, event times, encryption-context resources, principals.

Everything here is pure and total: any JSON value in, an answer (possibly None) out, never an
exception. The normaliser composes these; the resolver (``keytrail.resolve``) applies the rules
that need other records. Identity hints are read from every record, so their rule lives where
records are decoded (``keytrail.decode.hints``).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import msgspec

from keytrail.decode.hints import hint_of, identity_hint
from keytrail.decode.record import UserIdentity, as_struct

_KEY_ARN = re.compile(r"arn:(aws[a-z-]*):kms:([a-z0-9-]+):(\d{12}):key/(\S+)\Z")
_ALIAS_ARN = re.compile(r"arn:(aws[a-z-]*):kms:([a-z0-9-]+):(\d{12}):(alias/\S+)\Z")
_ACCOUNT = re.compile(r"\d{12}\Z")
_BARE_KEY_ID = re.compile(r"[A-Za-z0-9-]+\Z")  # a key id: a UUID, or mrk- and hex digits


_key_arns: dict[str, bool] = {}


def is_key_arn(value: object) -> bool:
    if type(value) is not str:
        return isinstance(value, str) and _KEY_ARN.match(value) is not None
    known = _key_arns.get(value)
    if known is None:
        known = _KEY_ARN.match(value) is not None
        if len(_key_arns) > 100_000:
            _key_arns.clear()
        _key_arns[value] = known
    return known


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


_REDACTED = re.compile(r"(HIDDEN_DUE_TO_SECURITY_REASONS|<sensitiveDataRemoved>|#{4,}|\*{4,})", re.IGNORECASE)


def _shown(value: object) -> str:
    return repr(str(value)[:80])


def _where(region: str | None, account: str | None, account_from: str) -> str:
    """Why a name that needs the record's account and Region cannot be placed ('' when it can)."""
    if not region:
        return "the record has no awsRegion"
    if not is_account(account):
        if account is None:
            return f"the record's account is not known ({account_from} is missing)"
        return f"the record's account is not known ({account_from} {_shown(account)} is not an account id)"
    return ""


def key_reference_problem(name: str, ref: object, region: str | None, account: str | None,
                          account_from: str = "recipientAccountId") -> str:  # fmt: skip
    """What is wrong with a key reference ``key_reference`` could not classify, in words that say
    what the value is (``name``: the request field, ``account_from``: where the account came from)."""
    if not isinstance(ref, str):
        return f"{name} is not a string ({type(ref).__name__}): not a key id, key ARN, alias name or alias ARN"
    if not ref:
        return f"{name} is empty"
    if _REDACTED.search(ref):
        return f"{name} {_shown(ref)} is redacted"
    if ref.startswith("arn:"):
        return f"{name} {_shown(ref)} is an ARN, but not of a KMS key or alias"
    if any(c.isspace() for c in ref):
        return f"{name} {_shown(ref)} holds whitespace: not a key id, key ARN, alias name or alias ARN"
    what = "an alias name" if ref.startswith("alias/") else "a bare key id" if _BARE_KEY_ID.match(ref) else None
    if what is None:
        return f"{name} {_shown(ref)} is not a key id, key ARN, alias name or alias ARN"
    where = _where(region, account, account_from)
    return f"{name} {_shown(ref)} is {what}, but {where}" if where else f"{name} {_shown(ref)} cannot be resolved"


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


class Identity(msgspec.Struct, frozen=True, gc=False):
    """The principal fields of one userIdentity, canonicalised (README, *How calls are counted*)."""

    type: str | None = None
    principal: str | None = None  # None while hidden (AWSAccount with a unique id), or on a problem
    uid: str | None = None  # a hidden caller's unique id
    account: str | None = None
    session: str | None = None
    on_behalf_of: str | None = None
    access_key_id: str | None = None
    via: str | None = None  # invokedBy
    hint: tuple[str, str] | None = None  # (unique id, ARN) the identity shows: see identity_hint
    problem: str | None = None  # why no principal can be named


def _s(value: object) -> str | None:
    return value if type(value) is str and value else None


_ROLE_FROM_STS = re.compile(r"arn:(aws[a-z-]*):sts::(\d{12}):assumed-role/([^/]+)/(.*)\Z")


def identity_of(ui: UserIdentity | dict[str, Any]) -> Identity:  # long: one branch per userIdentity type, the hot path
    """Canonical principal of a userIdentity, typed or parsed (README, *How calls are counted*).

    The hot path of the normaliser: values are tested inline (``type(v) is str and v``) rather
    than through helpers."""
    if type(ui) is dict:
        ui = as_struct(ui, UserIdentity)
    assert isinstance(ui, UserIdentity)
    t = ui.type
    t = t if type(t) is str and t else None
    v = ui.accountId
    account = v if type(v) is str and v else None
    v = ui.accessKeyId
    akid = v if type(v) is str and v else None
    v = ui.invokedBy
    via = v if type(v) is str and v else None
    v = ui.arn
    arn = v if type(v) is str and v else None
    v = ui.principalId
    pid = v if type(v) is str and v else None
    obo = ui.onBehalfOf
    on_behalf_of = _s(obo.userId) if obo is not None else None
    principal = uid = session = problem = None
    if t == "AssumedRole":
        ctx = ui.sessionContext
        issuer = ctx.sessionIssuer if ctx is not None else None
        role_arn = _s(issuer.arn) if issuer is not None else None
        if pid and ":" in pid:
            session = pid.partition(":")[2]
        if role_arn:
            principal = role_arn
        elif arn:
            m = _ROLE_FROM_STS.match(arn)
            if m:
                principal = f"arn:{m[1]}:iam::{m[2]}:role/{m[3]}"
                session = session or m[4]
        if principal is None:
            problem = "AssumedRole identity without sessionIssuer.arn or an assumed-role arn"
    elif t == "IAMUser":
        session_arn = _ROLE_FROM_STS.match(arn) if arn and ":assumed-role/" in arn else None
        if session_arn:
            # a role session labelled IAMUser (published examples do this): the role is the principal
            principal = f"arn:{session_arn[1]}:iam::{session_arn[2]}:role/{session_arn[3]}"
            session = session_arn[4]
        elif arn:
            principal = arn
        else:
            name = _s(ui.userName)
            if name and is_account(account):
                principal = f"arn:aws:iam::{account}:user/{name}"
    elif t == "AWSService":
        principal = via or _s(ui.principal)
        if principal is None:
            problem = "AWSService identity without invokedBy"
    elif t == "AWSAccount":
        if pid and is_account(pid):
            principal = f"arn:aws:iam::{pid}:root"
        elif pid and ":" in pid and is_account(pid.partition(":")[0]):
            facct, _, name = pid.partition(":")
            principal = f"arn:aws:sts::{facct}:federated-user/{name}"
        elif pid:
            uid, _, rest = pid.partition(":")
            session = rest or None
            if not account:
                problem = "AWSAccount identity without accountId"
        else:
            problem = "AWSAccount identity without principalId"
    elif t == "FederatedUser":
        if arn:
            principal = arn
        elif pid and ":" in pid and is_account(pid.partition(":")[0]):
            acct, _, name = pid.partition(":")
            principal = f"arn:aws:sts::{acct}:federated-user/{name}"
    elif t == "Root":
        if arn and arn.endswith(":root"):
            principal = arn
        elif is_account(account):
            principal = f"arn:aws:iam::{account}:root"
    elif t == "IdentityCenterUser":
        store = _s(obo.identityStoreArn) if obo is not None else None
        if store and on_behalf_of:
            principal = f"identitycenter:{store}/user/{on_behalf_of}"
        else:
            problem = "IdentityCenterUser without onBehalfOf identityStoreArn/userId"
    elif t in ("SAMLUser", "WebIdentityUser"):
        idp = _s(ui.identityProvider)
        name = _s(ui.userName)
        prefix = "saml" if t == "SAMLUser" else "webidentity"
        if idp and name:
            principal = f"{prefix}:{idp}/{name}"
        else:
            problem = f"{t} without identityProvider/userName"
    elif t is None:
        if via:
            t = "AWSService"
            principal = via
        else:
            problem = "userIdentity has neither type nor invokedBy"
    elif arn:
        principal = arn
    else:
        problem = f"unsupported userIdentity type {t!r} without arn"
    return Identity(t, principal, uid, account, session, on_behalf_of, akid, via, hint_of(ui), problem)


__all__ = [
    "CONTEXT_RESOURCES", "Identity", "alias_arn_parts", "context_resource", "hint_of", "identity_hint",
    "identity_of", "is_account", "is_key_arn", "key_arn_parts", "key_reference", "key_reference_problem",
    "parse_event_time", "partition_of",
]
