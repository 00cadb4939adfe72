"""Best-practice rules of the per-kind families (ML427-ML431 VirtualService, ML520-ML521
DestinationRule, ML771-ML772 AuthorizationPolicy): messages and edge cases.

Their fixtures, tests/fixtures/rules/practice/<CODE>-bad.yaml and <CODE>-good.yaml (a small
repository with the Services and Deployments it needs), state their findings with markers and
are checked by tests/test_rule_fixtures.py.
"""

from __future__ import annotations

import pytest
from conftest import PRACTICE_CODES

from meshlint import rules
from meshlint.config import Config
from meshlint.diagnostics import Severity
from meshlint.engine import lint_text

CODES = sorted(PRACTICE_CODES)


def findings(text: str, code: str) -> list[tuple[str, str, str]]:
    found = lint_text(text, Config(select=[code]), name="case.yaml").findings
    return [(d.severity.label, d.path, d.message) for d in found]


def test_metadata() -> None:
    for code in CODES:
        r = rules.get(code)
        assert r is not None and r.source and r.istio is None and r.kiali is None, code
        assert r.summary.endswith(".")
    sev = {c: rules.get(c).severity for c in CODES}  # type: ignore[union-attr]
    assert sev["ML428"] == sev["ML431"] == sev["ML521"] == Severity.INFO
    assert all(s != Severity.ERROR for s in sev.values())


# --------------------------------------------------------------------------------------------
# messages and edge cases

_VS = """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: ratings
  namespace: shop
spec:
  hosts:
  - ratings
  http:
{routes}
"""


def vs(routes: str) -> str:
    return _VS.format(routes=routes.rstrip("\n"))


def test_retry_budget_message_counts_the_retries_that_can_start() -> None:
    text = vs(
        """\
  - route:
    - destination:
        host: ratings
    timeout: 10s
    retries:
      attempts: 4
      perTryTimeout: 3s
"""
    )
    [(severity, path, message)] = findings(text, "ML427")
    assert severity == "warning" and path == "spec.http[0].retries.perTryTimeout"
    assert "only 3 of the 4 retries can start" in message
    assert "at most 2s" in message and "raise timeout to 15s" in message


@pytest.mark.parametrize(
    ("retries", "fires"),
    [
        ("attempts: 2\n      perTryTimeout: 5s", True),  # 2 x 5s reaches 10s
        ("attempts: 1\n      perTryTimeout: 5s", False),  # 1 retry starts at 5s
        ("attempts: 0\n      perTryTimeout: 20s", False),  # retries off (ML421's business)
        ("perTryTimeout: 20s", False),  # attempts absent: retries off
        ("attempts: 2\n      perTryTimeout: 0.5ms", False),  # invalid: ML421's
        ("attempts: true\n      perTryTimeout: 20s", False),
        ("attempts: 2\n      perTryTimeout: [5s]", False),
    ],
)
def test_retry_budget_edges(retries: str, fires: bool) -> None:
    text = vs(
        f"""\
  - route:
    - destination:
        host: ratings
    timeout: 10s
    retries:
      {retries}
"""
    )
    assert bool(findings(text, "ML427")) is fires


@pytest.mark.parametrize(
    ("retry_on", "severity"),
    [
        ("connect-failure,refused-stream,reset-before-request,envoy-ratelimited", None),
        ("unavailable,cancelled,deadline-exceeded", None),  # gRPC: not judged
        ("retriable-4xx", "warning"),
        ("503,504", "warning"),
        ("gateway-error", "warning"),
        ("connect-failure, reset", None),  # ' reset' is invalid (ML421), not judged
        ("{{ .Values.retryOn }}", None),
    ],
)
def test_non_idempotent_conditions(retry_on: str, severity: str | None) -> None:
    text = vs(
        f"""\
  - match:
    - method:
        exact: PATCH
    route:
    - destination:
        host: ratings
    retries:
      attempts: 2
      retryOn: "{retry_on}"
"""
    )
    got = findings(text, "ML429")
    assert [s for s, _, _ in got] == ([severity] if severity else [])


def test_non_idempotent_mixed_methods_is_information() -> None:
    text = vs(
        """\
  - match:
    - method:
        exact: GET
    - method:
        exact: POST
    route:
    - destination:
        host: ratings
    retries:
      attempts: 2
      retryOn: 5xx
"""
    )
    [(severity, _, message)] = findings(text, "ML429")
    assert severity == "info" and "a POST may be executed twice" in message


def test_catch_all_after_a_rule_without_match_is_left_to_ml408() -> None:
    text = vs(
        """\
  - route:
    - destination:
        host: ratings
  - match:
    - uri:
        prefix: /
    route:
    - destination:
        host: ratings
  - match:
    - uri:
        prefix: /api
    route:
    - destination:
        host: ratings
"""
    )
    assert findings(text, "ML430") == []
    assert [p for _, p, _ in findings(text, "ML408")] == [
        "spec.http[1].match",
        "spec.http[2].match",
    ]


