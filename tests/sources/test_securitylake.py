"""Amazon Security Lake: OCSF Parquet files read directly (a local copy, s3:// in the version 1
layout) and Security Lake's tables through athena:// (the emulator's Athena answers with DuckDB).

The OCSF data are made by the tests from generated archives (``tests/sources/ocsf_fixtures.py``,
a mapping of its own): the answers must equal the generator's truth wherever OCSF keeps the
information; where a table lacks ``unmapped`` the difference is the one the README names.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest
from click.testing import CliRunner

from keytrail.cli.main import cli
from keytrail.normalize import normalize
from keytrail.render.words import count
from keytrail.sources import ocsf_mapping, securitylake
from keytrail.sources.ocsf_mapping import FIELDS, VERSION_1, VERSION_2, record_from_row
from tests.aws_server import ATHENA, EmulatorServer, client
from tests.factory import ACCOUNT, key_resource, kms, role
from tests.factory.archive import records, write_archive
from tests.factory.truth import assert_matches_truth, compare
from tests.sources.ocsf_fixtures import schema, to_ocsf, write_lake, write_parquet

SEED_31 = dict(events=8000, seed=31, org=True, accounts=2, regions=2)
LOST_WITHOUT_UNMAPPED = ("sharedEventID", "recipientAccountId", "userIdentity.sessionContext.sessionIssuer.principalId")
DB = "amazon_security_lake_glue_db_us_east_1"


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("securitylake") / "trail"
    write_archive(out, **SEED_31)
    return out


@pytest.fixture(scope="module")
def lakes(archive: Path) -> dict[str, Path]:
    root = archive.parent
    out = {}
    for name, version, drop in (("v1", VERSION_1, ()), ("v2", VERSION_2, ()), ("v2-bare", VERSION_2, LOST_WITHOUT_UNMAPPED)):
        write_lake(archive, root / name, version, drop)
        out[name] = root / name
    return out


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args))


# ---- OCSF Parquet files read directly ------------------------------------------------------------


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_the_seed_31_org_archive_as_ocsf_parquet_equals_truth(archive: Path, lakes: dict[str, Path], version: str,
                                                              tmp_path: Path) -> None:  # fmt: skip
    result = run("usage", str(lakes[version]), "--format", "json")
    assert result.exit_code == 0, result.stderr
    files = len(list(lakes[version].rglob("*.gz.parquet")))
    written = list(records(archive))
    kms_records = sum(1 for r in written if r["eventSource"] == "kms.amazonaws.com")
    assert f"{len(written):,} records in {count(files, 'file')} ({count(kms_records, 'KMS call')}" in result.stderr
    assert_matches_truth(result.stdout, archive / "truth.json")


def _key_of(entry: dict[str, Any]) -> str:
    return str(entry["ARN"])


def test_without_unmapped_the_two_copies_of_a_cross_account_call_count_twice(archive: Path, lakes: dict[str, Path],
                                                                          tmp_path: Path) -> None:  # fmt: skip
    """What OCSF loses (README, Security Lake): without sharedEventID the key owner's copy of a
    cross-account call is a call of its own -- by the same principal, whose unique id the archive
    shows. Every other count equals truth."""
    result = run("usage", str(lakes["v2-bare"]), "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert not compare(result.stdout, archive / "truth.json").ok
    extra: Counter[str] = Counter()  # calls per key that the owner's copies add
    seen = set()
    for r in records(archive):
        call = (r["eventID"], r["eventName"], r["eventTime"])  # a re-delivered record is one call
        if r.get("sharedEventID") and r["userIdentity"].get("type") == "AWSAccount" and call not in seen:
            seen.add(call)
            keys = [_key_of(entry) for entry in r.get("resources") or []]
            for key in keys:
                extra[key] += 1
            if r["eventName"] == "ReEncrypt" and len(keys) == 1:
                extra[keys[0]] += 1  # onto its own key: a decrypt and an encrypt on it
    assert sum(extra.values()) > 100
    truth = json.loads((archive / "truth.json").read_text())["keys"]
    got: dict[tuple[str, str], dict[str, int]] = {}
    for row in json.loads(result.stdout):
        got[(row["key"], row["principal"])] = {o: row[o] for o in ("encrypt", "decrypt", "sign", "admin", "denied") if row[o]}
    want = {(k, p): ops for k, ps in truth.items() for p, ops in ps.items()}
    assert set(got) == set(want)  # no principal is lost or made up
    for (key, principal), ops in got.items():
        for op, n in ops.items():
            assert n >= want[(key, principal)].get(op, 0)
        if sum(ops.values()) != sum(want[(key, principal)].values()):
            assert principal.split(":")[4] != key.split(":")[4], (key, principal)  # only cross-account use differs
    per_key = Counter({k: sum(sum(ops.values()) for (kk, _), ops in got.items() if kk == k) for k in truth})
    per_key.subtract(Counter({k: sum(sum(ops.values()) for ops in ps.values()) for k, ps in truth.items()}))
    assert +per_key == extra


def test_a_parquet_file_that_is_not_ocsf_is_skipped_and_a_damaged_one_named(tmp_path: Path) -> None:
    pa_table = pa.table({"a": [1, 2]})
    import pyarrow.parquet as pq

    pq.write_table(pa_table, tmp_path / "other.parquet")
    good = tmp_path / "good.gz.parquet"
    write_parquet([to_ocsf(_record(), VERSION_2)], VERSION_2, good)
    (tmp_path / "broken.parquet").write_bytes(good.read_bytes()[:200])
    result = run("usage", str(tmp_path), "--format", "json")
    assert result.exit_code == 3
    assert "broken.parquet: not a readable Parquet file" in result.stderr
    assert "1 file skipped (1 Parquet, not OCSF API Activity (no api.service.name, api.operation))" in result.stderr
    assert [r["key"] for r in json.loads(result.stdout)] == [KEY]


# ---- the mapping, field by field -------------------------------------------------------------------

KEY = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def _record(**changes: Any) -> dict[str, Any]:
    app = role("App", "/", "alice", "AROAEXAMPLEROLEID0001", ACCOUNT, akid="ASIAEXAMPLE")
    return kms("Decrypt", app, None, {"encryptionContext": {"aws:s3:arn": "arn:aws:s3:::bucket/object"}},
               time="2026-10-01T10:00:00Z", eid="e-1", **{"eventVersion": "1.11", "sourceIPAddress": "192.0.2.10",
               "userAgent": "aws-cli/2", "requestID": "r-1", "resources": [key_resource(KEY)],
               "vpcEndpointId": "vpce-0a1b2c3d", "sharedEventID": "s-1", **changes})  # fmt: skip


def _as_row(record: dict[str, Any], version: int) -> dict[str, Any]:
    """An OCSF row of the fixtures' mapping, read back under keytrail's column names (FIELDS' paths)."""
    row = to_ocsf(record, version)
    out: dict[str, Any] = {}
    for f in FIELDS:
        path = f.path(version)
        if path is None or path == "accountid":
            continue
        base, _, leaf = path.partition("[].")
        value: Any = row
        for name in base.split("."):
            value = value.get(name) if isinstance(value, dict) else None
        if leaf:
            entries = []
            for entry in value or []:
                for name in leaf.split("."):
                    entry = entry.get(name) if isinstance(entry, dict) else None
                entries.append(entry)
            value = entries
        out[f.column] = value
    return out


@pytest.mark.parametrize("version", [VERSION_1, VERSION_2])
def test_a_record_through_ocsf_and_back_normalises_as_the_original(version: int) -> None:
    for record in (_record(), _record(errorCode="AccessDenied", errorMessage="no", resources=None,
                                      requestParameters={"keyId": "alias/app"})):  # fmt: skip
        back = record_from_row(_as_row(record, version))
        assert normalize(back) == normalize(record)


def test_identity_center_callers_keep_their_user_and_lose_only_what_ocsf_overwrote() -> None:
    obo = {"userId": "94482488-3041-7026-18f3-be45837cd0e4",
           "identityStoreArn": "arn:aws:identitystore::111122223333:identitystore/d-9067642ac7"}  # fmt: skip
    record = _record()
    record["userIdentity"]["onBehalfOf"] = obo
    (row,) = normalize(record_from_row(_as_row(record, VERSION_2))).rows
    (want,) = normalize(record).rows
    assert row.on_behalf_of == want.on_behalf_of == obo["userId"]
    assert row.principal == want.principal == "arn:aws:iam::111122223333:role/App"
    assert row.session_name is None and want.session_name == "alice"  # OCSF 1.1 wrote the user id over the principalId


def test_unmapped_as_json_text_pairs_or_flattened_request_parameters() -> None:
    row = _as_row(_record(), VERSION_1)
    pairs = row["unmapped"]
    for shape in (json.dumps(dict(pairs)), [{"key": k, "value": v} for k, v in pairs], dict(pairs)):
        assert normalize(record_from_row({**row, "unmapped": shape})) == normalize(_record())
    flat = {k: v for k, v in pairs if k != "requestParameters"}
    flat["requestParameters.encryptionContext"] = '{"aws:s3:arn":"arn:aws:s3:::bucket/object"}'
    flat["sharedeventid"] = flat.pop("sharedEventID")  # keys matched without regard to case
    assert normalize(record_from_row({**row, "unmapped": flat})) == normalize(_record())


def test_the_shipped_queries_select_the_mappings_paths() -> None:
    sqlglot = pytest.importorskip("sqlglot", reason="needs sqlglot (pip install -e '.[test]')")
    every = {p for f in FIELDS for p in (f.v1, f.v2) if p}  # a table that has every path
    for version in (VERSION_1, VERSION_2):
        sql, params = securitylake.build_query("t", "db", version, datetime(2026, 10, 1), datetime(2026, 10, 2), every)
        tree = sqlglot.parse_one(sql, read="trino")
        selected = {e.alias_or_name: e.this.sql(dialect="trino") for e in tree.expressions}  # type: ignore[attr-defined]
        assert tuple(selected) == ocsf_mapping.COLUMNS
        for f in FIELDS:
            path = f.path(version)
            text = selected[f.column].replace('"', "")
            if path is None:
                assert text == "CAST(NULL AS VARCHAR)", f.column
            elif "[]." in path:
                base, _, leaf = path.partition("[].")
                assert text.startswith(f"ARRAY_JOIN(TRANSFORM({base}, r -> COALESCE(r.{leaf}, ''))"), text
            elif f.column == "unmapped":
                assert text == "JSON_FORMAT(CAST(unmapped AS JSON))"
            else:
                assert text == path, f.column
        assert sql.count("?") == len(params) and "--" not in sql
        assert params == (["20261001", "20261001", "1790812800000", "1790899200000"] if version == VERSION_1
                          else ["2026-10-01T00:00:00Z", "2026-10-02T00:00:00Z"])  # fmt: skip


def test_paths_a_table_lacks_are_selected_as_null() -> None:
    columns = [{"Name": "actor", "Type": "struct<user:struct<type:string,uid:string,uid_alt:string>,session:struct<issuer:string>>"},
               {"Name": "api", "Type": "struct<operation:string,service:struct<name:string>>"},
               {"Name": "resources", "Type": "array<struct<uid:string,owner:struct<account:struct<uid:string>>>>"}]  # fmt: skip
    paths = securitylake.table_paths(columns)
    assert {"actor.user.uid_alt", "resources[].owner.account.uid", "api.service.name"} <= paths
    assert securitylake.version_of("anything", paths) == VERSION_2
    sql, _ = securitylake.build_query("t", "db", VERSION_2, datetime(2026, 10, 1), datetime(2026, 10, 2), paths)
    assert "actor.user.uid_alt AS ui_principal_id," in sql and "CAST(NULL AS varchar) AS ui_idp_uid," in sql
    assert "coalesce(r.owner.account.uid, '')" in sql
    assert securitylake.version_of("amazon_security_lake_table_eu_west_1_cloud_trail_mgmt_1_0", None) == VERSION_1
    assert securitylake.version_of("cloudtrail_logs", {"eventname", "useridentity"}) is None


# ---- Security Lake's tables through athena:// ---------------------------------------------------------


def _hive(kind: pa.DataType) -> str:
    if pa.types.is_struct(kind):
        return "struct<" + ",".join(f"{f.name}:{_hive(f.type)}" for f in kind) + ">"
    if pa.types.is_list(kind):
        return f"array<{_hive(kind.value_type)}>"
    if pa.types.is_map(kind):
        return f"map<{_hive(kind.key_type)},{_hive(kind.item_type)}>"
    return {"int32": "int", "int64": "bigint"}.get(str(kind), "string")


def _load(con: duckdb.DuckDBPyConnection, lake: Path, table: str, version: int) -> list[dict[str, str]]:
    """The lake's Parquet files as Security Lake's table (its partition columns added); its Glue columns."""
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {DB}")
    files = str(lake / "**" / "*.gz.parquet")
    part = ("epoch_ms(\"time\")::TIMESTAMP AS time_dt" if version == VERSION_2 else "eventday")
    con.execute(f"CREATE TABLE {DB}.{table} AS SELECT * EXCLUDE (eventday), region, accountid, {part} "  # noqa: S608
                f"FROM read_parquet('{files}', hive_partitioning = true)")  # fmt: skip
    columns = [{"Name": f.name, "Type": _hive(f.type)} for f in schema(version)]
    return columns


@pytest.fixture
def athena_lake(aws: EmulatorServer, lakes: dict[str, Path]) -> EmulatorServer:
    pytest.importorskip("sqlglot", reason="the Athena tests need sqlglot (pip install -e '.[test]')")
    con = duckdb.connect()
    ATHENA.con = con
    return aws


@pytest.mark.parametrize("version", [VERSION_1, VERSION_2])
def test_security_lake_tables_through_athena_equal_truth(athena_lake: EmulatorServer, archive: Path,
                                                         lakes: dict[str, Path], version: int, tmp_path: Path) -> None:  # fmt: skip
    table = f"amazon_security_lake_table_us_east_1_cloud_trail_mgmt_{version}_0"
    columns = _load(ATHENA.con, lakes[f"v{version}"], table, version)
    partitions = ["region", "accountid", "time_dt" if version == VERSION_2 else "eventday"]
    ATHENA.table_metadata = {"Name": table, "Columns": columns,
                             "PartitionKeys": [{"Name": p, "Type": "string"} for p in partitions]}  # fmt: skip
    result = run("usage", f"athena://{DB}.{table}?workgroup=primary", "--since", "2026-10-01", "--until", "2026-10-02",
                 "--format", "json")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert f"Amazon Security Lake's CloudTrail table, source version {version} (OCSF)" in result.stderr
    assert_matches_truth(result.stdout, archive / "truth.json")
    ((sent, params, _),) = ATHENA.queries
    assert "api.service.name = 'kms.amazonaws.com'" in sent
    if version == VERSION_2:
        assert "time_dt >= from_iso8601_timestamp(?)" in sent
        assert params == ["'2026-10-01T00:00:00Z'", "'2026-10-02T00:00:00Z'"]
    else:
        assert "eventday BETWEEN ? AND ?" in sent
        assert params == ["'20261001'", "'20261001'", "'1790812800000'", "'1790899200000'"]


def test_a_security_lake_table_known_by_its_name_and_narrowed_by_partitions(athena_lake: EmulatorServer, archive: Path,
                                                                           lakes: dict[str, Path]) -> None:  # fmt: skip
    table = "amazon_security_lake_table_us_east_1_cloud_trail_mgmt_2_0"
    _load(ATHENA.con, lakes["v2"], table, VERSION_2)
    ATHENA.table_metadata = None  # no catalog access: the table's name says what it is
    account = sorted({r["recipientAccountId"] for r in records(archive)})[0]
    result = run("ingest", f"athena://{DB}.{table}", "--since", "2026-10-01", "--until", "2026-10-02", "--db",
                 str(archive.parent / "narrow.duckdb"), "--regions", "us-east-1", "--accounts", account)  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert "assuming Security Lake's version 2 table" in result.stderr
    ((sent, params, _),) = ATHENA.queries
    assert "AND region IN (?)" in sent and "AND accountid IN (?)" in sent
    assert params[2:] == ["'us-east-1'", f"'{account}'"]
    want = sum(1 for r in records(archive) if r["eventSource"] == "kms.amazonaws.com"
               and r["awsRegion"] == "us-east-1" and r["recipientAccountId"] == account)  # fmt: skip
    assert f"({count(want, 'KMS call')}" in result.stderr


# ---- s3:// in Security Lake's version 1 layout ----------------------------------------------------------


def test_a_security_lake_bucket_is_walked_by_partition(aws: EmulatorServer, archive: Path, lakes: dict[str, Path],
                                                       tmp_path: Path) -> None:  # fmt: skip
    s3 = client("s3")
    bucket = "aws-security-data-lake-us-east-1-abcdef"
    s3.create_bucket(Bucket=bucket)
    root = lakes["v1"]
    files = sorted(p for p in root.rglob("*.gz.parquet"))
    for path in files:
        s3.put_object(Bucket=bucket, Key=str(path.relative_to(root)), Body=path.read_bytes())
    s3.put_object(Bucket=bucket, Key="aws/CLOUD_TRAIL_MGMT/2.0/metadata/00000.metadata.json", Body=b"{}")
    result = run("usage", f"s3://{bucket}/", "--format", "json", "--workers", "1")
    assert result.exit_code == 0, result.stderr
    assert f" in {count(len(files), 'file')}" in result.stderr
    assert "2.0/: Security Lake source version 2.0 is an Iceberg table: not read from S3" in result.stderr
    assert_matches_truth(result.stdout, archive / "truth.json")
    # narrowed: only the folders asked for are listed
    account = sorted({p.parent.parent.name for p in files})[0].split("=")[1]
    aws.faults.log.clear()
    narrow = run("ingest", f"s3://{bucket}/aws/CLOUD_TRAIL_MGMT/1.0/", "--db", str(tmp_path / "n.duckdb"),
                 "--regions", "us-east-1", "--accounts", account, "--since", "2026-10-01", "--until", "2026-10-02",
                 "--workers", "1")  # fmt: skip  (workers fork from a server started before this test's credentials)
    assert narrow.exit_code == 0, narrow.stderr
    want = [p for p in files if f"region=us-east-1/accountId={account}/" in str(p)]
    assert f" in {count(len(want), 'file')}" in narrow.stderr
    listed = {prefix for prefix, _ in aws.faults.s3_lists()}
    others = {r["awsRegion"] for r in records(archive)} - {"us-east-1"}
    assert others and not any(f"region={r}" in p for r in others for p in listed), listed


def test_lake_records_are_stored_with_their_row_numbers(lakes: dict[str, Path], tmp_path: Path) -> None:
    """keytrail problems names an OCSF row by its file and row number, like a log file's record."""
    path = tmp_path / "lake" / "part.gz.parquet"
    bad = to_ocsf(_record(eventName="PutKeyPolicy", resources=None, requestParameters={"policyName": "default"}), VERSION_2)
    write_parquet([to_ocsf(_record(), VERSION_2), bad], VERSION_2, path)
    result = run("problems", str(path), "--format", "json")
    assert result.exit_code == 0, result.stderr
    (problem,) = json.loads(result.stdout)
    assert (problem["record"], problem["event_name"], problem["kind"]) == (1, "PutKeyPolicy", "unattributable")


def test_the_readme_documents_the_mapping_field_by_field() -> None:
    """README's table (between the ocsf markers) is FIELDS, row for row."""
    from tests.conftest import REPO

    text = (REPO / "README.md").read_text()
    table = text.split("<!-- ocsf:start -->\n", 1)[1].split("\n<!-- ocsf:end -->", 1)[0].splitlines()[2:]

    def cell(path: str | None) -> str:
        return f"`{path}`" if path else "—"

    got = [[c.strip() for c in line.strip("|").split("|")] for line in table]
    want = [[f.cloudtrail if f.cloudtrail.startswith("(") else cell(f.cloudtrail), cell(f.v2), cell(f.v1), f.note]
            for f in FIELDS]  # fmt: skip
    assert got == want
