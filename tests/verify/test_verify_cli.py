"""keytrail verify: exact output and exit codes."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from keytrail.cli.verify import verify
from keytrail.render.safe import markdown
from tests.factory.signed import BuiltArchive, TrailSigner, build_archive, public_keys_json

MISSING = ("s3://example-trail-bucket/AWSLogs/111122223333/CloudTrail/us-east-1/2026/01/05/"
           "111122223333_CloudTrail_us-east-1_20260105T1020Z_cad33780ed1a7c08.json.gz")
PROBLEM = ("listed in digest 111122223333_CloudTrail-Digest_us-east-1_management-trail_us-east-1_20260105T110031Z.json.gz, "
           "not in the archive")
SUMMARY = ("FAILED: 1 log file missing; 2 digest files and 3 log files verified "
           "(digests from 2026-01-05T10:00:31Z to 2026-01-05T12:00:31Z)")


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, signer: TrailSigner) -> Path:
    """A working directory with keys.json; paths in the output are relative to it."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "keys.json").write_bytes(public_keys_json([signer]))
    return tmp_path


@pytest.fixture
def two_hours(workdir: Path, signer: TrailSigner) -> BuiltArchive:
    return build_archive(Path("archive"), signer, hours=2, write_signatures=True)


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(verify, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_a_verified_archive_prints_the_summary_and_exits_0(two_hours: BuiltArchive) -> None:
    assert invoke("archive", "--public-keys", "keys.json") == (
        0, "OK: 2 digest files and 4 log files verified (digests from 2026-01-05T10:00:31Z to 2026-01-05T12:00:31Z)\n", "")


def test_a_missing_log_file_is_a_table_row_and_exit_1(two_hours: BuiltArchive) -> None:
    two_hours.logs[1].unlink()
    width = len(MISSING)
    assert invoke("archive", "--public-keys", "keys.json") == (1, "\n".join([
        "",
        f"  status   {'file':<{width}}   problem",
        " " + "─" * (2 + 6 + 3 + width + 3 + len(PROBLEM)),
        f"  FAILED   {MISSING}   {PROBLEM}",
        "",
        SUMMARY,
        "",
    ]), "")


def test_markdown(two_hours: BuiltArchive) -> None:
    two_hours.logs[1].unlink()
    assert invoke("archive", "--public-keys", "keys.json", "--format", "md") == (1, (
        "### Log file integrity\n\n"
        "| status | file | problem |\n"
        "| --- | --- | --- |\n"
        f"| FAILED | {markdown(MISSING)} | {markdown(PROBLEM)} |\n\n"
        f"**{markdown(SUMMARY)}**\n"), "")
    # escaped so that no renderer turns the S3 URI into a link or the underscores into emphasis
    assert markdown(MISSING) == ("s3:/\\/example-trail-bucket/AWSLogs/111122223333/CloudTrail/us-east-1/2026/01/05/"
                                 "111122223333\\_CloudTrail\\_us-east-1\\_20260105T1020Z\\_cad33780ed1a7c08\\.json\\.gz")


def test_json(two_hours: BuiltArchive) -> None:
    two_hours.logs[1].unlink()
    code, out, _ = invoke("archive", "--public-keys", "keys.json", "--format", "json")
    report = orjson.loads(out)
    assert code == 1 and report["ok"] is False and report["summary"] == SUMMARY
    assert report["findings"] == [{"level": "failed", "kind": "log-missing", "uri": MISSING,
                                   "key": MISSING.removeprefix("s3://example-trail-bucket/"), "message": PROBLEM}]
    assert report["counts"] == {"digests": {"verified": 2}, "logs": {"verified": 3}, "findings": {"failed": 1}}
    assert report["digests"][0]["uri"] == str(two_hours.digests[0].resolve())


def test_output_file(two_hours: BuiltArchive, workdir: Path) -> None:
    assert invoke("archive", "--public-keys", "keys.json", "-o", "report.md", "--format", "md")[:2] == (0, "")
    assert (workdir / "report.md").read_text().startswith("**OK: 2 digest files and 4 log files verified")


def test_without_public_keys_warns(two_hours: BuiltArchive) -> None:
    code, out, _ = invoke("archive")
    assert code == 0
    assert "  WARNING   " in out and "no public keys given: digest signatures were not checked" in out
    assert out.endswith("digest signatures not checked (no public keys given), 4 log files covered only by "
                        "unverified digests\n")


def test_unreadable_input_exits_3(workdir: Path) -> None:
    assert invoke("nowhere", "--public-keys", "keys.json") == (3, "\n".join([
        "",
        "  status       file      problem",
        " " + "─" * 50,
        "  UNREADABLE   nowhere   no such file or directory",
        "",
        "INCOMPLETE: 1 file unreadable; 0 digest files and 0 log files verified",
        "",
    ]), "")


def test_an_unreadable_public_keys_file_exits_3(two_hours: BuiltArchive) -> None:
    assert invoke("archive", "--public-keys", "nokeys.json") == (
        3, "", "keytrail: error: nokeys.json: cannot read: No such file or directory\n")


def test_usage_errors_exit_2(workdir: Path) -> None:
    code, _, err = invoke()
    assert code == 2 and err.endswith("Error: Missing argument 'SOURCE...'.\n")
    assert invoke("-") == (2, "", "keytrail: error: standard input cannot be verified: give the archive's files or directory\n")
    code, _, err = invoke("archive", "--format", "csv")
    assert code == 2 and "Invalid value for '--format'" in err


def test_the_command_is_registered() -> None:
    from keytrail.cli.main import cli

    result = CliRunner().invoke(cli, ["verify", "--help"])
    assert result.exit_code == 0 and "Usage: cli verify [OPTIONS] SOURCE..." in result.stdout


def test_public_keys_of_several_regions(workdir: Path, signer: TrailSigner, forger: TrailSigner) -> None:
    """list-public-keys answers for one Region: a file per Region, the option repeated."""
    build_archive(Path("archive"), signer, region="us-east-1", write_signatures=True)
    build_archive(Path("archive"), forger, region="eu-west-1", write_signatures=True)
    (workdir / "eu.json").write_bytes(public_keys_json([forger]))
    code, out, _ = invoke("archive", "--public-keys", "keys.json", "--public-keys", "eu.json")
    assert (code, out) == (0, "OK: 6 digest files and 12 log files verified "
                              "(digests from 2026-01-05T10:00:31Z to 2026-01-05T13:00:31Z)\n")
    assert invoke("archive", "--public-keys", "keys.json")[0] == 1
