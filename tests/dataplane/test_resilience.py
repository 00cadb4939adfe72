"""Retries, timeouts, faults, mirroring, connection pools, outlier detection and load
balancing, proven by traffic and held to `meshlint route`'s prediction."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from harness import Backend, Mesh, counts, wait_until
from manifests import mesh as manifests
from manifests import service, workload

REVIEWS = [service("reviews"), workload("reviews-v1", {"app": "reviews", "version": "v1"})]


def vs(http: str) -> str:
    return f"""
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: reviews, namespace: shop}}
spec:
  hosts: [reviews]
  http:
{http}"""


def dr(policy: str, subsets: str = "") -> str:
    return f"""
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: reviews, namespace: shop}}
spec:
  host: reviews
  trafficPolicy:
{policy}{subsets}"""


def test_retries_until_success(mesh: Callable[..., Mesh]) -> None:
    m = mesh(
        manifests(
            *REVIEWS,
            vs("""  - route: [{destination: {host: reviews}}]
    retries: {attempts: 3, retryOn: 5xx}"""),
        ),
        [Backend("flaky", "reviews", 9080, fail_first=2)],
        workload="shop/frontend",
    )
    r, answer = m.agree("GET", "http://reviews:9080/")
    assert r.status == 200
    assert m.backend("flaky").count() == 3  # failed twice, then succeeded
    assert answer.route is not None and answer.route.retry is not None
    assert answer.route.retry.attempts == 3 and "5xx" in answer.route.retry.retry_on


def test_retries_exhausted(mesh: Callable[..., Mesh]) -> None:
    m = mesh(
        manifests(
            *REVIEWS,
            vs("""  - route: [{destination: {host: reviews}}]
    retries: {attempts: 2, retryOn: "5xx"}"""),
        ),
        [Backend("down", "reviews", 9080, status=503)],
        workload="shop/frontend",
    )
    r, answer = m.agree("GET", "http://reviews:9080/")
    assert r.status == 503
    assert m.backend("down").count() == 3  # attempts + 1 tries
    assert answer.route is not None and answer.route.retry is not None
    assert answer.route.retry.attempts == 2


def test_retry_on_is_honoured(mesh: Callable[..., Mesh]) -> None:
    # retryOn names 502 only: a 503 is not retried, a 502 is
    m = mesh(
        manifests(
            *REVIEWS,
            vs("""  - route: [{destination: {host: reviews}}]
    retries: {attempts: 2, retryOn: "502"}"""),
        ),
        [Backend("b", "reviews", 9080)],
        workload="shop/frontend",
    )
    assert m.agree("GET", "http://reviews:9080/", {"x-status": "503"})[0].status == 503
    assert m.backend("b").count() == 1
    assert m.get("reviews:9080", headers={"x-status": "502"}).status == 502
    assert m.backend("b").count() == 1 + 3
    answer = m.predict("GET", "http://reviews:9080/")
    assert answer.route is not None and answer.route.retry is not None
    assert answer.route.retry.status_codes == (502,)


def test_no_retries_when_attempts_is_zero(mesh: Callable[..., Mesh]) -> None:
    m = mesh(
        manifests(
            *REVIEWS,
            vs("""  - route: [{destination: {host: reviews}}]
    retries: {attempts: 0}"""),
        ),
        [Backend("b", "reviews", 9080, status=503)],
        workload="shop/frontend",
    )
    r, answer = m.agree("GET", "http://reviews:9080/")
    assert r.status == 503 and m.backend("b").count() == 1
    assert answer.route is not None and answer.route.retry is None


def test_route_timeout(mesh: Callable[..., Mesh]) -> None:
    m = mesh(
        manifests(
            *REVIEWS,
            vs("""  - route: [{destination: {host: reviews}}]
    timeout: 0.5s
    retries: {attempts: 0}"""),
        ),
        [Backend("slow", "reviews", 9080, delay=2.0)],
        workload="shop/frontend",
    )
    r = m.get("reviews:9080")
    assert r.status == 504
    assert 0.4 <= r.seconds < 1.5, r.seconds
    assert m.predict("GET", "http://reviews:9080/").route.timeout == 0.5  # type: ignore[union-attr]


def test_per_try_timeout(mesh: Callable[..., Mesh]) -> None:
    # each try may take 0.3s; the first two are slow (x-delay), so three tries in all
    m = mesh(
        manifests(
            *REVIEWS,
            vs("""  - route: [{destination: {host: reviews}}]
    timeout: 5s
    retries: {attempts: 2, perTryTimeout: 0.3s, retryOn: "5xx"}"""),
        ),
        [Backend("slow", "reviews", 9080, delay=1.0)],
        workload="shop/frontend",
    )
    r = m.get("reviews:9080")
    assert r.status == 504
    assert 0.8 <= r.seconds < 3.0, r.seconds  # three tries of 0.3s, not one of 5s
    assert wait_until(lambda: m.backend("slow").count() == 3)


def test_fault_delay(mesh: Callable[..., Mesh]) -> None:
    m = mesh(
        manifests(
            *REVIEWS,
            vs("""  - route: [{destination: {host: reviews}}]
    fault:
      delay: {fixedDelay: 0.6s, percentage: {value: 100}}"""),
        ),
        [Backend("b", "reviews", 9080)],
        workload="shop/frontend",
    )
    r, _ = m.agree("GET", "http://reviews:9080/")
    assert r.status == 200 and r.seconds >= 0.55, r.seconds
    fault = m.predict("GET", "http://reviews:9080/").route.fault  # type: ignore[union-attr]
    assert fault is not None and fault.delay is not None and fault.delay.seconds == 0.6


def test_fault_abort(mesh: Callable[..., Mesh]) -> None:
    m = mesh(
        manifests(
            *REVIEWS,
            vs("""  - route: [{destination: {host: reviews}}]
    fault:
      abort: {httpStatus: 418, percentage: {value: 100}}"""),
        ),
        [Backend("b", "reviews", 9080)],
        workload="shop/frontend",
    )
    r, answer = m.agree("GET", "http://reviews:9080/")
    assert r.status == 418 == answer.status
    assert m.backend("b").count() == 0


def test_mirroring(mesh: Callable[..., Mesh]) -> None:
    m = mesh(
        manifests(
            *REVIEWS,
            service("shadow"),
            vs("""  - route: [{destination: {host: reviews}}]
    mirror: {host: shadow}
    mirrorPercentage: {value: 100}"""),
        ),
        [Backend("main", "reviews", 9080), Backend("copy", "shadow", 9080)],
        workload="shop/frontend",
    )
    r, _ = m.agree("GET", "http://reviews:9080/orders/1")
    assert r.instance == "main"
    assert wait_until(lambda: m.backend("copy").count() == 1)
    assert m.backend("copy").received[0]["path"] == "/orders/1"
    mirrors = m.predict("GET", "http://reviews:9080/").route.mirrors  # type: ignore[union-attr]
    assert [x.cluster for x in mirrors] == ["outbound|9080||shadow.shop.svc.cluster.local"]


def test_connection_pool_overflow(mesh: Callable[..., Mesh]) -> None:
    m = mesh(
        manifests(
            *REVIEWS,
            vs("""  - route: [{destination: {host: reviews}}]
    retries: {attempts: 0}"""),
            dr("""    connectionPool:
      tcp: {maxConnections: 1}
      http: {http1MaxPendingRequests: 1, http2MaxRequests: 1}
