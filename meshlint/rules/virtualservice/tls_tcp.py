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
from meshlint.rules.lib.virtualservice import (
    WEBHOOK,
    applies_to_gateway,
    as_list,
    as_map,
    is_empty,
    match_port,
    source_labels,
    str_list,
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


@rule(
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
    bad="""
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata:
          name: reviews
          namespace: shop
        spec:
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
    """,
    good="""
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata:
          name: reviews
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
    source=f"{WEBHOOK} (validateTLSRoute, validateTLSMatch, validateSniHost) — 'TLS route must have "
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
    on_gateway = applies_to_gateway(spec)
    hosts = str_list(spec.get("hosts"))
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
            for k, name in enumerate(as_list(sni)):
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
              - 10.0.0.5
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
)
def tls_sni_ip_address(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    on_gateway = applies_to_gateway(spec)
    for i, route in enumerate(as_list(spec.get("tls"))):
        for j, match in enumerate(as_list(as_map(route).get("match"))):
            for k, name in enumerate(as_list(as_map(match).get("sniHosts"))):
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
              - 10.0.0.0/33
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
