"""What was not counted, and why: records rejected, KMS calls that could not be attributed, and
files that could not be read -- ``keytrail problems``.

Every row names where the record is (the file or the source's batch, and the record's index in
it), the call when the record shows it (eventID, eventName), and the reason. Nothing is dropped
without a word: a KMS call that needs a key and names none keytrail can read is here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from keytrail.store import Store

REJECTED = "rejected"
UNATTRIBUTABLE = "unattributable"
UNREADABLE = "unreadable"
KINDS = (REJECTED, UNATTRIBUTABLE, UNREADABLE)
"""The kinds of problem, in report order: a record whose shape keytrail cannot read, a KMS call it
read but cannot attribute to a key (or a principal), a file (or part of a source) it could not read."""


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
           ORDER BY 1, 2 NULLS FIRST, 5"""
    )
    wanted = set(kinds)
    out = []
    for source, record, event_id, event_name, kind, reason in rows:
        if kind not in wanted:
            continue
        if event_name and reason.startswith(f"{event_name}: "):
            reason = reason[len(event_name) + 2 :]  # the event name is a column of its own
        out.append(ProblemEntry(source, None if record is None else int(record), event_id, event_name, kind, reason))
    return out


__all__ = ["KINDS", "REJECTED", "UNATTRIBUTABLE", "UNREADABLE", "ProblemEntry", "problems"]
