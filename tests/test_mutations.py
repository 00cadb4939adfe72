"""No rule fails, whatever a manifest holds: mutated manifests lint without an internal error.

Two properties, over every fixture (tests/fixtures), every rule's own examples and the corpus
(../shared/corpus beside the repo), with every rule selected:

- typed mutations: each scalar, list and mapping in turn replaced by a value of another type
  (null, an integer, a huge integer, a float, a string, a boolean, a list, a mapping, a template
  placeholder); the schema stage reports the wrong type, and no rule may raise (ML107) on it;
- byte mutations: flips, truncations, deletions and insertions of the files' bytes.

Every mutation is enumerated in a fixed order. A default run tries, with a fixed seed, one
typed mutation of each (kind, field path with list indexes left out, class of the new value),
one of each (kind, field path, context of the field, list or mapping or not) (see
``Typed.keys``), a sample of the rest, and a sample of byte mutations; a source leaves the keys
a source before it covers to that one. ``MESHLINT_MUTATE_ALL=1`` tries every typed mutation
(and ten byte mutations of each file), ``MESHLINT_MUTATE_SEED=N`` draws another sample. The
cases that once made a rule fail are tried in every run (test_known_mutations_…).
"""

from __future__ import annotations

import copy
import functools
import os
import random
import re
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import CORPUS, FIXTURES, REPO

from meshlint import loader, rules
from meshlint.config import Config
from meshlint.engine import INTERNAL_ERROR, lint_loaded

ALL = os.environ.get("MESHLINT_MUTATE_ALL") == "1"
SEED = int(os.environ.get("MESHLINT_MUTATE_SEED", "0"))
# Typed mutations tried by default beyond one of each key, per source.
TYPED_SAMPLE = 500
# Byte mutations tried by default, per source.
BYTE_SAMPLE = 2000

CONFIG = Config(select=["ALL"])
PLACEHOLDER = "{{ .Values.x }}"
VALUES: tuple[Any, ...] = (
    None,
    7,
    10**30,
    2.5,
    "x",
    True,
    ["x", 1, {"x": 1}],
    {"x": 1, "number": 70000},
    PLACEHOLDER,
)
# Values that rules tend to fail on alike: a default run tries one of each class at a place.
CLASSES = ("null", "number", "big", "big", "text", "number", "list", "map", "text")
_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


@dataclass(frozen=True)
class Case:
    """Files linted as one run: (name, text) each."""

    name: str
    files: tuple[tuple[str, str], ...]


def _fixture_cases() -> list[Case]:
    runs = sorted(p for p in FIXTURES.rglob("*.run") if p.is_dir())
    cases = [
        Case(str(r), tuple((str(f), f.read_text(encoding="utf-8")) for f in sorted(r.rglob("*"))))
        for r in runs
    ]
    for p in sorted(FIXTURES.rglob("*")):
        if p.suffix in (".yaml", ".yml", ".json") and not any(r in p.parents for r in runs):
            text = p.read_bytes().decode("utf-8", errors="replace")
            cases.append(Case(str(p), ((str(p), text),)))
    return cases


def _example_cases() -> list[Case]:
    return [
        Case(f"{r.code}-{which}.yaml", ((f"{r.code}-{which}.yaml", text),))
        for r in rules.all_rules()
        for which, text in (("bad", r.bad), ("good", r.good))
        if text
    ]


def _corpus_cases() -> list[Case]:
    return [
        Case(str(p), ((str(p), p.read_text(encoding="utf-8", errors="replace")),))
        for p in sorted(CORPUS.rglob("*"))
        if p.suffix in (".yaml", ".yml", ".json")
    ]


SOURCES = ("fixtures", "examples", "corpus")  # (in this order: see typed_failures)


def cases_of(source: str) -> list[Case]:
    if source == "corpus":
        if not CORPUS.is_dir():
            pytest.skip(f"the corpus ({CORPUS}) is not beside the repo")
        return _corpus_cases()
    return _fixture_cases() if source == "fixtures" else _example_cases()


