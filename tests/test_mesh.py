"""Cross-resource rules (ML9xx): the index, the reference rules' edge cases, placement across
files, suppression, and a parallel run that gives what one process gives. The rules' fixtures
(tests/fixtures/rules/mesh/) state their findings with markers; test_rule_fixtures.py holds them
to it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import FIXTURES, REPO

from meshlint import loader
from meshlint.config import Config
from meshlint.engine import lint_paths, lint_text
from meshlint.mesh import MeshIndex, MeshSettings, Record, light_data, workload_selector
from meshlint.parallel import lint_in_workers
from meshlint.rules import Finding, all_rules

MESH = FIXTURES / "mesh"  # cross-resource fixtures that state no findings of their own yet
RULES = FIXTURES / "rules" / "mesh"  # cross-resource fixtures with expectation markers


def lint(*paths: Path, config: Config | None = None) -> list[tuple[str, str, str, int, int, str]]:
    files, _ = loader.discover([str(p) for p in paths])
    result = lint_paths([str(p) for p in paths], config or Config(), files=files)
    return [
        (d.code, d.severity.label, Path(d.file).name, d.line, d.column, d.path)
        for d in result.findings
    ]


def mesh_only(found: list[tuple[str, str, str, int, int, str]]) -> list[tuple[object, ...]]:
    return [f for f in found if f[0].startswith("ML9")]


# The rules this file tests the edge cases of; other rules' findings are not its business.
REFERENCE_RULES = frozenset(
    r.code for r in all_rules() if r.module == "meshlint.rules.mesh.references"
)


def reference_only(found: list[tuple[str, str, str, int, int, str]]) -> list[tuple[object, ...]]:
    return [f for f in found if f[0] in REFERENCE_RULES]


# --------------------------------------------------------------------------------------------
# what the fixtures' markers do not say: messages, and a run that holds less


def test_conflicting_mesh_virtual_services_name_the_first() -> None:
    result = lint_paths([str(RULES / "ML904-bad.yaml")], Config(ignore=["ML902", "ML906"]))
    d = result.findings[0]
    assert d.resource == "VirtualService/catalog/details-timeouts"
    assert "VirtualService/catalog/details" in d.message
    assert "ML904-bad.yaml:16" in d.message
    assert "every namespace sees both" in d.message
    by_resource = {f.resource: f for f in result.findings}
    private = by_resource["VirtualService/web/checkout-local"]
    assert "VirtualService/web/checkout " in private.message
    assert "namespace `web` sees both" in private.message
    shared = by_resource["VirtualService/team6/status"]
    assert "VirtualService/team5/status" in shared.message and "`ops`" in shared.message
    overlap = by_resource["VirtualService/bar/productpage-d"]
    assert overlap.severity.label == "warning"
    assert "overlaps host `*.productpage.d` of VirtualService/foo/productpage-d" in overlap.message


SPLIT = RULES / "split.run"  # a Service, a DestinationRule and a VirtualService, one a file


def test_each_file_alone_knows_less() -> None:
    # The VirtualService alone: no DestinationRule and no Service in the run, nothing to say
    # but that istiod reads the mirror host `cart.checkout` literally.
    assert [f[0] for f in lint(SPLIT / "virtualservice.yaml")] == ["ML989"]
    # With the DestinationRule but not the Service: the subset still does not exist.
    found = lint(SPLIT / "virtualservice.yaml", SPLIT / "destinationrule.yaml")
    assert [f[:2] for f in reference_only(found)] == [("ML901", "error")]


# --------------------------------------------------------------------------------------------
# severities and resolution


SERVICE = """\
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

VS = """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
  namespace: shop
spec:
  hosts: [reviews]
  http:
  - route:
    - destination:
        host: {host}
        subset: v2
"""

DR = """\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: {name}
  namespace: shop
spec:
  host: {host}
  subsets:
  - name: v1
    labels:
      version: v1
"""


def ml9(text: str, config: Config | None = None) -> list[tuple[str, str, int]]:
    result = lint_text(text, config or Config(), name="mesh.yaml")
    return [
        (d.code, d.severity.label, d.line) for d in result.findings if d.code in REFERENCE_RULES
    ]


