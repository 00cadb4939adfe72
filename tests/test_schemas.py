"""The JSON Schemas generated from the models: committed, current, usable, and true to the CRDs."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from meshlint import schemas
from meshlint.loader import load_paths
from meshlint.models.common import DURATION_PATTERN, INT32_MAX, INT32_MIN
from meshlint.models.registry import BY_GROUP_KIND, KINDS, KindInfo, split_api_version

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus"
CRDS = CORPUS / "istio-crds.yaml"
SCHEMA_DIR = REPO / "meshlint" / "schemas"
STALE = "the committed schemas are stale: run `python -m meshlint.schemas` and commit the result"

try:
    _Loader: Any = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - PyYAML without libyaml
    _Loader = yaml.SafeLoader


@cache
def generated() -> dict[str, dict[str, Any]]:
    return schemas.generate()


# --------------------------------------------------------------------------------------------
# Committed and current


def test_one_schema_per_kind_and_version() -> None:
    names = set(generated())
    expected = {schemas.filename(k, v) for k in KINDS for v in k.versions}
    assert names == expected
    assert "virtualservice-networking.istio.io-v1.json" in names
    assert "service-v1.json" in names and "deployment-apps-v1.json" in names


def test_committed_schemas_are_current() -> None:
    committed = {p.name for p in SCHEMA_DIR.glob("*.json")}
    assert committed == set(generated()), STALE
    for name, schema in generated().items():
        text = (SCHEMA_DIR / name).read_text(encoding="utf-8")
        assert text == schemas.dumps(schema), f"{name}: {STALE}"


def test_write_and_load(tmp_path: Path) -> None:
    written = schemas.write(tmp_path)
    assert len(written) == len(generated())
    name = "gateway-networking.istio.io-v1beta1.json"
    assert json.loads((tmp_path / name).read_text(encoding="utf-8")) == generated()[name]
    loaded = schemas.load("networking.istio.io/v1beta1", "Gateway")
    assert loaded == generated()[name]
    assert schemas.load("v1", "Service") == generated()["service-v1.json"]
    assert schemas.load("networking.istio.io/v2", "Gateway") is None
    assert schemas.load("gateway.networking.k8s.io/v1", "Gateway") is None


@pytest.mark.parametrize("name", sorted(schemas.filename(k, v) for k in KINDS for v in k.versions))
def test_schema_is_valid_draft7_with_consts(name: str) -> None:
    schema = generated()[name]
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    jsonschema.Draft7Validator.check_schema(schema)
    props = schema["properties"]
    assert {"apiVersion", "kind", "metadata", "spec"} <= set(props) or name.startswith(
        ("namespace", "serviceaccount")
    )
    assert {"apiVersion", "kind"} <= set(schema["required"])
    group, version = split_api_version(props["apiVersion"]["const"])
    info = BY_GROUP_KIND[group, props["kind"]["const"]]
    assert schemas.filename(info, version) == name


def test_schema_rejects_other_version_kind_and_unknown_fields() -> None:
    validator = jsonschema.Draft7Validator(
        generated()["virtualservice-networking.istio.io-v1.json"]
    )
    good = {
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "metadata": {"name": "a"},
        "spec": {"hosts": ["a"], "http": [{"timeout": "1s"}]},
    }
    assert not list(validator.iter_errors(good))
    for bad in (
        good | {"apiVersion": "networking.istio.io/v1beta1"},
        good | {"kind": "Gateway"},
        good | {"spec": {"hosts": ["a"], "http": [{"retires": {}}]}},
        good | {"spec": {"hosts": "a"}},
        good | {"spec": {"http": [{"timeout": "1d"}]}},
        good | {"spec": {"http": [{"match": [{"uri": {"exact": "/", "prefix": "/"}}]}]}},
    ):
        assert list(validator.iter_errors(bad)), bad


# --------------------------------------------------------------------------------------------
# The corpus validates against the committed schemas too


def corpus_documents(*patterns: str) -> list[tuple[str, KindInfo, dict[str, Any]]]:
    files = [str(p) for pattern in patterns for p in sorted(CORPUS.glob(pattern))]
    assert files, f"no corpus under {CORPUS}: the tests need ../shared/corpus beside the repo"
    out = []
    for doc in load_paths(files).documents:
        data = doc.data
        if not isinstance(data, dict):
            continue
        group, _ = split_api_version(str(data.get("apiVersion", "")))
        info = BY_GROUP_KIND.get((group, str(data.get("kind"))))
        if info is not None:
            data = {k: v for k, v in data.items() if k != "_err"}
            out.append((f"{Path(doc.source.name).name}:{doc.line}", info, data))
    return out


def test_corpus_validates_against_committed_schemas() -> None:
    docs = corpus_documents("istio-samples/**/*.yaml", "istio-crd-testdata/*-valid.yaml")
    assert len(docs) > 80
    failures = []
    for where, _info, data in docs:
        schema = schemas.load(data["apiVersion"], data["kind"])
        assert schema is not None, where
        for err in jsonschema.Draft7Validator(schema).iter_errors(data):
            failures.append(f"{where}: {list(err.absolute_path)}: {err.message}")
    assert not failures, "\n".join(failures)


# --------------------------------------------------------------------------------------------
# The facts of the CRD carry over: types, enums, required, ranges, sizes, patterns, oneOf


@cache
def crd_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    out = {}
    for doc in yaml.load_all(CRDS.read_text(encoding="utf-8"), Loader=_Loader):
        if doc and doc.get("kind") == "CustomResourceDefinition":
            for version in doc["spec"]["versions"]:
                if version.get("served"):
                    out[doc["spec"]["names"]["kind"], version["name"]] = version["schema"][
                        "openAPIV3Schema"
                    ]
    return out


_FACTS = (
    "enum",
    "required",
    "minimum",
    "maximum",
    "minItems",
    "maxItems",
    "minLength",
    "maxLength",
    "minProperties",
    "maxProperties",
    "pattern",
    "oneOf",
    "allOf",
)


def crd_facts(node: dict[str, Any], path: str, out: dict[str, dict[str, Any]]) -> None:
    facts = {k: node[k] for k in _FACTS if k in node}
    facts["type"] = node.get("type")
    facts["nullable"] = bool(node.get("nullable"))
    if node.get("format") == "int32":
        facts.setdefault("minimum", INT32_MIN)
        facts.setdefault("maximum", INT32_MAX)
    if node.get("format") == "byte":
        facts["format"] = "byte"
    if "required" in facts:
        facts["required"] = sorted(facts["required"])
    out[path] = facts
    for name, sub in node.get("properties", {}).items():
        crd_facts(sub, f"{path}.{name}", out)
    if isinstance(node.get("items"), dict):
        crd_facts(node["items"], path + "[]", out)
    if isinstance(node.get("additionalProperties"), dict):
        crd_facts(node["additionalProperties"], path + "{}", out)


def our_facts(
    node: dict[str, Any], root: dict[str, Any], path: str, out: dict[str, dict[str, Any]]
) -> None:
    while "$ref" in node or ("allOf" in node and "properties" not in node):
        ref = node["$ref"] if "$ref" in node else node["allOf"][0]["$ref"]
        node = root["definitions"][ref.rsplit("/", 1)[1]]
    facts = {k: node[k] for k in _FACTS if k in node}
    kind = node.get("type")
    facts["nullable"] = isinstance(kind, list) and "null" in kind
    facts["type"] = next(t for t in kind if t != "null") if isinstance(kind, list) else kind
    if facts.get("pattern") == DURATION_PATTERN:
        del facts["pattern"]  # ours: Go duration syntax; the CRD checks it with CEL
    if node.get("format") == "byte":
        facts["format"] = "byte"
    if "required" in facts:
        facts["required"] = sorted(facts["required"])
    out[path] = facts
    for name, sub in node.get("properties", {}).items():
        our_facts(sub, root, f"{path}.{name}", out)
    if isinstance(node.get("items"), dict):
        our_facts(node["items"], root, path + "[]", out)
    if isinstance(node.get("additionalProperties"), dict):
        our_facts(node["additionalProperties"], root, path + "{}", out)


@pytest.mark.parametrize("info", [k for k in KINDS if k.mesh], ids=lambda k: k.kind)
def test_schema_facts_match_the_crd(info: KindInfo) -> None:
    for version in info.versions:
        crd = crd_schemas()[info.kind, version]
        ours = generated()[schemas.filename(info, version)]
        theirs: dict[str, dict[str, Any]] = {}
        crd_facts(crd["properties"]["spec"], "spec", theirs)
        mine: dict[str, dict[str, Any]] = {}
        our_facts(ours["properties"]["spec"], ours, "spec", mine)
        assert set(mine) == set(theirs)
        diffs = [
            f"{p}: CRD {theirs[p]} ours {mine[p]}" for p in sorted(theirs) if theirs[p] != mine[p]
        ]
        assert not diffs, "\n".join(diffs)
        if "spec" in crd.get("required", ()):
            assert "spec" in ours["required"]


@pytest.mark.parametrize(
    "fixture",
    ["kubectl-get-virtualservice.yaml", "deployment-extra-fields.yaml", "service-ports.yaml"],
)
def test_fixtures_validate_against_committed_schemas(fixture: str) -> None:
    (doc,) = load_paths([str(REPO / "tests" / "fixtures" / "models" / fixture)]).documents
    data = doc.data
    schema = schemas.load(data["apiVersion"], data["kind"])
    assert schema is not None
    validator = jsonschema.Draft7Validator(schema)
    assert not list(validator.iter_errors(data))
    data["metadata"]["creationTimestamp"] = None  # as `kubectl create --dry-run -o yaml` prints
    assert not list(validator.iter_errors(data))
