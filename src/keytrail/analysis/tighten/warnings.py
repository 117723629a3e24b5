"""Honesty about the window: what the evidence behind a proposal cannot show, said next to it.

Each warning has a ``kind`` (stable, for machines) and a message: a window shorter than
``min_days`` (rare uses -- a monthly job, a yearly restore -- may not be in it); an archive that
holds no KMS calls of the key's account and Region, or days without any (the trail may exclude
KMS or read-only events there: keytrail's "no evidence" logic); use the current policy leaves to
IAM, or that neither it nor the grants explain (a grant or a policy change the inventory does not
show); no inventory (the current policy is unknown); principals no key policy can name; calls
whose conditions the records cannot settle; the key's state.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from keytrail.analysis.findings.keyfacts import UNKNOWN, KeyFacts
from keytrail.analysis.tighten.drafting import Draft
from keytrail.analysis.tighten.observed import CallGroup, Window
from keytrail.analysis.tighten.replay import Replay
from keytrail.i18n import _


@dataclass(frozen=True)
class Warning:
    kind: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "message": self.message}


def _days(n: float) -> str:
    return _("{n} days").format(n=f"{n:.1f}" if n < 10 else f"{n:.0f}")


def honesty(  # long: one check after another, in the order the module docstring lists them
    key: str,
    facts: KeyFacts | None,
    window: Window,
    min_days: float,
    has_inventory: bool,
    draft: Draft,
    old: Replay | None,
    new: Replay,
    groups: Sequence[CallGroup],
    kms_calls: int,
    notes: Sequence[str],
) -> list[Warning]:
    out: list[Warning] = []
    account, region = key.split(":")[4], key.split(":")[3]
    if window.days is not None and window.days < min_days:
        out.append(Warning("short-window", (
            _("the window is {days}, under {min_days}: uses rarer than that (a monthly job, a quarterly report, a restore "
              "from backup) are not in it and would be denied; widen the window").format(
                days=_days(window.days), min_days=f"{min_days:g}"))))
    if window.coverage_calls == 0:
        out.append(Warning("no-evidence", (
            _("the archive holds no KMS cryptographic call of account {account} in {region} in the window: the trail "
              "may exclude KMS or read-only events there, or not cover the window; absence of use is not shown, and "
              "the proposal would take every cryptographic permission away").format(account=account, region=region))))
    elif window.days_without_logs:
        gaps = window.days_without_logs
        out.append(Warning("coverage-gaps", (
            _("{n} day(s) of the window have no KMS call of account {account} in {region} in the archive ({days}): use "
              "on those days is not seen").format(n=len(gaps), account=account, region=region,
                                                  days=", ".join(gaps[:5]) + (", ..." if len(gaps) > 5 else "")))))
    if not has_inventory:
        out.append(Warning("no-inventory", (
            _("no key policy of this key in the inventory (take one: keytrail inventory): the current policy is "
              "unknown, so nothing is listed as removed or kept, its key administrators and Deny statements are not "
              "carried over (the account alone keeps administration), its grants are not known, and use the current "
              "policy leaves to IAM cannot be told apart"))))
    if facts is None or facts.manager == UNKNOWN:
        out.append(Warning("manager-unknown", _("whether this key is customer managed is not known (no inventory, and "
                                                "the archive does not show it): AWS managed keys' policies cannot be "
                                                "changed")))
    if facts is not None and facts.state in ("PendingDeletion", "PendingReplicaDeletion", "Disabled"):
        out.append(Warning("key-state", _("the key is {state} ({basis}): its use in the window may not be its use from "
                                          "now on").format(state=facts.state, basis=facts.state_basis)))
    if not any(g.crypto for g in groups):
        out.append(Warning("no-crypto-use", _("no successful cryptographic call on this key in the window: the "
                                              "proposal allows no cryptographic use at all (see the unused-key "
                                              "finding)")))
    out += _from_replays(old, new)
    for principal, calls in draft.unnamed:
        out.append(Warning("unnamed-principal", _("{principal} made {n} call(s) but no key policy can name it (only IAM "
                                                  "roles, users, federated users, accounts and services)").format(
                                                      principal=principal, n=calls)))
    if any(g.principal.startswith(f"AWSAccount:{account}:") for g in groups):
        out.append(Warning("hidden-own-account", _("callers of the key's own account {account} are hidden: only the "
                                                   "account can be named, so its IAM policies decide for them").format(
                                                       account=account)))
    others = sorted({g.account for g in groups if g.account and g.account != account})
    if others:
        out.append(Warning("other-accounts", (
            _("principals of {n} other account(s) ({accounts}) use the key: they also need an IAM policy in their own "
              "account that allows it, and that cannot be read here").format(n=len(others),
                                                                           accounts=", ".join(others[:5])))))
    if kms_calls:
        out.append(Warning("kms-itself", _("{n} call(s) made by AWS KMS itself (rotation, deletion) are not authorized "
                                           "by the key policy and were not replayed").format(n=kms_calls)))
    out.append(Warning("not-evaluated", (
        _("IAM policies, SCPs and RCPs, VPC endpoint policies and grants created after the inventory are not read: "
          "the replay says what the key policy and the inventory's grants allow"))))
    out += [Warning("inventory", n) for n in notes]
    return out


def _from_replays(old: Replay | None, new: Replay) -> list[Warning]:
    out = []
    if old is not None and old.delegated:
        out.append(Warning("iam-delegation", (
            _("{n} call(s) of the window were allowed by the current policy only through the account principal (IAM "
              "policies decided, and they cannot be read here): the proposal names those principals directly for "
              "cryptographic use").format(n=old.delegated))))
    if old is not None and old.denied:
        who = sorted({i.principal for i in old.denied_calls})
        out.append(Warning("not-explained", (
            _("{n} call(s) succeeded that neither the current policy nor the inventory's grants allow ({principals}): "
              "a grant the inventory does not hold, or a policy change during the window; take a fresh inventory")
            .format(n=old.denied, principals=", ".join(who[:3]) + (", ..." if len(who) > 3 else "")))))
    if new.unverified:
        out.append(Warning("unverified", (
            _("{n} call(s) meet conditions the records cannot settle (kept from the current policy, or a service shown "
              "as 'AWS Internal'): check them by hand").format(n=new.unverified))))
    return out
