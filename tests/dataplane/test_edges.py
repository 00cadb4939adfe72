"""Access logs (Telemetry, with its filter) and a Gateway: TLS from `meshlint certs`, routes of
the VirtualServices bound to it, the HTTP-to-HTTPS redirect, and hosts it does not serve."""

from __future__ import annotations

import os
import ssl
from collections.abc import Callable

import pytest
from harness import Backend, Mesh, wait_until
from manifests import mesh as manifests
from manifests import service, workload

from meshlint.translate import certs as certs_mod

REVIEWS = [service("reviews"), workload("reviews-v1", {"app": "reviews"})]


def test_access_log_line_per_request_with_the_telemetry_filter(mesh: Callable[..., Mesh]) -> None:
    m = mesh(
        manifests(
            *REVIEWS,
            """
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: errors-only, namespace: shop}
spec:
  accessLogging:
  - providers: [{name: envoy}]
    filter: {expression: "response.code >= 400"}
""",
        ),
        [Backend("b", "reviews", 9080)],
        workload="shop/frontend",
    )
    assert m.agree("GET", "http://reviews:9080/fine")[0].status == 200
    assert m.agree("GET", "http://reviews:9080/broken", {"x-status": "503"})[0].status == 503
    assert m.agree("GET", "http://reviews:9080/missing", {"x-status": "404"})[0].status == 404
    assert wait_until(lambda: "/missing" in m.plane.logs())
    lines = [line for line in m.plane.logs().splitlines() if '"GET /' in line]
    assert len(lines) == 2, lines
    assert " 503 " in lines[0] and "/broken" in lines[0]
    assert " 404 " in lines[1] and "/missing" in lines[1]
    assert "/fine" not in m.plane.logs()
    (log,) = m.plan.telemetry.access_logs
    assert log.filter == "response.code >= 400"


def test_access_log_of_every_request(mesh: Callable[..., Mesh]) -> None:
    m = mesh(
        manifests(
            *REVIEWS,
            """
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: all, namespace: shop}
spec:
  accessLogging:
  - providers: [{name: envoy}]
""",
        ),
        [Backend("b", "reviews", 9080)],
        workload="shop/frontend",
    )
    for i in range(3):
        m.agree("GET", f"http://reviews:9080/n{i}")
    assert wait_until(lambda: m.plane.logs().count('"GET /n') == 3), m.plane.logs()
    assert "outbound|9080||reviews.shop.svc.cluster.local" in m.plane.logs()


GATEWAY = """
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: public, namespace: shop}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: [books.example.com]
    tls: {mode: SIMPLE, credentialName: books-cert}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: books, namespace: shop}
spec:
  hosts: [books.example.com]
  gateways: [public]
  http:
  - match: [{uri: {prefix: /reviews}}]
    route: [{destination: {host: reviews, port: {number: 9080}}}]
"""


def test_gateway_serves_tls_with_a_minted_certificate(mesh: Callable[..., Mesh]) -> None:
    m = mesh(
        manifests(*REVIEWS, GATEWAY),
        [Backend("b", "reviews", 9080)],
        gateway="shop/public",
        mtls=True,
    )
    assert m.certs is not None
    port = 443 + m.request.port_offset
    ctx = ssl.create_default_context(cafile=os.path.join(m.certs, certs_mod.CA_CERT))
    r = m.send(
        "GET",
        "books.example.com",
        "/reviews/1",
        port=port,
        context=ctx,
        server_name="books.example.com",
    )
    assert r.status == 200 and r.instance == "b"
    r = m.send(
        "GET",
        "books.example.com",
        "/other",
        port=port,
        context=ctx,
        server_name="books.example.com",
    )
    assert r.status == 404  # no route of the bound VirtualService matches
    answer = m.predict("GET", "https://books.example.com:443/reviews/1")
    assert answer.targets and answer.targets[0].cluster.name == (
        "outbound|9080||reviews.shop.svc.cluster.local"
    )
    assert m.predict("GET", "https://books.example.com:443/other").status == 404


def test_gateway_redirects_http_to_https(mesh: Callable[..., Mesh]) -> None:
    gateway = """
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: public, namespace: shop}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: [books.example.com]
    tls: {httpsRedirect: true}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: books, namespace: shop}
spec:
  hosts: [books.example.com]
  gateways: [public]
  http:
  - route: [{destination: {host: reviews, port: {number: 9080}}}]
"""
    m = mesh(manifests(*REVIEWS, gateway), [Backend("b", "reviews", 9080)], gateway="shop/public")
    port = 80 + m.request.port_offset
    r = m.send("GET", "books.example.com", "/x", port=port)
    assert r.status == 301 and r.headers["location"] == "https://books.example.com/x"
    assert m.predict("GET", "http://books.example.com/x").status == 301
    # a host no server names
    r = m.send("GET", "other.example.com", "/x", port=port)
    assert r.status == 404


def test_a_data_plane_whose_port_was_taken_starts_again_on_other_ports(
    mesh: Callable[..., Mesh], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A port found free may be taken before the data plane binds it; the harness then starts
    the data plane again on other ports instead of failing the test."""
    import socket

    import harness

    held = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    held.bind(("127.0.0.1", 0))
    held.listen()
    taken = held.getsockname()[1]
    given: list[int] = []
    pick = harness.free_port

    def first_admin_taken() -> int:  # listen, inbound, admin: the first admin port is taken
        port = taken if len(given) == 2 else pick()
        given.append(port)
        return port

    monkeypatch.setattr(harness, "free_port", first_admin_taken)
    try:
        m = mesh(manifests(*REVIEWS), [Backend("b", "reviews", 9080)], workload="shop/frontend")
        assert given[2] == taken and len(given) == 6  # started twice
        assert m.plan.admin[1] != taken
        assert m.send("GET", "reviews:9080", "/").status == 200
    finally:
        held.close()
