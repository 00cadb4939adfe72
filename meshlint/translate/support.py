"""What the translation does with each field of the nine Istio kinds.

One table, read three ways: the translator reports every field a used resource sets that is not
translated (a warning with its place and this table's reason), docs/translation.md is generated
from it, and a test checks that it names every field the models know, so it cannot go stale.

A pattern names a field and everything under it: list indices are written ``[]`` and map keys
are not written (``spec.http[].headers.request.set`` covers every header name). The traffic
policies of DestinationRule subsets and port-level settings are looked up as the top-level
``spec.trafficPolicy`` ones.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from meshlint.diagnostics import FieldPath


@dataclass(frozen=True)
class Support:
    pattern: str
    envoy: bool  # translated into the Envoy bootstrap
    how: str  # what it becomes, or why it is not translated

    @property
    def proxy(self) -> bool:
        """Run by the included proxy: what Envoy gets, but for PROXY_LACKS."""
        return self.envoy and self.pattern not in PROXY_LACKS


_VS = [
    Support("spec.hosts", True, "virtual hosts and their domains (short name, name.ns, FQDN)"),
    Support("spec.gateways", True, "which proxies get the routes (`mesh`: sidecars)"),
    Support("spec.exportTo", True, "visibility: namespaces that do not see it get no routes"),
    Support("spec.http[].name", True, "`Route.name` (with the match's name)"),
    Support("spec.http[].match[].name", True, "`Route.name`"),
    Support("spec.http[].match[].uri", True, "`RouteMatch.path` / `prefix` / `safe_regex`"),
    Support("spec.http[].match[].ignoreUriCase", True, "`RouteMatch.case_sensitive: false`"),
    Support("spec.http[].match[].headers", True, "`RouteMatch.headers`"),
    Support("spec.http[].match[].withoutHeaders", True, "`RouteMatch.headers` with invert_match"),
    Support("spec.http[].match[].method", True, "`:method` header matcher"),
    Support("spec.http[].match[].authority", True, "`:authority` header matcher"),
    Support("spec.http[].match[].scheme", True, "`:scheme` header matcher"),
    Support("spec.http[].match[].queryParams", True, "`RouteMatch.query_parameters`"),
    Support("spec.http[].match[].port", True, "the route is kept only on that port"),
    Support("spec.http[].match[].sourceLabels", True, "kept only if the proxy's labels match"),
    Support("spec.http[].match[].sourceNamespace", True, "kept only for proxies of that namespace"),
    Support("spec.http[].match[].gateways", True, "kept only for the proxies named"),
    Support("spec.http[].match[].statPrefix", True, "`Route.stat_prefix`"),
    Support("spec.http[].route[].destination", True, "the cluster `outbound|port|subset|host`"),
    Support("spec.http[].route[].weight", True, "`weighted_clusters` (zero weights dropped)"),
    Support("spec.http[].route[].headers", True, "header edits on the route or weighted cluster"),
    Support("spec.http[].headers", True, "`request_headers_to_add` / `_to_remove`, response too"),
    Support("spec.http[].redirect", True, "`Route.redirect`"),
    Support("spec.http[].directResponse", True, "`Route.direct_response`"),
    Support(
        "spec.http[].rewrite", True, "`prefix_rewrite`, `regex_rewrite`, `host_rewrite_literal`"
    ),
    Support("spec.http[].timeout", True, "`RouteAction.timeout` (absent: 0s, no timeout)"),
    Support("spec.http[].retries", True, "`RouteAction.retry_policy` (absent: Istio's default)"),
    Support("spec.http[].fault.delay", True, "`HTTPFault.delay`"),
    Support("spec.http[].fault.delay.fixedDelay", True, "`HTTPFault.delay.fixed_delay`"),
    Support("spec.http[].fault.delay.percentage", True, "`HTTPFault.delay.percentage`"),
    Support("spec.http[].fault.delay.percent", True, "`HTTPFault.delay.percentage` (/HUNDRED)"),
    Support(
        "spec.http[].fault.delay.exponentialDelay",
        False,
        "Istio does not support it either: the delay is dropped",
    ),
    Support("spec.http[].fault.abort", True, "`HTTPFault.abort`"),
    Support("spec.http[].fault.abort.httpStatus", True, "`HTTPFault.abort.http_status`"),
    Support("spec.http[].fault.abort.grpcStatus", True, "`HTTPFault.abort.grpc_status`"),
    Support("spec.http[].fault.abort.percentage", True, "`HTTPFault.abort.percentage`"),
    Support(
        "spec.http[].fault.abort.http2Error",
        False,
        "Istio does not support it either: the abort is dropped",
    ),
    Support("spec.http[].mirror", True, "`request_mirror_policies`"),
    Support("spec.http[].mirrors", True, "`request_mirror_policies`"),
    Support("spec.http[].mirrorPercentage", True, "`request_mirror_policies[].runtime_fraction`"),
    Support("spec.http[].mirrorPercent", True, "`request_mirror_policies[].runtime_fraction`"),
    Support("spec.http[].mirror_percent", True, "`request_mirror_policies[].runtime_fraction`"),
    Support("spec.http[].corsPolicy", True, "per-route `CorsPolicy` with the cors filter"),
    Support("spec.http[].delegate", True, "the delegate's routes, inlined in the root's rule"),
    Support(
        "spec.tcp",
        False,
        "the local outbound listener routes HTTP by Host; TCP routes need a listener per "
        "destination address, which a proxy without traffic capture does not have",
    ),
    Support(
        "spec.tls",
        False,
        "the local outbound listener routes HTTP by Host; TLS (SNI) routes need traffic "
        "capture, which a proxy run locally does not have",
    ),
]

_TP = "spec.trafficPolicy"
_DR = [
    Support("spec.host", True, "the clusters of that host"),
    Support("spec.exportTo", True, "visibility: namespaces that do not see it use no policy"),
    Support("spec.workloadSelector", True, "applied only to the workloads selected"),
    Support("spec.subsets[].name", True, "a cluster `outbound|port|<subset>|host`"),
    Support("spec.subsets[].labels", True, "the endpoints of the subset's cluster"),
    Support(f"{_TP}.portLevelSettings[].port", True, "the policy of that port's clusters"),
    Support(f"{_TP}.connectionPool.tcp.maxConnections", True, "circuit_breakers.max_connections"),
    Support(f"{_TP}.connectionPool.tcp.connectTimeout", True, "`Cluster.connect_timeout`"),
    Support(f"{_TP}.connectionPool.tcp.tcpKeepalive", True, "upstream tcp_keepalive"),
    Support(
        f"{_TP}.connectionPool.tcp.maxConnectionDuration",
        True,
        "HttpProtocolOptions max_connection_duration",
    ),
    Support(f"{_TP}.connectionPool.tcp.idleTimeout", True, "HttpProtocolOptions idle_timeout"),
    Support(
        f"{_TP}.connectionPool.http.http1MaxPendingRequests",
        True,
        "circuit_breakers.max_pending_requests",
    ),
    Support(f"{_TP}.connectionPool.http.http2MaxRequests", True, "circuit_breakers.max_requests"),
    Support(f"{_TP}.connectionPool.http.maxRetries", True, "circuit_breakers.max_retries"),
    Support(
        f"{_TP}.connectionPool.http.maxRequestsPerConnection",
        True,
        "HttpProtocolOptions max_requests_per_connection",
    ),
    Support(f"{_TP}.connectionPool.http.idleTimeout", True, "HttpProtocolOptions idle_timeout"),
    Support(f"{_TP}.connectionPool.http.h2UpgradePolicy", True, "HTTP/2 to the upstream"),
    Support(f"{_TP}.connectionPool.http.useClientProtocol", True, "use_downstream_protocol"),
    Support(
        f"{_TP}.connectionPool.http.maxConcurrentStreams",
        True,
        "http2_protocol_options.max_concurrent_streams",
    ),
    Support(
        f"{_TP}.connectionPool.http.http2KeepAlive",
        True,
        "http2_protocol_options.connection_keepalive",
    ),
    Support(f"{_TP}.loadBalancer", True, "the cluster's load balancing (an empty block: Istio's)"),
    Support(f"{_TP}.loadBalancer.simple", True, "`Cluster.lb_policy`"),
    Support(
        f"{_TP}.loadBalancer.consistentHash",
        True,
        "RING_HASH / MAGLEV on the cluster and `hash_policy` on the routes to it",
    ),
    Support(
        f"{_TP}.loadBalancer.localityLbSetting.enabled",
        True,
        "locality-weighted load balancing where endpoints carry a locality",
    ),
    Support(
        f"{_TP}.loadBalancer.localityLbSetting.distribute",
        False,
        "needs the proxy's own locality, which a proxy run locally does not have",
    ),
    Support(
        f"{_TP}.loadBalancer.localityLbSetting.failover",
        False,
        "needs the proxy's own locality, which a proxy run locally does not have",
    ),
    Support(
        f"{_TP}.loadBalancer.localityLbSetting.failoverPriority",
        False,
        "needs the proxy's own locality labels, which a proxy run locally does not have",
    ),
    Support(
        f"{_TP}.loadBalancer.zoneAwareLbSetting",
        False,
        "needs a local cluster of the proxy's own zone, which a static bootstrap does not have",
    ),
    Support(f"{_TP}.loadBalancer.warmup", True, "slow_start_config"),
    Support(f"{_TP}.loadBalancer.warmupDurationSecs", True, "slow_start_config"),
    Support(
        f"{_TP}.loadBalancer.backendUtilization",
        False,
        "needs ORCA load reports from the backends, which meshlint does not configure",
    ),
    Support(f"{_TP}.outlierDetection", True, "`Cluster.outlier_detection`"),
    Support(
        f"{_TP}.outlierDetection.consecutiveErrors",
        False,
        "deprecated; current Istio ignores it too (use consecutive5xxErrors)",
    ),
    Support(
        f"{_TP}.outlierDetection.outlierDetectionHttpErrorCodes",
        True,
        "HttpProtocolOptions outlier_detection.error_matcher",
    ),
    Support(f"{_TP}.tls.mode", True, "the cluster's UpstreamTlsContext (or none)"),
    Support(f"{_TP}.tls.sni", True, "`UpstreamTlsContext.sni`"),
    Support(f"{_TP}.tls.subjectAltNames", True, "match_typed_subject_alt_names"),
    Support(f"{_TP}.tls.caCertificates", True, "validation_context.trusted_ca"),
    Support(f"{_TP}.tls.clientCertificate", True, "tls_certificates"),
    Support(f"{_TP}.tls.privateKey", True, "tls_certificates"),
    Support(f"{_TP}.tls.insecureSkipVerify", True, "no certificate verification"),
    Support(f"{_TP}.tls.caCrl", True, "validation_context.crl"),
    Support(
        f"{_TP}.tls.credentialName",
        False,
        "a Kubernetes Secret read over SDS; give the files (caCertificates, clientCertificate, "
        "privateKey) instead",
    ),
    Support(f"{_TP}.proxyProtocol", True, "the upstream proxy_protocol transport socket"),
    Support(f"{_TP}.retryBudget", True, "circuit_breakers.retry_budget"),
    Support(
        f"{_TP}.tunnel",
        False,
        "applies to TCP listeners only, which the local layout does not serve",
    ),
]

_GW = [
    Support("spec.selector", True, "the gateway proxies that serve it (--gateway)"),
    Support("spec.servers[].port.number", True, "a listener on that port (+ --port-offset)"),
    Support("spec.servers[].port.protocol", True, "HTTP connection manager or TLS termination"),
    Support("spec.servers[].port.name", True, "part of the route configuration's name"),
    Support(
        "spec.servers[].port.targetPort",
        False,
        "deprecated, and ignored by Istio: the listener uses the port number",
    ),
    Support("spec.servers[].bind", True, "the listener's address"),
    Support("spec.servers[].hosts", True, "virtual hosts: the bound VirtualServices' hosts"),
    Support("spec.servers[].name", True, "the connection manager's stat_prefix"),
    Support(
        "spec.servers[].defaultEndpoint",
        False,
        "applies to Sidecar ingress only; Istio ignores it on a Gateway",
    ),
    Support("spec.servers[].tls.mode", True, "DownstreamTlsContext"),
    Support("spec.servers[].tls.httpsRedirect", True, "`VirtualHost.require_tls: ALL`"),
    Support("spec.servers[].tls.serverCertificate", True, "tls_certificates"),
    Support("spec.servers[].tls.privateKey", True, "tls_certificates"),
    Support("spec.servers[].tls.caCertificates", True, "validation_context.trusted_ca"),
    Support("spec.servers[].tls.tlsCertificates", True, "several tls_certificates"),
    Support("spec.servers[].tls.subjectAltNames", True, "match_typed_subject_alt_names"),
    Support("spec.servers[].tls.minProtocolVersion", True, "tls_params"),
    Support("spec.servers[].tls.maxProtocolVersion", True, "tls_params"),
    Support("spec.servers[].tls.cipherSuites", True, "tls_params.cipher_suites"),
    Support("spec.servers[].tls.ecdhCurves", True, "tls_params.ecdh_curves"),
    Support("spec.servers[].tls.verifyCertificateSpki", True, "validation_context"),
    Support("spec.servers[].tls.verifyCertificateHash", True, "validation_context"),
    Support("spec.servers[].tls.caCrl", True, "validation_context.crl"),
    Support("spec.servers[].tls.insecureSkipVerify", True, "ACCEPT_UNTRUSTED"),
    Support(
        "spec.servers[].tls.credentialName",
        True,
        "the certificate `meshlint certs` minted for the credential, or --certs files",
    ),
    Support(
        "spec.servers[].tls.credentialNames",
        True,
        "the certificate `meshlint certs` minted for the first credential",
    ),
    Support(
        "spec.servers[].tls.caCertCredentialName",
        False,
        "a Kubernetes Secret read over SDS; give caCertificates instead",
    ),
]

_SE = [
    Support("spec.hosts", True, "clusters and virtual hosts of each host"),
    Support("spec.addresses", True, "extra domains of the virtual hosts"),
    Support("spec.ports", True, "one cluster per port"),
    Support("spec.location", True, "MESH_INTERNAL: auto-mTLS to endpoints that take it"),
    Support("spec.resolution", True, "STATIC, STRICT_DNS (DNS) or LOGICAL_DNS (DNS_ROUND_ROBIN)"),
    Support("spec.endpoints[].address", True, "`load_assignment` endpoints"),
    Support("spec.endpoints[].ports", True, "the endpoint's port"),
    Support("spec.endpoints[].labels", True, "subset membership"),
    Support("spec.endpoints[].weight", True, "`load_balancing_weight`"),
    Support("spec.endpoints[].locality", True, "`LocalityLbEndpoints.locality`"),
    Support(
        "spec.endpoints[].network",
        False,
        "multi-network routing goes through east-west gateways, which a local proxy does not have",
    ),
    Support("spec.endpoints[].serviceAccount", True, "the SAN checked with ISTIO_MUTUAL"),
    Support("spec.subjectAltNames", True, "the SANs checked with ISTIO_MUTUAL"),
    Support("spec.exportTo", True, "visibility"),
    Support("spec.workloadSelector", True, "endpoints from the WorkloadEntries it selects"),
]

_SC = [
    Support("spec.workloadSelector", True, "which workloads it applies to"),
    Support("spec.egress[].hosts", True, "the services the proxy sees (virtual hosts, clusters)"),
    Support(
        "spec.egress[].port",
        False,
        "a listener per egress port needs traffic capture; the local listener serves every port",
    ),
    Support("spec.egress[].bind", False, "the local layout binds --listen instead"),
    Support("spec.egress[].captureMode", False, "no traffic capture when run locally"),
    Support("spec.outboundTrafficPolicy.mode", True, "the catch-all virtual host"),
    Support(
        "spec.outboundTrafficPolicy.egressProxy",
        False,
        "deprecated; the catch-all goes to PassthroughCluster or is blocked",
    ),
    Support(
        "spec.ingress",
        False,
        "the local inbound listener (--inbound) takes one workload port, forwarded to --app",
    ),
    Support("spec.inboundConnectionPool", True, "circuit breakers of the inbound cluster"),
]

_PA = [
    Support("spec.selector", True, "which workloads it applies to"),
    Support("spec.mtls.mode", True, "the inbound listener's TLS: STRICT, PERMISSIVE, DISABLE"),
    Support("spec.portLevelMtls", True, "the mode of that workload port"),
]

_RA = [
    Support("spec.selector", True, "which workloads it applies to"),
    Support("spec.targetRef", True, "which gateways it applies to"),
    Support("spec.targetRefs", True, "which gateways it applies to"),
    Support("spec.jwtRules[].issuer", True, "`JwtProvider.issuer`"),
    Support("spec.jwtRules[].audiences", True, "`JwtProvider.audiences`"),
    Support("spec.jwtRules[].jwks", True, "`JwtProvider.local_jwks`"),
    Support(
        "spec.jwtRules[].jwksUri",
        True,
        "`remote_jwks` through a cluster of the URI's host (a cluster is added)",
    ),
    Support("spec.jwtRules[].jwks_uri", True, "`remote_jwks`"),
    Support("spec.jwtRules[].timeout", True, "`remote_jwks.http_uri.timeout`"),
    Support("spec.jwtRules[].fromHeaders", True, "`JwtProvider.from_headers`"),
    Support("spec.jwtRules[].fromParams", True, "`JwtProvider.from_params`"),
    Support("spec.jwtRules[].fromCookies", True, "`JwtProvider.from_cookies`"),
    Support("spec.jwtRules[].forwardOriginalToken", True, "`JwtProvider.forward`"),
    Support("spec.jwtRules[].outputPayloadToHeader", True, "`forward_payload_header`"),
    Support("spec.jwtRules[].outputClaimToHeaders", True, "`claim_to_headers`"),
    Support("spec.jwtRules[].spaceDelimitedClaims", True, "`normalize_payload_in_metadata`"),
    Support(
        "spec.jwtRules[].presence",
        False,
        "too recent for the Envoy meshlint targets: tokens stay optional unless an "
        "AuthorizationPolicy requires a request principal",
    ),
]

_AP = [
    Support("spec", True, "a policy without rules matches nothing"),
    Support("spec.selector", True, "which workloads it applies to"),
    Support("spec.targetRef", True, "which gateways it applies to"),
    Support("spec.targetRefs", True, "which gateways it applies to"),
    Support("spec.action", True, "RBAC filters: CUSTOM, DENY, ALLOW (implicit deny), AUDIT"),
    Support(
        "spec.provider",
        False,
        "CUSTOM providers are external authorizers (ext_authz) that meshlint does not run; "
        "the policy is reported and not enforced",
    ),
    Support("spec.rules[].from[].source", True, "RBAC principals"),
    Support("spec.rules[].to[].operation", True, "RBAC permissions"),
    Support("spec.rules[].when[]", True, "RBAC principals or permissions, by key"),
]

_TM = [
    Support("spec.selector", True, "which workloads it applies to"),
    Support("spec.targetRef", True, "which gateways it applies to"),
    Support("spec.targetRefs", True, "which gateways it applies to"),
    Support("spec.accessLogging[].providers", True, "`access_log` of the connection managers"),
    Support("spec.accessLogging[].disabled", True, "no access log"),
    Support("spec.accessLogging[].filter", True, "the CEL access-log filter"),
    Support("spec.accessLogging[].match", True, "client (outbound, gateway) or server side"),
    Support(
        "spec.metrics",
        False,
        "Istio's metrics come from an Istio-only filter (istio.stats); the proxy exposes "
        "Envoy's native statistics on /stats/prometheus instead",
    ),
    Support(
        "spec.tracing[].providers",
        True,
        "`HttpConnectionManager.tracing.provider` when the provider's collector is known",
    ),
    Support("spec.tracing[].randomSamplingPercentage", True, "`tracing.random_sampling`"),
    Support("spec.tracing[].customTags", True, "`tracing.custom_tags`"),
    Support("spec.tracing[].disableSpanReporting", True, "no tracing block"),
    Support("spec.tracing[].match", True, "client or server side"),
    Support("spec.tracing[].useRequestIdForTraceSampling", True, "`request_id_extension`"),
    Support("spec.tracing[].disableContextPropagation", True, "`tracing.no_context_propagation`"),
    Support(
        "spec.tracing[].enableIstioTags",
        False,
        "Istio's tags read Istio's node metadata, which a static bootstrap does not carry",
    ),
]

TABLE: dict[str, list[Support]] = {
    "VirtualService": _VS,
    "DestinationRule": _DR,
    "Gateway": _GW,
    "ServiceEntry": _SE,
    "Sidecar": _SC,
    "PeerAuthentication": _PA,
    "RequestAuthentication": _RA,
    "AuthorizationPolicy": _AP,
    "Telemetry": _TM,
}

_PORT = re.compile(r"portLevelSettings\[\]\.port(?:\.|$)")
_POLICY = re.compile(r"^spec\.(?:subsets\[\]\.)?trafficPolicy(?:\.portLevelSettings\[\])?\.")


def normalise(path: FieldPath) -> str:
    """``('spec', 'http', 0, 'timeout')`` → ``spec.http[].timeout``; the policies of subsets
    and port-level settings read as the top-level ``spec.trafficPolicy``."""
    out = ""
    for elem in path:
        if isinstance(elem, int):
            out += "[]"
        else:
            out += f".{elem}" if out else str(elem)
    if "trafficPolicy" in out:
        if _PORT.search(out):
            out = out.replace("spec.subsets[].trafficPolicy", "spec.trafficPolicy", 1)
        else:
            out = _POLICY.sub("spec.trafficPolicy.", out)
    return out


def lookup(kind: str, path: FieldPath) -> Support | None:
    """The entry that covers a field (the longest pattern that is the field or above it)."""
    return _lookup(kind, normalise(path))


@functools.lru_cache(maxsize=4096)
def _lookup(kind: str, text: str) -> Support | None:
    best: Support | None = None
    for s in TABLE.get(kind, ()):
        p = s.pattern
        if (text == p or text.startswith(p + ".") or text.startswith(p + "[")) and (
            best is None or len(p) > len(best.pattern)
        ):
            best = s
    return best


# What the Envoy bootstrap has and the included proxy does not run, and why (a field here is
# reported, ML001, when the translation is for the proxy).
_HTTP1 = "the included proxy speaks HTTP/1.1 to upstreams"
PROXY_LACKS: dict[str, str] = {
    f"{_TP}.connectionPool.tcp.maxConnectionDuration": "connections are not aged by the proxy",
    f"{_TP}.connectionPool.http.h2UpgradePolicy": _HTTP1,
    f"{_TP}.connectionPool.http.useClientProtocol": _HTTP1,
    f"{_TP}.connectionPool.http.maxConcurrentStreams": _HTTP1,
    f"{_TP}.connectionPool.http.http2KeepAlive": _HTTP1,
    f"{_TP}.loadBalancer.warmup": "the proxy has no slow start",
    f"{_TP}.loadBalancer.warmupDurationSecs": "the proxy has no slow start",
    f"{_TP}.outlierDetection.outlierDetectionHttpErrorCodes": "the proxy counts 5xx only",
    f"{_TP}.tls.caCrl": "the proxy loads no revocation lists",
    f"{_TP}.proxyProtocol": "the proxy sends no PROXY protocol header",
    f"{_TP}.retryBudget": "the proxy limits retries by maxRetries only",
    "spec.servers[].tls.ecdhCurves": "Python's ssl module sets one curve, not a list",
    "spec.servers[].tls.verifyCertificateSpki": "the proxy checks client certificates by CA",
    "spec.servers[].tls.verifyCertificateHash": "the proxy checks client certificates by CA",
    "spec.servers[].tls.caCrl": "the proxy loads no revocation lists",
    "spec.servers[].tls.tlsCertificates": "the proxy serves one certificate per server",
    "spec.servers[].tls.credentialNames": "the proxy serves one certificate per server",
    "spec.inboundConnectionPool": "the proxy's connection to the application has no limits",
    "spec.jwtRules[].jwksUri": "the proxy fetches no remote JWKS: give `jwks` inline",
    "spec.jwtRules[].jwks_uri": "the proxy fetches no remote JWKS: give `jwks` inline",
    "spec.jwtRules[].timeout": "the proxy fetches no remote JWKS",
    "spec.jwtRules[].spaceDelimitedClaims": "the proxy matches claims as given",
    "spec.tracing[].providers": "the proxy sends no spans",
    "spec.tracing[].randomSamplingPercentage": "the proxy sends no spans",
    "spec.tracing[].customTags": "the proxy sends no spans",
    "spec.tracing[].disableSpanReporting": "the proxy sends no spans",
    "spec.tracing[].match": "the proxy sends no spans",
    "spec.tracing[].useRequestIdForTraceSampling": "the proxy sends no spans",
    "spec.tracing[].disableContextPropagation": "the proxy sends no spans",
}


# Where the policies of DestinationRule subsets and port-level settings read as the top-level one.
_ALIASES = {
    "spec.subsets[].trafficPolicy": "spec.trafficPolicy",
    "spec.trafficPolicy.portLevelSettings[]": "spec.trafficPolicy",
}


@functools.lru_cache(maxsize=32)
def _left_out(kind: str, target: str) -> tuple[frozenset[str], dict[str, Support]]:
    """The entries of a kind that are not translated, and every prefix on the way to one."""
    entries = {s.pattern: s for s in TABLE.get(kind, ()) if not s.envoy}
    if target == "proxy":
        for s in TABLE.get(kind, ()):
            if s.envoy and s.pattern in PROXY_LACKS:
                entries[s.pattern] = Support(s.pattern, False, PROXY_LACKS[s.pattern])
    prefixes: set[str] = set()
    for pattern in entries:
        for m in re.finditer(r"[.\[]", pattern):
            prefixes.add(pattern[: m.start()])
        prefixes.add(pattern)
    prefixes.update(_ALIASES)
    return frozenset(prefixes), entries


def untranslated(
    kind: str, spec: Any, target: str = "envoy"
) -> Iterator[tuple[FieldPath, Support]]:
    """The fields of a resource's ``spec`` that the table says are not translated for
    ``target`` (envoy or proxy), each once at the field the table names. Only the branches that
    lead to such a field are walked (the table names every field of the models; a field they do
    not know is an ML206 error already)."""
    prefixes, entries = _left_out(kind, target)
    stack: list[tuple[Any, FieldPath, str]] = [(spec, ("spec",), "spec")]
    while stack:
        value, path, text = stack.pop()
        text = _ALIASES.get(text, text)
        entry = entries.get(text)
        if entry is not None:
            yield path, entry
            continue
        if isinstance(value, dict):
            for k, v in value.items():
                child = f"{text}.{k}"
                if child in prefixes or child in _ALIASES:
                    stack.append((v, (*path, k), child))
        elif isinstance(value, list):
            child = f"{text}[]"
            if child in prefixes or child in _ALIASES:
                for i in range(len(value) - 1, -1, -1):
                    stack.append((value[i], (*path, i), child))


def leaves(data: Any, path: FieldPath = ()) -> Iterator[FieldPath]:
    """The paths of every leaf of plain data (an empty mapping or list counts as a leaf)."""
    if isinstance(data, dict) and data:
        for k, v in data.items():
            yield from leaves(v, (*path, k))
    elif isinstance(data, list) and data:
        for i, v in enumerate(data):
            yield from leaves(v, (*path, i))
    else:
        yield path


# --------------------------------------------------------------------------------------------
# docs/translation.md

_INTRO = """\
# Translation: the manifests as configs that run

