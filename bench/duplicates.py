"""Copies of one set of resources in one folder, as overlays rendered for several environments
give: how a lint's time grows with the number of copies.

    python bench/duplicates.py                 # 50, 100 and 200 copies, 3 rounds each
    python bench/duplicates.py --copies 100 400 --rounds 5 --fixture FILE

Each run is a separate process with --jobs 1 (start-up included). Prints the median time of
each size and its ratio to the size before it: about 2 for each doubling when the run is
linear in its resources.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
FIXTURE = REPO / "tests" / "fixtures" / "rules" / "mesh" / "ML930-bad.yaml"


def corpus(fixture: Path, copies: int) -> Path:
    """A folder holding ``copies`` copies of ``fixture`` (made again each time)."""
    folder = HERE / "out" / "duplicates" / str(copies)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    text = fixture.read_text()
    for i in range(copies):
        (folder / f"copy-{i:04}.yaml").write_text(text)
    return folder


def lint_time(folder: Path) -> float:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    start = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "meshlint",
            "lint",
            "--no-config",
            "--jobs",
            "1",
            "--format",
            "json",
            str(folder),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        check=False,
    )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, nargs="+", default=[50, 100, 200])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--fixture", type=Path, default=FIXTURE)
    args = parser.parse_args()
    folders = {n: corpus(args.fixture, n) for n in args.copies}
    times: dict[int, list[float]] = {n: [] for n in args.copies}
    for _ in range(args.rounds):  # interleaved, so that a busy moment spreads over all sizes
        for n in args.copies:
            times[n].append(lint_time(folders[n]))
    print(f"{'copies':>8} {'median s':>10} {'ratio':>7}   rounds")
    before: tuple[int, float] | None = None
    for n in args.copies:
        median = statistics.median(times[n])
        ratio = f"{median / before[1]:.2f}" if before else ""
        rounds = " ".join(f"{t:.2f}" for t in times[n])
        print(f"{n:>8} {median:>10.2f} {ratio:>7}   {rounds}")
        before = (n, median)


if __name__ == "__main__":
    main()
