"""Findings of the cross-resource rules are placed from what the first pass kept (Places), at
the very spans a second parse of the file would give, and what that costs per resource."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import FIXTURES, REPO

from meshlint import engine, loader, rules
from meshlint.config import Config
from meshlint.diagnostics import Diagnostic, FieldPath, Finding, Severity, format_path
from meshlint.engine import INTERNAL_ERROR, LintResult
from meshlint.loader import Places
from meshlint.mesh import MeshIndex, Record

sys.path.insert(0, str(REPO / "bench"))
from generate import generate


@pytest.fixture(scope="module")
def corpora(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The bench's generated repository, clean and with findings, 30 services each."""
    out = {}
    for name, findings in (("clean", False), ("findings", True)):
        folder = tmp_path_factory.mktemp(name)
        generate(30, folder, findings=findings)
        out[name] = folder
    return out


def _paths(data: Any, prefix: FieldPath = ()) -> Iterator[FieldPath]:
    """Every path of the data, and paths that leave it (a missing key, an index past the end,
    a step into a scalar)."""
    yield prefix
    if isinstance(data, dict):
        for k, v in data.items():
            yield from _paths(v, (*prefix, k))
        yield (*prefix, "no-such-key")
        yield (*prefix, "no-such-key", 0)
    elif isinstance(data, list):
        for i, v in enumerate(data):
            yield from _paths(v, (*prefix, i))
        yield (*prefix, len(data))
        yield (*prefix, -1)
        yield (*prefix, "name")
    else:
        yield (*prefix, "below")


def _documents(*folders: Path) -> Iterator[loader.Document]:
    files, _ = loader.discover([str(f) for f in folders])
    for f in files:
        load = loader.LoadResult()
        loader.load_file(f, load)
        yield from load.documents


def test_places_locate_every_path_as_the_node_tree_does(corpora: dict[str, Path]) -> None:
    # The fixtures hold anchors, merges, duplicate keys, templates, JSON, List kinds, tabs
    # and syntax errors; the corpora hold whole repositories.
    docs = list(_documents(FIXTURES, REPO / "examples", *corpora.values()))
    assert len(docs) > 1000
    checked = 0
    for doc in docs:
        places = Places.of(doc)
        for path in _paths(doc.data):
            for key in (False, True):
                assert places.locate(path, key=key) == doc.locate(path, key=key), (
                    doc.source.name,
                    doc.index,
                    path,
                    key,
                )
                checked += 1
    assert checked > 100_000


def test_places_of_merges_and_aliases() -> None:
    text = """\
base: &base
  host: a
  port: 1
svc:
  <<: *base
  port: 2
list:
- *base
- {{ .Values.x }}: 3
  8080: 4
"""
    load = loader.load_text(text, "t.yaml")
    doc = load.documents[0]
    places = Places.of(doc)
    for path in (
        ("svc", "host"),
        ("svc", "port"),
        ("list", 0, "port"),
        ("list", 1, "{{ .Values.x }}"),
        ("list", 1, "8080"),
        ("svc", "missing"),
    ):
        for key in (False, True):
            assert places.locate(path, key=key) == doc.locate(path, key=key), path
    assert places.locate(("svc", "host")).line == 2  # where the anchor defines it


def _placed_by_parsing_again(
    result: LintResult, found: list[tuple[str, Severity, Record, Finding]]
) -> list[Diagnostic]:
    """Placing the cross-resource findings by parsing each file again, as meshlint did before
    records kept their places."""
    texts = {s.name: s.text for s in result.sources}
    docs: dict[str, dict[tuple[int, int | None], loader.Document]] = {}
    out = []
    for code, severity, rec, f in found:
        if code != INTERNAL_ERROR and engine._on_placeholder(rec.data, f):
            continue
        if rec.file not in docs:
            load = loader.load_text(texts[rec.file], rec.file)
            docs[rec.file] = {(d.index, d.item): d for d in load.documents}
        doc = docs[rec.file][(rec.doc, rec.item)]
        span = doc.span if code == INTERNAL_ERROR else doc.locate(f.path, key=f.key, at=f.at)
        out.append(
            Diagnostic(
                code,
                f.severity or severity,
                f.message,
                rec.file,
                span,
                rec.key,
                format_path(f.path),
                f.fix,
                rec.line,
            )
        )
    return out


def _mesh_found(result: LintResult, config: Config) -> list[tuple[str, Severity, Record, Finding]]:
    index = MeshIndex(result.records, namespaces=result.namespaces, settings=config.mesh_settings())
    found = []
    for r in rules.mesh_rules(config.enabled):
        assert r.check is not None
        options = r.option_values(config.options_for(r.code))
        for rec in index.records_of(r.kinds):
            found.extend((r.code, r.severity, rec, f) for f in r.check(rec, index, **options))
    return found


@pytest.mark.parametrize("name", ["clean", "findings", "fixtures"])
def test_cross_resource_findings_placed_as_a_second_parse_would(
    corpora: dict[str, Path], name: str
) -> None:
    folder = FIXTURES / "rules" / "mesh" if name == "fixtures" else corpora[name]
    config = Config()
    files, _ = loader.discover([str(folder)])
    result = engine.lint_files(files, config, mesh=False)
    found = _mesh_found(result, config)
    if name != "clean":
        assert len(found) > 5
    # Annotation filtering aside (the engine applies it), the spans must be the same.
    new = [
        d
        for code, sev, rec, f in found
        for d in engine.place_record_findings(result, [(code, sev, rec, f)])
    ]
    old = _placed_by_parsing_again(result, found)
    kept = {(d.file, d.code, d.path, d.message, d.resource) for d in new}
    old = [d for d in old if (d.file, d.code, d.path, d.message, d.resource) in kept]
    assert [(d.file, d.code, d.span, d.path, d.message) for d in new] == [
        (d.file, d.code, d.span, d.path, d.message) for d in old
    ]


