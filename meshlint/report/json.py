"""``--format json``: one JSON object, the stable contract of DESIGN.md."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from meshlint.diagnostics import summarize

if TYPE_CHECKING:
    from meshlint.engine import LintResult


def render(result: LintResult, *, color: bool = False) -> str:
    summary: dict[str, int] = {"files": result.files, "resources": result.resources}
    summary.update(summarize(result.findings))
    doc = {"findings": [d.to_json() for d in result.findings], "summary": summary}
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
