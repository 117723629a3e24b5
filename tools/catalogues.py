"""keytrail's gettext catalogues: extract the messages, update every language's catalogue, compile.

    python tools/catalogues.py update    extract (babel.cfg, babel-report.cfg), merge into
                                         src/keytrail/locale/LANG/LC_MESSAGES/DOMAIN.po, compile the .mo
    python tools/catalogues.py compile   compile every .po into its .mo
    python tools/catalogues.py check     exit 1 when a catalogue is out of date, incomplete or fuzzy

Needs Babel (``pip install -e '.[test]'``). The compiled ``.mo`` files are committed, so that an
install needs no Babel; ``tests/test_i18n.py`` checks that they equal what their ``.po`` compiles to.
New messages arrive with an empty translation: write it in the ``.po``, then ``compile``.
"""

from __future__ import annotations

import io
import sys
from datetime import UTC, datetime
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src"
LOCALE = SRC / "keytrail" / "locale"
DOMAINS = {"keytrail": REPO / "babel.cfg", "report": REPO / "babel-report.cfg"}
LANGUAGES = ("ja",)
NAMES = {"ja": "Japanese"}
# the keywords of keytrail.i18n and of the report's script (_, N_, ngettext)
KEYWORDS = {**DEFAULT_KEYWORDS, "N_": None, "ngettext": (1, 2)}


DATE = datetime(2026, 12, 1, tzinfo=UTC)
HEADER = """\
# keytrail's messages in {language}. Written by hand: tools/catalogues.py adds new messages (empty)
# and removes unused ones; docs/glossary.ja.md lists the terms a Japanese translation uses.
#"""


def extract(domain: str) -> Catalog:
    """Every message the sources of ``domain`` mark, with the files that use it."""
    with DOMAINS[domain].open(encoding="utf-8") as f:
        method_map, options_map = parse_mapping_cfg(f)
    catalog = Catalog(project="keytrail", domain=domain, creation_date=DATE)
    for filename, _lineno, message, comments, context in extract_from_dir(
        str(SRC), method_map, options_map, keywords=KEYWORDS, comment_tags=("Translators:",), strip_comment_tags=True
    ):
        catalog.add(message, None, [(f"src/{filename}", None)], auto_comments=comments, context=context)
    return catalog


def po_path(language: str, domain: str) -> Path:
    return LOCALE / language / "LC_MESSAGES" / f"{domain}.po"


def read(path: Path, language: str, domain: str) -> Catalog:
    if not path.exists():
        return Catalog(locale=language, domain=domain, project="keytrail", header_comment=HEADER.replace("{language}", NAMES[language]), fuzzy=False,
                       copyright_holder="the keytrail authors", last_translator="the keytrail authors",
                       language_team=language, creation_date=DATE, revision_date=DATE)
    with path.open("rb") as f:
        return read_po(f, locale=language, domain=domain)


def po_bytes(catalog: Catalog) -> bytes:
    buf = io.BytesIO()
    write_po(buf, catalog, width=100, include_lineno=False, sort_output=True, ignore_obsolete=True)
    return buf.getvalue()


def mo_bytes(catalog: Catalog) -> bytes:
    buf = io.BytesIO()
    write_mo(buf, catalog, use_fuzzy=False)
    return buf.getvalue()


def update() -> None:
    for domain in DOMAINS:
        template = extract(domain)
        for language in LANGUAGES:
            path = po_path(language, domain)
            catalog = read(path, language, domain)
            catalog.update(template, no_fuzzy_matching=True)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(po_bytes(catalog))
    compile_all()


def compile_all() -> None:
    for domain in DOMAINS:
        for language in LANGUAGES:
            path = po_path(language, domain)
            path.with_suffix(".mo").write_bytes(mo_bytes(read(path, language, domain)))


def problems() -> list[str]:
    """What is wrong with the catalogues: messages missing, untranslated, fuzzy, obsolete, or a
    ``.mo`` that is not what its ``.po`` compiles to."""
    found = []
    for domain in DOMAINS:
        wanted = {m.id for m in extract(domain) if m.id}
        for language in LANGUAGES:
            path = po_path(language, domain)
            catalog = read(path, language, domain)
            have = {m.id for m in catalog if m.id}
            found += [f"{path.name} ({language}): missing {m!r}" for m in sorted(wanted - have, key=str)]
            found += [f"{path.name} ({language}): not used any more {m!r}" for m in sorted(have - wanted, key=str)]
            for m in catalog:
                if not m.id:
                    continue
                if m.fuzzy:
                    found.append(f"{path.name} ({language}): fuzzy {m.id!r}")
                strings = m.string if isinstance(m.string, tuple) else (m.string,)
                if not all(strings):
                    found.append(f"{path.name} ({language}): untranslated {m.id!r}")
            mo = path.with_suffix(".mo")
            if not mo.exists() or _messages(mo.read_bytes()) != _messages(mo_bytes(catalog)):
                found.append(f"{mo.relative_to(REPO)} is not what {path.name} compiles to: run tools/catalogues.py compile")
    return found


def _messages(mo: bytes) -> dict[object, str]:
    """A compiled catalogue's messages, without its header (which names the Babel version)."""
    import gettext

    table: dict[object, str] = dict(gettext.GNUTranslations(io.BytesIO(mo))._catalog)  # type: ignore[attr-defined]
    table.pop("", None)
    return table


def main(argv: list[str]) -> int:
    action = argv[1] if len(argv) > 1 else "check"
    if action == "update":
        update()
    elif action == "compile":
        compile_all()
    elif action != "check":
        print(__doc__, file=sys.stderr)
        return 2
    wrong = problems()
    for line in wrong:
        print(line, file=sys.stderr)
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
