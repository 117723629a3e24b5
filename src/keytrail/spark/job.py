"""The Spark job: CloudTrail files -> keytrail's normaliser -> resolved key-use rows as Parquet.

1. **Normalise** (the one full read of the input). Spark lists the input (``binaryFile``, any
   Hadoop file system: s3a://, hdfs://, file:) and hands each executor whole files; the executor
   runs ``keytrail.pipeline.process_file`` -- the local pipeline's own per-file function
   (``formats.read_records`` + ``normalize.normalize``) -- and stages what it returns (raw key-use
   rows, alias changes, identity hints, STS credentials, the file's outcome, rejected records) as
   Parquet under the staging directory.
2. **Histories**: the alias changes (CreateAlias / UpdateAlias / DeleteAlias) and identity hints
   of *all* the input are collected on the driver and broadcast (``AliasHistory``,
   ``IdentityMap``).
3. **Resolve**: re-deliveries and cross-account copies are removed across the whole dataset with
   window functions in the orders of ``keytrail.resolve`` (``resolution.redelivery_order``,
   ``resolution.copy_order``); every remaining row is resolved in Python by ``RowResolver``
   (alias as of the call's time, hidden callers, category); a last window keeps one row per call,
   key and category.
4. **Write** the rows partitioned by ``date`` / ``account`` and the history tables into the
   staging directory, then **commit** (``keytrail.spark.commit``): only the dates of the window are
   replaced, and a failed job changes nothing.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import partial
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import Window as W
from pyspark.sql import functions as F

from keytrail import __version__
from keytrail.errors import PartialInputError, SourceError, StoreError, UsageError
from keytrail.pipeline import MAX_LISTED, IngestReport, process_file
from keytrail.sources import FileRef
from keytrail.sources.local import _CANDIDATE, _non_log_reason
from keytrail.spark import commit as cm
from keytrail.spark import schema as S
from keytrail.spark.resolution import RAW_FIELDS, AliasHistory, IdentityMap, RowResolver, file_order_key
from keytrail.store import KEY_USE_COLUMNS

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
    phases: dict[str, float] = field(default_factory=dict)  # seconds: normalise, histories, resolve, commit


# ---- the file system (Hadoop's, through the JVM: every scheme Spark reads) ---------------------


class HadoopFileSystem:
    """``commit.FileSystem`` over the Hadoop FileSystem of one path (s3a://, hdfs://, file:, ...)."""

    def __init__(self, spark: SparkSession, uri: str) -> None:
        sc = spark.sparkContext
        self._Path = sc._jvm.org.apache.hadoop.fs.Path  # type: ignore[union-attr]
        try:
            self._fs = self._Path(uri).getFileSystem(sc._jsc.hadoopConfiguration())  # type: ignore[union-attr]
        except Exception as e:  # py4j's Py4JJavaError: no file system for the scheme, bad bucket, ...
            raise SourceError(f"{uri}: {_java_message(e)}") from e

    def qualify(self, path: str) -> str:
        return str(self._fs.makeQualified(self._Path(path)).toString())

    def exists(self, path: str) -> bool:
        return bool(self._fs.exists(self._Path(path)))

    def is_file(self, path: str) -> bool:
        return bool(self._fs.getFileStatus(self._Path(path)).isFile())

    def list_names(self, path: str) -> list[str]:
        p = self._Path(path)
        if not self._fs.exists(p):
            return []
        return sorted(str(s.getPath().getName()) for s in self._fs.listStatus(p))

    def rename(self, src: str, dst: str) -> None:
        target = self._Path(dst)
        self._fs.mkdirs(target.getParent())
        if not self._fs.rename(self._Path(src), target):
            raise StoreError(f"cannot move {src} to {dst}")

    def delete(self, path: str) -> None:
        self._fs.delete(self._Path(path), True)

    def write_text(self, path: str, text: str) -> None:
        # written whole to a new name, then renamed: readers never see a part of it
        tmp = f"{path}.tmp-{time.time_ns()}"
        out = self._fs.create(self._Path(tmp), True)
        try:
            out.write(bytearray(text.encode("utf-8")))
        finally:
            out.close()
        self.delete(path)
        self.rename(tmp, path)

    def read_text(self, path: str) -> str | None:
        p = self._Path(path)
        if not self._fs.exists(p):
            return None
        stream = self._fs.open(p)
        try:
            return bytes(stream.readAllBytes()).decode("utf-8")
        finally:
            stream.close()


def _java_message(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    for line in text:
        if "Exception:" in line:
            return line.split("Exception:", 1)[1].strip() or line
    return text[0] if text else type(e).__name__


# ---- inputs -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Inputs:
    """The inputs as given, qualified: their order (log order), which are files, what Spark reads."""

    roots: dict[str, int]  # qualified input -> its position on the command line
    explicit: frozenset[str]  # inputs that are files: read whatever their name
    read: tuple[str, ...]  # what Spark lists (inputs inside another input left out)

    def index_of(self, path: str) -> int:
        """The first input ``path`` lies under (as the local engine walks the inputs in order)."""
        best: int | None = None
        p = path
        while True:
            i = self.roots.get(p)
            if i is not None and (best is None or i < best):
                best = i
            cut = p.rfind("/")
            if cut <= 0:
                break
            p = p[:cut]
        return best if best is not None else 0


def resolve_inputs(spark: SparkSession, sources: Iterable[str]) -> Inputs:
    roots: dict[str, int] = {}
    explicit: set[str] = set()
    for i, src in enumerate(sources):
        if src == "-":
            raise UsageError("spark-ingest reads files and directories, not standard input ('-')")
        fs = HadoopFileSystem(spark, src)
        try:
            q = fs.qualify(src)
            found = fs.exists(q)
            is_file = found and fs.is_file(q)
        except Exception as e:
            raise SourceError(f"{src}: {_java_message(e)}") from e
        if not found:
            # a missing input would drop its partitions from the dataset: stop before reading anything
            raise SourceError(f"{src}: no such file or directory")
        roots.setdefault(q, i)
        if is_file:
            explicit.add(q)
    dirs = [r for r in roots if r not in explicit]
    read = tuple(r for r in roots if not any(r != d and r.startswith(d.rstrip("/") + "/") for d in dirs))
    return Inputs(roots, frozenset(explicit), read)


# ---- 1. normalise (runs on the executors) -----------------------------------------------------


@dataclass(frozen=True)
class _InHand:
    """A FileSource over bytes Spark has already read (``FileRef.data``)."""

    description: str = "spark"

    def files(self) -> Iterator[FileRef]:
        return iter(())

    def read(self, ref: FileRef) -> bytes:
        return ref.data if ref.data is not None else b""


_WIDTH = len(S.STAGE_COLUMNS)


def _staged(kind: str, values: Iterable[Any]) -> tuple[Any, ...]:
    row: list[Any] = [None] * _WIDTH
    row[0] = kind
    for pos, value in zip(S.STAGE_POSITIONS[kind], values, strict=True):
        row[pos] = value
    return tuple(row)


def normalise_files(inputs: Inputs, files: Iterable[Any]) -> Iterator[tuple[Any, ...]]:
    """Executor side: (path, modificationTime, length, content) rows -> staged rows of every kind."""
    source = _InHand()
    for path, mtime, length, content in files:
        explicit = path in inputs.explicit
        if not explicit and not _CANDIDATE.search(path.rsplit("/", 1)[-1]):
            continue  # not a log file name (the local engine does not look at these either)
        fid = S.file_id_of(path)
        version = str(int(mtime.timestamp() * 1000)) if mtime is not None else ""
        skip = _non_log_reason(path)
        if skip is not None:
            yield _staged("file", (fid, path, length, version, "skipped", None, 0, 0, 0, 0, skip, None))
            continue
        out, ex = process_file(source, fid, FileRef(path, length, version, data=bytes(content or b"")))
        order = file_order_key(inputs.index_of(path), path)
        yield _staged(
            "file",
            (fid, path, out.size, out.version, out.status, out.shape, out.records, out.kms_records, out.rows,
             len(out.problems), out.reason, None),
        )
        for r in ex.rows:
            yield _staged("row", (order, *r))
        for a in ex.aliases:
            yield _staged("alias", (order, *a))
        for c in ex.credentials:
            yield _staged("credential", c)
        for uid, arn in sorted(ex.identities):
            yield _staged("identity", (uid, arn, "trail"))
        for i, m in out.problems:
            yield _staged("problem", (fid, i, "rejected", m, path))
        for i, m in out.unattributed:
            yield _staged("problem", (fid, i, "unattributed", m, path))


# ---- 3. resolve ---------------------------------------------------------------------------------

_ACCOUNT = re.compile(r"\d{12}\Z")
_KEY_ACCOUNT = KEY_USE_COLUMNS.index("key_account")
_EVENT_TIME = RAW_FIELDS.index("event_time")


def resolve_rows(histories: Any, rows: Iterable[Any]) -> Iterator[tuple[Any, ...]]:
    """Executor side: raw rows (``RAW_FIELDS``) -> ``schema.RESOLVED_COLUMNS`` rows."""
    aliases, identities = histories.value
    resolver = RowResolver(KEY_USE_COLUMNS, aliases, identities)
    days: dict[int, str] = {}
    for raw in rows:
        out, ref_kind = resolver.resolve(raw)
        day = raw[_EVENT_TIME] // 86400
        text = days.get(day)
        if text is None:
            text = days[day] = time.strftime("%Y-%m-%d", time.gmtime(day * 86400))
        account = out[_KEY_ACCOUNT]
        # partition values become directory names: only account ids, never other log text
        yield (*out, ref_kind, text, account if account and _ACCOUNT.match(account) else S.UNKNOWN_ACCOUNT)


def deduplicate(rows: DataFrame) -> DataFrame:
    """Re-deliveries once, cross-account copies once (``resolution.redelivery_order`` and
    ``resolution.copy_order``, the orders of ``keytrail.resolve``)."""
    event_id, shared_id = F.col("event_id"), F.col("shared_event_id")
    alone = rows.where(event_id.isNull() & shared_id.isNull())  # never a re-delivery nor a copy
    rows = rows.where(event_id.isNotNull() | shared_id.isNotNull())
    # redelivery_order: the first (file order, record index) of each (eventID, eventName, eventTime)
    place = F.struct("file_order", "rec_index")
    record = F.coalesce(event_id, F.concat_ws(":", F.lit("file"), F.col("file_order"), F.col("rec_index")))
    first = F.min(place).over(W.partitionBy(record, "event_name", "event_time"))
    once = rows.withColumn("_first", first).where(F.col("_first") == place).drop("_first")
    # copy_order: the copy with the full identity, then eventID (none last), then log order
    rank = F.struct(
        (F.coalesce(F.col("identity_type"), F.lit("")) == F.lit("AWSAccount")).alias("hidden"),
        event_id.isNull().alias("no_event_id"),
        F.coalesce(event_id, F.lit("")).alias("event_id"),
        F.col("file_order"),
        F.col("rec_index"),
    )
    shared = (
        once.where(shared_id.isNotNull())
        .withColumn("_rank", rank)
        .withColumn("_best", F.min("_rank").over(W.partitionBy("shared_event_id")))
        .where(F.col("_rank") == F.col("_best"))
        .drop("_rank", "_best")
    )
    return alone.unionByName(once.where(shared_id.isNull())).unionByName(shared)


def resolve(spark: SparkSession, rows: DataFrame, histories: Any, window: cm.Window) -> DataFrame:
    kept = deduplicate(rows)
    if window.since is not None:
        kept = kept.where(F.col("event_time") >= _epoch(window.since))
    if window.until is not None:
        kept = kept.where(F.col("event_time") < _epoch(window.until))
    raw = kept.select(*RAW_FIELDS)
    resolved = spark.createDataFrame(
        raw.rdd.mapPartitions(partial(resolve_rows, histories)),
        S.struct(S.RESOLVED_COLUMNS, timestamps=True),
        verifySchema=False,
    )
    # once per call per key and category: the row whose ref_kind sorts first. date and account
    # follow from the call and the key, so adding them changes no group; it lets the window
    # reuse the partitioning the output is written with (one shuffle fewer)
    by_partition = resolved.repartition(*S.PARTITION_COLUMNS)
    group = W.partitionBy(*S.PARTITION_COLUMNS, "file_id", "rec_index", "key", "category")
    n = F.row_number().over(group.orderBy("ref_kind", "key_ref", "op"))
    return by_partition.withColumn("_n", n).where(F.col("_n") == 1).select(*S.OUTPUT_COLUMNS)


def _epoch(day: str) -> int:
    return int(datetime.combine(date.fromisoformat(day), datetime.min.time(), UTC).timestamp())


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
        F.count(F.lit(1)), F.sum("records"), F.sum("kms_records"), F.sum("rows"), F.sum("size")
    )
    for status, reason, n, records, kms, rows, size in totals.collect():
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
        if kind == "rejected":
            r.records_rejected = int(n)
        else:
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


def run(spark: SparkSession, options: JobOptions) -> JobResult:
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
    saved = spark.conf.get("spark.sql.files.openCostInBytes", None)
    spark.conf.set("spark.sql.files.openCostInBytes", str(OPEN_COST_BYTES))
    try:
        files = (
            spark.read.format("binaryFile")
            .schema(S.binary_file())
            .option("recursiveFileLookup", "true")
            .load(list(inputs.read))
        )
        staged_rows = files.select("path", "modificationTime", "length", "content").rdd.mapPartitions(
            partial(normalise_files, inputs)
        )
        stage = spark.createDataFrame(staged_rows, S.struct(S.STAGE_COLUMNS), verifySchema=False)
        stage.write.partitionBy(S.STAGE_KIND).mode("errorifexists").parquet(cm.join(stage_dir, "stage"))
        mark = _phase(result, "normalise", started)
        staged = spark.read.schema(S.struct(S.STAGE_COLUMNS)).parquet(cm.join(stage_dir, "stage"))
        kinds = {k: staged.where(F.col(S.STAGE_KIND) == k).select(*cols) for k, cols in S.KINDS.items()}

        result.report = _report(kinds["file"], kinds["problem"])
        if options.strict and result.report.partial:
            raise PartialInputError(result.report.problems())

        aliases = AliasHistory(
            (r[0], r[1], r[2], (r[3], r[4]))
            for r in kinds["alias"].select("alias_arn", "event_time", "target_key", "file_order", "rec_index").toLocalIterator()
        )
        identities = IdentityMap(
            (r[0], r[1])
            for r in kinds["identity"].groupBy("unique_id").agg(F.min("arn")).toLocalIterator()
        )
        result.alias_changes, result.identities = len(aliases), len(identities)
        histories = spark.sparkContext.broadcast((aliases, identities))
        mark = _phase(result, "histories", mark)

        write_key_use(resolve(spark, kinds["row"], histories, options.window), cm.join(stage_dir, "key_use"))
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
        if saved is None:
            spark.conf.unset("spark.sql.files.openCostInBytes")
        else:
            spark.conf.set("spark.sql.files.openCostInBytes", saved)
    result.seconds = time.perf_counter() - started
    return result


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
            "written": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
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
