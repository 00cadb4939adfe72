"""Ten thousand idle client connections: the proxy takes them all, stays up, answers a
request on a fresh connection meanwhile, keeps its memory bounded, and lets go of every
connection (its file descriptors) once the clients close them."""

from __future__ import annotations

import os
import resource
import socket
import time
from collections.abc import Callable

import pytest
from harness import Backend, Mesh, ProxyDataPlane, wait_until
from manifests import mesh as manifests
from manifests import service, workload

REVIEWS = [service("reviews"), workload("reviews-v1", {"app": "reviews"})]
IDLE = 10_000
RSS_BOUND_KB = 300 * 1024  # generous: about 60 MB is what the proxy takes


def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


@pytest.fixture
def enough_files() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = IDLE + 1000  # the clients here, the connections in the proxy (it inherits this)
    if soft < wanted:
        if hard != resource.RLIM_INFINITY and hard < wanted:
            pytest.skip(f"{IDLE} connections need {wanted} open files; the limit is {hard}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def test_ten_thousand_idle_connections(enough_files: None, proxy_mesh: Callable[..., Mesh]) -> None:
    m = proxy_mesh(manifests(*REVIEWS), [Backend("b", "reviews", 9080)], workload="shop/frontend")
    plane = m.plane
    assert isinstance(plane, ProxyDataPlane) and plane.proc is not None
    pid = plane.proc.pid
    port = m.request.listen[1]
    assert m.get("reviews:9080").status == 200
    before_kb, before_fds = rss_kb(pid), open_fds(pid)
    clients: list[socket.socket] = []
    began = time.monotonic()
    try:
        for _ in range(IDLE):
            clients.append(socket.create_connection(("127.0.0.1", port), timeout=10))

        def accepted() -> bool:
            return plane.stat(m.plan.admin, "downstream_cx_total") >= IDLE + 1

        assert wait_until(accepted, 20), plane.stat(m.plan.admin, "downstream_cx_total")
        opened = time.monotonic() - began
        assert plane.proc.poll() is None
        r = m.get("reviews:9080", "/fresh")
        assert r.status == 200 and r.seconds < 5.0, r
        held_kb = rss_kb(pid)
        assert open_fds(pid) > IDLE  # the proxy holds every one
        print(
            f"\n{IDLE} idle connections opened in {opened:.1f}s; proxy RSS {before_kb // 1024} MB "
            f"before, {held_kb // 1024} MB with them; a fresh request took {r.seconds * 1000:.0f} ms"
        )
        assert held_kb < RSS_BOUND_KB, held_kb
    finally:
        for c in clients:
            c.close()
    assert wait_until(lambda: open_fds(pid) < before_fds + 50, 10), open_fds(pid)
    assert m.get("reviews:9080", "/after").status == 200
