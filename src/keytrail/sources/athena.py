"""KMS calls from an Athena table over CloudTrail: ``athena://DATABASE.TABLE``.

keytrail runs one query (the text ships with keytrail: ``sources/athena_query.sql``, also shown
by the README's section on Athena) that selects only KMS events of the time window,
narrowed by the table's partition columns when it has them, then turns each result row back
into a CloudTrail record and reads it with the same normaliser as log files.

The table is AWS's documented CloudTrail table: ``useridentity`` a struct, ``requestparameters``
a JSON string, ``resources`` an array of structs. Its ``useridentity`` struct has no
``identityprovider`` field, so SAML and web-identity callers cannot be named from it (they are
counted as unattributable); everything else is. Or it is Amazon Security Lake's table of
CloudTrail management events (OCSF, source version 1 or 2): then the query is Security Lake's
(``keytrail.sources.securitylake``) and the rows are read through the OCSF mapping
(``keytrail.sources.ocsf_mapping``).

Idempotent: the window is cut into UTC days; each day is one or more ledger batches
(``athena://DATABASE.TABLE/2026-10-01#1``). A day that ended more than an hour ago is closed: a
later run skips it, and queries only the span of days it still needs. Without ``--since`` the
window is the last 90 days (every query is billed by the data it scans).
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from importlib import resources
from typing import Any

import orjson

from keytrail.errors import ATHENA_OUTPUT, SINCE, WORKGROUP, SourceError, UsageError, said
from keytrail.i18n import N_, _
from keytrail.sources import RecordBatch, ocsf_mapping, securitylake
from keytrail.sources.aws import (
    AwsConfig,
    botocore_errors,
    check_scope,
    describe_error,
    time_window,
    translate,
)
from keytrail.sources.registry import SourceOptions
from keytrail.sources.slices import SliceCollector, completed_bases, plan_slices
from keytrail.times import iso, utcnow

log = logging.getLogger(__name__)

QUERY_FILE = "athena_query.sql"
DEFAULT_WINDOW = timedelta(days=90)
SLICE = timedelta(days=1)
PART_SIZE = 5000
PAGE_SIZE = 1000  # GetQueryResults maximum
POLL_MAX = 5.0
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]{0,254}$")
_S3_URL = re.compile(r"^s3://[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9](/.*)?$")

COLUMNS = (
    "eventid", "eventtime", "eventsource", "eventname", "awsregion", "recipientaccountid", "sharedeventid",
    "errorcode", "errormessage", "sourceipaddress", "useragent", "vpcendpointid", "requestparameters",
    "ui_type", "ui_principalid", "ui_arn", "ui_accountid", "ui_invokedby", "ui_accesskeyid", "ui_username",
    "ui_onbehalfof_userid", "ui_onbehalfof_identitystorearn",
    "ui_issuer_type", "ui_issuer_principalid", "ui_issuer_arn", "ui_issuer_accountid", "ui_issuer_username",
    "resource_arns",
)  # fmt: skip


def query_template() -> str:
    """The shipped query text, comments included."""
    return resources.files("keytrail.sources").joinpath(QUERY_FILE).read_text(encoding="utf-8")


@dataclass(frozen=True)
class TableShape:
    """What keytrail needs to know of the table: partition columns, optional struct fields, and
    whether it is Security Lake's (its source version, and the paths its columns hold)."""

    partitions: tuple[str, ...] = ()
    has_onbehalfof: bool = True
    has_vpcendpointid: bool = True  # tables created before CloudTrail logged VPC endpoints lack the column
    lake_version: int | None = None
    paths: frozenset[str] | None = None


def _quote_string(value: str) -> str:
    """An Athena execution parameter: a SQL string literal (values are validated, never log data)."""
    return "'" + value.replace("'", "''") + "'"


