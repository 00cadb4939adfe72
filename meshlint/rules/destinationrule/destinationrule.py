"""Field validation of destinationrule: what Istio's webhook and CRD rules reject.

ML5xx. Facts: istio/istio ``pkg/config/validation/validation.go`` (``ValidateDestinationRule``,
``validateTrafficPolicy``, ``validatePortTrafficPolicies``, ``validateTunnelSettings``,
``validateConnectionPool``, ``validateLoadBalancer``, ``isPrime``, ``validateOutlierDetection``,
``validateSubset``, ``validateExportTo``, ``validateWorkloadSelector``),
``pkg/config/validation/agent/validation.go`` (``ValidateTLS``, ``ValidateLocalityLbSetting``,
``ValidateZoneAwareLbSetting``, ``validateLocalities``, ``ValidateDuration``),
``pilot/pkg/model/credentials/resource.go`` (``ParseResourceName``), and the CEL rules of the
DestinationRule CRD (durations of at least 1ms, ``warmupDurationSecs`` included).

The schema stage already reports unknown fields, wrong types, missing required fields, enums,
integer ranges of the CRD and oneOf groups (ML206-ML209); the checks here skip whatever does not
have the expected type, and report only what the webhook or a CEL rule adds on top.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from typing import Any

from meshlint.diagnostics import FieldPath, Replacement, Severity
from meshlint.resource import Resource
from meshlint.rules import Finding, Option, rule
from meshlint.rules.lib.grammar import (
    as_int,
    check_dns_label,
    check_export_to,
    check_fqdn,
    check_ip,
    check_label_key,
    check_label_value,
    check_port,
    check_wildcard_host,
    duration_ns,
)
from meshlint.rules.lib.traffic import (
    child,
    connection_pool_findings,
    duration_findings,
    policy_blocks,
    traffic_policies,
)

KINDS = {"DestinationRule"}
_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1
_UINT32_MAX = 2**32 - 1
_WEBHOOK = "webhook: pkg/config/validation/validation.go"
_AGENT = "webhook: pkg/config/validation/agent/validation.go"


def _dr(spec: str, *, namespace: str = "shop") -> str:
    """A complete DestinationRule example whose `spec:` block is ``spec`` (written unindented)."""
    body = textwrap.indent(textwrap.dedent(spec).strip("\n"), "  ")
    return (
        "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata:\n"
        f"  name: reviews\n  namespace: {namespace}\nspec:\n{body}\n"
    )


# --------------------------------------------------------------------------------------------
# Walking the traffic policies
# --------------------------------------------------------------------------------------------


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value


def _set(value: object) -> bool:
    """Whether a field counts as given for the webhook: present, not null, and not an empty
    list (which decodes to no list at all)."""
    return value is not None and value != []


def _sections(
    spec: dict[str, Any], key: str
) -> Iterator[tuple[FieldPath, dict[str, Any], dict[str, Any]]]:
    """``(path, section, block)`` for each ``connectionPool`` / ``loadBalancer`` / … that is a
    mapping, with the traffic policy or port-level entry holding it."""
    for path, block in policy_blocks(spec):
        section = block.get(key)
        if isinstance(section, dict):
            yield (*path, key), section, block


# --------------------------------------------------------------------------------------------
# ML501 invalid-destination-rule-host
# --------------------------------------------------------------------------------------------


@rule(
    "ML501",
    "invalid-destination-rule-host",
    Severity.ERROR,
    summary="`spec.host` is not a valid host name.",
    rationale="""
        A DestinationRule applies to the traffic sent to one service, named by `host`: a short
        name (`reviews`), a fully qualified name (`reviews.shop.svc.cluster.local`) or a
        wildcard whose `*` starts the first label (`*.shop.svc.cluster.local`). Each label is
        1-63 letters, digits or `-`; the last one may not be all digits, so an IP address is
        not a host here. Istio's webhook rejects any other value.
    """,
    bad=_dr(
        """
        host: reviews_v1.shop.svc.cluster.local
        """
    ),
    good=_dr(
        """
        host: reviews.shop.svc.cluster.local
        """
    ),
    istio="IST0106",
    kinds=KINDS,
    source=f"{_AGENT} (ValidateWildcardDomain, called by ValidateDestinationRule) — "
    "'domain name … invalid'",
    catalogue=("dr-host-syntax",),
)
def check_host(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    host = spec.get("host")
    problem = check_wildcard_host(host)
    if problem:
        yield Finding(("spec", "host"), problem)


# --------------------------------------------------------------------------------------------
# ML502 invalid-subset
# --------------------------------------------------------------------------------------------


@rule(
    "ML502",
    "invalid-subset",
    Severity.ERROR,
    summary="A subset has an empty or invalid name, repeats a name, or has invalid labels.",
    rationale="""
        Routes name a subset (`destination.subset: v1`), so its name must be a DNS label (1-63
        letters, digits or `-`, starting and ending with a letter or digit) and unique within
        the DestinationRule. Its labels select the service's endpoints and follow Kubernetes
        label syntax. Istio's webhook rejects an empty, invalid or repeated name, and an
        invalid label key or value.
    """,
    bad=_dr(
        """
        host: reviews.shop.svc.cluster.local
        subsets:
        - name: v1
          labels:
            version: v1
        - name: v1
          labels:
            version: v2
        """
    ),
    good=_dr(
        """
        host: reviews.shop.svc.cluster.local
        subsets:
        - name: v1
          labels:
            version: v1
        - name: v2
          labels:
            version: v2
        """
    ),
    istio="IST0106",
    kinds=KINDS,
    source=f"{_WEBHOOK} (ValidateDestinationRule, validateSubset, validateSubsetName) — "
    "'duplicate subset names', 'subset name cannot be empty', 'subset name is invalid'",
    catalogue=("dr-subset-dup", "dr-subset-name", "dr-subset-labels"),
)
def check_subsets(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    subsets = spec.get("subsets")
    if not isinstance(subsets, list):
        return
    seen: dict[str, int] = {}
    for i, subset in enumerate(subsets):
        path: FieldPath = ("spec", "subsets", i)
        if not isinstance(subset, dict):
            continue  # a null subset is the schema's finding (ML207)
        name = subset.get("name")
        if isinstance(name, str):
            if name == "":
                yield Finding(
                    (*path, "name"), "the subset name is empty: give it a name such as v1"
                )
            else:
                problem = check_dns_label(name)
                if problem:
                    yield Finding((*path, "name"), f"subset name {problem}")
                if name in seen:
                    yield Finding(
                        (*path, "name"),
                        f"subset '{name}' is already defined (subset {seen[name]}): "
                        "subset names must be unique",
                    )
                else:
                    seen[name] = i
        labels = subset.get("labels")
        if isinstance(labels, dict):
            for key, value in labels.items():
                problem = check_label_key(key)
                if problem:
                    yield Finding((*path, "labels", key), problem, key=True)
                problem = check_label_value(value)
                if problem:
                    yield Finding((*path, "labels", key), problem)


# --------------------------------------------------------------------------------------------
# ML503 invalid-destination-rule-export-to
# --------------------------------------------------------------------------------------------


@rule(
    "ML503",
    "invalid-destination-rule-export-to",
    Severity.ERROR,
    summary="`spec.exportTo` has an invalid, repeated or conflicting entry.",
    rationale="""
        `exportTo` lists the namespaces that see the DestinationRule: `.` (its own), `*`
        (every namespace) or namespace names. Istio's webhook rejects an entry listed twice
        (`.` and the own namespace count as the same), `*` combined with other entries, `~`
        (only a ServiceEntry may be hidden from everyone) and anything that is not a
        namespace name. A DestinationRule with a `workloadSelector` applies to workloads of
        its own namespace, so it may only be exported there.
    """,
    bad=_dr(
        """
        host: reviews.shop.svc.cluster.local
        exportTo:
        - "*"
        - frontend
        """
    ),
    good=_dr(
        """
        host: reviews.shop.svc.cluster.local
        exportTo:
        - "."
        - frontend
        """
    ),
    istio="IST0106",
    kinds=KINDS,
    source=f"{_WEBHOOK} (validateExportTo) — 'duplicate entries in exportTo', 'cannot have "
    "both public (*) and non-public exportTo values', 'destination rule with workload selector "
    "cannot have exportTo beyond current namespace'",
    catalogue=(
        "dr-export-dup",
        "dr-export-dot-own",
        "dr-export-none",
        "dr-export-entry",
        "dr-export-star-mix",
        "dr-export-selector-scope",
        "dr-export-selector-multi",
    ),
)
def check_export_to_entries(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    problems = check_export_to(
        spec.get("exportTo"),
        allow_none=False,
        own_namespace=res.namespace,
        workload_selector=spec.get("workloadSelector") is not None,
    )
    for index, message in problems:
        yield Finding(("spec", "exportTo", index), message)


# --------------------------------------------------------------------------------------------
# ML504 invalid-destination-rule-workload-selector, ML505 empty-destination-rule-workload-selector
# --------------------------------------------------------------------------------------------


# --------------------------------------------------------------------------------------------
# ML506 empty-traffic-policy
# --------------------------------------------------------------------------------------------

_TP_FIELDS = (
    "loadBalancer",
    "connectionPool",
    "outlierDetection",
    "tls",
    "portLevelSettings",
    "tunnel",
    "proxyProtocol",
    "retryBudget",
)
_PL_FIELDS = ("loadBalancer", "connectionPool", "outlierDetection", "tls")


@rule(
    "ML506",
    "empty-traffic-policy",
    Severity.ERROR,
    summary="A traffic policy, port-level setting or connection pool sets nothing.",
    rationale="""
        Istio's webhook rejects a `trafficPolicy` with none of its settings, a
        `portLevelSettings` entry with only a port (it needs at least one of loadBalancer,
        connectionPool, outlierDetection or tls) and a `connectionPool` with neither `tcp`
        nor `http`. An empty block is often the sign of a mis-indented or misspelt setting.
    """,
    bad=_dr(
        """
        host: reviews.shop.svc.cluster.local
        trafficPolicy:
          portLevelSettings:
          - port:
              number: 9080
        """
    ),
    good=_dr(
        """
        host: reviews.shop.svc.cluster.local
        trafficPolicy:
          portLevelSettings:
          - port:
              number: 9080
            loadBalancer:
              simple: LEAST_REQUEST
        """
    ),
    istio="IST0106",
    kinds=KINDS,
    source=f"{_WEBHOOK} (validateTrafficPolicy, validatePortTrafficPolicies, "
    "validateConnectionPool) — 'traffic policy must have at least one field', 'port traffic "
    "policy must have at least one field', 'connection pool must have at least one field'",
    catalogue=("dr-tp-empty", "dr-pl-empty", "dr-cp-empty"),
)
def check_empty_policies(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for path, tp in traffic_policies(spec):
        if not any(_set(tp.get(k)) for k in _TP_FIELDS):
            yield Finding(
                path,
                "this traffic policy sets nothing: give at least one of loadBalancer, "
                "connectionPool, outlierDetection, tls, portLevelSettings, tunnel, "
                "proxyProtocol or retryBudget, or remove it",
                key=True,
            )
        pls = tp.get("portLevelSettings")
        if isinstance(pls, list):
            for j, pl in enumerate(pls):
                if isinstance(pl, dict) and not any(_set(pl.get(k)) for k in _PL_FIELDS):
                    yield Finding(
                        (*path, "portLevelSettings", j),
                        "this port-level setting sets nothing: give at least one of "
                        "loadBalancer, connectionPool, outlierDetection or tls, or remove it",
                    )
    for path, pool, _ in _sections(spec, "connectionPool"):
        if not _set(pool.get("tcp")) and not _set(pool.get("http")):
            yield Finding(
                path,
                "this connection pool sets nothing: give tcp or http settings, or remove it",
                key=True,
            )


# --------------------------------------------------------------------------------------------
# ML507 invalid-tunnel-settings
# --------------------------------------------------------------------------------------------


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
    bad=_dr(
        """
        host: egress-proxy.shop.svc.cluster.local
        trafficPolicy:
          tunnel:
            protocol: connect
            targetHost: api.example.com
            targetPort: 443
        """
    ),
    good=_dr(
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
    source=f"{_WEBHOOK} (validateTrafficPolicy, validateTunnelSettings) — 'tunnel and "
    "proxyProtocol must not be set together', 'tunnel protocol must be \"CONNECT\" or "
    "\"POST\"', 'tunnel target host must be valid FQDN or IP address', 'tunnel target port is "
    "invalid'",
    catalogue=(
        "dr-tp-tunnel-proxyproto",
        "dr-tunnel-protocol",
        "dr-tunnel-host",
        "dr-tunnel-port",
    ),
)
def check_tunnel(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for path, tp in traffic_policies(spec):
        tunnel = tp.get("tunnel")
        if tunnel is not None and _set(tp.get("proxyProtocol")):
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
        if port is not None and 0 <= port <= _UINT32_MAX:
            problem = check_port(port)
            if problem:
                yield Finding((*base, "targetPort"), f"targetPort: {problem}")


# --------------------------------------------------------------------------------------------
# ML508 port-level-setting-without-port
# --------------------------------------------------------------------------------------------


@rule(
    "ML508",
    "port-level-setting-without-port",
    Severity.ERROR,
    summary="A `portLevelSettings` entry has no `port`.",
    rationale="""
        Each `portLevelSettings` entry replaces the traffic policy for one port of the
        service, named by `port.number`. Istio's webhook rejects an entry without a port.
    """,
    bad=_dr(
        """
        host: reviews.shop.svc.cluster.local
        trafficPolicy:
          portLevelSettings:
          - loadBalancer:
              simple: LEAST_REQUEST
        """
    ),
    good=_dr(
        """
        host: reviews.shop.svc.cluster.local
        trafficPolicy:
          portLevelSettings:
          - port:
              number: 9080
            loadBalancer:
              simple: LEAST_REQUEST
        """
    ),
    istio="IST0106",
    kinds=KINDS,
    source=f"{_WEBHOOK} (validatePortTrafficPolicies) — 'portTrafficPolicy must have valid port'",
    catalogue=("dr-pl-port-missing",),
)
def check_port_level_settings(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for path, tp in traffic_policies(spec):
        pls = tp.get("portLevelSettings")
        if not isinstance(pls, list):
            continue
        for j, pl in enumerate(pls):
            where: FieldPath = (*path, "portLevelSettings", j)
            # A null entry is the schema's finding (ML207).
            if isinstance(pl, dict) and pl.get("port") is None:
                yield Finding(
                    (*where, "port") if "port" in pl else where,
                    "this port-level setting names no port: add port.number, e.g. 9080",
                )


# --------------------------------------------------------------------------------------------
# ML509 invalid-connection-pool
# --------------------------------------------------------------------------------------------


@rule(
    "ML509",
    "invalid-connection-pool",
    Severity.ERROR,
    summary="A connection pool has a negative limit, an incomplete HTTP/2 keepalive, or "
    "UPGRADE together with `useClientProtocol`.",
    rationale="""
        Connection-pool limits (`tcp.maxConnections`, `http.http1MaxPendingRequests`,
        `http2MaxRequests`, `maxRequestsPerConnection`, `maxRetries`, `maxConcurrentStreams`)
        may not be negative. `http.http2KeepAlive` needs both an `interval` and a `timeout`.
        `h2UpgradePolicy: UPGRADE` asks to upgrade every connection to HTTP/2, which
        contradicts `useClientProtocol: true` (keep the client's protocol). Istio's webhook
        rejects each of these.
    """,
    bad=_dr(
        """
        host: reviews.shop.svc.cluster.local
        trafficPolicy:
          connectionPool:
            http:
              http1MaxPendingRequests: -1
        """
    ),
    good=_dr(
        """
        host: reviews.shop.svc.cluster.local
        trafficPolicy:
          connectionPool:
            http:
              http1MaxPendingRequests: 100
        """
    ),
    istio="IST0106",
    kinds=KINDS,
    source=f"{_WEBHOOK} (validateConnectionPool) — '… must be non-negative', 'use client "
    "protocol must not be true when H2UpgradePolicy is UPGRADE', 'http2 keepalive interval is "
    "required', 'http2 keepalive timeout is required'",
    catalogue=(
        "dr-cp-http1-pending",
        "dr-cp-http2-max",
        "dr-cp-maxreq-conn",
        "dr-cp-maxretries",
        "dr-cp-streams",
        "dr-cp-tcp-maxconn",
        "dr-cp-h2-clientproto",
        "dr-cp-h2ka-interval",
        "dr-cp-h2ka-timeout",
    ),
)
def check_connection_pool(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for path, pool, _ in _sections(spec, "connectionPool"):
        yield from connection_pool_findings(pool, path)


# --------------------------------------------------------------------------------------------
# ML510 invalid-traffic-policy-duration
# --------------------------------------------------------------------------------------------


# (section, path inside it, allow 0 (off), whole milliseconds required (webhook; CEL is looser))
@rule(
    "ML510",
    "invalid-traffic-policy-duration",
    Severity.ERROR,
    summary="A traffic-policy duration is shorter than 1ms or not a whole number of milliseconds.",
    rationale="""
        Istio's webhook and the CRD's CEL rules require the durations of a traffic policy
        (connection-pool timeouts and keepalives, outlier-detection `interval` and
        `baseEjectionTime`, warmup `duration`) to be at least 1ms, so `0s` is rejected; the
        webhook also requires whole milliseconds (`1500us` is rejected). The one exception is
        `connectionPool.tcp.idleTimeout`, where `0s` turns the idle timeout off.
        `warmupDurationSecs` only has the CEL rule (at least 1ms).
    """,
    bad=_dr(
        """
        host: reviews.shop.svc.cluster.local
        trafficPolicy:
          connectionPool:
            tcp:
              connectTimeout: 0s
        """
    ),
    good=_dr(
        """
        host: reviews.shop.svc.cluster.local
        trafficPolicy:
          connectionPool:
            tcp:
              connectTimeout: 250ms
              idleTimeout: 0s
        """
    ),
    istio="IST0106",
    kinds=KINDS,
    source=f"{_AGENT} (ValidateDuration, called by validateConnectionPool, "
    "validateLoadBalancer and validateOutlierDetection) — 'duration must be greater than 1ms', "
    "'only durations to ms precision are supported'; CRD CEL \"duration(self) >= "
    "duration('1ms')\"",
    catalogue=(
        "dr-cp-http-idle",
        "dr-cp-h2ka-dur",
        "dr-cp-tcp-connect",
        "dr-cp-tcp-maxdur",
        "dr-cp-tcp-idle",
        "dr-cp-tcp-ka-time",
        "dr-cp-tcp-ka-interval",
        "dr-lb-warmup-dur",
        "dr-lb-warmupsecs-old",
        "dr-od-interval",
        "dr-od-base",
    ),
)
def check_durations(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for path, block in policy_blocks(spec):
        for section in ("connectionPool", "loadBalancer", "outlierDetection"):
            inner_block = block.get(section)
            if isinstance(inner_block, dict):
                yield from duration_findings(inner_block, (*path, section), section)


# --------------------------------------------------------------------------------------------
# ML511 invalid-consistent-hash
# --------------------------------------------------------------------------------------------

_MAGLEV_LIMIT = 5_000_011


def _is_prime(x: int) -> bool:
    """Envoy's primality test, which Istio copies (1, 2 and 3 count as prime)."""
    if x != 0 and x < 4:
        return True
    if x % 2 == 0:
        return False
    factor = 3
    while factor * factor <= x:
        if x % factor == 0:
            return False
        factor += 2
    return True


def _primes_around(x: int) -> tuple[int, int]:
    low = x - 1
    while low > 1 and not _is_prime(low):
        low -= 1
    high = x + 1
    while not _is_prime(high):
        high += 1
    return low, high


@rule(
    "ML511",
    "invalid-consistent-hash",
    Severity.ERROR,
    summary="A consistent-hash load balancer has an unnamed or repeated cookie attribute, an "
    "invalid maglev table size, or a minimumRingSize next to ringHash/maglev.",
    rationale="""
        With `consistentHash.httpCookie` Envoy hashes on a cookie (and creates it), so the
        cookie and each of its `attributes` need a name, and no attribute may be given twice.
        Maglev needs a `tableSize` that is a prime number below 5000011 (Envoy's rule; 65537
        is the default). The deprecated `minimumRingSize` cannot be combined with `ringHash`
        or `maglev`: use `ringHash.minimumRingSize`. Istio's webhook rejects each of these.
    """,
    bad=_dr(
        """
        host: reviews.shop.svc.cluster.local
        trafficPolicy:
          loadBalancer:
            consistentHash:
              httpHeaderName: x-user
              maglev:
                tableSize: 65536
        """
    ),
    good=_dr(
        """
        host: reviews.shop.svc.cluster.local
        trafficPolicy:
          loadBalancer:
            consistentHash:
              httpHeaderName: x-user
              maglev:
                tableSize: 65537
        """
    ),
    istio="IST0106",
    kinds=KINDS,
    source=f"{_WEBHOOK} (validateLoadBalancer, isPrime) — 'name required for HttpCookie', "
    "'cookie attribute name cannot be empty', 'duplicate cookie attribute name', 'only one of "
    "MinimumRingSize or Maglev/Ringhash can be specified', 'tableSize must be set for maglev', "
    "'tableSize must be less than 5000011 for maglev', 'tableSize must be a prime number for "
    "maglev'",
    catalogue=(
        "dr-lb-cookie-name",
        "dr-lb-cookie-attr-name",
        "dr-lb-cookie-attr-dup",
        "dr-lb-minring-algo",
        "dr-lb-maglev-zero",
        "dr-lb-maglev-max",
        "dr-lb-maglev-prime",
    ),
)
def check_consistent_hash(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for path, lb, _ in _sections(spec, "loadBalancer"):
        ch = child(lb, "consistentHash")
        if ch is None:
            continue
        base: FieldPath = (*path, "consistentHash")
        cookie = child(ch, "httpCookie")
        if cookie is not None:
            yield from _cookie_problems(cookie, (*base, "httpCookie"))
        ring = as_int(ch.get("minimumRingSize"))
        algos = [k for k in ("ringHash", "maglev") if _set(ch.get(k))]
        if ring and algos:
            yield Finding(
                (*base, "minimumRingSize"),
                f"minimumRingSize cannot be combined with {algos[0]}: set "
                f"{'ringHash.minimumRingSize' if algos[0] == 'ringHash' else 'the maglev table size'}"
                " instead",
                key=True,
            )
        maglev = child(ch, "maglev")
        if maglev is not None:
            yield from _maglev_problems(maglev, (*base, "maglev"))


def _cookie_problems(cookie: dict[str, Any], base: FieldPath) -> Iterator[Finding]:
    if cookie.get("name") == "":
        yield Finding((*base, "name"), "the cookie name is empty: name the cookie to hash on")
    attributes = cookie.get("attributes")
    if not isinstance(attributes, list):
        return
    seen: set[str] = set()
    for k, attr in enumerate(attributes):
        if not isinstance(attr, dict):
            continue
        name = attr.get("name")
        if name == "":
            yield Finding(
                (*base, "attributes", k, "name"),
                "the cookie attribute name is empty: give one, such as SameSite",
            )
        elif isinstance(name, str):
            if name in seen:
                yield Finding(
                    (*base, "attributes", k, "name"),
                    f"cookie attribute '{name}' is given twice: keep one",
                )
            seen.add(name)


def _maglev_problems(maglev: dict[str, Any], base: FieldPath) -> Iterator[Finding]:
    raw = maglev.get("tableSize")
    size = as_int(raw)
    if raw is None or size == 0:
        yield Finding(
            (*base, "tableSize") if raw is not None else base,
            "maglev needs a tableSize: a prime number below 5000011, e.g. 65537",
            key=raw is None,
        )
        return
    if size is None or size < 0:
        return
    if size >= _MAGLEV_LIMIT:
        yield Finding(
            (*base, "tableSize"),
            f"tableSize {size} is too large: maglev needs a prime number below 5000011, e.g. 65537",
        )
    elif not _is_prime(size):
        low, high = _primes_around(size)
        yield Finding(
            (*base, "tableSize"),
            f"tableSize {size} is not a prime number: maglev needs a prime, e.g. {low} or {high}",
        )


# --------------------------------------------------------------------------------------------
# ML512 invalid-warmup
# --------------------------------------------------------------------------------------------


@rule(
    "ML512",
    "invalid-warmup",
    Severity.ERROR,
    summary="`loadBalancer.warmup.aggression` is 0.",
    rationale="""
        `warmup.aggression` shapes how fast traffic to a new endpoint ramps up during the
        warmup: 1 is linear, larger is faster at first. Istio's webhook requires a value above
        0 (the CRD rejects negative values only), so `aggression: 0` is rejected; leave it out
        for the default of 1.
    """,
    bad=_dr(
        """
        host: reviews.shop.svc.cluster.local
        trafficPolicy:
          loadBalancer:
            simple: ROUND_ROBIN
            warmup:
              duration: 60s
              aggression: 0
        """
    ),
    good=_dr(
        """
        host: reviews.shop.svc.cluster.local
        trafficPolicy:
          loadBalancer:
            simple: ROUND_ROBIN
            warmup:
              duration: 60s
              aggression: 1.5
        """
    ),
    istio="IST0106",
    kinds=KINDS,
    source=f"{_WEBHOOK} (validateLoadBalancer) — 'aggression should be greater than 0'",
    catalogue=("dr-lb-warmup-aggr",),
)
def check_warmup(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for path, lb, _ in _sections(spec, "loadBalancer"):
        warmup = child(lb, "warmup")
        if warmup is None:
            continue
        aggression = _number(warmup.get("aggression"))
        if aggression == 0:
            yield Finding(
                (*path, "warmup", "aggression"),
                "aggression 0 is not allowed: use a value above 0 (1 ramps up linearly), or "
                "leave it out",
            )


# --------------------------------------------------------------------------------------------
# ML513 invalid-locality-lb-setting, ML514 failover-without-outlier-detection
# --------------------------------------------------------------------------------------------

_TOPOLOGY_LABELS = frozenset(
    ("topology.kubernetes.io/region", "topology.kubernetes.io/zone", "topology.istio.io/subzone")
)


def _locality_list_problem(localities: list[str]) -> tuple[int, str] | None:
    """The first locality of a list Istio rejects, with why: a misplaced or repeated `*`, an
    empty part, or an overlap with an earlier one (`us-east/*` and `us-east/zone1`)."""
    # region -> zone -> subzones; "*" stands for "all of them"
    seen: dict[str, dict[str, set[str]]] = {}
    for i, locality in enumerate(localities):
        stars = locality.count("*")
        if stars and (stars > 1 or not locality.endswith("*")):
            return i, (
                f"locality '{locality}' is not valid: '*' may appear once, at the end "
                "(region/*, region/zone/*)"
            )
        overlap = f"locality '{locality}' overlaps one listed before it"
        if "*" in seen:
            return i, overlap
        parts = locality.split("/", 2)
        if any(p == "" for p in parts):
            return i, (
                f"locality '{locality}' has an empty part: write region, region/zone or "
                "region/zone/subzone"
            )
        region = parts[0]
        zones = seen.get(region)
        if len(parts) == 1:
            if zones is not None:
                return i, overlap
            seen[region] = {"*": {"*"}}
            continue
        if zones is None:
            zones = seen[region] = {}
        elif "*" in zones:
            return i, overlap
        zone = parts[1]
        if len(parts) == 2:
            if zone in zones:
                return i, overlap
            zones[zone] = {"*"}
            continue
        subzones = zones.get(zone)
        if subzones is None:
            zones[zone] = {parts[2]}
        elif "*" in subzones or parts[2] in subzones:
            return i, overlap
        else:
            subzones.add(parts[2])
    return None


@rule(
    "ML513",
    "invalid-locality-lb-setting",
    Severity.ERROR,
    summary="Locality or zone-aware load-balancing settings are contradictory or malformed.",
    rationale="""
        `localityLbSetting` either `distribute`s traffic between localities or sets
        `failover` regions, not both, and it cannot be combined with `zoneAwareLbSetting`.
        Each `distribute` entry sends traffic from a locality to others with weights from 1
        to 100 that total exactly 100; localities are `region`, `region/zone` or
        `region/zone/subzone`, with at most one `*`, at the end, and no two of them may
        overlap. `failover` goes from one region to another region (no `/`, no `*`).
        `failoverPriority` may not name the region, zone or subzone topology labels next to
        `failover` (nor at all with zone-aware load balancing, which handles them itself).
        Istio's webhook rejects each of these.
    """,
    bad=_dr(
        """
        host: reviews.shop.svc.cluster.local
        trafficPolicy:
          loadBalancer:
            localityLbSetting:
              distribute:
              - from: us-west/zone1/*
                to:
                  "us-west/zone1/*": 80
                  "us-west/zone2/*": 10
          outlierDetection:
            consecutive5xxErrors: 5
        """
    ),
    good=_dr(
        """
        host: reviews.shop.svc.cluster.local
        trafficPolicy:
          loadBalancer:
            localityLbSetting:
              distribute:
              - from: us-west/zone1/*
                to:
                  "us-west/zone1/*": 80
                  "us-west/zone2/*": 20
          outlierDetection:
            consecutive5xxErrors: 5
        """
    ),
    istio="IST0106",
    kinds=KINDS,
    source=f"{_AGENT} (ValidateLocalityLbSetting, ValidateZoneAwareLbSetting, "
    f"validateLocalities) and {_WEBHOOK} (validateLoadBalancer) — 'only one of "
    "localityLbSetting and zoneAwareLbSetting can be set', 'can not simultaneously specify "
    "'distribute' and 'failover'', 'locality weight must be in range [1, 100]', 'total "
    "locality weight … != 100', 'locality lb failover settings must specify different regions'",
    catalogue=(
        "dr-lb-locality-and-zone",
        "dr-loc-dist-and-failover",
        "dr-loc-prio-topology",
        "dr-loc-dist-weight",
        "dr-loc-dist-sum",
        "dr-loc-wildcard",
        "dr-loc-empty-part",
        "dr-loc-overlap",
        "dr-loc-failover-same",
        "dr-loc-failover-region",
        "dr-loc-failover-wild",
        "dr-zone-prio-topology",
        "dr-zone-failover-same",
        "dr-zone-failover-region",
        "dr-zone-failover-wild",
    ),
)
def check_locality(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for path, lb, _ in _sections(spec, "loadBalancer"):
        if _set(lb.get("localityLbSetting")) and _set(lb.get("zoneAwareLbSetting")):
            yield Finding(
                (*path, "zoneAwareLbSetting"),
                "localityLbSetting and zoneAwareLbSetting cannot be set together: keep one",
                key=True,
            )
        locality = child(lb, "localityLbSetting")
        if locality is not None:
            yield from _locality_problems(locality, (*path, "localityLbSetting"))
        zone = child(lb, "zoneAwareLbSetting")
        if zone is not None:
            base: FieldPath = (*path, "zoneAwareLbSetting")
            priority = zone.get("failoverPriority")
            if isinstance(priority, list):
                for k, label in enumerate(priority):
                    if isinstance(label, str) and label in _TOPOLOGY_LABELS:
                        yield Finding(
                            (*base, "failoverPriority", k),
                            f"'{label}' cannot be used with zone-aware load balancing: it "
                            "already routes by region, zone and subzone (order regions with "
                            "failover instead)",
                        )
            yield from _failover_problems(zone.get("failover"), (*base, "failover"))


def _locality_problems(setting: dict[str, Any], base: FieldPath) -> Iterator[Finding]:
    distribute = setting.get("distribute")
    failover = setting.get("failover")
    if isinstance(distribute, list) and distribute and isinstance(failover, list) and failover:
        yield Finding(
            (*base, "failover"),
            "distribute and failover cannot be set together: keep one of them",
            key=True,
        )
        return
    priority = setting.get("failoverPriority")
    if isinstance(failover, list) and failover and isinstance(priority, list):
        for k, label in enumerate(priority):
            if isinstance(label, str) and label in _TOPOLOGY_LABELS:
                yield Finding(
                    (*base, "failoverPriority", k),
                    f"'{label}' cannot be in failoverPriority when failover is set: remove it, "
                    "or remove failover",
                )
    if isinstance(distribute, list):
        sources: list[str] = []
        source_index: list[int] = []
        for i, entry in enumerate(distribute):
            if not isinstance(entry, dict):
                continue
            where: FieldPath = (*base, "distribute", i)
            origin = entry.get("from")
            if origin is None or isinstance(origin, str):
                sources.append(origin or "")
                source_index.append(i)
            if entry.get("to") is None:
                yield Finding(
                    where,
                    "this distribute entry has no `to`: give the localities to send traffic "
                    "to, with weights that total 100",
                )
            yield from _distribute_to_problems(entry.get("to"), (*where, "to"))
        problem = _locality_list_problem(sources)
        if problem:
            i = source_index[problem[0]]
            entry = distribute[i]
            where = (*base, "distribute", i)
            message = problem[1]
            if entry.get("from") is None:
                message = (
                    "this distribute entry has no `from`: name the locality its traffic comes "
                    "from (region, region/zone or region/zone/subzone, optionally ending in *)"
                )
            yield Finding((*where, "from") if "from" in entry else where, message)
    yield from _failover_problems(failover, (*base, "failover"))


def _distribute_to_problems(to: object, base: FieldPath) -> Iterator[Finding]:
    if not isinstance(to, dict):
        return
    total = 0
    weights_ok = True
    for loc, weight in to.items():
        w = as_int(weight)
        if w is None or not 0 <= w <= _UINT32_MAX:
            weights_ok = False  # not a uint32: the schema's finding
            continue
        if w == 0 or w > 100:
            yield Finding((*base, loc), f"weight {w} is outside 1-100")
            weights_ok = False
        total += w
    if weights_ok and total != 100:
        yield Finding(
            base,
            f"the weights total {total}: the weights of one distribute entry must total 100",
            key=True,
        )
    keys = [k for k in to if isinstance(k, str)]
    problem = _locality_list_problem(keys)
    if problem:
        yield Finding((*base, keys[problem[0]]), problem[1], key=True)


def _failover_problems(failover: object, base: FieldPath) -> Iterator[Finding]:
    if not isinstance(failover, list):
        return
    for k, entry in enumerate(failover):
        if not isinstance(entry, dict):
            continue
        where: FieldPath = (*base, k)
        origin, target = entry.get("from"), entry.get("to")
        origin = origin if isinstance(origin, str) else "" if origin is None else None
        target = target if isinstance(target, str) else "" if target is None else None
        if origin is None or target is None:
            continue
        if origin == target == "":
            yield Finding(where, "this failover entry names no regions: give from and to")
        elif origin == target:
            yield Finding(
                (*where, "to") if "to" in entry else where,
                f"failover goes from region '{origin}' to the same region: name another region",
            )
        for field, value in (("from", origin), ("to", target)):
            if "/" in value:
                yield Finding(
                    (*where, field),
                    f"'{value}' is not a region: failover is between regions only (no '/'); "
                    "zones and subzones fail over automatically",
                )
            elif "*" in value:
                yield Finding(
                    (*where, field), f"'{value}' has a '*': failover names one region, exactly"
                )


@rule(
    "ML514",
    "failover-without-outlier-detection",
    Severity.WARNING,
    summary="Locality failover is configured but the traffic policy has no `outlierDetection`.",
    rationale="""
        Envoy only fails over to another locality when endpoints are ejected as unhealthy,
        and that takes outlier detection. Without `outlierDetection` in the same traffic
        policy (or port-level entry), `failover` and `failoverPriority` never trigger. Istio
        accepts this with a warning.
    """,
    bad=_dr(
        """
        host: reviews.shop.svc.cluster.local
        trafficPolicy:
          loadBalancer:
            localityLbSetting:
              failover:
              - from: us-east
                to: us-west
        """
    ),
    good=_dr(
        """
        host: reviews.shop.svc.cluster.local
        trafficPolicy:
          loadBalancer:
            localityLbSetting:
              failover:
              - from: us-east
                to: us-west
          outlierDetection:
            consecutive5xxErrors: 5
            interval: 10s
        """
    ),
    istio="IST0133",
    kinds=KINDS,
    source=f"{_AGENT} (ValidateLocalityLbSetting, ValidateZoneAwareLbSetting) — warning "
    "'outlier detection policy must be provided for failover'",
    catalogue=("dr-loc-failover-no-od", "dr-zone-failover-no-od"),
)
def check_failover_outlier(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for path, lb, block in _sections(spec, "loadBalancer"):
        if block.get("outlierDetection") is not None:
            continue
        for key in ("localityLbSetting", "zoneAwareLbSetting"):
            setting = child(lb, key)
            if setting is None:
                continue
            for field in ("failover", "failoverPriority"):
                value = setting.get(field)
                if isinstance(value, list) and value:
                    yield Finding(
                        (*path, key, field),
                        f"{field} never triggers without outlierDetection: add "
                        "outlierDetection to this traffic policy",
                        key=True,
                    )
                    break


# --------------------------------------------------------------------------------------------
# ML515 invalid-outlier-detection
# --------------------------------------------------------------------------------------------


@rule(
    "ML515",
    "invalid-outlier-detection",
    Severity.ERROR,
    summary="Outlier detection has a percentage outside 0-100, or counts local-origin "
    "failures without splitting them out.",
    rationale="""
        `maxEjectionPercent` and `minHealthPercent` are percentages from 0 to 100.
        `consecutiveLocalOriginFailures` only counts when local-origin errors (connection
        failures, timeouts) are told apart from upstream ones, which takes
        `splitExternalLocalOriginErrors: true`. Istio's webhook rejects both mistakes.
    """,
    bad=_dr(
        """
        host: reviews.shop.svc.cluster.local
        trafficPolicy:
          outlierDetection:
            consecutive5xxErrors: 5
            maxEjectionPercent: 150
        """
    ),
    good=_dr(
        """
        host: reviews.shop.svc.cluster.local
        trafficPolicy:
          outlierDetection:
            consecutive5xxErrors: 5
            maxEjectionPercent: 50
        """
    ),
    istio="IST0106",
    kinds=KINDS,
    source=f"{_WEBHOOK} (validateOutlierDetection, ValidatePercent) — 'percentage … is not in "
    "range 0..100', 'outlier detection consecutive local origin failures is specified, but "
    "split external local origin errors is set to false'",
    catalogue=("dr-od-localorigin", "dr-od-maxeject", "dr-od-minhealth"),
)
def check_outlier_detection(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for path, od, _ in _sections(spec, "outlierDetection"):
        failures = as_int(od.get("consecutiveLocalOriginFailures"))
        if failures and failures > 0 and od.get("splitExternalLocalOriginErrors") is not True:
            yield Finding(
                (*path, "consecutiveLocalOriginFailures"),
                "consecutiveLocalOriginFailures needs splitExternalLocalOriginErrors: true, "
                "which counts local-origin failures apart",
            )
        for field in ("maxEjectionPercent", "minHealthPercent"):
            n = as_int(od.get(field))
            if n is not None and _INT32_MIN <= n <= _INT32_MAX and not 0 <= n <= 100:
                yield Finding((*path, field), f"{field} {n} is outside 0-100")


# --------------------------------------------------------------------------------------------
# ML516 invalid-client-tls
# --------------------------------------------------------------------------------------------

_CONFIGMAP = "configmap://"


def _nonempty(value: object) -> bool:
    return isinstance(value, str) and value != ""


@rule(
    "ML516",
    "invalid-client-tls",
    Severity.ERROR,
    summary="Client TLS settings conflict or miss what their mode needs.",
    rationale="""
        With `mode: MUTUAL` the proxy presents a client certificate: give `credentialName`
        (a Secret holding it) or both `clientCertificate` and `privateKey` files. A
        `credentialName` with SIMPLE or MUTUAL replaces the certificate files, so it cannot be
        combined with `clientCertificate`, `privateKey`, `caCertificates` or `caCrl`.
        `insecureSkipVerify: true` turns off server verification, so it contradicts
        `caCertificates` and `subjectAltNames` (and, with SIMPLE, `credentialName`). A
        `configmap://` credential is `configmap://<namespace>/<name>`, in the
        DestinationRule's own namespace. Istio's webhook rejects each of these.
    """,
    bad=_dr(
        """
        host: api.example.com
        trafficPolicy:
          tls:
            mode: MUTUAL
            clientCertificate: /etc/certs/client.pem
        """
    ),
    good=_dr(
        """
        host: api.example.com
        trafficPolicy:
          tls:
            mode: MUTUAL
            clientCertificate: /etc/certs/client.pem
            privateKey: /etc/certs/client-key.pem
            caCertificates: /etc/certs/ca.pem
        """
    ),
    istio="IST0106",
    kinds=KINDS,
    source=f"{_AGENT} (ValidateTLS) — 'client certificate required for mutual tls', 'private "
    "key required for mutual tls', 'cannot specify client certificates or CA certificate or CA "
    "CRL If credentialName is set', 'cannot specify CaCertificates or … SubjectAltNames when "
    "InsecureSkipVerify is set true', 'invalid configmap:// credentialName'",
    catalogue=(
        "dr-tls-cm-format",
        "dr-tls-cm-namespace",
        "dr-tls-skipverify-simple",
        "dr-tls-skipverify-mutual",
        "dr-tls-cred-and-files",
        "dr-tls-mutual-cert",
        "dr-tls-mutual-key",
    ),
)
def check_client_tls(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for path, tls, _ in _sections(spec, "tls"):
        yield from _tls_problems(tls, path, res.namespace)


def _tls_problems(tls: dict[str, Any], path: FieldPath, namespace: str | None) -> Iterator[Finding]:
    mode = tls.get("mode")
    credential = tls.get("credentialName")
    if isinstance(credential, str) and credential.startswith(_CONFIGMAP):
        problem = _configmap_problem(credential, namespace)
        if problem:
            yield Finding((*path, "credentialName"), problem)
    if tls.get("insecureSkipVerify") is True and mode in ("SIMPLE", "MUTUAL"):
        conflicting = [k for k in ("caCertificates",) if _nonempty(tls.get(k))]
        if mode == "SIMPLE" and _nonempty(credential):
            conflicting.append("credentialName")
        sans = tls.get("subjectAltNames")
        if isinstance(sans, list) and sans:
            conflicting.append("subjectAltNames")
        if conflicting:
            yield Finding(
                (*path, "insecureSkipVerify"),
                "insecureSkipVerify: true turns off server verification, which "
                f"{' and '.join(conflicting)} configure{'s' if len(conflicting) == 1 else ''}: "
                "remove one or the other",
            )
    if mode in ("SIMPLE", "MUTUAL") and _nonempty(credential):
        files = [
            k
            for k in ("clientCertificate", "privateKey", "caCertificates", "caCrl")
            if _nonempty(tls.get(k))
        ]
        if files:
            yield Finding(
                (*path, files[0]),
                f"{' and '.join(files)} cannot be combined with credentialName, which supplies "
                "the certificates: remove one or the other",
            )
        return
    if mode == "MUTUAL":
        for field in ("clientCertificate", "privateKey"):
            if not _nonempty(tls.get(field)):
                yield Finding(
                    (*path, "mode"),
                    f"mode MUTUAL needs a {field} file (or a credentialName with the client "
                    "certificate and key)",
                )


def _configmap_problem(credential: str, namespace: str | None) -> str | None:
    parts = credential[len(_CONFIGMAP) :].split("/")
    form = "use configmap://<namespace>/<name>"
    if len(parts) < 2:
        return f"'{credential}' names no namespace: {form}"
    if parts[0] == "":
        return f"'{credential}' has an empty namespace: {form}"
    if parts[1] == "":
        return f"'{credential}' has an empty name: {form}"
    if namespace is not None and parts[0] != namespace:
        return (
            f"'{credential}' is in namespace '{parts[0]}': a configmap:// credential must be "
            f"in the DestinationRule's own namespace '{namespace}'"
        )
    return None


# --------------------------------------------------------------------------------------------
# ML517 deprecated-traffic-policy-field
# --------------------------------------------------------------------------------------------


@rule(
    "ML517",
    "deprecated-traffic-policy-field",
    Severity.WARNING,
    summary="A deprecated traffic-policy field is used: `consistentHash.minimumRingSize`, "
    "`outlierDetection.consecutiveErrors` or `loadBalancer.warmupDurationSecs`.",
    rationale="""
        Istio's webhook warns about `consistentHash.minimumRingSize` (use
        `consistentHash.ringHash.minimumRingSize`) and `outlierDetection.consecutiveErrors`
        (use `consecutive5xxErrors` or `consecutiveGatewayErrors`, which say which errors
        count). `loadBalancer.warmupDurationSecs` is deprecated in favour of
        `warmup.duration`, which also takes `minimumPercent` and `aggression`.
    """,
    bad=_dr(
        """
        host: reviews.shop.svc.cluster.local
        trafficPolicy:
          outlierDetection:
            consecutiveErrors: 5
        """
    ),
    good=_dr(
        """
        host: reviews.shop.svc.cluster.local
        trafficPolicy:
          outlierDetection:
            consecutive5xxErrors: 5
        """
    ),
    istio="IST0133",
    kinds=KINDS,
    source=f"{_WEBHOOK} (validateLoadBalancer, validateOutlierDetection) — warnings 'consistent "
    "hash MinimumRingSize is deprecated', 'outlier detection consecutive errors is deprecated'; "
    "istio/api destination_rule.proto (warmupDurationSecs deprecated)",
    catalogue=("dr-lb-minring-old", "dr-od-consecutive-old", "dr-lb-warmupsecs-old"),
)
def check_deprecated(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for path, lb, _ in _sections(spec, "loadBalancer"):
        ch = child(lb, "consistentHash")
        if ch is not None and as_int(ch.get("minimumRingSize")):
            yield Finding(
                (*path, "consistentHash", "minimumRingSize"),
                "consistentHash.minimumRingSize is deprecated: use "
                "consistentHash.ringHash.minimumRingSize",
                key=True,
            )
        if lb.get("warmupDurationSecs") is not None:
            yield Finding(
                (*path, "warmupDurationSecs"),
                "warmupDurationSecs is deprecated: use warmup.duration",
                key=True,
            )
    for path, od, _ in _sections(spec, "outlierDetection"):
        if as_int(od.get("consecutiveErrors")):
            yield Finding(
                (*path, "consecutiveErrors"),
                "consecutiveErrors is deprecated: use consecutive5xxErrors (any 5xx) or "
                "consecutiveGatewayErrors (502, 503, 504)",
                key=True,
            )


# --------------------------------------------------------------------------------------------
# ML518 least-conn-deprecated
# --------------------------------------------------------------------------------------------


@rule(
    "ML518",
    "least-conn-deprecated",
    Severity.WARNING,
    summary="`loadBalancer.simple: LEAST_CONN` is the deprecated spelling of `LEAST_REQUEST`.",
    rationale="""
        Istio's API marks `LEAST_CONN` deprecated in favour of `LEAST_REQUEST`, and Istio
        already programs Envoy's least-request balancer for both, so the two behave the same.
        Writing `LEAST_REQUEST` says what the proxy really does and keeps the manifest valid
        when the deprecated value is dropped. `meshlint lint --fix` rewrites the value, in
        every traffic policy, port-level setting and subset.
    """,
    bad=_dr(
        """
        host: reviews.shop.svc.cluster.local
        trafficPolicy:
          loadBalancer:
            simple: LEAST_CONN
        """
    ),
    good=_dr(
        """
        host: reviews.shop.svc.cluster.local
        trafficPolicy:
          loadBalancer:
            simple: LEAST_REQUEST
        """
    ),
    kinds=KINDS,
    fixable=True,
    source="istio/api networking/v1alpha3/destination_rule.proto (LoadBalancerSettings.SimpleLB:"
    " LEAST_CONN is deprecated, use LEAST_REQUEST); istio/istio "
    "pilot/pkg/networking/core/cluster_traffic_policy.go (LEAST_CONN is programmed as Envoy's "
    "LEAST_REQUEST)",
    catalogue=("dr-lb-leastconn",),
)
def check_least_conn(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for path, lb, _ in _sections(spec, "loadBalancer"):
        if lb.get("simple") == "LEAST_CONN":
            yield Finding(
                (*path, "simple"),
                "LEAST_CONN is deprecated: use LEAST_REQUEST, which Istio applies for both",
                fix=Replacement("simple", "LEAST_REQUEST"),
            )


# --------------------------------------------------------------------------------------------
# ML519 connect-timeout-too-short
# --------------------------------------------------------------------------------------------


@rule(
    "ML519",
    "connect-timeout-too-short",
    Severity.WARNING,
    summary="A connection-pool `connectTimeout` is shorter than 100ms (the `min-connect-timeout` "
    "option).",
    rationale="""
        `connectionPool.tcp.connectTimeout` bounds how long a proxy waits for a TCP (and TLS)
        connection to an upstream host. Istio accepts anything from 1ms, but a connect across
        nodes or zones, a busy host's accept queue or a SYN retransmit (1s on Linux) easily
        takes longer than a few tens of milliseconds. Under load a timeout such as `30ms`
        turns slow connects into connect failures, retries multiply the attempts, outlier
        detection ejects healthy hosts, and the failures cascade. Istio's default is 10s; a
        value from a few hundred milliseconds up is a safer floor. Where every upstream is
        close and fast, lower the floor with the `min-connect-timeout` option.
    """,
    bad=_dr(
        """
        host: reviews.shop.svc.cluster.local
        trafficPolicy:
          connectionPool:
            tcp:
              connectTimeout: 30ms
        """
    ),
    good=_dr(
        """
        host: reviews.shop.svc.cluster.local
        trafficPolicy:
          connectionPool:
            tcp:
              connectTimeout: 1s
        """
    ),
    kinds=KINDS,
    source="meshlint: Istio's MeshConfig connectTimeout default is 10s (istio/istio "
    "pkg/config/mesh/mesh.go); the webhook only requires at least 1ms",
    options=(
        Option(
            "min-connect-timeout",
            "duration",
            "100ms",
            "the shortest connectTimeout that is not reported",
        ),
    ),
)
def check_connect_timeout(res: Resource, *, min_connect_timeout: float) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for path, pool, _ in _sections(spec, "connectionPool"):
        tcp = child(pool, "tcp")
        value = tcp.get("connectTimeout") if tcp is not None else None
        ns = duration_ns(value) if isinstance(value, str) else None
        # Below 1ms Istio rejects it outright (ML510); only what it accepts is judged here.
        if ns is not None and 1_000_000 <= ns < min_connect_timeout * 1e9:
            floor = f"{min_connect_timeout * 1000:g}ms"
            yield Finding(
                (*path, "tcp", "connectTimeout"),
                f"connectTimeout {value} is shorter than {floor}: under load "
                "slow connects become connect failures and retries; Istio's default is 10s",
            )


# --------------------------------------------------------------------------------------------
# ML520 outlier-detection-may-eject-all-hosts, ML521 outlier-detection-default-ejection-time
# --------------------------------------------------------------------------------------------

_OD_SOURCE = (
    "meshlint best practice: istio/api networking/v1alpha3/destination_rule.proto "
    "(OutlierDetection: maxEjectionPercent, minHealthPercent, baseEjectionTime default 30s); "
    "istio/istio pilot/pkg/networking/core/cluster_traffic_policy.go (applyOutlierDetection: "
    "minHealthPercent becomes the healthy panic threshold, 0 by default)"
)


@rule(
    "ML520",
    "outlier-detection-may-eject-all-hosts",
    Severity.WARNING,
    summary="Outlier detection may eject every host (`maxEjectionPercent: 100`) and has no "
    "panic threshold.",
    rationale="""
        With `maxEjectionPercent: 100` outlier detection may take every endpoint of the
        host out of load balancing at once. When a shared dependency fails (a database, a
        bad configuration pushed to every pod), every host answers 5xx, every host is
        ejected, and the client proxies answer 503 "no healthy upstream" for the whole
        `baseEjectionTime` instead of passing on the requests that would have succeeded;
        with one or two replicas that is one bad minute away. Istio sets no panic
        threshold by default (`minHealthPercent` 0), so nothing brings the ejected hosts
        back early.

        Keep `maxEjectionPercent` below 100 (Envoy's default is 10; Envoy always ejects at
        least one host), or set `minHealthPercent` so that the proxy ignores ejections once
        too few hosts are left. Not reported when `minHealthPercent` is above 0.
    """,
    bad=_dr(
        """
        host: reviews.shop.svc.cluster.local
        trafficPolicy:
          outlierDetection:
            consecutive5xxErrors: 5
            interval: 10s
            baseEjectionTime: 30s
            maxEjectionPercent: 100
        """
    ),
    good=_dr(
        """
        host: reviews.shop.svc.cluster.local
        trafficPolicy:
          outlierDetection:
            consecutive5xxErrors: 5
            interval: 10s
            baseEjectionTime: 30s
            maxEjectionPercent: 50
        """
    ),
    kinds=KINDS,
    source=_OD_SOURCE,
    catalogue=(),
)
def check_eject_all(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for path, od, _ in _sections(spec, "outlierDetection"):
        if as_int(od.get("maxEjectionPercent")) != 100:
            continue
        floor = _number(od.get("minHealthPercent"))
        if floor is not None and floor > 0:
            continue
        yield Finding(
            (*path, "maxEjectionPercent"),
            "maxEjectionPercent 100 lets outlier detection eject every host: when all fail "
            "together every request gets 503 'no healthy upstream'; lower it or set "
            "minHealthPercent",
        )


@rule(
    "ML521",
    "outlier-detection-default-ejection-time",
    Severity.INFO,
    summary="Outlier detection sets no `baseEjectionTime` and ejects hosts for Istio's "
    "default of 30s.",
    rationale="""
        An ejected host stays out of load balancing for `baseEjectionTime` times the number
        of times it has been ejected (30s, 60s, 90s …, up to Envoy's cap of 300s). Left
        unset, it is 30s: long for a host that failed one burst of requests when the
        service has few replicas (the others take all its load meanwhile), short for a host
        that is broken for good. The default is reasonable, so this is only information:
        state the value that suits the service, next to `consecutive5xxErrors` and
        `interval`.
    """,
    bad=_dr(
        """
        host: reviews.shop.svc.cluster.local
        trafficPolicy:
          outlierDetection:
            consecutive5xxErrors: 5
            interval: 10s
        """
    ),
    good=_dr(
        """
        host: reviews.shop.svc.cluster.local
        trafficPolicy:
          outlierDetection:
            consecutive5xxErrors: 5
            interval: 10s
            baseEjectionTime: 30s
        """
    ),
    kinds=KINDS,
    source=_OD_SOURCE,
    catalogue=(),
)
def check_default_ejection_time(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for path, od, _ in _sections(spec, "outlierDetection"):
        if not od or od.get("baseEjectionTime") is not None:
            continue
        yield Finding(
            path,
            "outlierDetection sets no baseEjectionTime: an ejected host stays out for 30s, "
            "then 60s, 90s … on each new ejection; state the time that suits the service",
            key=True,
        )
