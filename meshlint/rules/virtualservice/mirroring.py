"""Traffic mirroring of HTTP routes (rules catalogue section 3.6)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from meshlint.diagnostics import FieldPath, Severity
from meshlint.resource import Resource
from meshlint.rules import Finding, rule
from meshlint.rules.lib.guards import as_int, as_list, as_map
from meshlint.rules.lib.virtualservice import (
    WEBHOOK,
    WEBHOOK_VS,
    destination,
    http_routes_of,
)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value


def _mirror_pct(path: FieldPath, value: Any) -> Iterator[Finding]:
    number = _number(value)
    if number is None:
        return
    if number > 100:
        yield Finding(path, f"mirror percentage {value} is above the maximum of 100")
    elif number < 0:
        yield Finding(path, f"mirror percentage {value} is negative: use 0 to 100")


@rule(
    "ML416",
    "traffic-mirroring",
    Severity.ERROR,
    summary="A mirror destination or mirror percentage is not valid.",
    rationale="""
        `mirror` and each `mirrors[].destination` name a service like a route destination: a
        host (not `*`), an optional subset that is a DNS label and an optional port 1-65535.
        Mirror percentages (`mirrorPercentage.value`,
        `mirrors[].percentage.value`, the older `mirrorPercent`) are from 0 to 100. Istio's
        webhook rejects the resource otherwise.
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
            mirrors:
            - destination:
                host: reviews-shadow
              percentage:
                value: 150  # expect: ML416@16 spec.http[0].mirrors[0].percentage.value
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
            mirrors:
            - destination:
                host: reviews-shadow
              percentage:
                value: 15
    """,
    kinds={"VirtualService"},
    source=f"{WEBHOOK_VS} (validateHTTPRoute) — 'mirror_percentage must have a max value of 100'; "
    f"{WEBHOOK} (validateHTTPMirrors, validateDestination) — 'mirror percentage must have a max value of 100', 'invalid destination host'",
    catalogue=(
        "vs-mirrorpct-old-max",
        "vs-mirrorpct-range",
        "vs-mirror-dest",
        "vs-mirrors-dest",
        "vs-mirrors-pct",
    ),
    istio="IST0106",
    needs=("mirror", "mirrors", "mirrorPercent", "mirror_percent", "mirrorPercentage"),
)
def traffic_mirroring(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for base, route in http_routes_of(res):
        for field in ("mirrorPercent", "mirror_percent"):
            value = as_int(route.get(field))
            if value is not None and value > 100:
                yield Finding((*base, field), f"{field} {value} is above the maximum of 100")
        yield from _mirror_pct(
            (*base, "mirrorPercentage", "value"), as_map(route.get("mirrorPercentage")).get("value")
        )
        yield from destination((*base, "mirror"), route.get("mirror"))
        for k, mirror in enumerate(as_list(route.get("mirrors"))):
            path = (*base, "mirrors", k)
            if not isinstance(mirror, dict):
                continue
            yield from destination((*path, "destination"), mirror.get("destination"))
            yield from _mirror_pct(
                (*path, "percentage", "value"), as_map(mirror.get("percentage")).get("value")
            )


@rule(
    "ML417",
    "deprecated-mirror-percent",
    Severity.WARNING,
    summary="`mirrorPercent` is deprecated: use `mirrorPercentage`.",
    rationale="""
        `mirrorPercent` (an integer) is deprecated in favour of `mirrorPercentage.value`, which
        also takes fractions. Istio admits it with a warning.
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
            mirror:
              host: reviews-shadow
            mirrorPercent: 10  # expect: ML417@5 spec.http[0].mirrorPercent
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
            mirror:
              host: reviews-shadow
            mirrorPercentage:
              value: 10
    """,
    kinds={"VirtualService"},
    source=f'{WEBHOOK_VS} (validateHTTPRoute) — warning \'using deprecated setting "mirrorPercent", '
    'use "mirrorPercentage" instead\'',
    catalogue=("vs-mirrorpct-old",),
    istio="IST0133",
    needs=("mirrorPercent", "mirror_percent"),
)
def deprecated_mirror_percent(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for base, route in http_routes_of(res):
        for field in ("mirrorPercent", "mirror_percent"):
            value = route.get(field)
            if value is not None:
                yield Finding(
                    (*base, field),
                    f"{field} is deprecated: write `mirrorPercentage: {{value: {value}}}`",
                    key=True,
                )
