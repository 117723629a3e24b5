"""The proposed key policy, statement by statement, each with the reason it is there.

1. The key's account keeps the management actions (AWS's key administrators statement) through
   its account principal, so IAM policies can always administer the key: AWS warns that a key
   policy without the account can leave the key unmanageable, and PutKeyPolicy's lockout safety
   check refuses a policy that would lock out the caller.
2. The current policy's key administrators -- the principals an Allow statement lets call
   ``kms:PutKeyPolicy`` -- keep that statement's management actions and conditions.
3. Cryptographic actions go only to the principals that made such calls in the window, each with
   the actions it used (``evidence.py``: conditions where the evidence is uniform).
4. Principals that used the key through a service integration keep what the service needs
   (``services.INTEGRATIONS``): CreateGrant only for AWS resources, DescribeKey.
5. Other calls seen in the window that 1, 2 and 4 do not allow (another account's DescribeKey,
   a service principal's) are kept for the principal that made them.
6. The current policy's Deny statements are kept as they are: they only ever take access away.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from keytrail.analysis.policy import KeyPolicy, Statement, parse_policy, policy_account
from keytrail.analysis.tighten.evidence import crypto_conditions, merge
from keytrail.analysis.tighten.observed import CallGroup
from keytrail.analysis.tighten.principals import Who, who_of
from keytrail.analysis.tighten.replay import ALLOWED, DELEGATED, judge
from keytrail.analysis.tighten.services import (
    INTEGRATIONS,
    MANAGEMENT_ACTIONS,
    is_crypto,
    matches_crypto,
)
from keytrail.i18n import _, local_iso

ACCOUNT_SID = "Enable IAM policies for key administration"


@dataclass
class StatementNote:
    """Why one statement of the proposed policy is there."""

    sid: str
    why: str
    conditions: list[str] = field(default_factory=list)  # why each condition, or why none

    def as_dict(self) -> dict[str, object]:
        return {"sid": self.sid, "why": self.why, "conditions": list(self.conditions)}


@dataclass
class Draft:
    statements: list[dict[str, Any]] = field(default_factory=list)
    notes: list[StatementNote] = field(default_factory=list)
    # principal -> action -> (why it is allowed, a detail: how often it was used)
    reasons: dict[str, dict[str, tuple[str, str]]] = field(default_factory=dict)
    unnamed: list[tuple[str, int]] = field(default_factory=list)  # principals no key policy can name, with calls
    administrators: list[str] = field(default_factory=list)

    @property
    def document(self) -> dict[str, Any]:
        return {"Version": "2012-10-17", "Statement": self.statements}

    def add(self, sid: str, principals: Sequence[Who], actions: Sequence[str], conditions: dict[str, Any],
            note: StatementNote, reason: str) -> None:
        """A statement (``sid`` made unique) and, per principal and action, why it is allowed."""
        taken = {s.get("Sid") for s in self.statements}
        unique, n = sid, 2
        while unique in taken:
            unique, n = f"{sid} ({n})", n + 1
        note.sid = unique
        self.statements.append(statement(unique, "Allow", principals, actions, conditions))
        self.notes.append(note)
        for who in principals:
            for a in actions:
                self.reasons.setdefault(who.label, {}).setdefault(a, (reason, ""))

    def used(self, who: Who, groups: Sequence[CallGroup]) -> None:
        """``who``'s actions allowed because it made such calls in the window."""
        for a in sorted({g.action for g in groups}):
            calls = sum(g.calls for g in groups if g.action == a)
            last = max((g.last for g in groups if g.action == a and g.last), default="?")
            self.reasons.setdefault(who.label, {})[a] = (_("used in the window"), _("{action} x{n}, last {last}").format(
                action=a, n=calls, last=local_iso(last)))


def statement(sid: str, effect: str, principals: Sequence[Who], actions: Sequence[str],
              conditions: dict[str, Any]) -> dict[str, Any]:
    by_kind: dict[str, list[str]] = defaultdict(list)
    for who in principals:
        if who.value not in by_kind[who.kind]:
            by_kind[who.kind].append(who.value)
    principal = {k: (v[0] if len(v) == 1 else sorted(v)) for k, v in sorted(by_kind.items())}
    out: dict[str, Any] = {"Sid": sid, "Effect": effect, "Principal": principal,
                           "Action": actions[0] if len(actions) == 1 else list(actions), "Resource": "*"}
    if conditions:
        out["Condition"] = conditions
    return out


