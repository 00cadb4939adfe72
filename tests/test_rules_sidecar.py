"""ML660-ML671: Sidecar selectors, ingress and egress listeners and the outbound policy, each
finding at its exact place."""

from __future__ import annotations

from pathlib import Path

import pytest

from meshlint import rules
from meshlint.config import Config
from meshlint.diagnostics import Diagnostic
from meshlint.engine import lint_paths, lint_text

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "sidecar"
OURS = Config(select=["ML6", "ML32"])

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
    ("ML662", "error", 7, 1, "spec"),
    ("ML662", "error", 15, 1, "spec"),
    ("ML321", "error", 18, 7, 'spec.workloadSelector.labels[""]'),
    ("ML321", "error", 19, 12, "spec.workloadSelector.labels.app"),
    ("ML320", "warning", 30, 21, "spec.workloadSelector"),
    ("ML663", "error", 42, 20, "spec.ingress[0].port.number"),
    ("ML663", "error", 43, 11, "spec.ingress[0].bind"),
    ("ML663", "error", 46, 20, "spec.ingress[2].port.number"),
    ("ML663", "error", 46, 30, "spec.ingress[2].port.name"),
    ("ML663", "error", 46, 47, "spec.ingress[2].port.protocol"),
    ("ML663", "error", 46, 52, "spec.ingress[2].port.targetPort"),
    ("ML663", "error", 47, 11, "spec.ingress[3].port"),
    ("ML664", "error", 58, 22, "spec.ingress[0].defaultEndpoint"),
    ("ML664", "error", 60, 22, "spec.ingress[1].defaultEndpoint"),
    ("ML664", "error", 62, 22, "spec.ingress[2].defaultEndpoint"),
    ("ML664", "error", 64, 22, "spec.ingress[3].defaultEndpoint"),
    ("ML664", "error", 66, 22, "spec.ingress[4].defaultEndpoint"),
    ("ML664", "error", 68, 22, "spec.ingress[5].defaultEndpoint"),
    ("ML664", "error", 70, 22, "spec.ingress[6].defaultEndpoint"),
    ("ML665", "error", 84, 7, "spec.ingress[0].tls.httpsRedirect"),
    ("ML665", "error", 85, 7, "spec.ingress[0].tls.subjectAltNames"),
    ("ML665", "error", 86, 7, "spec.ingress[0].tls.credentialName"),
    ("ML665", "error", 89, 17, "spec.ingress[1].tls.mode"),
    ("ML665", "error", 92, 5, "spec.ingress[2].tls"),
    ("ML609", "error", 107, 17, "spec.ingress[0].tls.mode"),
    ("ML666", "warning", 111, 7, "spec.ingress[1].connectionPool.http"),
    ("ML667", "error", 121, 5, "spec.egress[0]"),
    ("ML667", "error", 124, 5, "spec.egress[2]"),
    ("ML668", "error", 138, 18, "spec.egress[0].captureMode"),
    ("ML668", "error", 141, 11, "spec.egress[1].bind"),
    ("ML668", "error", 144, 11, "spec.egress[2].bind"),
    ("ML668", "error", 148, 20, "spec.egress[4].port.number"),
    ("ML668", "error", 148, 32, "spec.egress[4].port.name"),
    ("ML668", "error", 148, 52, "spec.egress[4].port.protocol"),
    ("ML668", "error", 148, 57, "spec.egress[4].port.targetPort"),
    ("ML668", "error", 149, 11, "spec.egress[4].bind"),
    ("ML668", "error", 151, 20, "spec.egress[5].port.number"),
    ("ML668", "error", 152, 11, "spec.egress[5].bind"),
    ("ML669", "error", 164, 12, "spec.egress[0].hosts"),
    ("ML669", "error", 165, 13, "spec.egress[1].hosts[0]"),
    ("ML669", "error", 165, 24, "spec.egress[1].hosts[1]"),
    ("ML669", "error", 165, 35, "spec.egress[1].hosts[2]"),
    ("ML669", "error", 165, 50, "spec.egress[1].hosts[3]"),
    ("ML669", "error", 165, 67, "spec.egress[1].hosts[4]"),
    ("ML670", "warning", 176, 27, "spec.egress[0].hosts[1]"),
    ("ML670", "warning", 176, 48, "spec.egress[0].hosts[3]"),
    ("ML670", "warning", 176, 74, "spec.egress[0].hosts[5]"),
    ("ML670", "warning", 177, 13, "spec.egress[1].hosts[0]"),
    ("ML671", "error", 187, 5, "spec.outboundTrafficPolicy.egressProxy"),
    ("ML671", "error", 202, 13, "spec.outboundTrafficPolicy.egressProxy.host"),
    ("ML671", "error", 203, 15, "spec.outboundTrafficPolicy.egressProxy.subset"),
    ("ML671", "error", 204, 22, "spec.outboundTrafficPolicy.egressProxy.port.number"),
    ("ML671", "error", 214, 5, "spec.outboundTrafficPolicy.egressProxy"),
    ("ML672", "error", 225, 3, "spec.inboundConnectionPool"),
    ("ML672", "error", 230, 25, "spec.ingress[0].connectionPool.tcp.maxConnections"),
    ("ML672", "error", 231, 25, "spec.ingress[0].connectionPool.tcp.connectTimeout"),
    ("ML672", "error", 234, 21, "spec.ingress[0].connectionPool.http.maxRetries"),
    ("ML672", "error", 236, 28, "spec.ingress[0].connectionPool.http.useClientProtocol"),
    ("ML672", "error", 237, 9, "spec.ingress[0].connectionPool.http.http2KeepAlive"),
    ("ML672", "error", 237, 36, "spec.ingress[0].connectionPool.http.http2KeepAlive.interval"),
]