def test_a_parallel_run_places_them_without_the_workers_sources(
    corpora: dict[str, Path],
) -> None:
    from meshlint.parallel import lint_in_workers

    files, _ = loader.discover([str(corpora["findings"])])
    one = engine.lint_files(files, Config())
    many = lint_in_workers(files, Config(), 2)
    assert [(d.file, d.code, d.span, d.path) for d in one.findings] == [
        (d.file, d.code, d.span, d.path) for d in many.findings
    ]
    assert any(d.code.startswith("ML9") for d in many.findings)


def test_bytes_kept_per_resource(corpora: dict[str, Path]) -> None:
    """Places cost well under the data kept of a resource: a few hundred bytes each."""
    files, _ = loader.discover([str(corpora["findings"])])
    result = engine.lint_files(files, Config(), mesh=False)
    assert result.records
    per_record = sum(rec.places.size() for rec in result.records if rec.places is not None) / len(
        result.records
    )
    assert per_record < 2048, per_record


STREAM = """\
apiVersion: v1
kind: List
items:
- {apiVersion: v1, kind: Service, metadata: {name: a}}
- {apiVersion: v1, kind: Service, metadata: {name: b}}
---
# Source: chart/templates/vs.yaml
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: c}
spec:
  hosts: [reviews]
  http:
  - match: [{headers: {x: {exact: "1"}}}]
---
apiVersion: v1
kind: Service
metadata:
  name: d
  name: again
spec:
  clusterIP: [2001:db8::, fe80::]
---
apiVersion: v1
kind: Service
metadata: {name: [broken
---
base: &b {x: 1}
merged: {<<: *b, y: 2}
---
"""


def test_documents_read_one_at_a_time_are_those_read_at_once() -> None:
    whole = loader.load_text(STREAM, "s.yaml")
    seen: list[tuple[Any, ...]] = []

    def each(doc: loader.Document) -> None:
        assert doc.node is not None
        seen.append((doc.index, doc.item, doc.data, doc.span, doc.origin, Places.of(doc).nums))

    streamed = loader.load_text(STREAM, "s.yaml", loader.LoadResult(each=each))
    assert not streamed.documents
    assert seen == [
        (d.index, d.item, d.data, d.span, d.origin, Places.of(d).nums) for d in whole.documents
    ]
    assert len(seen) == 5
    assert streamed.diagnostics == whole.diagnostics
    assert {d.code for d in whole.diagnostics} == {"ML101", "ML102"}


def test_one_multi_document_file_lints_as_its_documents_in_files(
    corpora: dict[str, Path], tmp_path: Path
) -> None:
    files, _ = loader.discover([str(corpora["findings"])])
    one = tmp_path / "all.yaml"
    one.write_text("---\n".join(Path(f).read_text() for f in files))
    many = engine.lint_files(files, Config())
    single = engine.lint_files([str(one)], Config())
    assert single.resources == many.resources
    # (messages that name another resource name its file and line)
    assert sorted((d.code, d.resource, d.path) for d in single.findings) == sorted(
        (d.code, d.resource, d.path) for d in many.findings
    )


def test_building_places_leaves_nothing_for_the_paused_collector() -> None:
    # The collector is paused while a file is read, so what building the places of a document
    # leaves in a reference cycle would stay until the file's end.
    import gc
    import tracemalloc

    routes = "".join(
        f"  - match:\n    - headers:\n        x-user:\n          exact: u{i}\n"
        f"    route:\n    - destination:\n        host: reviews\n"
        for i in range(300)
    )
    text = f"kind: VirtualService\nmetadata:\n  name: a\nspec:\n  http:\n{routes}"
    import dataclasses

    doc = loader.load_text(text, "vs.yaml").documents[0]
    doc = dataclasses.replace(doc, places=None)  # (so that the node tree is walked)
    gc.collect()
    gc.disable()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        kept = [Places.of(doc) for _ in range(10)]
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
        gc.enable()
    assert grown < 2 * sum(p.size() for p in kept), (grown, kept[0].size())


def _slots(places: Places) -> tuple[int, list[tuple[object, ...]]]:
    """The slots of places, each key with its text (key numbers are the file's own)."""
    nums, out = places.nums, []
    for i in range(0, len(nums), 6):
        slot: tuple[object, ...] = tuple(nums[i : i + 6])
        if nums[i] == loader._P_KEY:
            slot = (*slot[:5], places.keys[nums[i + 5]])
        out.append(slot)
    return places.base, out


def test_places_kept_while_reading_are_those_of_the_node_tree(corpora: dict[str, Path]) -> None:
    # Reading writes the places down in the walk that builds the data; walking the node tree
    # afterwards (what a document with anchors, or an item of a List, gets) gives the same.
    import dataclasses

    kept = 0
    for doc in _documents(FIXTURES, REPO / "examples", *corpora.values()):
        if doc.places is None:
            continue
        walked = Places.of(dataclasses.replace(doc, places=None))
        assert _slots(walked) == _slots(doc.places), (doc.source.name, doc.index)
        kept += 1
    assert kept > 1000
