"""docs/rules.md, generated from the rule registry (a test keeps the file current)."""

from __future__ import annotations


def rules_markdown() -> str:
    from meshlint import rules

    out = [
        "# meshlint rules",
        "",
        "Generated from the rule metadata by `meshlint rules --format markdown`; do not edit.",
        "",
        "| code | name | severity | summary | Istio | Kiali |",
        "|---|---|---|---|---|---|",
    ]
    all_rules = rules.all_rules()
    for r in all_rules:
        out.append(
            f"| [{r.code}](#{r.code.lower()}) | {r.name} | {r.severity.label} | "
            f"{r.summary} | {r.istio or ''} | {r.kiali or ''} |"
        )
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
        if r.bad:
            out += ["", "Bad:", "", "```yaml", r.bad.rstrip(), "```"]
        if r.good:
            out += ["", "Good:", "", "```yaml", r.good.rstrip(), "```"]
    return "\n".join(out) + "\n"
