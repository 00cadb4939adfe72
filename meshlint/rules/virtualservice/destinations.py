"""Route destinations and their weights (rules catalogue sections 3.9 and 3.10)."""

from __future__ import annotations

from collections.abc import Iterator

from meshlint.diagnostics import Severity
from meshlint.resource import Resource
from meshlint.rules import Finding, rule
from meshlint.rules.lib.guards import as_int
from meshlint.rules.lib.virtualservice import (
    WEBHOOK,
    destination,
    destination_ok,
    route_lists,
)


@rule(
    "ML423",
    "route-destinations",
    Severity.ERROR,
    summary="A route destination names an invalid host, subset or port.",
    rationale="""
        Each destination of `http[].route`, `tcp[].route` and `tls[].route` names a service:
        a host (not `*`; a leading wildcard is allowed), an optional subset that is a DNS
        label and an optional port 1-65535. Istio's webhook rejects the resource otherwise.

        In 0.2 negative weights and weights that add up to 0 became a rule of their own,
        ML447; the code ML423 still selects, ignores and suppresses it.
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
                subset: v1.0  # expect: ML423@17 spec.http[0].route[0].destination.subset
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
                subset: v1-0
    """,
    kinds={"VirtualService"},
    source=f"{WEBHOOK} (validateHTTPRouteDestinations, validateRouteDestinations, "
    "validateDestination) — 'invalid destination host', 'subset name is invalid'",
    catalogue=(
        "vs-dest-host-star",
        "vs-dest-host-syntax",
        "vs-dest-subset",
        "vs-dest-port",
        "vs-tls-route-dest",
        "vs-tcp-route-dest",
    ),
    istio="IST0106",
)
def route_destinations(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for base, entries in route_lists(res):
        for k, entry in entries:
            dest = entry.get("destination")
            if isinstance(dest, dict) and not destination_ok(dest):
                yield from destination((*base, k, "destination"), dest)


@rule(
    "ML447",
    "invalid-route-weights",
    Severity.ERROR,
    summary="A route destination has a negative weight, or the weights of a route's "
    "destinations add up to 0.",
    rationale="""
        The weights of a route's destinations are relative shares of its traffic. A weight
        may not be negative, and when a route has several destinations their weights may not
        all be 0 (a single destination without weight gets all the traffic). Istio's webhook
        rejects the resource otherwise. This holds for `http`, `tcp` and `tls` routes alike.

        Before 0.2 this was part of ML423, whose code still selects, ignores and
        suppresses it.
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
          - route:  # expect: ML447@5 spec.http[0].route
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
    "validateWeight) — 'weight may not be nil', 'total destination weight = 0'",
    catalogue=("vs-weight-neg", "vs-weight-total-zero", "vs-tls-route-dest", "vs-tcp-route-dest"),
    istio="IST0106",
    aliases=("ML423",),
)
def invalid_route_weights(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for base, entries in route_lists(res):
        total = 0
        for k, entry in entries:
            weight = as_int(entry.get("weight"))
            if weight is not None:
                if weight < 0:
                    yield Finding(
                        (*base, k, "weight"), f"weight {weight} is negative: use 0 or more"
                    )
                total += weight
        if len(entries) > 1 and total == 0:
            yield Finding(
                base,
                "the weights of the destinations add up to 0: give them weights (relative "
                "shares, usually adding up to 100)",
                key=True,
            )
