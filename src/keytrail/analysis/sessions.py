"""Session -> person: the human or system behind a role session.

A role session's principal is the role; who ran it is found, strongest evidence first, from

1. ``onBehalfOf`` (Identity Center with trusted identity propagation, and ``IdentityCenterUser``
   identities), written by AWS: the Identity Center user id -- ``identitycenter-user:ID``, basis
   ``identity-center``;
2. the AssumeRole chain: the session's ``userIdentity.accessKeyId`` is the
   ``responseElements.credentials.accessKeyId`` of the STS call that created it (the store's
   ``credentials`` table); that call's caller is the person (an IAM user, a SAML or web identity
   user, the root user: ``assumed-by``), a service (``lambda.amazonaws.com``: ``service``; EC2
   obtaining an instance profile's credentials names the instance: ``ec2-instance``), or another
   role session, followed the same way (chained roles, up to ``MAX_CHAIN`` hops);
3. the session name of an Identity Center role (``sso-session``) -- only for a role under the path
   ``/aws-reserved/sso.amazonaws.com/`` (optionally followed by a Region), which only AWS can
   create; a role merely *named* ``AWSReservedSSO_*`` elsewhere is not one, and its session name
   (chosen by whoever called AssumeRole) names nobody;
4. a session named like an EC2 instance id with no AssumeRole record to show it: the instance,
   as a guess (``ec2-instance-guess``) -- anyone allowed to assume the role may choose that name.

Principals that are not role sessions (IAM users, root, federated, SAML and web identity users)
are their own person (``principal``); AWS services are their own system (``service``); a caller
another account hides is ``hidden``. Everything else is ``unattributed``, person None: a session
name is never taken for a person otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from keytrail.analysis.filters import NO_FILTERS, Filters
from keytrail.store import Store
from keytrail.times import maybe_iso as iso

MAX_CHAIN = 10

# how the person was found
IDENTITY_CENTER = "identity-center"
ASSUMED_BY = "assumed-by"
SSO_SESSION = "sso-session"
EC2_INSTANCE = "ec2-instance"
EC2_INSTANCE_GUESS = "ec2-instance-guess"
SERVICE = "service"
PRINCIPAL = "principal"
HIDDEN = "hidden"
UNATTRIBUTED = "unattributed"
# bases that rest on a name the caller chose, not on a record AWS wrote
GUESSES = frozenset({EC2_INSTANCE_GUESS})
BASES = (IDENTITY_CENTER, ASSUMED_BY, EC2_INSTANCE, SERVICE, PRINCIPAL, SSO_SESSION, HIDDEN, EC2_INSTANCE_GUESS,
         UNATTRIBUTED)

_EC2 = re.compile(r"i-[0-9a-f]{8}(?:[0-9a-f]{9})?\Z")
_EC2_SERVICE = "ec2.amazonaws.com"
# an Identity Center permission set's role: created by AWS under a path no one else may use
_SSO_ROLE = re.compile(
    r"arn:aws[a-z-]*:iam::[0-9]{12}:role/aws-reserved/sso\.amazonaws\.com/(?:[a-z]{2}(?:-[a-z]+)+-[0-9]+/)?"
    r"AWSReservedSSO_[A-Za-z0-9+=,.@_-]+\Z"  # the characters of an IAM role name
)
_DIRECT_TYPES = ("IAMUser", "Root", "FederatedUser", "SAMLUser", "WebIdentityUser", "IdentityCenterUser")


@dataclass(frozen=True)
class Attribution:
    """Who is behind a session: ``person`` (None when unknown), how it was found, and the chain of
    principals from the person to the session's role, with the STS calls that show it."""

    person: str | None
    basis: str
    chain: tuple[str, ...] = ()
    evidence: tuple[str, ...] = ()  # eventIDs of the AssumeRole calls followed


@dataclass(frozen=True)
class _Cred:
    role_arn: str | None
    session_name: str | None
    caller: str | None
    caller_type: str | None
    caller_akid: str | None
    caller_session: str | None
    on_behalf_of: str | None
    event_id: str | None


def identity_center_person(user_id: str) -> str:
    return f"identitycenter-user:{user_id}"


def is_guess(basis: str) -> bool:
    """Whether a person found on ``basis`` is a guess from a name the caller chose."""
    return basis in GUESSES


def is_sso_role(arn: str | None) -> bool:
    """Whether ``arn`` is an Identity Center role: ``AWSReservedSSO_*`` under the reserved path
    ``/aws-reserved/sso.amazonaws.com/[REGION/]`` (the name alone proves nothing)."""
    return bool(arn) and _SSO_ROLE.match(arn or "") is not None


