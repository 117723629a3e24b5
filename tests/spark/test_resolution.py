"""The resolver's SQL run as Spark runs it -- by stages over partitions -- against the local engine.

No Spark here: ``partitioned_engine`` does what the Spark job's tasks do (``process_file``, the row
rules, then ``keytrail.spark.stages`` over the candidate rows hash-partitioned by eventID for stage A
and by sharedEventID for stage B, the settled rows straight to key_use) and must give the local engine's ``key_use`` rows exactly, column for
column, on generated archives with alias churn (several changes in one second, deletes), hidden
callers, cross-account copies, re-deliveries, ReEncrypt through aliases and denied calls. The
Spark tests (``test_job``) compare the real job with the local engine on a generated organisation
trail.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keytrail.pipeline import Extracted, finish_rows, process_file
from keytrail.resolve import CANDIDATE, SHARED_EVENT_KEYS, fill
from keytrail.sources import FileRef
from keytrail.sources.local import LocalSource
from keytrail.spark import schema as S
from keytrail.spark import stages
from keytrail.spark.stages import file_order_key
from keytrail.store import KEY_USE_COLUMNS, to_arrow
from keytrail.store.segments import with_row_rules
from tests.factory import (
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

T0 = datetime(2026, 10, 1, 12, 0, 0)
KEYS = (KEY_A, KEY_B, KEY_C)
ALIASES = ("alias/one", "alias/two")
UIDS = ("AROAKNOWNROLE0000001", "AROAUNKNOWNROLE00002")


def at(second: int) -> str:
    return (T0 + timedelta(seconds=second)).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_file_order_follows_the_directory_walk() -> None:
    paths = ["/a-b/x.json", "/a/y.json", "/a/b/z.json", "/a.json"]
    walk = sorted(paths, key=lambda p: p.split("/"))
    assert sorted(paths, key=lambda p: file_order_key(0, p)) == walk
    assert file_order_key(0, "/z") < file_order_key(1, "/a")


# ---- the rules together against the local engine --------------------------------------------------


def _buckets(table: pa.Table, column: str, n: int) -> list[pa.Table]:
    """``table`` split as a repartition by ``column`` splits it (rows without a value: by record)."""
    keys = [
        v if v is not None else f"file:{f}:{i}"
        for v, f, i in zip(table.column(column).to_pylist(), table.column("file_id").to_pylist(),
                           table.column("rec_index").to_pylist(), strict=True)
    ]
    parts = [[j for j, k in enumerate(keys) if hash(k) % n == b] for b in range(n)]
    return [table.take(pa.array(p, pa.int64())) for p in parts if p]


def partitioned_engine(paths: Sequence[str], partitions: int = 3) -> list[tuple[Any, ...]]:
    """What the Spark job's tasks do, without Spark, over the same files."""
    source = LocalSource(tuple(paths))
    ex = Extracted()
    files = []
    orders = {}
    for file_id, path in enumerate(paths, 1):
        out, _ = process_file(source, file_id, FileRef(path), ex)
        files.append((file_id, out))
        orders[file_id] = file_order_key(0, path)
    rows = with_row_rules(finish_rows(files, ex).rows)
    rows = rows.append_column("file_order", pa.array([orders[f] for f in rows.column("file_id").to_pylist()]))
    rows = S.conform(rows, S.STAGED_ROW_FIELDS)
    candidate = fill(CANDIDATE, shared_keys=f"({fill(SHARED_EVENT_KEYS, rows='_rows')})")
    candidates = stages.run(f"SELECT {', '.join(S.ROW_FIELDS)} FROM _rows WHERE {candidate}", {"_rows": rows})  # noqa: S608
    settled = stages.run(f"SELECT * FROM _rows WHERE NOT coalesce({candidate}, false)", {"_rows": rows})  # noqa: S608
    assert candidates.num_rows + settled.num_rows == rows.num_rows
    aliases = to_arrow("alias_history", ex.aliases)
    aliases = aliases.append_column("file_order", pa.array([orders[f] for f in aliases.column("file_id").to_pylist()], pa.string()))
    identities = to_arrow("identity_map", sorted(ex.identities))
    events = [stages.resolve_events(part, aliases, identities) for part in _buckets(candidates, "event_id", partitions)]
    regrouped = _buckets(pa.concat_tables(events), "shared_event_id", partitions) if events else []
    counted = [stages.resolve_copies(part, None, None) for part in regrouped]
    out = [S.conform(t, S.OUTPUT_COLUMNS, timestamps=True) for t in (*counted, stages.settle(settled, None, None))]
    return sorted((tuple(r[c] for c in KEY_USE_COLUMNS) for r in pa.concat_tables(out).to_pylist()), key=repr)


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
    assert partitioned_engine(paths) == want


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
    got = partitioned_engine(paths)
    assert got == want
    keys = [r[KEY_USE_COLUMNS.index("key")] for r in got]
    assert KEY_A in keys and KEY_C in keys and alias_arn(a1) in keys
