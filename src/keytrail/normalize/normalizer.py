"""The normaliser: one raw CloudTrail record -> key-use rows with raw references.

A pure, total function: any record in, a ``Normalized`` out, never an exception. Rules that need
other records (alias history, hidden callers, duplicate copies) belong to ``resolve``.

``normalize(record)`` takes a record parsed into Python values (a dict); ``normalize_record``
takes the typed ``Record`` the fast path decodes (``keytrail.decode.record``). Both are this one
function: ``normalize`` converts the dict and calls ``normalize_record``.
"""

from __future__ import annotations

import orjson

from keytrail.decode.record import (
    Record,
    RequestParameters,
    Resource,
    UserIdentity,
    as_struct,
    record_from_dict,
)
from keytrail.normalize.model import (
    NOT_KMS,
    REF_ALIAS,
    REF_KEY,
    REF_REENCRYPT_SOURCE,
    AliasChange,
    CredentialIssue,
    IdentityHint,
    KeyUse,
    Normalized,
    new_key_use,
)
from keytrail.normalize.operations import (
    ALIAS_EVENTS,
    DECRYPT,
    ENCRYPT,
    KEYLESS_EVENTS,
    KMS_SOURCE,
    REENCRYPT,
    is_read,
    operation_class,
)
from keytrail.normalize.rules import (
    context_resource,
    hint_of,
    identity_of,
    is_account,
    is_key_arn,
    key_reference,
    key_reference_problem,
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


_NO_PARAMS = RequestParameters()


def normalize(record: object) -> Normalized:
    """Key-use rows for one CloudTrail record, parsed (a dict) or typed (a ``Record``); empty for
    records that are not KMS key use."""
    if isinstance(record, Record):
        return normalize_record(record) if is_read(record.eventSource, record.eventName) else _hints_only(record.userIdentity)
    if not isinstance(record, dict):
        return Normalized(problem=f"record is not a JSON object ({type(record).__name__})")
    if not is_read(record.get("eventSource"), record.get("eventName")):
        return _hints_only(as_struct(record.get("userIdentity"), UserIdentity))
    rec, shape_problem = record_from_dict(record)
    return normalize_record(rec, shape_problem)


def _hints_only(ui: UserIdentity | None) -> Normalized:
    """A record the normaliser does not read gives the identity hint of its userIdentity, if any."""
    hint = hint_of(ui) if ui is not None else None
    return Normalized(identities=(IdentityHint(*hint),)) if hint else NOT_KMS


def normalize_record(rec: Record, shape_problem: str | None = None) -> Normalized:  # long: the hot path, inline
    """Key-use rows for one typed record of a KMS call or an STS credential hand-out.

    ``shape_problem`` is what ``record_from_dict`` found wrong with the record's objects.
    """
    if rec.eventSource != KMS_SOURCE:
        return _credential(rec)
    name = rec.eventName
    if type(name) is not str or not name:
        return _reject("eventName is missing or not a string")
    when = parse_event_time(rec.eventTime)
    if when is None:
        return _reject(f"eventTime is missing or not ISO-8601: {str(rec.eventTime)[:60]!r}")
    if shape_problem is not None:
        return _reject(shape_problem)
    ui = rec.userIdentity
    if ui is None:
        return _reject("userIdentity is missing")
    params = rec.requestParameters or _NO_PARAMS
    # the hot path: values are tested inline (``type(v) is str and v``) rather than through _s/_text
    v = rec.awsRegion
    region = v if type(v) is str and v else None
    v = rec.recipientAccountId
    recipient = v if type(v) is str and v else None
    v = rec.errorCode
    error_code = v if type(v) is str and v else _text(v)

    res_keys: list[str] = []
    resources = rec.resources
    if resources:
        for entry in resources:
            arn = entry.ARN if entry.ARN is not None else entry.arn
            if type(arn) is str and arn not in res_keys and is_key_arn(arn):
                res_keys.append(arn)

    ident = identity_of(ui)
    hint = ident.hint
    hints = _hint_of(hint) if hint is not None else ()

    ctx = params.encryptionContext
    if ctx:
        kind, rid = context_resource(ctx)
        try:
            ctx_json: str | None = orjson.dumps(ctx, option=orjson.OPT_SORT_KEYS).decode()
        except (TypeError, orjson.JSONEncodeError):
            ctx_json = None
    else:
        kind = rid = ctx_json = None

    # the account a bare key id or an alias name belongs to: the recipient's, else (an export that
    # redacts it) the one account resources[] names
    account = recipient if res_keys or is_account(recipient) else _resource_account(resources) or recipient
    # (key reference kind, reference, op, alt keys) per key the call names
    targets: list[tuple[str, str, str, list[str] | None]]
    if name == REENCRYPT:
        targets = _reencrypt_targets(params, res_keys, region, account)
    else:
        op = operation_class(name)
        if len(res_keys) == 1:
            targets = [(REF_KEY, res_keys[0], op, None)]
        elif res_keys:
            targets = [(REF_KEY, k, op, None) for k in res_keys]
        else:
            named = params.keyId
            if named is None and name in ("CreateAlias", "UpdateAlias"):
                named = params.targetKeyId  # alias events name their key here
            ref = key_reference(named, region, account)
            targets = [(ref[0], ref[1], op, None)] if ref is not None else []

    alias_change = _alias_change(name, params, region, account, when, rec, error_code) if name in ALIAS_EVENTS else None

    if not targets:
        # checked whatever the identity: a call that needs a key and names none is reported, never dropped
        if _names_a_key(name, params):
            return Normalized(
                kms=True,
                identities=hints,
                alias_change=alias_change,
                unattributed=_unresolved(name, params, resources, region, recipient, account),
            )
        return Normalized(kms=True, identities=hints, alias_change=alias_change)

    if ident.problem:
        return Normalized(kms=True, alias_change=alias_change, unattributed=f"{name}: {ident.problem}")

    if error_code is not None and len(targets) > 1:
        # a failed call is one denied attempt per distinct key named; a ReEncrypt's source behind
        # an alias destination is a key only resolution tells apart (the group rules count each
        # resolved key once: ``keytrail.resolve``)
        seen: set[str] = set()
        unique = []
        for t in targets:
            if t[0] == REF_REENCRYPT_SOURCE:
                unique.append(t)
            elif t[1] not in seen:
                seen.add(t[1])
                unique.append(t)
        targets = unique

    # positional, in KeyUse's field order (the hot path: keyword merging costs more than the rest)
    v = rec.eventID
    event_id = v if type(v) is str and v else None
    v = rec.sharedEventID
    shared = v if type(v) is str and v else None
    v = rec.errorMessage
    error_message = v if type(v) is str and v else _text(v)
    v = rec.sourceIPAddress
    source_ip = v if type(v) is str and v else _text(v)
    v = rec.userAgent
    user_agent = v if type(v) is str and v else _text(v)
    v = rec.vpcEndpointId
    vpce = v if type(v) is str and v else _text(v)
    rows = tuple([
        new_key_use(KeyUse, (
            event_id, name, when, region, recipient, shared, ref, ref_kind, alt, op, error_code, error_message,
            ident.type, ident.principal, ident.uid, ident.account, ident.session, ident.on_behalf_of,
            ident.access_key_id, ident.via, source_ip, user_agent, vpce, kind, rid, ctx_json,
        ))
        for ref_kind, ref, op, alt in targets
    ])  # fmt: skip
    return Normalized(rows, alias_change, hints, True)


_hint_cache: dict[tuple[str, str], tuple[IdentityHint]] = {}


def _hint_of(hint: tuple[str, str]) -> tuple[IdentityHint]:
    """The hint as the normaliser gives it (one object per distinct hint)."""
    found = _hint_cache.get(hint)
    if found is None:
        if len(_hint_cache) > 100_000:
            _hint_cache.clear()
        found = _hint_cache[hint] = (IdentityHint(*hint),)
    return found


def _credential(rec: Record) -> Normalized:
    """An STS AssumeRole* record that handed out credentials (failed calls hand out none)."""
    ident = identity_of(rec.userIdentity) if rec.userIdentity is not None else None
    hints = (IdentityHint(*ident.hint),) if ident and ident.hint else ()
    response = rec.responseElements
    creds = response.credentials if response is not None else None
    akid = _s(creds.accessKeyId) if creds is not None else None
    when = parse_event_time(rec.eventTime)
    if rec.errorCode is not None or akid is None or when is None:
        return Normalized(identities=hints) if hints else NOT_KMS
    params = rec.requestParameters or _NO_PARAMS
    issue = CredentialIssue(
        access_key_id=akid,
        event_time=when,
        event_id=_s(rec.eventID),
        event_name=str(rec.eventName),
        role_arn=_s(params.roleArn),
        session_name=_s(params.roleSessionName),
        caller=ident.principal if ident else None,
        caller_type=ident.type if ident else None,
        caller_access_key_id=ident.access_key_id if ident else None,
        caller_session=ident.session if ident else None,
        on_behalf_of=ident.on_behalf_of if ident else None,
    )
    return Normalized(identities=hints, credential=issue)


_KEY_FIELDS = ("keyId", "destinationKeyId", "sourceKeyId", "targetKeyId")


def _names_a_key(name: str, params: RequestParameters) -> bool:
    """Whether a call without a resolvable key should have named one (unattributable, not 'no key'):
    every KMS call but those that may name none (``KEYLESS_EVENTS``), and any call that tried."""
    return name not in KEYLESS_EVENTS or any(getattr(params, f) is not None for f in _KEY_FIELDS)


def _resource_account(resources: list[Resource] | None) -> str | None:
    """The one account id resources[] names (``accountId``, or ``accountid`` as exports write it)."""
    found = {a for e in resources or () if is_account(a := e.accountId if e.accountId is not None else e.accountid)}
    return found.pop() if len(found) == 1 else None


def _resources_said(resources: list[Resource] | None) -> str:
    if not resources:
        return "no resources[]"
    arns = [e.ARN if e.ARN is not None else e.arn for e in resources]
    named = [a for a in arns if isinstance(a, str) and a]
    if not named:
        return "resources[] names no key (its ARN is empty)" if arns and all(a == "" for a in arns) else "resources[] names no key (no ARN)"
    return f"resources[] holds no key ARN ({str(named[0])[:80]!r})"


def _unresolved(
    name: str, params: RequestParameters, resources: list[Resource] | None, region: str | None,
    recipient: str | None, account: str | None,
) -> str:  # fmt: skip
    """Why a call that needs a key names none keytrail can resolve, saying what each value is."""
    said = _resources_said(resources)
    account_from = "recipientAccountId" if account is recipient else "resources[].accountId"
    refs = [key_reference_problem(f, getattr(params, f), region, account, account_from)
            for f in _KEY_FIELDS if getattr(params, f) is not None]  # fmt: skip
    if not refs:
        return f"{name}: {said} and no key in requestParameters: the call names no key"
    return f"{name}: {said}, and {'; '.join(refs)}"


def _reencrypt_targets(
    params: RequestParameters, res_keys: list[str], region: str | None, account: str | None
) -> list[tuple[str, str, str, list[str] | None]]:
    """ReEncrypt: one decrypt on the source key and one encrypt on the destination key."""
    dest = key_reference(params.destinationKeyId, region, account)
    src = key_reference(params.sourceKeyId, region, account)
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


def _alias_change(  # an alias event (ALIAS_EVENTS)
    name: str,
    params: RequestParameters,
    region: str | None,
    account: str | None,
    when: int,
    rec: Record,
    error_code: str | None,
) -> AliasChange | None:
    if error_code is not None:
        return None
    alias = key_reference(params.aliasName, region, account)
    if alias is None or alias[0] != REF_ALIAS:
        return None
    target: str | None = None
    if name != "DeleteAlias":
        ref = key_reference(params.targetKeyId, region, account)
        if ref is None or ref[0] != REF_KEY:
            return None
        target = ref[1]
    return AliasChange(alias[1], when, target, _s(rec.eventID), name)


__all__ = ["normalize", "normalize_record", "REF_ALIAS"]
