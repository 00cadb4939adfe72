"""The included proxy as an operator runs it: its admin listener (readiness, stats under Envoy's
names and in the Prometheus format, the config served, the endpoints and their health, drain
and stop), JSON access logs, reloads that keep client connections, workers on one port, and
both event loops (uvloop and asyncio's own)."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "dataplane"))

import pytest
from harness import Backend, Mesh, Response, wait_until
from manifests import mesh as manifests
from manifests import service, workload
from opshelp import (
    CliProxy,
    alive,
    keep_alive,
    parse_prometheus,
    replan,
    series,
    write_atomically,
)
from test_resilience import test_retries_until_success as retries_until_success
from test_resilience import test_route_timeout as route_timeout
from test_routing import test_prefix_match as prefix_match
from test_routing import (
    test_request_and_response_header_edits as header_edits,
)

from meshlint.translate import envoy as envoy_mod
from meshlint.translate import proxy as proxy_config

REVIEWS = "outbound|9080||reviews.shop.svc.cluster.local"
RATINGS = "outbound|9080||ratings.shop.svc.cluster.local"
DETAILS = "outbound|9080||details.shop.svc.cluster.local"

LABELS = {
    "method": "%REQ(:METHOD)%",
    "path": "%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%",
    "code": "%RESPONSE_CODE%",
    "flags": "%RESPONSE_FLAGS%",
    "cluster": "%UPSTREAM_CLUSTER%",
    "route": "%ROUTE_NAME%",
    "agent": "%REQ(USER-AGENT)%",
    "line": "%REQ(:METHOD)% %RESPONSE_CODE%",
    "source": "frontend",
}


def json_log_provider(path: Path) -> str:
    """Istio's mesh config with a JSON file access log, and a Telemetry that uses it."""
    labels = "".join(f"              {k}: {json.dumps(v)}\n" for k, v in LABELS.items())
    return f"""
apiVersion: v1
kind: ConfigMap
metadata: {{name: istio, namespace: istio-system}}
data:
  mesh: |-
    extensionProviders:
    - name: json-log
      envoyFileAccessLog:
        path: {path}
        logFormat:
          labels:
{labels}---
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {{name: logs, namespace: shop}}
spec:
  accessLogging:
  - providers: [{{name: json-log}}]
"""


def traffic_mesh(log: Path) -> str:
    """reviews retries (its instance fails twice), ratings ejects its failing instance (and
    panics: it keeps sending to it), details has a pool of one connection and one waiter."""
    return manifests(
        service("reviews"),
        workload("reviews-v1", {"app": "reviews"}),
        service("ratings"),
        workload("ratings-v1", {"app": "ratings"}),
        service("details"),
        workload("details-v1", {"app": "details"}),
        """
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: shop}
spec:
  hosts: [reviews]
  http:
  - name: primary
    route: [{destination: {host: reviews}}]
    retries: {attempts: 3, retryOn: 5xx}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ratings, namespace: shop}
spec:
  hosts: [ratings]
  http:
  - route: [{destination: {host: ratings}}]
    retries: {attempts: 0}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ratings, namespace: shop}
spec:
  host: ratings
  trafficPolicy:
    loadBalancer: {simple: ROUND_ROBIN}
    outlierDetection:
      consecutive5xxErrors: 2
      interval: 1s
      baseEjectionTime: 60s
      maxEjectionPercent: 100
      minHealthPercent: 100
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: details, namespace: shop}
spec:
  hosts: [details]
  http:
  - route: [{destination: {host: details}}]
    retries: {attempts: 0}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: details, namespace: shop}
spec:
  host: details
  trafficPolicy:
    connectionPool:
      tcp: {maxConnections: 1}
      http: {http1MaxPendingRequests: 1, http2MaxRequests: 1}
""",
        json_log_provider(log),
    )


class Traffic:
    """The proxy of :func:`traffic_mesh` after its traffic: what each request got."""

    def __init__(self, m: Mesh, plane: CliProxy, log: Path) -> None:
        self.m = m
        self.plane = plane
        self.log = log
        self.sent: dict[str, Response] = {}  # by path

    def send(self, host: str, path: str) -> Response:
        r = self.m.get(f"{host}:9080", path)
        self.sent[path] = r
        return r


