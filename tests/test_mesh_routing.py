"""Cross-resource routing rules (meshlint/rules/mesh/routing.py): destination hosts and ports,
gateway hosts, gateway-bound conflicts, delegates, Sidecar egress hosts and port-level settings.
Their fixtures (tests/fixtures/rules/mesh/) state their findings with markers; these are the
edge cases."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import FIXTURES
from test_mesh import lint

from meshlint.config import Config
from meshlint.engine import lint_text
from meshlint.rules import all_rules

RULES = FIXTURES / "rules" / "mesh"
MINE = frozenset(r.code for r in all_rules() if r.module == "meshlint.rules.mesh.routing")
HOST = "spec.http[0].route[0].destination.host"


def mine(found: list[tuple[str, str, str, int, int, str]]) -> list[tuple[object, ...]]:
    return [f for f in found if f[0] in MINE]


def codes(text: str, config: Config | None = None) -> list[tuple[str, str, str]]:
    """(code, severity, path) of the routing findings of one text."""
    result = lint_text(text, config or Config(), name="mesh.yaml")
    return [(d.code, d.severity.label, d.path) for d in result.findings if d.code in MINE]


# --------------------------------------------------------------------------------------------
# what the fixtures' markers do not say: the messages


def test_messages_name_the_other_resource() -> None:
    result = lint_text((RULES / "ML906-bad.yaml").read_text(), Config(), name="ML906-bad.yaml")
    messages = [d.message for d in result.findings if d.code == "ML906"]
    assert "ServiceEntry/partners/partner-api (ML906-bad.yaml:55)" in messages[2]
    assert "exportTo: [.]" in messages[2]
    assert "external-hosts" in messages[3] and "external-namespaces" in messages[3]
    result = lint_text((RULES / "ML918-bad.yaml").read_text(), Config(), name="ML918-bad.yaml")
    first = next(d.message for d in result.findings if d.code == "ML918")
    assert "targetPort of port 80" in first


# --------------------------------------------------------------------------------------------
# ML906: what the run holds decides the verdict

SERVICE = """\
apiVersion: v1
kind: Service
metadata:
  name: reviews
  namespace: shop
{annotations}spec:
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
  name: front
  namespace: {ns}
spec:
  hosts: [front]
  http:
  - route:
    - destination:
        host: {host}
"""


def svc(annotations: str = "") -> str:
    return SERVICE.format(annotations=annotations)


def vs(host: str, ns: str = "shop") -> str:
    return VS.format(host=host, ns=ns)


def test_a_file_without_services_says_nothing_of_hosts_that_may_be_services() -> None:
    assert codes(vs("nowhere")) == []
    assert codes(vs("nowhere.other.svc.cluster.local")) == []
    # only a ServiceEntry can define an outside name: the warning stands without Services too
    assert codes(vs("httpbin.org")) == [("ML906", "warning", HOST)]


@pytest.mark.parametrize(
    ("host", "ns", "expected"),
    [
        ("reviews", "shop", []),
        # read as the Service by the other rules; istiod takes them as written (ML989)
        ("reviews.shop", "web", [("ML989", "error", HOST)]),
        ("reviews.shop.svc", "web", [("ML989", "error", HOST)]),
        ("reviews.shop.svc.cluster.local", "web", []),
        ("ratings", "shop", [("ML906", "error", HOST)]),
        ("reviews", "web", [("ML906", "warning", HOST)]),  # nothing of `web` is linted
        ("ratings.shop.svc.cluster.local", "web", [("ML906", "error", HOST)]),
        ("api.example.com", "shop", [("ML906", "warning", HOST)]),
    ],
)
def test_host_resolution_and_severity(host: str, ns: str, expected: list[object]) -> None:
    assert codes(svc() + "---\n" + vs(host, ns)) == expected


def test_service_export_to_annotation() -> None:
    private = svc("  annotations:\n    networking.istio.io/exportTo: '.'\n")
    assert codes(private + "---\n" + vs("reviews", "shop")) == []
    text = private + "---\n" + vs("reviews.shop.svc.cluster.local", "web")
    [(code, severity, _)] = codes(text)
    assert (code, severity) == ("ML906", "error")
    shared = svc("  annotations:\n    networking.istio.io/exportTo: '., web'\n")
    assert codes(shared + "---\n" + vs("reviews.shop.svc.cluster.local", "web")) == []


def test_service_entry_wildcard_and_export_to() -> None:
    se = """\
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: partner
  namespace: shop
