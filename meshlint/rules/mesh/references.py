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
from typing import Any

from meshlint.diagnostics import FieldPath, Finding, Severity
from meshlint.mesh import MESH_GATEWAY, MeshIndex, Record, Workload, label_map, selects
from meshlint.rules import rule
from meshlint.rules.lib.mesh import (
    AN,
    defines_hosts,
    destination_rule_host,
    destinations,
    did_you_mean,
    did_you_mean_service,
    items,
    literal,
    mesh_bound,
    subsets_of,
)


# --------------------------------------------------------------------------------------------
@rule(
    "ML901",
    "unknown-subset",
    Severity.ERROR,
    scope="mesh",
    kinds={"VirtualService"},
    summary="A VirtualService routes to a subset that no DestinationRule for the host defines.",
    rationale="""
        A subset exists only where a DestinationRule for the destination host declares it.
        Traffic routed to a subset nobody declares has no cluster to go to: Envoy answers 503
        `NR`/"no healthy upstream" for every such request. Host names are resolved in the
        namespace of each resource (`reviews` in namespace `shop` is
        `reviews.shop.svc.cluster.local`, and so are `reviews.shop` and `reviews.shop.svc`);
        DestinationRules with a wildcard host that covers the destination count too.

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
    ns = vs.effective_namespace
    for path, dest in destinations(vs.spec):
        subset, host = dest.get("subset"), dest.get("host")
        if not literal(subset) or not literal(host):
            continue
        assert isinstance(subset, str) and isinstance(host, str)
        canonical = index.canonical(host, ns)
        drs = index.rules_for(canonical)
        where = (*path, "subset")
        if drs:
            declaring = [dr for dr in drs if subset in subsets_of(dr)]
            if any(index.visible(dr, ns) for dr in declaring) or (
                declaring and not mesh_bound(vs.spec)
            ):
                continue  # (a gateway's proxy sees what its own namespace sees)
            if declaring:
                dr = declaring[0]
                yield Finding(
                    where,
                    f"subset `{subset}` of host `{host}` is declared by {dr.key} "
                    f"({dr.where}), but its `exportTo` hides it from namespace `{ns}`: "
                    "sidecars there do not have the subset",
                )
                continue
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
            and not defines_hosts(index)  # else ML906 reports the host itself
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
    for path, ref in _gateway_refs(vs.spec):
        if ref == MESH_GATEWAY or not literal(ref):
            continue
        ns, name = index.gateway(ref, vs.effective_namespace)
        if (ns, name) in index.gateways or index.is_external_namespace(ns):
            continue
        if ns in index.namespaces:
            yield Finding(
                path,
                f"gateway `{ref}` is Gateway {ns}/{name}, which no Gateway in the linted "
                f"files defines although they hold namespace `{ns}`",
            )
        else:
            yield Finding(
                path,
                f"gateway `{ref}` is Gateway {ns}/{name}, which no Gateway in the linted "
                f"files defines (nothing of namespace `{ns}` is linted: it may be defined "
                "elsewhere)",
                severity=Severity.WARNING,
            )


def _workloads_behind(index: MeshIndex, host: str) -> tuple[list[Record], list[Workload]]:
    """The Kubernetes Services of a host and the workloads their selectors pick."""
    return index.kubernetes_services(host), index.workloads_of_host(host)


def _subset_selects(index: MeshIndex, key: tuple[str, tuple[tuple[str, str], ...]]) -> bool:
    """Whether a workload behind the host carries the subset's labels: once per host and
    labels (``index.memo_by``)."""
    host, labels = key
    wanted = dict(labels)
    return any(selects(wanted, pl) for _, pl in index.workloads_of_host(host))


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
    source=f"{AN}/destinationrule/subset.go (DestinationRuleSubsetNotSelectPods)",
    catalogue=("dr-x-subset-no-pods", "dr-k-subset-labels"),
)
def subset_selects_no_pods(dr: Record, index: MeshIndex) -> Iterator[Finding]:
    host = destination_rule_host(dr, index)
    if host is None:
        return
    services, pods = _workloads_behind(index, host)
    if not pods:
        return
    named = ", ".join(w.key for w, _ in pods[:3]) + (", …" if len(pods) > 3 else "")
    for i, subset in items(dr.spec.get("subsets")):
        labels = label_map(subset.get("labels")) if isinstance(subset, dict) else None
        if not labels or index.memo_by(_subset_selects, (host, tuple(sorted(labels.items())))):
            continue
        if any("{{" in v for v in labels.values()):
            continue
        wanted = ", ".join(f"{k}={v}" for k, v in labels.items())
        yield Finding(
            ("spec", "subsets", i, "labels"),
            f"no workload behind Service {services[0].key} carries {wanted}: the subset "
            f"has no endpoints (workloads of the Service: {named})",
        )


def _scope(vs: Record) -> str:
    export = vs.spec.get("exportTo")
    if not isinstance(export, list) or not export or "*" in export:
        return "*"
    return vs.effective_namespace


def _claims(vs: Record, index: MeshIndex) -> Iterator[tuple[int, str, tuple[str, str, str]]]:
    """(index in `hosts`, host as written, claim) of each host a mesh-bound VirtualService
    claims, once each: the claim is (scope, host, namespace as written, or the file when none
    is written)."""
    spec = vs.spec
    if not mesh_bound(spec):
        return
    scope = _scope(vs)
    place = vs.place
    seen: set[str] = set()
    for i, host in items(spec.get("hosts")):
        if not literal(host):
            continue
        canonical = index.canonical(host, vs.effective_namespace)
        if canonical in seen:
            continue  # the same host twice in one resource is another rule's business
        seen.add(canonical)
        yield i, host, (scope, canonical, place if scope != "*" or vs.namespace is None else "")


def _first_claims(index: MeshIndex) -> dict[tuple[str, str, str], Record]:
    first: dict[tuple[str, str, str], Record] = {}
    for vs in index.virtual_services:
        for _, _, claim in _claims(vs, index):
            first.setdefault(claim, vs)
    return first


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
        VirtualServices (no `gateways`, or `mesh` among them) name the same host in the same
        visibility scope, one of them is ignored, and which one depends on their creation
        times. Merge their routes into one VirtualService.

        Hosts are compared after resolving short names in each VirtualService's namespace.
        The scope is every namespace when `exportTo` is absent or holds `*`, and the
        VirtualService's own namespace otherwise. A manifest that names no namespace goes
        wherever it is applied, so two such VirtualServices are compared only when they are in
        the same file. The finding is on the later one and names the first.
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
    "(ConflictingMeshGatewayVirtualServiceHosts)",
    catalogue=("vs-x-mesh-host-conflict",),
)
def conflicting_virtualservice_hosts(vs: Record, index: MeshIndex) -> Iterator[Finding]:
    first = index.memo(_first_claims)
    for i, host, claim in _claims(vs, index):
        other = first.get(claim, vs)
        if other is vs:
            continue
        yield Finding(
            ("spec", "hosts", i),
            f"host `{host}` is also claimed by {other.key} ({other.where}), bound to the "
            "mesh as well: Istio applies only one of them to sidecars; merge them",
        )


# --------------------------------------------------------------------------------------------
@rule(
    "ML905",
    "unknown-destinationrule-host",
    Severity.WARNING,
    scope="mesh",
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
