"""`meshlint rules` and `meshlint explain CODE`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from meshlint.cli.common import (
    _fail,
    app,
)

if TYPE_CHECKING:
    pass


@app.command("rules")
def rules_command(
    fmt: Annotated[str, typer.Option("--format", help="text, json or markdown.")] = "text",
) -> None:
    """List every rule: code, name, severity and summary."""
    from meshlint import rules

    all_rules = rules.all_rules()
    if fmt == "json":
        import json

        typer.echo(json.dumps([_rule_json(r) for r in all_rules], indent=2))
    elif fmt == "markdown":
        from meshlint.docs import rules_markdown

        typer.echo(rules_markdown(), nl=False)
    elif fmt == "text":
        for r in all_rules:
            anchor = f"  [{', '.join(r.matches)}]" if r.matches else ""
            typer.echo(f"{r.code}  {r.severity.label:<7}  {r.name:<32} {r.summary}{anchor}")
    else:
        raise _fail(f"unknown format {fmt!r}; expected text, json or markdown")


def _rule_json(r: object) -> dict[str, object]:
    from meshlint.rules import Rule
    from meshlint.rules.lib.expect import shown

    assert isinstance(r, Rule)
    return {
        "code": r.code,
        "name": r.name,
        "severity": r.severity.label,
        "family": r.family,
        "summary": r.summary,
        "rationale": r.rationale,
        "bad": shown(r.bad),
        "good": r.good,
        "istio": r.istio,
        "kiali": r.kiali,
        "also": list(r.also),
        "fixable": r.fixable,
        "options": [
            {"name": o.name, "type": o.type, "default": o.default, "help": o.help}
            for o in r.options
        ],
        "aliases": list(r.aliases),
    }


@app.command("explain")
def explain_command(
    code: Annotated[str, typer.Argument(help="A rule code (ML206) or name (unknown-field).")],
) -> None:
    """Explain one rule: why it matters, and a bad and a good example."""
    from meshlint import rules
    from meshlint.rules.lib.expect import shown

    found = rules.lookup(code)
    if not found:
        raise _fail(f"no rule {code!r}; `meshlint rules` lists them")
    out: list[str] = []
    key = code.strip().upper()
    if key not in {r.code for r in found} and key in rules.aliases():
        now = ", ".join(r.code for r in found)
        out += [
            f"{key} is an old code: its findings are now {now}, which it still selects, "
            "ignores and suppresses.",
            "",
        ]
    for r in found:
        lines = [f"{r.code} {r.name} ({r.severity.label})", "", r.summary, "", r.rationale.rstrip()]
        if r.matches:
            lines += ["", "Matches: " + ", ".join(r.matches)]
        if r.aliases:
            lines += ["", "Replaces: " + ", ".join(r.aliases)]
        if r.options:
            lines += [
                "",
                "Options (`options: {" + r.code + ": {NAME: VALUE}}` in the configuration):",
            ]
            lines += [f"    {o.name} ({o.type}, default {o.default}): {o.help}" for o in r.options]
        if r.bad:
            lines += ["", "Bad:", "", *("    " + ln for ln in shown(r.bad).rstrip().splitlines())]
        if r.good:
            lines += ["", "Good:", "", *("    " + ln for ln in r.good.rstrip().splitlines())]
        if r.fixable:
            lines += ["", "`meshlint lint --fix` can fix it."]
        out += [*(["", "---", ""] if out and out[-1] != "" else []), *lines]
    typer.echo("\n".join(out))
