"""Field validation of virtualservice: what Istio's webhook and CRD rules reject.

ML4xx. Facts: Istio's validating webhook, ``ValidateVirtualService`` and the ``validateHTTP*``,
``validateTLS*``, ``validateTCP*`` functions of istio/istio ``pkg/config/validation/validation.go``
and ``pkg/config/validation/virtualservice.go``, ``ValidateHTTPRetry`` of
``pkg/config/validation/agent/validation.go``. Rows of the rules catalogue, section 3.1-3.10.

Every check reads the raw ``res.spec`` and skips silently what has the wrong type: the schema
stage (ML206-ML209) reports wrong types, missing required fields, enums and oneOf.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
import textwrap
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from meshlint.diagnostics import FieldPath, Severity
from meshlint.resource import Resource
from meshlint.rules import Check, Finding, rule
from meshlint.rules.lib.grammar import (
    as_int,
    check_cidr,
    check_destination,
    check_duration,
    check_export_to,
    check_gateway_name,
    check_gateway_vs_host,
    check_header_name_cors,
    check_header_name_for_match,
    check_header_name_for_set,
    check_header_name_other,
    check_header_value,
    check_label_key,
    check_label_value,
    check_percentage,
    check_port,
    check_regex,
    check_string_match,
    check_wildcard_host,
    duration_ns,
    gateway_name_warning,
    host_matches,
    host_subset_of,
    is_dns_label,
    is_ip,
    is_jwt_claim,
)
from meshlint.rules.lib.placeholders import has_placeholder

_KINDS = {"VirtualService"}
_W = "webhook: pkg/config/validation/validation.go"
_WV = "webhook: pkg/config/validation/virtualservice.go"

# --------------------------------------------------------------------------------------------
# Registration: every rule of the family sees VirtualServices only, and leaves values that hold
# an unrendered template placeholder to ML306.


def _rule(
    code: str,
    name: str,
    severity: Severity,
    *,
    summary: str,
    rationale: str,
    bad: str,
    good: str,
    source: str,
    catalogue: tuple[str, ...],
    istio: str | None = None,
) -> Callable[[Check], Check]:
    wrap = rule(
        code,
        name,
        severity,
        summary=summary,
        rationale=rationale,
        bad=bad,
        good=good,
        kinds=_KINDS,
        istio=istio,
        source=source,
        catalogue=catalogue,
    )

    def register(fn: Check) -> Check:
        return wrap(_skip_placeholders(fn))

    return register


def _skip_placeholders(fn: Check) -> Check:
    """``fn`` without the findings on a value (or key) that holds an unrendered template
    placeholder such as ``{{ .Values.host }}``: ML306 reports those, once."""

    @functools.wraps(fn)
    def check(res: Resource) -> Iterator[Finding]:
        for finding in fn(res):
            if finding.path and finding.path[0] == "spec":
                value: Any = finding.path[-1] if finding.key else _at(res.data, finding.path)
                if has_placeholder(value):
                    continue
            yield finding

    return check


def _at(data: Any, path: FieldPath) -> Any:
    for part in path:
        if isinstance(data, dict):
            data = data.get(part)
        elif isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data):
            data = data[part]
        else:
            return None
    return data


def _vs(spec: str, name: str = "reviews") -> str:
    """A complete VirtualService manifest around ``spec`` (YAML, indented as under ``spec:``)."""
    body = textwrap.indent(textwrap.dedent(spec).strip("\n"), "  ")
    return (
        "apiVersion: networking.istio.io/v1\n"
        "kind: VirtualService\n"
        "metadata:\n"
        f"  name: {name}\n"
        "  namespace: shop\n"
        "spec:\n"
        f"{body}\n"
    )


# --------------------------------------------------------------------------------------------
# Reading the raw spec


def _map(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _str_list(value: Any) -> list[str]:
    return [v for v in _list(value) if isinstance(v, str)]


def _applies_to_gateway(spec: Mapping[str, Any]) -> bool:
    """Bound to gateways only: ``gateways`` is given and does not name ``mesh``."""
    gateways = _list(spec.get("gateways"))
    return bool(gateways) and "mesh" not in gateways


def _empty(value: Any) -> bool:
    """Absent, null or an empty list (a value of another type is the schema's to report)."""
    return value is None or value == []


def _is_delegate(spec: Mapping[str, Any]) -> bool:
    return _empty(spec.get("hosts"))


def _http_routes(spec: Mapping[str, Any]) -> Iterator[tuple[FieldPath, dict[str, Any]]]:
    for i, route in enumerate(_list(spec.get("http"))):
        if isinstance(route, dict):
            yield ("spec", "http", i), route


def _dur_problem(value: Any) -> str | None:
    """A duration the webhook validates (>= 1ms, whole ms); syntax errors are ML206's."""
    if duration_ns(value) is None:
        return None
    return check_duration(value)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value


def _string_match(base: FieldPath, obj: Any, what: str, **kw: bool) -> Iterator[Finding]:
    """A StringMatch's webhook problems; "only one of" is the schema's oneOf (ML20x)."""
    for where, message in check_string_match(obj, **kw):
        if message.startswith("set only one of"):
            continue
        yield Finding((*base, *where), f"{what}: {message}")


def _labels(base: FieldPath, labels: Any) -> Iterator[Finding]:
    if not isinstance(labels, dict):
        return
    for key, value in labels.items():
        problem = check_label_key(key)
        if problem:
            yield Finding((*base, key), f"sourceLabels key: {problem}", key=True)
        problem = check_label_value(value)
        if problem:
            yield Finding((*base, key), f"sourceLabels value: {problem}")


def _match_port(base: FieldPath, match: Mapping[str, Any]) -> Iterator[Finding]:
    port = as_int(match.get("port"))
    if port:
        problem = check_port(port)
        if problem:
            yield Finding((*base, "port"), f"{problem}: omit the port to match any")


# --------------------------------------------------------------------------------------------
# 3.1 Hosts, gateways, delegation, visibility


@_rule(
    "ML401",
    "virtualservice-hosts",
    Severity.ERROR,
    summary="A host of the VirtualService is not valid, is `*` on the mesh, or overlaps another.",
    rationale="""
        Every entry of `spec.hosts` must be a DNS name whose first label may be a wildcard
        (`*.example.com`), or an IP address. A VirtualService that applies to the mesh (no
        `gateways`, or `mesh` among them) may not use the host `*`, which would capture all
        traffic of every sidecar. Two hosts of one VirtualService may not overlap (equal, or one
        wildcard covering the other, like `*.example.com` and `*.com`). A VirtualService bound
        to gateways with TLS routes on SNI may also use Envoy's generated names
        `outbound_.<port>_._.<host>`. Istio's webhook rejects the resource otherwise.
    """,
    bad=_vs(
        """
        hosts:
        - reviews.shop.svc.cluster.local
        - "*"
        http:
        - route:
          - destination:
              host: reviews
        """
    ),
    good=_vs(
        """
        hosts:
        - reviews.shop.svc.cluster.local
        http:
        - route:
          - destination:
              host: reviews
        """
    ),
    source=f"{_W} (ValidateVirtualService) — 'wildcard host * is not allowed for virtual "
    "services bound to the mesh gateway', 'duplicate hosts in virtual service'; "
    "pkg/config/validation/agent/validation.go (ValidateWildcardDomain, "
    "ValidateWildcardDomainForVirtualServiceBoundToGateway)",
    catalogue=("vs-host-syntax", "vs-host-autosni", "vs-host-mesh-star", "vs-host-overlap"),
    istio="IST0106",
)
def hosts(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    hosts = spec.get("hosts")
    if not isinstance(hosts, list):
        return
    on_gateway = _applies_to_gateway(spec)
    on_mesh = not on_gateway
    sni = on_gateway and _has_sni_hosts(spec)
    all_valid = True
    for i, host in enumerate(hosts):
        if not isinstance(host, str):
            all_valid = False
            continue
        if on_gateway:
            problem = check_gateway_vs_host(host, sni=sni, allow_ip=True)
        else:
            problem = check_wildcard_host(host, allow_ip=True)
        if problem:
            all_valid = False
            yield Finding(("spec", "hosts", i), problem)
        elif on_mesh and host == "*":
            all_valid = False
            yield Finding(
                ("spec", "hosts", i),
                "the host '*' is not allowed on a VirtualService that applies to the mesh: it "
                "would take all traffic of every sidecar; name the hosts, or bind it to gateways",
            )
    if not all_valid:
        return
    for i in range(len(hosts)):
        for j in range(i + 1, len(hosts)):
            if host_matches(hosts[i], hosts[j]):
                same = hosts[i] == hosts[j]
                yield Finding(
                    ("spec", "hosts", j),
                    f"host {hosts[j]!r} is listed twice"
                    if same
                    else f"host {hosts[j]!r} overlaps host {hosts[i]!r} of the same "
                    "VirtualService: keep only one of them",
                )


def _has_sni_hosts(spec: Mapping[str, Any]) -> bool:
    for tls in _list(spec.get("tls")):
        for match in _list(_map(tls).get("match")):
            if _list(_map(match).get("sniHosts")):
                return True
    return False


@_rule(
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
    bad=_vs(
        """
        hosts:
        - reviews
        http:
        - delegate:
            name: reviews-v2
            namespace: shop
          route:
          - destination:
              host: reviews
        """
    ),
    good=_vs(
        """
        hosts:
        - reviews
        http:
        - delegate:
            name: reviews-v2
            namespace: shop
        """
    ),
    source=f"{_W} (ValidateVirtualService) — 'delegate virtual service must have no gateways "
    "specified'; "
    f"{_WV} (validateHTTPRouteConflict) — 'root HTTP route must not specify route'",
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
def delegation(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    delegate = _is_delegate(spec)
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
            if _list(spec.get(field)):
                yield Finding(("spec", field), message, key=True)
    for base, route in _http_routes(spec):
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


@_rule(
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
    bad=_vs(
        """
        hosts:
        - reviews
        http:
        - redirect:
            uri: /v2
          route:
          - destination:
              host: reviews
        """
    ),
    good=_vs(
        """
        hosts:
        - reviews
        http:
        - redirect:
            uri: /v2
        """
    ),
    source=f"{_WV} (validateHTTPRouteConflict) — 'HTTP route cannot contain both route and "
    "redirect', 'HTTP route, redirect or direct_response is required'; "
    f"{_W} (ValidateVirtualService) — 'http, tcp or tls must be provided in virtual service'",
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
def route_actions(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    if all(_empty(spec.get(f)) for f in ("http", "tcp", "tls")):
        present = [f for f in ("http", "tcp", "tls") if f in spec]
        yield Finding(
            ("spec", present[0]) if present else ("spec",),
            "the VirtualService has no routes: give at least one http, tcp or tls route",
            key=True,
        )
    delegate = _is_delegate(spec)
    for i, route in enumerate(_list(spec.get("http"))):
        base: FieldPath = ("spec", "http", i)
        if not isinstance(route, dict):
            continue
        if not delegate and route.get("delegate") is not None:
            continue  # ML402 checks delegating routes
        has_route = not _empty(route.get("route"))
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
        if route.get("mirror") is not None and _list(route.get("mirrors")):
            yield Finding(
                (*base, "mirrors"),
                "an HTTP route cannot have both mirror and mirrors: move the mirror into "
                "the mirrors list",
                key=True,
            )


def _all_gateway_refs(spec: Mapping[str, Any]) -> Iterator[tuple[FieldPath, list[Any]]]:
    yield ("spec", "gateways"), _list(spec.get("gateways"))
    for section in ("http", "tcp", "tls"):
        for i, route in enumerate(_list(spec.get(section))):
            for j, match in enumerate(_list(_map(route).get("match"))):
                refs = _list(_map(match).get("gateways"))
                if refs:
                    yield ("spec", section, i, "match", j, "gateways"), refs


@_rule(
    "ML404",
    "invalid-gateway-reference",
    Severity.ERROR,
    summary="A gateway reference is not `namespace/name`, `mesh` or a valid gateway name.",
    rationale="""
        `gateways` (at the top and in the matches of http, tcp and tls routes) name Gateways
        as `namespace/name`, both parts DNS labels, or `mesh` for the sidecars. The older form
        without a slash must be a valid DNS name. Istio's webhook rejects other values; it
        stops at the first reference without a slash, meshlint checks every entry.
    """,
    bad=_vs(
        """
        hosts:
        - bookinfo.example.com
        gateways:
        - istio-system/Bookinfo_Gateway
        http:
        - route:
          - destination:
              host: productpage
        """
    ),
    good=_vs(
        """
        hosts:
        - bookinfo.example.com
        gateways:
        - istio-system/bookinfo-gateway
        http:
        - route:
          - destination:
              host: productpage
        """
    ),
    source=f"{_W} (validateGatewayNames) — 'config namespace and gateway name cannot be "
    "empty', 'invalid value for namespace', 'invalid value for gateway name'",
    catalogue=(
        "vs-gw-fqdn",
        "vs-gw-parts-empty",
        "vs-gw-ns-label",
        "vs-gw-name-label",
        "vs-match-gateways",
        "vs-tls-gateways",
        "vs-tcp-gateways",
    ),
    istio="IST0106",
)
def gateway_reference(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for base, refs in _all_gateway_refs(spec):
        for i, ref in enumerate(refs):
            problem = check_gateway_name(ref)
            if problem:
                yield Finding((*base, i), problem)


@_rule(
    "ML405",
    "legacy-gateway-reference",
    Severity.WARNING,
    summary="A gateway is referenced in the older `name.namespace` form.",
    rationale="""
        Istio still reads `my-gateway.istio-system` (and `…svc.cluster.local`) as the gateway
        `istio-system/my-gateway`, but warns about it: the `namespace/name` form is the
        documented one and cannot be misread.
    """,
    bad=_vs(
        """
        hosts:
        - bookinfo.example.com
        gateways:
        - bookinfo-gateway.istio-system
        http:
        - route:
          - destination:
              host: productpage
        """
    ),
    good=_vs(
        """
        hosts:
        - bookinfo.example.com
        gateways:
        - istio-system/bookinfo-gateway
        http:
        - route:
          - destination:
              host: productpage
        """
    ),
    source=f"{_W} (validateGatewayNames) — warning 'using legacy gatewayName format; prefer "
    "the <namespace>/<name> format'",
    catalogue=("vs-gw-legacy",),
    istio="IST0133",
)
def legacy_gateway_reference(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for base, refs in _all_gateway_refs(spec):
        for i, ref in enumerate(refs):
            if check_gateway_name(ref) is not None:
                continue
            warning = gateway_name_warning(ref)
            if warning:
                yield Finding((*base, i), warning)


@_rule(
    "ML406",
    "virtualservice-export-to",
    Severity.ERROR,
    summary="`exportTo` has an invalid, repeated or conflicting entry.",
    rationale="""
        `exportTo` lists the namespaces that see the VirtualService: `.` (its own), `*`
        (all), or namespace names. `~` (none) is only for ServiceEntries. No entry may appear
        twice (`.` and the own namespace count as the same), and `*` stands alone. Istio's
        webhook rejects the resource otherwise.
    """,
    bad=_vs(
        """
        hosts:
        - reviews
        exportTo:
        - "."
        - "*"
        http:
        - route:
          - destination:
              host: reviews
        """
    ),
    good=_vs(
        """
        hosts:
        - reviews
        exportTo:
        - "."
        http:
        - route:
          - destination:
              host: reviews
        """
    ),
    source=f"{_W} (validateExportTo), pkg/config/visibility/visibility.go",
    catalogue=(
        "vs-export-dup",
        "vs-export-dot-own",
        "vs-export-none",
        "vs-export-entry",
        "vs-export-star-mix",
    ),
    istio="IST0106",
)
def export_to(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for i, message in check_export_to(
        spec.get("exportTo"), allow_none=False, own_namespace=res.namespace
    ):
        yield Finding(("spec", "exportTo", i), message)


@_rule(
    "ML407",
    "jwt-claim-routing-on-mesh",
    Severity.ERROR,
    summary="A route matches on a JWT claim in a VirtualService that applies to the mesh.",
    rationale="""
        Header matches on `@request.auth.claims.…` route on the claims of a validated JWT.
        Istio supports this on gateways only; a VirtualService that applies to the mesh (no
        `gateways`, or `mesh` among them) with such a match is rejected by the webhook.
    """,
    bad=_vs(
        """
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
        """
    ),
    good=_vs(
        """
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
        """
    ),
    source=f"{_W} (ValidateVirtualService) — 'JWT claim based routing is only supported for "
    "gateway'",
    catalogue=("vs-jwt-claim-mesh",),
    istio="IST0106",
)
def jwt_claim_on_mesh(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None or _applies_to_gateway(spec):
        return
    for base, route in _http_routes(spec):
        for j, match in enumerate(_list(route.get("match"))):
            for field in ("headers", "withoutHeaders"):
                for key in _map(_map(match).get(field)):
                    if isinstance(key, str) and is_jwt_claim(key):
                        yield Finding(
                            (*base, "match", j, field, key),
                            f"{key!r} routes on a JWT claim, which only works on gateways: bind "
                            "the VirtualService to a gateway (without mesh), or match another "
                            "header",
                            key=True,
                        )


# --------------------------------------------------------------------------------------------
# 3.2 Rule reachability


def _match_key(match: Any) -> str:
    """What identifies a match for Istio's duplicate check: everything but its name."""
    if isinstance(match, dict):
        match = {k: v for k, v in match.items() if k != "name" and v is not None}
    return json.dumps(match, sort_keys=True, default=str)


def _rule_name(route: Mapping[str, Any], i: int) -> str:
    name = route.get("name")
    return f"{name!r}" if isinstance(name, str) and name else f"#{i}"


# ML408 and ML409 run one after the other on the same resource: the analysis is done once.
_REACH_CACHE: list[Any] = [None, []]


def _reachability(spec: Mapping[str, Any]) -> list[tuple[bool, FieldPath, str]]:
    """(unreachable rule?, path, message) for the http, tcp and tls rules, as Istio's
    ``analyzeUnreachable*Rules``; False marks an ineffective match (IST0131)."""
    if _REACH_CACHE[0] is not spec:
        _REACH_CACHE[:] = [spec, list(_analyze_reachability(spec))]
    result: list[tuple[bool, FieldPath, str]] = _REACH_CACHE[1]
    return result


def _analyze_reachability(spec: Mapping[str, Any]) -> Iterator[tuple[bool, FieldPath, str]]:
    for section in ("http", "tcp", "tls"):
        routes = _list(spec.get(section))
        seen: dict[str, int] = {}
        catch_all = -1
        prefixes: list[tuple[FieldPath, str, _PrefixMatch]] = []
        for i, route in enumerate(routes):
            if not isinstance(route, dict):
                continue
            base: FieldPath = ("spec", section, i)
            name = _rule_name(route, i) if section == "http" else f"#{i}"
            matches = _list(route.get("match"))
            if not matches:
                if catch_all >= 0:
                    yield (
                        True,
                        base,
                        f"{section} rule {name} is never used: rule #{catch_all} before it has "
                        "no match and takes all traffic; only the last rule may have no match",
                    )
                catch_all = i
                continue
            if catch_all >= 0:
                yield (
                    True,
                    (*base, "match"),
                    f"{section} rule {name} is never used: rule #{catch_all} before it has no "
                    "match and takes all traffic; move this rule above it",
                )
                continue
            duplicates: list[tuple[int, int]] = []
            for j, match in enumerate(matches):
                key = _match_key(match)
                if key in seen:
                    duplicates.append((j, seen[key]))
                    continue
                seen[key] = i
                if section == "http":
                    pm = _prefix_match(match)
                    if pm is not None:
                        prefixes.append(((*base, "match", j), f"rule {name}", pm))
            if len(duplicates) == len(matches):
                yield (
                    True,
                    (*base, "match"),
                    f"{section} rule {name} is never used: every match of it is already "
                    "matched by an earlier rule",
                )
                continue
            for j, earlier in duplicates:
                yield (
                    False,
                    (*base, "match", j),
                    f"match #{j} of {section} rule {name} is never used: rule #{earlier} "
                    "has the same match",
                )
        for a in range(len(prefixes)):
            path_a, name_a, pa = prefixes[a]
            for b in range(a + 1, len(prefixes)):
                path_b, _, pb = prefixes[b]
                if pb.prefix == pa.prefix:
                    continue
                if _covers(pa, pb):
                    yield (
                        False,
                        (*path_b, "uri", "prefix"),
                        f"this match is never used: the uri prefix {pa.prefix!r} of {name_a} "
                        f"(match #{path_a[-1]}) comes first and covers {pb.prefix!r} with the "
                        "same other conditions",
                    )


@dataclasses.dataclass(frozen=True, slots=True)
class _PrefixMatch:
    prefix: str
    port: int
    method: str
    authority: str
    headers: dict[str, str]
    query: dict[str, str]
    without: dict[str, str]


def _exact_or_prefix(sm: Any) -> str:
    sm = _map(sm)
    exact, prefix = sm.get("exact"), sm.get("prefix")
    if isinstance(exact, str) and exact:
        return "exact:" + exact
    if isinstance(prefix, str) and prefix:
        return "prefix:" + prefix
    return ""


def _prefix_match(match: Any) -> _PrefixMatch | None:
    """Istio's ``genMatchHTTPRoutes``: matches with a non-empty uri prefix."""
    if not isinstance(match, dict):
        return None
    prefix = _map(match.get("uri")).get("prefix")
    if not isinstance(prefix, str) or not prefix:
        return None
    return _PrefixMatch(
        prefix,
        as_int(match.get("port")) or 0,
        _exact_or_prefix(match.get("method")) or "exact:GET",
        _exact_or_prefix(match.get("authority")),
        {str(k): _exact_or_prefix(v) for k, v in _map(match.get("headers")).items()},
        {str(k): _exact_or_prefix(v) for k, v in _map(match.get("queryParams")).items()},
        {str(k): _exact_or_prefix(v) for k, v in _map(match.get("withoutHeaders")).items()},
    )


def _covers(a: _PrefixMatch, b: _PrefixMatch) -> bool:
    """Istio's ``coveredValidation``: whether the earlier match ``a`` shadows ``b``."""
    if not b.prefix.startswith(a.prefix) or a.port != b.port:
        return False
    for va, vb in ((a.method, b.method), (a.authority, b.authority)):
        if va != vb and not va.startswith(vb):
            return False
    for ma, mb in ((a.headers, b.headers), (a.query, b.query), (a.without, b.without)):
        if len(ma) != len(mb):
            return False
        for k, va in ma.items():
            if k not in mb:
                return False
            if va != mb[k] and not va.startswith(mb[k]):
                return False
    return True


@_rule(
    "ML408",
    "unreachable-rule",
    Severity.WARNING,
    summary="A route rule can never be used: an earlier rule takes all its traffic.",
    rationale="""
        Rules are tried in order and the first that matches wins. A rule after one without
        `match` (which takes everything), or a rule whose every match repeats a match of an
        earlier rule, never receives traffic. Istio admits the resource with a warning, which
        `istioctl analyze` reports as IST0130 VirtualServiceUnreachableRule.
    """,
    bad=_vs(
        """
        hosts:
        - reviews
        http:
        - route:
          - destination:
              host: reviews
              subset: v1
        - match:
          - headers:
              end-user:
                exact: jason
          route:
          - destination:
              host: reviews
              subset: v2
        """
    ),
    good=_vs(
        """
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
              subset: v1
        """
    ),
    source=f"{_W} (analyzeUnreachableHTTPRules, analyzeUnreachableTCPRules, "
    "analyzeUnreachableTLSRules) — warning 'virtualService rule not used'",
    catalogue=(
        "vs-unreach-second-catchall",
        "vs-unreach-after-catchall",
        "vs-unreach-all-dup",
    ),
    istio="IST0130",
)
def unreachable_rule(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for unreachable, path, message in _reachability(spec):
        if unreachable:
            yield Finding(path, message, key=path[-1] == "match")


@_rule(
    "ML409",
    "ineffective-match",
    Severity.INFO,
    summary="A match of a route rule can never be used: an earlier match covers it.",
    rationale="""
        A match identical to a match of an earlier rule, or an HTTP match whose uri prefix is
        covered by an earlier match's prefix with the same other conditions (port, method,
        authority, header, query and withoutHeaders keys), never selects its rule: the earlier
        rule wins. The rule's other matches still work. Istio admits the resource with a
        warning, which `istioctl analyze` reports as IST0131 VirtualServiceIneffectiveMatch.
    """,
    bad=_vs(
        """
        hosts:
        - reviews
        http:
        - match:
          - uri:
              prefix: /api
          route:
          - destination:
              host: reviews
              subset: v1
        - match:
          - uri:
              prefix: /api/v2
          route:
          - destination:
              host: reviews
              subset: v2
        """
    ),
    good=_vs(
        """
        hosts:
        - reviews
        http:
        - match:
          - uri:
              prefix: /api/v2
          route:
          - destination:
              host: reviews
              subset: v2
        - match:
          - uri:
              prefix: /api
          route:
          - destination:
              host: reviews
              subset: v1
        """
    ),
    source=f"{_W} (analyzeUnreachableHTTPRules, coveredValidation) — warning "
    "'virtualService rule match is not used (duplicate/overlapping match in rule)'",
    catalogue=("vs-match-dup", "vs-match-prefix-shadow"),
    istio="IST0131",
)
def ineffective_match(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for unreachable, path, message in _reachability(spec):
        if not unreachable:
            yield Finding(path, message)


# --------------------------------------------------------------------------------------------
# 3.3 / 3.4 HTTP route structure and match requests


@_rule(
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
    bad=_vs(
        """
        hosts:
        - reviews
        http:
        - match:
          - uri:
              regex: "/api/(?!internal)"
          route:
          - destination:
              host: reviews
        """
    ),
    good=_vs(
        """
        hosts:
        - reviews
        http:
        - match:
          - uri:
              regex: "/api/[a-z]+"
          route:
          - destination:
              host: reviews
        """
    ),
    source=f"{_WV} (validateHTTPRouteMatchRequest) — "
    "'prefix string match should not be empty', 'regex string match should not be empty', "
    "'sourceNamespace match is invalid'; "
    f"{_W} (validateStringMatch, validateStringRegexp)",
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
    for base, route in _http_routes(spec):
        for j, match in enumerate(_list(route.get("match"))):
            if not isinstance(match, dict):
                continue
            yield from _http_match((*base, "match", j), match)


def _http_match(base: FieldPath, match: Mapping[str, Any]) -> Iterator[Finding]:
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
    for name, value in _map(match.get("queryParams")).items():
        yield from _string_match((*base, "queryParams", name), value, f"query parameter {name!r}")
    yield from _match_port(base, match)
    yield from _labels((*base, "sourceLabels"), match.get("sourceLabels"))
    ns = match.get("sourceNamespace")
    if isinstance(ns, str) and ns and not is_dns_label(ns):
        yield Finding(
            (*base, "sourceNamespace"),
            f"sourceNamespace {ns!r} is not a valid namespace name: use 1-63 letters, digits or "
            "'-', starting and ending with a letter or digit",
        )


def _header_ops(base: FieldPath, headers: Any) -> Iterator[Finding]:
    headers = _map(headers)
    for side in ("request", "response"):
        ops = _map(headers.get(side))
        for op in ("set", "add"):
            for name, value in _map(ops.get(op)).items():
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
        for k, name in enumerate(_list(ops.get("remove"))):
            problem = check_header_name_other(name)
            if problem:
                yield Finding((*base, side, "remove", k), problem)


@_rule(
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
    bad=_vs(
        """
        hosts:
        - reviews
        http:
        - headers:
            response:
              set:
                x-discount: 50%
          route:
          - destination:
              host: reviews
        """
    ),
    good=_vs(
        """
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
        """
    ),
    source=f"{_WV} (validateHTTPRoute), {_W} (validateHTTPRouteDestinations, "
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
)
def header_operations(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for base, route in _http_routes(spec):
        yield from _header_ops((*base, "headers"), route.get("headers"))
        for k, dest in enumerate(_list(route.get("route"))):
            yield from _header_ops((*base, "route", k, "headers"), _map(dest).get("headers"))


def _is_authority(name: Any) -> bool:
    return isinstance(name, str) and name.lower() in (":authority", "host")


@_rule(
    "ML412",
    "authority-rewritten-twice",
    Severity.ERROR,
    summary="An HTTP route rewrites the authority in more than one place.",
    rationale="""
        The authority (Host header) of a request can be rewritten with `rewrite.authority` or
        by setting or adding `host` / `:authority` in `headers.request`, but only in one of
        these places per route: Istio's webhook rejects the resource otherwise.
    """,
    bad=_vs(
        """
        hosts:
        - reviews
        http:
        - rewrite:
            authority: reviews.internal
          headers:
            request:
              set:
                host: reviews.example.com
          route:
          - destination:
              host: reviews
        """
    ),
    good=_vs(
        """
        hosts:
        - reviews
        http:
        - rewrite:
            authority: reviews.internal
          route:
          - destination:
              host: reviews
        """
    ),
    source=f"{_WV} (validateAuthorityRewrite) — 'authority header cannot be set multiple times'",
    catalogue=("vs-authority-twice",),
    istio="IST0106",
)
def authority_twice(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for base, route in _http_routes(spec):
        authority = _map(route.get("rewrite")).get("authority")
        first = "rewrite.authority" if isinstance(authority, str) and authority else None
        request = _map(_map(route.get("headers")).get("request"))
        for op in ("set", "add"):
            for name, value in _map(request.get(op)).items():
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


# --------------------------------------------------------------------------------------------
# 3.6 CORS, fault injection, mirroring

_CORS_METHODS = frozenset(
    ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "CONNECT", "OPTIONS", "TRACE", "*")
)


@_rule(
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
    bad=_vs(
        """
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
        """
    ),
    good=_vs(
        """
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
        """
    ),
    source=f"{_W} (validateCORSPolicy, validateAllowOrigins, validateCORSHTTPMethod, "
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
    for base, route in _http_routes(spec):
        cors = route.get("corsPolicy")
        if not isinstance(cors, dict):
            continue
        cbase = (*base, "corsPolicy")
        for k, origin in enumerate(_list(cors.get("allowOrigins"))):
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
        for k, method in enumerate(_list(cors.get("allowMethods"))):
            if isinstance(method, str) and method not in _CORS_METHODS:
                hint = f" (write {method.upper()!r})" if method.upper() in _CORS_METHODS else ""
                yield Finding(
                    (*cbase, "allowMethods", k),
                    f"{method!r} is not a supported HTTP method{hint}: use GET, HEAD, POST, PUT, "
                    "PATCH, DELETE, CONNECT, OPTIONS, TRACE or '*', in upper case",
                )
        for field in ("allowHeaders", "exposeHeaders"):
            for k, name in enumerate(_list(cors.get(field))):
                problem = check_header_name_cors(name)
                if problem:
                    yield Finding((*cbase, field, k), problem)
        max_age = cors.get("maxAge")
        problem = _dur_problem(max_age)
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


_GRPC_STATUS = frozenset(
    (
        "OK",
        "CANCELLED",
        "UNKNOWN",
        "INVALID_ARGUMENT",
        "DEADLINE_EXCEEDED",
        "NOT_FOUND",
        "ALREADY_EXISTS",
        "PERMISSION_DENIED",
        "RESOURCE_EXHAUSTED",
        "FAILED_PRECONDITION",
        "ABORTED",
        "OUT_OF_RANGE",
        "UNIMPLEMENTED",
        "INTERNAL",
        "UNAVAILABLE",
        "DATA_LOSS",
        "UNAUTHENTICATED",
    )
)


def _percentage(path: FieldPath, block: Mapping[str, Any]) -> Iterator[Finding]:
    value = _map(block.get("percentage")).get("value")
    problem = check_percentage(value)
    if problem:
        yield Finding((*path, "percentage", "value"), f"percentage {problem}")


@_rule(
    "ML414",
    "fault-injection",
    Severity.ERROR,
    summary="A fault injection is empty, uses an unsupported fault, or has an invalid value.",
    rationale="""
        `fault` needs an `abort` and/or a `delay`. An abort's `httpStatus` is 200-599 (Istio
        lets 600 through), its `grpcStatus` a gRPC status name such as UNAVAILABLE, and
        `http2Error` is not supported. A delay's `fixedDelay` is at least 1ms in whole
        milliseconds; `exponentialDelay` is not supported. Percentages are 0 or between 0.0001
        and 100. Istio's webhook rejects the resource otherwise.
    """,
    bad=_vs(
        """
        hosts:
        - ratings
        http:
        - fault:
            abort:
              httpStatus: 700
              percentage:
                value: 10
          route:
          - destination:
              host: ratings
        """
    ),
    good=_vs(
        """
        hosts:
        - ratings
        http:
        - fault:
            abort:
              httpStatus: 503
              percentage:
                value: 10
          route:
          - destination:
              host: ratings
        """
    ),
    source=f"{_W} (validateHTTPFaultInjection, validateHTTPFaultInjectionAbort, "
    "validateHTTPFaultInjectionDelay, validateHTTPStatus, validateGRPCStatus, "
    "validatePercentage) — 'HTTP fault injection must have an abort and/or a delay', "
    "'HTTP status is not in range 200-599', 'exponentialDelay not supported yet'",
    catalogue=(
        "vs-fault-empty",
        "vs-fault-abort-pct",
        "vs-fault-abort-grpc",
        "vs-fault-abort-h2",
        "vs-fault-abort-http",
        "vs-fault-delay-pct",
        "vs-fault-delay-fixed",
        "vs-fault-delay-exp",
    ),
    istio="IST0106",
)
def fault_injection(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for base, route in _http_routes(spec):
        fault = route.get("fault")
        if not isinstance(fault, dict):
            continue
        fbase = (*base, "fault")
        abort, delay = fault.get("abort"), fault.get("delay")
        if abort is None and delay is None:
            yield Finding(
                fbase,
                "the fault injection is empty: give an abort and/or a delay, or remove it",
                key=True,
            )
        if isinstance(abort, dict):
            abase = (*fbase, "abort")
            yield from _percentage(abase, abort)
            if abort.get("http2Error") is not None:
                yield Finding(
                    (*abase, "http2Error"),
                    "http2Error aborts are not supported by Istio: use httpStatus or grpcStatus",
                    key=True,
                )
            status = as_int(abort.get("httpStatus"))
            if status is not None and not 200 <= status <= 600:
                yield Finding(
                    (*abase, "httpStatus"),
                    f"HTTP status {status} is not in the range 200-599",
                )
            grpc = abort.get("grpcStatus")
            if isinstance(grpc, str) and grpc not in _GRPC_STATUS:
                hint = f" (write {grpc.upper()!r})" if grpc.upper() in _GRPC_STATUS else ""
                yield Finding(
                    (*abase, "grpcStatus"),
                    f"gRPC status {grpc!r} is not supported{hint}: use a status name such as "
                    "UNAVAILABLE, NOT_FOUND or INTERNAL",
                )
        if isinstance(delay, dict):
            dbase = (*fbase, "delay")
            yield from _percentage(dbase, delay)
            problem = _dur_problem(delay.get("fixedDelay"))
            if problem:
                yield Finding((*dbase, "fixedDelay"), f"fixedDelay {problem}")
            if delay.get("exponentialDelay") is not None:
                problem = _dur_problem(delay.get("exponentialDelay"))
                yield Finding(
                    (*dbase, "exponentialDelay"),
                    f"exponentialDelay {problem}"
                    if problem
                    else "exponentialDelay is not supported by Istio: use fixedDelay",
                    key=problem is None,
                )


@_rule(
    "ML415",
    "fault-abort-without-error",
    Severity.WARNING,
    summary="A fault abort sets no error (httpStatus or grpcStatus), so it aborts nothing.",
    rationale="""
        `fault.abort` says what error to answer with: `httpStatus` or `grpcStatus`. Without
        one, Istio admits the resource with a warning and the abort has no effect.
    """,
    bad=_vs(
        """
        hosts:
        - ratings
        http:
        - fault:
            abort:
              percentage:
                value: 10
          route:
          - destination:
              host: ratings
        """
    ),
    good=_vs(
        """
        hosts:
        - ratings
        http:
        - fault:
            abort:
              httpStatus: 503
              percentage:
                value: 10
          route:
          - destination:
              host: ratings
        """
    ),
    source=f"{_W} (validateHTTPFaultInjectionAbort) — warning 'abort configured, but error "
    "type not set'",
    catalogue=("vs-fault-abort-none",),
    istio="IST0133",
)
def fault_abort_without_error(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for base, route in _http_routes(spec):
        abort = _map(route.get("fault")).get("abort")
        if not isinstance(abort, dict):
            continue
        if all(abort.get(f) is None for f in ("httpStatus", "grpcStatus", "http2Error")):
            yield Finding(
                (*base, "fault", "abort"),
                "the abort sets no error, so it aborts nothing: add httpStatus (e.g. 503) or "
                "grpcStatus (e.g. UNAVAILABLE)",
                key=True,
            )


def _destination(base: FieldPath, dest: Any) -> Iterator[Finding]:
    if not isinstance(dest, dict) or dest.get("host") is None:
        return  # a missing host is the schema's (required)
    for where, message in check_destination(dest):
        yield Finding((*base, *where), message)


def _mirror_pct(path: FieldPath, value: Any) -> Iterator[Finding]:
    number = _number(value)
    if number is None:
        return
    if number > 100:
        yield Finding(path, f"mirror percentage {value} is above the maximum of 100")
    elif number < 0:
        yield Finding(path, f"mirror percentage {value} is negative: use 0 to 100")


@_rule(
    "ML416",
    "traffic-mirroring",
    Severity.ERROR,
    summary="A mirror destination or mirror percentage is not valid.",
    rationale="""
        `mirror` and each `mirrors[].destination` name a service like a route destination: a
        host (not `*`), an optional subset that is a DNS label and an optional port 1-65535.
        Mirror percentages (`mirrorPercentage.value`,
        `mirrors[].percentage.value`, the older `mirrorPercent`) are from 0 to 100. Istio's
        webhook rejects the resource otherwise.
    """,
    bad=_vs(
        """
        hosts:
        - reviews
        http:
        - route:
          - destination:
              host: reviews
          mirrors:
          - destination:
              host: reviews-shadow
            percentage:
              value: 150
        """
    ),
    good=_vs(
        """
        hosts:
        - reviews
        http:
        - route:
          - destination:
              host: reviews
          mirrors:
          - destination:
              host: reviews-shadow
            percentage:
              value: 15
        """
    ),
    source=f"{_WV} (validateHTTPRoute) — 'mirror_percentage must have a max value of 100'; "
    f"{_W} (validateHTTPMirrors, validateDestination) — 'mirror percentage must have a max value of 100', 'invalid destination host'",
    catalogue=(
        "vs-mirrorpct-old-max",
        "vs-mirrorpct-range",
        "vs-mirror-dest",
        "vs-mirrors-dest",
        "vs-mirrors-pct",
    ),
    istio="IST0106",
)
def mirroring(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for base, route in _http_routes(spec):
        for field in ("mirrorPercent", "mirror_percent"):
            value = as_int(route.get(field))
            if value is not None and value > 100:
                yield Finding((*base, field), f"{field} {value} is above the maximum of 100")
        yield from _mirror_pct(
            (*base, "mirrorPercentage", "value"), _map(route.get("mirrorPercentage")).get("value")
        )
        yield from _destination((*base, "mirror"), route.get("mirror"))
        for k, mirror in enumerate(_list(route.get("mirrors"))):
            path = (*base, "mirrors", k)
            if not isinstance(mirror, dict):
                continue
            yield from _destination((*path, "destination"), mirror.get("destination"))
            yield from _mirror_pct(
                (*path, "percentage", "value"), _map(mirror.get("percentage")).get("value")
            )


@_rule(
    "ML417",
    "deprecated-mirror-percent",
    Severity.WARNING,
    summary="`mirrorPercent` is deprecated: use `mirrorPercentage`.",
    rationale="""
        `mirrorPercent` (an integer) is deprecated in favour of `mirrorPercentage.value`, which
        also takes fractions. Istio admits it with a warning.
    """,
    bad=_vs(
        """
        hosts:
        - reviews
        http:
        - route:
          - destination:
              host: reviews
          mirror:
            host: reviews-shadow
          mirrorPercent: 10
        """
    ),
    good=_vs(
        """
        hosts:
        - reviews
        http:
        - route:
          - destination:
              host: reviews
          mirror:
            host: reviews-shadow
          mirrorPercentage:
            value: 10
        """
    ),
    source=f'{_WV} (validateHTTPRoute) — warning \'using deprecated setting "mirrorPercent", '
    'use "mirrorPercentage" instead\'',
    catalogue=("vs-mirrorpct-old",),
    istio="IST0133",
)
def deprecated_mirror_percent(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for base, route in _http_routes(spec):
        for field in ("mirrorPercent", "mirror_percent"):
            value = route.get(field)
            if value is not None:
                yield Finding(
                    (*base, field),
                    f"{field} is deprecated: write `mirrorPercentage: {{value: {value}}}`",
                    key=True,
                )


# --------------------------------------------------------------------------------------------
# 3.7 Redirect, direct response, rewrite


@_rule(
    "ML418",
    "http-redirect",
    Severity.ERROR,
    summary="An HTTP redirect is empty or has conflicting or invalid fields.",
    rationale="""
        A `redirect` must change something: `uri`, `prefixRewrite`, `authority`, `scheme` or
        the port. `uri` and `prefixRewrite` exclude each other, and `prefixRewrite` needs every
        uri match of the route to be a prefix match. `redirectCode` is a 3xx code, `scheme`
        is `http` or `https`, and `port` is 1-65535. Istio's webhook rejects the resource
        otherwise.
    """,
    bad=_vs(
        """
        hosts:
        - shop.example.com
        gateways:
        - istio-system/shop-gateway
        http:
        - redirect:
            scheme: HTTPS
            redirectCode: 200
        """
    ),
    good=_vs(
        """
        hosts:
        - shop.example.com
        gateways:
        - istio-system/shop-gateway
        http:
        - redirect:
            scheme: https
            redirectCode: 301
        """
    ),
    source=f"{_W} (validateHTTPRedirect) — 'redirect may only specify one of uri or "
    "prefix_rewrite', 'redirect must specify URI, authority, scheme, or port', 'is not a "
    'valid redirect code, must be 3xx\', \'invalid redirect scheme, must be "http" or "https"\'',
    catalogue=(
        "vs-redirect-uri-prefix",
        "vs-redirect-prefix-match",
        "vs-redirect-empty",
        "vs-redirect-code",
        "vs-redirect-scheme",
        "vs-redirect-port",
    ),
    istio="IST0106",
)
def http_redirect(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for base, route in _http_routes(spec):
        redirect = route.get("redirect")
        if not isinstance(redirect, dict):
            continue
        rbase = (*base, "redirect")

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
            for j, match in enumerate(_list(route.get("match"))):
                uri = _map(match).get("uri")
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


@_rule(
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
    bad=_vs(
        """
        hosts:
        - reviews
        http:
        - directResponse:
            status: 42
            body:
              string: unavailable
        """
    ),
    good=_vs(
        """
        hosts:
        - reviews
        http:
        - directResponse:
            status: 503
            body:
              string: unavailable
        """
    ),
    source=f"{_W} (validateHTTPDirectResponse, validateHTTPStatus) — 'HTTP status is not in "
    "range 200-599', 'large direct_responses may impact control plane performance, must be "
    "less than 1MB'",
    catalogue=("vs-direct-status-range", "vs-direct-body-huge", "vs-direct-body-large"),
    istio="IST0106",
)
def direct_response(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for base, route in _http_routes(spec):
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


@_rule(
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
    bad=_vs(
        """
        hosts:
        - reviews
        http:
        - rewrite:
            uriRegexRewrite:
              match: ^/service/([^/]+)(/.*)$
          route:
          - destination:
              host: reviews
        """
    ),
    good=_vs(
        """
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
        """
    ),
    source=f"{_W} (validateHTTPRewrite, validateURIRegexRewrite) — 'rewrite may only contain "
    "one of URI or UriRegexRewrite', 'rewrite must specify at least one of URI, "
    "UriRegexRewrite, or authority', 'UriRegexRewrite requires both Rewrite and Match fields'",
    catalogue=(
        "vs-rewrite-both",
        "vs-rewrite-empty",
        "vs-rewrite-regex-fields",
        "vs-rewrite-regex",
    ),
    istio="IST0106",
)
def http_rewrite(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for base, route in _http_routes(spec):
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


# --------------------------------------------------------------------------------------------
# 3.8 Retries, timeout

_RETRY_ON = frozenset(
    (
        "5xx",
        "gateway-error",
        "reset",
        "reset-before-request",
        "connect-failure",
        "retriable-4xx",
        "refused-stream",
        "retriable-status-codes",
        "retriable-headers",
        "envoy-ratelimited",
        "http3-post-connect-failure",
        "cancelled",
        "deadline-exceeded",
        "internal",
        "resource-exhausted",
        "unavailable",
    )
)

# The status codes Go's net/http names (http.StatusText is not empty).
_HTTP_STATUS = frozenset(
    (
        *range(100, 104),
        *range(200, 209),
        226,
        *range(300, 306),
        307,
        308,
        *range(400, 419),
        *range(421, 427),
        428,
        429,
        431,
        451,
        *range(500, 509),
        510,
        511,
    )
)


def _retry_on_ok(token: str) -> bool:
    if token in _RETRY_ON:
        return True
    # Go's strconv.Atoi: an optional sign, then ASCII digits.
    digits = token[1:] if token[:1] in "+-" else token
    return digits.isascii() and digits.isdigit() and int(token) in _HTTP_STATUS


@_rule(
    "ML421",
    "http-retries",
    Severity.ERROR,
    summary="A retry policy has negative attempts, settings with retries off, or invalid values.",
    rationale="""
        `retries.attempts` may not be negative; with `attempts` 0 or omitted (retries off)
        `perTryTimeout`, `retryOn` and `retryRemoteLocalities` may not be set. `perTryTimeout`
        and `backoff` are at least 1ms in whole milliseconds. `retryOn` is a comma-separated
        list, without spaces, of Envoy retry conditions (5xx, gateway-error, reset,
        connect-failure, retriable-4xx, refused-stream, retriable-status-codes, …, and the gRPC
        ones cancelled, deadline-exceeded, internal, resource-exhausted, unavailable) and HTTP
        status codes. Istio's webhook rejects the resource otherwise.
    """,
    bad=_vs(
        """
        hosts:
        - ratings
        http:
        - route:
          - destination:
              host: ratings
          retries:
            attempts: 3
            perTryTimeout: 2s
            retryOn: 5xx, connect-failure
        """
    ),
    good=_vs(
        """
        hosts:
        - ratings
        http:
        - route:
          - destination:
              host: ratings
          retries:
            attempts: 3
            perTryTimeout: 2s
            retryOn: 5xx,connect-failure
        """
    ),
    source="webhook: pkg/config/validation/agent/validation.go (ValidateHTTPRetry) — 'attempts "
    "cannot be negative', 'http retry policy configured when attempts are set to 0 "
    "(disabled)', 'is not a valid retryOn policy'",
    catalogue=(
        "vs-retry-attempts-neg",
        "vs-retry-disabled-extra",
        "vs-retry-pertry",
        "vs-retry-on-token",
        "vs-retry-backoff",
    ),
    istio="IST0106",
)
def http_retries(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for base, route in _http_routes(spec):
        retries = route.get("retries")
        if not isinstance(retries, dict):
            continue
        rbase = (*base, "retries")
        attempts = as_int(retries.get("attempts"))
        if attempts is not None and attempts < 0:
            yield Finding((*rbase, "attempts"), f"attempts {attempts} is negative: use 0 or more")
        if not attempts and (attempts is not None or "attempts" not in retries):
            for field in ("perTryTimeout", "retryOn", "retryRemoteLocalities"):
                value = retries.get(field)
                if value is None or value == "":
                    continue
                yield Finding(
                    (*rbase, field),
                    f"{field} is set but retries are off (attempts is "
                    f"{'0' if attempts == 0 else 'not set'}): set attempts to 1 or more, or "
                    f"remove {field}",
                    key=True,
                )
        for field in ("perTryTimeout", "backoff"):
            problem = _dur_problem(retries.get(field))
            if problem:
                yield Finding((*rbase, field), f"{field} {problem}")
        retry_on = retries.get("retryOn")
        if isinstance(retry_on, str) and retry_on:
            for token in retry_on.split(","):
                if _retry_on_ok(token):
                    continue
                stripped = token.strip()
                if stripped != token and _retry_on_ok(stripped):
                    message = (
                        f"retryOn {retry_on!r}: {token!r} has spaces around it, which Istio "
                        "does not strip: write the list without spaces"
                    )
                else:
                    message = (
                        f"retryOn {retry_on!r}: {token!r} is not a retry condition or an HTTP "
                        "status code: use e.g. 5xx, gateway-error, reset, connect-failure, "
                        "retriable-4xx, refused-stream, retriable-status-codes or 503"
                    )
                yield Finding((*rbase, "retryOn"), message)


@_rule(
    "ML422",
    "http-timeout",
    Severity.ERROR,
    summary="An HTTP route's `timeout` is below 1ms or not in whole milliseconds.",
    rationale="""
        `http[].timeout` must be at least 1ms, in whole milliseconds. `timeout: 0s`, often
        written to turn the timeout off, is rejected by Istio's webhook: routes have no
        timeout by default, so omit the field instead.
    """,
    bad=_vs(
        """
        hosts:
        - ratings
        http:
        - route:
          - destination:
              host: ratings
          timeout: 0s
        """
    ),
    good=_vs(
        """
        hosts:
        - ratings
        http:
        - route:
          - destination:
              host: ratings
          timeout: 10s
        """
    ),
    source=f"{_WV} (validateHTTPRoute), pkg/config/validation/agent/validation.go "
    "(ValidateDuration) — 'duration must be greater than 1ms'",
    catalogue=("vs-timeout",),
    istio="IST0106",
)
def http_timeout(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for base, route in _http_routes(spec):
        problem = _dur_problem(route.get("timeout"))
        if problem:
            hint = ""
            if duration_ns(route.get("timeout")) == 0:
                hint = "; routes have no timeout unless one is set, so omit the field"
            yield Finding((*base, "timeout"), f"timeout {problem}{hint}")


# --------------------------------------------------------------------------------------------
# 3.9 Destinations and weights


def _route_destinations(base: FieldPath, routes: Any) -> Iterator[Finding]:
    entries = [(k, e) for k, e in enumerate(_list(routes)) if isinstance(e, dict)]
    total = 0
    for k, entry in entries:
        path = (*base, k)
        yield from _destination((*path, "destination"), entry.get("destination"))
        weight = as_int(entry.get("weight"))
        if weight is not None:
            if weight < 0:
                yield Finding((*path, "weight"), f"weight {weight} is negative: use 0 or more")
            total += weight
    if len(entries) > 1 and total == 0:
        yield Finding(
            base,
            "the weights of the destinations add up to 0: give them weights (relative shares, "
            "usually adding up to 100)",
            key=True,
        )


@_rule(
    "ML423",
    "route-destinations",
    Severity.ERROR,
    summary="A route destination is null or invalid, or the weights are negative or all 0.",
    rationale="""
        Each destination of `http[].route`, `tcp[].route` and `tls[].route` names a service:
        a host (not `*`; a leading wildcard is allowed), an optional subset that is a DNS
        label and an optional port 1-65535. Weights may not be negative, and when a route
        has several destinations their weights may not all be 0. Istio's webhook rejects the
        resource otherwise.
    """,
    bad=_vs(
        """
        hosts:
        - reviews
        http:
        - route:
          - destination:
              host: reviews
              subset: v1
            weight: 0
          - destination:
              host: reviews
              subset: v2
        """
    ),
    good=_vs(
        """
        hosts:
        - reviews
        http:
        - route:
          - destination:
              host: reviews
              subset: v1
            weight: 90
          - destination:
              host: reviews
              subset: v2
            weight: 10
        """
    ),
    source=f"{_W} (validateHTTPRouteDestinations, validateRouteDestinations, "
    "validateDestination, validateWeight) — 'weight may not be nil', 'invalid destination "
    "host', 'subset name is invalid', 'total destination weight = 0'",
    catalogue=(
        "vs-dest-host-star",
        "vs-dest-host-syntax",
        "vs-dest-subset",
        "vs-dest-port",
        "vs-weight-neg",
        "vs-weight-total-zero",
        "vs-tls-route-dest",
        "vs-tcp-route-dest",
    ),
    istio="IST0106",
)
def route_destinations(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for section in ("http", "tcp", "tls"):
        for i, route in enumerate(_list(spec.get(section))):
            if isinstance(route, dict) and "route" in route:
                yield from _route_destinations(("spec", section, i, "route"), route.get("route"))


# --------------------------------------------------------------------------------------------
# 3.10 TLS and TCP routes


def _l4_match(base: FieldPath, match: Mapping[str, Any]) -> Iterator[Finding]:
    for k, subnet in enumerate(_list(match.get("destinationSubnets"))):
        problem = check_cidr(subnet)
        if problem:
            yield Finding((*base, "destinationSubnets", k), problem)
    yield from _match_port(base, match)
    yield from _labels((*base, "sourceLabels"), match.get("sourceLabels"))


def _routes_required(base: FieldPath, route: Mapping[str, Any], what: str) -> Iterator[Finding]:
    if _empty(route.get("route")):
        yield Finding(
            (*base, "route") if "route" in route else base,
            f"the {what} route has no destinations: give at least one under route",
            key=True,
        )


@_rule(
    "ML424",
    "tls-routes",
    Severity.ERROR,
    summary="A TLS route has no match, no SNI host, no destination, or an invalid match.",
    rationale="""
        Each `tls[]` route needs at least one match, each match at least one `sniHosts`
        entry, and the route at least one destination. SNI hosts are DNS names (a leading
        wildcard allowed; on gateways also `outbound_.<port>_._.<host>`) that must be equal to
        or within one of the VirtualService's `hosts`. `destinationSubnets` are IPs or CIDR
        blocks, `port` is 1-65535 and `sourceLabels` are valid labels. Istio's webhook rejects
        the resource otherwise.
    """,
    bad=_vs(
        """
        hosts:
        - "*.example.com"
        gateways:
        - istio-system/passthrough
        tls:
        - match:
          - sniHosts:
            - login.example.org
          route:
          - destination:
              host: login
        """
    ),
    good=_vs(
        """
        hosts:
        - "*.example.com"
        gateways:
        - istio-system/passthrough
        tls:
        - match:
          - sniHosts:
            - login.example.com
          route:
          - destination:
              host: login
        """
    ),
    source=f"{_W} (validateTLSRoute, validateTLSMatch, validateSniHost) — 'TLS route must have "
    "at least one match condition', 'TLS match must have at least one SNI host', 'SNI host is "
    "not a compatible subset of any of the virtual service hosts', 'TLS route is required'",
    catalogue=(
        "vs-tls-match-none",
        "vs-tls-sni-none",
        "vs-tls-sni-syntax",
        "vs-tls-sni-outside",
        "vs-tls-subnet",
        "vs-tls-port",
        "vs-tls-srclabels",
        "vs-tls-route-none",
    ),
    istio="IST0106",
)
def tls_routes(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    on_gateway = _applies_to_gateway(spec)
    hosts = _str_list(spec.get("hosts"))
    for i, route in enumerate(_list(spec.get("tls"))):
        if not isinstance(route, dict):
            continue
        base: FieldPath = ("spec", "tls", i)
        matches = route.get("match")
        if isinstance(matches, list) and not matches:
            yield Finding(
                (*base, "match"),
                "the TLS route has no match: give at least one match with sniHosts",
                key=True,
            )
        for j, match in enumerate(_list(matches)):
            mbase = (*base, "match", j)
            if not isinstance(match, dict):
                continue
            sni = match.get("sniHosts")
            if isinstance(sni, list) and not sni:
                yield Finding(
                    (*mbase, "sniHosts"),
                    "the TLS match has no SNI host: give at least one under sniHosts",
                    key=True,
                )
            for k, name in enumerate(_list(sni)):
                if not isinstance(name, str):
                    continue
                if on_gateway:
                    problem = check_gateway_vs_host(name, sni=True)
                else:
                    problem = check_wildcard_host(name)
                if problem:
                    if not is_ip(name):
                        yield Finding((*mbase, "sniHosts", k), problem)
                    continue
                if not any(host_subset_of(name, h) for h in hosts):
                    yield Finding(
                        (*mbase, "sniHosts", k),
                        f"SNI host {name!r} is not one of the VirtualService's hosts nor within "
                        f"one of them ({', '.join(hosts) or 'none'}): add it to hosts",
                    )
            yield from _l4_match(mbase, match)
        yield from _routes_required(base, route, "TLS")


@_rule(
    "ML425",
    "tls-sni-ip-address",
    Severity.WARNING,
    summary="A TLS route matches an IP address as SNI host, which most clients never send.",
    rationale="""
        The SNI extension carries host names, not IP addresses: most TLS clients send no SNI
        when they connect to an IP, so a match on an IP SNI host rarely applies. Istio admits
        it with a warning. Match on `destinationSubnets` instead.
    """,
    bad=_vs(
        """
        hosts:
        - "*"
        gateways:
        - istio-system/passthrough
        tls:
        - match:
          - sniHosts:
            - 10.0.0.5
          route:
          - destination:
              host: login
        """
    ),
    good=_vs(
        """
        hosts:
        - "*"
        gateways:
        - istio-system/passthrough
        tls:
        - match:
          - sniHosts:
            - "*"
            destinationSubnets:
            - 10.0.0.5
          route:
          - destination:
              host: login
        """
    ),
    source=f"{_W} (validateSniHost) — warning 'using an IP address goes against SNI spec and "
    "most clients do not support this'",
    catalogue=("vs-tls-sni-ip",),
    istio="IST0133",
)
def tls_sni_ip(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    on_gateway = _applies_to_gateway(spec)
    for i, route in enumerate(_list(spec.get("tls"))):
        for j, match in enumerate(_list(_map(route).get("match"))):
            for k, name in enumerate(_list(_map(match).get("sniHosts"))):
                if not isinstance(name, str) or not is_ip(name):
                    continue
                problem = (
                    check_gateway_vs_host(name, sni=True)
                    if on_gateway
                    else check_wildcard_host(name)
                )
                if problem:
                    yield Finding(
                        ("spec", "tls", i, "match", j, "sniHosts", k),
                        f"SNI host {name!r} is an IP address: most TLS clients send no SNI to "
                        "an IP; match on destinationSubnets instead",
                    )


@_rule(
    "ML426",
    "tcp-routes",
    Severity.ERROR,
    summary="A TCP route has no destination or an invalid match.",
    rationale="""
        Each `tcp[]` route needs at least one destination. In its matches,
        `destinationSubnets` are IPs or CIDR blocks, `port` is 1-65535 and `sourceLabels`
        are valid labels. Istio's webhook rejects the resource otherwise.
    """,
    bad=_vs(
        """
        hosts:
        - mongo.shop.svc.cluster.local
        tcp:
        - match:
          - port: 27017
            destinationSubnets:
            - 10.0.0.0/33
          route:
          - destination:
              host: mongo.shop.svc.cluster.local
        """
    ),
    good=_vs(
        """
        hosts:
        - mongo.shop.svc.cluster.local
        tcp:
        - match:
          - port: 27017
            destinationSubnets:
            - 10.0.0.0/16
          route:
          - destination:
              host: mongo.shop.svc.cluster.local
        """
    ),
    source=f"{_W} (validateTCPRoute, validateTCPMatch) — 'tcp match may not be nil', 'TCP "
    "route is required'",
    catalogue=(
        "vs-tcp-subnet",
        "vs-tcp-port",
        "vs-tcp-srclabels",
        "vs-tcp-route-none",
    ),
    istio="IST0106",
)
def tcp_routes(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for i, route in enumerate(_list(spec.get("tcp"))):
        if not isinstance(route, dict):
            continue
        base: FieldPath = ("spec", "tcp", i)
        for j, match in enumerate(_list(route.get("match"))):
            mbase = (*base, "match", j)
            if isinstance(match, dict):
                yield from _l4_match(mbase, match)
        yield from _routes_required(base, route, "TCP")


# --------------------------------------------------------------------------------------------
# Best practice: retries, timeouts, catch-all matches and weights (ML427-ML431). Istio accepts
# all of these; each is a configuration that does not do what it appears to do.

_PRACTICE = "meshlint best practice"


def _retry_policy(route: Mapping[str, Any]) -> tuple[int, dict[str, Any]] | None:
    """``(attempts, retries)`` when the route's `retries` turn retries on (attempts >= 1, as
    Istio's ``retry.ConvertPolicy`` reads them: 0, negative or absent turns them off)."""
    retries = route.get("retries")
    if not isinstance(retries, dict):
        return None
    attempts = as_int(retries.get("attempts"))
    if attempts is None or attempts < 1:
        return None
    return attempts, retries


def _valid_ms(value: Any) -> int | None:
    """A duration Istio accepts (at least 1ms, whole ms), in milliseconds; None otherwise
    (ML421/ML422 report the rest)."""
    ns = duration_ns(value)
    if ns is None or check_duration(value) is not None:
        return None
    return ns // 1_000_000


def _fmt_duration(ms: int) -> str:
    if ms % 1000 == 0:
        return f"{ms // 1000}s"
    if ms > 1000:
        return f"{ms / 1000:g}s"
    return f"{ms}ms"


@_rule(
    "ML427",
    "retries-exceed-route-timeout",
    Severity.WARNING,
    summary="The retries of a route cannot all run within its `timeout`.",
    rationale="""
        The route `timeout` bounds the whole request, every retry included; `perTryTimeout`
        bounds each try. Envoy makes up to `attempts` + 1 tries (the first one and `attempts`
        retries); when every try before it timed out, retry k starts k × `perTryTimeout`
        (plus backoff) after the request. So:

        - when `perTryTimeout` is not shorter than `timeout`, the route timeout ends a try
          that hangs before its own per-try timeout fires: such a try is never retried and
          `perTryTimeout` has no effect;
        - when `attempts` × `perTryTimeout` reaches `timeout`, the last retries can never
          start when the tries before them time out: the request fails with 504 at the route
          timeout while the retry policy promises more tries. (Backoff between tries, 25ms
          and growing by default, makes it worse.)

        Give each try `timeout` / (`attempts` + 1) at most, or raise `timeout`. Only what is
        written on the route is judged: a route without `timeout` has none (Istio turns off
        Envoy's default), and a delegate's route may inherit the root's, which is not
        checked here.
    """,
    bad=_vs(
        """
        hosts:
        - ratings
        http:
        - route:
          - destination:
              host: ratings
          timeout: 5s
          retries:
            attempts: 3
            perTryTimeout: 2s
            retryOn: connect-failure,refused-stream,gateway-error
        """
    ),
    good=_vs(
        """
        hosts:
        - ratings
        http:
        - route:
          - destination:
              host: ratings
          timeout: 8s
          retries:
            attempts: 3
            perTryTimeout: 2s
            retryOn: connect-failure,refused-stream,gateway-error
        """
    ),
    source=f"{_PRACTICE}: istio/api networking/v1alpha3/virtual_service.proto (HTTPRetry: "
    "attempts and perTryTimeout are bounded by the route timeout); istio/istio "
    "pilot/pkg/networking/core/route/retry/retry.go (ConvertPolicy: attempts -> num_retries, "
    "perTryTimeout -> per_try_timeout)",
    catalogue=("vs-retry-pertry-ge-timeout", "vs-retry-budget-exceeds"),
)
def retries_exceed_timeout(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for base, route in _http_routes(spec):
        policy = _retry_policy(route)
        timeout = _valid_ms(route.get("timeout"))
        if policy is None or timeout is None:
            continue
        attempts, retries = policy
        per_try = _valid_ms(retries.get("perTryTimeout"))
        if per_try is None:
            continue
        t, p = _fmt_duration(timeout), _fmt_duration(per_try)
        where = (*base, "retries", "perTryTimeout")
        if per_try >= timeout:
            yield Finding(
                where,
                f"perTryTimeout {p} is not shorter than the route timeout {t}: a try that "
                "hangs is ended by the route timeout and never retried; set perTryTimeout to "
                f"at most {_fmt_duration(max(1, timeout // (attempts + 1)))} "
                f"(timeout / (attempts + 1))",
            )
        elif attempts * per_try >= timeout:
            started = min(attempts, -(-timeout // per_try) - 1)
            yield Finding(
                where,
                f"attempts {attempts} × perTryTimeout {p} reaches the route timeout {t}: when "
                f"tries time out only {started} of the {attempts} retries can start before the "
                f"timeout ends the request; set perTryTimeout to at most "
                f"{_fmt_duration(max(1, timeout // (attempts + 1)))} or raise timeout to "
                f"{_fmt_duration(per_try * (attempts + 1))}",
            )


# Envoy retry conditions under which a try that runs into its per-try timeout is retried
# (Envoy reports the timed-out try as a 504 / an upstream that did not respond).
_RETRY_ON_TIMEOUT = ("5xx", "gateway-error", "reset")


def _retry_tokens(value: Any) -> list[str]:
    return [t for t in value.split(",") if t] if isinstance(value, str) else []


@_rule(
    "ML428",
    "retries-without-per-try-timeout",
    Severity.INFO,
    summary="A route retries timed-out tries but sets no `perTryTimeout`, so a slow try is "
    "never retried.",
    rationale="""
        Without `perTryTimeout` each try may last as long as the route `timeout` allows. A
        try that hangs then uses up the whole timeout: the request fails with 504 and the
        `5xx`, `gateway-error` or `reset` condition of `retryOn`, which would retry it, never
        gets the chance. Retries still happen for tries that fail fast (a refused connection,
        a 503 answer), which is why this is only information. Set `perTryTimeout` to the
        time a healthy answer takes, at most `timeout` / (`attempts` + 1), to retry slow
        tries on another endpoint as well.

        Only routes with a `timeout`, retries turned on (`attempts` of 1 or more) and a
        `retryOn` that retries timed-out tries are reported: with Istio's default `retryOn`
        (connect-failure, refused-stream, unavailable, cancelled, retriable-status-codes) a
        timed-out try is not retried either way.
    """,
    bad=_vs(
        """
        hosts:
        - ratings
        http:
        - route:
          - destination:
              host: ratings
          timeout: 6s
          retries:
            attempts: 2
            retryOn: gateway-error,connect-failure
        """
    ),
    good=_vs(
        """
        hosts:
        - ratings
        http:
        - route:
          - destination:
              host: ratings
          timeout: 6s
          retries:
            attempts: 2
            perTryTimeout: 2s
            retryOn: gateway-error,connect-failure
        """
    ),
    source=f"{_PRACTICE}: istio/api networking/v1alpha3/virtual_service.proto (HTTPRetry."
    "perTryTimeout: defaults to the route timeout); Envoy RetryPolicy.per_try_timeout "
    "(unset: the route timeout is used, so a request that times out is not retried)",
    catalogue=(),
)
def retries_without_per_try_timeout(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for base, route in _http_routes(spec):
        policy = _retry_policy(route)
        timeout = _valid_ms(route.get("timeout"))
        if policy is None or timeout is None:
            continue
        attempts, retries = policy
        if retries.get("perTryTimeout") is not None:
            continue
        on_timeout = [t for t in _retry_tokens(retries.get("retryOn")) if t in _RETRY_ON_TIMEOUT]
        if not on_timeout:
            continue
        t = _fmt_duration(timeout)
        yield Finding(
            (*base, "retries"),
            f"retries has no perTryTimeout: each try may use the whole route timeout {t}, so "
            f"a try that hangs is never retried although retryOn has {on_timeout[0]}; set "
            f"perTryTimeout to at most {_fmt_duration(max(1, timeout // (attempts + 1)))}",
            key=True,
        )


# Retry conditions that fire after the request may have reached the application (an answer
# it sent, a connection that broke while it worked). connect-failure, refused-stream,
# reset-before-request and envoy-ratelimited fire only when it never saw the request; the gRPC
# statuses are left out, since every gRPC call is a POST and its idempotency is per method.
_RETRY_ON_UNSAFE = frozenset(
    (
        "5xx",
        "gateway-error",
        "reset",
        "retriable-4xx",
        "retriable-status-codes",
        "retriable-headers",
        "http3-post-connect-failure",
    )
)
_IDEMPOTENT = frozenset(("GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"))
_METHOD_ALTERNATION = re.compile(r"^\^?\(?([A-Z]+(?:\|[A-Z]+)*)\)?\$?$")


def _methods(match: Any) -> set[str] | None:
    """The methods an HTTP match is limited to (exact, or a regex such as `GET|HEAD`), or
    None when it takes any method."""
    method = _map(match).get("method")
    if not isinstance(method, dict):
        return None
    exact = method.get("exact")
    if isinstance(exact, str) and exact:
        return {exact}
    regex = method.get("regex")
    if isinstance(regex, str):
        m = _METHOD_ALTERNATION.match(regex)
        if m:
            return set(m.group(1).split("|"))
    return None


@_rule(
    "ML429",
    "retry-non-idempotent",
    Severity.WARNING,
    summary="A route retries requests that may already have been processed, and takes "
    "non-idempotent methods.",
    rationale="""
        Most of Envoy's retry conditions fire after the request reached the application:
        `5xx`, `gateway-error`, `retriable-status-codes` and status codes on an answer it
        sent, `reset` when the connection broke while it was working, `retriable-4xx` and
        `retriable-headers` on what it returned. Retrying then repeats the request: a POST
        that created an order, charged a card or sent a mail may be executed twice. Only
        `connect-failure`, `refused-stream`, `reset-before-request` and `envoy-ratelimited`
        retry a request the application never saw. The gRPC conditions (`unavailable`,
        `cancelled`, …) are not judged: every gRPC call is a POST, and whether it may be
        repeated depends on the method, not on the HTTP verb.

        It is a warning when the route only matches POST or PATCH requests; information when
        the route takes any method (it then retries every POST it carries, which may be
        fine for an API whose writes are idempotent). Routes whose every match is limited to
        GET, HEAD, OPTIONS, PUT, DELETE or TRACE are not reported. Limit the unsafe
        conditions to a route for the idempotent methods, or retry the others only on
        `connect-failure,refused-stream,reset-before-request`.
    """,
    bad=_vs(
        """
        hosts:
        - orders
        http:
        - match:
          - method:
              exact: POST
            uri:
              prefix: /orders
          route:
          - destination:
              host: orders
          retries:
            attempts: 2
            perTryTimeout: 2s
            retryOn: 5xx,connect-failure
        - route:
          - destination:
              host: orders
        """,
        name="orders",
    ),
    good=_vs(
        """
        hosts:
        - orders
        http:
        - match:
          - method:
              exact: POST
            uri:
              prefix: /orders
          route:
          - destination:
              host: orders
          retries:
            attempts: 2
            retryOn: connect-failure,refused-stream,reset-before-request
        - match:
          - method:
              exact: GET
          route:
          - destination:
              host: orders
          retries:
            attempts: 2
            perTryTimeout: 2s
            retryOn: 5xx,connect-failure
        - route:
          - destination:
              host: orders
        """,
        name="orders",
    ),
    source=f"{_PRACTICE}: Envoy router retry conditions (x-envoy-retry-on: which fire after "
    "the upstream received the request); RFC 9110 section 9.2.2 (idempotent methods)",
    catalogue=("vs-retry-nonidempotent",),
)
def retry_non_idempotent(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for base, route in _http_routes(spec):
        policy = _retry_policy(route)
        if policy is None:
            continue
        retry_on = policy[1].get("retryOn")
        unsafe = [
            t
            for t in _retry_tokens(retry_on)
            if t in _RETRY_ON_UNSAFE or (t not in _RETRY_ON and _retry_on_ok(t))
        ]
        if not unsafe:
            continue
        matches = _list(route.get("match"))
        limits = [_methods(m) for m in matches] if matches else [None]
        if all(m is not None and m <= _IDEMPOTENT for m in limits):
            continue
        conditions = ", ".join(unsafe)
        where = (*base, "retries", "retryOn")
        if all(m is not None and not (m & _IDEMPOTENT) for m in limits):
            methods = ", ".join(sorted(set().union(*(m for m in limits if m is not None))))
            yield Finding(
                where,
                f"retryOn {conditions} retries {methods} requests the application may already "
                "have processed: they may be executed twice; retry them only on "
                "connect-failure,refused-stream,reset-before-request",
            )
        else:
            yield Finding(
                where,
                f"retryOn {conditions} retries requests the application may already have "
                "processed, and this route takes any method: a POST may be executed twice; "
                "limit these conditions to a route matching idempotent methods (GET, HEAD, "
                "OPTIONS, PUT, DELETE)",
                severity=Severity.INFO,
            )


def _catch_all_match(match: Any) -> str | None:
    """How an HTTP match takes every request (`uri` prefix `/` or empty, or regex `.*`,
    nothing else but a name), or None when it does not."""
    if not isinstance(match, dict):
        return None
    keys = {k for k, v in match.items() if v is not None} - {"name", "ignoreUriCase"}
    if keys != {"uri"}:
        return None
    uri = match.get("uri")
    if not isinstance(uri, dict) or len(uri) != 1:
        return None
    ((kind, value),) = uri.items()
    if kind == "prefix" and value in ("/", ""):
        return f"uri prefix {value!r}"
    if kind == "regex" and value in (".*", "^.*$", "/.*", "^/.*", "^/.*$", ".+", "/.+"):
        return f"uri regex {value!r}"
    return None


@_rule(
    "ML430",
    "catch-all-match-not-last",
    Severity.WARNING,
    summary="A route rule whose match takes every request comes before other rules.",
    rationale="""
        Rules are tried in order. A match on nothing but `uri: {prefix: /}` (or an empty
        prefix, or a regex such as `.*`) takes every request, just like a rule without
        `match`: every rule after it is never used, whatever its headers, methods or paths.
        Istio's unreachable-rule analysis (IST0130, ML408) only treats a rule without
        `match` as a catch-all, and its prefix analysis (ML409) only compares prefix
        matches with the same other conditions, so this is not reported there. Move the
        catch-all rule to the end.
    """,
    bad=_vs(
        """
        hosts:
        - reviews
        http:
        - match:
          - uri:
              prefix: /
          route:
          - destination:
              host: reviews
              subset: v1
        - match:
          - headers:
              end-user:
                exact: jason
          route:
          - destination:
              host: reviews
              subset: v2
        """
    ),
    good=_vs(
        """
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
        - match:
          - uri:
              prefix: /
          route:
          - destination:
              host: reviews
              subset: v1
        """
    ),
    source=f"{_PRACTICE}: extends {_W} (analyzeUnreachableHTTPRules), which only counts a "
    "rule without match as a catch-all",
    catalogue=("vs-catchall-not-last",),
)
def catch_all_match_not_last(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    # What ML409 already reports: ineffective matches, by path.
    ineffective = {path for unreachable, path, _ in _reachability(spec) if not unreachable}
    found: tuple[int, int, str] | None = None  # (rule, match, how) of the first catch-all
    for i, route in enumerate(_list(spec.get("http"))):
        if not isinstance(route, dict):
            continue
        matches = _list(route.get("match"))
        if found is None:
            if not matches:
                return  # a rule without match: from here on ML408's business
            for j, match in enumerate(matches):
                how = _catch_all_match(match)
                if how is not None:
                    found = (i, j, how)
                    break
            continue
        base: FieldPath = ("spec", "http", i)
        if matches and all(
            ((*base, "match", j, "uri", "prefix") in ineffective) for j in range(len(matches))
        ):
            continue  # every match already reported by ML409
        rule_i, match_j, how = found
        yield Finding(
            (*base, "match") if matches else base,
            f"http rule {_rule_name(route, i)} is never used: match #{match_j} of rule "
            f"#{rule_i} before it ({how}) takes every request; move that rule to the end",
            key=bool(matches),
        )
        if not matches:
            return  # the rules after a rule without match are ML408's


@_rule(
    "ML431",
    "zero-weight-destination",
    Severity.INFO,
    summary="A destination of a weighted route has weight 0 and receives no traffic.",
    rationale="""
        Weights are relative shares of the route's traffic. A destination with `weight: 0`
        next to others gets none: Istio drops it from the route altogether, with its
        header operations. That is how a canary is staged before traffic is shifted, but it
        also happens by mistake (a weight left at 0 after a rollout, a shift applied to the
        wrong destination). Remove the destination when it is not meant to be staged. (When
        every weight is 0 Istio rejects the route: ML423.)
    """,
    bad=_vs(
        """
        hosts:
        - reviews
        http:
        - route:
          - destination:
              host: reviews
              subset: v1
            weight: 100
          - destination:
              host: reviews
              subset: v2
            weight: 0
        """
    ),
    good=_vs(
        """
        hosts:
        - reviews
        http:
        - route:
          - destination:
              host: reviews
              subset: v1
            weight: 90
          - destination:
              host: reviews
              subset: v2
            weight: 10
        """
    ),
    source=f"{_PRACTICE}: istio/istio pilot/pkg/networking/core/route/route.go (destinations "
    "with weight 0 are left out of the weighted clusters)",
    catalogue=("vs-weight-zero-member",),
)
def zero_weight_destination(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for section in ("http", "tcp", "tls"):
        for i, route in enumerate(_list(spec.get(section))):
            entries = [(k, e) for k, e in enumerate(_list(_map(route).get("route")))]
            entries = [(k, e) for k, e in entries if isinstance(e, dict)]
            if len(entries) < 2:
                continue
            weights = [as_int(e.get("weight")) for _, e in entries]
            if any(
                w is None and e.get("weight") is not None
                for w, (_, e) in zip(weights, entries, strict=True)
            ):
                continue  # a weight of the wrong type: the schema stage's
            if sum(w for w in weights if w is not None and w > 0) <= 0:
                continue  # all 0: ML423
            for (k, entry), weight in zip(entries, weights, strict=True):
                if weight not in (0, None):
                    continue
                dest = _map(entry.get("destination"))
                host, subset = dest.get("host"), dest.get("subset")
                what = host if isinstance(host, str) and host else "this destination"
                if isinstance(subset, str) and subset:
                    what += f" subset {subset}"
                base: FieldPath = ("spec", section, i, "route", k)
                if weight == 0:
                    yield Finding(
                        (*base, "weight"),
                        f"weight 0: {what} receives no traffic of this route (Istio drops "
                        "it); remove it unless a rollout is staged",
                    )
                else:
                    yield Finding(
                        base,
                        f"{what} has no weight, which is 0 next to weighted destinations: it "
                        "receives no traffic of this route; give it a weight",
                        severity=Severity.WARNING,
                    )
