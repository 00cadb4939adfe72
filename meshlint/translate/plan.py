"""The Plan: a neutral description of what one proxy does, built from the manifests of a run.

A Plan says, for one proxy identity (a workload of the run, or an Istio Gateway), which
listeners it serves, how each request is routed (virtual hosts and routes in Istio's order, with
retries, timeouts, faults, mirrors, rewrites and header edits), which clusters it sends to (with
the DestinationRule policy istiod would merge for each), where their endpoints are, how inbound
traffic is secured and authorized (PeerAuthentication, RequestAuthentication,
AuthorizationPolicy), and what is logged. It speaks Istio's language, normalised (durations in
seconds, percentages from 0 to 100, host names resolved, policies merged), not Envoy's: the Envoy
renderer (``translate.envoy``) and the included proxy both read it.

Every element remembers where it came from (:class:`Origin`): the resource, file, line and field
path, which the Envoy renderer writes as comments and ``meshlint route`` prints.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal

# --------------------------------------------------------------------------------------------
# Provenance


@dataclass(frozen=True)
class Origin:
    resource: str  # Kind/namespace/name
    file: str
    line: int
    path: str = ""  # the field path inside the resource, as findings write it

    def where(self) -> str:
        at = f" {self.path}" if self.path else ""
        return f"{self.resource} ({self.file}:{self.line}){at}"


# --------------------------------------------------------------------------------------------
# Matching


MatchKind = Literal["exact", "prefix", "suffix", "regex", "present"]


@dataclass(frozen=True)
class StringMatch:
    kind: MatchKind
    value: str = ""
    ignore_case: bool = False

    def matches(self, text: str | None) -> bool:
        """Whether ``text`` (None: absent) matches, as Envoy's StringMatcher decides."""
        import re2

        if text is None:
            return False
        if self.kind == "present":
            return True
        value, subject = self.value, text
        if self.ignore_case:
            value, subject = value.lower(), subject.lower()
        if self.kind == "exact":
            return subject == value
        if self.kind == "prefix":
            return subject.startswith(value)
        if self.kind == "suffix":
            return subject.endswith(value)
        return re2.fullmatch(self.value, text) is not None


@dataclass(frozen=True)
class HeaderMatch:
    name: str  # lower case; pseudo-headers `:method`, `:authority`, `:scheme` too
    match: StringMatch
    invert: bool = False  # withoutHeaders


@dataclass(frozen=True)
class RouteMatch:
    path: StringMatch | None = None  # None: any path (prefix "/")
    case_sensitive: bool = True
    headers: tuple[HeaderMatch, ...] = ()
    query: tuple[tuple[str, StringMatch], ...] = ()
    name: str = ""

    @property
    def catch_all(self) -> bool:
        return (
            (self.path is None or (self.path.kind == "prefix" and self.path.value == "/"))
            and not self.headers
            and not self.query
        )


# --------------------------------------------------------------------------------------------
# Route actions


@dataclass(frozen=True)
class HeaderOps:
    set: tuple[tuple[str, str], ...] = ()
    add: tuple[tuple[str, str], ...] = ()
    remove: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.set or self.add or self.remove)


@dataclass(frozen=True)
class Destination:
    cluster: str  # the cluster's name, Istio's: outbound|<port>|<subset>|<host>
    host: str
    port: int
    subset: str = ""
    weight: int = 100
    request_headers: HeaderOps = HeaderOps()
    response_headers: HeaderOps = HeaderOps()
    authority: str | None = None  # host rewrite from the destination's headers
    origin: Origin | None = None


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int
    retry_on: tuple[str, ...]
    status_codes: tuple[int, ...] = ()
    per_try_timeout: float | None = None
    previous_hosts: bool = True
    remote_localities: bool = False
    backoff: float | None = None
    origin: Origin | None = None


# Istio's retry policy for routes whose VirtualService says nothing.
# Istio's default access-log format (text), as both data planes write it
ISTIO_LOG_FORMAT = (
    '[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" '
    "%RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS% %CONNECTION_TERMINATION_DETAILS% "
    '"%UPSTREAM_TRANSPORT_FAILURE_REASON%" %BYTES_RECEIVED% %BYTES_SENT% %DURATION% '
    '%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" '
    '"%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%" %UPSTREAM_CLUSTER_RAW% '
    "%UPSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS% "
    "%REQUESTED_SERVER_NAME% %ROUTE_NAME%\n"
)
PASSTHROUGH = "PassthroughCluster"  # the cluster of traffic to hosts the mesh does not know
DEFAULT_RETRY_ON = ("connect-failure", "refused-stream", "unavailable", "cancelled")


