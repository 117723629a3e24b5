"""What the KMS inventory shows: one row per key with its state, manager, aliases, description,
tags, and its use in the store (keys with no crypto calls are the unused ones)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from keytrail.normalize.operations import CRYPTO_SQL
from keytrail.store import Store
from keytrail.times import maybe_iso


def inventory_rows(store: Store, accounts: Iterable[str] = ()) -> list[dict[str, Any]]:
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
    out = []
    for r in rows:
        manager = (r[3] or "").lower()
        out.append(
            {
                "key": r[0],
                "account": r[1],
                "region": r[2],
                "manager": "aws" if manager == "aws" else ("customer" if manager == "customer" else "unknown"),
                "state": r[4],
                "aliases": list(r[5] or []),
                "description": r[6] or "",
                "tags": list(r[7] or []),
                "crypto_calls": int(r[8]),
                "last_use": maybe_iso(r[9]),
                "kms_last_used": maybe_iso(r[10]),
                "deletion_date": maybe_iso(r[11]),
                "taken_at": maybe_iso(r[12]),
            }
        )
    return out
