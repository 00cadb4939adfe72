"""Connection pools of a DestinationRule: the limits and HTTP/2 settings Istio's webhook
rejects.

Facts: istio/istio ``pkg/config/validation/validation.go`` (``validateConnectionPool``). Sidecar
connection pools are validated by the same function (ML672 shares the checks of
``rules/lib/traffic.py``). An empty pool is ML506's finding, a duration ML510's.
"""

from __future__ import annotations

from collections.abc import Iterator

from meshlint.diagnostics import Severity
from meshlint.resource import Resource
from meshlint.rules import Finding, rule
from meshlint.rules.lib.destinationrule import KINDS, WEBHOOK, dr, sections_of
from meshlint.rules.lib.traffic import (
    h2_upgrade_findings,
    http2_keepalive_findings,
    negative_limit_findings,
)


@rule(
    "ML509",
    "invalid-connection-pool",
    Severity.ERROR,
    summary="A connection-pool limit is negative.",
    rationale="""
        Connection-pool limits (`tcp.maxConnections`, `http.http1MaxPendingRequests`,
        `http2MaxRequests`, `maxRequestsPerConnection`, `maxRetries`, `maxConcurrentStreams`)
        count connections, requests, retries or streams, so Istio's webhook rejects a negative
        value. Write 0, or leave the field out, to keep the default.

        In 0.2 two HTTP/2 problems became rules of their own: `h2UpgradePolicy: UPGRADE` with
        `useClientProtocol` (ML523) and an incomplete `http2KeepAlive` (ML524).
    """,
    bad=dr(
        """
        host: reviews.shop.svc.cluster.local
        trafficPolicy:
          connectionPool:
            http:
              http1MaxPendingRequests: -1  # expect: ML509@34 spec.trafficPolicy.connectionPool.http.http1MaxPendingRequests
        """
    ),
    good=dr(
        """
        host: reviews.shop.svc.cluster.local
        trafficPolicy:
          connectionPool:
            http:
              http1MaxPendingRequests: 100
        """
    ),
    istio="IST0106",
    kinds=KINDS,
    source=f"{WEBHOOK} (validateConnectionPool) — '… must be non-negative'",
    catalogue=(
        "dr-cp-http1-pending",
        "dr-cp-http2-max",
        "dr-cp-maxreq-conn",
        "dr-cp-maxretries",
        "dr-cp-streams",
        "dr-cp-tcp-maxconn",
    ),
    needs=("connectionPool",),
)
def invalid_connection_pool(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for path, pool, _ in sections_of(res, "connectionPool"):
        yield from negative_limit_findings(pool, path)


@rule(
    "ML523",
    "h2-upgrade-with-client-protocol",
    Severity.ERROR,
    summary="A connection pool sets `h2UpgradePolicy: UPGRADE` together with "
    "`useClientProtocol: true`.",
    rationale="""
        `h2UpgradePolicy: UPGRADE` asks the proxy to upgrade every HTTP/1.1 connection to the
        upstream to HTTP/2; `useClientProtocol: true` asks it to keep whatever protocol the
        client spoke. The two contradict each other and Istio's webhook rejects the pair: keep
        the one that says what you want.

        Until 0.2 this was part of ML509, whose code still selects, ignores and suppresses
        it.
    """,
    bad=dr(
        """
        host: reviews.shop.svc.cluster.local
        trafficPolicy:
          connectionPool:
            http:
              h2UpgradePolicy: UPGRADE
              useClientProtocol: true  # expect: ML523@28 spec.trafficPolicy.connectionPool.http.useClientProtocol
        """
    ),
    good=dr(
        """
        host: reviews.shop.svc.cluster.local
        trafficPolicy:
          connectionPool:
            http:
              h2UpgradePolicy: UPGRADE
        """
    ),
    istio="IST0106",
    kinds=KINDS,
    source=f"{WEBHOOK} (validateConnectionPool) — 'use client protocol must not be true when "
    "H2UpgradePolicy is UPGRADE'",
    catalogue=("dr-cp-h2-clientproto",),
    aliases=("ML509",),
    needs=("useClientProtocol",),
)
def h2_upgrade_with_client_protocol(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for path, pool, _ in sections_of(res, "connectionPool"):
        yield from h2_upgrade_findings(pool, path)


@rule(
    "ML524",
    "incomplete-http2-keepalive",
    Severity.ERROR,
    summary="`connectionPool.http.http2KeepAlive` lacks its `interval` or its `timeout`.",
    rationale="""
        `http2KeepAlive` makes the proxy send HTTP/2 PING frames to the upstream every
        `interval` and close the connection when no answer comes within `timeout`. Istio's
        webhook requires both once the block is given.

        Until 0.2 this was part of ML509, whose code still selects, ignores and suppresses
        it.
    """,
    bad=dr(
        """
        host: reviews.shop.svc.cluster.local
        trafficPolicy:
          connectionPool:
            http:
              http2KeepAlive:  # expect: ML524@9 spec.trafficPolicy.connectionPool.http.http2KeepAlive
                timeout: 10s
        """
    ),
    good=dr(
        """
        host: reviews.shop.svc.cluster.local
        trafficPolicy:
          connectionPool:
            http:
              http2KeepAlive:
                interval: 30s
                timeout: 10s
        """
    ),
    istio="IST0106",
    kinds=KINDS,
    source=f"{WEBHOOK} (validateConnectionPool) — 'http2 keepalive interval is required', "
    "'http2 keepalive timeout is required'",
    catalogue=("dr-cp-h2ka-interval", "dr-cp-h2ka-timeout"),
    aliases=("ML509",),
    needs=("http2KeepAlive",),
)
def incomplete_http2_keepalive(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for path, pool, _ in sections_of(res, "connectionPool"):
        yield from http2_keepalive_findings(pool, path)
