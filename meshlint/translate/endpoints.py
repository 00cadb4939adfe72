"""The endpoints file: where the instances of each service listen when the mesh runs locally.

```yaml
endpoints:
- service: reviews            # a Service or ServiceEntry host as manifests name it; a short
  port: 9080                  #   name is taken in the --for namespace; `port` is the service port
  address: 127.0.0.1:9081     # HOST:PORT where the instance listens ([::1]:9081 for IPv6)
  labels: {version: v1}       # matched by DestinationRule subsets as pod labels are
  weight: 2                   # optional load-balancing weight
  locality: eu-west/zone-a    # optional region/zone/subzone
```
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from meshlint import loader
from meshlint.diagnostics import FieldPath
from meshlint.translate.plan import Endpoint, Origin


class TranslateError(Exception):
    """Input the translation cannot use: a usage error (exit 2), with its place."""


@dataclass(frozen=True)
class Entry:
    service: str
    port: int
    endpoint: Endpoint
    where: str  # file:line:column of the entry


@dataclass
class EndpointTable:
    name: str
    entries: list[Entry] = field(default_factory=list)


_KEYS = {"service", "port", "address", "labels", "weight", "locality"}


def read(path: str) -> EndpointTable:
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise TranslateError(f"{path}: cannot read the endpoints file: {exc.strerror}") from None
    load = loader.load_bytes(data, path)
    problems = [d for d in load.diagnostics if d.severity.label == "error"]
    if problems:
        d = problems[0]
        raise TranslateError(f"{path}:{d.line}:{d.column}: {d.message}")
    docs = [d for d in load.documents if d.data is not None]
    if len(docs) != 1 or not isinstance(docs[0].data, dict):
        raise TranslateError(f"{path}:1:1: the endpoints file is one mapping with `endpoints:`")
    doc = docs[0]
    root = doc.data

    def at(p: FieldPath) -> str:
        span = doc.locate(p)
        return f"{path}:{span.line}:{span.column}"

    unknown = sorted(str(k) for k in root if k != "endpoints")
    if unknown:
        raise TranslateError(
            f"{at((unknown[0],))}: unknown key `{unknown[0]}` (expected `endpoints`)"
        )
    items = root.get("endpoints")
    if not isinstance(items, list):
        raise TranslateError(f"{at(('endpoints',))}: `endpoints` must be a list of entries")
    table = EndpointTable(path)
    for i, item in enumerate(items):
        base: FieldPath = ("endpoints", i)
        if not isinstance(item, dict):
            raise TranslateError(f"{at(base)}: an entry is a mapping (service, port, address)")
        extra = sorted(str(k) for k in item if k not in _KEYS)
        if extra:
            raise TranslateError(
                f"{at((*base, extra[0]))}: unknown key `{extra[0]}` (known: "
                f"{', '.join(sorted(_KEYS))})"
            )
        for key in ("service", "port", "address"):
            if key not in item:
                raise TranslateError(f"{at(base)}: the entry has no `{key}`")
        service = item["service"]
        if not isinstance(service, str) or not service:
            raise TranslateError(f"{at((*base, 'service'))}: `service` must be a host name")
        port = item["port"]
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise TranslateError(f"{at((*base, 'port'))}: `port` must be a port number")
        host, addr_port = _address(item["address"], at((*base, "address")))
        labels = item.get("labels") or {}
        if not isinstance(labels, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in labels.items()
        ):
            raise TranslateError(f"{at((*base, 'labels'))}: `labels` must map strings to strings")
        weight = item.get("weight")
        if weight is not None and (
            isinstance(weight, bool) or not isinstance(weight, int) or weight < 1
        ):
            raise TranslateError(f"{at((*base, 'weight'))}: `weight` must be a positive integer")
        locality = item.get("locality")
        if locality is not None and not isinstance(locality, str):
            raise TranslateError(f"{at((*base, 'locality'))}: `locality` is region/zone/subzone")
        span = doc.locate(base)
        origin = Origin(f"endpoints[{i}]", path, span.line, f"endpoints[{i}]")
        table.entries.append(
            Entry(
                service,
                port,
                Endpoint(
                    host,
                    addr_port,
                    tuple(sorted(labels.items())),
                    weight,
                    locality,
                    origin,
                ),
                at(base),
            )
        )
    return table


def _address(value: Any, where: str) -> tuple[str, int]:
    if not isinstance(value, str) or ":" not in value:
        raise TranslateError(f"{where}: `address` is HOST:PORT, e.g. 127.0.0.1:9081")
    host, _, port = value.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise TranslateError(f"{where}: `address` is HOST:PORT, e.g. 127.0.0.1:9081")
    return host, int(port)
