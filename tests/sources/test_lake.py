"""lake:// (CloudTrail Lake): the shipped query, run for real on DuckDB over a table in Lake's
schema ("Supported SQL schemas for event data stores"), and the whole source through the emulator
(StartQuery / DescribeQuery / GetQueryResults answered by DuckDB, tests/aws_lake.py).

How Lake returns a nested request parameter (requestParameters is a map of strings) is not
documented: the table here keeps one as JSON text, and the printed-map form is tested apart."""

from __future__ import annotations

import gzip
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from keytrail.cli.main import cli
from keytrail.errors import SourceError, UsageError
from keytrail.normalize import normalize
from keytrail.pipeline import ingest
from keytrail.sources import lake as lake_module
from keytrail.sources.aws import AwsConfig
from keytrail.sources.lake import (
    LakeSource,
    build_query,
    event_time,
    open_lake,
    parse_context,
    query_template,
    row_to_record,
)
from keytrail.sources.registry import SourceOptions
from keytrail.store import Store
from tests.aws_lake import LAKE
from tests.aws_server import EmulatorServer
from tests.factory.archive import write_archive
from tests.factory.truth import assert_matches_truth

sqlglot = pytest.importorskip("sqlglot", reason="the Lake query tests need sqlglot (pip install -e '.[test]')")

STORE_ID = "3f2e1d0c-aaaa-4bbb-8ccc-1234567890ab"
NOW = datetime(2026, 11, 28, 12, 0)
V = "VARCHAR"
ISSUER = f"STRUCT(type {V}, principalid {V}, arn {V}, accountid {V}, username {V})"
USER_IDENTITY = (
    f"STRUCT(type {V}, principalid {V}, arn {V}, accountid {V}, accesskeyid {V}, username {V}, "
    f"sessioncontext STRUCT(sessionissuer {ISSUER}, sourceidentity {V}, ec2roledelivery {V}), "
    f"onbehalfof STRUCT(userid {V}, identitystorearn {V}), invokedby {V}, identityprovider {V})"
)
COLUMNS = {  # Lake's columns that the query reads, and the types Lake gives them
    "eventid": V, "eventtime": "TIMESTAMP", "eventsource": V, "eventname": V, "awsregion": V,
    "recipientaccountid": V, "sharedeventid": V, "errorcode": V, "errormessage": V, "sourceipaddress": V,
    "useragent": V, "vpcendpointid": V, "readonly": "BOOLEAN", "useridentity": USER_IDENTITY,
    "requestparameters": f"MAP({V}, {V})", "resources": f"STRUCT(accountid {V}, type {V}, arn {V}, arnprefix {V})[]",
}  # fmt: skip


def records_of(archive: Path) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for path in sorted((archive / "AWSLogs").rglob("*.json*")):
        if "/CloudTrail/" in str(path):
            data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
            out += json.loads(data)["Records"]
    return out


def _struct(value: Any, fields: dict[str, Any]) -> dict[str, Any] | None:
    if not isinstance(value, dict):
        return None
    return {low: (_struct(value.get(name), sub) if isinstance(sub, dict) else value.get(name))
            for low, (name, sub) in fields.items()}  # fmt: skip


_ISSUER_FIELDS = {k: (n, None) for k, n in (("type", "type"), ("principalid", "principalId"), ("arn", "arn"),
                                              ("accountid", "accountId"), ("username", "userName"))}  # fmt: skip
_UI_FIELDS: dict[str, Any] = {
    **{k: (n, None) for k, n in (("type", "type"), ("principalid", "principalId"), ("arn", "arn"), ("accountid", "accountId"),
                                 ("accesskeyid", "accessKeyId"), ("username", "userName"), ("invokedby", "invokedBy"),
                                 ("identityprovider", "identityProvider"))},
    "sessioncontext": ("sessionContext", {"sessionissuer": ("sessionIssuer", _ISSUER_FIELDS),
                                          "sourceidentity": ("sourceIdentity", None),
                                          "ec2roledelivery": ("ec2RoleDelivery", None)}),
    "onbehalfof": ("onBehalfOf", {"userid": ("userId", None), "identitystorearn": ("identityStoreArn", None)}),
}  # fmt: skip


def lake_row(r: dict[str, Any]) -> dict[str, Any]:
    """A CloudTrail record as Lake stores it (an independent mapping from the record's JSON)."""
    params = r.get("requestParameters")
    if isinstance(params, dict):  # a map of strings: nested values as JSON text
        params = {k: v if isinstance(v, str) else json.dumps(v) for k, v in params.items() if v is not None}
    resources = [{"accountid": x.get("accountId"), "type": x.get("type"), "arn": x.get("ARN"), "arnprefix": None}
                 for x in r.get("resources") or []]  # fmt: skip
    row = {low: r.get(name) for low, name in (
        ("eventid", "eventID"), ("eventsource", "eventSource"), ("eventname", "eventName"), ("awsregion", "awsRegion"),
        ("recipientaccountid", "recipientAccountId"), ("sharedeventid", "sharedEventID"), ("errorcode", "errorCode"),
        ("errormessage", "errorMessage"), ("sourceipaddress", "sourceIPAddress"), ("useragent", "userAgent"),
        ("vpcendpointid", "vpcEndpointId"), ("readonly", "readOnly"))}  # fmt: skip
    row["eventtime"] = r["eventTime"].replace("T", " ").rstrip("Z")
    row["useridentity"] = _struct(r.get("userIdentity"), _UI_FIELDS)
    row["requestparameters"] = params if isinstance(params, dict) else None
    row["resources"] = resources or None
    return row