def test_no_destination_rule_for_a_known_host_is_an_error() -> None:
    assert ml9(SERVICE + "---\n" + VS.format(host="reviews")) == [("ML901", "error", 24)]


def test_no_destination_rule_for_an_unknown_host_is_a_warning() -> None:
    other = DR.format(name="ratings", host="ratings")
    assert ml9(other + "---\n" + VS.format(host="reviews")) == [("ML901", "warning", 24)]


@pytest.mark.parametrize(
    "host",
    ["reviews", "reviews.shop", "reviews.shop.svc", "reviews.shop.svc.cluster.local"],
)
def test_host_forms_resolve_to_the_same_service(host: str) -> None:
    text = SERVICE + "---\n" + DR.format(name="r", host="reviews") + "---\n" + VS.format(host=host)
    assert ml9(text) == [("ML901", "error", 36)]
    fixed = text.replace("subset: v2", "subset: v1")
    assert ml9(fixed) == []


def test_wildcard_destination_rule_covers_the_host() -> None:
    wild = DR.format(name="all", host="'*.shop.svc.cluster.local'")
    assert ml9(wild + "---\n" + VS.format(host="reviews")) == [("ML901", "error", 24)]
    assert ml9(wild.replace("v1", "v2") + "---\n" + VS.format(host="reviews")) == []


def test_cluster_domain_from_config() -> None:
    text = (
        SERVICE
        + "---\n"
        + DR.format(name="r", host="reviews.shop.svc.corp.example")
        + "---\n"
        + VS.format(host="reviews").replace("v2", "v1")
    )
    assert ml9(text, Config(cluster_domain="corp.example")) == []
    assert [c for c, _, _ in ml9(text)] == ["ML901"]


def test_service_entry_host_is_known() -> None:
    se = """\
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: api
  namespace: shop
spec:
  hosts: ["*.example.com"]
  ports:
  - number: 443
    name: https
    protocol: TLS
  resolution: NONE
---
"""
    assert ml9(se + VS.format(host="api.example.com")) == [("ML901", "error", 25)]


def test_mesh_rules_follow_suppression_and_config() -> None:
    text = SERVICE + "---\n" + VS.format(host="reviews")
    assert ml9(text, Config(ignore=["ML901"])) == []
    annotated = text.replace(
        "  name: reviews\n  namespace: shop\nspec:\n  hosts",
        "  name: reviews\n  namespace: shop\n"
        "  annotations:\n    galley.istio.io/analyze-suppress: IST0101\nspec:\n  hosts",
    )
    assert annotated != text
    assert ml9(annotated) == []
    commented = text.replace("        subset: v2", "        subset: v2  # meshlint: disable=ML901")
    assert ml9(commented) == []


def test_legacy_dotted_gateway_name_resolves() -> None:
    text = """\
apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: edge
  namespace: ingress
spec:
  selector:
    istio: ingressgateway
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["*"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: web
  namespace: shop
spec:
  hosts: ["web.example.com"]
  gateways: [edge.ingress, ingress/edge, edge]
  http:
  - route:
    - destination:
        host: web
"""
    # `edge` alone is shop/edge; the run holds nothing of shop but the VirtualService itself
    assert ml9(text) == [("ML902", "warning", 20)]
    service = SERVICE.replace("reviews", "web")
    assert ml9(service + "---\n" + text) == [("ML902", "error", 32)]


def test_virtual_services_without_namespace_in_different_files_do_not_conflict(
    tmp_path: Path,
) -> None:
    vs = "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  name: {}\n"
    vs += "spec:\n  hosts: [reviews]\n  http:\n  - route:\n    - destination:\n"
    vs += "        host: reviews\n"
    (tmp_path / "a.yaml").write_text(vs.format("a"))
    (tmp_path / "b.yaml").write_text(vs.format("b"))
    assert lint(tmp_path) == []
    (tmp_path / "a.yaml").write_text(vs.format("a") + "---\n" + vs.format("b"))
    assert lint(tmp_path / "a.yaml") == [("ML904", "error", "a.yaml", 17, 11, "spec.hosts[0]")]


