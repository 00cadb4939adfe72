"""Field validation of serviceentry: what Istio's webhook and CRD rules reject.

Facts: istio/istio ``pkg/config/validation/validation.go`` (``ValidateServiceEntry``,
``validateWorkloadEntry``, ``ValidateAlphaWorkloadSelector``, ``validateExportTo``,
``usesWaypoint``), ``pilot/pkg/networking/serviceentry/ip_autoallocation.go`` (when an address is
allocated automatically) and the CEL rules of the ServiceEntry CRD (istio/api
``networking/v1alpha3/service_entry.proto``, ``workload_entry.proto``). Shapes, enums, required
fields and list or string limits are the schema stage's (ML206-ML209) and are not repeated here.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from meshlint.diagnostics import FieldPath, Severity
from meshlint.resource import Resource
from meshlint.rules import Finding, rule
from meshlint.rules.lib.grammar import (
    check_cidr,
    check_export_to,
    check_fqdn,
    check_labels,
    check_partial_wildcard,
    check_port,
    check_port_name,
    check_protocol,
    check_unix_address,
    check_wildcard_host,
    is_dns_label,
    is_int,
    is_ip,
    parse_protocol,
)

KINDS = {"ServiceEntry"}
_SE = "webhook: pkg/config/validation/validation.go (ValidateServiceEntry)"
_WE = "webhook: pkg/config/validation/validation.go (validateWorkloadEntry)"
_CEL = "CEL: the ServiceEntry CRD (x-kubernetes-validations)"

_RESOLUTIONS = frozenset(("NONE", "STATIC", "DNS", "DNS_ROUND_ROBIN", "DYNAMIC_DNS"))
_HTTP = frozenset(("HTTP", "HTTP2", "HTTP_PROXY", "GRPC", "GRPC-Web"))
_TLS = frozenset(("HTTPS", "TLS"))
_TCP = frozenset(("TCP", "HTTPS", "TLS", "Mongo", "Redis", "MySQL"))
_DYNAMIC_DNS_PROTOCOLS = frozenset(("HTTP", "TLS", "GRPC", "HTTP2"))
_UNIX = "unix://"
_WAYPOINT_LABEL = "istio.io/use-waypoint"
_AUTOALLOCATE_LABEL = "networking.istio.io/enable-autoallocate-ip"

_HEAD = """
    apiVersion: networking.istio.io/v1
    kind: ServiceEntry
    metadata:
      name: payments-api
      namespace: shop
