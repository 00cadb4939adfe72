"""ML3xx: metadata and unrendered template placeholders: messages and edge cases.

The findings of the fixtures (tests/fixtures/rules/metadata/) are stated by their markers and
checked by tests/test_rule_fixtures.py.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterable
from pathlib import Path

import pytest
from conftest import SHARED

from meshlint import loader
from meshlint.config import Config
from meshlint.diagnostics import Diagnostic, Finding
from meshlint.engine import lint_paths, lint_text
from meshlint.resource import Resource
from meshlint.rules.lib.placeholders import has_placeholder
from meshlint.rules.metadata import labels, names
from meshlint.rules.metadata.labels import ANNOTATIONS_LIMIT
from meshlint.rules.metadata.placeholders import _has_marker

SEED = SHARED / "corpus" / "seed"
ML3 = Config(select=["ML3"])

Row = tuple[str, str, int, int, str]  # code, severity, line, column, path


def rows(found: list[Diagnostic]) -> list[Row]:
    return [(d.code, d.severity.label, d.line, d.column, d.path) for d in found]


def lint(text: str, name: str = "t.yaml") -> list[Diagnostic]:
    return lint_text(text, ML3, name=name).findings


def only(found: list[Diagnostic], code: str) -> Diagnostic:
    hits = [d for d in found if d.code == code]
    assert len(hits) == 1, rows(found)
    return hits[0]


# ---------------------------------------------------------------------------------------------
# The seed corpus and Istio's samples
# ---------------------------------------------------------------------------------------------


def test_seed_placeholders_and_chinese_name() -> None:
    result = lint_paths([str(SEED)], ML3)
    by_file: dict[str, list[Diagnostic]] = {}
    for d in result.findings:
        by_file.setdefault(Path(d.file).name, []).append(d)

    placeholders = [(d.code, d.line, d.column) for d in by_file["04.yaml"]]
    assert placeholders == [("ML306", 12, 15), ("ML306", 13, 17)]
    assert "`{{.service}}`" in by_file["04.yaml"][0].message
    assert "`{{.version}}`" in by_file["04.yaml"][1].message
    assert "helm template" in by_file["04.yaml"][0].message

    # `name:熔断配置` (no space) makes metadata the string "name:熔断配置", on line 5: one
    # finding, ML302's, which says both (adding the space alone, ML307's fix, would still
    # leave a name that is not valid)
    seed24 = by_file["24.yaml"]
    assert [(d.code, d.line, d.column, d.path) for d in seed24] == [("ML302", 5, 3, "metadata")]
    (name,) = seed24
    assert "`熔断配置`" in name.message
    assert "lower-case letters" in name.message
    assert "without the space after ':'" in name.message
    assert not any(d.code == "ML301" for d in seed24)


def test_istio_samples_have_no_ml3_error() -> None:
    result = lint_paths([str(SHARED / "corpus" / "istio-samples")], ML3)
    assert result.resources > 50
    assert [d for d in result.findings if d.severity.label == "error"] == []
    # expose-istiod-https.yaml is applied through envsubst: `$CREDENTIAL_NAME` is a warning.
    assert {(Path(d.file).name, d.code, d.severity.label, d.line) for d in result.findings} == {
        ("expose-istiod-https.yaml", "ML306", "warning", 16),
        ("expose-istiod-https.yaml", "ML306", "warning", 27),
    }


# ---------------------------------------------------------------------------------------------
# Messages and edge cases
# ---------------------------------------------------------------------------------------------

DR = """apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
{meta}
spec:
  host: reviews
