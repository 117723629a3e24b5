#!/usr/bin/env python3
"""Reports at hostile counts: 200,000 principals on one key, 5,000 failed calls on invented keys.

    python bench/report_scale.py [--out DIR] [--principals N] [--invented N] [--render]

Builds a log folder (one KMS key used by N distinct IAM users, and one principal's failed
DescribeKey calls on invented key ids), ingests it, then times ``keytrail report`` (seconds, peak
RSS, the page's size), ``keytrail usage`` as a table, ``keytrail findings``, and with
``--render`` how long headless Chromium takes to show the page (``/usr/bin/chromium`` and
Playwright). Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ACCOUNT = "111122223333"
KEY = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def record(i: int, user: str, key: str, error: str | None = None, name: str = "Decrypt") -> dict[str, Any]:
    r: dict[str, Any] = {
        "eventVersion": "1.08", "eventSource": "kms.amazonaws.com", "eventName": name,
        "eventTime": f"2026-10-01T{(i // 3600) % 24:02d}:{(i // 60) % 60:02d}:{i % 60:02d}Z",
        "awsRegion": "us-east-1", "recipientAccountId": ACCOUNT, "eventID": f"00000000-0000-4000-8000-{i:012d}",
        "sourceIPAddress": "203.0.113.7", "userAgent": "aws-sdk-go/1.44",
        "userIdentity": {"type": "IAMUser", "principalId": f"AIDA{i:016d}", "accountId": ACCOUNT,
                         "arn": f"arn:aws:iam::{ACCOUNT}:user/{user}", "userName": user},
        "requestParameters": {"keyId": key},
        "resources": [{"ARN": key, "type": "AWS::KMS::Key", "accountId": ACCOUNT}],
    }  # fmt: skip
    if error:
        r["errorCode"], r["errorMessage"] = error, "Invalid keyId"
        r.pop("resources")
    return r


def build(out: Path, principals: int, invented: int) -> Path:
    logs = out / "logs"
    if logs.exists():
        return logs
    logs.mkdir(parents=True)
    batch = 10_000
    for start in range(0, principals, batch):
        recs = [record(i, f"user-{i:06d}", KEY) for i in range(start, min(principals, start + batch))]
        (logs / f"use-{start:07d}.json.gz").write_bytes(gzip.compress(json.dumps({"Records": recs}).encode()))
    recs = [
        record(principals + i, "prober", f"arn:aws:kms:us-east-1:{ACCOUNT}:key/{i:08d}-0000-4000-8000-000000000000",
               error="NotFoundException", name="DescribeKey")
        for i in range(invented)
    ]
    (logs / "invented.json.gz").write_bytes(gzip.compress(json.dumps({"Records": recs}).encode()))
    return logs


def timed(*args: str) -> tuple[float, float, int, str]:
    """Seconds, peak RSS MB, exit code and stdout of ``keytrail ARGS`` in its own process."""
    code = (
        "import resource, subprocess, sys, time; t = time.perf_counter();"
        "p = subprocess.run(sys.argv[1:], capture_output=True, text=True);"
        "r = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss;"
        "sys.stderr.write(f'{time.perf_counter() - t} {r / 1024} {p.returncode}\\n'); sys.stdout.write(p.stdout)"
    )
    p = subprocess.run([sys.executable, "-c", code, sys.executable, "-m", "keytrail", *args],
                       capture_output=True, text=True, env=os.environ.copy())  # fmt: skip
    seconds, rss, rc = p.stderr.strip().splitlines()[-1].split()
    return float(seconds), float(rss), int(rc), p.stdout


def render_seconds(page: Path) -> float:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        try:
            tab = browser.new_page(viewport={"width": 1300, "height": 1000})
            t = time.perf_counter()
            tab.goto(page.resolve().as_uri())
            tab.wait_for_selector("html[data-ready]", timeout=600_000)
            return time.perf_counter() - t
        finally:
            browser.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "data" / "report-scale")
    ap.add_argument("--principals", type=int, default=200_000)
    ap.add_argument("--invented", type=int, default=5_000)
    ap.add_argument("--render", action="store_true")
    a = ap.parse_args()
    logs = build(a.out, a.principals, a.invented)
    db = a.out / "store.duckdb"
    if not db.exists():
        subprocess.run([sys.executable, "-m", "keytrail", "ingest", str(logs), "--db", str(db), "-q"], check=True)
    page = a.out / "report.html"
    print("| command | seconds | peak RSS MB | output |")
    print("|---|---:|---:|---|")
    s, rss, rc, _ = timed("report", "--db", str(db), "-o", str(page))
    print(f"| keytrail report | {s:.1f} | {rss:.0f} | {page.stat().st_size / 1e6:.1f} MB page (exit {rc}) |")
    s, rss, rc, out = timed("usage", "--db", str(db))
    print(f"| keytrail usage (table) | {s:.1f} | {rss:.0f} | {len(out.splitlines())} lines (exit {rc}) |")
    s, rss, rc, out = timed("findings", "--db", str(db), "--format", "json")
    kinds: dict[str, int] = {}
    for f in json.loads(out or "[]"):
        kinds[f["kind"]] = kinds.get(f["kind"], 0) + 1
    print(f"| keytrail findings | {s:.1f} | {rss:.0f} | {kinds} (exit {rc}) |")
    if a.render:
        print(f"| Chromium: page shown | {render_seconds(page):.1f} | | |")


if __name__ == "__main__":
    main()
