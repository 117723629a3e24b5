"""The KMS key inventory as a source: which keys exist, in what state, with which aliases, policies,
grants and tags -- what usage alone cannot say (which keys are *unused*, which are AWS managed).

Two ways in, each a stream of ``RegionInventory`` (one account and Region as taken) and
``InventoryFailure`` (one that could not be taken):

* ``regions_from_api``: the KMS API (ListKeys, DescribeKey, ListAliases, GetKeyPolicy, ListGrants,
  ListResourceTags, and GetKeyLastUsage where the endpoint has it) for every Region asked, in the
  caller's account or, with an organisation role, in every account (Organizations ListAccounts,
  or a given list) through STS AssumeRole. A failure in one account or Region is recorded and
  reported; the others are still taken.
* ``regions_from_files`` (``sources.inventory_files``): the same from files saved as AWS CLI output, one folder per account and
  Region: ``ACCOUNT/REGION/list-aliases.json``, ``describe-key/KEYID.json``,
  ``get-key-policy/KEYID.json`` (and ``list-grants/KEYID.json``, ``list-resource-tags/KEYID.json``
  when present) -- for auditors who receive files rather than access.

``keytrail.pipeline.inventory_run`` stores them (``take_inventory``, ``import_inventory``): each
account and Region replaces its previous inventory in the store (``store.inventory_tables``).
The aliases also feed the resolver: each alias is an ``alias_history`` entry (source ``inventory``) at its
LastUpdatedDate (or CreationDate), so calls that name an alias resolve to its key even when the
trail does not hold the CreateAlias/UpdateAlias event; alias changes the trail does hold win.

The inventory's own calls name keys, so they appear in CloudTrail as admin calls of the
principal that took it.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

from keytrail.errors import (
    ACCOUNTS,
    ORG_ROLE,
    ORG_ROLE_NAMED,
    REGION_CHOICE,
    KeytrailError,
    SourceError,
    UsageError,
    said,
)
from keytrail.i18n import N_, _
from keytrail.sources.aws import (
    AwsConfig,
    botocore_errors,
    check_scope,
    describe_error,
    enabled_regions,
    error_code,
    session_from_credentials,
    translate,
)
from keytrail.sources.retry import RetryingClient

log = logging.getLogger(__name__)

SESSION_NAME = "keytrail-inventory"


@dataclass(frozen=True)
class InventoryKey:
    arn: str
    account: str
    region: str
    key_id: str
    key_manager: str | None
    key_state: str | None
    enabled: bool | None
    description: str | None
    key_usage: str | None
    key_spec: str | None
    multi_region: bool | None
    creation_date: datetime | None
    deletion_date: datetime | None
    last_used: datetime | None = None


@dataclass(frozen=True)
class InventoryAlias:
    alias_arn: str
    alias_name: str
    account: str
    region: str
    target_key_arn: str | None
    last_updated: datetime | None
    created: datetime | None


@dataclass(frozen=True)
class InventoryGrant:
    arn: str
    grant_id: str
    name: str | None
    grantee_principal: str | None
    retiring_principal: str | None
    issuing_account: str | None
    operations: tuple[str, ...]
    constraints: str | None


@dataclass
class RegionInventory:
    """One account and Region as it was when taken."""

    account: str
    region: str
    keys: list[InventoryKey] = field(default_factory=list)
    aliases: list[InventoryAlias] = field(default_factory=list)
    policies: list[tuple[str, str, str]] = field(default_factory=list)  # (key arn, name, document)
    grants: list[InventoryGrant] = field(default_factory=list)
    tags: list[tuple[str, str, str | None]] = field(default_factory=list)  # (key arn, key, value)
    notes: list[str] = field(default_factory=list)  # calls refused for single keys: reported, not fatal


class InventoryFailure(NamedTuple):
    """An account (``region`` None) or Region that could not be taken, and why."""

    account: str
    region: str | None
    message: str | KeytrailError  # an error whose message names settings (its terms) is kept whole


Taken = RegionInventory | InventoryFailure


# ---- values from the API or from AWS CLI files ---------------------------------------------------


def _time(value: object) -> datetime | None:
    """A naive UTC datetime from a boto3 datetime, an ISO-8601 string or epoch seconds (AWS CLI v1)."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(float(value), UTC).replace(tzinfo=None)
    if isinstance(value, str) and value:
        try:
            t = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            try:
                return datetime.fromtimestamp(float(value), UTC).replace(tzinfo=None)
            except ValueError:
                return None
        return t.astimezone(UTC).replace(tzinfo=None) if t.tzinfo else t
    return None


def str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _bool(value: object) -> bool | None:
    return value if isinstance(value, bool) else None


