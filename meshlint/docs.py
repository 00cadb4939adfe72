"""docs/rules.md, generated from the rule registry (a test keeps the file current)."""

from __future__ import annotations


def rules_markdown() -> str:
    from meshlint import rules

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
            f"{r.summary} | {r.istio or ''} | {r.kiali or ''} |"
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
        if r.source:
            out += ["", f"Source: {r.source}"]
        if r.bad:
            out += ["", "Bad:", "", "```yaml", r.bad.rstrip(), "```"]
        if r.good:
            out += ["", "Good:", "", "```yaml", r.good.rstrip(), "```"]
    return "\n".join(out) + "\n"
