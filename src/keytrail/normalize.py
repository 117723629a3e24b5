"""The normaliser: one raw CloudTrail record -> key-use rows with raw references.

A pure, total function: any JSON value in, a ``Normalized`` out, never an exception. Rules that
need other records (alias history, hidden callers, duplicate copies) belong to ``resolve``.
"""

from __future__ import annotations

from typing import Any

import orjson

from keytrail.model import (
    DECRYPT,
    ENCRYPT,
    NOT_KMS,
    REF_ALIAS,
    REF_KEY,
    REF_REENCRYPT_SOURCE,
    AliasChange,
    CredentialIssue,
    IdentityHint,
    KeyUse,
    Normalized,
)
from keytrail.rules import (
    ALIAS_EVENTS,
    CREDENTIAL_EVENTS,
    KMS_SOURCE,
    STS_SOURCE,
    context_resource,
    identity_of,
    is_key_arn,
    key_reference,
    operation_class,
    parse_event_time,
)


def _s(value: object) -> str | None:
    return value if type(value) is str and value else None


def _text(value: object) -> str | None:
    """A scalar as text (errorCode and friends may arrive stringified or as numbers)."""
    if value is None:
        return None
    if type(value) is str:
        return value or None
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return str(value)


def _reject(reason: str) -> Normalized:
    return Normalized(kms=True, problem=reason)


def normalize(record: object) -> Normalized:
    """Key-use rows for one CloudTrail record (empty for records that are not KMS key use)."""
    if not isinstance(record, dict):
        return Normalized(problem=f"record is not a JSON object ({type(record).__name__})")
    if record.get("eventSource") != KMS_SOURCE:
        event = record.get("eventName")
        if record.get("eventSource") == STS_SOURCE and isinstance(event, str) and event in CREDENTIAL_EVENTS:
            return _credential(record)
        return NOT_KMS
    name = record.get("eventName")
    if not isinstance(name, str) or not name:
        return _reject("eventName is missing or not a string")
    when = parse_event_time(record.get("eventTime"))
    if when is None:
        return _reject(f"eventTime is missing or not ISO-8601: {str(record.get('eventTime'))[:60]!r}")
    ui = record.get("userIdentity")
    if not isinstance(ui, dict):
        return _reject(f"userIdentity is {'missing' if ui is None else 'not an object'}")
    params = record.get("requestParameters")
    if params is None:
        params = {}
    elif not isinstance(params, dict):
        return _reject("requestParameters is not an object")
    resources = record.get("resources")
    if resources is None:
        resources = []
    elif not isinstance(resources, list):
        return _reject("resources is not an array")
    region = _s(record.get("awsRegion"))
    recipient = _s(record.get("recipientAccountId"))
    error_code = _text(record.get("errorCode"))

    res_keys: list[str] = []
    for entry in resources:
        if isinstance(entry, dict):
            arn = entry.get("ARN")
            if isinstance(arn, str) and is_key_arn(arn) and arn not in res_keys:
                res_keys.append(arn)

    ident = identity_of(ui)
    hints = (IdentityHint(ident.hint[0], ident.hint[1]),) if ident.hint else ()

    ctx = params.get("encryptionContext")
    if isinstance(ctx, dict) and ctx:
        kind, rid = context_resource(ctx)
        try:
            ctx_json: str | None = orjson.dumps(ctx, option=orjson.OPT_SORT_KEYS).decode()
        except (TypeError, orjson.JSONEncodeError):
            ctx_json = None
    else:
        kind = rid = ctx_json = None

    # (key reference kind, reference, op, alt keys) per key the call names
    targets: list[tuple[str, str, str, list[str] | None]] = []
    if name == "ReEncrypt":
        targets = _reencrypt_targets(params, res_keys, region, recipient)
    else:
        op = operation_class(name)
        if res_keys:
            targets = [(REF_KEY, k, op, None) for k in res_keys]
        else:
            named = params.get("keyId")
            if named is None and name in ("CreateAlias", "UpdateAlias"):
                named = params.get("targetKeyId")  # alias events name their key here
            ref = key_reference(named, region, recipient)
            if ref is not None:
                targets = [(ref[0], ref[1], op, None)]

    alias_change = _alias_change(name, params, region, recipient, when, record, error_code)

    if not targets:
        # checked whatever the identity: a call that names a key is reported, never dropped
        if _names_a_key(name, params):
            return Normalized(
                kms=True,
                identities=hints,
                alias_change=alias_change,
                unattributed=_unresolved(name, params),
            )
        return Normalized(kms=True, identities=hints, alias_change=alias_change)

    if ident.problem:
        return Normalized(kms=True, alias_change=alias_change, unattributed=f"{name}: {ident.problem}")

    if error_code is not None:
        # a failed call is one denied attempt per distinct key named
        seen: set[str] = set()
        unique = []
        for t in targets:
            if t[1] not in seen or t[0] == REF_REENCRYPT_SOURCE:
                seen.add(t[1])
                unique.append(t)
        targets = unique

    # positional, in KeyUse's field order (the hot path: keyword merging costs more than the rest)
    event_id = _s(record.get("eventID"))
    shared = _s(record.get("sharedEventID"))
    error_message = _text(record.get("errorMessage"))
    source_ip = _text(record.get("sourceIPAddress"))
    user_agent = _text(record.get("userAgent"))
    vpce = _text(record.get("vpcEndpointId"))
    rows = tuple(
        KeyUse(
            event_id, name, when, region, recipient, shared, ref, ref_kind, alt, op, error_code, error_message,
            ident.type, ident.principal, ident.uid, ident.account, ident.session, ident.on_behalf_of,
            ident.access_key_id, ident.via, source_ip, user_agent, vpce, kind, rid, ctx_json,
        )
        for ref_kind, ref, op, alt in targets
    )
    return Normalized(rows=rows, alias_change=alias_change, identities=hints, kms=True)


