"""Every output format, on one shared set of findings, plus a small real run and the CLI."""

from __future__ import annotations

import dataclasses
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from typer.testing import CliRunner

from meshlint import rules
from meshlint.cli import app
from meshlint.config import Config
from meshlint.diagnostics import Diagnostic, Replacement, Severity, Span
from meshlint.engine import LintResult, lint_paths
from meshlint.loader import Source
from meshlint.report import FORMATS, render
from meshlint.report import json as json_report
from meshlint.report import sarif as sarif_report

SARIF_SCHEMA = (
    Path(__file__).resolve().parents[1].parent / "shared/reference/sarif-schema-2.1.0.json"
)
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "report"
ANSI = "\x1b["

# --- the shared set ---------------------------------------------------------------------------

VS_FILE = "deploy/mesh café/reviews.yaml"  # a subfolder, a space, a non-ASCII letter
VS_TEXT = (
    "apiVersion: networking.istio.io/v1\n"  # 1
    "kind: VirtualService\n"  # 2
    "metadata:\n"  # 3
    "  name: reviews\n"  # 4
    "  namespace: shop\n"  # 5
    "  annotations:\n"  # 6
    '    owner: "日本語 team"\n'  # 7  wide characters before the span
    "spec:\n"  # 8
    "  hosts: [reviews]\n"  # 9
    "  http:\n"  # 10
    "  - route:\n"  # 11
    "    - destination: {host: reviews}\n"  # 12
    "    timout: 10s\n"  # 13
)
GW_FILE = "overlays/prod:eu,1/gateway.yaml"  # ':' and ',' need escaping in GitHub properties
GW_TEXT = (
    "apiVersion: networking.istio.io/v1beta1\n"  # 1
    "kind: Gateway\n"  # 2
    "metadata:\n"  # 3
    "  name: public\n"  # 4
    "\tservers: []\n"  # 5  a tab before the span
)
NO_SOURCE_FILE = "secret/unreadable.yaml"
VS = "VirtualService/shop/reviews"
GW = "Gateway/istio-system/public"


def at(text: str, line: int, needle: str) -> Span:
    """The span of ``needle`` on ``line`` (1-based) of ``text``."""
    col = text.splitlines()[line - 1].index(needle) + 1
    return Span(line, col, line, col + len(needle))


def findings() -> list[Diagnostic]:
    return [
        Diagnostic(
            "ML206",
            Severity.ERROR,
            "unknown field `timout`; did you mean `timeout`?",
            VS_FILE,
            at(VS_TEXT, 13, "timout"),
            VS,
            "spec.http[0].timout",
            "rename `timout` to `timeout`",
        ),
        Diagnostic(
            "ML204",
            Severity.WARNING,
            "retries: 100% of attempts, 3 tries: per-try timeout 2s",
            VS_FILE,
            at(VS_TEXT, 1, "networking.istio.io/v1"),
            VS,
            "apiVersion",
        ),
        Diagnostic(
            "ML209",
            Severity.INFO,
            "owner «team» is not a group alias — 日本語 is fine",
            VS_FILE,
            at(VS_TEXT, 7, "team"),
            VS,
            'metadata.annotations["owner"]',
        ),
        Diagnostic(
            "ML206",
            Severity.ERROR,
            "two problems:\nfirst, here\r\nsecond: there",
            VS_FILE,
            Span(11, 3, 14, 1),
            VS,
            "spec.http[0]",
        ),
        Diagnostic(
            "ML101",
            Severity.ERROR,
            "YAML syntax error: a tab is used for indentation",
            GW_FILE,
            at(GW_TEXT, 5, "servers"),
        ),
        Diagnostic(
            "ML100",
            Severity.ERROR,
            "cannot read: [Errno 13] Permission denied, near {{ .Values.host }}",
            NO_SOURCE_FILE,
        ),
        Diagnostic(
            "ML204",
            Severity.INFO,
            "`networking.istio.io/v1beta1` is older; use `v1`",
            GW_FILE,
            at(GW_TEXT, 1, "networking.istio.io/v1beta1"),
            GW,
            "apiVersion",
            "apiVersion: networking.istio.io/v1",
        ),
    ]


