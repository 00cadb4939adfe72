"""ServiceEntry endpoints: their addresses, ports and labels.

Facts: istio/istio ``pkg/config/validation/validation.go`` (``ValidateServiceEntry``, ``validateWorkloadEntry``)
and the CEL rules of the ServiceEntry CRD (istio/api ``networking/v1alpha3/service_entry.proto``,
``workload_entry.proto``). Shapes, enums, required fields and list or string limits are the
schema stage's (ML206-ML209).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from meshlint.diagnostics import FieldPath, Severity
from meshlint.resource import Resource
from meshlint.rules import Finding, rule
from meshlint.rules.lib.grammar import (
    UNIX_PREFIX,
    check_fqdn,
    check_labels,
    check_port,
    check_port_name,
    check_unix_address,
    is_dns_label,
    is_ip,
)
from meshlint.rules.lib.guards import is_int
from meshlint.rules.lib.serviceentry import (
    endpoint_items,
    port_items,
    resolution_of,
)

KINDS = {"ServiceEntry"}
_SE = "webhook: pkg/config/validation/validation.go (ValidateServiceEntry)"
_WE = "webhook: pkg/config/validation/validation.go (validateWorkloadEntry)"
_CEL = "CEL: the ServiceEntry CRD (x-kubernetes-validations)"

_HEAD = """
    apiVersion: networking.istio.io/v1
    kind: ServiceEntry
    metadata:
      name: payments-api
      namespace: shop
