"""``--format sarif``: SARIF 2.1.0, for GitHub code scanning and other SARIF viewers.

One run; the driver lists only the rules that fired, each with its summary, rationale and bad/good
examples (GitHub shows ``help`` but not ``helpUri``, so the help is spelled out in text and
Markdown). File locations are relative to ``%SRCROOT%`` (the current folder) with forward slashes;
columns count characters (``columnKind: unicodeCodePoints``), end columns are exclusive, as in
SARIF. ``partialFingerprints`` hash what a finding is (rule, file, resource, field path, message),
not where it is, so an alert survives lines being added above it.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from meshlint import __version__
from meshlint.diagnostics import Diagnostic, Severity, fingerprint

if TYPE_CHECKING:
    from meshlint.engine import LintResult
    from meshlint.loader import Source
    from meshlint.rules import Rule

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
SRCROOT = "%SRCROOT%"
FINGERPRINT_KEY = "meshlint/v1"

_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}
# Line and column numbers inside a message (``first at line 4``) must not move a fingerprint.
# Characters kept as they are in a relative URI; everything else is percent-encoded (UTF-8).
# ``:`` is encoded so that ``a:b.yaml`` cannot read as a URI scheme.
_URI_SAFE = "/!$&'()*+,;=@"


def render(result: LintResult, *, color: bool = False) -> str:
    return json.dumps(build(result), indent=2, ensure_ascii=False) + "\n"


def build(result: LintResult, *, root: Path | None = None) -> dict[str, Any]:
    """The SARIF log as plain data; ``root`` (default: the current folder) is ``%SRCROOT%``."""
    from meshlint import rules as registry

    root = Path(os.path.abspath(root or Path.cwd()))
    sources = {s.name: s for s in result.sources}
    codes = sorted({d.code for d in result.findings})  # only the rules that fired
    index = {code: i for i, code in enumerate(codes)}
    descriptors = [_descriptor(code, registry.get(code)) for code in codes]
    results: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for d in result.findings:
        uri, base = _uri(d.file, root)
        results.append(_result(d, index[d.code], uri, base, sources.get(d.file), seen))
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": "meshlint",
                "version": __version__,
                "semanticVersion": __version__,
                "rules": descriptors,
            }
        },
        "originalUriBaseIds": {
            SRCROOT: {
                "uri": root.as_uri().rstrip("/") + "/",
                "description": {"text": "The folder meshlint ran in."},
            }
        },
        "invocations": [{"executionSuccessful": not result.io_error}],
        "columnKind": "unicodeCodePoints",
        "results": results,
    }
    return {"$schema": SCHEMA_URI, "version": "2.1.0", "runs": [run]}


def _descriptor(code: str, rule: Rule | None) -> dict[str, Any]:
    if rule is None:  # a code no rule declares: still a valid, if terse, descriptor
        return {"id": code, "shortDescription": {"text": code}}
    tags = ["meshlint", rule.family, *rule.matches]
    properties: dict[str, Any] = {"tags": tags}
    if rule.istio:
        properties["istio"] = rule.istio
    if rule.kiali:
        properties["kiali"] = rule.kiali
    return {
        "id": rule.code,
        "name": rule.name,
        "shortDescription": {"text": _escape(rule.summary)},
        "fullDescription": {
            "text": _escape(_unwrap(rule.rationale)),
            "markdown": _escape(rule.rationale.strip()),
        },
        "help": {"text": _escape(_help_text(rule)), "markdown": _escape(_help_markdown(rule))},
        "defaultConfiguration": {"level": _LEVEL[rule.severity]},
        "properties": properties,
    }


def _help_text(rule: Rule) -> str:
    parts = [rule.summary, _unwrap(rule.rationale)]
    if rule.matches:
        parts.append("Matches: " + ", ".join(rule.matches) + ".")
    for title, example in (("Bad", rule.bad), ("Good", rule.good)):
        if example.strip():
            body = "\n".join(("    " + ln).rstrip() for ln in example.rstrip().splitlines())
            parts.append(f"{title}:\n\n{body}")
    parts.append(f"More: `meshlint explain {rule.code}`")
    return "\n\n".join(parts)


def _help_markdown(rule: Rule) -> str:
    parts = [f"**{rule.code} {rule.name}**: {rule.summary}", rule.rationale.strip()]
    if rule.matches:
        parts.append("Matches: " + ", ".join(f"`{c}`" for c in rule.matches))
    for title, example in (("Bad", rule.bad), ("Good", rule.good)):
        if example.strip():
            parts.append(f"{title}:\n\n```yaml\n{example.rstrip()}\n```")
    parts.append(f"More: `meshlint explain {rule.code}`")
    return "\n\n".join(parts)


def _unwrap(text: str) -> str:
    """Join the wrapped lines of each paragraph: plain-text viewers wrap by themselves."""
    paragraphs = re.split(r"\n\s*\n", text.strip())
    return "\n\n".join(" ".join(ln.strip() for ln in p.splitlines()) for p in paragraphs)


def _escape(text: str) -> str:
    """SARIF message strings write literal braces doubled (``{0}`` would be a placeholder)."""
    return text.replace("{", "{{").replace("}", "}}")


def _uri(file: str, root: Path) -> tuple[str, str | None]:
    """(uri, uriBaseId): relative to ``root`` when the file is inside it, else a file: URI.

    File names are as the user gave them, so relative ones are relative to the current folder.
    """
    full = Path(os.path.abspath(file))
    try:
        rel = full.relative_to(root)
    except ValueError:
        return full.as_uri(), None
    return quote(rel.as_posix(), safe=_URI_SAFE), SRCROOT


def _region(d: Diagnostic, source: Source | None) -> dict[str, int]:
    span = d.span
    if span is None:
        return {"startLine": 1}
    end_line, end_column = span.end_line, span.end_column
    if end_line > span.line and end_column == 1 and source is not None:
        # A block ends where the next line starts: end it at the end of its own last line.
        end_line -= 1
        end_column = len(source.line(end_line)) + 1
        if (end_line, end_column) <= (span.line, span.column):
            end_line, end_column = span.line, span.column + 1
    return {
        "startLine": span.line,
        "startColumn": span.column,
        "endLine": end_line,
        "endColumn": end_column,
    }


def _result(
    d: Diagnostic,
    rule_index: int,
    uri: str,
    base: str | None,
    source: Source | None,
    seen: dict[str, int],
) -> dict[str, Any]:
    artifact: dict[str, Any] = {"uri": uri}
    if base is not None:
        artifact["uriBaseId"] = base
    location: dict[str, Any] = {
        "physicalLocation": {"artifactLocation": artifact, "region": _region(d, source)},
    }
    if d.resource:
        kind, _, rest = d.resource.partition("/")
        namespace, _, name = rest.partition("/")
        logical: dict[str, Any] = {
            "name": d.path or name or d.resource,
            "fullyQualifiedName": f"{d.resource}:{d.path}" if d.path else d.resource,
            "kind": "property" if d.path else "resource",
            "properties": {"kind": kind, "namespace": namespace, "name": name},
        }
        location["logicalLocations"] = [logical]
    # Two identical findings in one file stay two alerts: number repeats, as CodeQL does.
    digest = fingerprint(d, uri)
    seen[digest] = seen.get(digest, 0) + 1
    text = d.message + (f"\n\nFix: {d.fix}" if d.fix else "")
    properties: dict[str, Any] = {"severity": d.severity.label}
    if d.resource:
        properties["resource"] = d.resource
    if d.path:
        properties["path"] = d.path
    if d.fix:
        properties["fix"] = d.fix
    return {
        "ruleId": d.code,
        "ruleIndex": rule_index,
        "level": _LEVEL[d.severity],
        "message": {"text": _escape(text)},
        "locations": [location],
        "partialFingerprints": {FINGERPRINT_KEY: f"{digest}:{seen[digest]}"},
        "properties": properties,
    }
