"""What keytrail says in Japanese beyond the tables: the digest verification's findings and summary,
suggest-policy's explanation and reasons, the remote sources' errors, and key policy parse errors;
with the machine-readable parts (JSON fields and enumerated values, the policy document) English."""

from __future__ import annotations

import json
import re
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner, Result

from keytrail import i18n
from keytrail.analysis.policy import parse_policy
from keytrail.cli.main import cli
from keytrail.errors import PolicyError
from keytrail.sources.sample import sample_dir
from tests.factory.signed import BuiltArchive, TrailSigner, build_archive, public_keys_json

SAMPLE = str(sample_dir())
JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")
KEY = "arn:aws:kms:us-east-1:111122223333:key/0987dcba-09fe-87dc-65ba-ab0987654321"


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


# ---- keytrail verify ------------------------------------------------------------------------------


@pytest.fixture
def archive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> BuiltArchive:
    monkeypatch.chdir(tmp_path)
    signer = TrailSigner.generate()
    (tmp_path / "keys.json").write_bytes(public_keys_json([signer]))
    return build_archive(Path("archive"), signer, hours=2, write_signatures=True)


def test_verify_says_its_verdict_and_summary_in_japanese(archive: BuiltArchive) -> None:
    result = invoke("verify", "archive", "--public-keys", "keys.json", "--lang", "ja", "--tz", "Asia/Tokyo")
    assert (result.exit_code, result.stderr) == (0, "")
    assert result.stdout == ("OK: ダイジェストファイル 2 個とログファイル 4 個を検証済み (ダイジェストの期間 "
                             "2026-01-05T19:00:31+09:00 ～ 2026-01-05T21:00:31+09:00)\n")


def test_verify_says_what_failed_in_japanese_and_keeps_json_values_english(archive: BuiltArchive) -> None:
    archive.logs[1].unlink()
    result = invoke("verify", "archive", "--public-keys", "keys.json", "--lang", "ja")
    assert result.exit_code == 1
    assert re.search(r"状態\s+ファイル\s+問題", result.stdout)
    assert re.search(r"失敗\s+s3://example-trail-bucket/\S+\s+ダイジェスト \S+ に記載されていますが、アーカイブにありません",
                     result.stdout), result.stdout
    assert result.stdout.splitlines()[-1] == ("失敗: 見つからないログファイル 1 個。ダイジェストファイル 2 個とログファイル "
                                              "3 個を検証済み (ダイジェストの期間 2026-01-05T10:00:31Z ～ "
                                              "2026-01-05T12:00:31Z)")
    data = json.loads(invoke("verify", "archive", "--public-keys", "keys.json", "--lang", "ja", "--format", "json").stdout)
    assert [(f["level"], f["kind"]) for f in data["findings"]] == [("failed", "log-missing")]
    assert data["summary"].startswith("失敗: ") and data["ok"] is False  # the words follow --lang, the values do not


def test_verify_without_public_keys_warns_in_japanese(archive: BuiltArchive) -> None:
    result = invoke("verify", "archive", "--lang", "ja")
    assert "公開鍵の指定がありません: ダイジェストの署名は確認せず、ハッシュとチェーンだけを確認しました" in result.stdout
    assert re.search(r"警告\s+公開鍵", result.stdout)


def test_a_public_keys_file_that_is_not_one_is_said_in_japanese(archive: BuiltArchive) -> None:
    Path("keys.json").write_text('{"PublicKeyList": []}')
    result = invoke("verify", "archive", "--public-keys", "keys.json", "--lang", "ja")
    assert result.stderr == "keytrail: エラー: keys.json: PublicKeyList が空です\n"


# ---- suggest-policy ---------------------------------------------------------------------------------


