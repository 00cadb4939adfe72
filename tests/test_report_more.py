"""JUnit XML, GitLab Code Quality and --statistics, on one hand-made set of findings and a real run."""

from __future__ import annotations

import collections
import dataclasses
import json
import xml.dom.minidom
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from meshlint.config import Config
from meshlint.diagnostics import Diagnostic, Severity, Span, summarize
from meshlint.engine import LintResult, lint_paths, lint_text
from meshlint.loader import Source
from meshlint.report import FORMATS, render
from meshlint.report import gitlab as gitlab_report
from meshlint.report.statistics import render_statistics

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "report_more"

# --- the shared set ------------------------------------------------------------------------------

VS_FILE = "deploy/mesh café/reviews.yaml"
GW_FILE = "overlays/a&b <prod>/gateway.yaml"  # XML's special characters in a file name
CLEAN_FILE = "deploy/clean.yaml"
UNREADABLE = "secret/unreadable.yaml"  # no source: it could not be read
VS = 'VirtualService/shop/"reviews"'
GW = "Gateway/istio-system/public"
TRICKY = 'value <b>&amp;</b> isn\'t "quoted" — 日本語'


def findings() -> list[Diagnostic]:
    return [
        Diagnostic(
            "ML206",
            Severity.ERROR,
            "unknown field `timout`; did you mean `timeout`?",
            VS_FILE,
            Span(13, 5, 13, 11),
            VS,
            "spec.http[0].timout",
            "rename `timout` to `timeout`",
        ),
        Diagnostic(
            "ML209",
            Severity.WARNING,
            TRICKY,
            VS_FILE,
            Span(7, 12, 7, 16),
            VS,
            'metadata.annotations["owner"]',
        ),
        Diagnostic(
            "ML204",
            Severity.INFO,
            "`networking.istio.io/v1beta1` is older; use `v1` <now> & then",
            VS_FILE,
            Span(1, 13, 1, 40),
            VS,
            "apiVersion",
            "apiVersion: networking.istio.io/v1",
        ),
        Diagnostic(
            "ML206",
            Severity.ERROR,
            "two problems:\nfirst, here\r\nsecond: there",
            VS_FILE,
            Span(11, 3, 14, 1),  # a block that ends where line 14 starts
            VS,
            "spec.http[0]",
        ),
        Diagnostic(
            "ML101",
            Severity.ERROR,
            "YAML syntax error: a control character \x1b[31m and a \x00 byte",
            GW_FILE,
            Span(5, 2, 5, 9),
        ),
        Diagnostic(
            "ML204",
            Severity.INFO,
            "`networking.istio.io/v1beta1` is older; use `v1`",
            GW_FILE,
            Span(1, 13, 1, 40),
            GW,
            "apiVersion",
        ),
        Diagnostic(
            "ML100",
            Severity.ERROR,
            "cannot read: [Errno 13] Permission denied",
            UNREADABLE,
        ),
    ]


def shared_result() -> LintResult:
    return LintResult(
        findings=findings(),
        sources=[
            Source(VS_FILE, "apiVersion: x\n" * 14),
            Source(GW_FILE, "x: 1\n" * 5),
            Source(CLEAN_FILE, "apiVersion: v1\n"),
        ],
        resources=3,
        files=3,
    )


def test_new_formats_are_registered() -> None:
    assert {"junit", "gitlab"} <= set(FORMATS)
    with pytest.raises(ValueError, match="unknown format"):
        render("statistics", shared_result())


# --- junit ---------------------------------------------------------------------------------------


def parse_junit(text: str) -> ET.Element:
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n')
    data = text.encode("utf-8")
    xml.dom.minidom.parseString(data)  # a second, strict parser: well-formed or it raises
    root = ET.fromstring(data)
    assert root.tag == "testsuites"
    return root


def suites(root: ET.Element) -> dict[str, ET.Element]:
    found = root.findall("testsuite")
    by_name = {s.attrib["name"]: s for s in found}
    assert len(by_name) == len(found)
    return by_name


def check_counts(root: ET.Element) -> None:
    """Every count attribute agrees with the elements it counts."""
    total_tests = total_failures = 0
    for suite in root.findall("testsuite"):
        cases = suite.findall("testcase")
        failures = [c for c in cases if c.find("failure") is not None]
        assert suite.attrib["tests"] == str(len(cases))
        assert suite.attrib["failures"] == str(len(failures))
        assert suite.attrib["errors"] == "0" and suite.attrib["skipped"] == "0"
        for case in cases:
            assert case.attrib["classname"] and case.attrib["name"]
        total_tests += len(cases)
        total_failures += len(failures)
    assert root.attrib["tests"] == str(total_tests)
    assert root.attrib["failures"] == str(total_failures)


