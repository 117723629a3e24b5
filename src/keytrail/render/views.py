"""The reports on a terminal: ``keys``, ``usage``, ``principals``, ``inventory`` and ``who-uses --by
person``, each a table that fits the screen (``keytrail.render.grid``) with short forms where the
context says the rest: keys by id beside their aliases, principals without their key's account,
times without the year the title states, and the account and Region in the title when every row
shares them (else a heading above each account and Region's rows)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

from keytrail.render import short
from keytrail.render import words as W
from keytrail.render.flow import flow, whole, words
from keytrail.render.grid import Cell, Col, Screen, grid
from keytrail.render.safe import terminal
from keytrail.render.style import BAD, STRONG, WARN
from keytrail.render.width import ATOM, LIST, NUM, TEXT

Row = Mapping[str, Any]


def _title(title: str, accounts: Collection[str | None], regions: Collection[str | None],
           clock: short.Clock | None) -> list[str]:
    """``title``, and below it the account and Region every row shares and the times' zone and year."""
    account = terminal(next(iter(accounts)) or "") if len(accounts) == 1 else None
    region = terminal(next(iter(regions)) or "") if len(regions) == 1 else None
    scope = []
    if account and region:
        scope.append(W.SCOPE.format(account=account, region=region))
    elif account:
        scope.append(W.SCOPE_ACCOUNT.format(account=account))
    elif region:
        scope.append(W.SCOPE_REGION.format(region=region))
    if clock is not None and clock.shown:
        scope.append(W.TIMES.format(zone=clock.zone, year=W.YEAR.format(year=clock.year) if clock.year else ""))
    return [title, W.SCOPE_SEP.join(scope)] if scope else [title]


def _text(title: list[str], lines: list[str], screen: Screen, empty: bool = False) -> str:
    head = flow([words(title[0], STRONG)], screen.width, screen.color)
    for line in title[1:]:
        head += flow([words(line)], screen.width, screen.color)
    body = [W.NO_ROWS] if empty else lines
    return "\n".join([*head, "", *body]) + "\n"


def _manager(manager: object) -> str:
    """A key's manager in a cell: ``customer``, ``aws``, ``unknown`` (in the current language)."""
    return str(W.MANAGER_CELL.get(str(manager), terminal(str(manager))))


def _state(state: str | None) -> Cell:
    if not state:
        return Cell("")
    role = BAD if "Deletion" in state else WARN if state != "Enabled" else None
    return Cell(terminal(state), role=role)


def _groups(rows: Sequence[Row], where: Callable[[Row], tuple[str | None, str | None]], cells: int) -> dict[int, list[str]]:
    """Headings above the rows of each (account, Region) -- when there is more than one."""
    places = [where(r) for r in rows]
    if len(set(places)) < 2:
        return {}
    out: dict[int, list[str]] = {}
    for n, place in enumerate(places):
        if n == 0 or place != places[n - 1]:
            account, region = place
            out[n] = flow([words(terminal(W.PLACE.format(account=account or "?", region=region or "?")))], cells)
    return out


def _key_place(row: Row) -> tuple[str | None, str | None]:
    name = short.key(row["key"])
    return row.get("account") or name.account, row.get("region") or name.region


def keys_text(rows: Sequence[Row], screen: Screen, title: str | None = None) -> str:
    """``keytrail keys``: one row per key."""
    rows = sorted(rows, key=lambda r: (*(v or "" for v in _key_place(r)), r["key"]))
    places = [_key_place(r) for r in rows]
    clock = short.clock(v for r in rows for v in (r["first_use"], r["last_use"]))
    states = any(r.get("state") for r in rows)
    cols = [Col(W.H["key"]), Col(W.H["aliases"], LIST), Col(W.H["manager"], ATOM, keep=4)]
    cols += [Col(W.H["state"], ATOM)] if states else []
    cols += [Col(W.H["crypto_calls"], NUM), Col(W.H["principals"], NUM), Col(W.H["admin"], NUM, keep=3),
             Col(W.H["denied"], NUM, keep=1), Col(W.H["first_use"], ATOM, keep=5), Col(W.H["last_use"], ATOM, keep=2)]
    table = []
    compacts = short.key_compacts(short.key(r["key"]).id for r in rows)
    for r in rows:
        name = short.key(r["key"])
        cells = [Cell(terminal(name.id), terminal(compacts[name.id])), Cell(terminal(", ".join(r["aliases"] or []))),
                 Cell(_manager(r["manager"]))]
        cells += [_state(r.get("state"))] if states else []
        cells += [Cell(W.number(r["crypto_calls"])), Cell(W.number(r["principals"])), Cell(W.number(r["admin"])),
                  Cell(W.number(r["denied"]), role=BAD if r["denied"] else None),
                  Cell(clock.cell(r["first_use"])), Cell(clock.cell(r["last_use"]))]
        table.append(cells)
    heading = _title(terminal(title or W.KEYS_TITLE), {p[0] for p in places}, {p[1] for p in places}, clock)
    return _text(heading, grid(cols, table, screen, _groups(rows, _key_place, screen.width)), screen, not rows)


