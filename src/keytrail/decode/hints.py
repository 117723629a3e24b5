"""Identity hints: the (unique id, ARN) pair a userIdentity shows, taken from every record.

A hidden cross-account caller (an ``AWSAccount`` identity) is named by the resolver after the ARN
its unique id has wherever the archive shows it with its full identity. Every record can show
one, KMS call or not, so the decoder takes them from the userIdentity of each record it does not
decode whole (``decode.shapes``) and the normaliser from those it reads (``normalize.rules``).
"""

from __future__ import annotations

import re

from keytrail.decode.record import UserIdentity

_IAM_ARN = re.compile(r"arn:aws[a-z-]*:iam::(\d{12}):(role|user)/[^\s\"\\]{1,512}\Z")
_UNIQUE_ID = re.compile(r"A(ROA|IDA)[A-Z0-9]{8,}\Z")
_hints: dict[tuple[str, str, str], tuple[str, str] | None] = {}


def identity_hint(unique_id: object, arn: object, account: object) -> tuple[str, str] | None:
    """(unique id, ARN) when a userIdentity shows a role's or user's unique id beside its ARN.

    Only as CloudTrail writes it: a role's id (AROA...) with a role ARN, a user's (AIDA...) with a
    user ARN, both of the account the identity belongs to. The resolver names hidden callers
    (AWSAccount identities) with these; one who could place an id beside another ARN could make
    his calls look like someone else's.
    """
    if type(unique_id) is not str or type(arn) is not str or type(account) is not str:
        return None
    key = (unique_id, arn, account)
    if key in _hints:
        return _hints[key]
    u = _UNIQUE_ID.match(unique_id)
    m = _IAM_ARN.match(arn)
    hint = None if u is None or m is None or m[1] != account or (u[1] == "ROA") != (m[2] == "role") else (unique_id, arn)
    if len(_hints) > 100_000:
        _hints.clear()
    _hints[key] = hint
    return hint


def hint_of(ui: UserIdentity) -> tuple[str, str] | None:
    """The identity hint a userIdentity gives: a role session's sessionIssuer, or an IAM user
    (the same as ``normalize.rules.identity_of(ui).hint``, without the rest)."""
    t = ui.type
    if t == "AssumedRole":
        ctx = ui.sessionContext
        issuer = ctx.sessionIssuer if ctx is not None else None
        return None if issuer is None else identity_hint(issuer.principalId, issuer.arn, ui.accountId)
    if t == "IAMUser":
        return identity_hint(ui.principalId, ui.arn, ui.accountId)
    return None
