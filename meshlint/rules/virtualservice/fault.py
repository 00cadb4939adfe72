"""Fault injection of HTTP routes (rules catalogue section 3.6)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from meshlint.diagnostics import FieldPath, Severity
from meshlint.resource import Resource
from meshlint.rules import Finding, rule
from meshlint.rules.lib.grammar import (
    check_percentage,
)
from meshlint.rules.lib.guards import as_int
from meshlint.rules.lib.virtualservice import (
    WEBHOOK,
    duration_problem,
    http_routes_of,
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


def _percentage_problem(block: Mapping[str, Any]) -> str | None:
    percentage = block.get("percentage")
    return check_percentage(percentage.get("value")) if isinstance(percentage, dict) else None


def _faults(res: Resource) -> list[tuple[FieldPath, dict[str, Any], Any, Any]]:
    """``(path, fault, abort, delay)`` of each HTTP route's fault injection, read once per
    resource."""

    def make() -> list[tuple[FieldPath, dict[str, Any], Any, Any]]:
        found: list[tuple[FieldPath, dict[str, Any], Any, Any]] = []
        for base, route in http_routes_of(res):
            fault = route.get("fault")
            if isinstance(fault, dict):
                found.append(((*base, "fault"), fault, fault.get("abort"), fault.get("delay")))
        return found

    return res.memo(_faults, make)


@rule(
    "ML414",
    "fault-injection",
    Severity.ERROR,
    summary="A fault injection has an invalid HTTP or gRPC status, delay or percentage.",
    rationale="""
        An abort's `httpStatus` is 200-599 (Istio lets 600 through) and its `grpcStatus` a
        gRPC status name such as UNAVAILABLE, in upper case. A delay's `fixedDelay` is at
        least 1ms in whole milliseconds. Percentages are 0 or between 0.0001 and 100.
        Istio's webhook rejects the resource otherwise.

        In 0.2 an empty fault injection (ML442) and the faults Istio does not support,
        `http2Error` and `exponentialDelay` (ML443), became rules of their own; the code
        ML414 still selects, ignores and suppresses them.
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
                httpStatus: 700  # expect: ML414@21 spec.http[0].fault.abort.httpStatus
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
    source=f"{WEBHOOK} (validateHTTPFaultInjectionAbort, validateHTTPFaultInjectionDelay, "
    "validateHTTPStatus, validateGRPCStatus, validatePercentage) — 'HTTP status is not in "
    "range 200-599'",
    catalogue=(
        "vs-fault-abort-pct",
        "vs-fault-abort-grpc",
        "vs-fault-abort-http",
        "vs-fault-delay-pct",
        "vs-fault-delay-fixed",
    ),
    istio="IST0106",
    needs=("fault",),
)
def fault_injection(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for fbase, _, abort, delay in _faults(res):
        if isinstance(abort, dict):
            problem = _percentage_problem(abort)
            if problem:
                yield Finding((*fbase, "abort", "percentage", "value"), f"percentage {problem}")
            status = as_int(abort.get("httpStatus"))
            if status is not None and not 200 <= status <= 600:
                yield Finding(
                    (*fbase, "abort", "httpStatus"),
                    f"HTTP status {status} is not in the range 200-599",
                )
            grpc = abort.get("grpcStatus")
            if isinstance(grpc, str) and grpc not in _GRPC_STATUS:
                hint = f" (write {grpc.upper()!r})" if grpc.upper() in _GRPC_STATUS else ""
                yield Finding(
                    (*fbase, "abort", "grpcStatus"),
                    f"gRPC status {grpc!r} is not supported{hint}: use a status name such as "
                    "UNAVAILABLE, NOT_FOUND or INTERNAL",
                )
        if isinstance(delay, dict):
            problem = _percentage_problem(delay)
            if problem:
                yield Finding((*fbase, "delay", "percentage", "value"), f"percentage {problem}")
            problem = duration_problem(delay.get("fixedDelay"))
            if problem:
                yield Finding((*fbase, "delay", "fixedDelay"), f"fixedDelay {problem}")


@rule(
    "ML442",
    "empty-fault-injection",
    Severity.ERROR,
    summary="A fault injection has neither an abort nor a delay.",
    rationale="""
        `fault` injects an `abort`, a `delay` or both; with neither it injects nothing, and
        Istio's webhook rejects the resource. Give the fault that was meant, or remove
        `fault`.

        Before 0.2 this was part of ML414, whose code still selects, ignores and
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
          - fault: {}  # expect: ML442@5 spec.http[0].fault
            route:
            - destination:
                host: ratings
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
          - fault:
              delay:
                fixedDelay: 2s
                percentage:
                  value: 10
            route:
            - destination:
                host: ratings
    """,
    kinds={"VirtualService"},
    source=f"{WEBHOOK} (validateHTTPFaultInjection) — 'HTTP fault injection must have an abort "
    "and/or a delay'",
    catalogue=("vs-fault-empty",),
    istio="IST0106",
    aliases=("ML414",),
    needs=("fault",),
)
def empty_fault_injection(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for fbase, _, abort, delay in _faults(res):
        if abort is None and delay is None:
            yield Finding(
                fbase,
                "the fault injection is empty: give an abort and/or a delay, or remove it",
                key=True,
            )


@rule(
    "ML443",
    "unsupported-fault-type",
    Severity.ERROR,
    summary="A fault injection uses `http2Error` or `exponentialDelay`, which Istio does not "
    "support.",
    rationale="""
        The API has fields for an abort with an HTTP/2 error (`abort.http2Error`) and for an
        exponential delay (`delay.exponentialDelay`), but Istio implements neither and its
        webhook rejects them. Abort with `httpStatus` or `grpcStatus`, and delay with
        `fixedDelay`.

        Before 0.2 this was part of ML414, whose code still selects, ignores and
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
          - fault:
              delay:
                exponentialDelay: 2s  # expect: ML443@9 spec.http[0].fault.delay.exponentialDelay
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
          name: ratings
          namespace: shop
        spec:
          hosts:
          - ratings
          http:
          - fault:
              delay:
                fixedDelay: 2s
                percentage:
                  value: 10
            route:
            - destination:
                host: ratings
    """,
    kinds={"VirtualService"},
    source=f"{WEBHOOK} (validateHTTPFaultInjectionAbort, validateHTTPFaultInjectionDelay) — "
    "'HTTP/2 abort fault injection not supported yet', 'exponentialDelay not supported yet'",
    catalogue=("vs-fault-abort-h2", "vs-fault-delay-exp"),
    istio="IST0106",
    aliases=("ML414",),
    needs=("http2Error", "exponentialDelay"),
)
def unsupported_fault_type(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for fbase, _, abort, delay in _faults(res):
        if isinstance(abort, dict) and abort.get("http2Error") is not None:
            yield Finding(
                (*fbase, "abort", "http2Error"),
                "http2Error aborts are not supported by Istio: use httpStatus or grpcStatus",
                key=True,
            )
        if isinstance(delay, dict) and delay.get("exponentialDelay") is not None:
            problem = duration_problem(delay.get("exponentialDelay"))
            yield Finding(
                (*fbase, "delay", "exponentialDelay"),
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
              abort:  # expect: ML415@7 spec.http[0].fault.abort
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
    needs=("fault",),
)
def fault_abort_without_error(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for fbase, _, abort, _ in _faults(res):
        if not isinstance(abort, dict):
            continue
        if (
            abort.get("httpStatus") is None
            and abort.get("grpcStatus") is None
            and abort.get("http2Error") is None
        ):
            yield Finding(
                (*fbase, "abort"),
                "the abort sets no error, so it aborts nothing: add httpStatus (e.g. 503) or "
                "grpcStatus (e.g. UNAVAILABLE)",
                key=True,
            )
