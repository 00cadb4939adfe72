"""Locality load balancing in a DestinationRule: `localityLbSetting` (distribute, failover,
failoverPriority), `zoneAwareLbSetting`, and the outlier detection that failover needs.

Facts: istio/istio ``pkg/config/validation/agent/validation.go`` (``ValidateLocalityLbSetting``,
``ValidateZoneAwareLbSetting``, ``validateLocalities``) and
``pkg/config/validation/validation.go`` (``validateLoadBalancer``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from meshlint.diagnostics import FieldPath, Severity
from meshlint.resource import Resource
from meshlint.rules import Finding, rule
from meshlint.rules.lib.destinationrule import (
    AGENT,
    KINDS,
    UINT32_MAX,
    WEBHOOK,
    dr,
    is_set,
    sections_of,
)
from meshlint.rules.lib.guards import as_int, child

_KEYS = ("localityLbSetting", "zoneAwareLbSetting")


def _settings(res: Resource) -> Iterator[tuple[FieldPath, str, dict[str, Any]]]:
    """``(path, key, setting)`` for each ``localityLbSetting`` and ``zoneAwareLbSetting`` that is
    a mapping."""
    for path, lb, _ in sections_of(res, "loadBalancer"):
        for key in _KEYS:
            setting = child(lb, key)
            if setting is not None:
                yield (*path, key), key, setting


def _distributes_and_fails_over(setting: dict[str, Any]) -> bool:
    """A localityLbSetting with both distribute and failover: Istio judges nothing else in it
    (ML527)."""
    distribute, failover = setting.get("distribute"), setting.get("failover")
    return (
        isinstance(distribute, list)
        and bool(distribute)
        and isinstance(failover, list)
        and bool(failover)
    )


_TOPOLOGY_LABELS = frozenset(
    ("topology.kubernetes.io/region", "topology.kubernetes.io/zone", "topology.istio.io/subzone")
)


def _locality_list_problem(localities: list[str]) -> tuple[int, str] | None:
    """The first locality of a list Istio rejects, with why: a misplaced or repeated `*`, an
    empty part, or an overlap with an earlier one (`us-east/*` and `us-east/zone1`)."""
    # region -> zone -> subzones; "*" stands for "all of them"
    seen: dict[str, dict[str, set[str]]] = {}
    for i, locality in enumerate(localities):
        stars = locality.count("*")
        if stars and (stars > 1 or not locality.endswith("*")):
            return i, (
                f"locality '{locality}' is not valid: '*' may appear once, at the end "
                "(region/*, region/zone/*)"
            )
        overlap = f"locality '{locality}' overlaps one listed before it"
        if "*" in seen:
            return i, overlap
        parts = locality.split("/", 2)
        if any(p == "" for p in parts):
            return i, (
                f"locality '{locality}' has an empty part: write region, region/zone or "
                "region/zone/subzone"
            )
        region = parts[0]
        zones = seen.get(region)
        if len(parts) == 1:
            if zones is not None:
                return i, overlap
            seen[region] = {"*": {"*"}}
            continue
        if zones is None:
            zones = seen[region] = {}
        elif "*" in zones:
            return i, overlap
        zone = parts[1]
        if len(parts) == 2:
            if zone in zones:
                return i, overlap
            zones[zone] = {"*"}
            continue
        subzones = zones.get(zone)
        if subzones is None:
            zones[zone] = {parts[2]}
        elif "*" in subzones or parts[2] in subzones:
            return i, overlap
        else:
            subzones.add(parts[2])
    return None


def _distribute_to_problems(to: object, base: FieldPath) -> Iterator[Finding]:
    if not isinstance(to, dict):
        return
    total = 0
    weights_ok = True
    for loc, weight in to.items():
        w = as_int(weight)
        if w is None or not 0 <= w <= UINT32_MAX:
            weights_ok = False  # not a uint32: the schema's finding
            continue
        if w == 0 or w > 100:
            yield Finding((*base, loc), f"weight {w} is outside 1-100")
            weights_ok = False
        total += w
    if weights_ok and total != 100:
        yield Finding(
            base,
            f"the weights total {total}: the weights of one distribute entry must total 100",
            key=True,
        )
    keys = [k for k in to if isinstance(k, str)]
    problem = _locality_list_problem(keys)
    if problem:
        yield Finding((*base, keys[problem[0]]), problem[1], key=True)


def _distribute_problems(distribute: list[Any], base: FieldPath) -> Iterator[Finding]:
    sources: list[str] = []
    source_index: list[int] = []
    for i, entry in enumerate(distribute):
        if not isinstance(entry, dict):
            continue
        where: FieldPath = (*base, "distribute", i)
        origin = entry.get("from")
        if origin is None or isinstance(origin, str):
            sources.append(origin or "")
            source_index.append(i)
        if entry.get("to") is None:
            yield Finding(
                where,
                "this distribute entry has no `to`: give the localities to send traffic "
                "to, with weights that total 100",
            )
        yield from _distribute_to_problems(entry.get("to"), (*where, "to"))
    problem = _locality_list_problem(sources)
    if problem:
        i = source_index[problem[0]]
        entry = distribute[i]
        where = (*base, "distribute", i)
        message = problem[1]
        if entry.get("from") is None:
            message = (
                "this distribute entry has no `from`: name the locality its traffic comes "
                "from (region, region/zone or region/zone/subzone, optionally ending in *)"
            )
        yield Finding((*where, "from") if "from" in entry else where, message)


@rule(
    "ML513",
    "invalid-locality-lb-setting",
    Severity.ERROR,
    summary="A locality `distribute` entry has weights outside 1-100 or not totalling 100, "
    "lacks `from` or `to`, or names malformed or overlapping localities.",
    rationale="""
        Each `distribute` entry of `localityLbSetting` sends the traffic from one locality
        (`from`) to others (`to`), with weights from 1 to 100 that total exactly 100.
        Localities are `region`, `region/zone` or `region/zone/subzone`, with at most one
        `*`, at the end, and no empty part; the `from` localities of the entries may not
        overlap (`us-east/*` and `us-east/zone1`), nor the `to` localities of one entry.
        Istio's webhook rejects each of these.

        In 0.2 three problems of locality load balancing became rules of their own:
        conflicting settings (ML527), invalid `failover` entries (ML528) and topology labels
        in `failoverPriority` (ML529).
    """,
    bad=dr(
        """
        host: reviews.shop.svc.cluster.local
        trafficPolicy:
          loadBalancer:
            localityLbSetting:
              distribute:
              - from: us-west/zone1/*
                to:  # expect: ML513@11 spec.trafficPolicy.loadBalancer.localityLbSetting.distribute[0].to
                  "us-west/zone1/*": 80
                  "us-west/zone2/*": 10
          outlierDetection:
            consecutive5xxErrors: 5
        """
    ),
    good=dr(
        """
        host: reviews.shop.svc.cluster.local
        trafficPolicy:
          loadBalancer:
            localityLbSetting:
              distribute:
              - from: us-west/zone1/*
                to:
                  "us-west/zone1/*": 80
                  "us-west/zone2/*": 20
          outlierDetection:
            consecutive5xxErrors: 5
        """
    ),
    istio="IST0106",
    kinds=KINDS,
    source=f"{AGENT} (ValidateLocalityLbSetting, validateLocalities) — 'locality weight must "
    "be in range [1, 100]', 'total locality weight … != 100', 'locality … wildcard '*' number "
    "can not exceed 1 and must be in the end', 'locality … must not contain empty "
    "region/zone/subzone info', 'locality … overlap with previous specified ones'",
    catalogue=(
        "dr-loc-dist-weight",
        "dr-loc-dist-sum",
        "dr-loc-wildcard",
        "dr-loc-empty-part",
        "dr-loc-overlap",
    ),
    needs=("localityLbSetting",),
)
def invalid_locality_lb_setting(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for path, lb, _ in sections_of(res, "loadBalancer"):
        setting = child(lb, "localityLbSetting")
        if setting is None or _distributes_and_fails_over(setting):
            continue
        distribute = setting.get("distribute")
        if isinstance(distribute, list):
            yield from _distribute_problems(distribute, (*path, "localityLbSetting"))


@rule(
    "ML527",
    "conflicting-locality-lb-settings",
    Severity.ERROR,
    summary="`localityLbSetting` is set with `zoneAwareLbSetting`, or `distribute` with "
    "`failover`.",
    rationale="""
        Locality load balancing is configured one way at a time: `localityLbSetting` or
        `zoneAwareLbSetting`, not both; and within `localityLbSetting`, either `distribute`
        (fixed shares of traffic between localities) or `failover` (where traffic goes when a
        locality has no healthy endpoint), not both. Istio's webhook rejects each pair: keep
        the one you mean. While `distribute` and `failover` are both set, the rest of the
        `localityLbSetting` is not judged.

        Until 0.2 this was part of ML513, whose code still selects, ignores and suppresses
        it.
    """,
    bad=dr(
        """
        host: reviews.shop.svc.cluster.local
        trafficPolicy:
          loadBalancer:
            localityLbSetting:
              distribute:
              - from: us-east/*
                to:
                  "us-west/*": 100
              failover:  # expect: ML527@9 spec.trafficPolicy.loadBalancer.localityLbSetting.failover
              - from: us-east
                to: us-west
          outlierDetection:
            consecutive5xxErrors: 5
        """
    ),
    good=dr(
        """
        host: reviews.shop.svc.cluster.local
        trafficPolicy:
          loadBalancer:
            localityLbSetting:
              failover:
              - from: us-east
                to: us-west
          outlierDetection:
            consecutive5xxErrors: 5
        """
    ),
    istio="IST0106",
    kinds=KINDS,
    source=f"{WEBHOOK} (validateLoadBalancer) and {AGENT} (ValidateLocalityLbSetting) — "
    "'only one of localityLbSetting and zoneAwareLbSetting can be set', 'can not "
    "simultaneously specify 'distribute' and 'failover''",
    catalogue=("dr-lb-locality-and-zone", "dr-loc-dist-and-failover"),
    aliases=("ML513",),
    needs=("localityLbSetting",),
)
def conflicting_locality_lb_settings(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for path, lb, _ in sections_of(res, "loadBalancer"):
        if is_set(lb.get("localityLbSetting")) and is_set(lb.get("zoneAwareLbSetting")):
            yield Finding(
                (*path, "zoneAwareLbSetting"),
                "localityLbSetting and zoneAwareLbSetting cannot be set together: keep one",
                key=True,
            )
        locality = child(lb, "localityLbSetting")
        if locality is not None and _distributes_and_fails_over(locality):
            yield Finding(
                (*path, "localityLbSetting", "failover"),
                "distribute and failover cannot be set together: keep one of them",
                key=True,
            )


def _failover_problems(failover: object, base: FieldPath) -> Iterator[Finding]:
    if not isinstance(failover, list):
        return
    for k, entry in enumerate(failover):
        if not isinstance(entry, dict):
            continue
        where: FieldPath = (*base, k)
        origin, target = entry.get("from"), entry.get("to")
        origin = origin if isinstance(origin, str) else "" if origin is None else None
        target = target if isinstance(target, str) else "" if target is None else None
        if origin is None or target is None:
            continue
        if origin == target == "":
            yield Finding(where, "this failover entry names no regions: give from and to")
        elif origin == target:
            yield Finding(
                (*where, "to") if "to" in entry else where,
                f"failover goes from region '{origin}' to the same region: name another region",
            )
        for field, value in (("from", origin), ("to", target)):
            if "/" in value:
                yield Finding(
                    (*where, field),
                    f"'{value}' is not a region: failover is between regions only (no '/'); "
                    "zones and subzones fail over automatically",
                )
            elif "*" in value:
                yield Finding(
                    (*where, field), f"'{value}' has a '*': failover names one region, exactly"
                )


@rule(
    "ML528",
    "invalid-locality-failover",
    Severity.ERROR,
    summary="A locality `failover` entry names no region, the same region twice, a zone or a `*`.",
    rationale="""
        `failover` (of `localityLbSetting` or `zoneAwareLbSetting`) says where traffic goes
        when no healthy endpoint is left in a region: each entry goes `from` one region `to`
        another. Zones and subzones fail over by themselves, so a value with `/` or `*` is no
        region; an entry from a region to itself, or naming no region, does nothing. Istio's
        webhook rejects each of these.

        Until 0.2 this was part of ML513, whose code still selects, ignores and suppresses
        it.
    """,
    bad=dr(
        """
        host: reviews.shop.svc.cluster.local
        trafficPolicy:
          loadBalancer:
            localityLbSetting:
              failover:
              - from: us-east
                to: us-west/zone1  # expect: ML528@15 spec.trafficPolicy.loadBalancer.localityLbSetting.failover[0].to
          outlierDetection:
            consecutive5xxErrors: 5
        """
    ),
    good=dr(
        """
        host: reviews.shop.svc.cluster.local
        trafficPolicy:
          loadBalancer:
            localityLbSetting:
              failover:
              - from: us-east
                to: us-west
          outlierDetection:
            consecutive5xxErrors: 5
        """
    ),
    istio="IST0106",
    kinds=KINDS,
    source=f"{AGENT} (ValidateLocalityLbSetting, ValidateZoneAwareLbSetting) — 'locality lb "
    "failover settings must specify different regions', 'locality lb failover only specify "
    "region', 'locality lb failover region should not contain '*' wildcard'",
    catalogue=(
        "dr-loc-failover-same",
        "dr-loc-failover-region",
        "dr-loc-failover-wild",
        "dr-zone-failover-same",
        "dr-zone-failover-region",
        "dr-zone-failover-wild",
    ),
    aliases=("ML513",),
    needs=("failover",),
)
def invalid_locality_failover(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for base, key, setting in _settings(res):
        if key == "localityLbSetting" and _distributes_and_fails_over(setting):
            continue
        yield from _failover_problems(setting.get("failover"), (*base, "failover"))


@rule(
    "ML529",
    "topology-label-in-failover-priority",
    Severity.ERROR,
    summary="`failoverPriority` names the region, zone or subzone topology label next to "
    "`failover`, or with zone-aware load balancing.",
    rationale="""
        `failoverPriority` orders endpoints by labels they share with the client. The
        region, zone and subzone labels (`topology.kubernetes.io/region`,
        `topology.kubernetes.io/zone`, `topology.istio.io/subzone`) are what `failover` and
        zone-aware load balancing already order by, so Istio's webhook rejects them in
        `failoverPriority` when `failover` is set, and always with `zoneAwareLbSetting`.
        Keep other labels there (such as `topology.istio.io/network`), or drop `failover`.

        Until 0.2 this was part of ML513, whose code still selects, ignores and suppresses
        it.
    """,
    bad=dr(
        """
        host: reviews.shop.svc.cluster.local
        trafficPolicy:
          loadBalancer:
            localityLbSetting:
              failover:
              - from: us-east
                to: us-west
              failoverPriority:
              - topology.kubernetes.io/region  # expect: ML529@11 spec.trafficPolicy.loadBalancer.localityLbSetting.failoverPriority[0]
              - topology.istio.io/network
          outlierDetection:
            consecutive5xxErrors: 5
        """
    ),
    good=dr(
        """
        host: reviews.shop.svc.cluster.local
        trafficPolicy:
          loadBalancer:
            localityLbSetting:
              failover:
              - from: us-east
                to: us-west
              failoverPriority:
              - topology.istio.io/network
          outlierDetection:
            consecutive5xxErrors: 5
        """
    ),
    istio="IST0106",
    kinds=KINDS,
    source=f"{AGENT} (ValidateLocalityLbSetting, ValidateZoneAwareLbSetting) — 'can not "
    "simultaneously set 'failover' and topology label … in 'failover_priority''",
    catalogue=("dr-loc-prio-topology", "dr-zone-prio-topology"),
    aliases=("ML513",),
    needs=("failoverPriority",),
)
def topology_label_in_failover_priority(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for base, key, setting in _settings(res):
        priority = setting.get("failoverPriority")
        if not isinstance(priority, list):
            continue
        if key == "zoneAwareLbSetting":
            for k, label in enumerate(priority):
                if isinstance(label, str) and label in _TOPOLOGY_LABELS:
                    yield Finding(
                        (*base, "failoverPriority", k),
                        f"'{label}' cannot be used with zone-aware load balancing: it "
                        "already routes by region, zone and subzone (order regions with "
                        "failover instead)",
                    )
            continue
        failover = setting.get("failover")
        if _distributes_and_fails_over(setting) or not (isinstance(failover, list) and failover):
            continue
        for k, label in enumerate(priority):
            if isinstance(label, str) and label in _TOPOLOGY_LABELS:
                yield Finding(
                    (*base, "failoverPriority", k),
                    f"'{label}' cannot be in failoverPriority when failover is set: remove it, "
                    "or remove failover",
                )


@rule(
    "ML514",
    "failover-without-outlier-detection",
    Severity.WARNING,
    summary="Locality failover is configured but the traffic policy has no `outlierDetection`.",
    rationale="""
        Envoy only fails over to another locality when endpoints are ejected as unhealthy,
        and that takes outlier detection. Without `outlierDetection` in the same traffic
        policy (or port-level entry), `failover` and `failoverPriority` never trigger. Istio
        accepts this with a warning.
    """,
    bad=dr(
        """
        host: reviews.shop.svc.cluster.local
        trafficPolicy:
          loadBalancer:
            localityLbSetting:
              failover:  # expect: ML514@9 spec.trafficPolicy.loadBalancer.localityLbSetting.failover
              - from: us-east
                to: us-west
        """
    ),
    good=dr(
        """
        host: reviews.shop.svc.cluster.local
        trafficPolicy:
          loadBalancer:
            localityLbSetting:
              failover:
              - from: us-east
                to: us-west
          outlierDetection:
            consecutive5xxErrors: 5
            interval: 10s
        """
    ),
    istio="IST0133",
    kinds=KINDS,
    source=f"{AGENT} (ValidateLocalityLbSetting, ValidateZoneAwareLbSetting) — warning "
    "'outlier detection policy must be provided for failover'",
    catalogue=("dr-loc-failover-no-od", "dr-zone-failover-no-od"),
    needs=("localityLbSetting", "zoneAwareLbSetting"),
)
def failover_without_outlier_detection(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    for path, lb, block in sections_of(res, "loadBalancer"):
        if block.get("outlierDetection") is not None:
            continue
        for key in ("localityLbSetting", "zoneAwareLbSetting"):
            setting = child(lb, key)
            if setting is None:
                continue
            for field in ("failover", "failoverPriority"):
                value = setting.get(field)
                if isinstance(value, list) and value:
                    yield Finding(
                        (*path, key, field),
                        f"{field} never triggers without outlierDetection: add "
                        "outlierDetection to this traffic policy",
                        key=True,
                    )
                    break
