"""Build the Plan of one proxy from the records of a lint run, as istiod would build its config.

The MeshIndex already resolves hosts, visibility (exportTo), subsets, workloads and the mTLS
mode per workload port; this module decides, for one proxy identity, which services and
VirtualServices it sees, turns routes, DestinationRule policies, PeerAuthentication,
RequestAuthentication, AuthorizationPolicy and Telemetry into Plan elements, and reports every
field of a resource it used that the translation leaves out (see ``translate.support``).
"""

from __future__ import annotations

import base64
import functools
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from fnmatch import fnmatchcase
from typing import Any

from meshlint.diagnostics import FieldPath, Finding, format_path
from meshlint.mesh import (
    CONTAINER_PORTS,
    MESH_CONFIG,
    SERVICE_ACCOUNT,
    WORKLOAD_KINDS,
    MeshIndex,
    Record,
    label_map,
    pod_labels,
    selects,
    workload_selector,
)
from meshlint.translate import support
from meshlint.translate.endpoints import EndpointTable, TranslateError
from meshlint.translate.plan import (
    DEFAULT_RETRY_ON,
    AccessLog,
    AuthzPolicy,
    AuthzRule,
    Certificates,
    ClientTls,
    Cluster,
    Condition,
    ConnectionPool,
    Cors,
    Destination,
    DirectResponse,
    Endpoint,
    Fault,
    FaultAbort,
    FaultDelay,
    GatewayServer,
    HashPolicy,
    HeaderMatch,
    HeaderOps,
    Identity,
    Inbound,
    JwtProvider,
    LoadBalancer,
    Mirror,
    Origin,
    OutlierDetection,
    Plan,
    Redirect,
    RetryPolicy,
    Rewrite,
    Route,
    RouteMatch,
    RouteTable,
    ServerTls,
    StringMatch,
    Telemetry,
    Tracing,
    VirtualHost,
)
from meshlint.translate.values import (
    GRPC_CODES,
    HTTP_PROTOCOLS,
    duration,
    integer,
    percent,
    port_protocol,
)

MESH = "mesh"
TLS_MODE_LABEL = "security.istio.io/tlsMode"


@dataclass
class Request:
    """What the command line asks for."""

    workload: tuple[str, str] | None = None  # (namespace, name)
    gateway: tuple[str, str] | None = None
    endpoints: EndpointTable | None = None
    certs: str | None = None  # a folder `meshlint certs` wrote
    listen: tuple[str, int] = ("127.0.0.1", 15001)
    inbound: tuple[str, int] = ("127.0.0.1", 15006)
    admin: tuple[str, int] = ("127.0.0.1", 15000)
    app: tuple[str, int] | None = None
    port_offset: int = 0
    # mTLS needs --certs (translate); `meshlint route` only reasons about the config
    require_certs: bool = True
    target: str = "envoy"  # or "proxy": the fields each runs differ (support.PROXY_LACKS)


@dataclass
class Note:
    """A field the translation leaves out, and why: a finding on the resource."""

    record: Record
    finding: Finding
    code: str = "ML001"  # not-translated; ML002: a destination without endpoints


@dataclass
class Service:
    host: str  # FQDN, or a ServiceEntry host as written
    namespace: str
    record: Record
    ports: list[Port]
    kubernetes: bool
    name: str = ""  # a Kubernetes Service's name


@dataclass(frozen=True)
class Port:
    number: int
    name: str
    protocol: str
    target: int | None  # targetPort when it is a number


@dataclass
class _Merged:
    """A DestinationRule's policy for one cluster, block by block, with where each came from."""

    blocks: dict[str, tuple[Any, FieldPath]] = field(default_factory=dict)

    def get(self, key: str) -> Any:
        found = self.blocks.get(key)
        return found[0] if found else None


_BLOCKS = ("connectionPool", "loadBalancer", "outlierDetection", "tls")
_SUBSET_ONLY = ("tunnel", "proxyProtocol", "retryBudget")


def _items(value: Any) -> Iterator[tuple[int, Any]]:
    return enumerate(value) if isinstance(value, list) else iter(())


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


