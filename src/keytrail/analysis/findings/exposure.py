"""Who uses a key from where: other accounts, the root user, and unexpected networks.

``cross-account-use``: successful calls by a principal of another account than the key's.
``root-use``: any call by an account's root user. ``unexpected-network``: successful cryptographic calls
from a source IP outside ``allowed_networks`` and not through one of ``allowed_vpce`` (only when one
of them is given). Calls a service made on the principal's behalf (``invokedBy``; the source is
then the service, not the client) are not judged by their source.
"""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from datetime import datetime

from keytrail.analysis.findings.base import CRYPTO, HIGH, MEDIUM, Finding, key_label
from keytrail.analysis.findings.context import Context
from keytrail.i18n import _, ngettext
from keytrail.normalize.operations import CRYPTO_SQL
from keytrail.times import maybe_iso as iso

KINDS = ("cross-account-use", "root-use", "unexpected-network")


def find(ctx: Context) -> list[Finding]:
    kinds = set(ctx.options.kinds) or set(KINDS)
    out: list[Finding] = []
    if "cross-account-use" in kinds:
        out += _cross_account(ctx)
    if "root-use" in kinds:
        out += _root(ctx)
    if "unexpected-network" in kinds:
        out += _network(ctx)
    return out


_CALLER_ACCOUNT = (
    "coalesce(identity_account, CASE WHEN principal LIKE 'AWSAccount:%' THEN split_part(principal, ':', 2)"
    " WHEN principal LIKE 'arn:%' THEN split_part(principal, ':', 5) END)"
)


def _cross_account(ctx: Context) -> list[Finding]:
    where, params = ctx.window()
    cond = (
        f"{where} AND category <> 'denied' AND key_resolved AND principal_type <> 'AWSService'"
        f" AND {_CALLER_ACCOUNT} IS NOT NULL AND {_CALLER_ACCOUNT} <> '' AND {_CALLER_ACCOUNT} <> key_account"
    )
    rows = ctx.store.query(
        f"""SELECT key, principal, any_value({_CALLER_ACCOUNT}), count(*),
                   count(*) FILTER (WHERE category IN {CRYPTO_SQL}),
                   min(event_time), max(event_time), list(DISTINCT event_name ORDER BY event_name)
            FROM key_use WHERE {cond} GROUP BY key, principal ORDER BY key, principal""",  # noqa: S608
        params,
    )
    evidence = ctx.evidence(cond, params, ["key", "principal"])
    return [
        Finding(
            kind="cross-account-use",
            severity=MEDIUM,
            key=key,
            principal=principal,
            summary=ngettext("{principal} (account {account}) used {key}: {n} call",
                             "{principal} (account {account}) used {key}: {n} calls", int(n)).format(
                principal=principal, account=acct, key=key_label(key), n=int(n)),
            recommendation=_(
                "Confirm account {account} is meant to use this key; if not, remove it from the key policy "
                "and grants (cross-account use needs both the key policy and the caller's IAM policies)"
            ).format(account=acct),
            evidence=tuple(evidence.get((key, principal), [])),
            evidence_count=int(n),
            details={
                "caller_account": acct,
                "calls": int(n),
                "crypto_calls": int(crypto),
                "first": iso(first),
                "last": iso(last),
                "operations": list(ops),
            },
        )
        for key, principal, acct, n, crypto, first, last, ops in rows
    ]


def _root(ctx: Context) -> list[Finding]:
    where, params = ctx.window()
    cond = f"{where} AND (principal_type = 'Root' OR (principal LIKE 'arn:%:iam::%:root' AND principal_type <> 'AWSService'))"
    rows = ctx.store.query(
        f"""SELECT key, principal, count(*), count(*) FILTER (WHERE category = 'denied'),
                   min(event_time), max(event_time), list(DISTINCT event_name ORDER BY event_name),
                   list(DISTINCT source_ip ORDER BY source_ip) FILTER (WHERE source_ip IS NOT NULL)
            FROM key_use WHERE {cond} GROUP BY key, principal ORDER BY key, principal""",  # noqa: S608
        params,
    )
    evidence = ctx.evidence(cond, params, ["key", "principal"])
    return [
        Finding(
            kind="root-use",
            severity=HIGH,
            key=key,
            principal=principal,
            summary=ngettext("the root user {principal} called {key}: {n} call",
                             "the root user {principal} called {key}: {n} calls", int(n)).format(
                principal=principal, key=key_label(key), n=int(n))
            + (_(" ({n} failed)").format(n=int(denied)) if denied else ""),
            recommendation=_(
                "Stop using the root user for KMS: use an IAM role; find who holds the root credentials "
                "and rotate or remove its access keys"
            ),
            evidence=tuple(evidence.get((key, principal), [])),
            evidence_count=int(n),
            details={
                "calls": int(n),
                "failed_calls": int(denied),
                "first": iso(first),
                "last": iso(last),
                "operations": list(ops),
                "source_ips": list(ips or [])[:10],
            },
        )
        for key, principal, n, denied, first, last, ops, ips in rows
    ]


