"""Traffic policies: the blocks of a DestinationRule that hold them, and the checks that
DestinationRule and Sidecar connection pools share (Istio validates both with one function)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from meshlint.diagnostics import FieldPath, Finding
from meshlint.resource import Resource
from meshlint.rules.lib.grammar import check_duration
from meshlint.verdicts import keep_verdict

_INT32_MIN = -(2**31)


def traffic_policies(spec: dict[str, Any]) -> Iterator[tuple[FieldPath, dict[str, Any]]]:
    """The top-level traffic policy and each subset's one."""
    return iter(_walk(spec)[0])


def policy_blocks(spec: dict[str, Any]) -> Iterator[tuple[FieldPath, dict[str, Any]]]:
    """Every traffic policy (the top-level one, then each subset's) and, after each, its
    port-level entries (each holds the same sections)."""
    return iter(_walk(spec)[1])


def traffic_policies_of(res: Resource) -> list[tuple[FieldPath, dict[str, Any]]]:
    """:func:`traffic_policies` of the resource's spec (none when it is not a mapping), read
    once per resource."""
    return res.memo(_walk, lambda: _walk(res.spec_map))[0]


def policy_blocks_of(res: Resource) -> list[tuple[FieldPath, dict[str, Any]]]:
    """:func:`policy_blocks` of the resource's spec (none when it is not a mapping), read once
    per resource."""
    return res.memo(_walk, lambda: _walk(res.spec_map))[1]


_Blocks = list[tuple[FieldPath, dict[str, Any]]]
_TOP_POLICY: FieldPath = ("spec", "trafficPolicy")


def _walk(spec: dict[str, Any] | None) -> tuple[_Blocks, _Blocks]:
    """The traffic policies of a spec, and the same with the port-level entries of each after
    it (the one list when there are none)."""
    policies: _Blocks = []
    if spec is None:
        return policies, policies
    tp = spec.get("trafficPolicy")
    if isinstance(tp, dict):
        policies.append((_TOP_POLICY, tp))
    subsets = spec.get("subsets")
    if isinstance(subsets, list):
        for i, subset in enumerate(subsets):
            if isinstance(subset, dict):
                tp = subset.get("trafficPolicy")
                if isinstance(tp, dict):
                    policies.append((("spec", "subsets", i, "trafficPolicy"), tp))
    blocks = policies
    for n, (path, tp) in enumerate(policies):
        pls = tp.get("portLevelSettings")
        if not isinstance(pls, list):
            pls = None
        if blocks is policies:
            if not pls:
                continue
            blocks = policies[:n]  # from here on, a list of its own
        blocks.append((path, tp))
        for j, pl in enumerate(pls or ()):
            if isinstance(pl, dict):
                blocks.append(((*path, "portLevelSettings", j), pl))
    return policies, blocks


_TCP_COUNTERS = ("maxConnections",)
_HTTP_COUNTERS = (
    "http1MaxPendingRequests",
    "http2MaxRequests",
    "maxRequestsPerConnection",
    "maxRetries",
    "maxConcurrentStreams",
)


def connection_pool_findings(pool: dict[str, Any], base: FieldPath) -> Iterator[Finding]:
    """What Istio's validateConnectionPool rejects in a pool's limits and HTTP/2 settings: the
    findings of the three functions below, in their order.

    Sidecars take the same connection pools (ML672 calls this too).
    """
    yield from negative_limit_findings(pool, base)
    yield from h2_upgrade_findings(pool, base)
    yield from http2_keepalive_findings(pool, base)


def negative_limit_findings(pool: dict[str, Any], base: FieldPath) -> list[Finding]:
    """The connection-pool limits (TCP connections, HTTP requests, retries, streams) that are
    negative."""
    found: list[Finding] = []
    tcp = pool.get("tcp")
    if isinstance(tcp, dict):
        _negatives(tcp, base, "tcp", _TCP_COUNTERS, found)
    http = pool.get("http")
    if isinstance(http, dict):
        _negatives(http, base, "http", _HTTP_COUNTERS, found)
    return found


def h2_upgrade_findings(pool: dict[str, Any], base: FieldPath) -> list[Finding]:
    """``h2UpgradePolicy: UPGRADE`` together with ``useClientProtocol: true``."""
    http = pool.get("http")
    if (
        isinstance(http, dict)
        and http.get("h2UpgradePolicy") == "UPGRADE"
        and http.get("useClientProtocol") is True
    ):
        return [
            Finding(
                (*base, "http", "useClientProtocol"),
                "useClientProtocol: true contradicts h2UpgradePolicy: UPGRADE: remove one of them",
            )
        ]
    return []


