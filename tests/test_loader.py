"""The loader: YAML/JSON text → Documents whose every node keeps its exact place in the file."""

from __future__ import annotations

import codecs
import io
import json
import math
import os
import sys
from pathlib import Path

import pytest

from meshlint import loader
from meshlint.diagnostics import Span
from meshlint.loader import Document, LoadResult, load_bytes, load_file, load_text

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "loader"


def load(text: str, name: str = "t.yaml") -> LoadResult:
    return load_text(text, name)


def only(result: LoadResult) -> Document:
    assert not result.diagnostics, result.diagnostics
    assert len(result.documents) == 1, result.documents
    return result.documents[0]


def codes(result: LoadResult) -> list[str]:
    return [d.code for d in result.diagnostics]


def at(result: LoadResult, code: str) -> tuple[int, int]:
    found = [d for d in result.diagnostics if d.code == code]
    assert len(found) == 1, result.diagnostics
    assert found[0].span is not None
    return found[0].span.line, found[0].span.column


VS = """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
  labels: {app: reviews, "tier": backend}
spec:
  hosts:
  - reviews
  http:
  - match:
    - uri:
        prefix: /api
    route:
    - destination:
        host: reviews
        subset: v1
      weight: 100
    retries:
      attempts: 3
      perTryTimeout: 2s
    timeout: 10s
"""


# --------------------------------------------------------------------------------------------
# Spans
# --------------------------------------------------------------------------------------------


class TestLocate:
    doc = only(load(VS))

    @pytest.mark.parametrize(
        ("path", "key", "span"),
        [
            (("spec", "http", 0, "retries", "perTryTimeout"), True, Span(20, 7, 20, 20)),
            (("spec", "http", 0, "retries", "perTryTimeout"), False, Span(20, 22, 20, 24)),
            (("spec", "http", 0, "retries", "attempts"), False, Span(19, 17, 19, 18)),
            (("spec", "http", 0, "retries"), True, Span(18, 5, 18, 12)),
            (("spec", "http", 0, "route", 0, "destination", "host"), True, Span(15, 9, 15, 13)),
            (("spec", "http", 0, "route", 0, "destination", "host"), False, Span(15, 15, 15, 22)),
            (("spec", "http", 0, "route", 0, "weight"), False, Span(17, 15, 17, 18)),
            (("spec", "http", 0, "match", 0, "uri", "prefix"), False, Span(12, 17, 12, 21)),
            (("spec", "hosts", 0), False, Span(8, 5, 8, 12)),
            (("spec", "hosts", 0), True, Span(8, 5, 8, 12)),  # an item is its own key
            (("metadata", "labels", "tier"), True, Span(5, 26, 5, 32)),
            (("metadata", "labels", "tier"), False, Span(5, 34, 5, 41)),
            (("metadata", "labels", "app"), False, Span(5, 17, 5, 24)),
            (("kind",), False, Span(2, 7, 2, 21)),
            (("apiVersion",), True, Span(1, 1, 1, 11)),
        ],
    )
    def test_exact_spans(self, path: tuple[str | int, ...], key: bool, span: Span) -> None:
        assert self.doc.locate(path, key=key) == span

    def test_the_spans_cover_the_text(self) -> None:
        lines = VS.splitlines()
        s = self.doc.locate(("spec", "http", 0, "retries", "perTryTimeout"))
        assert lines[s.line - 1][s.column - 1 : s.end_column - 1] == "2s"
        s = self.doc.locate(("spec", "http", 0, "route", 0, "destination", "subset"), key=True)
        assert lines[s.line - 1][s.column - 1 : s.end_column - 1] == "subset"

    @pytest.mark.parametrize(
        ("path", "span"),
        [
            # a missing field lands on the key of the deepest part that exists
            (("spec", "http", 0, "retries", "retryOn"), Span(18, 5, 18, 12)),
            (("spec", "http", 0, "fault", "delay", "percentage"), Span(10, 5, 22, 1)),
            (("spec", "http", 5, "timeout"), Span(9, 3, 9, 7)),
            (("spec", "http", -1), Span(9, 3, 9, 7)),
            (("spec", "tcp"), Span(6, 1, 6, 5)),
            (("spec", "http", 0, "route", 0, "destination", "port", "number"), Span(14, 7, 14, 18)),
        ],
    )
    def test_a_missing_path_lands_on_the_deepest_key(
        self, path: tuple[str | int, ...], span: Span
    ) -> None:
        assert self.doc.locate(path, key=True) == span
        assert self.doc.locate(path, key=False) == span

    def test_a_missing_top_level_field_lands_on_the_document(self) -> None:
        assert self.doc.locate(("status",)) == self.doc.span
        assert self.doc.locate(()) == self.doc.span
        assert self.doc.span.line == 1 and self.doc.line == 1

    def test_a_path_through_a_scalar_stops_at_it(self) -> None:
        assert self.doc.locate(("spec", "hosts", 0, "name")) == Span(8, 5, 8, 12)
        assert self.doc.locate(("spec", "hosts", "name")) == Span(8, 3, 9, 3)

    def test_an_empty_value_is_placed_after_its_key(self) -> None:
        doc = only(load("spec:\n  timeout:\n  hosts: [a]\n"))
        assert doc.data == {"spec": {"timeout": None, "hosts": ["a"]}}
        assert doc.locate(("spec", "timeout")).line == 2
        assert doc.locate(("spec", "timeout"), key=True) == Span(2, 3, 2, 10)

    def test_the_last_of_duplicate_keys_is_located(self) -> None:
        result = load("a: 1\nb: 2\na: 3\n")
        assert result.documents[0].locate(("a",)) == Span(3, 4, 3, 5)

    def test_integer_and_boolean_keys_are_found_as_strings(self) -> None:
        doc = only(load("ports:\n  8080: http\n  on: yes\n"))
        assert doc.data == {"ports": {"8080": "http", "true": True}}
        assert doc.locate(("ports", "8080"), key=True) == Span(2, 3, 2, 7)
        assert doc.locate(("ports", 8080)) == Span(2, 9, 2, 13)
        assert doc.locate(("ports", "true"), key=True) == Span(3, 3, 3, 5)

    def test_json_spans(self) -> None:
        text = '{\n  "spec": {\n    "hosts": ["a", "b"]\n  }\n}\n'
        doc = only(load(text, "vs.json"))
        assert doc.data == {"spec": {"hosts": ["a", "b"]}}
        assert doc.locate(("spec", "hosts", 1)) == Span(3, 20, 3, 23)
        assert doc.locate(("spec", "hosts"), key=True) == Span(3, 5, 3, 12)

    def test_crlf_and_unicode_columns(self) -> None:
        text = "metadata:\r\n  name: café\r\n  labels: {é: 😀, x: z}\r\n"
        doc = only(load(text))
        assert doc.data["metadata"]["labels"] == {"é": "😀", "x": "z"}
        assert doc.locate(("metadata", "labels", "x"), key=True) == Span(3, 18, 3, 19)
        assert doc.locate(("metadata", "name")) == Span(2, 9, 2, 13)


