"""Translating a large mesh against linting it, measured in one run.

    python bench/translate.py              # 1,000 services, 7 interleaved rounds
    python bench/translate.py --services 200 --rounds 5

Generates two bench corpora (bench/generate.py): the mesh as written, and the same mesh with the
slips of a real repository (a third of the services with warnings, some of them cross-resource:
the translation still runs). Mints their certificates once, then runs, in each round and in the
same order, for each corpus: `meshlint lint`, `meshlint translate` for one workload (its sidecar
sees every service of the mesh), the same as JSON, and `meshlint translate` for a namespace's
Gateway, each as a separate process as a user runs them. Prints the median and the spread
(min-max) of each, the ratios to the lint of the same corpus (target: at most 1.5), the findings
of each corpus and the size of each config.
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
    meshlint = [sys.executable, "-m", "meshlint"]
    env = dict(os.environ, PYTHONPATH=str(REPO))
    subprocess.run(  # measure meshlint as installed: with its bytecode compiled
        [sys.executable, "-m", "compileall", "-q", str(REPO / "meshlint")], check=True
    )
    commands: dict[tuple[str, str], list[str]] = {}
    configs: dict[str, Path] = {}
    for label, findings in (("as written", False), ("with findings", True)):
        stem = f"mesh-{args.services}" + ("-findings" if findings else "")
        corpus = out / stem
        if corpus.exists():
            shutil.rmtree(corpus)
        generate(args.services, corpus, findings)
        certs = out / f"certs-{stem}"
        subprocess.run(
            [*meshlint, "certs", str(certs), str(corpus), "--no-config"],
            check=True, env=env, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        common = [str(corpus), "--no-config"]
        sidecar = ["--for", "team-0/svc-00000-v1", "--certs", str(certs)]
        gateway = ["--gateway", "team-0/team-0-gateway", "--certs", str(certs)]
        names = {k: out / f"{stem}-{k}" for k in ("sidecar.yaml", "sidecar.json", "gateway.yaml")}
        configs.update({f"{label}: {k}": v for k, v in names.items()})
        commands[label, "lint"] = [*meshlint, "lint", *common, "--format", "json"]
        commands[label, "translate --for (YAML)"] = [
            *meshlint, "translate", *common, *sidecar, "-o", str(names["sidecar.yaml"])
        ]  # fmt: skip
        commands[label, "translate --for (JSON)"] = [
            *meshlint, "translate", *common, *sidecar, "-o", str(names["sidecar.json"])
        ]  # fmt: skip
        commands[label, "translate --gateway"] = [
            *meshlint, "translate", *common, *gateway, "-o", str(names["gateway.yaml"])
        ]  # fmt: skip
        summary = json.loads(
            subprocess.run(
                commands[label, "lint"], env=env, capture_output=True, text=True
            ).stdout  # also warms the file cache
        )["summary"]
        print(
            f"{label}: {summary['files']} files, {summary['resources']} resources, "
            f"{summary['errors']} errors, {summary['warnings']} warnings, {summary['infos']} infos"
        )
    times: dict[tuple[str, str], list[float]] = {k: [] for k in commands}
    for _ in range(args.rounds):
        for key, cmd in commands.items():
            times[key].append(run(cmd))
    width = max(len(k[1]) for k in commands) + 2
    print(f"{args.services} services, {args.rounds} interleaved rounds (median, min-max)")
    for (label, name), values in times.items():
        if name == "lint":
            print(label)
        med = statistics.median(values)
        lint = statistics.median(times[label, "lint"])
        ratio = "" if name == "lint" else f"  {med / lint:.2f}x the lint (target <= 1.5)"
        print(f"  {name:<{width}} {med:6.2f} s  ({min(values):.2f}-{max(values):.2f}){ratio}")
    print("configs")
    width = max(len(k) for k in configs) + 2
    for name, path in configs.items():
        detail = ""
        if path.suffix == ".json":
            res = json.loads(path.read_text())["static_resources"]
            vhosts = sum(
                len(f["typed_config"]["route_config"]["virtual_hosts"])
                for listener in res["listeners"]
                for chain in listener["filter_chains"]
                for f in chain["filters"]
                if "route_config" in f.get("typed_config", {})
            )
            detail = (
                f": {len(res['listeners'])} listeners, {len(res['clusters'])} clusters, "
                f"{vhosts} virtual hosts"
            )
        print(f"  {name:<{width}} {path.stat().st_size / 1e6:6.1f} MB{detail}")
    (out / "translate-results.json").write_text(
        json.dumps(
            {
                f"{label}: {name}": {"median": statistics.median(v), "min": min(v), "max": max(v)}
                for (label, name), v in times.items()
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
