"""The included proxy's config: the Plan itself, written as data and read back.

`meshlint translate --target proxy -o proxy.yaml` writes it; `meshlint proxy --config proxy.yaml`
serves it. The file is the Plan (see :mod:`meshlint.translate.plan`) under a version tag, in the
Plan's own words: a user can read it beside the manifests, and `/config_dump` of a running proxy
shows the same data. Reading it back checks every field against the Plan's types and says where
a value is wrong (``clusters.outbound|9080||reviews….pool.max_connections: expected an integer``).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from meshlint.translate import plan as plan_mod
from meshlint.translate.plan import Plan

KIND = "meshlint.proxy/v1"


class ConfigError(Exception):
    """A proxy config that cannot be served: its place and what is wrong."""


def render(plan: Plan) -> dict[str, Any]:
    """The proxy's config: the Plan as plain data, under its version tag."""
    return {"kind": KIND, "plan": plan.to_data()}


def load(data: Any, source: str = "<config>") -> Plan:
    """The Plan of a proxy config (as :func:`render` writes it), or :class:`ConfigError`."""
    if not isinstance(data, dict) or data.get("kind") != KIND:
        raise ConfigError(f"{source}: not a meshlint proxy config (no `kind: {KIND}`)")
    if not isinstance(data.get("plan"), dict):
        raise ConfigError(f"{source}: `plan` must be a mapping")
    try:
        value = _read(Plan, data["plan"], "plan")
    except _Wrong as exc:
        raise ConfigError(f"{source}: {exc.path}: {exc.message}") from None
    assert isinstance(value, Plan)
    return value


def read_file(path: str) -> Plan:
    """The Plan of a proxy config file (YAML or JSON)."""
    import yaml

    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.load(fh, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
        raise ConfigError(f"{path}{where}: not YAML ({getattr(exc, 'problem', exc)})") from None
    return load(data, path)


class _Wrong(Exception):
    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    found = _HINTS.get(cls)
    if found is None:
        found = _HINTS[cls] = get_type_hints(cls, vars(plan_mod))
    return found


def _read(kind: Any, value: Any, path: str) -> Any:
    origin = get_origin(kind)
    if kind is Any:
        return value
    if origin is Union or origin is types.UnionType:
        options = get_args(kind)
        if value is None and type(None) in options:
            return None
        wrong: _Wrong | None = None
        for option in options:
            if option is type(None):
                continue
            try:
                return _read(option, value, path)
            except _Wrong as exc:
                wrong = wrong or exc
        assert wrong is not None
        raise wrong
    if origin is Literal:
        allowed = get_args(kind)
        if value not in allowed:
            raise _Wrong(path, f"expected one of {', '.join(map(str, allowed))}; got {value!r}")
        return value
    if origin in (list, tuple):
        if not isinstance(value, list):
            raise _Wrong(path, f"expected a list; got {_name(value)}")
        args = get_args(kind)
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise _Wrong(path, f"expected {len(args)} items; got {len(value)}")
            return tuple(
                _read(a, v, f"{path}[{i}]")
                for i, (a, v) in enumerate(zip(args, value, strict=True))
            )
        item = args[0] if args else Any
        out = [_read(item, v, f"{path}[{i}]") for i, v in enumerate(value)]
        return tuple(out) if origin is tuple else out
    if origin is dict:
        if not isinstance(value, dict):
            raise _Wrong(path, f"expected a mapping; got {_name(value)}")
        key_kind, item = get_args(kind) or (str, Any)
        out_map: dict[Any, Any] = {}
        for k, v in value.items():
            key = _read(key_kind, k, path) if key_kind is not str else str(k)
            out_map[key] = _read(item, v, f"{path}.{k}")
        return out_map
    if isinstance(kind, type) and dataclasses.is_dataclass(kind):
        if not isinstance(value, dict):
            raise _Wrong(path, f"expected a mapping; got {_name(value)}")
        hints = _hints(kind)
        names = {f.name for f in dataclasses.fields(kind) if f.init}
        unknown = sorted(set(value) - names)
        if unknown:
            raise _Wrong(f"{path}.{unknown[0]}", "unknown field")
        fields = {}
        for f in dataclasses.fields(kind):
            if not f.init or f.name not in value:
                if (
                    f.init
                    and f.default is dataclasses.MISSING
                    and f.default_factory is dataclasses.MISSING
                ):
                    raise _Wrong(f"{path}.{f.name}", "missing")
                continue
            fields[f.name] = _read(hints[f.name], value[f.name], f"{path}.{f.name}")
        return kind(**fields)
    if kind is bool:
        if not isinstance(value, bool):
            raise _Wrong(path, f"expected true or false; got {value!r}")
        return value
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _Wrong(path, f"expected an integer; got {value!r}")
        return value
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _Wrong(path, f"expected a number; got {value!r}")
        return float(value)
    if kind is str:
        if not isinstance(value, str):
            raise _Wrong(path, f"expected a string; got {value!r}")
        return value
    if kind is bytes:
        if not isinstance(value, str):
            raise _Wrong(path, f"expected a string; got {value!r}")
        return value.encode("latin-1")
    raise _Wrong(path, f"cannot read a {kind}")  # pragma: no cover - a Plan type without a reader


def _name(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), typing.cast(str, type(value).__name__)
    )


__all__ = ["KIND", "ConfigError", "load", "read_file", "render"]
