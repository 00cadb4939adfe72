"""Cross-resource best-practice rules (ML985 circuit-breaker-below-replicas, ML986
unused-subset): what their messages say, a run split across files, and the inputs the rules
must leave alone (templates, wrong types, unknown replica counts, routing held elsewhere).
Their fixtures (tests/fixtures/rules/mesh/) state their findings with markers."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from conftest import FIXTURES

from meshlint import rules
from meshlint.config import Config
from meshlint.engine import lint_paths, lint_text

RULES = FIXTURES / "rules" / "mesh"
CODES = tuple(r.code for r in rules.all_rules() if r.module == "meshlint.rules.mesh.practice")


def test_circuit_breaker_message_names_the_workloads() -> None:
    result = lint_paths([str(RULES / "ML985-bad.yaml")], Config(select=["ML985"]))
    first = result.findings[0]
    assert first.resource == "DestinationRule/shop/reviews"
    assert "maxConnections 2 is below the 5 replicas behind `reviews`" in first.message
    assert "Deployment/shop/reviews-v1 ×3, StatefulSet/shop/reviews-v2 ×2" in first.message
    assert "per client proxy" in first.message


def test_unused_subset_message_names_the_routes() -> None:
    result = lint_paths([str(RULES / "ML986-bad.yaml")], Config(select=["ML986"]))
    first = result.findings[0]
    assert first.resource == "DestinationRule/shop/reviews"
    assert "subset `v3` of host `reviews`" in first.message
    assert "VirtualService/shop/reviews (" in first.message and "use v1, v2" in first.message


def test_metadata() -> None:
    for code in CODES:
        r = rules.get(code)
        assert r is not None and r.source and r.istio is None and r.kiali is None
    assert rules.get("ML986").catalogue == ("dr-rt-subset-unused",)  # type: ignore[union-attr]


# --------------------------------------------------------------------------------------------
# a run split across files, and what is left alone


def _doc(text: str) -> str:
    return textwrap.dedent(text).strip("\n") + "\n"


SERVICE = _doc(
    """
    apiVersion: v1
    kind: Service
    metadata:
      name: reviews
      namespace: shop
    spec:
      selector:
        app: reviews
      ports:
      - name: http
        port: 9080
    """
)


def deployment(replicas: str = "replicas: 3", kind: str = "Deployment") -> str:
    return _doc(
        f"""
        apiVersion: apps/v1
        kind: {kind}
        metadata:
          name: reviews
          namespace: shop
        spec:
          {replicas}
          selector:
            matchLabels:
              app: reviews
          template:
            metadata:
              labels:
                app: reviews
                version: v1
            spec:
              containers:
              - name: reviews
                image: example/reviews:1.0
        """
    )


def rule(pool: str = "tcp:\n        maxConnections: 2", host: str = "reviews") -> str:
    """A DestinationRule for ``host``; ``pool`` is its connection pool (nested lines indented
    by 8 spaces, as in the result)."""
    return _doc(
        f"""
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata:
          name: reviews
          namespace: shop
        spec:
          host: {host}
          trafficPolicy:
            connectionPool:
              POOL
          subsets:
          - name: v1
            labels:
              version: v1
          - name: v2
            labels:
              version: v2
        """
    ).replace("POOL", pool)


def route(subset: str = "v1", namespace: str = "shop", host: str = "reviews") -> str:
    return _doc(
        f"""
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata:
          name: reviews
          namespace: {namespace}
        spec:
          hosts:
          - reviews
          http:
          - route:
            - destination:
                host: {host}
                subset: {subset}
        """
    )


def run(tmp_path: Path, *files: str, codes: tuple[str, ...] = CODES) -> list[tuple[str, str, str]]:
    paths = []
    for i, text in enumerate(files):
        p = tmp_path / f"{i}.yaml"
        p.write_text(text, encoding="utf-8")
        paths.append(str(p))
    found = lint_paths(paths, Config(select=list(codes))).findings
    return [(d.code, Path(d.file).name, d.path) for d in found]


def test_a_run_split_across_files(tmp_path: Path) -> None:
    assert run(tmp_path, SERVICE, deployment(), rule(), route()) == [
        ("ML985", "2.yaml", "spec.trafficPolicy.connectionPool.tcp.maxConnections"),
        ("ML986", "2.yaml", "spec.subsets[1].name"),
    ]


@pytest.mark.parametrize(
    "replicas",
    ['replicas: "3"', "replicas: '{{ .Values.replicas }}'", "replicas: -1", "replicas: true"],
)
def test_unknown_replica_counts_are_left_alone(tmp_path: Path, replicas: str) -> None:
    assert run(tmp_path, SERVICE, deployment(replicas), rule(), codes=("ML985",)) == []


def test_daemon_sets_are_left_alone(tmp_path: Path) -> None:
    found = run(tmp_path, SERVICE, deployment("", kind="DaemonSet"), rule(), codes=("ML985",))
    assert found == []


def test_absent_replicas_count_one(tmp_path: Path) -> None:
    assert run(tmp_path, SERVICE, deployment(""), rule(), codes=("ML985",)) == []
    assert run(tmp_path, SERVICE, deployment("replicas: 2"), rule(), codes=("ML985",)) == []


@pytest.mark.parametrize(
    "pool",
    [
        "tcp:\n        maxConnections: 0",  # 0: unlimited
        "tcp:\n        maxConnections: '1'",
        "tcp: [1]",
        "http:\n        http1MaxPendingRequests: 1",  # a queue length, not compared
        "tcp:\n        maxConnections: 3",
    ],
)
def test_limits_that_are_not_compared(tmp_path: Path, pool: str) -> None:
    assert run(tmp_path, SERVICE, deployment(), rule(pool), codes=("ML985",)) == []


def test_host_written_in_full_from_another_namespace(tmp_path: Path) -> None:
    text = rule(host="reviews.shop.svc.cluster.local").replace("namespace: shop", "namespace: ops")
    assert run(tmp_path, SERVICE, deployment(), text, codes=("ML985",)) == [
        ("ML985", "2.yaml", "spec.trafficPolicy.connectionPool.tcp.maxConnections")
    ]


def test_no_route_to_the_host_says_nothing(tmp_path: Path) -> None:
    assert run(tmp_path, SERVICE, rule(), codes=("ML986",)) == []
    # `reviews` in namespace web is reviews.web: it does not route to shop's reviews
    assert run(tmp_path, SERVICE, rule(), route(namespace="web"), codes=("ML986",)) == []


def test_templated_routes_say_nothing(tmp_path: Path) -> None:
    templated_subset = route(subset="'{{ .Values.subset }}'")
    assert run(tmp_path, SERVICE, rule(), templated_subset, codes=("ML986",)) == []
    templated_host = route(host="'{{ .Values.host }}'")
    assert run(tmp_path, SERVICE, rule(), route(), templated_host, codes=("ML986",)) == []


def test_route_without_subset_leaves_every_subset_unused(tmp_path: Path) -> None:
    plain = route().replace("        subset: v1\n", "")
    assert run(tmp_path, SERVICE, rule(), plain, codes=("ML986",)) == [
        ("ML986", "1.yaml", "spec.subsets[0].name"),
        ("ML986", "1.yaml", "spec.subsets[1].name"),
    ]


@pytest.mark.parametrize(
    "spec",
    [
        "host: reviews\n  subsets: 7",
        "host: reviews\n  subsets: [7, {name: 3}, {name: null}]",
        "host: [reviews]",
        "host: reviews\n  trafficPolicy: 7",
        "host: reviews\n  trafficPolicy:\n    portLevelSettings: [7]\n    connectionPool: 3",
        "host: reviews\n  subsets:\n  - name: v1\n    labels: 7\n    trafficPolicy:\n"
        "      connectionPool:\n        tcp:\n          maxConnections: 1",
    ],
)
def test_wrong_types_do_not_crash(spec: str) -> None:
    text = (
        SERVICE
        + "---\n"
        + deployment()
        + "---\n"
        + route()
        + "---\n"
        + "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata:\n"
        + f"  name: reviews\n  namespace: shop\nspec:\n  {spec}\n"
    )
    lint_text(text, Config(select=list(CODES)), name="x.yaml")


def test_external_config_changes_nothing_here(tmp_path: Path) -> None:
    config = Config(
        select=list(CODES), external_hosts=["*.example.com"], external_namespaces=["ops"]
    )
    paths = []
    for i, text in enumerate((SERVICE, deployment(), rule(), route())):
        p = tmp_path / f"{i}.yaml"
        p.write_text(text, encoding="utf-8")
        paths.append(str(p))
    assert [d.code for d in lint_paths(paths, config).findings] == ["ML985", "ML986"]
