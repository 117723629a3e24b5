"""Keys as users name them, checked against what the store knows: a name that means no key is an
error naming the nearest names (never an empty answer), a name that means several keys says so,
and a key with no calls in the window is a stated answer (when it was last used).

The store knows a key from its calls (``key_use``), the alias history (the trail's CreateAlias /
UpdateAlias / DeleteAlias and the inventory's aliases) and the inventory's keys.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from keytrail.analysis.filters import Filters, has_table, match_keys
from keytrail.errors import (
    ACCOUNT,
    KEY_OPTION,
    KEY_REGION,
    KEYS_REPORT,
    AmbiguousKey,
    KeyNotFound,
    Line,
    Part,
    Term,
    said,
)
from keytrail.i18n import N_, _, local_iso, ngettext
from keytrail.normalize.operations import CRYPTO_SQL
from keytrail.normalize.rules import alias_arn_parts, is_key_arn, key_arn_parts
from keytrail.store import Store


@dataclass(frozen=True)
class KnownNames:
    """Every key ARN and alias ARN the store knows."""

    keys: frozenset[str]
    alias_arns: frozenset[str]

    @property
    def aliases(self) -> frozenset[str]:
        """Alias names (``alias/app-data``)."""
        return frozenset(p[3] for a in self.alias_arns if (p := alias_arn_parts(a)) is not None)

    @property
    def key_ids(self) -> frozenset[str]:
        return frozenset(p[3] for k in self.keys if (p := key_arn_parts(k)) is not None)


def known_names(store: Store) -> KnownNames:
    """The key and alias ARNs of the store's calls, alias history and inventory."""
    keys = "SELECT DISTINCT key FROM key_use UNION SELECT DISTINCT target_key FROM alias_history"
    aliases = ("SELECT DISTINCT alias_arn FROM alias_history "
               "UNION SELECT DISTINCT key_ref FROM key_use WHERE key_ref LIKE 'arn:%:alias/%'")
    if has_table(store, "inventory_keys"):
        keys += " UNION SELECT DISTINCT arn FROM inventory_keys"
    if has_table(store, "inventory_aliases"):
        aliases += " UNION SELECT DISTINCT alias_arn FROM inventory_aliases"
    return KnownNames(
        frozenset(k for (k,) in store.query(keys) if isinstance(k, str) and is_key_arn(k)),
        frozenset(a for (a,) in store.query(aliases) if isinstance(a, str) and alias_arn_parts(a) is not None),
    )


def _tail(name: str) -> str:
    """What tells names of one form apart: an ARN's resource, an alias's or key's name, case aside."""
    tail = name.rsplit(":", 1)[-1] if name.startswith("arn:") else name
    return tail.lower().removeprefix("alias/").removeprefix("key/")


def nearest(name: str, known: KnownNames, n: int = 3) -> list[str]:
    """The names the store knows that are nearest to ``name``, in its form (alias name, alias ARN,
    key ARN, key id; a bare name may be an alias's without ``alias/``), compared by what tells them
    apart (a key's id, an alias's name), case aside."""
    name = name.strip()
    if alias_arn_parts(name) is not None:
        pool = set(known.alias_arns)
    elif name.lower().startswith("alias/"):
        pool = set(known.aliases)
    elif name.startswith("arn:"):
        pool = set(known.keys) | set(known.alias_arns)
    else:
        pool = set(known.key_ids) | set(known.aliases)
    by_tail: dict[str, list[str]] = {}
    for p in sorted(pool):
        by_tail.setdefault(_tail(p), []).append(p)
    close = difflib.get_close_matches(_tail(name), list(by_tail), n=n, cutoff=0.6)
    return [p for c in close for p in by_tail[c]][:n]


def _known_key(store: Store, arn: str) -> bool:
    if store.query("SELECT 1 FROM key_use WHERE key = ? LIMIT 1", [arn]):
        return True
    if store.query("SELECT 1 FROM alias_history WHERE target_key = ? LIMIT 1", [arn]):
        return True
    return has_table(store, "inventory_keys") and bool(store.query("SELECT 1 FROM inventory_keys WHERE arn = ?", [arn]))


def _in_scope(key: str, account: str | None, region: str | None) -> bool:
    parts = key.split(":")
    return len(parts) >= 6 and (not account or parts[4] == account) and (not region or parts[3] == region)


def _scope_words(account: str | None, region: str | None) -> list[Part]:
    words: list[Part] = []
    if account:
        words += said(_("{option} {account}"), option=ACCOUNT, account=account)
    if region:
        words += [" " if words else "", *said(_("{option} {region}"), option=KEY_REGION, region=region)]
    return words


def keys_named(store: Store, name: str, account: str | None = None, region: str | None = None) -> list[str]:
    """The key ARNs ``name`` (key id, key ARN, alias name or alias ARN) means in the store, in
    ``account`` and ``region`` when given; ``KeyNotFound`` when it means none (with the nearest
    names the store knows, or the keys it does mean elsewhere)."""
    name = name.strip()
    everywhere = match_keys(store, name)
    if is_key_arn(name) and not _known_key(store, name):
        everywhere = []
    if not everywhere:
        known = known_names(store)
        near = nearest(name, known)
        if near:
            hint: tuple[Part, ...] = (_("; did you mean {names}?").format(names=_(" or ").join(near)),)
        elif known.keys:
            hint = said(_("; {report} lists the {n} key(s) it knows"), report=KEYS_REPORT, n=len(known.keys))
        else:
            hint = (_("; it holds no key at all"),)
        raise KeyNotFound(name, _("{name}: no key of that name in the store").format(name=name), *hint,
                          suggestions=near)
    found = [k for k in everywhere if _in_scope(k, account, region)]
    if not found:
        raise KeyNotFound(
            name, *said(_("{name} means {n} key(s), none in {scope}:"), name=name, n=len(everywhere),
                        scope=_scope_words(account, region)),
            details=[(k,) for k in everywhere],
        )
    return found


