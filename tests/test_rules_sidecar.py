"""Sidecar rules (ML662-ML678) in detail: Istio's own test cases and edge cases. The fixtures in
tests/fixtures/rules/sidecar/ mark every finding."""

from __future__ import annotations

import pytest

from meshlint.config import Config
from meshlint.diagnostics import Diagnostic
from meshlint.engine import lint_text

OURS = Config(select=["ML6", "ML32"])

Row = tuple[str, str, int, int, str]  # code, severity, line, column, path


def rows(found: list[Diagnostic]) -> list[Row]:
    return [(d.code, d.severity.label, d.line, d.column, d.path) for d in found]


def lint(text: str, config: Config = OURS) -> list[Diagnostic]:
    return lint_text(text, config, name="t.yaml").findings


# ---------------------------------------------------------------------------------------------
# Details
# ---------------------------------------------------------------------------------------------

from meshlint.rules.sidecar.ingress import split_host_port  # noqa: E402


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


def test_the_old_code_still_covers_the_split_off_rules() -> None:
    # ML676 (the bind) and ML677 (a repeated port) were part of ML668 before 0.2
    spec = (
        "  egress:\n  - port: {number: 80, name: a, protocol: HTTP}\n    bind: nope\n"
        "    hosts: ['./*']\n  - port: {number: 80, name: b, protocol: HTTP}\n    hosts: ['./*']\n"
    )
    assert sorted(d.code for d in lint(sc(spec))) == ["ML676", "ML677"]
    assert sorted(d.code for d in lint(sc(spec), Config(select=["ML668"]))) == ["ML676", "ML677"]
    assert lint(sc(spec), Config(ignore=["ML668"])) == []
