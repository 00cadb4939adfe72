"""Cross-resource rules: the references of VirtualServices and DestinationRules to subsets,
gateways, hosts and workloads of the same run.

The engine builds a :class:`MeshIndex` of every resource of every linted file, then runs each
rule on every record of its kinds with the index at hand; a rule yields findings about the
record it checks, which the engine places at their line and column like any other.

What "the run" holds is what was linted together, which is seldom the whole cluster: a rule
only calls a reference broken when the run holds what it would have to find, and lowers the
verdict to a warning where the missing piece may simply live in another repository.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple

from meshlint.diagnostics import FieldPath, Finding, Severity
from meshlint.mesh import (
    MESH_GATEWAY,
    MeshIndex,
    Record,
    export_scope,
    label_map,
    selects,
    wildcard_keys,
)
from meshlint.rules import rule
from meshlint.rules.lib.mesh import (
    AN,
    FEW,
    destination_rule_host,
    did_you_mean,
    did_you_mean_service,
    items,
    judges_host,
    literal,
    match_fields,
    mesh_bound,
    namespaces_text,
    resolved_destinations,
    subsets_of,
    used_by,
)


def _subset_owners(index: MeshIndex, key: tuple[str, str]) -> tuple[list[Record], list[Record]]:
    """The DestinationRules for a canonical host (wildcards covering it included), and those
    of them that declare a subset: once per host and subset name (``index.memo_by``)."""
    host, subset = key
    drs, by_subset, _ = index.memo_by(_host_subsets, host)
    return drs, by_subset.get(subset, [])


def _host_subsets(
    index: MeshIndex, host: str
) -> tuple[list[Record], dict[str, list[Record]], set[str]]:
    """The DestinationRules for a canonical host (wildcards covering it included); by each
    subset name they declare, those of them declaring it, in their order; and the subset
    names one visible from every namespace declares: once per host."""
    drs = index.rules_for(host)
    by_subset: dict[str, list[Record]] = {}
    everywhere: set[str] = set()
    for dr in drs:
        names = subsets_of(dr)
        for name in names:
            by_subset.setdefault(name, []).append(dr)
        if names and index.exported_everywhere(dr):
            everywhere |= names
    return drs, by_subset, everywhere


_NONE: set[str] = set()  # (no subset names: never changed)


def _sees(
    index: MeshIndex, host: str, subset: str, namespace: str, declaring: list[Record]
) -> bool:
    """Whether ``namespace`` sees one of the DestinationRules ``declaring`` a subset of a
    host: looked at directly when they are few, else once per host, subset and namespace
    (copies of one DestinationRule would make every destination look at each)."""
    if len(declaring) <= FEW:
        return any(index.visible(d, namespace) for d in declaring)
    return index.memo_by(_sees_subset, (host, subset, namespace))


def _sees_subset(index: MeshIndex, key: tuple[str, str, str]) -> bool:
    """Whether a namespace sees a DestinationRule for a canonical host that declares a subset:
    once per host, subset name and namespace (``index.memo_by``)."""
    host, subset, namespace = key
    declaring = index.memo_by(_subset_owners, (host, subset))[1]
    return any(index.visible(d, namespace) for d in declaring)


def _seen_everywhere(index: MeshIndex, key: tuple[str, str, tuple[str, ...]]) -> bool:
    """Whether a DestinationRule for a canonical host declares a subset and each of the
    namespaces sees one that does: once per host, subset name and namespaces."""
    host, subset, namespaces = key
    declaring = index.memo_by(_host_subsets, host)[1].get(subset)
    if not declaring:
        return False
    if len(declaring) == 1:
        visible = index.visible
        dr = declaring[0]
        return all(visible(dr, n) for n in namespaces)
    return all(_sees(index, host, subset, n, declaring) for n in namespaces)


# --------------------------------------------------------------------------------------------
@rule(
    "ML901",
    "unknown-subset",
    Severity.ERROR,
    scope="mesh",
    shares="route-destinations",
    kinds={"VirtualService"},
    summary="A VirtualService routes to a subset that no DestinationRule for the host defines.",
    rationale="""
        A subset exists only where a DestinationRule for the destination host declares it.
        Traffic routed to a subset nobody declares has no cluster to go to: Envoy answers 503
        `NR`/"no healthy upstream" for every such request. Host names are resolved in the
        namespace of each resource (`reviews` in namespace `shop` is
        `reviews.shop.svc.cluster.local`; `reviews.shop` and `reviews.shop.svc` are read as
        that Service too, and ML989 says that istiod does not);
        DestinationRules with a wildcard host that covers the destination count too. For a
        VirtualService bound to the mesh, the declaring DestinationRule must be visible (its
        `exportTo`) from every namespace whose sidecars use the VirtualService: those its
        `exportTo` names, or its own namespace when it is exported everywhere.

        The rule compares what was linted together. When DestinationRules for the host are in
        the run and none declares the subset, or when the run holds none for a host it defines
        (a Service or ServiceEntry of the run), it is an error. When the host is one the run
        does not know, ML906 reports the host (the cause); only when the run holds no Service
        or ServiceEntry at all, so that ML906 cannot judge, does this rule warn that the
        DestinationRule may live elsewhere. When the run holds no DestinationRule either,
        nothing is said (one file linted on its own).
    """,
    bad="""
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
        kind: DestinationRule
        metadata:
          name: reviews
          namespace: shop
        spec:
          host: reviews
          subsets:
          - name: v1
            labels:
              version: v1
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
                subset: v2  # expect: ML901@17 spec.http[0].route[0].destination.subset
    """,
    good="""
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
        kind: DestinationRule
        metadata:
          name: reviews
          namespace: shop
        spec:
          host: reviews
          subsets:
          - name: v1
            labels:
              version: v1
          - name: v2
            labels:
              version: v2
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
                subset: v2
    """,
    istio="IST0101",
    kiali="KIA1107",
    source=f"{AN}/virtualservice/destinationrules.go (ReferencedResourceNotFound, reftype "
    "'host+subset in destinationrule' and 'mirror+subset in destinationrule')",
    catalogue=("vs-x-subset-unknown", "vs-x-mirror-subset-unknown", "vs-k-subset-unknown"),
)
def unknown_subset(vs: Record, index: MeshIndex) -> Iterator[Finding]:
    routes, where, canonicals = resolved_destinations(index, vs)
    namespaces: tuple[str, ...] | None = None
    last, everywhere = "", _NONE
    for i, canonical in zip(where, canonicals, strict=True):
        dest = routes[i][1]
        subset = dest.get("subset")
        if not isinstance(subset, str) or not subset or "{{" in subset:  # literal(subset)
            continue
        if canonical != last:
            last, everywhere = canonical, index.memo_by(_host_subsets, canonical)[2]
        if subset in everywhere:
            continue  # declared by a DestinationRule every namespace sees
        if namespaces is None:
            namespaces = used_by(index, vs)
        if index.memo_by(_seen_everywhere, (canonical, subset, namespaces)):
            continue  # declared, and seen wherever the VirtualService is used
        yield from _unknown_subset(vs, index, routes[i][0], dest, canonical, subset)


def _unknown_subset(
    vs: Record, index: MeshIndex, path: FieldPath, dest: dict[str, Any], canonical: str, subset: str
) -> Iterator[Finding]:
    """ML901's finding on one destination's subset, unless a gateway's proxy sees it."""
    ns = vs.effective_namespace
    host = dest["host"]
    drs, declaring = index.memo_by(_subset_owners, (canonical, subset))
    where = (*path, "subset")
    if drs:
        blind = [n for n in used_by(index, vs) if not _sees(index, canonical, subset, n, declaring)]
        if declaring and (not blind or not mesh_bound(vs.spec)):
            return  # (a gateway's proxy sees what its own namespace sees)
        if declaring:
            dr = declaring[0]
            used = "" if blind == [ns] else ", where the VirtualService is exported"
            yield Finding(
                where,
                f"subset `{subset}` of host `{host}` is declared by {dr.key} "
                f"({dr.where}), but its `exportTo` hides it from {namespaces_text(blind)}"
                f"{used}: sidecars there do not have the subset",
            )
            return
        declared = sorted({s for dr in drs for s in subsets_of(dr)})
        names = ", ".join(f"{dr.key} ({dr.where})" for dr in drs[:3])
        has = f"they declare {', '.join(declared)}" if declared else "they declare none"
        yield Finding(
            where,
            f"subset `{subset}` of host `{host}` is declared by no DestinationRule for "
            f"it: {names}; {has}{did_you_mean(subset, declared)}",
        )
    elif index.definitions(canonical):
        yield Finding(
            where,
            f"subset `{subset}` of host `{host}` does not exist: no DestinationRule "
            f"in the linted files is for `{canonical}`",
        )
    elif (
        index.has_destination_rules
        and not judges_host(index, canonical)  # else ML906 reports the host itself
        and not index.is_external(canonical, host)
    ):
        yield Finding(
            where,
            f"subset `{subset}` of host `{host}`: no DestinationRule in the linted files "
            f"is for `{canonical}` (nor a Service or ServiceEntry); unless one is "
            "applied from elsewhere, the subset does not exist",
            severity=Severity.WARNING,
        )


