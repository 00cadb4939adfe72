"""networking.istio.io: VirtualService, DestinationRule, Gateway, ServiceEntry and Sidecar.

One model per kind serves all of its apiVersions (v1, v1beta1, v1alpha3 share one schema).
Class names follow Istio's API (HTTPRoute, TrafficPolicy, ...) so rules read like its docs.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_core import PydanticCustomError

from meshlint.models.common import (
    UINT32_MAX,
    Base64,
    Duration,
    Int32,
    IstioModel,
    NullableBool,
    NullablePercent,
    NullableUInt32,
    OneOfModel,
    Percentage,
    PortNumber,
    Resource,
    StringMap,
    StringMatch,
    UInt32,
    UInt64,
    WorkloadSelector,
    allow_null,
)

Hosts = list[str]
ExportTo = Annotated[
    list[str],
    Field(description="Namespaces the resource is visible to: '.' (its own), '*' (all) or names."),
]

# --------------------------------------------------------------------------------------------
# Shared by several kinds


class PortSelector(IstioModel):
    """A port of the destination service, by number."""

    number: PortNumber | None = None


class Destination(IstioModel):
    """A service (and optionally a subset and port) that traffic is sent to."""

    host: str = Field(
        description="A service from the registry: a short name, FQDN or ServiceEntry host."
    )
    subset: str | None = Field(
        None, description="A subset defined in a DestinationRule of the host."
    )
    port: PortSelector | None = None


WorkloadLabels = Annotated[dict[str, Annotated[str, Field(max_length=63)]], Field(max_length=256)]


class NetworkingWorkloadSelector(IstioModel):
    """The workloads (pods, VMs) this applies to, by their labels."""

    labels: WorkloadLabels | None = None


class TCPKeepalive(IstioModel):
    """TCP keepalive probes on upstream connections."""

    probes: UInt32 | None = None
    time: Duration | None = None
    interval: Duration | None = None


class TCPSettings(IstioModel):
    """Limits on TCP connections to each host."""

    max_connections: Int32 | None = None
    connect_timeout: Duration | None = None
    tcp_keepalive: TCPKeepalive | None = None
    max_connection_duration: Duration | None = None
    idle_timeout: Duration | None = None


class HTTP2KeepAlive(IstioModel):
    """HTTP/2 PING keepalives on upstream connections."""

    interval: Duration | None = None
    timeout: Duration | None = None


class HTTPSettings(IstioModel):
    """Limits on HTTP/1.1 and HTTP/2 requests and connections to each host."""

    http1_max_pending_requests: Int32 | None = None
    http2_max_requests: Int32 | None = None
    max_requests_per_connection: Int32 | None = None
    max_retries: Int32 | None = None
    idle_timeout: Duration | None = None
    h2_upgrade_policy: Literal["DEFAULT", "DO_NOT_UPGRADE", "UPGRADE"] | None = None
    use_client_protocol: bool | None = None
    max_concurrent_streams: Int32 | None = None
    http2_keep_alive: HTTP2KeepAlive | None = None


class ConnectionPoolSettings(IstioModel):
    """Connection pool limits (a circuit breaker) for TCP and HTTP."""

    tcp: TCPSettings | None = None
    http: HTTPSettings | None = None


ServerTLSMode = Literal[
    "PASSTHROUGH", "SIMPLE", "MUTUAL", "AUTO_PASSTHROUGH", "ISTIO_MUTUAL", "OPTIONAL_MUTUAL"
]
TLSProtocolVersion = Literal["TLS_AUTO", "TLSV1_0", "TLSV1_1", "TLSV1_2", "TLSV1_3"]


class TLSCertificate(IstioModel):
    """One server certificate with its key (files on the proxy)."""

    server_certificate: str | None = None
    private_key: str | None = None
    ca_certificates: str | None = None


class ServerTLSSettings(IstioModel):
    """TLS on a port that accepts connections (a Gateway server, a Sidecar ingress listener)."""

    https_redirect: bool | None = None
    mode: ServerTLSMode | None = Field(None, description="How the port handles TLS.")
    server_certificate: str | None = None
    private_key: str | None = None
    ca_certificates: str | None = None
    ca_crl: str | None = None
    credential_name: str | None = Field(
        None, description="A Secret holding the certificate, key and optionally the CA."
    )
    credential_names: Annotated[list[str], Field(min_length=1, max_length=2)] | None = None
    tls_certificates: Annotated[list[TLSCertificate], Field(min_length=1, max_length=2)] | None = (
        None
    )
    subject_alt_names: list[str] | None = None
    verify_certificate_spki: list[str] | None = None
    verify_certificate_hash: list[str] | None = None
    min_protocol_version: TLSProtocolVersion | None = None
    max_protocol_version: TLSProtocolVersion | None = None
    cipher_suites: list[str] | None = None
    ecdh_curves: list[str] | None = None
    ca_cert_credential_name: str | None = None
    insecure_skip_verify: NullableBool = None


# --------------------------------------------------------------------------------------------
# VirtualService


class Delegate(IstioModel):
    """Another VirtualService that holds the routes for this match."""

    name: str | None = None
    namespace: str | None = None


class HeaderOperations(IstioModel):
    """Headers to set (overwrite), add (append) or remove."""

    set: StringMap | None = None
    add: StringMap | None = None
    remove: list[str] | None = None


class Headers(IstioModel):
    """Header changes on the request and on the response."""

    request: HeaderOperations | None = None
    response: HeaderOperations | None = None


class HTTPMatchRequest(IstioModel):
    """Conditions a request must meet for its route to apply; all given conditions must hold."""

    name: str | None = None
    uri: StringMatch | None = Field(
        None, description="The path, matched exactly, by prefix or regex."
    )
    scheme: StringMatch | None = None
    method: StringMatch | None = None
    authority: StringMatch | None = None
    headers: dict[str, StringMatch] | None = Field(
        None, description="Request headers by lower-case name."
    )
    port: PortNumber | None = None
    source_labels: StringMap | None = None
    gateways: list[str] | None = None
    query_params: dict[str, StringMatch] | None = None
    ignore_uri_case: bool | None = None
    without_headers: dict[str, StringMatch] | None = None
    source_namespace: str | None = None
    stat_prefix: str | None = None


class HTTPRouteDestination(IstioModel):
    """A destination of an HTTP route, with its share of the traffic."""

    destination: Destination
    weight: Int32 | None = Field(
        None, description="Share of the traffic; weights of a route add up to 100."
    )
    headers: Headers | None = None


class RouteDestination(IstioModel):
    """A destination of a TCP or TLS route, with its share of the traffic."""

    destination: Destination
    weight: Int32 | None = None


class HTTPRedirect(OneOfModel):
    """Answer with a redirect instead of forwarding."""

    one_of = (("port", "derive_port"),)

    uri: str | None = None
    authority: str | None = None
    port: PortNumber | None = None
    derive_port: Literal["FROM_PROTOCOL_DEFAULT", "FROM_REQUEST_PORT"] | None = None
    scheme: str | None = None
    redirect_code: UInt32 | None = None
    prefix_rewrite: str | None = None


class HTTPBody(OneOfModel):
    """The body of a direct response, as text or as base64 bytes."""

    one_of = (("string", "bytes"),)

    string: str | None = None
    bytes: Base64 | None = None


class HTTPDirectResponse(IstioModel):
    """Answer with a fixed status and body instead of forwarding."""

    status: UInt32
    body: HTTPBody | None = None


class RegexRewrite(IstioModel):
    """Rewrite the path with an RE2 regular expression and its replacement."""

    match: str | None = None
    rewrite: str | None = None


class HTTPRewrite(IstioModel):
    """Rewrite the path or the authority before forwarding."""

    uri: str | None = None
    authority: str | None = None
    uri_regex_rewrite: RegexRewrite | None = None


class HTTPRetry(IstioModel):
    """How failed requests are retried."""

    attempts: Int32 | None = Field(None, description="How many times to retry a failed request.")
    per_try_timeout: Duration | None = Field(None, description="Timeout of each try, e.g. 2s.")
    retry_on: str | None = Field(
        None, description="Comma-separated conditions, e.g. 5xx,connect-failure,reset."
    )
    retry_remote_localities: NullableBool = None
    retry_ignore_previous_hosts: NullableBool = None
    backoff: Duration | None = None


class CorsPolicy(IstioModel):
    """Cross-origin resource sharing (CORS) answers."""

    allow_origin: list[str] | None = None
    allow_origins: list[StringMatch] | None = None
    allow_methods: list[str] | None = None
    allow_headers: list[str] | None = None
    expose_headers: list[str] | None = None
    max_age: Duration | None = None
    allow_credentials: NullableBool = None
    unmatched_preflights: Literal["UNSPECIFIED", "FORWARD", "IGNORE"] | None = None


class FaultDelay(OneOfModel):
    """Delay a share of the requests before forwarding them."""

    one_of = (("fixed_delay", "exponential_delay"),)

    fixed_delay: Duration | None = None
    exponential_delay: Duration | None = None
    percentage: Percentage | None = None
    percent: Int32 | None = None


class FaultAbort(OneOfModel):
    """Fail a share of the requests with an error code."""

    one_of = (("http_status", "grpc_status", "http2_error"),)

    http_status: Int32 | None = None
    grpc_status: str | None = None
    http2_error: str | None = None
    percentage: Percentage | None = None


class HTTPFaultInjection(IstioModel):
    """Faults to inject to test resilience: delays and aborts."""

    delay: FaultDelay | None = None
    abort: FaultAbort | None = None


class HTTPMirrorPolicy(IstioModel):
    """A destination that receives a copy of the traffic."""

    destination: Destination
    percentage: Percentage | None = None


class HTTPRoute(IstioModel):
    """An HTTP route: match conditions and what to do with matching requests."""

    name: str | None = None
    match: list[HTTPMatchRequest] | None = Field(
        None, description="Conditions (any of them); without match the route takes everything."
    )
    route: list[HTTPRouteDestination] | None = Field(
        None, description="Where matching requests go, with weights."
    )
    redirect: HTTPRedirect | None = None
    direct_response: HTTPDirectResponse | None = None
    delegate: Delegate | None = None
    rewrite: HTTPRewrite | None = None
    timeout: Duration | None = Field(None, description="Timeout of the whole request, e.g. 10s.")
    retries: HTTPRetry | None = None
    fault: HTTPFaultInjection | None = None
    mirror: Destination | None = None
    mirrors: list[HTTPMirrorPolicy] | None = None
    mirror_percent: NullableUInt32 = Field(None, alias="mirrorPercent")
    mirror_percent_snake: NullableUInt32 = Field(None, alias="mirror_percent")
    mirror_percentage: Percentage | None = None
    cors_policy: CorsPolicy | None = None
    headers: Headers | None = None


class L4MatchAttributes(IstioModel):
    """Conditions on a TCP connection."""

    destination_subnets: list[str] | None = None
    port: PortNumber | None = None
    source_labels: StringMap | None = None
    gateways: list[str] | None = None
    source_namespace: str | None = None
    source_subnet: str | None = None


class TLSMatchAttributes(IstioModel):
    """Conditions on a TLS connection, by its SNI."""

    sni_hosts: list[str]
    destination_subnets: list[str] | None = None
    port: PortNumber | None = None
    source_labels: StringMap | None = None
    gateways: list[str] | None = None
    source_namespace: str | None = None


class TCPRoute(IstioModel):
    """A route for opaque TCP traffic."""

    match: list[L4MatchAttributes] | None = None
    route: list[RouteDestination] | None = None


class TLSRoute(IstioModel):
    """A route for TLS traffic that is passed through, by SNI."""

    match: list[TLSMatchAttributes]
    route: list[RouteDestination] | None = None


class VirtualServiceSpec(IstioModel):
    """Routing rules for traffic to a set of hosts."""

    hosts: Hosts | None = Field(
        None, description="Hosts the rules apply to: service names, FQDNs or wildcards."
    )
    gateways: list[str] | None = Field(
        None, description="Gateways (namespace/name) and/or 'mesh' (the sidecars) to apply to."
    )
    http: list[HTTPRoute] | None = Field(None, description="HTTP routes, first match wins.")
    tls: list[TLSRoute] | None = Field(None, description="Routes for TLS passthrough traffic.")
    tcp: list[TCPRoute] | None = Field(None, description="Routes for opaque TCP traffic.")
    export_to: ExportTo | None = None


class VirtualService(Resource):
    """Istio VirtualService: how requests to a host are routed."""

    kind: Literal["VirtualService"]
    spec: VirtualServiceSpec | None = None


# --------------------------------------------------------------------------------------------
# DestinationRule


class CookieAttribute(IstioModel):
    name: str
    value: str | None = None


class HTTPCookie(IstioModel):
    """A cookie to hash on; Envoy creates it if the request has none."""

    name: str
    path: str | None = None
    ttl: Duration | None = None
    attributes: list[CookieAttribute] | None = None


class RingHash(IstioModel):
    minimum_ring_size: UInt64 | None = None


class MagLev(IstioModel):
    table_size: UInt64 | None = None


class ConsistentHashLB(OneOfModel):
    """Session affinity: hash a header, cookie, source IP or query parameter."""

    one_of = (
        ("http_header_name", "http_cookie", "use_source_ip", "http_query_parameter_name"),
        ("ring_hash", "maglev"),
    )

    http_header_name: str | None = None
    http_cookie: HTTPCookie | None = None
    use_source_ip: bool | None = None
    http_query_parameter_name: str | None = None
    ring_hash: RingHash | None = None
    maglev: MagLev | None = None
    minimum_ring_size: UInt64 | None = None


class BackendUtilizationLB(IstioModel):
    """Weigh endpoints by the utilization they report (ORCA)."""

    error_utilization_penalty_percent: UInt32 | None = None
    metric_names_for_computing_utilization: list[str] | None = None
    weight_expiration_period: Duration | None = None
    weight_stabilization_period: Duration | None = None
    weight_update_period: Duration | None = None


class LocalityDistribute(IstioModel):
    """How traffic from one locality is spread over others (weights per locality)."""

    from_: str | None = None
    to: dict[str, UInt32] | None = None


class LocalityFailover(IstioModel):
    """Where traffic from a region goes when its endpoints are unhealthy."""

    from_: str | None = None
    to: str | None = None


class LocalityLoadBalancerSetting(IstioModel):
    """Locality-aware load balancing: distribution and failover between localities."""

    distribute: list[LocalityDistribute] | None = None
    failover: list[LocalityFailover] | None = None
    failover_priority: list[str] | None = None
    enabled: NullableBool = None


class ZoneAwareLbSetting(IstioModel):
    """Zone-aware routing settings."""

    enabled: NullableBool = None
    failover: list[LocalityFailover] | None = None
    failover_priority: list[str] | None = None
    min_cluster_size: Annotated[
        Annotated[int, Field(ge=1, le=UINT32_MAX)] | None, Field(json_schema_extra=allow_null)
    ] = None


class WarmupConfiguration(IstioModel):
    """Slow start: ramp up the traffic to new endpoints."""

    duration: Duration
    minimum_percent: NullablePercent = None
    aggression: Annotated[
        Annotated[float, Field(ge=0)] | None, Field(json_schema_extra=allow_null)
    ] = None


SimpleLB = Literal[
    "UNSPECIFIED", "LEAST_CONN", "RANDOM", "PASSTHROUGH", "ROUND_ROBIN", "LEAST_REQUEST"
]


class LoadBalancerSettings(OneOfModel):
    """How endpoints are picked: a simple policy, consistent hashing or backend utilization."""

    one_of = (("simple", "consistent_hash", "backend_utilization"),)

    simple: SimpleLB | None = None
    consistent_hash: ConsistentHashLB | None = None
    backend_utilization: BackendUtilizationLB | None = None
    locality_lb_setting: LocalityLoadBalancerSetting | None = None
    warmup_duration_secs: Duration | None = None
    warmup: WarmupConfiguration | None = None
    zone_aware_lb_setting: ZoneAwareLbSetting | None = None


class OutlierDetection(IstioModel):
    """Eject hosts that keep failing from the load-balancing pool (a circuit breaker)."""

    split_external_local_origin_errors: bool | None = None
    consecutive_local_origin_failures: NullableUInt32 = None
    consecutive_gateway_errors: NullableUInt32 = None
    consecutive_5xx_errors: NullableUInt32 = None
    interval: Duration | None = None
    base_ejection_time: Duration | None = None
    max_ejection_percent: Int32 | None = None
    min_health_percent: Int32 | None = None
    consecutive_errors: Int32 | None = None
    outlier_detection_http_error_codes: list[Annotated[int, Field(ge=100, le=599)]] | None = None


class ClientTLSSettings(IstioModel):
    """TLS for connections to the destination."""

    mode: Literal["DISABLE", "SIMPLE", "MUTUAL", "ISTIO_MUTUAL"] | None = Field(
        None, description="ISTIO_MUTUAL uses the mesh's certificates; MUTUAL your own."
    )
    client_certificate: str | None = None
    private_key: str | None = None
    ca_certificates: str | None = None
    credential_name: str | None = None
    subject_alt_names: list[str] | None = None
    sni: str | None = None
    insecure_skip_verify: NullableBool = None
    ca_crl: str | None = None


class PortTrafficPolicy(IstioModel):
    """Traffic policy for one port of the destination; it replaces the whole-host policy."""

    port: PortSelector | None = None
    load_balancer: LoadBalancerSettings | None = None
    connection_pool: ConnectionPoolSettings | None = None
    outlier_detection: OutlierDetection | None = None
    tls: ClientTLSSettings | None = None


class TunnelSettings(IstioModel):
    """Tunnel TCP traffic through a proxy with HTTP CONNECT or POST."""

    protocol: str | None = None
    target_host: str
    target_port: UInt32


class ProxyProtocol(IstioModel):
    version: Literal["V1", "V2"] | None = None


class RetryBudget(IstioModel):
    """A limit on concurrent retries, relative to active requests."""

    percent: NullablePercent = None
    min_retry_concurrency: UInt32 | None = None
    budget_interval: Duration | None = None


class TrafficPolicy(IstioModel):
    """Policies for traffic to the host: load balancing, connection pools, outlier detection, TLS."""

    load_balancer: LoadBalancerSettings | None = None
    connection_pool: ConnectionPoolSettings | None = None
    outlier_detection: OutlierDetection | None = None
    tls: ClientTLSSettings | None = None
    port_level_settings: Annotated[list[PortTrafficPolicy], Field(max_length=4096)] | None = None
    tunnel: TunnelSettings | None = None
    proxy_protocol: ProxyProtocol | None = None
    retry_budget: RetryBudget | None = None


class Subset(IstioModel):
    """A named group of the host's endpoints, by label (e.g. a version)."""

    name: str = Field(description="The subset's name, referred to by routes.")
    labels: StringMap | None = Field(None, description="Labels that select the endpoints.")
    traffic_policy: TrafficPolicy | None = None


