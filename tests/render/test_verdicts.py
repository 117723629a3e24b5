"""verify's problems on a terminal: a long file name on a line of its own, whole where the line can
hold it; the problem wrapped at words beside its status."""

from __future__ import annotations

from keytrail.render.grid import Screen
from keytrail.render.verdicts import verification_text

LONG = "AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/02/111122223333_CloudTrail_us-east-1_20261102T0805Z_abc.json.gz"
ROWS = [
    {"level": "FAILED", "file": LONG,
     "message": "its SHA-256 differs from the one the digest lists: the file was modified after delivery"},
    {"level": "WARNING", "file": "AWSLogs/x.json.gz", "message": "pending"},
]


def test_verification_problems_at_80_columns() -> None:
    assert verification_text(ROWS, Screen(80)) == (
        "file               status   problem\n"
        "────────────────────────────────────────────────────────────────────────────────\n"
        "AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/02/\n"
        "111122223333_CloudTrail_us-east-1_20261102T0805Z_abc.json.gz\n"
        "                   FAILED   its SHA-256 differs from the one the digest lists:\n"
        "                            the file was modified after delivery\n"
        "AWSLogs/x.json.gz  WARNING  pending\n"
    )


def test_failures_in_red_on_a_colour_terminal() -> None:
    assert "\x1b[1;31mFAILED\x1b[0m" in verification_text(ROWS, Screen(80, color=True))
