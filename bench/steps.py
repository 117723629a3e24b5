#!/usr/bin/env python3
"""Where an ingest worker's CPU goes: each step of the local engine on a sample of an archive's
log files, in one process, as microseconds of CPU per record (every CloudTrail record read, KMS
or not). Each step is timed over the whole sample, three times; the least is kept.

    python bench/steps.py ARCHIVE [--files N]

Prints a Markdown table (and JSON with --json).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import tempfile
import time
from pathlib import Path


def log_files(root: Path, n: int) -> list[str]:
    paths = sorted(str(p) for p in (root / "AWSLogs").rglob("*.json.gz") if "CloudTrail" in p.parts)
    step = max(1, len(paths) // n)
    return paths[::step][:n]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("archive", type=Path)
    ap.add_argument("--files", type=int, default=300)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()

    import pyarrow.parquet as pq

    from keytrail.decode import gunzip_if_needed, read_records
    from keytrail.pipeline.worker import Extracted, FileOutcome, finish_rows, normalize_records
    from keytrail.store.segments import COMPRESSION, ROW_GROUP, private_file, with_row_rules

    paths = log_files(a.archive, a.files)
    out_dir = tempfile.mkdtemp(prefix="keytrail-steps-")
    times: dict[str, list[float]] = {}
    records = kms = rows = 0

    def timed(step: str, started: float) -> None:
        times.setdefault(step, []).append(time.process_time() - started)

    with_row_rules.__name__  # noqa: B018 - imported before timing (DuckDB's first query)
    for _ in range(3):
        gc.collect()
        gc.disable()
        t = time.process_time()
        blobs = [Path(p).read_bytes() for p in paths]
        timed("read files", t)
        t = time.process_time()
        data = [gunzip_if_needed(b, p) for b, p in zip(blobs, paths, strict=True)]
        timed("gunzip (ISA-L)", t)
        t = time.process_time()
        decoded = [read_records(d, p) for d, p in zip(data, paths, strict=True)]
        timed("decode (msgspec: scalars and userIdentity of every record, objects of KMS/STS records)", t)
        ex = Extracted()
        files = []
        t = time.process_time()
        for i, fr in enumerate(decoded):
            o = FileOutcome(paths[i], 0, "", "ingested")
            normalize_records(i, fr, o, ex)
            files.append((i, o))
        timed("normalise (rules, identity, key references)", t)
        t = time.process_time()
        tables = finish_rows(files, ex)
        timed("Arrow columns (and the long-value check)", t)
        t = time.process_time()
        stored = with_row_rules(tables.rows)
        timed("row rules (DuckDB)", t)
        t = time.process_time()
        with private_file(os.path.join(out_dir, f"s{time.time_ns()}.parquet")) as f:
            pq.write_table(stored, f, compression=COMPRESSION, row_group_size=ROW_GROUP)
        timed("Parquet segment (zstd)", t)
        records = sum(fr.total for fr in decoded)
        kms = sum(o.kms_records for _, o in files)
        rows = stored.num_rows
        del blobs, data, decoded, ex, files, tables, stored
        gc.enable()
    best = {k: min(v) for k, v in times.items()}
    total = sum(best.values())
    result = {
        "files": len(paths), "records": records, "kms_records": kms, "rows": rows,
        "steps": {k: v / records * 1e6 for k, v in best.items()}, "total": total / records * 1e6,
    }
    if a.json:
        print(json.dumps(result))
        return
    print(f"{len(paths)} files, {records:,} records ({kms:,} KMS calls, {rows:,} key-use rows)\n")
    print("| step | µs of CPU per record | share |")
    print("|---|---:|---:|")
    for k, v in best.items():
        print(f"| {k} | {v / records * 1e6:.2f} | {v / total:.0%} |")
    print(f"| **total** | **{total / records * 1e6:.2f}** | |")


if __name__ == "__main__":
    sys.exit(main())
