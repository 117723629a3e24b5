"""The group rules: what a key-use row needs other records for (re-deliveries, aliases as they
stood, hidden callers, cross-account copies, once per call), each a ``SELECT`` over the previous
stage's rows (``{rows}``). The rules themselves are described in ``keytrail.resolve``.
"""

from __future__ import annotations

from keytrail.resolve.row_rules import fill

REDELIVERIES = """
SELECT r.*, f.first IS NOT NULL AND f.first <> {'o': r.file_order, 'i': r.rec_index} AS redelivered
FROM {rows} r
LEFT JOIN (
    SELECT event_id, event_name, event_time, min({'o': file_order, 'i': rec_index}) AS first
    FROM {rows} WHERE event_key IN (
        SELECT event_key FROM {rows} WHERE event_key IS NOT NULL
        GROUP BY event_key HAVING count(*) > max(record_rows))
    GROUP BY event_id, event_name, event_time
    HAVING min(file_order) <> max(file_order) OR min(rec_index) <> max(rec_index)
) f USING (event_id, event_name, event_time)
"""

HISTORIES = """
SELECT r.*,
    CASE WHEN r.ref_kind = 'key' THEN r.key_ref ELSE a.key END AS key,
    coalesce(r.principal, CASE WHEN i.names = 1 THEN i.arn END,
             'AWSAccount:' || coalesce(r.identity_account, '?') || ':' || coalesce(r.principal_uid, '?')) AS who
FROM {rows} r
LEFT JOIN (
    SELECT x.file_id, x.rec_index, x.row_no,
           CASE x.ref_kind
               WHEN 'alias' THEN h.target_key
               ELSE coalesce(list_filter(x.alt_keys, lambda k: k <> h.target_key)[1], h.target_key)
           END AS key
    FROM (SELECT file_id, rec_index, row_no, ref_kind, key_ref, alt_keys, event_time FROM {rows}
          WHERE ref_kind <> 'key') x
    ASOF LEFT JOIN (
        SELECT alias_arn, event_time, target_key FROM {aliases}
        QUALIFY row_number() OVER (PARTITION BY alias_arn, event_time
                                   ORDER BY source = 'trail' DESC, file_order DESC NULLS LAST,
                                            rec_index DESC NULLS LAST, target_key NULLS FIRST) = 1
    ) h ON x.key_ref = h.alias_arn AND x.event_time >= h.event_time
) a ON a.file_id = r.file_id AND a.rec_index = r.rec_index AND a.row_no = r.row_no
LEFT JOIN (SELECT unique_id, split_part(min(arn), ':', 5) AS account, min(arn) AS arn, count(DISTINCT arn) AS names
           FROM {identities} GROUP BY unique_id, split_part(arn, ':', 5)) i
       ON i.unique_id = r.principal_uid AND i.account = r.identity_account AND r.principal IS NULL
"""

def _copy_order(r: str = "") -> str:
    """The order of the copies of one call: the full identity first, then by eventID (none last),
    then log order (``r``: the table's prefix, ``r.``)."""
    return (
        f"{{'hidden': coalesce({r}identity_type, '') = 'AWSAccount', 'no_id': {r}event_id IS NULL, "
        f"'id': coalesce({r}event_id, ''), 'o': {r}file_order, 'i': {r}rec_index}}"
    )


COPIES = f"""
SELECT r.*, c.first IS NOT NULL AND NOT r.redelivered AND c.first <> {_copy_order("r.")} AS copy_dup
FROM {{rows}} r
LEFT JOIN (
    SELECT shared_event_id, min({_copy_order()}) AS first
    FROM {{rows}} WHERE shared_event_id IS NOT NULL AND NOT redelivered
    GROUP BY shared_event_id
    HAVING min(file_order) <> max(file_order) OR min(rec_index) <> max(rec_index)
) c USING (shared_event_id)
"""  # noqa: S608 - keytrail's own text

