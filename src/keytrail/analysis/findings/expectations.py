"""Expectations for ``keytrail check``: per key (alias, or tag), who may use it and for what.

The file (YAML)::

    version: 1
    rules:
      - name: orders data key            # optional; shown with each violation
        key: alias/orders                # or keys: [...]; key id, key ARN, alias name or alias ARN
        check: [encrypt, decrypt, sign]  # which calls are checked (default); add admin for management calls
        allow:
          - principal: arn:aws:iam::111122223333:role/service-role/AppServerRole
            operations: [encrypt, decrypt]
          - principal: "arn:aws:iam::111122223333:role/aws-reserved/sso.amazonaws.com/*"
            operations: [Decrypt]        # an event name (globs allowed: GenerateDataKey*)
          - principal: cloudtrail.amazonaws.com
      - tag: {env: prod}                 # keys tagged so in the inventory
        account: "111122223333"          # optional narrowing: account, region
        allow:
          - account: "111122223333"      # any principal of this account

A violation is a successful call in the window, of a checked operation class, on a key a rule
selects, by a principal no ``allow`` entry of that rule covers for that call. An ``allow`` entry
names ``principal`` (an ARN or service name; ``*`` and ``?`` are wildcards) or ``account`` (every
principal of that account), or both; ``operations`` are operation classes (encrypt, decrypt,
sign, admin) or KMS event names, default all. Failed calls are never use, so never violations.
"""

from __future__ import annotations

import difflib
import fnmatch
from dataclasses import dataclass, field
from typing import Any

import yaml

from keytrail.analysis.filters import NO_FILTERS, Filters, match_keys
from keytrail.analysis.key_names import known_names, nearest
from keytrail.analysis.policy import account_of
from keytrail.errors import EXPECTATIONS, UsageError, said
from keytrail.i18n import _
from keytrail.normalize.operations import CRYPTO, KMS_EVENT_NAMES, OPERATIONS
from keytrail.store import Store
from keytrail.times import maybe_iso as iso

CLASSES = OPERATIONS
DEFAULT_CHECK = CRYPTO


@dataclass(frozen=True)
class Allow:
    principal: str | None = None
    account: str | None = None
    operations: tuple[str, ...] = ()

    def covers(self, principal: str, caller_account: str | None, category: str, event_name: str) -> bool:
        if self.principal is not None and not fnmatch.fnmatchcase(principal, self.principal):
            return False
        if self.account is not None and caller_account != self.account:
            return False
        if not self.operations:
            return True
        return any(op == category or fnmatch.fnmatchcase(event_name, op) for op in self.operations)


@dataclass(frozen=True)
class Rule:
    index: int
    name: str
    keys: tuple[str, ...] = ()
    tags: tuple[tuple[str, str], ...] = ()
    account: str | None = None
    region: str | None = None
    check: tuple[str, ...] = DEFAULT_CHECK
    allow: tuple[Allow, ...] = ()


@dataclass(frozen=True)
class Expectations:
    rules: tuple[Rule, ...]
    source: str = "expectations"


@dataclass(frozen=True)
class Violation:
    rule: str
    key: str
    principal: str
    operation: str
    event_names: list[str]
    calls: int
    first_seen: str | None
    last_seen: str | None
    evidence: list[str] = field(default_factory=list)  # eventIDs of the first calls


@dataclass(frozen=True)
class CheckResult:
    violations: list[Violation]
    warnings: list[str]
    keys_checked: int
    unevaluated: list[str] = field(default_factory=list)  # rules that could not be evaluated, and why


def _fail(source: str, where: str, why: str) -> UsageError:
    return UsageError(f"{source}: {where}: {why}")


