"""The included proxy's safety limits and its behaviour under faults. The scenarios reuse the
data-plane harness (tests/dataplane): a fault both data planes must survive runs on each
(``mesh``); a limit of the proxy's own runs on the proxy, started with the options it tests
(``proxy_mesh``)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
for folder in (HERE.parent / "dataplane", HERE):  # harness, manifests; rawnet
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

from harness import Mesh, ProxyDataPlane  # noqa: E402 - found once the path is set


@pytest.fixture
def proxy_mesh(tmp_path: Path) -> Iterator[Callable[..., Mesh]]:
    """``proxy_mesh(manifests, backends, args=[…], workload=…)``: a mesh served by the
    included proxy started with ``args`` (``--header-timeout 1``, …); stopped after the test."""
    started: list[Mesh] = []

    def start(manifests: str, backends: list[Any], *, args: list[str] | None = None,
              **kw: Any) -> Mesh:  # fmt: skip
        folder = tmp_path / f"proxy{len(started)}"
        folder.mkdir()
        try:
            m = Mesh(ProxyDataPlane(args), folder, manifests, backends, **kw)
        except BaseException:
            for b in backends:
                b.stop()
            raise
        started.append(m)
        return m

    try:
        yield start
    finally:
        for m in started:
            m.stop()
