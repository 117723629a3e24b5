"""keytrail watch: only new findings are notified, each once; a failed notification is sent by the next
run; a webhook receiver on 127.0.0.1 and moto's SNS (server mode) receive them; SIGTERM stops it."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from keytrail.analysis.findings import run_findings
from keytrail.analysis.findings.identity import finding_id
from keytrail.deliver.notify import (
    LinesNotifier,
    Message,
    SnsNotifier,
    WebhookNotifier,
    notifier_for,
    slack_message,
)
from keytrail.deliver.watch import RunResult, Watch, notify_pending, record, run_once
from keytrail.errors import DeliveryError, UsageError
from keytrail.sources.aws import AwsConfig
from keytrail.store import Store, watch_state
from tests.aws_server import EmulatorServer, client
from tests.conftest import REPO
from tests.deliver.conftest import run
from tests.factory import scenario as sc
from tests.hostile.test_untrusted_output import hostile_records

NOW = datetime(2026, 12, 1)


# ---- a webhook receiver on 127.0.0.1 -----------------------------------------------------------------


class Receiver:
    """Records every POST; answers the next status in ``answers`` (200 when none are left)."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], dict[str, Any]]] = []
        self.answers: list[int] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.lock:
                    status = receiver.answers.pop(0) if receiver.answers else 200
                    if status == 200:
                        receiver.requests.append((dict(self.headers), json.loads(body)))
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/services/T000/B000/secret-token"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def finding_ids(self) -> list[str]:
        """The finding ids the messages received name, in order."""
        out = []
        for _, body in self.requests:
            for block in body["blocks"][1:]:
                out.append(block["text"]["text"].rsplit("finding id: ", 1)[1])
        return out


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()
    r.server.server_close()


def current_ids(db: str) -> set[str]:
    with Store(db, read_only=True) as store:
        return {finding_id(f) for f in run_findings(store)}


def split_archive(archive: Path, first: Path, second: Path) -> None:
    """The archive's log files in two halves (every other file), laid out as they were."""
    files = sorted(p for p in (archive / "AWSLogs").rglob("*.json*") if "CloudTrail-Digest" not in str(p))
    for i, f in enumerate(files):
        target = (first if i % 2 == 0 else second) / f.relative_to(archive)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(f, target)


# ---- the acceptance: two runs, files added between them -----------------------------------------------


def test_a_second_run_notifies_only_the_findings_the_added_files_create(
    tmp_path: Path, one_account: tuple[Path, str, str]
) -> None:
    archive, _, _ = one_account
    logs, later = tmp_path / "logs", tmp_path / "later"
    split_archive(archive, logs, later)
    db = str(tmp_path / "watch.duckdb")
    assert run("inventory", "--db", db, "--from", str(archive / "inventory"), "-q")[0] == 0

    code, out, err = run("watch", str(logs), "--db", db, "--once", "--notify", "-", "-q")
    assert (code, err) == (0, "")
    first = [json.loads(line) for line in out.splitlines()]
    before = current_ids(db)
    assert first and sorted(f["finding_id"] for f in first) == sorted(before)

    shutil.copytree(later, logs, dirs_exist_ok=True)  # the files delivered since
    code, out, err = run("watch", str(logs), "--db", db, "--once", "--notify", "-")
    assert code == 0
    second = [json.loads(line) for line in out.splitlines()]
    after = current_ids(db)
    assert sorted(f["finding_id"] for f in second) == sorted(after - before)
    assert second and not ({f["finding_id"] for f in second} & {f["finding_id"] for f in first})
    assert err.splitlines()[-1] == f"keytrail: watch: {len(after)} finding(s), {len(after - before)} new, {len(second)} notified"
    for f in second:  # each line is the finding as `findings --format json` has it, with its id
        assert set(f) == {"finding_id", "kind", "severity", "key", "principal", "summary", "recommendation",
                          "evidence", "evidence_count", "details"}

    # nothing new: nothing notified, however often it runs
    for _ in range(2):
        code, out, _ = run("watch", str(logs), "--db", db, "--once", "--notify", "-", "-q")
        assert (code, out) == (0, "")


def test_mark_known_starts_watching_without_notifying_what_is_there(tmp_path: Path) -> None:
    sc.scenario().write(tmp_path / "trail")
    db = str(tmp_path / "w.duckdb")
    code, out, _ = run("watch", str(tmp_path / "trail"), "--db", db, "--once", "--mark-known", "-q")
    assert (code, out) == (0, "")
    assert run("watch", str(tmp_path / "trail"), "--db", db, "--once", "-q")[1] == ""
    with Store(db, read_only=True) as store:
        assert watch_state.pending(store) == [] and len(watch_state.known_ids(store)) == len(run_findings(store))


# ---- a failed notification is sent by the next run, once ------------------------------------------------


