"""What every finding kind shares: the ``Finding`` record, the options, and the run context."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

import msgspec

from keytrail.analysis.filters import NO_FILTERS, Filters, match_keys
from keytrail.analysis.usage import iso
from keytrail.errors import UsageError
from keytrail.operations import CRYPTO_SQL
from keytrail.rules import key_arn_parts
from keytrail.store import Store

if TYPE_CHECKING:
    from keytrail.analysis.findings.keyfacts import KeyFacts

HIGH = "high"
MEDIUM = "medium"
LOW = "low"
INFO = "info"
SEVERITIES: tuple[str, ...] = (HIGH, MEDIUM, LOW, INFO)

CRYPTO = CRYPTO_SQL  # the cryptographic categories (keytrail.operations)

# A failed call that says the key is in a state that refuses it (not a permission problem).
KEY_STATE_SQL = """CASE
    WHEN error_code = 'DisabledException' THEN 'disabled'
    WHEN error_code = 'KMSInvalidStateException'
         AND (lower(error_message) LIKE '%pending deletion%' OR lower(error_message) LIKE '%pendingdeletion%'
              OR lower(error_message) LIKE '%pending replica deletion%') THEN 'pending-deletion'
    WHEN error_code = 'KMSInvalidStateException'
         AND (lower(error_message) LIKE '% is disabled%' OR lower(error_message) LIKE '%state is disabled%') THEN 'disabled'
    ELSE NULL END"""


class Evidence(msgspec.Struct, frozen=True):
    """One call behind a finding."""

    event_id: str | None
    event_time: str | None
    event_name: str | None = None


class Finding(msgspec.Struct, frozen=True, kw_only=True):
    """One answer: what was found, on which key and principal, the calls that show it, what to do.

    ``evidence`` lists at most ``FindingOptions.evidence_limit`` calls (the first ones in time);
    ``evidence_count`` is how many calls stand behind the finding. ``details`` holds the
    kind-specific facts (plain JSON values).
    """

    kind: str
    severity: str
    key: str | None
    principal: str | None = None
    summary: str
    recommendation: str
    evidence: tuple[Evidence, ...] = ()
    evidence_count: int = 0
    details: dict[str, Any] = msgspec.field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data: ``{kind, severity, key, principal, summary, recommendation,
        evidence: [{event_id, event_time, event_name}], evidence_count, details}``."""
        out: dict[str, Any] = msgspec.to_builtins(self)
        out["evidence"] = list(out["evidence"])
        return out


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(values: Sequence[str]) -> tuple[Network, ...]:
    """CIDRs (or single addresses) as networks; ``UsageError`` names the one that is not."""
    out: list[Network] = []
    for v in values:
        try:
            out.append(ipaddress.ip_network(v.strip(), strict=False))
        except ValueError as e:
            raise UsageError(f"--allowed-ips: {v!r} is not an IP address or CIDR") from e
    return tuple(out)


@dataclass(frozen=True)
class FindingOptions:
    """What ``run_findings`` looks at.

    ``filters`` is the window (``since`` inclusive, ``until`` exclusive) and the key scope. The
    baseline of ``new-principal`` is ``[baseline_since, baseline_until)``; by default everything
    before ``filters.since``. ``kinds`` empty means every kind; ``min_severity`` drops the less
    severe ones.
    """

    filters: Filters = NO_FILTERS
    baseline_since: datetime | None = None
    baseline_until: datetime | None = None
    allowed_networks: tuple[Network, ...] = ()
    allowed_vpce: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    min_severity: str = INFO
    evidence_limit: int = 5


@dataclass
class Context:
    """One run: the store, the options, and facts several kinds need (computed once)."""

    store: Store
    options: FindingOptions
    notes: list[str] = field(default_factory=list)

    @cached_property
    def catalogue(self) -> dict[str, KeyFacts]:
        """Every key in scope with what the store knows of it (``keyfacts.key_catalogue``); read only."""
        from keytrail.analysis.findings.keyfacts import key_catalogue

        return key_catalogue(self)

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
        from keytrail.analysis.sessions import SessionResolver, is_guess

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


def key_label(key: str) -> str:
    """The short form of a key ARN for one-line summaries: ACCOUNT/REGION/key id."""
    parts = key_arn_parts(key)
    return f"{parts[3]} ({parts[2]}, {parts[1]})" if parts else key


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"
