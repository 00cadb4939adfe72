"""Rule reachability: route rules and matches that an earlier rule always wins over (Istio's
webhook warnings IST0130 and IST0131; rules catalogue section 3.2)."""

from __future__ import annotations

from collections.abc import Iterator

from meshlint.diagnostics import Severity
from meshlint.resource import Resource
from meshlint.rules import Finding, rule
from meshlint.rules.lib.virtualservice import (
    WEBHOOK,
    reachability,
)


@rule(
    "ML408",
    "unreachable-rule",
    Severity.WARNING,
    summary="A route rule can never be used: an earlier rule takes all its traffic.",
    rationale="""
        Rules are tried in order and the first that matches wins. A rule after one without
        `match` (which takes everything), or a rule whose every match repeats a match of an
        earlier rule, never receives traffic. Istio admits the resource with a warning, which
        `istioctl analyze` reports as IST0130 VirtualServiceUnreachableRule.
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
          - match:  # expect: ML408@5 spec.http[1].match
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
          - route:
            - destination:
                host: reviews
                subset: v1
    """,
    kinds={"VirtualService"},
    source=f"{WEBHOOK} (analyzeUnreachableHTTPRules, analyzeUnreachableTCPRules, "
    "analyzeUnreachableTLSRules) — warning 'virtualService rule not used'",
    catalogue=(
        "vs-unreach-second-catchall",
        "vs-unreach-after-catchall",
        "vs-unreach-all-dup",
    ),
    istio="IST0130",
)
def unreachable_rule(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for unreachable, path, message in reachability(res):
        if unreachable:
            yield Finding(path, message, key=path[-1] == "match")


@rule(
    "ML409",
    "ineffective-match",
    Severity.INFO,
    summary="A match of a route rule can never be used: an earlier match covers it.",
    rationale="""
        A match identical to a match of an earlier rule, or an HTTP match whose uri prefix is
        covered by an earlier match's prefix with the same other conditions (port, method,
        authority, header, query and withoutHeaders keys), never selects its rule: the earlier
        rule wins. The rule's other matches still work. Istio admits the resource with a
        warning, which `istioctl analyze` reports as IST0131 VirtualServiceIneffectiveMatch.
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
                prefix: /api
            route:
            - destination:
                host: reviews
                subset: v1
          - match:
            - uri:
                prefix: /api/v2  # expect: ML409@17 spec.http[1].match[0].uri.prefix
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
            - uri:
                prefix: /api/v2
            route:
            - destination:
                host: reviews
                subset: v2
          - match:
            - uri:
                prefix: /api
            route:
            - destination:
                host: reviews
                subset: v1
    """,
    kinds={"VirtualService"},
    source=f"{WEBHOOK} (analyzeUnreachableHTTPRules, coveredValidation) — warning "
    "'virtualService rule match is not used (duplicate/overlapping match in rule)'",
    catalogue=("vs-match-dup", "vs-match-prefix-shadow"),
    istio="IST0131",
)
def ineffective_match(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for unreachable, path, message in reachability(res):
        if not unreachable:
            yield Finding(path, message)