@pytest.fixture(scope="module")
def traffic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Traffic]:
    folder = tmp_path_factory.mktemp("traffic")
    log = folder / "access.json"
    plane = CliProxy()
    m = Mesh(
        plane,
        folder,
        traffic_mesh(log),
        [
            Backend("reviews", "reviews", 9080, fail_first=2),
            Backend("good", "ratings", 9080),
            Backend("bad", "ratings", 9080, status=500),
            Backend("slow", "details", 9080, delay=0.6),
        ],
        workload="shop/frontend",
    )
    t = Traffic(m, plane, log)
    try:
        for i in range(4):
            t.send("reviews", f"/reviews/{i}")
        for i in range(8):
            t.send("ratings", f"/ratings/{i}")
        threads = [
            threading.Thread(target=t.send, args=("details", f"/details/{i}")) for i in range(6)
        ]
        for th in threads:
            th.start()
        for th in threads:
            th.join(10)
        yield t
    finally:
        m.stop()


def test_the_traffic_went_as_configured(traffic: Traffic) -> None:
    codes = {p: r.status for p, r in traffic.sent.items()}
    assert [codes[f"/reviews/{i}"] for i in range(4)] == [200] * 4
    assert traffic.m.backend("reviews").count() == 6  # two failures retried
    ratings = [codes[f"/ratings/{i}"] for i in range(8)]
    bad = traffic.m.backend("bad").count()
    assert ratings.count(500) == bad and ratings.count(200) == 8 - bad, ratings
    # round robin: two failures in a row eject it; in panic it takes more than that
    assert bad >= 3, ratings
    details = [codes[f"/details/{i}"] for i in range(6)]
    assert details.count(503) >= 3 and 200 in details, details  # one active, one waiting


def test_stats_under_envoys_names(traffic: Traffic) -> None:
    stats = traffic.plane.stats()
    overflowed = [r for p, r in traffic.sent.items() if p.startswith("/details/")]
    overflowed = [r for r in overflowed if r.status == 503]
    assert stats[f"cluster.{REVIEWS}.upstream_rq_retry"] == 2
    assert stats[f"cluster.{REVIEWS}.upstream_rq_200"] == 4
    assert stats[f"cluster.{REVIEWS}.upstream_rq_2xx"] == 4
    bad = traffic.m.backend("bad").count()
    assert stats[f"cluster.{RATINGS}.upstream_rq_500"] == bad
    assert stats[f"cluster.{RATINGS}.upstream_rq_5xx"] == bad
    assert stats[f"cluster.{RATINGS}.upstream_rq_200"] == 8 - bad
    assert stats[f"cluster.{RATINGS}.upstream_rq_total"] == 8
    # one ejection, though the panic sends more failing requests to the ejected instance
    assert stats[f"cluster.{RATINGS}.outlier_detection.ejections_enforced_total"] == 1
    assert stats[f"cluster.{DETAILS}.upstream_rq_pending_overflow"] == len(overflowed)
    assert all(r.headers.get("x-envoy-overloaded") == "true" for r in overflowed)
    # a pool of one connection opened one, kept open (keep-alive) for what followed
    assert stats[f"cluster.{DETAILS}.upstream_cx_total"] == 1
    assert stats[f"cluster.{DETAILS}.upstream_cx_active"] == 1
    assert stats[f"cluster.{REVIEWS}.upstream_cx_total"] >= 1
    assert (
        0
        <= stats[f"cluster.{REVIEWS}.upstream_cx_active"]
        <= stats[f"cluster.{REVIEWS}.upstream_cx_total"]
    )


def test_stats_filter(traffic: Traffic) -> None:
    plane = traffic.plane
    everything = plane.stats()
    retries = plane.stats(r"upstream_rq_retry$")
    assert retries == {k: v for k, v in everything.items() if re.search("upstream_rq_retry$", k)}
    assert f"cluster.{REVIEWS}.upstream_rq_retry" in retries
    ratings = plane.stats(r"^cluster\.outbound\|9080\|\|ratings\.")
    assert ratings and all(k.startswith(f"cluster.{RATINGS}.") for k in ratings)
    assert plane.stats("nothing-is-called-this") == {}
    status, text = plane.ask("/stats?filter=(")
    assert status == 400 and "bad filter" in text
    data = plane.json("/stats?format=json&filter=" + quote("upstream_rq_retry$"))
    assert data == {"stats": [{"name": k, "value": v} for k, v in retries.items()]}


