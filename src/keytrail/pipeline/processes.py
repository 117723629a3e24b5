"""Set-up of the processes keytrail owns: the command line's, and the ingest workers' forkserver.

pyarrow, the first time it converts Python values to an array, imports pandas (when it is
installed) to learn whether the values are a pandas Series. keytrail never hands pyarrow pandas
objects, and that import costs each process ~0.3 s of CPU and ~48 MB of memory: more than a
worker's share of a small ingest, and an eighth of the parent's peak. ``arrow_without_pandas``
lets pyarrow make that check once while ``import pandas`` fails, so it settles on "no pandas";
an explicit pandas conversion (``Table.to_pandas``) still imports pandas when asked. It is done
only in processes keytrail owns (never by the library on a caller's behalf), and not at all where
pandas is already imported.

The ingest pool runs it in each worker as it starts (``engine._run_chunks``); the command line
runs it before it ingests (commands that only read a store do not load pyarrow at all).
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
from collections.abc import Sequence
from types import ModuleType


class _NoPandas(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None,
                  ) -> importlib.machinery.ModuleSpec | None:
        if fullname == "pandas" or fullname.startswith("pandas."):
            raise ModuleNotFoundError(f"No module named {fullname!r}", name=fullname)
        return None


def arrow_without_pandas() -> None:
    """pyarrow's pandas check made once with pandas out of reach (see the module's text)."""
    if "pandas" in sys.modules:
        return
    import pyarrow as pa

    blocker = _NoPandas()
    sys.meta_path.insert(0, blocker)
    try:
        pa.array([0])  # pyarrow looks for pandas here, once per process
    finally:
        sys.meta_path.remove(blocker)

