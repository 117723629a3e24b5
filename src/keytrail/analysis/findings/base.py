"""What every finding kind shares: the ``Finding`` record, severities, the options (the run's
context is ``findings.context``)."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec

from keytrail import i18n
from keytrail.analysis.filters import NO_FILTERS, Filters
from keytrail.errors import ALLOWED_NETWORKS, UsageError
from keytrail.i18n import N_, _
from keytrail.normalize.operations import CRYPTO_SQL
from keytrail.normalize.rules import key_arn_parts

HIGH = "high"
MEDIUM = "medium"
LOW = "low"
INFO = "info"
SEVERITIES: tuple[str, ...] = (HIGH, MEDIUM, LOW, INFO)

CRYPTO = CRYPTO_SQL  # the cryptographic categories (keytrail.normalize.operations)

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

    ``summary`` and ``recommendation`` are words for people, in the current language and time zone
    (``keytrail.i18n``); ``kind``, ``severity``, ``details`` and ``evidence`` are data: English, UTC.

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
            raise UsageError(ALLOWED_NETWORKS, _(": {value!r} is not an IP address or CIDR").format(value=v)) from e
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


def key_label(key: str) -> str:
    """The short form of a key ARN for one-line summaries: ACCOUNT/REGION/key id."""
    parts = key_arn_parts(key)
    return f"{parts[3]} ({parts[2]}, {parts[1]})" if parts else key


_STATE_WORDS = {
    "Enabled": N_("enabled"),
    "Disabled": N_("disabled"),
    "Deleted": N_("deleted"),
    "PendingDeletion": N_("pending deletion"),
    "PendingReplicaDeletion": N_("pending replica deletion"),
    "PendingImport": N_("pending import"),
    "Unavailable": N_("unavailable"),
    "Creating": N_("creating"),
    "Updating": N_("updating"),
}


def state_word(state: str) -> str:
    """A key state (``Disabled``, as the API says it) in words: ``disabled``, in the current language."""
    word = _STATE_WORDS.get(state)
    return _(word) if word else state.lower()


def local_iso(value: str | None) -> str:
    """A UTC time of a finding's details as its words show it: in the zone of human output."""
    return i18n.local_iso(value) or ""
