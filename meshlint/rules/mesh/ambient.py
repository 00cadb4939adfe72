"""Cross-resource rules: ambient. See meshlint/rules/mesh/references.py for the framework.

Two concerns live here: `exportTo` lists that name namespaces the run says do not exist, and
L7 configuration (HTTP routes, HTTP traffic policies, L7 authorization, JWT, L7 telemetry,
Sidecars) in namespaces that run in ambient mode, where only a waypoint proxy applies it.

A namespace is judged only when its Namespace manifest is in the run: its labels say whether
its pods are in ambient mode (`istio.io/dataplane-mode: ambient`, and no sidecar injection
label) and whether its services use a waypoint (`istio.io/use-waypoint`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from meshlint.diagnostics import FieldPath, Finding, Severity
from meshlint.mesh import (
    POD_ANNOTATIONS,
    MeshIndex,
    Record,
    Workload,
    has_target_refs,
    workload_selector,
)
from meshlint.rules import rule
from meshlint.rules.lib.mesh import KIALI, items, literal, mesh_bound
from meshlint.rules.lib.traffic import policy_blocks

AN = "istio/istio pkg/config/analysis/analyzers"
AMBIENT_CHECKER = f"{KIALI}/ambient_policy_checker.go (AmbientPolicyChecker)"
L7_CLASSIFICATION = "kiali/kiali business/checkers/ambient/l7_classification.go"

DATAPLANE_MODE = "istio.io/dataplane-mode"
USE_WAYPOINT = "istio.io/use-waypoint"
USE_WAYPOINT_NAMESPACE = "istio.io/use-waypoint-namespace"
INJECTION = "istio-injection"
REVISION = "istio.io/rev"
SIDECAR_INJECT = "sidecar.istio.io/inject"
REDIRECTION = "ambient.istio.io/redirection"
GATEWAY_NAME = "gateway.networking.k8s.io/gateway-name"
# Namespaces every cluster has, whatever the run holds.
BUILTIN_NAMESPACES = frozenset({"default", "kube-system", "kube-public", "kube-node-lease"})
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


# --------------------------------------------------------------------------------------------
# what the labels say


def _labels(value: Any) -> dict[str, str]:
    """The string labels of a label map; entries of another type are left out (the schema
    stage reports them)."""
    if not isinstance(value, dict):
        return {}
    return {k: v for k, v in value.items() if isinstance(k, str) and isinstance(v, str)}


def _meta_labels(rec: Record) -> dict[str, str]:
    meta = rec.data.get("metadata")
    return _labels(meta.get("labels")) if isinstance(meta, dict) else {}


@dataclass(frozen=True, slots=True)
class _Namespace:
    record: Record
    labels: dict[str, str]

    @property
    def name(self) -> str:
        return self.record.name

    @property
    def ambient(self) -> bool:
        """In ambient mode as istioctl analyze reads it: the data-plane label says ambient and
        no sidecar injection label (which wins) is set."""
        labels = self.labels
        if labels.get(INJECTION) == "enabled" or labels.get(REVISION):
            return False
        return labels.get(DATAPLANE_MODE) == "ambient"

    @property
    def injects(self) -> bool:
        return self.labels.get(INJECTION) == "enabled" or bool(self.labels.get(REVISION))

    @property
    def named(self) -> str:
        return f"Namespace {self.name} ({self.record.where})"


def _namespaces(index: MeshIndex) -> dict[str, _Namespace]:
    """The namespaces whose Namespace manifest is in the run."""
    return {
        name: _Namespace(rec, _meta_labels(rec)) for name, rec in index.namespace_records.items()
    }


@dataclass(frozen=True, slots=True)
class _Enrolment:
    """Whether a resource's traffic goes through a waypoint, and which labels decide it."""

    enrolled: bool
    holder: str | None  # what carries the deciding label; None: nothing does
    value: str | None
    waypoint_namespace: str  # where the waypoint runs (its VirtualServices count there)


def _enrolment(
    own: dict[str, str] | None, own_name: str, ns: _Namespace, namespace: str
) -> _Enrolment:
    """A resource's own `istio.io/use-waypoint` label wins over its namespace's (an empty
    value or `none` opts out)."""
    for labels, holder in ((own, own_name), (ns.labels, ns.named)):
        if labels is not None and USE_WAYPOINT in labels:
            value = labels[USE_WAYPOINT]
            where = labels.get(USE_WAYPOINT_NAMESPACE) or namespace
            return _Enrolment(value not in ("", "none"), holder, value, where)
    return _Enrolment(False, None, None, namespace)


def _not_enrolled(e: _Enrolment, own: bool = True, namespace: bool = False) -> str:
    if e.holder is None and namespace:
        return f"no `{USE_WAYPOINT}` label on the namespace"
    if e.holder is None and not own:
        return (
            f"no `{USE_WAYPOINT}` label on its namespace; the Service is not in the linted "
            "files and may carry one"
        )
    if e.holder is None:
        return f"no `{USE_WAYPOINT}` label on it nor on its namespace"
    return f"`{USE_WAYPOINT}: {e.value!s}` on {e.holder} opts out"


