"""Condition blocks evaluated against what a record shows (IAM's condition operators), and grant
constraints; arbitrary blocks never raise."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keytrail.analysis.tighten.conditions import UNKNOWN, CallContext, grant_holds, holds, parse_context

CTX = CallContext(
    via_service="s3.us-east-1.amazonaws.com",
    encryption_context={"aws:s3:arn": "arn:aws:s3:::orders/a.csv", "App": "x"},
    principal_arn="arn:aws:iam::111122223333:role/App",
    caller_account="111122223333",
    grant_for_aws_resource=True,
)


@pytest.mark.parametrize(
    ("block", "expected"),
    [
        ({"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}}, True),
        ({"StringEquals": {"KMS:VIASERVICE": ["ec2.us-east-1.amazonaws.com", "s3.us-east-1.amazonaws.com"]}}, True),
        ({"StringEquals": {"kms:ViaService": "ec2.us-east-1.amazonaws.com"}}, False),
        ({"StringNotEquals": {"kms:ViaService": "ec2.us-east-1.amazonaws.com"}}, True),
        ({"StringLike": {"kms:EncryptionContext:aws:s3:arn": "arn:aws:s3:::orders/*"}}, True),
        ({"StringLike": {"kms:EncryptionContext:AWS:S3:ARN": ["arn:aws:s3:::other/*"]}}, False),
        ({"StringEquals": {"kms:EncryptionContext:app": "x"}}, True),  # context keys: case-insensitive
        ({"StringEquals": {"kms:EncryptionContext:missing": "x"}}, False),
        ({"StringEqualsIfExists": {"kms:EncryptionContext:missing": "x"}}, True),
        ({"StringNotEquals": {"kms:EncryptionContext:missing": "x"}}, True),
        ({"Null": {"kms:EncryptionContext:missing": "true"}}, True),
        ({"Null": {"kms:EncryptionContext:aws:s3:arn": "true"}}, False),
        ({"ForAllValues:StringEquals": {"kms:EncryptionContextKeys": ["aws:s3:arn", "App"]}}, True),
        ({"ForAllValues:StringEquals": {"kms:EncryptionContextKeys": ["aws:s3:arn"]}}, False),
        ({"ForAnyValue:StringEquals": {"kms:EncryptionContextKeys": ["App"]}}, True),
        ({"ArnEquals": {"aws:PrincipalArn": "arn:aws:iam::111122223333:role/App"}}, True),
        ({"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/*"}}, True),
        ({"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::111122223333:user/*"}}, False),
        ({"Bool": {"kms:GrantIsForAWSResource": "true"}}, True),
        ({"Bool": {"kms:GrantIsForAWSResource": False}}, False),
        ({"StringEquals": {"kms:CallerAccount": "111122223333", "kms:ViaService": "s3.us-east-1.amazonaws.com"}}, True),
        ({"StringEquals": {"kms:CallerAccount": "111122223333"}, "StringLike": {"kms:ViaService": "ec2.*"}}, False),
        ({"StringEquals": {"aws:SourceIp": "10.0.0.1"}}, None),  # a key the record cannot settle
        ({"NumericLessThan": {"kms:ViaService": "1"}}, None),  # an operator not evaluated
        ({"StringEquals": {"aws:SourceIp": "10.0.0.1", "kms:ViaService": "ec2"}}, False),  # one false entry decides
    ],
)
def test_operators(block: dict[str, Any], expected: bool | None) -> None:
    assert holds(block, CTX) is expected


def test_unknown_values_leave_the_answer_open() -> None:
    internal = CallContext(via_service=UNKNOWN, encryption_context=None)
    assert holds({"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}}, internal) is None
    assert holds({"StringEquals": {"kms:EncryptionContext:a": "b"}}, CallContext(encryption_context=UNKNOWN)) is None
    assert parse_context('{"a": 1}') is UNKNOWN and parse_context("not json") is UNKNOWN and parse_context(None) is None


def test_grant_constraints() -> None:
    assert grant_holds(None, CTX) is True
    assert grant_holds('{"EncryptionContextSubset": {"App": "x"}}', CTX) is True
    assert grant_holds('{"EncryptionContextSubset": {"App": "y"}}', CTX) is False
    assert grant_holds('{"EncryptionContextEquals": {"App": "x"}}', CTX) is False
    assert grant_holds('{"Other": {}}', CTX) is None


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=30), inner, max_size=3),
    max_leaves=12,
)
_OPERATORS = st.sampled_from(["StringEquals", "StringLike", "ForAllValues:StringLike", "ArnLike", "Bool", "Null",
                              "StringNotEqualsIfExists", "ForAnyValue:ArnNotLike", "Weird"])
_KEYS = st.sampled_from(["kms:ViaService", "kms:EncryptionContext:App", "kms:EncryptionContextKeys", "aws:PrincipalArn",
                         "kms:GrantIsForAWSResource", "aws:SourceIp"])


@settings(max_examples=200, deadline=None)
@given(block=_JSON | st.dictionaries(_OPERATORS, st.dictionaries(_KEYS, _JSON, max_size=2), max_size=3))
def test_any_block_gives_true_false_or_none(block: Any) -> None:
    assert holds(block, CTX) in (True, False, None)
    assert holds(block, CallContext()) in (True, False, None)
