"""ServiceEntry ports: their numbers, names and protocols, and whether a port can tell the
ServiceEntry's hosts and addresses apart.

Facts: istio/istio ``pkg/config/validation/validation.go`` (``ValidateServiceEntry``),
``pilot/pkg/networking/serviceentry/ip_autoallocation.go`` (when an address is allocated
automatically) and the CEL rules of the ServiceEntry CRD. Shapes, enums, required fields and
list or string limits are the schema stage's (ML206-ML209).
"""

from __future__ import annotations

from collections.abc import Iterator

from meshlint.diagnostics import FieldPath, Severity
from meshlint.resource import Resource
from meshlint.rules import Finding, rule
from meshlint.rules.lib.grammar import (
    HTTP_PROTOCOLS,
    TLS_PROTOCOLS,
    check_port,
    check_port_name,
    check_protocol,
)
from meshlint.rules.lib.guards import is_int
from meshlint.rules.lib.serviceentry import (
    list_of,
    port_items,
    protocol_of,
    resolution_of,
)

KINDS = {"ServiceEntry"}
_SE = "webhook: pkg/config/validation/validation.go (ValidateServiceEntry)"
_CEL = "CEL: the ServiceEntry CRD (x-kubernetes-validations)"

_TCP = frozenset(("TCP", "HTTPS", "TLS", "Mongo", "Redis", "MySQL"))
_AUTOALLOCATE_LABEL = "networking.istio.io/enable-autoallocate-ip"

_HEAD = """
    apiVersion: networking.istio.io/v1
    kind: ServiceEntry
    metadata:
      name: payments-api
      namespace: shop
"""

# --------------------------------------------------------------------------------------------
# Ports