def _pod_ambient(ns: _Namespace, pod: dict[str, str], workload: Record) -> bool:
    """Whether the pods of a workload of an ambient-capable namespace are in ambient mode:
    not gateways, no sidecar injected, not opted out, and the pod or its namespace says
    ambient."""
    annotations = _labels(workload.data.get(POD_ANNOTATIONS))
    if annotations.get(REDIRECTION) == "enabled":
        return True
    if GATEWAY_NAME in pod:
        return False
    inject = pod.get(SIDECAR_INJECT, annotations.get(SIDECAR_INJECT))
    if inject == "true" or (ns.injects and inject != "false"):
        return False
    mode = pod.get(DATAPLANE_MODE)
    if mode is not None:
        return mode == "ambient"
    return ns.ambient


class _ExportTargets(NamedTuple):
    existing: set[str]  # namespaces that exist, as the run and every cluster say
    declared: str  # the run's Namespace manifests, named


def _export_targets(index: MeshIndex) -> _ExportTargets:
    existing = {rec.effective_namespace for rec in index.records}
    existing.update(index.namespace_records, BUILTIN_NAMESPACES, (index.root_namespace,))
    declared = ", ".join(sorted(index.namespace_records)[:5])
    if len(index.namespace_records) > 5:
        declared += ", …"
    return _ExportTargets(existing, declared)


# --------------------------------------------------------------------------------------------
@rule(
    "ML999",
    "exportto-unknown-namespace",
    Severity.WARNING,
    scope="mesh",
    kinds={"VirtualService", "DestinationRule", "ServiceEntry"},
    summary="An `exportTo` entry names a namespace that the linted manifests say does not exist.",
    rationale="""
        `exportTo` makes a VirtualService, DestinationRule or ServiceEntry visible in the
        namespaces it lists. Istio only checks the syntax of the names: an entry naming a
        namespace that does not exist (a typo, a renamed team namespace) is accepted and
        exports to nothing, so the namespace that was meant does not see the resource and
        its traffic gets none of its routes or policies.

        Checked only when the run holds Namespace manifests, i.e. the repository manages its
        namespaces: an entry is reported when it names none of them, no namespace any other
        resource of the run lives in, none of the namespaces every cluster has (`default`,
        `kube-system`, `kube-public`, `kube-node-lease`) nor Istio's root namespace. A
        namespace created elsewhere can be declared with the `external-namespaces` option.
        `.`, `*` and `~` are not namespaces and are left alone, and so are names that are not
        DNS labels (the schema rules report those). Kiali reports this as an error (KIA0005)
        and skips it for ambient namespaces; here it is a warning whatever the data-plane
        mode, since the run is seldom the whole cluster.
    """,
    bad="""
        apiVersion: v1
        kind: Namespace
        metadata:
          name: shop
        ---
        apiVersion: v1
        kind: Namespace
        metadata:
          name: storefront
        ---
        apiVersion: v1
        kind: Service
        metadata:
          name: reviews
          namespace: shop
        spec:
          selector:
            app: reviews
          ports:
          - name: http
            port: 9080
        ---
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata:
          name: reviews
          namespace: shop
        spec:
          hosts:
          - reviews
          exportTo:
          - .
          - store-front  # expect: ML999@5 spec.exportTo[1]
          http:
          - route:
            - destination:
                host: reviews
    """,
    good="""
        apiVersion: v1
        kind: Namespace
        metadata:
          name: shop
        ---
        apiVersion: v1
        kind: Namespace
        metadata:
          name: storefront
        ---
        apiVersion: v1
        kind: Service
        metadata:
          name: reviews
          namespace: shop
        spec:
          selector:
            app: reviews
          ports:
          - name: http
            port: 9080
        ---
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata:
          name: reviews
          namespace: shop
        spec:
          hosts:
          - reviews
          exportTo:
          - .
          - storefront
          http:
          - route:
            - destination:
                host: reviews
    """,
    kiali="KIA0005",
    source=f"{KIALI}/common/export_to_namespace_checker.go (ExportToNamespaceChecker)",
    catalogue=("vs-k-exportto-ns", "dr-k-exportto-ns", "se-k-exportto-ns"),
)
def exportto_unknown_namespace(rec: Record, index: MeshIndex) -> Iterator[Finding]:
    if not index.namespace_records:
        return
    targets = index.memo(_export_targets)
    for i, entry in items(rec.spec.get("exportTo")):
        if not literal(entry) or entry in (".", "*", "~"):
            continue
        if not _DNS_LABEL.match(entry) or entry in targets.existing:
            continue
        if index.is_external_namespace(entry):
            continue
        yield Finding(
            ("spec", "exportTo", i),
            f"`exportTo` names namespace `{entry}`, which no Namespace manifest of the "
            f"linted files defines (they define {targets.declared}) and no linted resource "
            "lives in: the resource is exported to nothing there (if the namespace "
            "is created elsewhere, add it to the `external-namespaces` option)",
        )


# --------------------------------------------------------------------------------------------
# L7 routing (VirtualService, DestinationRule) for services of ambient namespaces


