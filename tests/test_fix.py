"""`meshlint lint --fix` and `--diff`: safe fixes change the fixed scalars and nothing else."""

from __future__ import annotations

import json
import os
import pickle
import re
import shutil
from pathlib import Path

import pytest
from conftest import CORPUS, FIXTURES
from typer.testing import CliRunner

from meshlint import rules
from meshlint.cli import app
from meshlint.config import Config
from meshlint.diagnostics import Diagnostic, Severity, Span
from meshlint.engine import lint_text
from meshlint.fix import Edit, Replacement, apply_edits, edit_of, fix_text, unified_diff

FIX = FIXTURES / "fix"
runner = CliRunner()
ALL = Config()


def copy(tmp_path: Path, name: str) -> Path:
    target = tmp_path / name
    shutil.copyfile(FIX / name, target)
    return target


def changes(old: str, new: str) -> list[tuple[int, str, str]]:
    """(line, old line, new line) for each line that differs; the line count must not change."""
    a, b = old.splitlines(keepends=True), new.splitlines(keepends=True)
    assert len(a) == len(b)
    return [(i, x, y) for i, (x, y) in enumerate(zip(a, b, strict=True), 1) if x != y]


def codes(text: str, name: str = "t.yaml") -> list[str]:
    return [d.code for d in lint_text(text, ALL, name).findings]


def lint(*args: str, stdin: bytes | None = None) -> tuple[int, str, str]:
    result = runner.invoke(app, ["lint", "--no-config", *args], input=stdin)
    return result.exit_code, result.stdout, result.stderr


# ---------------------------------------------------------------------------------------------
# The fixable rules
# ---------------------------------------------------------------------------------------------


def test_fixable_rules_with_a_structured_edit() -> None:
    ml518 = rules.get("ML518")
    assert ml518 is not None and ml518.fixable and ml518.severity is Severity.WARNING
    assert ml518.name == "least-conn-deprecated" and ml518.catalogue == ("dr-lb-leastconn",)
    assert ml518.source and "destination_rule.proto" in ml518.source
    assert "ML518" in codes(ml518.bad) and "ML518" not in codes(ml518.good)
    fixed = fix_text(ml518.bad, "bad.yaml", Config(select=["ML518"])).new
    # The bad example marks its finding with `# expect: …`, a comment the fix leaves alone.
    assert re.sub(r"  # expect: .*", "", fixed) == ml518.good


def test_seed_manifest_is_fixed(tmp_path: Path) -> None:
    f = copy(tmp_path, "least-conn.yaml")
    old = f.read_text(encoding="utf-8")
    assert old == (CORPUS / "seed" / "18.yaml").read_text(encoding="utf-8")
    assert {"ML204", "ML518"} <= set(codes(old))
    status, _, err = lint("--fix", str(f))
    assert status == 0
    assert "fixed 2 findings in 1 file" in err
    new = f.read_text(encoding="utf-8")
    assert changes(old, new) == [
        (2, "apiVersion: networking.istio.io/v1alpha3\n", "apiVersion: networking.istio.io/v1\n"),
        (10, "      simple: LEAST_CONN\n", "      simple: LEAST_REQUEST\n"),
    ]
    assert not {"ML204", "ML518"} & set(codes(new))


STYLES_CHANGES = [
    (
        3,
        'apiVersion: "networking.istio.io/v1beta1"   # quoted, with a comment\n',
        'apiVersion: "networking.istio.io/v1"   # quoted, with a comment\n',
    ),
    (
        9,
        "    loadBalancer: {simple: LEAST_CONN}  # a flow mapping\n",
        "    loadBalancer: {simple: LEAST_REQUEST}  # a flow mapping\n",
    ),
    (13, "          simple: 'LEAST_CONN'\n", "          simple: 'LEAST_REQUEST'\n"),
    (
        19,
        '          simple: "LEAST_CONN"    # deeper indentation\n',
        '          simple: "LEAST_REQUEST"    # deeper indentation\n',
    ),
    (
        27,
        "apiVersion: networking.istio.io/v1alpha3\n",
        "apiVersion: networking.istio.io/v1\n",
    ),
]


def test_quoting_flow_style_comments_and_documents_are_kept() -> None:
    old = (FIX / "styles.yaml").read_text(encoding="utf-8")
    result = fix_text(old, "styles.yaml", ALL)
    assert result.problems == []
    assert sorted(d.code for d in result.fixed) == ["ML204", "ML204", "ML518", "ML518", "ML518"]
    assert changes(old, result.new) == STYLES_CHANGES
    assert "# Source: shop/templates/destinationrule.yaml\n" in result.new
    assert not {"ML204", "ML518"} & set(codes(result.new))