"""


def _list(spec: dict[str, Any], key: str) -> list[Any]:
    value = spec.get(key)
    return value if isinstance(value, list) else []


def _resolution(spec: dict[str, Any]) -> str | None:
    """The resolution, NONE when omitted; None when it is not one Istio knows (the schema
    stage reports that)."""
    value = spec.get("resolution")
    if value is None:
        return "NONE"
    return value if isinstance(value, str) and value in _RESOLUTIONS else None


def _hosts(spec: dict[str, Any]) -> Iterator[tuple[int, str]]:
    for i, host in enumerate(_list(spec, "hosts")):
        if isinstance(host, str):
            yield i, host


def _ports(spec: dict[str, Any]) -> Iterator[tuple[int, dict[str, Any]]]:
    for i, port in enumerate(_list(spec, "ports")):
        if isinstance(port, dict):
            yield i, port


def _endpoints(spec: dict[str, Any]) -> Iterator[tuple[int, dict[str, Any]]]:
    for i, endpoint in enumerate(_list(spec, "endpoints")):
        if isinstance(endpoint, dict):
            yield i, endpoint


def _protocol(port: dict[str, Any]) -> str | None:
    """Istio's name of the port's protocol; None when it is empty or unknown (which Istio
    treats as "unsupported", i.e. neither HTTP nor TLS)."""
    return parse_protocol(port.get("protocol") or "")


# --------------------------------------------------------------------------------------------
# Hosts


@rule(
    "ML630",
    "serviceentry-invalid-host",
    Severity.ERROR,
    summary="A ServiceEntry host is `*` or not a valid host name.",
    rationale="""
        Istio's webhook checks every host of a ServiceEntry as a DNS name whose first label
        may be a wildcard (`*.example.com`); the CRD forbids the host `*` outright, since a
        ServiceEntry for every host would capture all outbound traffic. Such a resource is
        rejected by `kubectl apply`.
    """,
    bad=_HEAD
    + """
    spec:
      hosts: ["*", "api..example.com"]
      ports:
      - {number: 443, name: https, protocol: TLS}
      resolution: DNS
    """,
    good=_HEAD
    + """
    spec:
      hosts: ["api.example.com"]
      ports:
      - {number: 443, name: https, protocol: TLS}
      resolution: DNS
    """,
    kinds=KINDS,
    istio="IST0106",
    source=f"{_SE} — 'invalid host *', ValidateWildcardDomain; {_CEL} — 'hostname cannot be "
    "wildcard'",
    catalogue=("se-host-star", "se-host-syntax"),
)
def invalid_host(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for i, host in _hosts(spec):
        path: FieldPath = ("spec", "hosts", i)
        if host == "*":
            yield Finding(
                path,
                "'*' is not allowed as a ServiceEntry host: name the hosts it stands for, e.g. "
                "api.example.com or *.example.com",
            )
            continue
        problem = check_wildcard_host(host)
        if problem:
            yield Finding(path, problem)


@rule(
    "ML631",
    "serviceentry-partial-wildcard-host",
    Severity.WARNING,
    summary="A ServiceEntry host has a wildcard that is not a leading `*.`.",
    rationale="""
        Outside `resolution: DYNAMIC_DNS`, Istio admits a host such as `*foo.com` only with a
        warning: the proxies match hosts by whole labels, so a `*` glued to other characters
        does not behave as the pattern it looks like. Use `*.foo.com`, or list the hosts.
    """,
    bad=_HEAD
    + """
    spec:
      hosts: ["*api.example.com"]
      ports:
      - {number: 443, name: https, protocol: TLS}
      resolution: NONE
    """,
    good=_HEAD
    + """
    spec:
      hosts: ["*.example.com"]
      ports:
      - {number: 443, name: https, protocol: TLS}
      resolution: NONE
    """,
    kinds=KINDS,
    istio="IST0133",
    source=f"{_SE} (warning) — ValidatePartialWildCard, 'partial wildcard ... not allowed'",
    catalogue=("se-host-partial",),
)
def partial_wildcard_host(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None or spec.get("resolution") == "DYNAMIC_DNS":
        return
    for i, host in _hosts(spec):
        if host == "*" or check_wildcard_host(host):
            continue  # ML630 reports it
        problem = check_partial_wildcard(host)
        if problem:
            yield Finding(("spec", "hosts", i), problem)


# --------------------------------------------------------------------------------------------
# Addresses and ports


@rule(
    "ML632",
    "serviceentry-invalid-address",
    Severity.ERROR,
    summary="A ServiceEntry address is neither an IP address nor a CIDR block.",
    rationale="""
        `spec.addresses` are the virtual IPs (or CIDR blocks) the sidecars capture for the
        service. Istio's webhook parses each as an IP or a CIDR prefix and rejects anything
        else, including host names and IPv4 parts with leading zeros.
    """,
    bad=_HEAD
    + """
    spec:
      hosts: ["db.example.com"]
      addresses: ["10.0.0.300", "db.example.com"]
      ports:
      - {number: 5432, name: tcp-postgres, protocol: TCP}
      resolution: STATIC
      endpoints:
      - address: 10.0.0.30
    """,
    good=_HEAD
    + """
    spec:
      hosts: ["db.example.com"]
      addresses: ["10.0.0.30"]
      ports:
      - {number: 5432, name: tcp-postgres, protocol: TCP}
      resolution: STATIC
      endpoints:
      - address: 10.0.0.30
    """,
    kinds=KINDS,
    istio="IST0106",
    source=f"{_SE} — ValidateIPSubnet",
    catalogue=("se-addr-syntax",),
)
def invalid_address(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for i, address in enumerate(_list(spec, "addresses")):
        problem = check_cidr(address)
        if problem:
            yield Finding(("spec", "addresses", i), problem)


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
      - {number: 443, name: web_port, protocol: HTTPS2, targetPort: 70000}
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
def invalid_port(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    numbers: dict[int, int] = {}
    for i, port in _ports(spec):
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
    """,
    bad=_HEAD
    + """
    spec:
      hosts: ["db.example.com"]
      ports:
      - {number: 5432, name: tcp-postgres, protocol: TCP}
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
    "protocol when IP Autoallocation is not enabled'",
    catalogue=("se-port-tcp-no-address",),
)
def tcp_port_without_address(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None or _list(spec, "addresses"):
        return
    resolution = _resolution(spec)
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
    for i, port in _ports(spec):
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
      - {number: 5432, name: tcp-postgres, protocol: TCP}
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
def multiple_hosts_tcp_port(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    resolution = _resolution(spec)
    hosts = _list(spec, "hosts")
    if resolution in (None, "NONE") or len(hosts) <= 1:
        return
    for i, port in _ports(spec):
        proto = _protocol(port)
        if proto in _HTTP or proto in _TLS:
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
      endpoints:
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
def selector_and_endpoints(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None or spec.get("workloadSelector") is None or not _list(spec, "endpoints"):
        return
    yield Finding(
        ("spec", "endpoints"),
        "endpoints cannot be combined with workloadSelector: keep the selector to use the "
        "workloads it matches, or the endpoints to list them yourself",
        key=True,
    )


# --------------------------------------------------------------------------------------------
# Resolution


@rule(
    "ML639",
    "serviceentry-resolution-mismatch",
    Severity.ERROR,
    summary="A ServiceEntry uses a field or value its resolution does not allow.",
    rationale="""
        Each resolution mode takes its own shape of ServiceEntry, and Istio's webhook and
        CRD rules reject the others: NONE takes no endpoints; only NONE and STATIC take CIDR
        addresses; DNS_ROUND_ROBIN takes at most one endpoint; DNS and DNS_ROUND_ROBIN
        without endpoints resolve the hosts themselves, so these cannot be wildcards;
        DYNAMIC_DNS takes only wildcard hosts, no addresses and no endpoints, only HTTP,
        HTTP2, GRPC and TLS ports, and not MESH_INTERNAL with a waypoint.
    """,
    bad=_HEAD
    + """
    spec:
      hosts: ["*.example.com"]
      addresses: ["192.0.2.0/24"]
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
    source=f"{_SE} — 'no endpoints should be provided for resolution type none', 'CIDR "
    "addresses are allowed only for NONE/STATIC resolution types', 'there must only be 0 or 1 "
    "endpoint for resolution mode DNS_ROUND_ROBIN', 'hosts must be FQDN or contain only prefix "
    "wildcards if no endpoints are provided', 'host must be wildcarded for resolution mode "
    "DYNAMIC_DNS', …; "
    f"{_CEL} — 'NONE mode cannot set endpoints', 'DNS_ROUND_ROBIN mode cannot have multiple "
    "endpoints'",
    catalogue=(
        "se-addr-cidr-resolution",
        "se-none-endpoints",
        "se-dnsrr-endpoints",
        "se-dns-host-fqdn",
        "se-dyn-host-wild",
        "se-dyn-addresses",
        "se-dyn-endpoints",
        "se-dyn-proto",
        "se-dyn-internal-waypoint",
    ),
)
def resolution_mismatch(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    resolution = _resolution(spec)
    if resolution is None:
        return
    shown = (
        "resolution NONE (the default)" if "resolution" not in spec else f"resolution {resolution}"
    )
    endpoints = _list(spec, "endpoints")
    addresses = _list(spec, "addresses")
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
            f"{shown} takes no endpoints (traffic goes to the address the client asked for): "
            "remove them, or set resolution STATIC (IP endpoints) or DNS (host-name endpoints)",
            key=True,
        )
    elif resolution in ("DNS", "DNS_ROUND_ROBIN"):
        if resolution == "DNS_ROUND_ROBIN" and len(endpoints) > 1:
            yield Finding(
                ("spec", "endpoints", 1),
                f"resolution DNS_ROUND_ROBIN takes at most one endpoint; this has "
                f"{len(endpoints)}: use resolution DNS for several endpoints",
            )
        if not endpoints:
            for i, host in _hosts(spec):
                if host == "*" or check_wildcard_host(host) or not check_fqdn(host):
                    continue  # ML630 reports invalid hosts
                yield Finding(
                    ("spec", "hosts", i),
                    f"with {shown} and no endpoints Istio resolves the hosts themselves, so "
                    f"{host!r} must be a plain host name without wildcards: add endpoints, or use "
                    "resolution DYNAMIC_DNS or NONE for a wildcard",
                )
    elif resolution == "DYNAMIC_DNS":
        for i, host in _hosts(spec):
            if not host.startswith("*"):
                yield Finding(
                    ("spec", "hosts", i),
                    f"resolution DYNAMIC_DNS needs wildcard hosts such as *.example.com; "
                    f"{host!r} is not one: use resolution DNS for a single host",
                )
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
        for i, port in _ports(spec):
            proto = _protocol(port)
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


