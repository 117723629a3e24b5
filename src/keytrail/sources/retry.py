"""One retry policy for every AWS call and download keytrail makes, and the log of what it retried.

Two layers, both configured by one ``RetryPolicy``:

* **botocore's retries** (``RetryPolicy.config()``, the ``Config`` every client is made with):
  ``adaptive`` mode by default -- exponential backoff with jitter on throttling, 5xx answers,
  connection errors and read timeouts, plus client-side rate limiting once throttled --, at most
  ``max_attempts`` attempts a call, and connect and read timeouts, so a hung endpoint cannot hang
  keytrail.
* **keytrail's own retries** (``RetryPolicy.call`` and ``RetryPolicy.read_object``), for what
  botocore does not retry: a response body that breaks mid-read (re-read from the bytes already
  received with a ranged GetObject, checked against the object's ETag), and a retryable failure
  that is still failing when botocore gives up (its retry quota runs out under a long fault
  burst). Bounded exponential backoff with full jitter: attempt *n* waits a random time up to
  ``min(max_delay, base_delay * 2**n)``, at most ``attempts`` times.

Every retry, botocore's and keytrail's, is written to ``RETRIES`` (per process) with what was
retried and why, so that a run can count and name them (``RetryLog.mark``/``take``).

The defaults suit AWS; the environment can change them (``RetryPolicy.from_env``):
``AWS_MAX_ATTEMPTS`` and ``AWS_RETRY_MODE`` as for every AWS SDK, and ``KEYTRAIL_AWS_CONNECT_TIMEOUT``,
``KEYTRAIL_AWS_READ_TIMEOUT`` (seconds), ``KEYTRAIL_AWS_ATTEMPTS`` (keytrail's own attempts),
``KEYTRAIL_AWS_BASE_DELAY`` and ``KEYTRAIL_AWS_MAX_DELAY`` (seconds).

A source adopts it by making its clients through ``AwsConfig.client`` (``sources.aws``), which
uses the policy's ``config()`` and ``instrument``; wrapping each call that should survive a fault
burst in ``policy.call(what, fn, ...)``; and reading object bodies with ``policy.read_object``.
"""

from __future__ import annotations

import functools
import os
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from keytrail._version import __version__
from keytrail.errors import UsageError
from keytrail.i18n import _

T = TypeVar("T")

RETRY_MODES = ("standard", "adaptive")
RETRYABLE_STATUS = frozenset({500, 502, 503, 504})
RETRYABLE_CODES = frozenset(
    {
        "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottled", "RequestThrottledException",
        "TooManyRequestsException", "SlowDown", "RequestLimitExceeded", "ProvisionedThroughputExceededException",
        "RequestTimeout", "RequestTimeoutException", "InternalError", "InternalFailure", "InternalServerError",
        "InternalServerException", "ServiceUnavailable", "ServiceUnavailableException", "BandwidthLimitExceeded",
        "PriorRequestNotComplete", "TransactionInProgressException", "EC2ThrottledException",
    }
)  # fmt: skip
READ_BYTES = 32 << 10  # a body is read in pieces this big: a break loses at most one piece
MAX_NOTES = 200  # retries named per process between two takes; the rest are only counted


# ---- the log of retries --------------------------------------------------------------------------


@dataclass
class RetryLog:
    """Retries made in this process: a count and the first ``MAX_NOTES`` named ("what: why")."""

    count: int = 0
    notes: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, what: str, why: str) -> None:
        with self.lock:
            self.count += 1
            if len(self.notes) < MAX_NOTES:
                self.notes.append(f"{what}: {why}")

    def mark(self) -> tuple[int, int]:
        with self.lock:
            return self.count, len(self.notes)

    def take(self, mark: tuple[int, int] = (0, 0)) -> tuple[int, list[str]]:
        """The retries since ``mark`` (count, named ones), removed from the log."""
        with self.lock:
            count, notes = self.count - mark[0], self.notes[mark[1] :]
            self.count, self.notes = mark[0], self.notes[: mark[1]]
            return count, notes


RETRIES = RetryLog()


# ---- what is retryable ---------------------------------------------------------------------------


def _error(exc: BaseException) -> tuple[str, int | None]:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return (code if isinstance(code, str) else ""), (status if isinstance(status, int) else None)
    return "", None


def is_retryable(exc: BaseException) -> bool:
    """Whether a failure of an AWS call may pass if the call is made again: throttling, a 5xx
    answer, a connection that failed, was reset or timed out, a body cut short."""
    try:
        import botocore.exceptions as bex
    except ImportError:  # pragma: no cover
        return False
    if isinstance(exc, bex.ClientError):
        code, status = _error(exc)
        return code in RETRYABLE_CODES or status in RETRYABLE_STATUS
    transient = (
        bex.ConnectionError, bex.HTTPClientError, bex.ResponseStreamingError, bex.IncompleteReadError,
        bex.ReadTimeoutError, bex.ConnectTimeoutError,
    )  # fmt: skip
    return isinstance(exc, transient)


