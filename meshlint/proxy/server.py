"""Listeners, client connections and the exchange of one request.

A listener takes the outbound HTTP of a workload (routed by Host, as its sidecar routes it),
the traffic for the workload itself (mutual TLS as PeerAuthentication says, JWT,
authorization, forwarded to the application), or a Gateway's server ports. Each client
connection parses HTTP/1.1 with httptools (keep-alive, pipelining in order), within limits
that keep the proxy safe; each request goes through Envoy's filters in Envoy's order (JWT,
RBAC, fault, then the router: redirect, direct response, or the upstream with retries and
timeouts), and is counted and logged.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import ssl
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import httptools

from meshlint.proxy import tls as tls_mod
from meshlint.proxy.balancer import Balancer, Host, hash_key
from meshlint.proxy.cors import CorsPolicy
from meshlint.proxy.http import HOP_BY_HOP, Request, head, local_reply, split_host
from meshlint.proxy.policy import Authorization, Identity, Jwt, JwtError
from meshlint.proxy.router import CompiledHost, CompiledRoute, HostTable, Router
from meshlint.proxy.telemetry import AccessLogger, Record, Stats
from meshlint.proxy.upstream import ConnectFailure, Connection, Overflow, Pool
from meshlint.translate.plan import (
    ISTIO_LOG_FORMAT,
    PASSTHROUGH,
    Cluster,
    ConnectionPool,
    Endpoint,
    GatewayServer,
    HeaderOps,
    Inbound,
    Plan,
    Route,
    VirtualHost,
)

log = logging.getLogger("meshlint.proxy")

RETRY_BASE = 0.025  # Envoy's base back-off between retries
GRPC_RETRY = {"cancelled": "1", "deadline-exceeded": "4", "resource-exhausted": "8",
              "internal": "13", "unavailable": "14"}  # fmt: skip
NO_BODY_STATUS = frozenset({204, 304})
_NO_OPS = HeaderOps()


@dataclass
class Limits:
    """What keeps the proxy safe from its clients (each a 4xx or a closed idle connection)."""

    max_header_bytes: int = 60 * 1024  # the request line and headers (Envoy's 60 KiB)
    max_headers: int = 100  # Envoy's max_headers_count
    max_body: int = 8 * 1024 * 1024  # a request body is buffered (for retries and mirrors)
    header_timeout: float = 10.0  # from a request's first byte to its last header (slowloris)
    request_timeout: float = 60.0  # from a request's first byte to its last
    idle_timeout: float = 300.0  # a keep-alive connection without a request
    max_pipelined: int = 32  # requests parsed ahead of their turn on one connection
    drain_grace: float = 1.0  # draining: how long a connection without a request may send one


# --------------------------------------------------------------------------------------------
# the runtime: what a Plan becomes


class ClusterRuntime:
    __slots__ = ("balancer", "cluster", "name", "pool")

    def __init__(self, cluster: Cluster, plan: Plan, stats: Stats) -> None:
        self.cluster = cluster
        self.name = cluster.name
        self.balancer = Balancer(cluster)
        context = server_name = verify = None
        if cluster.tls is not None:
            context, server_name, verify = tls_mod.upstream(cluster.tls, plan.certificates)
        self.pool = Pool(
            cluster.name,
            cluster.pool,
            tls=context,
            server_name=server_name,
            verify=verify,
            stats=stats,
        )


@dataclass
class ListenerSpec:
    name: str
    kind: str  # outbound, inbound, gateway
    address: tuple[str, int]
    port: int  # the port requests are routed on: a gateway server's, the inbound's
    scheme: str = "http"
    inbound: Inbound | None = None
    servers: list[GatewayServer] | None = None


class Runtime:
    """Everything a Plan becomes: routes compiled, clusters with their balancers and pools,
    listeners with their TLS, policies and logs. A reload builds a new one."""

    def __init__(self, plan: Plan, stats: Stats) -> None:
        self.plan = plan
        self.stats = stats
        self.router = Router(plan)
        self.clusters = {name: ClusterRuntime(c, plan, stats) for name, c in plan.clusters.items()}
        self.passthrough: dict[tuple[str, int], ClusterRuntime] = {}
        self.loggers: dict[str, list[AccessLogger]] = {"CLIENT": [], "SERVER": []}
        for a in plan.telemetry.access_logs:
            logger = AccessLogger(a, ISTIO_LOG_FORMAT)
            for side in ("CLIENT", "SERVER"):
                if a.mode in ("CLIENT_AND_SERVER", side):
                    self.loggers[side].append(logger)
        self.own = plan.identity.spiffe
        self.listeners: list[ListenerSpec] = []
        self.jwt: dict[str, Jwt] = {}
        self.authz: dict[str, Authorization] = {}
        self.contexts: dict[str, ssl.SSLContext | None] = {}
        self.gateway_tables: dict[str, list[tuple[GatewayServer, HostTable | None]]] = {}
        self.sni_contexts: dict[str, list[tuple[GatewayServer, ssl.SSLContext]]] = {}
        self.skipped: list[str] = []  # what this proxy does not serve, said at start
        # the certificate, key and CA of each TLS listener (a reload loads them again)
        self.tls_files: dict[str, tuple[str, str, str | None]] = {}
        if plan.identity.kind == "workload":
            self._workload()
        else:
            self._gateway()

    def _workload(self) -> None:
        plan = self.plan
        if plan.route_tables or plan.outbound_policy == "ALLOW_ANY":
            self.listeners.append(ListenerSpec("outbound", "outbound", plan.listen, 0))
        for inbound in plan.inbound[:1]:
            name = f"inbound_{inbound.port}"
            spec = ListenerSpec(name, "inbound", plan.inbound_listen, inbound.port, inbound=inbound)
            self.listeners.append(spec)
            self.jwt[name] = Jwt(inbound.jwt)
            self.authz[name] = Authorization(inbound.policies, inbound.port)
            context = None
            if inbound.mode in ("STRICT", "PERMISSIVE") and plan.certificates is not None:
                context = _noting_sni(
                    tls_mod.inbound_mtls(plan.certificates, inbound.trust_domains)
                )
                certs = plan.certificates
                self.tls_files[name] = (certs.cert_chain, certs.private_key, certs.root_cert)
            self.contexts[name] = context
            app = Cluster(
                inbound.app_cluster,
                inbound.app_address[0],
                inbound.app_address[1],
                endpoints=[Endpoint(inbound.app_address[0], inbound.app_address[1])],
                pool=ConnectionPool(),
            )
            self.clusters[inbound.app_cluster] = ClusterRuntime(app, plan, self.stats)
            for p in inbound.policies:
                if p.action == "CUSTOM":
                    self.skipped.append(
                        f"AuthorizationPolicy {p.name} (CUSTOM, provider {p.provider}): "
                        "external authorization is not called by this proxy"
                    )

    def _gateway(self) -> None:
        plan = self.plan
        by_port: dict[int, list[GatewayServer]] = {}
        for s in plan.servers:
            if s.route_table is None or s.passthrough:
                self.skipped.append(
                    f"Gateway server {s.name or s.port} ({s.protocol}): only HTTP and HTTPS "
                    "servers are served by this proxy"
                )
                continue
            by_port.setdefault(s.port, []).append(s)
        policies = [p for i in plan.inbound for p in i.policies]
        providers = [p for i in plan.inbound for p in i.jwt]
        for port, servers in sorted(by_port.items()):
            name = f"0.0.0.0_{port}"
            secure = [s for s in servers if s.tls is not None]
            spec = ListenerSpec(
                name,
                "gateway",
                (plan.listen[0], port + plan.port_offset),
                port,
                scheme="https" if secure else "http",
                servers=servers,
            )
            self.listeners.append(spec)
            self.gateway_tables[name] = [
                (s, self.router.table(s.route_table or "")) for s in servers
            ]
            self.jwt[name] = Jwt(providers)
            self.authz[name] = Authorization(policies, port)
            if secure:
                contexts = [
                    (s, tls_mod.gateway_server(s.tls, plan.certificates)) for s in secure if s.tls
                ]
                self.sni_contexts[name] = contexts
                self.contexts[name] = _sni_context(contexts)
                first = secure[0].tls
                assert first is not None
                if first.certificate and first.private_key:
                    self.tls_files[name] = (
                        first.certificate,
                        first.private_key,
                        first.ca_certificates,
                    )
            else:
                self.contexts[name] = None

    def cluster(self, name: str) -> ClusterRuntime | None:
        return self.clusters.get(name)

    def passthrough_cluster(self, host: str, port: int) -> ClusterRuntime:
        key = (host, port)
        found = self.passthrough.get(key)
        if found is None:
            c = Cluster(PASSTHROUGH, host, port, endpoints=[Endpoint(host, port)])
            found = self.passthrough[key] = ClusterRuntime(c, self.plan, self.stats)
        return found

    def close(self) -> None:
        for c in (*self.clusters.values(), *self.passthrough.values()):
            c.pool.close()

    def flush_logs(self) -> None:
        for side in self.loggers.values():
            for logger in side:
                logger.flush()


def _server_names(server: GatewayServer) -> list[str]:
    return [h.rpartition("/")[2].lower() for h in server.hosts]


def _sni_match(name: str | None, servers: list[tuple[GatewayServer, Any]]) -> Any:
    """The server (and its context) of a TLS connection's SNI, as Envoy's filter chain match
    picks it: the exact name, then the longest wildcard, then a server for any name."""
    if name:
        name = name.lower()
        for s, ctx in servers:
            if name in _server_names(s):
                return s, ctx
        best = None
        for s, ctx in servers:
            for n in _server_names(s):
                wildcard = n.startswith("*.") and name.endswith(n[1:])
                if wildcard and (best is None or len(n) > best[0]):
                    best = (len(n), s, ctx)
        if best is not None:
            return best[1], best[2]
    for s, ctx in servers:
        if "*" in _server_names(s):
            return s, ctx
    return None


def _sni_context(servers: list[tuple[GatewayServer, ssl.SSLContext]]) -> ssl.SSLContext:
    """One context for a port: the SNI callback switches to the server's own, and notes the
    name for the connection."""
    base = servers[0][1]

    def pick(sslobj: Any, name: str | None, _ctx: ssl.SSLContext) -> int | None:
        if name:
            _SNI[id(sslobj)] = name
        if len(servers) > 1:
            found = _sni_match(name, servers)
            if found is None:
                return ssl.ALERT_DESCRIPTION_UNRECOGNIZED_NAME
            sslobj.context = found[1]
        return None

    for _, ctx in servers:
        ctx.sni_callback = pick
    return base


def _noting_sni(ctx: ssl.SSLContext) -> ssl.SSLContext:
    """A context that notes each connection's server name."""

    def note(sslobj: Any, name: str | None, _ctx: ssl.SSLContext) -> None:
        if name:
            _SNI[id(sslobj)] = name

    ctx.sni_callback = note
    return ctx


