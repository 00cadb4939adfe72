"""Cross-resource rules: workload selectors across kinds — what a selector picks among the
workloads of the run, and which other resources pick the same workloads.

See meshlint/rules/mesh/references.py for the framework. Selectors are matched against the pod labels of
the Deployments, StatefulSets, DaemonSets, ReplicaSets and Pods of the run, looked up in the
index's label tables; conflicts are found by keeping, for each workload, the first resource
that selected it, so that no two resources are ever compared blindly.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from meshlint.diagnostics import FieldPath, Finding, Severity
from meshlint.mesh import (
    POD_ANNOTATIONS,
    MeshIndex,
    Record,
    Workload,
    has_target_refs,
    label_map,
    pod_labels,
)
from meshlint.rules import rule
from meshlint.rules.lib.mesh import AN, KIALI

# The label Istio puts on the pods it deploys for a Kubernetes Gateway API Gateway (and for
# waypoints); selector-based policies do not apply to those pods.
GATEWAY_NAME_LABEL = "gateway.networking.k8s.io/gateway-name"
INJECT = "sidecar.istio.io/inject"

# --------------------------------------------------------------------------------------------
# helpers: reading a selector, placing a resource, the workloads of the run

_ABSENT = "absent"  # no selector, or an empty one: the resource applies to its namespace
_LABELS = "labels"  # a selector of plain labels
_SKIP = "skip"  # malformed or unrendered: other rules report it, these say nothing


def _selector_path(rec: Record) -> FieldPath:
    if rec.kind == "Gateway":
        return ("spec", "selector")
    if rec.kind == "Sidecar":
        return ("spec", "workloadSelector", "labels")
    return ("spec", "selector", "matchLabels")


# where a kind writes its selector: (field of the spec, field of that), the security kinds
# and Telemetry by default
_SELECTOR_FIELDS: dict[str, tuple[str, str | None]] = {
    "Gateway": ("selector", None),
    "Sidecar": ("workloadSelector", "labels"),
}


def _selector(rec: Record) -> tuple[str, dict[str, str]]:
    """How a resource selects its workloads: (`absent`, {}), (`labels`, the labels) or
    (`skip`, {}) when the selector has the wrong shape or holds an unrendered template."""
    spec = rec.spec
    outer, inner = _SELECTOR_FIELDS.get(rec.kind, ("selector", "matchLabels"))
    value: Any = spec.get(outer)
    if value is None:
        return _ABSENT, {}
    if inner is not None:
        if not isinstance(value, dict):
            return _SKIP, {}
        value = value.get(inner)
        if value is None:
            return _ABSENT, {}
    if isinstance(value, dict) and not value:
        return _ABSENT, {}
    labels = label_map(value)
    if labels is None or any("{{" in k or "{{" in v for k, v in labels.items()):
        return _SKIP, {}
    return _LABELS, labels


def _selector_in(index: MeshIndex, rec: Record) -> tuple[str, dict[str, str]]:
    """:func:`_selector` of a record of the run, read once per run (several rules ask)."""
    return index.of_record(_selector_of, rec)


def _selector_of(index: MeshIndex, rec: Record) -> tuple[str, dict[str, str]]:
    return _selector(rec)


def _same_place(rec: Record, other: Record) -> bool:
    return rec.place == other.place


def _text(selector: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in selector.items())


def _names(workloads: list[Workload], limit: int = 3) -> str:
    """The first names of ``workloads`` and how many more there are."""
    shown = ", ".join(r.key for r, _ in workloads[:limit])
    return shown + (f" and {len(workloads) - limit} more" if len(workloads) > limit else "")


class _Held:
    """The workloads of the run that certainly share a resource's namespace (a resource
    naming no namespace shares it only with the workloads of its file that name none
    either), with what the rules ask of them, computed once per namespace."""

    def __init__(self, workloads: list[Workload]) -> None:
        self.workloads = workloads
        self.unrendered = _unrendered(workloads)
        self._outside: bool | None = None

    def all_outside_mesh(self, index: MeshIndex) -> bool:
        if self._outside is None:
            self._outside = all(_outside_mesh(index, w) for w, _ in self.workloads)
        return self._outside


def _held_by_place(index: MeshIndex) -> dict[tuple[str, str], _Held]:
    """What :func:`_held` found for each (namespace, place), filled as the rules ask: one
    table per run (``index.memo``)."""
    return {}


def _held(index: MeshIndex, rec: Record) -> _Held:
    cache = index.memo(_held_by_place)
    key = (rec.effective_namespace, rec.place)
    found = cache.get(key)
    if found is None:
        workloads = index.workloads.get(rec.effective_namespace, ())
        found = cache[key] = _Held([w for w in workloads if _same_place(rec, w[0])])
    return found


def _unrendered(workloads: Iterable[Workload]) -> bool:
    return any("{{" in k or "{{" in v for _, labels in workloads for k, v in labels.items())


def _selected(index: MeshIndex, rec: Record, selector: dict[str, str]) -> list[Workload]:
    """The workloads of the resource's namespace its selector picks (of its file only when
    it names no namespace)."""
    labels = tuple(selector.items()) if len(selector) == 1 else tuple(sorted(selector.items()))
    return list(index.memo_by(_selected_in_place, (rec.effective_namespace, rec.place, labels)))


def _selected_in_place(
    index: MeshIndex, key: tuple[str, str, tuple[tuple[str, str], ...]]
) -> list[Workload]:
    """:func:`_selected` once per namespace, place and selector (``index.memo_by``)."""
    ns, place, selector = key
    return [w for w in index.workloads_selected(ns, dict(selector)) if w[0].place == place]


def _unmatched_anywhere(
    index: MeshIndex, key: tuple[tuple[tuple[str, str], ...], str]
) -> str | None:
    """What :func:`_no_workload` says of a selector (its items as written) that picks
    workloads of every namespace, for a resource of a kind, before the effect; None when it
    picks some or the run cannot tell. Once per selector and kind."""
    items, kind = key
    selector = dict(items)
    if index.workloads_selected_anywhere(selector):
        return None
    kin = index.workloads_carrying(selector)
    if kind == "Gateway":  # gateway proxies only: not every `app`-labelled workload
        kin = [w for w in kin if _runs_proxy(w[1], _pod_annotations(w[0]))]
    if not kin or _unrendered(kin):
        return None
    keys = ", ".join(f"`{k}`" for k in selector)
    return (
        f"selector {_text(selector)} matches no workload in the linted files, although "
        f"they hold workloads labelled {keys} ({_names(kin)})"
    )


def _no_workload(
    index: MeshIndex,
    rec: Record,
    selector: dict[str, str],
    anywhere: bool,
    effect: str,
) -> str | None:
    """The message saying that ``rec``'s selector picks nothing (``effect``: what follows
    from it), or None when it picks something or the run cannot tell. ``anywhere`` set: the
    selector picks workloads of every namespace, and the run must hold workloads of its kind
    (carrying every key of the selector)."""
    ns = rec.effective_namespace
    if index.is_external_namespace(ns) or GATEWAY_NAME_LABEL in selector:
        return None  # the pods of a Gateway API gateway are deployed by Istio, not by the run
    if anywhere:
        head = index.memo_by(_unmatched_anywhere, (tuple(selector.items()), rec.kind))
        if head is None:
            return None
        return (
            f"{head}: {effect}; if the intended workloads are deployed from elsewhere, "
            "ignore this warning"
        )
    if _selected(index, rec, selector):
        return None
    held = _held(index, rec)
    if not held.workloads or held.unrendered:
        return None
    return (
        f"selector {_text(selector)} matches no workload of namespace `{ns}` in the linted "
        f"files (they hold {_names(held.workloads)}): {effect}; if the intended "
        f"workloads are deployed from elsewhere, add `{ns}` to the `external-namespaces` "
        "option"
    )


def _pod_annotations(workload: Record) -> dict[str, Any]:
    raw = workload.data.get(POD_ANNOTATIONS)
    return raw if isinstance(raw, dict) else {}


def _runs_proxy(labels: dict[str, str], annotations: dict[str, Any]) -> bool:
    """Whether a workload looks like a gateway proxy (whose pod is the proxy, so it is in the
    mesh although it usually sets `sidecar.istio.io/inject: "false"`): its pods carry an
    `istio` label (`istio: ingressgateway`), a gateway-name label, or ask for the gateway
    injection template. Container names, which would tell for sure, are not kept."""
    return (
        "istio" in labels
        or GATEWAY_NAME_LABEL in labels
        or "istio.io/gateway-name" in labels
        or "inject.istio.io/templates" in annotations
    )


def _outside_mesh(index: MeshIndex, workload: Record) -> bool:
    """Whether a workload's pods certainly run without a sidecar and outside ambient mode:
    `sidecar.istio.io/inject` other than "true" on the pods (label first, then annotation),
    or, when the pods say nothing, a Namespace manifest of the run that enables neither
    injection (`istio-injection: enabled`, `istio.io/rev`) nor ambient mode. Unknown: no.
    Worked out once per workload."""
    return index.of_record(_outside_mesh_of, workload)


def _outside_mesh_of(index: MeshIndex, workload: Record) -> bool:
    labels = pod_labels(workload) or {}
    annotations = _pod_annotations(workload)
    if _runs_proxy(labels, annotations):
        return False
    for source in (labels, annotations):
        value = source.get(INJECT)
        if isinstance(value, str):
            return value != "true"
    if annotations.get("ambient.istio.io/redirection") == "enabled":
        return False
    if labels.get("istio.io/dataplane-mode") == "ambient" or labels.get("istio.io/rev"):
        return False
    ns = index.namespace_records.get(workload.effective_namespace)
    if ns is None:
        return False
    meta = ns.data.get("metadata")
    ns_labels = label_map(meta.get("labels")) if isinstance(meta, dict) else None
    if ns_labels is None:
        return not (isinstance(meta, dict) and meta.get("labels"))  # malformed: unknown
    return not (
        ns_labels.get("istio-injection") == "enabled"
        or bool(ns_labels.get("istio.io/rev"))
        or ns_labels.get("istio.io/dataplane-mode") == "ambient"
    )


# --------------------------------------------------------------------------------------------
@rule(
    "ML935",
    "gateway-selector-matches-no-workload",
    Severity.WARNING,
    scope="mesh",
    shares="selected-workloads",
    kinds={"Gateway"},
    summary="A Gateway's selector matches none of the gateway workloads of the run.",
    rationale="""
        A Gateway is served by the proxies whose pods carry every label of its `selector`,
        in any namespace. When no workload carries them (a typo such as
        `istio: ingresgateway`, a gateway Deployment relabelled), no proxy listens on its
        servers and every VirtualService bound to it does nothing at the edge.

        Gateway proxies are often installed apart from the routing (Istio's Helm chart of
        `istio: ingressgateway`), so the rule speaks only when the run holds a gateway proxy
        of the kind the selector is written for: a workload whose pods carry every label key
        of the selector, with other values, and look like a gateway (an `istio` label, or the
        `gateway` injection template). When the run holds no such workload, it says nothing. It does not assume gateways are scoped to their namespace
        (`PILOT_SCOPE_GATEWAY_TO_NAMESPACE`). Istio's analyzer reports this as an error; it
        is a warning here, since more gateway pods may come from elsewhere.
    """,
    bad="""
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: ingress-gateway
          namespace: edge
        spec:
          selector:
            matchLabels:
              istio: ingress-gateway
          template:
            metadata:
              labels:
                istio: ingress-gateway
            spec:
              containers:
              - name: istio-proxy
                image: auto
        ---
        apiVersion: networking.istio.io/v1
        kind: Gateway
        metadata:
          name: shop
          namespace: shop
        spec:
          selector:
            istio: ingressgateway  # expect: ML935@5 spec.selector
          servers:
          - port:
              number: 80
              name: http
              protocol: HTTP
            hosts:
            - shop.example.com
    """,
    good="""
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: ingress-gateway
          namespace: edge
        spec:
          selector:
            matchLabels:
              istio: ingress-gateway
          template:
            metadata:
              labels:
                istio: ingress-gateway
            spec:
              containers:
              - name: istio-proxy
                image: auto
        ---
        apiVersion: networking.istio.io/v1
        kind: Gateway
        metadata:
          name: shop
          namespace: shop
        spec:
          selector:
            istio: ingress-gateway
          servers:
          - port:
              number: 80
              name: http
              protocol: HTTP
            hosts:
            - shop.example.com
    """,
    istio="IST0101",
    kiali="KIA0302",
    source=f"{AN}/gateway/gateway.go (IngressGatewayPortAnalyzer: ReferencedResourceNotFound, "
    f"reftype 'selector'); {KIALI}/gateways/selector_checker.go",
    catalogue=("gw-x-selector-no-pod", "gw-k-selector"),
)
def gateway_selector_matches_no_workload(gw: Record, index: MeshIndex) -> Iterator[Finding]:
    if not index.workloads:
        return
    state, selector = _selector(gw)
    if state != _LABELS:
        return
    why = _no_workload(index, gw, selector, True, "no gateway proxy serves this Gateway")
    if why is not None:
        yield Finding(("spec", "selector"), why)


# --------------------------------------------------------------------------------------------
@rule(
    "ML936",
    "workload-selector-matches-no-pod",
    Severity.WARNING,
    scope="mesh",
    shares="selected-workloads",
    kinds={"Sidecar", "Telemetry"},
    summary="A Sidecar's or Telemetry's selector matches no workload of its namespace.",
    rationale="""
        A Sidecar (`spec.workloadSelector.labels`) or a Telemetry (`spec.selector.matchLabels`)
        applies only to the pods of its own namespace that carry every label of its
        selector. When none does (a typo, a renamed `app` label, a workload moved to another
        namespace), the resource silently applies to nothing, and the workload it was meant
        for keeps the namespace's defaults.

        Checked only when the run holds workloads (Deployments, StatefulSets, DaemonSets,
        ReplicaSets, Pods) of that namespace; otherwise the workloads live elsewhere and
        nothing is said. Istio's analyzer reports this as an error; it is a warning here,
        since a workload of the namespace may still be deployed from another repository
        (list the namespace in `external-namespaces` to say so).
    """,
    bad="""
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: ratings
          namespace: shop
        spec:
          selector:
            matchLabels:
              app: ratings
          template:
            metadata:
              labels:
                app: ratings
            spec:
              containers:
              - name: ratings
                image: example/ratings:1.0
        ---
        apiVersion: networking.istio.io/v1
        kind: Sidecar
        metadata:
          name: ratings
          namespace: shop
        spec:
          workloadSelector:
            labels:
              app: rating  # expect: ML936@7 spec.workloadSelector.labels
          egress:
          - hosts:
            - ./*
            - istio-system/*
    """,
    good="""
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: ratings
          namespace: shop
        spec:
          selector:
            matchLabels:
              app: ratings
          template:
            metadata:
              labels:
                app: ratings
            spec:
              containers:
              - name: ratings
                image: example/ratings:1.0
        ---
        apiVersion: networking.istio.io/v1
        kind: Sidecar
        metadata:
          name: ratings
          namespace: shop
        spec:
          workloadSelector:
            labels:
              app: ratings
          egress:
          - hosts:
            - ./*
            - istio-system/*
    """,
    istio="IST0101",
    kiali="KIA0004",
    source=f"{AN}/sidecar/selector.go and {AN}/telemetry/selector.go (SelectorAnalyzer: "
    f"ReferencedResourceNotFound, reftype 'selector'); {KIALI}/common/"
    "workload_selector_checker.go",
    catalogue=("sc-x-selector-no-pod", "sc-k-selector-no-workload", "tm-x-selector-no-pod"),
)
def workload_selector_matches_no_pod(rec: Record, index: MeshIndex) -> Iterator[Finding]:
    state, selector = _selector(rec)
    if state != _LABELS or (rec.kind == "Telemetry" and has_target_refs(rec)):
        return
    why = _no_workload(index, rec, selector, False, f"the {rec.kind} applies to nothing")
    if why is not None:
        yield Finding(_selector_path(rec), why)


# --------------------------------------------------------------------------------------------
@rule(
    "ML937",
    "authorizationpolicy-matches-no-workload",
    Severity.WARNING,
    scope="mesh",
    shares="selected-workloads",
    kinds={"AuthorizationPolicy"},
    summary="An AuthorizationPolicy applies to no workload in the mesh.",
    rationale="""
        An AuthorizationPolicy is enforced by the proxies of the workloads it applies to: the
        pods of its namespace that carry every label of `spec.selector.matchLabels`, or every
        pod of its namespace when it has no selector; a policy of the root namespace
        (`istio-system` unless configured) applies to matching pods of every namespace. When
        it picks no workload, or only workloads without a sidecar, nothing enforces it: an
        intended DENY blocks nothing, an ALLOW opens nothing.

        Reported when:
        - its selector matches no workload of its namespace, and the run holds workloads of
          that namespace (for the root namespace: no workload anywhere, and the run holds
          workloads labelled with every key of the selector);
        - its selector, or its lack of one, picks only workloads that are certainly outside
          the mesh: their pods set `sidecar.istio.io/inject` to something other than "true",
          or they say nothing and the Namespace manifest of the run enables neither
          injection (`istio-injection: enabled`, `istio.io/rev`) nor ambient mode.
        Workloads that look like gateway proxies (pods labelled `istio: ...` or with a
        gateway-name label, or asking for the `gateway` injection template) count as in the
        mesh. A policy bound by `targetRefs`, or selecting the pods Istio deploys for a
        Gateway API gateway (another rule's business), is left alone; when the run holds no
        workload of the namespace nothing is said.
    """,
    bad="""
        apiVersion: v1
        kind: Namespace
        metadata:
          name: shop
          labels:
            istio-injection: enabled
        ---
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: ratings
          namespace: shop
        spec:
          selector:
            matchLabels:
              app: ratings
          template:
            metadata:
              labels:
                app: ratings
            spec:
              containers:
              - name: ratings
                image: example/ratings:1.0
        ---
        apiVersion: security.istio.io/v1
        kind: AuthorizationPolicy
        metadata:
          name: ratings-readers
          namespace: shop
        spec:
          selector:
            matchLabels:
              app: rating  # expect: ML937@7 spec.selector.matchLabels
          action: ALLOW
          rules:
          - from:
            - source:
                principals:
                - cluster.local/ns/shop/sa/reviews
    """,
    good="""
        apiVersion: v1
        kind: Namespace
        metadata:
          name: shop
          labels:
            istio-injection: enabled
        ---
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: ratings
          namespace: shop
        spec:
          selector:
            matchLabels:
              app: ratings
          template:
            metadata:
              labels:
                app: ratings
            spec:
              containers:
              - name: ratings
                image: example/ratings:1.0
        ---
        apiVersion: security.istio.io/v1
        kind: AuthorizationPolicy
        metadata:
          name: ratings-readers
          namespace: shop
        spec:
          selector:
            matchLabels:
              app: ratings
          action: ALLOW
          rules:
          - from:
            - source:
                principals:
                - cluster.local/ns/shop/sa/reviews
    """,
    istio="IST0127",
    kiali="KIA0004",
    source=f"{AN}/authz/authorizationpolicies.go (analyzeNoMatchingWorkloads: "
    f"NoMatchingWorkloadsFound); {AN}/util/in_mesh.go; {KIALI}/common/"
    "workload_selector_checker.go",
    catalogue=("ap-x-no-workloads", "ap-k-selector-no-workload"),
)
def authorizationpolicy_matches_no_workload(ap: Record, index: MeshIndex) -> Iterator[Finding]:
    if not index.workloads or has_target_refs(ap):
        return
    state, selector = _selector_in(index, ap)
    ns = ap.effective_namespace
    root = ns == index.root_namespace
    if state == _SKIP or (root and state == _ABSENT) or index.is_external_namespace(ns):
        return
    if state == _ABSENT:
        held = _held(index, ap)
        if held.workloads and held.all_outside_mesh(index):
            path: FieldPath = ("metadata", "namespace") if ap.namespace else ("metadata",)
            yield Finding(
                path,
                f"the policy applies to every workload of namespace `{ns}`, but those of "
                f"the linted files ({_names(held.workloads)}) all run without a "
                "sidecar: nothing enforces it",
                key=ap.namespace is None,
            )
        return
    # (a selector that picks workloads of its namespace is never one that picks none)
    picked = [] if root else _selected(index, ap, selector)
    if not picked:
        why = _no_workload(index, ap, selector, root, "nothing enforces the policy")
        if why is not None:
            yield Finding(_selector_path(ap), why)
            return
        if root:
            picked = index.workloads_selected_anywhere(selector)
    if picked and all(_outside_mesh(index, w) for w, _ in picked):
        yield Finding(
            _selector_path(ap),
            f"selector {_text(selector)} matches only workloads that run without a "
            f"sidecar ({_names(picked)}): nothing enforces the policy",
        )


# --------------------------------------------------------------------------------------------
@rule(
    "ML938",
    "authentication-selector-matches-no-workload",
    Severity.WARNING,
    scope="mesh",
    shares="selected-workloads",
    kinds={"PeerAuthentication", "RequestAuthentication"},
    summary="A PeerAuthentication's or RequestAuthentication's selector matches no workload.",
    rationale="""
        A PeerAuthentication or RequestAuthentication with `spec.selector.matchLabels`
        applies to the pods of its namespace that carry every label of it (a
        RequestAuthentication of the root namespace, to such pods of every namespace). When
        none does, the mTLS mode or the JWT rules it sets apply to nothing, and the workload
        it was written for keeps the namespace's defaults — often without anyone noticing,
        since nothing fails.

        Checked only when the run holds workloads of that namespace (for a root-namespace
        RequestAuthentication: workloads labelled with every key of the selector); otherwise
        nothing is said. A selector-based PeerAuthentication of the root namespace has no
        effect at all, which another rule reports.
    """,
    bad="""
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: payments
          namespace: billing
        spec:
          selector:
            matchLabels:
              app: payments
          template:
            metadata:
              labels:
                app: payments
            spec:
              containers:
              - name: payments
                image: example/payments:1.0
        ---
        apiVersion: security.istio.io/v1
        kind: PeerAuthentication
        metadata:
          name: payments-strict
          namespace: billing
        spec:
          selector:
            matchLabels:
              app: payment  # expect: ML938@7 spec.selector.matchLabels
          mtls:
            mode: STRICT
    """,
    good="""
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: payments
          namespace: billing
        spec:
          selector:
            matchLabels:
              app: payments
          template:
            metadata:
              labels:
                app: payments
            spec:
              containers:
              - name: payments
                image: example/payments:1.0
        ---
        apiVersion: security.istio.io/v1
        kind: PeerAuthentication
        metadata:
          name: payments-strict
          namespace: billing
        spec:
          selector:
            matchLabels:
              app: payments
          mtls:
            mode: STRICT
    """,
    kiali="KIA0004",
    source=f"{KIALI}/common/workload_selector_checker.go (SelectorNoWorkloadFoundChecker, "
    "called by peer_authentication_checker.go and request_authentication_checker.go)",
    catalogue=("pa-k-selector-no-workload", "ra-k-selector-no-workload"),
)
def authentication_selector_matches_no_workload(rec: Record, index: MeshIndex) -> Iterator[Finding]:
    state, selector = _selector(rec)
    if state != _LABELS or has_target_refs(rec):
        return
    root = rec.effective_namespace == index.root_namespace
    if root and rec.kind == "PeerAuthentication":
        return  # ML945
    why = _no_workload(index, rec, selector, root, f"the {rec.kind} applies to nothing")
    if why is not None:
        yield Finding(_selector_path(rec), why)


# --------------------------------------------------------------------------------------------
# conflicts: several resources of one kind for one workload, or for one namespace. Each
# workload and each selector keeps the first resource of each kind that picked it, so the work
# is in the number of (resource, selected workload) pairs, never in pairs of resources.

_CONTESTED_KINDS = ("Sidecar", "Telemetry", "PeerAuthentication")


def _in_contest(index: MeshIndex, rec: Record) -> bool:
    """Whether a resource competes with the others of its kind for the workloads it selects:
    a Telemetry bound by `targetRefs` does not, nor a PeerAuthentication of the root
    namespace (which selects nothing there, ML945)."""
    if rec.kind == "Telemetry":
        return not has_target_refs(rec)
    if rec.kind == "PeerAuthentication":
        return rec.effective_namespace != index.root_namespace
    return True


_Claims = tuple[
    dict[tuple[str, str, int], Record],
    dict[tuple[str, str, frozenset[tuple[str, str]]], Record],
    dict[int, int],
]


def _first_selectors(index: MeshIndex) -> _Claims:
    """For each contested kind and place: the first resource (in the order of the run) that
    picked each workload (by id), the first with each selector, and the position of every
    resource. Computed once per run (``index.memo``)."""
    by_workload: dict[tuple[str, str, int], Record] = {}
    by_selector: dict[tuple[str, str, frozenset[tuple[str, str]]], Record] = {}
    position: dict[int, int] = {}
    for kind in _CONTESTED_KINDS:
        for rec in index.by_kind.get(kind, ()):
            if not _in_contest(index, rec):
                continue
            position[id(rec)] = len(position)
            state, selector = _selector(rec)
            if state != _LABELS:
                continue
            key = (kind, rec.place, frozenset(selector.items()))
            if key in by_selector:
                continue  # an earlier one has picked the same workloads first
            for picked, _ in _selected(index, rec, selector):
                by_workload.setdefault((kind, rec.place, id(picked)), rec)
            by_selector[key] = rec
    return by_workload, by_selector, position


def _first_pickers(
    index: MeshIndex, key: tuple[str, str, frozenset[tuple[str, str]]]
) -> dict[int, tuple[Record, Record]]:
    """For the resources of one kind and place with one selector: the first resource that
    picked each of their workloads, with the first such workload, in the order of the
    workloads; once per key (``index.memo_by``)."""
    kind, place, selector = key
    by_workload, by_selector, _ = index.memo(_first_selectors)
    rec = by_selector[key]
    found: dict[int, tuple[Record, Record]] = {}
    for picked, _ in _selected(index, rec, dict(selector)):
        first = by_workload[(kind, place, id(picked))]
        found.setdefault(id(first), (first, picked))
    return found


def _conflict(index: MeshIndex, rec: Record) -> tuple[Record, Record | None, int] | None:
    """When a resource's selector picks a workload that an earlier resource of its kind and
    place already picked, or is the very selector of an earlier one (they pick the same pods
    wherever those are deployed from): (the first earlier one, a workload both pick or None,
    how many earlier resources it shares workloads with)."""
    if not _in_contest(index, rec):
        return None
    state, selector = _selector(rec)
    if state != _LABELS:
        return None
    _, by_selector, position = index.memo(_first_selectors)
    kind, place = rec.kind, rec.place
    key = (kind, place, frozenset(selector.items()))
    earlier: dict[int, tuple[Record, Record | None]] = {
        i: fw for i, fw in index.memo_by(_first_pickers, key).items() if fw[0] is not rec
    }
    first = by_selector[key]
    if first is not rec:
        earlier.setdefault(id(first), (first, None))
    if not earlier:
        return None
    first, workload = min(earlier.values(), key=lambda fw: position[id(fw[0])])
    return first, workload, len(earlier)


def _conflict_message(
    rec: Record, first: Record, workload: Record | None, count: int, what: str
) -> str:
    more = f" (and {count - 1} more)" if count > 1 else ""
    if workload is None:
        _, selector = _selector(rec)
        return (
            f"{first.key} ({first.where}){more} has the same selector {_text(selector)}: "
            f"every workload it picks is picked by both; {what}"
        )
    return f"{workload.key} is also selected by {first.key} ({first.where}){more}: {what}"


def _first_defaults(index: MeshIndex) -> dict[tuple[str, str], Record]:
    """The first selector-less resource of each contested kind and place (namespace, or file
    for manifests that name no namespace). Computed once per run (``index.memo``)."""
    first: dict[tuple[str, str], Record] = {}
    for kind in _CONTESTED_KINDS:
        for rec in index.by_kind.get(kind, ()):
            if kind == "Telemetry" and has_target_refs(rec):
                continue
            if _selector(rec)[0] == _ABSENT:
                first.setdefault((kind, rec.place), rec)
    return first


def _earlier_default(index: MeshIndex, rec: Record) -> Record | None:
    """The first selector-less resource of ``rec``'s kind and place, when ``rec`` is a later
    selector-less one (a Telemetry bound by `targetRefs` is none)."""
    if rec.kind == "Telemetry" and has_target_refs(rec):
        return None
    if _selector(rec)[0] != _ABSENT:
        return None
    first = index.memo(_first_defaults)[(rec.kind, rec.place)]
    return None if first is rec else first


_NAME: FieldPath = ("metadata", "name")


_SIDECAR_DEPLOYMENT = """
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: reviews
          namespace: shop
        spec:
          selector:
            matchLabels:
              app: reviews
          template:
            metadata:
              labels:
                app: reviews
                version: v1
            spec:
              containers:
              - name: reviews
                image: example/reviews:1.0
        ---"""


# --------------------------------------------------------------------------------------------
@rule(
    "ML939",
    "conflicting-sidecar-selectors",
    Severity.ERROR,
    scope="mesh",
    shares="selected-workloads",
    kinds={"Sidecar"},
    summary="Two Sidecars select the same workload.",
    rationale="""
        A workload gets exactly one Sidecar: the one whose `workloadSelector` matches its pods,
        else its namespace's selector-less one. When two Sidecars of a namespace match the
        same workload, istiod applies only one of them (the oldest) and ignores the other:
        its egress imports, ingress listeners and outbound policy silently do nothing, and
        which one wins can change when a resource is re-created. Merge them, or make the
        selectors pick disjoint workloads.

        Selectors are matched against the workloads of the run in the Sidecars' namespace;
        two Sidecars of a namespace with the very same selector conflict even when the run
        holds none of their workloads. The finding is on the later Sidecar and names the
        first.
    """,
    bad=_SIDECAR_DEPLOYMENT
    + """
        apiVersion: networking.istio.io/v1
        kind: Sidecar
        metadata:
          name: reviews
          namespace: shop
        spec:
          workloadSelector:
            labels:
              app: reviews
          egress:
          - hosts:
            - ./*
        ---
        apiVersion: networking.istio.io/v1
        kind: Sidecar
        metadata:
          name: reviews-v1
          namespace: shop
        spec:
          workloadSelector:
            labels:  # expect: ML939@5 spec.workloadSelector
              version: v1
          egress:
          - hosts:
            - ./*
            - istio-system/*
    """,
    good=_SIDECAR_DEPLOYMENT
    + """
        apiVersion: networking.istio.io/v1
        kind: Sidecar
        metadata:
          name: reviews
          namespace: shop
        spec:
          workloadSelector:
            labels:
              app: reviews
          egress:
          - hosts:
            - ./*
            - istio-system/*
    """,
    istio="IST0110",
    kiali="KIA0003",
    source=f"{AN}/sidecar/selector.go (ConflictingSidecarWorkloadSelectors); "
    f"{KIALI}/common/multi_match_selector_checker.go (SidecarSelectorMultiMatchChecker)",
    catalogue=("sc-x-selector-conflict", "sc-k-multi-selector"),
)
def conflicting_sidecar_selectors(sc: Record, index: MeshIndex) -> Iterator[Finding]:
    found = _conflict(index, sc)
    if found is None:
        return
    yield Finding(
        ("spec", "workloadSelector"),
        _conflict_message(
            sc,
            *found,
            "a workload gets only one Sidecar (the oldest), the other is ignored; merge "
            "them or make their selectors disjoint",
        ),
    )


# --------------------------------------------------------------------------------------------
def _scope_of(index: MeshIndex, rec: Record, noun: bool = True) -> str:
    ns = rec.effective_namespace
    if ns == index.root_namespace:
        where = f"the whole mesh (root namespace `{ns}`)"
        return f"the mesh-wide default (root namespace `{ns}`)" if noun else where
    return f"the default of namespace `{ns}`" if noun else f"namespace `{ns}`"


@rule(
    "ML940",
    "multiple-namespace-sidecars",
    Severity.ERROR,
    scope="mesh",
    shares="namespace-defaults",
    kinds={"Sidecar"},
    summary="A namespace has more than one Sidecar without workloadSelector.",
    rationale="""
        A Sidecar without `workloadSelector` is the default of every workload of its
        namespace (in the root namespace, of the whole mesh), and there can be only one:
        istiod uses the oldest and ignores the others, so half of the intended egress
        restrictions silently do nothing. Merge them into one.

        A manifest that names no namespace goes wherever it is applied, so two such
        Sidecars are compared only within one file. The finding is on the later one and
        names the first.
    """,
    bad="""
        apiVersion: networking.istio.io/v1
        kind: Sidecar
        metadata:
          name: default
          namespace: shop
        spec:
          egress:
          - hosts:
            - ./*
        ---
        apiVersion: networking.istio.io/v1
        kind: Sidecar
        metadata:
          name: egress-policy  # expect: ML940@9 metadata.name
          namespace: shop
        spec:
          outboundTrafficPolicy:
            mode: REGISTRY_ONLY
    """,
    good="""
        apiVersion: networking.istio.io/v1
        kind: Sidecar
        metadata:
          name: default
          namespace: shop
        spec:
          egress:
          - hosts:
            - ./*
          outboundTrafficPolicy:
            mode: REGISTRY_ONLY
    """,
    istio="IST0111",
    kiali="KIA0002",
    source=f"{AN}/sidecar/selector.go (MultipleSidecarsWithoutWorkloadSelectors); "
    f"{KIALI}/common/multi_match_selector_checker.go (selector-less subjects)",
    catalogue=("sc-x-selectorless-dup", "sc-k-multi-selectorless"),
)
def multiple_namespace_sidecars(sc: Record, index: MeshIndex) -> Iterator[Finding]:
    first = _earlier_default(index, sc)
    if first is None:
        return
    yield Finding(
        _NAME,
        f"{first.key} ({first.where}) has no workloadSelector either: both claim to be "
        f"{_scope_of(index, sc)}; only one (the oldest) is used, merge them",
    )


# --------------------------------------------------------------------------------------------
@rule(
    "ML941",
    "conflicting-telemetry-selectors",
    Severity.ERROR,
    scope="mesh",
    shares="selected-workloads",
    kinds={"Telemetry"},
    summary="Two Telemetry resources select the same workload.",
    rationale="""
        A workload takes its telemetry settings from at most one workload-level Telemetry
        (one whose `selector` matches its pods), layered over the namespace's and the mesh's.
        When two of a namespace match the same workload, istiod uses only one of them, and the
        tracing, metrics or access-logging settings of the other are silently lost. Merge
        them, or make their selectors pick disjoint workloads.

        Selectors are matched against the workloads of the run in the Telemetries'
        namespace; two with the very same selector conflict even when the run holds none of
        their workloads. Telemetries bound by `targetRefs` are not counted. The finding is
        on the later one and names the first.
    """,
    bad=_SIDECAR_DEPLOYMENT
    + """
        apiVersion: telemetry.istio.io/v1
        kind: Telemetry
        metadata:
          name: reviews-tracing
          namespace: shop
        spec:
          selector:
            matchLabels:
              app: reviews
          tracing:
          - randomSamplingPercentage: 10
        ---
        apiVersion: telemetry.istio.io/v1
        kind: Telemetry
        metadata:
          name: reviews-logs
          namespace: shop
        spec:
          selector:
            matchLabels:  # expect: ML941@5 spec.selector
              app: reviews
          accessLogging:
          - providers:
            - name: envoy
    """,
    good=_SIDECAR_DEPLOYMENT
    + """
        apiVersion: telemetry.istio.io/v1
        kind: Telemetry
        metadata:
          name: reviews
          namespace: shop
        spec:
          selector:
            matchLabels:
              app: reviews
          tracing:
          - randomSamplingPercentage: 10
          accessLogging:
          - providers:
            - name: envoy
    """,
    istio="IST0159",
    source=f"{AN}/telemetry/selector.go (ConflictingTelemetryWorkloadSelectors)",
    catalogue=("tm-x-selector-conflict",),
)
def conflicting_telemetry_selectors(tm: Record, index: MeshIndex) -> Iterator[Finding]:
    found = _conflict(index, tm)
    if found is None:
        return
    yield Finding(
        ("spec", "selector"),
        _conflict_message(
            tm,
            *found,
            "a workload takes only one workload-level Telemetry, the other's settings "
            "are lost; merge them or make their selectors disjoint",
        ),
    )


# --------------------------------------------------------------------------------------------
@rule(
    "ML942",
    "multiple-namespace-telemetries",
    Severity.ERROR,
    scope="mesh",
    shares="namespace-defaults",
    kinds={"Telemetry"},
    summary="A namespace has more than one Telemetry without selector.",
    rationale="""
        A Telemetry without `selector` (and without `targetRefs`) sets the defaults of its
        namespace, or of the whole mesh in the root namespace; there can be only one per
        namespace. With two, istiod uses one of them and the other's tracing, metrics or
        access-logging settings are silently lost — in the root namespace, the mesh-wide
        default itself is ambiguous. Merge them into one. Telemetries bound by `targetRefs`
        are not namespace defaults and are not counted (Istio's analyzer counts them).

        A manifest that names no namespace goes wherever it is applied, so two such
        Telemetries are compared only within one file. The finding is on the later one and
        names the first.
    """,
    bad="""
        apiVersion: telemetry.istio.io/v1
        kind: Telemetry
        metadata:
          name: mesh-default
          namespace: istio-system
        spec:
          tracing:
          - randomSamplingPercentage: 1
        ---
        apiVersion: telemetry.istio.io/v1
        kind: Telemetry
        metadata:
          name: mesh-logging  # expect: ML942@9 metadata.name
          namespace: istio-system
        spec:
          accessLogging:
          - providers:
            - name: envoy
    """,
    good="""
        apiVersion: telemetry.istio.io/v1
        kind: Telemetry
        metadata:
          name: mesh-default
          namespace: istio-system
        spec:
          tracing:
          - randomSamplingPercentage: 1
          accessLogging:
          - providers:
            - name: envoy
    """,
    istio="IST0160",
    source=f"{AN}/telemetry/default_selector.go (MultipleTelemetriesWithoutWorkloadSelectors)",
    catalogue=("tm-x-selectorless-dup", "tm-ml-root-multi"),
)
def multiple_namespace_telemetries(tm: Record, index: MeshIndex) -> Iterator[Finding]:
    first = _earlier_default(index, tm)
    if first is None:
        return
    yield Finding(
        _NAME,
        f"{first.key} ({first.where}) has no selector either: both claim to be "
        f"{_scope_of(index, tm)}; only one is used, merge them",
    )


# --------------------------------------------------------------------------------------------
@rule(
    "ML943",
    "conflicting-peerauthentication-selectors",
    Severity.ERROR,
    scope="mesh",
    shares="selected-workloads",
    kinds={"PeerAuthentication"},
    summary="Two PeerAuthentications select the same workload.",
    rationale="""
        A workload takes its mutual TLS settings from one workload-level PeerAuthentication:
        of those of its namespace whose selector matches its pods, istiod uses the oldest
        (by creation time) and ignores the others, `portLevelMtls` included. Which one is
        oldest depends on the order they were applied in, so the effective mode may differ
        between clusters. Merge them, or make their selectors pick disjoint workloads.

        Selectors are matched against the workloads of the run in the policies' namespace
        (two with the very same selector conflict even when the run holds none of their
        workloads); selector-based policies of the root namespace have no effect and are
        reported by another rule. The finding is on the later policy and names the first,
        which is the one used when they are applied in the order of the files.
    """,
    bad="""
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: payments
          namespace: billing
        spec:
          selector:
            matchLabels:
              app: payments
          template:
            metadata:
              labels:
                app: payments
                tier: backend
            spec:
              containers:
              - name: payments
                image: example/payments:1.0
        ---
        apiVersion: security.istio.io/v1
        kind: PeerAuthentication
        metadata:
          name: payments-strict
          namespace: billing
        spec:
          selector:
            matchLabels:
              app: payments
          mtls:
            mode: STRICT
        ---
        apiVersion: security.istio.io/v1
        kind: PeerAuthentication
        metadata:
          name: backend-permissive
          namespace: billing
        spec:
          selector:
            matchLabels:  # expect: ML943@5 spec.selector
              tier: backend
          mtls:
            mode: PERMISSIVE
    """,
    good="""
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: payments
          namespace: billing
        spec:
          selector:
            matchLabels:
              app: payments
          template:
            metadata:
              labels:
                app: payments
                tier: backend
            spec:
              containers:
              - name: payments
                image: example/payments:1.0
        ---
        apiVersion: security.istio.io/v1
        kind: PeerAuthentication
        metadata:
          name: payments-strict
          namespace: billing
        spec:
          selector:
            matchLabels:
              app: payments
          mtls:
            mode: STRICT
    """,
    kiali="KIA0003",
    source=f"{KIALI}/common/multi_match_selector_checker.go (PeerAuthenticationMultiMatchChecker); "
    "istio/istio pilot/pkg/security/authn/policy_applier.go (ComposePeerAuthentication)",
    catalogue=("pa-k-multi-selector", "pa-rt-workload-oldest"),
)
def conflicting_peerauthentication_selectors(pa: Record, index: MeshIndex) -> Iterator[Finding]:
    found = _conflict(index, pa)
    if found is None:
        return
    yield Finding(
        ("spec", "selector"),
        _conflict_message(
            pa,
            *found,
            "istiod uses only the oldest of them for the workload and ignores the "
            "other's mTLS settings; merge them or make their selectors disjoint",
        ),
    )


# --------------------------------------------------------------------------------------------
@rule(
    "ML944",
    "multiple-namespace-peerauthentications",
    Severity.ERROR,
    scope="mesh",
    shares="namespace-defaults",
    kinds={"PeerAuthentication"},
    summary="A namespace has more than one PeerAuthentication without selector.",
    rationale="""
        A PeerAuthentication without selector sets the mutual TLS mode of its namespace (in
        the root namespace, of the whole mesh), and there can be only one: istiod keeps the
        oldest by creation time and ignores the others with a log line. Which one that is
        depends on the order they were applied in, so one cluster may run STRICT and another
        PERMISSIVE from the same files. Merge them into one.

        A manifest that names no namespace goes wherever it is applied, so two such policies
        are compared only within one file. The finding is on the later one and names the
        first, which is the one used when they are applied in the order of the files.
    """,
    bad="""
        apiVersion: security.istio.io/v1
        kind: PeerAuthentication
        metadata:
          name: default
          namespace: billing
        spec:
          mtls:
            mode: STRICT
        ---
        apiVersion: security.istio.io/v1
        kind: PeerAuthentication
        metadata:
          name: migration  # expect: ML944@9 metadata.name
          namespace: billing
        spec:
          mtls:
            mode: PERMISSIVE
    """,
    good="""
        apiVersion: security.istio.io/v1
        kind: PeerAuthentication
        metadata:
          name: default
          namespace: billing
        spec:
          mtls:
            mode: STRICT
    """,
    kiali="KIA0002",
    source=f"{KIALI}/common/multi_match_selector_checker.go (selector-less subjects); "
    "istio/istio pilot/pkg/model/authentication.go (addPeerAuthentication)",
    catalogue=("pa-k-multi-selectorless", "pa-rt-oldest-wins"),
)
def multiple_namespace_peerauthentications(pa: Record, index: MeshIndex) -> Iterator[Finding]:
    first = _earlier_default(index, pa)
    if first is None:
        return
    yield Finding(
        _NAME,
        f"{first.key} ({first.where}) has no selector either: both set the mTLS mode "
        f"of {_scope_of(index, pa, noun=False)}; istiod keeps only the oldest and "
        "ignores the other, merge them",
    )


# --------------------------------------------------------------------------------------------
@rule(
    "ML945",
    "root-namespace-peerauthentication-selector",
    Severity.WARNING,
    scope="mesh",
    kinds={"PeerAuthentication"},
    summary="A PeerAuthentication of the root namespace has a selector, which makes it inert.",
    rationale="""
        In the root namespace (`istio-system` unless configured), a PeerAuthentication without
        selector is the mesh-wide policy. One with a selector is neither: istiod's
        composition takes workload-level policies only from the workload's own namespace and
        mesh-level ones only when they have no selector, so a selector-based policy in the
        root namespace applies to no workload at all, not even to pods of the root
        namespace. Move it to the namespace of the workloads it is meant for, or drop the
        selector to make it the mesh-wide policy.
    """,
    bad="""
        apiVersion: security.istio.io/v1
        kind: PeerAuthentication
        metadata:
          name: strict-frontends
          namespace: istio-system
        spec:
          selector:
            matchLabels:  # expect: ML945@5 spec.selector
              tier: frontend
          mtls:
            mode: STRICT
    """,
    good="""
        apiVersion: security.istio.io/v1
        kind: PeerAuthentication
        metadata:
          name: strict-frontends
          namespace: web
        spec:
          selector:
            matchLabels:
              tier: frontend
          mtls:
            mode: STRICT
    """,
    source="istio/istio pilot/pkg/security/authn/policy_applier.go (ComposePeerAuthentication)",
    catalogue=("pa-rt-root-selector",),
)
def root_namespace_peerauthentication_selector(pa: Record, index: MeshIndex) -> Iterator[Finding]:
    if pa.namespace != index.root_namespace:
        return
    state, selector = _selector(pa)
    if state != _LABELS:
        return
    yield Finding(
        ("spec", "selector"),
        f"selector {_text(selector)} in the root namespace `{pa.namespace}`: a "
        "selector-based PeerAuthentication there applies to no workload (only "
        "selector-less ones are mesh-wide); move it to the workloads' namespace",
    )


# --------------------------------------------------------------------------------------------
def _gateway_namespaces(index: MeshIndex) -> set[str]:
    """The namespaces whose workloads include the pods of a Gateway API gateway. Computed
    once per run (``index.memo``)."""
    return {
        ns
        for ns, workloads in index.workloads.items()
        if any(GATEWAY_NAME_LABEL in labels for _, labels in workloads)
    }


@rule(
    "ML946",
    "selector-on-gateway-api-pods",
    Severity.WARNING,
    scope="mesh",
    shares="selected-workloads",
    kinds={"AuthorizationPolicy", "RequestAuthentication", "Telemetry"},
    summary="A policy selects the pods of a Gateway API gateway by label instead of targetRefs.",
    rationale="""
        Istio deploys the proxies of a Kubernetes Gateway API `Gateway` (and of waypoints)
        itself and labels their pods `gateway.networking.k8s.io/gateway-name: <name>`. Such
        proxies take AuthorizationPolicies, RequestAuthentications and Telemetries only
        through `targetRefs` naming the Gateway: a `selector` that matches their pods is
        ignored, so the policy silently does nothing at that gateway.

        Reported for a policy without `targetRef`/`targetRefs` whose selector names the
        `gateway.networking.k8s.io/gateway-name` label (only such pods carry it), or matches
        a workload of the run in its namespace whose pods carry it.
    """,
    bad="""
        apiVersion: security.istio.io/v1
        kind: AuthorizationPolicy
        metadata:
          name: edge-deny-admin
          namespace: edge
        spec:
          selector:
            matchLabels:
              gateway.networking.k8s.io/gateway-name: public  # expect: ML946@7 spec.selector.matchLabels
          action: DENY
          rules:
          - to:
            - operation:
                ports:
                - "8080"
                paths:
                - /admin/*
    """,
    good="""
        apiVersion: security.istio.io/v1
        kind: AuthorizationPolicy
        metadata:
          name: edge-deny-admin
          namespace: edge
        spec:
          targetRefs:
          - group: gateway.networking.k8s.io
            kind: Gateway
            name: public
          action: DENY
          rules:
          - to:
            - operation:
                ports:
                - "8080"
                paths:
                - /admin/*
    """,
    istio="IST0166",
    source=f"{AN}/k8sgateway/workloadselector.go (SelectorAnalyzer: IneffectiveSelector)",
    catalogue=("ap-x-gateway-selector", "ra-x-gateway-selector", "tm-x-gateway-selector"),
)
def selector_on_gateway_api_pods(rec: Record, index: MeshIndex) -> Iterator[Finding]:
    if has_target_refs(rec):
        return
    state, selector = _selector_in(index, rec)
    if state != _LABELS:
        return
    name = selector.get(GATEWAY_NAME_LABEL)
    if name is None:
        if rec.effective_namespace not in index.memo(_gateway_namespaces):
            return
        gateways = [
            labels[GATEWAY_NAME_LABEL]
            for w, labels in _selected(index, rec, selector)
            if GATEWAY_NAME_LABEL in labels
        ]
        if not gateways:
            return
        name = gateways[0]
    yield Finding(
        _selector_path(rec),
        f"selector {_text(selector)} picks the pods of Gateway API gateway `{name}`, "
        f"which ignore selectors: bind the {rec.kind} with `targetRefs` "
        f"(group gateway.networking.k8s.io, kind Gateway, name {name}) instead",
    )


# --------------------------------------------------------------------------------------------
@rule(
    "ML947",
    "root-namespace-sidecar-selector",
    Severity.WARNING,
    scope="mesh",
    kinds={"Sidecar"},
    summary="A Sidecar of the root namespace has a workloadSelector.",
    rationale="""
        The Sidecar of the root namespace (`istio-system` unless configured) is meant to be
        the mesh-wide default, which applies to every namespace that has no Sidecar of its
        own — but only when it has no `workloadSelector`. With one, it is just a Sidecar for
        the matching pods of the root namespace, and the mesh has no default. Drop the
        selector, or move the Sidecar to the namespace of the workloads it is meant for.
    """,
    bad="""
        apiVersion: networking.istio.io/v1
        kind: Sidecar
        metadata:
          name: default
          namespace: istio-system
        spec:
          workloadSelector:
            labels:  # expect: ML947@5 spec.workloadSelector
              app: reviews
          egress:
          - hosts:
            - ./*
    """,
    good="""
        apiVersion: networking.istio.io/v1
        kind: Sidecar
        metadata:
          name: default
          namespace: istio-system
        spec:
          egress:
          - hosts:
            - ./*
    """,
    kiali="KIA1006",
    source=f"{KIALI}/sidecars/global_checker.go (GlobalChecker)",
    catalogue=("sc-k-root-selector",),
)
def root_namespace_sidecar_selector(sc: Record, index: MeshIndex) -> Iterator[Finding]:
    if sc.namespace != index.root_namespace:
        return
    state, selector = _selector(sc)
    if state == _LABELS:
        yield Finding(
            ("spec", "workloadSelector"),
            f"workloadSelector {_text(selector)} in the root namespace "
            f"`{sc.namespace}`: the mesh-wide default Sidecar must have none; this one "
            "only applies to matching pods of the root namespace",
        )
