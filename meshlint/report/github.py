"""``--format github``: workflow commands that GitHub Actions turns into annotations."""

from __future__ import annotations

from typing import TYPE_CHECKING

from meshlint.diagnostics import Severity, summarize

if TYPE_CHECKING:
    from meshlint.engine import LintResult

_COMMAND = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}


def _data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _prop(text: str) -> str:
    return _data(text).replace(":", "%3A").replace(",", "%2C")


def render(result: LintResult, *, color: bool = False) -> str:
    lines = []
    for d in result.findings:
        span = d.span
        props = [f"file={_prop(d.file)}"]
        if span is not None:
            props += [f"line={span.line}", f"col={span.column}", f"endLine={span.end_line}",
                      f"endColumn={span.end_column}"]
        props.append(f"title={_prop(d.code)}")
        where = f" [{d.resource}]" if d.resource else ""
        lines.append(f"::{_COMMAND[d.severity]} {','.join(props)}::{_data(d.message + where)}")
    counts = summarize(result.findings)
    lines.append(f"meshlint: {counts['errors']} errors, {counts['warnings']} warnings, "
                 f"{counts['infos']} infos in {result.files} files")
    return "\n".join(lines) + "\n"