def test_crlf_line_endings_are_kept() -> None:
    old = (FIX / "styles.yaml").read_text(encoding="utf-8").replace("\n", "\r\n")
    result = fix_text(old, "crlf.yaml", ALL)
    assert result.problems == []
    crlf = [(n, a.replace("\n", "\r\n"), b.replace("\n", "\r\n")) for n, a, b in STYLES_CHANGES]
    assert changes(old, result.new) == crlf
    assert result.new.count("\r\n") == old.count("\r\n") and "\n" not in result.new.replace(
        "\r\n", ""
    )


def test_a_broken_document_is_left_alone_and_the_others_are_fixed(tmp_path: Path) -> None:
    f = copy(tmp_path, "broken.yaml")
    old = f.read_text(encoding="utf-8")
    status, out, err = lint("--fix", "--format", "json", str(f))
    assert status == 1  # the syntax error remains
    assert "fixed 4 findings in 1 file" in err
    new = f.read_text(encoding="utf-8")
    assert [n for n, _, _ in changes(old, new)] == [1, 10, 23, 32]
    assert old.splitlines()[10:22] == new.splitlines()[10:22]  # the broken document
    remaining = [(d["rule"], d["line"]) for d in json.loads(out)["findings"]]
    assert remaining == [("ML101", 19)]


def test_a_bom_is_kept(tmp_path: Path) -> None:
    f = tmp_path / "bom.yaml"
    data = (FIX / "least-conn.yaml").read_bytes()
    f.write_bytes(b"\xef\xbb\xbf" + data)
    assert lint("--fix", str(f))[0] == 0
    fixed = f.read_bytes()
    assert fixed.startswith(b"\xef\xbb\xbf") and b"LEAST_REQUEST" in fixed


def test_json_files_stay_json(tmp_path: Path) -> None:
    f = tmp_path / "dr.json"
    doc = {
        "apiVersion": "networking.istio.io/v1beta1",
        "kind": "DestinationRule",
        "metadata": {"name": "reviews", "namespace": "shop"},
        "spec": {"host": "reviews", "trafficPolicy": {"loadBalancer": {"simple": "LEAST_CONN"}}},
    }
    f.write_text(json.dumps(doc, indent=2), encoding="utf-8")
    assert lint("--fix", str(f))[0] == 0
    fixed = json.loads(f.read_text(encoding="utf-8"))
    assert fixed["apiVersion"] == "networking.istio.io/v1"
    assert fixed["spec"]["trafficPolicy"]["loadBalancer"]["simple"] == "LEAST_REQUEST"


def test_a_list_item_is_fixed() -> None:
    old = """\
apiVersion: v1
kind: List
items:
- apiVersion: networking.istio.io/v1
  kind: DestinationRule
  metadata: {name: reviews, namespace: shop}
  spec:
    host: reviews
    trafficPolicy: {loadBalancer: {simple: LEAST_CONN}}
"""
    result = fix_text(old, "list.yaml", ALL)
    assert changes(old, result.new) == [
        (
            9,
            "    trafficPolicy: {loadBalancer: {simple: LEAST_CONN}}\n",
            "    trafficPolicy: {loadBalancer: {simple: LEAST_REQUEST}}\n",
        )
    ]


# ---------------------------------------------------------------------------------------------
# What is not fixed
# ---------------------------------------------------------------------------------------------


def test_a_shared_anchor_is_refused_and_the_file_is_not_written(tmp_path: Path) -> None:
    f = copy(tmp_path, "anchors.yaml")
    before = f.read_bytes()
    status, _, err = lint("--fix", str(f))
    assert f.read_bytes() == before
    assert "cannot fix" in err and "anchors.yaml:10:15: ML518: the value has an anchor" in err
    assert "fixed 0 findings in 0 files" in err
    assert status == 0  # ML518 is a warning; the findings are still reported


def test_a_merged_value_is_refused() -> None:
    text = """\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: shop}
spec:
  host: reviews
  trafficPolicy:
    loadBalancer: &base
      simple: LEAST_CONN
  subsets:
  - name: v1
    labels: {version: v1}
    trafficPolicy:
      loadBalancer:
        <<: *base
"""
    result = fix_text(text, "merge.yaml", ALL)
    assert not result.changed
    assert (
        len(result.problems) == 1 and "shared through an anchor or a merge" in (result.problems[0])
    )


