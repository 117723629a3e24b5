"""keytrail check --policy: violations and exit codes for CI."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from keytrail.analysis.findings.expectations import parse_expectations
from keytrail.errors import UsageError
from tests.factory import key_id
from tests.factory import scenario as sc

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "expectations.yaml"


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    tmp = tmp_path_factory.mktemp("check")
    path = str(tmp / "store.duckdb")
    sc.scenario_store(tmp, db=path).close()
    return path


@pytest.fixture(scope="module")
def bare_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    tmp = tmp_path_factory.mktemp("check-bare")
    path = str(tmp / "store.duckdb")
    sc.scenario_store(tmp, inventory=False, db=path).close()
    return path


def run(*args: str) -> tuple[int, str, str]:
    from keytrail.cli.main import cli

    res = CliRunner().invoke(cli, list(args))
    return res.exit_code, res.stdout, res.stderr


def test_the_example_file_finds_the_calls_it_does_not_allow(db: str) -> None:
    code, out, err = run("check", "--policy", str(EXAMPLE), "--db", db, "--since", "2026-11-08", "--format", "csv")
    assert code == 1
    assert out == (
        "rule,key,principal,operation,event_names,calls,first_seen,last_seen,evidence\n"
        f"application data key,{sc.K_APP},arn:aws:iam::111122223333:role/DeployRole,decrypt,Decrypt,1,"
        "2026-11-08T07:01:00Z,2026-11-08T07:01:00Z,00000000-0000-4000-8000-00000000001a\n"
        f"application data key,{sc.K_APP},arn:aws:iam::111122223333:role/NewRole,encrypt,Encrypt,2,"
        "2026-11-08T01:00:00Z,2026-11-08T02:00:00Z,"
        "\"00000000-0000-4000-8000-000000000012, 00000000-0000-4000-8000-000000000013\"\n"
        f"application data key,{sc.K_APP},arn:aws:iam::111122223333:root,decrypt,Decrypt,1,"
        "2026-11-08T08:00:00Z,2026-11-08T08:00:00Z,00000000-0000-4000-8000-00000000001d\n"
    )
    assert err == "keytrail: 3 violation(s) of 2 rule(s) on 1 key(s)\n"


def test_clean_run_exits_0(db: str, tmp_path: Path) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text(
        "rules:\n"
        "  - key: alias/app\n"
        "    allow:\n"
        "      - account: '111122223333'\n"
        "      - cloudtrail.amazonaws.com\n"
    )
    code, out, err = run("check", "--policy", str(policy), "--db", db, "--format", "json")
    assert (code, out) == (0, "[]\n")
    assert err == "keytrail: 0 violation(s) of 1 rule(s) on 1 key(s)\n"


def test_admin_calls_are_checked_when_asked(db: str, tmp_path: Path) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text(
        f"rules:\n  - key: {key_id(sc.K_RETIRING)}\n    check: [admin]\n    allow: []\n"
    )
    code, out, _ = run("check", "--policy", str(policy), "--db", db, "--format", "json")
    assert code == 1
    assert '"event_names": [\n      "CreateKey",\n      "ScheduleKeyDeletion"\n    ]' in out


NO_INVENTORY = ("keytrail: error: rules[1] (production keys stay in the account): not evaluated: it selects keys by "
                "tag, and the store holds no inventory of keys and their tags (take one with keytrail inventory)\n")


def test_a_tag_rule_without_an_inventory_is_not_evaluated_and_says_why(bare_db: str, tmp_path: Path) -> None:
    """The README's example: the key rule is checked (violations: exit 1), the tag rule says why it is not."""
    code, out, err = run("check", "--policy", str(EXAMPLE), "--db", bare_db, "--format", "csv")
    assert code == 1
    assert out.count("\n") == 1 + 3
    assert NO_INVENTORY in err
    policy = tmp_path / "tags.yaml"
    policy.write_text("rules:\n  - name: production keys stay in the account\n    tag: {env: prod}\n"
                      "    allow: [{account: '111122223333'}]\n")
    code, out, err = run("check", "--policy", str(policy), "--db", bare_db, "--format", "json")
    assert (code, out) == (3, "[]\n")  # clean, but a rule could not be evaluated
    assert err == NO_INVENTORY.replace("rules[1]", "rules[0]") + "keytrail: 0 violation(s) of 1 rule(s) on 0 key(s)\n"


