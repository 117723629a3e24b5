#!/usr/bin/env python3
"""keytrail's benchmark: keytrail and the baselines in ../shared/bench, side by side, in one run.

    python bench/run.py                 # the reference archive (1M events), built if absent
    python bench/run.py --big           # also the 3M archive, for the flat-memory check
    python bench/run.py --reports       # also reports over a 10M-row store
    python bench/run.py --spark         # also the Spark job (local mode) against the local engine
    python bench/run.py --duckdb        # also the read_json_auto baseline (slow: minutes)

Each store is also measured taking a later ingest: bench-next (20,000 events) into a copy of it.

Every command is a whole process, run three times (the first also warms the page cache); the
fastest run is reported (``measure``: wall seconds, CPU seconds of all its processes, peak RSS
of its largest process and of all of them together, the largest of the runs), and the slowest
run's seconds beside it: on a shared machine a disturbance only adds time. Per-step costs of a worker come from ``steps.py`` (microseconds of CPU per
record). keytrail's modules are compiled to bytecode first, as pip does when it installs a
package: where ``PYTHONDONTWRITEBYTECODE`` is set, every process (each ingest worker too) would
otherwise compile them again, a fixed cost no installed copy pays. Results: Markdown on stdout and in bench/results.md (with the date and the machine).
Archives and stores go to bench/data/ (not committed).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from measure import Measured, measure

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SHARED = REPO.parent / "shared"
DATA = HERE / "data"
GEN = SHARED / "tools" / "gen_trail.py"
BASE = SHARED / "bench"
PY = sys.executable
KEYTRAIL = [PY, "-m", "keytrail"]
WORKERS = os.cpu_count() or 1

ARCHIVES = {
    "bench-1m": ["--events", "1000000", "--seed", "11", "--accounts", "4", "--regions", "3", "--per-file", "400"],
    "bench-3m": ["--events", "3000000", "--seed", "12", "--accounts", "4", "--regions", "3", "--per-file", "400"],
    "bench-next": ["--events", "20000", "--seed", "13", "--accounts", "4", "--regions", "3", "--per-file", "400"],
}
NEXT = "keytrail ingest (bench-next's 20k events into this store)"
"""A later ingest: new files into a store that holds the archive (the store copied before each run)."""


def archive(name: str) -> Path:
    out = DATA / name
    if not (out / "truth.json").exists():
        shutil.rmtree(out, ignore_errors=True)
        DATA.mkdir(parents=True, exist_ok=True)
        print(f"building {name} ...", file=sys.stderr)
        subprocess.run([PY, str(GEN), str(out), *ARCHIVES[name]], check=True)
    return out


def compile_bytecode() -> None:
    """keytrail's modules as bytecode, as an installed package has them (see the module's docstring)."""
    import keytrail

    subprocess.run([PY, "-m", "compileall", "-q", str(Path(keytrail.__file__).parent)], check=True,
                   stdout=subprocess.DEVNULL)


def fresh(db: Path) -> None:
    for p in (db, Path(f"{db}.wal")):
        p.unlink(missing_ok=True)
    shutil.rmtree(f"{db}.segments", ignore_errors=True)


def copy_store(src: Path, dst: Path) -> None:
    """``dst`` made a copy of the store ``src`` (the file and its segments directory)."""
    fresh(dst)
    shutil.copy(src, dst)
    shutil.copytree(f"{src}.segments", f"{dst}.segments")


def later_ingest(db: Path) -> Measured:
    """bench-next ingested into a copy of ``db`` (made again before each run)."""
    copy = db.with_name(f"{db.stem}-next.duckdb")
    return timed([*KEYTRAIL, "ingest", str(archive("bench-next")), "--db", str(copy), "-q"], before=lambda: copy_store(db, copy))


@dataclass
class Row:
    archive: str
    command: str
    m: Measured


REPEAT = 3


def timed(cmd: list[str], stdout: Path | None = None, before: object = None, warm: bool = True) -> Measured:
    """The fastest of ``REPEAT`` runs (the first also warms the page cache); ``warm`` false: one
    run. On a shared machine every disturbance only adds time, so the fastest run is the one
    closest to the command's own cost; the slowest run's seconds are kept in ``SLOWEST``, and the
