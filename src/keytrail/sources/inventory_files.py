"""The KMS inventory from files saved as AWS CLI output, one folder per account and Region:
``ACCOUNT/REGION/list-aliases.json``, ``describe-key/KEYID.json``, ``get-key-policy/KEYID.json``
(and ``list-grants/KEYID.json``, ``list-resource-tags/KEYID.json`` when present), as
``aws kms ... --output json`` prints them -- for auditors who receive files rather than access.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterator
from typing import Any

from keytrail.errors import INVENTORY_DIR, KeytrailError, SourceError, UsageError, said
from keytrail.i18n import N_, _
from keytrail.sources.aws import ACCOUNT_ID, REGION_NAME
from keytrail.sources.inventory import (
    InventoryFailure,
    RegionInventory,
    Taken,
    alias_from_entry,
    grant_from_entry,
    key_from_metadata,
    str_or_none,
)

log = logging.getLogger(__name__)

_KEY_FILE = re.compile(r"^([A-Za-z0-9-]{1,128})\.json$")


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
    raise UsageError(_("{path}: no {folders} folders of AWS CLI output ({files})").format(
        path=directory, folders="ACCOUNT/REGION", files="list-aliases.json, describe-key/..."))


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
            raise SourceError(_("{path}: not {command} output (no {field})").format(
                path=path, command="`aws kms describe-key`", field="KeyMetadata"))
        key = key_from_metadata(meta, account, region)
        inv.keys.append(key)
        arns[key.key_id or key_id] = key.arn
    def arn_of(key_id: str) -> str:
        return arns.get(key_id) or f"arn:aws:kms:{region}:{account}:key/{key_id}"

    for key_id, path in _per_key_files(os.path.join(folder, "get-key-policy")):
        doc = load(path)
        if not isinstance(doc, dict) or not isinstance(doc.get("Policy"), str):
            raise SourceError(_("{path}: not {command} output (no {field})").format(
                path=path, command="`aws kms get-key-policy`", field="Policy"))
        inv.policies.append((arn_of(key_id), str(doc.get("PolicyName") or "default"), doc["Policy"]))
    for key_id, path in _per_key_files(os.path.join(folder, "list-grants")):
        doc = load(path)
        grants = doc.get("Grants") if isinstance(doc, dict) else None
        if not isinstance(grants, list):
            raise SourceError(_("{path}: not {command} output (no {field})").format(
                path=path, command="`aws kms list-grants`", field="Grants"))
        inv.grants += [grant_from_entry(g, arn_of(key_id)) for g in grants if isinstance(g, dict)]
    for key_id, path in _per_key_files(os.path.join(folder, "list-resource-tags")):
        doc = load(path)
        tags = doc.get("Tags") if isinstance(doc, dict) else None
        if not isinstance(tags, list):
            raise SourceError(_("{path}: not {command} output (no {field})").format(
                path=path, command="`aws kms list-resource-tags`", field="Tags"))
        inv.tags += [(arn_of(key_id), str(t.get("TagKey")), str_or_none(t.get("TagValue"))) for t in tags if isinstance(t, dict)]
    aliases_path = os.path.join(folder, "list-aliases.json")
    if os.path.exists(aliases_path):
        doc = load(aliases_path)
        entries = doc.get("Aliases") if isinstance(doc, dict) else None
        if not isinstance(entries, list):
            raise SourceError(_("{path}: not {command} output (no {field})").format(
                path=aliases_path, command="`aws kms list-aliases`", field="Aliases"))
        for entry in entries:
            alias = alias_from_entry(entry, account, region) if isinstance(entry, dict) else None
            if alias is not None:
                inv.aliases.append(alias)
    return inv


def regions_from_files(directory: str) -> Iterator[Taken]:
    """Every ACCOUNT/REGION folder of an inventory saved as AWS CLI output (see the module docstring)."""
    if not os.path.isdir(directory):
        raise UsageError(*said(_("{option} {path}: not a directory"), option=INVENTORY_DIR, path=directory))
    root = _inventory_root(directory)
    for account in sorted(os.listdir(root)):
        adir = os.path.join(root, account)
        if not os.path.isdir(adir):
            continue
        if not ACCOUNT_ID.match(account):
            log.warning(N_("%s: %s is not an account folder (12 digits): ignored"), INVENTORY_DIR, adir)
            continue
        for region in sorted(os.listdir(adir)):
            rdir = os.path.join(adir, region)
            if not os.path.isdir(rdir):
                continue
            if not REGION_NAME.match(region):
                log.warning(N_("%s: %s is not a Region folder: ignored"), INVENTORY_DIR, rdir)
                continue
            try:
                yield read_region_folder(rdir, account, region)
            except KeytrailError as e:
                yield InventoryFailure(account, region, e)
