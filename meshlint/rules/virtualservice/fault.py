"""Fault injection of HTTP routes (rules catalogue section 3.6)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from meshlint.diagnostics import FieldPath, Severity
from meshlint.resource import Resource
from meshlint.rules import Finding, rule
from meshlint.rules.lib.grammar import (
    as_int,
    check_percentage,
)
from meshlint.rules.lib.virtualservice import (
    WEBHOOK,
    as_map,
    duration_problem,
    http_routes,
)

_GRPC_STATUS = frozenset(
    (
        "OK",
        "CANCELLED",
        "UNKNOWN",
        "INVALID_ARGUMENT",
        "DEADLINE_EXCEEDED",
        "NOT_FOUND",
        "ALREADY_EXISTS",
        "PERMISSION_DENIED",
        "RESOURCE_EXHAUSTED",
        "FAILED_PRECONDITION",
        "ABORTED",
        "OUT_OF_RANGE",
        "UNIMPLEMENTED",
        "INTERNAL",
        "UNAVAILABLE",
        "DATA_LOSS",
        "UNAUTHENTICATED",
    )
)


def _percentage(path: FieldPath, block: Mapping[str, Any]) -> Iterator[Finding]:
    value = as_map(block.get("percentage")).get("value")
    problem = check_percentage(value)
    if problem:
        yield Finding((*path, "percentage", "value"), f"percentage {problem}")


@rule(
    "ML414",
    "fault-injection",
    Severity.ERROR,
    summary="A fault injection is empty, uses an unsupported fault, or has an invalid value.",
    rationale="""
        `fault` needs an `abort` and/or a `delay`. An abort's `httpStatus` is 200-599 (Istio
        lets 600 through), its `grpcStatus` a gRPC status name such as UNAVAILABLE, and
        `http2Error` is not supported. A delay's `fixedDelay` is at least 1ms in whole
        milliseconds; `exponentialDelay` is not supported. Percentages are 0 or between 0.0001
        and 100. Istio's webhook rejects the resource otherwise.
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
          - fault:
              abort:
                httpStatus: 700
                percentage:
                  value: 10
            route:
            - destination:
                host: ratings
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
          - fault:
              abort:
                httpStatus: 503
                percentage:
                  value: 10
            route:
            - destination:
                host: ratings
    """,
    kinds={"VirtualService"},
    source=f"{WEBHOOK} (validateHTTPFaultInjection, validateHTTPFaultInjectionAbort, "
    "validateHTTPFaultInjectionDelay, validateHTTPStatus, validateGRPCStatus, "
    "validatePercentage) — 'HTTP fault injection must have an abort and/or a delay', "
    "'HTTP status is not in range 200-599', 'exponentialDelay not supported yet'",
    catalogue=(
        "vs-fault-empty",
        "vs-fault-abort-pct",
        "vs-fault-abort-grpc",
        "vs-fault-abort-h2",
        "vs-fault-abort-http",
        "vs-fault-delay-pct",
        "vs-fault-delay-fixed",
        "vs-fault-delay-exp",
    ),
    istio="IST0106",
)
def fault_injection(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for base, route in http_routes(spec):
        fault = route.get("fault")
        if not isinstance(fault, dict):
            continue
        fbase = (*base, "fault")
        abort, delay = fault.get("abort"), fault.get("delay")
        if abort is None and delay is None:
            yield Finding(
                fbase,
                "the fault injection is empty: give an abort and/or a delay, or remove it",
                key=True,
            )
        if isinstance(abort, dict):
            abase = (*fbase, "abort")
            yield from _percentage(abase, abort)
            if abort.get("http2Error") is not None:
                yield Finding(
                    (*abase, "http2Error"),
                    "http2Error aborts are not supported by Istio: use httpStatus or grpcStatus",
                    key=True,
                )
            status = as_int(abort.get("httpStatus"))
            if status is not None and not 200 <= status <= 600:
                yield Finding(
                    (*abase, "httpStatus"),
                    f"HTTP status {status} is not in the range 200-599",
                )
            grpc = abort.get("grpcStatus")
            if isinstance(grpc, str) and grpc not in _GRPC_STATUS:
                hint = f" (write {grpc.upper()!r})" if grpc.upper() in _GRPC_STATUS else ""
                yield Finding(
                    (*abase, "grpcStatus"),
                    f"gRPC status {grpc!r} is not supported{hint}: use a status name such as "
                    "UNAVAILABLE, NOT_FOUND or INTERNAL",
                )
        if isinstance(delay, dict):
            dbase = (*fbase, "delay")
            yield from _percentage(dbase, delay)
            problem = duration_problem(delay.get("fixedDelay"))
            if problem:
                yield Finding((*dbase, "fixedDelay"), f"fixedDelay {problem}")
            if delay.get("exponentialDelay") is not None:
                problem = duration_problem(delay.get("exponentialDelay"))
                yield Finding(
                    (*dbase, "exponentialDelay"),
                    f"exponentialDelay {problem}"
                    if problem
                    else "exponentialDelay is not supported by Istio: use fixedDelay",
                    key=problem is None,
                )


@rule(
    "ML415",
    "fault-abort-without-error",
    Severity.WARNING,
    summary="A fault abort sets no error (httpStatus or grpcStatus), so it aborts nothing.",
    rationale="""
        `fault.abort` says what error to answer with: `httpStatus` or `grpcStatus`. Without
        one, Istio admits the resource with a warning and the abort has no effect.
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
          - fault:
              abort:
                percentage:
                  value: 10
            route:
            - destination:
                host: ratings
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
          - fault:
              abort:
                httpStatus: 503
                percentage:
                  value: 10
            route:
            - destination:
                host: ratings
    """,
    kinds={"VirtualService"},
    source=f"{WEBHOOK} (validateHTTPFaultInjectionAbort) — warning 'abort configured, but error "
    "type not set'",
    catalogue=("vs-fault-abort-none",),
    istio="IST0133",
)
def fault_abort_without_error(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for base, route in http_routes(spec):
        abort = as_map(route.get("fault")).get("abort")
        if not isinstance(abort, dict):
            continue
        if all(abort.get(f) is None for f in ("httpStatus", "grpcStatus", "http2Error")):
            yield Finding(
                (*base, "fault", "abort"),
                "the abort sets no error, so it aborts nothing: add httpStatus (e.g. 503) or "
                "grpcStatus (e.g. UNAVAILABLE)",
                key=True,
            )