def _vs_l7(spec: dict[str, Any]) -> str | None:
    """What makes a VirtualService need a waypoint: HTTP or TLS routes for mesh traffic."""
    if not mesh_bound(spec):
        return None
    for section in ("http", "tls"):
        value = spec.get(section)
        if isinstance(value, list) and value:
            return f"{section.upper()} routes"
    return None


def _dr_l7(spec: dict[str, Any]) -> tuple[FieldPath, str] | None:
    """The first traffic-policy setting of a DestinationRule that only an L7 proxy applies."""
    for path, tp in policy_blocks(spec):
        lb = tp.get("loadBalancer")
        hashing = lb.get("consistentHash") if isinstance(lb, dict) else None
        if isinstance(hashing, dict):
            for key in ("httpHeaderName", "httpCookie", "httpQueryParameterName"):
                if hashing.get(key):
                    return (*path, "loadBalancer", "consistentHash", key), (
                        "consistent hashing on an HTTP request attribute"
                    )
        pool = tp.get("connectionPool")
        if isinstance(pool, dict) and isinstance(pool.get("http"), dict):
            return (*path, "connectionPool", "http"), "HTTP connection pool settings"
        if isinstance(tp.get("outlierDetection"), dict):
            return (*path, "outlierDetection"), "outlier detection"
    return None


@dataclass(frozen=True, slots=True)
class _Destination:
    """A host of an L7 VirtualService or DestinationRule that names a Service of an ambient
    namespace whose manifest is in the run."""

    path: FieldPath
    host: str
    name: str  # the Service's name
    namespace: _Namespace
    service: Record | None  # the Service, when the run holds it
    enrolment: _Enrolment

    @property
    def named(self) -> str:
        if self.service is not None:
            return f"{self.service.key} ({self.service.where})"
        return f"Service/{self.namespace.name}/{self.name} (not in the linted files)"


def _ambient_destinations(
    index: MeshIndex,
    rec: Record,
    hosts: Sequence[tuple[FieldPath, Any]],
    spaces: dict[str, _Namespace],
) -> Iterator[_Destination]:
    seen: set[str] = set()
    for path, host in hosts:
        if not literal(host) or host.startswith("*"):
            continue
        canonical = index.canonical(host, rec.effective_namespace)
        target = index.cluster_namespace(canonical)
        ns = spaces.get(target) if target is not None else None
        if ns is None or not ns.ambient or canonical in seen:
            continue
        seen.add(canonical)
        services = index.kubernetes_services(canonical)
        service = services[0] if services else None
        name = canonical.split(".", 1)[0]
        own = _meta_labels(service) if service is not None else None
        holder = service.key if service is not None else "the Service"
        yield _Destination(path, host, name, ns, service, _enrolment(own, holder, ns, ns.name))


def _any_ambient(index: MeshIndex) -> bool:
    return any(ns.ambient for ns in index.memo(_namespaces).values())


def _l7_routing(rec: Record, index: MeshIndex) -> tuple[str, list[_Destination]] | None:
    """What makes a VirtualService or DestinationRule L7, and the Services of ambient
    namespaces it is for; None when it is not L7 or is for none."""
    if not index.memo(_any_ambient):
        return None
    spaces = index.memo(_namespaces)
    if rec.kind == "VirtualService":
        why = _vs_l7(rec.spec)
        if why is None:
            return None
        hosts: list[tuple[FieldPath, Any]] = [
            (("spec", "hosts", i), h) for i, h in items(rec.spec.get("hosts"))
        ]
    else:
        l7 = _dr_l7(rec.spec)
        if l7 is None:
            return None
        why = l7[1]
        hosts = [(("spec", "host"), rec.spec.get("host"))]
    found = list(_ambient_destinations(index, rec, hosts, spaces))
    return (why, found) if found else None


