"""``--verify[=fail|exclude]`` and ``--public-keys`` on ingest and the reports: the options, the
verification run before anything is read, and what it says on stderr.

    keytrail: verification: SUMMARY                      always
    keytrail: verification failed: FILE: MESSAGE         each problem not about one log file
    keytrail: not verified: FILE: REASON                 each log file left out
    keytrail: error: --verify: ...                       fail mode: nothing read, exit 1
    keytrail: warning: --verify=exclude: N log file(s) left out ...   exclude mode

Exit codes (``exit_code`` in ``keytrail.cli.loading``): 1 when anything failed verification (in
``fail`` mode: when anything was not verified), else 3 when some input could not be read, else 0.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import click

from keytrail.cli.options import VerifyOptions
from keytrail.errors import UsageError, VerificationFailed
from keytrail.i18n import N_, _, ngettext
from keytrail.render import safe
from keytrail.verify.gate import Gate

LEVELS = {"failed": N_("failed"), "unreadable": N_("unreadable"), "warning": N_("warning")}  # a finding's level, said


def _say(line: str) -> None:
    click.echo(safe.escaped(line), err=True)  # file names and messages may quote log data


def verify_if_asked(sources: Sequence[str], asked: VerifyOptions, *, ingesting: bool = False) -> Gate | None:
    """Run digest verification when the command got --verify, and say what it found on stderr
    (even with --quiet: these are errors and warnings). Raises ``VerificationFailed`` when
    ``fail`` mode finds anything not verified, before anything is read."""
    mode = asked.mode
    if not mode:
        if asked.public_keys:
            raise UsageError(_("--public-keys is read with --verify"))
        return None
    if not sources:
        raise UsageError(_("--verify checks the digest files of the SOURCEs given: give SOURCE paths or URLs"))
    if not asked.public_keys:
        raise UsageError(_("--verify needs --public-keys FILE (the output of `aws cloudtrail list-public-keys` for the "
                           "archive's Regions and time range): without them no digest can be verified"))
    from keytrail.verify import load_public_keys, verify_archive

    keys = [k for path in asked.public_keys for k in load_public_keys(path)]
    gate = Gate(verify_archive(list(sources), keys), mode)
    click.echo("keytrail: " + _("verification: {summary}").format(summary=gate.report.summary()), err=True)
    left = {f.uri for f in gate.left_out}
    for finding in gate.report.findings:
        if finding.level != "note" and finding.uri not in left:
            _say("keytrail: " + _("verification {level}: {file}: {message}").format(
                level=_(LEVELS.get(finding.level, finding.level)), file=finding.uri or "-", message=finding.message))
    for f in gate.left_out:
        _say("keytrail: " + _("not verified: {file}: {reason}").format(file=f.uri, reason=f.reason))
    if gate.blocked:
        n = len(gate.left_out)
        if n:
            what = ngettext("{n} log file not verified", "{n} log files not verified", n).format(n=n)
        else:
            what = _("verification failed") if gate.report.failed else _("some input could not be read")
        raise VerificationFailed(
            _("--verify: {what}: nothing was ingested (--verify=exclude ingests the verified log files only)").format(
                what=what) if ingesting else
            _("--verify: {what}: nothing was read and no report written (--verify=exclude reports on the verified "
              "log files only)").format(what=what),
            [f.uri for f in gate.left_out],
            unreadable_only=gate.report.unreadable and not gate.report.failed,
        )
    return gate


def after_ingest(gate: Gate, errors: Sequence[str], ledger: Iterable[str] | None = None, *,
                 ingesting: bool = False) -> None:
    """What the verified ingest left out, on stderr. ``errors`` are the ingest's unreadable-file
    lines; ``ledger`` the URIs a persistent store holds (a report reads them all). Raises
    ``VerificationFailed`` when the result would count a file this run did not verify."""
    for uri in gate.note_ingest(errors):
        _say("keytrail: " + _("not verified: {file}: {reason}").format(
            file=uri, reason=_("changed after the digest check read it: not read")))
    for uri in gate.excluded_at_ingest():
        _say("keytrail: " + _("not verified: {file}: {reason}").format(
            file=uri, reason=_("the source lists it, the digest check did not find it: not read")))
    foreign = gate.foreign(ledger) if ledger is not None else []
    if foreign:
        for uri in foreign[:20]:
            _say("keytrail: " + _("not verified: {file}: {reason}").format(
                file=uri, reason=_("in the store from an earlier ingest, not verified by this run")))
        more = _(" (the first 20 named)") if len(foreign) > 20 else ""
        raise VerificationFailed(
            _("--verify: the store holds {n} file(s) this run did not verify{more}, which a report from it would "
              "count: no report written (report from the SOURCEs without --db, or ingest them into a new --db)")
            .format(n=len(foreign), more=more), foreign)
    if gate.mode == "fail" and gate.failed:
        raise VerificationFailed(
            _("--verify: log files changed or appeared after the digest check: they were not ingested") if ingesting
            else _("--verify: log files changed or appeared after the digest check: they were not read, and no "
                   "report written"), gate.changed + gate.excluded_at_ingest())
    n = gate.left_out_count
    if gate.mode == "exclude" and n:
        v = gate.verified_logs
        click.echo("keytrail: " + _("warning: --verify=exclude: {left} left out (not verified), {kept} kept").format(
            left=ngettext("{n} log file", "{n} log files", n).format(n=n),
            kept=ngettext("{n} verified log file", "{n} verified log files", v).format(n=v)), err=True)
