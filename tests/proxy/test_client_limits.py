"""The proxy's limits on its clients: a client that sends its headers slowly gets 408 once
the header timeout passes (while others are served), headers over 60 KiB or more than 100
get 431, a body over --max-body gets 413, and an idle keep-alive connection is closed after
--idle-timeout. Each refusal closes the connection and is counted under its reason."""

from __future__ import annotations

import select
import threading
import time
from collections.abc import Iterator

import pytest
from harness import Backend, Mesh, ProxyDataPlane
from manifests import mesh as manifests
from manifests import service, workload
from rawnet import Client, RawBackend, Reply, exchange, request

ARGS = ["--header-timeout", "1", "--idle-timeout", "1", "--max-body", "1024"]
SERVICES = [
    service("reviews"),
    workload("reviews-v1", {"app": "reviews"}),
    service("ratings"),  # its backend reads any number of headers
    workload("ratings-v1", {"app": "ratings"}),
]


@pytest.fixture(scope="module")
def m(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    """One proxy with short limits for the whole module (each test counts its own reason)."""
    backends = [Backend("b", "reviews", 9080), RawBackend("raw", "ratings", 9080)]
    try:
        mesh = Mesh(
            ProxyDataPlane(ARGS),
            tmp_path_factory.mktemp("limits"),
            manifests(*SERVICES),
            backends,
            workload="shop/frontend",
        )
    except BaseException:
        for b in backends:
            b.stop()
        raise
    try:
        yield mesh
    finally:
        mesh.stop()


def rejected(m: Mesh, reason: str) -> int:
    plane = m.plane
    assert isinstance(plane, ProxyDataPlane)
    return plane.stat(m.plan.admin, f"http.downstream_rq_{reason}")


def test_slow_headers_get_408_while_other_clients_are_served(m: Mesh) -> None:
    before = m.backend("b").count()
    head = request("reviews:9080", "/slow")
    result: list[Reply] = []
    took: list[float] = []

    def slowloris() -> None:
        with Client(m.request.listen[1]) as client:
            began = time.monotonic()
            for i in range(len(head)):  # one byte every 0.25 s: the whole head would take 10 s
                if not client.send(head[i : i + 1]):
                    break
                if select.select([client.sock], [], [], 0.25)[0]:
                    break  # the proxy answered
            took.append(time.monotonic() - began)
            result.append(client.reply())

    slow = threading.Thread(target=slowloris)
    slow.start()
    try:
        time.sleep(0.3)
        for _ in range(3):  # served meanwhile
            r = m.get("reviews:9080", "/fast")
            assert r.status == 200 and r.seconds < 0.9, r
    finally:
        slow.join(15)
    (reply,) = result
    assert reply.status == 408 and reply.closed, reply
    assert 0.9 <= took[0] < 5.0, took
    assert m.backend("b").count() == before + 3  # the slow request never went upstream
    assert rejected(m, "request_header_timeout") == 1


def test_headers_over_60_kib_get_431(m: Mesh) -> None:
    port = m.request.listen[1]
    fits = exchange(port, request("ratings:9080", extra=f"x-big: {'a' * 50_000}\r\n"), linger=0.3)
    assert fits.status == 200 and not fits.closed
    huge = exchange(port, request("ratings:9080", extra=f"x-big: {'a' * 1_000_000}\r\n"))
    assert huge.status == 431 and huge.closed, huge
    assert huge.body == b"request headers too large"
    assert rejected(m, "headers_too_large") == 1
    assert m.get("reviews:9080").status == 200


def test_more_than_100_headers_get_431(m: Mesh) -> None:
    port = m.request.listen[1]
    hundred = "".join(f"x-h{i}: v\r\n" for i in range(99))  # and host: 100 in all
    assert exchange(port, request("ratings:9080", extra=hundred), linger=0).status == 200
    many = exchange(port, request("ratings:9080", extra=hundred + "x-one-more: v\r\n"))
    assert many.status == 431 and many.closed, many
    assert many.body == b"too many request headers"
    assert rejected(m, "too_many_headers") == 1


def test_a_body_over_max_body_gets_413(m: Mesh) -> None:
    port = m.request.listen[1]
    before = m.backend("b").count()

    def post(body: bytes, *, chunked: bool = False) -> Reply:
        if chunked:
            framed = b"".join(b"100\r\n" + body[i : i + 256] + b"\r\n"
                              for i in range(0, len(body), 256)) + b"0\r\n\r\n"  # fmt: skip
            head = b"transfer-encoding: chunked\r\n"
        else:
            framed, head = body, b"content-length: %d\r\n" % len(body)
        data = b"POST /upload HTTP/1.1\r\nhost: reviews:9080\r\n" + head + b"\r\n" + framed
        return exchange(port, data, method="POST", linger=0 if len(body) <= 1024 else 2.0)

    assert post(b"a" * 1024).status == 200  # the limit itself is taken
    declared = post(b"a" * 4096)  # refused on its Content-Length, before the body
    assert declared.status == 413 and declared.closed, declared
    streamed = post(b"a" * 2048, chunked=True)  # refused once its chunks pass the limit
    assert streamed.status == 413 and streamed.closed, streamed
    assert rejected(m, "request_payload_too_large") == 2
    assert [x["path"] for x in m.backend("b").received[before:]] == ["/upload"]


def test_idle_connections_are_closed_after_the_idle_timeout(m: Mesh) -> None:
    port = m.request.listen[1]
    with Client(port) as used, Client(port) as silent:
        used.send(request("reviews:9080"))
        began = time.monotonic()
        reply = used.reply(linger=0.3)
        assert reply.status == 200 and not reply.closed  # kept alive after the response
        assert used.closed(5.0)
        assert 0.8 <= time.monotonic() - began < 4.0
        assert silent.closed(2.0)  # a connection that never sent a byte