def _gateway_refs(spec: dict[str, Any]) -> Iterator[tuple[FieldPath, str]]:
    for i, ref in items(spec.get("gateways")):
        if isinstance(ref, str):
            yield ("spec", "gateways", i), ref
    for i, route_rule in items(spec.get("http")):
        if not isinstance(route_rule, dict):
            continue
        for j, match in items(route_rule.get("match")):
            if not isinstance(match, dict):
                continue
            for k, ref in items(match.get("gateways")):
                if isinstance(ref, str):
                    yield ("spec", "http", i, "match", j, "gateways", k), ref


# --------------------------------------------------------------------------------------------
@rule(
    "ML902",
    "unknown-gateway",
    Severity.ERROR,
    scope="mesh",
    shares="match-fields",
    kinds={"VirtualService"},
    summary="A VirtualService names a gateway that no Gateway defines.",
    rationale="""
        A VirtualService bound to a gateway that does not exist is never applied to any
        gateway proxy: the routes silently do nothing at the edge. A reference is
        `namespace/name`, or `name` for a Gateway in the VirtualService's own namespace (the
        older `name.namespace` form is read as istiod reads it); `mesh` stands for every
        sidecar and is not a Gateway. Both `spec.gateways` and the `gateways` of HTTP matches
        are checked.

        It is an error when the run holds resources of the gateway's namespace (other than
        VirtualServices, which only refer to gateways) but not the Gateway; a warning when it
        holds nothing else of that namespace, since the Gateway is then likely defined in
        another repository (a shared `istio-system` ingress, say).
    """,
    bad="""
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
            hosts:
            - shop.example.com
        ---
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata:
          name: shop
          namespace: shop
        spec:
          hosts:
          - shop.example.com
          gateways:
          - shop-gw  # expect: ML902@5 spec.gateways[0]
          http:
          - route:
            - destination:
                host: frontend
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
            hosts:
            - shop.example.com
        ---
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata:
          name: shop
          namespace: shop
        spec:
          hosts:
          - shop.example.com
          gateways:
          - shop-gateway
          http:
          - route:
            - destination:
                host: frontend
    """,
    istio="IST0101",
    kiali="KIA1102",
    source=f"{AN}/virtualservice/gateways.go (ReferencedResourceNotFound, reftype 'gateway')",
    catalogue=("vs-x-gateway-unknown", "vs-k-gateway-unknown"),
)
def unknown_gateway(vs: Record, index: MeshIndex) -> Iterator[Finding]:
    spec = vs.spec
    ns = vs.effective_namespace
    refs = spec.get("gateways")
    if isinstance(refs, list):
        for ref in refs:
            if isinstance(ref, str) and not index.memo_by(_gateway_known, (ref, ns)):
                break
        else:
            refs = None  # every gateway of `spec.gateways` is known
    if refs is None and "gateways" not in match_fields(index, vs):
        return
    for path, ref in _gateway_refs(spec):
        if index.memo_by(_gateway_known, (ref, ns)):
            continue
        gns, name = index.gateway(ref, ns)
        if gns in index.namespaces:
            yield Finding(
                path,
                f"gateway `{ref}` is Gateway {gns}/{name}, which no Gateway in the linted "
                f"files defines although they hold namespace `{gns}`",
            )
        else:
            yield Finding(
                path,
                f"gateway `{ref}` is Gateway {gns}/{name}, which no Gateway in the linted "
                f"files defines (nothing of namespace `{gns}` is linted: it may be defined "
                "elsewhere)",
                severity=Severity.WARNING,
            )


