"""Gateway servers and Sidecar listeners: walking them, reading their ports and TLS blocks.

The Gateway rules (servers, server TLS options) and the Sidecar rules (ingress and egress
listeners, connection pools) share these. Values of the wrong type are skipped: the schema stage
reports them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from meshlint.diagnostics import FieldPath, Finding
from meshlint.rules.lib.grammar import (
    check_port_name,
    check_protocol,
)
from meshlint.rules.lib.guards import is_int

# The TLS modes that forward the encrypted stream untouched.
PASSTHROUGH_MODES = frozenset(("PASSTHROUGH", "AUTO_PASSTHROUGH"))

_TLS_LIST_FIELDS = frozenset(("credentialNames", "tlsCertificates", "subjectAltNames"))


def listeners(spec: dict[str, Any], key: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """The mappings of the list ``spec[key]`` (``servers``, ``ingress``, ``egress``), with their
    index."""
    items = spec.get(key)
    if isinstance(items, list):
        for i, item in enumerate(items):
            if isinstance(item, dict):
                yield i, item


def tls_set(tls: dict[str, Any], key: str) -> bool:
    """Whether a field of a TLS block counts as set, as Go sees it: a non-empty string or a
    non-empty list. A value of the wrong type does not count (the schema stage reports it)."""
    value = tls.get(key)
    if key in _TLS_LIST_FIELDS:
        return isinstance(value, list) and len(value) > 0
    return isinstance(value, str) and value != ""


def sidecar_port_number(port: dict[str, Any]) -> int | None:
    """The port number of a Sidecar listener, 0 when omitted (Go's zero value); None when not an
    integer."""
    number = port.get("number", 0)
    if number is None:
        return 0
    return number if is_int(number) else None


def sidecar_port_problems(port: dict[str, Any], base: FieldPath) -> Iterator[Finding]:
    """What Istio rejects in the name, protocol and targetPort of a Sidecar listener's port
    (ingress and egress alike); ``base`` is the path of the port."""
    name = port.get("name")
    if isinstance(name, str) and name:
        problem = check_port_name(name)
        if problem:
            yield Finding((*base, "name"), problem)
    problem = check_protocol(port.get("protocol"))
    if problem:
        yield Finding((*base, "protocol"), problem)
    target = port.get("targetPort")
    if is_int(target) and target > 0:
        yield Finding(
            (*base, "targetPort"),
            "targetPort is deprecated and has no effect on a Sidecar listener: remove it (for "
            "ingress, use defaultEndpoint to pick the application port)",
            key=True,
        )
