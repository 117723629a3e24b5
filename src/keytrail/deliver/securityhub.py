"""Findings into AWS Security Hub through BatchImportFindings, as the account's own custom
integration (``arn:aws:securityhub:REGION:ACCOUNT:product/ACCOUNT/default``).

Who may import what (AWS's rule for BatchImportFindings): with that product ARN, the calling
account must be the finding's ``AwsAccountId``. So an export imports the findings about the
caller's own account (its keys) and counts the others by account -- export them with each
account's credentials (``--profile``), and let Security Hub's cross-account aggregation bring
them to the administrator account.

An export:

1. reads the keytrail findings Security Hub already holds for this product (GetFindings, filtered
   by ProductArn, account and GeneratorId ``keytrail/``, and checked again on this side);
2. imports every current finding by its stable Id -- a finding already there is updated (its
   CreatedAt kept), not duplicated; a finding ARCHIVED before and found again is ACTIVE again;
3. sets RecordState ARCHIVED on the ACTIVE keytrail findings this export speaks for (its kinds,
   its Region and account of keys; none when it was narrowed to named keys) that it did not report
   this time: they no longer hold (or fall below its minimum severity);
4. in batches of at most 100 findings and 6 MB, at most 10 requests a second, retrying throttled
   requests with exponential backoff; a finding Security Hub refuses is named with its error and
   the others are imported.
"""

from __future__ import annotations

import functools
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from keytrail.analysis.findings.base import Finding
from keytrail.analysis.findings.identity import finding_account, finding_id
from keytrail.errors import REGION, DeliveryError, UsageError, said
from keytrail.i18n import _
from keytrail.render.asff import batches, check_asff, product_arn, to_asff
from keytrail.sources.aws import (
    AwsConfig,
    RateLimiter,
    botocore_errors,
    caller_account,
    describe_error,
    error_code,
)
from keytrail.sources.retry import RETRIES, describe_failure, is_retryable

GENERATOR_PREFIX = "keytrail/"
REQUESTS_PER_SECOND = 10.0  # BatchImportFindings: 10 a second (bursts of 30)
THROTTLE_RETRIES = 8
# what an archived copy keeps of a finding read back (Security Hub adds fields BatchImportFindings
# does not take from a provider: Workflow, Note, ProcessedAt, ...)
_PROVIDER_FIELDS = ("SchemaVersion", "Id", "ProductArn", "ProductName", "CompanyName", "Region", "GeneratorId",
                    "AwsAccountId", "Types", "FirstObservedAt", "LastObservedAt", "CreatedAt", "Severity",
                    "FindingProviderFields", "Title", "Description", "Remediation", "ProductFields", "Resources")


@dataclass
class ExportSummary:
    """What an export did: ``imported`` new findings, ``updated`` ones already there, ``archived``
    ones that no longer hold; ``failed`` (finding id, reason); ``other_accounts`` findings about
    other accounts (not imported: AWS's rule), by account."""

    account: str
    region: str
    imported: int = 0
    updated: int = 0
    archived: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    other_accounts: dict[str, int] = field(default_factory=dict)

    def line(self) -> str:
        return _("Security Hub {account} {region}: {imported} imported, {updated} updated, {archived} archived, "
                 "{failed} failed").format(account=self.account, region=self.region, imported=self.imported,
                                           updated=self.updated, archived=self.archived, failed=len(self.failed))


@dataclass(frozen=True)
class ArchiveScope:
    """Which findings already in Security Hub this export speaks for: those it does not report are
    archived only within its kinds (() = every kind) and the keys it looked at (``key_region``,
    ``key_account``); an export narrowed to named keys (``archive=False``) archives nothing."""

    kinds: tuple[str, ...] = ()
    key_region: str | None = None
    key_account: str | None = None
    archive: bool = True

    def covers(self, found: dict[str, Any]) -> bool:
        if not self.archive:
            return False
        if self.kinds and _kind_of(found) not in self.kinds:
            return False
        if self.key_account and found.get("AwsAccountId") != self.key_account:
            return False
        if self.key_region:
            key = str((found.get("ProductFields") or {}).get("keytrail/Key", ""))
            parts = key.split(":")
            return len(parts) > 3 and parts[3] == self.key_region
        return True


