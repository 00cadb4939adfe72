"""ML210: resources of kinds meshlint does not model, against JSON Schemas the user points to.

meshlint's typed models cover the mesh kinds and the Kubernetes kinds the mesh rules read. Every
other resource (a ConfigMap, a cert-manager Certificate, a Gateway API HTTPRoute) can be checked
the way kubeconform checks it: against JSON Schemas found through ``--schema-location`` (repeatable)
or ``schema-locations:`` in the configuration.

A location is one of:

* **a folder** (a local path, or an http(s) or file URL without placeholders). In it these names
  are tried, in this order, with the kind lower-cased and ``group`` empty for the core group::

      {kind}-{group}-{version}.json      certificate-cert-manager.io-v1.json   (not for core kinds)
      {kind}_{version}.json              certificate_v1.json                   (openapi2jsonschema)
      {kind}-{version}.json              configmap-v1.json
      {group}/{kind}_{version}.json      cert-manager.io/certificate_v1.json   (CRDs-catalog; not core)
      {kind}{kind_suffix}.json           certificate-cert-manager-v1.json      (kubernetes-json-schema)

  where ``kind_suffix`` is kubeconform's ``KindSuffix``: ``-{version}`` for the core group and
  ``-{first label of the group}-{version}`` otherwise (``apps/v1`` → ``-apps-v1``).
  Unlike kubeconform, nothing such as ``/master-standalone/`` is appended to a folder.

* **a path or URL template** with placeholders: ``{kind}`` (lower-cased), ``{group}`` (empty for
  core), ``{version}``, ``{api_version}`` (as written: ``cert-manager.io/v1``), or kubeconform's
  Go-template spellings ``{{ .ResourceKind }}``, ``{{ .ResourceAPIVersion }}`` (the version),
  ``{{ .Group }}`` (as in kubeconform: the part of apiVersion before the slash, so ``v1`` for core
  kinds), ``{{ .KindSuffix }}``, ``{{ .NormalizedKubernetesVersion }}`` (always ``master``) and
  ``{{ .StrictSuffix }}`` (always empty).

Locations are tried in order and the first schema found wins. A kind that has no schema in any
location is skipped without a finding (kubeconform's ``-ignore-missing-schemas``). Schemas are read
once per :class:`SchemaStore`; relative ``$ref`` s to other files next to a schema are followed
(kubernetes-json-schema's non-standalone layout). A location that makes no sense, a schema that
is not JSON or not a valid JSON Schema, an unresolvable ``$ref`` or an unreachable URL raise
:class:`ExternalSchemaError` (a :class:`~meshlint.config.ConfigError`: a usage error) once; the
kinds it concerns are skipped afterwards.

The engine calls :func:`external_findings` on every resource, like
:func:`meshlint.models.verdict.model_findings`, and reports each finding as ML210.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from meshlint.diagnostics import ConfigError, FieldPath, Finding, format_path
from meshlint.models.registry import BY_GROUP_KIND
from meshlint.resource import Resource
from meshlint.suggest import closest

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError

FETCH_TIMEOUT = 5.0  # seconds, for each http(s) request
MAX_SCHEMA_BYTES = 64 * 1024 * 1024


class ExternalSchemaError(ConfigError):
    """A schema location or a schema that cannot be used; a usage error (exit status 2)."""


# --- locations ---------------------------------------------------------------------------------

_GO = re.compile(r"\{\{-?\s*\.([A-Za-z]+)\s*-?\}\}")
_BRACE = re.compile(r"\{([A-Za-z_]+)\}")
_GO_FIELDS = (
    "ResourceKind",
    "ResourceAPIVersion",
    "Group",
    "KindSuffix",
    "NormalizedKubernetesVersion",
    "StrictSuffix",
)
_BRACE_FIELDS = ("kind", "group", "version", "api_version")

# What may go into a file name or URL: anything else is not a kind, group or version.
_KIND = re.compile(r"^[A-Za-z][A-Za-z0-9]*$")
_GROUP = re.compile(r"^(?:[a-z0-9]([a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*)?$")
_VERSION = re.compile(r"^[a-z0-9]+$")


@dataclass(frozen=True)
class _Names:
    """What a location is filled in with for one resource."""

    kind: str  # lower-cased
    group: str  # "" for core
    version: str
    api_version: str

    @property
    def kind_suffix(self) -> str:
        """kubeconform's KindSuffix: ``-v1`` for ``v1``, ``-apps-v1`` for ``apps/v1``."""
        head, _, tail = self.api_version.partition("/")
        suffix = "-" + head.split(".")[0].lower()
        return suffix + ("-" + tail.lower() if tail else "")

    def go(self, field: str) -> str:
        head = self.api_version.split("/")[0]
        return {
            "ResourceKind": self.kind,
            "ResourceAPIVersion": self.version,
            "Group": head,
            "KindSuffix": self.kind_suffix,
            "NormalizedKubernetesVersion": "master",
            "StrictSuffix": "",
        }[field]

    def brace(self, field: str) -> str:
        return {
            "kind": self.kind,
            "group": self.group,
            "version": self.version,
            "api_version": self.api_version,
        }[field]

    def folder_files(self) -> list[str]:
        k, g, v = self.kind, self.group, self.version
        names = [f"{k}-{g}-{v}.json"] if g else []
        names += [f"{k}_{v}.json", f"{k}-{v}.json"]
        if g:
            names.append(f"{g}/{k}_{v}.json")
        names.append(f"{k}{self.kind_suffix}.json")
        return list(dict.fromkeys(names))


