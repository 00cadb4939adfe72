"""Route destinations and their weights (rules catalogue section 3.9)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from meshlint.diagnostics import FieldPath, Severity
from meshlint.resource import Resource
from meshlint.rules import Finding, rule
from meshlint.rules.lib.grammar import (
    as_int,
)
from meshlint.rules.lib.virtualservice import (
    WEBHOOK,
    as_list,
    destination,
)


def _route_destinations(base: FieldPath, routes: Any) -> Iterator[Finding]:
    entries = [(k, e) for k, e in enumerate(as_list(routes)) if isinstance(e, dict)]
    total = 0
    for k, entry in entries:
        path = (*base, k)
        yield from destination((*path, "destination"), entry.get("destination"))
        weight = as_int(entry.get("weight"))
        if weight is not None:
            if weight < 0:
                yield Finding((*path, "weight"), f"weight {weight} is negative: use 0 or more")
            total += weight
    if len(entries) > 1 and total == 0:
        yield Finding(
            base,
            "the weights of the destinations add up to 0: give them weights (relative shares, "
            "usually adding up to 100)",
            key=True,
        )


@rule(
    "ML423",
    "route-destinations",
    Severity.ERROR,
    summary="A route destination is null or invalid, or the weights are negative or all 0.",
    rationale="""
        Each destination of `http[].route`, `tcp[].route` and `tls[].route` names a service:
        a host (not `*`; a leading wildcard is allowed), an optional subset that is a DNS
        label and an optional port 1-65535. Weights may not be negative, and when a route
        has several destinations their weights may not all be 0. Istio's webhook rejects the
        resource otherwise.
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
          - route:
            - destination:
                host: reviews
                subset: v1
              weight: 0
            - destination:
                host: reviews
                subset: v2
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
          - route:
            - destination:
                host: reviews
                subset: v1
              weight: 90
            - destination:
                host: reviews
                subset: v2
              weight: 10
    """,
    kinds={"VirtualService"},
    source=f"{WEBHOOK} (validateHTTPRouteDestinations, validateRouteDestinations, "
    "validateDestination, validateWeight) — 'weight may not be nil', 'invalid destination "
    "host', 'subset name is invalid', 'total destination weight = 0'",
    catalogue=(
        "vs-dest-host-star",
        "vs-dest-host-syntax",
        "vs-dest-subset",
        "vs-dest-port",
        "vs-weight-neg",
        "vs-weight-total-zero",
        "vs-tls-route-dest",
        "vs-tcp-route-dest",
    ),
    istio="IST0106",
)
def route_destinations(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for section in ("http", "tcp", "tls"):
        for i, route in enumerate(as_list(spec.get(section))):
            if isinstance(route, dict) and "route" in route:
                yield from _route_destinations(("spec", section, i, "route"), route.get("route"))