spec:
  hosts: ["*.partner.example"]
  exportTo: [".", web]
  resolution: NONE
  ports:
  - {number: 443, name: https, protocol: TLS}
---
"""
    assert codes(se + vs("api.partner.example", "shop")) == []
    assert codes(se + vs("api.partner.example", "web")) == []
    assert codes(se + vs("api.partner.example", "ops")) == [("ML906", "error", HOST)]
    assert codes(se + vs("partner.example", "shop")) == [("ML906", "warning", HOST)]


def test_external_hosts_and_namespaces_from_config() -> None:
    text = (
        svc()
        + "---\n"
        + vs("ratings", "shop")
        + "---\n"
        + vs("billing.pay.svc.cluster.local", "pay")
    )
    assert [c[1] for c in codes(text)] == ["error", "warning"]
    config = Config(external_hosts=["ratings.shop.svc.cluster.local"])
    assert [c[1] for c in codes(text, config)] == ["warning"]
    config = Config(external_hosts=["ratings*"], external_namespaces=["pay"])
    assert codes(text, config) == []


def test_a_run_split_across_files(tmp_path: Path) -> None:
    (tmp_path / "service.yaml").write_text(svc())
    second = vs("ratings").replace("front", "back")
    (tmp_path / "routes.yaml").write_text(vs("reviews") + "---\n" + second)
    assert lint(tmp_path / "routes.yaml") == []  # the routes alone: nothing to say
    assert mine(lint(tmp_path)) == [
        ("ML906", "error", "routes.yaml", 23, 15, HOST),
    ]


def test_services_without_namespace_count_in_their_own_file_only(tmp_path: Path) -> None:
    service = svc().replace("  namespace: shop\n", "")
    route = vs("ratings").replace("  namespace: shop\n", "")
    (tmp_path / "a.yaml").write_text(service + "---\n" + route)
    assert [f[:2] for f in mine(lint(tmp_path / "a.yaml"))] == [("ML906", "error")]
    (tmp_path / "a.yaml").write_text(service)
    (tmp_path / "b.yaml").write_text(route)
    assert [f[:2] for f in mine(lint(tmp_path))] == [("ML906", "warning")]


def test_unknown_host_with_a_subset_is_reported_on_the_host_not_the_subset() -> None:
    dr = """\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: reviews
  namespace: shop
spec:
  host: reviews
  subsets:
  - name: v1
    labels: {version: v1}
---
"""
    route = vs("ratings.other.svc.cluster.local").replace(
        "host: ratings.other.svc.cluster.local",
        "host: ratings.other.svc.cluster.local\n        subset: v1",
    )
    result = lint_text(svc() + "---\n" + dr + route, Config(), name="mesh.yaml")
    found = [(d.code, d.path) for d in result.findings if d.code.startswith("ML9")]
    assert found == [("ML906", "spec.http[0].route[0].destination.host")]
    # with no Service or ServiceEntry in the run, ML906 cannot judge: ML901 warns instead
    result = lint_text(dr + route, Config(), name="mesh.yaml")
    found = [(d.code, d.severity.label) for d in result.findings if d.code.startswith("ML9")]
    assert found == [("ML901", "warning")]


def test_a_misspelt_service_gets_a_suggestion() -> None:
    result = lint_text(svc() + "---\n" + vs("reviewz"), Config(), name="mesh.yaml")
    [d] = [d for d in result.findings if d.code == "ML906"]
    assert d.severity.label == "error" and "did you mean `reviews`?" in d.message
    result = lint_text(svc() + "---\n" + vs("zzz"), Config(), name="mesh.yaml")
    [d] = [d for d in result.findings if d.code == "ML906"]
    assert "did you mean" not in d.message


def test_templates_and_wrong_types_are_skipped() -> None:
    base = svc() + "---\n"
    assert codes(base + vs("'{{ .Values.host }}'")) == []
    broken = """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: broken
  namespace: shop
spec:
  hosts: 5
  gateways: mesh
  http:
  - route: reviews
  - route:
    - destination: reviews
    - destination: {host: 7, port: "80"}
    - destination: {host: reviews, port: {number: "9080"}}
    mirror: [reviews]
    delegate: reviews
  - 3
  tcp: {route: []}
"""
    assert codes(base + broken) == []


# --------------------------------------------------------------------------------------------
# ports


GATEWAY = """\
apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: edge
  namespace: shop
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 8080, name: http, protocol: HTTP}
    hosts: ["*"]