"""


def dr(meta: str) -> str:
    return DR.format(meta=meta)


def test_invalid_name_message_and_fix() -> None:
    d = only(lint(dr("  name: Reviews_V1")), "ML302")
    assert d.message.startswith("the name `Reviews_V1` is not valid: it has upper-case letters")
    assert "`_`" in d.message
    assert "RFC 1123 DNS subdomain" in d.message
    assert "Use `reviews-v1`" in d.message
    assert d.fix == "name: reviews-v1"


def test_no_suggestion_when_none_can_be_derived() -> None:
    d = only(lint(dr("  name: 评论")), "ML302")
    assert d.fix is None
    assert "`评`, `论`" in d.message


@pytest.mark.parametrize(
    ("kind", "length", "fires"),
    [
        ("DestinationRule", 253, False),
        ("DestinationRule", 254, True),
        ("Gateway", 63, False),
        ("Gateway", 64, True),
    ],
)
def test_name_length_limits(kind: str, length: int, fires: bool) -> None:
    name = ("a" * 9 + ".") * (length // 10) + "a" * (length % 10)
    if kind == "Gateway":
        name = name.replace(".", "-")
    assert len(name) == length
    text = dr(f"  name: {name}").replace("DestinationRule", kind)
    found = [d for d in lint(text) if d.code == "ML302"]
    assert bool(found) == fires
    if fires:
        assert f"is {length} characters long" in found[0].message


def test_gateway_name_with_dots_names_istio_rule() -> None:
    text = dr("  name: shop.gateway").replace("DestinationRule", "Gateway")
    d = only(lint(text), "ML302")
    assert "Istio's webhook requires a Gateway name to be a DNS label" in d.message
    assert d.fix == "name: shop-gateway"


def test_quote_hint_keeps_what_was_written() -> None:
    found = lint(
        dr('  name: reviews\n  labels:\n    version: 1.10\n    canary: "yes"\n    enabled: on')
    )
    messages = [d.message for d in found if d.code == "ML304"]
    assert len(messages) == 2
    assert 'quote it, `version: "1.10"`' in messages[0]
    assert "which YAML reads as the number 1.1" in messages[0]
    assert 'quote it, `enabled: "on"`' in messages[1]


def test_unquoted_annotation_value_says_quote_it() -> None:
    d = only(
        lint(dr("  name: reviews\n  annotations:\n    sidecar.istio.io/inject: true")), "ML305"
    )
    assert "quote it" in d.message
    assert '`sidecar.istio.io/inject: "true"`' in d.message
    assert (d.line, d.column) == (6, 30)


def test_annotation_size_limit() -> None:
    big = "x" * (ANNOTATIONS_LIMIT // 2)
    under = lint(dr(f"  name: reviews\n  annotations:\n    a: {big}\n"))
    assert under == []
    over = lint(dr(f"  name: reviews\n  annotations:\n    a: {big}\n    b: {big}\n"))
    d = only(over, "ML305")
    assert (d.line, d.column, d.path) == (5, 3, "metadata.annotations")
    assert "256 KiB" in d.message


def test_annotation_size_counts_utf8_bytes() -> None:
    value = "é" * (ANNOTATIONS_LIMIT // 2)  # two bytes each
    d = only(lint(dr(f"  name: reviews\n  annotations:\n    a: {value}\n")), "ML305")
    assert "256 KiB" in d.message


def test_placeholder_in_name_is_reported_once() -> None:
    found = lint(dr('  name: "{{ .Values.name }}"\n  namespace: "${NS}"'))
    assert [(d.code, d.line, d.column) for d in found] == [("ML306", 4, 9), ("ML306", 5, 14)]


def test_placeholder_in_string_metadata() -> None:
    found = lint(DR.replace("metadata:\n{meta}", 'metadata: {{ include "meta" . }}'))
    assert [(d.code, d.line, d.column, d.path) for d in found] == [
        ("ML306", 3, 11, "metadata"),
    ]


def test_placeholder_message_counts_the_others() -> None:
    text = dr("  name: reviews").replace("host: reviews", 'host: "{{ .a }}.{{ .b }}.{{ .c }}"')
    d = only(lint(text), "ML306")
    assert "`{{ .a }}` (and 2 more)" in d.message


def test_placeholder_quote_is_shortened() -> None:
    long = "{{ " + "x" * 200 + " }}"
    d = only(lint(dr("  name: reviews").replace("host: reviews", f'host: "{long}"')), "ML306")
    assert "…" in d.message
    assert len(d.message) < 250


@pytest.mark.parametrize(
    ("value", "form"),
    [
        ("{{.service}}", "unrendered template placeholder"),
        ("{{- .Values.x | quote -}}", "unrendered template placeholder"),
        ("{% if x %}a{% endif %}", "Jinja"),
        ("{# note #}", "Jinja"),
        ("<no value>", "<no value>"),
        ("%!d(string=abc)", "Go fmt error"),
        ("%!(EXTRA string=abc)", "Go fmt error"),
        ("${HOST}", "unsubstituted variable"),
        ("${HOST:-reviews}", "unsubstituted variable"),
        ("$(HOST)", "kustomize"),
    ],
)
def test_placeholder_forms(value: str, form: str) -> None:
    text = dr("  name: reviews").replace("host: reviews", f"host: '{value}'")
    d = only(lint(text), "ML306")
    assert form in d.message
    assert d.severity.label == "error"
    assert (d.line, d.column, d.path) == (6, 9, "spec.host")


@pytest.mark.parametrize(
    "value",
    [
        "$",
        "US$5",
        "$1",
        "$lower",
        "$$(ESCAPED)",
        "$${ESCAPED}",
        "%REQ(x-foo)%",
        "100%",
        "a < b",
        "{json: true}",
        "{ {x} }",
        "%!",
        "plain",
    ],
)
def test_not_placeholders(value: str) -> None:
    assert not has_placeholder(value)
    text = dr("  name: reviews").replace("host: reviews", f"host: '{value}'")
    assert lint(text) == []


def test_plain_dollar_is_a_warning_outside_regex_fields_only() -> None:
    text = """apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
