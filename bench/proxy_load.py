"""The two ends of bench/proxy.py: a loopback HTTP/1.1 backend and a closed-loop load generator.

    python bench/proxy_load.py backend [--port N]
    python bench/proxy_load.py load --port N --connections 32 --warmup 1 --seconds 4 \\
        [--authority reviews:9080] [--watch PID]…

Both run on uvloop with asyncio Protocols and httptools, and do as little as they can per
request, so that on one core they outrun the proxy measured on another.

The backend answers every request on a keep-alive connection with the same small 200 (requests
without a body, as the bench sends them); the answers to requests that arrive together leave in
one write. It prints ``listening PORT`` once it accepts.

The load generator keeps one request in flight on each of its connections (a new one leaves as
the previous response completes), with a dozen headers a browser-facing service sees, a new
request id and trace id on each request (taken in turn from 1,024 made beforehand). After the
warm-up it measures a window of ``--seconds``: the requests completed in it, the latency of
each (``time.perf_counter_ns`` from the write of the request to the end of its response), the
non-200 answers, and the CPU time (utime + stime of /proc/PID/stat: every thread) spent in the
window by each ``--watch`` process, by itself and by the whole machine (/proc/stat: what others
ran meanwhile). It prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import signal
import sys
import time
import uuid
from typing import Any, cast

import httptools

RESPONSE = (
    b"HTTP/1.1 200 OK\r\n"
    b"content-type: text/plain\r\n"
    b"content-length: 2\r\n"
    b"x-bench: backend\r\n"
    b"\r\n"
    b"ok"
)
VARIANTS = 1024  # requests made beforehand, each with its own ids
TICK = os.sysconf("SC_CLK_TCK")


# --------------------------------------------------------------------------------------------
# the backend


class BackendConnection(asyncio.Protocol):
    """One client of the backend: every complete request gets :data:`RESPONSE`."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.complete = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            assert self.transport is not None
            self.transport.close()
            return
        n = self.complete
        if n:
            self.complete = 0
            assert self.transport is not None
            self.transport.write(RESPONSE if n == 1 else RESPONSE * n)

    def on_message_complete(self) -> None:
        self.complete += 1


async def backend(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        BackendConnection, "127.0.0.1", port, reuse_address=True, backlog=1024
    )
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"listening {server.sockets[0].getsockname()[1]}", flush=True)
    await stop.wait()
    server.close()


# --------------------------------------------------------------------------------------------
# the load generator


def requests(authority: str, path: str = "/reviews/0") -> list[bytes]:
    """GET requests with a browser's headers, each with its own request id and trace."""
    out = []
    for i in range(VARIANTS):
        rid = uuid.UUID(int=(0x5EED << 96) | i)
        trace = f"{(0xB3 << 56) | i:016x}"
        out.append(
            (
                f"GET {path}?page={i % 7} HTTP/1.1\r\n"
                f"host: {authority}\r\n"
                "user-agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 "
                "Firefox/128.0\r\n"
                "accept: application/json, text/plain, */*\r\n"
                "accept-encoding: gzip, deflate, br\r\n"
                "accept-language: en-GB,en;q=0.8,fr;q=0.5\r\n"
                f"x-request-id: {rid}\r\n"
                f"x-b3-traceid: {trace}\r\n"
                f"x-b3-spanid: {trace}\r\n"
                "x-b3-sampled: 0\r\n"
                "cookie: session=2f6c1c5e9a7b4d13; theme=dark; consent=analytics\r\n"
                "authorization: Bearer eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl\r\n"
                "referer: https://shop.example.com/products/42\r\n"
                "\r\n"
            ).encode("latin-1")
        )
    return out


class Run:
    """What the connections share: the window, its latencies and its counts."""

    def __init__(self) -> None:
        self.recording = False
        self.stopping = False
        self.latencies: list[int] = []
        self.errors = 0
        self.completed = 0  # warm-up included
        self.lost: list[str] = []


