"""Retry policies and timeouts of HTTP routes (rules catalogue sections 3.3 and 3.8)."""

from __future__ import annotations

from collections.abc import Iterator

from meshlint.diagnostics import Severity
from meshlint.resource import Resource
from meshlint.rules import Finding, rule
from meshlint.rules.lib.grammar import (
    as_int,
    duration_ns,
)
from meshlint.rules.lib.virtualservice import (
    WEBHOOK_VS,
    duration_problem,
    http_routes,
    retry_on_ok,
)


@rule(
    "ML421",
    "http-retries",
    Severity.ERROR,
    summary="A retry policy has negative attempts, settings with retries off, or invalid values.",
    rationale="""
        `retries.attempts` may not be negative; with `attempts` 0 or omitted (retries off)
        `perTryTimeout`, `retryOn` and `retryRemoteLocalities` may not be set. `perTryTimeout`
        and `backoff` are at least 1ms in whole milliseconds. `retryOn` is a comma-separated
        list, without spaces, of Envoy retry conditions (5xx, gateway-error, reset,
        connect-failure, retriable-4xx, refused-stream, retriable-status-codes, …, and the gRPC
        ones cancelled, deadline-exceeded, internal, resource-exhausted, unavailable) and HTTP
        status codes. Istio's webhook rejects the resource otherwise.
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
            retries:
              attempts: 3
              perTryTimeout: 2s
              retryOn: 5xx, connect-failure
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
            retries:
              attempts: 3
              perTryTimeout: 2s
              retryOn: 5xx,connect-failure
    """,
    kinds={"VirtualService"},
    source="webhook: pkg/config/validation/agent/validation.go (ValidateHTTPRetry) — 'attempts "
    "cannot be negative', 'http retry policy configured when attempts are set to 0 "
    "(disabled)', 'is not a valid retryOn policy'",
    catalogue=(
        "vs-retry-attempts-neg",
        "vs-retry-disabled-extra",
        "vs-retry-pertry",
        "vs-retry-on-token",
        "vs-retry-backoff",
    ),
    istio="IST0106",
)
def http_retries(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for base, route in http_routes(spec):
        retries = route.get("retries")
        if not isinstance(retries, dict):
            continue
        rbase = (*base, "retries")
        attempts = as_int(retries.get("attempts"))
        if attempts is not None and attempts < 0:
            yield Finding((*rbase, "attempts"), f"attempts {attempts} is negative: use 0 or more")
        if not attempts and (attempts is not None or "attempts" not in retries):
            for field in ("perTryTimeout", "retryOn", "retryRemoteLocalities"):
                value = retries.get(field)
                if value is None or value == "":
                    continue
                yield Finding(
                    (*rbase, field),
                    f"{field} is set but retries are off (attempts is "
                    f"{'0' if attempts == 0 else 'not set'}): set attempts to 1 or more, or "
                    f"remove {field}",
                    key=True,
                )
        for field in ("perTryTimeout", "backoff"):
            problem = duration_problem(retries.get(field))
            if problem:
                yield Finding((*rbase, field), f"{field} {problem}")
        retry_on = retries.get("retryOn")
        if isinstance(retry_on, str) and retry_on:
            for token in retry_on.split(","):
                if retry_on_ok(token):
                    continue
                stripped = token.strip()
                if stripped != token and retry_on_ok(stripped):
                    message = (
                        f"retryOn {retry_on!r}: {token!r} has spaces around it, which Istio "
                        "does not strip: write the list without spaces"
                    )
                else:
                    message = (
                        f"retryOn {retry_on!r}: {token!r} is not a retry condition or an HTTP "
                        "status code: use e.g. 5xx, gateway-error, reset, connect-failure, "
                        "retriable-4xx, refused-stream, retriable-status-codes or 503"
                    )
                yield Finding((*rbase, "retryOn"), message)


@rule(
    "ML422",
    "http-timeout",
    Severity.ERROR,
    summary="An HTTP route's `timeout` is below 1ms or not in whole milliseconds.",
    rationale="""
        `http[].timeout` must be at least 1ms, in whole milliseconds. `timeout: 0s`, often
        written to turn the timeout off, is rejected by Istio's webhook: routes have no
        timeout by default, so omit the field instead.
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
            timeout: 0s
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
            timeout: 10s
    """,
    kinds={"VirtualService"},
    source=f"{WEBHOOK_VS} (validateHTTPRoute), pkg/config/validation/agent/validation.go "
    "(ValidateDuration) — 'duration must be greater than 1ms'",
    catalogue=("vs-timeout",),
    istio="IST0106",
)
def http_timeout(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for base, route in http_routes(spec):
        problem = duration_problem(route.get("timeout"))
        if problem:
            hint = ""
            if duration_ns(route.get("timeout")) == 0:
                hint = "; routes have no timeout unless one is set, so omit the field"
            yield Finding((*base, "timeout"), f"timeout {problem}{hint}")
