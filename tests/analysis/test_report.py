"""The HTML report's data: the same numbers as the text reports, timelines that add up, the summary."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from keytrail.analysis import Filters, keys_report, principals_report, usage
from keytrail.analysis.report import (
    OTHER,
    TOP_SERIES,
    ReportData,
    build_report_data,
)
from keytrail.analysis.report_time import axis_of
from keytrail.pipeline import IngestReport, ingest
from keytrail.sources.local import LocalSource
from keytrail.store import Store
from tests.render.hostile_trail import KEY_ARN, PAYLOADS, write_hostile_archive


@pytest.fixture(scope="module")
def archive_store(small_archive: Path) -> Iterator[tuple[Store, IngestReport]]:
    with Store() as store:
        report = ingest([LocalSource((str(small_archive),))], store, workers=1)
        yield store, report


@pytest.fixture(scope="module")
def data(archive_store: tuple[Store, IngestReport]) -> ReportData:
    store, report = archive_store
    return build_report_data(store, Filters(), ingest_report=report)


def test_principal_rows_are_the_usage_rows(archive_store: tuple[Store, IngestReport], data: ReportData) -> None:
    store, _ = archive_store
    fields = ("principal", "principal_type", "encrypt", "decrypt", "sign", "admin", "denied", "first_seen", "last_seen")
    expected = sorted((u.key, *(getattr(u, f) for f in fields)) for u in usage(store))
    shown = sorted((k.key, *(getattr(p, f) for f in fields)) for k in data.keys for p in k.principal_rows)
    assert shown == expected
    for k in data.keys:
        for p in k.principal_rows:
            assert p.total == p.encrypt + p.decrypt + p.sign + p.admin + p.denied
            assert sum(c.calls for c in p.operations) == p.total


def test_key_sections_are_the_keys_report(archive_store: tuple[Store, IngestReport], data: ReportData) -> None:
    store, _ = archive_store
    keys = keys_report(store)
    assert [k.key for k in data.keys] == [k.key for k in keys]
    for section, row in zip(data.keys, keys, strict=True):
        assert (section.crypto_calls, section.denied, section.principals) == (row.crypto_calls, row.denied, row.principals)
        assert section.calls == sum(p.total for p in section.principal_rows)
        assert set(row.aliases) <= set(section.aliases)
    assert [k.anchor for k in data.keys] == [f"key-{i}" for i in range(1, len(keys) + 1)]


def test_timelines_add_up_to_the_key_calls(data: ReportData) -> None:
    n = len(data.axis.buckets)
    for k in data.keys:
        for series in (k.timeline.by_operation, k.timeline.by_principal):
            assert sum(s.total for s in series) == k.calls
            for s in series:
                assert sum(c for _, c in s.points) == s.total
                assert all(0 <= i < n for i, _ in s.points)
        assert len([s for s in k.timeline.by_principal if not s.other]) <= TOP_SERIES
        others = [s for s in k.timeline.by_principal if s.other]
        assert all(s.name == OTHER for s in others) and len(others) <= 1
        assert [s.name for s in k.timeline.by_operation] == [
            c for c in ("encrypt", "decrypt", "sign", "admin", "denied") if getattr(k, c)
        ]


def test_summary_counts(archive_store: tuple[Store, IngestReport], data: ReportData) -> None:
    store, report = archive_store
    s = data.summary
    assert s.calls == sum(k.calls for k in data.keys)
    assert s.keys == len(data.keys)
    assert s.principals == len(principals_report(store))
    assert s.files_read == report.files_ingested
    assert s.records_read == report.records
    assert s.files_skipped == sum(g.files for g in s.skipped if g.status == "skipped")
    # digest files are skipped by their path, before the ledger; the run's own reasons list them
    assert s.files_skipped == report.files_skipped - report.skip_reasons.get("CloudTrail digest file", 0)
    assert s.ingest is not None
    assert {c.name: c.calls for c in s.ingest.skip_reasons} == report.skip_reasons
    assert all(len(g.examples) <= 5 for g in s.skipped)
    assert s.window_start == min(p.first_seen for k in data.keys for p in k.principal_rows if p.first_seen)
    assert s.window_end == max(p.last_seen for k in data.keys for p in k.principal_rows if p.last_seen)
    assert s.ingest is not None and s.ingest.records == report.records
    assert len(s.accounts) >= 3 and s.regions
    assert data.findings is None and s.verification is None
    assert data.top_principals == sorted(data.top_principals, key=lambda t: (-t.total, t.principal))


def test_filters_narrow_everything(archive_store: tuple[Store, IngestReport], data: ReportData) -> None:
    store, _ = archive_store
    key = data.keys[0].key
    narrowed = build_report_data(store, Filters(keys=(key,), since=datetime(2026, 10, 1, 0, 10)))
    assert [k.key for k in narrowed.keys] == [key]
    assert narrowed.summary.window_start is not None and narrowed.summary.window_start >= "2026-10-01T00:10:00Z"
    assert narrowed.summary.filters == [f"key: {key}"]
    assert narrowed.summary.since == "2026-10-01T00:10:00Z"


def test_findings_and_verification_are_passed_through(archive_store: tuple[Store, IngestReport]) -> None:
    store, _ = archive_store
    finding = {"kind": "k", "severity": "high", "key": "x", "principal": "p", "evidence": [], "recommendation": "r"}
    data = build_report_data(store, Filters(), findings=[finding], verification="42 files verified")
    assert data.findings == [finding]
    assert data.summary.verification == "42 files verified"


@pytest.mark.parametrize(
    ("span_minutes", "unit", "buckets"),
    [(0, "minute", 1), (30, "minute", 31), (180, "minute", 181), (181, "hour", 4), (4 * 1440, "hour", 97),
     (4 * 1440 + 1, "day", 5), (731 * 1440, "day", 732), (800 * 1440, "week", 115)],
)
def test_bucket_unit_follows_the_window(span_minutes: int, unit: str, buckets: int) -> None:
    from datetime import timedelta

    first = datetime(2026, 10, 1)  # a Thursday
    axis, _ = axis_of(first, first + timedelta(minutes=span_minutes), UTC)
    assert axis.unit == unit
    assert len(axis.buckets) == buckets
    if unit == "week":
        assert axis.buckets[0] == "2026-09-28T00:00:00Z"  # the Monday


def test_inventory_state_and_aliases_are_shown(data: ReportData, tmp_path: Path) -> None:
    root = write_hostile_archive(tmp_path / "trail")
    with Store() as store:
        ingest([LocalSource((str(root),))], store, workers=1)
        store.query(
            "INSERT INTO inventory_keys (arn, account, region, key_id, key_manager, key_state, enabled, description, taken_at)"
            " VALUES (?, '111122223333', 'us-east-1', 'k', 'CUSTOMER', 'PendingDeletion', false, ?, '2026-10-02')",
            [KEY_ARN, PAYLOADS[0]],
        )
        store.query(
            "INSERT INTO inventory_aliases VALUES (?, 'alias/from-inventory', '111122223333', 'us-east-1', ?, NULL, '2026-10-02')",
            ["arn:aws:kms:us-east-1:111122223333:alias/from-inventory", KEY_ARN],
        )
        data = build_report_data(store, Filters())
    (k,) = data.keys
    assert k.state is not None
    assert (k.state.state, k.state.enabled, k.state.description) == ("PendingDeletion", False, PAYLOADS[0])
    assert k.state.taken_at == "2026-10-02T00:00:00Z"
    assert "alias/from-inventory" in k.aliases
    assert "alias/<script>alert(1)</script>" in k.aliases
    assert "alias/javascript:alert(1)" in k.aliases  # a ':' in an alias name is part of the name
    assert any(PAYLOADS[1] in p.sessions for p in k.principal_rows)
    assert any(PAYLOADS[1] in p.user_agents for p in k.principal_rows)
    assert any(r.name == f"s3-object:{PAYLOADS[3]}" or r.name.endswith(PAYLOADS[3]) for r in k.resources)
    assert [g.reason for g in data.summary.skipped] == ["valid JSON, not CloudTrail (top-level keys: note)"]


def test_the_timeline_counts_in_the_days_of_the_zone() -> None:
    """Days start at the zone's midnight: 2026-11-02 08:05Z and 16:30Z are one day in UTC, two in Tokyo."""
    from zoneinfo import ZoneInfo

    tokyo = ZoneInfo("Asia/Tokyo")
    first, last = datetime(2026, 11, 2, 8, 5), datetime(2026, 11, 9, 16, 30)
    axis, slots = axis_of(first, last, tokyo)
    assert axis.unit == "day"
    assert axis.buckets[0] == "2026-11-02T00:00:00+09:00"
    assert axis.buckets[-1] == "2026-11-10T00:00:00+09:00"  # 16:30Z is 01:30 the next day in Tokyo
    assert len(axis.buckets) == len(slots) == 9
    utc_axis, _ = axis_of(first, last, UTC)
    assert utc_axis.buckets[0] == "2026-11-02T00:00:00Z" and len(utc_axis.buckets) == 8


def test_a_report_in_a_zone_counts_every_call_once(store: Store) -> None:
    """The same calls, bucketed in Tokyo's days instead of UTC's: the same totals."""
    from zoneinfo import ZoneInfo

    from keytrail.sources.sample import sample_dir

    ingest([LocalSource((str(sample_dir()),))], store, workers=1)
    utc = build_report_data(store)
    tokyo = build_report_data(store, zone=ZoneInfo("Asia/Tokyo"))
    assert tokyo.axis.buckets[0].endswith("+09:00") and tokyo.axis.unit == utc.axis.unit
    for a, b in zip(utc.keys, tokyo.keys, strict=True):
        assert sum(s.total for s in a.timeline.by_operation) == sum(s.total for s in b.timeline.by_operation) == a.calls
        assert sum(n for s in b.timeline.by_principal for _, n in s.points) == a.calls
