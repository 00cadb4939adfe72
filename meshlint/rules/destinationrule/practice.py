"""Best practice for DestinationRules: settings Istio accepts that fail under load or hide a
choice worth stating (a connect timeout too short to survive a busy host, outlier detection
that may eject every host, the default ejection time).
"""

from __future__ import annotations

from collections.abc import Iterator

from meshlint.diagnostics import Severity
from meshlint.resource import Resource
from meshlint.rules import Finding, Option, rule
from meshlint.rules.lib.destinationrule import KINDS, dr, number, sections_of
from meshlint.rules.lib.grammar import (
    duration_ns,
)
from meshlint.rules.lib.guards import as_int, child


@rule(
    "ML519",
    "connect-timeout-too-short",
    Severity.WARNING,
    summary="A connection-pool `connectTimeout` is shorter than 100ms (the `min-connect-timeout` "
    "option).",
    rationale="""
        `connectionPool.tcp.connectTimeout` bounds how long a proxy waits for a TCP (and TLS)
        connection to an upstream host. Istio accepts anything from 1ms, but a connect across
        nodes or zones, a busy host's accept queue or a SYN retransmit (1s on Linux) easily
        takes longer than a few tens of milliseconds. Under load a timeout such as `30ms`
        turns slow connects into connect failures, retries multiply the attempts, outlier
        detection ejects healthy hosts, and the failures cascade. Istio's default is 10s; a
        value from a few hundred milliseconds up is a safer floor. Where every upstream is
        close and fast, lower the floor with the `min-connect-timeout` option.
    """,
    bad=dr(
        """
        host: reviews.shop.svc.cluster.local
        trafficPolicy:
          connectionPool:
            tcp:
              connectTimeout: 30ms  # expect: ML519@25 spec.trafficPolicy.connectionPool.tcp.connectTimeout
        """
    ),
    good=dr(
        """
        host: reviews.shop.svc.cluster.local
        trafficPolicy:
          connectionPool:
            tcp:
              connectTimeout: 1s
        """
    ),
    kinds=KINDS,
    source="meshlint: Istio's MeshConfig connectTimeout default is 10s (istio/istio "
    "pkg/config/mesh/mesh.go); the webhook only requires at least 1ms",
    options=(
        Option(
            "min-connect-timeout",
            "duration",
            "100ms",
            "the shortest connectTimeout that is not reported",
        ),
    ),
    needs=("connectTimeout",),
)
def connect_timeout_too_short(res: Resource, *, min_connect_timeout: float) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for path, pool, _ in sections_of(res, "connectionPool"):
        tcp = child(pool, "tcp")
        value = tcp.get("connectTimeout") if tcp is not None else None
        ns = duration_ns(value) if isinstance(value, str) else None
        # Below 1ms Istio rejects it outright (ML510); only what it accepts is judged here.
        if ns is not None and 1_000_000 <= ns < min_connect_timeout * 1e9:
            floor = f"{min_connect_timeout * 1000:g}ms"
            yield Finding(
                (*path, "tcp", "connectTimeout"),
                f"connectTimeout {value} is shorter than {floor}: under load "
                "slow connects become connect failures and retries; Istio's default is 10s",
            )


_OD_SOURCE = (
    "meshlint best practice: istio/api networking/v1alpha3/destination_rule.proto "
    "(OutlierDetection: maxEjectionPercent, minHealthPercent, baseEjectionTime default 30s); "
    "istio/istio pilot/pkg/networking/core/cluster_traffic_policy.go (applyOutlierDetection: "
    "minHealthPercent becomes the healthy panic threshold, 0 by default)"
)


@rule(
    "ML520",
    "outlier-detection-may-eject-all-hosts",
    Severity.WARNING,
    summary="Outlier detection may eject every host (`maxEjectionPercent: 100`) and has no "
    "panic threshold.",
    rationale="""
        With `maxEjectionPercent: 100` outlier detection may take every endpoint of the
        host out of load balancing at once. When a shared dependency fails (a database, a
        bad configuration pushed to every pod), every host answers 5xx, every host is
        ejected, and the client proxies answer 503 "no healthy upstream" for the whole
        `baseEjectionTime` instead of passing on the requests that would have succeeded;
        with one or two replicas that is one bad minute away. Istio sets no panic
        threshold by default (`minHealthPercent` 0), so nothing brings the ejected hosts
        back early.

        Keep `maxEjectionPercent` below 100 (Envoy's default is 10; Envoy always ejects at
        least one host), or set `minHealthPercent` so that the proxy ignores ejections once
        too few hosts are left. Not reported when `minHealthPercent` is above 0.
    """,
    bad=dr(
        """
        host: reviews.shop.svc.cluster.local
        trafficPolicy:
          outlierDetection:
            consecutive5xxErrors: 5
            interval: 10s
            baseEjectionTime: 30s
            maxEjectionPercent: 100  # expect: ML520@27 spec.trafficPolicy.outlierDetection.maxEjectionPercent
        """
    ),
    good=dr(
        """
        host: reviews.shop.svc.cluster.local
        trafficPolicy:
          outlierDetection:
            consecutive5xxErrors: 5
            interval: 10s
            baseEjectionTime: 30s
            maxEjectionPercent: 50
        """
    ),
    kinds=KINDS,
    source=_OD_SOURCE,
    catalogue=(),
    needs=("outlierDetection",),
)
def outlier_detection_may_eject_all_hosts(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for path, od, _ in sections_of(res, "outlierDetection"):
        most = od.get("maxEjectionPercent")
        if most != 100 or as_int(most) != 100:
            continue
        floor = number(od.get("minHealthPercent"))
        if floor is not None and floor > 0:
            continue
        yield Finding(
            (*path, "maxEjectionPercent"),
            "maxEjectionPercent 100 lets outlier detection eject every host: when all fail "
            "together every request gets 503 'no healthy upstream'; lower it or set "
            "minHealthPercent",
        )


@rule(
    "ML521",
    "outlier-detection-default-ejection-time",
    Severity.INFO,
    summary="Outlier detection sets no `baseEjectionTime` and ejects hosts for Istio's "
    "default of 30s.",
    rationale="""
        An ejected host stays out of load balancing for `baseEjectionTime` times the number
        of times it has been ejected (30s, 60s, 90s …, up to Envoy's cap of 300s). Left
        unset, it is 30s: long for a host that failed one burst of requests when the
        service has few replicas (the others take all its load meanwhile), short for a host
        that is broken for good. The default is reasonable, so this is only information:
        state the value that suits the service, next to `consecutive5xxErrors` and
        `interval`.
    """,
    bad=dr(
        """
        host: reviews.shop.svc.cluster.local
        trafficPolicy:
          outlierDetection:  # expect: ML521@5 spec.trafficPolicy.outlierDetection
            consecutive5xxErrors: 5
            interval: 10s
        """
    ),
    good=dr(
        """
        host: reviews.shop.svc.cluster.local
        trafficPolicy:
          outlierDetection:
            consecutive5xxErrors: 5
            interval: 10s
            baseEjectionTime: 30s
        """
    ),
    kinds=KINDS,
    source=_OD_SOURCE,
    catalogue=(),
    needs=("outlierDetection",),
)
def outlier_detection_default_ejection_time(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for path, od, _ in sections_of(res, "outlierDetection"):
        if not od or od.get("baseEjectionTime") is not None:
            continue
        yield Finding(
            path,
            "outlierDetection sets no baseEjectionTime: an ejected host stays out for 30s, "
            "then 60s, 90s … on each new ejection; state the time that suits the service",
            key=True,
        )
