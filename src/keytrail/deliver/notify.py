"""Telling someone about new findings: a Slack-compatible webhook, an SNS topic, or JSON lines.

    --notify https://hooks.slack.com/services/...   a Slack incoming webhook (or any receiver of
                                                    Slack's message JSON: Mattermost, Rocket.Chat, ...)
    --notify sns://arn:aws:sns:REGION:ACCOUNT:TOPIC an SNS message (JSON) per batch of findings
    --notify -                                      one JSON line per finding on standard output

Findings go in messages of up to ``max_findings`` (Slack: 40, its limit of 50 blocks a message;
SNS: as many as fit in 256 KB). Each message carries an id made from its findings' ids
(``Idempotency-Key`` header of a webhook, ``MessageDeduplicationId`` of a FIFO topic) so that a
receiver can drop a repeat. A failed send raises ``DeliveryError`` (``retryable`` for throttling,
server errors and the network); the watch retries it with backoff and keeps the findings pending
for the next run.

Log text is data in every message. Slack: every value goes in a ``plain_text`` object (no mrkdwn,
no emoji), with ``&``, ``<`` and ``>`` written as entities (so no mention, link or command can
form) and control characters shown as ``\\xNN``; the notification text (``text``) holds only
keytrail's own words and counts. SNS and JSON lines: JSON data, with the characters JSON leaves
raw and a viewer may act on written as ``\\uXXXX`` escapes. A webhook URL is a secret (Slack's
holds a token): errors name only its scheme and host.
"""

from __future__ import annotations

import hashlib
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TextIO

import orjson

from keytrail._version import __version__
from keytrail.analysis.findings.base import SEVERITIES
from keytrail.errors import DeliveryError, UsageError
from keytrail.i18n import _
from keytrail.render import safe
from keytrail.sources.aws import AwsConfig, botocore_errors, describe_error, is_throttling

SLACK_MAX_FINDINGS = 40
SLACK_SECTION_MAX = 3000
SNS_MAX_BYTES = 256 * 1024 - 4096  # SNS takes 256 KB a message (attributes and subject included)
SNS_MAX_FINDINGS = 100
WEBHOOK_TIMEOUT = 30.0


@dataclass(frozen=True)
class Message:
    """Findings sent together (each a JSON-ready dict with ``finding_id``) and the message's id."""

    findings: tuple[dict[str, Any], ...]

    @property
    def id(self) -> str:
        ids = "\x00".join(str(f["finding_id"]) for f in self.findings)
        return "keytrail-" + hashlib.sha256(ids.encode()).hexdigest()[:40]

    @property
    def ids(self) -> list[str]:
        return [str(f["finding_id"]) for f in self.findings]


class Notifier(Protocol):
    """Where notifications go: ``destination`` names it (never a secret)."""

    destination: str

    def messages(self, findings: Sequence[dict[str, Any]]) -> list[Message]: ...

    def send(self, message: Message) -> None: ...


def _json(value: Any) -> str:
    return safe.json_text(orjson.dumps(value).decode())


def counts(findings: Sequence[dict[str, Any]]) -> str:
    """``3 new finding(s) (1 high, 2 medium)`` -- keytrail's words only."""
    by = [f"{n} {s}" for s in SEVERITIES if (n := sum(1 for f in findings if f.get("severity") == s))]
    return _("{n} new finding(s)").format(n=len(findings)) + (f" ({', '.join(by)})" if by else "")


def _chunks(findings: Sequence[dict[str, Any]], most: int, max_bytes: int | None = None) -> list[Message]:
    out: list[Message] = []
    current: list[dict[str, Any]] = []
    used = 0
    for f in findings:
        n = len(_json(f)) + 1
        if current and (len(current) >= most or (max_bytes is not None and used + n > max_bytes)):
            out.append(Message(tuple(current)))
            current, used = [], 0
        current.append(f)
        used += n
    if current:
        out.append(Message(tuple(current)))
    return out


# ---- JSON lines -----------------------------------------------------------------------------------


@dataclass
class LinesNotifier:
    """One JSON object per line, per finding, on ``stream``."""

    stream: TextIO
    destination: str = "standard output"

    def messages(self, findings: Sequence[dict[str, Any]]) -> list[Message]:
        return _chunks(findings, 1000)

    def send(self, message: Message) -> None:
        try:
            self.stream.write("".join(_json(f) + "\n" for f in message.findings))
            self.stream.flush()
        except OSError as e:
            raise DeliveryError(self.destination, e.strerror or str(e)) from e


# ---- Slack-compatible webhook ---------------------------------------------------------------------


def slack_text(value: object, limit: int = SLACK_SECTION_MAX) -> str:
    """Log text for a Slack ``plain_text`` object: controls shown escaped, ``& < >`` as entities."""
    text = safe.escaped(str(value)).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text, "emoji": False}