def _credential(record: dict[str, Any]) -> Normalized:
    """An STS AssumeRole* record that handed out credentials (failed calls hand out none)."""
    if record.get("errorCode") is not None:
        return NOT_KMS
    response = record.get("responseElements")
    creds = response.get("credentials") if isinstance(response, dict) else None
    akid = _s(creds.get("accessKeyId")) if isinstance(creds, dict) else None
    when = parse_event_time(record.get("eventTime"))
    if akid is None or when is None:
        return NOT_KMS
    params = record.get("requestParameters")
    params = params if isinstance(params, dict) else {}
    ui = record.get("userIdentity")
    ident = identity_of(ui) if isinstance(ui, dict) else None
    hints = (IdentityHint(ident.hint[0], ident.hint[1]),) if ident and ident.hint else ()
    issue = CredentialIssue(
        access_key_id=akid,
        event_time=when,
        event_id=_s(record.get("eventID")),
        event_name=str(record.get("eventName")),
        role_arn=_s(params.get("roleArn")),
        session_name=_s(params.get("roleSessionName")),
        caller=ident.principal if ident else None,
        caller_type=ident.type if ident else None,
        caller_access_key_id=ident.access_key_id if ident else None,
        caller_session=ident.session if ident else None,
        on_behalf_of=ident.on_behalf_of if ident else None,
    )
    return Normalized(identities=hints, credential=issue)


def _names_a_key(name: str, params: dict[str, Any]) -> bool:
    """Whether a call without a resolvable key should have named one (unattributable, not 'no key')."""
    if name in ("Decrypt", "ReEncrypt") or name in ALIAS_EVENTS:
        return True
    return any(params.get(f) is not None for f in _KEY_FIELDS)


_KEY_FIELDS = ("keyId", "destinationKeyId", "sourceKeyId", "targetKeyId")


def _unresolved(name: str, params: dict[str, Any]) -> str:
    """Why a call that should name a key names none keytrail can resolve."""
    refs = [f"{f}={str(params[f])[:80]!r}" for f in _KEY_FIELDS if params.get(f) is not None]
    if not refs:
        return f"{name}: no key ARN in resources[] and no key in requestParameters"
    return f"{name}: no key ARN in resources[] and {', '.join(refs)} is not a key id, key ARN, alias name or alias ARN"


def _reencrypt_targets(
    params: dict[str, Any], res_keys: list[str], region: str | None, account: str | None
) -> list[tuple[str, str, str, list[str] | None]]:
    """ReEncrypt: one decrypt on the source key and one encrypt on the destination key."""
    dest = key_reference(params.get("destinationKeyId"), region, account)
    src = key_reference(params.get("sourceKeyId"), region, account)
    if dest is None:
        others = [k for k in res_keys if src is None or k != src[1]]
        if others:
            dest = (REF_KEY, others[-1])
    if dest is None:
        return [(src[0], src[1], DECRYPT, None)] if src else []
    out: list[tuple[str, str, str, list[str] | None]] = []
    if src is not None:
        out.append((src[0], src[1], DECRYPT, None))
    elif dest[0] == REF_KEY:
        others = [k for k in res_keys if k != dest[1]]
        out.append((REF_KEY, others[0] if others else dest[1], DECRYPT, None))
    else:
        # the destination is an alias: which resources[] key is the source is known after resolution
        out.append((REF_REENCRYPT_SOURCE, dest[1], DECRYPT, list(res_keys)))
    out.append((dest[0], dest[1], ENCRYPT, None))
    return out


def _alias_change(
    name: str,
    params: dict[str, Any],
    region: str | None,
    account: str | None,
    when: int,
    record: dict[str, Any],
    error_code: str | None,
) -> AliasChange | None:
    if name not in ALIAS_EVENTS or error_code is not None:
        return None
    alias = key_reference(params.get("aliasName"), region, account)
    if alias is None or alias[0] != REF_ALIAS:
        return None
    target: str | None = None
    if name != "DeleteAlias":
        ref = key_reference(params.get("targetKeyId"), region, account)
        if ref is None or ref[0] != REF_KEY:
            return None
        target = ref[1]
    return AliasChange(alias[1], when, target, _s(record.get("eventID")), name)


__all__ = ["normalize", "REF_ALIAS"]
