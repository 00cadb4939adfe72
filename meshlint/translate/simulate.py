"""Where does a request go? The Plan's routing and authorization, applied to one request.

``meshlint route`` answers from the manifests alone: the route that matches (and its file and
line), the clusters and their weights, the endpoints a subset selects, timeout, retries, fault,
mirrors and header edits, and the authorization verdict at the destination workload. The
matching follows Envoy's (virtual host by domain, first route that matches); the verdict
follows Istio's order (CUSTOM, DENY, ALLOW with an implicit deny when any ALLOW applies).
The included proxy evaluates requests with the same functions.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from meshlint.translate.plan import (
    AuthzPolicy,
    AuthzRule,
    Cluster,
    Condition,
    Plan,
    Route,
    RouteMatch,
    RouteTable,
    StringMatch,
    VirtualHost,
)

# --------------------------------------------------------------------------------------------
# the request


@dataclass
class Call:
    method: str
    scheme: str
    host: str  # without the port
    port: int
    authority: str  # as the Host header carries it
    path: str  # without the query
    query: list[tuple[str, str]]
    headers: dict[str, str]  # lower-case names

    @classmethod
    def parse(cls, method: str, url: str, headers: list[tuple[str, str]] = ()) -> Call:  # type: ignore[assignment]
        parts = urlsplit(url if "://" in url else "http://" + url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{url!r} is no http:// or https:// URL with a host")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            raise ValueError(f"{url!r} has an invalid port") from None
        given = dict(headers)
        authority = given.get("host") or parts.netloc.rpartition("@")[2]
        host = authority.rsplit(":", 1)[0] if authority.count(":") == 1 else authority
        return cls(
            method.upper(),
            parts.scheme,
            host.lower(),
            port,
            authority,
            parts.path or "/",
            parse_qsl(parts.query, keep_blank_values=True),
            given,
        )

    def header(self, name: str) -> str | None:
        if name == ":method":
            return self.method
        if name == ":authority":
            return self.authority
        if name == ":scheme":
            return self.scheme
        if name == ":path":
            return self.path + (
                "?" + "&".join(f"{k}={v}" for k, v in self.query) if self.query else ""
            )
        return self.headers.get(name)


# --------------------------------------------------------------------------------------------
# routing


def _domain_rank(domain: str, host: str) -> int | None:
    """How well a virtual host domain matches (higher first), None when it does not."""
    d = domain.lower()
    if d == host:
        return 3_000_000
    if d == "*":
        return 0
    if d.startswith("*") and host.endswith(d[1:]) and len(host) > len(d) - 1:
        return 2_000_000 + len(d)
    if d.endswith("*") and host.startswith(d[:-1]):
        return 1_000_000 + len(d)
    return None


def virtual_host(hosts: list[VirtualHost], host: str) -> VirtualHost | None:
    best: tuple[int, VirtualHost] | None = None
    for vh in hosts:
        for d in vh.domains:
            rank = _domain_rank(d, host)
            if rank is not None and (best is None or rank > best[0]):
                best = (rank, vh)
    return best[1] if best else None


def route_matches(m: RouteMatch, call: Call) -> bool:
    if m.path is not None:
        path = call.path if m.case_sensitive else call.path.lower()
        value = m.path.value if m.case_sensitive else m.path.value.lower()
        if m.path.kind == "exact" and path != value:
            return False
        if m.path.kind == "prefix" and not path.startswith(value):
            return False
        if m.path.kind == "regex" and not m.path.matches(call.path):
            return False
    for h in m.headers:
        given = call.header(h.name)
        if h.match.kind == "present":
            ok = given is not None
        else:
            ok = h.match.matches(given if given is not None else ("" if h.invert else None))
        if ok == h.invert:
            return False
    query: dict[str, str] = {}
    for k, v in call.query:  # Envoy matches the first value of a parameter
        query.setdefault(k, v)
    for name, sm in m.query:
        arg = query.get(name)
        if sm.kind == "present":
            if arg is None:
                return False
        elif not sm.matches(arg):
            return False
    return True


def find(plan: Plan, call: Call) -> tuple[RouteTable, VirtualHost, Route | None] | None:
    """The route table of the call's port, the virtual host of its Host, and the first route
    that matches (None when none does: 404)."""
    for table in plan.route_tables:
        if table.port != call.port:
            continue
        vh = virtual_host(table.virtual_hosts, call.host)
        if vh is None:
            continue
        for r in vh.routes:
            if route_matches(r.match, call):
                return table, vh, r
        return table, vh, None
    return None


# --------------------------------------------------------------------------------------------
# authorization


@dataclass
class Peer:
    """What the destination knows of the caller."""

    principal: str | None  # a SPIFFE ID without `spiffe://`, when the call is mutual TLS
    ip: str = "127.0.0.1"
    request_principal: str | None = None  # iss/sub of a validated JWT
    # the claims of a validated JWT ({} when the request has none); None: not known
    claims: dict[str, Any] | None = None
    sni: str | None = None  # the server name of the TLS connection, when known
    destination_ip: str | None = None


@dataclass
class Verdict:
    allowed: bool
    reason: str
    by: str | None = None  # the policy that decided
    dry_run: list[str] = field(default_factory=list)  # what dry-run policies would have done
    unknown: list[str] = field(default_factory=list)  # what could not be judged


def _glob(pattern: str, value: str | None) -> bool:
    if value is None:
        return False
    if pattern == "*":
        return True
    if pattern.endswith("*"):
        return value.startswith(pattern[:-1])
    if pattern.startswith("*"):
        return value.endswith(pattern[1:])
    return value == pattern


def _in_cidr(block: str, ip: str) -> bool:
    try:
        return ipaddress.ip_address(ip) in ipaddress.ip_network(block, strict=False)
    except ValueError:
        return False


def _principal_ns(principal: str | None) -> str | None:
    if principal is None:
        return None
    parts = principal.split("/")
    return parts[parts.index("ns") + 1] if "ns" in parts[:-1] else None


def condition_matches(c: Condition, call: Call, peer: Peer, port: int, ns: str) -> bool | None:
    """Whether one value list matches (None: it needs what the simulation does not know)."""
    field_ = c.field
    if field_ in ("principals", "source.principal"):
        hit = any(_glob(v, peer.principal) for v in c.values)
    elif field_ in ("namespaces", "source.namespace"):
        hit = any(_glob(v, _principal_ns(peer.principal)) for v in c.values)
    elif field_ in ("serviceAccounts", "source.serviceAccount"):
        sa = None
        if peer.principal is not None and "/sa/" in peer.principal:
            sa = f"{_principal_ns(peer.principal)}/{peer.principal.rsplit('/sa/', 1)[1]}"
        hit = any((v if "/" in v else f"{ns}/{v}") == sa for v in c.values)
    elif field_ in ("trustDomains", "source.trustDomain"):
        td = peer.principal.split("/", 1)[0] if peer.principal else None
        hit = any(_glob(v, td) for v in c.values)
    elif field_ in ("ipBlocks", "remoteIpBlocks", "source.ip", "remote.ip"):
        hit = any(_in_cidr(v, peer.ip) for v in c.values)
    elif field_ in ("requestPrincipals", "request.auth.principal"):
        hit = any(_glob(v, peer.request_principal) for v in c.values)
    elif field_ == "hosts":
        hit = any(_glob(v.lower(), call.authority.lower()) for v in c.values)
    elif field_ == "methods":
        hit = any(_glob(v, call.method) for v in c.values)
    elif field_ == "paths":
        hit = any(_glob(v, call.path) for v in c.values)
    elif field_ in ("ports", "destination.port"):
        hit = any(v == str(port) for v in c.values)
    elif field_.startswith("request.headers["):
        name = field_[len("request.headers[") : -1].lower()
        hit = any(_glob(v, call.headers.get(name)) for v in c.values)
    elif field_.startswith("request.auth.") and peer.claims is not None:
        if field_.startswith("request.auth.claims["):
            claim = _claim(peer.claims, field_[len("request.auth.claims") :])
        elif field_ == "request.auth.audiences":
            claim = peer.claims.get("aud")
        elif field_ == "request.auth.presenter":
            claim = peer.claims.get("azp")
        else:
            return None
        found = claim if isinstance(claim, list) else [claim] if claim is not None else []
        hit = any(_glob(v, str(x)) for v in c.values for x in found if isinstance(x, str))
    elif field_ == "connection.sni" and peer.sni is not None:
        hit = any(_glob(v, peer.sni) for v in c.values)
    elif field_ == "destination.ip" and peer.destination_ip is not None:
        hit = any(_in_cidr(v, peer.destination_ip) for v in c.values)
    else:
        return None  # what the caller does not know, experimental keys
    return hit != c.negated


def _claim(claims: dict[str, Any], keys: str) -> Any:
    """``[a][b]`` of the claims: nested claims, as Istio reads them."""
    value: Any = claims
    for key in keys.strip("[]").split("]["):
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _all(
    conditions: tuple[Condition, ...], call: Call, peer: Peer, port: int, ns: str
) -> bool | None:
    unknown = False
    for c in conditions:
        ok = condition_matches(c, call, peer, port, ns)
        if ok is False:
            return False
        if ok is None:
            unknown = True
    return None if unknown else True


def rule_matches(r: AuthzRule, call: Call, peer: Peer, port: int, ns: str) -> bool | None:
    results: list[bool | None] = []
    for group in (r.sources, r.operations):
        if not group:
            results.append(True)
            continue
        found = [_all(g, call, peer, port, ns) for g in group]
        results.append(True if True in found else None if None in found else False)
    results.append(_all(r.when, call, peer, port, ns))
    if False in results:
        return False
    return None if None in results else True


def authorize(policies: list[AuthzPolicy], call: Call, peer: Peer, port: int) -> Verdict:
    """Istio's verdict: CUSTOM, then DENY, then ALLOW (any ALLOW policy denies what none of
    its rules allows); AUDIT never decides; dry-run policies only report."""
    dry: list[str] = []
    unknown: list[str] = []

    def policy_matches(p: AuthzPolicy) -> bool | None:
        ns = p.name.partition("/")[0]
        if not p.rules:
            return False
        found = [rule_matches(r, call, peer, port, ns) for r in p.rules]
        return True if True in found else None if None in found else False

    for p in policies:
        if p.action == "CUSTOM":
            unknown.append(f"CUSTOM policy {p.name} (provider {p.provider}) is not evaluated")
    for p in [p for p in policies if p.action == "DENY"]:
        hit = policy_matches(p)
        if p.dry_run:
            if hit:
                dry.append(f"{p.name} (DENY, dry-run) would deny")
            continue
        if hit is None:
            unknown.append(f"DENY policy {p.name} depends on what the simulation cannot know")
        if hit:
            return Verdict(False, f"DENY policy {p.name} matches", p.name, dry, unknown)
    allows = [p for p in policies if p.action == "ALLOW"]
    enforced = [p for p in allows if not p.dry_run]
    for p in allows:
        if p.dry_run and policy_matches(p) is not True:
            dry.append(f"{p.name} (ALLOW, dry-run) would not allow")
    if not enforced:
        return Verdict(True, "no ALLOW policy applies", None, dry, unknown)
    undecided = None
    for p in enforced:
        hit = policy_matches(p)
        if hit:
            return Verdict(True, f"ALLOW policy {p.name} matches", p.name, dry, unknown)
        if hit is None:
            undecided = p.name
    if undecided is not None:
        unknown.append(f"ALLOW policy {undecided} depends on what the simulation cannot know")
    names = ", ".join(p.name for p in enforced)
    return Verdict(
        False, f"denied: no rule of the ALLOW policies ({names}) matches", None, dry, unknown
    )


# --------------------------------------------------------------------------------------------
# the answer


@dataclass
class Target:
    cluster: Cluster
    weight: int
    endpoints: list[str]
    verdicts: list[tuple[str, Verdict]] = field(default_factory=list)  # (workload, verdict)


@dataclass
class Answer:
    call: Call
    source: str
    table: str | None = None
    virtual_host: str | None = None
    route: Route | None = None
    status: int | None = None  # when the proxy answers itself (404, redirect, direct, abort)
    detail: str = ""
    targets: list[Target] = field(default_factory=list)

    def to_data(self) -> dict[str, Any]:
        r = self.route
        out: dict[str, Any] = {
            "request": f"{self.call.method} {self.call.scheme}://{self.call.authority}{self.call.path}",
            "source": self.source,
            "route_table": self.table,
            "virtual_host": self.virtual_host,
            "route": None,
            "status": self.status,
            "detail": self.detail,
            "destinations": [
                {
                    "cluster": t.cluster.name,
                    "weight": t.weight,
                    "endpoints": t.endpoints,
                    "authorization": [
                        {
                            "workload": w,
                            "allowed": v.allowed,
                            "reason": v.reason,
                            "dry_run": v.dry_run,
                            "unknown": v.unknown,
                        }
                        for w, v in t.verdicts
                    ],
                }
                for t in self.targets
            ],
        }
        if r is not None:
            out["route"] = {
                "name": r.name,
                "from": r.origin.where() if r.origin else None,
                "timeout": r.timeout,
                "retries": None
                if r.retry is None
                else {
                    "attempts": r.retry.attempts,
                    "retry_on": list(r.retry.retry_on),
                    "status_codes": list(r.retry.status_codes),
                    "per_try_timeout": r.retry.per_try_timeout,
                },
                "fault": None
                if r.fault is None
                else {
                    "delay": None
                    if r.fault.delay is None
                    else {"seconds": r.fault.delay.seconds, "percent": r.fault.delay.percent},
                    "abort": None
                    if r.fault.abort is None
                    else {
                        "http_status": r.fault.abort.http_status,
                        "grpc_status": r.fault.abort.grpc_status,
                        "percent": r.fault.abort.percent,
                    },
                },
                "mirrors": [{"cluster": m.cluster, "percent": m.percent} for m in r.mirrors],
                "request_headers": {
                    "set": dict(r.request_headers.set),
                    "add": dict(r.request_headers.add),
                    "remove": list(r.request_headers.remove),
                },
                "response_headers": {
                    "set": dict(r.response_headers.set),
                    "add": dict(r.response_headers.add),
                    "remove": list(r.response_headers.remove),
                },
                "rewrite": None
                if r.rewrite is None
                else {"prefix": r.rewrite.prefix, "authority": r.rewrite.authority},
            }
        return out

    def text(self) -> str:
        c = self.call
        lines = [f"{c.method} {c.scheme}://{c.authority}{c.path}  from {self.source}"]
        if self.table is None:
            lines.append(
                f"  no route table for port {c.port}: the proxy refuses it ({self.detail})"
            )
            return "\n".join(lines)
        lines.append(f'  route table "{self.table}", virtual host {self.virtual_host}')
        r = self.route
        if r is None:
            lines.append(f"  no route matches: {self.status} ({self.detail})")
            return "\n".join(lines)
        where = r.origin.where() if r.origin else "Istio's default route"
        lines.append(f"  route {r.name or '(unnamed)'}: {where}")
        if self.status is not None:
            lines.append(f"  answered by the proxy: {self.status} {self.detail}")
        if r.fault is not None:
            if r.fault.delay is not None:
                lines.append(
                    f"  fault: delay {r.fault.delay.seconds:g}s for {r.fault.delay.percent:g}% of requests"
                )
            if r.fault.abort is not None:
                code = r.fault.abort.http_status or f"gRPC {r.fault.abort.grpc_status}"
                lines.append(f"  fault: abort {code} for {r.fault.abort.percent:g}% of requests")
        for t in self.targets:
            lines.append(f"  → {t.cluster.name}  weight {t.weight}")
            lines.append(
                f"      endpoints: {', '.join(t.endpoints) if t.endpoints else 'none (503)'}"
                f"  [{t.cluster.lb.policy}]"
            )
            for w, verdict in t.verdicts:
                mark = "allowed" if verdict.allowed else "DENIED (403)"
                lines.append(f"      at {w}: {mark}: {verdict.reason}")
                for note in verdict.dry_run + verdict.unknown:
                    lines.append(f"        ({note})")
        if r.destinations:
            lines.append(f"  timeout: {'none' if not r.timeout else f'{r.timeout:g}s'}")
            if r.retry is None:
                lines.append("  retries: none")
            else:
                codes = f" +{list(r.retry.status_codes)}" if r.retry.status_codes else ""
                per_try = (
                    f", {r.retry.per_try_timeout:g}s per try" if r.retry.per_try_timeout else ""
                )
                lines.append(
                    f"  retries: {r.retry.attempts} on {','.join(r.retry.retry_on)}{codes}{per_try}"
                )
        for m in r.mirrors:
            lines.append(f"  mirror: {m.percent:g}% to {m.cluster}")
        for label, ops in (("request", r.request_headers), ("response", r.response_headers)):
            for k, v in ops.set:
                lines.append(f"  {label} header set {k}: {v}")
            for k, v in ops.add:
                lines.append(f"  {label} header add {k}: {v}")
            for k in ops.remove:
                lines.append(f"  {label} header remove {k}")
        if r.rewrite is not None:
            if r.rewrite.prefix is not None:
                lines.append(f"  rewrite path prefix to {r.rewrite.prefix}")
            if r.rewrite.authority:
                lines.append(f"  rewrite authority to {r.rewrite.authority}")
        return "\n".join(lines)


def route(plan: Plan, call: Call, index: Any = None, request: Any = None) -> Answer:
    """The answer for ``call`` sent by the Plan's proxy; with the run's ``index`` the verdict of
    each destination workload's authorization policies is given too."""
    ident = plan.identity
    answer = Answer(call, f"{ident.kind} {ident.namespace}/{ident.name}")
    found = find(plan, call)
    if found is None:
        if plan.identity.kind == "workload" and plan.outbound_policy == "ALLOW_ANY":
            answer.detail = "no service of the mesh has that host: ALLOW_ANY passes it through"
            answer.table = "outbound"
            answer.virtual_host = "allow_any"
        else:
            answer.detail = "no virtual host for that Host"
            answer.status = 404 if plan.identity.kind == "gateway" else 502
        return answer
    table, vh, r = found
    answer.table, answer.virtual_host, answer.route = table.name, vh.name, r
    if r is None:
        answer.status, answer.detail = 404, "route not found"
        return answer
    if vh.require_tls and call.scheme != "https":
        answer.status, answer.detail = 301, "redirect to https (httpsRedirect)"
        return answer
    if r.redirect is not None:
        rd = r.redirect
        answer.status = rd.code
        location = f"{rd.scheme or call.scheme}://{rd.authority or call.host}"
        if rd.port:
            location += f":{rd.port}"
        answer.detail = f"redirect to {location}{rd.path or call.path}"
        return answer
    if r.direct_response is not None:
        answer.status = r.direct_response.status
        answer.detail = "direct response"
        return answer
    if r.fault is not None and r.fault.abort is not None and r.fault.abort.percent >= 100:
        answer.status = r.fault.abort.http_status
        answer.detail = "fault injection aborts every request"
    for d in r.destinations:
        cluster = plan.clusters[d.cluster]
        target = Target(cluster, d.weight, [f"{e.address}:{e.port}" for e in cluster.endpoints])
        if index is not None and cluster.endpoints:
            target.verdicts = _verdicts(plan, cluster, call, index, request)
        answer.targets.append(target)
    return answer