def build_query(
    table: str,
    database: str,
    since: datetime,
    until: datetime,
    shape: TableShape = TableShape(),
    regions: Sequence[str] = (),
    accounts: Sequence[str] = (),
) -> tuple[str, list[str]]:
    """The query text (comments removed) and its parameters, as plain values in order."""
    params: list[str] = [iso(since), iso(until)]
    partitions = ""
    first_day = since.date()
    last_day = (until - timedelta(microseconds=1)).date() + timedelta(days=1)  # files delivered after midnight
    parts = {p.lower() for p in shape.partitions}
    if "timestamp" in parts:
        partitions += '\n    AND "timestamp" BETWEEN ? AND ?'
        params += [first_day.strftime("%Y/%m/%d"), last_day.strftime("%Y/%m/%d")]
    elif {"year", "month", "day"} <= parts:
        partitions += "\n    AND concat(year, '/', month, '/', day) BETWEEN ? AND ?"
        params += [first_day.strftime("%Y/%m/%d"), last_day.strftime("%Y/%m/%d")]
    filters = ""
    if regions:
        column = "region" if "region" in parts else "awsregion"
        filters += f"\n    AND {column} IN ({', '.join('?' for _ in regions)})"
        params += list(regions)
    if accounts:
        filters += f"\n    AND recipientaccountid IN ({', '.join('?' for _ in accounts)})"
        params += list(accounts)
    lines = []
    for line in query_template().splitlines():
        if line.lstrip().startswith("--"):
            continue
        line = line.replace("__TABLE__", f'"{database}"."{table}"')
        line = line.replace("__PARTITIONS__", partitions).replace("__FILTERS__", filters)
        if not shape.has_onbehalfof:
            line = line.replace("useridentity.onbehalfof.userid", "CAST(NULL AS varchar)")
            line = line.replace("useridentity.onbehalfof.identitystorearn", "CAST(NULL AS varchar)")
        if not shape.has_vpcendpointid and line.strip() == "vpcendpointid,":
            line = line.replace("vpcendpointid", "CAST(NULL AS varchar) AS vpcendpointid")
        lines.append(line)
    return "\n".join(lines).strip() + "\n", params


def _set(out: dict[str, Any], key: str, value: str | None) -> None:
    if value is not None and value != "":
        out[key] = value


def row_to_record(row: Mapping[str, str | None]) -> dict[str, Any]:
    """One result row back into a CloudTrail record (the fields the normaliser reads)."""
    rec: dict[str, Any] = {}
    for column, name in (
        ("eventid", "eventID"),
        ("eventtime", "eventTime"),
        ("eventsource", "eventSource"),
        ("eventname", "eventName"),
        ("awsregion", "awsRegion"),
        ("recipientaccountid", "recipientAccountId"),
        ("sharedeventid", "sharedEventID"),
        ("errorcode", "errorCode"),
        ("errormessage", "errorMessage"),
        ("sourceipaddress", "sourceIPAddress"),
        ("useragent", "userAgent"),
        ("vpcendpointid", "vpcEndpointId"),
    ):
        _set(rec, name, row.get(column))
    params = row.get("requestparameters")
    if params:
        try:
            rec["requestParameters"] = orjson.loads(params)
        except orjson.JSONDecodeError:
            rec["requestParameters"] = params  # rejected by the normaliser, counted and named
    ui: dict[str, Any] = {}
    for column, name in (
        ("ui_type", "type"),
        ("ui_principalid", "principalId"),
        ("ui_arn", "arn"),
        ("ui_accountid", "accountId"),
        ("ui_invokedby", "invokedBy"),
        ("ui_accesskeyid", "accessKeyId"),
        ("ui_username", "userName"),
    ):
        _set(ui, name, row.get(column))
    obo: dict[str, Any] = {}
    _set(obo, "userId", row.get("ui_onbehalfof_userid"))
    _set(obo, "identityStoreArn", row.get("ui_onbehalfof_identitystorearn"))
    if obo:
        ui["onBehalfOf"] = obo
    issuer: dict[str, Any] = {}
    for column, name in (
        ("ui_issuer_type", "type"),
        ("ui_issuer_principalid", "principalId"),
        ("ui_issuer_arn", "arn"),
        ("ui_issuer_accountid", "accountId"),
        ("ui_issuer_username", "userName"),
    ):
        _set(issuer, name, row.get(column))
    if issuer:
        ui["sessionContext"] = {"sessionIssuer": issuer}
    if ui:
        rec["userIdentity"] = ui
    arns = row.get("resource_arns")
    if arns:
        rec["resources"] = [{"ARN": a} for a in arns.split(" ") if a]
    return rec


def _row_time(row: Mapping[str, str | None]) -> datetime | None:
    return _event_time(row.get("eventtime"))


