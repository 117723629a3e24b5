"""CloudTrail log files in an S3 bucket: ``s3://BUCKET/[PREFIX]``.

Objects are found by walking CloudTrail's layout with delimiter listings,

    [PREFIX/]AWSLogs/[o-ORGID/]ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/FILE.json.gz

so that only what was asked for is listed: ``--accounts`` and ``--regions`` name the account and
Region prefixes directly, and ``--since``/``--until`` list only the day prefixes of the window
(plus the day after it: CloudTrail files under a day's prefix are named by delivery time, so an
event from just before midnight can be in the next day's files). The whole bucket is never
listed. ``CloudTrail-Digest/`` and ``CloudTrail-Insight/`` are not descended into.

Each object's ETag is its ledger version: a re-run reads only new or changed objects. Objects
are downloaded in the pipeline's worker processes; the source is picklable and creates its S3
client lazily in each process. A listing that is denied is reported by its prefix, a download
that is denied by its object, and the rest is read.

Amazon Security Lake's bucket is read too, in its source version 1 layout

    [PREFIX/]aws/CLOUD_TRAIL_MGMT/1.0/region=REGION/accountId=ACCOUNT/eventDay=YYYYMMDD/FILE.gz.parquet

(OCSF Parquet files, read by ``keytrail.decode.parquet``), narrowed the same way: ``--regions``,
``--accounts`` and the window name the ``region=``, ``accountId=`` and ``eventDay=`` folders.
Version 2 (``2.0/``) is an Iceberg table whose folders also hold files it no longer counts: it is
not read from S3 (query it with ``athena://``), and keytrail says so.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from keytrail.errors import SourceError, SourceReadError, UsageError
from keytrail.i18n import N_, _
from keytrail.sources import FileRef
from keytrail.sources.aws import (
    ACCOUNT_ID,
    REGION_NAME,
    AwsConfig,
    botocore_errors,
    check_scope,
    describe_error,
    error_code,
    is_access_denied,
    time_window,
    translate,
)
from keytrail.sources.registry import SourceOptions
from keytrail.times import utcnow

log = logging.getLogger(__name__)
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")
_ORG = re.compile(r"^o-[a-z0-9]{10,32}$")
_YEAR = re.compile(r"^\d{4}$")
_TWO = re.compile(r"^\d{2}$")
_LOG_NAME = re.compile(r"\.(json|jsonl|ndjson)(\.gz)?$|\.parquet$", re.IGNORECASE)
LAKE_DIR = "CLOUD_TRAIL_MGMT"  # Security Lake's CloudTrail management events
_LAKE_VERSION = "1.0"
_LAKE_PART = re.compile(r"^(region|accountid|eventday)=(.+)$", re.IGNORECASE)
_NON_LOG = {"CloudTrail-Digest": N_("CloudTrail digest file"), "CloudTrail-Insight": N_("CloudTrail Insights file")}
DISCOVERY_DEPTH = 2  # folders searched below PREFIX for AWSLogs/ (a trail's own S3 key prefix)
ENUMERATE_DAYS = 62  # windows up to this many days list day prefixes directly, longer ones discover


def parse_s3_url(spec: str) -> tuple[str, str]:
    rest = spec[len("s3://") :] if spec.lower().startswith("s3://") else spec
    bucket, _slash, prefix = rest.partition("/")
    if not _BUCKET.match(bucket):
        raise UsageError(_("{spec}: not an S3 URL (s3://BUCKET/[PREFIX])").format(spec=spec))
    return bucket, prefix


@dataclass(frozen=True)
class S3Source:
    """CloudTrail log files below ``s3://bucket/prefix``."""

    bucket: str
    prefix: str = ""
    aws: AwsConfig = field(default_factory=AwsConfig)
    accounts: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None

    @property
    def description(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    # ---- listing -------------------------------------------------------------------------
    def _client(self) -> Any:
        return self.aws.client("s3")

    def _uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def _list(self, prefix: str, delimiter: bool) -> Iterator[tuple[str, dict[str, Any]]]:
        """('dir', {Prefix}) and ('obj', {Key, Size, ETag}) entries below ``prefix`` (paged; each
        page retried under the retry policy, so a fault burst does not lose the rest of a listing)."""
        for page in self.aws.retry.list_objects(self._client(), self.bucket, prefix, "/" if delimiter else None):
            for d in page.get("CommonPrefixes", []) or []:
                yield "dir", d
            for o in page.get("Contents", []) or []:
                yield "obj", o

    def _children(self, prefix: str) -> tuple[list[str], FileRef | None]:
        """Child folder names of ``prefix``; an access-denied listing becomes an error entry."""
        try:
            names = []
            for kind, entry in self._list(prefix, delimiter=True):
                if kind == "dir":
                    names.append(entry["Prefix"][len(prefix) :].rstrip("/"))
            return names, None
        except botocore_errors() as e:
            if is_access_denied(e):
                return [], FileRef(self._uri(prefix), error=_("cannot list: {reason}").format(reason=describe_error(e)))
            raise

    def files(self) -> Iterator[FileRef]:
        try:
            prefix = self.prefix
            if prefix and not prefix.endswith("/"):
                if _LOG_NAME.search(prefix):  # one object named explicitly
                    yield self._one(prefix)
                    return
                prefix += "/"
            yield from self._find(prefix, 0)
        except (UsageError, SourceError):
            raise
        except botocore_errors() as e:
            raise translate(e, _("listing {url}").format(url=f"s3://{self.bucket}/{self.prefix}")) from e

    def _one(self, key: str) -> FileRef:
        try:
            head = self.aws.call(f"s3:HeadObject s3://{self.bucket}/{key}", self._client().head_object, Bucket=self.bucket, Key=key)
        except botocore_errors() as e:
            return FileRef(self._uri(key), error=_("cannot read: {reason}").format(reason=describe_error(e)))
        return self._ref({"Key": key, "Size": head.get("ContentLength", 0), "ETag": head.get("ETag", "")})

    def _find(self, prefix: str, depth: int) -> Iterator[FileRef]:
        """Find ``AWSLogs/`` at or below ``prefix`` (a trail may have its own key prefix) and descend."""
        parts = [p for p in prefix.split("/") if p]
        if LAKE_DIR in parts:
            at = parts.index(LAKE_DIR)
            yield from self._lake("/".join(parts[: at + 1]) + "/", parts[at + 1 :])
            return
        if "AWSLogs" in parts:
            at = parts.index("AWSLogs")
            yield from self._resume("/".join(parts[: at + 1]) + "/", parts[at + 1 :])
            return
        found = False
        for layout in self._layouts(prefix, depth):
            found = True
            if isinstance(layout, FileRef):
                yield layout
            elif layout.endswith(f"/{LAKE_DIR}/") or layout == f"{LAKE_DIR}/":
                yield from self._lake(layout, [])
            else:
                yield from self._level(layout, "owner")
        if not found and depth == 0:
            # not CloudTrail's layout: everything below the prefix that was named
            yield from self._everything(prefix)

    def _layouts(self, prefix: str, depth: int) -> Iterator[str | FileRef]:
        """``.../AWSLogs/`` prefixes at most DISCOVERY_DEPTH folders below ``prefix`` (or denials)."""
        children, denied = self._children(prefix)
        if denied is not None:
            yield denied
            return
        if "AWSLogs" in children:
            yield prefix + "AWSLogs/"
        elif LAKE_DIR in children:
            yield prefix + LAKE_DIR + "/"
        elif depth < DISCOVERY_DEPTH:
            for child in children:
                if child not in _NON_LOG:
                    yield from self._layouts(f"{prefix}{child}/", depth + 1)

    def _resume(self, prefix: str, tail: list[str]) -> Iterator[FileRef]:
        """Continue from the levels the given prefix already fixes (``tail``: parts after AWSLogs)."""
        level = "owner"
        for i, part in enumerate(tail):
            if level == "owner" and _ORG.match(part):
                level = "account"
            elif level in ("owner", "account") and ACCOUNT_ID.match(part):
                if self.accounts and part not in self.accounts:
                    return
                level = "service"
            elif level == "service" and part == "CloudTrail":
                level = "region"
            elif level == "region" and REGION_NAME.match(part):
                if self._wanted_regions() and part not in self._wanted_regions():
                    return
                level = "days"
            else:
                # below a day, in CloudTrail-Digest/, or not CloudTrail's layout: all of it
                yield from self._everything(prefix + "/".join(tail[i:]) + "/")
                return
            prefix += part + "/"
        yield from self._level(prefix, level)

    def _level(self, prefix: str, level: str) -> Iterator[FileRef]:
        """Descend one level of CloudTrail's layout below ``prefix``."""
        if level == "service":
            yield from self._level(prefix + "CloudTrail/", "region")
            return
        if level == "days":
            yield from self._level_days(prefix)
            return
        if level == "account" and self.accounts:
            children: list[str] = list(self.accounts)
        elif level == "region" and self._wanted_regions():
            children = list(self._wanted_regions())
        else:
            children, denied = self._children(prefix)
            if denied is not None:
                yield denied
                return
        for child in sorted(children):
            if level in ("owner", "account") and ACCOUNT_ID.match(child):
                if not self.accounts or child in self.accounts:
                    yield from self._level(f"{prefix}{child}/", "service")
            elif level == "owner" and _ORG.match(child):
                yield from self._level(f"{prefix}{child}/", "account")
            elif level == "region" and REGION_NAME.match(child):
                yield from self._level(f"{prefix}{child}/", "days")

    # ---- Security Lake ---------------------------------------------------------------------
    def _lake(self, base: str, tail: list[str]) -> Iterator[FileRef]:
        """Security Lake's layout below ``.../CLOUD_TRAIL_MGMT/`` (``tail``: the levels the URL fixes)."""
        version = tail[0] if tail else _LAKE_VERSION
        if version != _LAKE_VERSION:
            log.warning(N_("%s%s/: Security Lake source version %s is an Iceberg table: not read from S3; "
                        "query it with athena://DATABASE.TABLE"), self._uri(base), version, version)  # fmt: skip
            return
        if not tail:
            versions, denied = self._children(base)
            if denied is not None:
                yield denied
                return
            for other in sorted(v for v in versions if v != _LAKE_VERSION):
                log.warning(N_("%s%s/: Security Lake source version %s is an Iceberg table: not read from S3; "
                            "query it with athena://DATABASE.TABLE"), self._uri(base), other, other)  # fmt: skip
            if _LAKE_VERSION not in versions:
                return
        yield from self._lake_level(f"{base}{_LAKE_VERSION}/", [p for p in tail[1:]], ("region", "accountid", "eventday"))

    def _lake_level(self, prefix: str, tail: list[str], levels: tuple[str, ...]) -> Iterator[FileRef]:
        """Descend ``region=``, ``accountId=``, ``eventDay=`` folders, keeping those asked for."""
        if not levels:
            yield from self._everything(prefix + "".join(p + "/" for p in tail))
            return
        if tail:
            names = [tail[0]]
        else:
            names, denied = self._children(prefix)
            if denied is not None:
                yield denied
                return
        for name in sorted(names):
            m = _LAKE_PART.match(name)
            if m is None or m[1].lower() != levels[0]:
                if tail:  # not Security Lake's layout below here: everything
                    yield from self._everything(prefix + "".join(p + "/" for p in tail))
                continue
            if self._lake_wanted(levels[0], m[2]):
                yield from self._lake_level(f"{prefix}{name}/", tail[1:], levels[1:])

    def _lake_wanted(self, level: str, value: str) -> bool:
        if level == "region":
            return not self._wanted_regions() or value in self._wanted_regions()
        if level == "accountid":
            return not self.accounts or value in self.accounts
        first, last = self._window()
        day = value if len(value) == 8 and value.isdigit() else None
        if day is None:
            return True
        return (first is None or day >= f"{first:%Y%m%d}") and (last is None or day <= f"{last:%Y%m%d}")

    def _wanted_regions(self) -> tuple[str, ...]:
        return tuple(r for r in self.regions if r.lower() != "all")

    # ---- days ----------------------------------------------------------------------------
    def _window(self) -> tuple[date | None, date | None]:
        """First and last day prefix to read (inclusive), or None for open ends."""
        first = self.since.date() if self.since else None
        last = None
        if self.until:
            # the day of --until (unless it is midnight) and the day after it (late delivery)
            end = self.until - timedelta(microseconds=1)
            last = end.date() + timedelta(days=1)
        return first, last

    def _level_days(self, region_base: str) -> Iterator[FileRef]:
        first, last = self._window()
        if first is None and last is None:
            yield from self._everything(region_base)
            return
        if first is not None:
            stop = last if last is not None else utcnow().date() + timedelta(days=1)
            if (stop - first).days < ENUMERATE_DAYS:
                d = first
                while d <= stop:
                    yield from self._everything(f"{region_base}{d:%Y/%m/%d}/")
                    d += timedelta(days=1)
                return
        yield from self._discover_days(region_base, first, last)

    def _discover_days(self, region_base: str, first: date | None, last: date | None) -> Iterator[FileRef]:
        lo = (first.year, first.month, first.day) if first else (0, 0, 0)
        hi = (last.year, last.month, last.day) if last else (9999, 99, 99)
        years, denied = self._children(region_base)
        if denied is not None:
            yield denied
        for y in sorted(years):
            if not _YEAR.match(y) or not lo[0] <= int(y) <= hi[0]:
                continue
            ybase = f"{region_base}{y}/"
            months, denied = self._children(ybase)
            if denied is not None:
                yield denied
            for m in sorted(months):
                if not _TWO.match(m) or not lo[:2] <= (int(y), int(m)) <= hi[:2]:
                    continue
                mbase = f"{ybase}{m}/"
                days, denied = self._children(mbase)
                if denied is not None:
                    yield denied
                for d in sorted(days):
                    if _TWO.match(d) and lo <= (int(y), int(m), int(d)) <= hi:
                        yield from self._everything(f"{mbase}{d}/")

    def _everything(self, prefix: str) -> Iterator[FileRef]:
        """Every object below ``prefix`` (no delimiter; paged)."""
        try:
            for kind, o in self._list(prefix, delimiter=False):
                if kind == "obj":
                    yield self._ref(o)
        except botocore_errors() as e:
            if is_access_denied(e):
                yield FileRef(self._uri(prefix), error=_("cannot list: {reason}").format(reason=describe_error(e)))
                return
            raise

    def _ref(self, o: dict[str, Any]) -> FileRef:
        key = str(o["Key"])
        uri = self._uri(key)
        size = int(o.get("Size") or 0)
        etag = str(o.get("ETag") or "")
        parts = key.split("/")
        for name in parts:
            reason = _NON_LOG.get(name)
            if reason:
                return FileRef(uri, size, etag, skip_reason=reason)
        if key.endswith("/"):
            return FileRef(uri, size, etag, skip_reason=N_("folder marker"))
        if not _LOG_NAME.search(key):
            return FileRef(uri, size, etag, skip_reason=N_("not a .json, .json.gz or .parquet object"))
        return FileRef(uri, size, etag)

    # ---- reading (in worker processes) ---------------------------------------------------
    # the reasons are kept in the store's ledger: English, whichever process read the object
    def read(self, ref: FileRef) -> bytes:
        """The object's bytes (``RetryPolicy.read_object``: a broken body is read on, failed calls
        are made again); it must still be the version listed (its ETag)."""
        from keytrail.sources.retry import ObjectChanged

        key = ref.uri[len(f"s3://{self.bucket}/") :]
        try:
            return self.aws.retry.read_object(self._client(), self.bucket, key, ref.version)
        except (UsageError, SourceError) as e:
            raise SourceReadError(ref.uri, str(e)) from e
        except ObjectChanged as e:
            raise SourceReadError(ref.uri, "the object changed while it was read; run again", retryable=True) from e
        except botocore_errors() as e:
            code = error_code(e)
            if is_access_denied(e):
                raise SourceReadError(ref.uri, f"access denied ({describe_error(e)})") from e
            if code in ("NoSuchKey", "404"):
                raise SourceReadError(ref.uri, "the object was deleted after it was listed", retryable=True) from e
            if code in ("PreconditionFailed", "412"):
                raise SourceReadError(ref.uri, "the object changed after it was listed; run again", retryable=True) from e
            attempts = self.aws.retry.attempts
            raise SourceReadError(ref.uri, f"{describe_error(e)} (after {attempts} attempts)", retryable=True) from e


def open_s3(spec: str, options: SourceOptions) -> S3Source:
    """The opener registered for ``s3://``."""
    bucket, prefix = parse_s3_url(spec)
    check_scope(options.accounts, options.regions)
    since, until = time_window(options.since, options.until)
    return S3Source(
        bucket=bucket,
        prefix=prefix,
        aws=AwsConfig(options.profile, options.region),
        accounts=tuple(options.accounts),
        regions=tuple(options.regions),
        since=since,
        until=until,
    )
