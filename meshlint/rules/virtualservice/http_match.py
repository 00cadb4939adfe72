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
    check_regex,
    check_string_match,
    is_dns_label,
    is_jwt_claim,
)
from meshlint.rules.lib.guards import as_map
from meshlint.rules.lib.virtualservice import (
    WEBHOOK,
    WEBHOOK_VS,
    applies_to_gateway,
    http_matches_of,
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
                "@request.auth.claims.group":  # expect: ML407@9 spec.http[0].match[0].headers["@request.auth.claims.group"]
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
    needs=("headers", "withoutHeaders"),
)
def jwt_claim_routing_on_mesh(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None or applies_to_gateway(spec):
        return
    for base, match in http_matches_of(res):
        for field in ("headers", "withoutHeaders"):
            headers = match.get(field)
            if not isinstance(headers, dict):
                continue
            for key in headers:
                # A claim starts with '@' (no other character lower-cases to it).
                if isinstance(key, str) and key[:1] == "@" and is_jwt_claim(key):
                    yield Finding(
                        (*base, field, key),
                        f"{key!r} routes on a JWT claim, which only works on gateways: bind "
                        "the VirtualService to a gateway (without mesh), or match another "
                        "header",
                        key=True,
                    )


def _string_match_ok(obj: Any, allow_empty_prefix: bool, allow_star_regex: bool) -> bool:
    """Whether :func:`_string_match` surely finds nothing in ``obj`` (False: it may)."""
    if type(obj) is not dict:
        return not isinstance(obj, Mapping)
    if not allow_empty_prefix and obj.get("prefix") == "":
        return False
    regex = obj.get("regex")
    if not isinstance(regex, str) or (allow_star_regex and regex == "*"):
        return True
    return regex != "" and check_regex(regex) is None


def _match_ok(match: dict[str, Any]) -> bool:
    """Whether ML410 surely finds nothing in an HTTP match (False: it may)."""
    for field, value in match.items():
        if field in _SINGLE:
            if value is not None and not _string_match_ok(value, field == "uri", False):
                return False
        elif field in _BY_NAME and isinstance(value, dict):
            star = field == "withoutHeaders"
            for each in value.values():
                if not _string_match_ok(each, False, star):
                    return False
    return True


# The fields of an HTTP match that hold a string match, and those that hold one by name.
_SINGLE = frozenset(("uri", "scheme", "method", "authority"))
_BY_NAME = frozenset(("headers", "withoutHeaders", "queryParams"))


@rule(
    "ML410",
    "http-match",
    Severity.ERROR,
    summary="A string match of an HTTP match (uri, scheme, method, authority, header or query "
    "value) is not valid.",
    rationale="""
        In `http[].match[]`, string matches (`uri`, `scheme`, `method`, `authority`, the
        values of `headers`, `withoutHeaders` and `queryParams`) may not have an empty regex
        or a regex RE2 rejects, and, except for `uri`, no empty prefix; `withoutHeaders` may
        use `regex: "*"` for "header present". Istio's webhook rejects the resource otherwise.

        In 0.2 invalid header names (ML437) and an invalid `port`, `sourceLabels` or
        `sourceNamespace` (ML438) became rules of their own; the code ML410 still selects,
        ignores and suppresses them.
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
                regex: "/api/(?!internal)"  # expect: ML410@16 spec.http[0].match[0].uri.regex
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
    "'prefix string match should not be empty', 'regex string match should not be empty'; "
    f"{WEBHOOK} (validateStringMatch, validateStringRegexp)",
    catalogue=(
        "vs-match-hdr-value",
        "vs-match-without-value",
        "vs-match-uri-regex",
        "vs-match-scheme",
        "vs-match-method",
        "vs-match-authority",
        "vs-match-query",
    ),
    istio="IST0106",
)
def http_match(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for base, match in http_matches_of(res):
        if _match_ok(match):
            continue
        for field in ("headers", "withoutHeaders"):
            headers = match.get(field)
            if not isinstance(headers, dict):
                continue
            for name, value in headers.items():
                yield from _string_match(
                    (*base, field, name),
                    value,
                    f"header {name!r}",
                    allow_star_regex=field == "withoutHeaders",
                )
        uri = match.get("uri")
        if uri is not None:  # null: nothing to check
            yield from _string_match((*base, "uri"), uri, "uri", allow_empty_prefix=True)
        for field in ("scheme", "method", "authority"):
            value = match.get(field)
            if value is not None:
                yield from _string_match((*base, field), value, field)
        for name, value in as_map(match.get("queryParams")).items():
            yield from _string_match(
                (*base, "queryParams", name), value, f"query parameter {name!r}"
            )


@rule(
    "ML437",
    "invalid-match-header-name",
    Severity.ERROR,
    summary="A header name of an HTTP match (`headers`, `withoutHeaders`) is not valid.",
    rationale="""
        The keys of `headers` and `withoutHeaders` in `http[].match[]` name request headers:
        an HTTP token (letters, digits and ``!#$%&'*+-.^_`|~``, no spaces or parentheses), a
        pseudo-header that can be matched (`:method`, `:scheme`, `:authority`, `:path`,
        `:status`), or a JWT claim (`@request.auth.claims.…`). Istio's webhook rejects other names.

        Before 0.2 this was part of ML410, whose code still selects, ignores and
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
          - match:
            - headers:
                "end user":  # expect: ML437@9 spec.http[0].match[0].headers["end user"]
                  exact: jason
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
          - reviews
          http:
          - match:
            - headers:
                end-user:
                  exact: jason
            route:
            - destination:
                host: reviews
                subset: v2
          - route:
            - destination:
                host: reviews
    """,
    kinds={"VirtualService"},
    source=f"{WEBHOOK_VS} (validateHTTPRouteMatchRequest), {WEBHOOK} "
    "(ValidateHTTPHeaderNameOrJwtClaimRoute)",
    catalogue=("vs-match-hdr-name",),
    istio="IST0106",
    aliases=("ML410",),
    needs=("headers", "withoutHeaders"),
)
def invalid_match_header_name(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for base, match in http_matches_of(res):
        for field in ("headers", "withoutHeaders"):
            headers = match.get(field)
            if not isinstance(headers, dict):
                continue
            for name in headers:
                problem = check_header_name_for_match(name)
                if problem:
                    yield Finding((*base, field, name), problem, key=True)


@rule(
    "ML438",
    "invalid-match-port-or-source",
    Severity.ERROR,
    summary="An HTTP match has an invalid `port`, `sourceLabels` or `sourceNamespace`.",
    rationale="""
        In `http[].match[]`, `port` is 1-65535 (0 or none: any port), `sourceLabels` are
        label keys and values as Kubernetes writes them, and `sourceNamespace` is a namespace
        name (a DNS label). Istio's webhook rejects the resource otherwise.

        Before 0.2 this was part of ML410, whose code still selects, ignores and
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
          - match:
            - sourceNamespace: Front_End  # expect: ML438@24 spec.http[0].match[0].sourceNamespace
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
          - reviews
          http:
          - match:
            - sourceNamespace: front-end
            route:
            - destination:
                host: reviews
                subset: v2
          - route:
            - destination:
                host: reviews
    """,
    kinds={"VirtualService"},
    source=f"{WEBHOOK_VS} (validateHTTPRouteMatchRequest) — 'sourceNamespace match is "
    "invalid'; pkg/config/validation/agent/validation.go (ValidatePort); pkg/config/labels "
    "(Instance.Validate)",
    catalogue=("vs-match-port", "vs-match-srclabels", "vs-match-srcns"),
    istio="IST0106",
    aliases=("ML410",),
    needs=("port", "sourceLabels", "sourceNamespace"),
)
def invalid_match_port_or_source(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for base, match in http_matches_of(res):
        ns = match.get("sourceNamespace")
        if ns is None and match.get("port") is None and match.get("sourceLabels") is None:
            continue  # none of the three is given
        yield from match_port(base, match)
        yield from source_labels((*base, "sourceLabels"), match.get("sourceLabels"))
        if isinstance(ns, str) and ns and not is_dns_label(ns):
            yield Finding(
                (*base, "sourceNamespace"),
                f"sourceNamespace {ns!r} is not a valid namespace name: use 1-63 letters, "
                "digits or '-', starting and ending with a letter or digit",
            )
