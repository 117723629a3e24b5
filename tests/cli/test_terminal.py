"""Every report laid out for a terminal of 80, 120 and 200 columns (``--width``, as on a terminal
that wide): exact output (golden files), and what a reader needs checked directly -- no line wider
than the terminal, every name whole on one line, the answer in words first.

Golden files live in tests/cli/golden/terminal/; after an intended change of output, regenerate
them with
    KEYTRAIL_REGEN_GOLDEN=1 python -m pytest tests/cli/test_terminal.py
and review the diff. What a real terminal shows (a pseudo-terminal: its width, colour, NO_COLOR,
COLUMNS, pipes) is tested in tests/cli/test_pty.py.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from keytrail.cli.main import cli
from keytrail.cli.options import Output
from keytrail.cli.writing import screen_for
from keytrail.render.grid import Screen
from keytrail.render.width import width
from keytrail.sources import sample
from tests.factory import scenario as tg
from tests.factory.archive import write_archive

GOLDEN = Path(__file__).parent / "golden" / "terminal"
REGEN = "KEYTRAIL_REGEN_GOLDEN=1 python -m pytest tests/cli/test_terminal.py"
SAMPLE = str(sample.sample_dir())
WIDTHS = (80, 120, 200)
DEMO_NAMES = ("test-user", "ReportReader", "alias/blog-bucket-key", "1234abcd", "AWS Internal")


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("KEYTRAIL_REGEN_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return
    assert path.exists(), f"golden file {path} is missing; write it with: {REGEN}"
    expected = path.read_text(encoding="utf-8")
    assert text == expected, f"output differs from {path}; if the change is intended, regenerate with: {REGEN}"


def fits(text: str, cells: int) -> None:
    """No line wider than the terminal (so none wraps), no escape sequence (no colour off a terminal)."""
    too_wide = [line for line in text.splitlines() if width(line) > cells]
    assert not too_wide, f"lines wider than {cells}: {too_wide}"
    assert "\x1b" not in text


def whole_on_a_line(text: str, names: tuple[str, ...] | list[str]) -> None:
    lines = text.splitlines()
    missing = [n for n in names if not any(n in line for line in lines)]
    assert not missing, f"not whole on any line: {missing}"


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = str(tmp_path_factory.mktemp("store") / "sample.duckdb")
    assert run("ingest", SAMPLE, "--db", path, "-q").exit_code == 0
    return path


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """The findings scenario (tests/factory/scenario.py: keys pending deletion, denied calls, roles with
    paths, an inventory)."""
    tmp = tmp_path_factory.mktemp("scenario")
    path = str(tmp / "store.duckdb")
    tg.scenario_store(tmp, db=path).close()
    return path, tmp / "inventory"


# ---- the acceptance: keytrail demo at 80 and 120 columns -------------------------------------


@pytest.mark.parametrize("cells", [80, 120])
def test_demo_answers_in_a_terminal_of_80_and_120_columns(cells: int) -> None:
    result = run("demo", "--width", str(cells))
    assert (result.exit_code, result.stderr) == (0, "")
    text = result.stdout
    fits(text, cells)
    whole_on_a_line(text, DEMO_NAMES)
    # test-user's line carries its counts
    assert any(re.search(r"test-user\b.*\b8\b.*\b12\b", line) for line in text.splitlines()), text
    # the answer in words comes before the table
    words = text.index("test-user (IAM user): encrypt 8 (uploads), decrypt 12 (downloads)")
    assert words < text.index("By principal")


# ---- the acceptance: the busiest keys of an organisation's archive at 120 columns ---------------


def name_of(principal: str) -> str:
    """A principal's name: the last part of its ARN, a hidden caller's unique id, an Identity Center
    user's id, a service."""
    if principal.startswith("AWSAccount:"):
        return principal.rsplit(":", 1)[1]
    if principal.startswith("identitycenter:"):
        return principal.rsplit("/", 1)[1]
    return principal.rsplit("/", 1)[-1].rsplit(":", 1)[-1] if principal.startswith("arn:") else principal


@pytest.fixture(scope="module")
def seed23(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, object]]:
    out = tmp_path_factory.mktemp("seed23") / "trail"
    truth = write_archive(out, events=30000, seed=23, org=True, plain_every=7, accounts=4, regions=2, external=1)
    db = str(out.parent / "store.duckdb")
    assert run("ingest", str(out), "--db", db, "-q").exit_code == 0
    return db, truth


def test_every_principal_of_the_busiest_keys_whole_at_120_columns(seed23: tuple[str, dict[str, object]]) -> None:
    db, truth = seed23
    customer = set(truth["customer_managed_keys"])  # type: ignore[call-overload]
    keys = [k for k in json.loads(run("keys", "--db", db, "--format", "json").stdout) if k["key"] in customer]
    busiest = max(keys, key=lambda k: (k["crypto_calls"], k["key"]))["key"]
    most_principals = max(keys, key=lambda k: (k["principals"], k["key"]))["key"]
    for key in sorted({busiest, most_principals}):
        rows = json.loads(run("who-uses", key, "--db", db, "--format", "json").stdout)
        assert len(rows) > 30
        text = run("who-uses", key, "--db", db, "--width", "120").stdout
        fits(text, 120)
        table = text[text.index("By principal"):]
        whole_on_a_line(table, [name_of(r["principal"]) for r in rows])
        whole_on_a_line(text[: text.index("By principal")], [name_of(r["principal"]) for r in rows])


# ---- golden files at 80, 120 and 200 columns ---------------------------------------------------

