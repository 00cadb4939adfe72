"""The mesh as a whole: what every resource of a run says about hosts, subsets, gateways and
workloads, indexed once so that cross-resource rules look things up instead of comparing every
resource with every other.

After the last file the engine builds a :class:`MeshIndex` from the records of the run, in file
order, and runs each cross-resource rule on the records of its kinds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any, NamedTuple, TypeVar

from meshlint.mesh.records import (
    DEFAULT_ROOT_NAMESPACE,
    MESH_CONFIG,
    WORKLOAD_KINDS,
    Record,
    label_map,
    pod_labels,
    selects,
)


def wildcard_keys(host: str) -> Iterator[str]:
    """The wildcard hosts that would cover ``host``: ``a.b.c`` → ``*.b.c``, ``*.c``, ``*``."""
    rest = host[2:] if host.startswith("*.") else host
    dot = rest.find(".")
    while dot >= 0:
        rest = rest[dot + 1 :]
        yield "*." + rest
        dot = rest.find(".")
    yield "*"


@dataclass(frozen=True)
class MeshSettings:
    """What the configuration tells the cross-resource stage about the world outside the run."""

    cluster_domain: str = "cluster.local"
    root_namespace: str = DEFAULT_ROOT_NAMESPACE
    # Hosts (glob patterns, matched against the resolved FQDN and the host as written) and
    # namespaces that exist although the run does not hold them: references to them are taken
    # as resolved.
    external_hosts: tuple[str, ...] = ()
    external_namespaces: tuple[str, ...] = ()
    # MeshConfig extension provider names, when Istio's ConfigMap is not in the run.
    extension_providers: tuple[str, ...] = ()
    # MeshConfig enableAutoMtls, when Istio's ConfigMap is not in the run (None: Istio's default)
    enable_auto_mtls: bool | None = None
    trust_domain: str = "cluster.local"


PEER_MODES = ("UNSET", "DISABLE", "PERMISSIVE", "STRICT")


class PeerMode(NamedTuple):
    """The mutual TLS mode a workload's port ends up with, and where it comes from."""

    mode: str  # DISABLE, PERMISSIVE or STRICT
    source: Record | None  # the PeerAuthentication that decided it; None: Istio's default
    scope: str  # "port", "workload", "namespace", "mesh" or "default"


_GROUPS = {
    "Gateway": "networking.istio.io",
    "Secret": "",
    "ConfigMap": "",
    "Service": "",
    "Namespace": "",
    "ServiceAccount": "",
}


def _is_mesh_config_map(name: str) -> bool:
    """Istio's mesh config: the ConfigMap `istio`, or `istio-<revision>`."""
    return name == "istio" or (name.startswith("istio-") and "-" not in name[6:])


def export_scope(value: Any, own: str) -> set[str] | None:
    """The namespaces an `exportTo` list makes a resource visible to: None for every namespace
    (absent, empty or holding `*`), else the named ones (`.` is the resource's own; `~` none)."""
    if not isinstance(value, list) or not value:
        return None
    out: set[str] = set()
    for item in value:
        if not isinstance(item, str):
            continue
        if item == "*":
            return None
        if item == ".":
            out.add(own)
        elif item != "~":
            out.add(item)
    return out


def has_target_refs(rec: Record) -> bool:
    """Whether a policy binds by `targetRef`/`targetRefs` rather than by a selector."""
    spec = rec.spec
    return bool(spec.get("targetRef")) or bool(spec.get("targetRefs"))


def workload_selector(rec: Record) -> dict[str, str] | None:
    """The labels a resource selects its workloads by, or None when it selects none (applies
    to its whole namespace) or the selector is malformed: Gateways `spec.selector`; Sidecars
    and ServiceEntries `spec.workloadSelector.labels`; DestinationRules
    `spec.workloadSelector.matchLabels`; the security kinds and Telemetry
    `spec.selector.matchLabels`. An empty selector is None too."""
    spec = rec.spec
    if rec.kind == "Gateway":
        found = label_map(spec.get("selector"))
    elif rec.kind in ("Sidecar", "DestinationRule", "ServiceEntry"):
        sel = spec.get("workloadSelector")
        key = "matchLabels" if rec.kind == "DestinationRule" else "labels"
        found = label_map(sel.get(key)) if isinstance(sel, dict) else None
    else:
        sel = spec.get("selector")
        found = label_map(sel.get("matchLabels")) if isinstance(sel, dict) else None
    return found or None


