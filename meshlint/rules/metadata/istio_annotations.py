"""Annotations that Istio's validating webhook rejects (ML308-ML311): `istio.io/dry-run` where
it does not apply or with a value that is no boolean, and the annotations Istio reserves for
itself.

Facts: Istio's validating webhook (``checkDryRunAnnotation``, ``validateMetadata``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from meshlint.diagnostics import Severity
from meshlint.models.registry import ISTIO_GROUPS
from meshlint.resource import Resource
from meshlint.rules import Finding, rule
from meshlint.rules.lib.placeholders import has_placeholder

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
            istio.io/dry-run: "true"  # expect: ML308@5 metadata.annotations["istio.io/dry-run"]
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
    needs=(DRY_RUN,),
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
    bad=_ap('istio.io/dry-run: "yes"  # expect: ML309@23 metadata.annotations["istio.io/dry-run"]'),
    good=_ap('istio.io/dry-run: "true"'),
    istio="IST0106",
    needs=(DRY_RUN,),
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
          action: AUDIT  # expect: ML310@11 spec.action
          rules:
          - to:
            - operation:
                paths: ["/admin*"]
    """,
    good=_ap('istio.io/dry-run: "true"'),
    istio="IST0106",
    needs=(DRY_RUN,),
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
            internal.istio.io/parents: Gateway/shop/shop  # expect: ML311@5 metadata.annotations["internal.istio.io/parents"]
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
    needs=(ALWAYS_REJECT, PARENT_NAMESPACE, PARENTS),
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