def test_prometheus(traffic: Traffic) -> None:
    status, text = traffic.plane.ask("/stats/prometheus")
    assert status == 200
    samples, types = parse_prometheus(text)
    requests = "meshlint_requests_total"
    assert types[requests] == "counter"
    assert series(samples, requests, route="primary", cluster=REVIEWS, code="200")
    assert sum(series(samples, requests, route="primary", cluster=REVIEWS).values()) == 4
    bad = traffic.m.backend("bad").count()
    assert sum(series(samples, requests, cluster=RATINGS, code="500").values()) == bad
    assert sum(series(samples, requests, cluster=RATINGS, code="200").values()) == 8 - bad
    overflowed = sum(1 for p, r in traffic.sent.items() if p[:9] == "/details/" and r.status == 503)
    assert sum(series(samples, requests, cluster=DETAILS, code="503").values()) == overflowed
    # the counters and gauges of /stats, by cluster, under names Prometheus takes
    stats = traffic.plane.stats()
    for name, kind in [
        ("upstream_rq_retry", "counter"),
        ("upstream_rq_pending_overflow", "counter"),
        ("upstream_cx_total", "counter"),
        ("upstream_cx_active", "gauge"),
    ]:
        family = f"meshlint_{name}"
        assert types.get(family) == kind, (family, types.get(family))
        for (_, labels), value in series(samples, family).items():
            cluster = dict(labels)["cluster"]
            assert value == stats[f"cluster.{cluster}.{name}"], (family, cluster)
    ejections = [k for k in types if "ejections_enforced_total" in k]
    assert len(ejections) == 1, types
    assert series(samples, ejections[0], cluster=RATINGS) == {
        (ejections[0], (("cluster", RATINGS),)): 1.0
    }
    # latency: a histogram by cluster whose buckets add up
    hist = "meshlint_request_duration_milliseconds"
    assert types[hist] == "histogram"
    for cluster, n in [(REVIEWS, 4), (RATINGS, 8), (DETAILS, 6)]:
        buckets = series(samples, f"{hist}_bucket", cluster=cluster)
        by_bound = sorted(
            ((float(dict(k[1])["le"].replace("+Inf", "inf")), v) for k, v in buckets.items()),
        )
        counts = [v for _, v in by_bound]
        assert counts == sorted(counts), counts  # cumulative
        assert by_bound[-1] == (float("inf"), n)
        assert sum(series(samples, f"{hist}_count", cluster=cluster).values()) == n
        assert sum(series(samples, f"{hist}_sum", cluster=cluster).values()) > 0
    # details' answers took 0.6 s (the backend's delay) unless they overflowed
    slow = series(samples, f"{hist}_bucket", cluster=DETAILS, le="500")
    assert sum(slow.values()) <= overflowed


def test_config_dump_is_the_plan_served(traffic: Traffic) -> None:
    dump = traffic.plane.json("/config_dump")
    assert dump["kind"] == proxy_config.KIND == "meshlint.proxy/v1"
    assert dump == json.loads(envoy_mod.to_json(proxy_config.render(traffic.m.plan)))
    assert proxy_config.load(dump) == proxy_config.load(
        json.loads(envoy_mod.to_json(proxy_config.render(traffic.m.plan)))
    )
    assert REVIEWS in dump["plan"]["clusters"]


def test_clusters_list_endpoints_and_health(traffic: Traffic) -> None:
    status, text = traffic.plane.ask("/clusters")
    assert status == 200
    health = {}
    for line in text.splitlines():
        cluster, host, key, value = line.split("::")
        if key == "health_flags":
            health[(cluster, host)] = value
    m = traffic.m
    address = {b.name: f"127.0.0.1:{b.listen}" for b in m.backends}
    assert health[(RATINGS, address["bad"])] == "ejected"
    assert health[(RATINGS, address["good"])] == "healthy"
    assert health[(REVIEWS, address["reviews"])] == "healthy"
    assert health[(DETAILS, address["slow"])] == "healthy"
    for name, cluster in m.plan.clusters.items():
        for e in cluster.endpoints:
            assert (name, f"{e.address}:{e.port}") in health


