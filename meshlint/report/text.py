"""``--format text``: findings grouped by file, each with a code frame and a caret; counts last."""

from __future__ import annotations

import io
from itertools import groupby
from typing import TYPE_CHECKING

from meshlint.diagnostics import Diagnostic, Severity, summarize

if TYPE_CHECKING:
    from meshlint.engine import LintResult
    from meshlint.loader import Source

_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "bold yellow", Severity.INFO: "bold cyan"}


def _frame(source: Source | None, d: Diagnostic) -> list[tuple[str, str]]:
    """(text, style) lines: the offending line with its number, and a caret line under it."""
    if source is None or d.span is None:
        return []
    line = source.line(d.span.line)
    if not line.strip():
        return []
    line = line.replace("\t", " ")
    start = max(d.span.column - 1, 0)
    if d.span.end_line == d.span.line:
        width = max(d.span.end_column - d.span.column, 1)
    else:
        width = max(len(line.rstrip()) - start, 1)
    width = max(min(width, len(line) - start), 1)
    gutter = f"{d.span.line:>5} | "
    pad = " " * len(f"{d.span.line:>5}") + " | "
    return [(gutter, "blue"), (line + "\n", ""), (pad, "blue"),
            (" " * start + "^" * width + "\n", _STYLE[d.severity])]


def render(result: LintResult, *, color: bool = False) -> str:
    from rich.console import Console
    from rich.text import Text

    buf = io.StringIO()
    console = Console(file=buf, force_terminal=color, no_color=not color, highlight=False,
                      soft_wrap=True, width=10_000 if not color else None)
    sources = {s.name: s for s in result.sources}
    for file, group in groupby(result.findings, key=lambda d: d.file):
        console.print(Text(file, style="bold underline"))
        for d in group:
            span = d.span
            pos = f"{span.line}:{span.column}" if span else "1:1"
            head = Text.assemble(
                (f"  {pos:<8}", "dim"), (f"{d.severity.label:<8}", _STYLE[d.severity]),
                (f"{d.code}  ", "bold"), d.message,
            )
            console.print(head)
            extra = []
            if d.resource:
                extra.append(d.resource)
            if d.path:
                extra.append(d.path)
            if extra:
                console.print(Text("          " + "  ".join(extra), style="dim"))
            frame = _frame(sources.get(file), d)
            if frame:
                console.print(Text.assemble(*(("    " + t, s) if i % 2 == 0 else (t, s)
                                              for i, (t, s) in enumerate(frame))), end="")
            if d.fix:
                console.print(Text.assemble(("          fix: ", "green"), d.fix))
        console.print()
    counts = summarize(result.findings)
    summary = (f"{counts['errors']} error{'s' * (counts['errors'] != 1)}, "
               f"{counts['warnings']} warning{'s' * (counts['warnings'] != 1)}, "
               f"{counts['infos']} info{'s' * (counts['infos'] != 1)} "
               f"in {result.files} file{'s' * (result.files != 1)} "
               f"({result.resources} resource{'s' * (result.resources != 1)})")
    style = "bold red" if counts["errors"] else ("bold yellow" if counts["warnings"] else "green")
    console.print(Text(summary, style=style))
    return buf.getvalue()
