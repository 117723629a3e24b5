"""logs:// (CloudTrail in CloudWatch Logs) against the local emulator: an organisation archive loaded
as a trail delivers it (one stream per account and Region, one log event per record), read back
equal to truth; paging, pacing, throttling, incremental re-runs, refusals, the Lake import's group.

Emulator behaviour relied on (see tests/aws_lake.py): moto's FilterLogEvents ignores the JSON filter
pattern and returns every event, so the tests load non-KMS events beside the KMS ones and check
that keytrail leaves them out itself; PutLogEvents refuses events older than 14 days, so archives
are moved into the last days by a whole number of seconds.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from keytrail.cli.main import cli
from keytrail.errors import SourceError, UsageError
from keytrail.pipeline import ingest
from keytrail.sources import logs as logs_module
from keytrail.sources.aws import AwsConfig
from keytrail.sources.logs import FILTER_PATTERN, LogsSource, StreamHours, open_logs, recheck
from keytrail.sources.registry import SourceOptions
from keytrail.sources.retry import RetryPolicy
from keytrail.sources.slices import plan_slices
from keytrail.store import Store
from keytrail.times import utcnow
from tests.aws_lake import IMPORTS
from tests.aws_server import DEFAULT_ACCOUNT, EmulatorServer, client
from tests.factory.archive import NO_KEY, load_truth, write_archive
from tests.factory.truth import assert_matches_truth

GROUP = "CloudTrail/KeytrailOrg"
IMPORT_GROUP = "aws/cloudtrail/1f0e3c52-6b9e-4a67-9d8e-2f4a1c5e7b90"
_EPOCH = datetime(1970, 1, 1)


def shifted_streams(archive: Path, newest: datetime) -> tuple[dict[str, list[tuple[int, str]]], int]:
    """The archive as a trail delivers it to CloudWatch Logs: per stream ACCOUNT_CloudTrail_REGION,
    one log event per record (re-deliveries too), every time moved by one whole number of seconds
    so that the newest record is at ``newest``. Returns the streams and the shift in seconds."""
    found: list[tuple[str, dict[str, Any]]] = []
    for path in sorted((archive / "AWSLogs").rglob("*.json*")):
        if "/CloudTrail/" not in str(path):
            continue
        parts = path.relative_to(archive / "AWSLogs").parts
        account, region = (parts[1], parts[3]) if parts[0].startswith("o-") else (parts[0], parts[2])
        data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        found += [(f"{account}_CloudTrail_{region}", r) for r in json.loads(data)["Records"]]
    times = [datetime.strptime(r["eventTime"], "%Y-%m-%dT%H:%M:%SZ") for _, r in found]
    shift = int((newest - max(times)).total_seconds())
    streams: dict[str, list[tuple[int, str]]] = {}
    for (stream, record), t in zip(found, times, strict=True):
        moved = t + timedelta(seconds=shift)
        record["eventTime"] = moved.strftime("%Y-%m-%dT%H:%M:%SZ")
        streams.setdefault(stream, []).append(((moved - _EPOCH) // timedelta(milliseconds=1), json.dumps(record)))
    for events in streams.values():
        events.sort(key=lambda e: e[0])
    return streams, shift


def load_group(group: str, streams: dict[str, list[tuple[int, str]]], region: str = "us-east-1") -> None:
    """Create the log group and put every stream's events (in batches under 1 MB, oldest first)."""
    logs = client("logs", region=region)
    logs.create_log_group(logGroupName=group)
    for stream, events in sorted(streams.items()):
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
        batch: list[dict[str, Any]] = []
        size = 0
        for ts, message in events + [(0, "")]:
            if batch and (not message or size + len(message) + 26 > 1_000_000 or len(batch) == 10_000):
                answer = logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=batch)
                assert not answer.get("rejectedLogEventsInfo"), answer
                batch, size = [], 0
            if message:
                batch.append({"timestamp": ts, "message": message})
                size += len(message) + 26


def kms_count(streams: dict[str, list[tuple[int, str]]]) -> int:
    return sum(1 for events in streams.values() for _, m in events if recheck(m) is not None)


