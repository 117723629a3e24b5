"""A local AWS for tests: moto in server mode on 127.0.0.1 and a free port, reached over HTTP.

boto3 is never patched: keytrail's own clients find the server through AWS_ENDPOINT_URL.
What moto lacks is added *to the server*, in this process:

* CloudTrail ``LookupEvents`` (not implemented by moto): a handler on moto's CloudTrail response
  class serving injected records -- one lookup attribute, a time range, newest first, 50 a page,
  ``NextToken`` -- that can also answer ``ThrottlingException`` (HTTP 400) every Nth request.
* Athena query results (moto only returns canned rows): the query keytrail sent is transpiled
  from Trino to DuckDB with sqlglot and run on a DuckDB table the test loaded, and the rows are
  paged like GetQueryResults pages them.
* CloudTrail Lake queries and CloudWatch Logs import tasks: see tests/aws_lake.py.
* Faults: a WSGI layer in front of moto answers AccessDenied for chosen S3 prefixes and objects,
  STS role ARNs or API targets, and logs every request (to count list calls).

Fixtures: ``moto_server`` (one per session), ``aws`` (per test: dummy credentials in the
environment, a reset emulator, keytrail's client cache emptied).
"""

from __future__ import annotations

import base64
import io
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

import pytest

from tests import aws_lake

SECRET_ACCESS_KEY = "kTsEcReT/dummy+Secret+Access+Key+0123456789"  # must never show up in output
ACCESS_KEY_ID = "AKIAKEYTRAILTESTING1"
SESSION_TOKEN = "kTsEsSiOnToKeN//dummy+session+token+abcdef"
DEFAULT_ACCOUNT = "123456789012"


# ---- faults and the request log ---------------------------------------------------------------


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    service: str
    region: str
    target: str
    account: str
    body: bytes
    at: float = 0.0  # time.monotonic() when it arrived


Rule = Callable[[Request], tuple[int, str, bytes] | None]  # -> (status, content type, body)


def _s3_denied() -> tuple[int, str, bytes]:
    body = b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>'
    return 403, "application/xml", body


def _json_denied(message: str = "not authorized") -> tuple[int, str, bytes]:
    return 400, "application/x-amz-json-1.1", json.dumps({"__type": "AccessDeniedException", "message": message}).encode()


def _query_denied(message: str = "not authorized") -> tuple[int, str, bytes]:
    body = (
        "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code>"
        f"<Message>{message}</Message></Error><RequestId>x</RequestId></ErrorResponse>"
    ).encode()
    return 403, "text/xml", body


