"""The cross-resource rules that read the same memos of a run (``MeshIndex.memo``, ``memo_by``,
``of_record``) say so with one ``shares`` name, so that ``--jobs`` runs them in one process
and works each memo out once; and a ``shares`` name holds only rules that do share one."""

from __future__ import annotations

import sys
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import CORPUS, FIXTURES, REPO

from meshlint import engine, rules
from meshlint.config import Config
from meshlint.mesh import MeshIndex

MESH = [r for r in rules.all_rules() if r.scope == "mesh"]


@pytest.fixture(scope="module")
def memos_read(tmp_path_factory: pytest.TempPathFactory) -> dict[str, set[str]]:
    """The memos each cross-resource rule reads, by rule code: over the fixtures, the examples,
    the Istio corpus, the bench's generated repository with findings, and every rule's own
    examples (each a run of its own)."""
    sys.path.insert(0, str(REPO / "bench"))
    from generate import generate

    folder = tmp_path_factory.mktemp("bench")
    generate(60, folder, findings=True)
    read: dict[str, set[str]] = defaultdict(set)
    current: list[str] = []
    patch = pytest.MonkeyPatch()

    def spied(method: Callable[..., Any]) -> Callable[..., Any]:
        def spy(index: MeshIndex, fn: Callable[..., Any], *key: Any) -> Any:
            if current:
                read[current[-1]].add(f"{fn.__module__}.{fn.__qualname__}")
            return method(index, fn, *key)

        return spy

    for name in ("memo", "memo_by", "of_record"):
        patch.setattr(MeshIndex, name, spied(getattr(MeshIndex, name)))
    run = engine.run_mesh_rules

    def one_by_one(index: MeshIndex, todo: list[Any]) -> list[Any]:
        found = []
        for item in todo:
            current.append(item[0].code)
            try:
                found += run(index, [item])
            finally:
                current.pop()
        return found

    patch.setattr(engine, "run_mesh_rules", one_by_one)
    try:
        paths = [folder, FIXTURES, REPO / "examples"] + ([CORPUS] if CORPUS.is_dir() else [])
        engine.lint_paths([str(p) for p in paths], Config())
        for r in MESH:
            for text in (r.bad, r.good):
                if text:
                    engine.lint_text(text, Config(), f"{r.code}.yaml")
    finally:
        patch.undo()
    return dict(read)


def _groups(links: dict[str, set[str]]) -> Iterator[set[str]]:
    """The rules linked by what they read in common, in groups (each rule reached from any
    other of its group through memos read by two rules each)."""
    readers: dict[str, set[str]] = defaultdict(set)
    for code, memos in links.items():
        for memo in memos:
            readers[memo].add(code)
    left = set(links)
    while left:
        group, todo = set(), [left.pop()]
        while todo:
            code = todo.pop()
            group.add(code)
            for memo in links[code]:
                todo += readers[memo] - group - set(todo)
        left -= group
        yield group


def test_rules_that_read_one_memo_share_a_name(memos_read: dict[str, set[str]]) -> None:
    by_code = {r.code: r for r in MESH}
    readers: dict[str, set[str]] = defaultdict(set)
    for code, memos in memos_read.items():
        for memo in memos:
            readers[memo].add(code)
    shared = {memo: codes for memo, codes in readers.items() if len(codes) > 1}
    assert len(shared) >= 10  # the spy saw the memos
    for memo, codes in sorted(shared.items()):
        names = {by_code[c].shares for c in codes}
        assert len(names) == 1 and None not in names, (memo, {c: by_code[c].shares for c in codes})


def test_a_shares_name_holds_rules_that_do_share(memos_read: dict[str, set[str]]) -> None:
    """Each ``shares`` name is one group of rules linked by memos they read (not two groups
    that happen to have the same name, nor a rule that reads nothing in common any more)."""
    declared: dict[str, set[str]] = defaultdict(set)
    for r in MESH:
        if r.shares is not None:
            declared[r.shares].add(r.code)
    assert len(declared) >= 10
    for name, codes in sorted(declared.items()):
        links = {c: memos_read.get(c, set()) for c in codes}
        groups = list(_groups(links))
        assert len(groups) == 1 and len(codes) > 1, (name, groups)


def test_shares_is_for_cross_resource_rules_only() -> None:
    with pytest.raises(ValueError, match="shares"):
        rules.rule("ML199", "a-resource-rule-that-shares", rules.Severity.INFO,
                   summary="s", rationale="r", shares="x")  # fmt: skip
    assert "ML199" not in rules._REGISTRY


def test_jobs_run_the_rules_of_one_name_in_one_chain(tmp_path: Path) -> None:
    from meshlint import parallel

    (tmp_path / "a.yaml").write_text(
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\n"
        "metadata: {name: a, namespace: x}\nspec:\n  hosts: [a]\n"
        "  http:\n  - route:\n    - destination: {host: a, subset: v1}\n"
    )
    result = engine.lint_files([str(tmp_path / "a.yaml")], Config(), mesh=False)
    index = MeshIndex(result.records, namespaces=result.namespaces)
    todo = [(r, r.option_values({})) for r in rules.mesh_rules(Config().enabled)]
    chains = parallel._chains(index, todo)
    assert sorted(r.code for chain in chains for r, _ in chain) == sorted(r.code for r, _ in todo)
    where = {r.code: i for i, chain in enumerate(chains) for r, _ in chain}
    for r, _ in todo:
        if r.shares is not None:
            assert all(where[o.code] == where[r.code] for o, _ in todo if o.shares == r.shares)
    # the longest first: those that check the VirtualServices come before those that check none
    first = {r.code for r, _ in chains[0]}
    assert "ML901" in first
    assert not any(r.kinds and "VirtualService" in r.kinds for r, _ in chains[-1])