class DestinationRuleSpec(IstioModel):
    """Policies for traffic to a service, after routing."""

    host: str = Field(description="The service the rule is for: a short name, FQDN or wildcard.")
    traffic_policy: TrafficPolicy | None = None
    subsets: list[Subset] | None = Field(None, description="Named versions of the service.")
    export_to: ExportTo | None = None
    workload_selector: WorkloadSelector | None = None


class DestinationRule(Resource):
    """Istio DestinationRule: subsets and traffic policies of a destination."""

    kind: Literal["DestinationRule"]
    spec: DestinationRuleSpec | None = None


# --------------------------------------------------------------------------------------------
# Gateway


class Port(IstioModel):
    """A port a gateway listens on."""

    number: PortNumber
    protocol: str = Field(description="HTTP, HTTPS, GRPC, GRPC-WEB, HTTP2, MONGO, TCP or TLS.")
    name: str
    target_port: PortNumber | None = None


class Server(IstioModel):
    """A port of the gateway, the hosts it serves and their TLS."""

    port: Port
    bind: str | None = None
    hosts: Hosts = Field(description="Hosts exposed on this port, optionally namespace/host.")
    tls: ServerTLSSettings | None = None
    default_endpoint: str | None = None
    name: str | None = None


class GatewaySpec(IstioModel):
    """A load balancer at the edge of the mesh: its ports, hosts and TLS."""

    servers: list[Server] | None = None
    selector: StringMap | None = Field(
        None, description="Labels of the gateway pods that apply this configuration."
    )


