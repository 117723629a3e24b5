"""CloudTrail in CloudWatch Logs: ``logs://LOG_GROUP[?region=R]``.

A trail that delivers to CloudWatch Logs writes one CloudTrail event per log event, in streams
named ``ACCOUNT_CloudTrail_REGION`` (``_N`` when it needs more); events over 256 KB are not sent.
A CloudTrail Lake import (CloudWatch Logs ``CreateImportTask``) fills the managed group
``aws/cloudtrail/EVENT_DATA_STORE_ID`` the same way. Either group is read here.

keytrail calls FilterLogEvents over the whole group with the filter pattern
``{ $.eventSource = "kms.amazonaws.com" }`` and the window (``--since``/``--until``, default the
last 90 days) as the log events' time range, page by page. AWS allows 5 FilterLogEvents requests
a second per account and Region and does not raise it: keytrail keeps to that, and retries
throttling with backoff (botocore's adaptive retries, then its own). Every event that comes back
is checked again -- it must be a JSON object whose ``eventSource`` is KMS -- so what is read does
not depend on the server applying the pattern (the emulator the tests use ignores it).

Why not Logs Insights: a query returns at most 10,000 rows, so a window with more KMS calls must be
cut into parts until each part fits, every part is a query to start and poll (at most 30 run at
once per account), and each is billed by the gigabytes it scans; FilterLogEvents pages (up to
10,000 events or 1 MB each) reach every event with one request a page and no per-GB charge. Logs
Insights would be faster only where KMS calls are a sliver of a very large group, since it scans
in parallel on the server; keytrail does not use it.

Incremental: the window is cut into UTC hours. Each hour's events are stored per log stream
(``logs://ACCOUNT/REGION/GROUP/2026-10-01T05Z/STREAM#1``), then one empty batch says the hour was
read for every stream (``logs://ACCOUNT/REGION/GROUP/2026-10-01T05Z#1``, versioned ``closed:end``
once the hour ended more than an hour ago). A later run asks only for the hours it does not have;
a killed run asks again for the hours it had not finished. While a CloudTrail Lake import into
the group is in progress, no hour is closed: the import may still add events to any of them.
"""

from __future__ import annotations

import bisect
import logging
import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, quote

import orjson

from keytrail.errors import REGION, SINCE, RegionDenied, SourceError, UsageError, said
from keytrail.i18n import N_, _
from keytrail.sources import RecordBatch
from keytrail.sources.aws import (
    REGION_NAME,
    AwsConfig,
    RateLimiter,
    botocore_errors,
    caller_account,
    describe_error,
    error_code,
    is_access_denied,
    time_window,
    translate,
)
from keytrail.sources.registry import SourceOptions
from keytrail.sources.retry import RETRIES, describe_failure, is_retryable
from keytrail.sources.slices import TimeSlice, completed_bases, contiguous, plan_slices
from keytrail.times import iso, utcnow

log = logging.getLogger(__name__)

FILTER_PATTERN = '{ $.eventSource = "kms.amazonaws.com" }'
KMS_SOURCE = "kms.amazonaws.com"
DEFAULT_RATE = 5.0  # FilterLogEvents requests per second per account and Region (AWS's fixed limit)
DEFAULT_WINDOW = timedelta(days=90)
SLICE = timedelta(hours=1)
PART_SIZE = 5000  # records per ledger batch at most (bounded memory)
PROGRESS_SECONDS = 5.0
SHAPE = "cloudwatch-logs"
_EPOCH = datetime(1970, 1, 1)
_GROUP = re.compile(r"^[.\-_/#A-Za-z0-9]{1,512}$")  # CloudWatch Logs' log group names
_IMPORT_GROUP = re.compile(r"^/?aws/cloudtrail/[A-Za-z0-9-]+$")  # where CreateImportTask puts a Lake import


def recheck(message: object) -> object | None:
    """The record a log event holds if it is a KMS call -- what the filter pattern selects -- else None.

    A message that is not JSON cannot match a JSON filter pattern; one that names KMS and still does
    not parse here is handed on as it is, so that it is counted and named as a rejected record."""
    if not isinstance(message, str):
        return None
    try:
        record = orjson.loads(message)
    except orjson.JSONDecodeError:
        return message if f'"{KMS_SOURCE}"' in message else None
    if isinstance(record, dict) and record.get("eventSource") == KMS_SOURCE:
        return record
    return None


def _millis(t: datetime) -> int:
    return (t - _EPOCH) // timedelta(milliseconds=1)


