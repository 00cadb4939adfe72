"""Cross-resource mTLS rules (ML920-ML933): the edge cases their fixtures
(tests/fixtures/rules/mesh/) do not show."""

from __future__ import annotations

from pathlib import Path

from conftest import FIXTURES
from test_mesh import lint

from meshlint import rules
from meshlint.config import Config
from meshlint.engine import lint_text
from meshlint.mesh import MeshIndex, Record, light_data

RULE_FIXTURES = FIXTURES / "rules" / "mesh"
CODES = {r.code for r in rules.all_rules() if r.module == "meshlint.rules.mesh.tls"}


def codes_of(text: str, config: Config | None = None) -> list[tuple[str, str, int, str]]:
    result = lint_text(text, config or Config(), name="run.yaml")
    return [(d.code, d.severity.label, d.line, d.path) for d in result.findings if d.code in CODES]


def messages(text: str, code: str) -> list[str]:
    return [
        d.message for d in lint_text(text, Config(), name="run.yaml").findings if d.code == code
    ]


# --------------------------------------------------------------------------------------------
# building blocks

NS = """\
apiVersion: v1
kind: Namespace
metadata:
  name: {ns}
---
"""

SVC = """\
apiVersion: v1
kind: Service
metadata:
  name: cart
  namespace: shop
spec:
  selector:
    app: cart
  ports:
  - name: http
    port: 80
    targetPort: {target}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: cart
  namespace: shop
spec:
  selector:
    matchLabels:
      app: cart
  template:
    metadata:
      labels:
        app: cart
    spec:
      containers:
      - name: cart
        image: example/cart:1.0
        ports:
        - name: web
          containerPort: 8080
---
"""

PA = """\
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata:
  name: {name}
  namespace: {ns}
spec:
{body}
---
"""

DR = """\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: {name}
  namespace: {ns}
spec:
  host: "{host}"
{body}
---
"""

AUTO_OFF = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: istio
  namespace: istio-system
data:
  mesh: |-
    enableAutoMtls: false
