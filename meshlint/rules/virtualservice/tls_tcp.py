"""TLS and TCP routes (rules catalogue section 3.10)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from meshlint.diagnostics import FieldPath, Severity
from meshlint.resource import Resource
from meshlint.rules import Finding, rule
from meshlint.rules.lib.grammar import (
    check_cidr,
    check_gateway_vs_host,
    check_wildcard_host,
    host_subset_of,
    is_ip,
)
from meshlint.rules.lib.guards import as_list, str_list
from meshlint.rules.lib.virtualservice import (
    WEBHOOK,
    applies_to_gateway,
    is_empty,
    match_port,
    source_labels,
)


def _l4_match(base: FieldPath, match: Mapping[str, Any]) -> Iterator[Finding]:
    for k, subnet in enumerate(as_list(match.get("destinationSubnets"))):
        problem = check_cidr(subnet)
        if problem:
            yield Finding((*base, "destinationSubnets", k), problem)
    yield from match_port(base, match)
    yield from source_labels((*base, "sourceLabels"), match.get("sourceLabels"))


def _routes_required(base: FieldPath, route: Mapping[str, Any], what: str) -> Iterator[Finding]:
    if is_empty(route.get("route")):
        yield Finding(
            (*base, "route") if "route" in route else base,
            f"the {what} route has no destinations: give at least one under route",
            key=True,
        )


def _tls_matches(
    spec: Mapping[str, Any],
) -> Iterator[tuple[FieldPath, dict[str, Any]]]:
    for i, route in enumerate(as_list(spec.get("tls"))):
        if not isinstance(route, dict):
            continue
        for j, match in enumerate(as_list(route.get("match"))):
            if isinstance(match, dict):
                yield ("spec", "tls", i, "match", j), match


def _sni_hosts(spec: Mapping[str, Any]) -> Iterator[tuple[FieldPath, str, str | None]]:
    """``(path, SNI host, its syntax problem or None)`` of every SNI host of the TLS routes:
    a DNS name with an optional leading wildcard, and on gateways also Envoy's generated
    ``outbound_.<port>_._.<host>`` names."""
    on_gateway = applies_to_gateway(spec)
    for mbase, match in _tls_matches(spec):
        for k, name in enumerate(as_list(match.get("sniHosts"))):
            if not isinstance(name, str):
                continue
            if on_gateway:
                problem = check_gateway_vs_host(name, sni=True)
            else:
                problem = check_wildcard_host(name)
            yield (*mbase, "sniHosts", k), name, problem


@rule(
    "ML424",
    "tls-routes",
    Severity.ERROR,
    summary="A TLS route has no match, a match without SNI host, or no destination.",
    rationale="""
        A `tls[]` route selects connections by the SNI host the client sends: it needs at
        least one match, each match at least one `sniHosts` entry, and the route at least one
        destination. Istio's webhook rejects the resource otherwise.

        In 0.2 invalid SNI hosts (ML448), SNI hosts outside the VirtualService's hosts
        (ML449) and an invalid `destinationSubnets`, `port` or `sourceLabels` (ML450) became
        rules of their own; the code ML424 still selects, ignores and suppresses them.
    """,
    bad="""
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata:
          name: login
          namespace: shop
        spec:
          hosts:
          - "*.example.com"
          gateways:
          - istio-system/passthrough
          tls:
          - match:
            - sniHosts: []  # expect: ML424@7 spec.tls[0].match[0].sniHosts
            route:
            - destination:
                host: login
    """,
    good="""
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata:
          name: login
          namespace: shop
        spec:
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
    """,
    kinds={"VirtualService"},
    source=f"{WEBHOOK} (validateTLSRoute, validateTLSMatch) — 'TLS route must have at least "
    "one match condition', 'TLS match must have at least one SNI host', 'TLS route is "
    "required'",
    catalogue=("vs-tls-match-none", "vs-tls-sni-none", "vs-tls-route-none"),
    istio="IST0106",
    needs=("tls",),
)
def tls_routes(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for i, route in enumerate(as_list(spec.get("tls"))):
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
        for j, match in enumerate(as_list(matches)):
            if not isinstance(match, dict):
                continue
            sni = match.get("sniHosts")
            if isinstance(sni, list) and not sni:
                yield Finding(
                    (*base, "match", j, "sniHosts"),
                    "the TLS match has no SNI host: give at least one under sniHosts",
                    key=True,
                )
        yield from _routes_required(base, route, "TLS")


@rule(
    "ML448",
    "invalid-sni-host",
    Severity.ERROR,
    summary="An SNI host of a TLS route is not a valid host name.",
    rationale="""
        The `sniHosts` of a TLS route's matches are DNS names, with `*` allowed only as the
        whole first label or at its start (`*.example.com`). A VirtualService bound to
        gateways may also use Envoy's generated names `outbound_.<port>_._.<host>`. Istio's
        webhook rejects other names. (An IP address is admitted with a warning: ML425.)

        Before 0.2 this was part of ML424, whose code still selects, ignores and
        suppresses it.
    """,
    bad="""
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata:
          name: login
          namespace: shop
        spec:
          hosts:
          - "*.example.com"
          gateways:
          - istio-system/passthrough
          tls:
          - match:
            - sniHosts:
              - login_.example.com  # expect: ML448@9 spec.tls[0].match[0].sniHosts[0]
            route:
            - destination:
                host: login
    """,
    good="""
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata:
          name: login
          namespace: shop
        spec:
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
    """,
    kinds={"VirtualService"},
    source=f"{WEBHOOK} (validateTLSMatch, validateSniHost); pkg/config/validation/agent/"
    "validation.go (ValidateWildcardDomain, ValidateWildcardDomainForVirtualServiceBoundToGateway)",
    catalogue=("vs-tls-sni-syntax",),
    istio="IST0106",
    aliases=("ML424",),
    needs=("sniHosts",),
)
def invalid_sni_host(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for path, name, problem in _sni_hosts(spec):
        if problem and not is_ip(name):
            yield Finding(path, problem)


@rule(
    "ML449",
    "sni-host-outside-hosts",
    Severity.ERROR,
    summary="An SNI host of a TLS route is not one of the VirtualService's hosts nor within "
    "one of them.",
    rationale="""
        A TLS route only sees the connections for the VirtualService's `hosts`, so each SNI
        host it matches must be one of them, or within one (`login.example.com` within
        `*.example.com`). Istio's webhook rejects an SNI host outside them. Add the host to
        `hosts`, or correct the SNI host.

        Before 0.2 this was part of ML424, whose code still selects, ignores and
        suppresses it.
    """,
    bad="""
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata:
          name: login
          namespace: shop
        spec:
          hosts:
          - "*.example.com"
          gateways:
          - istio-system/passthrough
          tls:
          - match:
            - sniHosts:
              - login.example.org  # expect: ML449@9 spec.tls[0].match[0].sniHosts[0]
            route:
            - destination:
                host: login
    """,
    good="""
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata:
          name: login
          namespace: shop
        spec:
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
    """,
    kinds={"VirtualService"},
    source=f"{WEBHOOK} (validateSniHost) — 'SNI host is not a compatible subset of any of the "
    "virtual service hosts'",
    catalogue=("vs-tls-sni-outside",),
    istio="IST0106",
    aliases=("ML424",),
    needs=("sniHosts",),
)
def sni_host_outside_hosts(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    hosts = str_list(spec.get("hosts"))
    for path, name, problem in _sni_hosts(spec):
        if problem is None and not any(host_subset_of(name, h) for h in hosts):
            yield Finding(
                path,
                f"SNI host {name!r} is not one of the VirtualService's hosts nor within "
                f"one of them ({', '.join(hosts) or 'none'}): add it to hosts",
            )


@rule(
    "ML450",
    "invalid-tls-route-match",
    Severity.ERROR,
    summary="A TLS route match has an invalid `destinationSubnets`, `port` or `sourceLabels`.",
    rationale="""
        Besides SNI hosts, a TLS route match may select connections by `destinationSubnets`
        (IP addresses or CIDR blocks), `port` (1-65535) and `sourceLabels` (label keys and
        values as Kubernetes writes them). Istio's webhook rejects the resource otherwise.

        Before 0.2 this was part of ML424, whose code still selects, ignores and
        suppresses it.
    """,
    bad="""
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata:
          name: login
          namespace: shop
        spec:
          hosts:
          - "*.example.com"
          gateways:
          - istio-system/passthrough
          tls:
          - match:
            - sniHosts:
              - login.example.com
              destinationSubnets:
              - 10.0.0.0/33  # expect: ML450@9 spec.tls[0].match[0].destinationSubnets[0]
            route:
            - destination:
                host: login
    """,
    good="""
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata:
          name: login
          namespace: shop
        spec:
          hosts:
          - "*.example.com"
          gateways:
          - istio-system/passthrough
          tls:
          - match:
            - sniHosts:
              - login.example.com
              destinationSubnets:
              - 10.0.0.0/16
            route:
            - destination:
                host: login
    """,
    kinds={"VirtualService"},
    source=f"{WEBHOOK} (validateTLSMatch); pkg/config/validation/agent/validation.go "
    "(ValidateIPSubnet, ValidatePort); pkg/config/labels (Instance.Validate)",
    catalogue=("vs-tls-subnet", "vs-tls-port", "vs-tls-srclabels"),
    istio="IST0106",
    aliases=("ML424",),
    needs=("tls",),
)
def invalid_tls_route_match(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for mbase, match in _tls_matches(spec):
        yield from _l4_match(mbase, match)


@rule(
    "ML425",
    "tls-sni-ip-address",
    Severity.WARNING,
    summary="A TLS route matches an IP address as SNI host, which most clients never send.",
    rationale="""
        The SNI extension carries host names, not IP addresses: most TLS clients send no SNI
        when they connect to an IP, so a match on an IP SNI host rarely applies. Istio admits
        it with a warning. Match on `destinationSubnets` instead.
    """,
    bad="""
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata:
          name: reviews
          namespace: shop
        spec:
          hosts:
          - "*"
          gateways:
          - istio-system/passthrough
          tls:
          - match:
            - sniHosts:
              - 10.0.0.5  # expect: ML425@9 spec.tls[0].match[0].sniHosts[0]
            route:
            - destination:
                host: login
    """,
    good="""
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata:
          name: reviews
          namespace: shop
        spec:
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
    """,
    kinds={"VirtualService"},
    source=f"{WEBHOOK} (validateSniHost) — warning 'using an IP address goes against SNI spec and "
    "most clients do not support this'",
    catalogue=("vs-tls-sni-ip",),
    istio="IST0133",
    needs=("sniHosts",),
)
def tls_sni_ip_address(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for path, name, problem in _sni_hosts(spec):
        if problem and is_ip(name):
            yield Finding(
                path,
                f"SNI host {name!r} is an IP address: most TLS clients send no SNI to "
                "an IP; match on destinationSubnets instead",
            )


@rule(
    "ML426",
    "tcp-routes",
    Severity.ERROR,
    summary="A TCP route has no destination or an invalid match.",
    rationale="""
        Each `tcp[]` route needs at least one destination. In its matches,
        `destinationSubnets` are IPs or CIDR blocks, `port` is 1-65535 and `sourceLabels`
        are valid labels. Istio's webhook rejects the resource otherwise.
    """,
    bad="""
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata:
          name: reviews
          namespace: shop
        spec:
          hosts:
          - mongo.shop.svc.cluster.local
          tcp:
          - match:
            - port: 27017
              destinationSubnets:
              - 10.0.0.0/33  # expect: ML426@9 spec.tcp[0].match[0].destinationSubnets[0]
            route:
            - destination:
                host: mongo.shop.svc.cluster.local
    """,
    good="""
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata:
          name: reviews
          namespace: shop
        spec:
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
    """,
    kinds={"VirtualService"},
    source=f"{WEBHOOK} (validateTCPRoute, validateTCPMatch) — 'tcp match may not be nil', 'TCP "
    "route is required'",
    catalogue=(
        "vs-tcp-subnet",
        "vs-tcp-port",
        "vs-tcp-srclabels",
        "vs-tcp-route-none",
    ),
    istio="IST0106",
    needs=("tcp",),
)
def tcp_routes(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for i, route in enumerate(as_list(spec.get("tcp"))):
        if not isinstance(route, dict):
            continue
        base: FieldPath = ("spec", "tcp", i)
        for j, match in enumerate(as_list(route.get("match"))):
            mbase = (*base, "match", j)
            if isinstance(match, dict):
                yield from _l4_match(mbase, match)
        yield from _routes_required(base, route, "TCP")