@pytest.fixture(scope="module")
def org31(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("logs31") / "trail"
    write_archive(out, events=8000, seed=31, org=True, accounts=2, regions=2)
    return out


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("logs11") / "trail"
    write_archive(out, events=1000, seed=11, org=True, accounts=2)
    return out


@pytest.fixture
def group(aws: EmulatorServer, small: Path) -> Iterator[tuple[dict[str, list[tuple[int, str]]], datetime]]:
    """The small archive in GROUP, its newest record 30 hours ago (so its hours are closed)."""
    now = utcnow().replace(microsecond=0)
    streams, _ = shifted_streams(small, now - timedelta(hours=30))
    load_group(GROUP, streams)
    yield streams, now


def source(now: datetime, **kw: Any) -> LogsSource:
    defaults: dict[str, Any] = dict(group=GROUP, region="us-east-1", since=now - timedelta(days=2), rate=100.0, now=now,
                                    aws=AwsConfig(max_attempts=3))  # fmt: skip
    defaults.update(kw)
    return LogsSource(**defaults)


def test_org_archive_in_cloudwatch_logs_equals_truth(aws: EmulatorServer, org31: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    """The acceptance: the seed-31 organisation archive delivered to CloudWatch Logs, read with
    `keytrail usage logs://GROUP --since DATE --format json`, equals truth (the shift moves every
    time alike, so truth's counts are unchanged)."""
    newest = utcnow().replace(microsecond=0) - timedelta(days=3, hours=5)
    streams, shift = shifted_streams(org31, newest)
    assert shift % 1 == 0 and sorted(streams) == sorted(
        f"{a}_CloudTrail_{r}" for a in {s.split("_")[0] for s in streams} for r in load_truth(org31)["regions"])
    load_group(GROUP, streams)
    monkeypatch.setattr(logs_module, "DEFAULT_RATE", 100.0)
    since = (newest - timedelta(hours=1)).date().isoformat()
    result = CliRunner().invoke(cli, ["usage", f"logs://{GROUP}", "--since", since, "--format", "json"])
    assert result.exit_code == 0, result.stderr
    assert_matches_truth(result.stdout, org31 / "truth.json")
    lines = result.stderr.splitlines()
    # moto returned every event: keytrail says how many it left out itself
    assert any(line.endswith("(the server did not apply the filter pattern)") for line in lines), lines
    assert any(f"logs://{GROUP}: {kms_count(streams)} KMS event(s) in 1 page(s)" in line for line in lines), lines


def test_ledger_per_group_hour_and_stream_and_reruns_ask_only_for_open_hours(aws: EmulatorServer, group: Any) -> None:
    streams, now = group
    since = (now - timedelta(days=2)).replace(minute=0, second=0)
    first_open = now.replace(minute=0, second=0) - timedelta(hours=1)  # ended less than an hour ago
    with Store() as store:
        report = ingest([source(now, since=since)], store)
        assert report.kms_records == kms_count(streams) and report.records_rejected == 0
        uris = dict(store.query("SELECT uri, version FROM files ORDER BY uri"))
        calls = len(aws.faults.calls("FilterLogEvents"))
        assert calls == 1  # one run of hours, one page
        ingest([source(now, since=since)], store)
        ingest([source(now + timedelta(hours=3), since=since)], store)
        again = [json.loads(r.body) for r in aws.faults.calls("FilterLogEvents")[calls:]]
        assert store.query("SELECT count(*) - count(DISTINCT uri) FROM files")[0][0] == 0
    prefix = f"logs://{DEFAULT_ACCOUNT}/us-east-1/CloudTrail%2FKeytrailOrg"
    markers = [u for u in uris if u.count("/") == 5]
    assert len(markers) == 49 and markers[0] == f"{prefix}/{since.strftime('%Y-%m-%dT%HZ')}#1"
    assert [uris[m] for m in markers[:47]] == ["closed:end"] * 47 and uris[markers[47]].startswith("open ")
    parts = [u for u in uris if u.count("/") == 6]
    assert {u.rsplit("/", 1)[1].split("#")[0] for u in parts} == set(streams)
    assert all(uris[u] == "closed" for u in parts)
    # each re-run asks only for the hours that were open, from the first of them on
    ms = (first_open - _EPOCH) // timedelta(milliseconds=1)
    assert [(q["startTime"], q["filterPattern"]) for q in again] == [(ms, FILTER_PATTERN)] * 2


def test_pages_are_paced_at_five_requests_a_second(aws: EmulatorServer, group: Any) -> None:
    streams, now = group
    with Store() as store:
        report = ingest([source(now, rate=logs_module.DEFAULT_RATE, page_limit=200)], store)
    assert report.kms_records == kms_count(streams)
    sent = [r.at for r in aws.faults.calls("FilterLogEvents")]  # when each request arrived
    assert len(sent) == -(-sum(len(e) for e in streams.values()) // 200)  # every event comes back from moto
    # the span, not each gap: a busy machine delays single arrivals (two may land close together),
    # but cannot make the requests as a whole arrive faster than they were sent
    assert sent[-1] - sent[0] >= 0.2 * (len(sent) - 1) - 0.1


def throttle_every(aws: EmulatorServer, n: int) -> list[int]:
    seen: list[int] = []

    def rule(r: Any) -> tuple[int, str, bytes] | None:
        if r.target.endswith("FilterLogEvents"):
            seen.append(1)
            if len(seen) % n == 0:
                return 400, "application/x-amz-json-1.1", b'{"__type": "ThrottlingException", "message": "Rate exceeded"}'
        return None

    aws.faults.rules.append(rule)
    return seen


def test_throttling_is_retried_with_backoff_and_nothing_is_lost(aws: EmulatorServer, group: Any, tmp_path: Path) -> None:
    streams, now = group
    seen = throttle_every(aws, 2)
    naps: list[float] = []
    once = AwsConfig(max_attempts=1, retry_mode="standard")
    with Store() as store:
        report = ingest([source(now, page_limit=500, sleep=naps.append, aws=once)], store)
    assert report.kms_records == kms_count(streams)
    assert report.retries == len(seen) // 2  # keytrail's own backoff, one per throttled call, counted


def test_throttled_for_good_stops_and_the_next_run_completes(aws: EmulatorServer, group: Any, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    streams, now = group
    throttle_every(aws, 1)
    db = str(tmp_path / "t.duckdb")
    once = AwsConfig(retry=RetryPolicy(max_attempts=1, mode="standard", attempts=3))
    with Store(db) as store, pytest.raises(SourceError, match=r"still failing \(ThrottlingException \(HTTP 400\)\) after 3 attempts"):
        ingest([source(now, sleep=lambda s: None, aws=once)], store)
    aws.faults.rules.clear()
    with Store(db) as store:
        assert ingest([source(now)], store).kms_records == kms_count(streams)


def test_only_kms_events_are_kept_and_a_damaged_one_is_named(aws: EmulatorServer) -> None:
    now = utcnow().replace(microsecond=0)
    t = ((now - timedelta(hours=5)) - _EPOCH) // timedelta(milliseconds=1)
    kms = {"eventSource": "kms.amazonaws.com", "eventName": "ListKeys", "eventTime": "2026-01-01T00:00:00Z",
           "userIdentity": {"type": "Root", "arn": "arn:aws:iam::111122223333:root"}}  # fmt: skip
    messages = ["plain text line", json.dumps({"eventSource": "s3.amazonaws.com"}), "[1, 2]", json.dumps(kms),
                '{"eventSource": "kms.amazonaws.com", "eventName": "Decrypt", "n": NaN']  # fmt: skip
    load_group(GROUP, {"111122223333_CloudTrail_us-east-1": [(t + i, m) for i, m in enumerate(messages)]})
    with Store() as store:
        report = ingest([source(now)], store)
    assert (report.records, report.kms_records, report.records_rejected) == (2, 1, 1)
    (problem,) = report.record_problems
    assert "111122223333_CloudTrail_us-east-1#1" in problem


def test_a_refused_group_is_named_and_the_other_is_read(aws: EmulatorServer, group: Any) -> None:
    streams, now = group
    load_group("Other", {"s": [(((now - timedelta(hours=3)) - _EPOCH) // timedelta(milliseconds=1), "x")]})
    aws.faults.deny_target("FilterLogEvents")
    denied = source(now)
    aws.faults.rules.clear()

    def deny_group(r: Any) -> tuple[int, str, bytes] | None:
        if r.target.endswith("FilterLogEvents") and json.loads(r.body)["logGroupName"] == GROUP:
            return 400, "application/x-amz-json-1.1", b'{"__type": "AccessDeniedException", "message": "not authorized"}'
        return None

    aws.faults.rules.append(deny_group)
    with Store() as store:
        report = ingest([denied, source(now, group="Other")], store)
    prefix = f"logs://{DEFAULT_ACCOUNT}/us-east-1/CloudTrail%2FKeytrailOrg"
    assert report.partial and report.errors == [f"{prefix}: not read: AccessDeniedException: not authorized"]


def test_a_missing_group_is_an_error(aws: EmulatorServer) -> None:
    now = utcnow()
    with Store() as store, pytest.raises(SourceError, match=r"logs://nope\?region=us-east-1: logs:FilterLogEvents: no such log group"):
        ingest([source(now, group="nope")], store)


def test_a_running_lake_import_keeps_every_hour_open(aws: EmulatorServer, small: Path) -> None:
    now = utcnow().replace(microsecond=0)
    streams, _ = shifted_streams(small, now - timedelta(hours=30))
    load_group(IMPORT_GROUP, streams)
    IMPORTS.append({"importId": "imp-1", "importStatus": "IN_PROGRESS",
                    "importSourceArn": "arn:aws:cloudtrail:us-east-1:123456789012:eventdatastore/1f0e3c52",
                    "importDestinationArn": f"arn:aws:logs:us-east-1:123456789012:log-group:{IMPORT_GROUP}"})  # fmt: skip
    with Store() as store:
        report = ingest([source(now, group=IMPORT_GROUP)], store)
        versions = {v for (v,) in store.query("SELECT DISTINCT version FROM files")}
        assert report.kms_records == kms_count(streams)
        assert all(v.startswith("open ") for v in versions)
        IMPORTS[0]["importStatus"] = "COMPLETED"
        ingest([source(now + timedelta(minutes=5), group=IMPORT_GROUP)], store)  # read again, now closed
        versions = {v for (v,) in store.query("SELECT DISTINCT version FROM files")}
        assert "closed:end" in versions and store.query("SELECT count(*) - count(DISTINCT uri) FROM files")[0][0] == 0
    assert len(aws.faults.calls("DescribeImportTasks")) == 2


def test_stream_hours_cut_parts_and_keep_an_event_out_of_order() -> None:
    start = datetime(2026, 10, 1)
    run = plan_slices("p", start, start + timedelta(hours=3), timedelta(hours=1), start + timedelta(days=1), False)
    hours = StreamHours(run, part_size=2, stamp="now")
    out = []
    for minute, stream in ((1, "a"), (2, "b"), (3, "a"), (4, "a"), (70, "a"), (10, "b"), (130, "b")):
        out += hours.add(start + timedelta(minutes=minute), stream, f"e{minute}", minute)
    out += hours.finish()
    assert [(b.uri, b.version, b.records) for b in out] == [
        ("p/2026-10-01T00Z/a#1", "closed", [1, 3]),  # a part is full at part_size
        ("p/2026-10-01T00Z/a#2", "closed", [4]),
        ("p/2026-10-01T00Z/b#1", "closed", [2]),
        ("p/2026-10-01T00Z#1", "closed:end", []),  # the hour is in, for every stream
        ("p/2026-10-01T00Z/b#late-e10", "closed", [10]),  # out of order: stored at once under its own hour
        ("p/2026-10-01T01Z/a#1", "closed", [70]),
        ("p/2026-10-01T01Z#1", "closed:end", []),
        ("p/2026-10-01T02Z/b#1", "closed", [130]),
        ("p/2026-10-01T02Z#1", "closed:end", []),
    ]


@pytest.mark.parametrize(
    "spec, message",
    [
        ("logs://bad group", "not a log group name"),
        ("logs://", "not a log group name"),
        ("logs://g?region=moon", "not a Region name"),
        ("logs://g?stream=x", "unknown parameter"),
    ],
)
def test_bad_logs_urls(spec: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        open_logs(spec, SourceOptions())


def test_urls_name_the_group_and_region() -> None:
    s = open_logs("logs:///aws/cloudtrail/abc?region=eu-west-1", SourceOptions(since="2026-10-01"))
    assert (s.group, s.region, s.since) == ("/aws/cloudtrail/abc", "eu-west-1", datetime(2026, 10, 1))
    assert open_logs("logs://g", SourceOptions(region="us-east-2")).region == "us-east-2"


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(), st.binary().map(lambda b: b.decode("latin-1")),
                 st.recursive(st.none() | st.booleans() | st.integers() | st.text(),
                              lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=3),
                              max_leaves=8).map(json.dumps)))  # fmt: skip
def test_recheck_keeps_exactly_the_kms_records_of_any_message(message: str) -> None:
    kept = recheck(message)
    try:
        parsed = json.loads(message)
    except ValueError:
        assert kept is None or (kept == message and '"kms.amazonaws.com"' in message)
        return
    is_kms = isinstance(parsed, dict) and parsed.get("eventSource") == "kms.amazonaws.com"
    assert (kept == parsed) if is_kms else (kept is None or kept == message)


def test_an_interrupted_run_resumes_without_loss_or_duplicates(aws: EmulatorServer, group: Any, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    streams, now = group
    from keytrail.pipeline import engine

    monkeypatch.setattr(engine, "COMMIT_ROWS", 50)  # small transactions: some hours are in before the stop
    db = str(tmp_path / "r.duckdb")

    class Stop(Exception):
        pass

    class Interrupted(LogsSource):
        def batches(self, known: dict[str, str]) -> Any:
            for n, b in enumerate(super().batches(known)):
                if n == 20:
                    raise Stop
                yield b

    with Store(db) as store, pytest.raises(Stop):
        ingest([Interrupted(**source(now).__dict__)], store)
    with Store(db) as store:
        kept = store.query("SELECT count(*) FROM files")[0][0]
        ingest([source(now)], store)
        assert 0 < kept < store.query("SELECT count(*) FROM files")[0][0]
        assert store.query("SELECT count(*) - count(DISTINCT uri) FROM files")[0][0] == 0
        (n,) = store.query("SELECT count(DISTINCT event_id) FROM raw_key_use")[0]
    kms = [json.loads(m) for e in streams.values() for _, m in e if recheck(m) is not None]
    assert n == len({r["eventID"] for r in kms if r["eventName"] not in NO_KEY})  # a call naming no key makes no row


def test_at_20_percent_faults_equals_the_fault_free_run(aws: EmulatorServer, group: Any,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    """Through tests/fault_proxy.py failing 20% of requests: the same answer, exit 0, retries counted."""
    from tests.fault_proxy import FaultPlan, faults

    streams, now = group
    monkeypatch.setattr(logs_module, "DEFAULT_RATE", 100.0)
    args = ["usage", f"logs://{GROUP}", "--since", (now - timedelta(days=2)).date().isoformat(), "--format", "json"]
    clean = CliRunner().invoke(cli, args)
    assert clean.exit_code == 0, clean.stderr
    # seed 310: the run is two requests; this seed fails FilterLogEvents twice (throttled, then 503)
    with faults(aws.url, FaultPlan(rate=0.2, seed=310), monkeypatch) as proxy:
        faulty = CliRunner().invoke(cli, [*args, "--verbose"])
    assert faulty.exit_code == 0, faulty.stderr
    assert faulty.stdout == clean.stdout
    assert sum(proxy.applied.values()) > 0 and "to AWS retried" in faulty.stderr
