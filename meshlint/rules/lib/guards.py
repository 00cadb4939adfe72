"""Reading raw data whatever it holds: the type guards every rule uses.

A manifest may hold any type anywhere (the schema stage reports wrong types); a check reads it
through these and skips what is not what it expects, so that it never fails on a wrong type.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, TypeGuard

from meshlint.diagnostics import Finding

if TYPE_CHECKING:
    from meshlint.resource import Resource


def is_int(value: object) -> TypeGuard[int]:
    """An integer of the data; not a boolean, which Python counts as an int."""
    return isinstance(value, int) and not isinstance(value, bool)


def as_int(value: object) -> int | None:
    """The value when it is an integer of the data (see :func:`is_int`), else None."""
    return value if is_int(value) else None


def port_int(value: object) -> int | None:
    """An integer, or a string of digits (a port as maps and quoted YAML write it), else None."""
    if is_int(value):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def as_str(value: object) -> str | None:
    """The value when it is a string, else None."""
    return value if isinstance(value, str) else None


def as_map(value: Any) -> dict[str, Any]:
    """The value when it is a mapping, else an empty one."""
    return value if isinstance(value, dict) else {}


def child(obj: dict[str, Any], key: str) -> dict[str, Any] | None:
    """``obj[key]`` when it is a mapping, else None."""
    value = obj.get(key)
    return value if isinstance(value, dict) else None


def as_list(value: Any) -> list[Any]:
    """The value when it is a list, else an empty one."""
    return value if isinstance(value, list) else []


def items(value: Any) -> Iterator[tuple[int, Any]]:
    """(index, item) of a list; nothing for anything else."""
    return enumerate(value) if isinstance(value, list) else iter(())


def mappings(value: Any) -> Iterator[tuple[int, dict[str, Any]]]:
    """(index, item) of the items of a list that are mappings."""
    for i, item in items(value):
        if isinstance(item, dict):
            yield i, item


def str_list(value: Any) -> list[str]:
    """The strings of a list."""
    return [v for v in as_list(value) if isinstance(v, str)]


def missing_spec(res: Resource, consequence: str) -> Finding | None:
    """The finding on a resource whose spec is null or missing (Istio reads it as an empty
    one), saying ``consequence`` ("so the … has no …: what to do"); None when it has one."""
    if res.spec is not None:
        return None
    written = "spec" in res.data
    return Finding(
        ("spec",) if written else ("kind",),
        f"spec is {'null' if written else 'missing'}, {consequence}",
        key=True,
    )
