"""``--jobs N``: lint slices of the files in worker processes, keeping the output order."""

from __future__ import annotations

import multiprocessing
import sys
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed

from meshlint.config import Config
from meshlint.engine import LintResult, finish_in_parent, lint_files, note_internal_errors


def _slices(files: list[str], jobs: int) -> list[list[str]]:
    # Several slices a worker, so that one slow slice does not leave the other cores idle.
    count = min(len(files), jobs * 4)
    size, extra = divmod(len(files), count)
    out, start = [], 0
    for i in range(count):
        end = start + size + (1 if i < extra else 0)
        out.append(files[start:end])
        start = end
    return out


def _work(files: list[str], config: Config) -> LintResult:
    # The cross-resource rules run once in the parent, over the records of every worker.
    result = lint_files(files, config, mesh=False)
    wanted = {d.file for d in result.findings}
    result.sources = [s for s in result.sources if s.name in wanted]
    return result


def _context() -> multiprocessing.context.BaseContext:
    methods = multiprocessing.get_all_start_methods()
    # fork starts workers with everything already imported; elsewhere spawn is the safe one.
    if sys.platform.startswith("linux") and "fork" in methods:
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def lint_in_workers(
    files: Sequence[str], config: Config, jobs: int, *, progress: bool = False
) -> LintResult:
    slices = _slices(list(files), jobs)
    merged = LintResult()
    with ProcessPoolExecutor(max_workers=jobs, mp_context=_context()) as pool:
        futures = [pool.submit(_work, part, config) for part in slices]
        if progress:
            from rich.progress import Progress

            with Progress(transient=True) as bar:
                task = bar.add_task("linting", total=len(files))
                sizes = {fut: len(part) for fut, part in zip(futures, slices, strict=True)}
                for fut in as_completed(futures):
                    bar.advance(task, sizes[fut])
        for fut in futures:
            part = fut.result()
            note_internal_errors(part.findings)  # the workers' listeners are not ours
            merged.findings.extend(part.findings)
            merged.sources.extend(part.sources)
            merged.resources += part.resources
            merged.files += part.files
            merged.io_error = merged.io_error or part.io_error
            merged.records.extend(part.records)
            merged.namespaces |= part.namespaces
    finish_in_parent(merged, config, files)
    return merged