# --------------------------------------------------------------------------------------------
# Streams: several documents, List, Helm output, recovery after errors
# --------------------------------------------------------------------------------------------


def test_multi_document_stream() -> None:
    text = (
        "apiVersion: v1\nkind: A\n"
        "---\n"
        "apiVersion: v1\nkind: B\n"
        "--- # a comment on the separator\n"
        "# a comment\n"
        "apiVersion: v1\n"
        "kind: C\n"
        "spec:\n"
        "  ports:\n"
        "  - port: 80\n"
        "    targetPort: http\n"
    )
    result = load(text)
    assert not result.diagnostics
    assert [d.index for d in result.documents] == [0, 1, 2]
    assert [d.data["kind"] for d in result.documents] == ["A", "B", "C"]
    third = result.documents[2]
    assert third.line == 8
    assert third.span.line == 8 and third.span.column == 1
    assert third.locate(("spec", "ports", 0, "targetPort")) == Span(13, 17, 13, 21)
    assert third.locate(("spec", "ports", 0, "port"), key=True) == Span(12, 5, 12, 9)
    assert third.locate(("kind",)) == Span(9, 7, 9, 8)
    assert all(d.source is result.sources[0] for d in result.documents)
    assert all(d.item is None and d.origin is None for d in result.documents)


def test_document_end_markers_and_leading_separator() -> None:
    result = load("---\na: 1\n...\n---\nb: 2\n...\n")
    assert [(d.index, d.data, d.line) for d in result.documents] == [
        (0, {"a": 1}, 2),
        (1, {"b": 2}, 5),
    ]
    assert not result.diagnostics


def test_list_items_are_documents() -> None:
    result = loader.load_paths([str(FIXTURES / "list.yaml")])
    assert not result.diagnostics
    a, b = result.documents
    assert (a.item, b.item) == (0, 1)
    assert a.index == b.index == 0
    assert a.data["kind"] == "VirtualService" and b.data["metadata"] == {"name": "b"}
    assert a.span.line == 5 and a.span.column == 3
    assert b.span.line == 11 and b.span.column == 3
    assert a.locate(("spec", "hosts", 0)) == Span(10, 13, 10, 14)
    assert b.locate(("spec", "host")) == Span(16, 11, 16, 12)
    assert b.locate(("spec", "subsets")) == Span(15, 3, 15, 7)  # the key of `spec`
    assert b.locate(("status",)) == b.span


@pytest.mark.parametrize("kind", ["List", "VirtualServiceList", "ConfigMapList"])
def test_any_kind_list_is_read_item_by_item(kind: str) -> None:
    text = f"apiVersion: v1\nkind: {kind}\nitems:\n- kind: X\n  apiVersion: v1\n- [not, a, map]\n"
    result = load(text)
    assert [(d.item, d.data) for d in result.documents] == [
        (0, {"kind": "X", "apiVersion": "v1"}),
        (1, ["not", "a", "map"]),
    ]
    assert result.documents[1].span == Span(6, 3, 6, 16)


def test_list_edge_cases() -> None:
    assert load("apiVersion: v1\nkind: List\nitems: []\n").documents == []
    # no apiVersion, or items not a list: a plain document
    assert len(load("kind: List\nitems: [a]\n").documents) == 1
    assert load("apiVersion: v1\nkind: List\nitems: {}\n").documents[0].item is None
    # items given twice: the later list is the one read, with its own spans
    result = load("apiVersion: v1\nkind: List\nitems:\n- a: 1\nitems:\n- b: 2\n")
    assert codes(result) == ["ML102"]
    assert [(d.data, d.span.line) for d in result.documents] == [({"b": 2}, 6)]


def test_list_items_from_a_merge() -> None:
    text = "base: &b\n  items: [{a: 1}]\nlist:\n  apiVersion: v1\n"
    assert only(load(text)).data["base"] == {"items": [{"a": 1}]}
    text = "apiVersion: v1\nkind: List\n<<: {items: [{a: 1}, {b: 2}]}\n"
    result = load(text)
    assert [d.data for d in result.documents] == [{"a": 1}, {"b": 2}]
    assert all(d.node is not None or d.span.line >= 1 for d in result.documents)