def raw_statements(text: str | None) -> list[Any]:
    if not text:
        return []
    doc = orjson.loads(text)
    raw = doc.get("Statement") if isinstance(doc, dict) else None
    return raw if isinstance(raw, list) else [raw] if isinstance(raw, dict) else []


@dataclass
class Needs:
    """What one nameable principal did in the window."""

    who: Who
    crypto: list[CallGroup] = field(default_factory=list)
    other: list[CallGroup] = field(default_factory=list)

    @property
    def services(self) -> list[str]:
        if self.who.kind == "Service":
            return [self.who.value]
        return sorted({g.via for g in self.crypto if g.via})


def needs_of(groups: Sequence[CallGroup], partition: str) -> tuple[dict[tuple[str, str, bool], Needs], list[tuple[str, int]]]:
    """Observed calls per policy principal; the principals no key policy can name, with their calls."""
    out: dict[tuple[str, str, bool], Needs] = {}
    unnamed: dict[str, int] = defaultdict(int)
    for g in groups:
        who = who_of(g.principal, g.principal_type, partition)
        if who is None:
            unnamed[g.principal] += g.calls
            continue
        n = out.setdefault((who.kind, who.value, who.root_user), Needs(who))
        (n.crypto if g.crypto else n.other).append(g)
    return out, sorted(unnamed.items())


def draft_policy(  # long: the six parts of the policy, in the order the module docstring gives them
    key: str,
    current: KeyPolicy | None,
    current_text: str | None,
    groups: Sequence[CallGroup],
    conditions: bool,
    id_map: dict[str, str] | None = None,
) -> Draft:
    partition, region, account = key.split(":")[1], key.split(":")[3], key.split(":")[4]
    d = Draft()
    root = Who("AWS", f"arn:{partition}:iam::{account}:root")
    d.add(ACCOUNT_SID, [root], MANAGEMENT_ACTIONS, {},
          StatementNote(ACCOUNT_SID, _("Account {account} keeps the management actions through IAM policies, so the "
                                       "key can never become unmanageable (AWS: a key policy without the account's "
                                       "access risks that; PutKeyPolicy stays allowed). No cryptographic action is "
                                       "delegated to IAM.").format(account=account)),
          _("the key's account keeps key administration (its IAM policies decide)"))
    _administrators(d, current, current_text)
    needs, d.unnamed = needs_of(groups, partition)
    _crypto(d, needs, region, conditions)
    _integrations(d, needs)
    _other_calls(d, key, needs, region, id_map)
    for i, raw in enumerate(raw_statements(current_text)):
        if isinstance(raw, dict) and raw.get("Effect") == "Deny":
            kept = dict(raw)
            given = kept.get("Sid")
            sid = given if isinstance(given, str) else f"Deny kept from the current policy ({i + 1})"
            kept["Sid"] = sid
            d.statements.append(kept)
            d.notes.append(StatementNote(sid, _("kept as it is from the current policy: a Deny only takes access away")))
    return d


def _administrators(d: Draft, current: KeyPolicy | None, current_text: str | None) -> None:
    """The current policy's key administrators keep their statement's management actions."""
    if current is None:
        return
    raws = raw_statements(current_text)
    for st in current.statements:
        if st.effect != "Allow" or st.not_principal or not st.allows_action("kms:PutKeyPolicy"):
            continue
        named = [p.value for p in st.principals if p.kind == "AWS" and policy_account(p.value) is None]
        admins = [who for v in named if (who := who_of(v, None)) is not None and not who.root_user]
        if not admins:
            continue
        actions = _management_of(st)
        raw = raws[st.index] if st.index < len(raws) and isinstance(raws[st.index], dict) else {}
        given = raw.get("Condition")
        cond: dict[str, Any] = given if isinstance(given, dict) else {}
        dropped = [v for v in named if who_of(v, None) is None]
        note = StatementNote(st.name, (_("the current policy's key administrators (statement {statement!r}) keep its "
                                         "management actions and conditions") if cond else
                                       _("the current policy's key administrators (statement {statement!r}) keep its "
                                         "management actions")).format(statement=st.name),
                             [_("not kept: {principal} (not an IAM ARN: the unique id of a deleted principal?)").format(
                                 principal=v) for v in dropped])
        d.add(st.sid or "Allow access for Key Administrators", admins, actions, cond, note,
              _("a key administrator in the current policy (statement {statement!r})").format(statement=st.name))
        d.administrators += [w.value for w in admins]