def _names(res: Resource) -> _Names | None:
    """None for a resource whose kind, group or version cannot name a schema file."""
    if not (_KIND.match(res.kind) and _GROUP.match(res.group) and _VERSION.match(res.version)):
        return None
    if res.api_version != (f"{res.group}/{res.version}" if res.group else res.version):
        return None
    return _Names(res.kind.lower(), res.group, res.version, res.api_version)


@dataclass(frozen=True)
class _Location:
    text: str  # as the user wrote it
    base: str  # a folder or a template: a local path or an http(s) URL
    template: bool
    remote: bool

    def candidates(self, names: _Names) -> list[str]:
        if self.template:
            filled = _GO.sub(lambda m: names.go(m.group(1)), self.base)
            return [_BRACE.sub(lambda m: names.brace(m.group(1)), filled)]
        if self.remote:
            return [self.base.rstrip("/") + "/" + f for f in names.folder_files()]
        return [os.path.join(self.base, *f.split("/")) for f in names.folder_files()]


def _parse_location(text: str) -> _Location:
    where = f"schema location {text!r}"
    raw = text.strip()
    if not raw:
        raise ExternalSchemaError(f"{where}: empty")
    scheme = raw.split("://", 1)[0].lower() if "://" in raw else ""
    if scheme not in ("", "http", "https", "file"):
        raise ExternalSchemaError(
            f"{where}: unsupported scheme {scheme}://; use a local path, "
            "file://, http:// or https://"
        )
    remote = scheme in ("http", "https")
    if scheme == "file":
        from urllib.parse import unquote, urlsplit
        from urllib.request import url2pathname

        raw = url2pathname(unquote(urlsplit(raw).path))
    unknown = sorted({m.group(1) for m in _GO.finditer(raw)} - set(_GO_FIELDS))
    rest = _GO.sub("", raw)
    if "{{" in rest or "}}" in rest:
        raise ExternalSchemaError(
            f"{where}: only simple placeholders such as {{{{ .ResourceKind }}}} are supported"
        )
    unknown += sorted({m.group(1) for m in _BRACE.finditer(rest)} - set(_BRACE_FIELDS))
    if unknown:
        known = ", ".join(
            [f"{{{f}}}" for f in _BRACE_FIELDS] + [f"{{{{ .{f} }}}}" for f in _GO_FIELDS]
        )
        raise ExternalSchemaError(
            f"{where}: unknown placeholder {', '.join(unknown)}; known: {known}"
        )
    template = raw != rest or _BRACE.search(rest) is not None
    if not template and not remote:
        if os.path.isfile(raw):
            raise ExternalSchemaError(
                f"{where} is a file: a location is a folder of schemas, or a path with "
                "placeholders such as schemas/{kind}-{version}.json"
            )
        if not os.path.isdir(raw):
            raise ExternalSchemaError(f"{where}: no such folder")
    return _Location(text, raw, template, remote)


# --- reading and compiling schemas -------------------------------------------------------------


class _Missing:
    pass


_MISSING = _Missing()


@dataclass
class _Compiled:
    validator: Any  # a jsonschema Validator
    where: str  # the file or URL, as shown to the user


