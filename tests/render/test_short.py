"""Short forms for the terminal keep every name whole and leave out only what the context says."""

from __future__ import annotations

import pytest

from keytrail.render.short import Clock, clock, key, key_compacts, principal, resource

HOME = "111122223333"


@pytest.mark.parametrize(("value", "text", "compact", "name", "kind"), [
    ("arn:aws:iam::111122223333:user/test-user", "user/test-user", None, "test-user", "user"),
    ("arn:aws:iam::444455556666:role/ReportReader", "444455556666:role/ReportReader", None, "ReportReader", "role"),
    ("arn:aws:iam::111122223333:role/service-role/AppRole", "role/service-role/AppRole", "role/…/AppRole",
     "AppRole", "role"),
    ("arn:aws:iam::111122223333:root", "root", None, "root", "root"),
    ("arn:aws:sts::444455556666:federated-user/carol", "444455556666:federated-user/carol", None, "carol",
     "federated"),
    ("arn:aws:sts::111122223333:assumed-role/App/session-1", "assumed-role/App/session-1", None, "App", "role"),
    ("AWSAccount:444455556666:AROAEXAMPLEID", "444455556666:AROAEXAMPLEID", None, "AROAEXAMPLEID", "hidden"),
    ("cloudtrail.amazonaws.com", "cloudtrail.amazonaws.com", None, "cloudtrail.amazonaws.com", "service"),
    ("identitycenter:arn:aws:identitystore::111122223333:identitystore/d-1234567890/user/u-1",
     "identitycenter:d-1234567890/user/u-1", "identitycenter:…/user/u-1", "u-1", "identitycenter"),
    ("saml:arn:aws:iam::111122223333:saml-provider/Okta/alice@example.com", "saml:Okta/alice@example.com",
     "saml:…/alice@example.com", "alice@example.com", "saml"),
    ("something else", "something else", None, "something else", "other"),
])
def test_principals(value: str, text: str, compact: str | None, name: str, kind: str) -> None:
    who = principal(value, HOME)
    assert (who.text, who.compact, who.name, who.kind) == (text, compact, name, kind)


def test_keys_by_id_and_in_short_when_narrow() -> None:
    k = key("arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab")
    assert (k.id, k.account, k.region) == ("1234abcd-12ab-34cd-56ef-1234567890ab", HOME, "us-east-1")
    assert key("arn:aws:kms:us-east-1:111122223333:alias/orders").id == "alias/orders"  # an alias not resolved
    assert key_compacts(["1234abcd-12ab-34cd-56ef-1234567890ab", "mrk-774902b843aa4480136cae06097866f3",
                         "00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000002",
                         "short"]) == {
        "1234abcd-12ab-34cd-56ef-1234567890ab": "1234abcd…", "mrk-774902b843aa4480136cae06097866f3": "mrk-774902b8…",
        # the first eight characters are shared: as much of the end as tells them apart
        "00000000-0000-4000-8000-000000000001": "00000000…0001", "00000000-0000-4000-8000-000000000002": "00000000…0002",
        "short": "short"}


def test_times_without_the_year_their_heading_states() -> None:
    c = clock(["2026-11-02T08:05:00Z", "2026-11-03T09:00:00Z", None])
    assert (c.year, c.cell("2026-11-02T08:05:00Z"), c.full("2026-11-02T08:05:00Z")) == ("2026", "11-02 08:05",
                                                                                       "2026-11-02 08:05")
    assert clock(["2025-12-31T23:59:00Z", "2026-01-01T00:00:00Z"]).cell("2026-01-01T00:00:00Z") == "2026-01-01 00:00"
    assert Clock("2026").cell(None) == "" and Clock("2026").cell("not a time") == "not a time"


def test_resources_by_their_arn() -> None:
    assert resource("s3-object:arn:aws:s3:::bucket/key.csv") == "arn:aws:s3:::bucket/key.csv"
    assert resource("dynamodb-table:orders") == "dynamodb-table:orders"