def test_helm_rendered_stream_keeps_each_documents_source() -> None:
    result = loader.load_paths([str(FIXTURES / "helm-rendered.yaml")])
    assert not result.diagnostics
    docs = result.documents
    assert [(d.index, d.data["kind"], d.origin) for d in docs] == [
        (0, "ServiceAccount", "shop/templates/serviceaccount.yaml"),
        (2, "VirtualService", "shop/templates/virtualservice.yaml"),
        (3, "Pod", "shop/templates/tests/test-connection.yaml"),
    ]
    assert [d.line for d in docs] == [3, 11, 27]
    vs = docs[1]
    assert vs.locate(("spec", "http", 0, "retries", "perTryTimeout"), key=True) == Span(
        24, 7, 24, 20
    )
    assert vs.locate(("spec", "http", 0, "route", 0, "destination", "host")) == Span(21, 15, 21, 19)


def test_a_document_without_a_source_comment_has_no_origin() -> None:
    text = "# Source: c/templates/a.yaml\nkind: A\n---\nkind: B\n---\n# Source: c/b.yaml\nkind: C\n"
    result = load(text)
    assert [d.origin for d in result.documents] == ["c/templates/a.yaml", None, "c/b.yaml"]


def test_syntax_error_in_the_middle_keeps_the_other_documents() -> None:
    result = loader.load_paths([str(FIXTURES / "broken-middle.yaml")])
    assert codes(result) == ["ML101"]
    error = result.diagnostics[0]
    assert error.span is not None
    assert (error.span.line, error.span.column) == (12, 1)  # where the list should have ended
    assert error.message == (
        "YAML syntax error: expected ',' or ']': the list `[…]` is not closed here "
        "(while parsing a flow sequence that starts at line 11)"
    )
    first, third = result.documents
    assert (first.index, first.data["metadata"]["name"]) == (0, "first")
    assert (third.index, third.data["metadata"]["name"]) == (2, "third")
    assert third.line == 13
    # the third document was parsed on its own, its spans still count from the file's start
    assert third.data["spec"]["host"] == "{{.service}}"
    assert third.locate(("spec", "host")) == Span(18, 9, 18, 21)
    assert third.locate(("metadata", "name"), key=True) == Span(16, 3, 16, 7)


def test_several_broken_documents() -> None:
    text = "a: [\n---\nb: 1\n---\nc: d: e\n---\nf: 'x\n---\ng: 2\n"
    result = load(text)
    assert [(d.index, d.data, d.line) for d in result.documents] == [
        (1, {"b": 1}, 3),
        (4, {"g": 2}, 9),
    ]
    assert [(d.code, d.line) for d in result.diagnostics] == [
        ("ML101", 2),
        ("ML101", 5),
        ("ML101", 8),
    ]


def test_an_error_on_the_separator_line_is_reported_once() -> None:
    result = load("a: 1\n---\n--- : bad\nb: 2\n---\nc: 3\n")
    assert [(d.code, d.span) for d in result.diagnostics] == [("ML101", Span(3, 5, 3, 6))]
    assert [d.data for d in result.documents] == [{"a": 1}, {"c": 3}]


def test_syntax_error_position_and_explanation() -> None:
    result = load("metadata:\n  name: a\n  labels: app: x\n")
    assert at(result, "ML101") == (3, 14)
    assert "quote the value" in result.diagnostics[0].message
    result = load("spec:\n  hosts:\n  - a\n  -b\n   c: 1\n")
    assert codes(result) == ["ML101"]
    result = load("a: *nothing\n")
    assert "not defined" in result.diagnostics[0].message


@pytest.mark.parametrize(
    ("text", "line", "column"),
    [
        ("spec:\n\thosts: [a]\n", 2, 1),
        ("spec:\n  hosts: [a]\n\tgateways: [b]\n", 3, 1),
        ("spec:\n  http:\n  - route:\n  \t- destination: {}\n", 4, 3),
        ("a: 1\n\tb: 1\n", 2, 1),
    ],
)
def test_tab_indentation_is_explained(text: str, line: int, column: int) -> None:
    result = load(text)
    assert codes(result) == ["ML101"]
    d = result.diagnostics[0]
    assert d.span is not None and (d.span.line, d.span.column) == (line, column)
    assert d.message == (
        "YAML syntax error: a tab character is used for indentation; YAML allows only spaces"
    )


def test_tabs_elsewhere_are_fine() -> None:
    doc = only(load("a:\tb\nc: 'x\ty'\nd: [1,\t2]\n"))
    assert doc.data == {"a": "b", "c": "x\ty", "d": [1, 2]}


# --------------------------------------------------------------------------------------------
# What a lenient loader hides
# --------------------------------------------------------------------------------------------


def test_duplicate_keys() -> None:
    text = (
        "apiVersion: v1\n"
        "kind: Service\n"
        "metadata:\n"
        "  name: a\n"
        "  labels:\n"
        "    app: a\n"
        "    app: b\n"
        "  name: c\n"
        "spec:\n"
        "  ports:\n"
        "  - {port: 80, port: 81}\n"
        "kind: Pod\n"
    )
    result = load(text)
    doc = result.documents[0]
    assert doc.data["metadata"] == {"name": "c", "labels": {"app": "b"}}
    assert doc.data["spec"]["ports"] == [{"port": 81}]
    assert doc.data["kind"] == "Pod"
    found = {(d.span.line, d.span.column): d.message for d in result.diagnostics if d.span}
    assert codes(result) == ["ML102"] * 4
    assert found[(7, 5)].startswith("duplicate key 'app' (first at line 6)")
    assert found[(8, 3)].startswith("duplicate key 'name' (first at line 4)")
    assert found[(11, 16)].startswith("duplicate key 'port' (first at line 11)")
    assert found[(12, 1)].startswith("duplicate key 'kind' (first at line 2)")
    assert "Separate them with a line '---'" in found[(12, 1)]
    assert "Separate them" not in found[(7, 5)]


