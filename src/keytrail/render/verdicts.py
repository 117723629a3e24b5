"""``findings`` and ``check`` on a terminal: each finding by severity (high in red, medium in
yellow), its kind and what it says, wrapped at words; the recommendation and the evidence under
it. Violations of ``check`` as a table whose principals and keys are short forms."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from keytrail.render import short
from keytrail.render import words as W
from keytrail.render.flow import flow, words
from keytrail.render.grid import Cell, Col, Screen, grid
from keytrail.render.safe import terminal
from keytrail.render.style import BAD, DIM, STRONG, WARN
from keytrail.render.width import ATOM, IDENT, LIST, NUM, TEXT

Row = Mapping[str, Any]
SEVERITY_ROLE = {"high": BAD, "medium": WARN, "low": None, "info": DIM}


def _evidence(f: Row, clock: short.Clock) -> str:
    calls = [f"{terminal(e['event_id'] or '?')} {clock.cell(e['event_time'])}".strip() for e in f["evidence"]]
    more = f["evidence_count"] - len(calls)
    text = ", ".join(calls)
    return f"{text} {W.EVIDENCE_MORE.format(n=W.number(more))}" if more > 0 and calls else text


def findings_text(findings: Sequence[Row], screen: Screen, severities: Sequence[str]) -> str:
    """Findings as a table: severity, kind and the finding; recommendation and evidence below each."""
    counts = [f"{W.number(n)} {s}" for s in severities if (n := sum(1 for f in findings if f["severity"] == s))]
    title = W.FINDINGS_TITLE.format(counts=", ".join(counts)) if findings else W.NO_FINDINGS
    clock = short.clock(e["event_time"] for f in findings for e in f["evidence"])
    head = flow([words(title, STRONG)], screen.width, screen.color)
    if clock.year:
        head += flow([words(W.TIMES.format(zone=clock.zone, year=W.YEAR.format(year=clock.year)))], screen.width, screen.color)
    if not findings:
        return "\n".join(head) + "\n"
    cols = [Col(W.H["severity"], ATOM), Col(W.H["kind"], ATOM), Col(W.H["summary"], TEXT),
            Col(W.H["recommendation"], TEXT, detail=True), Col(W.H["evidence"], LIST, detail=True)]
    table = [[Cell(f["severity"], role=SEVERITY_ROLE.get(f["severity"])), Cell(terminal(f["kind"])),
              Cell(terminal(f["summary"])), Cell(terminal(f["recommendation"])), Cell(_evidence(f, clock))]
             for f in findings]
    return "\n".join([*head, "", *grid(cols, table, screen)]) + "\n"


def violations_text(rows: Sequence[Row], screen: Screen) -> str:
    """``check``: one row per violation -- rule, key, principal, operation, calls."""
    clock = short.clock(v for r in rows for v in (r["first_seen"], r["last_seen"]))
    cols = [Col(W.H["rule"], TEXT), Col(W.H["key"], IDENT), Col(W.H["principal"], IDENT),
            Col(W.H["operation"], ATOM), Col(W.H["event_names"], LIST, keep=2), Col(W.H["calls"], NUM),
            Col(W.H["first_seen"], ATOM, keep=4), Col(W.H["last_seen"], ATOM, keep=3),
            Col(W.H["evidence"], LIST, keep=5)]
    table = []
    compacts = short.key_compacts(short.key(r["key"]).id for r in rows)
    for r in rows:
        name = short.key(r["key"])
        who = short.principal(r["principal"], name.account)
        table.append([Cell(terminal(r["rule"])), Cell(terminal(name.id), terminal(compacts[name.id])),
                      Cell(terminal(who.text), terminal(who.compact) if who.compact else None),
                      Cell(terminal(r["operation"]), role=BAD), Cell(terminal(", ".join(r["event_names"]))),
                      Cell(W.number(r["calls"])), Cell(clock.cell(r["first_seen"])), Cell(clock.cell(r["last_seen"])),
                      Cell(terminal(", ".join(r["evidence"])))])
    head = flow([words(W.VIOLATIONS_TITLE, STRONG)], screen.width, screen.color)
    if rows:
        head += flow([words(W.TIMES.format(zone=clock.zone, year=W.YEAR.format(year=clock.year) if clock.year else ""))],
                     screen.width, screen.color)
    body = grid(cols, table, screen) if rows else [W.NO_ROWS]
    return "\n".join([*head, "", *body]) + "\n"


LEVEL_ROLE = {"FAILED": BAD, "UNREADABLE": BAD, "WARNING": WARN}


def verification_text(rows: Sequence[Row], screen: Screen) -> str:
    """``verify``'s problems: the file (broken only after ``/``; a long one on a line of its own),
    its status, what is wrong."""
    cols = [Col(W.H["file"], IDENT), Col(W.H["status"], ATOM), Col(W.H["problem"], TEXT)]
    table = [[Cell(terminal(r["file"])), Cell(terminal(r["level"]), role=LEVEL_ROLE.get(r.get("level_key", r["level"]))),
              Cell(terminal(r["message"]))] for r in rows]
    return "\n".join(grid(cols, table, screen)) + "\n"
