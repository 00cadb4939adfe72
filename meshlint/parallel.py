"""``--jobs N``: lint slices of the files in worker processes, keeping the output order."""

from __future__ import annotations

import gc
import multiprocessing
import os
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing.connection import Connection
from typing import Any

from meshlint.config import Config
from meshlint.diagnostics import Diagnostic
from meshlint.engine import (
    LintResult,
    finish_in_parent,
    lint_files,
    merge_mesh_findings,
    mesh_stage_findings,
    note_internal_errors,
)
from meshlint.loader import Source


def _slices(files: list[str], jobs: int) -> list[list[str]]:
    """Runs of consecutive files of about equal size in bytes, several for each worker, so
    that one slow slice does not leave the other cores idle."""
    count = min(len(files), jobs * 4)
    sizes = []
    for f in files:
        try:
            sizes.append(max(os.stat(f).st_size, 1))
        except OSError:
            sizes.append(1)
    total = sum(sizes)
    out: list[list[str]] = []
    start = done = 0
    for i, size in enumerate(sizes):
        done += size
        # Cut once this slice reaches its share, leaving at least a file for each slice left.
        left = count - len(out) - 1
        if left > 0 and (done * count >= total * (len(out) + 1) or len(files) - i - 1 == left):
            out.append(files[start : i + 1])
            start = i + 1
    out.append(files[start:])
    return [part for part in out if part]


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
    files: Sequence[str],
    config: Config,
    jobs: int,
    *,
    progress: bool = False,
    meanwhile: Callable[[LintResult], None] | None = None,
) -> LintResult:
    """The run linted by ``jobs`` worker processes, its findings in the order of one process.

    ``meanwhile`` is work on the run's records that does not need the cross-resource findings
    (a translation): it is called once the workers are done, while those findings are worked
    out in a child process where ``fork`` exists (on another core), else before them.
    """
    slices = _slices(list(files), jobs)
    merged = LintResult()
    # What the workers send back (records, sources, findings) lives to the end of the run:
    # with the collector on, unpickling it sets off collections that scan all of it again and
    # again (a second of 8, at 5,000 services).
    enabled = gc.isenabled()
    gc.disable()
    try:
        _gather(merged, slices, config, jobs, progress)
        if meanwhile is None:
            finish_in_parent(merged, config, files)
            return merged
    finally:
        if enabled:
            gc.enable()
    stage = _MeshStage.start(merged, config)
    try:
        meanwhile(merged)
    finally:
        found = stage.join() if stage is not None else None
        if found is None:  # no fork here, or the child failed: the stage runs here
            finish_in_parent(merged, config, files)
        else:
            merge_mesh_findings(merged, found, files)
    return merged


class _MeshStage:
    """The cross-resource stage of a run in a forked child, which inherits the records (a
    spawned one would need them all pickled) and sends back its findings and the sources it
    read to place them."""

    def __init__(self, result: LintResult, process: Any, conn: Connection) -> None:
        self.result = result
        self.process = process
        self.conn = conn

    @classmethod
    def start(cls, result: LintResult, config: Config) -> _MeshStage | None:
        if "fork" not in multiprocessing.get_all_start_methods() or sys.platform != "linux":
            return None
        ctx = multiprocessing.get_context("fork")
        receive, send = ctx.Pipe(duplex=False)
        process = ctx.Process(target=_mesh_child, args=(result, config, send), daemon=True)
        try:
            process.start()
        except OSError:  # e.g. no memory left to fork
            return None
        send.close()
        return cls(result, process, receive)

    def join(self) -> list[Diagnostic] | None:
        """The child's findings, its sources added to the run's; None when it failed."""
        try:
            found, sources = self.conn.recv()
        except (EOFError, OSError):
            found = sources = None
        finally:
            self.conn.close()
            self.process.join()
        if found is None or sources is None:
            return None
        known = {s.name for s in self.result.sources}
        self.result.sources.extend(s for s in sources if s.name not in known)
        return list(found)


def _mesh_child(result: LintResult, config: Config, conn: Connection) -> None:
    before = len(result.sources)
    try:
        found = mesh_stage_findings(result, config)
        new: list[Source] = result.sources[before:]
        conn.send((found, new))
    except Exception:  # the parent runs the stage again and meets the error itself
        pass
    finally:
        conn.close()


def _gather(
    merged: LintResult, slices: list[list[str]], config: Config, jobs: int, progress: bool
) -> None:
    """Lint the slices in ``jobs`` worker processes; their results added to ``merged`` in
    the order of the slices."""
    with ProcessPoolExecutor(max_workers=jobs, mp_context=_context()) as pool:
        futures = [pool.submit(_work, part, config) for part in slices]
        if progress:
            from rich.progress import Progress

            with Progress(transient=True) as bar:
                task = bar.add_task("linting", total=sum(map(len, slices)))
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
