"""Best practice for VirtualServices: retries, timeouts, catch-all matches and weights
(ML427-ML431). Istio accepts all of these; each is a configuration that does not do what it
appears to do."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from typing import Any

from meshlint.diagnostics import FieldPath, Severity
from meshlint.resource import Resource
from meshlint.rules import Finding, rule
from meshlint.rules.lib.grammar import (
    check_duration,
    duration_ns,
)
from meshlint.rules.lib.guards import as_int, as_list, as_map
from meshlint.rules.lib.virtualservice import (
    RETRY_ON,
    WEBHOOK,
    reachability,
    retry_on_ok,
    route_blocks,
    route_lists,
    rule_name,
)
from meshlint.verdicts import keep_verdict

_PRACTICE = "meshlint best practice"


def _valid_ms(value: Any) -> int | None:
    """A duration Istio accepts (at least 1ms, whole ms), in milliseconds; None otherwise
    (ML445 and ML422 report the rest)."""
    if type(value) is not str:
        return _read_ms(value) if isinstance(value, str) else None
    ms = _MS_READ.get(value)
    if ms is None:
        ms = keep_verdict(_MS_READ, value, _read_ms(value) or -1)
    return ms if ms > 0 else None


def _read_ms(value: str) -> int | None:
    ns = duration_ns(value)
    if ns is None or check_duration(value) is not None:
        return None
    return ns // 1_000_000


# The durations read so far, in milliseconds (-1: not one Istio accepts; see keep_verdict).
_MS_READ: dict[str, int] = {}


def _fmt_duration(ms: int) -> str:
    if ms % 1000 == 0:
        return f"{ms // 1000}s"
    if ms > 1000:
        return f"{ms / 1000:g}s"
    return f"{ms}ms"


@rule(
    "ML427",
    "retries-exceed-route-timeout",
    Severity.WARNING,
    summary="The retries of a route cannot all run within its `timeout`.",
    rationale="""
        The route `timeout` bounds the whole request, every retry included; `perTryTimeout`
        bounds each try. Envoy makes up to `attempts` + 1 tries (the first one and `attempts`
        retries); when every try before it timed out, retry k starts k × `perTryTimeout`
        (plus backoff) after the request. So:

        - when `perTryTimeout` is not shorter than `timeout`, the route timeout ends a try
          that hangs before its own per-try timeout fires: such a try is never retried and
          `perTryTimeout` has no effect;
        - when `attempts` × `perTryTimeout` reaches `timeout`, the last retries can never
          start when the tries before them time out: the request fails with 504 at the route
          timeout while the retry policy promises more tries. (Backoff between tries, 25ms
          and growing by default, makes it worse.)

        Give each try `timeout` / (`attempts` + 1) at most, or raise `timeout`. Only what is
        written on the route is judged: a route without `timeout` has none (Istio turns off
        Envoy's default), and a delegate's route may inherit the root's, which is not
        checked here.
    """,
    bad="""
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata:
          name: reviews
          namespace: shop
        spec:
          hosts:
          - ratings
          http:
          - route:
            - destination:
                host: ratings
            timeout: 5s
            retries:
              attempts: 3
              perTryTimeout: 2s  # expect: ML427@22 spec.http[0].retries.perTryTimeout
              retryOn: connect-failure,refused-stream,gateway-error
    """,
    good="""
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata:
          name: reviews
          namespace: shop
        spec:
          hosts:
          - ratings
          http:
          - route:
            - destination:
                host: ratings
            timeout: 8s
            retries:
              attempts: 3
              perTryTimeout: 2s
              retryOn: connect-failure,refused-stream,gateway-error
    """,
    kinds={"VirtualService"},
    source=f"{_PRACTICE}: istio/api networking/v1alpha3/virtual_service.proto (HTTPRetry: "
    "attempts and perTryTimeout are bounded by the route timeout); istio/istio "
    "pilot/pkg/networking/core/route/retry/retry.go (ConvertPolicy: attempts -> num_retries, "
    "perTryTimeout -> per_try_timeout)",
    catalogue=("vs-retry-pertry-ge-timeout", "vs-retry-budget-exceeds"),
    needs=("perTryTimeout",),
)
def retries_exceed_route_timeout(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for rbase, route, retries in route_blocks(res, "retries"):
        attempts = as_int(retries.get("attempts"))
        if attempts is None or attempts < 1:
            continue  # retries are off
        per_try = _valid_ms(retries.get("perTryTimeout"))
        if per_try is None:
            continue
        timeout = _valid_ms(route.get("timeout"))
        if timeout is None:
            continue
        message = _budget_problem(timeout, per_try, attempts)
        if message is not None:
            yield Finding((*rbase, "perTryTimeout"), message)


@functools.lru_cache(maxsize=1024)
def _budget_problem(timeout: int, per_try: int, attempts: int) -> str | None:
    """Why ``attempts`` retries of ``per_try`` ms do not fit in a route timeout of ``timeout``
    ms, or None when they do (routes repeat the same few settings)."""
    t, p = _fmt_duration(timeout), _fmt_duration(per_try)
    if per_try >= timeout:
        return (
            f"perTryTimeout {p} is not shorter than the route timeout {t}: a try that "
            "hangs is ended by the route timeout and never retried; set perTryTimeout to "
            f"at most {_fmt_duration(max(1, timeout // (attempts + 1)))} "
            f"(timeout / (attempts + 1))"
        )
    if attempts * per_try >= timeout:
        started = min(attempts, -(-timeout // per_try) - 1)
        return (
            f"attempts {attempts} × perTryTimeout {p} reaches the route timeout {t}: when "
            f"tries time out only {started} of the {attempts} retries can start before the "
            f"timeout ends the request; set perTryTimeout to at most "
            f"{_fmt_duration(max(1, timeout // (attempts + 1)))} or raise timeout to "
            f"{_fmt_duration(per_try * (attempts + 1))}"
        )
    return None


# Envoy retry conditions under which a try that runs into its per-try timeout is retried
# (Envoy reports the timed-out try as a 504 / an upstream that did not respond).
_RETRY_ON_TIMEOUT = ("5xx", "gateway-error", "reset")


def _retry_tokens(value: Any) -> list[str]:
    return [t for t in value.split(",") if t] if isinstance(value, str) else []


@rule(
    "ML428",
    "retries-without-per-try-timeout",
    Severity.INFO,
    summary="A route retries timed-out tries but sets no `perTryTimeout`, so a slow try is "
    "never retried.",
    rationale="""
        Without `perTryTimeout` each try may last as long as the route `timeout` allows. A
        try that hangs then uses up the whole timeout: the request fails with 504 and the
        `5xx`, `gateway-error` or `reset` condition of `retryOn`, which would retry it, never
        gets the chance. Retries still happen for tries that fail fast (a refused connection,
        a 503 answer), which is why this is only information. Set `perTryTimeout` to the
        time a healthy answer takes, at most `timeout` / (`attempts` + 1), to retry slow
        tries on another endpoint as well.

        Only routes with a `timeout`, retries turned on (`attempts` of 1 or more) and a
        `retryOn` that retries timed-out tries are reported: with Istio's default `retryOn`
        (connect-failure, refused-stream, unavailable, cancelled, retriable-status-codes) a
        timed-out try is not retried either way.
    """,
    bad="""
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata:
          name: reviews
          namespace: shop
        spec:
          hosts:
          - ratings
          http:
          - route:
            - destination:
                host: ratings
            timeout: 6s
            retries:  # expect: ML428@5 spec.http[0].retries
              attempts: 2
              retryOn: gateway-error,connect-failure
    """,
    good="""
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata:
          name: reviews
          namespace: shop
        spec:
          hosts:
          - ratings
          http:
          - route:
            - destination:
                host: ratings
            timeout: 6s
            retries:
              attempts: 2
              perTryTimeout: 2s
              retryOn: gateway-error,connect-failure
    """,
    kinds={"VirtualService"},
    source=f"{_PRACTICE}: istio/api networking/v1alpha3/virtual_service.proto (HTTPRetry."
    "perTryTimeout: defaults to the route timeout); Envoy RetryPolicy.per_try_timeout "
    "(unset: the route timeout is used, so a request that times out is not retried)",
    catalogue=(),
    needs=("retryOn",),
)
def retries_without_per_try_timeout(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for rbase, route, retries in route_blocks(res, "retries"):
        if retries.get("perTryTimeout") is not None:
            continue
        attempts = as_int(retries.get("attempts"))
        if attempts is None or attempts < 1:
            continue  # retries are off
        on_timeout = [t for t in _retry_tokens(retries.get("retryOn")) if t in _RETRY_ON_TIMEOUT]
        if not on_timeout:
            continue
        timeout = _valid_ms(route.get("timeout"))
        if timeout is None:
            continue
        t = _fmt_duration(timeout)
        yield Finding(
            rbase,
            f"retries has no perTryTimeout: each try may use the whole route timeout {t}, so "
            f"a try that hangs is never retried although retryOn has {on_timeout[0]}; set "
            f"perTryTimeout to at most {_fmt_duration(max(1, timeout // (attempts + 1)))}",
            key=True,
        )


# Retry conditions that fire after the request may have reached the application (an answer
# it sent, a connection that broke while it worked). connect-failure, refused-stream,
# reset-before-request and envoy-ratelimited fire only when it never saw the request; the gRPC
# statuses are left out, since every gRPC call is a POST and its idempotency is per method.
_RETRY_ON_UNSAFE = frozenset(
    (
        "5xx",
        "gateway-error",
        "reset",
        "retriable-4xx",
        "retriable-status-codes",
        "retriable-headers",
        "http3-post-connect-failure",
    )
)


def _unsafe_conditions(retry_on: Any) -> tuple[str, ...]:
    """The conditions of ``retryOn`` that may retry a request the application has processed:
    those above and HTTP status codes."""
    if type(retry_on) is not str:
        return _read_unsafe(retry_on)
    unsafe = _UNSAFE_READ.get(retry_on)
    if unsafe is None:
        unsafe = keep_verdict(_UNSAFE_READ, retry_on, _read_unsafe(retry_on))
    return unsafe


def _read_unsafe(retry_on: Any) -> tuple[str, ...]:
    return tuple(
        t
        for t in _retry_tokens(retry_on)
        if t in _RETRY_ON_UNSAFE or (t not in RETRY_ON and retry_on_ok(t))
    )


# The unsafe conditions of the retryOn values read so far (see keep_verdict).
_UNSAFE_READ: dict[str, tuple[str, ...]] = {}
_IDEMPOTENT = frozenset(("GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"))
_METHOD_ALTERNATION = re.compile(r"^\^?\(?([A-Z]+(?:\|[A-Z]+)*)\)?\$?$")


def _methods(match: Any) -> set[str] | None:
    """The methods an HTTP match is limited to (exact, or a regex such as `GET|HEAD`), or
    None when it takes any method."""
    method = as_map(match).get("method")
    if not isinstance(method, dict):
        return None
    exact = method.get("exact")
    if isinstance(exact, str) and exact:
        return {exact}
    regex = method.get("regex")
    if isinstance(regex, str):
        m = _METHOD_ALTERNATION.match(regex)
        if m:
            return set(m.group(1).split("|"))
    return None


@rule(
    "ML429",
    "retry-non-idempotent",
    Severity.WARNING,
    summary="A route retries requests that may already have been processed, and takes "
    "non-idempotent methods.",
    rationale="""
        Most of Envoy's retry conditions fire after the request reached the application:
        `5xx`, `gateway-error`, `retriable-status-codes` and status codes on an answer it
        sent, `reset` when the connection broke while it was working, `retriable-4xx` and
        `retriable-headers` on what it returned. Retrying then repeats the request: a POST
        that created an order, charged a card or sent a mail may be executed twice. Only
        `connect-failure`, `refused-stream`, `reset-before-request` and `envoy-ratelimited`
        retry a request the application never saw. The gRPC conditions (`unavailable`,
        `cancelled`, …) are not judged: every gRPC call is a POST, and whether it may be
        repeated depends on the method, not on the HTTP verb.

        It is a warning when the route only matches POST or PATCH requests; information when
        the route takes any method (it then retries every POST it carries, which may be
        fine for an API whose writes are idempotent). Routes whose every match is limited to
        GET, HEAD, OPTIONS, PUT, DELETE or TRACE are not reported. Limit the unsafe
        conditions to a route for the idempotent methods, or retry the others only on
        `connect-failure,refused-stream,reset-before-request`.
    """,
    bad="""
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata:
          name: orders
          namespace: shop
        spec:
          hosts:
          - orders
          http:
          - match:
            - method:
                exact: POST
              uri:
                prefix: /orders
            route:
            - destination:
                host: orders
            retries:
              attempts: 2
              perTryTimeout: 2s
              retryOn: 5xx,connect-failure  # expect: ML429@16 spec.http[0].retries.retryOn
          - route:
            - destination:
                host: orders
    """,
    good="""
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata:
          name: orders
          namespace: shop
        spec:
          hosts:
          - orders
          http:
          - match:
            - method:
                exact: POST
              uri:
                prefix: /orders
            route:
            - destination:
                host: orders
            retries:
              attempts: 2
              retryOn: connect-failure,refused-stream,reset-before-request
          - match:
            - method:
                exact: GET
            route:
            - destination:
                host: orders
            retries:
              attempts: 2
              perTryTimeout: 2s
              retryOn: 5xx,connect-failure
          - route:
            - destination:
                host: orders
    """,
    kinds={"VirtualService"},
    source=f"{_PRACTICE}: Envoy router retry conditions (x-envoy-retry-on: which fire after "
    "the upstream received the request); RFC 9110 section 9.2.2 (idempotent methods)",
    catalogue=("vs-retry-nonidempotent",),
    needs=("retryOn",),
)
def retry_non_idempotent(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for rbase, route, retries in route_blocks(res, "retries"):
        attempts = as_int(retries.get("attempts"))
        if attempts is None or attempts < 1:
            continue  # retries are off
        unsafe = _unsafe_conditions(retries.get("retryOn"))
        if not unsafe:
            continue
        matches = as_list(route.get("match"))
        limits = [_methods(m) for m in matches] if matches else [None]
        if all(m is not None and m <= _IDEMPOTENT for m in limits):
            continue
        conditions = ", ".join(unsafe)
        where = (*rbase, "retryOn")
        if all(m is not None and not (m & _IDEMPOTENT) for m in limits):
            methods = ", ".join(sorted(set().union(*(m for m in limits if m is not None))))
            yield Finding(
                where,
                f"retryOn {conditions} retries {methods} requests the application may already "
                "have processed: they may be executed twice; retry them only on "
                "connect-failure,refused-stream,reset-before-request",
            )
        else:
            yield Finding(
                where,
                f"retryOn {conditions} retries requests the application may already have "
                "processed, and this route takes any method: a POST may be executed twice; "
                "limit these conditions to a route matching idempotent methods (GET, HEAD, "
                "OPTIONS, PUT, DELETE)",
                severity=Severity.INFO,
            )


def _catch_all_match(match: Any) -> str | None:
    """How an HTTP match takes every request (`uri` prefix `/` or empty, or regex `.*`,
    nothing else but a name), or None when it does not."""
    if not isinstance(match, dict):
        return None
    uri = match.get("uri")
    if not isinstance(uri, dict) or len(uri) != 1:
        return None
    ((kind, value),) = uri.items()
    if kind == "prefix" and value in ("/", ""):
        how = f"uri prefix {value!r}"
    elif kind == "regex" and value in (".*", "^.*$", "/.*", "^/.*", "^/.*$", ".+", "/.+"):
        how = f"uri regex {value!r}"
    else:
        return None
    keys = {k for k, v in match.items() if v is not None} - {"name", "ignoreUriCase"}
    return how if keys == {"uri"} else None


@rule(
    "ML430",
    "catch-all-match-not-last",
    Severity.WARNING,
    summary="A route rule whose match takes every request comes before other rules.",
    rationale="""
        Rules are tried in order. A match on nothing but `uri: {prefix: /}` (or an empty
        prefix, or a regex such as `.*`) takes every request, just like a rule without
        `match`: every rule after it is never used, whatever its headers, methods or paths.
        Istio's unreachable-rule analysis (IST0130, ML408) only treats a rule without
        `match` as a catch-all, and its prefix analysis (ML409) only compares prefix
        matches with the same other conditions, so this is not reported there. Move the
        catch-all rule to the end.
    """,
    bad="""
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata:
          name: reviews
          namespace: shop
        spec:
          hosts:
          - reviews
          http:
          - match:
            - uri:
                prefix: /
            route:
            - destination:
                host: reviews
                subset: v1
          - match:  # expect: ML430@5 spec.http[1].match
            - headers:
                end-user:
                  exact: jason
            route:
            - destination:
                host: reviews
                subset: v2
    """,
    good="""
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata:
          name: reviews
          namespace: shop
        spec:
          hosts:
          - reviews
          http:
          - match:
            - headers:
                end-user:
                  exact: jason
            route:
            - destination:
                host: reviews
                subset: v2
          - match:
            - uri:
                prefix: /
            route:
            - destination:
                host: reviews
                subset: v1
    """,
    kinds={"VirtualService"},
    source=f"{_PRACTICE}: extends {WEBHOOK} (analyzeUnreachableHTTPRules), which only counts a "
    "rule without match as a catch-all",
    catalogue=("vs-catchall-not-last",),
)
def catch_all_match_not_last(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    # What ML409 already reports: ineffective matches, by path (read once a catch-all is found).
    ineffective: set[FieldPath] | None = None
    found: tuple[int, int, str] | None = None  # (rule, match, how) of the first catch-all
    for i, route in enumerate(as_list(spec.get("http"))):
        if not isinstance(route, dict):
            continue
        matches = as_list(route.get("match"))
        if found is None:
            if not matches:
                return  # a rule without match: from here on ML408's business
            for j, match in enumerate(matches):
                how = _catch_all_match(match)
                if how is not None:
                    found = (i, j, how)
                    break
            continue
        base: FieldPath = ("spec", "http", i)
        if ineffective is None:
            ineffective = {path for unreachable, path, _ in reachability(res) if not unreachable}
        if matches and all(
            ((*base, "match", j, "uri", "prefix") in ineffective) for j in range(len(matches))
        ):
            continue  # every match already reported by ML409
        rule_i, match_j, how = found
        yield Finding(
            (*base, "match") if matches else base,
            f"http rule {rule_name(route, i)} is never used: match #{match_j} of rule "
            f"#{rule_i} before it ({how}) takes every request; move that rule to the end",
            key=bool(matches),
        )
        if not matches:
            return  # the rules after a rule without match are ML408's


@rule(
    "ML431",
    "zero-weight-destination",
    Severity.INFO,
    summary="A destination of a weighted route has weight 0 and receives no traffic.",
    rationale="""
        Weights are relative shares of the route's traffic. A destination with `weight: 0`
        next to others gets none: Istio drops it from the route altogether, with its
        header operations. That is how a canary is staged before traffic is shifted, but it
        also happens by mistake (a weight left at 0 after a rollout, a shift applied to the
        wrong destination). Remove the destination when it is not meant to be staged. (When
        every weight is 0 Istio rejects the route: ML447.)
    """,
    bad="""
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata:
          name: reviews
          namespace: shop
        spec:
          hosts:
          - reviews
          http:
          - route:
            - destination:
                host: reviews
                subset: v1
              weight: 100
            - destination:
                host: reviews
                subset: v2
              weight: 0  # expect: ML431@15 spec.http[0].route[1].weight
    """,
    good="""
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata:
          name: reviews
          namespace: shop
        spec:
          hosts:
          - reviews
          http:
          - route:
            - destination:
                host: reviews
                subset: v1
              weight: 90
            - destination:
                host: reviews
                subset: v2
              weight: 10
    """,
    kinds={"VirtualService"},
    source=f"{_PRACTICE}: istio/istio pilot/pkg/networking/core/route/route.go (destinations "
    "with weight 0 are left out of the weighted clusters)",
    catalogue=("vs-weight-zero-member",),
)
def zero_weight_destination(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for rbase, entries in route_lists(res):
        if len(entries) < 2:
            continue  # a single destination takes all the traffic
        for _, e in entries:
            w = e.get("weight")
            if w is None or (w == 0 and as_int(w) is not None):
                break  # a destination without weight, or with weight 0
        else:
            continue
        weights = [as_int(e.get("weight")) for _, e in entries]
        if any(
            w is None and e.get("weight") is not None
            for w, (_, e) in zip(weights, entries, strict=True)
        ):
            continue  # a weight of the wrong type: the schema stage's
        if sum(w for w in weights if w is not None and w > 0) <= 0:
            continue  # all 0: ML447
        for (k, entry), weight in zip(entries, weights, strict=True):
            if weight not in (0, None):
                continue
            dest = as_map(entry.get("destination"))
            host, subset = dest.get("host"), dest.get("subset")
            what = host if isinstance(host, str) and host else "this destination"
            if isinstance(subset, str) and subset:
                what += f" subset {subset}"
            base: FieldPath = (*rbase, k)
            if weight == 0:
                yield Finding(
                    (*base, "weight"),
                    f"weight 0: {what} receives no traffic of this route (Istio drops "
                    "it); remove it unless a rollout is staged",
                )
            else:
                yield Finding(
                    base,
                    f"{what} has no weight, which is 0 next to weighted destinations: it "
                    "receives no traffic of this route; give it a weight",
                    severity=Severity.WARNING,
                )


@rule(
    "ML451",
    "weight-on-single-destination",
    Severity.WARNING,
    summary="The only destination of a route has a weight below 100, which is ignored.",
    rationale="""
        A weight is a share among the destinations of one route. With a single destination the
        weight has nothing to share with: Istio sends the destination all of the route's
        traffic whatever the weight says. A weight such as `weight: 50` there usually means a
        second destination was forgotten (the other half of a canary) or removed without
        cleaning up. Add the missing destination, or drop the weight.
    """,
    bad="""
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata:
          name: reviews
          namespace: shop
        spec:
          hosts:
          - reviews
          http:
          - route:
            - destination:
                host: reviews
                subset: v2
              weight: 50  # expect: ML451@15 spec.http[0].route[0].weight
    """,
    good="""
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata:
          name: reviews
          namespace: shop
        spec:
          hosts:
          - reviews
          http:
          - route:
            - destination:
                host: reviews
                subset: v2
    """,
    kinds={"VirtualService"},
    kiali="KIA1104",
    source="kiali/kiali business/checkers/virtualservices/route_checker.go (checkHttpRoutes, "
    "checkTcpRoutes, checkTlsRoutes: virtualservices.route.singleweight, 'The weight is assumed "
    "to be 100 because there is only one route destination')",
    catalogue=("vs-k-single-weight", "vs-weight-single"),
)
def weight_on_single_destination(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for rbase, entries in route_lists(res):
        if len(entries) != 1:
            continue
        entry = entries[0][1]
        if "weight" not in entry:
            continue
        weight = as_int(entry.get("weight"))
        if weight is not None and 0 < weight < 100:
            yield Finding((*rbase, 0, "weight"), _single_weight_message(weight))


@functools.cache  # 99 weights at most
def _single_weight_message(weight: int) -> str:
    return (
        f"weight {weight} on the only destination of this route is ignored: it "
        "receives all of the route's traffic; add the other destination or drop "
        "the weight"
    )
