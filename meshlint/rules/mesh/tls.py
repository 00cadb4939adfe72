"""Cross-resource rules: mutual TLS across DestinationRules and PeerAuthentications, and the
merging of DestinationRules for one host. See meshlint/rules/mesh/references.py for the framework.

Client side, a DestinationRule's `tls.mode` says what a sidecar sends to a host (without one,
auto-mTLS decides, unless MeshConfig `enableAutoMtls: false`). Server side, the PeerAuthentication
composition (:meth:`MeshIndex.peer_mode`) says what a workload accepts. These rules compare the
two. DestinationRule hosts are "mesh-wide" (`*.local`, `*.<cluster domain>`) or
"namespace-wide" (`*.<ns>.svc.<cluster domain>`) as Istio's mTLS migration guides write them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from meshlint.diagnostics import FieldPath, Finding, Severity
from meshlint.mesh import (
    CONTAINER_PORTS,
    MeshIndex,
    PeerMode,
    Record,
    Workload,
    label_map,
    selects,
    workload_selector,
)
from meshlint.rules import rule
from meshlint.rules.lib.guards import port_int
from meshlint.rules.lib.mesh import KIALI, items, literal

ISTIOD = "istio/istio pilot/pkg/model"
MUTUAL_MODES = ("ISTIO_MUTUAL", "MUTUAL")
PLAIN_OR_SIMPLE = ("DISABLE", "SIMPLE")


# --------------------------------------------------------------------------------------------
# helpers (general ones would belong in the index)


def _auto_mtls_disabled(index: MeshIndex) -> bool:
    """Whether Istio's mesh config, held by the run, or else the `enable-auto-mtls` option,
    turns auto-mTLS off (it is on by default)."""
    return not index.auto_mtls()[0]


def _mesh_wide_host(index: MeshIndex, host: Any) -> bool:
    return isinstance(host, str) and host in ("*.local", f"*.{index.domain}")


def _namespace_wide_host(index: MeshIndex, host: Any) -> str | None:
    """The namespace a `*.<ns>.svc.<domain>` host covers, else None."""
    if not isinstance(host, str) or not host.startswith("*."):
        return None
    suffix = f".svc.{index.domain}"
    if not host.endswith(suffix):
        return None
    ns = host[2 : -len(suffix)]
    return ns if ns and "." not in ns and "*" not in ns else None


def _tls_mode(policy: Any) -> tuple[str, FieldPath] | None:
    """The client TLS mode a traffic policy sets, with the path (inside the policy) of the
    field that sets it: `tls.mode`, or `tls` itself when the block names no mode (DISABLE)."""
    if not isinstance(policy, dict):
        return None
    tls = policy.get("tls")
    if not isinstance(tls, dict):
        return None
    mode = tls.get("mode")
    if mode is None:
        return "DISABLE", ("tls",)
    if literal(mode):
        assert isinstance(mode, str)
        return mode, ("tls", "mode")
    return None


def _top_mode(dr: Record) -> str | None:
    found = _tls_mode(dr.spec.get("trafficPolicy"))
    return found[0] if found else None


def _first_selectorless_pa(index: MeshIndex) -> dict[str, Record]:
    """The PeerAuthentication that sets each namespace's level: the first selector-less one
    (Istio ignores the others). Computed once per run (``index.memo``)."""
    out: dict[str, Record] = {}
    for pa in index.by_kind.get("PeerAuthentication", ()):
        if workload_selector(pa) is None:
            out.setdefault(pa.effective_namespace, pa)
    return out


def _level_of(index: MeshIndex, ns: str) -> Record | None:
    """The PeerAuthentication that sets the level of namespace ``ns``, if any."""
    return index.memo(_first_selectorless_pa).get(ns)


def _pa_mode(pa: Record | None) -> str | None:
    """The mode a PeerAuthentication's `mtls` sets (None for UNSET or none)."""
    mtls = pa.spec.get("mtls") if pa is not None else None
    mode = mtls.get("mode") if isinstance(mtls, dict) else None
    if mode in ("DISABLE", "PERMISSIVE", "STRICT"):
        assert isinstance(mode, str)
        return mode
    return None


def _namespace_level(index: MeshIndex, ns: str) -> tuple[str, Record | None, str]:
    """The mode the namespace-level and mesh-level policies give ``ns`` (before any workload
    policy): (mode, the policy that decides it, "namespace" | "mesh" | "default")."""
    own = _level_of(index, ns)
    mode = _pa_mode(own)
    if mode is not None:
        return mode, own, "namespace"
    mesh = _level_of(index, index.root_namespace)
    mode = _pa_mode(mesh)
    if mode is not None:
        return mode, mesh, "mesh"
    return "PERMISSIVE", None, "default"


def _drs_by_kind_of_host(
    index: MeshIndex,
) -> tuple[list[Record], dict[str, list[Record]]]:
    """The mesh-wide DestinationRules, and the namespace-wide ones by namespace covered.
    Computed once per run (``index.memo``)."""
    mesh: list[Record] = []
    by_ns: dict[str, list[Record]] = {}
    for dr in index.by_kind.get("DestinationRule", ()):
        host = dr.spec.get("host")
        if _mesh_wide_host(index, host):
            mesh.append(dr)
        else:
            ns = _namespace_wide_host(index, host)
            if ns is not None:
                by_ns.setdefault(ns, []).append(dr)
    return mesh, by_ns


def _mesh_wide_rules(index: MeshIndex) -> list[Record]:
    return index.memo(_drs_by_kind_of_host)[0]


def _namespace_wide_rules(index: MeshIndex, ns: str) -> list[Record]:
    return index.memo(_drs_by_kind_of_host)[1].get(ns, [])


def _mode_path(dr: Record) -> FieldPath:
    found = _tls_mode(dr.spec.get("trafficPolicy"))
    return ("spec", "trafficPolicy", *(found[1] if found else ("tls",)))


def _pa_path(pm: PeerMode, port: int | None) -> FieldPath:
    if pm.scope == "port" and pm.source is not None:
        levels = pm.source.spec.get("portLevelMtls")
        if isinstance(levels, dict):
            for key in levels:
                if str(key) == str(port):
                    return ("spec", "portLevelMtls", str(key), "mode")
    return ("spec", "mtls", "mode")


def _container_port(svc_port: dict[str, Any], workload: Record) -> int | None:
    """The container port a Service port sends to on ``workload``: its `targetPort` (a number,
    or a container port's name), else the port itself."""
    target = svc_port.get("targetPort", svc_port.get("port"))
    number = port_int(target)
    if number is not None:
        return number
    if isinstance(target, str):
        for cp in workload.data.get(CONTAINER_PORTS) or ():
            if isinstance(cp, dict) and cp.get("name") == target:
                return port_int(cp.get("containerPort"))
    return None


def _port_number(setting: Any) -> int | None:
    port = setting.get("port") if isinstance(setting, dict) else None
    return port_int(port.get("number")) if isinstance(port, dict) else None


_TlsSetting = tuple[FieldPath, str, dict[str, str] | None, int | None, set[int]]


def _client_tls_settings(index: MeshIndex, dr: Record) -> list[_TlsSetting]:
    """Every TLS mode a DestinationRule sets for its host: (path of the field, mode, labels of
    the subset it is for or None, Service port it is for or None for every port, Service
    ports that a port-level entry takes out of a port-less setting). Listed once per
    DestinationRule of the run; the list is shared, to be read only."""
    return index.of_record(_client_tls_settings_of, dr)


def _client_tls_settings_of(index: MeshIndex, dr: Record) -> list[_TlsSetting]:
    return list(_each_client_tls_setting(dr))


def _each_client_tls_setting(dr: Record) -> Iterator[_TlsSetting]:
    scopes: list[tuple[FieldPath, Any, dict[str, str] | None]] = [
        (("spec", "trafficPolicy"), dr.spec.get("trafficPolicy"), None)
    ]
    for i, subset in items(dr.spec.get("subsets")):
        policy = subset.get("trafficPolicy") if isinstance(subset, dict) else None
        if isinstance(policy, dict):  # (a subset without a policy sets no mode)
            wanted = label_map(subset.get("labels")) or {}
            scopes.append((("spec", "subsets", i, "trafficPolicy"), policy, wanted))
    for base, policy, labels in scopes:
        if not isinstance(policy, dict):
            continue
        levels = [(j, s, _port_number(s)) for j, s in items(policy.get("portLevelSettings"))]
        listed = {n for _, _, n in levels if n is not None}
        top = _tls_mode(policy)
        if top is not None:
            yield (*base, *top[1]), top[0], labels, None, listed
        for j, setting, number in levels:
            found = _tls_mode(setting)
            if found is not None and number is not None:
                path = (*base, "portLevelSettings", j, *found[1])
                yield path, found[0], labels, number, set()


