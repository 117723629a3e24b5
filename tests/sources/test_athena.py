"""athena://: the shipped query, run for real on DuckDB over a table shaped like AWS's documented
CloudTrail table, and the whole source through the emulator (Athena API answered by DuckDB)."""

from __future__ import annotations

import gzip
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner

from keytrail.cli.main import cli
from keytrail.errors import SourceError, UsageError
from keytrail.normalize import normalize
from keytrail.sources.athena import (
    COLUMNS,
    AthenaSource,
    TableShape,
    build_query,
    open_athena,
    query_template,
    row_to_record,
)
from keytrail.sources.aws import AwsConfig
from keytrail.sources.registry import SourceOptions
from keytrail.store import Store
from tests.aws_server import ATHENA, EmulatorServer
from tests.factory import ACCOUNT, REGION, key_arn, kms, log_file, log_key, user, write
from tests.factory.archive import records, write_archive
from tests.factory.truth import assert_matches_truth

sqlglot = pytest.importorskip("sqlglot", reason="the Athena query tests need sqlglot (pip install -e '.[test]')")

# AWS's documented CloudTrail table ("Create the table for CloudTrail logs in Athena using
# partition projection"): lower-case names, structs, requestparameters & co. as JSON strings.
S = "string"
TABLE_SPEC: dict[str, Any] = {
    "eventversion": S,
    "useridentity": {
        "type": S, "principalid": S, "arn": S, "accountid": S, "invokedby": S, "accesskeyid": S, "username": S,
        "onbehalfof": {"userid": S, "identitystorearn": S},
        "sessioncontext": {
            "attributes": {"mfaauthenticated": S, "creationdate": S},
            "sessionissuer": {"type": S, "principalid": S, "arn": S, "accountid": S, "username": S},
            "ec2roledelivery": S,
        },
    },
    "eventtime": S, "eventsource": S, "eventname": S, "awsregion": S, "sourceipaddress": S, "useragent": S,
    "errorcode": S, "errormessage": S, "requestparameters": S, "responseelements": S, "additionaleventdata": S,
    "requestid": S, "eventid": S, "readonly": S,
    "resources": [{"arn": S, "accountid": S, "type": S}],
    "eventtype": S, "apiversion": S, "recipientaccountid": S, "serviceeventdetails": S, "sharedeventid": S,
    "vpcendpointid": S, "eventcategory": S,
    "tlsdetails": {"tlsversion": S, "ciphersuite": S, "clientprovidedhostheader": S},
}  # fmt: skip
PARTITIONS = {"projection": ("timestamp",), "manual": ("region", "year", "month", "day"), "none": ()}


def duck_type(spec: Any) -> str:
    if spec == S:
        return "VARCHAR"
    if isinstance(spec, list):
        return duck_type(spec[0]) + "[]"
    return "STRUCT(" + ", ".join(f'"{k}" {duck_type(v)}' for k, v in spec.items()) + ")"


def serde(value: Any, spec: Any) -> Any:
    """What Hive's JsonSerDe makes of a JSON value for a column type (case-insensitive names)."""
    if value is None:
        return None
    if spec == S:
        if isinstance(value, str):
            return value
        return json.dumps(value, separators=(",", ":")) if isinstance(value, dict | list) else json.dumps(value)
    if isinstance(spec, list):
        return [serde(v, spec[0]) for v in value] if isinstance(value, list) else None
    if not isinstance(value, dict):
        return None
    lower = {k.lower(): v for k, v in value.items()}
    return {k: serde(lower.get(k), v) for k, v in spec.items()}


