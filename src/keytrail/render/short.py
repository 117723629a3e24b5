"""Short forms for a terminal, where the context already says the rest: a key by its id, a principal
by its resource (``user/test-user``) with its account only when it is not the key's, a hidden
caller by account and unique id, times without the year and zone the heading states.

Every short form keeps the *name* -- the last part of an ARN, a hidden caller's unique id -- whole,
so what a reader looks for is always on the screen; the compact forms only leave out a path."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from keytrail import i18n
from keytrail.normalize.rules import key_arn_parts

ELLIPSIS = "…"

USER = "user"
ROLE = "role"
ROOT = "root"
FEDERATED = "federated"
SERVICE = "service"
HIDDEN = "hidden"
IDENTITY_CENTER = "identitycenter"
SAML = "saml"
WEB_IDENTITY = "webidentity"
OTHER = "other"

_IAM_ARN = re.compile(r"arn:[a-z-]+:(?:iam|sts)::(\d{12}):(.+)\Z", re.S)
_HIDDEN = re.compile(r"AWSAccount:(\d{12}):(.+)\Z", re.S)
_KINDS = {"user": USER, "role": ROLE, "root": ROOT, "federated-user": FEDERATED, "assumed-role": ROLE}


@dataclass(frozen=True)
class Who:
    """A principal as a terminal shows it."""

    text: str  # user/test-user, 444455556666:role/ReportReader, cloudtrail.amazonaws.com
    compact: str | None  # the same with its path left out (role/…/AppRole), where it has one
    name: str  # test-user, ReportReader, the hidden caller's unique id, the service
    kind: str  # USER, ROLE, ... (see the constants above)
    account: str | None  # the principal's account, where it has one


def principal(value: str, home: str | None = None) -> Who:
    """``value`` (a canonical principal, README *How calls are counted*) in short: its account
    is shown only when it is not ``home`` (the key's account)."""
    m = _IAM_ARN.match(value)
    if m:
        account, resource = m[1], m[2]
        prefix = "" if account == home else f"{account}:"
        parts = resource.split("/")
        kind = _KINDS.get(parts[0], OTHER)
        session = parts[0] == "assumed-role"  # the role is the name, the session is the last part
        name = parts[1] if session and len(parts) > 1 else parts[-1]
        compact = f"{prefix}{parts[0]}/{ELLIPSIS}/{parts[-1]}" if len(parts) > 2 and not session else None
        return Who(prefix + resource, compact, name, kind, account)
    m = _HIDDEN.match(value)
    if m:
        account, uid = m[1], m[2]
        return Who(uid if account == home else f"{account}:{uid}", None, uid, HIDDEN, account)
    for scheme, kind in (("identitycenter:", IDENTITY_CENTER), ("saml:", SAML), ("webidentity:", WEB_IDENTITY)):
        if value.startswith(scheme):
            return _federated(value, scheme, kind)
    if "." in value and ":" not in value and "/" not in value:
        return Who(value, None, value, SERVICE, None)
    return Who(value, None, value, OTHER, None)


def _federated(value: str, scheme: str, kind: str) -> Who:
    """Identity Center, SAML and web identity users: their provider by its last part."""
    rest = value[len(scheme):]
    sep = "/user/" if kind == IDENTITY_CENTER else "/"
    provider, found, user = rest.rpartition(sep)
    if not found:
        return Who(value, None, value, kind, None)
    short = provider.rsplit("/", 1)[-1] if provider.startswith("arn:") else provider
    text = f"{scheme}{short}{sep}{user}"
    compact = f"{scheme}{ELLIPSIS}{sep}{user}"
    return Who(text, compact if len(compact) < len(text) else None, user, kind, None)


@dataclass(frozen=True)
class KeyName:
    """A key as a terminal shows it."""

    id: str  # 1234abcd-12ab-34cd-56ef-1234567890ab (or the value, when it is no key ARN)
    account: str | None
    region: str | None


def key(value: str) -> KeyName:
    """A key ARN by its id; an alias ARN (an alias that could not be resolved) by its alias name.
    Compact forms, told apart within a table: ``key_compacts``."""
    parts = key_arn_parts(value)
    if parts is None:
        alias = value.partition(":alias/")
        return KeyName(f"alias/{alias[2]}" if alias[1] else value, None, None)
    _, region, account, kid = parts
    return KeyName(kid, account, region)


def key_compacts(ids: Iterable[str]) -> dict[str, str]:
    """Compact forms of key ids that tell them apart: ``1234abcd…``, or with as much of their end
    as it takes (``00000000…0003``) where the first eight characters are shared."""
    ids = sorted(set(ids))
    heads: dict[str, list[str]] = {}
    for kid in ids:
        heads.setdefault(kid[: 12 if kid.startswith("mrk-") else 8], []).append(kid)
    out: dict[str, str] = {}
    for head, same in heads.items():
        tail = 4
        while len(same) > 1 and len({k[-tail:] for k in same}) < len(same) and tail < 36:
            tail += 2
        for kid in same:
            compact = head + ELLIPSIS + (kid[-tail:] if len(same) > 1 else "")
            out[kid] = compact if len(compact) < len(kid) else kid
    return out


def resource(value: str) -> str:
    """A resource (``kind:id``) by its ARN when it has one: the ARN names the kind already."""
    kind, sep, rid = value.partition(":")
    return rid if sep and rid.startswith("arn:") else value


# ---- times --------------------------------------------------------------------------------------

_ISO = re.compile(r"(\d{4})-(\d\d-\d\d)T(\d\d:\d\d):\d\d(?:\.\d+)?Z\Z")


def _local(value: str | None) -> tuple[str, str, str, str] | None:
    """A UTC time's (year, ``MM-DD``, ``HH:MM``, offset) in the zone of human output (``i18n``)."""
    m = _ISO.match(value or "")
    if m is None:
        return None
    if i18n.is_utc():
        return m[1], m[2], m[3], "Z"
    t = i18n.local(datetime.strptime(f"{m[1]}-{m[2]} {m[3]}", "%Y-%m-%d %H:%M"))
    return t.strftime("%Y"), t.strftime("%m-%d"), t.strftime("%H:%M"), i18n.offset(t)


@dataclass(frozen=True)
class Clock:
    """Times of one table in short, in the zone of human output: ``11-02 08:05`` when they share a
    year (``year``, for the heading), else ``2026-11-02 08:05``; ``zone`` names the zone for the
    heading (``UTC``, ``Asia/Tokyo +09:00``: with every offset the times have); ``shown``: the table
    has any."""

    year: str | None
    shown: bool = True
    zone: str = "UTC"

    def cell(self, value: str | None) -> str:
        if not value:
            return ""
        t = _local(value)
        if t is None:
            return value
        return f"{t[1]} {t[2]}" if self.year == t[0] else f"{t[0]}-{t[1]} {t[2]}"

    def full(self, value: str | None) -> str:
        """With its year: ``2026-11-02 08:05``."""
        t = _local(value)
        return f"{t[0]}-{t[1]} {t[2]}" if t else (value or "")


def zone_label(offsets: Iterable[str] = ()) -> str:
    """The zone of human output for a heading: ``UTC``, or its name with the offsets the times have
    (``Asia/Tokyo +09:00``, ``America/New_York -04:00/-05:00``)."""
    if i18n.is_utc():
        return "UTC"
    shown = sorted(set(offsets), reverse=True)
    return f"{i18n.zone_name()} {'/'.join(shown)}" if shown else i18n.zone_name()


def clock(values: Iterable[str | None]) -> Clock:
    given = [v for v in values if v]
    times = [t for v in given if (t := _local(v))]
    years = {t[0] for t in times}
    return Clock(years.pop() if len(years) == 1 else None, bool(given), zone_label(t[3] for t in times))