def test_private_virtual_services_in_different_namespaces_do_not_conflict() -> None:
    vs = VS.replace("subset: v2", "subset: v1").format(host="reviews.shop.svc.cluster.local")
    private = vs.replace("spec:\n", "spec:\n  exportTo: ['.']\n")
    other = private.replace("namespace: shop", "namespace: web")
    assert [c for c, _, _ in ml9(private + "---\n" + other)] == []
    assert [c for c, _, _ in ml9(private + "---\n" + private)] == ["ML904"]


# --------------------------------------------------------------------------------------------
# the index


def record(
    kind: str, name: str, ns: str | None, data: dict[str, object], group: str = ""
) -> Record:
    return Record("f.yaml", 0, None, kind, group, ns, name, {"metadata": {}, **data}, 1)


def test_index_workloads_and_selectors() -> None:
    def light(kind: str, data: dict[str, object]) -> dict[str, object]:
        return light_data(kind, data)

    pod = record("Pod", "p", "shop", light("Pod", {"metadata": {"labels": {"app": "a", "v": "1"}}}))
    template = {"template": {"metadata": {"labels": {"app": "a", "v": "2"}}, "spec": {}}}
    dep = record("Deployment", "d", "shop", light("Deployment", {"spec": template}), "apps")
    elsewhere = record("Pod", "q", "web", light("Pod", {"metadata": {"labels": {"app": "a"}}}))
    index = MeshIndex([pod, dep, elsewhere])
    assert [r.name for r, _ in index.workloads_selected("shop", {"app": "a"})] == ["p", "d"]
    assert [r.name for r, _ in index.workloads_selected("shop", {"app": "a", "v": "2"})] == ["d"]
    assert index.workloads_selected("shop", {"app": "b"}) == []
    assert index.namespaces == {"shop", "web"}


def test_index_hosts() -> None:
    svc = record("Service", "reviews", None, {})
    se = record("ServiceEntry", "x", "shop", {"spec": {"hosts": ["*.example.com", "a.b"]}})
    index = MeshIndex([svc, se], settings=MeshSettings(cluster_domain="corp.local"))
    fqdn = "reviews.default.svc.corp.local"
    assert index.canonical("reviews", "default") == fqdn
    assert index.canonical("reviews.default", "shop") == fqdn
    assert index.canonical("reviews", "shop") == "reviews.shop.svc.corp.local"
    assert index.definitions(fqdn) == [svc]
    assert index.definitions("api.v1.example.com") == [se]
    assert index.definitions("a.b") == [se]
    assert index.definitions("example.com") == []
    assert index.gateway("ns/gw", "shop") == ("ns", "gw")
    assert index.gateway("gw", "shop") == ("shop", "gw")
    assert index.gateway("gw.ns.svc.cluster.local", "shop") == ("ns", "gw")


def pa(name: str, ns: str, spec: dict[str, object]) -> Record:
    return record("PeerAuthentication", name, ns, {"spec": spec}, "security.istio.io")


def test_peer_mode_composes_workload_namespace_and_mesh_policies() -> None:
    strict, permissive = {"mode": "STRICT"}, {"mode": "PERMISSIVE"}
    mesh = pa("default", "istio-system", {"mtls": strict})
    ns = pa("default", "shop", {"mtls": {"mode": "UNSET"}})
    workload = pa(
        "reviews",
        "shop",
        {
            "selector": {"matchLabels": {"app": "reviews"}},
            "mtls": permissive,
            "portLevelMtls": {9080: {"mode": "DISABLE"}, "9090": {"mode": "UNSET"}},
        },
    )
    later = pa(
        "reviews-2", "shop", {"selector": {"matchLabels": {"app": "reviews"}}, "mtls": strict}
    )
    index = MeshIndex([mesh, ns, workload, later])
    reviews = {"app": "reviews"}
    assert index.peer_mode("shop", reviews, 9080) == ("DISABLE", workload, "port")
    assert index.peer_mode("shop", reviews, 9090) == ("PERMISSIVE", workload, "workload")
    assert index.peer_mode("shop", reviews) == ("PERMISSIVE", workload, "workload")
    # UNSET in the namespace inherits the mesh-wide STRICT
    assert index.peer_mode("shop", {"app": "ratings"}) == ("STRICT", mesh, "mesh")
    assert index.peer_mode("web", {}) == ("STRICT", mesh, "mesh")
    assert MeshIndex([ns]).peer_mode("shop", {}) == ("PERMISSIVE", None, "default")
    # another root namespace
    settings = MeshSettings(root_namespace="mesh-root")
    assert MeshIndex([mesh], settings=settings).peer_mode("shop", {}).scope == "default"


