"""ML5xx: DestinationRule field validation, each finding at its exact place."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest
from conftest import PRACTICE_CODES

from meshlint import rules
from meshlint.config import Config
from meshlint.diagnostics import Diagnostic
from meshlint.engine import lint_paths, lint_text
from meshlint.rules.destinationrule import destinationrule

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "destinationrule"
ML5 = Config(select=["ML5", "ML32"], ignore=sorted(PRACTICE_CODES))
CATALOGUE = (
    Path(__file__).resolve().parents[1].parent / "shared" / "reference" / "rules-catalogue.md"
).read_text(encoding="utf-8")
CODES = sorted(
    r.code for r in rules.all_rules() if r.code.startswith("ML5") and r.code not in PRACTICE_CODES
)

Row = tuple[str, str, int, int, str]  # code, severity, line, column, path


def rows(found: list[Diagnostic]) -> list[Row]:
    return [(d.code, d.severity.label, d.line, d.column, d.path) for d in found]


def lint(text: str) -> list[Diagnostic]:
    return lint_text(text, ML5, name="t.yaml").findings


def dr(spec: str, namespace: str = "shop") -> str:
    return destinationrule._dr(spec, namespace=namespace)


# ---------------------------------------------------------------------------------------------
# Fixtures: every finding of each bad file, and silence on each good file
# ---------------------------------------------------------------------------------------------

EXPECTED: dict[str, list[Row]] = {
    "connection-pool-bad.yaml": [
        ("ML509", "error", 12, 25, "spec.trafficPolicy.connectionPool.tcp.maxConnections"),
        (
            "ML509",
            "error",
            14,
            34,
            "spec.trafficPolicy.connectionPool.http.http1MaxPendingRequests",
        ),
        ("ML509", "error", 15, 27, "spec.trafficPolicy.connectionPool.http.http2MaxRequests"),
        (
            "ML509",
            "error",
            16,
            35,
            "spec.trafficPolicy.connectionPool.http.maxRequestsPerConnection",
        ),
        ("ML509", "error", 17, 21, "spec.trafficPolicy.connectionPool.http.maxRetries"),
        ("ML509", "error", 18, 31, "spec.trafficPolicy.connectionPool.http.maxConcurrentStreams"),
        ("ML509", "error", 20, 28, "spec.trafficPolicy.connectionPool.http.useClientProtocol"),
        ("ML509", "error", 21, 9, "spec.trafficPolicy.connectionPool.http.http2KeepAlive"),
        (
            "ML510",
            "error",
            37,
            27,
            "spec.subsets[0].trafficPolicy.connectionPool.tcp.connectTimeout",
        ),
        (
            "ML510",
            "error",
            38,
            34,
            "spec.subsets[0].trafficPolicy.connectionPool.tcp.maxConnectionDuration",
        ),
        ("ML510", "error", 39, 24, "spec.subsets[0].trafficPolicy.connectionPool.tcp.idleTimeout"),
        (
            "ML510",
            "error",
            41,
            19,
            "spec.subsets[0].trafficPolicy.connectionPool.tcp.tcpKeepalive.time",
        ),
        ("ML510", "error", 44, 24, "spec.subsets[0].trafficPolicy.connectionPool.http.idleTimeout"),
        (
            "ML510",
            "error",
            46,
            23,
            "spec.subsets[0].trafficPolicy.connectionPool.http.http2KeepAlive.interval",
        ),
        (
            "ML510",
            "error",
            55,
            21,
            "spec.trafficPolicy.portLevelSettings[0].loadBalancer.warmup.duration",
        ),
        (
            "ML510",
            "error",
            57,
            19,
            "spec.trafficPolicy.portLevelSettings[0].outlierDetection.interval",
        ),
        (
            "ML510",
            "error",
            58,
            27,
            "spec.trafficPolicy.portLevelSettings[0].outlierDetection.baseEjectionTime",
        ),
        ("ML517", "warning", 60, 7, "spec.trafficPolicy.loadBalancer.warmupDurationSecs"),
        ("ML510", "error", 60, 27, "spec.trafficPolicy.loadBalancer.warmupDurationSecs"),
    ],
    "host-subsets-bad.yaml": [
        ("ML501", "error", 8, 9, "spec.host"),
        ("ML501", "error", 16, 9, "spec.host"),
        ("ML502", "error", 28, 11, "spec.subsets[1].name"),
        ("ML502", "error", 29, 11, "spec.subsets[2].name"),
        ("ML502", "error", 33, 11, "spec.subsets[4].name"),
        ("ML502", "error", 35, 7, 'spec.subsets[4].labels["-version"]'),
        ("ML502", "error", 35, 19, 'spec.subsets[4].labels["-version"]'),
        ("ML503", "error", 47, 5, "spec.exportTo[1]"),
        ("ML503", "error", 48, 5, "spec.exportTo[2]"),
        ("ML503", "error", 58, 5, "spec.exportTo[0]"),
        ("ML503", "error", 70, 5, "spec.exportTo[0]"),
        ("ML321", "error", 73, 12, "spec.workloadSelector.matchLabels.app"),
        ("ML321", "error", 74, 7, 'spec.workloadSelector.matchLabels[""]'),
        ("ML320", "warning", 84, 3, "spec.workloadSelector"),
        ("ML320", "warning", 94, 5, "spec.workloadSelector.matchLabels"),
    ],
    "load-balancer-bad.yaml": [
        (
            "ML511",
            "error",
            13,
            17,
            "spec.trafficPolicy.loadBalancer.consistentHash.httpCookie.name",
        ),
        (
            "ML511",
            "error",
            18,
            19,
            "spec.trafficPolicy.loadBalancer.consistentHash.httpCookie.attributes[1].name",
        ),
        (
            "ML511",
            "error",
            19,
            19,
            "spec.trafficPolicy.loadBalancer.consistentHash.httpCookie.attributes[2].name",
        ),
        ("ML511", "error", 23, 9, "spec.trafficPolicy.loadBalancer.consistentHash.minimumRingSize"),
        (
            "ML517",
            "warning",
            23,
            9,
            "spec.trafficPolicy.loadBalancer.consistentHash.minimumRingSize",
        ),
        (
            "ML511",
            "error",
            40,
            24,
            "spec.subsets[0].trafficPolicy.loadBalancer.consistentHash.maglev.tableSize",
        ),
        (
            "ML511",
            "error",
            46,
            11,
            "spec.subsets[1].trafficPolicy.loadBalancer.consistentHash.maglev",
        ),
        (
            "ML511",
            "error",
            53,
            24,
            "spec.subsets[2].trafficPolicy.loadBalancer.consistentHash.maglev.tableSize",
        ),
        (
            "ML511",
            "error",
            60,
            24,
            "spec.subsets[3].trafficPolicy.loadBalancer.consistentHash.maglev.tableSize",
        ),
        ("ML512", "error", 75, 21, "spec.trafficPolicy.loadBalancer.warmup.aggression"),
        ("ML513", "error", 94, 9, "spec.trafficPolicy.loadBalancer.localityLbSetting.failover"),
        ("ML513", "error", 97, 7, "spec.trafficPolicy.loadBalancer.zoneAwareLbSetting"),
        (
            "ML513",
            "error",
            114,
            30,
            'spec.trafficPolicy.loadBalancer.localityLbSetting.distribute[0].to["us-east/zone1/*"]',
        ),
        (
            "ML513",
            "error",
            117,
            11,
            "spec.trafficPolicy.loadBalancer.localityLbSetting.distribute[1].to",
        ),
        (
            "ML513",
            "error",
            120,
            17,
            "spec.trafficPolicy.loadBalancer.localityLbSetting.distribute[2].from",
        ),
        (
            "ML513",
            "error",
            122,
            13,
            'spec.trafficPolicy.loadBalancer.localityLbSetting.distribute[2].to["us-west//a"]',
        ),
        (
            "ML513",
            "error",
            126,
            13,
            'spec.trafficPolicy.loadBalancer.localityLbSetting.distribute[3].to["eu/zone1"]',
        ),
        ("ML514", "warning", 139, 9, "spec.trafficPolicy.loadBalancer.localityLbSetting.failover"),
        (
            "ML513",
            "error",
            141,
            15,
            "spec.trafficPolicy.loadBalancer.localityLbSetting.failover[0].to",
        ),
        (
            "ML513",
            "error",
            142,
            17,
            "spec.trafficPolicy.loadBalancer.localityLbSetting.failover[1].from",
        ),
        (
            "ML513",
            "error",
            143,
            15,
            "spec.trafficPolicy.loadBalancer.localityLbSetting.failover[1].to",
        ),
        (
            "ML513",
            "error",
            145,
            11,
            "spec.trafficPolicy.loadBalancer.localityLbSetting.failoverPriority[0]",
        ),
        (
            "ML513",
            "error",
            153,
            13,
            "spec.subsets[0].trafficPolicy.loadBalancer.zoneAwareLbSetting.failoverPriority[0]",
        ),
        (
            "ML514",
            "warning",
            154,
            11,
            "spec.subsets[0].trafficPolicy.loadBalancer.zoneAwareLbSetting.failover",
        ),
        (
            "ML513",
            "error",
            156,
            17,
            "spec.subsets[0].trafficPolicy.loadBalancer.zoneAwareLbSetting.failover[0].to",
        ),
    ],
    "outlier-tls-bad.yaml": [
        (
            "ML515",
            "error",
            11,
            39,
            "spec.trafficPolicy.outlierDetection.consecutiveLocalOriginFailures",
        ),
        ("ML515", "error", 12, 27, "spec.trafficPolicy.outlierDetection.maxEjectionPercent"),
        ("ML515", "error", 13, 25, "spec.trafficPolicy.outlierDetection.minHealthPercent"),
        (
            "ML515",
            "error",
            19,
            41,
            "spec.subsets[0].trafficPolicy.outlierDetection.consecutiveLocalOriginFailures",
        ),
        (
            "ML517",
            "warning",
            20,
            9,
            "spec.subsets[0].trafficPolicy.outlierDetection.consecutiveErrors",
        ),
        ("ML516", "error", 32, 13, "spec.trafficPolicy.tls.mode"),
        ("ML516", "error", 40, 25, "spec.trafficPolicy.portLevelSettings[0].tls.caCertificates"),
        (
            "ML516",
            "error",
            45,
            29,
            "spec.trafficPolicy.portLevelSettings[1].tls.insecureSkipVerify",
        ),
        (
            "ML516",
            "error",
            53,
            29,
            "spec.trafficPolicy.portLevelSettings[2].tls.insecureSkipVerify",
        ),
        ("ML516", "error", 54, 25, "spec.trafficPolicy.portLevelSettings[2].tls.caCertificates"),
        ("ML516", "error", 69, 25, "spec.subsets[0].trafficPolicy.tls.credentialName"),
        ("ML516", "error", 74, 25, "spec.subsets[1].trafficPolicy.tls.credentialName"),
        ("ML516", "error", 79, 25, "spec.subsets[2].trafficPolicy.tls.credentialName"),
    ],
    "policy-bad.yaml": [
        ("ML506", "error", 9, 3, "spec.trafficPolicy"),
        ("ML506", "error", 15, 7, "spec.subsets[0].trafficPolicy.connectionPool"),
        ("ML506", "error", 27, 7, "spec.trafficPolicy.portLevelSettings[0]"),
        ("ML508", "error", 29, 7, "spec.trafficPolicy.portLevelSettings[1]"),
        ("ML508", "error", 31, 13, "spec.trafficPolicy.portLevelSettings[2].port"),
        ("ML507", "error", 44, 5, "spec.trafficPolicy.proxyProtocol"),
        ("ML507", "error", 47, 17, "spec.trafficPolicy.tunnel.protocol"),
        ("ML507", "error", 48, 19, "spec.trafficPolicy.tunnel.targetHost"),
        ("ML507", "error", 49, 19, "spec.trafficPolicy.tunnel.targetPort"),
        ("ML507", "error", 62, 19, "spec.subsets[0].trafficPolicy.tunnel.protocol"),
        ("ML507", "error", 63, 21, "spec.subsets[0].trafficPolicy.tunnel.targetHost"),
        ("ML507", "error", 64, 21, "spec.subsets[0].trafficPolicy.tunnel.targetPort"),
    ],
    "connect-timeout-bad.yaml": [
        ("ML519", "warning", 12, 25, "spec.trafficPolicy.connectionPool.tcp.connectTimeout"),
        (
            "ML519",
            "warning",
            22,
            33,
            "spec.subsets[0].trafficPolicy.portLevelSettings[0].connectionPool.tcp.connectTimeout",
        ),
    ],
    "least-conn-bad.yaml": [
        ("ML518", "warning", 11, 15, "spec.trafficPolicy.loadBalancer.simple"),
        ("ML518", "warning", 14, 30, "spec.trafficPolicy.portLevelSettings[0].loadBalancer.simple"),
        ("ML518", "warning", 20, 17, "spec.subsets[0].trafficPolicy.loadBalancer.simple"),
    ],
}

# Rules of meshlint's own, not verdicts of Istio's webhook: no IST code.
NOT_ISTIO = {"ML518", "ML519"}
# Best-practice rules with no row in the rules catalogue.
NO_CATALOGUE_ROW = {"ML519"}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bad_fixture_findings(name: str) -> None:
    found = lint_paths([str(FIXTURES / name)], ML5).findings
    assert rows(found) == EXPECTED[name]


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("*-good.yaml")))
def test_good_fixture_is_clean(name: str) -> None:
    # ML9 ignored: each file is a pile of independent cases, which the cross-resource rules
    # rightly see as DestinationRules of one host that istiod would merge.
    found = lint_paths([str(FIXTURES / name)], Config(ignore=["ML9"])).findings
    # connection-pool-good.yaml holds Istio's smallest accepted durations (1ms), which the
    # best-practice ML519 rightly warns about; the field-validation rules stay silent.
    assert [
        d
        for d in found
        if d.severity.label != "info" and d.code != "ML519" and d.code not in PRACTICE_CODES
    ] == []


def test_every_rule_has_fixtures() -> None:
    fired = {row[0] for expected in EXPECTED.values() for row in expected}
    fired = {c for c in fired if not c.startswith("ML32")}
    assert fired == set(CODES)
    assert {p.name.replace("-bad", "-good") for p in FIXTURES.glob("*-bad.yaml")} == {
        p.name for p in FIXTURES.glob("*-good.yaml")
    }


def test_every_rule_names_its_sources() -> None:
    for code in CODES:
        r = rules.get(code)
        assert r is not None and r.kinds == frozenset({"DestinationRule"})
        assert r.source and (r.catalogue or code in NO_CATALOGUE_ROW), code
        for row in r.catalogue:
            assert f"| {row} |" in CATALOGUE, (code, row)
        if code in NOT_ISTIO:
            assert r.istio is None, code
            continue
        assert r.istio in ("IST0106", "IST0133")
        assert (r.istio == "IST0133") == (r.severity.label == "warning"), code


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
    problem = destinationrule._locality_list_problem(localities)
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
        for d in found:
            # Empty or missing blocks are still verdicts of their own; types never are.
            assert d.code in ("ML320", "ML506", "ML508", "ML511", "ML513", "ML514"), (
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
