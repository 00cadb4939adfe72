"""Gateway servers: their hosts, ports, binds and whether their TLS fits their protocol.

Facts: istio/istio ``pkg/config/validation/validation.go`` (``ValidateGateway``,
``validateServer``, ``validateServerPort``, ``validateServerBind``). The server TLS options are
the server_tls module's (ML607-ML612). Shapes, enums, required fields and list sizes are the
schema stage's (ML206-ML209) and are not repeated here.
"""

from __future__ import annotations

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
    check_ns_slash_host,
    check_port,
    check_protocol,
    check_unix_address,
    parse_protocol,
)
from meshlint.rules.lib.guards import as_str, is_int
from meshlint.rules.lib.listeners import PASSTHROUGH_MODES, listeners, tls_set

KINDS = {"Gateway"}
_GW = "webhook: pkg/config/validation/validation.go"

_HEAD = """
    apiVersion: networking.istio.io/v1
    kind: Gateway
    metadata:
      name: shop-gateway
      namespace: shop
    spec:
      selector:
        istio: ingressgateway
"""


# --------------------------------------------------------------------------------------------
# Servers


@rule(
    "ML601",
    "gateway-without-servers",
    Severity.ERROR,
    summary="A Gateway has no servers.",
    rationale="""
        A Gateway exists to open ports on gateway proxies; Istio's webhook rejects one whose
        `spec.servers` is missing or empty.
    """,
    bad=_HEAD
    + """
      servers: []  # expect: ML601@12 spec.servers
    """,
    good=_HEAD
    + """
      servers:
      - port: {number: 80, name: http, protocol: HTTP}
        hosts: ["shop.example.com"]
    """,
    kinds=KINDS,
    istio="IST0106",
    source=f"{_GW} (ValidateGateway) — 'gateway must have at least one server'",
    catalogue=("gw-servers-empty",),
)
def gateway_without_servers(res: Resource) -> Iterator[Finding]:
    spec = res.spec
    message = "a Gateway needs at least one server (a port with the hosts it serves)"
    if spec is None:
        yield Finding(("spec",) if "spec" in res.data else (), message, key=True)
    elif isinstance(spec, dict):
        servers = spec.get("servers")
        if servers is None:
            yield Finding(("spec",), f"spec.servers is missing: {message}", key=True)
        elif isinstance(servers, list) and not servers:
            yield Finding(("spec", "servers"), f"spec.servers is empty: {message}")


