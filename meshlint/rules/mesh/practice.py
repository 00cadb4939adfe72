"""Cross-resource rules: practice. See meshlint/rules/mesh/references.py for the framework.

Best-practice checks that need more than one resource: circuit-breaker limits compared with
the replicas behind a host (ML985), DestinationRule subsets no VirtualService routes to
(ML986). Istio accepts everything reported here.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple

from meshlint.diagnostics import Finding, Severity
from meshlint.mesh import REPLICAS, MeshIndex, Record, label_map, selects
from meshlint.rules import rule
from meshlint.rules.lib.guards import is_int
from meshlint.rules.lib.mesh import destination_rule_host, items, literal, resolved_destinations
from meshlint.rules.lib.traffic import policy_blocks

_PRACTICE = "meshlint best practice"


# --------------------------------------------------------------------------------------------
# helpers (candidates for the index)


def _replicas(rec: Record) -> int | None:
    """How many pods a workload runs, as written: a Pod 1, a controller its `replicas`
    (Kubernetes' default 1 when absent); None when unknown (a DaemonSet runs one per node, a
    templated or malformed count)."""
    if rec.kind == "Pod":
        return 1
    if rec.kind == "DaemonSet":
        return None
    value = rec.data.get(REPLICAS, 1)
    if not is_int(value) or value < 0:
        return None
    return value


def _positive_int(value: Any) -> int | None:
    return value if is_int(value) and value > 0 else None


# --------------------------------------------------------------------------------------------
_LIMITS = (("tcp", "maxConnections"), ("http", "http2MaxRequests"))


def _workload_counts(
    pods: list[tuple[Record, dict[str, str]]],
) -> tuple[int, list[tuple[Record, dict[str, str]]]] | None:
    """The replicas of ``pods`` in total, with the pods, or None when one count is unknown."""
    total = 0
    for rec, _ in pods:
        n = _replicas(rec)
        if n is None:
            return None
        total += n
    return total, pods


def _shown(pods: list[tuple[Record, dict[str, str]]]) -> str:
    """How the replicas of ``pods`` (each count known) are made up."""
    parts = [f"{rec.key} ×{_replicas(rec)}" for rec, _ in pods[:3]]
    return ", ".join(parts) + (", …" if len(pods) > 3 else "")


def _counts_behind(
    index: MeshIndex, key: tuple[str, tuple[tuple[str, str], ...] | None]
) -> tuple[int, list[tuple[Record, dict[str, str]]]] | None:
    """:func:`_workload_counts` of the workloads behind a host (of a subset with these
    labels): once per host and subset labels (``index.memo_by``)."""
    host, wanted = key
    pods = index.workloads_of_host(host)
    if wanted is not None:
        labels = dict(wanted)
        pods = [w for w in pods if selects(labels, w[1])]
    return _workload_counts(pods)


@rule(
    "ML985",
    "circuit-breaker-below-replicas",
    Severity.WARNING,
    scope="mesh",
    kinds={"DestinationRule"},
    summary="A connection-pool limit of a DestinationRule is lower than the number of "
    "replicas behind its host.",
    rationale="""
        Istio's circuit-breaker limits hold for each client proxy and each destination
        cluster (the host, or one subset of it, on one port), for all of its endpoints
        together: they are neither per endpoint nor mesh-wide. A limit below the number of
        replicas therefore cannot have been sized for the whole host:

        - `tcp.maxConnections` below the replicas keeps a client proxy at its limit all
          the time. Envoy still opens one connection to an endpoint that has none (it never
          leaves one unreachable), but never a second: over HTTP/1.1, which carries one
          request at a time, each replica serves one request at a time from that client,
          the others wait in the pending queue and fail with 503 (`UO`, overflow) once
          `http1MaxPendingRequests` is reached;
        - `http.http2MaxRequests` (concurrent requests, whatever the HTTP version) below
          the replicas means one client never has a request on every replica at once, and
          its next concurrent request fails at once with 503 (`UO`).

        Either way adding replicas gives a client no more capacity; the value was probably
        meant for each endpoint. Size the limits for the whole host: the replicas times
        what one endpoint should take from one client. `http1MaxPendingRequests` is a queue
        length, not a concurrency limit, and is not compared with the replicas.

        The replicas are those of the Deployments, StatefulSets, ReplicaSets and Pods of
        the run that the host's Service selects (a subset's policy: those that also carry
        the subset's labels), `replicas` as written (1 when absent). Hosts with a DaemonSet
        or a templated replica count behind them are left alone, and so is a count that a
        HorizontalPodAutoscaler may change, which the run does not show. A value of 0
        means unlimited in Istio and is not compared.
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
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: reviews
          namespace: shop
        spec:
          replicas: 4
          selector:
            matchLabels:
              app: reviews
          template:
            metadata:
              labels:
                app: reviews
            spec:
              containers:
              - name: reviews
                image: example/reviews:1.0
        ---
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata:
          name: reviews
          namespace: shop
        spec:
          host: reviews
          trafficPolicy:
            connectionPool:
              tcp:
                maxConnections: 2  # expect: ML985@25 spec.trafficPolicy.connectionPool.tcp.maxConnections
              http:
                http2MaxRequests: 100
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
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: reviews
          namespace: shop
        spec:
          replicas: 4
          selector:
            matchLabels:
              app: reviews
          template:
            metadata:
              labels:
                app: reviews
            spec:
              containers:
              - name: reviews
                image: example/reviews:1.0
        ---
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata:
          name: reviews
          namespace: shop
        spec:
          host: reviews
          trafficPolicy:
            connectionPool:
              tcp:
                maxConnections: 40
              http:
                http2MaxRequests: 100
    """,
    source=f"{_PRACTICE}: istio/istio pilot/pkg/networking/core/cluster_traffic_policy.go "
    "(applyConnectionPool: the limits become the cluster's circuit_breakers thresholds, only "
    "values above 0); Envoy circuit breaking (limits per cluster and proxy; an endpoint without "
    "a connection always gets one: ConnPoolImplBase::tryCreateNewConnection)",
)
def circuit_breaker_below_replicas(dr: Record, index: MeshIndex) -> Iterator[Finding]:
    host = destination_rule_host(dr, index)
    if host is None:
        return
    behind = index.workloads_of_host(host)
    if not behind:
        return
    subsets = dr.spec.get("subsets")
    for path, block in policy_blocks(dr.spec):
        pool = block.get("connectionPool")
        if not isinstance(pool, dict):
            continue
        wanted: tuple[tuple[str, str], ...] | None = None
        subset: Any = None
        if path[1] == "subsets":  # ("spec", "subsets", i, "trafficPolicy", …)
            assert isinstance(subsets, list) and isinstance(path[2], int)
            subset = subsets[path[2]]
            wanted = tuple(sorted((label_map(subset.get("labels")) or {}).items()))
        counted = index.memo_by(_counts_behind, (host, wanted))
        if counted is None or counted[0] < 2:
            continue
        replicas, pods = counted
        for section, field in _LIMITS:
            part = pool.get(section)
            limit = _positive_int(part.get(field)) if isinstance(part, dict) else None
            if limit is None or limit >= replicas:
                continue
            what = f"`{dr.spec.get('host')}`"
            if subset is not None:
                what += f" subset {subset.get('name')}"
            if field == "maxConnections":
                effect = (
                    "past it Envoy opens only one connection per replica, so over "
                    "HTTP/1.1 each replica serves one request at a time from a client "
                    "and the rest queue and overflow with 503"
                )
            else:
                effect = (
                    "a client never has a request on every replica at once, and with "
                    f"{limit} requests in flight its next one fails with 503"
                )
            yield Finding(
                (*path, "connectionPool", section, field),
                f"{field} {limit} is below the {replicas} replicas behind {what} "
                f"({_shown(pods)}): the limit holds per client proxy for all of them "
                f"together; {effect}; size it for the whole host",
            )


# --------------------------------------------------------------------------------------------
class _Routing(NamedTuple):
    """What the VirtualServices of the run route to, by canonical host."""

    routed: dict[str, set[str]]  # the subsets routes name
    routers: dict[str, list[Record]]  # the VirtualServices routing there
    unknown: set[str]  # hosts with a route to a templated subset


def _routing(index: MeshIndex) -> _Routing | None:
    """None when a destination host is templated: it may be any host, so nothing can be
    said of any subset."""
    routed: dict[str, set[str]] = {}
    routers: dict[str, list[Record]] = {}
    unknown: set[str] = set()
    for vs in index.virtual_services:
        routes, where, canonicals = resolved_destinations(index, vs)
        if len(where) < len(routes):  # a host that is not literal: absent, or templated?
            for _, dest in routes:
                host = dest.get("host")
                if isinstance(host, str) and host and not literal(host):
                    return None
        last = None  # (the destinations of a route often share their host)
        for i, canonical in zip(where, canonicals, strict=True):
            if canonical != last:
                last = canonical
                names = routed.setdefault(canonical, set())
                vss = routers.setdefault(canonical, [])
                if not vss or vss[-1] is not vs:
                    vss.append(vs)
            subset = routes[i][1].get("subset")
            if isinstance(subset, str) and subset and "{{" not in subset:  # literal(subset)
                names.add(subset)
            elif subset is not None and subset != "":
                unknown.add(canonical)
    return _Routing(routed, routers, unknown)


@rule(
    "ML986",
    "unused-subset",
    Severity.INFO,
    scope="mesh",
    shares="route-destinations",
    kinds={"DestinationRule"},
    summary="A DestinationRule subset is not routed to by any VirtualService that routes to "
    "its host.",
    rationale="""
        A subset only receives traffic that a VirtualService routes to it by name: plain
        requests to the host go to all of its endpoints and use the DestinationRule's
        top-level traffic policy. A subset no route names is left over (a version that was
        retired, a name spelled differently in the VirtualService), and its labels and
        traffic policy do nothing.

        Only checked for hosts that the linted VirtualServices route to (route or mirror
        destinations, host names resolved in each resource's namespace): then the routing
        for the host is in the run and no route names the subset. Hosts no linted
        VirtualService routes to are left alone, since their routing may live elsewhere. It
        is information: a subset may be kept ready for a rollout, or be used by a gateway
        configuration that is not linted.
    """,
    bad="""
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
          - name: v2  # expect: ML986@11 spec.subsets[1].name
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
                subset: v1
    """,
    good="""
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
                subset: v1
              weight: 90
            - destination:
                host: reviews
                subset: v2
              weight: 10
    """,
    source=f"{_PRACTICE}: istio/api networking/v1alpha3/destination_rule.proto (Subset: "
    "its policies only apply when a route explicitly sends traffic to it)",
    catalogue=("dr-rt-subset-unused",),
)
def unused_subset(dr: Record, index: MeshIndex) -> Iterator[Finding]:
    routing = index.memo(_routing)
    host = destination_rule_host(dr, index)
    if routing is None or host is None:
        return
    if host not in routing.routed or host in routing.unknown:
        return
    used = routing.routed[host]
    for i, subset in items(dr.spec.get("subsets")):
        name = subset.get("name") if isinstance(subset, dict) else None
        if not literal(name) or name in used:
            continue
        vss = routing.routers[host]
        named = ", ".join(f"{v.key} ({v.where})" for v in vss[:3]) + (", …" if len(vss) > 3 else "")
        listed = ", ".join(sorted(used)) if used else "no subset"
        yield Finding(
            ("spec", "subsets", i, "name"),
            f"subset `{name}` of host `{dr.spec.get('host')}` is named by no route: "
            f"the VirtualServices that route to it ({named}) use {listed}; its labels "
            "and traffic policy do nothing until a route names it",
        )
