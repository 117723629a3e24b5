"""The Spark job: CloudTrail files -> keytrail's normaliser -> resolved key-use rows as Parquet.

Every step runs keytrail's own code on Arrow batches (``mapInArrow``): no row crosses between the
JVM and Python one at a time, and no rule is written again for Spark.

1. **Normalise** (the one full read of the input). Spark lists the input (``binaryFile``, any
   Hadoop file system: s3a://, hdfs://, file:) and hands each task whole files; the task runs the
   local pipeline's own ``process_file`` (``decode.read_records`` + ``normalize.normalize``) and
   row rules (``store.segments``), and stages what it returns -- key-use rows, alias changes,
   identity hints, STS credentials, the file's outcome, rejected records -- as Parquet under the
   staging directory.
2. **Histories**: the alias changes and identity hints of *all* the input are collected on the
   driver and broadcast as Arrow.
3. **Resolve** with the resolver's SQL (``keytrail.resolve``) in DuckDB inside the tasks
   (``keytrail.spark.stages``): rows repartitioned by eventID for stage A (re-deliveries, aliases,
   hidden callers), then by sharedEventID for stage B (cross-account copies, once per call, key
   and category); stage B also gives the key_use columns and the partition columns.
4. **Write** the rows partitioned by ``date`` / ``account`` and the history tables into the
   staging directory, then **commit** (``keytrail.spark.commit``): only the dates of the window are
   replaced, and a failed job changes nothing.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from keytrail._version import __version__
from keytrail.decode.inflate import DEFAULT_MAX_FILE_BYTES
from keytrail.errors import PartialInputError
from keytrail.pipeline.engine import MAX_LISTED, IngestReport
from keytrail.resolve import CANDIDATE, SHARED_EVENT_KEYS, fill
from keytrail.spark import commit as cm
from keytrail.spark import schema as S
from keytrail.spark import stages
from keytrail.spark.hadoop import HadoopFileSystem, resolve_inputs
from keytrail.spark.tasks import FILES_PER_BATCH, normalize_files, resolve_copies, resolve_events, settle_rows
from keytrail.times import epoch_of_day, iso

OPEN_COST_BYTES = 256 << 10
"""How Spark weighs opening a file when it packs files into read tasks (its default, 4 MB, puts
only a few dozen small CloudTrail files in a task)."""

MAX_RECORDS_PER_FILE = 5_000_000


@dataclass(frozen=True)
class JobOptions:
    """What to read, where to write, which dates to rewrite."""

    sources: tuple[str, ...]
    output: str
    window: cm.Window = field(default_factory=cm.Window)
    strict: bool = False
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES  # a larger file, or one inflating past it, is not read


@dataclass
class JobResult:
    report: IngestReport
    output: str = ""
    rows_written: int = 0
    partitions: int = 0
    replaced: list[str] = field(default_factory=list)  # dates rewritten
    dropped: list[str] = field(default_factory=list)  # dates removed (no rows any more)
    alias_changes: int = 0
    identities: int = 0
    recovered: bool = False  # an interrupted commit was finished first
    seconds: float = 0.0
    phases: dict[str, float] = field(default_factory=dict)  # seconds: normalize, histories, resolve, commit


def resolve(rows: DataFrame, histories: Any, window: cm.Window) -> DataFrame:
    """The rows that need other records (``keytrail.resolve.CANDIDATE``) through stage A by eventID
    and stage B by sharedEventID (``keytrail.spark.stages``); the settled rows, the most, straight
    to their key_use columns (no exchange); then the rows of each (date, account) partition
    together for the write."""
    since = epoch_of_day(window.since) if window.since is not None else None
    until = epoch_of_day(window.until) if window.until is not None else None
    candidates, settled = split_candidates(rows)
    events = candidates.repartition(F.expr(stages.event_partition)).mapInArrow(
        partial(resolve_events, histories), S.struct(S.STAGE_A_COLUMNS)
    )
    counted = events.repartition(F.expr(stages.copy_partition)).mapInArrow(
        partial(resolve_copies, (since, until)), S.struct(S.OUTPUT_COLUMNS, timestamps=True)
    )
    decided = settled.mapInArrow(partial(settle_rows, (since, until)), S.struct(S.OUTPUT_COLUMNS, timestamps=True))
    # the resolved rows, spread over every task by sharedEventID, are brought together by
    # (date, account) for the write; the settled rows are written by the tasks that staged them,
    # whose files are neighbours in the listing (docs/spark.md, "Files written")
    return counted.repartition(*S.PARTITION_COLUMNS).unionByName(decided)


def split_candidates(rows: DataFrame) -> tuple[DataFrame, DataFrame]:
    """(candidates, settled rows) by the local engine's own rule (``CANDIDATE`` over
    ``SHARED_EVENT_KEYS``, run by Spark SQL). The shared eventID digests (an aggregate of one
    column; re-deliveries are few) are broadcast, so that no settled row is exchanged."""
    spark = rows.sparkSession
    token = secrets.token_hex(6)
    names = {"rows": f"_keytrail_rows_{token}", "shared_keys": f"_keytrail_shared_keys_{token}"}
    rows.createOrReplaceTempView(names["rows"])
    F.broadcast(spark.sql(fill(SHARED_EVENT_KEYS, rows=names["rows"]))).createOrReplaceTempView(names["shared_keys"])
    try:
        candidate = fill(CANDIDATE, shared_keys=names["shared_keys"])
        picked = spark.sql(f"SELECT {', '.join(S.ROW_FIELDS)} FROM {names['rows']} WHERE {candidate}")  # noqa: S608
        settled = spark.sql(f"SELECT * FROM {names['rows']} WHERE NOT coalesce({candidate}, false)")  # noqa: S608
    finally:
        for name in names.values():  # the DataFrames hold their analysed plans
            spark.catalog.dropTempView(name)
    return picked, settled


# ---- 4. write -------------------------------------------------------------------------------------


def write_key_use(rows: DataFrame, path: str) -> None:
    """The resolved rows (partitioned by date and account: ``resolve``) as Parquet, one task per
    partition."""
    (
        rows.sortWithinPartitions(*S.PARTITION_COLUMNS, "key", "event_time")
        .write.partitionBy(*S.PARTITION_COLUMNS)
        .option("maxRecordsPerFile", MAX_RECORDS_PER_FILE)
        .mode("errorifexists")
        .parquet(path)
    )


def _report(files: DataFrame, problems: DataFrame) -> IngestReport:
    """What was read, in the local engine's terms (files, records, skip reasons, problems)."""
    r = IngestReport()
    totals = files.groupBy("status", "reason").agg(
        F.count(F.lit(1)), F.sum("records"), F.sum("kms_records"), F.sum("rows"), F.sum("size"), F.sum("problems")
    )
    for status, reason, n, records, kms, rows, size, rejected in totals.collect():
        r.records_rejected += rejected or 0  # counted per file: the problems table holds a sample of them
        r.files_seen += n
        r.files_new += n
        r.records += records or 0
        r.kms_records += kms or 0
        r.rows += rows or 0
        r.bytes_read += size or 0
        if status == "ingested":
            r.files_ingested += n
        elif status == "skipped":
            r.files_skipped += n
            key = str(reason or "not CloudTrail")
            r.skip_reasons[key] = r.skip_reasons.get(key, 0) + n
        else:
            r.files_error += n
    if r.files_error:
        errors = files.where(F.col("status") == "error").orderBy("uri").select("uri", "reason").limit(MAX_LISTED)
        r.errors = [f"{uri}: {reason}" for uri, reason in errors.collect()]
    for kind, n in problems.groupBy("kind").count().collect():
        if kind == "unattributed":
            r.records_unattributed = int(n)
    for kind, count, target in (
        ("rejected", r.records_rejected, r.record_problems),
        ("unattributed", r.records_unattributed, r.unattributed),
    ):
        if count:
            sample = problems.where(F.col("kind") == kind).orderBy("uri", "rec_index").limit(MAX_LISTED)
            target.extend(f"{u}: record {i}: {m}" for u, i, m in sample.select("uri", "rec_index", "message").collect())
    return r


