"""Operation classes and categories: the one place that says which KMS events are which.

A KMS call that names a key is one of four *operation classes* (``op``): ``encrypt``,
``decrypt``, ``sign`` (signing, MAC and key agreement) or ``admin`` (everything else that names
a key). Its *category* is its class, or ``denied`` when the call failed (any ``errorCode``).
The *cryptographic* categories are encrypt, decrypt and sign: "use" of a key. The README's
"How calls are counted" states the whole set of counting rules.

Every module that needs these names imports them from here, Python and SQL alike
(``CRYPTO_SQL`` for a ``category IN (...)`` test). Which records are read at all -- KMS calls and
STS credential hand-outs (``is_read``) -- is decided where records are decoded
(``keytrail.decode.record``) and named here too.
"""

from __future__ import annotations

from keytrail.decode.record import CREDENTIAL_EVENTS, KMS_SOURCE, STS_SOURCE, is_read

ENCRYPT = "encrypt"
DECRYPT = "decrypt"
SIGN = "sign"
ADMIN = "admin"
DENIED = "denied"

OPERATIONS = (ENCRYPT, DECRYPT, SIGN, ADMIN)
"""Operation classes, in report order."""
CATEGORIES = (ENCRYPT, DECRYPT, SIGN, ADMIN, DENIED)
"""Categories, in report order (a failed call is ``denied`` instead of its class)."""
CRYPTO = (ENCRYPT, DECRYPT, SIGN)
"""The cryptographic categories: a key is *used* by these."""
CRYPTO_SET = frozenset(CRYPTO)

ENCRYPT_EVENTS = frozenset(
    {
        "Encrypt",
        "GenerateDataKey",
        "GenerateDataKeyWithoutPlaintext",
        "GenerateDataKeyPair",
        "GenerateDataKeyPairWithoutPlaintext",
    }
)
DECRYPT_EVENTS = frozenset({"Decrypt"})
SIGN_EVENTS = frozenset({"Sign", "Verify", "GenerateMac", "VerifyMac", "DeriveSharedSecret"})
REENCRYPT = "ReEncrypt"  # one decrypt on the source key and one encrypt on the destination key
ALIAS_EVENTS = frozenset({"CreateAlias", "UpdateAlias", "DeleteAlias"})
KEYLESS_EVENTS = frozenset(
    {
        "ListKeys",
        "ListAliases",  # KeyId optional: a filter
        "GenerateRandom",
        "CreateKey",  # the new key is in resources[] when the call succeeded
        "ListRetirableGrants",
        "RetireGrant",  # may name its grant by GrantToken alone
        "CreateCustomKeyStore",
        "ConnectCustomKeyStore",
        "DeleteCustomKeyStore",
        "DescribeCustomKeyStores",
        "DisconnectCustomKeyStore",
        "UpdateCustomKeyStore",
    }
)
"""The KMS calls that may name no key (their API takes none, or may do without). Every other KMS
call needs a key: one that names none keytrail can read is *unattributable*, never dropped."""

CRYPTO_EVENT_NAMES = tuple(sorted(ENCRYPT_EVENTS | DECRYPT_EVENTS | SIGN_EVENTS | {REENCRYPT}))
"""Every cryptographic KMS event name (the actions a key policy grants for use)."""

KMS_EVENT_NAMES = frozenset(
    {
        # the KMS API's actions (API Reference, "Actions")
        "CancelKeyDeletion", "ConnectCustomKeyStore", "CreateAlias", "CreateCustomKeyStore", "CreateGrant",
        "CreateKey", "Decrypt", "DeleteAlias", "DeleteCustomKeyStore", "DeleteImportedKeyMaterial",
        "DeriveSharedSecret", "DescribeCustomKeyStores", "DescribeKey", "DisableKey", "DisableKeyRotation",
        "DisconnectCustomKeyStore", "EnableKey", "EnableKeyRotation", "Encrypt", "GenerateDataKey",
        "GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext", "GenerateDataKeyWithoutPlaintext",
        "GenerateMac", "GenerateRandom", "GetKeyLastUsage", "GetKeyPolicy", "GetKeyRotationStatus",
        "GetParametersForImport", "GetPublicKey", "ImportKeyMaterial", "ListAliases", "ListGrants",
        "ListKeyPolicies", "ListKeyRotations", "ListKeys", "ListResourceTags", "ListRetirableGrants",
        "PutKeyPolicy", "ReEncrypt", "ReplicateKey", "RetireGrant", "RevokeGrant", "RotateKeyOnDemand",
        "ScheduleKeyDeletion", "Sign", "TagResource", "UntagResource", "UpdateAlias", "UpdateCustomKeyStore",
        "UpdateKeyDescription", "UpdatePrimaryRegion", "Verify", "VerifyMac",
        # events KMS logs for what it does on its own (rotation, deletion, expiry, replica sync)
        "RotateKey", "DeleteKey", "DeleteExpiredKeyMaterial", "SynchronizeMultiRegionKey",
    }
)
"""Every KMS event name CloudTrail logs (the names a policy file may give as operations)."""

_CLASS = {**{e: ENCRYPT for e in ENCRYPT_EVENTS}, **{e: DECRYPT for e in DECRYPT_EVENTS}, **{e: SIGN for e in SIGN_EVENTS}}


def operation_class(event_name: str) -> str:
    """encrypt / decrypt / sign / admin for a KMS event name (ReEncrypt is split by the caller)."""
    return _CLASS.get(event_name, ADMIN)


def sql_list(values: tuple[str, ...]) -> str:
    """``('a', 'b')``: constant names (never user input) as a SQL list."""
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


CRYPTO_SQL = sql_list(CRYPTO)
"""``('encrypt', 'decrypt', 'sign')`` for ``category IN {CRYPTO_SQL}``."""

__all__ = [
    "ADMIN", "ALIAS_EVENTS", "CATEGORIES", "CREDENTIAL_EVENTS", "CRYPTO", "CRYPTO_EVENT_NAMES", "CRYPTO_SET",
    "CRYPTO_SQL", "DECRYPT", "DECRYPT_EVENTS", "DENIED", "ENCRYPT", "ENCRYPT_EVENTS", "KEYLESS_EVENTS", "KMS_EVENT_NAMES",
    "KMS_SOURCE", "OPERATIONS",
    "REENCRYPT", "SIGN", "SIGN_EVENTS", "STS_SOURCE", "is_read", "operation_class", "sql_list",
]