def _str(value: object, source: str, where: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise _fail(source, where, f"expected a string, got {type(value).__name__}")
    text = str(value).strip()
    if not text:
        raise _fail(source, where, "empty")
    return text


def _str_list(value: object, source: str, where: str) -> tuple[str, ...]:
    items = value if isinstance(value, list) else [value]
    return tuple(_str(v, source, f"{where}[{i}]") for i, v in enumerate(items))


def _account(value: object, source: str, where: str) -> str:
    text = _str(value, source, where)
    if not (len(text) == 12 and text.isdigit()):
        raise _fail(source, where, f"{text!r} is not a 12-digit account id (quote it in YAML)")
    return text


def parse_expectations(text: str, source: str = "expectations") -> Expectations:
    """The rules of an expectations file; ``UsageError`` names what is wrong and where."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise _yaml_error(source, e) from e
    if not isinstance(doc, dict):
        raise _fail(source, "top level", "expected a mapping with 'rules'")
    unknown = set(doc) - {"version", "rules"}
    if unknown:
        raise _fail(source, "top level", f"unknown field(s) {', '.join(sorted(map(str, unknown)))}")
    if doc.get("version", 1) != 1:
        raise _fail(source, "version", f"unsupported version {doc.get('version')!r} (this keytrail reads 1)")
    raw_rules = doc.get("rules")
    if not isinstance(raw_rules, list) or not raw_rules:
        raise _fail(source, "rules", "expected a non-empty list")
    return Expectations(tuple(_rule(i, r, source) for i, r in enumerate(raw_rules)), source)


def _yaml_error(source: str, e: yaml.YAMLError) -> UsageError:
    """A YAML syntax error: where, and the parser's own lines (with the file's lines it quotes)."""
    mark = getattr(e, "problem_mark", None)
    where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
    lines = str(e).replace('"<unicode string>"', source).splitlines()
    return UsageError(f"{source}: not valid YAML{where}:", details=[(line,) for line in lines if line.strip()])


def _operations(value: object, source: str, where: str) -> tuple[str, ...]:
    """Operation classes or KMS event names (globs: ``GenerateDataKey*``); a name that is neither
    -- a typo -- is refused, with the nearest names."""
    ops = _str_list(value, source, where)
    names = sorted(KMS_EVENT_NAMES)
    for i, op in enumerate(ops):
        if op in CLASSES or any(fnmatch.fnmatchcase(n, op) for n in names):
            continue
        choices = {c.lower(): c for c in (*names, *CLASSES)}  # a class before the event of its name
        near = [choices[c] for c in difflib.get_close_matches(op.lower(), list(choices), n=3, cutoff=0.75)]
        hint = f"; did you mean {' or '.join(near)}?" if near else ""
        raise _fail(source, f"{where}[{i}]", f"{op!r} is neither an operation class ({', '.join(CLASSES)}) nor a "
                                            f"KMS event name{hint}")
    return ops


def _rule(i: int, r: Any, source: str) -> Rule:
    where = f"rules[{i}]"
    if not isinstance(r, dict):
        raise _fail(source, where, "expected a mapping")
    unknown = set(r) - {"name", "key", "keys", "tag", "account", "region", "check", "allow"}
    if unknown:
        raise _fail(source, where, f"unknown field(s) {', '.join(sorted(map(str, unknown)))}")
    selectors = [s for s in ("key", "keys", "tag") if s in r]
    if len(selectors) != 1:
        raise _fail(source, where, "give exactly one of key, keys or tag")
    keys: tuple[str, ...] = ()
    tags: tuple[tuple[str, str], ...] = ()
    if "key" in r:
        keys = (_str(r["key"], source, f"{where}.key"),)
    elif "keys" in r:
        keys = _str_list(r["keys"], source, f"{where}.keys")
    else:
        if not isinstance(r["tag"], dict) or not r["tag"]:
            raise _fail(source, f"{where}.tag", "expected a mapping of tag key to value")
        tags = tuple(sorted((_str(k, source, f"{where}.tag"), _str(v, source, f"{where}.tag.{k}")) for k, v in r["tag"].items()))
    check = _str_list(r.get("check", list(DEFAULT_CHECK)), source, f"{where}.check")
    bad = [c for c in check if c not in CLASSES]
    if bad:
        raise _fail(source, f"{where}.check", f"{bad[0]!r} is not one of {', '.join(CLASSES)}")
    raw_allow = r.get("allow", [])
    if not isinstance(raw_allow, list):
        raise _fail(source, f"{where}.allow", "expected a list")
    allow = []
    for j, a in enumerate(raw_allow):
        aw = f"{where}.allow[{j}]"
        if isinstance(a, str):
            a = {"principal": a}
        if not isinstance(a, dict):
            raise _fail(source, aw, "expected a mapping (principal, account, operations)")
        unknown = set(a) - {"principal", "account", "operations"}
        if unknown:
            raise _fail(source, aw, f"unknown field(s) {', '.join(sorted(map(str, unknown)))}")
        if "principal" not in a and "account" not in a:
            raise _fail(source, aw, "give principal or account")
        allow.append(
            Allow(
                principal=_str(a["principal"], source, f"{aw}.principal") if "principal" in a else None,
                account=_account(a["account"], source, f"{aw}.account") if "account" in a else None,
                operations=_operations(a["operations"], source, f"{aw}.operations") if "operations" in a else (),
            )
        )
    name = _str(r["name"], source, f"{where}.name") if "name" in r else (
        ", ".join(keys) if keys else "tag " + ", ".join(f"{k}={v}" for k, v in tags)
    )
    return Rule(
        index=i,
        name=name,
        keys=keys,
        tags=tags,
        account=_account(r["account"], source, f"{where}.account") if "account" in r else None,
        region=_str(r["region"], source, f"{where}.region") if "region" in r else None,
        check=check,
        allow=tuple(allow),
    )


def _rule_keys(store: Store, rule: Rule) -> list[str]:
    found: set[str] = set()
    for spec in rule.keys:
        found.update(match_keys(store, spec, rule.account, rule.region))
        rows = store.query(
            "SELECT DISTINCT target_key_arn FROM inventory_aliases WHERE target_key_arn IS NOT NULL AND "
            "(alias_arn = ? OR (alias_name = ? AND (? IS NULL OR account = ?) AND (? IS NULL OR region = ?)))"
            " UNION SELECT arn FROM inventory_keys WHERE arn = ? OR key_id = ?",
            [spec, spec, rule.account, rule.account, rule.region, rule.region, spec, spec],
        )
        found.update(r[0] for r in rows)
    if rule.tags:
        sets = []
        for k, v in rule.tags:
            rows = store.query("SELECT DISTINCT arn FROM inventory_tags WHERE tag_key = ? AND tag_value = ?", [k, v])
            sets.append({r[0] for r in rows})
        found.update(set.intersection(*sets) if sets else set())
    out = []
    for key in sorted(found):
        parts = key.split(":")
        if len(parts) < 6 or (rule.account and parts[4] != rule.account) or (rule.region and parts[3] != rule.region):
            continue
        out.append(key)
    return out


def check_expectations(store: Store, expectations: Expectations, filters: Filters = NO_FILTERS) -> CheckResult:
    """Violations of every rule in the window of ``filters`` (its since/until)."""
    warnings: list[str] = []
    unevaluated: list[str] = []
    violations: list[Violation] = []
    no_tags = _why_no_tags(store)
    checked: set[str] = set()
    for rule in expectations.rules:
        label = f"rules[{rule.index}] ({rule.name})"
        if rule.tags and no_tags is not None:
            inventory_taken, why = no_tags
            # without an inventory the rule cannot be judged; an inventory without tags is an answer
            (warnings if inventory_taken else unevaluated).append(f"{label}: {why}")
            continue
        keys = _rule_keys(store, rule)
        if not keys:
            warnings.append(f"{label}: matches no key in the store{_nearest_hint(store, rule)}")
            continue
        checked.update(keys)
        window = Filters(since=filters.since, until=filters.until)
        where, params = window.where(store)
        rows = store.query(
            f"""SELECT key, principal, any_value(identity_account), category, event_name, count(*),
                       min(event_time), max(event_time),
                       list(coalesce(event_id, '?') ORDER BY event_time, event_id)[1:3]
                FROM key_use WHERE {where} AND key IN (SELECT unnest(?::VARCHAR[]))
                  AND category IN (SELECT unnest(?::VARCHAR[]))
                GROUP BY key, principal, category, event_name ORDER BY ALL""",  # noqa: S608
            [*params, keys, list(rule.check)],
        )
        found: dict[tuple[str, str, str], list[Any]] = {}
        for key, principal, ident_acct, category, event_name, n, first, last, ev in rows:
            acct = ident_acct or account_of(principal)
            if any(a.covers(principal, acct, category, event_name) for a in rule.allow):
                continue
            v = found.setdefault((key, principal, category), [set(), 0, first, last, []])
            v[0].add(event_name)
            v[1] += int(n)
            v[2] = min(v[2], first)
            v[3] = max(v[3], last)
            v[4] = list(dict.fromkeys([*v[4], *ev]))[:3]
        for (key, principal, category), (names, n, first, last, ev) in sorted(found.items()):
            violations.append(
                Violation(rule.name, key, principal, category, sorted(names), n, iso(first), iso(last), list(ev))
            )
    return CheckResult(violations, warnings, len(checked), unevaluated)


def _why_no_tags(store: Store) -> tuple[bool, str] | None:
    """Why a rule that selects keys by tag can select none: whether an inventory was taken, and
    what it lacks (None when the inventory shows tags)."""
    if store.query("SELECT 1 FROM inventory_tags LIMIT 1"):
        return None
    ((keys, taken),) = store.query("SELECT count(*), max(taken_at) FROM inventory_keys")
    if not keys:
        return False, ("not evaluated: it selects keys by tag, and the store holds no inventory of keys and their tags "
                       "(take one with keytrail inventory)")
    return True, (f"matches no key: it selects keys by tag, and the inventory (taken {iso(taken)}, {keys} key(s)) "
                  "shows no tag on any key")


def _nearest_hint(store: Store, rule: Rule) -> str:
    """"; did you mean ...?" for a rule's key names the store does not know."""
    if not rule.keys:
        return ""
    known = known_names(store)
    near = sorted({n for spec in rule.keys for n in nearest(spec, known)})
    return f"; did you mean {' or '.join(near)}?" if near else ""


def load_expectations(path: str) -> Expectations:
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise UsageError(*said(_("{file} {path}: cannot read: {error}"), file=EXPECTATIONS, path=path,
                               error=e.strerror or e)) from e
    return parse_expectations(text, path)
