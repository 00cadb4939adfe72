"""The values of an AuthorizationPolicy's sources and operations that Istio's webhook rejects.

Facts: istio/istio ``pkg/config/security/security.go`` (``ValidateIPs``, ``ValidatePorts``,
``CheckEmptyValues``, ``CheckServiceAccount``, ``CheckTrustDomainValues``,
``CheckValidPathTemplate``). Lengths and list sizes are the schema stage's.
"""

from __future__ import annotations

from collections.abc import Iterator

from meshlint.diagnostics import FieldPath, Severity
from meshlint.resource import Resource
from meshlint.rules import Finding, rule
from meshlint.rules.lib.authz import (
    OPERATION_FIELDS,
    SOURCE_FIELDS,
    entries,
    path_template_problem,
    policy_rules,
    port_problem,
    service_account_problem,
    strings,
    trust_domain_problem,
)
from meshlint.rules.lib.grammar import check_cidr

_S = "webhook: pkg/config/security/security.go"
_KIND = {"AuthorizationPolicy"}
_IP_FIELDS = ("ipBlocks", "notIpBlocks", "remoteIpBlocks", "notRemoteIpBlocks")


def _source_value_problem(field: str, value: str) -> str | None:
    if value == "":
        return f"an empty string in {field} is not allowed"
    if field in _IP_FIELDS:
        return check_cidr(value)
    if field in ("serviceAccounts", "notServiceAccounts"):
        return service_account_problem(value)
    if field in ("trustDomains", "notTrustDomains"):
        return trust_domain_problem(value)
    return None


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
)
def authz_source_value(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for i, ap_rule in policy_rules(spec):
        for j, source in entries(ap_rule, "from", "source"):
            if not isinstance(source, dict):
                continue
            base: FieldPath = ("spec", "rules", i, "from", j, "source")
            for field in SOURCE_FIELDS:
                for n, value in strings(source, field):
                    problem = _source_value_problem(field, value)
                    if problem:
                        yield Finding((*base, field, n), problem)


def _operation_value_problem(field: str, value: str) -> str | None:
    if value == "":
        return f"an empty string in {field} is not allowed"
    if field in ("ports", "notPorts"):
        return port_problem(value)
    if field in ("paths", "notPaths"):
        return path_template_problem(value)
    return None


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
)
def authz_operation_value(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for i, ap_rule in policy_rules(spec):
        for j, op in entries(ap_rule, "to", "operation"):
            if not isinstance(op, dict):
                continue
            base: FieldPath = ("spec", "rules", i, "to", j, "operation")
            for field in OPERATION_FIELDS:
                for n, value in strings(op, field):
                    problem = _operation_value_problem(field, value)
                    if problem:
                        yield Finding((*base, field, n), problem)