# --------------------------------------------------------------------------------------------
# the proxy


class Proxy:
    """The listeners of one process and the runtime they serve."""

    def __init__(
        self, plan: Plan, limits: Limits | None = None, *, reuse_port: bool = False
    ) -> None:
        self.stats = Stats()
        self.runtime = Runtime(plan, self.stats)
        self.limits = limits or Limits()
        self.reuse_port = reuse_port
        self.servers: dict[str, asyncio.AbstractServer] = {}
        self.accepting: dict[str, asyncio.Task[None]] = {}
        self.connections: set[Downstream] = set()
        self.tasks: set[asyncio.Task[None]] = set()
        self.bound: dict[str, ssl.SSLContext | None] = {}  # the context each listener serves
        self.draining = False
        self.started = False
        self._flusher: asyncio.TimerHandle | None = None

    async def start(self) -> None:
        for spec in self.runtime.listeners:
            await self._listen(spec)
        self.started = True
        self._flush_later()

    async def _listen(self, spec: ListenerSpec) -> None:
        loop = asyncio.get_running_loop()
        context = self.runtime.contexts.get(spec.name)
        permissive = _permissive(spec) and context is not None
        self.bound[spec.name] = context
        if permissive:  # TLS and plaintext on one port: the first byte tells them apart
            sock = _bind(spec.address, self.reuse_port)
            self.accepting[spec.name] = loop.create_task(self._accept(sock, spec))
            return
        server = await loop.create_server(
            lambda: Downstream(self, spec.name),
            spec.address[0],
            spec.address[1],
            ssl=context,
            reuse_address=True,
            reuse_port=self.reuse_port or None,
            backlog=4096,
        )
        self.servers[spec.name] = server

    async def _accept(self, listener: socket.socket, spec: ListenerSpec) -> None:
        loop = asyncio.get_running_loop()
        while True:
            conn, _ = await loop.sock_accept(listener)
            self.background(self._sniff(conn, spec))

    async def _sniff(self, conn: socket.socket, spec: ListenerSpec) -> None:
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[None] = loop.create_future()
        fd = conn.fileno()
        loop.add_reader(fd, _expire, ready, None)
        try:
            await asyncio.wait_for(ready, self.limits.header_timeout)
            first = conn.recv(1, socket.MSG_PEEK)
        except (asyncio.TimeoutError, OSError):
            conn.close()
            return
        finally:
            loop.remove_reader(fd)
        if not first:
            conn.close()
            return
        context = self.bound.get(spec.name) if first[0] == 0x16 else None
        try:
            await loop.connect_accepted_socket(
                lambda: Downstream(self, spec.name), conn, ssl=context
            )
        except (OSError, ssl.SSLError):
            conn.close()

    def background(self, coro: Any) -> None:
        """Run a task the proxy keeps a reference to until it ends."""
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def reload(self, plan: Plan) -> list[str]:
        """Serve a new Plan: new requests take it, those in flight end on the old one. A
        listener keeps its socket when its address and kind of TLS stay (its context takes
        the new certificates); returns the listeners to bind again (:meth:`rebind`)."""
        old = self.runtime
        new = Runtime(plan, self.stats)
        before = {s.name: s for s in old.listeners}
        again = []
        for spec in new.listeners:
            was = before.get(spec.name)
            bound = self.bound.get(spec.name)
            context = new.contexts.get(spec.name)
            if (
                was is None
                or was.address != spec.address
                or (bound is None) != (context is None)
                or _permissive(was) != _permissive(spec)
            ):
                again.append(spec.name)
            elif bound is not None and context is not None and bound is not context:
                _adopt(bound, context, new.tls_files.get(spec.name))
        names = {s.name for s in new.listeners}
        again += [name for name in before if name not in names]
        self.runtime = new
        old.close()
        return again

    async def rebind(self, names: list[str]) -> None:
        for name in names:
            server = self.servers.pop(name, None)
            if server is not None:
                server.close()
            task = self.accepting.pop(name, None)
            if task is not None:
                task.cancel()
            self.bound.pop(name, None)
        for spec in self.runtime.listeners:
            if spec.name in names:
                await self._listen(spec)

    async def drain(self, deadline: float) -> bool:
        """Stop accepting, let the requests in flight finish (until ``deadline``, a monotonic
        time) and the connections close (an idle one after a grace, for a request that was
        on its way). True when no request was cut off."""
        self.draining = True
        for server in self.servers.values():
            server.close()
        for task in self.accepting.values():
            task.cancel()
        for conn in list(self.connections):
            conn.drain()
        while self.connections and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        clean = not any(c.busy or c.in_message for c in self.connections)
        for conn in list(self.connections):
            conn.close()
        self.runtime.close()
        self.runtime.flush_logs()
        return clean

    def _flush_later(self) -> None:
        """Every tick: flush the access logs, fire the connections' deadlines (one timer for
        all of them, not one per request), and, each second, close the upstream connections
        idle too long."""
        loop = asyncio.get_running_loop()
        limits = self.limits
        tick = min(0.2, max(0.05, min(limits.header_timeout, limits.request_timeout,
                                      limits.idle_timeout, limits.drain_grace) / 4))  # fmt: skip
        last_pools = [time.monotonic()]

        def sweep() -> None:
            self._flusher = loop.call_later(tick, sweep)
            self.runtime.flush_logs()
            now = time.monotonic()
            for conn in [c for c in self.connections if c.deadline and c.deadline <= now]:
                action, conn.deadline = conn.on_deadline, 0.0
                if action is not None:
                    action()
            if now - last_pools[0] >= 1.0:
                last_pools[0] = now
                rt = self.runtime
                for c in (*rt.clusters.values(), *rt.passthrough.values()):
                    if c.pool.idle:
                        c.pool.sweep(now)

        self._flusher = loop.call_later(tick, sweep)