def _gateway_known(index: MeshIndex, key: tuple[str, str]) -> bool:
    """Whether ML902 has nothing to say of a gateway reference written in a namespace: it is
    `mesh` or not literal, or names a Gateway of the run or of an external namespace. Once
    per reference and namespace."""
    ref, namespace = key
    if ref == MESH_GATEWAY or not literal(ref):
        return True
    gns, name = index.gateway(ref, namespace)
    return (gns, name) in index.gateways or index.is_external_namespace(gns)


def _subset_selects(index: MeshIndex, key: tuple[str, tuple[tuple[str, str], ...]]) -> bool:
    """Whether a workload behind the host carries the subset's labels: once per host and
    labels (``index.memo_by``)."""
    host, labels = key
    wanted = dict(labels)
    return any(selects(wanted, pl) for _, pl in index.workloads_of_host(host))


# The labels istiod adds to an endpoint from the Node its pod runs on (the Node's locality
# labels and its name): istio/istio pilot/pkg/serviceregistry/util/label/label.go, AugmentLabels.
# It adds each only when the Node's value is not empty.
NODE_LABELS = frozenset(
    {
        "topology.kubernetes.io/region",
        "topology.kubernetes.io/zone",
        "topology.istio.io/subzone",
        "kubernetes.io/hostname",
    }
)


