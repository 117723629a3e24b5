"""Observed principals as a key policy names them.

keytrail's canonical principals (README "How calls are counted") become ``Principal`` entries:
IAM roles (the role ARN with its path) and users as they are; federated-user sessions by their
``arn:aws:sts::ACCOUNT:federated-user/NAME`` ARN; AWS services by their service principal; the
root user as its account's ARN with an ``aws:PrincipalArn`` condition that limits the statement
to the root user (the account ARN alone means the whole account: IAM User Guide, ``aws:PrincipalArn``);
another account's hidden callers (``AWSAccount:ACCOUNT:UNIQUEID``) by their account -- that
account's IAM policies then decide which of its principals may. Anything else (Identity Center
users, SAML and web-identity users, a name that is not a valid ARN) cannot be named in a key
policy. Only well-formed ARNs and service names are written: a log can hold any text, and a key
policy may hold only printable ASCII and Latin-1.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from keytrail.i18n import _

_NAME = r"[\w+=,.@-]{1,128}"
_IAM = re.compile(rf"arn:(aws[a-z-]*):iam::(\d{{12}}):(role|user)(/(?:[\w+=,.@-]{{1,128}}/){{0,16}})({_NAME})\Z", re.ASCII)
_ROOT = re.compile(r"arn:(aws[a-z-]*):iam::(\d{12}):root\Z", re.ASCII)
_FEDERATED = re.compile(rf"arn:(aws[a-z-]*):sts::(\d{{12}}):federated-user/({_NAME})\Z", re.ASCII)
_SERVICE = re.compile(r"[a-z0-9][a-z0-9.-]{0,100}\.amazonaws\.com(\.cn)?\Z", re.ASCII)
_HIDDEN = re.compile(r"AWSAccount:(\d{12}):", re.ASCII)

ROOT_ONLY = ("ArnEquals", "aws:PrincipalArn")


@dataclass(frozen=True)
class Who:
    """An observed principal as a key policy statement names it."""

    kind: str  # AWS | Service
    value: str  # the Principal entry
    root_user: bool = False  # the account's root user only: the statement carries ROOT_ONLY
    hidden_account: bool = False  # another account's hidden callers, named by their account
    how: str = ""  # how it is named, when that is not plain

    @property
    def label(self) -> str:
        return self.value

    def scope(self) -> dict[str, dict[str, object]]:
        """Conditions that belong to the name itself (not to the evidence)."""
        return {ROOT_ONLY[0]: {ROOT_ONLY[1]: self.value}} if self.root_user else {}


def who_of(principal: str, principal_type: str | None, partition: str = "aws") -> Who | None:
    """How a key policy names ``principal``; None when it cannot."""
    if _IAM.match(principal) or _FEDERATED.match(principal):
        return Who("AWS", principal)
    if _ROOT.match(principal):
        return Who("AWS", principal, root_user=True, how=_("the root user only (aws:PrincipalArn)"))
    m = _HIDDEN.match(principal)
    if m:
        return Who(
            "AWS", f"arn:{partition}:iam::{m[1]}:root", hidden_account=True,
            how=_("callers of account {account} that CloudTrail hides: named by their account, whose IAM policies "
                  "decide").format(account=m[1]),
        )  # fmt: skip
    if principal_type in (None, "AWSService") and _SERVICE.match(principal):
        return Who("Service", principal)
    return None


def same_iam_entity(a: str, b: str) -> bool:
    """Two IAM ARNs of one role or user, written with different paths."""
    x, y = _IAM.match(a), _IAM.match(b)
    return bool(x and y and x[2] == y[2] and x[3] == y[3] and x[5] == y[5])


_LITERAL = re.compile(r"[ -~]{1,1024}\Z", re.ASCII)


def literal_ok(value: str) -> bool:
    """Whether a value seen in a log may be written into a condition as it is: printable ASCII, at
    most 1 KB, and no policy variable (``${...}`` would be evaluated, not compared)."""
    return _LITERAL.match(value) is not None and "${" not in value
