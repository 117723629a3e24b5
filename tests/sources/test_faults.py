"""Every AWS source through a proxy that fails 20% of requests (tests/fault_proxy.py): the answer
equals the fault-free run, the exit code is 0, and the retries are counted (``--verbose`` names them)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from keytrail.cli.main import cli
from keytrail.sources import aws as aws_module
from keytrail.sources import lookup as lookup_module
from keytrail.sources.retry import RETRIES, RetryPolicy
from tests.aws_server import EmulatorServer, aws_env, client
from tests.conftest import CHECK_TRUTH, gen_trail
from tests.fault_proxy import FAST, FaultPlan, FaultProxy, through

BUCKET = "org-trail"
@pytest.fixture
def proxy(aws: EmulatorServer) -> Iterator[FaultProxy]:
    p = FaultProxy(aws.url, FaultPlan(rate=0.2, seed=31))
    p.start()
    yield p
    p.stop()


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args))


@pytest.fixture(scope="module")
def seed31(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The issue's archive: gen_trail --events 8000 --seed 31 --org --accounts 2 --regions 2."""
    out = tmp_path_factory.mktemp("faults") / "trail"
    gen_trail(out, "--events", "8000", "--seed", "31", "--org", "--accounts", "2", "--regions", "2")
    return out


def upload(trail: Path) -> int:
    s3 = client("s3")
    s3.create_bucket(Bucket=BUCKET)
    files = [p for p in sorted((trail / "AWSLogs").rglob("*")) if p.is_file()]
    for p in files:
        s3.put_object(Bucket=BUCKET, Key=str(p.relative_to(trail)), Body=p.read_bytes())
    return sum(1 for p in files if "/CloudTrail/" in str(p))