"""),
        ),
        [Backend("slow", "reviews", 9080, delay=0.8)],
        workload="shop/frontend",
    )
    statuses: list[int] = []
    lock = threading.Lock()

    def call() -> None:
        s = m.get("reviews:9080").status
        with lock:
            statuses.append(s)

    threads = [threading.Thread(target=call) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert statuses.count(503) >= 3, statuses  # at most one active, one pending
    assert 200 in statuses
    (target,) = m.predict("GET", "http://reviews:9080/").targets
    assert target.cluster.pool.max_connections == 1
    assert target.cluster.pool.max_pending_requests == 1


def test_outlier_detection_ejects_a_failing_endpoint(mesh: Callable[..., Mesh]) -> None:
    m = mesh(
        manifests(
            *REVIEWS,
            vs("""  - route: [{destination: {host: reviews}}]
    retries: {attempts: 0}"""),
            dr("""    loadBalancer: {simple: ROUND_ROBIN}
    outlierDetection:
      consecutive5xxErrors: 2
      interval: 0.2s
      baseEjectionTime: 30s
      maxEjectionPercent: 100
"""),
        ),
        [Backend("good", "reviews", 9080), Backend("bad", "reviews", 9080, status=500)],
        workload="shop/frontend",
    )
    for _ in range(8):  # round robin: the bad one fails twice in a row within these
        m.get("reviews:9080")
    time.sleep(0.5)  # an interval passes: the ejection takes effect
    got = counts(m.get("reviews:9080") for _ in range(20))
    assert got == {"good": 20}, got
    answer = m.predict("GET", "http://reviews:9080/")
    (target,) = answer.targets
    assert target.cluster.outlier is not None and target.cluster.outlier.consecutive_5xx == 2
    assert m.predicted_instances(answer) == {"good", "bad"}


def _predicted_policy(m: Mesh) -> str:
    answer = m.predict("GET", "http://reviews:9080/")
    assert m.predicted_instances(answer) == {"r0", "r1", "r2"}
    return answer.targets[0].cluster.lb.policy


def _lb(mesh: Callable[..., Mesh], policy: str, n: int = 60) -> tuple[Mesh, dict[str | None, int]]:
    m = mesh(
        manifests(*REVIEWS, dr(policy)),
        [Backend(f"r{i}", "reviews", 9080) for i in range(3)],
        workload="shop/frontend",
    )
    return m, counts(m.get("reviews:9080") for _ in range(n))


def test_round_robin(mesh: Callable[..., Mesh]) -> None:
    m, got = _lb(mesh, "    loadBalancer: {simple: ROUND_ROBIN}\n")
    assert sorted(got.values()) == [20, 20, 20], got
    assert _predicted_policy(m) == "ROUND_ROBIN"


def test_least_request(mesh: Callable[..., Mesh]) -> None:
    m, got = _lb(mesh, "    loadBalancer: {simple: LEAST_REQUEST}\n", 90)
    assert len(got) == 3 and min(got.values()) >= 10, got  # sequential requests spread
    assert _predicted_policy(m) == "LEAST_REQUEST"


def test_random(mesh: Callable[..., Mesh]) -> None:
    m, got = _lb(mesh, "    loadBalancer: {simple: RANDOM}\n", 150)
    assert len(got) == 3 and min(got.values()) >= 20, got  # mean 50, sd 5.8
    assert _predicted_policy(m) == "RANDOM"


def test_consistent_hash(mesh: Callable[..., Mesh]) -> None:
    m = mesh(
        manifests(
            *REVIEWS,
            dr("    loadBalancer:\n      consistentHash: {httpHeaderName: x-user}\n"),
        ),
        [Backend(f"r{i}", "reviews", 9080) for i in range(3)],
        workload="shop/frontend",
    )
    for user in ("ann", "bob", "cid", "dan"):
        seen = {m.get("reviews:9080", headers={"x-user": user}).instance for _ in range(8)}
        assert len(seen) == 1, (user, seen)
    route = m.predict("GET", "http://reviews:9080/").route
    assert route is not None and route.hash_policy[0].header == "x-user"
    assert route.retry is not None and not route.retry.previous_hosts


def test_locality_weighting(mesh: Callable[..., Mesh]) -> None:
    # three endpoints in zone a, one in zone b: by locality, zone b takes half the traffic
    m = mesh(
        manifests(*REVIEWS, dr("    loadBalancer: {simple: ROUND_ROBIN}\n")),
        [
            Backend("a1", "reviews", 9080, locality="eu/a"),
            Backend("a2", "reviews", 9080, locality="eu/a"),
            Backend("a3", "reviews", 9080, locality="eu/a"),
            Backend("b1", "reviews", 9080, locality="eu/b"),
        ],
        workload="shop/frontend",
    )
    got = counts(m.get("reviews:9080") for _ in range(200))
    assert 70 <= got.get("b1", 0) <= 130, got  # 100 by locality, 50 without
    (target,) = m.predict("GET", "http://reviews:9080/").targets
    assert target.cluster.lb.locality
    assert {e.locality for e in target.cluster.endpoints} == {"eu/a", "eu/b"}


def test_consistent_hash_by_a_cookie_the_proxy_makes(mesh: Callable[..., Mesh]) -> None:
    m = mesh(
        manifests(
            *REVIEWS,
            dr(
                "    loadBalancer:\n      consistentHash:\n"
                "        httpCookie: {name: session, ttl: 60s}\n"
            ),
        ),
        [Backend(f"r{i}", "reviews", 9080) for i in range(3)],
        workload="shop/frontend",
    )
    for _ in range(3):  # each client without a cookie gets one, and keeps its endpoint with it
        first = m.get("reviews:9080")
        cookie = first.headers["set-cookie"]
        assert cookie.startswith("session=") and "Max-Age=60" in cookie
        pair = cookie.split(";")[0]
        got = {m.get("reviews:9080", headers={"cookie": pair}).instance for _ in range(6)}
        assert len(got) == 1, (pair, got)
    route = m.predict("GET", "http://reviews:9080/").route
    assert route is not None and route.hash_policy[0].cookie == "session"