peak RSS is the largest of all runs."""
    runs: list[Measured] = []
    for _ in range(REPEAT if warm else 1):
        if callable(before):
            before()
        m = measure(cmd, stdout=stdout)
        if m.returncode not in (0, 3):
            print(f"{' '.join(cmd)} failed ({m.returncode}):\n{m.stderr.decode(errors='replace')[-3000:]}", file=sys.stderr)
            return m
        runs.append(m)
    best = replace(min(runs, key=lambda r: r.wall), rss_max=max(r.rss_max for r in runs),
                   rss_sum=max(r.rss_sum for r in runs))  # memory: the most any run took
    SLOWEST[id(best)] = max(r.wall for r in runs)
    print(f"{' '.join(cmd[2:])[:90]}: {best.wall:.2f} s, {best.cpu:.1f} CPU s "
          f"(runs: {', '.join(f'{r.wall:.2f}' for r in runs)})", file=sys.stderr)
    return best


SLOWEST: dict[int, float] = {}
"""The slowest run's seconds of each measured command (keyed by the kept run's id)."""


def check_truth(usage_json: Path, truth: Path) -> str:
    p = subprocess.run([PY, str(SHARED / "tools" / "check_truth.py"), str(usage_json), str(truth)],
                       capture_output=True, text=True, check=False)
    return p.stdout.strip().splitlines()[-1]


def build_big_store(src_db: Path, dst_db: Path, copies: int) -> int:
    """A store of about copies x the source's key-use rows: shifted copies of every segment."""
    import duckdb

    copy_store(src_db, dst_db)
    subprocess.run([*KEYTRAIL, "usage", "--db", str(dst_db), "--format", "json"], check=True,
                   stdout=subprocess.DEVNULL)  # points the copy's views at its own segments
    con = duckdb.connect(str(dst_db))
    max_file = con.execute("SELECT max(file_id) FROM files").fetchone()[0]
    names = [r[0] for r in con.execute("SELECT name FROM segments WHERE kind = 'rows'").fetchall()]
    segdir = Path(f"{dst_db}.segments")
    for k in range(1, copies):
        for name in names:
            src = segdir / name
            dst = segdir / f"seg-copy{k:02d}-{name[4:]}"
            con.execute(
                f"COPY (SELECT * REPLACE (file_id + {k * (max_file + 1)} AS file_id, "  # noqa: S608
                f"event_id || '-{k}' AS event_id, shared_event_id || '-{k}' AS shared_event_id, "
                f"event_time + {k * 31 * 86400} AS event_time, "
                f"CAST(md5_number_lower(event_id || '-{k}') & 9223372036854775807 AS BIGINT) AS event_key) "
                f"FROM read_parquet('{src}')) TO '{dst}' (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 122880)"
            )
            rows = con.execute(f"SELECT count(*) FROM read_parquet('{dst}')").fetchone()[0]  # noqa: S608
            con.execute("INSERT INTO segments VALUES (?, ?, NULL, 'rows')", [dst.name, rows])
        con.execute(
            f"INSERT INTO files SELECT file_id + {k * (max_file + 1)}, uri || '#{k}', size, version, status, shape, "  # noqa: S608
            f"records, kms_records, rows, problems, reason, ingest_id, segment, verified FROM files WHERE file_id <= {max_file}"
        )
    con.execute("INSERT OR REPLACE INTO meta VALUES ('needs_resolve', '1')")
    con.close()
    # resolved (and its rollups brought up to date) as the next writer would: an ingest of nothing new
    # is refused now (a SOURCE without log files is said), so the store's own resolution is run; and its
    # segments merged, as the ingests that would have written it would have left them (more than 64 small
    # segments are merged at the next ingest: a later ingest measured on this store would pay for that)
    subprocess.run([PY, "-c", "import sys; from keytrail.store import Store; s = Store(sys.argv[1]); s.resolve(); s.compact()",
                    str(dst_db)], check=True)
    con = duckdb.connect(str(dst_db), read_only=True)
    rows = con.execute("SELECT count(*) FROM key_use").fetchone()[0]
    con.close()
    return int(rows)


PAIR = "two naive_loop.py at once (the machine's ceiling for 2 processes)"


def pair(cmd: list[str]) -> list[str]:
    """A command that runs ``cmd`` twice at once (output discarded): how much two independent
    processes gain on this machine, against which the workers' gain is read."""
    run = " ".join(shlex.quote(c) for c in cmd)
    return ["sh", "-c", f"{run} >/dev/null & {run} >/dev/null; wait"]


def records_in(naive: Measured) -> int:
    return int(naive.stdout.split()[0])