# --------------------------------------------------------------------------------------------
@rule(
    "ML903",
    "subset-selects-no-pods",
    Severity.WARNING,
    scope="mesh",
    kinds={"DestinationRule"},
    summary="A DestinationRule subset selects none of the workloads of its Service.",
    rationale="""
        A subset is the pods of the host's Service that also carry the subset's labels. When
        no workload behind the Service carries them (a `version: v3` subset after v3 was
        removed, a typo in a label), the subset has no endpoints and every request routed to
        it fails with 503 "no healthy upstream".

        Only checked when the run holds the Service (with a selector) and at least one
        Deployment, StatefulSet, DaemonSet, ReplicaSet or Pod it selects, in the Service's
        namespace: the subset's labels are then compared with the pod template labels of
        those workloads. It is a warning, since pods may also come from elsewhere.

        Some labels are not the pod's: istiod gives each endpoint the locality labels of the
        Node its pod runs on (`topology.kubernetes.io/region`, `topology.kubernetes.io/zone`,
        `topology.istio.io/subzone`) and the Node's name (`kubernetes.io/hostname`), as
        istioctl analyze does when it reads the Nodes. The run holds no Nodes, so these
        labels are left out of the comparison (a subset that selects by nothing else is not
        checked); an empty value is still compared, since istiod never sets one.
    """,
    bad="""
        apiVersion: v1
        kind: Service
        metadata:
          name: ratings
          namespace: shop
        spec:
          selector:
            app: ratings
          ports:
          - name: http
            port: 9080
        ---
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: ratings-v1
          namespace: shop
        spec:
          selector:
            matchLabels:
              app: ratings
              version: v1
          template:
            metadata:
              labels:
                app: ratings
                version: v1
            spec:
              containers:
              - name: ratings
                image: example/ratings:1.0
        ---
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata:
          name: ratings
          namespace: shop
        spec:
          host: ratings
          subsets:
          - name: v1
            labels:
              version: v1
          - name: v2
            labels:
              version: v2  # expect: ML903@7 spec.subsets[1].labels
    """,
    good="""
        apiVersion: v1
        kind: Service
        metadata:
          name: ratings
          namespace: shop
        spec:
          selector:
            app: ratings
          ports:
          - name: http
            port: 9080
        ---
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: ratings-v1
          namespace: shop
        spec:
          selector:
            matchLabels:
              app: ratings
              version: v1
          template:
            metadata:
              labels:
                app: ratings
                version: v1
            spec:
              containers:
              - name: ratings
                image: example/ratings:1.0
        ---
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata:
          name: ratings
          namespace: shop
        spec:
          host: ratings
          subsets:
          - name: v1
            labels:
              version: v1
    """,
    istio="IST0173",
    kiali="KIA0203",
    source=f"{AN}/destinationrule/subset.go (DestinationRuleSubsetNotSelectPods; pod labels "
    "augmented from the pod's Node) and its testdata destinationrule-subsets-with-topology-"
    "labels.yaml, destinationrule-empty-topology-labels.yaml; istio/istio pilot/pkg/"
    "serviceregistry/util/label/label.go (AugmentLabels)",
    catalogue=("dr-x-subset-no-pods", "dr-k-subset-labels"),
)
def subset_selects_no_pods(dr: Record, index: MeshIndex) -> Iterator[Finding]:
    subsets = dr.spec.get("subsets")
    if not isinstance(subsets, list) or not subsets:
        return
    host = destination_rule_host(dr, index)
    if host is None:
        return
    pods = index.workloads_of_host(host)  # (those the host's Kubernetes Services select)
    if not pods:
        return
    few = len(pods) <= FEW
    carried: frozenset[tuple[str, str]] | None = None
    for i, subset in enumerate(subsets):
        labels = label_map(subset.get("labels")) if isinstance(subset, dict) else None
        if not labels:
            continue
        if len(labels) == 1:  # (most subsets select by one label: is it a pod's?)
            if carried is None:
                carried = index.memo_by(_labels_carried, host)
            if next(iter(labels.items())) in carried:
                continue
        # Labels istiod gives an endpoint from its pod's Node are not the pod's to carry.
        if NODE_LABELS.isdisjoint(labels):
            own = labels
        else:
            own = {k: v for k, v in labels.items() if not (k in NODE_LABELS and v)}
            if not own:
                continue
        if few:
            if _any_selected(own, pods):
                continue
        elif index.memo_by(_subset_selects, (host, tuple(sorted(own.items())))):
            continue
        if any("{{" in v for v in own.values()):
            continue
        yield _no_pods(index, host, i, own, labels, pods)


