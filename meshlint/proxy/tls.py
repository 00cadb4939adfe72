"""TLS with the standard ``ssl`` module: the inbound mutual TLS of a workload (client
certificates from the mesh CA with a SPIFFE identity of a trusted domain), a Gateway's server
TLS (SIMPLE, MUTUAL, OPTIONAL_MUTUAL; chosen by SNI), and TLS to upstreams (ISTIO_MUTUAL with
the destination's SPIFFE identities checked, SIMPLE, MUTUAL).

``ssl`` checks DNS names only, so the URI SANs that carry SPIFFE identities are checked here,
once the handshake is done, as Envoy's ``match_typed_subject_alt_names`` checks them.
"""

from __future__ import annotations

import hashlib
import ssl
from collections.abc import Callable
from typing import Any

from meshlint.translate.plan import Certificates, ClientTls, ServerTls

_VERSIONS = {
    "TLSV1_0": ssl.TLSVersion.TLSv1,
    "TLSV1_1": ssl.TLSVersion.TLSv1_1,
    "TLSV1_2": ssl.TLSVersion.TLSv1_2,
    "TLSV1_3": ssl.TLSVersion.TLSv1_3,
}


class TlsConfigError(Exception):
    """Certificates that cannot be loaded: the proxy does not start."""


def _load(ctx: ssl.SSLContext, chain: str, key: str) -> None:
    try:
        ctx.load_cert_chain(chain, key)
    except (OSError, ssl.SSLError) as exc:
        raise TlsConfigError(f"cannot load the certificate {chain} with key {key}: {exc}") from None


def _trust(ctx: ssl.SSLContext, ca: str) -> None:
    try:
        ctx.load_verify_locations(ca)
    except (OSError, ssl.SSLError) as exc:
        raise TlsConfigError(f"cannot load the CA certificates {ca}: {exc}") from None


def uris(cert: dict[str, Any] | None) -> list[str]:
    """The URI SANs of a peer certificate (as ``getpeercert()`` gives it)."""
    if not cert:
        return []
    return [v for k, v in cert.get("subjectAltName", ()) if k == "URI"]


def dns_names(cert: dict[str, Any] | None) -> list[str]:
    if not cert:
        return []
    return [v for k, v in cert.get("subjectAltName", ()) if k == "DNS"]


def inbound_mtls(certs: Certificates, trust_domains: tuple[str, ...]) -> ssl.SSLContext:
    """The server side of the mesh's mutual TLS: a client certificate is required."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    _load(ctx, certs.cert_chain, certs.private_key)
    _trust(ctx, certs.root_cert)
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


def spiffe_check(trust_domains: tuple[str, ...]) -> Callable[[Any], str | None]:
    """A check of a peer's identity: its certificate holds a SPIFFE URI of a trusted domain."""
    prefixes = tuple(f"spiffe://{td}/" for td in trust_domains)

    def check(ssl_object: Any) -> str | None:
        if ssl_object is None:
            return "no TLS"
        names = uris(ssl_object.getpeercert())
        if any(n.startswith(prefixes) for n in names):
            return None
        return f"peer identity {names or 'none'} is not of a trusted domain"

    return check


def gateway_server(tls: ServerTls, certs: Certificates | None) -> ssl.SSLContext:
    """A Gateway server's TLS."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = _VERSIONS.get(
        (tls.min_version or "TLSV1_2").upper(), ssl.TLSVersion.TLSv1_2
    )
    if tls.max_version:
        ctx.maximum_version = _VERSIONS.get(tls.max_version.upper(), ssl.TLSVersion.TLSv1_3)
    if tls.mode == "ISTIO_MUTUAL":
        if certs is None:
            raise TlsConfigError("an ISTIO_MUTUAL server needs the workload certificates")
        _load(ctx, certs.cert_chain, certs.private_key)
        _trust(ctx, certs.root_cert)
        ctx.verify_mode = ssl.CERT_REQUIRED
    else:
        if not tls.certificate or not tls.private_key:
            raise TlsConfigError(
                f"the {tls.mode} server has no certificate and key (credentialName "
                f"{tls.credential_name or 'unset'}: mint it with `meshlint certs`)"
            )
        _load(ctx, tls.certificate, tls.private_key)
        if tls.mode in ("MUTUAL", "OPTIONAL_MUTUAL"):
            if not tls.ca_certificates:
                raise TlsConfigError(f"the {tls.mode} server has no CA to check clients with")
            _trust(ctx, tls.ca_certificates)
            ctx.verify_mode = ssl.CERT_REQUIRED if tls.mode == "MUTUAL" else ssl.CERT_OPTIONAL
    if tls.cipher_suites:
        try:
            ctx.set_ciphers(":".join(tls.cipher_suites))
        except ssl.SSLError as exc:
            raise TlsConfigError(f"cipher suites {', '.join(tls.cipher_suites)}: {exc}") from None
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


def san_check(names: tuple[str, ...]) -> Callable[[Any], str | None] | None:
    """A check of a gateway client's DNS SANs (``subjectAltNames`` of a MUTUAL server)."""
    if not names:
        return None
    wanted = set(names)

    def check(ssl_object: Any) -> str | None:
        cert = ssl_object.getpeercert() if ssl_object is not None else None
        if not cert:
            return None  # OPTIONAL_MUTUAL without a certificate
        if wanted & set(dns_names(cert)):
            return None
        return "client certificate SAN not accepted"

    return check