def _server_modes(
    index: MeshIndex,
    host: str,
    labels: dict[str, str] | None,
    port: int | None,
    excluded: set[int],
) -> list[tuple[Workload, int | None, PeerMode]]:
    """The mTLS mode each workload behind ``host`` (of the subset with ``labels``) accepts on
    the container port(s) that the Service ``port`` (or every Service port but ``excluded``)
    sends to: the first workload of each distinct (container port, mode), in the order of the
    run. Worked out once per host, subset labels and ports (``index.memo_by``)."""
    key = (
        host,
        None if labels is None else tuple(sorted(labels.items())),
        port,
        tuple(sorted(excluded)),
    )
    return index.memo_by(_server_modes_of, key)


def _server_modes_of(
    index: MeshIndex,
    key: tuple[str, tuple[tuple[str, str], ...] | None, int | None, tuple[int, ...]],
) -> list[tuple[Workload, int | None, PeerMode]]:
    host, wanted, port, excluded = key
    labels = None if wanted is None else dict(wanted)
    ports: dict[str, dict[str, Any]] = {}  # copies of one Service repeat its ports: once each
    for p in index.service_ports(host):
        if (port is None and port_int(p.get("port")) not in excluded) or (
            port is not None and port_int(p.get("port")) == port
        ):
            ports.setdefault(repr(p.get("targetPort", p.get("port"))), p)
    # one entry per container port and mode (mode, scope and deciding policy)
    found: dict[tuple[int | None, str, str, int], tuple[Workload, int | None, PeerMode]] = {}
    for w in index.workloads_of_host(host):
        if labels is not None and not selects(labels, w[1]):
            continue
        ns = w[0].effective_namespace
        if not ports:
            if port is None:
                pm = index.peer_mode(ns, w[1])
                found.setdefault((None, pm.mode, pm.scope, id(pm.source)), (w, None, pm))
            continue
        for p in ports.values():
            cport = _container_port(p, w[0])
            pm = index.peer_mode(ns, w[1], cport)
            found.setdefault((cport, pm.mode, pm.scope, id(pm.source)), (w, cport, pm))
    return list(found.values())


def _dr_host(index: MeshIndex, dr: Record) -> str | None:
    """The canonical host of a DestinationRule for a literal, non-wildcard host, else None."""
    host = dr.spec.get("host")
    if literal(host) and isinstance(host, str) and "*" not in host:
        return index.canonical(host, dr.effective_namespace)
    return None


# --------------------------------------------------------------------------------------------
# ML920: the merging of DestinationRules for one host


def _merge_group(index: MeshIndex, dr: Record) -> tuple[Any, ...] | None:
    """The key that the DestinationRules istiod merges with ``dr`` share (None when its host
    is no literal name): worked out once per DestinationRule."""
    return index.of_record(_merge_group_of, dr)


def _merge_group_of(index: MeshIndex, dr: Record) -> tuple[Any, ...] | None:
    host = dr.spec.get("host")
    if not literal(host):
        return None
    assert isinstance(host, str)
    ns = dr.effective_namespace
    selector = workload_selector(dr)
    raw = dr.spec.get("exportTo")
    exported = frozenset({"."})
    if selector is None:
        # as written: istiod compares the exportTo sets themselves
        exported = frozenset(v for _, v in items(raw) if isinstance(v, str))
    place = dr.namespace if dr.namespace is not None else "\0" + dr.file
    sel = tuple(sorted(selector.items())) if selector is not None else None
    return (place, index.resolve(host, ns), exported, sel)


def _subset_names(dr: Record) -> Iterator[tuple[int, str]]:
    """(index in `subsets`, name) of each subset with a literal name."""
    for i, subset in items(dr.spec.get("subsets")):
        name = subset.get("name") if isinstance(subset, dict) else None
        if literal(name):
            assert isinstance(name, str)
            yield i, name


_Group = tuple[Any, ...]


def _merge_winners(
    index: MeshIndex,
) -> tuple[dict[_Group, Record], dict[_Group, dict[str, Record]]]:
    """For each merge group, the oldest DestinationRule with a `trafficPolicy` and the oldest
    that declares each subset name: what istiod keeps of the merged rules (groups of one
    rule are left out)."""
    members: dict[_Group, list[Record]] = {}
    for dr in index.by_kind.get("DestinationRule", ()):
        group = _merge_group(index, dr)
        if group is not None:
            members.setdefault(group, []).append(dr)
    policy_from: dict[_Group, Record] = {}
    subsets_from: dict[_Group, dict[str, Record]] = {}
    for group, drs in members.items():
        if len(drs) < 2:
            continue  # merged with nothing: it keeps all it has
        for dr in drs:
            if dr.spec.get("trafficPolicy") is not None:
                policy_from.setdefault(group, dr)
            owners = subsets_from.setdefault(group, {})
            for _, name in _subset_names(dr):
                owners.setdefault(name, dr)
    return policy_from, subsets_from


@rule(
    "ML920",
    "destinationrule-merge-drops-fields",
    Severity.WARNING,
    scope="mesh",
    kinds={"DestinationRule"},
    summary="A DestinationRule merged with an older one for the same host loses its traffic "
    "policy or a subset.",
    rationale="""
        Istio does not reject two DestinationRules for one host: when they are in the same
        namespace, have the same `exportTo` and neither has a `workloadSelector` (or both have
        the same one), istiod merges them into one. The merge is lopsided: the subsets of the
        newer rule are appended, except those whose name the older one already declares, and
        the newer rule's `trafficPolicy` is used only when the older one has none. Whatever is
        dropped is dropped silently: the connection pool, TLS mode or load balancer written
        in the second rule never reaches a proxy.

        "Older" is creation time; in a repository the first resource in the run stands for
        it. The finding is on the field of the later DestinationRule that is lost, and names
        the rule that wins. Hosts are compared as istiod compares them, after resolving short
        names in each rule's namespace. Put everything for one host into one DestinationRule.
    """,
    bad="""
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata:
          name: reviews
          namespace: shop
        spec:
          host: reviews
          trafficPolicy:
            loadBalancer:
              simple: LEAST_REQUEST
          subsets:
          - name: v1
            labels:
              version: v1
        ---
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata:
          name: reviews-pool
          namespace: shop
        spec:
          host: reviews.shop.svc.cluster.local
          trafficPolicy:  # expect: ML920@3 spec.trafficPolicy
            connectionPool:
              tcp:
                maxConnections: 100
    """,
    good="""
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata:
          name: reviews
          namespace: shop
        spec:
          host: reviews
          trafficPolicy:
            loadBalancer:
              simple: LEAST_REQUEST
            connectionPool:
              tcp:
                maxConnections: 100
          subsets:
          - name: v1
            labels:
              version: v1
    """,
    kiali="KIA0201",
    source=f"{ISTIOD}/destination_rule.go (mergeDestinationRule), push_context.go "
    f"(setDestinationRules); {KIALI}/destinationrules/multi_match_checker.go",
    catalogue=("dr-rt-merge", "dr-k-multimatch"),
)
def destinationrule_merge_drops_fields(dr: Record, index: MeshIndex) -> Iterator[Finding]:
    group = _merge_group(index, dr)
    if group is None:
        return
    policy_from, subsets_from = index.memo(_merge_winners)
    if group not in subsets_from:
        return  # merged with no other rule
    host = group[1]
    first = policy_from.get(group, dr)
    if dr.spec.get("trafficPolicy") is not None and first is not dr:
        yield Finding(
            ("spec", "trafficPolicy"),
            f"istiod merges this DestinationRule into {first.key} ({first.where}), "
            f"the older rule for `{host}`, which has a `trafficPolicy` already: this "
            "`trafficPolicy` is dropped; move it into that rule",
            key=True,
        )
    owners = subsets_from.get(group, {})
    for i, name in _subset_names(dr):
        first = owners.get(name, dr)
        if first is not dr:
            yield Finding(
                ("spec", "subsets", i, "name"),
                f"subset `{name}` of `{host}` is declared by {first.key} ({first.where}) "
                "already: istiod merges the two rules and drops this subset",
            )


# --------------------------------------------------------------------------------------------
def _sets_tls(dr: Record) -> bool:
    policy = dr.spec.get("trafficPolicy")
    if not isinstance(policy, dict):
        return False
    if "tls" in policy:
        return True
    return any(
        isinstance(s, dict) and "tls" in s for _, s in items(policy.get("portLevelSettings"))
    )


def _mutual_mesh_wide(index: MeshIndex) -> list[Record]:
    """The mesh-wide DestinationRules whose top-level `tls.mode` is ISTIO_MUTUAL (once)."""
    return [d for d in _mesh_wide_rules(index) if _top_mode(d) == "ISTIO_MUTUAL"]


