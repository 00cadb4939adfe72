"""Istio values as the translation reads them: durations, percentages, protocols, gRPC codes."""

from __future__ import annotations

import functools
import re
from typing import Any

_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNIT = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def duration(value: Any) -> float | None:
    """Seconds of a Go duration (`1h30m`, `500ms`, `2s`), or None when it is not one."""
    if not isinstance(value, str) or not value:
        return None
    return _duration(value)


@functools.lru_cache(maxsize=4096)
def _duration(value: str) -> float | None:
    pos, total = 0, 0.0
    for m in _PART.finditer(value):
        if m.start() != pos:
            return None
        total += float(m.group(1)) * _UNIT[m.group(2)]
        pos = m.end()
    return total if pos == len(value) else None


def envoy_duration(seconds: float) -> str:
    """A protobuf JSON Duration: decimal seconds, at most 9 fractional digits, `s` suffix."""
    text = f"{seconds:.9f}".rstrip("0").rstrip(".")
    return f"{text or '0'}s"


def percent(value: Any) -> float | None:
    """An Istio ``Percent`` (``{value: 12.5}``) or a bare number, as 0–100."""
    if isinstance(value, dict):
        value = value.get("value")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def integer(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"[+-]?\d+", value.strip()):
        return int(value)
    return None


# The protocol a Kubernetes Service port speaks, by `appProtocol` or by the prefix of its name
# (Istio's protocol selection); anything else is sniffed, which the local listener treats as HTTP.
_PROTOCOLS = {
    "http": "HTTP",
    "http2": "HTTP2",
    "grpc": "GRPC",
    "grpc-web": "GRPC-WEB",
    "h2c": "HTTP2",
    "https": "HTTPS",
    "tls": "TLS",
    "tcp": "TCP",
    "mongo": "TCP",
    "mysql": "TCP",
    "redis": "TCP",
    "udp": "UDP",
}
HTTP_PROTOCOLS = frozenset({"HTTP", "HTTP2", "GRPC", "GRPC-WEB", "AUTO"})


def port_protocol(port: dict[str, Any], *, service_entry: bool = False) -> str:
    if service_entry:
        given = port.get("protocol")
        if isinstance(given, str) and given:
            return _PROTOCOLS.get(given.lower(), given.upper())
        return "TCP"
    app = port.get("appProtocol")
    if isinstance(app, str) and app:
        return _PROTOCOLS.get(app.lower().removeprefix("kubernetes.io/"), "AUTO")
    name = port.get("name")
    if isinstance(name, str) and name:
        prefix = name.lower().split("-", 1)[0]
        if name.lower().startswith("grpc-web"):
            return "GRPC-WEB"
        return _PROTOCOLS.get(prefix, "AUTO")
    return "AUTO"


GRPC_CODES = {
    "OK": 0,
    "CANCELLED": 1,
    "UNKNOWN": 2,
    "INVALID_ARGUMENT": 3,
    "DEADLINE_EXCEEDED": 4,
    "NOT_FOUND": 5,
    "ALREADY_EXISTS": 6,
    "PERMISSION_DENIED": 7,
    "RESOURCE_EXHAUSTED": 8,
    "FAILED_PRECONDITION": 9,
    "ABORTED": 10,
    "OUT_OF_RANGE": 11,
    "UNIMPLEMENTED": 12,
    "INTERNAL": 13,
    "UNAVAILABLE": 14,
    "DATA_LOSS": 15,
    "UNAUTHENTICATED": 16,
}
