"""CloudTrail Event history (LookupEvents): ``lookup://[REGION]``.

Event history holds only the **last 90 days** of **management events** of one account, per
Region: KMS cryptographic calls are management events, so they are there; data events and
anything older are not. keytrail says so on stderr whenever this source is used.

One lookup attribute per call: ``ResourceName`` = the key ARN for each ``--key``, else
``EventSource`` = ``kms.amazonaws.com``. Pages of 50 events, newest first, at most 2 requests a
second per account and Region (AWS's limit); ``ThrottlingException``, 5xx answers and broken
connections are retried with backoff by botocore's adaptive retries, then by keytrail's retry
policy (``sources.retry``), so no page is lost.

Idempotent and resumable: the window is cut into UTC hours; each hour is one or more ledger
batches (``lookup://ACCOUNT/REGION/ATTRIBUTE=VALUE/2026-10-01T05Z#1``). An hour that ended more
than an hour ago is *closed*: once all its parts are in the store, later runs do not ask for it
again, so a daily run fetches only the new hours, and a run that was killed fetches only the
hours it had not finished.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from keytrail.errors import (
    LOOKUP_KEY,
    REGION,
    REGIONS,
    REGIONS_LIST,
    SINCE,
    RegionDenied,
    SourceError,
    UsageError,
    said,
)
from keytrail.i18n import N_, _
from keytrail.sources import RecordBatch
from keytrail.sources.aws import (
    REGION_NAME,
    AwsConfig,
    RateLimiter,
    botocore_errors,
    caller_account,
    check_scope,
    describe_error,
    enabled_regions,
    is_access_denied,
    time_window,
    translate,
)
from keytrail.sources.registry import SourceOptions
from keytrail.sources.retry import RETRIES, describe_failure, is_retryable
from keytrail.sources.slices import SliceCollector, completed_bases, contiguous, plan_slices
from keytrail.times import iso, naive_utc, utcnow

log = logging.getLogger(__name__)

DEFAULT_RATE = 2.0  # LookupEvents requests per second per account and Region (AWS's limit)
PAGE_SIZE = 50
PART_SIZE = 5000  # records per ledger batch at most (bounded memory)
HISTORY = timedelta(days=90)
SLICE = timedelta(hours=1)
PROGRESS_SECONDS = 5.0
NOTICE = N_(
    "Event history (lookup://) holds only the last 90 days of management events: data events and "
    "older calls are not in it (read the trail's S3 bucket or Athena table for those)"
)
_KEY_ARN = re.compile(r"^arn:aws[a-z-]*:kms:([a-z0-9-]+):(\d{12}):key/[A-Za-z0-9-]+$")


@dataclass(frozen=True)
class Lookup:
    """One LookupEvents query: a Region and the one lookup attribute."""

    region: str
    attribute: str  # EventSource | ResourceName
    value: str


@dataclass(frozen=True)
class LookupSource:
    """KMS events from Event history, per Region (and per key with ``--key``)."""

    regions: tuple[str, ...]  # () = the session's Region; ("all",) = every enabled Region
    aws: AwsConfig = field(default_factory=AwsConfig)
    keys: tuple[str, ...] = ()  # key ARNs
    since: datetime | None = None
    until: datetime | None = None
    rate: float = DEFAULT_RATE
    now: datetime | None = None  # the current time (tests)
    sleep: Any = field(default=time.sleep, repr=False, compare=False)

    @property
    def description(self) -> str:
        where = ",".join(self.regions) if self.regions else "default Region"
        return f"lookup://{where}" + (f" (keys: {', '.join(self.keys)})" if self.keys else "")

    def lookups(self) -> list[Lookup]:
        if self.keys:
            out = []
            for arn in self.keys:
                m = _KEY_ARN.match(arn)
                assert m is not None  # checked by open_lookup
                region = m[1]
                if self.regions and self.regions != ("all",) and region not in self.regions:
                    log.warning(N_("lookup://: %s %s is in %s, not in %s: not looked up"), LOOKUP_KEY, arn, region,
                                ",".join(self.regions))
                    continue
                out.append(Lookup(region, "ResourceName", arn))
            return out
        regions: list[str]
        if self.regions == ("all",):
            regions = enabled_regions(self.aws)
        elif self.regions:
            regions = list(self.regions)
        else:
            default = self.aws.region_name()
            if not default:
                raise UsageError(*said(_("lookup://: no Region: give lookup://REGION, {regions} or {region}"),
                                       regions=REGIONS_LIST, region=REGION))
            regions = [default]
        return [Lookup(r, "EventSource", "kms.amazonaws.com") for r in regions]

    def window(self, now: datetime) -> tuple[datetime, datetime, bool]:
        """[since, until) clipped to what Event history holds; whether until is 'now'."""
        oldest = (now - HISTORY).replace(minute=0, second=0, microsecond=0)  # a whole first hour
        since = self.since or oldest
        if since < oldest:
            log.warning(
                N_("lookup://: %s %s is more than 90 days ago: Event history starts at %s"), SINCE, iso(since), iso(oldest)
            )
            since = oldest
        until_is_now = self.until is None or self.until >= now
        until = now if until_is_now else self.until
        assert until is not None
        return since, until, until_is_now

    def batches(self, known: dict[str, str]) -> Iterator[RecordBatch]:
        log.warning(NOTICE)
        now = self.now or utcnow()
        account = caller_account(self.aws)
        lookups = self.lookups()
        since, until, until_is_now = self.window(now)
        done = completed_bases(known)
        limiters: dict[str, RateLimiter] = {}  # AWS's limit is per account and Region
        for q in lookups:
            prefix = f"lookup://{account}/{q.region}/{q.attribute}={q.value}"
            slices = plan_slices(prefix, since, until, SLICE, now, until_is_now)
            todo = [s for s in slices if s.base not in done]
            if not todo:
                log.info(N_("%s: every hour from %s to %s is already in the store"), prefix, iso(since), iso(until))
                continue
            client = self.aws.client("cloudtrail", q.region)
            limiter = limiters.setdefault(q.region, RateLimiter(self.rate, sleep=self.sleep))
            try:
                for run in contiguous(todo):
                    start, end = run[0].start, run[-1].end
                    collector = SliceCollector(list(reversed(run)), descending=True, part_size=PART_SIZE,
                                               stamp=iso(now), shape="lookup-events")
                    for t, record in self._events(client, limiter, q, start, end, prefix):
                        if start <= t < end:
                            yield from collector.add(t, record)
                    yield from collector.finish()
            except RegionDenied as e:
                # one Region refused (an SCP, a Region not enabled): named, the others are read
                yield RecordBatch(prefix, "", [], error=_("not read: {reason}").format(reason=e))

    def _events(
        self, client: Any, limiter: RateLimiter, q: Lookup, start: datetime, end: datetime, what: str
    ) -> Iterator[tuple[datetime, object]]:
        """(event time, parsed record) of every event of the query, page by page."""
        kwargs: dict[str, Any] = {
            "LookupAttributes": [{"AttributeKey": q.attribute, "AttributeValue": q.value}],
            "StartTime": start.replace(tzinfo=UTC),
            "EndTime": end.replace(tzinfo=UTC),
            "MaxResults": PAGE_SIZE,
        }
        pages = events = 0
        last_report = time.monotonic()
        while True:
            page = self._page(client, limiter, kwargs, what, q.region)
            pages += 1
            for ev in page.get("Events", []) or []:
                events += 1
                t = ev.get("EventTime")
                raw = ev.get("CloudTrailEvent")
                record: object = raw
                if isinstance(raw, str):
                    try:
                        record = orjson.loads(raw)
                    except orjson.JSONDecodeError:
                        record = raw  # counted as a rejected record by the pipeline
                yield (naive_utc(t) if isinstance(t, datetime) else start), record
            if time.monotonic() - last_report >= PROGRESS_SECONDS:
                last_report = time.monotonic()
                log.info(N_("%s: %d page(s), %d event(s) so far (from %s back to %s)"), what, pages, events, iso(end), iso(start))
            token = page.get("NextToken")
            if not token:
                break
            kwargs["NextToken"] = token
        log.info(N_("%s: %d event(s) in %d page(s) from %s to %s"), what, events, pages, iso(start), iso(end))

    def _page(self, client: Any, limiter: RateLimiter, kwargs: Mapping[str, Any], what: str, region: str) -> dict[str, Any]:
        delays = self.aws.retry.delays()
        while True:
            limiter.wait()
            try:
                return client.lookup_events(**kwargs)  # type: ignore[no-any-return]
            except botocore_errors() as e:
                if is_access_denied(e):
                    raise RegionDenied(region, describe_error(e)) from e
                if not is_retryable(e):
                    raise translate(e, f"{what}: cloudtrail:LookupEvents") from e
                delay = next(delays, None)
                if delay is None:
                    raise SourceError(_(
                        "{what}: {operation} still failing ({reason}) after {n} attempts; run again later (hours "
                        "already read are kept)").format(what=what, operation="cloudtrail:LookupEvents",
                                                         reason=describe_failure(e), n=self.aws.retry.attempts)) from e
                RETRIES.add(f"cloudtrail:LookupEvents {what}", describe_failure(e))
                log.info(N_("%s: %s; retrying in %.1f s"), what, describe_failure(e), delay)
                self.sleep(delay)


def open_lookup(spec: str, options: SourceOptions) -> LookupSource:
    """The opener registered for ``lookup://``."""

    rest = spec.split("://", 1)[1].strip("/")
    if rest:
        if not REGION_NAME.match(rest):
            raise UsageError(*said(_("{spec}: not a Region (lookup://us-east-1, or lookup:// with {regions})"),
                                   spec=spec, regions=REGIONS))
        regions: tuple[str, ...] = (rest,)
    elif any(r.lower() == "all" for r in options.regions):
        regions = ("all",)
    else:
        check_scope(regions=options.regions)
        regions = tuple(options.regions)
    for key in options.keys:
        if not _KEY_ARN.match(key):
            raise UsageError(*said(
                _("{option} {key!r}: lookup:// finds a key's events by its key ARN ({form}); aliases and bare ids are "
                  "resolved later, from the records"), option=LOOKUP_KEY, key=key, form="arn:aws:kms:REGION:ACCOUNT:key/ID"))
    since, until = time_window(options.since, options.until)
    rate = DEFAULT_RATE
    if "lookup_rate" in options.extra:
        try:
            rate = float(options.extra["lookup_rate"])
        except ValueError as e:
            raise UsageError(_("{name}: {value!r} is not a number").format(
                name="lookup_rate", value=options.extra["lookup_rate"])) from e
    return LookupSource(
        regions=regions,
        aws=AwsConfig(options.profile, options.region),
        keys=tuple(options.keys),
        since=since,
        until=until,
        rate=rate,
    )