def _first_wide_mutual(index: MeshIndex, key: tuple[str | None, str]) -> Record | None:
    """The first namespace- or mesh-wide ISTIO_MUTUAL DestinationRule a rule for a host of
    namespace ``host_ns`` (None: not a cluster host) written in ``ns`` replaces: once per pair
    (``index.memo_by``)."""
    host_ns, ns = key
    wide = [
        w
        for w in _namespace_wide_rules(index, host_ns or "\0")
        if _top_mode(w) == "ISTIO_MUTUAL" and w.effective_namespace in (ns, index.root_namespace)
    ]
    if not wide and host_ns is not None:
        mesh = index.memo(_mutual_mesh_wide)
        wide = [w for w in mesh if w.effective_namespace in (ns, index.root_namespace)]
    return wide[0] if wide else None


@rule(
    "ML921",
    "destinationrule-hides-wide-mtls",
    Severity.WARNING,
    scope="mesh",
    shares="mtls-settings",
    kinds={"DestinationRule"},
    summary="A host's DestinationRule sets no TLS mode, so the mesh- or namespace-wide "
    "ISTIO_MUTUAL DestinationRule no longer applies to that host.",
    rationale="""
        Istio picks one DestinationRule per host, the one whose host is the most specific;
        it does not inherit settings from a wildcard rule. When a mesh-wide (`*.local`) or
        namespace-wide (`*.<ns>.svc.cluster.local`) DestinationRule sets
        `tls.mode: ISTIO_MUTUAL`, a DestinationRule for one host of its scope that sets no
        `tls` (neither in `trafficPolicy` nor in a port-level setting) replaces it for that
        host. With auto-mTLS turned off in MeshConfig the host then gets plaintext; with
        auto-mTLS on (the default) only auto-mTLS still encrypts, and only towards workloads
        that have a sidecar. Repeat `tls: {mode: ISTIO_MUTUAL}` in the host's rule.

        The wide rule counts when it is in the host rule's namespace or in the root
        namespace. An ISTIO_MUTUAL rule for the very same host is merged or conflicts, which
        ML920 reports.
    """,
    bad="""
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata:
          name: shop-mtls
          namespace: shop
        spec:
          host: "*.shop.svc.cluster.local"
          trafficPolicy:
            tls:
              mode: ISTIO_MUTUAL
        ---
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata:
          name: cart
          namespace: shop
        spec:
          host: cart
          trafficPolicy:  # expect: ML921@3 spec.trafficPolicy
            connectionPool:
              tcp:
                maxConnections: 100
    """,
    good="""
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata:
          name: shop-mtls
          namespace: shop
        spec:
          host: "*.shop.svc.cluster.local"
          trafficPolicy:
            tls:
              mode: ISTIO_MUTUAL
        ---
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata:
          name: cart
          namespace: shop
        spec:
          host: cart
          trafficPolicy:
            connectionPool:
              tcp:
                maxConnections: 100
            tls:
              mode: ISTIO_MUTUAL
    """,
    kiali="KIA0204",
    source=f"{KIALI}/destinationrules/traffic_policy_checker.go; {ISTIOD}/destination_rule.go "
    "(no inheritance between hosts)",
    catalogue=("dr-k-tls-overridden",),
)
def destinationrule_hides_wide_mtls(dr: Record, index: MeshIndex) -> Iterator[Finding]:
    host = _dr_host(index, dr)
    if host is None or _sets_tls(dr):
        return
    mesh = index.memo(_mutual_mesh_wide)
    if not mesh and not index.memo(_drs_by_kind_of_host)[1]:
        return
    host_ns = index.cluster_namespace(host)
    other = index.memo_by(_first_wide_mutual, (host_ns, dr.effective_namespace))
    if other is None:
        return
    effect = (
        "auto-mTLS is off in the mesh config, so traffic to it is plaintext"
        if _auto_mtls_disabled(index)
        else "only auto-mTLS still encrypts it, and only towards workloads with a sidecar"
    )
    policy = dr.spec.get("trafficPolicy")
    yield Finding(
        ("spec", "trafficPolicy") if isinstance(policy, dict) else ("spec", "host"),
        f"this rule for `{host}` sets no `tls`, and replaces {other.key} ({other.where}), "
        f"whose `tls.mode: ISTIO_MUTUAL` for `{other.spec.get('host')}` no longer applies "
        f"to the host: {effect}; add `tls: {{mode: ISTIO_MUTUAL}}`",
        key=True,
    )


# --------------------------------------------------------------------------------------------
# Kiali's mesh- and namespace-wide mTLS checks. Only the PeerAuthentication that decides a
# namespace's level counts (the first selector-less one; Istio ignores the others).

_AUTO_OFF_CONFIG = """
        ---
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: istio
          namespace: istio-system
        data:
          mesh: |-
            enableAutoMtls: false
"""


def _with_mesh_config(text: str) -> str:
    """An example with Istio's mesh ConfigMap turning auto-mTLS off."""
    return text.rstrip() + _AUTO_OFF_CONFIG


@rule(
    "ML922",
    "mesh-mtls-destinationrule-without-peerauthentication",
    Severity.WARNING,
    scope="mesh",
    shares="mtls-settings",
    kinds={"DestinationRule"},
    summary="A mesh-wide ISTIO_MUTUAL DestinationRule has no mesh-wide PeerAuthentication "
    "to go with it while auto-mTLS is off.",
    rationale="""
        With auto-mTLS turned off (MeshConfig `enableAutoMtls: false`), mutual TLS is set up
        by hand on both sides: a mesh-wide DestinationRule (`*.local`) with
        `tls.mode: ISTIO_MUTUAL` for the clients, and a mesh-wide PeerAuthentication (in the
        root namespace, without selector) for the servers. Without the PeerAuthentication the
        servers are PERMISSIVE by default: the mesh's own traffic is encrypted, but every
        workload still accepts plaintext, which is seldom what a mesh-wide mTLS rule intends.
        Add the PeerAuthentication with `STRICT` (or `PERMISSIVE`, to say so).

        Checked only when auto-mTLS is known to be off: Istio's mesh ConfigMap (`istio` in
        the root namespace) in the run turns it off, or, without it, the `enable-auto-mtls:
        false` option says so. Kiali calls this an error; it is a warning here, since
        connections do work.
    """,
    bad=_with_mesh_config(
        """
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata:
          name: mesh-mtls
          namespace: istio-system
        spec:
          host: "*.local"
          trafficPolicy:
            tls:
              mode: ISTIO_MUTUAL  # expect: ML922@13 spec.trafficPolicy.tls.mode
        """
    ),
    good=_with_mesh_config(
        """
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata:
          name: mesh-mtls
          namespace: istio-system
        spec:
          host: "*.local"
          trafficPolicy:
            tls:
              mode: ISTIO_MUTUAL
        ---
        apiVersion: security.istio.io/v1
        kind: PeerAuthentication
        metadata:
          name: default
          namespace: istio-system
        spec:
          mtls:
            mode: STRICT
        """
    ),
    kiali="KIA0205",
    source=f"{KIALI}/destinationrules/meshwide_mtls_checker.go",
    catalogue=("dr-k-mesh-mtls-no-pa",),
)
def mesh_mtls_destinationrule_without_peerauthentication(
    dr: Record, index: MeshIndex
) -> Iterator[Finding]:
    if not _mesh_wide_host(index, dr.spec.get("host")) or _top_mode(dr) != "ISTIO_MUTUAL":
        return
    if not _auto_mtls_disabled(index):
        return
    if _pa_mode(_level_of(index, index.root_namespace)) is not None:
        return
    yield Finding(
        _mode_path(dr),
        "auto-mTLS is off and no mesh-wide PeerAuthentication (namespace "
        f"`{index.root_namespace}`, no selector) sets a mode: clients use mTLS, but "
        "every workload stays PERMISSIVE and accepts plaintext too",
    )


