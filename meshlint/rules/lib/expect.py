"""Expectation markers: how a rule fixture or a rule's bad example says what it must produce.

A marker is a YAML comment on the offending line::

    attempts: -1   # expect: ML421@7 spec.http[0].retries.attempts

Each expectation is ``CODE@COLUMN [severity] PATH``: the finding's code, its 1-based column on
this line, its severity (default: the rule's own) and its field path (``-`` for none). Several
expectations on one line are separated by ``;``. Where the offending line cannot hold a comment
(inside a block scalar), ``CODE@LINE:COLUMN`` on a comment line of its own names the line.

A fixture may start with ``# fixture: {…}``, a flow mapping of configuration settings (as
``.meshlint.yaml`` writes them) under which it is linted; without it every rule runs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_MARKER = re.compile(r"(?:^|\s)#\s*expect:\s*(?P<body>.+?)\s*$")
_HEADER = re.compile(r"^#\s*fixture:\s*(?P<body>\{.*\})\s*$")
_ONE = re.compile(
    r"^(?P<code>ML\d{3})@(?:(?P<line>\d+):)?(?P<column>\d+)"
    r"(?:\s+(?P<severity>error|warning|info))?\s+(?P<path>\S.*?)$"
)


class MarkerError(ValueError):
    """A marker that cannot be read; the message names its line."""


@dataclass(frozen=True, order=True)
class Expected:
    line: int
    column: int
    code: str
    path: str
    severity: str | None = None  # None: the rule's own

    def show(self) -> str:
        sev = f" {self.severity}" if self.severity else ""
        return f"{self.line}:{self.column} {self.code}{sev} {self.path or '-'}"


def markers(text: str) -> list[Expected]:
    """Every expectation of ``text``, in line order."""
    out: list[Expected] = []
    for number, line in enumerate(text.splitlines(), 1):
        if "expect:" not in line:
            continue
        m = _MARKER.search(line)
        if m is None:
            continue
        for part in m.group("body").split(";"):
            part = part.strip()
            one = _ONE.match(part)
            if one is None:
                raise MarkerError(
                    f"line {number}: `{part}` is no expectation (CODE@COLUMN [severity] PATH, "
                    "or CODE@LINE:COLUMN …)"
                )
            path = one.group("path")
            out.append(
                Expected(
                    int(one.group("line") or number),
                    int(one.group("column")),
                    one.group("code"),
                    "" if path == "-" else path,
                    one.group("severity"),
                )
            )
    return sorted(out)


def settings(text: str) -> dict[str, Any]:
    """The configuration settings of a fixture's ``# fixture: {…}`` header (empty: none)."""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped:
            continue
        m = _HEADER.match(stripped)
        if m is None:
            return {}
        import yaml

        value = yaml.safe_load(m.group("body"))
        if not isinstance(value, dict):
            raise MarkerError("the `# fixture:` header is not a mapping")
        return value
    return {}


def shown(text: str) -> str:
    """An example as the docs show it: each marker reduced to the codes it names."""

    def reduce(m: re.Match[str]) -> str:
        codes = [p.strip().split("@", 1)[0] for p in m.group("body").split(";")]
        lead = m.group(0)[: len(m.group(0)) - len(m.group(0).lstrip())]
        return f"{lead}# {', '.join(dict.fromkeys(codes))}"

    return "\n".join(_MARKER.sub(reduce, line) for line in text.split("\n"))
