"""keytrail in the user's language and time zone: gettext catalogues, and the zone of human output.

Messages are written in English in the source and marked for extraction (Babel, ``babel.cfg``):

- ``_("...")`` translates when called: for text made while a command runs (a title, an error);
- ``N_("...")`` only marks a message, for constants made at import time (a column header): the
  code that shows it translates it then, with ``_(value)``;
- ``ngettext(singular, plural, n)`` for counted nouns. Templates take named fields
  (``"{n} calls"``), so that a translation orders them as its language needs.

Catalogues are ``keytrail/locale/LANG/LC_MESSAGES/DOMAIN.mo``: the ``keytrail`` domain for the
Python code and ``report`` for the HTML report's script (``render/templates/report.js``), which
the page receives as a table. English is the source language and has no catalogue.

The language and the zone are the process's, set once by the caller (the command line: ``--lang``
and ``--tz``, else the environment); a library caller that sets nothing gets English and UTC.
Only human output follows them: JSON and CSV keep English field names and values, and UTC.
"""

from __future__ import annotations

import gettext
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, tzinfo
from importlib import resources

LANGUAGES = ("en", "ja")
"""The languages keytrail speaks; the first is the source language."""
DOMAIN = "keytrail"
REPORT_DOMAIN = "report"
_LANGUAGE_VARIABLES = ("LC_ALL", "LC_MESSAGES", "LANG")  # POSIX order: the first one set decides


class _State:
    language = "en"
    catalogues: dict[str, gettext.NullTranslations] = {}
    zone: tzinfo = UTC
    zone_name = "UTC"


def language_of(value: str | None) -> str | None:
    """The language keytrail speaks for a locale name or language code (``ja_JP.UTF-8``, ``ja``,
    ``en_GB``, ``C``); None for one it does not speak."""
    if not value:
        return None
    code = value.split(".")[0].split("@")[0].replace("-", "_").split("_")[0].lower()
    if code in ("c", "posix"):
        return "en"
    return code if code in LANGUAGES else None


def language_from(environ: Mapping[str, str]) -> str:
    """The language of the locale ``environ`` sets (``LC_ALL``, else ``LC_MESSAGES``, else
    ``LANG``); English for a locale keytrail does not speak, or none."""
    for name in _LANGUAGE_VARIABLES:
        value = environ.get(name)
        if value:
            return language_of(value) or "en"
    return "en"


def _catalogue(language: str, domain: str) -> gettext.NullTranslations:
    if language == LANGUAGES[0]:
        return gettext.NullTranslations()
    path = resources.files("keytrail").joinpath("locale", language, "LC_MESSAGES", f"{domain}.mo")
    with path.open("rb") as f:
        return gettext.GNUTranslations(f)


def use(language: str) -> None:
    """Speak ``language`` (one of ``LANGUAGES``) from now on."""
    if language not in LANGUAGES:
        raise ValueError(f"not a language keytrail speaks: {language!r}")
    _State.language = language
    _State.catalogues = {}


def language() -> str:
    """The language keytrail speaks now."""
    return _State.language


def _translations(domain: str = DOMAIN) -> gettext.NullTranslations:
    found = _State.catalogues.get(domain)
    if found is None:
        found = _State.catalogues[domain] = _catalogue(_State.language, domain)
    return found


def _(message: str) -> str:
    """``message`` in the current language."""
    return _translations().gettext(message)


def N_(message: str) -> str:
    """``message`` unchanged, marked for extraction: translate it where it is shown."""
    return message


def ngettext(singular: str, plural: str, n: int) -> str:
    """The form of a counted message for ``n``, in the current language."""
    return _translations().ngettext(singular, plural, n)


def catalogue(domain: str) -> dict[str, str]:
    """Every translated message of ``domain`` in the current language (empty for English): the HTML
    report's script receives its words this way."""
    found = _translations(domain)
    table: dict[object, str] = getattr(found, "_catalog", {})
    return {k: v for k, v in table.items() if isinstance(k, str) and k and v}


def plural_catalogue(domain: str) -> dict[tuple[str, int], str]:
    """Every translated counted message of ``domain``: (singular, form index) -> form."""
    table: dict[object, str] = getattr(_translations(domain), "_catalog", {})
    return {k: v for k, v in table.items() if isinstance(k, tuple) and v}  # type: ignore[misc]


# ---- time zone ----------------------------------------------------------------------------------


def use_zone(zone: tzinfo, name: str) -> None:
    """Show times in ``zone`` (called ``name``: ``Asia/Tokyo``, ``+09:00``) in human output."""
    _State.zone = zone
    _State.zone_name = name


def zone() -> tzinfo:
    return _State.zone


def zone_name() -> str:
    """The zone's name (``UTC`` when none was set)."""
    return _State.zone_name


def is_utc() -> bool:
    return _State.zone is UTC


def local(t: datetime) -> datetime:
    """A naive UTC time (as keytrail keeps them), in the zone of human output (aware)."""
    return t.replace(tzinfo=UTC).astimezone(_State.zone)


def parse_utc(value: str) -> datetime | None:
    """A time as keytrail writes it (``2026-11-02T08:05:00Z``), naive UTC; None for other text."""
    try:
        t = datetime.fromisoformat(value)
    except ValueError:
        return None
    return t.astimezone(UTC).replace(tzinfo=None) if t.tzinfo is not None else t


def offset(t: datetime) -> str:
    """The zone's offset at aware time ``t``: ``+09:00``, ``-04:30``; ``Z`` in UTC."""
    if _State.zone is UTC:
        return "Z"
    delta = t.utcoffset() or timedelta(0)
    sign = "-" if delta < timedelta(0) else "+"
    minutes = abs(int(delta.total_seconds())) // 60
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def local_iso(value: str | datetime | None) -> str | None:
    """A UTC time (``2026-11-02T08:05:00Z`` or a naive UTC datetime) as human output shows it:
    unchanged in UTC, else in the zone with its offset (``2026-11-02T17:05:00+09:00``). Text that
    is not a time is returned as it is."""
    if value is None:
        return None
    t = value if isinstance(value, datetime) else parse_utc(value)
    if t is None:
        return value if isinstance(value, str) else None
    if _State.zone is UTC:
        return t.strftime("%Y-%m-%dT%H:%M:%SZ")
    lt = local(t)
    return lt.strftime("%Y-%m-%dT%H:%M:%S") + offset(lt)
