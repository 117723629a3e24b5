"""keytrail's exceptions: one root, subclasses that carry their fields.

    KeytrailError                      root; every error keytrail raises on purpose
    ├── UsageError                     bad arguments or configuration (CLI exit code 2)
    │   ├── OutputError(path, what, reason)   a report or chart could not be written to its file
    │   ├── SparkUnavailableError      pyspark is not installed, or Spark could not start
    │   ├── KeyNotFound(name, suggestions)   a key name that means no key the store knows
    │   ├── AmbiguousKey(name, keys)   a key name that means several keys where one is needed
    │   └── NothingToRead(sources)     no source held a CloudTrail log file
    ├── SourceError                    a source could not be enumerated or read as a whole
    │   ├── SourceReadError(uri, reason, retryable)   one file or object could not be read
    │   ├── RegionDenied(region, reason)   an API source may not read one Region (the others are read)
    │   ├── PublicKeysError(path, reason)  a public keys file is not ``list-public-keys`` output
    │   ├── DigestFormatError          bytes that are not a digest file (a verification finding)
    │   └── NotGzip                    gzipped content that does not inflate (a verification finding)
    ├── NotCloudTrail(reason)          a readable file that holds no CloudTrail: ingest counts it
    │                                  as skipped (``decode.read_records`` raises it)
    ├── StoreError                     the DuckDB store (or a Parquet dataset) is unusable
    │   ├── StoreNotFound(path, nearby)   no store at that path (and it is not to be created)
    │   ├── StoreBusyError(path)       another process holds the store
    │   └── SchemaVersionError(path, found, expected)
    ├── PolicyError(key, reason)       a key policy document that is not a policy
    ├── PartialInputError(problems)    raised only when asked to be strict: some input was skipped
    ├── DeliveryError(destination, reason, retryable)   findings could not be delivered (Security
    │                                  Hub, a webhook, SNS); what was not delivered is kept or named
    └── VerificationFailed(files)      digest verification could not vouch for the input

Messages speak the library's words. Where a message names a setting or a remedy that a caller
words its own way -- the command line names its options -- the message holds a ``Term``: its
``word`` is the library's wording (``str(error)``), and ``KeytrailError.worded`` lets the caller
put its own words in its place (``keytrail.cli.exits`` does, with the options' names). An error
may carry ``details``: lines of their own after the message (the keys an ambiguous name means, the
lines of a YAML error), worded the same way.

The library never prints or exits; the CLI maps these to messages and exit codes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

from keytrail.i18n import _


class Term(NamedTuple):
    """A name in an error message that callers may word their own way.

    ``key`` identifies it (``since``, ``accounts``...), ``word`` is how the library says it (a
    parameter name or a phrase, possibly empty), ``value`` a value the caller's wording may show."""

    key: str
    word: str
    value: str = ""

    def __str__(self) -> str:
        return self.word


# The terms messages use, in the library's words.
SINCE = Term("since", "since")
UNTIL = Term("until", "until")
BASELINE_SINCE = Term("baseline_since", "baseline_since")
BASELINE_UNTIL = Term("baseline_until", "baseline_until")
ACCOUNTS = Term("accounts", "accounts")
REGIONS = Term("regions", "regions")
REGIONS_LIST = Term("regions_list", "regions")  # where a list of Regions is asked for
REGION = Term("region", "region")
PROFILE = Term("profile", "an AWS profile")
ORG_ROLE = Term("org_role", "org_role")
ORG_ROLE_NAMED = Term("org_role_named", "org_role")  # where a role name is asked for
REGION_CHOICE = Term("region_choice", ": give region or regions")
WORKGROUP = Term("workgroup", "workgroup")
ATHENA_OUTPUT = Term("athena_output", "athena_output")
LOOKUP_KEY = Term("lookup_key", "key")
INVENTORY_DIR = Term("inventory_dir", "inventory directory")
ALLOWED_NETWORKS = Term("allowed_networks", "allowed_networks")
EXPECTATIONS = Term("expectations", "expectations file")
VERIFY = Term("verify", "verification")
STRICT = Term("strict", "strict")
STORE = Term("store", "the store")
NEW_STORE = Term("new_store", "")  # how to name a new store
COPY_EXAMPLE = Term("copy_example", "")  # how to open a copy of a store
CHART = Term("chart", "drawing a chart")
CHROMIUM = Term("chromium", "chromium")
ACCOUNT = Term("account", "account")  # the one account whose keys a report covers
KEY_REGION = Term("key_region", "key_region")  # the one Region whose keys a report covers
KEY_OPTION = Term("key_option", "key")  # naming one key for a report
KEYS_REPORT = Term("keys_report", "the keys report")  # where every key the store knows is listed
CREATE_STORE = Term("create_store", "an ingest into it creates it")  # how to create a store ({value}: its path)
TIME_ZONE = Term("time_zone", "time zone")