def spark(events: int) -> dict[str, object]:
    p = subprocess.run([PY, str(HERE / "spark_bench.py"), "--events", str(events), "--json"], capture_output=True,
                       text=True, check=False)
    if p.returncode != 0:
        raise SystemExit(f"spark_bench.py failed:\n{p.stderr[-3000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--big", action="store_true", help="also the 3M-event archive (flat memory)")
    ap.add_argument("--reports", action="store_true", help="also reports over a 10M-row store")
    ap.add_argument("--spark", action="store_true", help="also the Spark job in local mode")
    ap.add_argument("--spark-events", type=int, default=200_000, help="events of the Spark archive (default 200000)")
    ap.add_argument("--duckdb", action="store_true", help="also the read_json_auto baseline")
    a = ap.parse_args()
    if not GEN.exists():
        raise SystemExit(f"{GEN} is absent: the benchmark needs ../shared beside the repository")
    compile_bytecode()
    rows: list[Row] = []
    notes: list[str] = []
    names = ["bench-1m"] + (["bench-3m"] if a.big else [])
    n_records: dict[str, int] = {}
    for name in names:
        root = archive(name)
        db = DATA / f"{name}.duckdb"
        if name == "bench-1m":
            rows.append(Row(name, "decompress_floor.py (ISA-L, 1 core)", timed([PY, str(BASE / "decompress_floor.py"), str(root)])))
            naive = timed([PY, str(BASE / "naive_loop.py"), str(root)])
            rows.append(Row(name, "naive_loop.py (gzip + orjson, 1 core)", naive))
            n_records[name] = records_in(naive)
            rows.append(Row(name, PAIR, timed(pair([PY, str(BASE / "naive_loop.py"), str(root)]))))
            if a.duckdb:
                rows.append(Row(name, "duckdb_query.py (read_json_auto)", timed([PY, str(BASE / "duckdb_query.py"), str(root)], warm=False)))
        rows.append(Row(name, "keytrail ingest --workers 1", timed([*KEYTRAIL, "ingest", str(root), "--db", str(db), "-q", "--workers", "1"], before=lambda db=db: fresh(db))))
        rows.append(Row(name, f"keytrail ingest ({WORKERS} workers)", timed([*KEYTRAIL, "ingest", str(root), "--db", str(db), "-q"], before=lambda db=db: fresh(db))))
        rows.append(Row(name, "keytrail ingest (re-run, nothing new)", timed([*KEYTRAIL, "ingest", str(root), "--db", str(db), "-q"])))
        rows.append(Row(name, NEXT, later_ingest(db)))
        out = DATA / f"{name}-usage.json"
        rows.append(Row(name, "keytrail usage --format json (one-shot)", timed([*KEYTRAIL, "usage", str(root), "--format", "json", "-q"], stdout=out)))
        notes.append(f"{name}: {check_truth(out, root / 'truth.json')}")
        if name not in n_records:
            n_records[name] = records_in(measure([PY, str(BASE / "naive_loop.py"), str(root)]))
    if a.reports:
        big = DATA / "store-10m.duckdb"
        n = build_big_store(DATA / "bench-1m.duckdb", big, 19)
        notes.append(f"report store: {n:,} key-use rows")
        for label, cmd in (
            ("usage --format json", ["usage", "--db", str(big), "--format", "json"]),
            ("keys --format json", ["keys", "--db", str(big), "--format", "json"]),
            ("who-uses alias/app-data --format json", ["who-uses", "alias/app-data", "--db", str(big), "--format", "json"]),
        ):
            rows.append(Row("store-10m", f"keytrail {label}", timed([*KEYTRAIL, *cmd])))
        rows.append(Row("store-10m", NEXT, later_ingest(big)))
    if any(r.command == NEXT for r in rows):
        n_records["bench-next"] = records_in(measure([PY, str(BASE / "naive_loop.py"), str(archive("bench-next"))]))
    steps = json.loads(subprocess.run([PY, str(HERE / "steps.py"), str(archive("bench-1m")), "--json"],
                                      capture_output=True, text=True, check=True).stdout)
    spark_result = spark(a.spark_events) if a.spark else None
    text = render(a, rows, notes, n_records, steps, spark_result)
    print(text)
    (HERE / "results.md").write_text(text)


