"""Unused keys: customer managed keys with no successful cryptographic call in the window.

The keys come from the inventory where one covers the key's account and Region, else from what
the archive shows (see ``keyfacts``). A key is called unused only when the archive holds KMS
cryptographic calls of its account and Region in the window; otherwise the trail may exclude KMS
or read-only events, or not cover the window, and the finding is ``no-evidence`` instead.
"""

from __future__ import annotations

from keytrail.analysis.findings.base import (
    CRYPTO,
    INFO,
    LOW,
    MEDIUM,
    Finding,
    key_label,
    local_iso,
    state_word,
)
from keytrail.analysis.findings.context import Context
from keytrail.analysis.findings.keyfacts import CUSTOMER, KeyFacts
from keytrail.i18n import _

KINDS = ("unused-key", "no-evidence")


def find(ctx: Context) -> list[Finding]:  # long: the unused and no-evidence findings decided together, key by key
    catalogue = ctx.catalogue
    where, params = ctx.window()
    used = {r[0] for r in ctx.store.query(f"SELECT DISTINCT key FROM key_use WHERE {where} AND category IN {CRYPTO}", params)}  # noqa: S608
    candidates = sorted(k for k, f in catalogue.items() if f.manager == CUSTOMER and k not in used)
    if not candidates:
        return []
    # what the window shows of each candidate: its management calls and failed calls
    activity: dict[str, tuple[int, int]] = {}
    for key, admin, denied in ctx.store.query(
        f"""SELECT key, count(*) FILTER (WHERE category = 'admin'), count(*) FILTER (WHERE category = 'denied')
            FROM key_use WHERE {where} AND key IN (SELECT unnest(?::VARCHAR[])) GROUP BY key""",  # noqa: S608
        [*params, candidates],
    ):
        activity[key] = (int(admin), int(denied))
    ev_where = "key IN (SELECT unnest(?::VARCHAR[])) AND category <> 'denied'"
    evidence = ctx.evidence(f"{where} AND {ev_where}", [*params, candidates], ["key"])
    out: list[Finding] = []
    for key in candidates:
        f = catalogue[key]
        cov = ctx.coverage.get((f.account, f.region))
        admin, denied = activity.get(key, (0, 0))
        details = _details(f, admin, denied, cov)
        ev = tuple(evidence.get((key,), []))
        if cov is None:
            out.append(
                Finding(
                    kind="no-evidence",
                    severity=INFO,
                    key=key,
                    summary=_(
                        "{key}: cannot tell whether it is used: the archive holds no KMS "
                        "cryptographic calls of account {account} in {region} in the window"
                    ).format(key=key_label(key), account=f.account, region=f.region),
                    recommendation=_(
                        "Check that the trail logs KMS events (no KMS event exclusion, read-only events "
                        "included) and covers the window before concluding the key is unused"
                    ),
                    evidence=ev,
                    evidence_count=admin,
                    details=details,
                )
            )
            continue
        state = f.state or "unknown"
        if state in ("PendingDeletion", "Disabled", "Deleted", "PendingReplicaDeletion"):
            severity = LOW
            rec = (
                _("No use in the window while scheduled for deletion: the deletion is safe as far as this archive shows")
                if state in ("PendingDeletion", "PendingReplicaDeletion")
                else _("No use in the window while {state}: schedule its deletion").format(state=state_word(state))
            )
        else:
            severity = MEDIUM
            rec = _(
                "No successful cryptographic call in the window: confirm with its owners, disable it, "
                "and schedule its deletion after a waiting period"
            )
        last = _(" (last use {time})").format(time=local_iso(f.last_use)) if f.last_use else _(" (no use in the archive)")
        out.append(
            Finding(
                kind="unused-key",
                severity=severity,
                key=key,
                summary=_("{key}: customer managed, {state}, no cryptographic use in the window{last}").format(
                    key=key_label(key), state=state, last=last),
                recommendation=rec,
                evidence=ev,
                evidence_count=admin,
                details=details,
            )
        )
    return out


def _details(f: KeyFacts, admin: int, denied: int, cov: tuple[int, str | None, str | None] | None) -> dict[str, object]:
    return {
        "account": f.account,
        "region": f.region,
        "manager": f.manager,
        "manager_basis": f.manager_basis,
        "state": f.state,
        "state_basis": f.state_basis,
        "deletion_date": f.deletion_date,
        "aliases": f.aliases,
        "last_use": f.last_use,
        "last_use_inventory": f.last_use_inventory,
        "in_inventory": f.in_inventory,
        "management_calls_in_window": admin,
        "failed_calls_in_window": denied,
        "coverage": None if cov is None else {"crypto_calls": cov[0], "first": cov[1], "last": cov[2]},
    }
