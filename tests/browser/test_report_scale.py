"""The HTML report at hostile counts, in headless Chromium: 200,000 principals on one key and 5,000
failed calls on invented keys make a small page that is drawn in seconds and says what it leaves out
(the full-size figures: bench/report_scale.py)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from keytrail.cli.main import cli
from tests.browser.conftest import OpenedPage, artifact

pytestmark = pytest.mark.browser

ACCOUNT = "111122223333"
KEY = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
PRINCIPALS = 200_000
INVENTED = 5_000


def _records(start: int, stop: int) -> str:
    """Calls as JSON text, formatted straight (200,000 records in a few seconds)."""
    parts = []
    for i in range(start, stop):
        user, key, error = f"user-{i:06d}", KEY, ""
        if i >= PRINCIPALS:
            user, key = "prober", f"arn:aws:kms:us-east-1:{ACCOUNT}:key/{i:08d}-0000-4000-8000-000000000000"
            error = ',"errorCode":"NotFoundException","errorMessage":"Invalid keyId"'
        name = "DescribeKey" if error else "Decrypt"
        when = f"2026-10-01T{(i // 3600) % 24:02d}:{(i // 60) % 60:02d}:{i % 60:02d}Z"
        parts.append(
            f'{{"eventVersion":"1.08","eventSource":"kms.amazonaws.com","eventName":"{name}","eventTime":"{when}",'
            f'"awsRegion":"us-east-1","recipientAccountId":"{ACCOUNT}","eventID":"00000000-0000-4000-8000-{i:012d}",'
            f'"userIdentity":{{"type":"IAMUser","principalId":"AIDA{i:016d}","accountId":"{ACCOUNT}",'
            f'"arn":"arn:aws:iam::{ACCOUNT}:user/{user}","userName":"{user}"}},"requestParameters":{{"keyId":"{key}"}}{error}}}'
        )
    return '{"Records":[' + ",".join(parts) + "]}"


def test_a_report_of_200k_principals_is_small_drawn_in_seconds_and_says_what_it_leaves_out(
    tmp_path: Path, open_report: Callable[..., OpenedPage]
) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    total = PRINCIPALS + INVENTED
    for start in range(0, total, 50_000):
        (logs / f"part-{start:07d}.json").write_text(_records(start, min(total, start + 50_000)))
    page = tmp_path / "report.html"
    result = CliRunner().invoke(cli, ["report", str(logs), "-o", str(page), "-q", "--workers", "2"])
    assert result.exit_code == 0, result.output
    size = page.stat().st_size
    assert size < 2_000_000, f"{size:,} bytes"

    started = time.perf_counter()
    opened = open_report(page)
    drawn = time.perf_counter() - started
    print(f"200,000 principals: a {size / 1e6:.1f} MB page, drawn in {drawn:.1f} s")
    assert drawn < 10
    opened.assert_quiet()
    p = opened.page
    notes = p.eval_on_selector_all("p.more", "ps => ps.map(p => [p.dataset.more, p.textContent])")
    assert ["principals", (f"The 500 principals with the most calls, of {PRINCIPALS:,}, are listed here, and the "
            f"filter searches those. Every principal of this key: keytrail usage --key {KEY} --format csv (or json), "
            "on the same sources or store.")] in notes  # fmt: skip
    assert any(name == "keys" and f"of {INVENTED + 1:,}" in text for name, text in notes)
    rows = p.evaluate("""(key) => Array.from(document.querySelectorAll('section.key'))
        .filter(sec => sec.querySelector('h2 .key-arn').textContent === key)
        .map(sec => sec.querySelectorAll('[data-table="principals"] tbody tr.row').length)""", KEY)
    assert rows == [500]
    # the 5,000 failed calls on invented keys: one finding, not 5,000
    summaries = p.eval_on_selector_all('[data-table="findings"] tbody tr.row', "rs => rs.map(r => r.textContent)")
    assert len([s for s in summaries if "keys never seen to exist" in s]) == 1
    assert len(summaries) < 10
    p.screenshot(path=str(artifact("report-200k.png")))
