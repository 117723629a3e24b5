"""keytrail: who is using this AWS KMS key -- for what, when, from where, on which resource?

The small public API::

    from keytrail import Store, LocalSource, ingest, usage, who_uses, Filters

    with Store("trail.duckdb") as store:
        ingest([LocalSource(("AWSLogs/",))], store)
        for row in who_uses(store, "alias/app-data"):
            print(row.principal, row.decrypt)
"""

from typing import TYPE_CHECKING, Any

from keytrail._version import __version__

if TYPE_CHECKING:
    from keytrail.analysis import Filters, keys_report, principals_report, usage, who_uses
    from keytrail.errors import KeytrailError
    from keytrail.normalize import KeyUse, normalize
    from keytrail.pipeline import IngestReport, ingest
    from keytrail.sources.local import LocalSource
    from keytrail.store import Store

# the public API, imported on first use (no work at import time: `keytrail --help` stays fast)
_EXPORTS = {
    "Filters": "keytrail.analysis",
    "keys_report": "keytrail.analysis",
    "principals_report": "keytrail.analysis",
    "usage": "keytrail.analysis",
    "who_uses": "keytrail.analysis",
    "KeytrailError": "keytrail.errors",
    "KeyUse": "keytrail.normalize",
    "normalize": "keytrail.normalize",
    "IngestReport": "keytrail.pipeline",
    "ingest": "keytrail.pipeline",
    "LocalSource": "keytrail.sources.local",
    "Store": "keytrail.store",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'keytrail' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


__all__ = [
    "Filters",
    "IngestReport",
    "KeyUse",
    "KeytrailError",
    "LocalSource",
    "Store",
    "__version__",
    "ingest",
    "keys_report",
    "normalize",
    "principals_report",
    "usage",
    "who_uses",
]
