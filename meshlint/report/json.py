"""``--format json``: one JSON object, the stable contract of DESIGN.md."""

from __future__ import annotations

import json
from json.encoder import encode_basestring  # what json.dumps uses with ensure_ascii=False
from typing import TYPE_CHECKING

from meshlint.diagnostics import Diagnostic, Severity, Span, summarize

if TYPE_CHECKING:
    from meshlint.engine import LintResult


def render(result: LintResult, *, color: bool = False) -> str:
    summary: dict[str, int] = {"files": result.files, "resources": result.resources}
    summary.update(summarize(result.findings))
    items: list[str] = []
    for d in result.findings:
        item = _item(d)
        if item is None:  # a value that is not a string, number or null: the general encoder
            return _dumps({"findings": [d.to_json() for d in result.findings], "summary": summary})
        items.append(item)
    listed = "[\n" + ",\n".join(items) + "\n  ]" if items else "[]"
    return '{\n  "findings": ' + listed + ',\n  "summary": ' + _dumps(summary, 2)[:-1] + "\n}\n"


def _dumps(doc: object, level: int = 0) -> str:
    text = json.dumps(doc, indent=2, ensure_ascii=False)
    return text.replace("\n", "\n" + " " * level) + "\n"


# A finding as json.dumps(..., indent=2) writes it at the depth of the list; "fix" goes last.
_ITEM = (
    '    {\n      "rule": %s,\n      "severity": %s,\n      "file": %s,\n      "line": %s,\n'
    '      "column": %s,\n      "end_line": %s,\n      "end_column": %s,\n'
    '      "resource": %s,\n      "path": %s,\n      "message": %s%s\n    }'
)
_SEVERITIES = {s: encode_basestring(s.label) for s in Severity}
_START = Span.point(1)


def _item(d: Diagnostic) -> str | None:
    """``d.to_json()`` as :func:`_flat` writes it, from the diagnostic's fields at once; None
    when one is not of the type it is declared with (the caller then takes the general
    encoder)."""
    span = d.span or _START
    line, column, end_line, end_column = span.line, span.column, span.end_line, span.end_column
    if not (
        type(line) is int
        and type(column) is int
        and type(end_line) is int
        and type(end_column) is int
        and d.severity in _SEVERITIES
    ):
        return _flat(d.to_json())
    fix = d.fix
    try:
        return _ITEM % (
            encode_basestring(d.code),
            _SEVERITIES[d.severity],
            encode_basestring(d.file),
            line,
            column,
            end_line,
            end_column,
            "null" if d.resource is None else encode_basestring(d.resource),
            encode_basestring(d.path),
            encode_basestring(d.message),
            ',\n      "fix": ' + encode_basestring(fix) if fix else "",
        )
    except TypeError:  # a value that is not a string
        return _flat(d.to_json())


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
