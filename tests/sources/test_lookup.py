"""lookup:// (CloudTrail LookupEvents) against the local emulator: paging, pacing, throttling,
idempotent re-runs, per-key lookups, and the 90-day notice."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from keytrail.analysis.usage import usage
from keytrail.cli.main import cli
from keytrail.errors import SourceError, UsageError
from keytrail.pipeline import ingest
from keytrail.sources import lookup as lookup_module
from keytrail.sources.aws import AwsConfig
from keytrail.sources.lookup import LookupSource, open_lookup
from keytrail.sources.registry import SourceOptions
from keytrail.sources.retry import RETRIES, RetryPolicy
from keytrail.sources.slices import completed_bases, plan_slices
from keytrail.store import Store
from tests.aws_server import DEFAULT_ACCOUNT, HISTORY, EmulatorServer
from tests.factory.archive import records, write_archive
from tests.factory.truth import assert_matches_truth

SINCE = datetime(2026, 10, 1)
UNTIL = datetime(2026, 10, 2)
NOW = datetime(2026, 11, 28, 12, 0)


def records_of(archive: Path) -> list[dict[str, Any]]:
    return list(records(archive))


@pytest.fixture(scope="module")
def history_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An organisation trail with known answers: two accounts, in the two Regions the lookups ask for."""
    out = tmp_path_factory.mktemp("lookup") / "trail"
    write_archive(out, events=1000, seed=11, org=True, accounts=2, regions=("ap-northeast-1", "us-east-1"))
    return out


@pytest.fixture
def history(aws: EmulatorServer, history_archive: Path) -> Path:
    """Event history holding the archive's records (every account's, in their Regions)."""
    records = records_of(history_archive)
    # a re-delivered record is one event in Event history
    unique = {(r["eventID"], r["eventName"], r["eventTime"]): r for r in records}
    HISTORY.add(list(unique.values()))
    return history_archive


def kms_events(archive: Path, region: str | None = None) -> int:
    unique = {
        (r["eventID"], r["eventName"], r["eventTime"])
        for r in records_of(archive)
        if r["eventSource"] == "kms.amazonaws.com" and (region is None or r["awsRegion"] == region)
    }
    return len(unique)


def source(**kw: Any) -> LookupSource:
    defaults: dict[str, Any] = dict(
        regions=("us-east-1", "ap-northeast-1"), since=SINCE, until=UNTIL, rate=100.0, now=NOW,
        aws=AwsConfig(retry=RetryPolicy(max_attempts=3)),
    )  # fmt: skip
    defaults.update(kw)
    return LookupSource(**defaults)