def usage_text(rows: Sequence[Row], aliases: Mapping[str, Sequence[str]], screen: Screen) -> str:
    """``keytrail usage``: one row per (key, principal), under a heading per key (its id and aliases,
    and its account and Region when the keys' differ)."""
    rows = sorted(rows, key=lambda r: (*(v or "" for v in _key_place(r)), r["key"], _own_first(r)))
    places = {_key_place(r) for r in rows}
    clock = short.clock(v for r in rows for v in (r["first_seen"], r["last_seen"]))
    cols = [Col(W.H["principal"])] + [Col(W.H[c], NUM) for c in W.COUNTS]
    cols += [Col(W.H["first_seen"], ATOM, keep=2), Col(W.H["last_seen"], ATOM, keep=1)]
    table, headings = [], {}
    for n, r in enumerate(rows):
        name = short.key(r["key"])
        if n == 0 or rows[n - 1]["key"] != r["key"]:
            headings[n] = _key_heading(name, aliases.get(r["key"], ()), len(places) > 1, screen)
        who = short.principal(r["principal"], name.account)
        cells = [Cell(terminal(who.text), terminal(who.compact) if who.compact else None)]
        cells += [Cell(W.number(r[c]), role=BAD if c == "denied" and r[c] else None) for c in W.COUNTS]
        cells += [Cell(clock.cell(r["first_seen"])), Cell(clock.cell(r["last_seen"]))]
        table.append(cells)
    heading = _title(W.USAGE_TITLE, {p[0] for p in places}, {p[1] for p in places}, clock)
    return _text(heading, grid(cols, table, screen, headings), screen, not rows)


def _own_first(row: Row) -> tuple[bool, str]:
    """The key's own account's principals (and services) first, then the others by account."""
    who = short.principal(row["principal"], short.key(row["key"]).account)
    return who.text != who.text.partition(":")[2] and who.kind != short.SERVICE, who.text


def _key_heading(name: short.KeyName, aliases: Sequence[str], place: bool, screen: Screen) -> list[str]:
    parts = [whole(W.KEY_LINE.format(id=terminal(name.id)))]
    if aliases:
        parts.append(words(W.KEY_ALIASES.format(aliases=", ".join(terminal(a) for a in aliases))))
    if place:
        parts.append(words(W.KEY_PLACE.format(account=name.account or "?", region=name.region or "?")))
    return flow(parts, screen.width)


def principals_text(rows: Sequence[Row], screen: Screen) -> str:
    """``keytrail principals``: one row per principal across keys, its account a column when the
    principals' accounts differ."""
    whos = [short.principal(r["principal"]) for r in rows]
    accounts = {w.account for w in whos if w.account}
    clock = short.clock(v for r in rows for v in (r["first_seen"], r["last_seen"]))
    several = len(accounts) > 1
    cols = [Col(W.H["principal"])] + ([Col(W.H["account"], ATOM, keep=1)] if several else [])
    cols += [Col(W.H["type"], ATOM, keep=4, omit=True), Col(W.H["keys"], NUM)]
    cols += [Col(W.H[c], NUM) for c in W.COUNTS]
    cols += [Col(W.H["first_seen"], ATOM, keep=3), Col(W.H["last_seen"], ATOM, keep=2)]
    table = []
    for r, who in zip(rows, whos, strict=True):
        home = who.account if several else next(iter(accounts), None)
        own = short.principal(r["principal"], home)
        cells = [Cell(terminal(own.text), terminal(own.compact) if own.compact else None)]
        cells += [Cell(who.account or "")] if several else []
        cells += [Cell(W.KIND[who.kind]), Cell(W.number(r["keys"]))]
        cells += [Cell(W.number(r[c]), role=BAD if c == "denied" and r[c] else None) for c in W.COUNTS]
        cells += [Cell(clock.cell(r["first_seen"])), Cell(clock.cell(r["last_seen"]))]
        table.append(cells)
    heading = _title(W.PRINCIPALS_TITLE, () if several else accounts, (), clock)
    return _text(heading, grid(cols, table, screen), screen, not rows)