def test_junit_suites_cases_and_counts() -> None:
    root = parse_junit(render("junit", shared_result()))
    check_counts(root)
    by_name = suites(root)
    # files in the order read, then the one only a finding names
    assert list(by_name) == [VS_FILE, GW_FILE, CLEAN_FILE, UNREADABLE]
    assert (root.attrib["tests"], root.attrib["failures"]) == ("8", "5")
    counts = {name: (s.attrib["tests"], s.attrib["failures"]) for name, s in by_name.items()}
    assert counts == {
        VS_FILE: ("4", "3"),  # an error, a warning, an info, an error
        GW_FILE: ("2", "1"),
        CLEAN_FILE: ("1", "0"),
        UNREADABLE: ("1", "1"),
    }
    names = [c.attrib["name"] for c in by_name[VS_FILE].findall("testcase")]
    assert names == [
        f"ML206 {VS} spec.http[0].timout 13:5",
        f'ML209 {VS} metadata.annotations["owner"] 7:12',
        f"ML204 {VS} apiVersion 1:13",
        f"ML206 {VS} spec.http[0] 11:3",
    ]
    assert [c.attrib["name"] for c in by_name[GW_FILE].findall("testcase")] == [
        "ML101 5:2",  # no resource, no path: left out
        f"ML204 {GW} apiVersion 1:13",
    ]
    assert by_name[UNREADABLE].find("testcase").attrib["name"] == "ML100 1:1"  # type: ignore[union-attr]
    for name, suite in by_name.items():
        assert {c.attrib["classname"] for c in suite.findall("testcase")} == {name}


def test_junit_failure_details() -> None:
    root = parse_junit(render("junit", shared_result()))
    vs = suites(root)[VS_FILE]
    first = vs.findall("testcase")[0].find("failure")
    assert first is not None
    assert first.attrib == {
        "type": "ML206",
        "message": "unknown field `timout`; did you mean `timeout`?",
    }
    assert first.text == (
        f"{VS_FILE}:13:5\n"
        "error: ML206 unknown-field\n"
        f"resource: {VS}\n"
        "path: spec.http[0].timout\n"
        "unknown field `timout`; did you mean `timeout`?\n"
        "fix: rename `timout` to `timeout`\n"
    )
    warning = vs.findall("testcase")[1].find("failure")
    assert warning is not None and warning.text is not None
    assert warning.text.startswith(f"{VS_FILE}:7:12\nwarning: ML209 ")
    assert "fix:" not in warning.text
    # a message over several lines: exact in the attribute, one line each in the body
    multi = vs.findall("testcase")[3].find("failure")
    assert multi is not None and multi.text is not None
    assert multi.attrib["message"] == "two problems:\nfirst, here\r\nsecond: there"
    assert "two problems:\nfirst, here\nsecond: there\n" in multi.text


def test_junit_info_is_a_passing_case_with_output() -> None:
    root = parse_junit(render("junit", shared_result()))
    info = suites(root)[VS_FILE].findall("testcase")[2]
    assert info.find("failure") is None and info.find("skipped") is None
    out = info.find("system-out")
    assert out is not None and out.text is not None
    assert out.text.startswith(f"{VS_FILE}:1:13\ninfo: ML204 ")
    assert "`networking.istio.io/v1beta1` is older; use `v1` <now> & then\n" in out.text
    assert out.text.endswith("fix: apiVersion: networking.istio.io/v1\n")
    # every info finding, and only they, is a system-out
    outs = root.findall("testsuite/testcase/system-out")
    assert len(outs) == sum(d.severity is Severity.INFO for d in findings())


def test_junit_clean_file_is_one_passing_case() -> None:
    root = parse_junit(render("junit", shared_result()))
    (case,) = suites(root)[CLEAN_FILE].findall("testcase")
    assert case.attrib == {"classname": CLEAN_FILE, "name": "meshlint", "time": "0"}
    assert list(case) == []


