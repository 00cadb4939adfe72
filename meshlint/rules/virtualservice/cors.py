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
from meshlint.rules.lib.guards import as_list
from meshlint.rules.lib.virtualservice import (
    WEBHOOK,
    duration_problem,
    route_blocks,
)

_CORS_METHODS = frozenset(
    ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "CONNECT", "OPTIONS", "TRACE", "*")
)


@rule(
    "ML413",
    "cors-policy",
    Severity.ERROR,
    summary="An allowed origin of a CORS policy is empty or has an invalid regex.",
    rationale="""
        Each entry of `corsPolicy.allowOrigins` is a string match that needs a non-empty
        `exact`, `prefix` or `regex`, and a regex must be one RE2 accepts (no lookaheads or
        backreferences). Istio's webhook rejects the resource otherwise.

        In 0.2 invalid methods (ML439), invalid header names (ML440) and an invalid `maxAge`
        (ML441) became rules of their own; the code ML413 still selects, ignores and
        suppresses them.
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
              - regex: "https://(?!evil).*"  # expect: ML413@16 spec.http[0].corsPolicy.allowOrigins[0].regex
              allowMethods:
              - GET
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
              - regex: "https://[a-z]+\\\\.example\\\\.com"
              allowMethods:
              - GET
            route:
            - destination:
                host: reviews
    """,
    kinds={"VirtualService"},
    source=f"{WEBHOOK} (validateCORSPolicy, validateAllowOrigins, validateStringMatchRegexp) — "
    "'is not a valid match type for CORS allow origins'",
    catalogue=("vs-cors-origin-empty", "vs-cors-origin-regex"),
    istio="IST0106",
    needs=("corsPolicy",),
)
def cors_policy(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for cbase, _, cors in route_blocks(res, "corsPolicy"):
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


@rule(
    "ML439",
    "invalid-cors-method",
    Severity.ERROR,
    summary="A method of a CORS policy's `allowMethods` is not an upper-case HTTP method.",
    rationale="""
        `corsPolicy.allowMethods` lists the methods a browser may use across origins: GET,
        HEAD, POST, PUT, PATCH, DELETE, CONNECT, OPTIONS or TRACE, in upper case, or `*`.
        Istio's webhook rejects any other value, lower-case names included.

        Before 0.2 this was part of ML413, whose code still selects, ignores and
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
          - corsPolicy:
              allowOrigins:
              - exact: https://example.com
              allowMethods:
              - get  # expect: ML439@9 spec.http[0].corsPolicy.allowMethods[0]
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
            route:
            - destination:
                host: reviews
    """,
    kinds={"VirtualService"},
    source=f"{WEBHOOK} (validateCORSPolicy, validateCORSHTTPMethod) — 'is not a supported HTTP "
    "method'",
    catalogue=("vs-cors-method",),
    istio="IST0106",
    aliases=("ML413",),
    needs=("corsPolicy",),
)
def invalid_cors_method(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for cbase, _, cors in route_blocks(res, "corsPolicy"):
        for k, method in enumerate(as_list(cors.get("allowMethods"))):
            if isinstance(method, str) and method not in _CORS_METHODS:
                hint = f" (write {method.upper()!r})" if method.upper() in _CORS_METHODS else ""
                yield Finding(
                    (*cbase, "allowMethods", k),
                    f"{method!r} is not a supported HTTP method{hint}: use GET, HEAD, POST, PUT, "
                    "PATCH, DELETE, CONNECT, OPTIONS, TRACE or '*', in upper case",
                )


@rule(
    "ML440",
    "invalid-cors-header",
    Severity.ERROR,
    summary="A header of a CORS policy's `allowHeaders` or `exposeHeaders` is empty or not an "
    "HTTP token.",
    rationale="""
        `corsPolicy.allowHeaders` and `corsPolicy.exposeHeaders` list header names: each is
        an HTTP token (letters, digits and ``!#$%&'*+-.^_`|~``, no spaces) or `*`. Istio's
        webhook rejects empty names and names with other characters.

        Before 0.2 this was part of ML413, whose code still selects, ignores and
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
          - corsPolicy:
              allowOrigins:
              - exact: https://example.com
              allowHeaders:
              - "x user"  # expect: ML440@9 spec.http[0].corsPolicy.allowHeaders[0]
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
              allowHeaders:
              - x-user
            route:
            - destination:
                host: reviews
    """,
    kinds={"VirtualService"},
    source=f"{WEBHOOK} (validateCORSPolicy, ValidateCORSHTTPHeaderName)",
    catalogue=("vs-cors-header",),
    istio="IST0106",
    aliases=("ML413",),
    needs=("corsPolicy",),
)
def invalid_cors_header(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for cbase, _, cors in route_blocks(res, "corsPolicy"):
        for field in ("allowHeaders", "exposeHeaders"):
            for k, name in enumerate(as_list(cors.get(field))):
                problem = check_header_name_cors(name)
                if problem:
                    yield Finding((*cbase, field, k), problem)


@rule(
    "ML441",
    "invalid-cors-max-age",
    Severity.ERROR,
    summary="A CORS policy's `maxAge` is below 1ms or not a whole number of seconds.",
    rationale="""
        `corsPolicy.maxAge` says how long a browser may cache the answer to a preflight
        request. It is at least 1ms and a whole number of seconds: the
        Access-Control-Max-Age header counts seconds, and Istio's webhook rejects a duration
        with a fraction of a second.

        Before 0.2 this was part of ML413, whose code still selects, ignores and
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
          - corsPolicy:
              allowOrigins:
              - exact: https://example.com
              maxAge: 1.5s  # expect: ML441@15 spec.http[0].corsPolicy.maxAge
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
              maxAge: 24h
            route:
            - destination:
                host: reviews
    """,
    kinds={"VirtualService"},
    source=f"{WEBHOOK} (validateCORSPolicy) — 'max_age duration is accurate only to seconds "
    "precision'; pkg/config/validation/agent/validation.go (ValidateDuration)",
    catalogue=("vs-cors-maxage", "vs-cors-maxage-seconds"),
    istio="IST0106",
    aliases=("ML413",),
    needs=("corsPolicy",),
)
def invalid_cors_max_age(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for cbase, _, cors in route_blocks(res, "corsPolicy"):
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
