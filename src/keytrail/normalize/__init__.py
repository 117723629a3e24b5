"""Normalising: one CloudTrail record -> key-use rows with raw references, a pure function.

``normalizer`` is the function (``normalize`` for a parsed record, ``normalize_record`` for the
typed one the decoder makes); ``rules`` the attribution rules it composes (ARN forms, event times,
encryption-context resources, principals); ``operations`` the operation classes and categories;
``model`` the rows it returns. What needs other records is the resolver's (``keytrail.resolve``).
"""

from keytrail.normalize.model import AliasChange, CredentialIssue, IdentityHint, KeyUse, Normalized
from keytrail.normalize.normalizer import normalize, normalize_record

__all__ = ["AliasChange", "CredentialIssue", "IdentityHint", "KeyUse", "Normalized", "normalize", "normalize_record"]
