"""Session -> person: Identity Center, AssumeRole chains, SSO session names, EC2 instances, services."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from keytrail.analysis.filters import Filters
from keytrail.analysis.sessions import (
    ASSUMED_BY,
    EC2_INSTANCE,
    HIDDEN,
    IDENTITY_CENTER,
    PRINCIPAL,
    SERVICE,
    SSO_SESSION,
    UNATTRIBUTED,
    SessionResolver,
    people,
    who_uses_by_person,
)
from keytrail.cli.main import cli
from keytrail.pipeline import ingest
from keytrail.sources.local import LocalSource
from keytrail.store import Store
from tests import trailgen as tg
from tests.conftest import CORPUS, need_shared

WINDOW = Filters(keys=(tg.K_APP,), since=datetime(2026, 11, 8))


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    tmp = tmp_path_factory.mktemp("sessions")
    path = str(tmp / "store.duckdb")
    tg.scenario_store(tmp, db=path).close()
    return path


@pytest.fixture
def scenario(db: str) -> Iterator[Store]:
    with Store(db, read_only=True) as store:
        yield store


def test_people_behind_the_app_key(scenario: Store) -> None:
    rows = {(r.person, r.basis, tuple(r.principals)): r for r in people(scenario, WINDOW)}
    assert set(rows) == {
        (tg.ALICE, ASSUMED_BY, (tg.APP_ROLE,)),
        (tg.BOB, PRINCIPAL, (tg.BOB,)),
        ("arn:aws:iam::111122223333:root", PRINCIPAL, ("arn:aws:iam::111122223333:root",)),
        ("cloudtrail.amazonaws.com", SERVICE, ("cloudtrail.amazonaws.com",)),
        ("dave@example.com", SSO_SESSION, (tg.SSO_ROLE,)),
        ("i-0a1b2c3d4e5f67890", EC2_INSTANCE, (tg.APP_ROLE,)),
        (f"identitycenter-user:{tg.IC_USER}", IDENTITY_CENTER, (tg.SSO_ROLE,)),
        ("lambda.amazonaws.com", SERVICE, (tg.LAMBDA_ROLE,)),
        ("saml:arn:aws:iam::111122223333:saml-provider/Okta/erin", ASSUMED_BY, (tg.DEPLOY_ROLE,)),
        (None, UNATTRIBUTED, (tg.NEW_ROLE,)),
        (None, UNATTRIBUTED, (tg.PARTNER_ROLE,)),
    }
    alice = rows[(tg.ALICE, ASSUMED_BY, (tg.APP_ROLE,))]
    assert alice.chains == [f"{tg.ALICE} -> {tg.DEPLOY_ROLE} -> {tg.APP_ROLE}"]
    assert alice.sessions == ["release-42"]
    assert (alice.decrypt, alice.first_seen) == (1, "2026-11-08T00:03:00Z")
    ic = rows[(f"identitycenter-user:{tg.IC_USER}", IDENTITY_CENTER, (tg.SSO_ROLE,))]
    assert ic.sessions == ["carol@example.com"]
    assert rows[("lambda.amazonaws.com", SERVICE, (tg.LAMBDA_ROLE,))].chains == [f"lambda.amazonaws.com -> {tg.LAMBDA_ROLE}"]
    assert rows[(tg.BOB, PRINCIPAL, (tg.BOB,))].denied == 2


def test_who_uses_by_person_takes_an_alias(scenario: Store) -> None:
    rows = who_uses_by_person(scenario, "alias/app", Filters(since=datetime(2026, 11, 8)))
    assert {r.key for r in rows} == {tg.K_APP}
    assert tg.ALICE in {r.person for r in rows}


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


def test_chain_ends_in_an_identity_center_caller_or_a_hidden_one() -> None:
    with Store() as store:
        r = _resolver_with(store, [
            ("ASIA1", 1, "e1", "AssumeRole", "arn:aws:iam::1:role/App", "s", "arn:aws:iam::1:role/AWSReservedSSO_Admin_x",
             "AssumedRole", "ASIAGONE", "carol@example.com", None),
            ("ASIA3", 1, "e3", "AssumeRole", "arn:aws:iam::1:role/App", "t", "arn:aws:iam::1:role/Ops", "AssumedRole",
             "ASIA4", "ops", "user-123"),
            ("ASIA5", 1, "e5", "AssumeRole", "arn:aws:iam::1:role/App", "u", None, "AWSAccount", None, None, None),
        ])
        a = r.attribute("arn:aws:iam::1:role/App", "AssumedRole", "s", None, "ASIA1")
        assert (a.person, a.basis) == ("carol@example.com", SSO_SESSION)
        assert a.chain == ("arn:aws:iam::1:role/AWSReservedSSO_Admin_x", "arn:aws:iam::1:role/App")
        assert a.evidence == ("e1",)
        b = r.attribute("arn:aws:iam::1:role/App", "AssumedRole", "t", None, "ASIA3")
        assert (b.person, b.basis) == ("identitycenter-user:user-123", IDENTITY_CENTER)
        c = r.attribute("arn:aws:iam::1:role/App", "AssumedRole", "u", None, "ASIA5")
        assert (c.person, c.basis) == (None, UNATTRIBUTED)
        d = r.attribute("AWSAccount:444455556666:AROAX", "AWSAccount", "u", None, None)
        assert (d.person, d.basis) == (None, HIDDEN)


def test_who_uses_by_person_cli(db: str) -> None:
    res = CliRunner().invoke(
        cli, ["who-uses", tg.K_APP, "--db", db, "--since", "2026-11-08", "--by", "person", "--format", "csv"]
    )
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert lines[0] == "person,basis,principals,encrypt,decrypt,sign,admin,denied,first_seen,last_seen,chains,sessions"
    assert (
        f"{tg.ALICE},assumed-by,{tg.APP_ROLE},0,1,0,0,0,2026-11-08T00:03:00Z,2026-11-08T00:03:00Z,"
        f"{tg.ALICE} -> {tg.DEPLOY_ROLE} -> {tg.APP_ROLE},release-42"
    ) in lines
    res = CliRunner().invoke(cli, ["who-uses", tg.K_APP, "--db", db, "--by", "person", "--format", "json"])
    assert res.exit_code == 0
    assert '"basis": "identity-center"' in res.output


def test_corpus_lambda_role_sessions(tmp_path: Path) -> None:
    """Real Control Tower records: Decrypt by a role whose credentials lambda.amazonaws.com obtained."""
    path = need_shared(CORPUS / "cribl-aws-cloudtrail-logs-pack" / "records_zyNWSr_real.json")
    with Store() as store:
        ingest([LocalSource((str(path),))], store, workers=1)
        rows = people(store)
    [row] = [r for r in rows if any(p.endswith(":role/aws-controltower-ForwardSnsNotificationRole") for p in r.principals)]
    assert (row.person, row.basis, row.decrypt) == ("lambda.amazonaws.com", SERVICE, 4)
    assert row.sessions == ["aws-controltower-NotificationForwarder"]