COUNTS = {"errors": 4, "warnings": 1, "infos": 2}


def shared_result() -> LintResult:
    return LintResult(
        findings=findings(),
        sources=[Source(VS_FILE, VS_TEXT), Source(GW_FILE, GW_TEXT)],
        resources=2,
        files=2,
    )


def test_shared_set_is_what_it_says() -> None:
    fs = findings()
    assert {d.severity for d in fs} == set(Severity)
    assert any(not d.resource for d in fs) and any(d.span is None for d in fs)
    assert at(VS_TEXT, 13, "timout") == Span(13, 5, 13, 11)
    assert at(GW_TEXT, 5, "servers") == Span(5, 2, 5, 9)


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_renders_the_shared_set(fmt: str) -> None:
    out = render(fmt, shared_result())
    assert out.endswith("\n")
    assert ANSI not in out


def test_unknown_format() -> None:
    with pytest.raises(ValueError, match="unknown format"):
        render("xml", shared_result())


# --- json ----------------------------------------------------------------------------------------

JSON_TYPES = {
    "rule": str,
    "severity": str,
    "file": str,
    "line": int,
    "column": int,
    "end_line": int,
    "end_column": int,
    "resource": str,
    "path": str,
    "message": str,
}


def test_json_contract() -> None:
    out = render("json", shared_result())
    doc = json.loads(out)
    assert set(doc) == {"findings", "summary"}
    assert doc["summary"] == {"files": 2, "resources": 2, **COUNTS}
    fs = findings()
    assert len(doc["findings"]) == len(fs)
    for got, d in zip(doc["findings"], fs, strict=True):
        expected_keys = set(JSON_TYPES) | ({"fix"} if d.fix else set())
        assert set(got) == expected_keys
        for key, typ in JSON_TYPES.items():
            assert type(got[key]) is typ, key
        span = d.span or Span(1, 1, 1, 2)
        assert (got["rule"], got["severity"], got["file"]) == (d.code, d.severity.label, d.file)
        assert (got["line"], got["column"], got["end_line"], got["end_column"]) == (
            span.line,
            span.column,
            span.end_line,
            span.end_column,
        )
        assert (got["resource"], got["path"], got["message"]) == (d.resource, d.path, d.message)
        assert got.get("fix") == d.fix
    assert "日本語" in out and "café" in out  # written as text, not \u escapes


def test_json_empty_result() -> None:
    doc = json.loads(render("json", LintResult()))
    assert doc == {
        "findings": [],
        "summary": {"files": 0, "resources": 0, "errors": 0, "warnings": 0, "infos": 0},
    }


def _general_json(result: LintResult) -> str:
    summary = {"files": result.files, "resources": result.resources, **COUNTS}
    if not result.findings:
        summary.update(errors=0, warnings=0, infos=0)
    doc = {"findings": [d.to_json() for d in result.findings], "summary": summary}
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def test_json_text_is_the_general_encoders() -> None:
    """The findings are written without json.dumps: the text is the same, byte for byte, as
    json.dumps(indent=2, ensure_ascii=False) writes it, empty or not, escapes included."""
    result = shared_result()
    assert render("json", result) == _general_json(result)
    assert render("json", LintResult()) == _general_json(LintResult())
    odd = shared_result()
    odd.findings[0].message = 'tab\tquote" backslash\\ bell\x07 nul\x00 emoji 🎉 sep\u2028'
    odd.findings[0].resource = None  # type: ignore[assignment]
    odd.findings[1].fix = Replacement("timeout", 'say "5s"')
    assert all(json_report._flat(d.to_json()) is not None for d in odd.findings)
    assert "\\u0007" in render("json", odd)
    assert render("json", odd) == _general_json(odd)


def test_json_any_other_value_goes_through_the_general_encoder() -> None:
    result = shared_result()
    result.findings[0].path = 1.5  # type: ignore[assignment]
    doc = json.loads(render("json", result))
    assert doc["findings"][0]["path"] == 1.5
    assert render("json", result) == _general_json(result)


# --- sarif ---------------------------------------------------------------------------------------


