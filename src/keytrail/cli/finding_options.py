"""The options that say which findings to take, shared by ``findings``, ``export securityhub`` and
``watch``.

    @selection_options   --kind, --min-severity, --allowed-ips, --allowed-vpce, --evidence  ->  selection: Selection
    @finding_options     SOURCE..., --db, ... (input_options), --since, --until, --account, --key-region,
                         --key, --baseline-since, --baseline-until, and the selection  ->  request: FindingRequest
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import click

from keytrail.analysis.filters import Filters
from keytrail.analysis.findings import KINDS, SEVERITIES, FindingOptions, parse_networks
from keytrail.cli.options import (
    KEY_HELP,
    Inputs,
    Scope,
    Window,
    checked_time,
    filter_options,
    input_options,
    ordered,
    split_csv,
)
from keytrail.errors import BASELINE_SINCE, BASELINE_UNTIL, UsageError
from keytrail.i18n import _
from keytrail.store import Store
from keytrail.times import parse_time_bound

R = TypeVar("R")


def parse_kinds(values: tuple[str, ...]) -> tuple[str, ...]:
    kinds = tuple(k for v in values for k in split_csv(v))
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise UsageError(_("--kind: unknown kind {kind!r} (one of: {kinds})").format(kind=unknown[0], kinds=", ".join(KINDS)))
    return kinds


@dataclass(frozen=True)
class Selection:
    """Which findings, and how much evidence each lists."""

    kinds: tuple[str, ...] = ()
    min_severity: str = "info"
    allowed_ips: str | None = None
    allowed_vpce: str | None = None
    evidence_limit: int = 5

    def options(self, filters: Filters, baseline_since: datetime | None = None,
                baseline_until: datetime | None = None) -> FindingOptions:
        return FindingOptions(
            filters=filters,
            baseline_since=baseline_since,
            baseline_until=baseline_until,
            allowed_networks=parse_networks(split_csv(self.allowed_ips)),
            allowed_vpce=split_csv(self.allowed_vpce),
            kinds=self.kinds,
            min_severity=self.min_severity,
            evidence_limit=self.evidence_limit,
        )


_SELECTION = [
    click.option("--allowed-ips", default=None, metavar="CIDR,...", help="unexpected-network: the source networks calls may come from."),
    click.option("--allowed-vpce", default=None, metavar="VPCE,...", help="unexpected-network: the VPC endpoints calls may come through."),
    click.option("--kind", "kinds", multiple=True, metavar="KIND",
                 help=f"Only these kinds (repeatable or comma-separated): {', '.join(KINDS)}."),
    click.option("--min-severity", type=click.Choice(SEVERITIES), default="info", show_default=True,
                 help="Leave out less severe findings."),
    click.option("--evidence", "evidence_limit", type=click.IntRange(0, 1000), default=5, show_default=True,
                 help="Calls listed per finding."),
]


def selection_options(f: Callable[..., R]) -> Callable[..., R]:
    """--kind, --min-severity, --allowed-ips, --allowed-vpce, --evidence as ``selection: Selection``."""

    @functools.wraps(f)
    def wrapper(*args: Any, kinds: tuple[str, ...], min_severity: str, allowed_ips: str | None,
                allowed_vpce: str | None, evidence_limit: int, **kwargs: Any) -> R:
        selection = Selection(parse_kinds(kinds), min_severity, allowed_ips, allowed_vpce, evidence_limit)
        return f(*args, selection=selection, **kwargs)

    for option in reversed(_SELECTION):
        wrapper = option(wrapper)
    return wrapper


@dataclass(frozen=True)
class FindingRequest:
    """What a findings run reads (``inputs``) and asks (``options``); ``read_since``: from when remote
    sources are read (the baseline's start when new principals are asked for)."""

    inputs: Inputs
    window: Window
    options: FindingOptions
    read_since: str | None
    scope: Scope = Scope()
    keys: tuple[str, ...] = ()

    def checked(self, store: Store) -> None:
        """Every --key names a key of the store, within --account and --key-region (else an error)."""
        self.scope.checked(store, self.keys)


def finding_options(f: Callable[..., R]) -> Callable[..., R]:
    """The inputs, the window and key scope, the baseline and the selection, as ``request``."""

    @functools.wraps(f)
    def wrapper(*args: Any, inputs: Inputs, window: Window, scope: Scope, keys: tuple[str, ...],
                baseline_since: str | None, baseline_until: str | None, selection: Selection, **kwargs: Any) -> R:
        ordered(baseline_since, baseline_until, ("--baseline-since", "--baseline-until"))
        options = selection.options(
            scope.filters(window, keys),
            parse_time_bound(baseline_since, BASELINE_SINCE),
            parse_time_bound(baseline_until, BASELINE_UNTIL),
        )
        # remote sources must also deliver the baseline new principals are compared with
        wants_baseline = not selection.kinds or "new-principal" in selection.kinds
        read_since = baseline_since if wants_baseline else window.since
        return f(*args, request=FindingRequest(inputs, window, options, read_since, scope, keys), **kwargs)

    decorated = selection_options(wrapper)
    for option in reversed([
        click.option("--key", "keys", multiple=True, help=KEY_HELP),
        click.option("--baseline-since", default=None, callback=checked_time,
                     help="new-principal: the baseline starts here (default: the store's start; remote sources are read from here)."),
        click.option("--baseline-until", default=None, callback=checked_time, help="new-principal: the baseline ends here, exclusive (default: --since)."),
    ]):
        decorated = option(decorated)
    return input_options(filter_options(decorated))
