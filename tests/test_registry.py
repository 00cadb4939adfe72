"""The rule contract: one declaration per rule, old codes that keep working, options users set."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from meshlint import rules
from meshlint.cli import app
from meshlint.config import Config, ConfigError, from_mapping
from meshlint.engine import lint_text
from meshlint.rules.lib.expect import MarkerError, markers, settings, shown

SIDECAR = textwrap.dedent("""\
    apiVersion: networking.istio.io/v1
    kind: Sidecar
    metadata:
      name: ratings
      namespace: shop
    spec:
      workloadSelector: {}
      egress:
      - hosts: ["./*"]
    """)
DR = textwrap.dedent("""\
    apiVersion: networking.istio.io/v1
    kind: DestinationRule
    metadata:
      name: reviews
      namespace: shop
    spec:
      host: reviews
      trafficPolicy:
        connectionPool:
          tcp:
            connectTimeout: 30ms
    """)


def codes(text: str, config: Config) -> list[str]:
    return [d.code for d in lint_text(text, config, name="t.yaml").findings]


def test_every_rule_is_one_declaration_with_a_check_of_its_own_name() -> None:
    for r in rules.all_rules():
        assert r.scope in ("resource", "mesh", "stage"), r.code
        if r.scope == "stage":
            assert r.check is None, r.code
            continue
        assert r.check is not None, r.code
        assert r.check.__name__ == r.name.replace("-", "_"), (r.code, r.check.__name__)
        assert r.module.startswith("meshlint.rules."), r.code
        assert r.kinds is None or r.kinds, r.code  # None: every kind


def test_old_codes_select_ignore_suppress_and_set_severity() -> None:
    assert "ML320" in codes(SIDECAR, Config())
    # ML661 was the Sidecar's own rule before ML320 took it over
    assert "ML320" in codes(SIDECAR, Config(select=["ML661"]))
    assert "ML320" not in codes(SIDECAR, Config(ignore=["ML661"]))
    assert "ML320" not in codes(
        SIDECAR.replace("{}\n", "{}  # meshlint: disable=ML661\n"), Config()
    )
    annotated = SIDECAR.replace(
        "  namespace: shop\n", "  namespace: shop\n  annotations: {meshlint.io/ignore: ML661}\n"
    )
    assert "ML320" not in codes(annotated, Config())
    cfg = from_mapping({"severity": {"ML661": "error"}})
    found = lint_text(SIDECAR, cfg).findings
    assert [d.severity.label for d in found if d.code == "ML320"] == ["error"]
    assert rules.get("ML661") is rules.get("ML320")
    assert [r.code for r in rules.lookup("ML661")] == ["ML320"]


def test_a_split_off_rule_answers_to_the_code_it_came_from() -> None:
    live = rules.get("ML421")
    assert live is not None
    split = [r.code for r in rules.all_rules() if "ML421" in r.aliases]
    assert [r.code for r in rules.lookup("ML421")] == ["ML421", *split]
    # a name means that one rule only
    assert [r.code for r in rules.lookup(live.name)] == ["ML421"]


def test_explain_an_old_code() -> None:
    out = CliRunner().invoke(app, ["explain", "ML702"])
    assert out.exit_code == 0
    assert "ML702 is an old code" in out.output and "ML320 workload-selector-without" in out.output
    assert "# expect:" not in out.output and "# ML320" in out.output


def test_an_option_has_its_default_and_can_be_set() -> None:
    assert "ML519" in codes(DR, Config())
    lower = from_mapping({"options": {"ML519": {"min-connect-timeout": "20ms"}}})
    assert "ML519" not in codes(DR, lower)
    by_name = from_mapping(
        {"options": {"connect-timeout-too-short": {"min_connect_timeout": "1s"}}}
    )
    found = lint_text(DR, by_name).findings
    assert next(d.message for d in found if d.code == "ML519").startswith(
        "connectTimeout 30ms is shorter than 1000ms"
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"ML519": {"min-timeout": "1s"}}, "ML519 has no option `min-timeout`"),
        ({"ML519": {"min-connect-timeout": 5}}, "expected a duration"),
        ({"ML198": {"x": 1}}, "`ML198`, which is no rule"),
        ({"ML519": "1s"}, "must map option names to values"),
        (["ML519"], "must map rule codes to their options"),
    ],
)
def test_bad_options_are_configuration_errors(options: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        from_mapping({"options": options}, path=Path(".meshlint.yaml"))


def test_explain_and_docs_list_options() -> None:
    out = CliRunner().invoke(app, ["explain", "ML519"])
    assert "min-connect-timeout (duration, default 100ms)" in out.output


def test_registration_refuses_what_the_contract_forbids() -> None:
    declare = rules.rule
    with pytest.raises(ValueError, match="not ML followed by three digits"):
        declare("XY100", "x-y", rules.Severity.ERROR, summary="s.", rationale="r")
    with pytest.raises(ValueError, match="kebab-case"):
        declare("ML199", "Not_Kebab", rules.Severity.ERROR, summary="s.", rationale="r")
    with pytest.raises(ValueError, match="registered twice"):
        declare("ML101", "brand-new", rules.Severity.ERROR, summary="s.", rationale="r")
    with pytest.raises(ValueError, match="unknown type"):
        declare(
            "ML199",
            "with-odd-option",
            rules.Severity.ERROR,
            summary="s.",
            rationale="r",
            options=[rules.Option("x", "colour", "red", "h")],
        )
    assert rules.get("ML199") is None


def test_markers_read_and_show() -> None:
    text = (
        "# fixture: {ignore: [ML9]}\n"
        "a: 1  # expect: ML401@4 spec.hosts[0]; ML402@9 warning -\n"
        "# expect: ML403@7:2 spec.http\n"
    )
    found = markers(text)
    assert [e.show() for e in found] == [
        "2:4 ML401 spec.hosts[0]",
        "2:9 ML402 warning -",
        "7:2 ML403 spec.http",
    ]
    assert settings(text) == {"ignore": ["ML9"]}
    assert shown(text).splitlines()[1] == "a: 1  # ML401, ML402"
    with pytest.raises(MarkerError, match="line 1"):
        markers("a: 1  # expect: ML401 spec\n")


def test_every_rule_is_in_the_folder_its_family_and_kinds_say() -> None:
    # A lint loads the folders of the kinds it meets and of the codes it asks for (FOLDERS).
    seen = set()
    for r in rules.all_rules():
        folder = r.module.split(".")[2]
        seen.add(folder)
        assert folder in rules.FOLDERS, (r.code, folder)
        families, kinds = rules.FOLDERS[folder]
        assert r.family in families, (r.code, folder)
        if r.scope == "resource" and kinds is not None:
            assert r.kinds is not None and r.kinds <= kinds, (r.code, folder, r.kinds)
    assert seen == set(rules.FOLDERS)
