"""ML3xx: metadata (names, namespaces, labels, annotations) and unrendered template placeholders.

Facts: Kubernetes object naming (RFC 1123 DNS subdomains and labels), label and annotation syntax
(apimachinery ``IsQualifiedName``, ``IsValidLabelValue``, ``ValidateAnnotationsSize``), and Istio's
validating webhook (``ValidateGateway``, ``validateMetadata``, ``checkDryRunAnnotation``).
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from meshlint.diagnostics import FieldPath, Severity
from meshlint.models.registry import ISTIO_GROUPS, NETWORKING
from meshlint.resource import Resource
from meshlint.rules import Finding, rule
from meshlint.rules.lib.placeholders import (
    OPAQUE,
    REGEX,
    SHELL,
    first_placeholder,
    has_placeholder,
    maybe_placeholder,
)

# --------------------------------------------------------------------------------------------
# Name syntax
# --------------------------------------------------------------------------------------------

_LOWER = frozenset("abcdefghijklmnopqrstuvwxyz")
_UPPER = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_DIGITS = frozenset("0123456789")
_LOWER_ALNUM = _LOWER | _DIGITS
_ALNUM = _LOWER_ALNUM | _UPPER

_DNS_SUBDOMAIN_RE = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_DNS_LABEL_RE = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_LABEL_NAME_RE = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")


@dataclass(frozen=True, slots=True)
class _Syntax:
    """One of the Kubernetes identifier grammars, with what it accepts in the user's words."""

    regex: re.Pattern[str]
    max_len: int
    chars: frozenset[str]
    dotted: bool  # '.' separates parts that each start and end with a letter or digit
    lower_only: bool
    accepted: str

    def valid(self, text: str) -> bool:
        return len(text) <= self.max_len and self.regex.fullmatch(text) is not None


