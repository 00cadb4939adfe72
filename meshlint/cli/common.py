"""The Typer application and what every command shares: exit codes, formats, usage errors.

Each command lives in a module of this package; heavy modules load inside the commands that
need them.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from meshlint.cli.fastpath import COMMANDS, settings
from meshlint.cli.fastpath import EXIT_CLEAN as EXIT_CLEAN
from meshlint.cli.fastpath import EXIT_FINDINGS as EXIT_FINDINGS
from meshlint.cli.fastpath import EXIT_USAGE as EXIT_USAGE
from meshlint.cli.fastpath import ColorMode as ColorMode
from meshlint.cli.fastpath import Format as Format
from meshlint.cli.fastpath import exit_status as exit_status
from meshlint.cli.fastpath import render_report as render_report

if TYPE_CHECKING:
    from meshlint.config import Config
    from meshlint.engine import LintResult


def _keep_argument_help() -> None:
    """Typer sets an argument's help before click's ``Parameter.__init__``, which (click 8.2
    and later) sets it again from its own keyword, None: the argument then shows no description
    in ``--help``. Set it once more after."""
    from typer.core import TyperArgument

    init = TyperArgument.__init__
    if getattr(init, "_keeps_help", False):
        return

    def keeping(self: TyperArgument, *args: Any, help: str | None = None, **kwargs: Any) -> None:
        init(self, *args, help=help, **kwargs)
        if self.help is None:
            self.help = help

    keeping._keeps_help = True  # type: ignore[attr-defined]
    TyperArgument.__init__ = keeping  # type: ignore[method-assign]


_keep_argument_help()

app = typer.Typer(
    name="meshlint",
    help="Lint Istio service-mesh manifests: every finding at its file, line and column.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


class FailOn(str, Enum):
    """The least severe finding that makes a run exit 1."""

    error = "error"
    warning = "warning"
    info = "info"
    none = "none"


def _fail(message: str) -> typer.Exit:
    typer.echo(f"meshlint: error: {message}", err=True)
    return typer.Exit(EXIT_USAGE)


_COMMANDS = COMMANDS


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


# --------------------------------------------------------------------------------------------
# What the commands that read manifests share: settings, inputs, the report, the exit status.


def load_settings(
    *,
    config_file: Path | None,
    no_config: bool,
    select: list[str] | None = None,
    ignore: list[str] | None = None,
    fail_on: str | None = None,
    exclude: list[str] | None = None,
    schema_location: list[str] | None = None,
) -> Config:
    """The configuration file (unless ``no_config``), with the command line's options over it;
    a usage error when either is wrong."""
    from meshlint.config import ConfigError

    try:
        return settings(
            config_file=config_file,
            no_config=no_config,
            select=select,
            ignore=ignore,
            fail_on=fail_on,
            exclude=exclude,
            schema_location=schema_location,
        )
    except ConfigError as exc:
        raise _fail(str(exc)) from None


class Inputs:
    """Where the manifests come from: paths and ``-f`` files, stdin, and the cluster."""

    def __init__(
        self,
        paths: list[str] | None,
        filename: list[str] | None,
        stdin_name: str,
        cluster: bool,
        context: str | None,
        namespace: str | None,
        all_namespaces: bool,
        kubeconfig: str | None,
    ) -> None:
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
        self.targets = [*(paths or []), *(filename or [])] or ([] if cluster else ["."])
        self.stdin_name = stdin_name
        self.cluster = cluster
        self.context, self.namespace = context, namespace
        self.all_namespaces, self.kubeconfig = all_namespaces, kubeconfig

    def discover(self, cfg: Config) -> list[str]:
        from meshlint import loader

        files, missing = loader.discover(self.targets, cfg.exclude)
        if missing:
            raise _fail("no such file or folder: " + ", ".join(missing))
        if not files and not self.cluster:
            typer.echo(
                "meshlint: warning: nothing to lint: no YAML or JSON file (*.yaml, *.yml, "
                "*.json) found under " + ", ".join(self.targets),
                err=True,
            )
        for f in files:
            if f != "-" and loader.is_stream(f):
                typer.echo(
                    f"meshlint: reading {f} as a stream (a pipe or device, as stdin): "
                    "to its end, once its writer closes it",
                    err=True,
                )
        return files

    def lint(
        self,
        files: list[str],
        cfg: Config,
        *,
        jobs: int = 1,
        meanwhile: Callable[[LintResult], None] | None = None,
    ) -> LintResult:
        """The files (and the cluster, with --cluster) linted as one run.

        ``meanwhile`` (see :func:`meshlint.parallel.lint_in_workers`) is called with the run
        before its cross-resource findings when workers lint it, and not at all otherwise."""
        from meshlint import engine
        from meshlint.diagnostics import ConfigError

        try:
            if self.cluster:  # the files and the cluster in one run: mesh checks see both
                return self._lint_cluster(files, cfg)
            workers = engine.workers_for(files, jobs)
            if workers > 1:
                from meshlint.parallel import lint_in_workers

                progress = sys.stderr.isatty() and len(files) >= 500
                return lint_in_workers(files, cfg, workers, progress=progress, meanwhile=meanwhile)
            return engine.lint_files(files, cfg, stdin_name=self.stdin_name)
        except ConfigError as exc:  # e.g. a schema location that cannot be used
            raise _fail(str(exc)) from None

    def _lint_cluster(self, files: list[str], cfg: Config) -> LintResult:
        """The files and what the cluster holds, linted as one run; what could not be read is a
        warning on stderr, and a cluster that cannot be read at all a usage error."""
        from meshlint import kube

        try:
            state = kube.fetch(
                self.context,
                self.namespace,
                self.all_namespaces,
                self.kubeconfig,
                root_namespace=cfg.root_namespace,
            )
        except kube.ClusterError as exc:
            raise _fail(str(exc)) from None
        for warning in state.warnings:
            typer.echo(f"meshlint: warning: {warning}", err=True)
        if state.skipped:
            typer.echo(f"meshlint: warning: not read: {', '.join(state.skipped)}", err=True)
        return kube.lint_state(state, cfg, files=files, stdin_name=self.stdin_name)


def write_text(output: Path, text: str) -> None:
    """Write ``text`` whole or not at all (a temporary file renamed into place)."""
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        tmp = output.with_name(f".{output.name}.meshlint-tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, output)
    except OSError as exc:
        raise _fail(f"cannot write {output}: {exc.strerror or exc}") from None