---
"""

MULTI = """\
apiVersion: v1
kind: Service
metadata:
  name: catalog
  namespace: shop
spec:
  selector: {app: catalog}
  ports:
  - {name: http, port: 8080}
  - {name: grpc, port: 9090}
---
"""

EDGE = """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: edge
  namespace: shop
spec:
  hosts: ["*"]
  gateways: [edge]
  http:
  - route:
    - destination:
        host: catalog
"""


def test_port_is_not_required_when_the_host_exposes_every_gateway_port() -> None:
    assert codes(MULTI + GATEWAY + EDGE) == []
    other = GATEWAY.replace("number: 8080", "number: 80")
    assert codes(MULTI + other + EDGE) == [("ML908", "error", HOST)]
    # the Gateway is not in the run: the port it listens on is unknown
    assert codes(MULTI + EDGE) == [("ML908", "error", HOST)]


def test_mesh_route_to_its_own_multi_port_host_needs_no_port() -> None:
    own = EDGE.replace('hosts: ["*"]\n  gateways: [edge]\n', "hosts: [catalog]\n")
    assert codes(MULTI + own) == []


def test_service_entry_ports_and_unreadable_ports() -> None:
    se = """\
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: db
  namespace: shop
spec:
  hosts: [db.example.com]
  resolution: DNS
  ports:
  - {number: 5432, name: tcp, protocol: TCP}
---
"""
    route = vs("db.example.com").replace(
        "host: db.example.com", "host: db.example.com\n        port: {number: 5433}"
    )
    assert codes(se + route) == [("ML907", "error", HOST.replace(".host", ".port.number"))]
    unreadable = se.replace("  - {number: 5432, name: tcp, protocol: TCP}", "  - 5432")
    assert codes(unreadable + route) == []


# --------------------------------------------------------------------------------------------
# gateways


def test_gateway_host_matching() -> None:
    gw = GATEWAY.replace('hosts: ["*"]', 'hosts: ["*.example.com", "./own.example.org"]')
    route = EDGE.replace("host: catalog", "host: catalog\n        port: {number: 8080}")
    for hosts, expected in [
        ('["a.example.com"]', []),
        ('["*.b.example.com"]', []),
        ('["*"]', []),  # a wildcard VirtualService host overlaps every server host
        ('["own.example.org"]', []),
        ('["example.com"]', [("ML909", "warning", "spec.gateways[0]")]),
    ]:
        assert codes(MULTI + gw + route.replace('hosts: ["*"]', f"hosts: {hosts}")) == expected


def test_gateway_api_listener_without_hostname_accepts_every_host() -> None:
    gw = """\
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: edge
  namespace: shop
spec:
  gatewayClassName: istio
  listeners:
  - {name: http, port: 80, protocol: HTTP}
---
"""
    route = EDGE.replace('hosts: ["*"]', "hosts: [shop.example.com]")
    assert [c for c in codes(gw + route) if c[0] in ("ML909", "ML910")] == []
    named = gw.replace("protocol: HTTP}", "protocol: HTTP, hostname: api.example.com}")
    assert [c[0] for c in codes(named + route) if c[0] in ("ML909", "ML910")] == ["ML909"]


def test_gateway_conflict_reads_legacy_names_and_ignores_a_resource_twice() -> None:
    a = EDGE.replace("host: catalog", "host: catalog\n        port: {number: 8080}")
    b = a.replace("name: edge\n  namespace: shop\nspec", "name: edge-2\n  namespace: shop\nspec")
    b = b.replace("gateways: [edge]", "gateways: [edge.shop]")
    assert [c[0] for c in codes(MULTI + GATEWAY + a + "---\n" + b)] == ["ML912"]
    assert codes(MULTI + GATEWAY + a + "---\n" + a) == []  # two versions of one resource
    other = GATEWAY.replace("name: edge", "name: edge2")
    c = b.replace("gateways: [edge.shop]", "gateways: [edge2]")
    assert codes(MULTI + GATEWAY + other + a + "---\n" + c) == []


def test_internal_gateway_name_without_namespace() -> None:
    text = EDGE.replace("gateways: [edge]", "gateways: [web~istio-autogenerated-k8s-gateway~http]")
    result = lint_text(text, Config(), name="mesh.yaml")
    [d] = [d for d in result.findings if d.code == "ML913"]
    assert "shop/web" in d.message


# --------------------------------------------------------------------------------------------
# delegates


ROOT = """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: root
  namespace: shop
spec:
  hosts: [shop.example.com]
  http:
  - delegate: {name: routes, namespace: team}
