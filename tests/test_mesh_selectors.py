"""Cross-resource rules on workload selectors (ML935-ML947): the edge cases their fixtures
(tests/fixtures/rules/mesh/) do not show: messages, wrong types, templates, external
namespaces, manifests without namespace, a run split across files, suppression, the root
namespace from the configuration."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from conftest import CORPUS, FIXTURES
from test_mesh import lint

from meshlint import rules
from meshlint.config import Config
from meshlint.engine import lint_paths, lint_text

RULE_FIXTURES = FIXTURES / "rules" / "mesh"
CODES = {r.code for r in rules.all_rules() if r.module == "meshlint.rules.mesh.selectors"}

Found = tuple[str, str, str, int, int, str]


def ours(found: list[Found]) -> list[Found]:
    return [f for f in found if f[0] in CODES]


def codes(
    text: str, config: Config | None = None, name: str = "mesh.yaml"
) -> list[tuple[str, str, int, str]]:
    result = lint_text(text, config or Config(), name=name)
    return [(d.code, d.severity.label, d.line, d.path) for d in result.findings if d.code in CODES]


def messages(text: str, code: str) -> list[str]:
    return [
        d.message for d in lint_text(text, Config(), name="mesh.yaml").findings if d.code == code
    ]


# --------------------------------------------------------------------------------------------
# messages


def test_conflicts_name_the_first_resource_and_its_line() -> None:
    result = lint_paths([str(RULE_FIXTURES / "ML939-bad.yaml")], Config())
    first, second = [d for d in result.findings if d.code == "ML939"]
    assert first.resource == "Sidecar/shop/v1-workloads"
    assert "Sidecar/shop/reviews (" in first.message and "ML939-bad.yaml:122)" in first.message
    assert "and 1 more" in first.message  # ratings-v1 was picked by Sidecar/shop/ratings
    assert second.resource == "Sidecar/shop/reviews-v2"
    result = lint_paths([str(RULE_FIXTURES / "ML944-bad.yaml")], Config())
    found = {d.resource: d.message for d in result.findings if d.code == "ML944"}
    assert "PeerAuthentication/shop/default (" in found["PeerAuthentication/shop/migration"]
    assert "whole mesh" in found["PeerAuthentication/istio-system/mesh-permissive"]


# --------------------------------------------------------------------------------------------
# building blocks

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: reviews
  namespace: shop
spec:
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

SIDECAR = """\
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata:
  name: {name}
  namespace: shop
