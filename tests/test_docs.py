"""Docs are tested: every command has help text, every option says what it does, and the README
shows every command."""

from __future__ import annotations

import re

import click
import pytest
from click.testing import CliRunner

from keytrail.cli.main import cli
from tests.conftest import REPO

README = (REPO / "README.md").read_text(encoding="utf-8")
COMMANDS = sorted(cli.all_commands)


def test_there_are_commands() -> None:
    assert {"usage", "who-uses", "keys", "principals", "ingest", "demo"} <= set(COMMANDS)


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_has_help(name: str) -> None:
    command = cli.all_commands[name]
    assert command.help and command.help.strip(), f"keytrail {name} has no help text (its docstring)"
    result = CliRunner().invoke(cli, [name, "--help"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"Usage: cli {name}") or result.stdout.startswith(f"Usage: keytrail {name}")
    first_line = command.help.strip().splitlines()[0]
    assert " ".join(first_line.split()[:4]) in " ".join(result.stdout.split())


@pytest.mark.parametrize("name", COMMANDS)
def test_every_option_has_help(name: str) -> None:
    def walk(command: click.Command, path: str) -> list[str]:
        missing = [f"{path} {p.opts[0]}" for p in command.params if isinstance(p, click.Option) and not p.help]
        if isinstance(command, click.Group):
            for sub_name, sub in command.commands.items():
                missing += walk(sub, f"{path} {sub_name}")
        return missing

    assert walk(cli.all_commands[name], f"keytrail {name}") == []


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_appears_in_the_readme(name: str) -> None:
    assert re.search(rf"keytrail {re.escape(name)}\b", README), f"README.md never shows `keytrail {name}`"


def test_the_group_help_lists_every_command() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for name in COMMANDS:
        assert re.search(rf"^\s+{re.escape(name)}\b", result.stdout, re.MULTILINE), name
