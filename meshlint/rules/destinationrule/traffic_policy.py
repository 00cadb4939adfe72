"""The traffic policies of a DestinationRule as a whole: empty blocks, port-level entries
without a port, durations Istio refuses, deprecated fields.

Facts: istio/istio ``pkg/config/validation/validation.go`` (``validateTrafficPolicy``,
``validatePortTrafficPolicies``, ``validateConnectionPool``, ``validateLoadBalancer``,
``validateOutlierDetection``), ``pkg/config/validation/agent/validation.go``
(``ValidateDuration``) and the CEL rules of the DestinationRule CRD (durations of at least 1ms,
``warmupDurationSecs`` included).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from meshlint.diagnostics import FieldPath, Severity
from meshlint.resource import Resource
from meshlint.rules import Finding, rule
from meshlint.rules.lib.destinationrule import AGENT, KINDS, WEBHOOK, dr, sections_of
from meshlint.rules.lib.guards import as_int, child
from meshlint.rules.lib.traffic import (
    DURATION_FIELDS,
    duration_findings,
    policy_blocks_of,
    traffic_policies_of,
)

_TP_FIELDS = (
    "loadBalancer",
    "connectionPool",
    "outlierDetection",
    "tls",
    "portLevelSettings",
    "tunnel",
    "proxyProtocol",
    "retryBudget",
)
_PL_FIELDS = ("loadBalancer", "connectionPool", "outlierDetection", "tls")
_POOL_FIELDS = ("tcp", "http")
_DURATION_SECTIONS = ("connectionPool", "loadBalancer", "outlierDetection")


@rule(
    "ML506",
    "empty-traffic-policy",
    Severity.ERROR,
    summary="A traffic policy, port-level setting or connection pool sets nothing.",
    rationale="""
        Istio's webhook rejects a `trafficPolicy` with none of its settings, a
        `portLevelSettings` entry with only a port (it needs at least one of loadBalancer,
        connectionPool, outlierDetection or tls) and a `connectionPool` with neither `tcp`
        nor `http`. An empty block is often the sign of a mis-indented or misspelt setting.
    """,
    bad=dr(
        """
        host: reviews.shop.svc.cluster.local
        trafficPolicy:
          portLevelSettings:
          - port:  # expect: ML506@7 spec.trafficPolicy.portLevelSettings[0]
              number: 9080
        """
    ),
    good=dr(
        """
        host: reviews.shop.svc.cluster.local
        trafficPolicy:
          portLevelSettings:
          - port:
              number: 9080
            loadBalancer:
              simple: LEAST_REQUEST
        """
    ),
    istio="IST0106",
    kinds=KINDS,
    source=f"{WEBHOOK} (validateTrafficPolicy, validatePortTrafficPolicies, "
    "validateConnectionPool) — 'traffic policy must have at least one field', 'port traffic "
    "policy must have at least one field', 'connection pool must have at least one field'",
    catalogue=("dr-tp-empty", "dr-pl-empty", "dr-cp-empty"),
    needs=("trafficPolicy",),
)
def empty_traffic_policy(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for path, tp in traffic_policies_of(res):
        if _sets_none(tp, _TP_FIELDS):
            yield Finding(
                path,
                "this traffic policy sets nothing: give at least one of loadBalancer, "
                "connectionPool, outlierDetection, tls, portLevelSettings, tunnel, "
                "proxyProtocol or retryBudget, or remove it",
                key=True,
            )
        pls = tp.get("portLevelSettings")
        if isinstance(pls, list):
            for j, pl in enumerate(pls):
                if isinstance(pl, dict) and _sets_none(pl, _PL_FIELDS):
                    yield Finding(
                        (*path, "portLevelSettings", j),
                        "this port-level setting sets nothing: give at least one of "
                        "loadBalancer, connectionPool, outlierDetection or tls, or remove it",
                    )
    for path, pool, _ in sections_of(res, "connectionPool"):
        if _sets_none(pool, _POOL_FIELDS):
            yield Finding(
                path,
                "this connection pool sets nothing: give tcp or http settings, or remove it",
                key=True,
            )


def _sets_none(block: dict[str, Any], fields: tuple[str, ...]) -> bool:
    """Whether ``block`` sets none of ``fields``: each is missing, null or an empty list."""
    for field in fields:
        value = block.get(field)
        if value is not None and value != []:
            return False
    return True


@rule(
    "ML508",
    "port-level-setting-without-port",
    Severity.ERROR,
    summary="A `portLevelSettings` entry has no `port`.",
    rationale="""
        Each `portLevelSettings` entry replaces the traffic policy for one port of the
        service, named by `port.number`. Istio's webhook rejects an entry without a port.
    """,
    bad=dr(
        """
        host: reviews.shop.svc.cluster.local
        trafficPolicy:
          portLevelSettings:
          - loadBalancer:  # expect: ML508@7 spec.trafficPolicy.portLevelSettings[0]
              simple: LEAST_REQUEST
        """
    ),
    good=dr(
        """
        host: reviews.shop.svc.cluster.local
        trafficPolicy:
          portLevelSettings:
          - port:
              number: 9080
            loadBalancer:
              simple: LEAST_REQUEST
        """
    ),
    istio="IST0106",
    kinds=KINDS,
    source=f"{WEBHOOK} (validatePortTrafficPolicies) — 'portTrafficPolicy must have valid port'",
    catalogue=("dr-pl-port-missing",),
    needs=("portLevelSettings",),
)
def port_level_setting_without_port(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for path, tp in traffic_policies_of(res):
        pls = tp.get("portLevelSettings")
        if not isinstance(pls, list):
            continue
        for j, pl in enumerate(pls):
            where: FieldPath = (*path, "portLevelSettings", j)
            # A null entry is the schema's finding (ML207).
            if isinstance(pl, dict) and pl.get("port") is None:
                yield Finding(
                    (*where, "port") if "port" in pl else where,
                    "this port-level setting names no port: add port.number, e.g. 9080",
                )


@rule(
    "ML510",
    "invalid-traffic-policy-duration",
    Severity.ERROR,
    summary="A traffic-policy duration is shorter than 1ms or not a whole number of milliseconds.",
    rationale="""
        Istio's webhook and the CRD's CEL rules require the durations of a traffic policy
        (connection-pool timeouts and keepalives, outlier-detection `interval` and
        `baseEjectionTime`, warmup `duration`) to be at least 1ms, so `0s` is rejected; the
        webhook also requires whole milliseconds (`1500us` is rejected). The one exception is
        `connectionPool.tcp.idleTimeout`, where `0s` turns the idle timeout off.
        `warmupDurationSecs` only has the CEL rule (at least 1ms).
    """,
    bad=dr(
        """
        host: reviews.shop.svc.cluster.local
        trafficPolicy:
          connectionPool:
            tcp:
              connectTimeout: 0s  # expect: ML510@25 spec.trafficPolicy.connectionPool.tcp.connectTimeout
        """
    ),
    good=dr(
        """
        host: reviews.shop.svc.cluster.local
        trafficPolicy:
          connectionPool:
            tcp:
              connectTimeout: 250ms
              idleTimeout: 0s
        """
    ),
    istio="IST0106",
    kinds=KINDS,
    source=f"{AGENT} (ValidateDuration, called by validateConnectionPool, "
    "validateLoadBalancer and validateOutlierDetection) — 'duration must be greater than 1ms', "
    "'only durations to ms precision are supported'; CRD CEL \"duration(self) >= "
    "duration('1ms')\"",
    catalogue=(
        "dr-cp-http-idle",
        "dr-cp-h2ka-dur",
        "dr-cp-tcp-connect",
        "dr-cp-tcp-maxdur",
        "dr-cp-tcp-idle",
        "dr-cp-tcp-ka-time",
        "dr-cp-tcp-ka-interval",
        "dr-lb-warmup-dur",
        "dr-lb-warmupsecs-old",
        "dr-od-interval",
        "dr-od-base",
    ),
    needs=DURATION_FIELDS,
)
def invalid_traffic_policy_duration(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for path, block in policy_blocks_of(res):
        for section in _DURATION_SECTIONS:
            inner_block = block.get(section)
            if isinstance(inner_block, dict):
                yield from duration_findings(inner_block, (*path, section), section)


@rule(
    "ML517",
    "deprecated-traffic-policy-field",
    Severity.WARNING,
    summary="A deprecated traffic-policy field is used: `consistentHash.minimumRingSize`, "
    "`outlierDetection.consecutiveErrors` or `loadBalancer.warmupDurationSecs`.",
    rationale="""
        Istio's webhook warns about `consistentHash.minimumRingSize` (use
        `consistentHash.ringHash.minimumRingSize`) and `outlierDetection.consecutiveErrors`
        (use `consecutive5xxErrors` or `consecutiveGatewayErrors`, which say which errors
        count). `loadBalancer.warmupDurationSecs` is deprecated in favour of
        `warmup.duration`, which also takes `minimumPercent` and `aggression`.
    """,
    bad=dr(
        """
        host: reviews.shop.svc.cluster.local
        trafficPolicy:
          outlierDetection:
            consecutiveErrors: 5  # expect: ML517@7 spec.trafficPolicy.outlierDetection.consecutiveErrors
        """
    ),
    good=dr(
        """
        host: reviews.shop.svc.cluster.local
        trafficPolicy:
          outlierDetection:
            consecutive5xxErrors: 5
        """
    ),
    istio="IST0133",
    kinds=KINDS,
    source=f"{WEBHOOK} (validateLoadBalancer, validateOutlierDetection) — warnings 'consistent "
    "hash MinimumRingSize is deprecated', 'outlier detection consecutive errors is deprecated'; "
    "istio/api destination_rule.proto (warmupDurationSecs deprecated)",
    catalogue=("dr-lb-minring-old", "dr-od-consecutive-old", "dr-lb-warmupsecs-old"),
    needs=("minimumRingSize", "warmupDurationSecs", "consecutiveErrors"),
)
def deprecated_traffic_policy_field(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for path, lb, _ in sections_of(res, "loadBalancer"):
        ch = child(lb, "consistentHash")
        if ch is not None and as_int(ch.get("minimumRingSize")):
            yield Finding(
                (*path, "consistentHash", "minimumRingSize"),
                "consistentHash.minimumRingSize is deprecated: use "
                "consistentHash.ringHash.minimumRingSize",
                key=True,
            )
        if lb.get("warmupDurationSecs") is not None:
            yield Finding(
                (*path, "warmupDurationSecs"),
                "warmupDurationSecs is deprecated: use warmup.duration",
                key=True,
            )
    for path, od, _ in sections_of(res, "outlierDetection"):
        if as_int(od.get("consecutiveErrors")):
            yield Finding(
                (*path, "consecutiveErrors"),
                "consecutiveErrors is deprecated: use consecutive5xxErrors (any 5xx) or "
                "consecutiveGatewayErrors (502, 503, 504)",
                key=True,
            )