@cache
def sarif_validator() -> jsonschema.Draft7Validator:
    schema = json.loads(SARIF_SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def valid_sarif(text: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(text)
    errors = sorted(sarif_validator().iter_errors(doc), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:5])
    return doc


def test_sarif_validates_and_lists_only_fired_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    real_get = rules.get

    def with_istio(code: str) -> rules.Rule | None:
        r = real_get(code)
        return dataclasses.replace(r, istio="IST0101") if r and r.code == "ML206" else r

    monkeypatch.setattr(rules, "get", with_istio)
    doc = valid_sarif(render("sarif", shared_result()))
    assert doc["version"] == "2.1.0"
    (run,) = doc["runs"]
    assert run["columnKind"] == "unicodeCodePoints"
    driver = run["tool"]["driver"]
    assert driver["name"] == "meshlint"
    assert driver["version"]
    ids = [r["id"] for r in driver["rules"]]
    assert ids == sorted({d.code for d in findings()})
    for descriptor in driver["rules"]:
        rule = real_get(descriptor["id"])
        assert rule is not None
        assert descriptor["name"] == rule.name
        assert descriptor["shortDescription"]["text"] == rule.summary
        assert "meshlint explain" in descriptor["help"]["text"]
        assert (
            descriptor["defaultConfiguration"]["level"]
            == {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}[
                rule.severity
            ]
        )
        assert descriptor["help"]["text"] and descriptor["help"]["markdown"]
        if rule.bad.strip():
            first_bad = rule.bad.strip().splitlines()[0]
            assert first_bad in descriptor["help"]["text"]
            assert "```yaml\n" + first_bad in descriptor["help"]["markdown"]
        assert rule.family in descriptor["properties"]["tags"]
    by_id = {r["id"]: r for r in driver["rules"]}
    assert "IST0101" in by_id["ML206"]["properties"]["tags"]
    assert "IST0101" in by_id["ML206"]["help"]["text"]
    results = run["results"]
    assert len(results) == len(findings())
    for res, d in zip(results, findings(), strict=True):
        assert res["ruleId"] == d.code
        assert driver["rules"][res["ruleIndex"]]["id"] == d.code
        assert (
            res["level"]
            == {"error": "error", "warning": "warning", "info": "note"}[d.severity.label]
        )
        assert res["message"]["text"].startswith(d.message.replace("{", "{{").replace("}", "}}"))
    # ML204 is a note by default; the finding's own (configured) level wins
    assert by_id["ML204"]["defaultConfiguration"]["level"] == "note"
    assert results[1]["level"] == "warning"


def result_locations(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [res["locations"][0] for res in doc["runs"][0]["results"]]


def test_sarif_locations() -> None:
    doc = valid_sarif(render("sarif", shared_result()))
    locs = result_locations(doc)
    artifacts = [loc["physicalLocation"]["artifactLocation"] for loc in locs]
    assert artifacts[0] == {"uri": "deploy/mesh%20caf%C3%A9/reviews.yaml", "uriBaseId": "%SRCROOT%"}
    assert artifacts[4] == {"uri": "overlays/prod%3Aeu,1/gateway.yaml", "uriBaseId": "%SRCROOT%"}
    assert artifacts[5]["uri"] == "secret/unreadable.yaml"
    base = doc["runs"][0]["originalUriBaseIds"]["%SRCROOT%"]["uri"]
    assert base.startswith("file://") and base.endswith("/")
    regions = [loc["physicalLocation"]["region"] for loc in locs]
    assert regions[0] == {"startLine": 13, "startColumn": 5, "endLine": 13, "endColumn": 11}
    # a block ending where line 14 starts ends at the end of line 13
    assert regions[3] == {
        "startLine": 11,
        "startColumn": 3,
        "endLine": 13,
        "endColumn": len("    timout: 10s") + 1,
    }
    assert regions[5] == {"startLine": 1}  # no span
    logical = locs[0]["logicalLocations"][0]
    assert logical["fullyQualifiedName"] == "VirtualService/shop/reviews:spec.http[0].timout"
    assert logical["properties"] == {
        "kind": "VirtualService",
        "namespace": "shop",
        "name": "reviews",
    }
    assert "logicalLocations" not in locs[4]  # no resource


def test_sarif_uris_relative_to_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    inside = tmp_path / "sub dir" / "a.yaml"
    outside = tmp_path.parent / "elsewhere.yaml"
    names = [str(inside), str(outside), "./here/../b.yaml", "../up.yaml", "<stdin>"]
    result = LintResult(
        findings=[Diagnostic("ML101", Severity.ERROR, "x", name, Span.point(2)) for name in names]
    )
    doc = sarif_report.build(result)
    got = [loc["physicalLocation"]["artifactLocation"] for loc in result_locations(doc)]
    assert got == [
        {"uri": "sub%20dir/a.yaml", "uriBaseId": "%SRCROOT%"},
        {"uri": outside.as_uri()},
        {"uri": "b.yaml", "uriBaseId": "%SRCROOT%"},
        {"uri": (tmp_path.parent / "up.yaml").as_uri()},
        {"uri": "%3Cstdin%3E", "uriBaseId": "%SRCROOT%"},
    ]
    assert doc["runs"][0]["originalUriBaseIds"]["%SRCROOT%"]["uri"] == tmp_path.as_uri() + "/"
    # another root: names are still read from the current folder
    (sub,) = (
        loc["physicalLocation"]["artifactLocation"]
        for loc in result_locations(
            sarif_report.build(LintResult(findings=result.findings[:1]), root=tmp_path / "sub dir")
        )
    )
    assert sub == {"uri": "a.yaml", "uriBaseId": "%SRCROOT%"}


def test_sarif_messages_escape_braces_and_carry_the_fix() -> None:
    doc = valid_sarif(render("sarif", shared_result()))
    results = doc["runs"][0]["results"]
    assert results[5]["message"]["text"] == (
        "cannot read: [Errno 13] Permission denied, near {{{{ .Values.host }}}}"
    )
    assert results[0]["message"]["text"] == (
        "unknown field `timout`; did you mean `timeout`?\n\nFix: rename `timout` to `timeout`"
    )
    assert results[0]["properties"]["fix"] == "rename `timout` to `timeout`"
    assert "fix" not in results[1]["properties"]
    assert "日本語" in results[2]["message"]["text"]


def fingerprints(result: LintResult) -> list[str]:
    doc = sarif_report.build(result)
    return [res["partialFingerprints"]["meshlint/v1"] for res in doc["runs"][0]["results"]]


def test_sarif_fingerprints_are_stable_when_lines_move() -> None:
    before = fingerprints(shared_result())
    assert len(set(before)) == len(before)
    moved = shared_result()
    for d in moved.findings:
        if d.span is not None:
            d.span = Span(
                d.span.line + 7, d.span.column + 2, d.span.end_line + 7, d.span.end_column + 2
            )
    assert fingerprints(moved) == before
    # a line number inside the message does not count either
    one = LintResult(
        findings=[
            Diagnostic("ML102", Severity.ERROR, "duplicate key 'host' (first at line 4)", "a.yaml")
        ]
    )
    two = LintResult(
        findings=[
            Diagnostic("ML102", Severity.ERROR, "duplicate key 'host' (first at line 9)", "a.yaml")
        ]
    )
    assert fingerprints(one) == fingerprints(two)
    # what the finding is does count
    changed = shared_result()
    changed.findings[0].message = "something else"
    assert fingerprints(changed)[0] != before[0]
    assert fingerprints(changed)[1:] == before[1:]


def test_sarif_repeated_finding_gets_its_own_fingerprint() -> None:
    d = Diagnostic("ML101", Severity.ERROR, "same", "a.yaml", Span.point(1))
    e = dataclasses.replace(d, span=Span.point(5))
    a, b = fingerprints(LintResult(findings=[d, e]))
    assert a.endswith(":1") and b.endswith(":2") and a[:-2] == b[:-2]


def test_sarif_unknown_code_and_empty_run() -> None:
    doc = valid_sarif(
        sarif_report.render(
            LintResult(
                findings=[Diagnostic("ML198", Severity.WARNING, "from the future", "a.yaml")]
            )
        )
    )
    driver = doc["runs"][0]["tool"]["driver"]
    assert driver["rules"] == [{"id": "ML198", "shortDescription": {"text": "ML198"}}]
    assert doc["runs"][0]["results"][0]["ruleIndex"] == 0
    empty = valid_sarif(sarif_report.render(LintResult()))
    assert empty["runs"][0]["results"] == [] and empty["runs"][0]["tool"]["driver"]["rules"] == []


# --- github --------------------------------------------------------------------------------------

COMMAND = re.compile(r"^::(error|warning|notice) ([^:]*)::(.*)$")


def unescape(text: str, prop: bool = False) -> str:
    text = text.replace("%0D", "\r").replace("%0A", "\n")
    if prop:
        text = text.replace("%3A", ":").replace("%2C", ",")
    return text.replace("%25", "%")


def test_github_annotations() -> None:
    lines = render("github", shared_result()).splitlines()
    fs = findings()
    assert len(lines) == len(fs) + 1
    assert lines[-1] == "meshlint: 4 errors, 1 warning, 2 infos in 2 files"
    assert lines[0] == (
        "::error file=deploy/mesh café/reviews.yaml,line=13,col=5,endLine=13,endColumn=11,"
        "title=ML206::unknown field `timout`; did you mean `timeout`? "
        "[VirtualService/shop/reviews]%0Afix: rename `timout` to `timeout`"
    )
    assert lines[1] == (
        "::warning file=deploy/mesh café/reviews.yaml,line=1,col=13,endLine=1,endColumn=35,"
        "title=ML204::retries: 100%25 of attempts, 3 tries: per-try timeout 2s "
        "[VirtualService/shop/reviews]"
    )
    # a span over several lines names lines only; its end is the last line it covers
    assert lines[3] == (
        "::error file=deploy/mesh café/reviews.yaml,line=11,endLine=13,title=ML206::"
        "two problems:%0Afirst, here%0D%0Asecond: there [VirtualService/shop/reviews]"
    )
    assert lines[4].startswith(
        "::error file=overlays/prod%3Aeu%2C1/gateway.yaml,line=5,col=2,endLine=5,endColumn=9,"
        "title=ML101::"
    )
    assert lines[5] == (
        "::error file=secret/unreadable.yaml,title=ML100::cannot read: "
        "[Errno 13] Permission denied, near {{ .Values.host }}"
    )
    for line, d in zip(lines, fs, strict=False):
        m = COMMAND.match(line)
        assert m is not None, line
        assert "\n" not in line and "\r" not in line
        command, props, data = m.groups()
        assert (
            command == {"error": "error", "warning": "warning", "info": "notice"}[d.severity.label]
        )
        parsed = dict(p.split("=", 1) for p in props.split(","))
        assert unescape(parsed["file"], prop=True) == d.file
        assert parsed["title"] == d.code
        message = unescape(data)
        assert message.startswith(d.message)
        if d.resource:
            assert f"[{d.resource}]" in message


# --- text ----------------------------------------------------------------------------------------

FRAME_PREFIX = len("    ") + len("   13 | ")


def caret_under(out: str, code_line: str) -> str:
    """The caret line under ``code_line`` as shown in a code frame, without the gutter."""
    lines = out.splitlines()
    for i, line in enumerate(lines):
        if line[FRAME_PREFIX:] == code_line and re.match(r"^ {4}\s*\d+ \| ", line):
            caret = lines[i + 1]
            assert caret[:FRAME_PREFIX].strip() == "|"
            return caret[FRAME_PREFIX:]
    raise AssertionError(f"no frame for {code_line!r} in\n{out}")


def test_text_groups_by_file_with_frames_and_counts() -> None:
    out = render("text", shared_result())
    lines = out.splitlines()
    headers = [ln for ln in lines if ln in (VS_FILE, GW_FILE, NO_SOURCE_FILE)]
    assert headers == [VS_FILE, GW_FILE, NO_SOURCE_FILE]
    assert lines[-1] == "4 errors, 1 warning, 2 infos in 2 files (2 resources)"
    assert "  13:5    error   ML206  unknown field `timout`; did you mean `timeout`?" in lines
    assert (
        "  1:1     error   ML100  cannot read: [Errno 13] Permission denied, near "
        "{{ .Values.host }}" in lines
    )
    assert any("VirtualService/shop/reviews  spec.http[0].timout" in ln for ln in lines)
    assert any(ln.strip() == "fix: rename `timout` to `timeout`" for ln in lines)
    # continuation lines of a message are indented under it; CR LF is one line break
    i = lines.index("  11:3    error   ML206  two problems:")
    assert lines[i + 1].strip() == "first, here" and lines[i + 2].strip() == "second: there"
    assert lines[i + 1].startswith(" " * 20)


def test_text_caret_columns() -> None:
    out = render("text", shared_result())
    # plain ASCII: caret under `timout`
    caret = caret_under(out, "    timout: 10s")
    assert caret == "    ^^^^^^"
    # after wide characters: each takes two cells
    caret = caret_under(out, '    owner: "日本語 team"')
    assert caret == " " * len('    owner: "') + " " * 6 + " " + "^^^^"
    # after a tab: shown as spaces up to the next stop, the caret follows
    caret = caret_under(out, "    servers: []")
    assert caret == "    ^^^^^^^"
    # a span over several lines: to the end of its first line, and a mark that it goes on
    caret = caret_under(out, "  - route:")
    assert caret == "  ^^^^^^^^..."


def test_text_span_past_end_of_line() -> None:
    text = "metadata:\n  name:\n"
    d = Diagnostic("ML301", Severity.ERROR, "no name", "a.yaml", Span(2, 8, 2, 9))
    out = render("text", LintResult(findings=[d], sources=[Source("a.yaml", text)]))
    caret = caret_under(out, "  name:")
    assert caret == "       ^"


def test_text_control_characters_are_shown_not_sent() -> None:
    d = Diagnostic(
        "ML206", Severity.ERROR, "unknown field `\x1b[31mred`", "a.yaml", Span(1, 1, 1, 4)
    )
    out = render("text", LintResult(findings=[d], sources=[Source("a.yaml", "\x1b[2Jx: 1\n")]))
    assert "\x1b" not in out
    assert "\\x1b[31mred" in out
    caret = caret_under(out, "\\x1b[2Jx: 1")
    assert caret == "^" * len("\\x1b[2")  # the caret is as wide as the escape as shown


def test_text_colour() -> None:
    plain = render("text", shared_result(), color=False)
    coloured = render("text", shared_result(), color=True)
    assert ANSI not in plain
    assert ANSI in coloured
    assert re.sub(r"\x1b\[[0-9;]*m", "", coloured) == plain


def test_text_clean_run() -> None:
    out = render("text", LintResult(sources=[], resources=1, files=1))
    assert out == "0 errors, 0 warnings, 0 infos in 1 file (1 resource)\n"


# --- a small real run ----------------------------------------------------------------------------


def real_run() -> LintResult:
    # ML1 and ML20 only: the document and apiVersion checks, which do not depend on the models
    result = lint_paths([str(FIXTURES)], Config(select=["ML1", "ML20"]))
    result.findings = [d for d in result.findings if d.code != "ML107"]
    return result


def test_real_run_in_every_format() -> None:
    result = real_run()
    by_code = {d.code: d for d in result.findings}
    assert by_code["ML101"].span == Span(5, 1, 5, 2)  # the tab
    assert by_code["ML204"].span == Span(1, 13, 1, 41)
    sarif = sarif_report.build(result, root=FIXTURES)
    valid_sarif(json.dumps(sarif))
    uris = {
        res["ruleId"]: res["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        for res in sarif["runs"][0]["results"]
    }
    assert uris["ML101"] == "broken.yaml" and uris["ML204"] == "mesh/reviews.yaml"
    doc = json.loads(render("json", result))
    assert {(f["rule"], f["line"], f["column"]) for f in doc["findings"]} >= {
        ("ML101", 5, 1),
        ("ML204", 1, 13),
    }
    text = render("text", result)
    caret = caret_under(text, "apiVersion: networking.istio.io/v1alpha3")
    assert caret == " " * 12 + "^" * len("networking.istio.io/v1alpha3")
    github = render("github", result)
    assert ",line=1,col=13,endLine=1,endColumn=41,title=ML204::" in github


# --- the command line ----------------------------------------------------------------------------

runner = CliRunner()
BAD = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n\tname: x\n"
OLD = "apiVersion: networking.istio.io/v1alpha3\nkind: VirtualService\nmetadata:\n  name: r\n"


def lint(*args: str) -> Any:
    return runner.invoke(
        app,
        ["lint", "--no-config", "--select", "ML1", "--select", "ML20", "--ignore", "ML107", *args],
    )


@pytest.mark.parametrize("fmt", FORMATS)
def test_cli_writes_the_report_to_a_file(
    fmt: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "manifests").mkdir()
    (tmp_path / "manifests" / "bad.yaml").write_text(BAD)
    out = tmp_path / "reports" / f"meshlint.{fmt}"
    res = lint("--format", fmt, "--output", str(out), "manifests")
    assert res.exit_code == 1, res.output
    assert "ML101" not in res.stdout
    text = out.read_text(encoding="utf-8")
    assert "ML101" in text
    if fmt == "json":
        assert json.loads(text)["findings"][0]["file"] == "manifests/bad.yaml"
    elif fmt == "sarif":
        doc = valid_sarif(text)
        loc = result_locations(doc)[0]["physicalLocation"]
        assert loc["artifactLocation"]["uri"] == "manifests/bad.yaml"
        assert loc["region"]["startLine"] == 4
    elif fmt == "github":
        assert text.startswith("::error file=manifests/bad.yaml,line=4,col=1,")
    else:
        assert ANSI not in text and "manifests/bad.yaml" in text


def test_cli_exit_codes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.yaml").write_text(BAD)
    (tmp_path / "old.yaml").write_text(OLD)
    assert lint("bad.yaml").exit_code == 1
    assert lint("--fail-on", "none", "bad.yaml").exit_code == 0
    assert lint("old.yaml").exit_code == 0  # an info finding is below the default threshold
    assert lint("--fail-on", "info", "old.yaml").exit_code == 1
    missing = lint("--format", "json", "nope.yaml")
    assert missing.exit_code == 2
    assert "nope.yaml" in missing.output
    assert "findings" not in missing.stdout


def test_text_columns_line_up_past_line_10000() -> None:
    text = "a: 1\n" * 10_010
    found = [
        Diagnostic("ML206", Severity.ERROR, "first", "big.yaml", Span(3, 1, 3, 2)),
        Diagnostic("ML206", Severity.WARNING, "second", "big.yaml", Span(10_008, 10, 10_008, 11)),
    ]
    out = render("text", LintResult(findings=found, sources=[Source("big.yaml", text)]))
    heads = [ln for ln in out.splitlines() if "ML206" in ln]
    assert heads == [
        "  3:1      error   ML206  first",
        "  10008:10 warning ML206  second",
    ]
    # the frames' line numbers line up too
    frames = [ln for ln in out.splitlines() if ln.lstrip().startswith(("3 |", "10008 |"))]
    assert {ln.index("|") for ln in frames} == {len("    10008 ")}


def test_text_long_lines_are_shown_around_the_span() -> None:
    value = "x" * 5_000_000
    text = f"data:\n  key: {value}TYPO{value}\n"
    column = len("  key: ") + len(value) + 1
    d = Diagnostic("ML206", Severity.ERROR, "bad", "a.yaml", Span(2, column, 2, column + 4))
    out = render("text", LintResult(findings=[d], sources=[Source("a.yaml", text)]))
    assert len(out) < 1_000
    lines = out.splitlines()
    (i,) = [n for n, ln in enumerate(lines) if "TYPO" in ln]
    shown = lines[i][FRAME_PREFIX:]
    assert shown.startswith("…x") and shown.endswith("x…")
    # the caret is still under the span
    caret = lines[i + 1][FRAME_PREFIX:]
    assert shown[caret.index("^") : caret.index("^") + 4] == "TYPO"
    assert caret.strip() == "^^^^"


def test_text_a_long_span_is_cut_too() -> None:
    value = "y" * 1_000_000
    text = f"key: {value}\n"
    d = Diagnostic("ML206", Severity.ERROR, "bad", "a.yaml", Span(1, 6, 1, 6 + len(value)))
    out = render("text", LintResult(findings=[d], sources=[Source("a.yaml", text)]))
    assert len(out) < 1_000
    caret = caret_under(out, "key: " + "y" * 155 + "…")
    assert caret == " " * len("key: ") + "^" * 155
