"""KMS calls from a CloudTrail Lake event data store: ``lake://EVENT_DATA_STORE[?region=R]``.

CloudTrail Lake is closed to new customers since 2026-05-31; existing customers still query it.
keytrail runs one query (the text ships with keytrail: ``sources/lake_query.sql``) for the KMS
calls of the window: StartQuery, DescribeQuery until it has finished, then GetQueryResults page by
page (1,000 rows a page). Lake bills a query by the bytes it scans; keytrail says how many on
stderr. Each result row is turned back into a CloudTrail record and read by the same normaliser
as log files.

Lake keeps ``requestParameters`` as a map of strings: the query takes the keys the normaliser
reads; a nested value (the encryption context) comes back as text and is parsed again, as JSON or
as the ``{key=value, ...}`` form a map takes when printed. Unlike Athena's CloudTrail table, Lake's
``userIdentity`` has ``identityProvider``, so SAML and web-identity callers are named.

Idempotent: the window is cut into UTC days; each day is one or more ledger batches
(``lake://EVENT_DATA_STORE_ID/2026-10-01#1``). A day that ended more than an hour ago is closed: a
later run skips it and queries only the span of days it still needs. Without ``--since`` the
window is the last 90 days.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from importlib import resources
from typing import Any
from urllib.parse import parse_qsl

import orjson

from keytrail.errors import SINCE, SourceError, UsageError
from keytrail.i18n import N_, _
from keytrail.sources import RecordBatch
from keytrail.sources.aws import REGION_NAME, AwsConfig, botocore_errors, time_window, translate
from keytrail.sources.registry import SourceOptions
from keytrail.sources.slices import SliceCollector, completed_bases, plan_slices
from keytrail.times import iso, utcnow

log = logging.getLogger(__name__)

QUERY_FILE = "lake_query.sql"
DEFAULT_WINDOW = timedelta(days=90)
SLICE = timedelta(days=1)
PART_SIZE = 5000
PAGE_SIZE = 1000  # GetQueryResults' MaxQueryResults maximum
POLL_MAX = 5.0
PROGRESS_SECONDS = 5.0
SHAPE = "cloudtrail-lake"
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{2,127}$")
_ARN = re.compile(r"^arn:aws[a-z-]*:cloudtrail:([a-z0-9-]+):(\d{12}):eventdatastore/([A-Za-z0-9-]+)$")
_PAIR = re.compile(r"(?:^|, )([^=,\s][^=,]*)=")

_SCALARS = (
    ("eventid", "eventID"), ("eventtime", "eventTime"), ("eventsource", "eventSource"), ("eventname", "eventName"),
    ("awsregion", "awsRegion"), ("recipientaccountid", "recipientAccountId"), ("sharedeventid", "sharedEventID"),
    ("errorcode", "errorCode"), ("errormessage", "errorMessage"), ("sourceipaddress", "sourceIPAddress"),
    ("useragent", "userAgent"), ("vpcendpointid", "vpcEndpointId"),
)  # fmt: skip
_PARAMS = (
    ("rp_keyid", "keyId"), ("rp_sourcekeyid", "sourceKeyId"), ("rp_destinationkeyid", "destinationKeyId"),
    ("rp_targetkeyid", "targetKeyId"), ("rp_aliasname", "aliasName"),
)  # fmt: skip
_IDENTITY = (
    ("ui_type", "type"), ("ui_principalid", "principalId"), ("ui_arn", "arn"), ("ui_accountid", "accountId"),
    ("ui_invokedby", "invokedBy"), ("ui_accesskeyid", "accessKeyId"), ("ui_username", "userName"),
    ("ui_identityprovider", "identityProvider"),
)  # fmt: skip
_ISSUER = (
    ("ui_issuer_type", "type"), ("ui_issuer_principalid", "principalId"), ("ui_issuer_arn", "arn"),
    ("ui_issuer_accountid", "accountId"), ("ui_issuer_username", "userName"),
)  # fmt: skip


def query_template() -> str:
    """The shipped query text, comments included."""
    return resources.files("keytrail.sources").joinpath(QUERY_FILE).read_text(encoding="utf-8")


def _literal(t: datetime) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%S")


def build_query(event_data_store: str, since: datetime, until: datetime) -> str:
    """The query text (comments removed) for the KMS calls of [since, until)."""
    if not _ID.match(event_data_store):
        raise UsageError(_("{value!r} is not an event data store id").format(value=event_data_store))
    lines = []
    for line in query_template().splitlines():
        if line.lstrip().startswith("--"):
            continue
        line = line.replace("__EVENT_DATA_STORE__", event_data_store)
        lines.append(line.replace("__SINCE__", _literal(since)).replace("__UNTIL__", _literal(until)))
    return "\n".join(lines).strip() + "\n"


def _set(out: dict[str, Any], key: str, value: str | None) -> None:
    if value is not None and value != "":
        out[key] = value


def parse_context(text: str) -> dict[str, str] | None:
    """An encryption context as Lake returns it: JSON, or a printed map ``{k=v, k2=v2}``."""
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        value = None
    if isinstance(value, dict):
        return value
    if not (text.startswith("{") and text.endswith("}")):
        return None
    body = text[1:-1]
    pairs = list(_PAIR.finditer(body))
    out = {}
    for i, m in enumerate(pairs):
        end = pairs[i + 1].start() if i + 1 < len(pairs) else len(body)
        out[m[1]] = body[m.end() : end]
    return out or None


def event_time(value: str | None) -> str | None:
    """Lake's timestamp text ('2026-10-01 05:12:33.000') as CloudTrail writes eventTime."""
    if not value:
        return None
    try:
        return datetime.strptime(value.replace("T", " ")[:19], "%Y-%m-%d %H:%M:%S").strftime("%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        return value  # the normaliser names it


def row_to_record(row: Mapping[str, str | None]) -> dict[str, Any]:
    """One result row back into a CloudTrail record (the fields the normaliser reads)."""
    rec: dict[str, Any] = {}
    for column, name in _SCALARS:
        _set(rec, name, row.get(column))
    if "eventTime" in rec:
        rec["eventTime"] = event_time(rec["eventTime"])
    params: dict[str, Any] = {}
    for column, name in _PARAMS:
        _set(params, name, row.get(column))
    context = row.get("rp_encryptioncontext")
    if context:
        params["encryptionContext"] = parse_context(context) or context  # not a map: read as absent
    if params:
        rec["requestParameters"] = params
    ui: dict[str, Any] = {}
    for column, name in _IDENTITY:
        _set(ui, name, row.get(column))
    obo: dict[str, Any] = {}
    _set(obo, "userId", row.get("ui_onbehalfof_userid"))
    _set(obo, "identityStoreArn", row.get("ui_onbehalfof_identitystorearn"))
    if obo:
        ui["onBehalfOf"] = obo
    issuer: dict[str, Any] = {}
    for column, name in _ISSUER:
        _set(issuer, name, row.get(column))
    if issuer:
        ui["sessionContext"] = {"sessionIssuer": issuer}
    if ui:
        rec["userIdentity"] = ui
    arns = row.get("resource_arns")
    if arns:
        rec["resources"] = [{"ARN": a} for a in arns.split(" ") if a]
    return rec


def _slice_time(value: str | None) -> datetime | None:
    text = event_time(value)
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ") if text else None
    except ValueError:
        return None


def _size(n: object) -> str:
    if not isinstance(n, int | float):
        return _("an unknown number of bytes")
    return _("{megabytes} MB ({bytes} bytes)").format(megabytes=f"{n / 1e6:,.1f}", bytes=f"{int(n):,}")


@dataclass(frozen=True)
class LakeSource:
    """KMS events of a time window from one CloudTrail Lake event data store."""

    event_data_store: str  # the id (the last part of its ARN)
    region: str | None = None
    aws: AwsConfig = field(default_factory=AwsConfig)
    since: datetime | None = None
    until: datetime | None = None
    now: datetime | None = None
    sleep: Any = field(default=time.sleep, repr=False, compare=False)

    @property
    def description(self) -> str:
        return f"lake://{self.event_data_store}"

    def batches(self, known: dict[str, str]) -> Iterator[RecordBatch]:
        now = self.now or utcnow()
        since = self.since
        if since is None:
            since = (now - DEFAULT_WINDOW).replace(hour=0, minute=0, second=0, microsecond=0)  # whole days
            log.warning(N_("%s: no %s: reading the last 90 days (from %s)"), self.description, SINCE, iso(since))
        until_is_now = self.until is None or self.until >= now
        until = now if until_is_now else self.until
        assert until is not None
        slices = plan_slices(self.description, since, until, SLICE, now, until_is_now)
        done = completed_bases(known)
        todo = [s for s in slices if s.base not in done]
        if not todo:
            log.info(N_("%s: every day from %s to %s is already in the store"), self.description, iso(since), iso(until))
            return
        covered = [s for s in slices if todo[0].start <= s.start and s.end <= todo[-1].end]
        skip = frozenset(s.base for s in covered if s.base in done)
        client = self.aws.client("cloudtrail", self.region)
        query_id = self._run(client, build_query(self.event_data_store, todo[0].start, todo[-1].end))
        collector = SliceCollector(covered, descending=False, part_size=PART_SIZE, stamp=iso(now), skip=skip, shape=SHAPE)
        for row in self._rows(client, query_id):
            yield from collector.add(_slice_time(row.get("eventtime")), row_to_record(row))
        yield from collector.finish()

    def _run(self, client: Any, sql: str) -> str:
        """Start the query and wait for it; the bytes it scanned go to the log (stderr)."""
        try:
            query_id = str(self.aws.call("cloudtrail:StartQuery", client.start_query, QueryStatement=sql)["QueryId"])
        except botocore_errors() as e:
            raise translate(e, f"{self.description}: cloudtrail:StartQuery") from e
        log.info(N_("%s: query %s started"), self.description, query_id)
        delay = 0.2
        started = last_report = time.monotonic()
        try:
            while True:
                try:
                    query = self.aws.call("cloudtrail:DescribeQuery", client.describe_query, QueryId=query_id)
                except botocore_errors() as e:
                    raise translate(e, f"{self.description}: cloudtrail:DescribeQuery") from e
                state = query.get("QueryStatus")
                if state == "FINISHED":
                    stats = query.get("QueryStatistics") or {}
                    log.info(
                        N_("%s: query %s finished: %s scanned, %s event(s) scanned, %s matched, in %.1f s"),
                        self.description, query_id, _size(stats.get("BytesScanned")), stats.get("EventsScanned", "?"),
                        stats.get("EventsMatched", "?"), (stats.get("ExecutionTimeInMillis") or 0) / 1000,
                    )  # fmt: skip
                    return query_id
                if state in ("FAILED", "CANCELLED", "TIMED_OUT"):
                    reason = query.get("ErrorMessage") or state
                    raise SourceError(_("{source}: query {id} {state}: {reason}").format(
                        source=self.description, id=query_id, state=str(state).lower(), reason=reason))
                if time.monotonic() - last_report >= PROGRESS_SECONDS:
                    last_report = time.monotonic()
                    log.info(N_("%s: query %s %s for %.0f s"), self.description, query_id, str(state).lower(),
                             last_report - started)  # fmt: skip
                self.sleep(delay)
                delay = min(POLL_MAX, delay * 1.5)
        except KeyboardInterrupt:
            try:
                client.cancel_query(QueryId=query_id)
            finally:
                raise

    def _rows(self, client: Any, query_id: str) -> Iterator[dict[str, str | None]]:
        """Result rows as {column: text}; each row of GetQueryResults is a list of one-entry maps."""
        token: str | None = None
        rows = 0
        last_report = time.monotonic()
        while True:
            kwargs: dict[str, Any] = {"QueryId": query_id, "MaxQueryResults": PAGE_SIZE}
            if token:
                kwargs["NextToken"] = token
            try:
                page = self.aws.call("cloudtrail:GetQueryResults", client.get_query_results, **kwargs)
            except botocore_errors() as e:
                raise translate(e, f"{self.description}: cloudtrail:GetQueryResults") from e
            for entries in page.get("QueryResultRows") or []:
                row: dict[str, str | None] = {}
                for entry in entries or []:
                    for column, value in (entry or {}).items():
                        row[str(column).lower()] = None if value is None else str(value)
                rows += 1
                yield row
            if time.monotonic() - last_report >= PROGRESS_SECONDS:
                last_report = time.monotonic()
                log.info(N_("%s: %d row(s) of query %s read so far"), self.description, rows, query_id)
            token = page.get("NextToken")
            if not token:
                log.info(N_("%s: %d KMS call(s) read from query %s"), self.description, rows, query_id)
                return


def open_lake(spec: str, options: SourceOptions) -> LakeSource:
    """The opener registered for ``lake://``: an event data store's id or ARN."""
    rest = spec.split("://", 1)[1]
    target, _q, query = rest.partition("?")
    params = dict(parse_qsl(query, keep_blank_values=True))
    unknown = set(params) - {"region"}
    if unknown:
        raise UsageError(_("{spec}: unknown parameter(s) {names} ({known})").format(
            spec=spec, names=", ".join(sorted(unknown)), known="region"))
    region = params.get("region") or options.region
    arn = _ARN.match(target)
    if arn:
        region, store = params.get("region") or arn[1], arn[3]
    elif _ID.match(target):
        store = target
    else:
        raise UsageError(_("{spec}: expected {forms}").format(
            spec=spec, forms="lake://EVENT_DATA_STORE_ID or lake://arn:aws:cloudtrail:REGION:ACCOUNT:eventdatastore/ID"))
    if region is not None and not REGION_NAME.match(region):
        raise UsageError(_("{spec}: {region!r} is not a Region name (e.g. us-east-1)").format(spec=spec, region=region))
    since, until = time_window(options.since, options.until)
    return LakeSource(event_data_store=store, region=region, aws=AwsConfig(options.profile, options.region),
                      since=since, until=until)  # fmt: skip