@rule(
    "ML633",
    "serviceentry-invalid-port",
    Severity.ERROR,
    summary="A ServiceEntry port has an invalid number, target port, name or protocol, or "
    "repeats another port's number.",
    rationale="""
        Istio's webhook and the CRD's CEL rules require port numbers and target ports from 1
        to 65535, each number used once, a port name that is a DNS label (letters, digits and
        '-') and a protocol Istio knows (empty means "detect it"). `kubectl apply` rejects the
        resource otherwise. (Two ports with one name are reported by the schema check.)
    """,
    bad=_HEAD
    + """
    spec:
      hosts: ["api.example.com"]
      ports:
      - {number: 443, name: https, protocol: TLS}
      - {number: 443, name: web_port, protocol: HTTPS2, targetPort: 70000}  # expect: ML633@14 spec.ports[1].number; ML633@25 spec.ports[1].name; ML633@45 spec.ports[1].protocol; ML633@65 spec.ports[1].targetPort
      resolution: DNS
    """,
    good=_HEAD
    + """
    spec:
      hosts: ["api.example.com"]
      ports:
      - {number: 443, name: https, protocol: TLS}
      - {number: 8443, name: web-port, protocol: HTTPS, targetPort: 443}
      resolution: DNS
    """,
    kinds=KINDS,
    istio="IST0106",
    source=f"{_SE} — 'service entry port %d already defined', ValidatePortName, "
    f"ValidateProtocol, ValidatePort; {_CEL} — 'port number cannot be duplicated', 'port "
    "must be between 1-65535'",
    catalogue=(
        "se-port-number-dup",
        "se-port-name",
        "se-port-proto",
        "se-port-number",
        "se-port-target",
    ),
)
def serviceentry_invalid_port(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    numbers: dict[int, int] = {}
    for i, port in port_items(spec):
        base: FieldPath = ("spec", "ports", i)
        number = port.get("number")
        if is_int(number):
            problem = check_port(number)
            if problem:
                yield Finding((*base, "number"), f"{problem}: use a port from 1 to 65535")
            elif number in numbers:
                yield Finding(
                    (*base, "number"),
                    f"port number {number} is already used by ports[{numbers[number]}]: each "
                    "port of a ServiceEntry needs its own number",
                )
            else:
                numbers[number] = i
        target = port.get("targetPort")
        if is_int(target):
            if target == 0:
                yield Finding(
                    (*base, "targetPort"),
                    "targetPort 0 is rejected by the CRD (1-65535): remove targetPort to send "
                    "traffic to the port number itself",
                )
            elif check_port(target):
                yield Finding((*base, "targetPort"), f"targetPort {target} is outside 1-65535")
        problem = check_port_name(port.get("name"))
        if problem:
            yield Finding((*base, "name"), problem)
        problem = check_protocol(port.get("protocol"))
        if problem:
            yield Finding((*base, "protocol"), problem)


@rule(
    "ML634",
    "serviceentry-tcp-port-without-address",
    Severity.WARNING,
    summary="A ServiceEntry has a TCP (or protocol-less) port but no addresses, and none "
    "will be allocated.",
    rationale="""
        A plain TCP listener can only tell services apart by destination IP. Without
        `spec.addresses`, and without an address Istio allocates itself (it does so unless
        the resolution is NONE or the label `networking.istio.io/enable-autoallocate-ip` is
        "false"), traffic on the port cannot be attributed to this ServiceEntry and may
        collide with other services on the same port. Istio admits it with a warning;
        `istioctl analyze` reports IST0134.

        A ServiceEntry whose `status.addresses` lists addresses (those Istio allocated, as
        `kubectl get -o yaml` shows them) has addresses, and is not reported, as
        istioctl analyze does not report it.
    """,
    bad=_HEAD
    + """
    spec:
      hosts: ["db.example.com"]
      ports:
      - {number: 5432, name: tcp-postgres, protocol: TCP}  # expect: ML634@50 spec.ports[0].protocol
      location: MESH_EXTERNAL
      resolution: NONE
    """,
    good=_HEAD
    + """
    spec:
      hosts: ["db.example.com"]
      addresses: ["192.0.2.10"]
      ports:
      - {number: 5432, name: tcp-postgres, protocol: TCP}
      location: MESH_EXTERNAL
      resolution: NONE
    """,
    kinds=KINDS,
    istio="IST0134",
    source=f"{_SE} (warning) — 'addresses are required for ports serving TCP (or unset) "
    "protocol when IP Autoallocation is not enabled'; istio/istio pkg/config/analysis/"
    "analyzers/serviceentry/protocoladdresses.go (addressAllocated: status.addresses) and its "
    "testdata serviceentry-address-allocated.yaml",
    catalogue=("se-port-tcp-no-address",),
)
def serviceentry_tcp_port_without_address(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None or list_of(spec, "addresses"):
        return
    status = res.data.get("status")
    if isinstance(status, dict) and list_of(status, "addresses"):
        return  # Istio allocated addresses and wrote them in the status
    resolution = resolution_of(spec)
    if resolution is None:
        return
    labels = res.metadata.get("labels")
    opted_out = (
        isinstance(labels, dict)
        and isinstance(labels.get(_AUTOALLOCATE_LABEL), str)
        and labels[_AUTOALLOCATE_LABEL].lower() == "false"
    )
    if resolution != "NONE" and not opted_out:
        return  # Istio allocates an address itself
    why = (
        "resolution is NONE, so Istio allocates no address"
        if resolution == "NONE"
        else f'the label {_AUTOALLOCATE_LABEL}: "false" turns off address allocation'
    )
    for i, port in port_items(spec):
        proto = port.get("protocol")
        if proto is None or proto == "" or (isinstance(proto, str) and proto.upper() == "TCP"):
            what = "TCP" if proto else "no protocol (so plain TCP unless detected)"
            path: FieldPath = ("spec", "ports", i, "protocol") if proto else ("spec", "ports", i)
            yield Finding(
                path,
                f"this port has {what} but the ServiceEntry has no addresses and {why}: a TCP "
                "listener can only tell services apart by IP, so set spec.addresses",
            )


@rule(
    "ML635",
    "serviceentry-multiple-hosts-tcp-port",
    Severity.ERROR,
    summary="A ServiceEntry with several hosts and a resolution other than NONE has a port "
    "that is neither HTTP nor TLS.",
    rationale="""
        On plain TCP (or any port without HTTP's Host header or TLS's SNI) the proxy cannot
        tell which of several hosts a connection is for, so it cannot resolve and route it.
        Istio's webhook rejects such a ServiceEntry unless the resolution is NONE, where the
        hosts are ignored. Split it into one ServiceEntry per host, or use an HTTP or TLS
        port. A port without a protocol counts as such a port.
    """,
    bad=_HEAD
    + """
    spec:
      hosts: ["db1.example.com", "db2.example.com"]
      ports:
      - {number: 5432, name: tcp-postgres, protocol: TCP}  # expect: ML635@50 spec.ports[0].protocol
      resolution: DNS
    """,
    good=_HEAD
    + """
    spec:
      hosts: ["db1.example.com"]
      ports:
      - {number: 5432, name: tcp-postgres, protocol: TCP}
      resolution: DNS
    """,
    kinds=KINDS,
    istio="IST0106",
    source=f"{_SE} — 'multiple hosts provided with non-HTTP, non-TLS ports'",
    catalogue=("se-multihost-l4",),
)
def serviceentry_multiple_hosts_tcp_port(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    resolution = resolution_of(spec)
    hosts = list_of(spec, "hosts")
    if resolution in (None, "NONE") or len(hosts) <= 1:
        return
    for i, port in port_items(spec):
        proto = protocol_of(port)
        if proto in HTTP_PROTOCOLS or proto in TLS_PROTOCOLS:
            continue
        shown = port.get("protocol") or "no protocol"
        path: FieldPath = (
            ("spec", "ports", i, "protocol") if port.get("protocol") else ("spec", "ports", i)
        )
        yield Finding(
            path,
            f"this port has {shown}, which cannot tell the {len(hosts)} hosts apart (only HTTP "
            f"and TLS/HTTPS ports can) with resolution {resolution}: use one ServiceEntry per "
            "host, or resolution NONE",
        )
        return  # Istio reports it once


@rule(
    "ML643",
    "serviceentry-dns-tls-multiple-hosts",
    Severity.WARNING,
    summary="A DNS ServiceEntry with addresses and a TLS or HTTPS port lists several hosts.",
    rationale="""
        With resolution DNS or DNS_ROUND_ROBIN and `spec.addresses`, a TCP-based port (here
        TLS or HTTPS) is served by a listener on those addresses, which all the hosts share;
        Istio admits it with a warning because connections to the addresses cannot be told
        apart by host. Give each host its own ServiceEntry and address.
    """,
    bad=_HEAD
    + """
    spec:
      hosts: ["a.example.com", "b.example.com"]  # expect: ML643@3 spec.hosts
      addresses: ["192.0.2.30"]
      ports:
      - {number: 443, name: tls, protocol: TLS}
      resolution: DNS
    """,
    good=_HEAD
    + """
    spec:
      hosts: ["a.example.com"]
      addresses: ["192.0.2.30"]
      ports:
      - {number: 443, name: tls, protocol: TLS}
      resolution: DNS
    """,
    kinds=KINDS,
    istio="IST0133",
    source=f"{_SE} (warning) — 'service entry can not have more than one host specified "
    "simultaneously with address and tcp port'",
    catalogue=("se-dns-tcp-multihost",),
)
def serviceentry_dns_tls_multiple_hosts(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None or resolution_of(spec) not in ("DNS", "DNS_ROUND_ROBIN"):
        return
    if not list_of(spec, "addresses") or len(list_of(spec, "hosts")) <= 1:
        return
    ports = list(port_items(spec))
    if any(
        protocol_of(p) not in HTTP_PROTOCOLS and protocol_of(p) not in TLS_PROTOCOLS
        for _, p in ports
    ):
        return  # ML635 rejects it outright
    for _, port in ports:
        if protocol_of(port) in _TCP:
            yield Finding(
                ("spec", "hosts"),
                f"{len(list_of(spec, 'hosts'))} hosts share the addresses of this ServiceEntry on "
                f"TCP-based port {port.get('number')}: connections to the addresses cannot be told "
                "apart by host; use one ServiceEntry per host",
                key=True,
            )
            return