def _permissive(spec: ListenerSpec) -> bool:
    return spec.kind == "inbound" and spec.inbound is not None and spec.inbound.mode == "PERMISSIVE"


def _adopt(
    bound: ssl.SSLContext, context: ssl.SSLContext, files: tuple[str, str, str | None] | None
) -> None:
    """Let a listener's context serve as a new one: its certificates (for clients that send
    no server name) and, through the SNI callback, the new context itself."""
    if files is not None:
        chain, key, ca = files
        try:
            bound.load_cert_chain(chain, key)
            if ca:
                bound.load_verify_locations(ca)
        except (OSError, ssl.SSLError):
            log.warning("reload: cannot load %s; the listener keeps its certificate", chain)
    callback = context.sni_callback

    def switch(sslobj: Any, name: str | None, ctx: ssl.SSLContext) -> int | None:
        sslobj.context = context
        if callback is not None and name is not None:
            return callback(sslobj, name, context)
        return None

    bound.sni_callback = switch


def _bind(address: tuple[str, int], reuse_port: bool) -> socket.socket:
    family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(address)
    sock.listen(4096)
    sock.setblocking(False)
    return sock


# --------------------------------------------------------------------------------------------
# one client connection


class Downstream(asyncio.Protocol):
    """A client connection: HTTP/1.1 parsed by httptools, requests answered in order."""

    def __init__(self, proxy: Proxy, listener: str) -> None:
        self.proxy = proxy
        self.listener = listener
        self.limits = proxy.limits
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.queue: deque[Request] = deque()
        self.busy = False
        self.closing = False
        self.url = b""
        self.raw: list[tuple[bytes, bytes]] = []  # as they came; decoded once, when complete
        self.headers: list[tuple[str, str]] = []
        self.map: dict[str, str] = {}
        self.header_bytes = 0
        self.body: list[bytes] = []
        self.body_size = 0
        self.in_message = False
        # one deadline at a time (header, request, idle), checked by the proxy's sweep
        self.deadline = 0.0
        self.on_deadline: Callable[[], None] | None = None
        self.write_paused: asyncio.Future[None] | None = None
        self.who = Identity()
        self.xfcc: str | None = None
        self.server: GatewayServer | None = None
        self.table: HostTable | None = None
        self.remote = ""
        self.local = ""
        self.scheme = "http"
        self.task: asyncio.Task[None] | None = None
        self.spec: ListenerSpec | None = None
        self.upstream: Connection | None = None  # the one the current response streams from
        self.expect_continue = False
        self.refusal: tuple[int, str, str] | None = None  # waits for the responses ahead of it

    # asyncio ---------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses
        proxy = self.proxy
        proxy.connections.add(self)
        proxy.stats.count("", "downstream_cx_total")
        peer = transport.get_extra_info("peername")
        sock = transport.get_extra_info("sockname")
        if peer:
            self.remote = f"{peer[0]}:{peer[1]}"
            self.who.ip = str(peer[0])
        if sock:
            self.local = f"{sock[0]}:{sock[1]}"
        sslobj = transport.get_extra_info("ssl_object")
        rt = proxy.runtime
        spec = self.spec = next((s for s in rt.listeners if s.name == self.listener), None)
        if sslobj is not None:
            self.scheme = "https"
            self.who.sni = _SNI.pop(id(sslobj), None)
            if spec is not None and spec.kind == "inbound" and spec.inbound is not None:
                problem = tls_mod.spiffe_check(spec.inbound.trust_domains)(sslobj)
                if problem is not None:
                    self.transport.abort()
                    return
                self.who.principal = tls_mod.principal(sslobj)
                self.xfcc = tls_mod.xfcc(sslobj, rt.own)
        if spec is not None and spec.kind == "gateway" and not self._choose_server(spec, sslobj):
            self.transport.abort()
            return
        if proxy.draining:  # taken as the proxy stops (a sniffed one): a request may still come
            self._arm(self.limits.drain_grace, self._idle)
        else:
            self._arm(self.limits.idle_timeout, self._idle)

    def _choose_server(self, spec: ListenerSpec, sslobj: Any) -> bool:
        tables = self.proxy.runtime.gateway_tables.get(spec.name, [])
        if sslobj is None:
            plain = [(s, t) for s, t in tables if s.tls is None]
            if plain:
                self.server, self.table = plain[0]
            return bool(plain)
        name = self.who.sni
        found = _sni_match(name, [(s, t) for s, t in tables if s.tls is not None])
        if found is None:
            return False
        self.server, self.table = found
        self.who.sni = name
        if self.server is not None and self.server.tls is not None:
            check = tls_mod.san_check(self.server.tls.subject_alt_names)
            if check is not None and check(sslobj) is not None:
                return False
        return True

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._refuse(501, "upgrade_not_supported", "protocol upgrades are not supported")
        except httptools.HttpParserError as exc:
            if not self.closing:
                cause = exc.__context__
                if isinstance(cause, _Refusal):
                    self._refuse(cause.status, cause.reason, cause.detail)
                else:
                    self._refuse(*_parser_refusal(exc))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closing = True
        self.proxy.connections.discard(self)
        self.deadline = 0.0
        if self.task is not None and not self.task.done():
            self.task.cancel()
        if self.write_paused is not None and not self.write_paused.done():
            self.write_paused.set_result(None)

    def pause_writing(self) -> None:
        if self.write_paused is None or self.write_paused.done():
            self.write_paused = asyncio.get_running_loop().create_future()
        if self.upstream is not None:
            self.upstream.pause()

    def resume_writing(self) -> None:
        if self.write_paused is not None and not self.write_paused.done():
            self.write_paused.set_result(None)
        if self.upstream is not None:
            self.upstream.resume()

    # timers ----------------------------------------------------------------------------------

    def _arm(self, seconds: float, action: Callable[[], None]) -> None:
        self.deadline = time.monotonic() + seconds
        self.on_deadline = action

    def _idle(self) -> None:
        if not self.busy and not self.in_message:
            self.close()

    def _slow(self) -> None:
        if self.in_message:
            self._refuse(408, "request_header_timeout", "request timeout")

    # the request parser ----------------------------------------------------------------------

    def on_message_begin(self) -> None:
        self.in_message = True
        self.url = b""
        self.raw = []
        self.header_bytes = 0
        self.body = []
        self.body_size = 0
        self.expect_continue = False
        self._arm(self.limits.header_timeout, self._slow)

    def on_url(self, url: bytes) -> None:
        self.url += url
        self.header_bytes += len(url)
        if self.header_bytes > self.limits.max_header_bytes:
            raise _Refusal(414, "uri_too_long", "URI too long")

    def on_header(self, name: bytes, value: bytes) -> None:
        self.header_bytes += len(name) + len(value) + 4
        raw = self.raw
        if self.header_bytes > self.limits.max_header_bytes:
            raise _Refusal(431, "headers_too_large", "request headers too large")
        if len(raw) >= self.limits.max_headers:
            raise _Refusal(431, "too_many_headers", "too many request headers")
        raw.append((name, value))

    def on_headers_complete(self) -> None:
        version = self.parser.get_http_version()
        if version not in ("1.0", "1.1"):  # a request line without a version is HTTP/0.9
            raise _Refusal(505, "http_version_not_supported", "HTTP version not supported")
        headers = self.headers = [
            (n.decode("latin-1").lower(), v.decode("latin-1")) for n, v in self.raw
        ]
        joined = self.map = dict(headers)
        if len(joined) != len(headers):  # a name given twice: its values joined with ","
            joined.clear()
            for k, v in headers:
                joined[k] = f"{joined[k]},{v}" if k in joined else v
        if (
            "content-length" not in joined
            and "transfer-encoding" not in joined
            and "expect" not in joined
            and (joined.get("host") or version == "1.0")
            and len(joined) == len(headers)
        ):  # the common case, checked at once
            self._arm(self.limits.request_timeout, self._slow)
            return
        hosts = [v for k, v in self.headers if k == "host"]
        if len(hosts) > 1:
            raise _Refusal(400, "duplicate_host", "more than one Host header")
        if version == "1.1" and not (hosts and hosts[0]):
            raise _Refusal(400, "missing_host", "missing Host header")
        lengths = [v for k, v in self.headers if k == "content-length"]
        if len(set(lengths)) > 1:  # llhttp refuses these first; kept for any parser
            raise _Refusal(400, "duplicate_content_length", "Content-Lengths that differ")
        chunked = any(k == "transfer-encoding" for k, _ in self.headers)
        if lengths and chunked:
            raise _Refusal(
                400, "ambiguous_length", "Content-Length together with Transfer-Encoding"
            )
        if chunked and version == "1.0":  # HTTP/1.0 has no chunked framing: its end is unsure
            raise _Refusal(400, "ambiguous_length", "Transfer-Encoding in an HTTP/1.0 request")
        if lengths and lengths[0].strip().isdigit() and int(lengths[0]) > self.limits.max_body:
            raise _Refusal(413, "request_payload_too_large", "request body too large")
        self._arm(self.limits.request_timeout, self._slow)
        self.expect_continue = any(
            k == "expect" and v.lower() == "100-continue" for k, v in self.headers
        )
        if self.expect_continue and self.transport is not None:
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, body: bytes) -> None:
        self.body_size += len(body)
        if self.body_size > self.limits.max_body:
            raise _Refusal(413, "request_payload_too_large", "request body too large")
        self.body.append(body)

    def on_message_complete(self) -> None:
        self.in_message = False
        parser = self.parser
        method = parser.get_method().decode("latin-1")
        version = parser.get_http_version()
        try:
            target = self.url.decode("utf-8")
        except UnicodeDecodeError:
            target = self.url.decode("latin-1")
        spec_port = self.spec.port if self.spec is not None else 0
        default_port = spec_port or (443 if self.scheme == "https" else 80)
        req = Request(
            method,
            target,
            version,
            self.headers,
            b"".join(self.body) if self.body else b"",
            self.scheme,
            default_port,
            parser.should_keep_alive(),
            self.map,
        )
        self.queue.append(req)
        if len(self.queue) >= self.limits.max_pipelined and self.transport is not None:
            self.transport.pause_reading()
        if not self.busy:
            self.busy = True
            self.task = asyncio.get_running_loop().create_task(self._serve())

    # answering -------------------------------------------------------------------------------

    async def _serve(self) -> None:
        try:
            while self.queue and not self.closing:
                req = self.queue.popleft()
                self.deadline = 0.0
                keep = await Exchange(self, self.proxy.runtime, req).run()
                if not keep:  # said so in the response (each one does once the proxy drains)
                    self.close()
                    return
                if self.transport is not None and not self.closing and self.refusal is None:
                    self.transport.resume_reading()
        finally:
            self.busy = False
            self.task = None
        if self.refusal is not None:  # the requests before it are answered: now its turn
            self._refuse(*self.refusal)
            return
        if not self.closing and not self.in_message:
            # a response sent as the proxy began to drain said the connection stays: the
            # client may send one more request, within the grace
            idle = self.limits.drain_grace if self.proxy.draining else self.limits.idle_timeout
            self._arm(idle, self._idle)

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.closing:
            self.transport.write(data)

    def close(self) -> None:
        if self.transport is not None and not self.closing:
            self.closing = True
            self.transport.close()

    def abort(self) -> None:
        self.closing = True
        if self.transport is not None:
            self.transport.abort()

    def drain(self) -> None:
        """Draining: a busy connection closes after its response, an idle one after the
        grace unless a request comes (it is answered, then the connection closes)."""
        if not self.busy and not self.in_message:
            self._arm(self.limits.drain_grace, self._idle)

    def _refuse(self, status: int, reason: str, detail: str) -> None:
        """A request that is not taken: a 4xx/5xx with its reason, counted and logged, then
        the connection closes (what follows on it cannot be trusted)."""
        if self.closing:
            return
        if self.busy:  # pipelined behind requests not yet answered: it waits its turn
            if self.refusal is None:
                self.refusal = (status, reason, detail)
                if self.transport is not None:
                    self.transport.pause_reading()
            return
        self.proxy.stats.reject(reason)
        rt = self.proxy.runtime
        side = "SERVER" if self._kind() == "inbound" else "CLIENT"
        if rt.loggers[side]:
            rec = Record()
            rec.method = self.parser.get_method().decode("latin-1") if self.url else "-"
            rec.path = self.url.decode("latin-1") if self.url else "-"
            rec.status = status
            rec.details = reason
            rec.downstream_remote = self.remote
            rec.downstream_local = self.local
            for logger in rt.loggers[side]:
                logger.write(rec)
        self.write(local_reply(status, detail, close=True))
        self.close()

    def _kind(self) -> str:
        return self.spec.kind if self.spec is not None else "outbound"