REPORTS = {
    "demo": ("demo",),
    "who-uses": ("who-uses", "alias/blog-bucket-key"),
    "who-uses-details": ("who-uses", "alias/blog-bucket-key", "--details"),
    "who-uses-app-data": ("who-uses", "alias/app-data", "--details"),
    "who-uses-by-person": ("who-uses", "alias/blog-bucket-key", "--by", "person"),
    "usage": ("usage",),
    "keys": ("keys",),
    "principals": ("principals",),
}


@pytest.mark.parametrize("cells", WIDTHS)
@pytest.mark.parametrize("report", REPORTS)
def test_reports_on_the_sample(db: str, report: str, cells: int) -> None:
    args = REPORTS[report] if report == "demo" else (*REPORTS[report], "--db", db)
    result = run(*args, "--width", str(cells))
    assert (result.exit_code, result.stderr) == (0, "")
    fits(result.stdout, cells)
    check_golden(f"{report}-{cells}.txt", result.stdout)


SCENARIO_REPORTS = {
    "findings": ("findings", "--since", "2026-11-08"),
    "check": ("check", "--policy", str(Path(__file__).resolve().parents[2] / "examples" / "expectations.yaml"),
              "--since", "2026-11-08"),
    "keys-inventory": ("keys",),
    "who-uses-scenario": ("who-uses", tg.K_APP),
}


@pytest.mark.parametrize("cells", WIDTHS)
@pytest.mark.parametrize("report", SCENARIO_REPORTS)
def test_reports_on_the_scenario(scenario: tuple[str, Path], report: str, cells: int) -> None:
    result = run(*SCENARIO_REPORTS[report], "--db", scenario[0], "--width", str(cells), "-q")
    assert result.exit_code in (0, 1), result.output
    fits(result.stdout, cells)
    check_golden(f"{report}-{cells}.txt", result.stdout)


@pytest.mark.parametrize("cells", WIDTHS)
def test_inventory(scenario: tuple[str, Path], tmp_path: Path, cells: int) -> None:
    db = str(tmp_path / "inventory.duckdb")
    result = run("inventory", "--db", db, "--from", str(scenario[1]), "--width", str(cells), "-q")
    assert result.exit_code == 0, result.output
    fits(result.stdout, cells)
    check_golden(f"inventory-{cells}.txt", result.stdout)


# ---- what the layout promises, checked directly -------------------------------------------------


def test_identifiers_are_never_cut_at_any_width(db: str) -> None:
    names = [r["principal"].rsplit("/", 1)[-1].rsplit(":", 1)[-1]
             for r in json.loads(run("who-uses", "alias/blog-bucket-key", "--db", db, "--format", "json").stdout)]
    for cells in range(40, 201, 7):
        text = run("who-uses", "alias/blog-bucket-key", "--db", db, "--width", str(cells), "--details").stdout
        fits(text, cells)
        whole_on_a_line(text, [*names, "1234abcd-12ab-34cd-56ef-1234567890ab", "alias/blog-bucket-key"])


def test_keys_pending_deletion_and_denied_calls_are_flagged_in_words(scenario: tuple[str, Path]) -> None:
    keys = json.loads(run("keys", "--db", scenario[0], "--format", "json").stdout)
    pending = [k for k in keys if k["state"] == "PendingDeletion"]
    assert pending, "the scenario holds a key pending deletion"
    text = run("who-uses", pending[0]["key"], "--db", scenario[0], "--width", "100").stdout
    assert "PENDING DELETION" in text.splitlines()[3]
    assert "PendingDeletion" in run("keys", "--db", scenario[0], "--width", "100").stdout


def test_wide_is_the_piped_table(db: str) -> None:
    piped = run("who-uses", "alias/blog-bucket-key", "--db", db).stdout
    assert run("who-uses", "alias/blog-bucket-key", "--db", db, "--wide", "--width", "80").stdout == piped
    assert piped == (Path(__file__).parent / "golden" / "who-uses.txt").read_text(encoding="utf-8")


@pytest.mark.parametrize("fmt", ["json", "csv", "md"])
def test_width_leaves_the_other_formats_as_they_are(db: str, fmt: str) -> None:
    assert run("keys", "--db", db, "--format", fmt, "--width", "80").stdout == run("keys", "--db", db, "--format",
                                                                                     fmt).stdout


def test_no_calls_is_said_in_words(db: str) -> None:
    result = run("who-uses", "alias/blog-bucket-key", "--db", db, "--width", "80", "--since", "2099-01-01")
    assert result.exit_code == 0
    assert result.stdout == (
        "alias/blog-bucket-key\n"
        "    (arn:aws:kms:us-east-1:111122223333:key/\n"
        "    1234abcd-12ab-34cd-56ef-1234567890ab): no calls since 2099-01-01T00:00:00Z;\n"
        "    last use 2026-11-02T09:23:00Z\n"
    )


# ---- where the layout comes from ------------------------------------------------------------------


def test_the_screen_is_the_terminal_or_width_and_never_a_pipe(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("COLUMNS", "132")
    assert screen_for(Output()) is None  # not a terminal (pytest captures stdout): one line per row
    assert screen_for(Output(width=90)) == Screen(90, False)
    assert screen_for(Output(fmt="json", width=90)) is None

    class Tty:
        @staticmethod
        def isatty() -> bool:
            return True

    monkeypatch.setattr("sys.stdout", Tty())
    assert screen_for(Output()) == Screen(132, True)  # COLUMNS overrides the terminal's width
    assert screen_for(Output(color=False)) == Screen(132, False)  # --no-color
    assert screen_for(Output(path="report.txt")) is None  # -o FILE: a file, not the terminal
    monkeypatch.setenv("NO_COLOR", "1")
    assert screen_for(Output(width=100)) == Screen(100, False)
    monkeypatch.delenv("NO_COLOR")
    monkeypatch.setenv("TERM", "dumb")
    assert screen_for(Output()) == Screen(132, False)
