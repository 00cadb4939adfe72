"""AuthorizationPolicy actions: what DENY and CUSTOM policies need, what CUSTOM cannot match on,
and what a DENY rule of HTTP attributes does to TCP traffic.

Facts: istio/istio ``pkg/config/validation/validation.go`` (``ValidateAuthorizationPolicy``)
and the CEL rules of the CRD (istio/api ``security/v1beta1/authorization_policy.proto``). The
``istio.io/dry-run`` annotation is checked by the metadata family (ML308-ML310); the action enum
is the schema stage's.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from meshlint.diagnostics import Severity
from meshlint.resource import Resource
from meshlint.rules import Finding, rule
from meshlint.rules.lib.authz import entries, nonempty, policy_rules

_W = "webhook: pkg/config/validation/validation.go (ValidateAuthorizationPolicy)"
_KIND = {"AuthorizationPolicy"}


@rule(
    "ML762",
    "authz-action-without-rules",
    Severity.ERROR,
    summary="A DENY or CUSTOM AuthorizationPolicy has no `rules`, so it never applies.",
    rationale="""
        A DENY or CUSTOM policy acts on the requests its rules match; without `rules` it matches
        nothing and never triggers. Istio's webhook rejects it; write `rules: [{}]` to match
        every request.
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
          action: DENY  # expect: ML762@11 spec.action
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
          action: DENY
          rules:
          - {}
    """,
    kinds=_KIND,
    istio="IST0106",
    source=f"{_W} — 'DENY action without `rules` is meaningless as it will never be triggered', "
    "'CUSTOM action without `rules` is meaningless …'",
    catalogue=("ap-deny-no-rules", "ap-custom-no-rules"),
)
def authz_action_without_rules(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None or spec.get("rules") not in (None, []):
        return  # (an empty list reads as no rules: it matches nothing either)
    action = spec.get("action")
    if action in ("DENY", "CUSTOM"):
        yield Finding(
            ("spec", "action"),
            f"a {action} policy without rules never triggers: add rules, or `rules: [{{}}]` "
            "to match every request",
        )


@rule(
    "ML763",
    "authz-provider",
    Severity.ERROR,
    summary="A CUSTOM AuthorizationPolicy names no provider, or another action sets one.",
    rationale="""
        Action CUSTOM delegates the decision to an external authorizer declared in the mesh
        config's `extensionProviders`, named by `provider.name`; Istio's webhook rejects a CUSTOM
        policy with rules but no provider name, and a `provider` on any other action.
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
          provider:  # expect: ML763@3 spec.provider
            name: ext-authz
          rules:
          - {}
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
          action: CUSTOM
          provider:
            name: ext-authz
          rules:
          - {}
    """,
    kinds=_KIND,
    istio="IST0106",
    source=f"{_W} — '`provider.name` must not be empty', '`provider` must not be with non "
    "CUSTOM action'",
    catalogue=("ap-custom-provider", "ap-provider-non-custom"),
)
def authz_provider(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    action = spec.get("action")
    if not isinstance(action, str | None):
        return
    provider = spec.get("provider")
    if action == "CUSTOM":
        if spec.get("rules") in (None, []):
            return  # ML762
        if provider is None:
            yield Finding(
                ("spec", "action"),
                "a CUSTOM policy needs `provider.name`: the extension provider (from the mesh "
                "config) that decides",
            )
        elif isinstance(provider, dict) and provider.get("name") in (None, ""):
            where = ("spec", "provider", "name") if "name" in provider else ("spec", "provider")
            yield Finding(
                where, "provider.name is empty: name an extension provider of the mesh config"
            )
    elif provider is not None:
        yield Finding(
            ("spec", "provider"),
            f"provider is only allowed with action CUSTOM, not {action or 'ALLOW (the default)'}: "
            "remove it or set action: CUSTOM",
            key=True,
        )


# The source fields and condition keys a CUSTOM policy may not use: the identities that are
# known only after the external authorizer is consulted.
_CUSTOM_UNSUPPORTED = (
    "namespaces",
    "notNamespaces",
    "serviceAccounts",
    "notServiceAccounts",
    "trustDomains",
    "notTrustDomains",
    "principals",
    "notPrincipals",
    "requestPrincipals",
    "notRequestPrincipals",
)
_CUSTOM_UNSUPPORTED_KEYS = (
    "source.namespace",
    "source.serviceAccount",
    "source.trustDomain",
    "source.principal",
)


@rule(
    "ML764",
    "authz-custom-unsupported-field",
    Severity.ERROR,
    summary="A CUSTOM AuthorizationPolicy matches on identities, which CUSTOM does not support.",
    rationale="""
        With action CUSTOM, Istio's webhook rejects the source fields namespaces, principals,
        requestPrincipals, serviceAccounts and trustDomains (and their `not` forms), and the
        conditions on `source.namespace`, `source.serviceAccount`, `source.trustDomain`,
        `source.principal` and `request.auth.*`: the external authorizer is consulted before
        those are known. Match on them in the authorizer instead.
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
          action: CUSTOM
          provider:
            name: ext-authz
          rules:
          - from:
            - source:
                namespaces: [web]  # expect: ML764@9 spec.rules[0].from[0].source.namespaces
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
          action: CUSTOM
          provider:
            name: ext-authz
          rules:
          - from:
            - source:
                ipBlocks: [10.0.0.0/8]
    """,
    kinds=_KIND,
    istio="IST0106",
    source=f"{_W} — '%s is currently not supported with CUSTOM action'",
    catalogue=("ap-custom-source-fields", "ap-custom-when-keys"),
)
def authz_custom_unsupported_field(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None or spec.get("action") != "CUSTOM":
        return
    for i, ap_rule in policy_rules(spec):
        for j, source in entries(ap_rule, "from", "source"):
            if not isinstance(source, dict):
                continue
            for field in _CUSTOM_UNSUPPORTED:
                if nonempty(source, field):
                    yield Finding(
                        ("spec", "rules", i, "from", j, "source", field),
                        f"{field} is not supported with action CUSTOM: remove it, or check it "
                        "in the external authorizer",
                        key=True,
                    )
        when = ap_rule.get("when")
        if not isinstance(when, list):
            continue
        for k, cond in enumerate(when):
            if not isinstance(cond, dict):
                continue
            key = cond.get("key")
            if not isinstance(key, str):
                continue
            if key in _CUSTOM_UNSUPPORTED_KEYS or key.startswith("request.auth."):
                yield Finding(
                    ("spec", "rules", i, "when", k, "key"),
                    f"condition key {key} is not supported with action CUSTOM",
                )


# The source fields Istio keeps when it builds a DENY rule for a TCP port.
_TCP_SOURCE_FIELDS = (
    "principals",
    "notPrincipals",
    "ipBlocks",
    "notIpBlocks",
    "namespaces",
    "notNamespaces",
    "remoteIpBlocks",
    "notRemoteIpBlocks",
    "serviceAccounts",
    "notServiceAccounts",
)


def _is_http_only_rule(ap_rule: dict[str, Any]) -> bool:
    """Istio's test for a DENY rule that becomes "deny all" on TCP ports."""
    sources = [s for _, s in entries(ap_rule, "from", "source") if isinstance(s, dict)]
    operations = [o for _, o in entries(ap_rule, "to", "operation") if isinstance(o, dict)]
    tcp_from = any(s.get(f) is not None for s in sources for f in _TCP_SOURCE_FIELDS)
    tcp_to = any(o.get("ports") is not None or o.get("notPorts") is not None for o in operations)
    return bool((sources and not operations and not tcp_from) or (operations and not tcp_to))


