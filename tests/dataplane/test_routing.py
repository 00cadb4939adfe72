"""Routing through the proxy: matching, weighted splits, redirect, rewrite, direct response and
header edits, each checked against `meshlint route`'s prediction for the same request."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from harness import Backend, Mesh, counts
from manifests import mesh as manifests
from manifests import service, workload

REVIEWS = [service("reviews"), workload("reviews-v1", {"app": "reviews", "version": "v1"})]
SUBSETS = """
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: shop}
spec:
  host: reviews
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
"""


def two_versions() -> list[Backend]:
    return [
        Backend("v1", "reviews", 9080, {"version": "v1"}),
        Backend("v2", "reviews", 9080, {"version": "v2"}),
    ]


def vs(http: str) -> str:
    return f"""
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: reviews, namespace: shop}}
spec:
  hosts: [reviews]
  http:
{http}"""


def agree(m: Mesh, method: str, url: str, headers: dict[str, str] | None = None) -> Any:
    return m.agree(method, url, headers)


def test_prefix_match(mesh: Callable[..., Mesh]) -> None:
    m = mesh(
        manifests(
            *REVIEWS,
            SUBSETS,
            vs("""  - match: [{uri: {prefix: /v2/}}]
    route: [{destination: {host: reviews, subset: v2}}]
  - route: [{destination: {host: reviews, subset: v1}}]"""),
        ),
        two_versions(),
        workload="shop/frontend",
    )
    r, _ = agree(m, "GET", "http://reviews:9080/v2/books")
    assert r.instance == "v2"
    r, _ = agree(m, "GET", "http://reviews:9080/v2")  # not under /v2/
    assert r.instance == "v1"
    # every name of the host routes alike
    for host in (
        "reviews.shop:9080",
        "reviews.shop.svc.cluster.local:9080",
        "reviews.shop.svc:9080",
    ):
        assert m.get(host, "/v2/x").instance == "v2"


def test_exact_and_regex_match(mesh: Callable[..., Mesh]) -> None:
    m = mesh(
        manifests(
            *REVIEWS,
            SUBSETS,
            vs("""  - match: [{uri: {exact: /health}}, {uri: {regex: "/books/[0-9]+"}}]
    route: [{destination: {host: reviews, subset: v2}}]
  - route: [{destination: {host: reviews, subset: v1}}]"""),
        ),
        two_versions(),
        workload="shop/frontend",
    )
    assert agree(m, "GET", "http://reviews:9080/health")[0].instance == "v2"
    assert agree(m, "GET", "http://reviews:9080/health/x")[0].instance == "v1"
    assert agree(m, "GET", "http://reviews:9080/books/42")[0].instance == "v2"
    assert agree(m, "GET", "http://reviews:9080/books/x42")[0].instance == "v1"


def test_header_and_query_match(mesh: Callable[..., Mesh]) -> None:
    m = mesh(
        manifests(
            *REVIEWS,
            SUBSETS,
            vs("""  - match:
    - headers: {end-user: {exact: jason}}
    - queryParams: {canary: {exact: "yes"}}
    route: [{destination: {host: reviews, subset: v2}}]
  - route: [{destination: {host: reviews, subset: v1}}]"""),
        ),
        two_versions(),
        workload="shop/frontend",
    )
    assert agree(m, "GET", "http://reviews:9080/", {"end-user": "jason"})[0].instance == "v2"
    assert agree(m, "GET", "http://reviews:9080/", {"end-user": "jane"})[0].instance == "v1"
    assert agree(m, "GET", "http://reviews:9080/?canary=yes")[0].instance == "v2"
    assert agree(m, "GET", "http://reviews:9080/?canary=no")[0].instance == "v1"


def test_method_match(mesh: Callable[..., Mesh]) -> None:
    m = mesh(
        manifests(
            *REVIEWS,
            SUBSETS,
            vs("""  - match: [{method: {exact: POST}}]
    route: [{destination: {host: reviews, subset: v2}}]
  - route: [{destination: {host: reviews, subset: v1}}]"""),
        ),
        two_versions(),
        workload="shop/frontend",
    )
    assert agree(m, "POST", "http://reviews:9080/")[0].instance == "v2"
    assert agree(m, "GET", "http://reviews:9080/")[0].instance == "v1"


def _split(mesh: Callable[..., Mesh], first: int, n: int) -> tuple[dict[str | None, int], Any]:
    m = mesh(
        manifests(
            *REVIEWS,
            SUBSETS,
            vs(f"""  - route:
    - {{destination: {{host: reviews, subset: v1}}, weight: {first}}}
    - {{destination: {{host: reviews, subset: v2}}, weight: {100 - first}}}"""),
        ),
        two_versions(),
        workload="shop/frontend",
    )
    answer = m.predict("GET", "http://reviews:9080/")
    got = counts(m.get("reviews:9080") for _ in range(n))
    return got, answer


def test_80_20_split(mesh: Callable[..., Mesh]) -> None:
    got, answer = _split(mesh, 80, 400)
    assert [t.weight for t in answer.targets] == [80, 20]
    # 400 draws of p=0.8: mean 320, standard deviation 8; ±5 sd
    assert 280 <= got.get("v1", 0) <= 360, got
    assert got.get("v1", 0) + got.get("v2", 0) == 400


def test_50_50_split(mesh: Callable[..., Mesh]) -> None:
    got, answer = _split(mesh, 50, 400)
    assert [t.weight for t in answer.targets] == [50, 50]
    assert 150 <= got.get("v1", 0) <= 250, got  # mean 200, sd 10


def test_redirect(mesh: Callable[..., Mesh]) -> None:
    m = mesh(
        manifests(
            *REVIEWS,
            vs("""  - match: [{uri: {prefix: /old}}]
    redirect: {uri: /new, authority: books.example.com, redirectCode: 302}
  - route: [{destination: {host: reviews}}]"""),
        ),
        [Backend("v1", "reviews", 9080)],
        workload="shop/frontend",
    )
    r, answer = agree(m, "GET", "http://reviews:9080/old/page")
    assert r.status == 302 == answer.status
    assert r.headers["location"] == "http://books.example.com/new"
    assert m.backend("v1").count() == 0


def test_rewrite(mesh: Callable[..., Mesh]) -> None:
    m = mesh(
        manifests(
            *REVIEWS,
            vs("""  - match: [{uri: {prefix: /api/v1/}}]
    rewrite: {uri: /v1/, authority: reviews.internal}
    route: [{destination: {host: reviews}}]"""),
        ),
        [Backend("v1", "reviews", 9080)],
        workload="shop/frontend",
    )
    r, answer = agree(m, "GET", "http://reviews:9080/api/v1/books")
    assert r.json["path"] == "/v1/books"
    assert r.json["headers"]["host"] == "reviews.internal"
    assert answer.route is not None and answer.route.rewrite is not None
    assert answer.route.rewrite.prefix == "/v1/"


def test_direct_response(mesh: Callable[..., Mesh]) -> None:
    m = mesh(
        manifests(
            *REVIEWS,
            vs("""  - match: [{uri: {exact: /teapot}}]
    directResponse: {status: 418, body: {string: "short and stout"}}
  - route: [{destination: {host: reviews}}]"""),
        ),
        [Backend("v1", "reviews", 9080)],
        workload="shop/frontend",
    )
    r, _ = agree(m, "GET", "http://reviews:9080/teapot")
    assert r.status == 418 and r.body == b"short and stout"
    assert agree(m, "GET", "http://reviews:9080/other")[0].status == 200


def test_request_and_response_header_edits(mesh: Callable[..., Mesh]) -> None:
    m = mesh(
        manifests(
            *REVIEWS,
            vs("""  - headers:
      request:
        set: {x-set: one}
        add: {x-added: two}
        remove: [x-secret]
      response:
        set: {x-served-by: mesh}
        remove: [x-instance-tag]
    route: [{destination: {host: reviews}}]"""),
        ),
        [Backend("v1", "reviews", 9080)],
        workload="shop/frontend",
    )
    r, answer = agree(m, "GET", "http://reviews:9080/", {"x-secret": "s", "x-set": "zero"})
    seen = r.json["headers"]
    assert seen["x-set"] == "one" and seen["x-added"] == "two" and "x-secret" not in seen
    assert r.headers["x-served-by"] == "mesh"
    assert answer.route is not None
    assert dict(answer.route.request_headers.set) == {"x-set": "one"}


def test_unknown_host_and_default_route(mesh: Callable[..., Mesh]) -> None:
    # no VirtualService: the service's default route; an unknown host with REGISTRY_ONLY: 502
    m = mesh(
        manifests(
            *REVIEWS,
            """
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: default, namespace: shop}
spec:
  outboundTrafficPolicy: {mode: REGISTRY_ONLY}
