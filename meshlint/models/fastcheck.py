"""Schema validation without pydantic: the committed JSON Schemas, compiled into closures.

:func:`validate` gives exactly the issues of :func:`meshlint.models.validate` (same paths, kinds,
messages, suggestions and order) at a fraction of the start-up cost: importing pydantic and
building the models takes about 350 ms, compiling the schema of one kind about a millisecond.

The schema of a kind (:mod:`meshlint.schemas`, generated from the models) is compiled once, on
first use, into one small function per schema node. A function takes a value and returns None
when it is valid, or a list of ``(relative path, kind, message, suggestion)``; containers prepend
their key to the paths of their children's errors, so valid input builds no paths at all.

What the JSON Schema does not say, and the models do, is reproduced here:

* an optional field (not ``required``) also accepts null, except the resource's ``metadata``;
* the order of the models' errors: declared fields in order, then unknown keys in input order;
  the at-most-one-of groups (``oneOf``) are checked only when the object is otherwise valid;
* a list longer than its ``maxItems`` gets that error only; a map's size is checked only when
  its values are valid;
* durations (Go syntax, checked with Python's ``re`` like the model), base64 bytes, timestamps
  (a string or a ``datetime``), int-or-string, and patterns matched as the Rust regex engine of
  pydantic does (``$`` only at the very end);
* ServiceEntry ports with the same name (the CRD's list-map key);
* map keys that are not strings (YAML ``8080:``): the document is checked again with string
  keys, as the models do.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Callable, Container
from typing import TYPE_CHECKING, Any

from meshlint.models import (
    _NO_SPACE,
    DURATION_PATTERN,
    SchemaIssue,
    _check_api_version,
    _closest,
    _describe,
    _invalid_message,
    _quote,
    _string_keys,
    join_words,
)
from meshlint.verdicts import keep_verdict

if TYPE_CHECKING:
    from meshlint.models.registry import KindInfo

__all__ = ["validate"]

_DURATION = re.compile(DURATION_PATTERN)

Error = tuple[tuple[Any, ...], str, str, str | None]
Errors = list[Error]
Check = Callable[[Any], Errors | None]

# See the table of quick verdicts below the leaves (filled as they are compiled).
_QUICK: dict[Check, tuple[type, Container[Any] | None]] = {}

_KEY = "[key]"  # kind of the error of a map key that is not a string: check again, as the models do
_SCHEMA_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "schemas")


def validate(info: KindInfo, data: dict[str, Any]) -> list[SchemaIssue]:
    """Every schema problem of ``data`` (one resource of kind ``info``); empty when valid."""
    if not isinstance(data, dict):
        return [SchemaIssue((), "wrong_type", f"expected a mapping, got {_describe(data)}")]
    check = _COMPILED.get(info.model_path)
    if check is None:
        check = _COMPILED[info.model_path] = _compile_kind(info)
    errors = check(data)
    issues: list[SchemaIssue] = []
    if errors:
        if any(e[1] == _KEY for e in errors):
            data = _string_keys(data)
            errors = check(data)
        if errors:
            seen: set[SchemaIssue] = set()
            for path, kind, message, suggestion in errors:
                issue = SchemaIssue(path, kind, message, suggestion)
                if issue not in seen:
                    seen.add(issue)
                    issues.append(issue)
    served = _SERVED.get(info.model_path)
    if served is None:
        served = _SERVED[info.model_path] = frozenset(info.api_version(v) for v in info.versions)
    api_version = data.get("apiVersion")
    if not isinstance(api_version, str) or api_version not in served:
        version_issue = _check_api_version(info, data)
        if version_issue is not None:
            return [version_issue, *issues]
    return issues


_COMPILED: dict[str, Check] = {}
_SERVED: dict[str, frozenset[str]] = {}


def _compile_kind(info: KindInfo) -> Check:
    group = f"{info.group}-" if info.group else ""
    name = f"{info.kind.lower()}-{group}{info.preferred}.json"
    with open(os.path.join(_SCHEMA_DIR, name), encoding="utf-8") as fh:
        schema = json.load(fh)
    return _Compiler(schema).model(schema, root=True)


# --------------------------------------------------------------------------------------------
# Messages (the texts of meshlint.models' conversion of pydantic errors)


def _wrong(message: str) -> Errors:
    return [((), "wrong_type", message, None)]


def _invalid(kind: str, value: Any, ctx: dict[str, Any]) -> Errors:
    return [((), "invalid", _invalid_message(kind, value, ctx, ""), None)]


def _mapping_message(value: Any, fields: list[str] | None) -> str:
    if fields is not None:
        more = ", …" if len(fields) > 4 else ""
        message = (
            f"expected a mapping (with fields such as {', '.join(fields[:4])}{more}), "
            f"got {_describe(value)}"
        )
    else:
        message = f"expected a mapping, got {_describe(value)}"
    if isinstance(value, str) and (m := _NO_SPACE.match(value)):
        message += f" (a key needs a space after its colon: '{m[1]}: {m[2]}')"
    return message


def _list_message(value: Any) -> str:
    message = f"expected a list, got {_describe(value)}"
    if isinstance(value, str | int | float | dict):
        message += " (write each item on its own line, starting with '- ')"
    return message


def _prefix(key: Any, errors: Errors) -> Errors:
    return [((key, *p), k, m, s) for p, k, m, s in errors]


# --------------------------------------------------------------------------------------------
# Leaves


def _is_date(value: Any) -> bool:
    # Another YAML loader may give a datetime; without the datetime module there is none.
    dt = sys.modules.get("datetime")
    return dt is not None and isinstance(value, dt.date)


def _string(node: dict[str, Any]) -> Check:
    fmt, pattern = node.get("format"), node.get("pattern")
    if fmt == "byte":
        return _base64
    if fmt == "date-time":
        return _timestamp
    if pattern == DURATION_PATTERN:
        return _duration
    least, most = node.get("minLength"), node.get("maxLength")
    # pydantic matches with the Rust regex engine: "$" is the end of the text, not of a line.
    matcher = re.compile(pattern.replace("$", r"\Z")).search if pattern is not None else None
    if least is None and most is None and matcher is None:
        return _plain_string

    def check(value: Any) -> Errors | None:
        if not isinstance(value, str):
            return _wrong(f"expected a string, got {_describe(value)}")
        if least is not None and len(value) < least:
            return _invalid("string_too_short", value, {"min_length": least})
        if most is not None and len(value) > most:
            return _invalid("string_too_long", value, {"max_length": most})
        if matcher is not None and matcher(value) is None:
            return _invalid("string_pattern_mismatch", value, {"pattern": pattern})
        return None

    return check


def _plain_string(value: Any) -> Errors | None:
    if isinstance(value, str):
        return None
    return _wrong(f"expected a string, got {_describe(value)}")


# Durations found valid (the same few come back on many resources).
_DURATIONS_VALID: dict[str, bool] = {}


def _duration(value: Any) -> Errors | None:
    if not isinstance(value, str):
        return _wrong(f"expected a string, got {_describe(value)}")
    if _DURATION.match(value):
        if type(value) is str:
            keep_verdict(_DURATIONS_VALID, value, True)
        return None
    return [
        (
            (),
            "invalid",
            f"'{value}' is not a duration: use a number with a unit h, m, s, ms, us or ns, "
            "e.g. 30s or 1h30m",
            None,
        )
    ]


def _base64(value: Any) -> Errors | None:
    if not isinstance(value, str):
        return _wrong(f"expected a string, got {_describe(value)}")
    import base64
    import binascii

    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return [((), "invalid", f"'{value[:40]}' is not base64-encoded data", None)]
    return None


def _timestamp(value: Any) -> Errors | None:
    if isinstance(value, str) or _is_date(value):
        return None
    return _wrong(f"expected a string, got {_describe(value)}")


def _int_or_string(value: Any) -> Errors | None:
    if isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
        return None
    return _wrong(f"expected an integer or a string, got {_describe(value)}")


def _boolean(value: Any) -> Errors | None:
    if value is True or value is False:
        return None
    return _wrong(f"expected true or false, got {_describe(value)}")


def _any(value: Any) -> Errors | None:
    return None


def _numeric(node: dict[str, Any], integer: bool) -> Check:
    low, high = node.get("minimum"), node.get("maximum")
    expected = "an integer" if integer else "a number"
    kinds = int if integer else (int, float)

    def check(value: Any) -> Errors | None:
        if not isinstance(value, kinds) or isinstance(value, bool):
            return _wrong(f"expected {expected}, got {_describe(value)}")
        if high is not None and value > high:
            return _invalid("less_than_equal", value, {"le": high})
        if low is not None and value < low:
            return _invalid("greater_than_equal", value, {"ge": low})
        return None

    if integer and isinstance(low, int | None) and isinstance(high, int | None):
        # Every int of the range is valid (ints past 64 bits are left to the check).
        lowest = -(2**63) if low is None else low
        highest = 2**64 if high is None else high
        _QUICK[check] = (int, range(lowest, highest + 1))
    return check


def _literal(choices: list[str]) -> Check:
    allowed = frozenset(choices)
    listed = ", ".join(choices)

    def check(value: Any) -> Errors | None:
        if isinstance(value, str):
            if value in allowed:
                return None
            return [
                (
                    (),
                    "invalid",
                    f"{_quote(value)} is not one of {listed}",
                    _closest(value, choices),
                )
            ]
        return _wrong(f"expected one of {listed}, got {_describe(value)}")

    if all(type(c) is str for c in choices):
        _QUICK[check] = (str, allowed)
    return check


def _nullable(check: Check) -> Check:
    def nullable(value: Any) -> Errors | None:
        return None if value is None else check(value)

    quick = _QUICK.get(check)
    if quick is not None:
        _QUICK[nullable] = quick
    return nullable


# --------------------------------------------------------------------------------------------
# Containers


def _array(items: Check, least: int | None, most: int | None) -> Check:
    quick = _QUICK.get(items)  # items that pass it need no check
    checked = items is not _any

    def check(value: Any) -> Errors | None:
        if not isinstance(value, list):
            return _wrong(_list_message(value))
        if most is not None and len(value) > most:
            return _invalid("too_long", value, {"field_type": "List", "max_length": most})
        if checked and not (quick is not None and _all_pass(value, quick)):
            errors: Errors | None = None
            for i, item in enumerate(value):
                found = items(item)
                if found:
                    if errors is None:
                        errors = []
                    errors += _prefix(i, found)
            if errors:
                return errors
        if least is not None and len(value) < least:
            return _invalid("too_short", value, {"field_type": "List", "min_length": least})
        return None

    return check


def _all_pass(values: list[Any], quick: tuple[type, Container[Any] | None]) -> bool:
    """Whether every item passes a quick verdict (see ``_QUICK``)."""
    kind, within = quick
    if within is None:
        for item in values:  # noqa: SIM110 - a loop: faster than all() on a generator
            if type(item) is not kind:
                return False
        return True
    for item in values:  # noqa: SIM110 - a loop: faster than all() on a generator
        if type(item) is not kind or item not in within:
            return False
    return True


def _map(values: Check, least: int | None, most: int | None) -> Check:
    plain = values is _plain_string

    def check(value: Any) -> Errors | None:
        if not isinstance(value, dict):
            return _wrong(_mapping_message(value, None))
        errors: Errors | None = None
        for key, item in value.items():
            if not isinstance(key, str):
                if errors is None:
                    errors = []
                errors.append(((key,), _KEY, "", None))
            if plain and isinstance(item, str):
                continue
            found = values(item)
            if found:
                if errors is None:
                    errors = []
                errors += _prefix(key, found)
        if errors:
            return errors
        if least is not None and len(value) < least:
            return _invalid("too_short", value, {"field_type": "Dictionary", "min_length": least})
        if most is not None and len(value) > most:
            return _invalid("too_long", value, {"field_type": "Dictionary", "max_length": most})
        return None

    return check


def _dict_any(value: Any) -> Errors | None:
    """``dict[str, Any]``: any values, string keys."""
    if not isinstance(value, dict):
        return _wrong(_mapping_message(value, None))
    for key in value:
        if not isinstance(key, str):
            return [((k,), _KEY, "", None) for k in value if not isinstance(k, str)]
    return None


# Checks that accept every value of exactly this type that is in the container (None: every
# value of the type): a value that passes this test is valid without calling the check.
_QUICK.update(
    {
        _plain_string: (str, None),
        _boolean: (bool, None),
        _timestamp: (str, None),
        _duration: (str, _DURATIONS_VALID),
    }
)


def _one_of_groups(node: dict[str, Any]) -> list[list[str]]:
    """The at-most-one-of groups of a model: ``oneOf: [{not: {anyOf: ...}}, {required}...]``."""
    blocks = [node] if "oneOf" in node else [b for b in node.get("allOf", ()) if "oneOf" in b]
    return [[b["required"][0] for b in block["oneOf"][1:]] for block in blocks]


def _unique_port_names(ports: Any) -> Errors | None:
    """ServiceEntry ports: the CRD's list-map key is the name (a model field validator)."""
    first: dict[str, int] = {}
    for i, port in enumerate(ports or ()):
        name = port["name"]
        if name in first:
            return [
                (
                    (),
                    "invalid",
                    f"ports {first[name]} and {i} have the same name '{name}'; each port needs "
                    "its own name",
                    None,
                )
            ]
        first[name] = i
    return None


