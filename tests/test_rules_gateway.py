"""ML601-ML612: Gateway servers and server TLS options, each finding at its exact place."""

from __future__ import annotations

from pathlib import Path

import pytest

from meshlint import rules
from meshlint.config import Config
from meshlint.diagnostics import Diagnostic
from meshlint.engine import lint_paths, lint_text

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "gateway"
OURS = Config(select=["ML60", "ML61"])

Row = tuple[str, str, int, int, str]  # code, severity, line, column, path


def rows(found: list[Diagnostic]) -> list[Row]:
    return [(d.code, d.severity.label, d.line, d.column, d.path) for d in found]


def lint(text: str, config: Config = OURS) -> list[Diagnostic]:
    return lint_text(text, config, name="t.yaml").findings


# ---------------------------------------------------------------------------------------------
# Fixtures: every finding of the bad file at its place; silence on the good file; wrong types
# left to the schema stage
# ---------------------------------------------------------------------------------------------

EXPECTED: list[Row] = [
    ("ML601", "error", 7, 1, "spec"),
    ("ML601", "error", 17, 12, "spec.servers"),
    ("ML602", "error", 29, 12, "spec.servers[0].hosts"),
    ("ML602", "error", 32, 7, "spec.servers[1].hosts[0]"),
    ("ML602", "error", 33, 7, "spec.servers[1].hosts[1]"),
    ("ML602", "error", 34, 7, "spec.servers[1].hosts[2]"),
    ("ML602", "error", 35, 7, "spec.servers[1].hosts[3]"),
    ("ML602", "error", 36, 7, "spec.servers[1].hosts[4]"),
    ("ML602", "error", 37, 7, "spec.servers[1].hosts[5]"),
    ("ML602", "error", 38, 7, "spec.servers[1].hosts[6]"),
    ("ML603", "error", 50, 20, "spec.servers[1].port.number"),
    ("ML603", "error", 50, 33, "spec.servers[1].port.name"),
    ("ML603", "error", 50, 49, "spec.servers[1].port.protocol"),
    ("ML603", "error", 52, 20, "spec.servers[2].port.number"),
    ("ML603", "error", 52, 29, "spec.servers[2].port.name"),
    ("ML603", "error", 52, 49, "spec.servers[2].port.targetPort"),
    ("ML604", "error", 64, 11, "spec.servers[0].bind"),
    ("ML604", "error", 66, 20, "spec.servers[1].port.number"),
    ("ML604", "error", 67, 11, "spec.servers[1].bind"),
    ("ML605", "error", 78, 48, "spec.servers[0].port.protocol"),
    ("ML605", "error", 82, 5, "spec.servers[1].tls"),
    ("ML605", "error", 85, 5, "spec.servers[2].tls"),
    ("ML611", "warning", 85, 32, "spec.servers[2].tls.serverCertificate"),
    ("ML605", "error", 88, 5, "spec.servers[3].tls"),
    ("ML606", "warning", 100, 26, "spec.servers[0].tls.httpsRedirect"),
    ("ML607", "error", 114, 7, "spec.servers[0].tls.serverCertificate"),
    ("ML607", "error", 115, 7, "spec.servers[0].tls.privateKey"),
    ("ML607", "error", 116, 7, "spec.servers[0].tls.caCertificates"),
    ("ML607", "error", 117, 7, "spec.servers[0].tls.credentialName"),
    ("ML608", "error", 134, 7, "spec.servers[0].tls.credentialName"),
    ("ML608", "error", 140, 7, "spec.servers[1].tls.tlsCertificates"),
    ("ML609", "error", 154, 5, "spec.servers[0].tls"),
    ("ML609", "error", 157, 5, "spec.servers[1].tls"),
    ("ML609", "error", 157, 5, "spec.servers[1].tls"),
    ("ML609", "error", 157, 17, "spec.servers[1].tls.mode"),
    ("ML609", "error", 164, 9, "spec.servers[2].tls.tlsCertificates[0]"),
    ("ML610", "error", 176, 85, "spec.servers[0].tls.caCrl"),
    ("ML610", "error", 179, 57, "spec.servers[1].tls.caCrl"),
    ("ML611", "warning", 179, 57, "spec.servers[1].tls.caCrl"),
    ("ML611", "warning", 191, 11, "spec.servers[0].tls.credentialName"),
    ("ML612", "warning", 203, 72, "spec.servers[0].tls.minProtocolVersion"),
    ("ML612", "warning", 209, 22, "spec.servers[1].tls.cipherSuites[0]"),
    ("ML612", "warning", 209, 66, "spec.servers[1].tls.cipherSuites[2]"),
]


def test_bad_fixture() -> None:
    found = lint_paths([str(FIXTURES / "gateway-bad.yaml")], OURS).findings
    assert rows(found) == EXPECTED


def test_good_fixture_is_clean_of_every_rule() -> None:
    # of every rule of a single resource: the fixture is a pile of independent cases, which the
    # cross-resource rules (ML9) rightly see as one namespace's conflicting resources
    found = lint_paths([str(FIXTURES / "gateway-good.yaml")], Config(ignore=["ML9"])).findings
    assert rows(found) == []


def test_wrong_types_are_left_to_the_schema_stage() -> None:
    found = lint_paths([str(FIXTURES / "gateway-wrong-types.yaml")], Config()).findings
    assert found
    assert all(d.code.startswith("ML2") for d in found), rows(found)


def test_every_rule_has_a_failing_fixture() -> None:
    fired = {row[0] for row in EXPECTED}
    ours = {r.code for r in rules.all_rules() if r.module == "meshlint.rules.gateway.gateway"}
    assert ours
    assert ours <= fired


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
