"""Cross-resource rules: Gateways and ServiceEntries across resources. See meshlint/rules/mesh/references.py
for the framework.

A Gateway's servers land on the gateway proxies its selector picks, wherever they run, so the
checks here first group Gateways by the workloads they select (identical selectors, or
selectors that share a workload of the run), then compare servers by port and bind inside
each group; ServiceEntries are grouped by host and port. Nothing compares every resource with
every other.
"""

from __future__ import annotations

import base64
import binascii
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from meshlint.diagnostics import FieldPath, Finding, Severity
from meshlint.mesh import (
    MESH_GATEWAY,
    MeshIndex,
    Record,
    Workload,
    export_scope,
    label_map,
    workload_selector,
)
from meshlint.rules import rule
from meshlint.rules.lib.guards import as_int
from meshlint.rules.lib.mesh import AN, KIALI, items, literal

_PILOT = "istio/istio pilot/pkg/model/gateway.go"
HTTP_PROTOCOLS = frozenset({"HTTP", "HTTP2", "GRPC", "GRPC-WEB", "HTTP_PROXY"})
TERMINATING_MODES = frozenset({"SIMPLE", "MUTUAL", "OPTIONAL_MUTUAL", "ISTIO_MUTUAL"})
PASSTHROUGH_MODES = frozenset({"PASSTHROUGH", "AUTO_PASSTHROUGH"})


# --------------------------------------------------------------------------------------------
# Gateway servers, as the checks read them


@dataclass(frozen=True, slots=True)
class _Host:
    index: int
    namespace: str  # the namespace part: "*" (any) when none is written; "." resolved
    name: str  # lower case
    raw: str


@dataclass(frozen=True, slots=True)
class _Server:
    gateway: Record
    index: int
    port: int | None
    protocol: str | None  # upper case
    bind: str
    tls: dict[str, Any] | None
    hosts: tuple[_Host, ...]

    @property
    def path(self) -> FieldPath:
        return ("spec", "servers", self.index)

    @property
    def mode(self) -> str | None:
        """The TLS mode (PASSTHROUGH when a `tls` block names none), None without `tls`."""
        if self.tls is None:
            return None
        mode = self.tls.get("mode", "PASSTHROUGH")
        return mode.upper() if isinstance(mode, str) else None

    @property
    def http(self) -> bool:
        return self.protocol in HTTP_PROTOCOLS

    @property
    def tls_server(self) -> bool:
        """A server istiod treats as TLS (a `tls` block on a protocol that is not HTTP)."""
        return self.tls is not None and not self.http

    @property
    def passthrough(self) -> bool:
        return self.tls_server and self.mode in PASSTHROUGH_MODES

    @property
    def terminating(self) -> bool:
        return self.tls_server and self.mode in TERMINATING_MODES

    @property
    def redirect(self) -> bool:
        return self.tls is not None and self.tls.get("httpsRedirect") is True

    def describe(self) -> str:
        what = f"port {self.port}" + (f"/{self.protocol}" if self.protocol else "")
        return f"server {self.index} ({what}) of {self.gateway.key}"


def _servers(gw: Record) -> list[_Server]:
    out: list[_Server] = []
    own = gw.effective_namespace
    for i, server in items(gw.spec.get("servers")):
        if not isinstance(server, dict):
            continue
        port = server.get("port")
        number = protocol = None
        if isinstance(port, dict):
            number = as_int(port.get("number"))
            proto = port.get("protocol")
            protocol = proto.upper() if isinstance(proto, str) and literal(proto) else None
        bind = server.get("bind", "")
        tls = server.get("tls")
        hosts: list[_Host] = []
        for j, raw in items(server.get("hosts")):
            if not literal(raw):
                continue
            ns, sep, name = raw.rpartition("/")
            if not sep:
                ns = "*"
            elif ns == ".":
                ns = own
            hosts.append(_Host(j, ns, name.lower(), raw))
        out.append(
            _Server(
                gw,
                i,
                number,
                protocol,
                bind if isinstance(bind, str) else "",
                tls if isinstance(tls, dict) else None,
                tuple(hosts),
            )
        )
    return out


def _gateways(index: MeshIndex) -> list[Record]:
    return list(index.by_kind.get("Gateway", ()))


def _selector(gw: Record) -> dict[str, str] | None:
    """A Gateway's selector: {} when it has none (every gateway workload), None when it is
    malformed."""
    value = gw.spec.get("selector")
    if value is None or value == {}:
        return {}
    return label_map(value)


