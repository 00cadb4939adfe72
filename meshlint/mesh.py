"""The mesh as a whole: what every resource of a run says about hosts, subsets, gateways and
workloads, indexed once so that cross-resource rules look things up instead of comparing every
resource with every other.

The engine keeps a :class:`Record` of each resource of a modelled kind while it lints file by
file (the node trees are freed as it goes); after the last file it builds a :class:`MeshIndex`
from the records, in file order, and runs the cross-resource rules once.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

DEFAULT_NAMESPACE = "default"
WORKLOAD_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Pod"})
# The kinds the cross-resource rules read; the engine keeps a Record of each of these only.
MESH_KINDS = WORKLOAD_KINDS | {
    "VirtualService",
    "DestinationRule",
    "ServiceEntry",
    "Gateway",
    "Service",
    "Namespace",
}
MESH_GATEWAY = "mesh"
POD_LABELS = "podLabels"  # where a workload's Record keeps the labels of its pods
# The annotations that suppress findings on a resource (the engine reads them).
SUPPRESS_ANNOTATIONS = ("meshlint.io/ignore", "galley.istio.io/analyze-suppress")


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

    @property
    def effective_namespace(self) -> str:
        return self.namespace or DEFAULT_NAMESPACE

    @property
    def spec(self) -> dict[str, Any]:
        spec = self.data.get("spec")
        return spec if isinstance(spec, dict) else {}

    @property
    def key(self) -> str:
        return f"{self.kind or '?'}/{self.effective_namespace}/{self.name or '<unnamed>'}"

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


# What the cross-resource rules read of each kind's spec; the rest is not kept (a run may hold
# thousands of resources, and their node trees and full data are freed file by file).
_SPEC_KEYS: dict[str, tuple[str, ...]] = {
    "VirtualService": ("hosts", "gateways", "exportTo"),  # and the routes: _light_route
    "DestinationRule": ("host", "subsets", "exportTo"),
    "ServiceEntry": ("hosts", "exportTo", "workloadSelector"),
    "Service": ("selector",),
    "Gateway": ("selector",),
}


def light_data(kind: str, data: dict[str, Any]) -> dict[str, Any]:
    """The part of a resource's data the cross-resource stage reads."""
    out: dict[str, Any] = {}
    meta = data.get("metadata")
    if isinstance(meta, dict):
        light: dict[str, Any] = {}
        annotations = meta.get("annotations")
        if isinstance(annotations, dict):
            kept = {k: annotations[k] for k in SUPPRESS_ANNOTATIONS if k in annotations}
            if kept:
                light["annotations"] = kept
        if kind == "Pod" and "labels" in meta:
            out[POD_LABELS] = meta["labels"]
        if light:
            out["metadata"] = light
    spec = data.get("spec")
    if not isinstance(spec, dict):
        return out
    if kind in _SPEC_KEYS:
        light = out["spec"] = {k: spec[k] for k in _SPEC_KEYS[kind] if k in spec}
        if kind == "DestinationRule" and isinstance(light.get("subsets"), list):
            light["subsets"] = [
                {k: v for k, v in subset.items() if k in ("name", "labels")}
                if isinstance(subset, dict)
                else None
                for subset in light["subsets"]
            ]
        if kind == "VirtualService":
            for section in ("http", "tcp", "tls"):
                if isinstance(spec.get(section), list):
                    light[section] = [_light_route(r) for r in spec[section]]
    elif kind in WORKLOAD_KINDS and kind != "Pod":
        template = spec.get("template")
        tmeta = template.get("metadata") if isinstance(template, dict) else None
        if isinstance(tmeta, dict) and "labels" in tmeta:
            out[POD_LABELS] = tmeta["labels"]
    return out


def _light_route(rule: Any) -> Any:
    """A route rule with its destinations, mirrors and match gateways, at their positions."""
    if not isinstance(rule, dict):
        return None
    out: dict[str, Any] = {}
    if "mirror" in rule:
        out["mirror"] = rule["mirror"]
    for key in ("route", "mirrors"):
        if isinstance(rule.get(key), list):
            out[key] = [
                {"destination": d["destination"]}
                if isinstance(d, dict) and "destination" in d
                else {}
                for d in rule[key]
            ]
    match = rule.get("match")
    if isinstance(match, list):
        out["match"] = [
            {"gateways": m["gateways"]} if isinstance(m, dict) and "gateways" in m else {}
            for m in match
        ]
    return out


