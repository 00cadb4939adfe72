"""The proxy's compiled router and `meshlint route` (translate/simulate.py) pick the same virtual
host and the same route for every request: generated requests against a mesh whose routes use
every kind of match, and against the bookinfo sample's gateway."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import CORPUS
from hypothesis import given, settings
from hypothesis import strategies as st

from meshlint.config import Config
from meshlint.engine import lint_files
from meshlint.mesh import MeshIndex
from meshlint.proxy.http import Request
from meshlint.proxy.router import Router
from meshlint.translate import simulate
from meshlint.translate.build import Request as BuildRequest
from meshlint.translate.build import build
from meshlint.translate.plan import Plan

MESH = """\
apiVersion: v1
kind: Service
metadata: {name: frontend, namespace: shop}
spec:
  selector: {app: frontend}
  ports: [{name: http, port: 8080}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: frontend, namespace: shop}
spec:
  selector: {matchLabels: {app: frontend}}
  template:
    metadata: {labels: {app: frontend}}
    spec:
      containers: [{name: frontend, image: shop/frontend, ports: [{containerPort: 8080}]}]
---
apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: shop}
spec:
  selector: {app: reviews}
  ports: [{name: http, port: 9080}, {name: http-admin, port: 80}]
---
apiVersion: v1
kind: Service
metadata: {name: ratings, namespace: shop}
spec:
  selector: {app: ratings}
  ports: [{name: http, port: 9080}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: external, namespace: shop}
spec:
  hosts: ["*.example.com", api.example.org]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: NONE
  location: MESH_EXTERNAL
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: shop}
spec:
  host: reviews
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: shop}
spec:
  hosts: [reviews]
  http:
  - match: [{uri: {exact: /health}}, {uri: {regex: "/books/[0-9]+"}}]
    route: [{destination: {host: reviews, subset: v2}}]
  - match: [{uri: {prefix: /API/}, ignoreUriCase: true}]
    route: [{destination: {host: reviews, subset: v1}}]
  - match:
    - headers: {end-user: {exact: jason}, x-tier: {prefix: gold}}
    - headers: {x-trace: {regex: "[a-f0-9]{4}"}}
    route: [{destination: {host: reviews, subset: v2}}]
  - match: [{withoutHeaders: {x-canary: {exact: "yes"}}, method: {exact: POST}}]
    route: [{destination: {host: reviews, subset: v1}}]
  - match: [{queryParams: {mode: {exact: fast}}}, {queryParams: {debug: {regex: "[0-9]+"}}}]
    route: [{destination: {host: reviews, subset: v2}}]
  - match: [{authority: {prefix: "reviews.shop"}}, {port: 80}]
    route: [{destination: {host: reviews, subset: v1}}]
  - match: [{uri: {prefix: /v2}}]
    route:
    - {destination: {host: reviews, subset: v1}, weight: 50}
    - {destination: {host: reviews, subset: v2}, weight: 50}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ratings, namespace: shop}
spec:
  hosts: [ratings]
  http:
  - match: [{uri: {prefix: /ratings}, headers: {x-user: {}}}]
    route: [{destination: {host: ratings}}]
    timeout: 2s
