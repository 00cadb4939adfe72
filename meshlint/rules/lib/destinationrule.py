"""What the DestinationRule rules share: the kinds they check, where Istio's verdicts come from
(for ``source``), the example builder of their docs, and the walk over the sections of every
traffic policy."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from typing import Any

from meshlint.diagnostics import FieldPath
from meshlint.resource import Resource
from meshlint.rules.lib.traffic import policy_blocks, policy_blocks_of

KINDS = frozenset({"DestinationRule"})
WEBHOOK = "webhook: pkg/config/validation/validation.go"
AGENT = "webhook: pkg/config/validation/agent/validation.go"
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
UINT32_MAX = 2**32 - 1


def dr(spec: str, *, namespace: str = "shop") -> str:
    """A complete DestinationRule example whose `spec:` block is ``spec`` (written unindented)."""
    body = textwrap.indent(textwrap.dedent(spec).strip("\n"), "  ")
    return (
        "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata:\n"
        f"  name: reviews\n  namespace: {namespace}\nspec:\n{body}\n"
    )


def number(value: object) -> float | None:
    """An int or float (not a bool), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value


def is_set(value: object) -> bool:
    """Whether a field counts as given for the webhook: present, not null, and not an empty
    list (which decodes to no list at all)."""
    return value is not None and value != []


def sections(
    spec: dict[str, Any], key: str
) -> Iterator[tuple[FieldPath, dict[str, Any], dict[str, Any]]]:
    """``(path, section, block)`` for each ``connectionPool`` / ``loadBalancer`` / … that is a
    mapping, with the traffic policy or port-level entry holding it."""
    for path, block in policy_blocks(spec):
        section = block.get(key)
        if isinstance(section, dict):
            yield (*path, key), section, block


def sections_of(res: Resource, key: str) -> list[tuple[FieldPath, dict[str, Any], dict[str, Any]]]:
    """:func:`sections` of the resource's spec (none when it is not a mapping), read once per
    resource and key."""

    def make() -> list[tuple[FieldPath, dict[str, Any], dict[str, Any]]]:
        found = []
        for path, block in policy_blocks_of(res):
            section = block.get(key)
            if isinstance(section, dict):
                found.append(((*path, key), section, block))
        return found

    return res.memo((sections_of, key), make)
