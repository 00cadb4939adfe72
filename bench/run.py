"""meshlint's speed and memory on repositories with realistic findings, against PyYAML's C loader
and yamllint, measured in one run: each row of the table the project tracks, with its target.

    python bench/run.py            # 1,000 and 5,000 services, a 5,000-document (57 MB) big file
    python bench/run.py --quick    # 200 and 1,000 services, a 300-document big file
    python bench/run.py --python /path/to/venv/bin/python   # meshlint as installed there

Each contender is a separate process (start-up included). The contenders of a row run one after
the other within a round, rounds repeated (``--rounds``, at least 5), so that a busy moment of the
machine falls on all of them; each figure is the median over the rounds, with its spread (lowest
and highest), of the wall time and of the CPU time (user + system, the process and the workers
it waited for). Ratios are of the medians. Writes bench/out/results.json too.

By default meshlint is imported from this checkout (PYTHONPATH); measure a normal install with
``--python`` (an interpreter where meshlint was installed with ``pip install .``).
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
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

from generate import generate, generate_big_file, generate_one_file  # noqa: E402

LOAD_ALL = """
import sys, yaml
n = 0
for path in sys.argv[1:]:
    with open(path, "rb") as fh:
        n += sum(1 for d in yaml.load_all(fh.read(), Loader=yaml.CSafeLoader) if d)
print(n)
"""

# The cross-resource stage of one lint of a folder: its share of the run's CPU time, how many
# files it parsed again to place its findings, and the bytes each record keeps.
MESH_STAGE = """
import json, sys, time
from meshlint import engine, loader
from meshlint.config import Config
parsed = []
load_text = loader.load_text
stage = engine._mesh_findings
spent = []
def counting(text, name, result=None):
    parsed.append(name)
    return load_text(text, name, result)
def timed(result, config, *more):
    loader.load_text = counting
    start = time.process_time()
    try:
        return stage(result, config, *more)
    finally:
        spent.append(time.process_time() - start)
        loader.load_text = load_text
engine._mesh_findings = timed
start = time.process_time()
run = engine.lint_paths(sys.argv[1:], Config())
total = time.process_time() - start
records = run.records
kept = [r.places for r in records if getattr(r, "places", None) is not None]
tables = {id(p.keys): p.keys for p in kept}  # a file's key table, shared by its documents
places = sum(p.size() for p in kept) + sum(sys.getsizeof(t) for t in tables.values())
def deep(o, seen):
    if id(o) in seen:
        return 0
    seen.add(id(o))
    n = sys.getsizeof(o)
    if isinstance(o, dict):
        n += sum(deep(k, seen) + deep(v, seen) for k, v in o.items())
    elif isinstance(o, (list, tuple)):
        n += sum(deep(v, seen) for v in o)
    return n
seen = set()
data = sum(deep(r.data, seen) for r in records)
print(json.dumps({"share": sum(spent) / total, "parsed": len(set(parsed)),
    "records": len(records), "places": places / max(len(records), 1),
    "data": data / max(len(records), 1), "findings": len(run.findings)}))
"""

SPIN = "x = 0\nfor i in range(8_000_000):\n    x += i\n"
# Two SPIN processes at once: with one SPIN alone, the machine's capacity for two processes.
TWO_SPINS = (
    "import subprocess, sys\n"
    "procs = [subprocess.Popen([sys.executable, '-c', sys.argv[1]]) for _ in range(2)]\n"
    "for p in procs:\n    p.wait()\n"
)

ONE_FILE = """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
  namespace: bookinfo
spec:
  hosts:
  - reviews
  http:
  - match:
    - headers:
        end-user:
          exact: jason
    route:
    - destination:
        host: reviews
        subset: v2
  - route:
    - destination:
        host: reviews