class Gateway(Resource):
    """Istio Gateway: ports and hosts a gateway proxy exposes."""

    kind: Literal["Gateway"]
    spec: GatewaySpec | None = None


# --------------------------------------------------------------------------------------------
# ServiceEntry


class ServicePort(IstioModel):
    """A port of a service entry."""

    number: PortNumber
    protocol: Annotated[str, Field(max_length=256)] | None = None
    name: Annotated[str, Field(max_length=256)]
    target_port: PortNumber | None = None


class WorkloadEntry(IstioModel):
    """An endpoint of a service entry: an address (IP, host name or unix socket) and ports."""

    address: Annotated[str, Field(max_length=256)] | None = None
    ports: Annotated[dict[str, UInt32], Field(max_length=128)] | None = None
    labels: Annotated[StringMap, Field(max_length=256)] | None = None
    network: Annotated[str, Field(max_length=2048)] | None = None
    locality: Annotated[str, Field(max_length=2048)] | None = None
    weight: UInt32 | None = None
    service_account: Annotated[str, Field(max_length=253)] | None = None


Addresses = Annotated[list[Annotated[str, Field(max_length=64)]], Field(max_length=256)]


class ServiceEntrySpec(IstioModel):
    """A service added to the mesh's registry, such as an external API."""

    hosts: Annotated[Hosts, Field(min_length=1, max_length=256)] = Field(
        description="Host names of the service."
    )
    addresses: Addresses | None = None
    ports: Annotated[list[ServicePort], Field(max_length=256)] | None = None
    location: Literal["MESH_EXTERNAL", "MESH_INTERNAL"] | None = None
    resolution: Literal["NONE", "STATIC", "DNS", "DNS_ROUND_ROBIN", "DYNAMIC_DNS"] | None = Field(
        None,
        description="How endpoints are found: NONE, STATIC, DNS, DNS_ROUND_ROBIN, DYNAMIC_DNS.",
    )
    endpoints: Annotated[list[WorkloadEntry], Field(max_length=4096)] | None = None
    workload_selector: NetworkingWorkloadSelector | None = None
    export_to: ExportTo | None = None
    subject_alt_names: list[str] | None = None

    @field_validator("ports")
    @classmethod
    def _port_names_unique(cls, ports: list[ServicePort] | None) -> list[ServicePort] | None:
        # The CRD makes ports a list-map keyed by name: the API server rejects a repeated name.
        first: dict[str, int] = {}
        for i, port in enumerate(ports or ()):
            if port.name in first:
                raise PydanticCustomError(
                    "duplicate_key",
                    "ports {first} and {second} have the same name '{name}'; each port needs "
                    "its own name",
                    {"first": first[port.name], "second": i, "name": port.name},
                )
            first[port.name] = i
        return ports