TERMS: tuple[Term, ...] = (
    SINCE, UNTIL, BASELINE_SINCE, BASELINE_UNTIL, ACCOUNTS, REGIONS, REGIONS_LIST, REGION, PROFILE, ORG_ROLE,
    ORG_ROLE_NAMED, REGION_CHOICE, WORKGROUP, ATHENA_OUTPUT, LOOKUP_KEY, INVENTORY_DIR, ALLOWED_NETWORKS, EXPECTATIONS,
    VERIFY, STRICT, STORE, NEW_STORE, COPY_EXAMPLE, CHART, CHROMIUM, ACCOUNT, KEY_REGION, KEY_OPTION, KEYS_REPORT,
    CREATE_STORE, TIME_ZONE,
)
"""Every term a message may hold (a value-carrying term is one of these with ``value`` set)."""


def finish_commit(root: str) -> Term:
    """How to finish a dataset's interrupted commit (the dataset at ``root``)."""
    return Term("finish_commit", "a spark-ingest run with no sources", root)


def create_store(path: str) -> Term:
    """How to create the store at ``path``."""
    return CREATE_STORE._replace(value=path)


Part = str | Term
Line = tuple[Part, ...]


def said(template: str, **fields: object) -> tuple[Part, ...]:
    """A message's parts from a template already in the current language (``keytrail.i18n._``):
    each ``{field}`` filled (format specs and ``!r`` as ``str.format`` does them), a ``Term`` (or a
    list of parts) kept as it is, for the caller to word. ``UsageError(*said(_("{setting}: {value!r} is not a date"),
    setting=SINCE, value=v))``: a translation orders the fields as its language needs."""
    from string import Formatter

    parts: list[Part] = []
    for literal, name, spec, conversion in Formatter().parse(template):
        if literal:
            parts.append(literal)
        if name is None:
            continue
        value = fields[name]
        if isinstance(value, Term):
            parts.append(value)
            continue
        if isinstance(value, list | tuple):  # parts already: spliced in
            parts += [v if isinstance(v, Term) else str(v) for v in value]
            continue
        if conversion == "r":
            value = repr(value)
        elif conversion == "s":
            value = str(value)
        parts.append(format(value, spec or ""))
    return tuple(parts)


class KeytrailError(Exception):
    """Root of every error keytrail raises on purpose.

    Built from parts: text and ``Term``s (``str(error)`` says the terms in the library's words),
    and optional ``details``: lines shown after the message, each built from parts too."""

    retryable: bool = False

    def __init__(self, *parts: Part, details: Sequence[Line] = ()) -> None:
        self.parts: tuple[Part, ...] = parts
        self.details: tuple[Line, ...] = tuple(details)
        super().__init__("\n  ".join(_say(line, str) for line in (parts, *self.details)))

    def worded(self, word: Callable[[Term], str]) -> str:
        """The message (its first line) with each term in the caller's words."""
        return _say(self.parts, word)

    def worded_details(self, word: Callable[[Term], str]) -> list[str]:
        """The detail lines with each term in the caller's words."""
        return [_say(line, word) for line in self.details]


def _say(parts: Line, word: Callable[[Term], str]) -> str:
    return "".join(word(p) if isinstance(p, Term) else p for p in parts)


class UsageError(KeytrailError):
    """Bad arguments or configuration."""


class SourceError(KeytrailError):
    """A source could not be enumerated or opened."""


class SourceReadError(SourceError):
    """One file or object that should hold CloudTrail records could not be read."""

    def __init__(self, uri: str, reason: str, retryable: bool = False) -> None:
        super().__init__(f"{uri}: {reason}")
        self.uri = uri
        self.reason = reason
        self.retryable = retryable


class RegionDenied(SourceError):
    """An API source may not read one Region (access denied, Region not enabled): named, the
    other Regions are read."""

    def __init__(self, region: str, reason: str) -> None:
        super().__init__(reason)
        self.region = region
        self.reason = reason


class PublicKeysError(SourceError):
    """The public keys file cannot be read or is not ``list-public-keys`` output."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class DigestFormatError(SourceError):
    """The bytes are not a digest file keytrail can check (a verification finding, never raised
    to callers of the verification)."""


class NotGzip(SourceError):
    """A gzipped file whose content does not inflate (a verification finding)."""


class NotCloudTrail(KeytrailError):
    """The file is readable but holds no CloudTrail records (skipped and counted, not an error)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class OutputError(UsageError):
    """A report or chart could not be written to its file (the file is left as it was)."""

    def __init__(self, path: str, what: str, reason: str) -> None:
        super().__init__(_("{path}: cannot write {what}: {reason}").format(path=path, what=what, reason=reason))
        self.path = path
        self.what = what
        self.reason = reason