def test_server_info_and_ready(traffic: Traffic) -> None:
    assert traffic.plane.ask("/ready") == (200, "LIVE\n")
    info = traffic.plane.json("/server_info")
    assert info["state"] == "LIVE" and info["pid"] == traffic.plane.pid
    (one,) = info["workers"]
    assert one["pid"] == traffic.plane.pid and one["requests"] == len(traffic.sent)
    wanted = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    assert one["loop"] == wanted


def test_json_access_log(traffic: Traffic) -> None:
    def lines() -> list[str]:
        return traffic.log.read_text().splitlines() if traffic.log.exists() else []

    assert wait_until(lambda: len(lines()) >= len(traffic.sent)), lines()
    entries = [json.loads(line) for line in lines()]  # one JSON object a line
    assert len(entries) == len(traffic.sent)
    by_path = {e["path"]: e for e in entries}
    assert set(by_path) == set(traffic.sent)
    for path, r in traffic.sent.items():
        e = by_path[path]
        assert set(e) == set(LABELS)
        assert e["method"] == "GET" and e["source"] == "frontend"
        assert e["code"] == r.status  # a number, as Envoy writes it
        assert e["line"] == f"GET {r.status}"
        assert e["agent"] is None  # the client sent none: null, not "-"
        cluster = {"/reviews/": REVIEWS, "/ratings/": RATINGS, "/details/": DETAILS}[path[:9]]
        assert e["cluster"] == cluster
        assert e["flags"] == ("UO" if r.status == 503 else "-"), e
    assert {by_path[f"/reviews/{i}"]["route"] for i in range(4)} == {"primary"}


# --------------------------------------------------------------------------------------------
# drain


REVIEWS_ONLY = [service("reviews"), workload("reviews-v1", {"app": "reviews"})]


def test_quitquitquit_drains_then_stops(tmp_path: Path) -> None:
    plane = CliProxy()
    m = Mesh(plane, tmp_path, manifests(*REVIEWS_ONLY), [Backend("b", "reviews", 9080)],
             workload="shop/frontend")  # fmt: skip
    try:
        assert plane.ask("/quitquitquit") == (405, "use POST\n")
        assert plane.ask("/ready")[0] == 200
        got: list[Response] = []
        with keep_alive(m.request.listen[1]) as client:
            slow = threading.Thread(
                target=lambda: got.append(
                    client.get("reviews:9080", "/slow", {"x-delay": "2.5"}, last=True)
                )
            )
            slow.start()
            assert wait_until(lambda: m.backend("b").count() == 1)
            assert plane.ask("/quitquitquit", "POST") == (200, "OK\n")
            assert wait_until(lambda: plane.ask("/ready") == (503, "DRAINING\n"), 2.0)
            slow.join(10)
        assert [r.status for r in got] == [200]  # the request in flight finished
        assert got[0].headers.get("connection") == "close"  # draining: the connection ends
        assert plane.wait() == 0
        assert "meshlint proxy: stopped" in plane.logs()
        assert "cut" not in plane.logs()
    finally:
        m.stop()


# --------------------------------------------------------------------------------------------
# reload


VERSIONS = [
    service("reviews"),
    workload("reviews-v1", {"app": "reviews", "version": "v1"}),
    workload("reviews-v2", {"app": "reviews", "version": "v2"}),
    """
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: shop}
spec:
  host: reviews
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
""",
]


def to(subset: str) -> str:
    """The mesh with reviews routed to one subset."""
    return manifests(
        *VERSIONS,
        f"""
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: reviews, namespace: shop}}
spec:
  hosts: [reviews]
  http:
  - route: [{{destination: {{host: reviews, subset: {subset}}}}}]
""",
    )


def versions() -> list[Backend]:
    return [
        Backend("v1", "reviews", 9080, {"version": "v1"}),
        Backend("v2", "reviews", 9080, {"version": "v2"}),
    ]


@pytest.fixture
def started(tmp_path: Path) -> Iterator[Callable[..., Mesh]]:
    """``started(plane, manifests, backends)``: a mesh on ``plane``, stopped after the test."""
    meshes: list[Mesh] = []

    def start(plane: CliProxy, text: str, backends: list[Backend]) -> Mesh:
        folder = tmp_path / f"mesh{len(meshes)}"
        folder.mkdir()
        m = Mesh(plane, folder, text, backends, workload="shop/frontend")
        meshes.append(m)
        return m

    try:
        yield start
    finally:
        for m in meshes:
            m.stop()


