"""Retry policies and timeouts of HTTP routes (rules catalogue sections 3.3 and 3.8)."""

from __future__ import annotations

from collections.abc import Iterator

from meshlint.diagnostics import Severity
from meshlint.resource import Resource
from meshlint.rules import Finding, rule
from meshlint.rules.lib.grammar import (
    duration_ns,
)
from meshlint.rules.lib.guards import as_int
from meshlint.rules.lib.virtualservice import (
    WEBHOOK_VS,
    duration_problem,
    http_routes_of,
    retry_on_ok,
    route_blocks,
)
from meshlint.verdicts import keep_verdict

_AGENT = "pkg/config/validation/agent/validation.go"


@rule(
    "ML421",
    "http-retries",
    Severity.ERROR,
    summary="A retry policy has negative attempts, or retry settings while retries are off.",
    rationale="""
        `retries.attempts` may not be negative. With `attempts` 0 or omitted retries are off,
        and `perTryTimeout`, `retryOn` and `retryRemoteLocalities` may not be set: Istio's
        webhook rejects the resource otherwise. Set `attempts` to the number of retries
        meant, or remove the other settings.

        In 0.2 invalid `perTryTimeout` and `backoff` durations (ML445) and `retryOn`
        conditions Envoy does not know (ML446) became rules of their own; the code ML421 still
        selects, ignores and suppresses them.
    """,
    bad="""
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata:
          name: ratings
          namespace: shop
        spec:
          hosts:
          - ratings
          http:
          - route:
            - destination:
                host: ratings
            retries:
              perTryTimeout: 2s  # expect: ML421@7 spec.http[0].retries.perTryTimeout
              retryOn: 5xx,connect-failure  # expect: ML421@7 spec.http[0].retries.retryOn
    """,
    good="""
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata:
          name: ratings
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
    source=f"webhook: {_AGENT} (ValidateHTTPRetry) — 'attempts cannot be negative', 'http retry "
    "policy configured when attempts are set to 0 (disabled)'",
    catalogue=("vs-retry-attempts-neg", "vs-retry-disabled-extra"),
    istio="IST0106",
    needs=("retries",),
)
def http_retries(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for rbase, _, retries in route_blocks(res, "retries"):
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


@rule(
    "ML445",
    "invalid-retry-duration",
    Severity.ERROR,
    summary="A retry policy's `perTryTimeout` or `backoff` is below 1ms or not in whole "
    "milliseconds.",
    rationale="""
        `retries.perTryTimeout` (the time each try may take) and `retries.backoff` (the base
        interval between tries) are durations of at least 1ms, in whole milliseconds.
        Istio's webhook rejects the resource otherwise.

        Before 0.2 this was part of ML421, whose code still selects, ignores and
        suppresses it.
    """,
    bad="""
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata:
          name: ratings
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
              perTryTimeout: 500us  # expect: ML445@22 spec.http[0].retries.perTryTimeout
              retryOn: 5xx,connect-failure
    """,
    good="""
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata:
          name: ratings
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
              perTryTimeout: 500ms
              retryOn: 5xx,connect-failure
    """,
    kinds={"VirtualService"},
    source=f"webhook: {_AGENT} (ValidateHTTPRetry, ValidateDuration) — 'duration must be "
    "greater than 1ms'",
    catalogue=("vs-retry-pertry", "vs-retry-backoff"),
    istio="IST0106",
    aliases=("ML421",),
    needs=("retries",),
)
def invalid_retry_duration(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for rbase, _, retries in route_blocks(res, "retries"):
        for field in ("perTryTimeout", "backoff"):
            problem = duration_problem(retries.get(field))
            if problem:
                yield Finding((*rbase, field), f"{field} {problem}")


@rule(
    "ML446",
    "retry-on-unknown-condition",
    Severity.ERROR,
    summary="`retryOn` names a retry condition Envoy does not know, or has spaces in its list.",
    rationale="""
        `retries.retryOn` is a comma-separated list, without spaces, of Envoy retry
        conditions (5xx, gateway-error, reset, reset-before-request, connect-failure,
        retriable-4xx, refused-stream, retriable-status-codes, retriable-headers,
        envoy-ratelimited, http3-post-connect-failure, and the gRPC ones cancelled,
        deadline-exceeded, internal, resource-exhausted, unavailable) and HTTP status codes.
        Istio does not strip spaces, so `5xx, reset` names the unknown condition ` reset`;
        its webhook rejects the resource.

        Before 0.2 this was part of ML421, whose code still selects, ignores and
        suppresses it.
    """,
    bad="""
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata:
          name: ratings
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
              retryOn: 5xx, connect-failure  # expect: ML446@16 spec.http[0].retries.retryOn
    """,
    good="""
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata:
          name: ratings
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
    source=f"webhook: {_AGENT} (ValidateHTTPRetry) — 'is not a valid retryOn policy'",
    catalogue=("vs-retry-on-token",),
    istio="IST0106",
    aliases=("ML421",),
    needs=("retryOn",),
)
def retry_on_unknown_condition(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for rbase, _, retries in route_blocks(res, "retries"):
        retry_on = retries.get("retryOn")
        if not isinstance(retry_on, str) or not retry_on or retry_on in _RETRY_ON_OK:
            continue
        valid = True
        for token in retry_on.split(","):
            if retry_on_ok(token):
                continue
            valid = False
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
        if valid:
            keep_verdict(_RETRY_ON_OK, retry_on, True)


# The retryOn values found valid so far (see keep_verdict).
_RETRY_ON_OK: dict[str, bool] = {}


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
            timeout: 0s  # expect: ML422@14 spec.http[0].timeout
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
    source=f"{WEBHOOK_VS} (validateHTTPRoute), {_AGENT} "
    "(ValidateDuration) — 'duration must be greater than 1ms'",
    catalogue=("vs-timeout",),
    istio="IST0106",
    needs=("timeout",),
)
def http_timeout(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for base, route in http_routes_of(res):
        timeout = route.get("timeout")
        if timeout is None:
            continue
        problem = duration_problem(timeout)
        if problem:
            hint = ""
            if duration_ns(route.get("timeout")) == 0:
                hint = "; routes have no timeout unless one is set, so omit the field"
            yield Finding((*base, "timeout"), f"timeout {problem}{hint}")
