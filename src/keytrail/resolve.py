"""The resolver: the rules that need other records, applied deterministically over the store.

1. Re-deliveries: records with the same eventID, eventName and eventTime are one call.
2. Cross-account copies: records sharing a sharedEventID are one call; the copy with the full
   identity (not ``AWSAccount``) is kept.
3. Aliases: an alias reference resolves through the alias history of its account and Region as
   it stood at the call's time (a change takes effect at its own eventTime; a call in the same
   second counts as after it; several changes in one second: the last one in log order).
4. Hidden callers: an ``AWSAccount`` identity's unique id resolves to the ARN it has wherever the
   archive (or inventory) shows it with its full identity; unresolved callers are named
   ``AWSAccount:ACCOUNT:UNIQUEID``.
5. Once per call per distinct key and category (ReEncrypt on one key is one decrypt and one
   encrypt; a failed call is one "denied" per distinct key).

The result is the ``key_use`` table, so reports are plain aggregations. Every tie is broken by
values of the records themselves, so the answer does not depend on the order files were read.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from keytrail.store import Store

RESOLVE_SQL = """
CREATE OR REPLACE TABLE key_use AS
WITH recs AS (
    SELECT file_id, rec_index,
           coalesce(event_id, 'file:' || file_id || ':' || rec_index) AS rec_key,
           any_value(event_name) AS event_name, any_value(event_time) AS event_time,
           any_value(shared_event_id) AS shared_event_id, any_value(identity_type) AS identity_type
    FROM raw_key_use GROUP BY ALL
),
once AS (
    SELECT * FROM recs
    QUALIFY row_number() OVER (PARTITION BY rec_key, event_name, event_time ORDER BY file_id, rec_index) = 1
),
kept AS (
    SELECT file_id, rec_index FROM once
    QUALIFY shared_event_id IS NULL
         OR row_number() OVER (PARTITION BY shared_event_id
                               ORDER BY coalesce(identity_type, '') = 'AWSAccount', rec_key, file_id, rec_index) = 1
),
aliases AS (
    SELECT alias_arn, event_time, target_key FROM alias_history
    QUALIFY row_number() OVER (PARTITION BY alias_arn, event_time
                               ORDER BY source = 'trail' DESC, file_id DESC NULLS LAST, rec_index DESC NULLS LAST) = 1
),
idmap AS (SELECT unique_id, min(arn) AS arn FROM identity_map GROUP BY unique_id),
r AS (SELECT raw.* FROM raw_key_use raw SEMI JOIN kept USING (file_id, rec_index)),
resolved AS (
    SELECT r.*, a.target_key AS alias_target
    FROM r ASOF LEFT JOIN aliases a ON r.key_ref = a.alias_arn AND r.event_time >= a.event_time
),
keyed AS (
    SELECT resolved.*,
           CASE ref_kind
               WHEN 'key' THEN key_ref
               WHEN 'alias' THEN alias_target
               WHEN 'reencrypt-source' THEN coalesce(list_filter(alt_keys, lambda x: x <> alias_target)[1], alias_target)
           END AS resolved_key
    FROM resolved
)
SELECT
    coalesce(resolved_key, key_ref) AS key,
    resolved_key IS NOT NULL AS key_resolved,
    split_part(coalesce(resolved_key, key_ref), ':', 5) AS key_account,
    split_part(coalesce(resolved_key, key_ref), ':', 4) AS key_region,
    coalesce(keyed.principal, idmap.arn,
             'AWSAccount:' || coalesce(identity_account, '?') || ':' || coalesce(principal_uid, '?')) AS principal,
    coalesce(identity_type, 'unknown') AS principal_type,
    CASE WHEN error_code IS NOT NULL THEN 'denied' ELSE op END AS category,
    op, event_name, to_timestamp(event_time)::TIMESTAMP AS event_time, event_id, shared_event_id,
    region, recipient_account, error_code, error_message, via, session_name, on_behalf_of,
    access_key_id, identity_account, source_ip, user_agent, vpc_endpoint, resource_kind, resource_id,
    encryption_context, key_ref, file_id, rec_index
FROM keyed LEFT JOIN idmap ON keyed.principal IS NULL AND idmap.unique_id = keyed.principal_uid
QUALIFY row_number() OVER (PARTITION BY file_id, rec_index, coalesce(resolved_key, key_ref),
                                        CASE WHEN error_code IS NOT NULL THEN 'denied' ELSE op END
                           ORDER BY ref_kind) = 1
"""


def resolve(store: Store) -> None:
    """Rebuild ``key_use`` from the raw rows and the histories, in one transaction."""
    with store.transaction():
        store.con.execute(RESOLVE_SQL)
        store.con.execute("INSERT OR REPLACE INTO meta VALUES ('needs_resolve', '0')")
