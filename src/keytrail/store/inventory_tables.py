"""The KMS inventory in the store: each account's and Region's keys, aliases, policies, grants and
tags replace its previous inventory (``inventory_*`` tables, stamped with the time it was taken;
``inventory_runs`` keeps every run, failures too). Its aliases go into ``alias_history`` (source
``inventory``) so that the resolver reads them.
"""

from __future__ import annotations

from datetime import datetime

from msgspec.structs import astuple

from keytrail.sources.inventory import RegionInventory
from keytrail.store.database import Store
from keytrail.store.tables import AliasRow
from keytrail.times import epoch

MAX_NOTES = 20


def write_region(store: Store, inv: RegionInventory, taken_at: datetime, source: str) -> None:
    """Replace this account's and Region's inventory in one transaction (``source``: api | files)."""
    con = store.con
    scope = [inv.account, inv.region]
    by_arn = "split_part(arn, ':', 5) = ? AND split_part(arn, ':', 4) = ?"
    with store.transaction():
        con.execute("DELETE FROM inventory_keys WHERE account = ? AND region = ?", scope)
        con.execute("DELETE FROM inventory_aliases WHERE account = ? AND region = ?", scope)
        for table in ("inventory_policies", "inventory_grants", "inventory_tags"):
            con.execute(f"DELETE FROM {table} WHERE {by_arn}", scope)  # noqa: S608  (fixed table names)
        con.execute(
            "DELETE FROM alias_history WHERE source = 'inventory' "
            "AND split_part(alias_arn, ':', 5) = ? AND split_part(alias_arn, ':', 4) = ?",
            scope,
        )
        if inv.keys:
            con.executemany(
                "INSERT INTO inventory_keys VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (k.arn, k.account, k.region, k.key_id, k.key_manager, k.key_state, k.enabled, k.description,
                     k.key_usage, k.key_spec, k.multi_region, k.creation_date, k.deletion_date, k.last_used,
                     taken_at, source)
                    for k in inv.keys
                ],
            )  # fmt: skip
        if inv.aliases:
            con.executemany(
                "INSERT INTO inventory_aliases VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(a.alias_arn, a.alias_name, a.account, a.region, a.target_key_arn, a.last_updated or a.created,
                  taken_at) for a in inv.aliases],
            )  # fmt: skip
            history = [
                AliasRow(a.alias_arn, epoch(since), a.target_key_arn, None, "ListAliases", "inventory", None, None)
                for a in inv.aliases
                # without a date an alias cannot be placed in time
                if a.target_key_arn and (since := a.last_updated or a.created) is not None
            ]
            if history:
                con.executemany("INSERT INTO alias_history VALUES (?, ?, ?, ?, ?, ?, ?, ?)", [astuple(r) for r in history])
        if inv.policies:
            con.executemany("INSERT INTO inventory_policies VALUES (?, ?, ?, ?)",
                            [(arn, name, doc, taken_at) for arn, name, doc in inv.policies])  # fmt: skip
        if inv.grants:
            con.executemany(
                "INSERT INTO inventory_grants VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(g.arn, g.grant_id, g.name, g.grantee_principal, g.retiring_principal, g.issuing_account,
                  list(g.operations), g.constraints, taken_at) for g in inv.grants],
            )  # fmt: skip
        if inv.tags:
            con.executemany("INSERT INTO inventory_tags VALUES (?, ?, ?)", inv.tags)
        notes = "; ".join(inv.notes[:MAX_NOTES]) + (f" (and {len(inv.notes) - MAX_NOTES} more)" if len(inv.notes) > MAX_NOTES else "")
        con.execute(
            "INSERT INTO inventory_runs VALUES (?, ?, ?, 'ok', ?)", [taken_at, inv.account, inv.region, notes or None]
        )
        store.resolve_whole_next()  # the aliases may change any call's key


def write_failure(store: Store, taken_at: datetime, account: str, region: str | None, message: str) -> None:
    """An account or Region that could not be taken, in ``inventory_runs``."""
    store.con.execute("INSERT INTO inventory_runs VALUES (?, ?, ?, 'error', ?)", [taken_at, account, region, message])


def finish(store: Store) -> None:
    """The resolver reads the inventory's aliases: rebuild key_use."""
    store.resolve_whole_next()
    store.resolve()
