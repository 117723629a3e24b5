"""The row rules: what a key-use row alone decides, applied where rows are made (each ingest
worker, each Spark task) before they are stored. The rules themselves are described in
``keytrail.resolve``; ``fill`` places relations in any rule's text.
"""

from __future__ import annotations

from keytrail.normalize.operations import DENIED

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


def fill(template: str, **relations: str) -> str:
    """``template`` with each ``{name}`` replaced by a relation (SQL struct literals use braces too,
    so this is not str.format)."""
    for name, relation in relations.items():
        template = template.replace("{" + name + "}", relation)
    return template
