"""Header operations and authority rewrites of HTTP routes (rules catalogue sections 3.3 and
3.5)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from meshlint.diagnostics import FieldPath, Severity
from meshlint.resource import Resource
from meshlint.rules import Finding, rule
from meshlint.rules.lib.grammar import (
    check_header_name_for_set,
    check_header_name_other,
    check_header_value,
)
from meshlint.rules.lib.guards import as_list, as_map
from meshlint.rules.lib.virtualservice import (
    WEBHOOK,
    WEBHOOK_VS,
    http_routes_of,
)
from meshlint.verdicts import keep_verdict


def _header_ops(base: FieldPath, headers: Any) -> Iterator[Finding]:
    if not isinstance(headers, dict) or not headers:
        return
    for side in ("request", "response"):
        ops = as_map(headers.get(side))
        for op in ("set", "add"):
            for name, value in as_map(ops.get(op)).items():
                path = (*base, side, op, name)
                problem = (
                    check_header_name_for_set(name)
                    if side == "request"
                    else check_header_name_other(name)
                )
                if problem:
                    yield Finding(path, problem, key=True)
                problem = check_header_value(value)
                if problem:
                    yield Finding(path, problem)
        for k, name in enumerate(as_list(ops.get("remove"))):
            problem = check_header_name_other(name)
            if problem:
                yield Finding((*base, side, "remove", k), problem)


@rule(
    "ML411",
    "header-operations",
    Severity.ERROR,
    summary="A header to set, add or remove has an invalid name or value.",
    rationale="""
        In `headers` of an HTTP route and of each of its destinations: request headers to set
        or add may not be empty or pseudo-headers other than `:authority`; headers to remove,
        and response headers, may not be empty, `host` or pseudo-headers (starting with `:`).
        Values may not hold control characters such as line breaks, and Envoy `%…%`
        formatters in them must be well formed (`%%` for a literal `%`). Istio's webhook
        rejects the resource otherwise.
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
          - headers:
              response:
                set:
                  x-discount: 50%  # expect: ML411@23 spec.http[0].headers.response.set.x-discount
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
          - headers:
              response:
                set:
                  x-discount: 50%%
            route:
            - destination:
                host: reviews
    """,
    kinds={"VirtualService"},
    source=f"{WEBHOOK_VS} (validateHTTPRoute), {WEBHOOK} (validateHTTPRouteDestinations, "
    "ValidateHTTPHeaderWithAuthorityOperationName, ValidateHTTPHeaderOperationName, "
    "ValidateHTTPHeaderValue), pkg/config/validation/header_value_validator.go",
    catalogue=(
        "vs-hdr-req-setadd-name",
        "vs-hdr-req-remove",
        "vs-hdr-resp-name",
        "vs-hdr-value-ctl",
        "vs-hdr-value-fmt",
    ),
    istio="IST0106",
    needs=("headers",),
)
def header_operations(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for base, route in http_routes_of(res):
        headers = route.get("headers")
        if headers and not _header_ops_ok(headers):  # none to check, or all valid
            yield from _header_ops((*base, "headers"), headers)
        dests = route.get("route")
        if not isinstance(dests, list):
            continue
        for k, dest in enumerate(dests):
            headers = dest.get("headers") if isinstance(dest, dict) else None
            if headers and not _header_ops_ok(headers):
                yield from _header_ops((*base, "route", k, "headers"), headers)


def _header_ops_ok(headers: Any) -> bool:
    """Whether :func:`_header_ops` surely finds nothing in ``headers`` (False: it may)."""
    if not isinstance(headers, dict):
        return True
    for side in ("request", "response"):
        ops = headers.get(side)
        if not isinstance(ops, dict):
            continue
        request = side == "request"
        for op in ("set", "add"):
            entries = ops.get(op)
            if not isinstance(entries, dict):
                continue
            for name, value in entries.items():
                if type(name) is not str or not name or name[0] == ":":
                    return False
                if not request and len(name) == 4:  # may be `host`
                    return False
                if type(value) is str:
                    if value not in _VALUES_OK:
                        if check_header_value(value) is not None:
                            return False
                        keep_verdict(_VALUES_OK, value, True)
                elif isinstance(value, str):
                    return False
        remove = ops.get("remove")
        if isinstance(remove, list):
            for name in remove:
                if check_header_name_other(name) is not None:
                    return False
    return True


# The header values found valid so far (see keep_verdict).
_VALUES_OK: dict[str, bool] = {}


def _is_authority(name: Any) -> bool:
    return isinstance(name, str) and name.lower() in (":authority", "host")


@rule(
    "ML412",
    "authority-rewritten-twice",
    Severity.ERROR,
    summary="An HTTP route rewrites the authority in more than one place.",
    rationale="""
        The authority (Host header) of a request can be rewritten with `rewrite.authority` or
        by setting or adding `host` / `:authority` in `headers.request`, but only in one of
        these places per route: Istio's webhook rejects the resource otherwise.
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
              authority: reviews.internal
            headers:
              request:
                set:
                  host: reviews.example.com  # expect: ML412@11 spec.http[0].headers.request.set.host
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
              authority: reviews.internal
            route:
            - destination:
                host: reviews
    """,
    kinds={"VirtualService"},
    source=f"{WEBHOOK_VS} (validateAuthorityRewrite) — 'authority header cannot be set multiple times'",
    catalogue=("vs-authority-twice",),
    istio="IST0106",
    needs=("request",),
)
def authority_rewritten_twice(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for base, route in http_routes_of(res):
        headers = route.get("headers")
        request = headers.get("request") if isinstance(headers, dict) else None
        if not isinstance(request, dict):
            continue  # no header to set, so nothing rewrites the authority twice
        authority = as_map(route.get("rewrite")).get("authority")
        first = "rewrite.authority" if isinstance(authority, str) and authority else None
        for op in ("set", "add"):
            entries = request.get(op)
            if not isinstance(entries, dict):
                continue
            for name, value in entries.items():
                if not _is_authority(name):
                    continue
                if first is not None:
                    yield Finding(
                        (*base, "headers", "request", op, name),
                        f"the authority is already rewritten by {first}: rewrite it in one "
                        "place only",
                        key=True,
                    )
                elif isinstance(value, str) and value:
                    first = f"headers.request.{op}.{name}"
