"""What the proxy counts and logs: stats (Envoy's names on ``/stats``, Prometheus series on
``/stats/prometheus``) and access logs (Envoy's command operators, text or JSON, with the CEL
filter of a Telemetry resource).
"""

from __future__ import annotations

import bisect
import contextlib
import json
import re
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import IO, Any

from meshlint.translate.plan import AccessLog

# Envoy's default histogram buckets (milliseconds)
BUCKETS = (0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000)


class Histogram:
    __slots__ = ("count", "counts", "total")

    def __init__(self) -> None:
        self.counts = [0] * (len(BUCKETS) + 1)
        self.total = 0.0
        self.count = 0

    def observe(self, ms: float) -> None:
        self.counts[bisect.bisect_left(BUCKETS, ms)] += 1
        self.total += ms
        self.count += 1


class Stats:
    """Counters, gauges and histograms of one proxy process."""

    def __init__(self) -> None:
        self.requests: dict[tuple[str, str, str, int], int] = {}  # listener, route, cluster, code
        self.counters: dict[tuple[str, str], int] = {}  # (cluster or "", name) → count
        self.gauges: dict[tuple[str, str], int] = {}
        self.latency: dict[tuple[str, str], Histogram] = {}  # (listener, cluster)
        self.downstream: dict[str, int] = {}  # downstream_cx_total, rejections by reason

    def request(self, listener: str, route: str, cluster: str, code: int, ms: float) -> None:
        key = (listener, route, cluster, code)
        self.requests[key] = self.requests.get(key, 0) + 1
        hist = self.latency.get((listener, cluster))
        if hist is None:
            hist = self.latency[(listener, cluster)] = Histogram()
        hist.observe(ms)

    def count(self, cluster: str, name: str, n: int = 1) -> None:
        key = (cluster, name)
        self.counters[key] = self.counters.get(key, 0) + n

    def gauge(self, cluster: str, name: str, delta: int) -> None:
        key = (cluster, name)
        self.gauges[key] = self.gauges.get(key, 0) + delta

    def connection_opened(self, cluster: str) -> None:
        self.count(cluster, "upstream_cx_total")
        self.gauge(cluster, "upstream_cx_active", 1)

    def connection_closed(self, cluster: str) -> None:
        self.gauge(cluster, "upstream_cx_active", -1)

    def reject(self, reason: str) -> None:
        self.downstream[reason] = self.downstream.get(reason, 0) + 1

    # views -----------------------------------------------------------------------------------

    def envoy_names(self) -> dict[str, int]:
        """Stats under Envoy's names (``cluster.<name>.upstream_rq_retry``, …)."""
        out: dict[str, int] = {}
        for (cluster, name), n in self.counters.items():
            out[f"cluster.{cluster}.{name}" if cluster else name] = n
        for (cluster, name), n in self.gauges.items():
            out[f"cluster.{cluster}.{name}" if cluster else name] = n
        for (_, _, cluster, code), n in self.requests.items():
            if not cluster:
                continue
            # code 0: the client went away before the answer (Envoy counts it as cancelled)
            names = (
                (f"cluster.{cluster}.upstream_rq_cancelled",)
                if code == 0
                else (
                    f"cluster.{cluster}.upstream_rq_{code}",
                    f"cluster.{cluster}.upstream_rq_{code // 100}xx",
                )
            )
            for key in (*names, f"cluster.{cluster}.upstream_rq_total"):
                out[key] = out.get(key, 0) + n
        for reason, n in self.downstream.items():
            out[f"http.downstream_rq_{reason}"] = n
        return dict(sorted(out.items()))

    def merge(self, other: dict[str, Any]) -> None:
        """Add the stats of another process (as :meth:`to_data` gives them)."""
        for listener, route, cluster, code, n in other["requests"]:
            key = (listener, route, cluster, code)
            self.requests[key] = self.requests.get(key, 0) + n
        for cluster, name, n in other["counters"]:
            self.count(cluster, name, n)
        for cluster, name, n in other["gauges"]:
            self.gauge(cluster, name, n)
        for listener, cluster, counts, total in other["latency"]:
            hist = self.latency.setdefault((listener, cluster), Histogram())
            hist.counts = [a + b for a, b in zip(hist.counts, counts, strict=True)]
            hist.total += total
            hist.count += sum(counts)
        for reason, n in other["downstream"].items():
            self.downstream[reason] = self.downstream.get(reason, 0) + n

    def to_data(self) -> dict[str, Any]:
        return {
            "requests": [[*k, n] for k, n in self.requests.items()],
            "counters": [[*k, n] for k, n in self.counters.items()],
            "gauges": [[*k, n] for k, n in self.gauges.items()],
            "latency": [[*k, h.counts, h.total] for k, h in self.latency.items()],
            "downstream": dict(self.downstream),
        }

    def prometheus(self) -> str:
        lines = [
            "# TYPE meshlint_requests_total counter",
        ]
        for (listener, route, cluster, code), n in sorted(self.requests.items()):
            lines.append(
                f'meshlint_requests_total{{listener="{_esc(listener)}",route="{_esc(route)}",'
                f'cluster="{_esc(cluster)}",code="{code}"}} {n}'
            )
        names = sorted({name for _, name in self.counters})
        for name in names:
            lines.append(f"# TYPE meshlint_{_metric(name)} counter")
            for (cluster, n_), n in sorted(self.counters.items()):
                if n_ == name:
                    lines.append(f'meshlint_{_metric(name)}{{cluster="{_esc(cluster)}"}} {n}')
        for name in sorted({name for _, name in self.gauges}):
            lines.append(f"# TYPE meshlint_{_metric(name)} gauge")
            for (cluster, n_), n in sorted(self.gauges.items()):
                if n_ == name:
                    lines.append(f'meshlint_{_metric(name)}{{cluster="{_esc(cluster)}"}} {n}')
        if self.downstream:
            lines.append("# TYPE meshlint_downstream_rejected_total counter")
            for reason, n in sorted(self.downstream.items()):
                lines.append(f'meshlint_downstream_rejected_total{{reason="{reason}"}} {n}')
        lines.append("# TYPE meshlint_request_duration_milliseconds histogram")
        for (listener, cluster), h in sorted(self.latency.items()):
            labels = f'listener="{_esc(listener)}",cluster="{_esc(cluster)}"'
            acc = 0
            for bound, c in zip((*BUCKETS, "+Inf"), h.counts, strict=True):
                acc += c
                lines.append(
                    f'meshlint_request_duration_milliseconds_bucket{{{labels},le="{bound}"}} {acc}'
                )
            lines.append(f"meshlint_request_duration_milliseconds_sum{{{labels}}} {h.total:.3f}")
            lines.append(f"meshlint_request_duration_milliseconds_count{{{labels}}} {h.count}")
        return "\n".join(lines) + "\n"