REPEATS = """
SELECT r.*, r.redelivered OR r.copy_dup
            OR (g.first IS NOT NULL AND g.first <> {'r': r.ref_kind, 'k': r.key_ref, 'o': r.op, 'n': r.row_no}) AS dup
FROM {rows} r
LEFT JOIN (
    SELECT file_id, rec_index, coalesce(key, key_ref) AS k, category,
           min({'r': ref_kind, 'k': key_ref, 'o': op, 'n': row_no}) AS first
    FROM {rows} WHERE record_rows > 1 AND NOT (redelivered OR copy_dup)
    GROUP BY ALL HAVING count(*) > 1
) g ON g.file_id = r.file_id AND g.rec_index = r.rec_index AND g.k = coalesce(r.key, r.key_ref)
       AND g.category = r.category
"""

STAGES = (REDELIVERIES, HISTORIES, COPIES, REPEATS)
STAGE_A = (REDELIVERIES, HISTORIES)
"""The rules that need every record of an eventID together (and the histories)."""
STAGE_B = (COPIES, REPEATS)
"""The rules that need every record of a sharedEventID together (records stay whole)."""

EVENT_GROUP = "coalesce(event_key, hash(file_id, rec_index))"
"""SQL (DuckDB): a number shared by every row of an eventID (a row without one: its record's)."""
COPY_GROUP = "hash(coalesce(shared_event_id, CAST(file_id AS VARCHAR) || ':' || CAST(rec_index AS VARCHAR)))"
"""SQL (DuckDB): a number shared by every row of a sharedEventID (a row without one: its record's)."""

GROUP_RULE_COLUMNS = ("redelivered", "copy_dup", "dup")
"""Columns the group rules add (``dup``: another row already counts this call)."""


def compose(stages: tuple[str, ...], rows: str, aliases: str = "alias_history", identities: str = "identity_map") -> str:
    """The stages as one query over ``rows`` (SQL: a relation -- a table, or a query in parentheses)."""
    ctes = [f"_input AS (SELECT * FROM {rows})"]  # noqa: S608 - keytrail's own relations
    prev = "_input"
    for n, stage in enumerate(stages):
        name = f"_stage{n}"
        ctes.append(f"{name} AS ({fill(stage, rows=prev, aliases=aliases, identities=identities)})")
        prev = name
    return f"WITH {', '.join(ctes)} SELECT * FROM {prev}"  # noqa: S608 - keytrail's own texts


RESOLVE_COLUMNS = (
    "file_id", "rec_index", "row_no", "event_id", "event_name", "event_time", "shared_event_id", "identity_type",
    "ref_kind", "key_ref", "alt_keys", "op", "category", "principal", "principal_uid", "identity_account", "open",
    "record_rows", "event_key",
)
"""The columns the group rules read (with ``file_order``, the log order of the row's file)."""

_CANDIDATE_COLUMNS = ", ".join(f"r.{c}" for c in RESOLVE_COLUMNS)

SHARED_EVENT_KEYS = """
SELECT event_key FROM {rows} WHERE event_key IS NOT NULL GROUP BY event_key HAVING count(*) > max(record_rows)
"""
"""Digests of the eventIDs more than one record may carry (their digest has more rows than one
record gives)."""

CANDIDATE = "open OR event_key IN (SELECT event_key FROM {shared_keys})"
"""SQL (DuckDB and Spark): a row needs other records -- it is open, or its record's eventID
another record may carry (``{shared_keys}``: ``SHARED_EVENT_KEYS``' rows). NULL for a settled row
without an eventID: the other rows are settled (``NOT coalesce(CANDIDATE, false)``)."""

CANDIDATES = f"""
SELECT {_CANDIDATE_COLUMNS},
       {{'unverified': NOT coalesce(f.verified, false), 'id': r.file_id}} AS file_order
FROM {{rows}} r LEFT JOIN {{files}} f USING (file_id)
WHERE ({CANDIDATE}) AND {{bucket}}
"""  # noqa: S608 - constant column names
"""The local engine's rows that need other records (``CANDIDATE``; those of one bucket:
``{bucket}``). Log order: files covered by a verified digest chain first (a verified copy of a call
wins over an unverified one), then the order files were read (``file_id``)."""

ALIASES_LOCAL = "(SELECT *, file_id AS file_order FROM alias_history)"
