"""The command line: ``meshlint [lint] PATH…``, ``translate``, ``route``, ``certs``, ``proxy``, ``rules``,
``explain``, ``schema``, ``version``.

Exit status: 0 when no finding reaches ``--fail-on``, 1 when one does, 2 for a usage, configuration
or I/O error, and when a rule failed (the report is incomplete). Heavy modules load inside the
commands that need them; a plain lint command line runs without the Typer application
(:mod:`meshlint.cli.fastpath`), which is built only for the others.
"""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["Format", "app", "kubectl_main", "lint", "main", "proxy", "rules", "schema", "translate"]


def main(argv: list[str] | None = None, prog: str = "meshlint") -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    from meshlint.cli.fastpath import lint_quickly

    try:
        # (called as the program: the process ends with the run)
        status = lint_quickly(args, exiting=argv is None)
    except KeyboardInterrupt:  # pragma: no cover
        sys.exit(130)
    if status is not None:
        sys.exit(status)
    _commands().main(args, prog)


def kubectl_main() -> None:
    main(prog="kubectl meshlint")


def _commands() -> Any:
    """The Typer application with every command registered on it (its module, common)."""
    import importlib

    for name in ("lint", "proxy", "rules", "schema", "translate"):
        importlib.import_module(f"{__name__}.{name}")
    return importlib.import_module(f"{__name__}.common")


def __getattr__(name: str) -> Any:
    if name in ("app", "Format"):
        return getattr(_commands(), name)
    if name in ("lint", "proxy", "rules", "schema", "translate", "common"):
        _commands()
        return sys.modules[f"{__name__}.{name}"]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
