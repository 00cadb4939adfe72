"""What a resource applies to: its workload selector or its target references.

Seven kinds select workloads by labels and three attach by reference; Istio judges the selector
and the references the same way whatever the kind, so each concern is one rule for every kind.
Only where the selector lives differs (``spec.workloadSelector.labels`` for ServiceEntry and
Sidecar, ``spec.workloadSelector.matchLabels`` for DestinationRule, ``spec.selector.matchLabels``
for the security kinds and Telemetry).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

from meshlint.diagnostics import FieldPath, Severity
from meshlint.resource import Resource
from meshlint.rules import Finding, rule
from meshlint.rules.lib.grammar import (
    check_target_refs,
    check_workload_selector,
    empty_selector_warning,
)

_W = "webhook: pkg/config/validation/validation.go"

# kind → (selector key, labels key, the grammar the labels follow)
_Grammar = Literal["security", "networking"]
_SELECTORS: dict[str, tuple[str, str, _Grammar]] = {
    "DestinationRule": ("workloadSelector", "matchLabels", "security"),
    "ServiceEntry": ("workloadSelector", "labels", "networking"),
    "Sidecar": ("workloadSelector", "labels", "networking"),
    "PeerAuthentication": ("selector", "matchLabels", "security"),
    "RequestAuthentication": ("selector", "matchLabels", "security"),
    "AuthorizationPolicy": ("selector", "matchLabels", "security"),
    "Telemetry": ("selector", "matchLabels", "security"),
}
# The networking kinds whose selector keys and values Istio's webhook checks itself (those of
# the security kinds and Telemetry are labels, which ML312 judges).
_CHECKED_SELECTORS = ("DestinationRule", "ServiceEntry", "Sidecar")
_TARGETING = ("RequestAuthentication", "AuthorizationPolicy", "Telemetry")


def _selector(res: Resource) -> tuple[dict[str, Any], str, str, _Grammar] | None:
    spec = res.spec_map
    where = _SELECTORS.get(res.kind)
    if spec is None or where is None:
        return None
    key, labels_key, grammar = where
    selector = spec.get(key)
    return (selector, key, labels_key, grammar) if isinstance(selector, dict) else None


@rule(
    "ML320",
    "workload-selector-without-labels",
    Severity.WARNING,
    summary="A workload selector is given without labels, so it selects every workload of "
    "the namespace.",
    rationale="""
        A selector (`spec.selector.matchLabels` of PeerAuthentication, RequestAuthentication,
        AuthorizationPolicy and Telemetry; `spec.workloadSelector` of DestinationRule,
        ServiceEntry and Sidecar) with no labels selects no workload in particular: the
        resource then applies to every workload of its namespace, or of the whole mesh in the
        root namespace, as if the selector were left out. For a ServiceEntry every pod and
        WorkloadEntry of the namespace becomes an endpoint of the service; a Sidecar competes
        with the namespace's selector-less Sidecar. Istio's webhook accepts it with the
        warning 'workload selector specified without labels'. Remove the selector to mean the
        namespace, or add the labels that were forgotten.

        Before 0.2 each kind had a rule of its own: ML505 (DestinationRule), ML637
        (ServiceEntry), ML661 (Sidecar), ML702 (PeerAuthentication), ML731
        (RequestAuthentication), ML761 (AuthorizationPolicy) and ML802 (Telemetry); those
        codes still select, ignore and suppress this rule.
    """,
    bad="""
        apiVersion: security.istio.io/v1
        kind: PeerAuthentication
        metadata:
          name: cart
          namespace: shop
        spec:
          selector: {}  # expect: ML320@3 spec.selector
          mtls:
            mode: STRICT
    """,
    good="""
        apiVersion: security.istio.io/v1
        kind: PeerAuthentication
        metadata:
          name: cart
          namespace: shop
        spec:
          selector:
            matchLabels:
              app: cart
          mtls:
            mode: STRICT
    """,
    kinds=_SELECTORS,
    istio="IST0133",
    source=f"{_W} (validateWorkloadSelector, ValidateServiceEntry, ValidateSidecar) — warning "
    "'workload selector specified without labels'",
    catalogue=(
        "dr-sel-no-labels",
        "se-sel-no-labels",
        "sc-sel-no-labels",
        "pa-sel-no-labels",
        "ra-sel-no-labels",
        "ap-sel-no-labels",
        "tm-sel-no-labels",
    ),
    aliases=("ML505", "ML637", "ML661", "ML702", "ML731", "ML761", "ML802"),
    needs=("selector", "workloadSelector"),
)
def workload_selector_without_labels(res: Resource) -> Iterator[Finding]:
    found = _selector(res)
    if found is None:
        return
    selector, key, labels_key, grammar = found
    labels = selector.get(labels_key)
    if labels is not None and not (isinstance(labels, dict) and not labels):
        return
    message = empty_selector_warning(grammar)
    if res.kind in ("ServiceEntry", "Sidecar"):
        yield Finding(("spec", key), message)
    else:
        path: FieldPath = ("spec", key, labels_key) if labels_key in selector else ("spec", key)
        yield Finding(path, message, key=True)


@rule(
    "ML321",
    "invalid-workload-selector",
    Severity.ERROR,
    summary="A workload selector has an empty label key or a `*` in a key or value.",
    rationale="""
        A workload selector (`spec.workloadSelector` of DestinationRule, ServiceEntry and
        Sidecar) picks pods by exact label equality: there are no wildcards in selectors, and
        a label key is never empty. Istio's webhook rejects the resource ('empty key is not
        supported in selector', 'wildcard is not supported in selector'). The selectors of the
        security kinds and Telemetry hold labels, which ML312 judges.

        Before 0.2 each kind had a rule of its own: ML504 (DestinationRule), ML636
        (ServiceEntry) and ML660 (Sidecar); those codes still select, ignore and suppress this
        rule.
    """,
    bad="""
        apiVersion: networking.istio.io/v1
        kind: Sidecar
        metadata:
          name: ratings
          namespace: shop
        spec:
          workloadSelector:
            labels:
              app: "ratings-*"  # expect: ML321@12 spec.workloadSelector.labels.app
          egress:
          - hosts: ["./*", "istio-system/*"]
    """,
    good="""
        apiVersion: networking.istio.io/v1
        kind: Sidecar
        metadata:
          name: ratings
          namespace: shop
        spec:
          workloadSelector:
            labels:
              app: ratings
          egress:
          - hosts: ["./*", "istio-system/*"]
    """,
    kinds=_CHECKED_SELECTORS,
    istio="IST0106",
    source=f"{_W} (ValidateAlphaWorkloadSelector, validateWorkloadSelector) — 'empty key is "
    "not supported in selector', 'wildcard is not supported in selector'; CEL: the "
    "DestinationRule, ServiceEntry and Sidecar CRDs",
    catalogue=(
        "dr-sel-empty-key",
        "dr-sel-wildcard",
        "se-sel-empty-key",
        "se-sel-wildcard",
        "sc-sel-empty-key",
        "sc-sel-wildcard",
    ),
    aliases=("ML504", "ML636", "ML660"),
    needs=("workloadSelector",),
)
def invalid_workload_selector(res: Resource) -> Iterator[Finding]:
    found = _selector(res)
    if found is None:
        return
    selector, key, labels_key, grammar = found
    labels = selector.get(labels_key)
    if not isinstance(labels, dict):
        return
    base: FieldPath = ("spec", key, labels_key)
    # The number of labels and the length of values are CRD limits the schema reports.
    for label, message in check_workload_selector(labels, kind=grammar, limits=False):
        if label is None:
            continue
        if grammar == "security":
            on_key = not message.startswith("label value")
        else:
            on_key = label == "" or "*" in label
        yield Finding((*base, label), message, key=on_key)


@rule(
    "ML322",
    "invalid-target-ref",
    Severity.ERROR,
    summary="A policy sets more than one of selector, targetRef and targetRefs, or targets "
    "something it cannot.",
    rationale="""
        A RequestAuthentication, AuthorizationPolicy or Telemetry attaches either to workloads
        by labels (`selector`) or to resources by reference (`targetRef`, `targetRefs`), never
        both. References stay in the policy's namespace (no `namespace`) and point at a
        Service, ServiceEntry, Gateway or GatewayClass. Istio's webhook and the CRDs' CEL rules
        reject the rest. (A reference without a name, and more than 16 references, are the
        schema's to report.)

        Before 0.2 each kind had a rule of its own: ML730 (RequestAuthentication), ML760
        (AuthorizationPolicy) and ML801 (Telemetry); those codes still select, ignore and
        suppress this rule.
    """,
    bad="""
        apiVersion: security.istio.io/v1
        kind: RequestAuthentication
        metadata:
          name: jwt
          namespace: shop
        spec:
          targetRef:
            kind: Gateway
            group: gateway.networking.k8s.io
            name: public
            namespace: ingress  # expect: ML322@5 spec.targetRef.namespace
          jwtRules:
          - issuer: https://auth.example.com
    """,
    good="""
        apiVersion: security.istio.io/v1
        kind: RequestAuthentication
        metadata:
          name: jwt
          namespace: ingress
        spec:
          targetRef:
            kind: Gateway
            group: gateway.networking.k8s.io
            name: public
          jwtRules:
          - issuer: https://auth.example.com
    """,
    kinds=_TARGETING,
    istio="IST0106",
    source=f"{_W} (validateOneOfSelectorType, validatePolicyTargetReference) — 'only one of "
    "targetRefs or workloadSelector can be set', 'targetRef namespace must not be set', "
    "'targetRef must be to one of …'; CEL 'cross namespace referencing is not currently "
    "supported'",
    catalogue=(
        "ra-tref-oneof",
        "ra-tref-namespace",
        "ra-tref-kind",
        "ap-tref-oneof",
        "ap-tref-namespace",
        "ap-tref-kind",
        "tm-tref-oneof",
        "tm-tref-namespace",
        "tm-tref-kind",
    ),
    aliases=("ML730", "ML760", "ML801"),
    needs=("targetRef", "targetRefs"),
)
def invalid_target_ref(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for where, problem in check_target_refs(spec):
        if where[-1:] == ("name",) or problem.startswith(("a target reference needs", "at most")):
            continue
        yield Finding(("spec", *where), problem, key=where[-1] == "namespace")