""",
        ),
        [Backend("v1", "reviews", 9080)],
        workload="shop/frontend",
    )
    assert agree(m, "GET", "http://reviews:9080/")[0].instance == "v1"
    r, answer = agree(m, "GET", "http://elsewhere.example.com/")
    assert r.status == 502 == answer.status


def test_cors_preflight_and_actual_requests(mesh: Callable[..., Mesh]) -> None:
    m = mesh(
        manifests(
            *REVIEWS,
            vs("""  - corsPolicy:
      allowOrigins: [{exact: "https://shop.example.com"}]
      allowMethods: [GET, POST]
      allowHeaders: [x-custom]
      exposeHeaders: [x-instance]
      maxAge: 24h
      allowCredentials: true
    route: [{destination: {host: reviews}}]"""),
        ),
        [Backend("v1", "reviews", 9080)],
        workload="shop/frontend",
    )
    origin = "https://shop.example.com"
    preflight = {"origin": origin, "access-control-request-method": "POST"}
    r = m.send("OPTIONS", "reviews:9080", "/books", preflight)
    assert r.status == 200 and m.backend("v1").count() == 0  # answered by the proxy
    assert r.headers["access-control-allow-origin"] == origin
    assert r.headers["access-control-allow-methods"] == "GET,POST"
    assert r.headers["access-control-allow-headers"] == "x-custom"
    assert r.headers["access-control-max-age"] == "86400"
    assert r.headers["access-control-allow-credentials"] == "true"
    r, answer = m.agree("GET", "http://reviews:9080/books", {"origin": origin})
    assert r.instance == "v1" and r.headers["access-control-allow-origin"] == origin
    assert r.headers["access-control-expose-headers"] == "x-instance"
    other = m.get("reviews:9080", "/books", headers={"origin": "https://evil.example.com"})
    assert other.status == 200 and "access-control-allow-origin" not in other.headers
    # a preflight from an origin not allowed goes to the service (unmatched preflights forward)
    r = m.send(
        "OPTIONS", "reviews:9080", "/books",
        {"origin": "https://evil.example.com", "access-control-request-method": "POST"},
    )  # fmt: skip
    assert "access-control-allow-origin" not in r.headers
    assert m.backend("v1").received[-1]["method"] == "OPTIONS"
    assert answer.route is not None and answer.route.cors is not None


def test_request_bodies_arrive_framed_once(mesh: Callable[..., Mesh]) -> None:
    m = mesh(manifests(*REVIEWS), [Backend("v1", "reviews", 9080)], workload="shop/frontend")
    for body in (b"", b"hello", b"x" * 70_000):
        r = m.send("POST", "reviews:9080", "/orders", body=body)
        assert r.status == 200
        got = m.backend("v1").received[-1]
        assert got["body"] == body.decode() and got["content_lengths"] == [str(len(body))]