def test_visibility_and_external_references() -> None:
    svc = record(
        "Service",
        "reviews",
        "shop",
        {"metadata": {"annotations": {"networking.istio.io/exportTo": ".,web"}}},
    )
    se = record("ServiceEntry", "x", "shop", {"spec": {"hosts": ["a.b"], "exportTo": ["~"]}})
    dr = record("DestinationRule", "d", "shop", {"spec": {"host": "a.b", "exportTo": ["*"]}})
    index = MeshIndex(
        [svc, se, dr],
        settings=MeshSettings(
            external_hosts=("*.example.com",), external_namespaces=("billing", "shared-*")
        ),
    )
    assert index.visible(svc, "shop") and index.visible(svc, "web")
    assert not index.visible(svc, "other")
    assert not index.visible(se, "shop")
    assert index.visible(dr, "anywhere")
    assert index.is_external("api.example.com")
    assert index.is_external("x.y", written="api.example.com")
    assert index.is_external("pay.billing.svc.cluster.local")
    assert index.is_external("pay.shared-eu.svc.cluster.local")
    assert not index.is_external("reviews.shop.svc.cluster.local")
    assert index.known_namespace("shop") and index.known_namespace("shared-x")
    assert not index.known_namespace("web")


def test_light_data_keeps_what_the_rules_read() -> None:
    pod_template = {
        "metadata": {"labels": {"app": "a"}, "annotations": {"sidecar.istio.io/inject": "true"}},
        "spec": {
            "serviceAccountName": "sa",
            "containers": [{"name": "c", "ports": [{"containerPort": 8080}]}, "junk"],
        },
    }
    data = light_data("Deployment", {"spec": {"replicas": 3, "template": pod_template}})
    assert data == {
        "replicas": 3,
        "podLabels": {"app": "a"},
        "podAnnotations": {"sidecar.istio.io/inject": "true"},
        "serviceAccountName": "sa",
        "containerPorts": [{"containerPort": 8080}],
    }
    mesh = light_data("ConfigMap", {"data": {"mesh": "enableAutoMtls: false\n"}})
    assert mesh == {"meshConfig": {"enableAutoMtls": False}}
    assert light_data("ConfigMap", {"data": {"mesh": "a: [\n"}}) == {"meshConfig": None}
    svc = light_data("Service", {"spec": {"selector": {"a": "b"}, "clusterIP": "1.2.3.4"}})
    assert svc == {"spec": {"selector": {"a": "b"}}}


def test_index_reads_mesh_config_secrets_and_accounts() -> None:
    cm = record("ConfigMap", "istio", "istio-system", {"meshConfig": {"enableAutoMtls": False}})
    other = record("ConfigMap", "istio-sidecar-injector", "istio-system", {"meshConfig": {}})
    secret = record("Secret", "tls", "istio-system", {"type": "kubernetes.io/tls"})
    sa = record("ServiceAccount", "reviews", "shop", {})
    gw_api = record("Gateway", "g", "shop", {}, "gateway.networking.k8s.io")
    index = MeshIndex([other, cm, secret, sa, gw_api])
    assert index.mesh_config == {"enableAutoMtls": False}
    assert index.secrets == {("istio-system", "tls"): secret}
    assert index.service_accounts == {("shop", "reviews")}
    assert "Gateway" not in index.by_kind and index.by_kind["Secret"] == [secret]


# --------------------------------------------------------------------------------------------
# a parallel run