def test_event_history_of_the_window_equals_truth(history: Path, aws: EmulatorServer, tmp_path: Path) -> None:
    with Store() as store:
        report = ingest([source()], store)
        assert_matches_truth(usage(store), history / "truth.json")
        assert report.kms_records == kms_events(history)
        assert report.records_rejected == 0
        uris = [u for (u,) in store.query("SELECT uri FROM files ORDER BY uri")]
    # one batch per Region and hour, named by account, Region, lookup attribute and hour
    assert len(uris) == 2 * 24
    assert uris[0] == f"lookup://{DEFAULT_ACCOUNT}/ap-northeast-1/EventSource=kms.amazonaws.com/2026-10-01T00Z#1"
    # 50 events a page, newest first: as many requests as pages, per run of hours
    pages = sum(-(-kms_events(history, r) // 50) for r in ("us-east-1", "ap-northeast-1"))
    assert len(aws.faults.calls("LookupEvents")) == pages


def test_rerun_asks_only_for_hours_not_yet_closed(history: Path, aws: EmulatorServer) -> None:
    with Store() as store:
        ingest([source()], store)
        (rows,) = store.query("SELECT count(*) FROM raw_key_use")[0]
        calls = len(aws.faults.calls("LookupEvents"))
        again = ingest([source()], store)
        assert len(aws.faults.calls("LookupEvents")) == calls  # every hour is closed and complete
        assert again.files_new == 0
        # a longer window asks only for the hours it adds
        ingest([source(until=UNTIL + timedelta(hours=3))], store)
        new_calls = aws.faults.calls("LookupEvents")[calls:]
        assert len(new_calls) == 2
        assert all(json.loads(r.body)["StartTime"] == (UNTIL - datetime(1970, 1, 1)).total_seconds() for r in new_calls)
        (rows_after,) = store.query("SELECT count(*) FROM raw_key_use")[0]
        assert rows_after == rows


def test_open_hours_are_fetched_again_and_replaced(history: Path, aws: EmulatorServer) -> None:
    """Hours that may still receive events (the last hour before 'now') are re-read, not duplicated."""
    now = SINCE + timedelta(hours=6, minutes=30)
    with Store() as store:
        ingest([source(until=None, now=now, regions=("us-east-1",))], store)
        versions = dict(store.query("SELECT uri, version FROM files"))
        closed = [u for u, v in versions.items() if v == "closed:end"]
        open_ = [u for u, v in versions.items() if v.startswith("open")]
        assert len(closed) == 5 and len(open_) == 2  # 05:00-06:00 ended less than an hour before 'now'
        ingest([source(until=None, now=now + timedelta(minutes=1), regions=("us-east-1",))], store)
        assert store.query("SELECT count(*) - count(DISTINCT uri) FROM files")[0][0] == 0
        assert store.query("SELECT count(*) FROM files")[0][0] == 7


def test_throttling_is_retried_and_nothing_is_lost(history: Path, aws: EmulatorServer, tmp_path: Path) -> None:
    HISTORY.throttle_every = 2
    naps: list[float] = []
    until, taken = first_events_until(history, 150)  # 150 events and those of the 150th's second: 4 pages
    with Store() as store:
        once = AwsConfig(retry=RetryPolicy(max_attempts=1, mode="standard", base_delay=1, max_delay=1))
        report = ingest([source(regions=("us-east-1",), until=until, sleep=naps.append, aws=once)], store)
        assert report.kms_records == taken
    throttled = len(HISTORY.requests) // 2
    assert throttled == 3
    # keytrail's own backoff after botocore's attempts (the other naps are the 2-a-second pacing)
    assert report.retries == throttled and all("ThrottlingException" in n for n in report.retry_notes)
    # with botocore's adaptive retries the throttling never reaches keytrail
    HISTORY.requests.clear()
    HISTORY.throttle_every = 3
    naps.clear()
    with Store() as store:
        report = ingest([source(regions=("us-east-1",), until=until, sleep=naps.append)], store)
        (n,) = store.query("SELECT count(DISTINCT event_id) FROM raw_key_use")[0]
    assert len(HISTORY.requests) == 5  # 4 pages, one retried by botocore
    assert report.kms_records == taken
    assert report.retries == 1 and report.retry_notes == ["cloudtrail:LookupEvents: ThrottlingException (HTTP 400)"]


def first_events_until(archive: Path, n: int) -> tuple[datetime, int]:
    """The --until (a whole second) that takes the first ``n`` KMS events of us-east-1, and how many
    events come before it: ``n``, or a few more when others share the n-th event's second."""
    times = sorted({(r["eventTime"], r["eventID"]) for r in records_of(archive)
                    if r["eventSource"] == "kms.amazonaws.com" and r["awsRegion"] == "us-east-1"})  # fmt: skip
    until = min(t for t, _ in times[n:] if t > times[n - 1][0])
    taken = sum(1 for t, _ in times if t < until)
    assert n <= taken < n + 10
    return datetime.strptime(until, "%Y-%m-%dT%H:%M:%SZ"), taken


def test_throttled_for_good_stops_and_the_next_run_completes(
    history: Path, aws: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    HISTORY.throttle_every = 1
    db = str(tmp_path / "t.duckdb")
    policy = RetryPolicy(max_attempts=1, mode="standard", attempts=3)
    with Store(db) as store:
        with pytest.raises(SourceError, match="still failing \\(ThrottlingException \\(HTTP 400\\)\\) after 3 attempts"):
            ingest([source(sleep=lambda s: None, aws=AwsConfig(retry=policy))], store)
    RETRIES.take()
    HISTORY.throttle_every = 0
    with Store(db) as store:
        ingest([source()], store)
        assert_matches_truth(usage(store), history / "truth.json")
        assert store.query("SELECT count(*) - count(DISTINCT uri) FROM files")[0][0] == 0


def test_interrupted_run_resumes_without_loss_or_duplicates(history: Path, aws: EmulatorServer, tmp_path: Path) -> None:
    """A run stopped after some hours were stored: the next run fetches only the rest."""
    db = str(tmp_path / "r.duckdb")
    seen = 0

    class Stop(Exception):
        pass

    def stop_after_some(batches: Any) -> Any:
        nonlocal seen
        for b in batches:
            seen += 1
            if seen > 30:
                raise Stop
            yield b

    class Interrupted(LookupSource):
        def batches(self, known: dict[str, str]) -> Any:
            return stop_after_some(super().batches(known))

    with Store(db) as store:
        committed = Interrupted(**{**source().__dict__})
        with pytest.raises(Stop):
            ingest([committed], store)
    with Store(db) as store:
        kept = {u for (u,) in store.query("SELECT uri FROM files")}
        calls = len(aws.faults.calls("LookupEvents"))
        ingest([source()], store)
        assert_matches_truth(usage(store), history / "truth.json")
        assert store.query("SELECT count(*) - count(DISTINCT uri) FROM files")[0][0] == 0
        assert store.query("SELECT count(*) FROM files")[0][0] == 48
        if kept:  # what was committed is not asked for again
            assert len(aws.faults.calls("LookupEvents")) - calls < calls


def test_key_lookups_use_resource_name_in_the_keys_region(history: Path, aws: EmulatorServer) -> None:
    truth = json.loads((history / "truth.json").read_text())
    key = next(k for k in sorted(truth["keys"]) if ":us-east-1:" in k)
    with Store() as store:
        ingest([source(regions=(), keys=(key,))], store)
        keys = {k for (k,) in store.query("SELECT DISTINCT key FROM key_use WHERE category <> 'denied'")}
    assert key in keys
    (call,) = {json.dumps(json.loads(r.body)["LookupAttributes"]) for r in aws.faults.calls("LookupEvents")}
    assert json.loads(call) == [{"AttributeKey": "ResourceName", "AttributeValue": key}]
    assert {r.region for r in aws.faults.calls("LookupEvents")} == {"us-east-1"}


def test_two_requests_a_second_by_default(history: Path, aws: EmulatorServer) -> None:
    with Store() as store:
        ingest([source(regions=("us-east-1",), rate=lookup_module.DEFAULT_RATE, until=first_events_until(history, 180)[0])],
               store)  # fmt: skip
    sent = [r.at for r in aws.faults.calls("LookupEvents")]  # when each request arrived
    assert len(sent) == 4
    # the span, not each gap: a busy machine delays single arrivals (two may land close together),
    # but cannot make the requests as a whole arrive faster than they were sent
    assert sent[-1] - sent[0] >= 0.5 * (len(sent) - 1) - 0.1


def test_cli_states_the_90_day_limit_and_reports_progress(history: Path, aws: EmulatorServer,
                                                          monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:  # fmt: skip
    monkeypatch.setattr(lookup_module, "DEFAULT_RATE", 100.0)
    monkeypatch.setattr(lookup_module, "PROGRESS_SECONDS", 0.0)
    db = str(tmp_path / "l.duckdb")
    result = CliRunner().invoke(cli, ["ingest", "lookup://us-east-1", "--db", db, "--since", "2026-10-01",
                                      "--until", "2026-10-02"])  # fmt: skip
    assert result.exit_code == 0, result.stderr
    lines = result.stderr.splitlines()
    assert lines[0] == f"keytrail: warning: {lookup_module.NOTICE}"
    assert any(" page(s), " in line and "us-east-1" in line for line in lines)
    quiet = CliRunner().invoke(cli, ["ingest", "lookup://us-east-1", "--db", db, "-q", "--since", "2026-10-01",
                                     "--until", "2026-10-02"])  # fmt: skip
    assert quiet.stderr.splitlines() == [f"keytrail: warning: {lookup_module.NOTICE}"]


def test_a_refused_region_is_named_and_the_others_are_read(history: Path, aws: EmulatorServer) -> None:
    aws.faults.deny_target("LookupEvents", region="ap-northeast-1")
    with Store() as store:
        report = ingest([source()], store)
        regions = {r for (r,) in store.query("SELECT DISTINCT region FROM raw_key_use")}
    assert regions == {"us-east-1"} and report.kms_records == kms_events(history, "us-east-1")
    prefix = f"lookup://{DEFAULT_ACCOUNT}/ap-northeast-1/EventSource=kms.amazonaws.com"
    assert report.partial and report.errors == [f"{prefix}: not read: AccessDeniedException: not authorized"]


def test_all_regions_are_the_enabled_ones(aws: EmulatorServer) -> None:
    regions = open_lookup("lookup://", SourceOptions(regions=("all",))).lookups()
    assert len(regions) > 10 and {q.attribute for q in regions} == {"EventSource"}
    assert "us-east-1" in {q.region for q in regions}


def test_since_older_than_90_days_is_clipped_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    later = NOW + timedelta(minutes=17)
    assert source(since=None, until=None).window(later)[0] == NOW - timedelta(days=90)  # a whole first hour
    s = source(since=NOW - timedelta(days=200), until=None)
    since, until, until_is_now = s.window(NOW)
    assert since == NOW - timedelta(days=90) and until == NOW and until_is_now  # NOW is on the hour
    assert "more than 90 days ago" in caplog.text


@pytest.mark.parametrize(
    "spec, options, message",
    [
        ("lookup://moon", SourceOptions(), "not a Region"),
        ("lookup://", SourceOptions(regions=("nowhere",)), "not a Region name"),
        ("lookup://", SourceOptions(keys=("alias/app-data",)), "key ARN"),
        ("lookup://", SourceOptions(since="2026-10-02", until="2026-10-01"), "until must be after"),
        ("lookup://", SourceOptions(extra={"lookup_rate": "fast"}), "not a number"),
    ],
)
def test_bad_lookup_options(spec: str, options: SourceOptions, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        open_lookup(spec, options)


def test_slices_and_completion_rules() -> None:
    slices = plan_slices("p", datetime(2026, 10, 1, 5, 30), datetime(2026, 10, 1, 8), timedelta(hours=1),
                         now=datetime(2026, 10, 1, 8, 30), until_is_now=False)  # fmt: skip
    assert [(s.base, s.closed) for s in slices] == [
        ("p/2026-10-01T05:30:00Z..2026-10-01T06:00:00Z", False),  # cut by --since: named by its bounds
        ("p/2026-10-01T06Z", True),
        ("p/2026-10-01T07Z", False),  # ended less than an hour ago
    ]
    known = {"a#1": "closed:part", "a#2": "closed:end", "b#2": "closed:end", "c#1": "open x:end", "d#1": "closed:end"}
    assert completed_bases(known) == {"a", "d"}  # b lacks its part 1; c may still change
