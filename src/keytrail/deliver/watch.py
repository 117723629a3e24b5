"""One run of ``keytrail watch``: ingest what is new, find, and notify only the findings that are new.

A run, against a store opened for writing (a second watch on the same store gets "store is busy"):

1. ingest the sources -- the store's ledger makes this read only new files and objects;
2. take the findings (``FindingOptions``: kinds, severity, window);
3. in one transaction, add the findings whose stable id the store has not seen to
   ``watch_findings`` as pending (``store.watch_state``);
4. notify every pending finding -- this run's and any whose notification failed before --
   message by message, each try retried with backoff; a message delivered is marked notified in
   a transaction right after, a message that still fails stays pending for the next run.

So a run can be repeated (from cron, a scheduler, a CI job) at any time: nothing is notified
twice, nothing found is lost. The one gap no local state can close: a crash between a receiver
accepting a message and the transaction marking it; the next run sends it again with the same
message id (webhook ``Idempotency-Key``, SNS FIFO ``MessageDeduplicationId``).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from keytrail.analysis.findings import FindingOptions, findings_report
from keytrail.analysis.findings.base import Finding
from keytrail.analysis.findings.identity import finding_id
from keytrail.deliver.notify import Message, Notifier
from keytrail.errors import DeliveryError
from keytrail.i18n import _
from keytrail.pipeline import IngestReport, ingest
from keytrail.sources.retry import RetryPolicy
from keytrail.store import Store
from keytrail.store import watch_state as state

SEND_ATTEMPTS = 4  # tries of one message in one run (then it waits for the next run)


@dataclass
class RunResult:
    """What one run did."""

    ingest: IngestReport | None = None
    findings: int = 0
    new: int = 0
    notified: int = 0
    pending: int = 0  # still waiting after this run (their notification failed)
    errors: list[str] = field(default_factory=list)  # notification failures (each kept for the next run)
    notes: list[str] = field(default_factory=list)

    def line(self) -> str:
        return "watch: " + _("{n} finding(s), {new} new, {notified} notified").format(
            n=self.findings, new=self.new, notified=self.notified) + (
            _(", {n} still pending (retried next run)").format(n=self.pending) if self.pending else "")


@dataclass
class Watch:
    """A run's settings. ``critical`` wraps each send and its record (a stop signal waits for it);
    ``sleep`` is the backoff's."""

    notifier: Notifier
    options: FindingOptions = field(default_factory=FindingOptions)
    mark_known: bool = False  # record the findings found now as known, without notifying them
    sleep: Callable[[float], None] = time.sleep
    backoff_base: float = 1.0
    critical: Callable[[], AbstractContextManager[Any]] = contextlib.nullcontext


def payload(f: Finding) -> str:
    """A finding as its notification carries it: its stable id, then ``Finding.as_dict``."""
    return orjson.dumps({"finding_id": finding_id(f), **f.as_dict()}).decode()


def record(store: Store, findings: Sequence[Finding], now: datetime, notified: bool = False) -> int:
    """Add the findings the store has not seen to its watch state; how many were new."""
    state.prepare(store)
    rows = [(finding_id(f), f.kind, f.severity, payload(f)) for f in findings]
    with store.transaction():
        return state.add_new(store, rows, now, notified)


def _send(watch: Watch, store: Store, message: Message, now: datetime, result: RunResult) -> bool:
    """Send one message (retried with backoff while the failure is retryable) and record it;
    False when it failed for this run (its findings stay pending)."""
    # the retry policy's bounded exponential backoff with jitter (a webhook, or SNS: an AWS call)
    delays = RetryPolicy(attempts=SEND_ATTEMPTS, base_delay=watch.backoff_base).delays()
    while True:
        try:
            with watch.critical():
                watch.notifier.send(message)
                with store.transaction():
                    state.mark_notified(store, message.ids, now)
            result.notified += len(message.findings)
            return True
        except DeliveryError as e:
            delay = next(delays, None) if e.retryable else None
            if delay is not None:
                watch.sleep(delay)
                continue
            with store.transaction():
                state.mark_failed(store, message.ids, e.reason)
            result.errors.append(str(e))
            return False


def notify_pending(watch: Watch, store: Store, now: datetime, result: RunResult) -> None:
    """Send every pending finding, oldest first; a failed message's findings stay pending. After
    a message fails for good, the rest wait for the next run too (the destination is down)."""
    state.prepare(store)
    waiting = state.pending(store)
    findings = [orjson.loads(p.payload) for p in waiting]
    messages = watch.notifier.messages(findings)
    for i, message in enumerate(messages):
        if not _send(watch, store, message, now, result):
            result.pending += sum(len(m.findings) for m in messages[i:])
            break


def run_once(watch: Watch, store: Store, sources: Sequence[Any], now: datetime, workers: int | None = None,
             progress: Any = None) -> RunResult:
    """One run over ``store`` (see the module docstring); ``sources``: opened sources to ingest."""
    result = RunResult()
    if sources:
        result.ingest = ingest(list(sources), store, workers=workers, progress=progress, strict=False)
    elif store.needs_resolve():
        store.resolve()
    report = findings_report(store, watch.options)
    result.findings = len(report.findings)
    result.notes = list(report.notes)
    result.new = record(store, report.findings, now, notified=watch.mark_known)
    notify_pending(watch, store, now, result)
    return result