def describe_failure(exc: BaseException) -> str:
    """'CODE (HTTP 503)' for an AWS answer, the exception's class and text otherwise (never credentials)."""
    code, status = _error(exc)
    if code or status:
        return f"{code or 'error'}" + (f" (HTTP {status})" if status else "")
    text = str(exc).splitlines()[0][:160] if str(exc) else ""
    return f"{type(exc).__name__}" + (f": {text}" if text else "")


# ---- the policy ----------------------------------------------------------------------------------


def _env_number(environ: Mapping[str, str], name: str, default: float, minimum: float) -> float:
    raw = environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = float(raw)
    except ValueError as e:
        raise UsageError(_("{name}: {value!r} is not a number").format(name=name, value=raw)) from e
    if value < minimum:
        raise UsageError(_("{name}: {value!r} is below {minimum}").format(name=name, value=raw, minimum=f"{minimum:g}"))
    return value


@dataclass(frozen=True)
class RetryPolicy:
    """How every AWS call and download is retried and timed out (picklable: it travels to workers)."""

    max_attempts: int = 10  # botocore's attempts per call
    mode: str = "adaptive"  # botocore's retry mode: standard | adaptive
    connect_timeout: float = 10.0  # seconds
    read_timeout: float = 60.0  # seconds without a byte from the endpoint
    attempts: int = 6  # keytrail's own attempts of a call or a download, around botocore's
    base_delay: float = 0.5  # seconds: the first backoff's upper bound
    max_delay: float = 20.0  # seconds: no backoff waits longer

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> RetryPolicy:
        env = os.environ if environ is None else environ
        mode = env.get("AWS_RETRY_MODE", "").strip().lower() or cls.mode
        if mode == "legacy":
            mode = "standard"  # keytrail's promises rest on the standard retry conditions
        if mode not in RETRY_MODES:
            raise UsageError(_("{name}: {value!r} is not one of {choices}").format(
                name="AWS_RETRY_MODE", value=mode, choices=", ".join(RETRY_MODES)))
        return cls(
            max_attempts=int(_env_number(env, "AWS_MAX_ATTEMPTS", cls.max_attempts, 1)),
            mode=mode,
            connect_timeout=_env_number(env, "KEYTRAIL_AWS_CONNECT_TIMEOUT", cls.connect_timeout, 0.1),
            read_timeout=_env_number(env, "KEYTRAIL_AWS_READ_TIMEOUT", cls.read_timeout, 0.1),
            attempts=int(_env_number(env, "KEYTRAIL_AWS_ATTEMPTS", cls.attempts, 1)),
            base_delay=_env_number(env, "KEYTRAIL_AWS_BASE_DELAY", cls.base_delay, 0),
            max_delay=_env_number(env, "KEYTRAIL_AWS_MAX_DELAY", cls.max_delay, 0),
        )

    def config(self, max_attempts: int | None = None, mode: str | None = None) -> Any:
        """The botocore ``Config`` of every client: retries, timeouts, keytrail's user agent."""
        from botocore.config import Config

        return Config(
            retries={"mode": mode or self.mode, "total_max_attempts": max_attempts or self.max_attempts},
            user_agent_extra=f"keytrail/{__version__}",
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
        )

    def delays(self, rng: random.Random | None = None) -> Iterator[float]:
        """Backoff before each of keytrail's retries: full jitter, exponential, bounded."""
        draw = (rng or random).uniform
        for n in range(self.attempts - 1):
            yield draw(0, min(self.max_delay, self.base_delay * (2**n)))

    def call(
        self,
        what: str,
        fn: Callable[..., T],
        *args: Any,
        sleep: Callable[[float], None] = time.sleep,
        **kwargs: Any,
    ) -> T:
        """``fn(*args, **kwargs)``, made again while it fails in a retryable way (``is_retryable``)
        and attempts remain; the last failure is raised. ``what`` names the call in the log."""
        delays = self.delays()
        while True:
            try:
                return fn(*args, **kwargs)
            except Exception as e:
                delay = next(delays, None) if is_retryable(e) else None
                if delay is None:
                    raise
                RETRIES.add(what, describe_failure(e))
                sleep(delay)

    def read_object(
        self, client: Any, bucket: str, key: str, etag: str = "", sleep: Callable[[float], None] = time.sleep
    ) -> bytes:
        """An S3 object's bytes. A body that breaks mid-read is read on from the bytes received:
        a ranged GetObject with ``If-Match`` the object's ETag (and its answer's ETag checked), so
        the bytes put together are one version's; a failed GetObject is made again while attempts
        remain. Raises the last error (a botocore one, or ``ObjectChanged``)."""
        what = f"s3://{bucket}/{key}"
        delays = self.delays()
        buf = bytearray()
        total: int | None = None
        while True:
            kwargs: dict[str, Any] = {"Bucket": bucket, "Key": key}
            if etag:
                kwargs["IfMatch"] = etag
            if buf:
                kwargs["Range"] = f"bytes={len(buf)}-"
            try:
                response = client.get_object(**kwargs)
                got = str(response.get("ETag") or "")
                if etag and got and got != etag:
                    raise ObjectChanged(what)
                etag = etag or got
                if total is None:
                    total = _total_length(response)
                body = response["Body"]
                try:
                    while chunk := body.read(READ_BYTES):
                        buf += chunk
                finally:
                    body.close()
                if total is not None and len(buf) != total:
                    raise _Short(f"{len(buf)} of {total} bytes")
                return bytes(buf)
            except Exception as e:
                delay = next(delays, None) if is_retryable(e) or isinstance(e, _Short) else None
                if delay is None:
                    raise
                why = describe_failure(e)
                RETRIES.add(what, f"body broken after {len(buf):,} bytes: {why}; read on from there" if buf else why)
                sleep(delay)


    def list_objects(self, client: Any, bucket: str, prefix: str, delimiter: str | None = None) -> Iterator[dict[str, Any]]:
        """The pages of ListObjectsV2 below ``prefix``, each page made again while it fails (so a
        fault burst does not lose the rest of a listing)."""
        kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
        if delimiter:
            kwargs["Delimiter"] = delimiter
        while True:
            page: dict[str, Any] = self.call(f"s3:ListObjectsV2 s3://{bucket}/{prefix}", client.list_objects_v2, **kwargs)
            yield page
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                return
            kwargs["ContinuationToken"] = token


