"""Sidecar ingress listeners: their ports, binds, default endpoints, TLS and connection
pools.

Facts: istio/istio ``pkg/config/validation/validation.go`` (``ValidateSidecar``,
``validateSidecarIngressPortAndBind``). The TLS options of ingress listeners are also checked by
the server TLS rules of the gateway family (ML607-ML612), which see Sidecars too. Shapes, enums
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
    check_ip,
    check_port,
    check_protocol,
    check_unix_address,
    parse_protocol,
)
from meshlint.rules.lib.listeners import (
    listeners,
    sidecar_port_number,
    sidecar_port_problems,
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

# --------------------------------------------------------------------------------------------
# Ingress listeners


def _ingress_ports(spec: dict[str, Any]) -> Iterator[tuple[int, dict[str, Any], dict[str, Any]]]:
    """The ingress listeners that have a port mapping: (index, listener, port)."""
    for i, listener in listeners(spec, "ingress"):
        port = listener.get("port")
        if isinstance(port, dict):
            yield i, listener, port


@rule(
    "ML663",
    "sidecar-invalid-ingress-listener",
    Severity.ERROR,
    summary="A Sidecar ingress listener's port has an invalid number, name or protocol, or a "
    "targetPort.",
    rationale="""
        Istio's webhook requires each ingress listener's port number from 1 to 65535, a port
        name that is a DNS label, a protocol it knows, and no targetPort (which has no effect
        on Sidecars: `defaultEndpoint` names the application port).

        Until 0.2 this rule also reported the bind (ML673 now) and a port two listeners use
        (ML674 now).
    """,
    bad=_HEAD
    + """
      ingress:
      - port: {number: 9080, name: http_alt, protocol: HTTP, targetPort: 8080}  # expect: ML663@32 spec.ingress[0].port.name; ML663@58 spec.ingress[0].port.targetPort
        defaultEndpoint: 127.0.0.1:8080
    """,
    good=_HEAD
    + """
      ingress:
      - port: {number: 9080, name: http-alt, protocol: HTTP}
        defaultEndpoint: 127.0.0.1:8080
    """,
    kinds=KINDS,
    istio="IST0106",
    source=f"{_SC}, validateSidecarIngressPortAndBind — 'targetPort has no impact on Sidecars', "
    "'invalid port name', 'unsupported protocol', 'port must be between 1-65535'",
    catalogue=(
        "sc-in-target-port",
        "sc-in-port-name",
        "sc-in-port-proto",
        "sc-in-port-number",
    ),
)
def sidecar_invalid_ingress_listener(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for i, _, port in _ingress_ports(spec):
        base: FieldPath = ("spec", "ingress", i, "port")
        yield from sidecar_port_problems(port, base)
        number = sidecar_port_number(port)
        if number is not None:
            problem = check_port(number)
            if problem:
                if "number" in port:
                    yield Finding((*base, "number"), problem)
                else:
                    yield Finding(base, "an ingress listener needs a port number (1-65535)")


@rule(
    "ML673",
    "sidecar-invalid-ingress-bind",
    Severity.ERROR,
    summary="A Sidecar ingress listener's `bind` is not an IP address.",
    rationale="""
        `bind` restricts an ingress listener to one IP address of the pod. Unlike egress
        listeners, ingress listeners cannot listen on a unix socket; Istio's webhook rejects
        a bind that is not an IP address.

        Split off ML663 (sidecar-invalid-ingress-listener) in 0.2.
    """,
    bad=_HEAD
    + """
      ingress:
      - port: {number: 9080, name: http, protocol: HTTP}
        bind: localhost  # expect: ML673@11 spec.ingress[0].bind
        defaultEndpoint: 127.0.0.1:8080
    """,
    good=_HEAD
    + """
      ingress:
      - port: {number: 9080, name: http, protocol: HTTP}
        bind: 0.0.0.0
        defaultEndpoint: 127.0.0.1:8080
    """,
    kinds=KINDS,
    istio="IST0106",
    source=f"{_SC}, validateSidecarIngressPortAndBind — ValidateIPAddress",
    catalogue=("sc-in-bind",),
    aliases=("ML663",),
)
def sidecar_invalid_ingress_bind(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for i, listener, _ in _ingress_ports(spec):
        bind = listener.get("bind")
        if not isinstance(bind, str) or not bind:
            continue
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


@rule(
    "ML674",
    "sidecar-duplicate-ingress-port",
    Severity.ERROR,
    summary="Two Sidecar ingress listeners use the same port number.",
    rationale="""
        Each ingress listener opens its own port on the pod's IP addresses; Istio's webhook
        rejects a Sidecar whose ingress listeners repeat a port. Merge them, or give each its
        own port.

        Split off ML663 (sidecar-invalid-ingress-listener) in 0.2.
    """,
    bad=_HEAD
    + """
      ingress:
      - port: {number: 9080, name: http, protocol: HTTP}
        defaultEndpoint: 127.0.0.1:8080
      - port: {number: 9080, name: http-alt, protocol: HTTP}  # expect: ML674@20 spec.ingress[1].port.number
        defaultEndpoint: 127.0.0.1:8081
    """,
    good=_HEAD
    + """
      ingress:
      - port: {number: 9080, name: http, protocol: HTTP}
        defaultEndpoint: 127.0.0.1:8080
      - port: {number: 9081, name: http-alt, protocol: HTTP}
        defaultEndpoint: 127.0.0.1:8081
    """,
    kinds=KINDS,
    istio="IST0106",
    source=f"{_SC} — 'sidecar: ports on IP bound listeners must be unique'",
    catalogue=("sc-in-port-dup",),
    aliases=("ML663",),
)
def sidecar_duplicate_ingress_port(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    seen: dict[int, int] = {}
    for i, _, port in _ingress_ports(spec):
        number = sidecar_port_number(port)
        if number is None:
            continue
        if not check_port(number) and number in seen:
            yield Finding(
                ("spec", "ingress", i, "port", "number"),
                f"port {number} is already used by ingress[{seen[number]}]: each ingress "
                "listener needs its own port",
            )
        if number not in seen:
            seen[number] = i


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
        defaultEndpoint: ratings:8080  # expect: ML664@22 spec.ingress[0].defaultEndpoint
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
def sidecar_invalid_default_endpoint(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for i, listener in listeners(spec, "ingress"):
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
    summary="A Sidecar ingress listener's `tls` uses a setting or mode sidecars do not support.",
    rationale="""
        A sidecar terminates TLS on an ingress port only from certificate files, in mode
        SIMPLE, MUTUAL, OPTIONAL_MUTUAL or PASSTHROUGH. Istio's webhook rejects
        subjectAltNames, httpsRedirect, credentialName, credentialNames and tlsCertificates
        there, and the modes ISTIO_MUTUAL and AUTO_PASSTHROUGH.

        Until 0.2 this rule also reported TLS settings on a port that is not HTTPS or TLS,
        which is ML675 now.
    """,
    bad=_HEAD
    + """
      ingress:
      - port: {number: 9443, name: https, protocol: HTTPS}
        defaultEndpoint: 127.0.0.1:8080
        tls:
          mode: SIMPLE
          credentialName: ratings-cert  # expect: ML665@7 spec.ingress[0].tls.credentialName
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
    "'cannot set mode to %s in sidecar ingress tls'",
    catalogue=(
        "sc-in-tls-san",
        "sc-in-tls-redirect",
        "sc-in-tls-cred",
        "sc-in-tls-creds",
        "sc-in-tls-certs",
        "sc-in-tls-mode",
    ),
)
def sidecar_unsupported_ingress_tls(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for i, listener in listeners(spec, "ingress"):
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


@rule(
    "ML675",
    "sidecar-ingress-tls-on-non-tls-port",
    Severity.ERROR,
    summary="A Sidecar ingress listener has `tls` on a port whose protocol is not HTTPS or TLS.",
    rationale="""
        A sidecar terminates TLS only on an ingress port declared HTTPS or TLS; on any other
        port (or one without a protocol) it would not know to expect TLS. Istio's webhook
        rejects the TLS settings there. Declare the port HTTPS or TLS, or remove `tls`.

        Split off ML665 (sidecar-unsupported-ingress-tls) in 0.2.
    """,
    bad=_HEAD
    + """
      ingress:
      - port: {number: 9080, name: http, protocol: HTTP}
        defaultEndpoint: 127.0.0.1:8080
        tls:  # expect: ML675@5 spec.ingress[0].tls
          mode: SIMPLE
          serverCertificate: /etc/certs/cert.pem
          privateKey: /etc/certs/key.pem
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
    source=f"{_SC} — 'server cannot have TLS settings for non HTTPS/TLS ports'",
    catalogue=("sc-in-tls-proto",),
    aliases=("ML665",),
)
def sidecar_ingress_tls_on_non_tls_port(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for i, listener in listeners(spec, "ingress"):
        tls, port = listener.get("tls"), listener.get("port")
        if not isinstance(tls, dict) or not isinstance(port, dict):
            continue
        given = port.get("protocol")
        if parse_protocol(given or "") not in TLS_PROTOCOLS and not check_protocol(given):
            shown = f"protocol {given}" if given else "no protocol"
            yield Finding(
                ("spec", "ingress", i, "tls"),
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
          http:  # expect: ML666@7 spec.ingress[0].connectionPool.http
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
def sidecar_http_pool_on_non_http_port(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for i, listener in listeners(spec, "ingress"):
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