@dataclass
class StreamHours:
    """Cuts the group's time-ordered events into ledger batches: per hour, one or more parts per
    log stream, then the hour's marker (an empty batch; its version says whether it is closed).

    FilterLogEvents returns events sorted by timestamp, so an hour is finished when a later event
    arrives. An event older than the current hour (the order not kept) is stored at once in a batch
    of its own, named by its hour, stream and event id, so nothing is lost and a re-read replaces it.
    """

    slices: list[TimeSlice]  # one contiguous run of hours, oldest first
    part_size: int
    stamp: str  # the fetch time, for open hours' versions
    _index: int = 0
    _buckets: dict[str, list[object]] = field(default_factory=dict)
    _parts: dict[str, int] = field(default_factory=dict)

    def _version(self, s: TimeSlice) -> str:
        return "closed" if s.closed else f"open {self.stamp}"

    def add(self, t: datetime, stream: str, event_id: str, record: object) -> Iterator[RecordBatch]:
        while self._index < len(self.slices) - 1 and t >= self.slices[self._index].end:
            yield from self._close()
        current = self.slices[self._index]
        if t < current.start:
            j = max(0, bisect.bisect_right([s.start for s in self.slices], t) - 1)
            s = self.slices[j]
            yield RecordBatch(f"{s.base}/{quote(stream, safe='')}#late-{event_id}", self._version(s), [record], SHAPE)
            return
        bucket = self._buckets.setdefault(stream, [])
        bucket.append(record)
        if len(bucket) >= self.part_size:
            yield self._flush(stream)

    def _flush(self, stream: str) -> RecordBatch:
        s = self.slices[self._index]
        n = self._parts[stream] = self._parts.get(stream, 0) + 1
        return RecordBatch(f"{s.base}/{quote(stream, safe='')}#{n}", self._version(s), self._buckets.pop(stream), SHAPE)

    def _close(self) -> Iterator[RecordBatch]:
        for stream in sorted(self._buckets):
            yield self._flush(stream)
        s = self.slices[self._index]
        yield RecordBatch(f"{s.base}#1", f"{self._version(s)}:end", [], SHAPE)  # every stream's part of the hour is in
        self._index += 1
        self._parts = {}

    def finish(self) -> Iterator[RecordBatch]:
        """Close every remaining hour (hours without events get only their marker)."""
        while self._index < len(self.slices):
            yield from self._close()


