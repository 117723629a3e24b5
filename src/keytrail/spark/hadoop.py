"""The Spark job's inputs and output through Hadoop's file systems (through the JVM: every scheme
Spark reads -- s3a://, hdfs://, file:, ...)."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

from pyspark.sql import SparkSession

from keytrail.errors import SourceError, StoreError, UsageError
from keytrail.i18n import _


class HadoopFileSystem:
    """``commit.FileSystem`` over the Hadoop FileSystem of one path (s3a://, hdfs://, file:, ...)."""

    def __init__(self, spark: SparkSession, uri: str) -> None:
        sc = spark.sparkContext
        self._Path = sc._jvm.org.apache.hadoop.fs.Path  # type: ignore[union-attr]
        try:
            self._fs = self._Path(uri).getFileSystem(sc._jsc.hadoopConfiguration())  # type: ignore[union-attr]
        except Exception as e:  # py4j's Py4JJavaError: no file system for the scheme, bad bucket, ...
            raise SourceError(f"{uri}: {java_message(e)}") from e

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
            raise StoreError(_("cannot move {source} to {target}").format(source=src, target=dst))

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


def java_message(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    for line in text:
        if "Exception:" in line:
            return line.split("Exception:", 1)[1].strip() or line
    return text[0] if text else type(e).__name__


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
            raise UsageError(_("spark-ingest reads files and directories, not standard input ('-')"))
        fs = HadoopFileSystem(spark, src)
        try:
            q = fs.qualify(src)
            found = fs.exists(q)
            is_file = found and fs.is_file(q)
        except Exception as e:
            raise SourceError(f"{src}: {java_message(e)}") from e
        if not found:
            # a missing input would drop its partitions from the dataset: stop before reading anything
            raise SourceError(_("{path}: no such file or directory").format(path=src))
        roots.setdefault(q, i)
        if is_file:
            explicit.add(q)
    dirs = [r for r in roots if r not in explicit]
    read = tuple(r for r in roots if not any(r != d and r.startswith(d.rstrip("/") + "/") for d in dirs))
    return Inputs(roots, frozenset(explicit), read)