def test_every_repeat_of_a_key_points_at_the_first() -> None:
    result = load("a: 1\nb: 0\na: 2\na: 3\n")
    assert [(d.line, d.message.split(";")[0]) for d in result.diagnostics] == [
        (3, "duplicate key 'a' (first at line 1)"),
        (4, "duplicate key 'a' (first at line 1)"),
    ]
    assert result.documents[0].data == {"a": 3, "b": 0}


def test_keys_that_are_the_same_string_for_kubernetes_are_duplicates() -> None:
    result = load("80: a\n'80': b\non: c\ntrue: d\n")
    assert [d.line for d in result.diagnostics] == [2, 4]
    assert result.documents[0].data == {"80": "b", "true": "d"}


def test_a_key_merged_in_then_set_is_no_duplicate() -> None:
    result = load("base: &b {a: 1, b: 2}\nx:\n  <<: *b\n  a: 3\n")
    assert not result.diagnostics
    assert result.documents[0].data["x"] == {"a": 3, "b": 2}


@pytest.mark.parametrize(
    ("text", "what", "line"),
    [
        ("data:\n  ? [a, b]\n  : c\n  d: e\n", "list", 2),
        ("data:\n  ? {a: 1}\n  : c\n  d: e\n", "mapping", 2),
        ("data:\n  [a, b]: c\n  d: e\n", "list", 2),
    ],
)
def test_complex_keys(text: str, what: str, line: int) -> None:
    result = load(text)
    assert codes(result) == ["ML106"]
    assert result.diagnostics[0].line == line
    assert f"not a {what}" in result.diagnostics[0].message
    assert result.documents[0].data == {"data": {"d": "e"}}


def test_template_placeholder_value() -> None:
    doc = only(load("spec:\n  host: {{.service}}\n  port: {{ .Values.port }}\n"))
    assert doc.data == {"spec": {"host": "{{.service}}", "port": "{{ .Values.port }}"}}
    assert doc.locate(("spec", "host")) == Span(2, 9, 2, 21)
    assert doc.locate(("spec", "port")) == Span(3, 9, 3, 27)


def test_template_placeholders_at_odd_places() -> None:
    text = (
        "metadata:\n"
        "  labels:\n"
        "    {{ .Values.labelKey }}: web\n"
        "spec:\n"
        "  hosts:\n"
        "  - {{ .Values.host }}\n"
        '  - {{ include "shop.fullname" (dict "a" .b) }}\n'
        "  gateways: [{{ .Values.gw }}, mesh]\n"
    )
    doc = only(load(text))
    assert doc.data == {
        "metadata": {"labels": {"{{ .Values.labelKey }}": "web"}},
        "spec": {
            "hosts": ["{{ .Values.host }}", '{{ include "shop.fullname" (dict "a" .b) }}'],
            "gateways": ["{{ .Values.gw }}", "mesh"],
        },
    }
    assert doc.locate(("metadata", "labels", "{{ .Values.labelKey }}"), key=True) == Span(
        3, 5, 3, 27
    )
    assert doc.locate(("spec", "hosts", 1)) == Span(7, 5, 7, 48)


def test_template_placeholder_that_breaks_the_yaml() -> None:
    text = (
        "apiVersion: v1\n"
        "kind: Service\n"
        "spec:\n"
        "{{- if .Values.nodePort }}\n"
        "  type: NodePort\n"
        "{{- end }}\n"
    )
    result = load(text)
    assert codes(result) == ["ML101"]
    assert result.diagnostics[0].message.endswith(
        "this line holds a template placeholder: was the template rendered?"
    )
    result = load("metadata:\n  name: {{ .Release.Name }}-web\n")
    assert codes(result) == ["ML101"]
    assert result.diagnostics[0].line == 2
    assert "template placeholder" in result.diagnostics[0].message
    result = load("metadata:\n  name: web\n  labels: app: x\n")
    assert "template" not in result.diagnostics[0].message


def test_flow_mappings_that_are_no_template() -> None:
    doc = only(load("e: {}\nf: {g: {}}\nh: { }\n"))
    assert doc.data == {"e": {}, "f": {"g": {}}, "h": {}}
    result = load("a: { {b: c}: d }\n")
    assert codes(result) == ["ML106"]
    assert result.documents[0].data == {"a": {}}


BILLION_LAUGHS = """\
a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]
i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]
"""


def test_alias_bomb_is_stopped_by_the_node_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    visits = 0
    collection = loader._Builder._collection

    def counting(self: loader._Builder, node: object, depth: int) -> object:
        nonlocal visits
        visits += 1
        return collection(self, node, depth)  # type: ignore[arg-type]

    monkeypatch.setattr(loader._Builder, "_collection", counting)
    result = load(BILLION_LAUGHS + "---\nok: 1\n")
    assert codes(result) == ["ML105"]
    assert "more than 10,000 nodes" in result.diagnostics[0].message
    assert result.diagnostics[0].line in range(1, 10)
    assert [d.data for d in result.documents] == [{"ok": 1}]  # the next document is still read
    # 9**9 "lol"s if expanded; the builder looked at a few dozen collections
    assert visits < 100


