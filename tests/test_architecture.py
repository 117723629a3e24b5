"""The architecture, checked: the import layers (docs/architecture.md), no import cycle, small
modules and functions, one name per module, library errors in the library's words, and a doc
whose every path exists.

The imports are read from the source with ``ast`` -- module-level, function-level and
``TYPE_CHECKING`` imports alike -- so that no import hides from the check.
"""

from __future__ import annotations

import ast
import re
from collections import Counter
from functools import cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src"
PACKAGE = SRC / "keytrail"
ARCHITECTURE = REPO / "docs" / "architecture.md"

# Top to bottom: a module may import its own layer's package and the layers below it, never a layer
# above. Packages sharing a layer are independent of each other.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("keytrail", "keytrail.__main__"),  # the public API (imports on first use) and `python -m keytrail`
    ("keytrail.cli",),
    ("keytrail.deliver",),
    ("keytrail.render",),
    ("keytrail.analysis", "keytrail.spark"),
    ("keytrail.pipeline", "keytrail.verify"),
    ("keytrail.store",),
    ("keytrail.resolve",),
    ("keytrail.normalize",),
    ("keytrail.decode",),
    ("keytrail.sources",),
    ("keytrail.times",),
    ("keytrail.errors", "keytrail._version"),
    ("keytrail.i18n",),  # every layer says its messages through it
)

# Imports against the layers, each with its reason.
ALLOWED: dict[tuple[str, str], str] = {
    ("keytrail.spark.__main__", "keytrail.cli.spark_ingest"): "`python -m keytrail.spark` launches the command line",
}

MAX_MODULE_LINES = 450
MAX_FUNCTION_LINES = 60
LONG_REASON = re.compile(r"#\s*long:\s*\S")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def _modules() -> dict[str, tuple[Path, ast.Module]]:
    return {_module_name(p): (p, ast.parse(p.read_text(encoding="utf-8"))) for p in sorted(PACKAGE.rglob("*.py"))}


def _resolve(module: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".")
    if not _modules()[module][0].name == "__init__.py":
        base = base[:-1]
    base = base[: len(base) - node.level + 1]
    return ".".join([*base, node.module] if node.module else base)


@cache
def _imports() -> dict[str, set[str]]:
    """Every keytrail module each module imports, wherever the import statement is."""
    modules = _modules()
    out: dict[str, set[str]] = {}
    for name, (_, tree) in modules.items():
        found: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found.update(a.name for a in node.names if a.name.split(".")[0] == "keytrail")
            elif isinstance(node, ast.ImportFrom):
                target = _resolve(name, node)
                if target.split(".")[0] != "keytrail":
                    continue
                for a in node.names:
                    sub = f"{target}.{a.name}"
                    found.add(sub if sub in modules else target)
        found.discard(name)
        out[name] = {m for m in found if m in modules}
    return out


def _layer(module: str) -> tuple[int, str]:
    """The layer of a module, and the package of that layer it belongs to (the longest match)."""
    best: tuple[int, str] | None = None
    for i, layer in enumerate(LAYERS):
        for package in layer:
            if module == package or (package != "keytrail" and module.startswith(package + ".")):
                if best is None or len(package) > len(best[1]):
                    best = (i, package)
    assert best is not None, f"{module} is in no layer: add its package to LAYERS and docs/architecture.md"
    return best


def test_every_module_is_in_a_layer() -> None:
    for module in _modules():
        _layer(module)


def test_imports_follow_the_layers() -> None:
    wrong = []
    for module, targets in _imports().items():
        here, package = _layer(module)
        for target in sorted(targets):
            there, other = _layer(target)
            if (module, target) in ALLOWED:
                continue
            if there < here or (there == here and other != package):
                wrong.append(f"{module} -> {target} ({package} may not import {other})")
    assert not wrong, "imports against the layers (docs/architecture.md):\n" + "\n".join(wrong)


def test_the_layers_are_the_documented_ones() -> None:
    text = ARCHITECTURE.read_text(encoding="utf-8")
    for layer in LAYERS:
        for package in layer:
            assert f"`{package}`" in text, f"docs/architecture.md does not name the layer {package}"


def test_no_import_cycles() -> None:
    """Tarjan's strongly connected components over every import (function-level ones included)."""
    graph = _imports()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:  # recursion depth: the longest import chain, a few dozen modules
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_modules_are_small() -> None:
    big = {m: n for m, (p, _) in _modules().items() if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES}
    assert not big, f"modules over {MAX_MODULE_LINES} lines (split them by what they do): {big}"