@rule(
    "ML923",
    "namespace-mtls-destinationrule-without-peerauthentication",
    Severity.WARNING,
    scope="mesh",
    shares="mtls-settings",
    kinds={"DestinationRule"},
    summary="A namespace-wide ISTIO_MUTUAL DestinationRule has no namespace- or mesh-wide "
    "PeerAuthentication to go with it while auto-mTLS is off.",
    rationale="""
        The namespace form of ML922: with auto-mTLS off, a DestinationRule for
        `*.<ns>.svc.cluster.local` with `tls.mode: ISTIO_MUTUAL` makes clients use mutual
        TLS towards the namespace, but when neither a PeerAuthentication of that namespace
        (without selector) nor the mesh-wide one sets a mode, its workloads stay PERMISSIVE
        and keep accepting plaintext. Add a PeerAuthentication to the namespace.

        Checked only when auto-mTLS is known to be off (the mesh ConfigMap of the run, or
        the `enable-auto-mtls: false` option). Kiali calls this an error; it is a warning
        here, since connections do work.
    """,
    bad=_with_mesh_config(
        """
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata:
          name: shop-mtls
          namespace: shop
        spec:
          host: "*.shop.svc.cluster.local"
          trafficPolicy:
            tls:
              mode: ISTIO_MUTUAL  # expect: ML923@13 spec.trafficPolicy.tls.mode
        """
    ),
    good=_with_mesh_config(
        """
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata:
          name: shop-mtls
          namespace: shop
        spec:
          host: "*.shop.svc.cluster.local"
          trafficPolicy:
            tls:
              mode: ISTIO_MUTUAL
        ---
        apiVersion: security.istio.io/v1
        kind: PeerAuthentication
        metadata:
          name: default
          namespace: shop
        spec:
          mtls:
            mode: STRICT
        """
    ),
    kiali="KIA0206",
    source=f"{KIALI}/destinationrules/namespacewide_mtls_checker.go",
    catalogue=("dr-k-ns-mtls-no-pa",),
)
def namespace_mtls_destinationrule_without_peerauthentication(
    dr: Record, index: MeshIndex
) -> Iterator[Finding]:
    ns = _namespace_wide_host(index, dr.spec.get("host"))
    if ns is None or _top_mode(dr) != "ISTIO_MUTUAL" or not _auto_mtls_disabled(index):
        return
    if _namespace_level(index, ns)[2] != "default":
        return
    yield Finding(
        _mode_path(dr),
        f"auto-mTLS is off and neither a PeerAuthentication of namespace `{ns}` "
        "nor the mesh-wide one sets a mode: clients use mTLS, but the namespace's "
        "workloads stay PERMISSIVE and accept plaintext too",
    )


# --------------------------------------------------------------------------------------------
def _mutual(drs: list[Record], modes: tuple[str, ...] = ("ISTIO_MUTUAL",)) -> Record | None:
    return next((d for d in drs if _top_mode(d) in modes), None)


@rule(
    "ML924",
    "mesh-strict-without-mtls-destinationrule",
    Severity.ERROR,
    scope="mesh",
    shares="mtls-settings",
    kinds={"PeerAuthentication"},
    summary="A mesh-wide STRICT PeerAuthentication has no mesh-wide ISTIO_MUTUAL "
    "DestinationRule while auto-mTLS is off.",
    rationale="""
        With auto-mTLS turned off (MeshConfig `enableAutoMtls: false`), sidecars send
        plaintext unless a DestinationRule tells them to use `ISTIO_MUTUAL`. A mesh-wide
        STRICT PeerAuthentication then makes every workload refuse that plaintext: calls
        inside the mesh fail unless a mesh-wide DestinationRule (`*.local`) sets
        `tls.mode: ISTIO_MUTUAL`.

        Checked only when auto-mTLS is known to be off (the mesh ConfigMap of the run, or
        the `enable-auto-mtls: false` option).
    """,
    bad=_with_mesh_config(
        """
        apiVersion: security.istio.io/v1
        kind: PeerAuthentication
        metadata:
          name: default
          namespace: istio-system
        spec:
          mtls:
            mode: STRICT  # expect: ML924@11 spec.mtls.mode
        """
    ),
    good=_with_mesh_config(
        """
        apiVersion: security.istio.io/v1
        kind: PeerAuthentication
        metadata:
          name: default
          namespace: istio-system
        spec:
          mtls:
            mode: STRICT
        ---
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata:
          name: mesh-mtls
          namespace: istio-system
        spec:
          host: "*.local"
          trafficPolicy:
            tls:
              mode: ISTIO_MUTUAL
        """
    ),
    kiali="KIA0401",
    source=f"{KIALI}/peerauthentications/mesh_mtls_checker.go",
    catalogue=("pa-k-mesh-strict-no-dr",),
)
def mesh_strict_without_mtls_destinationrule(pa: Record, index: MeshIndex) -> Iterator[Finding]:
    if pa.effective_namespace != index.root_namespace or _pa_mode(pa) != "STRICT":
        return
    if _level_of(index, index.root_namespace) is not pa or not _auto_mtls_disabled(index):
        return
    if _mutual(_mesh_wide_rules(index)) is not None:
        return
    yield Finding(
        ("spec", "mtls", "mode"),
        "auto-mTLS is off and no mesh-wide DestinationRule (`*.local`) sets "
        "`tls.mode: ISTIO_MUTUAL`: clients send plaintext, which this STRICT policy refuses",
    )


@rule(
    "ML925",
    "namespace-strict-without-mtls-destinationrule",
    Severity.ERROR,
    scope="mesh",
    shares="mtls-settings",
    kinds={"PeerAuthentication"},
    summary="A namespace-wide STRICT PeerAuthentication has no namespace- or mesh-wide "
    "ISTIO_MUTUAL DestinationRule while auto-mTLS is off.",
    rationale="""
        The namespace form of ML924: with auto-mTLS off, a STRICT PeerAuthentication for a
        whole namespace refuses the plaintext that clients send unless a DestinationRule for
        `*.<ns>.svc.cluster.local` or the mesh-wide one (`*.local`) sets
        `tls.mode: ISTIO_MUTUAL`.

        Checked only when auto-mTLS is known to be off (the mesh ConfigMap of the run, or
        the `enable-auto-mtls: false` option).
    """,
    bad=_with_mesh_config(
        """
        apiVersion: security.istio.io/v1
        kind: PeerAuthentication
        metadata:
          name: default
          namespace: shop
        spec:
          mtls:
            mode: STRICT  # expect: ML925@11 spec.mtls.mode
        """
    ),
    good=_with_mesh_config(
        """
        apiVersion: security.istio.io/v1
        kind: PeerAuthentication
        metadata:
          name: default
          namespace: shop
        spec:
          mtls:
            mode: STRICT
        ---
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata:
          name: shop-mtls
          namespace: shop
        spec:
          host: "*.shop.svc.cluster.local"
          trafficPolicy:
            tls:
              mode: ISTIO_MUTUAL
        """
    ),
    kiali="KIA0501",
    source=f"{KIALI}/peerauthentications/namespace_mtls_checker.go",
    catalogue=("pa-k-ns-strict-no-dr",),
)
def namespace_strict_without_mtls_destinationrule(
    pa: Record, index: MeshIndex
) -> Iterator[Finding]:
    ns = pa.effective_namespace
    if ns == index.root_namespace or _pa_mode(pa) != "STRICT" or _level_of(index, ns) is not pa:
        return
    if not _auto_mtls_disabled(index) or _mutual(_mesh_wide_rules(index)) is not None:
        return
    if _mutual(_namespace_wide_rules(index, ns)) is not None:
        return
    yield Finding(
        ("spec", "mtls", "mode"),
        f"auto-mTLS is off and neither a DestinationRule for `*.{ns}.svc.{index.domain}` "
        "nor a mesh-wide one (`*.local`) sets `tls.mode: ISTIO_MUTUAL`: clients send "
        "plaintext, which this STRICT policy refuses",
    )


# --------------------------------------------------------------------------------------------
def _disables_towards_strict(dr: Record, index: MeshIndex, scope: str) -> tuple[str, Record] | None:
    """(namespace, the policy that makes it STRICT at ``scope`` level) for a namespace-wide
    DestinationRule that disables TLS, or None."""
    ns = _namespace_wide_host(index, dr.spec.get("host"))
    if ns is None or _mesh_wide_host(index, dr.spec.get("host")) or _top_mode(dr) != "DISABLE":
        return None
    mode, pa, level = _namespace_level(index, ns)
    if mode != "STRICT" or pa is None or level != scope:
        return None
    return ns, pa


def _refused(ns: str, pa: Record, scope: str) -> str:
    return (
        f"clients send plaintext to namespace `{ns}`, but {pa.key} ({pa.where}) "
        f"makes it STRICT{' (the mesh-wide policy)' if scope == 'mesh' else ''}: "
        "connections are refused"
    )