Generated from the translator's table of fields (`meshlint/translate/support.py`) by
`make docs`; a test fails when it is stale, and another when a field of the models is missing
from the table.

`meshlint translate PATH… --for NAMESPACE/WORKLOAD | --gateway NAMESPACE/NAME` lints the
manifests, builds the Plan of that one proxy (what istiod would configure it with) and writes an
Envoy v3 static bootstrap, YAML with a comment naming the manifest and line of each listener,
route, cluster and filter (`--config-format json` for JSON). Errors in the lint stop it (exit 1,
`--force` translates anyway); every field of a resource the proxy uses that is not translated is
a warning, ML001, at its place, with the reason given below.

## Running it locally

A proxy run on a laptop or in CI has no iptables to capture traffic, so the addresses are explicit
(all on 127.0.0.1 by default):

| listener | default | what it takes |
|---|---|---|
| `--listen` | 127.0.0.1:15001 | the workload's outbound HTTP for every port, routed by the Host header as the sidecar routes it on that port (`reviews:9080`, `reviews.shop:9080` or the FQDN; a Host without a port means port 80) |
| `--inbound` | 127.0.0.1:15006 | traffic for the workload itself (mTLS, JWT, authorization), forwarded to `--app` (default: its first container port on 127.0.0.1) |
| `--admin` | 127.0.0.1:15000 | Envoy's admin interface |
| gateway servers | `--listen`'s host, each server's port + `--port-offset` | a Gateway's servers |