def label_map(value: Any) -> dict[str, str] | None:
    """A label map of plain strings, or None when it is missing or malformed."""
    if not isinstance(value, dict):
        return None
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        return None
    return value


def pod_labels(rec: Record) -> dict[str, str] | None:
    """The labels the pods of a workload carry (a Pod's own, a controller's pod template's),
    which :func:`light_data` keeps under their own key."""
    return label_map(rec.data.get(POD_LABELS))


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def _wildcard_keys(host: str) -> Iterator[str]:
    """The wildcard hosts that would cover ``host``: ``a.b.c`` → ``*.b.c``, ``*.c``, ``*``."""
    rest = host[2:] if host.startswith("*.") else host
    while "." in rest:
        rest = rest.split(".", 1)[1]
        yield "*." + rest
    yield "*"


class MeshIndex:
    """Hosts, namespaces, subsets, gateways and workloads of one run.

    Host names are resolved as Istio resolves them, in the namespace of the resource that
    writes them: a name without a dot is ``name.<namespace>.svc.<cluster domain>``; anything
    else is taken as written. A Service is also known as ``name.ns`` and ``name.ns.svc``, so a
    host written that way is recognised as the Service it names; so is any ``name.ns`` whose
    ``ns`` is a namespace of the run (:meth:`canonical`).
    """

    def __init__(
        self,
        records: Iterable[Record],
        cluster_domain: str = "cluster.local",
        namespaces: Iterable[str] = (),
    ) -> None:
        self.domain = cluster_domain
        self.records: list[Record] = list(records)
        # The namespaces the run holds resources of. VirtualServices do not count: one that
        # names a gateway of its namespace says nothing about what else that namespace holds.
        self.namespaces: set[str] = set(namespaces)
        # canonical host (Service FQDN or ServiceEntry host) → the resources that define it
        self.services: dict[str, list[Record]] = {}
        self._aliases: dict[str, str] = {}  # name.ns, name.ns.svc → the Service's FQDN
        self._wildcard_hosts: dict[str, list[Record]] = {}  # ServiceEntry `*.example.com`
        self.destination_rules: dict[str, list[Record]] = {}  # canonical host → DRs
        self._wildcard_rules: dict[str, list[Record]] = {}
        self.gateways: dict[tuple[str, str], Record] = {}  # (namespace, name) → Gateway
        self.workloads: dict[str, list[tuple[Record, dict[str, str]]]] = {}  # by namespace
        self._by_label: dict[tuple[str, str, str], list[tuple[Record, dict[str, str]]]] = {}
        self.virtual_services: list[Record] = []
        # Namespaces that the run holds a Service of (named in its manifest), and the files
        # that hold Services naming no namespace (they go wherever they are applied).
        self.service_namespaces: set[str] = set()
        self.unplaced_service_files: set[str] = set()
        self.has_destination_rules = False
        # every namespace named by a resource, VirtualServices included, to read `name.ns`
        self._all_namespaces = {rec.effective_namespace for rec in self.records}
        for rec in self.records:
            self._add(rec)

    # ---------------------------------------------------------------------------------------
    def _add(self, rec: Record) -> None:
        ns = rec.effective_namespace
        kind = rec.kind
        if kind != "VirtualService":
            self.namespaces.add(ns)
        if kind == "Namespace" and rec.name:
            self.namespaces.add(rec.name)
        elif kind == "Service" and rec.group == "" and rec.name:
            fqdn = f"{rec.name}.{ns}.svc.{self.domain}"
            self.services.setdefault(fqdn, []).append(rec)
            self._aliases[f"{rec.name}.{ns}"] = fqdn
            if rec.namespace is not None:
                self.service_namespaces.add(ns)
            else:
                self.unplaced_service_files.add(rec.file)
            self._aliases[f"{rec.name}.{ns}.svc"] = fqdn
        elif kind == "ServiceEntry":
            hosts = rec.spec.get("hosts")
            for h in hosts if isinstance(hosts, list) else ():
                if not isinstance(h, str) or not h:
                    continue
                table = self._wildcard_hosts if h.startswith("*") else self.services
                table.setdefault(h, []).append(rec)
        elif kind == "DestinationRule":
            self.has_destination_rules = True
            host = rec.spec.get("host")
            if isinstance(host, str) and host:
                key = self.canonical(host, ns)
                table = self._wildcard_rules if key.startswith("*") else self.destination_rules
                table.setdefault(key, []).append(rec)
        elif kind == "Gateway" and rec.name:
            self.gateways.setdefault((ns, rec.name), rec)
        elif kind == "VirtualService":
            self.virtual_services.append(rec)
        elif kind in WORKLOAD_KINDS and rec.group in ("", "apps"):
            labels = pod_labels(rec)
            if labels is not None:
                entry = (rec, labels)
                self.workloads.setdefault(ns, []).append(entry)
                for k, v in labels.items():
                    self._by_label.setdefault((ns, k, v), []).append(entry)

    # ---------------------------------------------------------------------------------------
    def resolve(self, host: str, namespace: str) -> str:
        """A host as Istio reads it in ``namespace``: short names get the namespace and domain."""
        if "." in host or host == "*" or ":" in host:
            return host
        return f"{host}.{namespace}.svc.{self.domain}"

    def canonical(self, host: str, namespace: str) -> str:
        """The name the index files ``host`` under: a Service's FQDN when it names one."""
        resolved = self.resolve(host, namespace)
        found = self._aliases.get(resolved)
        if found is not None:
            return found
        parts = resolved.split(".")
        if (len(parts) == 2 or (len(parts) == 3 and parts[2] == "svc")) and (
            parts[1] in self._all_namespaces
        ):
            return f"{parts[0]}.{parts[1]}.svc.{self.domain}"
        return resolved

    def definitions(self, host: str) -> list[Record]:
        """The Services and ServiceEntries that define a canonical host (wildcards included)."""
        found = list(self.services.get(host, ()))
        if self._wildcard_hosts and not host.startswith("*"):
            for key in _wildcard_keys(host):
                found.extend(self._wildcard_hosts.get(key, ()))
        elif host.startswith("*"):
            found.extend(self._wildcard_hosts.get(host, ()))
        return found

    def rules_for(self, host: str) -> list[Record]:
        """The DestinationRules whose host is ``host`` or a wildcard that covers it."""
        found = list(self.destination_rules.get(host, ()))
        if self._wildcard_rules:
            if host.startswith("*"):
                found.extend(self._wildcard_rules.get(host, ()))
            for key in _wildcard_keys(host):
                found.extend(self._wildcard_rules.get(key, ()))
        return found

    def cluster_namespace(self, host: str) -> str | None:
        """The namespace of a cluster-local FQDN (``name.ns.svc.<domain>``), else None."""
        parts = host.split(".", 3)
        if len(parts) == 4 and parts[2] == "svc" and parts[3] == self.domain and parts[0]:
            return parts[1] or None
        return None

    def kubernetes_services(self, host: str) -> list[Record]:
        return [r for r in self.services.get(host, ()) if r.kind == "Service"]

    def gateway(self, ref: str, namespace: str) -> tuple[str, str]:
        """A VirtualService's gateway reference as (namespace, name).

        ``ns/name`` names both; ``name`` is in the VirtualService's namespace; the older
        ``name.ns`` (or ``name.ns.svc.cluster.local``) form is read as istiod reads it.
        """
        if "/" in ref:
            ns, _, name = ref.partition("/")
            return ns, name
        if "." in ref:
            parts = ref.split(".")
            return parts[1], parts[0]
        return namespace, ref

    def workloads_selected(
        self, namespace: str, selector: dict[str, str]
    ) -> list[tuple[Record, dict[str, str]]]:
        """The workloads of ``namespace`` whose pods carry every label of ``selector``, with
        their pod labels."""
        if not selector:
            return []
        smallest: list[tuple[Record, dict[str, str]]] | None = None
        for k, v in selector.items():
            found = self._by_label.get((namespace, k, v))
            if not found:
                return []
            if smallest is None or len(found) < len(smallest):
                smallest = found
        assert smallest is not None
        return [(rec, labels) for rec, labels in smallest if selects(selector, labels)]