spec:
  hosts: [reviews]
  http:
  - match:
    - uri:
        regex: "^/$PREFIX/.*$"
    rewrite:
      authority: $UPSTREAM
    route:
    - destination:
        host: reviews
"""
    found = lint(text)
    assert [(d.code, d.severity.label, d.line, d.column) for d in found] == [
        ("ML306", "warning", 12, 18),
    ]
    assert "envsubst" in found[0].message


def test_legitimate_dollar_forms_in_containers() -> None:
    text = """apiVersion: v1
kind: Pod
metadata:
  name: reviews
spec:
  containers:
  - name: reviews
    image: ${IMAGE}
    command: ["sh", "-c", "exec app --port=$PORT ${EXTRA}"]
    args: ["--ip=$(POD_IP)"]
    env:
    - name: OPTS
      value: "${JAVA_OPTS} $(POD_NAME)"
"""
    found = lint(text)
    # the image is an envsubst artefact; command, args and env are expanded by Kubernetes or sh
    assert [(d.code, d.line, d.column) for d in found] == [("ML306", 8, 12)]


def test_config_map_data_only_reports_go_artefacts() -> None:
    text = """apiVersion: v1
kind: ConfigMap
metadata:
  name: dashboards
  labels:
    app: "{{ .Chart.Name }}"
data:
  legend: "{{pod}} ${X} $(Y)"
  broken: "value: <no value>"
"""
    found = lint(text)
    assert [(d.code, d.line, d.column, d.path) for d in found] == [
        ("ML306", 6, 10, "metadata.labels.app"),
        ("ML306", 9, 11, "data.broken"),
    ]


def test_foreign_crd_specs_are_not_scanned_but_their_metadata_is() -> None:
    text = """apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  name: "{{ .Values.name }}"
spec:
  templates:
  - name: main
    container:
      args: ["{{inputs.parameters.message}}"]
"""
    found = lint(text)
    assert [(d.code, d.line, d.column, d.path) for d in found] == [
        ("ML306", 4, 9, "metadata.name"),
    ]


def test_json_documents() -> None:
    text = (
        '{"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",\n'
        ' "metadata": {"name": "Reviews"},\n'
        ' "spec": {"host": "{{ .host }}"}}\n'
    )
    found = lint(text, name="dr.json")
    assert [(d.code, d.line, d.column) for d in found] == [("ML302", 2, 23), ("ML306", 3, 19)]


def test_metadata_string_without_glued_key() -> None:
    d = only(lint(DR.replace("metadata:\n{meta}", "metadata: reviews")), "ML307")
    assert d.message.startswith("`metadata` is the string 'reviews'; it must be a mapping")
    assert (d.line, d.column) == (3, 11)


def test_metadata_with_several_glued_keys() -> None:
    found = lint(dr("  name:reviews\n  namespace:shop"))
    shape = only(found, "ML307")
    assert "a space is missing after 'name:' and 'namespace:'" in shape.message
    assert not [d for d in found if d.code in ("ML301", "ML302")]  # `reviews` is a valid name


def test_metadata_missing_entirely() -> None:
    text = "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nspec:\n  host: reviews\n"
    d = only(lint(text), "ML301")
    assert "no `metadata`" in d.message


def test_generate_name_is_enough() -> None:
    assert lint(dr("  generateName: reviews-")) == []


def test_labels_written_with_glued_key() -> None:
    d = only(lint(dr("  name: reviews\n  labels:\n    app:reviews")), "ML304")
    assert "a space is missing after 'app:'" in d.message
    assert (d.line, d.column, d.path) == (6, 5, "metadata.labels")


def test_selector_wildcard_hint() -> None:
    text = """apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata:
  name: reviews
