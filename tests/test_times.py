"""Times as users give them: ISO-8601, or a time ago."""

from __future__ import annotations

from datetime import datetime

import pytest

from keytrail.errors import SINCE, UsageError
from keytrail.times import ago, parse_time_bound

NOW = datetime(2026, 11, 2, 8, 30, 15, 123456)


@pytest.mark.parametrize(("value", "expected"), [
    ("12h", datetime(2026, 11, 1, 20, 30, 15)),
    ("7d", datetime(2026, 10, 26, 8, 30, 15)),
    ("30D", datetime(2026, 10, 3, 8, 30, 15)),
    (" 2w ", datetime(2026, 10, 19, 8, 30, 15)),
    ("0d", datetime(2026, 11, 2, 8, 30, 15)),
])
def test_a_time_ago_is_counted_back_from_now_to_the_second(value: str, expected: datetime) -> None:
    assert ago(value, NOW) == expected
    assert parse_time_bound(value, SINCE, NOW) == expected


@pytest.mark.parametrize("value", ["7", "d", "7m", "7 days", "-7d", "1.5d", "2026-11-02"])
def test_other_values_are_not_times_ago(value: str) -> None:
    assert ago(value, NOW) is None


def test_what_is_neither_names_both_forms() -> None:
    with pytest.raises(UsageError) as e:
        parse_time_bound("last week", SINCE)
    assert str(e.value) == "since: 'last week' is not an ISO-8601 date or date-time, nor a time ago (7d, 12h, 2w)"
