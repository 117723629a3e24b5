"""Usage per (key, principal), per key, per principal, and who uses one key."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from keytrail.analysis.filters import NO_FILTERS, Filters, match_keys
from keytrail.normalize.operations import CRYPTO_SQL
from keytrail.store import Store
from keytrail.store.tables import DETAIL_COLUMNS
from keytrail.times import maybe_iso as iso

_COUNTS = """
    CAST(coalesce(sum(calls) FILTER (WHERE category = 'encrypt'), 0) AS BIGINT) AS encrypt,
    CAST(coalesce(sum(calls) FILTER (WHERE category = 'decrypt'), 0) AS BIGINT) AS decrypt,
    CAST(coalesce(sum(calls) FILTER (WHERE category = 'sign'), 0) AS BIGINT) AS sign,
    CAST(coalesce(sum(calls) FILTER (WHERE category = 'admin'), 0) AS BIGINT) AS admin,
    CAST(coalesce(sum(calls) FILTER (WHERE category = 'denied'), 0) AS BIGINT) AS denied,
    min(first_seen) AS first_seen,
    max(last_seen) AS last_seen
"""
_ROWS_AS_CALLS = (
    "key, key_resolved, key_account, key_region, principal, principal_type, category, 1 AS calls, "
    "event_time AS first_seen, event_time AS last_seen"
)


def calls(store: Store, filters: Filters) -> tuple[str, list[object]]:
    """The calls ``filters`` select, as a relation of ``Store.use_sql``'s columns (``calls`` rows
    of key_use alike), and its parameters: from the store's rollups where they match its rows,
    else from key_use."""
    rolled = None if filters.extra else store.use_sql(filters.since, filters.until)
    if rolled is None:
        where, params = filters.where(store)
        return f"(SELECT {_ROWS_AS_CALLS} FROM key_use WHERE {where})", params  # noqa: S608 - keytrail's own text
    where, params = filters.where(store, window=False)
    return f"(SELECT * FROM ({rolled}) WHERE {where})", params  # noqa: S608 - keytrail's own text


# the type a principal is best known by: a resolved hidden caller keeps its full identity's type
_TYPE = "coalesce(min(principal_type) FILTER (WHERE principal_type <> 'AWSAccount'), min(principal_type))"


@dataclass(frozen=True)
class UsageRow:
    key: str
    principal: str
    principal_type: str
    encrypt: int
    decrypt: int
    sign: int
    admin: int
    denied: int
    first_seen: str | None
    last_seen: str | None
    key_resolved: bool = True
    via: list[str] = field(default_factory=list)
    sessions: list[str] = field(default_factory=list)
    resources: list[str] = field(default_factory=list)
    source_ips: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class KeyRow:
    key: str
    account: str
    region: str
    manager: str
    aliases: list[str]
    crypto_calls: int
    encrypt: int
    decrypt: int
    sign: int
    admin: int
    denied: int
    principals: int
    first_use: str | None
    last_use: str | None
    first_seen: str | None
    last_seen: str | None
    state: str | None = None  # from the inventory (Enabled, Disabled, PendingDeletion, ...)
    description: str | None = None
    tags: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class PrincipalRow:
    principal: str
    principal_type: str
    keys: int
    encrypt: int
    decrypt: int
    sign: int
    admin: int
    denied: int
    first_seen: str | None
    last_seen: str | None


def usage(
    store: Store, filters: Filters = NO_FILTERS, top_per_key: int | None = None, keys: Sequence[str] | None = None,
    limit: int | None = None,
) -> list[UsageRow]:
    """One row per (key, principal) in the window, every key, sorted by key and principal. With
    ``top_per_key``: only each key's principals with the most calls (sorted by key, then calls);
    with ``keys``: only those keys; with ``limit``: only the rows with the most calls (most first)."""
    source, params = calls(store, filters)
    where = "TRUE"
    if keys is not None:
        where, params = "key IN (SELECT unnest(?::VARCHAR[]))", [*params, list(keys)]
    top = ""
    order = "key, principal"
    if top_per_key is not None:
        top = f"QUALIFY row_number() OVER (PARTITION BY key ORDER BY sum(calls) DESC, principal) <= {int(top_per_key)}"
        order = "key, sum(calls) DESC, principal"
    if limit is not None:
        order = f"sum(calls) DESC, key, principal LIMIT {int(limit)}"
    rows = store.query(
        f"""SELECT key, principal, {_TYPE}, {_COUNTS}, bool_and(key_resolved)
            FROM {source} WHERE {where} GROUP BY key, principal {top} ORDER BY {order}""",  # noqa: S608
        params,
    )
    return [
        UsageRow(key, principal, ptype, enc, dec, sig, adm, den, iso(first), iso(last), bool(resolved))
        for key, principal, ptype, enc, dec, sig, adm, den, first, last, resolved in rows
    ]


def usage_counts(store: Store, filters: Filters = NO_FILTERS) -> dict[str, int]:
    """Per key, how many principals the window shows (the rows ``usage`` returns per key)."""
    source, params = calls(store, filters)
    rows = store.query(f"SELECT key, count(DISTINCT principal) FROM {source} GROUP BY key", params)  # noqa: S608
    return {k: int(n) for k, n in rows}


_TOP = 3


@dataclass(frozen=True)
class Detail:
    """A detail listed per (key, principal): the key_use columns it groups by and how it reads."""

    columns: tuple[str, ...]
    expr: str


DETAILS = {
    "via": Detail(("via",), "via"),
    "sessions": Detail(("session_name",), "session_name"),
    "resources": Detail(("resource_kind", "resource_id"), "coalesce(resource_kind || ':' || resource_id, resource_id)"),
    "source_ips": Detail(("source_ip",), "source_ip"),
}


def who_uses(store: Store, key: str, filters: Filters = NO_FILTERS, top_per_key: int | None = None) -> list[UsageRow]:
    """Principals of every key ``key`` meant (see ``match_keys``), with the top sessions,
    resources, source IPs and services (via) of each; with ``top_per_key``, only each key's
    principals with the most calls (most first)."""
    f = Filters(
        keys=(key,),
        principal=filters.principal,
        since=filters.since,
        until=filters.until,
        account=filters.account,
        region=filters.region,
    )
    base = usage(store, f, top_per_key=top_per_key)
    where, params = f.where(store)
    shown = None if top_per_key is None else sorted({r.principal for r in base})
    # the rollups count every detail over all time: they answer when no window narrows the calls
    rolled = None if f.since is not None or f.until is not None or f.extra else store.details_sql()
    if rolled is not None:
        details = top_details(store, where, params, DETAILS, _TOP, shown, source=f"({rolled})")
    else:
        details = top_details(store, where, params, DETAILS, _TOP, shown, relation=store.window_sql(f.since, f.until))
    out = []
    for r in base:
        d = details.get((r.key, r.principal), {})
        out.append(UsageRow(**{**r.__dict__, **{n: d.get(n, []) for n in DETAILS}}))
    return out


def top_details(
    store: Store, where: str, params: list[object], details: dict[str, Detail], top: int,
    principals: Sequence[str] | None = None, source: str | None = None, relation: str = "key_use",
) -> dict[tuple[str, str], dict[str, list[str]]]:
    """Per (key, principal), the ``top`` most frequent values of each detail (ties by value); with
    ``principals``, for those principals only (the rows a report shows). ``source``: the store's
    ``details_sql`` (rows with ``calls``) read instead of key_use, where it counts every detail;
    ``relation``: key_use, or a relation of its rows that ``where`` narrows further (``window_sql``).

    One pass over the matching rows: one aggregation with a grouping set per detail (formatted
    only per distinct value, not per row); an aggregation spills to disk when memory runs short."""
    if principals is not None:
        where, params = f"({where}) AND principal IN (SELECT unnest(?::VARCHAR[]))", [*params, list(principals)]
    if source is not None and not {c for d in details.values() for c in d.columns} <= set(DETAIL_COLUMNS):
        source = None  # a detail the rollups do not count
    columns = sorted({c for d in details.values() for c in d.columns})
    if source is None:
        sets = ", ".join(f"(key, principal, {', '.join(d.columns)})" for d in details.values())
        # which grouping set a row belongs to: the detail whose columns are all grouped
        which = " ".join(
            f"WHEN {' AND '.join(f'GROUPING({c}) = 0' for c in d.columns)} THEN '{name}'" for name, d in details.items()
        )
        counted = (f"SELECT key, principal, CASE {which} END AS name, {', '.join(columns)}, count(*) AS n "  # noqa: S608
                   f"FROM {relation} WHERE {where} GROUP BY GROUPING SETS ({sets})")
    else:
        # the rollups' rows are counted per detail already (``detail``: its columns)
        counted = " UNION ALL ".join(
            f"(SELECT key, principal, '{name}' AS name, "  # noqa: S608 - this module's constants
            f"{', '.join(c if c in d.columns else f'NULL AS {c}' for c in columns)}, sum(calls) AS n FROM {source} "
            f"WHERE ({where}) AND detail = '{','.join(d.columns)}' GROUP BY key, principal, {', '.join(d.columns)})"
            for name, d in details.items()
        )
        params = params * len(details)
    values = " ".join(f"WHEN '{name}' THEN {d.expr}" for name, d in details.items())
    rows = store.query(
        f"""WITH counted AS ({counted}), formatted AS (
                SELECT key, principal, name, CASE name {values} END AS v, n FROM counted
            )
            SELECT key, principal, name, list(v ORDER BY n DESC, v)[1:{int(top)}] FROM formatted
            WHERE v IS NOT NULL GROUP BY ALL""",  # noqa: S608 - names and expressions are this module's constants
        params,
    )
    out: dict[tuple[str, str], dict[str, list[str]]] = {}
    for k, p, name, values_ in rows:
        out.setdefault((k, p), {})[name] = list(values_)
    return out


def keys_report(store: Store, filters: Filters = NO_FILTERS) -> list[KeyRow]:
    """One row per key: manager, aliases, crypto calls, principals, first and last use.

    With an inventory, every inventoried key is listed -- those without a call in the window too
    (with zero calls) -- with its state, description and tags.
    """
    source, params = calls(store, filters)
    rows = store.query(
        f"""WITH current_alias AS (
                -- the last change of each alias, a deletion included (arg_max would skip its NULL target)
                SELECT alias_arn, target_key AS target FROM alias_history
                QUALIFY row_number() OVER (PARTITION BY alias_arn
                                           ORDER BY event_time DESC, file_id DESC NULLS LAST, rec_index DESC NULLS LAST) = 1
            ), aliases AS (
                SELECT target AS key, list(DISTINCT regexp_extract(alias_arn, ':(alias/.*)$', 1) ORDER BY regexp_extract(alias_arn, ':(alias/.*)$', 1)) AS names
                FROM current_alias WHERE target IS NOT NULL GROUP BY target
            ), used_aliases AS (
                SELECT key, list(DISTINCT regexp_extract(key_ref, ':(alias/.*)$', 1)) AS names FROM {store.refs_sql()}
                WHERE key_resolved GROUP BY key
            ), per_key AS (
                SELECT u.key, {_COUNTS},
                       CAST(coalesce(sum(calls) FILTER (WHERE category IN {CRYPTO_SQL}), 0) AS BIGINT) AS crypto,
                       count(DISTINCT principal) AS principals,
                       min(first_seen) FILTER (WHERE category IN {CRYPTO_SQL}) AS first_use,
                       max(last_seen) FILTER (WHERE category IN {CRYPTO_SQL}) AS last_use
                FROM {source} u GROUP BY u.key
            )
            SELECT k.key, split_part(k.key, ':', 5), split_part(k.key, ':', 4), a.names, ua.names, k.crypto, k.encrypt, k.decrypt, k.sign,
                   k.admin, k.denied, k.principals, k.first_use, k.last_use, k.first_seen, k.last_seen
            FROM per_key k LEFT JOIN aliases a ON a.key = k.key LEFT JOIN used_aliases ua ON ua.key = k.key
            ORDER BY k.key""",  # noqa: S608
        params,
    )
    managers = key_managers(store)
    inventory = _inventory_facts(store, filters)
    out = []
    for (key, account, region, current, used, crypto, enc, dec, sig, adm, den, principals,
         first_use, last_use, first_seen, last_seen) in rows:
        facts = inventory.get(key, {})
        names = sorted(set((current or []) + (used or []) + facts.get("aliases", [])))
        manager = managers.get(key) or ("aws" if any(n.startswith("alias/aws/") for n in names) else "unknown")
        out.append(
            KeyRow(key, account, region, manager, names, crypto, enc, dec, sig, adm, den, principals,
                   iso(first_use), iso(last_use), iso(first_seen), iso(last_seen),
                   facts.get("state"), facts.get("description"), facts.get("tags", []))
        )
    seen = {r.key for r in out}
    for arn, facts in sorted(inventory.items()):
        if arn in seen:
            continue
        names = facts.get("aliases", [])
        out.append(
            KeyRow(arn, facts["account"], facts["region"], managers.get(arn, "unknown"), names,
                   0, 0, 0, 0, 0, 0, 0, None, None, None, None,
                   facts.get("state"), facts.get("description"), facts.get("tags", []))
        )
    return sorted(out, key=lambda k: k.key)


def _inventory_facts(store: Store, filters: Filters) -> dict[str, dict[str, Any]]:
    """State, description, tags and aliases of the inventoried keys the filters cover."""
    if not _has_table(store, "inventory_keys"):
        return {}
    wanted: set[str] | None = None
    if filters.keys:
        wanted = {k for spec in filters.keys for k in match_keys(store, spec, filters.account, filters.region)}
    rows = store.query(
        """SELECT k.arn, k.account, k.region, k.key_state, k.description,
                  (SELECT list(tag_key || '=' || coalesce(tag_value, '') ORDER BY tag_key)
                   FROM inventory_tags t WHERE t.arn = k.arn),
                  (SELECT list(alias_name ORDER BY alias_name) FROM inventory_aliases a WHERE a.target_key_arn = k.arn)
           FROM inventory_keys k
           WHERE (? IS NULL OR k.account = ?) AND (? IS NULL OR k.region = ?)""",
        [filters.account, filters.account, filters.region, filters.region],
    )
    out: dict[str, dict[str, Any]] = {}
    for arn, account, region, state, description, tags, aliases in rows:
        if wanted is not None and arn not in wanted:
            continue
        out[arn] = {"account": account, "region": region, "state": state, "description": description or None,
                    "tags": list(tags or []), "aliases": list(aliases or [])}
    return out


def key_managers(store: Store) -> dict[str, str]:
    """"customer" / "aws" per key where the archive (or an inventory) says so."""
    out: dict[str, str] = {}
    rows = store.query(
        f"SELECT key FROM {store.created_sql()}"  # noqa: S608 - the store's own text
        " UNION SELECT DISTINCT target_key FROM alias_history WHERE target_key IS NOT NULL"
        " AND regexp_extract(alias_arn, ':(alias/.*)$', 1) NOT LIKE 'alias/aws/%'"
    )
    for (key,) in rows:
        out[key] = "customer"
    if _has_table(store, "inventory_keys"):
        for key, manager in store.query("SELECT arn, lower(key_manager) FROM inventory_keys"):
            if manager:
                out[key] = "aws" if manager == "aws" else "customer"
    return out


def _has_table(store: Store, name: str) -> bool:
    return bool(store.query("SELECT 1 FROM information_schema.tables WHERE table_name = ?", [name]))


def principals_report(store: Store, filters: Filters = NO_FILTERS, top: int | None = None) -> list[PrincipalRow]:
    """One row per principal across keys (sorted by principal); with ``top``, only the principals
    with the most calls (most first)."""
    source, params = calls(store, filters)
    order = "principal" if top is None else f"sum(calls) DESC, principal LIMIT {int(top)}"
    rows = store.query(
        f"""SELECT principal, {_TYPE}, count(DISTINCT key), {_COUNTS}
            FROM {source} GROUP BY principal ORDER BY {order}""",  # noqa: S608
        params,
    )
    return [
        PrincipalRow(principal, ptype, keys, enc, dec, sig, adm, den, iso(first), iso(last))
        for principal, ptype, keys, enc, dec, sig, adm, den, first, last in rows
    ]


def principals_count(store: Store, filters: Filters = NO_FILTERS) -> int:
    """How many principals the window shows (the rows ``principals_report`` returns)."""
    source, params = calls(store, filters)
    return int(store.query(f"SELECT count(DISTINCT principal) FROM {source}", params)[0][0])  # noqa: S608


def as_dicts(rows: list[Any]) -> list[dict[str, Any]]:
    return [dict(r.__dict__) for r in rows]