---
"""

DELEGATE = """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: routes
  namespace: team
spec:
  http:
  - route:
    - destination: {host: web.team.svc.cluster.local}
"""

MESH_CONFIG = """\
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: istio
  namespace: istio-system
data:
  mesh: |
    defaultVirtualServiceExportTo: ["."]
"""


def test_delegate_visibility_follows_the_mesh_default() -> None:
    assert codes(ROOT + DELEGATE) == []
    assert codes(ROOT + DELEGATE + MESH_CONFIG) == [("ML915", "error", "spec.http[0].delegate")]
    exported = DELEGATE.replace("spec:\n", "spec:\n  exportTo: [shop]\n")
    assert codes(ROOT + exported + MESH_CONFIG) == []


def test_delegate_in_an_external_namespace_and_orphans_without_roots() -> None:
    assert codes(ROOT) == [("ML914", "warning", "spec.http[0].delegate.name")]
    assert codes(ROOT, Config(external_namespaces=["team"])) == []
    # delegates alone: their roots may live elsewhere
    assert codes(DELEGATE) == []


# --------------------------------------------------------------------------------------------
# Sidecar egress and port-level settings


def test_sidecar_egress_only_checks_namespaces_the_run_defines() -> None:
    sidecar = """\
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata:
  name: default
  namespace: shop
spec:
  egress:
  - hosts:
    - "./reviews.shop.svc.cluster.local"
    - "./ratings.shop.svc.cluster.local"
    - "other/anything.other.svc.cluster.local"
    - "*/reviews.elsewhere.svc.cluster.local"
    - "~/*"
    - "./*.shop.svc.cluster.local"
    - 7
    - noslash
  - hosts: nope
  - 3
"""
    assert codes(svc() + "---\n" + sidecar) == [("ML917", "warning", "spec.egress[0].hosts[1]")]
    config = Config(external_hosts=["ratings.*"])
    assert codes(svc() + "---\n" + sidecar, config) == []


def test_port_level_settings_for_unknown_hosts_or_odd_values_are_skipped() -> None:
    dr = """\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: r
  namespace: shop
spec:
  host: {host}
  trafficPolicy:
    portLevelSettings:
    - port: {{number: 1234}}
    - port: {{number: "9080"}}
    - port: 9080
    - 5