@dataclass(frozen=True)
class FaultDelay:
    seconds: float
    percent: float


@dataclass(frozen=True)
class FaultAbort:
    percent: float
    http_status: int | None = None
    grpc_status: int | None = None


@dataclass(frozen=True)
class Fault:
    delay: FaultDelay | None = None
    abort: FaultAbort | None = None
    origin: Origin | None = None


@dataclass(frozen=True)
class Mirror:
    cluster: str
    percent: float = 100.0
    origin: Origin | None = None


@dataclass(frozen=True)
class Redirect:
    path: str | None = None
    prefix: str | None = None
    authority: str | None = None
    scheme: str | None = None
    port: int | None = None
    code: int = 301


@dataclass(frozen=True)
class DirectResponse:
    status: int
    body: str | None = None
    body_bytes: bytes | None = None


@dataclass(frozen=True)
class Rewrite:
    prefix: str | None = None  # rewrite.uri
    regex: tuple[str, str] | None = None  # (pattern, substitution)
    authority: str | None = None


@dataclass(frozen=True)
class HashPolicy:
    header: str | None = None
    cookie: str | None = None
    cookie_ttl: float | None = None
    cookie_path: str | None = None
    source_ip: bool = False
    query_parameter: str | None = None


@dataclass(frozen=True)
class Cors:
    allow_origins: tuple[StringMatch, ...] = ()
    allow_methods: tuple[str, ...] = ()
    allow_headers: tuple[str, ...] = ()
    expose_headers: tuple[str, ...] = ()
    max_age: int | None = None
    allow_credentials: bool | None = None
    forward_unmatched_preflights: bool = True


@dataclass
class Route:
    name: str
    match: RouteMatch
    destinations: tuple[Destination, ...] = ()
    redirect: Redirect | None = None
    direct_response: DirectResponse | None = None
    rewrite: Rewrite | None = None
    timeout: float = 0.0  # 0: none (Istio's default)
    retry: RetryPolicy | None = None
    fault: Fault | None = None
    mirrors: tuple[Mirror, ...] = ()
    request_headers: HeaderOps = HeaderOps()
    response_headers: HeaderOps = HeaderOps()
    hash_policy: tuple[HashPolicy, ...] = ()
    cors: Cors | None = None
    origin: Origin | None = None


def _concat_ops(a: HeaderOps, b: HeaderOps) -> HeaderOps:
    return HeaderOps(a.set + b.set, a.add + b.add, a.remove + b.remove)


def single_destination_edits(r: Route) -> tuple[HeaderOps, HeaderOps, Rewrite | None]:
    """The header edits and rewrite of a route with one destination, whose own edits apply
    after the rule's (Envoy has no weighted cluster to put them on) and whose authority
    rewrite applies where the rule gives none."""
    if len(r.destinations) != 1 or r.redirect is not None or r.direct_response is not None:
        return r.request_headers, r.response_headers, r.rewrite
    d = r.destinations[0]
    rewrite = r.rewrite
    if d.authority and (rewrite is None or rewrite.authority is None):
        rewrite = (
            replace(rewrite, authority=d.authority) if rewrite else Rewrite(authority=d.authority)
        )
    return (
        _concat_ops(r.request_headers, d.request_headers),
        _concat_ops(r.response_headers, d.response_headers),
        rewrite,
    )


@dataclass
class VirtualHost:
    name: str  # <host>:<port>
    domains: list[str]
    routes: list[Route]
    port: int
    require_tls: bool = False  # a gateway server with httpsRedirect
    origin: Origin | None = None


@dataclass
class RouteTable:
    """The routes of one port, as istiod builds one RouteConfiguration per port."""

    name: str  # "9080" (sidecar outbound), "http.80", "https.443.https.gw.ns" (gateway)
    port: int
    virtual_hosts: list[VirtualHost]


# --------------------------------------------------------------------------------------------
# Clusters and endpoints


@dataclass(frozen=True)
class Endpoint:
    address: str  # an IP or a DNS name
    port: int
    labels: tuple[tuple[str, str], ...] = ()
    weight: int | None = None
    locality: str | None = None  # region/zone/subzone
    origin: Origin | None = None


@dataclass(frozen=True)
class OutlierDetection:
    consecutive_5xx: int | None = None
    consecutive_gateway_errors: int | None = None
    interval: float | None = None
    base_ejection_time: float | None = None
    max_ejection_percent: int | None = None
    min_health_percent: int = 0
    split_external_local_origin_errors: bool = False
    consecutive_local_origin_failures: int | None = None