def lint_files(files: list[tuple[str, bytes]]) -> list[str]:
    """What went wrong linting ``files`` as one run: each internal error, or the traceback."""
    try:
        load = loader.LoadResult()
        for name, data in files:
            loader.load_bytes(data, name, load)
        found = lint_loaded(load, CONFIG).findings
    except Exception:
        return [traceback.format_exc()]
    return [f"{d.resource}: {d.message}" for d in found if d.code == INTERNAL_ERROR]


# --------------------------------------------------------------------------------------------
# Typed mutations
# --------------------------------------------------------------------------------------------


def _category(value: Any) -> str:
    if isinstance(value, str):
        return "placeholder" if "{{" in value else "str"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "huge" if abs(value) > 2**63 else "int"
    return type(value).__name__


def _paths(node: Any, here: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    yield here, node
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, (*here, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, (*here, i))


# Documents larger than this (an alias bomb) are left to the byte mutations.
MAX_NODES = 3000


@dataclass(frozen=True)
class Typed:
    """Document ``doc`` of file ``file`` of a case, with the value at ``path`` replaced by
    ``VALUES[value]``."""

    case: Case
    file: int
    doc: int
    path: tuple[Any, ...]
    value: int

    def keys(self, doc: dict[str, Any]) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """What makes two mutations alike: the document's kind, the path without list indexes
        and the class of the new value; and the document's kind, the path without list indexes
        and its context (the keys of the spec, the keys and the enum-like words of each list
        item on the path) with whether the new value is a list or mapping."""
        shape = tuple("[]" if isinstance(p, int) else str(p) for p in self.path)
        kind = str(doc.get("kind"))
        spec = doc.get("spec")
        context = [str(sorted(map(str, spec)) if isinstance(spec, dict) else None)]
        node: Any = doc
        for step in self.path[:-1]:
            if isinstance(node, list) and isinstance(node[step], dict):
                item = node[step]
                context.append(f"{sorted(map(str, item))}{sorted(_words(item))}")
            node = node[step]
        container = isinstance(VALUES[self.value], (list, dict))
        return (kind, *shape, CLASSES[self.value]), ("in", kind, *shape, *context, container)

    def __str__(self) -> str:
        where = ".".join(map(str, self.path)) or "(the document)"
        name = self.case.files[self.file][0]
        return f"{name} doc {self.doc} {where} = {VALUES[self.value]!r}"


_ENUM = re.compile(r"^[A-Z][A-Z0-9_]+$")


def _words(node: Any, depth: int = 2) -> set[str]:
    """The enum-like strings (`HTTP`, `SIMPLE`) a few levels into ``node``."""
    out: set[str] = set()
    for v in node.values() if isinstance(node, dict) else node if isinstance(node, list) else ():
        if isinstance(v, str) and _ENUM.match(v):
            out.add(v)
        elif depth:
            out |= _words(v, depth - 1)
    return out


def _replaced(node: Any, path: tuple[Any, ...], new: Any) -> Any:
    """``node`` with the value at ``path`` replaced by ``new`` (the rest shared, not copied)."""
    if not path:
        return copy.deepcopy(new)
    out = dict(node) if isinstance(node, dict) else list(node)
    out[path[0]] = _replaced(node[path[0]], path[1:], new)
    return out


def _dump(doc: Any) -> str:
    return yaml.dump(doc, Dumper=_Dumper, sort_keys=False, allow_unicode=True)


class Parsed:
    """A case's files as data, each document dumped again as YAML."""

    def __init__(self, case: Case) -> None:
        self.case = case
        self.docs: list[list[Any] | None] = []
        self.texts: list[list[str]] = []
        for _, text in case.files:
            try:
                docs = list(yaml.safe_load_all(text))
                dumped = [_dump(d) for d in docs]
            except (yaml.YAMLError, TypeError, ValueError, RecursionError):
                docs, dumped = None, []  # the byte mutations try what YAML cannot hold as data
            self.docs.append(docs)
            self.texts.append(dumped)

    def files(self, mutations: list[Typed]) -> list[tuple[str, bytes]]:
        """The case's files with ``mutations`` (of distinct documents) made."""
        out = []
        for f, (name, text) in enumerate(self.case.files):
            mine = {m.doc: m for m in mutations if m.file == f}
            if not mine:
                out.append((name, text.encode()))
                continue
            docs = self.docs[f] or []
            parts = [
                _dump(_replaced(docs[d], mine[d].path, VALUES[mine[d].value]))
                if d in mine
                else self.texts[f][d]
                for d in range(len(docs))
            ]
            out.append((str(Path(name).with_suffix(".yaml")), "---\n".join(parts).encode()))
        return out


def typed_mutations(parsed: Parsed) -> Iterator[tuple[Typed, dict[str, Any]]]:
    """Every typed mutation of a case, with the document it changes."""
    for f, docs in enumerate(parsed.docs):
        for d, doc in enumerate(docs or []):
            if not isinstance(doc, dict) or doc.get("kind") == "CustomResourceDefinition":
                continue  # (Istio's CRDs are no resource meshlint checks)
            nodes = list(_paths(doc))
            if len(nodes) > MAX_NODES:
                continue
            for path, node in nodes:
                kind = _category(node)
                for v, value in enumerate(VALUES):
                    if _category(value) != kind:
                        yield Typed(parsed.case, f, d, path, v), doc


def chosen(keys: list[tuple[Any, ...]], sample: int, rng: random.Random) -> list[int]:
    """The indexes of the mutations to try: all (MESHLINT_MUTATE_ALL=1), else one of each key
    (each mutation has several) and ``sample`` more."""
    if ALL:
        return list(range(len(keys)))
    by_key: dict[Any, list[int]] = {}
    for i, ks in enumerate(keys):
        for k in ks:
            by_key.setdefault(k, []).append(i)
    picked = {rng.choice(group) for group in by_key.values()}
    rest = [i for i in range(len(keys)) if i not in picked]
    picked.update(rng.sample(rest, min(sample, len(rest))))
    return sorted(picked)


def packs(mutations: list[Typed], rng: random.Random) -> Iterator[list[Typed]]:
    """The mutations in groups linted at once: of one case, each of its own document."""
    by_case: dict[Case, list[Typed]] = {}
    for m in mutations:
        by_case.setdefault(m.case, []).append(m)
    for group in by_case.values():
        rng.shuffle(group)
        out: list[dict[tuple[int, int], Typed]] = []
        for m in group:
            free = next((p for p in out if (m.file, m.doc) not in p), None)
            if free is None:
                free = {}
                out.append(free)
            free[(m.file, m.doc)] = m
        yield from (list(p.values()) for p in out)


@functools.cache
def enumerated(source: str) -> tuple[dict[Case, Parsed], list[Typed], list[Any]]:
    """The cases of ``source`` as data, every typed mutation of them, and the key of each."""
    found: list[Typed] = []
    keys: list[Any] = []
    parsed: dict[Case, Parsed] = {}
    for case in cases_of(source):
        parsed[case] = Parsed(case)
        for m, doc in typed_mutations(parsed[case]):
            found.append(m)
            keys.append(m.keys(doc))
    return parsed, found, keys


def typed_failures(source: str, sample: int) -> tuple[int, int, list[str]]:
    """(mutations tried, lints run, what failed) for the cases of ``source``. By default, the
    keys that a source before it in SOURCES covers are left to that source."""
    rng = random.Random(SEED)
    parsed, found, keys = enumerated(source)
    covered: set[Any] = set()
    if not ALL:
        for before in SOURCES[: SOURCES.index(source)]:
            if before != "corpus" or CORPUS.is_dir():
                covered.update(k for ks in enumerated(before)[2] for k in ks)
    own = [i for i, ks in enumerate(keys) if not covered.issuperset(ks)]
    fresh = [tuple(k for k in keys[i] if k not in covered) for i in own]
    tried = [found[own[i]] for i in chosen(fresh, sample, rng)]
    failures, lints = [], 0
    for pack in packs(tried, rng):
        lints += 1
        if not lint_files(parsed[pack[0].case].files(pack)):
            continue
        alone = [(m, lint_files(parsed[m.case].files([m]))) for m in pack]  # which of them
        failures.extend(f"{m}\n    " + "\n    ".join(failed) for m, failed in alone if failed)
        if not any(failed for _, failed in alone):
            failures.append("together: " + "; ".join(map(str, pack)))
    return len(tried), lints, failures


@pytest.mark.parametrize("source", SOURCES)
def test_typed_mutations_never_fail_a_rule(source: str) -> None:
    _, _, failures = typed_failures(source, TYPED_SAMPLE)
    assert not failures, f"{len(failures)} mutation(s) made a rule fail:\n" + "\n".join(
        failures[:20]
    )


# The mutations that once made a rule fail.
GATEWAY = """\
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: shop}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: [shop.example.com]
    tls:
      mode: MODE
"""
DELEGATING = """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: root, namespace: shop}
spec:
  hosts: [shop.example.com]
  gateways: [gw]
  http:
  - match:
    - uri:
        prefix: PREFIX
    delegate: {name: child, namespace: shop}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: child, namespace: shop}
spec:
  http:
  - match:
    - uri: {prefix: /shop/cart}
    route:
    - destination: {host: cart}
"""
KNOWN = [
    GATEWAY.replace("MODE", "{number: 70000}"),
    GATEWAY.replace("MODE", "[SIMPLE]"),
    DELEGATING.replace("PREFIX", "[/shop]"),
    DELEGATING.replace("PREFIX", "{a: /shop}"),
]


@pytest.mark.parametrize("text", KNOWN)
def test_known_mutations_never_fail_a_rule(text: str) -> None:
    assert lint_files([("known.yaml", text.encode())]) == []


# --------------------------------------------------------------------------------------------
# Byte mutations
# --------------------------------------------------------------------------------------------

TOKENS = (
    b"[",
    b"]",
    b"{",
    b"}",
    b": ",
    b"- ",
    b"\n",
    b"\n  ",
    b"~",
    b"*a",
    b"&a ",
    b"'",
    b'"',
    b"#",
    b",",
    b"{{ .Values.x }}",
    b"\t",
    b"\xff",
    b"\x00",
    b"1e309",
    b"99999999999999999999999999",
    b"-1",
    b"0x",
    b"!!binary ",
    b"null",
    b"true",
    b"---\n",
)


def byte_mutation(data: bytes, rng: random.Random) -> bytes:
    """``data`` with one to three random changes."""
    for _ in range(rng.randint(1, 3)):
        if not data:
            return rng.choice(TOKENS)
        at = rng.randrange(len(data) + 1)
        op = rng.randrange(5)
        if op == 0:  # a flipped bit
            i = min(at, len(data) - 1)
            data = data[:i] + bytes([data[i] ^ (1 << rng.randrange(8))]) + data[i + 1 :]
        elif op == 1:  # truncated
            data = data[:at]
        elif op == 2:  # a few bytes gone
            data = data[:at] + data[at + rng.randint(1, 8) :]
        elif op == 3:  # a YAML token inserted
            data = data[:at] + rng.choice(TOKENS) + data[at:]
        else:  # a random byte inserted
            data = data[:at] + bytes([rng.randrange(256)]) + data[at:]
    return data


@pytest.mark.parametrize("source", SOURCES)
def test_byte_mutations_never_fail_a_rule(source: str) -> None:
    rng = random.Random(SEED)
    cases = cases_of(source)
    # every case at least once, then random ones (MESHLINT_MUTATE_ALL=1: each case ten times)
    count = 10 * len(cases) if ALL else max(BYTE_SAMPLE, len(cases))
    failures = []
    for n in range(count):
        case = cases[n % len(cases)] if n < len(cases) or ALL else rng.choice(cases)
        f = rng.randrange(len(case.files))
        files = [(name, text.encode()) for name, text in case.files]
        name, data = files[f]
        mutated = byte_mutation(data, rng)
        files[f] = (name, mutated)
        failed = lint_files(files)
        if failed:
            failures.append(f"{name}: {mutated!r}\n    " + "\n    ".join(failed))
    assert not failures, f"{len(failures)} mutation(s) made a rule fail:\n" + "\n".join(
        failures[:10]
    )


def test_the_sources_are_there() -> None:
    assert _fixture_cases() and _example_cases()
    assert REPO.is_dir()