def test_junit_escaping() -> None:
    text = render("junit", shared_result())
    root = parse_junit(text)
    # the special characters arrive intact after a parse …
    warning = suites(root)[VS_FILE].findall("testcase")[1].find("failure")
    assert warning is not None and warning.text is not None
    assert warning.attrib["message"] == TRICKY
    assert TRICKY in warning.text
    assert GW_FILE in suites(root)
    # … because they were escaped in the document
    assert "<b>" not in text and "&lt;b&gt;&amp;amp;&lt;/b&gt;" in text
    assert "&quot;quoted&quot;" in text  # inside an attribute
    assert 'name="overlays/a&amp;b &lt;prod&gt;/gateway.yaml"' in text
    assert "日本語" in text  # non-ASCII as itself, in UTF-8
    assert "&#10;" in text and "&#13;" in text  # line breaks kept inside attributes
    # characters XML cannot carry are shown, not sent
    assert "\x1b" not in text and "\x00" not in text
    control = suites(root)[GW_FILE].find("testcase/failure")
    assert control is not None
    assert control.attrib["message"] == (
        "YAML syntax error: a control character \\x1b[31m and a \\x00 byte"
    )


def test_junit_undecodable_file_name() -> None:
    name = "bad-\udcff.yaml"  # how an undecodable byte in a file name arrives
    result = LintResult(
        findings=[Diagnostic("ML101", Severity.ERROR, "x", name, Span.point(1))],
        sources=[Source(name, "x\n")],
        files=1,
    )
    root = parse_junit(render("junit", result))
    assert list(suites(root)) == ["bad-\\udcff.yaml"]


def test_junit_parallel_run_counts_unnamed_clean_files() -> None:
    # a parallel run keeps only the sources with findings: 3 of the 5 files read are unnamed
    result = shared_result()
    result.sources = result.sources[:2]
    result.files = 5
    root = parse_junit(render("junit", result))
    check_counts(root)
    by_name = suites(root)
    assert list(by_name) == [VS_FILE, GW_FILE, UNREADABLE, "(3 files without findings)"]
    (case,) = by_name["(3 files without findings)"].findall("testcase")
    assert case.attrib["name"] == "3 files without findings" and list(case) == []
    assert root.attrib["tests"] == "8"


def test_junit_empty_run() -> None:
    root = parse_junit(render("junit", LintResult()))
    assert root.attrib["tests"] == "0" and root.findall("testsuite") == []


# --- gitlab --------------------------------------------------------------------------------------

# The shape GitLab documents for a Code Quality report, with the types it expects.
CODE_QUALITY_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "array",
    "items": {
        "type": "object",
        "required": ["description", "check_name", "fingerprint", "severity", "location"],
        "additionalProperties": False,
        "properties": {
            "description": {"type": "string", "minLength": 1},
            "check_name": {"type": "string", "pattern": "^ML[1-9][0-9][0-9]$"},
            "fingerprint": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
            "severity": {"enum": ["info", "minor", "major", "critical", "blocker"]},
            "location": {
                "type": "object",
                "required": ["path", "lines"],
                "additionalProperties": False,
                "properties": {
                    "path": {"type": "string", "minLength": 1},
                    "lines": {
                        "type": "object",
                        "required": ["begin"],
                        "additionalProperties": False,
                        "properties": {
                            "begin": {"type": "integer", "minimum": 1},
                            "end": {"type": "integer", "minimum": 1},
                        },
                    },
                },
            },
        },
    },
}


def valid_report(text: str) -> list[dict[str, Any]]:
    doc = json.loads(text)
    jsonschema.validate(doc, CODE_QUALITY_SCHEMA)
    for issue in doc:
        lines = issue["location"]["lines"]
        assert lines["end"] >= lines["begin"]
    fingerprints = [issue["fingerprint"] for issue in doc]
    assert len(set(fingerprints)) == len(fingerprints)
    assert isinstance(doc, list)
    return doc