@dataclass(frozen=True)
class ConnectionPool:
    max_connections: int | None = None
    max_pending_requests: int | None = None
    max_requests: int | None = None
    max_retries: int | None = None
    max_requests_per_connection: int | None = None
    connect_timeout: float = 10.0
    idle_timeout: float | None = None
    tcp_idle_timeout: float | None = None
    max_connection_duration: float | None = None
    keepalive: tuple[int | None, float | None, float | None] | None = None  # probes, time, intvl
    h2_upgrade: bool = False
    use_client_protocol: bool = False
    max_concurrent_streams: int | None = None


LbPolicy = Literal["LEAST_REQUEST", "ROUND_ROBIN", "RANDOM", "RING_HASH", "MAGLEV", "PASSTHROUGH"]


@dataclass(frozen=True)
class LoadBalancer:
    policy: LbPolicy = "LEAST_REQUEST"
    hash: HashPolicy | None = None  # consistent hash: applied on the routes to the cluster
    ring_size: int | None = None
    table_size: int | None = None
    warmup: float | None = None
    locality: bool = False  # localityLbSetting enabled and endpoints carry localities


TlsMode = Literal["DISABLE", "SIMPLE", "MUTUAL", "ISTIO_MUTUAL"]


@dataclass(frozen=True)
class ClientTls:
    mode: TlsMode
    sni: str | None = None
    subject_alt_names: tuple[str, ...] = ()
    ca_certificates: str | None = None
    client_certificate: str | None = None
    private_key: str | None = None
    insecure_skip_verify: bool = False
    credential_name: str | None = None
    origin: Origin | None = None


Discovery = Literal["STATIC", "STRICT_DNS", "LOGICAL_DNS"]
Protocol = Literal["HTTP", "HTTP2", "GRPC", "TCP", "TLS", "HTTPS"]


@dataclass
class Cluster:
    name: str
    host: str
    port: int
    subset: str = ""
    protocol: str = "HTTP"
    discovery: Discovery = "STATIC"
    endpoints: list[Endpoint] = field(default_factory=list)
    pool: ConnectionPool = ConnectionPool()
    lb: LoadBalancer = LoadBalancer()
    outlier: OutlierDetection | None = None
    tls: ClientTls | None = None
    # The DestinationRule (and subset) the policy comes from; None: Istio's defaults.
    origin: Origin | None = None
    endpoints_origin: str = ""  # where the endpoints come from, for comments

    @property
    def http2(self) -> bool:
        return self.protocol in ("HTTP2", "GRPC", "GRPC-WEB") or self.pool.h2_upgrade


# --------------------------------------------------------------------------------------------
# Inbound: mTLS, JWT, authorization


PeerMode = Literal["STRICT", "PERMISSIVE", "DISABLE"]


@dataclass(frozen=True)
class JwtProvider:
    issuer: str
    audiences: tuple[str, ...] = ()
    jwks: str | None = None  # inline JWKS
    jwks_uri: str | None = None
    from_headers: tuple[tuple[str, str], ...] = ()  # (name, prefix)
    from_params: tuple[str, ...] = ()
    from_cookies: tuple[str, ...] = ()
    forward_original_token: bool = False
    output_payload_to_header: str | None = None
    claim_to_headers: tuple[tuple[str, str], ...] = ()  # (header, claim)
    origin: Origin | None = None


@dataclass(frozen=True)
class Condition:
    """One value list of an AuthorizationPolicy rule, as Istio writes it: ``field`` names a
    source field (``principals``, ``namespaces``, ``ipBlocks``, …), an operation field
    (``hosts``, ``methods``, ``paths``, ``ports``) or a ``when`` key; ``negated`` for the
    ``not…`` forms and ``notValues``."""

    field: str
    values: tuple[str, ...]
    negated: bool = False


@dataclass(frozen=True)
class AuthzRule:
    # from[]: ORed; each is ANDed conditions. Empty tuple: any source.
    sources: tuple[tuple[Condition, ...], ...] = ()
    # to[]: ORed; each is ANDed conditions. Empty tuple: any operation.
    operations: tuple[tuple[Condition, ...], ...] = ()
    when: tuple[Condition, ...] = ()
    name: str = ""  # ns[<ns>]-policy[<name>]-rule[<i>]
    origin: Origin | None = None


AuthzAction = Literal["ALLOW", "DENY", "AUDIT", "CUSTOM"]


@dataclass(frozen=True)
class AuthzPolicy:
    name: str  # namespace/name
    action: AuthzAction
    rules: tuple[AuthzRule, ...]  # empty: a policy that matches nothing
    dry_run: bool = False
    provider: str | None = None  # CUSTOM
    origin: Origin | None = None


