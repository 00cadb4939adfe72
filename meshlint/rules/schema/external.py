"""ML210: resources of kinds meshlint does not model, against JSON Schemas the user points to.

The validation itself is a stage of the engine (meshlint/schemas/external.py); this module
declares the rule its findings carry.
"""

from __future__ import annotations

from meshlint.diagnostics import Severity
from meshlint.rules import rule

rule(
    "ML210",
    "external-schema",
    Severity.ERROR,
    scope="stage",
    summary="A resource of a kind meshlint does not model breaks its JSON Schema.",
    rationale="""
        meshlint models the Istio kinds and the Kubernetes kinds the mesh rules read. Other
        resources that travel with them (ConfigMaps, cert-manager Certificates, Gateway API
        HTTPRoutes, any custom resource) are checked, as kubeconform checks them, against JSON
        Schemas you point to with `--schema-location` (repeatable) or `schema-locations:` in the
        configuration: a folder of schemas (kubernetes-json-schema, the CRDs catalog, the output
        of openapi2jsonschema) or a path or URL template such as
        `schemas/{group}/{kind}_{version}.json`. This rule never fires without a location, and a
        kind with no schema in any location is skipped. Each violation is reported at the field
        it concerns: a value of the wrong type, a value outside an enum, a missing required field
        (at the object that lacks it), a field the schema does not allow (at its key).
    """,
    bad="""
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: reviews-settings
          namespace: shop
        data:
          port: 9080  # expect: ML210@9 data.port
          verbose: true  # expect: ML210@12 data.verbose
    """,
    good="""
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: reviews-settings
          namespace: shop
        data:
          port: "9080"
          verbose: "true"
    """,
)