@rule(
    "ML998",
    "ambient-l7-routing-without-waypoint",
    Severity.WARNING,
    scope="mesh",
    shares="ambient",
    kinds={"VirtualService", "DestinationRule"},
    summary="A VirtualService or DestinationRule sets L7 behaviour for an ambient Service that "
    "uses no waypoint.",
    rationale="""
        In ambient mode a pod has no sidecar: ztunnel carries its traffic at L4, and only a
        waypoint proxy applies HTTP features. A Service (or its whole namespace) is sent
        through a waypoint by the label `istio.io/use-waypoint: <waypoint>`; the Service's own
        label wins over the namespace's, and `none` opts out. Without it, the HTTP and TLS
        routes of a mesh-bound VirtualService, and a DestinationRule's HTTP connection pool,
        outlier detection or consistent hashing on a header, cookie or query parameter, are
        not applied to traffic from ambient clients: retries, fault injection, canary
        weights and circuit breaking silently do nothing.

        Checked for hosts that are cluster Services of a namespace whose Namespace manifest
        is in the run and that is in ambient mode (`istio.io/dataplane-mode: ambient`, without
        `istio-injection: enabled` or `istio.io/rev`, which put sidecars there instead). When
        the run holds the Service, its labels are read too; when it does not, the namespace
        label alone decides and the message says the Service may carry the label. VirtualServices
        bound only to gateways are applied by those gateways and are not checked. This groups
        Kiali's KIA1109 (no waypoint for the namespace), KIA1113 (Service not captured by a
        waypoint), KIA0210 and KIA0211 (the same for DestinationRules); Kiali only looks at
        Services it holds, here a Service of an ambient namespace the run does not hold is
        judged by its namespace's label.
    """,
    bad="""
        apiVersion: v1
        kind: Namespace
        metadata:
          name: shop
          labels:
            istio.io/dataplane-mode: ambient
        ---
        apiVersion: v1
        kind: Service
        metadata:
          name: reviews
          namespace: shop
        spec:
          selector:
            app: reviews
          ports:
          - name: http
            port: 9080
        ---
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata:
          name: reviews
          namespace: shop
        spec:
          hosts:
          - reviews  # expect: ML998@5 spec.hosts[0]
          http:
          - route:
            - destination:
                host: reviews
            retries:
              attempts: 3
              perTryTimeout: 2s
    """,
    good="""
        apiVersion: v1
        kind: Namespace
        metadata:
          name: shop
          labels:
            istio.io/dataplane-mode: ambient
            istio.io/use-waypoint: waypoint
        ---
        apiVersion: v1
        kind: Service
        metadata:
          name: reviews
          namespace: shop
        spec:
          selector:
            app: reviews
          ports:
          - name: http
            port: 9080
        ---
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata:
          name: reviews
          namespace: shop
        spec:
          hosts:
          - reviews
          http:
          - route:
            - destination:
                host: reviews
            retries:
              attempts: 3
              perTryTimeout: 2s
    """,
    kiali="KIA1109",
    also=("KIA0210", "KIA0211", "KIA1113"),
    source=f"{AMBIENT_CHECKER} checkHostBasedConfig; {L7_CLASSIFICATION} "
    "(ClassifyVirtualService, IsL7DestinationRule, IsEnrolledForWaypoint)",
    catalogue=(
        "vs-k-ambient-no-waypoint",
        "vs-k-ambient-svc-not-captured",
        "dr-k-ambient-no-waypoint",
        "dr-k-ambient-svc-not-captured",
    ),
)
def ambient_l7_routing_without_waypoint(rec: Record, index: MeshIndex) -> Iterator[Finding]:
    found = _l7_routing(rec, index)
    if found is None:
        return
    why, destinations = found
    for dest in destinations:
        if dest.enrolment.enrolled:
            continue
        yield Finding(
            dest.path,
            f"host `{dest.host}` is {dest.named} in ambient {dest.namespace.named}, which "
            f"uses no waypoint ({_not_enrolled(dest.enrolment, dest.service is not None)}): "
            f"what this {rec.kind} sets ({why}) does not apply to traffic from ambient "
            f"clients; label the Service or the namespace with `{USE_WAYPOINT}: <waypoint>`",
        )


# --------------------------------------------------------------------------------------------
@rule(
    "ML997",
    "ambient-l7-routing-outside-service-namespace",
    Severity.WARNING,
    scope="mesh",
    shares="ambient",
    kinds={"VirtualService", "DestinationRule"},
    summary="A VirtualService or DestinationRule for an ambient Service lives in a namespace "
    "its waypoint does not read.",
    rationale="""
        A waypoint applies the VirtualServices of the destination Service's namespace and of
        its own namespace only; for DestinationRules it reads its own namespace, the
        Service's and Istio's root namespace. An L7 VirtualService or DestinationRule written
        in a client's namespace for a Service of an ambient namespace is therefore ignored
        for traffic that goes through the waypoint (sidecar clients of that namespace still
        apply it). Move it to the Service's namespace.

        Checked for hosts that are cluster Services of an ambient namespace whose Namespace
        manifest is in the run; the waypoint's namespace is the one named by
        `istio.io/use-waypoint-namespace` next to the `istio.io/use-waypoint` label that
        enrols the Service, else the Service's. Kiali reports KIA1114 and KIA0212 whenever the
        namespaces differ; the waypoint's and the root namespace are accepted here, as istiod
        accepts them.
    """,
    bad="""
        apiVersion: v1
        kind: Namespace
        metadata:
          name: shop
          labels:
            istio.io/dataplane-mode: ambient
            istio.io/use-waypoint: waypoint
        ---
        apiVersion: v1
        kind: Namespace
        metadata:
          name: storefront
          labels:
            istio.io/dataplane-mode: ambient
        ---
        apiVersion: v1
        kind: Service
        metadata:
          name: reviews
          namespace: shop
        spec:
          selector:
            app: reviews
          ports:
          - name: http
            port: 9080
        ---
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata:
          name: reviews
          namespace: storefront
        spec:
          hosts:
          - reviews.shop.svc.cluster.local  # expect: ML997@5 spec.hosts[0]
          http:
          - route:
            - destination:
                host: reviews.shop.svc.cluster.local
            timeout: 5s
    """,
    good="""
        apiVersion: v1
        kind: Namespace
        metadata:
          name: shop
          labels:
            istio.io/dataplane-mode: ambient
            istio.io/use-waypoint: waypoint
        ---
        apiVersion: v1
        kind: Namespace
        metadata:
          name: storefront
          labels:
            istio.io/dataplane-mode: ambient
        ---
        apiVersion: v1
        kind: Service
        metadata:
          name: reviews
          namespace: shop
        spec:
          selector:
            app: reviews
          ports:
          - name: http
            port: 9080
        ---
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata:
          name: reviews
          namespace: shop
        spec:
          hosts:
          - reviews.shop.svc.cluster.local
          http:
          - route:
            - destination:
                host: reviews.shop.svc.cluster.local
            timeout: 5s
    """,
    kiali="KIA1114",
    also=("KIA0212",),
    source=f"{AMBIENT_CHECKER} checkHostBasedConfig; istio/istio "
    "pilot/pkg/networking/core/listener_waypoint.go (getVirtualServiceForWaypoint), "
    "pilot/pkg/model/push_context.go (destinationRule)",
    catalogue=("vs-k-ambient-other-ns", "dr-k-ambient-other-ns"),
)
def ambient_l7_routing_outside_service_namespace(
    rec: Record, index: MeshIndex
) -> Iterator[Finding]:
    found = _l7_routing(rec, index)
    if found is None:
        return
    own = rec.effective_namespace
    for dest in found[1]:
        read = {dest.namespace.name, dest.enrolment.waypoint_namespace}
        if rec.kind == "DestinationRule":
            read.add(index.root_namespace)
        if own in read:
            continue
        if rec.kind == "DestinationRule":
            path: FieldPath = (
                ("metadata", "namespace") if rec.namespace is not None else ("metadata",)
            )
        else:
            path = dest.path
        read_by = [f"`{dest.namespace.name}`"]
        wp = dest.enrolment.waypoint_namespace
        if wp != dest.namespace.name:
            read_by.append(f"`{wp}` (its waypoint's)")
        if rec.kind == "DestinationRule":
            read_by.append(f"`{index.root_namespace}` (the root)")
        spaces = (
            read_by[0] if len(read_by) == 1 else (", ".join(read_by[:-1]) + " or " + read_by[-1])
        )
        yield Finding(
            path,
            f"host `{dest.host}` is {dest.named} in ambient {dest.namespace.named}, but "
            f"this {rec.kind} is in namespace `{own}`: a waypoint only applies {rec.kind}s "
            f"of namespace {spaces}, so it ignores this one; move it to "
            f"`{dest.namespace.name}`",
            key=rec.kind == "DestinationRule" and rec.namespace is None,
        )