def test_gitlab_schema_catches_a_bad_report() -> None:
    good = valid_report(render("gitlab", shared_result()))
    bad = json.loads(json.dumps(good))
    bad[0]["severity"] = "error"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, CODE_QUALITY_SCHEMA)
    del good[0]["location"]["lines"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(good, CODE_QUALITY_SCHEMA)


def test_gitlab_report_shape(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    doc = valid_report(render("gitlab", shared_result()))
    fs = findings()
    assert len(doc) == len(fs)
    assert [i["check_name"] for i in doc] == [d.code for d in fs]
    assert [i["severity"] for i in doc] == [
        "major",
        "minor",
        "info",
        "major",
        "major",
        "info",
        "major",
    ]
    assert doc[0]["description"] == (
        "unknown field `timout`; did you mean `timeout`? (fix: rename `timout` to `timeout`)"
    )
    assert doc[1]["description"] == TRICKY  # JSON carries it as it is
    assert doc[0]["location"] == {"path": VS_FILE, "lines": {"begin": 13, "end": 13}}
    # a block that ends where line 14 starts ends on line 13
    assert doc[3]["location"]["lines"] == {"begin": 11, "end": 13}
    assert doc[4]["location"]["path"] == GW_FILE
    assert doc[6]["location"] == {"path": UNREADABLE, "lines": {"begin": 1, "end": 1}}
    assert "\\u65e5\\u672c\\u8a9e" in render("gitlab", shared_result())  # ASCII on the wire


def test_gitlab_paths_relative_to_the_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    names = [str(tmp_path / "k8s" / "a.yaml"), "./k8s/../b.yaml", str(tmp_path.parent / "c.yaml")]
    result = LintResult(
        findings=[Diagnostic("ML101", Severity.ERROR, "x", n, Span.point(2)) for n in names]
    )
    paths = [i["location"]["path"] for i in gitlab_report.build(result)]
    assert paths == ["k8s/a.yaml", "b.yaml", (tmp_path.parent / "c.yaml").as_posix()]
    other = gitlab_report.build(result, root=tmp_path / "k8s")
    assert other[0]["location"]["path"] == "a.yaml"


def fingerprints(result: LintResult) -> list[str]:
    return [i["fingerprint"] for i in gitlab_report.build(result, root=Path("/nowhere"))]


def test_gitlab_fingerprints() -> None:
    before = fingerprints(shared_result())
    assert len(set(before)) == len(before)
    # lines and columns do not count
    moved = shared_result()
    for d in moved.findings:
        if d.span is not None:
            d.span = Span(d.span.line + 3, d.span.column + 1, d.span.end_line + 3, 9)
    assert fingerprints(moved) == before
    one = Diagnostic("ML102", Severity.ERROR, "duplicate key 'a' (first at line 4)", "a.yaml")
    two = dataclasses.replace(one, message="duplicate key 'a' (first at line 9)")
    assert fingerprints(LintResult(findings=[one])) == fingerprints(LintResult(findings=[two]))
    # code, file, resource, path and message each count
    for change in (
        {"code": "ML207"},
        {"file": "other.yaml"},
        {"resource": "VirtualService/shop/other"},
        {"path": "spec.http[1].timout"},
        {"message": "something else"},
    ):
        changed = shared_result()
        changed.findings[0] = dataclasses.replace(changed.findings[0], **change)
        got = fingerprints(changed)
        assert got[0] != before[0], change
        assert got[1:] == before[1:]
    # the severity does not: an override keeps the finding's identity
    changed = shared_result()
    changed.findings[0].severity = Severity.WARNING
    assert fingerprints(changed) == before


def test_gitlab_repeated_finding_gets_its_own_fingerprint() -> None:
    d = Diagnostic("ML101", Severity.ERROR, "same", "a.yaml", Span.point(1))
    e = dataclasses.replace(d, span=Span.point(5))
    a, b = fingerprints(LintResult(findings=[d, e]))
    assert a != b
    assert a == fingerprints(LintResult(findings=[e]))[0]  # the first one keeps the plain hash


def test_gitlab_empty_run() -> None:
    assert render("gitlab", LintResult()) == "[]\n"


# --- statistics ----------------------------------------------------------------------------------


def test_statistics_shared_set() -> None:
    assert render_statistics(shared_result()) == (
        "   2  ML204  old-api-version  [info]\n"
        "   2  ML206  unknown-field    [error]\n"
        "   1  ML100  unreadable-file  [error]\n"
        "   1  ML101  yaml-syntax      [error]\n"
        "   1  ML209  invalid-value    [warning]\n"
        "   7  total: 4 errors, 1 warning, 2 infos in 3 files\n"
    )


def test_statistics_order_mixed_severities_and_unknown_codes() -> None:
    def d(code: str, severity: Severity) -> Diagnostic:
        return Diagnostic(code, severity, "m", "a.yaml")

    fs = [d("ML198", Severity.INFO)] + [d("ML206", Severity.ERROR)] * 10
    fs += [d("ML206", Severity.WARNING), d("ML102", Severity.ERROR)]
    out = render_statistics(LintResult(findings=fs, files=1)).splitlines()
    assert out == [
        "  11  ML206  unknown-field  [error/warning]",
        "   1  ML102  duplicate-key  [error]",
        "   1  ML198  -              [info]",
        "  13  total: 11 errors, 1 warning, 1 info in 1 file",
    ]


def test_statistics_wide_counts_and_clean_run() -> None:
    many = [Diagnostic("ML206", Severity.ERROR, "m", "a.yaml")] * 12345
    out = render_statistics(LintResult(findings=many, files=2))
    assert out == (
        "12345  ML206  unknown-field  [error]\n12345  total: 12345 errors, 0 warnings, 0 infos in 2 files\n"
    )
    assert render_statistics(LintResult(files=1)) == (
        "   0  total: 0 errors, 0 warnings, 0 infos in 1 file\n"
    )


# --- a small real run ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real() -> LintResult:
    paths = [str(REPO / "examples" / "broken"), str(FIXTURES)]
    result = lint_paths(paths, Config())
    assert result.files == 7 and not result.io_error
    return result


def test_real_run_junit(real: LintResult) -> None:
    root = parse_junit(render("junit", real))
    check_counts(root)
    by_name = suites(root)
    assert len(by_name) == real.files
    counts = summarize(real.findings)
    assert root.attrib["failures"] == str(counts["errors"] + counts["warnings"])
    assert len(root.findall("testsuite/testcase/system-out")) == counts["infos"]
    (clean,) = by_name[str(FIXTURES / "clean.yaml")].findall("testcase")
    assert clean.attrib["name"] == "meshlint"
    quirks = by_name[str(FIXTURES / "quirks & café.yaml")]
    names = [c.attrib["name"] for c in quirks.findall("testcase")]
    assert "ML302 VirtualService/bookshop/café-<route>&co metadata.name 6:9" in names
    failure = quirks.find("testcase/failure[@type='ML302']")
    assert failure is not None and "`café-<route>&co`" in failure.attrib["message"]
    typo = by_name[str(REPO / "examples" / "broken" / "retries-typo.yaml")]
    assert typo.find("testcase/failure[@type='ML206']") is not None


def test_real_run_gitlab(real: LintResult, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    doc = valid_report(render("gitlab", real))
    assert len(doc) == len(real.findings)
    paths = {i["location"]["path"] for i in doc}
    assert "examples/broken/retries-typo.yaml" in paths
    assert "tests/fixtures/report_more/quirks & café.yaml" in paths
    assert all(not p.startswith("/") for p in paths)
    for issue, d in zip(doc, real.findings, strict=True):
        assert issue["location"]["lines"]["begin"] == d.line
        assert issue["check_name"] == d.code


def test_real_run_statistics(real: LintResult) -> None:
    lines = render_statistics(real).splitlines()
    counted = collections.Counter(d.code for d in real.findings)
    rows = [ln.split() for ln in lines[:-1]]
    assert [(r[1], int(r[0])) for r in rows] == sorted(
        counted.items(), key=lambda kv: (-kv[1], kv[0])
    )
    assert lines[-1].split()[0] == str(len(real.findings))
    assert lines[-1].endswith(f"in {real.files} files")


def test_lint_text_in_every_new_format() -> None:
    text = (
        "apiVersion: networking.istio.io/v1\n"
        "kind: VirtualService\n"
        "metadata: {name: r, namespace: shop}\n"
        "spec:\n"
        "  hosts: [r]\n"
        "  http:\n"
        "  - route: [{destination: {host: r}}]\n"
        "    timout: 5s\n"
    )
    result = lint_text(text, name="one.yaml")
    assert [d.code for d in result.findings] == ["ML206"]
    root = parse_junit(render("junit", result))
    assert list(suites(root)) == ["one.yaml"]
    assert root.find("testsuite/testcase/failure[@type='ML206']") is not None
    (issue,) = [i for i in valid_report(render("gitlab", result)) if i["check_name"] == "ML206"]
    assert issue["location"] == {"path": "one.yaml", "lines": {"begin": 8, "end": 8}}
    assert render_statistics(result) == (
        "   1  ML206  unknown-field  [error]\n   1  total: 1 error, 0 warnings, 0 infos in 1 file\n"
    )
