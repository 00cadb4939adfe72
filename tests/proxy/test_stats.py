"""The proxy's counters under Envoy's names, without traffic."""

from __future__ import annotations

from meshlint.proxy.telemetry import Stats

CLUSTER = "outbound|9080||reviews.shop.svc.cluster.local"


def test_a_request_the_client_left_counts_as_cancelled() -> None:
    stats = Stats()
    stats.request("outbound", "reviews", CLUSTER, 200, 1.0)
    stats.request("outbound", "reviews", CLUSTER, 0, 1.0)  # the client closed first
    names = stats.envoy_names()
    assert names[f"cluster.{CLUSTER}.upstream_rq_200"] == 1
    assert names[f"cluster.{CLUSTER}.upstream_rq_cancelled"] == 1
    assert names[f"cluster.{CLUSTER}.upstream_rq_total"] == 2
    assert f"cluster.{CLUSTER}.upstream_rq_0" not in names
    assert f"cluster.{CLUSTER}.upstream_rq_0xx" not in names


def test_merged_workers_add_up() -> None:
    one, two = Stats(), Stats()
    one.request("outbound", "reviews", CLUSTER, 503, 2.0)
    two.request("outbound", "reviews", CLUSTER, 503, 4.0)
    two.count(CLUSTER, "upstream_rq_retry")
    one.merge(two.to_data())
    names = one.envoy_names()
    assert names[f"cluster.{CLUSTER}.upstream_rq_503"] == 2
    assert names[f"cluster.{CLUSTER}.upstream_rq_retry"] == 1