class Faults:
    """Request log and fault rules, applied in front of moto."""

    def __init__(self) -> None:
        self.rules: list[Rule] = []
        self.log: list[Request] = []
        self.lock = threading.Lock()

    def clear(self) -> None:
        with self.lock:
            self.rules.clear()
            self.log.clear()

    # helpers for the usual faults
    def deny_s3_list(self, bucket: str, prefix: str) -> None:
        """ListObjects of ``prefix`` (or anything below it) is denied."""

        def rule(r: Request) -> tuple[int, str, bytes] | None:
            if r.service == "s3" and r.method == "GET" and r.path.strip("/") == bucket and "list-type" in r.query:
                if r.query.get("prefix", [""])[0].startswith(prefix):
                    return _s3_denied()
            return None

        self.rules.append(rule)

    def deny_s3_get(self, bucket: str, key: str) -> None:
        def rule(r: Request) -> tuple[int, str, bytes] | None:
            if r.service == "s3" and r.method in ("GET", "HEAD") and r.path == f"/{bucket}/{key}":
                return _s3_denied()
            return None

        self.rules.append(rule)

    def deny_target(self, target_suffix: str, account: str | None = None, region: str | None = None) -> None:
        """A JSON-protocol API call (X-Amz-Target ends with ``target_suffix``) is denied."""

        def rule(r: Request) -> tuple[int, str, bytes] | None:
            if r.target.endswith(target_suffix) and (account is None or r.account == account) and (
                region is None or r.region == region
            ):
                return _json_denied()
            return None

        self.rules.append(rule)

    def deny_assume_role(self, account: str) -> None:
        def rule(r: Request) -> tuple[int, str, bytes] | None:
            if r.service == "sts" and b"Action=AssumeRole" in r.body and f"%3A%3A{account}%3A".encode() in r.body:
                return _query_denied(f"not authorized to assume a role in {account}")
            return None

        self.rules.append(rule)

    def s3_lists(self) -> list[tuple[str, str]]:
        """(prefix, delimiter) of every ListObjectsV2 call so far."""
        with self.lock:
            return [
                (r.query.get("prefix", [""])[0], r.query.get("delimiter", [""])[0])
                for r in self.log
                if r.service == "s3" and r.method == "GET" and "list-type" in r.query
            ]

    def calls(self, target_suffix: str) -> list[Request]:
        with self.lock:
            return [r for r in self.log if r.target.endswith(target_suffix)]

    def middleware(self, app: Any) -> Any:
        def wsgi(environ: dict[str, Any], start_response: Any) -> Any:
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length) if length else b""
            environ["wsgi.input"] = io.BytesIO(body)
            auth = environ.get("HTTP_AUTHORIZATION", "")
            service = region = ""
            if "Credential=" in auth:
                scope = auth.split("Credential=", 1)[1].split(",", 1)[0].split("/")
                if len(scope) >= 4:
                    region, service = scope[2], scope[3]
            req = Request(
                method=environ.get("REQUEST_METHOD", ""),
                path=environ.get("PATH_INFO", ""),
                query=parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True),
                service=service,
                region=region,
                target=environ.get("HTTP_X_AMZ_TARGET", ""),
                account=environ.get("HTTP_X_MOTO_ACCOUNT_ID", "") or _account_of_key(auth),
                body=body,
                at=time.monotonic(),
            )
            with self.lock:
                self.log.append(req)
                rules = list(self.rules)
            for rule in rules:
                answer = rule(req)
                if answer is not None:
                    status, ctype, payload = answer
                    start_response(f"{status} Error", [("Content-Type", ctype), ("Content-Length", str(len(payload)))])
                    return [payload]
            return app(environ, start_response)

        return wsgi


def _account_of_key(auth: str) -> str:
    """The account moto maps an access key to (assumed-role keys land in the role's account)."""
    if "Credential=" not in auth:
        return ""
    from moto.iam.models import get_account_id_from

    return str(get_account_id_from(auth.split("Credential=", 1)[1].split("/", 1)[0]))


# ---- CloudTrail LookupEvents -------------------------------------------------------------------