def check_truth(usage_json: str, truth: Path, tmp_path: Path) -> None:
    got = tmp_path / "usage.json"
    got.write_text(usage_json)
    result = subprocess.run([sys.executable, str(CHECK_TRUTH), str(got), str(truth)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


# ---- S3 ----------------------------------------------------------------------------------------


def test_s3_at_20_percent_faults_equals_truth_with_worker_processes(
    aws: EmulatorServer, proxy: FaultProxy, seed31: Path, tmp_path: Path
) -> None:
    """The acceptance run: the real CLI, two worker processes downloading through the proxy."""
    files = upload(seed31)
    env = {**os.environ, **aws_env(proxy.url), **FAST}
    p = subprocess.run(
        [sys.executable, "-m", "keytrail", "usage", f"s3://{BUCKET}/", "--format", "json", "--workers", "2", "--verbose"],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert p.returncode == 0, "\n".join(ln for ln in p.stderr.splitlines() if "retried: " not in ln)
    check_truth(p.stdout, seed31 / "truth.json", tmp_path)
    assert f" in {files} files" in p.stderr
    assert "unreadable" not in p.stderr
    named = [ln for ln in p.stderr.splitlines() if ln.startswith("keytrail: retried: ")]
    summary = next(ln for ln in p.stderr.splitlines() if "to AWS retried" in ln)
    retried = int(summary.split(" to AWS retried")[0].rsplit("; ", 1)[-1].split(" request")[0].replace(",", ""))
    assert retried == len(named) > 0
    print(f"fault proxy: {proxy.requests} requests, faults {dict(proxy.applied)}, {retried} retried")
    assert {"reset-body", "slow"} <= set(proxy.applied) and len(proxy.applied) >= 5
    assert any("ResponseStreamingError" in ln for ln in named)  # a body cut mid-stream, read again
    assert any("ReadTimeoutError" in ln or "Read timeout" in ln for ln in named)


def test_s3_in_process_counts_what_it_retried(
    aws: EmulatorServer, proxy: FaultProxy, seed31: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    upload(seed31)
    clean = run("usage", f"s3://{BUCKET}/", "--format", "json", "--workers", "1")
    assert clean.exit_code == 0, clean.stderr
    assert "retried" not in clean.stderr
    through(proxy, monkeypatch)
    faulty = run("usage", f"s3://{BUCKET}/", "--format", "json", "--workers", "1")
    assert faulty.exit_code == 0, faulty.stderr
    assert faulty.stdout == clean.stdout
    assert sum(proxy.applied.values()) > 0
    assert "to AWS retried" in faulty.stderr
    print(f"fault proxy: {proxy.requests} requests, faults {dict(proxy.applied)}")
    assert "keytrail: retried:" not in faulty.stderr  # named only with --verbose


# ---- Event history, Athena, inventory, verify ---------------------------------------------------


def test_lookup_at_20_percent_faults_equals_the_fault_free_run(
    history: Path, aws: EmulatorServer, proxy: FaultProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lookup_module, "DEFAULT_RATE", 100.0)
    args = ["usage", "lookup://", "--regions", "us-east-1,ap-northeast-1", "--since", "2026-10-01", "--until", "2026-10-02",
            "--format", "json"]
    clean = run(*args)
    assert clean.exit_code == 0, clean.stderr
    through(proxy, monkeypatch)
    faulty = run(*args, "--verbose")
    assert faulty.exit_code == 0, faulty.stderr
    assert faulty.stdout == clean.stdout
    assert "to AWS retried" in faulty.stderr
    print(f"fault proxy: {proxy.requests} requests, faults {dict(proxy.applied)}")
    assert "keytrail: retried: " in faulty.stderr


def test_athena_at_20_percent_faults_equals_the_fault_free_run(
    athena: EmulatorServer, proxy: FaultProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    args = ["usage", "athena://cloudtrail.logs_projection?workgroup=primary", "--since", "2026-10-01",
            "--until", "2026-10-02", "--format", "json"]  # fmt: skip
    clean = run(*args)
    assert clean.exit_code == 0, clean.stderr
    through(proxy, monkeypatch)
    faulty = run(*args)
    assert faulty.exit_code == 0, faulty.stderr
    assert faulty.stdout == clean.stdout
    assert "to AWS retried" in faulty.stderr
    print(f"fault proxy: {proxy.requests} requests, faults {dict(proxy.applied)}")


def test_inventory_at_20_percent_faults_equals_the_fault_free_run(
    aws: EmulatorServer, proxy: FaultProxy, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    kms = client("kms")
    for i in range(6):
        key = kms.create_key(Description=f"key {i}")["KeyMetadata"]["KeyId"]
        kms.create_alias(AliasName=f"alias/k{i}", TargetKeyId=key)
        kms.create_grant(KeyId=key, GranteePrincipal="arn:aws:iam::123456789012:role/R", Operations=["Decrypt"])
    clean = run("inventory", "--db", str(tmp_path / "a.duckdb"), "--regions", "us-east-1", "--format", "json")
    assert clean.exit_code == 0, clean.stderr
    through(proxy, monkeypatch)
    faulty = run("inventory", "--db", str(tmp_path / "b.duckdb"), "--regions", "us-east-1", "--format", "json", "--verbose")
    assert faulty.exit_code == 0, faulty.stderr
    assert _without_times(faulty.stdout) == _without_times(clean.stdout)
    assert "to AWS retried" in faulty.stderr
    print(f"fault proxy: {proxy.requests} requests, faults {dict(proxy.applied)}")


def _without_times(text: str) -> Any:
    rows = json.loads(text)
    for row in rows if isinstance(rows, list) else rows.get("rows", []):
        row.pop("taken_at", None)
    return rows


def test_verify_of_an_s3_archive_at_20_percent_faults_equals_the_fault_free_run(
    aws: EmulatorServer, proxy: FaultProxy, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from keytrail.verify import parse_public_keys, verify_archive
    from tests.factory.signed import TrailSigner, build_archive, public_keys_json

    signer = TrailSigner.generate()
    built = build_archive(tmp_path / "archive", signer, hours=12, write_signatures=True)
    s3 = client("s3")
    s3.create_bucket(Bucket=built.bucket)
    for path in built.logs:
        s3.put_object(Bucket=built.bucket, Key=path.relative_to(built.root).as_posix(), Body=path.read_bytes())
    for path in built.digests:
        s3.put_object(Bucket=built.bucket, Key=path.relative_to(built.root).as_posix(), Body=path.read_bytes(),
                      Metadata={"signature": built.signatures[path], "signature-algorithm": "SHA256withRSA"})
    keys = parse_public_keys(public_keys_json([signer]))
    clean = verify_archive([f"s3://{built.bucket}/AWSLogs/"], keys)
    assert clean.ok and len(clean.logs) == 24
    through(proxy, monkeypatch)
    faulty = verify_archive([f"s3://{built.bucket}/AWSLogs/"], keys)
    assert faulty.ok
    assert [(r.uri, r.status) for r in faulty.digests + faulty.logs] == [(r.uri, r.status) for r in clean.digests + clean.logs]
    assert sum(proxy.applied.values()) > 0
    assert RETRIES.take()[0] > 0


# ---- the policy itself ---------------------------------------------------------------------------


def test_a_body_broken_every_time_is_given_up_after_the_attempts_and_named(
    aws: EmulatorServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    s3 = client("s3")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="AWSLogs/123456789012/CloudTrail/us-east-1/2026/11/20/a.json", Body=b'{"Records": []}' * 10)
    p = FaultProxy(aws.url, FaultPlan(rate=1.0, kinds=("reset-body",), max_in_a_row=100))
    # every answer is cut: the one file is given up, named, and nothing is left to answer with (exit 2)
    p.start()
    try:
        through(p, monkeypatch)
        monkeypatch.setenv("KEYTRAIL_AWS_ATTEMPTS", "3")
        monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")
        result = run("usage", f"s3://{BUCKET}/AWSLogs/123456789012/CloudTrail/us-east-1/2026/11/20/a.json", "--format", "json")
    finally:
        p.stop()
    assert result.exit_code == 2
    assert "keytrail: error: s3://org-trail/AWSLogs/123456789012/CloudTrail/us-east-1/2026/11/20/a.json: " in result.stderr
    assert "(after 3 attempts)" in result.stderr


def test_a_body_broken_mid_stream_is_read_on_from_the_bytes_received(
    aws: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = bytes(range(256)) * 4096  # 1 MiB
    s3 = client("s3")
    s3.create_bucket(Bucket=BUCKET)
    etag = s3.put_object(Bucket=BUCKET, Key="big.json", Body=body)["ETag"]
    p = FaultProxy(aws.url, FaultPlan(rate=1.0, kinds=("reset-body",), max_in_a_row=1))
    p.start()
    try:
        through(p, monkeypatch)
        got = RetryPolicy.from_env().read_object(aws_module.AwsConfig().client("s3"), BUCKET, "big.json", etag)
    finally:
        p.stop()
    assert got == body
    count, notes = RETRIES.take()
    assert count == 1
    assert re.match(r"s3://org-trail/big\.json: body broken after [\d,]+ bytes: ResponseStreamingError", notes[0])
    assert notes[0].endswith("; read on from there")


def test_the_policy_reads_the_environment() -> None:
    policy = RetryPolicy.from_env({"AWS_MAX_ATTEMPTS": "4", "AWS_RETRY_MODE": "standard", "KEYTRAIL_AWS_READ_TIMEOUT": "7"})
    assert (policy.max_attempts, policy.mode, policy.read_timeout) == (4, "standard", 7.0)
    config = policy.config()
    assert config.read_timeout == 7.0 and config.connect_timeout == 10.0
    assert config.retries == {"mode": "standard", "total_max_attempts": 4}
    delays = list(RetryPolicy(attempts=6, base_delay=1, max_delay=5).delays())
    assert len(delays) == 5 and all(0 <= d <= min(5, 2**i) for i, d in enumerate(delays))
