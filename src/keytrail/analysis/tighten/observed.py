"""The evidence a proposal rests on: one key's successful calls in the window, grouped by what a
key policy can tell apart (principal, action, the service that called on its behalf, the
encryption context), the window, and how well the archive covers the key's account and Region.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from keytrail.analysis.policy import account_of, observed_action
from keytrail.normalize.operations import CRYPTO, sql_list
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
    """Every successful call on ``key`` in [since, until), grouped; AWS KMS's own calls left out."""
    where, params = _window("key = ? AND category <> 'denied' AND principal <> ?", [key, KMS_ITSELF], since, until)
    rows = store.query(
        f"""SELECT principal,
                   coalesce(min(principal_type) FILTER (WHERE principal_type <> 'AWSAccount'), min(principal_type)),
                   any_value(identity_account), event_name, op, category, via, encryption_context,
                   count(*), min(event_time), max(event_time), arg_min(event_id, event_time)
            FROM key_use WHERE {where}
            GROUP BY principal, event_name, op, category, via, encryption_context
            ORDER BY principal, event_name, op, via NULLS FIRST, encryption_context NULLS FIRST""",  # noqa: S608
        params,
    )
    return [
        CallGroup(p, ptype, acct or account_of(p), observed_action(name, op), cat, via, ctx, int(n), iso(f), iso(la), eid)
        for p, ptype, acct, name, op, cat, via, ctx, n, f, la, eid in rows
    ]


def kms_own_calls(store: Store, key: str, since: datetime | None, until: datetime | None) -> int:
    where, params = _window("key = ? AND category <> 'denied' AND principal = ?", [key, KMS_ITSELF], since, until)
    return int(store.query(f"SELECT count(*) FROM key_use WHERE {where}", params)[0][0])  # noqa: S608


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


def window_of(  # long: the window, then the coverage of its account and Region, in one pass over the store
    store: Store, key: str, account: str, region: str, since: datetime | None, until: datetime | None, groups: list[CallGroup]
) -> Window:
    first_any, last_any = store.query("SELECT min(event_time), max(event_time) FROM key_use")[0]
    start = since or first_any
    end = until or (last_any + timedelta(seconds=1) if last_any is not None else None)
    days = (end - start).total_seconds() / 86400 if start is not None and end is not None else None
    cond, params = _window(
        f"recipient_account = ? AND region = ? AND op IN {sql_list(CRYPTO)}", [account, region], since, until
    )
    n, = store.query(f"SELECT count(*) FROM key_use WHERE {cond}", params)[0]  # noqa: S608
    gaps: list[str] = []
    if start is not None and end is not None and 1 <= (days or 0) <= MAX_GAP_DAYS:
        cond, params = _window("recipient_account = ? AND region = ?", [account, region], since, until)
        seen = {
            r[0]
            for r in store.query(
                f"SELECT DISTINCT strftime(event_time, '%Y-%m-%d') FROM key_use WHERE {cond}", params  # noqa: S608
            )
        }
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
