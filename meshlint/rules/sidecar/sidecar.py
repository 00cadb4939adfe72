"""Field validation of sidecar: what Istio's webhook and CRD rules reject.

Facts: istio/istio ``pkg/config/validation/validation.go`` (``ValidateSidecar``,
``ValidateAlphaWorkloadSelector``, ``validateSidecarIngressPortAndBind``,
``validateSidecarEgressPortBindAndCaptureMode``, ``validateSidecarOutboundTrafficPolicy``,
``validateDestination``) and ``pkg/config/validation/agent/validation.go``
(``ValidateNamespaceSlashWildcardHostname``). The TLS options of ingress listeners are checked by
the server TLS rules of the gateway module (ML607-ML612), which see Sidecars too. Shapes, enums
and required fields are the schema stage's (ML206-ML209) and are not repeated here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from meshlint.diagnostics import FieldPath, Severity
from meshlint.resource import Resource
from meshlint.rules import Finding, rule
from meshlint.rules.lib.grammar import (
    HTTP_PROTOCOLS,
    TLS_PROTOCOLS,
    UNIX_PREFIX,
    check_destination,
    check_fqdn,
    check_ip,
    check_ns_slash_host,
    check_port,
    check_port_name,
    check_protocol,
    check_unix_address,
    is_int,
    parse_protocol,
)
from meshlint.rules.lib.traffic import (
    connection_pool_findings,
    duration_findings,
)

KINDS = {"Sidecar"}
_SC = "webhook: pkg/config/validation/validation.go (ValidateSidecar)"
_GO_INT = re.compile(r"[+-]?[0-9]+")
_DEFAULT_HOSTS = ("", "127.0.0.1", "0.0.0.0", "::1", "::")

_HEAD = """
    apiVersion: networking.istio.io/v1
    kind: Sidecar
    metadata:
      name: ratings
      namespace: shop
    spec:
