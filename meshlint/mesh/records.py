"""What the cross-resource stage keeps of each resource: a :class:`Record`.

The engine keeps a Record of each resource of a kind the cross-resource rules read while it lints
file by file (the node trees are freed as it goes); only what some rule reads is kept
(:func:`light_data`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from meshlint.loader import Places

DEFAULT_NAMESPACE = "default"
DEFAULT_ROOT_NAMESPACE = "istio-system"
WORKLOAD_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Pod"})
# The Istio kinds whose whole spec the cross-resource rules may read.
ISTIO_KINDS = frozenset(
    {
        "VirtualService",
        "DestinationRule",
        "ServiceEntry",
        "Gateway",
        "Sidecar",
        "PeerAuthentication",
        "RequestAuthentication",
        "AuthorizationPolicy",
        "Telemetry",
    }
)
# The kinds the cross-resource rules read; the engine keeps a Record of each of these only.
MESH_KINDS = (
    WORKLOAD_KINDS
    | ISTIO_KINDS
    | {"Service", "Namespace", "ServiceAccount", "Secret", "ConfigMap", "WorkloadEntry"}
)
# Kinds meshlint has no model of whose Records are kept all the same (Gateway: the Gateway API's,
# which VirtualServices may name; Secret: gateway credentials; ConfigMap: Istio's mesh config;
# WorkloadEntry: endpoints of ServiceEntries, for the translation).
UNMODELLED_MESH_KINDS = frozenset({"Gateway", "Secret", "ConfigMap", "WorkloadEntry"})
MESH_GATEWAY = "mesh"
# Where a workload's Record keeps what its pods carry (a Pod's own, a controller's template's).
POD_LABELS = "podLabels"
POD_ANNOTATIONS = "podAnnotations"
SERVICE_ACCOUNT = "serviceAccountName"
CONTAINER_PORTS = "containerPorts"  # [{"containerPort": 8080, "name": ..., "protocol": ...}]
REPLICAS = "replicas"
MESH_CONFIG = "meshConfig"  # the parsed `mesh` key of Istio's ConfigMap
# The annotations that suppress findings on a resource (the engine reads them).
SUPPRESS_ANNOTATIONS = ("meshlint.io/ignore", "galley.istio.io/analyze-suppress")
DRY_RUN = "istio.io/dry-run"  # an AuthorizationPolicy only reported, not enforced


@dataclass(frozen=True, slots=True)
class Record:
    """A resource as the cross-resource stage needs it: where it is, what it is, its data."""

    file: str
    doc: int  # index of the YAML document in the file
    item: int | None  # position in the items of a List document
    kind: str
    group: str
    namespace: str | None  # as written; None when the manifest names none
    name: str
    data: dict[str, Any]  # what the rules read of it: see light_data
    line: int  # the resource's first line, to name it in messages
    # where each of its fields is written, to place the findings on it (None: at `line`)
    places: Places | None = field(default=None, compare=False, repr=False)
    # derived from the above, once: every rule reads them, many times
    effective_namespace: str = field(init=False, compare=False, repr=False)
    spec: dict[str, Any] = field(init=False, compare=False, repr=False)

    def __reduce__(self) -> tuple[Any, ...]:
        # (a helper process sends thousands of them: the constructor's arguments pickle in C)
        return (
            Record,
            (
                self.file, self.doc, self.item, self.kind, self.group, self.namespace, self.name,
                self.data, self.line, self.places,
            ),
        )  # fmt: skip

    def __post_init__(self) -> None:
        spec = self.data.get("spec")
        object.__setattr__(self, "spec", spec if isinstance(spec, dict) else {})
        object.__setattr__(self, "effective_namespace", self.namespace or DEFAULT_NAMESPACE)

    @property
    def key(self) -> str:
        return f"{self.kind or '?'}/{self.effective_namespace}/{self.name or '<unnamed>'}"

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"

    @property
    def place(self) -> str:
        """Where the resource goes: its namespace as written, or, when it names none (it then
        goes wherever it is applied), its file: two such resources meet only in one file."""
        return self.namespace if self.namespace is not None else "\0" + self.file


# What the cross-resource rules read of the Kubernetes kinds' specs; the rest is not kept (a run
# may hold thousands of resources, and their node trees are freed file by file). The Istio kinds
# keep their whole spec: every field of them is some rule's business.
_SERVICE_KEYS = ("selector", "ports", "type", "externalName")
# The labels of Namespaces and Services (ambient mode, waypoints, injection) are read; those of
# other kinds are not kept. The suppression annotations are kept for every kind.
_LABELLED_KINDS = frozenset({"Namespace", "Service"})


def light_data(kind: str, data: dict[str, Any]) -> dict[str, Any]:
    """The part of a resource's data the cross-resource stage reads."""
    out: dict[str, Any] = {}
    meta = data.get("metadata")
    if isinstance(meta, dict):
        light: dict[str, Any] = {}
        if kind in _LABELLED_KINDS and "labels" in meta:
            light["labels"] = meta["labels"]
        annotations = meta.get("annotations")
        if isinstance(annotations, dict):
            kept = {k: annotations[k] for k in annotations if _kept_annotation(kind, k)}
            if kept:
                light["annotations"] = kept
        if kind == "Pod":
            _pod(out, meta, data.get("spec"))
        if light:
            out["metadata"] = light
    spec = data.get("spec")
    if kind == "Secret":
        for key in ("type", "data", "stringData"):
            if key in data:
                out[key] = data[key]
    elif kind == "ConfigMap":
        config = data.get("data")
        mesh = config.get("mesh") if isinstance(config, dict) else None
        if isinstance(mesh, str):
            out[MESH_CONFIG] = _mesh_config(mesh)
    if not isinstance(spec, dict):
        return out
    if kind in ISTIO_KINDS or kind == "WorkloadEntry":  # (endpoints of ServiceEntries)
        out["spec"] = spec
    elif kind == "Service":
        out["spec"] = {k: spec[k] for k in _SERVICE_KEYS if k in spec}
    elif kind in WORKLOAD_KINDS and kind != "Pod":
        if REPLICAS in spec:
            out[REPLICAS] = spec[REPLICAS]
        template = spec.get("template")
        if isinstance(template, dict):
            tmeta = template.get("metadata")
            _pod(out, tmeta if isinstance(tmeta, dict) else {}, template.get("spec"))
    return out


