"""Every rule fixture gives exactly the findings its markers state.

A rule fixture is a YAML file under tests/fixtures/rules/ (or a folder there named ``*.run``,
whose files are linted as one run). Each finding is marked on its line with
``# expect: CODE@COLUMN [severity] PATH`` (see meshlint/rules/lib/expect.py); a file without
markers must lint clean. Every rule is linted (unless a ``# fixture: {…}`` header says
otherwise), and a rule that crashes fails the test whatever the header selects. Every rule with
a check has at least one marker of its code in these fixtures.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import FIXTURES

from meshlint import loader, rules
from meshlint.config import Config, from_mapping
from meshlint.engine import lint_paths
from meshlint.rules.lib.expect import Expected, markers, settings

RULE_FIXTURES = FIXTURES / "rules"


def _cases() -> list[Path]:
    runs = sorted(p for p in RULE_FIXTURES.rglob("*.run") if p.is_dir())
    files = [
        p
        for p in sorted(RULE_FIXTURES.rglob("*"))
        if p.suffix in (".yaml", ".yml") and not any(r in p.parents for r in runs)
    ]
    return sorted([*runs, *files])


CASES = _cases()


def _id(path: Path) -> str:
    return path.relative_to(RULE_FIXTURES).as_posix()


def _texts(case: Path) -> dict[str, str]:
    if case.is_dir():
        files, _ = loader.discover([str(case)])
        return {f: Path(f).read_text(encoding="utf-8") for f in files}
    return {str(case): case.read_text(encoding="utf-8")}


def _config(texts: dict[str, str], root: Path) -> Config:
    given: dict[str, object] = {}
    for text in texts.values():
        given.update(settings(text))
    return from_mapping(given, root=root) if given else Config(root=root)


def expected_of(texts: dict[str, str]) -> list[tuple[str, Expected]]:
    out = []
    for name, text in texts.items():
        for e in markers(text):
            if e.severity is None:
                r = rules.get(e.code)
                assert r is not None, f"{name}:{e.line}: {e.code} is no rule"
                e = Expected(e.line, e.column, e.code, e.path, r.severity.label)
            out.append((name, e))
    return sorted(out, key=lambda x: (x[0], x[1]))


def test_there_are_rule_fixtures() -> None:
    assert len(CASES) >= 3


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_fixture_gives_exactly_its_marked_findings(case: Path) -> None:
    texts = _texts(case)
    config = _config(texts, case if case.is_dir() else case.parent)
    result = lint_paths([str(case)], config, files=list(texts))
    got = sorted(
        (
            (d.file, Expected(d.line, d.column, d.code, d.path, d.severity.label))
            for d in result.findings
        ),
        key=lambda x: (x[0], x[1]),
    )
    want = expected_of(texts)
    if got != want:
        missing = [f"{Path(f).name}:{e.show()}" for f, e in want if (f, e) not in got]
        messages = {(d.file, d.line, d.column, d.code): d.message for d in result.findings}
        detail = [
            f"  {Path(f).name}:{e.show()}: {messages.get((f, e.line, e.column, e.code), '')}"
            for f, e in got
            if (f, e) not in want
        ]
        pytest.fail(
            "findings differ from the markers\n  marked, not found: "
            + (", ".join(missing) or "-")
            + "\n  found, not marked:\n"
            + ("\n".join(detail) or "  -"),
            pytrace=False,
        )


def _marked_codes() -> set[str]:
    codes: set[str] = set()
    for case in CASES:
        for text in _texts(case).values():
            codes.update(e.code for e in markers(text))
    return codes


MARKED = _marked_codes()


@pytest.mark.parametrize(
    "rule", [r for r in rules.all_rules() if r.scope != "stage"], ids=lambda r: r.code
)
def test_every_checked_rule_has_a_marker_in_the_fixtures(rule: rules.Rule) -> None:
    assert rule.code in MARKED, (
        f"{rule.code} ({rule.name}) has no `# expect: {rule.code}@…` marker in "
        "tests/fixtures/rules/: add a fixture that makes it fire"
    )
