"""``--format json``: one JSON object, the stable contract of DESIGN.md."""

from __future__ import annotations

import json
from json.encoder import encode_basestring  # what json.dumps uses with ensure_ascii=False
from typing import TYPE_CHECKING

from meshlint.diagnostics import summarize

if TYPE_CHECKING:
    from meshlint.engine import LintResult


def render(result: LintResult, *, color: bool = False) -> str:
    summary: dict[str, int] = {"files": result.files, "resources": result.resources}
    summary.update(summarize(result.findings))
    findings = [d.to_json() for d in result.findings]
    items: list[str] = []
    for finding in findings:
        item = _flat(finding)
        if item is None:  # a value that is not a string, number or null: the general encoder
            return _dumps({"findings": findings, "summary": summary})
        items.append(item)
    listed = "[\n" + ",\n".join(items) + "\n  ]" if items else "[]"
    return '{\n  "findings": ' + listed + ',\n  "summary": ' + _dumps(summary, 2)[:-1] + "\n}\n"


def _dumps(doc: object, level: int = 0) -> str:
    text = json.dumps(doc, indent=2, ensure_ascii=False)
    return text.replace("\n", "\n" + " " * level) + "\n"


def _flat(finding: dict[str, object]) -> str | None:
    """One finding as ``json.dumps(..., indent=2)`` writes it at the depth of the list, without
    the general encoder's cost per value (its indented form is written in Python); None when a
    value is not a string, a whole number or null."""
    lines = []
    for key, value in finding.items():
        if isinstance(value, str):  # (a fix is a str too: Replacement)
            text = encode_basestring(value)
        elif value is None:
            text = "null"
        elif type(value) is int:
            text = int.__repr__(value)
        else:
            return None
        lines.append(f"      {encode_basestring(key)}: {text}")
    if not lines:
        return "    {}"
    return "    {\n" + ",\n".join(lines) + "\n    }"
