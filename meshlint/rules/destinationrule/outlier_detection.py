"""Outlier detection settings Istio's webhook rejects.

Facts: istio/istio ``pkg/config/validation/validation.go`` (``validateOutlierDetection``,
``ValidatePercent``). Its durations are judged with the others (ML510), its deprecated
``consecutiveErrors`` by ML517, and what it does in practice by ML520 and ML521.
"""

from __future__ import annotations

from collections.abc import Iterator

from meshlint.diagnostics import Severity
from meshlint.resource import Resource
from meshlint.rules import Finding, rule
from meshlint.rules.lib.destinationrule import INT32_MAX, INT32_MIN, KINDS, WEBHOOK, dr, sections_of
from meshlint.rules.lib.guards import as_int

_PERCENTS = ("maxEjectionPercent", "minHealthPercent")


@rule(
    "ML515",
    "invalid-outlier-detection",
    Severity.ERROR,
    summary="Outlier detection has a percentage outside 0-100, or counts local-origin "
    "failures without splitting them out.",
    rationale="""
        `maxEjectionPercent` and `minHealthPercent` are percentages from 0 to 100.
        `consecutiveLocalOriginFailures` only counts when local-origin errors (connection
        failures, timeouts) are told apart from upstream ones, which takes
        `splitExternalLocalOriginErrors: true`. Istio's webhook rejects both mistakes.
    """,
    bad=dr(
        """
        host: reviews.shop.svc.cluster.local
        trafficPolicy:
          outlierDetection:
            consecutive5xxErrors: 5
            maxEjectionPercent: 150  # expect: ML515@27 spec.trafficPolicy.outlierDetection.maxEjectionPercent
        """
    ),
    good=dr(
        """
        host: reviews.shop.svc.cluster.local
        trafficPolicy:
          outlierDetection:
            consecutive5xxErrors: 5
            maxEjectionPercent: 50
        """
    ),
    istio="IST0106",
    kinds=KINDS,
    source=f"{WEBHOOK} (validateOutlierDetection, ValidatePercent) — 'percentage … is not in "
    "range 0..100', 'outlier detection consecutive local origin failures is specified, but "
    "split external local origin errors is set to false'",
    catalogue=("dr-od-localorigin", "dr-od-maxeject", "dr-od-minhealth"),
    needs=("outlierDetection",),
)
def invalid_outlier_detection(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for path, od, _ in sections_of(res, "outlierDetection"):
        failures = od.get("consecutiveLocalOriginFailures")
        if (
            failures is not None
            and (as_int(failures) or 0) > 0
            and od.get("splitExternalLocalOriginErrors") is not True
        ):
            yield Finding(
                (*path, "consecutiveLocalOriginFailures"),
                "consecutiveLocalOriginFailures needs splitExternalLocalOriginErrors: true, "
                "which counts local-origin failures apart",
            )
        for field in _PERCENTS:
            n = od.get(field)
            # (a boolean, 0 or 1, is never out of range)
            if isinstance(n, int) and not 0 <= n <= 100 and INT32_MIN <= n <= INT32_MAX:
                yield Finding((*path, field), f"{field} {n} is outside 0-100")