def key_from_metadata(meta: dict[str, Any], account: str, region: str, last_used: datetime | None = None) -> InventoryKey:
    key_id = str(meta.get("KeyId") or "")
    arn = str_or_none(meta.get("Arn")) or f"arn:aws:kms:{region}:{account}:key/{key_id}"
    return InventoryKey(
        arn=arn,
        account=str_or_none(meta.get("AWSAccountId")) or account,
        region=region,
        key_id=key_id,
        key_manager=str_or_none(meta.get("KeyManager")),
        key_state=str_or_none(meta.get("KeyState")),
        enabled=_bool(meta.get("Enabled")),
        description=meta.get("Description") if isinstance(meta.get("Description"), str) else None,
        key_usage=str_or_none(meta.get("KeyUsage")),
        key_spec=str_or_none(meta.get("KeySpec")) or str_or_none(meta.get("CustomerMasterKeySpec")),
        multi_region=_bool(meta.get("MultiRegion")),
        creation_date=_time(meta.get("CreationDate")),
        deletion_date=_time(meta.get("DeletionDate")),
        last_used=last_used,
    )


def alias_from_entry(entry: dict[str, Any], account: str, region: str) -> InventoryAlias | None:
    name = str_or_none(entry.get("AliasName"))
    if name is None:
        return None
    alias_arn = str_or_none(entry.get("AliasArn")) or f"arn:aws:kms:{region}:{account}:{name}"
    partition = alias_arn.split(":")[1] if alias_arn.count(":") >= 5 else "aws"
    target = str_or_none(entry.get("TargetKeyId"))
    target_arn = None
    if target:
        target_arn = target if target.startswith("arn:") else f"arn:{partition}:kms:{region}:{account}:key/{target}"
    return InventoryAlias(
        alias_arn=alias_arn,
        alias_name=name,
        account=account,
        region=region,
        target_key_arn=target_arn,
        last_updated=_time(entry.get("LastUpdatedDate")),
        created=_time(entry.get("CreationDate")),
    )


def grant_from_entry(entry: dict[str, Any], key_arn: str) -> InventoryGrant:
    ops = entry.get("Operations")
    constraints = entry.get("Constraints")
    return InventoryGrant(
        arn=key_arn,
        grant_id=str(entry.get("GrantId") or ""),
        name=str_or_none(entry.get("Name")),
        grantee_principal=str_or_none(entry.get("GranteePrincipal")),
        retiring_principal=str_or_none(entry.get("RetiringPrincipal")),
        issuing_account=str_or_none(entry.get("IssuingAccount")),
        operations=tuple(str(o) for o in ops) if isinstance(ops, list) else (),
        constraints=json.dumps(constraints, sort_keys=True) if constraints else None,
    )


# ---- from the API --------------------------------------------------------------------------------


