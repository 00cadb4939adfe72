"""The pipeline: suppression comments and annotations, config selection, ordering, resources."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from meshlint.config import Config, ConfigError, from_mapping
from meshlint.diagnostics import Diagnostic, Severity
from meshlint.engine import lint_paths, lint_text

OLD = "networking.istio.io/v1alpha3"


def vs(name: str = "reviews", api: str = OLD, extra_meta: str = "") -> str:
    template = textwrap.dedent("""\
        apiVersion: {api}
        kind: VirtualService
        metadata:
          name: {name}
        {extra_meta}spec:
          hosts: [reviews]
        """)
    return template.format(api=api, name=name, extra_meta=extra_meta)


def codes(text: str, **cfg: object) -> list[tuple[str, int]]:
    result = lint_text(text, from_mapping(dict(cfg)) if cfg else Config(select=["ML204"]))
    return [(d.code, d.line) for d in result.findings]


def test_finding_has_resource_path_and_span() -> None:
    result = lint_text(vs(), Config(select=["ML204"]), name="vs.yaml")
    (d,) = result.findings
    assert (d.code, d.file, d.line, d.column) == ("ML204", "vs.yaml", 1, 13)
    assert (d.span.end_line, d.span.end_column) == (1, 13 + len(OLD))
    assert d.resource == "VirtualService/default/reviews"
    assert d.path == "apiVersion"
    assert d.severity is Severity.INFO
    assert result.resources == 1 and result.files == 1


def test_inline_disable_on_the_line() -> None:
    text = vs().replace(OLD, OLD + "  # meshlint: disable=ML204")
    assert codes(text) == []


def test_inline_disable_on_the_line_before() -> None:
    text = "# meshlint: disable=ML204\n" + vs()
    assert codes(text) == []


def test_disable_above_resource_covers_all_its_findings() -> None:
    text = "# meshlint: disable=ML204,ML202\n# another comment\n" + vs()
    text += "---\n" + vs("ratings")
    assert codes(text) == [("ML204", 10)]


def test_disable_by_name_and_other_code_does_not_suppress() -> None:
    assert codes("# meshlint: disable=old-api-version\n" + vs()) == []
    assert codes("# meshlint: disable=ML206\n" + vs()) == [("ML204", 2)]


def test_disable_file() -> None:
    text = vs() + "---\n" + vs("b") + "# meshlint: disable-file=ML204\n"
    assert codes(text) == []


def test_ignore_annotation() -> None:
    meta = '  annotations:\n    meshlint.io/ignore: "ML204"\n'
    assert codes(vs(extra_meta=meta)) == []
    meta = '  annotations:\n    meshlint.io/ignore: "all"\n'
    assert codes(vs(extra_meta=meta)) == []
    meta = '  annotations:\n    meshlint.io/ignore: "ML198"\n'
    assert codes(vs(extra_meta=meta)) == [("ML204", 1)]


REMOVED = """\
apiVersion: authentication.istio.io/v1alpha1
kind: Policy
metadata:
  name: default
{annotations}spec: {{}}
"""


def test_istio_suppress_annotation_for_matching_codes() -> None:
    plain = REMOVED.format(annotations="")
    assert [c for c, _ in codes(plain, select=["ML205"])] == ["ML205"]
    for value in ("IST0002", "*", "IST0101,IST0002"):
        text = REMOVED.format(
            annotations=f'  annotations:\n    galley.istio.io/analyze-suppress: "{value}"\n'
        )
        assert codes(text, select=["ML205"]) == []
    other = REMOVED.format(
        annotations='  annotations:\n    galley.istio.io/analyze-suppress: "IST0101"\n'
    )
    assert [c for c, _ in codes(other, select=["ML205"])] == ["ML205"]


def test_select_ignore_and_severity_override() -> None:
    text = vs()
    assert codes(text, select=["ML2"], ignore=["ML204", "ML206", "ML207", "ML208", "ML209"]) == []
    result = lint_text(text, from_mapping({"select": ["ML204"], "severity": {"ML204": "error"}}))
    assert [d.severity for d in result.findings] == [Severity.ERROR]


def test_config_rejects_unknown_keys_and_rules() -> None:
    with pytest.raises(ConfigError, match="did you mean `select`"):
        from_mapping({"selct": ["ML2"]})
    with pytest.raises(ConfigError, match="no rule"):
        from_mapping({"severity": {"ML198": "error"}})
    with pytest.raises(ConfigError, match="ML19"):
        from_mapping({"ignore": ["ML19"]})
    with pytest.raises(ConfigError, match="fail-on"):
        from_mapping({"fail-on": "sometimes"})


def test_per_file_ignores_and_exclude(tmp_path: Path) -> None:
    (tmp_path / "legacy").mkdir()
    (tmp_path / "legacy" / "vs.yaml").write_text(vs())
    (tmp_path / "new.yaml").write_text(vs())
    (tmp_path / "skip").mkdir()
    (tmp_path / "skip" / "vs.yaml").write_text(vs())
    cfg = from_mapping(
        {"select": ["ML204"], "per-file-ignores": {"legacy/**": ["ML204"]}, "exclude": ["skip"]},
        root=tmp_path,
    )
    result = lint_paths([str(tmp_path)], cfg)
    assert [Path(d.file).name for d in result.findings] == ["new.yaml"]
    assert result.files == 2


def test_findings_sorted_by_file_then_position(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(vs() + "---\n" + vs("x") + "---\nkind: [\n")
    (tmp_path / "b.yaml").write_text(vs())
    result = lint_paths([str(tmp_path)], Config(select=["ML1", "ML204"]))
    keys = [(Path(d.file).name, d.line) for d in result.findings]
    assert keys == sorted(keys)
    assert ("a.yaml", 16) in keys  # the syntax error (at the end) after two good documents


def test_non_resources_are_reported_not_counted() -> None:
    text = "- a\n- b\n---\nlivenessProbe:\n  httpGet: {path: /}\n---\n" + vs()
    result = lint_text(text, Config(select=["ML104", "ML204"]))
    assert [(d.code, d.line) for d in result.findings] == [("ML104", 1), ("ML104", 4), ("ML204", 7)]
    assert "livenessProbe" in result.findings[1].message
    assert result.resources == 1


@pytest.mark.internal_error
def test_rule_crash_becomes_a_finding_that_no_selection_hides(
    replace_check: Callable[[str, Callable[..., Any]], None],
) -> None:
    def boom(res: object) -> list[object]:
        raise RuntimeError("kaput")

    replace_check("ML401", boom)
    text = vs()
    # The crash is reported whatever the run selects, ignores or suppresses.
    for config in (
        Config(),
        Config(select=["ML4"]),
        Config(select=["ML401"]),
        Config(ignore=["ML107"]),
        Config(per_file_ignores={"*": ["ML107"]}),
    ):
        result = lint_text(text, config, name="vs.yaml")
        crashes = [d for d in result.findings if d.code == "ML107"]
        assert len(crashes) == 1, config
        (d,) = crashes
        assert d.severity.label == "error"
        assert d.resource == "VirtualService/default/reviews"
        assert "ML401" in d.message and "RuntimeError" in d.message and "kaput" in d.message
    suppressed = lint_text(
        "# meshlint: disable-file=ML107,ML204\n"
        + text.replace("metadata:\n", "metadata:\n  annotations: {meshlint.io/ignore: all}\n"),
        Config(),
    )
    assert "ML107" in [d.code for d in suppressed.findings]


@pytest.mark.internal_error
def test_a_rule_crash_makes_the_cli_exit_2(
    replace_check: Callable[[str, Callable[..., Any]], None], tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from meshlint.cli import app

    def boom(res: object) -> list[object]:
        raise KeyError("x")

    replace_check("ML401", boom)
    (tmp_path / "vs.yaml").write_text(vs(), encoding="utf-8")
    out = CliRunner().invoke(app, ["lint", "--no-config", "--select", "ML4", str(tmp_path)])
    assert out.exit_code == 2, out.output
    assert "ML107" in out.output and "KeyError" in out.output


def test_the_guard_fails_a_test_whose_lint_crashed(
    replace_check: Callable[[str, Callable[..., Any]], None],
    no_internal_error: list[Diagnostic],
) -> None:
    def boom(res: object) -> list[object]:
        raise RuntimeError("kaput")

    replace_check("ML401", boom)
    lint_text(vs(), Config(select=["ML4"]))
    # The autouse guard would fail this test at teardown; it has seen the crash.
    assert [d.code for d in no_internal_error] == ["ML107"]
    no_internal_error.clear()


def test_kind_rules_see_only_the_kinds_meshlint_models() -> None:
    # The Gateway API's Gateway shares the kind name with Istio's: no Istio Gateway rule runs.
    text = (
        "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata:\n"
        "  name: web\n  namespace: shop\nspec:\n  gatewayClassName: istio\n"
        "  listeners: [{name: http, port: 80, protocol: HTTP}]\n"
    )
    assert lint_text(text, Config()).findings == []
    istio = text.replace("gateway.networking.k8s.io/v1", "networking.istio.io/v1")
    assert "ML601" in [d.code for d in lint_text(istio, Config(select=["ML6"])).findings]