def _uses_waypoint(res: Resource) -> bool:
    labels = res.metadata.get("labels")
    if not isinstance(labels, dict):
        return False
    value = labels.get(_WAYPOINT_LABEL)
    return isinstance(value, str) and value != "" and value.lower() != "none"


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
      workloadSelector:
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
def none_resolution_with_selector(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None or spec.get("workloadSelector") is None or _resolution(spec) != "NONE":
        return
    shown = "NONE (the default)" if "resolution" not in spec else "NONE"
    yield Finding(
        ("spec", "workloadSelector"),
        f"with resolution {shown} the selected workloads are never used as endpoints: set "
        "resolution STATIC, or remove workloadSelector",
        key=True,
    )


# --------------------------------------------------------------------------------------------
# Endpoints


def _ep_port_name_problem(name: str) -> str | None:
    # CEL: shorter than 63 characters and a DNS label; the webhook: a DNS label.
    if is_dns_label(name) and len(name) < 63:
        return None
    if is_dns_label(name):
        return f"endpoint port name '{name}' is 63 characters long; the CRD allows at most 62"
    return check_port_name(name)


@rule(
    "ML641",
    "serviceentry-invalid-endpoint",
    Severity.ERROR,
    summary="A ServiceEntry endpoint has a missing or invalid address, or ports that are "
    "invalid or not declared by the ServiceEntry.",
    rationale="""
        An endpoint needs an address (or a network whose gateway reaches it): an IP or a
        `unix://` socket with resolution STATIC, an IP or a host name with DNS and
        DNS_ROUND_ROBIN. A unix socket endpoint takes no ports and its ServiceEntry exactly
        one. Endpoint `ports` map port names of the ServiceEntry to numbers 1-65535, and
        endpoint labels follow Kubernetes label syntax. Istio's webhook and CRD rules reject
        anything else.
    """,
    bad=_HEAD
    + """
    spec:
      hosts: ["db.example.com"]
      addresses: ["192.0.2.10"]
      ports:
      - {number: 5432, name: tcp-postgres, protocol: TCP}
      resolution: STATIC
      endpoints:
      - address: db-1.example.com
      - address: 10.0.0.12
        ports:
          tcp-postgress: 5433
    """,
    good=_HEAD
    + """
    spec:
      hosts: ["db.example.com"]
      addresses: ["192.0.2.10"]
      ports:
      - {number: 5432, name: tcp-postgres, protocol: TCP}
      resolution: STATIC
      endpoints:
      - address: 10.0.0.11
      - address: 10.0.0.12
        ports:
          tcp-postgres: 5433
    """,
    kinds=KINDS,
    istio="IST0106",
    source=f"{_WE} — 'address is required', 'endpoint address %q is not a valid IP address', "
    "'unix endpoint %s must not include ports', 'endpoint port %v is not defined by the "
    "service entry', 'exactly 1 service port required for unix endpoints'; "
    f"{_SE} — 'endpoint address %q is not a valid FQDN or an IP address'; {_CEL} — 'Address is "
    "required', 'UDS must be an absolute path or abstract socket', 'UDS may not include ports', "
    "'port name must be valid'",
    catalogue=(
        "se-ep-address-missing",
        "se-ep-static-ip",
        "se-ep-dns-addr",
        "se-ep-uds-path",
        "se-ep-uds-ports",
        "se-ep-uds-one-port",
        "se-ep-port-undeclared",
        "se-ep-port-name",
        "se-ep-port-number",
        "se-ep-labels",
    ),
)
def invalid_endpoint(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    resolution = _resolution(spec)
    webhook = resolution in ("STATIC", "DNS", "DNS_ROUND_ROBIN")
    # (a name of the wrong type, which the schema stage reports, still counts as one port)
    declared = {
        name if isinstance(name, (str, int, type(None))) else repr(name)
        for name in (p.get("name") for _, p in _ports(spec))
    }
    for i, ep in _endpoints(spec):
        base: FieldPath = ("spec", "endpoints", i)
        address = ep.get("address")
        network = ep.get("network")
        if address is not None and not isinstance(address, str):
            continue  # the schema stage reports it
        ports = ep.get("ports")
        if address is None and network is None:
            yield Finding(
                base,
                "this endpoint has no address: give an IP address"
                + (", a host name" if resolution in ("DNS", "DNS_ROUND_ROBIN") else "")
                + " or a unix:// socket (or a network, for an endpoint reached through that "
                "network's gateway)",
            )
        elif address is not None and address.startswith(_UNIX):
            problem = check_unix_address(address)
            if problem:
                yield Finding((*base, "address"), problem)
            elif resolution in ("DNS", "DNS_ROUND_ROBIN"):
                yield Finding(
                    (*base, "address"),
                    f"a unix socket endpoint needs resolution STATIC, not {resolution}",
                )
            if ports is not None:
                yield Finding(
                    (*base, "ports"),
                    "a unix socket endpoint takes no ports: remove them",
                    key=True,
                )
            elif resolution == "STATIC" and len(declared) != 1:
                yield Finding(
                    (*base, "address"),
                    "a ServiceEntry with a unix socket endpoint must declare exactly one port; "
                    f"this one declares {len(declared)}",
                )
        elif resolution == "STATIC":
            if not address:
                if network is None or network == "":
                    yield Finding(
                        (*base, "address") if address is not None else base,
                        "this endpoint has an empty address: with resolution STATIC give an IP "
                        "address or a unix:// socket",
                    )
            elif not is_ip(address):
                yield Finding(
                    (*base, "address"),
                    f"'{address}' is not an IP address: with resolution STATIC endpoints are IP "
                    "addresses or unix:// sockets; for a host name use resolution DNS",
                )
        elif resolution in ("DNS", "DNS_ROUND_ROBIN") and address is not None:
            if address == "":
                yield Finding(
                    (*base, "address"),
                    f"this endpoint has an empty address: with resolution {resolution} give an "
                    "IP address or a host name",
                )
            elif not is_ip(address):
                problem = check_fqdn(address)
                if problem:
                    yield Finding(
                        (*base, "address"),
                        f"{problem} (with resolution {resolution} an endpoint address is an IP "
                        "address or a host name)",
                    )
        elif resolution in ("DNS", "DNS_ROUND_ROBIN") and network is not None:
            yield Finding(
                base,
                f"this endpoint has no address: with resolution {resolution} give an IP address "
                "or a host name",
            )
        if isinstance(ports, dict):
            for name, number in ports.items():
                if not isinstance(name, str):
                    continue
                where: FieldPath = (*base, "ports", name)
                problem = _ep_port_name_problem(name)
                if problem:
                    yield Finding(where, problem, key=True)
                elif webhook and name not in declared:
                    known = ", ".join(sorted(str(n) for n in declared if isinstance(n, str)))
                    yield Finding(
                        where,
                        f"port '{name}' is not a port of this ServiceEntry: endpoint ports are "
                        "named after spec.ports" + (f" ({known})" if known else " (none declared)"),
                        key=True,
                    )
                if is_int(number):
                    problem = check_port(number)
                    if problem:
                        yield Finding(where, f"{problem}: use a port from 1 to 65535")
        labels = ep.get("labels")
        if webhook and isinstance(labels, dict):
            for key, problem in check_labels(labels):
                value_problem = problem.startswith("label value")
                yield Finding((*base, "labels", key), problem, key=not value_problem)


@rule(
    "ML642",
    "serviceentry-endpoint-without-address",
    Severity.WARNING,
    summary="A STATIC ServiceEntry endpoint has a network but an empty address.",
    rationale="""
        An endpoint with only a `network` is reached through that network's gateway, and
        only from other networks; Istio admits it with a warning because an empty address
        is more often a mistake than a gateway-only endpoint.
    """,
    bad=_HEAD
    + """
    spec:
      hosts: ["payments.remote"]
      addresses: ["192.0.2.20"]
      ports:
      - {number: 80, name: http, protocol: HTTP}
      location: MESH_INTERNAL
      resolution: STATIC
      endpoints:
      - address: ""
        network: network-2
    """,
    good=_HEAD
    + """
    spec:
      hosts: ["payments.remote"]
      addresses: ["192.0.2.20"]
      ports:
      - {number: 80, name: http, protocol: HTTP}
      location: MESH_INTERNAL
      resolution: STATIC
      endpoints:
      - address: 10.2.0.15
        network: network-2
    """,
    kinds=KINDS,
    istio="IST0133",
    source=f"{_WE} (warning) — 'address is unset with network %q'",
    catalogue=("se-ep-address-network",),
)
def endpoint_without_address(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None or _resolution(spec) != "STATIC":
        return
    for i, ep in _endpoints(spec):
        address, network = ep.get("address"), ep.get("network")
        if (address is None or address == "") and isinstance(network, str) and network:
            path: FieldPath = (
                "spec",
                "endpoints",
                i,
                "address" if address is not None else "network",
            )
            yield Finding(
                path,
                f"this endpoint has no address, only network {network!r}: it is reached only "
                "through that network's gateway; give its IP address if it has one",
            )


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
      hosts: ["a.example.com", "b.example.com"]
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
def dns_tls_multiple_hosts(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None or _resolution(spec) not in ("DNS", "DNS_ROUND_ROBIN"):
        return
    if not _list(spec, "addresses") or len(_list(spec, "hosts")) <= 1:
        return
    ports = list(_ports(spec))
    if any(_protocol(p) not in _HTTP and _protocol(p) not in _TLS for _, p in ports):
        return  # ML635 rejects it outright
    for _, port in ports:
        if _protocol(port) in _TCP:
            yield Finding(
                ("spec", "hosts"),
                f"{len(_list(spec, 'hosts'))} hosts share the addresses of this ServiceEntry on "
                f"TCP-based port {port.get('number')}: connections to the addresses cannot be told "
                "apart by host; use one ServiceEntry per host",
                key=True,
            )
            return


@rule(
    "ML644",
    "serviceentry-invalid-export-to",
    Severity.ERROR,
    summary="A ServiceEntry's `exportTo` has an invalid, repeated or conflicting entry.",
    rationale="""
        `exportTo` lists the namespaces that see the ServiceEntry: `.` (its own), `*` (all),
        `~` (none) or namespace names. Istio's webhook rejects an entry that is none of
        these, an entry given twice (`.` and the own namespace count as the same), and `*`
        or `~` together with other entries.
    """,
    bad=_HEAD
    + """
    spec:
      hosts: ["api.example.com"]
      ports:
      - {number: 443, name: tls, protocol: TLS}
      resolution: DNS
      exportTo: [".", "shop", "*"]
    """,
    good=_HEAD
    + """
    spec:
      hosts: ["api.example.com"]
      ports:
      - {number: 443, name: tls, protocol: TLS}
      resolution: DNS
      exportTo: [".", "billing"]
    """,
    kinds=KINDS,
    istio="IST0106",
    source="webhook: pkg/config/validation/validation.go (validateExportTo) — 'duplicate "
    "entries in exportTo', 'cannot have both public (*) and non-public exportTo values', "
    "'cannot export service entry to no one (~) and someone'",
    catalogue=(
        "se-export-dup",
        "se-export-dot-own",
        "se-export-entry",
        "se-export-star-mix",
        "se-export-none-mix",
    ),
)
def invalid_export_to(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for i, problem in check_export_to(
        spec.get("exportTo"), allow_none=True, own_namespace=res.namespace
    ):
        yield Finding(("spec", "exportTo", i), problem)