def _write_dataset(kinds: dict[str, DataFrame], path: str) -> None:
    small = {"alias_history": kinds["alias"], "identity_map": kinds["identity"].distinct()}
    large = {"credentials": kinds["credential"], "files": kinds["file"], "record_problems": kinds["problem"]}
    for name, df in {**small, **large}.items():
        out = df.select(*S.DATASET_TABLES[name])
        if name in small:
            out = out.coalesce(1)
        out.write.mode("errorifexists").parquet(cm.join(path, name))


# ---- the job --------------------------------------------------------------------------------------


def run(spark: SparkSession, options: JobOptions) -> JobResult:  # long: the job's steps in order, with the staging cleanup around them
    """Normalise ``options.sources`` into the dataset at ``options.output`` (see the module docstring).

    Raises ``SourceError`` for a missing input, ``PartialInputError`` under ``strict`` when a
    file or record could not be read (nothing is written then).
    """
    started = time.perf_counter()
    fs = HadoopFileSystem(spark, options.output)
    output = fs.qualify(options.output)
    result = JobResult(IngestReport(), output=output)
    result.recovered = cm.finish(fs, output)
    cm.remove_stale_staging(fs, output)
    if not options.sources:
        result.seconds = time.perf_counter() - started
        return result
    inputs = resolve_inputs(spark, options.sources)
    staging = cm.new_staging_name()
    stage_dir = cm.join(output, staging)
    reading: dict[str, str | None] = {"spark.sql.files.openCostInBytes": str(OPEN_COST_BYTES),
               "spark.sql.execution.arrow.maxRecordsPerBatch": str(FILES_PER_BATCH)}
    saved = _set_conf(spark, reading)
    try:
        files = (
            spark.read.format("binaryFile")
            .schema(S.binary_file())
            .option("recursiveFileLookup", "true")
            .load(list(inputs.read))
        )
        # a file over the limit is not even read (binaryFile filters on length before reading content)
        cap = options.max_file_bytes
        small = files.where(F.col("length") <= cap).select("path", "modificationTime", "length", "content")
        large = files.where(F.col("length") > cap).select(
            "path", "modificationTime", "length", F.lit(None).cast("binary").alias("content")
        )
        stage = small.unionByName(large).mapInArrow(
            partial(normalize_files, inputs, max_file_bytes=cap), S.struct(S.STAGE_COLUMNS)
        )
        stage.write.partitionBy(S.STAGE_KIND).mode("errorifexists").parquet(cm.join(stage_dir, "stage"))
        _set_conf(spark, saved)  # the rows are exchanged in Spark's usual batches from here on
        mark = _phase(result, "normalize", started)
        staged = spark.read.schema(S.struct(S.STAGE_COLUMNS)).parquet(cm.join(stage_dir, "stage"))
        kinds = {k: staged.where(F.col(S.STAGE_KIND) == k).select(*cols) for k, cols in S.KINDS.items()}

        result.report = _report(kinds["file"], kinds["problem"])
        if options.strict and result.report.partial:
            raise PartialInputError(result.report.problems())

        aliases = kinds["alias"].select(*S.ALIAS_FIELDS, "file_order").toArrow()
        identities = kinds["identity"].select("unique_id", "arn").distinct().toArrow()
        result.alias_changes, result.identities = aliases.num_rows, identities.num_rows
        histories = spark.sparkContext.broadcast((stages.to_ipc(aliases), stages.to_ipc(identities)))
        mark = _phase(result, "histories", mark)

        write_key_use(resolve(kinds["row"], histories, options.window), cm.join(stage_dir, "key_use"))
        _write_dataset(kinds, cm.join(stage_dir, "dataset"))
        new_dates = cm.date_dirs(fs, cm.join(stage_dir, "key_use"))
        result.partitions = sum(
            1 for d in new_dates for n in fs.list_names(cm.join(stage_dir, "key_use", f"date={d}")) if n.startswith("account=")
        )
        if new_dates:
            written = spark.read.schema(S.struct(S.OUTPUT_COLUMNS, timestamps=True)).parquet(cm.join(stage_dir, "key_use"))
            result.rows_written = written.count()
        fs.delete(cm.join(stage_dir, "stage"))
        result.report.seconds = time.perf_counter() - started
        fs.write_text(cm.join(stage_dir, "dataset", "manifest.json"), _manifest(options, result))
        mark = _phase(result, "resolve", mark)
        journal = cm.plan(fs, output, staging, options.window)
        result.replaced = list(journal["replace"])  # type: ignore[call-overload]
        result.dropped = list(journal["drop"])  # type: ignore[call-overload]
        cm.commit(fs, output, journal)
        _phase(result, "commit", mark)
    except BaseException:
        _discard(fs, output, staging)
        raise
    finally:
        _set_conf(spark, saved)
    result.seconds = time.perf_counter() - started
    return result


