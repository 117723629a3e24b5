"""The KMS key inventory: which keys exist, in what state, with which aliases, policies, grants
and tags -- what usage alone cannot say (which keys are *unused*, which are AWS managed).

Two ways in, one store:

* ``take_inventory``: the KMS API (ListKeys, DescribeKey, ListAliases, GetKeyPolicy, ListGrants,
  ListResourceTags, and GetKeyLastUsage where the endpoint has it) for every Region asked, in the
  caller's account or, with an organisation role, in every account (Organizations ListAccounts,
  or a given list) through STS AssumeRole. A failure in one account or Region is recorded and
  reported; the others are still taken.
* ``import_inventory``: the same from files saved as AWS CLI output, one folder per account and
  Region: ``ACCOUNT/REGION/list-aliases.json``, ``describe-key/KEYID.json``,
  ``get-key-policy/KEYID.json`` (and ``list-grants/KEYID.json``, ``list-resource-tags/KEYID.json``
  when present) -- for auditors who receive files rather than access.

Each account and Region replaces its previous inventory in the store (``inventory_*`` tables,
stamped with the time it was taken; ``inventory_runs`` keeps every run). The aliases also feed
the resolver: each alias is an ``alias_history`` entry (source ``inventory``) at its
LastUpdatedDate (or CreationDate), so calls that name an alias resolve to its key even when the
trail does not hold the CreateAlias/UpdateAlias event; alias changes the trail does hold win.

The inventory's own calls name keys, so they appear in CloudTrail as admin calls of the
principal that took it.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from keytrail.errors import KeytrailError, SourceError, UsageError
from keytrail.operations import CRYPTO_SQL
from keytrail.sources.aws import (
    ACCOUNT_ID,
    REGION_NAME,
    AwsConfig,
    botocore_errors,
    check_scope,
    client_config,
    describe_error,
    enabled_regions,
    error_code,
    session_from_credentials,
    translate,
    utcnow,
)
from keytrail.store import Store

log = logging.getLogger(__name__)

_KEY_FILE = re.compile(r"^([A-Za-z0-9-]{1,128})\.json$")
SESSION_NAME = "keytrail-inventory"
MAX_NOTES = 20


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


@dataclass
class InventoryRun:
    """What an inventory took and what failed (by account and Region)."""

    taken_at: datetime
    source: str  # api | files
    regions: list[RegionInventory] = field(default_factory=list)
    failures: list[tuple[str, str | None, str]] = field(default_factory=list)  # (account, region, message)

    @property
    def partial(self) -> bool:
        return bool(self.failures)

    @property
    def keys(self) -> int:
        return sum(len(r.keys) for r in self.regions)

    @property
    def aliases(self) -> int:
        return sum(len(r.aliases) for r in self.regions)

    def notes(self) -> list[str]:
        return [f"{r.account} {r.region}: {n}" for r in self.regions for n in r.notes]


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


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _bool(value: object) -> bool | None:
    return value if isinstance(value, bool) else None


def key_from_metadata(meta: dict[str, Any], account: str, region: str, last_used: datetime | None = None) -> InventoryKey:
    key_id = str(meta.get("KeyId") or "")
    arn = _str(meta.get("Arn")) or f"arn:aws:kms:{region}:{account}:key/{key_id}"
    return InventoryKey(
        arn=arn,
        account=_str(meta.get("AWSAccountId")) or account,
        region=region,
        key_id=key_id,
        key_manager=_str(meta.get("KeyManager")),
        key_state=_str(meta.get("KeyState")),
        enabled=_bool(meta.get("Enabled")),
        description=meta.get("Description") if isinstance(meta.get("Description"), str) else None,
        key_usage=_str(meta.get("KeyUsage")),
        key_spec=_str(meta.get("KeySpec")) or _str(meta.get("CustomerMasterKeySpec")),
        multi_region=_bool(meta.get("MultiRegion")),
        creation_date=_time(meta.get("CreationDate")),
        deletion_date=_time(meta.get("DeletionDate")),
        last_used=last_used,
    )


def alias_from_entry(entry: dict[str, Any], account: str, region: str) -> InventoryAlias | None:
    name = _str(entry.get("AliasName"))
    if name is None:
        return None
    alias_arn = _str(entry.get("AliasArn")) or f"arn:aws:kms:{region}:{account}:{name}"
    partition = alias_arn.split(":")[1] if alias_arn.count(":") >= 5 else "aws"
    target = _str(entry.get("TargetKeyId"))
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
        name=_str(entry.get("Name")),
        grantee_principal=_str(entry.get("GranteePrincipal")),
        retiring_principal=_str(entry.get("RetiringPrincipal")),
        issuing_account=_str(entry.get("IssuingAccount")),
        operations=tuple(str(o) for o in ops) if isinstance(ops, list) else (),
        constraints=json.dumps(constraints, sort_keys=True) if constraints else None,
    )


# ---- from the API --------------------------------------------------------------------------------


def _pages(client: Any, operation: str, key: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
    for page in client.get_paginator(operation).paginate(**kwargs):
        yield from page.get(key, []) or []


class _LastUsage:
    """GetKeyLastUsage where the endpoint has it; switched off for the Region at its first refusal."""

    def __init__(self, client: Any | None) -> None:
        self.client = client
        self.unavailable: str | None = None if client is not None else "not in this SDK"

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
                    inv.tags.append((arn, str(t.get("TagKey")), _str(t.get("TagValue"))))
            except botocore_errors() as e:
                note(key_id, "ListResourceTags", e)
    for entry in _pages(kms, "list_aliases", "Aliases"):
        alias = alias_from_entry(entry, account, region)
        if alias is not None:
            inv.aliases.append(alias)
    if last_usage.unavailable and inv.keys:
        log.info("%s %s: GetKeyLastUsage unavailable (%s): last use left empty", account, region, last_usage.unavailable)
    return inv


def _organization_accounts(session: Any) -> list[str]:
    client = session.client("organizations", config=client_config())
    accounts = []
    for page in client.get_paginator("list_accounts").paginate():
        for a in page.get("Accounts", []) or []:
            if a.get("Status", "ACTIVE") == "ACTIVE":
                accounts.append(str(a["Id"]))
    return sorted(accounts)


def take_inventory(
    store: Store,
    aws: AwsConfig,
    regions: Sequence[str] = (),
    accounts: Sequence[str] = (),
    org_role: str | None = None,
    now: datetime | None = None,
    progress: Callable[[str], None] | None = None,
) -> InventoryRun:
    """Take the inventory through the KMS API and store it (see the module docstring)."""
    check_scope(accounts, regions)
    if accounts and not org_role:
        raise UsageError("--accounts needs --org-role ROLE (the role keytrail assumes in each account)")
    if org_role is not None and not re.match(r"^[\w+=,.@/-]{1,512}$", org_role):
        raise UsageError(f"--org-role: {org_role!r} is not a role name")
    run = InventoryRun(now or utcnow(), "api")
    base = aws.session()
    try:
        identity = aws.client("sts").get_caller_identity()
    except UsageError:
        raise
    except botocore_errors() as e:
        raise translate(e, "sts:GetCallerIdentity") from e
    except Exception as e:
        raise translate(e, "sts:GetCallerIdentity") from e
    caller = str(identity["Account"])
    partition = str(identity.get("Arn", "arn:aws:")).split(":")[1] or "aws"
    targets: list[str] = [caller]
    if org_role:
        if accounts:
            targets = sorted(set(accounts))
        else:
            try:
                targets = _organization_accounts(base)
            except botocore_errors() as e:
                raise SourceError(f"organizations:ListAccounts: {describe_error(e)} (give --accounts instead)") from e
    for account in targets:
        session = base
        if account != caller and org_role:
            role_arn = f"arn:{partition}:iam::{account}:role/{org_role}"
            try:
                creds = aws.client("sts").assume_role(RoleArn=role_arn, RoleSessionName=SESSION_NAME)["Credentials"]
                session = session_from_credentials(creds, aws.region_name())
            except botocore_errors() as e:
                _fail(store, run, account, None, f"cannot assume {role_arn}: {describe_error(e)}")
                continue
        try:
            if any(r.lower() == "all" for r in regions):
                names = enabled_regions(session, aws.region_name())
            elif regions:
                names = list(regions)
            else:
                default = aws.region_name()
                if not default:
                    raise UsageError("no AWS Region: give --region, --regions R1,R2 or --regions all")
                names = [default]
        except SourceError as e:
            _fail(store, run, account, None, str(e))
            continue
        for region in names:
            if progress is not None:
                progress(f"{account} {region}")
            try:
                kms = session.client("kms", region_name=region, config=client_config())
                probe = None
                if "GetKeyLastUsage" in kms.meta.service_model.operation_names:
                    probe = session.client("kms", region_name=region, config=client_config(1, "standard"))
                inv = inventory_region(kms, account, region, probe)
            except botocore_errors() as e:
                _fail(store, run, account, region, describe_error(e))
                continue
            write_region(store, run, inv)
    _finish(store, run)
    return run


# ---- from AWS CLI output files -------------------------------------------------------------------


def _read_json(path: str) -> Any:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _inventory_root(directory: str) -> str:
    def has_accounts(d: str) -> bool:
        return any(ACCOUNT_ID.match(n) and os.path.isdir(os.path.join(d, n)) for n in os.listdir(d))

    if has_accounts(directory):
        return directory
    nested = os.path.join(directory, "inventory")
    if os.path.isdir(nested) and has_accounts(nested):
        return nested
    raise UsageError(f"{directory}: no ACCOUNT/REGION folders of AWS CLI output (list-aliases.json, describe-key/...)")


def _per_key_files(folder: str) -> Iterator[tuple[str, str]]:
    if not os.path.isdir(folder):
        return
    for name in sorted(os.listdir(folder)):
        m = _KEY_FILE.match(name)
        if m:
            yield m[1], os.path.join(folder, name)


def read_region_folder(folder: str, account: str, region: str) -> RegionInventory:
    """One ACCOUNT/REGION folder of AWS CLI output (unreadable files raise KeytrailError)."""
    inv = RegionInventory(account, region)

    def load(path: str) -> Any:
        try:
            return _read_json(path)
        except (OSError, ValueError) as e:
            raise SourceError(f"{path}: {e}") from e

    arns: dict[str, str] = {}
    for key_id, path in _per_key_files(os.path.join(folder, "describe-key")):
        meta = load(path)
        meta = meta.get("KeyMetadata") if isinstance(meta, dict) else None
        if not isinstance(meta, dict):
            raise SourceError(f"{path}: not `aws kms describe-key` output (no KeyMetadata)")
        key = key_from_metadata(meta, account, region)
        inv.keys.append(key)
        arns[key.key_id or key_id] = key.arn
    def arn_of(key_id: str) -> str:
        return arns.get(key_id) or f"arn:aws:kms:{region}:{account}:key/{key_id}"

    for key_id, path in _per_key_files(os.path.join(folder, "get-key-policy")):
        doc = load(path)
        if not isinstance(doc, dict) or not isinstance(doc.get("Policy"), str):
            raise SourceError(f"{path}: not `aws kms get-key-policy` output (no Policy)")
        inv.policies.append((arn_of(key_id), str(doc.get("PolicyName") or "default"), doc["Policy"]))
    for key_id, path in _per_key_files(os.path.join(folder, "list-grants")):
        doc = load(path)
        grants = doc.get("Grants") if isinstance(doc, dict) else None
        if not isinstance(grants, list):
            raise SourceError(f"{path}: not `aws kms list-grants` output (no Grants)")
        inv.grants += [grant_from_entry(g, arn_of(key_id)) for g in grants if isinstance(g, dict)]
    for key_id, path in _per_key_files(os.path.join(folder, "list-resource-tags")):
        doc = load(path)
        tags = doc.get("Tags") if isinstance(doc, dict) else None
        if not isinstance(tags, list):
            raise SourceError(f"{path}: not `aws kms list-resource-tags` output (no Tags)")
        inv.tags += [(arn_of(key_id), str(t.get("TagKey")), _str(t.get("TagValue"))) for t in tags if isinstance(t, dict)]
    aliases_path = os.path.join(folder, "list-aliases.json")
    if os.path.exists(aliases_path):
        doc = load(aliases_path)
        entries = doc.get("Aliases") if isinstance(doc, dict) else None
        if not isinstance(entries, list):
            raise SourceError(f"{aliases_path}: not `aws kms list-aliases` output (no Aliases)")
        for entry in entries:
            alias = alias_from_entry(entry, account, region) if isinstance(entry, dict) else None
            if alias is not None:
                inv.aliases.append(alias)
    return inv


def import_inventory(store: Store, directory: str, now: datetime | None = None) -> InventoryRun:
    """Import an inventory saved as AWS CLI output (see the module docstring) and store it."""
    if not os.path.isdir(directory):
        raise UsageError(f"--from {directory}: not a directory")
    root = _inventory_root(directory)
    run = InventoryRun(now or utcnow(), "files")
    for account in sorted(os.listdir(root)):
        adir = os.path.join(root, account)
        if not os.path.isdir(adir):
            continue
        if not ACCOUNT_ID.match(account):
            log.warning("--from: %s is not an account folder (12 digits): ignored", adir)
            continue
        for region in sorted(os.listdir(adir)):
            rdir = os.path.join(adir, region)
            if not os.path.isdir(rdir):
                continue
            if not REGION_NAME.match(region):
                log.warning("--from: %s is not a Region folder: ignored", rdir)
                continue
            try:
                inv = read_region_folder(rdir, account, region)
            except KeytrailError as e:
                _fail(store, run, account, region, str(e))
                continue
            write_region(store, run, inv)
    _finish(store, run)
    return run


# ---- the store -----------------------------------------------------------------------------------


def _epoch(t: datetime) -> int:
    return int(t.replace(tzinfo=UTC).timestamp())


def write_region(store: Store, run: InventoryRun, inv: RegionInventory) -> None:
    """Replace this account's and Region's inventory in one transaction."""
    con = store.con
    scope = [inv.account, inv.region]
    by_arn = "split_part(arn, ':', 5) = ? AND split_part(arn, ':', 4) = ?"
    with store.transaction():
        con.execute("DELETE FROM inventory_keys WHERE account = ? AND region = ?", scope)
        con.execute("DELETE FROM inventory_aliases WHERE account = ? AND region = ?", scope)
        for table in ("inventory_policies", "inventory_grants", "inventory_tags"):
            con.execute(f"DELETE FROM {table} WHERE {by_arn}", scope)  # noqa: S608  (fixed table names)
        con.execute(
            "DELETE FROM alias_history WHERE source = 'inventory' "
            "AND split_part(alias_arn, ':', 5) = ? AND split_part(alias_arn, ':', 4) = ?",
            scope,
        )
        if inv.keys:
            con.executemany(
                "INSERT INTO inventory_keys VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (k.arn, k.account, k.region, k.key_id, k.key_manager, k.key_state, k.enabled, k.description,
                     k.key_usage, k.key_spec, k.multi_region, k.creation_date, k.deletion_date, k.last_used,
                     run.taken_at, run.source)
                    for k in inv.keys
                ],
            )  # fmt: skip
        if inv.aliases:
            con.executemany(
                "INSERT INTO inventory_aliases VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(a.alias_arn, a.alias_name, a.account, a.region, a.target_key_arn, a.last_updated or a.created,
                  run.taken_at) for a in inv.aliases],
            )  # fmt: skip
            history = []
            for a in inv.aliases:
                since = a.last_updated or a.created
                if a.target_key_arn and since is not None:  # without a date it cannot be placed in time
                    history.append((a.alias_arn, _epoch(since), a.target_key_arn, None, "ListAliases", "inventory",
                                    None, None))  # fmt: skip
            if history:
                con.executemany("INSERT INTO alias_history VALUES (?, ?, ?, ?, ?, ?, ?, ?)", history)
        if inv.policies:
            con.executemany("INSERT INTO inventory_policies VALUES (?, ?, ?, ?)",
                            [(arn, name, doc, run.taken_at) for arn, name, doc in inv.policies])  # fmt: skip
        if inv.grants:
            con.executemany(
                "INSERT INTO inventory_grants VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(g.arn, g.grant_id, g.name, g.grantee_principal, g.retiring_principal, g.issuing_account,
                  list(g.operations), g.constraints, run.taken_at) for g in inv.grants],
            )  # fmt: skip
        if inv.tags:
            con.executemany("INSERT INTO inventory_tags VALUES (?, ?, ?)", inv.tags)
        notes = "; ".join(inv.notes[:MAX_NOTES]) + (f" (and {len(inv.notes) - MAX_NOTES} more)" if len(inv.notes) > MAX_NOTES else "")
        con.execute(
            "INSERT INTO inventory_runs VALUES (?, ?, ?, 'ok', ?)", [run.taken_at, inv.account, inv.region, notes or None]
        )
        con.execute("INSERT OR REPLACE INTO meta VALUES ('needs_resolve', '1')")
    run.regions.append(inv)


def _fail(store: Store, run: InventoryRun, account: str, region: str | None, message: str) -> None:
    run.failures.append((account, region, message))
    store.con.execute("INSERT INTO inventory_runs VALUES (?, ?, ?, 'error', ?)", [run.taken_at, account, region, message])


def _finish(store: Store, run: InventoryRun) -> None:
    """The resolver reads the inventory's aliases: rebuild key_use."""
    if run.regions:
        store.set_meta("needs_resolve", "1")
        store.resolve()