# --------------------------------------------------------------------------------------------
# L7 policies (AuthorizationPolicy, RequestAuthentication, Telemetry) in ambient namespaces

_L7_CONDITIONS = (
    "request.headers",
    "request.auth.claims",
    "request.auth.principal",
    "request.auth.audiences",
    "request.auth.presenter",
)


def _ap_l7(spec: dict[str, Any]) -> tuple[FieldPath, str] | None:
    for i, ap_rule in items(spec.get("rules")):
        if not isinstance(ap_rule, dict):
            continue
        base: FieldPath = ("spec", "rules", i)
        for j, cond in items(ap_rule.get("when")):
            key = cond.get("key") if isinstance(cond, dict) else None
            if isinstance(key, str) and key.startswith(_L7_CONDITIONS):
                return (*base, "when", j, "key"), f"condition on `{key}`"
        for j, to in items(ap_rule.get("to")):
            op = to.get("operation") if isinstance(to, dict) else None
            if not isinstance(op, dict):
                continue
            for field in ("methods", "notMethods", "paths", "notPaths", "hosts", "notHosts"):
                if isinstance(op.get(field), list) and op[field]:
                    return (*base, "to", j, "operation", field), f"HTTP `{field}`"
        for j, src in items(ap_rule.get("from")):
            source = src.get("source") if isinstance(src, dict) else None
            if not isinstance(source, dict):
                continue
            for field in ("requestPrincipals", "notRequestPrincipals"):
                if isinstance(source.get(field), list) and source[field]:
                    return (*base, "from", j, "source", field), f"JWT `{field}`"
    return None


def _policy_l7(rec: Record) -> tuple[FieldPath, str] | None:
    """What makes a policy L7 (only a waypoint applies it in ambient mode), and where."""
    spec = rec.spec
    if rec.kind == "AuthorizationPolicy":
        return _ap_l7(spec)
    if rec.kind == "RequestAuthentication":
        rules = spec.get("jwtRules")
        if isinstance(rules, list) and rules:
            return ("spec", "jwtRules"), "JWT validation"
        return None
    for field, why in (("tracing", "tracing"), ("accessLogging", "access logging")):
        value = spec.get(field)
        if isinstance(value, list) and value:
            return ("spec", field), why
    for i, metric in items(spec.get("metrics")):
        overrides = metric.get("overrides") if isinstance(metric, dict) else None
        if isinstance(overrides, list) and overrides:
            return ("spec", "metrics", i, "overrides"), "metric overrides"
    return None


def _target_refs(spec: dict[str, Any]) -> list[tuple[FieldPath, dict[str, Any]]]:
    refs: list[tuple[FieldPath, dict[str, Any]]] = []
    if isinstance(spec.get("targetRef"), dict):
        refs.append((("spec", "targetRef"), spec["targetRef"]))
    for i, ref in items(spec.get("targetRefs")):
        if isinstance(ref, dict):
            refs.append((("spec", "targetRefs", i), ref))
    return refs


