"""What the KMS inventory shows: one row per key with its state, manager, aliases, description,
tags, and its use in the store (keys with no crypto calls are the unused ones)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypedDict

from keytrail.normalize.operations import CRYPTO_SQL
from keytrail.store import Store
from keytrail.times import maybe_iso


class InventoryRow(TypedDict):
    """One key of the inventory, as the reports show it (a row for the renderers: JSON, table, CSV)."""

    key: str
    account: str
    region: str
    manager: str  # customer | aws | unknown
    state: str | None
    aliases: list[str]
    description: str
    tags: list[str]  # KEY=VALUE
    crypto_calls: int
    last_use: str | None  # in the store
    kms_last_used: str | None  # GetKeyLastUsage
    deletion_date: str | None
    taken_at: str | None


def inventory_rows(store: Store, accounts: Iterable[str] = ()) -> list[InventoryRow]:
    """One row per key in the inventory: state, manager, aliases, description, tags, and its use in the store."""
    wanted = sorted(set(accounts))
    where = "WHERE k.account IN (SELECT unnest(?::VARCHAR[]))" if wanted else ""
    rows = store.query(
        f"""
        WITH aliases AS (
            SELECT target_key_arn AS arn, list(alias_name ORDER BY alias_name) AS names
            FROM inventory_aliases WHERE target_key_arn IS NOT NULL GROUP BY ALL
        ),
        tags AS (
            SELECT arn, list(tag_key || '=' || coalesce(tag_value, '') ORDER BY tag_key) AS tags
            FROM inventory_tags GROUP BY ALL
        ),
        used AS (
            SELECT key AS arn,
                   count(*) FILTER (WHERE category IN {CRYPTO_SQL}) AS crypto_calls,
                   max(event_time) FILTER (WHERE category IN {CRYPTO_SQL}) AS last_use
            FROM key_use GROUP BY ALL
        )
        SELECT k.arn, k.account, k.region, k.key_manager, k.key_state, aliases.names, k.description, tags.tags,
               coalesce(used.crypto_calls, 0), used.last_use, k.last_used, k.deletion_date, k.taken_at
        FROM inventory_keys k
        LEFT JOIN aliases USING (arn) LEFT JOIN tags USING (arn) LEFT JOIN used USING (arn)
        {where}
        ORDER BY k.account, k.region, k.arn
        """,  # noqa: S608  (the condition is fixed text; values are parameters)
        [wanted] if wanted else [],
    )
    out: list[InventoryRow] = []
    for key, account, region, key_manager, state, aliases, description, tags, calls, last_use, kms_last_used, \
            deletion_date, taken_at in rows:
        manager = (key_manager or "").lower()
        out.append(
            InventoryRow(
                key=key,
                account=account,
                region=region,
                manager="aws" if manager == "aws" else ("customer" if manager == "customer" else "unknown"),
                state=state,
                aliases=list(aliases or []),
                description=description or "",
                tags=list(tags or []),
                crypto_calls=int(calls),
                last_use=maybe_iso(last_use),
                kms_last_used=maybe_iso(kms_last_used),
                deletion_date=maybe_iso(deletion_date),
                taken_at=maybe_iso(taken_at),
            )
        )
    return out
