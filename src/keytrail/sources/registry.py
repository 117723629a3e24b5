"""Picking a source from what the user typed: a path, ``-``, or a URL (s3://, lookup://, athena://,
logs://, lake://)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from keytrail.errors import UsageError
from keytrail.sources import FileSource, RecordSource
from keytrail.sources.local import LocalSource


@dataclass(frozen=True)
class SourceOptions:
    """Options that remote sources take (ignored by local paths)."""

    profile: str | None = None
    region: str | None = None
    accounts: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    since: str | None = None
    until: str | None = None
    keys: tuple[str, ...] = ()
    extra: dict[str, str] = field(default_factory=dict)


Opener = Callable[[str, SourceOptions], FileSource | RecordSource]
_SCHEMES: dict[str, str] = {}  # scheme -> "module:function", imported only when used


def register_scheme(scheme: str, target: str) -> None:
    _SCHEMES[scheme] = target


def open_sources(specs: Sequence[str], options: SourceOptions | None = None) -> list[FileSource | RecordSource]:
    """One source per URL; local paths (and ``-``) are grouped into one LocalSource."""
    options = options or SourceOptions()
    out: list[FileSource | RecordSource] = []
    local: list[str] = []
    for spec in specs:
        scheme = spec.split("://", 1)[0].lower() if "://" in spec else None
        if scheme is None or scheme == "file":
            local.append(spec.removeprefix("file://"))
            continue
        target = _SCHEMES.get(scheme)
        if target is None:
            raise UsageError(f"{spec}: unknown source scheme {scheme!r} (paths, -, or {', '.join(sorted(_SCHEMES)) or 'none'})")
        import importlib

        module, func = target.split(":")
        opener: Opener = getattr(importlib.import_module(module), func)
        out.append(opener(spec, options))
    if local:
        out.insert(0, LocalSource(tuple(local)))
    return out


register_scheme("s3", "keytrail.sources.s3:open_s3")
register_scheme("lookup", "keytrail.sources.lookup:open_lookup")
register_scheme("athena", "keytrail.sources.athena:open_athena")
register_scheme("logs", "keytrail.sources.logs:open_logs")
register_scheme("lake", "keytrail.sources.lake:open_lake")
