"""ServiceEntry hosts, addresses and exportTo: the names the service is reached by, and
who sees it.

Facts: istio/istio ``pkg/config/validation/validation.go`` (``ValidateServiceEntry``, ``validateExportTo``) and
the CEL rules of the ServiceEntry CRD (istio/api ``networking/v1alpha3/service_entry.proto``).
Shapes, enums, required fields and list or string limits are the schema stage's (ML206-ML209).
"""

from __future__ import annotations

from collections.abc import Iterator

from meshlint.diagnostics import FieldPath, Severity
from meshlint.resource import Resource
from meshlint.rules import Finding, rule
from meshlint.rules.lib.grammar import (
    check_cidr,
    check_export_to,
    check_partial_wildcard,
    check_wildcard_host,
)
from meshlint.rules.lib.serviceentry import (
    host_items,
    list_of,
)

KINDS = {"ServiceEntry"}
_SE = "webhook: pkg/config/validation/validation.go (ValidateServiceEntry)"
_CEL = "CEL: the ServiceEntry CRD (x-kubernetes-validations)"

_HEAD = """
    apiVersion: networking.istio.io/v1
    kind: ServiceEntry
    metadata:
      name: payments-api
      namespace: shop
"""

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
      hosts: ["*", "api..example.com"]  # expect: ML630@11 spec.hosts[0]; ML630@16 spec.hosts[1]
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
def serviceentry_invalid_host(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for i, host in host_items(spec):
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
      hosts: ["*api.example.com"]  # expect: ML631@11 spec.hosts[0]
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
def serviceentry_partial_wildcard_host(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None or spec.get("resolution") == "DYNAMIC_DNS":
        return
    for i, host in host_items(spec):
        if host == "*" or check_wildcard_host(host):
            continue  # ML630 reports it
        problem = check_partial_wildcard(host)
        if problem:
            yield Finding(("spec", "hosts", i), problem)


# --------------------------------------------------------------------------------------------
# Addresses and exportTo


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
      addresses: ["10.0.0.300", "db.example.com"]  # expect: ML632@15 spec.addresses[0]; ML632@29 spec.addresses[1]
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
def serviceentry_invalid_address(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for i, address in enumerate(list_of(spec, "addresses")):
        problem = check_cidr(address)
        if problem:
            yield Finding(("spec", "addresses", i), problem)


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
      exportTo: [".", "shop", "*"]  # expect: ML644@19 spec.exportTo[1]; ML644@27 spec.exportTo[2]
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
def serviceentry_invalid_export_to(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for i, problem in check_export_to(
        spec.get("exportTo"), allow_none=True, own_namespace=res.namespace
    ):
        yield Finding(("spec", "exportTo", i), problem)