@dataclass(frozen=True, slots=True)
class _Policy:
    record: Record
    namespace: _Namespace
    l7_path: FieldPath
    why: str
    # the workloads of the run its selector picks, or None when it has no selector
    selected: list[Workload] | None
    ambient_workloads: list[Workload]  # those of them in ambient mode
    # the first of those whose traffic goes through no waypoint, with why
    unenrolled: tuple[Record, _Enrolment] | None

    @property
    def only_sidecars(self) -> bool:
        """Its selector picks workloads of the run, none of them in ambient mode."""
        return bool(self.selected) and not self.ambient_workloads


_Picked = tuple[list[Workload], list[Workload], tuple[Record, _Enrolment] | None]


def _picked(index: MeshIndex, key: tuple[str, tuple[tuple[str, str], ...]]) -> _Picked:
    """What the selector of a policy of an ambient namespace picks (namespace, selector as
    sorted items): the workloads, those in ambient mode and the first of these that uses no
    waypoint. Once per namespace and selector (copies of one policy ask the same)."""
    name, selector = key
    ns = index.memo(_namespaces)[name]
    selected = index.workloads_selected(name, dict(selector))
    ambient = [(w, labels) for w, labels in selected if _pod_ambient(ns, labels, w)]
    for w, labels in ambient:
        e = _enrolment(labels, f"the pods of {w.key}", ns, ns.name)
        if not e.enrolled:
            return selected, ambient, (w, e)
    return selected, ambient, None


_POLICY_KINDS = ("AuthorizationPolicy", "RequestAuthentication", "Telemetry")


def _ambient_policy(rec: Record, index: MeshIndex) -> _Policy | None:
    """An L7 AuthorizationPolicy, RequestAuthentication or Telemetry of an ambient namespace
    whose manifest is in the run; None for any other."""
    if not index.memo(_any_ambient):
        return None
    ns = index.memo(_namespaces).get(rec.effective_namespace)
    if ns is None or not ns.ambient:
        return None
    l7 = _policy_l7(rec)
    if l7 is None:
        return None
    selector = workload_selector(rec)
    if selector is not None and not has_target_refs(rec):
        key = (rec.effective_namespace, tuple(sorted(selector.items())))
        return _Policy(rec, ns, l7[0], l7[1], *index.memo_by(_picked, key))
    return _Policy(rec, ns, l7[0], l7[1], None, [], None)


def _selector_path(rec: Record) -> FieldPath | None:
    return ("spec", "selector") if isinstance(rec.spec.get("selector"), dict) else None


