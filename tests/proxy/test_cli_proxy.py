"""`meshlint proxy` on the command line: it serves the config `meshlint translate --target
proxy` writes, refuses bad input with a clear usage error (exit 2, no traceback), and does not
serve manifests with errors unless forced."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "dataplane"))

import pytest
import yaml
from harness import TIMEOUT, Backend, free_port
from manifests import mesh as manifests
from manifests import service, workload
from opshelp import MESHLINT, CliProxy, keep_alive

from meshlint.translate import proxy as proxy_config

SHOP = manifests(service("reviews"), workload("reviews-v1", {"app": "reviews"}))
BROKEN = manifests(
    service("reviews"),
    workload("reviews-v1", {"app": "reviews"}),
    service("ratings"),
    """
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ratings, namespace: shop}
spec:
  hosts: [ratings]
  http:
  - route: [{destination: {host: ratings, subset: v9}}]
""",
)


@dataclass
class Shop:
    folder: Path
    backend: Backend
    config: Path  # what `translate --target proxy` wrote
    listen: int
    inbound: int
    admin: int

    def ports(self) -> list[str]:
        return [
            "--listen", f"127.0.0.1:{self.listen}", "--inbound", f"127.0.0.1:{self.inbound}",
            "--admin", f"127.0.0.1:{self.admin}",
        ]  # fmt: skip

    def data(self) -> dict[str, Any]:
        loaded = yaml.safe_load(self.config.read_text())
        assert isinstance(loaded, dict)
        return loaded

    def write(self, name: str, data: Any) -> Path:
        path = self.folder / name
        path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
        return path


def meshlint(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``meshlint ARGS…`` run to its end (a proxy that starts serving fails the test)."""
    return subprocess.run(
        [*MESHLINT, *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT * 2,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shop]:
    folder = tmp_path_factory.mktemp("shop")
    backend = Backend("b", "reviews", 9080)
    backend.start()
    try:
        (folder / "mesh.yaml").write_text(SHOP, encoding="utf-8")
        (folder / "broken.yaml").write_text(BROKEN, encoding="utf-8")
        endpoints = {"endpoints": [
            {"service": "reviews", "port": 9080, "address": f"127.0.0.1:{backend.listen}"}
        ]}  # fmt: skip
        (folder / "endpoints.yaml").write_text(json.dumps(endpoints), encoding="utf-8")
        s = Shop(folder, backend, folder / "proxy.yaml", free_port(), free_port(), free_port())
        done = meshlint(
            "translate", str(folder / "mesh.yaml"), "--for", "shop/frontend", "--endpoints",
            str(folder / "endpoints.yaml"), "--target", "proxy", "-o", str(s.config),
            "--no-config", *s.ports(),
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        yield s
    finally:
        backend.stop()


def test_translate_writes_a_config_the_proxy_serves(shop: Shop, tmp_path: Path) -> None:
    assert shop.data()["kind"] == "meshlint.proxy/v1"
    assert shop.config.read_text().startswith("kind: meshlint.proxy/v1\n")  # YAML, as asked
    plane = CliProxy()
    plane.launch(["--config", str(shop.config), "--no-watch"], ("127.0.0.1", shop.admin), tmp_path)
    try:
        before = shop.backend.count()
        with keep_alive(shop.listen) as client:
            r = client.get("reviews:9080", "/books")
        assert (r.status, r.instance) == (200, "b")
        assert shop.backend.count() == before + 1
        assert shop.backend.received[-1]["path"] == "/books"
        assert plane.json("/config_dump") == json.loads(json.dumps(shop.data()))
        plane.signal(signal.SIGTERM)
        assert plane.wait() == 0
    finally:
        plane.stop()
    assert "serving the workload shop/frontend" in plane.logs()


def _wrong_field(shop: Shop) -> tuple[Path, str]:
    data = shop.data()
    name = next(n for n in data["plan"]["clusters"] if "reviews" in n)
    data["plan"]["clusters"][name]["pool"]["max_connections"] = "lots"
    path = shop.write("field.json", data)
    return path, f"plan.clusters.{name}.pool.max_connections: expected an integer; got 'lots'"


def _unknown_field(shop: Shop) -> tuple[Path, str]:
    data = shop.data()
    data["plan"]["identity"]["nmae"] = "frontend"
    return shop.write("unknown.json", data), "plan.identity.nmae: unknown field"


def _not_yaml(shop: Shop) -> tuple[Path, str]:
    path = shop.write("bad.yaml", "kind: meshlint.proxy/v1\nplan:\n\tidentity: {}\n")
    return path, f"{path}:3:1: not YAML"


def _wrong_kind(shop: Shop) -> tuple[Path, str]:
    data = shop.data()
    data["kind"] = "meshlint.proxy/v0"
    return shop.write(
        "kind.json", data
    ), "not a meshlint proxy config (no `kind: meshlint.proxy/v1`)"


def _missing(shop: Shop) -> tuple[Path, str]:
    return shop.folder / "absent.yaml", "absent.yaml: cannot read it (No such file or directory)"


@pytest.mark.parametrize(
    "case", [_not_yaml, _wrong_kind, _wrong_field, _unknown_field, _missing],
    ids=["not-yaml", "wrong-kind", "wrong-field", "unknown-field", "missing"],
)  # fmt: skip
def test_a_bad_config_is_a_usage_error(shop: Shop, case: Any) -> None:
    path, message = case(shop)
    done = meshlint("proxy", "--config", str(path), "--no-watch")
    assert done.returncode == 2, done.stderr
    assert message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("meshlint: error: ")


@pytest.mark.parametrize("workers", ["1", "2"])
@pytest.mark.parametrize("which", ["listen", "admin"])
def test_a_port_in_use_is_a_usage_error(shop: Shop, which: str, workers: str) -> None:
    port = shop.listen if which == "listen" else shop.admin
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        done = meshlint("proxy", "--config", str(shop.config), "--no-watch", "--workers", workers)
    assert done.returncode == 2, done.stderr
    assert f"cannot listen on 127.0.0.1:{port}: " in done.stderr, done.stderr
    assert "in use" in done.stderr.lower()
    assert "Traceback" not in done.stderr


def test_certificates_that_do_not_load(shop: Shop, tmp_path: Path) -> None:
    certs = tmp_path / "certs"
    minted = meshlint("certs", str(certs), str(shop.folder / "mesh.yaml"), "--no-config")
    assert minted.returncode == 0, minted.stderr
    config = tmp_path / "mtls.yaml"
    done = meshlint(
        "translate", str(shop.folder / "mesh.yaml"), "--for", "shop/frontend", "--certs",
        str(certs), "--target", "proxy", "-o", str(config), "--no-config", *shop.ports(),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    plan = proxy_config.read_file(str(config))
    assert plan.certificates is not None
    Path(plan.certificates.private_key).write_text("not a key\n")
    done = meshlint("proxy", "--config", str(config), "--no-watch")
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("meshlint: cannot load the certificate "), done.stderr
    assert f"with key {plan.certificates.private_key}" in done.stderr


def test_config_together_with_manifests(shop: Shop) -> None:
    done = meshlint("proxy", "--config", str(shop.config), str(shop.folder / "mesh.yaml"))
    assert done.returncode == 2
    assert "--config serves a config file: give no manifests" in done.stderr
    assert "Traceback" not in done.stderr


def test_an_unknown_event_loop(shop: Shop) -> None:
    done = meshlint(
        "proxy", "--config", str(shop.config), "--no-watch", env={"MESHLINT_PROXY_LOOP": "tokio"}
    )
    assert done.returncode == 2
    assert "MESHLINT_PROXY_LOOP takes asyncio or uvloop; got 'tokio'" in done.stderr
    assert "Traceback" not in done.stderr


def test_manifests_with_errors_are_not_served_unless_forced(shop: Shop, tmp_path: Path) -> None:
    source = [
        str(shop.folder / "broken.yaml"), "--for", "shop/frontend", "--endpoints",
        str(shop.folder / "endpoints.yaml"), "--no-config", "--no-watch", *shop.ports(),
    ]  # fmt: skip
    done = meshlint("proxy", *source)
    assert done.returncode == 1, done.stderr
    assert "ML901" in done.stderr and "subset `v9`" in done.stderr
    assert "meshlint: 1 error(s) in the manifests (--force serves anyway): nothing served" in (
        done.stderr
    )
    assert "serving the" not in done.stderr and "Traceback" not in done.stderr
    plane = CliProxy()
    plane.launch([*source, "--force"], ("127.0.0.1", shop.admin), tmp_path)
    try:
        with keep_alive(shop.listen) as client:
            assert client.get("reviews:9080").instance == "b"
        plane.signal(signal.SIGTERM)
        assert plane.wait() == 0
    finally:
        plane.stop()
    assert "ML901" in plane.logs() and "serving the workload shop/frontend" in plane.logs()