def test_bad_fixture() -> None:
    found = lint_paths([str(FIXTURES / "sidecar-bad.yaml")], OURS).findings
    assert rows(found) == EXPECTED


def test_good_fixture_is_clean_of_every_rule() -> None:
    # of every rule of a single resource: the fixture is a pile of independent cases, which the
    # cross-resource rules (ML9) rightly see as one namespace's conflicting resources
    found = lint_paths([str(FIXTURES / "sidecar-good.yaml")], Config(ignore=["ML9"])).findings
    assert rows(found) == []


def test_wrong_types_are_left_to_the_schema_stage() -> None:
    found = lint_paths([str(FIXTURES / "sidecar-wrong-types.yaml")], Config()).findings
    assert found
    assert all(d.code.startswith("ML2") for d in found), rows(found)


def test_every_rule_has_a_failing_fixture() -> None:
    fired = {row[0] for row in EXPECTED}
    ours = {r.code for r in rules.all_rules() if r.module == "meshlint.rules.sidecar.sidecar"}
    assert ours
    assert ours <= fired


# ---------------------------------------------------------------------------------------------
# Details
# ---------------------------------------------------------------------------------------------

from meshlint.rules.sidecar.sidecar import split_host_port  # noqa: E402


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:80", ("127.0.0.1", "80")),
        ("[::1]:80", ("::1", "80")),
        (":80", ("", "80")),
        ("[::]:", ("::", "")),
        ("127.0.0.1", None),
        ("::1:80", None),
        ("[::1]", None),
        ("[::1]x:80", None),
        ("[::1", None),
        ("a]:80", None),
    ],
)
def test_split_host_port_follows_go(text: str, expected: tuple[str, str] | None) -> None:
    result = split_host_port(text)
    if expected is None:
        assert isinstance(result, str)
    else:
        assert result == expected


def sc(spec: str, namespace: str = "bar") -> str:
    return (
        "apiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata:\n  name: sc\n"
        f"  namespace: {namespace}\nspec:\n{spec}"
    )


@pytest.mark.parametrize(
    ("spec", "codes"),
    [
        # Istio's TestValidateSidecar cases
        ("  egress:\n  - hosts: ['*/*', '~Invalid_NS/*']\n", ["ML669"]),
        ("  egress:\n  - hosts: ['*/*', 'test/a.com']\n", ["ML670"]),
        ("  egress:\n  - hosts: ['*/b.com', 'test/a.com']\n", []),
        ("  egress:\n  - hosts: ['./*', 'bar/a.com']\n", ["ML670"]),
        ("  egress:\n  - hosts: ['~/*']\n", []),
        ("  outboundTrafficPolicy: {mode: ALLOW_ANY}\n", []),
        ("  ingress:\n  - defaultEndpoint: '127.0.0.1:110'\n", ["ML208"]),
        (
            "  ingress:\n  - port: {number: 90, name: foo, protocol: http}\n    defaultEndpoint: '127.0.0.1:hi'\n",
            ["ML664"],
        ),
        (
            "  outboundTrafficPolicy:\n    mode: ALLOW_ANY\n    egressProxy: {host: foo.bar}\n",
            ["ML671"],
        ),
    ],
)
def test_istio_cases(spec: str, codes: list[str]) -> None:
    config = Config(select=["ML6", "ML208"])
    assert sorted(d.code for d in lint(sc(spec), config)) == codes


def test_dot_matches_the_own_namespace_only_when_it_is_known() -> None:
    spec = "  egress:\n  - hosts: ['./*', 'bar/a.com']\n"
    text = sc(spec).replace("  namespace: bar\n", "")
    assert lint(text) == []


def test_gateway_tls_rules_see_sidecar_ingress() -> None:
    spec = (
        "  ingress:\n  - port: {number: 9443, name: https, protocol: HTTPS}\n"
        "    tls: {mode: SIMPLE, serverCertificate: a, privateKey: b, caCrl: c, "
        "cipherSuites: [nope]}\n"
    )
    assert sorted(d.code for d in lint(sc(spec))) == ["ML610", "ML612"]
