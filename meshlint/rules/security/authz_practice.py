"""Best practice for ALLOW AuthorizationPolicies: one that allows nothing, and a rule that allows
everything.

These are no Istio verdict: Istio accepts both policies. They follow from how ALLOW policies
combine (istio/api ``security/v1beta1/authorization_policy.proto``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from meshlint.diagnostics import FieldPath, Severity
from meshlint.resource import Resource
from meshlint.rules import Finding, rule
from meshlint.rules.lib.authz import rules_of

_KIND = {"AuthorizationPolicy"}

_AP_PRACTICE = (
    "meshlint best practice: istio/api security/v1beta1/authorization_policy.proto (an ALLOW "
    "policy without rules matches nothing; a rule without from, to and when matches every "
    "request; ALLOW policies of a workload are combined: a request one of them allows is "
    "allowed)"
)


def _enforced_allow(res: Resource, spec: dict[str, Any]) -> bool:
    """An ALLOW policy (the default action) that is enforced: a dry-run policy
    (`istio.io/dry-run: "true"`) only logs what it would decide."""
    action = spec.get("action")
    annotations = res.metadata.get("annotations")
    dry_run = isinstance(annotations, dict) and annotations.get("istio.io/dry-run") == "true"
    return (action is None or action == "ALLOW") and not dry_run


def _scope(res: Resource, spec: dict[str, Any]) -> str:
    """The workloads a policy applies to, for a message."""
    selector = spec.get("selector")
    labels = selector.get("matchLabels") if isinstance(selector, dict) else None
    if isinstance(labels, dict) and labels:
        wanted = ", ".join(f"{k}={v}" for k, v in labels.items())
        return f"the workloads labelled {wanted}"
    if spec.get("targetRef") is not None or spec.get("targetRefs") is not None:
        return "the resources it targets"
    ns = res.metadata.get("namespace")
    ns = ns if isinstance(ns, str) and ns else "default"
    if ns == "istio-system":
        return "every workload of the mesh (a policy of the root namespace istio-system)"
    return f"every workload of namespace {ns}"


@rule(
    "ML771",
    "allow-policy-without-rules",
    Severity.WARNING,
    summary="An ALLOW AuthorizationPolicy has no rules, so it denies every request to its "
    "workloads.",
    rationale="""
        An ALLOW policy allows the requests its rules match; once a workload has an ALLOW
        policy, every request no ALLOW policy matches is denied. A policy with no `rules`
        (or `rules: []`, or an empty `spec`) matches nothing, so every request to the
        workloads it selects is denied with 403 (and TCP connections are closed), unless
        another ALLOW policy of the workloads matches it. Istio documents that as the
        "allow-nothing" policy, written `spec: {}` (or with only a selector), and such a
        policy is left alone; but an `action: ALLOW` or a `rules:` key with nothing under it
        is what is left when rules were lost in an edit or a template. When it is meant,
        write it as `spec: {}`, or say so with the `meshlint.io/ignore: ML771` annotation.
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
          action: ALLOW  # expect: ML771@11 spec.action
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
    source=_AP_PRACTICE,
    catalogue=("ap-ml-allow-empty",),
)
def allow_policy_without_rules(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None or spec.get("rules") not in (None, []) or not _enforced_allow(res, spec):
        return
    if "rules" not in spec and "action" not in spec:
        return  # Istio's documented allow-nothing policy (`spec: {}`), written as such
    if spec.get("rules") is not None:
        path: FieldPath = ("spec", "rules")
    elif "action" in spec:
        path = ("spec", "action")
    else:
        path = ("spec",)
    yield Finding(
        path,
        f"this ALLOW policy has no rules: it matches no request, so every request to "
        f"{_scope(res, spec)} is denied unless another ALLOW policy allows it; add rules, "
        "or mark an intended allow-nothing policy with `meshlint.io/ignore: ML771`",
        key=path[-1] != "action",
    )


@rule(
    "ML772",
    "allow-rule-matches-everything",
    Severity.WARNING,
    summary="A rule of an ALLOW AuthorizationPolicy has no `from`, `to` or `when`, so it "
    "allows every request.",
    rationale="""
        A rule matches a request when all of its `from`, `to` and `when` match; a rule
        with none of them (`rules: [{}]`, or `- {}` among other rules) matches every
        request. In an ALLOW policy it allows every request, from any source, to any path,
        of the workloads the policy selects, and since ALLOW policies are combined, it also
        makes every other ALLOW policy of those workloads irrelevant: only DENY policies
        still restrict them. A policy whose only rule is `{}` is Istio's documented
        "allow-all" policy: it gets an info finding that says what it does. An empty rule
        among other rules is a warning: it makes the others pointless, which is what a rule
        emptied by mistake (a `from` indented one level too deep, a template that rendered
        nothing) looks like. (For DENY, an empty rule denies every request, which is what it
        is used for.)
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
                namespaces: [web]
          - {}  # expect: ML772@5 spec.rules[1]
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
    source=_AP_PRACTICE,
    catalogue=(),
    needs=("rules",),
)
def allow_rule_matches_everything(res: Resource) -> Iterator[Finding]:
    found = rules_of(res)
    for i, ap_rule in found:
        if (
            ap_rule.get("from") is not None
            or ap_rule.get("to") is not None
            or ap_rule.get("when") is not None
        ):
            continue
        spec = res.spec_map
        if spec is None or not _enforced_allow(res, spec):
            return
        if len(found) == 1:  # Istio's documented allow-all policy: said, not warned about
            yield Finding(
                ("spec", "rules", i),
                f"this rule has no from, to or when: the policy allows every request to "
                f"{_scope(res, spec)}, and other ALLOW policies no longer restrict them",
                severity=Severity.INFO,
            )
            continue
        yield Finding(
            ("spec", "rules", i),
            f"this rule has no from, to or when: it matches every request, so the policy "
            f"allows every request to {_scope(res, spec)} and its other rules, and other "
            "ALLOW policies, no longer restrict anything; add conditions to it or remove it",
        )
