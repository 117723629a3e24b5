"""What every report reads: the resolved rows' columns (the store's ``key_use`` view, Spark's
Parquet dataset)."""

from __future__ import annotations

KEY_USE_COLUMNS: tuple[str, ...] = (
    "key",
    "key_resolved",
    "key_account",
    "key_region",
    "principal",
    "principal_type",
    "category",
    "op",
    "event_name",
    "event_time",
    "event_id",
    "shared_event_id",
    "region",
    "recipient_account",
    "error_code",
    "error_message",
    "via",
    "session_name",
    "on_behalf_of",
    "access_key_id",
    "identity_account",
    "source_ip",
    "user_agent",
    "vpc_endpoint",
    "resource_kind",
    "resource_id",
    "encryption_context",
    "key_ref",
    "file_id",
    "rec_index",
)
"""The resolved table every report reads (documented in the README, "The store")."""

_COMPUTED = {
    "key": "coalesce(key, key_ref)",
    "key_resolved": "key IS NOT NULL",
    "key_account": "split_part(coalesce(key, key_ref), ':', 5)",
    "key_region": "split_part(coalesce(key, key_ref), ':', 4)",
    "principal": "who",
    "principal_type": "coalesce(identity_type, 'unknown')",
    "event_time": "make_timestamp(event_time * 1000000)",
}


_SETTLED = {
    **_COMPUTED,
    # a row its record alone decides names its key by ARN: key is never NULL there, and a filter on
    # it reaches the Parquet scan as it is
    "key": "key",
    "key_resolved": "true",
    "key_account": "split_part(key, ':', 5)",
    "key_region": "split_part(key, ':', 4)",
}


def key_use_select(rows: str, settled: bool = False) -> str:
    """The key_use columns of resolved rows (``rows``: a relation with the raw columns, the row
    rules' ``key``, ``who`` and ``category``, as resolved); ``settled``: rows their record alone
    decides (a key ARN, a named principal)."""
    computed = _SETTLED if settled else _COMPUTED
    cols = ", ".join(f"{computed[c]} AS {c}" if c in computed else c for c in KEY_USE_COLUMNS)
    return f"SELECT {cols} FROM {rows}"  # noqa: S608 - relation names are keytrail's own