def _labels_carried(index: MeshIndex, host: str) -> frozenset[tuple[str, str]]:
    """Every label (key, value) a workload behind a canonical host carries: once per host."""
    return frozenset(item for _, labels in index.workloads_of_host(host) for item in labels.items())


def _any_selected(labels: dict[str, str], pods: list[tuple[Record, dict[str, str]]]) -> bool:
    """Whether one of a few workloads carries every one of ``labels``."""
    for _, pod_labels in pods:  # noqa: SIM110 - a loop: faster than any() over a generator
        if selects(labels, pod_labels):
            return True
    return False


def _no_pods(
    index: MeshIndex,
    host: str,
    i: int,
    own: dict[str, str],
    labels: dict[str, str],
    pods: list[tuple[Record, dict[str, str]]],
) -> Finding:
    """ML903's finding on subset ``i``, whose ``own`` labels no workload of ``pods`` carries."""
    wanted = ", ".join(f"{k}={v}" for k, v in own.items())
    note = ""
    if len(own) < len(labels):
        note += " (its labels taken from the pods' Nodes are not compared)"
    if any(k in NODE_LABELS for k in own):
        note += " (istiod never gives an endpoint an empty topology label)"
    named = ", ".join(w.key for w, _ in pods[:3]) + (", …" if len(pods) > 3 else "")
    services = index.kubernetes_services(host)
    return Finding(
        ("spec", "subsets", i, "labels"),
        f"no workload behind Service {services[0].key} carries {wanted}{note}: the "
        f"subset has no endpoints (workloads of the Service: {named})",
    )


