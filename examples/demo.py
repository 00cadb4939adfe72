"""The whole promise on examples/mesh, on this machine: the manifests translated and served by
the included proxy, with `meshlint route`'s prediction beside what really happened.

    python examples/demo.py          (`make demo` runs it after the lint)

Two proxies run, each as its workload's sidecar would: reviews-v1 (its outbound traffic: the
reviews canary rule, the 90/10 split, retries, mutual TLS to ratings) and ratings-v1 (its
inbound traffic: STRICT mutual TLS and the AuthorizationPolicy that lets only reviews read).
Small HTTP servers play the applications. One reviews-v1 instance is down, so the retry policy
has something to do. Everything listens on 127.0.0.1 and stops at the end.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
MESH = HERE / "mesh"
MESHLINT = [sys.executable, "-m", "meshlint"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def app(name: str) -> ThreadingHTTPServer:
    """An application instance: answers 200 with its name."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def _serve(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            if length:
                self.rfile.read(length)
            body = json.dumps({"instance": name, "path": self.path}).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("x-instance", name)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _serve

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def start_proxy(args: list[str], admin: int, log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as out:
        proc = subprocess.Popen([*MESHLINT, "proxy", *args], stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the proxy stopped:\n{log.read_text()}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", admin, timeout=1)
            conn.request("GET", "/ready")
            if conn.getresponse().status == 200:
                return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"the proxy did not start:\n{log.read_text()}")


def send(port: int, method: str, host: str, path: str, headers: dict[str, str]) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request(method, path, headers={"host": host, **headers})
    r = conn.getresponse()
    r.read()
    conn.close()
    who = r.getheader("x-instance")
    return f"{r.status}" + (f" from {who}" if who else "")


def predict(args: list[str], method: str, url: str, headers: dict[str, str]) -> str:
    extra = [x for k, v in headers.items() for x in ("-H", f"{k}: {v}")]
    done = subprocess.run(
        [*MESHLINT, "route", *args, method, url, *extra, "--json", str(MESH)],
        capture_output=True,
        text=True,
        check=True,
    )
    answer = json.loads(done.stdout)
    route = answer["route"]
    where = route["from"] if route and route["from"] else "Istio's default route"
    where = where.replace(str(HERE.parent) + os.sep, "")
    parts = [where]
    if answer["status"] is not None:
        parts.append(f"answers {answer['status']}")
    for d in answer["destinations"]:
        subset = d["cluster"].split("|")[2] or "-"
        parts.append(f"{subset} {d['weight']}%")
        for verdict in d["authorization"]:
            parts.append("allowed" if verdict["allowed"] else "DENIED (403)")
    if route and route["retries"]:
        parts.append(f"retries {route['retries']['attempts']} on {','.join(route['retries']['retry_on'])}")
    return ", ".join(parts)


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="meshlint-demo-"))
    certs = work / "certs"
    subprocess.run([*MESHLINT, "certs", str(certs), str(MESH)], check=True, capture_output=True)
    apps = {n: app(n) for n in ("reviews-v1", "reviews-v2", "reviews-v3", "ratings-v1")}
    down = free_port()  # a reviews-v1 instance that is not running: retries go elsewhere
    ratings_in, ratings_admin, reviews_out, reviews_admin = (free_port() for _ in range(4))

    def at(name: str) -> str:
        return f"127.0.0.1:{apps[name].server_address[1]}"

    endpoints = {
        "endpoints": [
            {"service": "reviews", "port": 9080, "address": at("reviews-v1"), "labels": {"version": "v1"}},
            {"service": "reviews", "port": 9080, "address": f"127.0.0.1:{down}", "labels": {"version": "v1"}},
            {"service": "reviews", "port": 9080, "address": at("reviews-v2"), "labels": {"version": "v2"}},
            {"service": "reviews", "port": 9080, "address": at("reviews-v3"), "labels": {"version": "v3"}},
            {"service": "ratings", "port": 9080, "address": f"127.0.0.1:{ratings_in}"},
        ]
    }  # fmt: skip
    (work / "endpoints.yaml").write_text(json.dumps(endpoints), encoding="utf-8")
    common = ["--endpoints", str(work / "endpoints.yaml"), "--certs", str(certs), "--no-watch"]
    procs = []
    try:
        print("== meshlint proxy: ratings-v1 (STRICT mTLS, AuthorizationPolicy ratings-readers)")
        procs.append(start_proxy(
            [str(MESH), "--for", "bookshop/ratings-v1", *common, "--inbound",
             f"127.0.0.1:{ratings_in}", "--app", at("ratings-v1"), "--admin",
             f"127.0.0.1:{ratings_admin}", "--listen", f"127.0.0.1:{free_port()}"],
            ratings_admin, work / "ratings.log",
        ))  # fmt: skip
        print("== meshlint proxy: reviews-v1 (outbound: routes, splits, retries, mTLS)")
        procs.append(start_proxy(
            [str(MESH), "--for", "bookshop/reviews-v1", *common, "--listen",
             f"127.0.0.1:{reviews_out}", "--admin", f"127.0.0.1:{reviews_admin}",
             "--inbound", f"127.0.0.1:{free_port()}", "--app", at("reviews-v1")],
            reviews_admin, work / "reviews.log",
        ))  # fmt: skip
        route_args = ["--for", "bookshop/reviews-v1", "--endpoints", str(work / "endpoints.yaml")]
        calls = [
            ("the canary rule: end-user jason goes to v3", "GET", "reviews:9080", "/reviews/1",
             {"end-user": "jason"}),
            ("everyone else: 90/10 between v1 and v2 (one v1 instance is down: retried)", "GET",
             "reviews:9080", "/reviews/1", {}),
            ("reviews reads ratings over mutual TLS: allowed", "GET", "ratings:9080",
             "/ratings/1", {}),
            ("reviews writes ratings: the policy allows GET only", "POST", "ratings:9080",
             "/ratings/1", {}),
        ]  # fmt: skip
        for title, method, host, path, headers in calls:
            print(f"\n-- {title}\n   {method} http://{host}{path}"
                  + "".join(f" -H '{k}: {v}'" for k, v in headers.items()))  # fmt: skip
            expected = predict(route_args, method, f"http://{host}{path}", headers)
            print(f"   meshlint route: {expected}")
            got = [send(reviews_out, method, host, path, headers) for _ in range(10)]
            summary = ", ".join(f"{got.count(g)}× {g}" for g in dict.fromkeys(got))
            print(f"   10 requests:    {summary}")
        stats = http.client.HTTPConnection("127.0.0.1", reviews_admin, timeout=5)
        stats.request("GET", "/stats?filter=upstream_rq_retry$")
        text = stats.getresponse().read().decode().strip()
        print(f"\n   retries (reviews-v1's admin /stats): {text or 'none'}")
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        codes = [p.wait(timeout=30) for p in procs]
        for a in apps.values():
            a.shutdown()
        print(f"\n== both proxies drained and stopped (exit {', '.join(map(str, codes))});"
              f" their logs are in {work}")  # fmt: skip
    if any(codes):
        raise SystemExit(1)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