class SchemaStore:
    """The schemas of one run: locations parsed once, every schema read and compiled once."""

    def __init__(self, locations: Sequence[str], *, timeout: float = FETCH_TIMEOUT) -> None:
        self.locations = [_parse_location(loc) for loc in locations]
        self.timeout = timeout
        self._docs: dict[str, Any] = {}  # file or URL → parsed JSON, or _MISSING
        self._compiled: dict[str, _Compiled | None] = {}  # None: broken, already reported
        self._by_kind: dict[tuple[str, str, str], _Compiled | None] = {}

    def findings(self, res: Resource) -> Iterator[Finding]:
        if not self.locations or not _wanted(res):
            return
        names = _names(res)
        if names is None:
            return
        key = (names.group, names.version, res.kind)
        if key in self._by_kind:
            compiled = self._by_kind[key]
        else:
            self._by_kind[key] = None  # if finding it raises, the kind is skipped from now on
            compiled = self._by_kind[key] = self._find(names, res)
        if compiled is None:
            return
        from referencing.exceptions import Unresolvable

        try:
            errors = list(compiled.validator.iter_errors(res.data))
        except Unresolvable as exc:
            self._forget(compiled)
            raise ExternalSchemaError(
                f"the schema {compiled.where} (for {res.kind} {res.api_version}) has a $ref "
                f"that cannot be resolved: {getattr(exc, 'ref', exc)}{_why(exc)}"
            ) from None
        except RecursionError:
            self._forget(compiled)
            raise ExternalSchemaError(
                f"the schema {compiled.where} (for {res.kind} {res.api_version}) refers to "
                "itself without end"
            ) from None
        # In the document's order: jsonschema's own order depends on sets and on the schema.
        found = {(f.path, f.message): f for f in _findings(errors, res.data)}
        doc = res.doc
        yield from sorted(found.values(), key=lambda f: (doc.locate(f.path, key=f.key), f.message))

    def _forget(self, compiled: _Compiled) -> None:
        self._compiled[compiled.where] = None
        for k, v in list(self._by_kind.items()):
            if v is compiled:
                self._by_kind[k] = None

    def _find(self, names: _Names, res: Resource) -> _Compiled | None:
        for loc in self.locations:
            for where in loc.candidates(names):
                if where in self._compiled:
                    return self._compiled[where]
                doc = self._load(where, loc.remote, res)
                if doc is _MISSING:
                    continue
                self._compiled[where] = None  # if compiling raises, it is reported once
                compiled = self._compiled[where] = self._compile(where, loc.remote, doc, res)
                return compiled
        return None

    def _load(self, where: str, remote: bool, res: Resource | None) -> Any:
        if where in self._docs:
            return self._docs[where]
        self._docs[where] = _MISSING  # if reading raises, it is reported once
        for_what = f" (for {res.kind} {res.api_version})" if res is not None else ""
        data = _fetch(where, self.timeout, for_what) if remote else _read(where, for_what)
        if data is None:
            return _MISSING
        if len(data) > MAX_SCHEMA_BYTES:
            raise ExternalSchemaError(
                f"the schema {where}{for_what} is larger than "
                f"{MAX_SCHEMA_BYTES // (1024 * 1024)} MiB"
            )
        try:
            doc = json.loads(data)
        except ValueError as exc:
            where_in = ""
            if isinstance(exc, json.JSONDecodeError):
                where_in = f" at line {exc.lineno}, column {exc.colno}"
                exc_text = exc.msg
            else:
                exc_text = str(exc)
            raise ExternalSchemaError(
                f"the schema {where}{for_what} is not valid JSON: {exc_text}{where_in}"
            ) from None
        self._docs[where] = doc
        return doc

    def _compile(self, where: str, remote: bool, schema: Any, res: Resource) -> _Compiled:
        import jsonschema
        import referencing.jsonschema
        from jsonschema.validators import validator_for
        from jsonschema_specifications import REGISTRY as SPECIFICATIONS
        from referencing import Registry
        from referencing import Resource as SchemaResource

        bad = f"the schema {where} (for {res.kind} {res.api_version}) is not a valid JSON Schema"
        if not isinstance(schema, (dict, bool)):
            raise ExternalSchemaError(f"{bad}: its top level is {_describe(schema)}, not an object")
        if isinstance(schema, dict) and not isinstance(schema.get("$schema", ""), str):
            raise ExternalSchemaError(f"{bad}: `$schema` must be a string")
        cls = validator_for(schema, default=jsonschema.Draft7Validator)
        try:
            cls.check_schema(schema)
        except jsonschema.SchemaError as exc:
            at = "/".join(str(p) for p in exc.absolute_path)
            raise ExternalSchemaError(
                f"{bad}: {_short(exc.message)} (at {'/' + at if at else 'its top level'})"
            ) from None
        spec = referencing.jsonschema.specification_with(
            cls.META_SCHEMA.get("$schema", ""), default=referencing.jsonschema.DRAFT7
        )
        uri = where if remote else Path(where).resolve().as_uri()

        def retrieve(ref: str) -> Any:
            doc = self._load(_from_uri(ref), ref.startswith(("http://", "https://")), None)
            if doc is _MISSING:
                raise _NoSuchSchema(_from_uri(ref))
            return SchemaResource.from_contents(doc, default_specification=spec)

        registry: Any = SPECIFICATIONS.combine(Registry(retrieve=retrieve))  # type: ignore[call-arg]
        registry = registry.with_resource(
            uri, SchemaResource.from_contents(schema, default_specification=spec)
        )
        # A reference to the schema, not the schema: relative $refs in it resolve next to it.
        return _Compiled(cls({"$ref": uri}, registry=registry), where)


