"""Delegation: what a delegate VirtualService and a route that delegates may not hold (rules
catalogue sections 3.1 and 3.3)."""

from __future__ import annotations

from collections.abc import Iterator

from meshlint.diagnostics import Severity
from meshlint.resource import Resource
from meshlint.rules import Finding, rule
from meshlint.rules.lib.guards import as_list
from meshlint.rules.lib.virtualservice import (
    WEBHOOK,
    WEBHOOK_VS,
    http_routes_of,
    is_delegate,
)


@rule(
    "ML402",
    "virtualservice-delegation",
    Severity.ERROR,
    summary="A delegate VirtualService lists gateways, has TLS or TCP routes, or delegates again.",
    rationale="""
        A VirtualService without `hosts` is a delegate: another VirtualService hands it HTTP
        routes with `delegate`. A delegate may not list `gateways` (the root decides where it
        applies) and may not have `tls` or `tcp` routes (delegation is HTTP only), and its
        routes may not delegate again (one level only). Istio's webhook rejects all of these.

        In 0.2 a route that delegates and also sets `route` or `redirect` became a rule of its
        own, ML432; the code ML402 still selects, ignores and suppresses it.
    """,
    bad="""
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata:
          name: reviews-v2
          namespace: shop
        spec:
          gateways:  # expect: ML402@3 spec.gateways
          - istio-system/bookinfo-gateway
          http:
          - route:
            - destination:
                host: reviews
                subset: v2
    """,
    good="""
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata:
          name: reviews-v2
          namespace: shop
        spec:
          http:
          - route:
            - destination:
                host: reviews
                subset: v2
    """,
    kinds={"VirtualService"},
    source=f"{WEBHOOK} (ValidateVirtualService) — 'delegate virtual service must have no gateways "
    "specified'; "
    f"{WEBHOOK_VS} (validateHTTPRouteConflict) — 'delegate HTTP route cannot contain delegate'",
    catalogue=(
        "vs-delegate-gateways",
        "vs-delegate-tls",
        "vs-delegate-tcp",
        "vs-delegate-nested",
    ),
    istio="IST0106",
)
def virtualservice_delegation(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None or not is_delegate(spec):
        return
    for field, message in (
        (
            "gateways",
            "a delegate VirtualService (one without hosts) may not list gateways: "
            "the root VirtualService that delegates to it decides that",
        ),
        (
            "tls",
            "a delegate VirtualService (one without hosts) may not have TLS routes: "
            "only HTTP routes can be delegated",
        ),
        (
            "tcp",
            "a delegate VirtualService (one without hosts) may not have TCP routes: "
            "only HTTP routes can be delegated",
        ),
    ):
        if as_list(spec.get(field)):
            yield Finding(("spec", field), message, key=True)
    for base, route in http_routes_of(res):
        if route.get("delegate") is not None:
            yield Finding(
                (*base, "delegate"),
                "a route of a delegate VirtualService may not delegate again: delegation is "
                "one level deep",
                key=True,
            )


@rule(
    "ML432",
    "delegating-route-with-action",
    Severity.ERROR,
    summary="A route that delegates also sets `route` or `redirect`.",
    rationale="""
        A route that delegates (`delegate` set) hands the request to the delegate
        VirtualService, which decides where it goes: it may not also list destinations
        (`route`) or answer with a `redirect`. Istio's webhook rejects the resource. Move the
        destinations or the redirect into the delegate.

        Before 0.2 this was part of ML402, whose code still selects, ignores and
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
          - delegate:
              name: reviews-v2
              namespace: shop
            route:  # expect: ML432@5 spec.http[0].route
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
          - delegate:
              name: reviews-v2
              namespace: shop
    """,
    kinds={"VirtualService"},
    source=f"{WEBHOOK_VS} (validateHTTPRouteConflict) — 'root HTTP route must not specify "
    "route', 'root HTTP route must not specify redirect'",
    catalogue=("vs-root-redirect", "vs-root-route"),
    istio="IST0106",
    aliases=("ML402",),
    needs=("delegate",),
)
def delegating_route_with_action(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None or is_delegate(spec):
        return
    for base, route in http_routes_of(res):
        if route.get("delegate") is None:
            continue
        if route.get("redirect") is not None:
            yield Finding(
                (*base, "redirect"),
                "a route that delegates may not also redirect: put the redirect in the "
                "delegate VirtualService",
                key=True,
            )
        if route.get("route") is not None:
            yield Finding(
                (*base, "route"),
                "a route that delegates may not also list destinations: put them in the "
                "delegate VirtualService",
                key=True,
            )