def _management_of(st: Statement) -> tuple[str, ...]:
    if st.not_action or any(matches_crypto(a) for a in st.actions):
        return MANAGEMENT_ACTIONS
    return tuple(st.actions)


def _crypto(d: Draft, needs: dict[tuple[str, str, bool], Needs], region: str, conditions: bool) -> None:
    grouped: dict[tuple[tuple[str, ...], bytes], list[tuple[Needs, list[str]]]] = defaultdict(list)
    for n in needs.values():
        if not n.crypto:
            continue
        actions = tuple(sorted({g.action for g in n.crypto}))
        cond, why = crypto_conditions(n.who, n.crypto, region, conditions)
        grouped[(actions, orjson.dumps(cond, option=orjson.OPT_SORT_KEYS))].append((n, why))
    for (actions, cond_key), members in sorted(grouped.items()):
        whos = [n.who for n, _w in members]
        cond = orjson.loads(cond_key)
        calls = sum(g.calls for n, _w in members for g in n.crypto)
        why = [f"{n.who.label}: {w}" for n, ws in members for w in ws]
        hows = [f"{n.who.label}: {n.who.how}" for n, _w in members if n.who.how]
        said = _("{n} principal(s) made these cryptographic calls in the window ({calls} call(s))").format(
            n=len(whos), calls=calls)
        d.add("Allow use of the key", whos, actions, cond,
              StatementNote("", _("; ").join([said, *hows]), why), _("used in the window"))
        for n, _w in members:
            d.used(n.who, n.crypto)


def _integrations(d: Draft, needs: dict[tuple[str, str, bool], Needs]) -> None:
    """What each service integration needs, for the principals that used the key through it: one
    statement per action (and scope), CreateGrant only for grants an AWS service makes."""
    grouped: dict[tuple[str, bool, bytes], dict[Who, set[str]]] = {}
    for n in needs.values():
        for host in n.services:
            i = INTEGRATIONS.get(host)
            for action in i.actions if i is not None else ():
                for_resource = i is not None and i.grant_for_aws_resource and action == "kms:CreateGrant"
                whos = grouped.setdefault((action, for_resource, orjson.dumps(n.who.scope())), {})
                whos.setdefault(n.who, set()).add(host)
    for (action, for_resource, scope), whos in sorted(grouped.items(), key=lambda kv: kv[0]):
        why = _needed_by({h for hosts in whos.values() for h in hosts})
        if action == "kms:CreateGrant":
            cond = merge({"Bool": {"kms:GrantIsForAWSResource": "true"}} if for_resource else {}, orjson.loads(scope))
            notes = [_("kms:GrantIsForAWSResource: only grants that an AWS service creates for a resource "
                       "(AWS's 'Allow attachment of persistent resources')")] if for_resource else []
            d.add("Allow attachment of persistent resources", list(whos), [action], cond, StatementNote("", why, notes), why)
        else:
            d.add(f"Allow AWS service integrations: {action}", list(whos), [action], orjson.loads(scope),
                  StatementNote("", why), why)
        for who, hosts in whos.items():
            d.reasons[who.label][action] = (_needed_by(hosts), "")


def _needed_by(hosts: set[str]) -> str:
    names = sorted(hosts)
    return _("{services}: the service needs it to use the key for them (AWS: {documents})").format(
        services=", ".join(INTEGRATIONS[h].name for h in names), documents="; ".join(INTEGRATIONS[h].doc for h in names))


def _other_calls(d: Draft, key: str, needs: dict[tuple[str, str, bool], Needs], region: str,
                 id_map: dict[str, str] | None) -> None:
    """Non-cryptographic calls of the window that the statements so far do not allow."""
    so_far = parse_policy(key, orjson.dumps(d.document))
    for n in sorted(needs.values(), key=lambda n: n.who.label):
        missing = sorted({g.action for g in n.other if not is_crypto(g.action)
                          and judge(so_far, [], g, region, id_map).decision not in (ALLOWED, DELEGATED)})
        if not missing:
            continue
        calls = {a: sum(g.calls for g in n.other if g.action == a) for a in missing}
        d.add("Allow other calls seen in the window", [n.who], missing, n.who.scope(),
              StatementNote("", _("{principal} made these calls in the window and no statement above allows them "
                                  "({calls})").format(principal=n.who.label,
                                                      calls=", ".join(f"{a} x{c}" for a, c in calls.items()))),
              _("used in the window"))
        d.used(n.who, [g for g in n.other if g.action in missing])