# Addresses a call through a VPC endpoint comes from: the VPC's private ranges (RFC 1918, the
# shared address space VPCs may use, IPv6 unique local addresses).
_VPC_RANGES = tuple(
    ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7")
)


def _vpc_private(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return any(addr in n for n in _VPC_RANGES)


def _ip(text: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The client address of a sourceIPAddress (first of a comma-separated list); None for host names."""
    if not text:
        return None
    try:
        return ipaddress.ip_address(text.split(",")[0].strip())
    except ValueError:
        return None


def _network(ctx: Context) -> list[Finding]:  # long: the network finding's query and its per-principal evidence, together
    o = ctx.options
    if not o.allowed_networks and not o.allowed_vpce:
        return []
    where, params = ctx.window()
    vpce = ctx.vpce_column or "NULL::VARCHAR"
    if o.allowed_vpce and not ctx.vpce_column:
        ctx.notes.append(
            "unexpected-network: " + _("this store does not record vpcEndpointId; calls from private addresses are "
                                       "not judged (they may have come through an allowed VPC endpoint)")
        )
    cond = f"{where} AND category IN {CRYPTO} AND via IS NULL"
    rows = ctx.store.query(
        f"""SELECT key, principal, source_ip, {vpce} AS vpce, count(*), min(event_time), max(event_time)
            FROM key_use WHERE {cond} GROUP BY ALL ORDER BY key, principal, source_ip""",  # noqa: S608
        params,
    )
    allowed_vpce = set(o.allowed_vpce)
    flagged: dict[tuple[str, str], list[tuple[str, str | None, int, datetime | None, datetime | None]]] = defaultdict(list)
    unjudged = 0
    for key, principal, source_ip, endpoint, n, first, last in rows:
        if endpoint and endpoint in allowed_vpce:
            continue
        addr = _ip(source_ip)
        if addr is None:
            unjudged += int(n)  # a service host name: the call came from inside AWS
            continue
        if any(addr in net for net in o.allowed_networks):
            continue
        if o.allowed_vpce and not ctx.vpce_column and _vpc_private(addr):
            unjudged += int(n)
            continue
        flagged[(key, principal)].append((source_ip or "", endpoint, int(n), first, last))
    if unjudged:
        ctx.notes.append("unexpected-network: " + ngettext(
            "{n} call not judged by source (service host names or unverifiable private addresses)",
            "{n} calls not judged by source (service host names or unverifiable private addresses)", unjudged,
        ).format(n=unjudged))
    if not flagged:
        return []
    pairs = sorted(flagged)
    ips = sorted({s[0] for v in flagged.values() for s in v})
    ev_cond = f"{cond} AND source_ip IN (SELECT unnest(?::VARCHAR[]))"
    evidence = ctx.evidence(ev_cond, [*params, ips], ["key", "principal", "source_ip"])
    out: list[Finding] = []
    for key, principal in pairs:
        sources = flagged[(key, principal)]
        n = sum(s[2] for s in sources)
        ev = sorted(
            (e for s in sources for e in evidence.get((key, principal, s[0]), [])),
            key=lambda e: (e.event_time or "", e.event_id or ""),
        )[: o.evidence_limit]
        labels = [_("{ip} via {endpoint}").format(ip=s[0], endpoint=s[1]) if s[1] else s[0] for s in sources]
        out.append(
            Finding(
                kind="unexpected-network",
                severity=HIGH,
                key=key,
                principal=principal,
                summary=_("{principal} used {key} from outside the allowed networks: {sources}").format(
                    principal=principal, key=key_label(key), sources=", ".join(labels[:3]))
                + (_(" and {n} more").format(n=len(labels) - 3) if len(labels) > 3 else ""),
                recommendation=_(
                    "Find where these calls came from; if they are not yours, revoke the caller's credentials. "
                    "Enforce the network with aws:SourceIp / aws:SourceVpce conditions in the key policy"
                ),
                evidence=tuple(ev),
                evidence_count=n,
                details={
                    "sources": [
                        {"source_ip": s[0], "vpc_endpoint": s[1], "calls": s[2], "first": iso(s[3]), "last": iso(s[4])}
                        for s in sources
                    ],
                    "allowed_networks": [str(x) for x in o.allowed_networks],
                    "allowed_vpce": list(o.allowed_vpce),
                },
            )
        )
    return out