def test_jobs_give_the_same_mesh_findings_in_the_same_order(tmp_path: Path) -> None:
    for root in (MESH, RULES):
        for f in sorted(root.rglob("*.yaml")):
            name = f.relative_to(root).as_posix().replace("/", "-")
            shutil.copy(f, tmp_path / name.replace(".yaml", "-0.yaml"))
    for i in range(40):
        ns = f"team{i}"
        body = SERVICE.replace("shop", ns)
        body += "---\n" + DR.format(name="reviews", host="reviews").replace("shop", ns)
        body += "---\n" + VS.format(host="reviews").replace("shop", ns)
        (tmp_path / f"team{i:02d}.yaml").write_text(body)
    # a Gateway in one file, a VirtualService bound to it in another, a conflict across files
    (tmp_path / "zz-gw.yaml").write_text(
        "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata:\n  name: gw\n"
        "  namespace: team1\nspec:\n  selector: {istio: ingressgateway}\n  servers:\n"
        "  - port: {number: 80, name: http, protocol: HTTP}\n    hosts: ['*']\n"
    )
    (tmp_path / "zz-vs.yaml").write_text(
        VS.format(host="reviews").replace("shop", "team1").replace("subset: v2", "subset: v1")
    )
    files, _ = loader.discover([str(tmp_path)])
    assert len(files) >= 40
    one = lint_paths(files, Config(), files=files)
    two = lint_in_workers(files, Config(), 2)
    assert [d.to_json() for d in two.findings] == [d.to_json() for d in one.findings]
    codes = [d.code for d in one.findings]
    assert codes.count("ML901") == 40 + 4
    assert "ML904" in codes and "ML903" in codes and "ML902" in codes
    # the parent read the text of the files with mesh findings: code frames have it
    assert all(two.source(d.file) is not None for d in two.findings)


# --------------------------------------------------------------------------------------------
# placement in List items, and a failing check


def test_findings_in_list_items_land_on_the_item() -> None:
    text = """\
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Service
  metadata: {name: reviews, namespace: shop}
  spec:
    selector: {app: reviews}
    ports: [{name: http, port: 9080}]
- apiVersion: networking.istio.io/v1
  kind: VirtualService
  metadata: {name: reviews, namespace: shop}
  spec:
    hosts: [reviews]
    http:
    - route:
      - destination: {host: reviews, subset: v9}
"""
    result = lint_text(text, Config(), name="list.yaml")
    [d] = [d for d in result.findings if d.code.startswith("ML9")]
    assert (d.code, d.line, d.column, d.path) == (
        "ML901",
        17,
        46,
        "spec.http[0].route[0].destination.subset",
    )
    assert d.resource == "VirtualService/shop/reviews"


@pytest.mark.internal_error
def test_a_failing_mesh_check_costs_only_the_record_it_failed_on(
    replace_check: Callable[[str, Callable[..., Any]], None],
) -> None:
    from meshlint.rules.mesh.references import unknown_subset

    def broken(vs: Record, index: MeshIndex) -> Iterator[Finding]:
        if vs.name == "broken":
            raise ValueError("boom")
        yield from unknown_subset(vs, index)

    replace_check("ML901", broken)
    text = (
        SERVICE
        + "---\n"
        + VS.format(host="reviews").replace("name: reviews", "name: broken")
        + "---\n"
        + VS.format(host="reviews").replace("name: reviews", "name: fine")
    )
    found = lint_text(text, Config(select=["ML901"]), name="run.yaml").findings
    assert [(d.code, d.resource) for d in found] == [
        ("ML107", "VirtualService/shop/broken"),
        ("ML901", "VirtualService/shop/fine"),
    ]
    assert "ML901 (unknown-subset)" in found[0].message and "ValueError: boom" in found[0].message


def test_destination_rule_host_without_namespaces_counts_in_one_file_only(tmp_path: Path) -> None:
    service = SERVICE.replace("  namespace: shop\n", "")
    rule = DR.format(name="r", host="ratings").replace("  namespace: shop\n", "")
    (tmp_path / "svc.yaml").write_text(service)
    (tmp_path / "dr.yaml").write_text(rule)
    assert lint(tmp_path) == []
    (tmp_path / "dr.yaml").write_text(service + "---\n" + rule)
    assert lint(tmp_path / "dr.yaml") == [("ML905", "warning", "dr.yaml", 17, 9, "spec.host")]


def test_unrendered_templates_are_left_to_other_rules() -> None:
    text = SERVICE + "---\n" + VS.format(host="reviews").replace("v2", "'{{ .Values.subset }}'")
    assert ml9(text) == []
    text = SERVICE + "---\n" + VS.format(host="'{{ .Values.host }}'")
    assert ml9(DR.format(name="r", host="reviews") + "---\n" + text) == []


