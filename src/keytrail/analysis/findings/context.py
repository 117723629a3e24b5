"""One run of the finding kinds: the store, the options, and facts several kinds need (computed once)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

from keytrail.analysis.filters import Filters, match_keys
from keytrail.analysis.findings.base import CRYPTO, Evidence, FindingOptions
from keytrail.analysis.findings.keyfacts import KeyFacts, key_catalogue
from keytrail.analysis.sessions import SessionResolver, is_guess
from keytrail.normalize.rules import key_arn_parts
from keytrail.store import Store
from keytrail.times import maybe_iso as iso


@dataclass
class Context:
    """One run: the store, the options, and facts several kinds need (computed once)."""

    store: Store
    options: FindingOptions
    notes: list[str] = field(default_factory=list)

    @cached_property
    def catalogue(self) -> dict[str, KeyFacts]:
        """Every key in scope with what the store knows of it (``keyfacts.key_catalogue``); read only."""
        return key_catalogue(self.store, self.in_scope)

    def window(self) -> tuple[str, list[object]]:
        """The window and key scope as a condition over key_use (a fresh parameter list each call)."""
        where, params = self._window
        return where, list(params)

    @cached_property
    def _window(self) -> tuple[str, list[object]]:
        f = self.options.filters
        return Filters(keys=f.keys, since=f.since, until=f.until, account=f.account, region=f.region).where(self.store)

    def time_only(self, since: datetime | None, until: datetime | None, scoped: bool = True) -> tuple[str, list[object]]:
        """Another time range over key_use, with the run's key scope unless ``scoped`` is false."""
        f = self.options.filters
        if not scoped:
            return Filters(since=since, until=until).where(self.store)
        return Filters(keys=f.keys, since=since, until=until, account=f.account, region=f.region).where(self.store)

    @cached_property
    def scoped_keys(self) -> set[str] | None:
        """Keys the user named (every form matched, inventory included), or None for all keys."""
        f = self.options.filters
        if not f.keys:
            return None
        out: set[str] = set()
        for spec in f.keys:
            out.update(match_keys(self.store, spec, f.account, f.region))
            s = spec.strip()
            if s.startswith("alias/") or ":alias/" in s:
                suffix = s if s.startswith("arn:") else f":{s}"
                rows = self.store.query(
                    "SELECT DISTINCT target_key_arn FROM inventory_aliases WHERE ends_with(alias_arn, ?) "
                    "AND target_key_arn IS NOT NULL",
                    [suffix],
                )
            elif s.startswith("arn:"):
                rows = [(s,)]
            else:
                rows = self.store.query("SELECT arn FROM inventory_keys WHERE key_id = ?", [s])
            out.update(r[0] for r in rows)
        return out

    def in_scope(self, key: str) -> bool:
        f = self.options.filters
        parts = key_arn_parts(key)
        if parts is None:
            return False
        if f.account and parts[2] != f.account:
            return False
        if f.region and parts[1] != f.region:
            return False
        keys = self.scoped_keys
        return keys is None or key in keys

    @cached_property
    def coverage(self) -> dict[tuple[str, str], tuple[int, str | None, str | None]]:
        """(account, Region) -> (KMS cryptographic calls, first, last) the archive holds in the window.

        Counted over the log's account and Region (recipientAccountId, awsRegion), failed calls
        included: what matters is whether the trail delivers cryptographic events there at all.
        """
        where, params = self.time_only(self.options.filters.since, self.options.filters.until, scoped=False)
        rows = self.store.query(
            f"""SELECT recipient_account, region, count(*), min(event_time), max(event_time) FROM key_use
                WHERE {where} AND op IN {CRYPTO} AND recipient_account IS NOT NULL AND region IS NOT NULL
                GROUP BY ALL""",  # noqa: S608
            params,
        )
        return {(r[0], r[1]): (int(r[2]), iso(r[3]), iso(r[4])) for r in rows}

    @cached_property
    def id_map(self) -> dict[str, str]:
        return {r[0]: r[1] for r in self.store.query("SELECT unique_id, min(arn) FROM identity_map GROUP BY unique_id")}

    @cached_property
    def vpce_column(self) -> str | None:
        """The key_use column holding ``vpcEndpointId`` (None in stores that do not record it)."""
        rows = self.store.query(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'key_use' "
            "AND column_name IN ('vpc_endpoint', 'vpc_endpoint_id') ORDER BY column_name"
        )
        return str(rows[0][0]) if rows else None

    def people_of(self, where: str, params: Sequence[object], limit: int = 3) -> dict[tuple[str, str], list[str]]:
        """The people behind each (key, principal) of the key_use rows matching ``where``, most calls
        first; a guess (``sessions.GUESSES``) is named with its basis."""
        rows = self.store.query(
            f"""SELECT key, principal, principal_type, session_name, on_behalf_of, access_key_id, count(*)
                FROM key_use WHERE {where} GROUP BY ALL""",  # noqa: S608
            list(params),
        )
        resolver = SessionResolver(self.store)
        resolver.load(r[5] for r in rows if r[2] == "AssumedRole" and r[5] and not r[4])
        counts: dict[tuple[str, str], dict[str, int]] = {}
        for key, principal, ptype, session, obo, akid, n in rows:
            a = resolver.attribute(principal, ptype, session, obo, akid)
            if a.person and a.person != principal:
                # a person guessed from a name the caller chose says so (``i-0abc... (ec2-instance-guess)``)
                person = f"{a.person} ({a.basis})" if is_guess(a.basis) else a.person
                bucket = counts.setdefault((key, principal), {})
                bucket[person] = bucket.get(person, 0) + int(n)
        return {
            k: [p for p, _ in sorted(v.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]] for k, v in counts.items()
        }

    def evidence(
        self, where: str, params: Sequence[object], group: Sequence[str]
    ) -> dict[tuple[Any, ...], list[Evidence]]:
        """The first calls (in time) of each group of key_use rows matching ``where``.

        ``group`` names key_use columns (code, never log data); at most ``evidence_limit`` per group.
        """
        if self.options.evidence_limit <= 0:
            return {}
        cols = ", ".join(group)
        n = len(group)
        # the first calls of a group by (event_time, event_id, event_name), NULLs last: kept while
        # aggregating (min_by), where ranking every call of the group would sort them all
        rows = self.store.query(
            f"""WITH calls AS (SELECT DISTINCT {cols}, event_id, event_time, event_name FROM key_use WHERE {where}),
                     firsts AS (SELECT {cols}, min_by(struct_pack(event_id, event_time, event_name),
                                                      struct_pack(event_time, event_id, event_name), ?) AS calls
                                FROM calls GROUP BY {cols}),
                     listed AS (SELECT {cols}, unnest(calls) AS c FROM firsts)
                SELECT {cols}, c.event_id, c.event_time, c.event_name FROM listed
                ORDER BY {cols}, c.event_time, c.event_id, c.event_name""",  # noqa: S608
            [*params, self.options.evidence_limit],
        )
        out: dict[tuple[Any, ...], list[Evidence]] = {}
        for r in rows:
            out.setdefault(tuple(r[:n]), []).append(Evidence(r[n], iso(r[n + 1]), r[n + 2]))
        return out
