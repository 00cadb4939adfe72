"""``--format text``: findings grouped by file, each with a code frame and a caret; counts last."""

from __future__ import annotations

import io
import re
from typing import TYPE_CHECKING

from meshlint.diagnostics import Diagnostic, Severity, summarize

if TYPE_CHECKING:
    from meshlint.engine import LintResult
    from meshlint.loader import Source

_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "bold yellow", Severity.INFO: "bold cyan"}
TAB_SIZE = 4
_INDENT = " " * 20  # under the message: 2 + position (8) + severity (8) + 2
# Control characters (ESC above all) from a manifest must not reach the terminal as such.
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")
_NEWLINE = re.compile(r"\r\n|\r|\n")


def _visible(text: str) -> str:
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def _cells(text: str) -> int:
    """Terminal cells ``text`` takes (wide characters take two)."""
    from rich.cells import cell_len

    return cell_len(text)


def _expand(text: str) -> str:
    """Tabs to spaces, to the next multiple of TAB_SIZE cells."""
    if "\t" not in text:
        return text
    out: list[str] = []
    width = 0
    for ch in text:
        if ch == "\t":
            pad = TAB_SIZE - width % TAB_SIZE
            out.append(" " * pad)
            width += pad
        else:
            out.append(ch)
            width += _cells(ch)
    return "".join(out)


def _shown(text: str) -> str:
    """A line of the file as the code frame shows it; its prefixes are shown as prefixes."""
    return _expand(_visible(text))


def _frame(source: Source | None, d: Diagnostic) -> list[tuple[str, str]]:
    """(text, style) pieces: the offending line with its number, and a caret line under it.

    The caret sits under the span's first character and covers it up to its end, or up to the
    end of the line for a span that goes on over more lines. Tabs and wide characters are
    measured as the terminal shows them.
    """
    if source is None or d.span is None:
        return []
    span = d.span
    raw = source.line(span.line)
    if not raw.strip():
        return []
    start = min(max(span.column - 1, 0), len(raw))
    if span.end_line == span.line:
        end = max(span.end_column - 1, start + 1)
    else:
        end = max(len(raw.rstrip()), start + 1)
    end = min(end, len(raw))
    before = _cells(_shown(raw[:start]))
    # A span that starts past the end of the line (a missing value) gets one caret after it.
    width = max(_cells(_shown(raw[:end])) - before, 1)
    more = "..." if span.end_line > span.line else ""
    number = f"{span.line:>5}"
    gutter, pad = f"{number} | ", " " * len(number) + " | "
    return [
        (gutter, "blue"),
        (_shown(raw) + "\n", ""),
        (pad, "blue"),
        (" " * before + "^" * width + more + "\n", _STYLE[d.severity]),
    ]


def render(result: LintResult, *, color: bool = False) -> str:
    from rich.console import Console
    from rich.text import Text

    buf = io.StringIO()
    console = Console(
        file=buf,
        force_terminal=color,
        no_color=not color,
        color_system="standard" if color else None,
        legacy_windows=False,
        highlight=False,
        markup=False,
        emoji=False,
        soft_wrap=True,
        width=10_000,
    )
    sources = {s.name: s for s in result.sources}
    groups: dict[str, list[Diagnostic]] = {}
    for d in result.findings:  # grouped by file, in the order files first appear
        groups.setdefault(d.file, []).append(d)
    for file, group in groups.items():
        console.print(Text(_visible(file), style="bold underline"))
        for d in group:
            span = d.span
            pos = f"{span.line}:{span.column}" if span else "1:1"
            first, *rest = (_visible(ln) for ln in _NEWLINE.split(d.message))
            message = "\n".join([first, *(_INDENT + ln for ln in rest)])
            head = Text.assemble(
                (f"  {pos:<8}", "dim"),
                (f"{d.severity.label:<8}", _STYLE[d.severity]),
                (f"{d.code}  ", "bold"),
                message,
            )
            console.print(head)
            extra = [x for x in (d.resource, d.path) if x]
            if extra:
                console.print(Text(_INDENT + _visible("  ".join(extra)), style="dim"))
            frame = _frame(sources.get(file), d)
            if frame:
                console.print(
                    Text.assemble(
                        *(
                            ("    " + t, s) if i % 2 == 0 else (t, s)
                            for i, (t, s) in enumerate(frame)
                        )
                    ),
                    end="",
                )
            if d.fix:
                console.print(Text.assemble((_INDENT + "fix: ", "green"), _visible(d.fix)))
        console.print()
    counts = summarize(result.findings)
    summary = (
        f"{counts['errors']} error{'s' * (counts['errors'] != 1)}, "
        f"{counts['warnings']} warning{'s' * (counts['warnings'] != 1)}, "
        f"{counts['infos']} info{'s' * (counts['infos'] != 1)} "
        f"in {result.files} file{'s' * (result.files != 1)} "
        f"({result.resources} resource{'s' * (result.resources != 1)})"
    )
    style = "bold red" if counts["errors"] else ("bold yellow" if counts["warnings"] else "green")
    console.print(Text(summary, style=style))
    return buf.getvalue()
