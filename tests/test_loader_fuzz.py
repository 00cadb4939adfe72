"""Property tests of the loader: whatever the input, no exception, and every place is in the file."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from yaml.nodes import ScalarNode

from meshlint import loader
from meshlint.diagnostics import FieldPath, Span
from meshlint.loader import LoadResult, Source, load_bytes, load_text

FUZZ = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NAMES = st.sampled_from(["f.yaml", "f.json"])


# --------------------------------------------------------------------------------------------
# Checks shared by every property
# --------------------------------------------------------------------------------------------


def assert_inside(span: Span | None, source: Source) -> None:
    """A span starts on a line of the file (or just after the last one) and within it."""
    assert span is not None
    lines = source.lines
    assert 1 <= span.line <= len(lines) + 1, (span, len(lines))
    assert span.column >= 1, span
    assert span.column <= len(source.line(span.line)) + 1, (span, source.line(span.line))
    assert (span.end_line, span.end_column) > (span.line, span.column), span
    assert span.end_line <= len(lines) + 1, (span, len(lines))


def walk(data: Any, path: FieldPath = (), limit: int = 200) -> Iterator[FieldPath]:
    """Every path into the data, the data's own path first; at most ``limit`` of them."""
    todo = [(data, path)]
    seen = 0
    while todo and seen < limit:
        value, here = todo.pop()
        yield here
        seen += 1
        if len(here) >= 30:
            continue
        if isinstance(value, dict):
            todo.extend((v, (*here, k)) for k, v in value.items())
        elif isinstance(value, list):
            todo.extend((v, (*here, i)) for i, v in enumerate(value))


def check(result: LoadResult) -> None:
    by_name = {s.name: s for s in result.sources}
    for d in result.diagnostics:
        assert d.code.startswith("ML1"), d
        assert d.message
        assert_inside(d.span, by_name[d.file])
    for doc in result.documents:
        assert doc.source in result.sources
        assert_inside(doc.span, doc.source)
        for path in walk(doc.data):
            for key in (False, True):
                assert_inside(doc.locate(path, key=key), doc.source)
            for at in (0, 3, 10**6):  # a character of a string value (any value: no harm)
                assert_inside(doc.locate(path, at=at), doc.source)
        # paths that leave the data land inside the file too
        for path in (("nope",), (0, "x", 99), ("spec", "http", 0, "retries", "perTryTimeout")):
            assert_inside(doc.locate(path), doc.source)


# --------------------------------------------------------------------------------------------
# Arbitrary input
# --------------------------------------------------------------------------------------------


@FUZZ
@given(st.binary(max_size=400), NAMES)
def test_arbitrary_bytes(data: bytes, name: str) -> None:
    check(load_bytes(data, name))


@FUZZ
@given(st.text(max_size=300), NAMES)
def test_arbitrary_text(text: str, name: str) -> None:
    check(load_text(text, name))


@FUZZ
@given(
    st.text(alphabet=st.characters(codec="utf-8"), max_size=200),
    st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-32-be", "latin-1"]),
)
def test_arbitrary_text_in_any_encoding(text: str, encoding: str) -> None:
    try:
        data = text.encode(encoding)
    except UnicodeEncodeError:
        data = text.encode("utf-8")
    check(load_bytes(data, "f.yaml"))


# fmt: off
FRAGMENTS = [
    "apiVersion", "kind", "metadata", "name", "spec", "items", "List", "v1", "a", "b", "x",
    "8080", "yes", "y", "~", "null", "1e3", "0x1F", "12:30", "-1.5", ".inf", "2001-12-14",
    ": ", ":", "- ", "-", "? ", ", ", ",", "{", "}", "[", "]", "{}", "[]", "::", ":]", ":,", ":}",
    "[2001:db8::, fe80::]",
    "&a ", "*a", "&b ", "*b", "*a, *a, *a", "<<: ", "<<: *a", "!!str ", "!!int ", "!x ", "! ",
    "---", "---\n", "--- ", "...", "...\n", "%YAML 1.1\n", "%TAG ! tag:x,2000:\n",
    "\n", "\n  ", "\n    ", "\n- ", "\n  - ", " ", "  ", "\t", "\t\t", "# c", " # c\n",
    "# Source: chart/templates/x.yaml\n", "# meshlint: disable=ML102\n",
    "{{", "}}", "{{ .Values.x }}", "{{- if .x }}\n", "{{ end }}", "{%", "$(X)",
    "'", "''", '"', '\\"', "\\", "\\u00e9", "\\ud83d", "|", "|-\n", ">", ">+\n",
    "é", "😀", "ß", "\u2028", "\u00a0", "\x85", "\r\n", "\r", "\x00", "\x07", "\x0c", "\ufeff",
    "\ud800", "\uffff",
    "apiVersion: v1\nkind: List\nitems:\n", "apiVersion: v1\nkind: ConfigMap\n",
    "metadata:\n  name: x\n", "spec:\n  hosts: [a, b]\n  http:\n  - route:\n",
]
# fmt: on
YAMLISH = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=4)), max_size=50).map(
    "".join
)


@FUZZ
@given(YAMLISH, NAMES)
def test_yamlish_text(text: str, name: str) -> None:
    check(load_text(text, name))


@settings(max_examples=100, deadline=None)
@given(YAMLISH)
def test_yamlish_bytes(text: str) -> None:
    check(load_bytes(text.encode("utf-8", "surrogatepass"), "f.yaml"))