def _kept_annotation(kind: str, key: str) -> bool:
    return (
        key in SUPPRESS_ANNOTATIONS
        or (kind in ("Service", "Namespace") and key.startswith("networking.istio.io/"))
        or (kind == "AuthorizationPolicy" and key == DRY_RUN)  # the translation reads it
    )


def _pod(out: dict[str, Any], meta: dict[str, Any], spec: Any) -> None:
    """What a pod (or a controller's pod template) says: labels, Istio annotations, service
    account and container ports."""
    if "labels" in meta:
        out[POD_LABELS] = meta["labels"]
    annotations = meta.get("annotations")
    if isinstance(annotations, dict):
        kept = {k: v for k, v in annotations.items() if isinstance(k, str) and "istio.io" in k}
        if kept:
            out[POD_ANNOTATIONS] = kept
    if not isinstance(spec, dict):
        return
    account = spec.get("serviceAccountName", spec.get("serviceAccount"))
    if account is not None:
        out[SERVICE_ACCOUNT] = account
    ports: list[Any] = []
    for key in ("containers", "initContainers"):
        containers = spec.get(key)
        for container in containers if isinstance(containers, list) else ():
            if isinstance(container, dict) and isinstance(container.get("ports"), list):
                ports.extend(p for p in container["ports"] if isinstance(p, dict))
    if ports:
        out[CONTAINER_PORTS] = ports


def _mesh_config(text: str) -> dict[str, Any] | None:
    """The MeshConfig a ConfigMap holds as YAML text, or None when it is not a mapping."""
    import yaml

    try:
        value = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError:
        return None
    return value if isinstance(value, dict) else None


def label_map(value: Any) -> dict[str, str] | None:
    """A label map of plain strings, or None when it is missing or malformed."""
    if not isinstance(value, dict):
        return None
    for k, v in value.items():
        if not (isinstance(k, str) and isinstance(v, str)):
            return None
    return value


def pod_labels(rec: Record) -> dict[str, str] | None:
    """The labels the pods of a workload carry (a Pod's own, a controller's pod template's),
    which :func:`light_data` keeps under their own key."""
    return label_map(rec.data.get(POD_LABELS))


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    """Whether pods with ``labels`` carry every label of ``selector``."""
    get = labels.get
    for k, v in selector.items():  # noqa: SIM110 - a loop: twice as fast as all() here
        if get(k) != v:
            return False
    return True
