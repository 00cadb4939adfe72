"""Plan → Envoy v3 static bootstrap, as plain data checked by the real Envoy in the tests.

Names follow istiod's (clusters ``outbound|9080|v1|reviews.shop.svc.cluster.local``, virtual
hosts ``<host>:<port>``, RBAC policies ``ns[…]-policy[…]-rule[…]``), so the output can be held
beside ``istioctl proxy-config``. Each listener, route, cluster and filter carries, as a YAML
comment, the manifest and line it came from.

Local layout (no traffic capture): the outbound listener (``--listen``) takes HTTP for every
port and routes by the Host header as the sidecar would route it on that port (``reviews:9080``;
a Host without a port means 80); the inbound listener (``--inbound``) takes traffic for the
workload itself and forwards it to the application; a gateway binds each server port at
``--listen``'s host (plus ``--port-offset``).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable
from typing import Any

from meshlint.translate.plan import (
    ISTIO_LOG_FORMAT,
    PASSTHROUGH,
    AccessLog,
    AuthzPolicy,
    AuthzRule,
    ClientTls,
    Cluster,
    Condition,
    Cors,
    Fault,
    HashPolicy,
    HeaderMatch,
    HeaderOps,
    Inbound,
    JwtProvider,
    Origin,
    Plan,
    Route,
    RouteMatch,
    RouteTable,
    ServerTls,
    StringMatch,
    VirtualHost,
    single_destination_edits,
)
from meshlint.translate.values import envoy_duration

T = "type.googleapis.com/"
HCM = T + "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
UNLIMITED = 4294967295
COMMENT = "#"  # key of a comment in the data; only the YAML output writes it
TLS_PARAMS = {"tls_minimum_protocol_version": "TLSv1_2", "tls_maximum_protocol_version": "TLSv1_3"}


def _from(origin: Origin | None, what: str = "") -> str:
    if origin is None:
        return what
    prefix = f"{what}: " if what else ""
    return f"{prefix}from {origin.resource} ({origin.file}:{origin.line})" + (
        f" {origin.path}" if origin.path else ""
    )


def _typed(type_name: str, **fields: Any) -> dict[str, Any]:
    return {"@type": T + type_name, **fields}


def _dur(seconds: float) -> str:
    return envoy_duration(seconds)


def _fraction(percent: float) -> dict[str, Any]:
    # Istio: value × 10000 per MILLION, truncated
    return {"numerator": int(percent * 10000), "denominator": "MILLION"}


def _string_matcher(m: StringMatch) -> dict[str, Any]:
    if m.kind == "regex":
        return {"safe_regex": {"regex": m.value}}
    out: dict[str, Any] = {m.kind: m.value}
    if m.ignore_case:
        out["ignore_case"] = True
    return out


def _socket(address: str, port: int) -> dict[str, Any]:
    return {"socket_address": {"address": address, "port_value": port}}


# --------------------------------------------------------------------------------------------
# the bootstrap


class EnvoyRenderer:
    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.extra_clusters: dict[str, dict[str, Any]] = {}
        self.uses_passthrough = False

    def bootstrap(self) -> dict[str, Any]:
        plan = self.plan
        listeners: list[dict[str, Any]] = []
        if plan.identity.kind == "workload":
            if plan.route_tables or plan.outbound_policy == "ALLOW_ANY":
                listeners.append(self.outbound_listener())
            for inbound in plan.inbound:
                listeners.append(self.inbound_listener(inbound))
        else:
            listeners.extend(self.gateway_listeners())
        clusters = [self.cluster(c) for c in plan.clusters.values()]
        for inbound in plan.inbound:
            clusters.append(self.inbound_cluster(inbound))
        clusters.extend(self.extra_clusters.values())
        if self.uses_passthrough:
            clusters.append(self.passthrough_cluster())
        resources: dict[str, Any] = {"listeners": listeners, "clusters": clusters}
        if plan.certificates is not None:
            certs = plan.certificates
            resources["secrets"] = [
                {
                    COMMENT: "the workload certificate and the mesh root (--certs), with the "
                    "names istiod's SDS gives them",
                    "name": "default",
                    "tls_certificate": {
                        "certificate_chain": {"filename": certs.cert_chain},
                        "private_key": {"filename": certs.private_key},
                    },
                },
                {
                    "name": "ROOTCA",
                    "validation_context": {"trusted_ca": {"filename": certs.root_cert}},
                },
            ]
        ident = plan.identity
        return {
            COMMENT: f"meshlint: the {ident.kind} {ident.namespace}/{ident.name} ({ident.spiffe})",
            "node": {
                "id": f"{ident.kind}~{ident.namespace}~{ident.name}",
                "cluster": f"{ident.name}.{ident.namespace}",
            },
            "admin": {"address": _socket(*plan.admin)},
            "static_resources": resources,
            "stats_config": {
                COMMENT: "cluster names hold dots: tag them whole (Istio's alt_stat_name convention)",
                "use_all_default_tags": True,
                "stats_tags": [
                    {"tag_name": "cluster_name", "regex": r"^cluster\.((.+?);\.)"},
                ],
            },
        }

    # ----------------------------------------------------------------------------------------
    # listeners

    def outbound_listener(self) -> dict[str, Any]:
        plan = self.plan
        hosts: list[dict[str, Any]] = []
        for table in plan.route_tables:
            for vh in table.virtual_hosts:
                hosts.append(self.virtual_host(vh, table, port_domains=True))
        hosts.append(self.catch_all())
        route_config = {
            "name": "outbound",
            COMMENT: "istiod's per-port route configurations ("
            + ", ".join(f'"{t.name}"' for t in plan.route_tables)
            + ") served by one listener: domains carry their port",
            "virtual_hosts": hosts,
            "max_direct_response_body_size_bytes": 1048576,
        }
        hcm = self.hcm(
            "outbound_0.0.0.0_15001",
            route_config,
            side="CLIENT",
            dynamic_forward_proxy=self.uses_passthrough,
        )
        return {
            COMMENT: f"outbound HTTP of {plan.identity.namespace}/{plan.identity.name}: every "
            "service port it sees, routed by Host",
            "name": "outbound",
            "address": _socket(*plan.listen),
            "traffic_direction": "OUTBOUND",
            "filter_chains": [{"filters": [hcm]}],
        }

    def catch_all(self) -> dict[str, Any]:
        if self.plan.outbound_policy == "REGISTRY_ONLY":
            return {
                COMMENT: "outboundTrafficPolicy REGISTRY_ONLY: any other host is refused",
                "name": "block_all",
                "domains": ["*"],
                "routes": [
                    {
                        "name": "block_all",
                        "match": {"prefix": "/"},
                        "direct_response": {"status": 502},
                    }
                ],
            }
        self.uses_passthrough = True
        return {
            COMMENT: "outboundTrafficPolicy ALLOW_ANY: any other host is forwarded as addressed",
            "name": "allow_any",
            "domains": ["*"],
            "routes": [
                {
                    "name": "allow_any",
                    "match": {"prefix": "/"},
                    "route": {"cluster": PASSTHROUGH, "timeout": "0s"},
                }
            ],
        }

    def passthrough_cluster(self) -> dict[str, Any]:
        return {
            COMMENT: "ALLOW_ANY without traffic capture: the Host header's address, looked up in DNS",
            "name": PASSTHROUGH,
            "connect_timeout": "10s",
            "lb_policy": "CLUSTER_PROVIDED",
            "cluster_type": {
                "name": "envoy.clusters.dynamic_forward_proxy",
                "typed_config": _typed(
                    "envoy.extensions.clusters.dynamic_forward_proxy.v3.ClusterConfig",
                    dns_cache_config=self._dns_cache(),
                ),
            },
        }

    @staticmethod
    def _dns_cache() -> dict[str, Any]:
        return {"name": "passthrough_dns_cache", "dns_lookup_family": "V4_PREFERRED"}

    def inbound_listener(self, inbound: Inbound) -> dict[str, Any]:
        plan = self.plan
        route_config = {
            "name": inbound.app_cluster,
            "virtual_hosts": [
                {
                    "name": f"inbound|http|{inbound.port}",
                    "domains": ["*"],
                    "routes": [
                        {
                            "name": "default",
                            "match": {"prefix": "/"},
                            "route": {
                                "cluster": inbound.app_cluster,
                                "timeout": "0s",
                                "max_stream_duration": {
                                    "max_stream_duration": "0s",
                                    "grpc_timeout_header_max": "0s",
                                },
                            },
                        }
                    ],
                }
            ],
        }
        http_filters = [
            *self.jwt_filters(inbound.jwt),
            *self.rbac_filters(
                inbound.policies, {inbound.port: plan.inbound_listen[1]}, inbound.trust_domains
            ),
        ]
        mtls_hcm = self.hcm(
            f"inbound_0.0.0.0_{inbound.port}",
            route_config,
            side="SERVER",
            extra_filters=http_filters,
            inbound=True,
        )
        chains = []
        if inbound.mode in ("STRICT", "PERMISSIVE") and plan.certificates is not None:
            chains.append(
                {
                    COMMENT: f"mutual TLS ({_from(inbound.mode_origin, inbound.mode) if inbound.mode_origin else inbound.mode + ', Istio default'})",
                    "name": f"inbound|{inbound.port}|mtls",
                    "filter_chain_match": {"transport_protocol": "tls"},
                    "transport_socket": self.downstream_mtls(inbound.trust_domains),
                    "filters": [mtls_hcm],
                }
            )
        if inbound.mode in ("PERMISSIVE", "DISABLE"):
            chains.append(
                {
                    COMMENT: f"plaintext ({inbound.mode})",
                    "name": f"inbound|{inbound.port}|plaintext",
                    "filter_chain_match": {"transport_protocol": "raw_buffer"},
                    "filters": [
                        self.hcm(
                            f"inbound_0.0.0.0_{inbound.port}",
                            route_config,
                            side="SERVER",
                            extra_filters=http_filters,
                            inbound=True,
                        )
                    ],
                }
            )
        return {
            COMMENT: f"inbound: traffic for {plan.identity.namespace}/{plan.identity.name} on its "
            f"port {inbound.port}, forwarded to {inbound.app_address[0]}:{inbound.app_address[1]}",
            "name": f"inbound_{inbound.port}",
            "address": _socket(*plan.inbound_listen),
            "traffic_direction": "INBOUND",
            "listener_filters": [
                {
                    "name": "envoy.filters.listener.tls_inspector",
                    "typed_config": _typed(
                        "envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector"
                    ),
                }
            ],
            "filter_chains": chains,
        }

    def downstream_mtls(self, trust_domains: Iterable[str]) -> dict[str, Any]:
        return {
            "name": "envoy.transport_sockets.tls",
            "typed_config": _typed(
                "envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
                require_client_certificate=True,
                common_tls_context={
                    "alpn_protocols": ["h2", "http/1.1"],
                    "tls_params": TLS_PARAMS,
                    "tls_certificate_sds_secret_configs": [{"name": "default"}],
                    "combined_validation_context": {
                        "default_validation_context": {
                            "match_typed_subject_alt_names": [
                                {"san_type": "URI", "matcher": {"prefix": f"spiffe://{td}/"}}
                                for td in trust_domains
                            ]
                        },
                        "validation_context_sds_secret_config": {"name": "ROOTCA"},
                    },
                },
            ),
        }

    def inbound_cluster(self, inbound: Inbound) -> dict[str, Any]:
        host, port = inbound.app_address
        return {
            COMMENT: f"the application (--app {host}:{port})",
            "name": inbound.app_cluster,
            "type": "STATIC" if _is_ip(host) else "STRICT_DNS",
            "connect_timeout": "10s",
            "circuit_breakers": {"thresholds": [self._unlimited()]},
            "load_assignment": {
                "cluster_name": inbound.app_cluster,
                "endpoints": [{"lb_endpoints": [{"endpoint": {"address": _socket(host, port)}}]}],
            },
        }

    def gateway_listeners(self) -> list[dict[str, Any]]:
        plan = self.plan
        by_port: dict[int, list[Any]] = {}
        for server in plan.servers:
            by_port.setdefault(server.port, []).append(server)
        out = []
        host = plan.listen[0]
        for port, servers in sorted(by_port.items()):
            chains = []
            tls_inspector = False
            for server in servers:
                table = plan.route_table(server.route_table or "")
                assert table is not None
                route_config = {
                    "name": table.name,
                    "virtual_hosts": [self.virtual_host(vh, table) for vh in table.virtual_hosts],
                    "ignore_port_in_host_matching": True,
                    "max_direct_response_body_size_bytes": 1048576,
                }
                stat = server.name or f"outbound_0.0.0.0_{port}"
                hcm = self.hcm(
                    stat,
                    route_config,
                    side="CLIENT",
                    gateway=True,
                    extra_filters=[
                        *self.jwt_filters(self._gateway_jwt()),
                        *self.rbac_filters(
                            self._gateway_policies(),
                            {port: port + plan.port_offset},
                            (plan.identity.trust_domain,),
                        ),
                    ],
                )
                chain: dict[str, Any] = {
                    COMMENT: _from(server.origin, f"server {server.name or port}"),
                    "filters": [hcm],
                }
                if server.tls is not None:
                    tls_inspector = True
                    names = [h.rpartition("/")[2] for h in server.hosts]
                    if names and "*" not in names:
                        chain["filter_chain_match"] = {"server_names": sorted(set(names))}
                    chain["transport_socket"] = self.downstream_tls(server.tls)
                chains.append(chain)
            listener: dict[str, Any] = {
                COMMENT: f"Gateway {plan.identity.namespace}/{plan.identity.name} port {port}",
                "name": f"0.0.0.0_{port}",
                "address": _socket(host, port + plan.port_offset),
                "traffic_direction": "OUTBOUND",
                "filter_chains": chains,
            }
            if tls_inspector:
                listener["listener_filters"] = [
                    {
                        "name": "envoy.filters.listener.tls_inspector",
                        "typed_config": _typed(
                            "envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector"
                        ),
                    }
                ]
            out.append(listener)
        return out

    def _gateway_policies(self) -> list[AuthzPolicy]:
        return [p for i in self.plan.inbound for p in i.policies]

    def _gateway_jwt(self) -> list[JwtProvider]:
        return [p for i in self.plan.inbound for p in i.jwt]

    def downstream_tls(self, tls: ServerTls) -> dict[str, Any]:
        common: dict[str, Any] = {
            "alpn_protocols": ["h2", "http/1.1"],
            "tls_certificates": [
                {
                    "certificate_chain": {"filename": tls.certificate},
                    "private_key": {"filename": tls.private_key},
                }
            ],
        }
        params: dict[str, Any] = {}
        if tls.min_version:
            params["tls_minimum_protocol_version"] = _tls_version(tls.min_version)
        if tls.max_version:
            params["tls_maximum_protocol_version"] = _tls_version(tls.max_version)
        if tls.cipher_suites:
            params["cipher_suites"] = list(tls.cipher_suites)
        if params:
            common["tls_params"] = params
        mutual = tls.mode in ("MUTUAL", "OPTIONAL_MUTUAL", "ISTIO_MUTUAL")
        if mutual and tls.ca_certificates:
            validation: dict[str, Any] = {"trusted_ca": {"filename": tls.ca_certificates}}
            if tls.subject_alt_names:
                validation["match_typed_subject_alt_names"] = [
                    {"san_type": "DNS", "matcher": {"exact": s}} for s in tls.subject_alt_names
                ]
            common["validation_context"] = validation
        return {
            "name": "envoy.transport_sockets.tls",
            "typed_config": _typed(
                "envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
                require_client_certificate=tls.mode in ("MUTUAL", "ISTIO_MUTUAL"),
                common_tls_context=common,
            ),
        }

    # ----------------------------------------------------------------------------------------
    # the HTTP connection manager

    def hcm(
        self,
        stat_prefix: str,
        route_config: dict[str, Any],
        *,
        side: str,
        extra_filters: list[dict[str, Any]] | None = None,
        gateway: bool = False,
        inbound: bool = False,
        dynamic_forward_proxy: bool = False,
    ) -> dict[str, Any]:
        filters = list(extra_filters or [])
        if dynamic_forward_proxy:
            filters.append(
                {
                    "name": "envoy.filters.http.dynamic_forward_proxy",
                    "typed_config": _typed(
                        "envoy.extensions.filters.http.dynamic_forward_proxy.v3.FilterConfig",
                        dns_cache_config=self._dns_cache(),
                    ),
                }
            )
        filters += [
            {
                "name": "envoy.filters.http.fault",
                "typed_config": _typed("envoy.extensions.filters.http.fault.v3.HTTPFault"),
            },
            {
                "name": "envoy.filters.http.cors",
                "typed_config": _typed("envoy.extensions.filters.http.cors.v3.Cors"),
            },
            {
                "name": "envoy.filters.http.router",
                "typed_config": _typed("envoy.extensions.filters.http.router.v3.Router"),
            },
        ]
        config: dict[str, Any] = {
            "@type": HCM,
            "stat_prefix": stat_prefix,
            "codec_type": "AUTO",
            "normalize_path": True,
            "path_with_escaped_slashes_action": "KEEP_UNCHANGED",
            "stream_idle_timeout": "0s",
            "upgrade_configs": [{"upgrade_type": "websocket"}],
            "use_remote_address": gateway,
            "route_config": route_config,
            "http_filters": filters,
        }
        if inbound:
            config["forward_client_cert_details"] = "APPEND_FORWARD"
            config["set_current_client_cert_details"] = {"subject": True, "dns": True, "uri": True}
            config["server_name"] = "istio-envoy"
        logs = self.access_logs(side)
        if logs:
            config["access_log"] = logs
        tracing = self.tracing(side)
        if tracing is not None:
            config["tracing"] = tracing
        return {"name": "envoy.filters.network.http_connection_manager", "typed_config": config}

    def access_logs(self, side: str) -> list[dict[str, Any]]:
        out = []
        for log in self.plan.telemetry.access_logs:
            if log.mode not in ("CLIENT_AND_SERVER", side):
                continue
            out.append(self.access_log(log))
        return out

    @staticmethod
    def access_log(log: AccessLog) -> dict[str, Any]:
        if log.json_labels:
            fmt: dict[str, Any] = {
                "json_format": dict(log.json_labels),
                "json_format_options": {"sort_properties": False},
            }
        else:
            text = log.format or ISTIO_LOG_FORMAT
            if not text.endswith("\n"):
                text += "\n"
            fmt = {"text_format_source": {"inline_string": text}}
        entry: dict[str, Any] = {
            COMMENT: _from(log.origin, f"access log ({log.provider})"),
            "name": "envoy.access_loggers.file",
            "typed_config": _typed(
                "envoy.extensions.access_loggers.file.v3.FileAccessLog",
                path=log.path,
                log_format=fmt,
            ),
        }
        if log.filter:
            entry["filter"] = {
                "extension_filter": {
                    "name": "envoy.access_loggers.extension_filters.cel",
                    "typed_config": _typed(
                        "envoy.extensions.access_loggers.filters.cel.v3.ExpressionFilter",
                        expression=log.filter,
                    ),
                }
            }
        return entry

    def tracing(self, side: str) -> dict[str, Any] | None:
        t = self.plan.telemetry.tracing
        if t is None:
            return None
        if t.kind == "zipkin":
            provider = {
                "name": "envoy.tracers.zipkin",
                "typed_config": _typed(
                    "envoy.config.trace.v3.ZipkinConfig",
                    collector_cluster=t.collector_cluster,
                    collector_endpoint=t.path,
                    collector_endpoint_version="HTTP_JSON",
                    collector_hostname=t.collector_host,
                    shared_span_context=False,
                    trace_id_128bit=True,
                ),
            }
        else:
            provider = {
                "name": "envoy.tracers.opentelemetry",
                "typed_config": _typed(
                    "envoy.config.trace.v3.OpenTelemetryConfig",
                    grpc_service={
                        "envoy_grpc": {
                            "cluster_name": t.collector_cluster,
                            "authority": t.collector_host,
                        }
                    },
                    service_name=f"{self.plan.identity.name}.{self.plan.identity.namespace}",
                ),
            }
        out: dict[str, Any] = {
            COMMENT: _from(t.origin, f"tracing ({t.provider})"),
            "provider": provider,
            "client_sampling": {"value": 100},
            "overall_sampling": {"value": 100},
        }
        if t.sampling is not None:
            out["random_sampling"] = {"value": t.sampling}
        tags = []
        for tag, kind, value in t.custom_tags:
            if kind == "literal":
                tags.append({"tag": tag, "literal": {"value": value}})
            elif kind == "header":
                tags.append({"tag": tag, "request_header": {"name": value}})
            else:
                tags.append({"tag": tag, "environment": {"name": value}})
        if tags:
            out["custom_tags"] = tags
        return out

    # ----------------------------------------------------------------------------------------
    # routes

    def virtual_host(
        self, vh: VirtualHost, table: RouteTable, *, port_domains: bool = False
    ) -> dict[str, Any]:
        domains = list(vh.domains)
        if port_domains:
            domains = [f"{d}:{vh.port}" for d in vh.domains]
            if vh.port == 80:
                domains = [d for pair in zip(vh.domains, domains, strict=True) for d in pair]
        out: dict[str, Any] = {
            COMMENT: _from(vh.origin, f'route table "{table.name}"'),
            "name": vh.name,
            "domains": domains,
            "routes": [self.route(r, vh.port) for r in vh.routes],
            "include_request_attempt_count": True,
        }
        if vh.require_tls:
            out["require_tls"] = "ALL"
        return out

    def route(self, r: Route, port: int) -> dict[str, Any]:
        out: dict[str, Any] = {COMMENT: _from(r.origin, "route")}
        if r.name:
            out["name"] = r.name
        out["match"] = self.match(r.match)
        per_filter: dict[str, Any] = {}
        if r.fault is not None:
            per_filter["envoy.filters.http.fault"] = self.fault(r.fault)
        if r.cors is not None:
            per_filter["envoy.filters.http.cors"] = self.cors(r.cors)
        if r.redirect is not None:
            rd = r.redirect
            redirect: dict[str, Any] = {}
            if rd.prefix is not None:
                redirect["prefix_rewrite"] = rd.prefix
            elif rd.path is not None:
                redirect["path_redirect"] = rd.path
            if rd.authority:
                redirect["host_redirect"] = rd.authority
            if rd.scheme:
                redirect["scheme_redirect"] = rd.scheme
            if rd.port:
                redirect["port_redirect"] = rd.port
            redirect["response_code"] = {
                302: "FOUND",
                303: "SEE_OTHER",
                307: "TEMPORARY_REDIRECT",
                308: "PERMANENT_REDIRECT",
            }.get(rd.code, "MOVED_PERMANENTLY")
            out["redirect"] = redirect
        elif r.direct_response is not None:
            dr = r.direct_response
            direct: dict[str, Any] = {"status": dr.status}
            if dr.body is not None:
                direct["body"] = {"inline_string": dr.body}
            elif dr.body_bytes is not None:
                import base64

                direct["body"] = {"inline_bytes": base64.b64encode(dr.body_bytes).decode()}
            out["direct_response"] = direct
        else:
            out["route"] = self.route_action(r)
        request_ops, response_ops, _ = single_destination_edits(r)
        self._header_edits(out, request_ops, response_ops)
        if per_filter:
            out["typed_per_filter_config"] = per_filter
        return out

    @staticmethod
    def match(m: RouteMatch) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if m.path is None:
            out["prefix"] = "/"
        elif m.path.kind == "exact":
            out["path"] = m.path.value
        elif m.path.kind == "prefix":
            out["prefix"] = m.path.value
        else:
            out["safe_regex"] = {"regex": m.path.value}
        out["case_sensitive"] = m.case_sensitive
        headers = []
        for h in m.headers:
            headers.append(_header_matcher(h))
        if headers:
            out["headers"] = headers
        query = []
        for name, sm in m.query:
            if sm.kind == "present":
                query.append({"name": name, "present_match": True})
            else:
                query.append({"name": name, "string_match": _string_matcher(sm)})
        if query:
            out["query_parameters"] = query
        return out

    def route_action(self, r: Route) -> dict[str, Any]:
        action: dict[str, Any] = {}
        dests = r.destinations
        if len(dests) == 1:
            action["cluster"] = dests[0].cluster
        elif dests:
            clusters = []
            for d in dests:
                entry: dict[str, Any] = {"name": d.cluster, "weight": d.weight}
                self._header_edits(entry, d.request_headers, d.response_headers)
                if d.authority:
                    entry["host_rewrite_literal"] = d.authority
                clusters.append(entry)
            action["weighted_clusters"] = {"clusters": clusters}
        else:
            # no destination left (all weights 0): Istio's route has no cluster to go to
            action["cluster"] = "BlackHoleCluster"
            self.extra_clusters.setdefault(
                "BlackHoleCluster",
                {
                    COMMENT: "no endpoints: routes without a destination",
                    "name": "BlackHoleCluster",
                    "type": "STATIC",
                    "connect_timeout": "10s",
                    "load_assignment": {"cluster_name": "BlackHoleCluster", "endpoints": []},
                },
            )
        action["timeout"] = _dur(r.timeout)
        _, _, rewrite = single_destination_edits(r)
        if rewrite is not None:
            if rewrite.prefix is not None:
                action["prefix_rewrite"] = rewrite.prefix
            if rewrite.regex is not None:
                action["regex_rewrite"] = {
                    "pattern": {"regex": rewrite.regex[0]},
                    "substitution": rewrite.regex[1],
                }
            if rewrite.authority:
                action["host_rewrite_literal"] = rewrite.authority
        if r.retry is not None:
            action["retry_policy"] = self.retry(r)
        if r.mirrors:
            action["request_mirror_policies"] = [
                {
                    "cluster": m.cluster,
                    "runtime_fraction": {"default_value": _fraction(m.percent)},
                    "trace_sampled": False,
                    "disable_shadow_host_suffix_append": True,
                }
                for m in r.mirrors
            ]
        if r.hash_policy:
            action["hash_policy"] = [_hash(h) for h in r.hash_policy]
        return action

    @staticmethod
    def _header_edits(out: dict[str, Any], request: HeaderOps, response: HeaderOps) -> None:
        for ops, key in ((request, "request"), (response, "response")):
            add = [
                {"header": {"key": k, "value": v}, "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"}
                for k, v in ops.set
            ] + [
                {"header": {"key": k, "value": v}, "append_action": "APPEND_IF_EXISTS_OR_ADD"}
                for k, v in ops.add
            ]
            if add:
                out[f"{key}_headers_to_add"] = add
            if ops.remove:
                out[f"{key}_headers_to_remove"] = list(ops.remove)

    @staticmethod
    def retry(r: Route) -> dict[str, Any]:
        p = r.retry
        assert p is not None
        out: dict[str, Any] = {
            COMMENT: _from(p.origin, "retries") if p.origin else "Istio's default retry policy",
            "retry_on": ",".join(p.retry_on),
            "num_retries": p.attempts,
            "host_selection_retry_max_attempts": 5,
        }
        if p.status_codes:
            out["retriable_status_codes"] = list(p.status_codes)
        if p.per_try_timeout is not None:
            out["per_try_timeout"] = _dur(p.per_try_timeout)
        if p.backoff is not None:
            out["retry_back_off"] = {"base_interval": _dur(p.backoff)}
        if p.previous_hosts:
            out["retry_host_predicate"] = [
                {
                    "name": "envoy.retry_host_predicates.previous_hosts",
                    "typed_config": _typed(
                        "envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate"
                    ),
                }
            ]
        if p.remote_localities:
            out["retry_priority"] = {
                "name": "envoy.retry_priorities.previous_priorities",
                "typed_config": _typed(
                    "envoy.extensions.retry.priority.previous_priorities.v3.PreviousPrioritiesConfig",
                    update_frequency=2,
                ),
            }
        return out

    @staticmethod
    def fault(f: Fault) -> dict[str, Any]:
        out = _typed("envoy.extensions.filters.http.fault.v3.HTTPFault")
        if f.delay is not None:
            out["delay"] = {
                "fixed_delay": _dur(f.delay.seconds),
                "percentage": _fraction(f.delay.percent),
            }
        if f.abort is not None:
            abort: dict[str, Any] = {"percentage": _fraction(f.abort.percent)}
            if f.abort.http_status is not None:
                abort["http_status"] = f.abort.http_status
            else:
                abort["grpc_status"] = f.abort.grpc_status
            out["abort"] = abort
        return out

    @staticmethod
    def cors(c: Cors) -> dict[str, Any]:
        out = _typed(
            "envoy.extensions.filters.http.cors.v3.CorsPolicy",
            allow_origin_string_match=[_string_matcher(o) for o in c.allow_origins],
            filter_enabled={"default_value": {"numerator": 100, "denominator": "HUNDRED"}},
            forward_not_matching_preflights=c.forward_unmatched_preflights,
        )
        if c.allow_methods:
            out["allow_methods"] = ",".join(c.allow_methods)
        if c.allow_headers:
            out["allow_headers"] = ",".join(c.allow_headers)
        if c.expose_headers:
            out["expose_headers"] = ",".join(c.expose_headers)
        if c.max_age is not None:
            out["max_age"] = str(c.max_age)
        if c.allow_credentials is not None:
            out["allow_credentials"] = c.allow_credentials
        return out

    # ----------------------------------------------------------------------------------------
    # clusters

    @staticmethod
    def _unlimited() -> dict[str, Any]:
        return {
            "max_connections": UNLIMITED,
            "max_pending_requests": UNLIMITED,
            "max_requests": UNLIMITED,
            "max_retries": UNLIMITED,
        }

    def cluster(self, c: Cluster) -> dict[str, Any]:
        pool = c.pool
        thresholds = {
            "max_connections": pool.max_connections or UNLIMITED,
            "max_pending_requests": pool.max_pending_requests or UNLIMITED,
            "max_requests": pool.max_requests or UNLIMITED,
            "max_retries": pool.max_retries or UNLIMITED,
        }
        comment = _from(c.origin, "policy") if c.origin else "no DestinationRule: Istio's defaults"
        out: dict[str, Any] = {
            COMMENT: f"{comment}; endpoints: {c.endpoints_origin or 'none'}",
            "name": c.name,
            "alt_stat_name": c.name + ";",
            "type": c.discovery,
            "connect_timeout": _dur(pool.connect_timeout),
            "lb_policy": c.lb.policy if c.lb.policy != "PASSTHROUGH" else "LEAST_REQUEST",
            "circuit_breakers": {"thresholds": [thresholds]},
            "common_lb_config": {},
        }
        if c.discovery != "STATIC":
            out["dns_lookup_family"] = "V4_PREFERRED"
        if c.lb.policy == "RING_HASH" and c.lb.ring_size:
            out["ring_hash_lb_config"] = {"minimum_ring_size": c.lb.ring_size}
        if c.lb.policy == "MAGLEV" and c.lb.table_size:
            out["maglev_lb_config"] = {"table_size": c.lb.table_size}
        if c.lb.warmup is not None and c.lb.policy in ("ROUND_ROBIN", "LEAST_REQUEST"):
            key = (
                "round_robin_lb_config"
                if c.lb.policy == "ROUND_ROBIN"
                else "least_request_lb_config"
            )
            out[key] = {"slow_start_config": {"slow_start_window": _dur(c.lb.warmup)}}
        if pool.keepalive is not None:
            probes, time, interval = pool.keepalive
            ka: dict[str, Any] = {}
            if probes is not None:
                ka["keepalive_probes"] = probes
            if time is not None:
                ka["keepalive_time"] = int(time)
            if interval is not None:
                ka["keepalive_interval"] = int(interval)
            out["upstream_connection_options"] = {"tcp_keepalive": ka}
        protocol = self._protocol_options(c)
        if protocol is not None:
            out["typed_extension_protocol_options"] = {
                "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": protocol
            }
        if c.outlier is not None:
            od = c.outlier
            outlier: dict[str, Any] = {"enforcing_success_rate": 0}
            if od.consecutive_5xx is not None:
                outlier["consecutive_5xx"] = od.consecutive_5xx
                outlier["enforcing_consecutive_5xx"] = 100 if od.consecutive_5xx > 0 else 0
            if od.consecutive_gateway_errors is not None:
                outlier["consecutive_gateway_failure"] = od.consecutive_gateway_errors
                outlier["enforcing_consecutive_gateway_failure"] = (
                    100 if od.consecutive_gateway_errors > 0 else 0
                )
            if od.interval is not None:
                outlier["interval"] = _dur(od.interval)
            if od.base_ejection_time is not None:
                outlier["base_ejection_time"] = _dur(od.base_ejection_time)
            if od.max_ejection_percent:
                outlier["max_ejection_percent"] = od.max_ejection_percent
            if od.split_external_local_origin_errors:
                outlier["split_external_local_origin_errors"] = True
                outlier["enforcing_local_origin_success_rate"] = 0
                if od.consecutive_local_origin_failures:
                    outlier["consecutive_local_origin_failure"] = (
                        od.consecutive_local_origin_failures
                    )
                    outlier["enforcing_consecutive_local_origin_failure"] = 100
            out["outlier_detection"] = outlier
            out["common_lb_config"] = {
                "healthy_panic_threshold": {"value": float(od.min_health_percent)}
            }
        if c.lb.locality and any(e.locality for e in c.endpoints):
            out["common_lb_config"]["locality_weighted_lb_config"] = {}
        out["load_assignment"] = self.load_assignment(c)
        if c.tls is not None:
            out["transport_socket"] = self.upstream_tls(c, c.tls)
        return out

    @staticmethod
    def _protocol_options(c: Cluster) -> dict[str, Any] | None:
        pool = c.pool
        if c.protocol in ("TCP", "TLS", "HTTPS", "UDP") and not c.http2:
            return None
        common: dict[str, Any] = {}
        idle = pool.idle_timeout if pool.idle_timeout is not None else pool.tcp_idle_timeout
        if idle is not None:
            common["idle_timeout"] = _dur(idle)
        if pool.max_requests_per_connection:
            common["max_requests_per_connection"] = pool.max_requests_per_connection
        if pool.max_connection_duration is not None:
            common["max_connection_duration"] = _dur(pool.max_connection_duration)
        out = _typed("envoy.extensions.upstreams.http.v3.HttpProtocolOptions")
        if common:
            out["common_http_protocol_options"] = common
        if pool.use_client_protocol:
            out["use_downstream_protocol_config"] = {
                "http_protocol_options": {},
                "http2_protocol_options": {},
            }
        elif c.http2:
            h2: dict[str, Any] = {}
            if pool.max_concurrent_streams:
                h2["max_concurrent_streams"] = pool.max_concurrent_streams
            out["explicit_http_config"] = {"http2_protocol_options": h2}
        else:
            out["explicit_http_config"] = {"http_protocol_options": {}}
        return out

    @staticmethod
    def load_assignment(c: Cluster) -> dict[str, Any]:
        groups: dict[str | None, list[dict[str, Any]]] = {}
        for e in c.endpoints:
            lb: dict[str, Any] = {"endpoint": {"address": _socket(e.address, e.port)}}
            if e.weight:
                lb["load_balancing_weight"] = e.weight
            labels = dict(e.labels)
            if labels.get("security.istio.io/tlsMode") == "istio":
                lb["metadata"] = {
                    "filter_metadata": {"envoy.transport_socket_match": {"tlsMode": "istio"}}
                }
            groups.setdefault(e.locality, []).append(lb)
        endpoints = []
        for locality, lbs in groups.items():
            group: dict[str, Any] = {"lb_endpoints": lbs}
            if locality:
                parts = locality.split("/")
                loc = {"region": parts[0]}
                if len(parts) > 1:
                    loc["zone"] = parts[1]
                if len(parts) > 2:
                    loc["sub_zone"] = parts[2]
                group["locality"] = loc
                group["load_balancing_weight"] = 1
            endpoints.append(group)
        return {"cluster_name": c.name, "endpoints": endpoints}

    def upstream_tls(self, c: Cluster, tls: ClientTls) -> dict[str, Any]:
        common: dict[str, Any] = {"tls_params": TLS_PARAMS}
        context: dict[str, Any] = {}
        if tls.mode == "ISTIO_MUTUAL":
            common["tls_certificate_sds_secret_configs"] = [{"name": "default"}]
            validation: dict[str, Any] = {}
            if tls.subject_alt_names:
                validation["match_typed_subject_alt_names"] = [
                    {"san_type": "URI", "matcher": {"exact": s}} for s in tls.subject_alt_names
                ]
            common["combined_validation_context"] = {
                "default_validation_context": validation,
                "validation_context_sds_secret_config": {"name": "ROOTCA"},
            }
            common["alpn_protocols"] = ["h2"] if c.http2 else ["http/1.1"]
            context["sni"] = tls.sni
        else:
            if tls.mode == "MUTUAL" and tls.client_certificate and tls.private_key:
                common["tls_certificates"] = [
                    {
                        "certificate_chain": {"filename": tls.client_certificate},
                        "private_key": {"filename": tls.private_key},
                    }
                ]
            if not tls.insecure_skip_verify and tls.ca_certificates:
                validation = {"trusted_ca": {"filename": tls.ca_certificates}}
                if tls.subject_alt_names:
                    validation["match_typed_subject_alt_names"] = [
                        {"san_type": "DNS", "matcher": {"exact": s}} for s in tls.subject_alt_names
                    ]
                common["validation_context"] = validation
            if c.http2:
                common["alpn_protocols"] = ["h2"]
            if tls.sni:
                context["sni"] = tls.sni
        socket = {
            "name": "envoy.transport_sockets.tls",
            "typed_config": _typed(
                "envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
                common_tls_context=common,
                **context,
            ),
        }
        socket[COMMENT] = _from(tls.origin, f"TLS {tls.mode}") if tls.origin else "auto-mTLS"
        return socket

    # ----------------------------------------------------------------------------------------
    # JWT and RBAC

    def jwt_filters(self, providers: list[JwtProvider]) -> list[dict[str, Any]]:
        if not providers:
            return []
        configured: dict[str, Any] = {}
        for i, p in enumerate(providers):
            entry: dict[str, Any] = {
                COMMENT: _from(p.origin, "JWT rule"),
                "issuer": p.issuer,
                "payload_in_metadata": "payload",
                "forward": p.forward_original_token,
            }
            if p.audiences:
                entry["audiences"] = list(p.audiences)
            if p.jwks is not None:
                entry["local_jwks"] = {"inline_string": p.jwks}
            elif p.jwks_uri is not None:
                entry["remote_jwks"] = {
                    "http_uri": {
                        "uri": p.jwks_uri,
                        "cluster": self._jwks_cluster(p.jwks_uri),
                        "timeout": "5s",
                    },
                    "cache_duration": "300s",
                }
            if p.from_headers:
                entry["from_headers"] = [
                    {"name": n, "value_prefix": pre} if pre else {"name": n}
                    for n, pre in p.from_headers
                ]
            if p.from_params:
                entry["from_params"] = list(p.from_params)
            if p.from_cookies:
                entry["from_cookies"] = list(p.from_cookies)
            if p.output_payload_to_header:
                entry["forward_payload_header"] = p.output_payload_to_header
            if p.claim_to_headers:
                entry["claim_to_headers"] = [
                    {"header_name": h, "claim_name": c} for h, c in p.claim_to_headers
                ]
            configured[f"origins-{i}"] = entry
        requirements: list[dict[str, Any]] = [{"provider_name": name} for name in configured]
        requirements.append({"allow_missing": {}})
        return [
            {
                COMMENT: "RequestAuthentication: a request without a token passes; one with an "
                "invalid token gets 401",
                "name": "envoy.filters.http.jwt_authn",
                "typed_config": _typed(
                    "envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication",
                    providers=configured,
                    rules=[
                        {
                            "match": {"prefix": "/"},
                            "requires": {"requires_any": {"requirements": requirements}},
                        }
                    ],
                    bypass_cors_preflight=True,
                ),
            }
        ]

    def _jwks_cluster(self, uri: str) -> str:
        from urllib.parse import urlsplit

        parts = urlsplit(uri)
        host = parts.hostname or "localhost"
        tls = parts.scheme == "https"
        port = parts.port or (443 if tls else 80)
        name = f"jwks|{host}:{port}"
        if name not in self.extra_clusters:
            cluster: dict[str, Any] = {
                COMMENT: f"the JWKS of {uri}",
                "name": name,
                "type": "STATIC" if _is_ip(host) else "STRICT_DNS",
                "connect_timeout": "5s",
                "load_assignment": {
                    "cluster_name": name,
                    "endpoints": [
                        {"lb_endpoints": [{"endpoint": {"address": _socket(host, port)}}]}
                    ],
                },
            }
            if tls:
                cluster["transport_socket"] = {
                    "name": "envoy.transport_sockets.tls",
                    "typed_config": _typed(
                        "envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext", sni=host
                    ),
                }
            self.extra_clusters[name] = cluster
        return name

    def rbac_filters(
        self, policies: list[AuthzPolicy], ports: dict[int, int], trust_domains: tuple[str, ...]
    ) -> list[dict[str, Any]]:
        out = []
        for action, envoy_action in (("AUDIT", "LOG"), ("DENY", "DENY"), ("ALLOW", "ALLOW")):
            chosen = [p for p in policies if p.action == action]
            enforced = {
                k: v for p in chosen if not p.dry_run for k, v in self._policies(p, ports).items()
            }
            shadow = {
                k: v for p in chosen if p.dry_run for k, v in self._policies(p, ports).items()
            }
            if not enforced and not shadow:
                continue
            config = _typed("envoy.extensions.filters.http.rbac.v3.RBAC")
            if enforced or (action == "ALLOW" and not shadow):
                config["rules"] = {"action": envoy_action, "policies": enforced}
            if shadow:
                config["shadow_rules"] = {"action": envoy_action, "policies": shadow}
                config["shadow_rules_stat_prefix"] = f"istio_dry_run_{action.lower()}_"
            names = sorted({p.name for p in chosen})
            out.append(
                {
                    COMMENT: f"AuthorizationPolicy {action}: " + ", ".join(names),
                    "name": "envoy.filters.http.rbac",
                    "typed_config": config,
                }
            )
        return out

    def _policies(self, p: AuthzPolicy, ports: dict[int, int]) -> dict[str, Any]:
        if not p.rules:
            ns, _, name = p.name.partition("/")
            return {
                f"ns[{ns}]-policy[{name}]-rule[0]": {
                    "permissions": [{"not_rule": {"any": True}}],
                    "principals": [{"not_id": {"any": True}}],
                }
            }
        return {r.name: self._rule(r, ports, p.name.partition("/")[0]) for r in p.rules}

    def _rule(self, r: AuthzRule, ports: dict[int, int], ns: str) -> dict[str, Any]:
        principal_when = [c for c in r.when if _WHEN_PLACE.get(_when_key(c.field)) != "permission"]
        permission_when = [c for c in r.when if _WHEN_PLACE.get(_when_key(c.field)) == "permission"]
        permissions = []
        for op in r.operations or ((),):
            rules = [self._permission(c, ports) for c in op]
            rules += [self._permission(c, ports) for c in permission_when]
            permissions.append({"and_rules": {"rules": rules or [{"any": True}]}})
        principals = []
        for src in r.sources or ((),):
            ids = [self._principal(c, ns) for c in src]
            ids += [self._principal(c, ns) for c in principal_when]
            principals.append({"and_ids": {"ids": ids or [{"any": True}]}})
        return {"permissions": permissions, "principals": principals}

    def _permission(self, c: Condition, ports: dict[int, int]) -> dict[str, Any]:
        key = _when_key(c.field)
        rules: list[dict[str, Any]] = []
        for v in c.values:
            if c.field == "hosts":
                rules.append(
                    {"header": {"name": ":authority", **_wild_header(v, ignore_case=True)}}
                )
            elif c.field == "methods":
                rules.append({"header": {"name": ":method", **_wild_header(v)}})
            elif c.field == "paths":
                rules.append({"url_path": {"path": _wild(v, path=True)}})
            elif c.field == "ports" or key == "destination.port":
                n = int(v) if v.isdigit() else -1
                if n in ports:
                    rules.append({"destination_port": ports[n]})
                else:
                    rules.append({"not_rule": {"any": True}})  # no such port on this proxy
            elif key == "destination.ip":
                rules.append({"destination_ip": _cidr(v)})
            elif key == "connection.sni":
                rules.append({"requested_server_name": _wild(v)})
            else:
                rules.append({"not_rule": {"any": True}})
        inner: dict[str, Any] = {"or_rules": {"rules": rules}} if len(rules) != 1 else rules[0]
        return {"not_rule": inner} if c.negated else inner

    def _principal(self, c: Condition, ns: str) -> dict[str, Any]:
        field = c.field
        key = _when_key(field)
        ids: list[dict[str, Any]] = []
        for v in c.values:
            if field == "principals" or key == "source.principal":
                ids.append({"authenticated": {"principal_name": _spiffe(v)}})
            elif field == "namespaces" or key == "source.namespace":
                ids.append(
                    {
                        "authenticated": {
                            "principal_name": {
                                "safe_regex": {"regex": f".*/ns/{_glob_regex(v)}/.*"}
                            }
                        }
                    }
                )
            elif field == "serviceAccounts" or key == "source.serviceAccount":
                sa_ns, _, sa = v.rpartition("/")
                sa_ns = sa_ns or ns
                regex = f"spiffe://.+/ns/{re.escape(sa_ns)}/(.+/|)sa/{re.escape(sa)}(/.+)?"
                ids.append({"authenticated": {"principal_name": {"safe_regex": {"regex": regex}}}})
            elif field == "trustDomains" or key == "source.trustDomain":
                matcher = {"prefix": "spiffe://"} if v == "*" else {"prefix": f"spiffe://{v}/"}
                ids.append({"authenticated": {"principal_name": matcher}})
            elif field == "ipBlocks" or key == "source.ip":
                ids.append({"direct_remote_ip": _cidr(v)})
            elif field == "remoteIpBlocks" or key == "remote.ip":
                ids.append({"remote_ip": _cidr(v)})
            elif field == "requestPrincipals" or key == "request.auth.principal":
                ids.append(_request_principal(v))
            elif key.startswith("request.headers["):
                name = field[len("request.headers[") : -1]
                ids.append({"header": {"name": name, **_wild_header(v)}})
            elif key in ("request.auth.audiences", "request.auth.presenter") or key.startswith(
                "request.auth.claims["
            ):
                ids.append(_claim(field, v))
            else:
                ids.append({"not_id": {"any": True}})
        inner: dict[str, Any] = {"or_ids": {"ids": ids}} if len(ids) != 1 else ids[0]
        return {"not_id": inner} if c.negated else inner


# --------------------------------------------------------------------------------------------
# helpers


_WHEN_PLACE = {
    "destination.ip": "permission",
    "destination.port": "permission",
    "connection.sni": "permission",
    "hosts": "permission",
    "methods": "permission",
    "paths": "permission",
    "ports": "permission",
}


def _when_key(field: str) -> str:
    if field.startswith("request.headers["):
        return "request.headers["
    return field


def _is_ip(host: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _cidr(value: str) -> dict[str, Any]:
    import ipaddress

    net = ipaddress.ip_network(value, strict=False)
    return {"address_prefix": str(net.network_address), "prefix_len": net.prefixlen}


def _wild(value: str, *, path: bool = False) -> dict[str, Any]:
    if value == "*":
        return {"safe_regex": {"regex": ".+"}} if path else {"safe_regex": {"regex": ".*"}}
    if value.endswith("*"):
        return {"prefix": value[:-1]}
    if value.startswith("*"):
        return {"suffix": value[1:]}
    return {"exact": value}


def _wild_header(value: str, *, ignore_case: bool = False) -> dict[str, Any]:
    if value == "*":
        return {"present_match": True}
    matcher = _wild(value)
    if ignore_case:
        matcher["ignore_case"] = True
    return {"string_match": matcher}


def _glob_regex(value: str) -> str:
    return ".*".join(re.escape(p) for p in value.split("*"))


def _spiffe(value: str) -> dict[str, Any]:
    if value == "*":
        return {"safe_regex": {"regex": ".+"}}
    if value.endswith("*"):
        return {"prefix": "spiffe://" + value[:-1]}
    if value.startswith("*"):
        return {"safe_regex": {"regex": "spiffe://.*" + re.escape(value[1:])}}
    return {"exact": "spiffe://" + value}


def _jwt_metadata(path: list[str], matcher: dict[str, Any]) -> dict[str, Any]:
    return {
        "metadata": {
            "filter": "envoy.filters.http.jwt_authn",
            "path": [{"key": "payload"}, *({"key": p} for p in path)],
            "value": {"string_match": matcher},
        }
    }


def _request_principal(value: str) -> dict[str, Any]:
    if value == "*":
        return _jwt_metadata(["iss"], {"safe_regex": {"regex": ".+"}})
    iss, _, sub = value.rpartition("/")
    if value.endswith("*") and not sub.strip("*"):
        return _jwt_metadata(["iss"], {"prefix": value[:-1].rstrip("/")})
    return {
        "and_ids": {"ids": [_jwt_metadata(["iss"], _wild(iss)), _jwt_metadata(["sub"], _wild(sub))]}
    }


def _claim(field: str, value: str) -> dict[str, Any]:
    if field == "request.auth.audiences":
        path = ["aud"]
    elif field == "request.auth.presenter":
        path = ["azp"]
    else:
        path = re.findall(r"\[([^\]]+)\]", field[len("request.auth.claims") :])
    matcher = _wild(value)
    return {
        "metadata": {
            "filter": "envoy.filters.http.jwt_authn",
            "path": [{"key": "payload"}, *({"key": p} for p in path)],
            "value": {
                "or_match": {
                    "value_matchers": [
                        {"list_match": {"one_of": {"string_match": matcher}}},
                        {"string_match": matcher},
                    ]
                }
            },
        }
    }


def _header_matcher(h: HeaderMatch) -> dict[str, Any]:
    out: dict[str, Any] = {"name": h.name}
    if h.match.kind == "present":
        out["present_match"] = True
    else:
        out["string_match"] = _string_matcher(h.match)
        if h.invert:
            out["treat_missing_header_as_empty"] = True
    if h.invert:
        out["invert_match"] = True
    return out


def _hash(h: HashPolicy) -> dict[str, Any]:
    if h.header:
        return {"header": {"header_name": h.header}}
    if h.cookie:
        cookie: dict[str, Any] = {"name": h.cookie}
        if h.cookie_ttl is not None:
            cookie["ttl"] = _dur(h.cookie_ttl)
        if h.cookie_path:
            cookie["path"] = h.cookie_path
        return {"cookie": cookie}
    if h.query_parameter:
        return {"query_parameter": {"name": h.query_parameter}}
    return {"connection_properties": {"source_ip": True}}


def _concat(a: HeaderOps, b: HeaderOps) -> HeaderOps:
    return HeaderOps(a.set + b.set, a.add + b.add, a.remove + b.remove)


def _tls_version(value: str) -> str:
    return {
        "TLSV1_0": "TLSv1_0",
        "TLSV1_1": "TLSv1_1",
        "TLSV1_2": "TLSv1_2",
        "TLSV1_3": "TLSv1_3",
    }.get(value, "TLS_AUTO")


# --------------------------------------------------------------------------------------------
# output


def render(plan: Plan) -> dict[str, Any]:
    """The bootstrap as data; comments live under the ``#`` keys (see :func:`to_yaml`)."""
    return EnvoyRenderer(plan).bootstrap()


