"""HTTP match conditions: what Istio's webhook rejects in `http[].match[]` (rules catalogue
sections 3.1 and 3.4)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from meshlint.diagnostics import FieldPath, Severity
from meshlint.resource import Resource
from meshlint.rules import Finding, rule
from meshlint.rules.lib.grammar import (
    check_header_name_for_match,
    check_string_match,
    is_dns_label,
    is_jwt_claim,
)
from meshlint.rules.lib.virtualservice import (
    WEBHOOK,
    WEBHOOK_VS,
    applies_to_gateway,
    as_list,
    as_map,
    http_routes,
    match_port,
    source_labels,
)


def _string_match(base: FieldPath, obj: Any, what: str, **kw: bool) -> Iterator[Finding]:
    """A StringMatch's webhook problems; "only one of" is the schema's oneOf (ML20x)."""
    for where, message in check_string_match(obj, **kw):
        if message.startswith("set only one of"):
            continue
        yield Finding((*base, *where), f"{what}: {message}")


@rule(
    "ML407",
    "jwt-claim-routing-on-mesh",
    Severity.ERROR,
    summary="A route matches on a JWT claim in a VirtualService that applies to the mesh.",
    rationale="""
        Header matches on `@request.auth.claims.…` route on the claims of a validated JWT.
        Istio supports this on gateways only; a VirtualService that applies to the mesh (no
        `gateways`, or `mesh` among them) with such a match is rejected by the webhook.
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
          - match:
            - headers:
                "@request.auth.claims.group":
                  exact: admin
            route:
            - destination:
                host: reviews
                subset: v2
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
          - bookinfo.example.com
          gateways:
          - istio-system/bookinfo-gateway
          http:
          - match:
            - headers:
                "@request.auth.claims.group":
                  exact: admin
            route:
            - destination:
                host: reviews
                subset: v2
          - route:
            - destination:
                host: reviews
    """,
    kinds={"VirtualService"},
    source=f"{WEBHOOK} (ValidateVirtualService) — 'JWT claim based routing is only supported for "
    "gateway'",
    catalogue=("vs-jwt-claim-mesh",),
    istio="IST0106",
)
def jwt_claim_routing_on_mesh(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None or applies_to_gateway(spec):
        return
    for base, route in http_routes(spec):
        for j, match in enumerate(as_list(route.get("match"))):
            for field in ("headers", "withoutHeaders"):
                for key in as_map(as_map(match).get(field)):
                    if isinstance(key, str) and is_jwt_claim(key):
                        yield Finding(
                            (*base, "match", j, field, key),
                            f"{key!r} routes on a JWT claim, which only works on gateways: bind "
                            "the VirtualService to a gateway (without mesh), or match another "
                            "header",
                            key=True,
                        )


def _match_conditions(base: FieldPath, match: Mapping[str, Any]) -> Iterator[Finding]:
    for field in ("headers", "withoutHeaders"):
        headers = match.get(field)
        if not isinstance(headers, dict):
            continue
        for name, value in headers.items():
            path = (*base, field, name)
            problem = check_header_name_for_match(name)
            if problem:
                yield Finding(path, problem, key=True)
            yield from _string_match(
                path, value, f"header {name!r}", allow_star_regex=field == "withoutHeaders"
            )
    yield from _string_match((*base, "uri"), match.get("uri"), "uri", allow_empty_prefix=True)
    for field in ("scheme", "method", "authority"):
        yield from _string_match((*base, field), match.get(field), field)
    for name, value in as_map(match.get("queryParams")).items():
        yield from _string_match((*base, "queryParams", name), value, f"query parameter {name!r}")
    yield from match_port(base, match)
    yield from source_labels((*base, "sourceLabels"), match.get("sourceLabels"))
    ns = match.get("sourceNamespace")
    if isinstance(ns, str) and ns and not is_dns_label(ns):
        yield Finding(
            (*base, "sourceNamespace"),
            f"sourceNamespace {ns!r} is not a valid namespace name: use 1-63 letters, digits or "
            "'-', starting and ending with a letter or digit",
        )


@rule(
    "ML410",
    "http-match",
    Severity.ERROR,
    summary="An HTTP match condition is not valid.",
    rationale="""
        In `http[].match[]`: header names (`headers`, `withoutHeaders`) must be HTTP tokens,
        matchable pseudo-headers or JWT claims; string
        matches (`uri`, `scheme`, `method`, `authority`, header and query values) may not have
        an empty regex or a regex RE2 rejects, and, except for `uri`, no empty prefix;
        `withoutHeaders` may use `regex: "*"` for "header present". `port` is 1-65535,
        `sourceLabels` are label keys and values, and `sourceNamespace` is a DNS label.
        Istio's webhook rejects the resource otherwise.
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
          - match:
            - uri:
                regex: "/api/(?!internal)"
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
          - match:
            - uri:
                regex: "/api/[a-z]+"
            route:
            - destination:
                host: reviews
    """,
    kinds={"VirtualService"},
    source=f"{WEBHOOK_VS} (validateHTTPRouteMatchRequest) — "
    "'prefix string match should not be empty', 'regex string match should not be empty', "
    "'sourceNamespace match is invalid'; "
    f"{WEBHOOK} (validateStringMatch, validateStringRegexp)",
    catalogue=(
        "vs-match-hdr-name",
        "vs-match-hdr-value",
        "vs-match-without-value",
        "vs-match-uri-regex",
        "vs-match-scheme",
        "vs-match-method",
        "vs-match-authority",
        "vs-match-query",
        "vs-match-port",
        "vs-match-srclabels",
        "vs-match-srcns",
    ),
    istio="IST0106",
)
def http_match(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for base, route in http_routes(spec):
        for j, match in enumerate(as_list(route.get("match"))):
            if not isinstance(match, dict):
                continue
            yield from _match_conditions((*base, "match", j), match)