class SessionResolver:
    """Follows access key ids through the store's ``credentials`` table (loaded as needed)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._creds: dict[str, _Cred | None] = {}

    def load(self, akids: Iterable[str]) -> None:
        """Fetch the credential issues of ``akids`` and, transitively, of their callers."""
        todo = {a for a in akids if a and a not in self._creds}
        depth = 0
        while todo and depth <= MAX_CHAIN:
            rows = self.store.query(
                """SELECT access_key_id, arg_min(role_arn, event_time), arg_min(session_name, event_time),
                          arg_min(caller, event_time), arg_min(caller_type, event_time),
                          arg_min(caller_access_key_id, event_time), arg_min(caller_session, event_time),
                          arg_min(on_behalf_of, event_time), arg_min(event_id, event_time)
                   FROM credentials WHERE access_key_id IN (SELECT unnest(?::VARCHAR[])) GROUP BY access_key_id""",
                [sorted(todo)],
            )
            found = {r[0]: _Cred(*r[1:]) for r in rows}
            for a in todo:
                self._creds[a] = found.get(a)
            todo = {
                c.caller_akid for c in found.values()
                if c.caller_type == "AssumedRole" and c.caller_akid and c.caller_akid not in self._creds
            }
            depth += 1

    def by_credentials(self, akid: str | None, depth: int = 0) -> Attribution | None:
        """Who obtained the credentials ``akid``, following role chains."""
        if not akid or depth > MAX_CHAIN:
            return None
        if akid not in self._creds:
            self.load([akid])
        c = self._creds.get(akid)
        if c is None:
            return None
        here = (c.role_arn,) if c.role_arn else ()
        ev = (c.event_id,) if c.event_id else ()
        if c.on_behalf_of:
            return Attribution(identity_center_person(c.on_behalf_of), IDENTITY_CENTER, here, ev)
        if c.caller_type == "AssumedRole":
            inner = self.by_credentials(c.caller_akid, depth + 1)
            if inner is not None:
                return Attribution(inner.person, inner.basis, inner.chain + here, inner.evidence + ev)
            caller = (c.caller,) if c.caller else ()
            fallback = _by_session(c.caller, c.caller_session)
            return Attribution(fallback.person, fallback.basis, caller + here, ev)
        if c.caller_type in _DIRECT_TYPES:
            return Attribution(c.caller, ASSUMED_BY, ((c.caller,) if c.caller else ()) + here, ev)
        if c.caller_type == "AWSService":
            chain = ((c.caller,) if c.caller else ()) + here
            if c.caller == _EC2_SERVICE and c.session_name and _EC2.match(c.session_name):
                return Attribution(c.session_name, EC2_INSTANCE, chain, ev)  # EC2 named the session
            return Attribution(c.caller, SERVICE, chain, ev)
        return Attribution(c.caller, HIDDEN if c.caller else UNATTRIBUTED, here, ev)

    def attribute(
        self,
        principal: str,
        principal_type: str | None,
        session_name: str | None,
        on_behalf_of: str | None,
        access_key_id: str | None,
    ) -> Attribution:
        """The person behind one call's identity."""
        if on_behalf_of:
            return Attribution(identity_center_person(on_behalf_of), IDENTITY_CENTER)
        if principal_type == "AssumedRole":
            found = self.by_credentials(access_key_id)
            if found is not None:
                return Attribution(found.person, found.basis, found.chain[:-1] + (principal,), found.evidence)
            return _by_session(principal, session_name)
        if principal_type == "AWSService":
            return Attribution(principal, SERVICE)
        if principal_type == "AWSAccount" or principal.startswith("AWSAccount:"):
            return Attribution(None, HIDDEN)
        return Attribution(principal, PRINCIPAL)


def _by_session(role: str | None, session: str | None) -> Attribution:
    """The person a session's name shows, where no record AWS wrote does (see the module docstring)."""
    if session and is_sso_role(role):
        return Attribution(session, SSO_SESSION)
    if session and _EC2.match(session):
        return Attribution(session, EC2_INSTANCE_GUESS)
    return Attribution(None, UNATTRIBUTED)


@dataclass(frozen=True)
class PersonRow:
    """Use of one key by one person (or system), across the principals and sessions it used."""

    key: str
    person: str | None
    basis: str
    principals: list[str]
    encrypt: int
    decrypt: int
    sign: int
    admin: int
    denied: int
    first_seen: str | None
    last_seen: str | None
    chains: list[str] = field(default_factory=list)  # "alice -> DeployRole -> AppRole"
    sessions: list[str] = field(default_factory=list)


