"""The values of an AuthorizationPolicy's sources and operations that Istio's webhook rejects.

Facts: istio/istio ``pkg/config/security/security.go`` (``ValidateIPs``, ``ValidatePorts``,
``CheckEmptyValues``, ``CheckServiceAccount``, ``CheckTrustDomainValues``,
``CheckValidPathTemplate``). Lengths and list sizes are the schema stage's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from meshlint.diagnostics import Severity
from meshlint.resource import Resource
from meshlint.rules import Finding, rule
from meshlint.rules.lib.authz import (
    OPERATION_FIELDS,
    SOURCE_FIELDS,
    entries,
    path_template_problem,
    port_problem,
    rules_of,
    service_account_problem,
    trust_domain_problem,
)
from meshlint.rules.lib.grammar import check_cidr

_S = "webhook: pkg/config/security/security.go"
_KIND = {"AuthorizationPolicy"}
_IP_FIELDS = ("ipBlocks", "notIpBlocks", "remoteIpBlocks", "notRemoteIpBlocks")


_SOURCE_ORDER = {field: rank for rank, field in enumerate(SOURCE_FIELDS)}
_OPERATION_ORDER = {field: rank for rank, field in enumerate(OPERATION_FIELDS)}
# What judges a value of a source field beyond its being empty: for the others, nothing.
_SOURCE_CHECKS: dict[str, Callable[[str], str | None]] = {
    **dict.fromkeys(_IP_FIELDS, check_cidr),
    **dict.fromkeys(("serviceAccounts", "notServiceAccounts"), service_account_problem),
    **dict.fromkeys(("trustDomains", "notTrustDomains"), trust_domain_problem),
}
_OPERATION_CHECKS: dict[str, Callable[[str], str | None]] = {
    **dict.fromkeys(("ports", "notPorts"), port_problem),
    **dict.fromkeys(("paths", "notPaths"), path_template_problem),
}


def _value_problems(
    obj: dict[str, Any], order: dict[str, int], checks: dict[str, Callable[[str], str | None]]
) -> list[tuple[int, str, int, str]]:
    """``(rank, field, index, problem)`` for the empty strings, and the values their field's
    check rejects, of the lists of a source or operation, in the order of the fields (their
    ``order``, read from the fields written)."""
    found: list[tuple[int, str, int, str]] = []
    for field, values in obj.items():
        if not isinstance(values, list) or field not in order:
            continue
        check = checks.get(field)
        if check is None and "" not in values:
            continue
        for n, value in enumerate(values):
            if not isinstance(value, str):
                continue
            if value == "":
                problem: str | None = f"an empty string in {field} is not allowed"
            else:
                problem = check(value) if check is not None else None
            if problem:
                found.append((order[field], field, n, problem))
    if len(found) > 1:
        found.sort()
    return found


@rule(
    "ML767",
    "authz-source-value",
    Severity.ERROR,
    summary="A value of a rule's source is empty or malformed (IP block, service account, trust domain).",
    rationale="""
        Istio's webhook rejects empty strings in every list of a source, IP blocks that are
        neither an IP address nor a CIDR block, service accounts that contain `*` or are not
        `name` or `namespace/name`, and trust domains with more than one `*`, a `*` in the
        middle, or a `/`.
    """,
    bad="""
        apiVersion: security.istio.io/v1
        kind: AuthorizationPolicy
        metadata:
          name: cart
          namespace: shop
        spec:
          selector:
            matchLabels:
              app: cart
          action: ALLOW
          rules:
          - from:
            - source:
                ipBlocks: [10.0.0.0/33]  # expect: ML767@20 spec.rules[0].from[0].source.ipBlocks[0]
    """,
    good="""
        apiVersion: security.istio.io/v1
        kind: AuthorizationPolicy
        metadata:
          name: cart
          namespace: shop
        spec:
          selector:
            matchLabels:
              app: cart
          action: ALLOW
          rules:
          - from:
            - source:
                ipBlocks: [10.0.0.0/16]
    """,
    kinds=_KIND,
    istio="IST0106",
    source=f"{_S} (ValidateIPs, CheckEmptyValues, CheckServiceAccount, CheckTrustDomainValues) — "
    "'bad CIDR range', 'bad IP address', 'empty value not allowed', 'wildcard not allowed', "
    "'expected format …', 'at most one wildcard is allowed', 'trust domain must not contain /'",
    catalogue=(
        "ap-source-ip",
        "ap-source-empty-value",
        "ap-source-sa-format",
        "ap-source-td-format",
    ),
    needs=("source",),
)
def authz_source_value(res: Resource) -> Iterator[Finding]:
    for i, ap_rule in rules_of(res):
        for j, source in entries(ap_rule, "from", "source"):
            if not isinstance(source, dict):
                continue
            for _, field, n, problem in _value_problems(source, _SOURCE_ORDER, _SOURCE_CHECKS):
                yield Finding(("spec", "rules", i, "from", j, "source", field, n), problem)


@rule(
    "ML768",
    "authz-operation-value",
    Severity.ERROR,
    summary="A value of a rule's operation is empty or malformed (port, path template).",
    rationale="""
        Istio's webhook rejects empty strings in every list of an operation, ports that are not
        decimal numbers up to 65535, and path templates it cannot translate: `{*}` and `{**}`
        must be whole path segments, `{**}` must come last, and the other segments of a template
        may only use URL path characters.
    """,
    bad="""
        apiVersion: security.istio.io/v1
        kind: AuthorizationPolicy
        metadata:
          name: cart
          namespace: shop
        spec:
          selector:
            matchLabels:
              app: cart
          action: ALLOW
          rules:
          - to:
            - operation:
                paths: ["/api/{id}/items"]  # expect: ML768@17 spec.rules[0].to[0].operation.paths[0]
    """,
    good="""
        apiVersion: security.istio.io/v1
        kind: AuthorizationPolicy
        metadata:
          name: cart
          namespace: shop
        spec:
          selector:
            matchLabels:
              app: cart
          action: ALLOW
          rules:
          - to:
            - operation:
                paths: ["/api/{*}/items"]
    """,
    kinds=_KIND,
    istio="IST0106",
    source=f"{_S} (ValidatePorts, CheckEmptyValues, CheckValidPathTemplate) — 'bad port', "
    "'empty value not allowed', 'invalid or unsupported path'",
    catalogue=("ap-op-ports", "ap-op-empty-value", "ap-op-path-template"),
    needs=("operation",),
)
def authz_operation_value(res: Resource) -> Iterator[Finding]:
    for i, ap_rule in rules_of(res):
        for j, op in entries(ap_rule, "to", "operation"):
            if not isinstance(op, dict):
                continue
            for _, field, n, problem in _value_problems(op, _OPERATION_ORDER, _OPERATION_CHECKS):
                yield Finding(("spec", "rules", i, "to", j, "operation", field, n), problem)