def strip_comments(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: strip_comments(v) for k, v in data.items() if k != COMMENT}
    if isinstance(data, list):
        return [strip_comments(v) for v in data]
    return data


_COMMENT_KEY = '"#":"'  # a comment's key and the opening of its value, in compact JSON
_STRING_REST = re.compile(r'[^"\\]*(?:\\.[^"\\]*)*"')  # the rest of a JSON string


def to_json(data: dict[str, Any]) -> str:
    """Compact JSON (Envoy reads it; `--config-format yaml` is the one to read).

    The comments are cut from the encoded text, which is quicker than copying the data
    without them: ``"#":"`` can only be a key there (inside a string its quotes are escaped).
    """
    parts = json.dumps(data, separators=(",", ":"), ensure_ascii=False).split(_COMMENT_KEY)
    out = [parts[0]]
    for part in parts[1:]:
        end = _STRING_REST.match(part)
        rest = part[end.end() :] if end else part
        if rest[:1] == ",":
            rest = rest[1:]  # the first or a middle key: its comma goes with it
        elif out[-1].endswith(","):
            out[-1] = out[-1][:-1]  # the last key: the comma before it goes
        out.append(rest)
    out.append("\n")
    return "".join(out)


_PLAIN = re.compile(r"[A-Za-z_/][A-Za-z0-9_./@|*+-]*(?::[A-Za-z0-9_./@|*+-]+)*")
_RESERVED = frozenset(
    {"yes", "no", "true", "false", "on", "off", "null", "y", "n", "~", "nan", "inf"}
)


