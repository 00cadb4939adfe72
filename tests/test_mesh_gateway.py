"""Cross-resource Gateway and ServiceEntry rules (ML955-ML967), beyond their fixtures: credential
forms, wrong types, templates, exportTo, external config, a run split across files, alternatives
of one resource."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_mesh import lint

from meshlint.config import Config
from meshlint.engine import lint_text
from meshlint.rules import all_rules
from meshlint.rules.mesh import gateway as mesh_gateway

# The rules of the module (their fixtures: tests/fixtures/rules/mesh).
CODES = {r.code for r in all_rules() if r.module == mesh_gateway.__name__}


def ours(text: str, config: Config | None = None) -> list[tuple[str, str, int, str]]:
    result = lint_text(text, config or Config(), name="run.yaml")
    return [(d.code, d.severity.label, d.line, d.path) for d in result.findings if d.code in CODES]


# --------------------------------------------------------------------------------------------
# building blocks

INGRESS = mesh_gateway._INGRESS
APP = mesh_gateway._APP
SECRET = mesh_gateway._secret
GATEWAY = mesh_gateway._gateway
VS = mesh_gateway._vs
JOIN = mesh_gateway._join
ROUTE = mesh_gateway._HTTP_ROUTE


def https(cred: str, host: str = "shop.example.com", port: int = 443) -> str:
    return (
        f"  - port:\n      number: {port}\n      name: https-{port}\n      protocol: HTTPS\n"
        f"    tls:\n      mode: SIMPLE\n      credentialName: {cred}\n"
        f"    hosts:\n    - {host}\n"
    )


def http(host: str, port: int = 80, name: str = "http") -> str:
    return (
        f"  - port:\n      number: {port}\n      name: {name}\n      protocol: HTTP\n"
        f"    hosts:\n    - {host}\n"
    )


def bound(name: str = "shop", host: str = "shop.example.com", gw: str = "shop-gateway") -> str:
    return VS(name, f"  - {host}\n", gw, ROUTE)


# --------------------------------------------------------------------------------------------
# ML955


def test_port_reached_through_service_port_or_target_port() -> None:
    for port in (80, 8080, 443, 8443):
        text = JOIN(INGRESS, APP, GATEWAY("gw", http("shop.example.com", port)), bound(gw="gw"))
        assert ours(text) == [], port
    text = JOIN(INGRESS, APP, GATEWAY("gw", http("shop.example.com", 81)), bound(gw="gw"))
    assert ours(text) == [("ML955", "warning", 68, "spec.servers[0].port.number")]


def test_port_needs_the_pods_and_their_service() -> None:
    gateway = GATEWAY("gw", http("shop.example.com", 81))
    no_service = INGRESS.split("---\napiVersion: v1\nkind: Service")[0]
    assert ours(JOIN(no_service, gateway, bound(gw="gw"))) == []
    assert ours(JOIN(gateway, bound(gw="gw"))) == []
    udp = INGRESS.replace("    targetPort: 8443\n", "    targetPort: 8443\n    protocol: UDP\n")
    gateway = GATEWAY("gw", http("shop.example.com", 443))
    assert [c for c, *_ in ours(JOIN(udp, gateway, bound(gw="gw")))] == ["ML955"]


def test_unreadable_service_ports_say_nothing() -> None:
    broken = INGRESS.replace("    port: 443\n", "    port: '{{ .Values.port }}'\n")
    gateway = GATEWAY("gw", http("shop.example.com", 81))
    assert [c for c, *_ in ours(JOIN(broken, gateway))] == []


# --------------------------------------------------------------------------------------------
# ML956 / ML957


@pytest.mark.parametrize(
    ("cred", "found"),
    [
        ("shop-tls", ["ML956"]),
        ("kubernetes://shop-tls", ["ML956"]),
        ("kubernetes://shop-cert", []),
        ("istio-ingress/shop-cert", []),
        ("kubernetes-gateway://istio-ingress/shop-cert", []),
        ("kubernetes-gateway://istio-ingress/nope", ["ML956"]),
        ("kubernetes-gateway://shop/shop-cert", ["ML956"]),  # info only: nothing of shop
        ("sds://shop-tls", []),
        ("builtin://", []),
        ("'{{ .Values.cert }}'", []),
    ],
)
def test_credential_forms(cred: str, found: list[str]) -> None:
    text = JOIN(INGRESS, SECRET("shop-cert"), APP, GATEWAY("gw", https(cred)), bound(gw="gw"))
    assert [c for c, *_ in ours(text)] == found


def test_credential_in_another_namespace_is_an_info() -> None:
    text = JOIN(
        INGRESS,
        SECRET("shop-cert"),
        APP,
        GATEWAY("gw", https("kubernetes-gateway://shop/shop-cert")),
        bound(gw="gw"),
    )
    [(code, severity, _, path)] = ours(text)
    assert (code, severity, path) == ("ML956", "info", "spec.servers[0].tls.credentialName")


def test_credential_needs_secrets_of_the_namespace_and_respects_external() -> None:
    text = JOIN(INGRESS, APP, GATEWAY("gw", https("shop-tls")), bound(gw="gw"))
    assert ours(text) == []
    text = JOIN(INGRESS, SECRET("other"), APP, GATEWAY("gw", https("shop-tls")), bound(gw="gw"))
    assert [c for c, *_ in ours(text)] == ["ML956"]
    assert ours(text, Config(external_namespaces=["istio-*"])) == []
    # no gateway pods in the run: the namespace to look in is unknown
    pods = INGRESS.split("---\napiVersion: apps/v1")[0]
    assert ours(JOIN(pods, SECRET("other"), GATEWAY("gw", https("shop-tls")))) == []


def test_credential_names_list_is_checked() -> None:
    server = https("x").replace(
        "      credentialName: x\n", "      credentialNames:\n      - shop-cert\n      - ec-cert\n"
    )
    text = JOIN(INGRESS, SECRET("shop-cert"), APP, GATEWAY("gw", server), bound(gw="gw"))
    assert [(c, p) for c, _, _, p in ours(text)] == [
        ("ML956", "spec.servers[0].tls.credentialNames[1]")
    ]


def secret_doc(body: str) -> str:
    return (
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: shop-cert\n"
        "  namespace: istio-ingress\n" + body
    )


def unreadable(body: str) -> list[tuple[str, str, int, str]]:
    text = JOIN(INGRESS, secret_doc(body), APP, GATEWAY("gw", https("shop-cert")), bound(gw="gw"))
    return ours(text)


def b64(text: str) -> str:
    import base64

    return base64.b64encode(text.encode()).decode()


CERT = mesh_gateway._CERT.replace("    ", "")
KEY = mesh_gateway._KEY.replace("    ", "")


def test_secret_in_data_as_base64_is_read() -> None:
    good = f"data:\n  tls.crt: {b64(CERT)}\n  tls.key: {b64(KEY)}\n"
    assert unreadable(good) == []
    generic = f"data:\n  cert: {b64(CERT)}\n  key: {b64(KEY)}\n"
    assert unreadable(generic) == []


@pytest.mark.parametrize(
    ("body", "path", "words"),
    [
        ("data:\n  tls.crt: '%%%'\n  tls.key: 'a2V5'\n", 'data["tls.crt"]', "not valid base64"),
        ("data:\n  ca.crt: Y2E=\n", "data", "neither"),
        ("data:\n  tls.crt: ''\n  tls.key: ''\n", "data", "empty"),
        ("stringData:\n  tls.crt: {crt}\n  tls.key: {key}\n", 'stringData["tls.crt"]', "PEM"),
        ("data:\n  tls.crt: {crt64}\n  tls.key: {cert64}\n", 'data["tls.key"]', "CERTIFICATE"),
        ("data:\n  tls.crt: {junk64}\n  tls.key: {key64}\n", 'data["tls.crt"]', "base64"),
        ("data:\n  tls.crt: {notx509}\n  tls.key: {key64}\n", 'data["tls.crt"]', "X.509"),
    ],
)
def test_unreadable_secrets(body: str, path: str, words: str) -> None:
    body = body.format(
        crt="not-a-certificate",
        key="not-a-key",
        crt64=b64(CERT),
        cert64=b64(CERT),
        key64=b64(KEY),
        junk64=b64("-----BEGIN CERTIFICATE-----\n@@@@\n-----END CERTIFICATE-----\n"),
        notx509=b64("-----BEGIN CERTIFICATE-----\nMAMCAQE=\n-----END CERTIFICATE-----\n"),
    )
    result = lint_text(
        JOIN(INGRESS, secret_doc(body), APP, GATEWAY("gw", https("shop-cert")), bound(gw="gw")),
        Config(),
        name="run.yaml",
    )
    [d] = [d for d in result.findings if d.code == "ML957"]
    assert d.path == path and words in d.message, d.message
    assert d.resource == "Secret/istio-ingress/shop-cert"


def test_expired_certificate(monkeypatch: pytest.MonkeyPatch) -> None:
    from datetime import datetime, timezone

    good = f"data:\n  tls.crt: {b64(CERT)}\n  tls.key: {b64(KEY)}\n"
    monkeypatch.setattr(mesh_gateway, "_now", lambda: datetime(2200, 1, 1, tzinfo=timezone.utc))
    [(code, _, _, _)] = unreadable(good)
    assert code == "ML957"
    monkeypatch.setattr(mesh_gateway, "_now", lambda: datetime(2000, 1, 1, tzinfo=timezone.utc))
    assert [c for c, *_ in unreadable(good)] == ["ML957"]


def _pki() -> dict[str, str]:
    """PEM texts made here: a CA, a certificate it signs and its key, a certificate signed by
    another key in the CA's name, a CA not valid yet, an encrypted key."""
    import base64
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.name import _ASN1Type
    from cryptography.x509.oid import NameOID

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def cert(cn: str, key: Any, issuer: str, signer: Any, start: int = 2025) -> str:
        made = (
            x509.CertificateBuilder()
            .subject_name(name(cn))
            .issuer_name(name(issuer))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(dt.datetime(start, 1, 1, tzinfo=dt.timezone.utc))
            .not_valid_after(dt.datetime(start + 100, 1, 1, tzinfo=dt.timezone.utc))
            .sign(signer, hashes.SHA256())
        )
        return made.public_bytes(serialization.Encoding.PEM).decode()

    def pem(key: Any, password: bytes | None = None) -> str:
        crypt = (
            serialization.BestAvailableEncryption(password)
            if password
            else serialization.NoEncryption()
        )
        fmt = serialization.PrivateFormat.PKCS8
        return key.private_bytes(serialization.Encoding.PEM, fmt, crypt).decode()

    ca, leaf, other = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    # a certificate whose subject does not parse (`@` is no PrintableString character): the
    # library reads the name only when asked
    printable = x509.NameAttribute(NameOID.COMMON_NAME, "shopXcert", _ASN1Type.PrintableString)
    named = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([printable]))
        .issuer_name(name("shop-ca"))
        .public_key(leaf.public_key())
        .serial_number(1)
        .not_valid_before(dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc))
        .not_valid_after(dt.datetime(2125, 1, 1, tzinfo=dt.timezone.utc))
        .sign(ca, hashes.SHA256())
    )
    der = named.public_bytes(serialization.Encoding.DER).replace(b"shopXcert", b"shop@cert")

    def pem_of(der: bytes) -> str:
        body = base64.encodebytes(der).decode()
        return f"-----BEGIN CERTIFICATE-----\n{body}-----END CERTIFICATE-----\n"

    ca_cert = cert("shop-ca", ca, "shop-ca", ca)
    ca_der = x509.load_pem_x509_certificate(ca_cert.encode()).public_bytes(
        serialization.Encoding.DER
    )
    return {
        "broken-name": pem_of(der),
        # the CA with bytes that are not UTF-8 in its names, and with version 127
        "bad-names-ca": pem_of(ca_der.replace(b"shop-ca", b"shop\x95ca")),
        "bad-version": pem_of(ca_der.replace(b"\xa0\x03\x02\x01\x02", b"\xa0\x03\x02\x01\x7e", 1)),
        "ca": ca_cert,
        "future-ca": cert("shop-ca", ca, "shop-ca", ca, start=2200),
        "leaf": cert("shop.example.com", leaf, "shop-ca", ca),
        "forged": cert("shop.example.com", leaf, "shop-ca", other),
        "key": pem(leaf),
        "other-key": pem(other),
        "locked-key": pem(leaf, b"secret"),
    }