Without an endpoints file, a Kubernetes Service is reached by its DNS name (as in a cluster) and
a ServiceEntry by its endpoints or hosts. The endpoints file says where instances listen:

```yaml
endpoints:
- service: reviews            # a Service or ServiceEntry host as manifests name it; a short
  port: 9080                  #   name is taken in the --for namespace; the service port
  address: 127.0.0.1:9081     # HOST:PORT where the instance listens
  labels: {version: v1}       # matched by DestinationRule subsets as pod labels are
  weight: 2                   # optional
  locality: eu-west/zone-a    # optional region/zone/subzone
```

An endpoint labelled `security.istio.io/tlsMode: istio` is reached with Istio mutual TLS when no
DestinationRule sets `tls` (auto-mTLS), as Istio does for endpoints with a sidecar.

`meshlint certs DIR PATH…` mints a local CA (`DIR/ca-cert.pem`), a SPIFFE certificate for every
service account of the manifests (`DIR/<ns>/<sa>/cert-chain.pem`, `key.pem`, `root-cert.pem`,
URI SAN `spiffe://<trust-domain>/ns/<ns>/sa/<sa>`) and a certificate for every Gateway
`credentialName` (`DIR/credentials/<name>/`); `--certs DIR` gives them to the translation.
STRICT mTLS, ISTIO_MUTUAL destinations and Gateway credentials need them; PERMISSIVE without them
serves plaintext only (and says so).