def test_a_refused_notification_waits_for_the_next_run(tmp_path: Path, receiver: Receiver) -> None:
    sc.scenario().write(tmp_path / "trail")
    db = str(tmp_path / "w.duckdb")
    receiver.answers = [400]  # the receiver refuses the first message
    code, out, err = run("watch", str(tmp_path / "trail"), "--db", db, "--once", "--notify", receiver.url, "-q")
    assert (code, out) == (1, "")
    assert err == ("keytrail: error: notification failed (kept for the next run): webhook http://127.0.0.1: "
                   "HTTP 400 Bad Request\n")  # the URL's path (Slack's token) is never shown
    with Store(db, read_only=True) as store:
        waiting = watch_state.pending(store)
        assert len(waiting) == len(run_findings(store)) and all(p.attempts <= 1 for p in waiting)
    assert receiver.requests == []

    code, _, err = run("watch", str(tmp_path / "trail"), "--db", db, "--once", "--notify", receiver.url, "-q")
    assert (code, err) == (0, "")
    assert sorted(receiver.finding_ids()) == sorted(p.finding_id for p in waiting)
    code, _, _ = run("watch", str(tmp_path / "trail"), "--db", db, "--once", "--notify", receiver.url, "-q")
    assert code == 0 and sorted(receiver.finding_ids()) == sorted(p.finding_id for p in waiting)  # never twice


def test_server_errors_are_retried_with_backoff_under_one_message_id(tmp_path: Path, receiver: Receiver) -> None:
    store = sc.scenario_store(tmp_path)
    try:
        found = run_findings(store)
        record(store, found, NOW)
        receiver.answers = [503, 502]
        slept: list[float] = []
        watch = Watch(WebhookNotifier(receiver.url), sleep=slept.append)
        result = RunResult()
        notify_pending(watch, store, NOW, result)
        assert (result.notified, result.pending, result.errors) == (len(found), 0, [])
        assert len(slept) == 2 and 0 <= slept[0] <= 1.0 and 0 <= slept[1] <= 2.0  # bounded backoff with jitter
        ids = [h["Idempotency-Key"] for h, _ in receiver.requests]
        assert len(ids) == len(set(ids)) == len(WebhookNotifier(receiver.url).messages([{"finding_id": "x"}] * len(found)))
        assert sorted(receiver.finding_ids()) == sorted(finding_id(f) for f in found)
        assert watch_state.pending(store) == []
    finally:
        store.close()


def test_the_network_down_keeps_every_finding_pending(tmp_path: Path) -> None:
    store = sc.scenario_store(tmp_path)
    try:
        record(store, run_findings(store), NOW)
        slept: list[float] = []
        watch = Watch(WebhookNotifier("http://127.0.0.1:9/hook", timeout=2), sleep=slept.append)
        result = run_once(watch, store, [], NOW)
        assert result.notified == 0 and result.pending == len(watch_state.pending(store)) > 0
        assert len(slept) == 3 and len(result.errors) == 1  # one message tried 4 times, the rest wait
        assert all(0 <= d <= bound for d, bound in zip(slept, (1.0, 2.0, 4.0), strict=True))
    finally:
        store.close()


# ---- what the messages hold ----------------------------------------------------------------------------


def test_slack_messages_show_log_text_as_plain_text(tmp_path: Path, receiver: Receiver) -> None:
    trail = tmp_path / "trail"
    trail.mkdir()
    (trail / "hostile.json.gz").write_bytes(gzip.compress(json.dumps({"Records": hostile_records()}).encode()))
    code, _, err = run("watch", str(trail), "--db", str(tmp_path / "w.duckdb"), "--once", "--notify", receiver.url,
                       "--workers", "1", "-q")
    assert code in (0, 3), err
    assert receiver.requests
    for headers, body in receiver.requests:
        assert headers["Content-Type"] == "application/json"
        assert set(body) == {"text", "blocks", "unfurl_links", "unfurl_media"}
        n = len(body["blocks"]) - 1
        assert body["text"].startswith(f"keytrail: {n} new finding(s)") and len(body["blocks"]) <= 50
        for block in body["blocks"]:
            text = block["text"]
            assert text["type"] == "plain_text" and text["emoji"] is False and len(text["text"]) <= 3000
            raw = text["text"].replace("&amp;", "").replace("&lt;", "").replace("&gt;", "")
            assert not set("<>&") & set(raw)  # no mention, link or command can form
            assert not any(ord(c) < 32 and c != "\n" or 0x7F <= ord(c) <= 0x9F for c in text["text"])


def test_slack_message_words() -> None:
    msg = slack_message([{"finding_id": "keytrail-v1-x", "kind": "root-use", "severity": "high", "key": "k",
                          "principal": "<!channel> @here <https://evil.example|click>", "summary": "s & t",
                          "recommendation": "r"}])
    assert msg["text"] == "keytrail: 1 new finding(s) (1 high)"
    assert msg["blocks"][1]["text"]["text"] == (
        "HIGH root-use: s &amp; t\nkey: k\nprincipal: &lt;!channel&gt; @here &lt;https://evil.example|click&gt;\n"
        "recommendation: r\nfinding id: keytrail-v1-x"
    )


