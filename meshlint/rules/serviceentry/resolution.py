"""ServiceEntry resolution: what each resolution mode takes, and the workload selector.

Facts: istio/istio ``pkg/config/validation/validation.go`` (``ValidateServiceEntry``, ``usesWaypoint``) and the
CEL rules of the ServiceEntry CRD (istio/api ``networking/v1alpha3/service_entry.proto``).
Shapes, enums, required fields and list or string limits are the schema stage's (ML206-ML209).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from meshlint.diagnostics import FieldPath, Severity
from meshlint.resource import Resource
from meshlint.rules import Finding, rule
from meshlint.rules.lib.grammar import (
    check_fqdn,
    check_wildcard_host,
)
from meshlint.rules.lib.serviceentry import (
    host_items,
    list_of,
    port_items,
    protocol_of,
    resolution_of,
)

KINDS = {"ServiceEntry"}
_SE = "webhook: pkg/config/validation/validation.go (ValidateServiceEntry)"
_CEL = "CEL: the ServiceEntry CRD (x-kubernetes-validations)"

_DYNAMIC_DNS_PROTOCOLS = frozenset(("HTTP", "TLS", "GRPC", "HTTP2"))
_WAYPOINT_LABEL = "istio.io/use-waypoint"

_HEAD = """
    apiVersion: networking.istio.io/v1
    kind: ServiceEntry
    metadata:
      name: payments-api
      namespace: shop