`meshlint route --for NS/WORKLOAD METHOD URL [-H 'name: value']… PATH…` answers "where does this
request go?" from the same Plan: the route and its file and line, the clusters and weights, the
endpoints of each subset, timeout, retries, fault, mirrors, header edits, and the authorization
verdict at each destination workload.

## Fields

"Envoy" is the Envoy bootstrap of `meshlint translate`; "proxy" is the proxy included in
meshlint (`meshlint proxy`, or `meshlint translate --target proxy` for its config), which runs
the Plan directly. Where the proxy does not run a field Envoy gets, the reason follows the
Envoy column's; such a field is reported (ML001) when the translation is for the proxy.
"""


def translation_markdown() -> str:
    out = [_INTRO]
    for kind, entries in TABLE.items():
        out += [
            "",
            f"### {kind}",
            "",
            "| field | Envoy | proxy | what it becomes, or why not |",
            "|---|---|---|---|",
        ]
        for s in entries:
            how = s.how
            if s.envoy and not s.proxy:
                how += f"; proxy: {PROXY_LACKS[s.pattern]}"
            out.append(
                f"| `{s.pattern}` | {'yes' if s.envoy else 'no'} | "
                f"{'yes' if s.proxy else 'no'} | {how} |"
            )
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    import sys

    sys.stdout.write(translation_markdown())