@rule(
    "ML770",
    "authz-deny-http-only",
    Severity.WARNING,
    summary="A DENY rule uses only HTTP attributes, so it denies all TCP traffic in its scope.",
    rationale="""
        HTTP attributes (paths, methods, hosts, request principals) cannot be evaluated on plain
        TCP connections; for TCP ports Istio keeps the rule without them, so a DENY rule that
        only uses them denies every TCP connection to the selected workloads. Istio's webhook
        accepts the policy with a warning; name the ports the rule is meant for.
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
          action: DENY
          rules:
          - to:  # expect: ML770@5 spec.rules[0]
            - operation:
                paths: ["/admin*"]
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
          action: DENY
          rules:
          - to:
            - operation:
                ports: ["8080"]
                paths: ["/admin*"]
    """,
    kinds=_KIND,
    istio="IST0133",
    source=f"{_W} — warning 'configured AuthorizationPolicy will deny all traffic to TCP ports "
    "under its scope due to the use of only HTTP attributes in a DENY rule'",
    catalogue=("ap-deny-http-only",),
)
def authz_deny_http_only(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None or spec.get("action") != "DENY":
        return
    for i, ap_rule in policy_rules(spec):
        if _is_http_only_rule(ap_rule):
            yield Finding(
                ("spec", "rules", i),
                "this DENY rule only uses HTTP attributes: on TCP ports it denies every "
                "connection; add `ports` to its operation to limit it to HTTP ports",
            )
