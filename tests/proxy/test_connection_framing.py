"""How a client connection ends: an HTTP/1.0 request is answered so that an HTTP/1.0 client
reads it (no chunked body; the connection closes unless the client asked to keep it, and
then the response says it is kept), and ``Connection: close`` is answered, then closed."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from harness import Backend, Mesh
from manifests import mesh as manifests
from manifests import service, workload
from rawnet import Client, RawBackend, exchange, request, trickle

REVIEWS = [service("reviews"), workload("reviews-v1", {"app": "reviews"})]


@pytest.mark.parametrize("framing", ["length", "chunked"])
def test_http_1_0_is_answered_then_closed(proxy_mesh: Callable[..., Mesh], framing: str) -> None:
    # Envoy, as Istio configures it, answers HTTP/1.0 with 426: this is the proxy's own
    body = b"0123456789" * 20
    backend = RawBackend(
        "r", "reviews", 9080, behaviour=trickle(body, 0.0005, chunked=framing == "chunked")
    )
    m = proxy_mesh(manifests(*REVIEWS), [backend], workload="shop/frontend")
    reply = exchange(m.request.listen[1], request("reviews:9080", "/old", version="1.0"))
    assert reply.status == 200 and reply.complete and reply.body == body, reply
    assert "transfer-encoding" not in reply.headers  # HTTP/1.0 knows no chunks
    assert reply.headers.get("connection") == "close" and reply.closed


def test_http_1_0_keep_alive_when_asked(proxy_mesh: Callable[..., Mesh]) -> None:
    m = proxy_mesh(manifests(*REVIEWS), [Backend("b", "reviews", 9080)], workload="shop/frontend")
    ask = request("reviews:9080", "/one", version="1.0", extra="connection: keep-alive\r\n")
    with Client(m.request.listen[1]) as client:
        client.send(ask)
        first = client.reply(linger=0.3)
        assert first.status == 200 and first.complete, first
        assert first.headers.get("connection", "").lower() == "keep-alive"  # said, as 1.0 needs
        assert not first.closed
        client.send(request("reviews:9080", "/two", version="1.0"))  # this one does not ask
        second = client.reply()
        assert second.status == 200 and second.closed
    assert [x["path"] for x in m.backend("b").received] == ["/one", "/two"]


def test_http_1_0_local_reply_is_closed(proxy_mesh: Callable[..., Mesh]) -> None:
    fault = """
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: shop}
spec:
  hosts: [reviews]
  http:
  - route: [{destination: {host: reviews}}]
    fault: {abort: {httpStatus: 418, percentage: {value: 100}}}
"""
    m = proxy_mesh(
        manifests(*REVIEWS, fault), [Backend("b", "reviews", 9080)], workload="shop/frontend"
    )
    reply = exchange(m.request.listen[1], request("reviews:9080", version="1.0"))
    assert reply.status == 418 and reply.complete and reply.closed, reply
    assert reply.headers.get("connection") == "close"


def test_connection_close_is_answered_then_closed(mesh: Callable[..., Mesh]) -> None:
    m = mesh(manifests(*REVIEWS), [Backend("b", "reviews", 9080)], workload="shop/frontend")
    with Client(m.request.listen[1]) as client:
        client.send(request("reviews:9080", "/kept"))
        kept = client.reply(linger=0.3)
        assert kept.status == 200 and not kept.closed, kept
        client.send(request("reviews:9080", "/last", extra="connection: close\r\n"))
        last = client.reply(linger=3.0)
        assert last.status == 200 and last.complete, last
        assert last.headers.get("connection") == "close" and last.closed
    assert [x["path"] for x in m.backend("b").received] == ["/kept", "/last"]
