"""Cross-resource rules of ambient mode and exportTo namespaces (ML994-ML999), beyond their
fixtures: the messages, what the run must hold, templates, wrong types, external config, runs
split across files and suppression."""

from __future__ import annotations

from pathlib import Path

from conftest import FIXTURES
from test_mesh import lint

from meshlint.config import Config
from meshlint.engine import lint_text
from meshlint.rules import all_rules

RULES = FIXTURES / "rules" / "mesh"
# The rules of the module (their fixtures: tests/fixtures/rules/mesh).
CODES = {r.code for r in all_rules() if r.module == "meshlint.rules.mesh.ambient"}


def ours(text: str, config: Config | None = None) -> list[tuple[str, str, int, str]]:
    result = lint_text(text, config or Config(), name="mesh.yaml")
    return [(d.code, d.severity.label, d.line, d.path) for d in result.findings if d.code in CODES]


# --------------------------------------------------------------------------------------------
# what the fixtures' markers do not say


def test_messages_name_the_other_resources() -> None:
    result = lint_text((RULES / "ML998-bad.yaml").read_text(), Config(), name="m.yaml")
    first, second, third = (d.message for d in result.findings)
    assert "Service/shop/reviews (m.yaml:25)" in first and "Namespace shop (m.yaml:3)" in first
    assert "`istio.io/use-waypoint: none` on Service/payments/ledger" in second
    assert "not in the linted files" in third


# --------------------------------------------------------------------------------------------
# ML999: exportTo


NS = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n"
DR = """\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: reviews
  namespace: shop
spec:
  host: reviews.shop.svc.cluster.local
  exportTo: {export}
"""


def test_exportto_needs_namespace_manifests_in_the_run() -> None:
    text = DR.format(export="[., storefrnt]")
    assert ours(text) == []
    assert ours(NS.format(name="shop") + "---\n" + text) == [
        ("ML999", "warning", 13, "spec.exportTo[1]")
    ]


def test_exportto_accepts_namespaces_the_run_or_the_cluster_or_the_config_knows() -> None:
    text = (
        NS.format(name="shop")
        + "---\n"
        + DR.format(export="[., '*', '~', default, kube-system, istio-system, web, team-a, team-b]")
    )
    svc = "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: x\n  namespace: web\n"
    found = ours(text + svc)
    assert [p for *_, p in found] == ["spec.exportTo[7]", "spec.exportTo[8]"]
    assert ours(text + svc, Config(external_namespaces=["team-*"])) == []


def test_exportto_skips_templates_wrong_types_and_invalid_names() -> None:
    base = NS.format(name="shop") + "---\n"
    for export in ("'{{ .Values.ns }}'", "shop", "[1, null, {a: b}]", "[Not_A_Name]"):
        assert ours(base + DR.format(export=f"[{export}]" if export[0] != "[" else export)) == []
    assert ours(base + DR.format(export="storefront")) == []  # a string, not a list


def test_exportto_across_files(tmp_path: Path) -> None:
    (tmp_path / "namespaces.yaml").write_text(NS.format(name="shop"))
    (tmp_path / "dr.yaml").write_text(DR.format(export="[storefront]"))
    assert lint(tmp_path) == [("ML999", "warning", "dr.yaml", 8, 14, "spec.exportTo[0]")]
    assert lint(tmp_path / "dr.yaml") == []


# --------------------------------------------------------------------------------------------
# ML998 / ML997: L7 routing for ambient Services


def namespace(name: str, **labels: str) -> str:
    text = NS.format(name=name)
    if labels:
        text += "  labels:\n" + "".join(f"    {k}: {v!r}\n" for k, v in labels.items())
    return text


AMBIENT = {"istio.io/dataplane-mode": "ambient"}
SERVICE = """\
apiVersion: v1
kind: Service
metadata:
  name: reviews
  namespace: shop
{labels}spec:
  selector:
    app: reviews
  ports:
  - name: http
    port: 9080
"""
VS = """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
  namespace: {ns}
spec:
  hosts:
  - reviews.shop.svc.cluster.local
{extra}  http:
  - route:
    - destination:
        host: reviews.shop.svc.cluster.local
    timeout: 3s
"""


def run(*docs: str) -> list[tuple[str, str, int, str]]:
    return [(c, s, line, p) for c, s, line, p in ours("---\n".join(docs))]


def codes(*docs: str) -> list[str]:
    return [c for c, *_ in run(*docs)]


def test_routing_needs_the_namespace_manifest_and_ambient_mode() -> None:
    vs = VS.format(ns="shop", extra="")
    svc = SERVICE.format(labels="")
    assert codes(svc, vs) == []
    assert codes(namespace("shop"), svc, vs) == []
    assert codes(namespace("shop", **AMBIENT), svc, vs) == ["ML998"]
    # sidecar injection wins over the ambient label
    injected = namespace("shop", **AMBIENT, **{"istio-injection": "enabled"})
    assert codes(injected, svc, vs) == []
    revision = namespace("shop", **AMBIENT, **{"istio.io/rev": "canary"})
    assert codes(revision, svc, vs) == []


