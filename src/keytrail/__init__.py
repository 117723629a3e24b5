"""keytrail: who is using this AWS KMS key -- for what, when, from where, on which resource?

The small public API::

    from keytrail import Store, LocalSource, ingest, usage, who_uses, Filters

    with Store("trail.duckdb") as store:
        ingest([LocalSource(("AWSLogs/",))], store)
        for row in who_uses(store, "alias/app-data"):
            print(row.principal, row.decrypt)
"""

from keytrail.analysis import Filters, keys_report, principals_report, usage, who_uses
from keytrail.errors import KeytrailError
from keytrail.model import KeyUse
from keytrail.normalize import normalize
from keytrail.pipeline import IngestReport, ingest
from keytrail.sources.local import LocalSource
from keytrail.store import Store

__version__ = "0.1.0"

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