spec:
  selector:
    matchLabels:
      "app*": reviews
  mtls:
    mode: STRICT
"""
    d = only(lint(text), "ML312")
    assert "`*` is not a wildcard" in d.message
    assert (d.line, d.column) == (8, 7)


def test_selector_labels_answer_to_the_old_code() -> None:
    """ML312 was split off ML304: the old code still selects, ignores and suppresses it."""
    text = """apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata:
  name: reviews
  labels:
    version: 1.10
spec:
  selector:
    matchLabels:
      app: "reviews-*"
"""

    def codes(config: Config, text: str = text) -> list[str]:
        return [d.code for d in lint_text(text, config, name="t.yaml").findings]

    assert codes(Config(select=["ML304"])) == ["ML304", "ML312"]
    assert codes(Config(select=["ML312"])) == ["ML312"]
    assert codes(Config(select=["ML3"], ignore=["ML304"])) == []
    assert codes(Config(select=["ML3"], ignore=["ML312"])) == ["ML304"]
    suppressed = text.replace('"reviews-*"', '"reviews-*"  # meshlint: disable=ML304')
    assert codes(Config(select=["ML3"]), suppressed) == ["ML304"]


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        ("", "is empty"),
        ("a/b/c", "more than one `/`"),
        ("example.com/", "nothing after the `/`"),
        ("ex_ample.com/app", "prefix `ex_ample.com`"),
        ("x" * 64, "64 characters long (at most 63)"),
        ("app-", "ends with `-`"),
    ],
)
def test_label_key_problems(key: str, problem: str) -> None:
    d = only(lint(dr(f'  name: reviews\n  labels:\n    "{key}": v')), "ML304")
    assert problem in d.message
    assert d.path == f'metadata.labels["{key}"]' or d.path == f"metadata.labels.{key}"


def test_dry_run_value_fix() -> None:
    text = """apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: deny-admin
  annotations:
    istio.io/dry-run: "yes"
spec:
  action: DENY
"""
    d = only(lint(text), "ML309")
    assert d.fix == 'istio.io/dry-run: "true"'


def test_dry_run_on_allow_policy_with_default_action() -> None:
    text = """apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: allow-all
  annotations:
    istio.io/dry-run: "false"
spec: {}
"""
    assert lint(text) == []


def test_istio_suppression_annotation_covers_webhook_rules() -> None:
    text = """apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: reviews
  annotations:
    galley.istio.io/analyze-suppress: IST0106
    internal.istio.io/parents: x
spec:
  host: reviews
"""
    assert lint(text) == []


def test_only_the_document_with_a_placeholder_is_reported() -> None:
    clean = dr("  name: reviews")
    found = lint(
        clean + "---\n" + clean.replace("host: reviews", "host: ${HOST}") + "---\n" + clean
    )
    assert [(d.code, d.line, d.column) for d in found] == [("ML306", 13, 9)]


def test_list_items_are_scanned() -> None:
    text = """apiVersion: v1
kind: List
items:
- apiVersion: networking.istio.io/v1
  kind: DestinationRule
  metadata:
    name: reviews
  spec:
    host: "{{ .host }}"
