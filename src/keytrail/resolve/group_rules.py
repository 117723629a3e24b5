"""The resolver: every rule that turns the normaliser's rows into counted calls, written once as
SQL that DuckDB runs -- in the local engine over the store, and inside Spark's executors over
Arrow batches (``keytrail.spark``). Both engines run these texts; neither restates a rule.

Row rules (``ROW_RULES``), decided by a row alone and applied where rows are made (each ingest
worker, each Spark task) before they are stored:

* ``category``: ``denied`` for a call with an errorCode, else its operation class;
* ``key``: the key ARN when the call named one (NULL while an alias reference is unresolved);
* ``who``: the canonical principal (NULL while a hidden caller is unresolved);
* ``open``: the row needs other records -- an alias reference, a hidden caller, a cross-account
  copy (sharedEventID), or a record with several rows.

Group rules (``STAGES``), over the rows that need other records, with the alias history and the
identity map:

1. Re-deliveries: records with the same eventID, eventName and eventTime are one call; the first
   in log order is kept (``file_order``, then the record's index in its file; locally a file
   covered by a verified digest chain comes first).
2. Aliases: an alias reference resolves through the alias history of its account and Region as
   it stood at the call's time (a change takes effect at its own eventTime; a call in the same
   second counts as after it; several changes in one second: the last one in log order; trail
   events win over an inventory's alias list at the same instant). Hidden callers: an
   ``AWSAccount`` identity's unique id resolves to the ARN it has wherever the archive (or
   inventory) shows it with its full identity, in the caller's account; an id shown with several
   ARNs (a conflict: ``analysis.clashes.identity_conflicts`` names it) and an id never shown
   leave the caller named ``AWSAccount:ACCOUNT:UNIQUEID``.
3. Cross-account copies: records sharing a sharedEventID are one call; the copy with the full
   identity (not ``AWSAccount``) is kept, then by eventID, then log order.
4. Once per call per distinct key and category (ReEncrypt on one key is one decrypt and one
   encrypt; a failed call is one "denied" per distinct key).

Each stage names what it needs together: stage 1 every record of an eventID, stage 3 every record
of a sharedEventID, stage 4 every row of a record; stage 2 needs the histories. The local engine
runs them in one query over every row that needs other records (``CANDIDATES``); Spark
repartitions by eventID for stages 1-2 and by sharedEventID for stages 3-4. Every tie is broken by
values of the records themselves, so the answer does not depend on the order files were read.

``KEY_USE_COLUMNS`` / ``key_use_select``: the resolved rows as every report reads them (the
store's ``key_use`` view and Spark's Parquet dataset).
"""

from __future__ import annotations

from keytrail.operations import DENIED

ROW_RULE_EXPRESSIONS = f"""
    CASE WHEN ref_kind = 'key' THEN key_ref END AS key,
    principal AS who,
    CASE WHEN error_code IS NOT NULL THEN '{DENIED}' ELSE op END AS category,
    (ref_kind <> 'key' OR principal IS NULL OR shared_event_id IS NOT NULL OR record_rows > 1) AS open,
    record_rows,
    CAST(md5_number_lower(event_id) & 9223372036854775807 AS BIGINT) AS event_key
"""
"""The columns a row alone decides, over the normaliser's rows with ``record_rows``: how many rows
the row's record gave. ``event_key`` is a stable 63-bit digest of the eventID (MD5): records that
may be re-deliveries of each other are found by it without reading the eventIDs themselves (a
digest shared by different eventIDs only adds candidates; the rules compare the eventIDs)."""

ROW_RULES = f"SELECT {ROW_RULE_EXPRESSIONS} FROM {{rows}}"  # noqa: S608 - {rows} is a relation of keytrail's own
"""The row rules' columns, in the order of ``{rows}``."""

ROW_RULE_COLUMNS = ("key", "who", "category", "open", "record_rows", "event_key")

# ---- group rules: each a SELECT over the previous stage ({rows}) --------------------------------

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


def fill(template: str, **relations: str) -> str:
    """``template`` with each ``{name}`` replaced by a relation (SQL struct literals use braces too,
    so this is not str.format)."""
    for name, relation in relations.items():
        template = template.replace("{" + name + "}", relation)
    return template


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

CANDIDATES = f"""
SELECT {_CANDIDATE_COLUMNS},
       {{'unverified': NOT coalesce(f.verified, false), 'id': r.file_id}} AS file_order
FROM {{rows}} r LEFT JOIN {{files}} f USING (file_id)
WHERE (open OR event_key IN (SELECT event_key FROM {{shared_keys}})) AND {{bucket}}
"""  # noqa: S608 - constant column names
"""The local engine's rows that need other records (those of one bucket: ``{bucket}``): the open
ones, and every record whose eventID another record may carry (``SHARED_EVENT_KEYS``). Log order:
files covered by a verified digest chain first (a verified copy of a call wins over an unverified
one), then the order files were read (``file_id``)."""

ALIASES_LOCAL = "(SELECT *, file_id AS file_order FROM alias_history)"

# ---- what reports read ---------------------------------------------------------------------------

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