class _HostClash(NamedTuple):
    """A host of a mesh-bound VirtualService that an older one claims too, where some
    namespace sees both."""

    at: int  # index in `hosts`
    written: str
    other: Record
    seen_from: str  # a namespace that sees both, or "every namespace"
    overlap: bool  # the hosts overlap by a wildcard rather than being the same


def _mesh_hosts(vs: Record, index: MeshIndex) -> Iterator[tuple[int, str, str]]:
    """(index in `hosts`, host as written, host as istiod reads it) of each literal host of a
    VirtualService, once each: short names resolved in its namespace, other names as written."""
    seen: set[str] = set()
    for i, host in items(vs.spec.get("hosts")):
        if not literal(host):
            continue
        assert isinstance(host, str)
        resolved = index.resolve(host, vs.effective_namespace)
        if resolved not in seen:  # the same host twice in one resource: another rule's
            seen.add(resolved)
            yield i, host, resolved


def _host_clashes(index: MeshIndex) -> dict[int, list[_HostClash]]:
    """For each mesh-bound VirtualService (by id), its hosts that an older one claims too.

    Two VirtualServices meet where one namespace sees both: one exported everywhere meets every
    other; two exported to named namespaces meet when the lists share one. The same host clashes
    wherever they meet; as Istio's analyzer compares them, overlapping hosts (a wildcard
    covering the other) clash only between one exported everywhere and one exported to named
    namespaces. Tables keyed by host keep the work linear in the number of VirtualServices."""
    order: dict[int, int] = {}
    # (group, host) → the oldest exported everywhere; (group, host, ns) → the oldest seen
    # from ns among those exported to named namespaces; (group, host) → the oldest of those
    everywhere: dict[tuple[str, str], Record] = {}
    scoped_in: dict[tuple[str, str, str], Record] = {}
    scoped: dict[tuple[str, str], Record] = {}
    # the same, under each wildcard that covers their host
    everywhere_under: dict[tuple[str, str], Record] = {}
    scoped_under: dict[tuple[str, str], Record] = {}
    out: dict[int, list[_HostClash]] = {}

    def older(found: list[tuple[Record, str]], rec: Record | None, seen: str) -> None:
        if rec is not None:
            found.append((rec, seen))

    # Without a wildcard host nothing overlaps but equal hosts: no wildcard keys to file.
    wild = any(
        isinstance(h, str) and h.startswith("*")
        for vs in index.virtual_services
        for _, h in items(vs.spec.get("hosts"))
    )

    for n, vs in enumerate(index.virtual_services):
        if not mesh_bound(vs.spec):
            continue
        order[id(vs)] = n
        scope = export_scope(vs.spec.get("exportTo"), vs.effective_namespace)
        if scope is not None and not scope:
            continue  # exported to no namespace
        group = vs.place if vs.namespace is None else ""
        spots = sorted(scope) if scope is not None else []
        for i, written, host in _mesh_hosts(vs, index):
            covering = list(wildcard_keys(host)) if wild and host != "*" else []
            if scope is None and not covering and not host.startswith("*"):
                claim = (group, host)
                if claim not in everywhere and claim not in scoped:
                    everywhere[claim] = vs  # the first to claim the host: no clash
                    continue
            same: list[tuple[Record, str]] = []
            near: list[tuple[Record, str]] = []
            if scope is None:
                older(same, everywhere.get((group, host)), "every namespace")
                first = scoped.get((group, host))
                if first is not None:
                    older(same, first, _scope_text(first, index))
                for key in covering:
                    first = scoped.get((group, key))
                    if first is not None:
                        older(near, first, _scope_text(first, index))
                if host.startswith("*"):
                    first = scoped_under.get((group, host))
                    if first is not None:
                        older(near, first, _scope_text(first, index))
            else:
                where = _spots_text(spots)
                older(same, everywhere.get((group, host)), where)
                for ns in spots:
                    older(same, scoped_in.get((group, host, ns)), f"namespace `{ns}`")
                for key in covering:
                    older(near, everywhere.get((group, key)), where)
                if host.startswith("*"):
                    older(near, everywhere_under.get((group, host)), where)
            for found, overlap in ((same, False), (near, True)):
                if found:
                    rec, seen = min(found, key=lambda f: order[id(f[0])])
                    out.setdefault(id(vs), []).append(_HostClash(i, written, rec, seen, overlap))
                    break
            if scope is None:
                everywhere.setdefault((group, host), vs)
                for key in covering:
                    everywhere_under.setdefault((group, key), vs)
            else:
                scoped.setdefault((group, host), vs)
                for ns in spots:
                    scoped_in.setdefault((group, host, ns), vs)
                for key in covering:
                    scoped_under.setdefault((group, key), vs)
    return out


