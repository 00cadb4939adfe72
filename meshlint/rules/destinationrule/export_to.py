"""Where a DestinationRule is visible: its ``exportTo`` list, and the one namespace a rule with a
workload selector may be exported to.

Facts: istio/istio ``pkg/config/validation/validation.go`` (``validateExportTo``, called by
``ValidateDestinationRule`` with the workload selector).
"""

from __future__ import annotations

from collections.abc import Iterator

from meshlint.diagnostics import Severity
from meshlint.resource import Resource
from meshlint.rules import Finding, rule
from meshlint.rules.lib.destinationrule import KINDS, WEBHOOK, dr
from meshlint.rules.lib.grammar import check_export_to


@rule(
    "ML503",
    "invalid-destination-rule-export-to",
    Severity.ERROR,
    summary="`spec.exportTo` has an invalid, repeated or conflicting entry.",
    rationale="""
        `exportTo` lists the namespaces that see the DestinationRule: `.` (its own), `*`
        (every namespace) or namespace names. Istio's webhook rejects an entry listed twice
        (`.` and the own namespace count as the same), `*` combined with other entries, `~`
        (only a ServiceEntry may be hidden from everyone) and anything that is not a
        namespace name.

        In 0.2 the export of a DestinationRule with a `workloadSelector` beyond its own
        namespace became a rule of its own, ML522.
    """,
    bad=dr(
        """
        host: reviews.shop.svc.cluster.local
        exportTo:
        - "*"  # expect: ML503@5 spec.exportTo[0]
        - frontend
        """
    ),
    good=dr(
        """
        host: reviews.shop.svc.cluster.local
        exportTo:
        - "."
        - frontend
        """
    ),
    istio="IST0106",
    kinds=KINDS,
    source=f"{WEBHOOK} (validateExportTo) — 'duplicate entries in exportTo', 'cannot have "
    "both public (*) and non-public exportTo values'",
    catalogue=(
        "dr-export-dup",
        "dr-export-dot-own",
        "dr-export-none",
        "dr-export-entry",
        "dr-export-star-mix",
    ),
    needs=("exportTo",),
)
def invalid_destination_rule_export_to(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None:
        return
    problems = check_export_to(spec.get("exportTo"), allow_none=False, own_namespace=res.namespace)
    for index, message in problems:
        yield Finding(("spec", "exportTo", index), message)


@rule(
    "ML522",
    "workload-selector-exported-beyond-namespace",
    Severity.ERROR,
    summary="A DestinationRule with a `workloadSelector` is exported to another namespace.",
    rationale="""
        A DestinationRule with a `workloadSelector` applies only to the selected workloads of
        its own namespace, so Istio's webhook requires its `exportTo` to be that namespace
        alone (`.` or its name): another namespace, or the own one together with others, is
        rejected. Leave `exportTo` out, or write `["."]`.

        Until 0.2 this was part of ML503, whose code still selects, ignores and suppresses
        it.
    """,
    bad=dr(
        """
        host: reviews.shop.svc.cluster.local
        workloadSelector:
          matchLabels:
            app: frontend
        exportTo:
        - frontend  # expect: ML522@5 spec.exportTo[0]
        """
    ),
    good=dr(
        """
        host: reviews.shop.svc.cluster.local
        workloadSelector:
          matchLabels:
            app: frontend
        exportTo:
        - "."
        """
    ),
    istio="IST0106",
    kinds=KINDS,
    source=f"{WEBHOOK} (validateExportTo) — 'destination rule with workload selector cannot "
    "have exportTo beyond current namespace'",
    catalogue=("dr-export-selector-scope", "dr-export-selector-multi"),
    aliases=("ML503",),
    needs=("exportTo",),
)
def workload_selector_exported_beyond_namespace(res: Resource) -> Iterator[Finding]:
    spec = res.spec_map
    if spec is None or spec.get("workloadSelector") is None:
        return
    values = spec.get("exportTo")
    # The grammar judges the list and, given the selector, adds the selector's verdict on the
    # entries that are valid; what it adds is this rule's.
    everything = check_export_to(
        values, allow_none=False, own_namespace=res.namespace, workload_selector=True
    )
    of_the_list = check_export_to(values, allow_none=False, own_namespace=res.namespace)
    for index, message in everything:
        if (index, message) not in of_the_list:
            yield Finding(("spec", "exportTo", index), message)
