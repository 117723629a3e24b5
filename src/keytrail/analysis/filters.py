"""Filters shared by every report, and matching a key or a principal as the user names it."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from keytrail.errors import UsageError
from keytrail.i18n import _
from keytrail.normalize.rules import alias_arn_parts, is_key_arn
from keytrail.store import Store


@dataclass(frozen=True)
class Filters:
    """Which key-use rows a report covers. ``since`` inclusive, ``until`` exclusive (UTC)."""

    keys: tuple[str, ...] = ()
    principal: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    account: str | None = None
    region: str | None = None
    extra: tuple[tuple[str, tuple[object, ...]], ...] = field(default=())

    def where(self, store: Store, alias: str = "", window: bool = True) -> tuple[str, list[object]]:
        """A SQL condition over key_use and its bound parameters (log data never enters SQL text);
        without ``window``, over the key, principal, account and Region only (the columns of
        ``Store.use_sql``, which applies the window itself)."""
        p = f"{alias}." if alias else ""
        conds: list[str] = ["TRUE"]
        params: list[object] = []
        if self.keys:
            matched = sorted({k for spec in self.keys for k in match_keys(store, spec, self.account, self.region)})
            conds.append(f"{p}key IN (SELECT unnest(?::VARCHAR[]))")
            params.append(matched)
        if self.principal:
            who, who_params = principal_condition(self.principal, f"{p}principal")
            conds.append(who)
            params += who_params
        if self.since is not None and window:
            conds.append(f"{p}event_time >= ?")
            params.append(self.since)
        if self.until is not None and window:
            conds.append(f"{p}event_time < ?")
            params.append(self.until)
        if self.account:
            conds.append(f"{p}key_account = ?")
            params.append(self.account)
        if self.region:
            conds.append(f"{p}key_region = ?")
            params.append(self.region)
        for cond, values in self.extra:
            conds.append(cond)
            params.extend(values)
        return " AND ".join(conds), params


# A principal's short forms (see ``principal_forms``), as SQL over a column (``{c}``): code only.
_RESOURCE_SQL = "regexp_extract({c}, '(?s)^arn:[^:]*:[^:]*:[^:]*:[^:]*:(.+)$', 1)"
_NAME_SQL = "regexp_extract(" + _RESOURCE_SQL + ", '(?s)([^/]*)$', 1)"
_TYPE_NAME_SQL = (
    "CASE WHEN contains(" + _RESOURCE_SQL + ", '/') "
    "THEN split_part(" + _RESOURCE_SQL + ", '/', 1) || '/' || " + _NAME_SQL + " END"
)
_FORMS_SQL = ("{c}", _RESOURCE_SQL, _NAME_SQL, _TYPE_NAME_SQL)


def principal_forms(principal: str) -> tuple[str, ...]:
    """The names a principal answers to with ``--principal``: the canonical principal itself and,
    for an ARN (``arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE``), its resource
    (``role/service-role/AppRole``, ``user/test-user``, ``root``), its type and name
    (``role/AppRole``) and its name, the resource's last path component (``AppRole``)."""
    forms = [principal]
    parts = principal.split(":", 5)
    if len(parts) == 6 and parts[0] == "arn" and parts[5]:
        resource = parts[5]
        name = resource.rsplit("/", 1)[-1]
        forms += [resource, name]
        if "/" in resource:
            forms.append(f"{resource.split('/', 1)[0]}/{name}")
    return tuple(dict.fromkeys(f for f in forms if f))


def _glob_regex(pattern: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in pattern.split("*")), re.DOTALL)


def principal_matches(pattern: str, principal: str) -> bool:
    """Whether ``--principal PATTERN`` selects ``principal``: PATTERN equals the principal or one of
    its ``principal_forms`` -- or, when it holds ``*`` (any characters, ``/`` and ``:`` included),
    matches one of them whole. Case-sensitive; every other character, ``%``, ``_``, ``?`` and
    ``[`` included, stands for itself. Leading and trailing spaces of PATTERN are ignored."""
    pattern = pattern.strip()
    forms = principal_forms(principal)
    if "*" not in pattern:
        return pattern in forms
    regex = _glob_regex(pattern)
    return any(regex.fullmatch(f) for f in forms)


def _like_pattern(pattern: str) -> str:
    """A glob with ``*`` as a LIKE pattern (escape ``\\``): every other character literal."""
    escaped = pattern.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%")


def principal_condition(pattern: str, column: str = "principal") -> tuple[str, list[object]]:
    """``principal_matches`` as a SQL condition over ``column`` (a column name of keytrail's own)
    and its bound parameters: the pattern is only ever a parameter, never SQL text."""
    pattern = pattern.strip()
    if not pattern:
        raise UsageError(_("an empty principal"))
    forms = [f.format(c=column) for f in _FORMS_SQL]
    if "*" in pattern:
        like = _like_pattern(pattern)
        return "(" + " OR ".join(f"{f} LIKE ? ESCAPE '\\'" for f in forms) + ")", [like] * len(forms)
    # every form of a principal ends with its name, so the name is a cheap first test
    last = pattern.rsplit("/", 1)[-1]
    cond = f"(ends_with({column}, ?) AND (" + " OR ".join(f"{f} = ?" for f in forms) + "))"
    return cond, [last, *([pattern] * len(forms))]


def match_keys(store: Store, spec: str, account: str | None = None, region: str | None = None) -> list[str]:
    """Every key ARN that ``spec`` (key id, key ARN, alias name or alias ARN) meant.

    An alias or a bare id may mean several keys: the same name in several accounts and Regions,
    or an alias retargeted over time. Narrowed by ``account`` / ``region``.
    """
    spec = spec.strip()
    if not spec:
        raise UsageError(_("an empty key name"))
    if is_key_arn(spec):
        found = [spec]
    elif spec.startswith("alias/") or alias_arn_parts(spec) is not None:
        suffix = spec if spec.startswith("arn:") else f":{spec}"
        rows = store.query(
            "SELECT DISTINCT target_key FROM alias_history WHERE ends_with(alias_arn, ?) AND target_key IS NOT NULL "  # noqa: S608 - the store's own text
            # calls through the alias: resolved to their key, or (unresolved) kept under the alias ARN
            f"UNION SELECT DISTINCT key FROM {store.refs_sql()} WHERE ends_with(key_ref, ?)",
            [suffix, suffix],
        )
        found = [r[0] for r in rows]
    else:
        rows = store.query(f"SELECT DISTINCT key FROM {store.keys_sql()} WHERE ends_with(key, ?)", [f":key/{spec}"])  # noqa: S608
        found = [r[0] for r in rows]
        if has_table(store, "inventory_keys"):  # a key the inventory lists, called or not
            found += [r[0] for r in store.query("SELECT DISTINCT arn FROM inventory_keys WHERE key_id = ?", [spec])]
    out = []
    for key in found:
        parts = key.split(":")
        if len(parts) < 6:
            continue
        if account and parts[4] != account:
            continue
        if region and parts[3] != region:
            continue
        out.append(key)
    return sorted(set(out))


def has_table(store: Store, name: str) -> bool:
    return bool(store.query("SELECT 1 FROM information_schema.tables WHERE table_name = ?", [name]))


NO_FILTERS = Filters()
