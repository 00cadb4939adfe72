"""Upstreams that fail in the middle of an exchange: a reset after part of the body, an
answer that is not HTTP (502), one that never answers (504 at the route's timeout; without
one, the client may give up, and what its request held upstream is let go: the connection,
the circuit breaker's slot, the retry budget), one that answers a byte at a time. Each
scenario runs on Envoy and on the included proxy: both cut only the response concerned, stay
up, and serve the next request."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from harness import Backend, Mesh, wait_until
from manifests import mesh as manifests
from manifests import service, workload
from rawnet import (
    Behaviour,
    Client,
    RawBackend,
    answer_ok,
    exchange,
    fail_once,
    hang,
    on,
    request,
    reset_mid_body,
    send,
    trickle,
)

REVIEWS = [service("reviews"), workload("reviews-v1", {"app": "reviews"})]
RATINGS = [service("ratings"), workload("ratings-v1", {"app": "ratings"})]


def vs(http: str) -> str:
    return f"""
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: reviews, namespace: shop}}
spec:
  hosts: [reviews]
  http:
{http}"""


def test_reset_mid_response_cuts_that_response_only(mesh: Callable[..., Mesh]) -> None:
    backend = RawBackend("r", "reviews", 9080, behaviour=on("/cut", reset_mid_body(1000, 100)))
    m = mesh(manifests(*REVIEWS), [backend], workload="shop/frontend")
    port = m.request.listen[1]
    cut = exchange(port, request("reviews:9080", "/cut"))
    assert cut.status == 200  # the headers had been sent on: the status stands
    assert not cut.complete and cut.body == b"x" * 100, cut
    assert cut.closed  # the client learns of the cut: its connection ends
    r = m.get("reviews:9080", "/next")
    assert r.status == 200 and r.body == b"r /next"


NOT_HTTP = [
    b"HELLO THERE\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nno colon here\r\ncontent-length: 2\r\n\r\nok",
    b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-length: 3\r\n\r\nok",
]


def test_an_upstream_answer_that_is_not_http_gets_502(mesh: Callable[..., Mesh]) -> None:
    behaviour: Behaviour = answer_ok
    for i, answer in enumerate(NOT_HTTP):
        behaviour = on(f"/bad{i}", send(answer), behaviour)
    m = mesh(manifests(*REVIEWS), [RawBackend("r", "reviews", 9080, behaviour=behaviour)],
             workload="shop/frontend")  # fmt: skip
    for i in range(len(NOT_HTTP)):
        r = m.get("reviews:9080", f"/bad{i}")
        assert r.status == 502 and b"protocol error" in r.body, (i, r)
    assert m.get("reviews:9080", "/next").status == 200


def test_a_route_timeout_answers_504_for_an_upstream_that_never_answers(
    mesh: Callable[..., Mesh],
) -> None:
    backend = RawBackend("r", "reviews", 9080, behaviour=on("/hang", hang()))
    m = mesh(
        manifests(*REVIEWS, vs("  - route: [{destination: {host: reviews}}]\n    timeout: 1s")),
        [backend],
        workload="shop/frontend",
    )
    r = m.get("reviews:9080", "/hang")
    assert r.status == 504
    assert 0.9 <= r.seconds < 4.0, r.seconds
    assert wait_until(lambda: backend.abandoned == 1, 5)  # the upstream request was reset
    assert m.get("reviews:9080", "/next").status == 200


def test_a_hung_request_abandoned_by_its_client_releases_what_it_held(
    mesh: Callable[..., Mesh],
) -> None:
    # no route timeout; reviews takes one request at a time (its circuit breaker)
    limit = """
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: shop}
spec:
  host: reviews
  trafficPolicy:
    connectionPool:
      http: {http2MaxRequests: 1}
"""
    hung = RawBackend("r", "reviews", 9080, behaviour=on("/hang", hang()))
    m = mesh(
        manifests(*REVIEWS, *RATINGS, limit),
        [hung, Backend("other", "ratings", 9080)],
        workload="shop/frontend",
    )
    client = Client(m.request.listen[1])
    try:
        client.send(request("reviews:9080", "/hang"))
        assert wait_until(lambda: hung.count() == 1, 5)
        # meanwhile: other requests are served; reviews' one request is taken
        started = time.monotonic()
        assert m.get("ratings:9080").status == 200
        assert time.monotonic() - started < 3.0
        assert m.get("reviews:9080", "/fine").status == 503
    finally:
        client.close()  # the client gives up
    assert wait_until(lambda: hung.abandoned == 1, 5), "the upstream request was not reset"
    assert wait_until(lambda: m.get("reviews:9080", "/fine").status == 200, 5)
    assert m.get("ratings:9080").status == 200


def test_a_retry_abandoned_by_its_client_gives_back_the_retry_budget(
    mesh: Callable[..., Mesh],
) -> None:
    # one retry at a time for reviews; /hang is retried after each try's timeout
    policy = """
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: shop}
spec:
  host: reviews
  trafficPolicy:
    connectionPool:
      http: {maxRetries: 1}
"""
    route = """  - route: [{destination: {host: reviews}}]
    retries: {attempts: 3, perTryTimeout: 1s, retryOn: 5xx}"""
    backend = RawBackend("r", "reviews", 9080, behaviour=on("/hang", hang(), fail_once()))
    m = mesh(manifests(*REVIEWS, vs(route), policy), [backend], workload="shop/frontend")
    client = Client(m.request.listen[1])
    try:
        client.send(request("reviews:9080", "/hang"))
        assert wait_until(lambda: backend.count() == 2, 5)  # the retry is under way
    finally:
        client.close()
    assert wait_until(lambda: backend.abandoned == 2, 5)
    r = m.get("reviews:9080", "/flaky")  # fails once: needs the one retry allowed
    assert r.status == 200, r
    assert [x["path"] for x in backend.received[-2:]] == ["/flaky", "/flaky"]


@pytest.mark.parametrize("chunked", [False, True], ids=["length", "chunked"])
def test_a_response_sent_byte_by_byte_arrives_whole(
    mesh: Callable[..., Mesh], chunked: bool
) -> None:
    body = bytes(range(32, 96)) + b"\r\n0\r\n\r\n"  # what would end a chunked body early
    backend = RawBackend("r", "reviews", 9080, behaviour=trickle(body, 0.002, chunked=chunked))
    m = mesh(manifests(*REVIEWS), [backend], workload="shop/frontend")
    r = m.get("reviews:9080", "/slow")
    assert r.status == 200 and r.instance == "r"
    assert r.body == body
    assert m.get("reviews:9080", "/again").body == body  # the connection served on
