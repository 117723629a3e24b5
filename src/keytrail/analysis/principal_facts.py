"""What one key's principals did, beyond their counts: the resources they touched, grouped (objects
per bucket), and their sessions, resources, source IPs, services and user agents -- for the answer
``who-uses`` gives in words, and its details."""

from __future__ import annotations

from dataclasses import dataclass, replace

from keytrail.analysis.filters import NO_FILTERS, Filters
from keytrail.analysis.usage import DETAILS, Detail, top_details
from keytrail.store import Store

Pair = tuple[str, str]  # (key, principal)

# every detail who-uses lists, user agents too (the JSON contract keeps to DETAILS)
ALL_DETAILS = {**DETAILS, "user_agents": Detail(("user_agent",), "user_agent")}


@dataclass(frozen=True)
class ResourceGroup:
    """Resources of one kind a principal's calls named: S3 objects per bucket (``container``),
    every other kind together."""

    kind: str | None
    container: str | None
    resources: int  # distinct resources
    calls: int
    example: str  # the resource called most (ties: the first by name)


def _key_filters(key: str, filters: Filters) -> Filters:
    return replace(filters, keys=(key,))


def resource_groups(store: Store, key: str, filters: Filters = NO_FILTERS) -> dict[Pair, list[ResourceGroup]]:
    """Per (key, principal) of the keys ``key`` meant: its resources grouped, most called first."""
    where, params = _key_filters(key, filters).where(store)
    # the rollups count each resource over all time: they answer when no window narrows the calls
    rolled = None if filters.since is not None or filters.until is not None or filters.extra else store.details_sql()
    source, count = (store.window_sql(filters.since, filters.until), "count(*)") if rolled is None else (f"({rolled})", "sum(calls)")
    if rolled is not None:
        where = f"({where}) AND detail = '{','.join(DETAILS['resources'].columns)}'"  # the rollup's resources
    rows = store.query(
        f"""WITH per_resource AS (
                SELECT key, principal, resource_kind AS kind,
                       CASE WHEN resource_kind = 's3-object'
                            THEN split_part(split_part(resource_id, ':::', 2), '/', 1) END AS container,
                       resource_id, {count} AS n
                FROM {source} WHERE {where} AND resource_id IS NOT NULL GROUP BY ALL
            )
            SELECT key, principal, kind, container, count(*), sum(n), list(resource_id ORDER BY n DESC, resource_id)[1]
            FROM per_resource GROUP BY ALL
            ORDER BY key, principal, sum(n) DESC, kind NULLS LAST, container NULLS LAST""",  # noqa: S608 - fixed text, values bound
        params,
    )
    out: dict[Pair, list[ResourceGroup]] = {}
    for k, p, kind, container, resources, calls, example in rows:
        out.setdefault((k, p), []).append(ResourceGroup(kind, container, int(resources), int(calls), example))
    return out


def principal_details(store: Store, key: str, filters: Filters = NO_FILTERS, top: int = 5) -> dict[Pair, dict[str, list[str]]]:
    """Per (key, principal): the ``top`` most frequent services (via), sessions, resources, source
    IPs and user agents."""
    where, params = _key_filters(key, filters).where(store)
    return top_details(store, where, params, ALL_DETAILS, top)