# ---- what the inventory shows ----------------------------------------------------------------------


def inventory_rows(store: Store, accounts: Iterable[str] = ()) -> list[dict[str, Any]]:
    """One row per key in the inventory: state, manager, aliases, description, tags, and its use in the store."""
    wanted = sorted(set(accounts))
    where = "WHERE k.account IN (SELECT unnest(?::VARCHAR[]))" if wanted else ""
    rows = store.query(
        f"""
        WITH aliases AS (
            SELECT target_key_arn AS arn, list(alias_name ORDER BY alias_name) AS names
            FROM inventory_aliases WHERE target_key_arn IS NOT NULL GROUP BY ALL
        ),
        tags AS (
            SELECT arn, list(tag_key || '=' || coalesce(tag_value, '') ORDER BY tag_key) AS tags
            FROM inventory_tags GROUP BY ALL
        ),
        used AS (
            SELECT key AS arn,
                   count(*) FILTER (WHERE category IN {CRYPTO_SQL}) AS crypto_calls,
                   max(event_time) FILTER (WHERE category IN {CRYPTO_SQL}) AS last_use
            FROM key_use GROUP BY ALL
        )
        SELECT k.arn, k.account, k.region, k.key_manager, k.key_state, aliases.names, k.description, tags.tags,
               coalesce(used.crypto_calls, 0), used.last_use, k.last_used, k.deletion_date, k.taken_at
        FROM inventory_keys k
        LEFT JOIN aliases USING (arn) LEFT JOIN tags USING (arn) LEFT JOIN used USING (arn)
        {where}
        ORDER BY k.account, k.region, k.arn
        """,  # noqa: S608  (the condition is fixed text; values are parameters)
        [wanted] if wanted else [],
    )
    out = []
    for r in rows:
        manager = (r[3] or "").lower()
        out.append(
            {
                "key": r[0],
                "account": r[1],
                "region": r[2],
                "manager": "aws" if manager == "aws" else ("customer" if manager == "customer" else "unknown"),
                "state": r[4],
                "aliases": list(r[5] or []),
                "description": r[6] or "",
                "tags": list(r[7] or []),
                "crypto_calls": int(r[8]),
                "last_use": _iso(r[9]),
                "kms_last_used": _iso(r[10]),
                "deletion_date": _iso(r[11]),
                "taken_at": _iso(r[12]),
            }
        )
    return out


def _iso(t: object) -> str | None:
    if isinstance(t, datetime):
        return t.strftime("%Y-%m-%dT%H:%M:%SZ")
    return None


__all__ = [
    "InventoryAlias",
    "InventoryGrant",
    "InventoryKey",
    "InventoryRun",
    "RegionInventory",
    "import_inventory",
    "inventory_region",
    "inventory_rows",
    "take_inventory",
]
