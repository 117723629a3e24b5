"""``who-uses`` on a terminal: the answer in words first -- the key (alias, id, account, Region),
the window, how many principals, then one sentence per principal ("test-user (IAM user): encrypt 8
(uploads), decrypt 12 (downloads) — via S3 (AWS Internal), 3 objects in test-s3-kms-for-blog") -- and then the table;
sessions, resources, source IPs and user agents per principal as details when asked for."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from keytrail.analysis.principal_facts import ResourceGroup
from keytrail.render import short
from keytrail.render import words as W
from keytrail.render.flow import Part, fill, flow, join, whole, words
from keytrail.render.grid import Cell, Col, Screen, grid
from keytrail.render.safe import terminal
from keytrail.render.style import BAD, DIM, STRONG, WARN
from keytrail.render.width import ATOM, LIST, NUM

Pair = tuple[str, str]
DETAIL_NAMES = ("via", "sessions", "resources", "source_ips", "user_agents")
_TOP_GROUPS = 3


@dataclass(frozen=True)
class Facts:
    """What the answer says besides the rows: each key's row of the keys report (aliases, manager,
    state), the principals' resources grouped, their details (``None``: not asked for), and the
    window asked for (ISO-8601, ``None``: open)."""

    keys: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    groups: Mapping[Pair, Sequence[ResourceGroup]] = field(default_factory=dict)
    details: Mapping[Pair, Mapping[str, Sequence[str]]] | None = None
    since: str | None = None
    until: str | None = None


def total(row: Mapping[str, Any]) -> int:
    return sum(int(row[c]) for c in W.COUNTS)


def who_uses_text(spec: str, rows: Sequence[Mapping[str, Any]], facts: Facts, screen: Screen) -> str:
    """The answer for KEY ``spec``: one block per key it meant."""
    keys = sorted({r["key"] for r in rows})
    if not keys:
        return terminal(W.NO_CALLS.format(key=spec)) + "\n"
    lines = flow([whole(W.WHO_USES.format(key=terminal(spec)), STRONG)], screen.width, screen.color)
    if len(keys) > 1:
        lines += flow(fill(W.MEANT_KEYS, key=terminal(spec), keys=W.count(len(keys), "key")), screen.width, screen.color)
    for key in keys:
        lines.append("")
        lines += key_block(key, [r for r in rows if r["key"] == key], facts, screen)
    if facts.details is None:
        lines += ["", *flow([words(W.DETAILS_HINT, DIM)], screen.width, screen.color)]
    return "\n".join(lines) + "\n"


def key_block(key: str, rows: Sequence[Mapping[str, Any]], facts: Facts, screen: Screen) -> list[str]:
    """One key: what it is, the window, a sentence per principal, the table."""
    name = short.key(key)
    info = facts.keys.get(key, {})
    cells, color = screen.width, screen.color
    head = [whole(W.KEY_LINE.format(id=terminal(name.id)), STRONG)]
    aliases = [terminal(a) for a in info.get("aliases") or []]
    if aliases:
        head.append(words(W.KEY_ALIASES.format(aliases=", ".join(aliases))))
    lines = flow(head, cells, color)
    lines += flow(_key_facts(name, info), cells, color)
    lines += flow(_span(rows, facts), cells, color)
    lines.append("")
    ordered = sorted(rows, key=lambda r: (-total(r), short.principal(r["principal"], name.account).text))
    for row in ordered:
        lines += flow(sentence(row, name.account, facts.groups.get((key, row["principal"]), ())), cells, color)
    clock = short.clock(v for r in rows for v in (r["first_seen"], r["last_seen"]))
    year = W.YEAR.format(year=clock.year) if clock.year else ""
    lines += ["", *flow([words(W.TABLE_CAPTION.format(zone=clock.zone, year=year), DIM)], cells, color)]
    cols, table = principal_table(ordered, name.account, clock, facts.details)
    return lines + grid(cols, table, screen)


def _key_facts(name: short.KeyName, info: Mapping[str, Any]) -> list[Part]:
    manager = W.MANAGER.get(str(info.get("manager") or "unknown"), W.MANAGER["unknown"])
    parts = [words(W.KEY_FACTS.format(manager=manager, account=name.account or "?", region=name.region or "?"))]
    state = str(info.get("state") or "")
    if state and state != "Enabled":
        flag = W.STATE_FLAG.get(state, terminal(state))
        parts += [words(W.LIST_SEP), whole(flag, BAD if "Deletion" in state else WARN)]
    return parts


def _span(rows: Sequence[Mapping[str, Any]], facts: Facts) -> list[Part]:
    clock = short.Clock(None)
    n = whole(W.count(len(rows), "principal"))  # "4 principals" on one line
    calls = whole(W.count(sum(total(r) for r in rows), "call"))
    if facts.since or facts.until:
        since = clock.full(facts.since) if facts.since else W.OPEN_START
        until = clock.full(facts.until) if facts.until else W.OPEN_END
        zone = short.clock([facts.since, facts.until]).zone
        return fill(W.SPAN_WINDOW, since=since, until=until, zone=zone, principals=n, calls=calls)
    earliest = min((r["first_seen"] for r in rows if r["first_seen"]), default=None)
    latest = max((r["last_seen"] for r in rows if r["last_seen"]), default=None)
    first, last = clock.full(earliest), clock.full(latest)
    if first[:10] == last[:10]:
        last = last[11:]
    return fill(W.SPAN, first=first, last=last, zone=short.clock([earliest, latest]).zone, principals=n, calls=calls)


def sentence(row: Mapping[str, Any], home: str | None, groups: Sequence[ResourceGroup]) -> list[Part]:
    """"test-user (IAM user): encrypt 8 (uploads), decrypt 12 (downloads) — via S3 (AWS Internal), 3 objects
    in BUCKET": through S3 alone, encrypt and decrypt say what S3 did."""
    who = short.principal(row["principal"], home)
    through = _through(row.get("via") or [], row["principal"], groups)
    said = W.COUNT_VIA if len(through) == 1 else {}
    service = next(iter(through), "")

    def count(c: str) -> str:
        template = said.get((service, c))
        n = W.number(int(row[c]))
        return str(template.format(n=n) if template else W.COUNT.format(what=W.H[c], n=n))

    counts = join([[whole(count(c), BAD if c == "denied" else None)] for c in W.COUNTS if row[c]], W.LIST_SEP)
    name = whole(terminal(who.name), STRONG)
    kind = W.KIND[who.kind]
    if who.account and who.account != home:
        parts = fill(W.PRINCIPAL_LINE_ACCOUNT, name=name, kind=kind, account=who.account, counts=counts)
    else:
        parts = fill(W.PRINCIPAL_LINE, name=name, kind=kind, counts=counts)
    how = []
    services = _via(row.get("via") or [], row["principal"], groups)
    if services:
        how.append(fill(W.VIA, services=services))
    touched = [_group(g) for g in groups[:_TOP_GROUPS]]
    if len(groups) > _TOP_GROUPS:
        touched.append([words(W.MORE.format(n=len(groups) - _TOP_GROUPS))])
    if touched:
        how.append(join(touched, W.LIST_SEP))
    if how:
        parts += [words(W.DASH), *join(how, W.THEN)]
    return parts