def load_table(con: duckdb.DuckDBPyConnection, archive: Path, name: str, partitions: str = "projection",
               spec: dict[str, Any] = TABLE_SPEC) -> int:  # fmt: skip
    """The archive's log files as rows of an Athena-shaped CloudTrail table (partitioned by folder)."""
    parts = PARTITIONS[partitions]
    columns = {k: duck_type(v) for k, v in spec.items()}
    columns.update({p: "VARCHAR" for p in parts})
    ndjson = archive.parent / f"{name}.ndjson"
    n = 0
    with ndjson.open("w") as out:
        for path in sorted((archive / "AWSLogs").rglob("*.json*")):
            if "/CloudTrail/" not in str(path):
                continue
            region, y, m, d = path.parts[-5:-1]
            data = path.read_bytes()
            records = json.loads(gzip.decompress(data) if path.suffix == ".gz" else data)["Records"]
            for record in records:
                row = {k: serde({kk.lower(): vv for kk, vv in record.items()}.get(k), v) for k, v in spec.items()}
                values = {"timestamp": f"{y}/{m}/{d}", "region": region, "year": y, "month": m, "day": d}
                row.update({p: values[p] for p in parts})
                out.write(json.dumps(row) + "\n")
                n += 1
    types = ", ".join(f"'{k}': '{v}'" for k, v in columns.items())
    con.execute("CREATE SCHEMA IF NOT EXISTS cloudtrail")
    source = f"read_json('{ndjson}', format='newline_delimited', columns={{{types}}})"
    con.execute(f"CREATE TABLE cloudtrail.{name} AS SELECT * FROM {source}")  # noqa: S608  (names chosen by the test)
    return n


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An organisation trail with known answers (one account outside it) over about 40 minutes of
    2026-10-01: between 1,000 and 2,000 KMS records, so that GetQueryResults pages once. Without what
    the query cannot carry: the partner's S3 reads (the query selects KMS calls only, so a hidden
    caller is named only from KMS records)."""
    out = tmp_path_factory.mktemp("athena") / "trail"
    write_archive(out, events=3000, seed=21, org=True, external=1, per_file=100, partner_reads=False)
    return out


@pytest.fixture(scope="module")
def tables(archive: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    for kind in PARTITIONS:
        load_table(con, archive, f"logs_{kind}", kind)
    old = dict(TABLE_SPEC)
    old["useridentity"] = {k: v for k, v in TABLE_SPEC["useridentity"].items() if k != "onbehalfof"}
    del old["vpcendpointid"]
    load_table(con, archive, "logs_old", "projection", old)
    return con


def run_on_duckdb(con: duckdb.DuckDBPyConnection, sql: str, params: list[str]) -> list[dict[str, Any]]:
    duck = sqlglot.transpile(sql, read="trino", write="duckdb")[0]
    cur = con.execute(duck, params)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def kms_records(archive: Path) -> list[dict[str, Any]]:
    return [r for r in records(archive) if r["eventSource"] == "kms.amazonaws.com"]


# ---- the query text ---------------------------------------------------------------------------


def test_shipped_query_is_readable_trino_with_every_value_bound() -> None:
    text = query_template()
    assert text.startswith("-- keytrail:") and "FROM __TABLE__" in text
    sql, params = build_query("logs", "cloudtrail", datetime(2026, 10, 1), datetime(2026, 10, 2),
                              TableShape(("timestamp",)), ["us-east-1"], ["111122223333"])  # fmt: skip
    tree = sqlglot.parse_one(sql, read="trino")
    assert sql.count("?") == len(params)
    assert params == ["2026-10-01T00:00:00Z", "2026-10-02T00:00:00Z", "2026/10/01", "2026/10/02", "us-east-1",
                      "111122223333"]  # fmt: skip
    assert not any(p in sql for p in params)  # values are parameters, never SQL text
    assert "eventsource = 'kms.amazonaws.com'" in sql and '"cloudtrail"."logs"' in sql and "--" not in sql
    selected = [e.alias_or_name for e in tree.expressions]  # type: ignore[attr-defined]
    assert tuple(selected) == COLUMNS


def test_query_on_duckdb_selects_exactly_the_kms_calls_of_the_window(archive: Path, tables: Any) -> None:
    since, until = datetime(2026, 10, 1, 0, 10), datetime(2026, 10, 1, 0, 40)
    want = sorted(
        {r["eventID"] for r in kms_records(archive) if "2026-10-01T00:10:00Z" <= r["eventTime"] < "2026-10-01T00:40:00Z"}
    )
    assert len(want) > 100
    for kind in PARTITIONS:
        sql, params = build_query(f"logs_{kind}", "cloudtrail", since, until, TableShape(PARTITIONS[kind]))
        rows = run_on_duckdb(tables, sql, params)
        assert sorted({r["eventid"] for r in rows}) == want, kind
        assert [r["eventtime"] for r in rows] == sorted(r["eventtime"] for r in rows)


def test_partition_filters_exclude_other_days_and_regions(archive: Path, tables: Any) -> None:
    later = datetime(2026, 10, 5)
    for kind in ("projection", "manual"):
        sql, params = build_query(f"logs_{kind}", "cloudtrail", later, datetime(2026, 10, 6), TableShape(PARTITIONS[kind]))
        assert run_on_duckdb(tables, sql, params) == []
        sql, params = build_query(f"logs_{kind}", "cloudtrail", datetime(2026, 10, 1), datetime(2026, 10, 2),
                                  TableShape(PARTITIONS[kind]), regions=["us-east-1"])  # fmt: skip
        rows = run_on_duckdb(tables, sql, params)
        assert rows and {r["awsregion"] for r in rows} == {"us-east-1"}
    account = kms_records(archive)[0]["recipientAccountId"]
    sql, params = build_query("logs_none", "cloudtrail", datetime(2026, 10, 1), datetime(2026, 10, 2), accounts=[account])
    assert {r["recipientaccountid"] for r in run_on_duckdb(tables, sql, params)} == {account}


def test_rows_become_records_the_normaliser_reads_like_the_originals(archive: Path, tables: Any) -> None:
    sql, params = build_query("logs_projection", "cloudtrail", datetime(2026, 10, 1), datetime(2026, 10, 2),
                              TableShape(("timestamp",)))  # fmt: skip
    rows = {r["eventid"] + r["eventtime"]: r for r in run_on_duckdb(tables, sql, params)}
    compared = 0
    for record in kms_records(archive):
        row = rows[record["eventID"] + record["eventTime"]]
        original, rebuilt = normalize(record), normalize(row_to_record(row))
        assert rebuilt.problem == original.problem
        assert rebuilt.rows == original.rows, record["eventID"]
        assert rebuilt.alias_change == original.alias_change
        assert rebuilt.identities == original.identities
        compared += 1
    assert compared > 1000


def test_the_vpc_endpoint_survives_the_query(tmp_path: Path) -> None:
    key = key_arn("1234abcd-12ab-34cd-56ef-1234567890ab")
    call = kms("Decrypt", user("alice"), key, {"keyId": key}, time="2026-10-01T12:00:00Z",
               vpcEndpointId="vpce-0a1b2c3d4e5f60001")
    write(tmp_path / "trail" / log_key(ACCOUNT, REGION, datetime(2026, 10, 1, 12, 5), "VPCE000000000001"),
          log_file([call]), gz=True)
    con = duckdb.connect()
    assert load_table(con, tmp_path / "trail", "logs_vpce", "none") == 1
    sql, params = build_query("logs_vpce", "cloudtrail", datetime(2026, 10, 1), datetime(2026, 10, 2), TableShape(()))
    (row,) = run_on_duckdb(con, sql, params)
    (rebuilt,) = normalize(row_to_record(row)).rows
    assert rebuilt.vpc_endpoint == "vpce-0a1b2c3d4e5f60001"


def test_older_table_without_onbehalfof(tables: Any) -> None:
    sql, params = build_query("logs_old", "cloudtrail", datetime(2026, 10, 1), datetime(2026, 10, 2),
                              TableShape(("timestamp",), has_onbehalfof=False, has_vpcendpointid=False))  # fmt: skip
    assert "useridentity.onbehalfof" not in sql
    rows = run_on_duckdb(tables, sql, params)
    assert rows and all(r["ui_onbehalfof_userid"] is None for r in rows)


def test_older_table_without_vpcendpointid(tables: Any) -> None:
    shape = TableShape(("timestamp",), has_onbehalfof=False, has_vpcendpointid=False)
    sql, params = build_query("logs_old", "cloudtrail", datetime(2026, 10, 1), datetime(2026, 10, 2), shape)
    assert "CAST(NULL AS varchar) AS vpcendpointid" in sql
    rows = run_on_duckdb(tables, sql, params)
    assert rows and all(r["vpcendpointid"] is None for r in rows)


def test_row_to_record_keeps_what_it_cannot_parse_for_the_normaliser() -> None:
    row: dict[str, str | None] = {c: None for c in COLUMNS}
    row.update(eventid="e1", eventtime="2026-10-01T00:00:00Z", eventsource="kms.amazonaws.com", eventname="Decrypt",
               requestparameters="{not json", ui_type="AWSService", ui_invokedby="s3.amazonaws.com",
               resource_arns="arn:aws:kms:us-east-1:111122223333:key/k1 arn:aws:kms:us-east-1:111122223333:key/k2")  # fmt: skip
    record = row_to_record(row)
    assert record["resources"] == [{"ARN": "arn:aws:kms:us-east-1:111122223333:key/k1"},
                                   {"ARN": "arn:aws:kms:us-east-1:111122223333:key/k2"}]  # fmt: skip
    assert record["userIdentity"] == {"type": "AWSService", "invokedBy": "s3.amazonaws.com"}
    assert "sharedEventID" not in record and "errorCode" not in record
    assert normalize(record).problem == "requestParameters is not an object"


# ---- the source through the emulator ----------------------------------------------------------


@pytest.fixture
def athena(aws: EmulatorServer, tables: Any) -> EmulatorServer:
    ATHENA.con = tables
    ATHENA.table_metadata = {
        "Name": "logs_projection",
        "Columns": [{"Name": k, "Type": duck_type(v).lower()} for k, v in TABLE_SPEC.items()],
        "PartitionKeys": [{"Name": "timestamp", "Type": "string"}],
    }
    return aws


def test_athena_source_equals_truth_and_reruns_skip_closed_days(athena: EmulatorServer, archive: Path,
                                                                tmp_path: Path) -> None:  # fmt: skip
    db = str(tmp_path / "a.duckdb")
    args = ["ingest", "athena://cloudtrail.logs_projection", "--db", db, "--since", "2026-10-01", "--until",
            "2026-10-02", "--workgroup", "primary", "--athena-output", "s3://query-results/keytrail/"]  # fmt: skip
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.stderr
    usage = CliRunner().invoke(cli, ["usage", "--db", db, "--format", "json"])
    assert_matches_truth(usage.stdout, archive / "truth.json")
    ((sent, params, _),) = ATHENA.queries
    assert '"timestamp" BETWEEN ? AND ?' in sent  # the partition column the catalog reported
    assert params == ["'2026-10-01T00:00:00Z'", "'2026-10-02T00:00:00Z'", "'2026/10/01'", "'2026/10/02'"]
    (start,) = athena.faults.calls("StartQueryExecution")
    body = json.loads(start.body)
    assert body["WorkGroup"] == "primary"
    assert body["ResultConfiguration"] == {"OutputLocation": "s3://query-results/keytrail/"}
    assert body["QueryExecutionContext"] == {"Database": "cloudtrail", "Catalog": "AwsDataCatalog"}
    # more than 1000 rows: GetQueryResults was paged
    assert len(athena.faults.calls("GetQueryResults")) == 2
    with Store(db, read_only=True) as store:
        assert store.query("SELECT uri, version FROM files") == [
            ("athena://AwsDataCatalog/cloudtrail.logs_projection/2026-10-01#1", "closed:end")
        ]
    # the day is closed and in the store: a re-run does not query again
    again = CliRunner().invoke(cli, args)
    assert again.exit_code == 0 and len(ATHENA.queries) == 1
    assert "0 records in 0 files" in again.stderr


def test_athena_in_a_one_shot_report_with_url_parameters(athena: EmulatorServer, archive: Path, tmp_path: Path) -> None:
    ATHENA.table_metadata = None  # no catalog access: the documented table is assumed, no partition filter
    result = CliRunner().invoke(cli, ["usage", "athena://cloudtrail.logs_none?workgroup=primary", "--since",
                                      "2026-10-01", "--until", "2026-10-02", "--format", "json"])  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert_matches_truth(result.stdout, archive / "truth.json")
    ((sent, params, _),) = ATHENA.queries
    assert "timestamp" not in sent and len(params) == 2


def test_an_older_table_is_read_with_the_columns_its_catalog_lists(athena: EmulatorServer) -> None:
    old = {k: v for k, v in TABLE_SPEC.items() if k != "vpcendpointid"}
    old["useridentity"] = {k: v for k, v in TABLE_SPEC["useridentity"].items() if k != "onbehalfof"}
    ATHENA.table_metadata = {"Name": "logs_old", "Columns": [{"Name": k, "Type": duck_type(v).lower()} for k, v in old.items()],
                             "PartitionKeys": [{"Name": "timestamp", "Type": "string"}]}  # fmt: skip
    result = CliRunner().invoke(cli, ["usage", "athena://cloudtrail.logs_old?workgroup=primary", "--since",
                                      "2026-10-01", "--until", "2026-10-02", "--format", "json"])  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert len(json.loads(result.stdout)) > 500  # (without onBehalfOf, Identity Center users are their role sessions)
    ((sent, _, _),) = ATHENA.queries
    assert "CAST(NULL AS varchar) AS vpcendpointid" in sent and "useridentity.onbehalfof" not in sent


def test_a_failed_query_is_reported(aws: EmulatorServer) -> None:
    from botocore.stub import Stubber

    from tests.aws_server import client

    athena = client("athena")
    source = AthenaSource("cloudtrail", "logs", aws=AwsConfig(), sleep=lambda s: None)
    with Stubber(athena) as stub:
        stub.add_response("start_query_execution", {"QueryExecutionId": "q1"})
        stub.add_response("get_query_execution", {"QueryExecution": {"Status": {"State": "RUNNING"}}})
        stub.add_response("get_query_execution", {"QueryExecution": {"Status": {
            "State": "FAILED", "StateChangeReason": "TABLE_NOT_FOUND: line 1:1: Table 'cloudtrail.logs' does not exist"}}})  # fmt: skip
        with pytest.raises(SourceError, match="query q1 failed: TABLE_NOT_FOUND"):
            source._run(athena, "SELECT 1", [])


@pytest.mark.parametrize(
    "spec, options, message",
    [
        ("athena://justone", SourceOptions(), "expected athena://DATABASE.TABLE"),
        ("athena://db.t;drop", SourceOptions(), "not a catalog, database or table name"),
        ("athena://db.t?color=red", SourceOptions(), "unknown parameter"),
        ("athena://db.t", SourceOptions(extra={"athena_output": "/tmp/x"}), "not an s3:// URL"),
        ("athena://db.t", SourceOptions(regions=("mars-1",)), "not a Region name"),
        ("athena://db.t", SourceOptions(accounts=("1",)), "12-digit"),
    ],
)
def test_bad_athena_options(spec: str, options: SourceOptions, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        open_athena(spec, options)
