"""The fuzz run's totals in pytest's summary: the figures the README's Reliability section quotes
(``KEYTRAIL_FUZZ_EXAMPLES=30 python -m pytest tests/hostile``)."""

from __future__ import annotations

import sys
from typing import Any


def pytest_terminal_summary(terminalreporter: Any) -> None:
    fuzz = sys.modules.get("tests.hostile.test_fuzz")
    run = getattr(fuzz, "RUN", None)
    if run:
        terminalreporter.write_line(
            f"fuzz examples run: {sum(run.values())} ({', '.join(f'{n} {k}' for k, n in run.items())})")