"""


def _listeners(spec: dict[str, Any], key: str) -> Iterator[tuple[int, dict[str, Any]]]:
    items = spec.get(key)
    if isinstance(items, list):
        for i, item in enumerate(items):
            if isinstance(item, dict):
                yield i, item


def _port_number(port: dict[str, Any]) -> int | None:
    """The port number, 0 when omitted (Go's zero value); None when not an integer."""
    number = port.get("number", 0)
    if number is None:
        return 0
    return number if is_int(number) else None


# --------------------------------------------------------------------------------------------
# Workload selector, empty Sidecar


@rule(
    "ML662",
    "sidecar-empty",
    Severity.ERROR,
    summary="A Sidecar configures nothing: no egress, ingress, outboundTrafficPolicy or "
    "inboundConnectionPool.",
    rationale="""
        Istio's webhook rejects an empty Sidecar ("empty configuration provided"). To limit
        what a workload's proxy sees, list egress hosts such as `./*` and `istio-system/*`.
    """,
    bad=_HEAD
    + """
      workloadSelector:
        labels:
          app: ratings
    """,
    good=_HEAD
    + """
      workloadSelector:
        labels:
          app: ratings
      egress:
      - hosts: ["./*", "istio-system/*"]
    """,
    kinds=KINDS,
    istio="IST0106",
    source=f"{_SC} — 'sidecar: empty configuration provided'",
    catalogue=("sc-empty",),
)
def empty(res: Resource) -> Iterator[Finding]:
    spec = res.spec
    message = (
        "this Sidecar configures nothing: add egress (e.g. hosts ./* and istio-system/*), "
        "ingress, outboundTrafficPolicy or inboundConnectionPool"
    )
    if spec is None:
        yield Finding(("spec",) if "spec" in res.data else (), message, key=True)
        return
    if not isinstance(spec, dict):
        return
    for key in ("egress", "ingress"):
        value = spec.get(key)
        if value is not None and not (isinstance(value, list) and not value):
            return
    for key in ("outboundTrafficPolicy", "inboundConnectionPool"):
        if spec.get(key) is not None:
            return
    yield Finding(("spec",), message, key=True)


# --------------------------------------------------------------------------------------------
# Ingress listeners


def _common_port_problems(port: dict[str, Any], base: FieldPath) -> Iterator[Finding]:
    name = port.get("name")
    if isinstance(name, str) and name:
        problem = check_port_name(name)
        if problem:
            yield Finding((*base, "name"), problem)
    problem = check_protocol(port.get("protocol"))
    if problem:
        yield Finding((*base, "protocol"), problem)
    target = port.get("targetPort")
    if is_int(target) and target > 0:
        yield Finding(
            (*base, "targetPort"),
            "targetPort has no effect on a Sidecar listener: remove it (for ingress, use "
            "defaultEndpoint to pick the application port)",
            key=True,
        )


@rule(
    "ML663",
    "sidecar-invalid-ingress-listener",
    Severity.ERROR,
    summary="A Sidecar ingress listener has an invalid port or bind, or repeats another "
    "listener's port.",
    rationale="""
        Istio's webhook requires each ingress listener's port number from 1 to 65535 and used
        by one listener only, a port name that is a DNS label, a protocol it knows, an IP
        address as `bind`, and no targetPort (which has no effect on Sidecars).
    """,
    bad=_HEAD
    + """
      ingress:
      - port: {number: 9080, name: http, protocol: HTTP}
        defaultEndpoint: 127.0.0.1:8080
      - port: {number: 9080, name: http_alt, protocol: HTTP, targetPort: 8080}
        bind: localhost
        defaultEndpoint: 127.0.0.1:8081
    """,
    good=_HEAD
    + """
      ingress:
      - port: {number: 9080, name: http, protocol: HTTP}
        defaultEndpoint: 127.0.0.1:8080
      - port: {number: 9081, name: http-alt, protocol: HTTP}
        bind: 0.0.0.0
        defaultEndpoint: 127.0.0.1:8081
    """,
    kinds=KINDS,
    istio="IST0106",
    source=f"{_SC}, validateSidecarIngressPortAndBind — 'targetPort has no impact on Sidecars', "
    "'invalid port name', 'unsupported protocol', 'port must be between 1-65535', "
    "ValidateIPAddress, 'sidecar: ports on IP bound listeners must be unique'",
    catalogue=(
        "sc-in-target-port",
        "sc-in-port-name",
        "sc-in-port-proto",
        "sc-in-port-number",
        "sc-in-bind",
        "sc-in-port-dup",
    ),
)
def invalid_ingress_listener(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    seen: dict[int, int] = {}
    for i, listener in _listeners(spec, "ingress"):
        port = listener.get("port")
        if not isinstance(port, dict):
            continue
        base: FieldPath = ("spec", "ingress", i, "port")
        yield from _common_port_problems(port, base)
        number = _port_number(port)
        if number is not None:
            problem = check_port(number)
            if problem:
                if "number" in port:
                    yield Finding((*base, "number"), problem)
                else:
                    yield Finding(base, "an ingress listener needs a port number (1-65535)")
            elif number in seen:
                yield Finding(
                    (*base, "number"),
                    f"port {number} is already used by ingress[{seen[number]}]: each ingress "
                    "listener needs its own port",
                )
            if number not in seen:
                seen[number] = i
        bind = listener.get("bind")
        if isinstance(bind, str) and bind:
            if bind.startswith(UNIX_PREFIX):
                yield Finding(
                    ("spec", "ingress", i, "bind"),
                    "an ingress listener cannot listen on a unix socket: bind takes an IP address",
                )
            else:
                problem = check_ip(bind)
                if problem:
                    yield Finding(
                        ("spec", "ingress", i, "bind"), f"{problem}: bind takes an IP address"
                    )


def split_host_port(text: str) -> tuple[str, str] | str:
    """Go's ``net.SplitHostPort``: (host, port), or why it fails."""
    i = text.rfind(":")
    if i < 0:
        return "it has no port: write host:port, e.g. 127.0.0.1:8080"
    j = k = 0
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            return "it has a '[' without ']'"
        if end + 1 == len(text):
            return "it has no port: write host:port, e.g. [::1]:8080"
        if end + 1 != i:
            if text[end + 1] == ":":
                return "it has too many colons: put an IPv6 address in brackets, e.g. [::1]:8080"
            return "it has no port after ']': write host:port, e.g. [::1]:8080"
        host = text[1:end]
        j, k = 1, end + 1
    else:
        host = text[:i]
        if ":" in host:
            return "it has too many colons: put an IPv6 address in brackets, e.g. [::1]:8080"
    if "[" in text[j:]:
        return "it has an unexpected '['"
    if "]" in text[k:]:
        return "it has an unexpected ']'"
    return host, text[i + 1 :]


@rule(
    "ML664",
    "sidecar-invalid-default-endpoint",
    Severity.ERROR,
    summary="A Sidecar ingress `defaultEndpoint` is not a loopback or wildcard `host:port` or "
    "a valid unix socket.",
    rationale="""
        `defaultEndpoint` is where the sidecar forwards inbound traffic inside the pod:
        `127.0.0.1:<port>`, `0.0.0.0:<port>`, `[::1]:<port>`, `[::]:<port>`, `:<port>` or
        `unix://<absolute path>`. Istio's webhook rejects any other host (such as the pod's
        own IP or a service name) and a missing or invalid port.
    """,
    bad=_HEAD
    + """
      ingress:
      - port: {number: 9080, name: http, protocol: HTTP}
        defaultEndpoint: ratings:8080
    """,
    good=_HEAD
    + """
      ingress:
      - port: {number: 9080, name: http, protocol: HTTP}
        defaultEndpoint: 127.0.0.1:8080
    """,
    kinds=KINDS,
    istio="IST0106",
    source=f"{_SC} — 'sidecar: defaultEndpoint must be of form 127.0.0.1:<port>,0.0.0.0:<port>,"
    "[::1]:port,[::]:port,unix://filepath or unset', 'defaultEndpoint port (%s) is not a "
    "number', ValidateUnixAddress, ValidatePort",
    catalogue=(
        "sc-in-default-uds",
        "sc-in-default-form",
        "sc-in-default-host",
        "sc-in-default-port",
    ),
)
def invalid_default_endpoint(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for i, listener in _listeners(spec, "ingress"):
        endpoint = listener.get("defaultEndpoint")
        if not isinstance(endpoint, str) or not endpoint:
            continue
        path: FieldPath = ("spec", "ingress", i, "defaultEndpoint")
        if endpoint.startswith(UNIX_PREFIX):
            problem = check_unix_address(endpoint)
            if problem:
                yield Finding(path, problem)
            continue
        split = split_host_port(endpoint)
        if isinstance(split, str):
            yield Finding(path, f"defaultEndpoint '{endpoint}' is not host:port: {split}")
            continue
        host, port = split
        if host not in _DEFAULT_HOSTS:
            yield Finding(
                path,
                f"defaultEndpoint host '{host}' is not allowed: use 127.0.0.1, 0.0.0.0, [::1], "
                "[::] or nothing before the port (traffic stays inside the pod), or a "
                "unix:// socket",
            )
        if not _GO_INT.fullmatch(port):
            yield Finding(path, f"defaultEndpoint port '{port}' is not a number")
        else:
            problem = check_port(int(port))
            if problem:
                yield Finding(path, f"defaultEndpoint {problem}")


@rule(
    "ML665",
    "sidecar-unsupported-ingress-tls",
    Severity.ERROR,
    summary="A Sidecar ingress listener's `tls` uses a setting sidecars do not support, or "
    "sits on a port that is not HTTPS or TLS.",
    rationale="""
        A sidecar terminates TLS on an ingress port only from certificate files, in mode
        SIMPLE, MUTUAL, OPTIONAL_MUTUAL or PASSTHROUGH, and only on an HTTPS or TLS port.
        Istio's webhook rejects subjectAltNames, httpsRedirect, credentialName,
        credentialNames and tlsCertificates there, and the modes ISTIO_MUTUAL and
        AUTO_PASSTHROUGH.
    """,
    bad=_HEAD
    + """
      ingress:
      - port: {number: 9443, name: https, protocol: HTTPS}
        defaultEndpoint: 127.0.0.1:8080
        tls:
          mode: SIMPLE
          credentialName: ratings-cert
    """,
    good=_HEAD
    + """
      ingress:
      - port: {number: 9443, name: https, protocol: HTTPS}
        defaultEndpoint: 127.0.0.1:8080
        tls:
          mode: SIMPLE
          serverCertificate: /etc/certs/cert.pem
          privateKey: /etc/certs/key.pem
    """,
    kinds=KINDS,
    istio="IST0106",
    source=f"{_SC} — 'sidecar: subjectAltNames is not supported in ingress tls', 'sidecar: "
    "httpsRedirect is not supported', 'sidecar: credentialName is not currently supported', "
    "'cannot set mode to %s in sidecar ingress tls', 'server cannot have TLS settings for non "
    "HTTPS/TLS ports'",
    catalogue=(
        "sc-in-tls-san",
        "sc-in-tls-redirect",
        "sc-in-tls-cred",
        "sc-in-tls-creds",
        "sc-in-tls-certs",
        "sc-in-tls-mode",
        "sc-in-tls-proto",
    ),
)
def unsupported_ingress_tls(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for i, listener in _listeners(spec, "ingress"):
        tls = listener.get("tls")
        if not isinstance(tls, dict):
            continue
        base: FieldPath = ("spec", "ingress", i, "tls")
        for key, what in (
            ("subjectAltNames", "subjectAltNames is not supported on a sidecar ingress listener"),
            (
                "credentialName",
                "credentialName is not supported on a sidecar: use "
                "serverCertificate and privateKey files",
            ),
            (
                "credentialNames",
                "credentialNames is not supported on a sidecar: use "
                "serverCertificate and privateKey files",
            ),
            (
                "tlsCertificates",
                "tlsCertificates is not supported on a sidecar: use "
                "serverCertificate and privateKey",
            ),
        ):
            if tls.get(key):
                yield Finding((*base, key), what, key=True)
        if tls.get("httpsRedirect") is True:
            yield Finding(
                (*base, "httpsRedirect"),
                "httpsRedirect is not supported on a sidecar ingress listener",
                key=True,
            )
        mode = tls.get("mode")
        if mode in ("ISTIO_MUTUAL", "AUTO_PASSTHROUGH"):
            yield Finding(
                (*base, "mode"),
                f"mode {mode} is not allowed on a sidecar ingress listener: use SIMPLE, "
                "MUTUAL, OPTIONAL_MUTUAL or PASSTHROUGH",
            )
        port = listener.get("port")
        if isinstance(port, dict):
            given = port.get("protocol")
            if parse_protocol(given or "") not in TLS_PROTOCOLS and not check_protocol(given):
                shown = f"protocol {given}" if given else "no protocol"
                yield Finding(
                    base,
                    f"TLS settings need an HTTPS or TLS port; this port has {shown}",
                    key=True,
                )


@rule(
    "ML666",
    "sidecar-http-pool-on-non-http-port",
    Severity.WARNING,
    summary="A Sidecar ingress listener sets HTTP connection pool settings on a port whose "
    "protocol is not HTTP.",
    rationale="""
        On a port that is not HTTP-family (HTTP, HTTP2, GRPC, GRPC-WEB, HTTP_PROXY; a port
        without a protocol counts as not HTTP here) only the TCP connection pool settings
        apply, so `connectionPool.http` is ignored. Istio admits it with a warning.
    """,
    bad=_HEAD
    + """
      ingress:
      - port: {number: 9000, name: tcp, protocol: TCP}
        defaultEndpoint: 127.0.0.1:9000
        connectionPool:
          http:
            http1MaxPendingRequests: 100
    """,
    good=_HEAD
    + """
      ingress:
      - port: {number: 9000, name: tcp, protocol: TCP}
        defaultEndpoint: 127.0.0.1:9000
        connectionPool:
          tcp:
            maxConnections: 100
    """,
    kinds=KINDS,
    istio="IST0133",
    source=f"{_SC} (warning) — 'sidecar: HTTP connection pool settings are configured for port "
    "%d (%q) but its protocol is not HTTP (%s); only TCP settings will apply'",
    catalogue=("sc-in-cp-http-on-tcp",),
)
def http_pool_on_non_http_port(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for i, listener in _listeners(spec, "ingress"):
        pool, port = listener.get("connectionPool"), listener.get("port")
        if not isinstance(pool, dict) or pool.get("http") is None or not isinstance(port, dict):
            continue
        given = port.get("protocol")
        if parse_protocol(given or "") in HTTP_PROTOCOLS:
            continue
        shown = f"protocol {given}" if given else "no protocol"
        yield Finding(
            ("spec", "ingress", i, "connectionPool", "http"),
            f"port {port.get('number')} has {shown}, so only the TCP connection pool settings "
            "apply and these HTTP settings are ignored",
            key=True,
        )


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
      - hosts: ["./*"]
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
def misplaced_catch_all_egress(res: Resource) -> Iterator[Finding]:
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


@rule(
    "ML668",
    "sidecar-invalid-egress-listener",
    Severity.ERROR,
    summary="A Sidecar egress listener has an invalid port, bind or capture mode, or repeats "
    "another listener's port or socket.",
    rationale="""
        An egress listener with a port listens on that number (1-65535) and optionally one IP
        address (`bind`); with port number 0 (or none) it is a unix socket listener, which
        needs `bind: unix://<path>` and captureMode DEFAULT or NONE. Port names must be DNS
        labels, protocols known to Istio, no targetPort, and each port and socket used once.
        Istio's webhook rejects anything else.
    """,
    bad=_HEAD
    + """
      egress:
      - port: {number: 9080, name: http, protocol: HTTP}
        hosts: ["./reviews.shop.svc.cluster.local"]
      - port: {number: 9080, name: http-2, protocol: HTTP}
        bind: localhost
        hosts: ["./ratings.shop.svc.cluster.local"]
      - port: {name: local, protocol: HTTP}
        hosts: ["./details.shop.svc.cluster.local"]
    """,
    good=_HEAD
    + """
      egress:
      - port: {number: 9080, name: http, protocol: HTTP}
        hosts: ["./reviews.shop.svc.cluster.local"]
      - port: {number: 9081, name: http-2, protocol: HTTP}
        bind: 127.0.0.1
        hosts: ["./ratings.shop.svc.cluster.local"]
      - port: {number: 0, name: local, protocol: HTTP}
        bind: unix:///var/run/details.sock
        captureMode: NONE
        hosts: ["./details.shop.svc.cluster.local"]
    """,
    kinds=KINDS,
    istio="IST0106",
    source=f"{_SC}, validateSidecarEgressPortBindAndCaptureMode — 'sidecar: ports with 0 value "
    "must have a unix domain socket bind address', 'captureMode must be DEFAULT/NONE for unix "
    "domain socket listeners', 'unix domain socket values for listeners must be unique', "
    "'ports on IP bound listeners must be unique', ValidatePort, ValidateIPAddress",
    catalogue=(
        "sc-eg-target-port",
        "sc-eg-port-name",
        "sc-eg-port-proto",
        "sc-eg-port-number",
        "sc-eg-uds-bind",
        "sc-eg-uds-path",
        "sc-eg-uds-capture",
        "sc-eg-bind-ip",
        "sc-eg-uds-dup",
        "sc-eg-port-dup",
    ),
)
def invalid_egress_listener(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    ports: dict[int, int] = {}
    sockets: dict[str, int] = {}
    for i, listener in _listeners(spec, "egress"):
        port = listener.get("port")
        if not isinstance(port, dict):
            continue
        base: FieldPath = ("spec", "egress", i)
        yield from _common_port_problems(port, (*base, "port"))
        number = _port_number(port)
        if number is None:
            continue
        bind = listener.get("bind")
        bind = bind if isinstance(bind, str) else ""
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
            continue
        problem = check_port(number)
        if problem:
            yield Finding((*base, "port", "number"), problem)
        elif number in ports:
            yield Finding(
                (*base, "port", "number"),
                f"port {number} is already used by egress[{ports[number]}]: each egress "
                "listener needs its own port",
            )
        else:
            ports[number] = i
        if bind.startswith(UNIX_PREFIX):
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
    "ML669",
    "sidecar-invalid-egress-host",
    Severity.ERROR,
    summary="A Sidecar egress listener has no hosts, or a host that is not `namespace/dnsName`.",
    rationale="""
        Egress hosts name what the workload may reach, always as `namespace/dnsName`: the
        namespace is `*`, `.`, a namespace name, or `~` (none) before the host; the name is
        `*`, a fully qualified name or a leading wildcard such as `*.example.com`. Istio's
        webhook rejects a missing namespace, short names (`reviews`), partial wildcards and
        an empty list.
    """,
    bad=_HEAD
    + """
      egress:
      - hosts: ["reviews.shop.svc.cluster.local", "./ratings", "istio-system/*"]
    """,
    good=_HEAD
    + """
      egress:
      - hosts: ["./reviews.shop.svc.cluster.local", "./*", "istio-system/*"]
    """,
    kinds=KINDS,
    istio="IST0106",
    source=f"{_SC} — 'sidecar: egress listener must contain at least one host'; "
    "pkg/config/validation/agent/validation.go (ValidateNamespaceSlashWildcardHostname)",
    catalogue=(
        "sc-eg-hosts-empty",
        "sc-eg-host-form",
        "sc-eg-host-ns",
        "sc-eg-host-short",
        "sc-eg-host-syntax",
        "sc-eg-host-partial",
    ),
)
def invalid_egress_host(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for i, listener in _listeners(spec, "egress"):
        hosts = listener.get("hosts")
        if not isinstance(hosts, list):
            continue
        if not hosts:
            yield Finding(
                ("spec", "egress", i, "hosts"),
                "an egress listener needs at least one host, e.g. ./* or istio-system/*",
            )
        for j, host in enumerate(hosts):
            problem = check_ns_slash_host(host, require_slash=True)
            if problem:
                yield Finding(("spec", "egress", i, "hosts", j), problem)


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
      - hosts: ["./*", "./reviews.shop.svc.cluster.local", "istio-system/*"]
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
def duplicate_egress_host(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    own = res.namespace or "."
    for i, listener in _listeners(spec, "egress"):
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


# --------------------------------------------------------------------------------------------
# Outbound traffic policy


@rule(
    "ML671",
    "sidecar-invalid-egress-proxy",
    Severity.ERROR,
    summary="A Sidecar `outboundTrafficPolicy.egressProxy` is set without mode ALLOW_ANY, or "
    "is not a valid destination.",
    rationale="""
        `egressProxy` sends traffic to unknown destinations through a proxy, which only
        happens in mode ALLOW_ANY. Istio's webhook rejects it with any other mode (including
        the default REGISTRY_ONLY), and requires a fully qualified host, a port and a valid
        subset name.
    """,
    bad=_HEAD
    + """
      egress:
      - hosts: ["./*", "istio-system/*"]
      outboundTrafficPolicy:
        mode: REGISTRY_ONLY
        egressProxy:
          host: egress-proxy.infra.svc.cluster.local
          port: {number: 3128}
    """,
    good=_HEAD
    + """
      egress:
      - hosts: ["./*", "istio-system/*"]
      outboundTrafficPolicy:
        mode: ALLOW_ANY
        egressProxy:
          host: egress-proxy.infra.svc.cluster.local
          port: {number: 3128}
    """,
    kinds=KINDS,
    istio="IST0106",
    source="webhook: pkg/config/validation/validation.go (validateSidecarOutboundTrafficPolicy) "
    "— 'sidecar: egress_proxy must be set only with ALLOW_ANY outbound_traffic_policy mode', "
    "'sidecar: egress_proxy port must be non-nil', ValidateFQDN, validateDestination",
    catalogue=("sc-otp-proxy-mode", "sc-otp-proxy-host", "sc-otp-proxy-port", "sc-otp-proxy-dest"),
)
def invalid_egress_proxy(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    policy = spec.get("outboundTrafficPolicy") if spec else None
    if not isinstance(policy, dict):
        return
    proxy = policy.get("egressProxy")
    if proxy is None:
        return
    base: FieldPath = ("spec", "outboundTrafficPolicy", "egressProxy")
    mode = policy.get("mode")
    if mode != "ALLOW_ANY":
        if mode is not None and mode not in ("REGISTRY_ONLY",):
            return  # an unknown mode: the schema stage reports it
        shown = f"mode {mode}" if mode else "the default mode REGISTRY_ONLY"
        yield Finding(
            base,
            f"egressProxy only works with mode ALLOW_ANY, not {shown}: set mode: ALLOW_ANY, "
            "or remove egressProxy",
            key=True,
        )
        return
    if not isinstance(proxy, dict):
        return
    host = proxy.get("host")
    host_problem = check_fqdn(host) if isinstance(host, str) else None
    if host_problem:
        yield Finding((*base, "host"), f"{host_problem} (the egress proxy needs a full host name)")
    if proxy.get("port") is None:
        yield Finding(base, "egressProxy needs a port, e.g. port: {number: 3128}", key=True)
        return
    for where, problem in check_destination(proxy):
        if where[:1] == ("host",) or where == ():
            continue  # the host is checked above, or missing (the schema stage reports it)
        yield Finding((*base, *where), problem)


# --------------------------------------------------------------------------------------------
# Connection pools (the same checks as a DestinationRule's connectionPool)


def _pools(spec: dict[str, Any]) -> Iterator[tuple[FieldPath, Any]]:
    if "inboundConnectionPool" in spec:
        yield ("spec", "inboundConnectionPool"), spec["inboundConnectionPool"]
    for i, listener in _listeners(spec, "ingress"):
        if "connectionPool" in listener:
            yield ("spec", "ingress", i, "connectionPool"), listener["connectionPool"]


def _pool_findings(pool: dict[str, Any], base: FieldPath) -> Iterator[Finding]:
    """What Istio's validateConnectionPool rejects; the DestinationRule family's checks of the
    same pools are reused."""
    if pool.get("http") is None and pool.get("tcp") is None:
        yield Finding(
            base,
            "a connection pool needs tcp or http settings (or remove it)",
            key=True,
        )
        return
    yield from connection_pool_findings(pool, base)
    yield from duration_findings(pool, base, "connectionPool")


@rule(
    "ML672",
    "sidecar-invalid-connection-pool",
    Severity.ERROR,
    summary="A Sidecar connection pool is empty or has a negative limit, an incomplete HTTP/2 "
    "keepalive, contradicting HTTP/2 settings or a duration below 1ms.",
    rationale="""
        `inboundConnectionPool` and the `connectionPool` of ingress listeners take the same
        settings as a DestinationRule's connection pool, and Istio's webhook checks them the
        same way: at least one of `tcp` and `http`, no negative limits, an `http2KeepAlive`
        with both `interval` and `timeout`, no `useClientProtocol` with `h2UpgradePolicy:
        UPGRADE`, and durations of at least 1ms in whole milliseconds (`tcp.idleTimeout` may
        be 0s, which turns it off).
    """,
    bad=_HEAD
    + """
      inboundConnectionPool: {}
      ingress:
      - port: {number: 9080, name: http, protocol: HTTP}
        defaultEndpoint: 127.0.0.1:8080
        connectionPool:
          http:
            http1MaxPendingRequests: -1
            idleTimeout: 0s
    """,
    good=_HEAD
    + """
      inboundConnectionPool:
        tcp: {maxConnections: 100, idleTimeout: 0s}
      ingress:
      - port: {number: 9080, name: http, protocol: HTTP}
        defaultEndpoint: 127.0.0.1:8080
        connectionPool:
          http:
            http1MaxPendingRequests: 100
            idleTimeout: 30s
    """,
    kinds=KINDS,
    istio="IST0106",
    source="webhook: pkg/config/validation/validation.go (ValidateSidecar → "
    "validateConnectionPool) — 'connection pool must have at least one field', '… must be "
    "non-negative', 'http2 keepalive interval is required', 'use client protocol must not be "
    "true when H2UpgradePolicy is UPGRADE', ValidateDuration",
    catalogue=("sc-in-cp", "sc-in-cp-inbound"),
)
def invalid_connection_pool(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for base, pool in _pools(spec):
        if isinstance(pool, dict):
            yield from _pool_findings(pool, base)
