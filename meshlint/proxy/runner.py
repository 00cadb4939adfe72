"""The proxy as a process: it starts its listeners and the admin listener, reloads on SIGHUP
or when a watched file changes (without dropping a connection), drains on SIGTERM or SIGINT
(the requests in flight finish within a deadline), and with ``workers`` > 1 runs that many
processes on the same ports (SO_REUSEPORT), with one admin listener that adds up their stats.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from meshlint.proxy.admin import Admin, AdminProtocol
from meshlint.proxy.server import Limits, Proxy
from meshlint.proxy.telemetry import Stats
from meshlint.translate.plan import Plan

log = logging.getLogger("meshlint.proxy")

Loader = Callable[[], Plan]
Announce = Callable[[str], None]


class StartError(Exception):
    """The proxy cannot start (an address in use, certificates that do not load)."""


@dataclass
class Options:
    limits: Limits = field(default_factory=Limits)
    workers: int = 1
    drain_timeout: float = 10.0  # how long requests in flight may take once told to stop
    watch: Callable[[], dict[str, float]] | None = None  # files and their mtimes
    watch_interval: float = 1.0


LOOP_ENV = "MESHLINT_PROXY_LOOP"  # asyncio: asyncio's own event loop even with uvloop installed


def use_uvloop() -> bool:
    """uvloop's event loop when it is installed (`pip install meshlint[fast]`), unless
    ``MESHLINT_PROXY_LOOP=asyncio`` asks for asyncio's own (``uvloop`` requires uvloop)."""
    wanted = os.environ.get(LOOP_ENV, "").strip().lower()
    if wanted not in ("", "auto", "asyncio", "uvloop"):
        raise StartError(f"{LOOP_ENV} takes asyncio or uvloop; got {wanted!r}")
    if wanted == "asyncio":
        return False
    try:
        import uvloop
    except ImportError:
        if wanted == "uvloop":
            raise StartError(
                f"{LOOP_ENV}=uvloop: uvloop is not installed (pip install meshlint[fast])"
            ) from None
        return False
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return True


def loop_name() -> str:
    """The event loop running this process's listeners: uvloop or asyncio."""
    module = type(asyncio.get_running_loop()).__module__
    return "uvloop" if module.startswith("uvloop") else "asyncio"


