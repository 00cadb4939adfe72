"""Kubernetes metadata: the grammars of names, namespaces, label and annotation keys and values,
what is wrong with a string under one of them (in the user's words), and how a value that YAML
did not read as a string, or a mapping written as a string, is described.

Facts: RFC 1123 DNS subdomains and labels, apimachinery ``IsQualifiedName`` and
``IsValidLabelValue``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from meshlint.diagnostics import FieldPath
from meshlint.resource import Resource
from meshlint.verdicts import keep_verdict

_LOWER = frozenset("abcdefghijklmnopqrstuvwxyz")
_UPPER = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_DIGITS = frozenset("0123456789")
_LOWER_ALNUM = _LOWER | _DIGITS
_ALNUM = _LOWER_ALNUM | _UPPER

_DNS_SUBDOMAIN_RE = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_DNS_LABEL_RE = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_LABEL_NAME_RE = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")


@dataclass(frozen=True, slots=True)
class Syntax:
    """One of the Kubernetes identifier grammars, with what it accepts in the user's words."""

    regex: re.Pattern[str]
    max_len: int
    chars: frozenset[str]
    dotted: bool  # '.' separates parts that each start and end with a letter or digit
    lower_only: bool
    accepted: str
    # Texts already found valid: names, namespaces and label keys come back on many objects
    # (a bounded table, see keep_verdict).
    known: dict[str, bool] = field(default_factory=dict, compare=False, repr=False)

    def valid(self, text: str) -> bool:
        known = self.known
        if type(text) is str and text in known:
            return True
        if len(text) <= self.max_len and self.regex.fullmatch(text) is not None:
            return keep_verdict(known, text, True)
        return False


SUBDOMAIN = Syntax(
    _DNS_SUBDOMAIN_RE,
    253,
    _LOWER_ALNUM | frozenset("-."),
    True,
    True,
    "only lower-case letters a-z, digits 0-9, '-' and '.', starting and ending with a letter "
    "or digit, at most 253 characters (an RFC 1123 DNS subdomain)",
)
DNS_LABEL = Syntax(
    _DNS_LABEL_RE,
    63,
    _LOWER_ALNUM | frozenset("-"),
    False,
    True,
    "only lower-case letters a-z, digits 0-9 and '-', starting and ending with a letter or "
    "digit, at most 63 characters (an RFC 1123 DNS label: no dots)",
)
LABEL_NAME = Syntax(
    _LABEL_NAME_RE,
    63,
    _ALNUM | frozenset("-_."),
    False,
    False,
    "letters, digits, '-', '_' and '.', starting and ending with a letter or digit, at most 63 "
    "characters",
)


def _show_chars(chars: list[str]) -> str:
    names = {" ": "a space", "\t": "a tab", "\n": "a line break"}
    shown = [names.get(c, f"`{c}`") for c in chars[:6]]
    return ", ".join(shown) + (", …" if len(chars) > 6 else "")


def problems(text: str, syn: Syntax) -> list[str]:
    """What is wrong with ``text`` under ``syn``, as clauses that follow "it"."""
    if not text:
        return ["is empty"]
    out: list[str] = []
    bad = [c for c in dict.fromkeys(text) if c not in syn.chars]
    if syn.lower_only and any(c in _UPPER for c in bad):
        out.append("has upper-case letters")
        bad = [c for c in bad if c not in _UPPER]
    first, last = text[0], text[-1]
    if first in syn.chars and first not in _ALNUM:
        out.append(f"starts with `{first}`")
    if last in syn.chars and last not in _ALNUM and len(text) > 1:
        out.append(f"ends with `{last}`")
    if syn.dotted and "." in text:
        parts = text.split(".")
        inner = parts[1:-1]
        if any(not p for p in inner):
            out.append("has two dots in a row")
        if any(p.startswith("-") for p in parts[1:]) or any(p.endswith("-") for p in parts[:-1]):
            out.append("has a `-` next to a `.`")
    if len(text) > syn.max_len:
        out.append(f"is {len(text)} characters long (at most {syn.max_len})")
    if bad:
        out.append(f"uses characters that are not allowed: {_show_chars(bad)}")
    return out or ["does not match the accepted form"]


def joined(clauses: list[str]) -> str:
    if len(clauses) <= 1:
        return "".join(clauses)
    return ", ".join(clauses[:-1]) + " and " + clauses[-1]


def suggest_name(text: str, syn: Syntax) -> str | None:
    """A valid spelling of ``text`` when a mechanical one exists (case, '_', spaces)."""
    fixed = text.strip().lower().replace("_", "-").replace(" ", "-")
    if not syn.dotted:
        fixed = fixed.replace(".", "-")
    fixed = fixed.strip("-.")
    return fixed if fixed != text and syn.valid(fixed) else None


def quote_hint(res: Resource, path: FieldPath, key: str, value: Any) -> str:
    """How to write ``value`` as a string: from the text the user wrote when it can be read."""
    raw = _raw_text(res, path)
    if raw is None:
        raw = _yaml_text(value)
    return f'`{key}: "{raw}"`'


def _raw_text(res: Resource, path: FieldPath) -> str | None:
    doc = res.doc
    if doc.node is None:
        return None
    span = doc.locate(path)
    if span.line != span.end_line:
        return None
    text = doc.source.line(span.line)[span.column - 1 : span.end_column - 1].strip()
    if not text or text[0] in "\"'{[&*!|>#":
        return None
    return text


def _yaml_text(value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return ""
    return str(value)


def unquoted(res: Resource, path: FieldPath, value: Any) -> str:
    """A non-string value as written, and what YAML made of it: "the unquoted `1.10`, …"."""
    raw = _raw_text(res, path)
    if raw is not None and raw != _yaml_text(value):
        if isinstance(value, int) and not isinstance(value, bool):
            # YAML 1.1 readers disagree on 0123 (octal or decimal): do not name the number.
            return f"the unquoted `{raw}`, which YAML reads as a number"
        return f"the unquoted `{raw}`, which YAML reads as {describe(value, plain=True)}"
    return describe(value)


def describe(value: Any, *, plain: bool = False) -> str:
    """A non-string value as the user would call it."""
    if isinstance(value, bool):
        return f"the boolean {_yaml_text(value)}" if plain else f"the boolean `{_yaml_text(value)}`"
    if isinstance(value, (int, float)):
        return f"the number {value}" if plain else f"the number `{value}`"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"`{value}`"


GLUED_KEY = re.compile(r"(?:^|\s)([A-Za-z_][\w./-]*):(?=\S)")


def glued_keys(text: str) -> list[str]:
    """Keys written as ``key:value`` without the space YAML needs, e.g. ['name']."""
    if ":" not in text:
        return []
    return GLUED_KEY.findall(text)


def not_a_mapping(field: str, value: Any, example: str) -> str:
    """Why ``field`` (a field that must be a mapping) is not one, and how to write it."""
    if isinstance(value, str):
        keys = glued_keys(value)
        if keys:
            after = joined([f"'{k}:'" for k in dict.fromkeys(keys)])
            return (
                f"`{field}` is the string '{value}': a space is missing after {after}, so "
                "YAML reads it as one string instead of a key and a value"
            )
        return f"`{field}` is the string '{value}'; it must be a mapping, e.g. {example}"
    if isinstance(value, list):
        return (
            f"`{field}` is a list; it must be a mapping: remove the `-` in front of its first key"
        )
    return f"`{field}` is {describe(value)}; it must be a mapping, e.g. {example}"
