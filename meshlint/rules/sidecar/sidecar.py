"""What a Sidecar sets as a whole: that it sets anything, its outbound traffic policy and its
connection pools.

Facts: istio/istio ``pkg/config/validation/validation.go`` (``ValidateSidecar``,
``validateSidecarOutboundTrafficPolicy``, ``validateDestination``, ``validateConnectionPool``).
The ingress and egress listeners are the ingress and egress modules'. Shapes, enums and
required fields are the schema stage's (ML206-ML209) and are not repeated here.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from meshlint.diagnostics import FieldPath, Severity
from meshlint.resource import Resource
from meshlint.rules import Finding, rule
from meshlint.rules.lib.grammar import (
    check_destination,
    check_fqdn,
)
from meshlint.rules.lib.listeners import (
    listeners,
)
from meshlint.rules.lib.traffic import (
    connection_pool_findings,
    duration_findings,
)

KINDS = {"Sidecar"}
_SC = "webhook: pkg/config/validation/validation.go (ValidateSidecar)"

_HEAD = """
    apiVersion: networking.istio.io/v1
    kind: Sidecar
    metadata:
      name: ratings
      namespace: shop
    spec:
"""

# --------------------------------------------------------------------------------------------
# Empty Sidecar


@rule(
    "ML662",
    "sidecar-empty",
    Severity.ERROR,
    summary="A Sidecar configures nothing: no egress, ingress, outboundTrafficPolicy or "
    "inboundConnectionPool.",
    rationale="""
        Istio's webhook rejects an empty Sidecar ("empty configuration provided"). To limit
        what a workload's proxy sees, list egress hosts such as `./*` and `istio-system/*`.
    """,
    bad="""
        apiVersion: networking.istio.io/v1
        kind: Sidecar
        metadata:
          name: ratings
          namespace: shop
        spec:  # expect: ML662@1 spec
          workloadSelector:
            labels:
              app: ratings
    """,
    good=_HEAD
    + """
      workloadSelector:
        labels:
          app: ratings
      egress:
      - hosts: ["./*", "istio-system/*"]
    """,
    kinds=KINDS,
    istio="IST0106",
    source=f"{_SC} — 'sidecar: empty configuration provided'",
    catalogue=("sc-empty",),
)
def sidecar_empty(res: Resource) -> Iterator[Finding]:
    spec = res.spec
    message = (
        "this Sidecar configures nothing: add egress (e.g. hosts ./* and istio-system/*), "
        "ingress, outboundTrafficPolicy or inboundConnectionPool"
    )
    if spec is None:
        yield Finding(("spec",) if "spec" in res.data else (), message, key=True)
        return
    if not isinstance(spec, dict):
        return
    for key in ("egress", "ingress"):
        value = spec.get(key)
        if value is not None and not (isinstance(value, list) and not value):
            return
    for key in ("outboundTrafficPolicy", "inboundConnectionPool"):
        if spec.get(key) is not None:
            return
    yield Finding(("spec",), message, key=True)


# --------------------------------------------------------------------------------------------
# Outbound traffic policy


@rule(
    "ML671",
    "sidecar-invalid-egress-proxy",
    Severity.ERROR,
    summary="A Sidecar `outboundTrafficPolicy.egressProxy` is set without mode ALLOW_ANY, or "
    "is not a valid destination.",
    rationale="""
        `egressProxy` sends traffic to unknown destinations through a proxy, which only
        happens in mode ALLOW_ANY. Istio's webhook rejects it with any other mode (including
        the default REGISTRY_ONLY), and requires a fully qualified host, a port and a valid
        subset name.
    """,
    bad=_HEAD
    + """
      egress:
      - hosts: ["./*", "istio-system/*"]
      outboundTrafficPolicy:
        mode: REGISTRY_ONLY
        egressProxy:  # expect: ML671@5 spec.outboundTrafficPolicy.egressProxy
          host: egress-proxy.infra.svc.cluster.local
          port: {number: 3128}
    """,
    good=_HEAD
    + """
      egress:
      - hosts: ["./*", "istio-system/*"]
      outboundTrafficPolicy:
        mode: ALLOW_ANY
        egressProxy:
          host: egress-proxy.infra.svc.cluster.local
          port: {number: 3128}
    """,
    kinds=KINDS,
    istio="IST0106",
    source="webhook: pkg/config/validation/validation.go (validateSidecarOutboundTrafficPolicy) "
    "— 'sidecar: egress_proxy must be set only with ALLOW_ANY outbound_traffic_policy mode', "
    "'sidecar: egress_proxy port must be non-nil', ValidateFQDN, validateDestination",
    catalogue=("sc-otp-proxy-mode", "sc-otp-proxy-host", "sc-otp-proxy-port", "sc-otp-proxy-dest"),
)
def sidecar_invalid_egress_proxy(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    policy = spec.get("outboundTrafficPolicy") if spec else None
    if not isinstance(policy, dict):
        return
    proxy = policy.get("egressProxy")
    if proxy is None:
        return
    base: FieldPath = ("spec", "outboundTrafficPolicy", "egressProxy")
    mode = policy.get("mode")
    if mode != "ALLOW_ANY":
        if mode is not None and mode not in ("REGISTRY_ONLY",):
            return  # an unknown mode: the schema stage reports it
        shown = f"mode {mode}" if mode else "the default mode REGISTRY_ONLY"
        yield Finding(
            base,
            f"egressProxy only works with mode ALLOW_ANY, not {shown}: set mode: ALLOW_ANY, "
            "or remove egressProxy",
            key=True,
        )
        return
    if not isinstance(proxy, dict):
        return
    host = proxy.get("host")
    host_problem = check_fqdn(host) if isinstance(host, str) else None
    if host_problem:
        yield Finding((*base, "host"), f"{host_problem} (the egress proxy needs a full host name)")
    if proxy.get("port") is None:
        yield Finding(base, "egressProxy needs a port, e.g. port: {number: 3128}", key=True)
        return
    for where, problem in check_destination(proxy):
        if where[:1] == ("host",) or where == ():
            continue  # the host is checked above, or missing (the schema stage reports it)
        yield Finding((*base, *where), problem)


# --------------------------------------------------------------------------------------------
# Connection pools (the same checks as a DestinationRule's connectionPool)


def _pools(spec: dict[str, Any]) -> Iterator[tuple[FieldPath, Any]]:
    if "inboundConnectionPool" in spec:
        yield ("spec", "inboundConnectionPool"), spec["inboundConnectionPool"]
    for i, listener in listeners(spec, "ingress"):
        if "connectionPool" in listener:
            yield ("spec", "ingress", i, "connectionPool"), listener["connectionPool"]


def _pool_findings(pool: dict[str, Any], base: FieldPath) -> Iterator[Finding]:
    """What Istio's validateConnectionPool rejects; the DestinationRule family's checks of the
    same pools are reused."""
    if pool.get("http") is None and pool.get("tcp") is None:
        yield Finding(
            base,
            "a connection pool needs tcp or http settings (or remove it)",
            key=True,
        )
        return
    yield from connection_pool_findings(pool, base)
    yield from duration_findings(pool, base, "connectionPool")


@rule(
    "ML672",
    "sidecar-invalid-connection-pool",
    Severity.ERROR,
    summary="A Sidecar connection pool is empty or has a negative limit, an incomplete HTTP/2 "
    "keepalive, contradicting HTTP/2 settings or a duration below 1ms.",
    rationale="""
        `inboundConnectionPool` and the `connectionPool` of ingress listeners take the same
        settings as a DestinationRule's connection pool, and Istio's webhook checks them the
        same way: at least one of `tcp` and `http`, no negative limits, an `http2KeepAlive`
        with both `interval` and `timeout`, no `useClientProtocol` with `h2UpgradePolicy:
        UPGRADE`, and durations of at least 1ms in whole milliseconds (`tcp.idleTimeout` may
        be 0s, which turns it off).
    """,
    bad=_HEAD
    + """
      inboundConnectionPool: {}  # expect: ML672@3 spec.inboundConnectionPool
      ingress:
      - port: {number: 9080, name: http, protocol: HTTP}
        defaultEndpoint: 127.0.0.1:8080
        connectionPool:
          http:
            http1MaxPendingRequests: -1  # expect: ML672@34 spec.ingress[0].connectionPool.http.http1MaxPendingRequests
            idleTimeout: 0s  # expect: ML672@22 spec.ingress[0].connectionPool.http.idleTimeout
    """,
    good=_HEAD
    + """
      inboundConnectionPool:
        tcp: {maxConnections: 100, idleTimeout: 0s}
      ingress:
      - port: {number: 9080, name: http, protocol: HTTP}
        defaultEndpoint: 127.0.0.1:8080
        connectionPool:
          http:
            http1MaxPendingRequests: 100
            idleTimeout: 30s
    """,
    kinds=KINDS,
    istio="IST0106",
    source="webhook: pkg/config/validation/validation.go (ValidateSidecar → "
    "validateConnectionPool) — 'connection pool must have at least one field', '… must be "
    "non-negative', 'http2 keepalive interval is required', 'use client protocol must not be "
    "true when H2UpgradePolicy is UPGRADE', ValidateDuration",
    catalogue=("sc-in-cp", "sc-in-cp-inbound"),
)
def sidecar_invalid_connection_pool(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for base, pool in _pools(spec):
        if isinstance(pool, dict):
            yield from _pool_findings(pool, base)