def test_stdin_and_files_make_one_mesh() -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "meshlint",
            "lint",
            "--no-config",
            "--format",
            "json",
            "--stdin-filename",
            "k8s/vs.yaml",
            "-",
            str(SPLIT / "destinationrule.yaml"),
        ],
        input=(SPLIT / "virtualservice.yaml").read_text(),
        text=True,
        capture_output=True,
        cwd=REPO,
        env=dict(os.environ, PYTHONPATH=str(REPO)),
        timeout=120,
    )
    assert proc.returncode == 1, proc.stderr
    [found] = [f for f in json.loads(proc.stdout)["findings"] if f["rule"] in REFERENCE_RULES]
    assert (found["rule"], found["file"], found["line"], found["column"]) == (
        "ML901",
        "k8s/vs.yaml",
        17,
        17,
    )


def test_subset_of_a_destination_rule_hidden_by_export_to() -> None:
    hidden = DR.format(name="r", host="reviews.shop.svc.cluster.local").replace(
        "namespace: shop\nspec:\n", "namespace: shop\nspec:\n  exportTo: [.]\n"
    )
    vs = VS.format(host="reviews.shop.svc.cluster.local").replace("v2", "v1")
    assert ml9(SERVICE + "---\n" + hidden + "---\n" + vs) == []
    elsewhere = vs.replace("namespace: shop", "namespace: web")
    result = lint_text(SERVICE + "---\n" + hidden + "---\n" + elsewhere, Config())
    [d] = [d for d in result.findings if d.code == "ML901"]
    assert "exportTo" in d.message and "`web`" in d.message
    assert (d.line, d.path) == (37, "spec.http[0].route[0].destination.subset")


def test_workload_selectors_of_each_kind() -> None:
    labels = {"app": "a"}
    cases = {
        ("Gateway", "networking.istio.io"): {"selector": labels},
        ("Sidecar", "networking.istio.io"): {"workloadSelector": {"labels": labels}},
        ("ServiceEntry", "networking.istio.io"): {"workloadSelector": {"labels": labels}},
        ("DestinationRule", "networking.istio.io"): {"workloadSelector": {"matchLabels": labels}},
        ("PeerAuthentication", "security.istio.io"): {"selector": {"matchLabels": labels}},
        ("Telemetry", "telemetry.istio.io"): {"selector": {"matchLabels": labels}},
    }
    for (kind, group), spec in cases.items():
        assert workload_selector(record(kind, "x", "shop", {"spec": spec}, group)) == labels
        empty = record(kind, "x", "shop", {"spec": {}}, group)
        assert workload_selector(empty) is None
    wrong = record(
        "DestinationRule", "x", "shop", {"spec": {"workloadSelector": {"labels": labels}}}
    )
    assert workload_selector(wrong) is None


# --------------------------------------------------------------------------------------------
# every cross-resource rule: a failing and a clean multi-document fixture

ML9 = [r.code for r in all_rules() if r.code.startswith("ML9")]


# Rules whose fixtures state no findings yet: the failing one must trigger the rule, the clean
# one give nothing. (A fixture with markers gives exactly its markers: test_rule_fixtures.py.)
def _marked_codes() -> set[str]:
    from meshlint.rules.lib.expect import markers

    files = (FIXTURES / "rules").rglob("*.yaml")
    return {e.code for f in files for e in markers(f.read_text(encoding="utf-8"))}


def test_every_cross_resource_rule_has_a_fixture() -> None:
    marked = _marked_codes()
    assert [c for c in ML9 if c not in marked] == []


@pytest.mark.parametrize(
    "path", sorted([*MESH.glob("ML9*.yaml"), *RULES.glob("ML9*.yaml")]), ids=lambda p: p.name
)
def test_cross_resource_fixtures_hold_several_resources(path: Path) -> None:
    # several resources, as a repository holds them
    docs = [d for d in loader.load_text(path.read_text(), path.name).documents if d.node]
    assert len(docs) >= 2, path.name


def test_the_example_mesh_stays_clean_beside_the_broken_examples() -> None:
    # `make demo` lints examples/ as one run: the broken examples must not make the example
    # mesh look wrong (a second DestinationRule for one of its hosts, say).
    examples = str(REPO / "examples")
    files, _ = loader.discover([examples])
    found = lint_paths([examples], Config(), files=files).findings
    assert any("broken" in d.file for d in found)
    assert [(d.code, d.file, d.line) for d in found if "/mesh/" in d.file] == []
    assert lint(REPO / "examples" / "mesh") == []


