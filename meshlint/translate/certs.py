"""Certificates for trying mTLS on a laptop: a local CA, SPIFFE workload certificates, and the
certificates of Gateway credentials.

``meshlint certs DIR`` writes::

    DIR/ca-cert.pem, DIR/ca-key.pem            the mesh root (kept if it exists)
    DIR/<ns>/<sa>/cert-chain.pem, key.pem,     a workload certificate with the URI SAN
        root-cert.pem                          spiffe://<trust-domain>/ns/<ns>/sa/<sa>
    DIR/credentials/<name>/cert.pem, key.pem,  a Gateway credential: DNS SANs of the hosts of
        ca.pem                                 the servers that name it

The file names follow Istio's mounts (cert-chain.pem, key.pem, root-cert.pem).
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from meshlint.translate.endpoints import TranslateError

CA_CERT, CA_KEY = "ca-cert.pem", "ca-key.pem"
CHAIN, KEY, ROOT = "cert-chain.pem", "key.pem", "root-cert.pem"
_VALID_DAYS = 365


@dataclass
class Wanted:
    """What a run needs certificates for."""

    trust_domain: str = "cluster.local"
    accounts: set[tuple[str, str]] = field(default_factory=set)  # (namespace, service account)
    credentials: dict[str, set[str]] = field(default_factory=dict)  # name → DNS names


def _crypto() -> Any:
    try:
        from cryptography import x509  # noqa: F401
    except ImportError:  # pragma: no cover - a dependency of meshlint
        raise TranslateError("`meshlint certs` needs the `cryptography` package") from None
    import cryptography

    return cryptography


def _write(path: Path, data: bytes, *, private: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


def _ca(folder: Path, trust_domain: str) -> tuple[Any, Any, bool]:
    """The CA certificate and key of ``folder``, made when missing. True when made now."""
    _crypto()
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    cert_path, key_path = folder / CA_CERT, folder / CA_KEY
    if cert_path.exists() or key_path.exists():
        try:
            cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
            key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        except (OSError, ValueError) as exc:
            raise TranslateError(
                f"{folder}: the CA ({CA_CERT}, {CA_KEY}) cannot be read ({exc}); remove both to "
                "mint a new one"
            ) from None
        return cert, key, False
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "meshlint"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"meshlint local CA ({trust_domain})"),
        ]
    )
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=10 * _VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write(
        key_path,
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        private=True,
    )
    _write(cert_path, cert.public_bytes(serialization.Encoding.PEM))
    return cert, key, True


def _leaf(
    ca_cert: Any, ca_key: Any, *, uri: str | None = None, dns: list[str] | None = None
) -> tuple[bytes, bytes]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = []
    if uri:
        names.append(x509.UniformResourceIdentifier(uri))
    for d in dns or ():
        names.append(x509.DNSName(d))
    common = (dns or [uri or "meshlint"])[0]
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "meshlint"),
                    x509.NameAttribute(NameOID.COMMON_NAME, common[:64]),
                ]
            )
        )
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=_VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(x509.SubjectAlternativeName(names), critical=bool(uri and not dns))
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
    )
    cert = builder.sign(ca_key, hashes.SHA256())
    return (
        cert.public_bytes(serialization.Encoding.PEM),
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )


def mint(folder: str, wanted: Wanted, *, renew: bool = False) -> list[str]:
    """Write what ``wanted`` needs into ``folder``; existing files are kept unless ``renew``.
    Returns the paths written."""
    base = Path(folder)
    ca_cert, ca_key, made = _ca(base, wanted.trust_domain)
    from cryptography.hazmat.primitives import serialization

    root = ca_cert.public_bytes(serialization.Encoding.PEM)
    written = [str(base / CA_CERT), str(base / CA_KEY)] if made else []
    for ns, sa in sorted(wanted.accounts):
        where = base / ns / sa
        if (where / CHAIN).exists() and not renew and not made:
            continue
        uri = f"spiffe://{wanted.trust_domain}/ns/{ns}/sa/{sa}"
        cert, key = _leaf(ca_cert, ca_key, uri=uri)
        _write(where / KEY, key, private=True)
        _write(where / CHAIN, cert)
        _write(where / ROOT, root)
        written += [str(where / CHAIN), str(where / KEY), str(where / ROOT)]
    for name, hosts in sorted(wanted.credentials.items()):
        where = base / "credentials" / name
        if (where / "cert.pem").exists() and not renew and not made:
            continue
        dns = sorted(h for h in hosts if h != "*") or ["localhost"]
        cert, key = _leaf(ca_cert, ca_key, dns=dns)
        _write(where / "key.pem", key, private=True)
        _write(where / "cert.pem", cert)
        _write(where / "ca.pem", root)
        written += [str(where / "cert.pem"), str(where / "key.pem"), str(where / "ca.pem")]
    return written


def workload_files(folder: str, namespace: str, account: str) -> tuple[str, str, str]:
    """(certificate chain, key, root) of a workload identity in ``folder``."""
    where = Path(folder) / namespace / account
    files = (where / CHAIN, where / KEY, where / ROOT)
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise TranslateError(
            f"--certs {folder}: no certificate for service account {namespace}/{account} "
            f"({missing[0]} is missing): run `meshlint certs {folder}` on the same files"
        )
    return tuple(str(f.resolve()) for f in files)  # type: ignore[return-value]


def credential_files(folder: str, name: str) -> tuple[str, str, str]:
    """(certificate, key, CA) of a Gateway credential in ``folder``."""
    where = Path(folder) / "credentials" / name
    files = (where / "cert.pem", where / "key.pem", where / "ca.pem")
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise TranslateError(
            f"--certs {folder}: no certificate for the Gateway credential `{name}` "
            f"({missing[0]} is missing): run `meshlint certs {folder}` on the same files"
        )
    return tuple(str(f.resolve()) for f in files)  # type: ignore[return-value]


def wanted_by(index: Any) -> Wanted:
    """The service accounts and Gateway credentials of a run (a MeshIndex)."""
    from meshlint.mesh import SERVICE_ACCOUNT, WORKLOAD_KINDS

    out = Wanted(index.settings.trust_domain)
    for kind in WORKLOAD_KINDS:
        for rec in index.by_kind.get(kind, ()):
            sa = rec.data.get(SERVICE_ACCOUNT)
            out.accounts.add(
                (rec.effective_namespace, sa if isinstance(sa, str) and sa else "default")
            )
    for rec in index.by_kind.get("ServiceAccount", ()):
        if rec.name:
            out.accounts.add((rec.effective_namespace, rec.name))
    for gw in index.by_kind.get("Gateway", ()):
        out.accounts.add((gw.effective_namespace, "default"))
        servers = gw.spec.get("servers")
        for server in servers if isinstance(servers, list) else ():
            if not isinstance(server, dict):
                continue
            tls = server.get("tls")
            if not isinstance(tls, dict):
                continue
            names = [tls.get("credentialName")]
            more = tls.get("credentialNames")
            names += more if isinstance(more, list) else []
            listed = server.get("hosts")
            hosts = [
                h.rpartition("/")[2]
                for h in (listed if isinstance(listed, list) else [])
                if isinstance(h, str)
            ]
            for name in names:
                if isinstance(name, str) and name:
                    out.credentials.setdefault(name, set()).update(hosts)
    return out
