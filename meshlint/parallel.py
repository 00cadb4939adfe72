"""``--jobs N``: lint slices of the files in this process and N-1 helper processes, keeping the
output order.

The slices are taken one at a time from a shared counter by whichever process is free, so that a
slow slice does not leave a core idle. This process lints slices too: what it finds (records,
sources) needs no copying, and only the helpers' results cross a pipe, once, at the end.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

from meshlint.config import Config
from meshlint.diagnostics import Diagnostic
from meshlint.engine import (
    LintResult,
    MeshFound,
    finish_in_parent,
    lint_files,
    merge_mesh_findings,
    mesh_stage_findings,
    note_internal_errors,
    run_mesh_rules,
)
from meshlint.loader import Source

if TYPE_CHECKING:
    from meshlint.mesh import MeshIndex
    from meshlint.rules import Rule


def _slices(files: list[str], jobs: int) -> list[list[str]]:
    """Runs of consecutive files of about equal size in bytes, several for each worker, so
    that one slow slice does not leave the other cores idle."""
    count = min(len(files), jobs * 8)
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
    parts = _lint_slices(slices, config, jobs, progress)
    merged = LintResult()
    # What the helpers sent (records, sources, findings) lives to the end of the run: with the
    # collector on, each collection would scan all of it again.
    enabled = gc.isenabled()
    gc.disable()
    try:
        for part in parts:
            merged.findings.extend(part.findings)
            merged.sources.extend(part.sources)
            merged.resources += part.resources
            merged.files += part.files
            merged.io_error = merged.io_error or part.io_error
            merged.records.extend(part.records)
            merged.namespaces |= part.namespaces
        del parts
        if meanwhile is None:
            finish_in_parent(merged, config, files, _shared_rules if jobs > 1 else None)
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


def _take(taken: Any, count: int) -> Iterator[int]:
    """The indexes of the slices still to lint, each given to one process only."""
    while True:
        with taken.get_lock():
            i = taken.value
            if i >= count:
                return
            taken.value = i + 1
        yield i


def _helper(
    slices: list[list[str]], config: Config, taken: Any, done: Any, conn: Connection
) -> None:
    """A helper process: lint slices until none is left, then send what was found."""
    gc.enable()  # (a forked helper inherits the parent's state)
    out: dict[int, LintResult] = {}
    try:
        for i in _take(taken, len(slices)):
            out[i] = _work(slices[i], config)
            with done.get_lock():
                done.value += len(slices[i])
        conn.send(out)
    except Exception:  # the parent lints the slices it did not get and meets the error itself
        pass
    finally:
        conn.close()


def _lint_slices(
    slices: list[list[str]], config: Config, jobs: int, progress: bool
) -> list[LintResult]:
    """Each slice linted, by this process and ``jobs - 1`` helpers; in the slices' order."""
    ctx: Any = _context()
    taken, done = ctx.Value("i", 0), ctx.Value("i", 0)
    helpers: list[tuple[Any, Connection]] = []
    for _ in range(min(jobs, len(slices)) - 1):
        receive, send = ctx.Pipe(duplex=False)
        process = ctx.Process(target=_helper, args=(slices, config, taken, done, send), daemon=True)
        try:
            process.start()
        except OSError:  # e.g. no memory left to fork: fewer helpers
            receive.close()
            send.close()
            break
        send.close()
        helpers.append((process, receive))
    bar = _Bar(sum(map(len, slices))) if progress else None
    results: dict[int, LintResult] = {}
    try:
        for i in _take(taken, len(slices)):
            results[i] = lint_files(slices[i], config, mesh=False)
            with done.get_lock():
                done.value += len(slices[i])
            if bar is not None:
                bar.show(done.value)
        for process, receive in helpers:
            got = None
            try:
                while bar is not None and not receive.poll(0.1):
                    bar.show(done.value)
                got = receive.recv()
            except (EOFError, OSError):
                pass
            finally:
                receive.close()
                process.join()
            for i, part in (got or {}).items():
                note_internal_errors(part.findings)  # the helpers' listeners are not ours
                results[i] = part
    finally:
        if bar is not None:
            bar.stop()
        for process, _ in helpers:
            if process.is_alive():
                process.kill()
                process.join()
    for i, part in enumerate(slices):  # taken by a helper that failed
        if i not in results:
            results[i] = lint_files(part, config, mesh=False)
    return [results[i] for i in range(len(slices))]


class _Bar:
    """A progress bar on stderr: files linted of the total."""

    def __init__(self, total: int) -> None:
        from rich.progress import Progress

        self.progress = Progress(transient=True)
        self.task = self.progress.add_task("linting", total=total)
        self.progress.start()

    def show(self, done: int) -> None:
        self.progress.update(self.task, completed=done)

    def stop(self) -> None:
        self.progress.stop()


def _shared_rules(index: MeshIndex, todo: list[tuple[Rule, dict[str, Any]]]) -> list[MeshFound]:
    """:func:`run_mesh_rules`, every other rule run by a forked child (which inherits the
    index) on another core. Where there is no fork, or the child fails, all run here."""
    if (
        len(todo) < 2
        or sys.platform != "linux"
        or "fork" not in multiprocessing.get_all_start_methods()
    ):
        return run_mesh_rules(index, todo)
    ctx = multiprocessing.get_context("fork")
    receive, send = ctx.Pipe(duplex=False)
    mine, theirs = todo[0::2], todo[1::2]
    process = ctx.Process(target=_rules_child, args=(index, theirs, send), daemon=True)
    try:
        process.start()
    except OSError:  # e.g. no memory left to fork
        receive.close()
        send.close()
        return run_mesh_rules(index, todo)
    send.close()
    found = run_mesh_rules(index, mine)
    got = None
    try:
        got = receive.recv()
    except (EOFError, OSError):
        pass
    finally:
        receive.close()
        process.join()
    if got is None:
        return found + run_mesh_rules(index, theirs)
    records = index.records
    return found + [(code, severity, records[i], f) for code, severity, i, f in got]


def _rules_child(
    index: MeshIndex, todo: list[tuple[Rule, dict[str, Any]]], conn: Connection
) -> None:
    try:
        found = run_mesh_rules(index, todo)
        at = {id(rec): i for i, rec in enumerate(index.records)}
        conn.send([(code, severity, at[id(rec)], f) for code, severity, rec, f in found])
    except Exception:  # the parent runs these rules itself and meets the error there
        pass
    finally:
        conn.close()
