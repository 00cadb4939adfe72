"""Cross-resource rules: security. See meshlint/rules/mesh/references.py for the framework.

AuthorizationPolicy references (source namespaces, principals, operation hosts, workloads no
policy covers, CUSTOM providers), RequestAuthentication that nothing enforces or that claim-based
routing needs, and the Telemetry providers MeshConfig defines.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple

from meshlint.diagnostics import FieldPath, Finding, Severity
from meshlint.mesh import (
    CONTAINER_PORTS,
    SERVICE_ACCOUNT,
    WORKLOAD_KINDS,
    MeshIndex,
    Record,
    has_target_refs,
    selects,
    workload_selector,
)
from meshlint.rules import rule
from meshlint.rules.lib.guards import is_int
from meshlint.rules.lib.mesh import AN, CLAIM_MARK, KIALI, items, literal, match_fields

# Namespaces every cluster has: a reference to them is never a typo of the run's.
_SYSTEM_NAMESPACES = frozenset({"default", "kube-system", "kube-public", "kube-node-lease"})


# --------------------------------------------------------------------------------------------
# helpers (general enough for the index; kept here while only this module needs them)


def _sources(ap: Record) -> Iterator[tuple[FieldPath, dict[str, Any]]]:
    """Every `rules[].from[].source` of an AuthorizationPolicy: (path of it, the mapping)."""
    for i, ap_rule in items(ap.spec.get("rules")):
        if not isinstance(ap_rule, dict):
            continue
        for j, frm in items(ap_rule.get("from")):
            if isinstance(frm, dict) and isinstance(frm.get("source"), dict):
                yield ("spec", "rules", i, "from", j, "source"), frm["source"]


def _operations(ap: Record) -> Iterator[tuple[FieldPath, dict[str, Any]]]:
    """Every `rules[].to[].operation` of an AuthorizationPolicy."""
    for i, ap_rule in items(ap.spec.get("rules")):
        if not isinstance(ap_rule, dict):
            continue
        for j, to in items(ap_rule.get("to")):
            if isinstance(to, dict) and isinstance(to.get("operation"), dict):
                yield ("spec", "rules", i, "to", j, "operation"), to["operation"]


# The list fields of a `rules[].from[].source` some rule reads, in the order they are read.
_SOURCE_FIELDS = (
    "namespaces",
    "notNamespaces",
    "principals",
    "notPrincipals",
    "serviceAccounts",
    "notServiceAccounts",
)
_SourceValue = tuple[FieldPath, str, int, str]  # path of the block, field, index in it, value


def _source_values(index: MeshIndex, ap: Record) -> list[_SourceValue]:
    """The literal strings of the :data:`_SOURCE_FIELDS` of every source of an
    AuthorizationPolicy of the run (source by source, each field in that order), listed once
    per run: the path of one is ``(*base, field, k)``."""
    return index.of_record(_source_values_of, ap)


def _source_values_of(index: MeshIndex, ap: Record) -> list[_SourceValue]:
    found: list[_SourceValue] = []
    for base, source in _sources(ap):
        _add_values(found, source, base, _SOURCE_FIELDS)
    return found


def _target_values(index: MeshIndex, ap: Record) -> list[_SourceValue]:
    """The literal strings of the `hosts`, `ports` and `notPorts` of every operation of an
    AuthorizationPolicy of the run (operation by operation), then of the `values` and
    `notValues` of its `when` conditions on `destination.port`: (path of the operation or
    condition, field, index in it, value), listed once per run."""
    return index.of_record(_target_values_of, ap)


def _target_values_of(index: MeshIndex, ap: Record) -> list[_SourceValue]:
    found: list[_SourceValue] = []
    for base, operation in _operations(ap):
        _add_values(found, operation, base, ("hosts", "ports", "notPorts"))
    for i, ap_rule in items(ap.spec.get("rules")):
        if not isinstance(ap_rule, dict):
            continue
        for j, cond in items(ap_rule.get("when")):
            if isinstance(cond, dict) and cond.get("key") == "destination.port":
                _add_values(found, cond, ("spec", "rules", i, "when", j), ("values", "notValues"))
    return found


def _add_values(
    found: list[_SourceValue], block: dict[str, Any], base: FieldPath, fields: tuple[str, ...]
) -> None:
    for name in fields:
        values = block.get(name)
        if isinstance(values, list):
            for k, value in enumerate(values):
                if literal(value):
                    found.append((base, name, k, value))


def _workload_records(index: MeshIndex) -> Iterator[Record]:
    for kind in sorted(WORKLOAD_KINDS):
        for rec in index.by_kind.get(kind, ()):
            if rec.group in ("", "apps"):
                yield rec


def _applies(selector: dict[str, str] | None, labels: dict[str, str]) -> bool:
    """Whether a policy with ``selector`` (None: the whole namespace) applies to a pod."""
    return selector is None or selects(selector, labels)


def _unauthenticated_pods(index: MeshIndex, gateway_ref: tuple[str, str]) -> list[Record]:
    """The pods of a Gateway that no RequestAuthentication applies to, once per Gateway
    (``index.memo_by``)."""
    gateway = index.gateways[gateway_ref]
    ras = index.memo(_request_authentications)
    root = ras.get(index.root_namespace, [])
    uncovered = []
    for wl, labels in index.selected_by(gateway) or []:
        own = wl.effective_namespace
        policies = root + (ras.get(own, []) if own != index.root_namespace else [])
        if not any(_applies(sel, labels) for _, sel in policies):
            uncovered.append(wl)
    return uncovered


def _named(recs: list[Record], limit: int = 3) -> str:
    shown = ", ".join(f"{r.key} ({r.where})" for r in recs[:limit])
    return shown + (f" and {len(recs) - limit} more" if len(recs) > limit else "")


def _namespace_matches(pattern: str, namespace: str) -> bool:
    if pattern == "*":
        return True
    if pattern.startswith("*"):
        return namespace.endswith(pattern[1:])
    if pattern.endswith("*"):
        return namespace.startswith(pattern[:-1])
    return namespace.lower() == pattern.lower()


class _Namespaces(NamedTuple):
    """The namespaces a source may name without being a typo, and those the run declares."""

    known: set[str]
    lowered: set[str]
    declared: list[str]  # the names of the run's Namespace manifests, sorted


def _known_namespaces(index: MeshIndex) -> _Namespaces:
    known = set(index.namespaces) | _SYSTEM_NAMESPACES | {index.root_namespace}
    return _Namespaces(known, {n.lower() for n in known}, sorted(index.namespace_records))


def _namespace_known(index: MeshIndex, pattern: str) -> bool:
    view = index.memo(_known_namespaces)
    if "*" in pattern:
        hit = any(_namespace_matches(pattern, n) for n in view.known)
    else:
        hit = pattern.lower() in view.lowered
    return hit or index.is_external_namespace(pattern)


# --------------------------------------------------------------------------------------------
@rule(
    "ML970",
    "authz-source-namespace-unknown",
    Severity.WARNING,
    scope="mesh",
    shares="authz-sources",
    kinds={"AuthorizationPolicy"},
    summary="An AuthorizationPolicy source names a namespace that does not exist.",
    rationale="""
        `from[].source.namespaces` and `notNamespaces` match the namespace of the calling
        workload (from its mTLS identity). A namespace that does not exist is usually a typo:
        an ALLOW rule then lets nobody in and a DENY rule blocks nobody. Values are matched as
        Istio matches them: exactly, `*`, `prefix*` or `*suffix`.

        A run is seldom the whole cluster, so the verdict depends on what it holds. When it holds
        Namespace manifests, or resources of several namespaces, a value that matches none of
        them, no namespace any resource of the run lives in, no namespace every cluster has
        (`default`, `kube-system`, `kube-public`, `kube-node-lease`, the root namespace) and no
        `external-namespaces` entry is reported. Istio's analyzer, which sees the whole cluster,
        calls it an error; here it is a warning, since callers often live in namespaces another
        repository declares (list those in `external-namespaces`). A run of one namespace says
        nothing.
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
          name: frontend
        ---
        apiVersion: security.istio.io/v1
        kind: AuthorizationPolicy
        metadata:
          name: orders-callers
          namespace: shop
        spec:
          selector:
            matchLabels:
              app: orders
          action: ALLOW
          rules:
          - from:
            - source:
                namespaces:
                - front-end  # expect: ML970@11 spec.rules[0].from[0].source.namespaces[0]
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
          name: frontend
        ---
        apiVersion: security.istio.io/v1
        kind: AuthorizationPolicy
        metadata:
          name: orders-callers
          namespace: shop
        spec:
          selector:
            matchLabels:
              app: orders
          action: ALLOW
          rules:
          - from:
            - source:
                namespaces:
                - frontend
                - istio-*
    """,
    istio="IST0101",
    kiali="KIA0101",
    source=f"{AN}/authz/authorizationpolicies.go (analyzeNamespaceNotFound, namespaceMatch); "
    f"{KIALI}/authorization/namespace_method_checker.go (validateFromField)",
    catalogue=("ap-x-namespace-unknown", "ap-k-namespace-unknown"),
)
def authz_source_namespace_unknown(ap: Record, index: MeshIndex) -> Iterator[Finding]:
    declared = index.memo(_known_namespaces).declared
    several = len(index.namespaces) >= 2
    for base, field, k, value in _source_values(index, ap):
        if field != "namespaces" and field != "notNamespaces":
            continue
        if value == "*" or "*" in value[1:-1] or _namespace_known(index, value):
            continue
        path = (*base, field, k)
        if declared:
            shown = ", ".join(declared[:5]) + (", …" if len(declared) > 5 else "")
            yield Finding(
                path,
                f"namespace `{value}` matches no namespace of the linted files (their "
                f"Namespace manifests: {shown}): the source never matches; if it exists "
                "elsewhere, add it to `external-namespaces`",
            )
        elif several:
            yield Finding(
                path,
                f"namespace `{value}` matches no namespace the linted files hold "
                "resources of: unless it exists elsewhere (then add it to "
                "`external-namespaces`), the source never matches",
                severity=Severity.WARNING,
            )


# --------------------------------------------------------------------------------------------
_PRINCIPAL_FIELDS = ("principals", "notPrincipals")
_ACCOUNT_FIELDS = ("serviceAccounts", "notServiceAccounts")


def _split_principal(value: str) -> tuple[str, str, str] | None:
    """`<trust domain>/ns/<namespace>/sa/<account>` → (trust domain, namespace, account)."""
    parts = value.split("/")
    if len(parts) != 5 or parts[1] != "ns" or parts[3] != "sa" or not all(parts):
        return None
    return parts[0], parts[2], parts[4]


def _trust_domains(index: MeshIndex) -> set[str]:
    """The trust domains the mesh answers to: the configured one, `cluster.local` (Istio reads
    it as the local trust domain), and MeshConfig `trustDomain` and `trustDomainAliases`."""
    found = {index.settings.trust_domain, "cluster.local"}
    mesh = index.mesh_config
    if isinstance(mesh, dict):
        if isinstance(mesh.get("trustDomain"), str):
            found.add(mesh["trustDomain"])
        for alias in mesh.get("trustDomainAliases") or ():
            if isinstance(alias, str):
                found.add(alias)
    return found


def _accounts(index: MeshIndex) -> tuple[dict[str, set[str]], set[str]]:
    """The service accounts of each namespace the run knows of (ServiceAccount manifests and
    workloads' `serviceAccountName`), and the namespaces that hold ServiceAccount manifests."""
    by_ns: dict[str, set[str]] = {}
    manifests: set[str] = set()
    for ns, name in index.service_accounts:
        by_ns.setdefault(ns, set()).add(name)
        manifests.add(ns)
    for rec in _workload_records(index):
        account = rec.data.get(SERVICE_ACCOUNT)
        if isinstance(account, str) and account:
            by_ns.setdefault(rec.effective_namespace, set()).add(account)
    return by_ns, manifests


@rule(
    "ML971",
    "authz-principal-unknown",
    Severity.ERROR,
    scope="mesh",
    shares="authz-sources",
    kinds={"AuthorizationPolicy"},
    summary="An AuthorizationPolicy names a service account that does not exist.",
    rationale="""
        A principal `cluster.local/ns/NS/sa/SA` (or a `serviceAccounts` entry `NS/SA`) matches
        the workloads that run as service account SA of namespace NS. One that no workload runs
        as is usually a typo or a renamed account: an ALLOW rule then lets nobody in, a DENY or
        `notPrincipals` rule blocks the wrong callers.

        Only namespaces the run knows the accounts of are checked: it is an error when the run
        holds ServiceAccount manifests of NS and neither they nor any workload's
        `serviceAccountName` is SA; a warning when only workloads of NS name their accounts (the
        ServiceAccounts are then created elsewhere). `default` exists in every namespace.
        Values with `*` and principals of another trust domain (ML972) are left alone, and so
        are namespaces listed in `external-namespaces`.
    """,
    bad="""
        apiVersion: v1
        kind: ServiceAccount
        metadata:
          name: bookshop-reviews
          namespace: bookshop
        ---
        apiVersion: security.istio.io/v1
        kind: AuthorizationPolicy
        metadata:
          name: ratings-readers
          namespace: bookshop
        spec:
          selector:
            matchLabels:
              app: ratings
          rules:
          - from:
            - source:
                principals:
                - cluster.local/ns/bookshop/sa/reviews  # expect: ML971@11 spec.rules[0].from[0].source.principals[0]
    """,
    good="""
        apiVersion: v1
        kind: ServiceAccount
        metadata:
          name: bookshop-reviews
          namespace: bookshop
        ---
        apiVersion: security.istio.io/v1
        kind: AuthorizationPolicy
        metadata:
          name: ratings-readers
          namespace: bookshop
        spec:
          selector:
            matchLabels:
              app: ratings
          rules:
          - from:
            - source:
                principals:
                - cluster.local/ns/bookshop/sa/bookshop-reviews
    """,
    kiali="KIA0106",
    source=f"{KIALI}/authorization/principals_checker.go (hasMatchingServiceAccount)",
    catalogue=("ap-k-principal-unknown",),
)
def authz_principal_unknown(ap: Record, index: MeshIndex) -> Iterator[Finding]:
    by_ns, manifests = index.memo(_accounts)
    if not by_ns:
        return
    domains = index.memo(_trust_domains)
    # (fields in the order of _SOURCE_FIELDS: a source's principals before its accounts)
    for base, field, k, value in _source_values(index, ap):
        if field in _PRINCIPAL_FIELDS:
            parts = _split_principal(value)
            if parts is None or parts[0] not in domains:
                continue
            ns, name = parts[1], parts[2]
        elif field in _ACCOUNT_FIELDS:
            ns, _, name = value.rpartition("/")
            ns = ns or ap.effective_namespace
        else:
            continue
        if "*" in value or name == "default" or "{{" in value:
            continue
        known = by_ns.get(ns)
        if known is None or name in known or index.is_external_namespace(ns):
            continue
        path = (*base, field, k)
        if ns in manifests:
            yield Finding(
                path,
                f"`{value}` is service account `{name}` of namespace `{ns}`, which "
                "neither the ServiceAccounts nor the workloads of the linted files "
                f"define (they have {', '.join(sorted(known)[:5])}): the value matches "
                "no workload",
            )
        else:
            yield Finding(
                path,
                f"`{value}` is service account `{name}` of namespace `{ns}`, which no "
                f"workload of the linted files runs as (they run as "
                f"{', '.join(sorted(known)[:5])}); unless a workload applied from "
                "elsewhere uses it, the value matches nothing",
                severity=Severity.WARNING,
            )


# --------------------------------------------------------------------------------------------
@rule(
    "ML972",
    "authz-principal-foreign-trust-domain",
    Severity.WARNING,
    scope="mesh",
    shares="authz-sources",
    kinds={"AuthorizationPolicy"},
    summary="An AuthorizationPolicy principal belongs to a trust domain the mesh does not use.",
    rationale="""
        A principal is `<trust domain>/ns/<namespace>/sa/<account>`. Istio reads the trust
        domain `cluster.local` as the mesh's own, and accepts the MeshConfig `trustDomain` and
        `trustDomainAliases`; a principal of any other trust domain matches only workloads of
        another mesh that federates with this one. More often it is a typo, or a cluster domain
        (`svc.cluster.local`, `corp.local`) written where the trust domain belongs.

        The mesh's trust domain is the `trust-domain` configuration option (`cluster.local`
        unless set), plus what Istio's mesh ConfigMap in the run says. Principals with `*` are
        left alone, and so are `spiffe://` values (another rule reports them).
    """,
    bad="""
        apiVersion: security.istio.io/v1
        kind: AuthorizationPolicy
        metadata:
          name: ratings-readers
          namespace: bookshop
        spec:
          selector:
            matchLabels:
              app: ratings
          rules:
          - from:
            - source:
                principals:
                - svc.cluster.local/ns/bookshop/sa/bookshop-reviews  # expect: ML972@11 spec.rules[0].from[0].source.principals[0]
    """,
    good="""
        apiVersion: security.istio.io/v1
        kind: AuthorizationPolicy
        metadata:
          name: ratings-readers
          namespace: bookshop
        spec:
          selector:
            matchLabels:
              app: ratings
          rules:
          - from:
            - source:
                principals:
                - cluster.local/ns/bookshop/sa/bookshop-reviews
    """,
    kiali="KIA0108",
    source=f"{KIALI}/authorization/principals_checker.go (hasForeignTrustDomain); istio/istio "
    "pilot/pkg/security/trustdomain/bundle.go (cluster.local read as the local trust domain)",
    catalogue=("ap-k-principal-foreign",),
)
def authz_principal_foreign_trust_domain(ap: Record, index: MeshIndex) -> Iterator[Finding]:
    domains = index.memo(_trust_domains)
    for base, field, k, value in _source_values(index, ap):
        if field not in _PRINCIPAL_FIELDS or "*" in value or value.startswith("spiffe://"):
            continue
        cut = value.find("/ns/")
        if cut <= 0:
            continue
        domain = value[:cut]
        if domain in domains:
            continue
        path = (*base, field, k)
        yield Finding(
            path,
            f"principal `{value}` is of trust domain `{domain}`, not the mesh's "
            f"({', '.join(sorted(domains))}): it matches no workload of this mesh; if "
            "the mesh uses that trust domain, set `trust-domain` in the configuration",
        )


def _virtual_service_hosts(index: MeshIndex) -> set[str]:
    found: set[str] = set()
    for vs in index.virtual_services:
        for _, host in items(vs.spec.get("hosts")):
            if literal(host):
                found.add(index.canonical(host, vs.effective_namespace))
    return found


# --------------------------------------------------------------------------------------------
@rule(
    "ML973",
    "authz-operation-host-unknown",
    Severity.ERROR,
    scope="mesh",
    shares="authz-targets",
    kinds={"AuthorizationPolicy"},
    summary="An AuthorizationPolicy operation host names a service that does not exist.",
    rationale="""
        `to[].operation.hosts` matches the request's Host header. A value that looks like a
        service name (a short name, resolved in the policy's namespace, or `name.namespace` of
        a namespace the run knows) but names no Service, ServiceEntry or VirtualService host is
        usually a typo: the operation never matches, so an ALLOW rule lets nothing in.

        Values with `*` or with two dots or more are Host-header patterns (`*.example.com`,
        `api.example.com`) and are left alone, as are `name.x` values whose `x` is no namespace
        the run knows; a `:port` suffix is ignored. It is an error when the run holds Services of
        the namespace the host resolves to, a warning when it holds Services of other
        namespaces only (the Service may be elsewhere: `external-hosts`), and nothing is said
        when it holds no Service.
    """,
    bad="""
        apiVersion: v1
        kind: Service
        metadata:
          name: ratings
          namespace: bookshop
        spec:
          selector:
            app: ratings
          ports:
          - name: http
            port: 9080
        ---
        apiVersion: security.istio.io/v1
        kind: AuthorizationPolicy
        metadata:
          name: ratings-get
          namespace: bookshop
        spec:
          selector:
            matchLabels:
              app: ratings
          rules:
          - to:
            - operation:
                hosts:
                - rating  # expect: ML973@11 spec.rules[0].to[0].operation.hosts[0]
                methods:
                - GET
    """,
    good="""
        apiVersion: v1
        kind: Service
        metadata:
          name: ratings
          namespace: bookshop
        spec:
          selector:
            app: ratings
          ports:
          - name: http
            port: 9080
        ---
        apiVersion: security.istio.io/v1
        kind: AuthorizationPolicy
        metadata:
          name: ratings-get
          namespace: bookshop
        spec:
          selector:
            matchLabels:
              app: ratings
          rules:
          - to:
            - operation:
                hosts:
                - ratings
                - ratings:9080
                methods:
                - GET
    """,
    kiali="KIA0104",
    source=f"{KIALI}/authorization/no_host_checker.go (isHTTPHostHeaderMatcher, "
    "hasMatchingService)",
    catalogue=("ap-k-host-unknown",),
)
def authz_operation_host_unknown(ap: Record, index: MeshIndex) -> Iterator[Finding]:
    if not index.service_namespaces:
        return
    ns = ap.effective_namespace
    for base, field, k, value in _target_values(index, ap):
        if field != "hosts":
            continue
        host = value.strip()
        name, colon, port = host.rpartition(":")
        if colon and port.isdigit():
            host = name
        if not host or "*" in host or host.count(".") >= 2:
            continue
        if "." in host:
            target_ns = host.split(".", 1)[1]
            if target_ns != ns and target_ns not in index.namespaces:
                continue
            fqdn = f"{host.split('.', 1)[0]}.{target_ns}.svc.{index.domain}"
        else:
            target_ns, fqdn = ns, f"{host}.{ns}.svc.{index.domain}"
        if index.definitions(fqdn) or index.is_external(fqdn, value):
            continue
        if fqdn in index.memo(_virtual_service_hosts):
            continue
        if target_ns in index.service_namespaces:
            yield Finding(
                (*base, field, k),
                f"host `{value}` is `{fqdn}`, but no Service of namespace `{target_ns}` "
                "in the linted files has that name (nor a ServiceEntry or "
                "VirtualService that host): the operation never matches",
            )
        else:
            yield Finding(
                (*base, field, k),
                f"host `{value}` is `{fqdn}`, which no Service, ServiceEntry or "
                f"VirtualService of the linted files defines (they hold no Service of "
                f"namespace `{target_ns}`); unless it is defined elsewhere (then add it "
                "to `external-hosts`), the operation never matches",
                severity=Severity.WARNING,
            )


def _by_namespace(recs: Any) -> dict[str, list[tuple[Record, dict[str, str] | None]]]:
    out: dict[str, list[tuple[Record, dict[str, str] | None]]] = {}
    for rec in recs:
        out.setdefault(rec.effective_namespace, []).append((rec, workload_selector(rec)))
    return out


class _Uncovered(NamedTuple):
    namespace: str
    covered: int  # how many workloads of the namespace a policy covers
    workloads: int  # how many the namespace has
    policies: str  # the namespace's policies, named


def _uncovered_workloads(index: MeshIndex) -> dict[int, _Uncovered]:
    """Each workload (by id) that no AuthorizationPolicy covers, in a namespace where more
    workloads are covered than not."""
    out: dict[int, _Uncovered] = {}
    aps = index.by_kind.get("AuthorizationPolicy", ())
    if not aps:
        return out
    by_ns = _by_namespace(aps)
    root = by_ns.get(index.root_namespace, [])
    workloads: dict[str, list[Record]] = {}
    for rec in _workload_records(index):
        workloads.setdefault(rec.effective_namespace, []).append(rec)
    for ns in sorted(by_ns):
        policies = by_ns[ns] + (root if ns != index.root_namespace else [])
        if any(sel is None or has_target_refs(p) for p, sel in policies):
            continue  # a policy for the whole namespace (or the mesh) covers everything
        picked = {
            id(wl)
            for _, sel in policies
            if sel is not None
            for wl, _ in index.workloads_selected(ns, sel)
        }
        uncovered: list[Record] = []
        covered = 0
        for wl in workloads.get(ns, ()):
            if id(wl) in picked:
                covered += 1
            else:
                uncovered.append(wl)
        if not uncovered or covered <= len(uncovered):
            continue
        names = _named([p for p, _ in by_ns[ns]])
        for wl in uncovered:
            out[id(wl)] = _Uncovered(ns, covered, covered + len(uncovered), names)
    return out


# --------------------------------------------------------------------------------------------
@rule(
    "ML974",
    "workload-not-covered-by-authz",
    Severity.INFO,
    scope="mesh",
    kinds=WORKLOAD_KINDS,
    summary="A workload is covered by no AuthorizationPolicy in a namespace that mostly has them.",
    rationale="""
        A workload no AuthorizationPolicy applies to accepts every request from anywhere. In a
        namespace where the workloads are protected one by one (a policy with a selector for
        each), a workload without one is usually a new workload whose policy was forgotten.

        A policy covers a workload when it is in the workload's namespace or the root
        namespace and has no selector, or a selector the workload's pod labels match. Policies
        that use `targetRef(s)` are taken to cover their whole namespace. The rule only looks
        at namespaces where the run holds AuthorizationPolicies and more than half of the
        workloads are covered: a namespace that protects one workload out of many is a choice,
        not an oversight, and an open workload is a valid configuration, hence info.
    """,
    bad="""
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: orders
          namespace: shop
        spec:
          selector:
            matchLabels:
              app: orders
          template:
            metadata:
              labels:
                app: orders
            spec:
              containers:
              - name: orders
                image: example/orders:1.0
        ---
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: payments
          namespace: shop
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
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: catalog  # expect: ML974@9 metadata.name
          namespace: shop
        spec:
          selector:
            matchLabels:
              app: catalog
          template:
            metadata:
              labels:
                app: catalog
            spec:
              containers:
              - name: catalog
                image: example/catalog:1.0
        ---
        apiVersion: security.istio.io/v1
        kind: AuthorizationPolicy
        metadata:
          name: orders
          namespace: shop
        spec:
          selector:
            matchLabels:
              app: orders
          rules:
          - from:
            - source:
                namespaces:
                - shop
        ---
        apiVersion: security.istio.io/v1
        kind: AuthorizationPolicy
        metadata:
          name: payments
          namespace: shop
        spec:
          selector:
            matchLabels:
              app: payments
          rules:
          - from:
            - source:
                namespaces:
                - shop
    """,
    good="""
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: orders
          namespace: shop
        spec:
          selector:
            matchLabels:
              app: orders
          template:
            metadata:
              labels:
                app: orders
            spec:
              containers:
              - name: orders
                image: example/orders:1.0
        ---
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: payments
          namespace: shop
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
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: catalog
          namespace: shop
        spec:
          selector:
            matchLabels:
              app: catalog
          template:
            metadata:
              labels:
                app: catalog
            spec:
              containers:
              - name: catalog
                image: example/catalog:1.0
        ---
        apiVersion: security.istio.io/v1
        kind: AuthorizationPolicy
        metadata:
          name: orders
          namespace: shop
        spec:
          selector:
            matchLabels:
              app: orders
          rules:
          - from:
            - source:
                namespaces:
                - shop
        ---
        apiVersion: security.istio.io/v1
        kind: AuthorizationPolicy
        metadata:
          name: payments
          namespace: shop
        spec:
          selector:
            matchLabels:
              app: payments
          rules:
          - from:
            - source:
                namespaces:
                - shop
        ---
        apiVersion: security.istio.io/v1
        kind: AuthorizationPolicy
        metadata:
          name: catalog
          namespace: shop
        spec:
          selector:
            matchLabels:
              app: catalog
          rules:
          - from:
            - source:
                namespaces:
                - shop
    """,
    kiali="KIA1301",
    source="kiali/kiali business/checkers/workloads/uncovered_workload_checker.go "
    "(hasCoveringAuthPolicy)",
    catalogue=("ap-k-uncovered-workload",),
)
def workload_not_covered_by_authz(wl: Record, index: MeshIndex) -> Iterator[Finding]:
    found = index.memo(_uncovered_workloads).get(id(wl))
    if found is None:
        return
    yield Finding(
        ("metadata", "name"),
        f"{wl.key} is covered by no AuthorizationPolicy while {found.covered} of the "
        f"{found.workloads} workloads of namespace `{found.namespace}` are (policies: "
        f"{found.policies}): it accepts every request",
    )


_CLAIM_PREFIX = "@request.auth.claims"


def _is_claim_key(key: Any) -> bool:
    if not isinstance(key, str) or not key.lower().startswith(_CLAIM_PREFIX):
        return False
    rest = key[len(_CLAIM_PREFIX) :]
    return (rest.startswith(".") and len(rest) > 1) or (
        rest.startswith("[") and rest.endswith("]") and len(rest) > 2
    )


def _first_claim_match(spec: dict[str, Any]) -> tuple[FieldPath, str] | None:
    for i, route in items(spec.get("http")):
        if not isinstance(route, dict):
            continue
        for j, match in items(route.get("match")):
            if not isinstance(match, dict):
                continue
            for field in ("headers", "withoutHeaders"):
                headers = match.get(field)
                if isinstance(headers, dict):
                    for key in headers:
                        if _is_claim_key(key):
                            return ("spec", "http", i, "match", j, field, key), key
    return None


def _request_authentications(
    index: MeshIndex,
) -> dict[str, list[tuple[Record, dict[str, str] | None]]]:
    return _by_namespace(index.by_kind.get("RequestAuthentication", ()))


# --------------------------------------------------------------------------------------------
@rule(
    "ML975",
    "jwt-claim-routing-without-requestauthn",
    Severity.ERROR,
    scope="mesh",
    shares="match-fields",
    kinds={"VirtualService"},
    summary="A VirtualService routes on JWT claims at a gateway no RequestAuthentication covers.",
    rationale="""
        A header match on `@request.auth.claims.<name>` (or `@request.auth.claims[<name>]`)
        reads the claims of a validated JWT. The gateway proxy only has them when a
        RequestAuthentication applies to its pods (in the root namespace or the pod's
        namespace, with no selector or one the pod labels match); without one the match never
        holds and the route is dead.

        Checked for the VirtualService's `gateways` that the run defines, on the workloads of
        the run each Gateway's selector picks (in any namespace). It is an error when the run
        holds RequestAuthentications (the JWT configuration is here, and misses the gateway); a
        warning when it holds none, since it may be applied from elsewhere. The finding is on
        the first claim match and names the gateway and its uncovered workloads.
    """,
    bad="""
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: istio-ingressgateway
          namespace: istio-system
        spec:
          selector:
            matchLabels:
              istio: ingressgateway
          template:
            metadata:
              labels:
                istio: ingressgateway
            spec:
              containers:
              - name: istio-proxy
                image: docker.io/istio/proxyv2:1.24.0
        ---
        apiVersion: networking.istio.io/v1
        kind: Gateway
        metadata:
          name: public
          namespace: istio-system
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
        apiVersion: security.istio.io/v1
        kind: RequestAuthentication
        metadata:
          name: jwt
          namespace: shop
        spec:
          jwtRules:
          - issuer: https://auth.example.com
            jwksUri: https://auth.example.com/.well-known/jwks.json
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
          - istio-system/public
          http:
          - match:
            - headers:
                "@request.auth.claims.group":  # expect: ML975@9 spec.http[0].match[0].headers["@request.auth.claims.group"]
                  exact: beta
            route:
            - destination:
                host: frontend-beta
          - route:
            - destination:
                host: frontend
    """,
    good="""
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: istio-ingressgateway
          namespace: istio-system
        spec:
          selector:
            matchLabels:
              istio: ingressgateway
          template:
            metadata:
              labels:
                istio: ingressgateway
            spec:
              containers:
              - name: istio-proxy
                image: docker.io/istio/proxyv2:1.24.0
        ---
        apiVersion: networking.istio.io/v1
        kind: Gateway
        metadata:
          name: public
          namespace: istio-system
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
        apiVersion: security.istio.io/v1
        kind: RequestAuthentication
        metadata:
          name: ingress-jwt
          namespace: istio-system
        spec:
          selector:
            matchLabels:
              istio: ingressgateway
          jwtRules:
          - issuer: https://auth.example.com
            jwksUri: https://auth.example.com/.well-known/jwks.json
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
          - istio-system/public
          http:
          - match:
            - headers:
                "@request.auth.claims.group":
                  exact: beta
            route:
            - destination:
                host: frontend-beta
          - route:
            - destination:
                host: frontend
    """,
    istio="IST0149",
    source=f"{AN}/virtualservice/jwtclaimroute.go (JWTClaimRouteAnalyzer); istio/istio "
    "pkg/jwt/routing.go (ToRoutingClaim)",
    catalogue=("vs-x-jwt-no-requestauthn", "ra-x-needed-by-claim-routing"),
)
def jwt_claim_routing_without_requestauthn(vs: Record, index: MeshIndex) -> Iterator[Finding]:
    if CLAIM_MARK not in match_fields(index, vs):
        return  # no header key of a match names a claim
    claim = _first_claim_match(vs.spec)
    if claim is None:
        return
    path, key = claim
    ras = index.memo(_request_authentications)
    for _, ref in items(vs.spec.get("gateways")):
        if not literal(ref) or ref == "mesh":
            continue
        gw_ns, gw_name = index.gateway(ref, vs.effective_namespace)
        gateway = index.gateways.get((gw_ns, gw_name))
        if gateway is None:
            continue
        uncovered = index.memo_by(_unauthenticated_pods, (gw_ns, gw_name))
        if not uncovered:
            continue
        text = (
            f"`{key}` routes on a JWT claim at gateway {gw_ns}/{gw_name} ({gateway.where}), "
            f"but no RequestAuthentication applies to its workload(s) "
            f"{_named(uncovered)}: the claim is never set and the match never holds"
        )
        if ras:
            yield Finding(path, text, key=True)
        else:
            yield Finding(
                path,
                text + " (no RequestAuthentication is in the linted files; if one is "
                "applied from elsewhere, ignore this)",
                key=True,
                severity=Severity.WARNING,
            )


def _requires_token(ap: Record) -> bool:
    spec = ap.spec
    if spec.get("action") == "CUSTOM":
        return True
    if spec.get("action") == "AUDIT":
        return False
    for _, source in _sources(ap):
        if source.get("requestPrincipals") or source.get("notRequestPrincipals"):
            return True
    for _, ap_rule in items(spec.get("rules")):
        if not isinstance(ap_rule, dict):
            continue
        for _, cond in items(ap_rule.get("when")):
            key = cond.get("key") if isinstance(cond, dict) else None
            if isinstance(key, str) and key.startswith("request.auth."):
                return True
    return False


def _enforcing_policies(
    index: MeshIndex,
) -> dict[str, list[tuple[Record, dict[str, str] | None]]]:
    """The AuthorizationPolicies that require a token, by namespace."""
    aps = index.by_kind.get("AuthorizationPolicy", ())
    return _by_namespace(ap for ap in aps if _requires_token(ap))


def _unenforced(index: MeshIndex, key: tuple[str, tuple[tuple[str, str], ...] | None]) -> bool:
    """Whether no AuthorizationPolicy requiring a token covers the workloads a
    RequestAuthentication of a namespace with this selector (as sorted items; None: none)
    applies to: once per namespace and selector (copies of one resource ask the same)."""
    ns, wanted = key
    enforcing = index.memo(_enforcing_policies)
    root = enforcing.get(index.root_namespace, [])
    policies = enforcing.get(ns, []) + (root if ns != index.root_namespace else [])
    if any(sel is None for _, sel in policies):
        return False
    if wanted is None:
        if policies:
            return False  # some of the namespace's workloads are enforced: say nothing
    else:
        implied = set(wanted)
        if any(sel is not None and set(sel.items()) <= implied for _, sel in policies):
            return False
        pods = index.workloads_selected(ns, dict(wanted))
        if any(sel is not None and selects(sel, lb) for _, lb in pods for _, sel in policies):
            return False
    return True


# --------------------------------------------------------------------------------------------
@rule(
    "ML976",
    "requestauthn-not-enforced",
    Severity.WARNING,
    scope="mesh",
    kinds={"RequestAuthentication"},
    summary="A RequestAuthentication's workloads have no AuthorizationPolicy requiring a JWT.",
    rationale="""
        A RequestAuthentication only rejects requests that carry an invalid token; a request
        with no token at all passes, with no identity. To require a token, an
        AuthorizationPolicy for the same workloads has to demand a request principal:
        `requestPrincipals: ["*"]` in an ALLOW rule, `notRequestPrincipals: ["*"]` in a DENY
        rule, or a `when` condition on `request.auth.*`. A CUSTOM policy (external
        authorization) is taken to check tokens too.

        A policy counts when it is in the root namespace or the RequestAuthentication's
        namespace and has no selector, or a selector that picks one of its workloads (or that
        the RequestAuthentication's own selector implies). It is a warning when the run holds
        AuthorizationPolicies, which are then managed here; info when it holds none.
    """,
    bad="""
        apiVersion: security.istio.io/v1
        kind: RequestAuthentication
        metadata:
          name: jwt
          namespace: shop
        spec:
          selector:  # expect: ML976@3 spec.selector
            matchLabels:
              app: orders
          jwtRules:
          - issuer: https://auth.example.com
            jwksUri: https://auth.example.com/.well-known/jwks.json
        ---
        apiVersion: security.istio.io/v1
        kind: AuthorizationPolicy
        metadata:
          name: orders
          namespace: shop
        spec:
          selector:
            matchLabels:
              app: orders
          rules:
          - from:
            - source:
                namespaces:
                - shop
    """,
    good="""
        apiVersion: security.istio.io/v1
        kind: RequestAuthentication
        metadata:
          name: jwt
          namespace: shop
        spec:
          selector:
            matchLabels:
              app: orders
          jwtRules:
          - issuer: https://auth.example.com
            jwksUri: https://auth.example.com/.well-known/jwks.json
        ---
        apiVersion: security.istio.io/v1
        kind: AuthorizationPolicy
        metadata:
          name: orders
          namespace: shop
        spec:
          selector:
            matchLabels:
              app: orders
          rules:
          - from:
            - source:
                requestPrincipals:
                - https://auth.example.com/*
    """,
    source="istio/api security/v1beta1/request_authentication.proto (a request without a "
    "token is accepted); istio/api security/v1beta1/authorization_policy.proto "
    "(requestPrincipals, request.auth.* conditions)",
    catalogue=("ra-ml-no-authz",),
)
def requestauthn_not_enforced(ra: Record, index: MeshIndex) -> Iterator[Finding]:
    ns = ra.effective_namespace
    selector = workload_selector(ra)
    key = (ns, None if selector is None else tuple(sorted(selector.items())))
    if not index.memo_by(_unenforced, key):
        return
    scope = "its workloads" if selector is not None else f"namespace `{ns}`"
    text = (
        f"no AuthorizationPolicy for {scope} requires a request principal "
        "(`requestPrincipals`, `notRequestPrincipals` or a `request.auth.*` condition): "
        "requests without a token are accepted; only invalid tokens are rejected"
    )
    yield Finding(
        ("spec", "selector") if selector is not None else ("spec", "jwtRules"),
        text,
        key=True,
        severity=None if index.by_kind.get("AuthorizationPolicy") else Severity.INFO,
    )


_IssuerClaim = tuple[str, frozenset[tuple[str, str]] | None, str]


def _issuers(ra: Record) -> Iterator[tuple[_IssuerClaim, int, str]]:
    """(claim, index in `jwtRules`, issuer) of each JWT rule of a RequestAuthentication: the
    claim is (namespace, selector, issuer). Nothing for one bound by `targetRef(s)`."""
    if has_target_refs(ra):
        return
    selector = workload_selector(ra)
    group = frozenset(selector.items()) if selector is not None else None
    for i, jwt_rule in items(ra.spec.get("jwtRules")):
        issuer = jwt_rule.get("issuer") if isinstance(jwt_rule, dict) else None
        if not literal(issuer):
            continue
        assert isinstance(issuer, str)
        yield (ra.effective_namespace, group, issuer), i, issuer


def _first_issuers(index: MeshIndex) -> dict[_IssuerClaim, tuple[Record, int]]:
    first: dict[_IssuerClaim, tuple[Record, int]] = {}
    for ra in index.by_kind.get("RequestAuthentication", ()):
        for claim, i, _ in _issuers(ra):
            first.setdefault(claim, (ra, i))
    return first


# --------------------------------------------------------------------------------------------
@rule(
    "ML977",
    "requestauthn-duplicate-issuer",
    Severity.WARNING,
    scope="mesh",
    kinds={"RequestAuthentication"},
    summary="Two JWT rules for the same workloads name the same issuer.",
    rationale="""
        Each `jwtRules` entry that applies to a workload becomes a JWT provider of its proxy;
        two of them with the same `issuer` compete for the same tokens. Which keys, audiences
        and claim-to-header settings apply then depends on the order istiod merges them, and a
        token valid for one may be rejected by the other. Keep one rule per issuer.

        Compared within one namespace among RequestAuthentications with the same selector (or
        none), and within one resource. Overlapping but different selectors are not compared.
    """,
    bad="""
        apiVersion: security.istio.io/v1
        kind: RequestAuthentication
        metadata:
          name: jwt
          namespace: shop
        spec:
          jwtRules:
          - issuer: https://auth.example.com
            jwksUri: https://auth.example.com/.well-known/jwks.json
        ---
        apiVersion: security.istio.io/v1
        kind: RequestAuthentication
        metadata:
          name: jwt-legacy
          namespace: shop
        spec:
          jwtRules:
          - issuer: https://auth.example.com  # expect: ML977@13 spec.jwtRules[0].issuer
            jwksUri: https://auth.example.com/legacy/jwks.json
    """,
    good="""
        apiVersion: security.istio.io/v1
        kind: RequestAuthentication
        metadata:
          name: jwt
          namespace: shop
        spec:
          jwtRules:
          - issuer: https://auth.example.com
            jwksUri: https://auth.example.com/.well-known/jwks.json
          - issuer: https://legacy-auth.example.com
            jwksUri: https://legacy-auth.example.com/jwks.json
    """,
    source="istio/istio pilot/pkg/security/authn (one JWT provider per jwtRules entry of every "
    "RequestAuthentication applying to a workload)",
    catalogue=("ra-ml-issuer-dup",),
)
def requestauthn_duplicate_issuer(ra: Record, index: MeshIndex) -> Iterator[Finding]:
    first = index.memo(_first_issuers)
    for claim, i, issuer in _issuers(ra):
        other, j = first[claim]
        if other is ra and j == i:
            continue
        where = f"jwtRules[{j}]" if other is ra else f"{other.key} ({other.where})"
        yield Finding(
            ("spec", "jwtRules", i, "issuer"),
            f"issuer `{issuer}` is also configured by {where} for the same workloads: "
            "the two rules compete for the same tokens; keep one",
        )


# --------------------------------------------------------------------------------------------
# MeshConfig extension providers

# The providers istiod defines without a MeshConfig entry (pkg/config/mesh/mesh.go).
_BUILTIN_PROVIDERS = {
    "prometheus": "prometheus",
    "stackdriver": "stackdriver",
    "envoy": "envoyFileAccessLog",
}
# Which provider types each Telemetry section uses (pilot/pkg/networking/core/tracing.go,
# pilot/pkg/model/telemetry_logging.go, pilot/pkg/model/telemetry.go).
_SECTION_TYPES = {
    "tracing": frozenset(
        {"zipkin", "lightstep", "datadog", "skywalking", "opentelemetry", "opencensus"}
    ),
    "metrics": frozenset({"prometheus"}),
    "accessLogging": frozenset(
        {"envoyFileAccessLog", "envoyHttpAls", "envoyTcpAls", "envoyOtelAls"}
    ),
}
_DEPRECATED_TYPES = frozenset({"lightstep", "opencensus"})
_EXT_AUTHZ_TYPES = frozenset({"envoyExtAuthzHttp", "envoyExtAuthzGrpc"})
_PROVIDER_TYPES = (
    frozenset().union(*_SECTION_TYPES.values())
    | _EXT_AUTHZ_TYPES
    | {
        "stackdriver",
        "sds",
    }
)
_SECTION_WORDS = {"tracing": "tracing", "metrics": "metrics", "accessLogging": "access logging"}


def _mesh_providers(index: MeshIndex) -> dict[str, str | None]:
    """MeshConfig `extensionProviders` of the run's mesh ConfigMap: name → provider type
    (None when the entry names no type meshlint knows)."""
    found: dict[str, str | None] = {}
    mesh = index.mesh_config
    providers = mesh.get("extensionProviders") if isinstance(mesh, dict) else None
    for _, entry in items(providers):
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            continue
        kind = next((k for k in entry if k in _PROVIDER_TYPES), None)
        found.setdefault(entry["name"], kind)
    return found


def _telemetry_providers(index: MeshIndex) -> tuple[dict[str, str | None], bool]:
    """What Telemetry provider names resolve to (lower-cased name → type, None when only the
    configuration names it), and whether the run or the configuration says what exists."""
    known: dict[str, str | None] = {k: v for k, v in _BUILTIN_PROVIDERS.items()}
    for name in index.settings.extension_providers:
        known.setdefault(name.lower(), None)
    for name, kind in _mesh_providers(index).items():
        known[name.lower()] = kind
    informed = index.mesh_config is not None or bool(index.settings.extension_providers)
    return known, informed


def _provider_refs(tm: Record) -> Iterator[tuple[str, FieldPath, str]]:
    """(section, path of the name, name) of every provider a Telemetry names."""
    for section in _SECTION_TYPES:
        for i, entry in items(tm.spec.get(section)):
            if not isinstance(entry, dict):
                continue
            for j, ref in items(entry.get("providers")):
                name = ref.get("name") if isinstance(ref, dict) else None
                if literal(name):
                    assert isinstance(name, str)
                    yield section, ("spec", section, i, "providers", j, "name"), name


def _where_providers(index: MeshIndex) -> str:
    rec = index.mesh_config_record
    if rec is not None:
        return f"the mesh config {rec.key} ({rec.where})"
    return "the mesh config (not in the linted files)"


@rule(
    "ML978",
    "telemetry-provider-unknown",
    Severity.ERROR,
    scope="mesh",
    shares="telemetry-providers",
    kinds={"Telemetry"},
    summary="A Telemetry names a provider that MeshConfig does not define.",
    rationale="""
        Telemetry providers are MeshConfig `extensionProviders` entries, looked up by name
        (case-insensitively); `prometheus`, `stackdriver` and `envoy` exist without one. istiod
        skips a name it does not find with only a debug log: the traces, metrics or access
        logs are silently not produced.

        The providers that exist are those of Istio's mesh ConfigMap (`istio` in the root
        namespace) when the run holds it, and the `extension-providers` configuration option.
        When neither says anything, the providers are defined by the installation, which the
        repository seldom holds, and the rule says nothing.
    """,
    bad="""
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: istio
          namespace: istio-system
        data:
          mesh: |-
            extensionProviders:
            - name: otel-tracing
              opentelemetry:
                service: opentelemetry-collector.observability.svc.cluster.local
                port: 4317
        ---
        apiVersion: telemetry.istio.io/v1
        kind: Telemetry
        metadata:
          name: mesh-default
          namespace: istio-system
        spec:
          tracing:
          - providers:
            - name: otel  # expect: ML978@13 spec.tracing[0].providers[0].name
            randomSamplingPercentage: 10
    """,
    good="""
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: istio
          namespace: istio-system
        data:
          mesh: |-
            extensionProviders:
            - name: otel-tracing
              opentelemetry:
                service: opentelemetry-collector.observability.svc.cluster.local
                port: 4317
        ---
        apiVersion: telemetry.istio.io/v1
        kind: Telemetry
        metadata:
          name: mesh-default
          namespace: istio-system
        spec:
          tracing:
          - providers:
            - name: otel-tracing
            randomSamplingPercentage: 10
    """,
    source="istio/istio pilot/pkg/model/telemetry.go (fetchProvider); pkg/config/mesh/mesh.go "
    "(DefaultMeshConfig extension providers)",
    catalogue=("tm-rt-provider-unknown",),
)
def telemetry_provider_unknown(tm: Record, index: MeshIndex) -> Iterator[Finding]:
    known, informed = index.memo(_telemetry_providers)
    if not informed:
        return
    for section, path, name in _provider_refs(tm):
        if name.lower() in known:
            continue
        yield Finding(
            path,
            f"{_SECTION_WORDS[section]} provider `{name}` is defined neither by "
            f"{_where_providers(index)}, nor the `extension-providers` option, nor built "
            f"in (known: {', '.join(sorted(known))}): istiod skips it "
            "and nothing is reported",
        )


# --------------------------------------------------------------------------------------------
@rule(
    "ML979",
    "telemetry-provider-kind",
    Severity.ERROR,
    scope="mesh",
    shares="telemetry-providers",
    kinds={"Telemetry"},
    summary="A Telemetry section names a provider of the wrong kind.",
    rationale="""
        Each Telemetry section works with its own kind of provider: tracing with zipkin,
        opentelemetry, datadog, skywalking (or lightstep); metrics with prometheus; access
        logging with envoyFileAccessLog (the built-in `envoy`), envoyHttpAls, envoyTcpAls or
        envoyOtelAls. Stackdriver is accepted everywhere. A provider of another kind (the
        `prometheus` provider under tracing, a tracing provider under access logging) is
        dropped by istiod with a log line; the section then does nothing.

        The kind of a provider is read from Istio's mesh ConfigMap in the run; names the
        `extension-providers` option lists have no known kind and are left alone.
    """,
    bad="""
        apiVersion: telemetry.istio.io/v1
        kind: Telemetry
        metadata:
          name: mesh-default
          namespace: istio-system
        spec:
          tracing:
          - providers:
            - name: prometheus  # expect: ML979@13 spec.tracing[0].providers[0].name
    """,
    good="""
        apiVersion: telemetry.istio.io/v1
        kind: Telemetry
        metadata:
          name: mesh-default
          namespace: istio-system
        spec:
          metrics:
          - providers:
            - name: prometheus
    """,
    source="istio/istio pilot/pkg/networking/core/tracing.go (configureFromProviderConfig), "
    "pilot/pkg/model/telemetry_logging.go (telemetryAccessLog), pilot/pkg/model/telemetry.go "
    "(buildHTTPTelemetryFilter)",
    catalogue=("tm-rt-provider-kind",),
)
def telemetry_provider_kind(tm: Record, index: MeshIndex) -> Iterator[Finding]:
    known, _ = index.memo(_telemetry_providers)
    for section, path, name in _provider_refs(tm):
        kind = known.get(name.lower())
        if kind is None or kind == "stackdriver" or kind in _SECTION_TYPES[section]:
            continue
        origin = "built-in" if name.lower() in _BUILTIN_PROVIDERS else "MeshConfig"
        yield Finding(
            path,
            f"provider `{name}` is a {origin} `{kind}` provider, which does no "
            f"{_SECTION_WORDS[section]}: istiod drops it here (use one of the kinds "
            f"{', '.join(sorted(_SECTION_TYPES[section] - _DEPRECATED_TYPES))})",
        )


# --------------------------------------------------------------------------------------------
@rule(
    "ML980",
    "telemetry-access-log-no-provider",
    Severity.WARNING,
    scope="mesh",
    kinds={"Telemetry"},
    summary="A Telemetry access-logging entry names no provider and the mesh has no default.",
    rationale="""
        An `accessLogging` entry without `providers` uses MeshConfig
        `defaultProviders.accessLogging`. Istio's default mesh config sets none, so unless the
        installation does, the entry (its filter, its match) configures nothing and no access
        log is written. Entries with `disabled: true` need no provider.

        A warning when Istio's mesh ConfigMap is in the run and sets no default access-log
        provider (Istio's analyzer says the same); info when it is not in the run, since the
        installation may set one.
    """,
    bad="""
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: istio
          namespace: istio-system
        data:
          mesh: |-
            accessLogFile: ""
        ---
        apiVersion: telemetry.istio.io/v1
        kind: Telemetry
        metadata:
          name: errors-only
          namespace: shop
        spec:
          accessLogging:
          - filter:  # expect: ML980@5 spec.accessLogging[0]
              expression: response.code >= 500
    """,
    good="""
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: istio
          namespace: istio-system
        data:
          mesh: |-
            accessLogFile: ""
        ---
        apiVersion: telemetry.istio.io/v1
        kind: Telemetry
        metadata:
          name: errors-only
          namespace: shop
        spec:
          accessLogging:
          - providers:
            - name: envoy
            filter:
              expression: response.code >= 500
    """,
    istio="IST0157",
    source=f"{AN}/telemetry/providers.go (ProviderAnalyzer)",
    catalogue=("tm-x-al-no-provider",),
)
def telemetry_access_log_no_provider(tm: Record, index: MeshIndex) -> Iterator[Finding]:
    mesh = index.mesh_config
    if isinstance(mesh, dict):
        defaults = mesh.get("defaultProviders")
        logging = defaults.get("accessLogging") if isinstance(defaults, dict) else None
        if isinstance(logging, list) and logging:
            return
    for i, entry in items(tm.spec.get("accessLogging")):
        if not isinstance(entry, dict) or entry.get("disabled") is True:
            continue
        if isinstance(entry.get("providers"), list) and entry["providers"]:
            continue
        if "providers" in entry and not isinstance(entry["providers"], list):
            continue  # the schema stage reports it
        if mesh is not None:
            yield Finding(
                ("spec", "accessLogging", i),
                "access-logging entry names no provider and "
                f"{_where_providers(index)} sets no `defaultProviders.accessLogging`: no "
                "access log is written; add `providers` (e.g. `envoy`)",
            )
        else:
            yield Finding(
                ("spec", "accessLogging", i),
                "access-logging entry names no provider: it relies on MeshConfig "
                "`defaultProviders.accessLogging`, which Istio's default mesh config "
                "leaves empty; unless the installation sets it, no access log is written",
                severity=Severity.INFO,
            )


# --------------------------------------------------------------------------------------------
@rule(
    "ML981",
    "telemetry-lightstep-deprecated",
    Severity.WARNING,
    scope="mesh",
    shares="mesh-providers",
    kinds={"Telemetry"},
    summary="A Telemetry traces to a Lightstep provider, which is deprecated.",
    rationale="""
        The `lightstep` extension provider is deprecated: istiod logs a warning and builds no
        tracer for it in recent releases. Send traces with an `opentelemetry` provider instead
        (Lightstep accepts OTLP). Checked against the providers of Istio's mesh ConfigMap in
        the run.
    """,
    bad="""
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: istio
          namespace: istio-system
        data:
          mesh: |-
            extensionProviders:
            - name: lightstep
              lightstep:
                service: ingest.lightstep.com
                port: 443
                accessToken: token
        ---
        apiVersion: telemetry.istio.io/v1
        kind: Telemetry
        metadata:
          name: mesh-default
          namespace: istio-system
        spec:
          tracing:
          - providers:
            - name: lightstep  # expect: ML981@13 spec.tracing[0].providers[0].name
    """,
    good="""
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: istio
          namespace: istio-system
        data:
          mesh: |-
            extensionProviders:
            - name: otel
              opentelemetry:
                service: ingest.lightstep.com
                port: 443
        ---
        apiVersion: telemetry.istio.io/v1
        kind: Telemetry
        metadata:
          name: mesh-default
          namespace: istio-system
        spec:
          tracing:
          - providers:
            - name: otel
    """,
    istio="IST0002",
    source=f"{AN}/telemetry/lightstep.go (LightstepAnalyzer); istio/istio "
    "pilot/pkg/networking/core/tracing.go",
    catalogue=("tm-x-lightstep",),
)
def telemetry_lightstep_deprecated(tm: Record, index: MeshIndex) -> Iterator[Finding]:
    providers = index.memo(_mesh_providers)
    for section, path, name in _provider_refs(tm):
        if section == "tracing" and providers.get(name) == "lightstep":
            yield Finding(
                path,
                f"provider `{name}` is a Lightstep provider of {_where_providers(index)}, "
                "which is deprecated: migrate to an `opentelemetry` provider",
            )


# --------------------------------------------------------------------------------------------
@rule(
    "ML982",
    "authz-custom-provider-unknown",
    Severity.ERROR,
    scope="mesh",
    shares="mesh-providers",
    kinds={"AuthorizationPolicy"},
    summary="A CUSTOM AuthorizationPolicy names an external authorizer MeshConfig does not define.",
    rationale="""
        A CUSTOM policy delegates to the MeshConfig extension provider named in
        `provider.name` (matched exactly), which must be an `envoyExtAuthzHttp` or
        `envoyExtAuthzGrpc` entry. When istiod finds no such provider it generates a DENY for
        every request the policy's rules match instead: the protected paths are closed to all.

        The providers that exist are those of Istio's mesh ConfigMap in the run and the
        `extension-providers` configuration option; when neither says anything the rule says
        nothing.
    """,
    bad="""
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: istio
          namespace: istio-system
        data:
          mesh: |-
            extensionProviders:
            - name: oauth2-proxy
              envoyExtAuthzHttp:
                service: oauth2-proxy.auth.svc.cluster.local
                port: 4180
        ---
        apiVersion: security.istio.io/v1
        kind: AuthorizationPolicy
        metadata:
          name: admin-sso
          namespace: shop
        spec:
          action: CUSTOM
          provider:
            name: oauth2  # expect: ML982@11 spec.provider.name
          rules:
          - to:
            - operation:
                paths:
                - /admin/*
    """,
    good="""
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: istio
          namespace: istio-system
        data:
          mesh: |-
            extensionProviders:
            - name: oauth2-proxy
              envoyExtAuthzHttp:
                service: oauth2-proxy.auth.svc.cluster.local
                port: 4180
        ---
        apiVersion: security.istio.io/v1
        kind: AuthorizationPolicy
        metadata:
          name: admin-sso
          namespace: shop
        spec:
          action: CUSTOM
          provider:
            name: oauth2-proxy
          rules:
          - to:
            - operation:
                paths:
                - /admin/*
    """,
    source="istio/istio pilot/pkg/security/authz/builder/extauthz.go (processExtensionProvider, "
    "getExtAuthz), builder.go (deny configs for a CUSTOM policy whose provider fails)",
    catalogue=("ap-ml-custom-provider-unknown",),
)
def authz_custom_provider_unknown(ap: Record, index: MeshIndex) -> Iterator[Finding]:
    if ap.spec.get("action") != "CUSTOM":
        return
    if index.mesh_config is None and not index.settings.extension_providers:
        return
    provider = ap.spec.get("provider")
    name = provider.get("name") if isinstance(provider, dict) else None
    if not literal(name):
        return
    assert isinstance(name, str)
    providers = index.memo(_mesh_providers)
    listed = index.settings.extension_providers
    path: FieldPath = ("spec", "provider", "name")
    if name in providers:
        kind = providers[name]
        if kind is None or kind in _EXT_AUTHZ_TYPES:
            return
        yield Finding(
            path,
            f"provider `{name}` of {_where_providers(index)} is a `{kind}` provider, not "
            "an external authorizer (envoyExtAuthzHttp or envoyExtAuthzGrpc): istiod "
            "denies every request the policy's rules match",
        )
    elif name not in listed:
        known = sorted(n for n, k in providers.items() if k in _EXT_AUTHZ_TYPES) + sorted(
            set(listed)
        )
        yield Finding(
            path,
            f"provider `{name}` is defined neither by {_where_providers(index)} nor the "
            f"`extension-providers` option (external authorizers: "
            f"{', '.join(known) or 'none'}): istiod denies every request the policy's "
            "rules match",
        )


def _served_ports(
    index: MeshIndex, workloads: list[tuple[Record, dict[str, str]]]
) -> set[int] | None:
    """The ports the workloads listen on (container ports, and the numeric `targetPort` of the
    Services selecting them), or None when one of them declares no container port."""
    served: set[int] = set()
    for rec, _ in workloads:
        ports = rec.data.get(CONTAINER_PORTS)
        if not isinstance(ports, list) or not ports:
            return None
        for port in ports:
            number = port.get("containerPort") if isinstance(port, dict) else None
            if is_int(number):
                served.add(number)
    for svc in index.services_selecting(workloads):
        for port in items(svc.spec.get("ports")):
            entry = port[1]
            if not isinstance(entry, dict):
                continue
            target = entry.get("targetPort", entry.get("port"))
            if is_int(target):
                served.add(target)
    return served


def _policy_workload_ports(
    index: MeshIndex, key: tuple[str, tuple[tuple[str, str], ...] | None]
) -> tuple[list[tuple[Record, dict[str, str]]], set[int] | None]:
    """The workloads of a namespace a policy selector picks (all of them: None) and the ports
    they serve (:func:`_served_ports`): once per namespace and selector (``index.memo_by``)."""
    ns, selector = key
    if selector is None:
        workloads = list(index.workloads.get(ns, ()))
    else:
        workloads = index.workloads_selected(ns, dict(selector))
    return workloads, (_served_ports(index, workloads) if workloads else None)


# --------------------------------------------------------------------------------------------
@rule(
    "ML983",
    "authz-port-not-served",
    Severity.WARNING,
    scope="mesh",
    shares="authz-targets",
    kinds={"AuthorizationPolicy"},
    summary="An AuthorizationPolicy names a port that none of its workloads serves.",
    rationale="""
        `to[].operation.ports` (and `notPorts`) and a `when` condition on `destination.port`
        match the port the request arrives on at the workload: the container port, which is
        the Service's `targetPort`, not the Service's `port`. A rule on a port nothing listens
        on never matches: an ALLOW rule then lets nothing in on the port that is served, and
        a DENY rule blocks nothing. Writing the Service port (80) where the container listens
        on 8080 is the usual slip.

        Checked when the run holds the workloads the policy applies to (by its selector, or
        every workload of its namespace) and each of them declares its container ports: the
        ports served are those container ports and the `targetPort` of the Services that
        select the workloads. Policies bound by `targetRefs` are left alone.
    """,
    bad="""
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
        ---
        apiVersion: security.istio.io/v1
        kind: AuthorizationPolicy
        metadata:
          name: cart
          namespace: shop
        spec:
          selector:
            matchLabels:
              app: cart
          action: ALLOW
          rules:
          - to:
            - operation:
                ports: ["80"]  # expect: ML983@17 spec.rules[0].to[0].operation.ports[0]
                methods: [GET]
    """,
    good="""
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
        ---
        apiVersion: security.istio.io/v1
        kind: AuthorizationPolicy
        metadata:
          name: cart
          namespace: shop
        spec:
          selector:
            matchLabels:
              app: cart
          action: ALLOW
          rules:
          - to:
            - operation:
                ports: ["8080"]
                methods: [GET]
    """,
    source="istio/api security/v1beta1/authorization_policy.proto (Operation.ports: the "
    "workload's port; Condition `destination.port`)",
)
def authz_port_not_served(ap: Record, index: MeshIndex) -> Iterator[Finding]:
    if has_target_refs(ap):
        return
    ports = [entry for entry in _target_values(index, ap) if entry[1] != "hosts"]
    if not ports:
        return
    selector = workload_selector(ap)
    key = (ap.effective_namespace, None if selector is None else tuple(sorted(selector.items())))
    workloads, served = index.memo_by(_policy_workload_ports, key)
    if not workloads or not served:
        return
    for base, field, k, value in ports:
        if not value.isdigit() or int(value) in served or int(value) == 0:
            continue
        listed = ", ".join(str(p) for p in sorted(served))
        yield Finding(
            (*base, field, k),
            f"port {value} is served by none of the workloads the policy applies to "
            f"({_named([w for w, _ in workloads])}), which listen on {listed}: the port "
            "here is the workload's (container) port, not the Service's",
        )
