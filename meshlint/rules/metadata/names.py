"""What identifies a resource: `metadata` itself, its name and its namespace (ML301-ML303,
ML307).

Facts: Kubernetes object naming (RFC 1123 DNS subdomains and labels) and Istio's validating
webhook (``ValidateGateway``: Gateway names are DNS labels).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

from meshlint.diagnostics import FieldPath, Severity
from meshlint.models.registry import NETWORKING
from meshlint.resource import Resource
from meshlint.rules import Finding, rule
from meshlint.rules.lib.metadata import (
    DNS_LABEL,
    GLUED_KEY,
    SUBDOMAIN,
    describe,
    glued_keys,
    joined,
    not_a_mapping,
    problems,
    quote_hint,
    suggest_name,
    unquoted,
)
from meshlint.rules.lib.placeholders import has_placeholder

# The DNS labels found valid (see Syntax.known): most names and namespaces are labels.
_LABELS_KNOWN = DNS_LABEL.known

_GLUED_NAME = re.compile(r"(?:^|\s)name:(\S+)")


def _name_in_string_metadata(res: Resource) -> str | None:
    meta = res.data.get("metadata")
    if not isinstance(meta, str) or "name:" not in meta:
        return None
    m = _GLUED_NAME.search(meta)
    return m.group(1) if m else None


def _glued_invalid_name(res: Resource) -> bool:
    """Whether `metadata` is a string such as `name:Reviews_V1` whose name ML302 reports as
    not valid (its message also says the space is missing, and its fix adds it)."""
    name = _name_in_string_metadata(res)
    if not name or has_placeholder(name):
        return False
    syntax = DNS_LABEL if _is_istio_gateway(res) else SUBDOMAIN
    return not syntax.valid(name)


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
    bad="""
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata:  # expect: ML301@1 metadata
          namespace: shop
        spec:
          host: reviews
    """,
    good="""
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata:
          name: reviews
          namespace: shop
        spec:
          host: reviews
    """,
)
def missing_name(res: Resource) -> Iterable[Finding]:
    if res.name.strip():
        return ()  # a `metadata` mapping with a name that is a string, not blank
    return _missing_name(res)


def _missing_name(res: Resource) -> Iterator[Finding]:
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
    bad="""
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata:
          name: Reviews_V1  # expect: ML302@9 metadata.name
        spec:
          host: reviews
    """,
    good="""
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata:
          name: reviews-v1
        spec:
          host: reviews
    """,
)
def invalid_name(res: Resource) -> Iterable[Finding]:
    name = res.name
    if name and (name in _LABELS_KNOWN or DNS_LABEL.valid(name)):
        return ()  # a DNS label is a valid name of every kind
    return _invalid_name(res)


def _invalid_name(res: Resource) -> Iterator[Finding]:
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
                f"`metadata.name` is {unquoted(res, path, name)}: a name must "
                f"be a string; quote it, {quote_hint(res, path, 'name', name)}",
            )
        else:
            yield Finding(path, f"`metadata.name` is {describe(name)}; it must be a string")
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
    suggestion = suggest_name(name, syn)
    message = (
        f"the name `{name}`{intro} is not valid: it {joined(problems(name, syn))}. {accepted}."
    )
    if suggestion:
        message += f" Use `{suggestion}`, for example."
    yield Finding(path, message, fix=f"name: {suggestion}" if suggestion else None)


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
    bad="""
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata:
          name: reviews
          namespace: Shop_Prod  # expect: ML303@14 metadata.namespace
        spec:
          host: reviews
    """,
    good="""
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata:
          name: reviews
          namespace: shop-prod
        spec:
          host: reviews
    """,
)
def invalid_namespace(res: Resource) -> Iterable[Finding]:
    ns = res.namespace  # None when it is not a string, or empty
    if ns is not None and (ns in _LABELS_KNOWN or DNS_LABEL.valid(ns)):
        return ()
    return _invalid_namespace(res)


def _invalid_namespace(res: Resource) -> Iterator[Finding]:
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
                f"`metadata.namespace` is {unquoted(res, path, ns)}: a "
                "namespace must be a string; quote it, "
                f"{quote_hint(res, path, 'namespace', ns)}",
            )
        else:
            yield Finding(path, f"`metadata.namespace` is {describe(ns)}; it must be a string")
        return
    if DNS_LABEL.valid(ns) or has_placeholder(ns):
        return
    suggestion = suggest_name(ns, DNS_LABEL)
    message = (
        f"the namespace `{ns}` is not valid: it {joined(problems(ns, DNS_LABEL))}. "
        f"A namespace may use {DNS_LABEL.accepted}."
    )
    if suggestion:
        message += f" Use `{suggestion}`, for example."
    yield Finding(path, message, fix=f"namespace: {suggestion}" if suggestion else None)


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
        server rejects the object. When the name glued that way is not a valid name either
        (`name:Reviews_V1`), ML302 reports both at once, and this rule stays silent: adding
        the space alone would not make the resource valid.
    """,
    bad="""
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata:
          name:reviews  # expect: ML307@3 metadata
        spec:
          host: reviews
    """,
    good="""
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata:
          name: reviews
        spec:
          host: reviews
    """,
)
def metadata_not_a_mapping(res: Resource) -> Iterable[Finding]:
    if res.name:
        return ()  # a mapping with a name
    meta = res.data.get("metadata")
    if meta is None or isinstance(meta, dict):
        return ()  # absent or empty: ML301
    return _metadata_not_a_mapping(res, meta)


def _metadata_not_a_mapping(res: Resource, meta: Any) -> Iterator[Finding]:
    if isinstance(meta, str) and has_placeholder(meta):
        return  # ML306
    if _glued_invalid_name(res):
        return  # ML302 says both: the missing space, and the name that is not valid
    fix = None
    if isinstance(meta, str) and glued_keys(meta):
        fix = GLUED_KEY.sub(lambda m: m.group(0) + " ", meta)
    yield Finding(
        ("metadata",),
        not_a_mapping("metadata", meta, "`name: reviews` on the line after `metadata:`, indented"),
        fix=fix,
    )
