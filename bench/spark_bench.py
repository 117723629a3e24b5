#!/usr/bin/env python3
"""The Spark job's throughput in local mode on 1 and 2 cores, and what that means for 1 TB.

    python bench/spark_bench.py                  # 100k- and 200k-event organisation trails, built if absent
    python bench/spark_bench.py --events 50000   # smaller archives (EVENTS/2 and EVENTS)

Each measurement is a fresh process that starts one Spark session and runs the whole job (read,
normalise, histories, deduplicate, resolve, write Parquet, commit) four times; the first warms
the JVM up and is not counted, of the other three the run with the least CPU is kept (on a
shared machine other work only adds to a run's CPU time). Besides wall time it counts CPU seconds of
the whole process tree (the JVM and Spark's Python workers, from /proc): on a machine shared
with other work, wall time depends on the load, CPU time much less. local[1] runs on both
archives: the difference in CPU seconds is the cost of the extra records alone (the fixed cost
of a job's small Spark stages cancels out) -- the rate each executor core sustains on a large
input. local[2] and the local engine (``keytrail ingest``, 1 and 2 workers, whole process) run on
the larger archive. Records are every CloudTrail record read (KMS or not).

The projection for 1 TB of gzipped logs assumes: (a) the archive's compressed bytes per record
hold for real logs (stated in the output; real records are often larger, which makes the
projection pessimistic); (b) each executor core does what one local core does here (the job is
CPU-bound on decompressing and parsing JSON; S3 gives an executor core far more than the ~2 MB/s
of gzipped logs it consumes); (c) the work scales linearly with executor cores -- the files are
independent, and what is shuffled (one row per key a KMS call names) is small next to the input.
Archives and outputs go to bench/data/ (not committed).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from measure import measure

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
GEN = HERE.parent.parent / "shared" / "tools" / "gen_trail.py"
TB = 10**12
RUNS = 3  # timed runs of the job in one session, after the warm-up run: the least CPU is kept
CLUSTER_CORES = (64, 256)


def archive(events: int) -> Path:
    out = DATA / f"spark-{events // 1000}k"
    if not (out / "truth.json").exists():
        shutil.rmtree(out, ignore_errors=True)
        DATA.mkdir(parents=True, exist_ok=True)
        print(f"building {out.name} ...", file=sys.stderr)
        subprocess.run(
            [sys.executable, str(GEN), str(out), "--events", str(events), "--seed", "21", "--org", "--external-accounts",
             "1", "--accounts", "4", "--regions", "2", "--per-file", "400"],
            check=True,
        )
    return out


def child(master: str, source: str, output: str) -> None:
    """One Spark session, the job once to warm up and ``RUNS`` times timed; prints the figures of
    the timed run with the least CPU as JSON."""
    from keytrail.spark.job import JobOptions, run
    from keytrail.spark.session import spark_session

    cores = int(master.split("[")[1].rstrip("]"))
    spark = spark_session(master, {
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.shuffle.partitions": str(2 * cores),
        "spark.driver.memory": "2g",
    })
    spark.sparkContext.setLogLevel("ERROR")
    run(spark, JobOptions((source,), output))
    timed = []
    for _ in range(RUNS):
        cpu = tree_cpu()
        started = time.perf_counter()
        result = run(spark, JobOptions((source,), output))
        timed.append((tree_cpu() - cpu, time.perf_counter() - started, result))
    cpu, seconds, result = min(timed, key=lambda t: t[0])  # a shared machine only adds CPU time
    r = result.report
    print(json.dumps({"seconds": seconds, "cpu": cpu, "records": r.records, "kms_records": r.kms_records,
                      "rows": result.rows_written, "bytes": r.bytes_read, "phases": result.phases}))
    spark.stop()


def tree_cpu() -> float:
    """CPU seconds (user + system) used so far by this process and every live descendant: the
    JVM and Spark's Python workers (long-lived, so their time is still on their own /proc entry)."""
    tick = os.sysconf("SC_CLK_TCK")
    stats: dict[int, tuple[int, float]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            stats[int(entry)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / tick)
    mine = {os.getpid()}
    grew = True
    while grew:
        more = {pid for pid, (parent, _) in stats.items() if parent in mine} - mine
        mine |= more
        grew = bool(more)
    return sum(stats[pid][1] for pid in mine if pid in stats)


def spark_run(cores: int, source: Path) -> dict[str, Any]:
    out = DATA / f"spark-out-{cores}-{source.name}"
    shutil.rmtree(out, ignore_errors=True)
    proc = subprocess.run([sys.executable, __file__, "--child", f"local[{cores}]", str(source), str(out)],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        sys.exit(f"local[{cores}] failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def local_run(workers: int, source: Path) -> tuple[float, float]:
    """(seconds, CPU seconds of all its processes) of ``keytrail ingest``: of three runs (the first
    also warms the page cache), the one with the least CPU."""
    db = DATA / f"spark-bench-local-{workers}.duckdb"
    runs = []
    for _ in range(RUNS):
        for p in (db, Path(f"{db}.wal")):
            p.unlink(missing_ok=True)
        shutil.rmtree(f"{db}.segments", ignore_errors=True)
        m = measure([sys.executable, "-m", "keytrail", "ingest", str(source), "--db", str(db), "-q", "--workers",
                     str(workers)])
        if m.returncode != 0:
            sys.exit(f"keytrail ingest failed:\n{m.stderr.decode(errors='replace')[-3000:]}")
        runs.append(m)
    shutil.rmtree(f"{db}.segments", ignore_errors=True)
    db.unlink(missing_ok=True)
    best = min(runs, key=lambda r: r.cpu)
    return best.wall, best.cpu


def hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.0f} min"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--child", nargs=3, metavar=("MASTER", "SOURCE", "OUTPUT"), help=argparse.SUPPRESS)
    ap.add_argument("--json", action="store_true", help="also a JSON summary as the last line (for bench/run.py)")
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return
    small, big = archive(args.events // 2), archive(args.events)
    gz = sum(p.stat().st_size for p in (big / "AWSLogs").rglob("*.json.gz") if "CloudTrail-Digest" not in p.parts)
    one_small, one, two = spark_run(1, small), spark_run(1, big), spark_run(2, big)
    local = {workers: local_run(workers, big) for workers in (1, 2)}
    records = one["records"]
    per_record = gz / records
    # the extra records' cost alone: the fixed cost of a job's small stages cancels out
    marginal = (records - one_small["records"]) / (one["cpu"] - one_small["cpu"])

    print(f"Archive: {big.name}, {records:,} records ({one['kms_records']:,} KMS calls, "
          f"{one['rows']:,} key-use rows written), {gz / 1e6:.0f} MB gzipped ({per_record:.0f} bytes a record)\n")
    print("| engine | cores | seconds | records/s | CPU seconds | records per CPU second |")
    print("|---|---:|---:|---:|---:|---:|")
    for cores, r in ((1, one), (2, two)):
        print(f"| Spark job, local[{cores}] | {cores} | {r['seconds']:.1f} | {records / r['seconds']:,.0f} | "
              f"{r['cpu']:.1f} | {records / r['cpu']:,.0f} |")
    print(f"| Spark job, marginal ({big.name} minus {small.name}) | | | | "
          f"{one['cpu'] - one_small['cpu']:.1f} | {marginal:,.0f} |")
    for workers, (seconds, cpu) in local.items():
        print(f"| local engine, `keytrail ingest --workers {workers}` | {workers} | {seconds:.1f} | "
              f"{records / seconds:,.0f} | {cpu:.1f} | {records / cpu:,.0f} |")
    phases = ", ".join(f"{k} {v:.1f} s" for k, v in one["phases"].items())
    print(f"\nlocal[1] phases: {phases}. local[2] / local[1] wall time: {one['seconds'] / two['seconds']:.2f}x.")
    tb_records = TB / per_record
    print(f"1 TB of gzipped logs at {per_record:.0f} bytes a record is {tb_records / 1e9:.1f} billion records; at "
          f"{marginal:,.0f} records per CPU second per executor core:")
    for cores in CLUSTER_CORES:
        print(f"- {cores} executor cores: {hours(tb_records / (marginal * cores))}")
    if args.json:
        print(json.dumps({"records": records, "marginal": marginal, "whole": records / one["cpu"],
                          "local_records_per_cpu": records / local[1][1], "local_records_per_cpu_2": records / local[2][1],
                          "spark_seconds": {"1": one["seconds"], "2": two["seconds"]}, "phases": one["phases"],
                          "bytes_per_record": per_record}))


if __name__ == "__main__":
    main()
