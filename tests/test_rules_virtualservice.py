"""ML4xx, the VirtualService field rules, on the fixtures of tests/fixtures/virtualservice.

``ML4nn-bad.yaml`` holds documents that each break rule ML4nn; every finding of that rule is
announced on its line by a comment ``# expect: ML4nn <path>`` (several on one line are separated
by ``;``, a path twice when the rule reports it twice). The test checks that the rule gives exactly these findings, on these lines and paths,
at the column of the offending key, value or list item. ``ML4nn-good.yaml`` holds documents that
give no finding of the rule and no error at all.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest
from conftest import FIXTURES, PRACTICE_CODES

from meshlint import rules
from meshlint.config import Config
from meshlint.diagnostics import Diagnostic
from meshlint.engine import lint_paths, lint_text

DIR = FIXTURES / "virtualservice"
CODES = sorted(
    r.code
    for r in rules.all_rules()
    if r.check is not None and r.code.startswith("ML4") and r.code not in PRACTICE_CODES
)
_EXPECT = re.compile(r"#\s*expect:\s*(.*)$")


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


def _expected(path: Path) -> list[tuple[str, int, str]]:
    out = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        m = _EXPECT.search(line)
        if not m:
            continue
        for item in m.group(1).split(";"):
            code, field = item.split()
            out.append((code, number, field))
    return sorted(out)


def _columns(line: str) -> set[int]:
    """Where a finding on this line may point: the item after '- ', a key, or its value."""
    text = line.split(" #", 1)[0].rstrip()
    cols = set()
    stripped = text.lstrip()
    col = len(text) - len(stripped) + 1
    cols.add(col)
    while stripped.startswith("- "):
        stripped = stripped[2:]
        col += 2
        cols.add(col)
    m = re.match(r"""("[^"]*"|'[^']*'|[^:]+):(\s+)(\S)""", stripped)
    if m:
        cols.add(col + m.start(3))
    return cols


def _lint(path: Path, codes: list[str]) -> list[Diagnostic]:
    return list(lint_paths([str(path)], Config(select=codes)).findings)


def test_every_rule_has_fixtures() -> None:
    assert len(CODES) >= 20
    for code in CODES:
        assert (DIR / f"{code}-bad.yaml").exists(), code
        assert (DIR / f"{code}-good.yaml").exists(), code


def test_rules_record_source_and_catalogue() -> None:
    for code in CODES:
        r = rules.get(code)
        assert r is not None
        assert r.kinds == frozenset({"VirtualService"})
        assert r.source and ("webhook" in r.source or "CRD" in r.source), code
        assert r.catalogue and all(c.startswith("vs-") for c in r.catalogue), code
    ids = [c for code in CODES for c in rules.get(code).catalogue]  # type: ignore[union-attr]
    assert len(ids) == len(set(ids)), "a catalogue row is implemented twice"


@pytest.mark.parametrize("code", CODES)
def test_bad_fixture(code: str) -> None:
    path = DIR / f"{code}-bad.yaml"
    expected = [e for e in _expected(path) if e[0] == code]
    assert expected, f"{path.name} announces no finding of {code}"
    lines = path.read_text(encoding="utf-8").splitlines()
    found = _lint(path, [code])
    got = sorted((d.code, d.line, d.path) for d in found)
    assert got == expected
    for d in found:
        assert d.column in _columns(lines[d.line - 1]), (d.line, d.column, d.path, d.message)
        assert d.message and not d.message.endswith(" ")


@pytest.mark.parametrize("code", CODES)
def test_good_fixture(code: str) -> None:
    path = DIR / f"{code}-good.yaml"
    result = lint_paths([str(path)], Config())
    assert [d for d in result.findings if d.code == code] == []
    assert [d for d in result.findings if d.severity.label == "error"] == []


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
    text = (DIR / "istio-cases.yaml").read_text(encoding="utf-8")
    cases = []
    for doc in re.split(r"^---$", text, flags=re.M):
        m = re.search(r"^# istio: (.+): (valid|warning|invalid)$", doc, re.M)
        assert m, doc
        cases.append((m.group(1), m.group(2), doc))
    return cases


ISTIO_CASES = _istio_cases()


@pytest.mark.parametrize(("name", "verdict", "doc"), ISTIO_CASES, ids=[c[0] for c in ISTIO_CASES])
def test_istio_verdicts(name: str, verdict: str, doc: str) -> None:
    found = lint_text(doc, Config(), name="istio-cases.yaml").findings
    errors = [(d.code, d.path, d.message) for d in found if d.severity.label == "error"]
    warnings = [(d.code, d.path) for d in found if d.code in CODES and d.severity.label != "error"]
    if verdict == "invalid":
        assert errors
    else:
        assert errors == []
    assert bool(warnings) == (verdict == "warning"), warnings
