"""ML3xx: metadata (names, namespaces, labels, annotations) and unrendered template placeholders."""

from __future__ import annotations

from collections.abc import Iterator

from meshlint.diagnostics import Severity
from meshlint.resource import Resource
from meshlint.rules import Finding, rule


@rule(
    "ML301", "missing-name", Severity.ERROR,
    summary="The resource has no `metadata.name`.",
    rationale="""
        Every resource needs a name (or a `generateName`, which `kubectl apply` does not
        accept). Without one the API server rejects it.
    """,
    bad="""
        apiVersion: networking.istio.io/v1
        kind: Gateway
        metadata:
          namespace: shop
        spec:
          selector:
            istio: ingressgateway
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
    """,
)
def missing_name(res: Resource) -> Iterator[Finding]:
    meta = res.data.get("metadata")
    if not isinstance(meta, dict):
        if "metadata" not in res.data:
            yield Finding((), "the resource has no `metadata` (and so no name)", key=True)
        return
    if "generateName" in meta and "name" not in meta:
        return
    name = meta.get("name")
    if name is None or (isinstance(name, str) and not name.strip()):
        yield Finding(("metadata", "name") if "name" in meta else ("metadata",),
                      "`metadata.name` is missing or empty", key=True)
