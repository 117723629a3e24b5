"""Who still depends on a key that is disabled or pending deletion.

Per key in that state (from the inventory, the archive's ScheduleKeyDeletion / DisableKey /
CancelKeyDeletion / EnableKey, or the failures that reveal it): ``key-pending-deletion`` /
``key-disabled``, with the principals that still call it and those that used it in the window.
Per principal still calling: ``pending-deletion-use`` / ``disabled-key-use`` --
``KMSInvalidStateException`` "... is pending deletion." (or "key state is PendingDeletion") and
``DisabledException``. Other ``KMSInvalidStateException`` messages (external key store errors,
pending import) are reported with the other denied attempts.
"""

from __future__ import annotations

from keytrail.analysis.findings.base import (
    CRYPTO,
    HIGH,
    KEY_STATE_SQL,
    LOW,
    MEDIUM,
    Finding,
    key_label,
    local_iso,
)
from keytrail.analysis.findings.context import Context
from keytrail.i18n import _, ngettext
from keytrail.times import maybe_iso as iso

KINDS = ("key-pending-deletion", "pending-deletion-use", "key-disabled", "disabled-key-use")

_KIND = {"pending-deletion": "pending-deletion-use", "disabled": "disabled-key-use"}


def find(ctx: Context) -> list[Finding]:
    return _per_key(ctx) + _per_principal(ctx)


_STATE_KIND = {"PendingDeletion": "key-pending-deletion", "PendingReplicaDeletion": "key-pending-deletion",
               "Disabled": "key-disabled"}
_STATE_EVENTS = ("ScheduleKeyDeletion", "DisableKey", "CancelKeyDeletion")


def _per_key(ctx: Context) -> list[Finding]:  # long: one finding per key state, with who still calls it
    keys = {k: f for k, f in ctx.catalogue.items() if f.state in _STATE_KIND}
    if not keys:
        return []
    where, params = ctx.window()
    arg = sorted(keys)
    failing: dict[str, list[str]] = {}
    for key, principals in ctx.store.query(
        f"""SELECT key, list(DISTINCT principal ORDER BY principal) FROM key_use
            WHERE {where} AND category = 'denied' AND {KEY_STATE_SQL} IS NOT NULL
              AND key IN (SELECT unnest(?::VARCHAR[])) GROUP BY key""",  # noqa: S608
        [*params, arg],
    ):
        failing[key] = list(principals)
    users: dict[str, list[str]] = {}
    for key, principals in ctx.store.query(
        f"""SELECT key, list(DISTINCT principal ORDER BY principal) FROM key_use
            WHERE {where} AND category IN {CRYPTO} AND key IN (SELECT unnest(?::VARCHAR[])) GROUP BY key""",  # noqa: S608
        [*params, arg],
    ):
        users[key] = list(principals)
    names = "', '".join(_STATE_EVENTS)
    ev_cond = (
        f"key IN (SELECT unnest(?::VARCHAR[])) AND ((category = 'admin' AND event_name IN ('{names}'))"
        f" OR (category = 'denied' AND {KEY_STATE_SQL} IS NOT NULL))"
    )
    evidence = ctx.evidence(f"{where} AND {ev_cond}", [*params, arg], ["key"])
    out: list[Finding] = []
    for key in arg:
        f = keys[key]
        kind = _STATE_KIND[f.state or ""]
        still, recent = failing.get(key, []), users.get(key, [])
        pending = kind == "key-pending-deletion"
        if not pending:
            what = _("disabled")
        elif f.deletion_date:
            what = _("pending deletion (deletion date {time})").format(time=local_iso(f.deletion_date))
        else:
            what = _("pending deletion")
        if still:
            severity = HIGH if pending else MEDIUM
            rec = _(
                "Principals still call it: cancel the deletion (CancelKeyDeletion) if they need it, or move them "
                "to another key before the deletion date"
            ) if pending else _("Principals still call it: re-enable it if they need it, or move them to another key")
        elif recent:
            severity = MEDIUM
            rec = (
                _("It was used in the window: confirm those principals no longer need it before the deletion date")
                if pending else _("It was used in the window: confirm those principals no longer need it before deleting it")
            )
        else:
            severity = LOW
            rec = (
                _("No use and no failed call in the window: the deletion is safe as far as this archive shows")
                if pending else
                _("No use and no failed call in the window: schedule its deletion if it is no longer needed")
            )
        ev = tuple(evidence.get((key,), []))
        out.append(
            Finding(
                kind=kind,
                severity=severity,
                key=key,
                summary=_("{key} is {what}: {still}, {recent}").format(
                    key=key_label(key), what=what,
                    still=ngettext("{n} principal still calls it", "{n} principals still call it", len(still)).format(
                        n=len(still)),
                    recent=ngettext("{n} principal used it in the window", "{n} principals used it in the window",
                                    len(recent)).format(n=len(recent)),
                ),
                recommendation=rec,
                evidence=ev,
                evidence_count=len(ev),
                details={
                    "state": f.state,
                    "state_basis": f.state_basis,
                    "state_since": f.state_since,
                    "deletion_date": f.deletion_date,
                    "still_calling": still,
                    "used_in_window": recent,
                    "last_use": f.last_use,
                    "aliases": f.aliases,
                },
            )
        )
    return out