"""

# --------------------------------------------------------------------------------------------
# Workload selector


@rule(
    "ML638",
    "serviceentry-selector-and-endpoints",
    Severity.ERROR,
    summary="A ServiceEntry sets both `workloadSelector` and `endpoints`.",
    rationale="""
        A ServiceEntry gets its endpoints either from the workloads its selector matches or
        from the `endpoints` it lists, not both; the CRD and Istio's webhook reject a
        resource that sets both.
    """,
    bad=_HEAD
    + """
    spec:
      hosts: ["payments.shop.svc.cluster.local"]
      ports:
      - {number: 80, name: http, protocol: HTTP}
      location: MESH_INTERNAL
      resolution: STATIC
      workloadSelector:
        labels:
          app: payments
      endpoints:  # expect: ML638@3 spec.endpoints
      - address: 10.1.2.3
    """,
    good=_HEAD
    + """
    spec:
      hosts: ["payments.shop.svc.cluster.local"]
      ports:
      - {number: 80, name: http, protocol: HTTP}
      location: MESH_INTERNAL
      resolution: STATIC
      endpoints:
      - address: 10.1.2.3
    """,
    kinds=KINDS,
    istio="IST0106",
    source=f"{_SE} — 'only one of WorkloadSelector or Endpoints is allowed in Service Entry'; "
    f"{_CEL} — 'only one of WorkloadSelector or Endpoints can be set'",
    catalogue=("se-sel-and-endpoints",),
)
def serviceentry_selector_and_endpoints(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None or spec.get("workloadSelector") is None or not list_of(spec, "endpoints"):
        return
    yield Finding(
        ("spec", "endpoints"),
        "endpoints cannot be combined with workloadSelector: keep the selector to use the "
        "workloads it matches, or the endpoints to list them yourself",
        key=True,
    )


# --------------------------------------------------------------------------------------------
# Resolution


def _shown(spec: dict[str, Any], resolution: str) -> str:
    if "resolution" not in spec:
        return "resolution NONE (the default)"
    return f"resolution {resolution}"


@rule(
    "ML639",
    "serviceentry-resolution-mismatch",
    Severity.ERROR,
    summary="A ServiceEntry has addresses or endpoints its resolution does not take.",
    rationale="""
        Each resolution mode takes its own addresses and endpoints, and Istio's webhook and
        CRD rules reject the others: NONE takes no endpoints (traffic goes to the address the
        client asked for); only NONE and STATIC take CIDR addresses; DNS_ROUND_ROBIN takes at
        most one endpoint; DYNAMIC_DNS takes neither addresses nor endpoints.

        Until 0.2 this rule also reported hosts (ML647 now) and the ports and location of a
        DYNAMIC_DNS ServiceEntry (ML648 now).
    """,
    bad=_HEAD
    + """
    spec:
      hosts: ["api.example.com"]
      addresses: ["192.0.2.0/24"]  # expect: ML639@15 spec.addresses[0]
      ports:
      - {number: 443, name: tls, protocol: TLS}
      resolution: DNS
    """,
    good=_HEAD
    + """
    spec:
      hosts: ["api.example.com"]
      addresses: ["192.0.2.10"]
      ports:
      - {number: 443, name: tls, protocol: TLS}
      resolution: DNS
    """,
    kinds=KINDS,
    istio="IST0106",
    source=f"{_SE} — 'no endpoints should be provided for resolution type none', 'CIDR "
    "addresses are allowed only for NONE/STATIC resolution types', 'there must only be 0 or 1 "
    "endpoint for resolution mode DNS_ROUND_ROBIN', and its DYNAMIC_DNS checks of addresses and "
    f"endpoints; {_CEL} — 'NONE mode cannot set endpoints', 'DNS_ROUND_ROBIN mode cannot have "
    "multiple endpoints'",
    catalogue=(
        "se-addr-cidr-resolution",
        "se-none-endpoints",
        "se-dnsrr-endpoints",
        "se-dyn-addresses",
        "se-dyn-endpoints",
    ),
)
def serviceentry_resolution_mismatch(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    resolution = resolution_of(spec)
    if resolution is None:
        return
    endpoints = list_of(spec, "endpoints")
    addresses = list_of(spec, "addresses")
    if resolution not in ("NONE", "STATIC"):
        for i, address in enumerate(addresses):
            if isinstance(address, str) and "/" in address:
                yield Finding(
                    ("spec", "addresses", i),
                    f"CIDR block {address} is only allowed with resolution NONE or STATIC, not "
                    f"{resolution}: use single IP addresses, or resolution NONE",
                )
    if resolution == "NONE" and endpoints:
        yield Finding(
            ("spec", "endpoints"),
            f"{_shown(spec, resolution)} takes no endpoints (traffic goes to the address the "
            "client asked for): remove them, or set resolution STATIC (IP endpoints) or DNS "
            "(host-name endpoints)",
            key=True,
        )
    elif resolution == "DNS_ROUND_ROBIN" and len(endpoints) > 1:
        yield Finding(
            ("spec", "endpoints", 1),
            f"resolution DNS_ROUND_ROBIN takes at most one endpoint; this has "
            f"{len(endpoints)}: use resolution DNS for several endpoints",
        )
    elif resolution == "DYNAMIC_DNS":
        if addresses:
            yield Finding(
                ("spec", "addresses"),
                "resolution DYNAMIC_DNS takes no addresses: routes are built from the hosts "
                "alone; remove addresses",
                key=True,
            )
        if endpoints:
            yield Finding(
                ("spec", "endpoints"),
                "resolution DYNAMIC_DNS takes no endpoints: the destination is resolved from "
                "the requested host; remove endpoints",
                key=True,
            )


@rule(
    "ML647",
    "serviceentry-host-resolution-mismatch",
    Severity.ERROR,
    summary="A ServiceEntry host is a wildcard where its resolution resolves the hosts, or "
    "not one where resolution DYNAMIC_DNS needs it.",
    rationale="""
        With resolution DNS or DNS_ROUND_ROBIN and no endpoints, Istio resolves the hosts
        themselves, so each must be a plain host name: a wildcard has nothing to resolve.
        With resolution DYNAMIC_DNS the proxy resolves the host of each request, and every
        host must be a wildcard such as `*.example.com`. Istio's webhook rejects a host of
        the other kind. Use DYNAMIC_DNS (or NONE) for a wildcard, DNS for a single host.

        Split off ML639 (serviceentry-resolution-mismatch) in 0.2.
    """,
    bad=_HEAD
    + """
    spec:
      hosts: ["*.example.com"]  # expect: ML647@11 spec.hosts[0]
      ports:
      - {number: 443, name: tls, protocol: TLS}
      resolution: DNS
    """,
    good=_HEAD
    + """
    spec:
      hosts: ["*.example.com"]
      ports:
      - {number: 443, name: tls, protocol: TLS}
      resolution: DYNAMIC_DNS
    """,
    kinds=KINDS,
    istio="IST0106",
    source=f"{_SE} — 'hosts must be FQDN or contain only prefix wildcards if no endpoints are "
    "provided', 'host must be wildcarded for resolution mode DYNAMIC_DNS'",
    catalogue=("se-dns-host-fqdn", "se-dyn-host-wild"),
    aliases=("ML639",),
)
def serviceentry_host_resolution_mismatch(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    resolution = resolution_of(spec)
    if resolution in ("DNS", "DNS_ROUND_ROBIN") and not list_of(spec, "endpoints"):
        for i, host in host_items(spec):
            if host == "*" or check_wildcard_host(host) or not check_fqdn(host):
                continue  # ML630 reports invalid hosts
            yield Finding(
                ("spec", "hosts", i),
                f"with {_shown(spec, resolution)} and no endpoints Istio resolves the hosts "
                f"themselves, so {host!r} must be a plain host name without wildcards: add "
                "endpoints, or use resolution DYNAMIC_DNS or NONE for a wildcard",
            )
    elif resolution == "DYNAMIC_DNS":
        for i, host in host_items(spec):
            if not host.startswith("*"):
                yield Finding(
                    ("spec", "hosts", i),
                    f"resolution DYNAMIC_DNS needs wildcard hosts such as *.example.com; "
                    f"{host!r} is not one: use resolution DNS for a single host",
                )


def _uses_waypoint(res: Resource) -> bool:
    labels = res.metadata.get("labels")
    if not isinstance(labels, dict):
        return False
    value = labels.get(_WAYPOINT_LABEL)
    return isinstance(value, str) and value != "" and value.lower() != "none"


@rule(
    "ML648",
    "serviceentry-dynamic-dns-unsupported",
    Severity.ERROR,
    summary="A DYNAMIC_DNS ServiceEntry has a port protocol or a location that DYNAMIC_DNS "
    "does not support.",
    rationale="""
        Resolution DYNAMIC_DNS routes each request by the host it names, which the proxy
        reads from HTTP, HTTP2 and GRPC requests or from the TLS SNI: a port of any other
        protocol (or of none) has no host to resolve. And a MESH_INTERNAL ServiceEntry that
        uses a waypoint (label `istio.io/use-waypoint`) cannot be DYNAMIC_DNS. Istio's webhook
        rejects both.

        Split off ML639 (serviceentry-resolution-mismatch) in 0.2.
    """,
    bad=_HEAD
    + """
    spec:
      hosts: ["*.example.com"]
      ports:
      - {number: 5432, name: tcp-postgres, protocol: TCP}  # expect: ML648@50 spec.ports[0].protocol
      resolution: DYNAMIC_DNS
    """,
    good=_HEAD
    + """
    spec:
      hosts: ["*.example.com"]
      ports:
      - {number: 443, name: tls, protocol: TLS}
      resolution: DYNAMIC_DNS
    """,
    kinds=KINDS,
    istio="IST0106",
    source=f"{_SE} — its DYNAMIC_DNS checks of port protocols, and of location MESH_INTERNAL "
    "with usesWaypoint",
    catalogue=("se-dyn-proto", "se-dyn-internal-waypoint"),
    aliases=("ML639",),
)
def serviceentry_dynamic_dns_unsupported(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None or resolution_of(spec) != "DYNAMIC_DNS":
        return
    for i, port in port_items(spec):
        proto = protocol_of(port)
        if proto in _DYNAMIC_DNS_PROTOCOLS:
            continue
        given = port.get("protocol")
        if given is not None and not isinstance(given, str):
            continue
        path: FieldPath = ("spec", "ports", i, "protocol") if given else ("spec", "ports", i)
        what = f"protocol {given}" if given else "no protocol"
        yield Finding(
            path,
            f"resolution DYNAMIC_DNS supports only HTTP, HTTP2, GRPC and TLS ports; this "
            f"port has {what}",
        )
    if spec.get("location") == "MESH_INTERNAL" and _uses_waypoint(res):
        yield Finding(
            ("spec", "location"),
            "location MESH_INTERNAL with resolution DYNAMIC_DNS is not supported for a "
            f"ServiceEntry that uses a waypoint (label {_WAYPOINT_LABEL}): use "
            "MESH_EXTERNAL, or remove the waypoint label",
        )


@rule(
    "ML640",
    "serviceentry-none-resolution-with-selector",
    Severity.WARNING,
    summary="A ServiceEntry with resolution NONE has a `workloadSelector`.",
    rationale="""
        With resolution NONE the proxy forwards connections to the address the client asked
        for and never looks at endpoints, so the workloads the selector matches are not used.
        Istio admits it with a warning. Set resolution STATIC to send traffic to the selected
        workloads.
    """,
    bad=_HEAD
    + """
    spec:
      hosts: ["payments.shop.svc.cluster.local"]
      ports:
      - {number: 80, name: http, protocol: HTTP}
      location: MESH_INTERNAL
      workloadSelector:  # expect: ML640@3 spec.workloadSelector
        labels:
          app: payments
    """,
    good=_HEAD
    + """
    spec:
      hosts: ["payments.shop.svc.cluster.local"]
      ports:
      - {number: 80, name: http, protocol: HTTP}
      location: MESH_INTERNAL
      resolution: STATIC
      workloadSelector:
        labels:
          app: payments
    """,
    kinds=KINDS,
    istio="IST0133",
    source=f"{_SE} (warning) — 'workloadSelector should not be set when resolution mode is NONE'",
    catalogue=("se-none-selector",),
)
def serviceentry_none_resolution_with_selector(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None or spec.get("workloadSelector") is None or resolution_of(spec) != "NONE":
        return
    shown = "NONE (the default)" if "resolution" not in spec else "NONE"
    yield Finding(
        ("spec", "workloadSelector"),
        f"with resolution {shown} the selected workloads are never used as endpoints: set "
        "resolution STATIC, or remove workloadSelector",
        key=True,
    )
