"""The store: a DuckDB database file with the key-use rows in Parquet segments beside it, or a
Parquet dataset written by the Spark job -- one interface, ``Store``, for every report.

``database`` (``Store``, ``open_dataset``) is the entry; see its docstring for the modules.
"""

from keytrail.resolve import KEY_USE_COLUMNS
from keytrail.store.database import LedgerEntry, Store, open_dataset
from keytrail.store.segments import STORED_COLUMNS
from keytrail.store.tables import (
    SCHEMA_VERSION,
    TABLE_COLUMNS,
    TABLE_ROWS,
    AliasRow,
    CredentialRow,
    FileEntry,
    ProblemRow,
    arrow_table,
    storable,
    to_arrow,
)

__all__ = [
    "KEY_USE_COLUMNS",
    "SCHEMA_VERSION",
    "STORED_COLUMNS",
    "TABLE_COLUMNS",
    "TABLE_ROWS",
    "AliasRow",
    "CredentialRow",
    "FileEntry",
    "LedgerEntry",
    "ProblemRow",
    "Store",
    "arrow_table",
    "open_dataset",
    "storable",
    "to_arrow",
]
