"""What the store knows about each key: who manages it, its state, its aliases, its last use.

From the inventory where one was taken (``keytrail inventory``), else from the archive:
customer managed when a successful CreateKey, a customer alias (not ``alias/aws/*``) or a call
only customer managed keys accept (ScheduleKeyDeletion, PutKeyPolicy, EnableKeyRotation, ...)
names it; AWS managed when an ``alias/aws/*`` alias names it. The state follows the last
successful state change (ScheduleKeyDeletion, CancelKeyDeletion, DisableKey, EnableKey, the
service's DeleteKey) or failed call that reveals it ("... is pending deletion.",
DisabledException), unless the inventory was taken later.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from keytrail.analysis.findings.base import CRYPTO, KEY_STATE_SQL
from keytrail.normalize.rules import key_arn_parts
from keytrail.store import Store
from keytrail.times import maybe_iso as iso

CUSTOMER = "customer"
AWS = "aws"
UNKNOWN = "unknown"

# Calls only a customer managed key accepts (AWS managed keys refuse them).
CUSTOMER_ONLY_CALLS: tuple[str, ...] = (
    "CancelKeyDeletion",
    "DeleteImportedKeyMaterial",
    "DisableKey",
    "DisableKeyRotation",
    "EnableKey",
    "EnableKeyRotation",
    "ImportKeyMaterial",
    "PutKeyPolicy",
    "ReplicateKey",
    "RotateKeyOnDemand",
    "ScheduleKeyDeletion",
    "TagResource",
    "UntagResource",
    "UpdateKeyDescription",
    "UpdatePrimaryRegion",
)

STATE_CHANGES = {
    "ScheduleKeyDeletion": "PendingDeletion",
    "CancelKeyDeletion": "Disabled",  # a cancelled deletion leaves the key disabled
    "DisableKey": "Disabled",
    "EnableKey": "Enabled",
    "DeleteKey": "Deleted",
    "CreateKey": "Enabled",
}
_ERROR_STATES = {"pending-deletion": "PendingDeletion", "disabled": "Disabled"}


@dataclass
class KeyFacts:
    key: str
    account: str
    region: str
    manager: str = UNKNOWN  # customer | aws | unknown
    manager_basis: str | None = None
    state: str | None = None  # Enabled | Disabled | PendingDeletion | Deleted | ... (None: unknown)
    state_basis: str | None = None
    state_since: str | None = None
    in_inventory: bool = False
    deletion_date: str | None = None
    aliases: list[str] = field(default_factory=list)
    last_use: str | None = None  # last successful cryptographic call in the whole store
    last_use_inventory: str | None = None  # GetKeyLastUsage, where the inventory has it
    first_seen: str | None = None
    last_seen: str | None = None


def key_catalogue(store: Store, in_scope: Callable[[str], bool]) -> dict[str, KeyFacts]:  # long: one query per source of facts, in order of precedence
    """Every key the store knows (archive and inventory), in scope of the run's filters."""
    out: dict[str, KeyFacts] = {}

    def facts(key: str) -> KeyFacts | None:
        f = out.get(key)
        if f is None:
            parts = key_arn_parts(key)
            if parts is None or not in_scope(key):
                return None
            f = out[key] = KeyFacts(key, parts[2], parts[1])
        return f

    calls = "', '".join(CUSTOMER_ONLY_CALLS)
    for key, last_use, first, last, created, customer_call in store.query(
        f"""SELECT key, max(event_time) FILTER (WHERE category IN {CRYPTO}), min(event_time), max(event_time),
                   bool_or(event_name = 'CreateKey' AND category = 'admin'),
                   min(event_name) FILTER (WHERE category = 'admin' AND event_name IN ('{calls}'))
            FROM key_use WHERE key_resolved GROUP BY key"""  # noqa: S608
    ):
        f = facts(key)
        if f is None:
            continue
        f.last_use, f.first_seen, f.last_seen = iso(last_use), iso(first), iso(last)
        if created:
            f.manager, f.manager_basis = CUSTOMER, "CreateKey in the archive"
        elif customer_call:
            f.manager, f.manager_basis = CUSTOMER, f"{customer_call} in the archive (customer managed keys only)"

    for alias_arn, target in store.query(
        "SELECT alias_arn, arg_max(target_key, event_time) FROM alias_history GROUP BY alias_arn"
    ):
        f = facts(target) if target else None
        if f is not None:
            f.aliases.append(alias_arn.split(":", 5)[5])
    for alias_arn, target in store.query(
        "SELECT DISTINCT alias_arn, target_key FROM alias_history WHERE target_key IS NOT NULL"
        " UNION SELECT DISTINCT key_ref, key FROM key_use WHERE key_resolved AND key_ref LIKE 'arn:%:alias/%'"
    ):
        f = facts(target)
        if f is None:
            continue
        name = alias_arn.split(":", 5)[5] if alias_arn.count(":") >= 5 else alias_arn
        if name.startswith("alias/aws/"):
            if f.manager == UNKNOWN:
                f.manager, f.manager_basis = AWS, f"AWS managed alias {name}"
        elif f.manager == UNKNOWN:
            f.manager, f.manager_basis = CUSTOMER, f"customer alias {name} in the archive"

    # state from the archive: the last state change or state error
    archive_state: dict[str, tuple[datetime, str, str]] = {}
    names = "', '".join(STATE_CHANGES)
    for key, when, name in store.query(
        f"""SELECT key, max(event_time), arg_max(event_name, event_time) FROM key_use
            WHERE key_resolved AND category = 'admin' AND event_name IN ('{names}') GROUP BY key"""  # noqa: S608
    ):
        archive_state[key] = (when, STATE_CHANGES[name], f"{name} at {iso(when)}")
    for key, when, state, code in store.query(
        f"""SELECT key, max(event_time), arg_max(s, event_time), arg_max(error_code, event_time) FROM (
                SELECT key, event_time, error_code, {KEY_STATE_SQL} AS s FROM key_use
                WHERE key_resolved AND category = 'denied') WHERE s IS NOT NULL GROUP BY key"""  # noqa: S608
    ):
        prev = archive_state.get(key)
        if prev is None or when > prev[0]:
            archive_state[key] = (when, _ERROR_STATES[state], f"{code} at {iso(when)}")
    for key, (when, state, basis) in archive_state.items():
        f = facts(key)
        if f is not None:
            f.state, f.state_basis, f.state_since = state, basis, iso(when)

    for arn, manager, state, deletion, last_used, taken in store.query(
        "SELECT arn, key_manager, key_state, deletion_date, last_used, taken_at FROM inventory_keys"
        " QUALIFY row_number() OVER (PARTITION BY arn ORDER BY taken_at DESC) = 1"
    ):
        f = facts(arn)
        if f is None:
            continue
        f.in_inventory = True
        if manager:
            f.manager = AWS if str(manager).upper() == "AWS" else CUSTOMER
            f.manager_basis = f"inventory ({iso(taken)})"
        prev = archive_state.get(arn)
        if state and (prev is None or taken is None or prev[0] <= taken):
            f.state, f.state_basis, f.state_since = str(state), f"inventory ({iso(taken)})", None
        f.deletion_date = iso(deletion)
        f.last_use_inventory = iso(last_used)
    for alias_name, target in store.query(
        "SELECT DISTINCT alias_name, target_key_arn FROM inventory_aliases WHERE target_key_arn IS NOT NULL"
    ):
        f = facts(target)
        if f is not None and alias_name not in f.aliases:
            f.aliases.append(alias_name)
    for f in out.values():
        f.aliases.sort()
    return out