def test_service_label_wins_over_the_namespace_label() -> None:
    vs = VS.format(ns="shop", extra="")
    enrolled = namespace("shop", **AMBIENT, **{"istio.io/use-waypoint": "waypoint"})
    opted_out = SERVICE.format(labels="  labels:\n    istio.io/use-waypoint: none\n")
    assert codes(enrolled, SERVICE.format(labels=""), vs) == []
    assert codes(enrolled, opted_out, vs) == ["ML998"]
    own = SERVICE.format(labels="  labels:\n    istio.io/use-waypoint: reviews-wp\n")
    assert codes(namespace("shop", **AMBIENT), own, vs) == []
    empty = namespace("shop", **AMBIENT, **{"istio.io/use-waypoint": ""})
    assert codes(empty, SERVICE.format(labels=""), vs) == ["ML998"]


def test_routing_only_for_l7_mesh_traffic() -> None:
    ns = namespace("shop", **AMBIENT)
    svc = SERVICE.format(labels="")
    gateway_only = VS.format(ns="shop", extra="  gateways: [shop/edge]\n")
    assert "ML998" not in codes(ns, svc, gateway_only)
    with_mesh = VS.format(ns="shop", extra="  gateways: [shop/edge, mesh]\n")
    assert "ML998" in codes(ns, svc, with_mesh)
    tcp = (
        VS.format(ns="shop", extra="").replace("  http:", "  tcp:").replace("    timeout: 3s\n", "")
    )
    assert codes(ns, svc, tcp) == []


def test_routing_other_namespace_and_waypoint_namespace() -> None:
    shop = namespace(
        "shop",
        **AMBIENT,
        **{"istio.io/use-waypoint": "wp", "istio.io/use-waypoint-namespace": "waypoints"},
    )
    svc = SERVICE.format(labels="")
    assert codes(shop, svc, VS.format(ns="web", extra="")) == ["ML997"]
    assert codes(shop, svc, VS.format(ns="waypoints", extra="")) == []
    assert codes(shop, svc, VS.format(ns="shop", extra="")) == []


def test_destination_rule_l7_features_and_root_namespace() -> None:
    shop = namespace("shop", **AMBIENT, **{"istio.io/use-waypoint": "wp"})
    svc = SERVICE.format(labels="")
    dr = """\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: reviews
  namespace: {ns}
spec:
  host: reviews.shop.svc.cluster.local
  trafficPolicy:
{tp}"""
    l4 = "    connectionPool:\n      tcp:\n        maxConnections: 10\n"
    l7 = "    portLevelSettings:\n    - port: {number: 9080}\n      outlierDetection: {}\n"
    assert codes(shop, svc, dr.format(ns="web", tp=l4)) == []
    assert run(shop, svc, dr.format(ns="web", tp=l7)) == [
        ("ML997", "warning", 25, "metadata.namespace")
    ]
    assert codes(shop, svc, dr.format(ns="istio-system", tp=l7)) == []
    cookie = "    loadBalancer:\n      consistentHash:\n        httpCookie: {name: user, ttl: 0s}\n"
    plain = namespace("shop", **AMBIENT)
    assert run(plain, svc, dr.format(ns="shop", tp=cookie)) == [
        ("ML998", "warning", 26, "spec.host")
    ]


def test_routing_edges_do_not_raise() -> None:
    shop = namespace("shop", **AMBIENT)
    weird = [
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n  labels: [a, b]\n",
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n  labels:\n"
        "    istio.io/dataplane-mode: '{{ .Values.mode }}'\n",
    ]
    svc = SERVICE.format(labels="")
    for ns in weird:
        assert codes(ns, svc, VS.format(ns="shop", extra="")) == []
    for spec in (
        "spec: []\n",
        "spec:\n  hosts: reviews\n  http: [1]\n",
        "spec:\n  hosts: [1, '*']\n",
    ):
        vs = "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n"
        vs += "  name: x\n  namespace: shop\n" + spec
        run(shop, svc, vs)  # no exception
    templated = VS.format(ns="shop", extra="").replace(
        "  - reviews.shop.svc.cluster.local\n  http", "  - '{{ .Values.host }}'\n  http"
    )
    assert codes(shop, svc, templated) == []


# --------------------------------------------------------------------------------------------
# ML996 / ML995: L7 policies


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
{pod}    spec:
      containers:
      - name: reviews
        image: example/reviews:1.0
