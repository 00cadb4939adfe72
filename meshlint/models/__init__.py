"""Typed models of every kind meshlint reads, and schema validation in the user's terms.

The rules engine calls :func:`validate` (problems as :class:`SchemaIssue`), :func:`parse` (the
typed model) and :func:`known_fields` (for did-you-mean). Models are imported, and their pydantic
validators built, on first use of a kind, never when this package is imported.
"""

from __future__ import annotations

import re
import types
import typing
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from meshlint.suggest import closest

if TYPE_CHECKING:
    from pydantic import BaseModel
    from pydantic_core import ErrorDetails

    from meshlint.models.registry import KindInfo

__all__ = ["SchemaIssue", "known_fields", "parse", "validate"]

FieldPath = tuple[str | int, ...]

# Go's duration syntax as the Duration type accepts it; the models (meshlint.models.common) and
# the pydantic-free validator (meshlint.models.fastcheck) share it.
DURATION_PATTERN = r"^[-+]?(0|(([0-9]+(\.[0-9]*)?|\.[0-9]+)(h|m|s|ms|us|µs|μs|ns))+)$"


def join_words(items: list[str], word: str) -> str:
    """``["a", "b", "c"], "or"`` → ``a, b or c``."""
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} {word} {items[-1]}"


@dataclass(frozen=True, slots=True)
class SchemaIssue:
    """One problem of a document against the schema of its kind."""

    path: FieldPath  # e.g. ("spec", "http", 0, "retries", "perTryTimeout"), JSON field names
    kind: str  # "unknown_field" | "wrong_type" | "missing" | "invalid"
    message: str  # in the user's terms, e.g. "expected a string, got the integer 80"
    suggestion: str | None = None  # the closest known field name (or enum value)


def validate(info: KindInfo, data: dict[str, Any]) -> list[SchemaIssue]:
    """Every schema problem of ``data`` (one resource of kind ``info``); empty when valid."""
    return _run(info, data)[1]


def parse(info: KindInfo, data: dict[str, Any]) -> BaseModel | None:
    """The typed model of ``data``, or None when :func:`validate` reports any issue."""
    return _run(info, data)[0]


def known_fields(info: KindInfo, path: FieldPath) -> list[str]:
    """JSON names of the fields of the object at ``path`` (list indexes and map keys included).

    ``known_fields(vs, ("spec", "http", 0))`` lists the fields of an HTTP route. A path that does
    not lead to an object of the model gives an empty list.
    """
    tp: Any = info.model
    for elem in path:
        tp = _child_type(tp, elem)
        if tp is None:
            return []
    model = _model_of(tp)
    return list(_aliases(model)) if model is not None else []


# --------------------------------------------------------------------------------------------
# Running pydantic


def _run(info: KindInfo, data: Any) -> tuple[BaseModel | None, list[SchemaIssue]]:
    from pydantic import ValidationError

    if not isinstance(data, dict):
        return None, [SchemaIssue((), "wrong_type", f"expected a mapping, got {_describe(data)}")]
    model = info.model
    result: BaseModel | None = None
    issues: list[SchemaIssue] = []
    try:
        result = model.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        if any("[key]" in e["loc"] for e in errors):
            # Map keys that YAML typed (8080:, true:) are strings in Kubernetes' YAML-to-JSON
            # conversion; meshlint's loader already spells them so, other YAML loaders do not.
            data = _string_keys(data)
            try:
                result = model.model_validate(data)
            except ValidationError as again:
                errors = again.errors(include_url=False)
        if result is None:
            issues = _convert(info, data, errors)
    version_issue = _check_api_version(info, data)
    if version_issue is not None:
        return None, [version_issue, *issues]
    return result, issues


def _string_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {_json_key(k): _string_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_string_keys(v) for v in value]
    return value


def _json_key(key: Any) -> str:
    if isinstance(key, str):
        return key
    if isinstance(key, bool) or key is None:
        return "null" if key is None else str(key).lower()
    return str(key)


def _check_api_version(info: KindInfo, data: dict[str, Any]) -> SchemaIssue | None:
    api_version = data.get("apiVersion")
    served = [info.api_version(v) for v in info.versions]
    if not isinstance(api_version, str) or api_version in served:
        return None  # a missing or mistyped apiVersion is a model error
    return SchemaIssue(
        ("apiVersion",),
        "invalid",
        f"'{api_version}' is not a served version of {info.kind}; use {', '.join(served)}",
        info.api_version(),
    )


# --------------------------------------------------------------------------------------------
# Model introspection (annotations, not pydantic internals)


@cache
def _aliases(model: type[BaseModel]) -> dict[str, Any]:
    """JSON name → annotation of each field of ``model``."""
    return {(f.alias or name): f.annotation for name, f in model.model_fields.items()}