def _through(via: Sequence[str], principal: str, groups: Sequence[ResourceGroup]) -> set[str]:
    """The services (``s3``) the calls came through, as ``_via`` names them."""
    services = {W.RESOURCE[g.kind][0] for g in groups if g.kind in W.RESOURCE}
    own = services.pop() if len(services) == 1 else ""
    out = set()
    for v in via:
        if v == principal:
            continue
        prefix, dot, rest = v.partition(".")
        if v in W.HIDDEN_VIA:
            out.add(own or v)
        else:
            out.add(prefix if dot and rest == "amazonaws.com" else v)
    return out


def _service_of_host(host: str) -> str:
    prefix, dot, rest = host.partition(".")
    return W.SERVICE.get(prefix, host) if dot and rest == "amazonaws.com" else host


def _via(via: Sequence[str], principal: str, groups: Sequence[ResourceGroup]) -> list[Part]:
    """The services that called on the principal's behalf, by name; an unnamed one ("AWS
    Internal") named after the service of its resources when they have only one."""
    services = {W.RESOURCE[g.kind][0] for g in groups if g.kind in W.RESOURCE}
    own = W.SERVICE.get(services.pop(), "") if len(services) == 1 else ""
    named: dict[str, str] = {}  # a service's name -> how it is shown
    for v in via:
        if v == principal:
            continue
        if v in W.HIDDEN_VIA and own:
            named.setdefault(own, W.ON_BEHALF.format(service=own, via=terminal(v)))
        else:
            name = _service_of_host(terminal(v))
            named.setdefault(name, name)
    return join([[whole(text)] for text in named.values()], ", ")


