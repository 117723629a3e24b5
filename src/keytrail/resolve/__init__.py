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
repartitions those rows (``CANDIDATE``) by eventID for stages 1-2 and by sharedEventID for stages
3-4. Every other row is settled: its record alone decides it, and neither engine groups it. Every tie is broken by
values of the records themselves, so the answer does not depend on the order files were read.

``KEY_USE_COLUMNS`` / ``key_use_select`` (``resolve.key_use``): the resolved rows as every
report reads them (the store's ``key_use`` view and Spark's Parquet dataset).

Modules: ``row_rules`` (and ``fill``, placing relations in a rule's text), ``group_rules`` (the
stages, ``compose``, the local engine's candidates), ``key_use`` (what reports read).
"""

from keytrail.resolve.group_rules import (
    ALIASES_LOCAL,
    CANDIDATE,
    CANDIDATES,
    COPIES,
    COPY_GROUP,
    EVENT_GROUP,
    GROUP_RULE_COLUMNS,
    HISTORIES,
    REDELIVERIES,
    REPEATS,
    RESOLVE_COLUMNS,
    SHARED_EVENT_KEYS,
    STAGE_A,
    STAGE_B,
    STAGES,
    compose,
)
from keytrail.resolve.key_use import KEY_USE_COLUMNS, key_use_select
from keytrail.resolve.row_rules import ROW_RULE_COLUMNS, ROW_RULE_EXPRESSIONS, ROW_RULES, fill

__all__ = [
    "ALIASES_LOCAL",
    "CANDIDATE",
    "CANDIDATES",
    "COPIES",
    "COPY_GROUP",
    "EVENT_GROUP",
    "GROUP_RULE_COLUMNS",
    "HISTORIES",
    "KEY_USE_COLUMNS",
    "REDELIVERIES",
    "REPEATS",
    "RESOLVE_COLUMNS",
    "ROW_RULES",
    "ROW_RULE_COLUMNS",
    "ROW_RULE_EXPRESSIONS",
    "SHARED_EVENT_KEYS",
    "STAGES",
    "STAGE_A",
    "STAGE_B",
    "compose",
    "fill",
    "key_use_select",
]
