"""Reading a ServiceEntry's spec as Istio's validation does: its lists, its resolution, the
protocol of a port.

The ServiceEntry rules (hosts, ports, resolution, endpoints) share these. Values of the wrong
type are skipped: the schema stage reports them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from meshlint.rules.lib.grammar import parse_protocol

_RESOLUTIONS = frozenset(("NONE", "STATIC", "DNS", "DNS_ROUND_ROBIN", "DYNAMIC_DNS"))


def list_of(spec: dict[str, Any], key: str) -> list[Any]:
    """``spec[key]`` if it is a list, else an empty one."""
    value = spec.get(key)
    return value if isinstance(value, list) else []


def resolution_of(spec: dict[str, Any]) -> str | None:
    """The resolution, NONE when omitted; None when it is not one Istio knows (the schema
    stage reports that)."""
    value = spec.get("resolution")
    if value is None:
        return "NONE"
    return value if isinstance(value, str) and value in _RESOLUTIONS else None


def host_items(spec: dict[str, Any]) -> Iterator[tuple[int, str]]:
    """The string hosts, with their index."""
    for i, host in enumerate(list_of(spec, "hosts")):
        if isinstance(host, str):
            yield i, host


def port_items(spec: dict[str, Any]) -> Iterator[tuple[int, dict[str, Any]]]:
    """The ports that are mappings, with their index."""
    for i, port in enumerate(list_of(spec, "ports")):
        if isinstance(port, dict):
            yield i, port


def endpoint_items(spec: dict[str, Any]) -> Iterator[tuple[int, dict[str, Any]]]:
    """The endpoints that are mappings, with their index."""
    for i, endpoint in enumerate(list_of(spec, "endpoints")):
        if isinstance(endpoint, dict):
            yield i, endpoint


def protocol_of(port: dict[str, Any]) -> str | None:
    """Istio's name of the port's protocol; None when it is empty or unknown (which Istio
    treats as "unsupported", i.e. neither HTTP nor TLS)."""
    return parse_protocol(port.get("protocol") or "")
