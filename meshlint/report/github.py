"""``--format github``: workflow commands that GitHub Actions turns into annotations.

``::error file=F,line=L,col=C,endLine=L2,endColumn=C2,title=CODE::message`` per finding, escaped as
the Actions toolkit does: ``%``, CR and LF in the message; also ``:`` and ``,`` in properties.
GitHub only takes columns for a span on one line, so a span over several lines names lines only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from meshlint.diagnostics import Diagnostic, Severity, summarize

if TYPE_CHECKING:
    from meshlint.engine import LintResult

_COMMAND = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}


def _data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _prop(text: str) -> str:
    return _data(text).replace(":", "%3A").replace(",", "%2C")


def annotation(d: Diagnostic) -> str:
    """The workflow command of one finding."""
    span = d.span
    props = [f"file={_prop(d.file)}"]
    if span is not None:
        props.append(f"line={span.line}")
        if span.end_line == span.line:
            props += [
                f"col={span.column}",
                f"endLine={span.end_line}",
                f"endColumn={span.end_column}",
            ]
        else:  # a block that ends where the next line starts ends on the line before
            end = span.end_line - 1 if span.end_column == 1 else span.end_line
            props.append(f"endLine={max(end, span.line)}")
    props.append(f"title={_prop(d.code)}")
    message = d.message + (f" [{d.resource}]" if d.resource else "")
    if d.fix:
        message += f"\nfix: {d.fix}"
    return f"::{_COMMAND[d.severity]} {','.join(props)}::{_data(message)}"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'s' * (n != 1)}"


def render(result: LintResult, *, color: bool = False) -> str:
    lines = [annotation(d) for d in result.findings]
    counts = summarize(result.findings)
    lines.append(
        "meshlint: "
        + ", ".join(_count(counts[k + "s"], k) for k in ("error", "warning", "info"))
        + f" in {_count(result.files, 'file')}"
    )
    return "\n".join(lines) + "\n"
