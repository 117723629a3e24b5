"""The data of the HTML report: a summary of what was read, and per key its principals,
operations, resources, services and a timeline of calls.

``build_report_data`` returns one typed ``ReportData``; the renderer (``render.html``) embeds it
as JSON and the page draws it. Every count comes from the same ``key_use`` aggregations as the
text reports (``usage``, ``keys_report``, ``principals_report``), so the page shows the numbers
``keytrail usage --format json`` prints. Every string in it may come from a log and is untrusted.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from typing import Any

from keytrail._version import __version__
from keytrail.analysis.filters import NO_FILTERS, Filters
from keytrail.analysis.report_model import (
    REPORT_SCHEMA,
    Axis,
    Count,
    IngestCounts,
    IngestSummary,
    KeySection,
    KeyState,
    PrincipalEntry,
    ReportData,
    Series,
    SkipGroup,
    Summary,
    Timeline,
    TopPrincipal,
)
from keytrail.analysis.report_time import OTHER, TOP_SERIES, axis_of, timelines
from keytrail.analysis.usage import (
    DETAILS,
    Detail,
    KeyRow,
    UsageRow,
    keys_report,
    principals_report,
    top_details,
    usage,
)
from keytrail.normalize.operations import CATEGORIES as OPERATION_CATEGORIES
from keytrail.store import Store
from keytrail.times import maybe_iso as iso

CATEGORIES = OPERATION_CATEGORIES
TOP_DETAILS = 5  # sessions, resources, source IPs, user agents, services shown per principal
TOP_RESOURCES = 25  # resources listed per key
TOP_PRINCIPALS = 15  # principals in the overall chart
SKIP_EXAMPLES = 5  # file names shown per skip reason
ROWS_SHOWN = 500  # principals listed per key, and findings listed: the page stays readable and quick
KEY_SECTIONS = 50  # keys with a section of their own (the keys with the most calls)

_REPORT_DETAILS = {**DETAILS, "user_agents": Detail(("user_agent",), "user_agent")}


def build_report_data(  # long: the page's parts, gathered in the order the page shows them
    store: Store,
    filters: Filters = NO_FILTERS,
    ingest_report: IngestCounts | None = None,
    findings: list[dict[str, Any]] | None = None,
    verification: str | None = None,
    generated_at: datetime | None = None,
    zone: tzinfo = UTC,
) -> ReportData:
    """Everything the HTML report shows, for the calls ``filters`` selects (``ingest_report``: what
    this run's ingest read, e.g. a ``pipeline.IngestReport``). The timeline's buckets are minutes,
    hours, days or weeks of ``zone`` (its days start at its midnight); every other time is UTC.

    Bounded whatever the store holds: the ``KEY_SECTIONS`` keys with the most calls get a section,
    each listing its ``ROWS_SHOWN`` principals with the most calls, and the first ``ROWS_SHOWN``
    findings are listed; the totals say how many more there are (every row is in the CSV and JSON
    reports). The queries behind the details read only the rows shown."""
    where, params = filters.where(store)
    first, last = store.query(f"SELECT min(event_time), max(event_time) FROM key_use WHERE {where}", params)[0]  # noqa: S608
    axis, slots = axis_of(first, last, zone)
    key_rows = keys_report(store, filters)
    shown_keys = sorted(key_rows, key=lambda k: (-(k.crypto_calls + k.admin + k.denied), k.key))[:KEY_SECTIONS]
    shown = {k.key for k in shown_keys}
    usage_rows = usage(store, filters, top_per_key=ROWS_SHOWN, keys=sorted(shown))
    principals = sorted({u.principal for u in usage_rows})
    details = top_details(store, where, params, _REPORT_DETAILS, TOP_DETAILS, principals)
    ops = _grouped(store, where, params, "event_name", principals)
    key_ops = _per_key(store, where, params, "event_name")
    resources = _per_key(store, where, params, "coalesce(resource_kind || ':' || resource_id, resource_id)")
    via = _per_key(store, where, params, "via")
    states = _key_states(store)
    inventory_aliases = _inventory_aliases(store)
    trail_aliases = _trail_aliases(store)
    by_op, by_principal = timelines(store, where, params, axis, slots, zone)

    per_key = _principal_entries(usage_rows, details, ops)
    sections = []
    for i, k in enumerate([k for k in key_rows if k.key in shown], 1):
        res = resources.get(k.key, [])
        sections.append(
            KeySection(
                anchor=f"key-{i}",
                key=k.key,
                key_resolved=all(u.key_resolved for u in usage_rows if u.key == k.key),
                account=k.account,
                region=k.region,
                manager=k.manager,
                aliases=sorted(set(trail_aliases.get(k.key, [])) | set(inventory_aliases.get(k.key, []))),
                state=states.get(k.key),
                calls=k.crypto_calls + k.admin + k.denied,
                crypto_calls=k.crypto_calls,
                encrypt=k.encrypt,
                decrypt=k.decrypt,
                sign=k.sign,
                admin=k.admin,
                denied=k.denied,
                principals=k.principals,
                first_seen=k.first_seen,
                last_seen=k.last_seen,
                first_use=k.first_use,
                last_use=k.last_use,
                principal_rows=per_key.get(k.key, []),
                operations=key_ops.get(k.key, []),
                resources=res[:TOP_RESOURCES],
                resources_total=len(res),
                via=via.get(k.key, []),
                timeline=Timeline(by_op.get(k.key, []), by_principal.get(k.key, [])),
            )
        )
    top = _top_principals(store, filters)
    n_principals = store.query(f"SELECT count(DISTINCT principal) FROM key_use WHERE {where}", params)[0][0]  # noqa: S608
    summary = _summary(store, filters, where, params, first, last, key_rows, int(n_principals), ingest_report,
                       verification)
    listed = None if findings is None else [dict(f) for f in findings[:ROWS_SHOWN]]
    return ReportData(
        summary=summary,
        axis=axis,
        keys=sections,
        top_principals=top,
        findings=listed,
        findings_total=None if findings is None else len(findings),
        finding_severities=None if findings is None else _severities(findings),
        generated_at=iso(generated_at),
        tool_version=__version__,
    )


def _severities(findings: list[dict[str, Any]]) -> list[Count]:
    counts: dict[str, int] = {}
    for f in findings:
        severity = str(f.get("severity") or "info").lower()
        counts[severity] = counts.get(severity, 0) + 1
    return [Count(s, n) for s, n in counts.items()]


def _principal_entries(
    usage_rows: list[UsageRow], details: dict[tuple[str, str], dict[str, list[str]]],
    ops: dict[tuple[str, str], list[tuple[str, int]]],
) -> dict[str, list[PrincipalEntry]]:
    """Per key, its principals' rows with their operations and top details."""
    per_key: dict[str, list[PrincipalEntry]] = {}
    for u in usage_rows:
        d = details.get((u.key, u.principal), {})
        per_key.setdefault(u.key, []).append(
            PrincipalEntry(
                u.principal, u.principal_type, u.encrypt, u.decrypt, u.sign, u.admin, u.denied,
                u.encrypt + u.decrypt + u.sign + u.admin + u.denied, u.first_seen, u.last_seen,
                [Count(n, c) for n, c in ops.get((u.key, u.principal), [])],
                d.get("via", []), d.get("sessions", []), d.get("resources", []),
                d.get("source_ips", []), d.get("user_agents", []),
            )
        )
    return per_key


def _top_principals(store: Store, filters: Filters) -> list[TopPrincipal]:
    """The ``TOP_PRINCIPALS`` principals with the most calls across keys, most first."""
    top = []
    for pr in principals_report(store, filters, top=TOP_PRINCIPALS):
        total = pr.encrypt + pr.decrypt + pr.sign + pr.admin + pr.denied
        top.append(TopPrincipal(pr.principal, pr.principal_type, pr.keys, pr.encrypt, pr.decrypt, pr.sign, pr.admin,
                                pr.denied, total))
    top.sort(key=lambda t: (-t.total, t.principal))
    return top


def _grouped(
    store: Store, where: str, params: list[object], expr: str, principals: list[str]
) -> dict[tuple[str, str], list[tuple[str, int]]]:
    """Calls per value of ``expr`` per (key, principal) of ``principals``, most calls first."""
    rows = store.query(
        f"""SELECT key, principal, {expr} AS v, count(*) AS n FROM key_use
            WHERE ({where}) AND {expr} IS NOT NULL AND principal IN (SELECT unnest(?::VARCHAR[]))
            GROUP BY ALL ORDER BY key, principal, n DESC, v""",  # noqa: S608
        [*params, principals],
    )
    out: dict[tuple[str, str], list[tuple[str, int]]] = {}
    for k, p, v, n in rows:
        out.setdefault((k, p), []).append((v, n))
    return out


def _per_key(store: Store, where: str, params: list[object], expr: str) -> dict[str, list[Count]]:
    """Calls per value of ``expr`` per key, most calls first."""
    rows = store.query(
        f"""SELECT key, {expr} AS v, count(*) AS n FROM key_use WHERE ({where}) AND {expr} IS NOT NULL
            GROUP BY ALL ORDER BY key, n DESC, v""",  # noqa: S608
        params,
    )
    out: dict[str, list[Count]] = {}
    for k, v, n in rows:
        out.setdefault(k, []).append(Count(v, n))
    return out


def _has_table(store: Store, name: str) -> bool:
    return bool(store.query("SELECT 1 FROM information_schema.tables WHERE table_name = ?", [name]))


def _key_states(store: Store) -> dict[str, KeyState]:
    if not _has_table(store, "inventory_keys"):
        return {}
    rows = store.query(
        """SELECT arn, key_state, enabled, description, key_usage, key_spec, multi_region,
                  creation_date, deletion_date, taken_at
           FROM inventory_keys QUALIFY row_number() OVER (PARTITION BY arn ORDER BY taken_at DESC) = 1"""
    )
    return {
        r[0]: KeyState(r[1], r[2], r[3], r[4], r[5], r[6], iso(r[7]), iso(r[8]), iso(r[9])) for r in rows
    }


_ALIAS_NAME = "substr({0}, strpos({0}, ':alias/') + 1)"  # alias names may hold ':' themselves


def _trail_aliases(store: Store) -> dict[str, list[str]]:
    """Per key, the aliases that point to it at the end of the alias history, and those calls named it by."""
    rows = store.query(
        f"""WITH current_alias AS (
                SELECT alias_arn, arg_max(target_key, event_time) AS target FROM alias_history GROUP BY alias_arn
            )
            SELECT target, {_ALIAS_NAME.format('alias_arn')} FROM current_alias WHERE target IS NOT NULL
            UNION SELECT DISTINCT key, {_ALIAS_NAME.format('key_ref')} FROM key_use
            WHERE key_ref LIKE 'arn:%:alias/%' AND key_resolved"""  # noqa: S608
    )
    out: dict[str, list[str]] = {}
    for key, name in rows:
        out.setdefault(key, []).append(name)
    return out


def _inventory_aliases(store: Store) -> dict[str, list[str]]:
    if not _has_table(store, "inventory_aliases"):
        return {}
    rows = store.query(
        """SELECT target_key_arn, alias_name FROM inventory_aliases WHERE target_key_arn IS NOT NULL
           QUALIFY row_number() OVER (PARTITION BY alias_arn ORDER BY taken_at DESC) = 1"""
    )
    out: dict[str, list[str]] = {}
    for key, name in rows:
        out.setdefault(key, []).append(name)
    return out


def _describe(filters: Filters) -> list[str]:
    out = [f"key: {k}" for k in filters.keys]
    if filters.principal:
        out.append(f"principal: {filters.principal}")
    if filters.account:
        out.append(f"account: {filters.account}")
    if filters.region:
        out.append(f"key Region: {filters.region}")
    return out


def _summary(  # long: one query per part of the summary, in the order the page shows them
    store: Store,
    filters: Filters,
    where: str,
    params: list[object],
    first: datetime | None,
    last: datetime | None,
    key_rows: list[KeyRow],
    principals: int,
    report: IngestCounts | None,
    verification: str | None,
) -> Summary:
    accounts = store.query(
        f"""SELECT DISTINCT a FROM (SELECT recipient_account AS a FROM key_use WHERE {where}
                                   UNION ALL SELECT key_account FROM key_use WHERE {where})
            WHERE a IS NOT NULL AND a <> '' ORDER BY a""",  # noqa: S608
        params + params,
    )
    regions = store.query(
        f"""SELECT DISTINCT r FROM (SELECT region AS r FROM key_use WHERE {where}
                                   UNION ALL SELECT key_region FROM key_use WHERE {where})
            WHERE r IS NOT NULL AND r <> '' ORDER BY r""",  # noqa: S608
        params + params,
    )
    ledger = {
        status: (int(n), int(records or 0), int(kms or 0))
        for status, n, records, kms in store.query(
            "SELECT status, count(*), sum(records), sum(kms_records) FROM files GROUP BY status"
        )
    }
    skipped_rows = store.query(
        f"""SELECT status, coalesce(reason, '(no reason recorded)') AS r, count(*),
                   list(uri ORDER BY uri)[1:{SKIP_EXAMPLES}]
            FROM files WHERE status <> 'ingested' GROUP BY ALL ORDER BY status, count(*) DESC, r"""  # noqa: S608
    )
    # rejected records are counted per file (the store keeps a sample of them); unattributable calls one by one
    problems = store.query(
        """SELECT 'rejected', sum(problems)::BIGINT FROM files HAVING sum(problems) > 0
           UNION ALL SELECT kind, count(*) FROM record_problems WHERE kind <> 'rejected' GROUP BY kind ORDER BY 1"""
    )
    calls = store.query(f"SELECT count(*) FROM key_use WHERE {where}", params)[0][0]  # noqa: S608
    ingest = None
    if report is not None:
        ingest = IngestSummary(
            report.files_seen, report.files_ingested, report.files_unchanged, report.files_skipped,
            report.files_error, report.records, report.kms_records, report.rows, report.records_rejected,
            report.records_unattributed,
            [Count(r, n) for r, n in sorted(report.skip_reasons.items(), key=lambda x: (-x[1], x[0]))],
            list(report.errors), list(report.record_problems),
        )
    return Summary(
        window_start=iso(first),
        window_end=iso(last),
        since=iso(filters.since),
        until=iso(filters.until),
        filters=_describe(filters),
        accounts=[r[0] for r in accounts],
        regions=[r[0] for r in regions],
        files_read=ledger.get("ingested", (0, 0, 0))[0],
        files_skipped=ledger.get("skipped", (0, 0, 0))[0],
        files_error=ledger.get("error", (0, 0, 0))[0],
        records_read=sum(v[1] for v in ledger.values()),
        kms_records=sum(v[2] for v in ledger.values()),
        record_problems=[Count(k, n) for k, n in problems],
        skipped=[SkipGroup(s, r, n, list(ex)) for s, r, n, ex in skipped_rows],
        calls=int(calls),
        keys=len(key_rows),
        principals=principals,
        ingest=ingest,
        verification=verification,
    )


__all__ = [
    "CATEGORIES", "KEY_SECTIONS", "OTHER", "REPORT_SCHEMA", "ROWS_SHOWN", "TOP_DETAILS", "TOP_PRINCIPALS",
    "TOP_RESOURCES", "TOP_SERIES", "Axis",
    "Count", "IngestCounts", "IngestSummary", "KeySection", "KeyState", "PrincipalEntry", "ReportData", "Series",
    "SkipGroup", "Summary", "Timeline", "TopPrincipal", "build_report_data",
]
