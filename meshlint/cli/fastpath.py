"""`meshlint [lint] PATH…` with the common options, run without building the Typer application.

A pre-commit hook runs meshlint on a file or two many times a day, and importing Typer and Click
and building the command costs about as much as linting such a file. A command line made only of
paths and the options below is run here, by the same steps as the `lint` command; anything else
(another command, another option, help, a usage or configuration error, no file found) goes to
the Typer application, which runs it from the start and words every message.

What the two paths share (settings, the report, the exit status) lives here, without Typer.
"""

from __future__ import annotations

import os
import sys
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from meshlint.config import Config
    from meshlint.engine import LintResult

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


def settings(
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
    ConfigError when either is wrong."""
    from meshlint import config as config_mod

    if no_config:
        cfg = config_mod.Config()
    else:
        cfg = config_mod.load(config_file) if config_file else config_mod.load()
        if config_file is not None and not config_file.is_file():
            raise config_mod.ConfigError(f"{config_file}: no such file")
    if select:
        cfg.select = config_mod.check_selectors(split(select), "--select")
    if ignore:
        cfg.ignore = cfg.ignore + config_mod.check_selectors(split(ignore), "--ignore")
    if fail_on is not None:
        try:
            cfg.fail_on = config_mod.parse_fail_on(fail_on)
        except ValueError as exc:
            raise config_mod.ConfigError(f"--fail-on: {exc}") from None
    if exclude:
        cfg.exclude = cfg.exclude + list(exclude)
    if schema_location:
        cfg.schema_locations = cfg.schema_locations + list(schema_location)
    return cfg


def split(values: list[str] | None) -> list[str]:
    out: list[str] = []
    for v in values or []:
        out.extend(p.strip() for p in v.split(",") if p.strip())
    return out


def render_report(
    result: LintResult,
    fmt: Format,
    color: ColorMode,
    output: Path | None,
    *,
    statistics: bool = False,
    stream: Any = None,
) -> str:
    from meshlint import report

    stream = stream or sys.stdout
    use_color = color is ColorMode.always or (
        color is ColorMode.auto
        and output is None
        and stream.isatty()
        and "NO_COLOR" not in os.environ
    )
    if statistics:
        from meshlint.report.statistics import render_statistics

        return render_statistics(result)
    return report.render(fmt.value, result, color=use_color)


def exit_status(result: LintResult, cfg: Config) -> int:
    from meshlint.engine import INTERNAL_ERROR

    if result.io_error or any(d.code == INTERNAL_ERROR for d in result.findings):
        return EXIT_USAGE  # the report is incomplete: a file could not be read, a rule failed
    threshold = cfg.fail_on
    if threshold is not None and any(d.severity >= threshold for d in result.findings):
        return EXIT_FINDINGS
    return EXIT_CLEAN


# The options run here: their spelling → (their keyword, whether they may repeat).
_VALUED = {
    "--format": ("fmt", False),
    "--jobs": ("jobs", False),
    "-j": ("jobs", False),
    "--config": ("config_file", False),
    "--fail-on": ("fail_on", False),
    "--color": ("color", False),
    "--select": ("select", True),
    "--ignore": ("ignore", True),
    "--exclude": ("exclude", True),
    "--filename": ("filename", True),
    "-f": ("filename", True),
}
_FLAGS = {"--no-config": "no_config"}
# The commands of the command line; a first word that is none of them (nor help, nor the
# version) is a path: `meshlint PATH…` is `meshlint lint PATH…`.
COMMANDS = frozenset(
    {"lint", "rules", "explain", "schema", "version", "translate", "certs", "route", "proxy"}
)
_NOT_LINT = (COMMANDS - {"lint"}) | {"-h", "--help", "--version"}


def parse(args: list[str]) -> dict[str, Any] | None:
    """The options of a plain lint command line, or None when it is anything else."""
    if not args or args[0] in _NOT_LINT:
        return None
    rest = args[1:] if args[0] == "lint" else args
    found: dict[str, Any] = {"paths": []}
    i = 0
    while i < len(rest):
        arg = rest[i]
        i += 1
        if arg == "--":
            found["paths"].extend(rest[i:])
            break
        if arg == "-" or not arg.startswith("-"):
            found["paths"].append(arg)
            continue
        name, eq, value = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        if name in _FLAGS and not eq:
            found[_FLAGS[name]] = True
            continue
        if name not in _VALUED:
            return None
        if not eq:
            if i >= len(rest):
                return None
            value = rest[i]
            i += 1
        key, repeats = _VALUED[name]
        if repeats:
            found.setdefault(key, []).append(value)
        elif key in found:
            return None
        else:
            found[key] = value
    return found


def lint_quickly(args: list[str], *, exiting: bool = False) -> int | None:
    """Run a plain `meshlint lint` command line and give its exit status; None when the
    command line is one for the Typer application (nothing was printed then). ``exiting``:
    the process ends right after (see :func:`leave_to_the_exit`)."""
    given = parse(args)
    if given is None:
        return None
    try:
        fmt = Format(given.get("fmt", "text"))
        color = ColorMode(given.get("color", "auto"))
        jobs = int(given["jobs"]) if "jobs" in given else None
    except ValueError:
        return None
    if jobs is not None and jobs < 1:
        return None
    from meshlint import engine, loader
    from meshlint.diagnostics import ConfigError

    config_file = given.get("config_file")
    try:
        cfg = settings(
            config_file=Path(config_file) if config_file is not None else None,
            no_config=given.get("no_config", False),
            select=given.get("select"),
            ignore=given.get("ignore"),
            fail_on=given.get("fail_on"),
            exclude=given.get("exclude"),
        )
    except ConfigError:
        return None
    targets = [*given["paths"], *given.get("filename", [])] or ["."]
    files, missing = loader.discover(targets, cfg.exclude)
    sizes = loader.input_sizes(files) if files else None
    if missing or sizes is None:
        return None  # the application words these (a pipe is read once, in one process)
    workers = engine.workers_for_size(sum(sizes), len(files), jobs or os.cpu_count() or 1)
    if workers > 1:
        from meshlint.parallel import lint_in_workers

        progress = sys.stderr.isatty() and len(files) >= 500
        result = lint_in_workers(files, cfg, workers, progress=progress, sizes=sizes)
    else:
        result = engine.lint_files(files, cfg)
    sys.stdout.write(render_report(result, fmt, color, None))
    sys.stdout.flush()
    status = exit_status(result, cfg)
    if exiting:
        leave_to_the_exit(result)
    return status


def leave_to_the_exit(result: LintResult) -> None:
    """Leave what a run holds to the end of the process, which is near: the system takes its
    memory back at once, where freeing its objects one by one takes a tenth of a second for
    5,000 services, and longer as the interpreter ends. Held in a cycle of their own and out
    of the collector's sight (``gc.freeze``), they are never freed one by one; everything else
    about the exit (handlers, flushing) is as usual."""
    import gc

    held: list[Any] = [result]
    held.append(held)
    gc.freeze()