def _parse_time(value: str) -> float:
    return datetime.strptime(value[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC).timestamp()


@dataclass
class EventHistory:
    """Records served by LookupEvents, per Region (any account), and the throttling knob."""

    records: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    throttle_every: int = 0  # every Nth LookupEvents request answers ThrottlingException
    requests: list[float] = field(default_factory=list)  # wall time of each request (rate checks)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, records: list[dict[str, Any]]) -> None:
        for r in records:
            self.records.setdefault(str(r.get("awsRegion")), []).append(r)
        for events in self.records.values():
            events.sort(key=lambda r: (r.get("eventTime", ""), r.get("eventID", "")), reverse=True)

    def clear(self) -> None:
        with self.lock:
            self.records.clear()
            self.requests.clear()
            self.throttle_every = 0


HISTORY = EventHistory()
_ATTRIBUTES = {
    "EventSource": lambda r, v: r.get("eventSource") == v,
    "EventName": lambda r, v: r.get("eventName") == v,
    "EventId": lambda r, v: r.get("eventID") == v,
    "ReadOnly": lambda r, v: str(r.get("readOnly")).lower() == v.lower(),
    "Username": lambda r, v: (r.get("userIdentity") or {}).get("userName") == v,
    "AccessKeyId": lambda r, v: (r.get("userIdentity") or {}).get("accessKeyId") == v,
    "ResourceName": lambda r, v: any(isinstance(x, dict) and x.get("ARN") == v for x in r.get("resources") or []),
}


def _lookup_events(self: Any) -> str:
    """moto CloudTrailResponse.lookup_events: LookupEvents over HISTORY."""
    from moto.core.exceptions import JsonRESTError

    with HISTORY.lock:
        HISTORY.requests.append(time.monotonic())
        n = len(HISTORY.requests)
        if HISTORY.throttle_every and n % HISTORY.throttle_every == 0:
            raise JsonRESTError("ThrottlingException", "Rate exceeded")
    attrs = self._get_param("LookupAttributes") or []
    if len(attrs) > 1:
        raise JsonRESTError("InvalidLookupAttributesException", "You can only specify one lookup attribute")
    start = self._get_param("StartTime")
    end = self._get_param("EndTime")
    size = min(int(self._get_param("MaxResults") or 50), 50)
    token = self._get_param("NextToken")
    offset = int(base64.b64decode(token).decode()) if token else 0
    selected = []
    for r in HISTORY.records.get(self.region, []):
        t = _parse_time(str(r.get("eventTime")))
        if start is not None and t < float(start):
            continue
        if end is not None and t > float(end):
            continue
        if attrs:
            test = _ATTRIBUTES.get(attrs[0]["AttributeKey"])
            if test is None or not test(r, attrs[0]["AttributeValue"]):
                continue
        selected.append((t, r))
    page = selected[offset : offset + size]
    events = []
    for t, r in page:
        ui = r.get("userIdentity") or {}
        events.append(
            {
                "EventId": r.get("eventID"),
                "EventName": r.get("eventName"),
                "ReadOnly": str(r.get("readOnly", "")).lower(),
                "AccessKeyId": ui.get("accessKeyId"),
                "EventTime": t,
                "EventSource": r.get("eventSource"),
                "Username": ui.get("userName"),
                "Resources": [
                    {"ResourceType": x.get("type"), "ResourceName": x.get("ARN")}
                    for x in r.get("resources") or []
                    if isinstance(x, dict)
                ],
                "CloudTrailEvent": json.dumps(r),
            }
        )
    out: dict[str, Any] = {"Events": events}
    if offset + size < len(selected):
        out["NextToken"] = base64.b64encode(str(offset + size).encode()).decode()
    return json.dumps(out)


# ---- Athena on DuckDB --------------------------------------------------------------------------


@dataclass
class AthenaOnDuckDB:
    """Runs the queries Athena receives on a DuckDB connection the test filled."""

    con: Any = None
    results: dict[str, tuple[list[str], list[tuple[Any, ...]]]] = field(default_factory=dict)
    queries: list[tuple[str, list[str], str]] = field(default_factory=list)  # (trino sql, params, duckdb sql)
    table_metadata: dict[str, Any] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self, exec_id: str, query: str, params: list[str] | None) -> tuple[list[str], list[tuple[Any, ...]]]:
        import sqlglot

        with self.lock:
            if exec_id not in self.results:
                sql = sqlglot.transpile(query, read="trino", write="duckdb")[0]
                values = [_unquote(p) for p in params or []]
                self.queries.append((query, list(params or []), sql))
                cur = self.con.execute(sql, values)
                names = [d[0] for d in cur.description]
                self.results[exec_id] = (names, cur.fetchall())
            return self.results[exec_id]

    def clear(self) -> None:
        with self.lock:
            self.con = None
            self.results.clear()
            self.queries.clear()
            self.table_metadata = None


def _unquote(literal: str) -> str:
    if len(literal) >= 2 and literal[0] == literal[-1] == "'":
        return literal[1:-1].replace("''", "'")
    return literal


ATHENA = AthenaOnDuckDB()


def _athena_results(self: Any) -> str:
    """moto AthenaResponse.get_query_results: the DuckDB answer, paged with a header row first."""
    if ATHENA.con is None:  # no table loaded: moto's own (canned) results
        return _MOTO_RESULTS[0](self)  # type: ignore[no-any-return]
    exec_id = self._get_param("QueryExecutionId")
    size = int(self._get_param("MaxResults") or 1000)
    token = self._get_param("NextToken")
    execution = self.athena_backend.executions[exec_id]
    names, rows = ATHENA.run(exec_id, execution.query, execution.execution_parameters)
    table = [list(names)] + [["" if v is None else str(v) for v in row] for row in rows]
    nulls = [[False] * len(names)] + [[v is None for v in row] for row in rows]
    offset = int(token) if token else 0
    page = []
    for values, null in zip(table[offset : offset + size], nulls[offset : offset + size], strict=True):
        page.append({"Data": [{} if n else {"VarCharValue": v} for v, n in zip(values, null, strict=True)]})
    out: dict[str, Any] = {
        "ResultSet": {
            "Rows": page,
            "ResultSetMetadata": {"ColumnInfo": [{"Name": n, "Label": n, "Type": "varchar"} for n in names]},
        }
    }
    if offset + size < len(table):
        out["NextToken"] = str(offset + size)
    return json.dumps(out)