def test_aliases_within_budget_are_shared_not_copied() -> None:
    doc = only(load("a: &a {x: [1, 2]}\nb: *a\nc: [*a, *a]\n"))
    assert doc.data["b"] == doc.data["a"] == {"x": [1, 2]}
    assert doc.data["c"] == [doc.data["a"], doc.data["a"]]
    assert doc.locate(("b", "x", 1)) == Span(1, 15, 1, 16)  # the alias points at its anchor


@pytest.mark.parametrize("text", ["a: &a [*a]\n", "a: &a\n  b: *a\n", "&a [x, {y: *a}]\n"])
def test_recursive_alias(text: str) -> None:
    result = load(text)
    assert codes(result) == ["ML105"]
    assert "cycle" in result.diagnostics[0].message
    assert result.documents == []


@pytest.mark.parametrize(
    "text",
    [
        "[" * 5000 + "]" * 5000 + "\n",
        "a: " + "[" * 5000 + "\n",
        "{a: " * 3000 + "}" * 3000 + "\n",
        "- " * 5000 + "x\n",
        "".join(" " * i + "k:\n" for i in range(2000)),
    ],
    ids=["flow-seq", "unclosed", "flow-map", "block-seq", "block-map"],
)
def test_deep_nesting_is_a_diagnostic(text: str) -> None:
    result = load(text)
    assert result.documents == []
    assert codes(result) in (["ML105"], ["ML101"])
    assert result.diagnostics[0].span is not None


def test_nesting_past_the_builders_limit() -> None:
    deep = "a: " + "[" * 150 + "]" * 150 + "\n"
    result = load(deep)
    assert codes(result) == ["ML105"]
    assert "deeper than 100 levels" in result.diagnostics[0].message
    ok = "a: " + "[" * 90 + "]" * 90 + "\n"
    assert only(load(ok)).data["a"] is not None


def test_nesting_through_aliases_is_counted() -> None:
    inner = "[" * 60 + "]" * 60
    text = f"a: &a {inner}\nb: &b [{'[' * 60}*a{']' * 60}]\n"
    result = load(text)
    assert codes(result) == ["ML105"]


# --------------------------------------------------------------------------------------------
# Bytes and encodings
# --------------------------------------------------------------------------------------------


def test_binary_file() -> None:
    result = load_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00", "logo.yaml")
    assert [(d.code, d.span) for d in result.diagnostics] == [("ML103", Span(1, 1, 1, 2))]
    assert "binary" in result.diagnostics[0].message
    assert result.documents == []
    assert [s.name for s in result.sources] == ["logo.yaml"]


def test_latin1_file_points_at_the_first_bad_byte() -> None:
    data = "metadata:\n  name: caf\xe9\n  team: na\xefve\n".encode("latin-1")
    result = load_bytes(data, "l1.yaml")
    assert [(d.code, d.span) for d in result.diagnostics] == [("ML103", Span(2, 12, 2, 13))]
    assert "0xe9" in result.diagnostics[0].message
    assert result.documents == []
    assert result.sources[0].line(2) == "  name: caf\ufffd"  # shown as the user's editor would


def test_bad_byte_column_counts_characters() -> None:
    data = "a: é\nb: 😀x".encode() + b"\xff\n"
    result = load_bytes(data, "x.yaml")
    assert result.diagnostics[0].span == Span(2, 6, 2, 7)


@pytest.mark.parametrize(
    "encoding", ["utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le"]
)
def test_unicode_encodings(encoding: str) -> None:
    text = "metadata:\n  name: café ☕\n"
    data = text.encode(encoding)
    bom = {
        "utf-16-le": codecs.BOM_UTF16_LE,
        "utf-16-be": codecs.BOM_UTF16_BE,
        "utf-32-le": codecs.BOM_UTF32_LE,
    }.get(encoding, b"")
    data = bom + data
    result = load_bytes(data, "u.yaml")
    doc = only(result)
    assert doc.data == {"metadata": {"name": "café ☕"}}
    assert doc.locate(("metadata", "name")) == Span(2, 9, 2, 15)
    assert result.sources[0].text == text


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be", "utf-32-be"])
def test_utf16_and_32_without_a_bom(encoding: str) -> None:
    result = load_bytes("kind: Service\n".encode(encoding), "u.yaml")
    assert only(result).data == {"kind": "Service"}


def test_control_characters_are_reported_and_the_rest_is_read() -> None:
    result = load("metadata:\n  name: a\x07b\n---\nkind: B\n")
    assert [(d.code, d.span) for d in result.diagnostics] == [("ML101", Span(2, 10, 2, 11))]
    assert "U+0007" in result.diagnostics[0].message
    assert [d.data for d in result.documents] == [{"metadata": {"name": "a\ufffdb"}}, {"kind": "B"}]


def test_nul_after_the_start_of_a_text_file() -> None:
    text = "a: 1\n" * 3000 + "b: \x00\n"
    result = load_bytes(text.encode(), "x.yaml")
    assert codes(result) == ["ML103"]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "\n\n",
        "   \n",
        "# only\n# comments\n",
        "---\n",
        "---\n---\n",
        "--- # nothing\n...\n",
        "\ufeff",
    ],
)
def test_nothing_to_read(text: str) -> None:
    result = load(text)
    assert result.documents == [] and result.diagnostics == []
    assert len(result.sources) == 1


def test_empty_bytes() -> None:
    result = load_bytes(b"", "e.yaml")
    assert result.documents == [] and result.diagnostics == []


