"""The shape of an AuthorizationPolicy's rules: their `from` and `to` lists, and the sources and
operations in them.

Facts: istio/istio ``pkg/config/validation/validation.go`` (``ValidateAuthorizationPolicy``)
and the CEL rules of the CRD (istio/api ``security/v1beta1/authorization_policy.proto``). List
sizes are the schema stage's.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from meshlint.diagnostics import Severity
from meshlint.resource import Resource
from meshlint.rules import Finding, rule
from meshlint.rules.lib.authz import (
    OPERATION_FIELDS,
    SOURCE_FIELDS,
    entries,
    rules_of,
)

_W = "webhook: pkg/config/validation/validation.go (ValidateAuthorizationPolicy)"
_KIND = {"AuthorizationPolicy"}
_PARTS = (
    ("from", "source", SOURCE_FIELDS, frozenset(SOURCE_FIELDS)),
    ("to", "operation", OPERATION_FIELDS, frozenset(OPERATION_FIELDS)),
)


def _sets_none(value: dict[str, Any], fields: frozenset[str]) -> bool:
    """Whether a source or operation sets none of its ``fields`` to a list with an entry."""
    for field, given in value.items():
        if field in fields and isinstance(given, list) and given:
            return False
    return True


@rule(
    "ML765",
    "authz-rule-structure",
    Severity.ERROR,
    summary="An entry of a rule's `from` or `to` has no source or operation, or one that sets "
    "no field.",
    rationale="""
        Each entry of a rule's `from` holds a `source`, and each entry of its `to` an
        `operation`, that sets at least one field; Istio's webhook rejects an entry without
        one, and a source or operation that sets no field at all (empty lists count as unset).
        In 0.2 the empty `from` and `to` lists were split off into ML773.
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
            - source: {}  # expect: ML765@15 spec.rules[0].from[0].source
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
                namespaces: [web]
    """,
    kinds=_KIND,
    istio="IST0106",
    source=f"{_W} — '`from.source` must not be nil', '`from.source` must not be empty', "
    "'`to.operation` must not be nil', '`to.operation` must not be empty'",
    catalogue=("ap-source-null", "ap-source-empty", "ap-op-null", "ap-op-empty"),
    needs=("from", "to"),
)
def authz_rule_structure(res: Resource) -> Iterator[Finding]:
    for i, ap_rule in rules_of(res):
        for key, inner, fields, field_set in _PARTS:
            items = ap_rule.get(key)
            if not isinstance(items, list):
                continue
            for j, item in enumerate(items):
                if not isinstance(item, dict):
                    continue
                value = item.get(inner)
                if value is None:
                    yield Finding(
                        ("spec", "rules", i, key, j),
                        f"this `{key}` entry has no {inner}: add `{inner}` with at least one field",
                    )
                elif isinstance(value, dict) and _sets_none(value, field_set):
                    if any(f in value and not isinstance(value[f], list) for f in fields):
                        continue  # wrong types: the schema stage's
                    yield Finding(
                        ("spec", "rules", i, key, j, inner),
                        f"this {inner} sets no field: it must set at least one of "
                        f"{', '.join(fields[::2])} (or their not- forms)",
                    )


@rule(
    "ML773",
    "authz-empty-from-or-to",
    Severity.ERROR,
    summary="A rule of an AuthorizationPolicy has `from: []` or `to: []`.",
    rationale="""
        A rule without `from` matches requests from any source, and one without `to` any
        operation; an empty list says neither, and Istio's webhook rejects it. Leave the field
        out to match any source or operation, or add the entries that were meant.
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
          - from: []  # expect: ML773@11 spec.rules[0].from
            to:
            - operation:
                methods: [GET]
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
                methods: [GET]
    """,
    kinds=_KIND,
    istio="IST0106",
    source=f"{_W} — '`from` must not be empty', '`to` must not be empty'",
    catalogue=("ap-from-empty-list", "ap-to-empty-list"),
    aliases=("ML765",),
    needs=("from", "to"),
)
def authz_empty_from_or_to(res: Resource) -> Iterator[Finding]:
    for i, ap_rule in rules_of(res):
        for key, inner, _, _ in _PARTS:
            items = ap_rule.get(key)
            if isinstance(items, list) and not items:
                yield Finding(
                    ("spec", "rules", i, key),
                    f"`{key}` is an empty list: remove it to match any {inner}, or add an entry",
                )


@rule(
    "ML766",
    "authz-service-accounts-mixed",
    Severity.ERROR,
    summary="A source combines serviceAccounts with principals or namespaces.",
    rationale="""
        `serviceAccounts` (and `notServiceAccounts`) is a shorthand for identities; Istio's
        webhook and the CRD's CEL rule reject it together with `principals`, `notPrincipals`,
        `namespaces` or `notNamespaces` in the same source. Use separate `from` entries.
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
                serviceAccounts: [web/frontend]  # expect: ML766@9 spec.rules[0].from[0].source.serviceAccounts
                namespaces: [web]
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
                serviceAccounts: [web/frontend]
    """,
    kinds=_KIND,
    istio="IST0106",
    source=f"{_W} — 'cannot set serviceAccounts with namespaces or principals'; CEL 'Cannot set "
    "serviceAccounts with namespaces or principals'",
    catalogue=("ap-source-sa-mix",),
    needs=("serviceAccounts", "notServiceAccounts"),
)
def authz_service_accounts_mixed(res: Resource) -> Iterator[Finding]:
    for i, ap_rule in rules_of(res):
        for j, source in entries(ap_rule, "from", "source"):
            if not isinstance(source, dict) or (
                "serviceAccounts" not in source and "notServiceAccounts" not in source
            ):
                continue
            accounts = [f for f in ("serviceAccounts", "notServiceAccounts") if f in source]
            others = [
                f
                for f in ("principals", "notPrincipals", "namespaces", "notNamespaces")
                if f in source
            ]
            if accounts and others and any(source[f] is not None for f in accounts):
                if all(source[f] is None for f in others):
                    continue
                yield Finding(
                    ("spec", "rules", i, "from", j, "source", accounts[0]),
                    f"{accounts[0]} cannot be combined with {' or '.join(others)} in one source: "
                    "put them in separate `from` entries",
                    key=True,
                )
