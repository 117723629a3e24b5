"""keytrail's own processes keep pyarrow from importing pandas (``keytrail.pipeline.processes``)."""

from __future__ import annotations

import subprocess
import sys

import pytest

SCRIPT = """
import sys
from keytrail.pipeline.processes import arrow_without_pandas
arrow_without_pandas()
import pyarrow as pa
column = pa.array(["a", None, "b"])
print("pandas" in sys.modules, column.null_count)
frame = pa.table({"x": [1, 2]}).to_pandas()  # asked for explicitly: pandas is imported then
print("pandas" in sys.modules, list(frame["x"]))
"""


def test_arrow_is_built_without_importing_pandas_and_pandas_still_comes_when_asked_for() -> None:
    pytest.importorskip("pandas", reason="pandas is one of the test dependencies")
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == ["False 1", "True [1, 2]"]


def test_a_process_that_already_has_pandas_is_left_as_it_is() -> None:
    pytest.importorskip("pandas", reason="pandas is one of the test dependencies")
    script = "import pandas, sys\n" + SCRIPT.replace('print("pandas" in sys.modules, column.null_count)', "")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == ["True [1, 2]"]
