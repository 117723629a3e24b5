"""keytrail's exceptions: one root, subclasses that carry their fields.

    KeytrailError                      root; every error keytrail raises on purpose
    ├── UsageError                     bad arguments or configuration (CLI exit code 2)
    │   └── OutputError(path, what, reason)   a report or chart could not be written to its file
    ├── SourceError                    a source could not be enumerated or read as a whole
    │   └── SourceReadError(uri, reason, retryable)   one file or object could not be read
    ├── StoreError                     the DuckDB store is unusable
    │   ├── StoreBusyError(path)       another process holds the store
    │   └── SchemaVersionError(path, found, expected)
    ├── PartialInputError(problems)    raised only under --strict: some input was skipped
    └── VerificationFailed(files)      --verify could not vouch for the input (keytrail.verify.gate)

The library never prints or exits; the CLI maps these to messages and exit codes.
"""

from __future__ import annotations


class KeytrailError(Exception):
    """Root of every error keytrail raises on purpose."""

    retryable: bool = False


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


class OutputError(UsageError):
    """A report or chart could not be written to its file (the file is left as it was)."""

    def __init__(self, path: str, what: str, reason: str) -> None:
        super().__init__(f"{path}: cannot write {what}: {reason}")
        self.path = path
        self.what = what
        self.reason = reason


class StoreError(KeytrailError):
    """The store cannot be opened or written."""


class StoreBusyError(StoreError):
    """Another keytrail process is writing the store."""

    retryable = True

    def __init__(self, path: str) -> None:
        super().__init__(f"store is busy: {path} is locked by another keytrail process; try again when it finishes")
        self.path = path


class SchemaVersionError(StoreError):
    """The store was written by a keytrail whose schema this one cannot read."""

    def __init__(self, path: str, found: int, expected: int) -> None:
        super().__init__(
            f"{path}: store schema version {found}, this keytrail reads version {expected}; "
            "re-ingest into a new store (--db NEW_FILE)"
        )
        self.path = path
        self.found = found
        self.expected = expected


class PartialInputError(KeytrailError):
    """Some input that should have been CloudTrail was skipped (only raised under --strict)."""

    def __init__(self, problems: list[str]) -> None:
        head = "; ".join(problems[:3])
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        super().__init__(f"--strict: {len(problems)} input problem(s): {head}{more}")
        self.problems = problems
