"""The endpoints of a cluster: which one takes a request (round robin, least request, random,
consistent hash; localities weighted), and which are ejected for failing (outlier detection),
with Envoy's defaults where the Plan leaves a field out.
"""

from __future__ import annotations

import bisect
import hashlib
import random
import time
from collections.abc import Iterable

from meshlint.translate.plan import Cluster, Endpoint, OutlierDetection

# Envoy's defaults for what an outlier detection leaves out
CONSECUTIVE_5XX = 5
CONSECUTIVE_GATEWAY = 5
INTERVAL = 10.0
BASE_EJECTION = 30.0
MAX_EJECTION_PERCENT = 10
MAX_EJECTION_TIME = 300.0
OVERPROVISIONING = 1.4  # a locality keeps its whole weight until under 1/1.4 of it is healthy
RING_SIZE = 1024


class Host:
    """One endpoint and what the balancer knows of it."""

    __slots__ = (
        "active",
        "address",
        "current",
        "ejected_until",
        "ejections",
        "errors_5xx",
        "errors_gateway",
        "errors_local",
        "labels",
        "locality",
        "name",
        "port",
        "weight",
    )

    def __init__(self, e: Endpoint) -> None:
        self.address = e.address
        self.port = e.port
        self.weight = e.weight or 1
        self.locality = e.locality
        self.labels = dict(e.labels)
        self.active = 0  # requests in flight
        self.ejected_until = 0.0  # monotonic time; 0: not ejected
        self.ejections = 0
        self.errors_5xx = 0
        self.errors_gateway = 0
        self.errors_local = 0
        self.current = 0.0  # smooth weighted round robin
        host = f"[{e.address}]" if ":" in e.address else e.address
        self.name = f"{host}:{e.port}"


class _Picker:
    """One policy over a fixed list of hosts."""

    def __init__(self, policy: str, hosts: list[Host], ring_size: int | None) -> None:
        self.policy = policy
        self.hosts = hosts
        self.next = 0
        self.weighted = len({h.weight for h in hosts}) > 1
        self.ring: list[int] = []
        self.ring_hosts: list[Host] = []
        if policy in ("RING_HASH", "MAGLEV") and hosts:
            self._build_ring(ring_size or RING_SIZE)

    def _build_ring(self, size: int) -> None:
        total = sum(h.weight for h in self.hosts)
        points: list[tuple[int, Host]] = []
        for h in self.hosts:
            count = max(1, round(size * h.weight / total))
            for i in range(count):
                digest = hashlib.blake2b(f"{h.name}_{i}".encode(), digest_size=8).digest()
                points.append((int.from_bytes(digest, "big"), h))
        points.sort(key=lambda p: p[0])
        self.ring = [p[0] for p in points]
        self.ring_hosts = [p[1] for p in points]

    def pick(self, key: int | None, avoid: Iterable[Host]) -> Host:
        hosts = self.hosts
        if len(hosts) == 1:
            return hosts[0]
        avoid = set(avoid)
        policy = self.policy
        if policy in ("RING_HASH", "MAGLEV") and key is not None:
            i = bisect.bisect_left(self.ring, key) % len(self.ring)
            return self.ring_hosts[i]
        if policy == "ROUND_ROBIN":
            for _ in range(len(hosts)):
                h = self._round_robin()
                if h not in avoid:
                    return h
            return h
        candidates = [h for h in hosts if h not in avoid] or hosts
        if policy == "LEAST_REQUEST" and len(candidates) > 1:
            a, b = random.sample(candidates, 2)  # the power of two choices
            if self.weighted:
                return a if a.active / a.weight <= b.active / b.weight else b
            return a if a.active <= b.active else b
        if self.weighted:
            return random.choices(candidates, [h.weight for h in candidates])[0]
        return random.choice(candidates)

    def _round_robin(self) -> Host:
        hosts = self.hosts
        if not self.weighted:
            h = hosts[self.next % len(hosts)]
            self.next += 1
            return h
        total = 0
        best = hosts[0]
        for h in hosts:  # smooth weighted round robin
            h.current += h.weight
            total += h.weight
            if h.current > best.current:
                best = h
        best.current -= total
        return best