def one_key(store: Store, name: str, account: str | None = None, region: str | None = None,
            option: Term = KEY_OPTION) -> str:
    """The one key ``name`` means; ``AmbiguousKey`` listing how to name each (``option`` and its
    ARN) when it means several."""
    keys = keys_named(store, name, account, region)
    if len(keys) == 1:
        return keys[0]
    details: list[Line] = [said(_("{option} {key}  ({n} call(s))"), option=option, key=k, n=calls)
                           for k, calls in _calls_per_key(store, keys)]
    raise AmbiguousKey(name, keys, _("{name} means {n} keys ({meaning}); name one:").format(
        name=name, n=len(keys), meaning=meaning(keys)), details=details)


def _calls_per_key(store: Store, keys: Sequence[str]) -> list[tuple[str, int]]:
    rows = dict(store.query("SELECT key, count(*) FROM key_use WHERE key IN (SELECT unnest(?::VARCHAR[])) GROUP BY key",
                            [list(keys)]))
    return [(k, int(rows.get(k, 0))) for k in keys]


def meaning(keys: Sequence[str]) -> str:
    """How several keys of one name differ: "2 accounts, 2 Regions", or "an alias retargeted"."""
    parts = [p for k in keys if (p := key_arn_parts(k)) is not None]
    accounts = len({p[2] for p in parts})
    regions = len({p[1] for p in parts})
    words = [ngettext("{n} account", "{n} accounts", accounts).format(n=accounts),
             ngettext("{n} Region", "{n} Regions", regions).format(n=regions)]
    if len(keys) > len({(p[1], p[2]) for p in parts}):
        words.append(_("retargeted over time"))
    return _(", ").join(words)


_HELD = {
    # what --account / --key-region are checked against: the keys' accounts and Regions (the one
    # asked for first, all of them only to say which there are)
    "account": ("SELECT 1 FROM key_use WHERE key_account = ? LIMIT 1", "SELECT DISTINCT key_account FROM key_use",
                "SELECT DISTINCT account FROM inventory_keys"),
    "Region": ("SELECT 1 FROM key_use WHERE key_region = ? LIMIT 1", "SELECT DISTINCT key_region FROM key_use",
               "SELECT DISTINCT region FROM inventory_keys"),
}


def check_scope(store: Store, account: str | None, region: str | None) -> None:
    """``KeyNotFound`` when the store holds no key of ``account`` (or in ``region``): a typo is not
    an empty answer."""
    for value, term, what, word in ((account, ACCOUNT, "account", N_("account")),
                                    (region, KEY_REGION, "Region", N_("Region"))):
        if not value:
            continue
        one, calls, inventory = _HELD[what]
        if store.query(one, [value]):
            continue
        held = {v for (v,) in store.query(calls) if v}
        if has_table(store, "inventory_keys"):
            held |= {v for (v,) in store.query(inventory) if v}
        if value not in held:
            listed = ", ".join(sorted(held)[:10]) + (" ..." if len(held) > 10 else "")
            raise KeyNotFound(value, *said(
                _("{option} {value}: the store holds no key of this {what} (it holds keys of {listed})") if held
                else _("{option} {value}: the store holds no key of this {what} (it holds no key at all)"),
                option=term, value=value, what=_(word), listed=listed))


def _window_words(since: datetime | None, until: datetime | None) -> str:
    if since and until:
        return _("between {since} and {until}").format(since=local_iso(since), until=local_iso(until))
    if since:
        return _("since {time}").format(time=local_iso(since))
    if until:
        return _("before {time}").format(time=local_iso(until))
    return _("in the store")


def no_calls(store: Store, name: str, keys: Sequence[str], filters: Filters) -> str:
    """The answer for keys with no call in the window (by the principal asked about): the window,
    and when the keys were last used (in the store, and by GetKeyLastUsage in the inventory)."""
    who = f"{name} ({keys[0]})" if len(keys) == 1 and keys[0] != name else name if len(keys) == 1 else (
        _("{name} ({n} keys)").format(name=name, n=len(keys)))
    window = _window_words(filters.since, filters.until)
    if filters.principal:
        text = _("{who}: no calls by {principal} {window}").format(who=who, principal=filters.principal, window=window)
    else:
        text = _("{who}: no calls {window}").format(who=who, window=window)
    ((last_use, last_call),) = store.query(
        f"""SELECT max(event_time) FILTER (WHERE category IN {CRYPTO_SQL}), max(event_time)
            FROM key_use WHERE key IN (SELECT unnest(?::VARCHAR[]))""",  # noqa: S608 - constants only
        [list(keys)],
    )
    if last_use is not None:
        text += _("; last use {time}").format(time=local_iso(last_use))
    elif last_call is not None:
        text += _("; no cryptographic use in the store, last call {time}").format(time=local_iso(last_call))
    else:
        text += _("; the store holds no call of it")
    if has_table(store, "inventory_keys"):
        ((kms_last,),) = store.query("SELECT max(last_used) FROM inventory_keys WHERE arn IN (SELECT unnest(?::VARCHAR[]))",
                                     [list(keys)])
        if kms_last is not None:
            text += _(" (GetKeyLastUsage: {time})").format(time=local_iso(kms_last))
    return text
