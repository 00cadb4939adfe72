"""Delegation: what a delegate VirtualService and a route that delegates may not hold (rules
catalogue sections 3.1 and 3.3)."""

from __future__ import annotations

from collections.abc import Iterator

from meshlint.diagnostics import Severity
from meshlint.resource import Resource
from meshlint.rules import Finding, rule
from meshlint.rules.lib.virtualservice import (
    WEBHOOK,
    WEBHOOK_VS,
    as_list,
    http_routes,
    is_delegate,
)


@rule(
    "ML402",
    "virtualservice-delegation",
    Severity.ERROR,
    summary="A delegate VirtualService or a delegating route uses fields delegation forbids.",
    rationale="""
        A VirtualService without `hosts` is a delegate: another VirtualService hands it HTTP
        routes with `delegate`. A delegate may not list `gateways` and may not have `tls` or
        `tcp` routes (delegation is HTTP only), and its routes may not delegate again (one
        level only). A route that delegates (`delegate` set) may not also set `route` or
        `redirect`: the delegate decides where traffic goes. Istio's webhook rejects all of
        these.
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
          - delegate:
              name: reviews-v2
              namespace: shop
    """,
    kinds={"VirtualService"},
    source=f"{WEBHOOK} (ValidateVirtualService) — 'delegate virtual service must have no gateways "
    "specified'; "
    f"{WEBHOOK_VS} (validateHTTPRouteConflict) — 'root HTTP route must not specify route'",
    catalogue=(
        "vs-delegate-gateways",
        "vs-delegate-tls",
        "vs-delegate-tcp",
        "vs-root-redirect",
        "vs-root-route",
        "vs-delegate-nested",
    ),
    istio="IST0106",
)
def virtualservice_delegation(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    delegate = is_delegate(spec)
    if delegate:
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
    for base, route in http_routes(spec):
        if route.get("delegate") is None:
            continue
        if delegate:
            yield Finding(
                (*base, "delegate"),
                "a route of a delegate VirtualService may not delegate again: delegation is "
                "one level deep",
                key=True,
            )
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
