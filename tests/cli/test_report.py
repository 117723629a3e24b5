"""keytrail report: the command writes one self-contained HTML file."""

from __future__ import annotations

import json
import re
from pathlib import Path

from click.testing import CliRunner

from keytrail.cli.main import cli
from tests.render.hostile_trail import KEY_ARN, write_hostile_archive


def _data(html: str) -> dict[str, object]:
    m = re.search(r'<script type="application/json" id="keytrail-data">(.*?)</script>', html, re.S)
    assert m
    return json.loads(m.group(1))  # type: ignore[no-any-return]


def test_report_writes_the_file_and_says_so(tmp_path: Path) -> None:
    root = write_hostile_archive(tmp_path / "trail")
    out = tmp_path / "report.html"
    result = CliRunner().invoke(cli, ["report", str(root), "-o", str(out), "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert result.stderr.splitlines()[-1] == f"keytrail: wrote {out}: 1 key(s), 20 principal(s), 35 call(s)"
    html = out.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>")
    data = _data(html)
    assert [k["key"] for k in data["keys"]] == [KEY_ARN]  # type: ignore[index]
    assert data["summary"]["ingest"]["files_ingested"] == 1  # type: ignore[index]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html", "trail"]  # no temporary file left
    assert out.stat().st_mode & 0o777 == 0o600  # reports hold access key ids and source IPs


def test_report_to_stdout_with_a_title_and_filters(tmp_path: Path) -> None:
    root = write_hostile_archive(tmp_path / "trail")
    db = tmp_path / "t.duckdb"
    assert CliRunner().invoke(cli, ["ingest", str(root), "--db", str(db), "-q", "--workers", "1"]).exit_code == 0
    result = CliRunner().invoke(
        cli, ["report", "--db", str(db), "--key", "alias/javascript:alert(1)", "--since", "2026-10-01T00:20:00Z",
              "--title", "Ticket <SEC-1>"]
    )
    assert result.exit_code == 0, result.output
    assert "<title>Ticket &lt;SEC-1&gt;</title>" in result.stdout
    data = _data(result.stdout)
    summary = data["summary"]
    assert summary["filters"] == ["key: alias/javascript:alert(1)"]  # type: ignore[index]
    assert summary["since"] == "2026-10-01T00:20:00Z"  # type: ignore[index]
    assert summary["window_start"] >= "2026-10-01T00:20:00Z"  # type: ignore[index,operator]


def test_report_of_a_key_with_no_calls_in_the_window_is_an_empty_report(tmp_path: Path) -> None:
    root = write_hostile_archive(tmp_path / "trail")
    out = tmp_path / "r.html"
    result = CliRunner().invoke(cli, ["report", str(root), "--key", KEY_ARN, "--since", "2026-11-01", "-o", str(out),
                                      "-q", "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    assert _data(out.read_text(encoding="utf-8"))["keys"] == []


def test_report_of_a_key_the_store_does_not_know_is_refused(tmp_path: Path) -> None:
    root = write_hostile_archive(tmp_path / "trail")
    out = tmp_path / "r.html"
    result = CliRunner().invoke(cli, ["report", str(root), "--key", "alias/none", "-o", str(out), "-q", "--workers", "1"])
    assert (result.exit_code, result.stderr) == (2, "keytrail: error: alias/none: no key of that name in the store; "
                                                    "`keytrail keys` lists the 1 key(s) it knows\n")
    assert not out.exists()


def test_report_needs_a_source() -> None:
    result = CliRunner().invoke(cli, ["report", "-o", "x.html"])
    assert result.exit_code == 2
    assert result.stderr == "keytrail: error: give SOURCE paths or URLs, or --db FILE (or set KEYTRAIL_DB; see --help)\n"


def test_report_is_partial_when_input_is_unreadable(tmp_path: Path) -> None:
    root = write_hostile_archive(tmp_path / "trail")
    (root / "broken.json").write_text('{"Records": [', encoding="utf-8")
    out = tmp_path / "r.html"
    result = CliRunner().invoke(cli, ["report", str(root), "-o", str(out), "-q", "--workers", "1"])
    assert result.exit_code == 3
    assert out.exists()
    summary = _data(out.read_text(encoding="utf-8"))["summary"]
    assert summary["files_error"] == 1  # type: ignore[index]
    assert [g["status"] for g in summary["skipped"]] == ["error", "skipped"]  # type: ignore[index]
    assert len(summary["ingest"]["errors"]) == 1  # type: ignore[index]


def test_report_help_names_the_output() -> None:
    result = CliRunner().invoke(cli, ["report", "--help"])
    assert result.exit_code == 0
    assert "Write the HTML report to FILE" in result.output