def instance(r: Response) -> str | None:
    assert r.status == 200, (r.status, r.body)
    return r.instance


def test_a_changed_config_file_is_served_on_open_connections(started: Any) -> None:
    plane = CliProxy(watch=True)
    m = started(plane, to("v1"), versions())
    with keep_alive(m.request.listen[1]) as client:
        assert instance(client.get("reviews:9080")) == "v1"
        plane.write_config(replan(m, to("v2")))
        assert wait_until(lambda: instance(client.get("reviews:9080")) == "v2"), plane.logs()
        assert plane.said("meshlint proxy: reloaded (")
        dump = plane.json("/config_dump")
        assert "outbound|9080|v2|reviews.shop.svc.cluster.local" in json.dumps(dump["plan"])
        # a broken config: the running one stays, and the proxy says why
        assert plane.config_path is not None
        write_atomically(plane.config_path, '{"kind": "meshlint.proxy/v1",\n "plan": [}\n')
        assert plane.said("failed, the running config stays:"), plane.logs()
        assert re.search(r"proxy\.json:2:\d+: not YAML", plane.logs()), plane.logs()
        assert instance(client.get("reviews:9080")) == "v2"
        good = json.loads(envoy_mod.to_json(proxy_config.render(replan(m, to("v1")))))
        good["plan"]["identity"]["service_account"] = 7
        write_atomically(plane.config_path, json.dumps(good))
        assert plane.said("plan.identity.service_account: expected a string"), plane.logs()
        assert instance(client.get("reviews:9080")) == "v2"
        assert plane.stats("^downstream_cx_total$") == {"downstream_cx_total": 1}


def test_changed_manifests_are_served_on_open_connections(started: Any) -> None:
    plane = CliProxy(manifests=True, watch=True)
    m = started(plane, to("v1"), versions())
    mesh_file = m.folder / "mesh.yaml"
    with keep_alive(m.request.listen[1]) as client:
        assert instance(client.get("reviews:9080")) == "v1"
        write_atomically(mesh_file, to("v2"))
        assert wait_until(lambda: instance(client.get("reviews:9080")) == "v2"), plane.logs()
        assert plane.said("meshlint proxy: reloaded (")
        # manifests with an error: the running config stays, and the proxy says why
        write_atomically(mesh_file, to("v9"))
        assert plane.said("failed, the running config stays:"), plane.logs()
        assert plane.said("ML901"), plane.logs()
        assert instance(client.get("reviews:9080")) == "v2"
        # the file gone, then back: still watched
        mesh_file.unlink()
        assert plane.said(f"failed, the running config stays: no such file or folder: {mesh_file}")
        assert instance(client.get("reviews:9080")) == "v2"
        write_atomically(mesh_file, to("v1"))
        assert wait_until(lambda: instance(client.get("reviews:9080")) == "v1"), plane.logs()
        assert "Traceback" not in plane.logs()


def test_sighup_reloads_and_the_request_in_flight_completes(started: Any) -> None:
    plane = CliProxy(manifests=True, watch=False)
    m = started(plane, to("v1"), versions())
    port = m.request.listen[1]
    got: list[Response] = []
    with keep_alive(port) as client, keep_alive(port) as other:
        assert instance(client.get("reviews:9080")) == "v1"
        write_atomically(m.folder / "mesh.yaml", to("v2"))
        assert instance(client.get("reviews:9080")) == "v1"  # not watched: not yet
        slow = threading.Thread(
            target=lambda: got.append(other.get("reviews:9080", "/slow", {"x-delay": "1.5"}))
        )
        slow.start()
        assert wait_until(lambda: m.backend("v1").count() == 3)
        plane.signal(signal.SIGHUP)
        assert wait_until(lambda: instance(client.get("reviews:9080")) == "v2"), plane.logs()
        assert plane.said("meshlint proxy: reloaded (SIGHUP)")
        slow.join(10)
        assert [(r.status, r.instance) for r in got] == [(200, "v1")]  # on the old route
        assert instance(other.get("reviews:9080")) == "v2"  # and its connection stays


# --------------------------------------------------------------------------------------------
# workers


