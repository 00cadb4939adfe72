"""ML4xx, the VirtualService rules: what their fixtures and examples do not show.

The fixtures of tests/fixtures/rules/virtualservice state their findings with expectation
markers (tests/test_rule_fixtures.py checks them); here are the edge cases (wrong types, template
placeholders, a huge body), the metadata every rule of the family records, and Istio's verdicts
on its own validation cases.
"""

from __future__ import annotations

import re
import textwrap

import pytest
from conftest import FIXTURES

from meshlint import rules
from meshlint.config import Config
from meshlint.engine import lint_text

FAMILY = [r for r in rules.all_rules() if r.module.startswith("meshlint.rules.virtualservice.")]
CODES = [r.code for r in FAMILY]
# The rules that mirror what Istio's webhook says (the others are best practice).
WEBHOOK_CODES = [r.code for r in FAMILY if not r.module.endswith(".practice")]


def _vs(spec: str, name: str = "reviews") -> str:
    """A complete VirtualService manifest around ``spec`` (YAML, indented as under ``spec:``)."""
    body = textwrap.indent(textwrap.dedent(spec).strip("\n"), "  ")
    return (
        "apiVersion: networking.istio.io/v1\n"
        "kind: VirtualService\n"
        "metadata:\n"
        f"  name: {name}\n"
        "  namespace: shop\n"
        "spec:\n"
        f"{body}\n"
    )


def test_rules_record_source_and_catalogue() -> None:
    assert len(WEBHOOK_CODES) >= 40
    owners: dict[str, set[str]] = {}
    for code in WEBHOOK_CODES:
        r = rules.get(code)
        assert r is not None
        assert r.kinds == frozenset({"VirtualService"})
        assert r.source and ("webhook" in r.source or "CRD" in r.source), code
        assert r.catalogue and all(c.startswith("vs-") for c in r.catalogue), code
        for row in r.catalogue:
            owners.setdefault(row, set()).add(r.aliases[0] if r.aliases else r.code)
    # A row is implemented by one rule, or shared by the rules split from one code.
    shared = {row: codes for row, codes in owners.items() if len(codes) > 1}
    assert not shared, f"catalogue rows implemented twice: {shared}"


def test_severities() -> None:
    sev = {code: rules.get(code).severity.label for code in CODES}  # type: ignore[union-attr]
    assert sev["ML405"] == sev["ML408"] == sev["ML415"] == sev["ML417"] == "warning"
    assert sev["ML409"] == "info"
    assert sev["ML401"] == sev["ML424"] == "error"


def test_large_direct_response_body_is_a_warning() -> None:
    text = _vs(
        f"""
        hosts: [reviews]
        http:
        - directResponse:
            status: 200
            body:
              string: {"x" * 150_000}
        """
    )
    found = lint_text(text, Config(select=["ML419"])).findings
    assert [(d.code, d.severity.label, d.path) for d in found] == [
        ("ML419", "warning", "spec.http[0].directResponse.body")
    ]
    huge = text.replace("x" * 150_000, "x" * (1024 * 1024 + 1))
    found = lint_text(huge, Config(select=["ML419"])).findings
    assert [(d.severity.label, d.path) for d in found] == [
        ("error", "spec.http[0].directResponse.body")
    ]


@pytest.mark.parametrize(
    "spec",
    [
        "hosts: reviews\nhttp: 3",
        "hosts: [1, null]\nhttp: [3, null, {route: 5, match: 7, retries: 3, fault: []}]",
        "http:\n- match: [{headers: 5, uri: 3, port: x, sourceLabels: []}]\n  route: [5]",
        "tcp: [{match: [3], route: {}}]\ntls: [{match: 5}, {match: [{sniHosts: 5}]}]",
        "http: [{corsPolicy: {allowOrigins: [5, {}], allowMethods: 3, maxAge: 7}}]",
        "http: [{retries: {attempts: x, retryOn: 5, perTryTimeout: 3}, timeout: 5}]",
        "http: [{redirect: 5, rewrite: {uriRegexRewrite: 3}, directResponse: {body: 4}}]",
        "http: [{headers: {request: {set: 3, remove: 5}}, mirrors: 4, mirror: 3}]",
        "exportTo: 5\ngateways: {a: b}",
    ],
)
def test_wrong_types_do_not_crash(spec: str) -> None:
    text = _vs(spec)
    result = lint_text(text, Config(select=CODES))
    assert all(d.code in CODES for d in result.findings)


def test_spec_not_a_mapping() -> None:
    text = _vs("").replace("spec:\n", "spec: [1]\n")
    assert lint_text(text, Config(select=CODES)).findings == []


def test_template_placeholders_are_left_to_ml306() -> None:
    text = _vs(
        """
        hosts:
        - "{{ .Values.host }}"
        http:
        - route:
          - destination:
              host: "{{ .Values.service }}"
              subset: "{{ .Values.version }}"
          timeout: "{{ .Values.timeout }}"
        """
    )
    assert lint_text(text, Config(select=CODES)).findings == []
    found = lint_text(text, Config(select=[*CODES, "ML306"])).findings
    assert {d.code for d in found} == {"ML306"}


def _istio_cases() -> list[tuple[str, str, str]]:
    path = FIXTURES / "rules" / "virtualservice" / "istio-cases.yaml"
    cases = []
    for doc in re.split(r"^---$", path.read_text(encoding="utf-8"), flags=re.M):
        m = re.search(r"^# istio: (.+): (valid|warning|invalid)$", doc, re.M)
        assert m, doc
        cases.append((m.group(1), m.group(2), doc))
    return cases


ISTIO_CASES = _istio_cases()


@pytest.mark.parametrize(("name", "verdict", "doc"), ISTIO_CASES, ids=[c[0] for c in ISTIO_CASES])
def test_istio_verdicts(name: str, verdict: str, doc: str) -> None:
    """Each of Istio's own cases, alone: an error where Istio rejects it, none where it accepts
    it, and a warning of the family where Istio warns."""
    found = lint_text(doc, Config(), name="istio-cases.yaml").findings
    errors = [(d.code, d.path, d.message) for d in found if d.severity.label == "error"]
    warnings = [
        (d.code, d.path) for d in found if d.code in WEBHOOK_CODES and d.severity.label != "error"
    ]
    if verdict == "invalid":
        assert errors
    else:
        assert errors == []
    assert bool(warnings) == (verdict == "warning"), warnings
