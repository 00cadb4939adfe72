"""Field validation of PeerAuthentication: what Istio's webhook and CRD rules reject.

Facts: istio/istio ``pkg/config/validation/validation.go`` (``ValidatePeerAuthentication``) and
the CEL rules of the PeerAuthentication CRD (istio/api ``security/v1beta1/peer_authentication.proto``).
The workload selector is judged by the metadata family (ML304, ML320).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from meshlint.diagnostics import Severity
from meshlint.resource import Resource
from meshlint.rules import Finding, rule

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
          portLevelMtls:  # expect: ML701@3 spec.portLevelMtls
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
def peer_auth_port_level_mtls(res: Resource) -> Iterator[Finding]:
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