@dataclass
class Inbound:
    """Traffic for the workload itself: one port of it, reached on the inbound listener."""

    port: int  # the workload (container) port
    service_port: int | None  # the Service port that targets it, if any
    protocol: str  # HTTP, HTTP2, GRPC, TCP …
    mode: PeerMode
    mode_origin: Origin | None
    app_cluster: str  # inbound|<port>||
    app_address: tuple[str, int]
    policies: list[AuthzPolicy] = field(default_factory=list)
    jwt: list[JwtProvider] = field(default_factory=list)
    trust_domains: tuple[str, ...] = ("cluster.local",)


# --------------------------------------------------------------------------------------------
# Telemetry


@dataclass(frozen=True)
class AccessLog:
    provider: str
    path: str = "/dev/stdout"
    format: str | None = None  # text format; None: Istio's default
    json_labels: tuple[tuple[str, str], ...] = ()  # JSON format: (key, command operator)
    filter: str | None = None  # CEL expression
    mode: Literal["CLIENT_AND_SERVER", "CLIENT", "SERVER"] = "CLIENT_AND_SERVER"
    origin: Origin | None = None


@dataclass(frozen=True)
class Tracing:
    provider: str
    kind: Literal["zipkin", "opentelemetry"]
    collector_cluster: str  # the cluster of the provider's service
    collector_host: str
    path: str = "/api/v2/spans"  # zipkin
    sampling: float | None = None
    custom_tags: tuple[tuple[str, str, str], ...] = ()  # (tag, kind literal|header|env, value)
    origin: Origin | None = None


@dataclass
class Telemetry:
    access_logs: list[AccessLog] = field(default_factory=list)
    tracing: Tracing | None = None
    metric_tags: list[tuple[str, str, Origin | None]] = field(default_factory=list)


# --------------------------------------------------------------------------------------------
# Listeners and the whole Plan


@dataclass(frozen=True)
class ServerTls:
    """A gateway server's TLS (terminating modes), or the inbound mTLS of a workload."""

    mode: Literal["SIMPLE", "MUTUAL", "OPTIONAL_MUTUAL", "ISTIO_MUTUAL"]
    certificate: str | None = None
    private_key: str | None = None
    ca_certificates: str | None = None
    credential_name: str | None = None
    subject_alt_names: tuple[str, ...] = ()
    min_version: str | None = None
    max_version: str | None = None
    cipher_suites: tuple[str, ...] = ()
    origin: Origin | None = None


@dataclass
class GatewayServer:
    port: int
    name: str
    protocol: str
    hosts: list[str]
    tls: ServerTls | None
    route_table: str | None  # name of its RouteTable (HTTP servers)
    passthrough: bool = False
    origin: Origin | None = None


@dataclass
class Identity:
    kind: Literal["workload", "gateway"]
    namespace: str
    name: str
    labels: dict[str, str]
    service_account: str
    trust_domain: str = "cluster.local"

    @property
    def spiffe(self) -> str:
        return f"spiffe://{self.trust_domain}/ns/{self.namespace}/sa/{self.service_account}"


@dataclass
class Certificates:
    """Where the proxy's certificate, key and the mesh root are (``--certs DIR``)."""

    cert_chain: str
    private_key: str
    root_cert: str


@dataclass
class Plan:
    identity: Identity
    route_tables: list[RouteTable] = field(default_factory=list)
    clusters: dict[str, Cluster] = field(default_factory=dict)
    inbound: list[Inbound] = field(default_factory=list)
    servers: list[GatewayServer] = field(default_factory=list)  # gateways only
    telemetry: Telemetry = field(default_factory=Telemetry)
    certificates: Certificates | None = None
    outbound_policy: Literal["ALLOW_ANY", "REGISTRY_ONLY"] = "ALLOW_ANY"
    # Addresses the proxy listens on locally (no iptables): set by the command line.
    listen: tuple[str, int] = ("127.0.0.1", 15001)
    inbound_listen: tuple[str, int] = ("127.0.0.1", 15006)
    admin: tuple[str, int] = ("127.0.0.1", 15000)
    port_offset: int = 0

    def route_table(self, name: str) -> RouteTable | None:
        for t in self.route_tables:
            if t.name == name:
                return t
        return None

    def to_data(self) -> dict[str, Any]:
        """The Plan as plain data (the included proxy's config, `/config_dump`)."""
        import dataclasses

        def plain(value: Any) -> Any:
            if dataclasses.is_dataclass(value) and not isinstance(value, type):
                return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
            if isinstance(value, dict):
                return {str(k): plain(v) for k, v in value.items()}
            if isinstance(value, (list, tuple)):
                return [plain(v) for v in value]
            if isinstance(value, bytes):
                return value.decode("latin-1")
            return value

        data: dict[str, Any] = plain(self)
        return data