---
"""


def pa(name: str, ns: str, body: str) -> str:
    return PA.format(name=name, ns=ns, body=body)


def dr(name: str, ns: str, host: str, body: str = "") -> str:
    return DR.format(name=name, ns=ns, host=host, body=body)


STRICT = "  mtls:\n    mode: STRICT"
DISABLE = "  mtls:\n    mode: DISABLE"
TLS = "  trafficPolicy:\n    tls:\n      mode: {}"


# --------------------------------------------------------------------------------------------
# ML920 merging


def test_merge_needs_same_namespace_as_written_or_same_file(tmp_path: Path) -> None:
    one = dr("a", "shop", "reviews", TLS.format("ISTIO_MUTUAL")).replace("  namespace: shop\n", "")
    two = dr("b", "shop", "reviews", TLS.format("DISABLE")).replace("  namespace: shop\n", "")
    (tmp_path / "one.yaml").write_text(one)
    (tmp_path / "two.yaml").write_text(two)
    assert [f for f in lint(tmp_path) if f[0] == "ML920"] == []
    assert [c[0] for c in codes_of(one + two)] == ["ML920"]


def test_merge_keeps_apart_different_selectors_and_takes_the_first_policy() -> None:
    sel = "  workloadSelector:\n    matchLabels:\n      app: {}\n"
    text = (
        dr("a", "shop", "reviews", sel.format("one") + TLS.format("ISTIO_MUTUAL"))
        + dr("b", "shop", "reviews", sel.format("two") + TLS.format("ISTIO_MUTUAL"))
        + dr("c", "shop", "reviews", "  subsets:\n  - name: v1\n    labels:\n      v: '1'")
        + dr("d", "shop", "reviews.shop.svc.cluster.local", TLS.format("ISTIO_MUTUAL"))
        + dr("e", "shop", "reviews", TLS.format("SIMPLE"))
    )
    found = codes_of(text)
    assert [(c, p) for c, _, _, p in found] == [("ML920", "spec.trafficPolicy")]
    [message] = messages(text, "ML920")
    assert "DestinationRule/shop/d" in message


def test_merge_tolerates_wrong_types_and_templates() -> None:
    text = (
        dr("a", "shop", "{{ .Values.host }}", TLS.format("ISTIO_MUTUAL"))
        + dr("b", "shop", "{{ .Values.host }}", TLS.format("ISTIO_MUTUAL"))
        + dr("c", "shop", "reviews", "  subsets: 3\n  exportTo: x")
        + dr("d", "shop", "reviews", "  subsets:\n  - 7\n  - name: [x]\n  trafficPolicy: null")
    )
    assert [c for c in codes_of(text) if c[0] == "ML920"] == []


# --------------------------------------------------------------------------------------------
# ML921


def test_hidden_wide_mtls_needs_same_or_root_namespace_and_mentions_auto_mtls() -> None:
    wide = dr("mesh", "istio-system", "*.local", TLS.format("ISTIO_MUTUAL"))
    elsewhere = dr("mesh", "other", "*.local", TLS.format("ISTIO_MUTUAL"))
    cart = dr("cart", "shop", "cart", "  trafficPolicy:\n    loadBalancer:\n      simple: RANDOM")
    with_tls = dr("cart2", "shop", "cart2", TLS.format("DISABLE"))
    port_tls = dr(
        "cart3",
        "shop",
        "cart3",
        "  trafficPolicy:\n    portLevelSettings:\n    - port:\n        number: 80\n"
        "      tls:\n        mode: ISTIO_MUTUAL",
    )
    external = dr("google", "shop", "www.google.com")
    assert [c[0] for c in codes_of(wide + cart + with_tls + port_tls + external)] == ["ML921"]
    assert codes_of(elsewhere + cart) == []
    assert "only auto-mTLS" in messages(wide + cart, "ML921")[0]
    assert "plaintext" in messages(AUTO_OFF + wide + cart, "ML921")[0]


# --------------------------------------------------------------------------------------------
# auto-mTLS dependent rules


def test_auto_mtls_rules_are_silent_without_the_mesh_config_or_with_it_on() -> None:
    body = pa("default", "istio-system", STRICT) + pa("default", "shop", STRICT)
    body += dr("m", "shop", "*.shop.svc.cluster.local", TLS.format("ISTIO_MUTUAL"))
    assert codes_of(body) == []
    on = AUTO_OFF.replace("false", "true")
    assert codes_of(on + body) == []
    # Off: the namespace has its DestinationRule, the mesh has none.
    assert [c[0] for c in codes_of(AUTO_OFF + body)] == ["ML924"]


def test_namespace_without_policy_mode_inherits_mesh_for_ml923() -> None:
    text = AUTO_OFF + dr("m", "shop", "*.shop.svc.cluster.local", TLS.format("ISTIO_MUTUAL"))
    assert [c[0] for c in codes_of(text)] == ["ML923"]
    unset = pa("default", "shop", "  mtls:\n    mode: UNSET")
    assert [c[0] for c in codes_of(text + unset)] == ["ML923"]
    with_mesh = codes_of(text + pa("default", "istio-system", STRICT))
    assert [c[0] for c in with_mesh] == ["ML924"]  # STRICT mesh without a mesh-wide rule


# --------------------------------------------------------------------------------------------
# wide DISABLE vs STRICT (ML926, ML927), wide mTLS vs DISABLE (ML928, ML929)


def test_namespace_wide_disable_is_ml927_when_strict_comes_from_the_mesh() -> None:
    wide = dr("plain", "shop", "*.shop.svc.cluster.local", "  trafficPolicy:\n    tls: {}")
    mesh = pa("default", "istio-system", STRICT)
    assert [c[:2] for c in codes_of(mesh + wide)] == [("ML927", "error")]
    permissive = pa("default", "shop", "  mtls:\n    mode: PERMISSIVE")
    assert [c[0] for c in codes_of(mesh + permissive + wide)] == ["ML932"]
    # Only the first selector-less policy of a namespace counts.
    two = pa("default", "shop", STRICT) + pa("later", "shop", DISABLE)
    assert [c[0] for c in codes_of(two + wide)] == ["ML926"]


def test_namespace_disable_against_mesh_mtls_unless_namespace_rule_disables() -> None:
    mesh_dr = dr("m", "istio-system", "*.local", TLS.format("MUTUAL"))
    legacy = pa("default", "legacy", DISABLE)
    assert [c[0] for c in codes_of(mesh_dr + legacy)] == ["ML928"]
    ns_dr = dr("l", "legacy", "*.legacy.svc.cluster.local", TLS.format("DISABLE"))
    assert codes_of(mesh_dr + legacy + ns_dr) == []


# --------------------------------------------------------------------------------------------
# ML930 / ML931: host-specific rules against the workloads' modes


def test_named_target_port_leads_to_the_port_level_mode() -> None:
    base = NS.format(ns="shop") + SVC.format(target="web")
    port_level = pa(
        "cart",
        "shop",
        "  selector:\n    matchLabels:\n      app: cart\n"
        "  mtls:\n    mode: PERMISSIVE\n  portLevelMtls:\n    8080:\n      mode: DISABLE",
    )
    text = base + port_level + dr("cart", "shop", "cart", TLS.format("ISTIO_MUTUAL"))
    assert [c[:2] + c[3:] for c in codes_of(text)] == [
        ("ML931", "error", 'spec.portLevelMtls["8080"].mode')
    ]
    # Towards port 81 (not a Service port) nothing is known.
    other_port = dr(
        "cart",
        "shop",
        "cart",
        "  trafficPolicy:\n    portLevelSettings:\n    - port:\n        number: 81\n"
        "      tls:\n        mode: ISTIO_MUTUAL",
    )
    assert codes_of(base + port_level + other_port) == []


def test_strict_conflict_found_across_files(tmp_path: Path) -> None:
    (tmp_path / "app.yaml").write_text(NS.format(ns="shop") + SVC.format(target=8080))
    (tmp_path / "security.yaml").write_text(pa("default", "istio-system", STRICT))
    (tmp_path / "traffic.yaml").write_text(dr("cart", "shop", "cart", TLS.format("SIMPLE")))
    # (ML532 also notes that the SIMPLE client TLS names no CA: not this module's business)
    assert [f for f in lint(tmp_path) if f[0] in CODES] == [
        ("ML930", "error", "traffic.yaml", 10, 13, "spec.trafficPolicy.tls.mode")
    ]
    # Without the workloads nothing is said.
    found = lint(tmp_path / "security.yaml", tmp_path / "traffic.yaml")
    assert [f for f in found if f[0] in CODES] == []


def test_conflict_rules_tolerate_wrong_types() -> None:
    base = NS.format(ns="shop") + SVC.format(target="[1]")
    junk = (
        pa("default", "shop", "  mtls: STRICT\n  portLevelMtls: [1]")
        + pa("x", "shop", "  selector: 3\n  mtls:\n    mode: 7")
        + dr("cart", "shop", "cart", "  trafficPolicy:\n    tls: DISABLE\n    portLevelSettings: 3")
        + dr("cart2", "shop", "cart", "  subsets:\n  - name: a\n    trafficPolicy: [1]")
        + dr("cart3", "shop", "{{ .Values.h }}", TLS.format("DISABLE"))
        + "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata:\n"
        "  name: ap\n  namespace: shop\nspec:\n  rules: [1, {from: 3, when: [{key: 5}]}]\n"
    )
    assert [c for c in codes_of(base + junk) if c[0] != "ML920"] == []


def test_external_namespaces_do_not_change_the_verdicts() -> None:
    text = (RULE_FIXTURES / "ML930-bad.yaml").read_text()
    config = Config(external_namespaces=["shop"], external_hosts=["*.shop.svc.cluster.local"])
    assert [c[0] for c in codes_of(text, config)] == ["ML930", "ML930"]


# --------------------------------------------------------------------------------------------
# ML932, ML933


def test_workload_permissive_under_namespace_strict() -> None:
    text = pa("default", "shop", STRICT) + pa(
        "legacy",
        "shop",
        "  selector:\n    matchLabels:\n      app: old\n  mtls:\n    mode: PERMISSIVE",
    )
    assert [c[:2] for c in codes_of(text)] == [("ML932", "warning")]
    assert codes_of(pa("default", "shop", "  mtls:\n    mode: PERMISSIVE")) == []


def test_authorization_rules_are_left_alone_when_some_workload_gets_mtls() -> None:
    ap = (
        "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata:\n"
        "  name: ap\n  namespace: shop\nspec:\n  rules:\n  - from:\n    - source:\n"
        "        namespaces: [web]\n"
    )
    disabled = pa("default", "shop", DISABLE)
    assert [c[0] for c in codes_of(disabled + ap)] == ["ML933"]
    strict_port = pa(
        "cart",
        "shop",
        "  selector:\n    matchLabels:\n      app: cart\n  portLevelMtls:\n    8080:\n      mode: STRICT",
    )
    assert codes_of(disabled + strict_port + ap) == []
    waypoint = ap.replace("spec:\n", "spec:\n  targetRefs:\n  - kind: Gateway\n    name: wp\n")
    assert codes_of(disabled + waypoint) == []


# --------------------------------------------------------------------------------------------
# the Service ports the rules follow to the workloads


def test_service_ports_are_the_kubernetes_services_ports() -> None:
    def rec(kind: str, name: str, spec: dict[str, object], group: str = "") -> Record:
        data = light_data(kind, {"metadata": {"name": name, "namespace": "shop"}, "spec": spec})
        return Record("f.yaml", 0, None, kind, group, "shop", name, data, 1)

    http = {"name": "http", "port": 80, "targetPort": 8080}
    index = MeshIndex(
        [
            rec("Service", "cart", {"ports": [http, 7]}),
            rec("Service", "cart", {"ports": "80"}),  # unreadable: skipped, not fatal
            rec(
                "ServiceEntry",
                "cart-entry",
                {"hosts": ["cart.shop.svc.cluster.local"], "ports": [{"number": 9090}]},
                "networking.istio.io",
            ),
        ]
    )
    host = "cart.shop.svc.cluster.local"
    assert index.service_ports(host) == [http]  # a ServiceEntry's ports lead to no pod
    assert index.service_ports("nothing.shop.svc.cluster.local") == []


def test_auto_mtls_comes_from_the_config_map_else_the_option() -> None:
    fixture = RULE_FIXTURES / "ML933-auto-off-option-bad.yaml"
    text = fixture.read_text(encoding="utf-8")
    off = Config(enable_auto_mtls=False)
    found = [d for d in lint_text(text, off, name="ap.yaml").findings if d.code == "ML933"]
    assert len(found) == 1 and "(the `enable-auto-mtls` option)" in found[0].message
    assert [d.code for d in lint_text(text, Config(), name="ap.yaml").findings] == []
    # Istio's ConfigMap in the run says what holds: without enableAutoMtls, auto-mTLS is on
    config_map = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: istio\n  namespace: istio-system\n"
        "data:\n  mesh: |-\n    trustDomain: cluster.local\n---\n"
    )
    assert [d.code for d in lint_text(config_map + text, off, name="ap.yaml").findings] == []
    index = MeshIndex([], settings=off.mesh_settings())
    assert index.auto_mtls() == (False, "the `enable-auto-mtls` option")
    assert MeshIndex([]).auto_mtls() == (True, None)
