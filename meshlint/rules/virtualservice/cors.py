"""CORS policies of HTTP routes (rules catalogue section 3.6)."""

from __future__ import annotations

from collections.abc import Iterator

from meshlint.diagnostics import Severity
from meshlint.resource import Resource
from meshlint.rules import Finding, rule
from meshlint.rules.lib.grammar import (
    check_header_name_cors,
    check_regex,
    duration_ns,
)
from meshlint.rules.lib.virtualservice import (
    WEBHOOK,
    as_list,
    duration_problem,
    http_routes,
)

_CORS_METHODS = frozenset(
    ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "CONNECT", "OPTIONS", "TRACE", "*")
)


@rule(
    "ML413",
    "cors-policy",
    Severity.ERROR,
    summary="A CORS policy has an invalid origin, method, header or maxAge.",
    rationale="""
        In `corsPolicy`: each of `allowOrigins` needs a non-empty exact, prefix or regex (an
        RE2 regex); `allowMethods` are upper-case HTTP methods (GET, HEAD, POST, PUT, PATCH,
        DELETE, CONNECT, OPTIONS, TRACE) or `*`; `allowHeaders` and `exposeHeaders` are HTTP
        tokens or `*`; `maxAge` is at least 1ms and a whole number of seconds (the
        Access-Control-Max-Age header counts seconds). Istio's webhook rejects the resource
        otherwise.
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
          - corsPolicy:
              allowOrigins:
              - exact: https://example.com
              allowMethods:
              - get
              maxAge: 1.5s
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
          - corsPolicy:
              allowOrigins:
              - exact: https://example.com
              allowMethods:
              - GET
              maxAge: 24h
            route:
            - destination:
                host: reviews
    """,
    kinds={"VirtualService"},
    source=f"{WEBHOOK} (validateCORSPolicy, validateAllowOrigins, validateCORSHTTPMethod, "
    "ValidateCORSHTTPHeaderName) — 'is not a supported HTTP method', 'max_age duration is "
    "accurate only to seconds precision'",
    catalogue=(
        "vs-cors-origin-empty",
        "vs-cors-origin-regex",
        "vs-cors-method",
        "vs-cors-header",
        "vs-cors-maxage",
        "vs-cors-maxage-seconds",
    ),
    istio="IST0106",
)
def cors_policy(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for base, route in http_routes(spec):
        cors = route.get("corsPolicy")
        if not isinstance(cors, dict):
            continue
        cbase = (*base, "corsPolicy")
        for k, origin in enumerate(as_list(cors.get("allowOrigins"))):
            if not isinstance(origin, dict):
                continue
            path = (*cbase, "allowOrigins", k)
            given = [f for f in ("exact", "prefix", "regex") if origin.get(f) is not None]
            if not given or origin.get(given[0]) == "":
                yield Finding(
                    (*path, given[0]) if given else path,
                    "an allowed origin needs a non-empty exact, prefix or regex, e.g. exact: "
                    "https://example.com",
                )
                continue
            regex = origin.get("regex")
            if given[0] == "regex" and isinstance(regex, str):
                problem = check_regex(regex)
                if problem:
                    yield Finding((*path, "regex"), problem)
        for k, method in enumerate(as_list(cors.get("allowMethods"))):
            if isinstance(method, str) and method not in _CORS_METHODS:
                hint = f" (write {method.upper()!r})" if method.upper() in _CORS_METHODS else ""
                yield Finding(
                    (*cbase, "allowMethods", k),
                    f"{method!r} is not a supported HTTP method{hint}: use GET, HEAD, POST, PUT, "
                    "PATCH, DELETE, CONNECT, OPTIONS, TRACE or '*', in upper case",
                )
        for field in ("allowHeaders", "exposeHeaders"):
            for k, name in enumerate(as_list(cors.get(field))):
                problem = check_header_name_cors(name)
                if problem:
                    yield Finding((*cbase, field, k), problem)
        max_age = cors.get("maxAge")
        problem = duration_problem(max_age)
        if problem:
            yield Finding((*cbase, "maxAge"), f"maxAge {problem}")
        else:
            ns = duration_ns(max_age)
            if ns is not None and ns % 1_000_000_000:
                yield Finding(
                    (*cbase, "maxAge"),
                    f"maxAge {max_age} is not a whole number of seconds: the browser is told "
                    "seconds only, e.g. 1s or 24h",
                )
