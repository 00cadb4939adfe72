"""The one finding type every stage produces, and the helpers that name places in a document."""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

PathElem = str | int
FieldPath = tuple[PathElem, ...]


class Severity(enum.IntEnum):
    """Ordered so that ``a >= b`` reads "a is at least as serious as b"."""

    INFO = 1
    WARNING = 2
    ERROR = 3

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Severity:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            raise ValueError(
                f"unknown severity {text!r}; expected one of error, warning, info"
            ) from None


class ConfigError(Exception):
    """A problem with the configuration; the CLI prints it and exits with status 2."""


@dataclass(frozen=True, slots=True)
class Finding:
    """What a rule's check yields about the resource it checks; the engine turns it into a
    located :class:`Diagnostic`."""

    path: FieldPath
    message: str
    fix: str | None = None  # a Replacement for a safe fix (see meshlint.fix)
    key: bool = False  # point at the key of ``path`` rather than at its value
    severity: Severity | None = None  # only to lower or raise one finding of a rule
    at: int | None = None  # a character of the string at ``path``: the finding is placed on it


class Replacement(str):
    """A fix that replaces the scalar a finding points at: ``Replacement("simple", "X")`` reads
    ``simple: X`` wherever a fix is shown, and ``.value`` is ``"X"``."""

    key: str
    value: str

    def __new__(cls, key: str, value: str) -> Replacement:
        self = super().__new__(cls, f"{key}: {value}")
        self.key = key
        self.value = value
        return self

    def __reduce__(self) -> tuple[Any, ...]:  # findings travel between worker processes
        return (Replacement, (self.key, self.value))


@dataclass(frozen=True, slots=True, order=True)
class Span:
    """A region of a file. Lines and columns are 1-based; the end is exclusive."""

    line: int
    column: int
    end_line: int
    end_column: int

    @classmethod
    def point(cls, line: int, column: int = 1) -> Span:
        return cls(line, column, line, column + 1)

    def __reduce__(self) -> tuple[Any, ...]:  # (its fields, pickled in C: see Diagnostic)
        return (Span, (self.line, self.column, self.end_line, self.end_column))


@dataclass(slots=True)
class Diagnostic:
    code: str
    severity: Severity
    message: str
    file: str
    span: Span | None = None
    resource: str = ""
    path: str = ""
    fix: str | None = None
    # Not part of the output: the first line of the resource, where a suppression comment
    # above it applies to all its findings (0: not tied to a resource).
    resource_line: int = field(default=0, compare=False, repr=False)

    def __reduce__(self) -> tuple[Any, ...]:
        # (worker processes send thousands of them: the constructor's arguments pickle in C,
        # three times faster than the generic form of a class with slots)
        return (
            Diagnostic,
            (
                self.code, self.severity, self.message, self.file, self.span, self.resource,
                self.path, self.fix, self.resource_line,
            ),
        )  # fmt: skip

    @property
    def line(self) -> int:
        return self.span.line if self.span else 1

    @property
    def column(self) -> int:
        return self.span.column if self.span else 1

    def to_json(self) -> dict[str, object]:
        span = self.span or Span.point(1)
        out: dict[str, object] = {
            "rule": self.code,
            "severity": self.severity.label,
            "file": self.file,
            "line": span.line,
            "column": span.column,
            "end_line": span.end_line,
            "end_column": span.end_column,
            "resource": self.resource,
            "path": self.path,
            "message": self.message,
        }
        if self.fix:
            out["fix"] = self.fix
        return out


_IDENT = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$-]*$")


def format_path(path: Iterable[PathElem]) -> str:
    """``('spec', 'http', 0, 'timeout')`` → ``spec.http[0].timeout``.

    Keys that are not plain identifiers (annotation keys, header names) are quoted:
    ``metadata.annotations["sidecar.istio.io/inject"]``.
    """
    out: list[str] = []
    for elem in path:
        if isinstance(elem, int):
            out.append(f"[{elem}]")
        elif _IDENT.match(elem):
            out.append(f".{elem}" if out else elem)
        else:
            quoted = elem.replace("\\", "\\\\").replace('"', '\\"')
            out.append(f'["{quoted}"]')
    return "".join(out)


def summarize(findings: Iterable[Diagnostic]) -> dict[str, int]:
    counts = {"errors": 0, "warnings": 0, "infos": 0}
    for d in findings:
        counts[d.severity.label + "s"] += 1
    return counts


# "line 12", "column 3" inside a message: masked in fingerprints, which must not change when a
# finding moves.
_POSITION = re.compile(r"\b(lines?|columns?|col)\s+\d+", re.IGNORECASE)


def fingerprint(d: Diagnostic, location: str, occurrence: int = 1) -> str:
    """A stable identity of a finding for code-scanning tools (SARIF, GitLab): its rule,
    ``location`` (the file as the report names it), resource, field path and message, not its
    line. ``occurrence`` tells apart identical findings of one file."""
    message = _POSITION.sub(lambda m: m.group(1) + " #", d.message)
    key = "\0".join((d.code, location, d.resource, d.path, message))
    if occurrence > 1:
        key += f"\0{occurrence}"
    import hashlib  # only the formats that fingerprint findings need it

    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:32]
