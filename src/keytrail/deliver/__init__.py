"""Where findings go once found: Security Hub (``securityhub``), notifications -- a Slack-compatible
webhook, an SNS topic, JSON lines (``notify``) -- and the watch that ingests what is new and
notifies only the findings that are new (``watch``; its state is kept in the store,
``keytrail.store.watch_state``).

Everything here is idempotent by the findings' stable ids (``analysis.findings.identity``): a
second export updates what the first imported, and a finding is notified once.
"""
