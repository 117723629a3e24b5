#!/usr/bin/env python3
"""Hostile sizes: time and peak RSS of ``keytrail usage DIR`` on files built to exhaust memory.

    python bench/sizes.py [--out DIR] [--only NAME]

Scenarios (each a folder holding the hostile file beside one good log file):

* ``bomb``: a 3 MB gzip that inflates to 3 GB (``{"Records":[`` + 3 GB of spaces + ``]}``);
* ``empty-records``: 18 million ``{}`` records (54 MB of JSON, gzipped);
* ``kms-stubs``: 3 million rejected KMS stubs (records with an eventSource and nothing else);
* ``one-line``: a 100 MB log file on one line (real records).

Each is run as a whole process (``keytrail usage DIR --format json --workers 1``); peak RSS is
the child's maximum resident set (``resource.getrusage(RUSAGE_CHILDREN)``, each in its own
process). Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import subprocess
import sys
import time
import zlib
from collections.abc import Callable
from pathlib import Path

GOOD = {
    "eventVersion": "1.08", "eventSource": "kms.amazonaws.com", "eventName": "Decrypt",
    "eventTime": "2026-10-01T00:00:00Z", "awsRegion": "us-east-1", "recipientAccountId": "111122223333",
    "eventID": "11111111-2222-3333-4444-555555555555",
    "userIdentity": {"type": "AssumedRole", "principalId": "AROAEXAMPLE:s", "accountId": "111122223333",
                     "arn": "arn:aws:sts::111122223333:assumed-role/App/s",
                     "sessionContext": {"sessionIssuer": {"type": "Role", "arn": "arn:aws:iam::111122223333:role/App",
                                                          "principalId": "AROAEXAMPLE", "accountId": "111122223333"}}},
    "requestParameters": {"keyId": "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"},
    "resources": [{"ARN": "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
                   "type": "AWS::KMS::Key", "accountId": "111122223333"}],
}  # fmt: skip


def _stream(path: Path, parts: Callable[[], object]) -> None:
    """Write the gzip of the byte strings ``parts()`` yields, without holding them."""
    z = zlib.compressobj(9, zlib.DEFLATED, 31)
    with open(path, "wb") as f:
        for part in parts():  # type: ignore[attr-defined]
            f.write(z.compress(part))
        f.write(z.flush())


def bomb(path: Path) -> None:
    def parts():  # type: ignore[no-untyped-def]
        yield b'{"Records":['
        block = b" " * (64 << 20)
        for _ in range(48):  # 3 GiB
            yield block
        yield b"]}"

    _stream(path, parts)


def _repeated(path: Path, record: bytes, count: int) -> None:
    """A log file of ``count`` copies of ``record``, written a million records at a time."""
    def parts():  # type: ignore[no-untyped-def]
        yield b'{"Records":['
        left = count - 1
        while left:
            n = min(left, 1_000_000)
            yield (record + b",") * n
            left -= n
        yield record + b"]}"

    _stream(path, parts)


def empty_records(path: Path) -> None:
    _repeated(path, b"{}", 18_000_000)


def kms_stubs(path: Path) -> None:
    _repeated(path, b'{"eventSource":"kms.amazonaws.com"}', 3_000_000)


def one_line(path: Path) -> None:
    rec = json.dumps(GOOD, separators=(",", ":")).encode()
    n = (100 << 20) // (len(rec) + 1)

    def parts():  # type: ignore[no-untyped-def]
        yield b'{"Records":['
        for i in range(n):
            yield rec.replace(b"555555555555", b"%012d" % i) + (b"," if i < n - 1 else b"")
        yield b"]}"

    path = path.with_suffix("")  # plain .json, one line
    with open(path, "wb") as f:
        for part in parts():
            f.write(part)


SCENARIOS: dict[str, Callable[[Path], None]] = {
    "bomb": bomb, "empty-records": empty_records, "kms-stubs": kms_stubs, "one-line": one_line,
}  # fmt: skip


def build(out: Path, name: str) -> Path:
    folder = out / name
    if not folder.exists():
        folder.mkdir(parents=True)
        (folder / "good.json").write_text(json.dumps({"Records": [GOOD]}))
        SCENARIOS[name](folder / f"{name}.json.gz")
    return folder


def measure(folder: Path) -> tuple[float, float, int, str]:
    """Seconds, peak RSS MB, exit code, and stderr of one run in a fresh process (fresh rusage)."""
    code = (
        "import resource, subprocess, sys, time; t = time.perf_counter();"
        "p = subprocess.run(sys.argv[1:], capture_output=True, text=True);"
        "r = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss;"
        "print(time.perf_counter() - t, r / 1024, p.returncode); sys.stderr.write(p.stderr)"
    )
    cmd = [sys.executable, "-m", "keytrail", "usage", str(folder), "--format", "json", "--workers", "1"]
    p = subprocess.run([sys.executable, "-c", code, *cmd], capture_output=True, text=True, env=os.environ.copy())
    seconds, rss, rc = p.stdout.split()
    return float(seconds), float(rss), int(rc), p.stderr


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "data" / "sizes")
    ap.add_argument("--only", choices=sorted(SCENARIOS), action="append")
    a = ap.parse_args()
    print("| scenario | file (compressed) | seconds | peak RSS MB | exit | what keytrail said |")
    print("|---|---:|---:|---:|---:|---|")
    for name in a.only or SCENARIOS:
        folder = build(a.out, name)
        hostile = next(p for p in folder.iterdir() if p.name != "good.json")
        seconds, rss, rc, err = measure(folder)
        said = "; ".join(ln.removeprefix("keytrail: ")[:160] for ln in err.splitlines() if ln.strip())[:400]
        print(f"| {name} | {hostile.stat().st_size / 1e6:.1f} MB | {seconds:.1f} | {rss:.0f} | {rc} | {said} |")
    _ = (gzip, resource, time)


if __name__ == "__main__":
    main()