PKI = _pki()


@pytest.mark.parametrize(
    ("crt", "key", "where", "words"),
    [
        ("leaf ca", "key", None, None),
        ("forged ca", "key", "tls.crt", "not signed by that CA"),
        ("ca leaf", "key", "tls.crt", "followed by `CN=shop.example.com`"),
        ("leaf future-ca", "key", "tls.crt", "certificate 2 of the chain, which is not valid"),
        ("leaf ca", "other-key", "tls.key", "is not the certificate's"),
        ("leaf ca", "locked-key", "tls.key", "encrypted private key"),
        ("broken-name ca", "key", "tls.crt", "not an X.509 certificate"),
        ("leaf broken-name", "key", "tls.crt", "not an X.509 certificate"),
        ("leaf bad-names-ca", "key", "tls.crt", "not an X.509 certificate"),
        ("leaf bad-version", "key", "tls.crt", "not an X.509 certificate"),
    ],
)
def test_chain_and_key_in_base64_data(crt: str, key: str, where: str | None, words: str) -> None:
    chain = "".join(PKI[c] for c in crt.split())
    found = [
        d
        for d in lint_text(
            JOIN(
                INGRESS,
                secret_doc(f"data:\n  tls.crt: {b64(chain)}\n  tls.key: {b64(PKI[key])}\n"),
                APP,
                GATEWAY("gw", https("shop-cert")),
                bound(gw="gw"),
            ),
            Config(),
            name="run.yaml",
        ).findings
        if d.code == "ML957"
    ]
    if where is None:
        assert found == []
        return
    d = found[0]  # (a chain in the wrong order also holds a key that is not its first's)
    assert d.path == f'data["{where}"]' and words in d.message, d.message
    # base64 text has no place for a line of the PEM text: the finding is on the value
    assert d.column == 12


