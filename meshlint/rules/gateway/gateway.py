"""Field validation of gateway: what Istio's webhook and CRD rules reject.

Facts: istio/istio ``pkg/config/validation/validation.go`` (``ValidateGateway``,
``validateServer``, ``validateServerPort``, ``validateServerBind``, ``validateTLSOptions``),
``pkg/config/gateway/gateway.go`` (``IsPassThroughServer``), ``pkg/config/security/security.go``
(``IsValidCipherSuite``) and the CEL rules of the Gateway CRD (istio/api
``networking/v1alpha3/gateway.proto``). The server TLS option rules (ML607-ML612) also check the
``tls`` of Sidecar ingress listeners, which Istio validates with the same function. Shapes, enums,
required fields and list sizes are the schema stage's (ML206-ML209) and are not repeated here.
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
    is_int,
    parse_protocol,
)

KINDS = {"Gateway"}
TLS_KINDS = {"Gateway", "Sidecar"}
_GW = "webhook: pkg/config/validation/validation.go"
_TLS = "webhook: pkg/config/validation/validation.go (validateTLSOptions)"

_MODES = frozenset(
    ("PASSTHROUGH", "SIMPLE", "MUTUAL", "AUTO_PASSTHROUGH", "ISTIO_MUTUAL", "OPTIONAL_MUTUAL")
)
_TERMINATING = frozenset(("SIMPLE", "MUTUAL", "OPTIONAL_MUTUAL"))
_PASSTHROUGH = frozenset(("PASSTHROUGH", "AUTO_PASSTHROUGH"))

# pkg/config/security/security.go ValidCipherSuites (BoringSSL's names, PSK suites left out).
VALID_CIPHER_SUITES = frozenset(
    (
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "ECDHE-RSA-CHACHA20-POLY1305",
        "ECDHE-ECDSA-AES128-SHA",
        "ECDHE-RSA-AES128-SHA",
        "ECDHE-ECDSA-AES256-SHA",
        "ECDHE-RSA-AES256-SHA",
        "AES128-GCM-SHA256",
        "AES256-GCM-SHA384",
        "AES128-SHA",
        "AES256-SHA",
        "DES-CBC3-SHA",
    )
)

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


def _servers(spec: dict[str, Any]) -> Iterator[tuple[int, dict[str, Any]]]:
    servers = spec.get("servers")
    if isinstance(servers, list):
        for i, server in enumerate(servers):
            if isinstance(server, dict):
                yield i, server


_LIST_FIELDS = frozenset(("credentialNames", "tlsCertificates", "subjectAltNames"))


def _has(tls: dict[str, Any], key: str) -> bool:
    """Whether a field of a TLS block counts as set, as Go sees it: a non-empty string or a
    non-empty list. A value of the wrong type does not count (the schema stage reports it)."""
    value = tls.get(key)
    if key in _LIST_FIELDS:
        return isinstance(value, list) and len(value) > 0
    return isinstance(value, str) and value != ""


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
      servers: []
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
def without_servers(res: Resource) -> Iterator[Finding]:
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
    summary="A Gateway server has no hosts, or a host that is not `[namespace/]dnsName`.",
    rationale="""
        Each server lists the hosts it serves as `namespace/dnsName` or `dnsName`: the
        namespace is `*`, `.` or a namespace name (VirtualServices from there may bind), the
        name is `*`, a fully qualified name, a leading wildcard such as `*.example.com`, or
        an IP address. Istio's webhook rejects short names (`reviews`), partial wildcards
        (`*foo.com`) and empty parts, and a server without hosts.
    """,
    bad=_HEAD
    + """
      servers:
      - port: {number: 80, name: http, protocol: HTTP}
        hosts: ["shop/reviews", "*shop.example.com"]
    """,
    good=_HEAD
    + """
      servers:
      - port: {number: 80, name: http, protocol: HTTP}
        hosts: ["shop/reviews.example.com", "*.shop.example.com"]
    """,
    kinds=KINDS,
    istio="IST0106",
    source=f"{_GW} (validateServer) — 'server config must contain at least one host'; "
    "pkg/config/validation/agent/validation.go (ValidateNamespaceSlashWildcardHostname)",
    catalogue=(
        "gw-hosts-empty",
        "gw-host-ns",
        "gw-host-parts-empty",
        "gw-host-short",
        "gw-host-syntax",
        "gw-host-partial-wild",
    ),
)
def invalid_server_host(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for i, server in _servers(spec):
        hosts = server.get("hosts")
        if not isinstance(hosts, list):
            continue
        if not hosts:
            yield Finding(
                ("spec", "servers", i, "hosts"),
                "a server needs at least one host, e.g. shop.example.com, */shop.example.com "
                "or '*'",
            )
        for j, host in enumerate(hosts):
            problem = check_ns_slash_host(host, require_slash=False)
            if problem:
                yield Finding(("spec", "servers", i, "hosts", j), problem)


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
            "targetPort has no effect on a Gateway (the gateway listens on port.number): remove it",
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
      - port: {number: 70000, name: http, protocol: HTTPS2, targetPort: 8443}
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
def invalid_server_port(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    names: dict[str, int] = {}
    for i, server in _servers(spec):
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
        bind: localhost
        hosts: ["shop.example.com"]
      - port: {number: 8080, name: http-uds, protocol: HTTP}
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
def invalid_server_bind(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for i, server in _servers(spec):
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
      - port: {number: 443, name: https, protocol: HTTPS}
        hosts: ["shop.example.com"]
      - port: {number: 80, name: http, protocol: HTTP}
        hosts: ["shop.example.com"]
        tls:
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
def tls_protocol_mismatch(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for i, server in _servers(spec):
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
            mode = tls.get("mode") or "PASSTHROUGH"
            certs = [
                k for k in ("caCertificates", "privateKey", "serverCertificate") if _has(tls, k)
            ]
            if mode not in _PASSTHROUGH or certs:
                what = f"mode {mode}" if mode not in _PASSTHROUGH else ", ".join(certs)
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
          httpsRedirect: true
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
def https_redirect_on_non_http(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for i, server in _servers(spec):
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


# --------------------------------------------------------------------------------------------
# Server TLS options (Gateway servers[].tls, Sidecar ingress[].tls)


def tls_blocks(res: Resource) -> Iterator[tuple[FieldPath, dict[str, Any]]]:
    """Every ServerTLSSettings of the resource, with its path."""
    spec = res.spec_map
    if spec is None:
        return
    if res.kind == "Gateway":
        for i, server in _servers(spec):
            tls = server.get("tls")
            if isinstance(tls, dict):
                yield ("spec", "servers", i, "tls"), tls
    elif res.kind == "Sidecar":
        ingress = spec.get("ingress")
        if isinstance(ingress, list):
            for i, listener in enumerate(ingress):
                if isinstance(listener, dict) and isinstance(listener.get("tls"), dict):
                    yield ("spec", "ingress", i, "tls"), listener["tls"]


def _mode(tls: dict[str, Any]) -> str | None:
    """The TLS mode, PASSTHROUGH when omitted (the enum's zero value); None if unknown."""
    mode = tls.get("mode")
    if mode is None:
        return "PASSTHROUGH"
    return mode if isinstance(mode, str) and mode in _MODES else None


_TLS_HEAD = (
    _HEAD
    + """
      servers:
      - port: {number: 443, name: https, protocol: HTTPS}
        hosts: ["shop.example.com"]
        tls:
"""
)

_CERT_FIELDS = (
    "serverCertificate",
    "privateKey",
    "caCertificates",
    "tlsCertificates",
    "credentialName",
    "credentialNames",
)


@rule(
    "ML607",
    "server-tls-istio-mutual-with-certificates",
    Severity.ERROR,
    summary="Server TLS mode ISTIO_MUTUAL also names certificates, keys or credentials.",
    rationale="""
        ISTIO_MUTUAL uses the proxy's own Istio-issued certificate and the mesh CA; Istio's
        webhook rejects any serverCertificate, privateKey, caCertificates, tlsCertificates,
        credentialName or credentialNames next to it. Use SIMPLE or MUTUAL to present your
        own certificate.
    """,
    bad=_TLS_HEAD
    + """
          mode: ISTIO_MUTUAL
          credentialName: shop-cert
    """,
    good=_TLS_HEAD
    + """
          mode: ISTIO_MUTUAL
    """,
    kinds=TLS_KINDS,
    istio="IST0106",
    source=f"{_TLS} — 'ISTIO_MUTUAL TLS cannot have associated server certificate', … 'private "
    "key', 'CA bundle', 'tlsCertificates', 'credentialName', 'credentialNames'",
    catalogue=(
        "gw-tls-im-cert",
        "gw-tls-im-key",
        "gw-tls-im-ca",
        "gw-tls-im-tlscerts",
        "gw-tls-im-cred",
        "gw-tls-im-creds",
        "sc-in-tls-options",
    ),
)
def istio_mutual_with_certificates(res: Resource) -> Iterator[Finding]:
    for base, tls in tls_blocks(res):
        if tls.get("mode") != "ISTIO_MUTUAL":
            continue
        for key in _CERT_FIELDS:
            if _has(tls, key):
                yield Finding(
                    (*base, key),
                    f"mode ISTIO_MUTUAL uses Istio's own certificates and cannot take {key}: "
                    "remove it, or use mode SIMPLE or MUTUAL for your own certificate",
                    key=True,
                )


@rule(
    "ML608",
    "server-tls-several-certificate-sources",
    Severity.ERROR,
    summary="Server TLS names more than one certificate source.",
    rationale="""
        A server presents one certificate, from exactly one of: serverCertificate with
        privateKey (files), credentialName (a Secret), credentialNames (up to two Secrets)
        or tlsCertificates (up to two file pairs). Istio's webhook and the CRD's CEL rules
        reject a combination.
    """,
    bad=_TLS_HEAD
    + """
          mode: SIMPLE
          credentialName: shop-cert
          credentialNames: [shop-cert-rsa, shop-cert-ecdsa]
    """,
    good=_TLS_HEAD
    + """
          mode: SIMPLE
          credentialNames: [shop-cert-rsa, shop-cert-ecdsa]
    """,
    kinds=TLS_KINDS,
    istio="IST0106",
    source=f"{_TLS} — 'only one of credential_name, credential_names, "
    "server_certificate/private_key, tls_certificates should be specified'; CEL: the Gateway "
    "CRD — 'only one of credentialNames or tlsCertificates can be set', 'only one of "
    "credentialName or credentialNames can be set'",
    catalogue=(
        "gw-tls-multi-source",
        "gw-tls-cel-creds-certs",
        "gw-tls-cel-cred-creds",
        "gw-tls-cel-third",
    ),
)
def several_certificate_sources(res: Resource) -> Iterator[Finding]:
    for base, tls in tls_blocks(res):
        if tls.get("mode") == "ISTIO_MUTUAL":
            continue  # ML607 reports every certificate given with ISTIO_MUTUAL
        sources: list[tuple[str, str]] = []
        if _has(tls, "serverCertificate") and _has(tls, "privateKey"):
            sources.append(("serverCertificate", "serverCertificate/privateKey"))
        for key in ("credentialName", "credentialNames", "tlsCertificates"):
            if _has(tls, key):
                sources.append((key, key))
        if len(sources) > 1:
            names = " and ".join(name for _, name in sources)
            yield Finding(
                (*base, sources[1][0]),
                f"this sets {names}: give the certificate in only one of credentialName, "
                "credentialNames, serverCertificate/privateKey or tlsCertificates",
                key=True,
            )


@rule(
    "ML609",
    "server-tls-missing-certificate",
    Severity.ERROR,
    summary="Server TLS mode SIMPLE, MUTUAL or OPTIONAL_MUTUAL lacks its certificate, key or "
    "client CA.",
    rationale="""
        A terminating TLS server needs a certificate and key: from a credentialName or
        credentialNames Secret, or as serverCertificate and privateKey files (or
        tlsCertificates). MUTUAL and OPTIONAL_MUTUAL also need caCertificates to verify
        clients, unless a credential Secret holds the CA. Istio's webhook rejects the server
        otherwise.
    """,
    bad=_TLS_HEAD
    + """
          mode: MUTUAL
          serverCertificate: /etc/certs/server.pem
    """,
    good=_TLS_HEAD
    + """
          mode: MUTUAL
          serverCertificate: /etc/certs/server.pem
          privateKey: /etc/certs/key.pem
          caCertificates: /etc/certs/ca.pem
    """,
    kinds=TLS_KINDS,
    istio="IST0106",
    source=f"{_TLS} — 'MUTUAL TLS requires a client CA bundle', 'SIMPLE TLS requires a server "
    "certificate', 'SIMPLE TLS requires a private key'",
    catalogue=("gw-tls-mutual-ca", "gw-tls-cert-missing", "gw-tls-key-missing"),
)
def missing_certificate(res: Resource) -> Iterator[Finding]:
    for base, tls in tls_blocks(res):
        mode = _mode(tls)
        if mode not in _TERMINATING:
            continue
        if _has(tls, "credentialName") or _has(tls, "credentialNames"):
            continue  # the Secret holds everything
        if mode != "SIMPLE" and not _has(tls, "caCertificates"):
            yield Finding(
                (*base, "mode"),
                f"mode {mode} verifies client certificates and needs caCertificates (the "
                "client CA bundle), or a credentialName whose Secret holds the CA",
            )
        certs = tls.get("tlsCertificates")
        if isinstance(certs, list) and certs:
            entries = [
                ((*base, "tlsCertificates", j), c)
                for j, c in enumerate(certs)
                if isinstance(c, dict)
            ]
        else:
            entries = [(base, tls)]
        for where, entry in entries:
            for key, what in (("serverCertificate", "certificate"), ("privateKey", "private key")):
                if entry.get(key) in (None, ""):
                    yield Finding(
                        (*where, key) if key in entry else where,
                        f"mode {mode} needs the server's {what}: set {key}, or use a "
                        "credentialName Secret instead",
                        key=key not in entry,
                    )


@rule(
    "ML610",
    "server-tls-invalid-crl",
    Severity.ERROR,
    summary="Server TLS sets `caCrl` where Istio does not support it: with mode SIMPLE or "
    "beside a credentialName.",
    rationale="""
        A certificate revocation list checks client certificates, which a SIMPLE server does
        not ask for. With a credentialName the CRL must be part of the Secret (key
        `ca.crl`), not a file. Istio's webhook rejects both.
    """,
    bad=_TLS_HEAD
    + """
          mode: SIMPLE
          serverCertificate: /etc/certs/server.pem
          privateKey: /etc/certs/key.pem
          caCrl: /etc/certs/crl.pem
    """,
    good=_TLS_HEAD
    + """
          mode: MUTUAL
          serverCertificate: /etc/certs/server.pem
          privateKey: /etc/certs/key.pem
          caCertificates: /etc/certs/ca.pem
          caCrl: /etc/certs/crl.pem
    """,
    kinds=TLS_KINDS,
    istio="IST0106",
    source=f"{_TLS} — 'CRL is not supported with credentialName. CRL has to be specified in "
    "the credential', 'CRL is not supported with SIMPLE TLS'",
    catalogue=("gw-tls-crl-cred", "gw-tls-crl-simple"),
)
def invalid_crl(res: Resource) -> Iterator[Finding]:
    for base, tls in tls_blocks(res):
        if not _has(tls, "caCrl"):
            continue
        mode = _mode(tls)
        if mode is None or mode == "ISTIO_MUTUAL":
            continue  # ML607 reports what ISTIO_MUTUAL cannot take
        credentials = _has(tls, "credentialName") or _has(tls, "credentialNames")
        if mode in _TERMINATING and credentials:
            continue  # Istio stops checking here: the Secret is used
        path = (*base, "caCrl")
        if _has(tls, "credentialName"):
            yield Finding(
                path,
                "caCrl cannot be combined with credentialName: put the CRL in the Secret "
                "(key ca.crl) instead",
                key=True,
            )
        if mode == "SIMPLE":
            yield Finding(
                path,
                "caCrl has no use with mode SIMPLE, which does not check client certificates: "
                "remove it, or use mode MUTUAL",
                key=True,
            )


@rule(
    "ML611",
    "server-tls-passthrough-with-certificates",
    Severity.WARNING,
    summary="Server TLS mode PASSTHROUGH or AUTO_PASSTHROUGH (the default when `mode` is "
    "omitted) names certificates, which are ignored.",
    rationale="""
        In passthrough modes the gateway forwards the encrypted stream untouched and never
        uses a certificate. Istio admits certificates there with a warning and ignores them.
        The usual cause is a `tls` block without `mode`: the default is PASSTHROUGH, so the
        server does not terminate TLS as intended; add `mode: SIMPLE`.
    """,
    bad=_TLS_HEAD
    + """
          credentialName: shop-cert
    """,
    good=_TLS_HEAD
    + """
          mode: SIMPLE
          credentialName: shop-cert
    """,
    kinds=TLS_KINDS,
    istio="IST0133",
    source=f"{_TLS} (warning) — '%v mode does not use certificates, they will be ignored'",
    catalogue=("gw-tls-pass-certs",),
)
def passthrough_with_certificates(res: Resource) -> Iterator[Finding]:
    for base, tls in tls_blocks(res):
        mode = _mode(tls)
        if mode not in _PASSTHROUGH:
            continue
        given = [k for k in ("caCrl", *_CERT_FIELDS) if _has(tls, k)]
        if not given:
            continue
        if "mode" in tls:
            why = f"mode {mode} passes TLS through and ignores {', '.join(given)}"
        else:
            why = (
                f"without a mode this server uses PASSTHROUGH and ignores {', '.join(given)}: "
                "add mode: SIMPLE (or MUTUAL) to terminate TLS"
            )
        yield Finding((*base, given[0]), why, key=True)


def _cipher_valid(name: str) -> bool:
    if name in ("", "ALL"):
        return True
    if not name[0].isalnum():
        return True  # an OpenSSL operator such as -, +, ! or [: Istio does not parse these
    return name in VALID_CIPHER_SUITES


@rule(
    "ML612",
    "server-tls-cipher-suites",
    Severity.WARNING,
    summary="Server TLS lists unknown or repeated cipher suites, or allows TLS 1.0/1.1 "
    "without cipher suites those versions can use.",
    rationale="""
        Istio drops cipher suites BoringSSL does not know and repeated ones, with a warning:
        a typo silently narrows what clients can negotiate. And the default cipher list no
        longer holds suites TLS 1.0 or 1.1 can use, so a minProtocolVersion below TLSV1_2
        without cipherSuites does not let old clients in.
    """,
    bad=_TLS_HEAD
    + """
          mode: SIMPLE
          credentialName: shop-cert
          minProtocolVersion: TLSV1_2
          cipherSuites:
          - ECDHE-RSA-AES128-GCM-SHA256
          - ECDHE-RSA-AES128-GCM-SHA256
          - TLS_AES_128_GCM_SHA256
    """,
    good=_TLS_HEAD
    + """
          mode: SIMPLE
          credentialName: shop-cert
          minProtocolVersion: TLSV1_2
          cipherSuites:
          - ECDHE-RSA-AES128-GCM-SHA256
          - ECDHE-RSA-AES256-GCM-SHA384
    """,
    kinds=TLS_KINDS,
    istio="IST0133",
    source=f"{_TLS} (warning) — 'ignoring invalid cipher suites', 'ignoring duplicate cipher "
    "suites', 'TLS version below TLSV1_2 require setting compatible ciphers'; "
    "pkg/config/security/security.go (IsValidCipherSuite)",
    catalogue=("gw-tls-cipher-invalid", "gw-tls-cipher-dup", "gw-tls-old-version"),
)
def cipher_suites(res: Resource) -> Iterator[Finding]:
    for base, tls in tls_blocks(res):
        suites = tls.get("cipherSuites")
        version = tls.get("minProtocolVersion")
        if version in ("TLSV1_0", "TLSV1_1") and not suites:
            yield Finding(
                (*base, "minProtocolVersion"),
                f"{version} needs cipherSuites that version can use (e.g. ECDHE-RSA-AES128-SHA): "
                "the default list has none, so these clients still cannot connect",
            )
        if not isinstance(suites, list):
            continue
        seen: set[str] = set()
        for j, name in enumerate(suites):
            if not isinstance(name, str):
                continue
            path = (*base, "cipherSuites", j)
            if not _cipher_valid(name):
                yield Finding(
                    path,
                    f"'{name}' is not a cipher suite Istio knows, so it is dropped: use "
                    "BoringSSL names such as ECDHE-RSA-AES128-GCM-SHA256 (TLS 1.3 suites are "
                    "not configurable)",
                )
            elif name in seen:
                yield Finding(path, f"'{name}' is listed twice; the second is dropped")
            else:
                seen.add(name)