def _spots_text(spots: list[str]) -> str:
    if len(spots) == 1:
        return f"namespace `{spots[0]}`"
    return "namespaces " + ", ".join(f"`{ns}`" for ns in spots)


def _scope_text(vs: Record, index: MeshIndex) -> str:
    scope = export_scope(vs.spec.get("exportTo"), vs.effective_namespace)
    return "every namespace" if scope is None else _spots_text(sorted(scope))


# --------------------------------------------------------------------------------------------
@rule(
    "ML904",
    "conflicting-virtualservice-hosts",
    Severity.ERROR,
    scope="mesh",
    kinds={"VirtualService"},
    summary="Two VirtualServices bound to the mesh claim the same host.",
    rationale="""
        For sidecars, Istio keeps one VirtualService per host: when two mesh-bound
        VirtualServices (no `gateways`, or `mesh` among them) name the same host and some
        namespace sees both, one of them is ignored there, and which one depends on their
        creation times. Merge their routes into one VirtualService.

        What a namespace sees is what istiod gives its sidecars: the VirtualServices exported
        to it (`exportTo` naming it, `.` standing for the VirtualService's own namespace) and
        those exported everywhere (no `exportTo`, or `*` in it). So one exported everywhere
        meets every other, and two exported to named namespaces meet when they share one.
        Hosts are compared as istiod reads them: a name without a dot is resolved in the
        VirtualService's namespace, any other name is taken as written. As Istio's analyzer
        does, a wildcard host that overlaps the other (`*.d` and `*.productpage.d`) is
        reported too, between one exported everywhere and one exported to named namespaces;
        that finding is a warning, since Envoy routes each request to the most specific of
        overlapping hosts. A manifest that names no namespace goes wherever it is applied, so
        two such VirtualServices are compared only when they are in the same file. The
        finding is on the later one and names the first.
    """,
    bad="""
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
        ---
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata:
          name: reviews-canary
          namespace: shop
        spec:
          hosts:
          - reviews.shop.svc.cluster.local  # expect: ML904@5 spec.hosts[0]
          http:
          - match:
            - headers:
                end-user:
                  exact: jason
            route:
            - destination:
                host: reviews
    """,
    good="""
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata:
          name: reviews
          namespace: shop
        spec:
          hosts:
          - reviews
          http:
          - match:
            - headers:
                end-user:
                  exact: jason
            route:
            - destination:
                host: reviews
          - route:
            - destination:
                host: reviews
    """,
    istio="IST0109",
    kiali="KIA1106",
    source=f"{AN}/virtualservice/conflictingmeshgatewayhosts.go "
    "(ConflictingMeshGatewayVirtualServiceHosts; its tests: analyzers_test.go "
    "virtualServiceConflictingMeshGatewayHosts and ...WithExportTo); pilot/pkg/model/"
    "push_context.go (VirtualServicesForGateway: what a namespace sees)",
    catalogue=("vs-x-mesh-host-conflict",),
)
def conflicting_virtualservice_hosts(vs: Record, index: MeshIndex) -> Iterator[Finding]:
    for clash in index.memo(_host_clashes).get(id(vs), ()):
        other = clash.other
        if clash.overlap:
            theirs = _overlapping_host(other, clash.written, index, vs)
            yield Finding(
                ("spec", "hosts", clash.at),
                f"host `{clash.written}` overlaps host `{theirs}` of {other.key} "
                f"({other.where}), also bound to the mesh; {clash.seen_from} sees both: "
                "Istio reports the two as conflicting; give each namespace one "
                "VirtualService for these hosts",
                severity=Severity.WARNING,
            )
            continue
        yield Finding(
            ("spec", "hosts", clash.at),
            f"host `{clash.written}` is also claimed by {other.key} ({other.where}), bound to "
            f"the mesh as well, and {clash.seen_from} sees both: Istio applies only one of "
            "them to sidecars there; merge them",
        )