def test_mutated_certificates_never_fail_the_rule() -> None:
    # DER bytes changed at random (fixed seed) in the leaf or the CA of a good chain: a
    # finding or none, never a failure (the conftest guard fails an internal error)
    import base64
    import random

    rng = random.Random(7)
    ders = [base64.b64decode("".join(PKI[n].splitlines()[1:-1])) for n in ("leaf", "ca")]
    for _ in range(150):
        chain = [bytearray(d) for d in ders]
        which = chain[rng.randrange(2)]
        for _ in range(rng.randint(1, 3)):
            which[rng.randrange(len(which))] = rng.randrange(256)
        pem = "".join(
            f"-----BEGIN CERTIFICATE-----\n{base64.encodebytes(bytes(d)).decode()}"
            "-----END CERTIFICATE-----\n"
            for d in chain
        )
        body = f"data:\n  tls.crt: {b64(pem)}\n  tls.key: {b64(PKI['key'])}\n"
        assert all(code == "ML957" for code, *_ in unreadable(body))


def test_chain_findings_are_on_the_certificate_in_string_data() -> None:
    body = "stringData:\n  tls.crt: |\n" + "".join(
        f"    {line}\n" for line in (PKI["forged"] + PKI["ca"]).splitlines()
    )
    body += "  tls.key: |\n" + "".join(f"    {line}\n" for line in PKI["key"].splitlines())
    text = JOIN(INGRESS, secret_doc(body), APP, GATEWAY("gw", https("shop-cert")), bound(gw="gw"))
    [d] = [d for d in lint_text(text, Config(), name="run.yaml").findings if d.code == "ML957"]
    assert "not signed by that CA" in d.message
    lines = text.splitlines()
    assert lines[d.line - 1] == "    -----BEGIN CERTIFICATE-----" and d.column == 5
    assert lines[d.line - 2] == "  tls.crt: |"


