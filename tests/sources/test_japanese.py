"""The remote sources' errors in Japanese (against the local AWS of tests/aws_server.py): what
keytrail says around AWS's own error is in the chosen language, AWS's code and message as AWS sent them."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner, Result

from keytrail.cli.main import cli
from tests.aws_server import EmulatorServer


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def test_a_missing_bucket_and_an_unknown_profile_are_said_in_japanese(aws: EmulatorServer) -> None:
    result = invoke("usage", "s3://no-such-bucket-here/", "--workers", "1", "--lang", "ja")
    assert result.exit_code == 2
    assert result.stderr.startswith("keytrail: エラー: s3://no-such-bucket-here/ の一覧の取得: NoSuchBucket: ")
    result = invoke("usage", "s3://no-such-bucket-here/", "--profile", "no-such-profile", "--lang", "ja")
    assert result.stderr == "keytrail: エラー: AWS プロファイルが見つかりません: no-such-profile\n"


def test_an_unreachable_endpoint_is_said_in_japanese(aws: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens on the discard port
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    monkeypatch.setenv("KEYTRAIL_AWS_CONNECT_TIMEOUT", "1")
    result = invoke("usage", "s3://some-bucket/", "--workers", "1", "--lang", "ja")
    assert result.exit_code == 2
    assert re.fullmatch(r"keytrail: エラー: s3://some-bucket/ の一覧の取得: http://127\.0\.0\.1:9/\S+ に接続できません\n",
                        result.stderr), result.stderr
