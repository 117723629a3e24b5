"""Questions asked of the store: usage per key and principal, keys, principals, who uses a key.

Every function takes a ``Store`` and plain typed filters and returns typed rows; resolution
already happened at ingest, so these are aggregations over ``key_use``.
"""

from keytrail.analysis.clashes import EventIdClash, event_id_clashes
from keytrail.analysis.filters import Filters, match_keys
from keytrail.analysis.usage import (
    KeyRow,
    PrincipalRow,
    UsageRow,
    keys_report,
    principals_report,
    usage,
    who_uses,
)

__all__ = [
    "EventIdClash",
    "Filters",
    "KeyRow",
    "PrincipalRow",
    "UsageRow",
    "event_id_clashes",
    "keys_report",
    "match_keys",
    "principals_report",
    "usage",
    "who_uses",
]
