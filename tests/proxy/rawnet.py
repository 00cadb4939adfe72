"""Raw TCP on 127.0.0.1 for the fault scenarios: backends that misbehave on purpose (reset in
the middle of a response, never answer, answer one byte at a time) and a client that writes
exact bytes and reads exactly what comes back.

A raw backend is a :class:`harness.Backend` (a Mesh takes it as one) whose requests are
answered by ``behaviour(backend, sock, path)``; each connection runs on its own thread, every
socket has a timeout, and :meth:`RawBackend.stop` closes them all and joins the threads.
"""

from __future__ import annotations

import contextlib
import http.client
import io
import select
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from harness import Backend

HEAD_LIMIT = 64 * 1024
STEP = 0.2  # how long a blocking call of a backend thread waits before it checks for stop

Behaviour = Callable[["RawBackend", socket.socket, str], bool]  # True: keep the connection


@dataclass
class RawBackend(Backend):
    """A backend that answers each request with ``behaviour`` (by default a 200 whose body is
    the instance and the path). ``abandoned`` counts the requests whose connection the client
    closed before they were answered."""

    behaviour: Behaviour | None = None
    abandoned: int = 0
    _listener: socket.socket | None = None
    _stopping: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _open: set[socket.socket] = field(default_factory=set)

    def start(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.listen or 0))
        listener.listen(128)
        listener.settimeout(STEP)
        self._listener = listener
        self.listen = listener.getsockname()[1]
        self._stopping.clear()
        self._spawn(self._accept)

    def stop(self) -> None:
        self._stopping.set()
        with self._lock:
            for sock in list(self._open):
                _close(sock)
        for t in list(self._threads):
            t.join(2 * STEP + 1)
        if self._listener is not None:
            self._listener.close()
            self._listener = None

    def _spawn(self, target: Callable[..., None], *args: object) -> None:
        t = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(t)
        t.start()

    def _accept(self) -> None:
        assert self._listener is not None
        while not self._stopping.is_set():
            try:
                sock, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            sock.settimeout(STEP)
            with self._lock:
                self._open.add(sock)
            self._spawn(self._serve, sock)

    def _serve(self, sock: socket.socket) -> None:
        buffer = b""
        try:
            while not self._stopping.is_set():
                head, buffer = self._read_head(sock, buffer)
                if head is None:
                    return
                path = head.split(b" ", 2)[1].decode("latin-1") if b" " in head else "/"
                with self._lock:
                    self.received.append({"path": path, "head": head.decode("latin-1")})
                behaviour = self.behaviour or answer_ok
                if not behaviour(self, sock, path):
                    return
        except OSError:
            return
        finally:
            with self._lock:
                self._open.discard(sock)
            _close(sock)

    def _read_head(self, sock: socket.socket, buffer: bytes) -> tuple[bytes | None, bytes]:
        """A request's head (its body, if any, is not read: the scenarios send none)."""
        while b"\r\n\r\n" not in buffer:
            if self._stopping.is_set() or len(buffer) > HEAD_LIMIT:
                return None, buffer
            try:
                data = sock.recv(65536)
            except TimeoutError:
                continue
            if not data:
                return None, buffer
            buffer += data
        head, _, rest = buffer.partition(b"\r\n\r\n")
        return head, rest

    def wait_closed(self, sock: socket.socket, seconds: float) -> bool:
        """Wait (at most ``seconds``) for the client to close ``sock``; True when it did."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not self._stopping.is_set():
            try:
                if not sock.recv(65536):
                    return True
            except TimeoutError:
                continue
            except OSError:
                return True
        return False


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


# --------------------------------------------------------------------------------------------
# behaviours


def response_head(backend: RawBackend, length: int | None, *, status: int = 200) -> bytes:
    framing = f"content-length: {length}\r\n" if length is not None else ""
    return (
        f"HTTP/1.1 {status} OK\r\ncontent-type: text/plain\r\n{framing}"
        f"x-instance: {backend.name}\r\n\r\n"
    ).encode()


def answer_ok(backend: RawBackend, sock: socket.socket, path: str) -> bool:
    body = f"{backend.name} {path}".encode()
    sock.sendall(response_head(backend, len(body)) + body)
    return True


def reset_mid_body(total: int, sent: int) -> Behaviour:
    """Headers that promise ``total`` bytes, ``sent`` of them, then a TCP reset."""

    def behaviour(backend: RawBackend, sock: socket.socket, path: str) -> bool:
        sock.sendall(response_head(backend, total) + b"x" * sent)
        time.sleep(0.2)  # the proxy has forwarded what it got before the reset
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        return False  # closed with linger 0: a reset

    return behaviour


def on(prefix: str, behaviour: Behaviour, otherwise: Behaviour | None = None) -> Behaviour:
    """``behaviour`` for the requests whose path starts with ``prefix``, ``otherwise`` (a 200)
    for the others."""

    def choose(backend: RawBackend, sock: socket.socket, path: str) -> bool:
        if path.startswith(prefix):
            return behaviour(backend, sock, path)
        return (otherwise or answer_ok)(backend, sock, path)

    return choose


def hang(seconds: float = 30.0) -> Behaviour:
    """Never answer: the connection is held until the client closes it (counted in
    ``abandoned``) or ``seconds`` pass."""

    def behaviour(backend: RawBackend, sock: socket.socket, path: str) -> bool:
        if backend.wait_closed(sock, seconds):
            with backend._lock:
                backend.abandoned += 1
        return False

    return behaviour


def send(data: bytes) -> Behaviour:
    """Answer with ``data`` as it is, then close."""

    def behaviour(backend: RawBackend, sock: socket.socket, path: str) -> bool:
        sock.sendall(data)
        return False

    return behaviour


def fail_once() -> Behaviour:
    """A 503 for the first request of each path, a 200 for the next."""
    failed: set[str] = set()

    def behaviour(backend: RawBackend, sock: socket.socket, path: str) -> bool:
        with backend._lock:
            first = path not in failed
            failed.add(path)
        if first:
            sock.sendall(response_head(backend, 0, status=503))
            return True
        return answer_ok(backend, sock, path)

    return behaviour


def trickle(body: bytes, pause: float, *, chunked: bool = False) -> Behaviour:
    """The whole response (status line, headers, body) one byte at a time, ``pause`` seconds
    apart; the body framed by its length or in chunks."""

    def behaviour(backend: RawBackend, sock: socket.socket, path: str) -> bool:
        if chunked:
            data = response_head(backend, None)[:-2] + b"transfer-encoding: chunked\r\n\r\n"
            data += b"".join(b"%x\r\n%s\r\n" % (len(body[i : i + 7]), body[i : i + 7])
                             for i in range(0, len(body), 7)) + b"0\r\n\r\n"  # fmt: skip
        else:
            data = response_head(backend, len(body)) + body
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(len(data)):
            sock.sendall(data[i : i + 1])
            time.sleep(pause)
        return True

    return behaviour


# --------------------------------------------------------------------------------------------
# a raw client


@dataclass
class Reply:
    """What came back on one connection: a response (status None when none could be read),
    its body, whether the body was complete, and whether the proxy then closed the
    connection."""

    status: int | None
    headers: dict[str, str]
    body: bytes
    complete: bool
    closed: bool
    version: int | str = 11  # http.client's: 10, 11, or UNKNOWN when nothing could be read
    error: str = ""


class _KeptOpen(io.BufferedReader):
    """The buffered reader of a connection: each response read from it leaves it open for
    the next (pipelining)."""

    def close(self) -> None:
        pass


class Client:
    """One connection to the proxy: exact bytes out, responses read in order."""

    def __init__(self, port: int, timeout: float = 10.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.file = _KeptOpen(socket.SocketIO(self.sock, "rb"))

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def makefile(self, mode: str, *args: object) -> io.BufferedReader:
        return self.file  # what http.client reads a response from

    def send(self, data: bytes) -> bool:
        """Send ``data``; False when the proxy no longer reads (it answered and closed)."""
        try:
            self.sock.sendall(data)
        except OSError:
            return False
        return True

    def reply(self, *, method: str = "GET", linger: float = 0.5) -> Reply:
        """Read one response, then wait up to ``linger`` seconds to see whether the
        connection is closed (0: do not wait)."""
        resp = http.client.HTTPResponse(self, method=method)  # type: ignore[arg-type]
        status: int | None = None
        headers: dict[str, str] = {}
        body = b""
        complete = False
        error = ""
        try:
            resp.begin()
            status = resp.status
            headers = {k.lower(): v for k, v in resp.getheaders()}
            body = resp.read()
            complete = True
        except http.client.IncompleteRead as exc:
            body = exc.partial
            error = "incomplete"
        except (OSError, http.client.HTTPException) as exc:
            error = type(exc).__name__
        return Reply(status, headers, body, complete, self.closed(linger), resp.version, error)

    def closed(self, seconds: float) -> bool:
        """Whether the proxy closes the connection within ``seconds`` (with nothing more to
        read before the end)."""
        if not select.select([self.sock], [], [], seconds)[0]:
            return False
        try:
            return not self.file.peek(1)
        except OSError:  # reset
            return True

    def close(self) -> None:
        self.sock.close()


def exchange(
    port: int, data: bytes, *, method: str = "GET", timeout: float = 10.0, linger: float = 2.0
) -> Reply:
    """Send ``data`` on a new connection and read one response (see :meth:`Client.reply`).
    A proxy that stops reading the request (it answered already) is not an error."""
    with Client(port, timeout) as client:
        client.send(data)
        return client.reply(method=method, linger=linger)


def request(authority: str, path: str = "/", *, version: str = "1.1", extra: str = "") -> bytes:
    return f"GET {path} HTTP/{version}\r\nhost: {authority}\r\n{extra}\r\n".encode()
