"""VirtualService hosts, gateway references and exportTo: what Istio's webhook rejects (rules
catalogue section 3.1)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from meshlint.diagnostics import FieldPath, Severity
from meshlint.resource import Resource
from meshlint.rules import Finding, rule
from meshlint.rules.lib.grammar import (
    check_export_to,
    check_gateway_name,
    check_gateway_vs_host,
    check_wildcard_host,
    gateway_name_warning,
    host_matches,
)
from meshlint.rules.lib.guards import as_list, as_map
from meshlint.rules.lib.virtualservice import (
    WEBHOOK,
    WEBHOOK_VS,
    applies_to_gateway,
    http_matches_of,
)


def _has_sni_hosts(spec: Mapping[str, Any]) -> bool:
    for tls in as_list(spec.get("tls")):
        for match in as_list(as_map(tls).get("match")):
            if as_list(as_map(match).get("sniHosts")):
                return True
    return False


@rule(
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
    bad="""
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata:
          name: reviews
          namespace: shop
        spec:
          hosts:
          - reviews.shop.svc.cluster.local
          - "*"  # expect: ML401@5 spec.hosts[1]
          http:
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
          - reviews.shop.svc.cluster.local
          http:
          - route:
            - destination:
                host: reviews
    """,
    kinds={"VirtualService"},
    source=f"{WEBHOOK} (ValidateVirtualService) — 'wildcard host * is not allowed for virtual "
    "services bound to the mesh gateway', 'duplicate hosts in virtual service'; "
    "pkg/config/validation/agent/validation.go (ValidateWildcardDomain, "
    "ValidateWildcardDomainForVirtualServiceBoundToGateway)",
    catalogue=("vs-host-syntax", "vs-host-autosni", "vs-host-mesh-star", "vs-host-overlap"),
    istio="IST0106",
)
def virtualservice_hosts(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    hosts = spec.get("hosts")
    if not isinstance(hosts, list):
        return
    on_gateway = applies_to_gateway(spec)
    on_mesh = not on_gateway
    sni = on_gateway and _has_sni_hosts(spec)
    all_valid = True
    wildcards = False
    for i, host in enumerate(hosts):
        if not isinstance(host, str):
            all_valid = False
            continue
        if host[:1] == "*":
            wildcards = True
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
    if not all_valid or (not wildcards and len(set(hosts)) == len(hosts)):
        return  # without wildcards, only a host listed twice overlaps another
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


def _match_gateway_refs(res: Resource) -> list[tuple[FieldPath, list[Any]]]:
    """``(path, gateways)`` of every http, tcp and tls match that lists gateways, read once
    per resource."""
    return res.memo(_match_gateway_refs, lambda: _list_match_gateway_refs(res))


def _list_match_gateway_refs(res: Resource) -> list[tuple[FieldPath, list[Any]]]:
    found: list[tuple[FieldPath, list[Any]]] = []
    for base, match in http_matches_of(res):
        refs = match.get("gateways")
        if isinstance(refs, list) and refs:
            found.append(((*base, "gateways"), refs))
    spec = as_map(res.spec_map)
    for section in ("tcp", "tls"):
        for i, route in enumerate(as_list(spec.get(section))):
            for j, match in enumerate(as_list(as_map(route).get("match"))):
                refs = as_list(as_map(match).get("gateways"))
                if refs:
                    found.append((("spec", section, i, "match", j, "gateways"), refs))
    return found


@rule(
    "ML404",
    "invalid-gateway-reference",
    Severity.ERROR,
    summary="A gateway of `spec.gateways` is not `namespace/name`, `mesh` or a valid gateway name.",
    rationale="""
        `spec.gateways` names the Gateways the VirtualService applies to as `namespace/name`,
        both parts DNS labels, or `mesh` for the sidecars. The older form without a slash must
        be a valid DNS name. Istio's webhook rejects other values; it stops at the first
        reference without a slash, meshlint checks every entry.

        In 0.2 the gateway references in the matches of routes became a rule of their own,
        ML436; the code ML404 still selects, ignores and suppresses it.
    """,
    bad="""
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata:
          name: reviews
          namespace: shop
        spec:
          hosts:
          - bookinfo.example.com
          gateways:
          - istio-system/Bookinfo_Gateway  # expect: ML404@5 spec.gateways[0]
          http:
          - route:
            - destination:
                host: productpage
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
          - route:
            - destination:
                host: productpage
    """,
    kinds={"VirtualService"},
    source=f"{WEBHOOK} (validateGatewayNames) — 'config namespace and gateway name cannot be "
    "empty', 'invalid value for namespace', 'invalid value for gateway name'",
    catalogue=(
        "vs-gw-fqdn",
        "vs-gw-parts-empty",
        "vs-gw-ns-label",
        "vs-gw-name-label",
    ),
    istio="IST0106",
)
def invalid_gateway_reference(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for i, ref in enumerate(as_list(spec.get("gateways"))):
        problem = check_gateway_name(ref)
        if problem:
            yield Finding(("spec", "gateways", i), problem)


@rule(
    "ML436",
    "invalid-match-gateway-reference",
    Severity.ERROR,
    summary="A gateway in the `gateways` of a route match is not `namespace/name`, `mesh` or "
    "a valid gateway name.",
    rationale="""
        The matches of http, tcp and tls routes may limit a route to some of the
        VirtualService's gateways with their own `gateways` list, written like
        `spec.gateways`: `namespace/name`, both parts DNS labels, or `mesh` for the sidecars
        (the older form without a slash must be a valid DNS name). Istio's webhook rejects
        other values.

        Before 0.2 this was part of ML404, whose code still selects, ignores and
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
          - bookinfo.example.com
          gateways:
          - istio-system/bookinfo-gateway
          - mesh
          http:
          - match:
            - gateways:
              - istio-system/  # expect: ML436@9 spec.http[0].match[0].gateways[0]
            route:
            - destination:
                host: productpage
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
          - mesh
          http:
          - match:
            - gateways:
              - istio-system/bookinfo-gateway
            route:
            - destination:
                host: productpage
    """,
    kinds={"VirtualService"},
    source=f"{WEBHOOK_VS} (validateHTTPRouteMatchRequest), {WEBHOOK} (validateTCPMatch, "
    "validateTLSMatch, validateGatewayNames) — 'config namespace and gateway name cannot be "
    "empty', 'invalid value for namespace', 'invalid value for gateway name'",
    catalogue=("vs-match-gateways", "vs-tls-gateways", "vs-tcp-gateways"),
    istio="IST0106",
    aliases=("ML404",),
)
def invalid_match_gateway_reference(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for base, refs in _match_gateway_refs(res):
        for i, ref in enumerate(refs):
            problem = check_gateway_name(ref)
            if problem:
                yield Finding((*base, i), problem)


@rule(
    "ML405",
    "legacy-gateway-reference",
    Severity.WARNING,
    summary="A gateway is referenced in the older `name.namespace` form.",
    rationale="""
        Istio still reads `my-gateway.istio-system` (and `…svc.cluster.local`) as the gateway
        `istio-system/my-gateway`, but warns about it: the `namespace/name` form is the
        documented one and cannot be misread. Kiali reports the same (KIA1108), though for
        any reference with a dot in it; meshlint keeps to Istio's narrower condition, since
        `namespace/name` with a dot in the name is the documented form for such a Gateway.
    """,
    bad="""
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata:
          name: reviews
          namespace: shop
        spec:
          hosts:
          - bookinfo.example.com
          gateways:
          - bookinfo-gateway.istio-system  # expect: ML405@5 spec.gateways[0]
          http:
          - route:
            - destination:
                host: productpage
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
          - route:
            - destination:
                host: productpage
    """,
    kinds={"VirtualService"},
    source=f"{WEBHOOK} (validateGatewayNames) — warning 'using legacy gatewayName format; prefer "
    "the <namespace>/<name> format'; kiali/kiali business/checkers/virtualservices/"
    "no_gateway_checker.go (checkNomenclature: virtualservices.gateway.oldnomenclature)",
    catalogue=("vs-gw-legacy", "vs-k-gateway-old-name"),
    istio="IST0133",
    kiali="KIA1108",
)
def legacy_gateway_reference(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    gateways = spec.get("gateways")
    if isinstance(gateways, list):
        for i, ref in enumerate(gateways):
            warning = _legacy_warning(ref)
            if warning:
                yield Finding(("spec", "gateways", i), warning)
    for base, refs in _match_gateway_refs(res):
        for i, ref in enumerate(refs):
            warning = _legacy_warning(ref)
            if warning:
                yield Finding((*base, i), warning)


def _legacy_warning(ref: Any) -> str | None:
    """The warning on a valid gateway reference of the older form."""
    # Only a name with a '.' and no '/' is of that form (see gateway_name_warning).
    if not isinstance(ref, str) or "/" in ref or "." not in ref:
        return None
    if check_gateway_name(ref) is not None:
        return None
    return gateway_name_warning(ref)


@rule(
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
    bad="""
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata:
          name: reviews
          namespace: shop
        spec:
          hosts:
          - reviews
          exportTo:
          - "."
          - "*"  # expect: ML406@5 spec.exportTo[1]
          http:
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
          exportTo:
          - "."
          http:
          - route:
            - destination:
                host: reviews
    """,
    kinds={"VirtualService"},
    source=f"{WEBHOOK} (validateExportTo), pkg/config/visibility/visibility.go",
    catalogue=(
        "vs-export-dup",
        "vs-export-dot-own",
        "vs-export-none",
        "vs-export-entry",
        "vs-export-star-mix",
    ),
    istio="IST0106",
    needs=("exportTo",),
)
def virtualservice_export_to(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for i, message in check_export_to(
        spec.get("exportTo"), allow_none=False, own_namespace=res.namespace
    ):
        yield Finding(("spec", "exportTo", i), message)
