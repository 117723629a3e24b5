"""``--lang`` and ``--tz``, which every command takes: the language of what keytrail says and the
time zone of the times it shows people (tables, words, Markdown, HTML).

Without them, the environment decides: ``LC_ALL``, else ``LC_MESSAGES``, else ``LANG``
(``ja_JP.UTF-8``: Japanese), and ``TZ``; with neither, English and UTC. Both are read before any
other option, so that an error in one is said in the chosen language. JSON and CSV keep English
field names and values, and UTC: they are contracts.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TypeVar

import click

from keytrail import i18n
from keytrail.errors import TIME_ZONE
from keytrail.times import parse_zone, zone_of_environment

R = TypeVar("R")


def _language(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    i18n.use(value or i18n.language_from(os.environ))
    return value


def _zone(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    if value:
        i18n.use_zone(parse_zone(value, TIME_ZONE), value)
    elif os.environ.get("TZ"):
        i18n.use_zone(*zone_of_environment(os.environ["TZ"]))
    else:
        i18n.use_zone(*zone_of_environment("UTC"))
    return value


def choose_language(args: list[str]) -> None:
    """Speak the language the command line asks for (``--lang X``, ``--lang=X``), else the
    environment's, before any option is read: so that every message -- a wrong option's too --
    is said in it. The option itself is checked as it is read."""
    asked = None
    for i, arg in enumerate(args):
        if arg == "--":
            break
        if arg == "--lang" and i + 1 < len(args):
            asked = args[i + 1]
        elif arg.startswith("--lang="):
            asked = arg.partition("=")[2]
    i18n.use(asked if asked in i18n.LANGUAGES else i18n.language_from(os.environ))


def language_options(f: Callable[..., R]) -> Callable[..., R]:
    """--lang and --tz (read first; the command does not receive them)."""
    f = click.option("--tz", "tz", metavar="ZONE", default=None, is_eager=True, expose_value=False, callback=_zone,
                     help="Show times in this zone (Asia/Tokyo, +09:00; default: $TZ, else UTC). "
                          "JSON and CSV stay UTC.")(f)
    f = click.option("--lang", "lang", type=click.Choice(i18n.LANGUAGES), default=None, is_eager=True,
                     expose_value=False, callback=_language,
                     help="The language keytrail speaks (default: from LC_ALL, LC_MESSAGES or LANG; "
                          "ja_JP.UTF-8 is Japanese).")(f)
    return f


__all__ = ["language_options"]