"""

PATHS = st.sampled_from(
    ["/", "/health", "/health/x", "/books/42", "/books/x", "/api/x", "/API/y", "/Api/z",
     "/v2", "/v2/x", "/ratings", "/ratings/1", "/other"]
)  # fmt: skip
HEADER_VALUES = st.sampled_from(["jason", "gold", "golden", "ab12", "zz", "yes", "no", ""])
HEADER_NAMES = st.sampled_from(["end-user", "x-tier", "x-trace", "x-canary", "x-user", "x-other"])
QUERIES = st.sampled_from(["", "mode=fast", "mode=slow", "debug=12", "debug=x", "mode=fast&x=1"])
METHODS = st.sampled_from(["GET", "POST", "DELETE"])


def _plan(
    manifest: Path, workload: tuple[str, str] | None, gateway: tuple[str, str] | None
) -> Plan:
    result = lint_files([str(manifest)], Config())
    index = MeshIndex(
        result.records, namespaces=result.namespaces, settings=Config().mesh_settings()
    )
    plan, _ = build(index, BuildRequest(workload=workload, gateway=gateway, require_certs=False))
    return plan


@pytest.fixture(scope="module")
def sidecar(tmp_path_factory: pytest.TempPathFactory) -> Plan:
    path = tmp_path_factory.mktemp("mesh") / "mesh.yaml"
    path.write_text(MESH, encoding="utf-8")
    return _plan(path, ("shop", "frontend"), None)


def _domains(plan: Plan) -> list[str]:
    return sorted({d for t in plan.route_tables for vh in t.virtual_hosts for d in vh.domains})


def _agree(plan: Plan, router: Router, method: str, authority: str, path: str, query: str,
           headers: dict[str, str], scheme: str = "http") -> None:  # fmt: skip
    target = f"{path}?{query}" if query else path
    pairs = [("host", authority), *headers.items()]
    req = Request(method, target, "1.1", pairs, b"", scheme, 80, True)
    call = simulate.Call.parse(method, f"{scheme}://{authority}{target}", pairs)
    expected = simulate.find(plan, call)
    vhost = router.host(req.port, req.host)
    if expected is None:
        assert vhost is None, (authority, target)
        return
    _, vh, route = expected
    assert vhost is not None and vhost.vh is vh, (authority, target)
    got = vhost.route(req)
    assert (got.route if got is not None else None) is route, (method, authority, target, headers)


def test_every_domain_reaches_its_virtual_host(sidecar: Plan) -> None:
    router = Router(sidecar)
    for table in sidecar.route_tables:
        for vh in table.virtual_hosts:
            for domain in vh.domains:
                if "*" in domain:
                    continue
                _agree(sidecar, router, "GET", f"{domain}:{table.port}", "/", "", {})


@settings(max_examples=400, deadline=None)
@given(data=st.data())
def test_generated_requests_take_the_same_route(sidecar: Plan, data: st.DataObject) -> None:
    router = _ROUTERS.setdefault(id(sidecar), Router(sidecar))
    domains = _domains(sidecar)
    host = data.draw(st.sampled_from([*domains, "unknown.example.net", "x.example.com"]))
    port = data.draw(st.sampled_from([9080, 80, 8080, 443]))
    authority = data.draw(st.sampled_from([f"{host}:{port}", host, f"{host.upper()}:{port}"]))
    headers = data.draw(st.dictionaries(HEADER_NAMES, HEADER_VALUES, max_size=3))
    _agree(
        sidecar, router, data.draw(METHODS), authority, data.draw(PATHS), data.draw(QUERIES),
        headers,
    )  # fmt: skip


_ROUTERS: dict[int, Router] = {}


def test_the_bookinfo_gateway_routes_alike(tmp_path: Path) -> None:
    bookinfo = CORPUS / "istio-samples" / "samples" / "bookinfo"
    text = (bookinfo / "platform" / "kube" / "bookinfo.yaml").read_text(encoding="utf-8")
    text += "\n---\n" + (bookinfo / "networking" / "bookinfo-gateway.yaml").read_text(
        encoding="utf-8"
    )
    text += "\n---\n" + (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: ingress, namespace: default}\n"
        "spec:\n  selector: {matchLabels: {istio: ingressgateway}}\n  template:\n"
        "    metadata: {labels: {istio: ingressgateway}}\n    spec:\n"
        "      containers: [{name: istio-proxy, image: istio/proxyv2, ports: [{containerPort: 8080}]}]\n"
    )
    path = tmp_path / "bookinfo.yaml"
    path.write_text(text, encoding="utf-8")
    plan = _plan(path, None, ("default", "bookinfo-gateway"))
    assert plan.route_tables
    router = Router(plan)
    for table in plan.route_tables:
        compiled = router.table(table.name)
        assert compiled is not None
        for target in ("/productpage", "/static/x.css", "/login", "/logout", "/api/v1/products",
                       "/api/v1/products/1", "/other", "/"):  # fmt: skip
            for host in ("bookinfo.example.com", "anything"):
                req = Request("GET", target, "1.1", [("host", host)], b"", "http", 80, True)
                vhost = compiled.lookup(req.host)
                expected = simulate.virtual_host(table.virtual_hosts, host)
                assert (vhost.vh if vhost else None) is expected
                if vhost is None or expected is None:
                    continue
                call = simulate.Call.parse("GET", f"http://{host}{target}")
                want = next(
                    (r for r in expected.routes if simulate.route_matches(r.match, call)), None
                )
                got = vhost.route(req)
                assert (got.route if got else None) is want, (host, target)
