"""What was not counted, and why: records rejected, KMS calls that could not be attributed, and
files that could not be read, and copies of one call that disagree -- ``keytrail problems``.

Every row names where the record is (the file or the source's batch, and the record's index in
it), the call when the record shows it (eventID, eventName), and the reason. A file's first
``MAX_KEPT`` rejected records are kept; a row without a record index says how many more there are. Nothing is dropped
without a word: a KMS call that needs a key and names none keytrail can read is here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from keytrail.analysis.clashes import CONFLICTING_COPIES, event_id_clashes
from keytrail.decode.record import MAX_KEPT
from keytrail.store import Store

REJECTED = "rejected"
UNATTRIBUTABLE = "unattributable"
UNREADABLE = "unreadable"
CONFLICTING = "conflicting"
KINDS = (REJECTED, UNATTRIBUTABLE, UNREADABLE, CONFLICTING)
"""The kinds of problem, in report order: a record whose shape keytrail cannot read, a KMS call it
read but cannot attribute to a key (or a principal), a file (or part of a source) it could not read,
a record one of whose copies (same eventID, eventName and eventTime) says otherwise."""

CONFLICTING_REASON = (
    "copies of one call (same eventID, eventName and eventTime) disagree on its outcome or its caller: "
    "counted once, the copy from a verified log file first, then the first read (`keytrail findings`: "
    "conflicting-copies)"
)


@dataclass(frozen=True)
class ProblemEntry:
    source: str  # the file, object or source batch (ledger URI)
    record: int | None  # the record's index in it (None: the whole file)
    event_id: str | None
    event_name: str | None
    kind: str  # one of KINDS
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def problems(store: Store, kinds: Sequence[str] = KINDS) -> list[ProblemEntry]:
    """Every problem the store recorded, of the given kinds, by source and record index."""
    rows = store.query(
        """SELECT f.uri, p.rec_index, p.event_id, p.event_name,
                  CASE p.kind WHEN 'unattributed' THEN 'unattributable' ELSE p.kind END, p.message
           FROM record_problems p JOIN files f USING (file_id)
           UNION ALL
           SELECT uri, NULL, NULL, NULL, 'unreadable', coalesce(reason, 'could not be read')
           FROM files WHERE status = 'error'
           UNION ALL
           SELECT f.uri, NULL, NULL, NULL, 'rejected',
                  format('{:,} more rejected record(s) than listed: the first {} of a file are kept, every one is counted',
                         f.problems - coalesce(k.n, 0), ?)
           FROM files f LEFT JOIN (SELECT file_id, count(*) AS n FROM record_problems WHERE kind = 'rejected'
                                   GROUP BY file_id) k USING (file_id)
           WHERE f.problems > coalesce(k.n, 0)
           ORDER BY 1, 2 NULLS FIRST, 5""",
        [MAX_KEPT],
    )
    wanted = set(kinds)
    out = []
    for source, record, event_id, event_name, kind, reason in rows:
        if kind not in wanted:
            continue
        if event_name and reason.startswith(f"{event_name}: "):
            reason = reason[len(event_name) + 2 :]  # the event name is a column of its own
        out.append(ProblemEntry(source, None if record is None else int(record), event_id, event_name, kind, reason))
    if CONFLICTING in wanted:
        out += conflicting_copies(store)
    return out


def conflicting_copies(store: Store) -> list[ProblemEntry]:
    """Every record of a call whose copies disagree (``clashes.CONFLICTING_COPIES``)."""
    ids = [c.event_id for c in event_id_clashes(store) if c.kind == CONFLICTING_COPIES]
    if not ids:
        return []
    rows = store.query(
        """SELECT DISTINCT f.uri, k.rec_index, k.event_id, k.event_name
           FROM raw_key_use k JOIN files f USING (file_id)
           WHERE k.event_id IN (SELECT unnest(?::VARCHAR[])) ORDER BY 3, 1, 2""",
        [ids],
    )
    return [ProblemEntry(uri, int(i), eid, name, CONFLICTING, CONFLICTING_REASON) for uri, i, eid, name in rows]


__all__ = ["CONFLICTING", "KINDS", "REJECTED", "UNATTRIBUTABLE", "UNREADABLE", "ProblemEntry", "conflicting_copies", "problems"]
