"""Redirects, direct responses and rewrites of HTTP routes (rules catalogue section 3.7)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from meshlint.diagnostics import Severity
from meshlint.resource import Resource
from meshlint.rules import Finding, rule
from meshlint.rules.lib.grammar import (
    check_port,
    check_regex,
)
from meshlint.rules.lib.guards import as_int, as_list, as_map
from meshlint.rules.lib.virtualservice import (
    WEBHOOK,
    http_routes_of,
    route_blocks,
)


@rule(
    "ML418",
    "http-redirect",
    Severity.ERROR,
    summary="An HTTP redirect changes nothing, or sets both `uri` and `prefixRewrite`, or "
    "rewrites a prefix the route does not match.",
    rationale="""
        A `redirect` must change something: `uri`, `prefixRewrite`, `authority`, `scheme` or
        the port. `uri` (the whole path) and `prefixRewrite` (the matched prefix) exclude each
        other, and `prefixRewrite` needs every uri match of the route to be a prefix match.
        Istio's webhook rejects the resource otherwise.

        In 0.2 an invalid `redirectCode`, `scheme` or `port` became a rule of its own, ML444;
        the code ML418 still selects, ignores and suppresses it.
    """,
    bad="""
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata:
          name: shop
          namespace: shop
        spec:
          hosts:
          - shop.example.com
          gateways:
          - istio-system/shop-gateway
          http:
          - match:
            - uri:
                prefix: /old
            redirect:
              uri: /new
              prefixRewrite: /new  # expect: ML418@7 spec.http[0].redirect.prefixRewrite
    """,
    good="""
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata:
          name: shop
          namespace: shop
        spec:
          hosts:
          - shop.example.com
          gateways:
          - istio-system/shop-gateway
          http:
          - match:
            - uri:
                prefix: /old
            redirect:
              prefixRewrite: /new
    """,
    kinds={"VirtualService"},
    source=f"{WEBHOOK} (validateHTTPRedirect) — 'redirect may only specify one of uri or "
    "prefix_rewrite', 'redirect must specify URI, authority, scheme, or port'",
    catalogue=(
        "vs-redirect-uri-prefix",
        "vs-redirect-prefix-match",
        "vs-redirect-empty",
    ),
    istio="IST0106",
    needs=("redirect",),
)
def http_redirect(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for rbase, route, redirect in route_blocks(res, "redirect"):
        given = {
            f
            for f in ("uri", "prefixRewrite", "authority", "scheme")
            if isinstance(redirect.get(f), str) and redirect.get(f) != ""
        }
        if "uri" in given and "prefixRewrite" in given:
            yield Finding(
                (*rbase, "prefixRewrite"),
                "a redirect may set uri or prefixRewrite, not both",
                key=True,
            )
        elif "prefixRewrite" in given:
            for j, match in enumerate(as_list(route.get("match"))):
                uri = as_map(match).get("uri")
                if isinstance(uri, dict) and uri.get("prefix") is None:
                    yield Finding(
                        (*rbase, "prefixRewrite"),
                        f"prefixRewrite needs every uri match of the route to be a prefix "
                        f"match; match #{j} is not: use uri instead, or match by prefix",
                        key=True,
                    )
                    break
        if not (
            given or redirect.get("port") is not None or redirect.get("derivePort") is not None
        ):
            yield Finding(
                rbase,
                "the redirect changes nothing: set uri, prefixRewrite, authority, scheme or port",
                key=True,
            )


@rule(
    "ML444",
    "invalid-redirect-value",
    Severity.ERROR,
    summary="An HTTP redirect has a `redirectCode` that is not 3xx, a `scheme` other than "
    "http or https, or an invalid `port`.",
    rationale="""
        A redirect answers with `redirectCode`, a 3xx code (301 when none is given); its
        `scheme` is `http` or `https`, in lower case, and its `port` is 1-65535. Istio's
        webhook rejects the resource otherwise.

        Before 0.2 this was part of ML418, whose code still selects, ignores and
        suppresses it.
    """,
    bad="""
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata:
          name: shop
          namespace: shop
        spec:
          hosts:
          - shop.example.com
          gateways:
          - istio-system/shop-gateway
          http:
          - redirect:
              scheme: HTTPS  # expect: ML444@15 spec.http[0].redirect.scheme
              redirectCode: 200  # expect: ML444@21 spec.http[0].redirect.redirectCode
    """,
    good="""
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata:
          name: shop
          namespace: shop
        spec:
          hosts:
          - shop.example.com
          gateways:
          - istio-system/shop-gateway
          http:
          - redirect:
              scheme: https
              redirectCode: 301
    """,
    kinds={"VirtualService"},
    source=f"{WEBHOOK} (validateHTTPRedirect) — 'is not a valid redirect code, must be 3xx', "
    '\'invalid redirect scheme, must be "http" or "https"\'; '
    "pkg/config/validation/agent/validation.go (ValidatePort)",
    catalogue=("vs-redirect-code", "vs-redirect-scheme", "vs-redirect-port"),
    istio="IST0106",
    aliases=("ML418",),
    needs=("redirect",),
)
def invalid_redirect_value(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for rbase, _, redirect in route_blocks(res, "redirect"):
        code = as_int(redirect.get("redirectCode"))
        if code and not 300 <= code <= 399:
            yield Finding(
                (*rbase, "redirectCode"),
                f"{code} is not a redirect code: use a 3xx code such as 301, 302, 307 or 308",
            )
        scheme = redirect.get("scheme")
        if isinstance(scheme, str) and scheme and scheme not in ("http", "https"):
            yield Finding(
                (*rbase, "scheme"),
                f"redirect scheme {scheme!r} is not valid: use http or https (lower case)",
            )
        port = as_int(redirect.get("port"))
        if port:
            problem = check_port(port)
            if problem:
                yield Finding((*rbase, "port"), problem)


_KB = 1024
_MB = 1024 * _KB


def _body_size(body: Mapping[str, Any]) -> int:
    text = body.get("string")
    if isinstance(text, str):
        return len(text.encode("utf-8", "surrogatepass"))
    data = body.get("bytes")
    if isinstance(data, str):
        return len(data.rstrip("=")) * 3 // 4
    return 0


@rule(
    "ML419",
    "direct-response",
    Severity.ERROR,
    summary="A direct response has a status outside 200-599 or a body larger than 1 MiB.",
    rationale="""
        `directResponse.status` is an HTTP status from 200 to 599 (Istio lets 600 through), and
        the body, which istiod pushes to every proxy, must stay under 1 MiB: Istio's webhook
        rejects the resource otherwise. A body over 100 KiB is admitted with a warning, and
        reported here as a warning: it slows down every configuration push.
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
          - directResponse:
              status: 42  # expect: ML419@15 spec.http[0].directResponse.status
              body:
                string: unavailable
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
          - directResponse:
              status: 503
              body:
                string: unavailable
    """,
    kinds={"VirtualService"},
    source=f"{WEBHOOK} (validateHTTPDirectResponse, validateHTTPStatus) — 'HTTP status is not in "
    "range 200-599', 'large direct_responses may impact control plane performance, must be "
    "less than 1MB'",
    catalogue=("vs-direct-status-range", "vs-direct-body-huge", "vs-direct-body-large"),
    istio="IST0106",
    needs=("directResponse",),
)
def direct_response(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for base, route in http_routes_of(res):
        direct = route.get("directResponse")
        if not isinstance(direct, dict):
            continue
        dbase = (*base, "directResponse")
        status = as_int(direct.get("status"))
        if status is not None and not 200 <= status <= 600:
            yield Finding((*dbase, "status"), f"HTTP status {status} is not in the range 200-599")
        body = direct.get("body")
        size = _body_size(body) if isinstance(body, dict) else 0
        if size > _MB:
            yield Finding(
                (*dbase, "body"),
                f"the body is {size} bytes; Istio allows at most 1 MiB ({_MB} bytes) in a "
                "direct response: serve large content from a service",
            )
        elif size > 100 * _KB:
            yield Finding(
                (*dbase, "body"),
                f"the body is {size} bytes (over 100 KiB): istiod sends it to every proxy, "
                "which slows down configuration pushes (Istio warns)",
                severity=Severity.WARNING,
            )


@rule(
    "ML420",
    "http-rewrite",
    Severity.ERROR,
    summary="A rewrite is empty, sets both uri and uriRegexRewrite, or has an invalid regex.",
    rationale="""
        `rewrite` must set `uri`, `uriRegexRewrite` or `authority`; `uri` and
        `uriRegexRewrite` exclude each other; `uriRegexRewrite` needs both `match` (an RE2
        regex of at most 1024 characters) and `rewrite`. Istio's webhook rejects the resource
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
          - rewrite:
              uriRegexRewrite:  # expect: ML420@7 spec.http[0].rewrite.uriRegexRewrite
                match: ^/service/([^/]+)(/.*)$
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
          - rewrite:
              uriRegexRewrite:
                match: ^/service/([^/]+)(/.*)$
                rewrite: \\2/instance/\\1
            route:
            - destination:
                host: reviews
    """,
    kinds={"VirtualService"},
    source=f"{WEBHOOK} (validateHTTPRewrite, validateURIRegexRewrite) — 'rewrite may only contain "
    "one of URI or UriRegexRewrite', 'rewrite must specify at least one of URI, "
    "UriRegexRewrite, or authority', 'UriRegexRewrite requires both Rewrite and Match fields'",
    catalogue=(
        "vs-rewrite-both",
        "vs-rewrite-empty",
        "vs-rewrite-regex-fields",
        "vs-rewrite-regex",
    ),
    istio="IST0106",
    needs=("rewrite",),
)
def http_rewrite(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for base, route in http_routes_of(res):
        rewrite = route.get("rewrite")
        if not isinstance(rewrite, dict):
            continue
        rbase = (*base, "rewrite")
        uri, authority = rewrite.get("uri"), rewrite.get("authority")
        regex = rewrite.get("uriRegexRewrite")
        has_uri = isinstance(uri, str) and uri != ""
        if has_uri and regex is not None:
            yield Finding(
                (*rbase, "uriRegexRewrite"),
                "a rewrite may set uri or uriRegexRewrite, not both",
                key=True,
            )
            continue
        if not has_uri and regex is None and not (isinstance(authority, str) and authority):
            yield Finding(
                rbase,
                "the rewrite changes nothing: set uri, uriRegexRewrite or authority",
                key=True,
            )
            continue
        if isinstance(regex, dict):
            match, repl = regex.get("match"), regex.get("rewrite")
            for field, value in (("match", match), ("rewrite", repl)):
                if value is None or value == "":
                    yield Finding(
                        (*rbase, "uriRegexRewrite", field)
                        if field in regex
                        else (*rbase, "uriRegexRewrite"),
                        f"uriRegexRewrite needs both match and rewrite; {field} is "
                        f"{'empty' if field in regex else 'missing'}",
                        key=field not in regex,
                    )
            if isinstance(match, str) and match and isinstance(repl, str) and repl:
                problem = check_regex(match)
                if problem:
                    yield Finding((*rbase, "uriRegexRewrite", "match"), problem)
