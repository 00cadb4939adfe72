"""meshlint's speed and memory against PyYAML's C loader and yamllint, measured in one run.

    python bench/run.py            # 1,000 and 5,000 services (generated under bench/out/)
    python bench/run.py --quick    # 200 and 1,000 services, fewer repetitions

Every figure is the best of several runs of a separate process (start-up included), so that all
contenders pay the same costs. Prints a table and the ratios the project tracks, and writes them
to bench/out/results.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

from generate import generate  # noqa: E402

LOAD_ALL = """
import sys, yaml
n = 0
for path in sys.argv[1:]:
    with open(path, "rb") as fh:
        n += sum(1 for d in yaml.load_all(fh.read(), Loader=yaml.CSafeLoader) if d)
print(n)
"""


# The cross-resource stage alone: the time meshlint spends in it (index, every ML9 rule and the
# placing of their findings) over the records of one lint of the folder, as CPU time of the
# process (the stage is pure computation: wall time would also count other processes), best of
# three runs of the stage in the same process.
MESH_STAGE = """
import sys, time
from meshlint import engine, loader
from meshlint.config import Config
kept = []
stage = engine._mesh_findings
engine._mesh_findings = lambda result, config: kept.append(result) or []
files, _ = loader.discover(sys.argv[1:])
engine.lint_paths(sys.argv[1:], Config(), files=files)
engine._mesh_findings = stage
spent, found = [], 0
for _ in range(3):
    start = time.process_time()
    found = len(stage(kept[0], Config()))
    spent.append(time.process_time() - start)
print(min(spent), found)
"""


def mesh_stage(folder: Path, repeat: int) -> tuple[float, int]:
    """The best CPU time of the cross-resource stage on the folder over ``repeat`` processes
    (three runs of the stage each), and its findings."""
    best, findings = float("inf"), 0
    for _ in range(repeat):
        _, _, out = timed([sys.executable, "-c", MESH_STAGE, str(folder)], 1)
        spent, found = out.split()
        best, findings = min(best, float(spent)), int(found)
    return best, findings


SPIN = "x = 0\nfor i in range(8_000_000):\n    x += i\n"


def parallel_capacity() -> float:
    """How many CPU-bound processes this machine runs at once at full speed (2.0 on two free
    cores; less on a shared virtual machine): the ceiling of any `--jobs 2` speed-up here."""
    one = min(timed([sys.executable, "-c", SPIN], 1)[0] for _ in range(2))
    best = float("inf")
    for _ in range(2):
        start = time.perf_counter()
        procs = [subprocess.Popen([sys.executable, "-c", SPIN]) for _ in range(2)]
        for proc in procs:
            proc.wait()
        best = min(best, time.perf_counter() - start)
    return 2 * one / best


def files_of(folder: Path) -> list[str]:
    return sorted(str(p) for p in folder.rglob("*.yaml"))


def timed(cmd: list[str], repeat: int) -> tuple[float, int, str]:
    """Best wall time of ``repeat`` runs, the peak RSS (KiB) of the last, and its stdout."""
    best = float("inf")
    peak = 0
    out = ""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    for _ in range(repeat):
        start = time.perf_counter()
        proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True
        )
        assert proc.stdout is not None
        out = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        best = min(best, elapsed)
        peak = usage.ru_maxrss
    return best, peak, out


def meshlint(*args: str) -> list[str]:
    return [sys.executable, "-m", "meshlint", "lint", "--no-config", "--format", "json", *args]


def resources_in(out: str) -> int:
    return int(json.loads(out)["summary"]["resources"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller corpora, fewer runs")
    args = parser.parse_args()
    small, large = (200, 1000) if args.quick else (1000, 5000)
    repeat = 2 if args.quick else 3
    out_dir = HERE / "out"
    corpora = {}
    for n in (small, large):
        folder = out_dir / f"mesh-{n}"
        if folder.exists():
            shutil.rmtree(folder)
        generate(n, folder)
        corpora[n] = folder

    # Measure meshlint as installed: pip compiles a package's bytecode at install time, so do
    # the same here (this matters where PYTHONDONTWRITEBYTECODE is set).
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(REPO / "meshlint")],
        check=True,
        stdout=subprocess.DEVNULL,
    )

    folder = corpora[small]
    files = files_of(folder)
    t_load, _, out = timed([sys.executable, "-c", LOAD_ALL, *files], repeat)
    n_docs = int(out)
    t_lint1, _, out = timed(meshlint("--jobs", "1", str(folder)), repeat)
    n_res = resources_in(out)
    t_lint2, _, _ = timed(meshlint("--jobs", "2", str(folder)), repeat)
    capacity = parallel_capacity()
    yamllint = shutil.which("yamllint") or str(Path(sys.executable).with_name("yamllint"))
    t_yl, _, _ = timed([yamllint, "-d", "relaxed", "-f", "parsable", str(folder)], 1)
    t_big, rss_big, out_big = timed(meshlint("--jobs", "1", str(corpora[large])), repeat)

    t_mesh_small, found_small = mesh_stage(folder, repeat)
    t_mesh_big, found_big = mesh_stage(corpora[large], repeat)

    one = files[len(files) // 2]
    singles_ml = [timed(meshlint("--jobs", "1", one), 1)[0] for _ in range(9)]
    singles_yl = [timed([yamllint, "-d", "relaxed", one], 1)[0] for _ in range(9)]

    rows = {
        "services (small corpus)": small,
        "files": len(files),
        "resources": n_res,
        "PyYAML C load_all, s": t_load,
        "meshlint --jobs 1, s": t_lint1,
        "meshlint --jobs 2, s": t_lint2,
        "yamllint -d relaxed, s": t_yl,
        f"meshlint --jobs 1 on {large} services, s": t_big,
        f"peak RSS on {large} services, MiB": rss_big / 1024,
        f"cross-resource stage on {small} services, s": t_mesh_small,
        f"cross-resource stage on {large} services, s": t_mesh_big,
        "findings on the generated mesh (both sizes; expected 0)": found_small + found_big,
        "one file: meshlint median, s": statistics.median(singles_ml),
        "one file: yamllint median, s": statistics.median(singles_yl),
    }
    ratios = {
        "resources/s (meshlint --jobs 1)": n_res / t_lint1,
        "resources/s (PyYAML C load_all)": n_docs / t_load,
        "meshlint / PyYAML load_all (target <= 2.0, stretch 1.5)": t_lint1 / t_load,
        "yamllint / meshlint (target >= 7)": t_yl / t_lint1,
        "--jobs 2 speed-up (target >= 1.6)": t_lint1 / t_lint2,
        "  the machine's parallel capacity for 2 processes (2.0: two free cores)": capacity,
        f"{large} / {small} services time (target <= 5.5 for 5x input)": t_big / t_lint1,
        f"cross-resource stage, {large} / {small} services (target <= 5.5)": t_mesh_big
        / t_mesh_small,
        "one file: meshlint / yamllint (target <= 2.0)": statistics.median(singles_ml)
        / statistics.median(singles_yl),
    }
    assert resources_in(out_big) > n_res
    width = max(len(k) for k in [*rows, *ratios])
    print("measured")
    for k, v in rows.items():
        print(f"  {k:<{width}}  {v:,.3f}" if isinstance(v, float) else f"  {k:<{width}}  {v:,}")
    print("ratios")
    for k, v in ratios.items():
        print(f"  {k:<{width}}  {v:,.2f}")
    (out_dir / "results.json").write_text(
        json.dumps({"measured": rows, "ratios": ratios}, indent=2)
    )


if __name__ == "__main__":
    main()