"""
    found = lint(text)
    assert [(d.code, d.line, d.column, d.path) for d in found] == [
        ("ML306", 9, 11, "spec.host"),
    ]


# ---------------------------------------------------------------------------------------------
# The quick tests that let most resources through find what the detailed checks find
# ---------------------------------------------------------------------------------------------

_TEXTS: list[object] = [
    None, "", " ", " x", "reviews", "svc-1", "Reviews_V1", "a.b", "a..b", "-a", "a-", "a.-b",
    "x" * 63, "x" * 64, "a" * 254, "{{ .Values.x }}", "${NAME}", "$(VAR)", "reviews-*", "*",
    "ünï", "a/b", "a/b/c", "/b", "a/", "Ex.com/x", "ex.com/_x", "app.kubernetes.io/name",
    "name:Reviews_V1", "name:reviews", 1, 0, 1.5, True, [], ["a"], {}, {"a": "b"},
    "x" * 70000, "日" * 90000,
]  # fmt: skip
_KEYS: list[object] = ["app", "", "a b", "Ex.com/x", "a/b/c", "x" * 70, "{{ k }}", "*", "/b", 7]


def _resources() -> list[Resource]:
    """Resources of three kinds whose metadata, pod template and selector take each text."""
    out: list[Resource] = []
    for i, text in enumerate(_TEXTS):
        key = _KEYS[i % len(_KEYS)]
        for api_version, kind in (
            ("networking.istio.io/v1", "Gateway"),
            ("apps/v1", "Deployment"),
            ("batch/v1", "CronJob"),
        ):
            labels = {"app": "reviews", key: text}
            fine = {"app": "reviews", "version": "v1"}
            for meta in (
                {"name": text, "namespace": text, "labels": labels, "annotations": labels},
                {"name": "reviews", "namespace": "shop", "labels": fine, "annotations": fine},
                text,
            ):
                template = {"metadata": {"labels": labels, "annotations": {key: text}}}
                data = {
                    "apiVersion": api_version,
                    "kind": kind,
                    "metadata": meta,
                    "spec": {
                        "selector": {"matchLabels": labels if i % 2 else fine},
                        "template": template if i % 3 else {"metadata": {"labels": fine}},
                        "jobTemplate": {"spec": {"template": template}},
                    },
                }
                doc = loader.load_text(json.dumps(data), "t.json").documents[0]
                res = Resource.of(doc)
                assert res is not None
                out.append(res)
    return out


def _not_a_mapping(res: Resource) -> Iterable[Finding]:
    meta = res.data.get("metadata")
    if meta is None or isinstance(meta, dict):
        return ()
    return names._metadata_not_a_mapping(res, meta)


def test_quick_tests_hide_no_finding() -> None:
    # Twice: the second time, the valid texts are known from the first.
    for res in _resources() + _resources():
        checks = [
            (names.missing_name, names._missing_name),
            (names.invalid_name, names._invalid_name),
            (names.invalid_namespace, names._invalid_namespace),
            (labels.invalid_annotation, labels._invalid_annotations),
            (names.metadata_not_a_mapping, _not_a_mapping),
            (
                labels.invalid_label,
                lambda r: labels._invalid_labels(r, labels._LABEL_MAPS, selector=False),
            ),
            (
                labels.invalid_selector_label,
                lambda r: labels._invalid_labels(r, labels._SELECTOR_LABELS, selector=True),
            ),
        ]
        for check, detailed in checks:
            assert list(check(res)) == list(detailed(res)), (check.__name__, res.data)


def test_a_source_is_scanned_for_placeholders_when_it_holds_a_marker() -> None:
    def reference(text: str, begin: int, end: int) -> bool:
        return any(
            re.compile(marker).search(text, begin, end) is not None
            for marker in (r"\{[{%#]", r"\$[A-Z_({\\]", "<no value>", "%!")
        )

    rnd = random.Random(7)
    for _ in range(20000):
        text = "".join(rnd.choice("{$%<!#A_(\\a }x\n") for _ in range(rnd.randint(0, 30)))
        if rnd.random() < 0.2:  # more than the few '{' and '$' looked at one by one
            text = "{x" * rnd.randint(5, 12) + text + "$ " * rnd.randint(5, 12) + "{{"
        begin = rnd.randint(0, len(text))
        end = rnd.randint(begin, len(text))
        assert _has_marker(text, begin, end) == reference(text, begin, end), (text, begin, end)
