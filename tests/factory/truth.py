"""keytrail's usage against an archive's truth.json, row by row: the comparison of
``../shared/tools/check_truth.py``, in the test suite.

Every (key, principal) row of the truth must be in the usage with the same counts (encrypt,
decrypt, sign, admin, denied), and the usage must have no other row with a non-zero count.

    assert_matches_truth(result.stdout, archive / "truth.json")      # `usage --format json` output
    assert_matches_truth(usage(store), truth)                        # rows from the library
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

OPS = ("encrypt", "decrypt", "sign", "admin", "denied")
Row = tuple[str, str]  # (key, principal)


@dataclass
class Comparison:
    wanted: int = 0
    mismatched: list[tuple[Row, dict[str, int], dict[str, int] | None]] = field(default_factory=list)
    extra: list[tuple[Row, dict[str, int]]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.mismatched and not self.extra

    def summary(self) -> str:
        return (f"{self.wanted - len(self.mismatched)}/{self.wanted} (key, principal) rows match truth, "
                f"{len(self.extra)} extra rows")

    def report(self, first: int = 10) -> str:
        lines = [f"MISMATCH {k} want {w} got {g}" for k, w, g in self.mismatched[:first]]
        lines += [f"EXTRA {k} {g}" for k, g in self.extra[:first]]
        return "\n".join([*lines, self.summary()])


def _counts(row: Any) -> tuple[Row, dict[str, int]]:
    get = row.get if isinstance(row, Mapping) else lambda name: getattr(row, name, None)
    counts = {op: int(get(op) or 0) for op in OPS}
    return (str(get("key")), str(get("principal"))), {op: n for op, n in counts.items() if n}


def compare(usage: str | Iterable[Any], truth: Path | Mapping[str, Any]) -> Comparison:
    """``usage``: `usage --format json` output, or its rows (dicts, or the library's usage rows);
    ``truth``: a truth.json path, or its content."""
    rows = json.loads(usage) if isinstance(usage, str) else usage
    doc = json.loads(truth.read_text()) if isinstance(truth, Path) else truth
    got = dict(_counts(r) for r in rows)
    want = {(k, p): {op: n for op, n in ops.items() if n} for k, ps in doc["keys"].items() for p, ops in ps.items()}
    result = Comparison(wanted=len(want))
    result.mismatched = [(k, w, got.get(k)) for k, w in sorted(want.items()) if got.get(k) != w]
    result.extra = [(k, g) for k, g in sorted(got.items()) if k not in want and g]
    return result


def assert_matches_truth(usage: str | Iterable[Any], truth: Path | Mapping[str, Any]) -> Comparison:
    result = compare(usage, truth)
    assert result.ok, result.report()
    return result