def lake_table(records: list[dict[str, Any]], tmp: Path) -> Any:
    rows = tmp / "lake.ndjson"
    rows.write_text("\n".join(json.dumps(lake_row(r)) for r in records))
    con = duckdb.connect()
    types = ", ".join(f"{k}: '{t}'" for k, t in COLUMNS.items())
    con.execute(f"""CREATE TABLE "{STORE_ID}" AS SELECT * FROM read_json('{rows}', format = 'newline_delimited',
                    columns = {{{types}}})""")  # noqa: S608  (names and types chosen by the test)
    return con


@pytest.fixture(scope="module")
def org31(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("lake31") / "trail"
    write_archive(out, events=8000, seed=31, org=True, accounts=2, regions=2)
    return out


@pytest.fixture(scope="module")
def table(org31: Path) -> Any:
    return lake_table(records_of(org31), org31.parent)


@pytest.fixture
def lake(aws: EmulatorServer, table: Any) -> EmulatorServer:
    LAKE.con = table
    LAKE.stores.add(STORE_ID)
    return aws


def source(**kw: Any) -> LakeSource:
    defaults: dict[str, Any] = dict(event_data_store=STORE_ID, region="us-east-1", since=datetime(2026, 10, 1),
                                    until=datetime(2026, 10, 2), now=NOW, sleep=lambda s: None)  # fmt: skip
    defaults.update(kw)
    return LakeSource(**defaults)


def test_shipped_query_is_presto_with_only_values_keytrail_made() -> None:
    text = query_template()
    assert "FROM __EVENT_DATA_STORE__\n" in text and "__SINCE__" in text and "__UNTIL__" in text
    sql = build_query(STORE_ID, datetime(2026, 10, 1), datetime(2026, 10, 2, 6))
    assert "--" not in sql and "__" not in sql
    assert f"FROM {STORE_ID}\n" in sql and "eventtime < '2026-10-02 06:00:00'" in sql
    sqlglot.parse_one(sql.replace(f"FROM {STORE_ID}", 'FROM "x"'), read="presto")
    with pytest.raises(UsageError):
        build_query("x'; DROP", datetime(2026, 10, 1), datetime(2026, 10, 2))


def test_rows_become_records_the_normaliser_reads_like_the_originals(org31: Path, table: Any) -> None:
    LAKE.con, LAKE.stores = table, {STORE_ID}
    try:
        names, rows = LAKE.run(build_query(STORE_ID, datetime(2026, 10, 1), datetime(2026, 10, 2)))
    finally:
        LAKE.clear()
    originals = {(r["eventID"], r["eventTime"]): r for r in records_of(org31) if r["eventSource"] == "kms.amazonaws.com"}
    assert len({(row[0], row[1]) for row in rows}) == len(originals)  # re-deliveries are rows too
    for row in rows:
        record = row_to_record({n: None if v is None else str(v) for n, v in zip(names, row, strict=True)})
        original = originals[(record["eventID"], record["eventTime"])]
        assert normalize(record) == normalize(original), record["eventID"]


def test_cli_reads_the_event_data_store_equal_to_truth_and_names_the_bytes_scanned(
    lake: EmulatorServer, org31: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lake_module, "PROGRESS_SECONDS", 0.0)
    result = CliRunner().invoke(cli, ["usage", f"lake://{STORE_ID}", "--since", "2026-10-01", "--until", "2026-10-02",
                                      "--format", "json"])  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert_matches_truth(result.stdout, org31 / "truth.json")
    kms = sum(1 for r in records_of(org31) if r["eventSource"] == "kms.amazonaws.com")
    query_id = lake.faults.calls("StartQuery") and json.loads(lake.faults.calls("GetQueryResults")[0].body)["QueryId"]
    assert f"keytrail: lake://{STORE_ID}: query {query_id} finished: {kms * 1000 / 1e6:,.1f} MB ({kms * 1000:,} bytes) " \
           f"scanned, {kms} event(s) scanned, {kms} matched, in 1.2 s" in result.stderr.splitlines()  # fmt: skip
    lines = result.stderr.splitlines()
    assert f"keytrail: lake://{STORE_ID}: query {query_id} running for 0 s" in lines
    assert f"keytrail: lake://{STORE_ID}: 4000 row(s) of query {query_id} read so far" in lines
    assert f"keytrail: lake://{STORE_ID}: {kms} KMS call(s) read from query {query_id}" in lines
    # polled until finished, then paged 1,000 rows at a time
    assert len(lake.faults.calls("DescribeQuery")) == 2
    assert len(lake.faults.calls("GetQueryResults")) == -(-kms // 1000)


def test_days_in_the_store_are_not_queried_again(lake: EmulatorServer) -> None:
    with Store() as store:
        first = ingest([source()], store)
        uris = [u for (u,) in store.query("SELECT uri FROM files ORDER BY uri")]
        again = ingest([source()], store)
        assert again.files_new == 0 and len(lake.faults.calls("StartQuery")) == 1
        ingest([source(until=datetime(2026, 10, 3))], store)  # one more day: only it is queried
        assert first.kms_records > 0
    assert uris[0] == f"lake://{STORE_ID}/2026-10-01#1"
    statements = LAKE.statements()
    assert len(statements) == 2 and "eventtime >= '2026-10-02 00:00:00'" in statements[1]


def test_a_failed_query_is_an_error_naming_it(lake: EmulatorServer) -> None:
    LAKE.fail = "Query exceeded the maximum time"
    with Store() as store, pytest.raises(SourceError, match=f"lake://{STORE_ID}: query .* failed: Query exceeded"):
        ingest([source()], store)


def test_an_unknown_event_data_store_is_an_error(lake: EmulatorServer) -> None:
    with Store() as store, pytest.raises(SourceError, match="cloudtrail:StartQuery: EventDataStoreNotFoundException"):
        ingest([source(event_data_store="0000aaaa-0000-4000-8000-000000000000")], store)


def test_nested_request_parameters_in_either_printed_form() -> None:
    assert parse_context('{"aws:s3:arn":"arn:aws:s3:::b/k"}') == {"aws:s3:arn": "arn:aws:s3:::b/k"}
    assert parse_context("{aws:s3:arn=arn:aws:s3:::b/k, app=orders}") == {"aws:s3:arn": "arn:aws:s3:::b/k", "app": "orders"}
    assert parse_context("not a map") is None
    assert event_time("2026-10-01 05:12:33.000") == "2026-10-01T05:12:33Z" == event_time("2026-10-01T05:12:33Z")
    record = row_to_record({"eventid": "e", "rp_encryptioncontext": "{SecretARN=arn:aws:secretsmanager:x}"})
    assert record["requestParameters"] == {"encryptionContext": {"SecretARN": "arn:aws:secretsmanager:x"}}


def test_urls_take_an_id_or_an_arn() -> None:
    assert open_lake(f"lake://{STORE_ID}", SourceOptions(region="eu-west-1")).region == "eu-west-1"
    arn = f"arn:aws:cloudtrail:ap-northeast-1:111122223333:eventdatastore/{STORE_ID}"
    s = open_lake(f"lake://{arn}", SourceOptions(since="2026-10-01"))
    assert (s.event_data_store, s.region, s.since) == (STORE_ID, "ap-northeast-1", datetime(2026, 10, 1))
    for bad, message in (("lake://", "expected lake://"), ("lake://a b", "expected"), (f"lake://{STORE_ID}?x=1", "unknown")):
        with pytest.raises(UsageError, match=message):
            open_lake(bad, SourceOptions())


def test_without_since_the_last_90_days_are_queried(lake: EmulatorServer, caplog: pytest.LogCaptureFixture) -> None:
    with Store() as store:
        ingest([source(since=None, until=None, aws=AwsConfig(max_attempts=2))], store)
    (statement,) = LAKE.statements()
    assert f"eventtime >= '{(NOW - timedelta(days=90)).date()} 00:00:00'" in statement
    assert "since: reading the last 90 days (from 2026-08-30T00:00:00Z)" in caplog.text


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["eventid", "eventtime", "rp_keyid", "rp_encryptioncontext", "ui_type",
                                        "ui_issuer_arn", "ui_onbehalfof_userid", "resource_arns", "other"]),
                       st.none() | st.text(max_size=40)))  # fmt: skip
def test_any_row_becomes_a_record_without_error(row: dict[str, str | None]) -> None:
    record = row_to_record(row)
    normalize(record)  # what the normaliser makes of it: rows, or a problem it names
    context = row.get("rp_encryptioncontext")
    if context:
        parsed = parse_context(context)
        assert parsed is None or isinstance(parsed, dict)


def test_at_20_percent_faults_equals_the_fault_free_run(lake: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """Through tests/fault_proxy.py failing 20% of requests: the same answer, exit 0, retries counted."""
    from tests.fault_proxy import FaultPlan, faults

    args = ["usage", f"lake://{STORE_ID}", "--since", "2026-10-01", "--until", "2026-10-02", "--format", "json"]
    clean = CliRunner().invoke(cli, args)
    assert clean.exit_code == 0, clean.stderr
    with faults(lake.url, FaultPlan(rate=0.2, seed=5), monkeypatch) as proxy:
        faulty = CliRunner().invoke(cli, [*args, "--verbose"])
    assert faulty.exit_code == 0, faulty.stderr
    assert faulty.stdout == clean.stdout
    assert sum(proxy.applied.values()) > 0 and "to AWS retried" in faulty.stderr