class ObjectChanged(Exception):
    """The object's ETag changed between two reads of one download (it was overwritten)."""


class _Short(Exception):
    """A body that ended before its length without an error."""


def _total_length(response: Mapping[str, Any]) -> int | None:
    content_range = str(response.get("ContentRange") or "")
    if "/" in content_range and content_range.rsplit("/", 1)[1].isdigit():
        return int(content_range.rsplit("/", 1)[1])
    length = response.get("ContentLength")
    return int(length) if isinstance(length, int) else None


class RetryingClient:
    """A boto3 client whose every operation is made under a ``RetryPolicy`` (``policy.call``):
    ``RetryingClient(client, policy).describe_key(KeyId=k)``. ``pages(operation, key, **kwargs)``
    lists every item of a paginated operation, the listing made again from its start if a page
    still fails after botocore's retries (for the short listings of inventories and accounts)."""

    def __init__(self, client: Any, policy: RetryPolicy) -> None:
        self.client = client
        self.policy = policy
        self.service = client.meta.service_model.service_name

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.client, name)
        if name in ("get_paginator", "close") or name.startswith("_") or not callable(attr):
            return attr
        return functools.partial(self.policy.call, f"{self.service}:{name}", attr)

    def pages(self, operation: str, key: str, **kwargs: Any) -> list[Any]:
        def listing() -> list[Any]:
            items: list[Any] = []
            for page in self.client.get_paginator(operation).paginate(**kwargs):
                items.extend(page.get(key, []) or [])
            return items

        return self.policy.call(f"{self.service}:{operation}", listing)


# ---- counting botocore's retries -----------------------------------------------------------------


def _on_response(context: dict[str, Any] | None = None, exception: BaseException | None = None,
                 parsed_response: Mapping[str, Any] | None = None, **_: Any) -> None:
    """After each attempt: what went wrong with it, for the retry that may follow."""
    if context is None:
        return
    if exception is not None:
        context["keytrail_failure"] = describe_failure(exception)
        return
    meta = (parsed_response or {}).get("ResponseMetadata", {})
    error = (parsed_response or {}).get("Error", {})
    status = meta.get("HTTPStatusCode")
    code = error.get("Code") if isinstance(error, Mapping) else None
    context["keytrail_failure"] = f"{code or 'error'} (HTTP {status})" if code or (status or 200) >= 300 else ""


def _on_request(request: Any = None, operation_name: str = "", **_: Any) -> None:
    """Before each attempt: a retry (attempt 2 and later) is logged with the previous failure."""
    context = getattr(request, "context", None) or {}
    attempt = (context.get("retries") or {}).get("attempt", 1)
    if attempt > 1:
        service = context.get("keytrail_service", "aws")
        what = context.get("keytrail_what") or f"{service}:{operation_name}"
        RETRIES.add(what, context.get("keytrail_failure") or "failed")


def instrument(client: Any) -> Any:
    """Log the retries botocore makes for this client in ``RETRIES`` (returns the client)."""
    service = client.meta.service_model.service_name

    def tag(params: Any = None, context: dict[str, Any] | None = None, model: Any = None, **_: Any) -> None:
        if context is not None:
            context["keytrail_service"] = service
            if isinstance(params, Mapping) and "Bucket" in params:
                where = f"s3://{params['Bucket']}/{params.get('Key', params.get('Prefix', ''))}"
                name = getattr(model, "name", "")
                context["keytrail_what"] = where if "Key" in params else f"{service}:{name} {where}"

    events = client.meta.events
    events.register("before-parameter-build.*.*", tag, unique_id="keytrail-retry-tag")
    events.register("response-received.*.*", _on_response, unique_id="keytrail-retry-response")
    events.register("request-created.*.*", _on_request, unique_id="keytrail-retry-request")
    return client


__all__ = [
    "RETRIES",
    "RetryLog",
    "RetryPolicy",
    "RetryingClient",
    "ObjectChanged",
    "describe_failure",
    "instrument",
    "is_retryable",
]
