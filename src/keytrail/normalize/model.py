"""Typed records that flow through the pipeline.

``KeyUse`` is what the normaliser makes of one raw CloudTrail record: one row per key the call
named, with the references as written (an alias stays an alias until the resolver applies the
alias history; a hidden cross-account caller stays hidden until the identity map names it).
"""

from __future__ import annotations

from typing import NamedTuple

import msgspec

# How a row names its key.
REF_KEY = "key"  # a key ARN
REF_ALIAS = "alias"  # an alias ARN, resolved through the alias history
REF_REENCRYPT_SOURCE = "reencrypt-source"  # the resources[] key that is not the (alias) destination


class KeyUse(NamedTuple):
    """One key named by one KMS call, with raw references (see ``keytrail.resolve`` for the final form).

    A tuple: the pipeline turns many of them into Arrow columns with one ``zip``."""

    event_id: str | None
    event_name: str
    event_time: int  # epoch seconds, UTC
    region: str | None
    recipient_account: str | None
    shared_event_id: str | None
    key_ref: str | None  # key ARN, alias ARN, or (reencrypt-source) the destination reference
    ref_kind: str  # REF_KEY | REF_ALIAS | REF_REENCRYPT_SOURCE
    alt_keys: list[str] | None  # reencrypt-source: the key ARNs in resources[]
    op: str  # ENCRYPT | DECRYPT | SIGN | ADMIN (intrinsic class; errors make it "denied" later)
    error_code: str | None
    error_message: str | None
    identity_type: str | None
    principal: str | None  # canonical principal, None while hidden (AWSAccount with a unique id)
    principal_uid: str | None  # hidden caller's unique id (AROA.../AIDA...)
    identity_account: str | None
    session_name: str | None
    on_behalf_of: str | None
    access_key_id: str | None
    via: str | None  # invokedBy
    source_ip: str | None
    user_agent: str | None
    vpc_endpoint: str | None
    resource_kind: str | None
    resource_id: str | None
    encryption_context: str | None  # compact JSON of the encryption context, as written


KEY_USE_FIELDS: tuple[str, ...] = KeyUse._fields
new_key_use = tuple.__new__
"""``new_key_use(KeyUse, values)``: a KeyUse from a tuple of its fields, without NamedTuple's Python-level constructor."""


class AliasChange(msgspec.Struct, frozen=True, gc=False):
    """A successful CreateAlias / UpdateAlias / DeleteAlias: alias -> target from ``event_time`` on."""

    alias_arn: str
    event_time: int
    target_key: str | None  # None: deleted
    event_id: str | None
    event_name: str


class IdentityHint(msgspec.Struct, frozen=True, gc=False):
    """A unique id seen with its full identity: AROA... -> role ARN, AIDA... -> user ARN."""

    unique_id: str
    arn: str


class CredentialIssue(msgspec.Struct, frozen=True, gc=False):
    """Temporary credentials handed out by STS (AssumeRole*): who got which access key id.

    Joining a later call's ``userIdentity.accessKeyId`` to ``access_key_id`` names the principal
    behind a role session (recursively, for role chains).
    """

    access_key_id: str
    event_time: int
    event_id: str | None
    event_name: str
    role_arn: str | None
    session_name: str | None
    caller: str | None  # canonical principal of the caller (None when hidden)
    caller_type: str | None
    caller_access_key_id: str | None  # the credentials the caller used (for chains)
    caller_session: str | None
    on_behalf_of: str | None


class Normalized(msgspec.Struct, frozen=True, gc=False):
    """The normaliser's answer for one raw record."""

    rows: tuple[KeyUse, ...] = ()
    alias_change: AliasChange | None = None
    identities: tuple[IdentityHint, ...] = ()
    kms: bool = False  # the record is a KMS call
    problem: str | None = None  # the record was rejected (bad shape or types): why
    unattributed: str | None = None  # a KMS call that names a key we cannot attribute: why
    credential: CredentialIssue | None = None  # an STS AssumeRole* record: credentials issued


NOT_KMS = Normalized()