@dataclass(frozen=True)
class LogsSource:
    """KMS events from one CloudWatch Logs log group in one Region."""

    group: str
    region: str | None = None  # None: the session's Region
    aws: AwsConfig = field(default_factory=AwsConfig)
    since: datetime | None = None
    until: datetime | None = None
    rate: float = DEFAULT_RATE
    page_limit: int | None = None  # events a page at most (None: the server's default, 10,000 or 1 MB)
    now: datetime | None = None  # the current time (tests)
    sleep: Any = field(default=time.sleep, repr=False, compare=False)

    @property
    def description(self) -> str:
        return f"logs://{self.group}" + (f"?region={self.region}" if self.region else "")

    def window(self, now: datetime) -> tuple[datetime, datetime, bool]:
        """[since, until) and whether until is 'now'; without since, the last 90 days (whole hours)."""
        since = self.since
        if since is None:
            since = (now - DEFAULT_WINDOW).replace(minute=0, second=0, microsecond=0)
            log.warning(N_("%s: no %s: reading the last 90 days (from %s)"), self.description, SINCE, iso(since))
        until_is_now = self.until is None or self.until >= now
        until = now if until_is_now else self.until
        assert until is not None
        return since, until, until_is_now

    def batches(self, known: dict[str, str]) -> Iterator[RecordBatch]:
        now = self.now or utcnow()
        region = self.region or self.aws.region_name()
        if not region:
            raise UsageError(*said(_("{source}: no Region: give logs://GROUP?region=R or {region}"),
                                   source=self.description, region=REGION))
        account = caller_account(self.aws)
        since, until, until_is_now = self.window(now)
        prefix = f"logs://{account}/{region}/{quote(self.group, safe='')}"
        client = self.aws.client("logs", region)
        limiter = RateLimiter(self.rate, sleep=self.sleep)  # one source reads one account and Region
        try:
            importing = self._import_in_progress(client, limiter, region)
            slices = plan_slices(prefix, since, until, SLICE, now, until_is_now)
            if importing:
                slices = [replace(s, closed=False) for s in slices]
            done = completed_bases(known)
            todo = [s for s in slices if s.base not in done]
            if not todo:
                log.info(N_("%s: every hour from %s to %s is already in the store"), self.description, iso(since), iso(until))
                return
            for run in contiguous(todo):
                hours = StreamHours(run, PART_SIZE, iso(now))
                for stream, t, event_id, record in self._events(client, limiter, run[0].start, run[-1].end, region):
                    yield from hours.add(t, stream, event_id, record)
                yield from hours.finish()
        except RegionDenied as e:
            # this group may not be read: named, the other sources are read
            yield RecordBatch(prefix, "", [], error=_("not read: {reason}").format(reason=e))

    def _import_in_progress(self, client: Any, limiter: RateLimiter, region: str) -> bool:
        """Whether a CloudTrail Lake import into this group is still running (CloudWatch Logs
        DescribeImportTasks; asked only for a group named like an import's)."""
        if not _IMPORT_GROUP.match(self.group):
            return False
        kwargs: dict[str, Any] = {"importStatus": "IN_PROGRESS"}
        want = self.group.lstrip("/")
        while True:
            try:
                page = self._call(client, limiter, "describe_import_tasks", kwargs, region)
            except (RegionDenied, SourceError) as e:
                log.info(N_("%s: could not check for a running import (%s): hours are closed as usual"), self.description, e)
                return False
            for task in page.get("imports") or []:
                destination = str(task.get("importDestinationArn") or "")
                name = destination.split(":log-group:", 1)[-1].removesuffix(":*").lstrip("/")
                if name == want:
                    log.warning(
                        N_("%s: import %s from %s is still running: the hours read now will be read again by the next run"),
                        self.description, task.get("importId"), task.get("importSourceArn"),
                    )  # fmt: skip
                    return True
            token = page.get("nextToken")
            if not token:
                return False
            kwargs["nextToken"] = token

    def _events(
        self, client: Any, limiter: RateLimiter, start: datetime, end: datetime, region: str
    ) -> Iterator[tuple[str, datetime, str, object]]:
        """(log stream, timestamp, event id, record) of every KMS event of [start, end), page by page."""
        kwargs: dict[str, Any] = {
            "logGroupName": self.group,
            "startTime": _millis(start),
            "endTime": _millis(end) - 1,  # inclusive
            "filterPattern": FILTER_PATTERN,
            "interleaved": True,  # what AWS always does (the flag is ignored there); the emulator needs it
        }
        if self.page_limit:
            kwargs["limit"] = self.page_limit
        pages = events = kept = 0
        last_report = time.monotonic()
        while True:
            page = self._call(client, limiter, "filter_log_events", kwargs, region)
            pages += 1
            for ev in page.get("events") or []:
                events += 1
                record = recheck(ev.get("message"))
                if record is None:
                    continue
                kept += 1
                ts = ev.get("timestamp")
                t = _EPOCH + timedelta(milliseconds=ts) if isinstance(ts, int) else start
                yield str(ev.get("logStreamName") or ""), t, str(ev.get("eventId") or ""), record
            if time.monotonic() - last_report >= PROGRESS_SECONDS:
                last_report = time.monotonic()
                log.info(N_("%s: %d page(s), %d KMS event(s) so far (from %s to %s)"), self.description, pages, kept,
                         iso(start), iso(end))  # fmt: skip
            token = page.get("nextToken")
            if not token:
                break
            kwargs["nextToken"] = token
        log.info(N_("%s: %d KMS event(s) in %d page(s) from %s to %s"), self.description, kept, pages, iso(start), iso(end))
        if events > kept:
            log.info(N_("%s: %d event(s) that are not KMS calls left out (the server did not apply the filter pattern)"),
                     self.description, events - kept)  # fmt: skip

    def _call(self, client: Any, limiter: RateLimiter, method: str, kwargs: Mapping[str, Any], region: str) -> dict[str, Any]:
        """One paced CloudWatch Logs call; throttling, 5xx answers and broken connections retried
        under the retry policy (``sources.retry``), refusal raised as RegionDenied."""
        what = f"{self.description}: logs:{''.join(w.title() for w in method.split('_'))}"
        delays = self.aws.retry.delays()
        while True:
            limiter.wait()
            try:
                return getattr(client, method)(**kwargs)  # type: ignore[no-any-return]
            except botocore_errors() as e:
                if is_access_denied(e):
                    raise RegionDenied(region, describe_error(e)) from e
                if error_code(e) == "ResourceNotFoundException":
                    raise SourceError(_("{what}: no such log group in {region} ({reason})").format(
                        what=what, region=region, reason=describe_error(e))) from e
                if not is_retryable(e):
                    raise translate(e, what) from e
                delay = next(delays, None)
                if delay is None:
                    raise SourceError(_("{what}: still failing ({reason}) after {n} attempts; run again later (hours "
                                        "already read are kept)").format(
                        what=what, reason=describe_failure(e), n=self.aws.retry.attempts)) from e
                RETRIES.add(what, describe_failure(e))
                log.info(N_("%s: %s; retrying in %.1f s"), what, describe_failure(e), delay)
                self.sleep(delay)


def open_logs(spec: str, options: SourceOptions) -> LogsSource:
    """The opener registered for ``logs://``."""
    rest = spec.split("://", 1)[1]
    group, _q, query = rest.partition("?")
    params = dict(parse_qsl(query, keep_blank_values=True))
    unknown = set(params) - {"region"}
    if unknown:
        raise UsageError(_("{spec}: unknown parameter(s) {names} ({known})").format(
            spec=spec, names=", ".join(sorted(unknown)), known="region"))
    if not _GROUP.match(group):
        raise UsageError(_("{spec}: {group!r} is not a log group name (1 to 512 letters, digits and _ - / . #)").format(
            spec=spec, group=group))
    region = params.get("region") or options.region
    if region is not None and not REGION_NAME.match(region):
        raise UsageError(_("{spec}: {region!r} is not a Region name (e.g. us-east-1)").format(spec=spec, region=region))
    since, until = time_window(options.since, options.until)
    return LogsSource(group=group, region=region, aws=AwsConfig(options.profile, options.region), since=since, until=until)
