"""Cross-resource security rules (ML970-ML983), beyond their fixtures: AuthorizationPolicy
references, RequestAuthentication coverage, and the MeshConfig providers of Telemetry and CUSTOM
policies."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import FIXTURES
from test_mesh import lint

from meshlint.config import Config
from meshlint.engine import lint_text
from meshlint.rules import all_rules

RULES = FIXTURES / "rules" / "mesh"
# The rules of the module (their fixtures: tests/fixtures/rules/mesh).
CODES = {r.code for r in all_rules() if r.module == "meshlint.rules.mesh.security"}


def ours(text: str, config: Config | None = None) -> list[tuple[str, str, int, str]]:
    result = lint_text(text, config or Config(), name="sec.yaml")
    return [(d.code, d.severity.label, d.line, d.path) for d in result.findings if d.code in CODES]


def messages(text: str, config: Config | None = None) -> list[str]:
    result = lint_text(text, config or Config(), name="sec.yaml")
    return [d.message for d in result.findings if d.code in CODES]


def doc(kind: str, name: str, ns: str | None, spec: str, api: str = "security.istio.io/v1") -> str:
    where = f"\n  namespace: {ns}" if ns else ""
    return f"apiVersion: {api}\nkind: {kind}\nmetadata:\n  name: {name}{where}\nspec:\n{spec}---\n"


def namespace(name: str) -> str:
    return f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n---\n"


def account(name: str, ns: str) -> str:
    return (
        f"apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: {name}\n  namespace: {ns}\n---\n"
    )


def service(name: str, ns: str) -> str:
    return doc(
        "Service", name, ns, f"  selector:\n    app: {name}\n  ports:\n  - port: 80\n", api="v1"
    )


def deployment(name: str, ns: str, labels: str = "", sa: str | None = None) -> str:
    labels = labels or f"app: {name}"
    spec = (
        f"  selector:\n    matchLabels:\n      {labels}\n  template:\n    metadata:\n"
        f"      labels:\n        {labels}\n    spec:\n"
    )
    if sa:
        spec += f"      serviceAccountName: {sa}\n"
    spec += f"      containers:\n      - name: {name}\n        image: example/{name}:1\n"
    return doc("Deployment", name, ns, spec, api="apps/v1")


def policy(source: str, ns: str = "shop", name: str = "p") -> str:
    return doc("AuthorizationPolicy", name, ns, f"  rules:\n  - from:\n    - source:\n{source}")


# --------------------------------------------------------------------------------------------
# ML970 source namespaces


def test_namespace_unknown_without_namespace_manifests_is_a_warning() -> None:
    ap = policy("        namespaces: [frontend]\n")
    two = service("orders", "shop") + service("web", "web")
    assert ours(two + ap) == [
        ("ML970", "warning", 32, "spec.rules[0].from[0].source.namespaces[0]")
    ]
    # one namespace only: the run says nothing about the others
    assert ours(service("orders", "shop") + ap) == []
    # a namespace the run holds resources of exists, Namespace manifest or not
    assert ours(two + ap.replace("frontend", "web")) == []


@pytest.mark.parametrize(
    "value,found",
    [
        ("front*", True),
        ("*end", True),
        ("*", True),
        ("FrontEnd", True),
        ("back*", False),
        ("*-prod", False),
        ("kube-system", True),
        ("istio-system", True),
        ("default", True),
    ],
)
def test_namespace_patterns(value: str, found: bool) -> None:
    text = namespace("shop") + namespace("frontend") + policy(f"        namespaces: ['{value}']\n")
    assert bool(ours(text)) is not found


def test_namespace_unknown_respects_external_namespaces_and_templates() -> None:
    text = namespace("shop") + policy("        notNamespaces: [partners, 'team-a']\n")
    assert [c for c, *_ in ours(text)] == ["ML970", "ML970"]
    assert ours(text, Config(external_namespaces=["partners", "team-*"])) == []
    templated = namespace("shop") + policy("        namespaces: ['{{ .Values.caller }}']\n")
    assert ours(templated) == []


def test_namespace_root_namespace_from_config() -> None:
    text = namespace("shop") + policy("        namespaces: [mesh-root]\n")
    assert ours(text, Config(root_namespace="mesh-root")) == []
    assert [c for c, *_ in ours(text)] == ["ML970"]


# --------------------------------------------------------------------------------------------
# ML971 / ML972 principals


def test_principal_of_a_namespace_known_only_through_workloads_is_a_warning() -> None:
    base = deployment("orders", "shop", sa="orders")
    ap = policy("        principals: [cluster.local/ns/shop/sa/order]\n")
    assert ours(base + ap) == [
        ("ML971", "warning", 29, "spec.rules[0].from[0].source.principals[0]")
    ]
    assert ours(base + ap.replace("sa/order]", "sa/orders]")) == []


def test_principal_checks_skip_what_they_cannot_know() -> None:
    base = account("orders", "shop")
    for value in (
        "cluster.local/ns/shop/sa/ord*",  # wildcard
        "cluster.local/ns/web/sa/x",  # no account of `web` in the run
        "cluster.local/ns/shop/sa/default",  # every namespace has it
        "'{{ .Values.caller }}'",
        "'*'",
    ):
        assert ours(base + policy(f"        principals: [{value}]\n")) == [], value
    ap = policy("        principals: [cluster.local/ns/partners/sa/x]\n")
    assert ours(account("y", "partners") + ap, Config(external_namespaces=["partners"])) == []


def test_principal_trust_domain() -> None:
    base = account("orders", "shop")
    own = policy("        principals: [corp.example/ns/shop/sa/orders]\n")
    assert [c for c, *_ in ours(base + own)] == ["ML972"]
    assert ours(base + own, Config(trust_domain="corp.example")) == []
    # cluster.local always stands for the local trust domain
    local = policy("        principals: [cluster.local/ns/shop/sa/orders]\n")
    assert ours(base + local, Config(trust_domain="corp.example")) == []
    # aliases of the mesh config
    mesh = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: istio\n  namespace: istio-system\n"
        "data:\n  mesh: |-\n    trustDomainAliases: [old.example]\n---\n"
    )
    alias = policy("        notPrincipals: [old.example/ns/shop/sa/orders]\n")
    assert ours(base + mesh + alias) == []
    # an unknown account in a foreign trust domain is ML972's only
    other = policy("        principals: [corp.example/ns/shop/sa/nobody, '*/ns/shop/sa/x']\n")
    assert [c for c, *_ in ours(base + other)] == ["ML972"]


def test_principals_across_files(tmp_path: Path) -> None:
    (tmp_path / "accounts.yaml").write_text(account("orders", "shop"))
    (tmp_path / "policy.yaml").write_text(
        policy("        principals: [cluster.local/ns/shop/sa/ordres]\n")
    )
    assert lint(tmp_path / "policy.yaml") == []
    [found] = lint(tmp_path)
    assert found[:3] == ("ML971", "error", "policy.yaml")


# --------------------------------------------------------------------------------------------
# ML973 operation hosts


def host_policy(hosts: str, ns: str = "shop") -> str:
    return doc(
        "AuthorizationPolicy",
        "h",
        ns,
        f"  rules:\n  - to:\n    - operation:\n        hosts: [{hosts}]\n",
    )


def test_operation_hosts() -> None:
    base = service("orders", "shop")
    assert ours(host_policy("order")) == []  # no Service in the run: nothing to compare
    assert [c for c, *_ in ours(base + host_policy("order"))] == ["ML973"]
    for ok in ("orders", "orders:80", "orders.shop", "'*.shop'", "a.b.c", "x.elsewhere"):
        assert ours(base + host_policy(ok)) == [], ok
    assert ours(base + host_policy("order"), Config(external_hosts=["order.shop.*"])) == []


def test_operation_host_defined_by_a_virtual_service_or_service_entry() -> None:
    vs = doc(
        "VirtualService",
        "ui",
        "shop",
        "  hosts: [ui]\n  http:\n  - route:\n    - destination:\n        host: orders\n",
        api="networking.istio.io/v1",
    )
    base = service("orders", "shop")
    assert ours(base + vs + host_policy("ui")) == []
    se = doc(
        "ServiceEntry",
        "legacy",
        "shop",
        "  hosts: [legacy.shop.svc.cluster.local]\n  ports:\n  - number: 80\n"
        "    name: http\n    protocol: HTTP\n  resolution: DNS\n",
        api="networking.istio.io/v1",
    )
    assert ours(base + se + host_policy("legacy")) == []


# --------------------------------------------------------------------------------------------
# ML974 uncovered workloads


def covering(app: str, ns: str = "shop") -> str:
    return doc(
        "AuthorizationPolicy",
        f"{app}-only",
        ns,
        f"  selector:\n    matchLabels:\n      app: {app}\n  rules:\n  - {{}}\n",
    )


THREE = deployment("a", "shop") + deployment("b", "shop") + deployment("c", "shop")


def test_uncovered_workload_only_where_most_are_covered() -> None:
    assert ours(THREE + covering("a")) == []  # one of three: a choice
    assert ours(THREE + covering("a") + covering("b")) == [("ML974", "info", 40, "metadata.name")]
    assert ours(THREE + covering("a") + covering("b") + covering("c")) == []


def test_namespace_wide_root_and_target_ref_policies_cover_everything() -> None:
    two = covering("a") + covering("b")
    wide = doc("AuthorizationPolicy", "all", "shop", "  rules:\n  - {}\n")
    assert ours(THREE + two + wide) == []
    root = wide.replace("namespace: shop", "namespace: istio-system")
    assert ours(THREE + two + root) == []
    waypoint = doc(
        "AuthorizationPolicy",
        "svc",
        "shop",
        "  targetRefs:\n  - kind: Service\n    group: ''\n    name: c\n  rules:\n  - {}\n",
    )
    assert ours(THREE + two + waypoint) == []


# --------------------------------------------------------------------------------------------
# ML975 JWT claim routing

GATEWAY_PODS = deployment("ingress", "istio-system", labels="istio: ingressgateway") + doc(
    "Gateway",
    "public",
    "istio-system",
    "  selector:\n    istio: ingressgateway\n  servers:\n  - port:\n      number: 80\n"
    "      name: http\n      protocol: HTTP\n    hosts: ['*']\n",
    api="networking.istio.io/v1",
)


def claim_vs(key: str = '"@request.auth.claims.group"', field: str = "headers") -> str:
    return doc(
        "VirtualService",
        "web",
        "shop",
        f"  hosts: ['*']\n  gateways: [mesh, istio-system/public]\n  http:\n  - match:\n"
        f"    - {field}:\n        {key}:\n          exact: beta\n    route:\n"
        "    - destination:\n        host: web\n",
        api="networking.istio.io/v1",
    )


def jwt(ns: str, selector: str = "") -> str:
    sel = f"  selector:\n    matchLabels:\n      {selector}\n" if selector else ""
    return doc(
        "RequestAuthentication",
        "jwt",
        ns,
        sel + "  jwtRules:\n  - issuer: https://auth.example.com\n",
    )


def test_claim_routing_without_any_requestauthentication_is_a_warning() -> None:
    assert [(c, s) for c, s, *_ in ours(GATEWAY_PODS + claim_vs())] == [("ML975", "warning")]
    # the gateway is not in the run: nothing to say
    assert ours(claim_vs()) == []


@pytest.mark.parametrize(
    "key,field,fires",
    [
        ('"@request.auth.claims[group]"', "headers", True),
        ('"@request.auth.claims.group"', "withoutHeaders", True),
        ('"@request.auth.claims"', "headers", False),
        ("x-group", "headers", False),
    ],
)
def test_claim_keys(key: str, field: str, fires: bool) -> None:
    found = ours(GATEWAY_PODS + jwt("shop") + claim_vs(key, field))
    assert [c for c, *_ in found if c == "ML975"] == (["ML975"] if fires else [])


def test_requestauthentication_that_covers_the_gateway() -> None:
    assert "ML975" in [c for c, *_ in ours(GATEWAY_PODS + jwt("shop") + claim_vs())]
    for cover in (jwt("istio-system"), jwt("istio-system", "istio: ingressgateway")):
        assert "ML975" not in [c for c, *_ in ours(GATEWAY_PODS + cover + claim_vs())]
    other = jwt("istio-system", "istio: egressgateway")
    assert "ML975" in [c for c, *_ in ours(GATEWAY_PODS + other + claim_vs())]


def test_claim_routing_suppressed_by_istio_code() -> None:
    vs = claim_vs().replace(
        "  namespace: shop\n",
        "  namespace: shop\n  annotations:\n    galley.istio.io/analyze-suppress: IST0149\n",
    )
    assert "ML975" not in [c for c, *_ in ours(GATEWAY_PODS + jwt("shop") + vs)]


# --------------------------------------------------------------------------------------------
# ML976 / ML977 RequestAuthentication


def require(ns: str, body: str, selector: str = "") -> str:
    sel = f"  selector:\n    matchLabels:\n      {selector}\n" if selector else ""
    return doc("AuthorizationPolicy", "require", ns, sel + body)


PRINCIPALS = "  rules:\n  - from:\n    - source:\n        requestPrincipals: ['*']\n"


def test_requestauthentication_alone_is_info() -> None:
    assert ours(jwt("shop")) == [("ML976", "info", 7, "spec.jwtRules")]


@pytest.mark.parametrize(
    "enforcer",
    [
        require("shop", PRINCIPALS),
        require("istio-system", PRINCIPALS),
        require("shop", PRINCIPALS, "app: orders"),
        require(
            "shop", "  rules:\n  - when:\n    - key: request.auth.principal\n      values: [x]\n"
        ),
        require("shop", "  action: CUSTOM\n  provider:\n    name: sso\n  rules:\n  - {}\n"),
    ],
)
def test_requestauthentication_enforced(enforcer: str) -> None:
    ra = jwt("shop", "app: orders")
    assert "ML976" not in [c for c, *_ in ours(ra + enforcer)]


def test_requestauthentication_not_enforced_by_other_workloads_policy() -> None:
    ra = jwt("shop", "app: orders")
    other = require("shop", PRINCIPALS, "app: payments")
    audit = require("shop", "  action: AUDIT\n" + PRINCIPALS)
    assert ours(ra + other) == [("ML976", "warning", 7, "spec.selector")]
    assert [c for c, *_ in ours(ra + audit)] == ["ML976"]
    # the policy's selector picks a workload the RequestAuthentication selects
    pods = deployment("orders", "shop", labels="app: orders")
    narrower = require("shop", PRINCIPALS, "app: orders")
    assert ours(pods + jwt("shop", "tier: api") + narrower) == [
        ("ML976", "warning", 25, "spec.selector")
    ]


def test_duplicate_issuer_within_one_resource_and_groups() -> None:
    ra = doc(
        "RequestAuthentication",
        "jwt",
        "shop",
        "  jwtRules:\n  - issuer: https://a\n  - issuer: https://a\n",
    )
    enforce = require("shop", PRINCIPALS)
    assert ours(ra + enforce) == [("ML977", "warning", 9, "spec.jwtRules[1].issuer")]
    assert "jwtRules[0]" in messages(ra + enforce)[0]
    # different selectors or namespaces: not compared
    other = jwt("shop", "app: orders").replace("https://auth.example.com", "https://a")
    single = ra.replace("  - issuer: https://a\n  - issuer", "  - issuer")
    assert ours(single + other + enforce) == []


# --------------------------------------------------------------------------------------------
# Telemetry providers


def telemetry(body: str, ns: str = "istio-system") -> str:
    return doc("Telemetry", "t", ns, body, api="telemetry.istio.io/v1")


def mesh_config(text: str) -> str:
    body = "".join(f"    {line}\n" for line in text.splitlines())
    return (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: istio\n  namespace: istio-system\n"
        f"data:\n  mesh: |-\n{body}---\n"
    )


TRACE = "  tracing:\n  - providers:\n    - name: otel\n"


def test_unknown_provider_needs_a_mesh_config_or_the_option() -> None:
    assert ours(telemetry(TRACE)) == []
    found = ours(telemetry(TRACE), Config(extension_providers=["zipkin"]))
    assert found == [("ML978", "error", 9, "spec.tracing[0].providers[0].name")]
    assert ours(telemetry(TRACE), Config(extension_providers=["OTel"])) == []
    assert ours(mesh_config("defaultConfig: {}") + telemetry(TRACE))[0][0] == "ML978"


def test_provider_kind_from_the_mesh_config_overrides_the_builtin() -> None:
    mesh = mesh_config(
        "extensionProviders:\n- name: envoy\n  zipkin:\n    service: z\n    port: 9411"
    )
    tm = telemetry("  tracing:\n  - providers:\n    - name: envoy\n")
    assert ours(mesh + tm) == []
    logs = telemetry("  accessLogging:\n  - providers:\n    - name: ENVOY\n")
    assert [c for c, *_ in ours(mesh + logs)] == ["ML979"]
    assert ours(logs) == []  # the built-in `envoy` is a file access log


def test_access_log_without_provider() -> None:
    tm = telemetry("  accessLogging:\n  - match:\n      mode: SERVER\n")
    assert ours(tm) == [("ML980", "info", 8, "spec.accessLogging[0]")]
    defaults = mesh_config("defaultProviders:\n  accessLogging: [envoy]")
    assert ours(defaults + tm) == []
    assert ours(mesh_config("defaultProviders: {}") + tm)[0][:2] == ("ML980", "warning")
    disabled = telemetry("  accessLogging:\n  - disabled: true\n")
    assert ours(disabled) == []


def test_custom_provider() -> None:
    ap = doc(
        "AuthorizationPolicy",
        "sso",
        "shop",
        "  action: CUSTOM\n  provider:\n    name: oauth2\n  rules:\n  - to:\n"
        "    - operation:\n        paths: ['/admin/*']\n",
    )
    assert ours(ap) == []
    assert ours(ap, Config(extension_providers=["oauth2"])) == []
    assert [c for c, *_ in ours(ap, Config(extension_providers=["other"]))] == ["ML982"]
    # provider names of CUSTOM policies are matched exactly
    assert [c for c, *_ in ours(ap, Config(extension_providers=["OAuth2"]))] == ["ML982"]


# --------------------------------------------------------------------------------------------
# bad input never raises


@pytest.mark.parametrize(
    "spec",
    [
        "  rules: oops\n",
        "  rules:\n  - from: oops\n",
        "  rules:\n  - from:\n    - source: [1]\n",
        "  rules:\n  - from:\n    - source:\n        namespaces: shop\n        principals: [1, null]\n",
        "  rules:\n  - to:\n    - operation:\n        hosts: [':', '', 7]\n",
        "  selector: [1]\n  action: CUSTOM\n  provider: oops\n",
        "  selector:\n    matchLabels: oops\n  rules:\n  - when: [1, {key: 2}]\n",
    ],
)
def test_wrong_types_do_not_raise(spec: str) -> None:
    base = namespace("shop") + namespace("web") + account("x", "shop") + service("x", "shop")
    ap = doc("AuthorizationPolicy", "p", "shop", spec)
    ra = doc("RequestAuthentication", "r", "shop", spec.replace("rules", "jwtRules"))
    tm = doc(
        "Telemetry", "t", "shop", spec.replace("rules", "tracing"), api="telemetry.istio.io/v1"
    )
    mesh = mesh_config("extensionProviders: [1, {name: 2}, {name: x, zipkin: 3}]")
    result = lint_text(base + ap + ra + tm + mesh, Config(extension_providers=["y"]))
    assert not [d for d in result.findings if d.code == "ML107"]


def test_port_checks_need_declared_ports_and_skip_target_refs() -> None:
    text = (RULES / "ML983-bad.yaml").read_text()
    # a workload that declares no container port: nothing is known of what it serves
    undeclared = text.replace("        ports:\n        - containerPort: 8080\n", "")
    assert [f for f in lint_text(undeclared, Config()).findings if f.code == "ML983"] == []
    # a policy bound by targetRefs applies to what the reference names, not to the selector
    bound = text.replace(
        "spec:\n  selector:\n    matchLabels:\n      app: cart\n  action: ALLOW",
        "spec:\n  targetRefs:\n  - kind: Service\n    group: ''\n    name: cart\n  action: ALLOW",
    )
    found = [f.path for f in lint_text(bound, Config()).findings if f.code == "ML983"]
    assert found == ["spec.rules[0].to[0].operation.notPorts[0]"]
    # wrong types are the schema stage's business
    broken = text.replace('ports: ["80", "8080", "9090"]', "ports: 80")
    assert "ML107" not in {f.code for f in lint_text(broken, Config()).findings}  # no crash