def _scalar(value: Any) -> str:
    cls = value.__class__
    if cls is str:
        return _string(value)
    if cls is int:
        return str(value)
    if cls is float:
        return _float(value)
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    return json.dumps(value)


def _float(value: float) -> str:
    text = repr(value)
    if text in ("inf", "-inf", "nan"):
        return text.replace("inf", ".inf").replace("nan", ".nan")
    if "e" in text and "." not in text:  # YAML 1.1 reads 1e+16 as a string, 1.0e+16 as a number
        mantissa, _, exponent = text.partition("e")
        return f"{mantissa}.0e{exponent}"
    return text


# what YAML may not hold raw: its unprintables and the line breaks beyond \n (JSON escapes
# the C0 controls itself)
_UNPRINTABLE = re.compile(
    "[^\\t\\n\\r\\x20-\\x7e\\xa0-\\u2027\\u202a-\\ud7ff\\ue000-\\ufffd\\U00010000-\\U0010ffff]"
)


@functools.lru_cache(maxsize=65536)
def _string(value: str) -> str:
    if _PLAIN.fullmatch(value) and value.lower() not in _RESERVED:
        return value
    # a JSON string is a YAML scalar, once what YAML may not hold raw is escaped (all of it
    # below U+10000, where JSON's \\u escapes and YAML's agree)
    return _UNPRINTABLE.sub(_escape, json.dumps(value, ensure_ascii=False))


