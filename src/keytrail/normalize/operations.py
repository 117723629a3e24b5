"""Operation classes and categories: the one place that says which KMS events are which.

A KMS call that names a key is one of four *operation classes* (``op``): ``encrypt``,
``decrypt``, ``sign`` (signing, MAC and key agreement) or ``admin`` (everything else that names
a key). Its *category* is its class, or ``denied`` when the call failed (any ``errorCode``).
The *cryptographic* categories are encrypt, decrypt and sign: "use" of a key. The README's
"How calls are counted" states the whole set of counting rules.

Every module that needs these names imports them from here, Python and SQL alike
(``CRYPTO_SQL`` for a ``category IN (...)`` test).
"""

from __future__ import annotations

KMS_SOURCE = "kms.amazonaws.com"
STS_SOURCE = "sts.amazonaws.com"

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
CREDENTIAL_EVENTS = frozenset({"AssumeRole", "AssumeRoleWithSAML", "AssumeRoleWithWebIdentity"})

CRYPTO_EVENT_NAMES = tuple(sorted(ENCRYPT_EVENTS | DECRYPT_EVENTS | SIGN_EVENTS | {REENCRYPT}))
"""Every cryptographic KMS event name (the actions a key policy grants for use)."""

_CLASS = {**{e: ENCRYPT for e in ENCRYPT_EVENTS}, **{e: DECRYPT for e in DECRYPT_EVENTS}, **{e: SIGN for e in SIGN_EVENTS}}


def operation_class(event_name: str) -> str:
    """encrypt / decrypt / sign / admin for a KMS event name (ReEncrypt is split by the caller)."""
    return _CLASS.get(event_name, ADMIN)


def is_read(event_source: object, event_name: object) -> bool:
    """Whether the normaliser reads a record with this eventSource and eventName: a KMS call, or an
    STS credential hand-out (who is behind a role session). Every other record only gives identity
    hints."""
    return event_source == KMS_SOURCE or (
        event_source == STS_SOURCE and type(event_name) is str and event_name in CREDENTIAL_EVENTS
    )


def sql_list(values: tuple[str, ...]) -> str:
    """``('a', 'b')``: constant names (never user input) as a SQL list."""
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


CRYPTO_SQL = sql_list(CRYPTO)
"""``('encrypt', 'decrypt', 'sign')`` for ``category IN {CRYPTO_SQL}``."""