@settings(max_examples=60, deadline=None)
@given(st.lists(YAMLISH, min_size=2, max_size=6))
def test_yamlish_streams(parts: list[str]) -> None:
    """Documents with errors among good ones: the good ones keep their place."""
    good = "apiVersion: v1\nkind: Good\nmetadata:\n  name: g{}\n"
    text = "---\n".join(good.format(i) + "\n---\n" + part + "\n" for i, part in enumerate(parts))
    result = load_text(text, "s.yaml")
    check(result)
    kept = [
        d
        for d in result.documents
        if isinstance(d.data, dict)
        and d.data.get("kind") == "Good"
        and d.data.get("metadata", {}).get("name", "").startswith("g")
    ]
    assert kept
    for d in kept:
        span = d.locate(("metadata", "name"))
        assert d.source.line(span.line) == "  name: " + d.data["metadata"]["name"]


# --------------------------------------------------------------------------------------------
# Round trips: data → YAML (block and flow) → data, and every leaf where it was written
# --------------------------------------------------------------------------------------------


class KubeDumper(yaml.SafeDumper):
    """PyYAML's dumper, quoting every string that Kubernetes would not read back as a string
    (``y``, ``1e3``, ``0o17``: plain text for PyYAML's YAML 1.1, not for go-yaml)."""

    def resolve(self, kind: Any, value: Any, implicit: Any) -> str:
        return loader._ComposeLoader.resolve(self, kind, value, implicit)  # type: ignore[arg-type]


# Line breaks other than \n PyYAML's emitter writes raw inside quotes, where a reader folds
# them (its bug, not the loader's); the arbitrary-text properties above cover them.
TEXT = st.characters(exclude_characters="\x85\u2028\u2029", exclude_categories=("Cs",))
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False),
    st.text(TEXT, max_size=12),
    st.sampled_from(
        [
            "y",
            "n",
            "yes",
            "1e3",
            "0o17",
            "12:30",
            "<<",
            "~",
            "",
            " x",
            "{{ .a }}",
            "a: b",
            "- x",
            "#x",
            "&a",
            "*a",
            "!x",
            "%x",
            "@x",
            "`x",
            "0x1F",
            "1_0",
        ]
    ),
)
KEYS = st.one_of(
    st.text(TEXT, max_size=10), st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,8}", fullmatch=True)
)
DATA = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(KEYS, inner, max_size=4)),
    max_leaves=25,
)
IDENT = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")


def leaves(data: Any, path: FieldPath = ()) -> Iterator[tuple[FieldPath, Any]]:
    if isinstance(data, dict) and data:
        for k, v in data.items():
            yield from leaves(v, (*path, k))
    elif isinstance(data, list) and data:
        for i, v in enumerate(data):
            yield from leaves(v, (*path, i))
    else:
        yield path, data


def text_of(source: Source, span: Span) -> str:
    """The text a span covers."""
    lines = loader._LineIndex(source.text)
    start = lines.start(span.line) + span.column - 1
    end = lines.start(span.end_line) + span.end_column - 1
    return source.text[start:end]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(DATA, st.sampled_from([False, True, None]), st.booleans())
def test_round_trip(data: Any, flow: bool | None, unicode: bool) -> None:
    text = yaml.dump(data, Dumper=KubeDumper, default_flow_style=flow, allow_unicode=unicode)
    result = load_text(text, "r.yaml")
    assert not result.diagnostics, (text, result.diagnostics)
    assert len(result.documents) == 1, text
    doc = result.documents[0]
    assert doc.data == data, text
    source = doc.source
    for path, value in leaves(data):
        span = doc.locate(path)
        assert_inside(span, source)
        # the span is exactly the written value: read on its own, it gives the value back
        written = text_of(source, span)
        again = load_text(written, "leaf.yaml").documents
        assert len(again) == 1 and again[0].data == value, (path, written, text)
        line = source.line(span.line)
        if isinstance(value, str) and IDENT.match(value) and not isinstance(data, str):
            assert value in line, (path, line)
        if path and isinstance(path[-1], str):
            key_span = doc.locate(path, key=True)
            written_key = text_of(source, key_span)
            key_doc = load_text(written_key, "key.yaml").documents
            assert key_doc and loader._json_key(key_doc[0].data) == path[-1], (written_key, text)
            if IDENT.match(path[-1]):
                assert path[-1] in source.line(key_span.line), (path, text)


@settings(max_examples=100, deadline=None)
@given(st.lists(DATA, min_size=1, max_size=4), st.booleans())
def test_round_trip_streams(docs: list[Any], flow: bool) -> None:
    text = yaml.dump_all(docs, Dumper=KubeDumper, default_flow_style=flow, explicit_start=True)
    result = load_text(text, "r.yaml")
    assert not result.diagnostics
    assert [d.data for d in result.documents] == docs
    assert [d.index for d in result.documents] == list(range(len(docs)))
    check(result)


@settings(max_examples=100, deadline=None)
@given(DATA)
def test_json_round_trip(data: Any) -> None:
    """JSON as json.dumps writes it (tabs and raw control characters in strings included)
    reads back as the same data, every place inside the file."""
    for indent in (None, 2, "\t"):
        try:
            text = json.dumps(data, indent=indent, ensure_ascii=indent is None, allow_nan=False)
        except ValueError:  # infinity: not JSON
            return
        result = load_text(text, "r.json")
        assert not result.diagnostics, (text, result.diagnostics)
        (doc,) = result.documents
        assert doc.data == data
        check(result)


def test_dumper_quotes_what_kubernetes_reads_as_no_string() -> None:
    assert yaml.dump({"y": "1e3"}, Dumper=KubeDumper) == "'y': '1e3'\n"
    assert (
        loader._ComposeLoader.resolve(
            KubeDumper(None),
            ScalarNode,
            "0o17",
            (True, False),  # type: ignore[arg-type]
        )
        == "tag:yaml.org,2002:int"
    )


def test_walk_helper() -> None:
    assert list(walk({"a": [1, {"b": 2}]})) == [(), ("a",), ("a", 1), ("a", 1, "b"), ("a", 0)]