def inventory_text(rows: Sequence[Row], screen: Screen) -> str:
    """``keytrail inventory``: one row per key, keys pending deletion flagged."""
    rows = sorted(rows, key=lambda r: (r["account"] or "", r["region"] or "", r["key"]))
    clock = short.clock(r["last_use"] for r in rows)
    cols = [Col(W.H["key"]), Col(W.H["aliases"], LIST), Col(W.H["manager"], ATOM, keep=3), Col(W.H["state"], ATOM),
            Col(W.H["crypto_calls"], NUM), Col(W.H["last_use"], ATOM, keep=1), Col(W.H["description"], TEXT, keep=2),
            Col(W.H["tags"], LIST, keep=4)]
    table = []
    compacts = short.key_compacts(short.key(r["key"]).id for r in rows)
    for r in rows:
        name = short.key(r["key"])
        table.append([Cell(terminal(name.id), terminal(compacts[name.id])), Cell(terminal(", ".join(r["aliases"]))),
                      Cell(_manager(r["manager"])), _state(r["state"]), Cell(W.number(r["crypto_calls"])),
                      Cell(clock.cell(r["last_use"])), Cell(terminal(r["description"] or "")),
                      Cell(terminal(", ".join(r["tags"])))])
    heading = _title(W.INVENTORY_TITLE, {r["account"] for r in rows}, {r["region"] for r in rows}, clock)
    return _text(heading, grid(cols, table, screen, _groups(rows, _key_place, screen.width)), screen, not rows)


def person_text(spec: str, rows: Sequence[Row], screen: Screen) -> str:
    """``who-uses --by person``: per key, one row per person behind the calls."""
    keys = sorted({r["key"] for r in rows})
    if not keys:
        return terminal(W.NO_CALLS.format(key=spec)) + "\n"
    out: list[str] = []
    for key in keys:
        mine = [r for r in rows if r["key"] == key]
        name = short.key(key)
        clock = short.clock(v for r in mine for v in (r["first_seen"], r["last_seen"]))
        cols = [Col(W.H["person"]), Col(W.H["basis"], ATOM, keep=1), Col(W.H["principals"], LIST, keep=2)]
        cols += [Col(W.H[c], NUM) for c in W.COUNTS]
        cols += [Col(W.H["first_seen"], ATOM, keep=4), Col(W.H["last_seen"], ATOM, keep=3),
                 Col(W.H["chains"], LIST, keep=5), Col(W.H["sessions"], LIST, keep=6)]
        table = []
        for r in mine:
            principals = ", ".join(short.principal(p, name.account).text for p in r["principals"])
            person = short.principal(r["person"], name.account) if r["person"] else None
            cells = [Cell(terminal(person.text), terminal(person.compact) if person.compact else None) if person
                     else Cell(W.NOBODY), Cell(terminal(r["basis"])), Cell(terminal(principals))]
            cells += [Cell(W.number(r[c]), role=BAD if c == "denied" and r[c] else None) for c in W.COUNTS]
            cells += [Cell(clock.cell(r["first_seen"])), Cell(clock.cell(r["last_seen"])),
                      Cell(terminal(", ".join(r["chains"]))), Cell(terminal(", ".join(r["sessions"])))]
            table.append(cells)
        title = _title(W.PERSON_TITLE.format(key=terminal(name.id)), {name.account}, {name.region}, clock)
        out.append(_text(title, grid(cols, table, screen), screen))
    return "\n".join(out)