@dataclass
class Exporter:
    """One export to one account's Security Hub in one Region (``export`` runs it)."""

    config: AwsConfig
    now: str
    scope: ArchiveScope = field(default_factory=ArchiveScope)
    sleep: Callable[[float], None] = time.sleep
    backoff_base: float = 1.0
    _client: Any = None

    def client(self, region: str) -> Any:
        if self._client is None:
            self._client = self.config.client("securityhub", region)
        return self._client

    def existing(self, region: str, account: str) -> dict[str, dict[str, Any]]:
        """keytrail's findings in this Security Hub, by Id (GetFindings, checked on this side too)."""
        arn = product_arn(region, account)
        filters = {
            "ProductArn": [{"Value": arn, "Comparison": "EQUALS"}],
            "AwsAccountId": [{"Value": account, "Comparison": "EQUALS"}],
            "GeneratorId": [{"Value": GENERATOR_PREFIX, "Comparison": "PREFIX"}],
        }
        out: dict[str, dict[str, Any]] = {}
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"Filters": filters, "MaxResults": 100}
            if token:
                kwargs["NextToken"] = token
            page = self.call(region, "GetFindings", functools.partial(self.client(region).get_findings, **kwargs))
            for f in page.get("Findings", []):
                if (f.get("ProductArn") == arn and f.get("AwsAccountId") == account
                        and str(f.get("GeneratorId", "")).startswith(GENERATOR_PREFIX)):
                    out[str(f["Id"])] = f
            token = page.get("NextToken") or None
            if not token:
                return out

    def call(self, region: str, what: str, call: Callable[[], Any]) -> Any:
        """One API call, made again while it fails in a retryable way (throttling, 5xx, a broken
        connection) under the retry policy (``sources.retry``), at most ``THROTTLE_RETRIES`` times."""
        policy = replace(self.config.retry, attempts=THROTTLE_RETRIES + 1, base_delay=self.backoff_base)
        delays = policy.delays()
        destination = f"Security Hub ({region}) {what}"
        while True:
            try:
                return call()
            except botocore_errors() as e:
                delay = next(delays, None) if is_retryable(e) else None
                if delay is not None:
                    RETRIES.add(destination, describe_failure(e))
                    self.sleep(delay)
                    continue
                if error_code(e) == "InvalidAccessException":
                    raise DeliveryError(destination, _("{reason} (is Security Hub enabled in this account and Region?)")
                                        .format(reason=describe_error(e))) from e
                raise DeliveryError(destination, describe_error(e), retryable=is_retryable(e)) from e


def archived_copy(found: dict[str, Any], now: str) -> dict[str, Any]:
    """A finding read back from Security Hub, to be imported again as ARCHIVED."""
    out = {k: found[k] for k in _PROVIDER_FIELDS if k in found}
    if isinstance(out.get("ProductFields"), dict):
        out["ProductFields"] = {k: v for k, v in out["ProductFields"].items() if not str(k).startswith("aws/")}
    out["UpdatedAt"] = now
    out["RecordState"] = "ARCHIVED"
    return out


def _kind_of(found: dict[str, Any]) -> str:
    return str(found.get("GeneratorId", ""))[len(GENERATOR_PREFIX):]


def export(  # long: the export's steps in order (see the module docstring)
    findings: Sequence[Finding], exporter: Exporter
) -> ExportSummary:
    """Import ``findings`` into the Security Hub of the caller's account (``exporter.config``)."""
    config = exporter.config
    region = config.region_name()
    if not region:
        raise UsageError(*said(_("Security Hub is regional: give {region} (or set AWS_REGION)"), region=REGION))
    account = caller_account(config)
    summary = ExportSummary(account, region)
    mine = []
    others: Counter[str] = Counter()
    for f in findings:
        owner = finding_account(f) or account
        if owner == account:
            mine.append(f)
        else:
            others[owner] += 1
    summary.other_accounts = dict(sorted(others.items()))
    before = exporter.existing(region, account)
    outgoing: list[dict[str, Any]] = []
    for f in mine:
        asff = to_asff(f, account=account, region=region, now=exporter.now,
                       created_at=(before.get(finding_id(f)) or {}).get("CreatedAt"))
        problems = check_asff(asff)
        if problems:
            summary.failed.append((asff["Id"], "; ".join(problems)))
        else:
            outgoing.append(asff)
    current = {a["Id"] for a in outgoing} | {i for i, _reason in summary.failed}
    archive = [
        archived_copy(found, exporter.now) for fid, found in sorted(before.items())
        if fid not in current and found.get("RecordState", "ACTIVE") == "ACTIVE" and exporter.scope.covers(found)
    ]
    archiving = {a["Id"] for a in archive}
    limiter = RateLimiter(REQUESTS_PER_SECOND, sleep=exporter.sleep)
    for batch in batches(outgoing + archive):
        limiter.wait()
        try:
            answer = exporter.call(region, "BatchImportFindings",
                                   functools.partial(exporter.client(region).batch_import_findings, Findings=batch))
        except DeliveryError as e:
            summary.failed += [(a["Id"], e.reason) for a in batch]
            continue
        refused = {str(x.get("Id")): f"{x.get('ErrorCode', '?')}: {x.get('ErrorMessage', '')}".strip()
                   for x in answer.get("FailedFindings", [])}
        summary.failed += sorted(refused.items())
        for a in batch:
            if a["Id"] in refused:
                continue
            if a["Id"] in archiving:
                summary.archived += 1
            elif a["Id"] in before:
                summary.updated += 1
            else:
                summary.imported += 1
    return summary
