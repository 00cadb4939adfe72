"""``--jobs N``: lint slices of the files in this process and N-1 helper processes, keeping the
output order.

The slices are taken one at a time from a shared counter by whichever process is free, so that a
slow slice does not leave a core idle. This process lints slices too: what it finds (records,
sources) needs no copying, and only the helpers' results cross a pipe, each slice's as soon as it
is done.
"""

from __future__ import annotations

import functools
import gc
import multiprocessing
import queue
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from multiprocessing.connection import Connection
from multiprocessing.reduction import ForkingPickler
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
    place_record_findings,
    run_and_place,
    run_mesh_rules,
)
from meshlint.loader import Source, gc_paused, input_sizes

if TYPE_CHECKING:
    from meshlint.mesh import MeshIndex
    from meshlint.rules import Rule

# Cross-resource rules (each with its options) that one process runs in a row: see _chains.
_Chain = list[tuple["Rule", dict[str, Any]]]


def _slices(files: list[str], jobs: int, sizes: Sequence[int] | None = None) -> list[list[str]]:
    """Runs of consecutive files, several for each worker, so that one slow slice does not
    leave the other cores idle. They shrink from the first to the last (the last ones hold a
    third of the bytes of the first ones): the processes that finish early take the small ones
    left, and they end together, with little left to send at the end. ``sizes``: the size of
    each file (:func:`meshlint.loader.input_sizes`), when the caller has measured them."""
    count = min(len(files), jobs * 8)
    if sizes is None:
        sizes = input_sizes(files) or [0] * len(files)
    sizes = [max(size, 1) for size in sizes]
    total = sum(sizes)
    # where each slice ends, as a share of the bytes: slice k weighs 3 - 2k/(count-1) at most
    weights = [3 - 2 * k / max(count - 1, 1) for k in range(count)]
    ends, acc = [], 0.0
    for w in weights:
        acc += w
        ends.append(acc / sum(weights))
    out: list[list[str]] = []
    start = done = 0
    for i, size in enumerate(sizes):
        done += size
        # Cut once this slice reaches its share, leaving at least a file for each slice left.
        left = count - len(out) - 1
        if left > 0 and (done >= total * ends[len(out)] or len(files) - i - 1 == left):
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
    sizes: Sequence[int] | None = None,
) -> LintResult:
    """The run linted by ``jobs`` worker processes, its findings in the order of one process.

    ``meanwhile`` is work on the run's records that does not need the cross-resource findings
    (a translation): it is called once the workers are done, while those findings are worked
    out in a child process where ``fork`` exists (on another core), else before them.
    """
    slices = _slices(list(files), jobs, sizes)
    merged = LintResult()
    enabled = gc.isenabled()
    ending: list[Any] = []
    try:
        parts = _lint_slices(slices, config, jobs, progress, ending)
        # What the helpers sent (records, sources, findings) lives to the end of the run: with
        # the collector on, each collection would scan all of it again.
        gc.disable()
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
            runner = functools.partial(_shared_rules, ending=ending) if jobs > 1 else None
            finish_in_parent(merged, config, files, runner)
            return merged
    finally:
        gc.unfreeze()
        if enabled:
            gc.enable()
        for process in ending:
            process.join()
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
        got = _receive(self.process, self.conn)
        if got is None:
            return None
        found, sources = got
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
    """A helper process: lint slices until none is left, sending what each one found as soon
    as it is done (a thread of the parent takes it in while the parent lints)."""
    gc.enable()  # (a forked helper inherits the parent's state)
    outbox = _Outbox(conn)
    outbox.start()
    try:
        for i in _take(taken, len(slices)):
            if not outbox.put((i, _work(slices[i], config))):
                break
            with done.get_lock():
                done.value += len(slices[i])
    except Exception:  # the parent lints the slices it did not get and meets the error itself
        pass
    finally:
        outbox.close()
        conn.close()


class _Outbox(threading.Thread):
    """Sends what a helper found, slice by slice, while the helper lints on.

    Writing to the pipe waits for the parent to read, and the parent's reading thread takes
    turns with the parent's own linting: the helper would wait too, a tenth of a second or
    more for each slice.
    """

    def __init__(self, conn: Connection) -> None:
        super().__init__(daemon=True)
        self.conn = conn
        self.queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.failed = False

    def put(self, obj: Any) -> bool:
        """Queue ``obj`` (pickled now); False once the pipe is broken."""
        if self.failed:
            return False
        self.queue.put(ForkingPickler.dumps(obj))
        return True

    def run(self) -> None:
        try:
            while (data := self.queue.get()) is not None:
                self.conn.send_bytes(data)
        except OSError:  # the parent is gone, or stopped reading
            self.failed = True

    def close(self) -> None:
        """Wait until everything queued is sent (or the pipe broke)."""
        self.queue.put(None)
        self.join()


class _Inbox(threading.Thread):
    """Takes in what a helper sends, slice by slice, into ``results``, until it stops."""

    def __init__(self, process: Any, conn: Connection, results: dict[int, LintResult]) -> None:
        super().__init__(daemon=True)
        self.process, self.conn, self.results = process, conn, results

    def run(self) -> None:
        try:
            while True:
                data = self.conn.recv_bytes()
                with gc_paused():
                    i, part = ForkingPickler.loads(data)
                self.results[i] = part
                # (out of the collector's sight, as this process's own slices are: it would
                # scan what the helpers sent again at each collection)
                gc.freeze()
        except (EOFError, OSError):
            pass
        finally:
            self.conn.close()