class Builder:
    def __init__(self, index: MeshIndex, request: Request) -> None:
        self.index = index
        self.request = request
        self.notes: list[Note] = []
        self.used: dict[int, Record] = {}
        self.consumed: dict[int, set[str]] = {}  # fields handled apart from the table
        self.domain = index.domain
        self.trust_domain = index.settings.trust_domain
        mesh = index.mesh_config or {}
        self.mesh_config: dict[str, Any] = mesh if isinstance(mesh, dict) else {}
        self.plan: Plan
        self._services: list[Service] | None = None
        self._by_host: dict[str, Service] | None = None
        self._vs_index: dict[int, tuple[dict[str, Record], list[tuple[str, Record]]]] = {}
        self._drs: dict[tuple[str, str], Record | None] = {}
        self._lbs: dict[tuple[str, int, str], LoadBalancer] = {}
        self._identities: dict[str, list[str]] = {}
        self._certs: Certificates | None = None
        self._sidecar: Record | None = None

    # ----------------------------------------------------------------------------------------
    def build(self) -> Plan:
        req = self.request
        if (req.workload is None) == (req.gateway is None):
            raise TranslateError(
                "give one of --for NAMESPACE/WORKLOAD and --gateway NAMESPACE/NAME"
            )
        if req.workload is not None:
            identity, workload = self._workload_identity(*req.workload)
        else:
            assert req.gateway is not None
            identity, workload = self._gateway_identity(*req.gateway)
        self.identity = identity
        self.workload = workload
        self.plan = Plan(
            identity,
            listen=req.listen,
            inbound_listen=req.inbound,
            admin=req.admin,
            port_offset=req.port_offset,
        )
        if req.certs is not None:
            self.plan.certificates = self._certificates(identity)
        if req.endpoints is not None:
            self._check_endpoints(req.endpoints)
        if identity.kind == "workload":
            self._sidecar = self._sidecar_for(identity)
            self.plan.outbound_policy = self._outbound_policy()
            self._outbound()
            self._inbound(workload)
        else:
            self._gateway(req.gateway)  # type: ignore[arg-type]
        self.plan.telemetry = self._telemetry()
        self._report_untranslated()
        return self.plan

    # ----------------------------------------------------------------------------------------
    # identity

    def _workload_identity(self, ns: str, name: str) -> tuple[Identity, Record]:
        found = [
            r
            for kind in sorted(WORKLOAD_KINDS)
            for r in self.index.by_kind.get(kind, ())
            if r.effective_namespace == ns and r.name == name
        ]
        if not found:
            known = sorted(
                f"{r.effective_namespace}/{r.name}"
                for kind in WORKLOAD_KINDS
                for r in self.index.by_kind.get(kind, ())
            )
            hint = f"; the run holds {', '.join(known[:8])}" if known else "; the run holds none"
            raise TranslateError(
                f"--for {ns}/{name}: no Deployment, StatefulSet, DaemonSet or Pod of that "
                f"namespace and name in the linted files{hint}"
            )
        rec = found[0]
        labels = pod_labels(rec) or {}
        account = rec.data.get(SERVICE_ACCOUNT)
        sa = account if isinstance(account, str) and account else "default"
        return Identity("workload", ns, name, dict(labels), sa, self.trust_domain), rec

    def _gateway_identity(self, ns: str, name: str) -> tuple[Identity, Record]:
        gw = self.index.gateways.get((ns, name))
        if gw is None:
            known = sorted(f"{k[0]}/{k[1]}" for k in self.index.gateways)
            hint = f"; the run holds {', '.join(known[:8])}" if known else "; the run holds none"
            raise TranslateError(f"--gateway {ns}/{name}: no Istio Gateway of that name{hint}")
        if gw.group != "networking.istio.io":
            raise TranslateError(
                f"--gateway {ns}/{name}: {gw.where} is a Gateway of {gw.group or 'another API'}, "
                "not an Istio Gateway (networking.istio.io), which is what meshlint translates"
            )
        if not any(isinstance(s, dict) for _, s in _items(gw.spec.get("servers"))):
            raise TranslateError(
                f"--gateway {ns}/{name}: the Gateway has no servers ({gw.where}): nothing to serve"
            )
        selector = label_map(gw.spec.get("selector")) or {}
        proxies = self.index.workloads_selected_anywhere(selector) if selector else []
        sa = "default"
        if proxies:
            account = proxies[0][0].data.get(SERVICE_ACCOUNT)
            if isinstance(account, str) and account:
                sa = account
        self._use(gw)
        return Identity("gateway", ns, name, dict(selector), sa, self.trust_domain), gw

    def _certificates(self, identity: Identity) -> Certificates:
        from meshlint.translate.certs import workload_files

        assert self.request.certs is not None
        files = workload_files(self.request.certs, identity.namespace, identity.service_account)
        return Certificates(*files)

    def _check_endpoints(self, table: EndpointTable) -> None:
        """Each entry names a service port of the manifests (a typo would leave a service
        without its instances, silently)."""
        for entry in table.entries:
            svc = self.service(entry.service) or self.service(
                self.index.canonical(entry.service, self.identity.namespace)
            )
            if svc is None:
                names = sorted({s.name or s.host for s in self.services()})
                from meshlint.suggest import did_you_mean

                raise TranslateError(
                    f"{entry.where}: `{entry.service}` is no Service or ServiceEntry of the "
                    f"manifests{did_you_mean(entry.service, names)}"
                )
            if entry.port not in {p.number for p in svc.ports}:
                ports = ", ".join(str(p.number) for p in svc.ports) or "none"
                raise TranslateError(
                    f"{entry.where}: `{entry.service}` has no port {entry.port} (its ports: "
                    f"{ports}); `port` is the service port"
                )

    # ----------------------------------------------------------------------------------------
    # bookkeeping

    def _use(self, rec: Record) -> None:
        self.used.setdefault(id(rec), rec)

    def _origin(self, rec: Record, path: FieldPath = ()) -> Origin:
        return Origin(rec.key, rec.file, rec.line, _path_text(path))

    def note(self, rec: Record, path: FieldPath, message: str, code: str = "ML001") -> None:
        # a field left out is shown at its key; a value that fails, at the value
        key = code == "ML001" and bool(path) and isinstance(path[-1], str)
        self.notes.append(Note(rec, Finding(path, message, key=key), code))

    def _consume(self, rec: Record, path: FieldPath) -> None:
        """A field the builder judged itself (e.g. one that had no effect here)."""
        self.consumed.setdefault(id(rec), set()).add(format_path(path))

    def _report_untranslated(self) -> None:
        for rec in self.used.values():
            if rec.kind not in support.TABLE:
                continue
            consumed = self.consumed.get(id(rec), set())
            for path, entry in support.untranslated(rec.kind, rec.spec, self.request.target):
                key = format_path(path)
                if any(
                    key == c or key.startswith(c + ".") or key.startswith(c + "[") for c in consumed
                ):
                    continue
                self.note(rec, path, f"not translated: `{key}`, because {entry.how}")

    # ----------------------------------------------------------------------------------------
    # services

    def services(self) -> list[Service]:
        if self._services is None:
            self._services = self._all_services()
        return self._services

    def _all_services(self) -> list[Service]:
        out: list[Service] = []
        for svc in self.index.by_kind.get("Service", ()):
            if not svc.name:
                continue
            ns = svc.effective_namespace
            ports = [
                Port(n, _str(p.get("name")) or "", port_protocol(p), integer(p.get("targetPort")))
                for _, p in _items(svc.spec.get("ports"))
                if isinstance(p, dict) and (n := integer(p.get("port"))) is not None
            ]
            fqdn = f"{svc.name}.{ns}.svc.{self.domain}"
            out.append(Service(fqdn, ns, svc, ports, True, svc.name))
        for se in self.index.by_kind.get("ServiceEntry", ()):
            ports = [
                Port(
                    n,
                    _str(p.get("name")) or "",
                    port_protocol(p, service_entry=True),
                    integer(p.get("targetPort")),
                )
                for _, p in _items(se.spec.get("ports"))
                if isinstance(p, dict) and (n := integer(p.get("number"))) is not None
            ]
            for _, host in _items(se.spec.get("hosts")):
                if isinstance(host, str) and host and "{{" not in host:
                    out.append(Service(host, se.effective_namespace, se, ports, False))
        return out

    def service(self, host: str) -> Service | None:
        if self._by_host is None:
            self._by_host = {}
            for s in self.services():
                self._by_host.setdefault(s.host, s)
        return self._by_host.get(host)

    def visible_services(self, ns: str) -> list[Service]:
        return [
            s
            for s in self.services()
            if self.index.visible(s.record, ns) and self._egress_allows(s)
        ]

    # Sidecar -----------------------------------------------------------------------------

    def _sidecar_for(self, identity: Identity) -> Record | None:
        ns_default = None
        for sc in self.index.by_kind.get("Sidecar", ()):
            if sc.effective_namespace != identity.namespace:
                continue
            selector = workload_selector(sc)
            if selector is None:
                ns_default = ns_default or sc
            elif selects(selector, identity.labels):
                self._use(sc)
                return sc
        if ns_default is None:
            for sc in self.index.by_kind.get("Sidecar", ()):
                if sc.effective_namespace == self.index.root_namespace and (
                    workload_selector(sc) is None
                ):
                    ns_default = sc
                    break
        if ns_default is not None:
            self._use(ns_default)
        return ns_default

    def _egress_allows(self, svc: Service) -> bool:
        sc = self._sidecar
        if sc is None:
            return True
        hosts = [
            h
            for _, eg in _items(sc.spec.get("egress"))
            if isinstance(eg, dict)
            for _, h in _items(eg.get("hosts"))
            if isinstance(h, str)
        ]
        if not hosts:
            return True
        own = sc.effective_namespace
        for entry in hosts:
            ns, _, pattern = entry.partition("/")
            if ns == ".":
                ns = own
            if ns == "~":
                continue
            if ns != "*" and ns != svc.namespace:
                continue
            if pattern == "*" or fnmatchcase(svc.host, pattern):
                return True
            if (
                svc.kubernetes
                and not pattern.startswith("*")
                and self.index.canonical(pattern, svc.namespace) == svc.host
            ):
                return True
        return False

    def _outbound_policy(self) -> Any:
        sc = self._sidecar
        mode = None
        if sc is not None:
            mode = _dict(sc.spec.get("outboundTrafficPolicy")).get("mode")
        if mode is None:
            mode = _dict(self.mesh_config.get("outboundTrafficPolicy")).get("mode")
        return "REGISTRY_ONLY" if mode == "REGISTRY_ONLY" else "ALLOW_ANY"

    # ----------------------------------------------------------------------------------------
    # VirtualServices

    def _vs_hosts(self, vs: Record) -> list[tuple[int, str]]:
        return [
            (i, self.index.canonical(h, vs.effective_namespace))
            for i, h in _items(vs.spec.get("hosts"))
            if isinstance(h, str) and h and "{{" not in h
        ]

    def _mesh_virtual_services(self, ns: str) -> list[Record]:
        out = []
        for vs in self.index.virtual_services:
            gateways = vs.spec.get("gateways")
            bound = not isinstance(gateways, list) or not gateways or MESH in gateways
            if bound and self.index.visible(vs, ns) and not self._is_delegate(vs):
                out.append(vs)
        return out

    def _is_delegate(self, vs: Record) -> bool:
        hosts = vs.spec.get("hosts")
        return not (isinstance(hosts, list) and hosts)

    def _vs_for_host(self, host: str, candidates: list[Record]) -> Record | None:
        """The VirtualService that routes ``host``: one naming it exactly, else the one with
        the most specific wildcard host; the first of the run among equals."""
        exact, wildcards = self._vs_table(candidates)
        found = exact.get(host)
        if found is not None:
            return found
        best: tuple[int, Record] | None = None
        for h, vs in wildcards:
            if (h == "*" or host.endswith(h[1:])) and (best is None or len(h) > best[0]):
                best = (len(h), vs)
        return best[1] if best else None

    def _vs_table(
        self, candidates: list[Record]
    ) -> tuple[dict[str, Record], list[tuple[str, Record]]]:
        """The candidates' hosts: exact ones (the first VirtualService of each) and wildcards."""
        key = id(candidates)
        found = self._vs_index.get(key)
        if found is None:
            exact: dict[str, Record] = {}
            wildcards: list[tuple[str, Record]] = []
            for vs in candidates:
                for _, h in self._vs_hosts(vs):
                    if h.startswith("*"):
                        wildcards.append((h, vs))
                    else:
                        exact.setdefault(h, vs)
            found = self._vs_index[key] = (exact, wildcards)
        return found

    # ----------------------------------------------------------------------------------------
    # outbound: one route table per port, as a sidecar has

    def _outbound(self) -> None:
        ns = self.identity.namespace
        services = self.visible_services(ns)
        candidates = self._mesh_virtual_services(ns)
        for each in candidates:  # istiod gives the sidecar every one of them
            self._use(each)
        by_port: dict[int, list[VirtualHost]] = {}
        claimed: set[tuple[str, int]] = set()
        for svc in services:
            self._use(svc.record)
            for port in svc.ports:
                # every visible service port gets its cluster, as istiod emits them
                self.cluster(svc.host, port.number, "", ns)
                if port.protocol not in HTTP_PROTOCOLS:
                    continue
                vs = self._vs_for_host(svc.host, candidates)
                if vs is not None:
                    self._use(vs)
                    routes = self._vs_routes(vs, port.number, svc)
                else:
                    routes = [self._default_route(svc, port.number)]
                if not routes:
                    continue
                vh = VirtualHost(
                    f"{svc.host}:{port.number}",
                    self._domains(svc, ns),
                    routes,
                    port.number,
                    origin=self._origin(vs if vs is not None else svc.record),
                )
                by_port.setdefault(port.number, []).append(vh)
                claimed.add((svc.host, port.number))
        # VirtualService hosts that are no service of the registry: port 80, as istiod does
        for vs in candidates:
            for i, host in self._vs_hosts(vs):
                if host.startswith("*") or self.service(host) is not None:
                    continue
                if (host, 80) in claimed:
                    continue
                self._use(vs)
                routes = self._vs_routes(vs, 80, None)
                if routes:
                    vh = VirtualHost(
                        f"{host}:80",
                        [host],
                        routes,
                        80,
                        origin=self._origin(vs, ("spec", "hosts", i)),
                    )
                    by_port.setdefault(80, []).append(vh)
                    claimed.add((host, 80))
        for number in sorted(by_port):
            hosts = sorted(by_port[number], key=lambda v: v.name)
            self._dedupe_domains(hosts)
            self.plan.route_tables.append(RouteTable(str(number), number, hosts))

    def _domains(self, svc: Service, ns: str) -> list[str]:
        if not svc.kubernetes:
            return [svc.host]
        name, svc_ns = svc.name, svc.namespace
        out = [svc.host]
        if svc_ns == ns:
            out.append(name)
        out += [f"{name}.{svc_ns}.svc", f"{name}.{svc_ns}"]
        return out

    @staticmethod
    def _dedupe_domains(hosts: list[VirtualHost]) -> None:
        """Envoy rejects a domain twice in a route configuration: the first keeps it."""
        seen: set[str] = set()
        for vh in hosts:
            vh.domains = [d for d in vh.domains if not (d in seen or seen.add(d))]  # type: ignore[func-returns-value]

    def _default_route(self, svc: Service, port: int) -> Route:
        cluster = self.cluster(svc.host, port, "", self.identity.namespace)
        dest = Destination(cluster, svc.host, port)
        return Route(
            "default",
            RouteMatch(),
            (dest,),
            retry=self._default_retry(svc.host, port, ""),
            hash_policy=self._hash_policies([dest]),
            origin=self._origin(svc.record),
        )

    def _vs_routes(
        self, vs: Record, port: int, svc: Service | None, gateway: str | None = None
    ) -> list[Route]:
        out: list[Route] = []
        for i, rule in _items(vs.spec.get("http")):
            if not isinstance(rule, dict):
                continue
            base: FieldPath = ("spec", "http", i)
            for route in self._rule_routes(vs, rule, base, port, svc, gateway, vs):
                out.append(route)
                if route.match.catch_all:
                    return out  # istiod emits nothing after a catch-all
        return out

    def _rule_routes(
        self,
        vs: Record,
        rule: dict[str, Any],
        base: FieldPath,
        port: int,
        svc: Service | None,
        gateway: str | None,
        root: Record,
        parent_match: dict[str, Any] | None = None,
    ) -> list[Route]:
        matches = [(j, m) for j, m in _items(rule.get("match")) if isinstance(m, dict)]
        if not matches:
            matches_kept: list[tuple[int | None, dict[str, Any]]] = [(None, {})]
        else:
            matches_kept = [(j, m) for j, m in matches if self._match_applies(m, port, gateway)]
            if not matches_kept:
                return []
        delegate = rule.get("delegate")
        if isinstance(delegate, dict):
            return self._delegate_routes(vs, delegate, base, matches_kept, port, svc, gateway)
        out = []
        for j, m in matches_kept:
            merged = {**(parent_match or {}), **m}
            match_path = (*base, "match", j) if j is not None else base
            out.append(self._route(vs, rule, base, merged, match_path, port, svc))
        return out

    def _match_applies(self, m: dict[str, Any], port: int, gateway: str | None) -> bool:
        mport = integer(m.get("port"))
        if mport is not None and mport != port:
            return False
        labels = label_map(m.get("sourceLabels"))
        if labels and (gateway is not None or not selects(labels, self.identity.labels)):
            return False
        source_ns = _str(m.get("sourceNamespace"))
        if source_ns is not None and source_ns != self.identity.namespace:
            return False
        gws = m.get("gateways")
        if isinstance(gws, list) and gws:
            if gateway is None:
                return MESH in gws
            return any(self._names_gateway(g, self.identity.namespace) for g in gws)
        return True

    def _names_gateway(self, ref: Any, vs_ns: str) -> bool:
        if not isinstance(ref, str) or ref == MESH:
            return False
        ns, name = self.index.gateway(ref, vs_ns)
        return (ns, name) == (self.identity.namespace, self.identity.name)

    def _delegate_routes(
        self,
        vs: Record,
        delegate: dict[str, Any],
        base: FieldPath,
        matches: list[tuple[int | None, dict[str, Any]]],
        port: int,
        svc: Service | None,
        gateway: str | None,
    ) -> list[Route]:
        name = _str(delegate.get("name"))
        ns = _str(delegate.get("namespace")) or vs.effective_namespace
        target = next(
            (
                r
                for r in self.index.virtual_services
                if r.name == name and r.effective_namespace == ns and self._is_delegate(r)
            ),
            None,
        )
        if target is None:
            self.note(
                vs,
                (*base, "delegate"),
                f"not translated: the delegate VirtualService {ns}/{name} is not in the run; "
                "the rule has no routes",
            )
            self._consume(vs, (*base, "delegate"))
            return []
        self._use(target)
        out: list[Route] = []
        for _, parent in matches:
            for i, rule in _items(target.spec.get("http")):
                if not isinstance(rule, dict):
                    continue
                out.extend(
                    self._rule_routes(
                        target, rule, ("spec", "http", i), port, svc, gateway, vs, parent
                    )
                )
        return out

    # One route -------------------------------------------------------------------------

    def _route(
        self,
        vs: Record,
        rule: dict[str, Any],
        base: FieldPath,
        m: dict[str, Any],
        match_path: FieldPath,
        port: int,
        svc: Service | None,
    ) -> Route:
        ns = vs.effective_namespace
        name = _str(rule.get("name")) or ""
        mname = _str(m.get("name"))
        if mname:
            name = f"{name}.{mname}" if name else mname
        match = self._route_match(m, mname or "")
        route = Route(name, match, origin=self._origin(vs, match_path))
        dests: list[Destination] = []
        for j, d in _items(rule.get("route")):
            if not isinstance(d, dict):
                continue
            dest = _dict(d.get("destination"))
            host = _str(dest.get("host"))
            if host is None:
                continue
            fqdn = self.index.resolve(host, ns)  # as istiod: `name.ns` is no Service's name
            dport = self._dest_port(fqdn, _dict(dest.get("port")), port)
            subset = _str(dest.get("subset")) or ""
            where = (*base, "route", j, "destination", "host")
            cluster = self.cluster(fqdn, dport, subset, self.identity.namespace, (vs, where))
            weight = integer(d.get("weight"))
            hdrs = _dict(d.get("headers"))
            req_ops, authority = self._header_ops(_dict(hdrs.get("request")))
            resp_ops, _ = self._header_ops(_dict(hdrs.get("response")))
            dests.append(
                Destination(
                    cluster,
                    fqdn,
                    dport,
                    subset,
                    weight if weight is not None else 0,
                    req_ops,
                    resp_ops,
                    authority,
                    self._origin(vs, (*base, "route", j)),
                )
            )
        if len(dests) == 1:
            dests = [replace(dests[0], weight=100)]
        elif dests:
            dests = [d for d in dests if d.weight > 0]
        route.destinations = tuple(dests)
        redirect = rule.get("redirect")
        if isinstance(redirect, dict):
            route.redirect = self._redirect(redirect, port)
        direct = rule.get("directResponse")
        if isinstance(direct, dict):
            route.direct_response = self._direct(direct)
        rewrite = rule.get("rewrite")
        if isinstance(rewrite, dict):
            regex = _dict(rewrite.get("uriRegexRewrite"))
            route.rewrite = Rewrite(
                _str(rewrite.get("uri")),
                (regex["match"], regex.get("rewrite") or "")
                if isinstance(regex.get("match"), str)
                else None,
                _str(rewrite.get("authority")),
            )
        timeout = duration(rule.get("timeout"))
        route.timeout = timeout or 0.0
        if dests:
            route.retry = self._retry(rule, base, vs, dests)
            route.hash_policy = self._hash_policies(dests)
        fault = rule.get("fault")
        if isinstance(fault, dict):
            route.fault = self._fault(fault, vs, (*base, "fault"))
        route.mirrors = self._mirrors(rule, base, vs, ns, port)
        req_ops, authority = self._header_ops(_dict(_dict(rule.get("headers")).get("request")))
        resp_ops, _ = self._header_ops(_dict(_dict(rule.get("headers")).get("response")))
        route.request_headers, route.response_headers = req_ops, resp_ops
        if authority and route.rewrite is None:
            route.rewrite = Rewrite(authority=authority)
        elif authority and route.rewrite is not None and route.rewrite.authority is None:
            route.rewrite = replace(route.rewrite, authority=authority)
        cors = rule.get("corsPolicy")
        if isinstance(cors, dict):
            route.cors = self._cors(cors)
        return route

    def _route_match(self, m: dict[str, Any], name: str) -> RouteMatch:
        uri = self._string_match(m.get("uri"))
        headers: list[HeaderMatch] = []
        for key, invert in (("headers", False), ("withoutHeaders", True)):
            for hname in sorted(_dict(m.get(key))):
                sm = self._string_match(m[key][hname], header=True)
                if sm is not None:
                    headers.append(HeaderMatch(str(hname).lower(), sm, invert))
        for key, pseudo in (
            ("method", ":method"),
            ("authority", ":authority"),
            ("scheme", ":scheme"),
        ):
            sm = self._string_match(m.get(key))
            if sm is not None:
                headers.append(HeaderMatch(pseudo, sm))
        query = []
        for qname in sorted(_dict(m.get("queryParams"))):
            sm = self._string_match(m["queryParams"][qname], header=True)
            if sm is not None:
                query.append((str(qname), sm))
        ignore_case = m.get("ignoreUriCase") is True
        return RouteMatch(uri, not ignore_case, tuple(headers), tuple(query), name)

    @staticmethod
    def _string_match(value: Any, *, header: bool = False) -> StringMatch | None:
        if not isinstance(value, dict):
            return None
        for kind in ("exact", "prefix", "regex"):
            v = value.get(kind)
            if isinstance(v, str):
                if kind == "regex" and v == "*":
                    return StringMatch("present")
                return StringMatch(kind, v)
        return StringMatch("present") if header else None

    def _dest_port(self, host: str, port: dict[str, Any], listener_port: int) -> int:
        number = integer(port.get("number"))
        if number is not None:
            return number
        svc = self.service(host)
        if svc is not None and len(svc.ports) == 1:
            return svc.ports[0].number
        return listener_port

    @staticmethod
    def _header_ops(ops: dict[str, Any]) -> tuple[HeaderOps, str | None]:
        if not ops:
            return _NO_HEADERS, None
        authority = None

        def pairs(key: str) -> tuple[tuple[str, str], ...]:
            nonlocal authority
            out = []
            for k, v in sorted(_dict(ops.get(key)).items()):
                if not isinstance(v, str):
                    continue
                lk = str(k).lower()
                if lk in (":authority", "host"):
                    if key == "set" or authority is None:
                        authority = v
                    continue
                if lk.startswith(":"):
                    continue
                out.append((str(k), v))
            return tuple(out)

        set_ = pairs("set")
        add = pairs("add")
        remove = tuple(
            r
            for _, r in _items(ops.get("remove"))
            if isinstance(r, str) and not r.startswith(":") and r.lower() != "host"
        )
        return HeaderOps(set_, add, remove), authority

    @staticmethod
    def _redirect(r: dict[str, Any], port: int) -> Redirect:
        code = integer(r.get("redirectCode")) or 301
        rport = integer(r.get("port"))
        derive = r.get("derivePort")
        if derive == "FROM_REQUEST_PORT":
            rport = port
        scheme = _str(r.get("scheme"))
        if (rport == 80 and scheme == "http") or (rport == 443 and scheme == "https"):
            rport = None
        return Redirect(
            None if r.get("prefixRewrite") is not None else _str(r.get("uri")),
            r.get("prefixRewrite") if isinstance(r.get("prefixRewrite"), str) else None,
            _str(r.get("authority")),
            scheme,
            rport,
            code,
        )

    @staticmethod
    def _direct(d: dict[str, Any]) -> DirectResponse:
        status = integer(d.get("status")) or 200
        body = _dict(d.get("body"))
        text = body.get("string") if isinstance(body.get("string"), str) else None
        raw = None
        if isinstance(body.get("bytes"), str):
            try:
                raw = base64.b64decode(body["bytes"], validate=True)
            except ValueError:
                raw = None
        return DirectResponse(status, text, raw)

    def _retry(
        self, rule: dict[str, Any], base: FieldPath, vs: Record, dests: list[Destination]
    ) -> RetryPolicy | None:
        hashed = any(self._lb(d.host, d.port, d.subset).hash is not None for d in dests)
        retries = rule.get("retries")
        if not isinstance(retries, dict):
            return self._default(hashed)
        attempts = integer(retries.get("attempts"))
        if attempts is None:
            attempts = 2
        if attempts <= 0:
            return None
        retry_on: list[str] = []
        codes: list[int] = []
        raw = retries.get("retryOn")
        if isinstance(raw, str) and raw.strip():
            for token in raw.split(","):
                token = token.strip()
                if token.isdigit():
                    codes.append(int(token))
                elif token:
                    retry_on.append(token)
            if codes and "retriable-status-codes" not in retry_on:
                retry_on.append("retriable-status-codes")
        else:
            retry_on = [*DEFAULT_RETRY_ON, "retriable-status-codes"]
        previous = retries.get("retryIgnorePreviousHosts") is not False and not hashed
        return RetryPolicy(
            attempts,
            tuple(retry_on),
            tuple(codes),
            duration(retries.get("perTryTimeout")),
            previous,
            retries.get("retryRemoteLocalities") is True,
            duration(retries.get("backoff")),
            self._origin(vs, (*base, "retries")),
        )

    def _default_retry(self, host: str, port: int, subset: str) -> RetryPolicy:
        hashed = self._lb(host, port, subset).hash is not None
        policy = self._default(hashed)
        assert policy is not None
        return policy

    def _default(self, hashed: bool) -> RetryPolicy | None:
        given = _dict(self.mesh_config.get("defaultHttpRetryPolicy"))
        if given:
            attempts = integer(given.get("attempts"))
            if attempts is not None and attempts <= 0:
                return None
        return RetryPolicy(
            2, (*DEFAULT_RETRY_ON, "retriable-status-codes"), (), previous_hosts=not hashed
        )

    def _fault(self, f: dict[str, Any], vs: Record, path: FieldPath) -> Fault | None:
        delay = abort = None
        d = _dict(f.get("delay"))
        fixed = duration(d.get("fixedDelay"))
        if fixed is not None:
            pct = percent(d.get("percentage"))
            if pct is None:
                legacy = integer(d.get("percent"))
                pct = float(legacy) if legacy is not None else 100.0
            delay = FaultDelay(fixed, pct)
        a = _dict(f.get("abort"))
        if a:
            pct = percent(a.get("percentage"))
            pct = 100.0 if pct is None else pct
            http = integer(a.get("httpStatus"))
            grpc = a.get("grpcStatus")
            grpc_code = GRPC_CODES.get(grpc.upper()) if isinstance(grpc, str) else None
            if http is not None or grpc_code is not None:
                abort = FaultAbort(pct, http, grpc_code)
        if delay is None and abort is None:
            return None
        return Fault(delay, abort, self._origin(vs, path))

    def _mirrors(
        self, rule: dict[str, Any], base: FieldPath, vs: Record, ns: str, port: int
    ) -> tuple[Mirror, ...]:
        out = []
        mirror = rule.get("mirror")
        if isinstance(mirror, dict) and _str(mirror.get("host")):
            pct = percent(rule.get("mirrorPercentage"))
            if pct is None:
                legacy = integer(rule.get("mirrorPercent", rule.get("mirror_percent")))
                pct = float(legacy) if legacy is not None else 100.0
            if pct > 0:
                out.append(self._mirror(mirror, pct, vs, ns, port, (*base, "mirror")))
        for j, m in _items(rule.get("mirrors")):
            dest = _dict(_dict(m).get("destination"))
            if not _str(dest.get("host")):
                continue
            pct = percent(_dict(m).get("percentage"))
            pct = 100.0 if pct is None else pct
            if pct > 0:
                out.append(self._mirror(dest, pct, vs, ns, port, (*base, "mirrors", j)))
        return tuple(out)

    def _mirror(
        self, dest: dict[str, Any], pct: float, vs: Record, ns: str, port: int, path: FieldPath
    ) -> Mirror:
        fqdn = self.index.resolve(dest["host"], ns)
        dport = self._dest_port(fqdn, _dict(dest.get("port")), port)
        cluster = self.cluster(
            fqdn,
            dport,
            _str(dest.get("subset")) or "",
            self.identity.namespace,
            (vs, (*path, "host")),
        )
        return Mirror(cluster, pct, self._origin(vs, path))

    def _cors(self, c: dict[str, Any]) -> Cors:
        origins = []
        for _, o in _items(c.get("allowOrigins")):
            sm = self._string_match(o)
            if sm is not None:
                origins.append(sm)
        for _, o in _items(c.get("allowOrigin")):
            if isinstance(o, str):
                origins.append(StringMatch("exact", o))

        def strings(key: str) -> tuple[str, ...]:
            return tuple(v for _, v in _items(c.get(key)) if isinstance(v, str))

        max_age = duration(c.get("maxAge"))
        return Cors(
            tuple(origins),
            strings("allowMethods"),
            strings("allowHeaders"),
            strings("exposeHeaders"),
            int(max_age) if max_age is not None else None,
            c.get("allowCredentials") if isinstance(c.get("allowCredentials"), bool) else None,
            c.get("unmatchedPreflights") != "IGNORE",
        )

    # ----------------------------------------------------------------------------------------
    # clusters and DestinationRule policies

    def destination_rule(self, host: str, from_ns: str) -> Record | None:
        """The DestinationRule a proxy of ``from_ns`` applies to ``host``, as istiod picks it:
        an exact host before a wildcard; the proxy's namespace, then the host's, then the root
        namespace; the first of the run among equals. Rules with a workloadSelector apply only to
        the workloads they select."""
        key = (host, from_ns)
        if key not in self._drs:
            self._drs[key] = self._destination_rule(host, from_ns)
        return self._drs[key]

    def _destination_rule(self, host: str, from_ns: str) -> Record | None:
        candidates = []
        for dr in self.index.rules_for(host):
            if not self.index.visible(dr, from_ns):
                continue
            selector = workload_selector(dr)
            if selector is not None and (
                dr.effective_namespace != from_ns or not selects(selector, self.identity.labels)
            ):
                continue
            written = _str(dr.spec.get("host")) or ""
            if self.index.resolve(written, dr.effective_namespace) != self.index.canonical(
                written, dr.effective_namespace
            ):
                continue  # `name.ns`, `name.ns.svc`: istiod reads them literally, no host's
            exact = self.index.canonical(written, dr.effective_namespace) == host
            host_ns = self.index.cluster_namespace(host)
            drn = dr.effective_namespace
            place = (
                0
                if drn == from_ns
                else 1
                if drn == host_ns
                else 2
                if drn == self.index.root_namespace
                else 3
            )
            candidates.append(((0 if exact else 1, place, 0 if selector else 1), dr))
        if not candidates:
            return None
        candidates.sort(key=lambda c: c[0])
        return candidates[0][1]

    def _policy(self, dr: Record | None, port: int, subset: str) -> _Merged:
        merged = _Merged()
        if dr is None:
            return merged
        spec = dr.spec
        top = _dict(spec.get("trafficPolicy"))
        top_path: FieldPath = ("spec", "trafficPolicy")
        self._apply(merged, top, top_path, port)
        for key in _SUBSET_ONLY:
            if key in top:
                merged.blocks[key] = (top[key], (*top_path, key))
        if subset:
            for i, s in _items(spec.get("subsets")):
                if isinstance(s, dict) and s.get("name") == subset:
                    tp = _dict(s.get("trafficPolicy"))
                    path: FieldPath = ("spec", "subsets", i, "trafficPolicy")
                    for key in (*_BLOCKS, *_SUBSET_ONLY):
                        if key in tp:
                            merged.blocks[key] = (tp[key], (*path, key))
                    self._apply_port_level(merged, tp, path, port)
        return merged

    def _apply(self, merged: _Merged, tp: dict[str, Any], path: FieldPath, port: int) -> None:
        for key in _BLOCKS:
            if key in tp:
                merged.blocks[key] = (tp[key], (*path, key))
        self._apply_port_level(merged, tp, path, port)

    @staticmethod
    def _apply_port_level(merged: _Merged, tp: dict[str, Any], path: FieldPath, port: int) -> None:
        for j, pl in _items(tp.get("portLevelSettings")):
            if not isinstance(pl, dict) or integer(_dict(pl.get("port")).get("number")) != port:
                continue
            ppath = (*path, "portLevelSettings", j)
            for key in _BLOCKS:  # a port-level entry replaces the four blocks wholesale
                if key in pl:
                    merged.blocks[key] = (pl[key], (*ppath, key))
                else:
                    merged.blocks.pop(key, None)
            return

    def _lb(self, host: str, port: int, subset: str) -> LoadBalancer:
        key = (host, port, subset)
        found = self._lbs.get(key)
        if found is None:
            dr = self.destination_rule(host, self.identity.namespace)
            found = self._lbs[key] = self._load_balancer(
                self._policy(dr, port, subset).get("loadBalancer")
            )
        return found

    def _hash_policies(self, dests: list[Destination]) -> tuple[HashPolicy, ...]:
        if len(dests) != 1:
            return ()
        d = dests[0]
        lb = self._lb(d.host, d.port, d.subset)
        return (lb.hash,) if lb.hash is not None else ()

    @staticmethod
    def _load_balancer(lb: Any) -> LoadBalancer:
        lb = _dict(lb)
        simple = lb.get("simple")
        policy: Any = {
            "ROUND_ROBIN": "ROUND_ROBIN",
            "RANDOM": "RANDOM",
            "PASSTHROUGH": "PASSTHROUGH",
        }.get(simple if isinstance(simple, str) else "", "LEAST_REQUEST")
        ch = lb.get("consistentHash")
        hash_policy = ring = table = None
        if isinstance(ch, dict):
            cookie = _dict(ch.get("httpCookie"))
            hash_policy = HashPolicy(
                header=_str(ch.get("httpHeaderName")),
                cookie=_str(cookie.get("name")),
                cookie_ttl=duration(cookie.get("ttl")),
                cookie_path=_str(cookie.get("path")),
                source_ip=ch.get("useSourceIp") is True,
                query_parameter=_str(ch.get("httpQueryParameterName")),
            )
            if isinstance(ch.get("maglev"), dict):
                policy = "MAGLEV"
                table = integer(ch["maglev"].get("tableSize")) or None
            else:
                policy = "RING_HASH"
                ring = (
                    integer(_dict(ch.get("ringHash")).get("minimumRingSize"))
                    or integer(ch.get("minimumRingSize"))
                    or 1024
                )
        warmup = duration(_dict(lb.get("warmup")).get("duration"))
        if warmup is None:
            warmup = duration(lb.get("warmupDurationSecs"))
        locality = _dict(lb.get("localityLbSetting")).get("enabled") is not False
        return LoadBalancer(policy, hash_policy, ring, table, warmup, locality)

    def cluster(
        self,
        host: str,
        port: int,
        subset: str,
        from_ns: str,
        referrer: tuple[Record, FieldPath] | None = None,
    ) -> str:
        name = f"outbound|{port}|{subset}|{host}"
        if name in self.plan.clusters:
            return name
        svc = self.service(host)
        dr = self.destination_rule(host, from_ns)
        if dr is not None:
            self._use(dr)
        merged = self._policy(dr, port, subset)
        protocol = "HTTP"
        target = None
        if svc is not None:
            for p in svc.ports:
                if p.number == port:
                    protocol, target = p.protocol, p.target
        cluster = Cluster(name, host, port, subset, protocol)
        cluster.pool = self._pool(merged.get("connectionPool"))
        cluster.lb = self._load_balancer(merged.get("loadBalancer"))
        cluster.outlier = self._outlier(merged.get("outlierDetection"))
        cluster.origin = (
            self._origin(dr, ("spec", "subsets") if subset else ("spec",)) if dr else None
        )
        self._endpoints(cluster, svc, target, dr, subset, referrer)
        cluster.tls = self._client_tls(cluster, svc, dr, merged)
        self.plan.clusters[name] = cluster
        return name

    @staticmethod
    def _pool(cp: Any) -> ConnectionPool:
        cp = _dict(cp)
        tcp, http = _dict(cp.get("tcp")), _dict(cp.get("http"))

        def positive(v: Any) -> int | None:
            n = integer(v)
            return n if n is not None and n > 0 else None

        keep = tcp.get("tcpKeepalive")
        keepalive = None
        if isinstance(keep, dict):
            keepalive = (
                integer(keep.get("probes")),
                duration(keep.get("time")),
                duration(keep.get("interval")),
            )
        return ConnectionPool(
            max_connections=positive(tcp.get("maxConnections")),
            max_pending_requests=positive(http.get("http1MaxPendingRequests")),
            max_requests=positive(http.get("http2MaxRequests")),
            max_retries=positive(http.get("maxRetries")),
            max_requests_per_connection=positive(http.get("maxRequestsPerConnection")),
            connect_timeout=duration(tcp.get("connectTimeout")) or 10.0,
            idle_timeout=duration(http.get("idleTimeout")),
            tcp_idle_timeout=duration(tcp.get("idleTimeout")),
            max_connection_duration=duration(tcp.get("maxConnectionDuration")),
            keepalive=keepalive,
            h2_upgrade=http.get("h2UpgradePolicy") == "UPGRADE",
            use_client_protocol=http.get("useClientProtocol") is True,
            max_concurrent_streams=positive(http.get("maxConcurrentStreams")),
        )

    @staticmethod
    def _outlier(od: Any) -> OutlierDetection | None:
        if not isinstance(od, dict):
            return None
        return OutlierDetection(
            consecutive_5xx=integer(od.get("consecutive5xxErrors")),
            consecutive_gateway_errors=integer(od.get("consecutiveGatewayErrors")),
            interval=duration(od.get("interval")),
            base_ejection_time=duration(od.get("baseEjectionTime")),
            max_ejection_percent=integer(od.get("maxEjectionPercent")),
            min_health_percent=integer(od.get("minHealthPercent")) or 0,
            split_external_local_origin_errors=od.get("splitExternalLocalOriginErrors") is True,
            consecutive_local_origin_failures=integer(od.get("consecutiveLocalOriginFailures")),
        )

    # Endpoints ---------------------------------------------------------------------------

    def _endpoints(
        self,
        cluster: Cluster,
        svc: Service | None,
        target: int | None,
        dr: Record | None,
        subset: str,
        referrer: tuple[Record, FieldPath] | None,
    ) -> None:
        labels = self._subset_labels(dr, subset)
        if subset and not self._declares(dr, subset):
            cluster.endpoints = []
            cluster.endpoints_origin = "none: no DestinationRule for the host declares the subset"
            if referrer is not None:
                rec, path = referrer
                self.note(
                    rec,
                    (*path[:-1], "subset") if path and path[-1] == "host" else path,
                    f"subset `{subset}` of `{cluster.host}` is declared by no DestinationRule "
                    "that applies to the host: istiod builds no cluster for it and requests "
                    "to it get 503",
                    "ML002",
                )
            return
        table = self.request.endpoints
        listed = [] if table is None else self._listed(table, cluster)
        if listed:
            cluster.endpoints = [e for e in listed if _has(e.labels, labels)]
            cluster.endpoints_origin = f"the endpoints file {table.name}" if table else ""
            return
        if svc is not None and not svc.kubernetes:
            self._service_entry_endpoints(cluster, svc, target, labels)
            return
        if svc is not None:
            cluster.discovery = "STRICT_DNS"
            cluster.endpoints = [Endpoint(cluster.host, cluster.port)]
            cluster.endpoints_origin = "the service's DNS name (no endpoints file entry)"
            return
        cluster.endpoints = []
        cluster.endpoints_origin = "none: the host is no service of the run"
        if referrer is not None:
            rec, path = referrer
            meant = self.index.canonical(cluster.host, rec.effective_namespace)
            hint = (
                f" (istiod expands only names without a dot; the Service is `{meant}`)"
                if meant != cluster.host
                else ""
            )
            self.note(
                rec,
                path,
                f"`{cluster.host}` is no Service or ServiceEntry of the run{hint}: its cluster "
                "has no endpoints and requests to it get 503",
                "ML002",
            )

    def _listed(self, table: EndpointTable, cluster: Cluster) -> list[Endpoint]:
        out = []
        for entry in table.entries:
            if entry.port != cluster.port:
                continue
            host = entry.service
            if self.service(host) is None:
                host = self.index.canonical(host, self.identity.namespace)
            if host == cluster.host:
                out.append(entry.endpoint)
        return out

    def _service_entry_endpoints(
        self, cluster: Cluster, svc: Service, target: int | None, labels: dict[str, str]
    ) -> None:
        se = svc.record
        resolution = se.spec.get("resolution") or "NONE"
        port_name = next((p.name for p in svc.ports if p.number == cluster.port), "")
        default_port = target or cluster.port
        found: list[Endpoint] = []
        for i, ep in _items(se.spec.get("endpoints")):
            if not isinstance(ep, dict) or not _str(ep.get("address")):
                continue
            eport = integer(_dict(ep.get("ports")).get(port_name)) or default_port
            elabels = label_map(ep.get("labels")) or {}
            found.append(
                Endpoint(
                    ep["address"],
                    eport,
                    tuple(sorted(elabels.items())),
                    integer(ep.get("weight")),
                    _str(ep.get("locality")),
                    self._origin(se, ("spec", "endpoints", i)),
                )
            )
        selector = label_map(_dict(se.spec.get("workloadSelector")).get("labels"))
        if selector:
            for we in self.index.by_kind.get("WorkloadEntry", ()):
                wl = label_map(we.spec.get("labels")) or {}
                if we.effective_namespace != se.effective_namespace or not selects(selector, wl):
                    continue
                if not _str(we.spec.get("address")):
                    continue
                self._use(we)
                eport = integer(_dict(we.spec.get("ports")).get(port_name)) or default_port
                found.append(
                    Endpoint(
                        we.spec["address"],
                        eport,
                        tuple(sorted(wl.items())),
                        integer(we.spec.get("weight")),
                        _str(we.spec.get("locality")),
                        self._origin(we),
                    )
                )
        if resolution in ("DNS", "DNS_ROUND_ROBIN"):
            cluster.discovery = "LOGICAL_DNS" if resolution == "DNS_ROUND_ROBIN" else "STRICT_DNS"
            if not found:
                found = [Endpoint(svc.host, default_port)]
        elif resolution == "NONE" and not found:
            self.note(
                se,
                ("spec", "resolution"),
                "not translated: `resolution: NONE` forwards to the original destination of "
                "captured traffic, which a proxy run locally does not have: give endpoints "
                "(an endpoints file entry) for its hosts",
            )
            self._consume(se, ("spec", "resolution"))
        elif resolution == "DYNAMIC_DNS":
            self.note(
                se,
                ("spec", "resolution"),
                "not translated: `resolution: DYNAMIC_DNS` needs Envoy's dynamic forward proxy, "
                "which meshlint does not configure",
            )
            self._consume(se, ("spec", "resolution"))
        cluster.endpoints = [e for e in found if _has(e.labels, labels)]
        cluster.endpoints_origin = f"{se.key} ({se.where})"

    @staticmethod
    def _declares(dr: Record | None, subset: str) -> bool:
        return dr is not None and any(
            isinstance(s, dict) and s.get("name") == subset
            for _, s in _items(dr.spec.get("subsets"))
        )

    @staticmethod
    def _subset_labels(dr: Record | None, subset: str) -> dict[str, str]:
        if dr is None or not subset:
            return {}
        for _, s in _items(dr.spec.get("subsets")):
            if isinstance(s, dict) and s.get("name") == subset:
                return label_map(s.get("labels")) or {}
        return {}

    # Client TLS --------------------------------------------------------------------------

    def _client_tls(
        self, cluster: Cluster, svc: Service | None, dr: Record | None, merged: _Merged
    ) -> ClientTls | None:
        found = merged.blocks.get("tls")
        if found is not None and isinstance(found[0], dict):
            tls, path = found
            mode = tls.get("mode")
            assert dr is not None
            origin = self._origin(dr, path)
            if mode == "DISABLE" or mode is None:
                return None
            if mode == "ISTIO_MUTUAL":
                return self._istio_mutual(cluster, svc, tls, origin)
            if _str(tls.get("credentialName")) and not (
                _str(tls.get("clientCertificate")) or _str(tls.get("caCertificates"))
            ):
                self.note(
                    dr,
                    (*path, "credentialName"),
                    "not translated: `credentialName` is a Kubernetes Secret that istiod "
                    "serves over SDS; give caCertificates (and clientCertificate/privateKey "
                    "for MUTUAL) as files: the cluster uses TLS without a CA",
                )
                self._consume(dr, (*path, "credentialName"))
            return ClientTls(
                mode,
                _str(tls.get("sni")),
                tuple(v for _, v in _items(tls.get("subjectAltNames")) if isinstance(v, str)),
                _str(tls.get("caCertificates")),
                _str(tls.get("clientCertificate")),
                _str(tls.get("privateKey")),
                tls.get("insecureSkipVerify") is True,
                _str(tls.get("credentialName")),
                origin,
            )
        # auto-mTLS: to the endpoints that say they have a sidecar
        if not self.index.auto_mtls()[0]:
            return None
        if svc is None or (
            not svc.kubernetes and svc.record.spec.get("location") != "MESH_INTERNAL"
        ):
            return None
        if not any(dict(e.labels).get(TLS_MODE_LABEL) == "istio" for e in cluster.endpoints):
            return None
        ns = svc.namespace
        if self.index.peer_mode(ns, {}, None).mode == "DISABLE":
            return None
        return self._istio_mutual(cluster, svc, {}, None, auto=True)

    def _istio_mutual(
        self,
        cluster: Cluster,
        svc: Service | None,
        tls: dict[str, Any],
        origin: Origin | None,
        auto: bool = False,
    ) -> ClientTls:
        if self.plan.certificates is None and self.request.require_certs:
            raise TranslateError(
                f"`{cluster.host}` is reached with Istio mutual TLS"
                + (f" ({origin.where()})" if origin else " (auto-mTLS)")
                + ": give the workload certificates with --certs DIR (`meshlint certs DIR` "
                "mints them for every service account of the run)"
            )
        sans = [v for _, v in _items(tls.get("subjectAltNames")) if isinstance(v, str)]
        if not sans:
            sans = self._service_identities(svc)
        sni = _str(tls.get("sni")) or f"outbound_.{cluster.port}_.{cluster.subset}_.{cluster.host}"
        return ClientTls("ISTIO_MUTUAL", sni, tuple(sans), origin=origin)

    def _service_identities(self, svc: Service | None) -> list[str]:
        if svc is None:
            return []
        found = self._identities.get(svc.host)
        if found is None:
            found = self._identities[svc.host] = self._identities_of(svc)
        return found

    def _identities_of(self, svc: Service) -> list[str]:
        if not svc.kubernetes:
            se = svc.record
            out = [v for _, v in _items(se.spec.get("subjectAltNames")) if isinstance(v, str)]
            for _, ep in _items(se.spec.get("endpoints")):
                sa = _str(_dict(ep).get("serviceAccount"))
                if sa:
                    out.append(f"spiffe://{self.trust_domain}/ns/{se.effective_namespace}/sa/{sa}")
            return sorted(set(out))
        accounts = set()
        for rec in self.index.kubernetes_services(svc.host):
            for w, _ in self.index.workloads_of_service(rec):
                sa = w.data.get(SERVICE_ACCOUNT)
                accounts.add(sa if isinstance(sa, str) and sa else "default")
        return sorted(f"spiffe://{self.trust_domain}/ns/{svc.namespace}/sa/{a}" for a in accounts)

    # ----------------------------------------------------------------------------------------
    # inbound

    def _inbound(self, workload: Record) -> None:
        ident = self.identity
        ports = [
            p
            for p in workload.data.get(CONTAINER_PORTS, ())
            if isinstance(p, dict) and integer(p.get("containerPort")) is not None
        ]
        app = self.request.app
        if app is not None:
            port = app[1]
            match = [p for p in ports if integer(p.get("containerPort")) == port]
            chosen = match[0] if match else {"containerPort": port}
            if not match and ports:
                chosen = ports[0]
                port = integer(chosen.get("containerPort")) or port
        elif ports:
            chosen = ports[0]
            port = integer(chosen["containerPort"]) or 0
            app = ("127.0.0.1", port)
        else:
            return  # a workload without ports takes no inbound traffic
        service_port, protocol = self._service_port_of(workload, chosen, port)
        peer = self.index.peer_mode(ident.namespace, ident.labels, port)
        if peer.source is not None:
            self._use(peer.source)
        mode_origin = (
            self._origin(
                peer.source,
                ("spec", "portLevelMtls") if peer.scope == "port" else ("spec", "mtls", "mode"),
            )
            if peer.source is not None
            else None
        )
        inbound = Inbound(
            port,
            service_port,
            protocol,
            peer.mode,  # type: ignore[arg-type]
            mode_origin,
            f"inbound|{port}||",
            app,
            trust_domains=self._trust_domains(),
        )
        inbound.policies = self._authz_policies()
        inbound.jwt = self._jwt_providers()
        if (
            inbound.mode == "PERMISSIVE"
            and self.plan.certificates is None
            and self.request.require_certs
        ):
            self.note(
                peer.source or workload,
                ("spec", "mtls", "mode") if peer.source is not None else (),
                f"not translated: the mutual TLS side of PERMISSIVE on port {port} needs the "
                "workload certificates (--certs DIR, from `meshlint certs DIR`): the inbound "
                "listener takes plaintext only",
            )
        if (
            inbound.mode == "STRICT"
            and self.plan.certificates is None
            and self.request.require_certs
        ):
            raise TranslateError(
                f"the inbound port {port} of {ident.namespace}/{ident.name} takes mutual TLS "
                f"({inbound.mode}"
                + (f", {mode_origin.where()}" if mode_origin else ", Istio's default")
                + "): give the workload certificates with --certs DIR (`meshlint certs DIR` "
                "mints them for every service account of the run)"
            )
        self.plan.inbound.append(inbound)

    def _service_port_of(
        self, workload: Record, container: dict[str, Any], port: int
    ) -> tuple[int | None, str]:
        labels = pod_labels(workload) or {}
        cname = _str(container.get("name"))
        for svc in self.index.services_selecting([(workload, labels)]):
            for _, p in _items(svc.spec.get("ports")):
                if not isinstance(p, dict):
                    continue
                target = p.get("targetPort", p.get("port"))
                if integer(target) == port or (cname is not None and target == cname):
                    return integer(p.get("port")), port_protocol(p)
        protocol = port_protocol({"name": cname}) if cname else "AUTO"
        return None, protocol

    def _trust_domains(self) -> tuple[str, ...]:
        aliases = [
            a for _, a in _items(self.mesh_config.get("trustDomainAliases")) if isinstance(a, str)
        ]
        return (self.trust_domain, *aliases)

    def _applies(self, rec: Record) -> bool:
        """Whether a selector-bound policy (security kinds, Telemetry) applies to this proxy."""
        ident = self.identity
        root = self.index.root_namespace
        ns = rec.effective_namespace
        if ns not in (ident.namespace, root):
            return False
        spec = rec.spec
        if spec.get("targetRef") or spec.get("targetRefs"):
            return ident.kind == "gateway" and self._targets_gateway(rec)
        selector = workload_selector(rec)
        if selector is None:  # namespace-wide (mesh-wide in the root namespace)
            return True
        return selects(selector, ident.labels)

    def _targets_gateway(self, rec: Record) -> bool:
        refs = []
        if isinstance(rec.spec.get("targetRef"), dict):
            refs.append(rec.spec["targetRef"])
        refs += [r for _, r in _items(rec.spec.get("targetRefs")) if isinstance(r, dict)]
        return any(r.get("kind") == "Gateway" and r.get("name") == self.identity.name for r in refs)

    def _authz_policies(self) -> list[AuthzPolicy]:
        out = []
        for ap in self.index.by_kind.get("AuthorizationPolicy", ()):
            if not self._applies(ap):
                continue
            self._use(ap)
            spec = ap.spec
            action: Any = spec.get("action") or "ALLOW"
            meta = _dict(ap.data.get("metadata"))
            dry = _dict(meta.get("annotations")).get("istio.io/dry-run") == "true"
            rules = []
            for i, r in _items(spec.get("rules")):
                if not isinstance(r, dict):
                    continue
                rules.append(self._authz_rule(ap, r, i))
            provider = _str(_dict(spec.get("provider")).get("name"))
            out.append(
                AuthzPolicy(
                    f"{ap.effective_namespace}/{ap.name}",
                    action,
                    tuple(rules),
                    dry,
                    provider,
                    self._origin(ap),
                )
            )
        return out

    def _authz_rule(self, ap: Record, r: dict[str, Any], i: int) -> AuthzRule:
        def conditions(block: Any) -> tuple[Condition, ...]:
            out = []
            for key, values in _dict(block).items():
                vals = tuple(str(v) for _, v in _items(values))
                negated = key.startswith("not")
                name = key[3].lower() + key[4:] if negated else key
                out.append(Condition(name, vals, negated))
            return tuple(out)

        sources = tuple(conditions(_dict(f).get("source")) for _, f in _items(r.get("from")))
        operations = tuple(conditions(_dict(t).get("operation")) for _, t in _items(r.get("to")))
        when = []
        for _, w in _items(r.get("when")):
            w = _dict(w)
            key = _str(w.get("key"))
            if key is None:
                continue
            if "values" in w:
                when.append(Condition(key, tuple(str(v) for _, v in _items(w.get("values")))))
            if "notValues" in w:
                when.append(
                    Condition(key, tuple(str(v) for _, v in _items(w.get("notValues"))), True)
                )
        name = f"ns[{ap.effective_namespace}]-policy[{ap.name}]-rule[{i}]"
        return AuthzRule(
            sources, operations, tuple(when), name, self._origin(ap, ("spec", "rules", i))
        )

    def _jwt_providers(self) -> list[JwtProvider]:
        out = []
        for ra in self.index.by_kind.get("RequestAuthentication", ()):
            if not self._applies(ra):
                continue
            self._use(ra)
            for i, rule in _items(ra.spec.get("jwtRules")):
                if not isinstance(rule, dict) or not _str(rule.get("issuer")):
                    continue
                out.append(
                    JwtProvider(
                        rule["issuer"],
                        tuple(a for _, a in _items(rule.get("audiences")) if isinstance(a, str)),
                        _str(rule.get("jwks")),
                        _str(rule.get("jwksUri")) or _str(rule.get("jwks_uri")),
                        tuple(
                            (h["name"], h.get("prefix") or "")
                            for _, h in _items(rule.get("fromHeaders"))
                            if isinstance(h, dict) and _str(h.get("name"))
                        ),
                        tuple(p for _, p in _items(rule.get("fromParams")) if isinstance(p, str)),
                        tuple(c for _, c in _items(rule.get("fromCookies")) if isinstance(c, str)),
                        rule.get("forwardOriginalToken") is True,
                        _str(rule.get("outputPayloadToHeader")),
                        tuple(
                            (c["header"], c["claim"])
                            for _, c in _items(rule.get("outputClaimToHeaders"))
                            if isinstance(c, dict)
                            and _str(c.get("header"))
                            and _str(c.get("claim"))
                        ),
                        self._origin(ra, ("spec", "jwtRules", i)),
                    )
                )
        out.sort(key=lambda p: p.issuer)
        return out

    # ----------------------------------------------------------------------------------------
    # gateway

    def _gateway(self, ref: tuple[str, str]) -> None:
        gw = self.workload
        ns = gw.effective_namespace
        bound = [
            vs
            for vs in self.index.virtual_services
            if self.index.visible(vs, ns)
            and any(
                self._names_gateway(g, vs.effective_namespace)
                for _, g in _items(vs.spec.get("gateways"))
            )
        ]
        tables: dict[str, RouteTable] = {}
        for i, server in _items(gw.spec.get("servers")):
            if not isinstance(server, dict):
                continue
            path: FieldPath = ("spec", "servers", i)
            port = _dict(server.get("port"))
            number = integer(port.get("number"))
            if number is None:
                continue
            protocol = (_str(port.get("protocol")) or "HTTP").upper()
            tls = _dict(server.get("tls"))
            mode = tls.get("mode") or ("SIMPLE" if protocol in ("HTTPS", "TLS") else None)
            hosts = [h for _, h in _items(server.get("hosts")) if isinstance(h, str)]
            if protocol in ("TCP", "MONGO", "TLS") or mode in ("PASSTHROUGH", "AUTO_PASSTHROUGH"):
                self.note(
                    gw,
                    (*path, "port", "protocol"),
                    f"not translated: the {protocol} server on port {number}"
                    + (f" ({mode})" if mode else "")
                    + " needs TCP or SNI routing, which meshlint does not translate yet",
                )
                self._consume(gw, path)
                continue
            server_tls = None
            if protocol == "HTTPS":
                server_tls = self._server_tls(gw, tls, (*path, "tls"))
                table_name = f"https.{number}.{_str(port.get('name')) or ''}.{gw.name}.{ns}"
            else:
                table_name = f"http.{number}"
            if _str(server.get("bind")):
                table_name += f".{server['bind']}"
            table = tables.get(table_name)
            if table is None:
                table = tables[table_name] = RouteTable(table_name, number, [])
                self.plan.route_tables.append(table)
            self._gateway_hosts(
                table, hosts, bound, number, tls.get("httpsRedirect") is True, gw, path
            )
            self.plan.servers.append(
                GatewayServer(
                    number,
                    _str(server.get("name")) or "",
                    protocol,
                    hosts,
                    server_tls,
                    table_name,
                    origin=self._origin(gw, path),
                )
            )

    def _gateway_hosts(
        self,
        table: RouteTable,
        hosts: list[str],
        bound: list[Record],
        port: int,
        redirect: bool,
        gw: Record,
        path: FieldPath,
    ) -> None:
        existing = {vh.name for vh in table.virtual_hosts}
        matched = False
        by_host: dict[str, list[tuple[Record, list[Route]]]] = {}
        for vs in bound:
            for _, host in _items(vs.spec.get("hosts")):
                if not isinstance(host, str):
                    continue
                if not any(
                    self._server_host_matches(h, host, vs.effective_namespace) for h in hosts
                ):
                    continue
                routes = self._vs_routes(vs, port, None, gateway=gw.name)
                if routes:
                    self._use(vs)
                    by_host.setdefault(host, []).append((vs, routes))
        for host, found in by_host.items():
            name = f"{host}:{port}"
            if name in existing:
                continue
            routes = [r for _, rs in found for r in rs]
            # catch-alls of several VirtualServices go last
            routes = [r for r in routes if not r.match.catch_all] + [
                r for r in routes if r.match.catch_all
            ]
            table.virtual_hosts.append(
                VirtualHost(name, [host], routes, port, redirect, self._origin(found[0][0]))
            )
            matched = True
        if not matched and f"blackhole:{port}" not in existing:
            table.virtual_hosts.append(
                VirtualHost(f"blackhole:{port}", ["*"], [], port, redirect, self._origin(gw, path))
            )

    @staticmethod
    def _server_host_matches(server_host: str, vs_host: str, vs_ns: str) -> bool:
        ns, _, host = server_host.rpartition("/")
        if ns and ns not in ("*", vs_ns) and not (ns == "." and vs_ns):
            return False
        if host == "*":
            return True
        if host.startswith("*."):
            return vs_host.endswith(host[1:]) or vs_host == host
        if vs_host.startswith("*."):
            return host.endswith(vs_host[1:])
        return host == vs_host

    def _server_tls(self, gw: Record, tls: dict[str, Any], path: FieldPath) -> ServerTls:
        mode: Any = tls.get("mode") or "SIMPLE"
        cert = _str(tls.get("serverCertificate"))
        key = _str(tls.get("privateKey"))
        ca = _str(tls.get("caCertificates"))
        credential = _str(tls.get("credentialName"))
        if credential is None:
            names = [c for _, c in _items(tls.get("credentialNames")) if isinstance(c, str)]
            credential = names[0] if names else None
        pairs = [c for _, c in _items(tls.get("tlsCertificates")) if isinstance(c, dict)]
        if cert is None and pairs:
            cert = _str(pairs[0].get("serverCertificate"))
            key = _str(pairs[0].get("privateKey"))
            ca = ca or _str(pairs[0].get("caCertificates"))
        if cert is None and credential is not None:
            if self.request.certs is None:
                raise TranslateError(
                    f"the Gateway server's credential `{credential}` ({gw.where}) is a Kubernetes "
                    "Secret: give its certificate with --certs DIR (`meshlint certs DIR` mints "
                    "one for every credentialName of the run)"
                )
            from meshlint.translate.certs import credential_files

            cert, key, ca_file = credential_files(self.request.certs, credential)
            if mode in ("MUTUAL", "OPTIONAL_MUTUAL"):
                ca = ca or ca_file
        if mode == "ISTIO_MUTUAL":
            certs = self.plan.certificates
            if certs is None:
                raise TranslateError(
                    f"the Gateway server ({gw.where}) uses ISTIO_MUTUAL: give the workload "
                    "certificates with --certs DIR"
                )
            cert, key, ca = certs.cert_chain, certs.private_key, certs.root_cert
        if cert is None or key is None:
            raise TranslateError(
                f"the Gateway server ({gw.where}, {format_path(path)}) terminates TLS but gives "
                "no certificate (serverCertificate and privateKey, or credentialName)"
            )
        return ServerTls(
            mode,
            cert,
            key,
            ca,
            credential,
            tuple(v for _, v in _items(tls.get("subjectAltNames")) if isinstance(v, str)),
            _str(tls.get("minProtocolVersion")),
            _str(tls.get("maxProtocolVersion")),
            tuple(v for _, v in _items(tls.get("cipherSuites")) if isinstance(v, str)),
            self._origin(gw, path),
        )

    # ----------------------------------------------------------------------------------------
    # telemetry

    def _telemetry(self) -> Telemetry:
        out = Telemetry()
        ordered = sorted(
            (t for t in self.index.by_kind.get("Telemetry", ()) if self._applies(t)),
            key=lambda t: (
                0 if t.effective_namespace == self.index.root_namespace else 1,
                0 if workload_selector(t) is None and not t.spec.get("targetRefs") else 1,
            ),
        )
        logging: list[tuple[Record, int, dict[str, Any]]] = []
        tracing: tuple[Record, int, dict[str, Any]] | None = None
        for t in ordered:
            self._use(t)
            entries = [
                (i, e) for i, e in _items(t.spec.get("accessLogging")) if isinstance(e, dict)
            ]
            if entries:
                logging = [(t, i, e) for i, e in entries]
            for i, e in _items(t.spec.get("tracing")):
                if isinstance(e, dict):
                    tracing = (t, i, e)
        for t, i, e in logging:
            if e.get("disabled") is True:
                continue
            mode = _dict(e.get("match")).get("mode") or "CLIENT_AND_SERVER"
            filt = _str(_dict(e.get("filter")).get("expression"))
            providers = [
                _str(_dict(p).get("name")) for _, p in _items(e.get("providers"))
            ] or self._default_providers("accessLogging")
            for j, name in enumerate(providers):
                if name is None:
                    continue
                log = self._access_log(
                    name, filt, mode, t, (*("spec", "accessLogging", i), "providers", j)
                )
                if log is not None:
                    out.access_logs.append(log)
        if tracing is not None:
            t, i, e = tracing
            if e.get("disableSpanReporting") is not True:
                out.tracing = self._tracing(t, i, e)
        return out

    def _tracing(self, t: Record, i: int, e: dict[str, Any]) -> Tracing | None:
        path: FieldPath = ("spec", "tracing", i)
        providers = [_str(_dict(p).get("name")) for _, p in _items(e.get("providers"))]
        names = [p for p in providers if p] or [
            p for p in self._default_providers("tracing") if p and p != "envoy"
        ]
        if not names:
            return None
        name = names[0]
        provider = self._provider(name) or {}
        kind: Any = next((k for k in ("zipkin", "opentelemetry") if k in provider), None)
        conf = _dict(provider.get(kind)) if kind else {}
        service, port = _str(conf.get("service")), integer(conf.get("port"))
        if kind is None or service is None or port is None:
            self.note(
                t,
                (*path, "providers"),
                f"not translated: tracing provider `{name}` is no zipkin or opentelemetry "
                "provider with a service and port among the mesh config's extensionProviders",
            )
            self._consume(t, path)
            return None
        host = self.index.canonical(service, self.index.root_namespace)
        cluster = self.cluster(host, port, "", self.identity.namespace, (t, path))
        if kind == "opentelemetry":
            self.plan.clusters[cluster].protocol = "GRPC"
        sampling = e.get("randomSamplingPercentage")
        tags = []
        for tag, value in sorted(_dict(e.get("customTags")).items()):
            v = _dict(value)
            if "literal" in v:
                tags.append((tag, "literal", str(_dict(v["literal"]).get("value", ""))))
            elif "header" in v:
                tags.append((tag, "header", str(_dict(v["header"]).get("name", ""))))
            elif "environment" in v:
                tags.append((tag, "environment", str(_dict(v["environment"]).get("name", ""))))
        return Tracing(
            name,
            kind,
            cluster,
            host,
            _str(conf.get("path")) or "/api/v2/spans",
            float(sampling) if isinstance(sampling, (int, float)) else None,
            tuple(tags),
            self._origin(t, path),
        )

    def _default_providers(self, what: str) -> list[str | None]:
        defaults = _dict(self.mesh_config.get("defaultProviders")).get(what)
        return [p for _, p in _items(defaults) if isinstance(p, str)] or ["envoy"]

    def _access_log(
        self, name: str, filt: str | None, mode: Any, t: Record, path: FieldPath
    ) -> AccessLog | None:
        provider = self._provider(name)
        if provider is None and name.lower() == "envoy":
            provider = {"name": "envoy", "envoyFileAccessLog": {"path": "/dev/stdout"}}
        if provider is None:
            self.note(
                t,
                path,
                f"not translated: access-log provider `{name}` is not among the mesh config's "
                "extensionProviders of the run",
            )
            self._consume(t, path)
            return None
        file_log = provider.get("envoyFileAccessLog")
        if not isinstance(file_log, dict):
            self.note(
                t,
                path,
                f"not translated: provider `{name}` sends logs to a collector service; only file "
                "access logs (envoyFileAccessLog) are translated",
            )
            self._consume(t, path)
            return None
        fmt = _dict(file_log.get("logFormat"))
        labels = tuple((str(k), str(v)) for k, v in sorted(_dict(fmt.get("labels")).items()))
        return AccessLog(
            name,
            _str(file_log.get("path")) or "/dev/stdout",
            _str(fmt.get("text")),
            labels,
            filt,
            mode if mode in ("CLIENT", "SERVER") else "CLIENT_AND_SERVER",
            self._origin(t, path),
        )

    def _provider(self, name: str) -> dict[str, Any] | None:
        for _, p in _items(self.mesh_config.get("extensionProviders")):
            if isinstance(p, dict) and str(p.get("name", "")).lower() == name.lower():
                return p
        return None


_NO_HEADERS = HeaderOps()


@functools.lru_cache(maxsize=8192)
def _path_text(path: FieldPath) -> str:
    return format_path(path)


def _has(labels: tuple[tuple[str, str], ...], wanted: dict[str, str]) -> bool:
    have = dict(labels)
    return all(have.get(k) == v for k, v in wanted.items())


def build(index: MeshIndex, request: Request) -> tuple[Plan, list[Note]]:
    """The Plan of the proxy ``request`` names, and the notes on what it leaves out."""
    builder = Builder(index, request)
    plan = builder.build()
    return plan, builder.notes


__all__ = ["MESH_CONFIG", "Builder", "Note", "Request", "build"]
