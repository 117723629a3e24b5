"""What ``keytrail watch`` remembers between runs, in the store: every finding it has found (by
stable id) and whether it has been notified.

    watch_findings(finding_id PRIMARY KEY, kind, severity, found_at, payload, notified_at,
                   attempts, last_error)

A finding is *new* when its id is not in the table: it is added as pending (``notified_at`` NULL)
with its JSON as first found. Pending findings are notified -- those of earlier runs whose
notification failed first -- and marked notified in the same transaction that records the
delivery, so a finding is notified once. A finding that stops holding stays known: if it holds
again later it is not new. The table is created the first time a watch uses the store (older
keytrails ignore it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from keytrail.store.connection import Database

SCHEMA = """
CREATE TABLE IF NOT EXISTS watch_findings (
    finding_id VARCHAR PRIMARY KEY,
    kind VARCHAR NOT NULL,
    severity VARCHAR NOT NULL,
    found_at TIMESTAMP NOT NULL,
    payload VARCHAR NOT NULL,
    notified_at TIMESTAMP,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error VARCHAR
);
"""


@dataclass(frozen=True)
class Pending:
    """A finding waiting to be notified (``payload``: its JSON as first found)."""

    finding_id: str
    kind: str
    severity: str
    found_at: datetime
    payload: str
    attempts: int


def prepare(db: Database) -> None:
    """Create the watch's table if this store has none yet."""
    db.con.execute(SCHEMA)


def known_ids(db: Database) -> set[str]:
    return {r[0] for r in db.query("SELECT finding_id FROM watch_findings")}


def add_new(db: Database, rows: Sequence[tuple[str, str, str, str]], found_at: datetime, notified: bool = False) -> int:
    """Add (finding_id, kind, severity, payload) rows whose ids are not known yet, as pending (or as
    already notified: ``notified``); returns how many were new. Call inside a transaction."""
    known = known_ids(db)
    fresh = [r for r in rows if r[0] not in known]
    if fresh:
        db.con.executemany(
            "INSERT INTO watch_findings (finding_id, kind, severity, found_at, payload, notified_at) VALUES (?, ?, ?, ?, ?, ?)",
            [(*r[:3], found_at, r[3], found_at if notified else None) for r in fresh],
        )
    return len(fresh)


def pending(db: Database) -> list[Pending]:
    """Findings not notified yet, oldest first (by when they were found, then by id)."""
    rows = db.query(
        """SELECT finding_id, kind, severity, found_at, payload, attempts FROM watch_findings
           WHERE notified_at IS NULL ORDER BY found_at, finding_id"""
    )
    return [Pending(r[0], r[1], r[2], r[3], r[4], int(r[5])) for r in rows]


def mark_notified(db: Database, ids: Sequence[str], at: datetime) -> None:
    db.con.execute(
        "UPDATE watch_findings SET notified_at = ?, attempts = attempts + 1, last_error = NULL "
        "WHERE finding_id IN (SELECT unnest(?::VARCHAR[])) AND notified_at IS NULL",
        [at, list(ids)],
    )


def mark_failed(db: Database, ids: Sequence[str], error: str) -> None:
    db.con.execute(
        "UPDATE watch_findings SET attempts = attempts + 1, last_error = ? "
        "WHERE finding_id IN (SELECT unnest(?::VARCHAR[])) AND notified_at IS NULL",
        [error, list(ids)],
    )