def test_non_mapping_documents_are_kept() -> None:
    result = load("- a\n- b\n---\njust text\n---\n42\n---\n~\n---\n'quoted'\n")
    assert not result.diagnostics
    assert [(d.index, d.data) for d in result.documents] == [
        (0, ["a", "b"]),
        (1, "just text"),
        (2, 42),
        (3, None),
        (4, "quoted"),
    ]
    assert result.documents[1].span == Span(4, 1, 4, 10)


# --------------------------------------------------------------------------------------------
# Scalars as Kubernetes reads them
# --------------------------------------------------------------------------------------------


# fmt: off
AS_KUBERNETES_READS_THEM: list[tuple[str, object]] = [
    ("yes", True), ("Yes", True), ("on", True), ("ON", True), ("true", True), ("y", True),
    ("no", False), ("off", False), ("False", False), ("n", False),
    ("~", None), ("null", None), ("", None), ("NULL", None),
    ("0x1F", 31), ("0o17", 15), ("017", 15), ("0b101", 5), ("1_000", 1000), ("-42", -42),
    ("+7", 7), ("0", 0), ("9223372036854775807", 9223372036854775807),
    ("18446744073709551615", 18446744073709551615),
    ("1.5", 1.5), ("1e3", 1000.0), ("-1.5E-2", -0.015), (".5", 0.5), ("1.", 1.0),
    ("08", 8.0), ("99999999999999999999", 1e20),
    (".inf", math.inf), ("-.Inf", -math.inf),
    ("2001-12-14", "2001-12-14"), ("2001-12-14t21:59:43.10-05:00", "2001-12-14t21:59:43.10-05:00"),
    ("12:30", "12:30"), ("1:20:30", "1:20:30"), ("0x", "0x"), ("1e999", "1e999"),
    ("yes!", "yes!"), ("YeS", "YeS"), ("=", "="), ("<<x", "<<x"), ("-x", "-x"),
    ("'yes'", "yes"), ('"0x1F"', "0x1F"), ("!!str 123", "123"), ("!!int '12'", 12),
    ("!!float 1", 1.0), ("!!bool yes", True), ("!custom 5", "5"),
    ("!!binary aGk=", "aGk="), ("!!timestamp 2001-12-14", "2001-12-14"),
]
# fmt: on


@pytest.mark.parametrize(("text", "value"), AS_KUBERNETES_READS_THEM)
def test_scalars_as_kubernetes_reads_them(text: str, value: object) -> None:
    doc = only(load(f"v: {text}\n"))
    assert doc.data["v"] == value
    assert type(doc.data["v"]) is type(value)


def test_nan() -> None:
    assert math.isnan(only(load("v: .nan\n")).data["v"])


@pytest.mark.parametrize(
    ("key", "text"),
    [
        ("8080", "8080"),
        ("0x1F", "31"),
        ("yes", "true"),
        ("off", "false"),
        ("~", "null"),
        ("1.5", "1.5"),
        ("1e3", "1000"),
        ("1e6", "1e+06"),
        ("0.1", "0.1"),
        ("1.0", "1"),
        ("2001-12-14", "2001-12-14"),
        ("'8080'", "8080"),
        ("12:30", "12:30"),
    ],
)
def test_keys_are_the_strings_kubernetes_makes_of_them(key: str, text: str) -> None:
    doc = only(load(f"{key}: v\n"))
    assert doc.data == {text: "v"}
    assert doc.locate((text,)) == Span(1, len(key) + 3, 1, len(key) + 4)


def test_colons_ending_plain_text_in_flow_collections() -> None:
    # libyaml refuses `x:` before ']' or ','; Kubernetes' go-yaml reads it as text (IPv6!)
    text = "spec:\n  addresses: [1.2.3.4, 2001:db8::, fe80::]\n  labels: {a: b:}\n"
    doc = only(load(text))
    assert doc.data["spec"] == {
        "addresses": ["1.2.3.4", "2001:db8::", "fe80::"],
        "labels": {"a": "b:"},
    }
    assert doc.locate(("spec", "addresses", 1)) == Span(2, 24, 2, 34)
    assert doc.locate(("spec", "addresses", 2)) == Span(2, 36, 2, 42)
    assert codes(load("a: [b:[c]]\n")) == ["ML101"]


def test_merge_keys() -> None:
    text = (
        "defaults: &defaults\n"
        "  timeout: 5s\n"
        "  retries: {attempts: 3}\n"
        "extra: &extra\n"
        "  timeout: 9s\n"
        "  mirror: m\n"
        "one:\n"
        "  <<: *defaults\n"
        "  timeout: 1s\n"
        "two:\n"
        "  <<: [*extra, *defaults]\n"
        "three:\n"
        "  name: x\n"
        "  <<: {name: y, z: 1}\n"
    )
    doc = only(load(text))
    assert doc.data["one"] == {"timeout": "1s", "retries": {"attempts": 3}}
    assert doc.data["two"] == {"timeout": "9s", "mirror": "m", "retries": {"attempts": 3}}
    assert doc.data["three"] == {"name": "x", "z": 1}
    assert doc.locate(("one", "timeout")) == Span(9, 12, 9, 14)
    # a merged-in key is found where the anchor defines it
    assert doc.locate(("one", "retries", "attempts")) == Span(3, 23, 3, 24)
    assert doc.locate(("two", "timeout")) == Span(5, 12, 5, 14)
    assert doc.locate(("two", "retries"), key=True) == Span(3, 3, 3, 10)
    assert doc.locate(("three", "z")) == Span(14, 20, 14, 21)
    assert doc.locate(("two", "nothing")) == Span(10, 1, 10, 4)


def test_merge_of_a_scalar_is_ignored() -> None:
    assert only(load("a:\n  <<: 5\n  b: 1\n")).data == {"a": {"b": 1}}


