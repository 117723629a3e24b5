"""A fault-injecting HTTP proxy on 127.0.0.1, in front of the AWS emulator (tests/aws_server.py).

keytrail's clients reach it through AWS_ENDPOINT_URL; it forwards each request to moto's server and
fails a share of them the ways AWS and networks fail:

* ``503``        HTTP 503 (S3 ``SlowDown``, ``ServiceUnavailableException`` for the JSON APIs)
* ``500``        HTTP 500 (``InternalError`` / ``InternalServerException`` / ``InternalFailure``)
* ``throttle``   ``ThrottlingException`` (HTTP 400) for the JSON APIs, ``Throttling`` for the query
                 APIs (STS), ``SlowDown`` (HTTP 503) for S3
* ``reset``      the connection reset before any answer (the request is not forwarded)
* ``reset-body`` the answer's status and headers, half of its body, then a reset
* ``slow``       the answer held back longer than the client's read timeout

Which requests fail is decided by a seeded hash of the request (method, path, query without its
signature, API target) and of how many times that same request came before -- not by arrival
order -- so a run with worker processes fails the same requests every time. At most
``max_in_a_row`` attempts of one request fail in a row.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

KINDS = ("503", "500", "throttle", "reset", "reset-body", "slow")


@dataclass
class FaultPlan:
    rate: float = 0.2
    seed: int = 31
    kinds: tuple[str, ...] = KINDS
    slow_seconds: float = 1.6  # past the read timeout the tests give keytrail (KEYTRAIL_AWS_READ_TIMEOUT=1)
    max_in_a_row: int = 3


@dataclass
class FaultProxy:
    upstream: str
    plan: FaultPlan = field(default_factory=FaultPlan)
    applied: Counter[str] = field(default_factory=Counter)
    requests: int = 0
    _seen: Counter[str] = field(default_factory=Counter)
    _in_a_row: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    # ---- deciding -------------------------------------------------------------------------------
    def decide(self, method: str, path: str, target: str) -> str | None:
        parts = urlsplit(path)
        query = sorted((k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not k.lower().startswith("x-amz-"))
        key = f"{method} {parts.path} {query} {target}"
        with self._lock:
            self.requests += 1
            n = self._seen[key]
            self._seen[key] += 1
            digest = hashlib.sha256(f"{self.plan.seed}|{key}|{n}".encode()).digest()
            draw = int.from_bytes(digest[:4], "big") / 2**32
            if draw >= self.plan.rate or self._in_a_row[key] >= self.plan.max_in_a_row:
                self._in_a_row[key] = 0
                return None
            self._in_a_row[key] += 1
            kind = self.plan.kinds[int.from_bytes(digest[4:8], "big") % len(self.plan.kinds)]
            self.applied[kind] += 1
            return kind

    # ---- serving --------------------------------------------------------------------------------
    def start(self) -> str:
        proxy = self
        up = urlsplit(self.upstream)

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_: Any) -> None:
                pass

            def do_GET(self) -> None:
                self._handle()

            do_HEAD = do_POST = do_PUT = do_DELETE = do_GET

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                service = _service(self.headers.get("Authorization", ""))
                target = self.headers.get("X-Amz-Target", "")
                kind = proxy.decide(self.command, self.path, target)
                self.close_connection = True
                if kind == "reset":
                    self._reset()
                    return
                if kind in ("503", "500", "throttle"):
                    status, ctype, payload = _error(kind, service, target)
                    self._send(status, [("Content-Type", ctype)], payload)
                    return
                status, headers, payload = _forward(up.hostname or "127.0.0.1", up.port or 80, self.command, self.path,
                                                    self.headers.items(), body)
                if kind == "slow":
                    time.sleep(proxy.plan.slow_seconds)
                if kind == "reset-body" and len(payload) >= 2:
                    self.send_response(status)
                    for name, value in headers:
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload[: len(payload) // 2])
                    self.wfile.flush()
                    self._reset()
                    return
                self._send(status, headers, payload, head=self.command == "HEAD")

            def _send(self, status: int, headers: list[tuple[str, str]], payload: bytes, head: bool = False) -> None:
                try:
                    self.send_response(status)
                    for name, value in headers:
                        self.send_header(name, value)
                    if not head or not any(n.lower() == "content-length" for n, _ in headers):
                        self.send_header("Content-Length", str(len(payload)))
                    self.send_header("Connection", "close")
                    self.end_headers()
                    if not head:
                        self.wfile.write(payload)
                except OSError:
                    pass  # the client gave up (a slow answer past its read timeout)

            def _reset(self) -> None:
                try:
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.connection.close()
                except OSError:
                    pass

            def finish(self) -> None:
                try:
                    super().finish()
                except OSError:
                    pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        host, port = self._server.server_address[:2]
        self.url = f"http://{host}:{port}"
        return self.url

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "upgrade"}


def _forward(host: str, port: int, method: str, path: str, headers: Any, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
    conn = http.client.HTTPConnection(host, port, timeout=60)
    try:
        conn.request(method, path, body=body or None, headers={k: v for k, v in headers if k.lower() not in _HOP})
        response = conn.getresponse()
        payload = response.read()
        keep = [(k, v) for k, v in response.getheaders() if k.lower() not in _HOP and (k.lower() != "content-length" or method == "HEAD")]
        return response.status, keep, payload
    finally:
        conn.close()


def _service(auth: str) -> str:
    if "Credential=" not in auth:
        return ""
    scope = auth.split("Credential=", 1)[1].split(",", 1)[0].split("/")
    return scope[3] if len(scope) >= 4 else ""


def _error(kind: str, service: str, target: str) -> tuple[int, str, bytes]:
    if service == "s3":
        code = {"503": "SlowDown", "500": "InternalError", "throttle": "SlowDown"}[kind]
        status = 500 if kind == "500" else 503
        body = f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>injected</Message></Error>'
        return status, "application/xml", body.encode()
    if target:  # the JSON protocol
        code = {"503": "ServiceUnavailableException", "500": "InternalServerException", "throttle": "ThrottlingException"}[kind]
        status = {"503": 503, "500": 500, "throttle": 400}[kind]
        return status, "application/x-amz-json-1.1", f'{{"__type":"{code}","message":"injected"}}'.encode()
    code = {"503": "ServiceUnavailable", "500": "InternalFailure", "throttle": "Throttling"}[kind]
    status = {"503": 503, "500": 500, "throttle": 400}[kind]
    body = f"<ErrorResponse><Error><Type>Receiver</Type><Code>{code}</Code><Message>injected</Message></Error><RequestId>f</RequestId></ErrorResponse>"
    return status, "text/xml", body.encode()


FAST = {
    "KEYTRAIL_AWS_READ_TIMEOUT": "1",  # the proxy's slow answers take longer
    "KEYTRAIL_AWS_CONNECT_TIMEOUT": "2",
    "KEYTRAIL_AWS_BASE_DELAY": "0.05",
    "KEYTRAIL_AWS_MAX_DELAY": "0.5",
}


@contextmanager
def faults(url: str, plan: FaultPlan, monkeypatch: Any) -> Iterator[FaultProxy]:
    """A proxy failing requests to ``url`` by ``plan``, keytrail's clients routed ``through`` it for
    the block; then stopped, AWS_ENDPOINT_URL as it was, and what it did printed."""
    before = os.environ.get("AWS_ENDPOINT_URL")
    proxy = FaultProxy(url, plan)
    proxy.start()
    try:
        through(proxy, monkeypatch)
        yield proxy
    finally:
        proxy.stop()
        if before is None:
            monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
        else:
            monkeypatch.setenv("AWS_ENDPOINT_URL", before)
    print(f"fault proxy: {proxy.requests} requests, faults {dict(proxy.applied)}")


def through(proxy: FaultProxy, monkeypatch: Any) -> None:
    """keytrail's clients from now on reach AWS through the proxy, with short timeouts and backoff."""
    from keytrail.sources import aws as aws_module
    from keytrail.sources.retry import RETRIES

    monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
    for name, value in FAST.items():
        monkeypatch.setenv(name, value)
    aws_module.forget_clients()
    RETRIES.take()