_TOP = 3


def people(store: Store, filters: Filters = NO_FILTERS) -> list[PersonRow]:
    """One row per (key, person) in the window: the principals, chains and sessions behind each."""
    where, params = filters.where(store)
    rows = store.query(
        f"""SELECT key, principal, principal_type, session_name, on_behalf_of, access_key_id,
                   count(*) FILTER (WHERE category = 'encrypt'), count(*) FILTER (WHERE category = 'decrypt'),
                   count(*) FILTER (WHERE category = 'sign'), count(*) FILTER (WHERE category = 'admin'),
                   count(*) FILTER (WHERE category = 'denied'), min(event_time), max(event_time)
            FROM key_use WHERE {where}
            GROUP BY key, principal, principal_type, session_name, on_behalf_of, access_key_id""",  # noqa: S608
        params,
    )
    resolver = SessionResolver(store)
    resolver.load(r[5] for r in rows if r[2] == "AssumedRole" and r[5] and not r[4])
    acc: dict[tuple[str, str | None, str, str], _Acc] = {}
    for key, principal, ptype, session, obo, akid, enc, dec, sig, adm, den, first, last in rows:
        a = resolver.attribute(principal, ptype, session, obo, akid)
        # unknown people stay apart per principal: one row per role, not one "unknown" for all
        group = (key, a.person, a.basis, "" if a.person else principal)
        g = acc.get(group)
        if g is None:
            g = acc[group] = _Acc()
        counts = (int(enc), int(dec), int(sig), int(adm), int(den))
        g.counts = [x + y for x, y in zip(g.counts, counts, strict=True)]
        g.first = first if g.first is None or first < g.first else g.first
        g.last = last if g.last is None or last > g.last else g.last
        total = sum(counts)
        _add(g.principals, principal, total)
        _add(g.sessions, session, total)
        _add(g.chains, " -> ".join(a.chain) if len(a.chain) > 1 else None, total)
    out = []
    for (key, person, basis, _), g in sorted(acc.items(), key=lambda kv: (kv[0][0], kv[0][1] or "\uffff", kv[0][3])):
        c = g.counts
        out.append(
            PersonRow(
                key=key,
                person=person,
                basis=basis,
                principals=_top(g.principals, None),
                encrypt=c[0],
                decrypt=c[1],
                sign=c[2],
                admin=c[3],
                denied=c[4],
                first_seen=iso(g.first),
                last_seen=iso(g.last),
                chains=_top(g.chains, _TOP),
                sessions=_top(g.sessions, _TOP),
            )
        )
    return out


@dataclass
class _Acc:
    counts: list[int] = field(default_factory=lambda: [0, 0, 0, 0, 0])
    first: datetime | None = None
    last: datetime | None = None
    principals: dict[str, int] = field(default_factory=dict)
    sessions: dict[str, int] = field(default_factory=dict)
    chains: dict[str, int] = field(default_factory=dict)


def _add(bucket: dict[str, int], value: str | None, n: int) -> None:
    if value:
        bucket[value] = bucket.get(value, 0) + n


def _top(bucket: dict[str, int], n: int | None) -> list[str]:
    ordered = sorted(bucket.items(), key=lambda kv: (-kv[1], kv[0]))
    return [k for k, _ in (ordered if n is None else ordered[:n])]


def who_uses_by_person(store: Store, key: str, filters: Filters = NO_FILTERS) -> list[PersonRow]:
    """``who_uses`` grouped by the person behind each call (see ``people``), for every key ``key`` meant."""
    f = Filters(
        keys=(key,),
        principal=filters.principal,
        since=filters.since,
        until=filters.until,
        account=filters.account,
        region=filters.region,
    )
    return people(store, f)


__all__ = [
    "ASSUMED_BY",
    "BASES",
    "EC2_INSTANCE",
    "EC2_INSTANCE_GUESS",
    "GUESSES",
    "HIDDEN",
    "IDENTITY_CENTER",
    "MAX_CHAIN",
    "PRINCIPAL",
    "SERVICE",
    "SSO_SESSION",
    "UNATTRIBUTED",
    "Attribution",
    "PersonRow",
    "SessionResolver",
    "identity_center_person",
    "is_guess",
    "is_sso_role",
    "people",
    "who_uses_by_person",
]