"""
    assert codes(dr.format(host="elsewhere")) == []
    found = codes(svc() + "---\n" + dr.format(host="reviews"))
    assert found == [("ML918", "warning", "spec.trafficPolicy.portLevelSettings[0].port.number")]


# --------------------------------------------------------------------------------------------
# delegate matches, as istiod merges them


@pytest.mark.parametrize(
    ("root", "leaf", "conflict"),
    [
        ({"uri": {"prefix": "/a"}}, {"uri": {"prefix": "/a/b"}}, False),
        ({"uri": {"prefix": "/a/b"}}, {"uri": {"prefix": "/a"}}, True),
        ({"uri": {"prefix": "/a"}}, {"uri": {"exact": "/a/x"}}, False),
        ({"uri": {"exact": "/a"}}, {"uri": {"exact": "/a"}}, False),
        ({"uri": {"exact": "/a"}}, {"uri": {"prefix": "/a"}}, True),
        ({"uri": {"regex": "/a.*"}}, {"uri": {"prefix": "/a"}}, True),
        ({"uri": {"prefix": "/a"}}, {"uri": {"regex": "/a.*"}}, True),
        ({}, {"uri": {"regex": "/a.*"}}, False),
        ({"headers": {"x": {"exact": "1"}}}, {"headers": {"x": {"exact": "2"}}}, True),
        ({"headers": {"x": {"exact": "1"}}}, {"headers": {"y": {"exact": "2"}}}, False),
        ({"port": 80}, {"port": 8080}, True),
        ({"port": 80}, {}, False),
        ({"sourceNamespace": "a"}, {}, True),
        ({"sourceLabels": {"app": "a"}}, {"sourceLabels": {"app": "b"}}, True),
        ({"gateways": ["g1", "g2"]}, {"gateways": ["g1"]}, False),
        ({"gateways": ["g1"]}, {"gateways": ["g3"]}, True),
        ({"ignoreUriCase": True}, {"ignoreUriCase": True}, False),
        ({}, {"ignoreUriCase": True}, True),
        ({"uri": "bad"}, {"uri": {"prefix": "/x"}}, False),
    ],
)
def test_delegate_match_conflicts(
    root: dict[str, object], leaf: dict[str, object], conflict: bool
) -> None:
    from meshlint.rules.mesh.routing import _matches_conflict

    assert _matches_conflict([root], [leaf]) is conflict


def test_a_delegate_match_needs_one_compatible_root_match() -> None:
    from meshlint.rules.mesh.routing import _matches_conflict

    roots = [{"uri": {"prefix": "/a"}}, {"uri": {"prefix": "/b"}}]
    assert not _matches_conflict(roots, [{"uri": {"prefix": "/b/1"}}])
    assert _matches_conflict(roots, [{"uri": {"prefix": "/b/1"}}, {"uri": {"prefix": "/c"}}])
    assert not _matches_conflict([], [{"uri": {"prefix": "/c"}}])
    assert not _matches_conflict(roots, [])


def test_delegate_conflicts_need_a_visible_host_less_delegate() -> None:
    root = ROOT.replace("  - delegate:", "  - match: [{uri: {prefix: /a}}]\n    delegate:")
    leaf = DELEGATE.replace("  - route:", "  - match: [{uri: {prefix: /b}}]\n    route:")
    assert codes(root + leaf) == [("ML919", "warning", "spec.http[0].match")]
    assert codes(root + leaf + MESH_CONFIG) == [("ML915", "error", "spec.http[0].delegate")]
    assert codes(root + leaf.replace("prefix: /b", "prefix: /a/b")) == []


# --------------------------------------------------------------------------------------------
# ML906 in a run without Services or ServiceEntries


def _lone(host: str, config: Config | None = None) -> list[tuple[str, str, str]]:
    text = (
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  name: a\n"
        f"  namespace: lone\nspec:\n  hosts: [a]\n  http:\n  - route:\n    - destination:\n"
        f"        host: {host}\n"
    )
    return [c for c in codes(text, config) if c[0] == "ML906"]


@pytest.mark.parametrize(
    ("host", "found"),
    [
        ("api.example.com", True),
        ("payments.billing", True),  # Istio takes `name.ns` as written
        ("reviews", False),
        ("reviews.lone", False),  # the VirtualService's own namespace: a Service alias
        ("reviews.billing.svc", False),
        ("reviews.billing.svc.cluster.local", False),
        ("reviews.billing.svc.corp.example", False),  # a cluster host of another domain
        ('"*.example.com"', False),  # a wildcard is the webhook's business
    ],
)
def test_lone_run_judges_only_hosts_that_cannot_be_services(host: str, found: bool) -> None:
    assert _lone(host) == ([("ML906", "warning", HOST)] if found else [])


def test_lone_run_leaves_external_hosts_alone_and_hints_at_the_fqdn() -> None:
    external = Config(external_hosts=["*.example.com"])
    assert _lone("api.example.com", external) == []
    text = (RULES / "ML906-lone-bad.yaml").read_text()
    messages = [d.message for d in lint_text(text, Config(), name="x.yaml").findings]
    assert any("write payments.billing.svc.cluster.local" in m for m in messages)
    assert not any("subset" in m for m in messages)  # ML901 leaves the subset to ML906


# ML989: hosts with a dot are taken as written


def test_dotted_hosts_are_fixed_to_the_full_name() -> None:
    import re

    from meshlint import rules
    from meshlint.fix import fix_text

    ml989 = rules.get("ML989")
    assert ml989 is not None and ml989.fixable
    fixed = fix_text(ml989.bad, "bad.yaml", Config(select=["ML989"])).new
    assert re.sub(r"  # expect: .*", "", fixed) == ml989.good
    bad = (FIXTURES / "rules" / "mesh" / "ML989-bad.yaml").read_text(encoding="utf-8")
    result = fix_text(bad, "ML989-bad.yaml", Config(select=["ML989"]))
    assert len(result.fixed) == 5 and not result.problems
    assert "host: reviews.shop.svc.cluster.local  # expect" in result.new
    assert 'host: "*.shop.svc.cluster.local"  # expect' in result.new
    again = lint_text(result.new, Config(select=["ML989"]), name="fixed.yaml")
    assert again.findings == []


def test_a_dotted_host_is_the_only_finding_on_it() -> None:
    # The other rules read `reviews.shop` as the Service it was meant for: no ML906 besides.
    bad = (FIXTURES / "rules" / "mesh" / "ML989-bad.yaml").read_text(encoding="utf-8")
    found = lint_text(bad, Config(), name="mesh.yaml").findings
    assert {d.code for d in found} == {"ML989"}
