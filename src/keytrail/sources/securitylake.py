"""Security Lake's CloudTrail tables through Athena: which table is one, and the shipped query.

``athena://DATABASE.TABLE`` names a Security Lake table when GetTableMetadata shows OCSF's
columns (``api``, ``actor``, ``metadata``) or, without catalog access, when the table's name ends
``_cloud_trail_mgmt_1_0`` / ``_cloud_trail_mgmt_2_0``. The version decides the query
(``securitylake_v1.sql``, ``securitylake_v2.sql``): version 2 is narrowed by its ``time_dt``
partition, version 1 by ``eventday`` ('YYYYMMDD') and the epoch milliseconds of ``time``; both by
``region`` and ``accountid`` for ``--regions`` / ``--accounts``. A path the catalog says the
table lacks is selected as NULL. The rows become CloudTrail records through the one OCSF mapping
(``keytrail.sources.ocsf_mapping``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from importlib import resources
from typing import Any

from keytrail.sources.ocsf_mapping import COLUMNS, FIELDS, VERSION_1, VERSION_2, version_of_table
from keytrail.times import epoch, iso

QUERY_FILES = {VERSION_1: "securitylake_v1.sql", VERSION_2: "securitylake_v2.sql"}
_SELECTED = re.compile(r"^(\s+)(.+) AS (\w+)(,?)$")


def query_template(version: int) -> str:
    """The shipped query text of a source version, comments included."""
    return resources.files("keytrail.sources").joinpath(QUERY_FILES[version]).read_text(encoding="utf-8")


# ---- the table's shape, from GetTableMetadata --------------------------------------------------


def _split_fields(inner: str) -> list[tuple[str, str]]:
    """``a:string,b:struct<c:int>`` -> [(a, string), (b, struct<c:int>)] (split at depth 0)."""
    out, depth, start = [], 0, 0
    for i, c in enumerate(inner + ","):
        if c == "<":
            depth += 1
        elif c == ">":
            depth -= 1
        elif c == "," and depth == 0:
            name, _, kind = inner[start:i].partition(":")
            if name.strip():
                out.append((name.strip().strip("`").lower(), kind.strip()))
            start = i + 1
    return out


def type_paths(name: str, kind: str) -> set[str]:
    """Every dotted path a column of this Hive type holds (``resources[].uid`` through arrays)."""
    name = name.lower()
    kind = kind.strip()
    lower = kind.lower()
    paths = {name}
    if lower.startswith("array<") and lower.endswith(">"):
        return paths | type_paths(name + "[]", kind[6:-1]) - {name + "[]"}
    if lower.startswith("struct<") and lower.endswith(">"):
        for field, sub in _split_fields(kind[7:-1]):
            paths |= type_paths(f"{name}.{field}", sub)
    return paths


def table_paths(columns: Sequence[Mapping[str, Any]]) -> set[str]:
    """The paths of a table's columns (GetTableMetadata's Columns and PartitionKeys)."""
    out: set[str] = set()
    for c in columns:
        out |= type_paths(str(c.get("Name", "")), str(c.get("Type", "")))
    return out


def version_of(table: str, paths: set[str] | None) -> int | None:
    """The Security Lake source version of a table (None: not a Security Lake CloudTrail table)."""
    if paths:
        if "api.operation" not in paths or "api.service.name" not in paths:
            return None
        if "actor.user.uid_alt" in paths or "actor.user.account.uid" in paths:
            return VERSION_2
        if "actor.user.uuid" in paths or "actor.user.account_uid" in paths:
            return VERSION_1
    return version_of_table(table)


# ---- the query ---------------------------------------------------------------------------------


def _present(paths: set[str] | None) -> Callable[[str], bool]:
    """Whether the table has a path: as the catalog says, else unless the mapping calls it optional."""
    if paths is None:
        optional = {f.v1 for f in FIELDS if f.optional} | {f.v2 for f in FIELDS if f.optional}
        return lambda p: p not in optional
    return lambda p: p.lower() in paths


def build_query(
    table: str,
    database: str,
    version: int,
    since: datetime,
    until: datetime,
    paths: set[str] | None = None,
    regions: Sequence[str] = (),
    accounts: Sequence[str] = (),
) -> tuple[str, list[str]]:
    """The query text (comments removed; absent paths selected as NULL) and its parameters in order."""
    present = _present(paths)
    by_column = {f.column: f.path(version) for f in FIELDS}
    if version == VERSION_2:
        params = [iso(since), iso(until)]
    else:
        last_day = (until - timedelta(microseconds=1)).date()
        params = [since.strftime("%Y%m%d"), last_day.strftime("%Y%m%d"), str(epoch(since) * 1000), str(epoch(until) * 1000)]
    filters = ""
    if regions:
        filters += f"\n    AND region IN ({', '.join('?' for _ in regions)})"
        params += list(regions)
    if accounts:
        filters += f"\n    AND accountid IN ({', '.join('?' for _ in accounts)})"
        params += list(accounts)
    lines = []
    for line in query_template(version).splitlines():
        if line.lstrip().startswith("--"):
            continue
        m = _SELECTED.match(line)
        if m and m[3] in by_column:
            path = by_column[m[3]]
            if path is not None and not present(path):
                line = f"{m[1]}CAST(NULL AS varchar) AS {m[3]}{m[4]}"
        line = line.replace("__TABLE__", f'"{database}"."{table}"').replace("__FILTERS__", filters)
        lines.append(line)
    return "\n".join(lines).strip() + "\n", params


def event_time(row: Mapping[str, str | None]) -> datetime | None:
    """A row's event time (epoch milliseconds) for cutting the stream into days."""
    value = row.get("event_time")
    try:
        return datetime(1970, 1, 1) + timedelta(milliseconds=int(value or ""))
    except ValueError:
        return None


__all__ = ["COLUMNS", "QUERY_FILES", "build_query", "event_time", "query_template", "table_paths", "type_paths",
           "version_of"]
