"""What the AWS sources and the inventory share: boto3 sessions and clients, errors, pacing (the
time slices that make API sources resumable are ``sources.slices``).

boto3 is optional (``pip install 'keytrail[aws]'``) and imported here only, when a client is
first needed. Credentials come from boto3's standard chain (environment, ``--profile``, SSO,
instance or container role); ``AWS_ENDPOINT_URL`` / ``AWS_ENDPOINT_URL_<SERVICE>`` are honoured
by boto3 itself. Every client is made with the one retry policy (``sources.retry``): botocore's
adaptive retries, connect and read timeouts, and its retries counted in ``retry.RETRIES``.

Nothing here ever logs or formats credentials: errors are described by their AWS error code and
message only.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from types import ModuleType
from typing import Any

from keytrail.errors import (
    ACCOUNTS,
    PROFILE,
    REGION,
    REGIONS,
    REGIONS_LIST,
    SINCE,
    UNTIL,
    Part,
    SourceError,
    UsageError,
    said,
)
from keytrail.i18n import _
from keytrail.sources.retry import RetryPolicy, instrument
from keytrail.times import parse_time_bound

INSTALL_HINT = "pip install 'keytrail[aws]'"

# Error codes meaning "you may not": reported by name, the rest of the work continues.
ACCESS_DENIED = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "AllAccessDisabled",
        "AuthorizationError",
        "UnauthorizedOperation",
        "UnauthorizedAccess",
        "InvalidClientTokenId",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "ExpiredTokenException",
        "UnrecognizedClientException",
        "AccountNotFound",
        "OptInRequired",
    }
)
THROTTLING = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "RequestThrottledException",
        "TooManyRequestsException",
        "SlowDown",
        "RequestLimitExceeded",
        "ProvisionedThroughputExceededException",
    }
)


def boto3_module() -> ModuleType:
    """``boto3``, or a UsageError naming the install command."""
    try:
        import boto3
    except ImportError as e:  # pragma: no cover - exercised only without the extra
        raise UsageError(_("reading from AWS needs boto3, which is not installed: {install}").format(install=INSTALL_HINT)) from e
    module: ModuleType = boto3
    return module


def client_config(policy: RetryPolicy | None = None) -> Any:
    """The botocore Config of the retry policy (``RetryPolicy.from_env()`` when none is given)."""
    return (policy or RetryPolicy.from_env()).config()


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ClientError ('' for anything else)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        if isinstance(code, str):
            return code
    return ""


def describe_error(exc: BaseException) -> str:
    """'CODE: message' for a ClientError, the exception's text otherwise (never credentials)."""
    code = error_code(exc)
    if code:
        response = getattr(exc, "response", {})
        message = str(response.get("Error", {}).get("Message") or "").strip()
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if not message and status:
            message = f"HTTP {status}"
        return f"{code}: {message}" if message else code
    return f"{type(exc).__name__}: {exc}"


def is_access_denied(exc: BaseException) -> bool:
    return error_code(exc) in ACCESS_DENIED


def is_throttling(exc: BaseException) -> bool:
    return error_code(exc) in THROTTLING


def translate(exc: BaseException, *what: Part) -> Exception:
    """A keytrail error for a botocore failure that stops a whole source (not one object); ``what``
    says what failed (text, and terms the caller words)."""
    try:
        import botocore.exceptions as bex
    except ImportError:  # pragma: no cover
        return SourceError(*what, f": {exc}")
    if isinstance(exc, bex.ProfileNotFound):
        return UsageError(_("AWS profile not found: {profile}").format(profile=getattr(exc, "kwargs", {}).get("profile", "?")))
    if isinstance(exc, bex.NoCredentialsError | bex.PartialCredentialsError):
        return UsageError(*said(_("{what}: no usable AWS credentials (set them up for boto3, or give {profile})"),
                                what=list(what), profile=PROFILE))
    if isinstance(exc, bex.NoRegionError):
        return UsageError(*said(_("{what}: no AWS Region: give {region} or set AWS_REGION"), what=list(what), region=REGION))
    if isinstance(exc, bex.ClientError):
        return SourceError(*what, f": {describe_error(exc)}")
    if isinstance(exc, bex.BotoCoreError):
        return SourceError(*what, f": {_reason(exc)}")
    return SourceError(*what, f": {describe_error(exc)}")


def _reason(exc: BaseException) -> str:
    """A botocore failure in the reader's words where keytrail knows it (no connection, a timeout),
    botocore's own text otherwise."""
    import botocore.exceptions as bex

    if isinstance(exc, bex.EndpointConnectionError):
        return _("cannot connect to {endpoint}").format(endpoint=getattr(exc, "kwargs", {}).get("endpoint_url", "?"))
    if isinstance(exc, bex.ConnectTimeoutError | bex.ReadTimeoutError):
        return _("no answer from {endpoint} in time").format(endpoint=getattr(exc, "kwargs", {}).get("endpoint_url", "?"))
    return str(exc)


def botocore_errors() -> tuple[type[BaseException], ...]:
    """The exception classes a boto3 call raises for AWS-side and transport failures (none without
    botocore: then no call was made, and the error that says so passes through)."""
    try:
        import botocore.exceptions as bex
    except ImportError:
        return ()
    return (bex.BotoCoreError, bex.ClientError)


# ---- sessions and clients ------------------------------------------------------------------------

_LOCAL = threading.local()


ACCOUNT_ID = re.compile(r"^\d{12}$")
REGION_NAME = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")