def topic_into_queue() -> tuple[str, Any, str]:
    """An SNS topic with an SQS queue subscribed: (topic ARN, the SQS client, the queue's URL)."""
    sns, sqs = client("sns"), client("sqs")
    topic = sns.create_topic(Name="keytrail-findings")["TopicArn"]
    queue = sqs.create_queue(QueueName="findings")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    return topic, sqs, queue


def test_sns_messages_reach_a_subscribed_queue(aws: EmulatorServer, tmp_path: Path) -> None:
    topic, sqs, queue = topic_into_queue()
    sc.scenario().write(tmp_path / "trail")
    db = str(tmp_path / "w.duckdb")
    code, out, err = run("watch", str(tmp_path / "trail"), "--db", db, "--once", "--notify", f"sns://{topic}", "-q")
    assert (code, out, err) == (0, "", "")
    got: list[dict[str, Any]] = []
    while True:
        msgs = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
        if not msgs:
            break
        for m in msgs:
            envelope = json.loads(m["Body"])
            assert envelope["Subject"].startswith("keytrail: ")
            body = json.loads(envelope["Message"])
            assert body["source"] == "keytrail" and body["message_id"].startswith("keytrail-")
            got += body["findings"]
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=m["ReceiptHandle"])
    assert sorted(f["finding_id"] for f in got) == sorted(current_ids(db))


def test_fifo_topics_get_a_deduplication_id(aws: EmulatorServer) -> None:
    topic = client("sns").create_topic(Name="findings.fifo", Attributes={"FifoTopic": "true"})["TopicArn"]
    notifier = SnsNotifier(topic, AwsConfig(region="us-east-1"))
    message = Message(({"finding_id": "keytrail-v1-a", "severity": "high"},))
    notifier.send(message)
    publish = [r for r in aws.faults.log if b"Action=Publish" in r.body]
    assert f"MessageDeduplicationId={message.id}".encode() in publish[0].body
    assert b"MessageGroupId=keytrail" in publish[0].body


def test_notify_targets() -> None:
    import io

    assert isinstance(notifier_for("-", AwsConfig(), io.StringIO()), LinesNotifier)
    with pytest.raises(UsageError, match="give a webhook URL"):
        notifier_for("ftp://example.com/x", AwsConfig(), io.StringIO())
    with pytest.raises(UsageError, match="not an SNS topic ARN"):
        notifier_for("sns://topic", AwsConfig(), io.StringIO())
    with pytest.raises(DeliveryError) as info:
        WebhookNotifier("http://127.0.0.1:9/services/T0/B0/token", timeout=2).send(Message(({"finding_id": "x"},)))
    assert "token" not in str(info.value) and str(info.value).startswith("webhook http://127.0.0.1: ")
    assert info.value.retryable


# ---- SIGTERM ---------------------------------------------------------------------------------------------


def test_sigterm_stops_a_watch_between_runs(tmp_path: Path) -> None:
    sc.scenario().write(tmp_path / "trail")
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "keytrail", "watch", str(tmp_path / "trail"), "--db", str(tmp_path / "w.duckdb"),
         "--interval", "1h", "--notify", "-", "--workers", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    assert proc.stderr is not None
    deadline = time.monotonic() + 120
    lines = []
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        lines.append(line)
        if line.startswith("keytrail: watch: ") or not line:
            break
    assert lines[-1].startswith("keytrail: watch: "), lines
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert err == "keytrail: watch: stopped\n"
    assert out.count("\n") == len(current_ids(str(tmp_path / "w.duckdb")))


def test_sns_notifications_at_20_percent_faults_all_arrive(aws: EmulatorServer, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    """Through tests/fault_proxy.py failing 20% of requests: every finding reaches the topic (a
    Publish whose answer was lost may arrive twice, as SNS itself may deliver twice: the messages
    carry their message_id for that), exit 0."""
    from tests.fault_proxy import FaultPlan, faults

    topic, sqs, queue = topic_into_queue()
    sc.scenario().write(tmp_path / "trail")
    db = str(tmp_path / "w.duckdb")
    with faults(aws.url, FaultPlan(rate=0.2, seed=11), monkeypatch) as proxy:
        code, out, err = run("watch", str(tmp_path / "trail"), "--db", db, "--once", "--notify", f"sns://{topic}", "-q")
    assert (code, out, err) == (0, "", "")
    got: dict[str, list[str]] = {}
    while msgs := sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", []):
        for m in msgs:
            body = json.loads(json.loads(m["Body"])["Message"])
            got[body["message_id"]] = [f["finding_id"] for f in body["findings"]]
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=m["ReceiptHandle"])
    assert sorted(i for ids in got.values() for i in ids) == sorted(current_ids(db))
    assert sum(proxy.applied.values()) > 0
