"""The command line: ``meshlint [lint] PATH…``, ``rules``, ``explain``, ``schema``, ``version``.

Exit status: 0 when no finding reaches ``--fail-on``, 1 when one does, 2 for a usage, configuration
or I/O error. Heavy modules load inside the commands that need them.
"""

from __future__ import annotations

import os
import sys
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from meshlint import __version__

if TYPE_CHECKING:
    from meshlint import engine
    from meshlint.config import Config

app = typer.Typer(
    name="meshlint",
    help="Lint Istio service-mesh manifests: every finding at its file, line and column.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

EXIT_CLEAN, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2


class Format(str, Enum):
    text = "text"
    json = "json"
    sarif = "sarif"
    github = "github"
    junit = "junit"
    gitlab = "gitlab"


class ColorMode(str, Enum):
    auto = "auto"
    always = "always"
    never = "never"


def _fail(message: str) -> typer.Exit:
    typer.echo(f"meshlint: error: {message}", err=True)
    return typer.Exit(EXIT_USAGE)


def _split(values: list[str] | None) -> list[str]:
    out: list[str] = []
    for v in values or []:
        out.extend(p.strip() for p in v.split(",") if p.strip())
    return out


@app.command("lint")
def lint_command(
    paths: Annotated[
        list[str] | None,
        typer.Argument(
            help="Files or folders to lint (recursively: *.yaml, *.yml, *.json); '-' reads stdin.",
            show_default=False,
        ),
    ] = None,
    filename: Annotated[
        list[str] | None,
        typer.Option(
            "--filename",
            "-f",
            help="A file or folder to lint, as kubectl spells it; repeatable, and "
            "added to the PATHs.",
        ),
    ] = None,
    fmt: Annotated[Format, typer.Option("--format", help="Output format.")] = Format.text,
    statistics: Annotated[
        bool,
        typer.Option(
            "--statistics",
            help="Print the number of findings of each rule, most frequent first, "
            "instead of the findings.",
        ),
    ] = False,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write the report to this file instead of stdout."),
    ] = None,
    fail_on: Annotated[
        str | None,
        typer.Option(
            help="Exit 1 when a finding is at least this severe: error, warning, info or none. "
            "(default: error)",
            show_default=False,
        ),
    ] = None,
    select: Annotated[
        list[str] | None,
        typer.Option(help="Only these rules (codes, prefixes such as ML2, or names); repeatable."),
    ] = None,
    ignore: Annotated[list[str] | None, typer.Option(help="Skip these rules; repeatable.")] = None,
    exclude: Annotated[
        list[str] | None,
        typer.Option(help="Skip files and folders matching this glob; repeatable."),
    ] = None,
    config_file: Annotated[
        Path | None,
        typer.Option(
            "--config",
            help="Configuration file (.meshlint.yaml or pyproject.toml). "
            "Default: looked for from the current folder upwards.",
        ),
    ] = None,
    no_config: Annotated[
        bool, typer.Option("--no-config", help="Ignore configuration files.")
    ] = False,
    schema_location: Annotated[
        list[str] | None,
        typer.Option(
            "--schema-location",
            help="JSON Schemas for kinds meshlint does not model: a folder, or a path with "
            "{kind}, {group}, {version} placeholders; repeatable.",
        ),
    ] = None,
    stdin_filename: Annotated[
        str, typer.Option(help="The file name to show for '-' (stdin).")
    ] = "<stdin>",
    color: Annotated[ColorMode, typer.Option(help="Colour in text output.")] = ColorMode.auto,
    jobs: Annotated[
        int | None,
        typer.Option(
            "--jobs",
            "-j",
            min=1,
            help="Worker processes for large runs. (default: the number of cores)",
            show_default=False,
        ),
    ] = None,
    fix: Annotated[
        bool,
        typer.Option(
            "--fix",
            help="Apply the safe fixes in place, then report what remains; with '-', print "
            "the fixed text.",
        ),
    ] = False,
    watch: Annotated[
        bool,
        typer.Option(
            "--watch",
            help="Lint again whenever a file changes, appears or goes; Ctrl-C ends it.",
        ),
    ] = False,
    diff: Annotated[
        bool,
        typer.Option(
            "--diff",
            help="Print the changes --fix would make as a unified diff and write nothing; "
            "exit 1 if there is any.",
        ),
    ] = False,
    cluster: Annotated[
        bool,
        typer.Option(
            "--cluster",
            help="Lint what is deployed: the mesh kinds, Services and workloads read from "
            "the cluster of a kubeconfig context (with any PATHs and -f files).",
        ),
    ] = False,
    context: Annotated[
        str | None,
        typer.Option(help="With --cluster: the kubeconfig context. (default: current-context)"),
    ] = None,
    namespace: Annotated[
        str | None,
        typer.Option(
            "--namespace",
            "-n",
            help="With --cluster: the namespace to read. (default: the context's, else default)",
            show_default=False,
        ),
    ] = None,
    all_namespaces: Annotated[
        bool,
        typer.Option(
            "--all-namespaces", "-A", help="With --cluster: read every namespace (overrides -n)."
        ),
    ] = False,
    kubeconfig: Annotated[
        str | None,
        typer.Option(
            help="With --cluster: the kubeconfig file. (default: $KUBECONFIG, else ~/.kube/config)",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Lint manifests and report every finding at its line and column."""
    from meshlint import config as config_mod
    from meshlint import engine, loader, report

    if statistics and fmt is not Format.text:
        raise _fail(
            f"--statistics prints a table of counts; it does not combine with --format {fmt.value}"
        )

    try:
        if no_config:
            cfg = config_mod.Config()
        else:
            cfg = config_mod.load(config_file) if config_file else config_mod.load()
            if config_file is not None and not config_file.is_file():
                raise config_mod.ConfigError(f"{config_file}: no such file")
        if select:
            cfg.select = config_mod.check_selectors(_split(select), "--select")
        if ignore:
            cfg.ignore = cfg.ignore + config_mod.check_selectors(_split(ignore), "--ignore")
        if fail_on is not None:
            try:
                cfg.fail_on = config_mod.parse_fail_on(fail_on)
            except ValueError as exc:
                raise config_mod.ConfigError(f"--fail-on: {exc}") from None
        if exclude:
            cfg.exclude = cfg.exclude + list(exclude)
        if schema_location:
            cfg.schema_locations = cfg.schema_locations + list(schema_location)
    except config_mod.ConfigError as exc:
        raise _fail(str(exc)) from None

    if not cluster:
        stray = [
            flag
            for flag, value in (
                ("--context", context),
                ("--namespace", namespace),
                ("--all-namespaces", all_namespaces),
                ("--kubeconfig", kubeconfig),
            )
            if value
        ]
        if stray:
            raise _fail(f"{', '.join(stray)} only apply with --cluster")
    elif fix or diff:
        raise _fail("--fix and --diff change files; they do not apply to --cluster")
    targets = [*(paths or []), *(filename or [])] or ([] if cluster else ["."])
    files, missing = loader.discover(targets, cfg.exclude)
    if missing:
        raise _fail("no such file or folder: " + ", ".join(missing))
    fixed_stdin: bytes | None = None
    if fix or diff:
        if "-" in files and len(files) > 1:
            raise _fail("--fix and --diff read stdin ('-') only on its own")
        try:
            changed, fixed_stdin = _apply_fixes(files, cfg, stdin_filename, write=not diff)
        except config_mod.ConfigError as exc:
            raise _fail(str(exc)) from None
        if diff:
            raise typer.Exit(EXIT_FINDINGS if changed else EXIT_CLEAN)
    if watch and (cluster or fix or diff or "-" in files):
        raise _fail("--watch lints files; it does not combine with -, --cluster, --fix or --diff")

    def run_once(files: list[str]) -> int:
        workers = jobs or os.cpu_count() or 1
        show_progress = sys.stderr.isatty() and len(files) >= 500
        try:
            if cluster:  # the files and the cluster in one run: mesh checks see both
                result = _lint_cluster(
                    files, cfg, stdin_filename, context, namespace, all_namespaces, kubeconfig
                )
            elif fixed_stdin is not None:
                result = engine.lint_loaded(loader.load_bytes(fixed_stdin, stdin_filename), cfg)
            elif workers > 1 and len(files) >= engine.PARALLEL_MIN_FILES and "-" not in files:
                from meshlint.parallel import lint_in_workers

                result = lint_in_workers(files, cfg, workers, progress=show_progress)
            else:
                result = engine.lint_files(files, cfg, stdin_name=stdin_filename)
        except config_mod.ConfigError as exc:  # e.g. a schema location that cannot be used
            raise _fail(str(exc)) from None

        use_color = color is ColorMode.always or (
            color is ColorMode.auto
            and output is None
            and sys.stdout.isatty()
            and "NO_COLOR" not in os.environ
        )
        if statistics:
            from meshlint.report.statistics import render_statistics

            text = render_statistics(result)
        else:
            text = report.render(fmt.value, result, color=use_color)
        if output is not None:
            try:
                output.parent.mkdir(parents=True, exist_ok=True)
                output.write_text(text, encoding="utf-8")
            except OSError as exc:
                raise _fail(f"cannot write {output}: {exc.strerror or exc}") from None
        elif fixed_stdin is not None:  # stdout holds the fixed text; the report goes to stderr
            sys.stderr.write(text)
            sys.stderr.flush()
        else:
            sys.stdout.write(text)
            sys.stdout.flush()
        if result.io_error or any(d.code == engine.INTERNAL_ERROR for d in result.findings):
            return EXIT_USAGE  # the report is incomplete: a file could not be read, a rule failed
        threshold = cfg.fail_on
        if threshold is not None and any(d.severity >= threshold for d in result.findings):
            return EXIT_FINDINGS
        return EXIT_CLEAN

    if watch:
        from meshlint.watch import watch as watch_loop

        def again() -> None:
            current, _ = loader.discover(targets, cfg.exclude)
            typer.echo(f"meshlint: linting {len(current)} files (Ctrl-C ends --watch)", err=True)
            run_once(current)

        watch_loop(targets, cfg.exclude, again)
        raise typer.Exit(EXIT_CLEAN)
    raise typer.Exit(run_once(files))


def _lint_cluster(
    files: list[str],
    cfg: Config,
    stdin_name: str,
    context: str | None,
    namespace: str | None,
    all_namespaces: bool,
    kubeconfig: str | None,
) -> engine.LintResult:
    """The files and what the cluster holds, linted as one run; what could not be read is a
    warning on stderr, and a cluster that cannot be read at all a usage error."""
    from meshlint import kube

    try:
        state = kube.fetch(
            context, namespace, all_namespaces, kubeconfig, root_namespace=cfg.root_namespace
        )
    except kube.ClusterError as exc:
        raise _fail(str(exc)) from None
    for warning in state.warnings:
        typer.echo(f"meshlint: warning: {warning}", err=True)
    if state.skipped:
        typer.echo(f"meshlint: warning: not read: {', '.join(state.skipped)}", err=True)
    return kube.lint_state(state, cfg, files=files, stdin_name=stdin_name)


def _apply_fixes(
    files: list[str], cfg: Config, stdin_name: str, *, write: bool
) -> tuple[int, bytes | None]:
    """Fix each file in place (``write``), or print the diff of the fixes. Returns the number
    of files changed and, when stdin was read, its fixed bytes (printed when ``write``)."""
    from meshlint import fix as fix_mod

    fixed = changed = 0
    stdin_out: bytes | None = None
    for f in files:
        name = stdin_name if f == "-" else f
        try:
            if f == "-":
                data = sys.stdin.buffer.read()
            else:
                with open(f, "rb") as fh:
                    data = fh.read()
        except OSError as exc:
            typer.echo(f"meshlint: cannot fix {f}: {exc.strerror or exc}", err=True)
            continue
        if f == "-":
            stdin_out = data
        text, bom, why = fix_mod.decode(data)
        if text is None:
            typer.echo(f"meshlint: cannot fix {name}: {why}; it is left as it is", err=True)
            continue
        result = fix_mod.fix_text(text, name, cfg)
        for problem in result.problems:
            typer.echo(f"meshlint: cannot fix {problem}; the file is left as it is", err=True)
        if not result.changed:
            continue
        changed += 1
        fixed += len(result.fixed)
        if not write:
            sys.stdout.write(fix_mod.unified_diff(result.old, result.new, name))
        elif f == "-":
            stdin_out = bom + result.new.encode("utf-8")
        else:
            try:
                fix_mod.write_fixed(f, result.new, bom)
            except OSError as exc:
                raise _fail(f"cannot write {f}: {exc.strerror or exc}") from None
    sys.stdout.flush()
    if write and stdin_out is not None:
        sys.stdout.buffer.write(stdin_out)
        sys.stdout.buffer.flush()
    verb = "fixed" if write else "would fix"
    typer.echo(f"{verb} {_count(fixed, 'finding')} in {_count(changed, 'file')}", err=True)
    return changed, stdin_out


def _count(n: int, what: str) -> str:
    return f"{n} {what}" if n == 1 else f"{n} {what}s"


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
            anchor = f"  [{r.istio}]" if r.istio else ""
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
        if r.istio or r.kiali:
            lines += ["", "Matches: " + ", ".join(x for x in (r.istio, r.kiali) if x)]
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


@app.command("schema")
def schema_command(
    kind: Annotated[
        str | None,
        typer.Argument(help="Kind (VirtualService) or apiVersion/Kind; omit to list the schemas."),
    ] = None,
    export: Annotated[
        Path | None, typer.Option("--export", help="Write every schema into this folder.")
    ] = None,
) -> None:
    """Print or export the JSON Schemas generated from the models (for editors and CI)."""
    import json

    from meshlint import schemas
    from meshlint.models.registry import BY_GROUP_KIND, KINDS

    if export is not None:
        written = schemas.write(export)
        typer.echo(f"wrote {len(written)} schemas to {export}")
        return
    if kind is None:
        for info in KINDS:
            for v in info.versions:
                typer.echo(f"{info.api_version(v)}  {info.kind}")
        return
    api_version, _, kind_name = kind.rpartition("/")
    if not api_version:
        match = [k for k in KINDS if k.kind.lower() == kind_name.lower()]
        if not match:
            raise _fail(f"no schema for kind {kind_name!r}; `meshlint schema` lists them")
        api_version, kind_name = match[0].api_version(), match[0].kind
    from meshlint.models.registry import split_api_version

    known = BY_GROUP_KIND.get((split_api_version(api_version)[0], kind_name))
    schema = schemas.load(api_version, kind_name) if known else None
    if schema is None:
        raise _fail(f"no schema for {api_version}/{kind_name}; `meshlint schema` lists them")
    typer.echo(json.dumps(schema, indent=2))


@app.command("version")
def version_command() -> None:
    """Print meshlint's version."""
    typer.echo(f"meshlint {__version__}")


_COMMANDS = {"lint", "rules", "explain", "schema", "version"}


def main(argv: list[str] | None = None, prog: str = "meshlint") -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "--version":
        args = ["version"]
    elif args and args[0] not in _COMMANDS and args[0] not in ("-h", "--help"):
        args.insert(0, "lint")  # `meshlint PATH…` is `meshlint lint PATH…`
    try:
        app(args=args, prog_name=prog, standalone_mode=True)
    except KeyboardInterrupt:  # pragma: no cover
        sys.exit(130)


def kubectl_main() -> None:
    main(prog="kubectl meshlint")