def _esc(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def _metric(name: str) -> str:
    """A stat's name as Prometheus takes it (``outlier_detection.ejections_enforced_total``
    → ``outlier_detection_ejections_enforced_total``)."""
    return re.sub(r"[^a-zA-Z0-9_:]", "_", name)


# --------------------------------------------------------------------------------------------
# access logs


class Record:
    """What an access log line can say of one request."""

    __slots__ = (
        "authority",
        "bytes_received",
        "bytes_sent",
        "details",
        "downstream_local",
        "downstream_remote",
        "duration",
        "flags",
        "method",
        "path",
        "protocol",
        "request_headers",
        "response_headers",
        "route",
        "server_name",
        "start",
        "status",
        "upstream_cluster",
        "upstream_failure",
        "upstream_host",
        "upstream_local",
    )

    def __init__(self) -> None:
        self.start = time.time()
        self.method = "-"
        self.path = "-"
        self.protocol = "HTTP/1.1"
        self.request_headers: dict[str, str] = {}
        self.status = 0
        self.flags = "-"
        self.details = "-"
        self.bytes_received = 0
        self.bytes_sent = 0
        self.duration = 0.0
        self.response_headers: dict[str, str] = {}
        self.upstream_host = ""
        self.upstream_cluster = ""
        self.upstream_local = ""
        self.downstream_local = ""
        self.downstream_remote = ""
        self.server_name = ""
        self.route = ""
        self.authority = ""
        self.upstream_failure = ""


_OPERATOR = re.compile(r"%([A-Z_]+)(?:\(([^)]*)\))?(?::(\d+))?%")


def _text(value: Any) -> str:
    if value is None or value == "":
        return "-"
    return str(value)


def _operator(name: str, arg: str | None) -> Callable[[Record], Any]:
    if name in ("REQ", "RESP"):
        first, _, fallback = (arg or "").partition("?")
        names = [n.strip().lower() for n in (first, fallback) if n.strip()]

        def header(r: Record, resp: bool = name == "RESP") -> Any:
            source = r.response_headers if resp else r.request_headers
            for n in names:
                if n == ":method":
                    return r.method
                if n == ":path":
                    return r.path
                if n == ":authority":
                    return r.authority or source.get("host")
                if n in source:
                    return source[n]
            return None

        return header
    simple: dict[str, Callable[[Record], Any]] = {
        "START_TIME": lambda r: (
            datetime.fromtimestamp(r.start, timezone.utc)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z")
        ),
        "PROTOCOL": lambda r: r.protocol,
        "RESPONSE_CODE": lambda r: r.status,
        "RESPONSE_FLAGS": lambda r: r.flags,
        "RESPONSE_CODE_DETAILS": lambda r: r.details,
        "CONNECTION_TERMINATION_DETAILS": lambda r: None,
        "UPSTREAM_TRANSPORT_FAILURE_REASON": lambda r: r.upstream_failure or None,
        "BYTES_RECEIVED": lambda r: r.bytes_received,
        "BYTES_SENT": lambda r: r.bytes_sent,
        "DURATION": lambda r: int(r.duration * 1000),
        "REQUEST_DURATION": lambda r: int(r.duration * 1000),
        "RESPONSE_DURATION": lambda r: int(r.duration * 1000),
        "UPSTREAM_HOST": lambda r: r.upstream_host or None,
        "UPSTREAM_CLUSTER": lambda r: r.upstream_cluster or None,
        "UPSTREAM_CLUSTER_RAW": lambda r: r.upstream_cluster or None,
        "UPSTREAM_LOCAL_ADDRESS": lambda r: r.upstream_local or None,
        "DOWNSTREAM_LOCAL_ADDRESS": lambda r: r.downstream_local or None,
        "DOWNSTREAM_REMOTE_ADDRESS": lambda r: r.downstream_remote or None,
        "DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT": lambda r: (
            r.downstream_remote.rpartition(":")[0] or None
        ),
        "DOWNSTREAM_PEER_ADDRESS": lambda r: r.downstream_remote or None,
        "REQUESTED_SERVER_NAME": lambda r: r.server_name or None,
        "ROUTE_NAME": lambda r: r.route or None,
        "METHOD": lambda r: r.method,
    }
    return simple.get(name, lambda r: None)


def _truncated(op: Callable[[Record], Any], limit: int) -> Callable[[Record], str]:
    return lambda r: _text(op(r))[:limit]


def compile_format(text: str) -> Callable[[Record], str]:
    parts: list[str | Callable[[Record], Any]] = []
    pos = 0
    for m in _OPERATOR.finditer(text):
        if m.start() > pos:
            parts.append(text[pos : m.start()])
        op = _operator(m.group(1), m.group(2))
        limit = int(m.group(3)) if m.group(3) else None
        if limit is not None:
            parts.append(_truncated(op, limit))
        else:
            parts.append(op)
        pos = m.end()
    if pos < len(text):
        parts.append(text[pos:])

    def render(r: Record) -> str:
        return "".join(p if isinstance(p, str) else _text(p(r)) for p in parts)

    return render


def compile_json(labels: tuple[tuple[str, str], ...]) -> Callable[[Record], str]:
    fields = []
    for key, value in labels:
        m = _OPERATOR.fullmatch(value.strip())
        if m is not None:
            fields.append((key, _operator(m.group(1), m.group(2))))
        else:
            fmt = compile_format(value)
            fields.append((key, fmt))

    def render(r: Record) -> str:
        return json.dumps({k: f(r) for k, f in fields}, default=str) + "\n"

    return render


class CelFilter:
    """A Telemetry access-log filter: a CEL expression over Envoy's attributes."""

    def __init__(self, expression: str) -> None:
        import celpy

        self.expression = expression
        env = celpy.Environment()
        self.program = env.program(env.compile(expression))

    def __call__(self, r: Record) -> bool:
        from celpy import celtypes

        def m(data: dict[str, Any]) -> Any:
            return celtypes.MapType({celtypes.StringType(k): _cel(v) for k, v in data.items()})

        activation = {
            "request": m(
                {
                    "method": r.method,
                    "path": r.path,
                    "url_path": r.path.partition("?")[0],
                    "host": r.authority,
                    "scheme": "http",
                    "protocol": r.protocol,
                    "headers": r.request_headers,
                    "size": r.bytes_received,
                    "duration": r.duration,
                }
            ),
            "response": m(
                {
                    "code": r.status,
                    "code_details": r.details,
                    "flags": 0,
                    "headers": r.response_headers,
                    "size": r.bytes_sent,
                }
            ),
            "upstream": m({"address": r.upstream_host, "cluster": r.upstream_cluster}),
            "xds": m({"route_name": r.route, "cluster_name": r.upstream_cluster}),
        }
        try:
            return bool(self.program.evaluate(activation))
        except Exception:  # an expression that fails on this request logs nothing, as in Envoy
            return False


def _cel(value: Any) -> Any:
    from celpy import celtypes

    if isinstance(value, bool):
        return celtypes.BoolType(value)
    if isinstance(value, int):
        return celtypes.IntType(value)
    if isinstance(value, float):
        return celtypes.DoubleType(value)
    if isinstance(value, dict):
        return celtypes.MapType({celtypes.StringType(k): _cel(v) for k, v in value.items()})
    return celtypes.StringType("" if value is None else str(value))


class AccessLogger:
    """One access log of the Plan: where it goes, its format and its filter."""

    def __init__(self, log: AccessLog, default_format: str) -> None:
        self.log = log
        if log.json_labels:
            self.render = compile_json(log.json_labels)
        else:
            text = log.format or default_format
            self.render = compile_format(text if text.endswith("\n") else text + "\n")
        self.filter = CelFilter(log.filter) if log.filter else None
        self.stream: IO[str] = _open(log.path)
        self.dirty = False

    def write(self, r: Record) -> None:
        if self.filter is not None and not self.filter(r):
            return
        self.stream.write(self.render(r))
        self.dirty = True

    def flush(self) -> None:
        if self.dirty:
            self.dirty = False
            with contextlib.suppress(OSError, ValueError):
                self.stream.flush()


_STREAMS: dict[str, IO[str]] = {}


def _open(path: str) -> IO[str]:
    if path in ("/dev/stdout", "-"):
        return sys.stdout
    if path == "/dev/stderr":
        return sys.stderr
    stream = _STREAMS.get(path)
    if stream is None:
        stream = _STREAMS[path] = open(path, "a", encoding="utf-8")  # noqa: SIM115 - kept open
    return stream
