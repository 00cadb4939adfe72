"""Field validation of peerauthentication: what Istio's webhook and CRD rules reject.

Facts: istio/istio ``pkg/config/validation/validation.go`` (``ValidatePeerAuthentication``,
``validateWorkloadSelector``, ``validateOneOfSelectorType``, ``validatePolicyTargetReference``) and
the CEL rules of the PeerAuthentication CRD (istio/api ``security/v1beta1/peer_authentication.proto``).

This module also holds the helpers the other policy kinds (RequestAuthentication,
AuthorizationPolicy, Telemetry) share: the workload-selector and target-reference findings.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from meshlint.diagnostics import Severity
from meshlint.resource import Resource
from meshlint.rules import Finding, rule
from meshlint.rules.lib.grammar import check_target_refs, empty_selector_warning

# --------------------------------------------------------------------------------------------
# Shared by the policy kinds


def selector_findings(spec: Any) -> Iterator[Finding]:
    """``spec.selector`` given without labels: Istio's webhook warns, and the policy applies to
    the whole namespace. (Empty keys and ``*`` in a selector are invalid labels: ML304 reports
    them; the size limits are the schema stage's.)"""
    if not isinstance(spec, dict):
        return
    selector = spec.get("selector")
    if not isinstance(selector, dict):
        return
    labels = selector.get("matchLabels")
    if labels is None or (isinstance(labels, dict) and not labels):
        where = (
            ("spec", "selector", "matchLabels")
            if "matchLabels" in selector
            else ("spec", "selector")
        )
        yield Finding(where, empty_selector_warning("security"), key=True)


def target_findings(spec: Any) -> Iterator[Finding]:
    """``selector`` / ``targetRef`` / ``targetRefs``: only one, no namespace, an attachable kind.
    A missing name and more than 16 references are the schema stage's."""
    if not isinstance(spec, dict):
        return
    for where, problem in check_target_refs(spec):
        if where[-1:] == ("name",) or problem.startswith(("a target reference needs", "at most")):
            continue
        yield Finding(("spec", *where), problem, key=where[-1] == "namespace")


# --------------------------------------------------------------------------------------------
# PeerAuthentication

_PA = "webhook: pkg/config/validation/validation.go (ValidatePeerAuthentication)"
_INT = re.compile(r"[+-]?[0-9]+")


@rule(
    "ML701",
    "peer-auth-port-level-mtls",
    Severity.ERROR,
    summary="`portLevelMtls` is set on a policy without a workload selector, or names an invalid port.",
    rationale="""
        Port-level mTLS modes only apply to the workloads a PeerAuthentication selects: Istio's
        webhook and the CRD's CEL rule reject `portLevelMtls` on a namespace-wide or mesh-wide
        policy (no `selector`, or a selector without labels). Each key is the workload's
        (container) port number, which must be an integer from 1 to 65535.
    """,
    bad="""
        apiVersion: security.istio.io/v1
        kind: PeerAuthentication
        metadata:
          name: default
          namespace: shop
        spec:
          mtls:
            mode: STRICT
          portLevelMtls:
            "8080":
              mode: PERMISSIVE
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
          portLevelMtls:
            "8080":
              mode: PERMISSIVE
    """,
    kinds={"PeerAuthentication"},
    istio="IST0106",
    source=f"{_PA} — 'mesh/namespace peer authentication cannot have port level mTLS', "
    "'port must be in range 1..65535'; CEL 'portLevelMtls requires selector'",
    catalogue=("pa-portlevel-no-selector", "pa-portlevel-range", "pa-portlevel-key-type"),
)
def port_level_mtls(res: Resource) -> Iterator[Finding]:
    spec = res.spec
    if not isinstance(spec, dict) or "portLevelMtls" not in spec:
        return
    ports = spec.get("portLevelMtls")
    if ports is None:
        return
    selector = spec.get("selector")
    labels = selector.get("matchLabels") if isinstance(selector, dict) else None
    if not (isinstance(labels, dict) and labels):
        yield Finding(
            ("spec", "portLevelMtls"),
            "portLevelMtls needs a selector with matchLabels: a namespace-wide or mesh-wide "
            "PeerAuthentication cannot set per-port modes",
            key=True,
        )
    if not isinstance(ports, dict):
        return
    for key in ports:
        if isinstance(key, bool):
            continue
        text = str(key)
        if not _INT.fullmatch(text):
            yield Finding(
                ("spec", "portLevelMtls", key),
                f"'{text}' is not a port number: portLevelMtls keys are workload port numbers "
                "from 1 to 65535",
                key=True,
            )
        elif not 0 < int(text) <= 65535:
            yield Finding(
                ("spec", "portLevelMtls", key),
                f"port {text} is out of range: use a port number from 1 to 65535",
                key=True,
            )


@rule(
    "ML702",
    "peer-auth-selector-without-labels",
    Severity.WARNING,
    summary="The workload selector of a PeerAuthentication has no labels, so it selects the whole namespace.",
    rationale="""
        A selector given without `matchLabels` (or with an empty map) selects no workload in
        particular: the PeerAuthentication then applies to every workload of its namespace, or
        of the whole mesh in the root namespace. Istio's webhook accepts it with a warning ('workload
        selector specified without labels'). Remove the selector to mean the namespace, or add
        labels. (Empty keys and `*` in `matchLabels` are invalid labels, reported by ML304.)
    """,
    bad="""
        apiVersion: security.istio.io/v1
        kind: PeerAuthentication
        metadata:
          name: cart
          namespace: shop
        spec:
          selector: {}
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
    kinds={"PeerAuthentication"},
    istio="IST0133",
    source="webhook: pkg/config/validation/validation.go (validateWorkloadSelector) — warning "
    "'workload selector specified without labels'",
    catalogue=("pa-sel-no-labels",),
)
def peer_auth_selector(res: Resource) -> Iterator[Finding]:
    yield from selector_findings(res.spec)