def _verdicts(
    plan: Plan, cluster: Cluster, call: Call, index: Any, request: Any
) -> list[tuple[str, Verdict]]:
    """The authorization verdict of each workload behind a cluster (its subset's)."""
    from meshlint.mesh import label_map
    from meshlint.translate.build import Builder, Request

    out: list[tuple[str, Verdict]] = []
    subset_labels: dict[str, str] = {}
    for dr in index.rules_for(cluster.host):
        written, dr_ns = dr.spec.get("host"), dr.effective_namespace
        if isinstance(written, str) and index.resolve(written, dr_ns) != index.canonical(
            written, dr_ns
        ):
            continue  # `name.ns`: istiod applies it to no Service
        for s in dr.spec.get("subsets") or ():
            if isinstance(s, dict) and s.get("name") == cluster.subset:
                subset_labels = label_map(s.get("labels")) or {}
    workloads = [
        (w, labels)
        for w, labels in index.workloads_of_host(cluster.host)
        if all(labels.get(k) == v for k, v in subset_labels.items())
    ]
    for w, _ in workloads:
        sub = Request(workload=(w.effective_namespace, w.name), require_certs=False)
        builder = Builder(index, sub)
        try:
            dest = builder.build()
        except Exception:  # a destination the translation cannot build says nothing here
            continue
        if not dest.inbound:
            continue
        inbound = dest.inbound[0]
        mtls = inbound.mode == "STRICT" or (
            inbound.mode == "PERMISSIVE"
            and (cluster.tls is None or cluster.tls.mode == "ISTIO_MUTUAL")
        )
        principal = plan.identity.spiffe.removeprefix("spiffe://") if mtls else None
        verdict = authorize(inbound.policies, call, Peer(principal), inbound.port)
        if not mtls:
            verdict.unknown.append("plaintext: the destination sees no peer identity")
        out.append((f"{w.kind} {w.effective_namespace}/{w.name}", verdict))
    return out


__all__ = ["Answer", "Call", "Peer", "StringMatch", "Verdict", "authorize", "find", "route"]
