"""Sidecar egress listeners: the catch-all, their ports, binds and hosts.

Facts: istio/istio ``pkg/config/validation/validation.go`` (``ValidateSidecar``,
``validateSidecarEgressPortBindAndCaptureMode``) and ``pkg/config/validation/agent/validation.go``
(``ValidateNamespaceSlashWildcardHostname``). Shapes, enums and required fields are the schema
stage's (ML206-ML209) and are not repeated here.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from meshlint.diagnostics import FieldPath, Severity
from meshlint.resource import Resource
from meshlint.rules import Finding, rule
from meshlint.rules.lib.grammar import (
    UNIX_PREFIX,
    check_ip,
    check_ns_slash_host,
    check_port,
    check_unix_address,
)
from meshlint.rules.lib.listeners import (
    listeners,
    sidecar_port_number,
    sidecar_port_problems,
)

KINDS = {"Sidecar"}
_SC = "webhook: pkg/config/validation/validation.go (ValidateSidecar)"

_HEAD = """
    apiVersion: networking.istio.io/v1
    kind: Sidecar
    metadata:
      name: ratings
      namespace: shop
    spec:
"""

# --------------------------------------------------------------------------------------------
# Egress listeners


@rule(
    "ML667",
    "sidecar-misplaced-catch-all-egress",
    Severity.ERROR,
    summary="A Sidecar egress listener without a port is not the last one, or there is more "
    "than one.",
    rationale="""
        An egress listener without `port` is the catch-all for every port the other listeners
        do not name. Istio's webhook accepts only one, and only as the last listener.
    """,
    bad=_HEAD
    + """
      egress:
      - hosts: ["./*"]  # expect: ML667@5 spec.egress[0]
      - port: {number: 9080, name: http, protocol: HTTP}
        hosts: ["./reviews.shop.svc.cluster.local"]
    """,
    good=_HEAD
    + """
      egress:
      - port: {number: 9080, name: http, protocol: HTTP}
        hosts: ["./reviews.shop.svc.cluster.local"]
      - hosts: ["./*"]
    """,
    kinds=KINDS,
    istio="IST0106",
    source=f"{_SC} — 'sidecar: the egress listener with empty port should be the last listener "
    "in the list', 'sidecar: egress can have only one listener with empty port'",
    catalogue=("sc-eg-catchall-last", "sc-eg-catchall-dup"),
)
def sidecar_misplaced_catch_all_egress(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    egress = spec.get("egress")
    if not isinstance(egress, list):
        return
    found = False
    last = len(egress) - 1
    for i, listener in enumerate(egress):
        if not isinstance(listener, dict) or listener.get("port") is not None:
            continue
        path: FieldPath = ("spec", "egress", i)
        if found:
            yield Finding(
                path,
                "a Sidecar may have only one egress listener without a port (the catch-all)",
            )
        elif i == last:
            found = True
        else:
            yield Finding(
                path,
                "the egress listener without a port is the catch-all and must be the last "
                "listener: move it to the end",
            )


def _egress_ports(
    spec: dict[str, Any],
) -> Iterator[tuple[int, dict[str, Any], dict[str, Any], int | None, str]]:
    """The egress listeners that have a port mapping: (index, listener, port, port number (0
    when omitted, None when not an integer), bind ("" when not a string))."""
    for i, listener in listeners(spec, "egress"):
        port = listener.get("port")
        if isinstance(port, dict):
            bind = listener.get("bind")
            yield (
                i,
                listener,
                port,
                sidecar_port_number(port),
                bind if isinstance(bind, str) else "",
            )


@rule(
    "ML668",
    "sidecar-invalid-egress-listener",
    Severity.ERROR,
    summary="A Sidecar egress listener's port has an invalid number, name or protocol, or a "
    "targetPort.",
    rationale="""
        An egress listener with a port listens on that number, from 1 to 65535 (0 or none
        makes it a unix socket listener). Port names must be DNS labels, protocols known to
        Istio, and there is no targetPort. Istio's webhook rejects anything else.

        Until 0.2 this rule also reported the bind and capture mode (ML676 now) and a port or
        socket two listeners use (ML677 now).
    """,
    bad=_HEAD
    + """
      egress:
      - port: {number: 70000, name: http_alt, protocol: HTTP}  # expect: ML668@20 spec.egress[0].port.number; ML668@33 spec.egress[0].port.name
        hosts: ["./reviews.shop.svc.cluster.local"]
    """,
    good=_HEAD
    + """
      egress:
      - port: {number: 9080, name: http-alt, protocol: HTTP}
        hosts: ["./reviews.shop.svc.cluster.local"]
    """,
    kinds=KINDS,
    istio="IST0106",
    source=f"{_SC}, validateSidecarEgressPortBindAndCaptureMode — 'targetPort has no impact on "
    "Sidecars', 'invalid port name', 'unsupported protocol', ValidatePort",
    catalogue=(
        "sc-eg-target-port",
        "sc-eg-port-name",
        "sc-eg-port-proto",
        "sc-eg-port-number",
    ),
)
def sidecar_invalid_egress_listener(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for i, _, port, number, _ in _egress_ports(spec):
        base: FieldPath = ("spec", "egress", i)
        yield from sidecar_port_problems(port, (*base, "port"))
        if number is None or number == 0:
            continue
        problem = check_port(number)
        if problem:
            yield Finding((*base, "port", "number"), problem)


@rule(
    "ML676",
    "sidecar-invalid-egress-bind",
    Severity.ERROR,
    summary="A Sidecar egress listener's `bind` does not fit its port: port 0 without a valid "
    "unix socket, a unix socket with a port number or a capture mode, or an IP bind that is "
    "not an IP address.",
    rationale="""
        An egress listener with a port number listens on it, optionally on one IP address
        (`bind`); with port number 0 (or none) it is a unix socket listener, which needs
        `bind: unix://` followed by an absolute path or an abstract socket name (`@name`), and
        captureMode DEFAULT or NONE (traffic cannot be captured to a socket). Istio's webhook
        rejects any other combination.

        Split off ML668 (sidecar-invalid-egress-listener) in 0.2.
    """,
    bad=_HEAD
    + """
      egress:
      - port: {number: 9080, name: http, protocol: HTTP}
        bind: localhost  # expect: ML676@11 spec.egress[0].bind
        hosts: ["./reviews.shop.svc.cluster.local"]
      - port: {name: local, protocol: HTTP}  # expect: ML676@5 spec.egress[1].port
        hosts: ["./details.shop.svc.cluster.local"]
    """,
    good=_HEAD
    + """
      egress:
      - port: {number: 9080, name: http, protocol: HTTP}
        bind: 127.0.0.1
        hosts: ["./reviews.shop.svc.cluster.local"]
      - port: {number: 0, name: local, protocol: HTTP}
        bind: unix:///var/run/details.sock
        captureMode: NONE
        hosts: ["./details.shop.svc.cluster.local"]
    """,
    kinds=KINDS,
    istio="IST0106",
    source=f"{_SC}, validateSidecarEgressPortBindAndCaptureMode — 'sidecar: ports with 0 value "
    "must have a unix domain socket bind address', 'captureMode must be DEFAULT/NONE for unix "
    "domain socket listeners', ValidateUnixAddress, ValidateIPAddress",
    catalogue=("sc-eg-uds-bind", "sc-eg-uds-path", "sc-eg-uds-capture", "sc-eg-bind-ip"),
    aliases=("ML668",),
)
def sidecar_invalid_egress_bind(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for i, listener, _, number, bind in _egress_ports(spec):
        base: FieldPath = ("spec", "egress", i)
        if number is None:
            continue
        if number == 0:
            if not bind.startswith(UNIX_PREFIX):
                where: FieldPath = (*base, "bind") if bind else (*base, "port")
                yield Finding(
                    where,
                    "a listener with port number 0 (or none) listens on a unix socket and needs "
                    "bind: unix://<path>; or give the port a number",
                    key=not bind,
                )
            else:
                problem = check_unix_address(bind)
                if problem:
                    yield Finding((*base, "bind"), problem)
            capture = listener.get("captureMode")
            if capture not in (None, "DEFAULT", "NONE") and isinstance(capture, str):
                yield Finding(
                    (*base, "captureMode"),
                    f"captureMode {capture} is not possible on a unix socket listener: use "
                    "DEFAULT or NONE",
                )
        elif bind.startswith(UNIX_PREFIX):
            yield Finding(
                (*base, "bind"),
                f"a unix socket bind needs port number 0, not {number}: set number: 0, or bind "
                "an IP address",
            )
        elif bind:
            problem = check_ip(bind)
            if problem:
                yield Finding(
                    (*base, "bind"),
                    f"{problem}: bind takes an IP address (or unix://<path> with port number 0)",
                )


@rule(
    "ML677",
    "sidecar-duplicate-egress-listener",
    Severity.ERROR,
    summary="Two Sidecar egress listeners use the same port number or the same unix socket.",
    rationale="""
        Each egress listener with a port number opens its own port, and each unix socket
        listener its own socket; Istio's webhook rejects a Sidecar whose egress listeners
        repeat one. Merge their hosts into one listener, or give each its own port or socket.

        Split off ML668 (sidecar-invalid-egress-listener) in 0.2.
    """,
    bad=_HEAD
    + """
      egress:
      - port: {number: 9080, name: http, protocol: HTTP}
        hosts: ["./reviews.shop.svc.cluster.local"]
      - port: {number: 9080, name: http-2, protocol: HTTP}  # expect: ML677@20 spec.egress[1].port.number
        hosts: ["./ratings.shop.svc.cluster.local"]
    """,
    good=_HEAD
    + """
      egress:
      - port: {number: 9080, name: http, protocol: HTTP}
        hosts: ["./reviews.shop.svc.cluster.local", "./ratings.shop.svc.cluster.local"]
    """,
    kinds=KINDS,
    istio="IST0106",
    source=f"{_SC}, validateSidecarEgressPortBindAndCaptureMode — 'unix domain socket values "
    "for listeners must be unique', 'ports on IP bound listeners must be unique'",
    catalogue=("sc-eg-uds-dup", "sc-eg-port-dup"),
    aliases=("ML668",),
)
def sidecar_duplicate_egress_listener(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    ports: dict[int, int] = {}
    sockets: dict[str, int] = {}
    for i, _, _, number, bind in _egress_ports(spec):
        base: FieldPath = ("spec", "egress", i)
        if number is None:
            continue
        if number == 0:
            if bind in sockets:
                yield Finding(
                    (*base, "bind") if bind else (*base, "port"),
                    f"egress[{sockets[bind]}] already listens on "
                    + (f"'{bind}'" if bind else "a unix socket without bind")
                    + ": each unix socket listener needs its own bind",
                    key=not bind,
                )
            else:
                sockets[bind] = i
        elif not check_port(number):
            if number in ports:
                yield Finding(
                    (*base, "port", "number"),
                    f"port {number} is already used by egress[{ports[number]}]: each egress "
                    "listener needs its own port",
                )
            else:
                ports[number] = i


@rule(
    "ML669",
    "sidecar-invalid-egress-host",
    Severity.ERROR,
    summary="A Sidecar egress host is not `namespace/dnsName`.",
    rationale="""
        Egress hosts name what the workload may reach, always as `namespace/dnsName`: the
        namespace is `*`, `.`, a namespace name, or `~` (none) before the host; the name is
        `*`, a fully qualified name or a leading wildcard such as `*.example.com`. Istio's
        webhook rejects a missing namespace, short names (`reviews`) and partial wildcards.

        Until 0.2 this rule also reported an egress listener without hosts, which is ML678
        now.
    """,
    bad=_HEAD
    + """
      egress:
      - hosts: ["reviews.shop.svc.cluster.local", "./ratings", "istio-system/*"]  # expect: ML669@13 spec.egress[0].hosts[0]; ML669@47 spec.egress[0].hosts[1]
    """,
    good=_HEAD
    + """
      egress:
      - hosts: ["./reviews.shop.svc.cluster.local", "./ratings.shop.svc.cluster.local", "istio-system/*"]
    """,
    kinds=KINDS,
    istio="IST0106",
    source="pkg/config/validation/agent/validation.go (ValidateNamespaceSlashWildcardHostname), "
    f"called from {_SC}",
    catalogue=(
        "sc-eg-host-form",
        "sc-eg-host-ns",
        "sc-eg-host-short",
        "sc-eg-host-syntax",
        "sc-eg-host-partial",
    ),
)
def sidecar_invalid_egress_host(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for i, listener in listeners(spec, "egress"):
        hosts = listener.get("hosts")
        if not isinstance(hosts, list):
            continue
        for j, host in enumerate(hosts):
            problem = check_ns_slash_host(host, require_slash=True)
            if problem:
                yield Finding(("spec", "egress", i, "hosts", j), problem)


@rule(
    "ML678",
    "sidecar-egress-listener-without-hosts",
    Severity.ERROR,
    summary="A Sidecar egress listener has an empty `hosts` list.",
    rationale="""
        An egress listener imports the services its hosts name into the workload's proxy;
        with none it imports nothing, so the listener is useless. Istio's webhook rejects it.
        List the hosts, e.g. `./*` and `istio-system/*`, or remove the listener.

        Split off ML669 (sidecar-invalid-egress-host) in 0.2.
    """,
    bad=_HEAD
    + """
      egress:
      - port: {number: 9080, name: http, protocol: HTTP}
        hosts: []  # expect: ML678@12 spec.egress[0].hosts
      - hosts: ["./*", "istio-system/*"]
    """,
    good=_HEAD
    + """
      egress:
      - port: {number: 9080, name: http, protocol: HTTP}
        hosts: ["./reviews.shop.svc.cluster.local"]
      - hosts: ["./*", "istio-system/*"]
    """,
    kinds=KINDS,
    istio="IST0106",
    source=f"{_SC} — 'sidecar: egress listener must contain at least one host'",
    catalogue=("sc-eg-hosts-empty",),
    aliases=("ML669",),
)
def sidecar_egress_listener_without_hosts(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for i, listener in listeners(spec, "egress"):
        hosts = listener.get("hosts")
        if isinstance(hosts, list) and not hosts:
            yield Finding(
                ("spec", "egress", i, "hosts"),
                "an egress listener needs at least one host, e.g. ./* or istio-system/*",
            )


@rule(
    "ML670",
    "sidecar-duplicate-egress-host",
    Severity.WARNING,
    summary="A Sidecar egress listener lists a host twice, a host its `ns/*` already covers, "
    "or `*/*` beside other hosts.",
    rationale="""
        Within one egress listener, `ns/*` already imports every host of the namespace and
        `*/*` every host of the mesh, so further entries add nothing and usually show a
        misunderstanding of the import. Istio admits them with a warning.
    """,
    bad=_HEAD
    + """
      egress:
      - hosts: ["./*", "./reviews.shop.svc.cluster.local", "istio-system/*"]  # expect: ML670@20 spec.egress[0].hosts[1]
    """,
    good=_HEAD
    + """
      egress:
      - hosts: ["./*", "istio-system/*"]
    """,
    kinds=KINDS,
    istio="IST0133",
    source=f"{_SC} (warning) — 'duplicated egress host', '`*/*` host select all resources, no "
    "other hosts can be added'",
    catalogue=("sc-eg-host-dup", "sc-eg-host-star-star"),
)
def sidecar_duplicate_egress_host(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    own = res.namespace or "."
    for i, listener in listeners(spec, "egress"):
        hosts = listener.get("hosts")
        if not isinstance(hosts, list):
            continue
        imported: dict[str, set[str]] = {}
        wildcard: dict[str, str] = {}  # namespace -> the `ns/*` entry that imports it all
        star_star: int | None = None
        for j, host in enumerate(hosts):
            if not isinstance(host, str):
                continue
            ns, slash, name = host.partition("/")
            if not slash or ns.startswith("~"):
                continue
            ns = own if ns == "." else ns
            names = imported.setdefault(ns, set())
            path: FieldPath = ("spec", "egress", i, "hosts", j)
            if name != "*":
                if name in names:
                    yield Finding(path, f"'{host}' is already listed in this listener")
                elif "*" in names:
                    yield Finding(
                        path,
                        f"'{host}' is already imported by '{wildcard[ns]}' in this listener",
                    )
            elif names:
                yield Finding(
                    path,
                    f"'{host}' imports every host of the namespace: the entries for that "
                    "namespace listed before it are redundant",
                )
            names.add(name)
            if name == "*":
                wildcard.setdefault(ns, host)
            if ns == "*" and name == "*" and star_star is None:
                star_star = j
        if star_star is not None and len(imported) > 1:
            yield Finding(
                ("spec", "egress", i, "hosts", star_star),
                "'*/*' already imports every host of the mesh: the other hosts of this listener "
                "add nothing",
            )
