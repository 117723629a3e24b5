"""The options commands share, each group read once into a typed value a command takes.

    @input_options    SOURCE..., --db, --parquet, --verify, --public-keys, --strict, --quiet, --verbose,
                      --workers, --max-file-bytes, --profile, --region, --accounts, --regions
                                                                   ->  inputs: Inputs
    @filter_options   --since, --until, --account, --key-region    ->  window: Window, scope: Scope
    @output_options   --format, --output, --width, --no-color      ->  output: Output

A command's body gets plain typed arguments (never click's namespace) and passes the library
typed values (``Filters``, ``SourceOptions``).
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

import click

from keytrail.analysis.filters import Filters
from keytrail.analysis.key_names import check_scope, keys_named
from keytrail.decode.inflate import DEFAULT_MAX_FILE_BYTES, size_text
from keytrail.errors import BASELINE_SINCE, BASELINE_UNTIL, SINCE, UNTIL, Term, UsageError
from keytrail.i18n import _
from keytrail.render import FORMATS
from keytrail.sources.aws import ACCOUNT_ID, REGION_NAME
from keytrail.sources.registry import SourceOptions
from keytrail.store import Store
from keytrail.times import ago, iso, parse_time_bound
from keytrail.verify.gate import MODES, Mode

R = TypeVar("R")
Command = Callable[..., R]

if TYPE_CHECKING:
    _Choice = click.Choice[str]
    _ParamType = click.ParamType[int]
else:  # click.Choice is generic from click 8.2 on, click.ParamType from 8.3
    _Choice = click.Choice
    _ParamType = click.ParamType

TIME_TERMS: dict[str, Term] = {"since": SINCE, "until": UNTIL, "baseline_since": BASELINE_SINCE,
                               "baseline_until": BASELINE_UNTIL}


def split_csv(value: str | None) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(",") if v.strip()) if value else ()


def _options(f: Command[R], options: list[Callable[[Any], Any]]) -> Command[R]:
    for option in reversed(options):
        f = option(f)
    return f


# ---- inputs --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AwsOptions:
    """How to reach AWS for remote sources."""

    profile: str | None = None
    region: str | None = None
    accounts: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()


@dataclass(frozen=True)
class VerifyOptions:
    """``--verify[=MODE]`` and ``--public-keys``."""

    mode: Mode | None = None
    public_keys: tuple[str, ...] = ()

    @property
    def asked(self) -> bool:
        return self.mode is not None or bool(self.public_keys)


DB_ENV = "KEYTRAIL_DB"


def default_db() -> str | None:
    """The store named by ``$KEYTRAIL_DB`` (None when unset or empty)."""
    return os.environ.get(DB_ENV) or None


@dataclass(frozen=True)
class Inputs:
    """What a report or an ingest reads: SOURCEs, a store (``--db``, else ``$KEYTRAIL_DB`` when no
    SOURCE is given) or a dataset (``--parquet``)."""

    sources: tuple[str, ...] = ()
    db: str | None = None
    parquet: str | None = None
    verify: VerifyOptions = field(default_factory=VerifyOptions)
    strict: bool = False
    quiet: bool = False
    workers: int | None = None
    aws: AwsOptions = field(default_factory=AwsOptions)
    env_db: str | None = None  # $KEYTRAIL_DB, the store of commands given no --db (and reports given no SOURCE)
    verbose: bool = False
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES

    @property
    def store(self) -> str | None:
        """The store a report reads: ``--db``, else ``$KEYTRAIL_DB`` unless SOURCEs or a dataset are given."""
        if self.db or self.sources or self.parquet is not None:
            return self.db
        return self.env_db

    @property
    def store_named(self) -> str:
        """How the store was named, for messages."""
        return f"--db {self.db}" if self.db else f"{DB_ENV}={self.env_db}"

    def source_options(self, since: str | None, until: str | None, keys: tuple[str, ...] = (),
                       extra: dict[str, str] | None = None) -> SourceOptions:
        """What remote sources take: these options and the window (``since``, ``until``) to read."""
        aws = self.aws
        return SourceOptions(aws.profile, aws.region, aws.accounts, aws.regions, since, until, keys, extra or {})


class ByteSize(_ParamType):
    """A size in bytes: 268435456, 256M, 256MiB, 1G (K, M, G are powers of 1024)."""

    name = "size"
    _UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, int):
            return value
        m = re.fullmatch(r"\s*(\d+)\s*([KMGT]?)(?:i?B)?\s*", str(value), re.IGNORECASE)
        if m is None or int(m[1]) == 0:
            self.fail(f"{value!r} is not a size in bytes (e.g. 268435456, 512M, 1G)", param, ctx)
        return int(m[1]) * self._UNITS[m[2].upper()]


MAX_FILE_BYTES_HELP = (
    "Refuse (exit 3) a file larger than SIZE, or that inflates to more, and read the rest "
    f"(default {size_text(DEFAULT_MAX_FILE_BYTES)}; e.g. 512M, 1G)."
)


class VerifyMode(_Choice):
    """``fail`` or ``exclude``; a bare ``--verify`` means ``fail``."""

    def __init__(self) -> None:
        super().__init__(MODES)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if value in MODES:
            return value
        self.fail(_("{value!r} is not a verification mode ({modes}). Give the mode after '=' (--verify=exclude), "
                    "or put a bare --verify after the SOURCEs").format(value=value, modes=", ".join(MODES)), param, ctx)


def _reports_only(ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    """--parquet is for reports: refused on ingest as the command line is read."""
    if value is not None and ctx.command.name == "ingest":
        raise click.UsageError(_("--parquet is read by reports; ingest writes a --db store (see spark-ingest)"))
    return value


_INPUT_OPTIONS = [
    click.argument("sources", nargs=-1, metavar="[SOURCE]..."),
    click.option("--db", type=click.Path(dir_okay=False),
                 help="Persistent store (DuckDB file; default: $KEYTRAIL_DB when no SOURCE is given); "
                      "sources given too are ingested into it first."),
    click.option("--parquet", metavar="DIR", default=None, callback=_reports_only,
                 help="Report from a Parquet dataset written by `keytrail spark-ingest` (no SOURCE, no --db)."),
    click.option("--verify", type=VerifyMode(), is_flag=False, flag_value="fail", default=None,
                 metavar="[=fail|exclude]",
                 help="Check the sources' CloudTrail digest files first and read only the log files they "
                      "verify: --verify (=fail) exits 1 without a report if any file is not verified; "
                      "--verify=exclude leaves those files out and names them."),
    click.option("--public-keys", multiple=True, metavar="FILE",
                 help="With --verify: `aws cloudtrail list-public-keys` output (repeatable)."),
    click.option("--strict", is_flag=True, help="Fail (exit 3) before any output if any input could not be read."),
    click.option("--quiet", "-q", is_flag=True, help="No progress bar or summary on stderr (errors still shown)."),
    click.option("--verbose", "-v", is_flag=True,
                 help="Also name on stderr every request to AWS that was retried, and why."),
    click.option("--workers", type=click.IntRange(1, 64), default=None, help="Worker processes (default: every core)."),
    click.option("--max-file-bytes", type=ByteSize(), default=DEFAULT_MAX_FILE_BYTES, metavar="SIZE",
                 help=MAX_FILE_BYTES_HELP),
    click.option("--profile", default=None, help="AWS profile for the AWS sources (s3://, lookup://, athena://, logs://, lake://)."),
    click.option("--region", "aws_region", default=None, help="AWS Region for API calls."),
    click.option("--accounts", default=None, help="Comma-separated account ids to read (S3 sources)."),
    click.option("--regions", default=None, help="Comma-separated Regions to read, or 'all' (S3, lookup sources)."),
]


def input_options(f: Command[R]) -> Command[R]:
    """SOURCE... arguments and the options that say how to read them, as ``inputs: Inputs``."""

    @functools.wraps(f)
    def wrapper(*args: Any, sources: tuple[str, ...], db: str | None, parquet: str | None, verify: Mode | None,
                public_keys: tuple[str, ...], strict: bool, quiet: bool, verbose: bool, workers: int | None,
                max_file_bytes: int, profile: str | None, aws_region: str | None, accounts: str | None,
                regions: str | None, **kwargs: Any) -> R:
        aws = AwsOptions(profile, aws_region, split_csv(accounts), split_csv(regions))
        inputs = Inputs(sources, db, parquet, VerifyOptions(verify, public_keys), strict, quiet, workers, aws,
                        default_db(), verbose, max_file_bytes)
        return f(*args, inputs=inputs, **kwargs)

    return _options(wrapper, _INPUT_OPTIONS)


# ---- the window and the keys ----------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """``--since`` (inclusive) and ``--until`` (exclusive) as given; ``bounds`` as UTC times."""

    since: str | None = None
    until: str | None = None

    def bounds(self) -> tuple[datetime | None, datetime | None]:
        return parse_time_bound(self.since, SINCE), parse_time_bound(self.until, UNTIL)


@dataclass(frozen=True)
class Scope:
    """Which keys a report covers: ``--account``, ``--key-region`` (and a command's ``--key``)."""

    account: str | None = None
    key_region: str | None = None

    def filters(self, window: Window, keys: tuple[str, ...] = (), principal: str | None = None) -> Filters:
        since, until = window.bounds()
        return Filters(keys=tuple(keys), principal=principal, since=since, until=until, account=self.account,
                       region=self.key_region)

    def checked(self, store: Store, keys: tuple[str, ...] = ()) -> list[list[str]]:
        """The keys each name in ``keys`` means in the store, within --account and --key-region; a
        name that means none, or an account or Region that holds no key, is an error (never an
        empty report)."""
        check_scope(store, self.account, self.key_region)
        return [keys_named(store, k, self.account, self.key_region) for k in keys]


def checked_time(_ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A time option checked as the command line is read (a typo fails before any ingest); a time
    ago (``7d``) becomes the time it means, so that every use of the option agrees."""
    parse_time_bound(value, TIME_TERMS[param.name or ""])
    relative = ago(value) if value else None
    return iso(relative) if relative is not None else value


def ordered(since: str | None, until: str | None, names: tuple[str, str] = ("--since", "--until")) -> None:
    """Refuse a window whose start is after its end (it holds nothing)."""
    start, end = parse_time_bound(since, SINCE), parse_time_bound(until, UNTIL)
    if start is not None and end is not None and start > end:
        raise UsageError(_("{since_option} {since} is after {until_option} {until}: the window holds nothing").format(
            since_option=names[0], since=since, until_option=names[1], until=until))


def window_options(since_help: str, until_help: str) -> Callable[[Command[R]], Command[R]]:
    """--since and --until, as ``window: Window``: each refused as the command line is read when it
    is not a time, and together when --since is after --until."""

    def decorate(f: Command[R]) -> Command[R]:
        @functools.wraps(f)
        def wrapper(*args: Any, since: str | None, until: str | None, **kwargs: Any) -> R:
            ordered(since, until)
            return f(*args, window=Window(since, until), **kwargs)

        return _options(wrapper, [
            click.option("--since", default=None, callback=checked_time, help=since_help),
            click.option("--until", default=None, callback=checked_time, help=until_help),
        ])

    return decorate


_FILTER_SINCE = ("From this ISO-8601 date or date-time (UTC unless an offset is given), inclusive; "
                 "or a time ago: 12h, 7d, 2w.")
_FILTER_UNTIL = "Up to this ISO-8601 date or date-time (or time ago), exclusive."


def _region_guess(value: str) -> str | None:
    """A Region name a mistyped one probably meant (``us-east1``, ``US-EAST-1``), or None."""
    guess = re.sub(r"([a-z])-?(\d+)$", r"\1-\2", value.strip().lower().replace("_", "-"))
    return guess if REGION_NAME.match(guess) else None


def checked_account(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    """--account: a 12-digit account id, as --accounts takes."""
    if value is None or ACCOUNT_ID.match(value):
        return value
    digits = re.sub(r"[\s-]", "", value)
    hint = _(" (did you mean {account}?)").format(account=digits) if ACCOUNT_ID.match(digits) else ""
    raise UsageError(_("--account: {value!r} is not a 12-digit account id{hint}").format(value=value, hint=hint))


def checked_region(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    """--key-region: a Region name, as --regions takes."""
    if value is None or REGION_NAME.match(value):
        return value
    guess = _region_guess(value)
    hint = _("; did you mean {region}?").format(region=guess) if guess else ""
    raise UsageError(_("--key-region: {value!r} is not a Region name (e.g. us-east-1){hint}").format(value=value, hint=hint))


def filter_options(f: Command[R]) -> Command[R]:
    """--since, --until, --account, --key-region, as ``window: Window`` and ``scope: Scope``."""

    @functools.wraps(f)
    def wrapper(*args: Any, account: str | None, key_region: str | None, **kwargs: Any) -> R:
        return f(*args, scope=Scope(account, key_region), **kwargs)

    scoped = _options(wrapper, [
        click.option("--account", default=None, callback=checked_account, help="Only keys owned by this account."),
        click.option("--key-region", "key_region", default=None, callback=checked_region,
                     help="Only keys in this Region."),
    ])
    return window_options(_FILTER_SINCE, _FILTER_UNTIL)(scoped)


def key_name(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    """A KEY argument checked as the command line is read (an empty name fails before any ingest)."""
    if not value.strip():
        raise UsageError(_("an empty key name"))
    return value


KEY_HELP = "Only this key (id, ARN, alias name or alias ARN); repeatable."
PRINCIPAL_HELP = (
    "Only this principal: its ARN, its name (AppRole, role/AppRole, role/service-role/AppRole, "
    "user/test-user), a service (cloudtrail.amazonaws.com), or a glob where * is any characters "
    "('arn:aws:iam::111122223333:role/*'). Whole principals only, case-sensitive."
)


# ---- output --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Output:
    """``--format``, ``--output`` (None: standard output), ``--width`` (None: the terminal's) and
    ``--no-color`` (``color`` False)."""

    fmt: str = "table"
    path: str | None = None
    width: int | None = None
    color: bool = True


MIN_WIDTH = 40

SCREEN_OPTIONS = [  # the table's layout on a terminal: --width N, --no-color
    click.option("--width", type=click.IntRange(MIN_WIDTH, 1000), default=None, metavar="N",
                 help="Lay the table out for a terminal N columns wide, even when not writing to one "
                      "(default: the terminal's width, or COLUMNS; not a terminal: one unwrapped line per row)."),
    click.option("--no-color", "no_color", is_flag=True,
                 help="No colour in the table (also when NO_COLOR is set, or not writing to a terminal)."),
]
_OUTPUT_OPTIONS = [
    click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True, help="Output format."),
    click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True), default=None,
                 help="Write the report to FILE instead of stdout."),
    *SCREEN_OPTIONS,
]


def output_options(f: Command[R]) -> Command[R]:
    """--format, --output, --width and --no-color, as ``output: Output``."""

    @functools.wraps(f)
    def wrapper(*args: Any, fmt: str, output: str | None, width: int | None, no_color: bool, **kwargs: Any) -> R:
        return f(*args, output=Output(fmt, output, width, not no_color), **kwargs)

    return _options(wrapper, _OUTPUT_OPTIONS)
