"""``--format gitlab``: a GitLab Code Quality report (``artifacts:reports:codequality``).

A JSON list with one object per finding::

    {"description": "unknown field `retires`; … (fix: rename `retires` to `retries`)",
     "check_name": "ML206",
     "fingerprint": "<32 hex digits>",
     "severity": "major",
     "location": {"path": "k8s/vs.yaml", "lines": {"begin": 14, "end": 14}}}

Severities: error → ``major``, warning → ``minor``, info → ``info`` (``critical`` and
``blocker`` are left to findings that stop a deployment, which a linter cannot know). Paths are
relative to the current folder (where a CI job runs, the project root) with forward slashes; a
file outside it keeps its absolute path. A span over several lines ends on the last line it
covers. The fingerprint hashes what a finding is (code, path, resource, field path, message with
any line or column numbers in it blanked), not where it is, so GitLab matches a finding across
commits that move it; a repeat of the same finding in a file is numbered into its own hash,
since GitLab shows one finding per fingerprint.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from meshlint.diagnostics import Diagnostic, Severity, fingerprint

if TYPE_CHECKING:
    from meshlint.engine import LintResult

SEVERITY = {Severity.ERROR: "major", Severity.WARNING: "minor", Severity.INFO: "info"}


def report_path(file: str, root: Path) -> str:
    """``file`` relative to ``root`` with forward slashes, or absolute when outside it."""
    full = Path(os.path.abspath(file))
    try:
        return full.relative_to(root).as_posix()
    except ValueError:
        return full.as_posix()


def _lines(d: Diagnostic) -> dict[str, int]:
    span = d.span
    if span is None:
        return {"begin": 1, "end": 1}
    end = span.end_line
    if end > span.line and span.end_column == 1:  # ends where the next line starts
        end -= 1
    return {"begin": span.line, "end": max(end, span.line)}


def build(result: LintResult, *, root: Path | None = None) -> list[dict[str, Any]]:
    """The report as plain data; paths are relative to ``root`` (default: the current folder)."""
    root = Path(os.path.abspath(root or Path.cwd()))
    out: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for d in result.findings:
        path = report_path(d.file, root)
        base = fingerprint(d, path)
        seen[base] = seen.get(base, 0) + 1
        description = d.message + (f" (fix: {d.fix})" if d.fix else "")
        out.append(
            {
                "description": description,
                "check_name": d.code,
                "fingerprint": fingerprint(d, path, seen[base]),
                "severity": SEVERITY[d.severity],
                "location": {"path": path, "lines": _lines(d)},
            }
        )
    return out


def render(result: LintResult, *, color: bool = False) -> str:
    # ASCII escapes: a report is read by tools, and a lone surrogate from an undecodable file
    # name must not make it unwritable.
    return json.dumps(build(result), indent=2) + "\n"