def _unwrap(tp: Any) -> Any:
    """Strip Annotated[...] and Optional[...] off a type."""
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
        elif origin is typing.Union or origin is types.UnionType:
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(args) != 1:
                return tp
            tp = args[0]
        else:
            return tp


def _model_of(tp: Any) -> type[BaseModel] | None:
    from pydantic import BaseModel

    tp = _unwrap(tp)
    return tp if isinstance(tp, type) and issubclass(tp, BaseModel) else None


def _child_type(tp: Any, elem: str | int) -> Any:
    """The type of ``elem`` (a field, list index or map key) inside a value of type ``tp``."""
    model = _model_of(tp)
    if model is not None:
        return _aliases(model).get(elem) if isinstance(elem, str) else None
    tp = _unwrap(tp)
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is list and isinstance(elem, int) and args:
        return args[0]
    if origin is dict and isinstance(elem, str) and len(args) == 2:
        return args[1]
    return None


def _type_at(info: KindInfo, path: FieldPath) -> Any:
    tp: Any = info.model
    for elem in path:
        tp = _child_type(tp, elem)
        if tp is None:
            return None
    return tp


# --------------------------------------------------------------------------------------------
# pydantic errors → SchemaIssues

_EXPECTED = {
    "string_type": "a string",
    "int_type": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "bool_type": "true or false",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "int_or_string_type": "an integer or a string",
    "none_required": "nothing (null)",
}


def _convert(info: KindInfo, data: Any, errors: list[ErrorDetails]) -> list[SchemaIssue]:
    issues: list[SchemaIssue] = []
    # Errors of the branches of one union, by the path of the value the union was given.
    unions: dict[FieldPath, list[tuple[FieldPath, ErrorDetails]]] = {}
    for err in errors:
        path, root = _clean_path(err["loc"], data, keep_last=err["type"] == "missing")
        if root is None:
            issues.append(_issue(info, path, err))
        else:
            unions.setdefault(root, []).append((path, err))
    for root, errs in unions.items():
        issues += _union_issues(info, root, errs)
    seen: set[SchemaIssue] = set()
    return [i for i in issues if not (i in seen or seen.add(i))]  # type: ignore[func-returns-value]


def _clean_path(
    loc: tuple[str | int, ...], data: Any, keep_last: bool
) -> tuple[FieldPath, FieldPath | None]:
    """Follow ``loc`` through the data; elements that are not in it are union branch names.

    Returns the path in JSON names, and the path of the union's value if a branch name was
    dropped (None otherwise).
    """
    path: list[str | int] = []
    root: FieldPath | None = None
    cur: Any = data
    last = len(loc) - 1
    for i, elem in enumerate(loc):
        inside = (isinstance(cur, dict) and elem in cur) or (
            isinstance(cur, list) and isinstance(elem, int) and 0 <= elem < len(cur)
        )
        if inside:
            path.append(elem)
            cur = cur[elem]
        elif elem == "[key]":
            continue
        elif isinstance(cur, dict) and (key := _spelled_key(cur, elem)) is not _NO_KEY:
            path.append(key)  # a key YAML typed (1.5:, null:) that pydantic's loc spells as text
            cur = cur[key]
        elif i == last and keep_last:
            path.append(elem)
        elif root is None:
            root = tuple(path)
    return tuple(path), root


_NO_KEY = object()


def _spelled_key(mapping: dict[Any, Any], elem: str | int) -> Any:
    """The key of ``mapping`` that is not a string or an integer and that ``elem`` spells."""
    if isinstance(elem, str):
        for key in mapping:
            if not isinstance(key, str | int) and str(key) == elem:
                return key
    return _NO_KEY


def _union_issues(
    info: KindInfo, root: FieldPath, errs: list[tuple[FieldPath, ErrorDetails]]
) -> list[SchemaIssue]:
    """One issue for a value no branch of a union accepts.

    If some branch had the value's shape (its errors lie deeper, or are not about the type),
    its problems are the real ones; otherwise the accepted shapes are named together.
    """
    real = [(p, e) for p, e in errs if len(p) > len(root) or e["type"] not in _EXPECTED]
    if real:
        return [_issue(info, p, e) for p, e in real]
    shapes = list(dict.fromkeys(_EXPECTED[e["type"]] for _, e in errs))
    joined = shapes[0] if len(shapes) == 1 else f"{', '.join(shapes[:-1])} or {shapes[-1]}"
    value = errs[0][1].get("input")
    return [SchemaIssue(root, "wrong_type", f"expected {joined}, got {_describe(value)}")]


def _describe(value: Any) -> str:
    if value is None:
        return "an empty value (null)"
    if value is True or value is False:
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int):
        return f"the integer {value}"
    if isinstance(value, float):
        return f"the number {value:g}"
    if isinstance(value, str):
        return f"the string {_quote(value)}" if value else "an empty string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"a {type(value).__name__}"


