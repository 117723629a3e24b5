"""Evidence that disagrees with itself: copies of one call that differ in content, and a unique id
shown with several ARNs. keytrail never settles these by file order or by name; it counts what
the rules allow and says so here.

* ``conflicting-copies``: records with one eventID, eventName and eventTime (a re-delivery, by
  the rules: one call) that differ in the caller or the outcome. One of them is not a
  re-delivery -- a forged or altered copy, or tooling that reuses eventIDs. A copy from a file
  covered by a verified digest chain is the one counted.
* ``identity-conflict``: a role's or user's unique id shown with more than one ARN in its
  account (an IAM user renamed, or a forged record); hidden callers with that id keep their
  ``AWSAccount:`` name.
"""

from __future__ import annotations

from keytrail.analysis.clashes import CONFLICTING_COPIES, event_id_clashes, identity_conflicts
from keytrail.analysis.findings.base import LOW, MEDIUM, Evidence, Finding
from keytrail.analysis.findings.context import Context
from keytrail.i18n import _, ngettext

KINDS = ("conflicting-copies", "identity-conflict")


def find(ctx: Context) -> list[Finding]:
    out: list[Finding] = []
    for clash in event_id_clashes(ctx.store):
        if clash.kind != CONFLICTING_COPIES:
            continue
        name, _space, when = clash.events[0].partition(" ")
        out.append(
            Finding(
                kind="conflicting-copies",
                severity=MEDIUM,
                key=None,
                summary=ngettext(
                    "eventID {event_id}: {n} record of one call that disagree on the caller or the outcome",
                    "eventID {event_id}: {n} records of one call that disagree on the caller or the outcome",
                    clash.records,
                ).format(event_id=clash.event_id, n=clash.records),
                recommendation=_(
                    "Find which copy CloudTrail delivered: ingest with --verify so that only copies covered by a "
                    "signed digest are read, and look at where the others came from"
                ),
                evidence=(Evidence(clash.event_id, when, name),),
                evidence_count=clash.records,
                details={"event_id": clash.event_id, "records": clash.records, "events": clash.events},
            )
        )
    for conflict in identity_conflicts(ctx.store):
        out.append(
            Finding(
                kind="identity-conflict",
                severity=MEDIUM if conflict.hidden_calls else LOW,
                key=None,
                summary=_("unique id {unique_id} is shown as {arns}").format(
                    unique_id=conflict.unique_id, arns=", ".join(conflict.arns))
                + (ngettext("; {n} call by it stays unnamed", "; {n} calls by it stay unnamed", conflict.hidden_calls)
                   .format(n=conflict.hidden_calls) if conflict.hidden_calls else ""),
                recommendation=_(
                    "Check the principal's history in IAM (a user renamed keeps its unique id); a role id shown with "
                    "another role's ARN is not how CloudTrail writes it"
                ),
                evidence_count=conflict.hidden_calls,
                details={"unique_id": conflict.unique_id, "arns": conflict.arns, "hidden_calls": conflict.hidden_calls},
            )
        )
    return out