def _escape(m: re.Match[str]) -> str:
    return f"\\u{ord(m.group()):04x}"


def _comment(text: str) -> str:
    """A comment on one line, whatever the names in it hold."""
    return text if text.isprintable() else _string(text)


def to_yaml(data: dict[str, Any]) -> str:
    """Block YAML with each ``#`` key written as a comment above its mapping.

    A small emitter of its own: the data is plain (mappings, lists, strings, numbers,
    booleans), strings that could read as something else are written as JSON strings (valid
    YAML), and a large mesh's config (tens of megabytes) is written in about the time JSON is.
    """
    out: list[str] = []
    _emit_map(data, "", out, None)
    out.append("")
    return "\n".join(out)


def _emit_map(data: dict[str, Any], pad: str, out: list[str], first: str | None) -> None:
    """A mapping at indentation ``pad``; ``first`` is the prefix of its first line (``- `` of a
    list item, already indented)."""
    append = out.append
    comment = data.get(COMMENT)
    if comment is not None:
        append(f"{first[:-2] if first else pad}# {_comment(comment)}")
    head = first if first is not None else pad
    inner = pad + "  "
    for k, v in data.items():
        if k == COMMENT:
            continue
        key = _string(k)
        cls = v.__class__
        if cls is dict:
            if not v or (len(v) == 1 and COMMENT in v):
                append(f"{head}{key}: {{}}")
            elif len(v) <= 4 and COMMENT not in v and _flat(v):
                append(f"{head}{key}: {_flow(v)}")
            else:
                append(f"{head}{key}:")
                _emit_map(v, inner, out, None)
        elif cls is list:
            if not v:
                append(f"{head}{key}: []")
            elif len(v) <= 8 and all(x.__class__ is str for x in v):
                append(f"{head}{key}: [{', '.join(_string(x) for x in v)}]")
            else:
                append(f"{head}{key}:")
                _emit_list(v, pad, out)
        elif cls is str:
            append(f"{head}{key}: {_string(v)}")
        else:
            append(f"{head}{key}: {_scalar(v)}")
        head = pad


