"""The schemas of the Spark job: what it reads, what it stages, and the Parquet dataset it writes.

Spark infers nothing: the files are read as bytes (``BINARY_FILE``) and parsed by keytrail's own
code; every DataFrame the job builds gets one of the explicit schemas below, so free-form
CloudTrail objects (``requestParameters``, the encryption context) never become Spark structs --
the encryption context is kept as compact JSON text, as in the DuckDB store.

The output dataset (``DIR/date=YYYY-MM-DD/account=ACCOUNT/*.parquet``) has the columns of the
store's ``key_use`` table (``keytrail.resolve.KEY_USE_COLUMNS``), with these types:

* ``key_resolved``: boolean; ``event_time``: timestamp without time zone (UTC);
  ``file_id``, ``rec_index``: 64-bit integers; every other column: string.
* ``file_id`` is a stable hash of the source file's URI (``file_id_of``); the dataset's ``files``
  table (``DIR/_keytrail/dataset/files``) maps it to the URI, as the store's ledger does.
* Partition columns: ``date`` (the call's eventTime, UTC, ``YYYY-MM-DD``) and ``account`` (the
  key owner's account from the key ARN; ``unknown`` when the key is not an ARN).

Beside it, ``DIR/_keytrail/dataset/`` holds ``manifest.json`` and the tables a report needs
besides ``key_use``, with the store's columns: ``alias_history``, ``identity_map``,
``credentials``, ``files`` and ``record_problems``.

Column lists follow the model (``keytrail.normalize.model``) and the store's row types
(``keytrail.store.tables``), so a field added there flows through; only the types of non-string
columns are named here.
"""

from __future__ import annotations

import hashlib
from typing import Any

from keytrail.normalize.model import IdentityHint
from keytrail.resolve import GROUP_RULE_COLUMNS, KEY_USE_COLUMNS, ROW_RULE_COLUMNS
from keytrail.spark.stages import PARTITION_COLUMNS, UNKNOWN_ACCOUNT
from keytrail.store.segments import RAW_COLUMNS
from keytrail.store.tables import AliasRow, CredentialRow, FileEntry, ProblemRow

LONG = frozenset({"file_id", "rec_index", "row_no", "record_rows", "event_key", "event_time", "size", "records", "kms_records", "rows", "problems",
                  "ingest_id"})
BOOLEAN = frozenset({"key_resolved", "open", *GROUP_RULE_COLUMNS})
STRINGS = frozenset({"alt_keys"})
TIMESTAMP = frozenset({"event_time"})  # in key_use only; epoch seconds (long) everywhere else

__all__ = ["PARTITION_COLUMNS", "UNKNOWN_ACCOUNT"]

# what a worker stages per file, one table per kind: the store's row types (``store.tables``)
ALIAS_FIELDS: tuple[str, ...] = AliasRow.__struct_fields__
CREDENTIAL_FIELDS: tuple[str, ...] = CredentialRow.__struct_fields__
IDENTITY_FIELDS: tuple[str, ...] = (*IdentityHint.__struct_fields__, "source")
FILE_FIELDS: tuple[str, ...] = tuple(f for f in FileEntry.__struct_fields__ if f not in ("segment", "verified"))
PROBLEM_FIELDS: tuple[str, ...] = ProblemRow.__struct_fields__

ROW_FIELDS: tuple[str, ...] = ("file_order", *RAW_COLUMNS, *(c for c in ROW_RULE_COLUMNS if c not in ("key", "who")))
"""A key-use row as the resolver's stages read it: the normaliser's columns, its file's log order,
the row rules' category and open flag (key and who are the stages' to decide)."""
STAGE_A_COLUMNS: tuple[str, ...] = (*ROW_FIELDS, "redelivered", "key", "who")
"""What stage A (``spark.stages.resolve_events``) returns."""
STAGED_ROW_FIELDS: tuple[str, ...] = (*ROW_FIELDS, "key", "who")
"""A key-use row as staged: with the row rules' key and principal too (what a settled row counts
with; the stages decide them again for the rows they take)."""

