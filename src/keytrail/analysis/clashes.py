"""Event ids that stand for more than one event.

A re-delivered record (same eventID, eventName and eventTime) is one call. Published examples
(and broken tooling) reuse an eventID for different events: the resolver counts each distinct
(eventName, eventTime) as its own call, and this lists the ids so that the reuse is visible.
Copies that agree on name and time but disagree on the outcome (errorCode) or the caller are
listed too: they are counted once, as the rules say, but one of them cannot be a re-delivery.
"""

from __future__ import annotations

from dataclasses import dataclass

from keytrail.store import Store
from keytrail.times import iso_of_epoch

DIFFERENT_EVENTS = "different events"
CONFLICTING_COPIES = "conflicting copies"


@dataclass(frozen=True)
class EventIdClash:
    event_id: str
    kind: str  # DIFFERENT_EVENTS (counted as ``calls``) | CONFLICTING_COPIES (counted once)
    records: int  # records that carry the id (re-deliveries included)
    calls: int  # calls they are counted as: distinct (eventName, eventTime)
    events: list[str]  # "eventName eventTime", sorted


def event_id_clashes(store: Store) -> list[EventIdClash]:
    """Event ids of the store's KMS calls that name more than one event, sorted by id."""
    rows = store.query(
        """WITH recs AS (
               SELECT event_id, file_id, rec_index, any_value(event_name) AS event_name,
                      any_value(event_time) AS event_time, coalesce(any_value(error_code), '') AS outcome,
                      coalesce(any_value(principal), any_value(principal_uid), '') AS caller
               FROM raw_key_use WHERE event_id IS NOT NULL GROUP BY event_id, file_id, rec_index
           )
           SELECT event_id, count(*), count(DISTINCT (event_name, event_time)),
                  count(DISTINCT (event_name, event_time, outcome, caller)),
                  list(DISTINCT [event_name, event_time::VARCHAR])
           FROM recs GROUP BY event_id
           HAVING count(DISTINCT (event_name, event_time, outcome, caller)) > 1
           ORDER BY event_id"""
    )
    out = []
    for event_id, records, calls, _variants, events in rows:
        names = sorted(f"{name} {iso_of_epoch(int(when))}" for name, when in events)
        kind = DIFFERENT_EVENTS if calls > 1 else CONFLICTING_COPIES
        out.append(EventIdClash(event_id, kind, records, calls, names))
    return out


@dataclass(frozen=True)
class IdentityConflict:
    """A unique id the archive shows with more than one ARN (a user renamed, or a forged record):
    hidden callers with this id are not named after either, but by their ``AWSAccount:`` stand-in."""

    unique_id: str
    arns: list[str]  # sorted
    hidden_calls: int  # key-use rows of hidden callers left unnamed because of it


def identity_conflicts(store: Store) -> list[IdentityConflict]:
    """Unique ids shown with several ARNs in one account, sorted by id."""
    rows = store.query(
        """WITH conflicts AS (
               SELECT unique_id, split_part(arn, ':', 5) AS account, list(DISTINCT arn ORDER BY arn) AS arns
               FROM identity_map GROUP BY ALL HAVING count(DISTINCT arn) > 1
           )
           SELECT c.unique_id, c.arns, count(k.principal)
           FROM conflicts c LEFT JOIN key_use k
             ON k.principal = 'AWSAccount:' || c.account || ':' || c.unique_id
           GROUP BY c.unique_id, c.arns ORDER BY c.unique_id"""
    )
    return [IdentityConflict(uid, list(arns), int(n)) for uid, arns, n in rows]
