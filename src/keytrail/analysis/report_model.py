"""The typed data of the HTML report (``analysis.report.build_report_data`` fills it; the page
draws it). Every string in it may come from a log and is untrusted."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

REPORT_SCHEMA = 1


class IngestCounts(Protocol):
    """What the summary shows of this run's ingest (``pipeline.IngestReport`` has it)."""

    files_seen: int
    files_ingested: int
    files_unchanged: int
    files_skipped: int
    files_error: int
    records: int
    kms_records: int
    rows: int
    records_rejected: int
    records_unattributed: int
    skip_reasons: dict[str, int]
    errors: list[str]
    record_problems: list[str]


@dataclass(frozen=True)
class Count:
    name: str
    calls: int


@dataclass(frozen=True)
class SkipGroup:
    """Files the store's ledger holds as skipped (not CloudTrail) or unreadable, by reason."""

    status: str
    reason: str
    files: int
    examples: list[str]


@dataclass(frozen=True)
class IngestSummary:
    """What the ingest of this run read (when the report read sources itself)."""

    files_seen: int
    files_ingested: int
    files_unchanged: int
    files_skipped: int
    files_error: int
    records: int
    kms_records: int
    rows: int
    records_rejected: int
    records_unattributed: int
    skip_reasons: list[Count]
    errors: list[str]
    record_problems: list[str]


@dataclass(frozen=True)
class Summary:
    window_start: str | None  # first and last call in the report
    window_end: str | None
    since: str | None  # the window asked for
    until: str | None
    filters: list[str]
    accounts: list[str]  # accounts whose logs show calls, and accounts owning the keys
    regions: list[str]
    files_read: int  # the store's ledger (every ingest into it)
    files_skipped: int
    files_error: int
    records_read: int
    kms_records: int
    record_problems: list[Count]  # rejected / unattributed records, by kind
    skipped: list[SkipGroup]
    calls: int  # key-use rows (a call per key and operation) in the report
    keys: int  # every key of the report (the sections are those with the most calls)
    principals: int
    ingest: IngestSummary | None
    verification: str | None


@dataclass(frozen=True)
class KeyState:
    """The key as the latest inventory saw it."""

    state: str | None
    enabled: bool | None
    description: str | None
    key_usage: str | None
    key_spec: str | None
    multi_region: bool | None
    creation_date: str | None
    deletion_date: str | None
    taken_at: str | None


@dataclass(frozen=True)
class PrincipalEntry:
    principal: str
    principal_type: str
    encrypt: int
    decrypt: int
    sign: int
    admin: int
    denied: int
    total: int
    first_seen: str | None
    last_seen: str | None
    operations: list[Count]
    via: list[str]
    sessions: list[str]
    resources: list[str]
    source_ips: list[str]
    user_agents: list[str]


@dataclass(frozen=True)
class Series:
    """One stacked series of a timeline: (bucket index, calls) for the buckets that have calls."""

    name: str
    total: int
    points: list[tuple[int, int]]
    other: bool = False  # the sum of the principals not drawn on their own (``name`` is then OTHER)


@dataclass(frozen=True)
class Timeline:
    by_operation: list[Series]
    by_principal: list[Series]


@dataclass(frozen=True)
class Axis:
    """The timeline buckets shared by every key: ``unit`` long, starting at each of ``buckets``."""

    unit: str
    buckets: list[str]


@dataclass(frozen=True)
class KeySection:
    anchor: str  # an id made here (never from log data) for links within the page
    key: str
    key_resolved: bool
    account: str
    region: str
    manager: str
    aliases: list[str]
    state: KeyState | None
    calls: int
    crypto_calls: int
    encrypt: int
    decrypt: int
    sign: int
    admin: int
    denied: int
    principals: int  # every principal of the key
    first_seen: str | None
    last_seen: str | None
    first_use: str | None
    last_use: str | None
    principal_rows: list[PrincipalEntry]  # those with the most calls (report.ROWS_SHOWN at most)
    operations: list[Count]
    resources: list[Count]
    resources_total: int
    via: list[Count]
    timeline: Timeline


@dataclass(frozen=True)
class TopPrincipal:
    principal: str
    principal_type: str
    keys: int
    encrypt: int
    decrypt: int
    sign: int
    admin: int
    denied: int
    total: int


@dataclass(frozen=True)
class ReportData:
    summary: Summary
    axis: Axis
    keys: list[KeySection]
    top_principals: list[TopPrincipal]
    findings: list[dict[str, Any]] | None = None  # the first ones (report.ROWS_SHOWN) when there are more
    findings_total: int | None = None  # every finding of the report, listed or not
    finding_severities: list[Count] | None = None  # every finding of the report, by severity
    tighten: dict[str, dict[str, Any]] | None = None  # key -> keytrail suggest-policy's proposal (Suggestion.as_dict)
    generated_at: str | None = None
    tool_version: str = ""
    schema: int = REPORT_SCHEMA
