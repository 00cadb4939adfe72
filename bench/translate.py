"""Translating a large mesh against linting it, measured in one run.

    python bench/translate.py              # 1,000 services, 7 interleaved rounds
    python bench/translate.py --services 200 --rounds 5

Generates the bench corpus (bench/generate.py), mints its certificates once, then runs, in each
round and in the same order, `meshlint lint`, `meshlint translate` for one workload (its sidecar
sees every service of the mesh), the same as JSON, and `meshlint translate` for a namespace's
Gateway, each as a separate process as a user runs them. Prints the median and the spread
(min–max) of each, the ratios to the lint (target: at most 1.5), and the size of each config.
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


def run(cmd: list[str]) -> float:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    start = time.perf_counter()
    done = subprocess.run(
        cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    elapsed = time.perf_counter() - start
    if done.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    out = HERE / "out"
    corpus = out / f"mesh-{args.services}"
    if corpus.exists():
        shutil.rmtree(corpus)
    generate(args.services, corpus)
    certs = out / f"certs-{args.services}"
    meshlint = [sys.executable, "-m", "meshlint"]
    subprocess.run(
        [*meshlint, "certs", str(certs), str(corpus), "--no-config"],
        check=True,
        env=dict(os.environ, PYTHONPATH=str(REPO)),
        stderr=subprocess.DEVNULL,
    )
    subprocess.run(  # measure meshlint as installed: with its bytecode compiled
        [sys.executable, "-m", "compileall", "-q", str(REPO / "meshlint")], check=True
    )
    common = [str(corpus), "--no-config"]
    configs = {
        "sidecar": out / "sidecar.yaml",
        "sidecar-json": out / "sidecar.json",
        "gateway": out / "gateway.yaml",
    }
    commands = {
        "lint": [*meshlint, "lint", *common, "--format", "json"],
        "translate --for (YAML)": [
            *meshlint, "translate", *common, "--for", "team-0/svc-00000-v1",
            "--certs", str(certs), "-o", str(configs["sidecar"]),
        ],
        "translate --for (JSON)": [
            *meshlint, "translate", *common, "--for", "team-0/svc-00000-v1",
            "--certs", str(certs), "-o", str(configs["sidecar-json"]),
        ],
        "translate --gateway": [
            *meshlint, "translate", *common, "--gateway", "team-0/team-0-gateway",
            "--certs", str(certs), "-o", str(configs["gateway"]),
        ],
    }  # fmt: skip
    times: dict[str, list[float]] = {k: [] for k in commands}
    run(commands["lint"])  # warm the file cache
    for _ in range(args.rounds):
        for name, cmd in commands.items():
            times[name].append(run(cmd))
    lint = statistics.median(times["lint"])
    width = max(len(k) for k in commands) + 2
    print(f"{args.services} services, {args.rounds} interleaved rounds (median, min-max)")
    for name, values in times.items():
        med = statistics.median(values)
        ratio = "" if name == "lint" else f"  {med / lint:.2f}x the lint (target <= 1.5)"
        print(f"  {name:<{width}} {med:6.2f} s  ({min(values):.2f}-{max(values):.2f}){ratio}")
    print("configs")
    for name, path in configs.items():
        data = json.loads(path.read_text()) if path.suffix == ".json" else None
        detail = ""
        if data is not None:
            res = data["static_resources"]
            vhosts = sum(
                len(f["typed_config"]["route_config"]["virtual_hosts"])
                for listener in res["listeners"]
                for chain in listener["filter_chains"]
                for f in chain["filters"]
                if "route_config" in f.get("typed_config", {})
            )
            detail = f": {len(res['listeners'])} listeners, {len(res['clusters'])} clusters, {vhosts} virtual hosts"
        print(f"  {name:<{width}} {path.stat().st_size / 1e6:6.1f} MB{detail}")
    (out / "translate-results.json").write_text(
        json.dumps(
            {
                k: {"median": statistics.median(v), "min": min(v), "max": max(v)}
                for k, v in times.items()
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
