"""What an HTTP route does with a request: forward, redirect or answer (rules catalogue section
3.3)."""

from __future__ import annotations

from collections.abc import Iterator

from meshlint.diagnostics import FieldPath, Severity
from meshlint.resource import Resource
from meshlint.rules import Finding, rule
from meshlint.rules.lib.virtualservice import (
    WEBHOOK,
    WEBHOOK_VS,
    as_list,
    is_delegate,
    is_empty,
)


@rule(
    "ML403",
    "virtualservice-route-actions",
    Severity.ERROR,
    summary="A VirtualService has no routes, or an HTTP route has no action or conflicting ones.",
    rationale="""
        A VirtualService needs at least one `http`, `tcp` or `tls` route. Each HTTP route does
        exactly one thing with a request: forward it (`route`), answer with a `redirect`, or
        answer with a `directResponse` (or hand it to a `delegate`). `redirect` and
        `directResponse` exclude `route`, `fault`, `rewrite` and each other; `mirror` and
        `mirrors` exclude each other. Istio's webhook rejects the resource otherwise.
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
          - redirect:
              uri: /v2
    """,
    kinds={"VirtualService"},
    source=f"{WEBHOOK_VS} (validateHTTPRouteConflict) — 'HTTP route cannot contain both route and "
    "redirect', 'HTTP route, redirect or direct_response is required'; "
    f"{WEBHOOK} (ValidateVirtualService) — 'http, tcp or tls must be provided in virtual service'",
    catalogue=(
        "vs-no-routes",
        "vs-redirect-route",
        "vs-redirect-fault",
        "vs-redirect-rewrite",
        "vs-redirect-direct",
        "vs-direct-route",
        "vs-direct-fault",
        "vs-direct-rewrite",
        "vs-http-no-action",
        "vs-mirror-and-mirrors",
    ),
    istio="IST0106",
)
def virtualservice_route_actions(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    if all(is_empty(spec.get(f)) for f in ("http", "tcp", "tls")):
        present = [f for f in ("http", "tcp", "tls") if f in spec]
        yield Finding(
            ("spec", present[0]) if present else ("spec",),
            "the VirtualService has no routes: give at least one http, tcp or tls route",
            key=True,
        )
    delegate = is_delegate(spec)
    for i, route in enumerate(as_list(spec.get("http"))):
        base: FieldPath = ("spec", "http", i)
        if not isinstance(route, dict):
            continue
        if not delegate and route.get("delegate") is not None:
            continue  # ML402 checks delegating routes
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
        elif not has_route:
            yield Finding(
                (*base, "route") if "route" in route else base,
                "the HTTP route does nothing: give it a route (destinations), a redirect or a "
                "directResponse",
                key="route" in route,
            )
        if route.get("mirror") is not None and as_list(route.get("mirrors")):
            yield Finding(
                (*base, "mirrors"),
                "an HTTP route cannot have both mirror and mirrors: move the mirror into "
                "the mirrors list",
                key=True,
            )