def _pages(client: Any, operation: str, key: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
    if isinstance(client, RetryingClient):  # the listing made again if a page still fails
        yield from client.pages(operation, key, **kwargs)
        return
    for page in client.get_paginator(operation).paginate(**kwargs):
        yield from page.get(key, []) or []


class _LastUsage:
    """GetKeyLastUsage where the endpoint has it; switched off for the Region at its first refusal."""

    def __init__(self, client: Any | None) -> None:
        self.client = client
        self.unavailable: str | None = None if client is not None else _("not in this SDK")

    def __call__(self, key_id: str) -> datetime | None:
        if self.client is None or self.unavailable is not None:
            return None
        try:
            answer = self.client.get_key_last_usage(KeyId=key_id)
        except botocore_errors() as e:
            self.unavailable = describe_error(e).splitlines()[0][:200]
            return None
        return _time((answer.get("KeyLastUsage") or {}).get("Timestamp"))


def inventory_region(kms: Any, account: str, region: str, last_usage_client: Any | None = None) -> RegionInventory:
    """One account and Region through a KMS client (listing failures raise; single-key ones are notes)."""
    inv = RegionInventory(account, region)
    last_usage = _LastUsage(last_usage_client)

    def note(key_id: str, what: str, e: BaseException) -> None:
        inv.notes.append(f"{key_id}: {what}: {describe_error(e)}")

    for entry in _pages(kms, "list_keys", "Keys"):
        key_id = str(entry.get("KeyId"))
        try:
            meta = kms.describe_key(KeyId=key_id)["KeyMetadata"]
        except botocore_errors() as e:
            if error_code(e) == "NotFoundException":
                continue  # deleted since it was listed
            note(key_id, "DescribeKey", e)
            continue
        key = key_from_metadata(meta, account, region, last_usage(key_id))
        arn = key.arn
        inv.keys.append(key)
        try:
            policy = kms.get_key_policy(KeyId=key_id, PolicyName="default")
            if policy.get("Policy"):
                inv.policies.append((arn, str(policy.get("PolicyName") or "default"), str(policy["Policy"])))
        except botocore_errors() as e:
            note(key_id, "GetKeyPolicy", e)
        try:
            inv.grants += [grant_from_entry(g, arn) for g in _pages(kms, "list_grants", "Grants", KeyId=key_id)]
        except botocore_errors() as e:
            note(key_id, "ListGrants", e)
        if key.key_manager != "AWS":  # AWS managed keys carry no tags
            try:
                for t in _pages(kms, "list_resource_tags", "Tags", KeyId=key_id):
                    inv.tags.append((arn, str(t.get("TagKey")), str_or_none(t.get("TagValue"))))
            except botocore_errors() as e:
                note(key_id, "ListResourceTags", e)
    for entry in _pages(kms, "list_aliases", "Aliases"):
        alias = alias_from_entry(entry, account, region)
        if alias is not None:
            inv.aliases.append(alias)
    if last_usage.unavailable and inv.keys:
        log.info(N_("%s %s: GetKeyLastUsage unavailable (%s): last use left empty"), account, region, last_usage.unavailable)
    return inv


def _organization_accounts(aws: AwsConfig, session: Any) -> list[str]:
    client = RetryingClient(aws.session_client(session, "organizations"), aws.retry)
    return sorted(str(a["Id"]) for a in client.pages("list_accounts", "Accounts") if a.get("Status", "ACTIVE") == "ACTIVE")


def regions_from_api(
    aws: AwsConfig,
    regions: Sequence[str] = (),
    accounts: Sequence[str] = (),
    org_role: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> Iterator[Taken]:
    """Every account and Region asked, through the KMS API (see the module docstring)."""
    check_scope(accounts, regions)
    if accounts and not org_role:
        raise UsageError(*said(_("{accounts} needs {org_role} (the role keytrail assumes in each account)"),
                               accounts=ACCOUNTS, org_role=ORG_ROLE_NAMED))
    if org_role is not None and not re.match(r"^[\w+=,.@/-]{1,512}$", org_role):
        raise UsageError(*said(_("{option}: {value!r} is not a role name"), option=ORG_ROLE, value=org_role))
    base = aws.session()
    caller, partition = _caller(aws)
    targets: list[str] = [caller]
    if org_role:
        if accounts:
            targets = sorted(set(accounts))
        else:
            try:
                targets = _organization_accounts(aws, base)
            except botocore_errors() as e:
                raise SourceError(*said(_("{operation}: {reason} (give {accounts} instead)"),
                                        operation="organizations:ListAccounts", reason=describe_error(e),
                                        accounts=ACCOUNTS)) from e
    for account in targets:
        session = base
        if account != caller and org_role:
            role_arn = f"arn:{partition}:iam::{account}:role/{org_role}"
            try:
                creds = aws.call("sts:AssumeRole", aws.client("sts").assume_role, RoleArn=role_arn,
                                 RoleSessionName=SESSION_NAME)["Credentials"]
                session = session_from_credentials(creds, aws.region_name())
            except botocore_errors() as e:
                yield InventoryFailure(account, None, _("cannot assume {role}: {reason}").format(
                    role=role_arn, reason=describe_error(e)))
                continue
        try:
            names = _region_names(aws, session, regions)
        except SourceError as e:
            yield InventoryFailure(account, None, e)
            continue
        for region in names:
            if progress is not None:
                progress(f"{account} {region}")
            yield _one_region(aws, session, account, region)


def _caller(aws: AwsConfig) -> tuple[str, str]:
    """The account and partition of the credentials."""
    try:
        identity = aws.call("sts:GetCallerIdentity", aws.client("sts").get_caller_identity)
    except UsageError:
        raise
    except botocore_errors() as e:
        raise translate(e, "sts:GetCallerIdentity") from e
    except Exception as e:
        raise translate(e, "sts:GetCallerIdentity") from e
    return str(identity["Account"]), str(identity.get("Arn", "arn:aws:")).split(":")[1] or "aws"


def _region_names(aws: AwsConfig, session: Any, regions: Sequence[str]) -> list[str]:
    if any(r.lower() == "all" for r in regions):
        return enabled_regions(session, aws.region_name())
    if regions:
        return list(regions)
    default = aws.region_name()
    if not default:
        raise UsageError(*said(_("no AWS Region{remedy}"), remedy=REGION_CHOICE))
    return [default]


def _one_region(aws: AwsConfig, session: Any, account: str, region: str) -> Taken:
    try:
        kms = RetryingClient(aws.session_client(session, "kms", region), aws.retry)
        probe = None
        if "GetKeyLastUsage" in kms.meta.service_model.operation_names:
            probe = aws.session_client(session, "kms", region, max_attempts=1)  # a probe: its first refusal counts
        return inventory_region(kms, account, region, probe)
    except botocore_errors() as e:
        return InventoryFailure(account, region, describe_error(e))


__all__ = [
    "InventoryAlias",
    "InventoryFailure",
    "InventoryGrant",
    "InventoryKey",
    "RegionInventory",
    "Taken",
    "inventory_region",
    "regions_from_api",
]
