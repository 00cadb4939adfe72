"""The `when` conditions of an AuthorizationPolicy's rules: a key and its values, as Istio's
webhook judges them.

Istio checks a condition in order: the key is not empty; `values` or `notValues` is given; no
value is empty; then the key and the values it takes (``ValidateAttribute``). A later check
speaks only when the earlier ones pass, and the rules here keep that order: a key is judged
only on a condition with a key and values none of which is empty.

Facts: istio/istio ``pkg/config/validation/validation.go`` (``ValidateAuthorizationPolicy``),
``pkg/config/security/security.go`` (``ValidateAttribute``, ``CheckEmptyValues``,
``ValidateIPs``, ``ValidatePorts``, ``CheckServiceAccount``). A missing key is the schema
stage's (the CRD's ``required``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from meshlint.diagnostics import FieldPath, Severity
from meshlint.resource import Resource
from meshlint.rules import Finding, rule
from meshlint.rules.lib.authz import (
    nonempty,
    policy_rules,
    port_problem,
    service_account_problem,
    strings,
    wildcard_problem,
)
from meshlint.rules.lib.grammar import check_cidr

_W = "webhook: pkg/config/validation/validation.go (ValidateAuthorizationPolicy)"
_S = "webhook: pkg/config/security/security.go"
_KIND = {"AuthorizationPolicy"}
_VALUES = ("values", "notValues")


def _conditions(spec: dict[str, Any]) -> Iterator[tuple[FieldPath, dict[str, Any], str]]:
    """``(path, condition, key)`` for every condition of every rule whose key is a string."""
    for i, ap_rule in policy_rules(spec):
        when = ap_rule.get("when")
        if isinstance(when, list):
            for k, cond in enumerate(when):
                if isinstance(cond, dict) and isinstance(cond.get("key"), str):
                    yield ("spec", "rules", i, "when", k), cond, cond["key"]


def _has_values(cond: dict[str, Any]) -> bool:
    return any(nonempty(cond, f) for f in _VALUES)


def _judged(
    spec: dict[str, Any], *, unless_empty: bool
) -> Iterator[tuple[FieldPath, dict[str, Any], str]]:
    """The conditions Istio goes on to judge by their key: a key and at least one value (and,
    with ``unless_empty``, no empty value, which Istio reports first)."""
    for where, cond, key in _conditions(spec):
        if not key or not _has_values(cond):
            continue
        if unless_empty and any(v == "" for f in _VALUES for _, v in strings(cond, f)):
            continue
        yield where, cond, key


@rule(
    "ML769",
    "authz-condition",
    Severity.ERROR,
    summary="A `when` condition has an empty key, neither values nor notValues, or an empty value.",
    rationale="""
        A condition matches an attribute of the request, named by `key`, against `values` (or
        excludes `notValues`). Istio's webhook rejects a condition with an empty key, one with
        neither `values` nor `notValues`, and an empty string among the values. In 0.2 the
        keys and values Istio does not accept were split off into ML774 (unknown or malformed
        keys), ML775 (replaced keys) and ML776 (malformed values of typed keys).
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
          - when:
            - key: request.headers[version]  # expect: ML769@12 spec.rules[0].when[0].key
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
          - when:
            - key: request.headers[version]
              values: [v1]
    """,
    kinds=_KIND,
    istio="IST0106",
    source=f"{_W} — '`key` must not be empty', 'at least one of `values` or `notValues` must "
    f"be set'; {_S} (ValidateAttribute, CheckEmptyValues) — 'empty value not allowed'",
    catalogue=("ap-when-key-missing", "ap-when-no-values", "ap-when-empty-value"),
    needs=("when",),
)
def authz_condition(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for where, cond, key in _conditions(spec):
        if key == "":
            yield Finding((*where, "key"), "the condition key is empty: name an attribute")
            continue
        if not _has_values(cond):
            if any(f in cond and not isinstance(cond[f], list | None) for f in _VALUES):
                continue  # wrong types: the schema stage's
            yield Finding(
                (*where, "key"), f"condition {key} has neither values nor notValues: give one"
            )
            continue
        for field in _VALUES:
            for n, value in strings(cond, field):
                if value == "":
                    yield Finding(
                        (*where, field, n), "an empty string is not allowed as a condition value"
                    )


_PLAIN_KEYS = frozenset(
    (
        "source.ip",
        "remote.ip",
        "source.namespace",
        "source.serviceAccount",
        "source.principal",
        "source.trustDomain",
        "request.auth.principal",
        "request.auth.audiences",
        "request.auth.presenter",
        "destination.ip",
        "destination.port",
        "connection.sni",
    )
)
_MAP_KEYS = ("request.headers", "request.auth.claims", "experimental.envoy.filters.")


def _replaced_key_problem(key: str) -> str | None:
    """A key Istio once took and now rejects, with what replaced it."""
    if key == "destination.namespace":
        return (
            "destination.namespace is not supported: the policy's own namespace already limits it"
        )
    if key.startswith("destination.labels"):
        return "destination.labels is not supported: select workloads with spec.selector instead"
    if key in ("destination.name", "destination.user"):
        return f"{key} was removed with v1alpha1 policies and is not supported"
    return None


def _unknown_key_problem(key: str) -> str | None:
    """A key that is no attribute Istio knows, or a map attribute without its ``[name]``."""
    for prefix in _MAP_KEYS:
        if key.startswith(prefix):
            open_ = key.find("[")
            if key.endswith("]") and 0 < open_ < len(key) - 2:
                return None
            name = prefix.rstrip(".") + ("…" if prefix.endswith(".") else "")
            return f"condition key '{key}' needs a name in brackets, e.g. {name}[name]"
    if key in _PLAIN_KEYS or _replaced_key_problem(key) is not None:
        return None
    return (
        f"'{key}' is not a supported condition key: use request.headers[…], source.ip, "
        "remote.ip, source.namespace, source.serviceAccount, source.principal, "
        "source.trustDomain, request.auth.principal, request.auth.audiences, "
        "request.auth.presenter, request.auth.claims[…], destination.ip, destination.port, "
        "connection.sni or experimental.envoy.filters.…[…]"
    )


@rule(
    "ML774",
    "authz-unknown-condition-key",
    Severity.ERROR,
    summary="A `when` condition's key is no attribute Istio supports, or a map attribute "
    "without a name in brackets.",
    rationale="""
        A condition's key names one of the attributes Istio can match on: `source.ip`,
        `remote.ip`, `source.namespace`, `source.serviceAccount`, `source.principal`,
        `source.trustDomain`, `request.auth.principal`, `request.auth.audiences`,
        `request.auth.presenter`, `destination.ip`, `destination.port`, `connection.sni`, or
        an entry of a map attribute, `request.headers[name]`, `request.auth.claims[name]` or
        `experimental.envoy.filters.…[name]`, which needs the name in brackets. Istio's webhook
        rejects any other key.
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
          - when:
            - key: request.headers  # expect: ML774@12 spec.rules[0].when[0].key
              values: [v1]
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
          - when:
            - key: request.headers[version]
              values: [v1]
    """,
    kinds=_KIND,
    istio="IST0106",
    source=f"{_S} (ValidateAttribute) — 'unknown attribute: %s', 'bad key (%s): should have "
    "format a[b]'",
    catalogue=("ap-when-key-unknown", "ap-when-key-brackets"),
    aliases=("ML769",),
    needs=("when",),
)
def authz_unknown_condition_key(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for where, _, key in _judged(spec, unless_empty=True):
        problem = _unknown_key_problem(key)
        if problem:
            yield Finding((*where, "key"), problem)


@rule(
    "ML775",
    "authz-replaced-condition-key",
    Severity.ERROR,
    summary="A `when` condition uses a key Istio replaced: `destination.namespace`, "
    "`destination.labels[…]`, `destination.name` or `destination.user`.",
    rationale="""
        These attributes are no longer matched by a condition. A policy applies in its own
        namespace, so `destination.namespace` is replaced by where the policy lives;
        `destination.labels[…]` by the policy's `selector`; `destination.name` and
        `destination.user` were only supported by the v1alpha1 policies. Istio's webhook
        rejects them: move the policy, or select the workloads with `spec.selector`.
    """,
    bad="""
        apiVersion: security.istio.io/v1
        kind: AuthorizationPolicy
        metadata:
          name: cart
          namespace: shop
        spec:
          action: ALLOW
          rules:
          - from:
            - source:
                namespaces: [web]
            when:
            - key: destination.labels[app]  # expect: ML775@12 spec.rules[0].when[0].key
              values: [cart]
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
    source=f"{_S} (ValidateAttribute) — 'attribute %s is replaced by the metadata.namespace', "
    "'attribute %s is replaced by the workload selector', 'deprecated attribute %s: only "
    "supported in v1alpha1'",
    catalogue=("ap-when-dest-ns", "ap-when-dest-labels", "ap-when-v1alpha1"),
    aliases=("ML769",),
    needs=("when",),
)
def authz_replaced_condition_key(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for where, _, key in _judged(spec, unless_empty=True):
        problem = _replaced_key_problem(key)
        if problem:
            yield Finding((*where, "key"), problem)


def _value_problem(key: str, value: str) -> str | None:
    """A (non-empty) value that the condition's key does not take."""
    if key in ("source.ip", "remote.ip", "destination.ip"):
        return check_cidr(value)
    if key == "destination.port":
        return port_problem(value)
    if key == "source.serviceAccount":
        if len(value) > 320:
            return (
                f"service account '{value[:40]}…' is {len(value)} characters long, the most is 320"
            )
        return service_account_problem(value)
    if key == "source.trustDomain":
        return wildcard_problem(value, "trust domain")
    return None


@rule(
    "ML776",
    "authz-malformed-condition-value",
    Severity.ERROR,
    summary="A value of a `when` condition does not fit its key (IP, port, service account, "
    "trust domain).",
    rationale="""
        Some condition keys take values of a given form, and Istio's webhook checks them: IP
        addresses or CIDR blocks for `source.ip`, `remote.ip` and `destination.ip`; port
        numbers up to 65535 for `destination.port`; at most 16 service accounts of at most 320
        characters, written `name` or `namespace/name` without `*`, for
        `source.serviceAccount`; and trust domains with at most one `*`, at the start or the
        end, for `source.trustDomain`.
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
          - when:
            - key: source.ip
              values: ["10.0.0.1/40"]  # expect: ML776@16 spec.rules[0].when[0].values[0]
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
          - when:
            - key: source.ip
              values: ["10.0.0.0/16"]
    """,
    kinds=_KIND,
    istio="IST0106",
    source=f"{_S} (ValidateAttribute, ValidateIPs, ValidatePorts, CheckServiceAccount) — 'bad "
    "CIDR range', 'bad IP address', 'bad port', 'wildcard not allowed', 'expected format …'",
    catalogue=(
        "ap-when-ip-values",
        "ap-when-port-values",
        "ap-when-sa-values",
        "ap-when-td-values",
    ),
    aliases=("ML769",),
    needs=("when",),
)
def authz_malformed_condition_value(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for where, cond, key in _judged(spec, unless_empty=False):
        for field in _VALUES:
            values = cond.get(field)
            if key == "source.serviceAccount" and isinstance(values, list) and len(values) > 16:
                yield Finding(
                    (*where, field),
                    f"source.serviceAccount takes at most 16 {field}; this has {len(values)}",
                )
            for n, value in strings(cond, field):
                problem = _value_problem(key, value) if value else None
                if problem:
                    yield Finding((*where, field, n), problem)