def _overlapping_host(other: Record, written: str, index: MeshIndex, vs: Record) -> str:
    """The host of ``other`` that overlaps ``written`` (a host of ``vs``)."""
    mine = index.resolve(written, vs.effective_namespace)
    for _, theirs, resolved in _mesh_hosts(other, index):
        if _overlaps(mine, resolved):
            return theirs
    return "?"


def _overlaps(a: str, b: str) -> bool:
    """Whether two hosts overlap, as Istio's `host.Name.Matches` says: equal, or a wildcard of
    one covers the other (of two wildcards, the shorter covers the longer)."""
    if a.startswith("*") and b.startswith("*"):
        short, long = (a, b) if len(a) <= len(b) else (b, a)
        return long.endswith(short[1:])
    if a.startswith("*"):
        return b.endswith(a[1:])
    if b.startswith("*"):
        return a.endswith(b[1:])
    return a == b


# --------------------------------------------------------------------------------------------
@rule(
    "ML905",
    "unknown-destinationrule-host",
    Severity.WARNING,
    scope="mesh",
    shares="route-destinations",
    kinds={"DestinationRule"},
    summary="A DestinationRule is for a cluster service that does not exist.",
    rationale="""
        A DestinationRule applies to the host it names and to nothing else: when that host is
        no Service (a typo, a renamed or removed Service), its traffic policy and subsets
        silently apply to nothing.

        Only cluster-local hosts are checked (`name`, `name.ns`, `name.ns.svc`, or
        `name.ns.svc.cluster.local`, resolved in the DestinationRule's namespace), and only when
        the run holds Services of that namespace: then the namespace's Services are in the
        repository, and none of them, and no ServiceEntry, has that name. Other hosts may be
        defined anywhere, so they are left alone. A manifest that names no namespace goes
        wherever it is applied, so Services without one count only for a DestinationRule
        without one in the same file.
    """,
    bad="""
        apiVersion: v1
        kind: Service
        metadata:
          name: payments
          namespace: billing
        spec:
          selector:
            app: payments
          ports:
          - name: http
            port: 8080
        ---
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata:
          name: payments
          namespace: billing
        spec:
          host: payment  # expect: ML905@9 spec.host
          trafficPolicy:
            connectionPool:
              http:
                http1MaxPendingRequests: 100
    """,
    good="""
        apiVersion: v1
        kind: Service
        metadata:
          name: payments
          namespace: billing
        spec:
          selector:
            app: payments
          ports:
          - name: http
            port: 8080
        ---
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata:
          name: payments
          namespace: billing
        spec:
          host: payments
          trafficPolicy:
            connectionPool:
              http:
                http1MaxPendingRequests: 100
    """,
    istio="IST0174",
    kiali="KIA0202",
    source=f"{AN}/destinationrule/subset.go (UnknownDestinationRuleHost)",
    catalogue=("dr-x-host-unknown", "dr-k-host-unknown"),
)
def unknown_destinationrule_host(dr: Record, index: MeshIndex) -> Iterator[Finding]:
    host = destination_rule_host(dr, index)
    if host is None:
        return
    ns = index.cluster_namespace(host)
    if ns is None or "{{" in host or index.definitions(host) or index.is_external(host):
        return
    if not index.holds_services_of(ns, dr):
        return
    yield Finding(
        ("spec", "host"),
        f"host `{dr.spec.get('host')}` is `{host}`, but no Service of namespace `{ns}` in the "
        "linted files has that name (nor a ServiceEntry that host): the rule applies "
        f"to nothing{did_you_mean_service(index, host)}",
    )
