"""Gateway rules (ML601-ML613) and the server TLS rules Sidecars share, in detail: Istio's own
test cases and edge cases. The fixtures in tests/fixtures/rules/gateway/ mark every finding."""

from __future__ import annotations

import pytest

from meshlint.config import Config
from meshlint.diagnostics import Diagnostic
from meshlint.engine import lint_text

OURS = Config(select=["ML6"])

Row = tuple[str, str, int, int, str]  # code, severity, line, column, path


def rows(found: list[Diagnostic]) -> list[Row]:
    return [(d.code, d.severity.label, d.line, d.column, d.path) for d in found]


def lint(text: str, config: Config = OURS) -> list[Diagnostic]:
    return lint_text(text, config, name="t.yaml").findings


# ---------------------------------------------------------------------------------------------
# Details
# ---------------------------------------------------------------------------------------------

_GW = """
apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: gw
  namespace: shop
spec:
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: ["shop.example.com"]
    tls:
"""


def test_gateway_api_gateway_is_not_checked() -> None:
    text = """
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: gw
spec:
  gatewayClassName: istio
"""
    assert lint(text) == []


def test_missing_spec_is_reported_on_the_resource() -> None:
    found = lint("apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata:\n  name: gw\n")
    assert rows(found) == [("ML601", "error", 1, 1, "")]


@pytest.mark.parametrize(
    ("tls", "codes"),
    [
        # Istio's TestValidateTlsOptions cases
        ("      mode: SIMPLE\n      credentialName: sds\n", []),
        ("      mode: SIMPLE\n      credentialName: sds\n      caCrl: crl\n", []),
        ("      mode: SIMPLE\n      caCrl: crl\n", ["ML609", "ML609", "ML610"]),
        ("      mode: MUTUAL\n      credentialNames: [a, b]\n", []),
        ("      mode: ISTIO_MUTUAL\n", []),
        ("      mode: PASSTHROUGH\n      caCrl: crl\n", ["ML611"]),
        ("      mode: PASSTHROUGH\n      credentialName: sds\n", ["ML611"]),
        (
            "      mode: SIMPLE\n      credentialName: sds\n      cipherSuites: [-ECDHE-ECDSA-AES128-SHA]\n",
            [],
        ),
        (
            "      mode: SIMPLE\n      credentialName: sds\n"
            "      serverCertificate: a\n      privateKey: b\n",
            ["ML608"],
        ),
        # serverCertificate without privateKey is not a second source, only a missing key
        ("      mode: SIMPLE\n      serverCertificate: a\n", ["ML609"]),
        (
            "      mode: MUTUAL\n      tlsCertificates:\n      - {serverCertificate: a, privateKey: b}\n",
            ["ML609"],
        ),
    ],
)
def test_tls_options(tls: str, codes: list[str]) -> None:
    assert sorted(d.code for d in lint(_GW + tls)) == codes


def test_tls_on_http_port_allows_a_certificate_free_redirect_block() -> None:
    text = _GW.replace("443, name: https, protocol: HTTPS", "80, name: http, protocol: HTTP")
    assert lint(text + "      httpsRedirect: true\n") == []
    assert [d.code for d in lint(text + "      mode: MUTUAL\n      credentialName: c\n")] == [
        "ML605"
    ]


def test_unix_bind_allows_port_zero() -> None:
    text = _GW.replace("443, name: https, protocol: HTTPS", "0, name: http, protocol: HTTP")
    text = text.replace("    tls:\n", "    bind: unix://@gateway\n")
    assert lint(text) == []
    assert [d.code for d in lint(text.replace("unix://@gateway", "127.0.0.1"))] == ["ML603"]


def test_istio_mutual_reports_each_certificate_once() -> None:
    found = lint(
        _GW + "      mode: ISTIO_MUTUAL\n      serverCertificate: a\n      privateKey: b\n"
    )
    assert [(d.code, d.path) for d in found] == [
        ("ML607", "spec.servers[0].tls.serverCertificate"),
        ("ML607", "spec.servers[0].tls.privateKey"),
    ]


def test_the_old_code_still_covers_the_split_off_rule() -> None:
    # ML613 (a server without hosts) was part of ML602 before 0.2
    text = _GW.replace("    tls:\n", "").replace('["shop.example.com"]', "[]")
    text = text.replace("443, name: https, protocol: HTTPS", "80, name: http, protocol: HTTP")
    assert [d.code for d in lint(text)] == ["ML613"]
    assert [d.code for d in lint(text, Config(select=["ML602"]))] == ["ML613"]
    assert lint(text, Config(ignore=["ML602"])) == []