def check_scope(accounts: Iterable[str] = (), regions: Iterable[str] = ()) -> None:
    """Accounts must be account ids, Regions Region names or 'all'."""
    for account in accounts:
        if not ACCOUNT_ID.match(account):
            raise UsageError(ACCOUNTS, _(": {value!r} is not a 12-digit account id").format(value=account))
    for region in regions:
        if region.lower() != "all" and not REGION_NAME.match(region):
            raise UsageError(REGIONS, _(": {value!r} is not a Region name (e.g. us-east-1) or 'all'").format(value=region))


def time_window(since: str | None, until: str | None) -> tuple[datetime | None, datetime | None]:
    """``since`` / ``until`` as UTC bounds; until must come after since."""
    start, end = parse_time_bound(since, SINCE), parse_time_bound(until, UNTIL)
    if start and end and end <= start:
        raise UsageError(*said(_("{until} must be after {since}"), until=UNTIL, since=SINCE))
    return start, end


@dataclass(frozen=True)
class AwsConfig:
    """How to reach AWS: a profile and a Region (picklable; clients are created per process)."""

    profile: str | None = None
    region: str | None = None
    max_attempts: int | None = None  # botocore's attempts per call, if not the policy's
    retry_mode: str | None = None  # botocore's retry mode, if not the policy's
    retry: RetryPolicy = field(default_factory=RetryPolicy.from_env)  # retries and timeouts of every call

    def __post_init__(self) -> None:
        if self.max_attempts is not None or self.retry_mode is not None:
            policy = replace(self.retry, max_attempts=self.max_attempts or self.retry.max_attempts,
                             mode=self.retry_mode or self.retry.mode)
            object.__setattr__(self, "retry", policy)

    def session(self) -> Any:
        """A boto3 Session for this profile (cached per process and thread)."""
        cache: dict[tuple[int, str | None, str | None], Any] = _LOCAL.__dict__.setdefault("sessions", {})
        key = (os.getpid(), self.profile, self.region)
        session = cache.get(key)
        if session is None:
            boto3 = boto3_module()
            try:
                session = boto3.Session(profile_name=self.profile, region_name=self.region)
            except Exception as e:
                raise translate(e, _("AWS session")) from e
            cache[key] = session
        return session

    def client(self, service: str, region: str | None = None) -> Any:
        """A client of ``service`` (cached per process, thread and Region)."""
        cache: dict[tuple[Any, ...], Any] = _LOCAL.__dict__.setdefault("clients", {})
        key = (os.getpid(), service, self.profile, self.region, region, self.retry)
        client = cache.get(key)
        if client is None:
            try:
                client = instrument(
                    self.session().client(service, region_name=region or self.region, config=self.retry.config())
                )
            except UsageError:
                raise
            except Exception as e:
                raise translate(e, _("{service} client").format(service=service)) from e
            cache[key] = client
        return client

    def session_client(self, session: Any, service: str, region: str | None = None, max_attempts: int | None = None) -> Any:
        """A client of ``service`` from another session (assumed-role credentials), with the retry policy."""
        config = self.retry.config(max_attempts, "standard" if max_attempts else None)
        return instrument(session.client(service, region_name=region, config=config))

    def call(self, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``fn(*args, **kwargs)`` under the retry policy (``RetryPolicy.call``)."""
        return self.retry.call(what, fn, *args, **kwargs)

    def region_name(self) -> str | None:
        """The Region boto3 resolves (``--region``, AWS_REGION, the profile's)."""
        return self.region or self.session().region_name  # type: ignore[no-any-return]


def forget_clients() -> None:
    """Drop this thread's cached sessions and clients (after the environment changed)."""
    _LOCAL.__dict__.pop("sessions", None)
    _LOCAL.__dict__.pop("clients", None)


def session_from_credentials(credentials: Mapping[str, Any], region: str | None) -> Any:
    """A boto3 Session from STS credentials (an assumed role)."""
    boto3 = boto3_module()
    return boto3.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=region,
    )


def caller_account(config: AwsConfig) -> str:
    """The account of the credentials (STS GetCallerIdentity)."""
    try:
        return str(config.call("sts:GetCallerIdentity", config.client("sts").get_caller_identity)["Account"])
    except UsageError:
        raise
    except Exception as e:
        raise translate(e, "sts:GetCallerIdentity") from e


def enabled_regions(session_or_config: Any, region: str | None = None) -> list[str]:
    """The Regions enabled for the account (EC2 DescribeRegions)."""
    try:
        if isinstance(session_or_config, AwsConfig):
            policy = session_or_config.retry
            ec2 = session_or_config.client("ec2", region)
        else:
            policy = RetryPolicy.from_env()
            ec2 = instrument(session_or_config.client("ec2", region_name=region, config=policy.config()))
        regions = policy.call("ec2:DescribeRegions", ec2.describe_regions, AllRegions=False)["Regions"]
    except UsageError:
        raise
    except Exception as e:
        raise translate(e, *said(_("listing enabled Regions (ec2:DescribeRegions; give {regions} instead)"),
                                 regions=REGIONS_LIST)) from e
    return sorted(r["RegionName"] for r in regions if r.get("OptInStatus") != "not-opted-in")


# ---- pacing ------------------------------------------------------------------------------------


class RateLimiter:
    """At most ``per_second`` calls a second (spaced evenly)."""

    def __init__(
        self,
        per_second: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.interval = 1.0 / per_second if per_second > 0 else 0.0
        self._clock = clock
        self._sleep = sleep
        self._next = 0.0

    def wait(self) -> None:
        now = self._clock()
        if now < self._next:
            self._sleep(self._next - now)
            now = self._next
        self._next = now + self.interval