# --------------------------------------------------------------------------------------------
# wrong types anywhere: the schema stage reports them, and no rule may fail on them


def test_wrong_types_in_workloads_and_service_entries_do_not_fail_a_rule() -> None:
    deployment = (
        (RULES / "ML903-bad.yaml")
        .read_text()
        .replace("      containers:\n", "      containers: 3\n      ignored:\n", 1)
    )
    entry = """\
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: db
  namespace: shop
spec:
  hosts: [db.example.com]
  ports:
  - number: 5432
    name: {a: b}
    protocol: TCP
  resolution: STATIC
  endpoints:
  - address: 192.0.2.1
"""
    for text in (deployment, entry):
        codes = {d.code for d in lint_text(text, Config()).findings}
        assert "ML107" not in codes  # a rule that failed
        assert codes & {"ML206", "ML207", "ML208", "ML209"}  # the schema stage said it


def _paths(node: object, prefix: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    out: list[tuple[object, ...]] = []
    children = (
        node.items()
        if isinstance(node, dict)
        else enumerate(node)
        if isinstance(node, list)
        else ()
    )
    for key, value in children:
        out.append((*prefix, key))
        out.extend(_paths(value, (*prefix, key)))
    return out


def test_mutated_fixtures_never_fail_a_rule() -> None:
    import random

    import yaml

    rng = random.Random(5)
    # (by name, wherever the fixture lives: the same files give the same mutations)
    files = sorted([*MESH.glob("*.yaml"), *RULES.glob("*.yaml")], key=lambda p: p.name)
    values: list[object] = [None, 1, -1, "x", "*", [], {}, [None], {"a": None}, True, 99999]
    for _ in range(120):
        docs = [d for d in yaml.safe_load_all(rng.choice(files).read_text()) if d]
        doc = rng.choice(docs)
        paths = [p for p in _paths(doc) if p[0] in ("spec", "metadata", "data")]
        if not paths:
            continue
        path = rng.choice(paths)
        target = doc
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = rng.choice(values)
        text = "---\n".join(yaml.safe_dump(d) for d in docs)
        failed = [d.message for d in lint_text(text, Config()).findings if d.code == "ML107"]
        assert not failed, (path, failed)


def test_misspelt_subsets_and_destination_rule_hosts_get_a_suggestion() -> None:
    rule = DR.format(name="r", host="reviews").replace(
        "  - name: v1\n", "  - name: canary\n    labels: {track: canary}\n  - name: v1\n"
    )
    route = VS.format(host="reviews").replace("subset: v2", "subset: canery")
    [d] = [
        d
        for d in lint_text(SERVICE + "---\n" + rule + "---\n" + route).findings
        if d.code == "ML901"
    ]
    assert d.message.endswith("they declare canary, v1; did you mean `canary`?")
    typo = DR.format(name="r", host="reviewz")
    [d] = [d for d in lint_text(SERVICE + "---\n" + typo).findings if d.code == "ML905"]
    assert d.message.endswith("did you mean `reviews`?")
    far = DR.format(name="r", host="ratings")
    [d] = [d for d in lint_text(SERVICE + "---\n" + far).findings if d.code == "ML905"]
    assert "did you mean" not in d.message


def test_many_copies_of_one_host_each_name_the_first() -> None:
    # Grouped by host: every copy meets the first, whatever mix of scopes
    base = VS.replace("subset: v2", "subset: v1").format(host="reviews")
    docs = []
    for i in range(600):
        doc = base.replace("name: reviews\n", f"name: reviews-{i}\n", 1)
        if i % 3 == 1:
            doc = doc.replace("spec:\n", "spec:\n  exportTo: ['.']\n", 1)
        elif i % 3 == 2:
            doc = doc.replace("spec:\n", "spec:\n  exportTo: [shop, web]\n", 1)
        docs.append(doc)
    result = lint_text("---\n".join(docs), Config(), name="mesh.yaml")
    found = [d for d in result.findings if d.code == "ML904"]
    assert len(found) == 599
    assert all("VirtualService/shop/reviews-0 " in d.message for d in found)