def _group(g: ResourceGroup) -> list[Part]:
    """"3 objects in test-s3-kms-for-blog", "bucket backups", "2 secrets", "trail management"."""
    example = terminal(g.example)
    if g.kind == "s3-object" and g.container:
        return fill(W.OBJECTS_IN, objects=W.count(g.resources, "object"), bucket=whole(terminal(g.container)))
    kind = terminal(g.kind or "")
    _service, one, many = W.RESOURCE.get(g.kind or "", ("", kind, W.VALUES.format(kind=kind)))
    if g.resources > 1:
        return [words(W.COUNTED.format(n=W.number(g.resources), things=many))]
    return fill(W.ONE_RESOURCE, what=one, name=whole(_resource_name(example)))


_RESOURCE_TYPE = re.compile(r"(?:trail|function|secret|parameter|log-group|table|db|cluster|volume|workspace)[/:]")


def _resource_name(rid: str) -> str:
    """A resource by its name: the part of its ARN after the resource type (``trail/``)."""
    if not rid.startswith("arn:"):
        return rid
    if ":::" in rid:  # S3
        return rid.partition(":::")[2]
    resource = rid.split(":", 5)[5] if rid.count(":") >= 5 else rid
    m = _RESOURCE_TYPE.match(resource)
    return resource[m.end():] if m and m.end() < len(resource) else resource


def principal_table(rows: Sequence[Mapping[str, Any]], home: str | None, clock: short.Clock,
                    details: Mapping[Pair, Mapping[str, Sequence[str]]] | None = None) -> tuple[list[Col], list[list[Cell]]]:
    """Columns and cells of a key's principals, with their details as detail lines when given."""
    cols = [Col(W.H["principal"]), Col(W.H["type"], ATOM, keep=4, omit=True)]
    cols += [Col(W.H[c], NUM) for c in W.COUNTS]
    cols += [Col(W.H["first_seen"], ATOM, keep=2), Col(W.H["last_seen"], ATOM, keep=1)]
    if details is not None:
        cols += [Col(W.H[n], LIST, detail=True) for n in DETAIL_NAMES]
    table = []
    for r in rows:
        who = short.principal(r["principal"], home)
        cells = [Cell(terminal(who.text), terminal(who.compact) if who.compact else None), Cell(W.KIND[who.kind])]
        cells += [Cell(W.number(int(r[c])), role=BAD if c == "denied" and r[c] else None) for c in W.COUNTS]
        cells += [Cell(clock.cell(r["first_seen"])), Cell(clock.cell(r["last_seen"]))]
        if details is not None:
            d = details.get((r["key"], r["principal"]), {})
            cells += [Cell(", ".join(terminal(short.resource(v) if n == "resources" else v) for v in d.get(n, [])))
                      for n in DETAIL_NAMES]
        table.append(cells)
    return cols, table
