"""ML5xx: DestinationRule rules at the edges the fixtures do not show (their findings at their
exact place are the markers of tests/fixtures/rules/destinationrule), and what every rule of
the family declares."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

from meshlint import rules
from meshlint.config import Config
from meshlint.diagnostics import Diagnostic
from meshlint.engine import lint_text
from meshlint.rules.destinationrule import locality
from meshlint.rules.lib.destinationrule import dr

FAMILY = [r for r in rules.all_rules() if r.module.startswith("meshlint.rules.destinationrule.")]
# The best-practice rules judge no Istio verdict; the edge cases below are about the others.
PRACTICE = sorted(r.code for r in FAMILY if r.module.endswith(".practice"))
ML5 = Config(select=["ML5", "ML32"], ignore=PRACTICE)
CATALOGUE = (
    Path(__file__).resolve().parents[1].parent / "shared" / "reference" / "rules-catalogue.md"
).read_text(encoding="utf-8")

Row = tuple[str, str, int, int, str]  # code, severity, line, column, path


def rows(found: list[Diagnostic]) -> list[Row]:
    return [(d.code, d.severity.label, d.line, d.column, d.path) for d in found]


def lint(text: str) -> list[Diagnostic]:
    return lint_text(text, ML5, name="t.yaml").findings


# ---------------------------------------------------------------------------------------------
# What every rule of the family declares
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("rule", FAMILY, ids=lambda r: r.code)
def test_every_rule_names_its_sources(rule: rules.Rule) -> None:
    assert rule.kinds == frozenset({"DestinationRule"}) and rule.source
    for row in rule.catalogue:
        assert f"| {row} |" in CATALOGUE, row
    if rule.istio is None:  # meshlint's own judgement, not a verdict of Istio's webhook
        return
    assert rule.catalogue
    if rule.istio in ANALYZE_WARNINGS:  # an istioctl analyze warning about one resource
        assert rule.severity.label == "warning"
        return
    assert rule.istio in ("IST0106", "IST0133")
    assert (rule.istio == "IST0133") == (rule.severity.label == "warning")


# istioctl analyze's warnings that look at a DestinationRule alone (Warning level upstream),
# and its Deprecated message (IST0002), which the deprecated LEAST_CONN carries
ANALYZE_WARNINGS = ("IST0002", "IST0128", "IST0129")


@pytest.mark.parametrize("rule", [r for r in FAMILY if r.aliases], ids=lambda r: r.code)
def test_split_rules_answer_to_the_old_code(rule: rules.Rule) -> None:
    for old in rule.aliases:
        split_from = rules.get(old)
        assert split_from is not None and split_from in FAMILY
        assert rule in rules.lookup(old) and rule.code in split_from.rationale
        assert not set(rule.catalogue) & set(split_from.catalogue)


# ---------------------------------------------------------------------------------------------
# Messages say what is wrong and what is accepted
# ---------------------------------------------------------------------------------------------


def test_duration_message_names_the_field_and_the_minimum() -> None:
    found = lint(
        dr(
            """
            host: reviews
            trafficPolicy:
              outlierDetection:
                baseEjectionTime: 0.5ms
            """
        )
    )
    assert [d.message for d in found] == ["baseEjectionTime 0.5ms is below Istio's minimum of 1ms"]


def test_maglev_message_suggests_primes() -> None:
    found = lint(
        dr(
            """
            host: reviews
            trafficPolicy:
              loadBalancer:
                consistentHash:
                  useSourceIp: true
                  maglev:
                    tableSize: 65536
            """
        )
    )
    assert "e.g. 65521 or 65537" in found[0].message


@pytest.mark.parametrize(
    ("size", "fires"),
    [(1, False), (2, False), (3, False), (4, True), (9, True), (65537, False), (5000011, True)],
)
def test_maglev_table_size_follows_envoy(size: int, fires: bool) -> None:
    found = lint(
        dr(
            f"""
            host: reviews
            trafficPolicy:
              loadBalancer:
                consistentHash:
                  useSourceIp: true
                  maglev:
                    tableSize: {size}
            """
        )
    )
    assert bool(found) is fires, rows(found)


def test_tunnel_protocol_hint_for_lower_case() -> None:
    found = lint(
        dr(
            """
            host: proxy.example.com
            trafficPolicy:
              tunnel:
                protocol: post
                targetHost: api.example.com
                targetPort: 443
            """
        )
    )
    assert found[0].message.endswith("(write it in upper case: POST)")


# ---------------------------------------------------------------------------------------------
# Istio's verdicts at the edges
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "fires"),
    [("0s", False), ("0.5ms", False), ("-0.5ms", False), ("-5ms", True), ("1500us", True)],
)
def test_tcp_idle_timeout_zero_turns_it_off(value: str, fires: bool) -> None:
    found = lint(
        dr(
            f"""
            host: reviews
            trafficPolicy:
              connectionPool:
                tcp:
                  idleTimeout: {value}
            """
        )
    )
    assert bool(found) is fires, rows(found)


def test_warmup_duration_secs_needs_only_the_cel_minimum() -> None:
    found = lint(
        dr(
            """
            host: reviews
            trafficPolicy:
              loadBalancer:
                warmupDurationSecs: 1500us
            """
        )
    )
    assert rows(found) == [
        ("ML517", "warning", 10, 7, "spec.trafficPolicy.loadBalancer.warmupDurationSecs")
    ]


@pytest.mark.parametrize(
    ("localities", "bad"),
    [
        (["us", "eu"], None),
        (["*"], None),
        (["us/*", "eu/z1/*", "eu/z2"], None),
        (["us/z1/a", "us/z1/b", "us/z2"], None),
        (["us", "us"], 1),
        (["us/*", "us/z1"], 1),
        (["us/z1", "us/z1/a"], 1),
        (["us/z1/a", "us/z1/a"], 1),
        (["*", "us"], 1),
        (["us/**"], 0),
        (["*/us"], 0),
        (["us//a"], 0),
        ([""], 0),
        (["us/z1/a/b"], None),  # the subzone is everything after the second '/'
    ],
)
def test_locality_lists(localities: list[str], bad: int | None) -> None:
    problem = locality._locality_list_problem(localities)
    assert (problem[0] if problem else None) == bad, problem


def test_configmap_credential_of_a_rule_without_namespace() -> None:
    text = dr(
        """
        host: api.example.com
        trafficPolicy:
          tls:
            mode: SIMPLE
            credentialName: configmap://shop/ca
        """
    ).replace("  namespace: shop\n", "")
    assert lint(text) == []


def test_export_to_own_namespace_with_selector() -> None:
    text = dr(
        """
        host: reviews
        exportTo: [".", shop]
        workloadSelector:
          matchLabels:
            app: frontend
        """
    )
    assert [(d.code, d.path) for d in lint(text)] == [("ML503", "spec.exportTo[1]")]


def test_failover_with_outlier_detection_at_port_level() -> None:
    text = dr(
        """
        host: reviews
        trafficPolicy:
          outlierDetection:
            consecutive5xxErrors: 5
          portLevelSettings:
          - port:
              number: 9080
            loadBalancer:
              localityLbSetting:
                failover:
                - from: us
                  to: eu
        """
    )
    # The port-level entry replaces the whole policy: its own outlierDetection is what counts.
    assert [(d.code, d.path) for d in lint(text)] == [
        ("ML514", "spec.trafficPolicy.portLevelSettings[0].loadBalancer.localityLbSetting.failover")
    ]


# ---------------------------------------------------------------------------------------------
# Wrong types anywhere are the schema's business: no crash, no ML5 finding
# ---------------------------------------------------------------------------------------------

ODD_VALUES = ["x", 3, True, None, [], [None, 1, "a", [1], {"a": 1}], {}, {"a": None, "b": [1]}]
ODD_PLACES = [
    "spec",
    "spec.host",
    "spec.subsets",
    "spec.exportTo",
    "spec.workloadSelector.matchLabels",
    "spec.trafficPolicy.portLevelSettings",
    "spec.trafficPolicy.connectionPool.http",
    "spec.trafficPolicy.connectionPool.tcp.idleTimeout",
    "spec.trafficPolicy.loadBalancer.consistentHash.maglev.tableSize",
    "spec.trafficPolicy.loadBalancer.consistentHash.httpCookie.attributes",
    "spec.trafficPolicy.loadBalancer.localityLbSetting.distribute",
    "spec.trafficPolicy.loadBalancer.localityLbSetting.failover",
    "spec.trafficPolicy.loadBalancer.localityLbSetting.failoverPriority",
    "spec.trafficPolicy.loadBalancer.zoneAwareLbSetting.failoverPriority",
    "spec.trafficPolicy.loadBalancer.localityLbSetting.distribute.0.to",
    "spec.trafficPolicy.outlierDetection.maxEjectionPercent",
    "spec.trafficPolicy.tls.credentialName",
    "spec.subsets.0.labels",
    "spec.trafficPolicy.tls.subjectAltNames",
    "spec.trafficPolicy.tunnel.targetPort",
]


def _put(data: Any, place: str, value: object) -> None:
    """Set ``value`` at a dotted place, creating mappings (or a one-item list for a digit)."""
    keys = place.split(".")
    for key, after in itertools.pairwise(keys):
        if isinstance(data, list):
            data = data[int(key)]
        else:
            data = data.setdefault(key, [{}] if after.isdigit() else {})
    data[keys[-1]] = value


@pytest.mark.parametrize("place", ODD_PLACES)
def test_wrong_types_do_not_crash(place: str) -> None:
    import json

    for value in ODD_VALUES:
        data: dict = {
            "apiVersion": "networking.istio.io/v1",
            "kind": "DestinationRule",
            "metadata": {"name": "r", "namespace": "shop"},
            "spec": {"host": "reviews"},
        }
        _put(data, place, value)
        found = lint(json.dumps(data))
        # a null spec is an empty one to Istio: no host (ML501)
        null_spec = ("ML501",) if (place, value) == ("spec", None) else ()
        for d in found:
            # Empty or missing blocks are still verdicts of their own; types never are.
            assert d.code in (
                "ML320",
                "ML506",
                "ML508",
                "ML513",
                "ML514",
                "ML526",
                "ML528",
                *null_spec,
            ), (
                place,
                value,
                rows(found),
            )


def test_empty_lists_count_as_unset() -> None:
    text = dr(
        """
        host: reviews
        trafficPolicy:
          portLevelSettings: []
        """
    )
    assert [(d.code, d.path) for d in lint(text)] == [("ML506", "spec.trafficPolicy")]


def test_distribute_entry_without_targets() -> None:
    text = dr(
        """
        host: reviews
        trafficPolicy:
          loadBalancer:
            localityLbSetting:
              distribute:
              - from: us
              - from: eu
                to: {}
        """
    )
    base = "spec.trafficPolicy.loadBalancer.localityLbSetting.distribute"
    assert rows(lint(text)) == [
        ("ML513", "error", 12, 11, f"{base}[0]"),
        ("ML513", "error", 14, 11, f"{base}[1].to"),
    ]


def test_server_verification_message_says_why_a_credential_is_not_enough() -> None:
    text = dr(
        """
        host: db.example.com
        trafficPolicy:
          tls:
            mode: SIMPLE
            credentialName: db-credential
          portLevelSettings:
          - port:
              number: 5432
            tls:
              mode: SIMPLE
        """
    )
    found = {d.code: d.message for d in lint(text) if d.code in ("ML532", "ML533")}
    assert "gives the CA only to a gateway" in found["ML532"]
    assert found["ML533"].startswith("port 5432 has TLS mode SIMPLE")
    assert "gateway" not in found["ML533"]
    selected = text.replace("spec:\n", "spec:\n  workloadSelector:\n    matchLabels: {app: gw}\n")
    assert [d.code for d in lint(selected) if d.code in ("ML532", "ML533")] == ["ML533"]