def _settle() -> None:
    """Collect once, then keep what the config built (the Plan, the compiled routes, the
    modules) out of the collector's way: a full collection would otherwise walk it all again and
    again while requests wait. Called after each (re)load, so an old config does not stay."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


def describe(plan: Plan, proxy: Proxy) -> str:
    ident = plan.identity
    parts = [f"{s.kind} {s.address[0]}:{s.address[1]}" for s in proxy.runtime.listeners]
    return (
        f"meshlint proxy: serving the {ident.kind} {ident.namespace}/{ident.name} "
        f"({', '.join(parts) or 'no listener'}; admin {plan.admin[0]}:{plan.admin[1]})"
    )


def serve(load: Loader, options: Options, announce: Announce) -> int:
    """Run the proxy until it is told to stop; the exit status."""
    plan = load()
    use_uvloop()
    if options.workers > 1:
        return _supervise(load, plan, options, announce)
    return asyncio.run(_run(load, plan, options, announce, None))


async def _run(
    load: Loader,
    plan: Plan,
    options: Options,
    announce: Announce,
    control: socket.socket | None,
) -> int:
    loop = asyncio.get_running_loop()
    proxy = Proxy(plan, options.limits, reuse_port=control is not None)
    if control is None:  # a clear error naming the address (a supervisor checked its own)
        for spec in proxy.runtime.listeners:
            _probe(spec.address)
        _probe(plan.admin)
    try:
        await proxy.start()
    except OSError as exc:
        raise StartError(f"cannot listen: {exc.strerror or exc}") from None
    _settle()
    stop = asyncio.Event()
    state = {"plan": plan}
    admin_server = None
    if control is None:
        admin = Admin(
            ready=lambda: proxy.started and not proxy.draining,
            stats=proxy.stats.envoy_names,
            prometheus=proxy.stats.prometheus,
            config=lambda: _config(state["plan"]),
            clusters=lambda: _clusters_text(_cluster_rows(proxy)),
            quit=stop.set,
            info=lambda: {
                "state": "DRAINING" if proxy.draining else "LIVE",
                "pid": os.getpid(),
                "workers": [{"index": 0, **_own_info(proxy)}],
            },
        )
        try:
            admin_server = await loop.create_server(
                lambda: AdminProtocol(admin), plan.admin[0], plan.admin[1], reuse_address=True
            )
        except OSError as exc:
            raise StartError(
                f"cannot listen on the admin address {plan.admin[0]}:{plan.admin[1]}: "
                f"{exc.strerror or exc}"
            ) from None
        announce(describe(plan, proxy))
        for line in proxy.runtime.skipped:
            announce(f"meshlint proxy: not served: {line}")
    else:
        loop.add_reader(control.fileno(), _answer, control, proxy)

    async def reload(why: str) -> None:
        try:
            fresh = await loop.run_in_executor(None, load)
        except Exception as exc:
            announce(f"meshlint proxy: reload ({why}) failed, the running config stays: {exc}")
            return
        try:
            again = proxy.reload(fresh)
            await proxy.rebind(again)
        except Exception as exc:
            announce(f"meshlint proxy: reload ({why}) failed, the running config stays: {exc}")
            return
        state["plan"] = fresh
        _settle()
        if control is None:
            announce(f"meshlint proxy: reloaded ({why})")

    pending: set[asyncio.Task[None]] = set()

    def start_reload(why: str) -> None:
        task = loop.create_task(reload(why))
        pending.add(task)
        task.add_done_callback(pending.discard)

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, start_reload, "SIGHUP")
    watcher = None
    if options.watch is not None and control is None:
        watcher = loop.create_task(_watch(options, start_reload))
    await stop.wait()
    if watcher is not None:
        watcher.cancel()
    clean = await proxy.drain(time.monotonic() + options.drain_timeout)
    if admin_server is not None:
        admin_server.close()
    if control is None:
        announce(
            "meshlint proxy: stopped"
            + ("" if clean else " (requests still in flight at the drain deadline were cut)")
        )
    return 0


async def _watch(options: Options, reload: Callable[[str], None]) -> None:
    assert options.watch is not None
    seen = options.watch()
    while True:
        await asyncio.sleep(options.watch_interval)
        try:
            now = options.watch()
        except Exception:  # the files are looked at again next time
            continue
        if now != seen:
            why = _changed(now, seen)
            seen = now
            reload(why)


def _changed(now: dict[str, float], seen: dict[str, float]) -> str:
    changed = sorted(k for k in set(now) | set(seen) if now.get(k) != seen.get(k))
    return f"{', '.join(changed[:3])}{' …' if len(changed) > 3 else ''} changed"


def _config(plan: Plan) -> dict[str, Any]:
    from meshlint.translate import proxy as proxy_config

    return proxy_config.render(plan)


ClusterRow = tuple[str, str, bool, int]  # cluster, endpoint, ejected, requests active


def _cluster_rows(proxy: Proxy) -> list[ClusterRow]:
    return [
        (name, h.name, bool(h.ejected_until), h.active)
        for name, c in sorted(proxy.runtime.clusters.items())
        for h in c.balancer.hosts
    ]


def _clusters_text(rows: list[ClusterRow]) -> str:
    lines = []
    for name, host, ejected, active in rows:
        lines.append(f"{name}::{host}::health_flags::{'ejected' if ejected else 'healthy'}")
        lines.append(f"{name}::{host}::rq_active::{active}")
    return "\n".join(lines) + "\n"


def _own_info(proxy: Proxy) -> dict[str, Any]:
    """What one serving process says of itself on ``/server_info``."""
    return {"pid": os.getpid(), "loop": loop_name(), "requests": sum(proxy.stats.requests.values())}


def _answer(control: socket.socket, proxy: Proxy) -> None:
    """A worker answers its supervisor: ``stats``, ``ready``, ``info`` or ``clusters``, one
    line each."""
    try:
        data = control.recv(64)
    except BlockingIOError:
        return
    except OSError:
        data = b""
    if not data:  # the supervisor is gone: stop
        os.kill(os.getpid(), signal.SIGTERM)
        return
    for line in data.decode().split("\n"):
        if line == "stats":
            reply = json.dumps(proxy.stats.to_data())
        elif line == "ready":
            reply = json.dumps(proxy.started and not proxy.draining)
        elif line == "info":
            reply = json.dumps(_own_info(proxy))
        elif line == "clusters":
            reply = json.dumps(_cluster_rows(proxy))
        else:
            continue
        control.setblocking(True)
        try:
            control.sendall(reply.encode() + b"\n")
        finally:
            control.setblocking(False)


# --------------------------------------------------------------------------------------------
# workers


class _Worker:
    def __init__(self, index: int, pid: int, control: socket.socket) -> None:
        self.index = index
        self.pid = pid
        self.control = control
        self.lock = threading.Lock()

    def ask(self, what: str) -> Any:
        with self.lock:
            try:
                self.control.sendall(what.encode() + b"\n")
                self.control.settimeout(5.0)
                buf = b""
                while not buf.endswith(b"\n"):
                    chunk = self.control.recv(65536)
                    if not chunk:
                        return None
                    buf += chunk
                return json.loads(buf)
            except (OSError, ValueError):
                return None


def _fork_worker(index: int, load: Loader, plan: Plan, options: Options) -> _Worker:
    parent_end, child_end = socket.socketpair()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the worker
        parent_end.close()
        code = 1
        try:
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                signal.signal(sig, signal.SIG_DFL)
            child_end.setblocking(False)
            use_uvloop()
            code = asyncio.run(_run(load, plan, options, lambda _: None, child_end))
        except BaseException as exc:
            if not isinstance(exc, (KeyboardInterrupt, SystemExit)):
                print(f"meshlint proxy: worker {index} stopped: {exc}", file=sys.stderr)
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    child_end.close()
    return _Worker(index, pid, parent_end)


def _supervise(load: Loader, plan: Plan, options: Options, announce: Announce) -> int:
    # Check that the ports can be taken before the workers start (a clear error, once).
    probe = Proxy(plan, options.limits, reuse_port=True)
    for spec in probe.runtime.listeners:
        _probe(spec.address)
    _probe(plan.admin)
    workers = [_fork_worker(i, load, plan, options) for i in range(options.workers)]
    # the Plan served (a worker started again serves it too) and the reload asked for, if any
    state: dict[str, Any] = {"plan": plan, "stopping": False, "reload": ""}

    def stats() -> Stats:
        total = Stats()
        for w in workers:
            data = w.ask("stats")
            if data is not None:
                total.merge(data)
        return total

    def clusters() -> str:
        # an endpoint is ejected when a worker ejected it; its requests are the workers' sum
        merged: dict[tuple[str, str], tuple[bool, int]] = {}
        for w in list(workers):
            for name, host, ejected, active in w.ask("clusters") or []:
                was = merged.get((name, host), (False, 0))
                merged[(name, host)] = (was[0] or ejected, was[1] + active)
        return _clusters_text([(*k, *v) for k, v in merged.items()])

    def info() -> dict[str, Any]:
        return {
            "state": "DRAINING" if state["stopping"] else "LIVE",
            "pid": os.getpid(),
            "workers": [
                {"index": w.index, "pid": w.pid, **(w.ask("info") or {"state": "not answering"})}
                for w in list(workers)
            ],
        }

    def quit() -> None:
        state["stopping"] = True

    admin = Admin(
        ready=lambda: not state["stopping"] and all(w.ask("ready") for w in workers),
        stats=lambda: stats().envoy_names(),
        prometheus=lambda: stats().prometheus(),
        config=lambda: _config(state["plan"]),
        clusters=clusters,
        quit=quit,
        info=info,
    )
    server = _admin_thread(admin, plan.admin)
    announce(
        f"meshlint proxy: serving the {plan.identity.kind} {plan.identity.namespace}/"
        f"{plan.identity.name} with {options.workers} workers (admin {plan.admin[0]}:"
        f"{plan.admin[1]})"
    )
    signal.signal(signal.SIGTERM, lambda *_: quit())
    signal.signal(signal.SIGINT, lambda *_: quit())
    signal.signal(signal.SIGHUP, lambda *_: state.update(reload="SIGHUP"))
    seen = options.watch() if options.watch is not None else {}
    last_watch = time.monotonic()
    try:
        while not state["stopping"]:
            time.sleep(0.1)
            if state["reload"]:
                why, state["reload"] = state["reload"], ""
                try:  # the workers load it too; a config that does not load stays with us
                    state["plan"] = load()
                except Exception as exc:
                    announce(
                        f"meshlint proxy: reload ({why}) failed, the running config stays: {exc}"
                    )
                else:
                    for w in workers:
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(w.pid, signal.SIGHUP)
                    announce(f"meshlint proxy: reloaded ({why})")
            if options.watch is not None and time.monotonic() - last_watch > options.watch_interval:
                last_watch = time.monotonic()
                try:
                    now = options.watch()
                except Exception:
                    now = seen
                if now != seen:
                    state["reload"] = _changed(now, seen)
                    seen = now
            for w in list(workers):
                done, _ = os.waitpid(w.pid, os.WNOHANG)
                if done and not state["stopping"]:
                    announce(f"meshlint proxy: worker {w.index} exited; starting it again")
                    w.control.close()
                    workers[workers.index(w)] = _fork_worker(w.index, load, state["plan"], options)
    finally:
        for w in workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(w.pid, signal.SIGTERM)
        deadline = time.monotonic() + options.drain_timeout + 5
        for w in workers:
            while time.monotonic() < deadline:
                done, _ = os.waitpid(w.pid, os.WNOHANG)
                if done:
                    break
                time.sleep(0.05)
            else:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(w.pid, signal.SIGKILL)
                os.waitpid(w.pid, 0)
        server.shutdown()
        announce("meshlint proxy: stopped")
    return 0


def _probe(address: tuple[str, int]) -> None:
    family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(address)
        except OSError as exc:
            raise StartError(
                f"cannot listen on {address[0]}:{address[1]}: {exc.strerror or exc}"
            ) from None


def _admin_thread(admin: Admin, address: tuple[str, int]) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def _answer(self) -> None:
            status, body, kind = admin.answer(self.command, self.path)
            data = body.encode()
            self.send_response(status)
            self.send_header("content-type", kind)
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _answer

    server = ThreadingHTTPServer(address, Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
