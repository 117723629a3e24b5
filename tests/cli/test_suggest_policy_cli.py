"""keytrail suggest-policy: the policy on stdout, what changed on stderr (golden files), Markdown
with --explain, JSON with --format json, nothing written when the replay denies a call (exit 1)
unless --force, and the errors for keys it cannot tighten.

Golden files live in tests/cli/golden/; after an intended change of output, regenerate them with
    KEYTRAIL_REGEN_GOLDEN=1 python -m pytest tests/cli/test_suggest_policy_cli.py
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from keytrail.cli.main import cli
from tests import factory as fx
from tests.analysis import tighten_scenario as sc
from tests.factory import scenario as tg

GOLDEN = Path(__file__).parent / "golden"
REGEN = "KEYTRAIL_REGEN_GOLDEN=1 python -m pytest tests/cli/test_suggest_policy_cli.py"


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("KEYTRAIL_REGEN_GOLDEN"):
        path.write_text(text, encoding="utf-8")
        return
    assert path.exists(), f"golden file {path} is missing; write it with: {REGEN}"
    assert text == path.read_text(encoding="utf-8"), f"output differs from {path}; if intended, regenerate with: {REGEN}"


def _db(tmp: Path, saml: bool) -> str:
    t = sc.trail()
    if not saml:
        t.records = [r for r in t.records if r["userIdentity"].get("type") != "SAMLUser"]
    archive = t.write(tmp / "trail")
    inv = tg.write_inventory(tmp / "inventory", sc.inventory())
    db = str(tmp / "k.duckdb")
    assert run("ingest", str(archive), "--db", db, "-q").exit_code == 0
    assert run("inventory", "--db", db, "--from", str(inv), "-q").exit_code == 0
    return db


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    return _db(tmp_path_factory.mktemp("clean"), saml=False)


@pytest.fixture(scope="module")
def db_saml(tmp_path_factory: pytest.TempPathFactory) -> str:
    return _db(tmp_path_factory.mktemp("saml"), saml=True)


def test_the_policy_and_what_changed(db: str) -> None:
    result = run("suggest-policy", "alias/orders", "--db", db)
    assert result.exit_code == 0, result.stderr
    check_golden("suggest-policy.json", result.stdout)
    check_golden("suggest-policy.stderr.txt", result.stderr)
    assert json.loads(result.stdout)["Version"] == "2012-10-17"


def test_explain_is_markdown(db: str, tmp_path: Path) -> None:
    out = tmp_path / "orders-policy.json"
    result = run("suggest-policy", "alias/orders", "--db", db, "--explain", "-o", str(out))
    assert result.exit_code == 0 and result.stdout == ""
    assert json.loads(out.read_text()) == json.loads(GOLDEN.joinpath("suggest-policy.json").read_text())
    text = re.sub(r"inventory taken \S+", "inventory taken TAKEN_AT", result.stderr.replace(str(out), "orders-policy.json"))
    check_golden("suggest-policy.explain.md", text)


def test_json_for_machines(db: str) -> None:
    result = run("suggest-policy", fx.key_id(sc.KEY), "--db", db, "--format", "json", "-q")
    assert result.exit_code == 0 and result.stderr == ""
    data = json.loads(result.stdout)
    assert {"key", "window", "policy", "removed", "kept", "added", "replay", "warnings"} <= set(data)
    assert data["replay"]["denied"] == 0 and data["replay"]["calls"] == 242
    assert data["policy"] == json.loads(GOLDEN.joinpath("suggest-policy.json").read_text())


def test_a_call_the_policy_would_deny_stops_it(db_saml: str, tmp_path: Path) -> None:
    out = tmp_path / "p.json"
    refused = run("suggest-policy", "alias/orders", "--db", db_saml, "-o", str(out))
    assert refused.exit_code == 1 and not out.exists() and refused.stdout == ""
    assert refused.stderr.splitlines()[-1] == (
        f"keytrail: error: the proposed policy for {sc.KEY}: it would deny 6 successful call(s) of the window: "
        "nothing written (--force writes it anyway)")
    assert (f"keytrail: would deny: saml:arn:aws:iam::{sc.A}:saml-provider/corp-idp/dave kms:Decrypt x6 "
            "(first 2026-11-01T09:00:00Z, 00000000-0000-4000-8000-00000000000e): no statement or grant allows it") in refused.stderr
    assert "apply with" not in refused.stderr
    forced = run("suggest-policy", "alias/orders", "--db", db_saml, "-o", str(out), "--force", "-q")
    assert forced.exit_code == 0 and forced.stderr == "" and json.loads(out.read_text())["Version"] == "2012-10-17"


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("alias/nothing", "keytrail: error: alias/nothing: no such key in the store (neither its calls nor its inventory name it)\n"),
        ("", "keytrail: error: an empty key name\n"),
    ],
)
def test_keys_it_cannot_tighten(db: str, key: str, message: str) -> None:
    result = run("suggest-policy", key, "--db", db)
    assert result.exit_code == 2 and result.stdout == "" and result.stderr == message