class ServiceEntry(Resource):
    """Istio ServiceEntry: a service that Kubernetes does not know of."""

    kind: Literal["ServiceEntry"]
    spec: ServiceEntrySpec  # the one kind whose CRD requires a spec


# --------------------------------------------------------------------------------------------
# Sidecar


class SidecarPort(IstioModel):
    """A port of a sidecar listener."""

    number: PortNumber | None = None
    protocol: str | None = None
    name: str | None = None
    target_port: PortNumber | None = None


CaptureMode = Literal["DEFAULT", "IPTABLES", "NONE"]


class IstioIngressListener(IstioModel):
    """A listener for inbound traffic to the workload."""

    port: SidecarPort
    bind: str | None = None
    capture_mode: CaptureMode | None = None
    default_endpoint: str | None = None
    tls: ServerTLSSettings | None = None
    connection_pool: ConnectionPoolSettings | None = None


class IstioEgressListener(IstioModel):
    """A listener for outbound traffic from the workload, and the hosts it can reach."""

    port: SidecarPort | None = None
    bind: str | None = None
    capture_mode: CaptureMode | None = None
    hosts: Hosts = Field(
        description="Reachable hosts as namespace/dnsName, e.g. ./* or istio-system/*."
    )


class OutboundTrafficPolicy(IstioModel):
    """What happens to traffic to hosts not in the registry."""

    mode: Literal["REGISTRY_ONLY", "ALLOW_ANY"] | None = None
    egress_proxy: Destination | None = None


class SidecarSpec(IstioModel):
    """The ports and hosts a workload's sidecar proxy handles."""

    workload_selector: NetworkingWorkloadSelector | None = None
    ingress: list[IstioIngressListener] | None = None
    egress: list[IstioEgressListener] | None = None
    inbound_connection_pool: ConnectionPoolSettings | None = None
    outbound_traffic_policy: OutboundTrafficPolicy | None = None


class Sidecar(Resource):
    """Istio Sidecar: narrows what a workload's proxy listens to and can reach."""

    kind: Literal["Sidecar"]
    spec: SidecarSpec | None = None