def http2_keepalive_findings(pool: dict[str, Any], base: FieldPath) -> list[Finding]:
    """An ``http.http2KeepAlive`` without its ``interval`` or its ``timeout``."""
    http = pool.get("http")
    keepalive = http.get("http2KeepAlive") if isinstance(http, dict) else None
    if not isinstance(keepalive, dict):
        return []
    return [
        Finding(
            (*base, "http", "http2KeepAlive"),
            f"http2KeepAlive needs an {field}, e.g. {field}: "
            f"{'30s' if field == 'interval' else '10s'}",
            key=True,
        )
        for field in ("interval", "timeout")
        if keepalive.get(field) is None
    ]


def _negatives(
    obj: dict[str, Any], base: FieldPath, where: str, fields: tuple[str, ...], found: list[Finding]
) -> None:
    for field in fields:
        n = obj.get(field)
        # (a boolean is never below 0)
        if isinstance(n, int) and _INT32_MIN <= n < 0:
            found.append(
                Finding(
                    (*base, where, field),
                    f"{field} {n} is negative: a limit must be 0 (not set) or more",
                )
            )


_DURATIONS: tuple[tuple[str, tuple[str, ...], bool, bool], ...] = (
    ("connectionPool", ("http", "idleTimeout"), False, True),
    ("connectionPool", ("http", "http2KeepAlive", "interval"), False, True),
    ("connectionPool", ("http", "http2KeepAlive", "timeout"), False, True),
    ("connectionPool", ("tcp", "connectTimeout"), False, True),
    ("connectionPool", ("tcp", "maxConnectionDuration"), False, True),
    ("connectionPool", ("tcp", "idleTimeout"), True, True),
    ("connectionPool", ("tcp", "tcpKeepalive", "time"), False, True),
    ("connectionPool", ("tcp", "tcpKeepalive", "interval"), False, True),
    ("loadBalancer", ("warmup", "duration"), False, True),
    ("loadBalancer", ("warmupDurationSecs",), False, False),
    ("outlierDetection", ("interval",), False, True),
    ("outlierDetection", ("baseEjectionTime",), False, True),
)

DURATION_FIELDS = tuple(dict.fromkeys(inner[-1] for _, inner, _, _ in _DURATIONS))
"""The keys of the durations a traffic policy holds (what ML510 ``needs``)."""

# A section's durations as a tree of the keys that lead to them. A leaf holds the path inside
# the section, the table of verdicts on the texts judged so far (one per way of judging, see
# keep_verdict), whether 0 is allowed and whether whole milliseconds are required.
_Leaf = tuple[tuple[str, ...], dict[str, str | None], bool, bool]


def _duration_trees() -> dict[str, dict[str, Any]]:
    trees: dict[str, dict[str, Any]] = {}
    verdicts: dict[tuple[bool, bool], dict[str, str | None]] = {}
    for section, inner, allow_zero, whole_ms in _DURATIONS:
        node = trees.setdefault(section, {})
        for key in inner[:-1]:
            node = node.setdefault(key, {})
        table = verdicts.setdefault((allow_zero, whole_ms), {})
        node[inner[-1]] = (inner, table, allow_zero, whole_ms)
    return trees


_DURATION_TREES = _duration_trees()


def duration_findings(block: dict[str, Any], base: FieldPath, section: str) -> list[Finding]:
    """The durations of one traffic-policy section (``connectionPool``, ``loadBalancer`` or
    ``outlierDetection``) that Istio rejects; Sidecar connection pools (ML672) use it too."""
    found: list[Finding] = []
    tree = _DURATION_TREES.get(section)
    if tree is not None and isinstance(block, dict):
        _durations_in(block, tree, base, found)
    return found


def _durations_in(
    block: dict[str, Any], node: dict[str, Any], base: FieldPath, found: list[Finding]
) -> None:
    for key, below in node.items():
        value = block.get(key)
        if value is None:
            continue
        if not isinstance(below, tuple):
            if isinstance(value, dict):
                _durations_in(value, below, base, found)
            continue
        if not isinstance(value, str):
            continue
        leaf: _Leaf = below
        inner, verdicts, allow_zero, whole_ms = leaf
        if value in verdicts:
            problem = verdicts[value]
        else:
            problem = keep_verdict(verdicts, value, _duration_problem(value, allow_zero, whole_ms))
        if problem:
            found.append(Finding((*base, *inner), f"{inner[-1]} {problem}"))


def _duration_problem(text: str, allow_zero: bool, whole_ms: bool) -> str | None:
    problem = check_duration(text, allow_zero=allow_zero, whole_ms=whole_ms)
    # A value that is not a duration at all is the schema's finding.
    return None if problem is None or "is not a duration" in problem else problem