def test_wrong_types_do_not_raise() -> None:
    assert unreadable("data: [1, 2]\n") == []
    assert unreadable("data:\n  tls.crt: 5\n  tls.key: 6\n") == []
    text = JOIN(
        INGRESS,
        GATEWAY(
            "gw", "  - port: 443\n    tls: [x]\n    hosts: 7\n  - null\n  - port: {number: x}\n"
        ),
        "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata:\n  name: g2\n"
        "  namespace: shop\nspec:\n  selector: [a]\n  servers: {a: b}\n",
        "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata:\n  name: s\n"
        "  namespace: shop\nspec:\n  hosts: x\n  ports: [{number: '443'}, 5]\n  exportTo: 3\n",
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  name: v\n"
        "  namespace: shop\nspec:\n  hosts: [a.example.com]\n  gateways: [gw, 5]\n  http: 3\n",
    )
    assert ours(text) == []


# --------------------------------------------------------------------------------------------
# ML958 / ML959 / ML964


def test_plaintext_host_conflict_is_a_warning_and_names_the_first() -> None:
    text = JOIN(
        INGRESS,
        APP,
        GATEWAY("a", http("shop.example.com")),
        GATEWAY("b", http("SHOP.example.com"), namespace="web"),
        bound(gw="a"),
    )
    result = lint_text(text, Config(), name="run.yaml")
    [d] = [d for d in result.findings if d.code == "ML958"]
    assert (d.severity.label, d.resource) == ("warning", "Gateway/web/b")
    assert "Gateway/shop/a" in d.message