"""
TELEMETRY = """\
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata:
  name: logs
  namespace: shop
spec:
{attach}  accessLogging:
  - providers:
    - name: envoy
"""


def test_selector_policy_on_unenrolled_ambient_workload() -> None:
    shop = namespace("shop", **AMBIENT)
    tel = TELEMETRY.format(attach="  selector:\n    matchLabels:\n      app: reviews\n")
    assert run(shop, DEPLOYMENT.format(pod=""), tel) == [
        ("ML995", "warning", 33, "spec.selector"),
        ("ML996", "warning", 33, "spec.selector"),
    ]
    enrolled = DEPLOYMENT.format(pod="        istio.io/use-waypoint: wp\n")
    assert codes(shop, enrolled, tel) == ["ML995"]
    opted_out = DEPLOYMENT.format(pod="        istio.io/dataplane-mode: none\n")
    assert codes(shop, opted_out, tel) == []
    # a selector that picks nothing of the run: the namespace decides
    assert codes(shop, tel) == ["ML995", "ML996"]


def test_namespace_wide_and_gateway_targeted_policies() -> None:
    shop = namespace("shop", **AMBIENT)
    wide = TELEMETRY.format(attach="")
    assert run(shop, wide) == [
        ("ML995", "warning", 15, "spec.accessLogging"),
        ("ML996", "warning", 15, "spec.accessLogging"),
    ]
    gateway = "  targetRefs:\n  - kind: Gateway\n    group: gateway.networking.k8s.io\n"
    gateway += "    name: waypoint\n"
    assert codes(shop, TELEMETRY.format(attach=gateway)) == []
    l4 = wide.replace("  accessLogging:\n  - providers:\n    - name: envoy\n", "  metrics:\n")
    l4 += "  - providers:\n    - name: prometheus\n"
    assert codes(shop, l4) == []
    # not ambient: nothing
    assert codes(namespace("shop"), wide) == []


def test_service_target_not_in_the_run_is_judged_by_its_namespace() -> None:
    ref = '  targetRefs:\n  - kind: Service\n    group: ""\n    name: reviews\n'
    tel = TELEMETRY.format(attach=ref)
    [(code, _, _, path)] = run(namespace("shop", **AMBIENT), tel)
    assert (code, path) == ("ML996", "spec.targetRefs[0]")
    enrolled = namespace("shop", **AMBIENT, **{"istio.io/use-waypoint": "wp"})
    assert codes(enrolled, tel) == []
    templated = tel.replace("name: reviews", "name: '{{ .Values.svc }}'")
    assert codes(namespace("shop", **AMBIENT), templated) == []


def test_policy_edges_do_not_raise() -> None:
    shop = namespace("shop", **AMBIENT)
    for spec in (
        "spec: 3\n",
        "spec:\n  targetRefs: oops\n  rules: [1, {to: [1, {operation: []}]}, {when: [{key: 3}]}]\n",
        "spec:\n  targetRef: {kind: Service}\n"
        "  rules: [{from: [{source: {requestPrincipals: a}}]}]\n",
        "spec:\n  selector: {matchLabels: [a]}\n  rules: [{to: [{operation: {paths: ['/x']}}]}]\n",
    ):
        ap = "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata:\n"
        ap += "  name: x\n  namespace: shop\n" + spec
        run(shop, ap)  # no exception


# --------------------------------------------------------------------------------------------
# ML994: Sidecar


SIDECAR = """\
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata:
  name: default
  namespace: shop
spec:
{selector}  egress:
  - hosts:
    - ./*
"""


def test_sidecar_in_ambient_namespace_and_on_ambient_pods() -> None:
    wide = SIDECAR.format(selector="")
    selected = SIDECAR.format(selector="  workloadSelector:\n    labels:\n      app: reviews\n")
    assert codes(namespace("shop", **AMBIENT), wide) == ["ML994"]
    assert codes(namespace("shop"), wide) == []
    assert codes(wide) == []  # the namespace is not in the run
    ambient = namespace("shop", **AMBIENT)
    assert codes(ambient, DEPLOYMENT.format(pod=""), selected) == ["ML994"]
    injected = DEPLOYMENT.format(pod="        sidecar.istio.io/inject: 'true'\n")
    assert codes(ambient, injected, selected) == []
    pod_ambient = DEPLOYMENT.format(pod="        istio.io/dataplane-mode: ambient\n")
    assert codes(namespace("shop"), pod_ambient, selected) == ["ML994"]


def test_sidecar_finding_follows_istio_suppression() -> None:
    annotated = SIDECAR.format(selector="").replace(
        "  namespace: shop\n",
        "  namespace: shop\n  annotations:\n    galley.istio.io/analyze-suppress: IST0167\n",
    )
    assert codes(namespace("shop", **AMBIENT), annotated) == []
