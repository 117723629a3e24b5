"""The HTML report's "Tighten" section: per customer managed key with a key policy in the
inventory, what keytrail suggest-policy proposes -- the replay, the removed, added and kept
permissions, the proposed policy -- drawn as text in headless Chromium."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from click.testing import CliRunner

from keytrail.cli.main import cli
from tests.analysis import tighten_scenario as sc
from tests.browser.conftest import OpenedPage, artifact
from tests.factory import scenario as tg

Open = Callable[..., OpenedPage]


def test_tighten_section(tmp_path: Path, open_report: Open) -> None:
    t = sc.trail()
    archive = t.write(tmp_path / "trail")
    inv = tg.write_inventory(tmp_path / "inventory", sc.inventory())
    db, out = str(tmp_path / "k.duckdb"), tmp_path / "report.html"
    runner = CliRunner()
    assert runner.invoke(cli, ["ingest", str(archive), "--db", db, "-q"]).exit_code == 0
    assert runner.invoke(cli, ["inventory", "--db", db, "--from", str(inv), "-q"]).exit_code == 0
    assert runner.invoke(cli, ["report", "--db", db, "-o", str(out), "-q"]).exit_code == 0
    proposal = json.loads(runner.invoke(cli, ["suggest-policy", sc.KEY, "--db", db, "--format", "json", "--force", "-q"]).stdout)

    opened = open_report(out)
    page = opened.page
    assert page.locator("[data-tighten]").count() == 2  # both keys are customer managed, with a policy
    box = page.locator("section.key", has_text=sc.KEY).locator("[data-tighten]")
    text = box.text_content() or ""
    assert "6 denied" in text and "saml:arn:aws:iam::111122223333:saml-provider/corp-idp/dave kms:Decrypt" in text
    assert f"Removed ({len(proposal['removed'])})" in text and f"Added ({len(proposal['added'])})" in text
    box.locator("summary").click()
    shown = json.loads(box.locator("pre.policy").text_content() or "")
    assert shown == proposal["policy"]
    box.screenshot(path=str(artifact("tighten-section.png")))
    opened.assert_quiet()