_T = TypeVar("_T")
_K = TypeVar("_K")
_MISSING: Any = object()  # no answer yet (None may be one)
Workload = tuple[Record, dict[str, str]]  # a workload's record and its pods' labels


class MeshIndex:
    """Hosts, namespaces, subsets, gateways and workloads of one run.

    Host names are resolved as Istio resolves them, in the namespace of the resource that
    writes them: a name without a dot is ``name.<namespace>.svc.<cluster domain>``; anything
    else is taken as written (:meth:`resolve`). A Service is also known as ``name.ns`` and
    ``name.ns.svc``, so a host written that way is recognised as the Service it was meant to
    name; so is any ``name.ns`` whose ``ns`` is a namespace of the run, unless a ServiceEntry
    has that host (:meth:`canonical`). istiod itself does not expand them: ML989 reports them,
    and the translation uses :meth:`resolve`.
    """

    def __init__(
        self,
        records: Iterable[Record],
        namespaces: Iterable[str] = (),
        settings: MeshSettings | None = None,
    ) -> None:
        self.settings = settings or MeshSettings()
        self.domain = self.settings.cluster_domain
        self.root_namespace = self.settings.root_namespace
        self.records: list[Record] = list(records)
        self._order: dict[int, int] | None = None
        # answers of memo, memo_by and of_record, by the function that gives them
        self._memo: dict[Callable[..., Any], Any] = {}
        self._keyed: dict[Callable[..., Any], dict[Any, Any]] = {}
        self._of_record: dict[Callable[..., Any], dict[int, Any]] = {}
        # answers worked out once per key: runs often hold many copies of one resource
        self._selected: dict[tuple[str, tuple[tuple[str, str], ...]], list[Workload]] = {}
        self._of_host: dict[str, list[Workload]] = {}
        self._anywhere_selected: dict[tuple[tuple[str, str], ...], list[Workload]] = {}
        self._selecting: dict[tuple[str, frozenset[tuple[str, str]]], list[Record]] = {}
        self._peer: dict[tuple[str, frozenset[tuple[str, str]], int | None], PeerMode] = {}
        # Istio and Kubernetes resources by kind, in file order (a Gateway API Gateway, or a
        # kind of another group with a name meshlint reads, is not among them).
        self.by_kind: dict[str, list[Record]] = {}
        self.namespace_records: dict[str, Record] = {}  # Namespace name → its manifest
        self.service_accounts: set[tuple[str, str]] = set()  # (namespace, name)
        self.secrets: dict[tuple[str, str], Record] = {}  # (namespace, name) → Secret
        self.mesh_config: dict[str, Any] | None = None  # Istio's ConfigMap, when in the run
        self.mesh_config_record: Record | None = None
        self._pa_by_ns: dict[str, list[tuple[Record, dict[str, str] | None]]] | None = None
        self._pa_table: (
            dict[
                str,
                tuple[
                    Record | None,
                    dict[tuple[str, str], list[tuple[int, Record, dict[str, str]]]],
                ],
            ]
            | None
        ) = None
        self._svc_by_ns: dict[str, list[Record]] | None = None
        self._across: (
            tuple[dict[tuple[str, str], list[Workload]], dict[str, list[Workload]]] | None
        ) = None
        self._canonical: dict[tuple[str, str], str] = {}
        self._definitions: dict[str, list[Record]] = {}
        self._rules: dict[str, list[Record]] = {}  # host → rules_for(host)
        self._kubernetes: dict[str, list[Record]] = {}  # host → kubernetes_services(host)
        self._scopes: dict[int, set[str] | None] = {}  # id of a Record → its exportTo scope
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
        self._canonical.clear()  # answers given while the aliases were still being filed
        self._definitions.clear()

    # ---------------------------------------------------------------------------------------
    def _add(self, rec: Record) -> None:
        ns = rec.effective_namespace
        kind = rec.kind
        if kind != "VirtualService":
            self.namespaces.add(ns)
        if rec.group == _GROUPS.get(kind, rec.group):
            self.by_kind.setdefault(kind, []).append(rec)
        if kind == "Namespace" and rec.name:
            self.namespaces.add(rec.name)
            self.namespace_records.setdefault(rec.name, rec)
        elif kind == "ServiceAccount" and rec.group == "" and rec.name:
            self.service_accounts.add((ns, rec.name))
        elif kind == "Secret" and rec.group == "" and rec.name:
            self.secrets.setdefault((ns, rec.name), rec)
        elif kind == "ConfigMap" and rec.group == "" and MESH_CONFIG in rec.data:
            root = ns == self.root_namespace and _is_mesh_config_map(rec.name)
            if root and self.mesh_config_record is None:
                self.mesh_config_record = rec
                self.mesh_config = rec.data[MESH_CONFIG]
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
    def records_of(self, kinds: Iterable[str] | None) -> list[Record]:
        """The records of these kinds (every kind: None) in file order, as :attr:`by_kind`
        holds them: a cross-resource rule of these kinds checks each of them."""
        groups = [
            group
            for group in (
                self.by_kind.values() if kinds is None else (self.by_kind.get(k, ()) for k in kinds)
            )
            if group
        ]
        if len(groups) == 1:
            return list(groups[0])  # one kind: filed in file order already
        wanted = [r for group in groups for r in group]
        if len(wanted) < 2:
            return wanted
        order = self._order
        if order is None:
            order = self._order = {id(r): i for i, r in enumerate(self.records)}
        wanted.sort(key=lambda r: order[id(r)])
        return wanted

    def memo(self, fn: Callable[[MeshIndex], _T]) -> _T:
        """``fn(self)``, computed once per run: what a rule works out about the whole run (a
        table of hosts, the first resource of each group) before it checks each record."""
        found: Any = self._memo.get(fn, _MISSING)
        if found is _MISSING:
            found = self._memo[fn] = fn(self)
        return found

    def memo_by(self, fn: Callable[[MeshIndex, _K], _T], key: _K) -> _T:
        """``fn(self, key)``, computed once per run and ``key`` (hashable): what a rule works
        out about one host, namespace or workload, which many records (copies of one resource
        above all) ask again."""
        table = self._keyed.get(fn)
        if table is None:
            table = self._keyed[fn] = {}
        found: Any = table.get(key, _MISSING)
        if found is _MISSING:
            found = table[key] = fn(self, key)
        return found

    def of_record(self, fn: Callable[[MeshIndex, Record], _T], rec: Record) -> _T:
        """``fn(self, rec)``, computed once per run and record of the run: what several rules
        read of one resource (its route destinations, its subsets, its TLS settings). The
        answer is shared: callers read it and never change it."""
        table = self._of_record.get(fn)
        if table is None:
            table = self._of_record[fn] = {}
        key = id(rec)  # (a record of the run lives as long as the index)
        found: Any = table.get(key, _MISSING)
        if found is _MISSING:
            found = table[key] = fn(self, rec)
        return found

    def resolve(self, host: str, namespace: str) -> str:
        """A host as Istio reads it in ``namespace``: short names get the namespace and domain."""
        if "." in host or host == "*" or ":" in host:
            return host
        return f"{host}.{namespace}.svc.{self.domain}"

    def canonical(self, host: str, namespace: str) -> str:
        """The name the index files ``host`` under: a Service's FQDN when it names one."""
        key = (host, namespace)
        found = self._canonical.get(key)
        if found is None:
            found = self._canonical[key] = self._canonical_of(host, namespace)
        return found

    def _canonical_of(self, host: str, namespace: str) -> str:
        resolved = self.resolve(host, namespace)
        found = self._aliases.get(resolved)
        if found is not None:
            return found
        if resolved in self.services:
            return resolved  # a ServiceEntry host, written `name.ns`: istiod finds it as written
        parts = resolved.split(".")
        if (len(parts) == 2 or (len(parts) == 3 and parts[2] == "svc")) and (
            parts[1] in self._all_namespaces
        ):
            return f"{parts[0]}.{parts[1]}.svc.{self.domain}"
        return resolved

    def definitions(self, host: str) -> list[Record]:
        """The Services and ServiceEntries that define a canonical host (wildcards included)."""
        found = self._definitions.get(host)
        if found is None:
            found = self._definitions[host] = self._definitions_of(host)
        return list(found)

    def _definitions_of(self, host: str) -> list[Record]:
        found = list(self.services.get(host, ()))
        if self._wildcard_hosts and not host.startswith("*"):
            for key in wildcard_keys(host):
                found.extend(self._wildcard_hosts.get(key, ()))
        elif host.startswith("*"):
            found.extend(self._wildcard_hosts.get(host, ()))
        return found

    def rules_for(self, host: str) -> list[Record]:
        """The DestinationRules whose host is ``host`` or a wildcard that covers it."""
        found = self._rules.get(host)
        if found is None:
            found = self._rules[host] = self._rules_for(host)
        return list(found)

    def _rules_for(self, host: str) -> list[Record]:
        found = list(self.destination_rules.get(host, ()))
        if self._wildcard_rules:
            if host.startswith("*"):
                found.extend(self._wildcard_rules.get(host, ()))
            for key in wildcard_keys(host):
                found.extend(self._wildcard_rules.get(key, ()))
        return found

    def cluster_namespace(self, host: str) -> str | None:
        """The namespace of a cluster-local FQDN (``name.ns.svc.<domain>``), else None."""
        parts = host.split(".", 3)
        if len(parts) == 4 and parts[2] == "svc" and parts[3] == self.domain and parts[0]:
            return parts[1] or None
        return None

    def holds_services_of(self, namespace: str, rec: Record) -> bool:
        """Whether the run holds the Services of ``namespace``, as seen from ``rec``: Services
        that name the namespace, or (for a resource naming none, which goes wherever it is
        applied) Services naming none in its file."""
        if namespace in self.service_namespaces:
            return True
        return (
            rec.namespace is None
            and namespace == rec.effective_namespace
            and rec.file in self.unplaced_service_files
        )

    def kubernetes_services(self, host: str) -> list[Record]:
        """The Kubernetes Services of a canonical host (not its ServiceEntries)."""
        found = self._kubernetes.get(host)
        if found is None:
            found = self._kubernetes[host] = [
                r for r in self.services.get(host, ()) if r.kind == "Service"
            ]
        return list(found)

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
        items = selector.items()
        key = (namespace, tuple(items) if len(items) == 1 else tuple(sorted(items)))
        found = self._selected.get(key)
        if found is None:
            found = self._selected[key] = self._workloads_selected(namespace, selector)
        return list(found)

    def _workloads_selected(self, namespace: str, selector: dict[str, str]) -> list[Workload]:
        smallest: list[tuple[Record, dict[str, str]]] | None = None
        for k, v in selector.items():
            found = self._by_label.get((namespace, k, v))
            if not found:
                return []
            if smallest is None or len(found) < len(smallest):
                smallest = found
        assert smallest is not None
        return [(rec, labels) for rec, labels in smallest if selects(selector, labels)]

    def auto_mtls(self) -> tuple[bool, str | None]:
        """Whether auto-mTLS is on, and what says so: Istio's ConfigMap in the run (its
        `enableAutoMtls`, on when it sets none), else the `enable-auto-mtls` option; None
        for Istio's default, on."""
        config = self.mesh_config
        if self.mesh_config_record is not None and isinstance(config, dict):
            value = config.get("enableAutoMtls")
            where = f"{self.mesh_config_record.key}, {self.mesh_config_record.where}"
            return (value if isinstance(value, bool) else True), where
        if self.settings.enable_auto_mtls is not None:
            return self.settings.enable_auto_mtls, "the `enable-auto-mtls` option"
        return True, None

    # ---------------------------------------------------------------------------------------
    # outside the run: what the configuration says exists elsewhere

    def is_external(self, host: str, written: str | None = None) -> bool:
        """Whether the configuration says ``host`` (canonical) exists outside the run: it
        matches an `external-hosts` pattern (as resolved or as ``written``), or it is a
        cluster host of an `external-namespaces` namespace."""
        for pattern in self.settings.external_hosts:
            if fnmatchcase(host, pattern) or (
                written is not None and fnmatchcase(written, pattern)
            ):
                return True
        ns = self.cluster_namespace(host)
        return ns is not None and self.is_external_namespace(ns)

    def is_external_namespace(self, namespace: str) -> bool:
        return any(fnmatchcase(namespace, p) for p in self.settings.external_namespaces)

    def known_namespace(self, namespace: str) -> bool:
        """A namespace the run holds resources of, or one the configuration names."""
        return namespace in self.namespaces or self.is_external_namespace(namespace)

    # ---------------------------------------------------------------------------------------
    # visibility

    def visible(self, rec: Record, namespace: str) -> bool:
        """Whether ``rec`` (a Service, ServiceEntry, DestinationRule or VirtualService) is
        visible from ``namespace``: its `exportTo` (a Service's `networking.istio.io/exportTo`
        annotation) names it, or names every namespace."""
        scope = self._scopes.get(id(rec), _MISSING)
        if scope is _MISSING:
            scope = self._scope_of(rec)
        return scope is None or namespace in scope

    def exported_everywhere(self, rec: Record) -> bool:
        """Whether ``rec`` (as for :meth:`visible`) is visible from every namespace."""
        scope = self._scopes.get(id(rec), _MISSING)
        if scope is _MISSING:
            scope = self._scope_of(rec)
        return scope is None

    def _scope_of(self, rec: Record) -> set[str] | None:
        if rec.kind == "Service":
            meta = rec.data.get("metadata")
            ann = meta.get("annotations") if isinstance(meta, dict) else None
            raw = ann.get("networking.istio.io/exportTo") if isinstance(ann, dict) else None
            value: Any = [v.strip() for v in raw.split(",")] if isinstance(raw, str) else None
        else:
            value = rec.spec.get("exportTo")
        scope = self._scopes[id(rec)] = export_scope(value, rec.effective_namespace)
        return scope

    # ---------------------------------------------------------------------------------------
    # services, ports and the workloads behind them

    def service_ports(self, host: str) -> list[dict[str, Any]]:
        """The ports of the Kubernetes Services of a canonical host, in the order of the run:
        the ports by which :meth:`workloads_of_host` reaches its workloads (`port`, and the
        `targetPort` on the pods). Ports that are no mapping, and a `ports` that is no list,
        are skipped; empty when the run holds no Service of the host."""
        found: list[dict[str, Any]] = []
        for svc in self.kubernetes_services(host):
            ports = svc.spec.get("ports")
            if isinstance(ports, list):
                found.extend(p for p in ports if isinstance(p, dict))
        return found

    def workloads_of_service(self, svc: Record) -> list[tuple[Record, dict[str, str]]]:
        """The workloads of the run a Service selects (none for a Service without selector)."""
        selector = label_map(svc.spec.get("selector"))
        if not selector:
            return []
        return self.workloads_selected(svc.effective_namespace, selector)

    def workloads_of_host(self, host: str) -> list[tuple[Record, dict[str, str]]]:
        """The workloads behind a canonical host's Kubernetes Services."""
        found = self._of_host.get(host)
        if found is None:
            found = self._of_host[host] = self._workloads_of_host(host)
        return list(found)

    def _workloads_of_host(self, host: str) -> list[Workload]:
        services = self.kubernetes_services(host)
        if len(services) == 1:  # (one Service: its workloads, each once)
            selector = label_map(services[0].spec.get("selector"))
            if not selector:
                return []
            return self.workloads_selected(services[0].effective_namespace, selector)
        seen: dict[int, Workload] = {}
        asked: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
        for svc in services:
            selector = label_map(svc.spec.get("selector"))
            if not selector:
                continue
            # copies of one Service select the same workloads: ask once
            key = (svc.effective_namespace, tuple(sorted(selector.items())))
            if key in asked:
                continue
            asked.add(key)
            for w in self.workloads_selected(svc.effective_namespace, selector):
                seen.setdefault(id(w[0]), w)
        return list(seen.values())

    def services_selecting(self, workloads: list[tuple[Record, dict[str, str]]]) -> list[Record]:
        """The Kubernetes Services of the run whose selector picks one of ``workloads`` (in
        the workload's namespace)."""
        found: dict[int, Record] = {}
        asked: set[tuple[str, frozenset[tuple[str, str]]]] = set()
        for rec, labels in workloads:
            key = (rec.effective_namespace, frozenset(labels.items()))
            if key in asked:  # copies of one workload: the same Services
                continue
            asked.add(key)
            for svc in self._services_selecting(key):
                found.setdefault(id(svc), svc)
        return list(found.values())

    def _services_selecting(self, key: tuple[str, frozenset[tuple[str, str]]]) -> list[Record]:
        """The Services of a namespace that select pods with these labels, once per key."""
        found = self._selecting.get(key)
        if found is None:
            ns, items = key
            labels = dict(items)
            found = self._selecting[key] = [
                svc
                for svc in self._services_by_namespace().get(ns, ())
                if (selector := label_map(svc.spec.get("selector"))) and selects(selector, labels)
            ]
        return found

    def services_in(self, namespace: str) -> list[Record]:
        """The Kubernetes Services of the run in ``namespace``."""
        return list(self._services_by_namespace().get(namespace, ()))

    def _services_by_namespace(self) -> dict[str, list[Record]]:
        if self._svc_by_ns is None:
            self._svc_by_ns = {}
            for svc in self.by_kind.get("Service", ()):
                self._svc_by_ns.setdefault(svc.effective_namespace, []).append(svc)
        return self._svc_by_ns

    def workloads_selected_anywhere(
        self, selector: dict[str, str]
    ) -> list[tuple[Record, dict[str, str]]]:
        """The workloads of every namespace (by namespace name, then in file order) that carry
        every label of ``selector`` (a Gateway selects its proxies across namespaces)."""
        if not selector:
            return []
        key = tuple(sorted(selector.items()))
        found = self._anywhere_selected.get(key)
        if found is None:
            by_label = self._anywhere()[0]
            smallest = min((by_label.get(item, []) for item in selector.items()), key=len)
            found = self._anywhere_selected[key] = [w for w in smallest if selects(selector, w[1])]
        return list(found)

    def workloads_carrying(self, keys: Iterable[str]) -> list[tuple[Record, dict[str, str]]]:
        """The workloads of every namespace whose pods carry every label key of ``keys``,
        whatever the values: the kind of workload a selector is written for."""
        wanted = list(keys)
        if not wanted:
            return []
        by_key = self._anywhere()[1]
        smallest = min((by_key.get(k, []) for k in wanted), key=len)
        return [w for w in smallest if all(k in w[1] for k in wanted)]

    def _anywhere(
        self,
    ) -> tuple[dict[tuple[str, str], list[Workload]], dict[str, list[Workload]]]:
        """The workloads of every namespace by label and by label key, built on first use."""
        if self._across is None:
            by_label: dict[tuple[str, str], list[Workload]] = {}
            by_key: dict[str, list[Workload]] = {}
            for ns in sorted(self.workloads):
                for w in self.workloads[ns]:
                    for k, v in w[1].items():
                        by_label.setdefault((k, v), []).append(w)
                        by_key.setdefault(k, []).append(w)
            self._across = (by_label, by_key)
        return self._across

    def selected_by(self, rec: Record) -> list[tuple[Record, dict[str, str]]] | None:
        """The workloads a resource's workload selector picks in its namespace (a Gateway's in
        any namespace), or None when it has no selector."""
        selector = workload_selector(rec)
        if selector is None:
            return None
        if rec.kind == "Gateway":
            return self.workloads_selected_anywhere(selector)
        return self.workloads_selected(rec.effective_namespace, selector)

    # ---------------------------------------------------------------------------------------
    # mutual TLS

    def peer_mode(
        self, namespace: str, labels: dict[str, str], port: int | None = None
    ) -> PeerMode:
        """The mTLS mode Istio gives a workload of ``namespace`` with pod ``labels`` on the
        (container) ``port``, composed as istiod composes PeerAuthentications: the oldest
        policy whose selector matches the workload (its port-level mode first), then the
        namespace's selector-less policy, then the root namespace's, each used only when its
        mode is set; PERMISSIVE when none sets one. The oldest is the first in the run.
        Worked out once per namespace, labels and port."""
        key = (namespace, frozenset(labels.items()), port)
        found = self._peer.get(key)
        if found is None:
            found = self._peer[key] = self._peer_mode(namespace, labels, port)
        return found

    def _peer_mode(self, namespace: str, labels: dict[str, str], port: int | None) -> PeerMode:
        workload, namespace_wide = self._policies_of(namespace, labels)
        mesh_wide = self._policies_of(self.root_namespace, None)[1]
        if workload is not None:
            if port is not None:
                levels = workload.spec.get("portLevelMtls")
                if isinstance(levels, dict):
                    for key, value in levels.items():
                        if str(key) == str(port):
                            mode = _mode_of(value)
                            if mode is not None:
                                return PeerMode(mode, workload, "port")
            mode = _mode_of(workload.spec.get("mtls"))
            if mode is not None:
                return PeerMode(mode, workload, "workload")
        for wide, scope in ((namespace_wide, "namespace"), (mesh_wide, "mesh")):
            if wide is not None:
                mode = _mode_of(wide.spec.get("mtls"))
                if mode is not None:
                    return PeerMode(mode, wide, scope)
        return PeerMode("PERMISSIVE", None, "default")

    def _policies_of(
        self, namespace: str, labels: dict[str, str] | None
    ) -> tuple[Record | None, Record | None]:
        """The oldest PeerAuthentication of ``namespace`` whose selector picks pods with
        ``labels`` (None: not asked), and its oldest selector-less one."""
        table = self._pa_tables().get(namespace)
        if table is None:
            return None, None
        wide, by_item = table
        if not labels:
            return None, wide
        best: tuple[int, Record] | None = None
        for item in labels.items():
            for i, pa, selector in by_item.get(item, ()):
                if best is not None and i >= best[0]:
                    break  # filed in the order of the run: the rest are younger
                if selects(selector, labels):
                    best = (i, pa)
                    break
        return (best[1] if best else None), wide

    def _pa_tables(
        self,
    ) -> dict[
        str, tuple[Record | None, dict[tuple[str, str], list[tuple[int, Record, dict[str, str]]]]]
    ]:
        """Per namespace: its oldest selector-less PeerAuthentication, and its policies with
        a selector filed under one label of it (each policy once, in the order of the run)."""
        if self._pa_table is None:
            self._pa_table = {}
            for ns, entries in self._peer_authentications().items():
                wide: Record | None = None
                by_item: dict[tuple[str, str], list[tuple[int, Record, dict[str, str]]]] = {}
                for i, (pa, selector) in enumerate(entries):
                    if selector is None:
                        wide = wide or pa
                    else:
                        first = next(iter(selector.items()))
                        by_item.setdefault(first, []).append((i, pa, selector))
                self._pa_table[ns] = (wide, by_item)
        return self._pa_table

    def _peer_authentications(self) -> dict[str, list[tuple[Record, dict[str, str] | None]]]:
        if self._pa_by_ns is None:
            self._pa_by_ns = {}
            for pa in self.by_kind.get("PeerAuthentication", ()):
                entry = (pa, workload_selector(pa))
                self._pa_by_ns.setdefault(pa.effective_namespace, []).append(entry)
        return self._pa_by_ns


def _mode_of(mtls: Any) -> str | None:
    """The mode a PeerAuthentication `mtls` block sets, or None when it sets none (UNSET)."""
    if not isinstance(mtls, dict):
        return None
    mode = mtls.get("mode")
    if isinstance(mode, str) and mode in PEER_MODES and mode != "UNSET":
        return mode
    return None