def _flat(data: dict[str, Any]) -> bool:
    for v in data.values():
        cls = v.__class__
        if cls is dict or cls is list:
            return False
    return True


def _flow(data: dict[str, Any]) -> str:
    """A small mapping of scalars on one line: ``{address: "127.0.0.1", port_value: 15000}``."""
    return "{" + ", ".join(f"{_string(k)}: {_scalar(v)}" for k, v in data.items()) + "}"


def _flow_any(value: Any) -> str:
    """Any value on one line, comments left out (a list inside a list is one)."""
    cls = value.__class__
    if cls is dict:
        inner = ", ".join(f"{_string(k)}: {_flow_any(v)}" for k, v in value.items() if k != COMMENT)
        return "{" + inner + "}"
    if cls is list:
        return "[" + ", ".join(_flow_any(v) for v in value) + "]"
    return _string(value) if cls is str else _scalar(value)


def _emit_list(items: list[Any], pad: str, out: list[str]) -> None:
    dash = pad + "- "
    inner = pad + "  "
    for v in items:
        cls = v.__class__
        if cls is dict and any(k != COMMENT for k in v):
            _emit_map(v, inner, out, dash)
        elif cls is dict or cls is list:
            out.append(f"{dash}{_flow_any(v)}")
        elif cls is str:
            out.append(f"{dash}{_string(v)}")
        else:
            out.append(f"{dash}{_scalar(v)}")
