"""Server TLS options: the ``tls`` of Gateway servers and of Sidecar ingress listeners.

Facts: istio/istio ``pkg/config/validation/validation.go`` (``validateTLSOptions``, which Istio
runs on both), ``pkg/config/gateway/gateway.go`` (``IsPassThroughServer``),
``pkg/config/security/security.go`` (``IsValidCipherSuite``) and the CEL rules of the Gateway
CRD (istio/api ``networking/v1alpha3/gateway.proto``). What only a Sidecar ingress listener
rejects is the sidecar ingress module's. Shapes and enums are the schema stage's (ML206-ML209).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from meshlint.diagnostics import FieldPath, Severity
from meshlint.resource import Resource
from meshlint.rules import Finding, rule
from meshlint.rules.lib.listeners import PASSTHROUGH_MODES, listeners, tls_set

KINDS = {"Gateway", "Sidecar"}
_TLS = "webhook: pkg/config/validation/validation.go (validateTLSOptions)"

_MODES = frozenset(
    ("PASSTHROUGH", "SIMPLE", "MUTUAL", "AUTO_PASSTHROUGH", "ISTIO_MUTUAL", "OPTIONAL_MUTUAL")
)
_TERMINATING = frozenset(("SIMPLE", "MUTUAL", "OPTIONAL_MUTUAL"))

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


def tls_blocks(res: Resource) -> Iterator[tuple[FieldPath, dict[str, Any]]]:
    """Every ServerTLSSettings of the resource, with its path."""
    spec = res.spec_map
    if spec is None:
        return
    key = "servers" if res.kind == "Gateway" else "ingress"
    for i, listener in listeners(spec, key):
        tls = listener.get("tls")
        if isinstance(tls, dict):
            yield ("spec", key, i, "tls"), tls


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
          credentialName: shop-cert  # expect: ML607@7 spec.servers[0].tls.credentialName
    """,
    good=_TLS_HEAD
    + """
          mode: ISTIO_MUTUAL
    """,
    kinds=KINDS,
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
def server_tls_istio_mutual_with_certificates(res: Resource) -> Iterator[Finding]:
    for base, tls in tls_blocks(res):
        if tls.get("mode") != "ISTIO_MUTUAL":
            continue
        for key in _CERT_FIELDS:
            if tls_set(tls, key):
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
          credentialNames: [shop-cert-rsa, shop-cert-ecdsa]  # expect: ML608@7 spec.servers[0].tls.credentialNames
    """,
    good=_TLS_HEAD
    + """
          mode: SIMPLE
          credentialNames: [shop-cert-rsa, shop-cert-ecdsa]
    """,
    kinds=KINDS,
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
def server_tls_several_certificate_sources(res: Resource) -> Iterator[Finding]:
    for base, tls in tls_blocks(res):
        if tls.get("mode") == "ISTIO_MUTUAL":
            continue  # ML607 reports every certificate given with ISTIO_MUTUAL
        sources: list[tuple[str, str]] = []
        if tls_set(tls, "serverCertificate") and tls_set(tls, "privateKey"):
            sources.append(("serverCertificate", "serverCertificate/privateKey"))
        for key in ("credentialName", "credentialNames", "tlsCertificates"):
            if tls_set(tls, key):
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
    bad=_HEAD
    + """
      servers:
      - port: {number: 443, name: https, protocol: HTTPS}
        hosts: ["shop.example.com"]
        tls:  # expect: ML609@5 spec.servers[0].tls
          mode: MUTUAL  # expect: ML609@13 spec.servers[0].tls.mode
          serverCertificate: /etc/certs/server.pem
    """,
    good=_TLS_HEAD
    + """
          mode: MUTUAL
          serverCertificate: /etc/certs/server.pem
          privateKey: /etc/certs/key.pem
          caCertificates: /etc/certs/ca.pem
    """,
    kinds=KINDS,
    istio="IST0106",
    source=f"{_TLS} — 'MUTUAL TLS requires a client CA bundle', 'SIMPLE TLS requires a server "
    "certificate', 'SIMPLE TLS requires a private key'",
    catalogue=("gw-tls-mutual-ca", "gw-tls-cert-missing", "gw-tls-key-missing"),
)
def server_tls_missing_certificate(res: Resource) -> Iterator[Finding]:
    for base, tls in tls_blocks(res):
        mode = _mode(tls)
        if mode not in _TERMINATING:
            continue
        if tls_set(tls, "credentialName") or tls_set(tls, "credentialNames"):
            continue  # the Secret holds everything
        if mode != "SIMPLE" and not tls_set(tls, "caCertificates"):
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
          caCrl: /etc/certs/crl.pem  # expect: ML610@7 spec.servers[0].tls.caCrl
    """,
    good=_TLS_HEAD
    + """
          mode: MUTUAL
          serverCertificate: /etc/certs/server.pem
          privateKey: /etc/certs/key.pem
          caCertificates: /etc/certs/ca.pem
          caCrl: /etc/certs/crl.pem
    """,
    kinds=KINDS,
    istio="IST0106",
    source=f"{_TLS} — 'CRL is not supported with credentialName. CRL has to be specified in "
    "the credential', 'CRL is not supported with SIMPLE TLS'",
    catalogue=("gw-tls-crl-cred", "gw-tls-crl-simple"),
)
def server_tls_invalid_crl(res: Resource) -> Iterator[Finding]:
    for base, tls in tls_blocks(res):
        if not tls_set(tls, "caCrl"):
            continue
        mode = _mode(tls)
        if mode is None or mode == "ISTIO_MUTUAL":
            continue  # ML607 reports what ISTIO_MUTUAL cannot take
        credentials = tls_set(tls, "credentialName") or tls_set(tls, "credentialNames")
        if mode in _TERMINATING and credentials:
            continue  # Istio stops checking here: the Secret is used
        path = (*base, "caCrl")
        if tls_set(tls, "credentialName"):
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
          credentialName: shop-cert  # expect: ML611@7 spec.servers[0].tls.credentialName
    """,
    good=_TLS_HEAD
    + """
          mode: SIMPLE
          credentialName: shop-cert
    """,
    kinds=KINDS,
    istio="IST0133",
    source=f"{_TLS} (warning) — '%v mode does not use certificates, they will be ignored'",
    catalogue=("gw-tls-pass-certs",),
)
def server_tls_passthrough_with_certificates(res: Resource) -> Iterator[Finding]:
    for base, tls in tls_blocks(res):
        mode = _mode(tls)
        if mode not in PASSTHROUGH_MODES:
            continue
        given = [k for k in ("caCrl", *_CERT_FIELDS) if tls_set(tls, k)]
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
          - ECDHE-RSA-AES128-GCM-SHA256  # expect: ML612@9 spec.servers[0].tls.cipherSuites[1]
          - TLS_AES_128_GCM_SHA256  # expect: ML612@9 spec.servers[0].tls.cipherSuites[2]
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
    kinds=KINDS,
    istio="IST0133",
    source=f"{_TLS} (warning) — 'ignoring invalid cipher suites', 'ignoring duplicate cipher "
    "suites', 'TLS version below TLSV1_2 require setting compatible ciphers'; "
    "pkg/config/security/security.go (IsValidCipherSuite)",
    catalogue=("gw-tls-cipher-invalid", "gw-tls-cipher-dup", "gw-tls-old-version"),
)
def server_tls_cipher_suites(res: Resource) -> Iterator[Finding]:
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
