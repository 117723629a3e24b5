"""Exit codes and error messages: the one place library errors become what the command line says.

Every command is a ``KeytrailCommand``: a ``KeytrailError`` raised while its options are read or
while it runs is shown on stderr as ``keytrail: error: MESSAGE`` (control characters escaped) and
turned into the exit code; a command's body returns its exit code. Messages name settings in the
library's words (``keytrail.errors.Term``); here they get the options' names (``OPTION_WORDS``).

    0 ok   1 violations / verification failed   2 usage error, store unusable   3 some input unreadable
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any

import click

from keytrail.cli.language import choose_language, language_options
from keytrail.errors import KeytrailError, PartialInputError, Term, UsageError, VerificationFailed
from keytrail.i18n import N_, _
from keytrail.render import safe

EXIT_OK = 0
EXIT_VIOLATIONS = 1
EXIT_USAGE = 2
EXIT_PARTIAL = 3

OPTION_WORDS: dict[str, str] = {
    "since": "--since",
    "until": "--until",
    "baseline_since": "--baseline-since",
    "baseline_until": "--baseline-until",
    "accounts": "--accounts",
    "regions": "--regions",
    "regions_list": "--regions R1,R2",
    "region": "--region",
    "profile": "--profile",
    "org_role": "--org-role",
    "org_role_named": "--org-role ROLE",
    "region_choice": N_(": give --region, --regions R1,R2 or --regions all"),
    "workgroup": "--workgroup",
    "athena_output": "--athena-output",
    "lookup_key": "--key",
    "inventory_dir": "--from",
    "allowed_networks": "--allowed-ips",
    "expectations": "--policy",
    "verify": "--verify",
    "strict": "--strict",
    "store": "--db",
    "new_store": " (--db NEW_FILE)",
    "copy_example": N_(", e.g. `keytrail usage --db COPY`"),
    "chart": "keytrail chart",
    "chromium": "--chromium",
    "time_zone": "--tz",
    "finish_commit": N_("`keytrail spark-ingest -o {value}` (no SOURCE)"),
    "account": "--account",
    "key_region": "--key-region",
    "key_option": "--key",
    "keys_report": "`keytrail keys`",
    "create_store": N_("`keytrail ingest SOURCE... --db {value}` creates one"),
}
"""What the command line says for each ``Term`` of a library message (``{value}``: the term's value)."""
_SAID = frozenset({"region_choice", "copy_example", "finish_commit", "create_store"})  # words, translated when said


def option_words(term: Term) -> str:
    words = OPTION_WORDS.get(term.key)
    if words is None:
        return term.word
    return (_(words) if term.key in _SAID else words).replace("{value}", term.value)


def message(e: KeytrailError) -> str:
    """The error's message as the command line says it."""
    return e.worded(option_words)


def log_args(args: Sequence[object]) -> tuple[object, ...]:
    """A log record's arguments with each ``Term`` in the command line's words."""
    return tuple(option_words(a) if isinstance(a, Term) else a for a in args)


def exit_code(e: KeytrailError, otherwise: int = EXIT_USAGE) -> int:
    if isinstance(e, UsageError):
        return EXIT_USAGE
    if isinstance(e, PartialInputError):
        return EXIT_PARTIAL
    if isinstance(e, VerificationFailed):
        return EXIT_PARTIAL if e.unreadable_only else EXIT_VIOLATIONS
    return otherwise


def fail(e: KeytrailError, otherwise: int = EXIT_USAGE) -> int:
    """Say ``e`` on stderr, its details each on a line of its own; its exit code (``otherwise`` for
    errors that are neither usage, partial input nor verification)."""
    click.echo("keytrail: " + _("error: {message}").format(message=safe.escaped(message(e))), err=True)
    for line in e.worded_details(option_words):
        click.echo(f"  {safe.escaped(line)}", err=True)
    return exit_code(e, otherwise)


class KeytrailCommand(click.Command):
    """A command whose library errors become messages and exit codes, and whose body returns its
    exit code. ``other_errors``: the exit code of an error that is not a usage error."""

    other_errors = EXIT_USAGE

    def make_context(
        self, info_name: str | None, args: list[str], parent: click.Context | None = None, **extra: Any
    ) -> click.Context:
        choose_language(args)
        try:
            return super().make_context(info_name, args, parent, **extra)
        except KeytrailError as e:  # an option refused as it is read (--since, a KEY)
            sys.exit(fail(e, self.other_errors))

    def invoke(self, ctx: click.Context) -> Any:
        try:
            code = super().invoke(ctx)
        except KeytrailError as e:
            code = fail(e, self.other_errors)
        sys.exit(code if isinstance(code, int) else EXIT_OK)


class PartialOnErrorCommand(KeytrailCommand):
    """``keytrail verify``: an error that is not a usage error means the input was unreadable (3)."""

    other_errors = EXIT_PARTIAL


def command(name: str, cls: type[KeytrailCommand] = KeytrailCommand) -> Callable[[Callable[..., int]], click.Command]:
    """``click.command`` for keytrail's commands (``KeytrailCommand``), with ``--lang`` and ``--tz``."""

    def decorate(f: Callable[..., int]) -> click.Command:
        return click.command(name, cls=cls)(language_options(f))

    return decorate