def upstream(
    tls: ClientTls, certs: Certificates | None
) -> tuple[ssl.SSLContext | None, str | None, Callable[[Any], str | None] | None]:
    """The context for connections to a cluster, the SNI to send, and the check of the peer."""
    if tls.mode == "DISABLE":
        return None, None, None
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.check_hostname = False  # names are checked below, as Envoy checks them
    verify: Callable[[Any], str | None] | None = None
    if tls.mode == "ISTIO_MUTUAL":
        if certs is None:
            raise TlsConfigError("ISTIO_MUTUAL to an upstream needs the workload certificates")
        _load(ctx, certs.cert_chain, certs.private_key)
        _trust(ctx, certs.root_cert)
        ctx.verify_mode = ssl.CERT_REQUIRED
        if tls.subject_alt_names:
            wanted = set(tls.subject_alt_names)

            def verify(ssl_object: Any) -> str | None:
                found = uris(ssl_object.getpeercert() if ssl_object is not None else None)
                if wanted & set(found):
                    return None
                return f"TLS error: peer identity {found or 'none'} is not {sorted(wanted)}"

        ctx.set_alpn_protocols(["istio-http/1.1", "istio", "http/1.1"])
        return ctx, tls.sni, verify
    if tls.mode == "MUTUAL" and tls.client_certificate and tls.private_key:
        _load(ctx, tls.client_certificate, tls.private_key)
    if tls.insecure_skip_verify or not tls.ca_certificates:
        ctx.verify_mode = ssl.CERT_NONE  # Envoy verifies nothing without a validation context
    else:
        _trust(ctx, tls.ca_certificates)
        ctx.verify_mode = ssl.CERT_REQUIRED
        if tls.subject_alt_names:
            names = set(tls.subject_alt_names)

            def verify(ssl_object: Any) -> str | None:
                found = dns_names(ssl_object.getpeercert() if ssl_object is not None else None)
                return None if names & set(found) else "TLS error: SAN not accepted"

    ctx.set_alpn_protocols(["http/1.1"])
    return ctx, tls.sni, verify


def xfcc(ssl_object: Any, own: str) -> str | None:
    """The ``x-forwarded-client-cert`` element of a mutual TLS peer, as Envoy writes it
    (By, Hash, Subject, URI, DNS)."""
    if ssl_object is None:
        return None
    der = ssl_object.getpeercert(binary_form=True)
    if not der:
        return None
    cert = ssl_object.getpeercert()
    subject = ",".join(f"{k}={v}" for rdn in reversed(cert.get("subject", ())) for k, v in rdn)
    parts = [f"By={own}", f"Hash={hashlib.sha256(der).hexdigest()}", f'Subject="{subject}"']
    parts += [f"URI={u}" for u in uris(cert)]
    parts += [f"DNS={d}" for d in dns_names(cert)]
    return ";".join(parts)


def principal(ssl_object: Any) -> str | None:
    """The SPIFFE identity of a mutual TLS peer, without ``spiffe://`` (Istio's principal)."""
    if ssl_object is None:
        return None
    for u in uris(ssl_object.getpeercert()):
        if u.startswith("spiffe://"):
            return u[len("spiffe://") :]
    return None