@rule(
    "ML996",
    "ambient-l7-policy-without-waypoint",
    Severity.WARNING,
    scope="mesh",
    shares="ambient",
    kinds=_POLICY_KINDS,
    summary="An L7 policy in an ambient namespace targets traffic that no waypoint handles.",
    rationale="""
        In ambient mode ztunnel enforces L4 only: HTTP conditions of an AuthorizationPolicy
        (methods, paths, hosts, `request.*` keys, request principals), JWT validation by a
        RequestAuthentication and L7 telemetry (tracing, access logging, metric overrides)
        are applied by a waypoint proxy, and only to the traffic of Services or workloads
        enrolled with one by the label `istio.io/use-waypoint` (on the Service or workload,
        else on its namespace; `none` opts out). Without enrolment the policy is never
        enforced as written (an ALLOW policy with HTTP rules then denies at L4).

        Checked for policies of a namespace whose Namespace manifest is in the run and that
        is in ambient mode: a `targetRefs` Service of the run is checked by its labels (a
        Service the run does not hold, by its namespace's); a selector by the labels of the
        ambient workloads it picks (sidecar-injected and opted-out workloads are left out);
        a namespace-wide policy, or a selector that picks no workload of the run, by the
        namespace's label. Policies that target a Gateway are applied by that gateway and are
        not checked. Kiali's codes: KIA0109 (AuthorizationPolicy), KIA1110
        (RequestAuthentication), KIA1112 (Telemetry); Kiali's KIA1317 reports the same
        AuthorizationPolicy case on the workload instead.
    """,
    bad="""
        apiVersion: v1
        kind: Namespace
        metadata:
          name: shop
          labels:
            istio.io/dataplane-mode: ambient
        ---
        apiVersion: v1
        kind: Service
        metadata:
          name: orders
          namespace: shop
        spec:
          selector:
            app: orders
          ports:
          - name: http
            port: 8080
        ---
        apiVersion: security.istio.io/v1
        kind: AuthorizationPolicy
        metadata:
          name: orders-read-only
          namespace: shop
        spec:
          targetRefs:
          - kind: Service  # expect: ML996@5 spec.targetRefs[0]
            group: ""
            name: orders
          action: ALLOW
          rules:
          - to:
            - operation:
                methods:
                - GET
    """,
    good="""
        apiVersion: v1
        kind: Namespace
        metadata:
          name: shop
          labels:
            istio.io/dataplane-mode: ambient
        ---
        apiVersion: v1
        kind: Service
        metadata:
          name: orders
          namespace: shop
          labels:
            istio.io/use-waypoint: waypoint
        spec:
          selector:
            app: orders
          ports:
          - name: http
            port: 8080
        ---
        apiVersion: security.istio.io/v1
        kind: AuthorizationPolicy
        metadata:
          name: orders-read-only
          namespace: shop
        spec:
          targetRefs:
          - kind: Service
            group: ""
            name: orders
          action: ALLOW
          rules:
          - to:
            - operation:
                methods:
                - GET
    """,
    kiali="KIA0109",
    also=("KIA1110", "KIA1112", "KIA1317"),
    source=f"{AMBIENT_CHECKER} enrollmentNeedsWarning; {L7_CLASSIFICATION} "
    "(IsL7AuthorizationPolicy, IsL7Telemetry, IsEnrolledForWaypoint)",
    catalogue=(
        "ap-k-ambient-no-waypoint",
        "ra-k-ambient-no-waypoint",
        "tm-k-ambient-no-waypoint",
        "ap-k-l7-no-waypoint",
    ),
)
def ambient_l7_policy_without_waypoint(rec: Record, index: MeshIndex) -> Iterator[Finding]:
    policy = _ambient_policy(rec, index)
    if policy is None:
        return
    ns = policy.namespace
    head = f"{rec.kind} with {policy.why} in ambient {ns.named}"
    refs = _target_refs(rec.spec)
    if refs:
        for path, ref in refs:
            name, group = ref.get("name"), ref.get("group", "")
            if ref.get("kind") != "Service" or group not in ("", "core", None):
                continue
            if not isinstance(name, str) or not literal(name):
                continue
            services = index.kubernetes_services(index.canonical(name, ns.name))
            service = services[0] if services else None
            own = _meta_labels(service) if service is not None else None
            holder = service.key if service is not None else "the Service"
            e = _enrolment(own, holder, ns, ns.name)
            if e.enrolled:
                continue
            named = (
                f"{service.key} ({service.where})"
                if service is not None
                else f"Service/{ns.name}/{name} (not in the linted files)"
            )
            why_not = _not_enrolled(e, service is not None)
            yield Finding(
                path,
                f"{head}: target {named} uses no waypoint ({why_not}), so the policy "
                f"does not apply to its traffic; label it with `{USE_WAYPOINT}: <waypoint>`",
            )
        return
    if policy.only_sidecars:
        return
    ambient = policy.ambient_workloads
    if policy.unenrolled is not None:
        w, e = policy.unenrolled
        yield Finding(
            _selector_path(rec) or policy.l7_path,
            f"{head}: selected workload {w.key} ({w.where}) uses no waypoint "
            f"({_not_enrolled(e)}), so the policy does not apply to its traffic",
        )
    if ambient:
        return
    e = _enrolment(None, "", ns, ns.name)
    if not e.enrolled:
        why_not = _not_enrolled(e, own=False, namespace=True)
        yield Finding(
            policy.l7_path,
            f"{head}, which uses no waypoint ({why_not}): ztunnel cannot apply it and no "
            f"waypoint sees the traffic; enrol the namespace or its Services with "
            f"`{USE_WAYPOINT}: <waypoint>`",
        )


# --------------------------------------------------------------------------------------------
@rule(
    "ML995",
    "ambient-l7-policy-without-target-refs",
    Severity.WARNING,
    scope="mesh",
    shares="ambient",
    kinds=_POLICY_KINDS,
    summary="An L7 policy in an ambient namespace attaches by selector, which waypoints ignore.",
    rationale="""
        A waypoint proxy only takes the AuthorizationPolicies, RequestAuthentications and
        Telemetries attached to it by `targetRefs` (a Service or ServiceEntry it serves, the
        waypoint Gateway itself, or the `istio-waypoint` GatewayClass from the root
        namespace); policies with a `selector`, and namespace-wide policies without
        `targetRefs`, are never applied by a waypoint. In an ambient namespace their L7 part
        (HTTP conditions, JWT validation, L7 telemetry) therefore does nothing: ztunnel
        cannot apply it.

        Checked for L7 policies of a namespace whose Namespace manifest is in the run and
        that is in ambient mode. A selector that picks workloads of the run none of which is
        in ambient mode (sidecar-injected or opted out with `istio.io/dataplane-mode: none`)
        is left alone: their sidecars apply it. Kiali's codes: KIA0110 (AuthorizationPolicy),
        KIA1115 (RequestAuthentication), KIA1117 (Telemetry).
    """,
    bad="""
        apiVersion: v1
        kind: Namespace
        metadata:
          name: shop
          labels:
            istio.io/dataplane-mode: ambient
            istio.io/use-waypoint: waypoint
        ---
        apiVersion: security.istio.io/v1
        kind: RequestAuthentication
        metadata:
          name: orders-jwt
          namespace: shop
        spec:
          selector:
            matchLabels:  # expect: ML995@5 spec.selector
              app: orders
          jwtRules:
          - issuer: https://auth.example.com
            jwksUri: https://auth.example.com/.well-known/jwks.json
    """,
    good="""
        apiVersion: v1
        kind: Namespace
        metadata:
          name: shop
          labels:
            istio.io/dataplane-mode: ambient
            istio.io/use-waypoint: waypoint
        ---
        apiVersion: v1
        kind: Service
        metadata:
          name: orders
          namespace: shop
        spec:
          selector:
            app: orders
          ports:
          - name: http
            port: 8080
        ---
        apiVersion: security.istio.io/v1
        kind: RequestAuthentication
        metadata:
          name: orders-jwt
          namespace: shop
        spec:
          targetRefs:
          - kind: Service
            group: ""
            name: orders
          jwtRules:
          - issuer: https://auth.example.com
            jwksUri: https://auth.example.com/.well-known/jwks.json
    """,
    kiali="KIA0110",
    also=("KIA1115", "KIA1117"),
    source=f"{AMBIENT_CHECKER} (AuthorizationPolicyHasTargetRefs, "
    "RequestAuthenticationHasTargetRefs, TelemetryHasTargetRefs); istio/istio "
    "pilot/pkg/model/policyattachment.go (ShouldAttachPolicy: waypoints never use selector)",
    catalogue=("ap-k-ambient-selector", "ra-k-ambient-selector", "tm-k-ambient-selector"),
)
def ambient_l7_policy_without_target_refs(rec: Record, index: MeshIndex) -> Iterator[Finding]:
    policy = _ambient_policy(rec, index)
    if policy is None or has_target_refs(rec) or policy.only_sidecars:
        return
    selector = _selector_path(rec)
    how = "attaches by `selector`" if selector else "has no `targetRefs` (namespace-wide)"
    yield Finding(
        selector or policy.l7_path,
        f"{rec.kind} with {policy.why} in ambient {policy.namespace.named} {how}: waypoints "
        "only apply policies attached by `targetRefs` and ztunnel cannot apply L7 rules, so "
        "it does nothing; attach it with `targetRefs` to a Service or the waypoint Gateway",
    )


