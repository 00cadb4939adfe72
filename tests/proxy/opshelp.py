"""What the tests of the proxy's operations share: `meshlint proxy` started as a user starts it
(from the config `translate --target proxy` writes, or from the manifests themselves; with
options and environment), its admin listener, a client that keeps one connection open, and a
strict reader of the Prometheus text format."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

DATAPLANE = str(Path(__file__).resolve().parents[1] / "dataplane")
if DATAPLANE not in sys.path:
    sys.path.insert(0, DATAPLANE)

from harness import (  # noqa: E402
    TIMEOUT,
    Mesh,
    ProxyDataPlane,
    Response,
    _wait_ready,
    wait_until,
)

from meshlint import loader  # noqa: E402
from meshlint.config import Config  # noqa: E402
from meshlint.engine import lint_files  # noqa: E402
from meshlint.mesh import MeshIndex  # noqa: E402
from meshlint.translate import envoy as envoy_mod  # noqa: E402
from meshlint.translate import proxy as proxy_config  # noqa: E402
from meshlint.translate.build import build  # noqa: E402
from meshlint.translate.plan import Plan  # noqa: E402

MESHLINT = [sys.executable, "-m", "meshlint"]


def write_atomically(path: Path, text: str) -> None:
    """Replace a file in one step (a watcher never reads it half written)."""
    part = path.with_name(path.name + ".part")
    part.write_text(text, encoding="utf-8")
    os.replace(part, path)


class CliProxy(ProxyDataPlane):
    """`meshlint proxy` as its own process: served from the config `translate --target proxy`
    writes (``manifests=False``) or from the scenario's manifests and endpoints file
    (``manifests=True``), with more arguments and environment; it watches its files when
    ``watch``."""

    name = "proxy"

    def __init__(
        self,
        *,
        manifests: bool = False,
        watch: bool = False,
        args: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
    ) -> None:
        super().__init__()
        self.manifests = manifests
        self.watch = watch
        self.args = args
        self.env = env or {}
        self.folder: Path | None = None
        self.config_path: Path | None = None
        self.returncode: int | None = None

    def start(self, plan: Plan, folder: Path) -> None:
        self.folder = folder
        if self.manifests:
            ident = plan.identity
            assert ident.kind == "workload"
            inbound = f"{plan.inbound_listen[0]}:{plan.inbound_listen[1]}"
            source = [
                str(folder / "mesh.yaml"), "--for", f"{ident.namespace}/{ident.name}",
                "--endpoints", str(folder / "endpoints.yaml"),
                "--listen", f"{plan.listen[0]}:{plan.listen[1]}", "--inbound", inbound,
                "--admin", f"{plan.admin[0]}:{plan.admin[1]}", "--no-config",
            ]  # fmt: skip
        else:
            self.config_path = folder / "proxy.json"
            self.write_config(plan)
            source = ["--config", str(self.config_path)]
        self.launch(
            [*source, "--watch" if self.watch else "--no-watch", "--drain-timeout", "5"],
            plan.admin,
            folder,
        )

    def launch(self, args: list[str], admin: tuple[str, int], folder: Path) -> None:
        """Run ``meshlint proxy ARGS…`` (and this plane's arguments), until its admin
        listener says it is ready."""
        self.admin = admin
        self.log_path = folder / "proxy.log"
        log = open(self.log_path, "wb")  # noqa: SIM115 - the process writes to it
        self.proc = subprocess.Popen(
            [*MESHLINT, "proxy", *args, *self.args],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **self.env},
        )
        log.close()
        _wait_ready(self.proc, admin, self.logs, "the proxy")

    def write_config(self, plan: Plan) -> None:
        assert self.config_path is not None
        write_atomically(self.config_path, envoy_mod.to_json(proxy_config.render(plan)))

    def stop(self) -> None:
        proc = self.proc
        super().stop()
        if proc is not None:
            self.returncode = proc.returncode

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def signal(self, sig: signal.Signals) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait(self, timeout: float = TIMEOUT) -> int:
        """The exit status, once the process ends by itself."""
        assert self.proc is not None
        code = self.proc.wait(timeout)
        self.returncode = code
        return code

    # the admin listener ----------------------------------------------------------------------

    def ask(self, path: str, method: str = "GET") -> tuple[int, str]:
        assert self.admin is not None
        conn = http.client.HTTPConnection(*self.admin, timeout=TIMEOUT)
        try:
            conn.request(method, path)
            resp = conn.getresponse()
            return resp.status, resp.read().decode()
        finally:
            conn.close()

    def json(self, path: str) -> Any:
        status, text = self.ask(path)
        assert status == 200, (path, status, text)
        return json.loads(text)

    def stats(self, pattern: str | None = None) -> dict[str, int]:
        """/stats as a mapping (``pattern``: its ``?filter=``)."""
        query = "/stats" if pattern is None else f"/stats?filter={quote(pattern, safe='')}"
        status, text = self.ask(query)
        assert status == 200, (status, text)
        out = {}
        for line in text.splitlines():
            key, sep, value = line.partition(": ")
            assert sep and value.lstrip("-").isdigit(), line
            out[key] = int(value)
        return out

    def said(self, text: str, timeout: float = TIMEOUT) -> bool:
        """Whether the proxy's output says ``text`` within ``timeout``."""
        return wait_until(lambda: text in self.logs(), timeout)


def replan(m: Mesh, manifests: str, name: str = "next.yaml") -> Plan:
    """The Plan of other manifests for the proxy ``m`` runs (its ports and endpoints)."""
    path = m.folder / name
    path.write_text(manifests, encoding="utf-8")
    files, _ = loader.discover([str(path)])
    result = lint_files(files, Config())
    errors = [d for d in result.findings if d.severity.label == "error"]
    assert not errors, "\n".join(f"{d.line}: {d.code} {d.message}" for d in errors)
    index = MeshIndex(
        result.records, namespaces=result.namespaces, settings=Config().mesh_settings()
    )
    plan, _ = build(index, m.request)
    return plan


# --------------------------------------------------------------------------------------------
# clients


class KeepAlive:
    """One client connection to the proxy, kept open: each request follows the last on the
    same socket, and a connection the proxy closed fails the next request."""

    def __init__(self, port: int, timeout: float = TIMEOUT) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.local = self.sock.getsockname()

    def get(
        self,
        authority: str,
        path: str = "/",
        headers: dict[str, str] | None = None,
        *,
        last: bool = False,
    ) -> Response:
        """A request on the connection; ``last``: the proxy may say it closes it after."""
        lines = [f"GET {path} HTTP/1.1", f"host: {authority}"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        start = time.monotonic()
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        resp = http.client.HTTPResponse(self.sock, method="GET")
        resp.begin()
        body = resp.read()
        assert last or not resp.will_close, "the proxy closed a keep-alive connection"
        assert self.sock.getsockname() == self.local
        return Response(
            resp.status, {k.lower(): v for k, v in resp.getheaders()}, body,
            time.monotonic() - start,
        )  # fmt: skip

    def close(self) -> None:
        self.sock.close()


@contextmanager
def keep_alive(port: int) -> Iterator[KeepAlive]:
    client = KeepAlive(port)
    try:
        yield client
    finally:
        client.close()


def alive(pid: int) -> bool:
    """Whether a process of this id exists (a zombie counts: nobody waited for it)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


# --------------------------------------------------------------------------------------------
# the Prometheus text format (0.0.4), read strictly

_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
_VALUE = r"[-+]?(?:[0-9]+(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?|Inf|NaN)"
_SAMPLE = re.compile(rf"({_NAME})(?:\{{((?:{_LABEL})(?:,{_LABEL})*)?,?\}})? ({_VALUE})")
_TYPE = re.compile(rf"# TYPE ({_NAME}) (counter|gauge|histogram|summary|untyped)")
_HELP = re.compile(rf"# HELP ({_NAME}) .*")
_PAIR = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')

Series = tuple[str, tuple[tuple[str, str], ...]]


def parse_prometheus(text: str) -> tuple[dict[Series, float], dict[str, str]]:
    """The samples (by name and labels) and the type of each family; an AssertionError names
    the first line that breaks the format: a bad line, a sample before its family's TYPE, a
    family split in two, a series given twice."""
    assert text.endswith("\n"), "the text ends with a newline"
    samples: dict[Series, float] = {}
    types: dict[str, str] = {}
    done: set[str] = set()
    current: str | None = None
    for n, line in enumerate(text.splitlines(), 1):
        if not line:
            continue
        if line.startswith("#"):
            m = _TYPE.fullmatch(line)
            if m is not None:
                family = m.group(1)
                assert family not in types, f"line {n}: a second TYPE for {family}"
                types[family] = m.group(2)
                if current is not None:
                    done.add(current)
                current = family
                continue
            assert _HELP.fullmatch(line) or not line.startswith(("# TYPE", "# HELP")), (
                f"line {n}: {line!r}"
            )
            continue
        m = _SAMPLE.fullmatch(line)
        assert m is not None, f"line {n}: not a sample: {line!r}"
        name = m.group(1)
        family = _family(name, types)
        assert family is not None, f"line {n}: {name} comes before its TYPE line"
        assert family == current and family not in done, f"line {n}: family {family} split"
        labels = tuple(sorted(_PAIR.findall(m.group(2) or "")))
        assert len({k for k, _ in labels}) == len(labels), f"line {n}: a label given twice"
        key = (name, labels)
        assert key not in samples, f"line {n}: {line!r} given twice"
        value = m.group(3)
        samples[key] = float(value.replace("Inf", "inf"))
    return samples, types


def _family(name: str, types: dict[str, str]) -> str | None:
    if name in types:
        return name
    for suffix in ("_bucket", "_sum", "_count"):
        base = name.removesuffix(suffix)
        if base != name and types.get(base) in ("histogram", "summary"):
            return base
    return None


def series(samples: dict[Series, float], name: str, **labels: str) -> dict[Series, float]:
    """The samples of ``name`` whose labels include ``labels``."""
    return {
        k: v
        for k, v in samples.items()
        if k[0] == name and all(dict(k[1]).get(a) == b for a, b in labels.items())
    }
