"""s3:// against a local S3 (moto server over HTTP): layout walking, list calls, faults, re-runs."""

from __future__ import annotations

import gzip
import json
import os
import pickle
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from keytrail.cli.main import cli
from keytrail.errors import SourceReadError, UsageError
from keytrail.pipeline import ingest
from keytrail.render.words import count
from keytrail.sources.registry import SourceOptions, open_sources
from keytrail.sources.s3 import S3Source, open_s3, parse_s3_url
from keytrail.store import Store
from tests.aws_server import SECRET_ACCESS_KEY, SESSION_TOKEN, EmulatorServer, aws_env, client
from tests.factory.archive import ORG, write_archive
from tests.factory.truth import assert_matches_truth

BUCKET = "org-trail"


@pytest.fixture(scope="module")
def org_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An organisation trail with known answers: 3 accounts (one outside the archive), 2 Regions, one day."""
    out = tmp_path_factory.mktemp("s3") / "trail"
    write_archive(out, events=3000, seed=3, org=True, external=1, plain_every=5)
    return out


def upload(archive: Path, bucket: str = BUCKET, prefix: str = "") -> list[str]:
    from concurrent.futures import ThreadPoolExecutor

    s3 = client("s3")
    s3.create_bucket(Bucket=bucket)
    files = [p for p in sorted((archive / "AWSLogs").rglob("*")) if p.is_file()]
    keys = [prefix + str(p.relative_to(archive)) for p in files]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda kp: s3.put_object(Bucket=bucket, Key=kp[0], Body=kp[1].read_bytes()), zip(keys, files, strict=True)))
    return keys


def log_keys(keys: list[str]) -> list[str]:
    return [k for k in keys if "/CloudTrail/" in k]


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args))


def accounts_of(archive: Path) -> list[str]:
    return sorted(p.name for p in (archive / "AWSLogs" / ORG).iterdir())


# ---- the answer ------------------------------------------------------------------------------


def test_usage_of_an_org_trail_bucket_equals_truth(aws: EmulatorServer, org_archive: Path, tmp_path: Path) -> None:
    keys = upload(org_archive)
    result = run("usage", f"s3://{BUCKET}/", "--format", "json", "--workers", "1")
    assert result.exit_code == 0, result.stderr
    assert_matches_truth(result.stdout, org_archive / "truth.json")
    assert f" in {count(len(log_keys(keys)), 'file')}" in result.stderr
    # digests are never listed: the walk does not descend into CloudTrail-Digest/
    assert not any("CloudTrail-Digest" in p for p, _ in aws.faults.s3_lists())


def test_parallel_download_in_worker_processes_equals_truth(aws: EmulatorServer, org_archive: Path, tmp_path: Path) -> None:
    """The real CLI in its own process: workers download objects with their own S3 clients."""
    upload(org_archive)
    env = {**os.environ, **aws_env(aws.url)}
    p = subprocess.run(
        [sys.executable, "-c", "from keytrail.cli.main import main; main()", "usage", f"s3://{BUCKET}/AWSLogs/", "--format", "json", "--workers", "2"],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert p.returncode == 0, p.stderr
    assert_matches_truth(p.stdout, org_archive / "truth.json")


def test_a_trail_with_its_own_key_prefix_is_found(aws: EmulatorServer, org_archive: Path, tmp_path: Path) -> None:
    upload(org_archive, prefix="trails/org/")
    result = run("usage", f"s3://{BUCKET}", "--format", "json", "--workers", "1")
    assert result.exit_code == 0, result.stderr
    assert_matches_truth(result.stdout, org_archive / "truth.json")


# ---- listing only what was asked for ---------------------------------------------------------

ACCTS = ("111111111111", "222222222222", "333333333333")
REGIONS = ("eu-west-1", "us-east-1")
DAYS = ("2026/09/30", "2026/10/01", "2026/10/02", "2026/10/03", "2026/10/04")


def _empty_log() -> bytes:
    return gzip.compress(json.dumps({"Records": []}).encode())


@pytest.fixture
def many_days(aws: EmulatorServer) -> set[str]:
    """One small log file per account, Region and day, plus digests; returns the log keys."""
    s3 = client("s3")
    s3.create_bucket(Bucket=BUCKET)
    keys = set()
    for a in ACCTS:
        for r in REGIONS:
            for d in DAYS:
                stamp = d.replace("/", "")
                key = f"AWSLogs/{ORG}/{a}/CloudTrail/{r}/{d}/{a}_CloudTrail_{r}_{stamp}T0000Z_abc.json.gz"
                s3.put_object(Bucket=BUCKET, Key=key, Body=_empty_log())
                keys.add(key)
                digest = f"AWSLogs/{ORG}/{a}/CloudTrail-Digest/{r}/{d}/{a}_CloudTrail-Digest_{r}_x_{stamp}T000000Z.json.gz"
                s3.put_object(Bucket=BUCKET, Key=digest, Body=b"{}")
    aws.faults.clear()
    return keys


def listed(source: S3Source) -> list[str]:
    return sorted(r.uri.removeprefix(f"s3://{BUCKET}/") for r in source.files())


def test_since_until_accounts_regions_list_only_those_prefixes(aws: EmulatorServer, many_days: set[str]) -> None:
    opts = SourceOptions(accounts=("222222222222",), regions=("us-east-1",), since="2026-10-01", until="2026-10-02")
    got = listed(open_s3(f"s3://{BUCKET}/", opts))
    base = f"AWSLogs/{ORG}/222222222222/CloudTrail/us-east-1/"
    # the day asked for, and the day after it (files are named by delivery time)
    assert got == sorted(k for k in many_days if k.startswith(base) and ("/2026/10/01/" in k or "/2026/10/02/" in k))
    assert aws.faults.s3_lists() == [
        ("", "/"),
        ("AWSLogs/", "/"),
        (f"{base}2026/10/01/", ""),
        (f"{base}2026/10/02/", ""),
    ]


def test_until_in_the_middle_of_a_day_lists_that_day_and_the_next(aws: EmulatorServer, many_days: set[str]) -> None:
    opts = SourceOptions(accounts=("111111111111",), regions=("eu-west-1",), since="2026-10-02T10:00:00Z",
                         until="2026-10-02T18:00:00Z")  # fmt: skip
    listed(open_s3(f"s3://{BUCKET}/AWSLogs/", opts))
    days = [p.split("/CloudTrail/eu-west-1/")[1] for p, _ in aws.faults.s3_lists() if "/CloudTrail/" in p]
    assert days == ["2026/10/02/", "2026/10/03/"]


def test_without_filters_regions_are_discovered_and_listed_whole(aws: EmulatorServer, many_days: set[str]) -> None:
    got = listed(open_s3(f"s3://{BUCKET}/", SourceOptions()))
    assert got == sorted(many_days)
    lists = aws.faults.s3_lists()
    assert ("", "") not in lists, "the whole bucket must never be listed"
    assert all(delim == "/" or "/CloudTrail/" in prefix for prefix, delim in lists)
    assert len([1 for _, d in lists if d == ""]) == len(ACCTS) * len(REGIONS)


def test_only_since_discovers_days_by_delimiter_when_the_window_is_long(aws: EmulatorServer, many_days: set[str]) -> None:
    opts = SourceOptions(accounts=("333333333333",), regions=("us-east-1",), since="2026-01-01", until="2026-10-02")
    got = listed(open_s3(f"s3://{BUCKET}/", opts))
    assert [k.split("/us-east-1/")[1][:10] for k in got] == ["2026/09/30", "2026/10/01", "2026/10/02"]
    day_lists = [p for p, d in aws.faults.s3_lists() if d == ""]
    assert len(day_lists) == 3  # only days with files, found through year/month/day listings


def test_a_prefix_given_down_to_an_account_or_region_is_resumed_there(aws: EmulatorServer, many_days: set[str]) -> None:
    got = listed(open_s3(f"s3://{BUCKET}/AWSLogs/{ORG}/111111111111/CloudTrail/us-east-1", SourceOptions()))
    assert got == sorted(k for k in many_days if "/111111111111/CloudTrail/us-east-1/" in k)
    # --accounts still applies below a prefix that names another account
    assert listed(open_s3(f"s3://{BUCKET}/AWSLogs/{ORG}/111111111111/", SourceOptions(accounts=("222222222222",)))) == []


def test_digest_prefix_named_explicitly_is_counted_as_skipped(aws: EmulatorServer, many_days: set[str]) -> None:
    source = open_s3(f"s3://{BUCKET}/AWSLogs/{ORG}/111111111111/CloudTrail-Digest/", SourceOptions())
    refs = list(source.files())
    assert len(refs) == len(REGIONS) * len(DAYS)
    assert {r.skip_reason for r in refs} == {"CloudTrail digest file"}


def test_one_object_named_explicitly(aws: EmulatorServer, many_days: set[str]) -> None:
    key = sorted(many_days)[0]
    (ref,) = list(open_s3(f"s3://{BUCKET}/{key}", SourceOptions()).files())
    assert ref.uri == f"s3://{BUCKET}/{key}" and ref.version.startswith('"') and ref.size > 0


def test_a_bucket_without_cloudtrail_layout_is_read_below_the_named_prefix(aws: EmulatorServer) -> None:
    s3 = client("s3")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="exports/day1/events.json", Body=b'{"Records": []}')
    s3.put_object(Bucket=BUCKET, Key="exports/readme.txt", Body=b"hello")
    refs = list(open_s3(f"s3://{BUCKET}/exports/", SourceOptions()).files())
    assert [(r.uri.rsplit("/", 1)[1], r.skip_reason) for r in refs] == [
        ("events.json", None),
        ("readme.txt", "not a .json, .json.gz or .parquet object"),
    ]


# ---- faults ----------------------------------------------------------------------------------


def test_denied_account_prefix_and_object_are_named_and_the_rest_is_read(
    aws: EmulatorServer, org_archive: Path, tmp_path: Path
) -> None:
    keys = upload(org_archive)
    accounts = sorted({k.split("/")[2] for k in log_keys(keys)})
    denied_prefix = f"AWSLogs/{ORG}/{accounts[0]}/CloudTrail/"
    denied_object = next(k for k in log_keys(keys) if k.split("/")[2] == accounts[1])
    aws.faults.deny_s3_list(BUCKET, denied_prefix)
    aws.faults.deny_s3_get(BUCKET, denied_object)
    db = str(tmp_path / "s.duckdb")
    result = run("ingest", f"s3://{BUCKET}/", "--db", db, "--workers", "1")
    assert result.exit_code == 3, result.stderr
    assert f"keytrail: error: s3://{BUCKET}/{denied_prefix}: cannot list: AccessDenied: Access Denied" in result.stderr
    assert f"keytrail: error: s3://{BUCKET}/{denied_object}: access denied (AccessDenied: Access Denied)" in result.stderr
    readable = [k for k in log_keys(keys) if k.split("/")[2] != accounts[0] and k != denied_object]
    with Store(db, read_only=True) as store:
        ingested = {r[0] for r in store.query("SELECT uri FROM files WHERE status = 'ingested'")}
    assert ingested == {f"s3://{BUCKET}/{k}" for k in readable}
    # once access is granted, a re-run reads only what was missing
    aws.faults.clear()
    again = run("ingest", f"s3://{BUCKET}/", "--db", db, "--workers", "1")
    assert again.exit_code == 0, again.stderr
    assert f" in {count(len(log_keys(keys)) - len(readable), 'file')} (" in again.stderr
    assert f"; {count(len(readable), 'file')} unchanged since the last ingest" in again.stderr
    usage = run("usage", "--db", db, "--format", "json")
    assert_matches_truth(usage.stdout, org_archive / "truth.json")


def test_rerun_reads_only_new_and_changed_objects(aws: EmulatorServer, org_archive: Path, tmp_path: Path) -> None:
    keys = upload(org_archive)
    n = len(log_keys(keys))
    db = str(tmp_path / "s.duckdb")
    assert run("ingest", f"s3://{BUCKET}/", "--db", db, "--workers", "1").exit_code == 0
    with Store(db, read_only=True) as store:
        (rows_before,) = store.query("SELECT count(*) FROM raw_key_use")[0]
    gets_before = len([r for r in aws.faults.log if r.method == "GET" and "list-type" not in r.query])
    second = run("ingest", f"s3://{BUCKET}/", "--db", db, "--workers", "1")
    assert f"0 records in 0 files; {count(n, 'file')} unchanged since the last ingest" in second.stderr
    assert len([r for r in aws.faults.log if r.method == "GET" and "list-type" not in r.query]) == gets_before
    # a changed object (new ETag) is read again and replaces its earlier rows; a new one is added
    s3 = client("s3")
    first = log_keys(keys)[0]
    body = s3.get_object(Bucket=BUCKET, Key=first)["Body"].read()
    s3.put_object(Bucket=BUCKET, Key=first, Body=gzip.compress(gzip.decompress(body) if first.endswith(".gz") else body))
    copy = first.rsplit("/", 1)[0] + "/copy_of_first.json.gz"
    s3.put_object(Bucket=BUCKET, Key=copy, Body=_empty_log())
    third = run("ingest", f"s3://{BUCKET}/", "--db", db, "--workers", "1")
    assert " in 2 files (" in third.stderr and f"; {count(n - 1, 'file')} unchanged" in third.stderr, third.stderr
    with Store(db, read_only=True) as store:
        (rows_after,) = store.query("SELECT count(*) FROM raw_key_use")[0]
        (uris,) = store.query("SELECT count(*) - count(DISTINCT uri) FROM files")[0]
    assert rows_after == rows_before and uris == 0


def test_an_object_changed_between_listing_and_download_is_not_mixed_up(aws: EmulatorServer, many_days: set[str]) -> None:
    source = open_s3(f"s3://{BUCKET}/", SourceOptions(accounts=("111111111111",), regions=("us-east-1",),
                                                      since="2026-10-01", until="2026-10-01T01:00:00"))  # fmt: skip
    ref = next(r for r in source.files() if "/2026/10/01/" in r.uri)
    client("s3").put_object(Bucket=BUCKET, Key=ref.uri.removeprefix(f"s3://{BUCKET}/"), Body=b'{"Records": [{}]}')
    with pytest.raises(SourceReadError, match="changed after it was listed"):
        source.read(ref)


def test_killed_ingest_rerun_has_no_loss_and_no_duplicates(aws: EmulatorServer, tmp_path: Path) -> None:
    archive = tmp_path / "trail"
    write_archive(archive, events=1500, seed=8, org=True, per_file=10)
    keys = log_keys(upload(archive))
    assert len(keys) > 128  # several chunks of files

    def slow_get(r: Any) -> None:
        if r.service == "s3" and r.method == "GET" and "list-type" not in r.query:
            time.sleep(0.01)
        return None

    aws.faults.rules.append(slow_get)
    db = str(tmp_path / "k.duckdb")
    env = {**os.environ, **aws_env(aws.url), "KEYTRAIL_COMMIT_ROWS": "1"}  # commit every chunk
    cmd = [sys.executable, "-c", "from keytrail.cli.main import main; main()", "ingest", f"s3://{BUCKET}/", "--db", db,
           "--workers", "2"]  # fmt: skip
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        gets = [r for r in aws.faults.log if r.method == "GET" and "list-type" not in r.query]
        if len(gets) >= len(keys) // 2 or p.poll() is not None:
            break
        time.sleep(0.02)
    os.killpg(p.pid, signal.SIGKILL)  # the CLI, its forkserver and its workers
    p.wait()
    p.stdout.close()  # type: ignore[union-attr]
    p.stderr.close()  # type: ignore[union-attr]
    aws.faults.rules.clear()
    rerun = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    m = re.search(r" in ([\d,]+) files?(?: \([^)]*\))?(?:; ([\d,]+) files? unchanged)?", rerun.stderr)
    assert m is not None and int(m[1].replace(",", "")) + int((m[2] or "0").replace(",", "")) == len(keys), rerun.stderr
    with Store(db, read_only=True) as store:
        ingested = store.query("SELECT uri, count(*) FROM files WHERE status = 'ingested' GROUP BY uri")
        (raw,) = store.query("SELECT count(*) FROM raw_key_use")[0]
    assert sorted(u for u, _ in ingested) == sorted(f"s3://{BUCKET}/{k}" for k in keys)
    assert all(n == 1 for _, n in ingested)
    clean = tmp_path / "clean.duckdb"
    with Store(str(clean)) as store:
        ingest(open_sources([str(archive / "AWSLogs")], None), store, workers=1)
        (raw_clean,) = store.query("SELECT count(*) FROM raw_key_use")[0]
    assert raw == raw_clean
    usage = run("usage", "--db", db, "--format", "json")
    assert_matches_truth(usage.stdout, archive / "truth.json")


# ---- credentials, options, packaging ----------------------------------------------------------


def test_credentials_never_appear_in_output_logs_or_store(
    aws: EmulatorServer, org_archive: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    keys = upload(org_archive)
    aws.faults.deny_s3_get(BUCKET, log_keys(keys)[0])
    aws.faults.deny_s3_list(BUCKET, f"AWSLogs/{ORG}/{log_keys(keys)[-1].split('/')[2]}/")
    db = tmp_path / "c.duckdb"
    caplog.set_level(logging.DEBUG, logger="keytrail")  # keytrail's own log (botocore's DEBUG log is not ours)
    outputs = []
    for args in (
        ["ingest", f"s3://{BUCKET}/", "--db", str(db), "--workers", "1"],
        ["usage", f"s3://{BUCKET}/", "--workers", "1", "--format", "json"],
        ["usage", "s3://no-such-bucket-here/", "--workers", "1"],
        ["usage", f"s3://{BUCKET}/", "--profile", "no-such-profile", "--workers", "1"],
    ):
        result = run(*args)
        outputs += [result.stdout, result.stderr, str(result.exception or "")]
    assert any("access denied" in o for o in outputs)
    assert any("no-such-profile" in o for o in outputs)
    for secret in (SECRET_ACCESS_KEY, SESSION_TOKEN):
        assert all(secret not in o for o in outputs)
        assert secret not in caplog.text
        assert secret.encode() not in db.read_bytes()


def test_unknown_profile_and_missing_bucket_are_usage_errors(aws: EmulatorServer) -> None:
    result = run("usage", f"s3://{BUCKET}/", "--profile", "no-such-profile")
    assert result.exit_code == 2
    assert result.stderr.strip() == "keytrail: error: AWS profile not found: no-such-profile"
    result = run("usage", "s3://no-such-bucket-here/", "--workers", "1")
    assert result.exit_code == 2
    assert "NoSuchBucket" in result.stderr


@pytest.mark.parametrize(
    "spec, options, message",
    [
        ("s3://", SourceOptions(), "not an S3 URL"),
        ("s3://Bad_Bucket/x", SourceOptions(), "not an S3 URL"),
        ("s3://bucket/", SourceOptions(accounts=("12345",)), "not a 12-digit account id"),
        ("s3://bucket/", SourceOptions(regions=("moon-1",)), "not a Region name"),
        ("s3://bucket/", SourceOptions(since="yesterday"), "not an ISO-8601"),
        ("s3://bucket/", SourceOptions(since="2026-10-02", until="2026-10-01"), "until must be after since"),
    ],
)
def test_bad_s3_options_are_usage_errors(spec: str, options: SourceOptions, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        open_s3(spec, options)


def test_url_parsing_and_pickling() -> None:
    assert parse_s3_url("s3://my-bucket") == ("my-bucket", "")
    assert parse_s3_url("s3://my-bucket/AWSLogs/o-1/") == ("my-bucket", "AWSLogs/o-1/")
    source = open_s3("s3://my-bucket/AWSLogs/", SourceOptions(profile="p", region="eu-west-1", accounts=("111111111111",)))
    assert pickle.loads(pickle.dumps(source)) == source  # worker processes receive it


def test_without_boto3_the_message_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from keytrail.sources import aws as aws_module

    aws_module.forget_clients()
    monkeypatch.setitem(sys.modules, "boto3", None)  # as if it were not installed
    source = open_s3("s3://my-bucket/", SourceOptions())
    with pytest.raises(UsageError, match=r"pip install 'keytrail\[aws\]'"):
        list(source.files())
    aws_module.forget_clients()


def test_a_prefix_with_no_cloudtrail_log_file_is_an_error_not_an_empty_report(aws: EmulatorServer) -> None:
    s3 = client("s3")
    s3.create_bucket(Bucket="quiet-bucket")
    s3.put_object(Bucket="quiet-bucket", Key="exports/readme.txt", Body=b"x")
    result = run("usage", "s3://quiet-bucket/nothing-here/", "--workers", "1")
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == "keytrail: error: s3://quiet-bucket/nothing-here/: no CloudTrail log file: nothing was found there\n"
