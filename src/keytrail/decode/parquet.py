"""Security Lake's OCSF Parquet files, read with DuckDB (``*.gz.parquet``, a local copy or S3).

A file is read a batch of rows at a time (Arrow, through pyarrow) and DuckDB selects from each
batch the paths of ``keytrail.sources.ocsf_mapping.FIELDS`` for the source version the file's schema
shows (version 2 has ``actor.user.uid_alt``, version 1 ``actor.user.uuid``); a path the file
lacks is read as empty. Only KMS calls and STS credential hand-outs become records (through the
one OCSF mapping, ``record_from_row``); every other AssumedRole or IAMUser row gives its identity
hint, as log files' records do. Record indexes are row numbers in the file.

The account and Region of Security Lake's S3 layout (``region=R/accountId=A/eventDay=D/``) are
read from the file's path: the account is the recipient account when a row does not say it.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from typing import Any

from keytrail.decode.hints import hint_of
from keytrail.decode.record import STS_SOURCE, FileRecords, UserIdentity, as_struct, is_read
from keytrail.errors import NotCloudTrail, SourceReadError
from keytrail.sources.ocsf_mapping import FIELDS, KMS_SOURCE, VERSION_1, VERSION_2, record_from_row

MAGIC = b"PAR1"
BATCH_ROWS = 50_000
_PARTITION = re.compile(r"(?:^|/)accountid=(\d{12})(?:/|$)", re.IGNORECASE)
_IDENTITY_COLUMNS = ("ui_type", "ui_arn", "ui_principal_id", "ui_account", "ui_issuer", "unmapped")


def is_parquet(data: bytes) -> bool:
    return data[:4] == MAGIC


def _has(schema: Any, path: str) -> bool:
    """Whether a dotted path (``resources[].uid`` for a list of structs) exists in an Arrow schema."""
    import pyarrow as pa

    names = path.replace("[]", "").split(".")
    index = schema.get_field_index(names[0])
    if index < 0:
        return False
    kind = schema.field(index).type
    for name in names[1:]:
        if pa.types.is_list(kind) or pa.types.is_large_list(kind):
            kind = kind.value_type
        if not pa.types.is_struct(kind) or kind.get_field_index(name) < 0:
            return False
        kind = kind.field(kind.get_field_index(name)).type
    return True


def _version(schema: Any) -> tuple[int, str]:
    """The source version, and the top-level name of the actor (``identity`` in early version 1 data)."""
    for actor in ("actor", "identity"):
        if _has(schema, f"{actor}.user.uid_alt") or _has(schema, f"{actor}.user.account.uid"):
            return VERSION_2, actor
        if _has(schema, f"{actor}.user.uuid") or _has(schema, f"{actor}.user.account_uid"):
            return VERSION_1, actor
    return VERSION_2, "actor"


def _quoted(path: str) -> str:
    return ".".join(f'"{p}"' for p in path.split("."))


def _leaves(value: object, path: str) -> list[object] | None:
    """``path`` (``owner.account.uid``) of every entry of a list of structs."""
    if not isinstance(value, list):
        return None
    out = []
    for entry in value:
        for name in path.split("."):
            entry = entry.get(name) if isinstance(entry, dict) else None
        out.append(entry)
    return out


def _select(schema: Any) -> str:
    """The DuckDB select list of FIELDS for this file's schema (constant paths, never log data)."""
    version, actor = _version(schema)
    items = []
    for f in FIELDS:
        path = f.path(version)
        if path is not None and path.startswith("actor."):
            path = actor + path[len("actor") :]
        if path is None or not _has(schema, path):
            items.append(f'NULL AS "{f.column}"')
        elif "[]." in path:  # the list as it is: its entries' fields are taken in Python (_leaves)
            items.append(f'{_quoted(path.partition("[].")[0])} AS "{f.column}"')
        else:
            items.append(f'{_quoted(path)} AS "{f.column}"')
    return ", ".join(items)


def _lists(schema: Any) -> dict[str, str]:
    """column -> the entry path of the FIELDS that are lists of structs (resources[].uid)."""
    version, _ = _version(schema)
    return {f.column: path.partition("[].")[2] for f in FIELDS if (path := f.path(version)) and "[]." in path}


def read_parquet(data: bytes, uri: str) -> FileRecords:
    """The KMS calls and STS credential hand-outs of an OCSF Parquet file, and every row's identity hint."""
    import duckdb
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(io.BytesIO(data))
    except (pa.ArrowException, OSError) as e:
        raise SourceReadError(uri, f"not a readable Parquet file ({e})") from e
    schema = pf.schema_arrow
    if not _has(schema, "api.service.name") or not _has(schema, "api.operation"):
        raise NotCloudTrail("Parquet, not OCSF API Activity (no api.service.name, api.operation)")
    m = _PARTITION.search(uri.replace("\\", "/"))
    account = m[1] if m else None
    out = FileRecords("ocsf-parquet")
    version, actor = _version(schema)
    wanted = f"{_quoted('api.service.name')} IN ('{KMS_SOURCE}', '{STS_SOURCE}')"
    if _has(schema, f"{actor}.user.type"):
        wanted += f" OR {_quoted(actor + '.user.type')} IN ('AssumedRole', 'IAMUser')"  # identity hints
    sql = f"SELECT __row, {_select(schema)} FROM batch WHERE {wanted}"  # noqa: S608 - FIELDS' constant paths
    lists = _lists(schema)
    con = duckdb.connect()
    try:
        for batch in _batches(pf, uri):
            rows = batch.num_rows
            table = pa.Table.from_batches([batch]).append_column("__row", pa.array(range(out.total, out.total + rows), pa.int64()))
            out.total += rows
            con.register("batch", table)
            cursor = con.execute(sql)
            names = [d[0] for d in cursor.description]
            for values in cursor.fetchall():
                row = dict(zip(names, values, strict=True))
                for column, leaf in lists.items():
                    row[column] = _leaves(row[column], leaf)
                _take(row, account, out)
            con.unregister("batch")
    except duckdb.Error as e:
        raise SourceReadError(uri, f"cannot read the OCSF rows ({e})") from e
    finally:
        con.close()
    return out


def _batches(pf: Any, uri: str) -> Iterator[Any]:
    import pyarrow as pa

    try:
        yield from pf.iter_batches(batch_size=BATCH_ROWS)
    except (pa.ArrowException, OSError) as e:
        raise SourceReadError(uri, f"Parquet file damaged ({e})") from e


def _take(row: dict[str, Any], account: str | None, out: FileRecords) -> None:
    index = int(row.pop("__row"))
    if account is not None and not row.get("lake_account"):
        row["lake_account"] = account
    source, name = row.get("event_source"), row.get("event_name")
    if source == KMS_SOURCE or (source == STS_SOURCE and is_read(source, name)):
        out.parsed.append((index, record_from_row(row)))
        return
    if row.get("ui_type") in ("AssumedRole", "IAMUser"):
        ui = record_from_row({k: row.get(k) for k in _IDENTITY_COLUMNS}).get("userIdentity")
        hint = hint_of(as_struct(ui, UserIdentity)) if ui else None
        if hint is not None:
            out.hints.add(hint)


__all__ = ["MAGIC", "is_parquet", "read_parquet"]