# --------------------------------------------------------------------------------------------
# JSON
# --------------------------------------------------------------------------------------------


def test_json_file() -> None:
    data = {"apiVersion": "v1", "kind": "Service", "spec": {"ports": [{"port": 80}]}}
    doc = only(load(json.dumps(data, indent=2), "svc.json"))
    assert doc.data == data
    assert doc.locate(("spec", "ports", 0, "port")) == Span(7, 17, 7, 19)


def test_json_that_yaml_rejects_still_loads_with_places() -> None:
    text = (
        '\t{\n\t"kind":\t"Service",\n\t"metadata": {"name": "caf\\u00e9 \\ud83d\\ude00"}\n}\n\t\n'
    )
    result = load(text, "svc.json")
    doc = only(result)
    assert doc.data == {"kind": "Service", "metadata": {"name": "café 😀"}}
    assert doc.locate(("kind",)) == Span(2, 10, 2, 19)
    assert doc.locate(("metadata", "name"), key=True) == Span(3, 15, 3, 21)


def test_json_numbers_follow_json() -> None:
    doc = only(load('{"a": 1e3, "b": 10, "c": 1.5E+2}', "n.json"))
    assert doc.data == {"a": 1000.0, "b": 10, "c": 150.0}


def test_broken_json_is_a_syntax_error() -> None:
    result = load('{"a": 1,\n "b": [1, 2}\n', "b.json")
    assert codes(result) == ["ML101"]
    assert result.diagnostics[0].line == 2
    assert result.documents == []


def test_yaml_file_with_tabs_is_not_read_as_json() -> None:
    result = load('\t{"a": 1}\n', "a.yaml")
    assert codes(result) == ["ML101"]


# --------------------------------------------------------------------------------------------
# Files and folders
# --------------------------------------------------------------------------------------------


def make_tree(root: Path) -> None:
    files = [
        "b.yaml",
        "a.yml",
        "c.json",
        "notes.txt",
        "x.yaml.bak",
        ".hidden.yaml",
        "z/deep/one.yaml",
        "m/two.yaml",
        "m/Three.yaml",
        ".git/config.yaml",
        ".github/ci.yml",
        "charts/shop/templates/vs.yaml",
        "charts/shop/values.yaml",
        "vendor/v.yaml",
        "legacy/old.yaml",
        "legacy/keep/new.yaml",
        "m/skip.tmpl.yaml",
    ]
    for f in files:
        p = root / f
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("kind: X\n")


def rel(files: list[str], root: Path) -> list[str]:
    return [os.path.relpath(f, root).replace(os.sep, "/") for f in files]


def test_discover_walks_sorted_keeps_yaml_and_skips_hidden(tmp_path: Path) -> None:
    make_tree(tmp_path)
    files, missing = loader.discover([str(tmp_path)])
    assert missing == []
    assert rel(files, tmp_path) == [
        "a.yml",
        "b.yaml",
        "c.json",
        "charts/shop/values.yaml",
        "charts/shop/templates/vs.yaml",
        "legacy/old.yaml",
        "legacy/keep/new.yaml",
        "m/Three.yaml",
        "m/skip.tmpl.yaml",
        "m/two.yaml",
        "vendor/v.yaml",
        "z/deep/one.yaml",
    ]
    assert files == loader.discover([str(tmp_path)])[0]  # stable


@pytest.mark.parametrize(
    ("excludes", "gone"),
    [
        (["vendor"], {"vendor/v.yaml"}),
        (["*.tmpl.yaml"], {"m/skip.tmpl.yaml"}),
        (["legacy/"], {"legacy/old.yaml", "legacy/keep/new.yaml"}),
        (["legacy/*.yaml"], {"legacy/old.yaml", "legacy/keep/new.yaml"}),
        (["legacy/keep"], {"legacy/keep/new.yaml"}),
        (["charts/*/templates"], {"charts/shop/templates/vs.yaml"}),
        (["charts/**/templates"], {"charts/shop/templates/vs.yaml"}),
        (["./m/two.yaml", "z"], {"m/two.yaml", "z/deep/one.yaml"}),
        (["deep"], {"z/deep/one.yaml"}),
        (["nothing", "*.txt"], set()),
    ],
)
def test_discover_excludes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, excludes: list[str], gone: set[str]
) -> None:
    make_tree(tmp_path)
    monkeypatch.chdir(tmp_path)
    everything = set(rel(loader.discover(["."])[0], tmp_path))
    for target in (".", str(tmp_path), "./"):  # relative, absolute: the same files
        files, _ = loader.discover([target], excludes)
        assert set(rel(files, tmp_path)) == everything - gone, target


def test_exclude_patterns_are_relative_to_the_walked_folder(tmp_path: Path) -> None:
    make_tree(tmp_path / "repo")
    files, _ = loader.discover([str(tmp_path / "repo")], ["legacy/keep"])
    assert "legacy/keep/new.yaml" not in rel(files, tmp_path / "repo")
    # a folder above the walked one does not count as a match by name
    files, _ = loader.discover([str(tmp_path / "repo" / "m")], ["repo"])
    assert len(files) == 3


def test_discover_explicit_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_tree(tmp_path)
    monkeypatch.chdir(tmp_path)
    files, missing = loader.discover(
        ["notes.txt", "m", "nope.yaml", "-", "m/two.yaml", "./b.yaml", "b.yaml", "gone/"]
    )
    assert files == ["notes.txt", "m/Three.yaml", "m/skip.tmpl.yaml", "m/two.yaml", "-", "b.yaml"]
    assert missing == ["nope.yaml", "gone/"]
    files, _ = loader.discover(["vendor", "vendor/v.yaml", ".hidden.yaml"], ["vendor"])
    assert files == [".hidden.yaml"]


