"""``suggest_policy``: a least-privilege key policy proposed from the calls of a window, replayed
before it is suggested, with everything the evidence cannot show said as a warning."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from keytrail.analysis.filters import match_keys
from keytrail.analysis.findings.keyfacts import AWS, UNKNOWN, KeyFacts, key_catalogue
from keytrail.analysis.policy import Grant, KeyPolicy, parse_policy
from keytrail.analysis.tighten.changes import Change, UnusedGrant, compare, losing_access, unused_grants
from keytrail.analysis.tighten.drafting import StatementNote, draft_policy
from keytrail.analysis.tighten.observed import (
    KMS_ITSELF,
    CallGroup,
    Coverage,
    Window,
    call_groups_of,
    store_span,
    window_of,
)
from keytrail.analysis.tighten.replay import Replay, replay
from keytrail.analysis.tighten.validate import problems
from keytrail.analysis.tighten.warnings import Warning, honesty
from keytrail.errors import PolicyError, UsageError
from keytrail.i18n import _
from keytrail.normalize.rules import is_key_arn, key_arn_parts
from keytrail.store import Store
from keytrail.times import maybe_iso as iso

MIN_DAYS = 30.0


@dataclass(frozen=True)
class SuggestOptions:
    """The window ([since, until), UTC), whether conditions come from the evidence, the shortest
    window not warned about, and the account / Region that narrow a key name."""

    since: datetime | None = None
    until: datetime | None = None
    conditions: bool = True
    min_days: float = MIN_DAYS
    account: str | None = None
    region: str | None = None


@dataclass(frozen=True)
class Suggestion:
    key: str
    window: Window
    policy: dict[str, Any]
    text: str  # the policy document as written: what ``aws kms put-key-policy --policy file://...`` takes
    statements: list[StatementNote]
    removed: list[Change]
    kept: list[Change]
    added: list[Change]
    losing_access: list[str]
    replay: Replay
    current_replay: Replay | None
    warnings: list[Warning]
    unused_grants: list[UnusedGrant]
    problems: list[str]  # what would make KMS refuse the policy (then it must not be applied)
    administrators: list[str] = field(default_factory=list)
    inventory_taken_at: str | None = None
    state: str | None = None

    @property
    def safe(self) -> bool:
        """Nothing the window did would be denied, and KMS would accept the document."""
        return self.replay.denied == 0 and not self.problems

    def as_dict(self) -> dict[str, Any]:
        """``{key, window, policy, removed, kept, added, replay: {calls, denied, ...}, warnings, ...}``."""
        return {
            "key": self.key,
            "window": self.window.as_dict(),
            "policy": self.policy,
            "removed": [c.as_dict() for c in self.removed],
            "kept": [c.as_dict() for c in self.kept],
            "added": [c.as_dict() for c in self.added],
            "replay": self.replay.as_dict(),
            "warnings": [w.as_dict() for w in self.warnings],
            "losing_access": list(self.losing_access),
            "statements": [n.as_dict() for n in self.statements],
            "unused_grants": [g.as_dict() for g in self.unused_grants],
            "administrators": list(self.administrators),
            "current": {"inventory_taken_at": self.inventory_taken_at,
                        "replay": self.current_replay.as_dict() if self.current_replay else None},
            "state": self.state,
            "problems": list(self.problems),
        }  # fmt: skip


def policy_text(policy: dict[str, Any]) -> str:
    """A policy document as JSON text, two-space indented (what ``put-key-policy`` reads)."""
    return orjson.dumps(policy, option=orjson.OPT_INDENT_2).decode() + "\n"


def resolve_key(store: Store, spec: str, account: str | None = None, region: str | None = None) -> str:
    """The one key ``spec`` names now (an alias: the key it points to now); ``UsageError`` otherwise."""
    s = spec.strip()
    found: set[str] = set()
    if s.startswith("alias/") or ":alias/" in s:
        suffix = s if s.startswith("arn:") else f":{s}"
        rows = store.query(
            "SELECT arg_max(target_key, event_time) FROM alias_history WHERE ends_with(alias_arn, ?) GROUP BY alias_arn "
            "UNION SELECT target_key_arn FROM inventory_aliases WHERE ends_with(alias_arn, ?)",
            [suffix, suffix],
        )
        found = {str(r[0]) for r in rows if r[0]}
    else:
        found = set(match_keys(store, s))
        found |= {str(r[0]) for r in store.query("SELECT arn FROM inventory_keys WHERE key_id = ? OR arn = ?", [s, s])}
        if is_key_arn(s):
            found.add(s)
    keys = sorted(k for k in found if (p := key_arn_parts(k)) and (not account or p[2] == account) and (not region or p[1] == region))
    if not keys:
        raise UsageError(_("{key}: no such key in the store (neither its calls nor its inventory name it)").format(
            key=spec))
    if len(keys) > 1:
        raise UsageError(_("{key} names {n} keys ({keys}): give the key ARN of one").format(
            key=spec, n=len(keys), keys=", ".join(keys[:5]) + (", ..." if len(keys) > 5 else "")))
    return keys[0]


def current_policy(store: Store, key: str) -> tuple[KeyPolicy | None, str | None, str | None, list[Grant], list[str]]:
    """(parsed policy, its text, when it was taken, grants, notes) from the latest inventory."""
    notes: list[str] = []
    rows = store.query(
        "SELECT policy, taken_at FROM inventory_policies WHERE arn = ? "
        "ORDER BY taken_at DESC, policy_name = 'default' DESC, policy_name LIMIT 1",
        [key],
    )
    policy = text = taken = None
    if rows:
        text, taken = rows[0][0], iso(rows[0][1])
        try:
            policy = parse_policy(key, text)
        except PolicyError as e:
            notes.append(_("the inventory's key policy is not a policy ({reason}): treated as unknown").format(reason=e))
            text = None
    grants = [
        Grant(gid, name, grantee, tuple(ops or ()), c if c and c not in ("{}", "null") else None, retiring)
        for gid, name, grantee, retiring, ops, c in store.query(
            """SELECT grant_id, name, grantee_principal, retiring_principal, operations, constraints
               FROM inventory_grants WHERE arn = ? QUALIFY taken_at = max(taken_at) OVER () ORDER BY grant_id""",
            [key],
        )
    ]
    return policy, text, taken, grants, notes


def suggest_policy(store: Store, spec: str, options: SuggestOptions | None = None) -> Suggestion:
    """The proposed key policy for the key ``spec`` names, from the calls of the window."""
    opts = options or SuggestOptions()
    key = resolve_key(store, spec, opts.account, opts.region)
    facts = key_catalogue(store, lambda k: k == key).get(key)
    if facts is not None and facts.manager == AWS:
        raise UsageError(_("{key} is an AWS managed key: AWS sets its key policy, which cannot be changed").format(
            key=key))
    return _suggest(store, key, facts, opts, _StoreFacts.of(store, [key], opts))


@dataclass(frozen=True)
class _StoreFacts:
    """What the proposals of several keys read of the store, read once."""

    id_map: dict[str, str]
    span: tuple[datetime | None, datetime | None]
    coverage: Coverage
    groups: dict[str, list[CallGroup]]

    @classmethod
    def of(cls, store: Store, keys: list[str], opts: SuggestOptions) -> _StoreFacts:
        ids = {r[0]: r[1] for r in store.query("SELECT unique_id, min(arn) FROM identity_map GROUP BY unique_id")}
        return cls(ids, store_span(store), Coverage.of(store, opts.since, opts.until),
                   call_groups_of(store, keys, opts.since, opts.until))


def _suggest(store: Store, key: str, facts: KeyFacts | None, opts: SuggestOptions, shared: _StoreFacts) -> Suggestion:
    _, region, account, _ = key_arn_parts(key) or ("", "", "", "")
    current, current_text, taken, grants, notes = current_policy(store, key)
    id_map = shared.id_map
    everything = shared.groups.get(key, [])
    groups = [g for g in everything if g.principal != KMS_ITSELF]
    kms_calls = sum(g.calls for g in everything if g.principal == KMS_ITSELF)
    window = window_of(account, region, opts.since, opts.until, groups, shared.span, shared.coverage)
    draft = draft_policy(key, current, current_text, groups, opts.conditions, id_map)
    text = policy_text(draft.document)
    proposed = parse_policy(key, text)
    new = replay(proposed, grants, groups, region, id_map)
    old = replay(current, grants, groups, region, id_map) if current is not None else None
    removed, kept, added = compare(current, proposed, draft.reasons, [g.action for g in groups])
    warnings = honesty(
        key, facts, window, opts.min_days, current is not None, draft, old, new, groups,
        kms_calls, notes,
    )
    return Suggestion(
        key=key, window=window, policy=draft.document, text=text, statements=draft.notes,
        removed=removed, kept=kept, added=added, losing_access=losing_access(removed, proposed),
        replay=new, current_replay=old, warnings=warnings,
        unused_grants=unused_grants(key, grants, groups, id_map),
        problems=problems(key, text, draft.administrators), administrators=draft.administrators,
        inventory_taken_at=taken, state=facts.state if facts else None,
    )  # fmt: skip


def suggestions_for(store: Store, keys: Sequence[str], options: SuggestOptions | None = None) -> dict[str, Suggestion]:
    """A proposal for each customer managed key of ``keys`` that has a key policy in the inventory
    (what the HTML report's "Tighten" sections show); other keys are left out."""
    opts = options or SuggestOptions()
    facts = key_catalogue(store, set(keys).__contains__)
    with_policy = {r[0] for r in store.query("SELECT DISTINCT arn FROM inventory_policies")}
    chosen = [k for k in keys if (f := facts.get(k)) is not None and f.manager not in (AWS, UNKNOWN) and k in with_policy]
    shared = _StoreFacts.of(store, chosen, opts)
    return {key: _suggest(store, key, facts[key], opts, shared) for key in chosen}