"""

# --------------------------------------------------------------------------------------------
# Endpoints


def _declared_ports(spec: dict[str, Any]) -> set[Any]:
    """The names of the ServiceEntry's ports (a name of the wrong type, which the schema stage
    reports, still counts as one port)."""
    return {
        name if isinstance(name, (str, int, type(None))) else repr(name)
        for name in (p.get("name") for _, p in port_items(spec))
    }


def _checked_endpoints(spec: dict[str, Any]) -> Iterator[tuple[FieldPath, dict[str, Any]]]:
    """The endpoints with their path, but those whose address has the wrong type (the schema
    stage reports it)."""
    for i, ep in endpoint_items(spec):
        address = ep.get("address")
        if address is None or isinstance(address, str):
            yield ("spec", "endpoints", i), ep


@rule(
    "ML641",
    "serviceentry-invalid-endpoint",
    Severity.ERROR,
    summary="A ServiceEntry endpoint has a missing or invalid address, or a unix socket "
    "address its ServiceEntry cannot take.",
    rationale="""
        An endpoint needs an address (or a network whose gateway reaches it): an IP or a
        `unix://` socket with resolution STATIC, an IP or a host name with DNS and
        DNS_ROUND_ROBIN. A unix socket endpoint takes no ports and its ServiceEntry exactly
        one. Istio's webhook and CRD rules reject anything else.

        Until 0.2 this rule also reported endpoint ports (ML645 now) and endpoint labels
        (ML646 now).
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
      - address: db-1.example.com  # expect: ML641@14 spec.endpoints[0].address
      - address: 10.0.0.12
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
    """,
    kinds=KINDS,
    istio="IST0106",
    source=f"{_WE} — 'address is required', 'endpoint address %q is not a valid IP address', "
    "'unix endpoint %s must not include ports', 'exactly 1 service port required for unix "
    f"endpoints'; {_SE} — 'endpoint address %q is not a valid FQDN or an IP address'; {_CEL} — "
    "'Address is required', 'UDS must be an absolute path or abstract socket', 'UDS may not "
    "include ports'",
    catalogue=(
        "se-ep-address-missing",
        "se-ep-static-ip",
        "se-ep-dns-addr",
        "se-ep-uds-path",
        "se-ep-uds-ports",
        "se-ep-uds-one-port",
    ),
)
def serviceentry_invalid_endpoint(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    resolution = resolution_of(spec)
    declared = _declared_ports(spec)
    for base, ep in _checked_endpoints(spec):
        address = ep.get("address")
        network = ep.get("network")
        ports = ep.get("ports")
        if address is None and network is None:
            yield Finding(
                base,
                "this endpoint has no address: give an IP address"
                + (", a host name" if resolution in ("DNS", "DNS_ROUND_ROBIN") else "")
                + " or a unix:// socket (or a network, for an endpoint reached through that "
                "network's gateway)",
            )
        elif address is not None and address.startswith(UNIX_PREFIX):
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


def _ep_port_name_problem(name: str) -> str | None:
    # CEL: shorter than 63 characters and a DNS label; the webhook: a DNS label.
    if is_dns_label(name) and len(name) < 63:
        return None
    if is_dns_label(name):
        return f"endpoint port name '{name}' is 63 characters long; the CRD allows at most 62"
    return check_port_name(name)


@rule(
    "ML645",
    "serviceentry-invalid-endpoint-port",
    Severity.ERROR,
    summary="A ServiceEntry endpoint maps a port name that is invalid or not a port of the "
    "ServiceEntry, or maps it to a number outside 1-65535.",
    rationale="""
        An endpoint's `ports` send the ServiceEntry's ports to other numbers on that endpoint:
        each key is the name of a port in `spec.ports` (a DNS label shorter than 63
        characters), each value a port number from 1 to 65535. A mistyped name is rejected by
        Istio's webhook, not ignored; so are invalid names and numbers.

        Split off ML641 (serviceentry-invalid-endpoint) in 0.2.
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
      - address: 10.0.0.12
        ports:
          tcp-postgress: 5433  # expect: ML645@7 spec.endpoints[0].ports.tcp-postgress
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
      - address: 10.0.0.12
        ports:
          tcp-postgres: 5433
    """,
    kinds=KINDS,
    istio="IST0106",
    source=f"{_WE} — 'endpoint port %v is not defined by the service entry', ValidatePort; "
    f"{_CEL} — 'port name must be valid'",
    catalogue=("se-ep-port-undeclared", "se-ep-port-name", "se-ep-port-number"),
    aliases=("ML641",),
)
def serviceentry_invalid_endpoint_port(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    webhook = resolution_of(spec) in ("STATIC", "DNS", "DNS_ROUND_ROBIN")
    declared = _declared_ports(spec)
    for base, ep in _checked_endpoints(spec):
        ports = ep.get("ports")
        if not isinstance(ports, dict):
            continue
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


@rule(
    "ML646",
    "serviceentry-invalid-endpoint-label",
    Severity.ERROR,
    summary="A ServiceEntry endpoint label has an invalid key or value.",
    rationale="""
        Endpoint labels are Kubernetes labels, matched by DestinationRule subsets and
        selectors: a key is an optional DNS prefix and `/` before a name of up to 63
        letters, digits, `-`, `_` and `.`; a value is such a name or empty. Istio's webhook
        rejects any other label of an endpoint.

        Split off ML641 (serviceentry-invalid-endpoint) in 0.2.
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
      - address: 10.0.0.12
        labels:
          app: db
          version: v1/primary  # expect: ML646@16 spec.endpoints[0].labels.version
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
      - address: 10.0.0.12
        labels:
          app: db
          version: v1-primary
    """,
    kinds=KINDS,
    istio="IST0106",
    source=f"{_WE} — the endpoint's labels, validated as Kubernetes labels",
    catalogue=("se-ep-labels",),
    aliases=("ML641",),
)
def serviceentry_invalid_endpoint_label(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None or resolution_of(spec) not in ("STATIC", "DNS", "DNS_ROUND_ROBIN"):
        return
    for base, ep in _checked_endpoints(spec):
        labels = ep.get("labels")
        if isinstance(labels, dict):
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
      - address: ""  # expect: ML642@14 spec.endpoints[0].address
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
def serviceentry_endpoint_without_address(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None or resolution_of(spec) != "STATIC":
        return
    for i, ep in endpoint_items(spec):
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
