"""Tunnelling TCP traffic through an HTTP proxy (``trafficPolicy.tunnel``), and its conflict
with a PROXY protocol header.

Facts: istio/istio ``pkg/config/validation/validation.go`` (``validateTrafficPolicy``,
``validateTunnelSettings``).
"""

from __future__ import annotations

from collections.abc import Iterator

from meshlint.diagnostics import FieldPath, Severity
from meshlint.resource import Resource
from meshlint.rules import Finding, rule
from meshlint.rules.lib.destinationrule import KINDS, UINT32_MAX, WEBHOOK, dr, is_set
from meshlint.rules.lib.grammar import (
    check_fqdn,
    check_ip,
    check_port,
)
from meshlint.rules.lib.guards import as_int
from meshlint.rules.lib.traffic import traffic_policies_of


@rule(
    "ML507",
    "invalid-tunnel-settings",
    Severity.ERROR,
    summary="`tunnel` has an invalid protocol, target host or target port, or is combined "
    "with `proxyProtocol`.",
    rationale="""
        `tunnel` sends TCP traffic through an HTTP proxy: `protocol` is `CONNECT` (the
        default) or `POST`, exactly so written; `targetHost` is the host to reach, a fully
        qualified name without wildcards or an IP address; `targetPort` is a port from 1 to
        65535. A tunnel cannot also carry a PROXY protocol header. Istio's webhook rejects
        each of these.
    """,
    bad=dr(
        """
        host: egress-proxy.shop.svc.cluster.local
        trafficPolicy:
          tunnel:
            protocol: connect  # expect: ML507@17 spec.trafficPolicy.tunnel.protocol
            targetHost: api.example.com
            targetPort: 443
        """
    ),
    good=dr(
        """
        host: egress-proxy.shop.svc.cluster.local
        trafficPolicy:
          tunnel:
            protocol: CONNECT
            targetHost: api.example.com
            targetPort: 443
        """
    ),
    istio="IST0106",
    kinds=KINDS,
    source=f"{WEBHOOK} (validateTrafficPolicy, validateTunnelSettings) — 'tunnel and "
    "proxyProtocol must not be set together', 'tunnel protocol must be \"CONNECT\" or "
    "\"POST\"', 'tunnel target host must be valid FQDN or IP address', 'tunnel target port is "
    "invalid'",
    catalogue=(
        "dr-tp-tunnel-proxyproto",
        "dr-tunnel-protocol",
        "dr-tunnel-host",
        "dr-tunnel-port",
    ),
    needs=("tunnel",),
)
def invalid_tunnel_settings(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for path, tp in traffic_policies_of(res):
        tunnel = tp.get("tunnel")
        if tunnel is not None and is_set(tp.get("proxyProtocol")):
            yield Finding(
                (*path, "proxyProtocol"),
                "tunnel and proxyProtocol cannot be set together: keep one of them",
                key=True,
            )
        if not isinstance(tunnel, dict):
            continue
        base: FieldPath = (*path, "tunnel")
        protocol = tunnel.get("protocol")
        if isinstance(protocol, str) and protocol not in ("", "CONNECT", "POST"):
            hint = (
                f" (write it in upper case: {protocol.upper()})"
                if protocol.upper() in ("CONNECT", "POST")
                else ""
            )
            yield Finding(
                (*base, "protocol"),
                f"tunnel protocol '{protocol}' is not supported: use CONNECT or POST{hint}",
            )
        target = tunnel.get("targetHost")
        if isinstance(target, str) and check_fqdn(target) and check_ip(target):
            problem = check_fqdn(target)
            yield Finding(
                (*base, "targetHost"),
                f"targetHost must be a fully qualified host name or an IP address: {problem}",
            )
        port = as_int(tunnel.get("targetPort"))
        if port is not None and 0 <= port <= UINT32_MAX:
            problem = check_port(port)
            if problem:
                yield Finding((*base, "targetPort"), f"targetPort: {problem}")
