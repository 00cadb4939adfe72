"""Every rule's own bad example triggers it, at the places its markers state, and its good
example does not."""

from __future__ import annotations

import pytest
from conftest import FIXTURES

from meshlint import rules
from meshlint.config import Config
from meshlint.diagnostics import Diagnostic
from meshlint.engine import lint_text
from meshlint.rules.lib.expect import Expected, markers

ALL = rules.all_rules()


def config_for(rule: rules.Rule) -> Config:
    if rule.code == "ML210":  # validates against schemas the user points to
        return Config(schema_locations=[str(FIXTURES / "external" / "schemas")])
    return Config()


def findings_of(rule: rules.Rule, text: str, name: str) -> list[Diagnostic]:
    """What meshlint says of an example: the lint, and for the translation's rules (ML0) the
    findings of translating it for its first workload."""
    result = lint_text(text, config_for(rule), name=name)
    if rule.family != "ML0":
        return result.findings
    from meshlint.engine import place_record_findings
    from meshlint.mesh import WORKLOAD_KINDS, MeshIndex
    from meshlint.translate.build import Request, build

    workload = next(r for r in result.records if r.kind in WORKLOAD_KINDS)
    index = MeshIndex(result.records, namespaces=result.namespaces)
    _, notes = build(
        index,
        Request(workload=(workload.effective_namespace, workload.name), require_certs=False),
    )
    found = [(n.code, rules.get(n.code).severity, n.record, n.finding) for n in notes]  # type: ignore[union-attr]
    return result.findings + place_record_findings(result, found)


@pytest.mark.parametrize("rule", [r for r in ALL if r.bad], ids=lambda r: r.code)
def test_bad_example_fires(rule: rules.Rule) -> None:
    findings = findings_of(rule, rule.bad, f"{rule.code}-bad.yaml")
    codes = [d.code for d in findings]
    assert rule.code in codes, f"{rule.code} bad example gave {codes}"


def _expected(e: Expected) -> Expected:
    r = rules.get(e.code)
    assert r is not None, f"{e.code} is no rule"
    return Expected(e.line, e.column, e.code, e.path, e.severity or r.severity.label)


@pytest.mark.parametrize("rule", ALL, ids=lambda r: r.code)
def test_every_bad_example_is_marked(rule: rules.Rule) -> None:
    if not rule.bad:
        # What no manifest text can show (an unreadable file, bytes that are not UTF-8, a bug
        # of meshlint) is found by a stage of the engine, never by a check.
        assert rule.scope == "stage", f"{rule.code} has a check but no bad example"
        return
    assert rule.code in {e.code for e in markers(rule.bad)}, (
        f"{rule.code}: its bad example marks none of its findings "
        f"(`# expect: {rule.code}@COLUMN PATH` on the offending line)"
    )


@pytest.mark.parametrize("rule", [r for r in ALL if markers(r.bad)], ids=lambda r: r.code)
def test_bad_example_gives_exactly_its_marked_findings(rule: rules.Rule) -> None:
    """The marked codes' findings are exactly the marked ones, at their line, column, path and
    severity (other rules' findings on the example are not its business)."""
    want = sorted(_expected(e) for e in markers(rule.bad))
    assert rule.code in {e.code for e in want}, f"{rule.code}: its own finding is not marked"
    findings = findings_of(rule, rule.bad, f"{rule.code}-bad.yaml")
    marked = {e.code for e in want}
    got = sorted(
        Expected(d.line, d.column, d.code, d.path, d.severity.label)
        for d in findings
        if d.code in marked
    )
    assert got == want


@pytest.mark.parametrize("rule", [r for r in ALL if r.good], ids=lambda r: r.code)
def test_good_example_is_clean_of_that_rule(rule: rules.Rule) -> None:
    findings = findings_of(rule, rule.good, f"{rule.code}-good.yaml")
    found = [d for d in findings if d.code == rule.code]
    assert not found, f"{rule.code} fires on its good example: {found}"
    errors = [d for d in findings if d.severity.label == "error"]
    assert not errors, f"{rule.code} good example has errors: {errors}"


@pytest.mark.parametrize("rule", [r for r in ALL if r.check is not None], ids=lambda r: r.code)
def test_checked_rules_have_both_examples(rule: rules.Rule) -> None:
    assert rule.bad and rule.good


def test_registry_metadata() -> None:
    names = [r.name for r in ALL]
    assert len(names) == len(set(names))
    for r in ALL:
        assert r.summary.endswith("."), r.code
        assert r.rationale.strip(), r.code
        assert r.code[:3] in rules.FAMILIES


@pytest.mark.parametrize("rule", [r for r in ALL if r.fixable], ids=lambda r: r.code)
def test_fixable_rules_fix_their_bad_example(rule: rules.Rule) -> None:
    from meshlint.fix import fix_text

    fixed = fix_text(rule.bad, f"{rule.code}-bad.yaml", config_for(rule))
    assert fixed.changed and not fixed.problems, fixed.problems
    after = lint_text(fixed.new, config_for(rule), name=f"{rule.code}-fixed.yaml")
    assert rule.code not in [d.code for d in after.findings]