def _event_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.strptime(value[:19], "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        return None


@dataclass(frozen=True)
class AthenaSource:
    """KMS events of a time window from an Athena CloudTrail table."""

    database: str
    table: str
    catalog: str = "AwsDataCatalog"
    workgroup: str | None = None
    output: str | None = None
    aws: AwsConfig = field(default_factory=AwsConfig)
    since: datetime | None = None
    until: datetime | None = None
    regions: tuple[str, ...] = ()
    accounts: tuple[str, ...] = ()
    now: datetime | None = None
    sleep: Any = field(default=time.sleep, repr=False, compare=False)

    @property
    def description(self) -> str:
        return f"athena://{self.database}.{self.table}"

    def _prefix(self) -> str:
        base = f"athena://{self.catalog}/{self.database}.{self.table}"
        narrowed = []
        if self.regions:
            narrowed.append("regions=" + ",".join(sorted(self.regions)))
        if self.accounts:
            narrowed.append("accounts=" + ",".join(sorted(self.accounts)))
        return base + ("/" + "&".join(narrowed) if narrowed else "")  # other filters: other ledger entries

    def batches(self, known: dict[str, str]) -> Iterator[RecordBatch]:
        now = self.now or utcnow()
        since = self.since
        if since is None:
            since = (now - DEFAULT_WINDOW).replace(hour=0, minute=0, second=0, microsecond=0)  # whole days
            log.warning(N_("athena://: no %s: reading the last 90 days (from %s)"), SINCE, iso(since))
        until_is_now = self.until is None or self.until >= now
        until = now if until_is_now else self.until
        assert until is not None
        prefix = self._prefix()
        slices = plan_slices(prefix, since, until, SLICE, now, until_is_now)
        done = completed_bases(known)
        todo = [s for s in slices if s.base not in done]
        if not todo:
            log.info(N_("%s: every day from %s to %s is already in the store"), self.description, iso(since), iso(until))
            return
        covered = [s for s in slices if todo[0].start <= s.start and s.end <= todo[-1].end]
        skip = frozenset(s.base for s in covered if s.base in done)
        client = self.aws.client("athena")
        shape = self._shape(client)
        start, end = todo[0].start, todo[-1].end
        to_record: Callable[[Mapping[str, str | None]], dict[str, Any]]
        if shape.lake_version is not None:
            paths = None if shape.paths is None else set(shape.paths)
            sql, params = securitylake.build_query(self.table, self.database, shape.lake_version, start, end, paths,
                                                   self.regions, self.accounts)  # fmt: skip
            columns, to_record, time_of = ocsf_mapping.COLUMNS, ocsf_mapping.record_from_row, securitylake.event_time
        else:
            sql, params = build_query(self.table, self.database, start, end, shape, self.regions, self.accounts)
            columns, to_record, time_of = COLUMNS, row_to_record, _row_time
        query_id = self._run(client, sql, params)
        collector = SliceCollector(covered, descending=False, part_size=PART_SIZE, stamp=iso(now), skip=skip, shape="athena")
        for row in self._rows(client, query_id, columns):
            yield from collector.add(time_of(row), to_record(row))
        yield from collector.finish()

    def _shape(self, client: Any) -> TableShape:
        """Partition columns, struct fields and Security Lake's version from the catalog (the
        documented table, or Security Lake's by its name, if unknown)."""
        try:
            meta = self.aws.call("athena:GetTableMetadata", client.get_table_metadata, CatalogName=self.catalog,
                                 DatabaseName=self.database, TableName=self.table)
        except botocore_errors() as e:
            lake = securitylake.version_of(self.table, None)
            if lake:
                log.info(N_("%s: table metadata unavailable (%s): assuming Security Lake's version %d table"),
                         self.description, describe_error(e), lake)
            else:
                log.info(N_("%s: table metadata unavailable (%s): assuming AWS's documented table"), self.description,
                         describe_error(e))
            return TableShape(lake_version=lake)
        table = meta.get("TableMetadata", {})
        partitions = tuple(str(p.get("Name", "")) for p in table.get("PartitionKeys", []) or [])
        paths = securitylake.table_paths([*(table.get("Columns", []) or []), *(table.get("PartitionKeys", []) or [])])
        lake = securitylake.version_of(self.table, paths)
        if lake is not None:
            log.info(N_("%s: Amazon Security Lake's CloudTrail table, source version %d (OCSF)"), self.description, lake)
            return TableShape(partitions, lake_version=lake, paths=frozenset(paths))
        columns = {str(c.get("Name", "")).lower(): str(c.get("Type", "")) for c in table.get("Columns", []) or []}
        ui_type = columns.get("useridentity", "")
        return TableShape(partitions, "onbehalfof" in ui_type.lower() if ui_type else True,
                          has_vpcendpointid="vpcendpointid" in columns if columns else True)

    def _run(self, client: Any, sql: str, params: list[str]) -> str:
        kwargs: dict[str, Any] = {
            "QueryString": sql,
            "QueryExecutionContext": {"Database": self.database, "Catalog": self.catalog},
        }
        if params:
            kwargs["ExecutionParameters"] = [_quote_string(p) for p in params]
        if self.workgroup:
            kwargs["WorkGroup"] = self.workgroup
        if self.output:
            kwargs["ResultConfiguration"] = {"OutputLocation": self.output}
        try:
            # one token for every attempt: a retried start never runs the query twice
            kwargs["ClientRequestToken"] = uuid.uuid4().hex
            query_id = str(self.aws.call("athena:StartQueryExecution", client.start_query_execution, **kwargs)["QueryExecutionId"])
        except botocore_errors() as e:
            raise translate(e, f"{self.description}: athena:StartQueryExecution") from e
        log.info(N_("%s: query %s started"), self.description, query_id)
        delay = 0.2
        try:
            while True:
                try:
                    execution = self.aws.call("athena:GetQueryExecution", client.get_query_execution,
                                              QueryExecutionId=query_id)["QueryExecution"]
                except botocore_errors() as e:
                    raise translate(e, f"{self.description}: athena:GetQueryExecution") from e
                status = execution.get("Status", {})
                state = status.get("State")
                if state == "SUCCEEDED":
                    scanned = execution.get("Statistics", {}).get("DataScannedInBytes")
                    if isinstance(scanned, int | float):
                        log.info(N_("%s: query %s succeeded, %.1f MB scanned"), self.description, query_id, scanned / 1e6)
                    else:
                        log.info(N_("%s: query %s succeeded"), self.description, query_id)
                    return query_id
                if state in ("FAILED", "CANCELLED"):
                    reason = status.get("StateChangeReason") or status.get("AthenaError", {}).get("ErrorMessage") or state
                    raise SourceError(_("{source}: query {id} {state}: {reason}").format(
                        source=self.description, id=query_id, state=state.lower(), reason=reason))
                self.sleep(delay)
                delay = min(POLL_MAX, delay * 1.5)
        except KeyboardInterrupt:
            try:
                client.stop_query_execution(QueryExecutionId=query_id)
            finally:
                raise

    def _rows(self, client: Any, query_id: str, columns: Sequence[str]) -> Iterator[dict[str, str | None]]:
        token: str | None = None
        names: list[str] | None = None
        first = True
        while True:
            kwargs: dict[str, Any] = {"QueryExecutionId": query_id, "MaxResults": PAGE_SIZE}
            if token:
                kwargs["NextToken"] = token
            try:
                page = self.aws.call("athena:GetQueryResults", client.get_query_results, **kwargs)
            except botocore_errors() as e:
                raise translate(e, f"{self.description}: athena:GetQueryResults") from e
            result = page.get("ResultSet", {})
            if names is None:
                names = [str(c.get("Name", "")).lower() for c in result.get("ResultSetMetadata", {}).get("ColumnInfo", [])]
                missing = [c for c in columns if c not in names]
                if missing:
                    raise SourceError(_("{source}: query {id} result lacks columns {columns}").format(
                        source=self.description, id=query_id, columns=", ".join(missing)))
            rows = result.get("Rows", []) or []
            for i, row in enumerate(rows):
                values = [d.get("VarCharValue") for d in row.get("Data", [])]
                if first and i == 0 and [str(v).lower() for v in values] == names:
                    continue  # the header row Athena puts first
                yield dict(zip(names, values, strict=False))
            first = False
            token = page.get("NextToken")
            if not token:
                return


def parse_athena_url(spec: str) -> tuple[str, str, str, dict[str, str]]:
    """athena://[CATALOG.]DATABASE.TABLE[?workgroup=W&output=s3://...] -> catalog, db, table, query."""
    from urllib.parse import parse_qsl

    rest = spec.split("://", 1)[1]
    path, _q, query = rest.partition("?")
    parts = path.strip("/").split(".")
    if len(parts) == 2:
        catalog, database, table = "AwsDataCatalog", parts[0], parts[1]
    elif len(parts) == 3:
        catalog, database, table = parts
    else:
        raise UsageError(_("{spec}: expected {forms}").format(spec=spec, forms="athena://DATABASE.TABLE"))
    for name in (catalog, database, table):
        if not _NAME.match(name):
            raise UsageError(_("{spec}: {name!r} is not a catalog, database or table name (letters, digits, _ and -)")
                             .format(spec=spec, name=name))
    return catalog, database, table, dict(parse_qsl(query))


def open_athena(spec: str, options: SourceOptions) -> AthenaSource:
    """The opener registered for ``athena://``."""
    catalog, database, table, query = parse_athena_url(spec)
    unknown = set(query) - {"workgroup", "output"}
    if unknown:
        raise UsageError(_("{spec}: unknown parameter(s) {names} ({known})").format(
            spec=spec, names=", ".join(sorted(unknown)), known="workgroup, output"))
    workgroup = options.extra.get("workgroup") or query.get("workgroup")
    output = options.extra.get("athena_output") or query.get("output")
    if workgroup is not None and not _NAME.match(workgroup):
        raise UsageError(*said(_("{option}: {value!r} is not a workgroup name"), option=WORKGROUP, value=workgroup))
    if output is not None and not _S3_URL.match(output):
        raise UsageError(*said(_("{option}: {value!r} is not an s3:// URL"), option=ATHENA_OUTPUT, value=output))
    check_scope(options.accounts, options.regions)
    regions = tuple(r for r in options.regions if r.lower() != "all")
    since, until = time_window(options.since, options.until)
    return AthenaSource(
        database=database,
        table=table,
        catalog=catalog,
        workgroup=workgroup,
        output=output,
        aws=AwsConfig(options.profile, options.region),
        since=since,
        until=until,
        regions=regions,
        accounts=tuple(options.accounts),
    )