def test_catch_all_covering_only_prefixes_is_left_to_ml409() -> None:
    text = vs(
        """\
  - match:
    - uri:
        prefix: /
    route:
    - destination:
        host: ratings
  - match:
    - uri:
        prefix: /api
    route:
    - destination:
        host: ratings
"""
    )
    assert findings(text, "ML430") == []
    assert [p for _, p, _ in findings(text, "ML409")] == ["spec.http[1].match[0].uri.prefix"]


@pytest.mark.parametrize(
    "match",
    [
        "- uri:\n        prefix: /\n      port: 8080",
        "- uri:\n        prefix: /\n      gateways: [mesh]",
        "- uri:\n        prefix: /a",
        "- uri:\n        regex: /a.*",
        "- uri: /",
        "- null",
    ],
)
def test_restricted_matches_are_no_catch_all(match: str) -> None:
    text = vs(
        f"""\
  - match:
    {match}
    route:
    - destination:
        host: ratings
  - match:
    - headers:
        x-a:
          exact: b
    route:
    - destination:
        host: ratings
"""
    )
    assert findings(text, "ML430") == []


def test_zero_weight_single_destination_and_wrong_types() -> None:
    text = vs(
        """\
  - route:
    - destination:
        host: ratings
      weight: 0
  - route:
    - destination:
        host: ratings
      weight: "50"
    - destination:
        host: ratings
        subset: v2
      weight: 0
  - route: 7
  - route:
    - null
    - destination:
        host: ratings
      weight: 100
"""
    )
    assert findings(text, "ML431") == []


_DR = """\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: reviews
  namespace: shop
spec:
  host: reviews
  trafficPolicy:
    outlierDetection: {od}
"""


@pytest.mark.parametrize(
    ("od", "codes"),
    [
        ("{maxEjectionPercent: 100, baseEjectionTime: 1m}", ["ML520"]),
        ("{maxEjectionPercent: 100, minHealthPercent: 30, baseEjectionTime: 1m}", []),
        ("{maxEjectionPercent: 99, baseEjectionTime: 1m}", []),
        ("{consecutive5xxErrors: 5}", ["ML521"]),
        ("{}", []),
        ("[maxEjectionPercent]", []),
        ("{maxEjectionPercent: 100.0, baseEjectionTime: 1m}", []),
    ],
)
def test_outlier_detection_edges(od: str, codes: list[str]) -> None:
    text = _DR.format(od=od)
    found = lint_text(text, Config(select=["ML520", "ML521"]), name="dr.yaml").findings
    assert [d.code for d in found] == codes


_AP = """\
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: policy
  namespace: {ns}
spec:
{spec}
"""


@pytest.mark.parametrize(
    ("spec", "codes"),
    [
        ("  action: DENY", []),  # ML762's business
        ("  action: CUSTOM\n  provider:\n    name: ext", []),
        ("  rules: null", ["ML771"]),
        ("  rules: 7", []),
        ("  rules: [7, null]", []),
        ("  rules:\n  - to: null\n    from: null", ["ML772"]),
        ("  rules:\n  - from: []", []),  # ML765's business
        ("  action: allow\n  rules:\n  - {}", []),  # an invalid action: the schema's
    ],
)
def test_authorization_edges(spec: str, codes: list[str]) -> None:
    text = _AP.format(ns="shop", spec=spec)
    found = lint_text(text, Config(select=["ML771", "ML772"]), name="ap.yaml").findings
    assert [d.code for d in found] == codes


def test_allow_nothing_in_the_root_namespace_says_mesh() -> None:
    text = _AP.format(ns="istio-system", spec="  action: ALLOW")
    [(_, path, message)] = findings(text, "ML771")
    assert path == "spec.action" and "every workload of the mesh" in message


def test_spec_not_a_mapping_does_not_crash() -> None:
    for kind, api in (
        ("VirtualService", "networking.istio.io/v1"),
        ("DestinationRule", "networking.istio.io/v1"),
        ("AuthorizationPolicy", "security.istio.io/v1"),
    ):
        text = f"apiVersion: {api}\nkind: {kind}\nmetadata:\n  name: x\n  namespace: a\nspec: 7\n"
        found = lint_text(text, Config(select=CODES), name="x.yaml").findings
        assert found == []


def test_rules_after_a_later_rule_without_match_are_left_to_ml408() -> None:
    text = vs(
        """\
  - match:
    - uri:
        prefix: /
    route:
    - destination:
        host: ratings
  - route:
    - destination:
        host: ratings
  - match:
    - headers:
        x-a:
          exact: b
    route:
    - destination:
        host: ratings
"""
    )
    assert [p for _, p, _ in findings(text, "ML430")] == ["spec.http[1]"]
    assert [p for _, p, _ in findings(text, "ML408")] == ["spec.http[2].match"]


def test_dry_run_policies_are_not_enforced() -> None:
    text = _AP.format(ns="shop", spec="  rules:\n  - {}").replace(
        "  namespace: shop\n", '  namespace: shop\n  annotations:\n    istio.io/dry-run: "true"\n'
    )
    assert findings(text, "ML772") == []
    assert findings(text.replace("  rules:\n  - {}\n", ""), "ML771") == []
