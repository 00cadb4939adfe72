"""Load balancing in a DestinationRule: consistent hashing (its cookie, ring size and maglev
table), warmup, and the deprecated LEAST_CONN. Locality load balancing has a module of its own.

Facts: istio/istio ``pkg/config/validation/validation.go`` (``validateLoadBalancer``,
``isPrime``); istio/api ``networking/v1alpha3/destination_rule.proto``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from meshlint.diagnostics import FieldPath, Replacement, Severity
from meshlint.resource import Resource
from meshlint.rules import Finding, rule
from meshlint.rules.lib.destinationrule import KINDS, WEBHOOK, dr, is_set, number, sections_of
from meshlint.rules.lib.guards import as_int, child


def _consistent_hashes(res: Resource) -> Iterator[tuple[FieldPath, dict[str, Any]]]:
    """Each ``loadBalancer.consistentHash`` that is a mapping, with its path."""
    for path, lb, _ in sections_of(res, "loadBalancer"):
        ch = child(lb, "consistentHash")
        if ch is not None:
            yield (*path, "consistentHash"), ch


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


@rule(
    "ML511",
    "invalid-consistent-hash",
    Severity.ERROR,
    summary="A consistent-hash cookie or one of its attributes has no name, or an attribute "
    "is given twice.",
    rationale="""
        With `consistentHash.httpCookie` Envoy hashes on a cookie (and creates it when the
        request has none), so the cookie and each of its `attributes` need a name, and no
        attribute may be given twice. Istio's webhook rejects each of these.

        In 0.2 two problems of consistent hashing became rules of their own: `minimumRingSize`
        next to `ringHash` or `maglev` (ML525) and the maglev table size (ML526).
    """,
    bad=dr(
        """
        host: reviews.shop.svc.cluster.local
        trafficPolicy:
          loadBalancer:
            consistentHash:
              httpCookie:
                name: user
                ttl: 0s
                attributes:
                - name: SameSite
                  value: Strict
                - name: SameSite  # expect: ML511@19 spec.trafficPolicy.loadBalancer.consistentHash.httpCookie.attributes[1].name
                  value: Lax
        """
    ),
    good=dr(
        """
        host: reviews.shop.svc.cluster.local
        trafficPolicy:
          loadBalancer:
            consistentHash:
              httpCookie:
                name: user
                ttl: 0s
                attributes:
                - name: SameSite
                  value: Strict
        """
    ),
    istio="IST0106",
    kinds=KINDS,
    source=f"{WEBHOOK} (validateLoadBalancer) — 'name required for HttpCookie', 'cookie "
    "attribute name cannot be empty', 'duplicate cookie attribute name'",
    catalogue=("dr-lb-cookie-name", "dr-lb-cookie-attr-name", "dr-lb-cookie-attr-dup"),
    needs=("httpCookie",),
)
def invalid_consistent_hash(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for base, ch in _consistent_hashes(res):
        cookie = child(ch, "httpCookie")
        if cookie is not None:
            yield from _cookie_problems(cookie, (*base, "httpCookie"))


@rule(
    "ML525",
    "minimum-ring-size-with-hash-algorithm",
    Severity.ERROR,
    summary="The deprecated `consistentHash.minimumRingSize` is set next to `ringHash` or "
    "`maglev`.",
    rationale="""
        `consistentHash.minimumRingSize` is the old way to size the ring of the ring-hash
        algorithm. Once `ringHash` or `maglev` chooses the algorithm explicitly, the old
        field would say something else, and Istio's webhook rejects the combination: give
        the size as `ringHash.minimumRingSize` (maglev has its `tableSize` instead).

        Until 0.2 this was part of ML511, whose code still selects, ignores and suppresses
        it.
    """,
    bad=dr(
        """
        host: reviews.shop.svc.cluster.local
        trafficPolicy:
          loadBalancer:
            consistentHash:
              httpHeaderName: x-user
              minimumRingSize: 1024  # expect: ML525@9 spec.trafficPolicy.loadBalancer.consistentHash.minimumRingSize; ML517@9 spec.trafficPolicy.loadBalancer.consistentHash.minimumRingSize
              ringHash:
                minimumRingSize: 2048
        """
    ),
    good=dr(
        """
        host: reviews.shop.svc.cluster.local
        trafficPolicy:
          loadBalancer:
            consistentHash:
              httpHeaderName: x-user
              ringHash:
                minimumRingSize: 2048
        """
    ),
    istio="IST0106",
    kinds=KINDS,
    source=f"{WEBHOOK} (validateLoadBalancer) — 'only one of MinimumRingSize or "
    "Maglev/Ringhash can be specified'",
    catalogue=("dr-lb-minring-algo",),
    aliases=("ML511",),
    needs=("minimumRingSize",),
)
def minimum_ring_size_with_hash_algorithm(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for base, ch in _consistent_hashes(res):
        ring = as_int(ch.get("minimumRingSize"))
        algos = [k for k in ("ringHash", "maglev") if is_set(ch.get(k))]
        if ring and algos:
            yield Finding(
                (*base, "minimumRingSize"),
                f"minimumRingSize cannot be combined with {algos[0]}: set "
                f"{'ringHash.minimumRingSize' if algos[0] == 'ringHash' else 'the maglev table size'}"
                " instead",
                key=True,
            )


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


@rule(
    "ML526",
    "invalid-maglev-table-size",
    Severity.ERROR,
    summary="A maglev load balancer has no `tableSize`, or one that is not a prime below 5000011.",
    rationale="""
        Maglev hashes into a lookup table whose size must be a prime number (Envoy's rule) below
        5000011; 65537 is Envoy's default. Istio's webhook rejects a `maglev` block without a
        `tableSize` (or with 0), a size of 5000011 or more, and a size that is not prime.

        Until 0.2 this was part of ML511, whose code still selects, ignores and suppresses
        it.
    """,
    bad=dr(
        """
        host: reviews.shop.svc.cluster.local
        trafficPolicy:
          loadBalancer:
            consistentHash:
              httpHeaderName: x-user
              maglev:
                tableSize: 65536  # expect: ML526@22 spec.trafficPolicy.loadBalancer.consistentHash.maglev.tableSize
        """
    ),
    good=dr(
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
    source=f"{WEBHOOK} (validateLoadBalancer, isPrime) — 'tableSize must be set for maglev', "
    "'tableSize must be less than 5000011 for maglev', 'tableSize must be a prime number for "
    "maglev'",
    catalogue=("dr-lb-maglev-zero", "dr-lb-maglev-max", "dr-lb-maglev-prime"),
    aliases=("ML511",),
    needs=("maglev",),
)
def invalid_maglev_table_size(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for base, ch in _consistent_hashes(res):
        maglev = child(ch, "maglev")
        if maglev is not None:
            yield from _maglev_problems(maglev, (*base, "maglev"))


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
    bad=dr(
        """
        host: reviews.shop.svc.cluster.local
        trafficPolicy:
          loadBalancer:
            simple: ROUND_ROBIN
            warmup:
              duration: 60s
              aggression: 0  # expect: ML512@21 spec.trafficPolicy.loadBalancer.warmup.aggression
        """
    ),
    good=dr(
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
    source=f"{WEBHOOK} (validateLoadBalancer) — 'aggression should be greater than 0'",
    catalogue=("dr-lb-warmup-aggr",),
    needs=("warmup",),
)
def invalid_warmup(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for path, lb, _ in sections_of(res, "loadBalancer"):
        warmup = child(lb, "warmup")
        if warmup is None:
            continue
        aggression = number(warmup.get("aggression"))
        if aggression == 0:
            yield Finding(
                (*path, "warmup", "aggression"),
                "aggression 0 is not allowed: use a value above 0 (1 ramps up linearly), or "
                "leave it out",
            )


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
    bad=dr(
        """
        host: reviews.shop.svc.cluster.local
        trafficPolicy:
          loadBalancer:
            simple: LEAST_CONN  # expect: ML518@15 spec.trafficPolicy.loadBalancer.simple
        """
    ),
    good=dr(
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
    istio="IST0002",
    needs=("simple",),
)
def least_conn_deprecated(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for path, lb, _ in sections_of(res, "loadBalancer"):
        if lb.get("simple") == "LEAST_CONN":
            yield Finding(
                (*path, "simple"),
                "LEAST_CONN is deprecated: use LEAST_REQUEST, which Istio applies for both",
                fix=Replacement("simple", "LEAST_REQUEST"),
            )
