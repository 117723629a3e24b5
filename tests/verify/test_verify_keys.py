"""Public keys from `aws cloudtrail list-public-keys` and signature checks."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from keytrail.verify import PublicKeysError, load_public_keys, parse_public_keys
from keytrail.verify.keys import check_signature
from tests.factory.signed import TrailSigner, public_keys_json

# Two keys from the CloudTrail User Guide's sample `list-public-keys` response (lower-case
# "publicKeyList" as printed there): one PKCS #1, one SubjectPublicKeyInfo. Their fingerprints are
# the MD5 of the DER bytes, which the loader checks.
DOC_RESPONSE = {
    "publicKeyList": [
        {
            "ValidityStartTime": "1436317441.0",
            "ValidityEndTime": "1438909441.0",
            "Value": "MIIBCgKCAQEAn11L2YZ9h7onug2ILi1MWyHiMRsTQjfWE+pHVRLk1QjfWhirG+lpOa8NrwQ/r7Ah5bNL6HepznOU9XTDSfmmnP97mqyc7z/"
            "upfZdS/AHhYcGaz7n6Wc/RRBU6VmiPCrAUojuSk6/GjvA8iOPFsYDuBtviXarvuLPlrT9kAd4Lb+rFfR5peEgBEkhlzc5HuWO7S0y+KunqxX6j"
            "QBnXGMtxmPBPP0FylgWGNdFtks/4YSKcgqwH0YDcawP9GGGDAeCIqPWIXDLG1jOjRRzWfCmD0iJUkz8vTsn4hq/5ZxRFE7UBAUiVcGbdnDdvV"
            "fhF9C3dQiDq3k7adQIziLT0cShgQIDAQAB",
            "Fingerprint": "8eba5db5bea9b640d1c96a77256fe7f2",
        },
        {
            "ValidityStartTime": "1434589370.0",
            "ValidityEndTime": "1437181370.0",
            "Value": "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAqlzPJbvZJ42UdcmLfPUqXYNfOs6I8lCfao/tOs8CmzPOEdtLWugB9xoIUz78q"
            "VHdKIqxbaG4jWHfJBiOSSFBM0lt8cdVo4TnRa7oG9io5pysS6DJhBBAeXsicufsiFJR+wrUNh8RSLxL4k6G1+BhLX20tJkZ/erT97tDGBujAel"
            "qseGg3vPZbTx9SMfOLN65PdLFudLP7Gat0Z9p5jw/rjpclKfo9Bfc3heeBxWGKwBBOKnFAaN9V57pOaosCvPKmHd9bg7jsQkI9Xp22IzGLsTFJZ"
            "YVA3KiTAElDMu80iFXPHEq9hKNbt9e4URFam+1utKVEiLkR2disdCmPTK0VQIDAQAB",
            "Fingerprint": "31e8b5433410dfb61a9dc45cc65b22ff",
        },
    ]
}


def test_the_documented_response_loads() -> None:
    keys = parse_public_keys(orjson.dumps(DOC_RESPONSE))
    assert [k.fingerprint for k in keys] == ["8eba5db5bea9b640d1c96a77256fe7f2", "31e8b5433410dfb61a9dc45cc65b22ff"]
    assert keys[0].valid_from == datetime(2015, 7, 8, 1, 4, 1, tzinfo=UTC)
    assert all(k.rsa_key().key_size == 2048 for k in keys)


def test_iso_times_and_a_bare_list(signer: TrailSigner) -> None:
    entry = {"Value": base64.b64encode(signer.public_der).decode(), "Fingerprint": signer.fingerprint.upper(),
             "ValidityStartTime": "2026-01-01T00:00:00+00:00", "ValidityEndTime": None}
    (key,) = parse_public_keys(orjson.dumps([entry]))
    assert key.fingerprint == signer.fingerprint
    assert key.valid_from == datetime(2026, 1, 1, tzinfo=UTC) and key.valid_to is None


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"nope", "keys.json: not JSON"),
        (b"{}", "keys.json: no PublicKeyList: expected the output of `aws cloudtrail list-public-keys`"),
        (b'{"PublicKeyList": []}', "keys.json: PublicKeyList is empty"),
        (b'{"PublicKeyList": [{"Value": "AAAA"}]}', "keys.json: PublicKeyList[0] needs Value (base64) and Fingerprint (hex)"),
        (b'{"PublicKeyList": [{"Value": "!!", "Fingerprint": "00"}]}', "keys.json: PublicKeyList[0]: Value is not base64"),
        (b'{"PublicKeyList": [{"Value": "AAAA", "Fingerprint": "00"}]}',
         "keys.json: PublicKeyList[0]: Fingerprint 00 is not the MD5 of its Value (altered key file?)"),
        (b'{"PublicKeyList": [{"Value": "AAAA", "Fingerprint": "693e9af84d3dfcc71e640e005bdc5e2e"}]}',
         "keys.json: PublicKeyList[0]: Value is not a DER-encoded RSA public key"),
        (b'{"PublicKeyList": [{"Value": "AAAA", "Fingerprint": "693e9af84d3dfcc71e640e005bdc5e2e", '
         b'"ValidityStartTime": "soon"}]}',
         "keys.json: PublicKeyList[0]: ValidityStartTime is not a time: 'soon'"),
    ],
)
def test_bad_key_files_are_refused(data: bytes, message: str) -> None:
    with pytest.raises(PublicKeysError) as e:
        parse_public_keys(data, "keys.json")
    assert str(e.value).startswith(message)


def test_load_names_the_unreadable_file(tmp_path: Path, signer: TrailSigner) -> None:
    with pytest.raises(PublicKeysError, match="missing.json: cannot read: No such file or directory"):
        load_public_keys(str(tmp_path / "missing.json"))
    (tmp_path / "k.json").write_bytes(public_keys_json([signer]))
    assert load_public_keys(str(tmp_path / "k.json"))[0].fingerprint == signer.fingerprint


def test_check_signature(signer: TrailSigner, forger: TrailSigner) -> None:
    keys = parse_public_keys(public_keys_json([signer]))
    when = datetime(2026, 1, 5, tzinfo=UTC)
    data = b"2026-01-05T00:00:00Z\nbucket/key\nabc\nnull"
    assert check_signature(data, signer.sign(data), signer.fingerprint, when, keys).ok
    bad = check_signature(data + b"x", signer.sign(data), signer.fingerprint, when, keys)
    assert (bad.ok, bad.kind, bad.message) == (False, "digest-signature", "the signature does not verify")
    forged = check_signature(data, forger.sign(data), signer.fingerprint, when, keys)
    assert (forged.ok, forged.kind) == (False, "digest-signature")
    unknown = check_signature(data, forger.sign(data), forger.fingerprint, when, keys)
    assert (unknown.ok, unknown.kind) == (False, "digest-key")
    assert check_signature(data, "zz", signer.fingerprint, when, keys).message == "the signature is not hexadecimal"
    late = check_signature(data, signer.sign(data), signer.fingerprint, when + timedelta(days=365), keys)
    assert late.ok and late.warning.startswith(f"public key {signer.fingerprint} is listed as valid from ")