def _cmdline_has(text: str) -> list[int]:
    """The processes whose command line holds ``text`` (Linux's /proc)."""
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            if text.encode() in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def test_workers_share_the_port_and_the_supervisor_adds_up(started: Any) -> None:
    plane = CliProxy(args=("--workers", "2"))
    m = started(plane, to("v1"), versions())
    v1 = "outbound|9080|v1|reviews.shop.svc.cluster.local"
    info = plane.json("/server_info")
    pids = {w["index"]: w["pid"] for w in info["workers"]}
    assert sorted(pids) == [0, 1] and len(set(pids.values())) == 2
    assert plane.pid not in pids.values() and info["pid"] == plane.pid
    n = 40
    assert [instance(m.get("reviews:9080")) for _ in range(n)] == ["v1"] * n  # a connection each
    served = {w["pid"]: w["requests"] for w in plane.json("/server_info")["workers"]}
    assert set(served) == set(pids.values())
    assert sum(served.values()) == n and min(served.values()) > 0, served
    assert plane.stats()[f"cluster.{v1}.upstream_rq_200"] == n
    samples, _ = parse_prometheus(plane.ask("/stats/prometheus")[1])
    assert sum(series(samples, "meshlint_requests_total", cluster=v1).values()) == n
    status, text = plane.ask("/clusters")
    assert status == 200
    assert f"{v1}::127.0.0.1:{m.backend('v1').listen}::health_flags::healthy" in text
    # SIGHUP: every worker serves the new config; one that does not load is not served
    plane.write_config(replan(m, to("v2")))
    plane.signal(signal.SIGHUP)
    assert wait_until(lambda: all(instance(m.get("reviews:9080")) == "v2" for _ in range(8)))
    assert plane.said("meshlint proxy: reloaded (SIGHUP)")
    assert plane.config_path is not None
    write_atomically(plane.config_path, "kind: [\n")
    plane.signal(signal.SIGHUP)
    assert plane.said("reload (SIGHUP) failed, the running config stays: "), plane.logs()
    assert "not YAML" in plane.logs()
    # a worker killed is started again, with the config served now
    os.kill(pids[0], signal.SIGKILL)

    def restarted() -> bool:
        workers = plane.json("/server_info")["workers"]
        answering = {w["index"] for w in workers if "requests" in w}
        return answering == {0, 1} and pids[0] not in {w["pid"] for w in workers}

    assert wait_until(restarted), plane.logs()
    assert not alive(pids[0])
    assert plane.said("worker 0 exited; starting it again")
    assert wait_until(lambda: plane.ask("/ready")[0] == 200)
    assert [instance(m.get("reviews:9080")) for _ in range(20)] == ["v2"] * 20
    assert "|v2|" in json.dumps(plane.json("/config_dump")["plan"]["route_tables"])
    now = {w["pid"] for w in plane.json("/server_info")["workers"]}
    # SIGTERM stops them all
    plane.signal(signal.SIGTERM)
    assert plane.wait() == 0
    assert not any(alive(pid) for pid in now | set(pids.values())), now
    assert _cmdline_has(str(plane.config_path)) == []
    assert "meshlint proxy: stopped" in plane.logs()


# --------------------------------------------------------------------------------------------
# asyncio's own event loop


@pytest.fixture
def asyncio_mesh(tmp_path: Path) -> Iterator[Callable[..., Mesh]]:
    """The `mesh` fixture of tests/dataplane, on a proxy run with asyncio's event loop."""
    meshes: list[Mesh] = []

    def start(text: str, backends: list[Backend], **kw: Any) -> Mesh:
        folder = tmp_path / f"mesh{len(meshes)}"
        folder.mkdir()
        plane = CliProxy(env={"MESHLINT_PROXY_LOOP": "asyncio"})
        m = Mesh(plane, folder, text, backends, **kw)
        meshes.append(m)
        (worker,) = plane.json("/server_info")["workers"]
        assert worker["loop"] == "asyncio"
        return m

    try:
        yield start
    finally:
        for m in meshes:
            m.stop()


@pytest.mark.parametrize(
    "scenario",
    [prefix_match, header_edits, retries_until_success, route_timeout],
    ids=["prefix_match", "header_edits", "retries", "route_timeout"],
)
def test_scenarios_on_asyncios_loop(
    scenario: Callable[[Callable[..., Mesh]], None], asyncio_mesh: Callable[..., Mesh]
) -> None:
    scenario(asyncio_mesh)
