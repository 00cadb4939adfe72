"""``meshlint lint --watch``: lint again whenever a linted file changes, appears or goes."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence

from meshlint import loader

Snapshot = dict[str, tuple[int, int]]


def snapshot(targets: Sequence[str], excludes: Sequence[str]) -> Snapshot:
    """The files the targets expand to, each with its modification time and size."""
    files, _ = loader.discover([t for t in targets if t != "-"], excludes)
    out: Snapshot = {}
    for f in files:
        try:
            st = os.stat(f)
        except OSError:
            continue
        out[f] = (st.st_mtime_ns, st.st_size)
    return out


def watch(
    targets: Sequence[str],
    excludes: Sequence[str],
    run: Callable[[], object],
    *,
    interval: float = 0.5,
    max_runs: int | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Call ``run`` now and after every change; returns the number of runs.

    Polls every ``interval`` seconds (no platform file-event API is needed). Ends on Ctrl-C, or
    after ``max_runs`` runs.
    """
    runs = 0
    try:
        while True:
            before = snapshot(targets, excludes)
            run()
            runs += 1
            if max_runs is not None and runs >= max_runs:
                return runs
            while snapshot(targets, excludes) == before:
                sleep(interval)
    except KeyboardInterrupt:
        return runs