class SparkUnavailableError(UsageError):
    """pyspark is not installed, or Spark could not start (no Java)."""


class KeyNotFound(UsageError):
    """A key name (key id, key ARN, alias name or alias ARN) that means no key the store knows, or
    none in the account or Region asked for; ``suggestions`` are the nearest names it knows."""

    def __init__(self, name: str, *parts: Part, suggestions: Sequence[str] = (), details: Sequence[Line] = ()) -> None:
        super().__init__(*parts, details=details)
        self.name = name
        self.suggestions = list(suggestions)


class AmbiguousKey(UsageError):
    """A key name that means several keys where one is needed; ``keys`` are their ARNs, each
    detail line says how to name one."""

    def __init__(self, name: str, keys: Sequence[str], *parts: Part, details: Sequence[Line] = ()) -> None:
        super().__init__(*parts, details=details)
        self.name = name
        self.keys = list(keys)


class NothingToRead(UsageError):
    """No SOURCE held a CloudTrail log file: ``sources`` say where keytrail looked and what it found."""

    def __init__(self, sources: Sequence[str]) -> None:
        if len(sources) == 1:
            super().__init__(sources[0])
        else:
            super().__init__(_("no SOURCE holds a CloudTrail log file:"), details=[(s,) for s in sources])
        self.sources = list(sources)


class StoreError(KeytrailError):
    """The store cannot be opened or written."""


class StoreNotFound(StoreError):
    """No store at ``path`` (only commands that write a store create one); ``nearby``: stores
    beside it with a similar name."""

    def __init__(self, path: str, nearby: Sequence[str] = (), named: str | None = None) -> None:
        hint = _("; did you mean {names}?").format(names=_(" or ").join(nearby)) if nearby else ""
        super().__init__(*said(_("{path}: no such store{hint} ({remedy})"), path=named or path, hint=hint,
                               remedy=create_store(path)))
        self.path = path
        self.nearby = list(nearby)


class StoreBusyError(StoreError):
    """Another keytrail process is writing the store."""

    retryable = True

    def __init__(self, path: str) -> None:
        super().__init__(_("store is busy: {path} is locked by another keytrail process; try again when it finishes")
                         .format(path=path))
        self.path = path


class SchemaVersionError(StoreError):
    """The store was written by a keytrail whose schema this one cannot read."""

    def __init__(self, path: str, found: int, expected: int) -> None:
        super().__init__(*said(
            _("{path}: store schema version {found}, this keytrail reads version {expected}; re-ingest into a new "
              "store{remedy}"), path=path, found=found, expected=expected, remedy=NEW_STORE,
        ))
        self.path = path
        self.found = found
        self.expected = expected


class PolicyError(KeytrailError):
    """A key policy document that is not a policy (bad JSON or shape)."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(_("{key}: key policy cannot be read: {reason}").format(key=key, reason=reason))
        self.key = key
        self.reason = reason


class PartialInputError(KeytrailError):
    """Some input that should have been CloudTrail was skipped (only raised when asked to be strict)."""

    def __init__(self, problems: list[str]) -> None:
        head = "; ".join(problems[:3])
        more = _(" (and {n} more)").format(n=len(problems) - 3) if len(problems) > 3 else ""
        super().__init__(*said(_("{option}: {n} input problem(s): {problems}{more}"), option=STRICT, n=len(problems),
                               problems=head, more=more))
        self.problems = problems


class VerificationFailed(KeytrailError):
    """Digest verification could not vouch for the input: nothing unverified was read, no report made.

    ``files`` names the files at fault; ``unreadable_only`` is true when nothing failed
    verification and some files could only not be read (the CLI's partial-input exit code).
    """

    def __init__(self, message: str, files: Sequence[str] = (), unreadable_only: bool = False) -> None:
        super().__init__(message)
        self.files = list(files)
        self.unreadable_only = unreadable_only


class DeliveryError(KeytrailError):
    """Findings could not be delivered to ``destination`` (Security Hub, a webhook, an SNS topic).
    ``retryable``: a later attempt may succeed (throttling, a server error, the network)."""

    def __init__(self, destination: str, reason: str, retryable: bool = False) -> None:
        super().__init__(f"{destination}: {reason}")
        self.destination = destination
        self.reason = reason
        self.retryable = retryable