def _parser_refusal(exc: Exception) -> tuple[int, str, str]:
    """The status, reason and detail of a request the parser (llhttp) refuses."""
    text = str(exc)
    low = text.lower()
    if isinstance(
        exc, (httptools.HttpParserInvalidMethodError, httptools.HttpParserInvalidURLError)
    ):
        reason = "invalid_request_line"
    elif "can't be present with" in low:
        reason = "ambiguous_length"
    elif "duplicate content-length" in low:
        reason = "duplicate_content_length"
    elif "content-length" in low:
        reason = "invalid_content_length"
    elif "chunk" in low:
        reason = "invalid_chunk"
    elif "transfer-encoding" in low:
        reason = "invalid_transfer_encoding"
    elif "whitespace after header value" in low or "space after start line" in low:
        reason = "obs_fold"  # a header line that starts with a space or a tab
    elif "pri/upgrade" in low:
        return 505, "http_version_not_supported", "HTTP/2 is not supported"
    elif "http/" in low or "version" in low:
        reason = "invalid_request_line"
    elif "header" in low:
        reason = "invalid_header"
    else:
        reason = "codec_error"
    return 400, reason, f"bad request: {text}"


class _Refusal(Exception):
    def __init__(self, status: int, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.reason = reason
        self.detail = detail


_SNI: dict[int, str] = {}


# --------------------------------------------------------------------------------------------
# one request


class Attempt:
    """One try of a request on one upstream connection: receives its response."""

    __slots__ = ("chunks", "conn", "done", "ended", "head", "headers", "reset", "sink", "status")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.head: asyncio.Future[bool] = loop.create_future()
        self.done: asyncio.Future[bool] = loop.create_future()
        self.status = 0
        self.headers: list[tuple[str, str]] = []
        self.chunks: list[bytes] = []
        self.ended = False
        self.conn: Connection | None = None
        self.sink: Callable[[bytes], None] | None = None  # set once the response is committed
        self.reset = ""

    def on_head(self, status: int, headers: list[tuple[str, str]], conn: Connection) -> None:
        self.status = status
        self.headers = headers
        self.conn = conn
        if not self.head.done():
            self.head.set_result(True)

    def on_body(self, data: bytes) -> None:
        if self.sink is not None:
            self.sink(data)
        else:
            self.chunks.append(data)

    def on_end(self) -> None:
        self.ended = True
        if not self.done.done():
            self.done.set_result(True)

    def on_reset(self, reason: str) -> None:
        self.reset = reason
        if not self.head.done():
            self.head.set_result(False)
        if not self.done.done():
            self.done.set_result(False)


def _expire(fut: asyncio.Future[Any], value: Any) -> None:
    if not fut.done():
        fut.set_result(value)


class Exchange:
    """One request through the proxy, in Envoy's order; returns whether the connection
    stays open."""

    __slots__ = (
        "added_headers",
        "cluster",
        "conn",
        "details",
        "flags",
        "keep",
        "kind",
        "loop",
        "req",
        "request_headers_for_log",
        "response_headers",
        "retry_pool",
        "route_name",
        "rt",
        "sent",
        "service_time",
        "spec",
        "start",
        "status",
        "upstream_failure",
        "upstream_host",
        "upstream_local",
    )

    def __init__(self, conn: Downstream, rt: Runtime, req: Request) -> None:
        self.conn = conn
        self.rt = rt
        self.req = req
        self.loop = asyncio.get_running_loop()
        self.start = time.monotonic()
        self.spec = conn.spec
        self.kind = conn.spec.kind if conn.spec is not None else "outbound"
        self.route_name = ""
        self.cluster = ""
        self.status = 0
        self.flags = "-"
        self.details = "-"
        self.sent = 0
        self.upstream_host = ""
        self.upstream_local = ""
        self.upstream_failure = ""
        self.response_headers: list[tuple[str, str]] = []
        self.service_time: int | None = None
        self.retry_pool: Pool | None = None  # the pool whose retry budget this request holds
        self.keep = req.keep_alive
        self.added_headers: list[tuple[str, str]] = []  # by CORS and hash cookies
        self.request_headers_for_log: dict[str, str] = req.map

    # the whole exchange ----------------------------------------------------------------------

    async def run(self) -> bool:
        try:
            await self._run()
        except asyncio.CancelledError:  # the client went away (or the proxy stops)
            self._release_retry()
            self.keep = False
            self.conn.abort()
            raise
        except Exception:  # a bug of ours: the client gets a 500, the log says what
            log.exception("the proxy failed on %s %s", self.req.method, self.req.original_path)
            if not self.status:
                self.reply(500, "internal error", "internal_error", "-")
            self.keep = False
        finally:
            self._account()
        return self.keep

    async def _run(self) -> None:
        req = self.req
        kind = self.kind
        rt = self.rt
        if kind == "inbound":
            assert self.spec is not None and self.spec.inbound is not None
            if not self._policies():
                return
            inbound = self.spec.inbound
            if self.conn.xfcc is not None:
                given = req.map.get("x-forwarded-client-cert")
                req.set_header(
                    "x-forwarded-client-cert",
                    f"{given},{self.conn.xfcc}" if given else self.conn.xfcc,
                )
            else:
                req.remove_header("x-forwarded-client-cert")
            self.route_name = "default"
            cluster = rt.cluster(inbound.app_cluster)
            assert cluster is not None
            await self._forward(cluster, None, None, HeaderOps(), HeaderOps(), None)
            return
        vhost: CompiledHost | None
        if kind == "gateway":
            table = self.conn.table
            vhost = table.lookup(req.host) if table is not None else None
        else:
            vhost = rt.router.host(req.port, req.host)
        if kind == "gateway" and not self._policies():
            return
        if vhost is None:
            if kind == "outbound" and rt.plan.outbound_policy == "ALLOW_ANY":
                self.route_name = "allow_any"
                await self._forward(
                    rt.passthrough_cluster(req.host, req.port), None, None, HeaderOps(),
                    HeaderOps(), None,
                )  # fmt: skip
                return
            if kind == "outbound":
                self.route_name = "block_all"
                self.reply(502, "", "direct_response", "-")
                return
            self.reply(404, "", "route_not_found", "NR")
            return
        route = vhost.route(req)
        if route is None:
            self.reply(404, "", "route_not_found", "NR")
            return
        r = route.route
        self.route_name = r.name
        vh = vhost.vh
        if vh.require_tls and req.scheme != "https":
            host = req.authority
            name, port = split_host(host)
            if port in (80, 443):
                host = name
            self.reply(
                301, "", "direct_response", "-",
                [("location", f"https://{host}{req.target}")],
            )  # fmt: skip
            return
        if r.fault is not None and not await self._fault(r):
            return
        if r.cors is not None and not self._cors(route):
            return
        if r.redirect is not None:
            self._redirect(r)
            return
        if r.direct_response is not None:
            dr = r.direct_response
            body = dr.body.encode() if dr.body is not None else dr.body_bytes or b""
            self.reply(dr.status, body, "direct_response", "-", ops=r.response_headers)
            return
        if not route.destinations:
            self.reply(503, "no healthy upstream", "no_healthy_upstream", "UH")
            return
        await self._route(route, vh)

    # filters ---------------------------------------------------------------------------------

    def _policies(self) -> bool:
        """JWT, then authorization: False when the request was refused."""
        name = self.conn.listener
        who = self.conn.who
        jwt = self.rt.jwt.get(name)
        if jwt is not None and jwt.providers:
            who = Identity(who.principal, who.ip, None, None, who.sni)
            try:
                jwt.check(self.req, who)
            except JwtError as exc:
                self.reply(
                    401, str(exc), "jwt_authn_access_denied", "-",
                    [("www-authenticate", f'Bearer realm="http://{self.req.authority}'
                      f'{self.req.path}", error="invalid_token"')],
                )  # fmt: skip
                return False
        else:
            who = Identity(who.principal, who.ip, None, {}, who.sni)
        authz = self.rt.authz.get(name)
        if authz is not None and authz.enforced:
            verdict = authz.verdict(self.req, who)
            if not verdict.allowed:
                detail = f"rbac_access_denied_matched_policy[{verdict.by or 'none'}]"
                self.reply(403, "RBAC: access denied", detail, "-")
                return False
        return True

    async def _fault(self, r: Route) -> bool:
        fault = r.fault
        assert fault is not None
        if fault.delay is not None and random.random() * 100 < fault.delay.percent:
            await asyncio.sleep(fault.delay.seconds)
            self.flags = "DI"
        abort = fault.abort
        if abort is not None and random.random() * 100 < abort.percent:
            if abort.http_status is not None:
                self.reply(abort.http_status, "fault filter abort", "fault_filter_abort", "FI")
            else:
                self.reply(
                    200, "", "fault_filter_abort", "FI",
                    [("content-type", "application/grpc"),
                     ("grpc-status", str(abort.grpc_status or 0))],
                )  # fmt: skip
            return False
        return True

    def _cors(self, route: CompiledRoute) -> bool:
        """The route's CORS policy: False when the proxy answered a preflight itself."""
        policy = route.cors
        if policy is None:
            assert route.route.cors is not None
            policy = route.cors = CorsPolicy(route.route.cors)
        assert isinstance(policy, CorsPolicy)
        answer = policy.preflight(self.req)
        if answer is not None or policy.refused_preflight(self.req):
            self.reply(200, "", "cors_response", "-", answer or [])
            return False
        self.added_headers = policy.response(self.req)
        return True

    def _redirect(self, r: Route) -> None:
        rd = r.redirect
        assert rd is not None
        req = self.req
        scheme = rd.scheme or req.scheme
        if rd.authority:
            host = rd.authority
        else:
            host = req.authority
            if scheme != req.scheme:
                name, port = split_host(host)
                if port in (80, 443):
                    host = name
        if rd.port:
            host = f"{split_host(host)[0]}:{rd.port}"
        if rd.prefix is not None:
            match = r.match.path
            prefix = match.value if match is not None and match.kind == "prefix" else "/"
            path = rd.prefix + req.path[len(prefix) :]
        elif rd.path is not None:
            path = rd.path
        else:
            path = req.path
        if req.query and "?" not in path:
            path = f"{path}?{req.query}"
        self.reply(rd.code, "", "direct_response", "-", [("location", f"{scheme}://{host}{path}")])

    # the router ------------------------------------------------------------------------------

    async def _route(self, route: CompiledRoute, vh: VirtualHost) -> None:
        r = route.route
        rt = self.rt
        dest = route.pick(random.randrange)
        cluster = rt.cluster(dest.cluster)
        if cluster is None:
            self.cluster = dest.cluster
            self.reply(503, "no healthy upstream", "no_healthy_upstream", "UH")
            return
        if route.edits is not None:
            request_ops, response_ops, rewrite = route.edits
            first, then = request_ops, _NO_OPS
        else:
            rewrite = r.rewrite
            if dest.authority and (rewrite is None or rewrite.authority is None):
                from dataclasses import replace

                from meshlint.translate.plan import Rewrite

                rewrite = (
                    replace(rewrite, authority=dest.authority)
                    if rewrite
                    else Rewrite(authority=dest.authority)
                )
            # a weighted cluster's edits come first, the route's after (Envoy's order)
            first, then = dest.request_headers, r.request_headers
            response_ops = HeaderOps(
                dest.response_headers.set + r.response_headers.set,
                dest.response_headers.add + r.response_headers.add,
                dest.response_headers.remove + r.response_headers.remove,
            )
        req = self.req
        if rewrite is not None:
            if rewrite.prefix is not None or rewrite.regex is not None:
                req.set_header("x-envoy-original-path", req.target)
                if rewrite.regex is not None:
                    import re2

                    req.path = re2.sub(rewrite.regex[0], _substitution(rewrite.regex[1]), req.path)
                else:
                    match = r.match.path
                    if match is not None and match.kind == "exact":
                        req.path = rewrite.prefix or "/"
                    else:
                        prefix = (
                            match.value if match is not None and match.kind == "prefix" else "/"
                        )
                        req.path = (rewrite.prefix or "") + req.path[len(prefix) :]
            if rewrite.authority:
                req.set_header("host", rewrite.authority)
        key = self._hash(r) if r.hash_policy else None
        for m in r.mirrors:
            if m.percent >= 100 or random.random() * 100 < m.percent:
                target = rt.cluster(m.cluster)
                if target is not None:
                    self.conn.proxy.background(self._mirror(target, first, then))
        await self._forward(cluster, r, key, first, then, response_ops)

    def _hash(self, r: Route) -> int | None:
        req = self.req
        for h in r.hash_policy:
            value: str | None = None
            if h.header:
                value = req.map.get(h.header.lower())
            elif h.cookie:
                jar = req.map.get("cookie", "")
                for part in jar.split(";"):
                    k, _, v = part.strip().partition("=")
                    if k == h.cookie:
                        value = v.strip('"')
                        break
                if value is None and h.cookie_ttl is not None:
                    # no cookie yet: one is made, and given to the client with the response
                    value = uuid.uuid4().hex[:16]
                    cookie = f'{h.cookie}="{value}"; Max-Age={int(h.cookie_ttl)}'
                    if h.cookie_path:
                        cookie += f"; Path={h.cookie_path}"
                    self.added_headers = [
                        *self.added_headers,
                        ("set-cookie", cookie + "; HttpOnly"),
                    ]
            elif h.query_parameter:
                value = req.query_params().get(h.query_parameter)
            elif h.source_ip:
                value = self.conn.who.ip
            if value is not None:
                return hash_key(value)
        return None

    def _upstream_head(self, first: HeaderOps, then: HeaderOps, attempt: int) -> bytes:
        req = self.req
        names: Any = req.map
        # the body is sent whole, framed by a Content-Length of the proxy's own
        if HOP_BY_HOP.isdisjoint(names) and "content-length" not in names:
            headers = list(req.headers)
        else:
            headers = [
                (k, v) for k, v in req.headers if k not in HOP_BY_HOP and k != "content-length"
            ]
        for ops in (first, then):
            if not ops:
                continue
            drop = {k.lower() for k in ops.remove} | {k.lower() for k, _ in ops.set}
            headers = [(k, v) for k, v in headers if k not in drop]
            headers.extend((k.lower(), v) for k, v in ops.set)
            headers.extend((k.lower(), v) for k, v in ops.add)
            names = None
        if names is None:
            names = {k for k, _ in headers}
        if "x-request-id" not in names:
            headers.append(("x-request-id", str(uuid.uuid4())))
        if "x-forwarded-proto" not in names:
            headers.append(("x-forwarded-proto", req.scheme))
        headers.append(("x-envoy-attempt-count", str(attempt)))
        if self.kind == "gateway":
            ip = self.conn.who.ip
            given = req.map.get("x-forwarded-for")
            headers = [(k, v) for k, v in headers if k != "x-forwarded-for"]
            headers.append(("x-forwarded-for", f"{given}, {ip}" if given else ip))
        body = req.body
        if body or req.method in ("POST", "PUT", "PATCH"):
            headers.append(("content-length", str(len(body))))
        text = "".join([f"{k}: {v}\r\n" for k, v in headers])
        if self.rt.loggers["SERVER" if self.kind == "inbound" else "CLIENT"]:
            self.request_headers_for_log = dict(headers)
        data = f"{req.method} {req.target} HTTP/1.1\r\n{text}\r\n".encode("latin-1", "replace")
        return data + body if body else data

    async def _mirror(self, cluster: ClusterRuntime, first: HeaderOps, then: HeaderOps) -> None:
        host = cluster.balancer.choose(None)
        if host is None:
            return
        data = self._upstream_head(first, then, 1)
        try:
            conn = await cluster.pool.acquire(host)
        except (Overflow, ConnectFailure):
            return
        attempt = Attempt(self.loop)
        attempt.sink = lambda _: None
        conn.send(data, attempt, head_only=self.req.method == "HEAD")
        try:
            await asyncio.wait_for(attempt.done, 60.0)
        except asyncio.TimeoutError:
            conn.abandon()
        finally:
            cluster.pool.done()
        self.rt.stats.count(cluster.name, "upstream_rq_shadow")

    async def _forward(
        self,
        cluster: ClusterRuntime,
        r: Route | None,
        key: int | None,
        first: HeaderOps,
        then: HeaderOps,
        response_ops: HeaderOps | None,
    ) -> None:
        """The router: endpoints tried as the retry policy allows, the response streamed."""
        self.cluster = cluster.name
        stats = self.rt.stats
        policy = r.retry if r is not None else None
        timeout = r.timeout if r is not None else 0.0
        deadline = self.start + timeout if timeout else None
        per_try = policy.per_try_timeout if policy is not None else None
        retries_left = policy.attempts if policy is not None else 0
        tried: list[Host] = []
        pool = cluster.pool
        n = 0
        retrying = False
        while True:
            n += 1
            avoid = tried if policy is not None and policy.previous_hosts else ()
            host = cluster.balancer.choose(key, avoid)
            if host is None:
                self._release_retry()
                self.reply(503, "no healthy upstream", "no_healthy_upstream", "UH")
                return
            self.upstream_host = host.name
            tried.append(host)
            outcome, attempt = await self._try(
                cluster, host, self._upstream_head(first, then, n), per_try, deadline
            )
            if outcome == "overflow":
                self._release_retry()
                stats.count(cluster.name, "upstream_rq_pending_overflow")
                self.reply(
                    503,
                    "upstream connect error or disconnect/reset before headers. "
                    "reset reason: overflow",
                    "upstream_reset_before_response_started{overflow}", "UO",
                    [("x-envoy-overloaded", "true")],
                )  # fmt: skip
                return
            if outcome == "timeout":  # the route's timeout: no more tries
                self._release_retry()
                stats.count(cluster.name, "upstream_rq_timeout")
                self.reply(504, "upstream request timeout", "response_timeout", "UT")
                return
            status = attempt.status if outcome == "response" else None
            ejections = host.ejections
            cluster.balancer.report(host, status)
            if host.ejections != ejections:  # this try ejected it (not: it was ejected before)
                stats.count(cluster.name, "outlier_detection.ejections_enforced_total")
            retry = (
                policy is not None
                and retries_left > 0
                and _retriable(policy.retry_on, policy.status_codes, outcome, attempt)
            )
            if retry and pool.max_retries and pool.retries >= pool.max_retries and not retrying:
                stats.count(cluster.name, "upstream_rq_retry_overflow")
                retry = False
            if retry:
                if outcome == "response" and attempt.conn is not None:
                    attempt.conn.abandon()  # the body of a response retried is not wanted
                    pool.done()
                retries_left -= 1
                stats.count(cluster.name, "upstream_rq_retry")
                if not retrying:
                    pool.retries += 1
                    retrying = True
                    self.retry_pool = pool
                base = policy.backoff if policy is not None and policy.backoff else RETRY_BASE
                wait = random.random() * min(base * ((1 << n) - 1), base * 10)
                if deadline is not None and time.monotonic() + wait >= deadline:
                    wait = max(0.0, deadline - time.monotonic())
                await asyncio.sleep(wait)
                if deadline is not None and time.monotonic() >= deadline:
                    self._release_retry()
                    stats.count(cluster.name, "upstream_rq_timeout")
                    self.reply(504, "upstream request timeout", "response_timeout", "UT")
                    return
                continue
            self._release_retry()
            if outcome == "response":
                await self._respond(cluster, attempt, response_ops, deadline)
                return
            if outcome == "per_try_timeout":
                stats.count(cluster.name, "upstream_rq_per_try_timeout")
                self.reply(504, "upstream request timeout", "upstream_per_try_timeout", "UT")
                return
            reason = attempt.reset or "connection failure"
            flag = "UF" if outcome == "connect" else "UC"
            status = 503
            if reason == "protocol error":  # the upstream's answer is not HTTP: a bad gateway
                status, flag = 502, "UPE"
            self.reply(
                status,
                f"upstream connect error or disconnect/reset before headers. reset reason: {reason}"
                + (f", transport failure reason: {self.upstream_failure}" if self.upstream_failure else ""),
                f"upstream_reset_before_response_started{{{reason.replace(' ', '_')}}}", flag,
            )  # fmt: skip
            return

    def _release_retry(self) -> None:
        if self.retry_pool is not None:
            self.retry_pool.retries -= 1
            self.retry_pool = None

    async def _try(
        self,
        cluster: ClusterRuntime,
        host: Host,
        data: bytes,
        per_try: float | None,
        deadline: float | None,
    ) -> tuple[str, Attempt]:
        """One try: (outcome, attempt); outcome is response, connect, reset, per_try_timeout,
        timeout (the route's) or overflow."""
        loop = self.loop
        attempt = Attempt(loop)
        pool = cluster.pool
        end = deadline
        if per_try:
            now = time.monotonic()
            if end is None or now + per_try < end:
                end = now + per_try
        try:
            conn = pool.take_idle(host)  # most often: no waiting, no task
            if conn is not None:
                pass
            elif end is None:
                conn = await pool.acquire(host)
            else:
                conn = await asyncio.wait_for(pool.acquire(host), max(0.0, end - time.monotonic()))
        except Overflow:
            return "overflow", attempt
        except ConnectFailure as exc:
            attempt.reset = "connection failure"
            if exc.reason.startswith("TLS"):
                self.upstream_failure = exc.reason
            return "connect", attempt
        except asyncio.TimeoutError:
            timed_out = "timeout" if deadline is not None and end == deadline else "per_try_timeout"
            return timed_out, attempt
        host.active += 1
        self.upstream_local = conn.local
        conn.send(data, attempt, head_only=self.req.method == "HEAD")
        timer = None
        if end is not None:
            timer = loop.call_later(max(0.0, end - time.monotonic()), _expire, attempt.head, None)
        try:
            got = await attempt.head
        except asyncio.CancelledError:  # the client went away: its upstream request goes too
            conn.abandon()
            pool.done()
            raise
        finally:
            if timer is not None:
                timer.cancel()
            host.active -= 1
        if got is None:  # the timer fired
            conn.abandon()
            pool.done()
            if deadline is not None and end == deadline:
                return "timeout", attempt
            return "per_try_timeout", attempt
        if not got:
            pool.done()
            return "reset", attempt
        return "response", attempt

    async def _respond(
        self,
        cluster: ClusterRuntime,
        attempt: Attempt,
        ops: HeaderOps | None,
        deadline: float | None,
    ) -> None:
        """Commit the upstream's response and stream its body to the client."""
        conn = self.conn
        req = self.req
        status = attempt.status
        headers = [(k, v) for k, v in attempt.headers if k not in HOP_BY_HOP]
        if ops:
            drop = {k.lower() for k in ops.remove} | {k.lower() for k, _ in ops.set}
            headers = [(k, v) for k, v in headers if k not in drop]
            headers.extend((k.lower(), v) for k, v in ops.set)
            headers.extend((k.lower(), v) for k, v in ops.add)
        self.service_time = int((time.monotonic() - self.start) * 1000)
        headers.append(("x-envoy-upstream-service-time", str(self.service_time)))
        if self.added_headers:
            headers.extend(self.added_headers)
        bodyless = req.method == "HEAD" or status in NO_BODY_STATUS
        length = next((v for k, v in headers if k == "content-length"), None)
        chunked = False
        if not bodyless and length is None:
            if attempt.ended:
                size = sum(len(c) for c in attempt.chunks)
                headers.append(("content-length", str(size)))
            elif req.version == "1.1":
                headers.append(("transfer-encoding", "chunked"))
                chunked = True
            else:
                self.keep = False
        self._connection_header(headers)
        self.status = status
        self.response_headers = headers
        self.details = "via_upstream"
        data = head(status, headers)
        pending = b"".join(attempt.chunks)
        attempt.chunks = []
        if pending and not bodyless:
            data += _chunk(pending) if chunked else pending
        self.sent += len(pending)
        conn.write(data)
        conn.upstream = attempt.conn

        def sink(body: bytes) -> None:
            self.sent += len(body)
            if not bodyless:
                conn.write(_chunk(body) if chunked else body)

        attempt.sink = sink
        try:
            if not attempt.ended:
                if deadline is None:
                    complete = await attempt.done
                else:
                    timer = self.loop.call_later(
                        max(0.0, deadline - time.monotonic()), _expire, attempt.done, None
                    )
                    try:
                        complete = await attempt.done
                    finally:
                        timer.cancel()
                if not complete:  # reset or timed out mid-body: the client's response is cut
                    if attempt.conn is not None:
                        attempt.conn.abandon()
                    self.flags = "UR" if complete is False else "UT"
                    self.keep = False
                    conn.abort()
                    return
            if chunked:
                conn.write(b"0\r\n\r\n")
            if conn.write_paused is not None:
                await conn.write_paused
        except asyncio.CancelledError:  # the client went away mid-body: so does the upstream's
            if attempt.conn is not None and not attempt.ended:
                attempt.conn.abandon()
            raise
        finally:
            conn.upstream = None
            cluster.pool.done()

    # local replies ---------------------------------------------------------------------------

    def reply(
        self,
        status: int,
        body: str | bytes,
        details: str,
        flags: str,
        extra: list[tuple[str, str]] | None = None,
        *,
        ops: HeaderOps | None = None,
    ) -> None:
        self.status = status
        self.details = details
        self.flags = flags
        headers = list(extra or []) + self.added_headers
        if ops:
            drop = {k.lower() for k in ops.remove}
            headers = [(k, v) for k, v in headers if k not in drop]
            headers.extend((k.lower(), v) for k, v in ops.set)
            headers.extend((k.lower(), v) for k, v in ops.add)
        headers = [(k, v) for k, v in headers if k != "connection"]
        self._connection_header(headers)
        data = local_reply(status, body, headers, head_only=self.req.method == "HEAD")
        self.response_headers = headers
        self.sent = len(body)
        self.conn.write(data)

    def _connection_header(self, headers: list[tuple[str, str]]) -> None:
        """Say whether the connection stays: closed once the proxy drains; kept for an
        HTTP/1.0 client only when it asked (and then said so, as HTTP/1.0 wants)."""
        if self.conn.proxy.draining:
            self.keep = False
        if not self.keep:
            headers.append(("connection", "close"))
        elif self.req.version == "1.0":
            headers.append(("connection", "keep-alive"))

    # accounting ------------------------------------------------------------------------------

    def _account(self) -> None:
        rt = self.rt
        elapsed = time.monotonic() - self.start
        rt.stats.request(
            self.conn.listener, self.route_name, self.cluster, self.status, elapsed * 1000
        )
        side = "SERVER" if self.kind == "inbound" else "CLIENT"
        loggers = rt.loggers[side]
        if not loggers:
            return
        req = self.req
        rec = Record()
        rec.start = time.time() - elapsed
        rec.method = req.method
        rec.path = req.original_path
        rec.protocol = f"HTTP/{req.version}"
        rec.request_headers = self.request_headers_for_log
        rec.authority = req.authority
        rec.status = self.status
        rec.flags = self.flags
        rec.details = self.details
        rec.bytes_received = len(req.body)
        rec.bytes_sent = self.sent
        rec.duration = elapsed
        rec.response_headers = dict(self.response_headers)
        rec.upstream_host = self.upstream_host
        rec.upstream_cluster = self.cluster
        rec.upstream_local = self.upstream_local
        rec.downstream_local = self.conn.local
        rec.downstream_remote = self.conn.remote
        rec.server_name = self.conn.who.sni or ""
        rec.route = self.route_name
        rec.upstream_failure = self.upstream_failure
        for logger in loggers:
            logger.write(rec)


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def _substitution(text: str) -> str:
    # Envoy's substitution writes groups as \1; Python's re2 module reads the same
    return text


def _retriable(
    retry_on: tuple[str, ...], codes: tuple[int, ...], outcome: str, attempt: Attempt
) -> bool:
    if outcome == "connect":
        return any(x in retry_on for x in ("5xx", "gateway-error", "connect-failure", "reset"))
    if outcome in ("reset", "per_try_timeout"):
        return any(x in retry_on for x in ("5xx", "gateway-error", "reset"))
    if outcome != "response":
        return False
    status = attempt.status
    if status >= 500 and "5xx" in retry_on:
        return True
    if status in (502, 503, 504) and "gateway-error" in retry_on:
        return True
    if status == 409 and "retriable-4xx" in retry_on:
        return True
    if "retriable-status-codes" in retry_on and status in codes:
        return True
    grpc = next((v for k, v in attempt.headers if k == "grpc-status"), None)
    if grpc is not None:
        return any(GRPC_RETRY.get(x) == grpc for x in retry_on)
    return False