@rule(
    "ML926",
    "namespace-destinationrule-disables-strict-mtls",
    Severity.ERROR,
    scope="mesh",
    shares="mtls-settings",
    kinds={"DestinationRule"},
    summary="A namespace-wide DestinationRule disables TLS towards a namespace whose "
    "PeerAuthentication is STRICT.",
    rationale="""
        A DestinationRule for `*.<ns>.svc.cluster.local` with `tls.mode: DISABLE` (or a `tls`
        block without `mode`, which means DISABLE) makes clients send plaintext to every
        service of the namespace, while the namespace's PeerAuthentication (without selector)
        is STRICT and refuses plaintext: the connections are reset. Remove the `tls` block
        (auto-mTLS) or set `ISTIO_MUTUAL`.
    """,
    bad="""
        apiVersion: security.istio.io/v1
        kind: PeerAuthentication
        metadata:
          name: default
          namespace: shop
        spec:
          mtls:
            mode: STRICT
        ---
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata:
          name: shop-plaintext
          namespace: shop
        spec:
          host: "*.shop.svc.cluster.local"
          trafficPolicy:
            tls:
              mode: DISABLE  # expect: ML926@13 spec.trafficPolicy.tls.mode
    """,
    good="""
        apiVersion: security.istio.io/v1
        kind: PeerAuthentication
        metadata:
          name: default
          namespace: shop
        spec:
          mtls:
            mode: STRICT
        ---
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata:
          name: shop-mtls
          namespace: shop
        spec:
          host: "*.shop.svc.cluster.local"
          trafficPolicy:
            tls:
              mode: ISTIO_MUTUAL
    """,
    kiali="KIA0207",
    source=f"{KIALI}/destinationrules/disabled_namespacewide_mtls_checker.go",
    catalogue=("dr-k-ns-disable-strict",),
)
def namespace_destinationrule_disables_strict_mtls(
    dr: Record, index: MeshIndex
) -> Iterator[Finding]:
    found = _disables_towards_strict(dr, index, "namespace")
    if found is not None:
        yield Finding(_mode_path(dr), _refused(*found, "namespace"))


@rule(
    "ML927",
    "destinationrule-disables-mesh-strict-mtls",
    Severity.ERROR,
    scope="mesh",
    shares="mtls-settings",
    kinds={"DestinationRule"},
    summary="A mesh- or namespace-wide DestinationRule disables TLS while the mesh-wide "
    "PeerAuthentication is STRICT.",
    rationale="""
        A mesh-wide DestinationRule (`*.local`) with `tls.mode: DISABLE` makes every client
        send plaintext, while the mesh-wide PeerAuthentication (root namespace, no selector)
        is STRICT and refuses it. The same holds for a namespace-wide DestinationRule
        (`*.<ns>.svc.cluster.local`) when the namespace has no PeerAuthentication of its own
        that sets a mode, so that it inherits the mesh's STRICT. A `tls` block without `mode`
        means DISABLE.
    """,
    bad="""
        apiVersion: security.istio.io/v1
        kind: PeerAuthentication
        metadata:
          name: default
          namespace: istio-system
        spec:
          mtls:
            mode: STRICT
        ---
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata:
          name: mesh-plaintext
          namespace: istio-system
        spec:
          host: "*.local"
          trafficPolicy:
            tls:
              mode: DISABLE  # expect: ML927@13 spec.trafficPolicy.tls.mode
    """,
    good="""
        apiVersion: security.istio.io/v1
        kind: PeerAuthentication
        metadata:
          name: default
          namespace: istio-system
        spec:
          mtls:
            mode: STRICT
        ---
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata:
          name: mesh-mtls
          namespace: istio-system
        spec:
          host: "*.local"
          trafficPolicy:
            tls:
              mode: ISTIO_MUTUAL
    """,
    kiali="KIA0208",
    source=f"{KIALI}/destinationrules/disabled_meshwide_mtls_checker.go, "
    "disabled_namespacewide_mtls_checker.go",
    catalogue=("dr-k-disable-mesh-strict",),
)
def destinationrule_disables_mesh_strict_mtls(dr: Record, index: MeshIndex) -> Iterator[Finding]:
    if _mesh_wide_host(index, dr.spec.get("host")):
        mode, pa, _ = _namespace_level(index, index.root_namespace)
        if mode == "STRICT" and pa is not None and _top_mode(dr) == "DISABLE":
            yield Finding(
                _mode_path(dr),
                f"clients send plaintext to every host, but {pa.key} ({pa.where}) "
                "makes the mesh STRICT: connections are refused",
            )
        return
    found = _disables_towards_strict(dr, index, "mesh")
    if found is not None:
        yield Finding(_mode_path(dr), _refused(*found, "mesh"))


# --------------------------------------------------------------------------------------------
@rule(
    "ML928",
    "namespace-peerauthentication-disable-vs-mtls-destinationrule",
    Severity.ERROR,
    scope="mesh",
    shares="mtls-settings",
    kinds={"PeerAuthentication"},
    summary="A namespace-wide PeerAuthentication disables mTLS while a namespace- or "
    "mesh-wide DestinationRule makes clients use it.",
    rationale="""
        A PeerAuthentication without selector with `mtls.mode: DISABLE` makes the
        namespace's workloads accept plaintext only. When a DestinationRule for
        `*.<ns>.svc.cluster.local` sets `tls.mode` ISTIO_MUTUAL or MUTUAL, or the mesh-wide
        one (`*.local`) does and no namespace-wide rule sets DISABLE, clients send TLS that
        those workloads cannot read: the connections fail.
    """,
    bad="""
        apiVersion: security.istio.io/v1
        kind: PeerAuthentication
        metadata:
          name: default
          namespace: legacy
        spec:
          mtls:
            mode: DISABLE  # expect: ML928@11 spec.mtls.mode
        ---
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata:
          name: legacy-mtls
          namespace: legacy
        spec:
          host: "*.legacy.svc.cluster.local"
          trafficPolicy:
            tls:
              mode: ISTIO_MUTUAL
    """,
    good="""
        apiVersion: security.istio.io/v1
        kind: PeerAuthentication
        metadata:
          name: default
          namespace: legacy
        spec:
          mtls:
            mode: DISABLE
        ---
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata:
          name: legacy-plaintext
          namespace: legacy
        spec:
          host: "*.legacy.svc.cluster.local"
          trafficPolicy:
            tls:
              mode: DISABLE
    """,
    kiali="KIA0505",
    source=f"{KIALI}/peerauthentications/disabled_namespacewide_checker.go",
    catalogue=("pa-k-ns-disable-dr-mtls",),
)
def namespace_peerauthentication_disable_vs_mtls_destinationrule(
    pa: Record, index: MeshIndex
) -> Iterator[Finding]:
    ns = pa.effective_namespace
    if ns == index.root_namespace or _pa_mode(pa) != "DISABLE" or _level_of(index, ns) is not pa:
        return
    wide = _namespace_wide_rules(index, ns)
    other = _mutual(wide, MUTUAL_MODES)
    if other is None and not any(_top_mode(d) == "DISABLE" for d in wide):
        other = _mutual(_mesh_wide_rules(index), MUTUAL_MODES)
    if other is None:
        return
    yield Finding(
        ("spec", "mtls", "mode"),
        f"{other.key} ({other.where}) makes clients use `{_top_mode(other)}` towards "
        f"`{other.spec.get('host')}`, but this policy makes namespace `{ns}` accept "
        "plaintext only: those connections fail",
    )


@rule(
    "ML929",
    "mesh-peerauthentication-disable-vs-mtls-destinationrule",
    Severity.ERROR,
    scope="mesh",
    shares="mtls-settings",
    kinds={"PeerAuthentication"},
    summary="The mesh-wide PeerAuthentication disables mTLS while the mesh-wide "
    "DestinationRule makes clients use it.",
    rationale="""
        A PeerAuthentication in the root namespace without selector with
        `mtls.mode: DISABLE` makes every workload (that no namespace or workload policy
        overrides) accept plaintext only, while a mesh-wide DestinationRule (`*.local`) with
        `tls.mode` ISTIO_MUTUAL or MUTUAL makes every client send TLS: the connections fail.
    """,
    bad="""
        apiVersion: security.istio.io/v1
        kind: PeerAuthentication
        metadata:
          name: default
          namespace: istio-system
        spec:
          mtls:
            mode: DISABLE  # expect: ML929@11 spec.mtls.mode
        ---
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata:
          name: mesh-mtls
          namespace: istio-system
        spec:
          host: "*.local"
          trafficPolicy:
            tls:
              mode: ISTIO_MUTUAL
    """,
    good="""
        apiVersion: security.istio.io/v1
        kind: PeerAuthentication
        metadata:
          name: default
          namespace: istio-system
        spec:
          mtls:
            mode: STRICT
        ---
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata:
          name: mesh-mtls
          namespace: istio-system
        spec:
          host: "*.local"
          trafficPolicy:
            tls:
              mode: ISTIO_MUTUAL
    """,
    kiali="KIA0506",
    source=f"{KIALI}/peerauthentications/disabled_meshwide_checker.go",
    catalogue=("pa-k-mesh-disable-dr-mtls",),
)
def mesh_peerauthentication_disable_vs_mtls_destinationrule(
    pa: Record, index: MeshIndex
) -> Iterator[Finding]:
    root = index.root_namespace
    if pa.effective_namespace != root or _pa_mode(pa) != "DISABLE":
        return
    other = _mutual(_mesh_wide_rules(index), MUTUAL_MODES)
    if _level_of(index, root) is not pa or other is None:
        return
    yield Finding(
        ("spec", "mtls", "mode"),
        f"{other.key} ({other.where}) makes every client use `{_top_mode(other)}`, but this "
        "mesh-wide policy makes workloads accept plaintext only: those connections fail",
    )