def _quote(value: str, limit: int = 60) -> str:
    return f"'{value if len(value) <= limit else value[: limit - 1] + '…'}'"


def _field_name(path: FieldPath) -> str:
    for elem in reversed(path):
        if isinstance(elem, str):
            return elem
    return "value"


# Enum values Istio's API keeps but marks deprecated (ML518 flags them), with the value to use
# instead: a "did you mean" proposes that one, never the deprecated spelling.
DEPRECATED_VALUES = {"LEAST_CONN": "LEAST_REQUEST"}


def _closest(word: str, choices: list[str]) -> str | None:
    # Field names and enum values: a looser cutoff than for names, which are longer.
    found = closest(word, choices, cutoff=0.6)
    replacement = DEPRECATED_VALUES.get(found) if found is not None else None
    return replacement if replacement is not None and replacement in choices else found


def _issue(info: KindInfo, path: FieldPath, err: ErrorDetails) -> SchemaIssue:
    kind, value, ctx = err["type"], err.get("input"), err.get("ctx") or {}
    if kind == "extra_forbidden":
        key = str(path[-1]) if path else "?"
        return SchemaIssue(
            path,
            "unknown_field",
            f"unknown field '{key}'",
            _closest(key, known_fields(info, path[:-1])),
        )
    if kind == "missing":
        return SchemaIssue(path, "missing", f"missing required field '{_field_name(path)}'")
    if kind == "literal_error":
        choices = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
        listed = ", ".join(choices)
        if not isinstance(value, str):
            return SchemaIssue(
                path, "wrong_type", f"expected one of {listed}, got {_describe(value)}"
            )
        return SchemaIssue(
            path, "invalid", f"{_quote(value)} is not one of {listed}", _closest(value, choices)
        )
    if kind in _EXPECTED:
        return SchemaIssue(path, "wrong_type", _wrong_type(info, path, kind, value))
    return SchemaIssue(path, "invalid", _invalid_message(kind, value, ctx, err["msg"]))


_NO_SPACE = re.compile(r"^([\w.-]+):(\S.*)$")


def _wrong_type(info: KindInfo, path: FieldPath, kind: str, value: Any) -> str:
    expected = _EXPECTED[kind]
    message = f"expected {expected}, got {_describe(value)}"
    if expected == "a mapping":
        model = _model_of(_type_at(info, path))
        if model is not None:
            fields = list(_aliases(model))
            more = ", …" if len(fields) > 4 else ""
            message = (
                f"expected a mapping (with fields such as {', '.join(fields[:4])}{more}), "
                f"got {_describe(value)}"
            )
        if isinstance(value, str) and (m := _NO_SPACE.match(value)):
            message += f" (a key needs a space after its colon: '{m[1]}: {m[2]}')"
    elif expected == "a list" and isinstance(value, str | int | float | dict):
        message += " (write each item on its own line, starting with '- ')"
    return message


def _count(n: Any, unit: str) -> str:
    if unit == "entr":
        return f"{n} entry" if n == 1 else f"{n} entries"
    return f"{n} {unit}" if n == 1 else f"{n} {unit}s"


def _number(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _invalid_message(kind: str, value: Any, ctx: dict[str, Any], msg: str) -> str:
    plain = isinstance(value, int | float) and not isinstance(value, bool)
    shown = _number(value) if plain else _describe(value)
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        bound = next(iter(ctx.values()), "?")
        words = {
            "greater_than_equal": "too small: it must be at least",
            "greater_than": "too small: it must be greater than",
            "less_than_equal": "too large: it must be at most",
            "less_than": "too large: it must be less than",
        }[kind]
        return f"{shown} is {words} {_number(bound)}"
    if kind in ("too_short", "too_long"):
        unit = "entr" if ctx.get("field_type") == "Dictionary" else "item"
        size = len(value) if isinstance(value, list | dict) else ctx.get("actual_length")
        if kind == "too_short":
            least = ctx.get("min_length")
            return f"needs at least {_count(least, unit)}, got {size}"
        return f"at most {_count(ctx.get('max_length'), unit)} allowed, got {size}"
    if kind == "string_too_short":
        if ctx.get("min_length") == 1:
            return "must not be empty"
        return f"{shown} is too short: at least {ctx.get('min_length')} characters are needed"
    if kind == "string_too_long":
        size = len(value) if isinstance(value, str) else "?"
        return f"is {size} characters long; at most {ctx.get('max_length')} are allowed"
    if kind == "string_pattern_mismatch":
        return f"{_quote(str(value))} does not match the pattern {ctx.get('pattern')}"
    if not msg.startswith("Input should be"):
        return msg  # our own messages (duration, base64, one_of, ...)
    return "invalid value: " + msg.replace("Input should be", "it should be", 1)
