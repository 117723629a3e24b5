"""When a log file no digest lists is *pending* (its digest is still to come), not *uncovered*.

CloudTrail names a log file by the minute it delivered it (``..._YYYYMMDDTHHMMZ_UNIQUE.json.gz``)
and lists it in the first digest of its account and Region delivered after it. So a log file that
no digest lists can be legitimately new only when it came after the newest digest there. Its
name alone is no proof -- whoever writes the file picks the name -- so its records must agree.
A log file no digest lists is **pending** when all of these hold:

1. it lies where CloudTrail delivers log files (``AWSLogs/[o-ORG/]ACCOUNT/CloudTrail/REGION/...``)
   under a CloudTrail log file name, and that account and Region have a digest (not a backfill);
2. its name's delivery time is not before the newest such digest's ``digestEndTime`` (compared to
   the minute: names carry no seconds);
3. it is a CloudTrail log file (``{"Records": [...]}``) with at least one record, and no record's
   ``eventTime`` is earlier than ``DELIVERY_ALLOWANCE`` (15 minutes) before that end time.

Anything else no digest lists is *uncovered*: a failure. A file named for 2099 whose records fall
in the period the digests cover is uncovered. The allowance is CloudTrail's delivery delay (about
5 minutes on average): a file delivered just after a digest closed holds calls from that digest's
last minutes. Pending or not, such a file is never verified, so ``--verify`` never reads it; the
rule only decides whether it is reported as a failure or as a warning.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import orjson

from keytrail.i18n import _, is_utc, local_iso
from keytrail.times import iso
from keytrail.verify.digest import parse_time

DELIVERY_ALLOWANCE = timedelta(minutes=15)


def oldest_event(content: bytes) -> datetime:
    """The oldest ``eventTime`` of a CloudTrail log file's records; ``ValueError`` says why not."""
    try:
        obj = orjson.loads(content)
    except orjson.JSONDecodeError as e:
        raise ValueError(_("it is not JSON")) from e
    records = obj.get("Records") if isinstance(obj, dict) else None
    if not isinstance(records, list):
        raise ValueError(_("it is not a CloudTrail log file (no Records list)"))
    if not records:
        raise ValueError(_("it holds no records"))
    times: list[datetime] = []
    for i, record in enumerate(records):
        value = record.get("eventTime") if isinstance(record, dict) else None
        if not isinstance(value, str):
            raise ValueError(_("record {n} has no eventTime").format(n=i))
        try:
            times.append(parse_time(value))
        except ValueError as e:
            raise ValueError(_("record {n} has no valid eventTime ({value!r})").format(n=i, value=value)) from e
    return min(times)


def named_after(delivered: datetime, newest_end: datetime) -> bool:
    """Rule 2: the name's delivery minute is not before the minute the newest digest ended."""
    return delivered >= newest_end.replace(second=0, microsecond=0)


def not_pending_because(content: Callable[[], bytes], delivered: datetime, newest_end: datetime) -> str | None:
    """None when a file named as delivered at ``delivered`` (rule 2 holds) is pending by its
    records (rule 3); else why it is not, for the failure's message. ``content`` may raise
    ``ValueError`` (e.g. corrupt gzip data) -- reported as the reason."""
    claim = _("named as delivered at {delivered}, after the newest digest ({end})").format(
        delivered=f"{delivered:%Y-%m-%dT%H:%MZ}" if is_utc() else local_iso(iso(delivered)), end=_at(newest_end))
    try:
        oldest = oldest_event(content())
    except ValueError as e:
        return _("{claim}, but its records' times cannot be read: {reason}").format(claim=claim, reason=e)
    bound = newest_end - DELIVERY_ALLOWANCE
    if oldest < bound:
        return _("{claim}, but it holds a call from {oldest}, before {bound}: a period the digests cover").format(
            claim=claim, oldest=_at(oldest), bound=_at(bound))
    return None


def _at(t: datetime) -> str:
    return local_iso(iso(t)) or ""
