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


@dataclass(frozen=True)
class Warning:
    kind: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "message": self.message}


def _days(n: float) -> str:
    return f"{n:.1f} days" if n < 10 else f"{n:.0f} days"


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
            f"the window is {_days(window.days)}, under {min_days:g}: uses rarer than that (a monthly job, a quarterly "
            "report, a restore from backup) are not in it and would be denied; widen the window")))
    if window.coverage_calls == 0:
        out.append(Warning("no-evidence", (
            f"the archive holds no KMS cryptographic call of account {account} in {region} in the window: the trail may "
            "exclude KMS or read-only events there, or not cover the window; absence of use is not shown, and the "
            "proposal would take every cryptographic permission away")))
    elif window.days_without_logs:
        gaps = window.days_without_logs
        out.append(Warning("coverage-gaps", (
            f"{len(gaps)} day(s) of the window have no KMS call of account {account} in {region} in the archive "
            f"({', '.join(gaps[:5])}{', ...' if len(gaps) > 5 else ''}): use on those days is not seen")))
    if not has_inventory:
        out.append(Warning("no-inventory", (
            "no key policy of this key in the inventory (take one: keytrail inventory): the current policy is unknown, "
            "so nothing is listed as removed or kept, its key administrators and Deny statements are not carried over "
            "(the account alone keeps administration), its grants are not known, and use the current policy leaves to "
            "IAM cannot be told apart")))
    if facts is None or facts.manager == UNKNOWN:
        out.append(Warning("manager-unknown", "whether this key is customer managed is not known (no inventory, and the "
                                              "archive does not show it): AWS managed keys' policies cannot be changed"))
    if facts is not None and facts.state in ("PendingDeletion", "PendingReplicaDeletion", "Disabled"):
        out.append(Warning("key-state", f"the key is {facts.state} ({facts.state_basis}): its use in the window may not "
                                        "be its use from now on"))
    if not any(g.crypto for g in groups):
        out.append(Warning("no-crypto-use", "no successful cryptographic call on this key in the window: the proposal "
                                            "allows no cryptographic use at all (see the unused-key finding)"))
    out += _from_replays(old, new)
    for principal, calls in draft.unnamed:
        out.append(Warning("unnamed-principal", f"{principal} made {calls} call(s) but no key policy can name it "
                                                "(only IAM roles, users, federated users, accounts and services)"))
    if any(g.principal.startswith(f"AWSAccount:{account}:") for g in groups):
        out.append(Warning("hidden-own-account", f"callers of the key's own account {account} are hidden: only the "
                                                     "account can be named, so its IAM policies decide for them"))
    others = sorted({g.account for g in groups if g.account and g.account != account})
    if others:
        out.append(Warning("other-accounts", (
            f"principals of {len(others)} other account(s) ({', '.join(others[:5])}) use the key: they also need an IAM "
            "policy in their own account that allows it, and that cannot be read here")))
    if kms_calls:
        out.append(Warning("kms-itself", f"{kms_calls} call(s) made by AWS KMS itself (rotation, deletion) are not "
                                         "authorized by the key policy and were not replayed"))
    out.append(Warning("not-evaluated", (
        "IAM policies, SCPs and RCPs, VPC endpoint policies and grants created after the inventory are not read: "
        "the replay says what the key policy and the inventory's grants allow")))
    out += [Warning("inventory", n) for n in notes]
    return out


def _from_replays(old: Replay | None, new: Replay) -> list[Warning]:
    out = []
    if old is not None and old.delegated:
        out.append(Warning("iam-delegation", (
            f"{old.delegated} call(s) of the window were allowed by the current policy only through the account "
            "principal (IAM policies decided, and they cannot be read here): the proposal names those principals "
            "directly for cryptographic use")))
    if old is not None and old.denied:
        who = sorted({i.principal for i in old.denied_calls})
        out.append(Warning("not-explained", (
            f"{old.denied} call(s) succeeded that neither the current policy nor the inventory's grants allow "
            f"({', '.join(who[:3])}{', ...' if len(who) > 3 else ''}): a grant the inventory does not hold, or a "
            "policy change during the window; take a fresh inventory")))
    if new.unverified:
        out.append(Warning("unverified", (
            f"{new.unverified} call(s) meet conditions the records cannot settle (kept from the current policy, or a "
            "service shown as 'AWS Internal'): check them by hand")))
    return out