def slack_message(findings: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Slack's message JSON (Block Kit) for ``findings``."""
    title = f"keytrail: {counts(findings)}"
    blocks: list[dict[str, Any]] = [{"type": "header", "text": _plain(title[:150])}]
    for f in findings:
        # each value escaped on its own: the line breaks are keytrail's, a value's are shown as \x0a
        lines = [f"{slack_text(str(f.get('severity', '')).upper())} {slack_text(f.get('kind', ''))}: "
                 f"{slack_text(f.get('summary', ''))}"]
        for label, word in (("key", _("key")), ("principal", _("principal"))):
            if f.get(label):
                lines.append(f"{word}: {slack_text(f[label])}")
        lines.append(_("recommendation: {text}").format(text=slack_text(f.get("recommendation", ""))))
        lines.append(_("finding id: {id}").format(id=slack_text(f.get("finding_id", ""))))
        text = "\n".join(lines)
        if len(text) > SLACK_SECTION_MAX:  # the id stays whole at the end
            text = text[: SLACK_SECTION_MAX - len(lines[-1]) - 2] + "\u2026\n" + lines[-1]
        blocks.append({"type": "section", "text": _plain(text)})
    return {"text": title, "blocks": blocks, "unfurl_links": False, "unfurl_media": False}


def _where(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return f"webhook {parts.scheme}://{parts.hostname or ''}"


@dataclass
class WebhookNotifier:
    """POST Slack's message JSON to ``url`` (http or https)."""

    url: str
    timeout: float = WEBHOOK_TIMEOUT
    opener: Callable[..., Any] = urllib.request.urlopen

    def __post_init__(self) -> None:
        parts = urllib.parse.urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UsageError(_("a webhook is an http:// or https:// URL"))
        self.destination = _where(self.url)

    def messages(self, findings: Sequence[dict[str, Any]]) -> list[Message]:
        return _chunks(findings, SLACK_MAX_FINDINGS)

    def send(self, message: Message) -> None:
        body = orjson.dumps(slack_message(message.findings))
        request = urllib.request.Request(  # noqa: S310 - the scheme is checked above (http/https)
            self.url, data=body, method="POST",
            headers={"Content-Type": "application/json", "Idempotency-Key": message.id,
                     "User-Agent": f"keytrail/{__version__}"},
        )
        try:
            with self.opener(request, timeout=self.timeout) as response:
                response.read()
        except urllib.error.HTTPError as e:
            retryable = e.code == 429 or e.code >= 500
            raise DeliveryError(self.destination, f"HTTP {e.code} {safe.escaped(str(e.reason))}", retryable) from e
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", None) or e
            raise DeliveryError(self.destination, safe.escaped(str(reason)), retryable=True) from e


# ---- SNS ------------------------------------------------------------------------------------------


@dataclass
class SnsNotifier:
    """Publish the findings as JSON (``{"source": "keytrail", "findings": [...]}``) to a topic."""

    topic_arn: str
    config: AwsConfig

    def __post_init__(self) -> None:
        parts = self.topic_arn.split(":")
        if len(parts) != 6 or parts[0] != "arn" or parts[2] != "sns" or not parts[3] or not parts[5]:
            raise UsageError(_("not an SNS topic ARN: {value!r} ({form})").format(
                value=self.topic_arn, form="sns://arn:aws:sns:REGION:ACCOUNT:TOPIC"))
        self.region = parts[3]
        self.destination = f"SNS topic {self.topic_arn}"

    def messages(self, findings: Sequence[dict[str, Any]]) -> list[Message]:
        return _chunks(findings, SNS_MAX_FINDINGS, SNS_MAX_BYTES)

    def send(self, message: Message) -> None:
        kwargs: dict[str, Any] = {
            "TopicArn": self.topic_arn,
            "Subject": f"keytrail: {counts(message.findings)}"[:100],
            "Message": _json({"source": "keytrail", "message_id": message.id, "findings": list(message.findings)}),
        }
        if self.topic_arn.endswith(".fifo"):
            kwargs |= {"MessageGroupId": "keytrail", "MessageDeduplicationId": message.id[:128]}
        try:
            self.config.client("sns", self.region).publish(**kwargs)
        except botocore_errors() as e:
            raise DeliveryError(self.destination, describe_error(e), retryable=is_throttling(e)) from e


def notifier_for(target: str, config: AwsConfig, stream: TextIO) -> Notifier:
    """The notifier ``--notify TARGET`` names: ``-``, ``sns://TOPIC_ARN`` or a webhook URL."""
    if target == "-":
        return LinesNotifier(stream)
    if target.startswith("sns://"):
        return SnsNotifier(target[len("sns://"):], config)
    if target.startswith(("http://", "https://")):
        return WebhookNotifier(target)
    raise UsageError(_("notify: give a webhook URL (https://...), sns://TOPIC_ARN or - (standard output)"))