KINDS: dict[str, tuple[str, ...]] = {
    "row": STAGED_ROW_FIELDS,
    "alias": ("file_order", *ALIAS_FIELDS),
    "credential": CREDENTIAL_FIELDS,
    "identity": IDENTITY_FIELDS,
    "file": FILE_FIELDS,
    "problem": (*PROBLEM_FIELDS, "uri"),
}
"""Staged tables: what the normalising pass writes for each kind of output."""


def _union(groups: list[tuple[str, ...]]) -> tuple[str, ...]:
    out: list[str] = []
    for g in groups:
        out.extend(c for c in g if c not in out)
    return tuple(out)


STAGE_KIND = "stage_kind"
STAGE_COLUMNS: tuple[str, ...] = (STAGE_KIND, *_union(list(KINDS.values())))
"""One wide staged row holds any kind (unused columns null); ``stage_kind`` says which."""

STAGE_POSITIONS: dict[str, tuple[int, ...]] = {
    kind: tuple(STAGE_COLUMNS.index(c) for c in cols) for kind, cols in KINDS.items()
}

OUTPUT_COLUMNS: tuple[str, ...] = (*KEY_USE_COLUMNS, *PARTITION_COLUMNS)

DATASET_TABLES: dict[str, tuple[str, ...]] = {
    "alias_history": ALIAS_FIELDS,
    "identity_map": IDENTITY_FIELDS,
    "credentials": CREDENTIAL_FIELDS,
    "files": FILE_FIELDS,
    "record_problems": PROBLEM_FIELDS,
}
"""The history and ledger tables written beside key_use, named and ordered like the store's."""


def file_id_of(uri: str) -> int:
    """A file's id: a stable, positive 63-bit hash of its URI (the same in every run)."""
    return int.from_bytes(hashlib.blake2b(uri.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "big") >> 1


def spark_type(name: str, timestamps: bool = False) -> Any:
    from pyspark.sql import types as T

    if timestamps and name in TIMESTAMP:
        return T.TimestampNTZType()
    if name in LONG:
        return T.LongType()
    if name in BOOLEAN:
        return T.BooleanType()
    if name in STRINGS:
        return T.ArrayType(T.StringType(), containsNull=True)
    return T.StringType()


def arrow_type(name: str, timestamps: bool = False) -> Any:
    """The Arrow type of a column, as ``spark_type`` (what ``mapInArrow`` steps exchange)."""
    import pyarrow as pa

    if timestamps and name in TIMESTAMP:
        return pa.timestamp("us")
    if name in LONG:
        return pa.int64()
    if name in BOOLEAN:
        return pa.bool_()
    if name in STRINGS:
        return pa.list_(pa.string())
    return pa.string()


def arrow_schema(columns: tuple[str, ...], timestamps: bool = False) -> Any:
    import pyarrow as pa

    return pa.schema([(c, arrow_type(c, timestamps)) for c in columns])


def conform(table: Any, columns: tuple[str, ...], timestamps: bool = False) -> Any:
    """``table`` with exactly these columns and types (absent ones null), for Spark's Arrow exchange."""
    import pyarrow as pa

    schema = arrow_schema(columns, timestamps)
    arrays = [
        table.column(f.name).cast(f.type) if f.name in table.column_names else pa.nulls(table.num_rows, f.type)
        for f in schema
    ]
    return pa.Table.from_arrays(arrays, schema=schema)


def struct(columns: tuple[str, ...], timestamps: bool = False) -> Any:
    """An explicit Spark schema for these columns (all nullable)."""
    from pyspark.sql import types as T

    return T.StructType([T.StructField(c, spark_type(c, timestamps), nullable=True) for c in columns])


def binary_file() -> Any:
    """Spark's ``binaryFile`` source, stated explicitly."""
    from pyspark.sql import types as T

    return T.StructType(
        [
            T.StructField("path", T.StringType(), False),
            T.StructField("modificationTime", T.TimestampType(), False),
            T.StructField("length", T.LongType(), False),
            T.StructField("content", T.BinaryType(), True),
        ]
    )
