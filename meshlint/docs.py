"""docs/rules.md, generated from the rule registry (a test keeps the file current)."""

from __future__ import annotations

# Rows of the rules catalogue from Istio's webhook, CRD or CEL rules, istioctl analyze or Kiali
# that no rule implements (yet), and why. tests/test_catalogue.py holds the list to the catalogue.
NOT_IMPLEMENTED: dict[str, str] = {
    "gen-field-alias": "an info note on snake_case alias fields (mirror_percent, jwks_uri); "
    "the models accept both spellings, no finding is given",
    "dr-subset-tp": "not a check of its own: it says every traffic-policy check also applies to "
    "subset and port-level policies, which every ML5 rule does",
    "ap-k-principal-remote": "needs the service accounts of the other clusters of a multi-cluster "
    "mesh, which neither manifests nor one cluster's API hold",
    "ap-x-status-rejected": "reads `status.conditions`, which the cluster writes; manifests carry "
    "no status and `--cluster` leaves it out",
    "se-x-waypoint-unbound": "reads `status.conditions`, which the cluster writes; manifests carry "
    "no status and `--cluster` leaves it out",
    "ra-x-jwks-unrestricted": "reads the environment of the istiod Deployment (an installation "
    "setting, `BLOCKED_CIDRS_IN_JWKS_URIS`), which application repositories do not hold",
    "se-x-address-required": "the analyzer's variant depends on the proxies' DNS capture and "
    "auto-allocation metadata in the mesh config; ML634 reports the webhook's narrower case, "
    "where Istio will not allocate an address itself",
}


def rules_markdown() -> str:
    from meshlint import rules
    from meshlint.rules.lib.expect import shown

    all_rules = rules.all_rules()
    out = [
        "# meshlint rules",
        "",
        "Generated from the rule metadata by `meshlint rules --format markdown`; do not edit.",
        "",
        "| code | name | severity | summary | Istio | Kiali |",
        "|---|---|---|---|---|---|",
    ]
    for r in all_rules:
        out.append(
            f"| [{r.code}](#{r.code.lower()}) | {r.name} | {r.severity.label} | "
            f"{r.summary} | {', '.join(r.istio_codes)} | {', '.join(r.kiali_codes)} |"
        )
    rows = sorted((row, r.code) for r in all_rules for row in r.catalogue)
    if rows:
        out += [
            "",
            "## Rules catalogue rows",
            "",
            "Each row of the rules catalogue (shared/reference/rules-catalogue.md) that a rule",
            "implements, and the rule that does.",
            "",
            "| catalogue row | rule |",
            "|---|---|",
        ]
        out += [f"| {row} | [{code}](#{code.lower()}) |" for row, code in rows]
        from meshlint.rules.lib.grammar import CATALOGUE as GRAMMAR

        out += [
            "",
            "The shared value grammars (section 2 of the catalogue) are functions of",
            "`meshlint/rules/lib/grammar.py` that the per-kind rules call on each field they apply to:",
            "",
            "| catalogue row | function |",
            "|---|---|",
        ]
        out += [f"| {row} | `{fn}` |" for row, fn in sorted(GRAMMAR.items())]
        out += [
            "",
            "Rows from Istio's webhook, CRD or CEL rules, istioctl analyze or Kiali that no rule",
            "implements:",
            "",
            "| catalogue row | why |",
            "|---|---|",
        ]
        out += [f"| {row} | {why} |" for row, why in sorted(NOT_IMPLEMENTED.items())]
    for r in all_rules:
        out += [
            "",
            f"## {r.code}",
            "",
            f"**{r.name}** ({r.severity.label}"
            + (", fixable" if r.fixable else "")
            + f"): {r.summary}",
            "",
            r.rationale.strip(),
        ]
        if r.options:
            out += [
                "",
                "Options (`options: {" + r.code + ": {NAME: VALUE}}` in the configuration):",
                "",
            ]
            out += [f"- `{o.name}` ({o.type}, default `{o.default}`): {o.help}" for o in r.options]
        if r.aliases:
            out += [
                "",
                "Replaces "
                + ", ".join(r.aliases)
                + ", which still select, ignore and suppress it.",
            ]
        if r.source:
            out += ["", f"Source: {r.source}"]
        if r.bad:
            out += ["", "Bad:", "", "```yaml", shown(r.bad).rstrip(), "```"]
        if r.good:
            out += ["", "Good:", "", "```yaml", r.good.rstrip(), "```"]
    return "\n".join(out) + "\n"