"""


@dataclass
class Run:
    wall: float
    cpu: float
    rss_mib: float
    out: str


# Every contender starts in this folder, not in the checkout: `python -m meshlint` would
# otherwise import the checkout's package from the working folder even with --python.
NEUTRAL = HERE / "out"


def run(cmd: list[str], env: dict[str, str]) -> Run:
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True, cwd=NEUTRAL
    )
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    return Run(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, out)


class Rows:
    """Contenders measured in interleaved rounds; medians and spreads."""

    def __init__(self, rounds: int, env: dict[str, str]) -> None:
        self.rounds = rounds
        self.env = env
        self.runs: dict[str, list[Run]] = {}

    def measure(self, contenders: dict[str, list[str]], rounds: int | None = None) -> None:
        for _ in range(rounds or self.rounds):
            for name, cmd in contenders.items():
                self.runs.setdefault(name, []).append(run(cmd, self.env))

    def median(self, name: str, what: str = "wall") -> float:
        return statistics.median(getattr(r, what) for r in self.runs[name])

    def spread(self, name: str, what: str = "wall") -> str:
        values = [getattr(r, what) for r in self.runs[name]]
        return f"{min(values):.3f}–{max(values):.3f}"

    def describe(self, name: str) -> str:
        return (
            f"wall {self.median(name):.3f} s ({self.spread(name)}), "
            f"CPU {self.median(name, 'cpu'):.3f} s ({self.spread(name, 'cpu')}), "
            f"peak RSS {self.median(name, 'rss_mib'):.0f} MiB"
        )


def files_of(folder: Path) -> list[str]:
    return sorted(str(p) for p in folder.rglob("*.yaml"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller corpora")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (>= 5)")
    parser.add_argument("--python", default=sys.executable, help="interpreter to run meshlint")
    parser.add_argument("--big", type=int, help="VirtualServices in the big file")
    args = parser.parse_args()
    rounds = max(args.rounds, 5)
    small, large = (200, 1000) if args.quick else (1000, 5000)
    few = 200  # the "200 files in one call" row
    big = args.big or (300 if args.quick else 5_000)  # 5,000: about 57 MB
    py = args.python
    env = dict(os.environ)
    if py == sys.executable:
        env["PYTHONPATH"] = str(REPO)
        # pip compiles a package's bytecode at install time: do the same here
        subprocess.run([py, "-m", "compileall", "-q", str(REPO / "meshlint")], check=True,
                       stdout=subprocess.DEVNULL)  # fmt: skip
    out_dir = NEUTRAL
    out_dir.mkdir(parents=True, exist_ok=True)
    corpora: dict[int, Path] = {}
    for n in sorted({small, large, few}):
        folder = out_dir / f"findings-{n}"
        if folder.exists():
            shutil.rmtree(folder)
        generate(n, folder, findings=True)
        corpora[n] = folder
    one_file = out_dir / f"one-{small}.yaml"
    generate_one_file(small, one_file, findings=True)
    big_file = out_dir / f"big-{big}.yaml"
    big_bytes = generate_big_file(big, big_file)
    twenty = out_dir / "twenty-lines.yaml"
    twenty.write_text(ONE_FILE, encoding="utf-8")
    yamllint = shutil.which("yamllint") or str(Path(py).with_name("yamllint"))

    def lint(*more: str) -> list[str]:
        return [py, "-m", "meshlint", "lint", "--no-config", "--format", "json", *more]

    rows = Rows(rounds, env)
    files = files_of(corpora[small])
    print(f"{len(files)} files, {one_file.stat().st_size:,} bytes ({small} services); "
          f"big file {big_bytes:,} bytes ({big} VirtualServices); {rounds} rounds", flush=True)  # fmt: skip
    rows.measure(
        {
            "load_all": [py, "-c", LOAD_ALL, *files],
            "jobs1": lint("--jobs", "1", str(corpora[small])),
            "onefile": lint("--jobs", "1", str(one_file)),
        }
    )
    rows.measure({"few-jobs1": lint("--jobs", "1", str(corpora[few])),
                  "few-default": lint(str(corpora[few]))})  # fmt: skip
    rows.measure({"single": [py, "-m", "meshlint", "lint", "--no-config", str(twenty)],
                  "single-json": lint(str(twenty)),
                  "yamllint": [yamllint, "-d", "relaxed", str(twenty)]})  # fmt: skip
    # The machine's capacity for two processes (2.0 on two idle cores, less on a shared
    # machine), measured in the same rounds as the --jobs 2 speed-up it bounds.
    rows.measure({"large": lint("--jobs", "1", str(corpora[large])),
                  "large-jobs2": lint("--jobs", "2", str(corpora[large])),
                  "spin": [py, "-c", SPIN],
                  "two-spins": [py, "-c", TWO_SPINS, SPIN]})  # fmt: skip
    rows.measure({"big-floor": [py, "-c", LOAD_ALL, str(big_file)],
                  "big": lint("--jobs", "1", str(big_file))})  # fmt: skip
    capacity = 2 * rows.median("spin") / rows.median("two-spins")
    stage = json.loads(run([py, "-c", MESH_STAGE, str(corpora[small])], env).out)
    resources = json.loads(rows.runs["jobs1"][-1].out)["summary"]["resources"]

    m = rows.median
    table = [
        ("--jobs 1 wall ÷ reading + PyYAML C load_all", m("jobs1") / m("load_all"),
         "<= 1.5 (stretch 1.3)"),
        ("  the same, CPU", m("jobs1", "cpu") / m("load_all", "cpu"), ""),
        ("cross-resource stage: files parsed again", float(stage["parsed"]), "0"),
        ("  its share of the run's CPU", stage["share"], ""),
        (f"peak RSS, {small} services, MiB", m("jobs1", "rss_mib"),
         "<= 150 (1,000 services)"),
        (f"peak RSS, {large} services, MiB", m("large", "rss_mib"),
         "<= 400 (5,000 services)"),
        ("ONE multi-document file ÷ as files (wall)", m("onefile") / m("jobs1"), "<= 1.1"),
        ("  the same, CPU", m("onefile", "cpu") / m("jobs1", "cpu"), ""),
        ("one 20-line file, wall ÷ yamllint -d relaxed", m("single") / m("yamllint"),
         "<= 1.3"),
        ("  the same, CPU", m("single", "cpu") / m("yamllint", "cpu"), ""),
        ("  --format json, wall", m("single-json") / m("yamllint"), ""),
        (f"{few} services in one call, default jobs ÷ --jobs 1", m("few-default") / m("few-jobs1"),
         "<= 1.0"),
        (f"--jobs 2 speed-up over --jobs 1 (wall, {large} services)",
         m("large") / m("large-jobs2"), ">= 1.6"),
        ("  the machine's capacity for 2 processes", capacity, "(2.0: two idle cores)"),
        ("  the speed-up ÷ that capacity", m("large") / m("large-jobs2") / capacity, ""),
        (f"big file ({big_bytes / 1e6:.1f} MB) ÷ load_all of it (wall)", m("big") / m("big-floor"),
         "<= 1.5"),
        ("  the same, CPU", m("big", "cpu") / m("big-floor", "cpu"), ""),
        ("  its peak RSS, MiB", m("big", "rss_mib"), "<= 1,000 (57 MB)"),
        ("bytes kept per resource: places", stage["places"], ""),
        ("bytes kept per resource: data", stage["data"], ""),
    ]  # fmt: skip
    print(f"\n{resources:,} resources in {len(files):,} files; {stage['findings']:,} findings")
    width = max(len(name) for name, _, _ in table)
    print(f"{'measure':<{width}}  {'now':>9}  target")
    for name, value, target in table:
        print(f"{name:<{width}}  {value:>9,.2f}  {target}")
    print("\nmedians (lowest–highest) over the rounds")
    for name in rows.runs:
        print(f"  {name:<12} {rows.describe(name)}")
    (out_dir / "results.json").write_text(
        json.dumps(
            {
                "table": [{"measure": n, "now": v, "target": t} for n, v, t in table],
                "runs": {
                    name: [vars(r) | {"out": None} for r in runs]
                    for name, runs in rows.runs.items()
                },
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