# --------------------------------------------------------------------------------------------
_SHOP = """
        apiVersion: v1
        kind: Service
        metadata:
          name: cart
          namespace: shop
        spec:
          selector:
            app: cart
          ports:
          - name: http
            port: 80
            targetPort: 8080
        ---
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: cart
          namespace: shop
        spec:
          selector:
            matchLabels:
              app: cart
          template:
            metadata:
              labels:
                app: cart
            spec:
              containers:
              - name: cart
                image: example/cart:1.0
                ports:
                - containerPort: 8080
        ---"""


def _port_text(port: int | None) -> str:
    return f" on port {port}" if port is not None else ""


@rule(
    "ML930",
    "destinationrule-tls-vs-strict-workloads",
    Severity.ERROR,
    scope="mesh",
    shares="mtls-settings",
    kinds={"DestinationRule"},
    summary="A DestinationRule sends plaintext or simple TLS to workloads whose "
    "PeerAuthentication is STRICT.",
    rationale="""
        A STRICT PeerAuthentication makes a workload's sidecar accept only Istio mutual TLS.
        A DestinationRule whose `tls.mode` is DISABLE (or a `tls` block without `mode`) makes
        clients send plaintext, and SIMPLE makes them send TLS without a client certificate:
        the server's sidecar refuses both, and every request to the host fails with a reset.

        The rule follows the traffic: the host's Services, the workloads they select (of a
        subset, for a subset's traffic policy), the Service port's `targetPort` (a number or
        a container port's name) for port-level settings on both sides, and the
        PeerAuthentications that decide each workload's mode (workload, then namespace, then
        mesh). One finding per DestinationRule field, naming the policy that makes the
        workload STRICT. Checked only when the run holds the Service and its workloads. It
        generalises Kiali's KIA0207 and KIA0208, which look only at namespace- and mesh-wide
        DestinationRules, to every host.
    """,
    bad=_SHOP
    + """
        apiVersion: security.istio.io/v1
        kind: PeerAuthentication
        metadata:
          name: default
          namespace: shop
        spec:
          mtls:
            mode: STRICT
        ---
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata:
          name: cart
          namespace: shop
        spec:
          host: cart
          trafficPolicy:
            tls:
              mode: DISABLE  # expect: ML930@13 spec.trafficPolicy.tls.mode
    """,
    good=_SHOP
    + """
        apiVersion: security.istio.io/v1
        kind: PeerAuthentication
        metadata:
          name: default
          namespace: shop
        spec:
          mtls:
            mode: STRICT
        ---
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata:
          name: cart
          namespace: shop
        spec:
          host: cart
          trafficPolicy:
            tls:
              mode: ISTIO_MUTUAL
    """,
    kiali="KIA0207",  # generalised to host-specific rules
    also=("KIA0208",),
    source=f"{KIALI}/destinationrules/disabled_namespacewide_mtls_checker.go (generalised); "
    "istio/istio pilot/pkg/security/authn/policy_applier.go (STRICT inbound chains)",
    catalogue=("dr-tls-mesh-conflict", "pa-ml-strict-vs-dr"),
)
def destinationrule_tls_vs_strict_workloads(dr: Record, index: MeshIndex) -> Iterator[Finding]:
    host = _dr_host(index, dr)
    if host is None or not index.by_kind.get("PeerAuthentication"):
        return
    for path, mode, labels, port, excluded in _client_tls_settings(index, dr):
        if mode not in PLAIN_OR_SIMPLE:
            continue
        for (workload, _), cport, pm in _server_modes(index, host, labels, port, excluded):
            if pm.mode != "STRICT" or pm.source is None:
                continue
            what = "plaintext" if mode == "DISABLE" else "TLS without a client certificate"
            yield Finding(
                path,
                f"`{mode}` sends {what} to `{host}`, but {pm.source.key} "
                f"({pm.source.where}) makes {workload.key} STRICT{_port_text(cport)} "
                f"({pm.scope}-level): the connections are refused",
            )
            break


# --------------------------------------------------------------------------------------------
def _may_disable(pa: Record) -> bool:
    """Whether a PeerAuthentication sets `DISABLE` anywhere (itself or on a port)."""
    mtls = pa.spec.get("mtls")
    if isinstance(mtls, dict) and mtls.get("mode") == "DISABLE":
        return True
    levels = pa.spec.get("portLevelMtls")
    return isinstance(levels, dict) and any(
        isinstance(v, dict) and v.get("mode") == "DISABLE" for v in levels.values()
    )


def _disabled_against_mutual(index: MeshIndex) -> dict[int, list[Finding]]:
    """For each PeerAuthentication (by id) that makes a workload accept plaintext only while
    a DestinationRule sends it ISTIO_MUTUAL: its findings, once per DestinationRule and
    field of the policy, in the order of the run. Computed once per run (``index.memo``)."""
    out: dict[int, list[Finding]] = {}
    if not any(_may_disable(pa) for pa in index.by_kind.get("PeerAuthentication", ())):
        return out  # no policy disables mTLS: no workload accepts plaintext only
    for dr in index.by_kind.get("DestinationRule", ()):
        host = _dr_host(index, dr)
        if host is None:
            continue
        seen: set[tuple[int, FieldPath]] = set()
        for path, mode, labels, port, excluded in _client_tls_settings(index, dr):
            if mode != "ISTIO_MUTUAL":
                continue
            for (workload, _), cport, pm in _server_modes(index, host, labels, port, excluded):
                if pm.mode != "DISABLE" or pm.source is None:
                    continue
                where = _pa_path(pm, cport)
                if (id(pm.source), where) in seen:
                    continue
                seen.add((id(pm.source), where))
                field = ".".join(str(p) for p in path[1:])
                out.setdefault(id(pm.source), []).append(
                    Finding(
                        where,
                        f"this makes {workload.key} accept plaintext only{_port_text(cport)}, "
                        f"but {dr.key} ({dr.where}) sends `ISTIO_MUTUAL` to `{host}` "
                        f"(`{field}`): those requests fail",
                    )
                )
    return out


@rule(
    "ML931",
    "mtls-destinationrule-vs-disabled-workloads",
    Severity.ERROR,
    scope="mesh",
    shares="mtls-settings",
    kinds={"PeerAuthentication"},
    summary="A PeerAuthentication disables mTLS for workloads that a DestinationRule sends "
    "ISTIO_MUTUAL to.",
    rationale="""
        A PeerAuthentication with `mode: DISABLE` makes a workload's sidecar accept plaintext
        only, on every port or on the port it names. A DestinationRule for a host served by
        that workload with `tls.mode: ISTIO_MUTUAL` makes clients wrap their traffic in
        Istio's mutual TLS, which the workload then receives undecrypted: every request
        fails. Either the policy or the DestinationRule is stale.

        The host's Services and the workloads they select are followed as in ML930
        (subsets, `targetPort`, port-level settings). The finding is on the mode of the
        PeerAuthentication that decides (workload, namespace or mesh level), once per
        DestinationRule. It generalises Kiali's KIA0505 and KIA0506, which look only at
        namespace- and mesh-wide DestinationRules, to every host.
    """,
    bad=_SHOP
    + """
        apiVersion: security.istio.io/v1
        kind: PeerAuthentication
        metadata:
          name: cart-plaintext
          namespace: shop
        spec:
          selector:
            matchLabels:
              app: cart
          mtls:
            mode: DISABLE  # expect: ML931@11 spec.mtls.mode
        ---
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata:
          name: cart
          namespace: shop
        spec:
          host: cart
          trafficPolicy:
            tls:
              mode: ISTIO_MUTUAL
    """,
    good=_SHOP
    + """
        apiVersion: security.istio.io/v1
        kind: PeerAuthentication
        metadata:
          name: cart-plaintext
          namespace: shop
        spec:
          selector:
            matchLabels:
              app: cart
          mtls:
            mode: DISABLE
        ---
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata:
          name: cart
          namespace: shop
        spec:
          host: cart
          trafficPolicy:
            tls:
              mode: DISABLE
    """,
    kiali="KIA0505",  # generalised to host-specific rules
    also=("KIA0506",),
    source=f"{KIALI}/peerauthentications/disabled_namespacewide_checker.go (generalised); "
    "istio/istio pilot/pkg/security/authn/policy_applier.go (DISABLE inbound chains)",
    catalogue=("pa-ml-disable-vs-dr",),
)
def mtls_destinationrule_vs_disabled_workloads(pa: Record, index: MeshIndex) -> Iterator[Finding]:
    yield from index.memo(_disabled_against_mutual).get(id(pa), ())


