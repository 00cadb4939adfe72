"""The host a DestinationRule applies to and its subsets: what Istio's webhook rejects.

Facts: istio/istio ``pkg/config/validation/validation.go`` (``ValidateDestinationRule``,
``validateSubset``, ``validateSubsetName``) and ``pkg/config/validation/agent/validation.go``
(``ValidateWildcardDomain``). A null subset is the schema's finding (ML207).
"""

from __future__ import annotations

from collections.abc import Iterator

from meshlint.diagnostics import Severity
from meshlint.resource import Resource
from meshlint.rules import Finding, rule
from meshlint.rules.lib.destinationrule import (
    AGENT,
    KINDS,
    WEBHOOK,
    dr,
    label_problems,
    subset_name_problem,
)
from meshlint.rules.lib.grammar import check_wildcard_host
from meshlint.rules.lib.guards import missing_spec


@rule(
    "ML501",
    "invalid-destination-rule-host",
    Severity.ERROR,
    summary="`spec.host` is not a valid host name, or there is no spec to hold one.",
    rationale="""
        A DestinationRule applies to the traffic sent to one service, named by `host`: a short
        name (`reviews`), a fully qualified name (`reviews.shop.svc.cluster.local`) or a
        wildcard whose `*` starts the first label (`*.shop.svc.cluster.local`). Each label is
        1-63 letters, digits or `-`; the last one may not be all digits, so an IP address is
        not a host here. Istio's webhook rejects any other value, and an empty host, which is
        what a null or missing `spec` gives (the finding is then on `spec`, or on `kind` when
        there is none).
    """,
    bad=dr(
        """
        host: reviews_v1.shop.svc.cluster.local  # expect: ML501@9 spec.host
        """
    ),
    good=dr(
        """
        host: reviews.shop.svc.cluster.local
        """
    ),
    istio="IST0106",
    kinds=KINDS,
    source=f"{AGENT} (ValidateWildcardDomain, called by ValidateDestinationRule) — "
    "'domain name … invalid'",
    catalogue=("dr-host-syntax",),
)
def invalid_destination_rule_host(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        missing = missing_spec(
            res, "so the DestinationRule has no host: name the service it applies to in spec.host"
        )
        if missing is not None:
            yield missing
        return
    problem = check_wildcard_host(spec.get("host"))
    if problem:
        yield Finding(("spec", "host"), problem)


@rule(
    "ML502",
    "invalid-subset",
    Severity.ERROR,
    summary="A subset has an empty or invalid name, repeats a name, or has invalid labels.",
    rationale="""
        Routes name a subset (`destination.subset: v1`), so its name must be a DNS label (1-63
        letters, digits or `-`, starting and ending with a letter or digit) and unique within
        the DestinationRule. Its labels select the service's endpoints and follow Kubernetes
        label syntax. Istio's webhook rejects an empty, invalid or repeated name, and an
        invalid label key or value.
    """,
    bad=dr(
        """
        host: reviews.shop.svc.cluster.local
        subsets:
        - name: v1
          labels:
            version: v1
        - name: v1  # expect: ML502@11 spec.subsets[1].name
          labels:
            version: v2
        """
    ),
    good=dr(
        """
        host: reviews.shop.svc.cluster.local
        subsets:
        - name: v1
          labels:
            version: v1
        - name: v2
          labels:
            version: v2
        """
    ),
    istio="IST0106",
    kinds=KINDS,
    source=f"{WEBHOOK} (ValidateDestinationRule, validateSubset, validateSubsetName) — "
    "'duplicate subset names', 'subset name cannot be empty', 'subset name is invalid'",
    catalogue=("dr-subset-dup", "dr-subset-name", "dr-subset-labels"),
    needs=("subsets",),
)
def invalid_subset(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    subsets = spec.get("subsets")
    if not isinstance(subsets, list):
        return
    seen: dict[str, int] = {}
    for i, subset in enumerate(subsets):
        if not isinstance(subset, dict):
            continue  # a null subset is the schema's finding (ML207)
        name = subset.get("name")
        if isinstance(name, str):
            problem = subset_name_problem(name)
            if problem:
                yield Finding(("spec", "subsets", i, "name"), problem)
            if name in seen:
                yield Finding(
                    ("spec", "subsets", i, "name"),
                    f"subset '{name}' is already defined (subset {seen[name]}): "
                    "subset names must be unique",
                )
            elif name:
                seen[name] = i
        labels = subset.get("labels")
        if isinstance(labels, dict):
            for key, problem, on_key in label_problems(labels):
                yield Finding(("spec", "subsets", i, "labels", key), problem, key=on_key)


# --------------------------------------------------------------------------------------------
