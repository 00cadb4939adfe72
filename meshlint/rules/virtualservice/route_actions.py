"""What a VirtualService's routes do with a request: forward it, redirect it or answer it
(Istio's validateHTTPRouteConflict; rules catalogue sections 3.1 and 3.3)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from meshlint.diagnostics import FieldPath, Severity
from meshlint.resource import Resource
from meshlint.rules import Finding, rule
from meshlint.rules.lib.guards import as_list, missing_spec
from meshlint.rules.lib.virtualservice import (
    WEBHOOK,
    WEBHOOK_VS,
    http_routes_of,
    is_delegate,
    is_empty,
)


def _routes_with_actions(
    spec: Mapping[str, Any],
) -> Iterator[tuple[FieldPath, dict[str, Any], bool]]:
    """``(path, route, has destinations)`` of the HTTP routes whose actions Istio checks: all
    but the routes that delegate, in a VirtualService that is no delegate itself (ML402 and
    ML432 judge those)."""
    delegate = is_delegate(spec)
    for i, route in enumerate(as_list(spec.get("http"))):
        if not isinstance(route, dict):
            continue
        if not delegate and route.get("delegate") is not None:
            continue
        yield ("spec", "http", i), route, not is_empty(route.get("route"))


@rule(
    "ML403",
    "virtualservice-route-actions",
    Severity.ERROR,
    summary="An HTTP route has conflicting actions: a redirect or a direct response next to "
    "destinations, a fault, a rewrite or each other.",
    rationale="""
        Each HTTP route does one thing with a request: forward it (`route`), answer with a
        `redirect`, or answer with a `directResponse`. A `redirect` or a `directResponse`
        answers the request itself, so it excludes `route`, `fault`, `rewrite` and the other
        answer. Istio's webhook rejects the resource otherwise.

        In 0.2 a VirtualService without routes (ML433), an HTTP route without any action
        (ML434) and a route with both `mirror` and `mirrors` (ML435) became rules of their
        own; the code ML403 still selects, ignores and suppresses them.
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
          - redirect:
              uri: /v2
            route:  # expect: ML403@5 spec.http[0].route
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
          - redirect:
              uri: /v2
    """,
    kinds={"VirtualService"},
    source=f"{WEBHOOK_VS} (validateHTTPRouteConflict) — 'HTTP route cannot contain both route "
    "and redirect', 'HTTP route cannot contain both route and direct_response'",
    catalogue=(
        "vs-redirect-route",
        "vs-redirect-fault",
        "vs-redirect-rewrite",
        "vs-redirect-direct",
        "vs-direct-route",
        "vs-direct-fault",
        "vs-direct-rewrite",
    ),
    istio="IST0106",
    needs=("redirect", "directResponse"),
)
def virtualservice_route_actions(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    delegate: bool | None = None
    for base, route in http_routes_of(res):
        if route.get("redirect") is None and route.get("directResponse") is None:
            continue  # neither answers the request itself: nothing to conflict with
        if delegate is None:
            delegate = is_delegate(spec)
        if not delegate and route.get("delegate") is not None:
            continue  # see _routes_with_actions
        has_route = not is_empty(route.get("route"))
        if route.get("redirect") is not None:
            for other in ("route", "fault", "rewrite", "directResponse"):
                if other == "route" and not has_route:
                    continue
                if other != "route" and route.get(other) is None:
                    continue
                yield Finding(
                    (*base, other),
                    f"an HTTP route cannot have both redirect and {other}: a redirect answers "
                    "the request itself",
                    key=True,
                )
        elif route.get("directResponse") is not None:
            for other in ("route", "fault", "rewrite"):
                if other == "route" and not has_route:
                    continue
                if other != "route" and route.get(other) is None:
                    continue
                yield Finding(
                    (*base, other),
                    f"an HTTP route cannot have both directResponse and {other}: a direct "
                    "response answers the request itself",
                    key=True,
                )


@rule(
    "ML433",
    "virtualservice-without-routes",
    Severity.ERROR,
    summary="A VirtualService has no `http`, `tcp` or `tls` route (or no spec at all).",
    rationale="""
        A VirtualService routes traffic with its `http`, `tcp` and `tls` routes; with none of
        them it does nothing, and Istio's webhook rejects it. Give it at least one route, or
        delete it. Istio reads a null or missing `spec` as an empty one, so it is rejected
        just the same (the finding is on `spec`, or on `kind` when there is none).

        Before 0.2 this was part of ML403, whose code still selects, ignores and
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
          http: []  # expect: ML433@3 spec.http
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
    """,
    kinds={"VirtualService"},
    source=f"{WEBHOOK} (ValidateVirtualService) — 'http, tcp or tls must be provided in "
    "virtual service'",
    catalogue=("vs-no-routes",),
    istio="IST0106",
    aliases=("ML403",),
)
def virtualservice_without_routes(res: Resource) -> Iterator[Finding]:
    missing = missing_spec(
        res, "so the VirtualService has no routes: give at least one http, tcp or tls route"
    )
    if missing is not None:
        yield missing
        return
    spec = res.spec_map
    if spec is None:
        return
    if is_empty(spec.get("http")) and is_empty(spec.get("tcp")) and is_empty(spec.get("tls")):
        present = [f for f in ("http", "tcp", "tls") if f in spec]
        yield Finding(
            ("spec", present[0]) if present else ("spec",),
            "the VirtualService has no routes: give at least one http, tcp or tls route",
            key=True,
        )


@rule(
    "ML434",
    "http-route-without-action",
    Severity.ERROR,
    summary="An HTTP route has no destinations, no redirect and no direct response.",
    rationale="""
        Each HTTP route must do something with the requests it matches: forward them to
        destinations (`route`), answer with a `redirect`, or answer with a `directResponse`
        (or hand them to a `delegate`). A route with none of these, or with an empty `route`
        list, is rejected by Istio's webhook.

        Before 0.2 this was part of ML403, whose code still selects, ignores and
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
          - match:  # expect: ML434@5 spec.http[0]
            - uri:
                prefix: /v2
            timeout: 5s
          - route:
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
          - match:
            - uri:
                prefix: /v2
            route:
            - destination:
                host: reviews
                subset: v2
            timeout: 5s
          - route:
            - destination:
                host: reviews
    """,
    kinds={"VirtualService"},
    source=f"{WEBHOOK_VS} (validateHTTPRouteConflict) — 'HTTP route, redirect or "
    "direct_response is required'",
    catalogue=("vs-http-no-action",),
    istio="IST0106",
    aliases=("ML403",),
)
def http_route_without_action(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    delegate: bool | None = None
    for base, route in http_routes_of(res):
        if not is_empty(route.get("route")) or route.get("redirect") is not None:
            continue
        if route.get("directResponse") is not None:
            continue
        if delegate is None:
            delegate = is_delegate(spec)
        if not delegate and route.get("delegate") is not None:
            continue  # see _routes_with_actions
        yield Finding(
            (*base, "route") if "route" in route else base,
            "the HTTP route does nothing: give it a route (destinations), a redirect or a "
            "directResponse",
            key="route" in route,
        )


@rule(
    "ML435",
    "mirror-and-mirrors",
    Severity.ERROR,
    summary="An HTTP route sets both `mirror` and `mirrors`.",
    rationale="""
        `mirror` (one destination) is the older form of `mirrors` (a list, each with its own
        percentage); a route may use one of them only, and Istio's webhook rejects a route
        with both. Move the `mirror` into the `mirrors` list.

        Before 0.2 this was part of ML403, whose code still selects, ignores and
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
          - route:
            - destination:
                host: reviews
            mirror:
              host: reviews-shadow
            mirrors:  # expect: ML435@5 spec.http[0].mirrors
            - destination:
                host: reviews-canary
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
            mirrors:
            - destination:
                host: reviews-shadow
            - destination:
                host: reviews-canary
    """,
    kinds={"VirtualService"},
    source=f"{WEBHOOK_VS} (validateHTTPRouteConflict) — 'HTTP route cannot contain both "
    "mirror and mirrors'",
    catalogue=("vs-mirror-and-mirrors",),
    istio="IST0106",
    aliases=("ML403",),
    needs=("mirrors",),
)
def mirror_and_mirrors(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for base, route, _ in _routes_with_actions(spec):
        if route.get("mirror") is not None and as_list(route.get("mirrors")):
            yield Finding(
                (*base, "mirrors"),
                "an HTTP route cannot have both mirror and mirrors: move the mirror into "
                "the mirrors list",
                key=True,
            )