def _lint_slices(
    slices: list[list[str]], config: Config, jobs: int, progress: bool, ending: list[Any]
) -> list[LintResult]:
    """Each slice linted, by this process and ``jobs - 1`` helpers; in the slices' order. The
    helper processes are added to ``ending``, for the caller to join."""
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
    sent: dict[int, LintResult] = {}
    inboxes = [_Inbox(process, receive, sent) for process, receive in helpers]
    for inbox in inboxes:
        inbox.start()
    try:
        for i in _take(taken, len(slices)):
            # (what each slice keeps stays frozen, or the collector would scan the slices
            # before it again and again: see lint_files)
            results[i] = lint_files(slices[i], config, mesh=False, unfreeze=False)
            with done.get_lock():
                done.value += len(slices[i])
            if bar is not None:
                bar.show(done.value)
        for inbox in inboxes:
            while inbox.is_alive():
                inbox.join(0.1)
                if bar is not None:
                    bar.show(done.value)
        for i, part in sent.items():
            note_internal_errors(part.findings)  # the helpers' listeners are not ours
            results[i] = part
    except BaseException:
        for process, _ in helpers:
            process.kill()
        raise
    finally:
        if bar is not None:
            bar.stop()
        # A helper that has sent everything is ending: it is waited for once the run is
        # done, not now (a large process takes a while to end).
        ending.extend(process for process, _ in helpers)
    for i, files in enumerate(slices):  # taken by a helper that failed
        if i not in results:
            results[i] = lint_files(files, config, mesh=False, unfreeze=False)
    return [results[i] for i in range(len(slices))]


def _receive(process: Any, conn: Connection, ending: list[Any] | None = None) -> Any:
    """What a child process sends, once it has ended; None when it sent nothing (it failed).
    With ``ending``, a child that sent something is added to it, for the caller to wait for
    once the run is done, instead of now."""
    got = None
    try:
        got = conn.recv()
        return got
    except (EOFError, OSError):
        return None
    finally:
        conn.close()
        if ending is None or got is None:
            process.join()
        else:
            ending.append(process)


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


def _shared_rules(
    result: LintResult,
    index: MeshIndex,
    todo: list[tuple[Rule, dict[str, Any]]],
    *,
    ending: list[Any] | None = None,
) -> list[Diagnostic]:
    """:func:`run_and_place`, shared with a forked child (which inherits the run and its
    index) on another core: each takes the next chain of rules (:func:`_chains`) not yet
    taken, so that both finish together, and places what it found. Where there is no fork,
    or the child fails, the rules it took run here. A child that sent its findings is added to
    ``ending`` (when given) for the caller to wait for."""
    chains = _chains(index, todo)
    if (
        len(chains) < 2
        or sys.platform != "linux"
        or "fork" not in multiprocessing.get_all_start_methods()
    ):
        return run_and_place(result, index, todo)
    ctx = multiprocessing.get_context("fork")
    taken = ctx.Value("i", 0)
    receive, send = ctx.Pipe(duplex=False)
    process = ctx.Process(
        target=_rules_child, args=(result, index, chains, taken, send), daemon=True
    )
    try:
        process.start()
    except OSError:  # e.g. no memory left to fork
        receive.close()
        send.close()
        return run_and_place(result, index, todo)
    send.close()
    found: list[MeshFound] = []
    mine: list[int] = []
    for i in _take(taken, len(chains)):
        mine.append(i)
        found += run_mesh_rules(index, chains[i])
    placed = place_record_findings(result, found)
    got = _receive(process, receive, ending)
    if got is None:
        done = set(mine)
        left = [r for i, chain in enumerate(chains) if i not in done for r in chain]
        return placed + place_record_findings(result, run_mesh_rules(index, left))
    theirs, sources = got
    known = {s.name for s in result.sources}
    result.sources.extend(s for s in sources if s.name not in known)
    return placed + theirs


def _chains(index: MeshIndex, todo: list[tuple[Rule, dict[str, Any]]]) -> list[_Chain]:
    """The rules to run, in chains of those that read the same memos of the run (the rules of
    one :attr:`Rule.shares`), so that each memo is worked out in one process only. The longest
    chains come first, as measured by the records their rules check: the last ones taken are
    short, and the processes end close together."""
    chains: dict[str, _Chain] = {}
    for item in todo:
        chains.setdefault(item[0].shares or item[0].code, []).append(item)
    by_kind, everything = index.by_kind, len(index.records)

    def weight(chain: _Chain) -> int:
        return sum(
            everything if r.kinds is None else sum(len(by_kind.get(k, ())) for k in r.kinds)
            for r, _ in chain
        )

    return sorted(chains.values(), key=weight, reverse=True)


def _rules_child(
    result: LintResult, index: MeshIndex, chains: list[_Chain], taken: Any, conn: Connection
) -> None:
    """Runs chains of rules until none is left, and sends what they found, placed, with the
    sources of the files it read to place them."""
    try:
        found: list[MeshFound] = []
        for i in _take(taken, len(chains)):
            found += run_mesh_rules(index, chains[i])
        before = len(result.sources)
        placed = place_record_findings(result, found)
        conn.send((placed, result.sources[before:]))
    except Exception:  # the parent runs these rules itself and meets the error there
        pass
    finally:
        conn.close()