_MOTO_RESULTS: list[Any] = []  # moto's own get_query_results, kept while ours is installed


def _athena_table_metadata(self: Any) -> str:
    from moto.core.exceptions import JsonRESTError

    if ATHENA.table_metadata is None:
        raise JsonRESTError("MetadataException", "table not found")
    return json.dumps({"TableMetadata": ATHENA.table_metadata})


# ---- the server --------------------------------------------------------------------------------


class EmulatorServer:
    """ThreadedMotoServer behind the fault layer, with LookupEvents and Athena-on-DuckDB."""

    def __init__(self) -> None:
        from moto.moto_server.threaded_moto_server import ThreadedMotoServer

        self.faults = Faults()
        faults = self.faults

        class _Server(ThreadedMotoServer):
            def _server_entry(self) -> None:
                from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
                from werkzeug.serving import make_server

                app = faults.middleware(DomainDispatcherApplication(create_backend_app))
                self._server = make_server(self._ip_address, self._port, app, True)
                self._server_ready_event.set()
                self._server.serve_forever()

        self._server = _Server(ip_address="127.0.0.1", port=0, verbose=False)
        self._patched: list[tuple[Any, str, Any]] = []

    def start(self) -> None:
        import logging

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        from moto.athena.responses import AthenaResponse
        from moto.cloudtrail.responses import CloudTrailResponse

        _MOTO_RESULTS[:] = [AthenaResponse.get_query_results]
        for cls, name, fn in (
            (CloudTrailResponse, "lookup_events", _lookup_events),
            (AthenaResponse, "get_query_results", _athena_results),
            (AthenaResponse, "get_table_metadata", _athena_table_metadata),
            *aws_lake.handlers(),
        ):
            self._patched.append((cls, name, cls.__dict__.get(name)))
            setattr(cls, name, fn)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.url = f"http://{host}:{port}"

    def stop(self) -> None:
        self._server.stop()
        for cls, name, old in reversed(self._patched):
            if old is None:
                delattr(cls, name)
            else:
                setattr(cls, name, old)

    def reset(self) -> None:
        import urllib.request

        urllib.request.urlopen(urllib.request.Request(f"{self.url}/moto-api/reset", method="POST"), timeout=10).read()
        self.faults.clear()
        HISTORY.clear()
        ATHENA.clear()
        aws_lake.reset()


def aws_env(url: str) -> dict[str, str]:
    return {
        "AWS_ENDPOINT_URL": url,
        "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
        "AWS_SESSION_TOKEN": SESSION_TOKEN,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_CONFIG_FILE": "/nonexistent/keytrail-test-aws-config",
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/keytrail-test-aws-credentials",
        "AWS_EC2_METADATA_DISABLED": "true",
    }


@pytest.fixture(scope="session")
def moto_server() -> Iterator[EmulatorServer]:
    pytest.importorskip("moto", reason="the AWS tests need moto (pip install -e '.[test]')")
    pytest.importorskip("flask", reason="moto's server mode needs flask (pip install -e '.[test]')")
    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no request lines on stderr
    server = EmulatorServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def aws(moto_server: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[EmulatorServer]:
    """The emulator, reset, with dummy credentials and AWS_ENDPOINT_URL in the environment."""
    moto_server.reset()
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in aws_env(moto_server.url).items():
        monkeypatch.setenv(name, value)
    from keytrail.sources import aws as aws_module

    aws_module.forget_clients()
    yield moto_server
    aws_module.forget_clients()


def client(service: str, account: str | None = None, region: str = "us-east-1") -> Any:
    """A test-side boto3 client of the emulator, optionally acting in another account."""
    import boto3

    c = boto3.client(service, region_name=region)
    if account is not None:

        def add_header(request: Any, **_: Any) -> None:
            request.headers["x-moto-account-id"] = account

        c.meta.events.register("before-send.*.*", add_header)
    return c
