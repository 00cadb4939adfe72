"""AuthorizationPolicy: the walk over its rules, sources and operations, and the grammars of the
values Istio's webhook checks in them.

Facts: istio/istio ``pkg/config/security/security.go`` (``ValidatePorts``,
``CheckServiceAccount``, ``CheckTrustDomainValues``, ``CheckWildcardValues``,
``CheckValidPathTemplate``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from meshlint.resource import Resource

# The fields of a rule's `from[].source` and `to[].operation`, each followed by its `not` form.
SOURCE_FIELDS = (
    "principals",
    "notPrincipals",
    "requestPrincipals",
    "notRequestPrincipals",
    "namespaces",
    "notNamespaces",
    "ipBlocks",
    "notIpBlocks",
    "remoteIpBlocks",
    "notRemoteIpBlocks",
    "serviceAccounts",
    "notServiceAccounts",
    "trustDomains",
    "notTrustDomains",
)
OPERATION_FIELDS = (
    "hosts",
    "notHosts",
    "ports",
    "notPorts",
    "methods",
    "notMethods",
    "paths",
    "notPaths",
)


def policy_rules(spec: dict[str, Any]) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(index, rule)`` for the mapping entries of ``spec.rules``."""
    rules = spec.get("rules")
    if isinstance(rules, list):
        for i, item in enumerate(rules):
            if isinstance(item, dict):
                yield i, item


def rules_of(res: Resource) -> list[tuple[int, dict[str, Any]]]:
    """:func:`policy_rules` of the resource's spec (none when it is not a mapping), read once per
    resource."""
    spec = res.spec_map
    return res.memo(rules_of, lambda: list(policy_rules(spec)) if spec is not None else [])


def entries(ap_rule: dict[str, Any], key: str, inner: str) -> Iterator[tuple[int, Any]]:
    """``(index, rule[key][index][inner])`` for the mapping entries of ``from`` or ``to``."""
    items = ap_rule.get(key)
    if isinstance(items, list):
        for j, item in enumerate(items):
            if isinstance(item, dict):
                yield j, item.get(inner)


def strings(obj: dict[str, Any], key: str) -> Iterator[tuple[int, str]]:
    """``(index, value)`` for the string values of the list ``obj[key]``."""
    values = obj.get(key)
    if isinstance(values, list):
        for n, value in enumerate(values):
            if isinstance(value, str):
                yield n, value


def nonempty(obj: dict[str, Any], key: str) -> bool:
    """``obj[key]`` is a list with at least one entry."""
    value = obj.get(key)
    return isinstance(value, list) and len(value) > 0


def wildcard_problem(value: str, what: str) -> str | None:
    """At most one ``*``, at the start or the end (``CheckWildcardValues``)."""
    count = value.count("*")
    if count > 1:
        return f"{what} '{value}' has more than one '*': use one, at the start or the end"
    if count == 1 and value != "*" and value[0] != "*" and value[-1] != "*":
        return f"{what} '{value}' has a '*' in the middle: use it only at the start or the end"
    return None


def trust_domain_problem(value: str) -> str | None:
    """A trust domain of a source (``CheckTrustDomainValues``): wildcards at the ends, no ``/``."""
    problem = wildcard_problem(value, "trust domain")
    if problem is None and "/" in value:
        return (
            f"trust domain '{value}' contains '/': give the trust domain only, e.g. cluster.local"
        )
    return problem


def service_account_problem(value: str) -> str | None:
    """``name`` or ``namespace/name``, without wildcards (``CheckServiceAccount``)."""
    if "*" in value:
        return f"service account '{value}' has a '*': wildcards are not allowed here"
    ns, slash, sa = value.partition("/")
    if "/" in sa or (slash and (not ns or not sa)):
        return f"'{value}' is not a service account: write name or namespace/name"
    return None


def port_problem(value: str) -> str | None:
    """A decimal port number from 0 to 65535 (``ValidatePorts``)."""
    if value.isascii() and value.isdigit() and int(value) <= 65535:
        return None
    return f"'{value}' is not a port: use a number from 0 to 65535"


_PCHAR = re.compile(r"[a-zA-Z0-9\-._~%!$&'()+,;:@=]+")


def path_template_problem(path: str) -> str | None:
    """A path Istio can translate (``CheckValidPathTemplate``): ``{*}`` and ``{**}`` as whole
    segments, ``{**}`` last, and URL path characters in the other segments of a template."""
    if "{" not in path and "}" not in path:
        return None  # no template, and no brace out of place
    template = "{*}" in path or "{**}" in path
    seen_any = False
    for glob in path.strip("/").split("/"):
        if glob in ("{*}", "{**}"):
            if seen_any:
                return f"path '{path}': {{**}} must be the last operator of a path template"
            seen_any = glob == "{**}"
            continue
        if "{" in glob or "}" in glob:
            return (
                f"path '{path}': '{{' and '}}' are only allowed as a whole {{*}} or {{**}} segment"
            )
        if template and not _PCHAR.fullmatch(glob):
            return (
                f"path '{path}': segment '{glob}' of a path template may only use letters, "
                "digits and - . _ ~ % ! $ & ' ( ) + , ; : @ ="
            )
    return None
