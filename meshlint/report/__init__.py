"""Output formats: a closed set, one small renderer module each."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from meshlint.engine import LintResult

FORMATS = ("text", "json", "sarif", "github", "junit", "gitlab")


class Renderer(Protocol):
    def __call__(self, result: LintResult, *, color: bool = False) -> str: ...


def render(fmt: str, result: LintResult, *, color: bool = False) -> str:
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    module = importlib.import_module(f"meshlint.report.{fmt}")
    renderer: Renderer = module.render
    return renderer(result, color=color)