def _set_conf(spark: SparkSession, values: dict[str, str | None]) -> dict[str, str | None]:
    """Set (None: unset) Spark SQL settings; returns what they were."""
    before = {key: spark.conf.get(key, None) for key in values}
    for key, value in values.items():
        if value is None:
            spark.conf.unset(key)
        else:
            spark.conf.set(key, value)
    return before


def _phase(result: JobResult, name: str, since: float) -> float:
    now = time.perf_counter()
    result.phases[name] = now - since
    return now


def _discard(fs: HadoopFileSystem, output: str, staging: str) -> None:
    """Remove a failed job's staging directory, unless a commit journal needs it to finish."""
    try:
        journal = cm.pending(fs, output)
        if journal is None or journal.get("staging") != staging:
            fs.delete(cm.join(output, staging))
    except Exception:  # noqa: S110 - cleanup after a failure must not hide that failure; the next job removes it
        pass


def _manifest(options: JobOptions, result: JobResult) -> str:
    r = result.report
    return json.dumps(
        {
            "format": cm.FORMAT,
            "version": cm.FORMAT_VERSION,
            "keytrail": __version__,
            "written": iso(datetime.now(UTC)),
            "sources": list(options.sources),
            "since": options.window.since,
            "until": options.window.until,
            "partitioning": list(S.PARTITION_COLUMNS),
            "columns": {c: _type_name(c) for c in S.OUTPUT_COLUMNS},
            "files": r.files_seen,
            "records": r.records,
            "kms_records": r.kms_records,
            "rows_written": result.rows_written,
        },
        indent=1,
    )


def _type_name(column: str) -> str:
    if column in S.TIMESTAMP:
        return "timestamp"
    return {"LongType": "bigint", "BooleanType": "boolean", "ArrayType": "array<string>"}.get(
        type(S.spark_type(column)).__name__, "string"
    )
