"""Taking the KMS inventory into a store: the inventory source's accounts and Regions, each stored
as it is taken (``store.inventory_tables``), failures recorded and reported, then the resolver
run again (the inventory's aliases resolve alias references)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from keytrail.sources.aws import AwsConfig
from keytrail.sources.inventory import InventoryFailure, RegionInventory, Taken, regions_from_api
from keytrail.sources.inventory_files import regions_from_files
from keytrail.sources.retry import RETRIES
from keytrail.store import Store
from keytrail.store.inventory_tables import finish, write_failure, write_region
from keytrail.times import utcnow


@dataclass
class InventoryRun:
    """What an inventory took and what failed (by account and Region)."""

    taken_at: datetime
    source: str  # api | files
    regions: list[RegionInventory] = field(default_factory=list)
    failures: list[InventoryFailure] = field(default_factory=list)
    retries: int = 0  # requests to AWS made again after a fault (``sources.retry``)
    retry_notes: list[str] = field(default_factory=list)  # "what: why" of each (capped)

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


def take_inventory(
    store: Store,
    aws: AwsConfig,
    regions: Sequence[str] = (),
    accounts: Sequence[str] = (),
    org_role: str | None = None,
    now: datetime | None = None,
    progress: Callable[[str], None] | None = None,
) -> InventoryRun:
    """Take the inventory through the KMS API (``sources.inventory.regions_from_api``) and store it."""
    run = InventoryRun(now or utcnow(), "api")
    mark = RETRIES.mark()
    try:
        return _store(store, run, regions_from_api(aws, regions, accounts, org_role, progress))
    finally:
        run.retries, run.retry_notes = RETRIES.take(mark)


def import_inventory(store: Store, directory: str, now: datetime | None = None) -> InventoryRun:
    """Import an inventory saved as AWS CLI output (``sources.inventory.regions_from_files``) and store it."""
    run = InventoryRun(now or utcnow(), "files")
    return _store(store, run, regions_from_files(directory))


def _store(store: Store, run: InventoryRun, taken: Iterable[Taken]) -> InventoryRun:
    for item in taken:
        if isinstance(item, InventoryFailure):
            run.failures.append(item)
            write_failure(store, run.taken_at, item.account, item.region, str(item.message))
        else:
            write_region(store, item, run.taken_at, run.source)
            run.regions.append(item)
    if run.regions:
        finish(store)
    return run


__all__ = ["InventoryRun", "import_inventory", "take_inventory"]
