"""Picking a source from what the user typed: a path, ``-``, or a URL (s3://, lookup://, athena://,
logs://, lake://)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from keytrail.errors import UsageError
from keytrail.i18n import _
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
_NEEDS: dict[str, tuple[str, str]] = {}  # scheme -> (module it needs, the extra that installs it)


def register_scheme(scheme: str, target: str, needs: tuple[str, str] | None = None) -> None:
    """``scheme://`` is opened by ``target`` ("module:function"); ``needs``: the optional module it
    imports and the keytrail extra that installs it (checked before the source is opened)."""
    _SCHEMES[scheme] = target
    if needs is not None:
        _NEEDS[scheme] = needs


def _check_extra(spec: str, scheme: str) -> None:
    """A source whose optional dependency is missing fails with the command that installs it."""
    import importlib.util

    needs = _NEEDS.get(scheme)
    if needs is not None and importlib.util.find_spec(needs[0]) is None:
        raise UsageError(_("{spec}: reading {scheme}:// needs {package}, which is not installed: {install}").format(
            spec=spec, scheme=scheme, package=needs[0], install=f"pip install 'keytrail[{needs[1]}]'"))


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
            raise UsageError(_("{spec}: unknown source scheme {scheme!r} (paths, -, or {schemes})").format(
                spec=spec, scheme=scheme, schemes=", ".join(sorted(_SCHEMES)) or "none"))
        _check_extra(spec, scheme)
        import importlib

        module, func = target.split(":")
        opener: Opener = getattr(importlib.import_module(module), func)
        out.append(opener(spec, options))
    if local:
        out.insert(0, LocalSource(tuple(local)))
    return out


register_scheme("s3", "keytrail.sources.s3:open_s3", needs=("boto3", "aws"))
register_scheme("lookup", "keytrail.sources.lookup:open_lookup", needs=("boto3", "aws"))
register_scheme("athena", "keytrail.sources.athena:open_athena", needs=("boto3", "aws"))
register_scheme("logs", "keytrail.sources.logs:open_logs", needs=("boto3", "aws"))
register_scheme("lake", "keytrail.sources.lake:open_lake", needs=("boto3", "aws"))
