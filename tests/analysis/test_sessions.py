"""Session -> person: Identity Center, AssumeRole chains, SSO session names, EC2 instances, services --
and names a caller chose (a role named like an SSO role, a session named like an instance) are not
taken for evidence."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from keytrail.analysis.filters import Filters
from keytrail.analysis.sessions import (
    ASSUMED_BY,
    BASES,
    EC2_INSTANCE,
    EC2_INSTANCE_GUESS,
    HIDDEN,
    IDENTITY_CENTER,
    PRINCIPAL,
    SERVICE,
    SSO_SESSION,
    UNATTRIBUTED,
    SessionResolver,
    is_sso_role,
    people,
    who_uses_by_person,
)
from keytrail.cli.main import cli
from keytrail.pipeline import ingest
from keytrail.sources.local import LocalSource
from keytrail.store import Store
from tests.conftest import CORPUS, need_shared
from tests.factory import Trail
from tests.factory import scenario as sc

WINDOW = Filters(keys=(sc.K_APP,), since=datetime(2026, 11, 8))


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    tmp = tmp_path_factory.mktemp("sessions")
    path = str(tmp / "store.duckdb")
    sc.scenario_store(tmp, db=path).close()
    return path


@pytest.fixture
def scenario(db: str) -> Iterator[Store]:
    with Store(db, read_only=True) as store:
        yield store


def test_people_behind_the_app_key(scenario: Store) -> None:
    rows = {(r.person, r.basis, tuple(r.principals)): r for r in people(scenario, WINDOW)}
    assert set(rows) == {
        (sc.ALICE, ASSUMED_BY, (sc.APP_ROLE,)),
        (sc.BOB, PRINCIPAL, (sc.BOB,)),
        ("arn:aws:iam::111122223333:root", PRINCIPAL, ("arn:aws:iam::111122223333:root",)),
        ("cloudtrail.amazonaws.com", SERVICE, ("cloudtrail.amazonaws.com",)),
        ("dave@example.com", SSO_SESSION, (sc.SSO_ROLE,)),
        # AppRole's session is named like an instance, but no AssumeRole record shows EC2 chose it
        ("i-0a1b2c3d4e5f67890", EC2_INSTANCE_GUESS, (sc.APP_ROLE,)),
        (f"identitycenter-user:{sc.IC_USER}", IDENTITY_CENTER, (sc.SSO_ROLE,)),
        ("lambda.amazonaws.com", SERVICE, (sc.LAMBDA_ROLE,)),
        ("saml:arn:aws:iam::111122223333:saml-provider/Okta/erin", ASSUMED_BY, (sc.DEPLOY_ROLE,)),
        (None, UNATTRIBUTED, (sc.NEW_ROLE,)),
        (None, UNATTRIBUTED, (sc.PARTNER_ROLE,)),
    }
    alice = rows[(sc.ALICE, ASSUMED_BY, (sc.APP_ROLE,))]
    assert alice.chains == [f"{sc.ALICE} -> {sc.DEPLOY_ROLE} -> {sc.APP_ROLE}"]
    assert alice.sessions == ["release-42"]
    assert (alice.decrypt, alice.first_seen) == (1, "2026-11-08T00:03:00Z")
    ic = rows[(f"identitycenter-user:{sc.IC_USER}", IDENTITY_CENTER, (sc.SSO_ROLE,))]
    assert ic.sessions == ["carol@example.com"]
    assert rows[("lambda.amazonaws.com", SERVICE, (sc.LAMBDA_ROLE,))].chains == [f"lambda.amazonaws.com -> {sc.LAMBDA_ROLE}"]
    assert rows[(sc.BOB, PRINCIPAL, (sc.BOB,))].denied == 2


def test_who_uses_by_person_takes_an_alias(scenario: Store) -> None:
    rows = who_uses_by_person(scenario, "alias/app", Filters(since=datetime(2026, 11, 8)))
    assert {r.key for r in rows} == {sc.K_APP}
    assert sc.ALICE in {r.person for r in rows}


def _resolver_with(store: Store, rows: list[tuple[object, ...]]) -> SessionResolver:
    store.con.executemany("INSERT INTO credentials VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL)", rows)
    return SessionResolver(store)


def test_role_chain_cycles_and_depth_are_bounded() -> None:
    with Store() as store:
        r = _resolver_with(store, [
            ("ASIA1", 1, "e1", "AssumeRole", "arn:aws:iam::1:role/A", "s", "arn:aws:iam::1:role/B", "AssumedRole", "ASIA2", "x", None),
            ("ASIA2", 2, "e2", "AssumeRole", "arn:aws:iam::1:role/B", "x", "arn:aws:iam::1:role/A", "AssumedRole", "ASIA1", "s", None),
        ])
        a = r.attribute("arn:aws:iam::1:role/A", "AssumedRole", "s", None, "ASIA1")
        assert a.person is None
        assert a.basis == UNATTRIBUTED


SSO_ADMIN = ("arn:aws:iam::111122223333:role/aws-reserved/sso.amazonaws.com/ap-northeast-1/"
             "AWSReservedSSO_AdministratorAccess_1a2b3c4d5e6f7a8b")
FAKE_SSO = "arn:aws:iam::111122223333:role/AWSReservedSSO_Admin_fake"


def test_chain_ends_in_an_identity_center_caller_or_a_hidden_one() -> None:
    with Store() as store:
        r = _resolver_with(store, [
            ("ASIA1", 1, "e1", "AssumeRole", "arn:aws:iam::1:role/App", "s", SSO_ADMIN,
             "AssumedRole", "ASIAGONE", "carol@example.com", None),
            ("ASIA3", 1, "e3", "AssumeRole", "arn:aws:iam::1:role/App", "t", "arn:aws:iam::1:role/Ops", "AssumedRole",
             "ASIA4", "ops", "user-123"),
            ("ASIA5", 1, "e5", "AssumeRole", "arn:aws:iam::1:role/App", "u", None, "AWSAccount", None, None, None),
        ])
        a = r.attribute("arn:aws:iam::1:role/App", "AssumedRole", "s", None, "ASIA1")
        assert (a.person, a.basis) == ("carol@example.com", SSO_SESSION)
        assert a.chain == (SSO_ADMIN, "arn:aws:iam::1:role/App")
        assert a.evidence == ("e1",)
        b = r.attribute("arn:aws:iam::1:role/App", "AssumedRole", "t", None, "ASIA3")
        assert (b.person, b.basis) == ("identitycenter-user:user-123", IDENTITY_CENTER)
        c = r.attribute("arn:aws:iam::1:role/App", "AssumedRole", "u", None, "ASIA5")
        assert (c.person, c.basis) == (None, UNATTRIBUTED)
        d = r.attribute("AWSAccount:444455556666:AROAX", "AWSAccount", "u", None, None)
        assert (d.person, d.basis) == (None, HIDDEN)


def test_who_uses_by_person_cli(db: str) -> None:
    res = CliRunner().invoke(
        cli, ["who-uses", sc.K_APP, "--db", db, "--since", "2026-11-08", "--by", "person", "--format", "csv"]
    )
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert lines[0] == "person,basis,principals,encrypt,decrypt,sign,admin,denied,first_seen,last_seen,chains,sessions"
    assert (
        f"{sc.ALICE},assumed-by,{sc.APP_ROLE},0,1,0,0,0,2026-11-08T00:03:00Z,2026-11-08T00:03:00Z,"
        f"{sc.ALICE} -> {sc.DEPLOY_ROLE} -> {sc.APP_ROLE},release-42"
    ) in lines
    res = CliRunner().invoke(cli, ["who-uses", sc.K_APP, "--db", db, "--by", "person", "--format", "json"])
    assert res.exit_code == 0
    assert '"basis": "identity-center"' in res.output


@pytest.mark.shared
def test_corpus_lambda_role_sessions(tmp_path: Path) -> None:
    """Real Control Tower records: Decrypt by a role whose credentials lambda.amazonaws.com obtained."""
    path = need_shared(CORPUS / "cribl-aws-cloudtrail-logs-pack" / "records_zyNWSr_real.json")
    with Store() as store:
        ingest([LocalSource((str(path),))], store, workers=1)
        rows = people(store)
    [row] = [r for r in rows if any(p.endswith(":role/aws-controltower-ForwardSnsNotificationRole") for p in r.principals)]
    assert (row.person, row.basis, row.decrypt) == ("lambda.amazonaws.com", SERVICE, 4)
    assert row.sessions == ["aws-controltower-NotificationForwarder"]


# ---- names a caller chose are not evidence ---------------------------------------------------------


@pytest.mark.parametrize(
    ("arn", "sso"),
    [
        (SSO_ADMIN, True),
        ("arn:aws:iam::111122223333:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_ReadOnly_0123456789abcdef", True),
        ("arn:aws-us-gov:iam::111122223333:role/aws-reserved/sso.amazonaws.com/us-gov-west-1/AWSReservedSSO_X_1", True),
        (FAKE_SSO, False),  # the name alone: anyone with iam:CreateRole can choose it
        ("arn:aws:iam::111122223333:role/sso.amazonaws.com/AWSReservedSSO_Admin_fake", False),
        ("arn:aws:iam::111122223333:role/x/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Admin_fake", False),
        ("arn:aws:iam::111122223333:role/aws-reserved/sso.amazonaws.com/a/b/AWSReservedSSO_Admin_fake", False),
        ("arn:aws:iam::111122223333:role/aws-reserved/sso.amazonaws.com/NotReservedSSO", False),
        ("arn:aws:iam::111122223333:user/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Admin_fake", False),
        ("arn:aws:iam::111122223333:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_A\n", False),
        (None, False),
    ],
)
def test_an_sso_role_is_known_by_its_reserved_path(arn: str | None, sso: bool) -> None:
    assert is_sso_role(arn) is sso


def _attribute(role_arn: str, session: str, akid: str | None = None,
               creds: list[tuple[object, ...]] | None = None) -> tuple[str | None, str]:
    with Store() as store:
        resolver = _resolver_with(store, creds) if creds else SessionResolver(store)
        a = resolver.attribute(role_arn, "AssumedRole", session, None, akid)
        return a.person, a.basis


def test_a_role_named_like_sso_outside_the_reserved_path_names_nobody() -> None:
    assert _attribute(FAKE_SSO, "dave@example.com", "ASIANORECORD") == (None, UNATTRIBUTED)
    assert _attribute(SSO_ADMIN, "dave@example.com", "ASIANORECORD") == ("dave@example.com", SSO_SESSION)


def test_a_session_named_like_an_instance_is_only_a_guess() -> None:
    app = "arn:aws:iam::111122223333:role/service-role/AppRole"
    assert _attribute(app, "i-0123456789abcdef0", "ASIANORECORD") == ("i-0123456789abcdef0", EC2_INSTANCE_GUESS)
    assert _attribute(FAKE_SSO, "i-0123456789abcdef0") == ("i-0123456789abcdef0", EC2_INSTANCE_GUESS)
    assert _attribute(app, "alice@example.com") == (None, UNATTRIBUTED)
    assert _attribute(app, "i-0123456789abcdef0-not") == (None, UNATTRIBUTED)


def test_the_assume_role_record_is_stronger_than_any_session_name() -> None:
    app = "arn:aws:iam::111122223333:role/service-role/AppRole"
    alice = "arn:aws:iam::111122223333:user/alice"
    creds = [
        # EC2 obtained the instance profile's credentials, naming the session after the instance
        ("ASIAEC2", 1, "e1", "AssumeRole", app, "i-0123456789abcdef0", "ec2.amazonaws.com", "AWSService", None, None, None),
        # alice assumed the role and named her session like an instance
        ("ASIAALICE", 1, "e2", "AssumeRole", app, "i-0123456789abcdef0", alice, "IAMUser", "AKIAALICE", None, None),
        # alice assumed a role named like an SSO role, with someone else's name as session name
        ("ASIAFAKE", 1, "e3", "AssumeRole", FAKE_SSO, "dave@example.com", alice, "IAMUser", "AKIAALICE", None, None),
        # another service's session stays the service's
        ("ASIALAMBDA", 1, "e4", "AssumeRole", app, "i-0123456789abcdef0", "lambda.amazonaws.com", "AWSService", None,
         None, None),
    ]
    assert _attribute(app, "i-0123456789abcdef0", "ASIAEC2", creds) == ("i-0123456789abcdef0", EC2_INSTANCE)
    assert _attribute(app, "i-0123456789abcdef0", "ASIAALICE", creds) == (alice, ASSUMED_BY)
    assert _attribute(FAKE_SSO, "dave@example.com", "ASIAFAKE", creds) == (alice, ASSUMED_BY)
    assert _attribute(app, "i-0123456789abcdef0", "ASIALAMBDA", creds) == ("lambda.amazonaws.com", SERVICE)


def test_a_chain_through_a_fake_sso_role_names_nobody() -> None:
    creds = [("ASIA1", 1, "e1", "AssumeRole", "arn:aws:iam::1:role/App", "s", FAKE_SSO, "AssumedRole", "ASIAGONE",
              "dave@example.com", None)]
    assert _attribute("arn:aws:iam::1:role/App", "s", "ASIA1", creds) == (None, UNATTRIBUTED)


def test_attacks_from_a_trail(tmp_path: Path) -> None:
    """From log records: a fake SSO role and a session named like an instance, with no AssumeRole record."""
    t = Trail()
    when = datetime(2026, 11, 8, 1)
    fake = sc.role_session("AWSReservedSSO_Admin_fake", "dave@example.com", akid="ASIAFAKESSO000000001")
    posing = sc.role_session("AppRole", "i-0123456789abcdef0", path="/service-role/", akid="ASIAPOSING0000000001")
    real = sc.role_session("AWSReservedSSO_AdministratorAccess_1a2b3c4d5e6f7a8b", "carol@example.com",
                           path="/aws-reserved/sso.amazonaws.com/ap-northeast-1/", akid="ASIAREALSSO000000001")
    for i, who in enumerate((fake, posing, real)):
        t.kms("Decrypt", who, sc.K_APP, when.replace(minute=i))
    path = tmp_path / "trail.json"
    path.write_text(json.dumps({"Records": t.records}))
    db = str(tmp_path / "s.duckdb")
    assert CliRunner().invoke(cli, ["ingest", str(path), "--db", db, "-q"]).exit_code == 0
    res = CliRunner().invoke(cli, ["who-uses", sc.K_APP, "--db", db, "--by", "person", "--format", "json"])
    assert res.exit_code == 0, res.output
    rows = {(r["person"], r["basis"]) for r in json.loads(res.stdout)}
    assert rows == {
        (None, UNATTRIBUTED),
        ("i-0123456789abcdef0", EC2_INSTANCE_GUESS),
        ("carol@example.com", SSO_SESSION),
    }
    assert {r["basis"] for r in json.loads(res.stdout)} <= set(BASES)
    lines = CliRunner().invoke(cli, ["who-uses", sc.K_APP, "--db", db, "--by", "person", "--format", "csv"]).stdout
    assert f",unattributed,{FAKE_SSO},0,1," in lines  # no person, yet the role and session are shown
    assert ",dave@example.com\n" in lines


def test_findings_name_a_guessed_person_as_a_guess(scenario: Store) -> None:
    from keytrail.analysis.findings import FindingOptions
    from keytrail.analysis.findings.context import Context

    people = Context(scenario, FindingOptions()).people_of("key = ?", [sc.K_AWS])
    assert people == {(sc.K_AWS, sc.APP_ROLE): ["i-0a1b2c3d4e5f67890 (ec2-instance-guess)"]}
