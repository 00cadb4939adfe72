"""Connections to the endpoints of a cluster: HTTP/1.1 with keep-alive, pooled per endpoint,
limited per cluster as Envoy's circuit breakers limit them (connections, pending requests,
requests, retries), with the connect timeout, idle timeout and requests-per-connection of the
DestinationRule's connection pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol, cast

import httptools

from meshlint.proxy.balancer import Host
from meshlint.translate.plan import ConnectionPool

IDLE_TIMEOUT = 3600.0  # Envoy's default idle timeout of upstream connections


class Overflow(Exception):
    """A circuit breaker is open: the request is not sent (503, flag UO)."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind  # pending, requests, connections


class ConnectFailure(Exception):
    """The endpoint could not be reached (refused, timed out, TLS refused): flag UF."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Sink(Protocol):
    """What receives a response: the attempt of an exchange."""

    def on_head(self, status: int, headers: list[tuple[str, str]], conn: Connection) -> None: ...

    def on_body(self, data: bytes) -> None: ...

    def on_end(self) -> None: ...

    def on_reset(self, reason: str) -> None: ...


class Connection(asyncio.Protocol):
    """One HTTP/1.1 connection to an endpoint."""

    def __init__(self, pool: Pool, host: Host, verify: Callable[[Any], str | None] | None) -> None:
        self.pool = pool
        self.host = host
        self.verify = verify
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.sink: Sink | None = None
        self.headers: list[tuple[str, str]] = []
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.requests = 0
        self.reusable = True
        self.got_head = False
        self.until_close = False  # a response without length: its end is the connection's
        self.idle_since = 0.0  # when it went back to the pool
        self.closed = False
        self.local = ""

    # asyncio ---------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses
        sock = transport.get_extra_info("sockname")
        if sock:
            self.local = f"{sock[0]}:{sock[1]}"
        if self.pool.settings.keepalive is not None:
            _keepalive(transport.get_extra_info("socket"), self.pool.settings.keepalive)
        if self.verify is not None:
            problem = self.verify(transport.get_extra_info("ssl_object"))
            if problem is not None:
                if not self.ready.done():
                    self.ready.set_exception(ConnectFailure(problem))
                self.transport.abort()
                return
        if not self.ready.done():
            self.ready.set_result(None)

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.reusable = False
            sink, self.sink = self.sink, None
            if sink is not None:
                sink.on_reset("protocol error")
            self.close()

    def eof_received(self) -> bool | None:
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.ready.done():
            self.ready.set_exception(ConnectFailure("connection failure"))
        sink, self.sink = self.sink, None
        if sink is not None:
            if self.got_head and self.until_close:
                sink.on_end()
            else:
                sink.on_reset("remote reset" if self.got_head else "connection termination")
        self.pool.lost(self)

    # the response parser ---------------------------------------------------------------------

    def on_message_begin(self) -> None:
        self.headers = []
        self.got_head = False

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.decode("latin-1").lower(), value.decode("latin-1")))

    def on_headers_complete(self) -> None:
        parser = self.parser
        status = parser.get_status_code()
        if status < 200:  # 100 Continue and friends: the response follows
            return
        self.got_head = True
        if not parser.should_keep_alive():
            self.reusable = False
        names = {k for k, _ in self.headers}
        self.until_close = (
            "content-length" not in names
            and "transfer-encoding" not in names
            and status not in (204, 304)
        )
        if self.until_close:
            self.reusable = False
        if self.sink is not None:
            self.sink.on_head(status, self.headers, self)

    def on_body(self, body: bytes) -> None:
        if self.sink is not None:
            self.sink.on_body(body)

    def on_message_complete(self) -> None:
        if not self.got_head:
            return
        sink, self.sink = self.sink, None
        if sink is not None:
            sink.on_end()
        self.pool.release(self)

    # use -------------------------------------------------------------------------------------

    def send(self, data: bytes, sink: Sink, *, head_only: bool = False) -> None:
        """Write a request; its response goes to ``sink``. A HEAD response has no body, which
        the parser cannot be told: the connection is not reused after it."""
        assert self.transport is not None
        self.sink = sink
        self.requests += 1
        if head_only:
            self.reusable = False
        self.transport.write(data)

    def abandon(self) -> None:
        """The request was given up (timeout, reset downstream): the connection goes too."""
        self.sink = None
        self.reusable = False
        self.close()

    def close(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.close()

    def pause(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.pause_reading()

    def resume(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.resume_reading()


def _keepalive(sock: Any, settings: tuple[int | None, float | None, float | None]) -> None:
    """TCP keepalive on an upstream connection (connectionPool.tcp.tcpKeepalive)."""
    if sock is None:
        return
    probes, idle, interval = settings
    with contextlib.suppress(OSError, AttributeError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        if probes is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, probes)
        if idle is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, max(1, int(idle)))
        if interval is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, max(1, int(interval)))


class Pool:
    """The connections of one cluster, by endpoint, and its circuit breakers."""

    def __init__(
        self,
        name: str,
        settings: ConnectionPool,
        *,
        tls: ssl.SSLContext | None = None,
        server_name: str | None = None,
        verify: Callable[[Any], str | None] | None = None,
        stats: Any = None,
    ) -> None:
        self.name = name
        self.settings = settings
        self.tls = tls
        self.server_name = server_name
        self.verify = verify
        self.stats = stats
        self.max_connections = settings.max_connections or 0  # 0: unlimited
        self.max_pending = settings.max_pending_requests or 0
        self.max_requests = settings.max_requests or 0
        self.max_retries = settings.max_retries or 0
        self.per_connection = settings.max_requests_per_connection or 0
        self.idle_timeout = settings.idle_timeout or settings.tcp_idle_timeout or IDLE_TIMEOUT
        self.idle: dict[Host, list[Connection]] = {}
        self.connections = 0  # open or opening
        self.pending: deque[tuple[Host, asyncio.Future[Connection]]] = deque()
        self.active = 0  # requests on a connection
        self.retries = 0  # retries in flight
        self.closing = False

    async def acquire(self, host: Host) -> Connection:
        """A connection to ``host`` for one request (counted active until :meth:`done`)."""
        idle = self.idle.get(host)
        while idle:
            conn = idle.pop()
            if not conn.closed:
                return self._attach(conn)
        if not self.max_connections or self.connections < self.max_connections:
            return self._attach(await self._connect(host))
        if self.max_pending and len(self.pending) >= self.max_pending:
            raise Overflow("pending")
        waiter: asyncio.Future[Connection] = asyncio.get_running_loop().create_future()
        entry = (host, waiter)
        self.pending.append(entry)
        try:
            conn = await waiter
        finally:
            if entry in self.pending:
                self.pending.remove(entry)
        return self._attach(conn)

    def _attach(self, conn: Connection) -> Connection:
        if self.max_requests and self.active >= self.max_requests:
            self.release(conn, count=False)
            raise Overflow("requests")
        self.active += 1
        return conn

    def done(self) -> None:
        """One request finished (whatever became of its connection)."""
        self.active -= 1

    async def _connect(self, host: Host) -> Connection:
        self.connections += 1
        loop = asyncio.get_running_loop()
        try:
            _, conn = await asyncio.wait_for(
                loop.create_connection(
                    lambda: Connection(self, host, self.verify),
                    host.address,
                    host.port,
                    ssl=self.tls,
                    server_hostname=self.server_name if self.tls is not None else None,
                ),
                self.settings.connect_timeout,
            )
            await conn.ready
        except asyncio.TimeoutError:
            self.connections -= 1
            raise ConnectFailure("connection timeout") from None
        except asyncio.CancelledError:  # the request gave up (its timeout) while connecting
            self.connections -= 1
            raise
        except ConnectFailure:
            self.connections -= 1  # the connection was made, then refused by our checks
            raise
        except (OSError, ssl.SSLError) as exc:
            self.connections -= 1
            detail = "TLS error" if isinstance(exc, ssl.SSLError) else "connection failure"
            raise ConnectFailure(detail) from None
        if self.stats is not None:
            self.stats.connection_opened(self.name)
        return conn

    def release(self, conn: Connection, *, count: bool = True) -> None:
        """A connection whose response is complete: reused, handed to a waiter, or closed."""
        if conn.closed:
            return
        if (
            not conn.reusable
            or self.closing
            or (self.per_connection and conn.requests >= self.per_connection)
        ):
            conn.close()
            return
        for entry in self.pending:
            host, waiter = entry
            if host is conn.host and not waiter.done():
                self.pending.remove(entry)
                waiter.set_result(conn)
                return
        conn.idle_since = time.monotonic()
        self.idle.setdefault(conn.host, []).append(conn)

    def take_idle(self, host: Host) -> Connection | None:
        """An idle connection to ``host`` for one request, without waiting: None when there
        is none (then :meth:`acquire`)."""
        idle = self.idle.get(host)
        while idle:
            conn = idle.pop()
            if not conn.closed:
                return self._attach(conn)
        return None

    def sweep(self, now: float) -> None:
        """Close the connections idle for longer than the idle timeout."""
        for conns in self.idle.values():
            for conn in [c for c in conns if now - c.idle_since > self.idle_timeout]:
                conns.remove(conn)
                conn.close()

    def lost(self, conn: Connection) -> None:
        """A connection closed: it no longer counts, and a waiter may get a new one."""
        if conn.ready.done() and not conn.ready.cancelled() and conn.ready.exception() is None:
            self.connections -= 1
            if self.stats is not None:
                self.stats.connection_closed(self.name)
        idle = self.idle.get(conn.host)
        if idle and conn in idle:
            idle.remove(conn)
        if self.pending and (not self.max_connections or self.connections < self.max_connections):
            host, waiter = self.pending.popleft()
            if not waiter.done():
                asyncio.get_running_loop().create_task(self._connect_for(host, waiter))

    async def _connect_for(self, host: Host, waiter: asyncio.Future[Connection]) -> None:
        try:
            conn = await self._connect(host)
        except ConnectFailure as exc:
            if not waiter.done():
                waiter.set_exception(exc)
            return
        if waiter.done():
            self.release(conn, count=False)
        else:
            waiter.set_result(conn)

    def close(self) -> None:
        """Close every idle connection and every one that finishes from now on."""
        self.closing = True
        for conns in self.idle.values():
            for c in conns:
                c.close()
        self.idle.clear()
