"""--principal: whole principals -- the ARN, a short form, or a glob with * -- never a substring or SQL LIKE."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from keytrail.analysis.filters import Filters, principal_condition, principal_forms, principal_matches
from keytrail.cli.main import cli
from keytrail.errors import UsageError
from keytrail.store import Store
from tests import factory as fx
from tests.factory import ACCOUNT, KEY_A, OTHER, hidden, kms, role, service, user

APP = f"arn:aws:iam::{ACCOUNT}:role/service-role/AppRole"
NOT_APP = f"arn:aws:iam::{ACCOUNT}:role/NotAppRole"
APP_OTHER = f"arn:aws:iam::{OTHER}:role/AppRole"
TEST_USER = f"arn:aws:iam::{ACCOUNT}:user/test-user"
UNDERSCORE = f"arn:aws:iam::{ACCOUNT}:user/test_user"
LOOKALIKE = f"arn:aws:iam::{ACCOUNT}:user/testXuser"
PERCENT = f"arn:aws:iam::{ACCOUNT}:user/ops%team"
PERCENT_LOOKALIKE = f"arn:aws:iam::{ACCOUNT}:user/ops-and-the-team"
ROOT = f"arn:aws:iam::{ACCOUNT}:root"
SERVICE = "cloudtrail.amazonaws.com"
HIDDEN = f"AWSAccount:{OTHER}:AROAHIDDENEXAMPLE01"

EVERYONE = [APP, NOT_APP, APP_OTHER, TEST_USER, UNDERSCORE, LOOKALIKE, PERCENT, PERCENT_LOOKALIKE, ROOT, SERVICE, HIDDEN]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    root_identity = {"type": "Root", "principalId": ACCOUNT, "arn": ROOT, "accountId": ACCOUNT}
    identities = [
        role("AppRole", path="/service-role/", uid="AROAAPPROLE000000001"),
        role("NotAppRole", uid="AROANOTAPPROLE000001"),
        role("AppRole", uid="AROAAPPROLEOTHER0001", account=OTHER),
        user("test-user"), user("test_user"), user("testXuser"), user("ops%team"), user("ops-and-the-team"),
        root_identity, service(SERVICE), hidden("AROAHIDDENEXAMPLE01:s", OTHER),
    ]
    records = [kms("Decrypt", ident, KEY_A, time=f"2026-10-01T12:{i:02d}:00Z") for i, ident in enumerate(identities)]
    with fx.ingested(tmp_path_factory.mktemp("principals"), records) as (s, _):
        got = {r[0] for r in s.query("SELECT DISTINCT principal FROM key_use")}
        assert got == set(EVERYONE), got  # the fixture holds what the tests name
        yield s


def selected(store: Store, pattern: str) -> set[str]:
    where, params = Filters(principal=pattern).where(store)
    return {r[0] for r in store.query(f"SELECT DISTINCT principal FROM key_use WHERE {where}", params)}  # noqa: S608


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        # the canonical principal, exactly
        (APP, {APP}),
        (NOT_APP, {NOT_APP}),
        (ROOT, {ROOT}),
        (SERVICE, {SERVICE}),
        (HIDDEN, {HIDDEN}),
        # short forms: the name, type/name, and the whole resource (path included)
        ("AppRole", {APP, APP_OTHER}),
        ("role/AppRole", {APP, APP_OTHER}),
        ("role/service-role/AppRole", {APP}),
        ("user/test-user", {TEST_USER}),
        ("test-user", {TEST_USER}),
        ("root", {ROOT}),
        # whole principals only: no substrings, no case folding
        ("NotAppRole", {NOT_APP}),
        ("ppRole", set()),
        ("approle", set()),
        ("service-role/AppRole", set()),
        ("arn:aws:iam::111122223333:role/service-role", set()),
        ("amazonaws.com", set()),
        ("AROAHIDDENEXAMPLE01", set()),
        # % and _ are literal
        ("test_user", {UNDERSCORE}),
        ("user/test_user", {UNDERSCORE}),
        ("ops%team", {PERCENT}),
        ("%", set()),
        ("_", set()),
        ("%AppRole%", set()),
        ("?pp", set()),
        # globs: * is any characters, matched against the principal and its short forms, whole
        ("*AppRole", {APP, NOT_APP, APP_OTHER}),
        ("App*", {APP, APP_OTHER}),
        (f"arn:aws:iam::{ACCOUNT}:role/*", {APP, NOT_APP}),
        ("role/service-role/*", {APP}),
        ("*.amazonaws.com", {SERVICE}),
        (f"AWSAccount:{OTHER}:*", {HIDDEN}),
        ("test_*", {UNDERSCORE}),
        ("ops%*", {PERCENT}),
        ("*%*", {PERCENT}),
        ("*_*", {UNDERSCORE}),
        ("user/*", {TEST_USER, UNDERSCORE, LOOKALIKE, PERCENT, PERCENT_LOOKALIKE}),
        ("*", set(EVERYONE)),
        ("  AppRole ", {APP, APP_OTHER}),
    ],
)
def test_principal_patterns(store: Store, pattern: str, expected: set[str]) -> None:
    assert selected(store, pattern) == expected
    assert {p for p in EVERYONE if principal_matches(pattern, p)} == expected  # the definition agrees


def test_principal_forms() -> None:
    assert principal_forms(APP) == (APP, "role/service-role/AppRole", "AppRole", "role/AppRole")
    assert principal_forms(TEST_USER) == (TEST_USER, "user/test-user", "test-user")
    assert principal_forms(ROOT) == (ROOT, "root")
    assert principal_forms(SERVICE) == (SERVICE,)
    assert principal_forms(HIDDEN) == (HIDDEN,)
    assert principal_forms("saml:arn:aws:iam::111122223333:saml-provider/Okta/erin") == (
        "saml:arn:aws:iam::111122223333:saml-provider/Okta/erin",)


def test_the_pattern_is_a_bound_parameter_never_sql_text() -> None:
    evil = "x' OR 1=1 --*"
    cond, params = principal_condition(evil, "u.principal")
    assert "'x" not in cond and "OR 1=1" not in cond
    assert all(p == "x' OR 1=1 --%" for p in params)
    cond, params = principal_condition("AppRole'); DROP TABLE files; --")
    assert "DROP" not in cond and params[1] == "AppRole'); DROP TABLE files; --"
    with pytest.raises(UsageError):
        principal_condition("  ")


_pieces = st.sampled_from(["arn:aws:iam::111122223333:", "role/", "user/", "App", "Role", "%", "_", "*", "\\", "/",
                           ":", "a", "\n", "é", "?", "[", "]", "root", ".amazonaws.com", "AWSAccount:"])
_strings = st.lists(_pieces, max_size=6).map("".join)


@pytest.fixture(scope="module")
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    c = duckdb.connect()
    yield c
    c.close()


@settings(max_examples=300, deadline=None)
@given(patterns=st.lists(_strings.filter(lambda s: s.strip() != ""), min_size=1, max_size=4),
       principals=st.lists(_strings.filter(bool), min_size=1, max_size=8, unique=True))
def test_sql_matching_equals_the_definition(con: duckdb.DuckDBPyConnection, patterns: list[str],
                                            principals: list[str]) -> None:
    """The SQL condition selects exactly what principal_matches says, for any principal text."""
    for pattern in patterns:
        cond, params = principal_condition(pattern)
        query = f"WITH t AS (SELECT unnest(?::VARCHAR[]) AS principal) SELECT principal FROM t WHERE {cond}"  # noqa: S608
        got = {r[0] for r in con.execute(query, [principals, *params]).fetchall()}
        assert got == {p for p in principals if principal_matches(pattern, p)}, pattern


def test_principal_option_of_the_reports(tmp_path: Path) -> None:
    root_identity = {"type": "Root", "principalId": ACCOUNT, "arn": ROOT, "accountId": ACCOUNT}
    records = [kms("Decrypt", ident, KEY_A) for ident in (
        role("AppRole", path="/service-role/", uid="AROAAPPROLE000000001"), role("NotAppRole", uid="AROANOTAPPROLE000001"),
        root_identity)]
    trail = fx.write(tmp_path / "trail.json", fx.log_file(records))
    db = str(tmp_path / "p.duckdb")
    assert CliRunner().invoke(cli, ["ingest", str(trail), "--db", db, "-q"]).exit_code == 0
    for command in (["usage"], ["who-uses", KEY_A], ["who-uses", KEY_A, "--by", "person"]):
        result = CliRunner().invoke(cli, [*command, "--db", db, "--principal", "AppRole", "--format", "json"])
        assert result.exit_code == 0, result.output
        rows = json.loads(result.stdout)
        found = {p for r in rows for p in ([r["principal"]] if "principal" in r else r["principals"])}
        assert found == {APP}, command