# Checks of a field after its value is valid, by (model title, JSON field name).
_FIELD_CHECKS: dict[tuple[str, str], Check] = {("ServiceEntrySpec", "ports"): _unique_port_names}


class _Compiler:
    def __init__(self, schema: dict[str, Any]) -> None:
        self.definitions: dict[str, Any] = schema.get("definitions", {})
        self.done: dict[str, Check] = {}

    def ref(self, ref: str) -> Check:
        name = ref.rsplit("/", 1)[-1]
        check = self.done.get(name)
        if check is None:
            cell: list[Check] = []

            def forward(value: Any) -> Errors | None:  # a recursive reference
                return cell[0](value)

            self.done[name] = forward
            check = self.model(self.definitions[name])
            cell.append(check)
            self.done[name] = check
        return check

    def node(self, node: dict[str, Any]) -> Check:
        if "$ref" in node:
            return self.ref(node["$ref"])
        if "allOf" in node and len(node["allOf"]) == 1 and "$ref" in node["allOf"][0]:
            return self.ref(node["allOf"][0]["$ref"])
        if "anyOf" in node:
            shapes = [b.get("type") for b in node["anyOf"]]
            if shapes == ["integer", "string"]:
                return _int_or_string
            raise ValueError(f"unsupported anyOf: {node['anyOf']}")
        kind = node.get("type")
        if isinstance(kind, list):
            others = [k for k in kind if k != "null"]
            if len(others) != 1:
                raise ValueError(f"unsupported type: {kind}")
            inner = self.node({**node, "type": others[0]})
            return _nullable(inner) if "null" in kind else inner
        if "enum" in node:
            return _literal(node["enum"])
        if "const" in node:
            return _literal([node["const"]])
        if kind == "string":
            return _string(node)
        if kind == "integer":
            return _numeric(node, True)
        if kind == "number":
            return _numeric(node, False)
        if kind == "boolean":
            return _boolean
        if kind == "array":
            items = self.node(node["items"]) if "items" in node else _any
            return _array(items, node.get("minItems"), node.get("maxItems"))
        if kind == "object":
            extra = node.get("additionalProperties", True)
            if isinstance(extra, dict):
                return _map(self.node(extra), node.get("minProperties"), node.get("maxProperties"))
            return _dict_any
        if kind is None and not (set(node) - {"description", "title", "default"}):
            return _any
        raise ValueError(f"unsupported schema node: {node}")

    def model(self, node: dict[str, Any], root: bool = False) -> Check:
        """An object with declared fields (a pydantic model)."""
        props: dict[str, Any] = node.get("properties", {})
        required = node.get("required", [])
        title = str(node.get("title", ""))
        names = list(props)
        # name → (position, check or None for any value, null allowed, the type and the
        # container of the values that need no check (see _QUICK), check after a valid value)
        table: dict[
            str, tuple[int, Check | None, bool, type | None, Container[Any] | None, Check | None]
        ] = {}
        for i, (name, sub) in enumerate(props.items()):
            if root and name == "apiVersion":
                check: Check = _plain_string  # any string; the served versions are checked apart
            else:
                check = self.node(sub)
            optional = name not in required and not (root and name == "metadata")
            after = _FIELD_CHECKS.get((title, name))
            fast, within = _QUICK.get(check, (None, None)) if after is None else (None, None)
            table[name] = (i, None if check is _any else check, optional, fast, within, after)
        missing = [(names.index(n), n) for n in required]
        forbid = node.get("additionalProperties", True) is False
        groups = _one_of_groups(node)
        fields = names
        extra = len(table)  # the position of unknown keys: after every field

        def check_model(value: Any) -> Errors | None:
            if not isinstance(value, dict):
                return _wrong(_mapping_message(value, fields))
            found: list[tuple[int, Errors]] | None = None
            for key, item in value.items():
                try:
                    position, sub, optional, fast, within, after = table[key]
                except KeyError:
                    if not isinstance(key, str):
                        at = int(key) if isinstance(key, bool) else key  # as pydantic's loc
                        error: Error = ((at,), "invalid", "Keys should be strings", None)
                    elif forbid:
                        suggestion = _closest(key, names)
                        error = ((key,), "unknown_field", f"unknown field '{key}'", suggestion)
                    else:
                        continue
                    if found is None:
                        found = []
                    found.append((extra, [error]))
                    continue
                if type(item) is fast and (within is None or item in within):
                    continue
                if sub is None or (item is None and optional):
                    continue
                errors = sub(item)
                if errors is None and after is not None:
                    errors = after(item)
                if errors:
                    if found is None:
                        found = []
                    found.append((position, _prefix(key, errors)))
            for position, name in missing:
                if name not in value:
                    if found is None:
                        found = []
                    message = f"missing required field '{name}'"
                    found.append((position, [((name,), "missing", message, None)]))
            if found:
                found.sort(key=lambda f: f[0])  # stable: unknown keys keep the input's order
                return [e for _, errors in found for e in errors]
            if groups and len(value) > 1:  # a group is broken by two values or more
                for group in groups:
                    given = [n for n in group if value.get(n) is not None]
                    if len(given) > 1:
                        message = f"set only one of {join_words(group, 'or')}; this sets {join_words(given, 'and')}"
                        return [((), "invalid", message, None)]
            return None

        return check_model
