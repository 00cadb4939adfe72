"""A rule that declares the keys it needs (``needs=``) finds nothing in a document that writes
none of them, so that the engine may leave it out there; and the engine does."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest
from conftest import CORPUS, FIXTURES, REPO

from meshlint import loader, rules
from meshlint.config import Config
from meshlint.engine import lint_text
from meshlint.resource import Resource

NEEDING = [r for r in rules.all_rules() if r.needs and r.check is not None]


def _documents() -> Iterator[loader.Document]:
    """Fixtures, examples, the Istio corpus and every rule's examples."""
    folders = [FIXTURES, REPO / "examples"]
    if CORPUS.is_dir():
        folders.append(CORPUS)
    files, _ = loader.discover([str(f) for f in folders])
    for f in files:
        load = loader.LoadResult()
        loader.load_file(f, load)
        yield from load.documents
    for r in rules.all_rules():
        for text in (r.bad, r.good):
            if text:
                yield from loader.load_text(text, f"{r.code}.yaml").documents


@pytest.fixture(scope="module")
def resources(tmp_path_factory: pytest.TempPathFactory) -> list[Resource]:
    """The resources of :func:`_documents` and of the bench's generated repository."""
    sys.path.insert(0, str(REPO / "bench"))
    from generate import generate

    folder = tmp_path_factory.mktemp("bench")
    generate(60, folder, findings=True)
    out = []
    docs = list(_documents())
    load = loader.LoadResult()
    for f in loader.discover([str(folder)])[0]:
        loader.load_file(f, load)
    for doc in [*docs, *load.documents]:
        res = Resource.of(doc) if isinstance(doc.data, dict) else None
        if res is not None:
            out.append(res)
    return out


def test_some_rules_need_keys() -> None:
    assert len(NEEDING) >= 20


@pytest.mark.parametrize("rule", NEEDING, ids=lambda r: r.code)
def test_a_rule_finds_nothing_where_no_key_it_needs_is_written(
    rule: rules.Rule, resources: list[Resource]
) -> None:
    check = rule.check
    assert check is not None
    options = rule.option_values({})
    ran = fired = 0
    for res in resources:
        if not rule.applies_to(res.kind if res.info is not None else ""):
            continue
        words = res.doc.words
        assert words is not None or res.doc.source.name.endswith(".json")
        found = list(check(res, **options))
        ran += 1
        if found:
            fired += 1
            assert words is None or not words.isdisjoint(rule.needs), (
                rule.code,
                res.doc.source.name,
                res.doc.line,
                [f.path for f in found],
            )
    assert ran and fired, (ran, fired)  # it was tried on documents where it finds something


def test_the_engine_leaves_out_a_rule_whose_keys_are_not_written(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rule = next(r for r in NEEDING if r.applies_to("VirtualService"))
    calls: list[str] = []
    check = rule.check
    assert check is not None

    def spy(res: Resource, **options: object) -> object:
        calls.append(res.name)
        return check(res, **options)

    import dataclasses

    monkeypatch.setitem(rules._REGISTRY, rule.code, dataclasses.replace(rule, check=spy))
    word = sorted(rule.needs)[0]
    bare = (
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\n"
        "metadata: {name: bare}\nspec:\n  hosts: [a]\n"
        "  http:\n  - route:\n    - destination: {host: a}\n"
    )
    lint_text(bare, Config(), "bare.yaml")
    assert calls == []
    lint_text(bare.replace("name: bare", f"name: has, annotations: {{{word}: x}}"), Config())
    assert calls == ["has"]


def test_documents_know_their_keys() -> None:
    text = "a: {b: 1, c: [{d: 2}]}\n---\nkind: List\napiVersion: v1\nitems:\n- {e: 1}\n"
    docs = loader.load_text(text, "k.yaml").documents
    assert docs[0].words == {"a", "b", "c", "d"}
    assert docs[1].words == {"kind", "apiVersion", "items", "e"}  # an item: the whole List's
    assert loader.load_text('{"a": {"b": 1}}', "k.json").documents[0].words == {"a", "b"}


def test_the_keys_a_rule_needs_are_keys() -> None:
    for r in NEEDING:
        assert all(isinstance(w, str) and w for w in r.needs), r.code
