"""keytrail's entry point: registers the commands (each in its own module; errors become messages
and exit codes in ``keytrail.cli.exits``).

Commands are imported when they run (``LazyGroup``), so ``keytrail ingest`` does not pay for
the imports of ``report`` or ``spark-ingest``.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from keytrail._version import __version__
from keytrail.i18n import _

# command name -> "module:attribute"; the order is the order of --help
COMMANDS: dict[str, str] = {
    "ingest": "keytrail.cli.ingest:ingest_command",
    "inventory": "keytrail.cli.inventory:inventory_command",
    "usage": "keytrail.cli.reports:usage_command",
    "who-uses": "keytrail.cli.reports:who_uses_command",
    "keys": "keytrail.cli.reports:keys_command",
    "principals": "keytrail.cli.reports:principals_command",
    "findings": "keytrail.cli.findings:findings_command",
    "check": "keytrail.cli.check:check_command",
    "export": "keytrail.cli.export:export_group",
    "watch": "keytrail.cli.watch:watch_command",
    "problems": "keytrail.cli.problems:problems_command",
    "suggest-policy": "keytrail.cli.suggest_policy:suggest_policy_command",
    "report": "keytrail.cli.report:report_command",
    "chart": "keytrail.cli.chart:chart_command",
    "verify": "keytrail.cli.verify:verify",
    "spark-ingest": "keytrail.cli.spark_ingest:spark_ingest_command",
    "demo": "keytrail.cli.demo:demo",
}


class LazyGroup(click.Group):
    """A group whose commands are imported on first use."""

    def __init__(self, *args: Any, lazy: dict[str, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = lazy

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.lazy) + [n for n in super().list_commands(ctx) if n not in self.lazy]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = self.lazy.get(cmd_name)
        if target is None:
            return super().get_command(ctx, cmd_name)
        module, attr = target.split(":")
        command = getattr(importlib.import_module(module), attr)
        assert isinstance(command, click.Command)
        return command

    def resolve_command(self, ctx: click.Context, args: list[str]) -> tuple[str | None, click.Command | None, list[str]]:
        """A command by name; an unknown name fails with the nearest commands ("did you mean")."""
        name = args[0] if args else ""
        if args and name not in self.lazy and not name.startswith("-") and super().get_command(ctx, name) is None:
            import difflib

            near = difflib.get_close_matches(name, self.list_commands(ctx), n=3, cutoff=0.7)
            near += [c for c in self.list_commands(ctx) if c.startswith(name) and c not in near]
            hint = " " + _("Did you mean {commands}?").format(commands=_(" or ").join(repr(c) for c in near[:3])) if near else ""
            ctx.fail(_("No such command {name!r}.").format(name=name) + hint)
        return super().resolve_command(ctx, args)

    @property
    def all_commands(self) -> dict[str, click.Command]:
        """Every command, imported (for documentation and tests)."""
        ctx = click.Context(self)
        return {name: cmd for name in self.list_commands(ctx) if (cmd := self.get_command(ctx, name))}


@click.group(
    cls=LazyGroup,
    lazy=COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, prog_name="keytrail")
def cli() -> None:
    """Who is using this AWS KMS key? Usage per key, principal and resource from CloudTrail.

    SOURCE is a file or directory of CloudTrail logs (searched recursively; .json, .jsonl,
    .ndjson, gzipped or not), '-' for standard input, or a URL where sources support it.
    Exit codes: 0 ok, 1 violations found (checks), 2 usage error, 3 some input unreadable.
    """


def main() -> None:
    sys.exit(cli.main(standalone_mode=True))
