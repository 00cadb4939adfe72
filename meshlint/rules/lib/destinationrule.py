"""What the DestinationRule rules share: the kinds they check, where Istio's verdicts come from
(for ``source``), the example builder of their docs, the verdicts on subset names and labels,
and the walk over the sections of every traffic policy."""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Iterator
from typing import Any

from meshlint.diagnostics import FieldPath
from meshlint.resource import Resource
from meshlint.rules.lib.grammar import (
    check_dns_label,
    check_label_key,
    check_label_value,
)
from meshlint.rules.lib.traffic import policy_blocks, policy_blocks_of
from meshlint.verdicts import keep_verdict

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


# The verdicts on the subset names, label keys and label values judged so far: most come back
# on every DestinationRule of a repository (v1, version) (see keep_verdict).
_SUBSET_NAMES: dict[str, str | None] = {}
_LABEL_KEYS: dict[str, str | None] = {}
_LABEL_VALUES: dict[str, str | None] = {}


def subset_name_problem(name: str) -> str | None:
    """Why Istio's webhook rejects a subset name (empty, or not a DNS label), or None."""
    if name in _SUBSET_NAMES:
        return _SUBSET_NAMES[name]
    if name == "":
        problem: str | None = "the subset name is empty: give it a name such as v1"
    else:
        found = check_dns_label(name)
        problem = f"subset name {found}" if found else None
    return keep_verdict(_SUBSET_NAMES, name, problem)


def label_problems(labels: dict[Any, Any]) -> list[tuple[Any, str, bool]]:
    """``(key, problem, on the key)`` for each invalid key and each invalid value of a label
    map (a subset's labels), in the map's order, the key's problem before its value's."""
    found: list[tuple[Any, str, bool]] = []
    for key, value in labels.items():
        if isinstance(key, str):
            problem = _LABEL_KEYS[key] if key in _LABEL_KEYS else _label_key_problem(key)
            if problem:
                found.append((key, problem, True))
        if isinstance(value, str):
            problem = (
                _LABEL_VALUES[value] if value in _LABEL_VALUES else _label_value_problem(value)
            )
            if problem:
                found.append((key, problem, False))
    return found


def _label_key_problem(key: str) -> str | None:
    return keep_verdict(_LABEL_KEYS, key, check_label_key(key))


def _label_value_problem(value: str) -> str | None:
    return keep_verdict(_LABEL_VALUES, value, check_label_value(value))


def sections(
    spec: dict[str, Any], key: str
) -> Iterator[tuple[FieldPath, dict[str, Any], dict[str, Any]]]:
    """``(path, section, block)`` for each ``connectionPool`` / ``loadBalancer`` / … that is a
    mapping, with the traffic policy or port-level entry holding it."""
    return iter(_sections(policy_blocks(spec), key))


def sections_of(res: Resource, key: str) -> list[tuple[FieldPath, dict[str, Any], dict[str, Any]]]:
    """:func:`sections` of the resource's spec (none when it is not a mapping), read once per
    resource and key."""
    by_key: dict[str, list[tuple[FieldPath, dict[str, Any], dict[str, Any]]]]
    by_key = res.memo(sections_of, dict)
    found = by_key.get(key)
    if found is None:
        found = by_key[key] = _sections(policy_blocks_of(res), key)
    return found


def _sections(
    blocks: Iterable[tuple[FieldPath, dict[str, Any]]], key: str
) -> list[tuple[FieldPath, dict[str, Any], dict[str, Any]]]:
    found = []
    for path, block in blocks:
        section = block.get(key)
        if isinstance(section, dict):
            found.append(((*path, key), section, block))
    return found