def test_load_paths(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("kind: A\n---\nkind: B\n")
    (tmp_path / "b.json").write_text('{"kind": "C"}')
    (tmp_path / "c.yaml").write_bytes(b"\xff\xfe\x00\x00oops")
    result = loader.load_paths([str(tmp_path)])
    assert [d.data for d in result.documents] == [{"kind": "A"}, {"kind": "B"}, {"kind": "C"}]
    assert [Path(s.name).name for s in result.sources] == ["a.yaml", "b.json", "c.yaml"]
    assert codes(result) == ["ML103"] and not result.io_error


def test_unreadable_paths(tmp_path: Path) -> None:
    (tmp_path / "folder.yaml").mkdir()
    (tmp_path / "broken.yaml").symlink_to(tmp_path / "nowhere.yaml")
    result = LoadResult()
    load_file(str(tmp_path / "folder.yaml"), result)
    load_file(str(tmp_path / "broken.yaml"), result)
    assert result.io_error
    assert codes(result) == ["ML100", "ML100"]
    assert all(d.span == Span(1, 1, 1, 2) for d in result.diagnostics)
    assert "cannot read the file" in result.diagnostics[0].message
    assert [s.text for s in result.sources] == ["", ""]
    # found in a folder: a broken link named like a manifest is reported, a folder is walked
    (tmp_path / "folder.yaml" / "in.yaml").write_text("kind: A\n")
    found = loader.load_paths([str(tmp_path)])
    assert codes(found) == ["ML100"] and found.io_error
    assert [d.data for d in found.documents] == [{"kind": "A"}]


def test_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"kind: A\n")))
    result = LoadResult()
    load_file("-", result, stdin_name="from-stdin.yaml")
    assert [(d.source.name, d.data) for d in result.documents] == [
        ("from-stdin.yaml", {"kind": "A"})
    ]


def test_one_result_gathers_several_sources() -> None:
    result = load_text("kind: A\n", "a.yaml")
    load_text("kind: [\n", "b.yaml", result)
    load_bytes(b"kind: C\n", "c.yaml", result)
    assert [s.name for s in result.sources] == ["a.yaml", "b.yaml", "c.yaml"]
    assert [d.source.name for d in result.documents] == ["a.yaml", "c.yaml"]
    assert [d.file for d in result.diagnostics] == ["b.yaml"]


def test_source_lines_match_span_lines() -> None:
    text = "a: 1\r\nb: x\x0cy\r\nc: 3\rd: 4\n"
    result = load(text)
    source = result.sources[0]
    assert source.lines == ["a: 1", "b: x\x0cy", "c: 3", "d: 4"]
    doc = result.documents[0]
    assert source.line(doc.locate(("d",)).line) == "d: 4"
    assert source.line(0) == source.line(99) == ""


def test_discovered_names_are_normalised(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "k8s").mkdir()
    (tmp_path / "k8s" / "vs.yaml").write_text("kind: A\n")
    monkeypatch.chdir(tmp_path)
    files, _ = loader.discover([".", "./k8s/../k8s/vs.yaml"])
    assert files == [os.path.join("k8s", "vs.yaml")]


def test_a_character_of_a_string_is_located_in_every_scalar_style() -> None:
    text = """\
a: plain value here
b: 'it''s quoted'
c: "esc\\t\\"x\\u00e9y"
d: |
  line one
  line two
e: >-
  fold one
  fold two
f: plain
  continued here
g: "dq
  next"
h: {i: 'flow value'}
"""
    (doc,) = load_text(text, "x.yaml").documents
    for path, want, line, column in [
        (("a",), "here", 1, 16),
        (("b",), "quoted", 2, 11),
        (("b",), "s", 2, 9),
        (("c",), "x", 3, 12),
        (("c",), "y", 3, 19),
        (("d",), "two", 6, 8),
        (("e",), "two", 9, 8),
        (("f",), "here", 11, 13),
        (("g",), "next", 13, 3),
        (("h", "i"), "value", 14, 14),
    ]:
        value = doc.data
        for p in path:
            value = value[p]
        span = doc.locate(path, at=value.index(want))
        assert (span.line, span.column) == (line, column), (path, want)
        assert doc.source.line(line)[column - 1 :].startswith(want)
    # a line break that folding made, and the end of the value, land after the text before it
    assert doc.locate(("e",), at=len("fold one")).column == 11
    assert doc.locate(("a",), at=len("plain value here")).column == 20
    # anything but a string is located whole
    assert doc.locate(("h",), at=3) == doc.locate(("h",))


def test_numbers_read_once_are_kept_and_the_table_stays_bounded() -> None:
    values = ["9080", "5s", "100m", "0x1F", "-12", "1e3", ".5", "+7", "0777", "089", "1_000"]
    for value in values * 2:
        assert loader._number(value) == loader._go_number(value), value
    assert loader._NUMBERS["9080"] == 9080 and loader._NUMBERS["5s"] is None
    long = "1" * 40
    assert loader._number(long) == loader._go_number(long) and long not in loader._NUMBERS
    for n in range(5000):
        loader._number(str(n))
    assert 0 < len(loader._NUMBERS) <= 4096
    # what a document reads does not depend on what the table held before
    assert load_text("a: 9080\nb: 5s\nc: 1_000\n", "n.yaml").documents[0].data == {
        "a": 9080,
        "b": "5s",
        "c": 1000,
    }