class _NoSuchSchema(LookupError):
    pass


def _why(exc: BaseException) -> str:
    """What lies under a $ref that cannot be resolved: a missing or a broken file."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, _NoSuchSchema):
            return f" (there is no {cause})"
        if isinstance(cause, ExternalSchemaError):
            return f" ({cause})"
        cause = cause.__cause__ or cause.__context__
    return ""


def _from_uri(uri: str) -> str:
    if uri.startswith("file:"):
        from urllib.parse import unquote, urlsplit
        from urllib.request import url2pathname

        return url2pathname(unquote(urlsplit(uri).path))
    return uri


def _read(path: str, for_what: str) -> bytes | None:
    try:
        if not os.path.isfile(path):
            return None
        with open(path, "rb") as fh:
            return fh.read(MAX_SCHEMA_BYTES + 1)
    except OSError as exc:
        raise ExternalSchemaError(
            f"cannot read the schema {path}{for_what}: {exc.strerror or exc}"
        ) from None


def _fetch(url: str, timeout: float, for_what: str) -> bytes | None:
    """The body at ``url``; None for 404 and 410 (no schema there)."""
    import urllib.error
    import urllib.request

    from meshlint import __version__

    request = urllib.request.Request(url, headers={"User-Agent": f"meshlint/{__version__}"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            data: bytes = response.read(MAX_SCHEMA_BYTES + 1)
            return data
    except urllib.error.HTTPError as exc:
        if exc.code in (404, 410):
            return None
        raise ExternalSchemaError(
            f"cannot fetch the schema {url}{for_what}: HTTP {exc.code} {exc.reason}"
        ) from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise ExternalSchemaError(
            f"cannot fetch the schema {url}{for_what}: {_one_line(reason)} (waited at most "
            f"{timeout:g}s; is the network reachable? a local folder of schemas works offline)"
        ) from None


# --- which resources ---------------------------------------------------------------------------


def _wanted(res: Resource) -> bool:
    """Resources of kinds meshlint does not model (and that are not a case typo of one)."""
    if not res.kind or not res.api_version or (res.group, res.kind) in BY_GROUP_KIND:
        return False
    lowered = res.kind.lower()
    return not any(g == res.group and k.lower() == lowered for g, k in BY_GROUP_KIND)


# --- errors in the user's terms ----------------------------------------------------------------

_TYPE_NAMES = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean",
    "object": "a mapping",
    "array": "a list",
    "null": "null",
}


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"the boolean {'true' if value else 'false'}"
    if isinstance(value, int):
        return f"the integer {value}"
    if isinstance(value, float):
        return f"the number {value!r}"
    if isinstance(value, str):
        return f"the string {_show(value)}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"the value {_show(value)}"


def _show(value: Any, limit: int = 60) -> str:
    if isinstance(value, str):
        text = value if len(value) <= limit else value[: limit - 1] + "…"
        return "'" + text.replace("'", "''") + "'"
    try:
        text = json.dumps(value, ensure_ascii=False, default=str)
    except ValueError:
        text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _alternatives(items: Iterable[str], last: str = "or") -> str:
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + f" {last} " + items[-1]


def _types(expected: Any) -> str:
    names = [expected] if isinstance(expected, str) else list(expected or ())
    return _alternatives([_TYPE_NAMES.get(str(n), str(n)) for n in names])


def _closest(word: str, choices: Iterable[str]) -> str | None:
    return closest(word, choices)


def _short(text: str, limit: int = 200) -> str:
    text = _one_line(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _one_line(value: object) -> str:
    return " ".join(str(value).split())


def _at(data: Any, path: FieldPath) -> Any:
    for elem in path:
        try:
            data = data[elem]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def _findings(errors: Iterable[ValidationError], data: Any) -> Iterator[Finding]:
    for error in errors:
        yield from _finding(error, data)


def _finding(error: ValidationError, data: Any) -> Iterator[Finding]:
    path: FieldPath = tuple(error.absolute_path)
    keyword, expected, instance = error.validator, error.validator_value, error.instance
    schema = error.schema if isinstance(error.schema, dict) else {}
    convert = _MESSAGES.get(str(keyword))
    if keyword == "required":
        for name in expected:
            if isinstance(instance, dict) and name not in instance:
                yield Finding((*path, name), f"missing required field `{name}`", key=True)
        return
    if keyword in ("additionalProperties", "unevaluatedProperties") and expected is False:
        extras = _extras(error, schema)
        if extras:
            known = list(schema.get("properties", {}))
            for name in extras:
                message, fix = f"unknown field `{name}`", None
                close = _closest(name, known)
                if close is not None:
                    message += f"; did you mean `{close}`?"
                    fix = f"rename `{name}` to `{close}`"
                yield Finding((*path, name), message, fix=fix, key=True)
            return
    if keyword is None and error.schema is False:  # a `false` subschema: nothing is allowed
        yield _not_allowed(path, instance, data)
        return
    if keyword == "enum":
        yield _enum(path, expected, instance)
        return
    if keyword in ("oneOf", "anyOf"):
        yield Finding(path, _combined(error, data))
        return
    if convert is not None:
        yield Finding(path, convert(expected, instance, error))
        return
    yield Finding(path, _short(error.message))


def _extras(error: ValidationError, schema: dict[str, Any]) -> list[str]:
    instance = error.instance
    if not isinstance(instance, dict):
        return []
    if error.validator == "unevaluatedProperties":
        m = re.search(r"\((.*) (?:was|were) unexpected\)", error.message)
        if m is None:
            return []
        import ast

        try:
            names = ast.literal_eval("(" + m.group(1) + ",)")
        except (ValueError, SyntaxError):
            return []
        return [n for n in names if isinstance(n, str) and n in instance]
    properties = schema.get("properties", {})
    patterns = list(schema.get("patternProperties", {}))
    out = []
    for name in instance:
        if name in properties:
            continue
        try:
            if any(re.search(p, name) for p in patterns):
                continue
        except re.error:
            pass
        out.append(name)
    return out


def _not_allowed(path: FieldPath, instance: Any, data: Any) -> Finding:
    # jsonschema leaves the path of a `false` subschema at its parent; find the child it meant.
    parent = _at(data, path)
    children: Iterable[tuple[Any, Any]] = ()
    if isinstance(parent, dict):
        children = parent.items()
    elif isinstance(parent, list):
        children = enumerate(parent)
    matches = [k for k, v in children if v is instance]
    if len(matches) == 1 and parent is not instance:
        child = matches[0]
        what = f"field `{child}`" if isinstance(child, str) else f"item {child}"
        return Finding((*path, child), f"{what} is not allowed here", key=True)
    return Finding(path, f"{_describe(instance)} is not allowed here")


def _enum(path: FieldPath, expected: Any, instance: Any) -> Finding:
    values = list(expected) if isinstance(expected, (list, tuple)) else [expected]
    shown = ", ".join(_show(v) for v in values[:12]) + (", …" if len(values) > 12 else "")
    message, fix = f"{_show(instance)} is not one of {shown}", None
    if isinstance(instance, str):
        close = _closest(instance, values)
        if close is not None:
            message += f"; did you mean {_show(close)}?"
            if path and isinstance(path[-1], str):
                fix = f"{path[-1]}: {close}"
    return Finding(path, message, fix=fix)


def _combined(error: ValidationError, data: Any) -> str:
    instance = error.instance
    context = list(error.context or ())
    if not context:
        return "matches more than one of the allowed forms; it must match exactly one"
    if all(c.validator == "type" and not c.relative_path for c in context):
        wanted: list[str] = []
        for c in context:
            for t in (
                [c.validator_value] if isinstance(c.validator_value, str) else c.validator_value
            ):
                if t not in wanted:
                    wanted.append(t)
        return f"expected {_types(wanted)}, got {_describe(instance)}"
    from jsonschema.exceptions import best_match

    best = best_match(context)
    if best is None:
        return "matches none of the allowed forms"
    inner = next(_finding(best, data), None)
    detail = inner.message if inner is not None else _short(best.message)
    where = format_path(best.relative_path)
    return f"matches none of the allowed forms; closest: {where + ': ' if where else ''}{detail}"


def _minimum(expected: Any, instance: Any, error: ValidationError) -> str:
    if isinstance(error.schema, dict) and error.schema.get("exclusiveMinimum") is True:
        return f"must be greater than {expected}, got {_show(instance)}"
    return f"must be at least {expected}, got {_show(instance)}"


def _maximum(expected: Any, instance: Any, error: ValidationError) -> str:
    if isinstance(error.schema, dict) and error.schema.get("exclusiveMaximum") is True:
        return f"must be less than {expected}, got {_show(instance)}"
    return f"must be at most {expected}, got {_show(instance)}"


def _plural(n: Any, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


_MESSAGES: dict[str, Callable[[Any, Any, ValidationError], str]] = {
    "type": lambda e, i, _: f"expected {_types(e)}, got {_describe(i)}",
    "const": lambda e, i, _: f"must be {_show(e)}, got {_show(i)}",
    "minimum": _minimum,
    "maximum": _maximum,
    "exclusiveMinimum": lambda e, i, _: f"must be greater than {e}, got {_show(i)}",
    "exclusiveMaximum": lambda e, i, _: f"must be less than {e}, got {_show(i)}",
    "multipleOf": lambda e, i, _: f"must be a multiple of {e}, got {_show(i)}",
    "minLength": lambda e, i, _: f"must be at least {_plural(e, 'character')} long, got {len(i)}",
    "maxLength": lambda e, i, _: f"must be at most {_plural(e, 'character')} long, got {len(i)}",
    "pattern": lambda e, i, _: f"{_show(i)} does not match the pattern `{e}`",
    "minItems": lambda e, i, _: f"must have at least {_plural(e, 'item')}, got {len(i)}",
    "maxItems": lambda e, i, _: f"must have at most {_plural(e, 'item')}, got {len(i)}",
    "uniqueItems": lambda e, i, _: "the list has duplicate items; they must be unique",
    "minProperties": lambda e, i, _: f"must have at least {_plural(e, 'field')}, got {len(i)}",
    "maxProperties": lambda e, i, _: f"must have at most {_plural(e, 'field')}, got {len(i)}",
    "not": lambda e, i, _: f"{_describe(i)} is not allowed here",
}


# --- what the engine calls ---------------------------------------------------------------------

_STORES: dict[tuple[str, ...], SchemaStore | None] = {}


def external_findings(res: Resource, locations: Sequence[str] | SchemaStore) -> Iterator[Finding]:
    """The ML210 findings of one resource against the schemas at ``locations``.

    ``locations`` is the configuration's ``schema_locations`` (then the parsed locations and
    every schema read are kept until :func:`reset_cache`), or a :class:`SchemaStore` the caller
    keeps for one run. Nothing is found for modelled kinds, without locations, or for a kind
    with no schema. Raises :class:`ExternalSchemaError` once for each location or schema that
    cannot be used; the kinds it concerns are skipped afterwards.
    """
    if isinstance(locations, SchemaStore):
        store: SchemaStore | None = locations
    else:
        if not locations:
            return
        key = tuple(locations)
        if key in _STORES:
            store = _STORES[key]
        else:
            _STORES[key] = None  # if the locations are wrong, say so once
            store = _STORES[key] = SchemaStore(locations)
    if store is not None:
        yield from store.findings(res)


def reset_cache() -> None:
    """Forget every schema read through :func:`external_findings`; call once per run."""
    _STORES.clear()
