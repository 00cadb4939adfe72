"""ML630-ML644: ServiceEntry hosts, addresses, ports, resolution and endpoints, each finding at its
exact place."""

from __future__ import annotations

from pathlib import Path

import pytest

from meshlint import rules
from meshlint.config import Config
from meshlint.diagnostics import Diagnostic
from meshlint.engine import lint_paths, lint_text

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "serviceentry"
OURS = Config(select=["ML63", "ML64", "ML32"])

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
    ("ML630", "error", 8, 11, "spec.hosts[0]"),
    ("ML630", "error", 8, 16, "spec.hosts[1]"),
    ("ML631", "warning", 8, 36, "spec.hosts[2]"),
    ("ML632", "error", 20, 15, "spec.addresses[0]"),
    ("ML632", "error", 20, 33, "spec.addresses[1]"),
    ("ML639", "error", 20, 46, "spec.addresses[2]"),
    ("ML633", "error", 35, 14, "spec.ports[1].number"),
    ("ML633", "error", 35, 25, "spec.ports[1].name"),
    ("ML633", "error", 35, 45, "spec.ports[1].protocol"),
    ("ML633", "error", 36, 14, "spec.ports[2].number"),
    ("ML633", "error", 36, 57, "spec.ports[2].targetPort"),
    ("ML633", "error", 37, 26, "spec.ports[3].name"),
    ("ML633", "error", 37, 58, "spec.ports[3].targetPort"),
    ("ML634", "warning", 49, 50, "spec.ports[0].protocol"),
    ("ML634", "warning", 50, 5, "spec.ports[1]"),
    ("ML634", "warning", 64, 50, "spec.ports[1].protocol"),
    ("ML635", "error", 64, 50, "spec.ports[1].protocol"),
    ("ML640", "warning", 77, 3, "spec.workloadSelector"),
    ("ML321", "error", 79, 7, 'spec.workloadSelector.labels[""]'),
    ("ML321", "error", 80, 7, 'spec.workloadSelector.labels["app*"]'),
    ("ML321", "error", 81, 16, "spec.workloadSelector.labels.version"),
    ("ML320", "warning", 94, 21, "spec.workloadSelector"),
    ("ML638", "error", 95, 3, "spec.endpoints"),
    ("ML639", "error", 108, 3, "spec.endpoints"),
    ("ML639", "error", 124, 5, "spec.endpoints[1]"),
    ("ML639", "error", 133, 30, "spec.hosts[1]"),
    ("ML639", "error", 147, 11, "spec.hosts[0]"),
    ("ML639", "error", 148, 3, "spec.addresses"),
    ("ML639", "error", 150, 41, "spec.ports[0].protocol"),
    ("ML639", "error", 151, 5, "spec.ports[1]"),
    ("ML639", "error", 152, 13, "spec.location"),
    ("ML639", "error", 154, 3, "spec.endpoints"),
    ("ML641", "error", 171, 14, "spec.endpoints[0].address"),
    ("ML641", "error", 172, 5, "spec.endpoints[1]"),
    ("ML641", "error", 173, 14, "spec.endpoints[2].address"),
    ("ML641", "error", 176, 7, "spec.endpoints[3].ports.tcp-postgress"),
    ("ML641", "error", 177, 7, "spec.endpoints[3].ports.bad_name"),
    ("ML641", "error", 178, 21, "spec.endpoints[3].ports.tcp-postgres"),
    ("ML641", "error", 180, 7, 'spec.endpoints[3].labels["-bad"]'),
    ("ML641", "error", 181, 11, "spec.endpoints[3].labels.ok"),
    ("ML641", "error", 197, 14, "spec.endpoints[0].address"),
    ("ML641", "error", 197, 14, "spec.endpoints[0].address"),
    ("ML641", "error", 199, 5, "spec.endpoints[1].ports"),
    ("ML641", "error", 201, 14, "spec.endpoints[2].address"),
    ("ML641", "error", 215, 14, "spec.endpoints[0].address"),
    ("ML641", "error", 216, 14, "spec.endpoints[1].address"),
    ("ML641", "error", 217, 5, "spec.endpoints[2]"),
    ("ML642", "warning", 233, 14, "spec.endpoints[0].network"),
    ("ML643", "warning", 243, 3, "spec.hosts"),
    ("ML644", "error", 261, 19, "spec.exportTo[1]"),
    ("ML644", "error", 261, 27, "spec.exportTo[2]"),
    ("ML644", "error", 261, 46, "spec.exportTo[3]"),
]


def test_bad_fixture() -> None:
    found = lint_paths([str(FIXTURES / "serviceentry-bad.yaml")], OURS).findings
    assert rows(found) == EXPECTED


def test_good_fixture_is_clean_of_every_rule() -> None:
    found = lint_paths([str(FIXTURES / "serviceentry-good.yaml")], Config()).findings
    assert rows(found) == []


def test_wrong_types_are_left_to_the_schema_stage() -> None:
    found = lint_paths([str(FIXTURES / "serviceentry-wrong-types.yaml")], Config()).findings
    assert found
    assert all(d.code.startswith("ML2") for d in found), rows(found)


def test_every_rule_has_a_failing_fixture() -> None:
    fired = {row[0] for row in EXPECTED}
    ours = {
        r.code for r in rules.all_rules() if r.module == "meshlint.rules.serviceentry.serviceentry"
    }
    assert ours
    assert ours <= fired


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
            ["ML639"],
        ),
        (
            "  hosts: [google.com]\n  addresses: [172.1.2.16/16]\n  resolution: STATIC\n  endpoints:\n  - address: 1.1.1.1\n",
            [],
        ),
        (
            "  hosts: [google.com]\n  resolution: STATIC\n  ports:\n  - {number: 80, protocol: http, name: a}\n  endpoints:\n  - {address: 1.1.1.1, ports: {a: 65536}}\n",
            ["ML641"],
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
            ["ML641"],
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
