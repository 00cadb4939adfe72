"""Unrendered template placeholders (ML306): Helm and Go templates, Jinja, kustomize and shell
variables left in a manifest. The engine drops every other rule's findings on a value that holds
one, so that a placeholder is reported once (see meshlint/rules/lib/placeholders.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from itertools import accumulate
from typing import Any

from meshlint.diagnostics import FieldPath, Severity
from meshlint.resource import Resource
from meshlint.rules import Finding, rule
from meshlint.rules.lib.placeholders import (
    OPAQUE,
    REGEX,
    SHELL,
    first_placeholder,
    maybe_placeholder,
)

# API groups whose whole documents are scanned. Specs of other groups (Argo, Tekton, Prometheus
# rules, Flux, …) often hold templates of their own; only their metadata is scanned.
_SCANNED_GROUPS = frozenset(
    {"", "apps", "batch", "autoscaling", "policy", "networking.k8s.io", "gateway.networking.k8s.io"}
)
_OPAQUE_DATA = {"ConfigMap": ("data", "binaryData"), "Secret": ("data", "stringData")}
_SHELL_FIELDS = frozenset({"command", "args", "env"})

_MAX_QUOTE = 60


def _placeholder_message(form: str, text: str, count: int) -> str:
    quoted = text if len(text) <= _MAX_QUOTE else text[: _MAX_QUOTE - 1] + "…"
    more = f" (and {count - 1} more)" if count > 1 else ""
    if form == "go":
        return (
            f"unrendered template placeholder `{quoted}`{more}: render the template "
            "(`helm template …`) before linting, or exclude the template folder"
        )
    if form == "jinja":
        return (
            f"unrendered Jinja placeholder `{quoted}`{more}: render the template (Ansible, "
            "j2 …) before linting, or exclude the template folder"
        )
    if form == "novalue":
        return (
            "`<no value>` is what a Go or Helm template prints for a value that is not set: "
            f"the template was rendered without it{more}; set the value and render again"
        )
    if form == "fmt":
        return (
            f"`{quoted}` is a Go fmt error left in the output{more} (a format string with "
            "a missing or extra argument): fix the template or script that wrote it"
        )
    if form == "kustomize":
        return (
            f"unresolved kustomize variable `{quoted}`{more}: build with `kustomize build` "
            "before linting, or exclude the overlay folder"
        )
    tail = (
        " If the `$` is meant literally, ignore or suppress this warning."
        if form == "plain"
        else ""
    )
    return (
        f"unsubstituted variable `{quoted}`{more}: run the file through `envsubst` (or the "
        f"script that fills it in) before linting and applying, or exclude it.{tail}"
    )


def _scan(node: Any, path: FieldPath, flags: int, out: list[Finding]) -> None:
    # The hot loop of ML306: four substring tests per string, a regex only on a hit.
    if isinstance(node, dict):
        for k, v in node.items():
            if "{" in k or "$" in k or "<" in k or "%" in k:
                _report(k, (*path, k), flags, True, out)
            if isinstance(v, str):
                if "{" in v or "$" in v or "<" in v or "%" in v:
                    _report(v, (*path, k), flags | _key_flags(k, path), False, out)
            elif isinstance(v, (dict, list)) and v:
                _scan(v, (*path, k), flags | _key_flags(k, path), out)
    else:
        for i, v in enumerate(node):
            if isinstance(v, str):
                if "{" in v or "$" in v or "<" in v or "%" in v:
                    _report(v, (*path, i), flags, False, out)
            elif isinstance(v, (dict, list)) and v:
                _scan(v, (*path, i), flags, out)


def _key_flags(key: Any, path: FieldPath) -> int:
    if not isinstance(key, str):
        return 0
    flags = 0
    if "regex" in key or "Regex" in key:
        flags |= REGEX
    if key in _SHELL_FIELDS:
        flags |= SHELL
    if "template" in key and path[-1:] == ("annotations",):
        flags |= OPAQUE  # e.g. vault.hashicorp.com/agent-inject-template-*: a template by design
    return flags


def _report(text: str, path: FieldPath, flags: int, key: bool, out: list[Finding]) -> None:
    found = first_placeholder(text, flags)
    if found is None:
        return
    form, placeholder, count = found
    out.append(
        Finding(
            path,
            _placeholder_message(form, placeholder, count),
            key=key,
            severity=Severity.WARNING if form == "plain" else None,
        )
    )


# Most documents hold no placeholder marker at all: their text is tested (a few searches in C)
# before their data is walked. A `$` is a marker only where a `$` form can start: before `{`,
# `(`, an upper-case letter or `_`, or before a backslash (a double-quoted escape may write any
# of them); the `$` that ends a regex (`^/api/.*$`) starts none.
_BRACE_MARKER = re.compile(r"\{[{%#]")
_DOLLAR_MARKER = re.compile(r"\$[A-Z_({\\]")
_AFTER_BRACE = frozenset("{%#")
_AFTER_DOLLAR = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ_({\\")


def _marked(
    text: str, first: str, after: frozenset[str], marker: re.Pattern[str], begin: int, end: int
) -> bool:
    """Whether ``text[begin:end]`` holds ``first`` followed by one of ``after`` (``marker``):
    the first few ``first`` are looked at one by one, the rest of the text through ``marker``."""
    find = text.find
    last = min(end, len(text)) - 1  # the marker's first character comes before the last one
    if last <= begin:
        return False
    at = find(first, begin, last)
    for _ in range(8):
        if at < 0:
            return False
        if text[at + 1] in after:
            return True
        at = find(first, at + 1, last)
    return at >= 0 and marker.search(text, at, end) is not None


def _has_marker(text: str, begin: int, end: int) -> bool:
    """Whether ``text[begin:end]`` holds something that may be read as a placeholder."""
    # Each search for a marker's first character (memchr) comes first: most texts lack some.
    find = text.find
    return (
        _marked(text, "{", _AFTER_BRACE, _BRACE_MARKER, begin, end)
        or _marked(text, "$", _AFTER_DOLLAR, _DOLLAR_MARKER, begin, end)
        or (find("<", begin, end) >= 0 and find("<no value>", begin, end) >= 0)
        or (find("%", begin, end) >= 0 and find("%!", begin, end) >= 0)
    )


def _line_starts(text: str) -> list[int]:
    """Where each line of ``text`` starts (lines end at each \\n)."""
    starts = list(accumulate(map((1).__add__, map(len, text.split("\n"))), initial=0))
    starts.pop()
    return starts


# The last source seen: (source, whether its text holds a marker, where its lines start). One
# tuple, replaced whole, so that concurrent readers never see a mix of two sources.
_last: tuple[Any, bool, list[int] | None] = (None, True, None)


def _may_hold_placeholders(res: Resource) -> bool:
    global _last
    doc = res.doc
    source = doc.source
    cached, marked, starts = _last
    if cached is not source:
        text = source.text
        marked = _has_marker(text, 0, len(text))
        starts = None
        _last = (source, marked, None)
    if not marked:
        return False
    if doc.node is None or doc.item is not None:
        return True  # no span to trust (JSON fallback, List items may use outside anchors)
    text = source.text
    if starts is None:
        starts = _line_starts(text)
        _last = (source, marked, starts)
    span = doc.span
    begin = starts[span.line - 1] if span.line - 1 < len(starts) else len(text)
    end = starts[span.end_line] if span.end_line < len(starts) else len(text)
    return _has_marker(text, begin, end)


@rule(
    "ML306",
    "template-placeholder",
    Severity.ERROR,
    catalogue=(
        "gen-tpl-go",
        "gen-tpl-novalue",
        "gen-tpl-shell",
        "gen-tpl-jinja",
        "gen-tpl-kustomize",
    ),
    summary="A value holds an unrendered template placeholder.",
    rationale="""
        Istio accepts many free-form strings (header values, regexes, JWT issuers, SNI names,
        credential names), so a manifest applied before its template engine ran is often
        accepted and then silently does the wrong thing. meshlint reports Go/Helm `{{ … }}`, Go's `<no value>`
        and `%!s(MISSING)` artefacts, Jinja `{% … %}` and `{# … #}`, envsubst/shell `${NAME}`,
        kustomize `$(NAME)`, and plain `$NAME` (upper case, as a warning, since it may be
        meant literally) in every string and every key. Where the syntax is legitimate it is
        not reported: `$`-forms in regex fields (only `${NAME}` counts there), in container
        `command`, `args` and `env` (Kubernetes expands `$(VAR)` itself), the contents of
        ConfigMaps and Secrets (only `<no value>` and `%!` artefacts count there), annotation
        values whose key names a template, and the specs of API groups other than Kubernetes,
        Gateway API and Istio ones (their metadata is still checked). In YAML, an unquoted
        `host: {{.service}}` is a flow mapping; meshlint reads it back as the text written.
    """,
    bad="""
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata:
          name: reviews
        spec:
          hosts: [reviews]
          http:
          - route:
            - destination:
                host: "{{ .Values.reviews.host }}"  # expect: ML306@15 spec.http[0].route[0].destination.host
    """,
    good="""
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata:
          name: reviews
        spec:
          hosts: [reviews]
          http:
          - route:
            - destination:
                host: reviews
    """,
)
def template_placeholder(res: Resource) -> Iterable[Finding]:
    last = _last
    if last[0] is res.doc.source and not last[1]:
        return ()  # the rest of a source that holds no marker
    if not _may_hold_placeholders(res):
        return ()
    data = res.data
    out: list[Finding] = []
    group = res.group
    if group in _SCANNED_GROUPS or group.endswith(".istio.io"):
        opaque = _OPAQUE_DATA.get(res.kind, ()) if group == "" else ()
        for key, value in data.items():
            if maybe_placeholder(key):
                _report(key, (key,), 0, True, out)
            flags = OPAQUE if key in opaque else 0
            if isinstance(value, str):
                if maybe_placeholder(value):
                    _report(value, (key,), flags, False, out)
            elif isinstance(value, (dict, list)):
                _scan(value, (key,), flags, out)
    else:
        meta = data.get("metadata")
        if isinstance(meta, str):
            if maybe_placeholder(meta):
                _report(meta, ("metadata",), 0, False, out)
        elif isinstance(meta, (dict, list)):
            _scan(meta, ("metadata",), 0, out)
    return out
