"""keytrail in Japanese and in the user's time zone, as the command line runs it: the language from
--lang or LC_ALL/LC_MESSAGES/LANG, times from --tz or TZ, and JSON and CSV unchanged by either."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from keytrail.cli.main import cli
from keytrail.sources.sample import sample_dir

SAMPLE = str(sample_dir())


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    result = CliRunner().invoke(cli, list(args), env=env)
    assert result.exit_code == 0, result.output
    return result


def _row(text: str, name: str) -> str:
    (line,) = [line for line in text.splitlines() if name in line and "arn:aws:iam" in line]
    return line


def test_lang_ja_from_the_environment_says_encrypt_and_decrypt_in_japanese() -> None:
    out = run("demo", env={"LANG": "ja_JP.UTF-8"}).stdout
    assert "暗号化" in out and "復号" in out
    assert "alias/blog-bucket-key を使っているのは誰か" in out
    assert re.search(r"user/test-user\s+IAMUser\s+8\s+12\s", _row(out, "test-user")), _row(out, "test-user")


@pytest.mark.parametrize(
    "env",
    [{"LC_ALL": "ja_JP.UTF-8", "LANG": "C"}, {"LC_MESSAGES": "ja_JP.UTF-8", "LANG": "en_US.UTF-8"}, {"LANG": "ja_JP"}],
)
def test_lc_all_and_lc_messages_choose_japanese_too(env: dict[str, str]) -> None:
    assert "暗号化" in run("demo", env=env).stdout


def test_lang_en_wins_over_the_environment() -> None:
    out = run("demo", "--lang", "en", env={"LANG": "ja_JP.UTF-8"}).stdout
    assert out.startswith("Keys in the sample trail (37 records)")
    assert "Who uses alias/blog-bucket-key?" in out and "encrypt" in out
    assert not re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", out)
    assert out == run("demo").stdout  # the same as with no language asked for


def test_tz_shows_the_first_upload_at_1705_in_tokyo() -> None:
    out = run("demo", "--tz", "Asia/Tokyo").stdout
    row = _row(out, "test-user")
    assert "2026-11-02T17:05:00+09:00" in row and "2026-11-02T18:23:00+09:00" in row
    assert "08:05" not in row


def test_tz_comes_from_the_environment() -> None:
    assert "2026-11-02T17:05:00+09:00" in _row(run("demo", env={"TZ": "Asia/Tokyo"}).stdout, "test-user")
    assert "2026-11-02T03:05:00-05:00" in _row(run("demo", env={"TZ": "America/New_York"}).stdout, "test-user")
    assert "2026-11-02T17:05:00+09:00" in _row(run("demo", env={"TZ": "JST-9"}).stdout, "test-user")


def test_a_zone_that_is_none_is_a_usage_error_in_the_chosen_language() -> None:
    result = CliRunner().invoke(cli, ["demo", "--lang", "ja", "--tz", "Mars/Olympus"])
    assert result.exit_code == 2
    assert result.stderr == (
        "keytrail: エラー: --tz: 'Mars/Olympus' はタイムゾーンではありません (Asia/Tokyo のような IANA の名前か、"
        "+09:00 のようなオフセットを指定してください)\n"
    )
    english = CliRunner().invoke(cli, ["demo", "--tz", "Mars/Olympus"])
    assert english.exit_code == 2
    assert english.stderr == ("keytrail: error: --tz: 'Mars/Olympus' is not a time zone (an IANA name such as "
                              "Asia/Tokyo, or an offset such as +09:00)\n")


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_json_and_csv_stay_english_and_utc(fmt: str) -> None:
    english = run("usage", SAMPLE, "--format", fmt, "-q").stdout
    assert run("usage", SAMPLE, "--format", fmt, "-q", "--lang", "ja", "--tz", "Asia/Tokyo").stdout == english
    assert "2026-11-02T08:05:00Z" in english


def test_findings_json_keeps_its_fields_and_values_english() -> None:
    english = json.loads(run("findings", SAMPLE, "--format", "json", "-q").stdout)
    japanese = json.loads(run("findings", SAMPLE, "--format", "json", "-q", "--lang", "ja", "--tz", "Asia/Tokyo").stdout)
    assert [set(f) for f in japanese] == [set(f) for f in english]
    for en, ja in zip(english, japanese, strict=True):
        for field in ("kind", "severity", "key", "principal", "evidence", "evidence_count", "details"):
            assert ja[field] == en[field]
        assert ja["summary"] != en["summary"]
        assert re.search(r"[\u3040-\u30ff]", ja["summary"] + ja["recommendation"])


def test_markdown_follows_the_language_and_the_zone() -> None:
    md = run("usage", SAMPLE, "--format", "md", "-q", "--lang", "ja", "--tz", "Asia/Tokyo").stdout
    assert md.startswith("| キー | プリンシパル | タイプ | 暗号化 | 復号 |")
    assert "2026\\-11\\-02T17:05:00+09:00" in md or "2026-11-02T17:05:00+09:00" in md


def test_the_report_in_japanese(tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    run("report", SAMPLE, "--lang", "ja", "-o", str(out), "-q")
    html = out.read_text(encoding="utf-8")
    assert '<html lang="ja">' in html
    assert "<h1>KMS キーの使用状況</h1>" in html
    locale = re.search(r'<script type="application/json" id="keytrail-locale">(.*?)</script>', html, re.S)
    assert locale
    table = json.loads(locale.group(1))
    assert table["lang"] == "ja"
    words = table["words"]  # the page's headings, as its script draws them
    assert [words[h] for h in ("Summary", "Findings", "Keys", "Principals", "Operations")] == [
        "概要", "検出結果", "キー", "プリンシパル", "オペレーション"]
    english = tmp_path / "en.html"
    run("report", SAMPLE, "-o", str(english), "-q")
    assert '<html lang="en">' in english.read_text(encoding="utf-8")
