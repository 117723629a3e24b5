#!/usr/bin/env python3
"""keytrail's benchmark: keytrail and the baselines in ../shared/bench, side by side, in one run.

    python bench/run.py                 # the reference archive (1M events), built if absent
    python bench/run.py --big           # also the 3M archive, for the flat-memory check
    python bench/run.py --reports       # also reports over a 10M-row store
    python bench/run.py --duckdb        # also the read_json_auto baseline (slow: minutes)

Every command is a whole process, run once to warm the page cache and then timed; peak RSS is
/usr/bin/time -v's "Maximum resident set size" (the largest process of the command's tree).
Results: a Markdown table on stdout and in bench/results.md (with the date and the machine).
Archives and stores go to bench/data/ (not committed).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SHARED = REPO.parent / "shared"
DATA = HERE / "data"
GEN = SHARED / "tools" / "gen_trail.py"
BASE = SHARED / "bench"
PY = sys.executable
KEYTRAIL = [PY, "-m", "keytrail"]

ARCHIVES = {
    "bench-1m": ["--events", "1000000", "--seed", "11", "--accounts", "4", "--regions", "3", "--per-file", "400"],
    "bench-3m": ["--events", "3000000", "--seed", "12", "--accounts", "4", "--regions", "3", "--per-file", "400"],
}


def archive(name: str) -> Path:
    out = DATA / name
    if not (out / "truth.json").exists():
        shutil.rmtree(out, ignore_errors=True)
        DATA.mkdir(parents=True, exist_ok=True)
        print(f"building {name} ...", file=sys.stderr)
        subprocess.run([PY, str(GEN), str(out), *ARCHIVES[name]], check=True)
    return out


def timed(cmd: list[str], stdout: Path | None = None, warm: bool = True, prepare: object = None) -> tuple[float, float]:
    """(seconds, peak RSS in MB) of one run of ``cmd``, after a warm-up run."""
    runs = 2 if warm else 1
    for i in range(runs):
        if callable(prepare):
            prepare()
        out = open(stdout, "wb") if stdout else subprocess.DEVNULL
        t0 = time.perf_counter()
        p = subprocess.run(["/usr/bin/time", "-v", *cmd], stdout=out, stderr=subprocess.PIPE, text=False)
        dt = time.perf_counter() - t0
        if stdout:
            out.close()  # type: ignore[union-attr]
        err = p.stderr.decode(errors="replace")
        if p.returncode not in (0, 3):
            raise SystemExit(f"{' '.join(cmd)} failed ({p.returncode}):\n{err[-2000:]}")
        rss = float(re.search(r"Maximum resident set size \(kbytes\): (\d+)", err).group(1)) / 1024  # type: ignore[union-attr]
        if i == runs - 1:
            return dt, rss
    raise AssertionError


def check_truth(usage_json: Path, truth: Path) -> str:
    p = subprocess.run([PY, str(SHARED / "tools" / "check_truth.py"), str(usage_json), str(truth)],
                       capture_output=True, text=True)
    return p.stdout.strip().splitlines()[-1]


def build_big_store(src_db: Path, dst_db: Path, copies: int) -> int:
    """A store of about copies x the source's key-use rows: shifted copies of every raw row."""
    import duckdb

    shutil.copy(src_db, dst_db)
    con = duckdb.connect(str(dst_db))
    n = con.execute("SELECT count(*) FROM raw_key_use").fetchone()[0]
    max_file = con.execute("SELECT max(file_id) FROM raw_key_use").fetchone()[0]
    cols = [r[0] for r in con.execute("DESCRIBE raw_key_use").fetchall()]
    for k in range(1, copies):
        exprs = []
        for c in cols:
            if c == "file_id":
                exprs.append(f"file_id + {k * (max_file + 1)}")
            elif c in ("event_id", "shared_event_id"):
                exprs.append(f"{c} || '-{k}'")
            elif c == "event_time":
                exprs.append(f"event_time + {k * 31 * 86400}")
            else:
                exprs.append(c)
        con.execute(f"INSERT INTO raw_key_use SELECT {', '.join(exprs)} FROM raw_key_use WHERE file_id <= {max_file}")  # noqa: S608
    con.close()
    subprocess.run([*KEYTRAIL, "ingest", "--db", str(dst_db), str(DATA / "empty")], check=True,
                   stderr=subprocess.DEVNULL)
    con = duckdb.connect(str(dst_db), read_only=True)
    rows = con.execute("SELECT count(*) FROM key_use").fetchone()[0]
    con.close()
    return int(rows) if rows else n * copies


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--big", action="store_true", help="also the 3M-event archive (flat memory)")
    ap.add_argument("--reports", action="store_true", help="also reports over a 10M-row store")
    ap.add_argument("--duckdb", action="store_true", help="also the read_json_auto baseline")
    a = ap.parse_args()
    if not GEN.exists():
        raise SystemExit(f"{GEN} is absent: the benchmark needs ../shared beside the repository")
    rows: list[tuple[str, str, float, float]] = []
    notes: list[str] = []
    names = ["bench-1m"] + (["bench-3m"] if a.big else [])
    for name in names:
        root = archive(name)
        db = DATA / f"{name}.duckdb"

        def fresh(db: Path = db) -> None:
            for p in (db, Path(str(db) + ".wal")):
                p.unlink(missing_ok=True)

        if name == "bench-1m":
            rows.append((name, "decompress_floor.py (ISA-L, 1 core)", *timed([PY, str(BASE / "decompress_floor.py"), str(root)])))
            rows.append((name, "naive_loop.py (gzip + orjson)", *timed([PY, str(BASE / "naive_loop.py"), str(root)])))
            if a.duckdb:
                rows.append((name, "duckdb_query.py (read_json_auto)", *timed([PY, str(BASE / "duckdb_query.py"), str(root)], warm=False)))
        rows.append((name, "keytrail ingest (fresh store)", *timed([*KEYTRAIL, "ingest", str(root), "--db", str(db), "-q"], prepare=fresh)))
        rows.append((name, "keytrail ingest (re-run, nothing new)", *timed([*KEYTRAIL, "ingest", str(root), "--db", str(db), "-q"])))
        out = DATA / f"{name}-usage.json"
        rows.append((name, "keytrail usage --format json (one-shot)", *timed([*KEYTRAIL, "usage", str(root), "--format", "json", "-q"], stdout=out)))
        notes.append(f"{name}: {check_truth(out, root / 'truth.json')}")
    if a.reports:
        (DATA / "empty").mkdir(exist_ok=True)
        big = DATA / "store-10m.duckdb"
        n = build_big_store(DATA / "bench-1m.duckdb", big, 19)
        notes.append(f"report store: {n:,} key-use rows")
        for label, cmd in (
            ("usage --format json", ["usage", "--db", str(big), "--format", "json"]),
            ("keys --format json", ["keys", "--db", str(big), "--format", "json"]),
            ("who-uses alias/app-data", ["who-uses", "alias/app-data", "--db", str(big), "--format", "json"]),
        ):
            rows.append(("store-10m", f"keytrail {label}", *timed([*KEYTRAIL, *cmd])))
    floor = next(t for n, c, t, _ in rows if c.startswith("decompress_floor"))
    naive = next(t for n, c, t, _ in rows if c.startswith("naive_loop"))
    ingest = {n: t for n, c, t, _ in rows if c == "keytrail ingest (fresh store)"}
    lines = [
        f"Measured {datetime.now(UTC):%Y-%m-%d} on {platform.machine()} Linux, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, warm page cache, whole processes (`python bench/run.py"
        f"{' --big' if a.big else ''}{' --reports' if a.reports else ''}`).",
        "",
        "| archive | command | seconds | × floor | naive ÷ this | peak RSS MB |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for n, c, t, rss in rows:
        lines.append(f"| {n} | {c} | {t:.2f} | {t / floor:.2f} | {naive / t:.1f} | {rss:.0f} |")
    lines.append("")
    for n, t in ingest.items():
        one = next(tt for nn, c, tt, _ in rows if nn == n and c.startswith("keytrail usage"))
        lines.append(f"- {n}: one-shot usage ÷ ingest = {one / t:.2f}")
    if "bench-3m" in ingest:
        r1 = max(r for n, c, _, r in rows if n == "bench-1m" and c == "keytrail ingest (fresh store)")
        r3 = max(r for n, c, _, r in rows if n == "bench-3m" and c == "keytrail ingest (fresh store)")
        lines.append(f"- peak RSS of ingest, 3M ÷ 1M = {r3 / r1:.2f}")
    lines += [f"- {note}" for note in notes]
    text = "\n".join(lines) + "\n"
    print(text)
    (HERE / "results.md").write_text(text)
    (DATA / "results.json").write_text(json.dumps(rows))


if __name__ == "__main__":
    main()
