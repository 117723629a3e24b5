"""keytrail in Japanese: the catalogues are complete and current, the glossary's terms are used,
the language and zone come from the options or the environment, and an install finds the catalogues."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType

import pytest

from keytrail import i18n
from keytrail.errors import TIME_ZONE, UsageError
from keytrail.times import parse_zone, zone_of_environment
from tests.conftest import REPO

GLOSSARY = REPO / "docs" / "glossary.ja.md"


def _catalogues() -> ModuleType:
    if importlib.util.find_spec("babel") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("Babel is missing: pip install -e '.[test]'")
        pytest.skip("Babel is not installed (pip install -e '.[test]'): the catalogues cannot be checked")
    spec = importlib.util.spec_from_file_location("catalogues", REPO / "tools" / "catalogues.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ---- the catalogues --------------------------------------------------------------------------------


def test_every_message_has_a_japanese_translation_and_the_compiled_catalogues_are_current() -> None:
    """Every message the code marks is in the Japanese catalogue, translated and not fuzzy; none is
    left over; each .mo is what its .po compiles to. Fix: python tools/catalogues.py update, translate,
    python tools/catalogues.py compile."""
    problems = _catalogues().problems()
    assert problems == [], "\n".join(problems)


def _translations() -> list[tuple[str, str]]:
    catalogues = _catalogues()
    pairs = []
    for domain in catalogues.DOMAINS:
        for m in catalogues.read(catalogues.po_path("ja", domain), "ja", domain):
            if not m.id:
                continue
            ids = m.id if isinstance(m.id, tuple) else (m.id,)
            strings = m.string if isinstance(m.string, tuple) else (m.string,)
            pairs += [(ids[0], s) for s in strings]
    return pairs


_FIELD = re.compile(r"\{[^{}]*\}")


_PERCENT = re.compile(r"%(?:\([a-z_]+\))?[-+ #0]*\d*(?:\.\d+)?[sdfr%]")


def test_translations_keep_every_placeholder() -> None:
    """The same {fields} (in any order), the same %-placeholders (in the same order: positional)."""
    wrong = [(en, ja) for en, ja in _translations() if sorted(_FIELD.findall(en)) != sorted(_FIELD.findall(ja))]
    wrong += [(en, ja) for en, ja in _translations() if _PERCENT.findall(en) != _PERCENT.findall(ja)]
    assert wrong == []


def _glossary() -> list[tuple[str, list[str], list[str]]]:
    """(English term as a regex, the Japanese terms a translation must use, the spellings it must not)."""
    rows = []
    for line in GLOSSARY.read_text(encoding="utf-8").splitlines():
        cells = [c.strip().replace("\x00", "|") for c in line.replace("\\|", "\x00").strip().strip("|").split("|")]
        if len(cells) < 4 or not cells[0].startswith("`") or cells[0].startswith("`English"):
            continue
        english = cells[0].strip("`")
        japanese = [t.strip().strip("`") for t in cells[1].split(",") if t.strip()]
        avoid = [t.strip().strip("`") for t in cells[2].split(",") if t.strip() and t.strip() != "—"]
        rows.append((english, japanese, avoid))
    return rows


# what a message says that is not English words: options, fields, code, names of things
_NOT_WORDS = re.compile(r"`[^`]*`|--[\w-]+|\{[^{}]*\}|\b[\w-]+(?:\.[\w-]+)+\b|\b\w+_\w+\b")


def test_the_glossary_lists_awss_terms() -> None:
    terms = {ja for _, japanese, _ in _glossary() for ja in japanese}
    for term in ("カスタマーマネージドキー", "AWS マネージドキー", "AWS 所有のキー", "キーポリシー", "プリンシパル",
                 "グラント", "暗号化コンテキスト", "削除保留中", "暗号化", "復号"):
        assert term in terms, term


def test_the_catalogue_uses_the_glossary_consistently() -> None:
    """A message that says a glossary term says it with the glossary's Japanese, and no translation
    uses a spelling the glossary rules out (復号化, 顧客管理キー...)."""
    glossary = _glossary()
    wrong = []
    for en, ja in _translations():
        said = _NOT_WORDS.sub(" ", en)
        for english, japanese, avoid in glossary:
            if not re.search(english, said, re.IGNORECASE):
                continue
            if not any(t in ja for t in japanese):
                wrong.append(f"{en!r} -> {ja!r}: says {english!r}, so needs one of {japanese}")
            rest = ja
            for t in japanese:  # ルートユーザ is ruled out, ルートユーザー is the term
                rest = rest.replace(t, " ")
            wrong += [f"{en!r} -> {ja!r}: uses {a!r}" for a in avoid if a in rest]
    assert wrong == [], "\n".join(wrong)


def test_a_clean_install_finds_the_catalogues(tmp_path: Path) -> None:
    """`pip install .` puts the compiled catalogues in the wheel (package data), and keytrail
    installed from it speaks Japanese. Built from a copy of the sources, as pip builds them."""
    tree = tmp_path / "tree"
    shutil.copytree(REPO / "src", tree / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, tree / name)
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path / "dist"),
                            str(tree)], capture_output=True, text=True)
    if build.returncode != 0 and "setuptools" in build.stderr and os.environ.get("CI") != "true":
        pytest.skip(f"the wheel could not be built here (setuptools from the package index): {build.stderr[-300:]}")
    assert build.returncode == 0, build.stderr
    (wheel,) = (tmp_path / "dist").glob("keytrail-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "keytrail/locale/ja/LC_MESSAGES/keytrail.mo" in names
    assert "keytrail/locale/ja/LC_MESSAGES/report.mo" in names
    zipfile.ZipFile(wheel).extractall(tmp_path / "installed")
    said = subprocess.run(
        [sys.executable, "-c", "import keytrail, keytrail.i18n as i; i.use('ja'); "
         "print(keytrail.__file__); print(i._('Who uses {key}?'))"],
        env={**os.environ, "PYTHONPATH": str(tmp_path / "installed")}, capture_output=True, text=True, check=True,
    ).stdout.splitlines()
    assert said[0].startswith(str(tmp_path / "installed"))
    assert said[1] == "{key} を使っているのは誰か"


def test_the_installed_package_finds_its_catalogues() -> None:
    i18n.use("ja")
    assert i18n._("Who uses {key}?") != "Who uses {key}?"
    assert i18n.catalogue(i18n.REPORT_DOMAIN)
    i18n.use("en")
    assert i18n._("Who uses {key}?") == "Who uses {key}?"
    assert i18n.catalogue(i18n.REPORT_DOMAIN) == {}


# ---- the language ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("environ", "language"),
    [
        ({"LANG": "ja_JP.UTF-8"}, "ja"),
        ({"LANG": "ja_JP.eucJP"}, "ja"),
        ({"LANG": "ja"}, "ja"),
        ({"LANG": "en_US.UTF-8"}, "en"),
        ({"LANG": "C.UTF-8"}, "en"),
        ({"LANG": "fr_FR.UTF-8"}, "en"),
        ({}, "en"),
        ({"LANG": "en_US.UTF-8", "LC_MESSAGES": "ja_JP.UTF-8"}, "ja"),
        ({"LANG": "ja_JP.UTF-8", "LC_MESSAGES": "C"}, "en"),
        ({"LC_ALL": "ja_JP.UTF-8", "LC_MESSAGES": "C", "LANG": "C"}, "ja"),
        ({"LC_ALL": "", "LANG": "ja_JP.UTF-8"}, "ja"),
    ],
)
def test_the_language_comes_from_lc_all_lc_messages_or_lang(environ: dict[str, str], language: str) -> None:
    assert i18n.language_from(environ) == language


def test_an_unknown_language_is_refused() -> None:
    with pytest.raises(ValueError):
        i18n.use("xx")


# ---- the time zone --------------------------------------------------------------------------------


def test_times_are_shown_in_the_zone_with_its_offset() -> None:
    assert i18n.local_iso("2026-11-02T08:05:00Z") == "2026-11-02T08:05:00Z"
    i18n.use_zone(parse_zone("Asia/Tokyo", TIME_ZONE), "Asia/Tokyo")
    assert i18n.local_iso("2026-11-02T08:05:00Z") == "2026-11-02T17:05:00+09:00"
    assert i18n.local_iso(datetime(2026, 11, 2, 8, 5)) == "2026-11-02T17:05:00+09:00"
    assert i18n.local_iso("not a time") == "not a time"
    i18n.use_zone(parse_zone("America/New_York", TIME_ZONE), "America/New_York")
    assert i18n.local_iso("2026-07-01T12:00:00Z") == "2026-07-01T08:00:00-04:00"  # daylight saving time
    assert i18n.local_iso("2026-12-01T12:00:00Z") == "2026-12-01T07:00:00-05:00"


@pytest.mark.parametrize(("name", "hours"), [("+09:00", 9), ("UTC+9", 9), ("-0330", -3.5), ("UTC", 0), ("Z", 0)])
def test_a_zone_is_a_name_or_an_offset(name: str, hours: float) -> None:
    assert parse_zone(name, TIME_ZONE).utcoffset(datetime(2026, 1, 1)) == timedelta(hours=hours)


@pytest.mark.parametrize("name", ["Mars/Olympus", "+25:00", "", "../etc/passwd"])
def test_a_zone_that_is_none_is_refused(name: str) -> None:
    with pytest.raises(UsageError, match="time zone"):
        parse_zone(name, TIME_ZONE)


def test_tz_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    zone, name = zone_of_environment(":Asia/Tokyo")
    assert (name, zone.utcoffset(datetime(2026, 1, 1))) == ("Asia/Tokyo", timedelta(hours=9))
    assert zone_of_environment("UTC")[0] is UTC
    monkeypatch.setenv("TZ", "JST-9")  # a POSIX rule: the C library reads it
    zone, name = zone_of_environment("JST-9")
    assert name == "JST-9"
    assert datetime(2026, 11, 2, 8, 5, tzinfo=UTC).astimezone(zone).hour == 17


# ---- the code ---------------------------------------------------------------------------------------


def test_no_function_hides_the_translation_function() -> None:
    """A function that says ``_("...")`` must not also use ``_`` as a throwaway name (it would call a value)."""
    import ast

    wrong = []
    for path in sorted((REPO / "src" / "keytrail").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for fn in ast.walk(tree):
            if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                continue
            names = list(ast.walk(fn))
            calls = any(isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "_" for n in names)
            bound = any(isinstance(n, ast.Name) and n.id == "_" and isinstance(n.ctx, ast.Store) for n in names)
            bound |= any(isinstance(n, ast.arg) and n.arg == "_" for n in names)
            if calls and bound:
                wrong.append(f"{path.relative_to(REPO)}:{fn.lineno}")
    assert wrong == [], wrong


def test_nothing_is_translated_at_import_time() -> None:
    """A word said when a module is imported would stay in the language of the first command that
    imported it: no default argument and no module-level value may call ``_()``/``ngettext`` or read
    ``keytrail.render.words`` (``W.``) -- mark it ``N_()`` and translate it where it is shown."""
    import ast

    def says(node: ast.AST) -> bool:
        for n in ast.walk(node):
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in ("_", "ngettext"):
                return True
            if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id == "W":
                return True
        return False

    wrong = []
    for path in sorted((REPO / "src" / "keytrail").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, ast.Assign | ast.AnnAssign | ast.Expr) and says(node):
                wrong.append(f"{path.relative_to(REPO)}:{node.lineno}")
        for fn in ast.walk(tree):
            if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                defaults = [d for d in (*fn.args.defaults, *fn.args.kw_defaults) if d is not None]
                wrong += [f"{path.relative_to(REPO)}:{fn.lineno}" for d in defaults if says(d)]
    assert wrong == [], wrong