spec:
  workloadSelector:
    labels:
      app: {app}
  egress:
  - hosts:
    - ./*
"""

PA = """\
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata:
  name: {name}
  namespace: {ns}
spec:
  mtls:
    mode: STRICT
"""


def docs(*parts: str) -> str:
    return "---\n".join(parts)


# --------------------------------------------------------------------------------------------
# what the run must hold before a selector is said to match nothing


def test_selector_without_workloads_of_the_namespace_in_the_run_says_nothing() -> None:
    assert codes(SIDECAR.format(name="r", app="review")) == []
    other = DEPLOYMENT.replace("namespace: shop", "namespace: web")
    assert codes(docs(other, SIDECAR.format(name="r", app="review"))) == []
    assert codes(docs(DEPLOYMENT, SIDECAR.format(name="r", app="review"))) == [
        ("ML936", "warning", 28, "spec.workloadSelector.labels")
    ]


def test_external_namespace_silences_the_missing_workload() -> None:
    text = docs(DEPLOYMENT, SIDECAR.format(name="r", app="review"))
    assert codes(text, Config(external_namespaces=["sh*"])) == []
    [message] = messages(text, "ML936")
    assert "external-namespaces" in message and "app=review" in message


def test_gateway_speaks_only_when_the_run_holds_workloads_of_its_kind() -> None:
    gateway = """\
apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: web
  namespace: shop
spec:
  selector:
    istio: ingressgateway
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["web.example.com"]
"""
    # bookinfo-like workloads carry no `istio` label: the gateway proxies live elsewhere
    assert codes(docs(DEPLOYMENT, gateway)) == []
    proxy = DEPLOYMENT.replace("app: reviews", "istio: ingress").replace(
        "name: reviews", "name: gw"
    )
    proxy = proxy.replace("namespace: shop", "namespace: istio-ingress")
    assert codes(docs(proxy, gateway)) == [("ML935", "warning", 27, "spec.selector")]
    # workloads labelled `app` are not gateway proxies: a Gateway selecting `app: ...` waits
    # for one that is
    by_app = gateway.replace("istio: ingressgateway", "app: web-gateway")
    assert codes(docs(DEPLOYMENT, by_app)) == []
    # a gateway in any namespace serves it
    fixed = proxy.replace("istio: ingress", "istio: ingressgateway")
    assert codes(docs(fixed, gateway)) == []


def test_istio_samples_give_no_finding() -> None:
    assert ours(lint(CORPUS / "istio-samples")) == []


# --------------------------------------------------------------------------------------------
# bad input


@pytest.mark.parametrize(
    "selector",
    [
        "workloadSelector: reviews",
        "workloadSelector: [app, reviews]",
        "workloadSelector: {labels: [app]}",
        "workloadSelector: {labels: {app: 1}}",
        "workloadSelector: {labels: {app: null}}",
        "workloadSelector: {labels: {app: '{{ .Values.app }}'}}",
    ],
)
def test_malformed_or_unrendered_selectors_are_left_to_other_rules(selector: str) -> None:
    sidecar = SIDECAR.format(name="a", app="reviews").replace(
        "  workloadSelector:\n    labels:\n      app: reviews\n", f"  {selector}\n"
    )
    assert selector in sidecar
    # neither "matches nothing" nor a selector-less duplicate of the other Sidecar
    text = docs(DEPLOYMENT, sidecar, sidecar.replace("name: a", "name: b"))
    assert codes(text) == []


def test_unrendered_workload_labels_keep_it_quiet() -> None:
    templated = DEPLOYMENT.replace("        app: reviews\n", "        app: '{{ .Values.app }}'\n")
    assert codes(docs(templated, SIDECAR.format(name="r", app="reviews"))) == []


@pytest.mark.parametrize("spec", ["spec: []", "spec: 7", "spec:\n  selector: 3", ""])
def test_wrong_types_do_not_raise(spec: str) -> None:
    base = "apiVersion: security.istio.io/v1\nkind: {kind}\nmetadata:\n  name: x{i}\n"
    base += "  namespace: istio-system\n" + spec + "\n"
    kinds = ["PeerAuthentication", "AuthorizationPolicy", "RequestAuthentication", "Telemetry"]
    text = docs(DEPLOYMENT, *(base.format(kind=k, i=i) for i, k in enumerate(kinds)))
    result = lint_text(text, Config(), name="mesh.yaml")
    assert not [d for d in result.findings if d.code == "ML107"]


# --------------------------------------------------------------------------------------------
# places: namespaces as written, files


def test_manifests_without_namespace_meet_only_in_one_file(tmp_path: Path) -> None:
    pa = PA.replace("  namespace: {ns}\n", "")
    (tmp_path / "a.yaml").write_text(pa.format(name="a", ns=""))
    (tmp_path / "b.yaml").write_text(pa.format(name="b", ns=""))
    assert ours(lint(tmp_path)) == []
    (tmp_path / "b.yaml").write_text(docs(pa.format(name="b", ns=""), pa.format(name="c", ns="")))
    assert ours(lint(tmp_path)) == [("ML944", "error", "b.yaml", 12, 9, "metadata.name")]


def test_a_run_split_across_files(tmp_path: Path) -> None:
    (tmp_path / "10-workloads.yaml").write_text(DEPLOYMENT)
    (tmp_path / "20-sidecars.yaml").write_text(
        docs(SIDECAR.format(name="a", app="reviews"), SIDECAR.format(name="b", app="review"))
    )
    (tmp_path / "30-more.yaml").write_text(SIDECAR.format(name="c", app="reviews"))
    assert ours(lint(tmp_path)) == [
        ("ML936", "warning", "20-sidecars.yaml", 22, 7, "spec.workloadSelector.labels"),
        ("ML939", "error", "30-more.yaml", 8, 5, "spec.workloadSelector"),
    ]
    # each file alone knows less
    assert ours(lint(tmp_path / "20-sidecars.yaml")) == []


def test_namespaces_apart_do_not_conflict() -> None:
    web = DEPLOYMENT.replace("namespace: shop", "namespace: web")
    other = SIDECAR.format(name="a", app="reviews").replace("namespace: shop", "namespace: web")
    text = docs(DEPLOYMENT, web, SIDECAR.format(name="a", app="reviews"), other)
    assert codes(text) == []
    assert codes(docs(PA.format(name="d", ns="shop"), PA.format(name="d", ns="web"))) == []


# --------------------------------------------------------------------------------------------
# suppression and configuration


def test_istio_suppression_annotation_honours_the_istio_code() -> None:
    second = SIDECAR.format(name="b", app="reviews").replace(
        "  namespace: shop\n",
        "  namespace: shop\n  annotations:\n    galley.istio.io/analyze-suppress: IST0110\n",
    )
    text = docs(DEPLOYMENT, SIDECAR.format(name="a", app="reviews"), second)
    assert codes(text) == []
    assert [c for c, *_ in codes(text.replace("IST0110", "IST0111"))] == ["ML939"]


def test_root_namespace_from_the_configuration() -> None:
    selected = PA.format(name="p", ns="mesh-root").replace(
        "spec:\n", "spec:\n  selector:\n    matchLabels:\n      app: reviews\n"
    )
    assert codes(selected) == []
    assert codes(selected, Config(root_namespace="mesh-root")) == [
        ("ML945", "warning", 8, "spec.selector")
    ]


def test_selector_less_authorization_policy_needs_workloads_known_outside_the_mesh() -> None:
    ap = """\
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: allow-nothing
  namespace: shop
spec: {}
"""
    # no Namespace manifest: whether injection is on is unknown
    assert codes(docs(DEPLOYMENT, ap)) == []
    namespace = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n"
    assert codes(docs(namespace, DEPLOYMENT, ap)) == [
        ("ML937", "warning", 29, "metadata.namespace")
    ]
    injected = namespace + "  labels:\n    istio-injection: enabled\n"
    assert codes(docs(injected, DEPLOYMENT, ap)) == []
    ambient = namespace + "  labels:\n    istio.io/dataplane-mode: ambient\n"
    assert codes(docs(ambient, DEPLOYMENT, ap)) == []
    # a gateway proxy opts out of injection but is a proxy itself
    proxy = DEPLOYMENT.replace("app: reviews", "istio: ingressgateway").replace(
        "        version: v1\n",
        "        version: v1\n      annotations:\n        sidecar.istio.io/inject: 'false'\n",
    )
    assert codes(docs(injected, proxy, ap)) == []


def test_gateway_api_pods_found_through_the_workloads_of_the_run() -> None:
    pod = """\
apiVersion: v1
kind: Pod
metadata:
  name: edge-istio-abc
  namespace: shop
  labels:
    gateway.networking.k8s.io/gateway-name: edge
    app: edge-istio
spec:
  containers:
  - name: istio-proxy
    image: auto
"""
    telemetry = """\
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata:
  name: edge
  namespace: shop
spec:
  selector:
    matchLabels:
      app: edge-istio
  accessLogging:
  - providers:
    - name: envoy
"""
    assert codes(docs(pod, telemetry)) == [("ML946", "warning", 22, "spec.selector.matchLabels")]
    [message] = messages(docs(pod, telemetry), "ML946")
    assert "`edge`" in message and "targetRefs" in message
    targeted = telemetry.replace(
        "  selector:\n    matchLabels:\n      app: edge-istio\n",
        "  targetRefs:\n  - group: gateway.networking.k8s.io\n    kind: Gateway\n    name: edge\n",
    )
    assert codes(docs(pod, targeted)) == []


# --------------------------------------------------------------------------------------------
# scale: conflicts are found through the workloads, not by comparing every pair


def test_many_namespaces_stay_fast() -> None:
    parts = []
    for i in range(1500):
        ns = f"team{i}"
        parts.append(DEPLOYMENT.replace("namespace: shop", f"namespace: {ns}"))
        parts.append(SIDECAR.format(name="a", app="reviews").replace("shop", ns))
        parts.append(PA.format(name="default", ns=ns))
    parts.append(PA.format(name="extra", ns="team7"))
    start = time.perf_counter()
    found = codes(docs(*parts))
    elapsed = time.perf_counter() - start
    assert [c for c, *_ in found] == ["ML944"]
    assert elapsed < 60


def test_identical_selectors_conflict_without_workloads_in_the_run() -> None:
    text = docs(SIDECAR.format(name="a", app="reviews"), SIDECAR.format(name="b", app="reviews"))
    assert codes(text) == [("ML939", "error", 21, "spec.workloadSelector")]
    [message] = messages(text, "ML939")
    assert "Sidecar/shop/a (mesh.yaml:1)" in message and "same selector app=reviews" in message
    assert (
        codes(docs(SIDECAR.format(name="a", app="reviews"), SIDECAR.format(name="b", app="x")))
        == []
    )
