"""ServiceEntry rules (ML630-ML648) in detail: Istio's own test cases and edge cases. The
fixtures in tests/fixtures/rules/serviceentry/ mark every finding."""

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


def se(spec: str, labels: str = "") -> str:
    return (
        "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata:\n  name: se\n"
        f"  namespace: shop\n{labels}spec:\n{spec}"
    )


@pytest.mark.parametrize(
    ("spec", "codes"),
    [
        # Istio's TestValidateServiceEntries cases (valid, warning, invalid)
        (
            "  hosts: [google.com]\n  resolution: DNS\n  ports:\n  - {number: 80, protocol: http, name: a, targetPort: 65536}\n",
            ["ML633"],
        ),
        (
            "  hosts: [google.com]\n  workloadSelector: {labels: {key: bar}}\n  ports:\n  - {number: 80, protocol: http, name: a, targetPort: 1234}\n",
            ["ML640"],
        ),
        (
            "  hosts: [google.com]\n  ports:\n  - {number: 80, protocol: http, name: a}\n  - {number: 8080, name: b}\n",
            ["ML634"],
        ),
        (
            "  hosts: [google.com]\n  resolution: DNS_ROUND_ROBIN\n  ports:\n  - {number: 80, protocol: http, name: a}\n",
            [],
        ),
        (
            "  hosts: ['*.google.com']\n  resolution: DYNAMIC_DNS\n  ports:\n  - {number: 80, protocol: http, name: a}\n",
            [],
        ),
        (
            "  hosts: ['*.google.com']\n  resolution: DYNAMIC_DNS\n  ports:\n  - {number: 80, protocol: tcp, name: a}\n",
            ["ML648"],
        ),
        (
            "  hosts: [google.com]\n  addresses: [172.1.2.16/16]\n  resolution: STATIC\n  endpoints:\n  - address: 1.1.1.1\n",
            [],
        ),
        (
            "  hosts: [google.com]\n  resolution: STATIC\n  ports:\n  - {number: 80, protocol: http, name: a}\n  endpoints:\n  - {address: 1.1.1.1, ports: {a: 65536}}\n",
            ["ML645"],
        ),
        (
            "  hosts: [google.com]\n  addresses: [10.0.0.1]\n  resolution: STATIC\n  ports:\n  - {number: 80, protocol: http, name: a}\n  endpoints:\n  - {address: 1.1.1.1, network: n1}\n  - {network: n1}\n",
            ["ML642"],
        ),
        # endpoint port names: a DNS label shorter than 63 characters (CEL)
        (
            "  hosts: [a.com]\n  addresses: [10.0.0.1]\n  resolution: STATIC\n  ports:\n  - {number: 80, protocol: http, name: a}\n  endpoints:\n  - {address: 1.1.1.1, ports: {"
            + "p" * 63
            + ": 80}}\n",
            ["ML645"],
        ),
    ],
)
def test_istio_cases(spec: str, codes: list[str]) -> None:
    assert sorted(d.code for d in lint(se(spec))) == codes


def test_autoallocation_opt_out_only_with_false() -> None:
    spec = "  hosts: [db.example.com]\n  resolution: DNS\n  ports:\n  - {number: 5432, name: tcp, protocol: TCP}\n"
    label = '  labels:\n    networking.istio.io/enable-autoallocate-ip: "{}"\n'
    assert lint(se(spec)) == []
    assert lint(se(spec, label.format("true"))) == []
    assert [d.code for d in lint(se(spec, label.format("FALSE")))] == ["ML634"]


def test_waypoint_label_none_is_not_a_waypoint() -> None:
    spec = "  hosts: ['*.example.com']\n  location: MESH_INTERNAL\n  resolution: DYNAMIC_DNS\n  ports:\n  - {number: 80, name: http, protocol: HTTP}\n"
    label = "  labels:\n    istio.io/use-waypoint: {}\n"
    assert lint(se(spec, label.format("None"))) == []
    assert lint(se(spec, label.format('""'))) == []
    assert [d.path for d in lint(se(spec, label.format("my-waypoint")))] == ["spec.location"]


def test_export_to_own_namespace_twice() -> None:
    found = lint(se("  hosts: [a.example.com]\n  resolution: DNS\n  exportTo: [shop, .]\n"))
    assert [(d.code, d.path) for d in found] == [("ML644", "spec.exportTo[1]")]
    assert "'.' and 'shop'" in found[0].message


def test_the_old_code_still_covers_the_split_off_rules() -> None:
    # ML647 (the host) and ML648 (the port) were part of ML639 before 0.2
    spec = "  hosts: [a.example.com]\n  resolution: DYNAMIC_DNS\n  ports:\n  - {number: 5432, name: tcp, protocol: TCP}\n"
    assert sorted(d.code for d in lint(se(spec))) == ["ML647", "ML648"]
    assert sorted(d.code for d in lint(se(spec), Config(select=["ML639"]))) == ["ML647", "ML648"]
    assert lint(se(spec), Config(ignore=["ML639"])) == []
