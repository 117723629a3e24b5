"""The resolver's rules in Python (``keytrail.spark.resolution``) against the local engine's resolver.

No Spark here: a small Python engine applies the orders the Spark job's window functions use
(``redelivery_order``, ``copy_order``, ref_kind first) and ``RowResolver`` per row, and must
give the local engine's ``key_use`` rows exactly, column for column, on generated archives with
alias churn (several changes in one second, deletes), hidden callers, cross-account copies,
re-deliveries, ReEncrypt through aliases and denied calls.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.fixtures_gen import (
    ACCOUNT,
    KEY_A,
    KEY_B,
    KEY_C,
    OTHER,
    alias_arn,
    alias_event,
    hidden,
    ingested,
    kms,
    role,
    user,
)

from keytrail.model import KEY_USE_FIELDS
from keytrail.pipeline import process_file
from keytrail.sources import FileRef
from keytrail.sources.local import LocalSource
from keytrail.spark.resolution import (
    AliasHistory,
    IdentityMap,
    RowResolver,
    copy_order,
    file_order_key,
    principal_of,
    redelivery_order,
    resolved_key,
)
from keytrail.store import KEY_USE_COLUMNS

T0 = datetime(2026, 10, 1, 12, 0, 0)
KEYS = (KEY_A, KEY_B, KEY_C)
ALIASES = ("alias/one", "alias/two")
UIDS = ("AROAKNOWNROLE0000001", "AROAUNKNOWNROLE00002")


def at(second: int) -> str:
    return (T0 + timedelta(seconds=second)).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---- the helpers one by one ----------------------------------------------------------------------


def test_alias_history_same_second_delete_and_log_order() -> None:
    a = alias_arn("alias/x")
    history = AliasHistory(
        [
            (a, 100, KEY_A, ("f1", 0)),
            (a, 200, KEY_B, ("f1", 5)),
            (a, 200, KEY_C, ("f1", 7)),  # the same second, later in the log: wins
            (a, 200, KEY_A, ("f0", 9)),  # an earlier file
            (a, 300, None, ("f2", 0)),  # deleted
            (a, 400, KEY_B, ("f2", 1)),
        ]
    )
    assert [history.target(a, t) for t in (99, 100, 199, 200, 299, 300, 399, 400, 10**10)] == [
        None, KEY_A, KEY_A, KEY_C, KEY_C, None, None, KEY_B, KEY_B,
    ]
    assert history.target(alias_arn("alias/other"), 250) is None and history.target(None, 250) is None
    assert len(history) == 4


def test_identity_map_and_hidden_principals() -> None:
    ids = IdentityMap([("AROA1", "arn:aws:iam::1:role/b"), ("AROA1", "arn:aws:iam::1:role/a"), ("AIDA2", "arn:u")])
    assert ids.get("AROA1") == "arn:aws:iam::1:role/a" and len(ids) == 2
    assert principal_of("arn:known", "AROA1", "1", ids) == "arn:known"
    assert principal_of(None, "AROA1", "1", ids) == "arn:aws:iam::1:role/a"
    assert principal_of(None, "AROA9", "444455556666", ids) == "AWSAccount:444455556666:AROA9"
    assert principal_of(None, None, None, ids) == "AWSAccount:?:?"


def test_reencrypt_source_and_orders() -> None:
    assert resolved_key("reencrypt-source", "arn:alias", [KEY_A, KEY_B], KEY_B) == KEY_A
    assert resolved_key("reencrypt-source", "arn:alias", [KEY_B], KEY_B) == KEY_B
    assert resolved_key("reencrypt-source", "arn:alias", [], KEY_B) == KEY_B
    assert resolved_key("reencrypt-source", "arn:alias", [KEY_A], None) is None
    assert resolved_key("alias", "arn:alias", None, None) is None
    assert resolved_key("key", KEY_A, None, None) == KEY_A
    full, owner = copy_order("AssumedRole", "e2", "f9", 0), copy_order("AWSAccount", "e1", "f0", 0)
    assert full < owner
    assert copy_order(None, "e1", "f0", 0) < copy_order(None, None, "f0", 0)
    assert redelivery_order("f0", 9) < redelivery_order("f1", 0)


def test_file_order_follows_the_directory_walk() -> None:
    paths = ["/a-b/x.json", "/a/y.json", "/a/b/z.json", "/a.json"]
    walk = sorted(paths, key=lambda p: p.split("/"))
    assert sorted(paths, key=lambda p: file_order_key(0, p)) == walk
    assert file_order_key(0, "/z") < file_order_key(1, "/a")


def test_a_key_use_column_without_a_rule_is_refused() -> None:
    with pytest.raises(ValueError, match="no_such_column"):
        RowResolver(("key", "no_such_column"), AliasHistory([]), IdentityMap([]))


# ---- the rules together against the local engine --------------------------------------------------


def python_engine(paths: Sequence[str]) -> list[tuple[Any, ...]]:
    """What the Spark job does, in plain Python over the same files (file ids as the local engine's)."""
    source = LocalSource(tuple(paths))
    raw: list[tuple[str, tuple[Any, ...]]] = []
    changes = []
    identities: set[tuple[str, str]] = set()
    for file_id, path in enumerate(paths, 1):
        _, ex = process_file(source, file_id, FileRef(path))
        order = file_order_key(0, path)
        raw += [(order, r) for r in ex.rows]
        changes += [(a[0], a[1], a[2], (order, a[7])) for a in ex.aliases]
        identities |= ex.identities
    f = {name: i for i, name in enumerate(("file_id", "rec_index", *KEY_USE_FIELDS))}

    def get(row: tuple[Any, ...], name: str) -> Any:
        return row[f[name]]

    # re-deliveries, then cross-account copies (what the window functions keep)
    records = {(get(r, "file_id"), get(r, "rec_index")): (order, r) for order, r in raw}
    once: dict[tuple[Any, ...], tuple[Any, ...]] = {}
    alone = set()
    for place, (order, r) in records.items():
        if get(r, "event_id") is None and get(r, "shared_event_id") is None:
            alone.add(place)
            continue
        group = (get(r, "event_id"), get(r, "event_name"), get(r, "event_time"))
        best = once.get(group)
        if best is None or redelivery_order(order, get(r, "rec_index")) < best[0]:
            once[group] = (redelivery_order(order, get(r, "rec_index")), place)
    kept = set(alone)
    copies: dict[str, tuple[Any, ...]] = {}
    for _, place in once.values():
        order, r = records[place]
        shared = get(r, "shared_event_id")
        if shared is None:
            kept.add(place)
            continue
        rank = copy_order(get(r, "identity_type"), get(r, "event_id"), order, get(r, "rec_index"))
        if shared not in copies or rank < copies[shared][0]:
            copies[shared] = (rank, place)
    kept |= {place for _, place in copies.values()}

    resolver = RowResolver(KEY_USE_COLUMNS, AliasHistory(changes), IdentityMap(identities))
    best_rows: dict[tuple[Any, ...], tuple[tuple[str, str], list[Any]]] = {}
    at_ = {c: i for i, c in enumerate(KEY_USE_COLUMNS)}
    for _, r in raw:
        if (get(r, "file_id"), get(r, "rec_index")) not in kept:
            continue
        out, ref_kind = resolver.resolve(r)
        group = (out[at_["file_id"]], out[at_["rec_index"]], out[at_["key"]], out[at_["category"]])
        rank = (ref_kind, out[at_["key_ref"]] or "")
        if group not in best_rows or rank < best_rows[group][0]:
            best_rows[group] = (rank, out)
    return sorted((tuple(o) for _, o in best_rows.values()), key=repr)


def local_engine(tmp: Path, files: Sequence[Sequence[dict[str, Any]]]) -> tuple[list[str], list[tuple[Any, ...]]]:
    with ingested(tmp, *files) as (store, _):
        rows = store.query(f"SELECT {', '.join(KEY_USE_COLUMNS)} FROM key_use")  # noqa: S608
    return [str(tmp / f"log{i:03d}.json") for i in range(len(files))], sorted(rows, key=repr)


_n = itertools.count()


@st.composite
def archives(draw: st.DrawFn) -> list[list[dict[str, Any]]]:
    """A few log files of KMS records exercising every resolver rule."""
    events: list[dict[str, Any]] = []
    t = 0
    for _ in range(draw(st.integers(2, 14))):
        t += draw(st.sampled_from([0, 0, 1, 2]))  # several events in one second
        kind = draw(st.sampled_from(["alias", "alias", "call", "call", "call", "reencrypt", "copy", "redeliver"]))
        if kind == "alias":
            alias = draw(st.sampled_from(ALIASES))
            action = draw(st.sampled_from(["CreateAlias", "UpdateAlias", "DeleteAlias"]))
            target = None if action == "DeleteAlias" else draw(st.sampled_from(KEYS))
            events.append(alias_event(action, alias, target, at(t)))
        elif kind in ("call", "copy"):
            name = draw(st.sampled_from(["Decrypt", "Encrypt", "GenerateDataKey", "Sign", "DescribeKey"]))
            by_alias = draw(st.booleans())
            key = None if by_alias else draw(st.sampled_from(KEYS))
            params = {"keyId": draw(st.sampled_from(ALIASES))} if by_alias else {"keyId": key}
            uid = draw(st.sampled_from(UIDS))
            who = draw(st.sampled_from(["user", "role", "hidden"]))
            identity = {"user": user("alice"), "role": role("App", "/svc/", uid=uid), "hidden": hidden(f"{uid}:s", OTHER)}[who]
            extra: dict[str, Any] = {}
            if draw(st.integers(0, 4)) == 0:
                extra = {"errorCode": "AccessDenied", "errorMessage": "no"}
            record = kms(name, identity, key, params, time=at(t), **extra)
            events.append(record)
            if kind == "copy":  # the other account's copy of the same call
                shared = f"shared-{next(_n)}"
                record["sharedEventID"] = shared
                full = role("Caller", uid="AROAKNOWNROLE0000001", account=OTHER)
                copy = kms(name, full, key, params, time=at(t), recipient=OTHER, sharedEventID=shared, **extra)
                events.insert(draw(st.integers(0, len(events))), copy)
        elif kind == "reencrypt":
            dest = draw(st.sampled_from([*ALIASES, KEY_B]))
            resources = draw(st.lists(st.sampled_from(KEYS), max_size=2, unique=True))
            record = kms("ReEncrypt", user("bob"), None, {"destinationKeyId": dest}, time=at(t))
            record["resources"] = [{"ARN": k} for k in resources]
            events.append(record)
        elif events:
            events.append(draw(st.sampled_from(events)))  # delivered again (same eventID), later
    events.append(kms("Decrypt", role("App", "/svc/", uid=UIDS[0]), KEY_A, None, time=at(t)))  # shows the role's ARN
    cuts = sorted(draw(st.lists(st.integers(0, len(events)), max_size=2)))
    bounds = [0, *cuts, len(events)]
    return [events[a:b] for a, b in itertools.pairwise(bounds)]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(archives())
def test_python_rules_equal_the_local_resolver(tmp_path_factory: pytest.TempPathFactory, files: list[list[dict[str, Any]]]) -> None:
    tmp = tmp_path_factory.mktemp("rules")
    paths, want = local_engine(tmp, files)
    assert python_engine(paths) == want


def test_the_fixed_scenarios_of_the_resolver(tmp_path: Path) -> None:
    """The alias timeline of the resolver's own tests: retarget, delete, re-create, same second."""
    a1 = "alias/app"
    files = [
        [
            alias_event("CreateAlias", a1, KEY_A, at(0)),
            kms("Decrypt", user("u"), None, {"keyId": a1}, time=at(0)),
            alias_event("UpdateAlias", a1, KEY_B, at(5)),
            alias_event("UpdateAlias", a1, KEY_C, at(5)),
            kms("Encrypt", user("u"), None, {"keyId": a1}, time=at(5)),
            alias_event("DeleteAlias", a1, None, at(9)),
            kms("Encrypt", user("u"), None, {"keyId": a1}, time=at(10)),
        ],
        [kms("Decrypt", hidden("AROAUNKNOWNROLE00002:x", OTHER), KEY_A, None, time=at(11), recipient=ACCOUNT)],
    ]
    paths, want = local_engine(tmp_path, files)
    got = python_engine(paths)
    assert got == want
    keys = [r[KEY_USE_COLUMNS.index("key")] for r in got]
    assert KEY_A in keys and KEY_C in keys and alias_arn(a1) in keys
