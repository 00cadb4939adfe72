"""Unrendered template placeholders: Helm and Go templates, Jinja, kustomize and shell variables.

ML306 reports them; the engine drops every other finding on a value that holds one, so that a
placeholder is reported once, whatever the kind (see ``engine``).
"""

from __future__ import annotations

import re
from typing import Any

PLACEHOLDER = re.compile(
    r"""
      (?P<go>\{\{.*?\}\})
    | (?P<jinja>\{%.*?%\}|\{\#.*?\#\})
    | (?P<novalue><no\ value>)
    | (?P<fmt>%!(?:[a-zA-Z]?\((?:MISSING|BADWIDTH|BADPREC|BADINDEX|NOVERB|EXTRA\ [^)]*)\)
                |[a-zA-Z]\([^()=\s]+=[^)]*\)))
    | (?P<braced>(?<!\$)\$\{[A-Za-z_][A-Za-z0-9_]*(?:[:?\#%/^,+=-][^}]*)?\})
    | (?P<kustomize>(?<!\$)\$\([A-Za-z_][A-Za-z0-9_.-]*\))
    | (?P<plain>(?<![$\\\w])\$(?:[A-Z][A-Z0-9_]*|_[A-Z0-9_]+)\b)
    """,
    re.S | re.X,
)

# Contexts where some placeholder forms are legitimate.
OPAQUE = 1  # file contents and templates of other tools: only Go's rendering artefacts count
REGEX = 2  # '$' is an anchor: only the braced ${NAME} form counts
SHELL = 4  # container command/args/env: Kubernetes expands $(VAR) and shells expand $VAR

ARTEFACTS = frozenset({"novalue", "fmt"})
DOLLAR_FORMS = frozenset({"braced", "kustomize", "plain"})


def maybe_placeholder(text: str) -> bool:
    return "{" in text or "$" in text or "<" in text or "%" in text


def _allowed(kind: str | None, flags: int) -> bool:
    if kind is None:
        return False
    if flags & OPAQUE:
        return kind in ARTEFACTS
    if flags & SHELL and kind in DOLLAR_FORMS:
        return False
    return not (flags & REGEX and kind in ("plain", "kustomize"))


def first_placeholder(text: str, flags: int) -> tuple[str, str, int] | None:
    """(form, placeholder, how many in all) for the first placeholder that counts here."""
    first: tuple[str, str] | None = None
    count = 0
    for m in PLACEHOLDER.finditer(text):
        if _allowed(m.lastgroup, flags):
            count += 1
            if first is None:
                first = (m.lastgroup or "", m.group())
    return (first[0], first[1], count) if first else None


def has_placeholder(value: Any) -> bool:
    """True for a string that holds a template placeholder (in a plain field)."""
    return (
        isinstance(value, str)
        and maybe_placeholder(value)
        and first_placeholder(value, 0) is not None
    )
