"""Filters shared by every report, and matching a key as the user names it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from keytrail.errors import UsageError
from keytrail.rules import alias_arn_parts, is_key_arn
from keytrail.store import Store


def parse_time_bound(value: str | None, option: str) -> datetime | None:
    """An ISO-8601 date or date-time; UTC unless it carries an offset. Returned naive, in UTC."""
    if value is None or value == "":
        return None
    try:
        if len(value) == 10:
            d = date.fromisoformat(value)
            return datetime(d.year, d.month, d.day)
        dt = datetime.fromisoformat(value)
    except ValueError as e:
        raise UsageError(f"{option}: {value!r} is not an ISO-8601 date or date-time") from e
    if dt.tzinfo is not None:
        dt = dt.astimezone(UTC).replace(tzinfo=None)
    return dt


@dataclass(frozen=True)
class Filters:
    """Which key-use rows a report covers. ``since`` inclusive, ``until`` exclusive (UTC)."""

    keys: tuple[str, ...] = ()
    principal: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    account: str | None = None
    region: str | None = None
    extra: tuple[tuple[str, tuple[object, ...]], ...] = field(default=())

    def where(self, store: Store, alias: str = "") -> tuple[str, list[object]]:
        """A SQL condition over key_use and its bound parameters (log data never enters SQL text)."""
        p = f"{alias}." if alias else ""
        conds: list[str] = ["TRUE"]
        params: list[object] = []
        if self.keys:
            matched = sorted({k for spec in self.keys for k in match_keys(store, spec, self.account, self.region)})
            conds.append(f"{p}key IN (SELECT unnest(?::VARCHAR[]))")
            params.append(matched)
        if self.principal:
            conds.append(f"({p}principal = ? OR {p}principal ILIKE ?)")
            params += [self.principal, f"%{self.principal}%"]
        if self.since is not None:
            conds.append(f"{p}event_time >= ?")
            params.append(self.since)
        if self.until is not None:
            conds.append(f"{p}event_time < ?")
            params.append(self.until)
        if self.account:
            conds.append(f"{p}key_account = ?")
            params.append(self.account)
        if self.region:
            conds.append(f"{p}key_region = ?")
            params.append(self.region)
        for cond, values in self.extra:
            conds.append(cond)
            params.extend(values)
        return " AND ".join(conds), params


def match_keys(store: Store, spec: str, account: str | None = None, region: str | None = None) -> list[str]:
    """Every key ARN that ``spec`` (key id, key ARN, alias name or alias ARN) meant.

    An alias or a bare id may mean several keys: the same name in several accounts and Regions,
    or an alias retargeted over time. Narrowed by ``account`` / ``region``.
    """
    spec = spec.strip()
    if not spec:
        raise UsageError("an empty key name")
    if is_key_arn(spec):
        found = [spec]
    elif spec.startswith("alias/") or alias_arn_parts(spec) is not None:
        suffix = spec if spec.startswith("arn:") else f":{spec}"
        rows = store.query(
            "SELECT DISTINCT target_key FROM alias_history WHERE ends_with(alias_arn, ?) AND target_key IS NOT NULL "
            # calls through the alias: resolved to their key, or (unresolved) kept under the alias ARN
            "UNION SELECT DISTINCT key FROM key_use WHERE ends_with(key_ref, ?) AND key_ref LIKE 'arn:%:alias/%'",
            [suffix, suffix],
        )
        found = [r[0] for r in rows]
    else:
        rows = store.query("SELECT DISTINCT key FROM key_use WHERE ends_with(key, ?)", [f":key/{spec}"])
        found = [r[0] for r in rows]
    out = []
    for key in found:
        parts = key.split(":")
        if len(parts) < 6:
            continue
        if account and parts[4] != account:
            continue
        if region and parts[3] != region:
            continue
        out.append(key)
    return sorted(set(out))


NO_FILTERS = Filters()
