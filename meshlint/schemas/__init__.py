"""JSON Schemas of every kind and apiVersion, generated from the models.

One file per kind and apiVersion, e.g. ``virtualservice-networking.istio.io-v1.json`` (core kinds:
``service-v1.json``), committed in this folder and shipped as package data. They use JSON Schema
draft 7, the draft editors support through yaml-language-server::

    # yaml-language-server: $schema=<path>/virtualservice-networking.istio.io-v1.json

Regenerate them after changing a model with ``python -m meshlint.schemas``.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic import BaseModel

    from meshlint.models.registry import KindInfo

__all__ = ["DIALECT", "filename", "generate", "load", "write"]

DIALECT = "http://json-schema.org/draft-07/schema#"
PACKAGE_DIR = Path(__file__).resolve().parent


def filename(info: KindInfo, version: str) -> str:
    """The file name of the schema of one kind and version."""
    group = f"{info.group}-" if info.group else ""
    return f"{info.kind.lower()}-{group}{version}.json"


def generate() -> dict[str, dict[str, Any]]:
    """Every schema, by file name."""
    from meshlint.models.registry import KINDS

    out: dict[str, dict[str, Any]] = {}
    for info in KINDS:
        base = _model_schema(info.model)
        for version in info.versions:
            out[filename(info, version)] = _for_version(base, info, version)
    return out


def write(directory: str | Path | None = None) -> list[str]:
    """Write every schema into ``directory`` (default: this package's folder); the paths written."""
    target = Path(directory) if directory is not None else PACKAGE_DIR
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in generate().items():
        path = target / name
        path.write_text(dumps(schema), encoding="utf-8")
        written.append(str(path))
    return written


def dumps(schema: dict[str, Any]) -> str:
    """The text of a schema file, as committed."""
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def load(api_version: str, kind: str) -> dict[str, Any] | None:
    """The committed schema of a kind and apiVersion, or None if meshlint has none."""
    from meshlint.models.registry import BY_GROUP_KIND, split_api_version

    group, version = split_api_version(api_version)
    info = BY_GROUP_KIND.get((group, kind))
    if info is None or version not in info.versions:
        return None
    return _read(filename(info, version))


@cache
def _read(name: str) -> dict[str, Any] | None:
    from importlib.resources import files

    try:
        text = files(__name__).joinpath(name).read_text(encoding="utf-8")
    except (FileNotFoundError, OSError):
        return None
    data: dict[str, Any] = json.loads(text)
    return data


# --------------------------------------------------------------------------------------------
# Generation


def _for_version(base: dict[str, Any], info: KindInfo, version: str) -> dict[str, Any]:
    api_version = info.api_version(version)
    body = copy.deepcopy(base)
    props = body.setdefault("properties", {})
    props["apiVersion"] = {
        "type": "string",
        "const": api_version,
        "description": f"The group and version: {api_version}.",
    }
    props["kind"] = {"type": "string", "const": info.kind}
    required = body.setdefault("required", [])
    for name in ("kind", "apiVersion"):
        if name not in required:
            required.insert(0, name)
    schema: dict[str, Any] = {
        "$schema": DIALECT,
        "title": f"{info.kind} ({api_version})",
    }
    schema.update((k, v) for k, v in body.items() if k != "title")
    return schema


@cache
def _model_schema(model: type[BaseModel]) -> dict[str, Any]:
    from pydantic.json_schema import GenerateJsonSchema

    class Draft7(GenerateJsonSchema):
        schema_dialect = DIALECT

        def field_title_should_be_set(self, schema: Any) -> bool:
            return False

        def nullable_schema(self, schema: Any) -> Any:
            # An unset optional field is absent, not null (null only where the CRD says nullable).
            return self.generate_inner(schema["schema"])

        def default_schema(self, schema: Any) -> Any:
            if schema.get("default", ...) is None:
                return self.generate_inner(schema["schema"])
            return super().default_schema(schema)

    raw = model.model_json_schema(
        by_alias=True, ref_template="#/definitions/{model}", schema_generator=Draft7
    )
    defs = raw.pop("$defs", None)
    if defs:
        raw["definitions"] = defs
    result: dict[str, Any] = _draft7(raw)
    return result


def _draft7(node: Any) -> Any:
    """Siblings of ``$ref`` are ignored in draft 7: move the reference into an ``allOf``."""
    if isinstance(node, list):
        return [_draft7(x) for x in node]
    if not isinstance(node, dict):
        return node
    out = {k: _draft7(v) for k, v in node.items()}
    if "$ref" in out and len(out) > 1:
        ref = out.pop("$ref")
        out = {"allOf": [{"$ref": ref}], **out}
    return out
