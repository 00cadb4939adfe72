"""ML8xx: Telemetry field checks, beyond the findings marked in tests/fixtures/rules/telemetry:
the wording, the defaults, the duration bounds and wrong types anywhere."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from meshlint import rules
from meshlint.config import Config
from meshlint.engine import lint_paths, lint_text

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "rules" / "telemetry"
ML8 = Config(select=["ML8"])


def test_rules_record_their_source_and_catalogue_rows() -> None:
    mine = [r for r in rules.all_rules() if r.module.startswith("meshlint.rules.telemetry.")]
    assert mine
    for r in mine:
        assert r.source and r.catalogue and r.kinds == {"Telemetry"}, r.code


def test_tag_override_messages() -> None:
    found = lint_paths([str(FIXTURES / "telemetry-bad.yaml")], ML8).findings
    messages = [d.message for d in found if d.code == "ML805"]
    assert "upserted without a value" in messages[0]
    assert "is removed, so it takes no value" in messages[2]


def test_default_operation_is_upsert() -> None:
    text = (
        (FIXTURES / "telemetry-good.yaml")
        .read_text()
        .replace("source_app:\n          value: \"'web'\"", "source_app: {}")
    )
    found = lint_text(text, ML8, name="t.yaml").findings
    assert [(d.code, d.path) for d in found] == [
        ("ML805", "spec.metrics[0].overrides[0].tagOverrides.source_app")
    ]


def _paths(value: object, path: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    out = [path]
    if isinstance(value, dict):
        for k, child in value.items():
            out += _paths(child, (*path, k))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            out += _paths(child, (*path, i))
    return out


def test_wrong_types_anywhere_do_not_crash() -> None:
    for text in (FIXTURES / "telemetry-bad.yaml").read_text().split("\n---\n"):
        doc = yaml.safe_load(text)
        for path in _paths(doc.get("spec"), ("spec",))[1:]:
            values: tuple[object, ...] = ("x", 7, None, [], {}, [None])
            for value in values:
                mutated = copy.deepcopy(doc)
                target: Any = mutated
                for key in path[:-1]:
                    target = target[key]
                target[path[-1]] = value
                found = lint_text(yaml.safe_dump(mutated), ML8, name="m.yaml").findings
                assert not [d for d in found if d.code == "ML107"], (path, value)


def test_reporting_interval_needs_no_whole_milliseconds() -> None:
    # The CRD only requires >= 1ms; Istio's webhook does not check this field.
    text = (FIXTURES / "telemetry-good.yaml").read_text().replace("15s", "1500us")
    assert lint_text(text, ML8, name="t.yaml").findings == []
    text = text.replace("1500us", "999us")
    assert [d.code for d in lint_text(text, ML8, name="t.yaml").findings] == ["ML806"]


CEL_TOKENS = (
    "response.code", ">=", "400", "&&", "||", "!", "(", ")", "[", "]", "{", "}", ":", ",", ".",
    "'a'", '"b"', "b'\\xff'", "'\\z'", "99999999999999999999999", "0x", "1e999", "?", "in",
    "has(", "@", "#", "\\", "ç", "-", "*", "1u", "\t",
)  # fmt: skip


def test_cel_filter_findings_stay_inside_the_expression() -> None:
    import json
    import random

    rng = random.Random(3)
    fired = 0
    for _ in range(150):
        expression = " ".join(rng.choice(CEL_TOKENS) for _ in range(rng.randint(1, 8)))
        for scalar in (json.dumps(expression), "|\n        " + expression.replace("\t", " ")):
            text = (
                "apiVersion: telemetry.istio.io/v1\nkind: Telemetry\nmetadata:\n  name: t\n"
                "  namespace: shop\nspec:\n  accessLogging:\n  - providers: [{name: envoy}]\n"
                f"    filter:\n      expression: {scalar}\n"
            )
            found = [d for d in lint_text(text, Config()).findings if d.code == "ML807"]
            for d in found:
                fired += 1
                line = text.splitlines()[d.line - 1]
                start = 19 if d.line == 10 else 9
                assert start <= d.column <= len(line) + 1, (expression, d.line, d.column)
    assert fired > 100