# --------------------------------------------------------------------------------------------
@rule(
    "ML932",
    "permissive-under-strict",
    Severity.WARNING,
    scope="mesh",
    shares="mtls-settings",
    kinds={"PeerAuthentication"},
    summary="A PeerAuthentication sets PERMISSIVE where the namespace or the mesh is STRICT.",
    rationale="""
        PERMISSIVE is the migration mode: a workload accepts mutual TLS and plaintext while
        its clients move into the mesh. Once the mesh (the root namespace's policy) or the
        namespace is STRICT, a namespace- or workload-level PERMISSIVE left behind reopens
        plaintext for those workloads, unnoticed, and with it unauthenticated access that
        AuthorizationPolicies on principals or namespaces cannot tell apart. Remove the
        policy, or, if some clients really have no sidecar, keep it with a comment (and
        suppress this finding) or narrow it to the port that needs it (`portLevelMtls`).

        Port-level PERMISSIVE entries are deliberate and not reported.
    """,
    bad="""
        apiVersion: security.istio.io/v1
        kind: PeerAuthentication
        metadata:
          name: default
          namespace: istio-system
        spec:
          mtls:
            mode: STRICT
        ---
        apiVersion: security.istio.io/v1
        kind: PeerAuthentication
        metadata:
          name: default
          namespace: shop
        spec:
          mtls:
            mode: PERMISSIVE  # expect: ML932@11 spec.mtls.mode
    """,
    good="""
        apiVersion: security.istio.io/v1
        kind: PeerAuthentication
        metadata:
          name: default
          namespace: istio-system
        spec:
          mtls:
            mode: STRICT
        ---
        apiVersion: security.istio.io/v1
        kind: PeerAuthentication
        metadata:
          name: metrics
          namespace: shop
        spec:
          selector:
            matchLabels:
              app: cart
          mtls:
            mode: STRICT
          portLevelMtls:
            9090:
              mode: PERMISSIVE
    """,
    source="istio/istio pilot/pkg/security/authn/policy_applier.go (PERMISSIVE inbound "
    "chains accept plaintext); istio.io docs 'Mutual TLS Migration'",
)
def permissive_under_strict(pa: Record, index: MeshIndex) -> Iterator[Finding]:
    ns = pa.effective_namespace
    if ns == index.root_namespace or _pa_mode(pa) != "PERMISSIVE":
        return
    if workload_selector(pa) is None:
        mesh = _level_of(index, index.root_namespace)
        if _level_of(index, ns) is not pa or mesh is None or _pa_mode(mesh) != "STRICT":
            return
        yield Finding(
            ("spec", "mtls", "mode"),
            f"PERMISSIVE for namespace `{ns}` while {mesh.key} ({mesh.where}) makes the "
            "mesh STRICT: plaintext is accepted again here; a leftover of the migration?",
        )
        return
    mode, other, scope = _namespace_level(index, ns)
    if mode != "STRICT" or other is None:
        return
    yield Finding(
        ("spec", "mtls", "mode"),
        f"PERMISSIVE for the workloads it selects while {other.key} ({other.where}) makes "
        f"the {scope} STRICT: plaintext is accepted again for them; a leftover of the "
        "migration?",
    )


# --------------------------------------------------------------------------------------------
_SOURCE_FIELDS = ("principals", "notPrincipals", "namespaces", "notNamespaces")
_MTLS_KEYS = ("source.namespace", "source.principal", "connection.sni")


def _needs_mtls(spec: dict[str, Any]) -> Iterator[tuple[FieldPath, str]]:
    for i, entry in items(spec.get("rules")):
        if not isinstance(entry, dict):
            continue
        for j, src in items(entry.get("from")):
            source = src.get("source") if isinstance(src, dict) else None
            if not isinstance(source, dict):
                continue
            for name in _SOURCE_FIELDS:
                if isinstance(source.get(name), list) and source[name]:
                    yield ("spec", "rules", i, "from", j, "source", name), name
        for k, cond in items(entry.get("when")):
            key = cond.get("key") if isinstance(cond, dict) else None
            if key in _MTLS_KEYS:
                assert isinstance(key, str)
                yield ("spec", "rules", i, "when", k, "key"), key


def _sets_other_than_disable(pa: Record) -> bool:
    """Whether a workload policy enables mTLS anywhere (itself or on a port)."""
    if _pa_mode(pa) not in (None, "DISABLE"):
        return True
    levels = pa.spec.get("portLevelMtls")
    if isinstance(levels, dict):
        for value in levels.values():
            mode = value.get("mode") if isinstance(value, dict) else None
            if mode in ("PERMISSIVE", "STRICT"):
                return True
    return False


def _workload_policies(index: MeshIndex) -> dict[str, list[tuple[Record, dict[str, str]]]]:
    """The PeerAuthentications with a selector, by namespace, with their selectors. Computed
    once per run (``index.memo``)."""
    out: dict[str, list[tuple[Record, dict[str, str]]]] = {}
    for pa in index.by_kind.get("PeerAuthentication", ()):
        sel = workload_selector(pa)
        if sel is not None:
            out.setdefault(pa.effective_namespace, []).append((pa, sel))
    return out


def _sets_strict(pa: Record) -> bool:
    """Whether a workload policy requires mTLS anywhere (itself or on a port)."""
    if _pa_mode(pa) == "STRICT":
        return True
    levels = pa.spec.get("portLevelMtls")
    return isinstance(levels, dict) and any(
        isinstance(v, dict) and v.get("mode") == "STRICT" for v in levels.values()
    )


def _client_rule(index: MeshIndex, host: str) -> Record | None:
    """The DestinationRule whose traffic policy sidecars use towards ``host``: the rule for the
    host itself, else the most specific wildcard covering it (namespace-wide before mesh-wide);
    the first in the run of equals. Rules bound to client workloads are left out."""
    for dr in index.rules_for(host):
        if workload_selector(dr) is None:
            return dr
    return None


def _plaintext_to(index: MeshIndex, host: str, dr: Record | None) -> str | None:
    """Why sidecars send ``host`` (its DestinationRule ``dr``) plaintext only, else None:
    `tls.mode: DISABLE` in the rule, or auto-mTLS off and no mutual mode in the rule."""
    modes = (
        {mode for _, mode, _, _, _ in _client_tls_settings(index, dr)} if dr is not None else set()
    )
    if not modes <= {"DISABLE"}:
        return None
    if dr is not None and _top_mode(dr) == "DISABLE":
        return f"{dr.key} ({dr.where}) sets `tls.mode: DISABLE` for `{host}`"
    if not _auto_mtls_disabled(index):
        return None
    said_by = index.auto_mtls()[1]
    where = f" ({said_by})" if said_by else ""
    rule_text = (
        f"{dr.key} sets no mutual mode"
        if dr is not None
        else "no DestinationRule sets a mutual mode"
    )
    return (
        f"auto-mTLS is off{where} and {rule_text} for `{host}` (`tls.mode: ISTIO_MUTUAL` is "
        "what would make sidecars send mTLS)"
    )


def _plaintext_answers(index: MeshIndex) -> dict[tuple[Any, ...], str | None]:
    """:func:`_workload_plaintext` by namespace, workload name and pod labels: one table per
    run (copies of one workload get one answer)."""
    return {}


def _workload_plaintext(
    index: MeshIndex, ns: str, w: Workload, overrides: list[tuple[Record, dict[str, str]]]
) -> str | None:
    """Why a workload receives plaintext only, else None: its PeerAuthentication disables
    mTLS, or it accepts plaintext and every Service of it is sent plaintext. ``overrides``
    are the namespace's PeerAuthentications with a selector."""
    table = index.memo(_plaintext_answers)
    key = (ns, w[0].kind == "Service", w[0].key, frozenset(w[1].items()))
    if key not in table:
        table[key] = _workload_plaintext_of(index, ns, w, overrides)
    return table[key]


