"""``--format text``: findings grouped by file, each with a code frame and a caret; counts last."""

from __future__ import annotations

import re
from functools import cache
from typing import TYPE_CHECKING

from meshlint.diagnostics import Diagnostic, Severity, summarize

if TYPE_CHECKING:
    from meshlint.engine import LintResult
    from meshlint.loader import Source

_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "bold yellow", Severity.INFO: "bold cyan"}
TAB_SIZE = 4
POSITION_WIDTH = 8  # `line:column` and a space at least; wider when a file's locations are
SEVERITY_WIDTH = 8
# A code frame shows at most this many characters of a line: a longer line is cut around the
# span, each cut marked with an ellipsis.
FRAME_WIDTH = 160
FRAME_CONTEXT = 40  # characters of a long line kept before the span
ELLIPSIS = "…"
# Control characters (ESC above all) from a manifest must not reach the terminal as such.
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")
_NEWLINE = re.compile(r"\r\n|\r|\n")

Piece = tuple[str, str]  # (text, style); "" is no style


def _visible(text: str) -> str:
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def _cells(text: str) -> int:
    """Terminal cells ``text`` takes (wide characters take two)."""
    if text.isascii():
        return len(text)
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


def _window(raw: str, start: int, end: int) -> tuple[str, int, int]:
    """The part of a line a frame shows, with the span's start and end in it: the whole line
    when it is short, else FRAME_WIDTH characters from FRAME_CONTEXT before the span, each cut
    marked with an ellipsis."""
    if len(raw) <= FRAME_WIDTH:
        return raw, start, end
    left = max(0, start - FRAME_CONTEXT)
    right = min(len(raw), left + FRAME_WIDTH)
    head = ELLIPSIS if left > 0 else ""
    tail = ELLIPSIS if right < len(raw) else ""
    shift = len(head) - left
    return head + raw[left:right] + tail, start + shift, min(end, right) + shift


def _frame(source: Source | None, d: Diagnostic, digits: int) -> list[Piece]:
    """(text, style) pieces: the offending line with its number, and a caret line under it.

    The caret sits under the span's first character and covers it up to its end, or up to the
    end of the line for a span that goes on over more lines. Tabs and wide characters are
    measured as the terminal shows them. A long line is shown around the span only.
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
    raw, start, end = _window(raw, start, end)
    before = _cells(_shown(raw[:start]))
    # A span that starts past the end of the line (a missing value) gets one caret after it.
    width = max(_cells(_shown(raw[:end])) - before, 1)
    more = "..." if span.end_line > span.line else ""
    number = f"{span.line:>{digits}}"
    gutter, pad = f"{number} | ", " " * len(number) + " | "
    return [
        ("    ", ""),
        (gutter, "blue"),
        (_shown(raw) + "\n", ""),
        ("    ", ""),
        (pad, "blue"),
        (" " * before + "^" * width + more + "\n", _STYLE[d.severity]),
    ]


def _position(d: Diagnostic) -> str:
    span = d.span
    return f"{span.line}:{span.column}" if span else "1:1"


def _pieces(result: LintResult) -> list[Piece]:
    """The whole report as (text, style) pieces."""
    out: list[Piece] = []
    add = out.append
    sources = {s.name: s for s in result.sources}
    groups: dict[str, list[Diagnostic]] = {}
    for d in result.findings:  # grouped by file, in the order files first appear
        groups.setdefault(d.file, []).append(d)
    for file, group in groups.items():
        # the columns of a file line up under its widest location
        positions = [_position(d) for d in group]
        pos_width = max(POSITION_WIDTH, max(len(p) for p in positions) + 1)
        indent = " " * (2 + pos_width + SEVERITY_WIDTH + 2)
        lines = [len(str(d.span.line)) for d in group if d.span]
        digits = max([5, *lines])  # line numbers of the frames, right-aligned
        source = sources.get(file)
        add((_visible(file), "bold underline"))
        add(("\n", ""))
        for d, pos in zip(group, positions, strict=True):
            first, *rest = (_visible(ln) for ln in _NEWLINE.split(d.message))
            message = "\n".join([first, *(indent + ln for ln in rest)])
            add((f"  {pos:<{pos_width}}", "dim"))
            add((f"{d.severity.label:<{SEVERITY_WIDTH}}", _STYLE[d.severity]))
            add((f"{d.code}  ", "bold"))
            add((message + "\n", ""))
            extra = [x for x in (d.resource, d.path) if x]
            if extra:
                add((indent + _visible("  ".join(extra)), "dim"))
                add(("\n", ""))
            out.extend(_frame(source, d, digits))
            if d.fix:
                add((indent + "fix: ", "green"))
                add((_visible(d.fix) + "\n", ""))
        add(("\n", ""))
    counts = summarize(result.findings)
    summary = (
        f"{counts['errors']} error{'s' * (counts['errors'] != 1)}, "
        f"{counts['warnings']} warning{'s' * (counts['warnings'] != 1)}, "
        f"{counts['infos']} info{'s' * (counts['infos'] != 1)} "
        f"in {result.files} file{'s' * (result.files != 1)} "
        f"({result.resources} resource{'s' * (result.resources != 1)})"
    )
    style = "bold red" if counts["errors"] else ("bold yellow" if counts["warnings"] else "green")
    add((summary, style))
    add(("\n", ""))
    return out


@cache
def _codes(style: str) -> tuple[str, str]:
    """The ANSI escapes that open and close ``style`` (in the terminal's 16 colours)."""
    from rich.color import ColorSystem
    from rich.style import Style

    marked = Style.parse(style).render("\0", color_system=ColorSystem.STANDARD)
    opening, _, closing = marked.partition("\0")
    return opening, closing


def _coloured(text: str, style: str) -> str:
    if not style or not text:
        return text
    opening, closing = _codes(style)
    # a line break is never inside the escapes, so that each line stands on its own
    return "\n".join(opening + part + closing if part else part for part in text.split("\n"))


def render(result: LintResult, *, color: bool = False) -> str:
    pieces = _pieces(result)
    if not color:
        return "".join(text for text, _ in pieces)
    return "".join(_coloured(text, style) for text, style in pieces)