# --------------------------------------------------------------------------------------------
@rule(
    "ML994",
    "sidecar-resource-in-ambient",
    Severity.WARNING,
    scope="mesh",
    shares="ambient",
    kinds={"Sidecar"},
    summary="A Sidecar resource applies to ambient pods, which have no sidecar.",
    rationale="""
        A Sidecar resource configures the Envoy sidecars of its namespace (or of the pods its
        `workloadSelector` picks). Pods in ambient mode have no sidecar, so it has no effect
        on them: its egress limits, ingress listeners and outbound policy are silently
        ignored.

        A Sidecar without selector is reported when its namespace's manifest is in the run
        and says ambient (`istio.io/dataplane-mode: ambient`, without `istio-injection:
        enabled` or `istio.io/rev`); one with a selector when a workload of the run it picks
        runs ambient pods (the pod's own `istio.io/dataplane-mode` label wins over the
        namespace's; sidecar-injected pods are not ambient).
    """,
    bad="""
        apiVersion: v1
        kind: Namespace
        metadata:
          name: shop
          labels:
            istio.io/dataplane-mode: ambient
        ---
        apiVersion: networking.istio.io/v1
        kind: Sidecar
        metadata:
          name: default
          namespace: shop  # expect: ML994@14 metadata.namespace
        spec:
          egress:
          - hosts:
            - ./*
            - istio-system/*
    """,
    good="""
        apiVersion: v1
        kind: Namespace
        metadata:
          name: shop
          labels:
            istio-injection: enabled
        ---
        apiVersion: networking.istio.io/v1
        kind: Sidecar
        metadata:
          name: default
          namespace: shop
        spec:
          egress:
          - hosts:
            - ./*
            - istio-system/*
    """,
    istio="IST0167",
    source=f"{AN}/sidecar/selector.go (IneffectivePolicy), {AN}/util/in_mesh.go "
    "(NamespaceInAmbientMode)",
    catalogue=("sc-x-ambient",),
)
def sidecar_resource_in_ambient(sc: Record, index: MeshIndex) -> Iterator[Finding]:
    ns = index.memo(_namespaces).get(sc.effective_namespace)
    if ns is None:
        return
    selector = workload_selector(sc)
    if selector is None:
        if ns.ambient:
            yield Finding(
                ("metadata", "namespace") if sc.namespace is not None else ("metadata",),
                f"{ns.named} is in ambient mode: its pods have no sidecar, so this "
                "Sidecar has no effect",
                key=sc.namespace is None,
            )
        return
    w = index.memo_by(_first_ambient_selected, (ns.name, tuple(sorted(selector.items()))))
    if w is not None:
        yield Finding(
            ("spec", "workloadSelector", "labels"),
            f"selected workload {w.key} ({w.where}) runs ambient pods (in "
            f"{ns.named}): they have no sidecar, so this Sidecar has no effect on them",
        )


def _first_ambient_selected(
    index: MeshIndex, key: tuple[str, tuple[tuple[str, str], ...]]
) -> Record | None:
    """The first workload of a namespace a selector picks whose pods run ambient, once per
    namespace and selector (``index.memo_by``)."""
    name, selector = key
    ns = index.memo(_namespaces)[name]
    for w, labels in index.workloads_selected(ns.name, dict(selector)):
        if _pod_ambient(ns, labels, w):
            return w
    return None
