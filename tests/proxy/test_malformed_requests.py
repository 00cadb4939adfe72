"""Requests whose framing is ambiguous or that are not HTTP/1.x: each gets a 4xx (or 505) and
its connection is closed, never a silent drop; the proxy counts each refusal under its reason
(``http.downstream_rq_<reason>``) and writes it to the access log. A refusal pipelined
behind a good request waits for that request's response."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from harness import Backend, Mesh, ProxyDataPlane, wait_until
from manifests import mesh as manifests
from manifests import service, workload
from rawnet import Client, exchange

REVIEWS = [service("reviews"), workload("reviews-v1", {"app": "reviews"})]
ACCESS_LOG = """
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: all, namespace: shop}
spec:
  accessLogging:
  - providers: [{name: envoy}]
"""
POST = b"POST /p HTTP/1.1\r\nhost: reviews:9080\r\n"

# refused by both data planes: (name, bytes)
BOTH = [
    ("length and chunked", POST + b"content-length: 5\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n"),
    ("two lengths", POST + b"content-length: 5\r\ncontent-length: 6\r\n\r\nhello!"),
    ("invalid chunk size", POST + b"transfer-encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"),
    ("not http", b"HELLO THERE\r\n\r\n"),
    ("binary", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n"),
]  # fmt: skip

# refused by the proxy, each with its status and reason: (name, bytes, status, reason)
GET = b"GET /g HTTP/1.1\r\nhost: reviews:9080\r\n"
PROXY = [
    ("length and chunked", BOTH[0][1], 400, "ambiguous_length"),
    ("chunked and length", POST + b"transfer-encoding: chunked\r\ncontent-length: 5\r\n\r\n0\r\n\r\n",
     400, "ambiguous_length"),
    ("chunked in HTTP/1.0", b"POST /p HTTP/1.0\r\nhost: reviews:9080\r\n"
     b"transfer-encoding: chunked\r\n\r\n0\r\n\r\n", 400, "ambiguous_length"),
    ("two lengths", BOTH[1][1], 400, "duplicate_content_length"),
    ("invalid length", POST + b"content-length: 5x\r\n\r\nhello", 400, "invalid_content_length"),
    ("invalid chunk size", BOTH[2][1], 400, "invalid_chunk"),
    # Envoy unfolds such a header (RFC 9112 lets a server do either); the proxy refuses it,
    # so that no two readers of one request see different headers
    ("obs-fold, space", GET + b"x-a: a\r\n b\r\n\r\n", 400, "obs_fold"),
    ("obs-fold, tab", GET + b"x-a: a\r\n\tb\r\n\r\n", 400, "obs_fold"),
    ("not http", BOTH[3][1], 400, "invalid_request_line"),
    ("binary", BOTH[4][1], 400, "invalid_request_line"),
    ("no version", b"GET /\r\n\r\n", 505, "http_version_not_supported"),
    ("HTTP/2.0 request line", b"GET / HTTP/2.0\r\nhost: reviews:9080\r\n\r\n", 505,
     "http_version_not_supported"),
    ("two hosts", GET + b"host: elsewhere\r\n\r\n", 400, "duplicate_host"),
    ("no host", b"GET /g HTTP/1.1\r\n\r\n", 400, "missing_host"),
    ("bad header name", GET + b"x a: b\r\n\r\n", 400, "invalid_header"),
]  # fmt: skip


def test_ambiguous_or_malformed_requests_get_400_and_a_closed_connection(
    mesh: Callable[..., Mesh],
) -> None:
    m = mesh(manifests(*REVIEWS), [Backend("b", "reviews", 9080)], workload="shop/frontend")
    port = m.request.listen[1]
    with ThreadPoolExecutor(len(BOTH)) as pool:  # Envoy closes each a second after its answer
        replies = list(pool.map(lambda case: exchange(port, case[1], linger=4.0), BOTH))
    for (name, _), reply in zip(BOTH, replies, strict=True):
        assert reply.status == 400 and reply.closed, (name, reply)
    assert m.backend("b").count() == 0
    assert m.get("reviews:9080").status == 200


def test_a_refusal_pipelined_behind_a_request_waits_for_its_response(
    mesh: Callable[..., Mesh],
) -> None:
    m = mesh(manifests(*REVIEWS), [Backend("b", "reviews", 9080)], workload="shop/frontend")
    with Client(m.request.listen[1]) as client:
        client.send(
            b"GET /first HTTP/1.1\r\nhost: reviews:9080\r\nx-delay: 0.3\r\n\r\n" + BOTH[3][1]
        )
        first = client.reply(linger=0)
        assert first.status == 200 and first.headers.get("x-instance") == "b", first
        refused = client.reply(linger=4.0)
        assert refused.status == 400 and refused.closed, refused


def test_each_refusal_is_counted_and_logged_with_its_reason(
    proxy_mesh: Callable[..., Mesh],
) -> None:
    m = proxy_mesh(
        manifests(*REVIEWS, ACCESS_LOG), [Backend("b", "reviews", 9080)], workload="shop/frontend"
    )
    port = m.request.listen[1]
    for name, data, status, _ in PROXY:
        reply = exchange(port, data)
        assert reply.status == status and reply.closed, (name, reply)
        assert reply.headers.get("connection") == "close", (name, reply)
        assert reply.body, name  # the detail, said in the body
    assert m.backend("b").count() == 0
    plane = m.plane
    assert isinstance(plane, ProxyDataPlane)
    for reason, n in Counter(reason for *_, reason in PROXY).items():
        assert plane.stat(m.plan.admin, f"http.downstream_rq_{reason}") == n, reason
    assert plane.stat(m.plan.admin, "http.downstream_rq_codec_error") == 0
    assert wait_until(lambda: plane.logs().count("\" 400 - ") + plane.logs().count("\" 505 - ")
                      == len(PROXY))  # fmt: skip
    lines = [line for line in plane.logs().splitlines() if line.startswith("[")]
    for (name, _, status, reason), line in zip(PROXY, lines, strict=True):
        assert f" {status} - {reason} " in line, (name, line)