def test_suggest_policy_explains_in_japanese_and_writes_the_policy_as_aws_reads_it(tmp_path: Path) -> None:
    policy = tmp_path / "policy.json"
    result = invoke("suggest-policy", "alias/app-data", SAMPLE, "--explain", "--lang", "ja", "--tz", "Asia/Tokyo",
                    "-q", "-o", str(policy))
    assert result.exit_code == 0, result.stderr
    said = result.stderr
    assert said.startswith(f"# {KEY} の権限の絞り込み\n\n- 期間: 2026-11-02T17:00:00+09:00 ～ ")
    for heading in ("記録からはわからないこと", "ステートメント", "削除", "追加", "維持", "アクセスを失うプリンシパル",
                    "期間中に使われなかったグラント", "提案するポリシー"):
        assert f"\n## {heading}\n" in said, heading
    assert "| プリンシパル | アクション | 理由 |" in said
    assert "期間中に使用 (kms:Decrypt 3 回、最後は 2026-11-02T18:05:00+09:00" in said.replace("\\", "")
    assert "- **no-inventory**: インベントリにこのキーのキーポリシーがありません" in said  # the kind stays as machines read it
    assert "kms:ViaService なし: 呼び出し 6 件のうち 6 件はサービスを介さない直接の呼び出しです" in said
    document = orjson.loads(policy.read_bytes())
    assert [s["Sid"] for s in document["Statement"]] == ["Enable IAM policies for key administration",
                                                          "Allow use of the key"]
    assert not JAPANESE.search(policy.read_text(encoding="utf-8"))


def test_suggest_policy_summary_and_json_in_japanese(tmp_path: Path) -> None:
    result = invoke("suggest-policy", "alias/app-data", SAMPLE, "--lang", "ja", "-o", str(tmp_path / "p.json"))
    assert result.exit_code == 0, result.stderr
    lines = result.stderr.splitlines()
    assert f"keytrail: {KEY}: ステートメント 2 個" in lines
    assert "keytrail: 期間中の呼び出しの再生: 呼び出し 7 件、拒否 0 件、許可 6 件、アカウントの IAM ポリシーによるもの 1 件" in lines
    assert any(line.startswith("keytrail: 警告: 期間は 0.1 日で、30 日に足りません") for line in lines)
    data = json.loads(invoke("suggest-policy", "alias/app-data", SAMPLE, "--lang", "ja", "--format", "json", "-q").stdout)
    assert {w["kind"] for w in data["warnings"]} >= {"short-window", "no-inventory", "not-evaluated"}
    assert data["policy"]["Statement"][0]["Sid"] == "Enable IAM policies for key administration"


def test_an_unknown_key_is_said_in_japanese() -> None:
    result = invoke("suggest-policy", "alias/none", SAMPLE, "--lang", "ja", "-q")
    assert result.exit_code == 2
    assert result.stderr == ("keytrail: エラー: alias/none: ストアにそのキーはありません "
                             "(呼び出しにもインベントリにも出てきません)\n")


# ---- remote sources -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "said"),
    [
        ("s3://Bad_Bucket/", "s3://Bad_Bucket/: S3 の URL ではありません (s3://BUCKET/[PREFIX])"),
        ("logs://my-group?colour=blue", "logs://my-group?colour=blue: 不明なパラメータ colour (使えるのは region)"),
        ("lookup://moon-1", "lookup://moon-1: リージョンではありません (lookup://us-east-1 とするか、lookup:// に "
                            "--regions を付けてください)"),
        ("athena://nodot", "athena://nodot: athena://DATABASE.TABLE の形で指定してください"),
    ],
)
def test_a_source_that_is_not_one_is_said_in_japanese(spec: str, said: str) -> None:
    result = invoke("usage", spec, "--lang", "ja")
    assert result.exit_code == 2
    assert result.stderr == f"keytrail: エラー: {said}\n"


# ---- key policies -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "reason"),
    [("[]", "JSON オブジェクトではありません"), ('{"Version": "2012-10-17"}', "Statement がありません")],
)
def test_a_key_policy_that_is_not_one_is_said_in_japanese(text: str, reason: str) -> None:
    i18n.use("ja")
    with pytest.raises(PolicyError) as raised:
        parse_policy(KEY, text)
    assert str(raised.value) == f"{KEY}: キーポリシーを読めません: {reason}"
    i18n.use("en")
    with pytest.raises(PolicyError, match="key policy cannot be read: not a JSON object"):
        parse_policy(KEY, "[]")


def test_an_unreadable_key_policy_json_keeps_the_parsers_reason() -> None:
    i18n.use("ja")
    with pytest.raises(PolicyError, match=r"キーポリシーを読めません: JSON ではありません \(.+\)"):
        parse_policy(KEY, "{")