def test_host_conflict_needs_the_same_workloads_port_bind_and_namespace() -> None:
    other = GATEWAY("b", http("shop.example.com")).replace("ingressgateway", "internal")
    assert ours(JOIN(GATEWAY("a", http("shop.example.com")), other)) == []
    moved = GATEWAY("b", http("shop.example.com", 8080, "http-alt"))
    assert ours(JOIN(GATEWAY("a", http("shop.example.com")), moved)) == []
    bind = GATEWAY(
        "b", http("shop.example.com").replace("    hosts:", "    bind: 10.0.0.1\n    hosts:")
    )
    assert ours(JOIN(GATEWAY("a", http("shop.example.com")), bind)) == []
    scoped = [GATEWAY(n, http(f"{n}/shop.example.com")) for n in ("a", "b")]
    assert ours(JOIN(*scoped)) == []
    anyns = GATEWAY("b", http("'*/shop.example.com'"))
    assert [c for c, *_ in ours(JOIN(scoped[0], anyns))] == ["ML958"]


def test_overlapping_selectors_that_share_a_pod_conflict() -> None:
    narrow = GATEWAY("b", http("shop.example.com")).replace(
        "    istio: ingressgateway\n", "    istio: ingressgateway\n    tier: edge\n"
    )
    pods = INGRESS.replace(
        "        istio: ingressgateway\n    spec:",
        "        istio: ingressgateway\n        tier: edge\n    spec:",
    )
    assert ours(JOIN(GATEWAY("a", http("shop.example.com")), narrow)) == []
    assert [c for c, *_ in ours(JOIN(pods, GATEWAY("a", http("shop.example.com")), narrow))] == [
        "ML958"
    ]


def test_alternatives_of_one_gateway_do_not_conflict() -> None:
    a = GATEWAY("gw", http("shop.example.com"))
    b = GATEWAY("gw", http("shop.example.com").replace("name: http", "name: http-2"))
    assert ours(JOIN(a, b)) == []


def test_protocol_clash_within_one_gateway_and_https_after_http() -> None:
    servers = http("shop.example.com", 443) + https("shop-cert", port=443)
    assert ours(JOIN(GATEWAY("gw", servers))) == [
        ("ML964", "error", 19, "spec.servers[1].port.protocol")
    ]
    tls_first = https("shop-cert", port=443) + http("shop.example.com", 443)
    assert ours(JOIN(GATEWAY("gw", tls_first))) == []


def test_duplicate_certificate_needs_overlapping_selectors() -> None:
    a = GATEWAY("a", https("wild", "a.example.com"))
    b = GATEWAY("b", https("wild", "b.example.com"))
    assert [c for c, *_ in ours(JOIN(a, b))] == ["ML959"]
    other = b.replace("ingressgateway", "internal")
    assert ours(JOIN(a, other)) == []
    wider = b.replace("  selector:\n    istio: ingressgateway\n", "")
    assert [c for c, *_ in ours(JOIN(a, wider))] == ["ML959"]


# --------------------------------------------------------------------------------------------
# ML960-ML963


def test_server_routes_need_a_bound_virtual_service_in_the_run() -> None:
    gateway = GATEWAY("gw", http("shop.example.com") + http("api.example.com", 8080, "http-api"))
    assert ours(JOIN(gateway)) == []
    assert [(c, p) for c, _, _, p in ours(JOIN(gateway, bound(gw="gw")))] == [
        ("ML960", "spec.servers[1].hosts")
    ]
    wildcard = VS("all", "  - '*.example.com'\n", "gw", ROUTE)
    assert ours(JOIN(gateway, wildcard)) == []


def test_redirect_servers_and_foreign_namespaces_need_no_routes() -> None:
    redirect = http("shop.example.com").replace(
        "    hosts:", "    tls:\n      httpsRedirect: true\n    hosts:"
    )
    gateway = GATEWAY("gw", redirect + http("web/api.example.com", 8080, "http-api"))
    vs = VS(
        "shop",
        "  - shop.example.com\n",
        "gw",
        "  tcp:\n  - route:\n    - destination:\n        host: frontend\n",
    )
    assert ours(JOIN(gateway, vs)) == []