def long_functions() -> list[tuple[str, int, str | None]]:
    """(module:function, lines, the reason on its ``def``) of every function over MAX_FUNCTION_LINES."""
    out = []
    for module, (path, tree) in _modules().items():
        lines = path.read_text(encoding="utf-8").splitlines()
        for node in ast.walk(tree):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            if length <= MAX_FUNCTION_LINES:
                continue
            signature = "\n".join(lines[node.lineno - 1 : node.body[0].lineno - 1])  # the def, up to its body
            reason = LONG_REASON.search(signature)
            out.append((f"{module}:{node.name}", length, signature[reason.start():].split("\n")[0] if reason else None))
    return sorted(out)


def test_long_functions_say_why() -> None:
    found = long_functions()
    unexplained = [f"{name} ({n} lines)" for name, n, reason in found if reason is None]
    assert not unexplained, (
        f"functions over {MAX_FUNCTION_LINES} lines without a `# long: REASON` comment on their def "
        "(split them, or say why not):\n" + "\n".join(unexplained)
    )


def test_no_two_library_modules_share_a_name() -> None:
    names = Counter(
        p.name for p in PACKAGE.rglob("*.py")
        if p.name not in ("__init__.py", "__main__.py") and "cli" not in p.relative_to(PACKAGE).parts[:1]
    )
    assert [n for n, c in names.items() if c > 1] == []


# ---- errors speak the library's words ------------------------------------------------------------

_FLAG = re.compile(r"(?<![\w/-])--[a-z][a-z-]+")
_RAISING = re.compile(r"(Error|Failed|NotCloudTrail|RegionDenied|NotGzip)$|^translate$")


def _callee(node: ast.Call) -> str:
    f = node.func
    return f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""


def test_library_errors_name_no_command_line_options() -> None:
    """Outside ``keytrail.cli`` an error names a setting as a ``keytrail.errors.Term``; the CLI words it."""
    found = []
    for module, (path, tree) in _modules().items():
        if module.startswith("keytrail.cli"):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Raise) or (isinstance(node, ast.Call) and _RAISING.search(_callee(node))):
                for const in ast.walk(node):
                    if isinstance(const, ast.Constant) and isinstance(const.value, str) and _FLAG.search(const.value):
                        found.append(f"{path.relative_to(SRC)}:{const.lineno}: {const.value!r}")
    assert not found, "library errors naming command-line options (use an errors.Term):\n" + "\n".join(sorted(set(found)))


def test_every_term_has_the_command_lines_words() -> None:
    from keytrail.cli.exits import OPTION_WORDS
    from keytrail.errors import TERMS, finish_commit

    keys = {t.key for t in TERMS} | {finish_commit("").key}
    assert sorted(keys - set(OPTION_WORDS)) == []
    assert sorted(set(OPTION_WORDS) - keys) == []


# ---- docs/architecture.md -------------------------------------------------------------------------

_PATH = re.compile(r"`((?:src|tests|docs|bench|examples|\.ci)/[^`\s]*|README\.md|CHANGELOG\.md|pyproject\.toml)`")
_MODULE = re.compile(r"`(keytrail(?:\.\w+)+)`")
_FILE = re.compile(r"`(\w+\.(?:py|sql))`")


def test_every_path_the_architecture_names_exists() -> None:
    text = ARCHITECTURE.read_text(encoding="utf-8")
    paths = _PATH.findall(text)
    assert paths, "docs/architecture.md names no path"
    missing = [p for p in paths if not (REPO / p.rstrip("/")).exists()]
    assert missing == [], f"docs/architecture.md names paths that do not exist: {missing}"
    files = {p.name for p in PACKAGE.rglob("*") if p.is_file()}
    unknown = sorted({f for f in _FILE.findall(text) if f not in files})
    assert unknown == [], f"docs/architecture.md names files that are in no package: {unknown}"


@pytest.mark.parametrize("name", sorted(set(_MODULE.findall(ARCHITECTURE.read_text(encoding="utf-8")))))
def test_every_module_the_architecture_names_exists(name: str) -> None:
    modules = _modules()
    if name in modules:
        return
    module, _, attribute = name.rpartition(".")
    assert module in modules, f"docs/architecture.md names {name}: no such module"
    tree = modules[module][1]
    defined = {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.ClassDef)}
    defined |= {t.id for n in ast.walk(tree) if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)}
    defined |= {a.asname or a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
    assert attribute in defined, f"docs/architecture.md names {name}: {module} has no {attribute}"
