"""What the local AWS (tests/aws_server.py) adds for CloudTrail Lake and CloudWatch Logs imports.

moto has no CloudTrail Lake query calls and no CloudWatch Logs import tasks; these handlers are set
on moto's response classes in the server process, like LookupEvents:

* ``StartQuery`` / ``DescribeQuery`` / ``GetQueryResults`` / ``CancelQuery``: the statement is
  transpiled from Presto to DuckDB with sqlglot and run on a DuckDB table the test loaded, named
  by the event data store id (Lake writes that id unquoted after FROM; the emulator quotes it).
  A query is RUNNING at its first DescribeQuery and FINISHED at the next; rows come back as Lake
  sends them, each a list of one-entry {column: text} maps (NULL columns left out), 1,000 a page
  at most, with ``NextToken``. ``fail`` makes every query end FAILED with that message.
* ``DescribeImportTasks``: the import tasks a test lists in ``IMPORTS``.

What moto itself does for CloudWatch Logs, and the tests rely on: PutLogEvents refuses events older
than 14 days; FilterLogEvents returns every event for a JSON filter pattern (``{ ... }``), with no
error, sorts events by timestamp across streams only with ``interleaved``, and pages with
``nextToken`` (``limit`` events a page).
"""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any


@dataclass
class LakeOnDuckDB:
    """CloudTrail Lake queries answered by DuckDB tables (one per event data store id)."""

    con: Any = None
    stores: set[str] = field(default_factory=set)  # event data store ids with a table
    queries: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> statement, state, result
    fail: str | None = None
    bytes_per_row: int = 1000
    lock: threading.Lock = field(default_factory=threading.Lock)

    def clear(self) -> None:
        with self.lock:
            self.con = None
            self.stores.clear()
            self.queries.clear()
            self.fail = None

    def statements(self) -> list[str]:
        with self.lock:
            return [q["statement"] for q in self.queries.values()]

    def run(self, statement: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        import sqlglot

        for store in self.stores:
            statement = statement.replace(f"FROM {store}", f'FROM "{store}"')
        sql = sqlglot.transpile(statement, read="presto", write="duckdb")[0]
        cur = self.con.execute(sql)
        return [d[0] for d in cur.description], cur.fetchall()


LAKE = LakeOnDuckDB()
IMPORTS: list[dict[str, Any]] = []


def _error(code: str, message: str) -> Exception:
    from moto.core.exceptions import JsonRESTError

    return JsonRESTError(code, message)


def _query(self: Any) -> dict[str, Any]:
    query_id = self._get_param("QueryId")
    query = LAKE.queries.get(query_id)
    if query is None:
        raise _error("QueryIdNotFoundException", f"query {query_id} not found")
    return query


def start_query(self: Any) -> str:
    statement = self._get_param("QueryStatement")
    with LAKE.lock:
        if not any(f"FROM {s}" in statement for s in LAKE.stores):
            raise _error("EventDataStoreNotFoundException", "the event data store was not found")
        query_id = str(uuid.uuid4())
        LAKE.queries[query_id] = {"statement": statement, "state": "QUEUED", "describes": 0}
    return json.dumps({"QueryId": query_id})


def describe_query(self: Any) -> str:
    with LAKE.lock:
        query = _query(self)
        query["describes"] += 1
        if query["state"] in ("QUEUED", "RUNNING"):
            if query["describes"] == 1:
                query["state"] = "RUNNING"
            elif LAKE.fail:
                query["state"], query["error"] = "FAILED", LAKE.fail
            else:
                names, rows = LAKE.run(query["statement"])
                query["state"], query["names"], query["rows"] = "FINISHED", names, rows
        rows = len(query.get("rows", []))
        stats = {"EventsMatched": rows, "EventsScanned": rows, "BytesScanned": rows * LAKE.bytes_per_row,
                 "ExecutionTimeInMillis": 1200, "CreationTime": 0}  # fmt: skip
        out: dict[str, Any] = {"QueryId": self._get_param("QueryId"), "QueryString": query["statement"],
                               "QueryStatus": query["state"], "QueryStatistics": stats}  # fmt: skip
        if "error" in query:
            out["ErrorMessage"] = query["error"]
    return json.dumps(out)


def get_query_results(self: Any) -> str:
    size = int(self._get_param("MaxQueryResults") or 1000)
    if not 1 <= size <= 1000:
        raise _error("InvalidMaxResultsException", "MaxQueryResults must be between 1 and 1000")
    token = self._get_param("NextToken")
    with LAKE.lock:
        query = _query(self)
        if query["state"] != "FINISHED":
            return json.dumps({"QueryStatus": query["state"]})
        names, rows = query["names"], query["rows"]
    offset = int(token) if token else 0
    page = [
        [{name: str(value)} for name, value in zip(names, row, strict=True) if value is not None]
        for row in rows[offset : offset + size]
    ]
    out: dict[str, Any] = {
        "QueryStatus": "FINISHED",
        "QueryStatistics": {"ResultsCount": len(page), "TotalResultsCount": len(rows),
                            "BytesScanned": len(rows) * LAKE.bytes_per_row},  # fmt: skip
        "QueryResultRows": page,
    }
    if offset + size < len(rows):
        out["NextToken"] = str(offset + size)
    return json.dumps(out)


def cancel_query(self: Any) -> str:
    with LAKE.lock:
        query = _query(self)
        query["state"] = "CANCELLED"
    return json.dumps({"QueryId": self._get_param("QueryId"), "QueryStatus": "CANCELLED"})


def describe_import_tasks(self: Any) -> str:
    status = self._get_param("importStatus")
    return json.dumps({"imports": [i for i in IMPORTS if status is None or i.get("importStatus") == status]})


def handlers() -> list[tuple[Any, str, Any]]:
    """(moto response class, method name, handler) to set on the server."""
    from moto.cloudtrail.responses import CloudTrailResponse
    from moto.logs.responses import LogsResponse

    return [
        (CloudTrailResponse, "start_query", start_query),
        (CloudTrailResponse, "describe_query", describe_query),
        (CloudTrailResponse, "get_query_results", get_query_results),
        (CloudTrailResponse, "cancel_query", cancel_query),
        (LogsResponse, "describe_import_tasks", describe_import_tasks),
    ]


def reset() -> None:
    LAKE.clear()
    IMPORTS.clear()