def test_an_edit_that_reads_back_differently_is_refused() -> None:
    text = "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nx: 1\n"
    # A span that is not the value the finding meant (here: a key) changes the document's shape.
    new, problems = apply_edits(text, "t.yaml", [Edit(Span(3, 1, 3, 2), "y", "ML518")])
    assert new == text and problems == ["t.yaml: the fix would change the shape of a document"]
    # Two edits of one place that disagree.
    span = Span(3, 4, 3, 5)
    new, problems = apply_edits(
        text, "t.yaml", [Edit(span, "2", "ML204"), Edit(span, "3", "ML518")]
    )
    assert new == text and problems == ["t.yaml:3:4: ML204 and ML518 want different values"]
    ok, none = apply_edits(text, "t.yaml", [Edit(Span(1, 13, 1, 35), "v1", "ML518")])
    assert none == [] and ok == text.replace("networking.istio.io/v1", "v1")


def test_suppressed_and_deselected_findings_are_not_fixed() -> None:
    old = (FIX / "least-conn.yaml").read_text(encoding="utf-8")
    suppressed = old.replace("LEAST_CONN", "LEAST_CONN  # meshlint: disable=ML518")
    result = fix_text(suppressed, "t.yaml", ALL)
    assert [d.code for d in result.fixed] == ["ML204"]
    result = fix_text(old, "t.yaml", Config(ignore=["ML204"]))
    assert [d.code for d in result.fixed] == ["ML518"]


def test_only_fixable_rules_with_a_structured_edit_are_applied() -> None:
    span = Span(1, 1, 1, 2)
    # ML302 suggests a name, but renaming a resource breaks what refers to it: not fixable.
    assert edit_of(Diagnostic("ML302", Severity.ERROR, "m", "f", span, fix="name: a")) is None
    # ML203 has a fix text but is not a fixable rule.
    d = Diagnostic("ML203", Severity.ERROR, "m", "f", span, path="apiVersion", fix="apiVersion: x")
    assert edit_of(d) is None
    # A fixable rule's fix is applied only when it is a structured Replacement.
    d = Diagnostic("ML204", Severity.INFO, "m", "f", span, path="apiVersion", fix="apiVersion: y")
    assert edit_of(d) is None
    d = Diagnostic("ML204", Severity.INFO, "m", "f", span, fix=Replacement("apiVersion", "y"))
    assert edit_of(d) == Edit(span, "y", "ML204")
    d = Diagnostic("ML518", Severity.WARNING, "m", "f", span, fix=Replacement("simple", "Z"))
    assert edit_of(d) == Edit(span, "Z", "ML518")


def test_a_replacement_reads_as_its_fix_text_and_survives_pickling() -> None:
    r = Replacement("simple", "LEAST_REQUEST")
    assert r == "simple: LEAST_REQUEST" and r.value == "LEAST_REQUEST"
    back = pickle.loads(pickle.dumps(r))
    assert isinstance(back, Replacement) and back.value == "LEAST_REQUEST" and back == r


def test_a_finding_survives_pickling_whole() -> None:
    # (worker processes send their findings to the parent)
    for d in (
        Diagnostic("ML518", Severity.WARNING, "m", "f.yaml", Span(3, 5, 3, 9), "DR/ns/x",
                   "spec.x", Replacement("simple", "Z"), resource_line=2),
        Diagnostic("ML101", Severity.ERROR, "m", "f.yaml"),
    ):  # fmt: skip
        back = pickle.loads(pickle.dumps(d))
        assert back == d and back.resource_line == d.resource_line
        assert type(back.severity) is Severity and type(back.fix) is type(d.fix)
        assert back.span is None or type(back.span) is Span


def test_duration_findings_have_no_fix() -> None:
    # Below 1ms or not whole milliseconds: no value means the same and is accepted.
    text = """\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: shop}
spec:
  host: reviews
  trafficPolicy:
    connectionPool:
      tcp: {connectTimeout: 1500us}
"""
    assert "ML510" in codes(text)
    assert not fix_text(text, "t.yaml", ALL).changed


# ---------------------------------------------------------------------------------------------
# The command line
# ---------------------------------------------------------------------------------------------