def test_passthrough_checks_skip_mesh_bound_and_unknown_gateways() -> None:
    gateway = GATEWAY("gw", mesh_gateway._PASSTHROUGH.format(host="shop.example.com"))
    mesh = VS("shop", "  - shop.example.com\n", "gw\n  - mesh", ROUTE)
    assert [c for c, *_ in ours(JOIN(gateway, mesh))] == ["ML961"]
    elsewhere = VS("shop", "  - shop.example.com\n", "istio-system/edge", ROUTE)
    assert ours(JOIN(elsewhere)) == []


def test_tls_routes_with_a_passthrough_server_are_fine() -> None:
    servers = https("c") + mesh_gateway._PASSTHROUGH.format(host="shop.example.com").replace(
        "number: 443", "number: 8443"
    )
    tls = mesh_gateway._TLS_ROUTE.format(host="shop.example.com")
    vs = VS("shop", "  - shop.example.com\n", "gw", ROUTE + tls)
    assert ours(JOIN(GATEWAY("gw", servers), vs)) == []


# --------------------------------------------------------------------------------------------
# ServiceEntries

SE = mesh_gateway._se
SE_TLS = mesh_gateway._SE_TLS
SE_HTTPS = mesh_gateway._SE_HTTPS


def test_service_entry_scopes_and_short_names() -> None:
    private = "  exportTo:\n  - .\n"
    a = SE("a", "shop", "api.example.com", SE_HTTPS, private)
    b = SE("b", "web", "api.example.com", SE_TLS, private)
    assert ours(JOIN(a, b)) == []
    c = SE("c", "web", "API.example.com", SE_TLS, "  exportTo:\n  - shop\n")
    assert [c for c, *_ in ours(JOIN(a, c))] == ["ML965"]
    d = SE("d", "shop", "api.example.com", SE_HTTPS.replace("HTTPS", "https"))
    assert [c for c, *_ in ours(JOIN(a, d))] == ["ML966"]
    tpl = SE("t", "shop", "'{{ .Values.host }}'", SE_TLS)
    assert ours(JOIN(a, tpl, tpl.replace("name: t", "name: u"))) == []


def test_service_entry_for_a_kubernetes_service_short_and_full() -> None:
    port = "  - number: 8080\n    name: http\n    protocol: HTTP\n"
    assert [c for c, *_ in ours(JOIN(APP, SE("s", "shop", "frontend", port)))] == ["ML967"]
    assert ours(JOIN(APP, SE("s", "web", "frontend", port))) == []
    assert ours(JOIN(SE("s", "shop", "frontend", port))) == []


# --------------------------------------------------------------------------------------------
# a run split across files


def test_run_split_across_files(tmp_path: Path) -> None:
    (tmp_path / "ingress.yaml").write_text(JOIN(INGRESS, SECRET("other")))
    (tmp_path / "gateway.yaml").write_text(GATEWAY("gw", https("shop-tls")))
    (tmp_path / "routes.yaml").write_text(JOIN(APP, bound(gw="gw")))
    assert [(f[0], f[2], f[5]) for f in lint(tmp_path) if f[0] in CODES] == [
        ("ML956", "gateway.yaml", "spec.servers[0].tls.credentialName")
    ]
    assert [f for f in lint(tmp_path / "gateway.yaml") if f[0] in CODES] == []


def test_istio_suppression_annotation() -> None:
    text = JOIN(GATEWAY("a", http("shop.example.com")), GATEWAY("b", http("shop.example.com")))
    assert [c for c, *_ in ours(text)] == ["ML958"]
    suppressed = text.replace(
        "  name: b\n", "  name: b\n  annotations:\n    galley.istio.io/analyze-suppress: IST0145\n"
    )
    assert ours(suppressed) == []


def test_tls_duplicate_host_within_one_gateway() -> None:
    servers = https("a", port=443) + https("b", port=443)
    [(code, severity, _, path)] = ours(JOIN(GATEWAY("gw", servers)))
    assert (code, severity, path) == ("ML958", "error", "spec.servers[1].hosts[0]")
    plain = http("shop.example.com") + http("shop.example.com", name="http-2")
    assert ours(JOIN(GATEWAY("gw", plain))) == []