class Client(asyncio.Protocol):
    """One keep-alive connection with one request in flight."""

    def __init__(self, run: Run, variants: list[bytes], first: int) -> None:
        self.run = run
        self.variants = variants
        self.i = first
        self.sent = 0
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses
        self.sent = time.perf_counter_ns()
        self.transport.write(self.variants[self.i])

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self.run.lost.append(f"bad response: {exc}")
            assert self.transport is not None
            self.transport.close()

    def on_message_complete(self) -> None:
        now = time.perf_counter_ns()
        run = self.run
        run.completed += 1
        if run.recording:
            run.latencies.append(now - self.sent)
            if self.parser.get_status_code() != 200:
                run.errors += 1
        if run.stopping:
            return
        self.i = i = (self.i + 1) & (VARIANTS - 1)
        self.sent = now
        self.transport.write(self.variants[i])  # type: ignore[union-attr]

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.run.stopping:
            self.run.lost.append(f"connection closed by the target: {exc or 'EOF'}")


def cpu_seconds(pid: int | str) -> float:
    """utime + stime of a process (all its threads), in seconds."""
    with open(f"/proc/{pid}/stat", "rb") as fh:
        fields = fh.read().rpartition(b")")[2].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def machine_busy_seconds() -> float:
    """CPU time spent by everything on the machine (all cores, /proc/stat), in seconds."""
    with open("/proc/stat", "rb") as fh:
        fields = fh.readline().split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return (user + nice + system + irq + softirq + steal) / TICK


async def load(
    port: int, authority: str, connections: int, warmup: float, seconds: float, watch: list[int]
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    run = Run()
    variants = requests(authority)
    clients: list[Client] = []
    for n in range(connections):
        _, client = await loop.create_connection(
            lambda n=n: Client(run, variants, (n * 37) % VARIANTS),  # type: ignore[misc]
            "127.0.0.1",
            port,
        )
        clients.append(client)
    await asyncio.sleep(warmup)
    if run.lost:
        raise RuntimeError(run.lost[0])
    before = {pid: cpu_seconds(pid) for pid in watch}
    own_before = cpu_seconds("self")
    machine_before = machine_busy_seconds()
    start = time.perf_counter()
    run.recording = True
    await asyncio.sleep(seconds)
    run.recording = False
    elapsed = time.perf_counter() - start
    own = cpu_seconds("self") - own_before
    machine = machine_busy_seconds() - machine_before
    spent = {pid: cpu_seconds(pid) - before[pid] for pid in watch}
    run.stopping = True
    for c in clients:
        if c.transport is not None:
            c.transport.close()
    if run.lost:
        raise RuntimeError(run.lost[0])
    lat = sorted(run.latencies)
    n = len(lat)

    def pct(q: float) -> float:
        return lat[min(n - 1, max(0, int(q * n + 0.999999) - 1))] / 1000 if n else 0.0

    return {
        "requests": n,
        "seconds": elapsed,
        "errors": run.errors,
        "completed_total": run.completed,
        "latency_us": {
            "p50": pct(0.50),
            "p90": pct(0.90),
            "p99": pct(0.99),
            "p999": pct(0.999),
            "max": lat[-1] / 1000 if n else 0.0,
            "mean": sum(lat) / n / 1000 if n else 0.0,
        },
        "cpu_seconds": {str(pid): s for pid, s in spent.items()},
        "generator_cpu_seconds": own,
        "machine_cpu_seconds": machine,
        "loop": type(loop).__module__.split(".")[0],
    }


# --------------------------------------------------------------------------------------------


def _loop() -> None:
    try:
        import uvloop
    except ImportError:  # the bench says which loop it ran on
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("backend", help="serve the fixed 200 on 127.0.0.1")
    b.add_argument("--port", type=int, default=0)
    g = sub.add_parser("load", help="measure one target")
    g.add_argument("--port", type=int, required=True)
    g.add_argument("--authority", default="reviews:9080")
    g.add_argument("--connections", type=int, default=1)
    g.add_argument("--warmup", type=float, default=1.0)
    g.add_argument("--seconds", type=float, default=4.0)
    g.add_argument("--watch", type=int, action="append", default=[])
    args = parser.parse_args(argv)
    _loop()
    gc.disable()  # neither end makes cycles; a collection would show as latency
    if args.command == "backend":
        asyncio.run(backend(args.port))
        return
    try:
        result = asyncio.run(
            load(args.port, args.authority, args.connections, args.warmup, args.seconds,
                 args.watch)
        )  # fmt: skip
    except (OSError, RuntimeError) as exc:
        print(f"proxy_load: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    print(json.dumps(result))


if __name__ == "__main__":
    main()