class Balancer:
    """The hosts of one cluster, the healthy ones among them, and the choice of one."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.hosts = [Host(e) for e in cluster.endpoints]
        self.policy = cluster.lb.policy
        od = cluster.outlier
        self.outlier: OutlierDetection | None = od
        self.threshold_5xx = CONSECUTIVE_5XX
        self.threshold_gateway = 0  # not enforced unless given
        self.threshold_local = 0
        self.interval = INTERVAL
        self.base_ejection = BASE_EJECTION
        self.max_percent = MAX_EJECTION_PERCENT
        self.panic = 50.0  # Envoy's healthy panic threshold
        if od is not None:
            if od.consecutive_5xx is not None:
                self.threshold_5xx = od.consecutive_5xx
            if od.consecutive_gateway_errors is not None:
                self.threshold_gateway = od.consecutive_gateway_errors
            if od.split_external_local_origin_errors and od.consecutive_local_origin_failures:
                self.threshold_local = od.consecutive_local_origin_failures
            if od.interval is not None:
                self.interval = od.interval
            if od.base_ejection_time is not None:
                self.base_ejection = od.base_ejection_time
            if od.max_ejection_percent:
                self.max_percent = od.max_ejection_percent
            self.panic = float(od.min_health_percent)
        self.localities = bool(cluster.lb.locality) and any(h.locality for h in self.hosts)
        self.ejected = 0
        self._generation = 0  # changes with the healthy hosts
        self._built = -1
        self._pickers: list[tuple[_Picker, float]] = []
        self._locality_current: list[float] = []

    # choice ----------------------------------------------------------------------------------

    def choose(self, key: int | None = None, avoid: Iterable[Host] = ()) -> Host | None:
        """The host for one request; None when none may take it (no healthy upstream)."""
        if not self.hosts:
            return None
        if self.ejected:
            self._readmit()
        pickers = self._current()
        if not pickers:
            return None
        if len(pickers) == 1:
            return pickers[0][0].pick(key, avoid)
        return self._locality(pickers).pick(key, avoid)

    def _current(self) -> list[tuple[_Picker, float]]:
        if self._generation == self._built:
            return self._pickers
        self._built = self._generation
        healthy = [h for h in self.hosts if not h.ejected_until]
        if not healthy or len(healthy) * 100 < self.panic * len(self.hosts):
            healthy = self.hosts if self.panic > 0 else healthy  # panic: every host
        self._pickers = self._build(healthy)
        self._locality_current = [0.0] * len(self._pickers)
        return self._pickers

    def _build(self, healthy: list[Host]) -> list[tuple[_Picker, float]]:
        ring = self.cluster.lb.ring_size or self.cluster.lb.table_size
        if not healthy:
            return []
        if not self.localities:
            return [(_Picker(self.policy, healthy, ring), 1.0)]
        groups: dict[str | None, list[Host]] = {}
        for h in self.hosts:
            groups.setdefault(h.locality, [])
        for h in healthy:
            groups[h.locality].append(h)
        out = []
        for locality, members in groups.items():
            total = sum(1 for h in self.hosts if h.locality == locality)
            if not members or locality is None:  # a host without locality has no weight
                continue
            weight = min(1.0, OVERPROVISIONING * len(members) / total)
            out.append((_Picker(self.policy, members, ring), weight))
        return out

    def _locality(self, pickers: list[tuple[_Picker, float]]) -> _Picker:
        current = self._locality_current
        total = 0.0
        best = 0
        for i, (_, weight) in enumerate(pickers):  # smooth weighted round robin
            current[i] += weight
            total += weight
            if current[i] > current[best]:
                best = i
        current[best] -= total
        return pickers[best][0]

    # outlier detection -----------------------------------------------------------------------

    def report(self, host: Host, status: int | None) -> None:
        """The outcome of one try on ``host``: a status, or None for a failure of the
        connection (refused, reset, timed out), which counts as a 5xx and a gateway error
        unless local-origin errors are split."""
        if status is not None and status < 500:
            host.errors_5xx = host.errors_gateway = host.errors_local = 0
            return
        split = self.outlier is not None and self.outlier.split_external_local_origin_errors
        if status is None and split:
            host.errors_local += 1
            if self.threshold_local and host.errors_local >= self.threshold_local:
                self._eject(host)
            return
        host.errors_5xx += 1
        gateway = status is None or status in (502, 503, 504)
        if gateway:
            host.errors_gateway += 1
        else:
            host.errors_gateway = 0
        if (self.threshold_5xx and host.errors_5xx >= self.threshold_5xx) or (
            self.threshold_gateway and gateway and host.errors_gateway >= self.threshold_gateway
        ):
            self._eject(host)

    def _eject(self, host: Host) -> None:
        host.errors_5xx = host.errors_gateway = host.errors_local = 0
        if host.ejected_until:
            return
        if self.ejected and self.ejected * 100 >= self.max_percent * len(self.hosts):
            return  # at least one host may always be ejected
        host.ejections += 1
        seconds = min(
            self.base_ejection * host.ejections, max(self.base_ejection, MAX_EJECTION_TIME)
        )
        host.ejected_until = time.monotonic() + seconds
        self.ejected += 1
        self._generation += 1

    def _readmit(self) -> None:
        now = time.monotonic()
        for h in self.hosts:
            if h.ejected_until and now >= h.ejected_until:
                h.ejected_until = 0.0
                self.ejected -= 1
                self._generation += 1

    def ejected_hosts(self) -> list[Host]:
        return [h for h in self.hosts if h.ejected_until]


def hash_key(value: str) -> int:
    """A request's hash for the consistent-hash ring."""
    return int.from_bytes(hashlib.blake2b(value.encode(), digest_size=8).digest(), "big")