def _per_principal(ctx: Context) -> list[Finding]:
    where, params = ctx.window()
    cond = f"{where} AND category = 'denied' AND {KEY_STATE_SQL} IS NOT NULL"
    rows = ctx.store.query(
        f"""SELECT key, principal, {KEY_STATE_SQL} AS state, count(*), min(event_time), max(event_time),
                   list(DISTINCT event_name ORDER BY event_name), list(DISTINCT error_code ORDER BY error_code),
                   any_value(key_resolved)
            FROM key_use WHERE {cond} GROUP BY key, principal, state ORDER BY key, principal, state""",  # noqa: S608
        params,
    )
    if not rows:
        return []
    pairs = sorted({(r[0], r[1]) for r in rows})
    last_ok = {
        (k, p): t
        for k, p, t in ctx.store.query(
            """SELECT key, principal, max(event_time) FROM key_use
               WHERE category IN ('encrypt', 'decrypt', 'sign')
                 AND key IN (SELECT unnest(?::VARCHAR[])) GROUP BY key, principal""",
            [sorted({pair[0] for pair in pairs})],
        )
    }
    evidence = ctx.evidence(cond, params, ["key", "principal"])
    out: list[Finding] = []
    for key, principal, state, n, first, last, ops, codes, _resolved in rows:
        kind = _KIND[state]
        ok = iso(last_ok.get((key, principal)))
        severity, summary, rec = _still_calling(state, principal, key, int(n))
        out.append(
            Finding(
                kind=kind,
                severity=severity,
                key=key,
                principal=principal,
                summary=summary,
                recommendation=rec,
                evidence=tuple(evidence.get((key, principal), [])),
                evidence_count=int(n),
                details={
                    "failed_calls": int(n),
                    "first_failed": iso(first),
                    "last_failed": iso(last),
                    "operations": list(ops),
                    "error_codes": list(codes),
                    "last_successful_use": ok,
                },
            )
        )
    return out


def _still_calling(state: str, principal: str, key: str, n: int) -> tuple[str, str, str]:
    """Severity, summary and recommendation of a principal still calling a key in ``state``."""
    if state == "pending-deletion":
        summary = ngettext(
            "{principal} still calls {key}, which is pending deletion ({n} failed call)",
            "{principal} still calls {key}, which is pending deletion ({n} failed calls)", n,
        ).format(principal=principal, key=key_label(key), n=n)
        return HIGH, summary, _(
            "If it still needs the key, cancel the deletion (CancelKeyDeletion) before the deletion date; "
            "otherwise move it to another key: data encrypted under this key becomes unrecoverable"
        )
    summary = ngettext("{principal} still calls disabled {key} ({n} failed call)",
                       "{principal} still calls disabled {key} ({n} failed calls)", n).format(
        principal=principal, key=key_label(key), n=n)
    return MEDIUM, summary, _(
        "Re-enable the key if this caller still needs it, or move the caller to another key before deleting it")