def test_a_tag_rule_on_an_inventory_without_tags_matches_no_key(tmp_path: Path) -> None:
    path = str(tmp_path / "store.duckdb")
    with sc.scenario_store(tmp_path, db=path) as store:
        store.con.execute("DELETE FROM inventory_tags")
    policy = tmp_path / "tags.yaml"
    policy.write_text("rules:\n  - tag: {env: prod}\n    allow: [{account: '111122223333'}]\n")
    code, _, err = run("check", "--policy", str(policy), "--db", path, "--format", "json")
    assert code == 0
    assert err.startswith("keytrail: warning: rules[0] (tag env=prod): matches no key: it selects keys by tag, and the "
                          "inventory (taken ")
    assert "shows no tag on any key\n" in err


def test_unknown_operation_names_are_refused_with_the_nearest(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as e:
        parse_expectations("rules: [{key: a, allow: [{account: '111122223333', operations: [encrypt, decrpyt]}]}]", "p.yaml")
    assert str(e.value) == ("p.yaml: rules[0].allow[0].operations[1]: 'decrpyt' is neither an operation class (encrypt, "
                            "decrypt, sign, admin) nor a KMS event name; did you mean decrypt?")
    with pytest.raises(UsageError, match="'GenerateDatKey\\*' is neither"):
        parse_expectations("rules: [{key: a, allow: [{account: '111122223333', operations: [GenerateDatKey*]}]}]")
    ok = parse_expectations("rules: [{key: a, allow: [{principal: x, operations: [Decrypt, GenerateDataKey*, admin]}]}]")
    assert ok.rules[0].allow[0].operations == ("Decrypt", "GenerateDataKey*", "admin")


def test_yaml_errors_are_shown_on_lines_of_their_own(db: str, tmp_path: Path) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text("rules:\n  - key: alias/app\n    allow:\n   - account: '111122223333'\n")
    code, out, err = run("check", "--policy", str(policy), "--db", db)
    assert (code, out) == (2, "")
    lines = err.splitlines()
    assert lines[0] == f"keytrail: error: {policy}: not valid YAML (line 4, column 4):"
    assert all(line.startswith("  ") for line in lines[1:]) and len(lines) > 2
    assert "\\x0a" not in err
    assert f"    in {policy}, line 4, column 4:" in lines


def test_a_rule_that_matches_no_key_warns(db: str, tmp_path: Path) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text("rules:\n  - key: alias/nothing\n    allow: []\n")
    code, _, err = run("check", "--policy", str(policy), "--db", db, "--format", "json")
    assert code == 0
    assert "keytrail: warning: rules[0] (alias/nothing): matches no key in the store\n" in err


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("rules: [", "not valid YAML"),
        ("- 1", "expected a mapping with 'rules'"),
        ("rules: []", "rules: expected a non-empty list"),
        ("version: 2\nrules: [{key: a}]", "unsupported version"),
        ("rules: [{allow: []}]", "give exactly one of key, keys or tag"),
        ("rules: [{key: a, tag: {a: b}}]", "give exactly one of key, keys or tag"),
        ("rules: [{key: a, check: [read]}]", "'read' is not one of"),
        ("rules: [{key: a, allow: [{operations: [x]}]}]", "give principal or account"),
        ("rules: [{key: a, allow: [{account: 111122223333x}]}]", "not a 12-digit account id"),
        ("rules: [{key: a, colour: red}]", "unknown field(s) colour"),
    ],
)
def test_bad_files_are_usage_errors(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        parse_expectations(text, "p.yaml")


def test_bad_file_exits_2(db: str, tmp_path: Path) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text("rules: [{key: a, colour: red}]\n")
    code, out, err = run("check", "--policy", str(policy), "--db", db)
    assert (code, out) == (2, "")
    assert err == f"keytrail: error: {policy}: rules[0]: unknown field(s) colour\n"
    code, _, err = run("check", "--policy", str(tmp_path / "missing.yaml"), "--db", db)
    assert code == 2
    assert "cannot read" in err


def test_check_reads_sources_directly(tmp_path: Path) -> None:
    sc.scenario().write(tmp_path / "trail")
    policy = tmp_path / "p.yaml"
    policy.write_text("rules:\n  - key: alias/app\n    allow: [{account: '111122223333'}]\n")
    code, out, _ = run("check", "--policy", str(policy), str(tmp_path / "trail"), "--quiet", "--workers", "1", "--format", "csv")
    assert code == 1  # cloudtrail.amazonaws.com belongs to no account
    assert out.count("\n") == 2
    assert "cloudtrail.amazonaws.com,encrypt,GenerateDataKey,1" in out
