"""Denied attempts: failed calls per key and principal, with their error codes -- never use.

Failures that only say the key is disabled or pending deletion are the ``key_state`` findings.
Failed calls on keys never seen to exist -- no successful call in the store, no alias pointing to
them, not in an inventory: invented key ids, probing -- are one finding per principal and error
code when they name several keys, not one per invented key.
"""

from __future__ import annotations

from keytrail.analysis.findings.base import KEY_STATE_SQL, LOW, MEDIUM, Finding, key_label
from keytrail.analysis.findings.context import Context
from keytrail.analysis.policy import account_of
from keytrail.i18n import _, ngettext
from keytrail.times import maybe_iso as iso

KINDS = ("denied-attempts",)


def find(ctx: Context) -> list[Finding]:
    where, params = ctx.window()
    denied = f"{where} AND category = 'denied' AND {KEY_STATE_SQL} IS NULL"
    seen = _seen_keys(ctx)
    grouped = (
        f"""{denied} AND key NOT IN ({seen}) AND (principal, coalesce(error_code, '?')) IN (
                SELECT (principal, coalesce(error_code, '?')) FROM key_use WHERE {denied} AND key NOT IN ({seen})
                GROUP BY ALL HAVING count(DISTINCT key) > 1)"""  # noqa: S608
    )
    out = _per_key(ctx, f"{denied} AND NOT ({grouped})", [*params, *params, *params])
    return out + _never_seen(ctx, grouped, [*params, *params])


def _seen_keys(ctx: Context) -> str:
    """SQL: the keys seen to exist -- a successful call, an alias pointing to them, an inventory."""
    inventory = " UNION SELECT arn FROM inventory_keys" if ctx.store.query(
        "SELECT 1 FROM information_schema.tables WHERE table_name = 'inventory_keys'") else ""
    return ("SELECT key FROM key_use WHERE category <> 'denied' AND key IS NOT NULL"  # noqa: S608
            f" UNION SELECT target_key FROM alias_history WHERE target_key IS NOT NULL{inventory}")


def _never_seen(ctx: Context, cond: str, params: list[object]) -> list[Finding]:
    """One finding per principal and error code: failed calls on several keys never seen to exist."""
    rows = ctx.store.query(
        f"""SELECT principal, coalesce(error_code, '?') AS code, count(*), count(DISTINCT key),
                   list(DISTINCT key ORDER BY key)[1:{int(EXAMPLE_KEYS)}], min(event_time), max(event_time),
                   list(DISTINCT event_name ORDER BY event_name), any_value(identity_account), any_value(key_account)
            FROM key_use WHERE {cond} GROUP BY ALL ORDER BY principal, code""",  # noqa: S608
        params,
    )
    evidence = ctx.evidence(cond, params, ["principal", "error_code"])
    out = []
    for principal, code, n, keys, examples, first, last, ops, ident_acct, key_acct in rows:
        caller_acct = ident_acct or account_of(principal)
        foreign = bool(caller_acct and key_acct and caller_acct != key_acct)
        out.append(
            Finding(
                kind="denied-attempts",
                severity=MEDIUM if "AccessDenied" in code and foreign else LOW,
                key=None,
                principal=principal,
                summary=ngettext("{principal}: {n} failed call on {keys} keys never seen to exist ({code})",
                                 "{principal}: {n} failed calls on {keys} keys never seen to exist ({code})", int(n)).format(
                    principal=principal, n=int(n), keys=int(keys), code=code),
                recommendation=_(
                    "Find what calls with these key ids: a key deleted long ago and still configured, ids made up by "
                    "a script, or probing from another account"
                ) if foreign else _(
                    "Find what calls with these key ids: a key deleted long ago and still configured, ids made up by "
                    "a script, or probing"
                ),
                evidence=tuple(evidence.get((principal, None if code == "?" else code), [])),
                evidence_count=int(n),
                details={
                    "failed_calls": int(n),
                    "error_code": code,
                    "keys_never_seen": int(keys),
                    "example_keys": list(examples),
                    "operations": list(ops),
                    "first": iso(first),
                    "last": iso(last),
                    "caller_account": caller_acct,
                    "cross_account": foreign,
                },
            )
        )
    return out


EXAMPLE_KEYS = 10  # key ids named in a finding on keys never seen to exist


def _per_key(ctx: Context, cond: str, params: list[object]) -> list[Finding]:
    rows = ctx.store.query(
        f"""WITH d AS (SELECT key, principal, coalesce(error_code, '?') AS code, event_name, event_time,
                              identity_account, key_account, key_resolved FROM key_use WHERE {cond}),
                 codes AS (SELECT key, principal, code, count(*) AS n FROM d GROUP BY ALL),
                 by_code AS (SELECT key, principal, list({{'code': code, 'n': n}} ORDER BY n DESC, code) AS codes
                             FROM codes GROUP BY ALL)
            SELECT d.key, d.principal, count(*), min(event_time), max(event_time),
                   list(DISTINCT event_name ORDER BY event_name), any_value(identity_account),
                   any_value(key_account), bool_and(key_resolved), any_value(by_code.codes)
            FROM d JOIN by_code USING (key, principal) GROUP BY d.key, d.principal ORDER BY d.key, d.principal""",  # noqa: S608
        params,
    )
    evidence = ctx.evidence(cond, params, ["key", "principal"])
    out: list[Finding] = []
    for key, principal, n, first, last, ops, ident_acct, key_acct, resolved, codes in rows:
        caller_acct = ident_acct or account_of(principal)
        foreign = bool(caller_acct and key_acct and caller_acct != key_acct)
        by_code = {c["code"]: int(c["n"]) for c in codes}
        access = any("AccessDenied" in c for c in by_code)
        severity = MEDIUM if access and (foreign or principal.startswith("AWSAccount:")) else LOW
        name = key_label(key) if resolved else _("{key} (alias not resolved)").format(key=key)
        out.append(
            Finding(
                kind="denied-attempts",
                severity=severity,
                key=key,
                principal=principal,
                summary=ngettext("{principal}: {n} failed call on {key} ({codes})",
                                 "{principal}: {n} failed calls on {key} ({codes})", int(n)).format(
                    principal=principal, n=int(n), key=name, codes=", ".join(by_code)),
                recommendation=_(
                    "If this caller needs the key, allow it (key policy, grant or IAM policy); if not, find "
                    "what keeps calling (stale configuration, or probing from another account)"
                ) if foreign else _(
                    "If this caller needs the key, allow it (key policy, grant or IAM policy); if not, find "
                    "what keeps calling (stale configuration, or probing)"
                ),
                evidence=tuple(evidence.get((key, principal), [])),
                evidence_count=int(n),
                details={
                    "failed_calls": int(n),
                    "error_codes": by_code,
                    "operations": list(ops),
                    "first": iso(first),
                    "last": iso(last),
                    "caller_account": caller_acct,
                    "cross_account": foreign,
                    "key_resolved": bool(resolved),
                },
            )
        )
    return out