def test_diff_prints_the_changes_and_writes_nothing(tmp_path: Path) -> None:
    f = copy(tmp_path, "least-conn.yaml")
    before = f.read_bytes()
    status, out, err = lint("--diff", str(f))
    assert status == 1
    assert f.read_bytes() == before
    name = str(f)
    assert out == (
        f"--- a/{name}\n+++ b/{name}\n"
        "@@ -1,5 +1,5 @@\n"
        " # 最少连接负载均衡\n"
        "-apiVersion: networking.istio.io/v1alpha3\n"
        "+apiVersion: networking.istio.io/v1\n"
        " kind: DestinationRule\n"
        " metadata:\n"
        "   name: least-conn-lb\n"
        "@@ -7,4 +7,4 @@\n"
        "   host: user-service\n"
        "   trafficPolicy:\n"
        "     loadBalancer:\n"
        "-      simple: LEAST_CONN\n"
        "+      simple: LEAST_REQUEST\n"
    )
    assert "would fix 2 findings in 1 file" in err


def test_diff_is_empty_and_exits_0_when_nothing_would_change() -> None:
    status, out, _ = lint("--diff", str(FIX / "clean.yaml"))
    assert (status, out) == (0, "")


def test_diff_marks_a_last_line_without_newline() -> None:
    text = unified_diff("a: 1\nsimple: X", "a: 1\nsimple: Y", "t.yaml")
    assert text.endswith(
        "-simple: X\n\\ No newline at end of file\n+simple: Y\n\\ No newline at end of file\n"
    )


def test_fix_is_idempotent(tmp_path: Path) -> None:
    f = copy(tmp_path, "styles.yaml")
    assert lint("--fix", str(f))[0] == 0
    once = f.read_bytes()
    mtime = f.stat().st_mtime_ns
    status, _, err = lint("--fix", str(f))
    assert status == 0 and "fixed 0 findings in 0 files" in err
    assert f.read_bytes() == once and f.stat().st_mtime_ns == mtime


def test_a_file_with_nothing_to_fix_is_not_rewritten(tmp_path: Path) -> None:
    f = copy(tmp_path, "clean.yaml")
    past = 1_000_000_000
    os.utime(f, ns=(past, past))
    status, _, err = lint("--fix", str(f))
    assert status == 0 and "fixed 0 findings in 0 files" in err
    assert f.stat().st_mtime_ns == past


def test_fix_reports_what_remains_and_exits_on_it(tmp_path: Path) -> None:
    f = tmp_path / "dr.yaml"
    f.write_text(
        (FIX / "least-conn.yaml").read_text(encoding="utf-8").replace("user-service", "a_b"),
        encoding="utf-8",
    )
    status, out, err = lint("--fix", "--format", "json", str(f))
    assert status == 1 and "fixed 2 findings in 1 file" in err
    assert {d["rule"] for d in json.loads(out)["findings"]} == {"ML501"}


def test_fix_keeps_the_file_mode(tmp_path: Path) -> None:
    f = copy(tmp_path, "least-conn.yaml")
    f.chmod(0o640)
    lint("--fix", str(f))
    assert f.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["least-conn.yaml"]


def test_fix_on_stdin_prints_the_fixed_text() -> None:
    data = (FIX / "least-conn.yaml").read_bytes()
    status, out, err = lint("--fix", "--stdin-filename", "dr.yaml", "-", stdin=data)
    assert status == 0
    assert out == data.decode().replace("v1alpha3", "v1").replace("LEAST_CONN", "LEAST_REQUEST")
    assert "fixed 2 findings in 1 file" in err and "0 errors" in err


def test_stdin_is_fixed_only_on_its_own(tmp_path: Path) -> None:
    f = copy(tmp_path, "clean.yaml")
    status, _, err = lint("--fix", "-", str(f), stdin=b"")
    assert status == 2 and "only on its own" in err


@pytest.mark.parametrize("flag", ["--fix", "--diff"])
def test_a_file_that_is_not_utf8_is_left_alone(tmp_path: Path, flag: str) -> None:
    f = tmp_path / "latin1.yaml"
    f.write_bytes("# caf\xe9\n".encode("latin-1") + (FIX / "least-conn.yaml").read_bytes())
    before = f.read_bytes()
    _, _, err = lint(flag, str(f))
    assert f.read_bytes() == before and "not UTF-8" in err


def test_columns_count_characters_in_a_one_line_document() -> None:
    old = (
        "{apiVersion: networking.istio.io/v1alpha3, kind: DestinationRule, metadata: {name: r, "
        "namespace: shop, annotations: {说明: 最少连接}}, spec: {host: r, trafficPolicy: "
        "{loadBalancer: {simple: LEAST_CONN}}}}  # 𝄞 注释\n"
    )
    result = fix_text(old, "t.yaml", ALL)
    assert result.problems == []
    assert result.new == old.replace("v1alpha3", "v1").replace("LEAST_CONN", "LEAST_REQUEST")
