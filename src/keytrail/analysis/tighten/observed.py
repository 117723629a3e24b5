"""The evidence a proposal rests on: one key's successful calls in the window, grouped by what a
key policy can tell apart (principal, action, the service that called on its behalf, the
encryption context), the window, and how well the archive covers the key's account and Region.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from keytrail.analysis.policy import account_of, observed_action
from keytrail.normalize.operations import CRYPTO, CRYPTO_SQL
from keytrail.store import Store
from keytrail.times import maybe_iso as iso

KMS_ITSELF = "kms.amazonaws.com"  # RotateKey, DeleteKey...: AWS KMS acting on its own, not authorized by the key policy


@dataclass(frozen=True)
class CallGroup:
    """Successful calls of one principal on the key that share action, service and encryption context."""

    principal: str
    principal_type: str | None
    account: str | None
    action: str  # the IAM action exercised (kms:Decrypt, kms:ReEncryptFrom...)
    category: str  # encrypt | decrypt | sign | admin
    via: str | None  # invokedBy: the service that called on the principal's behalf
    context: str | None  # the encryption context, compact JSON
    calls: int
    first: str | None
    last: str | None
    event_id: str | None  # the first call's

    @property
    def crypto(self) -> bool:
        return self.category in CRYPTO


def call_groups(store: Store, key: str, since: datetime | None, until: datetime | None) -> list[CallGroup]:
    """Every successful call on ``key`` in [since, until), grouped (AWS KMS's own calls too: ``KMS_ITSELF``)."""
    return call_groups_of(store, [key], since, until).get(key, [])


def call_groups_of(store: Store, keys: list[str], since: datetime | None, until: datetime | None) -> dict[str, list[CallGroup]]:
    """``call_groups`` of several keys, in one pass over the store."""
    where, params = _window("key IN (SELECT unnest(?::VARCHAR[])) AND category <> 'denied'", [keys], since, until)
    rows = store.query(
        f"""SELECT key, principal,
                   coalesce(min(principal_type) FILTER (WHERE principal_type <> 'AWSAccount'), min(principal_type)),
                   any_value(identity_account), event_name, op, category, via, encryption_context,
                   count(*), min(event_time), max(event_time), arg_min(event_id, event_time)
            FROM key_use WHERE {where}
            GROUP BY key, principal, event_name, op, category, via, encryption_context
            ORDER BY key, principal, event_name, op, via NULLS FIRST, encryption_context NULLS FIRST""",  # noqa: S608
        params,
    )
    out: dict[str, list[CallGroup]] = {}
    for key, p, ptype, acct, name, op, cat, via, ctx, n, f, la, eid in rows:
        out.setdefault(key, []).append(
            CallGroup(p, ptype, acct or account_of(p), observed_action(name, op), cat, via, ctx, int(n), iso(f), iso(la), eid))
    return out


def _window(cond: str, params: list[object], since: datetime | None, until: datetime | None) -> tuple[str, list[object]]:
    if since is not None:
        cond += " AND event_time >= ?"
        params = [*params, since]
    if until is not None:
        cond += " AND event_time < ?"
        params = [*params, until]
    return cond, params


@dataclass(frozen=True)
class Window:
    """The window a proposal looked at, and the archive's coverage of the key's account and Region."""

    since: str | None  # as asked (None: from the store's first call)
    until: str | None
    start: str | None  # the window in effect: asked for, else the store's first and last call
    end: str | None
    days: float | None
    first_use: str | None  # this key's first and last successful call in the window
    last_use: str | None
    coverage_calls: int  # KMS cryptographic calls logged in the key's account and Region in the window
    days_without_logs: tuple[str, ...]  # days of the window with no KMS call logged in that account and Region

    def as_dict(self) -> dict[str, object]:
        return {
            "since": self.since, "until": self.until, "start": self.start, "end": self.end,
            "days": None if self.days is None else round(self.days, 2), "first_use": self.first_use,
            "last_use": self.last_use, "coverage_calls": self.coverage_calls,
            "days_without_logs": list(self.days_without_logs),
        }  # fmt: skip


MAX_GAP_DAYS = 400  # days checked one by one for coverage gaps


def store_span(store: Store) -> tuple[datetime | None, datetime | None]:
    """The first and last call the store holds."""
    first, last = store.query("SELECT min(event_time), max(event_time) FROM key_use")[0]
    return first, last


@dataclass
class Coverage:
    """Per account and Region: the KMS cryptographic calls logged in a window, and the days with any
    KMS call (read once for every key)."""

    crypto_calls: dict[tuple[str, str], int]
    days: dict[tuple[str, str], set[str]]

    @classmethod
    def of(cls, store: Store, since: datetime | None, until: datetime | None) -> Coverage:
        cond, params = _window("recipient_account IS NOT NULL AND region IS NOT NULL", [], since, until)
        calls: dict[tuple[str, str], int] = {}
        days: dict[tuple[str, str], set[str]] = {}
        for acct, region, day, n in store.query(
            f"""SELECT recipient_account, region, strftime(event_time, '%Y-%m-%d'),
                       count(*) FILTER (WHERE op IN {CRYPTO_SQL})
                FROM key_use WHERE {cond} GROUP BY ALL""",  # noqa: S608
            params,
        ):
            calls[(acct, region)] = calls.get((acct, region), 0) + int(n)
            days.setdefault((acct, region), set()).add(day)
        return cls(calls, days)


def window_of(  # long: the window, then the coverage of its account and Region
    account: str, region: str, since: datetime | None, until: datetime | None, groups: list[CallGroup],
    span: tuple[datetime | None, datetime | None], coverage: Coverage,
) -> Window:
    first_any, last_any = span
    start = since or first_any
    end = until or (last_any + timedelta(seconds=1) if last_any is not None else None)
    days = (end - start).total_seconds() / 86400 if start is not None and end is not None else None
    n = coverage.crypto_calls.get((account, region), 0)
    gaps: list[str] = []
    if start is not None and end is not None and 1 <= (days or 0) <= MAX_GAP_DAYS:
        seen = coverage.days.get((account, region), set())
        day = datetime(start.year, start.month, start.day)
        while day < end:
            label = day.strftime("%Y-%m-%d")
            if label not in seen:
                gaps.append(label)
            day += timedelta(days=1)
    firsts = [g.first for g in groups if g.first]
    lasts = [g.last for g in groups if g.last]
    return Window(
        since=iso(since), until=iso(until), start=iso(start), end=iso(end), days=days,
        first_use=min(firsts, default=None), last_use=max(lasts, default=None),
        coverage_calls=int(n), days_without_logs=tuple(gaps),
    )  # fmt: skip
