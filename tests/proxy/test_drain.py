"""SIGTERM under load: the proxy stops accepting at once (new connections are refused), every
request it took gets its whole response (which says the connection closes), a connection it
took that had not yet sent its request may still send it, and the process exits 0 within
its drain timeout."""

from __future__ import annotations

import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from harness import Backend, Mesh, ProxyDataPlane, wait_until
from manifests import mesh as manifests
from manifests import service, workload
from rawnet import Client, Reply, request

REVIEWS = [service("reviews"), workload("reviews-v1", {"app": "reviews"})]
CLIENTS = 12
DRAIN_TIMEOUT = 5.0


@dataclass
class Run:
    """What one client saw: its replies in order, then whether a new connection was
    refused."""

    replies: list[tuple[float, Reply]] = field(default_factory=list)
    refused: bool | None = None
    failure: str = ""


def refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    except ConnectionRefusedError:
        return True
    return False


def start(
    proxy_mesh: Callable[..., Mesh], delay: float, drain: float
) -> tuple[Mesh, ProxyDataPlane]:
    m = proxy_mesh(
        manifests(*REVIEWS),
        [Backend("b", "reviews", 9080, delay=delay)],
        args=["--drain-timeout", str(drain)],
        workload="shop/frontend",
    )
    plane = m.plane
    assert isinstance(plane, ProxyDataPlane) and plane.proc is not None
    return m, plane


def stopped_within(plane: ProxyDataPlane, since: float, bound: float) -> float:
    assert plane.proc is not None
    code = plane.proc.wait(bound + 5)
    took = time.monotonic() - since
    assert code == 0, plane.logs()
    assert took < bound, took
    return took


def test_sigterm_under_load_loses_no_request(proxy_mesh: Callable[..., Mesh]) -> None:
    m, plane = start(proxy_mesh, delay=0.3, drain=DRAIN_TIMEOUT)
    port = m.request.listen[1]
    runs = [Run() for _ in range(CLIENTS)]
    stop = threading.Event()

    def client(run: Run) -> None:
        try:
            with Client(port) as c:
                while not stop.is_set():
                    if not c.send(request("reviews:9080", f"/n{len(run.replies)}")):
                        run.failure = "the proxy closed a connection it had kept"
                        return
                    reply = c.reply(linger=0)
                    run.replies.append((time.monotonic(), reply))
                    if reply.status != 200 or not reply.complete:
                        return
                    if reply.headers.get("connection") == "close":
                        if not c.closed(5.0):
                            run.failure = "not closed after connection: close"
                        break
            run.refused = refused(port)
        except OSError as exc:
            run.failure = repr(exc)

    threads = [threading.Thread(target=client, args=(run,)) for run in runs]
    for t in threads:
        t.start()
    try:
        assert wait_until(lambda: all(len(r.replies) >= 2 for r in runs), 10)
        term = time.monotonic()
        plane.proc.send_signal(signal.SIGTERM)  # type: ignore[union-attr]
        took = stopped_within(plane, term, DRAIN_TIMEOUT)
    finally:
        stop.set()
        for t in threads:
            t.join(10)
    answered = 0
    for i, run in enumerate(runs):
        assert not run.failure, (i, run.failure)
        for _, reply in run.replies:
            assert reply.status == 200 and reply.complete, (i, reply)
            answered += 1
        last_at, last = run.replies[-1]
        assert last_at > term and last.headers.get("connection") == "close", (i, last)
        assert run.refused, i  # once the proxy drains, a new connection is refused
    assert refused(port)
    print(f"\n{answered} requests answered by {CLIENTS} clients; stopped {took:.2f}s after SIGTERM")


def test_a_connection_taken_before_sigterm_may_still_send_its_request(
    proxy_mesh: Callable[..., Mesh],
) -> None:
    m, plane = start(proxy_mesh, delay=0.0, drain=DRAIN_TIMEOUT)
    port = m.request.listen[1]
    with Client(port) as quiet:
        assert wait_until(lambda: plane.stat(m.plan.admin, "downstream_cx_total") >= 1, 5)
        term = time.monotonic()
        plane.proc.send_signal(signal.SIGTERM)  # type: ignore[union-attr]
        assert wait_until(lambda: refused(port), 5)  # the proxy drains
        quiet.send(request("reviews:9080", "/late"))
        reply = quiet.reply(linger=2.0)
        assert reply.status == 200 and reply.complete, reply
        assert reply.headers.get("connection") == "close" and reply.closed
    took = stopped_within(plane, term, DRAIN_TIMEOUT)
    print(f"\nan idle connection's late request answered; stopped {took:.2f}s after SIGTERM")


def test_requests_longer_than_the_drain_timeout_are_cut_at_its_end(
    proxy_mesh: Callable[..., Mesh],
) -> None:
    m, plane = start(proxy_mesh, delay=5.0, drain=1.0)
    with Client(m.request.listen[1]) as slow:
        slow.send(request("reviews:9080", "/slow"))
        assert wait_until(lambda: m.backend("b").count() == 1, 5)
        term = time.monotonic()
        plane.proc.send_signal(signal.SIGTERM)  # type: ignore[union-attr]
        took = stopped_within(plane, term, 1.0 + 2.0)
        assert took >= 0.9, took
        reply = slow.reply(linger=1.0)
        assert reply.status is None and reply.closed, reply  # cut, not answered
    assert "cut" in plane.logs()
