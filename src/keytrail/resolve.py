"""The resolver: the rules that need other records, applied deterministically over the store.

1. Re-deliveries: records with the same eventID, eventName and eventTime are one call.
2. Cross-account copies: records sharing a sharedEventID are one call; the copy with the full
   identity (not ``AWSAccount``) is kept.
3. Aliases: an alias reference resolves through the alias history of its account and Region as
   it stood at the call's time (a change takes effect at its own eventTime; a call in the same
   second counts as after it; several changes in one second: the last one in log order; trail
   events win over an inventory's alias list at the same instant).
4. Hidden callers: an ``AWSAccount`` identity's unique id resolves to the ARN it has wherever the
   archive (or inventory) shows it with its full identity; unresolved callers are named
   ``AWSAccount:ACCOUNT:UNIQUEID``.
5. Once per call per distinct key and category (ReEncrypt on one key is one decrypt and one
   encrypt; a failed call is one "denied" per distinct key).

Rows are resolved where they stand: the row alone decides most of them when it is inserted
(``INSERT_RESOLVED``); ``resolve`` then revisits only the rows that need other records -- alias
references, hidden callers, records that share an eventID or a sharedEventID, records with
several rows -- every time new input may have changed the answer. Every tie is broken by values
of the records themselves, so the answer does not depend on the order files were read. Reports
read the ``key_use`` view: the rows not marked ``dup``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from keytrail.store import Store

# the resolved columns of a freshly inserted row (appended to the normaliser's columns)
INSERT_RESOLVED = """
    CASE WHEN ref_kind = 'key' THEN key_ref END AS key,
    principal AS who,
    CASE WHEN error_code IS NOT NULL THEN 'denied' ELSE op END AS category,
    false AS dup
"""

_RESET = "UPDATE raw_key_use SET dup = false WHERE dup"

_ALIASES = """
UPDATE raw_key_use r SET key = s.resolved
FROM (
    WITH aliases AS (
        SELECT alias_arn, event_time, target_key FROM alias_history
        QUALIFY row_number() OVER (PARTITION BY alias_arn, event_time
                                   ORDER BY source = 'trail' DESC, file_id DESC NULLS LAST,
                                            rec_index DESC NULLS LAST, target_key NULLS FIRST) = 1
    ), refs AS (
        SELECT DISTINCT file_id, rec_index, ref_kind, key_ref, alt_keys, event_time
        FROM raw_key_use WHERE ref_kind <> 'key'
    )
    SELECT refs.file_id, refs.rec_index, refs.ref_kind, refs.key_ref,
           CASE refs.ref_kind
               WHEN 'alias' THEN a.target_key
               ELSE coalesce(list_filter(refs.alt_keys, lambda x: x <> a.target_key)[1], a.target_key)
           END AS resolved
    FROM refs ASOF LEFT JOIN aliases a ON refs.key_ref = a.alias_arn AND refs.event_time >= a.event_time
) s
WHERE r.ref_kind <> 'key' AND r.file_id = s.file_id AND r.rec_index = s.rec_index
  AND r.ref_kind = s.ref_kind AND r.key_ref = s.key_ref
"""

_HIDDEN = """
UPDATE raw_key_use r SET who = coalesce(m.arn,
        'AWSAccount:' || coalesce(r.identity_account, '?') || ':' || coalesce(r.principal_uid, '?'))
FROM (
    SELECT DISTINCT u.principal_uid, i.arn
    FROM (SELECT DISTINCT principal_uid FROM raw_key_use WHERE principal IS NULL) u
    LEFT JOIN (SELECT unique_id, min(arn) AS arn FROM identity_map GROUP BY unique_id) i
           ON i.unique_id = u.principal_uid
) m
WHERE r.principal IS NULL AND r.principal_uid IS NOT DISTINCT FROM m.principal_uid
"""

_COPIES = """
UPDATE raw_key_use r SET dup = true
FROM (
    WITH shared AS (
        SELECT event_id FROM raw_key_use WHERE event_id IS NOT NULL
        GROUP BY event_id HAVING count(DISTINCT (file_id, rec_index)) > 1
    ), recs AS (
        SELECT DISTINCT file_id, rec_index, event_id, event_name, event_time, shared_event_id, identity_type
        FROM raw_key_use
        WHERE shared_event_id IS NOT NULL OR event_id IN (SELECT event_id FROM shared)
    ), once AS (
        SELECT *, row_number() OVER (PARTITION BY coalesce(event_id, 'file:' || file_id || ':' || rec_index),
                                                  event_name, event_time
                                     ORDER BY file_id, rec_index) AS n
        FROM recs
    ), ranked AS (
        SELECT *, CASE WHEN n > 1 THEN 2
                       WHEN shared_event_id IS NULL THEN 1
                       ELSE row_number() OVER (PARTITION BY shared_event_id, n = 1
                                               ORDER BY coalesce(identity_type, '') = 'AWSAccount',
                                                        event_id, file_id, rec_index)
                  END AS keep_rank
        FROM once
    )
    SELECT file_id, rec_index FROM ranked WHERE keep_rank > 1
) d
WHERE r.file_id = d.file_id AND r.rec_index = d.rec_index
"""

_REPEATS = """
UPDATE raw_key_use r SET dup = true
FROM (
    SELECT file_id, rec_index, ref_kind, key_ref, category FROM (
        SELECT file_id, rec_index, ref_kind, key_ref, category,
               row_number() OVER (PARTITION BY file_id, rec_index, coalesce(key, key_ref), category
                                  ORDER BY ref_kind, key_ref) AS n
        FROM raw_key_use
        WHERE NOT dup AND (file_id, rec_index) IN (
            SELECT file_id, rec_index FROM raw_key_use GROUP BY file_id, rec_index HAVING count(*) > 1)
    ) WHERE n > 1
) x
WHERE r.file_id = x.file_id AND r.rec_index = x.rec_index AND r.ref_kind = x.ref_kind
  AND r.key_ref IS NOT DISTINCT FROM x.key_ref AND r.category = x.category
"""

# What every report reads. Documented in the README ("The store").
KEY_USE_VIEW = """
CREATE OR REPLACE VIEW key_use AS
SELECT
    coalesce(key, key_ref) AS key,
    key IS NOT NULL AS key_resolved,
    split_part(coalesce(key, key_ref), ':', 5) AS key_account,
    split_part(coalesce(key, key_ref), ':', 4) AS key_region,
    who AS principal,
    coalesce(identity_type, 'unknown') AS principal_type,
    category, op, event_name,
    make_timestamp(event_time * 1000000) AS event_time,
    event_id, shared_event_id, region, recipient_account, error_code, error_message, via,
    session_name, on_behalf_of, access_key_id, identity_account, source_ip, user_agent,
    vpc_endpoint, resource_kind, resource_id, encryption_context, key_ref, file_id, rec_index
FROM raw_key_use
WHERE NOT dup
"""


def resolve(store: Store) -> None:
    """Re-resolve the rows that depend on other records, in one transaction."""
    con = store.con
    with store.transaction():
        for statement in (_RESET, _ALIASES, _HIDDEN, _COPIES, _REPEATS):
            con.execute(statement)
        con.execute("INSERT OR REPLACE INTO meta VALUES ('needs_resolve', '0')")