SUBDOMAIN = _Syntax(
    _DNS_SUBDOMAIN_RE,
    253,
    _LOWER_ALNUM | frozenset("-."),
    True,
    True,
    "only lower-case letters a-z, digits 0-9, '-' and '.', starting and ending with a letter "
    "or digit, at most 253 characters (an RFC 1123 DNS subdomain)",
)
DNS_LABEL = _Syntax(
    _DNS_LABEL_RE,
    63,
    _LOWER_ALNUM | frozenset("-"),
    False,
    True,
    "only lower-case letters a-z, digits 0-9 and '-', starting and ending with a letter or "
    "digit, at most 63 characters (an RFC 1123 DNS label: no dots)",
)
LABEL_NAME = _Syntax(
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


def _problems(text: str, syn: _Syntax) -> list[str]:
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


def _join(clauses: list[str]) -> str:
    if len(clauses) <= 1:
        return "".join(clauses)
    return ", ".join(clauses[:-1]) + " and " + clauses[-1]


def _suggest(text: str, syn: _Syntax) -> str | None:
    """A valid spelling of ``text`` when a mechanical one exists (case, '_', spaces)."""
    fixed = text.strip().lower().replace("_", "-").replace(" ", "-")
    if not syn.dotted:
        fixed = fixed.replace(".", "-")
    fixed = fixed.strip("-.")
    return fixed if fixed != text and syn.valid(fixed) else None


def _quote_hint(res: Resource, path: FieldPath, key: str, value: Any) -> str:
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


def _unquoted(res: Resource, path: FieldPath, value: Any) -> str:
    """A non-string value as written, and what YAML made of it: "the unquoted `1.10`, …"."""
    raw = _raw_text(res, path)
    if raw is not None and raw != _yaml_text(value):
        if isinstance(value, int) and not isinstance(value, bool):
            # YAML 1.1 readers disagree on 0123 (octal or decimal): do not name the number.
            return f"the unquoted `{raw}`, which YAML reads as a number"
        return f"the unquoted `{raw}`, which YAML reads as {_what(value, plain=True)}"
    return _what(value)


def _what(value: Any, *, plain: bool = False) -> str:
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


# --------------------------------------------------------------------------------------------
# Template placeholders (ML306); other rules skip values that hold one, to report it once.
# --------------------------------------------------------------------------------------------

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


# Most documents hold no placeholder marker at all: their text is tested (a few substring
# searches in C) before their data is walked.
_TEXT_MARKERS = ("{{", "{%", "{#", "$", "<no value>", "%!")


# The last source seen: (source, whether its text holds a marker, where its lines start). One
# tuple, replaced whole, so that concurrent readers never see a mix of two sources.
_last: tuple[Any, bool, list[int] | None] = (None, True, None)


def _may_hold_placeholders(res: Resource) -> bool:
    global _last
    doc = res.doc
    source = doc.source
    cached, marked, starts = _last
    if cached is not source:
        marked = any(m in source.text for m in _TEXT_MARKERS)
        starts = None
        _last = (source, marked, None)
    if not marked:
        return False
    if doc.node is None or doc.item is not None:
        return True  # no span to trust (JSON fallback, List items may use outside anchors)
    text = source.text
    if starts is None:
        starts = [0]
        pos = text.find("\n")
        while pos >= 0:
            starts.append(pos + 1)
            pos = text.find("\n", pos + 1)
        _last = (source, marked, starts)
    span = doc.span
    begin = starts[span.line - 1] if span.line - 1 < len(starts) else len(text)
    end = starts[span.end_line] if span.end_line < len(starts) else len(text)
    part = text[begin:end]
    return any(m in part for m in _TEXT_MARKERS)


# --------------------------------------------------------------------------------------------
# `metadata` written as a string ("name:foo": the space after the colon is missing)
# --------------------------------------------------------------------------------------------

_GLUED_KEY = re.compile(r"(?:^|\s)([A-Za-z_][\w./-]*):(?=\S)")
_GLUED_NAME = re.compile(r"(?:^|\s)name:(\S+)")


def _glued_keys(text: str) -> list[str]:
    """Keys written as ``key:value`` without the space YAML needs, e.g. ['name']."""
    if ":" not in text:
        return []
    return _GLUED_KEY.findall(text)


def _name_in_string_metadata(res: Resource) -> str | None:
    meta = res.data.get("metadata")
    if not isinstance(meta, str) or "name:" not in meta:
        return None
    m = _GLUED_NAME.search(meta)
    return m.group(1) if m else None


def _not_a_mapping(what: str, value: Any, example: str) -> str:
    """Why ``what`` (a field that must be a mapping) is not one, and how to write it."""
    if isinstance(value, str):
        keys = _glued_keys(value)
        if keys:
            after = _join([f"'{k}:'" for k in dict.fromkeys(keys)])
            return (
                f"`{what}` is the string '{value}': a space is missing after {after}, so "
                "YAML reads it as one string instead of a key and a value"
            )
        return f"`{what}` is the string '{value}'; it must be a mapping, e.g. {example}"
    if isinstance(value, list):
        return f"`{what}` is a list; it must be a mapping: remove the `-` in front of its first key"
    return f"`{what}` is {_what(value)}; it must be a mapping, e.g. {example}"


# --------------------------------------------------------------------------------------------
# Examples
# --------------------------------------------------------------------------------------------


def _dr(metadata: str) -> str:
    """A DestinationRule example whose `metadata:` block is ``metadata`` (written unindented)."""
    body = textwrap.indent(textwrap.dedent(metadata).strip("\n"), "  ")
    return (
        "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata:\n"
        f"{body}\nspec:\n  host: reviews\n"
    )


# --------------------------------------------------------------------------------------------
# ML301 missing-name
# --------------------------------------------------------------------------------------------


@rule(
    "ML301",
    "missing-name",
    Severity.ERROR,
    catalogue=("gen-name-missing",),
    summary="The resource has no `metadata.name`.",
    rationale="""
        Every resource needs a name (or a `generateName`, which `kubectl apply` does not
        accept). Without one the API server rejects it.
    """,
    bad=_dr(
        """
        namespace: shop
        """
    ),
    good=_dr(
        """
        name: reviews
        namespace: shop
        """
    ),
)
def missing_name(res: Resource) -> Iterator[Finding]:
    data = res.data
    if "metadata" not in data:
        yield Finding((), "the resource has no `metadata` (and so no name)", key=True)
        return
    meta = data["metadata"]
    if meta is None:
        yield Finding(("metadata",), "`metadata` is empty: the resource has no name", key=True)
        return
    if not isinstance(meta, dict):
        return  # ML307 says what `metadata` is instead
    if "generateName" in meta and "name" not in meta:
        return
    name = meta.get("name")
    if name is None or (isinstance(name, str) and not name.strip()):
        yield Finding(
            ("metadata", "name") if "name" in meta else ("metadata",),
            "`metadata.name` is missing or empty",
            key=True,
        )


# --------------------------------------------------------------------------------------------
# ML302 invalid-name
# --------------------------------------------------------------------------------------------


def _is_istio_gateway(res: Resource) -> bool:
    return res.kind == "Gateway" and res.group == NETWORKING


@rule(
    "ML302",
    "invalid-name",
    Severity.ERROR,
    catalogue=("gen-name-subdomain", "gen-name-label", "gw-name-label"),
    summary="`metadata.name` is not a valid Kubernetes object name.",
    rationale="""
        The API server accepts only RFC 1123 DNS subdomains as names of custom resources: at
        most 253 characters of lower-case letters, digits, `-` and `.`, starting and ending with
        a letter or digit. Upper case, `_`, spaces and non-ASCII characters (a name written in
        Chinese, say) are rejected. Istio's webhook is stricter for networking.istio.io
        Gateways: their names must be DNS labels (at most 63 characters, no dots), because
        routes refer to them as `namespace/name`. A name that is not a string (`name: 2024`) is
        rejected too: quote it.
    """,
    bad=_dr(
        """
        name: Reviews_V1
        """
    ),
    good=_dr(
        """
        name: reviews-v1
        """
    ),
)
def invalid_name(res: Resource) -> Iterator[Finding]:
    meta = res.data.get("metadata")
    path: FieldPath = ("metadata", "name")
    intro = ""
    if isinstance(meta, dict):
        if "name" not in meta:
            return
        name = meta["name"]
    else:
        glued = _name_in_string_metadata(res)
        if glued is None:
            return
        name, path = glued, ("metadata",)
        intro = f" (written as `name:{glued}` under `metadata`, without the space after ':')"
    if name is None or name == "":
        return  # ML301
    if not isinstance(name, str):
        if isinstance(name, (bool, int, float)):
            yield Finding(
                path,
                f"`metadata.name` is {_unquoted(res, path, name)}: a name must "
                f"be a string; quote it, {_quote_hint(res, path, 'name', name)}",
            )
        else:
            yield Finding(path, f"`metadata.name` is {_what(name)}; it must be a string")
        return
    if has_placeholder(name):
        return  # ML306
    gateway = _is_istio_gateway(res)
    syn = DNS_LABEL if gateway else SUBDOMAIN
    if syn.valid(name):
        return
    if gateway and SUBDOMAIN.valid(name):
        accepted = (
            "Istio's webhook requires a Gateway name to be a DNS label: " + DNS_LABEL.accepted
        )
    elif gateway:
        accepted = "A Gateway name may use " + DNS_LABEL.accepted
    else:
        accepted = "A name may use " + SUBDOMAIN.accepted
    suggestion = _suggest(name, syn)
    message = (
        f"the name `{name}`{intro} is not valid: it {_join(_problems(name, syn))}. {accepted}."
    )
    if suggestion:
        message += f" Use `{suggestion}`, for example."
    yield Finding(path, message, fix=f"name: {suggestion}" if suggestion else None)


# --------------------------------------------------------------------------------------------
# ML303 invalid-namespace
# --------------------------------------------------------------------------------------------


@rule(
    "ML303",
    "invalid-namespace",
    Severity.ERROR,
    catalogue=("gen-ns-label",),
    summary="`metadata.namespace` is not a valid namespace name.",
    rationale="""
        Namespace names are RFC 1123 DNS labels: at most 63 characters of lower-case letters,
        digits and `-`, starting and ending with a letter or digit; no dots, no `_`, no upper
        case. The API server rejects an object whose namespace is not one, and such a
        namespace cannot exist, so the object could never be found either.
    """,
    bad=_dr(
        """
        name: reviews
        namespace: Shop_Prod
        """
    ),
    good=_dr(
        """
        name: reviews
        namespace: shop-prod
        """
    ),
)
def invalid_namespace(res: Resource) -> Iterator[Finding]:
    meta = res.data.get("metadata")
    if not isinstance(meta, dict) or "namespace" not in meta:
        return
    ns = meta["namespace"]
    path: FieldPath = ("metadata", "namespace")
    if ns is None or ns == "":
        return  # the namespace of the kubectl context
    if not isinstance(ns, str):
        if isinstance(ns, (bool, int, float)):
            yield Finding(
                path,
                f"`metadata.namespace` is {_unquoted(res, path, ns)}: a "
                "namespace must be a string; quote it, "
                f"{_quote_hint(res, path, 'namespace', ns)}",
            )
        else:
            yield Finding(path, f"`metadata.namespace` is {_what(ns)}; it must be a string")
        return
    if DNS_LABEL.valid(ns) or has_placeholder(ns):
        return
    suggestion = _suggest(ns, DNS_LABEL)
    message = (
        f"the namespace `{ns}` is not valid: it {_join(_problems(ns, DNS_LABEL))}. "
        f"A namespace may use {DNS_LABEL.accepted}."
    )
    if suggestion:
        message += f" Use `{suggestion}`, for example."
    yield Finding(path, message, fix=f"namespace: {suggestion}" if suggestion else None)


# --------------------------------------------------------------------------------------------
# Label and annotation keys (shared by ML304 and ML305)
# --------------------------------------------------------------------------------------------

_KEY_ACCEPTED = (
    "A key is a name of " + LABEL_NAME.accepted + ", optionally after a prefix and '/' (the "
    "prefix is a DNS subdomain such as `app.example.com`, at most 253 characters)"
)


def _key_problems(key: str) -> list[str]:
    if not key:
        return ["is empty"]
    if "/" not in key:
        return [] if LABEL_NAME.valid(key) else _problems(key, LABEL_NAME)
    prefix, _, name = key.partition("/")
    out: list[str] = []
    if "/" in name:
        out.append("has more than one `/`")
        name = name.replace("/", "")
    if not prefix:
        out.append("has nothing before the `/`")
    elif not SUBDOMAIN.valid(prefix):
        out.append(f"has a prefix `{prefix}` that {_join(_problems(prefix, SUBDOMAIN))}")
    if not name:
        out.append("has nothing after the `/`")
    elif not LABEL_NAME.valid(name):
        out.append(f"has a name part `{name}` that {_join(_problems(name, LABEL_NAME))}")
    return out


def _string_map_problem(path: FieldPath, value: Any) -> Finding | None:
    """A finding when the labels or annotations at ``path`` are not a mapping (null is fine)."""
    if value is None or isinstance(value, dict):
        return None
    if isinstance(value, str) and has_placeholder(value):
        return None  # ML306
    example = f"`app: reviews` on the line after `{path[-1]}:`, indented"
    return Finding(path, _not_a_mapping(".".join(map(str, path)), value, example))


# --------------------------------------------------------------------------------------------
# ML304 invalid-label
# --------------------------------------------------------------------------------------------

_LABEL_MAPS: tuple[FieldPath, ...] = (
    ("metadata", "labels"),
    ("spec", "template", "metadata", "labels"),
    ("spec", "selector", "matchLabels"),
    ("spec", "jobTemplate", "spec", "template", "metadata", "labels"),
)


def _get(data: Any, path: FieldPath) -> tuple[bool, Any]:
    for elem in path:
        if not isinstance(data, dict) or elem not in data:
            return False, None
        data = data[elem]
    return True, data


@rule(
    "ML304",
    "invalid-label",
    Severity.ERROR,
    catalogue=(
        "gen-labels",
        "g-label-key",
        "g-label-value",
        "g-sel-empty-key",
        "g-sel-wildcard",
        "pa-sel-empty-key",
        "pa-sel-wildcard",
        "ra-sel-empty-key",
        "ra-sel-wildcard",
        "ap-sel-empty-key",
        "ap-sel-wildcard",
        "tm-sel-empty-key",
        "tm-sel-wildcard",
    ),
    summary="A label key or value is not valid for Kubernetes.",
    rationale="""
        Label keys are an optional DNS-subdomain prefix (at most 253 characters) and `/`,
        then a name of at most 63 letters, digits, `-`, `_` and `.` that starts and ends with a
        letter or digit. Values follow the same rule for the name part, or are empty. Values
        must be strings: YAML reads `version: 1` as a number, `version: 1.10` as the number 1.1
        and `canary: true` as a boolean, and the API server rejects them. Quote them. This is
        checked in `metadata.labels`, in pod-template labels of workloads
        (`spec.template.metadata.labels`) and in `spec.selector.matchLabels`.
    """,
    bad=_dr(
        """
        name: reviews
        labels:
          app: reviews
          version: 1.10
        """
    ),
    good=_dr(
        """
        name: reviews
        labels:
          app: reviews
          version: "1.10"
        """
    ),
)
def invalid_label(res: Resource) -> Iterator[Finding]:
    data = res.data
    for where in _LABEL_MAPS:
        present, labels = _get(data, where)
        if not present:
            continue
        if not isinstance(labels, dict):
            problem = _string_map_problem(where, labels)
            if problem is not None:
                yield problem
            continue
        selector = where[-1] == "matchLabels"
        for key, value in labels.items():
            path = (*where, key)
            problems = _key_problems(key)
            if problems and not has_placeholder(key):
                yield Finding(
                    path,
                    f"label key `{key}` is not valid: it {_join(problems)}. "
                    f"{_KEY_ACCEPTED}.{_wildcard_hint(key, selector)}",
                    key=True,
                )
            yield from _label_value(res, path, key, value, selector)


def _wildcard_hint(text: str, selector: bool) -> str:
    if selector and "*" in text:
        return " Selectors match labels exactly: `*` is not a wildcard."
    return ""


def _label_value(
    res: Resource, path: FieldPath, key: str, value: Any, selector: bool
) -> Iterator[Finding]:
    if isinstance(value, str):
        if value == "" or LABEL_NAME.valid(value) or has_placeholder(value):
            return
        yield Finding(
            path,
            f"label `{key}` has the value `{value}`, which is not valid: it "
            f"{_join(_problems(value, LABEL_NAME))}. A label value is empty or "
            f"uses {LABEL_NAME.accepted}.{_wildcard_hint(value, selector)}",
        )
    elif value is None:
        yield Finding(
            path,
            f'label `{key}` has no value (null): write one, or `""` for an empty value',
            severity=Severity.WARNING,
        )
    elif isinstance(value, (bool, int, float)):
        yield Finding(
            path,
            f"the value of label `{key}` is {_unquoted(res, path, value)}: "
            "label values must be strings; quote it, "
            f"{_quote_hint(res, path, key, value)}",
        )
    else:
        yield Finding(
            path, f"the value of label `{key}` is {_what(value)}: label values must be strings"
        )


# --------------------------------------------------------------------------------------------
# ML305 invalid-annotation
# --------------------------------------------------------------------------------------------

_ANNOTATION_MAPS: tuple[FieldPath, ...] = (
    ("metadata", "annotations"),
    ("spec", "template", "metadata", "annotations"),
)
ANNOTATIONS_LIMIT = 256 * 1024  # bytes of keys and values together (apimachinery)


@rule(
    "ML305",
    "invalid-annotation",
    Severity.ERROR,
    summary="An annotation key is not valid, a value is not a string, or they are too large.",
    rationale="""
        Annotation keys follow the label key syntax: an optional DNS-subdomain prefix and `/`,
        then a name of at most 63 letters, digits, `-`, `_` and `.`. Values may be any text but
        must be strings: `sidecar.istio.io/inject: true` unquoted is a boolean, and the API
        server rejects the whole object. All keys and values of one object together may not
        exceed 256 KiB. This is checked in `metadata.annotations` and in the pod-template
        annotations of workloads (`spec.template.metadata.annotations`), where Istio's
        injection annotations usually go.
    """,
    bad="""
        apiVersion: v1
        kind: Pod
        metadata:
          name: reviews
          annotations:
            sidecar.istio.io/inject: true
        spec:
          containers:
          - name: reviews
            image: docker.io/istio/examples-bookinfo-reviews-v1:1.20.3
    """,
    good="""
        apiVersion: v1
        kind: Pod
        metadata:
          name: reviews
          annotations:
            sidecar.istio.io/inject: "true"
        spec:
          containers:
          - name: reviews
            image: docker.io/istio/examples-bookinfo-reviews-v1:1.20.3
    """,
)
def invalid_annotation(res: Resource) -> Iterator[Finding]:
    data = res.data
    for where in _ANNOTATION_MAPS:
        present, annotations = _get(data, where)
        if not present:
            continue
        if not isinstance(annotations, dict):
            problem = _string_map_problem(where, annotations)
            if problem is not None:
                yield problem
            continue
        size = 0
        for key, value in annotations.items():
            path = (*where, key)
            size += len(key) if key.isascii() else len(key.encode())
            problems = _key_problems(key)
            if problems and not has_placeholder(key):
                yield Finding(
                    path,
                    f"annotation key `{key}` is not valid: it {_join(problems)}. {_KEY_ACCEPTED}.",
                    key=True,
                )
            if isinstance(value, str):
                size += len(value) if value.isascii() else len(value.encode())
            elif value is None:
                yield Finding(
                    path,
                    f"annotation `{key}` has no value (null): write one, or "
                    '`""` for an empty value',
                    severity=Severity.WARNING,
                )
            elif isinstance(value, (bool, int, float)):
                yield Finding(
                    path,
                    f"the value of annotation `{key}` is "
                    f"{_unquoted(res, path, value)}: annotation values must be "
                    f"strings; quote it, {_quote_hint(res, path, key, value)}",
                )
            else:
                yield Finding(
                    path,
                    f"the value of annotation `{key}` is {_what(value)}: "
                    "annotation values must be strings (write it as text, "
                    "e.g. JSON in a quoted string)",
                )
        if size > ANNOTATIONS_LIMIT:
            yield Finding(
                where,
                f"the annotations here total {size:,} bytes; Kubernetes "
                f"accepts at most {ANNOTATIONS_LIMIT:,} (256 KiB) per object. "
                "Move large data to a ConfigMap; if it is kubectl's "
                "last-applied-configuration, use `kubectl apply --server-side`",
                key=True,
            )


# --------------------------------------------------------------------------------------------
# ML306 template-placeholder
# --------------------------------------------------------------------------------------------


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
                host: "{{ .Values.reviews.host }}"
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
def template_placeholder(res: Resource) -> Iterator[Finding]:
    if not _may_hold_placeholders(res):
        return
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
    yield from out


# --------------------------------------------------------------------------------------------
# ML307 metadata-not-a-mapping
# --------------------------------------------------------------------------------------------


@rule(
    "ML307",
    "metadata-not-a-mapping",
    Severity.ERROR,
    summary="`metadata` is not a mapping.",
    rationale="""
        `metadata` holds `name`, `namespace`, `labels` and `annotations` as keys. A common slip
        is `name:reviews` without a space after the colon: YAML then reads the whole line as
        one string, so `metadata` becomes the string "name:reviews" and the resource has no
        name at all. A list (`- name: reviews`) or a bare value is just as wrong, and the API
        server rejects the object.
    """,
    bad=_dr(
        """
        name:reviews
        """
    ),
    good=_dr(
        """
        name: reviews
        """
    ),
)
def metadata_not_a_mapping(res: Resource) -> Iterator[Finding]:
    meta = res.data.get("metadata")
    if meta is None or isinstance(meta, dict):
        return  # absent or empty: ML301
    if isinstance(meta, str) and has_placeholder(meta):
        return  # ML306
    fix = None
    if isinstance(meta, str) and _glued_keys(meta):
        fix = _GLUED_KEY.sub(lambda m: m.group(0) + " ", meta)
    yield Finding(
        ("metadata",),
        _not_a_mapping("metadata", meta, "`name: reviews` on the line after `metadata:`, indented"),
        fix=fix,
    )


# --------------------------------------------------------------------------------------------
# ML308..ML311: annotations that Istio's validating webhook rejects
# --------------------------------------------------------------------------------------------

DRY_RUN = "istio.io/dry-run"
ALWAYS_REJECT = "internal.istio.io/webhook-always-reject"
PARENT_NAMESPACE = "internal.istio.io/parent-namespace"
PARENTS = "internal.istio.io/parents"
_GO_BOOLS = frozenset(
    {"1", "t", "T", "TRUE", "true", "True", "0", "f", "F", "FALSE", "false", "False"}
)


def _istio_annotations(res: Resource) -> dict[str, Any] | None:
    """The annotations of a kind that Istio's webhook validates, if any."""
    if res.group not in ISTIO_GROUPS:
        return None
    annotations = res.metadata.get("annotations")
    return annotations if isinstance(annotations, dict) and annotations else None


def _ap(annotation: str) -> str:
    """An AuthorizationPolicy example (action DENY) with one annotation."""
    return f"""apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: deny-admin
  namespace: shop
  annotations:
    {annotation}
spec:
  action: DENY
  rules:
  - to:
    - operation:
        paths: ["/admin*"]
"""


@rule(
    "ML308",
    "dry-run-unsupported-kind",
    Severity.ERROR,
    catalogue=("gen-anno-dryrun-kind", "ap-dryrun"),
    summary="The `istio.io/dry-run` annotation is set on a kind other than AuthorizationPolicy.",
    rationale="""
        Only AuthorizationPolicy supports dry-run (the policy is evaluated and logged but not
        enforced). Istio's webhook rejects the annotation on every other Istio kind, asking to
        remove it.
    """,
    bad="""
        apiVersion: security.istio.io/v1
        kind: PeerAuthentication
        metadata:
          name: default
          namespace: shop
          annotations:
            istio.io/dry-run: "true"
        spec:
          mtls:
            mode: STRICT
    """,
    good="""
        apiVersion: security.istio.io/v1
        kind: PeerAuthentication
        metadata:
          name: default
          namespace: shop
        spec:
          mtls:
            mode: STRICT
    """,
    istio="IST0106",
)
def dry_run_unsupported_kind(res: Resource) -> Iterator[Finding]:
    annotations = _istio_annotations(res)
    if annotations is None or DRY_RUN not in annotations:
        return
    if res.kind == "AuthorizationPolicy" and res.group == "security.istio.io":
        return
    yield Finding(
        ("metadata", "annotations", DRY_RUN),
        f"`{DRY_RUN}` is supported only on AuthorizationPolicy; Istio rejects it on a "
        f"{res.kind}: remove the annotation",
        key=True,
    )


@rule(
    "ML309",
    "dry-run-invalid-value",
    Severity.ERROR,
    catalogue=("gen-anno-dryrun-value",),
    summary="The `istio.io/dry-run` annotation is not a boolean.",
    rationale="""
        Istio parses the value with Go's `strconv.ParseBool`, which accepts only `true`,
        `false`, `1`, `0`, `t`, `f` and their upper-case and title-case forms. `yes`, `on` or
        `enabled` are rejected by the webhook.
    """,
    bad=_ap('istio.io/dry-run: "yes"'),
    good=_ap('istio.io/dry-run: "true"'),
    istio="IST0106",
)
def dry_run_invalid_value(res: Resource) -> Iterator[Finding]:
    if res.kind != "AuthorizationPolicy":
        return
    annotations = _istio_annotations(res)
    if annotations is None:
        return
    value = annotations.get(DRY_RUN)
    if not isinstance(value, str) or value in _GO_BOOLS or has_placeholder(value):
        return  # absent, or not a string (ML305)
    guess = {
        "yes": "true",
        "y": "true",
        "on": "true",
        "no": "false",
        "n": "false",
        "off": "false",
    }.get(value.strip().lower())
    yield Finding(
        ("metadata", "annotations", DRY_RUN),
        f'`{DRY_RUN}: "{value}"` is not a boolean; Istio accepts "true" or '
        '"false" (also 1, 0, t, f)',
        fix=f'{DRY_RUN}: "{guess}"' if guess else None,
    )


@rule(
    "ML310",
    "dry-run-unsupported-action",
    Severity.ERROR,
    catalogue=("gen-anno-dryrun-action",),
    summary="`istio.io/dry-run` is set on an AuthorizationPolicy whose action is not ALLOW or DENY.",
    rationale="""
        Dry-run works only for ALLOW and DENY policies. Istio's webhook rejects the annotation
        on AUDIT and CUSTOM policies.
    """,
    bad="""
        apiVersion: security.istio.io/v1
        kind: AuthorizationPolicy
        metadata:
          name: audit-admin
          namespace: shop
          annotations:
            istio.io/dry-run: "true"
        spec:
          action: AUDIT
          rules:
          - to:
            - operation:
                paths: ["/admin*"]
    """,
    good=_ap('istio.io/dry-run: "true"'),
    istio="IST0106",
)
def dry_run_unsupported_action(res: Resource) -> Iterator[Finding]:
    if res.kind != "AuthorizationPolicy":
        return
    annotations = _istio_annotations(res)
    if annotations is None or DRY_RUN not in annotations:
        return
    spec = res.spec
    action = spec.get("action") if isinstance(spec, dict) else None
    if action in ("AUDIT", "CUSTOM"):
        yield Finding(
            ("spec", "action"),
            f"`{DRY_RUN}` works only with action ALLOW or DENY; Istio rejects it on a "
            f"policy with action {action}: remove the annotation or change the action",
        )


@rule(
    "ML311",
    "internal-istio-annotation",
    Severity.ERROR,
    catalogue=("gen-anno-reject", "gen-anno-internal-parent"),
    summary="An annotation reserved for Istio's own use is set by hand.",
    rationale="""
        Istio's webhook rejects any object with `internal.istio.io/webhook-always-reject` (it
        uses that annotation to test that validation is running), and, as a guard against
        privilege escalation, any object that sets `internal.istio.io/parent-namespace` or
        `internal.istio.io/parents`, which only Istio's own Gateway API translation may write.
        They often come from copying the output of `kubectl get -o yaml`.
    """,
    bad="""
        apiVersion: networking.istio.io/v1
        kind: Gateway
        metadata:
          name: shop-gateway
          namespace: shop
          annotations:
            internal.istio.io/parents: Gateway/shop/shop
        spec:
          selector:
            istio: ingressgateway
          servers:
          - port:
              number: 80
              name: http
              protocol: HTTP
            hosts: ["shop/shop.example.com"]
    """,
    good="""
        apiVersion: networking.istio.io/v1
        kind: Gateway
        metadata:
          name: shop-gateway
          namespace: shop
        spec:
          selector:
            istio: ingressgateway
          servers:
          - port:
              number: 80
              name: http
              protocol: HTTP
            hosts: ["shop/shop.example.com"]
    """,
    istio="IST0106",
)
def internal_istio_annotation(res: Resource) -> Iterator[Finding]:
    annotations = _istio_annotations(res)
    if annotations is None:
        return
    for key in (ALWAYS_REJECT, PARENT_NAMESPACE, PARENTS):
        if key not in annotations:
            continue
        why = (
            "Istio uses it to check that validation is running, and rejects every object "
            "that has it"
            if key == ALWAYS_REJECT
            else "only Istio's own translation may set it, and the webhook rejects an object "
            "that has it"
        )
        yield Finding(
            ("metadata", "annotations", key), f"`{key}` is reserved: {why}; remove it", key=True
        )