def _workload_groups(index: MeshIndex) -> dict[int, tuple[tuple[str, str], ...]]:
    """Each Gateway (by id) → the group of gateway workloads it lands on: Gateways with the
    same selector are in one group, and so are Gateways whose selectors pick a common
    workload of the run. A Gateway without selector is only grouped with its like."""
    keys: dict[int, tuple[tuple[str, str], ...]] = {}
    for gw in _gateways(index):
        selector = _selector(gw)
        if selector is not None:
            keys[id(gw)] = tuple(sorted(selector.items()))
    parent: dict[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]] = {}

    def find(key: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
        while parent.setdefault(key, key) != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    owner: dict[int, tuple[tuple[str, str], ...]] = {}
    for key in sorted(set(keys.values())):
        find(key)
        if not key:
            continue
        for workload, _ in index.workloads_selected_anywhere(dict(key)):
            first = owner.setdefault(id(workload), key)
            a, b = find(first), find(key)
            if a != b:
                parent[max(a, b)] = min(a, b)
    return {gw: find(key) for gw, key in keys.items()}


def _hosts_meet(a: str, b: str) -> bool:
    """Whether two host patterns (lower case, `*` and `*.suffix` wildcards) share a name."""
    if a == b or a == "*" or b == "*":
        return True
    if a.startswith("*.") and b.endswith(a[1:]):
        return True
    return b.startswith("*.") and a.endswith(b[1:])


def _vs_hosts(index: MeshIndex, vs: Record) -> list[str]:
    ns = vs.effective_namespace
    return [index.resolve(h, ns).lower() for _, h in items(vs.spec.get("hosts")) if literal(h)]


def _serves(server: _Server, vs: Record, hosts: list[str]) -> bool:
    """Whether a server takes the routes of a VirtualService bound to its Gateway: a host of
    the server admits the VirtualService's namespace and meets one of its hosts."""
    ns = vs.effective_namespace
    return any(
        h.namespace in ("*", ns) and any(_hosts_meet(h.name, v) for v in hosts)
        for h in server.hosts
    )


def _gateway_refs(index: MeshIndex, vs: Record) -> list[tuple[str, str]] | None:
    """The Gateways a VirtualService binds to (`spec.gateways`, `mesh` left out), or None when
    one of them is not a literal name."""
    out: list[tuple[str, str]] = []
    for _, ref in items(vs.spec.get("gateways")):
        if not literal(ref):
            return None
        if ref != MESH_GATEWAY:
            out.append(index.gateway(ref, vs.effective_namespace))
    return out


def _bound(index: MeshIndex) -> dict[tuple[str, str], list[Record]]:
    """(namespace, name) of a Gateway → the VirtualServices of the run bound to it."""
    out: dict[tuple[str, str], list[Record]] = {}
    for vs in index.virtual_services:
        for ref in dict.fromkeys(_gateway_refs(index, vs) or ()):
            out.setdefault(ref, []).append(vs)
    return out


def _ambiguous(index: MeshIndex) -> set[tuple[str, str]]:
    """Gateways the run holds several manifests of (alternatives of one resource): which one a
    VirtualService meets is not known."""
    seen: set[tuple[str, str]] = set()
    twice: set[tuple[str, str]] = set()
    for gw in _gateways(index):
        ref = (gw.effective_namespace, gw.name)
        (twice if ref in seen else seen).add(ref)
    return twice


def _names(records: list[Record], limit: int = 3) -> str:
    shown = ", ".join(f"{r.key} ({r.where})" for r in records[:limit])
    return shown + (", …" if len(records) > limit else "")


# --------------------------------------------------------------------------------------------
# example material: an ingress gateway deployment, its Service, an application

_INGRESS = """\
apiVersion: v1
kind: Namespace
metadata:
  name: istio-ingress
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: istio-ingressgateway
  namespace: istio-ingress
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
        ports:
        - containerPort: 8080
        - containerPort: 8443
---
apiVersion: v1
kind: Service
metadata:
  name: istio-ingressgateway
  namespace: istio-ingress
spec:
  type: LoadBalancer
  selector:
    istio: ingressgateway
  ports:
  - name: http2
    port: 80
    targetPort: 8080
  - name: https
    port: 443
    targetPort: 8443
"""

_APP = """\
apiVersion: v1
kind: Service
metadata:
  name: frontend
  namespace: shop
spec:
  selector:
    app: frontend
  ports:
  - name: http
    port: 8080
  - name: https
    port: 8443
"""

# A self-signed EC P-256 certificate for shop.example.com (2025-2125) and its key, made once with
# the `cryptography` package.
_CERT = """\
    -----BEGIN CERTIFICATE-----
    MIIBmTCCAT+gAwIBAgIUesxW8Ls+nYd4nU6ZzXcyc0O192wwCgYIKoZIzj0EAwIw
    GzEZMBcGA1UEAwwQc2hvcC5leGFtcGxlLmNvbTAgFw0yNTAxMDEwMDAwMDBaGA8y
    MTI1MDEwMTAwMDAwMFowGzEZMBcGA1UEAwwQc2hvcC5leGFtcGxlLmNvbTBZMBMG
    ByqGSM49AgEGCCqGSM49AwEHA0IABLYIg76bfe7ilgE6Ko2c2sca/4RBdZWF343O
    d3BgHOYWGxxXQkrk1yJCFtTNJgQMRLYy/rd05Z3f+zjmKTVR7vejXzBdMB0GA1Ud
    DgQWBBSsGYfvKdSSUtzCSHmrQW8Zzbi1VzAfBgNVHSMEGDAWgBSsGYfvKdSSUtzC
    SHmrQW8Zzbi1VzAbBgNVHREEFDASghBzaG9wLmV4YW1wbGUuY29tMAoGCCqGSM49
    BAMCA0gAMEUCIC+HbCnEzyZAJ8F+3rjX9q242oEWe69xJnVhgPIdHbSgAiEAijrY
    HVmecb47576eaZlGbqf6ozmeyQP18pcL7ZxoiaY=
    -----END CERTIFICATE-----
"""

_KEY = """\
    -----BEGIN PRIVATE KEY-----
    MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgCmEF/dcmYHOFjmSa
    MSdtJ7ByQJuOACCGYdsBNoScWlahRANCAAS2CIO+m33u4pYBOiqNnNrHGv+EQXWV
    hd+NzndwYBzmFhscV0JK5NciQhbUzSYEDES2Mv63dOWd3/s45ik1Ue73
    -----END PRIVATE KEY-----
"""


def _secret(name: str, cert: str = _CERT, key: str = _KEY) -> str:
    def block(text: str) -> str:
        return "".join("    " + line.strip() + "\n" for line in text.strip().splitlines())

    return (
        "apiVersion: v1\nkind: Secret\nmetadata:\n"
        f"  name: {name}\n  namespace: istio-ingress\n"
        "type: kubernetes.io/tls\nstringData:\n"
        f"  tls.crt: |\n{block(cert)}  tls.key: |\n{block(key)}"
    )


def _gateway(name: str, servers: str, namespace: str = "shop") -> str:
    return (
        "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata:\n"
        f"  name: {name}\n  namespace: {namespace}\nspec:\n"
        "  selector:\n    istio: ingressgateway\n  servers:\n" + servers
    )


def _vs(name: str, hosts: str, gateway: str, routes: str) -> str:
    return (
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n"
        f"  name: {name}\n  namespace: shop\nspec:\n  hosts:\n{hosts}"
        f"  gateways:\n  - {gateway}\n{routes}"
    )


_HTTP_ROUTE = """\
  http:
  - route:
    - destination:
        host: frontend
        port:
          number: 8080
"""


def _join(*docs: str) -> str:
    return "---\n".join(d if d.endswith("\n") else d + "\n" for d in docs)


def _expect(doc: str, line: str, expected: str) -> str:
    """``doc`` with the expectation marker ``# expect: {expected}`` at the end of its first
    line that reads ``line``: the offending line of a bad example built from the templates."""
    if f"{line}\n" not in doc:
        raise ValueError(f"no line {line!r} to mark")
    return doc.replace(f"{line}\n", f"{line}  # expect: {expected}\n", 1)


def _gateway_services(
    index: MeshIndex, selector: tuple[tuple[str, str], ...]
) -> tuple[list[Workload], list[Record], set[int] | None]:
    """The gateway pods a selector picks, the Services that select them, and the ports those
    expose (None when one's ports cannot be read): once per selector (``index.memo_by``)."""
    pods = index.workloads_selected_anywhere(dict(selector))
    found = index.services_selecting(pods)
    exposed: set[int] | None = set()
    for svc in found:
        ports = _tcp_ports(svc)
        if ports is None:
            exposed = None
            break
        assert exposed is not None
        exposed |= ports
    return pods, found, exposed


def _tcp_ports(svc: Record) -> set[int] | None:
    """The numbers a Service lets clients reach its pods on: each TCP port, and its numeric
    `targetPort`; None when the port list cannot be read."""
    ports = svc.spec.get("ports")
    if not isinstance(ports, list):
        return None
    out: set[int] = set()
    for port in ports:
        if not isinstance(port, dict):
            return None
        protocol = port.get("protocol", "TCP")
        number = as_int(port.get("port"))
        if number is None:
            return None
        if protocol != "TCP":
            continue
        out.add(number)
        target = port.get("targetPort")
        if isinstance(target, str) and target.isdigit():
            target = int(target)
        target_number = as_int(target)
        if target_number is not None:
            out.add(target_number)
    return out


# --------------------------------------------------------------------------------------------
@rule(
    "ML955",
    "gateway-port-not-on-service",
    Severity.WARNING,
    scope="mesh",
    kinds={"Gateway"},
    summary="A Gateway server listens on a port that no Service of the gateway pods exposes.",
    rationale="""
        A Gateway server makes the gateway proxy listen on `port.number`, but clients reach the
        proxy through its Kubernetes Service: a port that no Service selecting the gateway pods
        exposes (as its `port`, or as the `targetPort` the proxy listens on) cannot be reached
        from outside, and the server is dead configuration. Typical causes are a server added
        on 8443 while the Service only maps 443, or a Gateway whose selector picks another
        gateway deployment than intended.

        Checked only when the run holds the gateway pods (a Deployment, StatefulSet,
        DaemonSet, ReplicaSet or Pod the selector picks, in any namespace) and at least one
        Service of their namespace that selects them; only TCP Service ports count. It is a
        warning, as in `istioctl analyze`: another Service applied from elsewhere may expose
        the port.
    """,
    bad=_join(
        _INGRESS,
        _APP,
        _gateway(
            "shop-gateway",
            """\
  - port:
      number: 9443  # expect: ML955@15 spec.servers[0].port.number
      name: https
      protocol: HTTPS
    tls:
      mode: SIMPLE
      credentialName: shop-cert
    hosts:
    - shop.example.com
""",
        ),
        _vs("shop", "  - shop.example.com\n", "shop-gateway", _HTTP_ROUTE),
    ),
    good=_join(
        _INGRESS,
        _APP,
        _gateway(
            "shop-gateway",
            """\
  - port:
      number: 443
      name: https
      protocol: HTTPS
    tls:
      mode: SIMPLE
      credentialName: shop-cert
    hosts:
    - shop.example.com
""",
        ),
        _vs("shop", "  - shop.example.com\n", "shop-gateway", _HTTP_ROUTE),
    ),
    istio="IST0162",
    source=f"{AN}/gateway/gateway.go (IngressGatewayPortAnalyzer, GatewayPortNotDefinedOnService)",
    catalogue=("gw-x-port-not-on-service",),
)
def gateway_port_not_on_service(gw: Record, index: MeshIndex) -> Iterator[Finding]:
    selector = workload_selector(gw)
    if selector is None:
        return
    pods, svcs, exposed = index.memo_by(_gateway_services, tuple(sorted(selector.items())))
    if not pods or not svcs or exposed is None:
        return
    for server in _servers(gw):
        if server.port is None or server.port in exposed:
            continue
        numbers = ", ".join(str(p) for p in sorted(exposed)) or "none"
        yield Finding(
            (*server.path, "port", "number"),
            f"port {server.port} is exposed by no Service of the gateway pods "
            f"({pods[0][0].key}): {_names(svcs)} expose {numbers}; clients cannot reach "
            "this server",
        )


# --------------------------------------------------------------------------------------------
# credentials

_SKIPPED_PREFIXES = ("builtin://", "sds://", "configmap://", "invalid://")


def _credential(value: str) -> tuple[str | None, str, str] | None:
    """Where Istio looks for a gateway credential: (namespace, or None for the gateway pods'
    own; Secret name; the prefix written), or None when it is no Kubernetes Secret (the
    workload's own certificate, an external SDS resource, a ConfigMap) or malformed."""
    if value.startswith(_SKIPPED_PREFIXES):
        return None
    prefix = ""
    for p in ("kubernetes-gateway://", "kubernetes://"):
        if value.startswith(p):
            prefix, value = p, value[len(p) :]
            break
    parts = value.split("/")
    if len(parts) > 1:
        ns, name = parts[0], parts[1]
        return (ns, name, prefix) if ns and name else None
    if prefix == "kubernetes-gateway://" or not value:
        return None  # that form requires a namespace
    return None, value, prefix


def _credentials(server: _Server) -> Iterator[tuple[FieldPath, str]]:
    tls = server.tls
    if tls is None or server.mode not in TERMINATING_MODES - {"ISTIO_MUTUAL"}:
        return
    base = (*server.path, "tls")
    if literal(tls.get("credentialName")):
        yield (*base, "credentialName"), tls["credentialName"]
    for j, name in items(tls.get("credentialNames")):
        if literal(name):
            yield (*base, "credentialNames", j), name


@dataclass(frozen=True, slots=True)
class _CredentialRef:
    gateway: Record
    path: FieldPath
    written: str
    namespace: str
    name: str
    pods: tuple[str, ...]  # namespaces of the gateway pods of the run
    explicit: bool  # the namespace is written in the reference


def _pod_namespaces(index: MeshIndex, key: tuple[tuple[str, str], ...] | None) -> tuple[str, ...]:
    """The namespaces of the gateway pods a Gateway selector (as sorted items; None: none)
    picks, in the order :meth:`MeshIndex.selected_by` gives them: once per selector."""
    if key is None:
        return ()
    found = index.workloads_selected_anywhere(dict(key))
    return tuple(dict.fromkeys(w.effective_namespace for w, _ in found))


def _credential_refs(gw: Record, index: MeshIndex) -> Iterator[_CredentialRef]:
    """Every Secret the servers of a Gateway name, in each namespace Istio looks for it."""
    pods: tuple[str, ...] | None = None
    for server in _servers(gw):
        for path, written in _credentials(server):
            parsed = _credential(written)
            if parsed is None:
                continue
            ns, name, _ = parsed
            if pods is None:
                selector = workload_selector(gw)
                key = None if selector is None else tuple(sorted(selector.items()))
                pods = index.memo_by(_pod_namespaces, key)
            for target in (ns,) if ns is not None else pods:
                yield _CredentialRef(gw, path, written, target, name, pods, ns is not None)


def _secret_namespaces(index: MeshIndex) -> set[str]:
    """The namespaces the run holds Secrets of."""
    return {ns for ns, _ in index.secrets}


def _credential_users(index: MeshIndex) -> dict[tuple[str, str], _CredentialRef]:
    """(namespace, name) of each Secret of the run a Gateway takes a certificate from → the
    first reference to it in the run."""
    first: dict[tuple[str, str], _CredentialRef] = {}
    for gw in _gateways(index):
        for ref in _credential_refs(gw, index):
            if (ref.namespace, ref.name) in index.secrets:
                first.setdefault((ref.namespace, ref.name), ref)
    return first


@rule(
    "ML956",
    "gateway-credential-not-found",
    Severity.ERROR,
    scope="mesh",
    shares="pod-namespaces",
    kinds={"Gateway"},
    summary="A Gateway server names a TLS credential that no Secret of the gateway's namespace "
    "holds.",
    rationale="""
        A terminating Gateway server (`SIMPLE`, `MUTUAL`, `OPTIONAL_MUTUAL`) reads its
        certificate from the Secret `tls.credentialName` (or each of `tls.credentialNames`)
        names, in the namespace where the gateway pods run, not the Gateway's own namespace.
        When that Secret does not exist the server has no certificate: the listener is not
        served and clients get a TLS handshake failure.

        Istio's forms are read as istiod reads them: `name` and `kubernetes://name` are in the
        gateway pods' namespace (known when the run holds the Deployment or Pod the selector
        picks), `ns/name`, `kubernetes://ns/name` and `kubernetes-gateway://ns/name` in `ns`;
        `builtin://`, `sds://` (an external SDS server) and `configmap://` name no Secret and
        are left alone.

        Secrets are seldom committed (sealed or external secrets create them in the cluster),
        so the rule says something only when the run holds Secrets of that namespace, and
        none of them has the name. When the reference names another namespace than the one
        the gateway pods run in, an info finding says so: istiod serves a Secret of another
        namespace to an Istio Gateway only when a policy allows it. Namespaces listed in the
        `external-namespaces` option are not checked.
    """,
    bad=_join(
        _INGRESS,
        _secret("shop-cert"),
        _APP,
        _gateway(
            "shop-gateway",
            """\
  - port:
      number: 443
      name: https
      protocol: HTTPS
    tls:
      mode: SIMPLE
      credentialName: shop-tls  # expect: ML956@23 spec.servers[0].tls.credentialName
    hosts:
    - shop.example.com
""",
        ),
        _vs("shop", "  - shop.example.com\n", "shop-gateway", _HTTP_ROUTE),
    ),
    good=_join(
        _INGRESS,
        _secret("shop-cert"),
        _APP,
        _gateway(
            "shop-gateway",
            """\
  - port:
      number: 443
      name: https
      protocol: HTTPS
    tls:
      mode: SIMPLE
      credentialName: shop-cert
    hosts:
    - shop.example.com
""",
        ),
        _vs("shop", "  - shop.example.com\n", "shop-gateway", _HTTP_ROUTE),
    ),
    istio="IST0101",
    source=f"{AN}/gateway/secret.go (SecretAnalyzer, ReferencedResourceNotFound reftype "
    "'credentialName'); istio/istio pilot/pkg/model/credentials/resource.go (ParseResourceName)",
    catalogue=("gw-x-secret-missing", "gw-ml-credential-prefix"),
)
def gateway_credential_not_found(gw: Record, index: MeshIndex) -> Iterator[Finding]:
    with_secrets = index.memo(_secret_namespaces)
    seen: set[tuple[FieldPath, str]] = set()
    for ref in _credential_refs(gw, index):
        mark = (ref.path, ref.namespace)
        if mark in seen:
            continue
        seen.add(mark)
        if ref.explicit and ref.pods and ref.namespace not in ref.pods:
            yield Finding(
                ref.path,
                f"`{ref.written}` is Secret {ref.namespace}/{ref.name}, but the gateway pods "
                f"of the linted files run in namespace {', '.join(ref.pods)}: istiod gives "
                "an Istio Gateway a Secret of another namespace only when a policy allows it; "
                "check that the Secret is where the gateway reads it",
                severity=Severity.INFO,
            )
        if (
            index.is_external_namespace(ref.namespace)
            or (ref.namespace, ref.name) in index.secrets
            or ref.namespace not in with_secrets
        ):
            continue
        where = "" if ref.explicit else " (where the gateway pods run)"
        yield Finding(
            ref.path,
            f"credential `{ref.written}` is Secret {ref.namespace}/{ref.name}, which no Secret "
            f"of namespace `{ref.namespace}`{where} in the linted files is: the server has no "
            "certificate (if the Secret is created elsewhere, add the namespace to "
            "`external-namespaces`)",
        )


# --------------------------------------------------------------------------------------------
_PEM = re.compile(
    r"-----BEGIN ([A-Z0-9 ]+)-----\s*?\n(.*?)\n?-----END ([A-Z0-9 ]+)-----", re.DOTALL
)


def _now() -> datetime:
    return datetime.now(timezone.utc)


_UNVERIFIABLE = "clients cannot verify the certificate up to the CA: the TLS handshake fails"
_UNSERVED = "the gateway proxy rejects the pair and serves no certificate"


@dataclass(frozen=True, slots=True)
class _Problem:
    """Why a credential cannot serve: its reason, where in the value of the Secret's key (an
    offset into the text; None: the value as a whole), and what follows from it."""

    reason: str
    at: int | None = None
    severity: Severity | None = None
    effect: str = "istiod cannot load it"


def _pem_blocks(text: str, want: str) -> tuple[list[tuple[int, bytes]], _Problem | None]:
    """The DER content of the PEM blocks of ``text`` of type ``want`` (`CERTIFICATE`, or
    `PRIVATE KEY` for any kind of private key) with the offset of each, or why they cannot be
    read (checked up to the first block that cannot)."""
    blocks: list[tuple[int, bytes]] = []
    for match in _PEM.finditer(text):
        kind, body, end, at = match.group(1), match.group(2), match.group(3), match.start()
        if kind != end:
            return blocks, _Problem(f"has a PEM block that begins as {kind} and ends as {end}", at)
        if not (kind == want or (want == "PRIVATE KEY" and kind.endswith("PRIVATE KEY"))):
            return blocks, _Problem(f"holds a {kind} where a {want} is expected", at)
        try:
            der = base64.b64decode("".join(body.split()), validate=True)
        except (binascii.Error, ValueError):
            return blocks, _Problem(f"has a {kind} block whose content is not base64", at)
        if not der or der[0] != 0x30:
            return blocks, _Problem(f"has a {kind} block whose content is not DER", at)
        blocks.append((at, der))
        if want != "CERTIFICATE":
            break  # one key; what follows it is not read
    if not blocks:
        return blocks, _Problem("holds no PEM block (`-----BEGIN …-----` … `-----END …-----`)")
    return blocks, None


def _spiffe_problem(uri: str) -> str | None:
    """Why a `spiffe://` URI is not an identity Istio reads, else None."""
    parts = uri[len("spiffe://") :].split("/")
    if len(parts) == 5 and parts[1::2] == ["ns", "sa"] and all(parts[0::2]):
        return None
    return (
        f"names the SPIFFE identity `{uri}`, which is not of Istio's form "
        "spiffe://<trust domain>/ns/<namespace>/sa/<service account>: peers that read the "
        "identity (peer authentication, AuthorizationPolicy principals) cannot parse it"
    )


def _cert_problems(blocks: list[tuple[int, bytes]]) -> Iterator[_Problem]:
    """What is wrong with a certificate chain (leaf first, each followed by its issuer): a
    certificate that does not parse, is outside its validity period, or is not signed by the
    certificate after it (or, last and self-issued, by itself); a malformed SPIFFE identity of
    the leaf."""
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm

    certs: list[tuple[int, Any]] = []
    for n, (at, der) in enumerate(blocks):
        which = "a certificate" if n == 0 else f"certificate {n + 1} of the chain, which"
        try:
            with warnings.catch_warnings():  # (on what a later version will refuse)
                warnings.simplefilter("ignore")
                cert = x509.load_der_x509_certificate(der)
            not_before, not_after = cert.not_valid_before_utc, cert.not_valid_after_utc
            cert.issuer.rfc4514_string(), cert.subject.rfc4514_string()  # read when asked
        except (ValueError, UnsupportedAlgorithm, x509.InvalidVersion):
            yield _Problem("has a CERTIFICATE block that is not an X.509 certificate", at)
            return
        certs.append((at, cert))
        now = _now()
        if now > not_after:
            yield _Problem(f"holds {which} expired on {not_after:%Y-%m-%d}", at)
        elif now < not_before:
            yield _Problem(f"holds {which} is not valid before {not_before:%Y-%m-%d}", at)
    for n, (at, cert) in enumerate(certs):
        issuer = certs[n + 1][1] if n + 1 < len(certs) else None
        if issuer is None and cert.issuer != cert.subject:
            break  # its issuer is not given: the client holds it
        issuer = issuer if issuer is not None else cert
        subject = issuer.subject.rfc4514_string()
        if cert.issuer != issuer.subject:
            yield _Problem(
                f"holds certificate {n + 1} of the chain, issued by "
                f"`{cert.issuer.rfc4514_string()}`, followed by `{subject}` (a chain goes from "
                "the server's certificate to the CA, each certificate followed by its issuer)",
                at,
                Severity.WARNING,
                "clients that read the chain in order cannot verify it",
            )
            continue
        try:
            cert.verify_directly_issued_by(issuer)
        except InvalidSignature:
            whose = "its own key" if issuer is cert else f"the key of `{subject}` after it"
            yield _Problem(
                f"holds certificate {n + 1} of the chain, whose signature does not verify "
                f"with {whose}: it was not signed by that CA",
                at,
                effect=_UNVERIFIABLE,
            )
        except (ValueError, TypeError, UnsupportedAlgorithm):
            continue  # an algorithm the library does not verify: left alone
    if certs:
        at, leaf = certs[0]
        try:
            names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        except (x509.ExtensionNotFound, ValueError):
            return
        for uri in names.get_values_for_type(x509.UniformResourceIdentifier):
            problem = _spiffe_problem(uri) if uri.startswith("spiffe://") else None
            if problem:
                yield _Problem(
                    f"holds a certificate that {problem}",
                    at,
                    Severity.WARNING,
                    "its identity is of no use in the mesh",
                )


def _key_problem(blocks: list[tuple[int, bytes]], cert: bytes) -> _Problem | None:
    """Why the private key cannot serve the certificate ``cert`` (DER): it cannot be read, or
    is not the certificate's."""
    from cryptography import x509
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        PublicFormat,
        load_der_private_key,
    )

    at, der = blocks[0]
    try:
        key = load_der_private_key(der, password=None)
    except TypeError:
        return _Problem("holds an encrypted private key", at, effect=_UNSERVED)
    except (ValueError, UnsupportedAlgorithm):
        return _Problem(
            "has a PRIVATE KEY block that is not a readable private key", at, effect=_UNSERVED
        )
    try:
        want = x509.load_der_x509_certificate(cert).public_key()
    except (ValueError, UnsupportedAlgorithm):
        return None
    spki = (Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    if key.public_key().public_bytes(*spki) != want.public_bytes(*spki):
        return _Problem("holds a private key that is not the certificate's", at, effect=_UNSERVED)
    return None


def _credential_problems(cert: str, key: str) -> Iterator[tuple[str, _Problem]]:
    """What is wrong with a certificate (PEM text) and its key: (which of the two, problem)."""
    certs, problem = _pem_blocks(cert, "CERTIFICATE")
    if problem is not None:
        yield "cert", problem
        return
    keys, problem = _pem_blocks(key, "PRIVATE KEY")
    if problem is not None:
        yield "key", problem
        return
    found = list(_cert_problems(certs))
    yield from (("cert", p) for p in found)
    if not any(p.reason.startswith("has a CERTIFICATE") for p in found):
        problem = _key_problem(keys, certs[0][1])
        if problem is not None:
            yield "key", problem


def _secret_problems(secret: Record) -> Iterator[tuple[FieldPath, _Problem]]:
    """Why Istio cannot serve a gateway certificate from a Secret: (field, problem) each.
    Keys `cert`/`key` or `tls.crt`/`tls.key`, base64 in `data`, plain in `stringData`."""
    values: dict[str, tuple[str, str]] = {}
    for section in ("data", "stringData"):
        block = secret.data.get(section)
        if block is None:
            continue
        if not isinstance(block, dict):
            return
        for key, value in block.items():
            if value is None:
                value = ""
            if not isinstance(key, str) or not isinstance(value, str) or "{{" in value:
                return  # the schema stage or the template rules speak of it
            values[key] = (section, value)

    decoded: dict[str, bytes | None] = {}
    for key, (section, value) in values.items():
        if section == "stringData":
            decoded[key] = value.encode()
            continue
        try:
            decoded[key] = base64.b64decode("".join(value.split()), validate=True)
        except (binascii.Error, ValueError):
            decoded[key] = None

    for cert, key in (("cert", "key"), ("tls.crt", "tls.key")):
        if cert not in values or key not in values:
            continue
        for name in (cert, key):
            if decoded[name] is None:
                yield (values[name][0], name), _Problem(f"`{name}` is not valid base64")
                return
        if not decoded[cert] or not decoded[key]:
            continue
        texts = {n: (decoded[n] or b"").decode("utf-8", "replace") for n in (cert, key)}
        for which, problem in _credential_problems(texts[cert], texts[key]):
            name = cert if which == "cert" else key
            section = values[name][0]
            # an offset in the text is a place in the value only where the value is the text
            at = problem.at if section == "stringData" else None
            reason = f"`{name}` {problem.reason}"
            yield (section, name), _Problem(reason, at, problem.severity, problem.effect)
        return
    pairs = [(c, k) for c, k in (("cert", "key"), ("tls.crt", "tls.key")) if c in values]
    where: FieldPath = next(
        ((s,) for s in ("data", "stringData") if isinstance(secret.data.get(s), dict)),
        ("metadata", "name"),
    )
    if pairs and all(k in values for _, k in pairs):
        yield where, _Problem(f"keys `{pairs[0][0]}` and `{pairs[0][1]}` are empty")
        return
    found = ", ".join(f"`{k}`" for k in sorted(values)) or "none"
    yield (
        where,
        _Problem(f"it has neither `tls.crt` and `tls.key` nor `cert` and `key` (keys: {found})"),
    )


@rule(
    "ML957",
    "gateway-credential-unreadable",
    Severity.ERROR,
    scope="mesh",
    shares="pod-namespaces",
    kinds={"Secret"},
    summary="A Secret that a Gateway takes its certificate from holds no certificate the "
    "gateway can serve: unreadable, expired, with a broken chain or a key that is not its own.",
    rationale="""
        istiod reads a gateway credential from the Secret's `tls.crt` and `tls.key` (or `cert`
        and `key`) and refuses it when the keys are missing or empty or the certificate cannot
        be parsed or is outside its validity period: the server then has no certificate and
        clients get a TLS handshake failure. The gateway proxy refuses a key that cannot be
        read (an encrypted one, say) or that is not the certificate's.

        The rule checks each Secret of the run that a Gateway server names (resolved as
        `gateway-credential-not-found` resolves it): the keys are present and not empty,
        `data` values are base64, the certificate and key each hold well-formed PEM blocks
        (`CERTIFICATE`; a `PRIVATE KEY` of any kind) whose content is base64 and DER. With the
        `cryptography` package it then reads every certificate of `tls.crt` and reports: one
        that is not X.509; one that has expired or is not valid yet; one whose signature does
        not verify with the key of the CA after it (or, for a self-issued last one, its own);
        a private key that cannot be read or does not match the first certificate. As
        warnings: a chain out of order (each certificate should be followed by its issuer;
        many clients reorder it, some do not) and a `spiffe://` URI SAN that is not of
        Istio's form `spiffe://<trust domain>/ns/<namespace>/sa/<service account>`. A finding
        in `stringData` is placed on the PEM block it is about. Values with unrendered templates
        are left alone.
    """,
    bad=_join(
        _INGRESS,
        _expect(
            _secret("shop-cert", cert=_CERT.replace("-----END CERTIFICATE-----\n", "")),
            "  tls.crt: |",
            'ML957@12 stringData["tls.crt"]',
        ),
        _APP,
        _gateway(
            "shop-gateway",
            """\
  - port:
      number: 443
      name: https
      protocol: HTTPS
    tls:
      mode: SIMPLE
      credentialName: shop-cert
    hosts:
    - shop.example.com
""",
        ),
        _vs("shop", "  - shop.example.com\n", "shop-gateway", _HTTP_ROUTE),
    ),
    good=_join(
        _INGRESS,
        _secret("shop-cert"),
        _APP,
        _gateway(
            "shop-gateway",
            """\
  - port:
      number: 443
      name: https
      protocol: HTTPS
    tls:
      mode: SIMPLE
      credentialName: shop-cert
    hosts:
    - shop.example.com
""",
        ),
        _vs("shop", "  - shop.example.com\n", "shop-gateway", _HTTP_ROUTE),
    ),
    istio="IST0161",
    source=f"{AN}/gateway/secret.go (isValidSecret, InvalidGatewayCredential); istio/istio "
    "pilot/pkg/credentials/kube/secrets.go (ExtractCertInfo), pilot/pkg/xds/sds.go "
    "(ValidateCertificate), pkg/spiffe/spiffe.go (ParseIdentity)",
    catalogue=("gw-x-secret-invalid",),
)
def gateway_credential_unreadable(secret: Record, index: MeshIndex) -> Iterator[Finding]:
    name = (secret.effective_namespace, secret.name)
    if index.secrets.get(name) is not secret:
        return  # another manifest of the Secret is the one the index holds
    ref = index.memo(_credential_users).get(name)
    if ref is None:
        return
    for path, problem in _secret_problems(secret):
        yield Finding(
            path,
            f"{problem.reason}: {ref.gateway.key} ({ref.gateway.where}) takes its certificate "
            f"from this Secret, and {problem.effect}",
            at=problem.at,
            severity=problem.severity,
        )


# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Placed:
    """A Gateway server with a port, and where it lands: its (workload group, port, bind)."""

    order: int  # its place among the servers of the run
    bucket: tuple[Any, int, str]
    server: _Server


def _placed_servers(index: MeshIndex) -> dict[int, list[_Placed]]:
    """Each Gateway (by id) that lands on a workload group → its servers with a port, in run
    order."""
    groups = index.memo(_workload_groups)
    out: dict[int, list[_Placed]] = {}
    order = 0
    for gw in _gateways(index):
        group = groups.get(id(gw))
        if group is None:
            continue
        placed = out[id(gw)] = []
        for server in _servers(gw):
            if server.port is not None:
                placed.append(_Placed(order, (group, server.port, server.bind), server))
                order += 1
    return out


def _host_claims(index: MeshIndex) -> dict[tuple[Any, ...], list[tuple[_Server, _Host]]]:
    """(workload group, port, bind, host name) → the servers that list the host there, in
    run order."""
    claims: dict[tuple[Any, ...], list[tuple[_Server, _Host]]] = {}
    for placed in index.memo(_placed_servers).values():
        for p in placed:
            for host in p.server.hosts:
                claims.setdefault((*p.bucket, host.name), []).append((p.server, host))
    return claims


_Claim = tuple[int, _Server, _Host]  # (place in its list of _host_claims, server, host)


def _claim_places(
    index: MeshIndex,
) -> dict[tuple[Any, ...], tuple[dict[int, int], dict[int, list[_Claim]], list[_Claim]]]:
    """For each key of :func:`_host_claims`: the place of each host in its list (by the id of
    the host), the claims of each Gateway (by the id of its record), and the first claim of
    each distinct (resource, server, TLS or not, HTTP or not, host namespace). ML958 compares
    a server with the earlier claims of its own Gateway and the distinct ones of other
    resources only: a later claim like a distinct one (a copy of the same resource) never
    comes first, so copies cost no comparisons."""
    out: dict[tuple[Any, ...], tuple[dict[int, int], dict[int, list[_Claim]], list[_Claim]]] = {}
    for key, entries in index.memo(_host_claims).items():
        at: dict[int, int] = {}
        own: dict[int, list[_Claim]] = {}
        distinct: dict[tuple[Any, ...], _Claim] = {}
        for k, (server, host) in enumerate(entries):
            at.setdefault(id(host), k)
            own.setdefault(id(server.gateway), []).append((k, server, host))
            like = (server.gateway.key, server.index, server.tls is None, server.http)
            distinct.setdefault((*like, host.namespace), (k, server, host))
        out[key] = (at, own, list(distinct.values()))
    return out


def _first_plain_servers(index: MeshIndex) -> dict[tuple[Any, int, str], _Placed]:
    """(workload group, port, bind) → the first plaintext server with a protocol there."""
    first: dict[tuple[Any, int, str], _Placed] = {}
    for placed in index.memo(_placed_servers).values():
        for p in placed:
            if p.server.protocol is not None and not p.server.tls_server:
                first.setdefault(p.bucket, p)
    return first


def _alternatives(a: Record, b: Record) -> bool:
    """Two manifests of one resource (the later replaces the earlier when applied)."""
    return a.key == b.key


_SERVER = """\
  - port:
      number: 443
      name: https
      protocol: HTTPS
    tls:
      mode: SIMPLE
      credentialName: {cert}
    hosts:
    - {host}
"""


@rule(
    "ML958",
    "conflicting-gateway-hosts",
    Severity.ERROR,
    scope="mesh",
    shares="gateway-servers",
    kinds={"Gateway"},
    summary="Two Gateways for the same gateway workloads declare one host on the same port.",
    rationale="""
        Gateways that select the same gateway proxies are merged into one listener per port
        and bind. Two TLS servers (HTTPS or TLS, any mode) of different Gateways that list the
        same host there give two filter chains with the same SNI match: istiod keeps the first
        and skips the other server (an error). Two plaintext HTTP servers with the same host
        are merged, and the routes of the VirtualServices bound to either end up in one
        virtual host in an order nobody chose (a warning): declare each host in one Gateway.

        Gateways select the same workloads when their selectors are identical, or when both
        pick a workload of the run. Hosts are compared as written, ignoring case, with their
        namespace part (`ns/`; `.` is the Gateway's namespace; none is any namespace), as
        `istioctl analyze` and Kiali compare them; wildcard hosts that merely overlap are not
        reported. Two TLS servers of one Gateway with a common host are reported too (istiod
        skips the later one just the same). Servers whose protocols cannot share a port are
        left to `gateway-protocol-clash`. The finding is on the later server and names the
        first.
    """,
    bad=_join(
        _INGRESS,
        _secret("shop-cert"),
        _secret("shop-cert-v2"),
        _APP,
        _gateway("shop-gateway", _SERVER.format(cert="shop-cert", host="shop.example.com")),
        _expect(
            _gateway(
                "shop-gateway-v2", _SERVER.format(cert="shop-cert-v2", host="shop.example.com")
            ),
            "    - shop.example.com",
            "ML958@7 spec.servers[0].hosts[0]",
        ),
        _vs("shop", "  - shop.example.com\n", "shop-gateway", _HTTP_ROUTE),
    ),
    good=_join(
        _INGRESS,
        _secret("shop-cert"),
        _secret("shop-cert-v2"),
        _APP,
        _gateway("shop-gateway", _SERVER.format(cert="shop-cert", host="shop.example.com")),
        _gateway("shop-gateway-v2", _SERVER.format(cert="shop-cert-v2", host="v2.example.com")),
        _vs("shop", "  - shop.example.com\n", "shop-gateway", _HTTP_ROUTE),
        _vs("shop-v2", "  - v2.example.com\n", "shop-gateway-v2", _HTTP_ROUTE),
    ),
    istio="IST0145",
    kiali="KIA0301",
    source=f"{AN}/gateway/conflictinggateway.go (ConflictingGatewayAnalyzer); {_PILOT} "
    "(mergeGateways, CheckDuplicates); kiali/kiali business/checkers/gateways/"
    "multi_match_checker.go",
    catalogue=("gw-x-conflict", "gw-k-multimatch", "gw-rt-tls-dup-host"),
)
def conflicting_gateway_hosts(gw: Record, index: MeshIndex) -> Iterator[Finding]:
    places = index.memo(_claim_places)
    for placed in index.memo(_placed_servers).get(id(gw), ()):
        server = placed.server
        for host in server.hosts:
            key = (*placed.bucket, host.name)
            at, own, distinct = places[key]
            mine = at[id(host)]
            earlier = [c for c in own.get(id(server.gateway), ()) if c[0] < mine]
            earlier += (
                c for c in distinct if c[0] < mine and c[1].gateway.key != server.gateway.key
            )
            earlier.sort(key=lambda c: c[0])
            other = None
            for _, first, first_host in earlier:
                tls = first.tls is not None and server.tls is not None
                if first.gateway is server.gateway:
                    if not tls or first.index == server.index:
                        continue  # plaintext duplicates of one Gateway: its own rule
                elif _alternatives(first.gateway, server.gateway):
                    continue
                if "*" not in (host.namespace, first_host.namespace) and (
                    host.namespace != first_host.namespace
                ):
                    continue
                if tls or (first.http and server.http and first.tls is None is server.tls):
                    other = (first, first_host)
                    break
            if other is None:
                continue
            first, first_host = other
            if first.tls is not None and server.tls is not None:
                severity = Severity.ERROR
                effect = (
                    "both are TLS servers, so istiod skips this one (duplicate SNI host) and "
                    "it serves nothing"
                )
            else:
                severity = Severity.WARNING
                effect = (
                    "the routes of the VirtualServices bound to either are merged into one "
                    "virtual host in no defined order; declare the host in one Gateway"
                )
            yield Finding(
                (*server.path, "hosts", host.index),
                f"host `{host.raw}` on port {server.port} is also declared by "
                + (
                    f"server {first.index} of this Gateway: {effect}"
                    if first.gateway is server.gateway
                    else f"{first.gateway.key} ({first.gateway.where}, server {first.index}), "
                    f"which selects the same gateway workloads: {effect}"
                ),
                severity=severity,
            )
            break  # one finding a server


def _certificates(server: _Server) -> Iterator[tuple[FieldPath, tuple[str, ...]]]:
    tls = server.tls
    if tls is None:
        return
    base = (*server.path, "tls")
    found = False
    if literal(tls.get("credentialName")):
        found = True
        yield (*base, "credentialName"), ("credential", tls["credentialName"])
    for j, name in items(tls.get("credentialNames")):
        if literal(name):
            found = True
            yield (*base, "credentialNames", j), ("credential", name)
    cert, key = tls.get("serverCertificate"), tls.get("privateKey")
    if not found and isinstance(cert, str) and isinstance(key, str) and literal(cert):
        yield (*base, "serverCertificate"), ("files", cert, key)


def _contains(small: dict[str, str], big: dict[str, str]) -> bool:
    return all(big.get(k) == v for k, v in small.items())


@dataclass(frozen=True, slots=True)
class _CertUse:
    """A certificate a server of a Gateway serves."""

    gateway: Record
    selector: dict[str, str]
    server: _Server
    path: FieldPath
    cert: tuple[str, ...]
    earlier: int  # how many uses of the same certificate come before it in the run


def _certificate_uses(
    index: MeshIndex,
) -> tuple[dict[tuple[str, ...], list[_CertUse]], dict[int, list[_CertUse]]]:
    """Every certificate the Gateways of the run serve: by certificate, and by Gateway (id),
    in run order. Gateways with a malformed selector are left out."""
    users: dict[tuple[str, ...], list[_CertUse]] = {}
    uses: dict[int, list[_CertUse]] = {}
    for gw in _gateways(index):
        selector = _selector(gw)
        if selector is None:
            continue
        for server in _servers(gw):
            for path, cert in _certificates(server):
                earlier = users.setdefault(cert, [])
                use = _CertUse(gw, selector, server, path, cert, len(earlier))
                earlier.append(use)
                uses.setdefault(id(gw), []).append(use)
    return users, uses


# --------------------------------------------------------------------------------------------
@rule(
    "ML959",
    "gateway-duplicate-certificate",
    Severity.WARNING,
    scope="mesh",
    kinds={"Gateway"},
    summary="Two Gateways for the same gateway workloads serve the same certificate.",
    rationale="""
        When two Gateways that land on the same gateway proxies use one certificate (the same
        `credentialName`, or the same `serverCertificate` and `privateKey` files), a client
        that opened an HTTP/2 connection for a host of one Gateway may reuse it for a host of
        the other, which the certificate also covers. The connection's filter chain only
        routes the first Gateway's hosts, so those requests get 404. Put the hosts in one
        Gateway server, or give each Gateway its own certificate.

        Gateways overlap when one's selector is contained in the other's (a Gateway without
        selector overlaps every one). Two servers of one Gateway may share a certificate.
        The finding is on the later Gateway and names the first.
    """,
    bad=_join(
        _INGRESS,
        _secret("wildcard-cert"),
        _APP,
        _gateway("shop-gateway", _SERVER.format(cert="wildcard-cert", host="shop.example.com")),
        _expect(
            _gateway("blog-gateway", _SERVER.format(cert="wildcard-cert", host="blog.example.com")),
            "      credentialName: wildcard-cert",
            "ML959@23 spec.servers[0].tls.credentialName",
        ),
        _vs("shop", "  - shop.example.com\n", "shop-gateway", _HTTP_ROUTE),
        _vs("blog", "  - blog.example.com\n", "blog-gateway", _HTTP_ROUTE),
    ),
    good=_join(
        _INGRESS,
        _secret("wildcard-cert"),
        _APP,
        _gateway(
            "web-gateway",
            _SERVER.format(cert="wildcard-cert", host="shop.example.com")
            + "    - blog.example.com\n",
        ),
        _vs("shop", "  - shop.example.com\n", "web-gateway", _HTTP_ROUTE),
        _vs("blog", "  - blog.example.com\n", "web-gateway", _HTTP_ROUTE),
    ),
    istio="IST0138",
    source=f"{AN}/gateway/certificate.go (CertificateAnalyzer, GatewayDuplicateCertificate)",
    catalogue=("gw-x-dup-cert",),
)
def gateway_duplicate_certificate(gw: Record, index: MeshIndex) -> Iterator[Finding]:
    users, uses = index.memo(_certificate_uses)
    reported: set[int] = set()
    for use in uses.get(id(gw), ()):
        other = next(
            (
                u
                for u in users[use.cert][: use.earlier]
                if u.gateway is not gw
                and not _alternatives(u.gateway, gw)
                and (_contains(u.selector, use.selector) or _contains(use.selector, u.selector))
            ),
            None,
        )
        if other is None or use.server.index in reported:
            continue
        reported.add(use.server.index)
        cert = use.cert
        what = f"`{cert[1]}`" if cert[0] == "credential" else f"file `{cert[1]}`"
        yield Finding(
            use.path,
            f"certificate {what} is also served by {other.gateway.key} ({other.gateway.where}, "
            f"server {other.server.index}) on the same gateway workloads: HTTP/2 clients may "
            "reuse one connection for the hosts of both Gateways and get 404 for those of the "
            "other",
        )


# --------------------------------------------------------------------------------------------
@rule(
    "ML964",
    "gateway-protocol-clash",
    Severity.ERROR,
    scope="mesh",
    shares="gateway-servers",
    kinds={"Gateway"},
    summary="Two plaintext Gateway servers for the same gateway workloads share a port with "
    "protocols that cannot be merged.",
    rationale="""
        istiod builds one listener per port and bind on a gateway proxy. Once a plaintext
        server (no `tls`, or an HTTP server with only `httpsRedirect`) has a port, a later
        server on that port and bind is kept only when both are HTTP-family (HTTP, HTTP2,
        GRPC, GRPC-WEB, HTTP_PROXY): a TCP server after an HTTP one, anything after a TCP one,
        an HTTPS or TLS server after an HTTP one, are skipped with only a log line in istiod.

        Servers of one Gateway and of different Gateways that select the same workloads
        (identical selectors, or selectors that pick a common workload of the run) are
        compared, in the order of the run (istiod orders Gateways by creation time). Use
        another port, or another `bind`.
    """,
    bad=_join(
        _INGRESS,
        _APP,
        _gateway(
            "shop-gateway",
            """\
  - port:
      number: 80
      name: http
      protocol: HTTP
    hosts:
    - shop.example.com
""",
        ),
        _gateway(
            "db-gateway",
            """\
  - port:
      number: 80
      name: tcp-db
      protocol: TCP  # expect: ML964@17 spec.servers[0].port.protocol
    hosts:
    - db.example.com
""",
        ),
        _vs("shop", "  - shop.example.com\n", "shop-gateway", _HTTP_ROUTE),
    ),
    good=_join(
        _INGRESS,
        _APP,
        _gateway(
            "shop-gateway",
            """\
  - port:
      number: 80
      name: http
      protocol: HTTP
    hosts:
    - shop.example.com
""",
        ),
        _gateway(
            "admin-gateway",
            """\
  - port:
      number: 80
      name: http-admin
      protocol: HTTP2
    hosts:
    - admin.example.com
""",
        ),
        _vs("shop", "  - shop.example.com\n", "shop-gateway", _HTTP_ROUTE),
        _vs("admin", "  - admin.example.com\n", "admin-gateway", _HTTP_ROUTE),
    ),
    source=f"{_PILOT} (mergeGateways, canMergeProtocols)",
    catalogue=("gw-rt-proto-clash",),
)
def gateway_protocol_clash(gw: Record, index: MeshIndex) -> Iterator[Finding]:
    first_plain = index.memo(_first_plain_servers)
    for placed in index.memo(_placed_servers).get(id(gw), ()):
        server = placed.server
        if server.protocol is None:
            continue
        found = first_plain.get(placed.bucket)
        if found is None or found.order >= placed.order:
            continue  # no plaintext server before it on its port
        first = found.server
        if first.gateway is not server.gateway and _alternatives(first.gateway, server.gateway):
            continue
        if first.http and server.http:
            continue
        where = "this Gateway" if first.gateway is server.gateway else first.gateway.key
        yield Finding(
            (*server.path, "port", "protocol"),
            f"port {server.port} already has the plaintext {first.protocol} server "
            f"{first.index} of {where} ({first.gateway.where}) on the same gateway workloads, "
            f"and {server.protocol} cannot be merged with it: istiod skips this server",
        )


# --------------------------------------------------------------------------------------------
_TLS_ROUTE = """\
  tls:
  - match:
    - port: 443
      sniHosts:
      - {host}
    route:
    - destination:
        host: frontend
        port:
          number: 8443
"""

_PASSTHROUGH = """\
  - port:
      number: 443
      name: tls
      protocol: TLS
    tls:
      mode: PASSTHROUGH
    hosts:
    - {host}
"""

_HTTP_SERVER = """\
  - port:
      number: 80
      name: http
      protocol: HTTP
    hosts:
    - {host}
"""


def _vs_namespaces(index: MeshIndex) -> set[str]:
    return {vs.effective_namespace for vs in index.virtual_services}


def _unserved(gw: Record, index: MeshIndex, want: str) -> Iterator[tuple[_Server, list[Record]]]:
    """The servers of a Gateway of kind ``want`` ("http": HTTP, or HTTPS terminated at the
    gateway; "tls": TLS passthrough) that no VirtualService bound to the Gateway serves with a
    route of that kind, with the VirtualServices bound to it. Only for a Gateway that
    VirtualServices of the run are bound to, and only servers whose namespaces the run holds
    VirtualServices of."""
    ref = (gw.effective_namespace, gw.name)
    vss = index.memo(_bound).get(ref)
    if not vss or ref in index.memo(_ambiguous):
        return
    vs_namespaces = index.memo(_vs_namespaces)
    hosts: dict[int, list[str]] = {}  # (read when first compared)

    def hosts_of(vs: Record) -> list[str]:
        found = hosts.get(id(vs))
        if found is None:
            found = hosts[id(vs)] = _vs_hosts(index, vs)
        return found

    for server in _servers(gw):
        if server.port is None or server.protocol is None or not server.hosts:
            continue
        if want == "http":
            if server.redirect or not (
                server.http or (server.protocol == "HTTPS" and server.terminating)
            ):
                continue
        elif not (server.passthrough and server.mode == "PASSTHROUGH"):
            continue
        if all(h.namespace not in ("*", *vs_namespaces) for h in server.hosts):
            continue
        if any(
            isinstance(vs.spec.get(want), list)
            and vs.spec[want]
            and _serves(server, vs, hosts_of(vs))
            for vs in vss
        ):
            continue
        yield server, vss


@rule(
    "ML960",
    "gateway-server-without-routes",
    Severity.WARNING,
    scope="mesh",
    shares="gateway-bindings",
    kinds={"Gateway"},
    summary="An HTTP Gateway server has no VirtualService with HTTP routes for its hosts.",
    rationale="""
        A gateway proxy answers a request on an HTTP server (or an HTTPS server that
        terminates TLS) only through the `http` routes of a VirtualService bound to the
        Gateway whose hosts meet the server's hosts. Without one, every request to those hosts
        gets 404 from the gateway: the server is exposed but routes nowhere. A typo in a host
        or a VirtualService bound to another Gateway are the usual causes.

        Checked only for Gateways that some VirtualService of the run is bound to (the routes
        of a Gateway whose VirtualServices all live elsewhere are not in sight) and for
        servers whose hosts admit a namespace the run holds VirtualServices of. Hosts are
        matched with their wildcards and `namespace/` parts; servers that only redirect to
        HTTPS (`tls.httpsRedirect`) need no routes.
    """,
    bad=_join(
        _INGRESS,
        _APP,
        _gateway(
            "shop-gateway",
            _HTTP_SERVER.format(host="shop.example.com") + "    - www.shop.example.com\n",
        ),
        _vs("shop", "  - shop.example.com\n", "shop-gateway", _HTTP_ROUTE),
        _expect(
            _gateway("legacy-gateway", _HTTP_SERVER.format(host="old.example.com")),
            "    hosts:",
            "ML960@5 spec.servers[0].hosts",
        ),
        _vs("shop-legacy", "  - legacy.example.com\n", "legacy-gateway", _HTTP_ROUTE),
    ),
    good=_join(
        _INGRESS,
        _APP,
        _gateway(
            "shop-gateway",
            _HTTP_SERVER.format(host="shop.example.com") + "    - www.shop.example.com\n",
        ),
        _vs("shop", "  - shop.example.com\n", "shop-gateway", _HTTP_ROUTE),
        _gateway("legacy-gateway", _HTTP_SERVER.format(host="old.example.com")),
        _vs("shop-legacy", "  - old.example.com\n", "legacy-gateway", _HTTP_ROUTE),
    ),
    source="meshlint (istio/istio pilot/pkg/networking/core/gateway.go: a gateway virtual "
    "host comes only from the VirtualServices bound to the Gateway)",
    catalogue=("gw-ml-http-server-no-vs",),
)
def gateway_server_without_routes(gw: Record, index: MeshIndex) -> Iterator[Finding]:
    for server, vss in _unserved(gw, index, "http"):
        hosts = ", ".join(h.raw for h in server.hosts)
        yield Finding(
            (*server.path, "hosts"),
            f"no VirtualService bound to {server.gateway.key} in the linted files has HTTP "
            f"routes for {hosts} ({_names(vss)} are bound to it): requests to this server "
            "get 404 (unless a VirtualService applied from elsewhere serves them)",
            key=True,
        )


@rule(
    "ML961",
    "passthrough-server-without-tls-route",
    Severity.WARNING,
    scope="mesh",
    shares="gateway-bindings",
    kinds={"Gateway"},
    summary="A PASSTHROUGH Gateway server has no VirtualService with TLS routes for its hosts.",
    rationale="""
        A server in `PASSTHROUGH` mode does not terminate TLS: the gateway proxy reads the SNI
        of the connection and forwards it by the `tls` routes (matched on `sniHosts`) of the
        VirtualServices bound to the Gateway. `http` and `tcp` routes do not apply there. When
        no bound VirtualService has a `tls` route for the server's hosts, connections are
        closed right after the handshake starts.

        Checked only for Gateways that some VirtualService of the run is bound to, and for
        servers whose hosts admit a namespace the run holds VirtualServices of.
        `AUTO_PASSTHROUGH` servers route by Istio's own SNI format and need no VirtualService.
    """,
    bad=_join(
        _INGRESS,
        _APP,
        _expect(
            _gateway("shop-gateway", _PASSTHROUGH.format(host="shop.example.com")),
            "      mode: PASSTHROUGH",
            "ML961@13 spec.servers[0].tls.mode",
        ),
        _vs("shop", "  - shop.example.com\n", "shop-gateway", _HTTP_ROUTE),
    ),
    good=_join(
        _INGRESS,
        _APP,
        _gateway("shop-gateway", _PASSTHROUGH.format(host="shop.example.com")),
        _vs(
            "shop",
            "  - shop.example.com\n",
            "shop-gateway",
            _TLS_ROUTE.format(host="shop.example.com"),
        ),
    ),
    source="meshlint (istio/istio pilot/pkg/networking/core/gateway.go: "
    "createGatewayTCPFilterChainOpts, buildGatewayNetworkFiltersFromTLSRoutes)",
    catalogue=("gw-ml-passthrough-needs-tls-route",),
)
def passthrough_server_without_tls_route(gw: Record, index: MeshIndex) -> Iterator[Finding]:
    for server, vss in _unserved(gw, index, "tls"):
        hosts = ", ".join(h.raw for h in server.hosts)
        written = server.tls is not None and "mode" in server.tls
        yield Finding(
            (*server.path, "tls", "mode") if written else (*server.path, "tls"),
            f"no VirtualService bound to {server.gateway.key} in the linted files has `tls` "
            f"routes for {hosts} ({_names(vss)} are bound to it): a PASSTHROUGH server "
            "forwards only by `tls` routes, so its connections go nowhere",
            key=not written,
        )


# --------------------------------------------------------------------------------------------
def _matched_servers(index: MeshIndex, vs: Record) -> list[_Server] | None:
    """The servers of the Gateways a VirtualService is bound to that take its routes, or None
    when it is also bound to the mesh, to no Gateway, or to a Gateway the run lacks."""
    refs = _gateway_refs(index, vs)
    gateways = vs.spec.get("gateways")
    if not refs or not isinstance(gateways, list) or MESH_GATEWAY in gateways:
        return None
    hosts = _vs_hosts(index, vs)
    out: list[_Server] = []
    ambiguous = index.memo(_ambiguous)
    for ref in refs:
        gw = index.gateways.get(ref)
        if gw is None or ref in ambiguous:
            return None
        out.extend(s for s in _servers(gw) if s.protocol and _serves(s, vs, hosts))
    return out


def _section(vs: Record, name: str) -> bool:
    value = vs.spec.get(name)
    return isinstance(value, list) and bool(value)


@rule(
    "ML962",
    "http-routes-on-passthrough-server",
    Severity.WARNING,
    scope="mesh",
    shares="gateway-bindings",
    kinds={"VirtualService"},
    summary="A VirtualService has HTTP routes but its Gateways only pass TLS through.",
    rationale="""
        On a `PASSTHROUGH` (or `AUTO_PASSTHROUGH`) server the gateway proxy never decrypts the
        traffic, so it cannot read HTTP: only `tls` routes, matched on the SNI, apply there.
        When every server of the bound Gateways that the VirtualService's hosts reach is a
        passthrough server, its `http` routes are never used. Use `tls` routes with
        `sniHosts`, or terminate TLS at the gateway (`mode: SIMPLE` and a certificate).

        Checked only when every Gateway the VirtualService names is in the run and it is not
        also bound to the mesh.
    """,
    bad=_join(
        _INGRESS,
        _APP,
        _gateway("shop-gateway", _PASSTHROUGH.format(host="shop.example.com")),
        _expect(
            _vs(
                "shop",
                "  - shop.example.com\n",
                "shop-gateway",
                _HTTP_ROUTE + _TLS_ROUTE.format(host="shop.example.com"),
            ),
            "  http:",
            "ML962@3 spec.http",
        ),
    ),
    good=_join(
        _INGRESS,
        _APP,
        _gateway("shop-gateway", _PASSTHROUGH.format(host="shop.example.com")),
        _vs(
            "shop",
            "  - shop.example.com\n",
            "shop-gateway",
            _TLS_ROUTE.format(host="shop.example.com"),
        ),
    ),
    source="meshlint (istio/istio pkg/config/gateway/gateway.go IsPassThroughServer; "
    "pilot/pkg/networking/core/gateway.go)",
    catalogue=("vs-ml-gw-passthrough-http",),
)
def http_routes_on_passthrough_server(vs: Record, index: MeshIndex) -> Iterator[Finding]:
    if not _section(vs, "http"):
        return
    servers = _matched_servers(index, vs)
    if not servers or not all(s.passthrough for s in servers):
        return
    names = ", ".join(s.describe() for s in servers[:3])
    yield Finding(
        ("spec", "http"),
        f"the gateway servers this VirtualService's hosts reach pass TLS through "
        f"({names}): its `http` routes are never used there; use `tls` routes with "
        "`sniHosts`, or terminate TLS at the gateway",
        key=True,
    )


@rule(
    "ML963",
    "tls-routes-on-terminating-server",
    Severity.WARNING,
    scope="mesh",
    shares="gateway-bindings",
    kinds={"VirtualService"},
    summary="A VirtualService has TLS routes but its Gateways terminate TLS.",
    rationale="""
        `tls` routes match the SNI of a TLS connection that the gateway forwards without
        decrypting it: they apply to `PASSTHROUGH` servers only. On a server that terminates
        TLS (`SIMPLE`, `MUTUAL`, `OPTIONAL_MUTUAL`, `ISTIO_MUTUAL`) the gateway routes the
        decrypted traffic by `http` routes (HTTPS) or `tcp` routes (TLS protocol), so the
        `tls` routes are never used and the traffic they were meant for gets 404 or is
        closed.

        Checked only when every Gateway the VirtualService names is in the run, it is not
        also bound to the mesh, and no server its hosts reach is a passthrough server.
    """,
    bad=_join(
        _INGRESS,
        _secret("shop-cert"),
        _APP,
        _gateway("shop-gateway", _SERVER.format(cert="shop-cert", host="shop.example.com")),
        _expect(
            _vs(
                "shop",
                "  - shop.example.com\n",
                "shop-gateway",
                _HTTP_ROUTE + _TLS_ROUTE.format(host="shop.example.com"),
            ),
            "  tls:",
            "ML963@3 spec.tls",
        ),
    ),
    good=_join(
        _INGRESS,
        _secret("shop-cert"),
        _APP,
        _gateway("shop-gateway", _SERVER.format(cert="shop-cert", host="shop.example.com")),
        _vs("shop", "  - shop.example.com\n", "shop-gateway", _HTTP_ROUTE),
    ),
    source="meshlint (istio/istio pilot/pkg/networking/core/gateway.go: "
    "createGatewayTCPFilterChainOpts)",
    catalogue=("vs-ml-gw-terminate-tls-route",),
)
def tls_routes_on_terminating_server(vs: Record, index: MeshIndex) -> Iterator[Finding]:
    if not _section(vs, "tls"):
        return
    servers = _matched_servers(index, vs)
    if not servers or any(s.passthrough for s in servers):
        return
    terminating = [s for s in servers if s.terminating]
    if not terminating:
        return
    names = ", ".join(s.describe() for s in terminating[:3])
    yield Finding(
        ("spec", "tls"),
        f"the gateway servers this VirtualService's hosts reach terminate TLS ({names}) "
        "and none passes it through: its `tls` routes are never used; route the "
        "decrypted traffic with `http` (HTTPS) or `tcp` (TLS protocol) routes",
        key=True,
    )


# --------------------------------------------------------------------------------------------
# ServiceEntries


def _se(name: str, namespace: str, host: str, port: str, extra: str = "") -> str:
    return (
        "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata:\n"
        f"  name: {name}\n  namespace: {namespace}\nspec:\n{extra}"
        f"  hosts:\n  - {host}\n  location: MESH_EXTERNAL\n  resolution: DNS\n"
        f"  ports:\n{port}"
    )


_SE_HTTPS = "  - number: 443\n    name: https\n    protocol: HTTPS\n"
_SE_TLS = "  - number: 443\n    name: tls\n    protocol: TLS\n"


@dataclass(frozen=True, slots=True)
class _SePort:
    record: Record
    index: int
    protocol: str  # upper case; "" when unset
    scope: frozenset[str] | None  # exportTo namespaces; None: every namespace


def _se_ports(index: MeshIndex) -> dict[tuple[str, int], list[_SePort]]:
    """(host, port number) → the ServiceEntry ports that define it, in run order."""
    out: dict[tuple[str, int], list[_SePort]] = {}
    for se in index.by_kind.get("ServiceEntry", ()):
        ns = se.effective_namespace
        scope = export_scope(se.spec.get("exportTo"), ns)
        frozen = frozenset(scope) if scope is not None else None
        hosts = {index.resolve(h, ns).lower() for _, h in items(se.spec.get("hosts")) if literal(h)}
        for i, port in items(se.spec.get("ports")):
            if not isinstance(port, dict):
                continue
            number = as_int(port.get("number"))
            protocol = port.get("protocol", "")
            if number is None or not isinstance(protocol, str) or "{{" in protocol:
                continue
            for host in sorted(hosts):
                entry = _SePort(se, i, protocol.upper(), frozen)
                out.setdefault((host, number), []).append(entry)
    return out


def _se_keys(index: MeshIndex) -> dict[int, list[tuple[str, int]]]:
    """Each ServiceEntry (by id) → the (host, port number) keys of :func:`_se_ports` it has a
    port under, in the order of that table."""
    out: dict[int, list[tuple[str, int]]] = {}
    for key, entries in index.memo(_se_ports).items():
        for record in {id(e.record): e.record for e in entries}.values():
            out.setdefault(id(record), []).append(key)
    return out


def _se_places(
    index: MeshIndex,
) -> dict[tuple[str, int], tuple[dict[int, list[int]], list[tuple[int, _SePort]]]]:
    """For each (host, port number) of :func:`_se_ports`: where each ServiceEntry's ports are
    in its list (by the id of the record), and the first port of each distinct (resource,
    protocol, scope) with where it is. A later port like one of these (a copy of the same
    resource) is never the first an earlier one clashes with: copies cost no comparisons."""
    out: dict[tuple[str, int], tuple[dict[int, list[int]], list[tuple[int, _SePort]]]] = {}
    for key, entries in index.memo(_se_ports).items():
        mine: dict[int, list[int]] = {}
        distinct: dict[tuple[str, str, frozenset[str] | None], tuple[int, _SePort]] = {}
        for k, entry in enumerate(entries):
            mine.setdefault(id(entry.record), []).append(k)
            distinct.setdefault((entry.record.key, entry.protocol, entry.scope), (k, entry))
        out[key] = (mine, list(distinct.values()))
    return out


def _se_clashes(
    se: Record, index: MeshIndex, same: bool
) -> Iterator[tuple[str, int, _SePort, _SePort]]:
    """(host, port, port of ``se``, first) for each port of a ServiceEntry that an earlier
    ServiceEntry in an overlapping exportTo scope defines with the same (``same``) or a
    different protocol for one of its hosts; once per port."""
    table = index.memo(_se_ports)
    places = index.memo(_se_places)
    seen: set[int] = set()
    for host, number in index.memo(_se_keys).get(id(se), ()):
        entries = table[(host, number)]
        mine, distinct = places[(host, number)]
        for k in mine[id(se)]:
            entry = entries[k]
            for at, first in distinct:
                if at >= k:
                    break
                if first.record is se or _alternatives(first.record, se):
                    continue
                if (first.protocol == entry.protocol) != same:
                    continue
                a, b = first.scope, entry.scope
                if a is not None and b is not None and not a & b:
                    continue
                if entry.index not in seen:
                    seen.add(entry.index)
                    yield host, number, entry, first
                break


@rule(
    "ML965",
    "serviceentry-protocol-conflict",
    Severity.WARNING,
    scope="mesh",
    shares="service-entry-ports",
    kinds={"ServiceEntry"},
    summary="Two ServiceEntries define the same host and port with different protocols.",
    rationale="""
        Istio keeps one service per host and namespace view: when two ServiceEntries visible
        in the same namespaces (their `exportTo` scopes overlap) define the same host and port
        number with different protocols, the protocol a sidecar uses for that port depends on
        which ServiceEntry istiod sees first. One of them is treated with the wrong protocol
        (HTTPS traffic parsed as plain TCP, TLS origination skipped, and so on).

        Hosts are compared after resolving short names in each ServiceEntry's namespace,
        ignoring case; protocols ignoring case (an unset protocol is one of its own). The
        finding is on the later ServiceEntry's port and names the first.
    """,
    bad=_join(
        _se("payments-api", "shop", "api.payments.example.com", _SE_HTTPS),
        _expect(
            _se("payments-api-tls", "billing", "api.payments.example.com", _SE_TLS),
            "    protocol: TLS",
            "ML965@15 spec.ports[0].protocol",
        ),
    ),
    good=_join(
        _se(
            "payments-api",
            "shop",
            "api.payments.example.com",
            _SE_HTTPS,
            extra="  exportTo:\n  - .\n",
        ),
        _se(
            "payments-api-tls",
            "billing",
            "api.payments.example.com",
            _SE_TLS,
            extra="  exportTo:\n  - .\n",
        ),
    ),
    istio="IST0177",
    kiali="KIA1212",
    source=f"{AN}/serviceentry/conflictingserviceentries.go "
    "(ConflictingServiceEntryProtocolAnalyzer); "
    f"{KIALI}/serviceentries/multi_match_checker.go",
    catalogue=("se-x-protocol-conflict", "se-k-protocol-conflict"),
)
def serviceentry_protocol_conflict(se: Record, index: MeshIndex) -> Iterator[Finding]:
    for host, number, entry, first in _se_clashes(se, index, same=False):
        mine = entry.protocol or "unset"
        theirs = first.protocol or "unset"
        yield Finding(
            ("spec", "ports", entry.index, "protocol" if entry.protocol else "number"),
            f"host `{host}` port {number} is {mine} here but {theirs} in "
            f"{first.record.key} ({first.record.where}), visible in the same namespaces: "
            "sidecars use one of the two protocols, whichever istiod sees first",
        )


@rule(
    "ML966",
    "duplicate-serviceentry-port",
    Severity.WARNING,
    scope="mesh",
    shares="service-entry-ports",
    kinds={"ServiceEntry"},
    summary="Two ServiceEntries define the same host and port.",
    rationale="""
        Two ServiceEntries visible in the same namespaces (overlapping `exportTo` scopes) that
        both define a host and port are two definitions of one service: their endpoints,
        resolution and location are not merged as one might expect, and which one a sidecar
        uses depends on the order istiod sees them. Keep one ServiceEntry per host, or
        narrow `exportTo` so that each namespace sees one.

        Hosts are compared after resolving short names, ignoring case. Two ServiceEntries
        that give the port different protocols are reported by
        `serviceentry-protocol-conflict` instead. The finding is on the later ServiceEntry's
        port and names the first.
    """,
    bad=_join(
        _se("payments-api", "shop", "api.payments.example.com", _SE_HTTPS),
        _expect(
            _se("payments", "billing", "api.payments.example.com", _SE_HTTPS),
            "  - number: 443",
            "ML966@13 spec.ports[0].number",
        ),
    ),
    good=_join(
        _se(
            "payments-api",
            "shop",
            "api.payments.example.com",
            _SE_HTTPS,
            extra="  exportTo:\n  - .\n",
        ),
        _se(
            "payments",
            "billing",
            "api.payments.example.com",
            _SE_HTTPS,
            extra="  exportTo:\n  - .\n",
        ),
    ),
    kiali="KIA1211",
    source=f"{KIALI}/serviceentries/multi_match_checker.go (serviceentries.multimatch)",
    catalogue=("se-k-multimatch",),
)
def duplicate_serviceentry_port(se: Record, index: MeshIndex) -> Iterator[Finding]:
    for host, number, entry, first in _se_clashes(se, index, same=True):
        yield Finding(
            ("spec", "ports", entry.index, "number"),
            f"host `{host}` port {number} is also defined by {first.record.key} "
            f"({first.record.where}), visible in the same namespaces: sidecars use one of "
            "the two definitions, whichever istiod sees first",
        )


@rule(
    "ML967",
    "serviceentry-host-is-kubernetes-service",
    Severity.WARNING,
    scope="mesh",
    kinds={"ServiceEntry"},
    summary="A ServiceEntry host is the name of a Kubernetes Service of the run.",
    rationale="""
        A ServiceEntry whose host is the cluster name of a Kubernetes Service
        (`name.namespace.svc.cluster.local`, or a short name resolved in the ServiceEntry's
        namespace) gives that host a second registry entry: ports, endpoints and resolution
        now come from one or the other in an order Istio does not define, and the Service's
        pods may lose traffic. To reach the Service, use its name; to add endpoints outside
        Kubernetes, give them their own host (or use WorkloadEntries selected by the
        Service).
    """,
    bad=_join(
        _APP,
        _expect(
            _se(
                "frontend-vm",
                "shop",
                "frontend.shop.svc.cluster.local",
                "  - number: 8080\n    name: http\n    protocol: HTTP\n",
            ).replace("MESH_EXTERNAL", "MESH_INTERNAL"),
            "  - frontend.shop.svc.cluster.local",
            "ML967@5 spec.hosts[0]",
        ),
    ),
    good=_join(
        _APP,
        _se(
            "frontend-vm",
            "shop",
            "frontend-vm.shop.internal",
            "  - number: 8080\n    name: http\n    protocol: HTTP\n",
        ).replace("MESH_EXTERNAL", "MESH_INTERNAL"),
    ),
    source="meshlint (two registries for one host: istio/istio "
    "pilot/pkg/serviceregistry/aggregate/controller.go)",
    catalogue=("se-host-k8s-clash",),
)
def serviceentry_host_is_kubernetes_service(se: Record, index: MeshIndex) -> Iterator[Finding]:
    ns = se.effective_namespace
    for i, host in items(se.spec.get("hosts")):
        if not literal(host) or host.startswith("*"):
            continue
        services = index.kubernetes_services(index.resolve(host, ns))
        if not services:
            continue
        yield Finding(
            ("spec", "hosts", i),
            f"host `{host}` is the name of Kubernetes {services[0].key} "
            f"({services[0].where}): two registries now define it, and which one "
            "sidecars use is not defined",
        )
