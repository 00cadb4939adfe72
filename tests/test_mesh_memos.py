"""What a record gets from the memos of a run is what it would work out alone.

The cross-resource rules keep what they work out once per run in the memos of the index
(``MeshIndex.memo``, ``memo_by``, ``of_record``), and every later record reads it back, shared.
Each run here is linted twice: with the memos kept, and with them forgotten before each record
is checked. The findings must be the same. They would part if a caller changed a shared answer,
or if a memo read state of the index that was still changing; a test broke that way on purpose
(a caller taking an item off a shared list of destinations) fails both cases below.

The runs are the fixtures, the examples and the Istio corpus, and generated meshes in which the
same short names, subsets and hosts come back in several namespaces and forms.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from conftest import CORPUS, FIXTURES, REPO
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from meshlint import engine
from meshlint.config import Config
from meshlint.diagnostics import Finding
from meshlint.mesh import MeshIndex


def _fresh(monkeypatch: pytest.MonkeyPatch) -> None:
    """The memos of the index forgotten before each record is checked: a record gets only
    what it works out itself (within its own check, a memo is kept, as rules may compare the
    objects two memos hand out)."""

    run = engine.run_mesh_rules

    def forgetting(check: Any) -> Any:
        def fresh(rec: Any, index: MeshIndex, **options: Any) -> Iterator[Finding]:
            index._memo.clear()
            index._keyed.clear()
            index._of_record.clear()
            yield from check(rec, index, **options)

        return fresh

    def run_mesh_rules(index: MeshIndex, todo: list[Any]) -> list[engine.MeshFound]:
        return run(index, [(replace(r, check=forgetting(r.check)), o) for r, o in todo])

    monkeypatch.setattr(engine, "run_mesh_rules", run_mesh_rules)


def _seen(result: engine.LintResult) -> list[tuple[str, str, int, int, str]]:
    return [(d.code, d.file, d.line, d.column, d.message) for d in result.findings]


def test_kept_memos_find_what_fresh_ones_find_on_the_corpora() -> None:
    paths = [str(FIXTURES), str(REPO / "examples")] + ([str(CORPUS)] if CORPUS.is_dir() else [])
    kept = engine.lint_paths(paths, Config())
    assert any(d.code.startswith("ML9") for d in kept.findings)
    with pytest.MonkeyPatch.context() as patch:
        _fresh(patch)
        fresh = engine.lint_paths(paths, Config())
    assert _seen(fresh) == _seen(kept)


# --- generated meshes ----------------------------------------------------------------------

NAMESPACES = ["shop", "pay", "istio-system"]
NAMES = ["reviews", "ratings"]
SUBSETS = ["v1", "v2"]


def _host(name: str, namespace: str, form: int) -> str:
    return [
        name,
        f"{name}.{namespace}",
        f"{name}.{namespace}.svc",
        f"{name}.{namespace}.svc.cluster.local",
        f"{name}.example.com",
        "*.example.com",
    ][form]


names = st.sampled_from(NAMES)
namespaces = st.sampled_from(NAMESPACES)
hosts = st.builds(_host, names, namespaces, st.integers(0, 5))
exports = st.sampled_from([None, ["*"], ["."], ["shop"], ["pay", "."]])


@st.composite
def service(draw: st.DrawFn) -> str:
    name, ns = draw(names), draw(namespaces)
    ports = draw(st.sampled_from([[9080], [9080, 8443], [80]]))
    port_lines = "".join(f"\n  - {{name: http-{p}, port: {p}}}" for p in ports)
    return (
        f"apiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: {ns}}}\n"
        f"spec:\n  selector: {{app: {name}}}\n  ports:{port_lines}\n"
    )


@st.composite
def workload(draw: st.DrawFn) -> str:
    name, ns, version = draw(names), draw(namespaces), draw(st.sampled_from(SUBSETS))
    return (
        f"apiVersion: apps/v1\nkind: Deployment\n"
        f"metadata: {{name: {name}-{version}, namespace: {ns}}}\n"
        f"spec:\n  selector: {{matchLabels: {{app: {name}, version: {version}}}}}\n"
        f"  template:\n    metadata: {{labels: {{app: {name}, version: {version}}}}}\n"
        f"    spec: {{containers: [{{name: app, image: app}}]}}\n"
    )


@st.composite
def destination_rule(draw: st.DrawFn) -> str:
    ns, host = draw(namespaces), draw(hosts)
    subsets = draw(st.lists(st.sampled_from(SUBSETS), unique=True, max_size=2))
    export = draw(exports)
    lines = "".join(f"\n  - {{name: {s}, labels: {{version: {s}}}}}" for s in subsets)
    return (
        f"apiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
        f"metadata: {{name: dr-{draw(st.integers(0, 99))}, namespace: {ns}}}\n"
        f"spec:\n  host: {host}\n"
        + (f"  exportTo: {export}\n" if export else "")
        + (f"  subsets:{lines}\n" if subsets else "")
    )


@st.composite
def virtual_service(draw: st.DrawFn) -> str:
    ns, host = draw(namespaces), draw(hosts)
    export = draw(exports)
    routes = []
    for _ in range(draw(st.integers(1, 3))):
        dest = f"host: {draw(hosts)}"
        if draw(st.booleans()):
            dest += f", subset: {draw(st.sampled_from(SUBSETS))}"
        if draw(st.booleans()):
            dest += f", port: {{number: {draw(st.sampled_from([9080, 8443, 80]))}}}"
        routes.append(f"\n    - destination: {{{dest}}}")
    return (
        f"apiVersion: networking.istio.io/v1\nkind: VirtualService\n"
        f"metadata: {{name: vs-{draw(st.integers(0, 99))}, namespace: {ns}}}\n"
        f"spec:\n  hosts: [{host}]\n"
        + (f"  exportTo: {export}\n" if export else "")
        + "  http:\n  - route:"
        + "".join(routes)
        + "\n"
    )


@st.composite
def service_entry(draw: st.DrawFn) -> str:
    ns, host = draw(namespaces), draw(st.sampled_from(["ratings.example.com", "*.example.com"]))
    return (
        f"apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
        f"metadata: {{name: se-{draw(st.integers(0, 99))}, namespace: {ns}}}\n"
        f"spec:\n  hosts: ['{host}']\n  location: MESH_EXTERNAL\n"
        f"  resolution: {'NONE' if host.startswith('*') else 'DNS'}\n"
        f"  ports: [{{number: 443, name: tls, protocol: TLS}}]\n"
    )


meshes = st.lists(
    st.one_of(service(), workload(), destination_rule(), virtual_service(), service_entry()),
    min_size=2,
    max_size=12,
).map(lambda docs: "---\n".join(docs))


def _lint(text: str) -> Iterator[tuple[str, str, int, int, str]]:
    return iter(_seen(engine.lint_text(text, Config(), "mesh.yaml")))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(meshes)
def test_kept_memos_find_what_fresh_ones_find_on_generated_meshes(text: str) -> None:
    kept = list(_lint(text))
    with pytest.MonkeyPatch.context() as patch:
        _fresh(patch)
        fresh = list(_lint(text))
    assert fresh == kept
