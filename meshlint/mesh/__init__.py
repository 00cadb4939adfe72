"""The mesh layer: what the cross-resource rules and the translation know of a whole run.

:mod:`meshlint.mesh.records` holds what is kept of each resource, :mod:`meshlint.mesh.index` the
index over all of them (hosts, visibility, subsets, gateways, workloads, selectors, mTLS per
port). Modules of this package import each other by their own names, never through this one.
"""

from meshlint.mesh.index import (
    PEER_MODES,
    MeshIndex,
    MeshSettings,
    PeerMode,
    Workload,
    export_scope,
    has_target_refs,
    wildcard_keys,
    workload_selector,
)
from meshlint.mesh.records import (
    CONTAINER_PORTS,
    DEFAULT_NAMESPACE,
    DEFAULT_ROOT_NAMESPACE,
    ISTIO_KINDS,
    MESH_CONFIG,
    MESH_GATEWAY,
    MESH_KINDS,
    POD_ANNOTATIONS,
    POD_LABELS,
    REPLICAS,
    SERVICE_ACCOUNT,
    SUPPRESS_ANNOTATIONS,
    UNMODELLED_MESH_KINDS,
    WORKLOAD_KINDS,
    Record,
    label_map,
    light_data,
    pod_labels,
    selects,
)

__all__ = [
    "CONTAINER_PORTS",
    "DEFAULT_NAMESPACE",
    "DEFAULT_ROOT_NAMESPACE",
    "ISTIO_KINDS",
    "MESH_CONFIG",
    "MESH_GATEWAY",
    "MESH_KINDS",
    "PEER_MODES",
    "POD_ANNOTATIONS",
    "POD_LABELS",
    "REPLICAS",
    "SERVICE_ACCOUNT",
    "SUPPRESS_ANNOTATIONS",
    "UNMODELLED_MESH_KINDS",
    "WORKLOAD_KINDS",
    "MeshIndex",
    "MeshSettings",
    "PeerMode",
    "Record",
    "Workload",
    "export_scope",
    "has_target_refs",
    "label_map",
    "light_data",
    "pod_labels",
    "selects",
    "wildcard_keys",
    "workload_selector",
]
