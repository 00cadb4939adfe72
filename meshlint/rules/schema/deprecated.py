"""ML211: fields that Istio's API marks deprecated (``[deprecated = true]`` in istio/api, or
reported by istioctl analyze's deprecation analyzer), each with what replaces it.

The deprecated fields that Istio's webhook warns about have rules of their own, which keep the
webhook's code: `mirrorPercent` (ML417), the DestinationRule's `consistentHash.minimumRingSize`,
`outlierDetection.consecutiveErrors` and `loadBalancer.warmupDurationSecs` (ML517); so do the
deprecated enum value `LEAST_CONN` (ML518) and a non-zero `targetPort` on a Gateway or Sidecar
port, which the webhook rejects (ML603, ML663, ML668). This rule covers the rest.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from meshlint.diagnostics import FieldPath, Severity
from meshlint.resource import Resource
from meshlint.rules import Finding, rule
from meshlint.rules.lib.guards import as_int, as_map, mappings

_API = "istio/api networking/v1alpha3"
_ANALYZER = "istio/istio pkg/config/analysis/analyzers/deprecation/deprecation.go"


def _virtual_service(spec: dict[str, Any]) -> Iterator[Finding]:
    for i, route in mappings(spec.get("http")):
        base: FieldPath = ("spec", "http", i)
        delay = as_map(as_map(route.get("fault")).get("delay"))
        value = as_int(delay.get("percent"))
        if value is not None:
            yield Finding(
                (*base, "fault", "delay", "percent"),
                f"fault.delay.percent is deprecated: use fault.delay.percentage, e.g. "
                f"`percentage: {{value: {value}}}`",
                key=True,
            )
        given = as_map(route.get("corsPolicy")).get("allowOrigin")
        if isinstance(given, list):
            origins = [o for o in given if isinstance(o, str)]
            example = ", ".join(f"{{exact: {o}}}" for o in origins[:2]) or "{exact: …}"
            yield Finding(
                (*base, "corsPolicy", "allowOrigin"),
                "corsPolicy.allowOrigin is deprecated: use corsPolicy.allowOrigins, a list of "
                f"string matches (`allowOrigins: [{example}]`)",
                key=True,
            )


def _target_port(port: Any, base: FieldPath, kind: str) -> Iterator[Finding]:
    if not isinstance(port, dict) or as_int(port.get("targetPort")) != 0:
        return  # absent, a wrong type (the schema stage), or non-zero (the webhook rejects it)
    yield Finding(
        (*base, "targetPort"),
        f"port.targetPort is deprecated and has no effect on a {kind}: remove it (the "
        f"{'gateway' if kind == 'Gateway' else 'listener'} uses port.number)",
        key=True,
    )


def _sidecar(spec: dict[str, Any]) -> Iterator[Finding]:
    policy = as_map(spec.get("outboundTrafficPolicy"))
    if isinstance(policy.get("egressProxy"), dict):
        yield Finding(
            ("spec", "outboundTrafficPolicy", "egressProxy"),
            "outboundTrafficPolicy.egressProxy is deprecated (istioctl analyze reports it as "
            "ignored): send traffic to outside hosts through an egress gateway instead, with a "
            "ServiceEntry for each host and a VirtualService that routes it via the gateway",
            key=True,
        )
    for section in ("ingress", "egress"):
        for i, listener in mappings(spec.get(section)):
            yield from _target_port(listener.get("port"), ("spec", section, i, "port"), "Sidecar")


def _gateway(spec: dict[str, Any]) -> Iterator[Finding]:
    for i, server in mappings(spec.get("servers")):
        yield from _target_port(server.get("port"), ("spec", "servers", i, "port"), "Gateway")


_CHECKS = {"VirtualService": _virtual_service, "Sidecar": _sidecar, "Gateway": _gateway}


@rule(
    "ML211",
    "deprecated-field",
    Severity.WARNING,
    summary="A field that Istio's API deprecates: VirtualService `fault.delay.percent` and "
    "`corsPolicy.allowOrigin`, Sidecar `outboundTrafficPolicy.egressProxy`, Gateway and "
    "Sidecar `port.targetPort`.",
    rationale="""
        Istio's API keeps these fields only so that old manifests still load; they are hidden
        from its documentation and may go in a later release. istioctl analyze reports
        `fault.delay.percent` and a Sidecar's `egressProxy` (IST0002); the others are marked
        `deprecated = true` in Istio's API. Each finding names the replacement:

        - `fault.delay.percent` (an integer) → `fault.delay.percentage.value`, which also
          takes fractions;
        - `corsPolicy.allowOrigin` (plain strings) → `corsPolicy.allowOrigins`, string
          matches (`exact`, `prefix` or `regex`);
        - Sidecar `outboundTrafficPolicy.egressProxy` → an egress gateway, with a
          ServiceEntry for each outside host and a VirtualService routing it through the
          gateway;
        - `port.targetPort` on a Gateway server or a Sidecar listener has no effect: remove
          it (a non-zero one is rejected by Istio's webhook, which ML603, ML663 and ML668
          report).

        The deprecated fields that Istio's webhook warns about keep rules of their own:
        `mirrorPercent` (ML417), `consistentHash.minimumRingSize`,
        `outlierDetection.consecutiveErrors` and `loadBalancer.warmupDurationSecs` (ML517),
        and the load-balancer value `LEAST_CONN` (ML518). No field of ServiceEntry,
        PeerAuthentication, RequestAuthentication, AuthorizationPolicy or Telemetry is
        deprecated in Istio's API.
    """,
    bad="""
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata:
          name: reviews
          namespace: shop
        spec:
          hosts:
          - reviews
          http:
          - fault:
              delay:
                fixedDelay: 5s
                percent: 10  # expect: ML211@9 spec.http[0].fault.delay.percent
            route:
            - destination:
                host: reviews
    """,
    good="""
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata:
          name: reviews
          namespace: shop
        spec:
          hosts:
          - reviews
          http:
          - fault:
              delay:
                fixedDelay: 5s
                percentage:
                  value: 10
            route:
            - destination:
                host: reviews
    """,
    kinds=set(_CHECKS),
    istio="IST0002",
    source=f"{_ANALYZER} (FieldAnalyzer: 'HTTPRoute.fault.delay.percent is deprecated; use "
    "HTTPRoute.fault.delay.percentage', 'OutboundTrafficPolicy.EgressProxy ignored'); "
    f"{_API}/virtual_service.proto (HTTPFaultInjection.Delay.percent, CorsPolicy.allow_origin: "
    "deprecated = true), gateway.proto and sidecar.proto (Port.target_port, SidecarPort."
    "target_port: deprecated = true)",
    catalogue=(
        "gen-hidden-deprecated",
        "vs-fault-delay-percent",
        "vs-cors-allow-origin-old",
        "sc-otp-proxy-deprecated",
    ),
    needs=("percent", "allowOrigin", "egressProxy", "targetPort"),
)
def deprecated_field(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    check = _CHECKS.get(res.kind)
    if spec is None or check is None:
        return
    yield from check(spec)
