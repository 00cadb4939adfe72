"""`meshlint lint PATH…`: lint manifests and report every finding at its line and column."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from meshlint.cli.common import (
    EXIT_CLEAN,
    EXIT_FINDINGS,
    EXIT_USAGE,
    ColorMode,
    FailOn,
    Format,
    Inputs,
    _fail,
    app,
    exit_status,
    load_settings,
    render_report,
    write_text,
)
from meshlint.diagnostics import ConfigError

if TYPE_CHECKING:
    from meshlint.config import Config


@app.command("lint")
def lint_command(
    paths: Annotated[
        list[str] | None,
        typer.Argument(
            help="Files or folders to lint (recursively: *.yaml, *.yml, *.json); '-' reads "
            "stdin. (default: the current folder)",
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
        FailOn | None,
        typer.Option(
            case_sensitive=False,
            help="Exit 1 when a finding is at least this severe ('none': never). "
            "(default: error, or the configuration's fail-on)",
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
            help="Worker processes at most: fewer on fewer cores, one per MiB of input, none "
            "below 2 MiB. (default: the number of cores)",
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
    from meshlint import loader

    if statistics and fmt is not Format.text:
        raise _fail(
            f"--statistics prints a table of counts; it does not combine with --format {fmt.value}"
        )
    cfg = load_settings(
        config_file=config_file,
        no_config=no_config,
        select=select,
        ignore=ignore,
        fail_on=fail_on.value if fail_on is not None else None,
        exclude=exclude,
        schema_location=schema_location,
    )
    source = Inputs(
        paths, filename, stdin_filename, cluster, context, namespace, all_namespaces, kubeconfig
    )
    if cluster and (fix or diff):
        raise _fail("--fix and --diff change files; they do not apply to --cluster")
    files = source.discover(cfg)
    fixed_stdin: bytes | None = None
    unwritten: list[str] = []
    if fix or diff:
        if "-" in files and len(files) > 1:
            raise _fail("--fix and --diff read stdin ('-') only on its own")
        streams = [f for f in files if f != "-" and loader.is_stream(f)]
        if streams:
            raise _fail(
                f"--fix and --diff rewrite files, and {streams[0]} is a pipe or device: "
                "give its content on stdin ('-') instead"
            )
        try:
            changed, fixed_stdin, unwritten = _apply_fixes(
                files, cfg, stdin_filename, write=not diff
            )
        except ConfigError as exc:
            raise _fail(str(exc)) from None
        if diff:
            raise typer.Exit(EXIT_FINDINGS if changed else EXIT_CLEAN)
    if watch and (cluster or fix or diff or "-" in files):
        raise _fail("--watch lints files; it does not combine with -, --cluster, --fix or --diff")

    def run_once(files: list[str]) -> int:
        if fixed_stdin is not None:
            from meshlint import engine

            result = engine.lint_loaded(loader.load_bytes(fixed_stdin, stdin_filename), cfg)
        else:
            result = source.lint(files, cfg, jobs=jobs or os.cpu_count() or 1)
        text = render_report(result, fmt, color, output, statistics=statistics)
        if output is not None:
            write_text(output, text)
        elif fixed_stdin is not None:  # stdout holds the fixed text; the report goes to stderr
            sys.stderr.write(text)
            sys.stderr.flush()
        else:
            sys.stdout.write(text)
            sys.stdout.flush()
        status = exit_status(result, cfg)
        # a file whose fixes could not be written: as an I/O error (named on stderr above)
        return max(status, EXIT_USAGE) if unwritten else status

    if watch:
        from meshlint.watch import watch as watch_loop

        def again() -> None:
            current, _ = loader.discover(source.targets, cfg.exclude)
            typer.echo(f"meshlint: linting {len(current)} files (Ctrl-C ends --watch)", err=True)
            run_once(current)

        watch_loop(source.targets, cfg.exclude, again)
        raise typer.Exit(EXIT_CLEAN)
    raise typer.Exit(run_once(files))


def _apply_fixes(
    files: list[str], cfg: Config, stdin_name: str, *, write: bool
) -> tuple[int, bytes | None, list[str]]:
    """Fix each file in place (``write``), or print the diff of the fixes. Returns the number
    of files changed, when stdin was read its fixed bytes (printed when ``write``), and the
    files whose fixes could not be written (each named on stderr with the reason; the others
    are fixed all the same)."""
    from meshlint import fix as fix_mod

    fixed = changed = 0
    stdin_out: bytes | None = None
    unwritten: list[str] = []
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
                why = exc.strerror or str(exc)
                typer.echo(
                    f"meshlint: error: cannot write the fixes of {f}: {why}; it is left as it is",
                    err=True,
                )
                unwritten.append(f)
                changed -= 1
                fixed -= len(result.fixed)
                continue
    sys.stdout.flush()
    if write and stdin_out is not None:
        sys.stdout.buffer.write(stdin_out)
        sys.stdout.buffer.flush()
    verb = "fixed" if write else "would fix"
    summary = f"{verb} {_count(fixed, 'finding')} in {_count(changed, 'file')}"
    if unwritten:
        summary += f"; {_count(len(unwritten), 'file')} could not be written"
    typer.echo(summary, err=True)
    return changed, stdin_out, unwritten


def _count(n: int, what: str) -> str:
    return f"{n} {what}" if n == 1 else f"{n} {what}s"
