"""Security Lake's OCSF records as CloudTrail records: the one mapping keytrail reads OCSF with.

Amazon Security Lake keeps CloudTrail management events as OCSF *API Activity*: source version 1
in OCSF 1.0.0-rc.2 (class_uid 3005, table ``..._cloud_trail_mgmt_1_0``), source version 2 in
OCSF 1.1.0 (class_uid 6003, table ``..._cloud_trail_mgmt_2_0``). ``FIELDS`` says, field by field,
where each CloudTrail field the normaliser reads is in each version -- the paths are those of the
mapping published in the OCSF project's examples (``mappings/markdown/AWS/v1.1.0/CloudTrail/API
Activity`` and ``v1.0.0-rc.2``) and of AWS's Security Lake query examples. The Athena query
(``securitylake_v1.sql``, ``securitylake_v2.sql``) and the Parquet reader (``keytrail.decode.ocsf``)
select these paths under the ``column`` names; ``record_from_row`` turns such a row back into a
CloudTrail record, which the normaliser reads like any other.

Everything CloudTrail writes that OCSF does not map goes to ``unmapped`` (a map whose keys are
CloudTrail's field names, nested ones as dotted paths): ``recipientAccountId``,
``sharedEventID``, the session issuer's ``principalId``, and in version 1 ``requestParameters``
and ``responseElements`` too. keytrail reads those keys where they are (``UNMAPPED``). Where a
table or an export lacks them, what is lost, and what it costs, is in the README (*Security
Lake*): without ``sharedEventID`` the two copies of a cross-account call cannot be merged and
are counted as two calls.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from keytrail.times import iso_of_epoch

VERSION_1 = 1
VERSION_2 = 2
KMS_SOURCE = "kms.amazonaws.com"


@dataclass(frozen=True)
class Field:
    """One column of an OCSF row: its path in each source version, and the CloudTrail field it is."""

    column: str
    v2: str | None  # OCSF 1.1.0 path (None: not in this version)
    v1: str | None  # OCSF 1.0.0-rc.2 path
    cloudtrail: str
    note: str = ""
    optional: bool = False  # not in every table: selected only where the catalog shows it

    def path(self, version: int) -> str | None:
        return self.v2 if version == VERSION_2 else self.v1


FIELDS: tuple[Field, ...] = (
    Field("event_id", "metadata.uid", "metadata.uid", "eventID"),
    Field("event_time", "time", "time", "eventTime", "epoch milliseconds, written back as ISO-8601 UTC seconds"),
    Field("event_source", "api.service.name", "api.service.name", "eventSource"),
    Field("event_name", "api.operation", "api.operation", "eventName"),
    Field("aws_region", "cloud.region", "cloud.region", "awsRegion"),
    Field("error_code", "api.response.error", "api.response.error", "errorCode"),
    Field("error_message", "api.response.message", "api.response.message", "errorMessage"),
    Field("src_ip", "src_endpoint.ip", "src_endpoint.ip", "sourceIPAddress", "an IP address"),
    Field("src_domain", "src_endpoint.domain", "src_endpoint.domain", "sourceIPAddress", "a service's host name"),
    Field("vpc_endpoint", "src_endpoint.uid", "src_endpoint.uid", "vpcEndpointId"),
    Field("user_agent", "http_request.user_agent", "http_request.user_agent", "userAgent"),
    Field("request", "api.request.data", None, "requestParameters", "JSON text; version 1: unmapped"),
    Field("response", "api.response.data", None, "responseElements", "JSON text; version 1: unmapped"),
    Field("ui_type", "actor.user.type", "actor.user.type", "userIdentity.type"),
    Field("ui_arn", "actor.user.uid", "actor.user.uuid", "userIdentity.arn"),
    Field("ui_principal_id", "actor.user.uid_alt", "actor.user.uid", "userIdentity.principalId",
          "OCSF 1.1 puts onBehalfOf.userId here instead when the caller is an Identity Center user"),
    Field("ui_account", "actor.user.account.uid", "actor.user.account_uid", "userIdentity.accountId"),
    Field("ui_access_key", "actor.user.credential_uid", "actor.user.credential_uid", "userIdentity.accessKeyId"),
    Field("ui_user_name", "actor.user.name", "actor.user.name", "userIdentity.userName"),
    Field("ui_invoked_by", "actor.invoked_by", "actor.invoked_by", "userIdentity.invokedBy"),
    Field("ui_issuer", "actor.session.issuer", "actor.session.issuer", "userIdentity.sessionContext.sessionIssuer.arn"),
    Field("ui_idp_name", "actor.idp.name", "actor.idp.name", "userIdentity.identityProvider"),
    Field("ui_idp_uid", "actor.idp.uid", None, "userIdentity.onBehalfOf.identityStoreArn", optional=True),
    Field("cloud_account", "cloud.account.uid", "cloud.account_uid", "recipientAccountId",
          "when unmapped holds no recipientAccountId", optional=True),
    Field("lake_account", "accountid", "accountid", "recipientAccountId",
          "the table's partition (the account the event was logged in): the last resort"),
    Field("resource_uids", "resources[].uid", "resources[].uid", "resources[].ARN"),
    Field("resource_accounts", "resources[].owner.account.uid", "resources[].account_uid", "resources[].accountId"),
    Field("unmapped", "unmapped", "unmapped", "(see UNMAPPED)", "a map, or its JSON text"),
)  # fmt: skip
COLUMNS: tuple[str, ...] = tuple(f.column for f in FIELDS)

UNMAPPED: tuple[str, ...] = (
    "recipientAccountId",
    "sharedEventID",
    "vpcEndpointId",
    "userIdentity.sessionContext.sessionIssuer.principalId",
    "userIdentity.sessionContext.sessionIssuer.accountId",
    "userIdentity.sessionContext.sessionIssuer.type",
    "userIdentity.onBehalfOf.userId",
    "userIdentity.onBehalfOf.identityStoreArn",
    "userIdentity.identityProvider",
)
"""The keys of ``unmapped`` keytrail reads (matched without regard to case: exports spell
``sharedEventId`` too), each where the mapped fields did not give it. Besides these:
``requestParameters`` and ``responseElements`` (JSON text, version 1), or their fields as
``requestParameters.NAME`` keys when the object itself is absent."""
_UNMAPPED_LOWER = {k.lower(): k for k in UNMAPPED}
_OBJECTS = ("requestParameters", "responseElements")


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value or None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return None


def _json(value: object) -> object:
    """A JSON text parsed (a value already parsed kept); text that is not JSON stays text, so that
    the normaliser rejects it with its reason."""
    if isinstance(value, str):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
    return value


def _listed(value: object) -> list[str | None]:
    """resources[] values: a list (DuckDB), or the space-joined text the Athena query returns."""
    if value is None:
        return []
    if isinstance(value, str):
        return [v or None for v in value.split(" ")] if value else []
    if isinstance(value, list | tuple):
        return [_text(v) for v in value]
    return []


def _unmapped(value: object) -> dict[str, object]:
    """``unmapped`` as a dict with the keys keytrail reads spelled as CloudTrail spells them."""
    if isinstance(value, str):
        value = _json(value)
    if isinstance(value, list):  # a map as DuckDB or Arrow may give it: [{key, value}, ...] or [(k, v)]
        pairs = [(e.get("key"), e.get("value")) if isinstance(e, dict) else tuple(e)[:2] for e in value]
        value = {k: v for k, v in pairs if isinstance(k, str)}
    if not isinstance(value, dict):
        return {}
    out: dict[str, object] = {}
    for key, v in value.items():
        if not isinstance(key, str):
            continue
        lower = key.lower()
        known = _UNMAPPED_LOWER.get(lower)
        if known is not None:
            out[known] = v
        elif lower in ("requestparameters", "responseelements"):
            out[_OBJECTS[lower == "responseelements"]] = v
        elif lower.startswith("requestparameters."):
            out["requestParameters." + key.split(".", 1)[1]] = v
    return out


def _put(record: dict[str, Any], path: str, value: object) -> None:
    """Set a dotted path in a record unless a value is there already."""
    if value is None or value == "":
        return
    node = record
    *parents, last = path.split(".")
    for name in parents:
        child = node.get(name)
        if not isinstance(child, dict):
            child = node[name] = {}
        node = child
    node.setdefault(last, value)


def _event_time(value: object) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        ms = int(value) if isinstance(value, int | float) else int(str(value))
    except ValueError:
        return str(value)  # not epoch milliseconds: the normaliser says what it is
    return iso_of_epoch(ms // 1000)


_ACCOUNT_PART = re.compile(r"\d{12}\Z")


def record_from_row(row: Mapping[str, object]) -> dict[str, Any]:  # long: one line per field of FIELDS
    """One OCSF row (values under ``COLUMNS`` names, as text or native values) as a CloudTrail record."""
    un = _unmapped(row.get("unmapped"))
    rec: dict[str, Any] = {}
    for column, name in (
        ("event_id", "eventID"), ("event_source", "eventSource"), ("event_name", "eventName"),
        ("aws_region", "awsRegion"), ("error_code", "errorCode"), ("error_message", "errorMessage"),
        ("vpc_endpoint", "vpcEndpointId"), ("user_agent", "userAgent"),
    ):  # fmt: skip
        _put(rec, name, _text(row.get(column)))
    _put(rec, "eventTime", _event_time(row.get("event_time")))
    _put(rec, "sourceIPAddress", _text(row.get("src_ip")) or _text(row.get("src_domain")))
    for name in ("recipientAccountId", "sharedEventID", "vpcEndpointId"):
        _put(rec, name, _text(un.get(name)))
    for column in ("cloud_account", "lake_account"):
        account = _text(row.get(column))
        if account and _ACCOUNT_PART.match(account):
            _put(rec, "recipientAccountId", account)
    for column, name in (("request", "requestParameters"), ("response", "responseElements")):
        value = row.get(column)
        _put(rec, name, _json(value if value is not None else un.get(name)))
    if "requestParameters" not in rec:
        for key, value in sorted(un.items()):
            if key.startswith("requestParameters."):
                _put(rec, key, _json(value) if isinstance(value, str) and value[:1] in "{[" else value)
    _identity(rec, row, un)
    uids, accounts = _listed(row.get("resource_uids")), _listed(row.get("resource_accounts"))
    if uids:
        resources = []
        for i, uid in enumerate(uids):
            entry: dict[str, Any] = {"ARN": uid or ""}
            account = accounts[i] if i < len(accounts) else None
            if account:
                entry["accountId"] = account
            resources.append(entry)
        rec["resources"] = resources
    return rec


def _identity(rec: dict[str, Any], row: Mapping[str, object], un: Mapping[str, object]) -> None:
    """userIdentity from the actor, and the unmapped keys that complete it."""
    ui: dict[str, Any] = {}
    kind = _text(row.get("ui_type"))
    principal_id = _text(row.get("ui_principal_id"))
    store = _text(row.get("ui_idp_uid")) or _text(un.get("userIdentity.onBehalfOf.identityStoreArn"))
    for name, value in (
        ("type", kind), ("arn", _text(row.get("ui_arn"))), ("accountId", _text(row.get("ui_account"))),
        ("accessKeyId", _text(row.get("ui_access_key"))), ("userName", _text(row.get("ui_user_name"))),
        ("invokedBy", _text(row.get("ui_invoked_by"))),
    ):  # fmt: skip
        _put(ui, name, value)
    user_id = _text(un.get("userIdentity.onBehalfOf.userId"))
    if store is not None and user_id is None and principal_id is not None and ":" not in principal_id:
        user_id, principal_id = principal_id, None  # OCSF 1.1 wrote onBehalfOf.userId where principalId goes
    _put(ui, "principalId", principal_id)
    if kind in ("SAMLUser", "WebIdentityUser"):
        _put(ui, "identityProvider", _text(row.get("ui_idp_name")) or _text(un.get("userIdentity.identityProvider")))
    _put(ui, "onBehalfOf.userId", user_id)
    if user_id is not None:
        _put(ui, "onBehalfOf.identityStoreArn", store)
    issuer = _text(row.get("ui_issuer"))
    if issuer is not None:
        _put(ui, "sessionContext.sessionIssuer.arn", issuer)
        issuer_id = _text(un.get("userIdentity.sessionContext.sessionIssuer.principalId"))
        if issuer_id is None and kind == "AssumedRole" and principal_id and ":" in principal_id:
            issuer_id = principal_id.partition(":")[0]  # a role session's principalId is ROLEID:session
        _put(ui, "sessionContext.sessionIssuer.principalId", issuer_id)
        _put(ui, "sessionContext.sessionIssuer.accountId",
             _text(un.get("userIdentity.sessionContext.sessionIssuer.accountId")) or ui.get("accountId"))  # fmt: skip
        _put(ui, "sessionContext.sessionIssuer.type", _text(un.get("userIdentity.sessionContext.sessionIssuer.type")))
    if ui:
        rec["userIdentity"] = ui


def version_of_table(name: str) -> int | None:
    """The source version a Security Lake CloudTrail table's name says (``..._cloud_trail_mgmt_2_0``)."""
    m = re.search(r"_cloud_trail(?:_mgmt)?_([12])_0\Z", name)
    return int(m[1]) if m else None


__all__ = ["COLUMNS", "FIELDS", "KMS_SOURCE", "UNMAPPED", "VERSION_1", "VERSION_2", "Field", "record_from_row",
           "version_of_table"]