def _workload_plaintext_of(
    index: MeshIndex, ns: str, w: Workload, overrides: list[tuple[Record, dict[str, str]]]
) -> str | None:
    labels = w[1]
    name = f"the pods of {w[0].key}" if w[0].kind == "Service" else w[0].key
    pm = index.peer_mode(ns, labels)
    matching = [pa for pa, sel in overrides if selects(sel, labels)]
    if pm.mode == "DISABLE":
        if pm.source is None or any(_sets_other_than_disable(pa) for pa in matching):
            return None
        return f"{pm.source.key} ({pm.source.where}) disables mTLS for {name}"
    if pm.mode == "STRICT" or any(_sets_strict(pa) for pa in matching):
        return None
    services = index.services_selecting([w])
    if not services:
        return None
    why = None
    # (copies of one Service have one host)
    for host in dict.fromkeys(
        f"{s.name}.{s.effective_namespace}.svc.{index.domain}" for s in services
    ):
        found = _plaintext_to(index, host, _client_rule(index, host))
        if found is None:
            return None
        why = why or found
    return f"{why}, and {name} accepts plaintext ({pm.mode})"


def _namespace_plaintext(index: MeshIndex, ns: str) -> str | None:
    """Why the workloads of ``ns`` receive plaintext only, judged at the namespace level (the
    run holds none of them): the namespace- or mesh-level policy disables mTLS, or it accepts
    plaintext and the namespace- or mesh-wide DestinationRule (or auto-mTLS off) sends it."""
    overrides = index.memo(_workload_policies).get(ns, [])
    mode, pa, scope = _namespace_level(index, ns)
    if mode == "DISABLE" and pa is not None:
        if any(_sets_other_than_disable(p) for p, _ in overrides):
            return None
        return f"{pa.key} ({pa.where}) disables mTLS for namespace `{ns}` ({scope}-level)"
    if mode == "STRICT" or any(_sets_strict(p) for p, _ in overrides):
        return None
    wide = _namespace_wide_rules(index, ns) or _mesh_wide_rules(index)
    dr = next((d for d in wide if workload_selector(d) is None), None)
    if dr is None and _has_host_rules(index, ns):
        return None  # host rules of the namespace decide, for Services the run does not hold
    found = _plaintext_to(index, f"*.{ns}.svc.{index.domain}", dr)
    if found is None:
        return None
    return f"{found}, and namespace `{ns}` accepts plaintext ({mode})"


def _has_host_rules(index: MeshIndex, ns: str) -> bool:
    return ns in index.memo(_host_rule_namespaces)


def _host_rule_namespaces(index: MeshIndex) -> set[str | None]:
    """The namespaces of the cluster hosts that DestinationRules are for, once per run."""
    return {index.cluster_namespace(host) for host, drs in index.destination_rules.items() if drs}


def _plaintext_possible(index: MeshIndex) -> bool:
    """Whether a workload of the run can receive plaintext only at all: some
    PeerAuthentication sets `DISABLE`, some DestinationRule's traffic policy sets
    `tls.mode: DISABLE`, or auto-mTLS is off. Once per run."""
    return (
        _auto_mtls_disabled(index)
        or any(_may_disable(pa) for pa in index.by_kind.get("PeerAuthentication", ()))
        or any(_top_mode(dr) == "DISABLE" for dr in index.by_kind.get("DestinationRule", ()))
    )


def _disabled_for(index: MeshIndex, ap: Record) -> str | None:
    """Why every workload the policy applies to receives plaintext only, or None: once per
    namespace and workload selector (``index.memo_by``)."""
    if not index.memo(_plaintext_possible):
        return None
    selector = workload_selector(ap)
    key = None if selector is None else tuple(sorted(selector.items()))
    return index.memo_by(_disabled_of, (ap.effective_namespace, key))


def _disabled_of(
    index: MeshIndex, key: tuple[str, tuple[tuple[str, str], ...] | None]
) -> str | None:
    ns, wanted_items = key
    overrides = index.memo(_workload_policies).get(ns, [])
    selected = None if wanted_items is None else index.workloads_selected(ns, dict(wanted_items))
    if selected is None:
        selected = index.workloads.get(ns, [])
    elif not selected:
        # no workload of the run: the Services whose pods the selector picks stand for them
        wanted = dict(wanted_items or ())
        for svc in index.services_in(ns):
            labels = label_map(svc.spec.get("selector"))
            if labels and selects(wanted, labels):
                selected.append((svc, labels))
    if not selected:
        return _namespace_plaintext(index, ns)
    reasons: list[str] = []
    for w in selected:
        found = _workload_plaintext(index, ns, w, overrides)
        if found is None:
            return None
        if found not in reasons:
            reasons.append(found)
    more = f" (and {len(reasons) - 1} more)" if len(reasons) > 1 else ""
    return reasons[0] + more


@rule(
    "ML933",
    "authorization-needs-mtls",
    Severity.ERROR,
    scope="mesh",
    shares="mtls-settings",
    kinds={"AuthorizationPolicy"},
    summary="An AuthorizationPolicy matches on peer identity for workloads that receive no "
    "mutual TLS.",
    rationale="""
        `principals`, `namespaces` (and their `not` forms) and the conditions on
        `source.principal`, `source.namespace` and `connection.sni` are read from the peer's
        mutual TLS certificate. Where traffic arrives in plaintext there is no peer identity:
        a positive match never matches (an ALLOW rule never allows, a DENY rule never denies)
        and a `not` match always does.

        A workload receives plaintext only when its PeerAuthentication sets `mode: DISABLE`,
        or when it accepts plaintext (PERMISSIVE, Istio's default) and every Service of it is
        sent plaintext: the DestinationRule sidecars use for the Service (the one for its host,
        else the most specific wildcard: namespace-wide, then mesh-wide) sets
        `tls.mode: DISABLE`, or auto-mTLS is off (MeshConfig `enableAutoMtls: false` in the
        mesh ConfigMap of the run, or the `enable-auto-mtls: false` option) and that rule, if
        any, sets no mutual mode. A workload that requires mTLS (STRICT) gets none
        but mTLS, so the policy is fine there (a client sending plaintext fails instead, which
        ML930 reports).

        The workloads are those the policy selects (every workload of its namespace when it
        has no selector); when the run holds none of them, the Services whose selector the
        policy's selector picks stand for them, and when it holds none of those either, the
        namespace- and mesh-level policies and DestinationRules decide. Policies bound with
        `targetRef(s)` and policies of the root namespace are left alone.

        Kiali reports this too where a PERMISSIVE or STRICT workload has no mTLS
        DestinationRule under auto-mTLS off; meshlint does not when a DestinationRule sends
        the Services mTLS (the identity is then there) or when the workload is STRICT.
    """,
    bad="""
        apiVersion: security.istio.io/v1
        kind: PeerAuthentication
        metadata:
          name: default
          namespace: legacy
        spec:
          mtls:
            mode: DISABLE
        ---
        apiVersion: security.istio.io/v1
        kind: AuthorizationPolicy
        metadata:
          name: from-frontend
          namespace: legacy
        spec:
          action: ALLOW
          rules:
          - from:
            - source:
                principals:
                - cluster.local/ns/web/sa/frontend  # expect: ML933@9 spec.rules[0].from[0].source.principals
    """,
    good="""
        apiVersion: security.istio.io/v1
        kind: PeerAuthentication
        metadata:
          name: default
          namespace: legacy
        spec:
          mtls:
            mode: STRICT
        ---
        apiVersion: security.istio.io/v1
        kind: AuthorizationPolicy
        metadata:
          name: from-frontend
          namespace: legacy
        spec:
          action: ALLOW
          rules:
          - from:
            - source:
                principals:
                - cluster.local/ns/web/sa/frontend
    """,
    kiali="KIA0105",
    source=f"{KIALI}/authorization/mtls_enabled_checker.go (needsMtls, IsMtlsEnabledFor) and "
    "kiali util/mtls/status.go (WorkloadMtlsStatus, NamespaceMtlsStatus: DestinationRule "
    "DISABLE, auto-mTLS); tests: mtls_enabled_checker_test.go",
    catalogue=("ap-k-mtls-required",),
)
def authorization_needs_mtls(ap: Record, index: MeshIndex) -> Iterator[Finding]:
    spec = ap.spec
    if ap.effective_namespace == index.root_namespace or not (
        index.by_kind.get("PeerAuthentication")
        or index.has_destination_rules
        or _auto_mtls_disabled(index)
    ):
        return
    if "targetRef" in spec or "targetRefs" in spec:
        return
    fields = list(_needs_mtls(spec))
    if not fields:
        return
    why = _disabled_for(index, ap)
    if why is None:
        return
    for path, name in fields:
        effect = "always matches" if name.startswith("not") else "never matches"
        yield Finding(
            path,
            f"`{name}` is read from the peer's mTLS certificate, but {why}: with no peer "
            f"identity it {effect}",
        )
