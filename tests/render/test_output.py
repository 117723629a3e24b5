"""Report and chart files: written whole or not at all, never through a planted link, created 0600."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from keytrail.cli.main import cli
from keytrail.cli.writing import write_text
from keytrail.errors import OutputError, UsageError
from keytrail.render import output
from keytrail.render.output import write_output
from keytrail.sources.sample import sample_dir


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_file_is_private_whatever_the_umask(tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    old = os.umask(0o002)
    try:
        write_output(out, b"[]\n")
    finally:
        os.umask(old)
    assert out.read_bytes() == b"[]\n"
    assert mode(out) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_an_existing_file_keeps_its_mode_and_loses_its_old_content(tmp_path: Path) -> None:
    out = tmp_path / "shared.md"
    out.write_text("an older, longer report\n" * 100)
    out.chmod(0o644)
    write_output(out, b"new\n")
    assert (out.read_bytes(), mode(out)) == (b"new\n", 0o644)
    out.chmod(0o4755)  # set-id bits are never carried over
    write_output(out, b"newer\n")
    assert mode(out) == 0o755


def test_a_planted_link_at_the_target_is_replaced_not_followed(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    victim.chmod(0o644)
    out = tmp_path / "report.csv"
    out.symlink_to(victim)
    write_output(out, b"key,principal\n")
    assert victim.read_text() == "precious\n"
    assert mode(victim) == 0o644
    assert not out.is_symlink()
    assert out.read_bytes() == b"key,principal\n"
    assert mode(out) == 0o600  # the link's target lends the new file nothing


def test_a_dangling_link_at_the_target_is_replaced(tmp_path: Path) -> None:
    out = tmp_path / "report.csv"
    out.symlink_to(tmp_path / "would-be-created")
    write_output(out, b"x\n")
    assert not (tmp_path / "would-be-created").exists()
    assert (out.is_symlink(), out.read_bytes()) == (False, b"x\n")


def test_links_planted_at_every_predictable_temporary_name_are_never_followed(tmp_path: Path) -> None:
    """The names the old writer used (FILE.tmp-PID) and a guess at the new ones: none is opened."""
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    out = tmp_path / "report.html"
    planted = [f"report.html.tmp-{os.getpid()}", ".report.html.tmp", ".report.html..tmp", "report.html.tmp"]
    for name in planted:
        (tmp_path / name).symlink_to(victim)
    write_output(out, b"<!doctype html>\n")
    assert victim.read_text() == "precious\n"
    assert out.read_bytes() == b"<!doctype html>\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*planted, "report.html", "victim"])


def test_the_temporary_file_is_created_exclusively(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Even a link planted at the very name mkstemp draws is not followed: mkstemp draws another."""
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    names = iter(["guessed", "guessed", "fresh"])
    monkeypatch.setattr(tempfile, "_get_candidate_names", lambda: names)
    (tmp_path / ".report.json.guessed.tmp").symlink_to(victim)
    write_output(tmp_path / "report.json", b"{}\n")
    assert victim.read_text() == "precious\n"
    assert (tmp_path / "report.json").read_bytes() == b"{}\n"
    assert not (tmp_path / ".report.json.fresh.tmp").exists()


def test_a_failed_write_leaves_the_old_file_and_no_temporary_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "report.json"
    out.write_text("previous report\n")

    def full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(output.os, "fsync", full)
    with pytest.raises(OutputError) as e:
        write_output(out, b"new report\n")
    assert str(e.value) == f"{out}: cannot write the report: No space left on device"
    assert (e.value.path, e.value.reason) == (str(out), "No space left on device")
    assert out.read_text() == "previous report\n"
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_an_interrupt_leaves_no_temporary_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(src: str, dst: str) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(output.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_output(tmp_path / "chart.png", b"\x89PNG")
    assert list(tmp_path.iterdir()) == []


def test_a_directory_a_device_and_a_missing_directory_are_refused(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    with pytest.raises(OutputError, match="Is a directory"):
        write_output(tmp_path / "dir", b"x")
    with pytest.raises(OutputError, match="not a regular file"):
        write_output("/dev/null", b"x")
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(OutputError, match="not a regular file"):
        write_output(tmp_path / "fifo", b"x")
    (tmp_path / "to-null").symlink_to("/dev/null")
    with pytest.raises(OutputError, match="not a regular file"):
        write_output(tmp_path / "to-null", b"x")
    assert (tmp_path / "to-null").is_symlink()
    with pytest.raises(OutputError, match="No such file or directory"):
        write_output(tmp_path / "no-such-dir" / "x", b"x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir", "fifo", "to-null"]
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_a_very_long_file_name(tmp_path: Path) -> None:
    out = tmp_path / ("r" * 250 + ".md")
    write_output(out, b"x\n")
    assert out.read_bytes() == b"x\n"


def test_a_relative_path_is_written_in_the_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write_output("report.txt", b"x\n")
    assert (tmp_path / "report.txt").read_bytes() == b"x\n"


def test_write_text_writes_what_no_utf8_can_hold_as_its_escape(tmp_path: Path) -> None:
    out = tmp_path / "r.md"
    write_text("agent \ud800 end\n", str(out))
    assert out.read_text(encoding="utf-8") == "agent \\ud800 end\n"
    with pytest.raises(UsageError):
        write_text("x", str(tmp_path / "missing" / "r.md"))


def test_every_report_command_writes_its_file_through_the_safe_writer(tmp_path: Path) -> None:
    """-o FILE of the reports, findings, check and the HTML report: a planted link's target survives."""
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    db = str(tmp_path / "s.duckdb")
    assert CliRunner().invoke(cli, ["ingest", str(sample_dir()), "--db", db, "-q"]).exit_code == 0
    policy = tmp_path / "expectations.yaml"
    policy.write_text("version: 1\nrules:\n  - name: r\n    key: alias/app-data\n    allow: []\n")
    commands = {
        "usage.csv": ["usage", "--db", db, "--format", "csv"],
        "who.md": ["who-uses", "alias/app-data", "--db", db, "--format", "md"],
        "findings.json": ["findings", "--db", db, "--format", "json", "-q"],
        "check.json": ["check", "--policy", str(policy), "--db", db, "--format", "json", "-q"],
        "report.html": ["report", "--db", db, "-q"],
        "demo.txt": ["demo"],
    }
    for name, args in commands.items():
        out = tmp_path / name
        out.symlink_to(victim)
        result = CliRunner().invoke(cli, [*args, "-o", str(out)])
        assert result.exit_code in (0, 1), (name, result.output)
        assert not out.is_symlink() and mode(out) == 0o600, name
        assert out.stat().st_size > 0, name
    assert victim.read_text() == "precious\n"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
