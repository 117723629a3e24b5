"""New principals: who uses a key in the window but did not in a baseline window before it.

The window is ``filters.since`` .. ``filters.until``; the baseline ``baseline_since`` ..
``baseline_until`` (by default: everything the store holds before ``since``). Use means a
successful call (cryptographic or management); failed calls are the denied findings. The
people behind a new role (``sessions``) are named in the details. When the
baseline holds no KMS calls of the key's account and Region, nothing can be new there: the
key is skipped and a note says so.
"""

from __future__ import annotations

from datetime import datetime

from keytrail.analysis.findings.base import HIGH, MEDIUM, Finding, key_label, local_iso
from keytrail.analysis.findings.context import Context
from keytrail.analysis.policy import account_of
from keytrail.i18n import _
from keytrail.normalize.operations import CRYPTO_SQL
from keytrail.times import maybe_iso as iso

KINDS = ("new-principal",)


def find(ctx: Context) -> list[Finding]:  # long: the baseline and the window, compared in one place
    o = ctx.options
    since = o.filters.since if o.filters.since is not None else o.baseline_until
    base_until = o.baseline_until if o.baseline_until is not None else since
    if since is None or base_until is None:
        ctx.notes.append("new-principal: " + _("give --since (or --baseline-since/--baseline-until) to compare with a baseline"))
        return []
    if base_until > since:
        ctx.notes.append("new-principal: " + _("the baseline must end before the window starts (--baseline-until <= --since)"))
        return []
    until = o.filters.until
    base_since = o.baseline_since
    covered = _accounts_with_calls(ctx, base_since, base_until)
    if not covered:
        ctx.notes.append(
            "new-principal: " + _("the baseline ({since} .. {until}) holds no KMS calls: nothing to compare with").format(
                since=local_iso(iso(base_since)) or _("start of the store"), until=local_iso(iso(base_until)))
        )
        return []
    cur_where, cur_params = ctx.time_only(since, until)
    base_where, base_params = ctx.time_only(base_since, base_until)
    rows = ctx.store.query(
        f"""WITH cur AS (SELECT * FROM key_use WHERE {cur_where} AND category <> 'denied'),
                 base AS (SELECT DISTINCT key, principal FROM key_use WHERE {base_where} AND category <> 'denied'),
                 base_p AS (SELECT DISTINCT principal FROM key_use WHERE {base_where} AND category <> 'denied')
            SELECT cur.key, cur.principal, any_value(principal_type), any_value(identity_account),
                   any_value(key_account), any_value(key_region), min(event_time), max(event_time), count(*),
                   count(*) FILTER (WHERE category IN {CRYPTO_SQL}),
                   list(DISTINCT event_name ORDER BY event_name),
                   bool_or(cur.principal IN (SELECT principal FROM base_p))
            FROM cur ANTI JOIN base ON base.key = cur.key AND base.principal = cur.principal
            GROUP BY cur.key, cur.principal ORDER BY cur.key, cur.principal""",  # noqa: S608
        [*cur_params, *base_params, *base_params],
    )
    skipped = 0
    kept = []
    for r in rows:
        if (r[4], r[5]) not in covered:
            skipped += 1
            continue
        kept.append(r)
    if skipped:
        ctx.notes.append(
            "new-principal: " + _("{n} (key, principal) pair(s) not reported: the baseline holds no KMS calls "
                                  "of their key's account and Region").format(n=skipped)
        )
    if not kept:
        return []
    evidence = ctx.evidence(f"{cur_where} AND category <> 'denied'", cur_params, ["key", "principal"])
    wanted = sorted({f"{r[0]}\x00{r[1]}" for r in kept})
    people = ctx.people_of(
        f"{cur_where} AND category <> 'denied' AND (key || chr(0) || principal) IN (SELECT unnest(?::VARCHAR[]))",
        [*cur_params, wanted],
    )
    out: list[Finding] = []
    for key, principal, ptype, ident_acct, key_acct, _region, first, last, n, crypto, ops, known in kept:
        caller_acct = ident_acct or account_of(principal)
        foreign = bool(caller_acct and caller_acct != key_acct)
        root = ptype == "Root" or principal.endswith(":root")
        severity = HIGH if foreign or root else MEDIUM
        scope = _("this key") if known else _("any key")
        out.append(
            Finding(
                kind="new-principal",
                severity=severity,
                key=key,
                principal=principal,
                summary=_("{principal} first used {key} at {time} (no use of {scope} in the baseline)").format(
                    principal=principal, key=key_label(key), time=local_iso(iso(first)), scope=scope),
                recommendation=_("Confirm this new caller is expected; if not, find who runs it and remove its access"),
                evidence=tuple(evidence.get((key, principal), [])),
                evidence_count=int(n),
                details={
                    "first_seen": iso(first),
                    "last_seen": iso(last),
                    "calls": int(n),
                    "crypto_calls": int(crypto),
                    "operations": list(ops),
                    "principal_type": ptype,
                    "new_to_all_keys": not known,
                    "people": people.get((key, principal), []),
                    "cross_account": foreign,
                    "baseline": {"since": iso(base_since), "until": iso(base_until)},
                },
            )
        )
    return out


def _accounts_with_calls(ctx: Context, since: datetime | None, until: datetime) -> set[tuple[str, str]]:
    where, params = ctx.time_only(since, until, scoped=False)
    rows = ctx.store.query(
        f"SELECT DISTINCT recipient_account, region FROM key_use WHERE {where} AND recipient_account IS NOT NULL",  # noqa: S608
        params,
    )
    return {(r[0], r[1]) for r in rows}