def render(a: argparse.Namespace, rows: list[Row], notes: list[str], n_records: dict[str, int],
           steps: dict[str, object], spark_result: dict[str, object] | None) -> str:
    floor = next(r.m.wall for r in rows if r.command.startswith("decompress_floor"))
    naive = next(r.m.wall for r in rows if r.command.startswith("naive_loop"))
    flags = "".join(f" --{f}" for f in ("big", "reports", "spark", "duckdb") if getattr(a, f))
    basis = rows[0].m.cpu_basis
    lines = [
        f"Measured {datetime.now(UTC):%Y-%m-%d} on {platform.machine()} Linux, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, warm page cache, whole processes (`python bench/run.py{flags}`). "
        f"CPU seconds: every process of the command ({'its own cgroup' if basis == 'cgroup' else 'the machine, idle otherwise'}).",
        "",
        "| archive | command | seconds (fastest of 3) | slowest | CPU s | µs CPU per record | × floor | naive ÷ this | RSS MB (largest / all) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        n = n_records.get("bench-next" if r.command == NEXT else r.archive)
        per = f"{r.m.cpu / n * 1e6:.1f}" if n and (r.archive != "store-10m" or r.command == NEXT) and r.command != PAIR else ""
        failed = " **(failed)**" if r.m.returncode not in (0, 3) else ""
        slowest = SLOWEST.get(id(r.m))
        lines.append(f"| {r.archive} | {r.command}{failed} | {r.m.wall:.2f} | {'' if slowest is None else f'{slowest:.2f}'} | "
                     f"{r.m.cpu:.1f} | {per} | {r.m.wall / floor:.2f} | "
                     f"{naive / r.m.wall:.2f} | {r.m.rss_max:.0f} / {r.m.rss_sum:.0f} |")
    lines.append("")
    for name in n_records:
        if name == "bench-next":
            continue
        one = next(r.m for r in rows if r.archive == name and r.command == "keytrail ingest --workers 1")
        alln = next(r.m for r in rows if r.archive == name and r.command.startswith("keytrail ingest (") and "workers)" in r.command)
        if name == "bench-1m":
            both = next(r.m for r in rows if r.command == PAIR)
            naive_m = next(r.m for r in rows if r.command.startswith("naive_loop"))
            lines.append(f"- the machine: two naive loops at once did twice the work {2 * naive / both.wall:.2f}× as fast as one "
                         f"(2.00× on two free cores; the naive loop's runs took {naive:.2f}–{SLOWEST.get(id(naive_m), naive):.2f} s: "
                         "the machine's speed varies from minute to minute, and every ratio here with it)")
        lines.append(f"- {name}: {WORKERS} workers ÷ 1 worker: {one.wall / alln.wall:.2f}× faster; "
                     f"naive ÷ keytrail: {naive / alln.wall:.2f}× (bench-1m's naive loop); keytrail ÷ floor: {alln.wall / floor:.2f}×")
        usage = next(r.m for r in rows if r.archive == name and r.command.startswith("keytrail usage"))
        lines.append(f"- {name}: one-shot usage ÷ ingest = {usage.wall / alln.wall:.2f}")
    if a.big:
        r1 = next(r.m.rss_max for r in rows if r.archive == "bench-1m" and r.command.startswith("keytrail ingest ("))
        r3 = next(r.m.rss_max for r in rows if r.archive == "bench-3m" and r.command.startswith("keytrail ingest ("))
        lines.append(f"- peak RSS of ingest (largest process), 3M ÷ 1M = {r3 / r1:.2f}")
    later = [r for r in rows if r.command == NEXT]
    if later:
        lines.append(f"- a later ingest (bench-next: {n_records.get('bench-next', 0):,} records, new files into a store "
                     "holding the archive): " + "; ".join(f"{r.archive} {r.m.wall:.2f} s, {r.m.rss_max:.0f} MB" for r in later))
    lines += [f"- {note}" for note in notes]
    lines += ["", f"Where a worker's CPU goes (`python bench/steps.py`: {steps['files']} log files of bench-1m, "
              f"{steps['records']:,} records, {steps['kms_records']:,} KMS calls, {steps['rows']:,} key-use rows; "
              "least of three runs):", "", "| step | µs of CPU per record |", "|---|---:|"]
    for k, v in steps["steps"].items():  # type: ignore[attr-defined]
        lines.append(f"| {k} | {v:.2f} |")
    lines.append(f"| **total** | **{steps['total']:.2f}** |")
    if spark_result is not None:
        s = spark_result
        local = s["local_records_per_cpu"]
        lines += ["", f"Spark (`bench/spark_bench.py --events {a.spark_events}`, local mode): {s['records']:,} records.", "",
                  "| engine | records per CPU second |", "|---|---:|",
                  f"| Spark job, marginal (the extra records of the larger archive) | {s['marginal']:,.0f} |",
                  f"| Spark job, local[1], whole job | {s['whole']:,.0f} |",
                  f"| local engine, `keytrail ingest --workers 1` | {local:,.0f} |",
                  "", f"- Spark ÷ local engine, records per CPU second: {s['marginal'] / local:.0%} (marginal)"]  # type: ignore[operator]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