@rule(
    "ML602",
    "gateway-invalid-server-host",
    Severity.ERROR,
    summary="A Gateway server host is not `[namespace/]dnsName`.",
    rationale="""
        Each server lists the hosts it serves as `namespace/dnsName` or `dnsName`: the
        namespace is `*`, `.` or a namespace name (VirtualServices from there may bind), the
        name is `*`, a fully qualified name, a leading wildcard such as `*.example.com`, or
        an IP address. Istio's webhook rejects short names (`reviews`), partial wildcards
        (`*foo.com`) and empty parts.

        Until 0.2 this rule also reported a server without hosts, which is ML613 now.
    """,
    bad=_HEAD
    + """
      servers:
      - port: {number: 80, name: http, protocol: HTTP}
        hosts: ["shop/reviews", "*shop.example.com"]  # expect: ML602@13 spec.servers[0].hosts[0]; ML602@29 spec.servers[0].hosts[1]
    """,
    good=_HEAD
    + """
      servers:
      - port: {number: 80, name: http, protocol: HTTP}
        hosts: ["shop/reviews.example.com", "*.shop.example.com"]
    """,
    kinds=KINDS,
    istio="IST0106",
    source="pkg/config/validation/agent/validation.go (ValidateNamespaceSlashWildcardHostname), "
    f"called from {_GW} (validateServer)",
    catalogue=(
        "gw-host-ns",
        "gw-host-parts-empty",
        "gw-host-short",
        "gw-host-syntax",
        "gw-host-partial-wild",
    ),
)
def gateway_invalid_server_host(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for i, server in listeners(spec, "servers"):
        hosts = server.get("hosts")
        if not isinstance(hosts, list):
            continue
        for j, host in enumerate(hosts):
            problem = check_ns_slash_host(host, require_slash=False)
            if problem:
                yield Finding(("spec", "servers", i, "hosts", j), problem)


@rule(
    "ML613",
    "gateway-server-without-hosts",
    Severity.ERROR,
    summary="A Gateway server has an empty `hosts` list.",
    rationale="""
        A server serves the hosts it lists, and only VirtualServices for those hosts can bind
        to it: with none, the port opens for nothing. Istio's webhook rejects a server whose
        `hosts` is empty. List the hosts, or `*` for any host.

        Split off ML602 (gateway-invalid-server-host) in 0.2.
    """,
    bad=_HEAD
    + """
      servers:
      - port: {number: 80, name: http, protocol: HTTP}
        hosts: []  # expect: ML613@12 spec.servers[0].hosts
    """,
    good=_HEAD
    + """
      servers:
      - port: {number: 80, name: http, protocol: HTTP}
        hosts: ["shop.example.com"]
    """,
    kinds=KINDS,
    istio="IST0106",
    source=f"{_GW} (validateServer) — 'server config must contain at least one host'",
    catalogue=("gw-hosts-empty",),
    aliases=("ML602",),
)
def gateway_server_without_hosts(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for i, server in listeners(spec, "servers"):
        hosts = server.get("hosts")
        if isinstance(hosts, list) and not hosts:
            yield Finding(
                ("spec", "servers", i, "hosts"),
                "a server needs at least one host, e.g. shop.example.com, */shop.example.com "
                "or '*'",
            )


def _port_problems(server: dict[str, Any], base: FieldPath) -> Iterator[Finding]:
    port = server.get("port")
    if not isinstance(port, dict):
        return
    bind = server.get("bind")
    unix = isinstance(bind, str) and bind.startswith(UNIX_PREFIX)
    protocol = port.get("protocol")
    problem = check_protocol(protocol, allow_empty=False)
    if problem:
        yield Finding((*base, "port", "protocol"), problem)
    number = port.get("number")
    if is_int(number) and (number > 0 or not unix):
        problem = check_port(number)
        if problem:
            hint = " (0 only with a unix:// bind)" if number == 0 else ""
            yield Finding((*base, "port", "number"), f"{problem}{hint}")
    target = port.get("targetPort")
    if is_int(target) and target > 0:
        yield Finding(
            (*base, "port", "targetPort"),
            "targetPort is deprecated and has no effect on a Gateway (the gateway listens on "
            "port.number): remove it",
            key=True,
        )
    if port.get("name") == "":
        yield Finding(
            (*base, "port", "name"),
            "the port name is empty: give the port a name unique in this Gateway, e.g. http",
        )


@rule(
    "ML603",
    "gateway-invalid-server-port",
    Severity.ERROR,
    summary="A Gateway server port has an invalid number or protocol, a targetPort, an empty "
    "name, or a name another server already uses.",
    rationale="""
        Istio's webhook requires a port number from 1 to 65535 (0 only for a unix socket
        bind), a protocol it knows (which a Gateway must state: HTTP, HTTPS, HTTP2, GRPC,
        GRPC-WEB, TCP, TLS, MONGO, MYSQL, REDIS), a non-empty name that no other server of
        the Gateway uses, and no targetPort, which has no effect on gateways.
    """,
    bad=_HEAD
    + """
      servers:
      - port: {number: 80, name: http, protocol: HTTP}
        hosts: ["shop.example.com"]
      - port: {number: 70000, name: http, protocol: HTTPS2, targetPort: 8443}  # expect: ML603@20 spec.servers[1].port.number; ML603@33 spec.servers[1].port.name; ML603@49 spec.servers[1].port.protocol; ML603@57 spec.servers[1].port.targetPort
        hosts: ["shop.example.com"]
    """,
    good=_HEAD
    + """
      servers:
      - port: {number: 80, name: http, protocol: HTTP}
        hosts: ["shop.example.com"]
      - port: {number: 443, name: https, protocol: HTTPS}
        hosts: ["shop.example.com"]
        tls:
          mode: SIMPLE
          credentialName: shop-cert
    """,
    kinds=KINDS,
    istio="IST0106",
    source=f"{_GW} (validateServerPort, ValidateGateway) — 'invalid protocol', 'port must be "
    "between 1-65535', 'targetPort has no impact on Gateways', 'port name must be set', 'port "
    "names in servers must be unique'",
    catalogue=(
        "gw-port-proto",
        "gw-port-number",
        "gw-port-target",
        "gw-port-name",
        "gw-portname-dup",
    ),
)
def gateway_invalid_server_port(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    names: dict[str, int] = {}
    for i, server in listeners(spec, "servers"):
        base: FieldPath = ("spec", "servers", i)
        yield from _port_problems(server, base)
        port = server.get("port")
        if not isinstance(port, dict):
            continue
        name = port.get("name")
        if isinstance(name, str) and name:
            if name in names:
                yield Finding(
                    (*base, "port", "name"),
                    f"port name '{name}' is already used by servers[{names[name]}]: each server "
                    "of a Gateway needs its own port name",
                )
            else:
                names[name] = i


@rule(
    "ML604",
    "gateway-invalid-server-bind",
    Severity.ERROR,
    summary="A Gateway server `bind` is neither an IP address nor a valid unix socket, or a "
    "unix socket bind has a non-zero port.",
    rationale="""
        `bind` restricts the listener to one address: an IP address, or `unix://` followed
        by an absolute path or an abstract socket name (`@name`), in which case the port
        number must be 0. Istio's webhook rejects anything else.
    """,
    bad=_HEAD
    + """
      servers:
      - port: {number: 80, name: http, protocol: HTTP}
        bind: localhost  # expect: ML604@11 spec.servers[0].bind
        hosts: ["shop.example.com"]
      - port: {number: 8080, name: http-uds, protocol: HTTP}  # expect: ML604@20 spec.servers[1].port.number
        bind: unix:///var/run/gateway.sock
        hosts: ["shop.example.com"]
    """,
    good=_HEAD
    + """
      servers:
      - port: {number: 80, name: http, protocol: HTTP}
        bind: 127.0.0.1
        hosts: ["shop.example.com"]
      - port: {number: 0, name: http-uds, protocol: HTTP}
        bind: unix:///var/run/gateway.sock
        hosts: ["shop.example.com"]
    """,
    kinds=KINDS,
    istio="IST0106",
    source=f"{_GW} (validateServerBind) — ValidateUnixAddress, 'port number must be 0 for "
    "unix domain socket', ValidateIPAddress",
    catalogue=("gw-bind-uds", "gw-bind-uds-port", "gw-bind-ip"),
)
def gateway_invalid_server_bind(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for i, server in listeners(spec, "servers"):
        bind = server.get("bind")
        if not isinstance(bind, str) or not bind:
            continue
        path: FieldPath = ("spec", "servers", i, "bind")
        if bind.startswith(UNIX_PREFIX):
            problem = check_unix_address(bind)
            if problem:
                yield Finding(path, problem)
            port = server.get("port")
            number = port.get("number") if isinstance(port, dict) else None
            if is_int(number) and number != 0:
                yield Finding(
                    ("spec", "servers", i, "port", "number"),
                    f"port {number} with a unix socket bind: the port number must be 0 when "
                    "the server listens on a unix domain socket",
                )
        else:
            problem = check_ip(bind)
            if problem:
                yield Finding(path, f"{problem}: bind takes an IP address or unix://<path>")


def _port_ok(server: dict[str, Any]) -> bool:
    port = server.get("port")
    return (
        isinstance(port, dict)
        and isinstance(port.get("protocol"), str)
        and is_int(port.get("number"))
        and isinstance(port.get("name"), str)
        and not any(_port_problems(server, ()))
    )


@rule(
    "ML605",
    "gateway-tls-protocol-mismatch",
    Severity.ERROR,
    summary="A Gateway server's `tls` does not fit its protocol: HTTPS or TLS without `tls`, "
    "or TLS settings on a plain-text port.",
    rationale="""
        Istio's webhook requires TLS settings on HTTPS and TLS ports, since the gateway must
        know whether to terminate or pass TLS through. A plain HTTP port may only carry a
        certificate-free `tls` block (for `httpsRedirect`); TCP, MONGO, MYSQL, REDIS and UDP
        ports take none. Use protocol HTTPS or TLS to terminate TLS.
    """,
    bad=_HEAD
    + """
      servers:
      - port: {number: 443, name: https, protocol: HTTPS}  # expect: ML605@48 spec.servers[0].port.protocol
        hosts: ["shop.example.com"]
      - port: {number: 80, name: http, protocol: HTTP}
        hosts: ["shop.example.com"]
        tls:  # expect: ML605@5 spec.servers[1].tls
          mode: SIMPLE
          credentialName: shop-cert
    """,
    good=_HEAD
    + """
      servers:
      - port: {number: 443, name: https, protocol: HTTPS}
        hosts: ["shop.example.com"]
        tls:
          mode: SIMPLE
          credentialName: shop-cert
      - port: {number: 80, name: http, protocol: HTTP}
        hosts: ["shop.example.com"]
        tls:
          httpsRedirect: true
    """,
    kinds=KINDS,
    istio="IST0106",
    source=f"{_GW} (validateServer) — 'server must have TLS settings for HTTPS/TLS protocols', "
    "'server cannot have TLS settings for plain text HTTP ports', 'server cannot have TLS "
    "settings for non HTTPS/TLS ports'",
    catalogue=("gw-tls-required", "gw-tls-on-http", "gw-tls-on-tcp"),
)
def gateway_tls_protocol_mismatch(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for i, server in listeners(spec, "servers"):
        if not _port_ok(server):
            continue  # ML603 reports the port
        given = server["port"].get("protocol")
        protocol = parse_protocol(given)
        tls = server.get("tls")
        base: FieldPath = ("spec", "servers", i)
        if protocol in TLS_PROTOCOLS:
            if tls is None:
                yield Finding(
                    (*base, "port", "protocol"),
                    f"protocol {given} needs a tls block: e.g. mode SIMPLE with a "
                    "credentialName to terminate TLS, or mode PASSTHROUGH",
                )
            continue
        if not isinstance(tls, dict):
            continue
        if protocol in HTTP_PROTOCOLS:
            mode = as_str(tls.get("mode") or "PASSTHROUGH")
            if mode is None:
                continue  # the schema stage reports the type
            certs = [
                k for k in ("caCertificates", "privateKey", "serverCertificate") if tls_set(tls, k)
            ]
            if mode not in PASSTHROUGH_MODES or certs:
                what = f"mode {mode}" if mode not in PASSTHROUGH_MODES else ", ".join(certs)
                yield Finding(
                    (*base, "tls"),
                    f"a plain-text {given} server cannot terminate TLS ({what}): use protocol "
                    "HTTPS to serve TLS, or keep only httpsRedirect here",
                    key=True,
                )
        else:
            yield Finding(
                (*base, "tls"),
                f"a {given} server cannot have TLS settings: use protocol TLS (or HTTPS) to "
                "terminate or pass through TLS",
                key=True,
            )


@rule(
    "ML606",
    "gateway-https-redirect-on-non-http",
    Severity.WARNING,
    summary="`tls.httpsRedirect` is set on a Gateway server that is not plain HTTP.",
    rationale="""
        `httpsRedirect` answers plain HTTP requests with a redirect to HTTPS; on an HTTPS,
        TLS or TCP server there is no plain HTTP request to redirect, so it has no effect (or
        redirects clients that already use HTTPS). Istio admits it with a warning.
    """,
    bad=_HEAD
    + """
      servers:
      - port: {number: 443, name: https, protocol: HTTPS}
        hosts: ["shop.example.com"]
        tls:
          httpsRedirect: true  # expect: ML606@22 spec.servers[0].tls.httpsRedirect
          mode: SIMPLE
          credentialName: shop-cert
    """,
    good=_HEAD
    + """
      servers:
      - port: {number: 80, name: http, protocol: HTTP}
        hosts: ["shop.example.com"]
        tls:
          httpsRedirect: true
      - port: {number: 443, name: https, protocol: HTTPS}
        hosts: ["shop.example.com"]
        tls:
          mode: SIMPLE
          credentialName: shop-cert
    """,
    kinds=KINDS,
    istio="IST0133",
    source=f"{_GW} (ValidateGateway, warning) — 'tls.httpsRedirect should only be used with "
    "http servers'",
    catalogue=("gw-https-redirect-nonhttp",),
)
def gateway_https_redirect_on_non_http(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for i, server in listeners(spec, "servers"):
        port, tls = server.get("port"), server.get("tls")
        if not isinstance(port, dict) or not isinstance(tls, dict):
            continue
        if tls.get("httpsRedirect") is not True:
            continue
        protocol = parse_protocol(port.get("protocol"))
        if protocol in HTTP_PROTOCOLS:
            continue
        shown = port.get("protocol") or "no protocol"
        yield Finding(
            ("spec", "servers", i, "tls", "httpsRedirect"),
            f"httpsRedirect only acts on plain HTTP servers; this server has {shown}: put it on "
            "an HTTP server (usually port 80)",
        )
