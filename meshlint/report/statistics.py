"""``--statistics``: how many findings each rule has, most frequent first, then a total.

::

      12  ML206  unknown-field          [error]
       3  ML204  deprecated-apiversion  [info]
      15  total: 12 errors, 0 warnings, 3 infos in 7 files

Rules with as many findings are in code order. A rule whose findings came out at more than one
severity (a severity override on one finding) lists them all, most severe first:
``[error/warning]``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from meshlint.diagnostics import Severity, summarize

if TYPE_CHECKING:
    from meshlint.engine import LintResult


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'s' * (n != 1)}"


def render_statistics(result: LintResult) -> str:
    from meshlint import rules as registry

    counts: dict[str, int] = {}
    severities: dict[str, set[Severity]] = {}
    for d in result.findings:
        counts[d.code] = counts.get(d.code, 0) + 1
        severities.setdefault(d.code, set()).add(d.severity)
    order = sorted(counts, key=lambda code: (-counts[code], code))
    names = {}
    for code in order:
        rule = registry.get(code)
        names[code] = rule.name if rule is not None else "-"
    total = len(result.findings)
    width = max(4, len(str(total)))
    code_width = max((len(c) for c in order), default=0)
    name_width = max((len(n) for n in names.values()), default=0)
    lines = []
    for code in order:
        labels = "/".join(s.label for s in sorted(severities[code], reverse=True))
        lines.append(
            f"{counts[code]:>{width}}  {code:<{code_width}}  {names[code]:<{name_width}}  [{labels}]"
        )
    summary = summarize(result.findings)
    lines.append(
        f"{total:>{width}}  total: "
        + ", ".join(_count(summary[k + "s"], k) for k in ("error", "warning", "info"))
        + f" in {_count(result.files, 'file')}"
    )
    return "\n".join(lines) + "\n"
